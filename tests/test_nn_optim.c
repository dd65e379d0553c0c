/* Tests of the SGD optimizer, the learning-rate schedules and checkpoints
 * (include/lossbal/nn.h): parity with torch.optim.SGD and PyTorch's
 * schedulers on tests/data/nn/sgd_resnet18_w1_fixture.safetensors (written
 * by tests/nn/gen_sgd_fixtures.py), argument and state errors, checkpoint
 * round trips, bit-exact resumption, malformed checkpoints that must leave
 * model and optimizer unchanged, and allocation failures. */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/core_internal.h"
#include "lossbal/criterion.h"
#include "nn/model_internal.h"
#include "nn/optim_internal.h"
#include "nn/safetensors.h"
#include "test_scratch.h"
#include "test_support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIXTURE "nn/sgd_resnet18_w1_fixture.safetensors"

/* ---- helpers --------------------------------------------------------------
 */

static lb_model *create(int32_t classes, int32_t channels, int32_t width,
                        uint64_t seed) {
  lb_resnet_config c = {
      sizeof(lb_resnet_config), 18, classes, channels, width, 1};
  lb_model *m = NULL;
  assert_int_equal(lb_resnet_create(&c, seed, &m), LB_OK);
  return m;
}

static lb_optimizer *sgd(lb_model *m) {
  lb_optimizer *o = NULL;
  assert_int_equal(lb_sgd_create(m, &o), LB_OK);
  assert_non_null(o);
  return o;
}

static void fill_random(float *x, int64_t count, uint64_t seed) {
  uint64_t s = seed * 2654435761u + 1;
  for (int64_t i = 0; i < count; i++) {
    double sum = 0;
    for (int k = 0; k < 4; k++) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      sum += (double)(s >> 11) * 0x1.0p-53;
    }
    x[i] = (float)((sum - 2.0) * 1.7320508);
  }
}

/* A forward and backward pass of the model (eval mode, one 4x4 image), so
 * the optimizer may step; the gradients are then whatever the caller puts
 * in. */
static void tiny_backward(lb_model *m) {
  float x[16], logits[16], grad[16];
  int32_t k = lb_model_num_classes(m);
  fill_random(x, 16, 3);
  for (int32_t i = 0; i < k; i++)
    grad[i] = (float)(i + 1) * 0.1f;
  assert_int_equal(lb_model_set_training(m, 0), LB_OK);
  assert_int_equal(lb_model_forward(m, x, 1, 4, 4, logits), LB_OK);
  assert_int_equal(lb_model_backward(m, grad), LB_OK);
}

/* Copies the file's tensors `<prefix><name>` into the model's parameters
 * (data) or gradients (grad). */
static void put(lb_model *m, const lb_st_file *f, const char *prefix,
                bool grad) {
  char name[160];
  for (int32_t i = 0; i < m->tensor_count; i++) {
    lb_model_tensor *t = &m->tensors[i];
    if (!t->grad)
      continue;
    snprintf(name, sizeof name, "%s%s", prefix, t->name);
    const lb_st_tensor *s = lb_st_find(f, name);
    if (!s)
      fail_msg("fixture lacks %s", name);
    assert_int_equal(s->dtype, LB_ST_F32);
    assert_int_equal(s->bytes, (size_t)t->numel * sizeof(float));
    memcpy(grad ? t->grad : t->data, s->data, s->bytes);
  }
}

/* max over parameters of |ours - expected| / max(1, |expected|). */
static double parameter_deviation(const lb_model *m, const lb_st_file *f,
                                  const char *prefix) {
  char name[160];
  double worst = 0;
  for (int32_t i = 0; i < m->tensor_count; i++) {
    const lb_model_tensor *t = &m->tensors[i];
    if (!t->grad)
      continue;
    snprintf(name, sizeof name, "%s%s", prefix, t->name);
    const lb_st_tensor *s = lb_st_find(f, name);
    assert_non_null(s);
    for (int64_t j = 0; j < t->numel; j++) {
      float e;
      memcpy(&e, (const char *)s->data + (size_t)j * sizeof e, sizeof e);
      double d =
          fabs((double)t->data[j] - (double)e) / fmax(1.0, fabs((double)e));
      if (!(d <= worst))
        worst = d;
    }
  }
  return worst;
}

static lb_st_file *read_fixture(void) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", LOSSBAL_TEST_DATA_DIR, FIXTURE);
  lb_st_file *f = NULL;
  assert_int_equal(lb_st_read_file(path, &f), LB_OK);
  return f;
}

/* ---- SGD against torch.optim.SGD ------------------------------------------
 */

typedef struct sgd_case {
  const char *name;
  double lr, momentum, dampening, weight_decay, nesterov, decay_all;
} sgd_case;

/* As CASES in gen_sgd_fixtures.py (the metadata is checked against this). */
static const sgd_case cases[] = {
    {"plain", 0.1, 0.0, 0.0, 0.0, 0, 1},
    {"momentum", 0.05, 0.9, 0.0, 0.0, 0, 1},
    {"dampening", 0.1, 0.9, 0.1, 0.0, 0, 1},
    {"nesterov", 0.1, 0.9, 0.0, 0.0, 1, 1},
    {"weight_decay", 0.1, 0.9, 0.0, 5e-4, 0, 1},
    {"decay_excluded", 0.1, 0.9, 0.0, 5e-4, 0, 0},
    {"decay_only", 0.2, 0.0, 0.0, 0.05, 0, 0},
    {"nesterov_decay", 0.1, 0.5, 0.0, 0.01, 1, 0},
};

