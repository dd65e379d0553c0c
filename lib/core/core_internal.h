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
