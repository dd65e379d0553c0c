/* The metrics API: life cycle, adding batches (every batch is checked in
 * full before it is counted), settings, and the metric arithmetic over the
 * confusion matrix. The text writers are in metrics_export.c. */
#include "metrics_internal.h"

#include "../core/core_internal.h"

#include <math.h>
#include <string.h>

/* The largest K: a K x K matrix of int64 counts is then 32 GiB, already
 * more than is sensible. */
#define MAX_CLASSES 65536

/* Training-count bounds of the shot groups (Kang et al.): many-shot above
 * 100, medium-shot 20 to 100, few-shot below 20. */
#define MANY_SHOT_ABOVE 100
#define FEW_SHOT_BELOW 20

/* ---- life cycle ---------------------------------------------------------- */

/* count int64 counters, zeroed, or NULL (message recorded) when the size
 * overflows or the allocation fails. */
static int64_t *allocate_counters(size_t count) {
  size_t bytes;
  if (!lb_mul_size(count, sizeof(int64_t), &bytes)) {
    lb_fail(LB_ENOMEM, "out of memory: %zu counters overflow the address space",
            count);
    return NULL;
  }
  return lb_alloc_zeroed(bytes);
}

lb_status lb_metrics_create(int32_t num_classes, lb_metrics **out) {
  if (!out) return lb_fail(LB_EINVAL, "lb_metrics_create: out is NULL");
  if (num_classes < 1 || num_classes > MAX_CLASSES)
    return lb_fail(LB_EINVAL,
                   "lb_metrics_create: num_classes = %d is outside [1, %d]",
                   (int)num_classes, MAX_CLASSES);
  lb_metrics *m = lb_alloc_zeroed(sizeof *m);
  if (!m) return LB_ENOMEM;
  size_t k = (size_t)num_classes, cells;
  m->num_classes = num_classes;
  /* K <= 65536, so K * K overflows only a 32-bit size_t; then the
   * allocation is refused as too large. */
  if (!lb_mul_size(k, k, &cells)) cells = SIZE_MAX;
  m->confusion = allocate_counters(cells);
  if (m->confusion) m->true_count = allocate_counters(k);
  if (m->true_count) m->predicted_count = allocate_counters(k);
  if (m->predicted_count) m->train_counts = allocate_counters(k);
  if (!m->train_counts) {
    lb_metrics_free(m);
    return LB_ENOMEM;
  }
  *out = m;
  return LB_OK;
}

void lb_metrics_free(lb_metrics *m) {
  if (!m) return;
  lb_free(m->confusion);
  lb_free(m->true_count);
  lb_free(m->predicted_count);
  lb_free(m->train_counts);
  lb_free(m);
}

lb_status lb_metrics_reset(lb_metrics *m) {
  if (!m) return lb_fail(LB_EINVAL, "lb_metrics_reset: m is NULL");
  size_t k = (size_t)m->num_classes;
  /* The matrix was allocated with this many bytes, so the product fits. */
  memset(m->confusion, 0, k * k * sizeof *m->confusion);
  memset(m->true_count, 0, k * sizeof *m->true_count);
  memset(m->predicted_count, 0, k * sizeof *m->predicted_count);
  m->total = 0;
  return LB_OK;
}

int32_t lb_metrics_num_classes(const lb_metrics *m) {
  return m ? m->num_classes : 0;
}

int64_t lb_metrics_total(const lb_metrics *m) { return m ? m->total : 0; }

/* ---- adding samples ------------------------------------------------------ */

/* Fails naming the first entry of `labels` outside [0, K - 1]. */
static lb_status check_labels(const char *who, const char *array_name,
                              const int32_t *labels, int64_t count,
                              int32_t num_classes) {
  for (int64_t i = 0; i < count; i++)
    if (labels[i] < 0 || labels[i] >= num_classes)
      return lb_fail(LB_EINVAL, "%s: %s[%lld] = %d is outside [0, %d]", who,
                     array_name, (long long)i, (int)labels[i],
                     (int)num_classes - 1);
  return LB_OK;
}

