/* Tests of the core module: status codes, version, the per-thread error
 * message, the thread count, and the allocation hooks every module relies on
 * (including the fault-injection hooks the other tests are built on). */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/core_internal.h"
#include "lossbal/lossbal.h"
#include "test_support.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- status codes -------------------------------------------------------- */

typedef struct status_row {
  lb_status code;
  long long value;
  const char *name;
  const char *text;
} status_row;

/* The specification: every code, its fixed value, name and description. */
static const status_row all_statuses[] = {
    {LB_OK, 0, "LB_OK", "success"},
    {LB_EINVAL, 1, "LB_EINVAL", "invalid argument"},
    {LB_ENOMEM, 2, "LB_ENOMEM", "out of memory"},
    {LB_EIO, 3, "LB_EIO", "input/output error"},
    {LB_EFORMAT, 4, "LB_EFORMAT", "malformed or unrecognised data format"},
    {LB_ESTATE, 5, "LB_ESTATE",
     "object is not in a state that allows this call"},
    {LB_ENONFINITE, 6, "LB_ENONFINITE", "non-finite value (NaN or infinity)"},
    {LB_EUNSUPPORTED, 7, "LB_EUNSUPPORTED",
     "operation or option not supported"},
};

enum { STATUS_COUNT = sizeof all_statuses / sizeof all_statuses[0] };

static void test_status_codes_have_their_fixed_numeric_values(void **state) {
  (void)state;
  assert_int_equal(LB_OK, 0);
  assert_int_equal(LB_EINVAL, 1);
  assert_int_equal(LB_ENOMEM, 2);
  assert_int_equal(LB_EIO, 3);
  assert_int_equal(LB_EFORMAT, 4);
  assert_int_equal(LB_ESTATE, 5);
  assert_int_equal(LB_ENONFINITE, 6);
  assert_int_equal(LB_EUNSUPPORTED, 7);
  assert_int_equal(sizeof(lb_status), sizeof(int));
}

static void test_status_codes_are_numbered_in_order_without_gaps(
    void **state) {
  (void)state;
  assert_int_equal(STATUS_COUNT, 8);
  for (size_t i = 0; i < STATUS_COUNT; i++) {
    /* Append-only numbering: the ith code has the value i. */
    assert_int_equal(all_statuses[i].value, (long long)i);
    assert_int_equal((long long)all_statuses[i].code, all_statuses[i].value);
  }
}

static void test_status_string_describes_every_code(void **state) {
  (void)state;
  for (size_t i = 0; i < STATUS_COUNT; i++) {
    const char *text = lb_status_string(all_statuses[i].code);
    assert_non_null(text);
    assert_string_equal(text, all_statuses[i].text);
    assert_true(strlen(text) > 0);
    for (size_t j = 0; j < i; j++)
      assert_string_not_equal(text, lb_status_string(all_statuses[j].code));
  }
  assert_string_equal(lb_status_string(LB_OK), "success");
  assert_string_equal(lb_status_string(LB_EINVAL), "invalid argument");
  assert_string_equal(lb_status_string(LB_ENOMEM), "out of memory");
}

static void test_status_name_spells_every_code_as_in_the_header(void **state) {
  (void)state;
  for (size_t i = 0; i < STATUS_COUNT; i++) {
    const char *name = lb_status_name(all_statuses[i].code);
    assert_non_null(name);
    assert_string_equal(name, all_statuses[i].name);
  }
  assert_string_equal(lb_status_name(LB_OK), "LB_OK");
  assert_string_equal(lb_status_name(LB_ENONFINITE), "LB_ENONFINITE");
  assert_string_equal(lb_status_name(LB_EUNSUPPORTED), "LB_EUNSUPPORTED");
}

static void test_unknown_status_values_have_unknown_string_and_name(
    void **state) {
  (void)state;
  const lb_status unknown[] = {(lb_status)STATUS_COUNT, (lb_status)99,
                               (lb_status)-1, (lb_status)0x7fffffff};
  for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
    assert_string_equal(lb_status_string(unknown[i]), "unknown status");
    assert_string_equal(lb_status_name(unknown[i]), "LB_UNKNOWN");
  }
}

/* ---- version ------------------------------------------------------------- */

