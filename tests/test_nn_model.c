/* Tests of the ResNet model (include/lossbal/nn.h): parity with PyTorch on
 * the fixtures of tests/data/nn (eval and train logits, running statistics,
 * every parameter gradient after a cross-entropy backward), safetensors
 * round trips and malformed files, argument checks, the initialisation, and
 * allocation failures. */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/core_internal.h"
#include "nn/model_internal.h"
#include "nn/safetensors.h"
#include "test_scratch.h"
#include "test_support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- helpers ----------------------------------------------------------------
 */

static lb_resnet_config config(int32_t depth, int32_t classes, int32_t channels,
                               int32_t width, int32_t small) {
  lb_resnet_config c = {
      sizeof(lb_resnet_config), depth, classes, channels, width, small};
  return c;
}

static lb_model *create(lb_resnet_config c, uint64_t seed) {
  lb_model *m = NULL;
  assert_int_equal(lb_resnet_create(&c, seed, &m), LB_OK);
  assert_non_null(m);
  return m;
}

/* A deterministic N(0, 1)-ish input. */
static float *random_input(int64_t count, uint64_t seed) {
  float *x = malloc((size_t)count * sizeof *x);
  assert_non_null(x);
  uint64_t s = seed * 2654435761u + 1;
  for (int64_t i = 0; i < count; i++) {
    double sum = 0;
    for (int k = 0; k < 4; k++) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      sum += (double)(s >> 11) * 0x1.0p-53;
    }
    x[i] = (float)((sum - 2.0) * 1.7320508);
  }
  return x;
}

/* The F32 elements of a file's tensor, copied (file data may be unaligned). */
static float *f32_copy(const lb_st_tensor *t) {
  assert_non_null(t);
  assert_int_equal(t->dtype, LB_ST_F32);
  float *x = malloc(t->bytes ? t->bytes : 1);
  assert_non_null(x);
  memcpy(x, t->data, t->bytes);
  return x;
}

static int64_t i64_at(const lb_st_tensor *t, size_t index) {
  int64_t v;
  assert_int_equal(t->dtype, LB_ST_I64);
  memcpy(&v, (const char *)t->data + index * sizeof v, sizeof v);
  return v;
}

/* max|c - r| / max(1, max|r|) over n elements. */
static double deviation(const float *c, const float *r, size_t n) {
  double scale = 1, worst = 0;
  for (size_t i = 0; i < n; i++)
    if (fabs((double)r[i]) > scale)
      scale = fabs((double)r[i]);
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)c[i] - (double)r[i]);
    if (!(d <= worst))
      worst = d; /* NaN becomes the worst */
  }
  return worst / scale;
}

static bool is_fixture_only(const char *name) {
  static const char *const exact[] = {"input", "labels", "logits_eval",
                                      "logits_train", "loss_train"};
  for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
    if (strcmp(name, exact[i]) == 0)
      return true;
  return strncmp(name, "grad.", 5) == 0 ||
         strncmp(name, "after_train.", 12) == 0;
}

/* Writes the state-dict part of a fixture to `path`. */
static void write_parameters(const lb_st_file *f, const char *path) {
  size_t n = lb_st_count(f), kept = 0;
  lb_st_tensor *list = calloc(n, sizeof *list);
  assert_non_null(list);
  for (size_t i = 0; i < n; i++)
    if (!is_fixture_only(lb_st_at(f, i)->name))
      list[kept++] = *lb_st_at(f, i);
  assert_int_equal(lb_st_write_file(path, list, kept, NULL, 0), LB_OK);
  free(list);
}

static int32_t meta_int(const lb_st_file *f, const char *key) {
  const char *v = lb_st_metadata_find(f, key);
  assert_non_null(v);
  return (int32_t)strtol(v, NULL, 10);
}

static double meta_double(const lb_st_file *f, const char *key) {
  const char *v = lb_st_metadata_find(f, key);
  assert_non_null(v);
  return strtod(v, NULL);
}

/* ---- PyTorch parity ------------------------------------------------------ */

typedef struct parity {
  double logits_eval, logits_predict, logits_train, loss, stats, grads;
} parity;

static parity check_fixture(const char *name) {
  char path[512], params[512];
  snprintf(path, sizeof path, "%s/nn/%s", LOSSBAL_TEST_DATA_DIR, name);
  lb_st_file *f = NULL;
  assert_int_equal(lb_st_read_file(path, &f), LB_OK);
  lb_resnet_config c =
      config(meta_int(f, "depth"), meta_int(f, "num_classes"),
             meta_int(f, "in_channels"), meta_int(f, "base_width"),
             meta_int(f, "small_input_stem"));
  double rtol_out = meta_double(f, "rtol_outputs");
  double rtol_grad = meta_double(f, "rtol_grads");
  lb_model *m = create(c, 99);

  scratch_path(params, sizeof params, "params.safetensors");
  write_parameters(f, params);
  assert_int_equal(lb_model_load_safetensors(m, params), LB_OK);
  assert_int_equal(unlink(params), 0);

  const lb_st_tensor *in = lb_st_find(f, "input");
  assert_non_null(in);
  assert_int_equal(in->ndim, 4);
  assert_int_equal(in->shape[1], c.in_channels);
  int64_t batch = in->shape[0];
  int32_t h = (int32_t)in->shape[2], w = (int32_t)in->shape[3];
  int32_t k = c.num_classes;
  float *x = f32_copy(in);
  float *logits = calloc((size_t)(batch * k), sizeof(float));
  float *grad = calloc((size_t)(batch * k), sizeof(float));
  assert_non_null(logits);
  assert_non_null(grad);
  parity p = {0, 0, 0, 0, 0, 0};

  /* eval */
  assert_int_equal(lb_model_set_training(m, 0), LB_OK);
  assert_int_equal(lb_model_forward(m, x, batch, h, w, logits), LB_OK);
  {
    /* the internal loader reads the fixture itself when told to skip the
     * other entries, and gives the same model */
    lb_model *direct = create(c, 5);
    assert_fails_with(lb_model_load_st(direct, f, false, "load"), LB_EFORMAT,
                      "\"after_train.");
    assert_int_equal(lb_model_load_st(direct, f, true, "load"), LB_OK);
    float *again = calloc((size_t)(batch * k), sizeof(float));
    assert_non_null(again);
    assert_int_equal(lb_model_set_training(direct, 0), LB_OK);
    assert_int_equal(lb_model_forward(direct, x, batch, h, w, again), LB_OK);
    assert_memory_equal(again, logits, (size_t)(batch * k) * sizeof(float));
    free(again);
    lb_model_free(direct);
  }
  float *ref = f32_copy(lb_st_find(f, "logits_eval"));
  p.logits_eval = deviation(logits, ref, (size_t)(batch * k));
  /* predictions: the same, batch norm folded into the convolutions */
  assert_int_equal(lb_model_predict(m, x, batch, h, w, logits), LB_OK);
  p.logits_predict = deviation(logits, ref, (size_t)(batch * k));
  free(ref);
  assert_int_equal(*lb_model_find_tensor(m, "bn1.num_batches_tracked")->count,
                   3);

  /* train */
  assert_int_equal(lb_model_set_training(m, 1), LB_OK);
  assert_int_equal(lb_model_forward(m, x, batch, h, w, logits), LB_OK);
  ref = f32_copy(lb_st_find(f, "logits_train"));
  p.logits_train = deviation(logits, ref, (size_t)(batch * k));
  free(ref);

  /* running statistics and counters after the train forward */
  for (size_t i = 0; i < lb_st_count(f); i++) {
    const lb_st_tensor *t = lb_st_at(f, i);
    if (strncmp(t->name, "after_train.", 12) != 0)
      continue;
    const lb_model_tensor *mt = lb_model_find_tensor(m, t->name + 12);
    assert_non_null(mt);
    if (mt->count) {
      assert_int_equal(*mt->count, i64_at(t, 0));
      continue;
    }
    float *r = f32_copy(t);
    double d = deviation(mt->data, r, (size_t)mt->numel);
    if (d > p.stats)
      p.stats = d;
    free(r);
  }

  /* cross entropy through the library's criterion, then backward */
  const lb_st_tensor *lt = lb_st_find(f, "labels");
  int32_t *labels = calloc((size_t)batch, sizeof *labels);
  assert_non_null(labels);
  for (int64_t i = 0; i < batch; i++)
    labels[i] = (int32_t)i64_at(lt, (size_t)i);
  lb_criterion *crit = NULL;
  assert_int_equal(lb_criterion_create(LB_LOSS_CE, k, &crit), LB_OK);
  double loss = 0;
  assert_int_equal(
      lb_criterion_compute(crit, logits, labels, batch, &loss, grad), LB_OK);
  lb_criterion_free(crit);
  float loss_f = (float)loss;
  ref = f32_copy(lb_st_find(f, "loss_train"));
  p.loss = deviation(&loss_f, ref, 1);
  free(ref);
  assert_int_equal(lb_model_backward(m, grad), LB_OK);
  int grads = 0;
  for (size_t i = 0; i < lb_st_count(f); i++) {
    const lb_st_tensor *t = lb_st_at(f, i);
    if (strncmp(t->name, "grad.", 5) != 0)
      continue;
    const lb_model_tensor *mt = lb_model_find_tensor(m, t->name + 5);
    assert_non_null(mt);
    assert_non_null(mt->grad);
    assert_int_equal((int64_t)(t->bytes / sizeof(float)), mt->numel);
    float *r = f32_copy(t);
    double d = deviation(mt->grad, r, (size_t)mt->numel);
    if (d > rtol_grad)
      print_message("%s: %s deviates by %.3g (rtol %.3g)\n", name, t->name, d,
                    rtol_grad);
    if (d > p.grads)
      p.grads = d;
    free(r);
    grads++;
  }
  /* every learnable tensor has a reference gradient */
  int learnable = 0;
  for (int32_t i = 0; i < m->tensor_count; i++)
    learnable += m->tensors[i].grad != NULL;
  assert_int_equal(grads, learnable);

  print_message("%s: max relative deviation: logits_eval %.3g, predict %.3g, "
                "logits_train %.3g, loss %.3g, running stats %.3g (rtol %g); "
                "grads %.3g (rtol %g)\n",
                name, p.logits_eval, p.logits_predict, p.logits_train, p.loss,
                p.stats, rtol_out, p.grads, rtol_grad);
  assert_true(p.logits_eval <= rtol_out);
  assert_true(p.logits_predict <= rtol_out);
  assert_true(p.logits_train <= rtol_out);
  assert_true(p.loss <= rtol_out);
  assert_true(p.stats <= rtol_out);
  assert_true(p.grads <= rtol_grad);

  free(labels);
  free(x);
  free(logits);
  free(grad);
  lb_model_free(m);
  lb_st_free(f);
  return p;
}