/* Counts one sample; both labels are in range. */
static void count_sample(lb_metrics *m, int32_t truth, int32_t predicted) {
  m->confusion[(size_t)truth * (size_t)m->num_classes + (size_t)predicted]++;
  m->true_count[truth]++;
  m->predicted_count[predicted]++;
  m->total++;
}

lb_status lb_metrics_add(lb_metrics *m, const int32_t *labels,
                         const int32_t *predictions, int64_t count) {
  static const char who[] = "lb_metrics_add";
  if (!m || !labels || !predictions)
    return lb_fail(LB_EINVAL, "%s: %s is NULL", who,
                   !m ? "m" : !labels ? "labels" : "predictions");
  if (count < 0)
    return lb_fail(LB_EINVAL, "%s: count = %lld is negative", who,
                   (long long)count);
  lb_status status = check_labels(who, "labels", labels, count,
                                  m->num_classes);
  if (status == LB_OK)
    status = check_labels(who, "predictions", predictions, count,
                          m->num_classes);
  if (status != LB_OK) return status;
  for (int64_t i = 0; i < count; i++)
    count_sample(m, labels[i], predictions[i]);
  return LB_OK;
}

/* Fails naming the first NaN logit: NaN has no place in an argmax. */
static lb_status check_logits_have_no_nan(const float *logits, int64_t count,
                                          int32_t num_classes) {
  for (int64_t i = 0; i < count; i++) {
    const float *row = logits + i * num_classes;
    for (int32_t j = 0; j < num_classes; j++)
      if (isnan(row[j]))
        return lb_fail(LB_ENONFINITE,
                       "lb_metrics_add_logits: logits[%lld][%d] is NaN",
                       (long long)i, (int)j);
  }
  return LB_OK;
}

/* The index of the largest of n values, the first of equal ones. */
static int32_t row_argmax(const float *row, int32_t n) {
  int32_t best = 0;
  for (int32_t j = 1; j < n; j++)
    if (row[j] > row[best]) best = j;
  return best;
}

lb_status lb_metrics_add_logits(lb_metrics *m, const float *logits,
                                const int32_t *labels, int64_t count) {
  static const char who[] = "lb_metrics_add_logits";
  if (!m || !logits || !labels)
    return lb_fail(LB_EINVAL, "%s: %s is NULL", who,
                   !m ? "m" : !logits ? "logits" : "labels");
  if (count < 0)
    return lb_fail(LB_EINVAL, "%s: count = %lld is negative", who,
                   (long long)count);
  /* Row i starts at i * K; a count whose logits cannot even be indexed is
   * refused rather than read past. */
  int64_t elements;
  if (!lb_mul_i64(count, m->num_classes, &elements))
    return lb_fail(LB_EINVAL,
                   "%s: count = %lld rows of K = %d logits overflow int64",
                   who, (long long)count, (int)m->num_classes);
  lb_status status = check_labels(who, "labels", labels, count,
                                  m->num_classes);
  if (status == LB_OK)
    status = check_logits_have_no_nan(logits, count, m->num_classes);
  if (status != LB_OK) return status;
  for (int64_t i = 0; i < count; i++)
    count_sample(m, labels[i],
                 row_argmax(logits + i * m->num_classes, m->num_classes));
  return LB_OK;
}

/* ---- settings ------------------------------------------------------------ */

lb_status lb_metrics_set_train_counts(lb_metrics *m, const int64_t *counts,
                                      int32_t num_classes) {
  static const char who[] = "lb_metrics_set_train_counts";
  if (!m || !counts)
    return lb_fail(LB_EINVAL, "%s: %s is NULL", who, !m ? "m" : "counts");
  if (num_classes != m->num_classes)
    return lb_fail(LB_EINVAL,
                   "%s: num_classes = %d, but the metrics have %d classes",
                   who, (int)num_classes, (int)m->num_classes);
  for (int32_t c = 0; c < num_classes; c++)
    if (counts[c] < 0)
      return lb_fail(LB_EINVAL, "%s: counts[%d] = %lld is negative", who,
                     (int)c, (long long)counts[c]);
  memcpy(m->train_counts, counts, (size_t)num_classes * sizeof *counts);
  m->has_train_counts = true;
  return LB_OK;
}

