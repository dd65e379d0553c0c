/* Products with a packed left factor: see gemm_packed.h.
 *
 * The kernel keeps a 6 x 16 block of C in registers (twelve 8-float
 * vectors, the most AVX2's sixteen registers hold beside the two of B's
 * row and the broadcast of A's) and runs down the depth: per step two
 * loads of B's row, six broadcasts of A's panel column and twelve
 * multiply-adds. Around it, B goes in blocks of 256 steps by 128 columns
 * (LB_PACKED_DEPTH_BLOCK, LB_PACKED_COLUMN_BLOCK) and, for each, the
 * panels in turn pass over the block: a panel's part (6 KB) from L1, the
 * block (128 KB) from L2. Where enough panels read a block, it is first
 * copied into strips of 16 columns, so that the kernel reads it in order
 * (B's rows may lie a page apart, and a power of two apart, which L1
 * cannot hold many of). Measured against OpenBLAS's sgemm on one thread
 * (docs/performance.md, step 19): 1.1x to 1.4x on the products of
 * Winograd's taps, whose OpenBLAS call packs A again every time. */
#include "gemm_packed.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(LB_NO_TARGET_CLONES)
#  define LB_HAVE_FMA_KERNEL 1
#  include <immintrin.h>
#endif

int64_t lb_packed_floats(int64_t rows, int64_t depth) {
  int64_t panels = (rows + LB_PACKED_ROWS - 1) / LB_PACKED_ROWS;
  return panels * LB_PACKED_ROWS * depth;
}

void lb_packed_clear_padding(int64_t rows, int64_t depth, float *packed) {
  int64_t padded = (rows + LB_PACKED_ROWS - 1) / LB_PACKED_ROWS *
                   LB_PACKED_ROWS;
  for (int64_t row = rows; row < padded; row++)
    for (int64_t d = 0; d < depth; d++)
      packed[lb_packed_index(row, d, depth)] = 0.0f;
}

void lb_packed_store(const float *values, int64_t first, int64_t count,
                     int64_t depth, float *packed) {
  for (int64_t e = 0; e < count; e++)
    packed[lb_packed_index((first + e) / depth, (first + e) % depth,
                           depth)] = values[e];
}

void lb_packed_clear_padding_by_range(int64_t first_row, int64_t end_row,
                                      int64_t rows, int64_t depth,
                                      int32_t matrices, float *packed) {
  if (first_row >= end_row || end_row != rows)
    return;
  for (int32_t i = 0; i < matrices; i++)
    lb_packed_clear_padding(rows, depth,
                            packed + i * lb_packed_floats(rows, depth));
}

/* One kernel call: rows [skip, skip + rows) of a panel's block of C,
 * `columns` (at most 16) wide, over `depth` steps from `panel` and `b`,
 * into c (the first of those rows). With `add`, C holds the sums of the
 * steps before (the depth comes in blocks) and the kernel goes on from
 * them: a float stored and loaded again is the same float, so the sums
 * are those of one pass down the whole depth. */
typedef struct kernel_block {
  const float *panel, *b;
  int64_t ldb, depth, skip, rows, columns;
  float *c;
  int64_t ldc;
  bool add;
} kernel_block;

/* ---- the portable kernel ------------------------------------------------- */

static void kernel_portable(const kernel_block *k) {
  float sums[LB_PACKED_ROWS][LB_PACKED_COLUMNS] = {{0}};
  for (int64_t r = 0; k->add && r < k->rows; r++)
    memcpy(sums[k->skip + r], k->c + r * k->ldc,
           (size_t)k->columns * sizeof(float));
  for (int64_t d = 0; d < k->depth; d++) {
    const float *a = k->panel + d * LB_PACKED_ROWS, *row = k->b + d * k->ldb;
    for (int r = 0; r < LB_PACKED_ROWS; r++)
      for (int64_t j = 0; j < k->columns; j++)
        sums[r][j] += a[r] * row[j];
  }
  for (int64_t r = 0; r < k->rows; r++)
    memcpy(k->c + r * k->ldc, sums[k->skip + r],
           (size_t)k->columns * sizeof(float));
}

/* ---- the AVX2 + FMA kernel ----------------------------------------------- */

#ifdef LB_HAVE_FMA_KERNEL
#  define LB_FMA_TARGET __attribute__((target("avx2,fma")))

