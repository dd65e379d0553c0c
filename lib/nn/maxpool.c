/* MaxPool2d forward and backward (see layers.h), cut by (n, c) plane. */
#include "layers.h"

#include "../core/core_internal.h"

#include <math.h>

lb_status lb_maxpool2d_check(const char *who, const lb_maxpool2d *pool,
                             lb_nchw in) {
  if (!pool) return lb_fail(LB_EINVAL, "%s: the max pool layer is NULL", who);
  if (pool->kernel < 1 || pool->stride < 1)
    return lb_fail(LB_EINVAL,
                   "%s: max pool kernel = %d and stride = %d must be >= 1", who,
                   (int)pool->kernel, (int)pool->stride);
  if (pool->padding < 0 || pool->padding > pool->kernel / 2)
    return lb_fail(LB_EINVAL,
                   "%s: max pool padding = %d is outside [0, kernel / 2 = %d]",
                   who, (int)pool->padding, (int)(pool->kernel / 2));
  lb_status status = lb_nchw_check(who, "max pool input", in);
  if (status != LB_OK) return status;
  char text[96];
  lb_nchw_format(in, text, sizeof text);
  int64_t padded = 2 * (int64_t)pool->padding;
  if (in.h + padded < pool->kernel || in.w + padded < pool->kernel)
    return lb_fail(LB_EINVAL,
                   "%s: max pool input %s padded by %d is smaller than the "
                   "%d x %d kernel",
                   who, text, (int)pool->padding, (int)pool->kernel,
                   (int)pool->kernel);
  if (in.h * in.w > INT32_MAX)
    return lb_fail(
        LB_EINVAL,
        "%s: max pool input %s has planes beyond INT32_MAX elements, "
        "which an int32_t argmax cannot index",
        who, text);
  return LB_OK;
}

lb_nchw lb_maxpool2d_output_shape(const lb_maxpool2d *pool, lb_nchw in) {
  int64_t padded = 2 * (int64_t)pool->padding;
  return (lb_nchw){in.n, in.c,
                   (in.h + padded - pool->kernel) / pool->stride + 1,
                   (in.w + padded - pool->kernel) / pool->stride + 1};
}

/* The input rows (or columns) [begin, end) under output row (or column)
 * `at`, clipped to [0, extent): the padding is never read, so it never wins.
 * Not empty, because padding <= kernel / 2. */
typedef struct window {
  int64_t begin, end;
} window;

static window window_at(const lb_maxpool2d *pool, int64_t at, int64_t extent) {
  int64_t begin = at * pool->stride - pool->padding;
  int64_t end = begin + pool->kernel;
  return (window){begin < 0 ? 0 : begin, end > extent ? extent : end};
}

/* The forward as one call of lb_parallel_for, by plane. */
typedef struct forward_job {
  const lb_maxpool2d *pool;
  lb_nchw in, out;
  const float *x;
  float *y;
  int32_t *argmax;
  int32_t chunks;
} forward_job;

/* The backward as one call of lb_parallel_for, by plane. */
typedef struct backward_job {
  lb_nchw in, out;
  const int32_t *argmax;
  const float *grad_y;
  float *grad_x;
  int32_t chunks;
} backward_job;

/* The maximum of one window and where it is. PyTorch's CPU loop: starting
 * from -inf at the window's first element, an element takes over when it
 * is greater (so the first of equal maxima stays) or NaN (so NaN wins). */
static void max_of_window(const float *plane, int64_t width, window rows,
                          window cols, float *max, int32_t *argmax) {
  int64_t best = rows.begin * width + cols.begin;
  float best_value = -INFINITY;
  for (int64_t r = rows.begin; r < rows.end; r++)
    for (int64_t c = cols.begin; c < cols.end; c++) {
      float v = plane[r * width + c];
      if (v > best_value || isnan(v)) {
        best_value = v;
        best = r * width + c;
      }
    }
  *max = best_value;
  *argmax = (int32_t)best;
}

static void forward_plane(const forward_job *job, int64_t plane) {
  lb_nchw in = job->in, out = job->out;
  const float *x = job->x + plane * in.h * in.w;
  float *y = job->y + plane * out.h * out.w;
  int32_t *argmax = job->argmax + plane * out.h * out.w;
  for (int64_t oh = 0; oh < out.h; oh++) {
    window rows = window_at(job->pool, oh, in.h);
    for (int64_t ow = 0; ow < out.w; ow++)
      max_of_window(x, in.w, rows, window_at(job->pool, ow, in.w),
                    &y[oh * out.w + ow], &argmax[oh * out.w + ow]);
  }
}

/* Zeroes the plane's grad_x and adds each grad_y at its argmax, in output
 * order, so overlapping windows always add up the same way. */
static void backward_plane(const backward_job *job, int64_t plane) {
  int64_t in_size = job->in.h * job->in.w, out_size = job->out.h * job->out.w;
  float *grad_x = job->grad_x + plane * in_size;
  const float *grad_y = job->grad_y + plane * out_size;
  const int32_t *argmax = job->argmax + plane * out_size;
  for (int64_t i = 0; i < in_size; i++) grad_x[i] = 0.0f;
  for (int64_t o = 0; o < out_size; o++) grad_x[argmax[o]] += grad_y[o];
}

static void forward_chunk(void *context, int32_t chunk) {
  const forward_job *job = context;
  int64_t planes = job->in.n * job->in.c;
  int64_t end = lb_chunk_begin(planes, chunk + 1, job->chunks);
  for (int64_t p = lb_chunk_begin(planes, chunk, job->chunks); p < end;
       p++)
    forward_plane(job, p);
}

static void backward_chunk(void *context, int32_t chunk) {
  const backward_job *job = context;
  int64_t planes = job->in.n * job->in.c;
  int64_t end = lb_chunk_begin(planes, chunk + 1, job->chunks);
  for (int64_t p = lb_chunk_begin(planes, chunk, job->chunks); p < end;
       p++)
    backward_plane(job, p);
}

void lb_maxpool2d_forward(const lb_maxpool2d *pool, lb_nchw in, const float *x,
                          float *y, int32_t *argmax) {
  forward_job job = {.pool = pool,
                     .in = in,
                     .out = lb_maxpool2d_output_shape(pool, in),
                     .x = x,
                     .y = y,
                     .argmax = argmax,
                     .chunks = lb_parallel_chunks(in.n * in.c, in.h * in.w)};
  lb_parallel_for(forward_chunk, &job, job.chunks);
}

void lb_maxpool2d_backward(const lb_maxpool2d *pool, lb_nchw in,
                           const int32_t *argmax, const float *grad_y,
                           float *grad_x) {
  backward_job job = {.in = in,
                      .out = lb_maxpool2d_output_shape(pool, in),
                      .argmax = argmax,
                      .grad_y = grad_y,
                      .grad_x = grad_x,
                      .chunks = lb_parallel_chunks(in.n * in.c, in.h * in.w)};
  lb_parallel_for(backward_chunk, &job, job.chunks);
}