static void test_version_number_matches_the_header_macros(void **state) {
  (void)state;
  assert_int_equal(lb_version(), LB_VERSION_NUMBER);
  assert_int_equal(lb_version(), LB_VERSION_MAJOR * 10000 +
                                     LB_VERSION_MINOR * 100 + LB_VERSION_PATCH);
  assert_int_equal(lb_version() / 10000, LB_VERSION_MAJOR);
  assert_int_equal(lb_version() / 100 % 100, LB_VERSION_MINOR);
  assert_int_equal(lb_version() % 100, LB_VERSION_PATCH);
}

static void test_version_string_is_major_dot_minor_dot_patch(void **state) {
  (void)state;
  char expected[32];
  snprintf(expected, sizeof expected, "%d.%d.%d", LB_VERSION_MAJOR,
           LB_VERSION_MINOR, LB_VERSION_PATCH);
  assert_non_null(lb_version_string());
  assert_string_equal(lb_version_string(), expected);
}

/* ---- the last-error message ---------------------------------------------- */

static void test_failing_call_records_a_message_naming_the_problem(
    void **state) {
  (void)state;
  assert_fails_with(lb_set_num_threads(0), LB_EINVAL,
                    "lb_set_num_threads: num_threads = 0");
  assert_non_null(strstr(lb_last_error(), "[1, 1024]"));
}

static void test_clear_error_makes_last_error_empty(void **state) {
  (void)state;
  assert_int_equal(lb_set_num_threads(-5), LB_EINVAL);
  assert_string_not_equal(lb_last_error(), "");
  lb_clear_error();
  assert_non_null(lb_last_error());
  assert_string_equal(lb_last_error(), "");
  lb_clear_error(); /* clearing twice is harmless */
  assert_string_equal(lb_last_error(), "");
}

static void test_successful_call_leaves_the_last_error_in_place(void **state) {
  (void)state;
  assert_int_equal(lb_set_num_threads(2000), LB_EINVAL);
  char before[512];
  snprintf(before, sizeof before, "%s", lb_last_error());
  assert_non_null(strstr(before, "2000"));
  assert_int_equal(lb_set_num_threads(lb_get_num_threads()), LB_OK);
  assert_string_equal(lb_last_error(), before);
}

static void test_fail_formats_the_message_and_returns_the_status(void **state) {
  (void)state;
  lb_clear_error();
  assert_int_equal(lb_fail(LB_EIO, "load: %s line %d", "a.idx", 7), LB_EIO);
  assert_string_equal(lb_last_error(), "load: a.idx line 7");
  assert_int_equal(lb_fail(LB_EFORMAT, "second"), LB_EFORMAT);
  assert_string_equal(lb_last_error(), "second");
}

static void test_overlong_message_is_truncated_not_overflowed(void **state) {
  (void)state;
  char long_text[2000];
  memset(long_text, 'x', sizeof long_text - 1);
  long_text[sizeof long_text - 1] = '\0';
  assert_int_equal(lb_fail(LB_EINVAL, "%s", long_text), LB_EINVAL);
  size_t length = strlen(lb_last_error());
  assert_true(length > 100);
  assert_true(length < sizeof long_text - 1);
  assert_memory_equal(lb_last_error(), long_text, length);
}

typedef struct thread_report {
  char initial[512];
  lb_status status;
  char after_failure[512];
} thread_report;

static void *fail_on_another_thread(void *argument) {
  thread_report *report = argument;
  snprintf(report->initial, sizeof report->initial, "%s", lb_last_error());
  report->status = lb_set_num_threads(4096);
  snprintf(report->after_failure, sizeof report->after_failure, "%s",
           lb_last_error());
  return NULL;
}

static void test_last_error_is_per_thread(void **state) {
  (void)state;
  assert_int_equal(lb_set_num_threads(0), LB_EINVAL);
  char main_message[512];
  snprintf(main_message, sizeof main_message, "%s", lb_last_error());
  assert_non_null(strstr(main_message, "num_threads = 0"));

  thread_report report;
  memset(&report, 'z', sizeof report);
  pthread_t thread;
  assert_int_equal(pthread_create(&thread, NULL, fail_on_another_thread,
                                  &report),
                   0);
  assert_int_equal(pthread_join(thread, NULL), 0);

  /* A new thread starts with an empty message... */
  assert_string_equal(report.initial, "");
  /* ...records its own failure... */
  assert_int_equal(report.status, LB_EINVAL);
  assert_non_null(strstr(report.after_failure, "num_threads = 4096"));
  /* ...and does not touch the main thread's message. */
  assert_string_equal(lb_last_error(), main_message);
}

