/* Tests of lb_criterion: golden values from PyTorch, finite-difference
 * gradients of every kind, the semantics that distinguish the kinds, and
 * every bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "criterion/softmax_row.h"
#include "lossbal/criterion.h"
#include "test_support.h"

#include <float.h>
#include <math.h>

#define ALL_KINDS_COUNT 7
static const lb_loss_kind all_kinds[ALL_KINDS_COUNT] = {
    LB_LOSS_CE,     LB_LOSS_PRIOR_WEIGHTED, LB_LOSS_BATCH_BALANCED,
    LB_LOSS_FOCAL,  LB_LOSS_CLASS_BALANCED, LB_LOSS_LOGIT_ADJUSTED,
    LB_LOSS_LDAM};

/* ---- helpers ------------------------------------------------------------- */

static lb_criterion *make_criterion(lb_loss_kind kind, int32_t k) {
  lb_criterion *c = NULL;
  assert_int_equal(lb_criterion_create(kind, k, &c), LB_OK);
  assert_non_null(c);
  return c;
}

static void set_param(lb_criterion *c, lb_criterion_param p, double value) {
  assert_int_equal(lb_criterion_set_param(c, p, value), LB_OK);
}

/* Training counts 1, 2, 4, ... (a long tail), for the kinds that need them. */
static void set_long_tail_counts(lb_criterion *c, int32_t k) {
  int64_t *counts = malloc((size_t)k * sizeof *counts);
  assert_non_null(counts);
  for (int32_t i = 0; i < k; i++) counts[i] = (int64_t)1 << ((k - i) % 12);
  assert_int_equal(lb_criterion_set_class_counts(c, counts, k), LB_OK);
  free(counts);
}

/* A criterion of `kind`, with counts whatever the kind. */
static lb_criterion *make_ready(lb_loss_kind kind, int32_t k) {
  lb_criterion *c = make_criterion(kind, k);
  set_long_tail_counts(c, k);
  return c;
}

/* Deterministic logits, multiples of 1/64 in [-2, 2]: exactly representable,
 * and so are the finite-difference steps added to them. */
static void fill_logits(float *z, int64_t n, uint32_t seed) {
  uint32_t state = seed * 2654435761u + 1u;
  for (int64_t i = 0; i < n; i++) {
    state = state * 1664525u + 1013904223u;
    z[i] = (float)((int)(state >> 24) - 128) / 64.0f;
  }
}

static double compute_loss(lb_criterion *c, const float *z, const int32_t *y,
                           int64_t b, float *grad) {
  double loss = NAN;
  assert_int_equal(lb_criterion_compute(c, z, y, b, &loss, grad), LB_OK);
  return loss;
}

static void assert_close(double got, double want, double rel, double abs_tol,
                         const char *what) {
  if (!(fabs(got - want) <= rel * fabs(want) + abs_tol))
    fail_msg("%s: got %.17g, want %.17g", what, got, want);
}

static void assert_all_finite(const float *x, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (!isfinite(x[i])) fail_msg("element %lld is %g", (long long)i, x[i]);
}

/* ---- golden fixtures ------------------------------------------------------
 * Written by tests/criterion/gen_fixtures.py (format in
 * tests/data/criterion/README.md). The reader decodes the little-endian
 * fields byte by byte and checks every size before it trusts it, so a
 * malformed file fails with a message instead of crashing. */

#define FIXTURE_MAX_CLASSES (1 << 20)
#define FIXTURE_MAX_ELEMENTS (1 << 24)

typedef struct fixture {
  int32_t kind, num_classes;
  int64_t batch;
  double params[7];
  int32_t has_counts;
  int64_t *counts;
  float *logits;
  int32_t *labels;
  double loss;
  float *grad;
} fixture;

typedef struct byte_reader {
  const unsigned char *data;
  size_t size, pos;
} byte_reader;

static uint64_t read_le(byte_reader *r, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; i++)
    value |= (uint64_t)r->data[r->pos + (size_t)i] << (8 * i);
  r->pos += (size_t)bytes;
  return value;
}

static int32_t read_i32(byte_reader *r) {
  uint32_t bits = (uint32_t)read_le(r, 4);
  int32_t value;
  memcpy(&value, &bits, sizeof value);
  return value;
}

static int64_t read_i64(byte_reader *r) {
  uint64_t bits = read_le(r, 8);
  int64_t value;
  memcpy(&value, &bits, sizeof value);
  return value;
}

static float read_f32(byte_reader *r) {
  uint32_t bits = (uint32_t)read_le(r, 4);
  float value;
  memcpy(&value, &bits, sizeof value);
  return value;
}

static double read_f64(byte_reader *r) {
  uint64_t bits = read_le(r, 8);
  double value;
  memcpy(&value, &bits, sizeof value);
  return value;
}

static void fixture_free(fixture *fx) {
  free(fx->counts);
  free(fx->logits);
  free(fx->labels);
  free(fx->grad);
  memset(fx, 0, sizeof *fx);
}

/* Header size: magic, version, kind, K, B, params[7], has_counts. */
#define FIXTURE_HEADER_BYTES (4 + 4 + 4 + 4 + 8 + 7 * 8 + 4)

/* Parses one fixture; on failure writes why into `why` and returns false
 * with nothing allocated. */
static bool parse_fixture(const unsigned char *data, size_t size, fixture *fx,
                          char *why, size_t why_capacity) {
  memset(fx, 0, sizeof *fx);
  byte_reader r = {data, size, 0};
  if (size < FIXTURE_HEADER_BYTES) {
    snprintf(why, why_capacity,
             "truncated: %zu bytes, shorter than the %d-byte header", size,
             FIXTURE_HEADER_BYTES);
    return false;
  }
  if (memcmp(data, "LBCF", 4) != 0) {
    snprintf(why, why_capacity, "bad magic (not \"LBCF\")");
    return false;
  }
  r.pos = 4;
  uint32_t version = (uint32_t)read_le(&r, 4);
  if (version != 1) {
    snprintf(why, why_capacity, "unsupported version %u (expected 1)",
             (unsigned)version);
    return false;
  }
  fx->kind = read_i32(&r);
  fx->num_classes = read_i32(&r);
  fx->batch = read_i64(&r);
  for (int p = 0; p < 7; p++) fx->params[p] = read_f64(&r);
  fx->has_counts = read_i32(&r);
  if (fx->kind < 0 || fx->kind > 6) {
    snprintf(why, why_capacity, "kind %d is outside [0, 6]", (int)fx->kind);
    return false;
  }
  if (fx->num_classes < 1 || fx->num_classes > FIXTURE_MAX_CLASSES ||
      fx->batch < 1 || fx->batch > FIXTURE_MAX_ELEMENTS ||
      fx->batch * fx->num_classes > FIXTURE_MAX_ELEMENTS) {
    snprintf(why, why_capacity, "implausible sizes K = %d, B = %lld",
             (int)fx->num_classes, (long long)fx->batch);
    return false;
  }
  if (fx->has_counts != 0 && fx->has_counts != 1) {
    snprintf(why, why_capacity, "has_counts = %d is neither 0 nor 1",
             (int)fx->has_counts);
    return false;
  }
  size_t k = (size_t)fx->num_classes, n = (size_t)fx->batch * k;
  size_t expected = FIXTURE_HEADER_BYTES + (fx->has_counts ? 8 * k : 0) +
                    4 * n + 4 * (size_t)fx->batch + 8 + 4 * n;
  if (size != expected) {
    snprintf(why, why_capacity,
             "%s: the file has %zu bytes, K = %d and B = %lld need %zu",
             size < expected ? "truncated" : "trailing bytes", size,
             (int)fx->num_classes, (long long)fx->batch, expected);
    return false;
  }
  fx->counts = fx->has_counts ? malloc(k * sizeof *fx->counts) : NULL;
  fx->logits = malloc(n * sizeof *fx->logits);
  fx->labels = malloc((size_t)fx->batch * sizeof *fx->labels);
  fx->grad = malloc(n * sizeof *fx->grad);
  if ((fx->has_counts && !fx->counts) || !fx->logits || !fx->labels ||
      !fx->grad) {
    fixture_free(fx);
    snprintf(why, why_capacity, "out of memory");
    return false;
  }
  for (size_t i = 0; fx->has_counts && i < k; i++) fx->counts[i] = read_i64(&r);
  for (size_t i = 0; i < n; i++) fx->logits[i] = read_f32(&r);
  for (int64_t i = 0; i < fx->batch; i++) fx->labels[i] = read_i32(&r);
  fx->loss = read_f64(&r);
  for (size_t i = 0; i < n; i++) fx->grad[i] = read_f32(&r);
  return true;
}