/* One step down the depth: C's twelve vectors += A's column x B's row. */
#  define FMA_STEP(a, b0, b1)                                                 \
    do {                                                                       \
      __m256 x_ = _mm256_broadcast_ss((a) + 0);                                \
      c00 = _mm256_fmadd_ps(x_, b0, c00);                                      \
      c01 = _mm256_fmadd_ps(x_, b1, c01);                                      \
      x_ = _mm256_broadcast_ss((a) + 1);                                       \
      c10 = _mm256_fmadd_ps(x_, b0, c10);                                      \
      c11 = _mm256_fmadd_ps(x_, b1, c11);                                      \
      x_ = _mm256_broadcast_ss((a) + 2);                                       \
      c20 = _mm256_fmadd_ps(x_, b0, c20);                                      \
      c21 = _mm256_fmadd_ps(x_, b1, c21);                                      \
      x_ = _mm256_broadcast_ss((a) + 3);                                       \
      c30 = _mm256_fmadd_ps(x_, b0, c30);                                      \
      c31 = _mm256_fmadd_ps(x_, b1, c31);                                      \
      x_ = _mm256_broadcast_ss((a) + 4);                                       \
      c40 = _mm256_fmadd_ps(x_, b0, c40);                                      \
      c41 = _mm256_fmadd_ps(x_, b1, c41);                                      \
      x_ = _mm256_broadcast_ss((a) + 5);                                       \
      c50 = _mm256_fmadd_ps(x_, b0, c50);                                      \
      c51 = _mm256_fmadd_ps(x_, b1, c51);                                      \
    } while (0)

/* The twelve sums, from s[6][2]. */
#  define FMA_SUMS_FROM(s)                                                    \
    __m256 c00 = s[0][0], c01 = s[0][1], c10 = s[1][0], c11 = s[1][1],         \
           c20 = s[2][0], c21 = s[2][1], c30 = s[3][0], c31 = s[3][1],         \
           c40 = s[4][0], c41 = s[4][1], c50 = s[5][0], c51 = s[5][1]

/* A full 6 x 16 block. */
LB_FMA_TARGET
static void kernel_fma_full(const kernel_block *k) {
  float *c = k->c;
  int64_t ldc = k->ldc, ldb = k->ldb;
  __m256 start[LB_PACKED_ROWS][2];
  for (int r = 0; r < LB_PACKED_ROWS; r++) {
    start[r][0] = k->add ? _mm256_loadu_ps(c + r * ldc) : _mm256_setzero_ps();
    start[r][1] = k->add ? _mm256_loadu_ps(c + r * ldc + 8)
                         : _mm256_setzero_ps();
  }
  FMA_SUMS_FROM(start);
  for (int64_t d = 0; d < k->depth; d++) {
    const float *row = k->b + d * ldb; /* no pointer past B's last row */
    __m256 b0 = _mm256_loadu_ps(row), b1 = _mm256_loadu_ps(row + 8);
    FMA_STEP(k->panel + d * LB_PACKED_ROWS, b0, b1);
  }
  _mm256_storeu_ps(c, c00);
  _mm256_storeu_ps(c + 8, c01);
  _mm256_storeu_ps(c + ldc, c10);
  _mm256_storeu_ps(c + ldc + 8, c11);
  _mm256_storeu_ps(c + 2 * ldc, c20);
  _mm256_storeu_ps(c + 2 * ldc + 8, c21);
  _mm256_storeu_ps(c + 3 * ldc, c30);
  _mm256_storeu_ps(c + 3 * ldc + 8, c31);
  _mm256_storeu_ps(c + 4 * ldc, c40);
  _mm256_storeu_ps(c + 4 * ldc + 8, c41);
  _mm256_storeu_ps(c + 5 * ldc, c50);
  _mm256_storeu_ps(c + 5 * ldc + 8, c51);
}

/* Lanes [0, count) of a vector set, for 0 <= count <= 8. */
LB_FMA_TARGET
static __m256i lanes_below(int64_t count) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)count), lane);
}

/* Any other block (at an edge of C, or of a row range): B's row and C's
 * read under a mask (the lanes past the columns are zero and never touch
 * memory), the whole panel computed (its padding rows are zero), the
 * block's rows and columns stored. The same multiply-adds as the full
 * block, lane by lane. */