static void set_case(lb_optimizer *o, const sgd_case *c) {
  assert_int_equal(lb_optimizer_set_param(o, LB_SGD_LEARNING_RATE, c->lr),
                   LB_OK);
  assert_int_equal(lb_optimizer_set_param(o, LB_SGD_MOMENTUM, c->momentum),
                   LB_OK);
  assert_int_equal(lb_optimizer_set_param(o, LB_SGD_DAMPENING, c->dampening),
                   LB_OK);
  assert_int_equal(
      lb_optimizer_set_param(o, LB_SGD_WEIGHT_DECAY, c->weight_decay), LB_OK);
  assert_int_equal(lb_optimizer_set_param(o, LB_SGD_NESTEROV, c->nesterov),
                   LB_OK);
  assert_int_equal(
      lb_optimizer_set_param(o, LB_SGD_DECAY_NORM_AND_BIAS, c->decay_all),
      LB_OK);
}

static void test_sgd_matches_pytorch(void **state) {
  (void)state;
  lb_st_file *f = read_fixture();
  assert_string_equal(lb_st_metadata_find(f, "base_width"), "1");
  assert_string_equal(lb_st_metadata_find(f, "num_classes"), "3");
  assert_string_equal(lb_st_metadata_find(f, "steps"), "3");
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const sgd_case *c = &cases[i];
    char key[64], want[200], prefix[96];
    snprintf(key, sizeof key, "case.%s", c->name);
    const char *meta = lb_st_metadata_find(f, key);
    assert_non_null(meta);
    double v[6];
    assert_int_equal(sscanf(meta, "%lf %lf %lf %lf %lf %lf", &v[0], &v[1],
                            &v[2], &v[3], &v[4], &v[5]),
                     6);
    snprintf(want, sizeof want, "%g %g %g %g %g %g", c->lr, c->momentum,
             c->dampening, c->weight_decay, c->nesterov, c->decay_all);
    char have[200];
    snprintf(have, sizeof have, "%g %g %g %g %g %g", v[0], v[1], v[2], v[3],
             v[4], v[5]);
    assert_string_equal(have, want);

    lb_model *m = create(3, 1, 1, 1);
    lb_optimizer *o = sgd(m);
    set_case(o, c);
    put(m, f, "init.", false);
    for (int k = 0; k < 3; k++) {
      tiny_backward(m);
      snprintf(prefix, sizeof prefix, "grad.%d.", k);
      put(m, f, prefix, true);
      assert_int_equal(lb_optimizer_step(o), LB_OK);
    }
    snprintf(prefix, sizeof prefix, "expected.%s.", c->name);
    double d = parameter_deviation(m, f, prefix);
    /* bit-identical: the same float32 operations, fused as PyTorch's */
    if (!(d == 0))
      fail_msg("case %s: deviation %g from torch.optim.SGD", c->name, d);
    /* against the starting point, the update is not a no-op */
    assert_true(parameter_deviation(m, f, "init.") > 1e-3);
    lb_optimizer_free(o);
    lb_model_free(m);
  }
  lb_st_free(f);
}

/* Which tensors escape decay with decay_norm_and_bias 0. */
static void test_norm_and_bias_classification(void **state) {
  (void)state;
  lb_model *m = create(3, 1, 1, 1);
  int32_t excluded = 0, decayed = 0;
  for (int32_t i = 0; i < m->tensor_count; i++) {
    const lb_model_tensor *t = &m->tensors[i];
    if (!t->grad)
      continue;
    bool nb = lb_sgd_is_norm_or_bias(t);
    bool conv_or_fc = strstr(t->name, "conv") != NULL ||
                      strcmp(t->name, "fc.weight") == 0 ||
                      (strstr(t->name, "downsample.0.") != NULL);
    assert_int_equal(nb, !conv_or_fc);
    excluded += nb;
    decayed += !nb;
  }
  /* 20 batch norms (weight + bias) and fc.bias; 20 convs and fc.weight */
  assert_int_equal(excluded, 41);
  assert_int_equal(decayed, 21);
  lb_model_free(m);
}

/* ---- schedules against PyTorch's schedulers -------------------------------
 */

typedef struct sched_case {
  const char *name;
  lb_lr_schedule s;
} sched_case;

static lb_lr_schedule schedule(int32_t kind, double base_lr) {
  lb_lr_schedule s;
  memset(&s, 0, sizeof s);
  s.struct_size = sizeof s;
  s.kind = kind;
  s.base_lr = base_lr;
  s.warmup_start_factor = 1;
  return s;
}

