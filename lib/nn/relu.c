/* ReLU forward and backward (see layers.h), cut into ranges of elements.
 * The loops are vector kernels (core/vector_kernel.h). */
#include "layers.h"

#include "../core/core_internal.h"
#include "../core/vector_kernel.h"

#if defined(__GNUC__) && !defined(__clang__)
/* Lets GCC turn the comparisons below into vector selects. */
#  pragma GCC optimize("no-trapping-math")
#endif

/* `x < 0` rather than `x > 0`, so NaN passes as it does in PyTorch. out
 * may be in. */
static LB_VECTOR_KERNEL void relu_kernel(const float *in, float *out,
                                         int64_t count) {
  LB_ELEMENTWISE_LOOP
  for (int64_t i = 0; i < count; i++)
    out[i] = in[i] < 0.0f ? 0.0f : in[i];
}

/* out = relu(out + residual), the sum first, as lb_residual_add() then
 * relu_kernel(). */
static LB_VECTOR_KERNEL void add_relu_kernel(const float *restrict residual,
                                             float *restrict out,
                                             int64_t count) {
  for (int64_t i = 0; i < count; i++) {
    float sum = out[i] + residual[i];
    out[i] = sum < 0.0f ? 0.0f : sum;
  }
}

void lb_add_relu_here(int64_t count, const float *residual, float *out) {
  if (residual)
    add_relu_kernel(residual, out, count);
  else
    relu_kernel(out, out, count);
}

/* PyTorch's threshold_backward: the gradient stops where y <= 0. grad_x
 * may be grad_y. */
static LB_VECTOR_KERNEL void relu_mask_kernel(const float *y,
                                              const float *grad_y,
                                              float *grad_x, int64_t count) {
  LB_ELEMENTWISE_LOOP
  for (int64_t i = 0; i < count; i++)
    grad_x[i] = y[i] <= 0.0f ? 0.0f : grad_y[i];
}

/* One call of lb_parallel_for. `in` is x for the forward and the saved y
 * (or x) for the backward, which alone reads grad_y. */
typedef struct relu_job {
  int64_t count;
  const float *in, *grad_y;
  float *out;
  int32_t chunks;
} relu_job;

static void forward_chunk(void *context, int32_t chunk) {
  const relu_job *job = context;
  int64_t begin = lb_chunk_begin(job->count, chunk, job->chunks);
  int64_t end = lb_chunk_begin(job->count, chunk + 1, job->chunks);
  relu_kernel(job->in + begin, job->out + begin, end - begin);
}

static void backward_chunk(void *context, int32_t chunk) {
  const relu_job *job = context;
  int64_t begin = lb_chunk_begin(job->count, chunk, job->chunks);
  int64_t end = lb_chunk_begin(job->count, chunk + 1, job->chunks);
  relu_mask_kernel(job->in + begin, job->grad_y + begin, job->out + begin,
                   end - begin);
}

void lb_relu_forward(int64_t count, const float *x, float *y) {
  relu_job job = {count, x, NULL, y, lb_parallel_chunks(count, 1)};
  lb_parallel_for(forward_chunk, &job, job.chunks);
}

void lb_relu_backward(int64_t count, const float *y, const float *grad_y,
                      float *grad_x) {
  relu_job job = {count, y, grad_y, grad_x, lb_parallel_chunks(count, 1)};
  lb_parallel_for(backward_chunk, &job, job.chunks);
}
