/* Tests of lb_tensor: the life cycle (create, wrap, views), accessors, every
 * operation, bad arguments of every public function, overflow checks and
 * allocation failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/core_internal.h"
#include "lossbal/lossbal.h"
#include "lossbal/tensor.h"
#include "test_support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#  define TEST_UNDER_ASAN 1
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer)
#    define TEST_UNDER_ASAN 1
#  endif
#endif
#ifdef TEST_UNDER_ASAN
/* A request for exabytes must come back as NULL (as from glibc), not abort
 * the process; test_shape_too_large_for_memory_fails_with_enomem relies on
 * it. Leak and error detection are unaffected. Default visibility: the
 * project builds everything, this program included, with hidden visibility,
 * and the ASan runtime must find this function. */
__attribute__((visibility("default"))) const char *__asan_default_options(
    void);
__attribute__((visibility("default"))) const char *__asan_default_options(
    void) {
  return "allocator_may_return_null=1";
}
#endif

/* An output pointer value no call may write on failure. */
#define UNTOUCHED_TENSOR ((lb_tensor *)0x1)

/* ---- helpers ------------------------------------------------------------- */

/* Asserts that lb_last_error() also contains `fragment` (after
 * assert_fails_with checked a first one). */
static void assert_error_mentions(const char *fragment) {
  if (strstr(lb_last_error(), fragment) == NULL)
    fail_msg("lb_last_error() is \"%s\", expected it to mention \"%s\"",
             lb_last_error(), fragment);
}

static lb_tensor *tensor_of(int32_t ndim, const int64_t *shape,
                            const float *values) {
  lb_tensor *t = NULL;
  assert_int_equal(lb_tensor_from_copy(ndim, shape, values, &t), LB_OK);
  assert_non_null(t);
  return t;
}

static lb_tensor *tensor_filled(int32_t ndim, const int64_t *shape,
                                float value) {
  lb_tensor *t = NULL;
  assert_int_equal(lb_tensor_create(ndim, shape, &t), LB_OK);
  assert_non_null(t);
  assert_int_equal(lb_tensor_fill(t, value), LB_OK);
  return t;
}

static lb_tensor *vector_of(int64_t n, const float *values) {
  const int64_t shape[1] = {n};
  return tensor_of(1, shape, values);
}

static lb_tensor *matrix_of(int64_t rows, int64_t cols, const float *values) {
  const int64_t shape[2] = {rows, cols};
  return tensor_of(2, shape, values);
}

/* Asserts the tensor holds exactly `expected` (exact float equality: the
 * tests use values whose results are representable). */
static void assert_values_exact(const lb_tensor *t, const float *expected,
                                int64_t count) {
  assert_int_equal(lb_tensor_numel(t), count);
  const float *data = lb_tensor_data_const(t);
  for (int64_t i = 0; i < count; i++)
    if (!(data[i] == expected[i]))
      fail_msg("element %lld is %.9g, expected %.9g", (long long)i,
               (double)data[i], (double)expected[i]);
}

static void assert_all_equal(const lb_tensor *t, float expected) {
  const float *data = lb_tensor_data_const(t);
  for (int64_t i = 0; i < lb_tensor_numel(t); i++)
    if (!(data[i] == expected))
      fail_msg("element %lld is %.9g, expected %.9g", (long long)i,
               (double)data[i], (double)expected);
}

static void assert_double_exact(double actual, double expected) {
  if (!(actual == expected))
    fail_msg("got %.17g, expected %.17g", actual, expected);
}

/* ---- constructors behind one signature, for table-driven tests ---------- */

typedef lb_status (*shape_constructor)(int32_t ndim, const int64_t *shape,
                                       lb_tensor **out);

/* Large enough for every valid shape the table tests use; the overflow tests
 * never reach the data (validation fails first). */
static float scratch[64];

static lb_status call_from_copy(int32_t ndim, const int64_t *shape,
                                lb_tensor **out) {
  return lb_tensor_from_copy(ndim, shape, scratch, out);
}

static lb_status call_wrap(int32_t ndim, const int64_t *shape,
                           lb_tensor **out) {
  return lb_tensor_wrap(ndim, shape, scratch, out);
}

/* Reshapes a fresh 6-element tensor (freed before returning; a successful
 * view outlives it). */
static lb_status call_reshape(int32_t ndim, const int64_t *shape,
                              lb_tensor **out) {
  const int64_t six[1] = {6};
  lb_tensor *src = NULL;
  lb_status status = lb_tensor_zeros(1, six, &src);
  if (status != LB_OK) return status;
  status = lb_tensor_reshape(src, ndim, shape, out);
  lb_tensor_free(src);
  return status;
}

typedef struct constructor_row {
  const char *name;
  shape_constructor construct;
} constructor_row;

static const constructor_row constructors[] = {
    {"lb_tensor_create", lb_tensor_create},
    {"lb_tensor_zeros", lb_tensor_zeros},
    {"lb_tensor_from_copy", call_from_copy},
    {"lb_tensor_wrap", call_wrap},
    {"lb_tensor_reshape", call_reshape},
};
enum { CONSTRUCTOR_COUNT = sizeof constructors / sizeof constructors[0] };

/* Runs one rejected shape through every constructor: LB_EINVAL, a message
 * naming the function and `fragment`, out untouched, nothing leaked. */
static void assert_every_constructor_rejects(int32_t ndim, const int64_t *shape,
                                             const char *fragment) {
  for (size_t i = 0; i < CONSTRUCTOR_COUNT; i++) {
    int64_t live = lb_fault_live_allocations();
    lb_tensor *out = UNTOUCHED_TENSOR;
    assert_fails_with(constructors[i].construct(ndim, shape, &out), LB_EINVAL,
                      fragment);
    assert_error_mentions(constructors[i].name);
    assert_ptr_equal(out, UNTOUCHED_TENSOR);
    assert_int_equal(lb_fault_live_allocations(), live);
  }
}

/* ==== bad arguments: constructors ========================================= */

static void test_constructors_reject_null_shape(void **state) {
  (void)state;
  assert_every_constructor_rejects(2, NULL, "shape is NULL");
}

static void test_constructors_reject_ndim_outside_one_to_four(void **state) {
  (void)state;
  const int64_t shape[8] = {2, 3, 1, 1, 1, 1, 1, 1};
  assert_every_constructor_rejects(0, shape, "ndim = 0 is outside [1, 4]");
  assert_every_constructor_rejects(5, shape, "ndim = 5 is outside [1, 4]");
  assert_every_constructor_rejects(-1, shape, "ndim = -1");
  assert_every_constructor_rejects(INT32_MAX, shape, "ndim = 2147483647");
}

static void test_constructors_reject_zero_and_negative_extents(void **state) {
  (void)state;
  const int64_t zero_second[2] = {2, 0};
  assert_every_constructor_rejects(2, zero_second,
                                   "shape[1] = 0 must be at least 1");
  const int64_t negative_first[3] = {-3, 2, 1};
  assert_every_constructor_rejects(3, negative_first, "shape[0] = -3");
  const int64_t most_negative_last[4] = {1, 1, 1, INT64_MIN};
  assert_every_constructor_rejects(4, most_negative_last,
                                   "shape[3] = -9223372036854775808");
}

static void test_constructors_reject_shapes_whose_size_overflows(
    void **state) {
  (void)state;
  /* The element count overflows int64_t. */
  const int64_t max_times_two[2] = {INT64_MAX, 2};
  assert_every_constructor_rejects(2, max_times_two, "overflow");
  const int64_t two_pow_64[3] = {(int64_t)1 << 31, (int64_t)1 << 31,
                                 (int64_t)1 << 2};
  assert_every_constructor_rejects(3, two_pow_64, "overflow");
  const int64_t four_dims[4] = {(int64_t)1 << 16, (int64_t)1 << 16,
                                (int64_t)1 << 16, (int64_t)1 << 16};
  assert_every_constructor_rejects(4, four_dims, "overflow");
  /* The count fits, but count * sizeof(float) does not fit size_t... */
  const int64_t bytes_overflow[2] = {(int64_t)1 << 62, 1};
  assert_every_constructor_rejects(2, bytes_overflow, "overflow");
  const int64_t max_elements[1] = {INT64_MAX};
  assert_every_constructor_rejects(1, max_elements, "overflow");
  /* ...or is beyond PTRDIFF_MAX, which no object can reach. */
  const int64_t two_pow_63_bytes[1] = {(int64_t)1 << 61};
  assert_every_constructor_rejects(1, two_pow_63_bytes, "overflow");
}

static void test_shape_too_large_for_memory_fails_with_enomem(void **state) {
  (void)state;
  /* 2^62 bytes: representable, but no machine has it. */
  const int64_t huge[1] = {(int64_t)1 << 60};
  int64_t live = lb_fault_live_allocations();
  lb_tensor *out = UNTOUCHED_TENSOR;
  assert_fails_with(lb_tensor_create(1, huge, &out), LB_ENOMEM,
                    "out of memory");
  assert_ptr_equal(out, UNTOUCHED_TENSOR);
  assert_fails_with(lb_tensor_zeros(1, huge, &out), LB_ENOMEM,
                    "out of memory");
  assert_ptr_equal(out, UNTOUCHED_TENSOR);
  assert_int_equal(lb_fault_live_allocations(), live);
}

