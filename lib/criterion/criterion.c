/* The criterion's public API: life cycle, parameters, class counts, and
 * compute, which checks everything before it writes anything and then hands
 * the batch to criterion_rows.c. */
#include "criterion_internal.h"

#include "../core/core_internal.h"
#include "softmax_row.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* ---- parameters ---------------------------------------------------------- */

/* Name, default and valid range of each lb_criterion_param, in enum order.
 * Ranges are inclusive; open ends are the nearest double inside. */
typedef struct param_spec {
  const char *name;
  double default_value;
  double lower, upper;
  const char *range_text; /* for messages: "must be ..." */
} param_spec;

#define BELOW_ONE 0x1.fffffffffffffp-1 /* nextafter(1.0, 0.0) */

static const param_spec param_specs[LB_CRIT_PARAM_COUNT] = {
    [LB_CRIT_GAMMA] = {"gamma", 2.0, 0.0, DBL_MAX, "finite and >= 0"},
    [LB_CRIT_BETA] = {"beta", 0.9999, 0.0, BELOW_ONE, "in [0, 1)"},
    [LB_CRIT_TAU] = {"tau", 1.0, -DBL_MAX, DBL_MAX, "finite"},
    [LB_CRIT_LABEL_SMOOTHING] = {"label_smoothing", 0.0, 0.0, BELOW_ONE,
                                 "in [0, 1)"},
    [LB_CRIT_IGNORE_INDEX] = {"ignore_index", -100.0, (double)INT32_MIN,
                              (double)INT32_MAX,
                              "an integer in [-2147483648, 2147483647]"},
    [LB_CRIT_LDAM_MAX_MARGIN] = {"ldam_max_margin", 0.5, 0.0, DBL_MAX,
                                 "finite and >= 0"},
    [LB_CRIT_LDAM_SCALE] = {"ldam_scale", 30.0, DBL_TRUE_MIN, DBL_MAX,
                            "finite and > 0"},
};

static bool param_is_known(lb_criterion_param p) {
  return (int)p >= 0 && (int)p < LB_CRIT_PARAM_COUNT;
}

static bool kind_is_known(lb_loss_kind kind) {
  return (int)kind >= (int)LB_LOSS_CE && (int)kind <= (int)LB_LOSS_LDAM;
}

static const char *kind_name(lb_loss_kind kind) {
  static const char *const names[] = {
      [LB_LOSS_CE] = "cross entropy",
      [LB_LOSS_PRIOR_WEIGHTED] = "prior-weighted",
      [LB_LOSS_BATCH_BALANCED] = "batch-balanced",
      [LB_LOSS_FOCAL] = "focal",
      [LB_LOSS_CLASS_BALANCED] = "class-balanced",
      [LB_LOSS_LOGIT_ADJUSTED] = "logit-adjusted",
      [LB_LOSS_LDAM] = "LDAM"};
  return names[kind];
}

lb_status lb_criterion_param_bounds(lb_criterion_param p, double *lower,
                                    double *upper) {
  if (!lower || !upper)
    return lb_fail(LB_EINVAL, "lb_criterion_param_bounds: %s is NULL",
                   lower ? "upper" : "lower");
  if (!param_is_known(p))
    return lb_fail(LB_EUNSUPPORTED,
                   "lb_criterion_param_bounds: unknown parameter %d", (int)p);
  *lower = param_specs[p].lower;
  *upper = param_specs[p].upper;
  return LB_OK;
}

/* Checks value against the spec of p; the message names both. */
static lb_status check_param_value(const lb_criterion *c, lb_criterion_param p,
                                   double value) {
  const param_spec *spec = &param_specs[p];
  if (isnan(value))
    return lb_fail(LB_EINVAL, "lb_criterion_set_param: %s is NaN", spec->name);
  if (!(value >= spec->lower && value <= spec->upper) ||
      (p == LB_CRIT_IGNORE_INDEX && value != floor(value)))
    return lb_fail(LB_EINVAL, "lb_criterion_set_param: %s = %g must be %s",
                   spec->name, value, spec->range_text);
  if (p == LB_CRIT_LABEL_SMOOTHING && value > 0.0 &&
      c->kind == LB_LOSS_FOCAL)
    return lb_fail(LB_EUNSUPPORTED,
                   "lb_criterion_set_param: label_smoothing = %g is not "
                   "supported by the focal loss (only 0 is)",
                   value);
  return LB_OK;
}

