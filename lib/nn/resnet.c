/* The ResNet graph: checking a configuration, laying out the state dict in
 * torchvision's order and names, allocating it, and the seeded
 * initialisation. lb_model_free() is here too, as it undoes this. */
#include "model_internal.h"

#include "../core/core_internal.h"
#include "../core/random.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- the builder: two passes over the same walk ------------------------- */

/* The walk over the graph runs twice: first counting tensors and floats,
 * then, with the blocks allocated, pointing every layer into them. */
typedef struct builder {
  lb_model *m;
  bool assign;
  int32_t tensors; /* entries so far */
  int64_t values;  /* floats of the values block so far */
  int64_t grads;   /* floats of the gradient block so far */
  int64_t saved;   /* floats of the saved-statistics block so far */
} builder;

/* out = prefix "." suffix, cut to the buffer (names are far shorter). */
static void join_name(char out[LB_MODEL_NAME_MAX], const char *prefix,
                      const char *suffix) {
  size_t a = strlen(prefix), b = strlen(suffix);
  if (a > LB_MODEL_NAME_MAX - 2)
    a = LB_MODEL_NAME_MAX - 2;
  if (b > LB_MODEL_NAME_MAX - 2 - a)
    b = LB_MODEL_NAME_MAX - 2 - a;
  memcpy(out, prefix, a);
  out[a] = '.';
  memcpy(out + a + 1, suffix, b);
  out[a + 1 + b] = '\0';
}

static lb_model_tensor *add_tensor(builder *b, const char *name, int32_t ndim,
                                   const int64_t *shape, bool learnable,
                                   float **data, float **grad) {
  int64_t numel = 1;
  for (int32_t i = 0; i < ndim; i++)
    numel *= shape[i];
  lb_model_tensor *t = NULL;
  if (b->assign) {
    t = &b->m->tensors[b->tensors];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    for (int32_t i = 0; i < ndim; i++)
      t->shape[i] = shape[i];
    t->numel = numel;
    t->data = b->m->values + b->values;
    t->grad = learnable ? b->m->grads + b->grads : NULL;
    if (data)
      *data = t->data;
    if (grad)
      *grad = t->grad;
  }
  b->tensors++;
  b->values += numel;
  if (learnable) {
    b->grads += numel;
    if (b->assign)
      b->m->parameter_count += numel;
  }
  return t;
}

static void add_counter(builder *b, const char *name, int64_t *count) {
  if (b->assign) {
    lb_model_tensor *t = &b->m->tensors[b->tensors];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = 0;
    t->numel = 1;
    t->count = count;
  }
  b->tensors++;
}

static void add_conv(builder *b, lb_model_conv *c, const char *prefix,
                     int64_t in, int64_t out, int64_t kernel, int64_t stride,
                     int64_t pad) {
  char name[LB_MODEL_NAME_MAX];
  join_name(name, prefix, "weight");
  int64_t shape[4] = {out, in, kernel, kernel};
  if (b->assign) {
    c->in_channels = in;
    c->out_channels = out;
    c->kernel = kernel;
    c->stride = stride;
    c->pad = pad;
  }
  add_tensor(b, name, 4, shape, true, &c->weight, &c->grad_weight);
}

static void add_bn(builder *b, lb_model_bn *n, const char *prefix,
                   int64_t channels) {
  static const char *const fields[4] = {"weight", "bias", "running_mean",
                                        "running_var"};
  float *data[4] = {NULL, NULL, NULL, NULL};
  float *grad[2] = {NULL, NULL};
  char name[LB_MODEL_NAME_MAX];
  for (int i = 0; i < 4; i++) {
    join_name(name, prefix, fields[i]);
    add_tensor(b, name, 1, &channels, i < 2, &data[i], i < 2 ? &grad[i] : NULL);
  }
  join_name(name, prefix, "num_batches_tracked");
  add_counter(b, name, &n->num_batches_tracked);
  if (b->assign) {
    n->bn.channels = channels;
    n->bn.eps = LB_BATCHNORM_EPS;
    n->bn.momentum = LB_BATCHNORM_MOMENTUM;
    n->bn.weight = data[0];
    n->bn.bias = data[1];
    n->bn.running_mean = data[2];
    n->bn.running_var = data[3];
    n->grad_weight = grad[0];
    n->grad_bias = grad[1];
    n->save_mean = b->m->saved + b->saved;
    n->save_invstd = b->m->saved + b->saved + channels;
  }
  b->saved += 2 * channels;
}

