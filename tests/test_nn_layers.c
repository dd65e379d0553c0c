/* Tests of the layer kernels of lib/nn/layers.h: every forward against a
 * double-precision reference written from the definition (relative 1e-5),
 * every backward against central differences of that reference's
 * sum(out * R) for a random R (relative 1e-4), PyTorch's corner cases
 * (running statistics, ties, padding, one value per channel), the check
 * functions, and results that do not depend on the thread count.
 *
 * Tolerances are relative with an absolute floor of the same size, for
 * values near 0: the data are of order 1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "nn/layers.h"
#include "test_support.h"

#include <math.h>

#define FORWARD_TOLERANCE 1e-5
#define GRADIENT_TOLERANCE 1e-4
/* The central-difference step: its truncation error (h^2) and rounding
 * error (1e-16 / h) are both far below GRADIENT_TOLERANCE. */
#define FD_STEP 1e-6

/* ---- buffers, freed after each test ------------------------------------- */

#define MAX_TEST_BUFFERS 128
static void *test_buffers[MAX_TEST_BUFFERS];
static int test_buffer_count;

static void *test_alloc(size_t bytes) {
  assert_true(test_buffer_count < MAX_TEST_BUFFERS);
  void *block = calloc(1, bytes);
  assert_non_null(block);
  test_buffers[test_buffer_count++] = block;
  return block;
}

static int free_test_buffers(void **state) {
  (void)state;
  for (int i = 0; i < test_buffer_count; i++) free(test_buffers[i]);
  test_buffer_count = 0;
  return 0;
}

static float *floats(int64_t n) {
  return test_alloc((size_t)n * sizeof(float));
}
static double *doubles(int64_t n) {
  return test_alloc((size_t)n * sizeof(double));
}
static int32_t *int32s(int64_t n) {
  return test_alloc((size_t)n * sizeof(int32_t));
}

/* NaN everywhere: an output that a kernel forgets to write stays NaN and
 * fails the comparison, and a kernel that reads its output (accumulates
 * instead of writing) turns NaN too. */
static float *nan_floats(int64_t n) {
  float *x = floats(n);
  for (int64_t i = 0; i < n; i++) x[i] = NAN;
  return x;
}

/* ---- deterministic random data ------------------------------------------ */

static uint32_t rng_state;

static void seed_random(uint32_t seed) { rng_state = seed * 2654435761u + 1u; }

static double uniform(double lo, double hi) {
  rng_state = rng_state * 1664525u + 1013904223u;
  return lo + (hi - lo) * (double)(rng_state >> 8) / (double)(1u << 24);
}

static float *random_floats(int64_t n, double lo, double hi) {
  float *x = floats(n);
  for (int64_t i = 0; i < n; i++) x[i] = (float)uniform(lo, hi);
  return x;
}

static double *as_doubles(const float *x, int64_t n) {
  double *d = doubles(n);
  for (int64_t i = 0; i < n; i++) d[i] = x[i];
  return d;
}

/* ---- comparisons ----------------------------------------------------------
 */

static void assert_near(double got, double want, double rel, const char *what,
                        int64_t index) {
  if (!(fabs(got - want) <= rel * fmax(fabs(want), 1.0)))
    fail_msg("%s[%lld]: got %.9g, want %.9g", what, (long long)index, got,
             want);
}

static void assert_all_near(const float *got, const double *want, int64_t n,
                            double rel, const char *what) {
  for (int64_t i = 0; i < n; i++) assert_near(got[i], want[i], rel, what, i);
}

static void assert_bitwise_equal(const float *a, const float *b, int64_t n,
                                 const char *what) {
  if (memcmp(a, b, (size_t)n * sizeof(float)) != 0)
    fail_msg("%s differs between thread counts", what);
}

/* ---- finite differences ---------------------------------------------------
 */

/* A scalar function of the double arrays behind `context`. */
typedef double (*objective)(const void *context);

/* grad[i] = d objective / d v[i] by central differences, where v is one of
 * the arrays the objective reads; v is restored afterwards. */
static double *finite_differences(objective f, const void *context, double *v,
                                  int64_t n) {
  double *grad = doubles(n);
  for (int64_t i = 0; i < n; i++) {
    double saved = v[i];
    v[i] = saved + FD_STEP;
    double up = f(context);
    v[i] = saved - FD_STEP;
    double down = f(context);
    v[i] = saved;
    grad[i] = (up - down) / (2.0 * FD_STEP);
  }
  return grad;
}

static void assert_gradient(const float *got, objective f, const void *context,
                            double *v, int64_t n, const char *what) {
  assert_all_near(got, finite_differences(f, context, v, n), n,
                  GRADIENT_TOLERANCE, what);
}

static double weighted_sum(const double *y, const double *r, int64_t n) {
  double total = 0.0;
  for (int64_t i = 0; i < n; i++) total += y[i] * r[i];
  return total;
}

/* ---- BatchNorm2d: reference and cases ------------------------------------ */

/* A batch norm problem: the layer's float arrays for the kernels, the same
 * values in double for the reference (which the finite differences
 * perturb), and the R of the objective sum(y * R). */
typedef struct bn_case {
  lb_nchw shape;
  int64_t numel;
  bool training, relu;
  lb_batchnorm2d layer;
  float *x;
  double *x_d, *gamma_d, *beta_d, *running_mean_d, *running_var_d, *r;
} bn_case;

static bn_case make_bn_case(lb_nchw shape, bool training, bool relu,
                            uint32_t seed) {
  seed_random(seed);
  bn_case k = {.shape = shape,
               .numel = lb_nchw_numel(shape),
               .training = training,
               .relu = relu};
  int64_t c = shape.c;
  float *gamma = random_floats(c, 0.5, 1.5),
        *beta = random_floats(c, -0.5, 0.5);
  float *running_mean = random_floats(c, -0.5, 0.5);
  float *running_var = random_floats(c, 0.5, 2.0);
  k.layer = (lb_batchnorm2d){c,
                             LB_BATCHNORM_EPS,
                             LB_BATCHNORM_MOMENTUM,
                             gamma,
                             beta,
                             running_mean,
                             running_var,
                             NULL};
  k.x = random_floats(k.numel, -1.0, 1.5);
  k.x_d = as_doubles(k.x, k.numel);
  k.gamma_d = as_doubles(gamma, c);
  k.beta_d = as_doubles(beta, c);
  k.running_mean_d = as_doubles(running_mean, c);
  k.running_var_d = as_doubles(running_var, c);
  k.r = as_doubles(random_floats(k.numel, -1.0, 1.0), k.numel);
  return k;
}

static int64_t bn_index(lb_nchw s, int64_t n, int64_t c, int64_t hw) {
  return (n * s.c + c) * s.h * s.w + hw;
}

/* Mean and biased variance of channel c, two passes, from the definition. */
static void reference_moments(lb_nchw s, const double *x, int64_t c,
                              double *mean, double *var) {
  int64_t plane = s.h * s.w, m = s.n * plane;
  double sum = 0.0, squares = 0.0;
  for (int64_t n = 0; n < s.n; n++)
    for (int64_t i = 0; i < plane; i++) sum += x[bn_index(s, n, c, i)];
  *mean = sum / (double)m;
  for (int64_t n = 0; n < s.n; n++)
    for (int64_t i = 0; i < plane; i++) {
      double d = x[bn_index(s, n, c, i)] - *mean;
      squares += d * d;
    }
  *var = squares / (double)m;
}