static void test_schedules_match_pytorch(void **state) {
  (void)state;
  sched_case list[9];
  list[0] = (sched_case){"constant", schedule(LB_LR_CONSTANT, 0.1)};
  list[1] = (sched_case){"step", schedule(LB_LR_STEP, 0.1)};
  list[1].s.step_size = 3;
  list[1].s.gamma = 0.5;
  list[2] = (sched_case){"multistep", schedule(LB_LR_MULTISTEP, 0.2)};
  list[2].s.gamma = 0.1;
  list[2].s.milestone_count = 3;
  list[2].s.milestones[0] = 2;
  list[2].s.milestones[1] = 5;
  list[2].s.milestones[2] = 9;
  list[3] = (sched_case){"cosine", schedule(LB_LR_COSINE, 0.1)};
  list[3].s.total_steps = 10;
  list[3].s.min_lr = 0.001;
  list[4] = (sched_case){"constant_warmup", schedule(LB_LR_CONSTANT, 0.1)};
  list[4].s.warmup_steps = 5;
  list[4].s.warmup_start_factor = 0.1;
  list[5] = (sched_case){"step_warmup", schedule(LB_LR_STEP, 0.1)};
  list[5].s.step_size = 4;
  list[5].s.gamma = 0.5;
  list[5].s.warmup_steps = 5;
  list[5].s.warmup_start_factor = 0.1;
  list[6] = (sched_case){"multistep_warmup", schedule(LB_LR_MULTISTEP, 0.1)};
  list[6].s.gamma = 0.5;
  list[6].s.milestone_count = 2;
  list[6].s.milestones[0] = 3;
  list[6].s.milestones[1] = 7;
  list[6].s.warmup_steps = 4;
  list[6].s.warmup_start_factor = 0.5;
  list[7] = (sched_case){"cosine_warmup", schedule(LB_LR_COSINE, 0.4)};
  list[7].s.total_steps = 12;
  list[7].s.warmup_steps = 3;
  list[7].s.warmup_start_factor = 0.25;
  list[8] = (sched_case){"cosine_warmup_min", schedule(LB_LR_COSINE, 0.1)};
  list[8].s.total_steps = 20;
  list[8].s.min_lr = 0.01;
  list[8].s.warmup_steps = 6;
  list[8].s.warmup_start_factor = 0.001;

  lb_st_file *f = read_fixture();
  for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) {
    char key[64];
    snprintf(key, sizeof key, "lr.%s", list[i].name);
    const lb_st_tensor *t = lb_st_find(f, key);
    assert_non_null(t);
    assert_int_equal(t->dtype, LB_ST_F64);
    assert_int_equal(lb_lr_schedule_validate(&list[i].s), LB_OK);
    for (int64_t step = 0; step < t->shape[0]; step++) {
      double want, lr = -1;
      memcpy(&want, (const char *)t->data + (size_t)step * sizeof want,
             sizeof want);
      assert_int_equal(lb_lr_at(&list[i].s, step, &lr), LB_OK);
      if (!(fabs(lr - want) <= 1e-12 * want))
        fail_msg("%s at step %lld: %.17g, PyTorch %.17g", list[i].name,
                 (long long)step, lr, want);
    }
  }
  lb_st_free(f);
  /* far past T_max the cosine stays periodic and exact */
  lb_lr_schedule c = schedule(LB_LR_COSINE, 1.0);
  c.total_steps = 7;
  double a = 0, b = 0;
  assert_int_equal(lb_lr_at(&c, 3, &a), LB_OK);
  assert_int_equal(lb_lr_at(&c, 3 + 14 * 1000000000000ll, &b), LB_OK);
  assert_true(a == b);
}

static void test_schedule_bad_arguments(void **state) {
  (void)state;
  lb_lr_schedule s = schedule(LB_LR_STEP, 0.1);
  s.step_size = 2;
  s.gamma = 0.5;
  double lr = 7;
  assert_fails_with(lb_lr_schedule_validate(NULL), LB_EINVAL, "s is NULL");
  assert_fails_with(lb_lr_at(NULL, 0, &lr), LB_EINVAL, "s is NULL");
  assert_fails_with(lb_lr_at(&s, 0, NULL), LB_EINVAL, "lr is NULL");
  assert_fails_with(lb_lr_at(&s, -1, &lr), LB_EINVAL, "step -1");
  assert_true(lr == 7);
  lb_lr_schedule b = s;
  b.struct_size = 8;
  assert_fails_with(lb_lr_schedule_validate(&b), LB_EINVAL, "struct_size");
  b = s;
  b.kind = 4;
  assert_fails_with(lb_lr_schedule_validate(&b), LB_EINVAL, "kind 4");
  b = s;
  b.base_lr = 0;
  assert_fails_with(lb_lr_schedule_validate(&b), LB_EINVAL, "base_lr");
  b.base_lr = NAN;
  assert_fails_with(lb_lr_at(&b, 0, &lr), LB_EINVAL, "base_lr");
  b = s;
  b.step_size = 0;
  assert_fails_with(lb_lr_schedule_validate(&b), LB_EINVAL, "step_size");
  b = s;
  b.gamma = -1;
  assert_fails_with(lb_lr_schedule_validate(&b), LB_EINVAL, "gamma");
  b = schedule(LB_LR_MULTISTEP, 0.1);
  b.gamma = 0.1;
  b.milestone_count = 17;
  assert_fails_with(lb_lr_schedule_validate(&b), LB_EINVAL, "milestone_count");
  b.milestone_count = 2;
  b.milestones[0] = 4;
  b.milestones[1] = 4;
  assert_fails_with(lb_lr_schedule_validate(&b), LB_EINVAL,
                    "milestones[1] = 4 does not increase");
  b.milestones[0] = -1;
  assert_fails_with(lb_lr_schedule_validate(&b), LB_EINVAL,
                    "milestones[0] = -1 is negative");
  b = schedule(LB_LR_COSINE, 0.1);
  assert_fails_with(lb_lr_schedule_validate(&b), LB_EINVAL, "total_steps");
  b.total_steps = 5;
  b.min_lr = -0.1;
  assert_fails_with(lb_lr_schedule_validate(&b), LB_EINVAL, "min_lr");
  b = s;
  b.warmup_steps = -2;
  assert_fails_with(lb_lr_schedule_validate(&b), LB_EINVAL, "warmup_steps");
  b.warmup_steps = 3;
  b.warmup_start_factor = 0;
  assert_fails_with(lb_lr_schedule_validate(&b), LB_EINVAL,
                    "warmup_start_factor");
  b.warmup_start_factor = 1.5;
  assert_fails_with(lb_lr_schedule_validate(&b), LB_EINVAL,
                    "warmup_start_factor");
  /* fields of other kinds are ignored */
  b = schedule(LB_LR_CONSTANT, 0.3);
  b.gamma = -5;
  b.step_size = -5;
  assert_int_equal(lb_lr_at(&b, 100, &lr), LB_OK);
  assert_true(lr == 0.3);
}

/* ---- optimizer arguments and state -----------------------------------------
 */

