/* Tests of lb_metrics: reference values from scikit-learn and
 * imbalanced-learn, a matrix worked by hand, the conventions metrics.h
 * states (label sets, ties, empty groups, training-count groups), the JSON
 * and CSV writers, and every bad argument. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "lossbal/metrics.h"
#include "test_support.h"

#include <math.h>

/* ---- helpers ------------------------------------------------------------- */

static lb_metrics *make_metrics(int32_t k) {
  lb_metrics *m = NULL;
  assert_int_equal(lb_metrics_create(k, &m), LB_OK);
  assert_non_null(m);
  return m;
}

static void add_pairs(lb_metrics *m, const int32_t *labels,
                      const int32_t *predictions, int64_t count) {
  assert_int_equal(lb_metrics_add(m, labels, predictions, count), LB_OK);
}

static double get_metric(const lb_metrics *m, lb_metric which) {
  double value = -1.0;
  assert_int_equal(lb_metrics_get(m, which, &value), LB_OK);
  return value;
}

static void set_train_counts(lb_metrics *m, const int64_t *counts,
                             int32_t k) {
  assert_int_equal(lb_metrics_set_train_counts(m, counts, k), LB_OK);
}

/* Equal within `rel` relative; NaN equals only NaN. */
static bool close_enough(double got, double want, double rel) {
  if (isnan(want)) return isnan(got);
  return fabs(got - want) <= rel * fabs(want);
}

static void assert_close(double got, double want, double rel,
                         const char *what) {
  if (!close_enough(got, want, rel))
    fail_msg("%s: got %.17g, want %.17g", what, got, want);
}

/* Every cell of the K x K matrix, for checking that nothing was added. */
static void assert_matrix_equals(const lb_metrics *m, const int64_t *want) {
  int32_t k = lb_metrics_num_classes(m);
  int64_t got[64];
  assert_true(k * k <= 64);
  assert_int_equal(lb_metrics_confusion(m, got, 64), LB_OK);
  for (int32_t i = 0; i < k * k; i++)
    if (got[i] != want[i])
      fail_msg("confusion[%d][%d] = %lld, want %lld", (int)(i / k),
               (int)(i % k), (long long)got[i], (long long)want[i]);
}

/* ---- create, free, reset ------------------------------------------------- */

static void test_create_rejects_bad_arguments(void **state) {
  (void)state;
  lb_metrics *m = NULL;
  assert_fails_with(lb_metrics_create(3, NULL), LB_EINVAL,
                    "lb_metrics_create: out is NULL");
  assert_fails_with(lb_metrics_create(0, &m), LB_EINVAL,
                    "lb_metrics_create: num_classes = 0 is outside");
  assert_fails_with(lb_metrics_create(-5, &m), LB_EINVAL,
                    "num_classes = -5 is outside [1, 65536]");
  assert_fails_with(lb_metrics_create(65537, &m), LB_EINVAL,
                    "num_classes = 65537 is outside [1, 65536]");
  assert_null(m);
}

static void test_create_cleans_up_after_each_allocation_failure(
    void **state) {
  (void)state;
  lb_metrics *m = NULL;
  assert_each_allocation_failure_is_clean(
      status_ = lb_metrics_create(7, &m), lb_metrics_free(m));
}

static void test_create_gives_an_empty_matrix(void **state) {
  (void)state;
  lb_metrics *m = make_metrics(1);
  assert_int_equal(lb_metrics_num_classes(m), 1);
  assert_int_equal(lb_metrics_total(m), 0);
  lb_metrics_free(m);
  m = make_metrics(4);
  int64_t zeros[16] = {0};
  assert_int_equal(lb_metrics_num_classes(m), 4);
  assert_matrix_equals(m, zeros);
  lb_metrics_free(m);
}

static void test_null_object_queries_are_harmless(void **state) {
  (void)state;
  lb_metrics_free(NULL);
  assert_int_equal(lb_metrics_num_classes(NULL), 0);
  assert_int_equal(lb_metrics_total(NULL), 0);
}

static void test_reset_empties_the_matrix_but_keeps_the_settings(
    void **state) {
  (void)state;
  lb_metrics *m = make_metrics(2);
  const int32_t labels[] = {0, 1, 1}, predictions[] = {1, 1, 0};
  const int64_t train[] = {500, 3};
  add_pairs(m, labels, predictions, 3);
  set_train_counts(m, train, 2);
  assert_int_equal(lb_metrics_set_gmean_correction(m, 0.25), LB_OK);
  assert_int_equal(lb_metrics_reset(m), LB_OK);
  int64_t zeros[4] = {0};
  assert_int_equal(lb_metrics_total(m), 0);
  assert_matrix_equals(m, zeros);
  /* Settings survive: S1 needs the counts, and after class 1 is always
   * wrong the G-mean shows the correction: sqrt(1 * 0.25). */
  const int32_t again_labels[] = {0, 1}, again_predictions[] = {0, 0};
  add_pairs(m, again_labels, again_predictions, 2);
  assert_close(get_metric(m, LB_METRIC_GMEAN), 0.5, 1e-15, "gmean");
  assert_close(get_metric(m, LB_METRIC_S1_F1), 0.0, 0.0, "s1_f1");
  lb_metrics_free(m);
}

static void test_reset_rejects_null(void **state) {
  (void)state;
  assert_fails_with(lb_metrics_reset(NULL), LB_EINVAL,
                    "lb_metrics_reset: m is NULL");
}

/* ---- adding -------------------------------------------------------------- */

static void test_add_rejects_bad_arguments_and_adds_nothing(void **state) {
  (void)state;
  lb_metrics *m = make_metrics(3);
  const int32_t labels[] = {0, 1, 2}, predictions[] = {2, 1, 0};
  add_pairs(m, labels, predictions, 3);
  int64_t before[9];
  assert_int_equal(lb_metrics_confusion(m, before, 9), LB_OK);

  assert_fails_with(lb_metrics_add(NULL, labels, predictions, 3), LB_EINVAL,
                    "lb_metrics_add: m is NULL");
  assert_fails_with(lb_metrics_add(m, NULL, predictions, 3), LB_EINVAL,
                    "lb_metrics_add: labels is NULL");
  assert_fails_with(lb_metrics_add(m, labels, NULL, 3), LB_EINVAL,
                    "lb_metrics_add: predictions is NULL");
  assert_fails_with(lb_metrics_add(m, labels, predictions, -1), LB_EINVAL,
                    "lb_metrics_add: count = -1 is negative");
  /* The bad entry comes last, after good ones that must not be counted. */
  const int32_t bad_label[] = {0, 1, 3}, bad_low[] = {0, -1, 1};
  assert_fails_with(lb_metrics_add(m, bad_label, predictions, 3), LB_EINVAL,
                    "lb_metrics_add: labels[2] = 3 is outside [0, 2]");
  assert_fails_with(lb_metrics_add(m, labels, bad_low, 3), LB_EINVAL,
                    "lb_metrics_add: predictions[1] = -1 is outside [0, 2]");
  assert_int_equal(lb_metrics_total(m), 3);
  assert_matrix_equals(m, before);
  assert_int_equal(lb_metrics_add(m, labels, predictions, 0), LB_OK);
  assert_int_equal(lb_metrics_total(m), 3);
  lb_metrics_free(m);
}