/* y = (x - mean) / sqrt(var + eps) * gamma + beta (then relu), with the
 * batch's moments in training mode and the running ones in eval mode. */
static void reference_batchnorm(const bn_case *k, double *y) {
  lb_nchw s = k->shape;
  for (int64_t c = 0; c < s.c; c++) {
    double mean = k->running_mean_d[c], var = k->running_var_d[c];
    if (k->training) reference_moments(s, k->x_d, c, &mean, &var);
    double invstd = 1.0 / sqrt(var + k->layer.eps);
    for (int64_t n = 0; n < s.n; n++)
      for (int64_t i = 0; i < s.h * s.w; i++) {
        int64_t at = bn_index(s, n, c, i);
        double v = (k->x_d[at] - mean) * invstd * k->gamma_d[c] + k->beta_d[c];
        y[at] = k->relu && v < 0.0 ? 0.0 : v;
      }
  }
}

static double bn_objective(const void *context) {
  const bn_case *k = context;
  double *y = malloc((size_t)k->numel * sizeof *y);
  assert_non_null(y);
  reference_batchnorm(k, y);
  double total = weighted_sum(y, k->r, k->numel);
  free(y);
  return total;
}

/* The saved statistics of one forward. */
typedef struct bn_saved {
  float *mean, *invstd;
} bn_saved;

static bn_saved run_bn_forward(const bn_case *k, float *y) {
  bn_saved saved = {nan_floats(k->shape.c), nan_floats(k->shape.c)};
  assert_int_equal(
      lb_batchnorm2d_check("test", &k->layer, k->shape, k->training), LB_OK);
  if (k->relu)
    lb_batchnorm2d_relu_forward(&k->layer, k->training, k->shape, k->x, y,
                                saved.mean, saved.invstd);
  else
    lb_batchnorm2d_forward(&k->layer, k->training, k->shape, k->x, y,
                           saved.mean, saved.invstd);
  return saved;
}

static void assert_bn_forward_matches_reference(const bn_case *k) {
  float *y = nan_floats(k->numel);
  bn_saved saved = run_bn_forward(k, y);
  double *want = doubles(k->numel);
  reference_batchnorm(k, want);
  assert_all_near(y, want, k->numel, FORWARD_TOLERANCE, "y");
  for (int64_t c = 0; c < k->shape.c; c++) {
    double mean = k->running_mean_d[c], var = k->running_var_d[c];
    if (k->training) reference_moments(k->shape, k->x_d, c, &mean, &var);
    assert_near(saved.mean[c], mean, FORWARD_TOLERANCE, "save_mean", c);
    assert_near(saved.invstd[c], 1.0 / sqrt(var + LB_BATCHNORM_EPS),
                FORWARD_TOLERANCE, "save_invstd", c);
  }
}

/* Forward, then backward of R, against finite differences in x, gamma and
 * beta; every output starts as NaN, so each must be written. */
static void assert_bn_backward_matches_finite_differences(bn_case *k) {
  float *y = floats(k->numel);
  bn_saved saved = run_bn_forward(k, y);
  float *grad_y = floats(k->numel);
  for (int64_t i = 0; i < k->numel; i++) grad_y[i] = (float)k->r[i];
  float *grad_x = nan_floats(k->numel);
  float *grad_gamma = nan_floats(k->shape.c),
        *grad_beta = nan_floats(k->shape.c);
  if (k->relu)
    lb_batchnorm2d_relu_backward(&k->layer, k->training, k->shape, k->x, y,
                                 grad_y, saved.mean, saved.invstd, grad_x,
                                 grad_gamma, grad_beta);
  else
    lb_batchnorm2d_backward(&k->layer, k->training, k->shape, k->x, grad_y,
                            saved.mean, saved.invstd, grad_x, grad_gamma,
                            grad_beta);
  assert_gradient(grad_x, bn_objective, k, k->x_d, k->numel, "grad_x");
  assert_gradient(grad_gamma, bn_objective, k, k->gamma_d, k->shape.c,
                  "grad_gamma");
  assert_gradient(grad_beta, bn_objective, k, k->beta_d, k->shape.c,
                  "grad_beta");
}

/* The ReLU's kink is not differentiable: the fused tests need every
 * pre-activation clear of 0 by far more than the finite-difference step
 * moves it. */
static void assert_preactivations_clear_of_zero(const bn_case *k) {
  bn_case linear = *k;
  linear.relu = false;
  double *v = doubles(k->numel);
  reference_batchnorm(&linear, v);
  for (int64_t i = 0; i < k->numel; i++)
    if (fabs(v[i]) < 1e-3)
      fail_msg("pre-activation %lld is %g", (long long)i, v[i]);
}

/* ---- BatchNorm2d tests ----------------------------------------------------
 */

static const lb_nchw bn_shape = {3, 4, 5, 2}; /* non-square planes */

static void test_batchnorm_training_forward_normalises_with_batch_statistics(
    void **state) {
  (void)state;
  bn_case k = make_bn_case(bn_shape, true, false, 1);
  assert_bn_forward_matches_reference(&k);
}

static void test_batchnorm_eval_forward_uses_running_statistics(void **state) {
  (void)state;
  bn_case k = make_bn_case(bn_shape, false, false, 2);
  assert_bn_forward_matches_reference(&k);
  for (int64_t c = 0; c < k.shape.c; c++) {
    assert_true(k.layer.running_mean[c] == (float)k.running_mean_d[c]);
    assert_true(k.layer.running_var[c] == (float)k.running_var_d[c]);
  }
}

static void test_batchnorm_with_one_item_normalises_over_its_planes(
    void **state) {
  (void)state;
  bn_case k = make_bn_case((lb_nchw){1, 3, 2, 3}, true, false, 3);
  assert_bn_forward_matches_reference(&k);
  assert_bn_backward_matches_finite_differences(&k);
}

/* PyTorch's running-stat update, from a fresh layer (mean 0, var 1): the
 * running variance moves towards the UNBIASED batch variance, m / (m - 1)
 * times the one the batch is normalised with; eval mode then uses them. */
static void test_batchnorm_running_stats_follow_momentum_and_unbiased_variance(
    void **state) {
  (void)state;
  bn_case k = make_bn_case(bn_shape, true, false, 4);
  int64_t c_count = k.shape.c, m = k.shape.n * k.shape.h * k.shape.w;
  double *want_mean = doubles(c_count), *want_var = doubles(c_count);
  for (int64_t c = 0; c < c_count; c++) {
    k.layer.running_mean[c] = 0.0f;
    k.layer.running_var[c] = 1.0f;
    want_var[c] = 1.0;
  }
  float *y = floats(k.numel);
  for (int step = 1; step <= 2; step++) {
    for (int64_t i = 0; i < k.numel; i++) {
      k.x[i] = (float)uniform(-2.0, 3.0);
      k.x_d[i] = k.x[i];
    }
    run_bn_forward(&k, y);
    for (int64_t c = 0; c < c_count; c++) {
      double mean, var;
      reference_moments(k.shape, k.x_d, c, &mean, &var);
      want_mean[c] = 0.9 * want_mean[c] + 0.1 * mean;
      want_var[c] = 0.9 * want_var[c] + 0.1 * var * (double)m / (double)(m - 1);
      assert_near(k.layer.running_mean[c], want_mean[c], FORWARD_TOLERANCE,
                  step == 1 ? "running_mean after 1" : "running_mean after 2",
                  c);
      assert_near(k.layer.running_var[c], want_var[c], FORWARD_TOLERANCE,
                  step == 1 ? "running_var after 1" : "running_var after 2", c);
    }
  }
  k.training = false;
  for (int64_t c = 0; c < c_count; c++) {
    k.running_mean_d[c] = want_mean[c];
    k.running_var_d[c] = want_var[c];
  }
  assert_bn_forward_matches_reference(&k);
}

