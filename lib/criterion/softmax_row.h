/*
 * The hot row kernels of the criteria: the passes over one row of K logits
 * that a softmax and its gradient need. Written as plain loops that the
 * compiler vectorizes; on x86-64 each is also built for AVX2 + FMA and
 * chosen at load time (see softmax_row.c). Never installed.
 *
 * Rows are float, sums come back in double. `k` is at least 1 everywhere.
 */
#ifndef LOSSBAL_SOFTMAX_ROW_H
#define LOSSBAL_SOFTMAX_ROW_H

#include <stdint.h>

/* The largest |x[i]| of x[0..n), as a float; +inf or NaN when some x[i] is
 * not finite, so one call checks a whole batch of logits. */
float lb_row_max_abs(const float *x, int64_t n);

/* The largest of x[0..k); the values must be finite. */
float lb_row_max(const float *x, int64_t k);

/* The largest argument of the kernels' exp: up to it, exp(x) and a row of
 * up to 2^31 such values stay far inside the float range. */
#define LB_EXP_ARGUMENT_MAX 64.0f

/* out[j] = exp(x[j] - shift) for every j, and returns the sum of the out[j]
 * accumulated in double. Requires x[j] - shift <= LB_EXP_ARGUMENT_MAX: shift
 * is the row's maximum, or 0 when every |x[j]| is within that bound.
 * Arguments below ln(FLT_MIN) give 0. out must not overlap x. */
double lb_row_exp_sum(const float *restrict x, float shift, int64_t k,
                      float *restrict out);

/* sum_j x[j], accumulated in double. */
double lb_row_sum(const float *x, int64_t k);

/* sum_j x[j] w[j], accumulated in double. */
double lb_row_dot(const float *x, const float *w, int64_t k);

/* out[j] = alpha x[j] - beta; out must not overlap x. */
void lb_row_affine(float *restrict out, const float *restrict x, float alpha,
                   float beta, int64_t k);

/* out[j] = alpha x[j] - beta w[j]; out must not overlap x or w. */
void lb_row_affine_weighted(float *restrict out, const float *restrict x,
                            float alpha, float beta, const float *restrict w,
                            int64_t k);

/* out[j] = z[j] + offset[j]. */
void lb_row_add(float *restrict out, const float *restrict z,
                const float *restrict offset, int64_t k);

/* out[j] = scale z[j]. */
void lb_row_scale(float *restrict out, const float *restrict z, float scale,
                  int64_t k);

/* exp(x) as lb_row_exp_sum() computes it (x <= LB_EXP_ARGUMENT_MAX), for
 * tests of its accuracy. The baseline build of it: the AVX2 kernels use
 * FMA and are slightly more accurate. */
float lb_exp_bounded(float x);

#endif /* LOSSBAL_SOFTMAX_ROW_H */