/* Reads a whole file; NULL when it cannot. */
static unsigned char *read_whole_file(const char *path, size_t *size) {
  FILE *file = fopen(path, "rb");
  if (!file) return NULL;
  unsigned char *data = NULL;
  long length = -1;
  if (fseek(file, 0, SEEK_END) == 0) length = ftell(file);
  if (length >= 0 && fseek(file, 0, SEEK_SET) == 0) {
    data = malloc((size_t)length + 1);
    if (data && fread(data, 1, (size_t)length, file) != (size_t)length) {
      free(data);
      data = NULL;
    }
  }
  fclose(file);
  *size = (size_t)length;
  return data;
}

/* Runs one fixture through the library; returns false with why filled in
 * when anything differs from the reference. */
static bool check_fixture(const fixture *fx, char *why, size_t why_capacity) {
  lb_criterion *c = NULL;
  lb_status status =
      lb_criterion_create((lb_loss_kind)fx->kind, fx->num_classes, &c);
  for (int p = 0; status == LB_OK && p < 7; p++) {
    if (p == LB_CRIT_LABEL_SMOOTHING && fx->kind == LB_LOSS_FOCAL &&
        fx->params[p] == 0.0)
      continue;
    status = lb_criterion_set_param(c, (lb_criterion_param)p, fx->params[p]);
  }
  if (status == LB_OK && fx->has_counts)
    status = lb_criterion_set_class_counts(c, fx->counts, fx->num_classes);
  int64_t n = fx->batch * fx->num_classes;
  float *grad = malloc((size_t)n * sizeof *grad);
  double loss = NAN;
  if (status == LB_OK)
    status = lb_criterion_compute(c, fx->logits, fx->labels, fx->batch, &loss,
                                  grad);
  lb_criterion_free(c);
  if (status != LB_OK) {
    snprintf(why, why_capacity, "the library failed: %s (%s)",
             lb_status_name(status), lb_last_error());
    free(grad);
    return false;
  }
  bool ok = true;
  if (!(fabs(loss - fx->loss) <= 1e-5 * fabs(fx->loss) + 1e-12)) {
    snprintf(why, why_capacity, "loss %.9g, PyTorch %.9g", loss, fx->loss);
    ok = false;
  }
  /* Entries a million times below the gradient's largest are compared
   * absolutely: float rounding, not the formula, decides them. */
  double largest = 0.0;
  for (int64_t i = 0; i < n; i++) largest = fmax(largest, fabs(fx->grad[i]));
  double floor = 1e-6 * largest;
  for (int64_t i = 0; ok && i < fx->batch; i++) {
    const float *want = fx->grad + i * fx->num_classes;
    const float *got = grad + i * fx->num_classes;
    for (int32_t j = 0; ok && j < fx->num_classes; j++)
      if (!(fabs((double)got[j] - want[j]) <= 1e-4 * fabs(want[j]) + floor)) {
        snprintf(why, why_capacity, "grad[%lld][%d] = %.9g, PyTorch %.9g",
                 (long long)i, (int)j, got[j], want[j]);
        ok = false;
      }
  }
  free(grad);
  return ok;
}

static void test_golden_fixtures_match_pytorch(void **state) {
  (void)state;
  const char *dir = LOSSBAL_TEST_DATA_DIR "/criterion";
  char path[4096];
  snprintf(path, sizeof path, "%s/MANIFEST", dir);
  FILE *manifest = fopen(path, "r");
  if (!manifest)
    fail_msg("cannot open %s; generate the fixtures with "
             "tests/criterion/gen_fixtures.py",
             path);
  char line[1024];
  int cases = 0, failures = 0;
  while (fgets(line, sizeof line, manifest)) {
    line[strcspn(line, "\r\n")] = '\0';
    if (line[0] == '\0' || line[0] == '#') continue;
    cases++;
    snprintf(path, sizeof path, "%s/%s", dir, line);
    char why[512] = "";
    size_t size = 0;
    unsigned char *data = read_whole_file(path, &size);
    fixture fx;
    bool ok = false;
    if (!data) {
      snprintf(why, sizeof why, "cannot read the file");
    } else if (parse_fixture(data, size, &fx, why, sizeof why)) {
      ok = check_fixture(&fx, why, sizeof why);
      fixture_free(&fx);
    }
    free(data);
    if (!ok) {
      print_error("fixture %s: %s\n", line, why);
      failures++;
    }
  }
  fclose(manifest);
  if (cases == 0) fail_msg("%s/MANIFEST lists no fixture", dir);
  if (failures) fail_msg("%d of %d fixtures failed", failures, cases);
}

/* Writes a valid fixture of K = 2, B = 1 into buf; returns its size. */
static size_t encode_small_fixture(unsigned char *buf) {
  unsigned char *p = buf;
#define PUT(value, bytes)                                            \
  do {                                                               \
    uint64_t v_ = (value);                                           \
    for (int i_ = 0; i_ < (bytes); i_++) *p++ = (unsigned char)(v_ >> (8 * i_)); \
  } while (0)
  memcpy(p, "LBCF", 4);
  p += 4;
  PUT(1, 4);          /* version */
  PUT(LB_LOSS_CE, 4); /* kind */
  PUT(2, 4);          /* K */
  PUT(1, 8);          /* B */
  double params[7] = {2, 0.9999, 1, 0, -100, 0.5, 30};
  for (int i = 0; i < 7; i++) {
    uint64_t bits;
    memcpy(&bits, &params[i], 8);
    PUT(bits, 8);
  }
  PUT(0, 4); /* has_counts */
  float logits[2] = {0.0f, 0.0f}, grad[2] = {0.5f, -0.5f};
  uint32_t bits32;
  for (int i = 0; i < 2; i++) {
    memcpy(&bits32, &logits[i], 4);
    PUT(bits32, 4);
  }
  PUT(1, 4); /* label */
  double loss = log(2.0);
  uint64_t bits64;
  memcpy(&bits64, &loss, 8);
  PUT(bits64, 8);
  for (int i = 0; i < 2; i++) {
    memcpy(&bits32, &grad[i], 4);
    PUT(bits32, 4);
  }
#undef PUT
  return (size_t)(p - buf);
}

static void assert_parse_fails(const unsigned char *data, size_t size,
                               const char *fragment) {
  fixture fx;
  char why[512] = "";
  if (parse_fixture(data, size, &fx, why, sizeof why)) {
    fixture_free(&fx);
    fail_msg("a malformed fixture was accepted (expected \"%s\")", fragment);
  }
  if (!strstr(why, fragment))
    fail_msg("reader said \"%s\", expected it to mention \"%s\"", why,
             fragment);
}

static void test_fixture_reader_rejects_malformed_files(void **state) {
  (void)state;
  unsigned char good[256], bad[256];
  size_t size = encode_small_fixture(good);
  fixture fx;
  char why[512] = "";
  if (!parse_fixture(good, size, &fx, why, sizeof why))
    fail_msg("the valid fixture was rejected: %s", why);
  if (!check_fixture(&fx, why, sizeof why))
    fail_msg("the valid fixture does not check: %s", why);
  fixture_free(&fx);

  for (size_t cut = 0; cut < size; cut++)
    assert_parse_fails(good, cut, "truncated");
  memcpy(bad, good, size);
  bad[size] = 0;
  assert_parse_fails(bad, size + 1, "trailing bytes");
  memcpy(bad, good, size);
  bad[0] = 'X';
  assert_parse_fails(bad, size, "magic");
  memcpy(bad, good, size);
  bad[4] = 2;
  assert_parse_fails(bad, size, "version 2");
  memcpy(bad, good, size);
  bad[8] = 9;
  assert_parse_fails(bad, size, "kind 9");
  memcpy(bad, good, size);
  memset(bad + 12, 0, 4); /* K = 0 */
  assert_parse_fails(bad, size, "implausible sizes");
  memcpy(bad, good, size);
  memset(bad + 16, 0xff, 8); /* B = -1 */
  assert_parse_fails(bad, size, "implausible sizes");
  memcpy(bad, good, size);
  bad[FIXTURE_HEADER_BYTES - 4] = 7; /* has_counts */
  assert_parse_fails(bad, size, "has_counts");
}

/* ---- finite differences ---------------------------------------------------
 * Central differences of the double loss with steps exactly representable in
 * float, against the analytic gradient. The kernels compute in float, so the
 * tolerance is that of float32 arithmetic. */

typedef struct setting {
  lb_criterion_param param;
  double value;
} setting;

#define FD_CLASSES 5
#define FD_BATCH 7

