/* Global average pooling, forward and backward (see layers.h), cut by
 * (n, c) plane. */
#include "layers.h"

#include "../core/core_internal.h"

/* One call of lb_parallel_for over the (n, c) planes: the forward reads x
 * and writes y, the backward reads grad_y and writes grad_x. */
typedef struct avgpool_job {
  int64_t plane_count, plane_size;
  const float *x, *grad_y;
  float *y, *grad_x;
  int32_t chunks;
} avgpool_job;

static void forward_chunk(void *context, int32_t chunk) {
  const avgpool_job *job = context;
  int64_t end = lb_chunk_begin(job->plane_count, chunk + 1, job->chunks);
  for (int64_t p = lb_chunk_begin(job->plane_count, chunk, job->chunks);
       p < end; p++) {
    const float *x = job->x + p * job->plane_size;
    double sum = 0.0;
    for (int64_t i = 0; i < job->plane_size; i++) sum += x[i];
    job->y[p] = (float)(sum / (double)job->plane_size);
  }
}

static void backward_chunk(void *context, int32_t chunk) {
  const avgpool_job *job = context;
  int64_t end = lb_chunk_begin(job->plane_count, chunk + 1, job->chunks);
  for (int64_t p = lb_chunk_begin(job->plane_count, chunk, job->chunks);
       p < end; p++) {
    float *grad_x = job->grad_x + p * job->plane_size;
    float share = (float)((double)job->grad_y[p] / (double)job->plane_size);
    for (int64_t i = 0; i < job->plane_size; i++) grad_x[i] = share;
  }
}

static avgpool_job job_for(lb_nchw in) {
  int64_t plane_count = in.n * in.c, plane_size = in.h * in.w;
  return (avgpool_job){.plane_count = plane_count,
                       .plane_size = plane_size,
                       .chunks = lb_parallel_chunks(plane_count, plane_size)};
}

void lb_global_avgpool_forward(lb_nchw in, const float *x, float *y) {
  avgpool_job job = job_for(in);
  job.x = x;
  job.y = y;
  lb_parallel_for(forward_chunk, &job, job.chunks);
}

void lb_global_avgpool_backward(lb_nchw in, const float *grad_y,
                                float *grad_x) {
  avgpool_job job = job_for(in);
  job.grad_y = grad_y;
  job.grad_x = grad_x;
  lb_parallel_for(backward_chunk, &job, job.chunks);
}