static void test_add_logits_rejects_bad_arguments(void **state) {
  (void)state;
  lb_metrics *m = make_metrics(3);
  const float logits[6] = {0.f, 1.f, 2.f, 3.f, 2.f, 1.f};
  const int32_t labels[] = {2, 0}, bad_labels[] = {2, 5};
  assert_fails_with(lb_metrics_add_logits(NULL, logits, labels, 2), LB_EINVAL,
                    "lb_metrics_add_logits: m is NULL");
  assert_fails_with(lb_metrics_add_logits(m, NULL, labels, 2), LB_EINVAL,
                    "lb_metrics_add_logits: logits is NULL");
  assert_fails_with(lb_metrics_add_logits(m, logits, NULL, 2), LB_EINVAL,
                    "lb_metrics_add_logits: labels is NULL");
  assert_fails_with(lb_metrics_add_logits(m, logits, labels, -2), LB_EINVAL,
                    "lb_metrics_add_logits: count = -2 is negative");
  assert_fails_with(lb_metrics_add_logits(m, logits, labels, INT64_MAX / 2),
                    LB_EINVAL, "overflow");
  assert_fails_with(lb_metrics_add_logits(m, logits, bad_labels, 2),
                    LB_EINVAL,
                    "lb_metrics_add_logits: labels[1] = 5 is outside [0, 2]");
  assert_int_equal(lb_metrics_total(m), 0);
  lb_metrics_free(m);
}

static void test_nan_logit_is_nonfinite_and_adds_nothing(void **state) {
  (void)state;
  lb_metrics *m = make_metrics(3);
  /* Row 0 is fine; the NaN is in row 1, so row 0 must not be counted. */
  const float logits[6] = {5.f, 1.f, 2.f, 3.f, 2.f, NAN};
  const int32_t labels[] = {0, 0};
  assert_fails_with(lb_metrics_add_logits(m, logits, labels, 2),
                    LB_ENONFINITE,
                    "lb_metrics_add_logits: logits[1][2] is NaN");
  int64_t zeros[9] = {0};
  assert_int_equal(lb_metrics_total(m), 0);
  assert_matrix_equals(m, zeros);
  lb_metrics_free(m);
}

static void test_add_logits_takes_the_first_index_on_a_tie(void **state) {
  (void)state;
  lb_metrics *m = make_metrics(3);
  const float logits[] = {
      1.f,       4.f,       4.f,       /* tie of 1 and 2: 1 */
      7.f,       7.f,       7.f,       /* all equal: 0 */
      -INFINITY, -INFINITY, -INFINITY, /* all -inf still ties: 0 */
      0.f,       INFINITY,  INFINITY,  /* +inf wins; tie: 1 */
      -1.f,      -3.f,      -0.5f,     /* plain maximum: 2 */
  };
  const int32_t labels[] = {2, 2, 2, 2, 2};
  assert_int_equal(lb_metrics_add_logits(m, logits, labels, 5), LB_OK);
  const int64_t want[9] = {0, 0, 0, 0, 0, 0, 2, 2, 1};
  assert_matrix_equals(m, want);
  lb_metrics_free(m);
}

static void test_batches_accumulate_like_one_batch(void **state) {
  (void)state;
  enum { N = 40, K = 4 };
  int32_t labels[N], predictions[N];
  float logits[N * K];
  for (int i = 0; i < N; i++) {
    labels[i] = (i * 7) % K;
    predictions[i] = (i * i + 1) % K;
    for (int j = 0; j < K; j++)
      logits[i * K + j] = j == predictions[i] ? 1.f : (float)-j;
  }
  lb_metrics *whole = make_metrics(K), *pieces = make_metrics(K),
             *from_logits = make_metrics(K);
  add_pairs(whole, labels, predictions, N);
  /* Batches of 1, 0, 9, 13 and 17 samples, the empty one included. */
  const int cuts[] = {0, 1, 1, 10, 23, N};
  for (int b = 0; b + 1 < (int)(sizeof cuts / sizeof cuts[0]); b++) {
    int begin = cuts[b], size = cuts[b + 1] - cuts[b];
    add_pairs(pieces, labels + begin, predictions + begin, size);
    assert_int_equal(lb_metrics_add_logits(from_logits, logits + begin * K,
                                           labels + begin, size),
                     LB_OK);
  }
  int64_t want[K * K];
  assert_int_equal(lb_metrics_confusion(whole, want, K * K), LB_OK);
  assert_matrix_equals(pieces, want);
  assert_matrix_equals(from_logits, want);
  assert_int_equal(lb_metrics_total(pieces), N);
  for (int which = LB_METRIC_ACCURACY; which <= LB_METRIC_GMEAN; which++) {
    double a = get_metric(whole, (lb_metric)which);
    assert_true(a == get_metric(pieces, (lb_metric)which));
    assert_true(a == get_metric(from_logits, (lb_metric)which));
  }
  lb_metrics_free(whole);
  lb_metrics_free(pieces);
  lb_metrics_free(from_logits);
}

/* ---- settings ------------------------------------------------------------ */

static void test_set_train_counts_rejects_bad_arguments(void **state) {
  (void)state;
  lb_metrics *m = make_metrics(3);
  const int64_t counts[] = {10, 20, 30}, negative[] = {10, -1, 30};
  assert_fails_with(lb_metrics_set_train_counts(NULL, counts, 3), LB_EINVAL,
                    "lb_metrics_set_train_counts: m is NULL");
  assert_fails_with(lb_metrics_set_train_counts(m, NULL, 3), LB_EINVAL,
                    "lb_metrics_set_train_counts: counts is NULL");
  assert_fails_with(lb_metrics_set_train_counts(m, counts, 2), LB_EINVAL,
                    "num_classes = 2, but the metrics have 3 classes");
  assert_fails_with(lb_metrics_set_train_counts(m, negative, 3), LB_EINVAL,
                    "lb_metrics_set_train_counts: counts[1] = -1 is negative");
  /* A failed call leaves the counts unset. */
  double value = 0.0;
  assert_fails_with(lb_metrics_get(m, LB_METRIC_S1_F1, &value), LB_ESTATE,
                    "s1_f1 needs the training counts");
  lb_metrics_free(m);
}