static void check_finite_differences(lb_loss_kind kind, const setting *settings,
                                     int count, bool with_ignored) {
  lb_criterion *c = make_ready(kind, FD_CLASSES);
  for (int i = 0; i < count; i++)
    set_param(c, settings[i].param, settings[i].value);
  float z[FD_BATCH * FD_CLASSES], grad[FD_BATCH * FD_CLASSES];
  /* Classes 0 and 2 appear twice, 4 never; rows 3 and 6 may be ignored. */
  int32_t y[FD_BATCH] = {0, 2, 1, 3, 0, 2, 1};
  if (with_ignored) y[3] = y[6] = -100;
  fill_logits(z, FD_BATCH * FD_CLASSES, (uint32_t)kind + 1u);
  compute_loss(c, z, y, FD_BATCH, grad);
  const float h = 1.0f / 32.0f;
  for (int i = 0; i < FD_BATCH * FD_CLASSES; i++) {
    float saved = z[i];
    z[i] = saved + h;
    double plus = compute_loss(c, z, y, FD_BATCH, NULL);
    z[i] = saved - h;
    double minus = compute_loss(c, z, y, FD_BATCH, NULL);
    z[i] = saved;
    double numeric = (plus - minus) / (2.0 * (double)h);
    if (!(fabs(numeric - grad[i]) <= 2e-3 * fabs(numeric) + 2e-5))
      fail_msg("kind %d: d loss / d z[%d][%d] = %.9g, finite difference %.9g",
               (int)kind, i / FD_CLASSES, i % FD_CLASSES, grad[i], numeric);
  }
  lb_criterion_free(c);
}

static void test_cross_entropy_gradient_matches_finite_differences(
    void **state) {
  (void)state;
  check_finite_differences(LB_LOSS_CE, NULL, 0, false);
  setting smooth[] = {{LB_CRIT_LABEL_SMOOTHING, 0.1}};
  check_finite_differences(LB_LOSS_CE, smooth, 1, true);
}

static void test_prior_weighted_gradient_matches_finite_differences(
    void **state) {
  (void)state;
  check_finite_differences(LB_LOSS_PRIOR_WEIGHTED, NULL, 0, false);
  setting smooth[] = {{LB_CRIT_LABEL_SMOOTHING, 0.2}};
  check_finite_differences(LB_LOSS_PRIOR_WEIGHTED, smooth, 1, true);
}

static void test_batch_balanced_gradient_matches_finite_differences(
    void **state) {
  (void)state;
  check_finite_differences(LB_LOSS_BATCH_BALANCED, NULL, 0, false);
  check_finite_differences(LB_LOSS_BATCH_BALANCED, NULL, 0, true);
  setting smooth[] = {{LB_CRIT_LABEL_SMOOTHING, 0.1}};
  check_finite_differences(LB_LOSS_BATCH_BALANCED, smooth, 1, true);
}

static void test_focal_gradient_matches_finite_differences(void **state) {
  (void)state;
  check_finite_differences(LB_LOSS_FOCAL, NULL, 0, false);
  setting half[] = {{LB_CRIT_GAMMA, 0.5}};
  check_finite_differences(LB_LOSS_FOCAL, half, 1, true);
  setting zero[] = {{LB_CRIT_GAMMA, 0.0}};
  check_finite_differences(LB_LOSS_FOCAL, zero, 1, false);
  setting three[] = {{LB_CRIT_GAMMA, 3.0}};
  check_finite_differences(LB_LOSS_FOCAL, three, 1, true);
}

static void test_class_balanced_gradient_matches_finite_differences(
    void **state) {
  (void)state;
  setting beta[] = {{LB_CRIT_BETA, 0.9}};
  check_finite_differences(LB_LOSS_CLASS_BALANCED, beta, 1, false);
  setting smooth[] = {{LB_CRIT_BETA, 0.9}, {LB_CRIT_LABEL_SMOOTHING, 0.1}};
  check_finite_differences(LB_LOSS_CLASS_BALANCED, smooth, 2, true);
}

static void test_logit_adjusted_gradient_matches_finite_differences(
    void **state) {
  (void)state;
  check_finite_differences(LB_LOSS_LOGIT_ADJUSTED, NULL, 0, false);
  setting smooth[] = {{LB_CRIT_TAU, 0.7}, {LB_CRIT_LABEL_SMOOTHING, 0.1}};
  check_finite_differences(LB_LOSS_LOGIT_ADJUSTED, smooth, 2, true);
}

static void test_ldam_gradient_matches_finite_differences(void **state) {
  (void)state;
  /* A small scale keeps the curvature, and so the step's error, small. */
  setting small_scale[] = {{LB_CRIT_LDAM_SCALE, 2.0}};
  check_finite_differences(LB_LOSS_LDAM, small_scale, 1, false);
  setting smooth[] = {{LB_CRIT_LDAM_SCALE, 1.5},
                      {LB_CRIT_LDAM_MAX_MARGIN, 0.8},
                      {LB_CRIT_LABEL_SMOOTHING, 0.1}};
  check_finite_differences(LB_LOSS_LDAM, smooth, 3, true);
}

/* ---- semantics ----------------------------------------------------------- */

static void test_batch_balanced_gives_each_present_class_equal_share(
    void **state) {
  (void)state;
  enum { K = 3 };
  const float row_a[K] = {1.0f, -0.5f, 0.25f}; /* class 0 */
  const float row_b[K] = {0.0f, 0.5f, 2.0f};   /* class 1 */
  float pair[2 * K], quad[4 * K];
  memcpy(pair, row_a, sizeof row_a);
  memcpy(pair + K, row_b, sizeof row_b);
  for (int i = 0; i < 3; i++) memcpy(quad + i * K, row_a, sizeof row_a);
  memcpy(quad + 3 * K, row_b, sizeof row_b);
  const int32_t pair_labels[2] = {0, 1}, quad_labels[4] = {0, 0, 0, 1};

  lb_criterion *le = make_criterion(LB_LOSS_BATCH_BALANCED, K);
  lb_criterion *ce = make_criterion(LB_LOSS_CE, K);
  double le_pair = compute_loss(le, pair, pair_labels, 2, NULL);
  double le_quad = compute_loss(le, quad, quad_labels, 4, NULL);
  double ce_pair = compute_loss(ce, pair, pair_labels, 2, NULL);
  double ce_quad = compute_loss(ce, quad, quad_labels, 4, NULL);
  double loss_a = compute_loss(ce, row_a, pair_labels, 1, NULL);
  double loss_b = compute_loss(ce, row_b, pair_labels + 1, 1, NULL);

  /* Tripling class 0 leaves LE unchanged (each class weighs 1/2) but moves
   * CE towards class 0's loss. */
  assert_close(le_quad, le_pair, 1e-12, 0.0, "LE with class 0 tripled");
  assert_close(le_pair, (loss_a + loss_b) / 2.0, 1e-12, 0.0, "LE pair");
  assert_close(ce_quad, (3.0 * loss_a + loss_b) / 4.0, 1e-12, 0.0, "CE quad");
  assert_true(fabs(ce_quad - ce_pair) > 0.1 * fabs(ce_pair));

  /* The gradient of each class-0 row carries a third of class 0's share. */
  float grad_pair[2 * K], grad_quad[4 * K];
  compute_loss(le, pair, pair_labels, 2, grad_pair);
  compute_loss(le, quad, quad_labels, 4, grad_quad);
  for (int j = 0; j < K; j++) {
    assert_close(grad_quad[j], grad_pair[j] / 3.0, 1e-6, 1e-9, "row a grad");
    assert_close(grad_quad[3 * K + j], grad_pair[K + j], 1e-6, 1e-9,
                 "row b grad");
  }
  float weights[K];
  assert_int_equal(lb_criterion_get_weights(le, weights, K), LB_OK);
  assert_close(weights[0], 1.0 / 3.0, 1e-7, 0.0, "w_0");
  assert_close(weights[1], 1.0, 0.0, 0.0, "w_1");
  assert_close(weights[2], 0.0, 0.0, 0.0, "w_2 (absent)");
  lb_criterion_free(le);
  lb_criterion_free(ce);
}

static void test_prior_weighted_matches_dataset_weights(void **state) {
  (void)state;
  enum { K = 3, B = 4 };
  const int64_t counts[K] = {10, 30, 60};
  float z[B * K];
  fill_logits(z, B * K, 42);
  const int32_t y[B] = {0, 1, 2, 1};
  lb_criterion *pe = make_criterion(LB_LOSS_PRIOR_WEIGHTED, K);
  assert_int_equal(lb_criterion_set_class_counts(pe, counts, K), LB_OK);
  double loss = compute_loss(pe, z, y, B, NULL);

  float weights[K];
  assert_int_equal(lb_criterion_get_weights(pe, weights, K), LB_OK);
  for (int c = 0; c < K; c++)
    assert_close(weights[c], 100.0 / (K * (double)counts[c]), 1e-7, 0.0,
                 "w_c = N / (K n_c)");

  /* sum_i w_y l_i / sum_i w_y with each l_i from a CE of one row. */
  lb_criterion *ce = make_criterion(LB_LOSS_CE, K);
  double numerator = 0.0, denominator = 0.0;
  for (int i = 0; i < B; i++) {
    double w = 100.0 / (K * (double)counts[y[i]]);
    numerator += w * compute_loss(ce, z + i * K, y + i, 1, NULL);
    denominator += w;
  }
  assert_close(loss, numerator / denominator, 1e-12, 0.0, "PE loss");
  lb_criterion_free(pe);
  lb_criterion_free(ce);
}

