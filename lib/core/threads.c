/* The process-wide thread count, shared with OpenBLAS (see gemm.c). */
#include "core_internal.h"

#include <stdatomic.h>
#include <unistd.h>

#define LB_MAX_THREADS 1024

/* 0 means "not set": use the number of online CPUs. */
static atomic_int configured_threads;

static int32_t online_cpu_count(void) {
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  if (cpus < 1) return 1;
  if (cpus > LB_MAX_THREADS) return LB_MAX_THREADS;
  return (int32_t)cpus;
}

lb_status lb_set_num_threads(int32_t num_threads) {
  if (num_threads < 1 || num_threads > LB_MAX_THREADS)
    return lb_fail(LB_EINVAL,
                   "lb_set_num_threads: num_threads = %d is outside [1, %d]",
                   (int)num_threads, LB_MAX_THREADS);
  atomic_store(&configured_threads, num_threads);
  lb_gemm_threads_changed(num_threads);
  return LB_OK;
}

int32_t lb_get_num_threads(void) {
  int32_t configured = atomic_load(&configured_threads);
  return configured > 0 ? configured : online_cpu_count();
}
