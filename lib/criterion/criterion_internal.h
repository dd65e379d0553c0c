/* The criterion's state, for the files of lib/criterion. Never installed. */
#ifndef LOSSBAL_CRITERION_INTERNAL_H
#define LOSSBAL_CRITERION_INTERNAL_H

#include "lossbal/criterion.h"

#include <stdbool.h>
#include <stdint.h>

/* Number of lb_criterion_param values. */
#define LB_CRIT_PARAM_COUNT 7

/* A batch is computed in at most this many chunks of rows, in parallel; each
 * chunk needs its own two scratch rows. */
#define LB_CRITERION_MAX_CHUNKS 16

struct lb_criterion {
  lb_loss_kind kind;
  int32_t num_classes;                 /* K */
  double params[LB_CRIT_PARAM_COUNT];  /* indexed by lb_criterion_param */

  /* Training counts and what the kinds derive from them (criterion_tables.c).
   * Every array has K elements and is allocated by create, so neither
   * set_class_counts nor compute allocates. */
  bool has_counts;
  int64_t *counts;
  double *dataset_weight;     /* PE: N / (K n_c); CB: effective-number weights */
  float *dataset_weight_f;    /* the same in float, for PE's smoothing row */
  float *log_prior_offset;    /* LA: tau log(n_c / N) */
  double max_abs_offset;      /* LA: max_c |tau log(n_c / N)| */
  double *margin;             /* LDAM: d_c */
  double max_margin_value;    /* LDAM: max_c d_c */

  /* Per-batch state, rewritten by every compute. */
  int64_t *batch_count;       /* b_c of the batch being computed */
  double *batch_weight;       /* LE: 1 / b_c, 0 for absent classes */
  float *last_weight;         /* what lb_criterion_get_weights() reports */
  bool has_last_weight;

  /* Per chunk of rows, two rows of K floats: the adjusted logits of LA and
   * LDAM, and the exponentials of the row being computed. Chunk i uses
   * the K floats at i * scratch_stride of each. */
  int32_t scratch_chunks;
  size_t scratch_stride;
  float *scratch_logits;
  float *scratch_exp;
};

/* True for the kinds whose loss depends on the training counts. */
bool lb_criterion_kind_needs_counts(lb_loss_kind kind);

/* Recomputes the tables that depend on the counts and on the parameters
 * (weights, offsets, margins). Does nothing before counts are set. */
void lb_criterion_refresh_tables(lb_criterion *c);

/* What one compute needs besides the rows: chosen by
 * lb_criterion_plan_batch() after the labels were checked and counted. */
typedef struct lb_batch_plan {
  const double *class_weight; /* per-class sample weight; NULL: all 1 */
  double denominator;         /* the loss is sum_i (weighted loss_i) / this */
  int64_t valid_samples;      /* samples not ignored */
  /* False when every logit the softmax sees is within
   * +-LB_EXP_ARGUMENT_MAX: exp can then neither overflow nor underflow, and
   * the pass that finds each row's maximum is skipped. */
  bool subtract_row_max;
} lb_batch_plan;

/* Fills c->batch_weight (LE) and returns the plan of the batch whose class
 * counts are in c->batch_count and whose softmax inputs are bounded by
 * max_abs_input in magnitude. */
lb_batch_plan lb_criterion_plan_batch(lb_criterion *c, int64_t valid_samples,
                                      double max_abs_input);

/* How many chunks of rows a batch is worth: lb_parallel_chunks() of its
 * rows, capped by the scratch rows the criterion has. */
int32_t lb_criterion_chunks_for(const lb_criterion *c, int64_t batch);

/* The loss of a validated batch and, when grad is not NULL, its gradient.
 * Assumes every label is valid, every logit finite, and at least one sample
 * is not ignored. */
double lb_criterion_run_batch(lb_criterion *c, const lb_batch_plan *plan,
                              const float *logits, const int32_t *labels,
                              int64_t batch, float *grad);

#endif /* LOSSBAL_CRITERION_INTERNAL_H */