static void test_constructors_reject_null_out(void **state) {
  (void)state;
  const int64_t shape[2] = {2, 3};
  float data[6] = {0};
  lb_tensor *src = tensor_filled(2, shape, 1.0f);
  int64_t live = lb_fault_live_allocations();
  assert_fails_with(lb_tensor_create(2, shape, NULL), LB_EINVAL,
                    "lb_tensor_create: out is NULL");
  assert_fails_with(lb_tensor_zeros(2, shape, NULL), LB_EINVAL,
                    "lb_tensor_zeros: out is NULL");
  assert_fails_with(lb_tensor_from_copy(2, shape, data, NULL), LB_EINVAL,
                    "lb_tensor_from_copy: out is NULL");
  assert_fails_with(lb_tensor_wrap(2, shape, data, NULL), LB_EINVAL,
                    "lb_tensor_wrap: out is NULL");
  assert_fails_with(lb_tensor_clone(src, NULL), LB_EINVAL,
                    "lb_tensor_clone: out is NULL");
  assert_fails_with(lb_tensor_reshape(src, 1, shape, NULL), LB_EINVAL,
                    "lb_tensor_reshape: out is NULL");
  assert_int_equal(lb_fault_live_allocations(), live);
  lb_tensor_free(src);
}

static void test_from_copy_and_wrap_reject_null_data(void **state) {
  (void)state;
  const int64_t shape[2] = {2, 3};
  lb_tensor *out = UNTOUCHED_TENSOR;
  assert_fails_with(lb_tensor_from_copy(2, shape, NULL, &out), LB_EINVAL,
                    "lb_tensor_from_copy: data is NULL");
  assert_ptr_equal(out, UNTOUCHED_TENSOR);
  assert_fails_with(lb_tensor_wrap(2, shape, NULL, &out), LB_EINVAL,
                    "lb_tensor_wrap: data is NULL");
  assert_ptr_equal(out, UNTOUCHED_TENSOR);
}

static void test_wrap_rejects_data_not_aligned_for_float(void **state) {
  (void)state;
  const int64_t shape[1] = {4};
  float buffer[8] = {0};
  float *misaligned = (float *)(void *)((unsigned char *)buffer + 1);
  lb_tensor *out = UNTOUCHED_TENSOR;
  assert_fails_with(lb_tensor_wrap(1, shape, misaligned, &out), LB_EINVAL,
                    "lb_tensor_wrap: data");
  assert_error_mentions("not aligned for float");
  assert_ptr_equal(out, UNTOUCHED_TENSOR);
}

static void test_clone_and_reshape_reject_null_source(void **state) {
  (void)state;
  const int64_t shape[1] = {6};
  lb_tensor *out = UNTOUCHED_TENSOR;
  assert_fails_with(lb_tensor_clone(NULL, &out), LB_EINVAL,
                    "lb_tensor_clone: src is NULL");
  assert_ptr_equal(out, UNTOUCHED_TENSOR);
  assert_fails_with(lb_tensor_reshape(NULL, 1, shape, &out), LB_EINVAL,
                    "lb_tensor_reshape: src is NULL");
  assert_ptr_equal(out, UNTOUCHED_TENSOR);
}

static void test_reshape_rejects_a_different_element_count(void **state) {
  (void)state;
  const int64_t shape[2] = {2, 3};
  lb_tensor *src = tensor_filled(2, shape, 1.0f);
  int64_t live = lb_fault_live_allocations();
  const int64_t eight[2] = {2, 4};
  lb_tensor *out = UNTOUCHED_TENSOR;
  assert_fails_with(lb_tensor_reshape(src, 2, eight, &out), LB_EINVAL,
                    "lb_tensor_reshape: the new shape has 8 elements");
  assert_error_mentions("[2, 3] has 6");
  assert_ptr_equal(out, UNTOUCHED_TENSOR);
  const int64_t five[1] = {5};
  assert_fails_with(lb_tensor_reshape(src, 1, five, &out), LB_EINVAL,
                    "has 5 elements");
  assert_ptr_equal(out, UNTOUCHED_TENSOR);
  assert_int_equal(lb_fault_live_allocations(), live);
  lb_tensor_free(src);
}

/* ==== bad arguments: accessors ============================================ */

static void test_dim_of_null_tensor_is_minus_one_with_a_message(void **state) {
  (void)state;
  lb_clear_error();
  assert_int_equal(lb_tensor_dim(NULL, 0), -1);
  assert_non_null(strstr(lb_last_error(), "lb_tensor_dim: tensor is NULL"));
}

static void test_dim_with_axis_out_of_range_is_minus_one_with_a_message(
    void **state) {
  (void)state;
  const int64_t shape[3] = {2, 3, 4};
  lb_tensor *t = tensor_filled(3, shape, 0.0f);
  const int32_t bad_axes[] = {3, -4, 100, INT32_MAX, INT32_MIN};
  const char *fragments[] = {"axis 3 is outside [-3, 3)", "axis -4 is outside",
                             "axis 100", "axis 2147483647",
                             "axis -2147483648"};
  for (size_t i = 0; i < sizeof bad_axes / sizeof bad_axes[0]; i++) {
    lb_clear_error();
    assert_int_equal(lb_tensor_dim(t, bad_axes[i]), -1);
    assert_error_mentions("lb_tensor_dim");
    assert_error_mentions(fragments[i]);
  }
  lb_tensor_free(t);
}

static void test_shape_rejects_null_arguments_and_small_capacity(
    void **state) {
  (void)state;
  const int64_t dims[3] = {2, 3, 4};
  lb_tensor *t = tensor_filled(3, dims, 0.0f);
  int64_t shape[4] = {-7, -7, -7, -7};
  assert_fails_with(lb_tensor_shape(NULL, shape, 4), LB_EINVAL,
                    "lb_tensor_shape: tensor is NULL");
  assert_fails_with(lb_tensor_shape(t, NULL, 4), LB_EINVAL,
                    "lb_tensor_shape: shape is NULL");
  assert_fails_with(lb_tensor_shape(t, shape, 2), LB_EINVAL,
                    "lb_tensor_shape: capacity 2 is less than ndim 3");
  assert_fails_with(lb_tensor_shape(t, shape, 0), LB_EINVAL, "capacity 0");
  assert_fails_with(lb_tensor_shape(t, shape, -1), LB_EINVAL, "capacity -1");
  for (int i = 0; i < 4; i++) assert_int_equal(shape[i], -7);
  lb_tensor_free(t);
}

/* ==== bad arguments: operations =========================================== */

static void test_copy_rejects_null_and_mismatched_shapes(void **state) {
  (void)state;
  const int64_t s23[2] = {2, 3}, s32[2] = {3, 2};
  lb_tensor *a = tensor_filled(2, s23, 1.0f);
  lb_tensor *b = tensor_filled(2, s32, 2.0f);
  assert_fails_with(lb_tensor_copy(NULL, a), LB_EINVAL,
                    "lb_tensor_copy: dst is NULL");
  assert_fails_with(lb_tensor_copy(a, NULL), LB_EINVAL,
                    "lb_tensor_copy: src is NULL");
  /* Equal element counts are not enough: the shapes must match. */
  assert_fails_with(lb_tensor_copy(a, b), LB_EINVAL,
                    "lb_tensor_copy: shape mismatch: dst is [2, 3], src is "
                    "[3, 2]");
  assert_all_equal(a, 1.0f);
  lb_tensor_free(a);
  lb_tensor_free(b);
}

static void test_fill_and_scale_reject_null(void **state) {
  (void)state;
  assert_fails_with(lb_tensor_fill(NULL, 1.0f), LB_EINVAL,
                    "lb_tensor_fill: tensor is NULL");
  assert_fails_with(lb_tensor_scale(NULL, 2.0f), LB_EINVAL,
                    "lb_tensor_scale: tensor is NULL");
}

typedef lb_status (*binary_op)(lb_tensor *out, const lb_tensor *a,
                               const lb_tensor *b);

static void assert_binary_op_rejects_bad_arguments(binary_op op,
                                                   const char *name) {
  const int64_t s23[2] = {2, 3}, s6[1] = {6}, s32[2] = {3, 2};
  lb_tensor *a = tensor_filled(2, s23, 1.0f);
  lb_tensor *b = tensor_filled(2, s23, 2.0f);
  lb_tensor *out = tensor_filled(2, s23, 9.0f);
  lb_tensor *flat = tensor_filled(1, s6, 3.0f);
  lb_tensor *transposed = tensor_filled(2, s32, 3.0f);
  char expected[128];

  snprintf(expected, sizeof expected, "%s: out is NULL", name);
  assert_fails_with(op(NULL, a, b), LB_EINVAL, expected);
  snprintf(expected, sizeof expected, "%s: a is NULL", name);
  assert_fails_with(op(out, NULL, b), LB_EINVAL, expected);
  snprintf(expected, sizeof expected, "%s: b is NULL", name);
  assert_fails_with(op(out, a, NULL), LB_EINVAL, expected);

  snprintf(expected, sizeof expected,
           "%s: shape mismatch: a is [2, 3], b is [6]", name);
  assert_fails_with(op(out, a, flat), LB_EINVAL, expected);
  snprintf(expected, sizeof expected,
           "%s: shape mismatch: a is [2, 3], b is [3, 2]", name);
  assert_fails_with(op(out, a, transposed), LB_EINVAL, expected);
  snprintf(expected, sizeof expected,
           "%s: shape mismatch: a is [2, 3], out is [3, 2]", name);
  assert_fails_with(op(transposed, a, b), LB_EINVAL, expected);
  snprintf(expected, sizeof expected,
           "%s: shape mismatch: a is [6], b is [2, 3]", name);
  assert_fails_with(op(out, flat, b), LB_EINVAL, expected);

  assert_all_equal(out, 9.0f);
  assert_all_equal(transposed, 3.0f);
  lb_tensor_free(a);
  lb_tensor_free(b);
  lb_tensor_free(out);
  lb_tensor_free(flat);
  lb_tensor_free(transposed);
}