static void test_set_gmean_correction_rejects_values_outside_0_1(
    void **state) {
  (void)state;
  lb_metrics *m = make_metrics(2);
  assert_fails_with(lb_metrics_set_gmean_correction(NULL, 0.5), LB_EINVAL,
                    "lb_metrics_set_gmean_correction: m is NULL");
  assert_fails_with(lb_metrics_set_gmean_correction(m, -0.001), LB_EINVAL,
                    "correction = -0.001 is outside [0, 1]");
  assert_fails_with(lb_metrics_set_gmean_correction(m, 1.5), LB_EINVAL,
                    "correction = 1.5 is outside [0, 1]");
  assert_fails_with(lb_metrics_set_gmean_correction(m, NAN), LB_EINVAL,
                    "lb_metrics_set_gmean_correction: correction = nan");
  assert_int_equal(lb_metrics_set_gmean_correction(m, 0.0), LB_OK);
  assert_int_equal(lb_metrics_set_gmean_correction(m, 1.0), LB_OK);
  lb_metrics_free(m);
}

/* ---- queries ------------------------------------------------------------- */

static void test_confusion_rejects_bad_arguments(void **state) {
  (void)state;
  lb_metrics *m = make_metrics(3);
  int64_t matrix[9];
  assert_fails_with(lb_metrics_confusion(NULL, matrix, 9), LB_EINVAL,
                    "lb_metrics_confusion: m is NULL");
  assert_fails_with(lb_metrics_confusion(m, NULL, 9), LB_EINVAL,
                    "lb_metrics_confusion: matrix is NULL");
  assert_fails_with(lb_metrics_confusion(m, matrix, 8), LB_EINVAL,
                    "lb_metrics_confusion: capacity = 8 is less than K * K "
                    "= 9");
  assert_fails_with(lb_metrics_confusion(m, matrix, -1), LB_EINVAL,
                    "capacity = -1");
  lb_metrics_free(m);
}

static void test_get_rejects_bad_arguments(void **state) {
  (void)state;
  lb_metrics *m = make_metrics(1);
  double value = 0.0;
  assert_fails_with(lb_metrics_get(NULL, LB_METRIC_ACCURACY, &value),
                    LB_EINVAL, "lb_metrics_get: m is NULL");
  assert_fails_with(lb_metrics_get(m, LB_METRIC_ACCURACY, NULL), LB_EINVAL,
                    "lb_metrics_get: value is NULL");
  assert_fails_with(lb_metrics_get(m, (lb_metric)12, &value),
                    LB_EUNSUPPORTED, "lb_metrics_get: unknown metric 12");
  assert_fails_with(lb_metrics_get(m, (lb_metric)-1, &value),
                    LB_EUNSUPPORTED, "lb_metrics_get: unknown metric -1");
  static const lb_metric need_counts[] = {
      LB_METRIC_MANY_SHOT_ACCURACY, LB_METRIC_MEDIUM_SHOT_ACCURACY,
      LB_METRIC_FEW_SHOT_ACCURACY, LB_METRIC_S1_F1, LB_METRIC_S2_F1};
  for (int i = 0; i < 5; i++)
    assert_fails_with(lb_metrics_get(m, need_counts[i], &value), LB_ESTATE,
                      "needs the training counts; call "
                      "lb_metrics_set_train_counts() first");
  const int64_t one_count[] = {4};
  set_train_counts(m, one_count, 1);
  assert_fails_with(lb_metrics_get(m, LB_METRIC_S2_F1, &value), LB_ESTATE,
                    "lb_metrics_get: s2_f1 needs a second class");
  assert_int_equal(lb_metrics_get(m, LB_METRIC_S1_F1, &value), LB_OK);
  lb_metrics_free(m);
}

static void test_get_per_class_rejects_bad_arguments(void **state) {
  (void)state;
  lb_metrics *m = make_metrics(3);
  double values[3];
  assert_fails_with(
      lb_metrics_get_per_class(NULL, LB_CLASS_F1, values, 3), LB_EINVAL,
      "lb_metrics_get_per_class: m is NULL");
  assert_fails_with(lb_metrics_get_per_class(m, LB_CLASS_F1, NULL, 3),
                    LB_EINVAL, "lb_metrics_get_per_class: values is NULL");
  assert_fails_with(lb_metrics_get_per_class(m, LB_CLASS_F1, values, 2),
                    LB_EINVAL,
                    "lb_metrics_get_per_class: capacity = 2 is less than "
                    "K = 3");
  assert_fails_with(
      lb_metrics_get_per_class(m, (lb_class_metric)4, values, 3),
      LB_EUNSUPPORTED, "lb_metrics_get_per_class: unknown metric 4");
  lb_metrics_free(m);
}

/* ---- the metrics --------------------------------------------------------- */

/* Confusion matrix (rows true, columns predicted):
 *
 *            pred 0  pred 1  pred 2   support
 *   true 0      2       1       0        3
 *   true 1      1       3       1        5
 *   true 2      0       0       2        2
 *   predicted   3       4       3       10
 *
 * accuracy   = (2 + 3 + 2) / 10 = 7/10
 * precision  = 2/3, 3/4, 2/3
 * recall     = 2/3, 3/5, 2/2 = 1
 * F1 = 2TP / (support + predicted) = 4/6, 6/9, 4/5 = 2/3, 2/3, 4/5
 * macro P    = (2/3 + 3/4 + 2/3) / 3 = (8 + 9 + 8) / 36 = 25/36
 * macro R    = (2/3 + 3/5 + 1) / 3 = (10 + 9 + 15) / 45 = 34/45
 * macro F1   = (2/3 + 2/3 + 4/5) / 3 = (10 + 10 + 12) / 45 = 32/45
 * weighted F1 = (3 * 2/3 + 5 * 2/3 + 2 * 4/5) / 10
 *             = (2 + 10/3 + 8/5) / 10 = (30 + 50 + 24) / 150 = 52/75
 * balanced accuracy = macro R = 34/45 (every class is a true label)
 * G-mean     = (2/3 * 3/5 * 1)^(1/3) = (2/5)^(1/3)
 * With training counts 150, 50, 5: many-shot = recall_0 = 2/3,
 * medium-shot = recall_1 = 3/5, few-shot = recall_2 = 1,
 * S1 = class 2 (5): F1 4/5; S2 = class 1 (50): F1 2/3. */