static void test_sgd_params(void **state) {
  (void)state;
  lb_model *m = create(3, 1, 1, 1);
  lb_optimizer *o = NULL;
  assert_fails_with(lb_sgd_create(NULL, &o), LB_EINVAL, "m is NULL");
  assert_fails_with(lb_sgd_create(m, NULL), LB_EINVAL, "out is NULL");
  assert_null(o);
  o = sgd(m);
  static const double defaults[6] = {0.1, 0, 0, 0, 0, 1};
  for (int p = 0; p < 6; p++) {
    double v = -1;
    assert_int_equal(lb_optimizer_get_param(o, (lb_sgd_param)p, &v), LB_OK);
    assert_true(v == defaults[p]);
  }
  double v = 42;
  assert_fails_with(lb_optimizer_get_param(NULL, LB_SGD_MOMENTUM, &v),
                    LB_EINVAL, "o is NULL");
  assert_fails_with(lb_optimizer_get_param(o, LB_SGD_MOMENTUM, NULL), LB_EINVAL,
                    "value is NULL");
  assert_fails_with(lb_optimizer_get_param(o, (lb_sgd_param)6, &v), LB_EINVAL,
                    "6 is not an SGD setting");
  assert_fails_with(lb_optimizer_get_param(o, (lb_sgd_param)-1, &v), LB_EINVAL,
                    "-1 is not an SGD setting");
  assert_true(v == 42);
  assert_fails_with(lb_optimizer_set_param(NULL, LB_SGD_MOMENTUM, 0.5),
                    LB_EINVAL, "o is NULL");
  assert_fails_with(lb_optimizer_set_param(o, (lb_sgd_param)9, 0.5), LB_EINVAL,
                    "9 is not an SGD setting");
  assert_fails_with(lb_optimizer_set_param(o, LB_SGD_LEARNING_RATE, 0),
                    LB_EINVAL, "learning rate 0 is not > 0");
  assert_fails_with(lb_optimizer_set_param(o, LB_SGD_LEARNING_RATE, INFINITY),
                    LB_EINVAL, "learning rate");
  assert_fails_with(lb_optimizer_set_param(o, LB_SGD_MOMENTUM, 1), LB_EINVAL,
                    "momentum 1 is outside [0, 1)");
  assert_fails_with(lb_optimizer_set_param(o, LB_SGD_MOMENTUM, NAN), LB_EINVAL,
                    "momentum");
  assert_fails_with(lb_optimizer_set_param(o, LB_SGD_MOMENTUM, -0.1), LB_EINVAL,
                    "momentum");
  assert_fails_with(lb_optimizer_set_param(o, LB_SGD_DAMPENING, 1.5), LB_EINVAL,
                    "dampening 1.5 is outside [0, 1]");
  assert_fails_with(lb_optimizer_set_param(o, LB_SGD_WEIGHT_DECAY, -1e-4),
                    LB_EINVAL, "weight decay");
  assert_fails_with(lb_optimizer_set_param(o, LB_SGD_NESTEROV, 0.5), LB_EINVAL,
                    "nesterov must be 0 or 1");
  assert_fails_with(lb_optimizer_set_param(o, LB_SGD_DECAY_NORM_AND_BIAS, 2),
                    LB_EINVAL, "decay_norm_and_bias must be 0 or 1");
  assert_fails_with(lb_optimizer_set_param(o, LB_SGD_NESTEROV, 1), LB_EINVAL,
                    "Nesterov momentum needs momentum > 0");
  assert_int_equal(lb_optimizer_set_param(o, LB_SGD_MOMENTUM, 0.9), LB_OK);
  assert_int_equal(lb_optimizer_set_param(o, LB_SGD_DAMPENING, 0.2), LB_OK);
  assert_fails_with(lb_optimizer_set_param(o, LB_SGD_NESTEROV, 1), LB_EINVAL,
                    "dampening 0.2");
  assert_int_equal(lb_optimizer_set_param(o, LB_SGD_DAMPENING, 0), LB_OK);
  assert_int_equal(lb_optimizer_set_param(o, LB_SGD_NESTEROV, 1), LB_OK);
  assert_fails_with(lb_optimizer_set_param(o, LB_SGD_MOMENTUM, 0), LB_EINVAL,
                    "Nesterov");
  assert_fails_with(lb_optimizer_set_param(o, LB_SGD_DAMPENING, 0.1), LB_EINVAL,
                    "Nesterov");
  /* failures left the settings as they were */
  assert_int_equal(lb_optimizer_get_param(o, LB_SGD_MOMENTUM, &v), LB_OK);
  assert_true(v == 0.9);
  assert_int_equal(lb_optimizer_get_param(o, LB_SGD_DAMPENING, &v), LB_OK);
  assert_true(v == 0);
  assert_int_equal(lb_optimizer_get_param(o, LB_SGD_NESTEROV, &v), LB_OK);
  assert_true(v == 1);
  assert_int_equal(lb_optimizer_get_param(o, LB_SGD_LEARNING_RATE, &v), LB_OK);
  assert_true(v == 0.1);
  lb_optimizer_free(o);
  lb_optimizer_free(NULL);
  lb_model_free(m);
}