lb_status lb_criterion_set_param(lb_criterion *c, lb_criterion_param p,
                                 double value) {
  if (!c) return lb_fail(LB_EINVAL, "lb_criterion_set_param: c is NULL");
  if (!param_is_known(p))
    return lb_fail(LB_EUNSUPPORTED,
                   "lb_criterion_set_param: unknown parameter %d", (int)p);
  lb_status status = check_param_value(c, p, value);
  if (status != LB_OK) return status;
  c->params[p] = value;
  lb_criterion_refresh_tables(c);
  return LB_OK;
}

lb_status lb_criterion_get_param(const lb_criterion *c, lb_criterion_param p,
                                 double *value) {
  if (!c || !value)
    return lb_fail(LB_EINVAL, "lb_criterion_get_param: %s is NULL",
                   c ? "value" : "c");
  if (!param_is_known(p))
    return lb_fail(LB_EUNSUPPORTED,
                   "lb_criterion_get_param: unknown parameter %d", (int)p);
  *value = c->params[p];
  return LB_OK;
}

/* ---- life cycle ---------------------------------------------------------- */

/* count elements of `size` bytes, or NULL (with the message recorded) when
 * the size overflows or allocation fails. */
static void *allocate_array(size_t count, size_t size) {
  size_t bytes;
  if (!lb_mul_size(count, size, &bytes)) {
    lb_fail(LB_ENOMEM, "out of memory: %zu elements of %zu bytes overflow",
            count, size);
    return NULL;
  }
  return lb_alloc(bytes);
}

/* `rows` aligned rows of `stride` floats each. */
static void *allocate_rows(size_t rows, size_t stride) {
  size_t count, bytes;
  if (!lb_mul_size(rows, stride, &count) ||
      !lb_mul_size(count, sizeof(float), &bytes)) {
    lb_fail(LB_ENOMEM, "out of memory: %zu rows of %zu floats overflow", rows,
            stride);
    return NULL;
  }
  return lb_alloc_aligned(bytes);
}

/* Scratch for as many chunks as the library may run threads now (see
 * criterion_rows.c); a later lb_set_num_threads() cannot raise it, so that
 * compute never allocates. */
static int32_t scratch_chunks_now(void) {
  int32_t threads = lb_get_num_threads();
  return threads < LB_CRITERION_MAX_CHUNKS ? threads : LB_CRITERION_MAX_CHUNKS;
}

void lb_criterion_free(lb_criterion *c) {
  if (!c) return;
  lb_free(c->counts);
  lb_free(c->dataset_weight);
  lb_free(c->dataset_weight_f);
  lb_free(c->log_prior_offset);
  lb_free(c->margin);
  lb_free(c->batch_count);
  lb_free(c->batch_weight);
  lb_free(c->last_weight);
  lb_free_aligned(c->scratch_logits);
  lb_free_aligned(c->scratch_exp);
  lb_free(c);
}

