/* lb_model's forward and backward passes: checking a shape against the
 * network, sizing and carving the activation arena, then running the
 * kernels of conv2d.h and layers.h in order (and in reverse). */
#include "model_internal.h"

#include "block_claims.h"

#include "../core/core_internal.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

lb_status lb_model_set_training(lb_model *m, int training) {
  if (!m)
    return lb_fail(LB_EINVAL, "lb_model_set_training: m is NULL");
  m->training = training != 0;
  return LB_OK;
}

/* ---- planning a shape -----------------------------------------------------
 */

/* Re-reports a kernel check's failure under the entry point `who` and the
 * layer it came from. */
static lb_status in_layer(lb_status s, const char *who, const char *layer) {
  char text[512];
  snprintf(text, sizeof text, "%s", lb_last_error());
  if (!layer)
    return lb_fail(s, "%s: %s", who, text);
  return lb_fail(s, "%s: %s: %s", who, layer, text);
}

static lb_status plan_conv(lb_model_conv *c, lb_nchw in, lb_nchw *out,
                           const char *who, const char *layer) {
  lb_conv2d_geometry g = {.batch = in.n,
                          .in_channels = in.c,
                          .in_h = in.h,
                          .in_w = in.w,
                          .out_channels = c->out_channels,
                          .kernel_h = c->kernel,
                          .kernel_w = c->kernel,
                          .stride_h = c->stride,
                          .stride_w = c->stride,
                          .pad_h = c->pad,
                          .pad_w = c->pad};
  lb_status s = lb_conv2d_geometry_validate(&g);
  if (s != LB_OK)
    return in_layer(s, who, layer);
  c->geometry = g;
  *out = (lb_nchw){g.batch, g.out_channels, g.out_h, g.out_w};
  s = lb_nchw_check(who, layer, *out);
  return s;
}

static lb_status plan_bn(lb_model_bn *n, lb_nchw shape, bool training,
                         const char *who, const char *layer) {
  lb_status s = lb_batchnorm2d_check(layer, &n->bn, shape, training);
  if (s != LB_OK)
    return in_layer(s, who, NULL);
  n->shape = shape;
  return LB_OK;
}

/* Checks every layer for input `in` and records the geometries; messages
 * start with `who`. */
static lb_status plan(lb_model *m, lb_nchw in, bool training,
                      const char *who) {
  char layer[LB_MODEL_NAME_MAX];
  lb_nchw shape;
  lb_status s = lb_nchw_check(who, "input", in);
  if (s != LB_OK)
    return s;
  if ((s = plan_conv(&m->conv1, in, &shape, who, "conv1")) != LB_OK)
    return s;
  if ((s = plan_bn(&m->bn1, shape, training, who, "bn1")) != LB_OK)
    return s;
  if (m->has_maxpool) {
    s = lb_maxpool2d_check("maxpool", &m->maxpool, shape);
    if (s != LB_OK)
      return in_layer(s, who, NULL);
    shape = lb_maxpool2d_output_shape(&m->maxpool, shape);
  }
  m->pool_shape = shape;
  for (int32_t b = 0; b < m->block_count; b++) {
    lb_model_block *blk = &m->blocks[b];
    blk->in_shape = shape;
    lb_nchw x = shape;
    for (int32_t i = 0; i < blk->convs; i++) {
      snprintf(layer, sizeof layer, "%s.conv%d", blk->name, (int)i + 1);
      if ((s = plan_conv(&blk->conv[i], x, &x, who, layer)) != LB_OK)
        return s;
      snprintf(layer, sizeof layer, "%s.bn%d", blk->name, (int)i + 1);
      if ((s = plan_bn(&blk->bn[i], x, training, who, layer)) != LB_OK)
        return s;
    }
    if (blk->has_downsample) {
      lb_nchw d;
      snprintf(layer, sizeof layer, "%s.downsample.0", blk->name);
      if ((s = plan_conv(&blk->down, shape, &d, who, layer)) != LB_OK)
        return s;
      snprintf(layer, sizeof layer, "%s.downsample.1", blk->name);
      if ((s = plan_bn(&blk->down_bn, d, training, who, layer)) != LB_OK)
        return s;
    }
    blk->out_shape = x;
    shape = x;
  }
  lb_linear fc = {m->features, m->config.num_classes, m->fc_weight, m->fc_bias};
  s = lb_linear_check("fc", &fc, in.n);
  if (s != LB_OK)
    return in_layer(s, who, NULL);
  return LB_OK;
}

/* ---- the arena ------------------------------------------------------------
 */

/* Carves 64-byte aligned pieces out of `base` (or only counts with NULL). */
typedef struct carver {
  char *base;
  size_t used;
  bool overflow;
} carver;

static void *carve(carver *c, size_t bytes) {
  size_t rounded = (bytes + 63) & ~(size_t)63;
  if (rounded < bytes || c->used + rounded < c->used) {
    c->overflow = true;
    return NULL;
  }
  void *p = c->base ? c->base + c->used : NULL;
  c->used += rounded;
  return p;
}

static float *carve_floats(carver *c, int64_t count) {
  return carve(c, (size_t)count * sizeof(float));
}

static int64_t max_i64(int64_t a, int64_t b) { return a > b ? a : b; }

/* The workspace of a convolution, rounded up to a bound that never shrinks
 * when the batch or the image grows (the kernel's own size does not have
 * that property: it stages several small images at once), so a forward of
 * a smaller shape never needs a bigger arena (at the same thread count:
 * the geometry's slots). The bound assumes conv2d.c's blocks of about 1024
 * output columns, one per slot, and weight gradients of one per slot but
 * the first plus, with several slots, the most that units of blocks add
 * (block_claims.h); the max keeps it safe regardless. */
static size_t conv_workspace(const lb_conv2d_geometry *g) {
  int64_t pixels = g->out_h * g->out_w;
  int64_t columns = g->batch * pixels;
  if (columns > 1024 + pixels - 1)
    columns = 1024 + pixels - 1;
  int64_t filter = g->in_channels * g->kernel_h * g->kernel_w;
  int64_t rows = filter + g->out_channels;
  int64_t slots = g->slots < g->batch ? g->slots : g->batch;
  size_t parts = slots > 1 ? (size_t)LB_BLOCK_PARTS_FLOATS : 0;
  size_t bound, gradients;
  if (!lb_mul_size((size_t)rows, (size_t)columns, &bound) ||
      !lb_mul_size(bound, (size_t)slots, &bound) ||
      !lb_mul_size((size_t)(slots - 1), (size_t)(g->out_channels * filter),
                   &gradients) ||
      gradients > SIZE_MAX - parts || bound > SIZE_MAX - parts - gradients ||
      !lb_mul_size(bound + gradients + parts, sizeof(float), &bound))
    bound = SIZE_MAX; /* refused by the carver */
  size_t exact = lb_conv2d_workspace_bytes(g);
  return exact > bound ? exact : bound;
}

