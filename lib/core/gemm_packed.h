/*
 * Products with a left factor packed once and used many times: the
 * prepared Winograd filters of lb_model_predict() (conv_winograd4.c,
 * conv_winograd.c).
 *
 *   C [rows, columns] = A [rows, depth] * B [depth, columns], row-major,
 *
 * with A stored as panels of LB_PACKED_ROWS rows: panel p holds rows
 * 6p..6p+5 column by column, A[6p + r][d] at packed[(p * depth + d) * 6 +
 * r], the rows past the last padded with zeros. OpenBLAS packs both factors
 * on every call; for filters that are fixed across calls that is work (and
 * memory traffic) paid per call, most of the cost of the narrow products of
 * small images (docs/performance.md, step 19).
 *
 * Each element of C is the sum over d in order, one multiply-add at a time,
 * whatever the rows and columns asked for: a row range or a column block
 * gives the same bits as the whole product. The kernel is chosen once per
 * process: AVX2 with FMA where the processor has them (x86-64, built with
 * LOSSBAL_CPU_CLONES), else portable C, which rounds each product before
 * adding it. Internal; never installed.
 */
#ifndef LOSSBAL_CORE_GEMM_PACKED_H
#define LOSSBAL_CORE_GEMM_PACKED_H

#include <stdbool.h>
#include <stdint.h>

/* Rows of A per panel, and columns of C per kernel call. */
#define LB_PACKED_ROWS 6
#define LB_PACKED_COLUMNS 16

/* Floats of a packed A of `rows` rows (rounded up to whole panels). */
int64_t lb_packed_floats(int64_t rows, int64_t depth);

/* Where A[row][d] goes: packed[lb_packed_index(row, d, depth)]. */
static inline int64_t lb_packed_index(int64_t row, int64_t d, int64_t depth) {
  return ((row / LB_PACKED_ROWS) * depth + d) * LB_PACKED_ROWS +
         row % LB_PACKED_ROWS;
}

/* Zeroes the padding rows of the last panel (rows past `rows`). */
void lb_packed_clear_padding(int64_t rows, int64_t depth, float *packed);

/* Stores values[0, count) as A's elements [first, first + count) in A's
 * row-major order (element e is A[e / depth][e % depth]). */
void lb_packed_store(const float *values, int64_t first, int64_t count,
                     int64_t depth, float *packed);

/* For `matrices` packed A's laid end to end (lb_packed_floats() floats
 * each) whose rows are prepared in ranges [first_row, end_row) on several
 * threads, each range calling this: the one non-empty range that ends at
 * the last row clears their padding, so no two threads write it. */
void lb_packed_clear_padding_by_range(int64_t first_row, int64_t end_row,
                                      int64_t rows, int64_t depth,
                                      int32_t matrices, float *packed);

/* The depth and the columns go in blocks: B's block (256 x 128 floats,
 * 128 KB, packed into the caller's scratch) stays in L2 while every
 * panel's part of it (6 KB) passes over it from L1. */
#define LB_PACKED_DEPTH_BLOCK 256
#define LB_PACKED_COLUMN_BLOCK 128

/* Floats of the scratch lb_sgemm_packed() needs. */
int64_t lb_sgemm_packed_scratch_floats(void);

/* Rows [first_row, end_row) of C = A * B, for `columns` columns, on the
 * calling thread, with `scratch` (lb_sgemm_packed_scratch_floats() floats,
 * its own) for B's blocks. */
void lb_sgemm_packed(const float *packed, int64_t depth, int64_t first_row,
                     int64_t end_row, const float *b, int64_t ldb,
                     int64_t columns, float *c, int64_t ldc, float *scratch);

/* Which kernel runs: true for AVX2 + FMA. For tests and benchmarks. */
bool lb_sgemm_packed_uses_fma(void);

/* Tests only: run the portable kernel even where the AVX2 one would run
 * (true), or go back to the process's choice (false). */
void lb_sgemm_packed_force_portable_for_tests(bool portable);

#endif /* LOSSBAL_CORE_GEMM_PACKED_H */
