/* The residual add of a block (see layers.h), cut into ranges of elements. */
#include "layers.h"

#include "../core/core_internal.h"

typedef struct add_job {
  int64_t count;
  const float *a, *b;
  float *out;
  int32_t chunks;
} add_job;

static void add_chunk(void *context, int32_t chunk) {
  const add_job *job = context;
  const float *a = job->a, *b = job->b;
  float *out = job->out;
  int64_t end = lb_chunk_begin(job->count, chunk + 1, job->chunks);
  for (int64_t i = lb_chunk_begin(job->count, chunk, job->chunks);
       i < end; i++)
    out[i] = a[i] + b[i];
}

void lb_residual_add(int64_t count, const float *a, const float *b,
                     float *out) {
  add_job job = {count, a, b, out, lb_parallel_chunks(count, 1)};
  lb_parallel_for(add_chunk, &job, job.chunks);
}