/* Every fixture on 1 and on 2 threads: on 2 the convolutions run by
 * ranges of images and the large batch norms by images (the 128x128
 * fixture's stem), on 1 neither. */
static void test_parity_with_pytorch(void **state) {
  (void)state;
  int32_t threads_before = lb_get_num_threads();
  char path[512], line[256];
  snprintf(path, sizeof path, "%s/nn/MANIFEST", LOSSBAL_TEST_DATA_DIR);
  FILE *manifest = fopen(path, "r");
  assert_non_null(manifest);
  int cases = 0;
  while (fgets(line, sizeof line, manifest)) {
    line[strcspn(line, "\r\n")] = '\0';
    if (line[0] == '\0' || line[0] == '#')
      continue;
    for (int32_t threads = 1; threads <= 2; threads++) {
      assert_int_equal(lb_set_num_threads(threads), LB_OK);
      check_fixture(line);
    }
    cases++;
  }
  fclose(manifest);
  assert_int_equal(lb_set_num_threads(threads_before), LB_OK);
  assert_true(cases >= 4);
}

/* ---- safetensors ------------------------------------------------------------
 */

typedef struct small_setup {
  lb_resnet_config cfg;
  int64_t batch;
  int32_t h, w;
  float *x;
} small_setup;

static small_setup small(void) {
  small_setup s = {config(18, 5, 3, 4, 1), 2, 8, 8, NULL};
  s.x = random_input(s.batch * 3 * s.h * s.w, 7);
  return s;
}

static void eval_logits(lb_model *m, const small_setup *s, float *logits) {
  assert_int_equal(lb_model_set_training(m, 0), LB_OK);
  assert_int_equal(lb_model_forward(m, s->x, s->batch, s->h, s->w, logits),
                   LB_OK);
}

static void test_save_load_round_trip(void **state) {
  (void)state;
  small_setup s = small();
  char path[512];
  scratch_path(path, sizeof path, "round.safetensors");
  lb_model *a = create(s.cfg, 1), *b = create(s.cfg, 2);
  float la[10], lb[10];
  /* a train forward moves the running stats and the counters */
  float scratch[10];
  assert_int_equal(lb_model_forward(a, s.x, s.batch, s.h, s.w, scratch), LB_OK);
  eval_logits(a, &s, la);
  eval_logits(b, &s, lb);
  assert_memory_not_equal(la, lb, sizeof la);
  assert_int_equal(lb_model_save_safetensors(a, path), LB_OK);
  assert_int_equal(lb_model_load_safetensors(b, path), LB_OK);
  eval_logits(b, &s, lb);
  assert_memory_equal(la, lb, sizeof la);
  assert_int_equal(
      *lb_model_find_tensor(b, "layer4.1.bn2.num_batches_tracked")->count, 1);
  for (int32_t i = 0; i < a->tensor_count; i++)
    if (a->tensors[i].data)
      assert_memory_equal(a->tensors[i].data, b->tensors[i].data,
                          (size_t)a->tensors[i].numel * sizeof(float));
  /* the file holds torchvision's names */
  lb_st_file *f = NULL;
  assert_int_equal(lb_st_read_file(path, &f), LB_OK);
  assert_int_equal((int64_t)lb_st_count(f), a->tensor_count);
  assert_non_null(lb_st_find(f, "layer2.0.downsample.0.weight"));
  assert_null(lb_st_find(f, "layer1.0.downsample.0.weight"));
  const lb_st_tensor *fc = lb_st_find(f, "fc.weight");
  assert_int_equal(fc->ndim, 2);
  assert_int_equal(fc->shape[0], 5);
  assert_int_equal(fc->shape[1], 32);
  assert_int_equal(lb_st_find(f, "bn1.num_batches_tracked")->ndim, 0);
  lb_st_free(f);
  assert_int_equal(unlink(path), 0);
  lb_model_free(a);
  lb_model_free(b);
  free(s.x);
}

typedef enum edit { DROP, ADD, RESHAPE, RETYPE, COUNTER_F32 } edit;

/* Writes `good`'s tensors with one edit to `path`. */
static void write_edited(const lb_st_file *good, const char *path, edit e,
                         const char *target) {
  size_t n = lb_st_count(good), count = 0;
  lb_st_tensor *list = calloc(n + 1, sizeof *list);
  assert_non_null(list);
  static const float extra_data[2] = {1, 2};
  static const float counter_f32 = 1;
  for (size_t i = 0; i < n; i++) {
    lb_st_tensor t = *lb_st_at(good, i);
    if (strcmp(t.name, target) == 0) {
      if (e == DROP)
        continue;
      if (e == RESHAPE) { /* same bytes, other shape */
        t.ndim = 2;
        t.shape[0] = t.shape[0] * t.shape[1];
        t.shape[1] = t.shape[2] * t.shape[3];
      }
      if (e == RETYPE)
        t.dtype = LB_ST_I32;
      if (e == COUNTER_F32) {
        t.dtype = LB_ST_F32;
        t.data = &counter_f32;
        t.bytes = sizeof counter_f32;
      }
    }
    list[count++] = t;
  }
  if (e == ADD) {
    lb_st_tensor t = {target, LB_ST_F32, 1, {2}, extra_data, sizeof extra_data};
    list[count++] = t;
  }
  assert_int_equal(lb_st_write_file(path, list, count, NULL, 0), LB_OK);
  free(list);
}