/* Allocates every per-class array, so that later calls never allocate. */
static bool allocate_tables(lb_criterion *c) {
  size_t k = (size_t)c->num_classes;
  c->counts = allocate_array(k, sizeof *c->counts);
  c->dataset_weight = allocate_array(k, sizeof *c->dataset_weight);
  c->dataset_weight_f = allocate_array(k, sizeof *c->dataset_weight_f);
  c->log_prior_offset = allocate_array(k, sizeof *c->log_prior_offset);
  c->margin = allocate_array(k, sizeof *c->margin);
  c->batch_count = allocate_array(k, sizeof *c->batch_count);
  c->batch_weight = allocate_array(k, sizeof *c->batch_weight);
  c->last_weight = allocate_array(k, sizeof *c->last_weight);
  /* Each chunk's rows start on a 64-byte boundary: 16 floats. */
  c->scratch_stride = (k + 15) / 16 * 16;
  c->scratch_chunks = scratch_chunks_now();
  c->scratch_logits = allocate_rows((size_t)c->scratch_chunks, c->scratch_stride);
  c->scratch_exp = allocate_rows((size_t)c->scratch_chunks, c->scratch_stride);
  return c->counts && c->dataset_weight && c->dataset_weight_f &&
         c->log_prior_offset && c->margin && c->batch_count &&
         c->batch_weight && c->last_weight && c->scratch_logits &&
         c->scratch_exp;
}

lb_status lb_criterion_create(lb_loss_kind kind, int32_t num_classes,
                              lb_criterion **out) {
  if (!out) return lb_fail(LB_EINVAL, "lb_criterion_create: out is NULL");
  if (!kind_is_known(kind))
    return lb_fail(LB_EUNSUPPORTED, "lb_criterion_create: unknown loss kind %d",
                   (int)kind);
  if (num_classes < 1)
    return lb_fail(LB_EINVAL,
                   "lb_criterion_create: num_classes = %d must be at least 1",
                   (int)num_classes);
  lb_criterion *c = lb_alloc_zeroed(sizeof *c);
  if (!c) return LB_ENOMEM;
  c->kind = kind;
  c->num_classes = num_classes;
  for (int p = 0; p < LB_CRIT_PARAM_COUNT; p++)
    c->params[p] = param_specs[p].default_value;
  if (!allocate_tables(c)) {
    lb_status status = lb_fail(LB_ENOMEM,
                               "lb_criterion_create: out of memory for %d "
                               "classes",
                               (int)num_classes);
    lb_criterion_free(c);
    return status;
  }
  *out = c;
  return LB_OK;
}

/* ---- class counts -------------------------------------------------------- */

lb_status lb_criterion_set_class_counts(lb_criterion *c, const int64_t *counts,
                                        int32_t num_classes) {
  if (!c || !counts)
    return lb_fail(LB_EINVAL, "lb_criterion_set_class_counts: %s is NULL",
                   c ? "counts" : "c");
  if (num_classes != c->num_classes)
    return lb_fail(LB_EINVAL,
                   "lb_criterion_set_class_counts: num_classes = %d, but the "
                   "criterion has %d classes",
                   (int)num_classes, (int)c->num_classes);
  int64_t total = 0;
  for (int32_t k = 0; k < num_classes; k++) {
    if (counts[k] < 1)
      return lb_fail(LB_EINVAL,
                     "lb_criterion_set_class_counts: class %d has count %lld; "
                     "every class needs a count of at least 1",
                     (int)k, (long long)counts[k]);
    if (__builtin_add_overflow(total, counts[k], &total))
      return lb_fail(LB_EINVAL,
                     "lb_criterion_set_class_counts: the counts overflow "
                     "int64_t when summed (at class %d)",
                     (int)k);
  }
  memcpy(c->counts, counts, (size_t)num_classes * sizeof *counts);
  c->has_counts = true;
  lb_criterion_refresh_tables(c);
  return LB_OK;
}

/* ---- compute ------------------------------------------------------------- */

