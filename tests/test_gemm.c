/* Tests of the GEMM layer (lib/core/gemm.c) on the library's pool: a
 * product cut into column or row blocks over several threads equals one
 * OpenBLAS call up to rounding (OpenBLAS picks other kernels for the
 * smaller blocks, which may round differently), for every transpose and
 * beta, and odd shapes; and repeating a product gives the same bits. Pool
 * mode is the default; the program also says so in its environment before
 * its first product, so that an inherited LOSSBAL_GEMM cannot change it.
 *
 * And of the products with a packed left factor (lib/core/gemm_packed.c),
 * with each kernel this build has: against a product in doubles, for
 * shapes at and off the kernel's 6 x 16 block, touching nothing outside
 * the rows and columns asked for; row ranges and column blocks give the
 * same bits as the whole product. */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/core_internal.h"
#include "core/gemm_packed.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static float *random_matrix(int64_t count, uint64_t seed) {
  float *data = malloc((size_t)(count > 0 ? count : 1) * sizeof(float));
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

/* ---- products with a packed left factor ---------------------------------- */

typedef struct packed_case {
  int64_t rows, columns, depth;
} packed_case;

/* At the kernel's block, on both sides of it, a single element, and a
 * ResNet layer's shapes (16 and 64 channels, 294 and 33 tiles). */
static const packed_case packed_cases[] = {
    {6, 16, 1},   {1, 1, 1},    {7, 17, 5},     {12, 32, 64},
    {5, 3, 9},    {16, 294, 16}, {64, 33, 128}, {13, 40, 300},
    {20, 150, 260}, /* more than one block of B's depth and columns */
    {100, 150, 260}, /* the same with B packed (16 panels or more) */
    {7, 5, 0},      /* no depth: zeros */
};

/* Guard floats around C's rows, and a guard row after the last: nothing
 * may be written there. */
#define C_MARGIN 5
#define UNTOUCHED -7.0f

typedef struct packed_run {
  packed_case dims;
  float *a, *packed, *b, *c, *scratch;
  int64_t ldb, ldc;
} packed_run;

static packed_run packed_run_of(packed_case dims, uint64_t seed) {
  packed_run run = {dims, NULL, NULL, NULL, NULL, NULL, dims.columns + 3,
                    dims.columns + 2 * C_MARGIN};
  run.a = random_matrix(dims.rows * dims.depth, seed);
  run.b = random_matrix(dims.depth * run.ldb, seed + 1);
  int64_t packed = lb_packed_floats(dims.rows, dims.depth);
  run.packed = malloc((size_t)(packed > 0 ? packed : 1) * sizeof(float));
  assert_non_null(run.packed);
  for (int64_t i = 0; i < packed; i++)
    run.packed[i] = NAN; /* padding is cleared, not assumed zero */
  for (int64_t r = 0; r < dims.rows; r++)
    for (int64_t d = 0; d < dims.depth; d++)
      run.packed[lb_packed_index(r, d, dims.depth)] =
          run.a[r * dims.depth + d];
  lb_packed_clear_padding(dims.rows, dims.depth, run.packed);
  run.c = malloc((size_t)((dims.rows + 1) * run.ldc) * sizeof(float));
  assert_non_null(run.c);
  /* Exactly as many floats as asked for, wherever malloc puts them: the
   * product aligns its use of them inside (the sanitizer build checks). */
  run.scratch =
      malloc((size_t)lb_sgemm_packed_scratch_floats() * sizeof(float));
  assert_non_null(run.scratch);
  return run;
}

static void free_packed_run(packed_run *run) {
  free(run->a);
  free(run->packed);
  free(run->b);
  free(run->c);
  free(run->scratch);
}

static void fill_untouched(packed_run *run) {
  for (int64_t i = 0; i < (run->dims.rows + 1) * run->ldc; i++)
    run->c[i] = UNTOUCHED;
}

