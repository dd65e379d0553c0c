/* ReLU forward and backward (see layers.h), cut into ranges of elements. */
#include "layers.h"

#include "../core/core_internal.h"

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
  const float *x = job->in;
  float *y = job->out;
  int64_t end = lb_chunk_begin(job->count, chunk + 1, job->chunks);
  /* `x < 0` rather than `x > 0`, so NaN passes as it does in PyTorch. */
  for (int64_t i = lb_chunk_begin(job->count, chunk, job->chunks);
       i < end; i++)
    y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

static void backward_chunk(void *context, int32_t chunk) {
  const relu_job *job = context;
  const float *y = job->in, *grad_y = job->grad_y;
  float *grad_x = job->out;
  int64_t end = lb_chunk_begin(job->count, chunk + 1, job->chunks);
  /* PyTorch's threshold_backward: the gradient stops where y <= 0. */
  for (int64_t i = lb_chunk_begin(job->count, chunk, job->chunks);
       i < end; i++)
    grad_x[i] = y[i] <= 0.0f ? 0.0f : grad_y[i];
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