/* Channels whose mean is a million times their spread: the statistics keep
 * their accuracy, where sums of squares taken about 0 would cancel away
 * most of the variance, even in double. */
static void test_batchnorm_statistics_survive_a_mean_far_above_the_spread(
    void **state) {
  (void)state;
  bn_case k = make_bn_case((lb_nchw){4, 2, 8, 8}, true, false, 5);
  for (int64_t i = 0; i < k.numel; i++) {
    k.x[i] = (float)(1e6 + uniform(-1.0, 1.0));
    k.x_d[i] = k.x[i];
  }
  float *y = floats(k.numel);
  bn_saved saved = run_bn_forward(&k, y);
  for (int64_t c = 0; c < k.shape.c; c++) {
    double mean, var;
    reference_moments(k.shape, k.x_d, c, &mean, &var);
    assert_near(saved.mean[c], mean, 1e-7, "save_mean", c);
    assert_near(saved.invstd[c], 1.0 / sqrt(var + LB_BATCHNORM_EPS), 1e-6,
                "save_invstd", c);
  }
}

static void test_batchnorm_training_backward_matches_finite_differences(
    void **state) {
  (void)state;
  bn_case k = make_bn_case(bn_shape, true, false, 6);
  assert_bn_backward_matches_finite_differences(&k);
}

static void test_batchnorm_eval_backward_matches_finite_differences(
    void **state) {
  (void)state;
  bn_case k = make_bn_case(bn_shape, false, false, 7);
  assert_bn_backward_matches_finite_differences(&k);
}

static void test_batchnorm_relu_forward_is_relu_of_batchnorm(void **state) {
  (void)state;
  for (int training = 0; training <= 1; training++) {
    bn_case k = make_bn_case(bn_shape, training, true, 8);
    assert_bn_forward_matches_reference(&k);
  }
}

static void test_batchnorm_relu_backward_matches_finite_differences(
    void **state) {
  (void)state;
  for (int training = 0; training <= 1; training++) {
    bn_case k = make_bn_case(bn_shape, training, true, 9);
    assert_preactivations_clear_of_zero(&k);
    assert_bn_backward_matches_finite_differences(&k);
  }
}

/* y may be x in the forward and grad_x may be grad_y in the backward; the
 * results are those of separate buffers. */
static void check_batchnorm_runs_in_place(lb_nchw shape) {
  bn_case k = make_bn_case(shape, true, true, 10);
  float *y = floats(k.numel), *grad_x = floats(k.numel);
  float *grad_y = random_floats(k.numel, -1.0, 1.0);
  float *grad_gamma = floats(k.shape.c), *grad_beta = floats(k.shape.c);
  bn_saved saved = run_bn_forward(&k, y);
  lb_batchnorm2d_relu_backward(&k.layer, true, k.shape, k.x, y, grad_y,
                               saved.mean, saved.invstd, grad_x, grad_gamma,
                               grad_beta);

  float *in_place = floats(k.numel), *grad_in_place = floats(k.numel);
  memcpy(in_place, k.x, (size_t)k.numel * sizeof(float));
  memcpy(grad_in_place, grad_y, (size_t)k.numel * sizeof(float));
  lb_batchnorm2d_relu_forward(&k.layer, true, k.shape, in_place, in_place,
                              saved.mean, saved.invstd);
  assert_bitwise_equal(in_place, y, k.numel, "in-place y");
  lb_batchnorm2d_relu_backward(&k.layer, true, k.shape, k.x, y, grad_in_place,
                               saved.mean, saved.invstd, grad_in_place,
                               grad_gamma, grad_beta);
  assert_bitwise_equal(grad_in_place, grad_x, k.numel, "in-place grad_x");
}

/* Small planes, and planes of 63 that fill the vector loops and leave a
 * tail. */
static void test_batchnorm_runs_in_place(void **state) {
  (void)state;
  check_batchnorm_runs_in_place(bn_shape);
  check_batchnorm_runs_in_place((lb_nchw){2, 3, 7, 9});
}

/* Everything a batch norm forward and backward write, for comparing two
 * ways of running them. */
typedef struct bn_outputs {
  float *y, *save_mean, *save_invstd, *running_mean, *running_var;
  float *grad_x, *grad_gamma, *grad_beta;
} bn_outputs;

/* NaN over the whole of a layer's image_sums for k's shape. */
static void fill_image_sums_with_nan(const bn_case *k, double *image_sums) {
  int64_t count = 2 * k->shape.c * (k->shape.n + 1);
  for (int64_t i = 0; i < count; i++) image_sums[i] = NAN;
}

/* Whether a call by images wrote where it must: the planes' sums first (a
 * forward in training mode, every backward), or the channels' constants
 * after them (an eval forward, which has no sums to take); each starts
 * NaN. */
static void assert_ran_by_images(const bn_case *k, const double *image_sums,
                                 bool has_sums) {
  int64_t constants = 2 * k->shape.n * k->shape.c;
  assert_false(isnan(image_sums[has_sums ? 0 : constants]));
}

/* A forward then a backward of k (in place when `in_place`: y over a copy
 * of x, grad_x over a copy of grad_y) from the running statistics
 * `running`, which k's layer gets a copy of, with the layer's image_sums
 * set to `image_sums`; with image_sums, each call must have run by
 * images. */
static bn_outputs run_bn_both_ways(const bn_case *k, const float *running,
                                   const float *grad_y, double *image_sums,
                                   bool in_place) {
  int64_t n = k->numel, c = k->shape.c;
  bn_outputs o = {.y = floats(n), .save_mean = nan_floats(c),
                  .save_invstd = nan_floats(c), .grad_x = floats(n),
                  .grad_gamma = nan_floats(c), .grad_beta = nan_floats(c)};
  lb_batchnorm2d layer = k->layer;
  layer.running_mean = o.running_mean = floats(c);
  layer.running_var = o.running_var = floats(c);
  memcpy(o.running_mean, running, (size_t)c * sizeof(float));
  memcpy(o.running_var, running + c, (size_t)c * sizeof(float));
  layer.image_sums = image_sums;
  const float *x = k->x;
  if (in_place) {
    memcpy(o.y, k->x, (size_t)n * sizeof(float));
    x = o.y;
  }
  if (k->relu)
    lb_batchnorm2d_relu_forward(&layer, k->training, k->shape, x, o.y,
                                o.save_mean, o.save_invstd);
  else
    lb_batchnorm2d_forward(&layer, k->training, k->shape, x, o.y,
                           o.save_mean, o.save_invstd);
  if (image_sums) {
    assert_ran_by_images(k, image_sums, k->training);
    fill_image_sums_with_nan(k, image_sums);
  }
  const float *grad_in = grad_y;
  if (in_place) {
    memcpy(o.grad_x, grad_y, (size_t)n * sizeof(float));
    grad_in = o.grad_x;
  }
  if (k->relu)
    lb_batchnorm2d_relu_backward(&layer, k->training, k->shape, k->x, o.y,
                                 grad_in, o.save_mean, o.save_invstd,
                                 o.grad_x, o.grad_gamma, o.grad_beta);
  else
    lb_batchnorm2d_backward(&layer, k->training, k->shape, k->x, grad_in,
                            o.save_mean, o.save_invstd, o.grad_x,
                            o.grad_gamma, o.grad_beta);
  if (image_sums)
    assert_ran_by_images(k, image_sums, true);
  return o;
}