static void test_load_refuses_mismatched_files(void **state) {
  (void)state;
  small_setup s = small();
  char good_path[512], bad_path[512];
  scratch_path(good_path, sizeof good_path, "good.safetensors");
  scratch_path(bad_path, sizeof bad_path, "bad.safetensors");
  lb_model *a = create(s.cfg, 1), *b = create(s.cfg, 2);
  assert_int_equal(lb_model_save_safetensors(a, good_path), LB_OK);
  lb_st_file *good = NULL;
  assert_int_equal(lb_st_read_file(good_path, &good), LB_OK);
  float before[10], after[10];
  eval_logits(b, &s, before);
  int64_t counter = *lb_model_find_tensor(b, "bn1.num_batches_tracked")->count;

  const struct {
    edit e;
    const char *target, *fragment;
  } cases[] = {
      {DROP, "fc.bias", "\"fc.bias\" is missing"},
      {DROP, "layer3.0.downsample.1.num_batches_tracked",
       "\"layer3.0.downsample.1.num_batches_tracked\" is missing"},
      {ADD, "layer1.0.downsample.0.weight",
       "\"layer1.0.downsample.0.weight\" is not a tensor of the model"},
      {RESHAPE, "layer2.1.conv2.weight", "\"layer2.1.conv2.weight\" has shape"},
      {RETYPE, "bn1.running_var", "\"bn1.running_var\" has dtype I32"},
      {COUNTER_F32, "bn1.num_batches_tracked",
       "\"bn1.num_batches_tracked\" has dtype F32"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    write_edited(good, bad_path, cases[i].e, cases[i].target);
    assert_fails_with(lb_model_load_safetensors(b, bad_path), LB_EFORMAT,
                      cases[i].fragment);
    eval_logits(b, &s, after);
    assert_memory_equal(before, after, sizeof before);
    assert_int_equal(*lb_model_find_tensor(b, "bn1.num_batches_tracked")->count,
                     counter);
  }
  /* not a safetensors file at all */
  FILE *junk = fopen(bad_path, "wb");
  assert_non_null(junk);
  fputs("this is not a safetensors file", junk);
  fclose(junk);
  lb_clear_error();
  assert_int_equal(lb_model_load_safetensors(b, bad_path), LB_EFORMAT);
  assert_non_null(strstr(lb_last_error(), "bad.safetensors"));
  eval_logits(b, &s, after);
  assert_memory_equal(before, after, sizeof before);
  /* another architecture's file */
  lb_model *wide = create(config(18, 5, 3, 8, 1), 3);
  assert_int_equal(lb_model_save_safetensors(wide, bad_path), LB_OK);
  assert_fails_with(lb_model_load_safetensors(b, bad_path), LB_EFORMAT,
                    "\"conv1.weight\" has shape [8, 3, 3, 3], the model's is "
                    "[4, 3, 3, 3]");
  lb_model_free(wide);
  char absent[512];
  scratch_path(absent, sizeof absent, "absent.safetensors");
  assert_fails_with(lb_model_load_safetensors(b, absent), LB_EIO,
                    "absent.safetensors");

  lb_st_free(good);
  assert_int_equal(unlink(good_path), 0);
  assert_int_equal(unlink(bad_path), 0);
  lb_model_free(a);
  lb_model_free(b);
  free(s.x);
}

/* ---- arguments and states ---------------------------------------------------
 */

static void test_create_bad_arguments(void **state) {
  (void)state;
  lb_model *m = NULL;
  lb_resnet_config c = config(18, 10, 3, 4, 0);
  assert_fails_with(lb_resnet_create(NULL, 1, &m), LB_EINVAL, "cfg is NULL");
  assert_fails_with(lb_resnet_create(&c, 1, NULL), LB_EINVAL, "out is NULL");
  c.struct_size = sizeof c - 1;
  assert_fails_with(lb_resnet_create(&c, 1, &m), LB_EINVAL, "struct_size");
  c = config(20, 10, 3, 4, 0);
  assert_fails_with(lb_resnet_create(&c, 1, &m), LB_EUNSUPPORTED, "depth 20");
  c = config(18, 0, 3, 4, 0);
  assert_fails_with(lb_resnet_create(&c, 1, &m), LB_EINVAL, "num_classes = 0");
  c = config(18, 10, 0, 4, 0);
  assert_fails_with(lb_resnet_create(&c, 1, &m), LB_EINVAL, "in_channels = 0");
  c = config(18, 10, 3, 0, 0);
  assert_fails_with(lb_resnet_create(&c, 1, &m), LB_EINVAL, "base_width = 0");
  c = config(18, 10, 3, 4, 2);
  assert_fails_with(lb_resnet_create(&c, 1, &m), LB_EINVAL,
                    "small_input_stem = 2");
  assert_null(m);
  assert_int_equal(lb_model_num_classes(NULL), 0);
  assert_int_equal(lb_model_parameter_count(NULL), 0);
  lb_model_free(NULL);
}

static void test_depths_and_parameter_counts(void **state) {
  (void)state;
  /* torchvision's counts for 1000 classes, 3 channels, width 64 */
  const struct {
    int32_t depth;
    int64_t parameters;
    int32_t tensors;
  } cases[] = {{18, 11689512, 122},
               {34, 21797672, 218},
               {50, 25557032, 320},
               {101, 44549160, 626},
               {152, 60192808, 932}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    lb_model *m = create(config(cases[i].depth, 1000, 3, 64, 0), 1);
    assert_int_equal(lb_model_parameter_count(m), cases[i].parameters);
    assert_int_equal(m->tensor_count, cases[i].tensors);
    assert_int_equal(lb_model_num_classes(m), 1000);
    lb_model_free(m);
  }
}

static void test_forward_backward_bad_arguments(void **state) {
  (void)state;
  small_setup s = small();
  lb_model *m = create(s.cfg, 1);
  float logits[10], grad[10] = {0};
  assert_fails_with(lb_model_set_training(NULL, 1), LB_EINVAL, "m is NULL");
  assert_fails_with(lb_model_forward(NULL, s.x, 2, 8, 8, logits), LB_EINVAL,
                    "m is NULL");
  assert_fails_with(lb_model_forward(m, NULL, 2, 8, 8, logits), LB_EINVAL,
                    "input is NULL");
  assert_fails_with(lb_model_forward(m, s.x, 2, 8, 8, NULL), LB_EINVAL,
                    "logits is NULL");
  assert_fails_with(lb_model_forward(m, s.x, 0, 8, 8, logits), LB_EINVAL,
                    "batch = 0");
  assert_fails_with(lb_model_forward(m, s.x, 2, 0, 8, logits), LB_EINVAL,
                    "image size 0x8");
  assert_fails_with(lb_model_backward(NULL, grad), LB_EINVAL, "m is NULL");
  assert_fails_with(lb_model_backward(m, NULL), LB_EINVAL,
                    "grad_logits is NULL");
  assert_fails_with(lb_model_backward(m, grad), LB_ESTATE,
                    "no successful forward");
  /* training mode needs more than one value per channel in every BN */
  assert_fails_with(lb_model_forward(m, s.x, 1, 1, 1, logits), LB_EINVAL,
                    "lb_model_forward");
  assert_int_equal(lb_model_forward(m, s.x, 2, 8, 8, logits), LB_OK);
  assert_int_equal(lb_model_backward(m, grad), LB_OK);
  assert_int_equal(lb_model_set_training(m, 0), LB_OK);
  assert_fails_with(lb_model_backward(m, grad), LB_ESTATE, "evaluation mode");
  /* a failed forward leaves logits alone and needs a new forward */
  assert_int_equal(lb_model_forward(m, s.x, 2, 8, 8, logits), LB_OK);
  float kept[10];
  memcpy(kept, logits, sizeof kept);
  assert_fails_with(lb_model_forward(m, s.x, 0, 8, 8, logits), LB_EINVAL,
                    "batch");
  assert_memory_equal(kept, logits, sizeof kept);
  assert_fails_with(lb_model_backward(m, grad), LB_ESTATE,
                    "no successful forward");
  assert_fails_with(lb_model_load_safetensors(NULL, "x"), LB_EINVAL,
                    "m is NULL");
  assert_fails_with(lb_model_load_safetensors(m, NULL), LB_EINVAL,
                    "path is NULL");
  assert_fails_with(lb_model_save_safetensors(NULL, "x"), LB_EINVAL,
                    "m is NULL");
  assert_fails_with(lb_model_save_safetensors(m, NULL), LB_EINVAL,
                    "path is NULL");
  lb_model_free(m);
  free(s.x);
}

/* Every layer of a torchvision ResNet is padded, so no image is too small
 * for its geometry (PyTorch, too, runs a 4x4 image through resnet18 in eval
 * mode, down to 1x1 in layer4); in training mode, a batch norm that would
 * normalise a single value per channel is refused, as PyTorch refuses it. */
static void test_input_too_small(void **state) {
  (void)state;
  lb_model *m = create(config(18, 10, 3, 4, 0), 1);
  float *x = random_input(2 * 3 * 4 * 4, 1);
  float logits[20];
  for (int i = 0; i < 20; i++)
    logits[i] = 42;
  assert_fails_with(
      lb_model_forward(m, x, 1, 4, 4, logits), LB_EINVAL,
      "lb_model_forward: layer1.0.bn1: batch norm expects more than 1 value "
      "per channel when training, got input [1, 4, 1, 1]");
  assert_non_null(strstr(lb_last_error(), "more than 1 value per channel"));
  for (int i = 0; i < 20; i++)
    assert_true(logits[i] == 42);
  assert_int_equal(*lb_model_find_tensor(m, "bn1.num_batches_tracked")->count,
                   0);
  assert_int_equal(lb_model_forward(m, x, 2, 4, 4, logits), LB_OK);
  assert_int_equal(lb_model_set_training(m, 0), LB_OK);
  assert_int_equal(lb_model_forward(m, x, 1, 4, 4, logits), LB_OK);
  free(x);
  lb_model_free(m);
}

/* A backward of the sum of the logits gives the same gradients twice, and
 * the forward of a same or smaller shape allocates nothing. */
static void test_memory_and_repeated_backward(void **state) {
  (void)state;
  lb_model *m = create(config(50, 3, 2, 2, 0), 5);
  float *x = random_input(3 * 2 * 40 * 40, 3);
  float logits[9], grad[9];
  for (int i = 0; i < 9; i++)
    grad[i] = 1.0f / 9;
  assert_int_equal(lb_model_forward(m, x, 3, 40, 40, logits), LB_OK);
  assert_int_equal(lb_model_backward(m, grad), LB_OK);
  const lb_model_tensor *t = lb_model_find_tensor(m, "layer1.0.conv1.weight");
  float *first = malloc((size_t)t->numel * sizeof(float));
  assert_non_null(first);
  memcpy(first, t->grad, (size_t)t->numel * sizeof(float));
  assert_int_equal(lb_model_backward(m, grad), LB_OK);
  assert_memory_equal(first, t->grad, (size_t)t->numel * sizeof(float));
  const int32_t sizes[][3] = {
      {3, 40, 40}, {2, 40, 40}, {3, 33, 40}, {2, 17, 23}, {3, 32, 31}};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    lb_fault_fail_nth_allocation(0);
    assert_int_equal(
        lb_model_forward(m, x, sizes[i][0], sizes[i][1], sizes[i][2], logits),
        LB_OK);
    if (lb_fault_allocations_attempted() != 0)
      fail_msg("forward %d x %d x %d allocated", sizes[i][0], sizes[i][1],
               sizes[i][2]);
  }
  free(first);
  free(x);
  lb_model_free(m);
}

