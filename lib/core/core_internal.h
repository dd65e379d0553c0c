/*
 * Internal helpers shared by every module: error reporting, allocation and
 * overflow-checked size arithmetic. Never installed.
 */
#ifndef LOSSBAL_CORE_INTERNAL_H
#define LOSSBAL_CORE_INTERNAL_H

#include "lossbal/lossbal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#  define LB_PRINTF_LIKE(fmt_index, first_arg) \
     __attribute__((format(printf, fmt_index, first_arg)))
#else
#  define LB_PRINTF_LIKE(fmt_index, first_arg)
#endif

/* The longest message lb_last_error() keeps, with its terminator (longer
 * ones are cut). */
#define LB_ERROR_MESSAGE_CAPACITY 512

/* Records a message for lb_last_error() and returns status, so a failing
 * check reads `return lb_fail(LB_EINVAL, "f: x is NULL");`. */
lb_status lb_fail(lb_status status, const char *fmt, ...) LB_PRINTF_LIKE(2, 3);

/* Allocation. Every allocation of the library goes through these, so a test
 * build can make any one of them fail. On failure they return NULL after
 * recording "out of memory (N bytes)" for lb_last_error(). */
void *lb_alloc(size_t bytes);
void *lb_alloc_zeroed(size_t bytes);
/* 64-byte aligned; release with lb_free_aligned(). */
void *lb_alloc_aligned(size_t bytes);
void lb_free(void *block);
void lb_free_aligned(void *block);

/* Overflow-checked size arithmetic: return false and leave *out untouched
 * when the result does not fit. */
bool lb_mul_size(size_t a, size_t b, size_t *out);
bool lb_mul_i64(int64_t a, int64_t b, int64_t *out);

/* Reads the whole file at path into a new lb_alloc block (*data, *size),
 * refusing files larger than limit bytes (LB_EFORMAT). Errors are LB_EIO
 * naming the path and strerror, or LB_ENOMEM; messages start with who. */
lb_status lb_read_file(const char *who, const char *path, size_t limit,
                       uint8_t **data, size_t *size);

/* Single-precision GEMM, row-major: C = alpha op(A) op(B) + beta C with C
 * [m, n], op(A) [m, k], op(B) [k, n]; every product of the library goes
 * through here (gemm.c decides how it is threaded). Extents fit int. */
void lb_sgemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n,
              int64_t k, float alpha, const float *a, int64_t lda,
              const float *b, int64_t ldb, float beta, float *c,
              int64_t ldc);

/* The same product on the calling thread alone, one cblas_sgemm: for a
 * caller that already runs one product per library thread (conv2d.c's
 * ranges of images). Meant for pool mode, where OpenBLAS is at one thread;
 * under LOSSBAL_GEMM=openblas OpenBLAS would still thread it. */
void lb_sgemm_serial(bool transpose_a, bool transpose_b, int64_t m,
                     int64_t n, int64_t k, float alpha, const float *a,
                     int64_t lda, const float *b, int64_t ldb, float beta,
                     float *c, int64_t ldc);

/* True when products run on the library's pool with OpenBLAS at one thread
 * (the default; LOSSBAL_GEMM=openblas turns it off); then a caller may also
 * run independent cblas_sgemm calls side by side on the pool. */
bool lb_gemm_on_pool(void);

/* lb_set_num_threads() tells the GEMM layer of a new thread count. */
void lb_gemm_threads_changed(int32_t threads);

/* True when the byte ranges [a, a + a_bytes) and [b, b + b_bytes) share a
 * byte: the check before a kernel that must not write over its input. */
static inline bool lb_ranges_overlap(const void *a, size_t a_bytes,
                                     const void *b, size_t b_bytes) {
  uintptr_t a_begin = (uintptr_t)a, b_begin = (uintptr_t)b;
  return a_begin < b_begin + b_bytes && b_begin < a_begin + a_bytes;
}

/* Runs task(context, chunk) once for every chunk in [0, chunks), spread over
 * the calling thread and the library's worker threads, and returns when all
 * have finished. Chunks must be independent of each other. Never fails:
 * when workers cannot be had (the pool is busy with another job, a chunk
 * calls this itself, or the system refuses a thread) the caller runs the
 * chunks itself. The caller picks `chunks`, normally lb_get_num_threads(). */
typedef void (*lb_parallel_task)(void *context, int32_t chunk);
void lb_parallel_for(lb_parallel_task task, void *context, int32_t chunks);

/* The fewest floats worth a chunk of their own: tens of microseconds of
 * work, well above the cost of handing it to a waiting thread. */
#define LB_PARALLEL_MIN_CHUNK_ELEMENTS 32768

/* How many chunks `items` independent items of `item_elements` floats each
 * are worth: one per library thread, but none smaller than
 * LB_PARALLEL_MIN_CHUNK_ELEMENTS floats, and never more than items. At
 * least 1. items * item_elements must fit in int64_t (it is a tensor's
 * size). */
int32_t lb_parallel_chunks(int64_t items, int64_t item_elements);

/* The first item of `chunk` when `items` items are cut into `chunks` ranges
 * as even as can be; chunk `chunks` gives `items`, so chunk i covers
 * [lb_chunk_begin(items, i, chunks), lb_chunk_begin(items, i + 1, chunks)). */
int64_t lb_chunk_begin(int64_t items, int32_t chunk, int32_t chunks);

/* sum[i] += parts[0][i], then parts[1][i], ... for i in [0, floats), split
 * over the pool by slices. Each element adds the parts in the same order
 * whatever the slicing, so the result does not depend on the thread count:
 * how per-thread partial sums (weight gradients) are combined. */
void lb_add_parts(float *sum, const float *const *parts, int32_t count,
                  int64_t floats);

#ifdef LB_FAULT_INJECTION
/* Test builds only (the lossbal_testable library). Thread-local. */

/* Makes the nth allocation from now fail (1 = the next one); 0 disables. */
void lb_fault_fail_nth_allocation(int64_t nth);
/* Allocations that succeeded and are not yet freed, on this thread. */
int64_t lb_fault_live_allocations(void);
/* Allocations attempted since the last lb_fault_fail_nth_allocation(). */
int64_t lb_fault_allocations_attempted(void);
#endif

#endif /* LOSSBAL_CORE_INTERNAL_H */