static void test_add_rejects_null_and_mismatched_shapes(void **state) {
  (void)state;
  assert_binary_op_rejects_bad_arguments(lb_tensor_add, "lb_tensor_add");
}

static void test_sub_rejects_null_and_mismatched_shapes(void **state) {
  (void)state;
  assert_binary_op_rejects_bad_arguments(lb_tensor_sub, "lb_tensor_sub");
}

static void test_mul_rejects_null_and_mismatched_shapes(void **state) {
  (void)state;
  assert_binary_op_rejects_bad_arguments(lb_tensor_mul, "lb_tensor_mul");
}

static void test_axpy_rejects_null_and_mismatched_shapes_naming_x_and_y(
    void **state) {
  (void)state;
  const int64_t s23[2] = {2, 3}, s32[2] = {3, 2};
  lb_tensor *x = tensor_filled(2, s23, 1.0f);
  lb_tensor *y = tensor_filled(2, s32, 5.0f);
  assert_fails_with(lb_tensor_axpy(2.0f, NULL, y), LB_EINVAL,
                    "lb_tensor_axpy: x is NULL");
  assert_fails_with(lb_tensor_axpy(2.0f, x, NULL), LB_EINVAL,
                    "lb_tensor_axpy: y is NULL");
  assert_fails_with(lb_tensor_axpy(2.0f, x, y), LB_EINVAL,
                    "lb_tensor_axpy: shape mismatch: x is [2, 3], y is [3, 2]");
  assert_all_equal(y, 5.0f);
  lb_tensor_free(x);
  lb_tensor_free(y);
}

static void test_relu_rejects_null_and_mismatched_shapes_naming_in_and_out(
    void **state) {
  (void)state;
  const int64_t s23[2] = {2, 3}, s6[1] = {6};
  lb_tensor *in = tensor_filled(2, s23, -1.0f);
  lb_tensor *out = tensor_filled(1, s6, 5.0f);
  assert_fails_with(lb_tensor_relu(NULL, in), LB_EINVAL,
                    "lb_tensor_relu: out is NULL");
  assert_fails_with(lb_tensor_relu(out, NULL), LB_EINVAL,
                    "lb_tensor_relu: in is NULL");
  assert_fails_with(lb_tensor_relu(out, in), LB_EINVAL,
                    "lb_tensor_relu: shape mismatch: in is [2, 3], out is [6]");
  assert_all_equal(out, 5.0f);
  lb_tensor_free(in);
  lb_tensor_free(out);
}

static void test_sum_and_mean_reject_null_and_leave_output_untouched(
    void **state) {
  (void)state;
  const int64_t s3[1] = {3};
  lb_tensor *t = tensor_filled(1, s3, 1.0f);
  double result = -123.0;
  assert_fails_with(lb_tensor_sum(NULL, &result), LB_EINVAL,
                    "lb_tensor_sum: tensor is NULL");
  assert_fails_with(lb_tensor_sum(t, NULL), LB_EINVAL,
                    "lb_tensor_sum: sum is NULL");
  assert_fails_with(lb_tensor_mean(NULL, &result), LB_EINVAL,
                    "lb_tensor_mean: tensor is NULL");
  assert_fails_with(lb_tensor_mean(t, NULL), LB_EINVAL,
                    "lb_tensor_mean: mean is NULL");
  assert_double_exact(result, -123.0);
  lb_tensor_free(t);
}

static void test_max_rejects_null_tensor(void **state) {
  (void)state;
  float max = -5.0f;
  int64_t index = -5;
  assert_fails_with(lb_tensor_max(NULL, &max, &index), LB_EINVAL,
                    "lb_tensor_max: tensor is NULL");
  assert_true(max == -5.0f);
  assert_int_equal(index, -5);
}

static void test_max_of_nan_fails_with_enonfinite_and_writes_nothing(
    void **state) {
  (void)state;
  const float with_nan[4] = {1.0f, 9.0f, NAN, 3.0f};
  lb_tensor *t = vector_of(4, with_nan);
  float max = -5.0f;
  int64_t index = -5;
  assert_fails_with(lb_tensor_max(t, &max, &index), LB_ENONFINITE,
                    "lb_tensor_max: element 2 is NaN");
  assert_true(max == -5.0f);
  assert_int_equal(index, -5);
  lb_tensor_free(t);

  const float nan_first[2] = {NAN, 1.0f};
  t = vector_of(2, nan_first);
  assert_fails_with(lb_tensor_max(t, NULL, NULL), LB_ENONFINITE,
                    "element 0 is NaN");
  lb_tensor_free(t);
}

static void test_dot_rejects_null_and_different_counts(void **state) {
  (void)state;
  const int64_t s6[1] = {6}, s5[1] = {5};
  lb_tensor *a = tensor_filled(1, s6, 1.0f);
  lb_tensor *b = tensor_filled(1, s5, 1.0f);
  double dot = -1.5;
  assert_fails_with(lb_tensor_dot(NULL, a, &dot), LB_EINVAL,
                    "lb_tensor_dot: a is NULL");
  assert_fails_with(lb_tensor_dot(a, NULL, &dot), LB_EINVAL,
                    "lb_tensor_dot: b is NULL");
  assert_fails_with(lb_tensor_dot(a, a, NULL), LB_EINVAL,
                    "lb_tensor_dot: dot is NULL");
  assert_fails_with(lb_tensor_dot(a, b, &dot), LB_EINVAL,
                    "lb_tensor_dot: a has 6 elements, b has 5");
  assert_double_exact(dot, -1.5);
  lb_tensor_free(a);
  lb_tensor_free(b);
}

static void test_sum_rows_rejects_null_bad_shapes_and_shared_storage(
    void **state) {
  (void)state;
  const int64_t s23[2] = {2, 3}, s3[1] = {3}, s2[1] = {2}, s13[2] = {1, 3},
                s6[1] = {6}, s123[3] = {1, 2, 3};
  lb_tensor *in = tensor_filled(2, s23, 1.0f);
  lb_tensor *out = tensor_filled(1, s3, 7.0f);
  lb_tensor *short_out = tensor_filled(1, s2, 7.0f);
  lb_tensor *matrix_out = tensor_filled(2, s13, 7.0f);
  lb_tensor *flat_in = tensor_filled(1, s6, 1.0f);
  lb_tensor *cube_in = tensor_filled(3, s123, 1.0f);

  assert_fails_with(lb_tensor_sum_rows(NULL, in), LB_EINVAL,
                    "lb_tensor_sum_rows: out is NULL");
  assert_fails_with(lb_tensor_sum_rows(out, NULL), LB_EINVAL,
                    "lb_tensor_sum_rows: in is NULL");
  assert_fails_with(lb_tensor_sum_rows(out, flat_in), LB_EINVAL,
                    "lb_tensor_sum_rows: in has 1 dimensions, not 2");
  assert_fails_with(lb_tensor_sum_rows(out, cube_in), LB_EINVAL,
                    "in has 3 dimensions, not 2");
  assert_fails_with(lb_tensor_sum_rows(short_out, in), LB_EINVAL,
                    "lb_tensor_sum_rows: out must be 1-D of 3 elements");
  assert_fails_with(lb_tensor_sum_rows(matrix_out, in), LB_EINVAL,
                    "out must be 1-D of 3 elements");

  /* A [1, 3] input and a [3] view of it: writing out would clobber in. */
  lb_tensor *one_row = tensor_filled(2, s13, 4.0f);
  lb_tensor *view = NULL;
  assert_int_equal(lb_tensor_reshape(one_row, 1, s3, &view), LB_OK);
  assert_fails_with(lb_tensor_sum_rows(view, one_row), LB_EINVAL,
                    "lb_tensor_sum_rows: out shares storage with in");
  assert_all_equal(one_row, 4.0f);

  /* The same through two wraps of one caller buffer. */
  float buffer[3] = {4.0f, 4.0f, 4.0f};
  lb_tensor *wrapped_in = NULL, *wrapped_out = NULL;
  assert_int_equal(lb_tensor_wrap(2, s13, buffer, &wrapped_in), LB_OK);
  assert_int_equal(lb_tensor_wrap(1, s3, buffer, &wrapped_out), LB_OK);
  assert_fails_with(lb_tensor_sum_rows(wrapped_out, wrapped_in), LB_EINVAL,
                    "out shares storage with in");
  for (int i = 0; i < 3; i++) assert_true(buffer[i] == 4.0f);

  assert_all_equal(out, 7.0f);
  assert_all_equal(short_out, 7.0f);
  assert_all_equal(matrix_out, 7.0f);
  lb_tensor *all[] = {in,       out,   short_out,  matrix_out, flat_in,
                      cube_in,  view,  one_row,    wrapped_in, wrapped_out};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    lb_tensor_free(all[i]);
}

static void test_matmul_rejects_null_operands(void **state) {
  (void)state;
  const int64_t s22[2] = {2, 2};
  lb_tensor *a = tensor_filled(2, s22, 1.0f);
  lb_tensor *b = tensor_filled(2, s22, 1.0f);
  lb_tensor *c = tensor_filled(2, s22, 7.0f);
  assert_fails_with(lb_tensor_matmul(NULL, a, 0, b, 0, 1.0f, 0.0f), LB_EINVAL,
                    "lb_tensor_matmul: c is NULL");
  assert_fails_with(lb_tensor_matmul(c, NULL, 0, b, 0, 1.0f, 0.0f), LB_EINVAL,
                    "lb_tensor_matmul: a is NULL");
  assert_fails_with(lb_tensor_matmul(c, a, 0, NULL, 0, 1.0f, 0.0f), LB_EINVAL,
                    "lb_tensor_matmul: b is NULL");
  assert_all_equal(c, 7.0f);
  lb_tensor_free(a);
  lb_tensor_free(b);
  lb_tensor_free(c);
}