lb_status lb_metrics_set_gmean_correction(lb_metrics *m, double correction) {
  if (!m)
    return lb_fail(LB_EINVAL, "lb_metrics_set_gmean_correction: m is NULL");
  if (!(correction >= 0.0 && correction <= 1.0))
    return lb_fail(LB_EINVAL,
                   "lb_metrics_set_gmean_correction: correction = %g is "
                   "outside [0, 1]",
                   correction);
  m->gmean_correction = correction;
  return LB_OK;
}

/* ---- per-class arithmetic ------------------------------------------------ */

/* num / den, or 0 when den is 0 (scikit-learn's zero_division=0). */
static double ratio_or_zero(double num, double den) {
  return den == 0.0 ? 0.0 : num / den;
}

static int64_t true_positives(const lb_metrics *m, int32_t c) {
  return m->confusion[(size_t)c * (size_t)m->num_classes + (size_t)c];
}

static double class_precision(const lb_metrics *m, int32_t c) {
  return ratio_or_zero((double)true_positives(m, c),
                       (double)m->predicted_count[c]);
}

static double class_recall(const lb_metrics *m, int32_t c) {
  return ratio_or_zero((double)true_positives(m, c),
                       (double)m->true_count[c]);
}

/* 2 TP / (2 TP + FP + FN), whose denominator is support + predicted: one
 * division, so no rounding of P and R on the way. */
static double class_f1(const lb_metrics *m, int32_t c) {
  return ratio_or_zero(2.0 * (double)true_positives(m, c),
                       (double)m->true_count[c] +
                           (double)m->predicted_count[c]);
}

double lb_metrics_class_value(const lb_metrics *m, lb_class_metric which,
                              int32_t c) {
  switch (which) {
    case LB_CLASS_PRECISION: return class_precision(m, c);
    case LB_CLASS_RECALL: return class_recall(m, c);
    case LB_CLASS_F1: return class_f1(m, c);
    case LB_CLASS_SUPPORT: return (double)m->true_count[c];
  }
  return NAN; /* unreachable: the caller checked `which` */
}

/* scikit-learn's default label set: the class is a true label or a
 * prediction of some sample. */
static bool class_occurs(const lb_metrics *m, int32_t c) {
  return m->true_count[c] > 0 || m->predicted_count[c] > 0;
}

/* ---- scalar arithmetic --------------------------------------------------- */

static double accuracy(const lb_metrics *m) {
  int64_t correct = 0;
  for (int32_t c = 0; c < m->num_classes; c++) correct += true_positives(m, c);
  return ratio_or_zero((double)correct, (double)m->total);
}

/* The mean of a per-class metric over the classes that occur; 0 when none
 * does. Long double, so the sum of many classes loses nothing. */
static double macro_average(const lb_metrics *m,
                            double (*class_metric)(const lb_metrics *,
                                                   int32_t)) {
  long double sum = 0.0L;
  int32_t classes = 0;
  for (int32_t c = 0; c < m->num_classes; c++)
    if (class_occurs(m, c)) {
      sum += class_metric(m, c);
      classes++;
    }
  return classes == 0 ? 0.0 : (double)(sum / classes);
}

static double weighted_f1(const lb_metrics *m) {
  long double sum = 0.0L;
  for (int32_t c = 0; c < m->num_classes; c++)
    sum += (long double)class_f1(m, c) * (long double)m->true_count[c];
  return m->total == 0 ? 0.0 : (double)(sum / (long double)m->total);
}