static lb_metrics *make_hand_worked_matrix(void) {
  lb_metrics *m = make_metrics(3);
  const int32_t labels[] = {0, 0, 0, 1, 1, 1, 1, 1, 2, 2};
  const int32_t predictions[] = {0, 0, 1, 0, 1, 1, 1, 2, 2, 2};
  add_pairs(m, labels, predictions, 10);
  return m;
}

static void test_hand_worked_three_class_matrix(void **state) {
  (void)state;
  lb_metrics *m = make_hand_worked_matrix();
  const int64_t want_matrix[9] = {2, 1, 0, 1, 3, 1, 0, 0, 2};
  assert_matrix_equals(m, want_matrix);
  const double tol = 4e-16;
  assert_close(get_metric(m, LB_METRIC_ACCURACY), 7.0 / 10, tol, "accuracy");
  assert_close(get_metric(m, LB_METRIC_MACRO_PRECISION), 25.0 / 36, tol,
               "macro precision");
  assert_close(get_metric(m, LB_METRIC_MACRO_RECALL), 34.0 / 45, tol,
               "macro recall");
  assert_close(get_metric(m, LB_METRIC_MACRO_F1), 32.0 / 45, tol, "macro F1");
  assert_close(get_metric(m, LB_METRIC_WEIGHTED_F1), 52.0 / 75, tol,
               "weighted F1");
  assert_close(get_metric(m, LB_METRIC_BALANCED_ACCURACY), 34.0 / 45, tol,
               "balanced accuracy");
  assert_close(get_metric(m, LB_METRIC_GMEAN), cbrt(0.4), tol, "G-mean");

  const double want[4][3] = {{2.0 / 3, 3.0 / 4, 2.0 / 3},
                             {2.0 / 3, 3.0 / 5, 1.0},
                             {2.0 / 3, 2.0 / 3, 4.0 / 5},
                             {3, 5, 2}};
  for (int which = 0; which < 4; which++) {
    double values[3];
    assert_int_equal(
        lb_metrics_get_per_class(m, (lb_class_metric)which, values, 3),
        LB_OK);
    for (int c = 0; c < 3; c++)
      assert_close(values[c], want[which][c], tol, "per-class metric");
  }

  const int64_t train[] = {150, 50, 5};
  set_train_counts(m, train, 3);
  assert_close(get_metric(m, LB_METRIC_MANY_SHOT_ACCURACY), 2.0 / 3, tol,
               "many-shot");
  assert_close(get_metric(m, LB_METRIC_MEDIUM_SHOT_ACCURACY), 3.0 / 5, tol,
               "medium-shot");
  assert_close(get_metric(m, LB_METRIC_FEW_SHOT_ACCURACY), 1.0, tol,
               "few-shot");
  assert_close(get_metric(m, LB_METRIC_S1_F1), 4.0 / 5, tol, "S1-F1");
  assert_close(get_metric(m, LB_METRIC_S2_F1), 2.0 / 3, tol, "S2-F1");
  lb_metrics_free(m);
}

static void test_no_samples_gives_zero_except_nan_shot_accuracies(
    void **state) {
  (void)state;
  lb_metrics *m = make_metrics(3);
  const int64_t train[] = {500, 50, 5};
  set_train_counts(m, train, 3);
  assert_int_equal(lb_metrics_set_gmean_correction(m, 0.5), LB_OK);
  for (int which = 0; which <= LB_METRIC_S2_F1; which++) {
    double value = get_metric(m, (lb_metric)which);
    bool shot = which >= LB_METRIC_MANY_SHOT_ACCURACY &&
                which <= LB_METRIC_FEW_SHOT_ACCURACY;
    if (shot ? !isnan(value) : value != 0.0)
      fail_msg("metric %d of an empty matrix is %g", which, value);
  }
  double values[3];
  for (int which = 0; which < 4; which++) {
    assert_int_equal(
        lb_metrics_get_per_class(m, (lb_class_metric)which, values, 3),
        LB_OK);
    for (int c = 0; c < 3; c++) assert_true(values[c] == 0.0);
  }
  lb_metrics_free(m);
}

/* Class 2 occurs in neither the labels nor the predictions, class 1 only
 * as a prediction: the macro averages skip class 2, balanced accuracy skips
 * both. */
static void test_label_sets_follow_scikit_learn(void **state) {
  (void)state;
  lb_metrics *m = make_metrics(3);
  const int32_t labels[] = {0, 0, 0, 0}, predictions[] = {0, 0, 1, 1};
  add_pairs(m, labels, predictions, 4);
  /* P = 1, 0; R = 1/2, 0; F1 = 2/3, 0. */
  assert_close(get_metric(m, LB_METRIC_MACRO_PRECISION), 0.5, 0, "macro P");
  assert_close(get_metric(m, LB_METRIC_MACRO_RECALL), 0.25, 0, "macro R");
  assert_close(get_metric(m, LB_METRIC_MACRO_F1), 1.0 / 3, 1e-15, "F1");
  assert_close(get_metric(m, LB_METRIC_BALANCED_ACCURACY), 0.5, 0, "bacc");
  assert_close(get_metric(m, LB_METRIC_WEIGHTED_F1), 2.0 / 3, 1e-15, "wF1");
  /* G-mean over classes 0 and 1: recall 0 of class 1 makes it 0, unless
   * corrected: sqrt(1/2 * 0.02) = 0.1. */
  assert_close(get_metric(m, LB_METRIC_GMEAN), 0.0, 0, "G-mean");
  assert_int_equal(lb_metrics_set_gmean_correction(m, 0.02), LB_OK);
  assert_close(get_metric(m, LB_METRIC_GMEAN), 0.1, 1e-15, "corrected");
  lb_metrics_free(m);
}

/* Training counts on both sides of each bound: 101 is many-shot, 100 and
 * 20 medium, 19 few. A group whose classes never occur as a true label is
 * NaN. */