static void test_matmul_rejects_operands_that_are_not_2d(void **state) {
  (void)state;
  const int64_t s22[2] = {2, 2}, s4[1] = {4}, s122[3] = {1, 2, 2},
                s1122[4] = {1, 1, 2, 2};
  lb_tensor *m = tensor_filled(2, s22, 1.0f);
  lb_tensor *c = tensor_filled(2, s22, 7.0f);
  lb_tensor *vector = tensor_filled(1, s4, 1.0f);
  lb_tensor *cube = tensor_filled(3, s122, 1.0f);
  lb_tensor *four_d = tensor_filled(4, s1122, 7.0f);
  assert_fails_with(lb_tensor_matmul(c, vector, 0, m, 0, 1.0f, 0.0f),
                    LB_EINVAL, "lb_tensor_matmul: a has 1 dimensions, not 2");
  assert_fails_with(lb_tensor_matmul(c, m, 0, cube, 0, 1.0f, 0.0f), LB_EINVAL,
                    "lb_tensor_matmul: b has 3 dimensions, not 2");
  assert_fails_with(lb_tensor_matmul(four_d, m, 0, m, 0, 1.0f, 0.0f),
                    LB_EINVAL, "lb_tensor_matmul: c has 4 dimensions, not 2");
  assert_all_equal(c, 7.0f);
  assert_all_equal(four_d, 7.0f);
  lb_tensor_free(m);
  lb_tensor_free(c);
  lb_tensor_free(vector);
  lb_tensor_free(cube);
  lb_tensor_free(four_d);
}

static void test_matmul_rejects_mismatched_extents(void **state) {
  (void)state;
  const int64_t s23[2] = {2, 3}, s22[2] = {2, 2}, s34[2] = {3, 4},
                s24[2] = {2, 4}, s33[2] = {3, 3};
  lb_tensor *a = tensor_filled(2, s23, 1.0f);
  lb_tensor *b22 = tensor_filled(2, s22, 1.0f);
  lb_tensor *b34 = tensor_filled(2, s34, 1.0f);
  lb_tensor *c24 = tensor_filled(2, s24, 7.0f);
  lb_tensor *c33 = tensor_filled(2, s33, 7.0f);
  assert_fails_with(lb_tensor_matmul(c24, a, 0, b22, 0, 1.0f, 0.0f),
                    LB_EINVAL,
                    "lb_tensor_matmul: op(a) is [2, 3] but op(b) is [2, 2]");
  /* Transposing a makes it [3, 2], which no longer fits b [3, 4]. */
  assert_fails_with(lb_tensor_matmul(c24, a, 1, b34, 0, 1.0f, 0.0f),
                    LB_EINVAL, "op(a) is [3, 2] but op(b) is [3, 4]");
  assert_fails_with(lb_tensor_matmul(c24, a, 0, b34, 1, 1.0f, 0.0f),
                    LB_EINVAL, "op(a) is [2, 3] but op(b) is [4, 3]");
  assert_fails_with(lb_tensor_matmul(c33, a, 0, b34, 0, 1.0f, 0.0f),
                    LB_EINVAL,
                    "lb_tensor_matmul: c is [3, 3], the product is [2, 4]");
  assert_all_equal(c24, 7.0f);
  assert_all_equal(c33, 7.0f);
  lb_tensor_free(a);
  lb_tensor_free(b22);
  lb_tensor_free(b34);
  lb_tensor_free(c24);
  lb_tensor_free(c33);
}

static void test_matmul_rejects_c_sharing_storage_with_an_operand(
    void **state) {
  (void)state;
  const int64_t s22[2] = {2, 2};
  const float values[4] = {1.0f, 2.0f, 3.0f, 4.0f};
  lb_tensor *a = matrix_of(2, 2, values);
  lb_tensor *b = matrix_of(2, 2, values);
  lb_tensor *view_of_a = NULL, *view_of_b = NULL;
  assert_int_equal(lb_tensor_reshape(a, 2, s22, &view_of_a), LB_OK);
  assert_int_equal(lb_tensor_reshape(b, 2, s22, &view_of_b), LB_OK);

  assert_fails_with(lb_tensor_matmul(a, a, 0, b, 0, 1.0f, 0.0f), LB_EINVAL,
                    "lb_tensor_matmul: c shares storage with a");
  assert_fails_with(lb_tensor_matmul(view_of_a, a, 0, b, 0, 1.0f, 0.0f),
                    LB_EINVAL, "c shares storage with a");
  assert_fails_with(lb_tensor_matmul(view_of_b, a, 0, b, 1, 1.0f, 1.0f),
                    LB_EINVAL, "c shares storage with b");
  assert_values_exact(a, values, 4);
  assert_values_exact(b, values, 4);

  /* Two wraps of one caller buffer share it just the same. */
  float buffer[4] = {1.0f, 2.0f, 3.0f, 4.0f};
  lb_tensor *wrap_a = NULL, *wrap_c = NULL;
  assert_int_equal(lb_tensor_wrap(2, s22, buffer, &wrap_a), LB_OK);
  assert_int_equal(lb_tensor_wrap(2, s22, buffer, &wrap_c), LB_OK);
  assert_fails_with(lb_tensor_matmul(wrap_c, wrap_a, 0, b, 0, 1.0f, 0.0f),
                    LB_EINVAL, "c shares storage with a");
  assert_values_exact(wrap_a, values, 4);

  /* A partial overlap (c starts inside a) is sharing too... */
  float wide[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  lb_tensor *low = NULL, *middle = NULL, *high = NULL;
  assert_int_equal(lb_tensor_wrap(2, s22, wide, &low), LB_OK);
  assert_int_equal(lb_tensor_wrap(2, s22, wide + 2, &middle), LB_OK);
  assert_int_equal(lb_tensor_wrap(2, s22, wide + 4, &high), LB_OK);
  assert_fails_with(lb_tensor_matmul(middle, low, 0, b, 0, 1.0f, 0.0f),
                    LB_EINVAL, "c shares storage with a");
  assert_fails_with(lb_tensor_matmul(middle, b, 0, high, 0, 1.0f, 0.0f),
                    LB_EINVAL, "c shares storage with b");
  for (int i = 0; i < 8; i++) assert_true(wide[i] == (float)(i + 1));
  /* ...but adjacent, disjoint parts of one buffer are fine. */
  assert_int_equal(lb_tensor_matmul(high, low, 0, b, 0, 1.0f, 0.0f), LB_OK);
  const float low_times_b[4] = {7, 10, 15, 22};
  assert_values_exact(high, low_times_b, 4);
  assert_values_exact(low, values, 4);

  lb_tensor_free(low);
  lb_tensor_free(middle);
  lb_tensor_free(high);
  lb_tensor_free(a);
  lb_tensor_free(b);
  lb_tensor_free(view_of_a);
  lb_tensor_free(view_of_b);
  lb_tensor_free(wrap_a);
  lb_tensor_free(wrap_c);
}

static void test_matmul_rejects_extents_beyond_int32_max(void **state) {
  (void)state;
  /* The wrapped tensors claim far more elements than the buffer holds; this
   * is safe only because validation rejects them before any element is
   * read. */
  static float tiny[16];
  const int64_t tall[2] = {(int64_t)INT32_MAX + 1, 2};
  const int64_t wide[2] = {2, (int64_t)INT32_MAX + 1};
  const int64_t s22[2] = {2, 2};
  lb_tensor *huge_a = NULL, *huge_b = NULL;
  assert_int_equal(lb_tensor_wrap(2, tall, tiny, &huge_a), LB_OK);
  assert_int_equal(lb_tensor_wrap(2, wide, tiny, &huge_b), LB_OK);
  lb_tensor *m = tensor_filled(2, s22, 1.0f);
  lb_tensor *c = tensor_filled(2, s22, 7.0f);
  assert_fails_with(lb_tensor_matmul(c, huge_a, 1, m, 0, 1.0f, 0.0f),
                    LB_EINVAL,
                    "lb_tensor_matmul: a has an extent beyond INT32_MAX");
  assert_fails_with(lb_tensor_matmul(c, m, 0, huge_b, 1, 1.0f, 0.0f),
                    LB_EINVAL, "b has an extent beyond INT32_MAX");
  assert_all_equal(c, 7.0f);
  lb_tensor_free(huge_a);
  lb_tensor_free(huge_b);
  lb_tensor_free(m);
  lb_tensor_free(c);
}

/* ==== allocation failures ================================================= */

static void test_create_cleans_up_after_each_allocation_failure(void **state) {
  (void)state;
  const int64_t shape[2] = {3, 5};
  lb_tensor *t = UNTOUCHED_TENSOR;
  assert_each_allocation_failure_is_clean(
      {
        status_ = lb_tensor_create(2, shape, &t);
        if (status_ != LB_OK) assert_ptr_equal(t, UNTOUCHED_TENSOR);
      },
      { lb_tensor_free(t); });
}

static void test_zeros_cleans_up_after_each_allocation_failure(void **state) {
  (void)state;
  const int64_t shape[3] = {2, 2, 2};
  lb_tensor *t = UNTOUCHED_TENSOR;
  assert_each_allocation_failure_is_clean(
      {
        status_ = lb_tensor_zeros(3, shape, &t);
        if (status_ != LB_OK) assert_ptr_equal(t, UNTOUCHED_TENSOR);
      },
      {
        assert_all_equal(t, 0.0f);
        lb_tensor_free(t);
      });
}

static void test_from_copy_cleans_up_after_each_allocation_failure(
    void **state) {
  (void)state;
  const int64_t shape[1] = {4};
  const float values[4] = {1.0f, 2.0f, 3.0f, 4.0f};
  lb_tensor *t = UNTOUCHED_TENSOR;
  assert_each_allocation_failure_is_clean(
      {
        status_ = lb_tensor_from_copy(1, shape, values, &t);
        if (status_ != LB_OK) assert_ptr_equal(t, UNTOUCHED_TENSOR);
      },
      {
        assert_values_exact(t, values, 4);
        lb_tensor_free(t);
      });
}

static void test_wrap_cleans_up_after_each_allocation_failure_and_keeps_buffer(
    void **state) {
  (void)state;
  const int64_t shape[2] = {2, 2};
  /* On the heap so that ASan reports it if a failing wrap freed it. */
  float *buffer = malloc(4 * sizeof *buffer);
  assert_non_null(buffer);
  for (int i = 0; i < 4; i++) buffer[i] = (float)(i + 1);
  lb_tensor *t = UNTOUCHED_TENSOR;
  assert_each_allocation_failure_is_clean(
      {
        status_ = lb_tensor_wrap(2, shape, buffer, &t);
        if (status_ != LB_OK) assert_ptr_equal(t, UNTOUCHED_TENSOR);
      },
      {
        assert_ptr_equal(lb_tensor_data(t), buffer);
        lb_tensor_free(t);
      });
  for (int i = 0; i < 4; i++) assert_true(buffer[i] == (float)(i + 1));
  free(buffer);
}

static void test_clone_cleans_up_after_each_allocation_failure(void **state) {
  (void)state;
  const float values[6] = {1, 2, 3, 4, 5, 6};
  int64_t baseline = lb_fault_live_allocations();
  lb_tensor *src = matrix_of(2, 3, values);
  lb_tensor *t = UNTOUCHED_TENSOR;
  assert_each_allocation_failure_is_clean(
      {
        status_ = lb_tensor_clone(src, &t);
        if (status_ != LB_OK) assert_ptr_equal(t, UNTOUCHED_TENSOR);
      },
      {
        assert_values_exact(t, values, 6);
        lb_tensor_free(t);
      });
  assert_values_exact(src, values, 6);
  lb_tensor_free(src);
  assert_int_equal(lb_fault_live_allocations(), baseline);
}

static void test_reshape_cleans_up_after_each_allocation_failure(
    void **state) {
  (void)state;
  const float values[6] = {1, 2, 3, 4, 5, 6};
  const int64_t shape[2] = {3, 2};
  int64_t baseline = lb_fault_live_allocations();
  lb_tensor *src = matrix_of(2, 3, values);
  lb_tensor *t = UNTOUCHED_TENSOR;
  assert_each_allocation_failure_is_clean(
      {
        status_ = lb_tensor_reshape(src, 2, shape, &t);
        if (status_ != LB_OK) assert_ptr_equal(t, UNTOUCHED_TENSOR);
      },
      {
        assert_ptr_equal(lb_tensor_data(t), lb_tensor_data(src));
        lb_tensor_free(t);
      });
  /* A failed reshape took no reference on the storage: freeing the source
   * releases everything. */
  lb_tensor_free(src);
  assert_int_equal(lb_fault_live_allocations(), baseline);
}

/* ==== life cycle and accessors ============================================ */

static void test_created_storage_is_64_byte_aligned(void **state) {
  (void)state;
  const int64_t shapes[][4] = {{1, 1, 1, 1}, {3, 1, 1, 1},  {17, 1, 1, 1},
                               {5, 7, 1, 1}, {2, 3, 4, 5}, {1, 1, 1, 13}};
  const float values[120] = {0};
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    lb_tensor *made[4] = {NULL, NULL, NULL, NULL};
    assert_int_equal(lb_tensor_create(4, shapes[i], &made[0]), LB_OK);
    assert_int_equal(lb_tensor_zeros(4, shapes[i], &made[1]), LB_OK);
    assert_int_equal(lb_tensor_from_copy(4, shapes[i], values, &made[2]),
                     LB_OK);
    assert_int_equal(lb_tensor_clone(made[0], &made[3]), LB_OK);
    for (int j = 0; j < 4; j++) {
      assert_int_equal((uintptr_t)lb_tensor_data(made[j]) %
                           LB_TENSOR_ALIGNMENT,
                       0);
      lb_tensor_free(made[j]);
    }
  }
  assert_int_equal(LB_TENSOR_ALIGNMENT, 64);
}