static void assert_same_bn_outputs(const bn_outputs *a, const bn_outputs *b,
                                   int64_t numel, int64_t channels) {
  assert_bitwise_equal(a->y, b->y, numel, "y");
  assert_bitwise_equal(a->save_mean, b->save_mean, channels, "save_mean");
  assert_bitwise_equal(a->save_invstd, b->save_invstd, channels,
                       "save_invstd");
  assert_bitwise_equal(a->running_mean, b->running_mean, channels,
                       "running_mean");
  assert_bitwise_equal(a->running_var, b->running_var, channels,
                       "running_var");
  assert_bitwise_equal(a->grad_x, b->grad_x, numel, "grad_x");
  assert_bitwise_equal(a->grad_gamma, b->grad_gamma, channels, "grad_gamma");
  assert_bitwise_equal(a->grad_beta, b->grad_beta, channels, "grad_beta");
}

/* With image_sums on 2 and 3 threads the batch is cut by images (uneven
 * ranges: 7 images), with the bits of the cut by channel on one thread:
 * forward and backward, plain and with the ReLU, training and eval, out of
 * place and in place. Planes of 31 x 101 leave a tail after the vector
 * loops, and the batch is big enough for 3 chunks. The image sums start as
 * NaN before each call: the path by images must have written them (else
 * the layer ran by channel and the comparison proves nothing). */
static void test_batchnorm_by_images_gives_the_bits_of_by_channel(
    void **state) {
  (void)state;
  int32_t threads_before = lb_get_num_threads();
  lb_nchw shape = {7, 5, 31, 101};
  int64_t sums_count = 2 * shape.c * (shape.n + 1);
  for (int training = 0; training <= 1; training++)
    for (int relu = 0; relu <= 1; relu++) {
      bn_case k = make_bn_case(shape, training, relu, 30);
      double *image_sums = doubles(sums_count);
      float *running = floats(2 * shape.c);
      memcpy(running, k.layer.running_mean, (size_t)shape.c * sizeof(float));
      memcpy(running + shape.c, k.layer.running_var,
             (size_t)shape.c * sizeof(float));
      float *grad_y = random_floats(k.numel, -1.0, 1.0);
      assert_int_equal(lb_set_num_threads(1), LB_OK);
      bn_outputs by_channel =
          run_bn_both_ways(&k, running, grad_y, NULL, false);
      for (int32_t threads = 2; threads <= 3; threads++)
        for (int in_place = 0; in_place <= 1; in_place++) {
          assert_int_equal(lb_set_num_threads(threads), LB_OK);
          assert_int_equal(lb_parallel_chunks(shape.n, k.numel / shape.n),
                           threads);
          fill_image_sums_with_nan(&k, image_sums);
          bn_outputs by_images =
              run_bn_both_ways(&k, running, grad_y, image_sums, in_place);
          assert_same_bn_outputs(&by_channel, &by_images, k.numel, shape.c);
        }
      free_test_buffers(NULL);
    }
  assert_int_equal(lb_set_num_threads(threads_before), LB_OK);
}

/* 2 images on 4 threads: by images would keep 2 threads busy, by channel
 * 4, so the layer runs by channel and leaves image_sums untouched. */
static void test_batchnorm_by_channel_when_images_are_fewer_than_threads(
    void **state) {
  (void)state;
  int32_t threads_before = lb_get_num_threads();
  lb_nchw shape = {2, 8, 96, 96};
  bn_case k = make_bn_case(shape, true, false, 31);
  double *image_sums = doubles(2 * shape.c * (shape.n + 1));
  fill_image_sums_with_nan(&k, image_sums);
  k.layer.image_sums = image_sums;
  assert_int_equal(lb_set_num_threads(4), LB_OK);
  assert_int_equal(lb_parallel_chunks(shape.c, k.numel / shape.c), 4);
  float *y = floats(k.numel);
  bn_saved saved = run_bn_forward(&k, y);
  assert_false(isnan(saved.mean[0]));
  for (int64_t i = 0; i < 2 * shape.c * (shape.n + 1); i++)
    assert_true(isnan(image_sums[i]));
  assert_int_equal(lb_set_num_threads(threads_before), LB_OK);
}

/* PyTorch: "Expected more than 1 value per channel when training". */
static void test_batchnorm_check_rejects_one_value_per_channel_in_training(
    void **state) {
  (void)state;
  bn_case k = make_bn_case((lb_nchw){1, 3, 1, 1}, true, false, 11);
  assert_fails_with(lb_batchnorm2d_check("f", &k.layer, k.shape, true),
                    LB_EINVAL,
                    "f: batch norm expects more than 1 value per channel when "
                    "training, got input [1, 3, 1, 1]");
  assert_int_equal(lb_batchnorm2d_check("f", &k.layer, k.shape, false), LB_OK);
  assert_int_equal(
      lb_batchnorm2d_check("f", &k.layer, (lb_nchw){2, 3, 1, 1}, true), LB_OK);
}

static void test_batchnorm_check_rejects_bad_layers(void **state) {
  (void)state;
  bn_case k = make_bn_case(bn_shape, true, false, 12);
  lb_batchnorm2d bad = k.layer;
  assert_fails_with(lb_batchnorm2d_check("f", NULL, bn_shape, true), LB_EINVAL,
                    "f: the batch norm layer is NULL");
  bad.weight = NULL;
  assert_fails_with(lb_batchnorm2d_check("f", &bad, bn_shape, true), LB_EINVAL,
                    "f: batch norm weight is NULL");
  bad = k.layer;
  bad.running_var = NULL;
  assert_fails_with(lb_batchnorm2d_check("f", &bad, bn_shape, false), LB_EINVAL,
                    "f: batch norm running_var is NULL");
  bad = k.layer;
  bad.eps = 0.0;
  assert_fails_with(lb_batchnorm2d_check("f", &bad, bn_shape, true), LB_EINVAL,
                    "eps = 0 is not > 0");
  bad.eps = NAN;
  assert_fails_with(lb_batchnorm2d_check("f", &bad, bn_shape, true), LB_EINVAL,
                    "eps = nan is not > 0");
  bad = k.layer;
  bad.momentum = 1.5;
  assert_fails_with(lb_batchnorm2d_check("f", &bad, bn_shape, true), LB_EINVAL,
                    "momentum = 1.5 is outside [0, 1]");
  assert_fails_with(
      lb_batchnorm2d_check("f", &k.layer, (lb_nchw){3, 5, 5, 2}, true),
      LB_EINVAL, "batch norm input [3, 5, 5, 2] has 5 channels, the layer 4");
  assert_fails_with(
      lb_batchnorm2d_check("f", &k.layer, (lb_nchw){3, 4, 0, 2}, true),
      LB_EINVAL, "f: batch norm input shape [3, 4, 0, 2] has h = 0, not >= 1");
}