/* ---- thread count -------------------------------------------------------- */

/* Must run before any test that calls lb_set_num_threads() successfully: the
 * setting is process-wide and cannot be unset. */
static void test_num_threads_defaults_to_the_online_cpu_count(void **state) {
  (void)state;
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  int32_t expected = cpus < 1 ? 1 : cpus > 1024 ? 1024 : (int32_t)cpus;
  assert_true(lb_get_num_threads() >= 1);
  assert_int_equal(lb_get_num_threads(), expected);
}

static void test_set_num_threads_round_trips(void **state) {
  (void)state;
  assert_int_equal(lb_set_num_threads(3), LB_OK);
  assert_int_equal(lb_get_num_threads(), 3);
  assert_int_equal(lb_set_num_threads(1), LB_OK);
  assert_int_equal(lb_get_num_threads(), 1);
  assert_int_equal(lb_set_num_threads(2), LB_OK);
  assert_int_equal(lb_get_num_threads(), 2);
}

static void test_set_num_threads_accepts_the_upper_bound(void **state) {
  (void)state;
  assert_int_equal(lb_set_num_threads(1024), LB_OK);
  assert_int_equal(lb_get_num_threads(), 1024);
  assert_int_equal(lb_set_num_threads(1), LB_OK);
  assert_int_equal(lb_get_num_threads(), 1);
}

static void test_set_num_threads_rejects_out_of_range_and_keeps_setting(
    void **state) {
  (void)state;
  assert_int_equal(lb_set_num_threads(2), LB_OK);
  assert_fails_with(lb_set_num_threads(0), LB_EINVAL,
                    "lb_set_num_threads: num_threads = 0 is outside [1, 1024]");
  assert_int_equal(lb_get_num_threads(), 2);
  assert_fails_with(lb_set_num_threads(1025), LB_EINVAL,
                    "lb_set_num_threads: num_threads = 1025 is outside");
  assert_int_equal(lb_get_num_threads(), 2);
  assert_fails_with(lb_set_num_threads(-1), LB_EINVAL, "num_threads = -1");
  assert_fails_with(lb_set_num_threads(INT32_MIN), LB_EINVAL,
                    "num_threads = -2147483648");
  assert_fails_with(lb_set_num_threads(INT32_MAX), LB_EINVAL,
                    "num_threads = 2147483647");
  assert_int_equal(lb_get_num_threads(), 2);
}

/* ---- allocation and size arithmetic -------------------------------------- */

static void test_aligned_allocation_is_64_byte_aligned(void **state) {
  (void)state;
  const size_t sizes[] = {0, 1, 4, 63, 64, 65, 1000, 4096 + 4};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    unsigned char *block = lb_alloc_aligned(sizes[i]);
    assert_non_null(block);
    assert_int_equal((uintptr_t)block % 64, 0);
    if (sizes[i]) memset(block, 0xab, sizes[i]); /* ASan: really that big */
    lb_free_aligned(block);
  }
}

static void test_zeroed_allocation_is_all_zero(void **state) {
  (void)state;
  unsigned char *block = lb_alloc_zeroed(333);
  assert_non_null(block);
  for (size_t i = 0; i < 333; i++) assert_int_equal(block[i], 0);
  lb_free(block);
}

static void test_free_of_null_is_a_no_op(void **state) {
  (void)state;
  int64_t live = lb_fault_live_allocations();
  lb_free(NULL);
  lb_free_aligned(NULL);
  assert_int_equal(lb_fault_live_allocations(), live);
}

static void test_mul_size_detects_overflow_and_leaves_out_untouched(
    void **state) {
  (void)state;
  size_t product = 77;
  assert_true(lb_mul_size(6, 7, &product));
  assert_int_equal(product, 42);
  product = 77;
  assert_false(lb_mul_size(SIZE_MAX, 2, &product));
  assert_int_equal(product, 77);
  assert_false(lb_mul_size((size_t)1 << 32, (size_t)1 << 32, &product));
  assert_int_equal(product, 77);
  assert_true(lb_mul_size(SIZE_MAX, 1, &product));
  assert_true(product == SIZE_MAX);
}