static double balanced_accuracy(const lb_metrics *m) {
  long double sum = 0.0L;
  int32_t classes = 0;
  for (int32_t c = 0; c < m->num_classes; c++)
    if (m->true_count[c] > 0) {
      sum += class_recall(m, c);
      classes++;
    }
  return classes == 0 ? 0.0 : (double)(sum / classes);
}

/* imbalanced-learn's multiclass geometric_mean_score: exp of the mean log
 * recall over the classes that occur, a zero recall replaced by the
 * correction. A zero that remains makes the mean 0 (scipy's gmean gives
 * exp(-inf) = 0 too). */
static double gmean(const lb_metrics *m) {
  long double log_sum = 0.0L;
  int32_t classes = 0;
  for (int32_t c = 0; c < m->num_classes; c++) {
    if (!class_occurs(m, c)) continue;
    double recall = class_recall(m, c);
    if (recall == 0.0) recall = m->gmean_correction;
    if (recall == 0.0) return 0.0;
    log_sum += logl((long double)recall);
    classes++;
  }
  return classes == 0 ? 0.0 : (double)expl(log_sum / classes);
}

/* The mean recall over the classes with a training count in
 * [lowest, highest] that occur as a true label; NaN when there is none. */
static double shot_accuracy(const lb_metrics *m, int64_t lowest,
                            int64_t highest) {
  long double sum = 0.0L;
  int32_t classes = 0;
  for (int32_t c = 0; c < m->num_classes; c++) {
    int64_t trained = m->train_counts[c];
    if (trained < lowest || trained > highest || m->true_count[c] == 0)
      continue;
    sum += class_recall(m, c);
    classes++;
  }
  return classes == 0 ? NAN : (double)(sum / classes);
}

/* The classes with the smallest and second-smallest training count, ties
 * to the lower index; *second is -1 with a single class. */
static void find_smallest_train_classes(const lb_metrics *m, int32_t *first,
                                        int32_t *second) {
  const int64_t *counts = m->train_counts;
  *first = 0;
  *second = -1;
  /* Classes are visited in index order and only a strictly smaller count
   * displaces a class, so ties keep the lower index. */
  for (int32_t c = 1; c < m->num_classes; c++) {
    if (counts[c] < counts[*first]) {
      *second = *first;
      *first = c;
    } else if (*second < 0 || counts[c] < counts[*second]) {
      *second = c;
    }
  }
}

static double smallest_class_f1(const lb_metrics *m, int rank) {
  int32_t first, second;
  find_smallest_train_classes(m, &first, &second);
  int32_t c = rank == 1 ? first : second;
  return c < 0 ? NAN : class_f1(m, c);
}

const char *lb_metrics_scalar_name(lb_metric which) {
  static const char *const names[LB_METRIC_COUNT] = {
      [LB_METRIC_ACCURACY] = "accuracy",
      [LB_METRIC_MACRO_PRECISION] = "macro_precision",
      [LB_METRIC_MACRO_RECALL] = "macro_recall",
      [LB_METRIC_MACRO_F1] = "macro_f1",
      [LB_METRIC_WEIGHTED_F1] = "weighted_f1",
      [LB_METRIC_BALANCED_ACCURACY] = "balanced_accuracy",
      [LB_METRIC_GMEAN] = "gmean",
      [LB_METRIC_MANY_SHOT_ACCURACY] = "many_shot_accuracy",
      [LB_METRIC_MEDIUM_SHOT_ACCURACY] = "medium_shot_accuracy",
      [LB_METRIC_FEW_SHOT_ACCURACY] = "few_shot_accuracy",
      [LB_METRIC_S1_F1] = "s1_f1",
      [LB_METRIC_S2_F1] = "s2_f1"};
  return names[which];
}

bool lb_metrics_needs_train_counts(lb_metric which) {
  return which == LB_METRIC_MANY_SHOT_ACCURACY ||
         which == LB_METRIC_MEDIUM_SHOT_ACCURACY ||
         which == LB_METRIC_FEW_SHOT_ACCURACY || which == LB_METRIC_S1_F1 ||
         which == LB_METRIC_S2_F1;
}