/* The largest weight and the most output channels of any convolution: the
 * room lb_model_predict() folds a batch norm into. */
static void largest_conv(const lb_model *m, int64_t *weights,
                         int64_t *channels) {
  const lb_model_conv *c = &m->conv1;
  *weights = c->out_channels * c->in_channels * c->kernel * c->kernel;
  *channels = c->out_channels;
  for (int32_t b = 0; b < m->block_count; b++) {
    const lb_model_block *blk = &m->blocks[b];
    for (int32_t i = 0; i <= blk->convs; i++) {
      if (i == blk->convs && !blk->has_downsample)
        break;
      c = i < blk->convs ? &blk->conv[i] : &blk->down;
      *weights = max_i64(*weights, c->out_channels * c->in_channels *
                                       c->kernel * c->kernel);
      *channels = max_i64(*channels, c->out_channels);
    }
  }
}

/* The batch norms run one at a time: they share one room for their
 * per-image sums (layers.h). */
static void share_bn_image_sums(lb_model *m, double *sums) {
  m->bn1.bn.image_sums = sums;
  for (int32_t b = 0; b < m->block_count; b++) {
    lb_model_block *blk = &m->blocks[b];
    for (int32_t i = 0; i < blk->convs; i++)
      blk->bn[i].bn.image_sums = sums;
    if (blk->has_downsample)
      blk->down_bn.bn.image_sums = sums;
  }
}

/* Lays out every buffer of the planned shape (counting only when c->base is
 * NULL). Sizes were checked to fit size_t by the plan. */
static void layout(lb_model *m, carver *c, lb_nchw in) {
  int64_t largest = lb_nchw_numel(in);
  size_t ws = conv_workspace(&m->conv1.geometry);
  m->input_copy = carve_floats(c, lb_nchw_numel(in));
  m->conv1.out = carve_floats(c, lb_nchw_numel(m->bn1.shape));
  m->bn1.out = carve_floats(c, lb_nchw_numel(m->bn1.shape));
  largest = max_i64(largest, lb_nchw_numel(m->bn1.shape));
  if (m->has_maxpool) {
    m->pool_out = carve_floats(c, lb_nchw_numel(m->pool_shape));
    m->argmax =
        carve(c, (size_t)lb_nchw_numel(m->pool_shape) * sizeof(int32_t));
  }
  for (int32_t b = 0; b < m->block_count; b++) {
    lb_model_block *blk = &m->blocks[b];
    for (int32_t i = 0; i < blk->convs; i++) {
      int64_t n = lb_nchw_numel(blk->bn[i].shape);
      largest = max_i64(largest, n);
      blk->conv[i].out = carve_floats(c, n);
      if (i + 1 < blk->convs)
        blk->bn[i].out = carve_floats(c, n);
      size_t w = conv_workspace(&blk->conv[i].geometry);
      if (w > ws)
        ws = w;
    }
    if (blk->has_downsample) {
      int64_t n = lb_nchw_numel(blk->down_bn.shape);
      blk->down.out = carve_floats(c, n);
      blk->down_bn.out = carve_floats(c, n);
      size_t w = conv_workspace(&blk->down.geometry);
      if (w > ws)
        ws = w;
    }
    blk->out = carve_floats(c, lb_nchw_numel(blk->out_shape));
  }
  m->pooled = carve_floats(c, in.n * m->features);
  m->grad_pooled = carve_floats(c, in.n * m->features);
  for (int i = 0; i < 4; i++)
    m->scratch[i] = carve_floats(c, largest);
  m->workspace = carve(c, ws);
  int64_t weights, channels;
  largest_conv(m, &weights, &channels);
  m->folded_weight = carve_floats(c, weights);
  m->folded_bias = carve_floats(c, channels);
  /* Every batch norm has as many channels as the convolution before it. */
  size_t sums_bytes;
  if (!lb_mul_size((size_t)(2 * channels), (size_t)(in.n + 1), &sums_bytes) ||
      !lb_mul_size(sums_bytes, sizeof(double), &sums_bytes))
    sums_bytes = SIZE_MAX; /* refused by the carver */
  share_bn_image_sums(m, carve(c, sums_bytes));
}

/* Makes the arena big enough for the planned shape and carves it. */
static lb_status prepare_arena(lb_model *m, lb_nchw in, const char *who) {
  carver count = {NULL, 0, false};
  layout(m, &count, in);
  if (count.overflow)
    return lb_fail(LB_EINVAL, "%s: the activations of a batch of this shape "
                              "do not fit in memory", who);
  if (count.used > m->arena_bytes) {
    void *arena = lb_alloc_aligned(count.used);
    if (!arena)
      return LB_ENOMEM;
    lb_free_aligned(m->arena);
    m->arena = arena;
    m->arena_bytes = count.used;
  }
  carver c = {m->arena, 0, false};
  layout(m, &c, in);
  return LB_OK;
}

/* ---- timing (profile.h) ---------------------------------------------------
 */

static int64_t start_timing(const lb_model *m) {
  return lb_profile_start(&m->profile);
}

/* 2 x the multiply-adds of fc's forward on a batch. */
static double linear_flops(const lb_model *m, int64_t batch) {
  return 2.0 * (double)batch * (double)m->features *
         (double)m->config.num_classes;
}

/* Counts a layer call without flops (every kind but the products). */
static void stop_timing(lb_model *m, lb_layer_kind kind, lb_pass pass,
                        int64_t start) {
  lb_profile_stop(&m->profile, kind, pass, start, 0.0);
}

/* ---- forward ----------------------------------------------------------------
 */

static void conv_forward(lb_model *m, lb_model_conv *c, const float *x) {
  int64_t start = start_timing(m);
  lb_conv2d_forward(&c->geometry, x, c->weight, NULL, c->out, m->workspace);
  lb_profile_stop(&m->profile, lb_profile_conv_kind(&c->geometry),
                  LB_PASS_FORWARD, start, lb_profile_conv_flops(&c->geometry));
}

