/* The per-class tables of the criteria: the weights, logit offsets and
 * margins each kind derives from the training counts, and the per-batch
 * weights of the batch-balanced kind. Everything here is O(K) and writes
 * only into arrays allocated by lb_criterion_create(). */
#include "criterion_internal.h"

#include "softmax_row.h"

#include <math.h>

bool lb_criterion_kind_needs_counts(lb_loss_kind kind) {
  return kind == LB_LOSS_PRIOR_WEIGHTED || kind == LB_LOSS_CLASS_BALANCED ||
         kind == LB_LOSS_LOGIT_ADJUSTED || kind == LB_LOSS_LDAM;
}

/* N = sum_c n_c; set_class_counts checked that it fits in int64_t. */
static double total_count(const lb_criterion *c) {
  int64_t total = 0;
  for (int32_t k = 0; k < c->num_classes; k++) total += c->counts[k];
  return (double)total;
}

/* The float copy PE's smoothing term multiplies rows with. */
static void copy_weights_to_float(lb_criterion *c) {
  for (int32_t k = 0; k < c->num_classes; k++)
    c->dataset_weight_f[k] = (float)c->dataset_weight[k];
}

/* PE: w_c = N / (K n_c), the inverse of the class prior divided by K, so a
 * balanced training set gets weights 1. */
static void prior_weights(lb_criterion *c) {
  double per_class = total_count(c) / c->num_classes;
  for (int32_t k = 0; k < c->num_classes; k++)
    c->dataset_weight[k] = per_class / (double)c->counts[k];
  copy_weights_to_float(c);
}

/* CB (Cui et al.): w_c = (1 - beta) / (1 - beta^n_c), the inverse of the
 * class's "effective number" of samples, rescaled so that sum_c w_c = K. */
static void class_balanced_weights(lb_criterion *c) {
  double beta = c->params[LB_CRIT_BETA];
  double sum = 0.0;
  for (int32_t k = 0; k < c->num_classes; k++) {
    /* 1 - beta^n as -expm1(n log(beta)): no cancellation when beta^n is
     * close to 1 (beta = 0.9999, small n). beta = 0 has effective number 1. */
    double one_minus_power =
        beta == 0.0 ? 1.0 : -expm1((double)c->counts[k] * log(beta));
    c->dataset_weight[k] = (1.0 - beta) / one_minus_power;
    sum += c->dataset_weight[k];
  }
  for (int32_t k = 0; k < c->num_classes; k++)
    c->dataset_weight[k] *= c->num_classes / sum;
  copy_weights_to_float(c);
}

/* LA (Menon et al.): offsets tau log(n_c / N) added to the logits. The
 * largest magnitude lets compute reject logits the offset would take beyond
 * the float range. */
static void log_prior_offsets(lb_criterion *c) {
  double tau = c->params[LB_CRIT_TAU];
  double log_total = log(total_count(c));
  c->max_abs_offset = 0.0;
  for (int32_t k = 0; k < c->num_classes; k++) {
    double offset = tau * (log((double)c->counts[k]) - log_total);
    c->log_prior_offset[k] = (float)offset;
    c->max_abs_offset = fmax(c->max_abs_offset, fabs(offset));
  }
}

/* LDAM (Cao et al.): d_c = max_margin n_c^(-1/4) / max_j n_j^(-1/4). The
 * largest n^(-1/4) is that of the rarest class, so
 * d_c = max_margin (n_min / n_c)^(1/4), which never overflows. */
static void ldam_margins(lb_criterion *c) {
  double max_margin = c->params[LB_CRIT_LDAM_MAX_MARGIN];
  int64_t rarest = c->counts[0];
  for (int32_t k = 1; k < c->num_classes; k++)
    if (c->counts[k] < rarest) rarest = c->counts[k];
  c->max_margin_value = 0.0;
  for (int32_t k = 0; k < c->num_classes; k++) {
    c->margin[k] = max_margin * pow((double)rarest / (double)c->counts[k], 0.25);
    c->max_margin_value = fmax(c->max_margin_value, c->margin[k]);
  }
}

void lb_criterion_refresh_tables(lb_criterion *c) {
  if (!c->has_counts) return;
  switch (c->kind) {
    case LB_LOSS_PRIOR_WEIGHTED: prior_weights(c); break;
    case LB_LOSS_CLASS_BALANCED: class_balanced_weights(c); break;
    case LB_LOSS_LOGIT_ADJUSTED: log_prior_offsets(c); break;
    case LB_LOSS_LDAM: ldam_margins(c); break;
    default: break; /* the other kinds do not use the counts */
  }
}

/* LE (the paper): w_c = 1 / b_c over the classes present in the batch, so
 * every class present carries the same total weight, 1. */
static void batch_balanced_weights(lb_criterion *c) {
  for (int32_t k = 0; k < c->num_classes; k++)
    c->batch_weight[k] =
        c->batch_count[k] > 0 ? 1.0 / (double)c->batch_count[k] : 0.0;
}

/* sum_i w_{y_i} over the samples kept, from the batch's class counts. */
static double batch_weight_sum(const lb_criterion *c, const double *weight) {
  double sum = 0.0;
  for (int32_t k = 0; k < c->num_classes; k++)
    sum += (double)c->batch_count[k] * weight[k];
  return sum;
}

lb_batch_plan lb_criterion_plan_batch(lb_criterion *c, int64_t valid_samples,
                                      double max_abs_input) {
  lb_batch_plan plan = {NULL, (double)valid_samples, valid_samples,
                        !(max_abs_input <= LB_EXP_ARGUMENT_MAX)};
  switch (c->kind) {
    case LB_LOSS_BATCH_BALANCED:
      batch_balanced_weights(c);
      plan.class_weight = c->batch_weight;
      plan.denominator = batch_weight_sum(c, c->batch_weight);
      break;
    case LB_LOSS_PRIOR_WEIGHTED:
      /* PyTorch's weighted mean: divide by the weights of the samples. */
      plan.class_weight = c->dataset_weight;
      plan.denominator = batch_weight_sum(c, c->dataset_weight);
      break;
    case LB_LOSS_CLASS_BALANCED:
      /* Cui et al. divide by the number of samples, not by the weights. */
      plan.class_weight = c->dataset_weight;
      break;
    default:
      break; /* unweighted mean over the samples kept */
  }
  return plan;
}
