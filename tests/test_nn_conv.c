/* Tests of the internal 2-D convolution kernel (lib/nn/conv2d.h): geometry
 * validation, the workspace size, forward and backward against a naive
 * double-precision reference and finite differences, and the fast paths
 * against the general im2col path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/core_internal.h"
#include "lossbal/lossbal.h"
#include "nn/block_claims.h"
#include "nn/conv2d.h"
#include "nn/conv_winograd.h"
#include "test_support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- geometries ---------------------------------------------------------- */

typedef struct conv_case {
  int64_t batch, in_channels, in_h, in_w, out_channels;
  int64_t kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
  bool bias;
} conv_case;

static lb_conv2d_geometry geometry_of(const conv_case *c) {
  return (lb_conv2d_geometry){
      .batch = c->batch, .in_channels = c->in_channels, .in_h = c->in_h,
      .in_w = c->in_w, .out_channels = c->out_channels,
      .kernel_h = c->kernel_h, .kernel_w = c->kernel_w,
      .stride_h = c->stride_h, .stride_w = c->stride_w, .pad_h = c->pad_h,
      .pad_w = c->pad_w};
}

static lb_conv2d_geometry valid_geometry(const conv_case *c) {
  lb_conv2d_geometry g = geometry_of(c);
  assert_int_equal(lb_conv2d_geometry_validate(&g), LB_OK);
  return g;
}

/* Validated with the library at `threads` threads (so with that many
 * workspace slots, on the pool), the thread count restored after. */
static lb_conv2d_geometry geometry_at_threads(const conv_case *c,
                                              int32_t threads) {
  int32_t before = lb_get_num_threads();
  assert_int_equal(lb_set_num_threads(threads), LB_OK);
  lb_conv2d_geometry g = valid_geometry(c);
  assert_int_equal(lb_set_num_threads(before), LB_OK);
  return g;
}

static void describe(const lb_conv2d_geometry *g, char *text, size_t size) {
  snprintf(text, size,
           "input [%lld, %lld, %lld, %lld], %lld filters %lldx%lld, stride "
           "%lldx%lld, padding %lldx%lld",
           (long long)g->batch, (long long)g->in_channels, (long long)g->in_h,
           (long long)g->in_w, (long long)g->out_channels,
           (long long)g->kernel_h, (long long)g->kernel_w,
           (long long)g->stride_h, (long long)g->stride_w, (long long)g->pad_h,
           (long long)g->pad_w);
}

/* Every kernel size x stride x padding x bias the brief names, on a
 * non-square input big enough for a 7x7 kernel without padding, with the
 * channel counts and batch sizes cycling through 1..16 and 1..3; then
 * corner cases: non-square kernels, strides and paddings, a kernel column
 * entirely in the padding, a stride wider than the kernel. */
static int64_t many_cases(conv_case *cases, int64_t capacity) {
  static const int64_t kernels[] = {1, 3, 7}, strides[] = {1, 2},
                       pads[] = {0, 1, 3};
  int64_t count = 0;
  for (int ki = 0; ki < 3; ki++)
    for (int si = 0; si < 2; si++)
      for (int pi = 0; pi < 3; pi++)
        for (int bias = 0; bias < 2; bias++) {
          int64_t n = count;
          cases[count++] = (conv_case){
              .batch = 1 + n % 3, .in_channels = 1 + (n * 7) % 16,
              .in_h = 9, .in_w = 12, .out_channels = 1 + (n * 5 + 3) % 16,
              .kernel_h = kernels[ki], .kernel_w = kernels[ki],
              .stride_h = strides[si], .stride_w = strides[si],
              .pad_h = pads[pi], .pad_w = pads[pi], .bias = bias};
        }
  const conv_case corners[] = {
      {2, 3, 7, 10, 5, 3, 5, 2, 1, 1, 2, true},
      {3, 4, 11, 6, 2, 5, 3, 1, 2, 0, 1, false},
      {2, 3, 2, 1, 4, 7, 7, 1, 1, 3, 3, true},
      {1, 16, 8, 9, 16, 2, 2, 3, 3, 0, 0, false},
      {2, 5, 13, 13, 7, 1, 1, 2, 2, 0, 0, true},
      {1, 2, 1, 17, 3, 1, 3, 1, 1, 0, 1, true},
      {2, 3, 10, 9, 4, 3, 3, 3, 2, 1, 2, true}}; /* rows 3 apart, pad 2 */
  for (size_t i = 0; i < sizeof corners / sizeof corners[0]; i++)
    cases[count++] = corners[i];
  assert_true(count <= capacity);
  return count;
}

#define MANY_CASES_CAPACITY 64

/* ---- arrays -------------------------------------------------------------- */

static int64_t input_count(const lb_conv2d_geometry *g) {
  return g->batch * g->in_channels * g->in_h * g->in_w;
}

static int64_t weight_count(const lb_conv2d_geometry *g) {
  return g->out_channels * g->in_channels * g->kernel_h * g->kernel_w;
}

static int64_t output_count(const lb_conv2d_geometry *g) {
  return g->batch * g->out_channels * g->out_h * g->out_w;
}

static float *floats(int64_t count) {
  float *data = malloc((size_t)(count > 0 ? count : 1) * sizeof(float));
  assert_non_null(data);
  return data;
}

static double *doubles(int64_t count) {
  double *data = calloc((size_t)(count > 0 ? count : 1), sizeof(double));
  assert_non_null(data);
  return data;
}

/* Fills with NaN, so a kernel that reads an output it should overwrite
 * shows it. */
static float *nan_floats(int64_t count) {
  float *data = floats(count);
  for (int64_t i = 0; i < count; i++) data[i] = NAN;
  return data;
}

/* Deterministic values in [-1, 1) from a 64-bit LCG. */
static float *random_floats(int64_t count, uint64_t seed) {
  float *data = floats(count);
  uint64_t state = seed * 6364136223846793005u + 1442695040888963407u;
  for (int64_t i = 0; i < count; i++) {
    state = state * 6364136223846793005u + 1442695040888963407u;
    data[i] = (float)((double)(state >> 40) / (double)(1u << 23) - 1.0);
  }
  return data;
}

static double *widened(const float *data, int64_t count) {
  double *wide = doubles(count);
  for (int64_t i = 0; i < count; i++) wide[i] = data[i];
  return wide;
}

/* The workspace the kernels ask for, filled with NaN so that a kernel
 * reading what it did not write shows it. */
static float *workspace_for(const lb_conv2d_geometry *g) {
  return nan_floats((int64_t)(lb_conv2d_workspace_bytes(g) / sizeof(float)));
}

/* ---- the naive reference, in double -------------------------------------- */

static double input_at(const lb_conv2d_geometry *g, const double *in,
                       int64_t n, int64_t c, int64_t y, int64_t x) {
  return in[((n * g->in_channels + c) * g->in_h + y) * g->in_w + x];
}

/* The input pixel under output (ho, wo) and kernel tap (ki, kj), or -1 when
 * the tap lies in the padding. */
static int64_t tapped_pixel(const lb_conv2d_geometry *g, int64_t ho,
                            int64_t wo, int64_t ki, int64_t kj) {
  int64_t y = ho * g->stride_h - g->pad_h + ki;
  int64_t x = wo * g->stride_w - g->pad_w + kj;
  if (y < 0 || y >= g->in_h || x < 0 || x >= g->in_w) return -1;
  return y * g->in_w + x;
}

static void reference_forward(const lb_conv2d_geometry *g, const double *in,
                              const double *weight, const double *bias,
                              double *out) {
  int64_t kh = g->kernel_h, kw = g->kernel_w, ci = g->in_channels;
  for (int64_t n = 0; n < g->batch; n++)
    for (int64_t co = 0; co < g->out_channels; co++)
      for (int64_t ho = 0; ho < g->out_h; ho++)
        for (int64_t wo = 0; wo < g->out_w; wo++) {
          double sum = bias ? bias[co] : 0.0;
          for (int64_t c = 0; c < ci; c++)
            for (int64_t ki = 0; ki < kh; ki++)
              for (int64_t kj = 0; kj < kw; kj++) {
                int64_t pixel = tapped_pixel(g, ho, wo, ki, kj);
                if (pixel < 0) continue;
                sum += weight[((co * ci + c) * kh + ki) * kw + kj] *
                       input_at(g, in, n, c, pixel / g->in_w,
                                pixel % g->in_w);
              }
          out[((n * g->out_channels + co) * g->out_h + ho) * g->out_w + wo] =
              sum;
        }
}

/* The analytic gradients of the reference for dL/d(out) = grad_out; the
 * outputs must start at zero. */
static void reference_backward(const lb_conv2d_geometry *g, const double *in,
                               const double *weight, const double *grad_out,
                               double *grad_in, double *grad_weight,
                               double *grad_bias) {
  int64_t kh = g->kernel_h, kw = g->kernel_w, ci = g->in_channels;
  int64_t plane = g->in_h * g->in_w;
  for (int64_t n = 0; n < g->batch; n++)
    for (int64_t co = 0; co < g->out_channels; co++)
      for (int64_t ho = 0; ho < g->out_h; ho++)
        for (int64_t wo = 0; wo < g->out_w; wo++) {
          double d = grad_out[((n * g->out_channels + co) * g->out_h + ho) *
                                  g->out_w + wo];
          grad_bias[co] += d;
          for (int64_t c = 0; c < ci; c++)
            for (int64_t ki = 0; ki < kh; ki++)
              for (int64_t kj = 0; kj < kw; kj++) {
                int64_t pixel = tapped_pixel(g, ho, wo, ki, kj);
                if (pixel < 0) continue;
                int64_t w_at = ((co * ci + c) * kh + ki) * kw + kj;
                int64_t in_at = (n * ci + c) * plane + pixel;
                grad_weight[w_at] += in[in_at] * d;
                grad_in[in_at] += weight[w_at] * d;
              }
        }
}

/* Asserts max |got - want| <= tolerance * max |want|. */
static void assert_close(const float *got, const double *want, int64_t count,
                         double tolerance, const char *what,
                         const lb_conv2d_geometry *g) {
  double largest = 0.0, worst = 0.0;
  int64_t worst_at = 0;
  for (int64_t i = 0; i < count; i++) {
    double error = fabs((double)got[i] - want[i]);
    if (isnan(error)) error = INFINITY;
    if (error > worst) {
      worst = error;
      worst_at = i;
    }
    if (fabs(want[i]) > largest) largest = fabs(want[i]);
  }
  if (!(worst <= tolerance * largest)) {
    char text[256];
    describe(g, text, sizeof text);
    fail_msg("%s, %s: element %lld is %.9g, expected %.9g (max |value| %.3g)",
             text, what, (long long)worst_at, (double)got[worst_at],
             want[worst_at], largest);
  }
}