/* ---- initialisation
 * ------------------------------------------------------------ */

static void test_init_is_seeded(void **state) {
  (void)state;
  lb_resnet_config c = config(18, 10, 3, 64, 0);
  lb_model *a = create(c, 11), *b = create(c, 11), *d = create(c, 12);
  for (int32_t i = 0; i < a->tensor_count; i++) {
    const lb_model_tensor *t = &a->tensors[i];
    if (!t->data)
      continue;
    assert_memory_equal(t->data, b->tensors[i].data,
                        (size_t)t->numel * sizeof(float));
  }
  const lb_model_tensor *w = lb_model_find_tensor(a, "conv1.weight");
  const lb_model_tensor *w2 = lb_model_find_tensor(d, "conv1.weight");
  assert_memory_not_equal(w->data, w2->data, (size_t)w->numel * sizeof(float));
  /* kaiming_normal(fan_out): std sqrt(2 / (64 * 7 * 7)), mean 0 */
  const char *convs[] = {"conv1.weight", "layer3.1.conv2.weight",
                         "layer2.0.downsample.0.weight"};
  for (size_t k = 0; k < 3; k++) {
    const lb_model_tensor *t = lb_model_find_tensor(a, convs[k]);
    double fan_out = (double)(t->shape[0] * t->shape[2] * t->shape[3]);
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < t->numel; i++) {
      sum += t->data[i];
      sq += (double)t->data[i] * t->data[i];
    }
    double mean = sum / (double)t->numel;
    double sd = sqrt(sq / (double)t->numel - mean * mean);
    double want = sqrt(2.0 / fan_out);
    assert_true(fabs(sd - want) < 0.05 * want);
    assert_true(fabs(mean) < 0.05 * want);
  }
  const lb_model_tensor *fc = lb_model_find_tensor(a, "fc.weight");
  double bound = 1.0 / sqrt(512.0), sum = 0, top = 0;
  for (int64_t i = 0; i < fc->numel; i++) {
    assert_true(fabs(fc->data[i]) <= bound);
    sum += fc->data[i];
    if (fabs(fc->data[i]) > top)
      top = fabs(fc->data[i]);
  }
  assert_true(fabs(sum / (double)fc->numel) < 0.05 * bound);
  assert_true(top > 0.95 * bound);
  const lb_model_tensor *fb = lb_model_find_tensor(a, "fc.bias");
  for (int64_t i = 0; i < fb->numel; i++)
    assert_true(fabs(fb->data[i]) <= bound);
  const char *ones[] = {"bn1.weight", "layer4.1.bn2.running_var"};
  const char *zeros[] = {"bn1.bias", "layer4.1.bn2.running_mean"};
  for (size_t k = 0; k < 2; k++) {
    const lb_model_tensor *o = lb_model_find_tensor(a, ones[k]);
    const lb_model_tensor *z = lb_model_find_tensor(a, zeros[k]);
    for (int64_t i = 0; i < o->numel; i++) {
      assert_true(o->data[i] == 1.0f);
      assert_true(z->data[i] == 0.0f);
    }
  }
  assert_int_equal(*lb_model_find_tensor(a, "bn1.num_batches_tracked")->count,
                   0);
  lb_model_free(a);
  lb_model_free(b);
  lb_model_free(d);
}

static void test_create_allocation_failures(void **state) {
  (void)state;
  lb_resnet_config c = config(18, 10, 3, 4, 0);
  lb_model *m = NULL;
  assert_each_allocation_failure_is_clean(status_ = lb_resnet_create(&c, 1, &m),
                                          lb_model_free(m));
  /* the forward's arena, and the save's tensor list */
  m = create(c, 1);
  float *x = random_input(2 * 3 * 32 * 32, 1);
  float logits[20];
  lb_fault_fail_nth_allocation(1);
  assert_fails_with(lb_model_forward(m, x, 2, 32, 32, logits), LB_ENOMEM,
                    "out of memory");
  lb_fault_fail_nth_allocation(0);
  assert_fails_with(lb_model_backward(m, logits), LB_ESTATE, "forward");
  assert_int_equal(lb_model_forward(m, x, 2, 32, 32, logits), LB_OK);
  char path[512];
  scratch_path(path, sizeof path, "nomem.safetensors");
  lb_fault_fail_nth_allocation(1);
  assert_fails_with(lb_model_save_safetensors(m, path), LB_ENOMEM,
                    "out of memory");
  lb_fault_fail_nth_allocation(0);
  assert_int_equal(access(path, F_OK), -1);
  /* every allocation of a save and of a load, in turn */
  assert_each_allocation_failure_is_clean(
      status_ = lb_model_save_safetensors(m, path), (void)0);
  lb_model *other = create(c, 2);
  assert_each_allocation_failure_is_clean(
      status_ = lb_model_load_safetensors(other, path), (void)0);
  const lb_model_tensor *wa = lb_model_find_tensor(m, "layer3.0.conv2.weight");
  const lb_model_tensor *wb =
      lb_model_find_tensor(other, "layer3.0.conv2.weight");
  assert_memory_equal(wa->data, wb->data, (size_t)wa->numel * sizeof(float));
  lb_model_free(other);
  assert_int_equal(unlink(path), 0);
  free(x);
  lb_model_free(m);
}

/* ---- predictions -------------------------------------------------------------
 */

/* The largest |a - b| over the largest |b|; infinite where either holds a
 * NaN (fmax would skip it). */
static double relative_gap(const float *a, const float *b, size_t n) {
  double gap = 0.0, scale = 0.0;
  for (size_t i = 0; i < n; i++) {
    if (isnan(a[i]) || isnan(b[i]))
      return INFINITY;
    gap = fmax(gap, fabs((double)a[i] - b[i]));
    scale = fmax(scale, fabs((double)b[i]));
  }
  return gap / scale;
}

