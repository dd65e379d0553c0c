/* BatchNorm2d, forward and backward, alone or followed by a ReLU (see
 * layers.h). Work is cut by channel: each channel's statistics and
 * gradients come from its own planes only, summed in one fixed order. The
 * loops over a plane are vector kernels (core/vector_kernel.h): sums in
 * double over SUM_LANES accumulators, element-wise passes in float. */
#include "layers.h"

#include "../core/core_internal.h"
#include "../core/vector_kernel.h"

#include <math.h>

#if defined(__GNUC__) && !defined(__clang__)
/* Lets GCC turn the ReLU's comparisons into vector selects. */
#  pragma GCC optimize("no-trapping-math")
#endif

/* Independent double accumulators per sum: two AVX2 vectors. */
#define SUM_LANES 8

lb_status lb_batchnorm2d_check(const char *who, const lb_batchnorm2d *bn,
                               lb_nchw shape, bool training) {
  if (!bn) return lb_fail(LB_EINVAL, "%s: the batch norm layer is NULL", who);
  const void *arrays[4] = {bn->weight, bn->bias, bn->running_mean,
                           bn->running_var};
  static const char *const array_names[4] = {"weight", "bias", "running_mean",
                                             "running_var"};
  for (int i = 0; i < 4; i++)
    if (!arrays[i])
      return lb_fail(LB_EINVAL, "%s: batch norm %s is NULL", who,
                     array_names[i]);
  /* Written so that NaN fails too. */
  if (!(bn->eps > 0.0))
    return lb_fail(LB_EINVAL, "%s: batch norm eps = %g is not > 0", who,
                   bn->eps);
  if (!(bn->momentum >= 0.0 && bn->momentum <= 1.0))
    return lb_fail(LB_EINVAL, "%s: batch norm momentum = %g is outside [0, 1]",
                   who, bn->momentum);
  lb_status status = lb_nchw_check(who, "batch norm input", shape);
  if (status != LB_OK) return status;
  char text[96];
  lb_nchw_format(shape, text, sizeof text);
  if (shape.c != bn->channels)
    return lb_fail(LB_EINVAL,
                   "%s: batch norm input %s has %lld channels, the layer %lld",
                   who, text, (long long)shape.c, (long long)bn->channels);
  if (training && shape.n * shape.h * shape.w == 1)
    return lb_fail(LB_EINVAL,
                   "%s: batch norm expects more than 1 value per channel when "
                   "training, got input %s",
                   who, text);
  return LB_OK;
}

/* Channel c of batch item i: the plane at x + (i * channels + c) * h * w. */
static int64_t plane_offset(lb_nchw shape, int64_t item, int64_t channel) {
  return (item * shape.c + channel) * shape.h * shape.w;
}

/* The sum of the SUM_LANES accumulators, in a fixed pairwise order. */
static double sum_lanes(const double lanes[SUM_LANES]) {
  return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) +
         ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
}

/* Adds sum (x[i] - shift) and sum (x[i] - shift)^2 over x[0..count) to
 * sums[0] and sums[1]. SUM_LANES accumulators per sum, so the additions
 * overlap instead of waiting on each other; their order is fixed. */
static LB_VECTOR_KERNEL void add_shifted_sums(const float *restrict x,
                                              int64_t count, double shift,
                                              double sums[restrict 2]) {
  double s[SUM_LANES] = {0.0}, q[SUM_LANES] = {0.0};
  int64_t i = 0;
  for (; i + SUM_LANES <= count; i += SUM_LANES) {
    LB_KEEP_LANE_LOOP
    for (int lane = 0; lane < SUM_LANES; lane++) {
      double d = (double)x[i + lane] - shift;
      s[lane] += d;
      q[lane] += d * d;
    }
  }
  for (; i < count; i++) {
    double d = (double)x[i] - shift;
    s[0] += d;
    q[0] += d * d;
  }
  sums[0] += sum_lanes(s);
  sums[1] += sum_lanes(q);
}

/* The mean and biased variance of one channel over (n, h, w), in one pass.
 * The values are taken relative to one of them (the channel's first), so
 * mean(d^2) - mean(d)^2 does not cancel away the variance of a channel
 * whose mean is large against its spread. */