LB_FMA_TARGET
static void kernel_fma_edge(const kernel_block *k) {
  __m256i low = lanes_below(k->columns < 8 ? k->columns : 8);
  __m256i high = lanes_below(k->columns > 8 ? k->columns - 8 : 0);
  bool two = k->columns > 8; /* else no pointer past the columns is formed */
  __m256 start[LB_PACKED_ROWS][2];
  for (int64_t r = 0; r < LB_PACKED_ROWS; r++) {
    start[r][0] = start[r][1] = _mm256_setzero_ps();
    if (!k->add || r < k->skip || r >= k->skip + k->rows)
      continue;
    const float *c = k->c + (r - k->skip) * k->ldc;
    start[r][0] = _mm256_maskload_ps(c, low);
    if (two)
      start[r][1] = _mm256_maskload_ps(c + 8, high);
  }
  FMA_SUMS_FROM(start);
  __m256 b1 = _mm256_setzero_ps();
  for (int64_t d = 0; d < k->depth; d++) {
    const float *row = k->b + d * k->ldb;
    __m256 b0 = _mm256_maskload_ps(row, low);
    if (two)
      b1 = _mm256_maskload_ps(row + 8, high);
    FMA_STEP(k->panel + d * LB_PACKED_ROWS, b0, b1);
  }
  __m256 sums[LB_PACKED_ROWS][2] = {{c00, c01}, {c10, c11}, {c20, c21},
                                    {c30, c31}, {c40, c41}, {c50, c51}};
  for (int64_t r = 0; r < k->rows; r++) {
    float *c = k->c + r * k->ldc;
    _mm256_maskstore_ps(c, low, sums[k->skip + r][0]);
    if (two)
      _mm256_maskstore_ps(c + 8, high, sums[k->skip + r][1]);
  }
}