static void test_mul_i64_detects_overflow_and_leaves_out_untouched(
    void **state) {
  (void)state;
  int64_t product = 77;
  assert_true(lb_mul_i64(-6, 7, &product));
  assert_int_equal(product, -42);
  product = 77;
  assert_false(lb_mul_i64(INT64_MAX, 2, &product));
  assert_int_equal(product, 77);
  assert_false(lb_mul_i64(INT64_MIN, -1, &product));
  assert_int_equal(product, 77);
  assert_false(lb_mul_i64((int64_t)1 << 32, (int64_t)1 << 31, &product));
  assert_int_equal(product, 77);
  assert_true(lb_mul_i64((int64_t)1 << 31, (int64_t)1 << 31, &product));
  assert_true(product == (int64_t)1 << 62);
}

/* ---- fault-injection hooks ----------------------------------------------- */

static void test_fault_injection_fails_exactly_the_nth_allocation(
    void **state) {
  (void)state;
  int64_t baseline = lb_fault_live_allocations();
  lb_fault_fail_nth_allocation(2);
  lb_clear_error();
  void *first = lb_alloc(16);
  void *second = lb_alloc_aligned(100);
  void *third = lb_alloc_zeroed(8);
  int64_t attempted = lb_fault_allocations_attempted();
  lb_fault_fail_nth_allocation(0);

  assert_non_null(first);
  assert_null(second);
  assert_non_null(third);
  assert_int_equal(attempted, 3);
  assert_non_null(strstr(lb_last_error(), "out of memory"));
  assert_non_null(strstr(lb_last_error(), "100 bytes"));
  assert_int_equal(lb_fault_live_allocations(), baseline + 2);

  lb_free(first);
  lb_free(third);
  assert_int_equal(lb_fault_live_allocations(), baseline);
}

static void test_fault_injection_first_allocation_of_each_kind_can_fail(
    void **state) {
  (void)state;
  int64_t baseline = lb_fault_live_allocations();
  lb_fault_fail_nth_allocation(1);
  assert_null(lb_alloc(1));
  lb_fault_fail_nth_allocation(1);
  assert_null(lb_alloc_zeroed(1));
  lb_fault_fail_nth_allocation(1);
  assert_null(lb_alloc_aligned(1));
  lb_fault_fail_nth_allocation(0);
  assert_int_equal(lb_fault_live_allocations(), baseline);
}

static void test_fault_injection_disabled_by_zero_or_negative(void **state) {
  (void)state;
  int64_t baseline = lb_fault_live_allocations();
  const int64_t settings[] = {0, -1, INT64_MIN};
  for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
    lb_fault_fail_nth_allocation(settings[i]);
    void *blocks[4];
    for (int j = 0; j < 4; j++) {
      blocks[j] = lb_alloc(8);
      assert_non_null(blocks[j]);
    }
    assert_int_equal(lb_fault_allocations_attempted(), 4);
    assert_int_equal(lb_fault_live_allocations(), baseline + 4);
    for (int j = 0; j < 4; j++) lb_free(blocks[j]);
  }
  lb_fault_fail_nth_allocation(0);
  assert_int_equal(lb_fault_live_allocations(), baseline);
}

static void test_fault_injection_resets_the_attempt_counter(void **state) {
  (void)state;
  lb_fault_fail_nth_allocation(0);
  lb_free(lb_alloc(4));
  lb_free(lb_alloc(4));
  assert_int_equal(lb_fault_allocations_attempted(), 2);
  lb_fault_fail_nth_allocation(0);
  assert_int_equal(lb_fault_allocations_attempted(), 0);
}

static void test_live_count_returns_to_baseline_after_frees(void **state) {
  (void)state;
  int64_t baseline = lb_fault_live_allocations();
  void *a = lb_alloc(10);
  void *b = lb_alloc_aligned(10);
  assert_int_equal(lb_fault_live_allocations(), baseline + 2);
  lb_free_aligned(b);
  assert_int_equal(lb_fault_live_allocations(), baseline + 1);
  lb_free(a);
  assert_int_equal(lb_fault_live_allocations(), baseline);
}

typedef struct fault_thread_report {
  int allocation_succeeded;
  int64_t attempted;
} fault_thread_report;

static void *allocate_on_another_thread(void *argument) {
  fault_thread_report *report = argument;
  void *block = lb_alloc(32);
  report->allocation_succeeded = block != NULL;
  report->attempted = lb_fault_allocations_attempted();
  lb_free(block);
  return NULL;
}