/* Blocks per stage of each depth, and whether it uses Bottlenecks. */
static const struct {
  int32_t depth;
  int32_t blocks[4];
  bool bottleneck;
} depths[] = {
    {18, {2, 2, 2, 2}, false},  {34, {3, 4, 6, 3}, false},
    {50, {3, 4, 6, 3}, true},   {101, {3, 4, 23, 3}, true},
    {152, {3, 8, 36, 3}, true},
};

static int depth_index(int32_t depth) {
  for (int i = 0; i < (int)(sizeof depths / sizeof depths[0]); i++)
    if (depths[i].depth == depth)
      return i;
  return -1;
}

/* The whole walk, in torchvision's state_dict order. */
static void walk(builder *b, const lb_resnet_config *cfg) {
  lb_model *m = b->m;
  int d = depth_index(cfg->depth);
  bool bottleneck = depths[d].bottleneck;
  int64_t expansion = bottleneck ? 4 : 1;
  int64_t width = cfg->base_width;
  bool small = cfg->small_input_stem != 0;

  if (b->assign) {
    m->has_maxpool = !small;
    m->maxpool = (lb_maxpool2d){3, 2, 1};
  }
  add_conv(b, &m->conv1, "conv1", cfg->in_channels, width, small ? 3 : 7,
           small ? 1 : 2, small ? 1 : 3);
  add_bn(b, &m->bn1, "bn1", width);

  int64_t in = width;
  int32_t index = 0;
  char prefix[LB_MODEL_NAME_MAX];
  for (int stage = 0; stage < 4; stage++) {
    int64_t planes = width << stage;
    for (int32_t i = 0; i < depths[d].blocks[stage]; i++, index++) {
      lb_model_block *blk = b->assign ? &m->blocks[index] : NULL;
      lb_model_block dummy;
      if (!blk)
        blk = &dummy;
      int64_t stride = (stage > 0 && i == 0) ? 2 : 1;
      int64_t out = planes * expansion;
      if (bottleneck) {
        snprintf(prefix, sizeof prefix, "layer%d.%d.conv1", stage + 1, (int)i);
        add_conv(b, &blk->conv[0], prefix, in, planes, 1, 1, 0);
        snprintf(prefix, sizeof prefix, "layer%d.%d.bn1", stage + 1, (int)i);
        add_bn(b, &blk->bn[0], prefix, planes);
        snprintf(prefix, sizeof prefix, "layer%d.%d.conv2", stage + 1, (int)i);
        add_conv(b, &blk->conv[1], prefix, planes, planes, 3, stride, 1);
        snprintf(prefix, sizeof prefix, "layer%d.%d.bn2", stage + 1, (int)i);
        add_bn(b, &blk->bn[1], prefix, planes);
        snprintf(prefix, sizeof prefix, "layer%d.%d.conv3", stage + 1, (int)i);
        add_conv(b, &blk->conv[2], prefix, planes, out, 1, 1, 0);
        snprintf(prefix, sizeof prefix, "layer%d.%d.bn3", stage + 1, (int)i);
        add_bn(b, &blk->bn[2], prefix, out);
      } else {
        snprintf(prefix, sizeof prefix, "layer%d.%d.conv1", stage + 1, (int)i);
        add_conv(b, &blk->conv[0], prefix, in, planes, 3, stride, 1);
        snprintf(prefix, sizeof prefix, "layer%d.%d.bn1", stage + 1, (int)i);
        add_bn(b, &blk->bn[0], prefix, planes);
        snprintf(prefix, sizeof prefix, "layer%d.%d.conv2", stage + 1, (int)i);
        add_conv(b, &blk->conv[1], prefix, planes, planes, 3, 1, 1);
        snprintf(prefix, sizeof prefix, "layer%d.%d.bn2", stage + 1, (int)i);
        add_bn(b, &blk->bn[1], prefix, planes);
      }
      bool down = stride != 1 || in != out;
      if (down) {
        snprintf(prefix, sizeof prefix, "layer%d.%d.downsample.0", stage + 1,
                 (int)i);
        add_conv(b, &blk->down, prefix, in, out, 1, stride, 0);
        snprintf(prefix, sizeof prefix, "layer%d.%d.downsample.1", stage + 1,
                 (int)i);
        add_bn(b, &blk->down_bn, prefix, out);
      }
      if (b->assign) {
        snprintf(blk->name, sizeof blk->name, "layer%d.%d", stage + 1,
                 (int)i % 1000);
        blk->convs = bottleneck ? 3 : 2;
        blk->has_downsample = down;
      }
      in = out;
    }
  }
  int64_t fc_shape[2] = {cfg->num_classes, in};
  add_tensor(b, "fc.weight", 2, fc_shape, true, &m->fc_weight,
             &m->fc_grad_weight);
  add_tensor(b, "fc.bias", 1, &fc_shape[0], true, &m->fc_bias,
             &m->fc_grad_bias);
  if (b->assign) {
    m->features = in;
    m->block_count = index;
    m->late_block = index; /* no lb_model_predict() yet */
  }
  if (!b->assign)
    m->block_count = index;
}

