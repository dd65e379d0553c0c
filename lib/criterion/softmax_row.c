/* The row kernels of the softmax criteria (see softmax_row.h).
 *
 * Speed comes from the compiler, not from intrinsics: every loop is written
 * so that GCC vectorizes it.
 *  - exp is our own branch-free polynomial (exp_bounded), inlined into a
 *    plain element-wise loop; libm's expf would be a call per element.
 *  - Float reductions (max, double sums) run over LANES independent
 *    accumulators in an array: the fixed-length loop over the lanes maps
 *    onto vector registers without asking the compiler to reorder
 *    floating-point operations, which it may not do without -ffast-math.
 *  - Every kernel is an LB_VECTOR_KERNEL (core/vector_kernel.h): on x86-64
 *    with GCC built for the baseline and for AVX2, picked at load time.
 */
#include "softmax_row.h"

#include "../core/vector_kernel.h"

#include <float.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__)
/* Two code-generation choices for this file only, both safe here:
 *  - fp-contract=fast lets the AVX2 build fuse a * b + c into one FMA (ISO C
 *    mode, -std=c11, turns contraction off);
 *  - no-trapping-math tells GCC we never read floating-point exception flags,
 *    which it needs before it turns the comparisons of the loops into vector
 *    selects. */
#  pragma GCC optimize("fp-contract=fast", "no-trapping-math")
#endif

/* Independent accumulators per reduction: two AVX2 vectors of floats, four
 * of doubles. */
#define LANES 16

static inline float float_from_bits(uint32_t bits) {
  float value;
  memcpy(&value, &bits, sizeof value);
  return value;
}

static inline uint32_t bits_from_float(float value) {
  uint32_t bits;
  memcpy(&bits, &value, sizeof bits);
  return bits;
}

/* exp(x) for x <= LB_EXP_ARGUMENT_MAX, without branches, within 2 ulp
 * with FMA (the AVX2 build) and 2.3 ulp without (checked over every float
 * of [-87.3, 64]).
 *
 * Writes x = n ln2 + r with n an integer and |r| <= ln2 / 2, evaluates
 * exp(r) with a degree-5 polynomial (minimax in relative error on that
 * interval, 1.5 ulp before rounding; degree 6 would be 1 ulp and 8% slower
 * end to end), and adds n to the exponent of exp(r).
 * Below the smallest normal result (x < -87.3) the value is 0: the kernels
 * only use it in sums of at least one non-negligible term, where such terms
 * do not count, and it keeps subnormals (slow on some CPUs) out of rows. */
static inline __attribute__((always_inline)) float exp_bounded(float x) {
  const float lowest = -87.33654f; /* ln(FLT_MIN) */
  const float log2e = 1.44269504088896341f;
  const float ln2_hi = 0.693359375f; /* 9 bits, so n ln2_hi is exact */
  const float ln2_lo = -2.12194440e-4f;
  /* 1.5 * 2^23: adding it rounds to an integer (the floats in [2^23, 2^24)
   * are the integers) and leaves that integer, in two's complement, in the
   * low bits of the result. */
  const float round_magic = 12582912.0f;

  float shifted = x * log2e + round_magic;
  float n = shifted - round_magic;
  float r = x - n * ln2_hi;
  r = r - n * ln2_lo;
  float q = 8.2902973518e-3f;
  q = q * r + 4.1898023337e-2f;
  q = q * r + 1.6667637229e-1f;
  q = q * r + 4.9999147654e-1f;
  q = q * r + 9.9999970198e-1f;
  float exp_r = q * r + 1.0f;
  /* 2^n exp(r): shifting the low bits of `shifted` by 23 gives n << 23, and
   * adding that to exp(r)'s bits adds n to its exponent, an integer add
   * instead of a multiply. Exact while the result is a normal float, which
   * x >= lowest and x <= LB_EXP_ARGUMENT_MAX ensure. */
  float result = float_from_bits(bits_from_float(exp_r) +
                                 (bits_from_float(shifted) << 23));
  return x < lowest ? 0.0f : result;
}

float lb_exp_bounded(float x) { return exp_bounded(x); }

/* sum_j x[j] in double. Inlined into each kernel, so it is compiled for the
 * kernel's target. */
static inline __attribute__((always_inline)) double sum_in_double(
    const float *x, int64_t k) {
  double lanes[LANES] = {0};
  int64_t j = 0;
  for (; j + LANES <= k; j += LANES) {
    LB_KEEP_LANE_LOOP
    for (int l = 0; l < LANES; l++) lanes[l] += x[j + l];
  }
  double sum = 0.0;
  for (; j < k; j++) sum += x[j];
  for (int l = 0; l < LANES; l++) sum += lanes[l];
  return sum;
}

/* ---- kernels: each is built for every target of LB_VECTOR_KERNEL ---------- */