static void test_fault_injection_is_per_thread(void **state) {
  (void)state;
  lb_fault_fail_nth_allocation(1);
  fault_thread_report report = {0, -1};
  pthread_t thread;
  assert_int_equal(pthread_create(&thread, NULL, allocate_on_another_thread,
                                  &report),
                   0);
  assert_int_equal(pthread_join(thread, NULL), 0);
  /* The other thread was not armed, so its allocation succeeded... */
  assert_true(report.allocation_succeeded);
  assert_int_equal(report.attempted, 1);
  /* ...and this thread's armed failure is still pending. */
  assert_int_equal(lb_fault_allocations_attempted(), 0);
  assert_null(lb_alloc(32));
  lb_fault_fail_nth_allocation(0);
}

static void test_allocation_failure_helper_sees_every_allocation(
    void **state) {
  (void)state;
  /* A fake "call" that makes three allocations and cleans up after a
   * failure: the helper must fail each of the three in turn, then see the
   * fourth run succeed. */
  int runs = 0;
  void *blocks[3] = {NULL, NULL, NULL};
  assert_each_allocation_failure_is_clean(
      {
        runs++;
        status_ = LB_OK;
        for (int i = 0; i < 3; i++) {
          blocks[i] = lb_alloc(8);
          if (!blocks[i]) {
            for (int j = 0; j < i; j++) lb_free(blocks[j]);
            status_ = LB_ENOMEM;
            break;
          }
        }
      },
      {
        for (int i = 0; i < 3; i++) lb_free(blocks[i]);
      });
  assert_int_equal(runs, 4);
}

/* ---- lb_parallel_for ------------------------------------------------------ */

enum { PARALLEL_MAX_CHUNKS = 64 };

typedef struct chunk_record {
  atomic_int runs[PARALLEL_MAX_CHUNKS];
  pthread_t runner[PARALLEL_MAX_CHUNKS];
} chunk_record;

static void record_chunk(void *context, int32_t chunk) {
  chunk_record *record = context;
  atomic_fetch_add(&record->runs[chunk], 1);
  record->runner[chunk] = pthread_self();
}

static void assert_each_chunk_ran_once(const chunk_record *record,
                                       int32_t chunks) {
  for (int32_t i = 0; i < PARALLEL_MAX_CHUNKS; i++)
    assert_int_equal(atomic_load(&record->runs[i]), i < chunks ? 1 : 0);
}

static void test_parallel_for_runs_every_chunk_exactly_once(void **state) {
  (void)state;
  assert_int_equal(lb_set_num_threads(4), LB_OK);
  for (int32_t chunks = 0; chunks <= PARALLEL_MAX_CHUNKS; chunks += 7) {
    chunk_record record = {0};
    lb_parallel_for(record_chunk, &record, chunks);
    assert_each_chunk_ran_once(&record, chunks);
  }
}

static void test_parallel_for_runs_chunk_zero_on_the_caller(void **state) {
  (void)state;
  chunk_record record = {0};
  lb_parallel_for(record_chunk, &record, 3);
  assert_each_chunk_ran_once(&record, 3);
  assert_true(pthread_equal(record.runner[0], pthread_self()));
}

static void test_parallel_for_uses_other_threads_for_other_chunks(
    void **state) {
  (void)state;
  /* Workers may be refused by the system, but not on a test machine. */
  chunk_record record = {0};
  lb_parallel_for(record_chunk, &record, 2);
  assert_each_chunk_ran_once(&record, 2);
  assert_false(pthread_equal(record.runner[1], pthread_self()));
}

/* A chunk that itself asks for parallel work: the inner call finds the pool
 * busy and runs its chunks on the calling thread. */
typedef struct nested_record {
  chunk_record inner[4];
} nested_record;

static void run_nested_job(void *context, int32_t chunk) {
  nested_record *record = context;
  lb_parallel_for(record_chunk, &record->inner[chunk], 5);
}

static void test_parallel_for_nested_call_runs_inline(void **state) {
  (void)state;
  nested_record record;
  memset(&record, 0, sizeof record);
  lb_parallel_for(run_nested_job, &record, 4);
  for (int i = 0; i < 4; i++) assert_each_chunk_ran_once(&record.inner[i], 5);
}

/* Two application threads using the pool at once: one gets the workers, the
 * other runs its chunks itself; both complete every chunk. */
static void *run_many_jobs(void *argument) {
  int *failures = argument;
  for (int job = 0; job < 200; job++) {
    chunk_record record = {0};
    lb_parallel_for(record_chunk, &record, 1 + job % 8);
    for (int32_t i = 0; i < 1 + job % 8; i++)
      if (atomic_load(&record.runs[i]) != 1) (*failures)++;
  }
  return NULL;
}