/* In either mode: the logits of an evaluation forward to rounding, the
 * running statistics untouched, and a backward refused afterwards. Both
 * stems (the ImageNet one has the max pool). */
/* Whether lb_model_predict() goes by ranges of images at the current
 * thread count (see predict_ranges() in model.c): in pool mode, one range
 * on one thread, else ranges = min(threads, 8) of at least one image each,
 * even or of at least 4 images on average. */
static bool expect_ranges(int64_t batch) {
  int64_t ranges = lb_get_num_threads() < 8 ? lb_get_num_threads() : 8;
  return lb_gemm_on_pool() &&
         (ranges == 1 || (ranges <= batch &&
                          (batch % ranges == 0 || batch >= 4 * ranges)));
}

static void check_predict_matches_eval_forward(lb_resnet_config c, int64_t batch,
                                               int32_t h, int32_t w) {
  lb_model *m = create(c, 21);
  float *x = random_input(batch * c.in_channels * h * w, 8);
  size_t cells = (size_t)(batch * c.num_classes);
  float *train_logits = calloc(cells, sizeof(float));
  float *eval_logits = calloc(cells, sizeof(float));
  float *predicted = calloc(cells, sizeof(float));
  float *grad = calloc(cells, sizeof(float));
  assert_true(train_logits && eval_logits && predicted && grad);
  /* Running statistics away from 0 and 1, so that folding them matters. */
  assert_int_equal(lb_model_forward(m, x, batch, h, w, train_logits), LB_OK);
  assert_int_equal(lb_model_set_training(m, 0), LB_OK);
  assert_int_equal(lb_model_forward(m, x, batch, h, w, eval_logits), LB_OK);

  const lb_model_tensor *mean = lb_model_find_tensor(m, "layer1.0.bn1.running_mean");
  float first_mean = mean->data[0];
  int64_t tracked = *lb_model_find_tensor(m, "bn1.num_batches_tracked")->count;
  for (int training = 0; training <= 1; training++) {
    assert_int_equal(lb_model_set_training(m, training), LB_OK);
    memset(predicted, 0, cells * sizeof(float));
    assert_int_equal(lb_model_predict(m, x, batch, h, w, predicted), LB_OK);
    /* Only by ranges allocates the prepared block. */
    assert_int_equal(m->prepared != NULL, expect_ranges(batch));
    double gap = relative_gap(predicted, eval_logits, cells);
    if (gap > 1e-5)
      fail_msg("predict deviates from the eval forward by %.3g", gap);
    assert_true(mean->data[0] == first_mean);
    assert_int_equal(*lb_model_find_tensor(m, "bn1.num_batches_tracked")->count,
                     tracked);
    assert_fails_with(lb_model_backward(m, grad), LB_ESTATE,
                      "ran lb_model_predict");
  }
  free(x);
  free(train_logits);
  free(eval_logits);
  free(predicted);
  free(grad);
  lb_model_free(m);
}

/* ResNet-18 (width 8: Winograd from layer2's 16 channels, the GEMM path
 * before) on 6 and 9 images, the Bottleneck network (1x1 and strided
 * layers, the ImageNet stem's max pool) on 3 and 4, at 1 to 4 threads:
 * layer by layer for uneven batches (6 on 4, 3 on 2), by ranges
 * otherwise: one range at 1 thread, even (3 + 3, 2 + 2 + 2, 1 + 1 + 1 + 1)
 * or not (5 + 4). */
static void test_predict_matches_eval_forward(void **state) {
  (void)state;
  int32_t threads = lb_get_num_threads();
  for (int32_t t = 1; t <= 4; t++) {
    assert_int_equal(lb_set_num_threads(t), LB_OK);
    check_predict_matches_eval_forward(config(18, 5, 3, 8, 1), 6, 12, 10);
    check_predict_matches_eval_forward(config(18, 5, 3, 8, 1), 9, 12, 10);
    check_predict_matches_eval_forward(config(50, 4, 2, 4, 0), 3, 40, 36);
    check_predict_matches_eval_forward(config(50, 4, 2, 4, 0), 4, 40, 36);
  }
  assert_int_equal(lb_set_num_threads(threads), LB_OK);
}

/* Whether this process's settings leave lb_model_predict() F(4x4, 3x3),
 * whose layers on small images split by channels: the pool's products and
 * LOSSBAL_CONV neither gemm nor winograd2x2 (test_nn_model also runs
 * under those). */
static bool expect_split_by_channels(void) {
  const char *conv = getenv("LOSSBAL_CONV");
  return lb_gemm_on_pool() &&
         !(conv && (strcmp(conv, "gemm") == 0 ||
                    strcmp(conv, "winograd2x2") == 0));
}

/* lb_model_predict() on `threads` threads: the logits of the evaluation
 * forward to rounding, and the first block it ran on the whole batch. */
static int32_t predict_late_block(lb_model *m, const float *x, int64_t batch,
                                  int32_t side, int32_t threads,
                                  const float *eval_logits, int64_t cells) {
  float *predicted = calloc((size_t)cells, sizeof(float));
  assert_non_null(predicted);
  int32_t before = lb_get_num_threads();
  assert_int_equal(lb_set_num_threads(threads), LB_OK);
  assert_int_equal(lb_model_predict(m, x, batch, side, side, predicted),
                   LB_OK);
  assert_int_equal(lb_set_num_threads(before), LB_OK);
  double gap = relative_gap(predicted, eval_logits, (size_t)cells);
  if (gap > 1e-5)
    fail_msg("predict deviates from the eval forward by %.3g", gap);
  free(predicted);
  return m->late_block;
}

/* The first block lb_model_predict() ran on the whole batch, at 2 and 3
 * threads (the same at both), checked against `late`, with LOSSBAL_PREDICT
 * set to `setting` (NULL: unset). */
static void check_late_block(lb_model *m, const float *x, int64_t batch,
                             int32_t side, const float *eval_logits,
                             const char *setting, int32_t late) {
  if (setting)
    assert_int_equal(setenv("LOSSBAL_PREDICT", setting, 1), 0);
  for (int32_t threads = 2; threads <= 3; threads++)
    assert_int_equal(predict_late_block(m, x, batch, side, threads,
                                        eval_logits, batch * 5),
                     late);
  assert_int_equal(unsetenv("LOSSBAL_PREDICT"), 0);
}

/* On several threads the layers on small images with large filters run
 * on the whole batch, from the first block that has one to the end. A
 * width-48 ResNet-18 on 12x12 input, 6 images (a range has 3; F(4x4, 3x3)
 * wants 32 images a block on 12x12 and 256 on 3x3): layer3 (block 4,
 * 5.3 MB of transformed filters) by default, layer1 (block 0, straight
 * from the stem; 0.3 MB) under LOSSBAL_PREDICT=channels, none under
 * LOSSBAL_PREDICT=ranges nor on one thread; a width-8 one (layer3's 0.1
 * MB) none by default, block 4 under channels. The logits stay those of
 * the evaluation forward. */
static void test_predict_runs_late_layers_on_the_whole_batch(void **state) {
  (void)state;
  static const struct {
    int32_t width, by_default, by_channels;
  } cases[] = {{48, 4, 0}, {8, -1, 4}};
  const int64_t batch = 6;
  const int32_t side = 12;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    lb_model *m = create(config(18, 5, 3, cases[i].width, 1), 23);
    float *x = random_input(batch * 3 * side * side, 9);
    float *eval_logits = calloc(batch * 5, sizeof(float));
    assert_non_null(eval_logits);
    assert_int_equal(lb_model_forward(m, x, batch, side, side, eval_logits),
                     LB_OK);
    assert_int_equal(lb_model_set_training(m, 0), LB_OK);
    assert_int_equal(lb_model_forward(m, x, batch, side, side, eval_logits),
                     LB_OK);
    int32_t none = m->block_count;
    bool splits = expect_split_by_channels();
    int32_t by_default = cases[i].by_default < 0 ? none : cases[i].by_default;
    check_late_block(m, x, batch, side, eval_logits, NULL,
                     splits ? by_default : none);
    check_late_block(m, x, batch, side, eval_logits, "channels",
                     splits ? cases[i].by_channels : none);
    check_late_block(m, x, batch, side, eval_logits, "ranges", none);
    assert_int_equal(
        predict_late_block(m, x, batch, side, 1, eval_logits, batch * 5),
        none);
    free(x);
    free(eval_logits);
    lb_model_free(m);
  }
}