static void test_prior_weighted_with_balanced_counts_equals_cross_entropy(
    void **state) {
  (void)state;
  enum { K = 4, B = 6 };
  const int64_t counts[K] = {5, 5, 5, 5};
  float z[B * K], g_pe[B * K], g_ce[B * K];
  fill_logits(z, B * K, 7);
  const int32_t y[B] = {0, 1, 2, 3, 3, -100};
  lb_criterion *pe = make_criterion(LB_LOSS_PRIOR_WEIGHTED, K);
  lb_criterion *ce = make_criterion(LB_LOSS_CE, K);
  assert_int_equal(lb_criterion_set_class_counts(pe, counts, K), LB_OK);
  set_param(pe, LB_CRIT_LABEL_SMOOTHING, 0.3);
  set_param(ce, LB_CRIT_LABEL_SMOOTHING, 0.3);
  assert_close(compute_loss(pe, z, y, B, g_pe), compute_loss(ce, z, y, B, g_ce),
               1e-12, 0.0, "PE with equal counts");
  for (int i = 0; i < B * K; i++) assert_close(g_pe[i], g_ce[i], 1e-6, 1e-9, "grad");
  lb_criterion_free(pe);
  lb_criterion_free(ce);
}

static void test_focal_with_gamma_zero_equals_cross_entropy(void **state) {
  (void)state;
  enum { K = 6, B = 5 };
  float z[B * K], g_focal[B * K], g_ce[B * K];
  fill_logits(z, B * K, 3);
  const int32_t y[B] = {5, 0, -100, 2, 2};
  lb_criterion *focal = make_criterion(LB_LOSS_FOCAL, K);
  lb_criterion *ce = make_criterion(LB_LOSS_CE, K);
  set_param(focal, LB_CRIT_GAMMA, 0.0);
  assert_close(compute_loss(focal, z, y, B, g_focal),
               compute_loss(ce, z, y, B, g_ce), 1e-12, 0.0, "focal gamma 0");
  for (int i = 0; i < B * K; i++)
    assert_close(g_focal[i], g_ce[i], 1e-6, 1e-9, "grad");
  lb_criterion_free(focal);
  lb_criterion_free(ce);
}

static void test_logit_adjusted_with_tau_zero_and_ldam_without_margin_equal_ce(
    void **state) {
  (void)state;
  enum { K = 5, B = 4 };
  float z[B * K], scaled[B * K];
  fill_logits(z, B * K, 11);
  for (int i = 0; i < B * K; i++) scaled[i] = 2.0f * z[i];
  const int32_t y[B] = {4, 1, 1, 0};
  lb_criterion *ce = make_criterion(LB_LOSS_CE, K);
  lb_criterion *la = make_ready(LB_LOSS_LOGIT_ADJUSTED, K);
  lb_criterion *ldam = make_ready(LB_LOSS_LDAM, K);
  set_param(la, LB_CRIT_TAU, 0.0);
  set_param(ldam, LB_CRIT_LDAM_MAX_MARGIN, 0.0);
  set_param(ldam, LB_CRIT_LDAM_SCALE, 2.0);
  double reference = compute_loss(ce, z, y, B, NULL);
  assert_close(compute_loss(la, z, y, B, NULL), reference, 1e-12, 0.0, "LA");
  assert_close(compute_loss(ldam, z, y, B, NULL),
               compute_loss(ce, scaled, y, B, NULL), 1e-12, 0.0, "LDAM");
  lb_criterion_free(ce);
  lb_criterion_free(la);
  lb_criterion_free(ldam);
}

static void test_class_balanced_weights(void **state) {
  (void)state;
  enum { K = 4 };
  const int64_t counts[K] = {1, 10, 100, 1000};
  float z[K] = {0};
  const int32_t y[1] = {0};
  float weights[K];
  lb_criterion *cb = make_criterion(LB_LOSS_CLASS_BALANCED, K);
  assert_int_equal(lb_criterion_set_class_counts(cb, counts, K), LB_OK);

  /* beta = 0: every effective number is 1, every weight 1. */
  set_param(cb, LB_CRIT_BETA, 0.0);
  compute_loss(cb, z, y, 1, NULL);
  assert_int_equal(lb_criterion_get_weights(cb, weights, K), LB_OK);
  for (int c = 0; c < K; c++) assert_close(weights[c], 1.0, 1e-7, 0.0, "w");

  /* beta = 0.99: (1 - beta) / (1 - beta^n), normalised to sum to K. */
  set_param(cb, LB_CRIT_BETA, 0.99);
  compute_loss(cb, z, y, 1, NULL);
  assert_int_equal(lb_criterion_get_weights(cb, weights, K), LB_OK);
  double raw[K], sum = 0.0;
  for (int c = 0; c < K; c++) {
    raw[c] = 0.01 / (1.0 - pow(0.99, (double)counts[c]));
    sum += raw[c];
  }
  for (int c = 0; c < K; c++)
    assert_close(weights[c], raw[c] * K / sum, 1e-6, 0.0, "w_c");
  lb_criterion_free(cb);
}

static void test_unweighted_kinds_report_unit_weights(void **state) {
  (void)state;
  const lb_loss_kind kinds[] = {LB_LOSS_CE, LB_LOSS_FOCAL,
                                LB_LOSS_LOGIT_ADJUSTED, LB_LOSS_LDAM};
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
    lb_criterion *c = make_ready(kinds[i], 3);
    float z[3] = {0.5f, 0.0f, -1.0f}, weights[3] = {0};
    const int32_t y[1] = {2};
    compute_loss(c, z, y, 1, NULL);
    assert_int_equal(lb_criterion_get_weights(c, weights, 3), LB_OK);
    for (int k = 0; k < 3; k++) assert_true(weights[k] == 1.0f);
    lb_criterion_free(c);
  }
}

static void test_grad_may_be_null(void **state) {
  (void)state;
  enum { K = 37, B = 9 };
  float z[B * K], grad[B * K];
  fill_logits(z, B * K, 5);
  const int32_t y[B] = {0, 36, 5, 5, -100, 17, 2, 2, 2};
  for (int i = 0; i < ALL_KINDS_COUNT; i++) {
    lb_criterion *c = make_ready(all_kinds[i], K);
    double with_grad = compute_loss(c, z, y, B, grad);
    double without = compute_loss(c, z, y, B, NULL);
    assert_true(with_grad == without);
    lb_criterion_free(c);
  }
}

static void test_all_ignored_batch_gives_zero_loss_and_gradient(void **state) {
  (void)state;
  enum { K = 4, B = 3 };
  float z[B * K], grad[B * K];
  fill_logits(z, B * K, 9);
  const int32_t y[B] = {-100, -100, -100};
  for (int i = 0; i < ALL_KINDS_COUNT; i++) {
    lb_criterion *c = make_ready(all_kinds[i], K);
    for (int j = 0; j < B * K; j++) grad[j] = 99.0f;
    assert_true(compute_loss(c, z, y, B, grad) == 0.0);
    for (int j = 0; j < B * K; j++) assert_true(grad[j] == 0.0f);
    lb_criterion_free(c);
  }
}

static void test_ignored_rows_get_zero_gradient(void **state) {
  (void)state;
  enum { K = 4, B = 3 };
  float z[B * K], grad[B * K];
  fill_logits(z, B * K, 13);
  const int32_t y[B] = {1, 2, 1};
  for (int i = 0; i < ALL_KINDS_COUNT; i++) {
    lb_criterion *c = make_ready(all_kinds[i], K);
    set_param(c, LB_CRIT_IGNORE_INDEX, 2); /* a class index may be ignored */
    compute_loss(c, z, y, B, grad);
    for (int j = 0; j < K; j++) assert_true(grad[K + j] == 0.0f);
    lb_criterion_free(c);
  }
}

static void test_large_logits_give_finite_loss_and_gradient(void **state) {
  (void)state;
  enum { K = 3, B = 2 };
  const float z[B * K] = {1e4f, 0.0f, -1e4f, -1e4f, 1e4f, 0.0f};
  const int32_t y[B] = {1, 1};
  float grad[B * K];
  for (int i = 0; i < ALL_KINDS_COUNT; i++) {
    lb_criterion *c = make_ready(all_kinds[i], K);
    set_param(c, LB_CRIT_GAMMA, 0.5);
    if (all_kinds[i] != LB_LOSS_FOCAL)
      set_param(c, LB_CRIT_LABEL_SMOOTHING, 0.1);
    double loss = compute_loss(c, z, y, B, grad);
    assert_true(isfinite(loss));
    assert_all_finite(grad, B * K);
    lb_criterion_free(c);
  }
  /* The first row is 1e4 wrong, the second right: CE = 1e4 / 2. */
  lb_criterion *ce = make_criterion(LB_LOSS_CE, K);
  assert_close(compute_loss(ce, z, y, B, grad), 5e3, 1e-12, 0.0, "CE");
  assert_close(grad[0], 0.5, 1e-7, 0.0, "grad[0][0]");
  assert_close(grad[1], -0.5, 1e-7, 0.0, "grad[0][1]");
  lb_criterion_free(ce);
}