/* ---- initialisation ------------------------------------------------------ */

static void fill_normal(uint64_t *state, float *x, int64_t n, double stddev) {
  const double two_pi = 6.283185307179586476925286766559;
  for (int64_t i = 0; i < n; i += 2) {
    double r = sqrt(-2.0 * log(lb_random_open01(state)));
    double t = two_pi * lb_random_open01(state);
    x[i] = (float)(stddev * r * cos(t));
    if (i + 1 < n)
      x[i + 1] = (float)(stddev * r * sin(t));
  }
}

static void fill_uniform(uint64_t *state, float *x, int64_t n, double bound) {
  for (int64_t i = 0; i < n; i++)
    x[i] = (float)(bound * (2.0 * lb_random_open01(state) - 1.0));
}

static bool ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void initialise(lb_model *m, uint64_t seed) {
  uint64_t state = seed;
  double fc_bound = 1.0 / sqrt((double)m->features);
  for (int32_t i = 0; i < m->tensor_count; i++) {
    lb_model_tensor *t = &m->tensors[i];
    if (t->count) {
      *t->count = 0;
    } else if (t->ndim == 4) { /* conv: kaiming_normal, fan_out, relu */
      double fan_out = (double)(t->shape[0] * t->shape[2] * t->shape[3]);
      fill_normal(&state, t->data, t->numel, sqrt(2.0 / fan_out));
    } else if (strncmp(t->name, "fc.", 3) == 0) {
      fill_uniform(&state, t->data, t->numel, fc_bound);
    } else {
      float v = (ends_with(t->name, ".weight") || ends_with(t->name, "_var"))
                    ? 1.0f
                    : 0.0f;
      for (int64_t k = 0; k < t->numel; k++)
        t->data[k] = v;
    }
  }
}

/* ---- create / free --------------------------------------------------------
 */