static LB_VECTOR_KERNEL float row_max_abs_kernel(const float *x, int64_t n) {
  /* |x| compares like its bit pattern with the sign cleared, and every
   * infinity or NaN pattern is above every finite one: one integer max finds
   * both the largest magnitude and any non-finite value. Integer max is
   * associative, so this plain loop vectorizes as it is. */
  uint32_t largest = 0;
  for (int64_t i = 0; i < n; i++) {
    uint32_t magnitude = bits_from_float(x[i]) & 0x7fffffffu;
    largest = magnitude > largest ? magnitude : largest;
  }
  return float_from_bits(largest);
}

static LB_VECTOR_KERNEL float row_max_kernel(const float *x, int64_t k) {
  float lanes[LANES];
  for (int l = 0; l < LANES; l++) lanes[l] = -FLT_MAX;
  int64_t j = 0;
  for (; j + LANES <= k; j += LANES) {
    LB_KEEP_LANE_LOOP
    for (int l = 0; l < LANES; l++)
      lanes[l] = x[j + l] > lanes[l] ? x[j + l] : lanes[l];
  }
  float largest = -FLT_MAX;
  for (; j < k; j++) largest = x[j] > largest ? x[j] : largest;
  for (int l = 0; l < LANES; l++)
    largest = lanes[l] > largest ? lanes[l] : largest;
  return largest;
}

static LB_VECTOR_KERNEL double row_exp_sum_kernel(const float *restrict x,
                                               float shift, int64_t k,
                                               float *restrict out) {
  /* Two loops rather than one: alone, the exponentials vectorize into
   * straight-line code, and the double sum is cheapest as its own pass over
   * the row, which is then in L1. */
  for (int64_t j = 0; j < k; j++) out[j] = exp_bounded(x[j] - shift);
  return sum_in_double(out, k);
}

static LB_VECTOR_KERNEL double row_sum_kernel(const float *x, int64_t k) {
  return sum_in_double(x, k);
}

static LB_VECTOR_KERNEL double row_dot_kernel(const float *x, const float *w,
                                           int64_t k) {
  double lanes[LANES] = {0};
  int64_t j = 0;
  for (; j + LANES <= k; j += LANES) {
    LB_KEEP_LANE_LOOP
    for (int l = 0; l < LANES; l++)
      lanes[l] += (double)x[j + l] * (double)w[j + l];
  }
  double sum = 0.0;
  for (; j < k; j++) sum += (double)x[j] * (double)w[j];
  for (int l = 0; l < LANES; l++) sum += lanes[l];
  return sum;
}

static LB_VECTOR_KERNEL void row_affine_kernel(float *restrict out,
                                            const float *restrict x,
                                            float alpha, float beta,
                                            int64_t k) {
  for (int64_t j = 0; j < k; j++) out[j] = alpha * x[j] - beta;
}

static LB_VECTOR_KERNEL void row_affine_weighted_kernel(
    float *restrict out, const float *restrict x, float alpha, float beta,
    const float *restrict w, int64_t k) {
  for (int64_t j = 0; j < k; j++) out[j] = alpha * x[j] - beta * w[j];
}

static LB_VECTOR_KERNEL void row_add_kernel(float *restrict out,
                                         const float *restrict z,
                                         const float *restrict offset,
                                         int64_t k) {
  for (int64_t j = 0; j < k; j++) out[j] = z[j] + offset[j];
}

static LB_VECTOR_KERNEL void row_scale_kernel(float *restrict out,
                                           const float *restrict z,
                                           float scale, int64_t k) {
  for (int64_t j = 0; j < k; j++) out[j] = scale * z[j];
}

/* ---- entry points ------------------------------------------------------
 * Plain functions around the static kernels. GCC 12 exports the dispatching
 * symbol of an extern target_clones function from the shared library
 * whatever its visibility; a static one stays local, so the kernels are
 * static and these wrappers carry the library's hidden visibility. */

float lb_row_max_abs(const float *x, int64_t n) {
  return row_max_abs_kernel(x, n);
}

float lb_row_max(const float *x, int64_t k) { return row_max_kernel(x, k); }

double lb_row_exp_sum(const float *restrict x, float shift, int64_t k,
                      float *restrict out) {
  return row_exp_sum_kernel(x, shift, k, out);
}

double lb_row_sum(const float *x, int64_t k) { return row_sum_kernel(x, k); }

double lb_row_dot(const float *x, const float *w, int64_t k) {
  return row_dot_kernel(x, w, k);
}

void lb_row_affine(float *restrict out, const float *restrict x, float alpha,
                   float beta, int64_t k) {
  row_affine_kernel(out, x, alpha, beta, k);
}

void lb_row_affine_weighted(float *restrict out, const float *restrict x,
                            float alpha, float beta, const float *restrict w,
                            int64_t k) {
  row_affine_weighted_kernel(out, x, alpha, beta, w, k);
}

void lb_row_add(float *restrict out, const float *restrict z,
                const float *restrict offset, int64_t k) {
  row_add_kernel(out, z, offset, k);
}

void lb_row_scale(float *restrict out, const float *restrict z, float scale,
                  int64_t k) {
  row_scale_kernel(out, z, scale, k);
}