static void test_focal_gamma_below_one_with_certain_prediction_is_finite(
    void **state) {
  (void)state;
  /* p_y rounds to 1: (1 - p)^(gamma - 1) alone is infinite for gamma < 1. */
  const float z[2 * 3] = {100.0f, 0.0f, 0.0f, 20.0f, 0.0f, 0.0f};
  const int32_t y[2] = {0, 0};
  float grad[2 * 3];
  const double gammas[] = {0.5, 0.1, 1.0, 0.0};
  for (size_t i = 0; i < sizeof gammas / sizeof gammas[0]; i++) {
    lb_criterion *focal = make_criterion(LB_LOSS_FOCAL, 3);
    set_param(focal, LB_CRIT_GAMMA, gammas[i]);
    double loss = compute_loss(focal, z, y, 2, grad);
    assert_true(isfinite(loss) && loss >= 0.0 && loss < 1e-3);
    assert_all_finite(grad, 2 * 3);
    lb_criterion_free(focal);
  }
}

static void test_softmax_with_and_without_row_max_agree(void **state) {
  (void)state;
  /* Batches whose logits are all small skip the row-max pass; a batch with
   * one large logit (in an ignored row, so the loss is the same) takes it. */
  enum { K = 21, B = 5 };
  float small[B * K], large[B * K], g_small[B * K], g_large[B * K];
  fill_logits(small, B * K, 23);
  memcpy(large, small, sizeof small);
  large[4 * K + 3] = 1000.0f;
  int32_t y[B] = {3, 20, 0, 3, -100};
  for (int i = 0; i < ALL_KINDS_COUNT; i++) {
    lb_criterion *c = make_ready(all_kinds[i], K);
    set_param(c, LB_CRIT_LDAM_SCALE, 2.0);
    if (all_kinds[i] != LB_LOSS_FOCAL)
      set_param(c, LB_CRIT_LABEL_SMOOTHING, 0.05);
    double loss_small = compute_loss(c, small, y, B, g_small);
    double loss_large = compute_loss(c, large, y, B, g_large);
    assert_close(loss_large, loss_small, 1e-7, 0.0, "loss");
    for (int j = 0; j < (B - 1) * K; j++)
      assert_close(g_large[j], g_small[j], 1e-6, 1e-9, "grad");
    lb_criterion_free(c);
  }
}

static void test_confident_rows_keep_relative_precision(void **state) {
  (void)state;
  /* -log p_y = log(1 + 2 exp(-d)) is small for a confident row; it must
   * keep its relative precision down to what a double sum of the row can
   * hold (1e-16 of the largest term), whether or not the row-max pass runs
   * (the ignored third row, 1000 or 0, decides that). */
  const float margins[] = {3.0f, 12.0f, 30.0f, 60.0f};
  for (size_t t = 0; t < sizeof margins / sizeof margins[0]; t++)
    for (int large = 0; large < 2; large++) {
      const float d = margins[t];
      float z[3 * 3] = {d, 0.0f, 0.0f, 0.0f, d, 0.0f,
                        large ? 1000.0f : 0.0f, 0.0f, 0.0f};
      /* Float rounding of d itself is exact for these values. */
      const int32_t y[3] = {0, 1, -100};
      lb_criterion *ce = make_criterion(LB_LOSS_CE, 3);
      double loss = compute_loss(ce, z, y, 3, NULL);
      double want = log1p(2.0 * exp(-(double)d));
      assert_true(loss >= 0.0);
      assert_close(loss, want, 1e-6, 1e-15, "confident CE");
      lb_criterion_free(ce);
    }
}

static void test_odd_row_lengths_match_single_row_sums(void **state) {
  (void)state;
  /* Rows shorter than, equal to and longer than the kernels' lane count,
   * against CE computed in double here. */
  const int32_t lengths[] = {1, 2, 15, 16, 17, 33, 1000};
  for (size_t t = 0; t < sizeof lengths / sizeof lengths[0]; t++) {
    int32_t k = lengths[t];
    float *z = malloc((size_t)k * sizeof *z);
    float *grad = malloc((size_t)k * sizeof *grad);
    assert_non_null(z);
    assert_non_null(grad);
    fill_logits(z, k, (uint32_t)k);
    int32_t y[1] = {k / 2};
    lb_criterion *ce = make_criterion(LB_LOSS_CE, k);
    double loss = compute_loss(ce, z, y, 1, grad);
    double max = -INFINITY, sum = 0.0;
    for (int32_t j = 0; j < k; j++) max = fmax(max, z[j]);
    for (int32_t j = 0; j < k; j++) sum += exp((double)z[j] - max);
    double lse = max + log(sum);
    assert_close(loss, lse - z[k / 2], 1e-6, 1e-7, "CE of one row");
    for (int32_t j = 0; j < k; j++)
      assert_close(grad[j], exp(z[j] - lse) - (j == k / 2), 1e-5, 1e-7,
                   "softmax - onehot");
    lb_criterion_free(ce);
    free(z);
    free(grad);
  }
}

/* Largest error in ulp of the kernels' exp over the floats whose bit
 * patterns run from `first` to `last` by `step`: through the row kernel
 * (the build the CPU runs, AVX2 + FMA where present) or through the
 * baseline scalar build. */
static double exp_kernel_error(uint32_t first, uint32_t last, uint32_t step,
                               bool row_kernel) {
  enum { CHUNK = 4096 };
  static float x[CHUNK], e[CHUNK];
  double worst = 0.0;
  uint32_t bits = first;
  while (bits <= last && bits >= first) {
    int n = 0;
    for (; n < CHUNK && bits <= last && bits >= first; n++, bits += step)
      memcpy(&x[n], &bits, sizeof x[n]);
    if (row_kernel) lb_row_exp_sum(x, 0.0f, n, e);
    for (int i = 0; i < n; i++) {
      double want = exp((double)x[i]);
      if (want < FLT_MIN) continue;
      float got = row_kernel ? e[i] : lb_exp_bounded(x[i]);
      worst = fmax(worst, fabs(got - want) / ldexp(1.0, ilogb(want) - 23));
    }
  }
  return worst;
}

static void test_exp_kernel_is_accurate(void **state) {
  (void)state;
  /* Every 97th float of [-87.3, 0] and of [0, 64]: within 2 ulp with FMA,
   * 2.3 without. */
  const uint32_t below_from = 0x80000000u, below_to = 0xc2aeac4fu;
  const uint32_t above_from = 0x00000000u, above_to = 0x42800000u;
  double scalar = fmax(exp_kernel_error(below_from, below_to, 97, false),
                       exp_kernel_error(above_from, above_to, 97, false));
  double row = fmax(exp_kernel_error(below_from, below_to, 97, true),
                    exp_kernel_error(above_from, above_to, 97, true));
  if (scalar > 2.3 || row > 2.3)
    fail_msg("exp kernel error: %.3f ulp in the row kernel, %.3f in the "
             "baseline build",
             row, scalar);
  assert_true(lb_exp_bounded(-100.0f) == 0.0f);
  assert_true(lb_exp_bounded(-INFINITY) == 0.0f);
  assert_true(lb_exp_bounded(0.0f) == 1.0f);
  assert_true(isfinite(lb_exp_bounded(LB_EXP_ARGUMENT_MAX)));
}

/* ---- parameters ---------------------------------------------------------- */

static void test_parameters_have_documented_defaults(void **state) {
  (void)state;
  const double defaults[7] = {2.0, 0.9999, 1.0, 0.0, -100.0, 0.5, 30.0};
  lb_criterion *c = make_criterion(LB_LOSS_CE, 2);
  for (int p = 0; p < 7; p++) {
    double value = NAN;
    assert_int_equal(lb_criterion_get_param(c, (lb_criterion_param)p, &value),
                     LB_OK);
    assert_true(value == defaults[p]);
  }
  lb_criterion_free(c);
}

static void test_parameter_bounds_are_enforced_at_both_ends(void **state) {
  (void)state;
  lb_criterion *c = make_criterion(LB_LOSS_CE, 2);
  for (int p = 0; p < 7; p++) {
    double lower = NAN, upper = NAN, value = NAN;
    assert_int_equal(
        lb_criterion_param_bounds((lb_criterion_param)p, &lower, &upper),
        LB_OK);
    assert_true(lower < upper);
    set_param(c, (lb_criterion_param)p, lower);
    set_param(c, (lb_criterion_param)p, upper);
    assert_int_equal(lb_criterion_get_param(c, (lb_criterion_param)p, &value),
                     LB_OK);
    assert_true(value == upper);
    assert_fails_with(lb_criterion_set_param(c, (lb_criterion_param)p,
                                             nextafter(lower, -INFINITY)),
                      LB_EINVAL, "must be");
    assert_fails_with(lb_criterion_set_param(c, (lb_criterion_param)p,
                                             nextafter(upper, INFINITY)),
                      LB_EINVAL, "must be");
    assert_fails_with(lb_criterion_set_param(c, (lb_criterion_param)p, NAN),
                      LB_EINVAL, "is NaN");
    assert_int_equal(lb_criterion_get_param(c, (lb_criterion_param)p, &value),
                     LB_OK);
    assert_true(value == upper); /* failures leave the value */
  }
  lb_criterion_free(c);
}

