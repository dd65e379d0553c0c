/* Tests of the GEMM layer (lib/core/gemm.c) on the library's pool: a
 * product cut into column or row blocks over several threads equals one
 * OpenBLAS call up to rounding (OpenBLAS picks other kernels for the
 * smaller blocks, which may round differently), for every transpose and
 * beta, and odd shapes; and repeating a product gives the same bits. Pool
 * mode is the default; the program also says so in its environment before
 * its first product, so that an inherited LOSSBAL_GEMM cannot change it. */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/core_internal.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static float *random_matrix(int64_t count, uint64_t seed) {
  float *data = malloc((size_t)count * sizeof(float));
  assert_non_null(data);
  uint64_t state = seed * 2862933555777941757u + 3037000493u;
  for (int64_t i = 0; i < count; i++) {
    state = state * 2862933555777941757u + 3037000493u;
    data[i] = (float)((double)(state >> 40) / (double)(1u << 23) - 1.0);
  }
  return data;
}

typedef struct shape {
  int64_t m, n, k;
} shape;

/* lb_sgemm against one direct cblas_sgemm (OpenBLAS is at one thread in
 * pool mode, so the direct call is the plain single-threaded product). */
static void check_product(shape s, bool ta, bool tb, float beta,
                          int32_t threads) {
  int64_t lda = ta ? s.m : s.k, ldb = tb ? s.k : s.n;
  float *a = random_matrix(s.m * s.k, 1), *b = random_matrix(s.k * s.n, 2);
  float *c = random_matrix(s.m * s.n, 3);
  float *want = malloc((size_t)(s.m * s.n) * sizeof(float));
  memcpy(want, c, (size_t)(s.m * s.n) * sizeof(float));
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
              tb ? CblasTrans : CblasNoTrans, (int)s.m, (int)s.n, (int)s.k,
              0.5f, a, (int)lda, b, (int)ldb, beta, want, (int)s.n);
  int32_t kept = lb_get_num_threads();
  assert_int_equal(lb_set_num_threads(threads), LB_OK);
  lb_sgemm(ta, tb, s.m, s.n, s.k, 0.5f, a, lda, b, ldb, beta, c, s.n);
  assert_int_equal(lb_set_num_threads(kept), LB_OK);
  double worst = 0.0, largest = 0.0;
  for (int64_t i = 0; i < s.m * s.n; i++) {
    double error = fabs((double)c[i] - want[i]);
    worst = error > worst || isnan(error) ? error : worst;
    largest = fabs(want[i]) > largest ? fabs(want[i]) : largest;
  }
  /* k products of values below 1 in float: a few ulps of the largest. */
  if (!(worst <= 1e-6 * (largest > 1.0 ? largest : 1.0) * (double)s.k))
    fail_msg("m %lld n %lld k %lld ta %d tb %d beta %g on %d threads is "
             "off by %g from one OpenBLAS call", (long long)s.m,
             (long long)s.n, (long long)s.k, ta, tb, (double)beta,
             (int)threads, worst);
  free(a);
  free(b);
  free(c);
  free(want);
}

static void test_pool_mode_is_on(void **state) {
  (void)state;
  assert_true(lb_gemm_on_pool());
}

static void test_split_products_equal_one_call(void **state) {
  (void)state;
  const shape shapes[] = {
      {64, 4096, 64},  /* many columns: column blocks */
      {4096, 3, 40},   /* few columns, many rows: row blocks */
      {37, 1001, 129}, /* ragged column grains */
      {1, 1, 1},       /* too small to split */
      {513, 17, 300}};
  for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
    for (int t = 0; t < 4; t++)
      for (int threads = 1; threads <= 5; threads += 2) {
        check_product(shapes[i], t & 1, t & 2, 0.0f, threads);
        check_product(shapes[i], t & 1, t & 2, 1.0f, threads);
      }
}

static void test_repeated_products_are_identical(void **state) {
  (void)state;
  shape s = {64, 4096, 64};
  float *a = random_matrix(s.m * s.k, 4), *b = random_matrix(s.k * s.n, 5);
  float *first = calloc((size_t)(s.m * s.n), sizeof(float));
  float *again = calloc((size_t)(s.m * s.n), sizeof(float));
  int32_t kept = lb_get_num_threads();
  assert_int_equal(lb_set_num_threads(3), LB_OK);
  lb_sgemm(false, false, s.m, s.n, s.k, 1.0f, a, s.k, b, s.n, 0.0f, first,
           s.n);
  lb_sgemm(false, false, s.m, s.n, s.k, 1.0f, a, s.k, b, s.n, 0.0f, again,
           s.n);
  assert_int_equal(lb_set_num_threads(kept), LB_OK);
  assert_memory_equal(first, again, (size_t)(s.m * s.n) * sizeof(float));
  free(a);
  free(b);
  free(first);
  free(again);
}

int main(void) {
  /* Pool mode is chosen once, at the first product. */
  setenv("LOSSBAL_GEMM", "pool", 1);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pool_mode_is_on),
      cmocka_unit_test(test_split_products_equal_one_call),
      cmocka_unit_test(test_repeated_products_are_identical),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