static void test_shot_groups_follow_the_training_count_bounds(void **state) {
  (void)state;
  lb_metrics *m = make_metrics(5);
  const int64_t train[] = {101, 100, 20, 19, 0};
  set_train_counts(m, train, 5);
  /* Recalls: class 0: 1, class 1: 1/2, class 2: 0, class 3: 1/4,
   * class 4 is never a true label (only predicted). */
  const int32_t labels[] = {0, 1, 1, 2, 3, 3, 3, 3};
  const int32_t predictions[] = {0, 1, 0, 4, 3, 4, 4, 4};
  add_pairs(m, labels, predictions, 8);
  assert_close(get_metric(m, LB_METRIC_MANY_SHOT_ACCURACY), 1.0, 0, "many");
  assert_close(get_metric(m, LB_METRIC_MEDIUM_SHOT_ACCURACY), 0.25, 0,
               "medium: (1/2 + 0) / 2");
  assert_close(get_metric(m, LB_METRIC_FEW_SHOT_ACCURACY), 0.25, 0,
               "few: class 3 only, class 4 is absent from the truth");

  const int64_t no_many[] = {100, 100, 20, 19, 500};
  set_train_counts(m, no_many, 5);
  assert_true(isnan(get_metric(m, LB_METRIC_MANY_SHOT_ACCURACY)));
  lb_metrics_free(m);
}

static void test_s1_s2_are_the_smallest_training_classes_ties_lower_index(
    void **state) {
  (void)state;
  lb_metrics *m = make_metrics(4);
  /* F1 of class c: 1 for 0, 2/3 for 1 (P 1, R 1/2), 0 for 2, 2/3 for 3
   * (P 1/2, R 1). */
  const int32_t labels[] = {0, 1, 1, 2, 3};
  const int32_t predictions[] = {0, 1, 3, 0, 3};
  add_pairs(m, labels, predictions, 5);
  double f1[4];
  assert_int_equal(lb_metrics_get_per_class(m, LB_CLASS_F1, f1, 4), LB_OK);

  const struct {
    int64_t train[4];
    int s1, s2;
  } cases[] = {
      {{40, 30, 20, 10}, 3, 2}, /* distinct counts, the last is smallest */
      {{10, 5, 5, 20}, 1, 2},   /* tie for the smallest */
      {{5, 9, 7, 7}, 0, 2},     /* tie for the second */
      {{8, 8, 8, 8}, 0, 1},     /* all equal */
      {{0, 3, 0, 0}, 0, 2},     /* zeros count as the smallest */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    set_train_counts(m, cases[i].train, 4);
    double s1 = get_metric(m, LB_METRIC_S1_F1);
    double s2 = get_metric(m, LB_METRIC_S2_F1);
    if (s1 != f1[cases[i].s1] || s2 != f1[cases[i].s2])
      fail_msg("case %zu: S1 %g, S2 %g; want F1 of classes %d, %d", i, s1,
               s2, cases[i].s1, cases[i].s2);
  }
  lb_metrics_free(m);
}

/* ---- scikit-learn / imbalanced-learn fixtures ----------------------------
 * Written by tests/metrics/gen_metrics_fixtures.py; the format is described
 * there and in tests/data/metrics/README.md. */

#define FIXTURE_SCALARS 13
/* The fixture's scalars in file order; -1 marks the G-mean with the
 * correction, which is lb_metrics_get(LB_METRIC_GMEAN) after
 * lb_metrics_set_gmean_correction(). */
static const int fixture_scalar_metric[FIXTURE_SCALARS] = {
    LB_METRIC_ACCURACY,          LB_METRIC_MACRO_PRECISION,
    LB_METRIC_MACRO_RECALL,      LB_METRIC_MACRO_F1,
    LB_METRIC_WEIGHTED_F1,       LB_METRIC_BALANCED_ACCURACY,
    LB_METRIC_GMEAN,             -1,
    LB_METRIC_MANY_SHOT_ACCURACY, LB_METRIC_MEDIUM_SHOT_ACCURACY,
    LB_METRIC_FEW_SHOT_ACCURACY, LB_METRIC_S1_F1,
    LB_METRIC_S2_F1};
static const char *const fixture_scalar_key[FIXTURE_SCALARS] = {
    "accuracy",   "macro_precision",    "macro_recall",
    "macro_f1",   "weighted_f1",        "balanced_accuracy",
    "gmean",      "gmean_corrected",    "many_shot_accuracy",
    "medium_shot_accuracy", "few_shot_accuracy", "s1_f1",
    "s2_f1"};

#define FIXTURE_MAX_CLASSES 1000
#define FIXTURE_MAX_SAMPLES 1000000

typedef struct metrics_fixture {
  int k;
  long long samples;
  int32_t *labels, *predictions;
  int64_t *train_counts;
  double correction;
  double scalars[FIXTURE_SCALARS];
  double *per_class[3]; /* precision, recall, f1 */
  int64_t *support;
} metrics_fixture;

static void fixture_free(metrics_fixture *fx) {
  free(fx->labels);
  free(fx->predictions);
  free(fx->train_counts);
  for (int i = 0; i < 3; i++) free(fx->per_class[i]);
  free(fx->support);
  memset(fx, 0, sizeof *fx);
}

/* Reads the next word and checks it is `key`. */
static bool read_key(FILE *file, const char *key) {
  char word[64];
  return fscanf(file, "%63s", word) == 1 && strcmp(word, key) == 0;
}

static bool read_i32s(FILE *file, const char *key, int32_t *values,
                      long long n) {
  if (!read_key(file, key)) return false;
  for (long long i = 0; i < n; i++) {
    int value;
    if (fscanf(file, "%d", &value) != 1) return false;
    values[i] = value;
  }
  return true;
}

static bool read_i64s(FILE *file, const char *key, int64_t *values,
                      long long n) {
  if (!read_key(file, key)) return false;
  for (long long i = 0; i < n; i++) {
    long long value;
    if (fscanf(file, "%lld", &value) != 1) return false;
    values[i] = value;
  }
  return true;
}

static bool read_doubles(FILE *file, const char *key, double *values,
                         long long n) {
  if (!read_key(file, key)) return false;
  for (long long i = 0; i < n; i++)
    if (fscanf(file, "%lf", &values[i]) != 1) return false;
  return true;
}

/* Parses one fixture; false (with everything freed) when the file does
 * not follow the format. */