static void test_set_param_rejects_bad_values(void **state) {
  (void)state;
  lb_criterion *c = make_criterion(LB_LOSS_CE, 3);
  assert_fails_with(lb_criterion_set_param(NULL, LB_CRIT_GAMMA, 1.0),
                    LB_EINVAL, "c is NULL");
  assert_fails_with(lb_criterion_set_param(c, (lb_criterion_param)7, 1.0),
                    LB_EUNSUPPORTED, "unknown parameter 7");
  assert_fails_with(lb_criterion_set_param(c, (lb_criterion_param)-1, 1.0),
                    LB_EUNSUPPORTED, "unknown parameter -1");
  assert_fails_with(lb_criterion_set_param(c, LB_CRIT_GAMMA, -0.5),
                    LB_EINVAL, "gamma = -0.5");
  assert_fails_with(lb_criterion_set_param(c, LB_CRIT_GAMMA, INFINITY),
                    LB_EINVAL, "gamma = inf");
  assert_fails_with(lb_criterion_set_param(c, LB_CRIT_BETA, 1.0), LB_EINVAL,
                    "beta = 1 must be in [0, 1)");
  assert_fails_with(lb_criterion_set_param(c, LB_CRIT_BETA, -0.1), LB_EINVAL,
                    "beta = -0.1");
  assert_fails_with(lb_criterion_set_param(c, LB_CRIT_LABEL_SMOOTHING, 1.0),
                    LB_EINVAL, "label_smoothing = 1");
  assert_fails_with(lb_criterion_set_param(c, LB_CRIT_LABEL_SMOOTHING, -0.01),
                    LB_EINVAL, "label_smoothing = -0.01");
  assert_fails_with(lb_criterion_set_param(c, LB_CRIT_LDAM_SCALE, 0.0),
                    LB_EINVAL, "ldam_scale = 0");
  assert_fails_with(lb_criterion_set_param(c, LB_CRIT_LDAM_SCALE, -3.0),
                    LB_EINVAL, "ldam_scale = -3");
  assert_fails_with(lb_criterion_set_param(c, LB_CRIT_LDAM_MAX_MARGIN, -0.1),
                    LB_EINVAL, "ldam_max_margin = -0.1");
  assert_fails_with(lb_criterion_set_param(c, LB_CRIT_TAU, INFINITY),
                    LB_EINVAL, "tau = inf must be finite");
  assert_fails_with(lb_criterion_set_param(c, LB_CRIT_TAU, -INFINITY),
                    LB_EINVAL, "tau = -inf");
  assert_fails_with(lb_criterion_set_param(c, LB_CRIT_TAU, NAN), LB_EINVAL,
                    "tau is NaN");
  assert_fails_with(lb_criterion_set_param(c, LB_CRIT_IGNORE_INDEX, 2.5),
                    LB_EINVAL, "ignore_index = 2.5 must be an integer");
  assert_fails_with(lb_criterion_set_param(c, LB_CRIT_IGNORE_INDEX, 3e9),
                    LB_EINVAL, "ignore_index = 3e+09");
  lb_criterion_free(c);
}

static void test_focal_rejects_label_smoothing(void **state) {
  (void)state;
  lb_criterion *focal = make_criterion(LB_LOSS_FOCAL, 3);
  assert_fails_with(
      lb_criterion_set_param(focal, LB_CRIT_LABEL_SMOOTHING, 0.1),
      LB_EUNSUPPORTED, "not supported by the focal loss");
  set_param(focal, LB_CRIT_LABEL_SMOOTHING, 0.0);
  double value = NAN;
  assert_int_equal(
      lb_criterion_get_param(focal, LB_CRIT_LABEL_SMOOTHING, &value), LB_OK);
  assert_true(value == 0.0);
  lb_criterion_free(focal);
}

static void test_param_queries_reject_bad_arguments(void **state) {
  (void)state;
  lb_criterion *c = make_criterion(LB_LOSS_CE, 3);
  double value = 5.0, lower = 5.0, upper = 5.0;
  assert_fails_with(lb_criterion_get_param(NULL, LB_CRIT_TAU, &value),
                    LB_EINVAL, "c is NULL");
  assert_fails_with(lb_criterion_get_param(c, LB_CRIT_TAU, NULL), LB_EINVAL,
                    "value is NULL");
  assert_fails_with(lb_criterion_get_param(c, (lb_criterion_param)99, &value),
                    LB_EUNSUPPORTED, "unknown parameter 99");
  assert_fails_with(lb_criterion_param_bounds(LB_CRIT_TAU, NULL, &upper),
                    LB_EINVAL, "lower is NULL");
  assert_fails_with(lb_criterion_param_bounds(LB_CRIT_TAU, &lower, NULL),
                    LB_EINVAL, "upper is NULL");
  assert_fails_with(
      lb_criterion_param_bounds((lb_criterion_param)7, &lower, &upper),
      LB_EUNSUPPORTED, "unknown parameter 7");
  assert_true(value == 5.0 && lower == 5.0 && upper == 5.0);
  lb_criterion_free(c);
}

/* ---- life cycle, counts and weights -------------------------------------- */

static void test_create_rejects_bad_arguments(void **state) {
  (void)state;
  lb_criterion *c = (lb_criterion *)&c; /* a sentinel that must survive */
  lb_criterion *const sentinel = c;
  assert_fails_with(lb_criterion_create(LB_LOSS_CE, 3, NULL), LB_EINVAL,
                    "out is NULL");
  assert_fails_with(lb_criterion_create(LB_LOSS_CE, 0, &c), LB_EINVAL,
                    "num_classes = 0 must be at least 1");
  assert_fails_with(lb_criterion_create(LB_LOSS_CE, -3, &c), LB_EINVAL,
                    "num_classes = -3");
  assert_fails_with(lb_criterion_create((lb_loss_kind)7, 3, &c),
                    LB_EUNSUPPORTED, "unknown loss kind 7");
  assert_fails_with(lb_criterion_create((lb_loss_kind)-1, 3, &c),
                    LB_EUNSUPPORTED, "unknown loss kind -1");
  assert_ptr_equal(c, sentinel);
  lb_criterion_free(NULL); /* a no-op */
}

static void test_create_cleans_up_after_each_allocation_failure(void **state) {
  (void)state;
  for (int i = 0; i < ALL_KINDS_COUNT; i++) {
    lb_criterion *c = NULL;
    assert_each_allocation_failure_is_clean(
        {
          status_ = lb_criterion_create(all_kinds[i], 10, &c);
          if (status_ != LB_OK) assert_null(c);
        },
        {
          lb_criterion_free(c);
          c = NULL;
        });
  }
}

static void test_set_class_counts_cleans_up_after_each_allocation_failure(
    void **state) {
  (void)state;
  const int64_t counts[3] = {3, 2, 1};
  lb_criterion *c = make_criterion(LB_LOSS_LDAM, 3);
  assert_each_allocation_failure_is_clean(
      { status_ = lb_criterion_set_class_counts(c, counts, 3); }, {});
  lb_criterion_free(c);
}

static void test_set_class_counts_rejects_bad_counts(void **state) {
  (void)state;
  lb_criterion *c = make_criterion(LB_LOSS_PRIOR_WEIGHTED, 3);
  const int64_t good[3] = {3, 2, 1}, zero[3] = {3, 2, 0},
                negative[3] = {3, -4, 1},
                huge[3] = {INT64_MAX / 2, INT64_MAX / 2, INT64_MAX / 2};
  assert_fails_with(lb_criterion_set_class_counts(NULL, good, 3), LB_EINVAL,
                    "c is NULL");
  assert_fails_with(lb_criterion_set_class_counts(c, NULL, 3), LB_EINVAL,
                    "counts is NULL");
  assert_fails_with(lb_criterion_set_class_counts(c, good, 4), LB_EINVAL,
                    "num_classes = 4, but the criterion has 3 classes");
  assert_fails_with(lb_criterion_set_class_counts(c, good, 0), LB_EINVAL,
                    "num_classes = 0");
  assert_fails_with(lb_criterion_set_class_counts(c, zero, 3), LB_EINVAL,
                    "class 2 has count 0");
  assert_fails_with(lb_criterion_set_class_counts(c, negative, 3), LB_EINVAL,
                    "class 1 has count -4");
  assert_fails_with(lb_criterion_set_class_counts(c, huge, 3), LB_EINVAL,
                    "overflow");
  /* None of them set counts: compute still needs them. */
  float z[3] = {0};
  int32_t y[1] = {0};
  double loss = 0.0;
  assert_fails_with(lb_criterion_compute(c, z, y, 1, &loss, NULL), LB_ESTATE,
                    "needs the class counts");
  lb_criterion_free(c);
}