/* One product for the weight gradient, a second for the input gradient
 * unless grad_input is NULL (the first layer). */
static void conv_backward(lb_model *m, lb_model_conv *c, const float *x,
                          const float *grad_output, float *grad_input) {
  int64_t start = start_timing(m);
  lb_conv2d_backward(&c->geometry, x, c->weight, grad_output, grad_input,
                     c->grad_weight, NULL, m->workspace);
  double products = grad_input ? 2.0 : 1.0;
  lb_profile_stop(&m->profile, lb_profile_conv_kind(&c->geometry),
                  LB_PASS_BACKWARD, start,
                  products * lb_profile_conv_flops(&c->geometry));
}

static void bn_relu_forward(lb_model *m, lb_model_bn *n, bool training,
                            const float *x, float *y) {
  int64_t start = start_timing(m);
  lb_batchnorm2d_relu_forward(&n->bn, training, n->shape, x, y, n->save_mean,
                              n->save_invstd);
  stop_timing(m, LB_LAYER_BATCHNORM, LB_PASS_FORWARD, start);
}

static void bn_forward(lb_model *m, lb_model_bn *n, bool training,
                       const float *x, float *y) {
  int64_t start = start_timing(m);
  lb_batchnorm2d_forward(&n->bn, training, n->shape, x, y, n->save_mean,
                         n->save_invstd);
  stop_timing(m, LB_LAYER_BATCHNORM, LB_PASS_FORWARD, start);
}

/* ---- images of a batch ------------------------------------------------------
 *
 * The layers after a convolution work on a range of the batch's images:
 * the whole batch in lb_model_forward() and layer by layer, a thread's
 * share in lb_model_predict() by ranges (see there). */

/* What a range works on; the range that does the profiling is `timed`. */
typedef struct image_range {
  int64_t first, count;
  int64_t batch;    /* of the call */
  float *workspace; /* by ranges, the range's own for every convolution in
                       turn; NULL for the whole batch layer by layer */
  bool timed;
  int32_t late_ranges; /* > 0: the whole batch, in the late layers of
                          lb_model_predict() by ranges (see there), each
                          layer over this many threads: parts of the
                          split by channels, or ranges of images */
} image_range;

static image_range whole_batch(int64_t batch) {
  return (image_range){0, batch, batch, NULL, true, 0};
}

static int64_t image_floats(lb_nchw shape) {
  return shape.c * shape.h * shape.w;
}

static lb_nchw range_shape(lb_nchw shape, const image_range *r) {
  shape.n = r->count;
  return shape;
}

/* Timing in a range: only a timed range records it (by ranges, the first:
 * they run side by side, so its times are the call's), with the flops of
 * the whole batch. */
static int64_t range_timing_start(const lb_model *m, const image_range *r) {
  return r->timed ? start_timing(m) : 0;
}

static void range_timing_stop(lb_model *m, const image_range *r,
                              lb_layer_kind kind, int64_t start,
                              double flops) {
  if (r->timed)
    lb_profile_stop(&m->profile, kind, LB_PASS_FORWARD, start, flops);
}

/* The range's images of an array of the whole batch. */
static float *range_part(float *array, lb_nchw shape, const image_range *r) {
  return array + r->first * image_floats(shape);
}

static const float *range_input(const float *array, lb_nchw shape,
                                const image_range *r) {
  return array + r->first * image_floats(shape);
}

static void relu_range(lb_model *m, float *y, lb_nchw shape,
                       const image_range *r) {
  int64_t start = range_timing_start(m, r);
  float *own = range_part(y, shape, r);
  lb_relu_forward(r->count * image_floats(shape), own, own);
  range_timing_stop(m, r, LB_LAYER_RELU, start, 0.0);
}

/* The max pool after the stem, where the network has one: returns what the
 * first block reads. */
static const float *stem_maxpool(lb_model *m, const float *x,
                                 const image_range *r) {
  if (!m->has_maxpool)
    return x;
  int64_t start = range_timing_start(m, r);
  lb_maxpool2d_forward(&m->maxpool, range_shape(m->bn1.shape, r),
                       range_input(x, m->bn1.shape, r),
                       range_part(m->pool_out, m->pool_shape, r),
                       m->argmax + r->first * image_floats(m->pool_shape));
  range_timing_stop(m, r, LB_LAYER_POOLING, start, 0.0);
  return m->pool_out;
}

/* What the stem leaves for the first block (stem_maxpool()'s result). */
static const float *stem_output(const lb_model *m) {
  return m->has_maxpool ? m->pool_out : m->bn1.out;
}

/* logits = fc(global average of x), x the last block's output. */
static void head_forward(lb_model *m, const float *x, float *logits,
                         const image_range *r) {
  lb_model_block *last = &m->blocks[m->block_count - 1];
  float *pooled = m->pooled + r->first * m->features;
  int64_t start = range_timing_start(m, r);
  lb_global_avgpool_forward(range_shape(last->out_shape, r),
                            range_input(x, last->out_shape, r), pooled);
  range_timing_stop(m, r, LB_LAYER_POOLING, start, 0.0);
  lb_linear fc = {m->features, m->config.num_classes, m->fc_weight, m->fc_bias};
  start = range_timing_start(m, r);
  lb_linear_forward(&fc, r->count, pooled,
                    logits + r->first * m->config.num_classes);
  range_timing_stop(m, r, LB_LAYER_LINEAR, start,
                    linear_flops(m, r->batch));
}

/* y += residual for the range's images (both hold the whole batch). */
static void residual_range(lb_model *m, float *y, lb_nchw shape,
                           const float *residual, const image_range *r) {
  float *out = range_part(y, shape, r);
  int64_t start = range_timing_start(m, r);
  lb_residual_add(r->count * image_floats(shape), out,
                  range_input(residual, shape, r), out);
  range_timing_stop(m, r, LB_LAYER_RESIDUAL, start, 0.0);
}

/* out = relu(out + shortcut), the end of a block, timed as two kinds. */
static void residual_relu(lb_model *m, lb_model_block *blk,
                          const float *shortcut, const image_range *r) {
  residual_range(m, blk->out, blk->out_shape, shortcut, r);
  relu_range(m, blk->out, blk->out_shape, r);
}

