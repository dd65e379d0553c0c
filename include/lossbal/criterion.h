/*
 * liblossbal criteria: the loss-balance family of classification losses,
 * forward value and gradient, on raw float logits from any trainer.
 */
#ifndef LOSSBAL_CRITERION_H
#define LOSSBAL_CRITERION_H

#include "lossbal/lossbal.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @defgroup criterion Criteria: the loss-balance family
 *
 * An ::lb_criterion computes one loss of the family below and its gradient
 * for a mini-batch of logits. Logits are row-major `[batch][K]` floats (K is
 * the number of classes); labels are `batch` class indices.
 *
 * Notation: z the logits of a sample, p = softmax(z), y its label, n_c the
 * training count of class c (lb_criterion_set_class_counts()), N = sum n_c,
 * eps the label smoothing. Samples whose label is the ignore index are
 * skipped: they add nothing to the loss and get a zero gradient row. "Mean"
 * is over the samples that are not ignored. The smoothed per-sample cross
 * entropy is `l = (1 - eps) (-log p_y) + eps/K sum_c (-log p_c)`.
 *
 *  - ::LB_LOSS_CE: mean of l; exactly PyTorch's
 *    `F.cross_entropy(z, y, ignore_index=, label_smoothing=)`.
 *  - ::LB_LOSS_PRIOR_WEIGHTED: `F.cross_entropy(z, y, weight=w)` with the
 *    prior weights w_c = N / (K n_c), PyTorch's rules included: the mean
 *    divides by the sum of the weights of the samples, and with smoothing
 *    `loss = sum_i [(1-eps) w_y (-log p_y) + eps/K sum_c w_c (-log p_c)]
 *    / sum_i w_y`.
 *  - ::LB_LOSS_BATCH_BALANCED (the loss balance of Huang, Song and Lu,
 *    2019): w_c = 1 / b_c where b_c is the number of samples of class c in
 *    THIS batch, and `loss = sum_i w_y l_i / sum_i w_y`: the mean, over the
 *    classes present, of each class's mean loss, so every class present gets
 *    an equal share whatever its count. With smoothing the sample weight
 *    multiplies the whole smoothed loss l_i (our definition; it equals
 *    `F.cross_entropy(weight=w)` when eps = 0). Needs no class counts.
 *  - ::LB_LOSS_FOCAL: mean of `(1 - p_y)^gamma (-log p_y)` (Lin et al.).
 *    Label smoothing is not supported.
 *  - ::LB_LOSS_CLASS_BALANCED (Cui et al.): w_c = (1 - beta) / (1 -
 *    beta^n_c), rescaled so that sum_c w_c = K; `loss = sum_i w_y l_i /
 *    (number of samples)`. beta = 0 gives every class weight 1.
 *  - ::LB_LOSS_LOGIT_ADJUSTED (Menon et al.): cross entropy of the adjusted
 *    logits `z + tau log(n_c / N)`.
 *  - ::LB_LOSS_LDAM (Cao et al.): cross entropy of `s (z - d_y onehot_y)`
 *    with margins `d_c = max_margin n_c^(-1/4) / max_j n_j^(-1/4)` and
 *    s = ::LB_CRIT_LDAM_SCALE.
 *
 * The prior-weighted, class-balanced, logit-adjusted and LDAM kinds need the
 * training counts (lb_criterion_set_class_counts()) before the first compute.
 *
 * A batch whose samples are all ignored has loss 0 and a zero gradient
 * (PyTorch returns NaN there).
 *
 * Thread safety: a criterion keeps scratch memory that compute writes, so one
 * criterion must not be used by two threads at once; distinct criteria may.
 *  @{ */

/** Opaque criterion handle. */
typedef struct lb_criterion lb_criterion;

/** The loss a criterion computes. Values are fixed and append-only. */
typedef enum lb_loss_kind {
  LB_LOSS_CE = 0,             /**< cross entropy */
  LB_LOSS_PRIOR_WEIGHTED = 1, /**< cross entropy weighted by N / (K n_c) */
  LB_LOSS_BATCH_BALANCED = 2, /**< per-mini-batch loss balance (the paper) */
  LB_LOSS_FOCAL = 3,          /**< focal loss */
  LB_LOSS_CLASS_BALANCED = 4, /**< effective-number class-balanced loss */
  LB_LOSS_LOGIT_ADJUSTED = 5, /**< logit-adjusted cross entropy */
  LB_LOSS_LDAM = 6            /**< label-distribution-aware margin loss */
} lb_loss_kind;

/** The parameters of lb_criterion_set_param(). Values are fixed and
 *  append-only. A parameter the criterion's kind does not use is stored (and
 *  reported by lb_criterion_get_param()) but has no effect. */
typedef enum lb_criterion_param {
  LB_CRIT_GAMMA = 0,           /**< focal exponent, >= 0; default 2 */
  LB_CRIT_BETA = 1,            /**< class-balanced beta, in [0, 1);
                                    default 0.9999 */
  LB_CRIT_TAU = 2,             /**< logit-adjustment strength, finite;
                                    default 1 */
  LB_CRIT_LABEL_SMOOTHING = 3, /**< epsilon in [0, 1); default 0 */
  LB_CRIT_IGNORE_INDEX = 4,    /**< label value to skip, an integer in the
                                    int32_t range; default -100 */
  LB_CRIT_LDAM_MAX_MARGIN = 5, /**< largest LDAM margin, >= 0; default 0.5 */
  LB_CRIT_LDAM_SCALE = 6       /**< LDAM logit scale s, > 0; default 30 */
} lb_criterion_param;

/**
 * Creates a criterion with every parameter at its default.
 *
 * All the memory the criterion needs is allocated here, so
 * lb_criterion_compute() never allocates. That includes scratch rows for
 * computing a large batch on as many threads as lb_get_num_threads() reports
 * now (at most 16): call lb_set_num_threads() first to change it.
 *
 * @param kind        the loss to compute.
 * @param num_classes K, at least 1.
 * @param out         receives the new criterion, which the caller frees with
 *                    lb_criterion_free(). Untouched on failure.
 * @return ::LB_OK; ::LB_EINVAL when @p out is NULL or @p num_classes < 1;
 *         ::LB_EUNSUPPORTED for a @p kind this library does not know;
 *         ::LB_ENOMEM when allocation fails.
 */
LB_API lb_status lb_criterion_create(lb_loss_kind kind, int32_t num_classes,
                                     lb_criterion **out);

/**
 * Sets one parameter.
 *
 * The valid range of each parameter is reported by
 * lb_criterion_param_bounds(); LB_CRIT_IGNORE_INDEX must moreover be an
 * integer. The change applies from the next lb_criterion_compute().
 *
 * @param c     the criterion.
 * @param p     the parameter to set.
 * @param value its new value.
 * @return ::LB_OK; ::LB_EINVAL when @p c is NULL or @p value is NaN, outside
 *         its bounds, or (for the ignore index) not an integer;
 *         ::LB_EUNSUPPORTED for a @p p this library does not know, and for a
 *         label smoothing above 0 on a focal criterion. On failure the
 *         parameter keeps its value.
 */
LB_API lb_status lb_criterion_set_param(lb_criterion *c, lb_criterion_param p,
                                        double value);

/**
 * Sets the training-set count of every class, from which the prior-weighted,
 * class-balanced, logit-adjusted and LDAM kinds derive their class weights,
 * adjustments or margins. The other kinds store the counts and ignore them.
 * May be called again to replace the counts. Does not allocate.
 *
 * @param c           the criterion.
 * @param counts      @p num_classes counts, each at least 1; copied, not kept.
 * @param num_classes must equal the K the criterion was created with.
 * @return ::LB_OK; ::LB_EINVAL for a NULL pointer, a @p num_classes other
 *         than K, a count < 1 (the message names the class) or counts whose
 *         sum overflows int64_t. On failure the previous counts stay.
 */
LB_API lb_status lb_criterion_set_class_counts(lb_criterion *c,
                                               const int64_t *counts,
                                               int32_t num_classes);

/**
 * Computes the loss of a mini-batch and, optionally, its gradient.
 *
 * Every argument is checked before anything is written: on failure @p loss
 * and @p grad_logits are untouched. Does not allocate.
 *
 * @param c           the criterion; its scratch memory is written.
 * @param logits      @p batch x K floats, row-major; every one must be
 *                    finite, those of ignored samples included.
 * @param labels      @p batch labels, each in [0, K) or the ignore index.
 * @param batch       number of samples, at least 1.
 * @param loss        receives the loss.
 * @param grad_logits NULL, or @p batch x K floats that receive
 *                    d(loss)/d(logits); rows of ignored samples are zero.
 *                    Must not overlap @p logits.
 * @return ::LB_OK;
 *         ::LB_EINVAL for a NULL @p c, @p logits, @p labels or @p loss, a
 *         @p batch < 1 or whose batch x K overflows, a @p grad_logits that
 *         overlaps @p logits, or a label outside [0, K) that is not the
 *         ignore index (the message names the label and its row);
 *         ::LB_ENONFINITE for a NaN or infinite logit (the message names its
 *         row and column), or when the logit adjustment or the LDAM scale
 *         would take a logit beyond the float range;
 *         ::LB_ESTATE when the kind needs class counts and none were set.
 */
LB_API lb_status lb_criterion_compute(lb_criterion *c, const float *logits,
                                      const int32_t *labels, int64_t batch,
                                      double *loss, float *grad_logits);

/** Releases a criterion and everything it allocated.
 *  @param c the criterion, or NULL (a no-op). */
LB_API void lb_criterion_free(lb_criterion *c);

/**
 * Reads one parameter: the default, or the last value set.
 *
 * @param c     the criterion.
 * @param p     the parameter to read.
 * @param value receives the value; untouched on failure.
 * @return ::LB_OK; ::LB_EINVAL for a NULL pointer; ::LB_EUNSUPPORTED for a
 *         @p p this library does not know.
 */
LB_API lb_status lb_criterion_get_param(const lb_criterion *c,
                                        lb_criterion_param p, double *value);

/**
 * The range of values lb_criterion_set_param() accepts for @p p, both ends
 * included: a value v is valid when `lower <= v && v <= upper` (and, for
 * LB_CRIT_IGNORE_INDEX, v is an integer). Open ends are reported as the
 * nearest double inside: beta and label smoothing have
 * `upper = nextafter(1.0, 0.0)`, the LDAM scale has `lower = DBL_TRUE_MIN`.
 * Parameters with no natural bound use `-DBL_MAX` or `DBL_MAX`.
 *
 * @param p     the parameter.
 * @param lower receives the smallest valid value; untouched on failure.
 * @param upper receives the largest valid value; untouched on failure.
 * @return ::LB_OK; ::LB_EINVAL for a NULL pointer; ::LB_EUNSUPPORTED for a
 *         @p p this library does not know.
 */
LB_API lb_status lb_criterion_param_bounds(lb_criterion_param p, double *lower,
                                           double *upper);

/**
 * Copies the per-class weights the last successful lb_criterion_compute()
 * used: for the batch-balanced kind 1 / b_c of that batch (0 for a class
 * absent from it); for the prior-weighted and class-balanced kinds the
 * weights derived from the class counts; 1 for every class of the other
 * kinds.
 *
 * @param c           the criterion.
 * @param weights     receives @p num_classes weights; untouched on failure.
 * @param num_classes must equal K.
 * @return ::LB_OK; ::LB_EINVAL for a NULL pointer or a @p num_classes other
 *         than K; ::LB_ESTATE when no compute has succeeded yet.
 */
LB_API lb_status lb_criterion_get_weights(const lb_criterion *c,
                                          float *weights, int32_t num_classes);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* LOSSBAL_CRITERION_H */
