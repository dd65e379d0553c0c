/* The loss and gradient of a validated batch, one row at a time.
 *
 * Every kind is a softmax cross entropy of (possibly adjusted) logits u with
 * a per-sample share of the total, so each row is:
 *   1. u: the logits, or the adjusted copy of LA and LDAM (adjusted_logits);
 *   2. the softmax pass over u, which leaves exp(u_j - max) in a scratch
 *      row and returns the row's log-sum-exp (softmax_of_row);
 *   3. the kind's row function, which returns its loss term and turns the
 *      exponentials into d(loss)/d(z) with one pass into the gradient row.
 * Everything per row is O(K) passes of softmax_row.c; the scalars (log p_y,
 * 1 - p_y, the sample's share) are computed in double. */
#include "criterion_internal.h"

#include "softmax_row.h"

#include "../core/core_internal.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

/* The constants of one batch that the row functions use. */
typedef struct batch_terms {
  int64_t num_classes;
  double eps;                  /* label smoothing */
  double gamma;                /* focal exponent */
  double chain;                /* du/dz: the LDAM scale s, else 1 */
  double inv_denominator;      /* 1 / the loss's normaliser */
  const double *class_weight;  /* per-class sample weight; NULL: all 1 */
  const float *class_weight_f; /* the same in float (PE smoothing only) */
  double class_weight_total;   /* sum_c w_c (PE smoothing only) */
} batch_terms;

/* What the softmax pass knows about one row. */
typedef struct row_softmax {
  const float *u;   /* the logits the softmax saw */
  const float *e;   /* exp(u_j - shift), in the criterion's scratch row */
  int32_t y;        /* the label */
  double lse;       /* log sum_j exp(u_j); only computed for smoothing */
  double inv_sum;   /* 1 / sum_j exp(u_j - shift): p_j = e_j inv_sum */
  double logp_y;    /* log p_y, <= 0 */
  double p_y;       /* p_y */
  double q;         /* 1 - p_y, computed without cancellation */
} row_softmax;

/* Returns the row's term of the loss and, when grad is not NULL, writes
 * d(loss)/d(z) of the row into it. */
typedef double (*row_function)(const batch_terms *t, const row_softmax *r,
                               float *grad);

/* The two scratch rows of K floats of one chunk of rows. */
typedef struct row_scratch {
  float *logits; /* the adjusted logits of LA and LDAM */
  float *exp;    /* exp(u_j - shift) of the row being computed */
} row_scratch;

/* The logits the softmax of this kind sees: z itself, or an adjusted copy
 * in the scratch row. */
static const float *adjusted_logits(const lb_criterion *c, const float *z,
                                    int32_t y, float *scratch) {
  int64_t k = c->num_classes;
  switch (c->kind) {
    case LB_LOSS_LOGIT_ADJUSTED:
      lb_row_add(scratch, z, c->log_prior_offset, k);
      return scratch;
    case LB_LOSS_LDAM: {
      /* s (z - d_y onehot_y): only the label's logit carries a margin. */
      double scale = c->params[LB_CRIT_LDAM_SCALE];
      lb_row_scale(scratch, z, (float)scale, k);
      scratch[y] = (float)(scale * ((double)z[y] - c->margin[y]));
      return scratch;
    }
    default:
      return z;
  }
}

/* The softmax pass: the row's max (unless the batch's logits are small
 * enough not to need it), then exp(u - max) and its sum. The exponentials
 * go to an L1-resident scratch row rather than to the caller's gradient
 * row, so the exp loop never waits on a cache miss of its stores; the
 * one-pass finish into the gradient absorbs those instead.
 *
 * The log terms come from the sum and the label's own term, never from the
 * log of a rounded probability, so logits of any magnitude give finite
 * results. lse is only needed by label smoothing. */
