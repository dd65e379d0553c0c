/* Helpers shared by the CMocka tests. Include after <cmocka.h>. */
#ifndef LOSSBAL_TEST_SUPPORT_H
#define LOSSBAL_TEST_SUPPORT_H

#include "core/core_internal.h"
#include "lossbal/lossbal.h"

#include <string.h>

/* Asserts that `call` returned `expected` and that lb_last_error() contains
 * `fragment`, so a test checks both the code and that the message names the
 * problem. */
#define assert_fails_with(call, expected, fragment)                         \
  do {                                                                      \
    lb_clear_error();                                                       \
    lb_status status_ = (call);                                             \
    assert_int_equal(status_, (expected));                                  \
    if (strstr(lb_last_error(), (fragment)) == NULL)                        \
      fail_msg("lb_last_error() is \"%s\", expected it to mention \"%s\"",  \
               lb_last_error(), (fragment));                                \
  } while (0)

/* Runs `body` (which sets `status_` to the result of the call under test)
 * with the 1st, 2nd, ... allocation failing in turn, until a run needs no
 * failing allocation. Each failing run must return LB_ENOMEM, say "out of
 * memory", and leave no allocation live; `cleanup` then runs, and must free
 * whatever a successful run made. */
#define assert_each_allocation_failure_is_clean(body, cleanup)              \
  do {                                                                      \
    for (int64_t nth_ = 1;; nth_++) {                                       \
      int64_t live_before_ = lb_fault_live_allocations();                   \
      lb_fault_fail_nth_allocation(nth_);                                   \
      lb_status status_ = LB_OK;                                            \
      body;                                                                 \
      int64_t attempted_ = lb_fault_allocations_attempted();                \
      lb_fault_fail_nth_allocation(0);                                      \
      if (attempted_ < nth_) {                                              \
        assert_int_equal(status_, LB_OK);                                   \
        cleanup;                                                            \
        assert_int_equal(lb_fault_live_allocations(), live_before_);        \
        break;                                                              \
      }                                                                     \
      assert_int_equal(status_, LB_ENOMEM);                                 \
      assert_non_null(strstr(lb_last_error(), "out of memory"));            \
      assert_int_equal(lb_fault_live_allocations(), live_before_);          \
    }                                                                       \
  } while (0)

#endif /* LOSSBAL_TEST_SUPPORT_H */