/* ---- ReLU -----------------------------------------------------------------
 */

typedef struct relu_case {
  int64_t count;
  double *x, *r;
} relu_case;

static double relu_objective(const void *context) {
  const relu_case *k = context;
  double total = 0.0;
  for (int64_t i = 0; i < k->count; i++)
    total += (k->x[i] > 0.0 ? k->x[i] : 0.0) * k->r[i];
  return total;
}

static void test_relu_forward_clamps_negatives_and_keeps_nan(void **state) {
  (void)state;
  const float x[5] = {-2.0f, -0.0f, 0.5f, 3.0f, NAN};
  float y[5];
  lb_relu_forward(5, x, y);
  assert_true(y[0] == 0.0f && y[1] == 0.0f && y[2] == 0.5f && y[3] == 3.0f);
  assert_true(isnan(y[4]));
  float in_place[5];
  memcpy(in_place, x, sizeof in_place);
  lb_relu_forward(5, in_place, in_place);
  assert_bitwise_equal(in_place, y, 5, "in-place y");
}

/* From the saved output or from the input: the same mask. Values clear of
 * the kink at 0. */
static void test_relu_backward_matches_finite_differences(void **state) {
  (void)state;
  seed_random(13);
  relu_case k = {60, NULL, NULL};
  float *x = random_floats(k.count, -1.0, 1.0);
  for (int64_t i = 0; i < k.count; i++)
    if (fabsf(x[i]) < 1e-3f) x[i] = 0.5f;
  k.x = as_doubles(x, k.count);
  float *grad_y = random_floats(k.count, -1.0, 1.0);
  k.r = as_doubles(grad_y, k.count);
  float *y = floats(k.count), *from_y = nan_floats(k.count),
        *from_x = nan_floats(k.count);
  lb_relu_forward(k.count, x, y);
  lb_relu_backward(k.count, y, grad_y, from_y);
  lb_relu_backward(k.count, x, grad_y, from_x);
  assert_gradient(from_y, relu_objective, &k, k.x, k.count, "grad_x from y");
  assert_bitwise_equal(from_x, from_y, k.count, "grad_x from x");
}

/* As PyTorch's threshold_backward: nothing passes at 0 exactly. */
static void test_relu_backward_stops_the_gradient_at_zero(void **state) {
  (void)state;
  const float y[3] = {0.0f, -0.0f, 2.0f};
  float grad[3] = {1.0f, 1.0f, 1.0f};
  lb_relu_backward(3, y, grad, grad);
  assert_true(grad[0] == 0.0f && grad[1] == 0.0f && grad[2] == 1.0f);
}

/* Long enough for the vector loops (and a ragged tail): NaN, -0 and 0 at
 * every position modulo 8, in place and into separate buffers, against the
 * rule written out element by element. */
static void test_relu_vector_loops_match_the_rule(void **state) {
  (void)state;
  enum { count = 1037 };
  seed_random(14);
  float *x = random_floats(count, -1.0, 1.0);
  float *grad_y = random_floats(count, -1.0, 1.0);
  for (int64_t i = 0; i < count; i += 7)
    x[i] = (i / 7) % 3 == 0 ? NAN : (i / 7) % 3 == 1 ? -0.0f : 0.0f;
  float *y = floats(count), *grad_x = floats(count);
  float *y_in_place = floats(count), *grad_in_place = floats(count);
  memcpy(y_in_place, x, count * sizeof(float));
  memcpy(grad_in_place, grad_y, count * sizeof(float));
  lb_relu_forward(count, x, y);
  lb_relu_forward(count, y_in_place, y_in_place);
  lb_relu_backward(count, y, grad_y, grad_x);
  lb_relu_backward(count, y, grad_in_place, grad_in_place);
  for (int64_t i = 0; i < count; i++) {
    float expected_y = x[i] < 0.0f ? 0.0f : x[i];
    float expected_grad = y[i] <= 0.0f ? 0.0f : grad_y[i];
    if (memcmp(&y[i], &expected_y, sizeof(float)) != 0 &&
        !(isnan(y[i]) && isnan(expected_y)))
      fail_msg("relu(x[%lld] = %g) = %g", (long long)i, x[i], y[i]);
    if (memcmp(&grad_x[i], &expected_grad, sizeof(float)) != 0)
      fail_msg("grad_x[%lld] = %g, expected %g", (long long)i, grad_x[i],
               expected_grad);
  }
  assert_bitwise_equal(y_in_place, y, count, "in-place y");
  assert_bitwise_equal(grad_in_place, grad_x, count, "in-place grad_x");
}

/* ---- MaxPool2d ------------------------------------------------------------
 */

/* The window of each output, read with explicit padding: a padded position
 * is skipped, and of the real ones the first that beats the best so far
 * wins. */
static void reference_maxpool(lb_maxpool2d p, lb_nchw in, const double *x,
                              double *y, int32_t *argmax) {
  lb_nchw out = lb_maxpool2d_output_shape(&p, in);
  for (int64_t plane = 0; plane < in.n * in.c; plane++)
    for (int64_t oh = 0; oh < out.h; oh++)
      for (int64_t ow = 0; ow < out.w; ow++) {
        double best = 0.0;
        int64_t best_at = -1;
        for (int64_t kh = 0; kh < p.kernel; kh++)
          for (int64_t kw = 0; kw < p.kernel; kw++) {
            int64_t ih = oh * p.stride - p.padding + kh;
            int64_t iw = ow * p.stride - p.padding + kw;
            if (ih < 0 || ih >= in.h || iw < 0 || iw >= in.w) continue;
            double v = x[plane * in.h * in.w + ih * in.w + iw];
            if (best_at < 0 || v > best) {
              best = v;
              best_at = ih * in.w + iw;
            }
          }
        int64_t o = (plane * out.h + oh) * out.w + ow;
        y[o] = best;
        if (argmax) argmax[o] = (int32_t)best_at;
      }
}

typedef struct pool_case {
  lb_maxpool2d pool;
  lb_nchw in;
  double *x, *r;
} pool_case;

static double maxpool_objective(const void *context) {
  const pool_case *k = context;
  lb_nchw out = lb_maxpool2d_output_shape(&k->pool, k->in);
  int64_t n = lb_nchw_numel(out);
  double *y = malloc((size_t)n * sizeof *y);
  assert_non_null(y);
  reference_maxpool(k->pool, k->in, k->x, y, NULL);
  double total = weighted_sum(y, k->r, n);
  free(y);
  return total;
}

static const lb_maxpool2d resnet_pool = {3, 2, 1};

static void test_maxpool_output_shape_follows_the_floor_formula(void **state) {
  (void)state;
  lb_nchw out =
      lb_maxpool2d_output_shape(&resnet_pool, (lb_nchw){2, 64, 112, 112});
  assert_true(out.n == 2 && out.c == 64 && out.h == 56 && out.w == 56);
  out = lb_maxpool2d_output_shape(&resnet_pool, (lb_nchw){1, 1, 7, 4});
  assert_true(out.h == 4 && out.w == 2);
  out = lb_maxpool2d_output_shape(&(lb_maxpool2d){2, 2, 0},
                                  (lb_nchw){1, 1, 5, 7});
  assert_true(out.h == 2 && out.w == 3);
  out = lb_maxpool2d_output_shape(&(lb_maxpool2d){3, 1, 0},
                                  (lb_nchw){1, 1, 3, 3});
  assert_true(out.h == 1 && out.w == 1);
}