static row_softmax softmax_of_row(const lb_criterion *c,
                                  const lb_batch_plan *plan,
                                  const row_scratch *scratch, const float *z,
                                  int32_t y, bool want_lse) {
  row_softmax r;
  int64_t k = c->num_classes;
  r.u = adjusted_logits(c, z, y, scratch->logits);
  r.e = scratch->exp;
  r.y = y;
  float shift = plan->subtract_row_max ? lb_row_max(r.u, k) : 0.0f;
  double sum = lb_row_exp_sum(r.u, shift, k, scratch->exp);
  double e_y = r.e[y];
  /* The other terms of the sum: >= 0, as a rounded sum of non-negative
   * terms never drops below one of them. q = 1 - p_y without cancellation. */
  double others = sum - e_y;
  r.inv_sum = 1.0 / sum;
  r.p_y = e_y * r.inv_sum;
  r.q = others * r.inv_sum;
  /* log p_y from the computed terms, never positive. Near p_y = 1 as
   * -log1p(others / e_y), so the small loss of a confident row keeps its
   * relative precision; elsewhere log(p_y), which is well conditioned there
   * and cheaper; when p_y underflowed, from the logits. */
  bool need_log_sum = want_lse || e_y == 0.0;
  double log_sum = need_log_sum ? log(sum) : 0.0;
  if (e_y == 0.0)
    r.logp_y = ((double)r.u[y] - (double)shift) - log_sum;
  else if (r.p_y < 0.5)
    r.logp_y = log(r.p_y);
  else
    r.logp_y = -log1p(others / e_y);
  r.lse = (double)shift + log_sum;
  return r;
}

/* The share of the sample in the loss: w_y / denominator. */
static double sample_share(const batch_terms *t, int32_t y) {
  double weight = t->class_weight ? t->class_weight[y] : 1.0;
  return weight * t->inv_denominator;
}

/* CE, LE, CB, LA, LDAM, and PE without smoothing: share * l with
 *   l = (1 - eps)(-log p_y) + eps/K sum_c (-log p_c),
 *   dl/du_j = p_j - eps/K - (1 - eps) [j = y]. */
static double weighted_ce_row(const batch_terms *t, const row_softmax *r,
                              float *grad) {
  double eps = t->eps;
  double k = (double)t->num_classes;
  double share = sample_share(t, r->y);
  double loss = -r->logp_y;
  if (eps > 0.0) {
    /* sum_c (-log p_c) = K lse - sum_c u_c */
    double mean_nll = r->lse - lb_row_sum(r->u, t->num_classes) / k;
    loss = (1.0 - eps) * loss + eps * mean_nll;
  }
  if (grad) {
    double a = share * t->chain;
    lb_row_affine(grad, r->e, (float)(a * r->inv_sum), (float)(a * eps / k),
                  t->num_classes);
    /* p_y - 1 = -q exactly, where p_y rounded to float would lose it. */
    grad[r->y] = (float)(a * (eps - eps / k - r->q));
  }
  return share * loss;
}

/* PE with smoothing, PyTorch's weighted rule: the row adds
 *   (1 - eps) w_y (-log p_y) + eps/K sum_c w_c (-log p_c)
 * divided by the batch's sum of sample weights. */
static double class_weighted_ce_row(const batch_terms *t, const row_softmax *r,
                                    float *grad) {
  double eps = t->eps;
  double k = (double)t->num_classes;
  double w_y = t->class_weight[r->y];
  double w_total = t->class_weight_total;
  /* sum_c w_c (-log p_c) = W lse - sum_c w_c u_c */
  double weighted_nll_sum =
      w_total * r->lse - lb_row_dot(r->u, t->class_weight_f, t->num_classes);
  double loss = (1.0 - eps) * w_y * (-r->logp_y) + eps / k * weighted_nll_sum;
  if (grad) {
    /* d/du_j = (1-eps) w_y (p_j - [j = y]) + eps/K (W p_j - w_j) */
    double a = t->inv_denominator;
    double p_coefficient = (1.0 - eps) * w_y + eps * w_total / k;
    lb_row_affine_weighted(grad, r->e, (float)(a * p_coefficient * r->inv_sum),
                           (float)(a * eps / k), t->class_weight_f,
                           t->num_classes);
    grad[r->y] = (float)(a * (-(1.0 - eps) * w_y * r->q +
                              eps / k * (w_total * r->p_y - w_y)));
  }
  return loss * t->inv_denominator;
}

/* FOCAL: (1 - p)^gamma (-log p) with p = p_y, q = 1 - p. Its derivative
 * with respect to u_j is f ([j = y] - p_j) with
 *   f = gamma p q^(gamma - 1) log p - q^gamma.
 * The first term is written gamma p (log p / q) q^gamma: log p / q stays
 * near -1 as p -> 1, where q^(gamma - 1) alone would overflow for gamma < 1,
 * and its limit at q = 0 is 0, which is where the classic NaN comes from. */