static void block_forward(lb_model *m, lb_model_block *blk, const float *in,
                          bool training) {
  blk->in = in;
  const float *x = in;
  int32_t last = blk->convs - 1;
  for (int32_t i = 0; i < last; i++) {
    lb_model_bn *n = &blk->bn[i];
    conv_forward(m, &blk->conv[i], x);
    bn_relu_forward(m, n, training, blk->conv[i].out, n->out);
    x = n->out;
  }
  conv_forward(m, &blk->conv[last], x);
  bn_forward(m, &blk->bn[last], training, blk->conv[last].out, blk->out);
  const float *shortcut = in;
  if (blk->has_downsample) {
    lb_model_bn *d = &blk->down_bn;
    conv_forward(m, &blk->down, in);
    bn_forward(m, d, training, blk->down.out, d->out);
    shortcut = d->out;
  }
  image_range all = whole_batch(blk->out_shape.n);
  residual_relu(m, blk, shortcut, &all);
}

/* A training-mode forward: the running statistics have moved. */
static void count_batch(lb_model *m) {
  for (int32_t i = 0; i < m->tensor_count; i++)
    if (m->tensors[i].count)
      *m->tensors[i].count += 1;
  lb_model_parameters_changed(m);
}

void lb_model_parameters_changed(lb_model *m) { m->parameters_version++; }

/* What every forward does first: checks the arguments, plans the shape and
 * makes the arena ready. Messages start with `who`. */
static lb_status begin_forward(lb_model *m, const char *who,
                               const float *input, int64_t batch,
                               int32_t height, int32_t width,
                               const float *logits, bool training) {
  if (!m)
    return lb_fail(LB_EINVAL, "%s: m is NULL", who);
  m->forward_valid = false;
  if (!input)
    return lb_fail(LB_EINVAL, "%s: input is NULL", who);
  if (!logits)
    return lb_fail(LB_EINVAL, "%s: logits is NULL", who);
  if (batch < 1)
    return lb_fail(LB_EINVAL, "%s: batch = %lld must be at least 1", who,
                   (long long)batch);
  if (height < 1 || width < 1)
    return lb_fail(LB_EINVAL, "%s: image size %dx%d must be at least 1x1", who,
                   (int)height, (int)width);
  lb_nchw in = {batch, m->config.in_channels, height, width};
  lb_status s = plan(m, in, training, who);
  if (s == LB_OK)
    s = prepare_arena(m, in, who);
  return s;
}

lb_status lb_model_forward(lb_model *m, const float *input, int64_t batch,
                           int32_t height, int32_t width, float *logits) {
  bool training = m && m->training;
  lb_status s = begin_forward(m, "lb_model_forward", input, batch, height,
                              width, logits, training);
  if (s != LB_OK)
    return s;
  lb_nchw in = {batch, m->config.in_channels, height, width};

  int64_t start = start_timing(m);
  memcpy(m->input_copy, input, (size_t)lb_nchw_numel(in) * sizeof(float));
  stop_timing(m, LB_LAYER_INPUT, LB_PASS_FORWARD, start);
  conv_forward(m, &m->conv1, m->input_copy);
  bn_relu_forward(m, &m->bn1, training, m->conv1.out, m->bn1.out);
  image_range all = whole_batch(batch);
  const float *x = stem_maxpool(m, m->bn1.out, &all);
  for (int32_t b = 0; b < m->block_count; b++) {
    block_forward(m, &m->blocks[b], x, training);
    x = m->blocks[b].out;
  }
  head_forward(m, x, logits, &all);
  if (training)
    count_batch(m);

  m->forward_valid = true;
  m->forward_training = training;
  m->batch = batch;
  m->height = height;
  m->width = width;
  return LB_OK;
}

/* ---- prediction -------------------------------------------------------------
 */

/* A batch norm in evaluation mode is y = scale x + shift per channel:
 * scale = gamma / sqrt(running_var + eps), computed in double, and the
 * shift beta - running_mean scale, the bias it leaves when folded. */
static double fold_scale(const lb_batchnorm2d *bn, int64_t channel) {
  return bn->weight[channel] /
         sqrt((double)bn->running_var[channel] + bn->eps);
}

static float fold_bias(const lb_batchnorm2d *bn, int64_t channel,
                       double scale) {
  return (float)(bn->bias[channel] - bn->running_mean[channel] * scale);
}

/* The weights and bias of convolution c followed by batch norm n in
 * evaluation mode, bn(conv(x)) = conv'(x) + bias': each filter scaled by
 * its channel's gamma / sqrt(running_var + eps), the bias the batch norm's
 * shift, as PyTorch's fuse_conv_bn_eval computes them. */
static void fold_batchnorm(const lb_model_conv *c, const lb_model_bn *n,
                           float *weight, float *bias) {
  int64_t filter = c->in_channels * c->kernel * c->kernel;
  const lb_batchnorm2d *bn = &n->bn;
  for (int64_t o = 0; o < c->out_channels; o++) {
    double scale = fold_scale(bn, o);
    float scale_f = (float)scale;
    for (int64_t i = 0; i < filter; i++)
      weight[o * filter + i] = c->weight[o * filter + i] * scale_f;
    bias[o] = fold_bias(bn, o, scale);
  }
}

/* ---- prediction by ranges of images -----------------------------------------
 *
 * In evaluation mode every image goes through the network on its own, so
 * the batch is cut into ranges of whole images, one per thread, and each
 * thread takes its range through every layer, start to end: at most two
 * forks and joins per call (the preparing of the weights, when they
 * changed, then the ranges) instead of one or more per layer, except in
 * the late layers on small images (below). Each join
 * waits for the slowest thread, and on a shared virtual machine some
 * thread is nearly always late, so the per-layer joins cost more than
 * their own time:
 * width-16 ResNet-18 ran two single-threaded processes side by side at
 * 1.3x the rate of one two-threaded one. The convolutions run on weights
 * prepared once for every range (batch norm folded in, Winograd's filters
 * transformed) and kept until what is folded in changes
 * (prepared_weights_hold()), each range with a workspace of its own; the other
 * layers are called on the range's part of their arrays, from inside the
 * pool's job, where they run on the calling thread. */

typedef void (*conv_visit)(lb_model_conv *c, const lb_model_bn *n,
                           void *context);

/* Every convolution with the batch norm after it, in forward order. */
static void for_each_conv(lb_model *m, conv_visit visit, void *context) {
  visit(&m->conv1, &m->bn1, context);
  for (int32_t b = 0; b < m->block_count; b++) {
    lb_model_block *blk = &m->blocks[b];
    for (int32_t i = 0; i < blk->convs; i++)
      visit(&blk->conv[i], &blk->bn[i], context);
    if (blk->has_downsample)
      visit(&blk->down, &blk->down_bn, context);
  }
}