/* Whether C's rows [first, end) are as fill_untouched() left them. */
static bool rows_untouched(const packed_run *run, int64_t first,
                           int64_t end) {
  for (int64_t i = first * run->ldc; i < end * run->ldc; i++)
    if (run->c[i] != UNTOUCHED)
      return false;
  return true;
}

/* Rows [first, end) of the product, columns [column, column + columns),
 * into run->c at column C_MARGIN + column. */
static void packed_product(packed_run *run, int64_t first, int64_t end,
                           int64_t column, int64_t columns) {
  lb_sgemm_packed(run->packed, run->dims.depth, first, end, run->b + column,
                  run->ldb, columns, run->c + C_MARGIN + column, run->ldc,
                  run->scratch);
}

static void check_packed_against_doubles(packed_case dims) {
  packed_run run = packed_run_of(dims, 11);
  fill_untouched(&run);
  packed_product(&run, 0, dims.rows, 0, dims.columns);
  assert_true(rows_untouched(&run, dims.rows, dims.rows + 1));
  for (int64_t r = 0; r < dims.rows; r++)
    for (int64_t j = -C_MARGIN; j < dims.columns + C_MARGIN; j++) {
      float got = run.c[r * run.ldc + C_MARGIN + j];
      if (j < 0 || j >= dims.columns) {
        assert_true(got == UNTOUCHED);
        continue;
      }
      double want = 0.0, magnitude = 0.0;
      for (int64_t d = 0; d < dims.depth; d++) {
        double term = (double)run.a[r * dims.depth + d] *
                      run.b[d * run.ldb + j];
        want += term;
        magnitude += fabs(term);
      }
      /* Each of depth additions rounds by at most half an ulp of a sum no
       * larger than `magnitude`; a product's rounding is smaller. */
      double bound = (double)dims.depth * 0x1p-23 * magnitude + 1e-30;
      if (!(fabs((double)got - want) <= bound))
        fail_msg("packed product %lld x %lld x %lld (%s kernel): element "
                 "(%lld, %lld) is %.9g, want %.9g", (long long)dims.rows,
                 (long long)dims.columns, (long long)dims.depth,
                 lb_sgemm_packed_uses_fma() ? "FMA" : "portable",
                 (long long)r, (long long)j, (double)got, want);
    }
  free_packed_run(&run);
}

/* The whole product, then again in row ranges that cut panels and in
 * column blocks that cut the kernel's 16 columns: the same bits, and the
 * rows on either side of a range (and after C's last) left alone. */
static void check_packed_pieces_give_same_bits(packed_case dims) {
  packed_run run = packed_run_of(dims, 21);
  fill_untouched(&run);
  packed_product(&run, 0, dims.rows, 0, dims.columns);
  size_t row_bytes = (size_t)run.ldc * sizeof(float);
  size_t bytes = (size_t)dims.rows * row_bytes;
  float *whole = malloc(bytes > 0 ? bytes : 1);
  assert_non_null(whole);
  memcpy(whole, run.c, bytes);

  int64_t cut = dims.rows / 3 + 1 < dims.rows ? dims.rows / 3 + 1 : dims.rows;
  const int64_t ranges[2][2] = {{0, cut}, {cut, dims.rows}};
  for (int i = 0; i < 2; i++) {
    int64_t first = ranges[i][0], end = ranges[i][1];
    fill_untouched(&run);
    packed_product(&run, first, end, 0, dims.columns);
    assert_true(rows_untouched(&run, 0, first));
    assert_true(rows_untouched(&run, end, dims.rows + 1));
    assert_memory_equal(run.c + first * run.ldc, whole + first * run.ldc,
                        (size_t)(end - first) * row_bytes);
  }

  fill_untouched(&run);
  for (int64_t j = 0; j < dims.columns; j += 7)
    packed_product(&run, 0, dims.rows, j,
                   dims.columns - j < 7 ? dims.columns - j : 7);
  assert_memory_equal(run.c, whole, bytes);
  free(whole);
  free_packed_run(&run);
}