static void test_create_records_ndim_shape_and_numel(void **state) {
  (void)state;
  const int64_t shape[4] = {2, 3, 4, 5};
  lb_tensor *t = NULL;
  assert_int_equal(lb_tensor_create(4, shape, &t), LB_OK);
  assert_non_null(t);
  assert_int_equal(lb_tensor_ndim(t), 4);
  assert_int_equal(lb_tensor_numel(t), 120);
  for (int32_t axis = 0; axis < 4; axis++)
    assert_int_equal(lb_tensor_dim(t, axis), shape[axis]);
  int64_t copied[4] = {0, 0, 0, 0};
  assert_int_equal(lb_tensor_shape(t, copied, 4), LB_OK);
  assert_memory_equal(copied, shape, sizeof shape);
  /* Every element is writable (ASan checks the allocation is big enough). */
  float *data = lb_tensor_data(t);
  for (int64_t i = 0; i < 120; i++) data[i] = (float)i;
  assert_ptr_equal(lb_tensor_data_const(t), data);
  lb_tensor_free(t);
}

static void test_create_copies_the_shape_array(void **state) {
  (void)state;
  int64_t shape[2] = {2, 3};
  lb_tensor *t = NULL;
  assert_int_equal(lb_tensor_create(2, shape, &t), LB_OK);
  shape[0] = 50;
  shape[1] = 60;
  assert_int_equal(lb_tensor_dim(t, 0), 2);
  assert_int_equal(lb_tensor_dim(t, 1), 3);
  lb_tensor_free(t);
}

static void test_zeros_sets_every_element_to_zero(void **state) {
  (void)state;
  const int64_t shape[2] = {31, 33};
  /* Dirty memory of the same size first, so that reused blocks would show. */
  for (int round = 0; round < 3; round++) {
    lb_tensor *dirty = tensor_filled(2, shape, -3.25f);
    lb_tensor_free(dirty);
    lb_tensor *t = NULL;
    assert_int_equal(lb_tensor_zeros(2, shape, &t), LB_OK);
    assert_int_equal(lb_tensor_numel(t), 31 * 33);
    const float *data = lb_tensor_data_const(t);
    for (int64_t i = 0; i < 31 * 33; i++) {
      assert_true(data[i] == 0.0f);
      assert_false(signbit(data[i]));
    }
    lb_tensor_free(t);
  }
}

static void test_from_copy_copies_so_later_source_changes_do_not_show(
    void **state) {
  (void)state;
  float source[6] = {1, 2, 3, 4, 5, 6};
  const float original[6] = {1, 2, 3, 4, 5, 6};
  lb_tensor *t = matrix_of(2, 3, source);
  assert_ptr_not_equal(lb_tensor_data(t), source);
  for (int i = 0; i < 6; i++) source[i] = -100.0f;
  assert_values_exact(t, original, 6);
  lb_tensor_data(t)[0] = 42.0f;
  assert_true(source[0] == -100.0f);
  lb_tensor_free(t);
}

static void test_wrap_does_not_copy_so_writes_show_both_ways(void **state) {
  (void)state;
  float buffer[6] = {1, 2, 3, 4, 5, 6};
  const int64_t shape[2] = {3, 2};
  lb_tensor *t = NULL;
  assert_int_equal(lb_tensor_wrap(2, shape, buffer, &t), LB_OK);
  assert_ptr_equal(lb_tensor_data(t), buffer);
  assert_int_equal(lb_tensor_numel(t), 6);
  assert_int_equal(lb_tensor_dim(t, 0), 3);

  buffer[4] = 50.0f; /* caller -> tensor */
  assert_true(lb_tensor_data_const(t)[4] == 50.0f);
  assert_int_equal(lb_tensor_fill(t, 9.0f), LB_OK); /* tensor -> caller */
  for (int i = 0; i < 6; i++) assert_true(buffer[i] == 9.0f);
  lb_tensor_free(t);
  /* The stack buffer is still ours. */
  buffer[0] = 1.0f;
  assert_true(buffer[0] == 1.0f);
}

static void test_free_of_wrapped_tensor_and_its_views_keeps_caller_buffer(
    void **state) {
  (void)state;
  int64_t baseline = lb_fault_live_allocations();
  float *buffer = malloc(8 * sizeof *buffer);
  assert_non_null(buffer);
  const int64_t shape[1] = {8}, as_matrix[2] = {2, 4};
  lb_tensor *t = NULL, *view = NULL;
  assert_int_equal(lb_tensor_wrap(1, shape, buffer, &t), LB_OK);
  assert_int_equal(lb_tensor_reshape(t, 2, as_matrix, &view), LB_OK);
  assert_int_equal(lb_tensor_fill(view, 2.5f), LB_OK);
  lb_tensor_free(t);
  lb_tensor_free(view);
  /* The library released its own handles and storage record... */
  assert_int_equal(lb_fault_live_allocations(), baseline);
  /* ...but not the buffer: it is still readable, writable and ours to free
   * (ASan reports a use after free or a double free otherwise). */
  for (int i = 0; i < 8; i++) assert_true(buffer[i] == 2.5f);
  buffer[7] = -1.0f;
  assert_true(buffer[7] == -1.0f);
  free(buffer);
}