static void channel_moments(lb_nchw shape, const float *x, int64_t channel,
                            double *mean, double *var) {
  int64_t plane = shape.h * shape.w;
  double shift = x[plane_offset(shape, 0, channel)];
  double sums[2] = {0.0, 0.0};
  for (int64_t item = 0; item < shape.n; item++)
    add_shifted_sums(x + plane_offset(shape, item, channel), plane, shift,
                     sums);
  double count = (double)(shape.n * plane);
  double mean_shifted = sums[0] / count;
  *mean = shift + mean_shifted;
  *var = fmax(sums[1] / count - mean_shifted * mean_shifted, 0.0);
}

/* PyTorch's update: the running variance moves towards the unbiased
 * variance of the batch (checked: count > 1), though the batch itself was
 * normalised with the biased one. */
static void update_running_stats(const lb_batchnorm2d *bn, int64_t channel,
                                 double mean, double biased_var,
                                 int64_t count) {
  double m = bn->momentum;
  double unbiased_var = biased_var * (double)count / (double)(count - 1);
  bn->running_mean[channel] =
      (float)((1.0 - m) * bn->running_mean[channel] + m * mean);
  bn->running_var[channel] =
      (float)((1.0 - m) * bn->running_var[channel] + m * unbiased_var);
}

/* y = x * scale + shift over one plane (y may be x). */
static LB_VECTOR_KERNEL void affine_plane(const float *x, float *y,
                                          int64_t count, float scale,
                                          float shift) {
  LB_ELEMENTWISE_LOOP
  for (int64_t i = 0; i < count; i++)
    y[i] = x[i] * scale + shift;
}

/* The same clamped at 0, written as `v < 0` so NaN passes as it does in
 * PyTorch. */
static LB_VECTOR_KERNEL void affine_relu_plane(const float *x, float *y,
                                               int64_t count, float scale,
                                               float shift) {
  LB_ELEMENTWISE_LOOP
  for (int64_t i = 0; i < count; i++) {
    float v = x[i] * scale + shift;
    y[i] = v < 0.0f ? 0.0f : v;
  }
}

/* One forward (plain or with ReLU) of lb_parallel_for, by channel. */
typedef struct forward_job {
  const lb_batchnorm2d *bn;
  bool training, relu;
  lb_nchw shape;
  const float *x;
  float *y, *save_mean, *save_invstd;
  int32_t chunks;
} forward_job;

static void forward_channel(const forward_job *job, int64_t channel) {
  const lb_batchnorm2d *bn = job->bn;
  lb_nchw shape = job->shape;
  double mean, var;
  if (job->training) {
    channel_moments(shape, job->x, channel, &mean, &var);
    update_running_stats(bn, channel, mean, var, shape.n * shape.h * shape.w);
  } else {
    mean = bn->running_mean[channel];
    var = bn->running_var[channel];
  }
  double invstd = 1.0 / sqrt(var + bn->eps);
  job->save_mean[channel] = (float)mean;
  job->save_invstd[channel] = (float)invstd;
  /* Folded into one multiply-add per element, as PyTorch's CPU kernel. */
  double scale = bn->weight[channel] * invstd;
  double shift = bn->bias[channel] - mean * scale;
  for (int64_t item = 0; item < shape.n; item++) {
    int64_t offset = plane_offset(shape, item, channel);
    if (job->relu)
      affine_relu_plane(job->x + offset, job->y + offset, shape.h * shape.w,
                        (float)scale, (float)shift);
    else
      affine_plane(job->x + offset, job->y + offset, shape.h * shape.w,
                   (float)scale, (float)shift);
  }
}

static void forward_chunk(void *context, int32_t chunk) {
  const forward_job *job = context;
  int64_t end = lb_chunk_begin(job->shape.c, chunk + 1, job->chunks);
  for (int64_t channel = lb_chunk_begin(job->shape.c, chunk, job->chunks);
       channel < end; channel++)
    forward_channel(job, channel);
}

static void run_forward(forward_job job) {
  job.chunks =
      lb_parallel_chunks(job.shape.c, job.shape.n * job.shape.h * job.shape.w);
  lb_parallel_for(forward_chunk, &job, job.chunks);
}

