/*
 * liblossbal metrics: the confusion matrix and the numbers reported for
 * imbalanced classification.
 */
#ifndef LOSSBAL_METRICS_H
#define LOSSBAL_METRICS_H

#include "lossbal/lossbal.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @defgroup metrics Metrics for imbalanced classification
 *
 * An ::lb_metrics accumulates a K x K confusion matrix over batches (row:
 * true class, column: predicted class) and derives from it the numbers
 * people report for imbalanced problems. Conventions follow scikit-learn
 * with `zero_division=0`:
 *
 *  - precision_c = TP_c / (TP_c + FP_c), recall_c = TP_c / support_c,
 *    F1_c = 2 TP_c / (2 TP_c + FP_c + FN_c); a ratio with a zero denominator
 *    is 0.
 *  - Macro averages (precision, recall, F1) are over the classes that occur
 *    as a true label or a prediction (scikit-learn's default label set).
 *  - Weighted F1 weighs F1_c by support_c.
 *  - Balanced accuracy is the mean recall over the classes that occur as a
 *    true label (scikit-learn's `balanced_accuracy_score`).
 *  - G-mean is imbalanced-learn's `geometric_mean_score` (multiclass): the
 *    geometric mean of the recalls of the classes that occur as a true label
 *    or a prediction, where a recall of 0 is replaced by the correction
 *    (lb_metrics_set_gmean_correction(); 0 by default, as imbalanced-learn).
 *  - Many-, medium- and few-shot accuracy, given the training counts: the
 *    mean recall over the classes with more than 100, 20 to 100, and fewer
 *    than 20 training samples that occur as a true label (as in Kang et al.,
 *    "Decoupling representation and classifier"); NaN when a group has no
 *    such class.
 *  - S1-F1 and S2-F1 (the seed paper's columns, our reading): the F1 of the
 *    class with the smallest and the second-smallest training count (a tie
 *    goes to the lower class index).
 *
 * A metrics object is not safe for concurrent use from several threads.
 *  @{ */

/** Opaque metrics handle. */
typedef struct lb_metrics lb_metrics;

/** Scalar metrics for lb_metrics_get(). Values are fixed and
 *  append-only. */
typedef enum lb_metric {
  LB_METRIC_ACCURACY = 0,          /**< correct / total */
  LB_METRIC_MACRO_PRECISION = 1,   /**< macro-averaged precision */
  LB_METRIC_MACRO_RECALL = 2,      /**< macro-averaged recall */
  LB_METRIC_MACRO_F1 = 3,          /**< macro-averaged F1 */
  LB_METRIC_WEIGHTED_F1 = 4,       /**< support-weighted F1 */
  LB_METRIC_BALANCED_ACCURACY = 5, /**< mean recall over true classes */
  LB_METRIC_GMEAN = 6,             /**< geometric mean of the recalls */
  LB_METRIC_MANY_SHOT_ACCURACY = 7,   /**< > 100 training samples */
  LB_METRIC_MEDIUM_SHOT_ACCURACY = 8, /**< 20 to 100 training samples */
  LB_METRIC_FEW_SHOT_ACCURACY = 9,    /**< < 20 training samples */
  LB_METRIC_S1_F1 = 10, /**< F1 of the smallest training class */
  LB_METRIC_S2_F1 = 11  /**< F1 of the second-smallest training class */
} lb_metric;

/** Per-class metrics for lb_metrics_get_per_class(). Values are fixed and
 *  append-only. */
typedef enum lb_class_metric {
  LB_CLASS_PRECISION = 0, /**< TP / (TP + FP) */
  LB_CLASS_RECALL = 1,    /**< TP / support */
  LB_CLASS_F1 = 2,        /**< 2 TP / (2 TP + FP + FN) */
  LB_CLASS_SUPPORT = 3    /**< samples whose true label is the class */
} lb_class_metric;

/**
 * Creates an empty confusion matrix of K classes.
 *
 * @param num_classes K, 1 to 65536; the matrix takes 8 K^2 bytes (32 GiB
 *        at the limit).
 * @param out receives the object, released with lb_metrics_free().
 * @return ::LB_OK; ::LB_EINVAL for a NULL pointer or K out of range;
 *         ::LB_ENOMEM.
 */
LB_API lb_status lb_metrics_create(int32_t num_classes, lb_metrics **out);

/** Releases a metrics object. NULL is allowed. */
LB_API void lb_metrics_free(lb_metrics *m);

/** Empties the confusion matrix; the training counts and the G-mean
 *  correction stay. @return ::LB_OK, or ::LB_EINVAL for NULL. */
LB_API lb_status lb_metrics_reset(lb_metrics *m);

/** The number of classes, or 0 for NULL. */
LB_API int32_t lb_metrics_num_classes(const lb_metrics *m);

/** The number of samples added, or 0 for NULL. */
LB_API int64_t lb_metrics_total(const lb_metrics *m);

/**
 * Adds a batch of (true label, predicted label) pairs.
 *
 * @param m the metrics.
 * @param labels `count` true labels, each 0 to K - 1.
 * @param predictions `count` predicted labels, each 0 to K - 1.
 * @param count the batch size, >= 0.
 * @return ::LB_OK; ::LB_EINVAL for a NULL pointer, a negative count or a
 *         label out of range (the message gives its position; nothing is
 *         added then).
 */
LB_API lb_status lb_metrics_add(lb_metrics *m, const int32_t *labels,
                                const int32_t *predictions, int64_t count);

/**
 * Adds a batch of logits: the prediction of a row is its largest logit (the
 * first on a tie, as `argmax`).
 *
 * @param m the metrics.
 * @param logits `[count][K]` floats.
 * @param labels `count` true labels, each 0 to K - 1.
 * @param count the batch size, >= 0.
 * @return ::LB_OK; ::LB_EINVAL as lb_metrics_add(); ::LB_ENONFINITE when a
 *         logit is NaN (nothing is added then).
 */
LB_API lb_status lb_metrics_add_logits(lb_metrics *m, const float *logits,
                                       const int32_t *labels, int64_t count);

/**
 * Sets the training count of every class, used by the shot accuracies and
 * S1/S2-F1.
 *
 * @param m the metrics.
 * @param counts K counts, each >= 0.
 * @param num_classes K.
 * @return ::LB_OK, or ::LB_EINVAL for a NULL pointer, a wrong K or a
 *         negative count.
 */
LB_API lb_status lb_metrics_set_train_counts(lb_metrics *m,
                                             const int64_t *counts,
                                             int32_t num_classes);

/**
 * Sets the value that replaces a zero recall in the G-mean (imbalanced-
 * learn's `correction`), 0 to 1; 0 by default.
 *
 * @return ::LB_OK, or ::LB_EINVAL for NULL or a value outside [0, 1].
 */
LB_API lb_status lb_metrics_set_gmean_correction(lb_metrics *m,
                                                 double correction);

/**
 * Copies the confusion matrix.
 *
 * @param m the metrics.
 * @param matrix receives K * K counts, row-major, `matrix[true * K + pred]`.
 * @param capacity the length of @p matrix, >= K * K.
 * @return ::LB_OK, or ::LB_EINVAL for a NULL pointer or a short array.
 */
LB_API lb_status lb_metrics_confusion(const lb_metrics *m, int64_t *matrix,
                                      int64_t capacity);

/**
 * One scalar metric.
 *
 * @param m the metrics.
 * @param which the metric.
 * @param value receives it; 0 when no sample was added (NaN for the shot
 *        accuracies of an empty group).
 * @return ::LB_OK; ::LB_EINVAL for a NULL pointer; ::LB_EUNSUPPORTED for an
 *         unknown metric; ::LB_ESTATE for a shot accuracy or S1/S2-F1 before
 *         lb_metrics_set_train_counts(), or S2-F1 with one class (the
 *         exports write it as null, or an empty CSV value, then).
 */
LB_API lb_status lb_metrics_get(const lb_metrics *m, lb_metric which,
                                double *value);

/**
 * One per-class metric for every class.
 *
 * @param m the metrics.
 * @param which the metric.
 * @param values receives K values.
 * @param capacity the length of @p values, >= K.
 * @return ::LB_OK; ::LB_EINVAL for a NULL pointer or a short array;
 *         ::LB_EUNSUPPORTED for an unknown metric.
 */
LB_API lb_status lb_metrics_get_per_class(const lb_metrics *m,
                                          lb_class_metric which,
                                          double *values, int32_t capacity);

/**
 * Writes every metric as a JSON object: the scalars (by the names
 * "accuracy", "macro_precision", "macro_recall", "macro_f1", "weighted_f1",
 * "balanced_accuracy", "gmean", and, when training counts are set,
 * "many_shot_accuracy", "medium_shot_accuracy", "few_shot_accuracy",
 * "s1_f1", "s2_f1"; NaN is written as null), "total", "classes" (an array of
 * objects with "name", "precision", "recall", "f1", "support" and, when
 * set, "train_count") and "confusion" (an array of rows). Like snprintf,
 * it writes at most @p capacity bytes including the terminating zero and
 * always reports the full length. Numbers are the shortest decimal that
 * reads back as the same double, with '.' whatever the locale; whitespace
 * and line breaks are not part of the contract.
 *
 * @param m the metrics.
 * @param class_names K names (escaped as JSON strings), or NULL for "0",
 *        "1", ...
 * @param buffer receives the text; may be NULL when @p capacity is 0.
 * @param capacity the size of @p buffer.
 * @param length receives the length of the whole text, without the
 *        terminating zero.
 * @return ::LB_OK (also when the text was cut short: compare @p length with
 *         @p capacity); ::LB_EINVAL for a NULL pointer.
 */
LB_API lb_status lb_metrics_to_json(const lb_metrics *m,
                                    const char *const *class_names,
                                    char *buffer, size_t capacity,
                                    size_t *length);

/**
 * Writes the metrics as CSV in long form, one value per line, under the
 * header line `metric,class,value`: first the scalars of
 * lb_metrics_to_json() with an empty class field (`macro_f1,,0.8125`; NaN
 * as an empty value), then for each class its `precision`, `recall`, `f1`,
 * `support` and, when set, `train_count` (`f1,Trouser,0.9`). Lines end with
 * CRLF and a field holding a comma, quote or line break is quoted, as RFC
 * 4180 asks. Buffer handling as lb_metrics_to_json().
 */
LB_API lb_status lb_metrics_to_csv(const lb_metrics *m,
                                   const char *const *class_names,
                                   char *buffer, size_t capacity,
                                   size_t *length);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* LOSSBAL_METRICS_H */