static void test_maxpool_forward_matches_reference(void **state) {
  (void)state;
  const lb_maxpool2d pools[4] = {{3, 2, 1}, {2, 2, 0}, {3, 1, 1}, {3, 3, 0}};
  const lb_nchw shapes[2] = {{2, 3, 9, 6}, {1, 1, 7, 11}};
  seed_random(14);
  for (int p = 0; p < 4; p++)
    for (int s = 0; s < 2; s++) {
      lb_nchw in = shapes[s];
      assert_int_equal(lb_maxpool2d_check("test", &pools[p], in), LB_OK);
      int64_t in_n = lb_nchw_numel(in);
      int64_t out_n = lb_nchw_numel(lb_maxpool2d_output_shape(&pools[p], in));
      float *x = random_floats(in_n, -3.0, 1.0);
      float *y = nan_floats(out_n);
      int32_t *argmax = int32s(out_n), *want_argmax = int32s(out_n);
      double *want = doubles(out_n);
      lb_maxpool2d_forward(&pools[p], in, x, y, argmax);
      reference_maxpool(pools[p], in, as_doubles(x, in_n), want, want_argmax);
      assert_all_near(y, want, out_n, 0.0, "y");
      assert_memory_equal(argmax, want_argmax, (size_t)out_n * sizeof(int32_t));
    }
}

/* PyTorch's CPU kernel keeps the first of equal maxima, in row-major order
 * within the window: on a constant plane every output points at its
 * window's first real element. */
static void test_maxpool_ties_pick_the_first_maximum(void **state) {
  (void)state;
  lb_nchw in = {1, 1, 4, 5};
  float x[20];
  for (int i = 0; i < 20; i++) x[i] = 1.0f;
  float y[6];
  int32_t argmax[6];
  lb_maxpool2d_forward(&resnet_pool, in, x, y, argmax);
  /* Windows start at rows {0, 1} and columns {0, 1, 3} of the input. */
  const int32_t want[6] = {0, 1, 3, 5, 6, 8};
  assert_memory_equal(argmax, want, sizeof want);
  for (int i = 0; i < 6; i++) assert_true(y[i] == 1.0f);
}

/* A window that hangs over the edge holds -inf padding, which never wins:
 * even an all-negative or all -inf input gives a real element. */
static void test_maxpool_padding_never_wins(void **state) {
  (void)state;
  lb_nchw in = {1, 1, 3, 3};
  const float fills[2] = {-5.0f, -INFINITY};
  for (int f = 0; f < 2; f++) {
    float x[9];
    for (int i = 0; i < 9; i++) x[i] = fills[f];
    float y[4];
    int32_t argmax[4];
    lb_maxpool2d_forward(&resnet_pool, in, x, y, argmax);
    const int32_t want[4] = {0, 1, 3, 4};
    assert_memory_equal(argmax, want, sizeof want);
    for (int i = 0; i < 4; i++) assert_true(y[i] == fills[f]);
  }
}

/* As in PyTorch, NaN is the maximum of every window it is in. */
static void test_maxpool_nan_wins_its_window(void **state) {
  (void)state;
  lb_nchw in = {1, 1, 2, 2};
  const float x[4] = {1.0f, NAN, 3.0f, 2.0f};
  float y[1];
  int32_t argmax[1];
  lb_maxpool2d_forward(&(lb_maxpool2d){2, 2, 0}, in, x, y, argmax);
  assert_true(isnan(y[0]));
  assert_int_equal(argmax[0], 1);
}

/* Distinct values, so no window has a tie a small step could flip; the
 * overlapping windows of {3, 2, 1} and {3, 1, 1} add their gradients. */
static void test_maxpool_backward_matches_finite_differences(void **state) {
  (void)state;
  const lb_maxpool2d pools[2] = {{3, 2, 1}, {3, 1, 1}};
  for (int p = 0; p < 2; p++) {
    pool_case k = {pools[p], {2, 2, 7, 5}, NULL, NULL};
    int64_t in_n = lb_nchw_numel(k.in);
    int64_t out_n = lb_nchw_numel(lb_maxpool2d_output_shape(&k.pool, k.in));
    seed_random(15);
    float *x = floats(in_n);
    for (int64_t i = 0; i < in_n; i++)
      x[i] = (float)((double)((i * 37) % in_n) / (double)in_n);
    k.x = as_doubles(x, in_n);
    float *grad_y = random_floats(out_n, -1.0, 1.0);
    k.r = as_doubles(grad_y, out_n);
    float *y = floats(out_n), *grad_x = nan_floats(in_n);
    int32_t *argmax = int32s(out_n);
    lb_maxpool2d_forward(&k.pool, k.in, x, y, argmax);
    lb_maxpool2d_backward(&k.pool, k.in, argmax, grad_y, grad_x);
    assert_gradient(grad_x, maxpool_objective, &k, k.x, in_n, "grad_x");
  }
}

static void test_maxpool_check_rejects_bad_arguments(void **state) {
  (void)state;
  lb_nchw in = {1, 2, 8, 8};
  assert_fails_with(lb_maxpool2d_check("f", NULL, in), LB_EINVAL,
                    "f: the max pool layer is NULL");
  assert_fails_with(lb_maxpool2d_check("f", &(lb_maxpool2d){0, 1, 0}, in),
                    LB_EINVAL,
                    "f: max pool kernel = 0 and stride = 1 must be >= 1");
  assert_fails_with(lb_maxpool2d_check("f", &(lb_maxpool2d){3, 0, 1}, in),
                    LB_EINVAL, "kernel = 3 and stride = 0 must be >= 1");
  assert_fails_with(lb_maxpool2d_check("f", &(lb_maxpool2d){3, 2, 2}, in),
                    LB_EINVAL, "padding = 2 is outside [0, kernel / 2 = 1]");
  assert_fails_with(lb_maxpool2d_check("f", &(lb_maxpool2d){3, 2, -1}, in),
                    LB_EINVAL, "padding = -1 is outside");
  assert_fails_with(
      lb_maxpool2d_check("f", &(lb_maxpool2d){5, 1, 1}, (lb_nchw){1, 1, 2, 9}),
      LB_EINVAL,
      "f: max pool input [1, 1, 2, 9] padded by 1 is smaller than the 5 x 5 "
      "kernel");
  assert_fails_with(
      lb_maxpool2d_check("f", &resnet_pool, (lb_nchw){1, 1, 65536, 65536}),
      LB_EINVAL, "beyond INT32_MAX elements");
  assert_fails_with(
      lb_maxpool2d_check("f", &resnet_pool, (lb_nchw){-1, 1, 4, 4}), LB_EINVAL,
      "f: max pool input shape [-1, 1, 4, 4] has n = -1");
  assert_int_equal(lb_maxpool2d_check("f", &resnet_pool, (lb_nchw){1, 1, 1, 1}),
                   LB_OK);
}

/* ---- global average pool --------------------------------------------------
 */

typedef struct avgpool_case {
  lb_nchw in;
  double *x, *r;
} avgpool_case;

static void reference_avgpool(lb_nchw in, const double *x, double *y) {
  int64_t plane = in.h * in.w;
  for (int64_t p = 0; p < in.n * in.c; p++) {
    double sum = 0.0;
    for (int64_t i = 0; i < plane; i++) sum += x[p * plane + i];
    y[p] = sum / (double)plane;
  }
}

