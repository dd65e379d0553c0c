/* The metrics object's state and the metric arithmetic, shared by the API in
 * metrics.c and the writers in metrics_export.c. Never installed. */
#ifndef LOSSBAL_METRICS_INTERNAL_H
#define LOSSBAL_METRICS_INTERNAL_H

#include "lossbal/metrics.h"

#include <stdbool.h>
#include <stdint.h>

/* Number of lb_metric and lb_class_metric values. */
#define LB_METRIC_COUNT 12
#define LB_CLASS_METRIC_COUNT 4

struct lb_metrics {
  int32_t num_classes; /* K */
  int64_t total;       /* samples added since create or reset */

  /* K x K counts, confusion[true * K + predicted]. */
  int64_t *confusion;
  /* Row and column sums of the matrix, kept up to date by every add so a
   * metric costs O(K) rather than O(K^2). */
  int64_t *true_count;      /* support_c */
  int64_t *predicted_count; /* TP_c + FP_c */

  /* Allocated by create so that setting the counts cannot fail for want of
   * memory; meaningful only when has_train_counts. */
  bool has_train_counts;
  int64_t *train_counts;

  double gmean_correction;
};

/* The value of one scalar metric. The caller has checked that `which` is
 * known and that the training counts are set when the metric needs them.
 * S2-F1 with a single class, which has no second class, is NaN. */
double lb_metrics_scalar_value(const lb_metrics *m, lb_metric which);

/* The value of one per-class metric of class c; `which` is known and
 * 0 <= c < K. */
double lb_metrics_class_value(const lb_metrics *m, lb_class_metric which,
                              int32_t c);

/* The name of a known scalar metric, as lb_metrics_to_json() writes it. */
const char *lb_metrics_scalar_name(lb_metric which);

/* True for the scalar metrics that depend on the training counts. */
bool lb_metrics_needs_train_counts(lb_metric which);

#endif /* LOSSBAL_METRICS_INTERNAL_H */