/* Predicts after a NaN is written into the first convolution's prepared
 * weights: NaN logits when the call kept them, the evaluation forward's
 * logits (to rounding) when it prepared them again. */
static bool predict_kept_scribble(lb_model *m, const small_setup *s) {
  float logits[64], want[64];
  size_t cells = (size_t)(s->batch * s->cfg.num_classes);
  assert_true(cells <= 64);
  m->conv1.prepared[0] = NAN;
  assert_int_equal(lb_model_predict(m, s->x, s->batch, s->h, s->w, logits),
                   LB_OK);
  if (isnan(logits[0]))
    return true;
  eval_logits(m, s, want);
  if (relative_gap(logits, want, cells) > 1e-5)
    fail_msg("predict deviates from the eval forward by %.3g",
             relative_gap(logits, want, cells));
  return false;
}

/* By ranges, the prepared weights are kept from one call to the next, and
 * prepared again after whatever changes the weights or the batch norms'
 * values (a training-mode forward's running statistics, an optimizer step,
 * a load) and when an image size changes a layer's algorithm (layer3, 16
 * channels: F(2x2, 3x3) on 2x2 images, F(4x4, 3x3) on 3x3); a new thread
 * count or more images alone keep them, in a larger block if need be. */
static void test_predict_prepares_again_after_parameters_change(
    void **state) {
  (void)state;
  small_setup s = small();
  int32_t threads = lb_get_num_threads();
  assert_int_equal(lb_set_num_threads(1), LB_OK);
  lb_model *m = create(s.cfg, 5), *other = create(s.cfg, 6);
  float logits[10], grad[10];
  assert_int_equal(lb_model_predict(m, s.x, s.batch, s.h, s.w, logits),
                   LB_OK);
  if (!expect_ranges(s.batch)) { /* LOSSBAL_GEMM=openblas: nothing kept */
    assert_null(m->prepared);
    goto done;
  }
  assert_true(predict_kept_scribble(m, &s));
  assert_int_equal(lb_set_num_threads(2), LB_OK);
  assert_true(predict_kept_scribble(m, &s));
  /* Eight images on two threads need two larger workspaces. */
  small_setup eight = s;
  eight.batch = 8;
  eight.x = random_input(eight.batch * 3 * 8 * 8, 9);
  size_t bytes = m->prepared_bytes;
  assert_true(predict_kept_scribble(m, &eight));
  assert_true(m->prepared_bytes > bytes);
  assert_true(predict_kept_scribble(m, &eight));
  free(eight.x);

  assert_int_equal(lb_model_set_training(m, 1), LB_OK);
  assert_int_equal(lb_model_forward(m, s.x, s.batch, s.h, s.w, logits),
                   LB_OK);
  assert_false(predict_kept_scribble(m, &s));

  assert_true(predict_kept_scribble(m, &s)); /* nothing changed since */

  lb_optimizer *o = NULL;
  assert_int_equal(lb_sgd_create(m, &o), LB_OK);
  for (int i = 0; i < 10; i++)
    grad[i] = 0.1f * (float)(i % 3 - 1);
  assert_int_equal(lb_model_set_training(m, 1), LB_OK);
  assert_int_equal(lb_model_forward(m, s.x, s.batch, s.h, s.w, logits),
                   LB_OK);
  assert_int_equal(lb_model_backward(m, grad), LB_OK);
  assert_false(predict_kept_scribble(m, &s)); /* the forward's statistics */
  assert_true(predict_kept_scribble(m, &s));
  assert_int_equal(lb_optimizer_step(o), LB_OK);
  assert_false(predict_kept_scribble(m, &s));
  lb_optimizer_free(o);

  char path[512];
  scratch_path(path, sizeof path, "prepared.safetensors");
  assert_int_equal(lb_model_save_safetensors(other, path), LB_OK);
  assert_true(predict_kept_scribble(m, &s));
  assert_int_equal(lb_model_load_safetensors(m, path), LB_OK);
  assert_false(predict_kept_scribble(m, &s));
  remove(path);

  small_setup larger = s;
  larger.h = larger.w = 12;
  larger.x = random_input(larger.batch * 3 * 12 * 12, 8);
  /* layer3.0's second convolution, 16 channels at stride 1, is the one
   * whose algorithm the image size changes (unless LOSSBAL_CONV says). */
  lb_conv2d_algorithm at_2x2 = m->blocks[4].conv[1].algorithm;
  bool kept = predict_kept_scribble(m, &larger);
  lb_conv2d_algorithm at_3x3 = m->blocks[4].conv[1].algorithm;
  assert_int_equal(kept, at_3x3 == at_2x2);
  if (!getenv("LOSSBAL_CONV"))
    assert_int_equal(at_3x3, LB_CONV2D_WINOGRAD_4X4);
  assert_true(predict_kept_scribble(m, &larger));
  bytes = m->prepared_bytes;
  kept = predict_kept_scribble(m, &s);
  assert_int_equal(m->prepared_bytes, bytes); /* large enough already */
  assert_int_equal(kept, m->blocks[4].conv[1].algorithm == at_3x3);
  free(larger.x);
done:
  lb_model_free(m);
  lb_model_free(other);
  free(s.x);
  assert_int_equal(lb_set_num_threads(threads), LB_OK);
}

/* A block grown for more images takes the prepared weights along (the
 * test above sees them kept): the larger batch's predictions, with no
 * preparing in between, still match the evaluation forward, which a short
 * or misplaced copy of the weights would not. */
static void test_predict_carries_prepared_weights_into_a_larger_block(
    void **state) {
  (void)state;
  small_setup s = small();
  int32_t threads = lb_get_num_threads();
  assert_int_equal(lb_set_num_threads(2), LB_OK);
  lb_model *m = create(s.cfg, 7);
  float logits[64], want[64];
  assert_int_equal(lb_model_predict(m, s.x, s.batch, s.h, s.w, logits),
                   LB_OK);
  small_setup eight = s;
  eight.batch = 8;
  eight.x = random_input(eight.batch * 3 * 8 * 8, 10);
  size_t bytes = m->prepared_bytes;
  assert_int_equal(
      lb_model_predict(m, eight.x, eight.batch, eight.h, eight.w, logits),
      LB_OK);
  if (expect_ranges(eight.batch))
    assert_true(m->prepared_bytes > bytes);
  eval_logits(m, &eight, want);
  size_t cells = (size_t)(eight.batch * eight.cfg.num_classes);
  assert_true(cells <= 64);
  if (relative_gap(logits, want, cells) > 1e-5)
    fail_msg("predict in the grown block deviates from the eval forward by "
             "%.3g", relative_gap(logits, want, cells));
  free(eight.x);
  lb_model_free(m);
  free(s.x);
  assert_int_equal(lb_set_num_threads(threads), LB_OK);
}

/* By ranges, a thread count gives the same bits every time, whichever
 * thread is faster (each range writes its own images only). */
static void test_predict_by_ranges_repeats(void **state) {
  (void)state;
  lb_resnet_config c = config(18, 5, 3, 16, 1);
  lb_model *m = create(c, 22);
  int64_t batch = 8;
  float *x = random_input(batch * 3 * 12 * 12, 9);
  float first[40], again[40];
  int32_t threads = lb_get_num_threads();
  assert_int_equal(lb_set_num_threads(2), LB_OK);
  assert_int_equal(lb_model_predict(m, x, batch, 12, 12, first), LB_OK);
  for (int i = 0; i < 20; i++) {
    assert_int_equal(lb_model_predict(m, x, batch, 12, 12, again), LB_OK);
    assert_memory_equal(first, again, sizeof again);
  }
  assert_int_equal(lb_set_num_threads(threads), LB_OK);
  free(x);
  lb_model_free(m);
}