static double avgpool_objective(const void *context) {
  const avgpool_case *k = context;
  double y[64];
  assert_true(k->in.n * k->in.c <= 64);
  reference_avgpool(k->in, k->x, y);
  return weighted_sum(y, k->r, k->in.n * k->in.c);
}

static void test_global_avgpool_matches_reference_and_finite_differences(
    void **state) {
  (void)state;
  const lb_nchw shapes[2] = {{2, 3, 7, 5}, {1, 4, 1, 3}};
  seed_random(16);
  for (int s = 0; s < 2; s++) {
    avgpool_case k = {shapes[s], NULL, NULL};
    int64_t in_n = lb_nchw_numel(k.in), out_n = k.in.n * k.in.c;
    float *x = random_floats(in_n, -1.0, 2.0);
    k.x = as_doubles(x, in_n);
    float *grad_y = random_floats(out_n, -1.0, 1.0);
    k.r = as_doubles(grad_y, out_n);
    float *y = nan_floats(out_n), *grad_x = nan_floats(in_n);
    double *want = doubles(out_n);
    lb_global_avgpool_forward(k.in, x, y);
    reference_avgpool(k.in, k.x, want);
    assert_all_near(y, want, out_n, FORWARD_TOLERANCE, "y");
    lb_global_avgpool_backward(k.in, grad_y, grad_x);
    assert_gradient(grad_x, avgpool_objective, &k, k.x, in_n, "grad_x");
  }
}

/* ---- Linear ---------------------------------------------------------------
 */

typedef struct linear_case {
  int64_t batch, in, out;
  lb_linear layer;
  float *x;
  double *x_d, *weight_d, *bias_d, *r;
} linear_case;

static linear_case make_linear_case(int64_t batch, int64_t in, int64_t out,
                                    uint32_t seed) {
  seed_random(seed);
  linear_case k = {batch, in,   out, {in, out, NULL, NULL}, NULL, NULL,
                   NULL,  NULL, NULL};
  float *weight = random_floats(out * in, -1.0, 1.0);
  float *bias = random_floats(out, -1.0, 1.0);
  k.layer.weight = weight;
  k.layer.bias = bias;
  k.x = random_floats(batch * in, -1.0, 1.0);
  k.x_d = as_doubles(k.x, batch * in);
  k.weight_d = as_doubles(weight, out * in);
  k.bias_d = as_doubles(bias, out);
  k.r = as_doubles(random_floats(batch * out, -1.0, 1.0), batch * out);
  return k;
}

static void reference_linear(const linear_case *k, double *y) {
  for (int64_t i = 0; i < k->batch; i++)
    for (int64_t j = 0; j < k->out; j++) {
      double sum = k->bias_d[j];
      for (int64_t f = 0; f < k->in; f++)
        sum += k->x_d[i * k->in + f] * k->weight_d[j * k->in + f];
      y[i * k->out + j] = sum;
    }
}

static double linear_objective(const void *context) {
  const linear_case *k = context;
  double *y = malloc((size_t)(k->batch * k->out) * sizeof *y);
  assert_non_null(y);
  reference_linear(k, y);
  double total = weighted_sum(y, k->r, k->batch * k->out);
  free(y);
  return total;
}

static void test_linear_forward_matches_reference(void **state) {
  (void)state;
  const int64_t sizes[3][3] = {{3, 5, 4}, {1, 7, 2}, {4, 1, 1}};
  for (int s = 0; s < 3; s++) {
    linear_case k = make_linear_case(sizes[s][0], sizes[s][1], sizes[s][2],
                                     17 + (uint32_t)s);
    assert_int_equal(lb_linear_check("test", &k.layer, k.batch), LB_OK);
    float *y = nan_floats(k.batch * k.out);
    double *want = doubles(k.batch * k.out);
    lb_linear_forward(&k.layer, k.batch, k.x, y);
    reference_linear(&k, want);
    assert_all_near(y, want, k.batch * k.out, FORWARD_TOLERANCE, "y");
  }
}

static void test_linear_backward_matches_finite_differences(void **state) {
  (void)state;
  linear_case k = make_linear_case(3, 5, 4, 20);
  float *grad_y = floats(k.batch * k.out);
  for (int64_t i = 0; i < k.batch * k.out; i++) grad_y[i] = (float)k.r[i];
  float *grad_x = nan_floats(k.batch * k.in);
  float *grad_weight = nan_floats(k.out * k.in), *grad_bias = nan_floats(k.out);
  lb_linear_backward(&k.layer, k.batch, k.x, grad_y, grad_x, grad_weight,
                     grad_bias);
  assert_gradient(grad_x, linear_objective, &k, k.x_d, k.batch * k.in,
                  "grad_x");
  assert_gradient(grad_weight, linear_objective, &k, k.weight_d, k.out * k.in,
                  "grad_weight");
  assert_gradient(grad_bias, linear_objective, &k, k.bias_d, k.out,
                  "grad_bias");
}

static void test_linear_check_rejects_bad_arguments(void **state) {
  (void)state;
  float weight[6] = {0}, bias[2] = {0};
  lb_linear fc = {3, 2, weight, bias};
  assert_int_equal(lb_linear_check("f", &fc, 1), LB_OK);
  assert_fails_with(lb_linear_check("f", NULL, 1), LB_EINVAL,
                    "f: the linear layer is NULL");
  assert_fails_with(lb_linear_check("f", &(lb_linear){3, 2, NULL, bias}, 1),
                    LB_EINVAL, "f: linear weight is NULL");
  assert_fails_with(lb_linear_check("f", &(lb_linear){3, 2, weight, NULL}, 1),
                    LB_EINVAL, "f: linear bias is NULL");
  assert_fails_with(lb_linear_check("f", &fc, 0), LB_EINVAL,
                    "f: linear batch = 0 is outside [1, 2147483647]");
  assert_fails_with(lb_linear_check("f", &(lb_linear){0, 2, weight, bias}, 1),
                    LB_EINVAL, "linear in_features = 0 is outside");
  assert_fails_with(
      lb_linear_check("f", &(lb_linear){3, (int64_t)1 << 31, weight, bias}, 1),
      LB_EINVAL, "linear out_features = 2147483648 is outside");
}

/* ---- residual add ---------------------------------------------------------
 */

static void test_residual_add_sums_out_of_place_and_in_place(void **state) {
  (void)state;
  const float a[4] = {1.0f, -2.0f, 0.5f, 3.0f},
              b[4] = {0.25f, 2.0f, -1.0f, 1.0f};
  const float want[4] = {1.25f, 0.0f, -0.5f, 4.0f};
  float out[4], in_place[4];
  lb_residual_add(4, a, b, out);
  assert_memory_equal(out, want, sizeof want);
  memcpy(in_place, a, sizeof in_place);
  lb_residual_add(4, in_place, b, in_place);
  assert_memory_equal(in_place, want, sizeof want);
  memcpy(in_place, b, sizeof in_place);
  lb_residual_add(4, a, in_place, in_place);
  assert_memory_equal(in_place, want, sizeof want);
}

typedef struct add_case {
  int64_t count;
  double *a, *b, *r;
} add_case;

static double add_objective(const void *context) {
  const add_case *k = context;
  double total = 0.0;
  for (int64_t i = 0; i < k->count; i++) total += (k->a[i] + k->b[i]) * k->r[i];
  return total;
}