/* ---- running the kernel -------------------------------------------------- */

/* The kernel's results for one geometry on random data, with the outputs
 * starting as NaN, and the data they came from. */
typedef struct conv_run {
  lb_conv2d_geometry g;
  float *input, *weight, *bias, *grad_output; /* bias NULL without one */
  float *output, *grad_input, *grad_weight, *grad_bias;
} conv_run;

static conv_run random_run(const lb_conv2d_geometry *g, bool bias,
                           uint64_t seed) {
  conv_run run = {.g = *g};
  run.input = random_floats(input_count(g), seed);
  run.weight = random_floats(weight_count(g), seed + 1);
  run.bias = bias ? random_floats(g->out_channels, seed + 2) : NULL;
  run.grad_output = random_floats(output_count(g), seed + 3);
  run.output = nan_floats(output_count(g));
  run.grad_input = nan_floats(input_count(g));
  run.grad_weight = nan_floats(weight_count(g));
  run.grad_bias = nan_floats(g->out_channels);
  return run;
}

/* Forward, then backward, sharing one workspace. */
static void run_kernels(conv_run *run) {
  float *workspace = workspace_for(&run->g);
  lb_conv2d_forward(&run->g, run->input, run->weight, run->bias, run->output,
                    workspace);
  lb_conv2d_backward(&run->g, run->input, run->weight, run->grad_output,
                     run->grad_input, run->grad_weight, run->grad_bias,
                     workspace);
  free(workspace);
}

static void free_run(conv_run *run) {
  free(run->input);
  free(run->weight);
  free(run->bias);
  free(run->grad_output);
  free(run->output);
  free(run->grad_input);
  free(run->grad_weight);
  free(run->grad_bias);
}

/* The reference's output and gradients for the run's data. */
typedef struct reference {
  double *output, *grad_input, *grad_weight, *grad_bias;
} reference;

static reference reference_of(const conv_run *run) {
  const lb_conv2d_geometry *g = &run->g;
  double *in = widened(run->input, input_count(g));
  double *weight = widened(run->weight, weight_count(g));
  double *bias = run->bias ? widened(run->bias, g->out_channels) : NULL;
  double *grad_out = widened(run->grad_output, output_count(g));
  reference ref = {doubles(output_count(g)), doubles(input_count(g)),
                   doubles(weight_count(g)), doubles(g->out_channels)};
  reference_forward(g, in, weight, bias, ref.output);
  reference_backward(g, in, weight, grad_out, ref.grad_input,
                     ref.grad_weight, ref.grad_bias);
  free(in);
  free(weight);
  free(bias);
  free(grad_out);
  return ref;
}

static void free_reference(reference *ref) {
  free(ref->output);
  free(ref->grad_input);
  free(ref->grad_weight);
  free(ref->grad_bias);
}

#define TOLERANCE 1e-5

static void assert_run_matches_reference(const conv_run *run) {
  const lb_conv2d_geometry *g = &run->g;
  reference ref = reference_of(run);
  assert_close(run->output, ref.output, output_count(g), TOLERANCE, "output",
               g);
  assert_close(run->grad_input, ref.grad_input, input_count(g), TOLERANCE,
               "grad_input", g);
  assert_close(run->grad_weight, ref.grad_weight, weight_count(g), TOLERANCE,
               "grad_weight", g);
  assert_close(run->grad_bias, ref.grad_bias, g->out_channels, TOLERANCE,
               "grad_bias", g);
  free_reference(&ref);
}

/* ---- geometry validation ------------------------------------------------- */

static const conv_case resnet_stem = {2, 3, 224, 224, 64, 7, 7, 2, 2, 3, 3,
                                      false};

static void test_geometry_derives_output_size_like_pytorch(void **state) {
  (void)state;
  const struct {
    conv_case c;
    int64_t out_h, out_w;
  } rows[] = {
      {resnet_stem, 112, 112},
      {{1, 64, 56, 56, 128, 3, 3, 2, 2, 1, 1, false}, 28, 28},
      {{1, 64, 56, 56, 128, 1, 1, 2, 2, 0, 0, false}, 28, 28},
      {{1, 1, 5, 7, 1, 3, 3, 1, 1, 0, 0, false}, 3, 5},
      {{1, 1, 6, 6, 1, 3, 3, 2, 2, 0, 0, false}, 2, 2}, /* floor division */
      {{1, 1, 5, 5, 1, 7, 7, 1, 1, 1, 1, false}, 1, 1}, /* exactly fits */
      {{1, 1, 4, 9, 1, 3, 1, 1, 3, 2, 0, false}, 6, 3}};
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    lb_conv2d_geometry g = valid_geometry(&rows[i].c);
    assert_int_equal(g.out_h, rows[i].out_h);
    assert_int_equal(g.out_w, rows[i].out_w);
  }
}

static void test_geometry_rejects_sizes_below_one_naming_the_field(
    void **state) {
  (void)state;
  const struct {
    size_t offset;
    int64_t value;
    const char *message;
  } rows[] = {
      {offsetof(lb_conv2d_geometry, batch), 0,
       "conv2d: batch = 0, it must be at least 1"},
      {offsetof(lb_conv2d_geometry, in_channels), -3, "in_channels = -3"},
      {offsetof(lb_conv2d_geometry, in_h), 0, "in_h = 0"},
      {offsetof(lb_conv2d_geometry, in_w), -1, "in_w = -1"},
      {offsetof(lb_conv2d_geometry, out_channels), 0, "out_channels = 0"},
      {offsetof(lb_conv2d_geometry, kernel_h), 0, "kernel_h = 0"},
      {offsetof(lb_conv2d_geometry, kernel_w), -7, "kernel_w = -7"},
      {offsetof(lb_conv2d_geometry, stride_h), 0,
       "conv2d: stride_h = 0, it must be at least 1"},
      {offsetof(lb_conv2d_geometry, stride_w), 0, "stride_w = 0"},
      {offsetof(lb_conv2d_geometry, pad_h), -1,
       "conv2d: pad_h = -1, it must be at least 0"},
      {offsetof(lb_conv2d_geometry, pad_w), -2, "pad_w = -2"}};
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    lb_conv2d_geometry g = geometry_of(&resnet_stem);
    memcpy((char *)&g + rows[i].offset, &rows[i].value, sizeof(int64_t));
    assert_fails_with(lb_conv2d_geometry_validate(&g), LB_EINVAL,
                      rows[i].message);
  }
}

static void test_geometry_rejects_kernel_larger_than_padded_input(
    void **state) {
  (void)state;
  const struct {
    conv_case c;
    const char *message;
  } rows[] = {
      {{1, 3, 5, 5, 8, 7, 7, 1, 1, 0, 0, false},
       "conv2d: input 5x5 is smaller than the kernel 7x7 with padding 0"},
      {{1, 3, 4, 9, 8, 7, 7, 2, 2, 1, 1, false},
       "conv2d: input 4x9 is smaller than the kernel 7x7 with padding 1"},
      {{1, 3, 9, 4, 8, 3, 7, 1, 1, 2, 1, false},
       "conv2d: input 9x4 is smaller than the kernel 3x7 with padding 2x1"}};
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    lb_conv2d_geometry g = geometry_of(&rows[i].c);
    assert_fails_with(lb_conv2d_geometry_validate(&g), LB_EINVAL,
                      rows[i].message);
  }
}

static void test_geometry_rejects_fields_beyond_int32(void **state) {
  (void)state;
  lb_conv2d_geometry g = geometry_of(&resnet_stem);
  g.in_w = (int64_t)INT32_MAX + 1;
  assert_fails_with(lb_conv2d_geometry_validate(&g), LB_EINVAL,
                    "conv2d: in_w = 2147483648 exceeds INT32_MAX");
  g = geometry_of(&resnet_stem);
  g.pad_h = INT64_MAX; /* in_h + 2 * pad_h would overflow */
  assert_fails_with(lb_conv2d_geometry_validate(&g), LB_EINVAL,
                    "pad_h = 9223372036854775807 exceeds INT32_MAX");
}

static void test_geometry_rejects_arrays_whose_byte_size_overflows(
    void **state) {
  (void)state;
  const int64_t big = INT32_MAX;
  const struct {
    conv_case c;
    const char *message;
  } rows[] = {
      {{big, big, big, big, 1, 1, 1, 1, 1, 0, 0, false},
       "conv2d: the input [2147483647, 2147483647, 2147483647, 2147483647] "
       "is too large"},
      {{1, 1 << 20, 1 << 16, 1 << 16, 1 << 20, 1 << 16, 1 << 16, 1, 1, 0, 0,
        false},
       "conv2d: the weight [1048576, 1048576, 65536, 65536] is too large"},
      {{1 << 20, 1, 1 << 16, 1 << 16, 1 << 20, 1, 1, 1, 1, 0, 0, false},
       "conv2d: the output [1048576, 1048576, 65536, 65536] is too large"},
      {{1 << 22, 1 << 12, 1 << 16, 1, 1, 1 << 12, 1, 1, 1, 0, 0, false},
       "conv2d: the workspace of the batch [4194304, 16777217, 61441, 1] is "
       "too large"}};
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    lb_conv2d_geometry g = geometry_of(&rows[i].c);
    assert_fails_with(lb_conv2d_geometry_validate(&g), LB_EINVAL,
                      rows[i].message);
  }
}

static void test_geometry_rejects_gemm_extents_beyond_int32(void **state) {
  (void)state;
  /* K = 2^26 channels x 8 x 8 taps = 2^32: every array fits, BLAS not. */
  conv_case wide_filter = {1, 1 << 26, 64, 64, 1, 8, 8, 1, 1, 0, 0, false};
  lb_conv2d_geometry g = geometry_of(&wide_filter);
  assert_fails_with(lb_conv2d_geometry_validate(&g), LB_EINVAL,
                    "conv2d: a filter has 4294967296 weights, more than the "
                    "INT32_MAX a BLAS extent can be");
  conv_case huge_plane = {1, 1, 1 << 16, 1 << 16, 1, 1, 1, 1, 1, 0, 0, false};
  g = geometry_of(&huge_plane);
  assert_fails_with(lb_conv2d_geometry_validate(&g), LB_EINVAL,
                    "conv2d: an output channel has 4294967296 pixels");
}