static void test_set_class_counts_replaces_the_counts(void **state) {
  (void)state;
  const int64_t first[2] = {1, 9}, second[2] = {5, 5};
  lb_criterion *pe = make_criterion(LB_LOSS_PRIOR_WEIGHTED, 2);
  float z[2] = {0.0f, 1.0f}, weights[2];
  int32_t y[1] = {0};
  assert_int_equal(lb_criterion_set_class_counts(pe, first, 2), LB_OK);
  assert_int_equal(lb_criterion_set_class_counts(pe, second, 2), LB_OK);
  compute_loss(pe, z, y, 1, NULL);
  assert_int_equal(lb_criterion_get_weights(pe, weights, 2), LB_OK);
  assert_true(weights[0] == 1.0f && weights[1] == 1.0f);
  lb_criterion_free(pe);
}

static void test_get_weights_rejects_bad_arguments(void **state) {
  (void)state;
  lb_criterion *c = make_criterion(LB_LOSS_BATCH_BALANCED, 3);
  float weights[3] = {7.0f, 7.0f, 7.0f};
  assert_fails_with(lb_criterion_get_weights(c, weights, 3), LB_ESTATE,
                    "no lb_criterion_compute has succeeded");
  assert_fails_with(lb_criterion_get_weights(NULL, weights, 3), LB_EINVAL,
                    "c is NULL");
  assert_fails_with(lb_criterion_get_weights(c, NULL, 3), LB_EINVAL,
                    "weights is NULL");
  assert_fails_with(lb_criterion_get_weights(c, weights, 2), LB_EINVAL,
                    "num_classes = 2");
  for (int k = 0; k < 3; k++) assert_true(weights[k] == 7.0f);
  lb_criterion_free(c);
}

static void test_compute_does_not_allocate(void **state) {
  (void)state;
  enum { K = 50, B = 8 };
  float z[B * K], grad[B * K];
  fill_logits(z, B * K, 17);
  const int32_t y[B] = {0, 1, 2, 3, 49, 48, -100, 3};
  for (int i = 0; i < ALL_KINDS_COUNT; i++) {
    lb_criterion *c = make_ready(all_kinds[i], K);
    if (all_kinds[i] != LB_LOSS_FOCAL)
      set_param(c, LB_CRIT_LABEL_SMOOTHING, 0.1);
    lb_fault_fail_nth_allocation(0); /* resets the attempt counter */
    compute_loss(c, z, y, B, grad);
    compute_loss(c, z, y, B, NULL);
    set_param(c, LB_CRIT_TAU, 0.5);
    set_long_tail_counts(c, K);
    assert_int_equal(lb_fault_allocations_attempted(), 0);
    lb_criterion_free(c);
  }
}

/* ---- compute: bad input -------------------------------------------------- */

#define UNTOUCHED_LOSS 12345.0
#define UNTOUCHED_GRAD 7.0f

/* Asserts that a failing compute left its outputs as they were. */
static void assert_compute_fails_untouched(lb_criterion *c, const float *z,
                                           const int32_t *y, int64_t batch,
                                           int64_t elements,
                                           lb_status expected,
                                           const char *fragment) {
  double loss = UNTOUCHED_LOSS;
  float *grad = malloc((size_t)(elements > 0 ? elements : 1) * sizeof *grad);
  assert_non_null(grad);
  for (int64_t i = 0; i < elements; i++) grad[i] = UNTOUCHED_GRAD;
  assert_fails_with(lb_criterion_compute(c, z, y, batch, &loss, grad),
                    expected, fragment);
  assert_true(loss == UNTOUCHED_LOSS);
  for (int64_t i = 0; i < elements; i++) assert_true(grad[i] == UNTOUCHED_GRAD);
  free(grad);
}

static void test_compute_rejects_null_pointers(void **state) {
  (void)state;
  lb_criterion *c = make_criterion(LB_LOSS_CE, 3);
  float z[3] = {0}, grad[3] = {UNTOUCHED_GRAD, UNTOUCHED_GRAD, UNTOUCHED_GRAD};
  int32_t y[1] = {0};
  double loss = UNTOUCHED_LOSS;
  assert_fails_with(lb_criterion_compute(NULL, z, y, 1, &loss, grad),
                    LB_EINVAL, "c is NULL");
  assert_fails_with(lb_criterion_compute(c, NULL, y, 1, &loss, grad),
                    LB_EINVAL, "logits is NULL");
  assert_fails_with(lb_criterion_compute(c, z, NULL, 1, &loss, grad),
                    LB_EINVAL, "labels is NULL");
  assert_fails_with(lb_criterion_compute(c, z, y, 1, NULL, grad), LB_EINVAL,
                    "loss is NULL");
  assert_true(loss == UNTOUCHED_LOSS);
  for (int i = 0; i < 3; i++) assert_true(grad[i] == UNTOUCHED_GRAD);
  lb_criterion_free(c);
}

static void test_compute_rejects_bad_batch_sizes(void **state) {
  (void)state;
  lb_criterion *c = make_criterion(LB_LOSS_CE, 3);
  float z[3] = {0};
  int32_t y[1] = {0};
  assert_compute_fails_untouched(c, z, y, 0, 3, LB_EINVAL,
                                 "batch = 0 must be at least 1");
  assert_compute_fails_untouched(c, z, y, -5, 3, LB_EINVAL, "batch = -5");
  assert_compute_fails_untouched(c, z, y, INT64_MAX / 2, 3, LB_EINVAL,
                                 "overflows");
  lb_criterion_free(c);
}

static void test_compute_rejects_labels_outside_the_classes(void **state) {
  (void)state;
  enum { K = 3, B = 5 };
  float z[B * K];
  fill_logits(z, B * K, 1);
  for (int i = 0; i < ALL_KINDS_COUNT; i++) {
    lb_criterion *c = make_ready(all_kinds[i], K);
    int32_t y[B] = {0, 1, 2, 7, 0};
    assert_compute_fails_untouched(c, z, y, B, B * K, LB_EINVAL,
                                   "label 7 at row 3 is outside [0, 3)");
    y[3] = 0;
    y[4] = -1;
    assert_compute_fails_untouched(c, z, y, B, B * K, LB_EINVAL,
                                   "label -1 at row 4 is outside [0, 3)");
    y[4] = 3;
    assert_compute_fails_untouched(c, z, y, B, B * K, LB_EINVAL,
                                   "label 3 at row 4");
    /* -100 is the ignore index until it is changed. */
    y[4] = -100;
    set_param(c, LB_CRIT_IGNORE_INDEX, -1);
    assert_compute_fails_untouched(c, z, y, B, B * K, LB_EINVAL,
                                   "label -100 at row 4");
    lb_criterion_free(c);
  }
}

static void test_compute_rejects_nonfinite_logits(void **state) {
  (void)state;
  enum { K = 3, B = 40 }; /* longer than a lane block */
  float z[B * K];
  int32_t y[B];
  for (int i = 0; i < B; i++) y[i] = i % K;
  for (int i = 0; i < ALL_KINDS_COUNT; i++) {
    lb_criterion *c = make_ready(all_kinds[i], K);
    fill_logits(z, B * K, 2);
    z[1 * K + 2] = NAN;
    assert_compute_fails_untouched(c, z, y, B, B * K, LB_ENONFINITE,
                                   "row 1, column 2 is nan");
    z[1 * K + 2] = 0.0f;
    z[37 * K + 0] = -INFINITY;
    assert_compute_fails_untouched(c, z, y, B, B * K, LB_ENONFINITE,
                                   "row 37, column 0 is -inf");
    /* Ignored rows are checked too. */
    z[37 * K + 0] = 0.0f;
    z[38 * K + 1] = INFINITY;
    y[38] = -100;
    assert_compute_fails_untouched(c, z, y, B, B * K, LB_ENONFINITE,
                                   "row 38, column 1 is inf");
    y[38] = 38 % K;
    lb_criterion_free(c);
  }
}

static void test_compute_before_class_counts_is_a_state_error(void **state) {
  (void)state;
  const lb_loss_kind need[] = {LB_LOSS_PRIOR_WEIGHTED, LB_LOSS_CLASS_BALANCED,
                               LB_LOSS_LOGIT_ADJUSTED, LB_LOSS_LDAM};
  const lb_loss_kind need_not[] = {LB_LOSS_CE, LB_LOSS_BATCH_BALANCED,
                                   LB_LOSS_FOCAL};
  float z[3] = {0.1f, 0.2f, 0.3f};
  int32_t y[1] = {2};
  for (size_t i = 0; i < 4; i++) {
    lb_criterion *c = make_criterion(need[i], 3);
    assert_compute_fails_untouched(c, z, y, 1, 3, LB_ESTATE,
                                   "call lb_criterion_set_class_counts first");
    lb_criterion_free(c);
  }
  for (size_t i = 0; i < 3; i++) {
    lb_criterion *c = make_criterion(need_not[i], 3);
    compute_loss(c, z, y, 1, NULL);
    lb_criterion_free(c);
  }
}