/* The documented backward: the output's gradient reaches both branches
 * unchanged, and a block's input, which feeds both, gets their sum (the
 * same add). */
static void test_residual_add_gradient_reaches_both_branches_unchanged(
    void **state) {
  (void)state;
  seed_random(21);
  add_case k = {12, NULL, NULL, NULL};
  k.a = as_doubles(random_floats(k.count, -1.0, 1.0), k.count);
  k.b = as_doubles(random_floats(k.count, -1.0, 1.0), k.count);
  float *grad_out = random_floats(k.count, -1.0, 1.0);
  k.r = as_doubles(grad_out, k.count);
  assert_gradient(grad_out, add_objective, &k, k.a, k.count, "grad_a");
  assert_gradient(grad_out, add_objective, &k, k.b, k.count, "grad_b");

  /* x feeds a = x and b = 2 x: d/dx sum((a + b) R) = R + 2 R. */
  float *grad_main = floats(k.count), *grad_shortcut = floats(k.count);
  double *want = doubles(k.count);
  for (int64_t i = 0; i < k.count; i++) {
    grad_main[i] = grad_out[i];
    grad_shortcut[i] = 2.0f * grad_out[i];
    want[i] = 3.0 * k.r[i];
  }
  lb_residual_add(k.count, grad_main, grad_shortcut, grad_main);
  assert_all_near(grad_main, want, k.count, FORWARD_TOLERANCE, "grad_x");
}

/* ---- shapes and work split ------------------------------------------------
 */

static void test_nchw_check_rejects_empty_and_unaddressable_shapes(
    void **state) {
  (void)state;
  assert_int_equal(lb_nchw_check("f", "x", (lb_nchw){1, 1, 1, 1}), LB_OK);
  assert_fails_with(lb_nchw_check("f", "x", (lb_nchw){2, 0, 3, 3}), LB_EINVAL,
                    "f: x shape [2, 0, 3, 3] has c = 0, not >= 1");
  assert_fails_with(lb_nchw_check("f", "x", (lb_nchw){2, 3, 3, -4}), LB_EINVAL,
                    "has w = -4");
  assert_fails_with(
      lb_nchw_check("f", "x", (lb_nchw){1 << 21, 1 << 21, 1 << 21, 1}),
      LB_EINVAL,
      "f: x shape [2097152, 2097152, 2097152, 1] is too large to address");
  /* 2^61 elements fit int64_t, their 2^63 bytes do not. */
  assert_fails_with(
      lb_nchw_check("f", "x", (lb_nchw){(int64_t)1 << 31, 1 << 30, 1, 1}),
      LB_EINVAL, "too large to address");
}

/* Large enough for several chunks; each kernel's output with 1 and with 4
 * threads must be identical to the bit. */
static void test_results_do_not_depend_on_the_thread_count(void **state) {
  (void)state;
  int32_t threads_before = lb_get_num_threads();
  lb_nchw shape = {4, 8, 64, 64};
  int64_t n = lb_nchw_numel(shape);
  lb_nchw pooled = lb_maxpool2d_output_shape(&resnet_pool, shape);
  int64_t pooled_n = lb_nchw_numel(pooled);
  bn_case k = make_bn_case(shape, true, true, 22);
  float *grad_y = random_floats(n, -1.0, 1.0);
  float *outputs[2][6];
  const int32_t thread_counts[2] = {1, 4};
  for (int t = 0; t < 2; t++) {
    assert_int_equal(lb_set_num_threads(thread_counts[t]), LB_OK);
    assert_true(lb_parallel_chunks(shape.c, n / shape.c) == (t == 0 ? 1 : 4));
    float **o = outputs[t];
    for (int i = 0; i < 4; i++) o[i] = floats(n);
    o[4] = floats(pooled_n);
    o[5] = floats(shape.n * shape.c);
    float *grad_gamma = floats(shape.c), *grad_beta = floats(shape.c);
    int32_t *argmax = int32s(pooled_n);
    bn_saved saved = run_bn_forward(&k, o[0]);
    lb_batchnorm2d_relu_backward(&k.layer, true, shape, k.x, o[0], grad_y,
                                 saved.mean, saved.invstd, o[1], grad_gamma,
                                 grad_beta);
    lb_relu_backward(n, o[0], grad_y, o[2]);
    lb_residual_add(n, k.x, grad_y, o[3]);
    lb_maxpool2d_forward(&resnet_pool, shape, k.x, o[4], argmax);
    lb_global_avgpool_forward(shape, k.x, o[5]);
  }
  assert_int_equal(lb_set_num_threads(threads_before), LB_OK);
  const char *names[6] = {"batch norm y", "batch norm grad_x",
                          "relu grad_x",  "residual add",
                          "max pool y",   "average pool y"};
  const int64_t sizes[6] = {n, n, n, n, pooled_n, shape.n * shape.c};
  for (int i = 0; i < 6; i++)
    assert_bitwise_equal(outputs[0][i], outputs[1][i], sizes[i], names[i]);
}

#define TEST(f) cmocka_unit_test_teardown(f, free_test_buffers)

int main(void) {
  const struct CMUnitTest tests[] = {
      TEST(test_batchnorm_training_forward_normalises_with_batch_statistics),
      TEST(test_batchnorm_eval_forward_uses_running_statistics),
      TEST(test_batchnorm_with_one_item_normalises_over_its_planes),
      TEST(test_batchnorm_running_stats_follow_momentum_and_unbiased_variance),
      TEST(test_batchnorm_statistics_survive_a_mean_far_above_the_spread),
      TEST(test_batchnorm_training_backward_matches_finite_differences),
      TEST(test_batchnorm_eval_backward_matches_finite_differences),
      TEST(test_batchnorm_relu_forward_is_relu_of_batchnorm),
      TEST(test_relu_vector_loops_match_the_rule),
      TEST(test_batchnorm_relu_backward_matches_finite_differences),
      TEST(test_batchnorm_runs_in_place),
      TEST(test_batchnorm_by_images_gives_the_bits_of_by_channel),
      TEST(test_batchnorm_by_channel_when_images_are_fewer_than_threads),
      TEST(test_batchnorm_check_rejects_one_value_per_channel_in_training),
      TEST(test_batchnorm_check_rejects_bad_layers),
      TEST(test_relu_forward_clamps_negatives_and_keeps_nan),
      TEST(test_relu_backward_matches_finite_differences),
      TEST(test_relu_backward_stops_the_gradient_at_zero),
      TEST(test_maxpool_output_shape_follows_the_floor_formula),
      TEST(test_maxpool_forward_matches_reference),
      TEST(test_maxpool_ties_pick_the_first_maximum),
      TEST(test_maxpool_padding_never_wins),
      TEST(test_maxpool_nan_wins_its_window),
      TEST(test_maxpool_backward_matches_finite_differences),
      TEST(test_maxpool_check_rejects_bad_arguments),
      TEST(test_global_avgpool_matches_reference_and_finite_differences),
      TEST(test_linear_forward_matches_reference),
      TEST(test_linear_backward_matches_finite_differences),
      TEST(test_linear_check_rejects_bad_arguments),
      TEST(test_residual_add_sums_out_of_place_and_in_place),
      TEST(test_residual_add_gradient_reaches_both_branches_unchanged),
      TEST(test_nchw_check_rejects_empty_and_unaddressable_shapes),
      TEST(test_results_do_not_depend_on_the_thread_count),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