static void test_parallel_for_from_two_threads_at_once(void **state) {
  (void)state;
  int failures[2] = {0, 0};
  pthread_t other;
  assert_int_equal(pthread_create(&other, NULL, run_many_jobs, &failures[1]), 0);
  run_many_jobs(&failures[0]);
  assert_int_equal(pthread_join(other, NULL), 0);
  assert_int_equal(failures[0], 0);
  assert_int_equal(failures[1], 0);
}

static void test_chunks_tile_the_items_evenly(void **state) {
  (void)state;
  const int64_t items[4] = {1, 7, 64, 1000003};
  for (int i = 0; i < 4; i++)
    for (int32_t chunks = 1; chunks <= 5 && chunks <= items[i]; chunks++) {
      assert_int_equal(lb_chunk_begin(items[i], 0, chunks), 0);
      assert_int_equal(lb_chunk_begin(items[i], chunks, chunks),
                       items[i]);
      for (int32_t c = 0; c < chunks; c++) {
        int64_t size = lb_chunk_begin(items[i], c + 1, chunks) -
                       lb_chunk_begin(items[i], c, chunks);
        assert_true(size == items[i] / chunks || size == items[i] / chunks + 1);
      }
    }
  assert_int_equal(lb_parallel_chunks(1, 1), 1);
  assert_int_equal(lb_parallel_chunks(3, 1 << 20),
                   lb_get_num_threads() < 3 ? lb_get_num_threads() : 3);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      /* First: the default is only observable before any successful set. */
      cmocka_unit_test(test_num_threads_defaults_to_the_online_cpu_count),

      cmocka_unit_test(test_status_codes_have_their_fixed_numeric_values),
      cmocka_unit_test(test_status_codes_are_numbered_in_order_without_gaps),
      cmocka_unit_test(test_status_string_describes_every_code),
      cmocka_unit_test(test_status_name_spells_every_code_as_in_the_header),
      cmocka_unit_test(
          test_unknown_status_values_have_unknown_string_and_name),

      cmocka_unit_test(test_version_number_matches_the_header_macros),
      cmocka_unit_test(test_version_string_is_major_dot_minor_dot_patch),

      cmocka_unit_test(test_failing_call_records_a_message_naming_the_problem),
      cmocka_unit_test(test_clear_error_makes_last_error_empty),
      cmocka_unit_test(test_successful_call_leaves_the_last_error_in_place),
      cmocka_unit_test(test_fail_formats_the_message_and_returns_the_status),
      cmocka_unit_test(test_overlong_message_is_truncated_not_overflowed),
      cmocka_unit_test(test_last_error_is_per_thread),

      cmocka_unit_test(test_set_num_threads_round_trips),
      cmocka_unit_test(test_set_num_threads_accepts_the_upper_bound),
      cmocka_unit_test(
          test_set_num_threads_rejects_out_of_range_and_keeps_setting),

      cmocka_unit_test(test_aligned_allocation_is_64_byte_aligned),
      cmocka_unit_test(test_zeroed_allocation_is_all_zero),
      cmocka_unit_test(test_free_of_null_is_a_no_op),
      cmocka_unit_test(
          test_mul_size_detects_overflow_and_leaves_out_untouched),
      cmocka_unit_test(test_mul_i64_detects_overflow_and_leaves_out_untouched),

      cmocka_unit_test(test_fault_injection_fails_exactly_the_nth_allocation),
      cmocka_unit_test(
          test_fault_injection_first_allocation_of_each_kind_can_fail),
      cmocka_unit_test(test_fault_injection_disabled_by_zero_or_negative),
      cmocka_unit_test(test_fault_injection_resets_the_attempt_counter),
      cmocka_unit_test(test_live_count_returns_to_baseline_after_frees),
      cmocka_unit_test(test_fault_injection_is_per_thread),
      cmocka_unit_test(test_allocation_failure_helper_sees_every_allocation),

      cmocka_unit_test(test_parallel_for_runs_every_chunk_exactly_once),
      cmocka_unit_test(test_parallel_for_runs_chunk_zero_on_the_caller),
      cmocka_unit_test(test_parallel_for_uses_other_threads_for_other_chunks),
      cmocka_unit_test(test_parallel_for_nested_call_runs_inline),
      cmocka_unit_test(test_parallel_for_from_two_threads_at_once),
      cmocka_unit_test(test_chunks_tile_the_items_evenly),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
