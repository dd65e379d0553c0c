/* BatchNorm2d, forward and backward, alone or followed by a ReLU (see
 * layers.h). Each channel's statistics and gradients come from its own
 * planes (one image's values of the channel): every plane's sums start
 * from 0, and the planes' sums are added in image order. Work is cut one
 * of two ways, with the same bits:
 *  - by channel (without bn->image_sums, or when the batch would not keep
 *    as many threads busy as the channels: one thread, a small layer, fewer
 *    images than threads): a channel's sums, then its planes' outputs while
 *    they are in the cache; one job;
 *  - by images (bn->image_sums on several threads): every plane's sums
 *    into image_sums, each thread over a range of images; each channel's
 *    total on the calling thread; then the outputs, by the same ranges. Two
 *    jobs, but in a network each thread reads the images that the
 *    convolution before wrote on it (when the convolution cuts the batch
 *    into the same ranges, conv2d.h), from its own cache: by channel half
 *    of every channel was written on the other core. Measured on 2
 *    threads, training at ResNet-18 width 16: about 2% faster per step
 *    (docs/performance.md, step 17).
 * The loops over a plane are vector kernels (core/vector_kernel.h): sums in
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

/* ---- by images: passes over the planes of ranges of images ---- */

/* What a pass does to one plane (item, channel) of its job. */
typedef void (*plane_visit)(const void *job, int64_t item, int64_t channel);

/* One pass by images: `visit` on every plane, the images cut into
 * `chunks` ranges, one per chunk of the pool. */
typedef struct image_pass {
  lb_nchw shape;
  int32_t chunks;
  plane_visit visit;
  const void *job;
} image_pass;

/* The planes of chunk `chunk`'s images, image by image. */
static void image_pass_chunk(void *context, int32_t chunk) {
  const image_pass *pass = context;
  lb_nchw shape = pass->shape;
  int64_t end = lb_chunk_begin(shape.n, chunk + 1, pass->chunks);
  for (int64_t item = lb_chunk_begin(shape.n, chunk, pass->chunks);
       item < end; item++)
    for (int64_t channel = 0; channel < shape.c; channel++)
      pass->visit(pass->job, item, channel);
}

static void run_image_pass(lb_nchw shape, int32_t chunks, plane_visit visit,
                           const void *job) {
  image_pass pass = {shape, chunks, visit, job};
  lb_parallel_for(image_pass_chunk, &pass, chunks);
}

/* The two sums of plane (item, channel) in a layer's image_sums. */
static double *plane_sums_of(double *image_sums, lb_nchw shape, int64_t item,
                             int64_t channel) {
  return image_sums + 2 * (item * shape.c + channel);
}

/* A channel's two sums: its planes' sums added in image order, as a pass
 * by channel adds them, so that both give the same bits. */