static void test_failed_validation_leaves_geometry_untouched(void **state) {
  (void)state;
  conv_case too_small = {1, 3, 5, 5, 8, 7, 7, 1, 1, 0, 0, false};
  lb_conv2d_geometry g = geometry_of(&too_small);
  g.out_h = -42;
  g.out_w = -43;
  lb_conv2d_geometry before = g;
  assert_int_equal(lb_conv2d_geometry_validate(&g), LB_EINVAL);
  assert_memory_equal(&g, &before, sizeof g);
}

static void test_validation_and_kernels_never_allocate(void **state) {
  (void)state;
  conv_case c = {2, 3, 9, 8, 4, 3, 3, 2, 1, 1, 1, true};
  lb_conv2d_geometry g = geometry_of(&c);
  lb_fault_fail_nth_allocation(1); /* the test's own malloc is not counted */
  assert_int_equal(lb_conv2d_geometry_validate(&g), LB_OK);
  conv_run run = random_run(&g, true, 5);
  run_kernels(&run);
  assert_int_equal(lb_fault_allocations_attempted(), 0);
  lb_fault_fail_nth_allocation(0);
  assert_run_matches_reference(&run);
  free_run(&run);
}

/* ---- workspace ----------------------------------------------------------- */

/* Bytes of the column matrix of a block plus, for blocks of several
 * images, the staged output: (K + Co) * images * P floats. */
static size_t block_bytes(int64_t k, int64_t co, int64_t images, int64_t p) {
  return (size_t)((k + co) * images * p) * sizeof(float);
}

/* At one thread: one workspace slot. */
static void test_workspace_holds_a_block_of_at_least_1024_output_pixels(
    void **state) {
  (void)state;
  int32_t threads = lb_get_num_threads();
  assert_int_equal(lb_set_num_threads(1), LB_OK);
  /* 784 pixels: blocks of 2 images; a layer Winograd may take gets room
   * for whichever algorithm needs more. */
  conv_case layer1 = {64, 64, 28, 28, 64, 3, 3, 1, 1, 1, 1, false};
  lb_conv2d_geometry g = valid_geometry(&layer1);
  size_t gemm = block_bytes(64 * 9, 64, 2, 784);
  size_t winograd = lb_winograd_workspace_bytes(&g);
  assert_int_equal(lb_conv2d_workspace_bytes(&g),
                   winograd > gemm ? winograd : gemm);
  conv_case few_channels = {64, 8, 28, 28, 8, 3, 3, 1, 1, 1, 1, false};
  g = valid_geometry(&few_channels);
  assert_int_equal(lb_conv2d_workspace_bytes(&g),
                   block_bytes(8 * 9, 8, 2, 784));
  /* 196 pixels: blocks of 6 images, but the batch has 4. */
  conv_case downsample = {4, 64, 28, 28, 128, 1, 1, 2, 2, 0, 0, false};
  g = valid_geometry(&downsample);
  assert_int_equal(lb_conv2d_workspace_bytes(&g),
                   block_bytes(64, 128, 4, 196));
  /* 1024 pixels: one image per block, nothing staged. */
  conv_case large = {8, 3, 38, 38, 16, 7, 7, 1, 1, 0, 0, false};
  g = valid_geometry(&large);
  assert_int_equal(lb_conv2d_workspace_bytes(&g),
                   (size_t)(3 * 49 * 1024) * sizeof(float));
  assert_int_equal(lb_set_num_threads(threads), LB_OK);
}

/* A slot per thread, each with a block of at most the thread's share of
 * the batch, and a weight gradient per slot but the first; never more
 * slots than images. LOSSBAL_GEMM=openblas keeps one slot. */
static void test_workspace_has_a_slot_per_thread(void **state) {
  (void)state;
  bool pool = lb_gemm_on_pool();
  /* 196 pixels: blocks of 6 images at one thread; at 3 threads a slot's
   * share of 10 images is 4. */
  conv_case layer = {10, 16, 28, 28, 32, 3, 3, 2, 2, 1, 1, false};
  lb_conv2d_geometry g = geometry_at_threads(&layer, 3);
  assert_int_equal(g.slots, pool ? 3 : 1);
  size_t weight_bytes = (size_t)(32 * 16 * 9) * sizeof(float);
  assert_int_equal(lb_conv2d_workspace_bytes(&g),
                   pool ? 3 * block_bytes(16 * 9, 32, 4, 196) +
                              2 * weight_bytes
                        : block_bytes(16 * 9, 32, 6, 196));
  /* 2 images at 4 threads: 2 slots of one image, nothing staged. */
  layer.batch = 2;
  g = geometry_at_threads(&layer, 4);
  assert_int_equal(lb_conv2d_workspace_bytes(&g),
                   pool ? 2 * (size_t)(16 * 9 * 196) * sizeof(float) +
                              weight_bytes
                        : block_bytes(16 * 9, 32, 2, 196));
}

/* Past 8 threads the workspace stops growing: at most 8 ranges. */
static void test_slots_stop_at_eight(void **state) {
  (void)state;
  conv_case layer = {64, 16, 14, 14, 16, 3, 3, 1, 1, 1, 1, false};
  lb_conv2d_geometry at_8 = geometry_at_threads(&layer, 8);
  lb_conv2d_geometry at_12 = geometry_at_threads(&layer, 12);
  assert_int_equal(at_12.slots, lb_gemm_on_pool() ? 8 : 1);
  assert_int_equal(lb_conv2d_workspace_bytes(&at_12),
                   lb_conv2d_workspace_bytes(&at_8));
}

static void test_pointwise_stride_1_on_large_images_needs_no_workspace(
    void **state) {
  (void)state;
  /* 49 pixels or more, at one thread (else the threads' weight gradients
   * need room). */
  conv_case pointwise = {3, 16, 32, 40, 24, 1, 1, 1, 1, 0, 0, true};
  lb_conv2d_geometry g = geometry_at_threads(&pointwise, 1);
  assert_int_equal(lb_conv2d_workspace_bytes(&g), 0);
  conv_case small = {3, 16, 7, 7, 24, 1, 1, 1, 1, 0, 0, true};
  lb_conv2d_geometry g14 = geometry_at_threads(&small, 1);
  assert_int_equal(lb_conv2d_workspace_bytes(&g14), 0);
  conv_run run = random_run(&g, true, 11);
  lb_conv2d_forward(&g, run.input, run.weight, run.bias, run.output, NULL);
  lb_conv2d_backward(&g, run.input, run.weight, run.grad_output,
                     run.grad_input, run.grad_weight, run.grad_bias, NULL);
  assert_run_matches_reference(&run);
  free_run(&run);
}

/* ---- forward and backward against the reference ------------------------ */

static void test_forward_and_backward_match_naive_reference(void **state) {
  (void)state;
  conv_case cases[MANY_CASES_CAPACITY];
  int64_t count = many_cases(cases, MANY_CASES_CAPACITY);
  for (int64_t i = 0; i < count; i++) {
    lb_conv2d_geometry g = valid_geometry(&cases[i]);
    conv_run run = random_run(&g, cases[i].bias, (uint64_t)i * 10);
    run_kernels(&run);
    assert_run_matches_reference(&run);
    free_run(&run);
  }
}

/* L = sum(reference output * R) in double: linear in each argument, so a
 * central difference is exact up to rounding. */
static double loss_of(const lb_conv2d_geometry *g, const double *in,
                      const double *weight, const double *bias,
                      const double *r) {
  double *out = doubles(output_count(g));
  reference_forward(g, in, weight, bias, out);
  double loss = 0.0;
  for (int64_t i = 0; i < output_count(g); i++) loss += out[i] * r[i];
  free(out);
  return loss;
}

/* dL/d(values[i]) for every i by central differences, into gradient. */
static void finite_differences(const lb_conv2d_geometry *g, double *in,
                               double *weight, double *bias, const double *r,
                               double *values, int64_t count,
                               double *gradient) {
  const double step = 1e-3;
  for (int64_t i = 0; i < count; i++) {
    double kept = values[i];
    values[i] = kept + step;
    double above = loss_of(g, in, weight, bias, r);
    values[i] = kept - step;
    double below = loss_of(g, in, weight, bias, r);
    values[i] = kept;
    gradient[i] = (above - below) / (2.0 * step);
  }
}

static void test_backward_matches_finite_differences_of_sum_out_times_r(
    void **state) {
  (void)state;
  const conv_case cases[] = {{2, 3, 6, 5, 4, 3, 3, 1, 1, 1, 1, true},
                             {1, 2, 7, 8, 3, 7, 7, 2, 2, 3, 3, true},
                             {3, 4, 5, 6, 2, 1, 1, 2, 2, 0, 0, true},
                             {2, 3, 4, 4, 5, 1, 1, 1, 1, 0, 0, true},
                             {1, 2, 6, 7, 3, 3, 2, 2, 1, 0, 1, true}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    lb_conv2d_geometry g = valid_geometry(&cases[i]);
    conv_run run = random_run(&g, true, 100 + i);
    run_kernels(&run);
    double *in = widened(run.input, input_count(&g));
    double *weight = widened(run.weight, weight_count(&g));
    double *bias = widened(run.bias, g.out_channels);
    double *r = widened(run.grad_output, output_count(&g)); /* dL/dout = R */
    double *numeric = doubles(input_count(&g));
    finite_differences(&g, in, weight, bias, r, in, input_count(&g), numeric);
    assert_close(run.grad_input, numeric, input_count(&g), TOLERANCE,
                 "grad_input vs finite differences", &g);
    free(numeric);
    numeric = doubles(weight_count(&g));
    finite_differences(&g, in, weight, bias, r, weight, weight_count(&g),
                       numeric);
    assert_close(run.grad_weight, numeric, weight_count(&g), TOLERANCE,
                 "grad_weight vs finite differences", &g);
    free(numeric);
    numeric = doubles(g.out_channels);
    finite_differences(&g, in, weight, bias, r, bias, g.out_channels, numeric);
    assert_close(run.grad_bias, numeric, g.out_channels, TOLERANCE,
                 "grad_bias vs finite differences", &g);
    free(numeric);
    free(in);
    free(weight);
    free(bias);
    free(r);
    free_run(&run);
  }
}