static void test_clone_has_its_own_storage_with_equal_contents(void **state) {
  (void)state;
  float buffer[6] = {1, -2, 3, -4, 5, -6};
  const float original[6] = {1, -2, 3, -4, 5, -6};
  const int64_t shape[3] = {1, 2, 3};
  lb_tensor *src = NULL, *copy = NULL;
  assert_int_equal(lb_tensor_wrap(3, shape, buffer, &src), LB_OK);
  assert_int_equal(lb_tensor_clone(src, &copy), LB_OK);
  assert_ptr_not_equal(lb_tensor_data(copy), buffer);
  assert_int_equal(lb_tensor_ndim(copy), 3);
  assert_int_equal(lb_tensor_dim(copy, 1), 2);
  assert_int_equal(lb_tensor_dim(copy, 2), 3);
  assert_values_exact(copy, original, 6);
  assert_int_equal((uintptr_t)lb_tensor_data(copy) % 64, 0);

  lb_tensor_data(copy)[0] = 100.0f;
  assert_true(buffer[0] == 1.0f);
  buffer[1] = 200.0f;
  assert_true(lb_tensor_data(copy)[1] == -2.0f);

  lb_tensor_free(src);
  assert_true(lb_tensor_data(copy)[5] == -6.0f); /* outlives its source */
  lb_tensor_free(copy);
}

static void test_reshape_view_shares_storage_and_outlives_its_source(
    void **state) {
  (void)state;
  int64_t baseline = lb_fault_live_allocations();
  const float values[6] = {1, 2, 3, 4, 5, 6};
  const int64_t new_shape[3] = {3, 1, 2};
  lb_tensor *src = matrix_of(2, 3, values);
  lb_tensor *view = NULL;
  assert_int_equal(lb_tensor_reshape(src, 3, new_shape, &view), LB_OK);
  assert_ptr_not_equal(view, src);
  assert_ptr_equal(lb_tensor_data(view), lb_tensor_data(src));
  assert_int_equal(lb_tensor_ndim(view), 3);
  assert_int_equal(lb_tensor_dim(view, 0), 3);
  assert_int_equal(lb_tensor_dim(view, 1), 1);
  assert_int_equal(lb_tensor_dim(view, 2), 2);
  assert_int_equal(lb_tensor_numel(view), 6);
  /* The source keeps its own shape. */
  assert_int_equal(lb_tensor_ndim(src), 2);
  assert_int_equal(lb_tensor_dim(src, 1), 3);

  lb_tensor_data(view)[5] = 60.0f;
  assert_true(lb_tensor_data(src)[5] == 60.0f);
  lb_tensor_data(src)[0] = 10.0f;
  assert_true(lb_tensor_data(view)[0] == 10.0f);

  lb_tensor_free(src);
  const float expected[6] = {10, 2, 3, 4, 5, 60};
  assert_values_exact(view, expected, 6); /* ASan: no use after free */
  assert_int_equal(lb_tensor_fill(view, 1.0f), LB_OK);
  lb_tensor_free(view);
  assert_int_equal(lb_fault_live_allocations(), baseline);
}

static void test_storage_lives_until_the_last_view_is_freed(void **state) {
  (void)state;
  int64_t baseline = lb_fault_live_allocations();
  const int64_t s12[1] = {12}, s34[2] = {3, 4}, s2231[4] = {2, 2, 3, 1};
  lb_tensor *src = tensor_filled(1, s12, 3.0f);
  lb_tensor *first = NULL, *second = NULL;
  assert_int_equal(lb_tensor_reshape(src, 2, s34, &first), LB_OK);
  assert_int_equal(lb_tensor_reshape(first, 4, s2231, &second), LB_OK);
  /* One data block, one storage record, three handles. */
  assert_int_equal(lb_fault_live_allocations(), baseline + 5);
  lb_tensor_free(first);
  lb_tensor_free(src);
  assert_int_equal(lb_fault_live_allocations(), baseline + 3);
  assert_all_equal(second, 3.0f);
  assert_int_equal(lb_tensor_dim(second, 2), 3);
  lb_tensor_free(second);
  assert_int_equal(lb_fault_live_allocations(), baseline);
}

static void test_dim_counts_negative_axes_from_the_end(void **state) {
  (void)state;
  const int64_t shape[4] = {2, 3, 5, 7};
  lb_tensor *t = tensor_filled(4, shape, 0.0f);
  assert_int_equal(lb_tensor_dim(t, -1), 7);
  assert_int_equal(lb_tensor_dim(t, -2), 5);
  assert_int_equal(lb_tensor_dim(t, -3), 3);
  assert_int_equal(lb_tensor_dim(t, -4), 2);
  assert_int_equal(lb_tensor_dim(t, 0), 2);
  assert_int_equal(lb_tensor_dim(t, 3), 7);
  lb_tensor_free(t);
}

static void test_shape_writes_exactly_ndim_extents(void **state) {
  (void)state;
  const int64_t dims[2] = {4, 9};
  lb_tensor *t = tensor_filled(2, dims, 0.0f);
  int64_t shape[4] = {-7, -7, -7, -7};
  assert_int_equal(lb_tensor_shape(t, shape, 4), LB_OK);
  assert_int_equal(shape[0], 4);
  assert_int_equal(shape[1], 9);
  assert_int_equal(shape[2], -7);
  assert_int_equal(shape[3], -7);
  int64_t exact[2] = {0, 0};
  assert_int_equal(lb_tensor_shape(t, exact, 2), LB_OK);
  assert_int_equal(exact[0], 4);
  assert_int_equal(exact[1], 9);
  lb_tensor_free(t);
}

static void test_accessors_of_null_return_zero_or_null(void **state) {
  (void)state;
  assert_int_equal(lb_tensor_ndim(NULL), 0);
  assert_int_equal(lb_tensor_numel(NULL), 0);
  assert_null(lb_tensor_data(NULL));
  assert_null(lb_tensor_data_const(NULL));
}

static void test_free_of_null_is_a_no_op(void **state) {
  (void)state;
  int64_t live = lb_fault_live_allocations();
  lb_tensor_free(NULL);
  assert_int_equal(lb_fault_live_allocations(), live);
}

/* ==== element-wise operations ============================================= */

static void test_copy_copies_elements_between_equal_shapes(void **state) {
  (void)state;
  const float values[6] = {1, 2, 3, 4, 5, 6};
  const int64_t shape[2] = {2, 3};
  lb_tensor *src = matrix_of(2, 3, values);
  lb_tensor *dst = tensor_filled(2, shape, -1.0f);
  assert_int_equal(lb_tensor_copy(dst, src), LB_OK);
  assert_values_exact(dst, values, 6);
  assert_ptr_not_equal(lb_tensor_data(dst), lb_tensor_data(src));
  /* Copying a tensor onto a view of itself changes nothing. */
  lb_tensor *view = NULL;
  assert_int_equal(lb_tensor_reshape(src, 2, shape, &view), LB_OK);
  assert_int_equal(lb_tensor_copy(view, src), LB_OK);
  assert_int_equal(lb_tensor_copy(src, src), LB_OK);
  assert_values_exact(src, values, 6);
  lb_tensor_free(src);
  lb_tensor_free(dst);
  lb_tensor_free(view);
}

static void test_fill_sets_every_element(void **state) {
  (void)state;
  const int64_t shape[3] = {3, 5, 7};
  lb_tensor *t = NULL;
  assert_int_equal(lb_tensor_zeros(3, shape, &t), LB_OK);
  assert_int_equal(lb_tensor_fill(t, 3.5f), LB_OK);
  assert_all_equal(t, 3.5f);
  assert_int_equal(lb_tensor_fill(t, -INFINITY), LB_OK);
  assert_all_equal(t, -INFINITY);
  lb_tensor_free(t);
}

static void test_add_sub_mul_compute_elementwise(void **state) {
  (void)state;
  const float av[4] = {1, 2, 3, 4}, bv[4] = {10, 20, 30, 40};
  const int64_t shape[2] = {2, 2};
  lb_tensor *a = matrix_of(2, 2, av), *b = matrix_of(2, 2, bv);
  lb_tensor *out = tensor_filled(2, shape, NAN);

  assert_int_equal(lb_tensor_add(out, a, b), LB_OK);
  const float sum[4] = {11, 22, 33, 44};
  assert_values_exact(out, sum, 4);

  assert_int_equal(lb_tensor_sub(out, a, b), LB_OK);
  const float difference[4] = {-9, -18, -27, -36};
  assert_values_exact(out, difference, 4);

  assert_int_equal(lb_tensor_mul(out, a, b), LB_OK);
  const float product[4] = {10, 40, 90, 160};
  assert_values_exact(out, product, 4);

  /* The inputs are unchanged. */
  assert_values_exact(a, av, 4);
  assert_values_exact(b, bv, 4);
  lb_tensor_free(a);
  lb_tensor_free(b);
  lb_tensor_free(out);
}