static bool processor_has_fma(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
static bool processor_has_fma(void) { return false; }
#endif

/* ---- choosing the kernel ------------------------------------------------- */

static pthread_once_t choice_once = PTHREAD_ONCE_INIT;
static bool fma_available;
static atomic_bool portable_forced;

static void choose_kernel(void) { fma_available = processor_has_fma(); }

bool lb_sgemm_packed_uses_fma(void) {
  pthread_once(&choice_once, choose_kernel);
  return fma_available && !atomic_load(&portable_forced);
}

void lb_sgemm_packed_force_portable_for_tests(bool portable) {
  atomic_store(&portable_forced, portable);
}

/* One block with the chosen kernel. */
static void kernel(bool fma, const kernel_block *k) {
#ifdef LB_HAVE_FMA_KERNEL
  if (fma && k->skip == 0 && k->rows == LB_PACKED_ROWS &&
      k->columns == LB_PACKED_COLUMNS) {
    kernel_fma_full(k);
    return;
  }
  if (fma) {
    kernel_fma_edge(k);
    return;
  }
#else
  (void)fma;
#endif
  kernel_portable(k);
}

/* B's block of `steps` rows and `width` columns from b, into `strips`:
 * strip s (columns 16s..16s+15) row by row, 16 floats a row, the columns
 * past `width` zero. The kernel then reads B in order, one cache line a
 * step, where B's own rows may lie a page apart. */
static void pack_b_block(const float *b, int64_t ldb, int64_t steps,
                         int64_t width, float *strips) {
  int64_t j = 0;
  for (; j + LB_PACKED_COLUMNS <= width; j += LB_PACKED_COLUMNS) {
    for (int64_t d = 0; d < steps; d++) /* a constant size: inlined */
      memcpy(strips + d * LB_PACKED_COLUMNS, b + d * ldb + j,
             LB_PACKED_COLUMNS * sizeof(float));
    strips += steps * LB_PACKED_COLUMNS;
  }
  if (j == width)
    return;
  for (int64_t d = 0; d < steps; d++) {
    float *to = strips + d * LB_PACKED_COLUMNS;
    for (int64_t c = 0; c < LB_PACKED_COLUMNS; c++)
      to[c] = j + c < width ? b[d * ldb + j + c] : 0.0f;
  }
}

/* A block of B as the kernel reads it: in place, or packed into strips
 * (pack_b_block()). */
typedef struct b_block {
  const float *at;
  int64_t ldb; /* 16 when packed */
  bool packed;
} b_block;

/* Rows [first_row, end_row) of C's `width` columns from block b of B, its
 * `steps` steps of the depth, going on from C's sums when `add`; `packed`
 * points at the block's first step of panel 0 and a panel has `depth`
 * steps. Panel by panel, each over the block's strips of 16 columns. A
 * range that starts inside a panel computes the whole panel and keeps its
 * own rows: the kernel's sums do not depend on the block's rows. */
static void multiply_panels(bool fma, const float *packed, int64_t steps,
                            int64_t depth, int64_t first_row,
                            int64_t end_row, b_block b, int64_t width,
                            float *c, int64_t ldc, bool add) {
  for (int64_t row = first_row; row < end_row;) {
    int64_t panel_row = row / LB_PACKED_ROWS * LB_PACKED_ROWS;
    int64_t panel_end = panel_row + LB_PACKED_ROWS;
    int64_t last = panel_end < end_row ? panel_end : end_row;
    kernel_block k = {packed + panel_row * depth, b.at, b.ldb, steps,
                      row - panel_row, last - row, LB_PACKED_COLUMNS,
                      c + row * ldc, ldc, add};
    for (int64_t j = 0; j < width; j += LB_PACKED_COLUMNS) {
      k.b = b.packed ? b.at + j * steps : b.at + j;
      k.c = c + row * ldc + j;
      k.columns = width - j < LB_PACKED_COLUMNS ? width - j
                                                : LB_PACKED_COLUMNS;
      kernel(fma, &k);
    }
    row = last;
  }
}

/* The scratch holds B's block from its first 64-byte boundary on, so that
 * each row of a strip is one cache line. */
#define SCRATCH_ALIGNMENT 64

/* Packing a block of B costs about as much as one panel's pass over it:
 * with fewer panels than this to read it (up to 90 rows), B is read where
 * it is. One thread, 36 products, packed / in place (medians of 21): 0.89
 * for 512 rows, depth 512, 64 columns; 0.81 and 0.84 for 256 and 128 rows
 * on 256 x 256; 0.95 for 128 x 128 x 64; but 1.03 and 1.08 for 64 and 32
 * rows on 392 columns. */
#define PACKING_MIN_PANELS 16

int64_t lb_sgemm_packed_scratch_floats(void) {
  return LB_PACKED_DEPTH_BLOCK * LB_PACKED_COLUMN_BLOCK +
         SCRATCH_ALIGNMENT / sizeof(float) - 1;
}

static float *aligned_scratch(float *scratch) {
  uintptr_t at = (uintptr_t)scratch;
  at = (at + SCRATCH_ALIGNMENT - 1) / SCRATCH_ALIGNMENT * SCRATCH_ALIGNMENT;
  return (float *)at;
}

void lb_sgemm_packed(const float *packed, int64_t depth, int64_t first_row,
                     int64_t end_row, const float *b, int64_t ldb,
                     int64_t columns, float *c, int64_t ldc, float *scratch) {
  if (depth == 0) { /* sums of nothing */
    for (int64_t row = first_row; row < end_row; row++)
      memset(c + row * ldc, 0, (size_t)columns * sizeof(float));
    return;
  }
  bool fma = lb_sgemm_packed_uses_fma();
  float *strips = aligned_scratch(scratch);
  int64_t panels =
      (end_row - 1) / LB_PACKED_ROWS - first_row / LB_PACKED_ROWS + 1;
  bool packing_pays = panels >= PACKING_MIN_PANELS;
  for (int64_t j = 0; j < columns; j += LB_PACKED_COLUMN_BLOCK) {
    int64_t width = columns - j < LB_PACKED_COLUMN_BLOCK
                        ? columns - j
                        : LB_PACKED_COLUMN_BLOCK;
    for (int64_t d = 0; d < depth; d += LB_PACKED_DEPTH_BLOCK) {
      int64_t steps = depth - d < LB_PACKED_DEPTH_BLOCK ? depth - d
                                                        : LB_PACKED_DEPTH_BLOCK;
      b_block block = {b + d * ldb + j, ldb, false};
      if (packing_pays) {
        pack_b_block(block.at, ldb, steps, width, strips);
        block = (b_block){strips, LB_PACKED_COLUMNS, true};
      }
      multiply_panels(fma, packed + d * LB_PACKED_ROWS, steps, depth,
                      first_row, end_row, block, width, c + j, ldc, d > 0);
    }
  }
}
