/* The per-thread last-error message behind lb_last_error(). */
#include "core_internal.h"

#include <stdarg.h>
#include <stdio.h>

/* LB_ERROR_MESSAGE_CAPACITY (core_internal.h): long enough for a function
 * name, an argument and a few numbers; longer messages are truncated,
 * never overflowed. */
static _Thread_local char last_error_message[LB_ERROR_MESSAGE_CAPACITY];

lb_status lb_fail(lb_status status, const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  vsnprintf(last_error_message, sizeof last_error_message, fmt, args);
  va_end(args);
  return status;
}

const char *lb_last_error(void) { return last_error_message; }

void lb_clear_error(void) { last_error_message[0] = '\0'; }