static bool read_fixture(FILE *file, metrics_fixture *fx) {
  memset(fx, 0, sizeof *fx);
  int version = 0;
  if (!read_key(file, "lossbal-metrics-fixture") ||
      fscanf(file, "%d", &version) != 1 || version != 1 ||
      !read_key(file, "classes") || fscanf(file, "%d", &fx->k) != 1 ||
      !read_key(file, "samples") ||
      fscanf(file, "%lld", &fx->samples) != 1)
    return false;
  if (fx->k < 1 || fx->k > FIXTURE_MAX_CLASSES || fx->samples < 1 ||
      fx->samples > FIXTURE_MAX_SAMPLES)
    return false;
  size_t k = (size_t)fx->k, n = (size_t)fx->samples;
  fx->labels = malloc(n * sizeof *fx->labels);
  fx->predictions = malloc(n * sizeof *fx->predictions);
  fx->train_counts = malloc(k * sizeof *fx->train_counts);
  fx->support = malloc(k * sizeof *fx->support);
  for (int i = 0; i < 3; i++) fx->per_class[i] = malloc(k * sizeof(double));
  bool ok = fx->labels && fx->predictions && fx->train_counts &&
            fx->support && fx->per_class[0] && fx->per_class[1] &&
            fx->per_class[2];
  ok = ok && read_i32s(file, "labels", fx->labels, fx->samples) &&
       read_i32s(file, "predictions", fx->predictions, fx->samples) &&
       read_i64s(file, "train_counts", fx->train_counts, fx->k) &&
       read_doubles(file, "gmean_correction", &fx->correction, 1);
  for (int i = 0; ok && i < FIXTURE_SCALARS; i++)
    ok = read_doubles(file, fixture_scalar_key[i], &fx->scalars[i], 1);
  ok = ok && read_doubles(file, "precision", fx->per_class[0], fx->k) &&
       read_doubles(file, "recall", fx->per_class[1], fx->k) &&
       read_doubles(file, "f1", fx->per_class[2], fx->k) &&
       read_i64s(file, "support", fx->support, fx->k) &&
       read_key(file, "end");
  if (!ok) fixture_free(fx);
  return ok;
}

/* The whole fixture through the library, fed once as labels and once as
 * one-hot logits; every difference is reported, prefixed by `name`. */
static int check_fixture(const char *name, const metrics_fixture *fx,
                         bool as_logits) {
  const double rel = 1e-12;
  int failures = 0;
  lb_metrics *m = make_metrics(fx->k);
  if (as_logits) {
    float *logits =
        calloc((size_t)fx->samples * (size_t)fx->k, sizeof *logits);
    assert_non_null(logits);
    for (long long i = 0; i < fx->samples; i++)
      logits[i * fx->k + fx->predictions[i]] = 1.f;
    assert_int_equal(
        lb_metrics_add_logits(m, logits, fx->labels, fx->samples), LB_OK);
    free(logits);
  } else {
    add_pairs(m, fx->labels, fx->predictions, fx->samples);
  }
  set_train_counts(m, fx->train_counts, fx->k);
  for (int i = 0; i < FIXTURE_SCALARS; i++) {
    double got;
    if (fixture_scalar_metric[i] < 0) {
      assert_int_equal(lb_metrics_set_gmean_correction(m, fx->correction),
                       LB_OK);
      got = get_metric(m, LB_METRIC_GMEAN);
      assert_int_equal(lb_metrics_set_gmean_correction(m, 0.0), LB_OK);
    } else {
      got = get_metric(m, (lb_metric)fixture_scalar_metric[i]);
    }
    if (!close_enough(got, fx->scalars[i], rel)) {
      print_error("%s: %s = %.17g, reference %.17g\n", name,
                  fixture_scalar_key[i], got, fx->scalars[i]);
      failures++;
    }
  }
  double *values = malloc((size_t)fx->k * sizeof *values);
  assert_non_null(values);
  static const char *const class_keys[4] = {"precision", "recall", "f1",
                                            "support"};
  for (int which = 0; which < 4; which++) {
    assert_int_equal(lb_metrics_get_per_class(m, (lb_class_metric)which,
                                              values, fx->k),
                     LB_OK);
    for (int c = 0; c < fx->k; c++) {
      double want = which == 3 ? (double)fx->support[c]
                               : fx->per_class[which][c];
      if (!close_enough(values[c], want, rel)) {
        print_error("%s: %s[%d] = %.17g, reference %.17g\n", name,
                    class_keys[which], c, values[c], want);
        failures++;
      }
    }
  }
  free(values);
  lb_metrics_free(m);
  return failures;
}

static void test_fixtures_match_scikit_learn_and_imbalanced_learn(
    void **state) {
  (void)state;
  const char *dir = LOSSBAL_TEST_DATA_DIR "/metrics";
  char path[4096];
  snprintf(path, sizeof path, "%s/MANIFEST", dir);
  FILE *manifest = fopen(path, "r");
  if (!manifest)
    fail_msg("cannot open %s; generate the fixtures with "
             "tests/metrics/gen_metrics_fixtures.py",
             path);
  char name[256];
  int cases = 0, failures = 0;
  while (fscanf(manifest, "%255s", name) == 1) {
    cases++;
    snprintf(path, sizeof path, "%s/%s.txt", dir, name);
    FILE *file = fopen(path, "r");
    metrics_fixture fx;
    if (!file || !read_fixture(file, &fx)) {
      print_error("%s: missing or malformed\n", path);
      failures++;
    } else {
      failures += check_fixture(name, &fx, false);
      failures += check_fixture(name, &fx, true);
      fixture_free(&fx);
    }
    if (file) fclose(file);
  }
  fclose(manifest);
  assert_true(cases >= 5);
  if (failures > 0) fail_msg("%d differences from the reference", failures);
}

/* ---- JSON ---------------------------------------------------------------- */

/* cat: TP 1, FN 1; dog: TP 2, FP 1. Precision 1, 2/3; recall 1/2, 1;
 * F1 2/3, 4/5. Training counts 150 and 5: many-shot is cat, few-shot is
 * dog, medium-shot has no class and is null. */
static lb_metrics *make_cat_dog(void) {
  lb_metrics *m = make_metrics(2);
  const int32_t labels[] = {0, 0, 1, 1}, predictions[] = {0, 1, 1, 1};
  add_pairs(m, labels, predictions, 4);
  const int64_t train[] = {150, 5};
  set_train_counts(m, train, 2);
  return m;
}

