/*
 * liblossbal: training classifiers on class-imbalanced data.
 *
 * This is the library's umbrella header. It declares the core API (version,
 * status codes, error messages, threads) and then includes every other public
 * header, so `#include <lossbal/lossbal.h>` is all a user needs.
 *
 * ABI rules, for users and packagers:
 *  - every exported name starts with `lb_` (macros and enumerators `LB_`);
 *  - objects are opaque handles created by `lb_X_create(..., lb_X **out)` and
 *    released by `lb_X_free()`, which accepts NULL;
 *  - every fallible call returns an ::lb_status; on failure its outputs are left
 *    untouched, nothing leaks, and lb_last_error() says what was wrong;
 *  - enum values are explicit and append-only: a value is never reused.
 */
#ifndef LOSSBAL_LOSSBAL_H
#define LOSSBAL_LOSSBAL_H

#include <stdint.h>

/** @defgroup core Core: version, status codes, errors, threads
 *  @{ */

/** Marks a declaration as part of the exported ABI. Everything else in the
 *  library is built with hidden visibility. */
#if defined(_WIN32) || defined(__CYGWIN__)
#  if defined(LOSSBAL_BUILDING_SHARED)
#    define LB_API __declspec(dllexport)
#  elif defined(LOSSBAL_STATIC)
#    define LB_API
#  else
#    define LB_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__) && __GNUC__ >= 4
#  define LB_API __attribute__((visibility("default")))
#else
#  define LB_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** Major version: bumped on an ABI break; it is the SONAME's number. */
#define LB_VERSION_MAJOR 1
/** Minor version: bumped when functions or enum values are added. */
#define LB_VERSION_MINOR 0
/** Patch version: bumped for fixes that change no interface. */
#define LB_VERSION_PATCH 0
/** The version as one number, MAJOR * 10000 + MINOR * 100 + PATCH, the value
 *  lb_version() returns. */
#define LB_VERSION_NUMBER \
  (LB_VERSION_MAJOR * 10000 + LB_VERSION_MINOR * 100 + LB_VERSION_PATCH)

/**
 * Result of every fallible call. ::LB_OK is 0; every other value is an error.
 *
 * Values are fixed and append-only: a new code is added at the end with the
 * next value, and no code is ever removed or renumbered.
 */
typedef enum lb_status {
  LB_OK = 0,           /**< Success. */
  LB_EINVAL = 1,       /**< An argument is NULL, out of range or inconsistent. */
  LB_ENOMEM = 2,       /**< An allocation failed. */
  LB_EIO = 3,          /**< Reading or writing a file failed. */
  LB_EFORMAT = 4,      /**< Data is malformed or in an unknown format. */
  LB_ESTATE = 5,       /**< The object is not in a state that allows the call. */
  LB_ENONFINITE = 6,   /**< An input holds NaN or infinity. */
  LB_EUNSUPPORTED = 7  /**< The operation or option is not supported. */
} lb_status;

/**
 * Describes a status code in a few words ("invalid argument").
 *
 * @param status any value, known or not.
 * @return a static, never-NULL string; "unknown status" for a value that is
 *         not a status code. Never fails.
 */
LB_API const char *lb_status_string(lb_status status);

/**
 * Names a status code as it is spelled in this header ("LB_EINVAL").
 *
 * @param status any value, known or not.
 * @return a static, never-NULL string; "LB_UNKNOWN" for an unknown value.
 */
LB_API const char *lb_status_name(lb_status status);

/**
 * The message of the last failure on the calling thread.
 *
 * Every call that returns an error status first records a message that names
 * what was wrong: the function, the argument, the row or the file
 * ("lb_tensor_create: shape[1] = -3 must be positive"). A successful call does
 * not clear it; lb_clear_error() does.
 *
 * @return a thread-local string owned by the library, valid until the next
 *         failing call on this thread; "" when nothing has failed yet.
 *         Never NULL.
 */
LB_API const char *lb_last_error(void);

/** Clears the calling thread's last error message, so lb_last_error() returns
 *  "". Never fails. */
LB_API void lb_clear_error(void);

/**
 * The version of the library actually linked, as
 * MAJOR * 10000 + MINOR * 100 + PATCH. Compare it with ::LB_VERSION_NUMBER to
 * detect a header/library mismatch. Never fails.
 */
LB_API uint32_t lb_version(void);

/** The version of the library actually linked, as "MAJOR.MINOR.PATCH".
 *  A static string; never NULL, never fails. */
LB_API const char *lb_version_string(void);

/**
 * Sets how many threads the library's kernels may use, OpenBLAS included.
 *
 * Process-wide. Until it is called the library uses one thread per online CPU.
 *
 * @param num_threads at least 1 and at most 1024.
 * @return ::LB_OK, or ::LB_EINVAL when @p num_threads is out of range (the
 *         setting is then unchanged).
 */
LB_API lb_status lb_set_num_threads(int32_t num_threads);

/** How many threads the library's kernels may use: the last value accepted by
 *  lb_set_num_threads(), or the number of online CPUs. Always >= 1. */
LB_API int32_t lb_get_num_threads(void);

/** @} */

#ifdef __cplusplus
}
#endif

/* The module headers come after the core declarations: each of them includes
 * this header first, and the include guards make either order work. */
#include "lossbal/tensor.h"
#include "lossbal/criterion.h"
#include "lossbal/nn.h"
#include "lossbal/data.h"
#include "lossbal/metrics.h"

#endif /* LOSSBAL_LOSSBAL_H */