static void test_elementwise_ops_allow_out_to_alias_an_input(void **state) {
  (void)state;
  const float av[3] = {1, 2, 3}, bv[3] = {10, 20, 30};
  lb_tensor *a = vector_of(3, av), *b = vector_of(3, bv);

  assert_int_equal(lb_tensor_add(a, a, b), LB_OK); /* a += b */
  const float added[3] = {11, 22, 33};
  assert_values_exact(a, added, 3);

  assert_int_equal(lb_tensor_sub(b, a, b), LB_OK); /* b = a - b */
  const float subtracted[3] = {1, 2, 3};
  assert_values_exact(b, subtracted, 3);

  assert_int_equal(lb_tensor_mul(b, b, b), LB_OK); /* b = b * b */
  const float squared[3] = {1, 4, 9};
  assert_values_exact(b, squared, 3);

  /* Through a view: out is a different handle on a's storage. */
  lb_tensor *view = NULL;
  const int64_t shape[1] = {3};
  assert_int_equal(lb_tensor_reshape(a, 1, shape, &view), LB_OK);
  assert_int_equal(lb_tensor_sub(view, a, b), LB_OK);
  const float through_view[3] = {10, 18, 24};
  assert_values_exact(a, through_view, 3);

  lb_tensor_free(a);
  lb_tensor_free(b);
  lb_tensor_free(view);
}

static void test_scale_multiplies_every_element_in_place(void **state) {
  (void)state;
  const float values[3] = {1, -2, 3};
  lb_tensor *t = vector_of(3, values);
  assert_int_equal(lb_tensor_scale(t, 2.5f), LB_OK);
  const float expected[3] = {2.5f, -5.0f, 7.5f};
  assert_values_exact(t, expected, 3);
  assert_int_equal(lb_tensor_scale(t, 0.0f), LB_OK);
  assert_all_equal(t, 0.0f);
  lb_tensor_free(t);
}

static void test_axpy_adds_alpha_times_x_to_y(void **state) {
  (void)state;
  const float xv[4] = {1, 2, 3, 4}, yv[4] = {1, 1, 1, 1};
  lb_tensor *x = matrix_of(2, 2, xv), *y = matrix_of(2, 2, yv);
  assert_int_equal(lb_tensor_axpy(2.0f, x, y), LB_OK);
  const float expected[4] = {3, 5, 7, 9};
  assert_values_exact(y, expected, 4);
  assert_values_exact(x, xv, 4);
  assert_int_equal(lb_tensor_axpy(-0.5f, x, y), LB_OK);
  const float again[4] = {2.5f, 4, 5.5f, 7};
  assert_values_exact(y, again, 4);
  /* x and y may be the same tensor: y = (1 + alpha) * y. */
  assert_int_equal(lb_tensor_axpy(1.0f, y, y), LB_OK);
  const float doubled[4] = {5, 8, 11, 14};
  assert_values_exact(y, doubled, 4);
  lb_tensor_free(x);
  lb_tensor_free(y);
}

static void test_relu_zeroes_negatives_and_keeps_nan(void **state) {
  (void)state;
  const float values[6] = {-1.5f, 0.0f, 2.0f, NAN, -INFINITY, INFINITY};
  const int64_t shape[1] = {6};
  lb_tensor *in = vector_of(6, values);
  lb_tensor *out = tensor_filled(1, shape, 123.0f);
  assert_int_equal(lb_tensor_relu(out, in), LB_OK);
  const float *z = lb_tensor_data_const(out);
  assert_true(z[0] == 0.0f);
  assert_true(z[1] == 0.0f);
  assert_true(z[2] == 2.0f);
  assert_true(isnan(z[3]));
  assert_true(z[4] == 0.0f);
  assert_true(isinf(z[5]) && z[5] > 0.0f);
  assert_true(lb_tensor_data_const(in)[0] == -1.5f); /* in unchanged */

  /* In place. */
  assert_int_equal(lb_tensor_relu(in, in), LB_OK);
  z = lb_tensor_data_const(in);
  assert_true(z[0] == 0.0f);
  assert_true(z[2] == 2.0f);
  assert_true(isnan(z[3]));
  assert_true(z[4] == 0.0f);
  lb_tensor_free(in);
  lb_tensor_free(out);
}

/* ==== reductions ========================================================== */

static void test_sum_and_mean_accumulate_in_double(void **state) {
  (void)state;
  /* In float, 2^24 + 1 rounds back to 2^24, so a float accumulator would
   * return 16777216; the double one keeps every 1. */
  const float values[5] = {16777216.0f, 1.0f, 1.0f, 1.0f, 1.0f};
  lb_tensor *t = vector_of(5, values);
  double sum = 0.0, mean = 0.0;
  assert_int_equal(lb_tensor_sum(t, &sum), LB_OK);
  assert_double_exact(sum, 16777220.0);
  assert_int_equal(lb_tensor_mean(t, &mean), LB_OK);
  assert_double_exact(mean, 16777220.0 / 5.0);
  lb_tensor_free(t);

  const float small[6] = {1, 2, 3, 4, 5, 6};
  t = matrix_of(3, 2, small);
  assert_int_equal(lb_tensor_sum(t, &sum), LB_OK);
  assert_double_exact(sum, 21.0);
  assert_int_equal(lb_tensor_mean(t, &mean), LB_OK);
  assert_double_exact(mean, 3.5);
  lb_tensor_free(t);
}

static void test_max_returns_value_and_first_index_of_the_largest(
    void **state) {
  (void)state;
  const float values[6] = {1, 5, 3, 5, -2, 4};
  lb_tensor *t = matrix_of(2, 3, values);
  float max = 0.0f;
  int64_t index = -1;
  assert_int_equal(lb_tensor_max(t, &max, &index), LB_OK);
  assert_true(max == 5.0f);
  assert_int_equal(index, 1);
  lb_tensor_free(t);

  const float negatives[3] = {-3, -1, -2};
  t = vector_of(3, negatives);
  assert_int_equal(lb_tensor_max(t, &max, &index), LB_OK);
  assert_true(max == -1.0f);
  assert_int_equal(index, 1);
  lb_tensor_free(t);

  const float infinities[3] = {-INFINITY, INFINITY, 2.0f};
  t = vector_of(3, infinities);
  assert_int_equal(lb_tensor_max(t, &max, &index), LB_OK);
  assert_true(isinf(max) && max > 0.0f);
  assert_int_equal(index, 1);
  lb_tensor_free(t);

  const float last[4] = {0, 0, 0, 0.5f};
  t = vector_of(4, last);
  assert_int_equal(lb_tensor_max(t, &max, &index), LB_OK);
  assert_true(max == 0.5f);
  assert_int_equal(index, 3);
  lb_tensor_free(t);
}

static void test_max_outputs_are_optional(void **state) {
  (void)state;
  const float values[4] = {2, 8, 8, 1};
  lb_tensor *t = vector_of(4, values);
  float max = 0.0f;
  int64_t index = -1;
  assert_int_equal(lb_tensor_max(t, &max, NULL), LB_OK);
  assert_true(max == 8.0f);
  assert_int_equal(lb_tensor_max(t, NULL, &index), LB_OK);
  assert_int_equal(index, 1);
  assert_int_equal(lb_tensor_max(t, NULL, NULL), LB_OK);
  lb_tensor_free(t);
}

static void test_dot_of_equal_counts_accumulates_in_double(void **state) {
  (void)state;
  const float av[6] = {1, 2, 3, 4, 5, 6}, bv[6] = {6, 5, 4, 3, 2, 1};
  /* Shapes may differ; only the element counts must match. */
  lb_tensor *a = matrix_of(2, 3, av), *b = vector_of(6, bv);
  double dot = 0.0;
  assert_int_equal(lb_tensor_dot(a, b, &dot), LB_OK);
  assert_double_exact(dot, 56.0);
  lb_tensor_free(a);
  lb_tensor_free(b);

  const float big[5] = {16777216.0f, 1, 1, 1, 1};
  const float ones[5] = {1, 1, 1, 1, 1};
  a = vector_of(5, big);
  b = vector_of(5, ones);
  assert_int_equal(lb_tensor_dot(a, b, &dot), LB_OK);
  assert_double_exact(dot, 16777220.0);
  assert_int_equal(lb_tensor_dot(a, a, &dot), LB_OK);
  assert_double_exact(dot, 16777216.0 * 16777216.0 + 4.0);
  lb_tensor_free(a);
  lb_tensor_free(b);
}

static void test_sum_rows_sums_each_column_over_the_rows(void **state) {
  (void)state;
  const float values[6] = {1, 2, 3, 4, 5, 6}; /* [[1, 2], [3, 4], [5, 6]] */
  const int64_t s2[1] = {2};
  lb_tensor *in = matrix_of(3, 2, values);
  lb_tensor *out = tensor_filled(1, s2, 100.0f); /* overwritten, not added */
  assert_int_equal(lb_tensor_sum_rows(out, in), LB_OK);
  const float expected[2] = {9, 12};
  assert_values_exact(out, expected, 2);
  assert_values_exact(in, values, 6);
  lb_tensor_free(in);
  lb_tensor_free(out);
}

/* ==== matrix product ====================================================== */

/* a is [2, 3], b is [3, 4]; their product, computed by hand:
 *   row 0: 1*7+2*11+3*15 = 74, 1*8+2*12+3*16 = 80, 86, 92
 *   row 1: 4*7+5*11+6*15 = 173, 188, 203, 218 */
static const float matmul_a[6] = {1, 2, 3, 4, 5, 6};
static const float matmul_a_transposed[6] = {1, 4, 2, 5, 3, 6};
static const float matmul_b[12] = {7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18};
static const float matmul_b_transposed[12] = {7,  11, 15, 8,  12, 16,
                                              9,  13, 17, 10, 14, 18};
static const float matmul_ab[8] = {74, 80, 86, 92, 173, 188, 203, 218};