void lb_batchnorm2d_forward(const lb_batchnorm2d *bn, bool training,
                            lb_nchw shape, const float *x, float *y,
                            float *save_mean, float *save_invstd) {
  run_forward((forward_job){.bn = bn,
                            .training = training,
                            .relu = false,
                            .shape = shape,
                            .x = x,
                            .y = y,
                            .save_mean = save_mean,
                            .save_invstd = save_invstd});
}

void lb_batchnorm2d_relu_forward(const lb_batchnorm2d *bn, bool training,
                                 lb_nchw shape, const float *x, float *y,
                                 float *save_mean, float *save_invstd) {
  run_forward((forward_job){.bn = bn,
                            .training = training,
                            .relu = true,
                            .shape = shape,
                            .x = x,
                            .y = y,
                            .save_mean = save_mean,
                            .save_invstd = save_invstd});
}

/* Adds sum g and sum (x - mean) g over one plane to sums[0] and sums[1],
 * where g is grad_y. SUM_LANES accumulators, as in add_shifted_sums. */
static LB_VECTOR_KERNEL void add_gradient_sums(const float *restrict x,
                                               const float *restrict grad_y,
                                               int64_t count, double mean,
                                               double sums[restrict 2]) {
  double s[SUM_LANES] = {0.0}, d[SUM_LANES] = {0.0};
  int64_t i = 0;
  for (; i + SUM_LANES <= count; i += SUM_LANES) {
    LB_KEEP_LANE_LOOP
    for (int lane = 0; lane < SUM_LANES; lane++) {
      double g = grad_y[i + lane];
      s[lane] += g;
      d[lane] += ((double)x[i + lane] - mean) * g;
    }
  }
  for (; i < count; i++) {
    double g = grad_y[i];
    s[0] += g;
    d[0] += ((double)x[i] - mean) * g;
  }
  sums[0] += sum_lanes(s);
  sums[1] += sum_lanes(d);
}

/* The same where g is the gradient that reaches the batch norm's output
 * through the fused ReLU: grad_y, or 0 where the ReLU's output relu_y is
 * not positive (PyTorch's threshold_backward). */
static LB_VECTOR_KERNEL void add_masked_gradient_sums(
    const float *restrict x, const float *restrict relu_y,
    const float *restrict grad_y, int64_t count, double mean,
    double sums[restrict 2]) {
  double s[SUM_LANES] = {0.0}, d[SUM_LANES] = {0.0};
  int64_t i = 0;
  for (; i + SUM_LANES <= count; i += SUM_LANES) {
    LB_KEEP_LANE_LOOP
    for (int lane = 0; lane < SUM_LANES; lane++) {
      double g = relu_y[i + lane] <= 0.0f ? 0.0 : (double)grad_y[i + lane];
      s[lane] += g;
      d[lane] += ((double)x[i + lane] - mean) * g;
    }
  }
  for (; i < count; i++) {
    double g = relu_y[i] <= 0.0f ? 0.0 : (double)grad_y[i];
    s[0] += g;
    d[0] += ((double)x[i] - mean) * g;
  }
  sums[0] += sum_lanes(s);
  sums[1] += sum_lanes(d);
}

/* The per-channel constants of grad_x = (g - grad_mean - (x - mean) *
 * projection) * scale. */
typedef struct input_gradient_terms {
  float mean, scale, grad_mean, projection;
} input_gradient_terms;

/* grad_x over one plane, g = grad_y (grad_x may be grad_y). */
static LB_VECTOR_KERNEL void input_gradient_plane(const float *x,
                                                  const float *grad_y,
                                                  float *grad_x, int64_t count,
                                                  input_gradient_terms t) {
  LB_ELEMENTWISE_LOOP
  for (int64_t i = 0; i < count; i++)
    grad_x[i] = (grad_y[i] - t.grad_mean - (x[i] - t.mean) * t.projection) *
                t.scale;
}

/* The same with g masked by the fused ReLU's output relu_y. */
static LB_VECTOR_KERNEL void masked_input_gradient_plane(
    const float *x, const float *relu_y, const float *grad_y, float *grad_x,
    int64_t count, input_gradient_terms t) {
  LB_ELEMENTWISE_LOOP
  for (int64_t i = 0; i < count; i++) {
    float g = relu_y[i] <= 0.0f ? 0.0f : grad_y[i];
    grad_x[i] = (g - t.grad_mean - (x[i] - t.mean) * t.projection) * t.scale;
  }
}