static void test_predict_bad_arguments(void **state) {
  (void)state;
  small_setup s = small();
  lb_model *m = create(s.cfg, 3);
  float logits[10];
  assert_fails_with(lb_model_predict(NULL, s.x, 2, 8, 8, logits), LB_EINVAL,
                    "lb_model_predict: m is NULL");
  assert_fails_with(lb_model_predict(m, NULL, 2, 8, 8, logits), LB_EINVAL,
                    "lb_model_predict: input is NULL");
  assert_fails_with(lb_model_predict(m, s.x, 2, 8, 8, NULL), LB_EINVAL,
                    "lb_model_predict: logits is NULL");
  assert_fails_with(lb_model_predict(m, s.x, 0, 8, 8, logits), LB_EINVAL,
                    "lb_model_predict: batch = 0 must be at least 1");
  assert_fails_with(lb_model_predict(m, s.x, 2, 0, 8, logits), LB_EINVAL,
                    "lb_model_predict: image size 0x8");
  /* The planner's message, under this entry point's name (the input is
   * refused before it is read). */
  assert_fails_with(
      lb_model_predict(m, s.x, 1, 1 << 30, 1 << 30, logits), LB_EINVAL,
      "lb_model_predict: input shape [1, 3, 1073741824, 1073741824] is too "
      "large to address");
  assert_null(strstr(lb_last_error(), "lb_model_forward"));
  /* A forward's shape needs no new memory for the layer-by-layer
   * prediction (2 images on 4 threads). */
  int32_t threads = lb_get_num_threads();
  assert_int_equal(lb_set_num_threads(4), LB_OK);
  assert_int_equal(lb_model_forward(m, s.x, 2, 8, 8, logits), LB_OK);
  lb_fault_fail_nth_allocation(0);
  assert_int_equal(lb_model_predict(m, s.x, 2, 8, 8, logits), LB_OK);
  assert_int_equal(lb_fault_allocations_attempted(), 0);
  free(s.x);
  lb_model_free(m);
  assert_int_equal(lb_set_num_threads(threads), LB_OK);
}

/* By ranges of images (two threads and an even batch), the first call
 * allocates the prepared weights, later ones of that shape nothing; when
 * that allocation fails the call runs layer by layer and succeeds, with
 * the same logits to rounding and lb_last_error() as it was. (Under LOSSBAL_GEMM=openblas always layer by layer:
 * no allocation at all.) */
static void test_predict_by_ranges_memory(void **state) {
  (void)state;
  small_setup s = small();
  lb_model *m = create(s.cfg, 3);
  int32_t threads = lb_get_num_threads();
  assert_int_equal(lb_set_num_threads(2), LB_OK);
  int64_t allocations = lb_gemm_on_pool() ? 1 : 0;
  float by_layers[10], by_ranges[10], again[10];
  assert_int_equal(lb_model_forward(m, s.x, 2, 8, 8, by_layers), LB_OK);
  lb_clear_error();
  lb_fault_fail_nth_allocation(1);
  lb_status failed_one = lb_model_predict(m, s.x, 2, 8, 8, by_layers);
  int64_t attempted = lb_fault_allocations_attempted();
  lb_fault_fail_nth_allocation(0);
  assert_int_equal(failed_one, LB_OK);
  assert_int_equal(attempted, allocations);
  /* A call that succeeds leaves no message behind. */
  assert_string_equal(lb_last_error(), "");
  assert_int_equal(lb_model_predict(m, s.x, 2, 8, 8, by_ranges), LB_OK);
  assert_int_equal(lb_fault_allocations_attempted(), allocations);
  lb_fault_fail_nth_allocation(0);
  assert_int_equal(lb_model_predict(m, s.x, 2, 8, 8, again), LB_OK);
  assert_int_equal(lb_fault_allocations_attempted(), 0);
  assert_memory_equal(by_ranges, again, sizeof again);
  if (relative_gap(by_ranges, by_layers, 10) > 1e-5)
    fail_msg("by ranges and by layers differ by %.3g",
             relative_gap(by_ranges, by_layers, 10));
  free(s.x);
  lb_model_free(m);
  assert_int_equal(lb_set_num_threads(threads), LB_OK);
}

/* ---- profiling ---------------------------------------------------------------
 */

static lb_layer_profile read_profile(const lb_model *m, int32_t kind) {
  lb_layer_profile p = {.struct_size = sizeof p};
  assert_int_equal(lb_model_get_profile(m, kind, &p), LB_OK);
  return p;
}

/* One training forward and backward of small() (ResNet-18, width 4, small
 * stem, 3x8x8, batch 2, 5 classes). */
static void train_once(lb_model *m, const small_setup *s) {
  float logits[10], grad[10];
  for (int i = 0; i < 10; i++)
    grad[i] = 0.1f;
  assert_int_equal(lb_model_forward(m, s->x, s->batch, s->h, s->w, logits),
                   LB_OK);
  assert_int_equal(lb_model_backward(m, grad), LB_OK);
}

static void test_profile_counts_every_layer(void **state) {
  (void)state;
  small_setup s = small();
  lb_model *m = create(s.cfg, 3);
  train_once(m, &s);
  for (int32_t kind = 0; lb_layer_kind_name(kind); kind++) {
    lb_layer_profile p = read_profile(m, kind);
    assert_true(p.forward_calls == 0 && p.backward_calls == 0 &&
                p.forward_seconds == 0.0 && p.forward_flops == 0.0);
  }

  assert_int_equal(lb_model_set_profiling(m, 1), LB_OK);
  train_once(m, &s);
  /* ResNet-18, small stem: conv1 and 16 block convolutions are 3x3, the
   * three downsample projections 1x1; 20 batch norms; 8 blocks. */
  lb_layer_profile conv3 = read_profile(m, LB_LAYER_CONV3X3);
  assert_int_equal(conv3.forward_calls, 17);
  assert_int_equal(conv3.backward_calls, 17);
  assert_true(conv3.forward_seconds > 0.0 && conv3.backward_seconds > 0.0);
  lb_layer_profile conv1 = read_profile(m, LB_LAYER_CONV1X1);
  assert_int_equal(conv1.forward_calls, 3);
  /* Each projection doubles the channels and halves the side: 4 -> 8 at
   * 4x4, 8 -> 16 at 2x2, 16 -> 32 at 1x1, 2 images: 2048 flops each. */
  assert_true(conv1.forward_flops == 3 * 2048.0);
  assert_true(conv1.backward_flops == 2 * 3 * 2048.0);
  /* conv1 (3 -> 4, 8x8) has no input gradient: one product backward. */
  double stem = 2.0 * 2 * 4 * 64 * 3 * 9;
  assert_true(conv3.backward_flops == 2.0 * conv3.forward_flops - stem);
  assert_int_equal(read_profile(m, LB_LAYER_BATCHNORM).forward_calls, 20);
  assert_int_equal(read_profile(m, LB_LAYER_BATCHNORM).backward_calls, 20);
  assert_int_equal(read_profile(m, LB_LAYER_RELU).forward_calls, 8);
  assert_int_equal(read_profile(m, LB_LAYER_RESIDUAL).backward_calls, 8);
  assert_int_equal(read_profile(m, LB_LAYER_POOLING).forward_calls, 1);
  lb_layer_profile fc = read_profile(m, LB_LAYER_LINEAR);
  assert_true(fc.forward_flops == 2.0 * 2 * 32 * 5);
  assert_true(fc.backward_flops == 2.0 * fc.forward_flops);
  assert_int_equal(read_profile(m, LB_LAYER_CONV_OTHER).forward_calls, 0);
  assert_int_equal(read_profile(m, LB_LAYER_INPUT).forward_calls, 1);

  /* Off keeps the counters still; on again clears them. */
  assert_int_equal(lb_model_set_profiling(m, 0), LB_OK);
  train_once(m, &s);
  assert_int_equal(read_profile(m, LB_LAYER_CONV3X3).forward_calls, 17);
  assert_int_equal(lb_model_set_profiling(m, 1), LB_OK);
  assert_int_equal(read_profile(m, LB_LAYER_CONV3X3).forward_calls, 0);
  assert_true(read_profile(m, LB_LAYER_CONV3X3).forward_seconds == 0.0);
  free(s.x);
  lb_model_free(m);
}