static void test_matmul_matches_hand_computed_product_for_every_transpose(
    void **state) {
  (void)state;
  const int64_t s24[2] = {2, 4};
  for (int transpose_a = 0; transpose_a < 2; transpose_a++) {
    for (int transpose_b = 0; transpose_b < 2; transpose_b++) {
      /* Store each operand so that op(stored) is the same matrix. */
      lb_tensor *a = transpose_a ? matrix_of(3, 2, matmul_a_transposed)
                                 : matrix_of(2, 3, matmul_a);
      lb_tensor *b = transpose_b ? matrix_of(4, 3, matmul_b_transposed)
                                 : matrix_of(3, 4, matmul_b);
      lb_tensor *c = tensor_filled(2, s24, 1234.0f);
      assert_int_equal(
          lb_tensor_matmul(c, a, transpose_a, b, transpose_b, 1.0f, 0.0f),
          LB_OK);
      assert_values_exact(c, matmul_ab, 8);
      lb_tensor_free(a);
      lb_tensor_free(b);
      lb_tensor_free(c);
    }
  }
}

static void test_matmul_computes_alpha_times_product_plus_beta_times_c(
    void **state) {
  (void)state;
  const float c0[8] = {1, 1, 1, 1, 2, 2, 2, 2};
  lb_tensor *a = matrix_of(2, 3, matmul_a);
  lb_tensor *b = matrix_of(3, 4, matmul_b);
  lb_tensor *c = matrix_of(2, 4, c0);
  assert_int_equal(lb_tensor_matmul(c, a, 0, b, 0, 0.5f, 2.0f), LB_OK);
  float expected[8];
  for (int i = 0; i < 8; i++) expected[i] = 0.5f * matmul_ab[i] + 2.0f * c0[i];
  assert_values_exact(c, expected, 8);

  /* alpha = -1, beta = 1: subtracts the product from c. */
  assert_int_equal(lb_tensor_matmul(c, a, 0, b, 0, -1.0f, 1.0f), LB_OK);
  for (int i = 0; i < 8; i++) expected[i] -= matmul_ab[i];
  assert_values_exact(c, expected, 8);

  /* alpha = 0, beta = 1: c is unchanged. */
  assert_int_equal(lb_tensor_matmul(c, a, 0, b, 0, 0.0f, 1.0f), LB_OK);
  assert_values_exact(c, expected, 8);
  lb_tensor_free(a);
  lb_tensor_free(b);
  lb_tensor_free(c);
}

static void test_matmul_with_beta_zero_ignores_nan_in_c(void **state) {
  (void)state;
  const int64_t s24[2] = {2, 4};
  lb_tensor *a = matrix_of(2, 3, matmul_a);
  lb_tensor *b = matrix_of(3, 4, matmul_b);
  lb_tensor *c = tensor_filled(2, s24, NAN);
  assert_int_equal(lb_tensor_matmul(c, a, 0, b, 0, 1.0f, 0.0f), LB_OK);
  assert_values_exact(c, matmul_ab, 8);

  assert_int_equal(lb_tensor_fill(c, INFINITY), LB_OK);
  assert_int_equal(lb_tensor_matmul(c, a, 0, b, 0, 2.0f, 0.0f), LB_OK);
  float doubled[8];
  for (int i = 0; i < 8; i++) doubled[i] = 2.0f * matmul_ab[i];
  assert_values_exact(c, doubled, 8);
  lb_tensor_free(a);
  lb_tensor_free(b);
  lb_tensor_free(c);
}

static void test_matmul_allows_a_and_b_to_share_storage(void **state) {
  (void)state;
  const int64_t s22[2] = {2, 2};
  lb_tensor *a = matrix_of(2, 3, matmul_a);
  lb_tensor *c = tensor_filled(2, s22, 0.0f);
  /* a * a^T = [[1+4+9, 4+10+18], [.., 16+25+36]] */
  assert_int_equal(lb_tensor_matmul(c, a, 0, a, 1, 1.0f, 0.0f), LB_OK);
  const float gram[4] = {14, 32, 32, 77};
  assert_values_exact(c, gram, 4);
  assert_values_exact(a, matmul_a, 6);
  lb_tensor_free(a);
  lb_tensor_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      /* bad arguments */
      cmocka_unit_test(test_constructors_reject_null_shape),
      cmocka_unit_test(test_constructors_reject_ndim_outside_one_to_four),
      cmocka_unit_test(test_constructors_reject_zero_and_negative_extents),
      cmocka_unit_test(test_constructors_reject_shapes_whose_size_overflows),
      cmocka_unit_test(test_shape_too_large_for_memory_fails_with_enomem),
      cmocka_unit_test(test_constructors_reject_null_out),
      cmocka_unit_test(test_from_copy_and_wrap_reject_null_data),
      cmocka_unit_test(test_wrap_rejects_data_not_aligned_for_float),
      cmocka_unit_test(test_clone_and_reshape_reject_null_source),
      cmocka_unit_test(test_reshape_rejects_a_different_element_count),
      cmocka_unit_test(test_dim_of_null_tensor_is_minus_one_with_a_message),
      cmocka_unit_test(
          test_dim_with_axis_out_of_range_is_minus_one_with_a_message),
      cmocka_unit_test(test_shape_rejects_null_arguments_and_small_capacity),
      cmocka_unit_test(test_copy_rejects_null_and_mismatched_shapes),
      cmocka_unit_test(test_fill_and_scale_reject_null),
      cmocka_unit_test(test_add_rejects_null_and_mismatched_shapes),
      cmocka_unit_test(test_sub_rejects_null_and_mismatched_shapes),
      cmocka_unit_test(test_mul_rejects_null_and_mismatched_shapes),
      cmocka_unit_test(
          test_axpy_rejects_null_and_mismatched_shapes_naming_x_and_y),
      cmocka_unit_test(
          test_relu_rejects_null_and_mismatched_shapes_naming_in_and_out),
      cmocka_unit_test(
          test_sum_and_mean_reject_null_and_leave_output_untouched),
      cmocka_unit_test(test_max_rejects_null_tensor),
      cmocka_unit_test(
          test_max_of_nan_fails_with_enonfinite_and_writes_nothing),
      cmocka_unit_test(test_dot_rejects_null_and_different_counts),
      cmocka_unit_test(
          test_sum_rows_rejects_null_bad_shapes_and_shared_storage),
      cmocka_unit_test(test_matmul_rejects_null_operands),
      cmocka_unit_test(test_matmul_rejects_operands_that_are_not_2d),
      cmocka_unit_test(test_matmul_rejects_mismatched_extents),
      cmocka_unit_test(test_matmul_rejects_c_sharing_storage_with_an_operand),
      cmocka_unit_test(test_matmul_rejects_extents_beyond_int32_max),

      /* allocation failures */
      cmocka_unit_test(test_create_cleans_up_after_each_allocation_failure),
      cmocka_unit_test(test_zeros_cleans_up_after_each_allocation_failure),
      cmocka_unit_test(
          test_from_copy_cleans_up_after_each_allocation_failure),
      cmocka_unit_test(
          test_wrap_cleans_up_after_each_allocation_failure_and_keeps_buffer),
      cmocka_unit_test(test_clone_cleans_up_after_each_allocation_failure),
      cmocka_unit_test(test_reshape_cleans_up_after_each_allocation_failure),

      /* life cycle and accessors */
      cmocka_unit_test(test_created_storage_is_64_byte_aligned),
      cmocka_unit_test(test_create_records_ndim_shape_and_numel),
      cmocka_unit_test(test_create_copies_the_shape_array),
      cmocka_unit_test(test_zeros_sets_every_element_to_zero),
      cmocka_unit_test(
          test_from_copy_copies_so_later_source_changes_do_not_show),
      cmocka_unit_test(test_wrap_does_not_copy_so_writes_show_both_ways),
      cmocka_unit_test(
          test_free_of_wrapped_tensor_and_its_views_keeps_caller_buffer),
      cmocka_unit_test(test_clone_has_its_own_storage_with_equal_contents),
      cmocka_unit_test(
          test_reshape_view_shares_storage_and_outlives_its_source),
      cmocka_unit_test(test_storage_lives_until_the_last_view_is_freed),
      cmocka_unit_test(test_dim_counts_negative_axes_from_the_end),
      cmocka_unit_test(test_shape_writes_exactly_ndim_extents),
      cmocka_unit_test(test_accessors_of_null_return_zero_or_null),
      cmocka_unit_test(test_free_of_null_is_a_no_op),

      /* element-wise */
      cmocka_unit_test(test_copy_copies_elements_between_equal_shapes),
      cmocka_unit_test(test_fill_sets_every_element),
      cmocka_unit_test(test_add_sub_mul_compute_elementwise),
      cmocka_unit_test(test_elementwise_ops_allow_out_to_alias_an_input),
      cmocka_unit_test(test_scale_multiplies_every_element_in_place),
      cmocka_unit_test(test_axpy_adds_alpha_times_x_to_y),
      cmocka_unit_test(test_relu_zeroes_negatives_and_keeps_nan),

      /* reductions */
      cmocka_unit_test(test_sum_and_mean_accumulate_in_double),
      cmocka_unit_test(test_max_returns_value_and_first_index_of_the_largest),
      cmocka_unit_test(test_max_outputs_are_optional),
      cmocka_unit_test(test_dot_of_equal_counts_accumulates_in_double),
      cmocka_unit_test(test_sum_rows_sums_each_column_over_the_rows),

      /* matrix product */
      cmocka_unit_test(
          test_matmul_matches_hand_computed_product_for_every_transpose),
      cmocka_unit_test(
          test_matmul_computes_alpha_times_product_plus_beta_times_c),
      cmocka_unit_test(test_matmul_with_beta_zero_ignores_nan_in_c),
      cmocka_unit_test(test_matmul_allows_a_and_b_to_share_storage),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