static void test_compute_rejects_overlapping_gradient(void **state) {
  (void)state;
  lb_criterion *c = make_criterion(LB_LOSS_CE, 2);
  float buffer[6] = {0.5f, -0.5f, 1.0f, 0.0f, 0.0f, 0.0f};
  int32_t y[2] = {0, 1};
  double loss = UNTOUCHED_LOSS;
  assert_fails_with(lb_criterion_compute(c, buffer, y, 2, &loss, buffer),
                    LB_EINVAL, "grad_logits overlaps logits");
  assert_fails_with(lb_criterion_compute(c, buffer, y, 2, &loss, buffer + 2),
                    LB_EINVAL, "overlaps");
  assert_true(loss == UNTOUCHED_LOSS);
  assert_true(buffer[2] == 1.0f);
  lb_criterion_free(c);
}

static void test_compute_rejects_adjustments_beyond_float(void **state) {
  (void)state;
  float z[2] = {3e38f, 0.0f};
  int32_t y[1] = {0};
  lb_criterion *la = make_ready(LB_LOSS_LOGIT_ADJUSTED, 2);
  set_param(la, LB_CRIT_TAU, 1e38);
  assert_compute_fails_untouched(la, z, y, 1, 2, LB_ENONFINITE,
                                 "logit adjustment overflows float");
  lb_criterion *ldam = make_ready(LB_LOSS_LDAM, 2);
  assert_compute_fails_untouched(ldam, z, y, 1, 2, LB_ENONFINITE,
                                 "overflows float");
  lb_criterion_free(la);
  lb_criterion_free(ldam);
}

/* A large batch is cut into chunks computed by several threads. Every row's
 * gradient is computed the same way whoever computes it, so it is
 * bit-identical; the loss sums the chunks in a fixed order, so it only
 * differs in the last bits from the one-chunk sum. */
static void test_threads_do_not_change_the_result(void **state) {
  (void)state;
  enum { K = 1000, B = 256 };
  float *z = malloc((size_t)B * K * sizeof *z);
  float *grad_one = malloc((size_t)B * K * sizeof *grad_one);
  float *grad_many = malloc((size_t)B * K * sizeof *grad_many);
  int32_t *y = malloc(B * sizeof *y);
  assert_true(z && grad_one && grad_many && y);
  fill_logits(z, (int64_t)B * K, 11);
  for (int i = 0; i < B; i++) y[i] = i % 7 == 3 ? -100 : (i * 37) % 50;
  int32_t threads_before = lb_get_num_threads();
  for (int kind = 0; kind < ALL_KINDS_COUNT; kind++) {
    assert_int_equal(lb_set_num_threads(1), LB_OK);
    lb_criterion *one = make_ready(all_kinds[kind], K);
    assert_int_equal(lb_set_num_threads(4), LB_OK);
    lb_criterion *many = make_ready(all_kinds[kind], K);
    double loss_one = compute_loss(one, z, y, B, grad_one);
    double loss_many = compute_loss(many, z, y, B, grad_many);
    assert_close(loss_many, loss_one, 1e-13, 0.0, "loss with 4 threads");
    assert_memory_equal(grad_many, grad_one, (size_t)B * K * sizeof *grad_one);
    lb_criterion_free(one);
    lb_criterion_free(many);
  }
  assert_int_equal(lb_set_num_threads(threads_before), LB_OK);
  free(z);
  free(grad_one);
  free(grad_many);
  free(y);
}

/* The scan for non-finite logits runs in chunks on several threads for a
 * large batch; a bad value in any chunk must still be found and named. */
static void test_large_batch_finds_nonfinite_logit_in_any_chunk(void **state) {
  (void)state;
  enum { K = 1000, B = 256 };
  float *z = malloc((size_t)B * K * sizeof *z);
  float *grad = malloc((size_t)B * K * sizeof *grad);
  int32_t *y = malloc(B * sizeof *y);
  assert_true(z && grad && y);
  for (int i = 0; i < B; i++) y[i] = i % K;
  int32_t threads_before = lb_get_num_threads();
  assert_int_equal(lb_set_num_threads(4), LB_OK);
  lb_criterion *c = make_criterion(LB_LOSS_BATCH_BALANCED, K);
  const int64_t bad_rows[] = {0, B / 2, B - 1};
  const float bad_values[] = {NAN, INFINITY, -INFINITY};
  for (int v = 0; v < 3; v++) {
    for (size_t r = 0; r < sizeof bad_rows / sizeof bad_rows[0]; r++) {
      fill_logits(z, (int64_t)B * K, 5);
      z[bad_rows[r] * K + 17] = bad_values[v];
      char where[64];
      snprintf(where, sizeof where, "row %lld, column 17", (long long)bad_rows[r]);
      double loss = 42.0;
      assert_fails_with(lb_criterion_compute(c, z, y, B, &loss, grad),
                        LB_ENONFINITE, where);
      assert_true(loss == 42.0);
    }
  }
  lb_criterion_free(c);
  assert_int_equal(lb_set_num_threads(threads_before), LB_OK);
  free(z);
  free(grad);
  free(y);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_golden_fixtures_match_pytorch),
      cmocka_unit_test(test_fixture_reader_rejects_malformed_files),
      cmocka_unit_test(test_cross_entropy_gradient_matches_finite_differences),
      cmocka_unit_test(test_prior_weighted_gradient_matches_finite_differences),
      cmocka_unit_test(test_batch_balanced_gradient_matches_finite_differences),
      cmocka_unit_test(test_focal_gradient_matches_finite_differences),
      cmocka_unit_test(test_class_balanced_gradient_matches_finite_differences),
      cmocka_unit_test(test_logit_adjusted_gradient_matches_finite_differences),
      cmocka_unit_test(test_ldam_gradient_matches_finite_differences),
      cmocka_unit_test(test_batch_balanced_gives_each_present_class_equal_share),
      cmocka_unit_test(test_prior_weighted_matches_dataset_weights),
      cmocka_unit_test(
          test_prior_weighted_with_balanced_counts_equals_cross_entropy),
      cmocka_unit_test(test_focal_with_gamma_zero_equals_cross_entropy),
      cmocka_unit_test(
          test_logit_adjusted_with_tau_zero_and_ldam_without_margin_equal_ce),
      cmocka_unit_test(test_class_balanced_weights),
      cmocka_unit_test(test_unweighted_kinds_report_unit_weights),
      cmocka_unit_test(test_grad_may_be_null),
      cmocka_unit_test(test_all_ignored_batch_gives_zero_loss_and_gradient),
      cmocka_unit_test(test_ignored_rows_get_zero_gradient),
      cmocka_unit_test(test_large_logits_give_finite_loss_and_gradient),
      cmocka_unit_test(
          test_focal_gamma_below_one_with_certain_prediction_is_finite),
      cmocka_unit_test(test_softmax_with_and_without_row_max_agree),
      cmocka_unit_test(test_confident_rows_keep_relative_precision),
      cmocka_unit_test(test_odd_row_lengths_match_single_row_sums),
      cmocka_unit_test(test_exp_kernel_is_accurate),
      cmocka_unit_test(test_parameters_have_documented_defaults),
      cmocka_unit_test(test_parameter_bounds_are_enforced_at_both_ends),
      cmocka_unit_test(test_set_param_rejects_bad_values),
      cmocka_unit_test(test_focal_rejects_label_smoothing),
      cmocka_unit_test(test_param_queries_reject_bad_arguments),
      cmocka_unit_test(test_create_rejects_bad_arguments),
      cmocka_unit_test(test_create_cleans_up_after_each_allocation_failure),
      cmocka_unit_test(
          test_set_class_counts_cleans_up_after_each_allocation_failure),
      cmocka_unit_test(test_set_class_counts_rejects_bad_counts),
      cmocka_unit_test(test_set_class_counts_replaces_the_counts),
      cmocka_unit_test(test_get_weights_rejects_bad_arguments),
      cmocka_unit_test(test_compute_does_not_allocate),
      cmocka_unit_test(test_threads_do_not_change_the_result),
      cmocka_unit_test(test_large_batch_finds_nonfinite_logit_in_any_chunk),
      cmocka_unit_test(test_compute_rejects_null_pointers),
      cmocka_unit_test(test_compute_rejects_bad_batch_sizes),
      cmocka_unit_test(test_compute_rejects_labels_outside_the_classes),
      cmocka_unit_test(test_compute_rejects_nonfinite_logits),
      cmocka_unit_test(test_compute_before_class_counts_is_a_state_error),
      cmocka_unit_test(test_compute_rejects_overlapping_gradient),
      cmocka_unit_test(test_compute_rejects_adjustments_beyond_float),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