static void test_profile_bad_arguments(void **state) {
  (void)state;
  small_setup s = small();
  lb_model *m = create(s.cfg, 3);
  lb_layer_profile p = {.struct_size = sizeof p};
  assert_fails_with(lb_model_set_profiling(NULL, 1), LB_EINVAL, "m is NULL");
  assert_fails_with(lb_model_get_profile(NULL, 0, &p), LB_EINVAL, "m is NULL");
  assert_fails_with(lb_model_get_profile(m, 0, NULL), LB_EINVAL,
                    "out is NULL");
  assert_fails_with(lb_model_get_profile(m, -1, &p), LB_EINVAL,
                    "kind = -1 is not a layer kind");
  assert_fails_with(lb_model_get_profile(m, 9, &p), LB_EINVAL,
                    "kind = 9 is not a layer kind");
  p.struct_size = sizeof p - 1;
  assert_fails_with(lb_model_get_profile(m, 0, &p), LB_EINVAL,
                    "struct_size");
  const char *expected[] = {"conv3x3", "conv1x1", "conv_other",
                            "batchnorm", "relu", "residual",
                            "pooling", "linear", "input"};
  for (int32_t kind = 0; kind < 9; kind++)
    assert_string_equal(lb_layer_kind_name(kind), expected[kind]);
  assert_null(lb_layer_kind_name(9));
  assert_null(lb_layer_kind_name(-1));
  free(s.x);
  lb_model_free(m);
}

/* Finite differences, in evaluation mode (the fixtures cover training
 * mode): L = sum(r * logits) for fixed r; central differences on entries of
 * every kind of parameter against the backward's gradient. In float32 a
 * step can cross a ReLU or max-pool decision, so an entry whose differences
 * at steps h and h/2 disagree is skipped as a kink; most must be usable. */
static double weighted_sum(lb_model *m, const float *x, const float *r,
                           float *logits) {
  assert_int_equal(lb_model_forward(m, x, 2, 6, 6, logits), LB_OK);
  double sum = 0;
  for (int i = 0; i < 2 * 3; i++)
    sum += (double)r[i] * logits[i];
  return sum;
}

static double central_difference(lb_model *m, float *p, double h,
                                 const float *x, const float *r,
                                 float *logits) {
  float kept = *p;
  *p = (float)(kept + h);
  double up = weighted_sum(m, x, r, logits);
  *p = (float)(kept - h);
  double down = weighted_sum(m, x, r, logits);
  *p = kept;
  return (up - down) / (2 * h);
}

static void test_eval_backward_finite_differences(void **state) {
  (void)state;
  lb_model *m = create(config(18, 3, 2, 4, 1), 21);
  assert_int_equal(lb_model_set_training(m, 0), LB_OK);
  /* make eval-mode BN non-trivial */
  for (int32_t i = 0; i < m->tensor_count; i++) {
    lb_model_tensor *t = &m->tensors[i];
    if (t->data && t->ndim == 1 && strncmp(t->name, "fc.", 3) != 0)
      for (int64_t k = 0; k < t->numel; k++)
        t->data[k] += 0.1f * (float)((k * 7 + i) % 5 - 2);
  }
  float *x = random_input(2 * 2 * 6 * 6, 9);
  float r[6] = {0.5f, -1.0f, 0.25f, 1.0f, -0.75f, 0.3f}, logits[6];
  weighted_sum(m, x, r, logits);
  assert_int_equal(lb_model_backward(m, r), LB_OK);
  const char *names[] = {"conv1.weight",
                         "bn1.weight",
                         "bn1.bias",
                         "layer1.0.conv2.weight",
                         "layer1.1.bn2.bias",
                         "layer2.0.conv1.weight",
                         "layer2.0.downsample.0.weight",
                         "layer2.0.downsample.1.weight",
                         "layer3.1.bn1.weight",
                         "layer4.1.conv2.weight",
                         "fc.weight",
                         "fc.bias"};
  int checked = 0, usable = 0, nonzero = 0;
  for (size_t n = 0; n < sizeof names / sizeof names[0]; n++) {
    lb_model_tensor *t = (lb_model_tensor *)lb_model_find_tensor(m, names[n]);
    assert_non_null(t);
    for (int64_t k = 0; k < 4; k++) {
      int64_t at = (k * t->numel) / 4 + k % t->numel;
      if (at >= t->numel)
        at = t->numel - 1;
      double h = 1e-3 * fmax(1.0, fabs((double)t->data[at]));
      double coarse = central_difference(m, &t->data[at], h, x, r, logits);
      double fine = central_difference(m, &t->data[at], h / 2, x, r, logits);
      double tol = 5e-3 + 2e-2 * fabs(fine);
      checked++;
      if (fabs(coarse - fine) > tol)
        continue; /* a kink */
      usable++;
      double analytic = t->grad[at];
      if (fabs(fine - analytic) > tol)
        fail_msg("%s[%lld]: backward %.6g, finite difference %.6g", names[n],
                 (long long)at, analytic, fine);
      nonzero += analytic != 0;
    }
  }
  print_message("finite differences: %d of %d entries usable, %d nonzero\n",
                usable, checked, nonzero);
  assert_true(usable * 4 >= checked * 3);
  assert_true(nonzero * 2 >= checked);
  free(x);
  lb_model_free(m);
}

/* By ranges (4 images on 2 threads), the first range's thread does the
 * profiling with the whole batch's flops: the same calls and flops per
 * kind as layer by layer (4 images on 3 threads, an uneven batch), but
 * for the ReLUs and residual sums, which by ranges run inside the
 * convolutions (their epilogue) and count under them. */
static void test_predict_profile_by_ranges_counts_every_layer(void **state) {
  (void)state;
  lb_resnet_config c = config(18, 5, 3, 16, 1);
  float *x = random_input(4 * 3 * 12 * 12, 10);
  float logits[20];
  lb_layer_profile seen[2][16];
  const int32_t thread_counts[2] = {3, 2};
  bool by_ranges[2];
  int32_t threads = lb_get_num_threads(), kinds = 0;
  for (int32_t t = 0; t < 2; t++) {
    lb_model *m = create(c, 23);
    assert_int_equal(lb_set_num_threads(thread_counts[t]), LB_OK);
    assert_int_equal(lb_model_set_profiling(m, 1), LB_OK);
    assert_int_equal(lb_model_predict(m, x, 4, 12, 12, logits), LB_OK);
    by_ranges[t] = m->prepared != NULL;
    assert_int_equal(by_ranges[t], expect_ranges(4));
    for (kinds = 0; lb_layer_kind_name(kinds); kinds++) {
      assert_true(kinds < 16);
      seen[t][kinds] = read_profile(m, kinds);
    }
    lb_model_free(m);
  }
  assert_int_equal(lb_set_num_threads(threads), LB_OK);
  assert_false(by_ranges[0]);
  assert_true(seen[0][LB_LAYER_CONV3X3].forward_calls > 0);
  assert_true(seen[0][LB_LAYER_RELU].forward_calls > 0);
  assert_true(seen[0][LB_LAYER_RESIDUAL].forward_calls > 0);
  for (int32_t kind = 0; kind < kinds; kind++) {
    bool fused = by_ranges[1] &&
                 (kind == LB_LAYER_RELU || kind == LB_LAYER_RESIDUAL);
    assert_int_equal(seen[1][kind].forward_calls,
                     fused ? 0 : seen[0][kind].forward_calls);
    assert_true(seen[1][kind].forward_flops == seen[0][kind].forward_flops);
  }
  free(x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parity_with_pytorch),
      cmocka_unit_test(test_save_load_round_trip),
      cmocka_unit_test(test_load_refuses_mismatched_files),
      cmocka_unit_test(test_create_bad_arguments),
      cmocka_unit_test(test_depths_and_parameter_counts),
      cmocka_unit_test(test_forward_backward_bad_arguments),
      cmocka_unit_test(test_input_too_small),
      cmocka_unit_test(test_memory_and_repeated_backward),
      cmocka_unit_test(test_eval_backward_finite_differences),
      cmocka_unit_test(test_init_is_seeded),
      cmocka_unit_test(test_create_allocation_failures),
      cmocka_unit_test(test_predict_matches_eval_forward),
      cmocka_unit_test(test_predict_runs_late_layers_on_the_whole_batch),
      cmocka_unit_test(test_predict_bad_arguments),
      cmocka_unit_test(test_predict_by_ranges_memory),
      cmocka_unit_test(test_predict_by_ranges_repeats),
      cmocka_unit_test(test_predict_prepares_again_after_parameters_change),
      cmocka_unit_test(
          test_predict_carries_prepared_weights_into_a_larger_block),
      cmocka_unit_test(test_predict_profile_by_ranges_counts_every_layer),
      cmocka_unit_test(test_profile_counts_every_layer),
      cmocka_unit_test(test_profile_bad_arguments),
  };
  return cmocka_run_group_tests(tests, make_scratch, remove_scratch);
}