static void test_step_needs_backward(void **state) {
  (void)state;
  lb_model *m = create(3, 1, 1, 1);
  tiny_backward(m); /* before the optimizer exists: does not count */
  lb_optimizer *o = sgd(m);
  assert_fails_with(lb_optimizer_step(NULL), LB_EINVAL, "o is NULL");
  float *before = malloc((size_t)m->parameter_count * sizeof(float));
  assert_non_null(before);
  const lb_model_tensor *w = lb_model_find_tensor(m, "fc.weight");
  memcpy(before, w->data, (size_t)w->numel * sizeof(float));
  assert_fails_with(lb_optimizer_step(o), LB_ESTATE, "no backward pass");
  assert_memory_equal(before, w->data, (size_t)w->numel * sizeof(float));
  tiny_backward(m);
  assert_int_equal(lb_optimizer_step(o), LB_OK);
  assert_fails_with(lb_optimizer_step(o), LB_ESTATE, "last stepped");
  /* a forward alone is not enough */
  float x[16], logits[3];
  fill_random(x, 16, 1);
  assert_int_equal(lb_model_forward(m, x, 1, 4, 4, logits), LB_OK);
  assert_fails_with(lb_optimizer_step(o), LB_ESTATE, "no backward pass");
  /* a failing backward neither */
  assert_int_equal(lb_model_set_training(m, 1), LB_OK);
  assert_int_equal(lb_model_backward(m, logits), LB_ESTATE);
  assert_fails_with(lb_optimizer_step(o), LB_ESTATE, "no backward pass");
  tiny_backward(m);
  assert_int_equal(lb_optimizer_step(o), LB_OK);
  free(before);
  lb_optimizer_free(o);
  lb_model_free(m);
}

/* ---- checkpoints ------------------------------------------------------------
 */

/* A training step on a random batch of 4 8x8 images, CE loss. */
static void train_step(lb_model *m, lb_optimizer *o, lb_criterion *ce,
                       const lb_lr_schedule *sched, int64_t step,
                       int32_t channels) {
  enum { B = 4 };
  int32_t k = lb_model_num_classes(m);
  float *x = malloc((size_t)(B * channels * 64) * sizeof(float));
  float logits[B * 8], grad[B * 8];
  int32_t labels[B];
  assert_non_null(x);
  fill_random(x, B * channels * 64, 100 + (uint64_t)step);
  for (int i = 0; i < B; i++)
    labels[i] = (int32_t)((step * 7 + i * 3) % k);
  double lr = 0, loss = 0;
  assert_int_equal(lb_lr_at(sched, step, &lr), LB_OK);
  assert_int_equal(lb_optimizer_set_param(o, LB_SGD_LEARNING_RATE, lr), LB_OK);
  assert_int_equal(lb_model_set_training(m, 1), LB_OK);
  assert_int_equal(lb_model_forward(m, x, B, 8, 8, logits), LB_OK);
  assert_int_equal(lb_criterion_compute(ce, logits, labels, B, &loss, grad),
                   LB_OK);
  assert_int_equal(lb_model_backward(m, grad), LB_OK);
  assert_int_equal(lb_optimizer_step(o), LB_OK);
  free(x);
}

static void configure(lb_optimizer *o) {
  assert_int_equal(lb_optimizer_set_param(o, LB_SGD_MOMENTUM, 0.9), LB_OK);
  assert_int_equal(lb_optimizer_set_param(o, LB_SGD_NESTEROV, 1), LB_OK);
  assert_int_equal(lb_optimizer_set_param(o, LB_SGD_WEIGHT_DECAY, 5e-4), LB_OK);
  assert_int_equal(lb_optimizer_set_param(o, LB_SGD_DECAY_NORM_AND_BIAS, 0),
                   LB_OK);
}

static void assert_same_state(const lb_model *a, const lb_optimizer *oa,
                              const lb_model *b, const lb_optimizer *ob) {
  assert_int_equal(a->tensor_count, b->tensor_count);
  for (int32_t i = 0; i < a->tensor_count; i++) {
    const lb_model_tensor *s = &a->tensors[i], *t = &b->tensors[i];
    assert_string_equal(s->name, t->name);
    if (s->count) {
      assert_int_equal(*s->count, *t->count);
      continue;
    }
    if (memcmp(s->data, t->data, (size_t)s->numel * sizeof(float)) != 0)
      fail_msg("tensor %s differs", s->name);
  }
  if (oa) {
    assert_memory_equal(&oa->settings, &ob->settings, sizeof oa->settings);
    assert_int_equal(oa->has_buffers, ob->has_buffers);
    assert_memory_equal(oa->buffers, ob->buffers,
                        (size_t)a->parameter_count * sizeof(float));
  }
}

static void test_checkpoint_round_trip_and_resume(void **state) {
  (void)state;
  char path[512];
  scratch_path(path, sizeof path, "ckpt.safetensors");
  lb_criterion *ce = NULL;
  assert_int_equal(lb_criterion_create(LB_LOSS_CE, 5, &ce), LB_OK);
  lb_lr_schedule sched = schedule(LB_LR_COSINE, 0.1);
  sched.total_steps = 6;
  sched.min_lr = 0.001;
  sched.warmup_steps = 2;
  sched.warmup_start_factor = 0.5;
  enum { N = 6, K = 3 };

  /* straight through */
  lb_model *ref = create(5, 3, 4, 11);
  lb_optimizer *ro = sgd(ref);
  configure(ro);
  for (int64_t s = 0; s < N; s++)
    train_step(ref, ro, ce, &sched, s, 3);

  /* K steps, a checkpoint, a fresh model and optimizer, the rest */
  lb_model *a = create(5, 3, 4, 11);
  lb_optimizer *ao = sgd(a);
  configure(ao);
  for (int64_t s = 0; s < K; s++)
    train_step(a, ao, ce, &sched, s, 3);
  assert_int_equal(lb_checkpoint_save(path, a, ao, 2, K, 0xfedcba9876543210ull),
                   LB_OK);

  lb_model *b = create(5, 3, 4, 99); /* other weights */
  lb_optimizer *bo = sgd(b);
  int64_t epoch = -1, step = -1;
  uint64_t rng = 0;
  assert_int_equal(lb_checkpoint_load(path, b, bo, &epoch, &step, &rng), LB_OK);
  assert_int_equal(epoch, 2);
  assert_int_equal(step, K);
  assert_true(rng == 0xfedcba9876543210ull);
  assert_same_state(a, ao, b, bo);
  /* a load wants a new backward before a step */
  assert_fails_with(lb_optimizer_step(bo), LB_ESTATE, "loaded");
  for (int64_t s = step; s < N; s++)
    train_step(b, bo, ce, &sched, s, 3);
  assert_same_state(ref, ro, b, bo);

  /* NULL outputs and a NULL optimizer are fine */
  assert_int_equal(lb_checkpoint_load(path, b, NULL, NULL, NULL, NULL), LB_OK);
  /* a checkpoint without optimizer state */
  assert_int_equal(lb_checkpoint_save(path, a, NULL, 0, 0, 0), LB_OK);
  assert_fails_with(lb_checkpoint_load(path, b, bo, NULL, NULL, NULL),
                    LB_EFORMAT, "no optimizer state");
  assert_int_equal(lb_checkpoint_load(path, b, NULL, &epoch, &step, &rng),
                   LB_OK);
  assert_int_equal(epoch, 0);
  assert_true(rng == 0);
  /* an optimizer without buffers yet (momentum 0): none saved, loads zero */
  lb_optimizer *fresh = sgd(a);
  assert_int_equal(lb_checkpoint_save(path, a, fresh, 0, 0, UINT64_MAX), LB_OK);
  assert_int_equal(lb_checkpoint_load(path, b, bo, NULL, NULL, &rng), LB_OK);
  assert_true(rng == UINT64_MAX);
  assert_false(bo->has_buffers);
  assert_same_state(a, fresh, b, bo);
  lb_optimizer_free(fresh);

  assert_int_equal(unlink(path), 0);
  lb_optimizer_free(ro);
  lb_optimizer_free(ao);
  lb_optimizer_free(bo);
  lb_model_free(ref);
  lb_model_free(a);
  lb_model_free(b);
  lb_criterion_free(ce);
}