/* One backward (plain or with ReLU) of lb_parallel_for, by channel. */
typedef struct backward_job {
  const lb_batchnorm2d *bn;
  bool training;
  lb_nchw shape;
  const float *x, *relu_y, *grad_y, *save_mean, *save_invstd;
  float *grad_x, *grad_weight, *grad_bias;
  int32_t chunks;
} backward_job;

/* With m = n * h * w values per channel and x_hat = (x - mean) * invstd:
 *   grad_bias   = sum g
 *   grad_weight = sum g x_hat
 *   grad_x      = gamma * invstd * g                           in eval mode,
 *   grad_x      = gamma * invstd * (g - sum g / m - x_hat * sum g x_hat / m)
 * in training mode, where mean and invstd depend on x: that takes from g
 * its mean and its projection on x_hat. */
static void backward_channel(const backward_job *job, int64_t channel) {
  lb_nchw shape = job->shape;
  int64_t plane = shape.h * shape.w;
  float mean = job->save_mean[channel], invstd = job->save_invstd[channel];
  double sums[2] = {0.0, 0.0};
  for (int64_t item = 0; item < shape.n; item++) {
    int64_t offset = plane_offset(shape, item, channel);
    if (job->relu_y)
      add_masked_gradient_sums(job->x + offset, job->relu_y + offset,
                               job->grad_y + offset, plane, mean, sums);
    else
      add_gradient_sums(job->x + offset, job->grad_y + offset, plane, mean,
                        sums);
  }
  job->grad_bias[channel] = (float)sums[0];
  job->grad_weight[channel] = (float)(sums[1] * invstd);

  input_gradient_terms t = {mean, job->bn->weight[channel] * invstd, 0.0f,
                            0.0f};
  if (job->training) {
    double count = (double)(shape.n * plane);
    t.grad_mean = (float)(sums[0] / count);
    t.projection = (float)(sums[1] * invstd * invstd / count);
  }
  for (int64_t item = 0; item < shape.n; item++) {
    int64_t offset = plane_offset(shape, item, channel);
    if (job->relu_y)
      masked_input_gradient_plane(job->x + offset, job->relu_y + offset,
                                  job->grad_y + offset, job->grad_x + offset,
                                  plane, t);
    else
      input_gradient_plane(job->x + offset, job->grad_y + offset,
                           job->grad_x + offset, plane, t);
  }
}

static void backward_chunk(void *context, int32_t chunk) {
  const backward_job *job = context;
  int64_t end = lb_chunk_begin(job->shape.c, chunk + 1, job->chunks);
  for (int64_t channel = lb_chunk_begin(job->shape.c, chunk, job->chunks);
       channel < end; channel++)
    backward_channel(job, channel);
}

static void run_backward(backward_job job) {
  job.chunks =
      lb_parallel_chunks(job.shape.c, job.shape.n * job.shape.h * job.shape.w);
  lb_parallel_for(backward_chunk, &job, job.chunks);
}

void lb_batchnorm2d_backward(const lb_batchnorm2d *bn, bool training,
                             lb_nchw shape, const float *x, const float *grad_y,
                             const float *save_mean, const float *save_invstd,
                             float *grad_x, float *grad_weight,
                             float *grad_bias) {
  run_backward((backward_job){.bn = bn,
                              .training = training,
                              .shape = shape,
                              .x = x,
                              .relu_y = NULL,
                              .grad_y = grad_y,
                              .save_mean = save_mean,
                              .save_invstd = save_invstd,
                              .grad_x = grad_x,
                              .grad_weight = grad_weight,
                              .grad_bias = grad_bias});
}

void lb_batchnorm2d_relu_backward(const lb_batchnorm2d *bn, bool training,
                                  lb_nchw shape, const float *x, const float *y,
                                  const float *grad_y, const float *save_mean,
                                  const float *save_invstd, float *grad_x,
                                  float *grad_weight, float *grad_bias) {
  run_backward((backward_job){.bn = bn,
                              .training = training,
                              .shape = shape,
                              .x = x,
                              .relu_y = y,
                              .grad_y = grad_y,
                              .save_mean = save_mean,
                              .save_invstd = save_invstd,
                              .grad_x = grad_x,
                              .grad_weight = grad_weight,
                              .grad_bias = grad_bias});
}
