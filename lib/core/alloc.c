/* Allocation and overflow-checked size arithmetic.
 *
 * In test builds (LB_FAULT_INJECTION) every allocation passes a counter that
 * can make the nth one fail, and live allocations are counted, so tests can
 * fail each allocation of a call in turn and check that nothing leaks. */
#include "core_internal.h"

#include <stdlib.h>
#include <string.h>

#define LB_ALIGNMENT 64

#ifdef LB_FAULT_INJECTION
static _Thread_local int64_t fault_fail_at;   /* 0: never */
static _Thread_local int64_t fault_attempted;
static _Thread_local int64_t fault_live;

void lb_fault_fail_nth_allocation(int64_t nth) {
  fault_fail_at = nth > 0 ? nth : 0;
  fault_attempted = 0;
}

int64_t lb_fault_live_allocations(void) { return fault_live; }

int64_t lb_fault_allocations_attempted(void) { return fault_attempted; }

/* True when this allocation is the one chosen to fail. */
static bool fault_should_fail(void) {
  fault_attempted++;
  return fault_fail_at > 0 && fault_attempted == fault_fail_at;
}

static void *fault_count_live(void *block) {
  if (block) fault_live++;
  return block;
}

static void fault_count_free(const void *block) {
  if (block) fault_live--;
}
#else
static bool fault_should_fail(void) { return false; }
static void *fault_count_live(void *block) { return block; }
static void fault_count_free(const void *block) { (void)block; }
#endif

static void *report_out_of_memory(size_t bytes) {
  lb_fail(LB_ENOMEM, "out of memory allocating %zu bytes", bytes);
  return NULL;
}

void *lb_alloc(size_t bytes) {
  if (fault_should_fail()) return report_out_of_memory(bytes);
  void *block = malloc(bytes ? bytes : 1);
  if (!block) return report_out_of_memory(bytes);
  return fault_count_live(block);
}

void *lb_alloc_zeroed(size_t bytes) {
  void *block = lb_alloc(bytes);
  if (block) memset(block, 0, bytes);
  return block;
}

void *lb_alloc_aligned(size_t bytes) {
  if (fault_should_fail()) return report_out_of_memory(bytes);
  /* aligned_alloc wants a multiple of the alignment. */
  size_t rounded = 0;
  if (bytes > SIZE_MAX - (LB_ALIGNMENT - 1)) return report_out_of_memory(bytes);
  rounded = (bytes + LB_ALIGNMENT - 1) / LB_ALIGNMENT * LB_ALIGNMENT;
  if (rounded == 0) rounded = LB_ALIGNMENT;
  void *block = aligned_alloc(LB_ALIGNMENT, rounded);
  if (!block) return report_out_of_memory(bytes);
  return fault_count_live(block);
}

void lb_free(void *block) {
  fault_count_free(block);
  free(block);
}

void lb_free_aligned(void *block) {
  fault_count_free(block);
  free(block);
}

bool lb_mul_size(size_t a, size_t b, size_t *out) {
  size_t product;
  if (__builtin_mul_overflow(a, b, &product)) return false;
  *out = product;
  return true;
}

bool lb_mul_i64(int64_t a, int64_t b, int64_t *out) {
  int64_t product;
  if (__builtin_mul_overflow(a, b, &product)) return false;
  *out = product;
  return true;
}