static void test_checkpoint_bad_arguments(void **state) {
  (void)state;
  char path[512];
  scratch_path(path, sizeof path, "args.safetensors");
  lb_model *m = create(3, 1, 1, 1), *other = create(3, 1, 1, 2);
  lb_optimizer *o = sgd(m);
  assert_fails_with(lb_checkpoint_save(NULL, m, o, 0, 0, 0), LB_EINVAL,
                    "path is NULL");
  assert_fails_with(lb_checkpoint_save(path, NULL, o, 0, 0, 0), LB_EINVAL,
                    "m is NULL");
  assert_fails_with(lb_checkpoint_save(path, other, o, 0, 0, 0), LB_EINVAL,
                    "not an optimizer of m");
  assert_fails_with(lb_checkpoint_save(path, m, o, -1, 0, 0), LB_EINVAL,
                    "epoch -1");
  assert_fails_with(lb_checkpoint_save(path, m, o, 0, -3, 0), LB_EINVAL,
                    "step -3");
  assert_int_equal(access(path, F_OK), -1);
  char missing[512];
  scratch_path(missing, sizeof missing, "no/such/dir/x.safetensors");
  assert_int_equal(lb_checkpoint_save(missing, m, o, 0, 0, 0), LB_EIO);
  assert_int_equal(lb_checkpoint_save(path, m, o, 0, 0, 0), LB_OK);
  assert_fails_with(lb_checkpoint_load(NULL, m, o, NULL, NULL, NULL), LB_EINVAL,
                    "path is NULL");
  assert_fails_with(lb_checkpoint_load(path, NULL, o, NULL, NULL, NULL),
                    LB_EINVAL, "m is NULL");
  assert_fails_with(lb_checkpoint_load(path, other, o, NULL, NULL, NULL),
                    LB_EINVAL, "not an optimizer of m");
  assert_int_equal(lb_checkpoint_load(missing, m, o, NULL, NULL, NULL), LB_EIO);
  /* another architecture */
  lb_model *wider = create(3, 1, 2, 1);
  assert_fails_with(lb_checkpoint_load(path, wider, NULL, NULL, NULL, NULL),
                    LB_EFORMAT, "conv1.weight");
  lb_model_free(wider);
  assert_int_equal(unlink(path), 0);
  lb_optimizer_free(o);
  lb_model_free(m);
  lb_model_free(other);
}

/* A copy of everything a load may change. */
typedef struct snapshot {
  float *values;
  int64_t counts[64];
  lb_sgd_settings settings;
  bool has_buffers;
  float *buffers;
} snapshot;

static int64_t value_floats(const lb_model *m) {
  int64_t n = 0;
  for (int32_t i = 0; i < m->tensor_count; i++)
    n += m->tensors[i].count ? 0 : m->tensors[i].numel;
  return n;
}

static snapshot take(const lb_model *m, const lb_optimizer *o) {
  snapshot s;
  memset(&s, 0, sizeof s);
  s.values = malloc((size_t)value_floats(m) * sizeof(float));
  s.buffers = malloc((size_t)m->parameter_count * sizeof(float));
  assert_non_null(s.values);
  assert_non_null(s.buffers);
  int64_t at = 0;
  int32_t c = 0;
  for (int32_t i = 0; i < m->tensor_count; i++) {
    const lb_model_tensor *t = &m->tensors[i];
    if (t->count) {
      assert_true(c < 64);
      s.counts[c++] = *t->count;
    } else {
      memcpy(s.values + at, t->data, (size_t)t->numel * sizeof(float));
      at += t->numel;
    }
  }
  s.settings = o->settings;
  s.has_buffers = o->has_buffers;
  memcpy(s.buffers, o->buffers, (size_t)m->parameter_count * sizeof(float));
  return s;
}