static void test_backward_skips_null_grad_input_and_grad_bias(void **state) {
  (void)state;
  conv_case c = {2, 3, 9, 7, 4, 3, 3, 2, 2, 1, 1, false};
  lb_conv2d_geometry g = valid_geometry(&c);
  conv_run full = random_run(&g, false, 21);
  run_kernels(&full);
  float *grad_weight = nan_floats(weight_count(&g));
  float *workspace = workspace_for(&g);
  lb_conv2d_backward(&g, full.input, full.weight, full.grad_output, NULL,
                     grad_weight, NULL, workspace);
  assert_memory_equal(grad_weight, full.grad_weight,
                      (size_t)weight_count(&g) * sizeof(float));
  free(workspace);
  free(grad_weight);
  free_run(&full);
}

static void test_gradients_are_overwritten_not_accumulated(void **state) {
  (void)state;
  conv_case c = {3, 4, 8, 8, 5, 3, 3, 1, 1, 1, 1, true};
  lb_conv2d_geometry g = valid_geometry(&c);
  conv_run run = random_run(&g, true, 31);
  run_kernels(&run); /* outputs started as NaN */
  conv_run again = run;
  again.grad_input = floats(input_count(&g));
  again.grad_weight = floats(weight_count(&g));
  again.grad_bias = floats(g.out_channels);
  memcpy(again.grad_input, run.grad_input,
         (size_t)input_count(&g) * sizeof(float));
  memcpy(again.grad_weight, run.grad_weight,
         (size_t)weight_count(&g) * sizeof(float));
  memcpy(again.grad_bias, run.grad_bias,
         (size_t)g.out_channels * sizeof(float));
  run_kernels(&again); /* outputs start as the previous gradients */
  assert_memory_equal(again.grad_input, run.grad_input,
                      (size_t)input_count(&g) * sizeof(float));
  assert_memory_equal(again.grad_weight, run.grad_weight,
                      (size_t)weight_count(&g) * sizeof(float));
  assert_memory_equal(again.grad_bias, run.grad_bias,
                      (size_t)g.out_channels * sizeof(float));
  assert_run_matches_reference(&run);
  free(again.grad_input);
  free(again.grad_weight);
  free(again.grad_bias);
  free_run(&run);
}

/* ---- blocks, threads and fast paths -------------------------------------- */

/* 960 pixels: blocks of 2 images, so a batch of 5 ends with a block of
 * one; and large enough for lowering and col2im to be split over threads. */
static const conv_case threaded = {5, 16, 32, 30, 8, 3, 3, 1, 1, 1, 1, true};

static void test_blocks_of_several_images_match_reference(void **state) {
  (void)state;
  const conv_case cases[] = {
      threaded,
      {5, 3, 20, 20, 4, 3, 3, 1, 1, 1, 1, true},   /* blocks of 3, then 2 */
      {7, 2, 12, 10, 3, 5, 5, 2, 2, 2, 2, false},  /* one block of 7 */
      {4, 6, 29, 31, 5, 1, 1, 2, 2, 0, 0, false}}; /* blocks of 2 */
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    lb_conv2d_geometry g = valid_geometry(&cases[i]);
    conv_run run = random_run(&g, cases[i].bias, 41 + i);
    run_kernels(&run);
    assert_run_matches_reference(&run);
    free_run(&run);
  }
}

static void test_lowering_split_over_many_threads_matches_reference(
    void **state) {
  (void)state;
  int32_t threads = lb_get_num_threads();
  lb_conv2d_geometry g = valid_geometry(&threaded);
  const int32_t counts[] = {1, 3, 7};
  for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
    assert_int_equal(lb_set_num_threads(counts[i]), LB_OK);
    conv_run run = random_run(&g, true, 51);
    run_kernels(&run);
    assert_run_matches_reference(&run);
    free_run(&run);
  }
  assert_int_equal(lb_set_num_threads(threads), LB_OK);
}

/* Relative agreement of two float arrays to 1e-6 of the largest value. */
static void assert_agree(const float *got, const float *want, int64_t count,
                         const char *what, const lb_conv2d_geometry *g) {
  double *wide = widened(want, count);
  assert_close(got, wide, count, 1e-6, what, g);
  free(wide);
}

/* A 1x1 convolution, and the same convolution as a 3x3 kernel whose only
 * non-zero tap is the centre, with padding 1: the same output, grad_input
 * and centre gradient, but through the general im2col path. */
static void assert_pointwise_agrees_with_centred_3x3(const conv_case *c) {
  lb_conv2d_geometry fast = valid_geometry(c);
  conv_case c3 = *c;
  c3.kernel_h = c3.kernel_w = 3;
  c3.pad_h = c3.pad_w = 1;
  lb_conv2d_geometry general = valid_geometry(&c3);
  assert_int_equal(general.out_h, fast.out_h);
  assert_int_equal(general.out_w, fast.out_w);

  conv_run a = random_run(&fast, c->bias, 61);
  run_kernels(&a);
  conv_run b = random_run(&general, c->bias, 61);
  memcpy(b.input, a.input, (size_t)input_count(&fast) * sizeof(float));
  memcpy(b.grad_output, a.grad_output,
         (size_t)output_count(&fast) * sizeof(float));
  for (int64_t i = 0; i < weight_count(&general); i++)
    b.weight[i] = i % 9 == 4 ? a.weight[i / 9] : 0.0f;
  run_kernels(&b);

  float *centre = floats(weight_count(&fast));
  for (int64_t i = 0; i < weight_count(&fast); i++)
    centre[i] = b.grad_weight[i * 9 + 4];
  assert_agree(a.output, b.output, output_count(&fast), "output", &fast);
  assert_agree(a.grad_input, b.grad_input, input_count(&fast), "grad_input",
               &fast);
  assert_agree(a.grad_weight, centre, weight_count(&fast), "grad_weight",
               &fast);
  if (c->bias)
    assert_agree(a.grad_bias, b.grad_bias, fast.out_channels, "grad_bias",
                 &fast);
  assert_run_matches_reference(&a);
  free(centre);
  free_run(&a);
  free_run(&b);
}