/* Lays the convolutions' prepared weights out from `base` (counting only,
 * when base is NULL), and finds the largest workspace a range needs. */
typedef struct prepared_layout {
  float *base;
  int64_t floats;
  int64_t workspace_floats;
  int32_t ranges;
  int64_t channels_floats; /* the largest split by channels on `ranges` */
} prepared_layout;

/* Floats, rounded up to 64 bytes (each part starts on such a boundary, as
 * the arena's do). */
static int64_t aligned_floats(int64_t floats) {
  return (floats + 15) / 16 * 16;
}

static void lay_out_prepared(lb_model_conv *c, const lb_model_bn *n,
                             void *context) {
  (void)n;
  prepared_layout *layout = context;
  /* Chosen once, in the counting pass: the layout, the preparing and the
   * ranges then all follow it, whatever LOSSBAL_CONV says meanwhile. */
  if (!layout->base)
    c->algorithm = lb_conv2d_algorithm_of(&c->geometry);
  int64_t parts[3] = {lb_conv2d_prepared_floats(&c->geometry, c->algorithm),
                      c->out_channels, c->out_channels};
  float **targets[3] = {&c->prepared, &c->prepared_bias,
                        &c->prepared_scale};
  for (int i = 0; i < 3; i++) {
    if (layout->base)
      *targets[i] = layout->base + layout->floats;
    layout->floats += aligned_floats(parts[i]);
  }
  int64_t workspace = aligned_floats(
      (int64_t)(lb_conv2d_images_workspace_bytes(&c->geometry, c->algorithm) /
                sizeof(float)));
  layout->workspace_floats = max_i64(layout->workspace_floats, workspace);
  int64_t channels = aligned_floats((int64_t)(
      lb_conv2d_channels_workspace_bytes(&c->geometry, c->algorithm,
                                         layout->ranges) /
      sizeof(float)));
  layout->channels_floats = max_i64(layout->channels_floats, channels);
}

static bool prepared_weights_hold(lb_model *m);

/* Makes the prepared block big enough for the planned shape and `ranges`
 * ranges, and lays it out: every convolution's prepared weights, then a
 * workspace per range (where the late layers' splits by channels find
 * theirs, after the ranges are done). A larger block takes the prepared
 * weights along when they still hold (more images or threads need only
 * more workspace; the weights' layout follows from the algorithms). */
static lb_status prepare_block(lb_model *m, int32_t ranges) {
  prepared_layout count = {NULL, 0, 0, ranges, 0};
  for_each_conv(m, lay_out_prepared, &count);
  int64_t workspaces = 0;
  bool counted = lb_mul_i64(count.workspace_floats, ranges, &workspaces);
  workspaces = max_i64(workspaces, count.channels_floats);
  if (!counted || workspaces > INT64_MAX - count.floats ||
      (uint64_t)(count.floats + workspaces) > SIZE_MAX / sizeof(float))
    return lb_fail(LB_ENOMEM, "lb_model_predict: the prepared weights do "
                              "not fit in memory");
  size_t bytes = (size_t)(count.floats + workspaces) * sizeof(float);
  if (bytes > m->prepared_bytes) {
    float *block = lb_alloc_aligned(bytes);
    if (!block)
      return LB_ENOMEM;
    if (m->prepared && prepared_weights_hold(m))
      memcpy(block, m->prepared, (size_t)count.floats * sizeof(float));
    else
      m->prepared_version = 0;
    lb_free_aligned(m->prepared);
    m->prepared = block;
    m->prepared_bytes = bytes;
  }
  prepared_layout layout = {m->prepared, 0, 0, ranges, 0};
  for_each_conv(m, lay_out_prepared, &layout);
  m->range_workspace = m->prepared + layout.floats;
  m->range_workspace_floats = layout.workspace_floats;
  return LB_OK;
}

/* Range `range`'s own workspace in the prepared block. */
static float *workspace_of_range(const lb_model *m, int32_t range) {
  return m->range_workspace + range * m->range_workspace_floats;
}

/* One thread's share (chunk of chunks) of every convolution's output
 * channels: their scale and folded bias, then their prepared weights. */
typedef struct prepare_share {
  lb_model *m;
  int32_t chunk, chunks;
} prepare_share;

static void prepare_channels(lb_model_conv *c, const lb_model_bn *n,
                             void *context) {
  const prepare_share *share = context;
  int64_t first = lb_chunk_begin(c->out_channels, share->chunk, share->chunks);
  int64_t end =
      lb_chunk_begin(c->out_channels, share->chunk + 1, share->chunks);
  for (int64_t o = first; o < end; o++) {
    double scale = fold_scale(&n->bn, o);
    c->prepared_scale[o] = (float)scale;
    c->prepared_bias[o] = fold_bias(&n->bn, o, scale);
  }
  lb_conv2d_prepare(&c->geometry, c->algorithm, c->weight, c->prepared_scale,
                    first, end, c->prepared);
}

static void prepare_chunk(void *context, int32_t chunk) {
  prepare_share share = *(const prepare_share *)context;
  share.chunk = chunk;
  for_each_conv(share.m, prepare_channels, &share);
}

static void note_prepared(lb_model_conv *c, const lb_model_bn *n,
                          void *context) {
  (void)n;
  (void)context;
  c->prepared_algorithm = c->algorithm;
}

/* Folds and prepares every convolution's weights, split over the pool by
 * output channel: one fork and join for all of them. (Not in any layer
 * kind of the profile: its time shows as "other".) */
static void prepare_weights(lb_model *m, int32_t chunks) {
  prepare_share share = {m, 0, chunks};
  lb_parallel_for(prepare_chunk, &share, chunks);
  for_each_conv(m, note_prepared, NULL);
  m->prepared_version = m->parameters_version;
}

static void check_algorithm(lb_model_conv *c, const lb_model_bn *n,
                            void *context) {
  (void)n;
  bool *same = context;
  *same = *same && c->prepared_algorithm == c->algorithm;
}

/* Whether the block, as just laid out, still holds every convolution's
 * prepared weights: none of the values folded in has changed since they
 * were prepared, and each convolution's algorithm is the same (so is the
 * layout: it follows from the channels and the algorithms). Preparing
 * them cost 4% of a width-16 inference call and writes 4 times the 3x3
 * filters' memory at width 64. */