/* The checks that need no pass over the data. */
static lb_status check_compute_arguments(const lb_criterion *c,
                                         const float *logits,
                                         const int32_t *labels, int64_t batch,
                                         const double *loss,
                                         const float *grad) {
  if (!c || !logits || !labels || !loss)
    return lb_fail(LB_EINVAL, "lb_criterion_compute: %s is NULL",
                   !c ? "c" : !logits ? "logits" : !labels ? "labels" : "loss");
  if (batch < 1)
    return lb_fail(LB_EINVAL,
                   "lb_criterion_compute: batch = %lld must be at least 1",
                   (long long)batch);
  int64_t elements;
  size_t bytes;
  if (!lb_mul_i64(batch, c->num_classes, &elements) ||
      (uint64_t)elements > SIZE_MAX ||
      !lb_mul_size((size_t)elements, sizeof(float), &bytes))
    return lb_fail(LB_EINVAL,
                   "lb_criterion_compute: batch = %lld times %d classes "
                   "overflows",
                   (long long)batch, (int)c->num_classes);
  if (grad && lb_ranges_overlap(grad, bytes, logits, bytes))
    return lb_fail(LB_EINVAL,
                   "lb_criterion_compute: grad_logits overlaps logits");
  if (lb_criterion_kind_needs_counts(c->kind) && !c->has_counts)
    return lb_fail(LB_ESTATE,
                   "lb_criterion_compute: the %s loss needs the class counts; "
                   "call lb_criterion_set_class_counts first",
                   kind_name(c->kind));
  return LB_OK;
}

/* Checks every label and counts the batch's classes into c->batch_count
 * (internal scratch, not an output). */
static lb_status check_and_count_labels(lb_criterion *c, const int32_t *labels,
                                        int64_t batch, int64_t *valid) {
  int32_t ignore_index = (int32_t)c->params[LB_CRIT_IGNORE_INDEX];
  memset(c->batch_count, 0, (size_t)c->num_classes * sizeof *c->batch_count);
  int64_t kept = 0;
  for (int64_t i = 0; i < batch; i++) {
    int32_t y = labels[i];
    if (y == ignore_index) continue;
    if (y < 0 || y >= c->num_classes)
      return lb_fail(LB_EINVAL,
                     "lb_criterion_compute: label %d at row %lld is outside "
                     "[0, %d) and is not the ignore index %d",
                     (int)y, (long long)i, (int)c->num_classes,
                     (int)ignore_index);
    c->batch_count[y]++;
    kept++;
  }
  *valid = kept;
  return LB_OK;
}

/* Names the first NaN or infinite logit; called once one is known to exist. */
static lb_status report_nonfinite_logit(const lb_criterion *c,
                                        const float *logits, int64_t count) {
  int64_t i = 0;
  while (i < count - 1 && isfinite(logits[i])) i++;
  return lb_fail(LB_ENONFINITE,
                 "lb_criterion_compute: logit at row %lld, column %lld is %g",
                 (long long)(i / c->num_classes),
                 (long long)(i % c->num_classes), (double)logits[i]);
}

/* Checks that every logit is finite, and that LA's offsets and LDAM's scale
 * keep the adjusted logits inside the float range. Sets *max_abs_input to a
 * bound on the magnitude of what the softmax will see. */
/* The largest |logit| of a batch, scanned in chunks of rows on the
 * library's threads: the scan reads every logit once more than the compute
 * does, so on a large batch it is worth spreading. */
typedef struct max_abs_job {
  const float *logits;
  int64_t batch, num_classes;
  int32_t chunks;
  float chunk_max[LB_CRITERION_MAX_CHUNKS];
} max_abs_job;

static void scan_chunk_max_abs(void *context, int32_t chunk) {
  max_abs_job *job = context;
  int64_t begin = lb_chunk_begin(job->batch, chunk, job->chunks);
  int64_t end = lb_chunk_begin(job->batch, chunk + 1, job->chunks);
  job->chunk_max[chunk] = lb_row_max_abs(job->logits + begin * job->num_classes,
                                         (end - begin) * job->num_classes);
}

static float batch_max_abs(const lb_criterion *c, const float *logits,
                           int64_t batch) {
  max_abs_job job = {.logits = logits,
                     .batch = batch,
                     .num_classes = c->num_classes,
                     .chunks = lb_criterion_chunks_for(c, batch)};
  lb_parallel_for(scan_chunk_max_abs, &job, job.chunks);
  /* NaN compares false, so it must win explicitly: any non-finite chunk
   * makes the whole batch non-finite. */
  float largest = 0.0f;
  for (int32_t chunk = 0; chunk < job.chunks; chunk++)
    if (!isfinite(job.chunk_max[chunk]) || job.chunk_max[chunk] > largest)
      largest = job.chunk_max[chunk];
  return largest;
}