double lb_metrics_scalar_value(const lb_metrics *m, lb_metric which) {
  switch (which) {
    case LB_METRIC_ACCURACY: return accuracy(m);
    case LB_METRIC_MACRO_PRECISION: return macro_average(m, class_precision);
    case LB_METRIC_MACRO_RECALL: return macro_average(m, class_recall);
    case LB_METRIC_MACRO_F1: return macro_average(m, class_f1);
    case LB_METRIC_WEIGHTED_F1: return weighted_f1(m);
    case LB_METRIC_BALANCED_ACCURACY: return balanced_accuracy(m);
    case LB_METRIC_GMEAN: return gmean(m);
    case LB_METRIC_MANY_SHOT_ACCURACY:
      return shot_accuracy(m, MANY_SHOT_ABOVE + 1, INT64_MAX);
    case LB_METRIC_MEDIUM_SHOT_ACCURACY:
      return shot_accuracy(m, FEW_SHOT_BELOW, MANY_SHOT_ABOVE);
    case LB_METRIC_FEW_SHOT_ACCURACY:
      return shot_accuracy(m, 0, FEW_SHOT_BELOW - 1);
    case LB_METRIC_S1_F1: return smallest_class_f1(m, 1);
    case LB_METRIC_S2_F1: return smallest_class_f1(m, 2);
  }
  return NAN; /* unreachable: the caller checked `which` */
}

/* ---- queries ------------------------------------------------------------- */

lb_status lb_metrics_confusion(const lb_metrics *m, int64_t *matrix,
                               int64_t capacity) {
  static const char who[] = "lb_metrics_confusion";
  if (!m || !matrix)
    return lb_fail(LB_EINVAL, "%s: %s is NULL", who, !m ? "m" : "matrix");
  int64_t cells = (int64_t)m->num_classes * m->num_classes;
  if (capacity < cells)
    return lb_fail(LB_EINVAL,
                   "%s: capacity = %lld is less than K * K = %lld", who,
                   (long long)capacity, (long long)cells);
  memcpy(matrix, m->confusion, (size_t)cells * sizeof *matrix);
  return LB_OK;
}

lb_status lb_metrics_get(const lb_metrics *m, lb_metric which,
                         double *value) {
  static const char who[] = "lb_metrics_get";
  if (!m || !value)
    return lb_fail(LB_EINVAL, "%s: %s is NULL", who, !m ? "m" : "value");
  if ((int)which < 0 || (int)which >= LB_METRIC_COUNT)
    return lb_fail(LB_EUNSUPPORTED, "%s: unknown metric %d", who, (int)which);
  if (lb_metrics_needs_train_counts(which) && !m->has_train_counts)
    return lb_fail(LB_ESTATE,
                   "%s: %s needs the training counts; call "
                   "lb_metrics_set_train_counts() first",
                   who, lb_metrics_scalar_name(which));
  if (which == LB_METRIC_S2_F1 && m->num_classes < 2)
    return lb_fail(LB_ESTATE,
                   "%s: s2_f1 needs a second class, but there is only one",
                   who);
  *value = lb_metrics_scalar_value(m, which);
  return LB_OK;
}

lb_status lb_metrics_get_per_class(const lb_metrics *m, lb_class_metric which,
                                   double *values, int32_t capacity) {
  static const char who[] = "lb_metrics_get_per_class";
  if (!m || !values)
    return lb_fail(LB_EINVAL, "%s: %s is NULL", who, !m ? "m" : "values");
  if ((int)which < 0 || (int)which >= LB_CLASS_METRIC_COUNT)
    return lb_fail(LB_EUNSUPPORTED, "%s: unknown metric %d", who, (int)which);
  if (capacity < m->num_classes)
    return lb_fail(LB_EINVAL, "%s: capacity = %d is less than K = %d", who,
                   (int)capacity, (int)m->num_classes);
  for (int32_t c = 0; c < m->num_classes; c++)
    values[c] = lb_metrics_class_value(m, which, c);
  return LB_OK;
}