static const char cat_dog_json[] =
    "{\n"
    "  \"accuracy\": 0.75,\n"
    "  \"macro_precision\": 0.8333333333333333,\n"
    "  \"macro_recall\": 0.75,\n"
    "  \"macro_f1\": 0.7333333333333334,\n"
    "  \"weighted_f1\": 0.7333333333333334,\n"
    "  \"balanced_accuracy\": 0.75,\n"
    "  \"gmean\": 0.7071067811865476,\n"
    "  \"many_shot_accuracy\": 0.5,\n"
    "  \"medium_shot_accuracy\": null,\n"
    "  \"few_shot_accuracy\": 1,\n"
    "  \"s1_f1\": 0.8,\n"
    "  \"s2_f1\": 0.6666666666666666,\n"
    "  \"total\": 4,\n"
    "  \"classes\": [\n"
    "    {\"name\": \"cat\", \"precision\": 1, \"recall\": 0.5, "
    "\"f1\": 0.6666666666666666, \"support\": 2, \"train_count\": 150},\n"
    "    {\"name\": \"dog\", \"precision\": 0.6666666666666666, "
    "\"recall\": 1, \"f1\": 0.8, \"support\": 2, \"train_count\": 5}\n"
    "  ],\n"
    "  \"confusion\": [\n"
    "    [1, 1],\n"
    "    [0, 2]\n"
    "  ]\n"
    "}\n";

static void test_json_writes_every_metric(void **state) {
  (void)state;
  lb_metrics *m = make_cat_dog();
  const char *const names[] = {"cat", "dog"};
  char buffer[2048];
  size_t length = 0;
  assert_int_equal(lb_metrics_to_json(m, names, buffer, sizeof buffer,
                                      &length),
                   LB_OK);
  assert_string_equal(buffer, cat_dog_json);
  assert_int_equal(length, strlen(cat_dog_json));
  lb_metrics_free(m);
}

static void test_json_without_counts_or_names(void **state) {
  (void)state;
  lb_metrics *m = make_metrics(1);
  char buffer[1024];
  size_t length = 0;
  assert_int_equal(lb_metrics_to_json(m, NULL, buffer, sizeof buffer,
                                      &length),
                   LB_OK);
  assert_string_equal(buffer,
                      "{\n"
                      "  \"accuracy\": 0,\n"
                      "  \"macro_precision\": 0,\n"
                      "  \"macro_recall\": 0,\n"
                      "  \"macro_f1\": 0,\n"
                      "  \"weighted_f1\": 0,\n"
                      "  \"balanced_accuracy\": 0,\n"
                      "  \"gmean\": 0,\n"
                      "  \"total\": 0,\n"
                      "  \"classes\": [\n"
                      "    {\"name\": \"0\", \"precision\": 0, \"recall\": 0, "
                      "\"f1\": 0, \"support\": 0}\n"
                      "  ],\n"
                      "  \"confusion\": [\n"
                      "    [0]\n"
                      "  ]\n"
                      "}\n");
  /* One class with counts: S2-F1 has no class and is null. */
  const int64_t train[] = {3};
  set_train_counts(m, train, 1);
  assert_int_equal(lb_metrics_to_json(m, NULL, buffer, sizeof buffer,
                                      &length),
                   LB_OK);
  assert_non_null(strstr(buffer, "\"s2_f1\": null,\n"));
  assert_non_null(strstr(buffer, "\"s1_f1\": 0,\n"));
  lb_metrics_free(m);
}

static void test_json_cuts_like_snprintf(void **state) {
  (void)state;
  lb_metrics *m = make_cat_dog();
  const char *const names[] = {"cat", "dog"};
  size_t full = strlen(cat_dog_json), length = 0;
  /* Only the length: no buffer at all. */
  assert_int_equal(lb_metrics_to_json(m, names, NULL, 0, &length), LB_OK);
  assert_int_equal(length, full);
  const size_t capacities[] = {1, 2, 10, 100, full, full + 1};
  for (size_t i = 0; i < sizeof capacities / sizeof capacities[0]; i++) {
    size_t capacity = capacities[i];
    char buffer[2048];
    memset(buffer, '#', sizeof buffer);
    length = 0;
    assert_int_equal(lb_metrics_to_json(m, names, buffer, capacity, &length),
                     LB_OK);
    assert_int_equal(length, full);
    /* capacity - 1 bytes of the text, the zero, and nothing beyond. */
    size_t kept = capacity - 1 < full ? capacity - 1 : full;
    assert_memory_equal(buffer, cat_dog_json, kept);
    assert_int_equal(buffer[kept], '\0');
    assert_int_equal(buffer[capacity], '#');
  }
  lb_metrics_free(m);
}

static void test_json_escapes_class_names(void **state) {
  (void)state;
  lb_metrics *m = make_metrics(6);
  const char *const names[] = {"a\"b", "tab\t", "\x01",
                               "back\\slash/", "new\nline\r\b\f\x1f\x7f",
                               "caf\xc3\xa9 \xe2\x82\xac"};
  char buffer[4096];
  size_t length = 0;
  assert_int_equal(lb_metrics_to_json(m, names, buffer, sizeof buffer,
                                      &length),
                   LB_OK);
  assert_int_equal(length, strlen(buffer));
  const char *const want[] = {
      "{\"name\": \"a\\\"b\", ",
      "{\"name\": \"tab\\t\", ",
      "{\"name\": \"\\u0001\", ",
      "{\"name\": \"back\\\\slash/\", ",
      "{\"name\": \"new\\nline\\r\\b\\f\\u001f\x7f\", ",
      "{\"name\": \"caf\xc3\xa9 \xe2\x82\xac\", ",
  };
  for (int i = 0; i < 6; i++)
    if (!strstr(buffer, want[i]))
      fail_msg("name %d is not escaped as %s in:\n%s", i, want[i], buffer);
  lb_metrics_free(m);
}

static void test_json_rejects_bad_arguments(void **state) {
  (void)state;
  lb_metrics *m = make_metrics(2);
  const char *const names[] = {"a", NULL};
  char buffer[16];
  size_t length = 0;
  assert_fails_with(lb_metrics_to_json(NULL, NULL, buffer, 16, &length),
                    LB_EINVAL, "lb_metrics_to_json: m is NULL");
  assert_fails_with(lb_metrics_to_json(m, NULL, buffer, 16, NULL), LB_EINVAL,
                    "lb_metrics_to_json: length is NULL");
  assert_fails_with(lb_metrics_to_json(m, NULL, NULL, 16, &length),
                    LB_EINVAL,
                    "lb_metrics_to_json: buffer is NULL but capacity is 16");
  assert_fails_with(lb_metrics_to_json(m, names, buffer, 16, &length),
                    LB_EINVAL, "lb_metrics_to_json: class_names[1] is NULL");
  assert_int_equal(length, 0);
  lb_metrics_free(m);
}