static void assert_unchanged(const snapshot *s, const lb_model *m,
                             const lb_optimizer *o) {
  snapshot now = take(m, o);
  assert_memory_equal(now.values, s->values,
                      (size_t)value_floats(m) * sizeof(float));
  assert_memory_equal(now.counts, s->counts, sizeof s->counts);
  assert_memory_equal(&now.settings, &s->settings, sizeof s->settings);
  assert_int_equal(now.has_buffers, s->has_buffers);
  assert_memory_equal(now.buffers, s->buffers,
                      (size_t)m->parameter_count * sizeof(float));
  free(now.values);
  free(now.buffers);
}

typedef struct edit {
  const char *drop;     /* a tensor to leave out */
  bool junk;            /* add a tensor "junk" */
  const char *reshape;  /* a tensor whose shape becomes [1, n] */
  const char *key;      /* a metadata entry to change */
  const char *value;    /* its new value; NULL: leave it out */
  const char *expected; /* in the message */
} edit;

static void write_edited(const lb_st_file *good, const char *path,
                         const edit *e) {
  size_t n = lb_st_count(good), kept = 0;
  lb_st_tensor *list = calloc(n + 1, sizeof *list);
  assert_non_null(list);
  for (size_t i = 0; i < n; i++) {
    lb_st_tensor t = *lb_st_at(good, i);
    if (e->drop && strcmp(t.name, e->drop) == 0)
      continue;
    if (e->reshape && strcmp(t.name, e->reshape) == 0) {
      t.shape[1] = t.shape[0];
      t.shape[0] = 1;
      t.ndim = 2;
    }
    list[kept++] = t;
  }
  static const float junk[2] = {1, 2};
  if (e->junk)
    list[kept++] = (lb_st_tensor){"junk", LB_ST_F32, 1, {2}, junk, sizeof junk};
  size_t mc = lb_st_metadata_count(good), mk = 0;
  lb_st_pair *meta = calloc(mc, sizeof *meta);
  assert_non_null(meta);
  for (size_t i = 0; i < mc; i++) {
    lb_st_pair p = *lb_st_metadata_at(good, i);
    if (e->key && strcmp(p.key, e->key) == 0) {
      if (!e->value)
        continue;
      p.value = e->value;
    }
    meta[mk++] = p;
  }
  assert_int_equal(lb_st_write_file(path, list, kept, meta, mk), LB_OK);
  free(list);
  free(meta);
}

static void test_malformed_checkpoints_change_nothing(void **state) {
  (void)state;
  char good_path[512], bad_path[512];
  scratch_path(good_path, sizeof good_path, "good.safetensors");
  scratch_path(bad_path, sizeof bad_path, "bad.safetensors");
  lb_model *m = create(3, 1, 1, 1);
  lb_optimizer *o = sgd(m);
  configure(o);
  tiny_backward(m);
  assert_int_equal(lb_optimizer_step(o), LB_OK);
  assert_int_equal(lb_checkpoint_save(good_path, m, o, 1, 2, 3), LB_OK);
  lb_st_file *good = NULL;
  assert_int_equal(lb_st_read_file(good_path, &good), LB_OK);

  /* the target: another model and optimizer with a state of their own */
  lb_model *t = create(3, 1, 1, 5);
  lb_optimizer *to = sgd(t);
  assert_int_equal(lb_optimizer_set_param(to, LB_SGD_MOMENTUM, 0.5), LB_OK);
  tiny_backward(t);
  assert_int_equal(lb_optimizer_step(to), LB_OK);
  snapshot before = take(t, to);

  static const edit edits[] = {
      {"optimizer.momentum.fc.bias", false, NULL, NULL, NULL,
       "\"optimizer.momentum.fc.bias\" is missing"},
      {"bn1.weight", false, NULL, NULL, NULL, "\"bn1.weight\" is missing"},
      {"bn1.num_batches_tracked", false, NULL, NULL, NULL,
       "\"bn1.num_batches_tracked\" is missing"},
      {NULL, true, NULL, NULL, NULL,
       "\"junk\" is not a tensor of the model or of its optimizer"},
      {NULL, false, "optimizer.momentum.fc.bias", NULL, NULL,
       "\"optimizer.momentum.fc.bias\" is not F32 of the shape"},
      {NULL, false, "fc.bias", NULL, NULL, "tensor \"fc.bias\" has shape"},
      {NULL, false, NULL, "lossbal.epoch", NULL,
       "\"lossbal.epoch\" is missing"},
      {NULL, false, NULL, "lossbal.step", "-1",
       "\"lossbal.step\" = \"-1\" is not a decimal integer"},
      {NULL, false, NULL, "lossbal.step", "9223372036854775808",
       "\"lossbal.step\""},
      {NULL, false, NULL, "lossbal.rng_state", "18446744073709551616",
       "\"lossbal.rng_state\""},
      {NULL, false, NULL, "lossbal.rng_state", "", "\"lossbal.rng_state\""},
      {NULL, false, NULL, "lossbal.sgd.momentum", "1.5", "momentum 1.5"},
      {NULL, false, NULL, "lossbal.sgd.learning_rate", "abc",
       "\"lossbal.sgd.learning_rate\" = \"abc\" is not a finite number"},
      {NULL, false, NULL, "lossbal.sgd.learning_rate", "inf",
       "\"lossbal.sgd.learning_rate\""},
      {NULL, false, NULL, "lossbal.sgd.learning_rate", "0.1x",
       "\"lossbal.sgd.learning_rate\""},
      {NULL, false, NULL, "lossbal.sgd.dampening", "0.5",
       "Nesterov momentum needs"},
      {NULL, false, NULL, "lossbal.sgd.nesterov", "2",
       "\"lossbal.sgd.nesterov\" = \"2\""},
      {NULL, false, NULL, "lossbal.sgd.weight_decay", NULL,
       "\"lossbal.sgd.weight_decay\" is missing"},
      {NULL, false, NULL, "lossbal.sgd.momentum_buffers", "0",
       "does not say 1"},
      {NULL, false, NULL, "lossbal.checkpoint", "2",
       "unsupported checkpoint version"},
      {NULL, false, NULL, "lossbal.checkpoint", NULL,
       "not a lossbal checkpoint"},
      {NULL, false, NULL, "lossbal.optimizer", "adam",
       "\"lossbal.optimizer\" = \"adam\" is neither"},
  };
  for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
    write_edited(good, bad_path, &edits[i]);
    int64_t epoch = -7;
    assert_fails_with(lb_checkpoint_load(bad_path, t, to, &epoch, NULL, NULL),
                      LB_EFORMAT, edits[i].expected);
    assert_int_equal(epoch, -7);
    assert_unchanged(&before, t, to);
  }
  /* not a safetensors file at all */
  FILE *f = fopen(bad_path, "wb");
  assert_non_null(f);
  fputs("garbage", f);
  fclose(f);
  assert_int_equal(lb_checkpoint_load(bad_path, t, to, NULL, NULL, NULL),
                   LB_EFORMAT);
  assert_unchanged(&before, t, to);
  /* a failed save leaves the previous file in place */
  assert_int_equal(lb_checkpoint_save(good_path, t, to, 0, 0, 0), LB_OK);
  assert_fails_with(lb_checkpoint_save(good_path, t, to, -1, 0, 0), LB_EINVAL,
                    "epoch");
  int64_t step = -1;
  assert_int_equal(lb_checkpoint_load(good_path, m, o, NULL, &step, NULL),
                   LB_OK);
  assert_int_equal(step, 0);
  free(before.values);
  free(before.buffers);
  lb_st_free(good);
  assert_int_equal(unlink(good_path), 0);
  assert_int_equal(unlink(bad_path), 0);
  lb_optimizer_free(o);
  lb_optimizer_free(to);
  lb_model_free(m);
  lb_model_free(t);
}