static bool prepared_weights_hold(lb_model *m) {
  bool same = m->prepared_version == m->parameters_version;
  for_each_conv(m, check_algorithm, &same);
  return same;
}

/* ---- the late layers ------------------------------------------------------
 *
 * On small images a block of a convolution needs many images to be wide
 * enough (F(4x4, 3x3) on 4x4 images: 256 for 256 columns), more than a
 * range's share of the batch: two ranges of 32 images run products half as
 * wide as one thread's 64, each reading every weight (the 36 transformed
 * filter banks of a width-64 ResNet-18's last layers are 38 MB, more than
 * the L3). From the first block with such a layer whose weights are large
 * enough for it to pay (late_block(), lb_conv2d_splits_channels())
 * lb_model_predict() therefore stops the ranges and takes the rest of the
 * network layer by layer on the whole batch: those layers split by
 * channels (lb_conv2d_forward_channels(): each thread reads its share of
 * the weights, for products as wide as one thread's), the others by
 * ranges, each layer on the same workspaces as before. LOSSBAL_PREDICT
 * (predict_setting_is()) overrides the choice for comparisons and tests. */

typedef struct late_layer {
  lb_model *m;
  const lb_model_conv *c;
  const float *x;
  float *y;
  const lb_conv2d_epilogue *after;
  int32_t ranges;
} late_layer;

static void late_layer_range(void *context, int32_t range) {
  const late_layer *layer = context;
  const lb_conv2d_geometry *g = &layer->c->geometry;
  int64_t first = lb_chunk_begin(g->batch, range, layer->ranges);
  int64_t end = lb_chunk_begin(g->batch, range + 1, layer->ranges);
  lb_conv2d_forward_images(g, layer->c->algorithm, layer->x,
                           layer->c->prepared, layer->c->prepared_bias,
                           layer->y, workspace_of_range(layer->m, range), first,
                           end - first, layer->after);
}

/* Whether LOSSBAL_PREDICT is `value`: ranges keeps every layer in the
 * ranges; channels splits by channels every layer whose blocks the ranges
 * narrow, whatever the size of its weights. For comparisons and tests. */
static bool predict_setting_is(const char *value) {
  const char *setting = getenv("LOSSBAL_PREDICT");
  return setting && strcmp(setting, value) == 0;
}

static bool late_layers_switched_off(void) {
  return predict_setting_is("ranges");
}

static bool conv_splits(const lb_model_conv *c, int32_t ranges) {
  return lb_conv2d_splits_channels(&c->geometry, c->algorithm, ranges,
                                   predict_setting_is("channels"));
}

/* y = conv(x) with the prepared weights, then `after`, on the whole batch
 * over the pool: split by channels where that pays off, else by the
 * ranges of images. */
static void late_conv_predict(lb_model *m, const lb_model_conv *c,
                              const float *x, float *y,
                              const lb_conv2d_epilogue *after,
                              int32_t ranges) {
  if (conv_splits(c, ranges)) {
    lb_conv2d_forward_channels(&c->geometry, c->algorithm, x, c->prepared,
                               c->prepared_bias, y, m->range_workspace,
                               ranges, after);
    return;
  }
  late_layer layer = {m, c, x, y, after, ranges};
  lb_parallel_for(late_layer_range, &layer, ranges);
}

static bool block_splits(const lb_model_block *blk, int32_t ranges) {
  bool splits = blk->has_downsample && conv_splits(&blk->down, ranges);
  for (int32_t i = 0; i < blk->convs; i++)
    splits = splits || conv_splits(&blk->conv[i], ranges);
  return splits;
}

/* The first block with a convolution that splits by channels against
 * `ranges` ranges, or block_count for none. (Not the stem, whatever its
 * images: it runs in the ranges, whose job starts with it, and with its
 * few input channels it is never Winograd's.) */
static int32_t late_block(lb_model *m, int32_t ranges) {
  if (ranges < 2 || late_layers_switched_off())
    return m->block_count;
  for (int32_t b = 0; b < m->block_count; b++)
    if (block_splits(&m->blocks[b], ranges))
      return b;
  return m->block_count;
}

/* y = conv(x) with the prepared weights, then `after`: the late layers on
 * the whole batch over the pool, else the range's images on its own
 * workspace. */
static void prepared_conv_predict(lb_model *m, const lb_model_conv *c,
                                  const float *x, float *y,
                                  const lb_conv2d_epilogue *after,
                                  const image_range *r) {
  if (r->late_ranges > 0)
    late_conv_predict(m, c, x, y, after, r->late_ranges);
  else
    lb_conv2d_forward_images(&c->geometry, c->algorithm, x, c->prepared,
                             c->prepared_bias, y, r->workspace, r->first,
                             r->count, after);
}

/* y = bn(conv(x)) (+ residual where not NULL, which comes with `relu`),
 * and relu of it with `relu`, for the range's images (x, y and residual
 * hold the whole batch), with the batch norm folded into the
 * convolution. By ranges: with the prepared weights, the sum and the ReLU
 * in the convolution's epilogue, each block of images while it is in the
 * cache (timed with the convolution); in the late layers the same on the
 * whole batch, over the pool (late_conv_predict()). Layer by layer (no
 * workspace of the range's own): folded into a scratch first (a part of
 * the convolution's cost timed with it), the sum and the ReLU as passes
 * of their own. */
static void conv_bn_predict(lb_model *m, const lb_model_conv *c,
                            const lb_model_bn *n, const float *x, float *y,
                            const float *residual, bool relu,
                            const image_range *r) {
  int64_t start = range_timing_start(m, r);
  if (r->late_ranges > 0 || r->workspace) {
    lb_conv2d_epilogue after = {residual};
    prepared_conv_predict(m, c, x, y, relu ? &after : NULL, r);
    range_timing_stop(m, r, lb_profile_conv_kind(&c->geometry), start,
                      lb_profile_conv_flops(&c->geometry));
    return;
  }
  fold_batchnorm(c, n, m->folded_weight, m->folded_bias);
  lb_conv2d_forward(&c->geometry, x, m->folded_weight, m->folded_bias, y,
                    m->workspace);
  range_timing_stop(m, r, lb_profile_conv_kind(&c->geometry), start,
                    lb_profile_conv_flops(&c->geometry));
  if (residual)
    residual_range(m, y, n->shape, residual, r);
  if (relu)
    relu_range(m, y, n->shape, r);
}