static void channel_sums(double *image_sums, lb_nchw shape, int64_t channel,
                         double sums[2]) {
  sums[0] = sums[1] = 0.0;
  for (int64_t item = 0; item < shape.n; item++) {
    const double *plane = plane_sums_of(image_sums, shape, item, channel);
    sums[0] += plane[0];
    sums[1] += plane[1];
  }
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

/* One forward (plain or with ReLU), by channel or by images. */
typedef struct forward_job {
  const lb_batchnorm2d *bn;
  bool training, relu;
  lb_nchw shape;
  const float *x;
  float *y, *save_mean, *save_invstd;
  int32_t chunks;
  /* By images: each plane's two shifted sums, [n][c][2], then the scale
   * and shift [c] of every channel (floats, in bn->image_sums). */
  double *plane_sums;
  float *scale, *shift;
} forward_job;

/* The value the sums of a channel are taken relative to: its first. */
static double channel_shift(const forward_job *job, int64_t channel) {
  return job->x[plane_offset(job->shape, 0, channel)];
}

static void add_plane_shifted_sums(const forward_job *job, int64_t item,
                                   int64_t channel, double sums[2]) {
  add_shifted_sums(job->x + plane_offset(job->shape, item, channel),
                   job->shape.h * job->shape.w, channel_shift(job, channel),
                   sums);
}

/* The channel's mean and biased variance from its shifted sums, taken
 * relative to one of its values, so that mean(d^2) - mean(d)^2 does not
 * cancel away the variance of a channel whose mean is large against its
 * spread; the running statistics move, in training mode. Without training,
 * the running statistics themselves. Saves the mean and invstd and returns
 * the multiply-add y = x * scale + shift that the channel's values take, as
 * PyTorch's CPU kernel does. */
static void channel_affine(const forward_job *job, int64_t channel,
                           const double sums[2], float *scale, float *shift) {
  const lb_batchnorm2d *bn = job->bn;
  lb_nchw shape = job->shape;
  double mean, var;
  if (job->training) {
    double count = (double)(shape.n * shape.h * shape.w);
    double mean_shifted = sums[0] / count;
    mean = channel_shift(job, channel) + mean_shifted;
    var = fmax(sums[1] / count - mean_shifted * mean_shifted, 0.0);
    update_running_stats(bn, channel, mean, var, shape.n * shape.h * shape.w);
  } else {
    mean = bn->running_mean[channel];
    var = bn->running_var[channel];
  }
  double invstd = 1.0 / sqrt(var + bn->eps);
  job->save_mean[channel] = (float)mean;
  job->save_invstd[channel] = (float)invstd;
  double channel_scale = bn->weight[channel] * invstd;
  *scale = (float)channel_scale;
  *shift = (float)(bn->bias[channel] - mean * channel_scale);
}

static void apply_plane(const forward_job *job, int64_t item, int64_t channel,
                        float scale, float shift) {
  int64_t offset = plane_offset(job->shape, item, channel);
  int64_t count = job->shape.h * job->shape.w;
  if (job->relu)
    affine_relu_plane(job->x + offset, job->y + offset, count, scale, shift);
  else
    affine_plane(job->x + offset, job->y + offset, count, scale, shift);
}

/* By channel: its sums over the batch, then its planes, while they are in
 * the cache. */
static void forward_channel(const forward_job *job, int64_t channel) {
  double sums[2] = {0.0, 0.0};
  if (job->training)
    for (int64_t item = 0; item < job->shape.n; item++)
      add_plane_shifted_sums(job, item, channel, sums);
  float scale, shift;
  channel_affine(job, channel, sums, &scale, &shift);
  for (int64_t item = 0; item < job->shape.n; item++)
    apply_plane(job, item, channel, scale, shift);
}

static void forward_channels_chunk(void *context, int32_t chunk) {
  const forward_job *job = context;
  int64_t end = lb_chunk_begin(job->shape.c, chunk + 1, job->chunks);
  for (int64_t channel = lb_chunk_begin(job->shape.c, chunk, job->chunks);
       channel < end; channel++)
    forward_channel(job, channel);
}

/* By images, pass 1: every plane's own shifted sums. */
static void store_plane_shifted_sums(const void *context, int64_t item,
                                     int64_t channel) {
  const forward_job *job = context;
  double *sums = plane_sums_of(job->plane_sums, job->shape, item, channel);
  sums[0] = sums[1] = 0.0;
  add_plane_shifted_sums(job, item, channel, sums);
}

/* By images, pass 2: the planes of the chunk's images. */
static void apply_plane_of_job(const void *context, int64_t item,
                               int64_t channel) {
  const forward_job *job = context;
  apply_plane(job, item, channel, job->scale[channel], job->shift[channel]);
}

/* Between the passes, on the calling thread: each channel's sums and its
 * scale and shift. */
static void forward_channel_constants(forward_job *job) {
  lb_nchw shape = job->shape;
  job->scale = (float *)(job->plane_sums + 2 * shape.n * shape.c);
  job->shift = job->scale + shape.c;
  for (int64_t channel = 0; channel < shape.c; channel++) {
    double sums[2] = {0.0, 0.0};
    if (job->training)
      channel_sums(job->plane_sums, shape, channel, sums);
    channel_affine(job, channel, sums, &job->scale[channel],
                   &job->shift[channel]);
  }
}

/* Chunks of images when the layer has room for the planes' sums and the
 * batch splits over as many threads as its channels would; 0 otherwise
 * (then by channel: one thread, a small layer, or fewer images than
 * threads). */
static int32_t image_chunks(const lb_batchnorm2d *bn, lb_nchw shape) {
  if (!bn->image_sums)
    return 0;
  int64_t plane = shape.h * shape.w;
  int32_t by_images = lb_parallel_chunks(shape.n, shape.c * plane);
  int32_t by_channels = lb_parallel_chunks(shape.c, shape.n * plane);
  return by_images > 1 && by_images >= by_channels ? by_images : 0;
}

static void run_forward(forward_job job) {
  job.chunks = image_chunks(job.bn, job.shape);
  if (job.chunks == 0) {
    job.chunks = lb_parallel_chunks(job.shape.c,
                                    job.shape.n * job.shape.h * job.shape.w);
    lb_parallel_for(forward_channels_chunk, &job, job.chunks);
    return;
  }
  job.plane_sums = job.bn->image_sums;
  if (job.training)
    run_image_pass(job.shape, job.chunks, store_plane_shifted_sums, &job);
  forward_channel_constants(&job);
  run_image_pass(job.shape, job.chunks, apply_plane_of_job, &job);
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

/* One backward (plain or with ReLU), by channel or by images. */
typedef struct backward_job {
  const lb_batchnorm2d *bn;
  bool training;
  lb_nchw shape;
  const float *x, *relu_y, *grad_y, *save_mean, *save_invstd;
  float *grad_x, *grad_weight, *grad_bias;
  int32_t chunks;
  /* By images: each plane's two gradient sums, [n][c][2], then the terms
   * [c] of every channel (in bn->image_sums). */
  double *plane_sums;
  input_gradient_terms *terms;
} backward_job;

static void add_plane_gradient_sums(const backward_job *job, int64_t item,
                                    int64_t channel, double sums[2]) {
  int64_t offset = plane_offset(job->shape, item, channel);
  int64_t count = job->shape.h * job->shape.w;
  float mean = job->save_mean[channel];
  if (job->relu_y)
    add_masked_gradient_sums(job->x + offset, job->relu_y + offset,
                             job->grad_y + offset, count, mean, sums);
  else
    add_gradient_sums(job->x + offset, job->grad_y + offset, count, mean,
                      sums);
}

/* With m = n * h * w values per channel and x_hat = (x - mean) * invstd:
 *   grad_bias   = sum g
 *   grad_weight = sum g x_hat
 *   grad_x      = gamma * invstd * g                           in eval mode,
 *   grad_x      = gamma * invstd * (g - sum g / m - x_hat * sum g x_hat / m)
 * in training mode, where mean and invstd depend on x: that takes from g
 * its mean and its projection on x_hat. Writes the channel's grad_bias and
 * grad_weight from its sums and returns its terms of grad_x. */
static input_gradient_terms channel_gradient_terms(const backward_job *job,
                                                   int64_t channel,
                                                   const double sums[2]) {
  float mean = job->save_mean[channel], invstd = job->save_invstd[channel];
  job->grad_bias[channel] = (float)sums[0];
  job->grad_weight[channel] = (float)(sums[1] * invstd);
  input_gradient_terms t = {mean, job->bn->weight[channel] * invstd, 0.0f,
                            0.0f};
  if (job->training) {
    double count = (double)(job->shape.n * job->shape.h * job->shape.w);
    t.grad_mean = (float)(sums[0] / count);
    t.projection = (float)(sums[1] * invstd * invstd / count);
  }
  return t;
}

static void input_gradient_of_plane(const backward_job *job, int64_t item,
                                    int64_t channel, input_gradient_terms t) {
  int64_t offset = plane_offset(job->shape, item, channel);
  int64_t count = job->shape.h * job->shape.w;
  if (job->relu_y)
    masked_input_gradient_plane(job->x + offset, job->relu_y + offset,
                                job->grad_y + offset, job->grad_x + offset,
                                count, t);
  else
    input_gradient_plane(job->x + offset, job->grad_y + offset,
                         job->grad_x + offset, count, t);
}

/* By channel: its sums over the batch, then its planes. */
static void backward_channel(const backward_job *job, int64_t channel) {
  double sums[2] = {0.0, 0.0};
  for (int64_t item = 0; item < job->shape.n; item++)
    add_plane_gradient_sums(job, item, channel, sums);
  input_gradient_terms t = channel_gradient_terms(job, channel, sums);
  for (int64_t item = 0; item < job->shape.n; item++)
    input_gradient_of_plane(job, item, channel, t);
}

static void backward_channels_chunk(void *context, int32_t chunk) {
  const backward_job *job = context;
  int64_t end = lb_chunk_begin(job->shape.c, chunk + 1, job->chunks);
  for (int64_t channel = lb_chunk_begin(job->shape.c, chunk, job->chunks);
       channel < end; channel++)
    backward_channel(job, channel);
}

/* By images, pass 1: every plane's own gradient sums. */
static void store_plane_gradient_sums(const void *context, int64_t item,
                                      int64_t channel) {
  const backward_job *job = context;
  double *sums = plane_sums_of(job->plane_sums, job->shape, item, channel);
  sums[0] = sums[1] = 0.0;
  add_plane_gradient_sums(job, item, channel, sums);
}

/* By images, pass 2: grad_x over the planes of the chunk's images. */
static void input_gradient_of_job_plane(const void *context, int64_t item,
                                        int64_t channel) {
  const backward_job *job = context;
  input_gradient_of_plane(job, item, channel, job->terms[channel]);
}

/* The terms take the 2 * channels doubles after the planes' sums. */
_Static_assert(sizeof(input_gradient_terms) <= 2 * sizeof(double),
               "a channel's terms must fit in its two doubles");

/* Between the passes, on the calling thread: each channel's sums and its
 * terms. */
static void backward_channel_terms(backward_job *job) {
  lb_nchw shape = job->shape;
  job->terms =
      (input_gradient_terms *)(job->plane_sums + 2 * shape.n * shape.c);
  for (int64_t channel = 0; channel < shape.c; channel++) {
    double sums[2];
    channel_sums(job->plane_sums, shape, channel, sums);
    job->terms[channel] = channel_gradient_terms(job, channel, sums);
  }
}

static void run_backward(backward_job job) {
  job.chunks = image_chunks(job.bn, job.shape);
  if (job.chunks == 0) {
    job.chunks = lb_parallel_chunks(job.shape.c,
                                    job.shape.n * job.shape.h * job.shape.w);
    lb_parallel_for(backward_channels_chunk, &job, job.chunks);
    return;
  }
  job.plane_sums = job.bn->image_sums;
  run_image_pass(job.shape, job.chunks, store_plane_gradient_sums, &job);
  backward_channel_terms(&job);
  run_image_pass(job.shape, job.chunks, input_gradient_of_job_plane, &job);
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