static void test_allocation_failures(void **state) {
  (void)state;
  char path[512];
  scratch_path(path, sizeof path, "alloc.safetensors");
  lb_model *m = create(3, 1, 1, 1);
  lb_optimizer *o = NULL;
  assert_each_allocation_failure_is_clean({ status_ = lb_sgd_create(m, &o); },
                                          {
                                            lb_optimizer_free(o);
                                            o = NULL;
                                          });
  o = sgd(m);
  configure(o);
  tiny_backward(m);
  assert_int_equal(lb_optimizer_step(o), LB_OK);
  assert_each_allocation_failure_is_clean(
      { status_ = lb_checkpoint_save(path, m, o, 4, 5, 6); }, {});
  /* a save that fails keeps the previous file whole */
  assert_each_allocation_failure_is_clean(
      {
        status_ = lb_checkpoint_save(path, m, o, 40, 5, 6);
        if (status_ != LB_OK) {
          int64_t epoch = -1;
          assert_int_equal(
              lb_checkpoint_load(path, m, NULL, &epoch, NULL, NULL), LB_OK);
          assert_int_equal(epoch, 4);
        }
      },
      {});
  lb_model *t = create(3, 1, 1, 2);
  lb_optimizer *to = sgd(t);
  snapshot before = take(t, to);
  assert_each_allocation_failure_is_clean(
      {
        status_ = lb_checkpoint_load(path, t, to, NULL, NULL, NULL);
        if (status_ != LB_OK)
          assert_unchanged(&before, t, to);
      },
      {});
  assert_same_state(m, o, t, to);
  /* a step never allocates */
  tiny_backward(m);
  lb_fault_fail_nth_allocation(1);
  assert_int_equal(lb_optimizer_step(o), LB_OK);
  assert_int_equal(lb_fault_allocations_attempted(), 0);
  lb_fault_fail_nth_allocation(0);
  free(before.values);
  free(before.buffers);
  assert_int_equal(unlink(path), 0);
  lb_optimizer_free(o);
  lb_optimizer_free(to);
  lb_model_free(m);
  lb_model_free(t);
}

/* A step split over threads gives what one thread gives. */
static void test_step_independent_of_threads(void **state) {
  (void)state;
  int32_t saved = lb_get_num_threads();
  lb_model *a = create(10, 1, 16, 3), *b = create(10, 1, 16, 3);
  assert_true(a->parameter_count > 8 * 65536);
  lb_optimizer *oa = sgd(a), *ob = sgd(b);
  configure(oa);
  configure(ob);
  for (int step = 0; step < 2; step++) {
    tiny_backward(a);
    tiny_backward(b);
    assert_int_equal(lb_set_num_threads(1), LB_OK);
    assert_int_equal(lb_optimizer_step(oa), LB_OK);
    assert_int_equal(lb_set_num_threads(5), LB_OK);
    assert_int_equal(lb_optimizer_step(ob), LB_OK);
  }
  assert_same_state(a, oa, b, ob);
  assert_int_equal(lb_set_num_threads(saved), LB_OK);
  lb_optimizer_free(oa);
  lb_optimizer_free(ob);
  lb_model_free(a);
  lb_model_free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sgd_matches_pytorch),
      cmocka_unit_test(test_norm_and_bias_classification),
      cmocka_unit_test(test_schedules_match_pytorch),
      cmocka_unit_test(test_schedule_bad_arguments),
      cmocka_unit_test(test_sgd_params),
      cmocka_unit_test(test_step_needs_backward),
      cmocka_unit_test(test_checkpoint_round_trip_and_resume),
      cmocka_unit_test(test_checkpoint_bad_arguments),
      cmocka_unit_test(test_malformed_checkpoints_change_nothing),
      cmocka_unit_test(test_allocation_failures),
      cmocka_unit_test(test_step_independent_of_threads),
  };
  return cmocka_run_group_tests(tests, make_scratch, remove_scratch);
}