static double focal_row(const batch_terms *t, const row_softmax *r,
                        float *grad) {
  double gamma = t->gamma;
  double q = r->q;
  double q_gamma = pow(q, gamma); /* pow(0, 0) = 1: gamma 0 is CE */
  double share = t->inv_denominator;
  if (grad) {
    double first = q > 0.0 && gamma > 0.0
                       ? gamma * r->p_y * (r->logp_y / q) * q_gamma
                       : 0.0;
    double f = (first - q_gamma) * share;
    lb_row_affine(grad, r->e, (float)(-f * r->inv_sum), 0.0f, t->num_classes);
    grad[r->y] = (float)(f * q);
  }
  return share * q_gamma * -r->logp_y;
}

static batch_terms terms_of_batch(const lb_criterion *c,
                                  const lb_batch_plan *plan) {
  batch_terms t;
  t.num_classes = c->num_classes;
  t.eps = c->params[LB_CRIT_LABEL_SMOOTHING];
  t.gamma = c->params[LB_CRIT_GAMMA];
  t.chain = c->kind == LB_LOSS_LDAM ? c->params[LB_CRIT_LDAM_SCALE] : 1.0;
  t.inv_denominator = 1.0 / plan->denominator;
  t.class_weight = plan->class_weight;
  t.class_weight_f = c->dataset_weight_f;
  t.class_weight_total = 0.0;
  if (plan->class_weight)
    for (int32_t k = 0; k < c->num_classes; k++)
      t.class_weight_total += plan->class_weight[k];
  return t;
}

static row_function row_function_of(const lb_criterion *c, double eps) {
  if (c->kind == LB_LOSS_FOCAL) return focal_row;
  if (c->kind == LB_LOSS_PRIOR_WEIGHTED && eps > 0.0)
    return class_weighted_ce_row;
  return weighted_ce_row;
}

/* One job of lb_parallel_for: the batch, cut into chunks of whole rows. */
typedef struct batch_job {
  const lb_criterion *c;
  const lb_batch_plan *plan;
  const batch_terms *terms;
  row_function row_loss;
  const float *logits;
  const int32_t *labels;
  int64_t batch;
  float *grad;
  int32_t chunks;
  double chunk_loss[LB_CRITERION_MAX_CHUNKS];
} batch_job;

/* Rows [chunk * batch / chunks, (chunk + 1) * batch / chunks) of the job,
 * with the chunk's own scratch rows; the chunk's loss goes to its slot. */
static void run_chunk(void *context, int32_t chunk) {
  batch_job *job = context;
  const lb_criterion *c = job->c;
  int64_t k = c->num_classes;
  int64_t begin = lb_chunk_begin(job->batch, chunk, job->chunks);
  int64_t end = lb_chunk_begin(job->batch, chunk + 1, job->chunks);
  size_t scratch_offset = (size_t)chunk * c->scratch_stride;
  row_scratch scratch = {c->scratch_logits + scratch_offset,
                         c->scratch_exp + scratch_offset};
  int32_t ignore_index = (int32_t)c->params[LB_CRIT_IGNORE_INDEX];
  bool want_lse = job->terms->eps > 0.0;
  double total = 0.0;
  for (int64_t i = begin; i < end; i++) {
    float *grad_row = job->grad ? job->grad + i * k : NULL;
    if (job->labels[i] == ignore_index) {
      if (grad_row) memset(grad_row, 0, (size_t)k * sizeof *grad_row);
      continue;
    }
    row_softmax r = softmax_of_row(c, job->plan, &scratch, job->logits + i * k,
                                   job->labels[i], want_lse);
    total += job->row_loss(job->terms, &r, grad_row);
  }
  job->chunk_loss[chunk] = total;
}

int32_t lb_criterion_chunks_for(const lb_criterion *c, int64_t batch) {
  int32_t chunks = lb_parallel_chunks(batch, c->num_classes);
  return chunks < c->scratch_chunks ? chunks : c->scratch_chunks;
}

double lb_criterion_run_batch(lb_criterion *c, const lb_batch_plan *plan,
                              const float *logits, const int32_t *labels,
                              int64_t batch, float *grad) {
  batch_terms terms = terms_of_batch(c, plan);
  batch_job job = {.c = c,
                   .plan = plan,
                   .terms = &terms,
                   .row_loss = row_function_of(c, terms.eps),
                   .logits = logits,
                   .labels = labels,
                   .batch = batch,
                   .grad = grad,
                   .chunks = lb_criterion_chunks_for(c, batch)};
  lb_parallel_for(run_chunk, &job, job.chunks);
  /* Summed in chunk order, so the result does not depend on which thread
   * ran which chunk. */
  double total = 0.0;
  for (int32_t chunk = 0; chunk < job.chunks; chunk++)
    total += job.chunk_loss[chunk];
  return total;
}