/* ---- CSV ----------------------------------------------------------------- */

static void test_csv_writes_long_form_with_rfc4180_quoting(void **state) {
  (void)state;
  lb_metrics *m = make_metrics(2);
  /* Class 0: TP 1, FP 1; class 1: TP 1, FN 1. P 1/2, 1; R 1, 1/2;
   * F1 2/3, 2/3. */
  const int32_t labels[] = {0, 1, 1}, predictions[] = {0, 1, 0};
  add_pairs(m, labels, predictions, 3);
  const char *const names[] = {"a,b", "say \"hi\""};
  const char want[] =
      "metric,class,value\r\n"
      "accuracy,,0.6666666666666666\r\n"
      "macro_precision,,0.75\r\n"
      "macro_recall,,0.75\r\n"
      "macro_f1,,0.6666666666666666\r\n"
      "weighted_f1,,0.6666666666666666\r\n"
      "balanced_accuracy,,0.75\r\n"
      "gmean,,0.7071067811865476\r\n"
      "precision,\"a,b\",0.5\r\n"
      "recall,\"a,b\",1\r\n"
      "f1,\"a,b\",0.6666666666666666\r\n"
      "support,\"a,b\",1\r\n"
      "precision,\"say \"\"hi\"\"\",1\r\n"
      "recall,\"say \"\"hi\"\"\",0.5\r\n"
      "f1,\"say \"\"hi\"\"\",0.6666666666666666\r\n"
      "support,\"say \"\"hi\"\"\",2\r\n";
  char buffer[2048];
  size_t length = 0;
  assert_int_equal(lb_metrics_to_csv(m, names, buffer, sizeof buffer,
                                     &length),
                   LB_OK);
  assert_string_equal(buffer, want);
  assert_int_equal(length, strlen(want));

  /* Cut short: the first 9 bytes and the zero. */
  char small[10];
  assert_int_equal(lb_metrics_to_csv(m, names, small, sizeof small, &length),
                   LB_OK);
  assert_string_equal(small, "metric,cl");
  assert_int_equal(length, strlen(want));
  lb_metrics_free(m);
}

static void test_csv_writes_nan_as_empty_and_train_counts(void **state) {
  (void)state;
  lb_metrics *m = make_cat_dog();
  const char *const names[] = {"line\nbreak", "plain"};
  char buffer[2048];
  size_t length = 0;
  assert_int_equal(lb_metrics_to_csv(m, names, buffer, sizeof buffer,
                                     &length),
                   LB_OK);
  const char *const want[] = {
      "\r\nmany_shot_accuracy,,0.5\r\n",
      "\r\nmedium_shot_accuracy,,\r\n",
      "\r\ns2_f1,,0.6666666666666666\r\nprecision,\"line\nbreak\",1\r\n",
      "\r\ntrain_count,\"line\nbreak\",150\r\n",
      "\r\ntrain_count,plain,5\r\n",
  };
  for (int i = 0; i < 5; i++)
    if (!strstr(buffer, want[i]))
      fail_msg("CSV lacks %s in:\n%s", want[i], buffer);
  lb_metrics_free(m);
}

static void test_csv_rejects_bad_arguments(void **state) {
  (void)state;
  lb_metrics *m = make_metrics(2);
  const char *const names[] = {NULL, "b"};
  char buffer[16];
  size_t length = 0;
  assert_fails_with(lb_metrics_to_csv(NULL, NULL, buffer, 16, &length),
                    LB_EINVAL, "lb_metrics_to_csv: m is NULL");
  assert_fails_with(lb_metrics_to_csv(m, NULL, buffer, 16, NULL), LB_EINVAL,
                    "lb_metrics_to_csv: length is NULL");
  assert_fails_with(lb_metrics_to_csv(m, NULL, NULL, 1, &length), LB_EINVAL,
                    "lb_metrics_to_csv: buffer is NULL but capacity is 1");
  assert_fails_with(lb_metrics_to_csv(m, names, buffer, 16, &length),
                    LB_EINVAL, "lb_metrics_to_csv: class_names[0] is NULL");
  lb_metrics_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_create_rejects_bad_arguments),
      cmocka_unit_test(test_create_cleans_up_after_each_allocation_failure),
      cmocka_unit_test(test_create_gives_an_empty_matrix),
      cmocka_unit_test(test_null_object_queries_are_harmless),
      cmocka_unit_test(test_reset_empties_the_matrix_but_keeps_the_settings),
      cmocka_unit_test(test_reset_rejects_null),
      cmocka_unit_test(test_add_rejects_bad_arguments_and_adds_nothing),
      cmocka_unit_test(test_add_logits_rejects_bad_arguments),
      cmocka_unit_test(test_nan_logit_is_nonfinite_and_adds_nothing),
      cmocka_unit_test(test_add_logits_takes_the_first_index_on_a_tie),
      cmocka_unit_test(test_batches_accumulate_like_one_batch),
      cmocka_unit_test(test_set_train_counts_rejects_bad_arguments),
      cmocka_unit_test(test_set_gmean_correction_rejects_values_outside_0_1),
      cmocka_unit_test(test_confusion_rejects_bad_arguments),
      cmocka_unit_test(test_get_rejects_bad_arguments),
      cmocka_unit_test(test_get_per_class_rejects_bad_arguments),
      cmocka_unit_test(test_hand_worked_three_class_matrix),
      cmocka_unit_test(test_no_samples_gives_zero_except_nan_shot_accuracies),
      cmocka_unit_test(test_label_sets_follow_scikit_learn),
      cmocka_unit_test(test_shot_groups_follow_the_training_count_bounds),
      cmocka_unit_test(
          test_s1_s2_are_the_smallest_training_classes_ties_lower_index),
      cmocka_unit_test(test_fixtures_match_scikit_learn_and_imbalanced_learn),
      cmocka_unit_test(test_json_writes_every_metric),
      cmocka_unit_test(test_json_without_counts_or_names),
      cmocka_unit_test(test_json_cuts_like_snprintf),
      cmocka_unit_test(test_json_escapes_class_names),
      cmocka_unit_test(test_json_rejects_bad_arguments),
      cmocka_unit_test(test_csv_writes_long_form_with_rfc4180_quoting),
      cmocka_unit_test(test_csv_writes_nan_as_empty_and_train_counts),
      cmocka_unit_test(test_csv_rejects_bad_arguments),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