static void block_predict(lb_model *m, lb_model_block *blk, const float *in,
                          const image_range *r) {
  const float *x = in;
  int32_t last = blk->convs - 1;
  for (int32_t i = 0; i < last; i++) {
    conv_bn_predict(m, &blk->conv[i], &blk->bn[i], x, blk->bn[i].out, NULL,
                    true, r);
    x = blk->bn[i].out;
  }
  /* The shortcut first, for the last convolution to add it. */
  const float *shortcut = in;
  if (blk->has_downsample) {
    conv_bn_predict(m, &blk->down, &blk->down_bn, in, blk->down_bn.out, NULL,
                    false, r);
    shortcut = blk->down_bn.out;
  }
  conv_bn_predict(m, &blk->conv[last], &blk->bn[last], x, blk->out, shortcut,
                  true, r);
}

typedef struct predict_job {
  lb_model *m;
  const float *input;
  float *logits;
  int64_t batch;
  int32_t ranges;
  int32_t late; /* the first block of the late layers */
} predict_job;

/* Blocks [first, end) on x, the output of the block before `first`;
 * returns the last one's output. */
static const float *blocks_predict(lb_model *m, const float *x,
                                   int32_t first, int32_t end,
                                   const image_range *r) {
  for (int32_t b = first; b < end; b++) {
    block_predict(m, &m->blocks[b], x, r);
    x = m->blocks[b].out;
  }
  return x;
}

/* What blocks [0, end) output for the range's images, from the stem on. */
static const float *predict_early(lb_model *m, const float *input,
                                  int32_t end, const image_range *r) {
  /* The stem reads the caller's input: nothing is kept for a backward. */
  conv_bn_predict(m, &m->conv1, &m->bn1, input, m->bn1.out, NULL, true, r);
  return blocks_predict(m, stem_maxpool(m, m->bn1.out, r), 0, end, r);
}

/* The logits of the range's images. */
static void predict_images(lb_model *m, const float *input, float *logits,
                           const image_range *r) {
  const float *x = predict_early(m, input, m->block_count, r);
  head_forward(m, x, logits, r);
}

static void predict_range(void *context, int32_t range) {
  const predict_job *job = context;
  lb_model *m = job->m;
  int64_t first = lb_chunk_begin(job->batch, range, job->ranges);
  image_range r = {first,
                   lb_chunk_begin(job->batch, range + 1, job->ranges) - first,
                   job->batch,
                   workspace_of_range(m, range),
                   range == 0,
                   0};
  const float *x = predict_early(m, job->input, job->late, &r);
  if (job->late == m->block_count)
    head_forward(m, x, job->logits, &r);
}

/* Blocks [job->late, block_count) and the head on the whole batch, each
 * layer over the pool (see late_conv_predict()). */
static void predict_late(const predict_job *job) {
  lb_model *m = job->m;
  image_range all = whole_batch(job->batch);
  all.late_ranges = job->ranges;
  const float *x = job->late > 0 ? m->blocks[job->late - 1].out
                                  : stem_output(m);
  x = blocks_predict(m, x, job->late, m->block_count, &all);
  head_forward(m, x, job->logits, &all);
}

/* Ranges of images for a batch: one per thread, at most
 * LB_CONV_MAX_SLOTS (as the convolutions' ranges in training: each range's
 * workspace costs memory), so one on one thread (which then keeps the
 * prepared weights too); 0 (layer by layer instead, each layer on all the
 * threads) when the batch has fewer images than that, when it does not
 * spread evenly enough (3 images on 2 threads, 6 on 4), as conv2d.c's
 * ranges, and under LOSSBAL_GEMM=openblas, whose products are threaded by
 * OpenBLAS. */
#define UNEVEN_RANGES 4

static int32_t predict_ranges(int64_t batch) {
  int64_t ranges = lb_get_num_threads();
  if (ranges > LB_CONV_MAX_SLOTS)
    ranges = LB_CONV_MAX_SLOTS;
  if (!lb_gemm_on_pool())
    return 0;
  if (ranges == 1)
    return 1;
  if (ranges > batch ||
      (batch % ranges != 0 && batch < UNEVEN_RANGES * ranges))
    return 0;
  return (int32_t)ranges;
}

/* The prepared block by ranges, or false to go layer by layer when it
 * cannot be had; a successful call then leaves lb_last_error() as it
 * was. */
static bool prepare_or_keep_error(lb_model *m, int32_t ranges) {
  char kept[LB_ERROR_MESSAGE_CAPACITY];
  snprintf(kept, sizeof kept, "%s", lb_last_error());
  if (prepare_block(m, ranges) == LB_OK)
    return true;
  (void)lb_fail(LB_ENOMEM, "%s", kept);
  return false;
}

lb_status lb_model_predict(lb_model *m, const float *input, int64_t batch,
                           int32_t height, int32_t width, float *logits) {
  lb_status s = begin_forward(m, "lb_model_predict", input, batch, height,
                              width, logits, false);
  if (s != LB_OK)
    return s;
  int32_t ranges = predict_ranges(batch);
  m->late_block = m->block_count;
  /* Without room for the prepared weights, layer by layer needs none. */
  if (ranges == 0 || !prepare_or_keep_error(m, ranges)) {
    /* Layer after layer, each split over the library's threads. */
    image_range all = whole_batch(batch);
    predict_images(m, input, logits, &all);
    return LB_OK;
  }
  if (!prepared_weights_hold(m))
    prepare_weights(m, ranges);
  predict_job job = {m, input, logits, batch, ranges,
                     late_block(m, ranges)};
  m->late_block = job.late;
  lb_parallel_for(predict_range, &job, ranges);
  if (job.late < m->block_count)
    predict_late(&job);
  return LB_OK;
}

/* ---- backward ---------------------------------------------------------------
 */

/* grad_input = the batch norm's input gradient from grad_output (distinct
 * arrays). */
static void bn_backward(lb_model *m, lb_model_bn *n, bool training,
                        const float *x, const float *grad_output,
                        float *grad_input) {
  int64_t start = start_timing(m);
  lb_batchnorm2d_backward(&n->bn, training, n->shape, x, grad_output,
                          n->save_mean, n->save_invstd, grad_input,
                          n->grad_weight, n->grad_bias);
  stop_timing(m, LB_LAYER_BATCHNORM, LB_PASS_BACKWARD, start);
}