static lb_status check_logits(const lb_criterion *c, const float *logits,
                              int64_t batch, double *max_abs_input) {
  int64_t count = batch * c->num_classes;
  double largest = batch_max_abs(c, logits, batch);
  if (!isfinite(largest)) return report_nonfinite_logit(c, logits, count);
  double bound = largest;
  if (c->kind == LB_LOSS_LOGIT_ADJUSTED) {
    bound = largest + c->max_abs_offset;
    if (bound > FLT_MAX)
      return lb_fail(LB_ENONFINITE,
                     "lb_criterion_compute: the logit adjustment overflows "
                     "float: max |logit| %g + max |tau log prior| %g",
                     largest, c->max_abs_offset);
  }
  if (c->kind == LB_LOSS_LDAM) {
    bound = c->params[LB_CRIT_LDAM_SCALE] * (largest + c->max_margin_value);
    if (bound > FLT_MAX)
      return lb_fail(LB_ENONFINITE,
                     "lb_criterion_compute: ldam_scale %g times (max |logit| "
                     "%g + margin %g) overflows float",
                     c->params[LB_CRIT_LDAM_SCALE], largest,
                     c->max_margin_value);
  }
  *max_abs_input = bound;
  return LB_OK;
}

/* Keeps the class weights of this compute for lb_criterion_get_weights(). */
static void remember_weights(lb_criterion *c, const lb_batch_plan *plan) {
  for (int32_t k = 0; k < c->num_classes; k++)
    c->last_weight[k] = plan->class_weight ? (float)plan->class_weight[k] : 1.0f;
  c->has_last_weight = true;
}

lb_status lb_criterion_compute(lb_criterion *c, const float *logits,
                               const int32_t *labels, int64_t batch,
                               double *loss, float *grad_logits) {
  lb_status status = check_compute_arguments(c, logits, labels, batch, loss,
                                             grad_logits);
  if (status != LB_OK) return status;
  int64_t valid = 0;
  status = check_and_count_labels(c, labels, batch, &valid);
  if (status != LB_OK) return status;
  double max_abs_input = 0.0;
  status = check_logits(c, logits, batch, &max_abs_input);
  if (status != LB_OK) return status;

  /* From here on nothing can fail. */
  lb_batch_plan plan = lb_criterion_plan_batch(c, valid, max_abs_input);
  double value = 0.0;
  if (valid > 0) {
    value = lb_criterion_run_batch(c, &plan, logits, labels, batch,
                                   grad_logits);
  } else if (grad_logits) {
    /* Every sample ignored: loss 0 and no gradient (PyTorch gives NaN). */
    memset(grad_logits, 0,
           (size_t)(batch * c->num_classes) * sizeof *grad_logits);
  }
  remember_weights(c, &plan);
  *loss = value;
  return LB_OK;
}

lb_status lb_criterion_get_weights(const lb_criterion *c, float *weights,
                                   int32_t num_classes) {
  if (!c || !weights)
    return lb_fail(LB_EINVAL, "lb_criterion_get_weights: %s is NULL",
                   c ? "weights" : "c");
  if (num_classes != c->num_classes)
    return lb_fail(LB_EINVAL,
                   "lb_criterion_get_weights: num_classes = %d, but the "
                   "criterion has %d classes",
                   (int)num_classes, (int)c->num_classes);
  if (!c->has_last_weight)
    return lb_fail(LB_ESTATE,
                   "lb_criterion_get_weights: no lb_criterion_compute has "
                   "succeeded yet");
  memcpy(weights, c->last_weight, (size_t)num_classes * sizeof *weights);
  return LB_OK;
}