/* Each test runs with the process's kernel, then with the portable one. */
static void for_each_packed_kernel(void (*check)(packed_case)) {
  for (int portable = 0; portable <= 1; portable++) {
    lb_sgemm_packed_force_portable_for_tests(portable);
    for (size_t i = 0; i < sizeof packed_cases / sizeof *packed_cases; i++)
      check(packed_cases[i]);
  }
  lb_sgemm_packed_force_portable_for_tests(false);
}

static void test_packed_products_match_doubles(void **state) {
  (void)state;
  for_each_packed_kernel(check_packed_against_doubles);
}

static void test_packed_pieces_give_the_same_bits(void **state) {
  (void)state;
  for_each_packed_kernel(check_packed_pieces_give_same_bits);
}

static void test_packed_padding_is_cleared(void **state) {
  (void)state;
  packed_run run = packed_run_of((packed_case){13, 4, 3}, 31);
  for (int64_t r = 0; r < 18; r++)
    for (int64_t d = 0; d < 3; d++) {
      float value = run.packed[lb_packed_index(r, d, 3)];
      if (r < 13)
        assert_true(value == run.a[r * 3 + d]);
      else
        assert_true(value == 0.0f);
    }
  assert_int_equal(lb_packed_floats(13, 3), 18 * 3);
  assert_int_equal(lb_packed_floats(12, 3), 12 * 3);
  free_packed_run(&run);
}

/* Elements stored in two runs that cut a row land where lb_packed_index()
 * says; the padding of two matrices is cleared by the one non-empty range
 * that ends at the last row, and by no other. */
static void test_packed_store_and_padding_by_range(void **state) {
  (void)state;
  enum { ROWS = 13, DEPTH = 3, MATRICES = 2 };
  int64_t floats = lb_packed_floats(ROWS, DEPTH);
  float *a = random_matrix(ROWS * DEPTH, 41);
  float *packed = malloc((size_t)(MATRICES * floats) * sizeof(float));
  assert_non_null(packed);
  for (int64_t i = 0; i < MATRICES * floats; i++)
    packed[i] = NAN;
  for (int m = 0; m < MATRICES; m++) {
    lb_packed_store(a, 0, 20, DEPTH, packed + m * floats);
    lb_packed_store(a + 20, 20, ROWS * DEPTH - 20, DEPTH,
                    packed + m * floats);
  }
  lb_packed_clear_padding_by_range(0, 5, ROWS, DEPTH, MATRICES, packed);
  lb_packed_clear_padding_by_range(ROWS, ROWS, ROWS, DEPTH, MATRICES,
                                   packed);
  assert_true(isnan(packed[lb_packed_index(ROWS, 0, DEPTH)]));
  assert_true(isnan(packed[floats + lb_packed_index(17, 2, DEPTH)]));
  lb_packed_clear_padding_by_range(5, ROWS, ROWS, DEPTH, MATRICES, packed);
  for (int m = 0; m < MATRICES; m++)
    for (int64_t r = 0; r < 18; r++)
      for (int64_t d = 0; d < DEPTH; d++) {
        float value = packed[m * floats + lb_packed_index(r, d, DEPTH)];
        assert_true(value == (r < ROWS ? a[r * DEPTH + d] : 0.0f));
      }
  free(a);
  free(packed);
}

int main(void) {
  /* Pool mode is chosen once, at the first product. */
  setenv("LOSSBAL_GEMM", "pool", 1);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pool_mode_is_on),
      cmocka_unit_test(test_split_products_equal_one_call),
      cmocka_unit_test(test_repeated_products_are_identical),
      cmocka_unit_test(test_packed_products_match_doubles),
      cmocka_unit_test(test_packed_pieces_give_the_same_bits),
      cmocka_unit_test(test_packed_padding_is_cleared),
      cmocka_unit_test(test_packed_store_and_padding_by_range),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