/* The backward of a batch norm fused with the ReLU after it, in place:
 * grad holds the gradient of the ReLU's output and receives that of the
 * batch norm's input. */
static void bn_relu_backward(lb_model *m, lb_model_bn *n, bool training,
                             const float *x, float *grad) {
  int64_t start = start_timing(m);
  lb_batchnorm2d_relu_backward(&n->bn, training, n->shape, x, n->out, grad,
                               n->save_mean, n->save_invstd, grad,
                               n->grad_weight, n->grad_bias);
  stop_timing(m, LB_LAYER_BATCHNORM, LB_PASS_BACKWARD, start);
}

/* The gradient arrives in scratch[*at] (dL/d(block output)) and leaves in
 * scratch[*at] as dL/d(block input). */
static void block_backward(lb_model *m, lb_model_block *blk, int *at,
                           bool training) {
  int a = *at, p = (a + 1) % 4, q = (a + 2) % 4, s = (a + 3) % 4;
  float **g = m->scratch;
  int32_t last = blk->convs - 1;
  int64_t start = start_timing(m);
  lb_relu_backward(lb_nchw_numel(blk->out_shape), blk->out, g[a], g[a]);
  stop_timing(m, LB_LAYER_RELU, LB_PASS_BACKWARD, start);

  bn_backward(m, &blk->bn[last], training, blk->conv[last].out, g[a], g[p]);
  for (int32_t i = last; i >= 0; i--) {
    const float *x = i == 0 ? blk->in : blk->bn[i - 1].out;
    conv_backward(m, &blk->conv[i], x, g[p], g[q]);
    if (i > 0)
      bn_relu_backward(m, &blk->bn[i - 1], training, blk->conv[i - 1].out,
                       g[q]);
    int t = p;
    p = q;
    q = t;
  }
  /* The main branch's input gradient is in g[p]; the shortcut's goes to
   * g[a] (which already is it for an identity shortcut). */
  if (blk->has_downsample) {
    bn_backward(m, &blk->down_bn, training, blk->down.out, g[a], g[s]);
    conv_backward(m, &blk->down, blk->in, g[s], g[a]);
  }
  start = start_timing(m);
  lb_residual_add(lb_nchw_numel(blk->in_shape), g[p], g[a], g[p]);
  stop_timing(m, LB_LAYER_RESIDUAL, LB_PASS_BACKWARD, start);
  *at = p;
}

lb_status lb_model_backward(lb_model *m, const float *grad_logits) {
  const char *who = "lb_model_backward";
  if (!m)
    return lb_fail(LB_EINVAL, "%s: m is NULL", who);
  if (!grad_logits)
    return lb_fail(LB_EINVAL, "%s: grad_logits is NULL", who);
  if (!m->forward_valid)
    return lb_fail(LB_ESTATE,
                   "%s: no successful forward since the model was created, "
                   "loaded, ran lb_model_predict or its last forward failed",
                   who);
  if (m->forward_training != m->training)
    return lb_fail(LB_ESTATE,
                   "%s: the last forward ran in %s mode but the model is now "
                   "in %s mode; run a forward first",
                   who, m->forward_training ? "training" : "evaluation",
                   m->training ? "training" : "evaluation");
  bool training = m->forward_training;
  lb_linear fc = {m->features, m->config.num_classes, m->fc_weight, m->fc_bias};
  int64_t start = start_timing(m);
  lb_linear_backward(&fc, m->batch, m->pooled, grad_logits, m->grad_pooled,
                     m->fc_grad_weight, m->fc_grad_bias);
  lb_profile_stop(&m->profile, LB_LAYER_LINEAR, LB_PASS_BACKWARD, start,
                  2.0 * linear_flops(m, m->batch));
  int at = 0;
  start = start_timing(m);
  lb_global_avgpool_backward(m->blocks[m->block_count - 1].out_shape,
                             m->grad_pooled, m->scratch[at]);
  stop_timing(m, LB_LAYER_POOLING, LB_PASS_BACKWARD, start);
  for (int32_t b = m->block_count - 1; b >= 0; b--)
    block_backward(m, &m->blocks[b], &at, training);
  if (m->has_maxpool) {
    int next = (at + 1) % 4;
    start = start_timing(m);
    lb_maxpool2d_backward(&m->maxpool, m->bn1.shape, m->argmax, m->scratch[at],
                          m->scratch[next]);
    stop_timing(m, LB_LAYER_POOLING, LB_PASS_BACKWARD, start);
    at = next;
  }
  bn_relu_backward(m, &m->bn1, training, m->conv1.out, m->scratch[at]);
  conv_backward(m, &m->conv1, m->input_copy, m->scratch[at], NULL);
  m->backward_count++;
  return LB_OK;
}

/* ---- profiling ---------------------------------------------------------------
 */

static const char *const layer_kind_names[LB_LAYER_KINDS] = {
    "conv3x3",  "conv1x1", "conv_other", "batchnorm", "relu",
    "residual", "pooling", "linear",     "input"};

const char *lb_layer_kind_name(int32_t kind) {
  return kind >= 0 && kind < LB_LAYER_KINDS ? layer_kind_names[kind] : NULL;
}

lb_status lb_model_set_profiling(lb_model *m, int enabled) {
  if (!m)
    return lb_fail(LB_EINVAL, "lb_model_set_profiling: m is NULL");
  lb_profile_enable(&m->profile, enabled != 0);
  return LB_OK;
}

lb_status lb_model_get_profile(const lb_model *m, int32_t kind,
                               lb_layer_profile *out) {
  const char *who = "lb_model_get_profile";
  if (!m)
    return lb_fail(LB_EINVAL, "%s: m is NULL", who);
  if (!out)
    return lb_fail(LB_EINVAL, "%s: out is NULL", who);
  if (out->struct_size < sizeof(lb_layer_profile))
    return lb_fail(LB_EINVAL,
                   "%s: out->struct_size = %zu, it must be at least %zu "
                   "(sizeof(lb_layer_profile))",
                   who, out->struct_size, sizeof(lb_layer_profile));
  if (!lb_layer_kind_name(kind))
    return lb_fail(LB_EINVAL, "%s: kind = %d is not a layer kind (0 to %d)",
                   who, (int)kind, LB_LAYER_KINDS - 1);
  lb_profile_read(&m->profile, (lb_layer_kind)kind, out);
  return LB_OK;
}