static lb_status check_config(const lb_resnet_config *cfg) {
  const char *who = "lb_resnet_create";
  if (cfg->struct_size < sizeof(lb_resnet_config))
    return lb_fail(LB_EINVAL,
                   "%s: cfg->struct_size = %zu is smaller than "
                   "sizeof(lb_resnet_config) = %zu",
                   who, cfg->struct_size, sizeof(lb_resnet_config));
  if (depth_index(cfg->depth) < 0)
    return lb_fail(LB_EUNSUPPORTED,
                   "%s: depth %d is not supported (18, 34, 50, 101 or 152)",
                   who, (int)cfg->depth);
  if (cfg->num_classes < 1 || cfg->num_classes > (1 << 24))
    return lb_fail(LB_EINVAL, "%s: num_classes = %d is outside [1, 2^24]", who,
                   (int)cfg->num_classes);
  if (cfg->in_channels < 1 || cfg->in_channels > 65536)
    return lb_fail(LB_EINVAL, "%s: in_channels = %d is outside [1, 65536]", who,
                   (int)cfg->in_channels);
  if (cfg->base_width < 1 || cfg->base_width > 4096)
    return lb_fail(LB_EINVAL, "%s: base_width = %d is outside [1, 4096]", who,
                   (int)cfg->base_width);
  if (cfg->small_input_stem != 0 && cfg->small_input_stem != 1)
    return lb_fail(LB_EINVAL, "%s: small_input_stem = %d must be 0 or 1", who,
                   (int)cfg->small_input_stem);
  return LB_OK;
}

static float *alloc_floats(int64_t count, bool zeroed) {
  size_t bytes;
  if (count < 1)
    count = 1;
  if (!lb_mul_size((size_t)count, sizeof(float), &bytes)) {
    lb_fail(LB_ENOMEM, "out of memory (%lld floats)", (long long)count);
    return NULL;
  }
  float *p = lb_alloc_aligned(bytes);
  if (p && zeroed)
    memset(p, 0, bytes);
  return p;
}

lb_status lb_resnet_create(const lb_resnet_config *cfg, uint64_t seed,
                           lb_model **out) {
  if (!cfg)
    return lb_fail(LB_EINVAL, "lb_resnet_create: cfg is NULL");
  if (!out)
    return lb_fail(LB_EINVAL, "lb_resnet_create: out is NULL");
  lb_status s = check_config(cfg);
  if (s != LB_OK)
    return s;

  lb_model *m = lb_alloc_zeroed(sizeof *m);
  if (!m)
    return LB_ENOMEM;
  memcpy(&m->config, cfg, sizeof m->config);
  m->config.struct_size = sizeof m->config;
  m->training = true;
  m->parameters_version = 1; /* prepared_version 0: nothing prepared */

  builder count = {.m = m, .assign = false};
  walk(&count, &m->config);
  m->blocks = lb_alloc_zeroed((size_t)m->block_count * sizeof *m->blocks);
  m->tensors = m->blocks
                   ? lb_alloc_zeroed((size_t)count.tensors * sizeof *m->tensors)
                   : NULL;
  m->values = m->tensors ? alloc_floats(count.values, false) : NULL;
  m->grads = m->values ? alloc_floats(count.grads, true) : NULL;
  m->saved = m->grads ? alloc_floats(count.saved, true) : NULL;
  if (!m->saved) {
    lb_model_free(m);
    return LB_ENOMEM;
  }
  m->tensor_count = count.tensors;
  builder fill = {.m = m, .assign = true};
  walk(&fill, &m->config);
  initialise(m, seed);
  *out = m;
  return LB_OK;
}

void lb_model_free(lb_model *m) {
  if (!m)
    return;
  lb_free_aligned(m->arena);
  lb_free_aligned(m->prepared);
  lb_free_aligned(m->saved);
  lb_free_aligned(m->grads);
  lb_free_aligned(m->values);
  lb_free(m->tensors);
  lb_free(m->blocks);
  lb_free(m);
}

int32_t lb_model_num_classes(const lb_model *m) {
  return m ? m->config.num_classes : 0;
}

int64_t lb_model_parameter_count(const lb_model *m) {
  return m ? m->parameter_count : 0;
}

const lb_model_tensor *lb_model_find_tensor(const lb_model *m,
                                            const char *name) {
  for (int32_t i = 0; i < m->tensor_count; i++)
    if (strcmp(m->tensors[i].name, name) == 0)
      return &m->tensors[i];
  return NULL;
}