static void test_pointwise_stride_1_fast_path_agrees_with_general_path(
    void **state) {
  (void)state;
  /* 49 pixels or more: the GEMMs read and write the images in place;
   * fewer: the images are copied into blocks first. */
  const conv_case cases[] = {{3, 16, 32, 32, 32, 1, 1, 1, 1, 0, 0, false},
                             {2, 5, 26, 41, 3, 1, 1, 1, 1, 0, 0, true},
                             {5, 6, 7, 7, 4, 1, 1, 1, 1, 0, 0, true},
                             {2, 5, 6, 8, 3, 1, 1, 1, 1, 0, 0, true},
                             {2, 5, 5, 7, 3, 1, 1, 1, 1, 0, 0, true}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    assert_pointwise_agrees_with_centred_3x3(&cases[i]);
}

static void test_pointwise_stride_2_gather_agrees_with_general_path(
    void **state) {
  (void)state;
  const conv_case cases[] = {{3, 16, 14, 14, 32, 1, 1, 2, 2, 0, 0, false},
                             {2, 5, 7, 11, 3, 1, 1, 2, 2, 0, 0, true},
                             {2, 4, 9, 9, 6, 1, 1, 2, 1, 0, 0, false}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    assert_pointwise_agrees_with_centred_3x3(&cases[i]);
}

/* ---- ranges of images on several threads -------------------------------- */

/* Shapes with several blocks per range, fewer images than threads, odd
 * batches (uneven ranges, or one range split over the pool), 1x1 kernels
 * at stride 1 (in place, and lowered below 49 pixels) and 2. Fewer than
 * 16 input channels, so that none goes to Winograd. */
static const conv_case range_cases[] = {
    {16, 3, 12, 12, 5, 3, 3, 1, 1, 1, 1, true},  /* blocks of 4 .. 8 */
    {2, 4, 9, 8, 6, 3, 3, 2, 2, 1, 1, false},    /* batch below 3 and 4 */
    {9, 5, 10, 11, 7, 5, 5, 2, 1, 2, 1, true},   /* odd batch */
    {3, 6, 20, 20, 4, 3, 3, 1, 1, 1, 1, false},  /* 3 on 2 or 4 threads */
    {13, 7, 6, 6, 9, 3, 3, 1, 1, 0, 0, true},    /* odd, 16 pixels */
    {7, 8, 14, 14, 12, 1, 1, 1, 1, 0, 0, true},  /* 1x1 in place */
    {10, 8, 6, 7, 12, 1, 1, 1, 1, 0, 0, false},  /* 1x1 lowered */
    {11, 6, 13, 13, 10, 1, 1, 2, 2, 0, 0, true}, /* 1x1 stride 2 */
    {8, 2, 40, 36, 3, 3, 3, 1, 1, 1, 1, true},   /* 1440 pixels */
};

/* The run of `c` on the data of `seed` by `kernels`, validated at
 * `validated` threads and computed at `threads`. */
static conv_run run_kernels_at(const conv_case *c, int32_t validated,
                               int32_t threads, uint64_t seed,
                               void (*kernels)(conv_run *)) {
  lb_conv2d_geometry g = geometry_at_threads(c, validated);
  int32_t before = lb_get_num_threads();
  conv_run run = random_run(&g, c->bias, seed);
  assert_int_equal(lb_set_num_threads(threads), LB_OK);
  kernels(&run);
  assert_int_equal(lb_set_num_threads(before), LB_OK);
  return run;
}

static conv_run run_at(const conv_case *c, int32_t validated,
                       int32_t threads, uint64_t seed) {
  return run_kernels_at(c, validated, threads, seed, run_kernels);
}

static void assert_runs_agree(const conv_run *got, const conv_run *want) {
  const lb_conv2d_geometry *g = &got->g;
  assert_agree(got->output, want->output, output_count(g), "output", g);
  assert_agree(got->grad_input, want->grad_input, input_count(g),
               "grad_input", g);
  assert_agree(got->grad_weight, want->grad_weight, weight_count(g),
               "grad_weight", g);
}

/* A way to run a case: validated at one thread count, computed at
 * another (run_at, winograd_run_at). */
typedef conv_run (*case_runner)(const conv_case *c, int32_t validated,
                                int32_t threads, uint64_t seed);

/* Each case at 2, 3 and 4 threads against the reference and against one
 * thread. */
static void check_threads_match_reference_and_one_thread(
    const conv_case *cases, size_t count, uint64_t seed, case_runner run) {
  const int32_t counts[] = {2, 3, 4};
  for (size_t i = 0; i < count; i++) {
    conv_run one = run(&cases[i], 1, 1, seed + i);
    assert_run_matches_reference(&one);
    for (size_t t = 0; t < sizeof counts / sizeof *counts; t++) {
      conv_run many = run(&cases[i], counts[t], counts[t], seed + i);
      assert_run_matches_reference(&many);
      assert_runs_agree(&many, &one);
      free_run(&many);
    }
    free_run(&one);
  }
}

/* A geometry validated at one thread count and run at another. */
typedef struct thread_pair {
  int32_t validated, threads;
} thread_pair;

/* Each case at each pair against the reference. */
static void check_validated_elsewhere(const conv_case *cases, size_t count,
                                      const thread_pair *pairs,
                                      size_t pair_count, uint64_t seed,
                                      case_runner run) {
  for (size_t i = 0; i < count; i++)
    for (size_t p = 0; p < pair_count; p++) {
      conv_run r = run(&cases[i], pairs[p].validated, pairs[p].threads,
                       seed + i);
      assert_run_matches_reference(&r);
      free_run(&r);
    }
}

/* Every output of two runs, bit for bit. */
static void assert_runs_identical(const conv_run *a, const conv_run *b) {
  assert_memory_equal(a->output, b->output,
                      (size_t)output_count(&a->g) * sizeof(float));
  assert_memory_equal(a->grad_input, b->grad_input,
                      (size_t)input_count(&a->g) * sizeof(float));
  assert_memory_equal(a->grad_weight, b->grad_weight,
                      (size_t)weight_count(&a->g) * sizeof(float));
}

static void test_ranges_of_images_match_reference_and_one_thread(
    void **state) {
  (void)state;
  check_threads_match_reference_and_one_thread(
      range_cases, sizeof range_cases / sizeof *range_cases, 300, run_at);
}

/* The same thread count gives the same bits, the weight gradient's sum
 * over ranges included. */
static void test_ranges_of_images_repeat_bit_for_bit(void **state) {
  (void)state;
  const conv_case *c = &range_cases[2];
  conv_run a = run_at(c, 3, 3, 17), b = run_at(c, 3, 3, 17);
  assert_runs_identical(&a, &b);
  free_run(&a);
  free_run(&b);
}

/* A workspace sized at one thread count serves a call at another: at
 * fewer threads the call uses fewer slots; at more, no more slots than
 * the workspace has. The exact-size workspace lets the sanitizer build
 * catch an overrun. */
static void test_geometry_validated_at_one_thread_count_runs_at_another(
    void **state) {
  (void)state;
  const thread_pair pairs[] = {{4, 1}, {1, 4}, {4, 2}, {2, 3}, {12, 12}};
  check_validated_elsewhere(range_cases,
                            sizeof range_cases / sizeof *range_cases, pairs,
                            sizeof pairs / sizeof *pairs, 400, run_at);
}

/* ---- Winograd F(2x2, 3x3) ------------------------------------------------ */

/* The 3x3, stride 1, padding 1 shapes Winograd takes: odd and even sizes
 * (a last tile half outside the image), 1-pixel images, one channel, more
 * channels than a tile, blocks of several images, with and without bias. */
static const conv_case winograd_cases[] = {
    {1, 1, 1, 1, 1, 3, 3, 1, 1, 1, 1, false},
    {2, 3, 2, 2, 4, 3, 3, 1, 1, 1, 1, true},
    {3, 2, 5, 7, 3, 3, 3, 1, 1, 1, 1, true},
    {1, 17, 6, 6, 5, 3, 3, 1, 1, 1, 1, false},
    {5, 4, 9, 4, 6, 3, 3, 1, 1, 1, 1, true},
    {2, 8, 28, 28, 8, 3, 3, 1, 1, 1, 1, false},
    {70, 3, 4, 4, 2, 3, 3, 1, 1, 1, 1, false}, /* several blocks of images */
    {2, 5, 13, 1, 3, 3, 3, 1, 1, 1, 1, true},
};

static void run_winograd(conv_run *run) {
  float *workspace = nan_floats(
      (int64_t)(lb_winograd_workspace_bytes(&run->g) / sizeof(float)));
  lb_winograd_forward(&run->g, run->input, run->weight, run->bias,
                      run->output, workspace);
  lb_winograd_backward(&run->g, run->input, run->weight, run->grad_output,
                       run->grad_input, run->grad_weight, run->grad_bias,
                       workspace);
  free(workspace);
}

static void test_winograd_matches_naive_reference(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof winograd_cases / sizeof *winograd_cases; i++) {
    lb_conv2d_geometry g = valid_geometry(&winograd_cases[i]);
    assert_true(lb_winograd_applies(&g));
    conv_run run = random_run(&g, winograd_cases[i].bias, 700 + i);
    run_winograd(&run);
    assert_run_matches_reference(&run);
    free_run(&run);
  }
}

static void test_winograd_agrees_with_gemm_path(void **state) {
  (void)state;
  const conv_case layer = {4, 16, 14, 14, 32, 3, 3, 1, 1, 1, 1, false};
  lb_conv2d_geometry g = valid_geometry(&layer);
  conv_run gemm = random_run(&g, false, 77), winograd = random_run(&g, false,
                                                                    77);
  run_kernels(&gemm);
  run_winograd(&winograd);
  double *want = widened(gemm.output, output_count(&g));
  assert_close(winograd.output, want, output_count(&g), TOLERANCE, "output",
               &g);
  free(want);
  want = widened(gemm.grad_input, input_count(&g));
  assert_close(winograd.grad_input, want, input_count(&g), TOLERANCE,
               "grad_input", &g);
  free(want);
  want = widened(gemm.grad_weight, weight_count(&g));
  assert_close(winograd.grad_weight, want, weight_count(&g), TOLERANCE,
               "grad_weight", &g);
  free(want);
  free_run(&gemm);
  free_run(&winograd);
}

static void test_winograd_only_for_3x3_stride_1_padding_1(void **state) {
  (void)state;
  const conv_case others[] = {{1, 2, 8, 8, 2, 3, 3, 2, 2, 1, 1, false},
                              {1, 2, 8, 8, 2, 3, 3, 1, 1, 0, 0, false},
                              {1, 2, 8, 8, 2, 1, 1, 1, 1, 0, 0, false},
                              {1, 2, 8, 8, 2, 5, 5, 1, 1, 2, 2, false}};
  for (size_t i = 0; i < sizeof others / sizeof *others; i++) {
    lb_conv2d_geometry g = valid_geometry(&others[i]);
    assert_false(lb_winograd_applies(&g));
  }
}

static void test_winograd_same_with_any_thread_count(void **state) {
  (void)state;
  const conv_case layer = {3, 6, 11, 9, 7, 3, 3, 1, 1, 1, 1, true};
  lb_conv2d_geometry g = valid_geometry(&layer);
  int32_t threads = lb_get_num_threads();
  conv_run one = random_run(&g, true, 5), many = random_run(&g, true, 5);
  assert_int_equal(lb_set_num_threads(1), LB_OK);
  run_winograd(&one);
  assert_int_equal(lb_set_num_threads(5), LB_OK);
  run_winograd(&many);
  assert_int_equal(lb_set_num_threads(threads), LB_OK);
  assert_memory_equal(one.output, many.output,
                      (size_t)output_count(&g) * sizeof(float));
  assert_memory_equal(one.grad_input, many.grad_input,
                      (size_t)input_count(&g) * sizeof(float));
  free_run(&one);
  free_run(&many);
}

/* ---- Winograd on ranges of images --------------------------------------- */

/* Shapes Winograd is chosen for (16 input channels or more, at most twice
 * as many out, 3x3, stride 1, padding 1): several blocks per range (72
 * tiles an image: blocks of 8 images, ranges of 10 to 19), fewer images
 * than threads, odd batches (uneven ranges, or one range split over the
 * pool), one large image, many 4x4 images. */
static const conv_case winograd_range_cases[] = {
    {38, 16, 15, 17, 24, 3, 3, 1, 1, 1, 1, true}, /* 2 or 3 blocks a range */
    {2, 16, 9, 9, 32, 3, 3, 1, 1, 1, 1, false},   /* batch below 3 and 4 */
    {3, 20, 10, 7, 20, 3, 3, 1, 1, 1, 1, true},   /* 3 on 2 or 4 threads */
    {9, 16, 5, 6, 8, 3, 3, 1, 1, 1, 1, false},    /* odd batch */
    {1, 16, 34, 30, 16, 3, 3, 1, 1, 1, 1, true},  /* one image, 255 tiles */
    {13, 32, 4, 4, 48, 3, 3, 1, 1, 1, 1, true},   /* odd, 4 tiles an image */
};

/* As run_at(), through lb_winograd_forward() and lb_winograd_backward()
 * with a workspace of exactly lb_winograd_workspace_bytes(). */
static conv_run winograd_run_at(const conv_case *c, int32_t validated,
                                int32_t threads, uint64_t seed) {
  lb_conv2d_geometry g = geometry_at_threads(c, validated);
  assert_true(lb_winograd_applies(&g));
  return run_kernels_at(c, validated, threads, seed, run_winograd);
}

static void test_winograd_ranges_match_reference_and_one_thread(
    void **state) {
  (void)state;
  check_threads_match_reference_and_one_thread(
      winograd_range_cases,
      sizeof winograd_range_cases / sizeof *winograd_range_cases, 500,
      winograd_run_at);
}

/* The same thread count gives the same bits, the sum of the ranges' filter
 * gradients included. */
static void test_winograd_ranges_repeat_bit_for_bit(void **state) {
  (void)state;
  const int32_t counts[] = {2, 3};
  for (size_t t = 0; t < sizeof counts / sizeof *counts; t++) {
    const conv_case *c = &winograd_range_cases[0];
    conv_run a = winograd_run_at(c, counts[t], counts[t], 23),
             b = winograd_run_at(c, counts[t], counts[t], 23);
    assert_runs_identical(&a, &b);
    free_run(&a);
    free_run(&b);
  }
}

/* A Winograd workspace sized at one thread count serves a call at another
 * (fewer ranges, or no more than it has slots for); exact size, so that
 * the sanitizer build catches an overrun. */
static void test_winograd_validated_at_one_thread_count_runs_at_another(
    void **state) {
  (void)state;
  const thread_pair pairs[] = {{4, 1}, {1, 4}, {2, 3}, {4, 2}};
  check_validated_elsewhere(
      winograd_range_cases,
      sizeof winograd_range_cases / sizeof *winograd_range_cases, pairs,
      sizeof pairs / sizeof *pairs, 600, winograd_run_at);
}

/* ---- blocks shared out among the threads -------------------------------- */

/* Claims every unit as the thread of `range` would, alone, and checks that
 * the units cover the batch once, in blocks that start where the range's
 * own loop would start them, and that their indices are 0, 1, ... in
 * range order. */
static void check_claims_cover_the_batch(int64_t batch, int32_t ranges,
                                         int64_t block, int64_t per_unit,
                                         int32_t range) {
  lb_block_claims claims;
  lb_block_claims_start(&claims, batch, ranges, block, per_unit);
  int64_t units = lb_block_units(&claims);
  int64_t *first_of_unit = calloc((size_t)units, sizeof *first_of_unit);
  int *claimed_images = calloc((size_t)batch, sizeof *claimed_images);
  assert_non_null(first_of_unit);
  assert_non_null(claimed_images);
  int32_t turn = 0;
  lb_block_unit unit;
  int64_t count = 0;
  while (lb_block_claim(&claims, range, &turn, &unit)) {
    assert_in_range(unit.index, 0, units - 1);
    assert_true(unit.images >= 1 && unit.images <= block * per_unit);
    /* A unit lies in one range and starts on a block boundary of it. */
    int32_t owner = 0;
    while (lb_chunk_begin(batch, owner + 1, ranges) <= unit.first)
      owner++;
    int64_t begin = lb_chunk_begin(batch, owner, ranges);
    assert_true(unit.first + unit.images <=
                lb_chunk_begin(batch, owner + 1, ranges));
    assert_int_equal((unit.first - begin) % (block * per_unit), 0);
    for (int64_t i = unit.first; i < unit.first + unit.images; i++)
      claimed_images[i]++;
    first_of_unit[unit.index] = unit.first + 1;
    count++;
  }
  assert_int_equal(count, units);
  assert_false(lb_block_claim(&claims, range, &turn, &unit));
  for (int64_t i = 0; i < batch; i++)
    assert_int_equal(claimed_images[i], 1);
  /* Indices follow the images: range by range, each range in order. */
  for (int64_t u = 1; u < units; u++)
    assert_true(first_of_unit[u] > first_of_unit[u - 1]);
  free(first_of_unit);
  free(claimed_images);
}

static void test_claims_cover_the_batch_once_in_unit_order(void **state) {
  (void)state;
  const struct {
    int64_t batch, block, per_unit;
    int32_t ranges;
  } cases[] = {{64, 3, 1, 2}, {64, 3, 4, 2}, {65, 4, 2, 3}, {7, 2, 1, 8},
               {10, 4, 1, 3}, {300, 1, 3, 2}, {9, 9, 1, 2}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    for (int32_t range = 0; range < cases[i].ranges; range++)
      check_claims_cover_the_batch(cases[i].batch, cases[i].ranges,
                                   cases[i].block, cases[i].per_unit, range);
}

/* A thread takes its own range's units first, then the next range's. */
static void test_claims_start_with_the_own_range(void **state) {
  (void)state;
  lb_block_claims claims;
  lb_block_claims_start(&claims, 12, 3, 2, 1); /* ranges of 4: 2 blocks */
  int32_t turn = 0;
  lb_block_unit unit;
  const int64_t want[] = {4, 6, 8, 10, 0, 2};
  for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
    assert_true(lb_block_claim(&claims, 1, &turn, &unit));
    assert_int_equal(unit.first, want[i]);
    assert_int_equal(unit.images, 2);
  }
  assert_false(lb_block_claim(&claims, 1, &turn, &unit));
  /* Rotated by 2 for a test: range 1's thread starts on range 0. */
  lb_block_claims_start(&claims, 12, 3, 2, 1);
  turn = 0;
  lb_block_claims_rotate_for_tests(2);
  assert_true(lb_block_claim(&claims, 1, &turn, &unit));
  lb_block_claims_rotate_for_tests(0);
  assert_int_equal(unit.first, 0);
}

/* Room for a part per block, within LB_BLOCK_MAX_PARTS and
 * LB_BLOCK_PARTS_FLOATS but never below one per slot; none at one slot.
 * The units of a call then fit that room, as few blocks to a unit as
 * that allows. */
static void test_gradient_parts_fit_their_room(void **state) {
  (void)state;
  assert_int_equal(lb_block_parts_room(64, 1, 2, 100), 0);
  assert_int_equal(lb_block_parts_room(64, 2, 4, 100), 15);
  assert_int_equal(lb_block_parts_room(1000, 4, 1, 100),
                   LB_BLOCK_MAX_PARTS - 1);
  int64_t big = LB_BLOCK_PARTS_FLOATS / 10;
  assert_int_equal(lb_block_parts_room(64, 2, 1, big), 10);
  assert_int_equal(lb_block_parts_room(64, 4, 1, LB_BLOCK_PARTS_FLOATS), 3);
  assert_int_equal(lb_block_parts_room(3, 8, 1, 100), 2);

  assert_int_equal(lb_blocks_per_unit(64, 2, 4, 15), 1);
  assert_int_equal(lb_blocks_per_unit(64, 2, 4, 7), 2);
  assert_int_equal(lb_blocks_per_unit(64, 2, 4, 1), 8);
  assert_int_equal(lb_blocks_per_unit(1000, 4, 1, 127), 8);
  /* Less room than ranges: one unit a range, the most blocks a range has. */
  assert_int_equal(lb_blocks_per_unit(13, 3, 2, 0), 3);
  lb_block_claims claims;
  lb_block_claims_start(&claims, 1000, 4, 1, 8);
  assert_int_equal(lb_block_units(&claims), 4 * 32);
  lb_block_claims_start(&claims, 1000, 4, 1, 7);
  assert_true(lb_block_units(&claims) - 1 > 127);
}

/* The kernels of `run`, from inside a job of the pool: the pool is busy,
 * so the ranges of its calls run one after the other on this thread
 * (test_core checks that), and the first claims every block of all of
 * them, from the range lb_block_claims_rotate_for_tests() says on. */
typedef struct nested_run {
  conv_run *run;
  void (*kernels)(conv_run *);
} nested_run;

static void nested_chunk(void *context, int32_t chunk) {
  const nested_run *nested = context;
  if (chunk == 0)
    nested->kernels(nested->run);
}

/* Each case at `threads` threads: shared out among the threads as they
 * go, and with one thread taking every block, starting on each range in
 * turn. The same bits, the weight gradient's sum included: units, not
 * threads, make the sum. */
static void check_same_bits_whoever_takes_the_blocks(
    const conv_case *cases, size_t count, int32_t threads,
    void (*kernels)(conv_run *)) {
  int32_t before = lb_get_num_threads();
  for (size_t i = 0; i < count; i++) {
    lb_conv2d_geometry g = geometry_at_threads(&cases[i], threads);
    assert_int_equal(lb_set_num_threads(threads), LB_OK);
    conv_run shared = random_run(&g, cases[i].bias, 700 + i);
    kernels(&shared);
    assert_run_matches_reference(&shared);
    for (int32_t start = 0; start < threads; start++) {
      conv_run alone = random_run(&g, cases[i].bias, 700 + i);
      nested_run nested = {&alone, kernels};
      lb_block_claims_rotate_for_tests(start);
      lb_parallel_for(nested_chunk, &nested, 2);
      lb_block_claims_rotate_for_tests(0);
      assert_runs_identical(&shared, &alone);
      free_run(&alone);
    }
    free_run(&shared);
  }
  assert_int_equal(lb_set_num_threads(before), LB_OK);
}

/* Many blocks a range, some units of several blocks (300 one-image blocks
 * on 2 ranges need 3 a unit to stay within LB_BLOCK_MAX_PARTS). */
static const conv_case claim_cases[] = {
    {300, 4, 7, 7, 6, 1, 1, 1, 1, 0, 0, true},   /* 1x1 in place */
    {12, 16, 28, 28, 16, 3, 3, 1, 1, 1, 1, true}, /* 3x3: 3 images a block */
};

/* Ranges of one block, of 5, 4 and 4 images at 3 threads (5 and 4 at
 * 4): a thread that starts on a 4-image range and takes a 5-image block
 * next must not add its products into an M that is zero for 4 images
 * only (forward_claimed() in conv_winograd.c). */
static const conv_case winograd_claim_cases[] = {
    {13, 16, 16, 16, 16, 3, 3, 1, 1, 1, 1, true},
};

#define CASES(array) array, sizeof array / sizeof *array

static void test_same_bits_whoever_takes_the_blocks(void **state) {
  (void)state;
  const struct {
    const conv_case *cases;
    size_t count;
    void (*kernels)(conv_run *);
  } sets[] = {{CASES(range_cases), run_kernels},
              {CASES(winograd_range_cases), run_winograd},
              {CASES(claim_cases), run_kernels},
              {CASES(winograd_claim_cases), run_winograd}};
  for (int32_t threads = 2; threads <= 3; threads++)
    for (size_t i = 0; i < sizeof sets / sizeof *sets; i++)
      check_same_bits_whoever_takes_the_blocks(sets[i].cases, sets[i].count,
                                               threads, sets[i].kernels);
}

#undef CASES

/* A workspace sized for a batch serves every smaller batch (the model
 * sizes it once, for its largest), at any thread count. */
static void test_winograd_workspace_never_shrinks_as_the_batch_grows(
    void **state) {
  (void)state;
  const int32_t counts[] = {1, 2, 3, 4};
  for (size_t t = 0; t < sizeof counts / sizeof *counts; t++) {
    conv_case c = winograd_range_cases[0];
    size_t before = 0;
    for (c.batch = 1; c.batch <= 70; c.batch++) {
      lb_conv2d_geometry g = geometry_at_threads(&c, counts[t]);
      size_t bytes = lb_winograd_workspace_bytes(&g);
      assert_true(bytes >= before);
      before = bytes;
    }
  }
}

/* The same for the GEMM path, whose weight-gradient parts grow with the
 * blocks of the batch up to LB_BLOCK_MAX_PARTS (the 1x1 case, one image a
 * block, reaches it). */
static void test_gemm_workspace_never_shrinks_as_the_batch_grows(
    void **state) {
  (void)state;
  const conv_case cases[] = {range_cases[0], claim_cases[0]};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    for (int32_t threads = 1; threads <= 4; threads++) {
      conv_case c = cases[i];
      size_t before = 0;
      for (c.batch = 1; c.batch <= 300; c.batch++) {
        lb_conv2d_geometry g = geometry_at_threads(&c, threads);
        size_t bytes = lb_conv2d_workspace_bytes(&g);
        assert_true(bytes >= before);
        before = bytes;
      }
    }
}

/* ---- forward of prepared weights by ranges of images ---------------------
 */

/* Ranges of a batch run side by side, each with a workspace of its own of
 * exactly lb_conv2d_images_workspace_bytes() (NaN-filled: the sanitizer
 * build sees an overrun, the result a read of what was not written). */
typedef struct images_job {
  const lb_conv2d_geometry *g;
  lb_conv2d_algorithm algorithm;
  const float *input, *prepared, *bias;
  float *output;
  float *workspaces[4];
  int32_t ranges;
  const lb_conv2d_epilogue *after;
} images_job;

static void forward_images_range(void *context, int32_t range) {
  const images_job *job = context;
  int64_t first = lb_chunk_begin(job->g->batch, range, job->ranges);
  int64_t end = lb_chunk_begin(job->g->batch, range + 1, job->ranges);
  lb_conv2d_forward_images(job->g, job->algorithm, job->input, job->prepared,
                           job->bias, job->output, job->workspaces[range],
                           first, end - first, job->after);
}

/* The epilogues to check, each against the reference forward's `want`:
 * none, the ReLU, and a residual sum then the ReLU. */
static void check_epilogues(images_job *job, const double *want) {
  const lb_conv2d_geometry *g = job->g;
  int64_t count = output_count(g);
  float *residual = random_floats(count, 52);
  double *finished = doubles(count);
  const lb_conv2d_epilogue relu = {NULL}, sum_relu = {residual};
  const lb_conv2d_epilogue *afters[] = {&relu, &sum_relu};
  for (size_t e = 0; e < sizeof afters / sizeof *afters; e++) {
    for (int64_t i = 0; i < count; i++) {
      double v = want[i] + (afters[e]->residual ? residual[i] : 0.0);
      finished[i] = v < 0 ? 0 : v;
    }
    job->after = afters[e];
    lb_parallel_for(forward_images_range, job, job->ranges);
    assert_close(job->output, finished, count, TOLERANCE,
                 afters[e]->residual ? "prepared forward + residual + ReLU"
                                     : "prepared forward + ReLU",
                 g);
  }
  free(residual);
  free(finished);
}

/* Weights prepared in two halves of the output channels, each channel
 * scaled (as a folded batch norm), then `ranges` ranges, for a geometry
 * validated at `validated` threads: the naive forward of the scaled
 * weights, by `algorithm`, alone and with the epilogues. */
static void check_forward_images(const conv_case *c, int32_t validated,
                                 int32_t ranges,
                                 lb_conv2d_algorithm algorithm) {
  lb_conv2d_geometry g = geometry_at_threads(c, validated);
  conv_run run = random_run(&g, c->bias, 50);
  float *scale = random_floats(g.out_channels, 51);
  float *prepared = nan_floats(lb_conv2d_prepared_floats(&g, algorithm));
  int64_t half = g.out_channels / 2;
  lb_conv2d_prepare(&g, algorithm, run.weight, scale, 0, half, prepared);
  lb_conv2d_prepare(&g, algorithm, run.weight, scale, half, g.out_channels,
                    prepared);
  images_job job = {&g, algorithm, run.input, prepared, run.bias, run.output,
                    {NULL}, ranges, NULL};
  size_t bytes = lb_conv2d_images_workspace_bytes(&g, algorithm);
  for (int32_t r = 0; r < ranges; r++)
    job.workspaces[r] = nan_floats((int64_t)(bytes / sizeof(float)));
  lb_parallel_for(forward_images_range, &job, ranges);

  int64_t filter = weight_count(&g) / g.out_channels;
  float *scaled = floats(weight_count(&g));
  for (int64_t i = 0; i < weight_count(&g); i++)
    scaled[i] = run.weight[i] * scale[i / filter];
  double *in = widened(run.input, input_count(&g));
  double *weight = widened(scaled, weight_count(&g));
  double *bias = run.bias ? widened(run.bias, g.out_channels) : NULL;
  double *want = doubles(output_count(&g));
  reference_forward(&g, in, weight, bias, want);
  assert_close(run.output, want, output_count(&g), TOLERANCE,
               "forward of prepared weights by ranges", &g);
  check_epilogues(&job, want);
  for (int32_t r = 0; r < ranges; r++)
    free(job.workspaces[r]);
  free(scale);
  free(prepared);
  free(scaled);
  free(in);
  free(weight);
  free(bias);
  free(want);
  free_run(&run);
}

/* Shapes for F(4x4, 3x3) alone: tiles cut at the right and bottom edges
 * (7x11, 6x6, 1x5), two blocks of 256 4x4 images in one range, and a
 * ResNet layer's 64 channels. */
static const conv_case winograd_4x4_cases[] = {
    {4, 64, 7, 7, 64, 3, 3, 1, 1, 1, 1, true},
    {11, 3, 7, 11, 5, 3, 3, 1, 1, 1, 1, true},
    {4, 8, 6, 6, 12, 3, 3, 1, 1, 1, 1, false},
    {2, 4, 1, 5, 6, 3, 3, 1, 1, 1, 1, true},
    {300, 8, 4, 4, 8, 3, 3, 1, 1, 1, 1, true},
};

/* The GEMM path's shapes (in place, lowered, strided, blocks of several
 * images) and Winograd's, by F(2x2, 3x3) and by F(4x4, 3x3), in 1 to 4
 * ranges, validated at 1 thread (the widest blocks) and at 2. */
static void test_forward_images_of_prepared_weights_match_reference(
    void **state) {
  (void)state;
  for (int32_t validated = 1; validated <= 2; validated++)
    for (int32_t ranges = 1; ranges <= 4; ranges++) {
      for (size_t i = 0; i < sizeof range_cases / sizeof *range_cases; i++)
        if (range_cases[i].batch >= ranges)
          check_forward_images(&range_cases[i], validated, ranges,
                               LB_CONV2D_GEMM);
      for (size_t i = 0;
           i < sizeof winograd_range_cases / sizeof *winograd_range_cases;
           i++)
        if (winograd_range_cases[i].batch >= ranges) {
          check_forward_images(&winograd_range_cases[i], validated, ranges,
                               LB_CONV2D_WINOGRAD);
          check_forward_images(&winograd_range_cases[i], validated, ranges,
                               LB_CONV2D_WINOGRAD_4X4);
        }
      for (size_t i = 0;
           i < sizeof winograd_4x4_cases / sizeof *winograd_4x4_cases; i++)
        if (winograd_4x4_cases[i].batch >= ranges)
          check_forward_images(&winograd_4x4_cases[i], validated, ranges,
                               LB_CONV2D_WINOGRAD_4X4);
    }
}

/* ---- forward of prepared weights, the whole batch split by channels ------
 */

/* Output of the whole batch by lb_conv2d_forward_channels() on `parts`
 * parts and `threads` threads (on fewer threads than parts, the caller
 * runs the rest), on a NaN-filled workspace of exactly
 * lb_conv2d_channels_workspace_bytes(). */
static float *forward_by_channels(const lb_conv2d_geometry *g,
                                  const float *input, const float *prepared,
                                  const float *bias, int32_t parts,
                                  int32_t threads,
                                  const lb_conv2d_epilogue *after) {
  size_t bytes =
      lb_conv2d_channels_workspace_bytes(g, LB_CONV2D_WINOGRAD_4X4, parts);
  float *workspace = nan_floats((int64_t)(bytes / sizeof(float)));
  float *output = nan_floats(output_count(g));
  int32_t before = lb_get_num_threads();
  assert_int_equal(lb_set_num_threads(threads), LB_OK);
  lb_conv2d_forward_channels(g, LB_CONV2D_WINOGRAD_4X4, input, prepared,
                             bias, output, workspace, parts, after);
  assert_int_equal(lb_set_num_threads(before), LB_OK);
  free(workspace);
  return output;
}

/* One range of the whole batch (a geometry validated at one thread, whose
 * blocks are the whole batch's, tested against the naive forward above)
 * to rounding and to the bit, on 1 to 3 parts, with and without the
 * epilogues, and on each count of parts the same bits on as many threads
 * as on one: the transforms do the same arithmetic tile by tile, and the
 * packed products (lib/core/gemm_packed.h) sum each output the same way
 * whichever rows a part has. */
static void check_forward_channels(const conv_case *c) {
  lb_conv2d_geometry g = geometry_at_threads(c, 1);
  conv_run run = random_run(&g, c->bias, 60);
  float *residual = random_floats(output_count(&g), 61);
  float *prepared =
      nan_floats(lb_conv2d_prepared_floats(&g, LB_CONV2D_WINOGRAD_4X4));
  lb_conv2d_prepare(&g, LB_CONV2D_WINOGRAD_4X4, run.weight, NULL, 0,
                    g.out_channels, prepared);
  float *workspace = nan_floats((int64_t)(
      lb_conv2d_images_workspace_bytes(&g, LB_CONV2D_WINOGRAD_4X4) /
      sizeof(float)));
  const lb_conv2d_epilogue relu = {NULL}, sum_relu = {residual};
  const lb_conv2d_epilogue *afters[] = {NULL, &relu, &sum_relu};
  size_t bytes = (size_t)output_count(&g) * sizeof(float);
  for (size_t e = 0; e < sizeof afters / sizeof *afters; e++) {
    lb_conv2d_forward_images(&g, LB_CONV2D_WINOGRAD_4X4, run.input, prepared,
                             run.bias, run.output, workspace, 0, g.batch,
                             afters[e]);
    double *want = widened(run.output, output_count(&g));
    for (int32_t parts = 1; parts <= 3; parts++) {
      float *split = forward_by_channels(&g, run.input, prepared, run.bias,
                                         parts, parts, afters[e]);
      float *again = forward_by_channels(&g, run.input, prepared, run.bias,
                                         parts, 1, afters[e]);
      assert_close(split, want, output_count(&g), TOLERANCE,
                   "forward split by channels", &g);
      assert_memory_equal(split, again, bytes);
      assert_memory_equal(split, run.output, bytes);
      free(split);
      free(again);
    }
    free(want);
  }
  free(residual);
  free(prepared);
  free(workspace);
  free_run(&run);
}

/* 4x4 images in two blocks (256 + 44 images) with 20 output channels (in
 * groups of 6, a panel: 12 + 6 + 2 on 3 parts), tiles cut at the edges
 * (7x11), a ResNet layer's 7x7 images, 3x3 images with fewer images than
 * a block needs, and more parts than groups of channels (4 channels). */
static void test_forward_by_channels_matches_one_range(void **state) {
  (void)state;
  static const conv_case cases[] = {
      {300, 8, 4, 4, 20, 3, 3, 1, 1, 1, 1, true},
      {9, 5, 7, 11, 16, 3, 3, 1, 1, 1, 1, true},
      {70, 32, 7, 7, 32, 3, 3, 1, 1, 1, 1, false},
      {6, 16, 3, 3, 24, 3, 3, 1, 1, 1, 1, true},
      {5, 6, 4, 4, 4, 3, 3, 1, 1, 1, 1, true},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    check_forward_channels(&cases[i]);
}

/* Only F(4x4, 3x3) splits by channels, only on several ranges, and only
 * where a range's blocks would hold fewer images than the batch's: 4x4
 * and 7x7 images at batch 64 (blocks of 256 and 64 images), not 28x28
 * (blocks of 8 images) nor a batch a range holds a block of; and, unless
 * any size goes, only for at least 4 MB of transformed filters (36 x 4
 * bytes x 192 x 192 = 5.3 MB, x 160 x 160 = 3.7 MB). */
static void test_split_by_channels_where_ranges_narrow_the_blocks(
    void **state) {
  (void)state;
  static const struct {
    conv_case c;
    lb_conv2d_algorithm algorithm;
    int32_t ranges;
    bool any_size, splits;
  } cases[] = {
      {{64, 64, 4, 4, 64, 3, 3, 1, 1, 1, 1, false}, LB_CONV2D_WINOGRAD_4X4, 2,
       true, true},
      {{64, 64, 7, 7, 64, 3, 3, 1, 1, 1, 1, false}, LB_CONV2D_WINOGRAD_4X4, 2,
       true, true},
      {{64, 64, 4, 4, 64, 3, 3, 1, 1, 1, 1, false}, LB_CONV2D_WINOGRAD_4X4, 1,
       true, false},
      {{64, 16, 28, 28, 16, 3, 3, 1, 1, 1, 1, false}, LB_CONV2D_WINOGRAD_4X4,
       2, true, false},
      {{256, 64, 7, 7, 64, 3, 3, 1, 1, 1, 1, false}, LB_CONV2D_WINOGRAD_4X4, 2,
       true, false},
      {{64, 64, 4, 4, 64, 3, 3, 1, 1, 1, 1, false}, LB_CONV2D_WINOGRAD, 2,
       true, false},
      {{64, 64, 4, 4, 64, 3, 3, 1, 1, 1, 1, false}, LB_CONV2D_GEMM, 2, true,
       false},
      {{64, 64, 4, 4, 64, 3, 3, 1, 1, 1, 1, false}, LB_CONV2D_WINOGRAD_4X4, 2,
       false, false},
      {{64, 160, 4, 4, 160, 3, 3, 1, 1, 1, 1, false}, LB_CONV2D_WINOGRAD_4X4,
       2, false, false},
      {{64, 192, 4, 4, 192, 3, 3, 1, 1, 1, 1, false}, LB_CONV2D_WINOGRAD_4X4,
       2, false, true},
      {{64, 192, 28, 28, 192, 3, 3, 1, 1, 1, 1, false},
       LB_CONV2D_WINOGRAD_4X4, 2, false, false},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    lb_conv2d_geometry g = geometry_at_threads(&cases[i].c, 2);
    assert_int_equal(lb_conv2d_splits_channels(&g, cases[i].algorithm,
                                               cases[i].ranges,
                                               cases[i].any_size),
                     cases[i].splits);
  }
}

/* The algorithm of a shape for the forward of prepared weights, as
 * LOSSBAL_CONV leaves it: gemm (no Winograd), winograd2x2 (no F(4x4)) or
 * unset. */
static lb_conv2d_algorithm expected_algorithm(lb_conv2d_algorithm shape) {
  const char *setting = getenv("LOSSBAL_CONV");
  if (shape == LB_CONV2D_GEMM || (setting && strcmp(setting, "gemm") == 0))
    return LB_CONV2D_GEMM;
  if (setting && strcmp(setting, "winograd2x2") == 0)
    return LB_CONV2D_WINOGRAD;
  return shape;
}

/* F(4x4, 3x3) for images up to 28x28 that its 4-pixel tiles cover as
 * tightly as 2-pixel ones, and from 64 channels on those they cover more
 * loosely with fewer multiplications all the same (14x14: 9 x 16 x 16
 * against 16 x 14 x 14; 9x8); F(2x2, 3x3) for larger images, for those
 * with fewer channels, where the two tie (6x6, 5x5) and on 2x2 (one 4x4
 * tile); GEMM for strided layers and few channels. */
static void test_prepared_forward_algorithm_follows_the_image_size(
    void **state) {
  (void)state;
  static const struct {
    conv_case c;
    lb_conv2d_algorithm shape;
  } choices[] = {
      {{4, 64, 4, 4, 64, 3, 3, 1, 1, 1, 1, false}, LB_CONV2D_WINOGRAD_4X4},
      {{4, 16, 7, 7, 16, 3, 3, 1, 1, 1, 1, false}, LB_CONV2D_WINOGRAD_4X4},
      {{4, 32, 12, 11, 32, 3, 3, 1, 1, 1, 1, false}, LB_CONV2D_WINOGRAD_4X4},
      {{4, 32, 14, 14, 32, 3, 3, 1, 1, 1, 1, false}, LB_CONV2D_WINOGRAD},
      {{4, 64, 14, 14, 64, 3, 3, 1, 1, 1, 1, false}, LB_CONV2D_WINOGRAD_4X4},
      {{4, 32, 9, 8, 32, 3, 3, 1, 1, 1, 1, false}, LB_CONV2D_WINOGRAD},
      {{4, 64, 9, 8, 64, 3, 3, 1, 1, 1, 1, false}, LB_CONV2D_WINOGRAD_4X4},
      {{4, 64, 6, 6, 64, 3, 3, 1, 1, 1, 1, false}, LB_CONV2D_WINOGRAD},
      {{4, 64, 5, 5, 64, 3, 3, 1, 1, 1, 1, false}, LB_CONV2D_WINOGRAD},
      {{4, 64, 2, 2, 64, 3, 3, 1, 1, 1, 1, false}, LB_CONV2D_WINOGRAD},
      {{4, 16, 28, 28, 16, 3, 3, 1, 1, 1, 1, false}, LB_CONV2D_WINOGRAD_4X4},
      {{4, 16, 32, 32, 16, 3, 3, 1, 1, 1, 1, false}, LB_CONV2D_WINOGRAD},
      {{4, 16, 8, 8, 32, 3, 3, 2, 2, 1, 1, false}, LB_CONV2D_GEMM},
      {{4, 3, 8, 8, 16, 3, 3, 1, 1, 1, 1, false}, LB_CONV2D_GEMM},
  };
  for (size_t i = 0; i < sizeof choices / sizeof *choices; i++) {
    lb_conv2d_geometry g = geometry_at_threads(&choices[i].c, 2);
    assert_int_equal(lb_conv2d_algorithm_of(&g),
                     expected_algorithm(choices[i].shape));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_geometry_derives_output_size_like_pytorch),
      cmocka_unit_test(test_geometry_rejects_sizes_below_one_naming_the_field),
      cmocka_unit_test(test_geometry_rejects_kernel_larger_than_padded_input),
      cmocka_unit_test(test_geometry_rejects_fields_beyond_int32),
      cmocka_unit_test(test_geometry_rejects_arrays_whose_byte_size_overflows),
      cmocka_unit_test(test_geometry_rejects_gemm_extents_beyond_int32),
      cmocka_unit_test(test_failed_validation_leaves_geometry_untouched),
      cmocka_unit_test(test_validation_and_kernels_never_allocate),
      cmocka_unit_test(
          test_workspace_holds_a_block_of_at_least_1024_output_pixels),
      cmocka_unit_test(test_workspace_has_a_slot_per_thread),
      cmocka_unit_test(test_slots_stop_at_eight),
      cmocka_unit_test(
          test_pointwise_stride_1_on_large_images_needs_no_workspace),
      cmocka_unit_test(test_forward_and_backward_match_naive_reference),
      cmocka_unit_test(
          test_backward_matches_finite_differences_of_sum_out_times_r),
      cmocka_unit_test(test_backward_skips_null_grad_input_and_grad_bias),
      cmocka_unit_test(test_gradients_are_overwritten_not_accumulated),
      cmocka_unit_test(test_blocks_of_several_images_match_reference),
      cmocka_unit_test(
          test_lowering_split_over_many_threads_matches_reference),
      cmocka_unit_test(
          test_pointwise_stride_1_fast_path_agrees_with_general_path),
      cmocka_unit_test(
          test_pointwise_stride_2_gather_agrees_with_general_path),
      cmocka_unit_test(test_ranges_of_images_match_reference_and_one_thread),
      cmocka_unit_test(test_ranges_of_images_repeat_bit_for_bit),
      cmocka_unit_test(
          test_geometry_validated_at_one_thread_count_runs_at_another),
      cmocka_unit_test(test_winograd_matches_naive_reference),
      cmocka_unit_test(test_winograd_agrees_with_gemm_path),
      cmocka_unit_test(test_winograd_only_for_3x3_stride_1_padding_1),
      cmocka_unit_test(test_winograd_same_with_any_thread_count),
      cmocka_unit_test(test_claims_cover_the_batch_once_in_unit_order),
      cmocka_unit_test(test_claims_start_with_the_own_range),
      cmocka_unit_test(test_gradient_parts_fit_their_room),
      cmocka_unit_test(test_same_bits_whoever_takes_the_blocks),
      cmocka_unit_test(test_gemm_workspace_never_shrinks_as_the_batch_grows),
      cmocka_unit_test(test_winograd_ranges_match_reference_and_one_thread),
      cmocka_unit_test(test_winograd_ranges_repeat_bit_for_bit),
      cmocka_unit_test(
          test_winograd_validated_at_one_thread_count_runs_at_another),
      cmocka_unit_test(
          test_winograd_workspace_never_shrinks_as_the_batch_grows),
      cmocka_unit_test(
          test_forward_images_of_prepared_weights_match_reference),
      cmocka_unit_test(
          test_prepared_forward_algorithm_follows_the_image_size),
      cmocka_unit_test(test_forward_by_channels_matches_one_range),
      cmocka_unit_test(
          test_split_by_channels_where_ranges_narrow_the_blocks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
