/* lb_optimizer: torch.optim.SGD (PyTorch 1.13) over an lb_model's
 * parameters, in float32 with PyTorch's order of operations. */
#include "optim_internal.h"

#include "../core/core_internal.h"

#include <math.h>
#include <string.h>

static const lb_sgd_settings defaults = {0.1, 0.0, 0.0, 0.0, false, true};

bool lb_sgd_is_norm_or_bias(const lb_model_tensor *t) {
  size_t n = strlen(t->name);
  return t->ndim < 2 || (n >= 5 && strcmp(t->name + n - 5, ".bias") == 0);
}

lb_status lb_sgd_check_settings(const lb_sgd_settings *s, lb_status code,
                                const char *who) {
  if (!(isfinite(s->learning_rate) && s->learning_rate > 0))
    return lb_fail(code, "%s: learning rate %g is not > 0", who,
                   s->learning_rate);
  if (!(s->momentum >= 0 && s->momentum < 1))
    return lb_fail(code, "%s: momentum %g is outside [0, 1)", who, s->momentum);
  if (!(s->dampening >= 0 && s->dampening <= 1))
    return lb_fail(code, "%s: dampening %g is outside [0, 1]", who,
                   s->dampening);
  if (!(isfinite(s->weight_decay) && s->weight_decay >= 0))
    return lb_fail(code, "%s: weight decay %g is not >= 0", who,
                   s->weight_decay);
  if (s->nesterov && !(s->momentum > 0 && s->dampening == 0))
    return lb_fail(code,
                   "%s: Nesterov momentum needs momentum > 0 and dampening 0 "
                   "(momentum %g, dampening %g)",
                   who, s->momentum, s->dampening);
  return LB_OK;
}

lb_status lb_sgd_create(lb_model *m, lb_optimizer **out) {
  const char *who = "lb_sgd_create";
  if (!m)
    return lb_fail(LB_EINVAL, "%s: m is NULL", who);
  if (!out)
    return lb_fail(LB_EINVAL, "%s: out is NULL", who);
  int32_t count = 0;
  for (int32_t i = 0; i < m->tensor_count; i++)
    count += m->tensors[i].grad != NULL;
  lb_optimizer *o = lb_alloc_zeroed(sizeof *o);
  if (!o)
    return LB_ENOMEM;
  o->model = m;
  o->settings = defaults;
  o->param_count = count;
  o->seen_backward = m->backward_count;
  size_t floats = (size_t)(m->parameter_count > 0 ? m->parameter_count : 1);
  o->param_index = lb_alloc((size_t)(count ? count : 1) * sizeof(int32_t));
  o->buffer = o->param_index
                  ? lb_alloc((size_t)(count ? count : 1) * sizeof(float *))
                  : NULL;
  o->buffers = o->buffer ? lb_alloc_aligned(floats * sizeof(float)) : NULL;
  if (!o->buffers) {
    lb_optimizer_free(o);
    return LB_ENOMEM;
  }
  memset(o->buffers, 0, floats * sizeof(float));
  int32_t k = 0;
  int64_t offset = 0;
  for (int32_t i = 0; i < m->tensor_count; i++) {
    const lb_model_tensor *t = &m->tensors[i];
    if (!t->grad)
      continue;
    o->param_index[k] = i;
    o->buffer[k] = o->buffers + offset;
    offset += t->numel;
    k++;
  }
  *out = o;
  return LB_OK;
}

static lb_status check_param(lb_sgd_param p, const char *who) {
  if ((int)p < LB_SGD_LEARNING_RATE || (int)p > LB_SGD_DECAY_NORM_AND_BIAS)
    return lb_fail(LB_EINVAL, "%s: %d is not an SGD setting", who, (int)p);
  return LB_OK;
}

lb_status lb_optimizer_set_param(lb_optimizer *o, lb_sgd_param p,
                                 double value) {
  const char *who = "lb_optimizer_set_param";
  if (!o)
    return lb_fail(LB_EINVAL, "%s: o is NULL", who);
  lb_status s = check_param(p, who);
  if (s != LB_OK)
    return s;
  lb_sgd_settings next = o->settings;
  bool flag = value != 0;
  if ((p == LB_SGD_NESTEROV || p == LB_SGD_DECAY_NORM_AND_BIAS) && value != 0 &&
      value != 1)
    return lb_fail(LB_EINVAL, "%s: %s must be 0 or 1, not %g", who,
                   p == LB_SGD_NESTEROV ? "nesterov" : "decay_norm_and_bias",
                   value);
  switch (p) {
  case LB_SGD_LEARNING_RATE:
    next.learning_rate = value;
    break;
  case LB_SGD_MOMENTUM:
    next.momentum = value;
    break;
  case LB_SGD_DAMPENING:
    next.dampening = value;
    break;
  case LB_SGD_WEIGHT_DECAY:
    next.weight_decay = value;
    break;
  case LB_SGD_NESTEROV:
    next.nesterov = flag;
    break;
  case LB_SGD_DECAY_NORM_AND_BIAS:
    next.decay_norm_and_bias = flag;
    break;
  }
  s = lb_sgd_check_settings(&next, LB_EINVAL, who);
  if (s != LB_OK)
    return s;
  o->settings = next;
  return LB_OK;
}

lb_status lb_optimizer_get_param(const lb_optimizer *o, lb_sgd_param p,
                                 double *value) {
  const char *who = "lb_optimizer_get_param";
  if (!o)
    return lb_fail(LB_EINVAL, "%s: o is NULL", who);
  if (!value)
    return lb_fail(LB_EINVAL, "%s: value is NULL", who);
  lb_status s = check_param(p, who);
  if (s != LB_OK)
    return s;
  const lb_sgd_settings *t = &o->settings;
  double v = 0;
  switch (p) {
  case LB_SGD_LEARNING_RATE:
    v = t->learning_rate;
    break;
  case LB_SGD_MOMENTUM:
    v = t->momentum;
    break;
  case LB_SGD_DAMPENING:
    v = t->dampening;
    break;
  case LB_SGD_WEIGHT_DECAY:
    v = t->weight_decay;
    break;
  case LB_SGD_NESTEROV:
    v = t->nesterov ? 1 : 0;
    break;
  case LB_SGD_DECAY_NORM_AND_BIAS:
    v = t->decay_norm_and_bias ? 1 : 0;
    break;
  }
  *value = v;
  return LB_OK;
}

/* One parameter's update. Coefficients are rounded to float as PyTorch
 * does for a float tensor's scalar arguments, and every `a.add(b, alpha)`
 * of torch.optim.SGD is a fused multiply-add, as in PyTorch's vectorised
 * CPU kernels: fmaf() is correctly rounded on every platform, so the
 * results are bit-identical to PyTorch's (tests/test_nn_optim.c checks it)
 * and do not depend on the compiler's contraction settings or on the
 * instruction set. */
#define LB_SGD_UPDATE_BODY                                                     \
  for (int64_t i = 0; i < n; i++) {                                            \
    float d = g[i];                                                            \
    if (wd != 0)                                                               \
      d = fmaf(wd, p[i], d);                                                   \
    if (momentum != 0) {                                                       \
      float b = first ? d : fmaf(keep, d, momentum * buf[i]);                  \
      buf[i] = b;                                                              \
      d = nesterov ? fmaf(momentum, b, d) : b;                                 \
    }                                                                          \
    p[i] = fmaf(-lr, d, p[i]);                                                 \
  }

static void update(float *restrict p, const float *restrict g,
                   float *restrict buf, int64_t n, float lr, float wd,
                   float momentum, float keep, bool nesterov, bool first) {
  LB_SGD_UPDATE_BODY
}

/* x86 without -mfma at build time: fmaf() is a library call per element, so
 * a clone with the FMA instruction serves CPUs that have it (same results:
 * both are the correctly rounded fused operation). */
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) &&         \
    !defined(__FMA__)
#define LB_SGD_FMA_CLONE 1
__attribute__((target("fma"))) static void
update_fma(float *restrict p, const float *restrict g, float *restrict buf,
           int64_t n, float lr, float wd, float momentum, float keep,
           bool nesterov, bool first) {
  LB_SGD_UPDATE_BODY
}
#endif

/* A step, split over the worker threads by ranges of the parameters'
 * elements taken in table order; elementwise, so the results do not depend
 * on the split. */
typedef struct step_job {
  lb_optimizer *o;
  int64_t total;
  int32_t chunks;
  float lr, momentum, keep, weight_decay;
  bool nesterov, first, fma;
} step_job;

static void step_chunk(void *context, int32_t chunk) {
  const step_job *j = context;
  const lb_optimizer *o = j->o;
  const lb_model *m = o->model;
  const lb_sgd_settings *s = &o->settings;
  int64_t begin = lb_chunk_begin(j->total, chunk, j->chunks);
  int64_t end = lb_chunk_begin(j->total, chunk + 1, j->chunks);
  int64_t offset = 0;
  for (int32_t k = 0; k < o->param_count && offset < end; k++) {
    const lb_model_tensor *t = &m->tensors[o->param_index[k]];
    int64_t lo = begin > offset ? begin : offset;
    int64_t hi = end < offset + t->numel ? end : offset + t->numel;
    if (lo < hi) {
      bool decays = s->decay_norm_and_bias || !lb_sgd_is_norm_or_bias(t);
      float wd = decays ? j->weight_decay : 0.0f;
      int64_t at = lo - offset;
#ifdef LB_SGD_FMA_CLONE
      if (j->fma) {
        update_fma(t->data + at, t->grad + at, o->buffer[k] + at, hi - lo,
                   j->lr, wd, j->momentum, j->keep, j->nesterov, j->first);
      } else
#endif
        update(t->data + at, t->grad + at, o->buffer[k] + at, hi - lo, j->lr,
               wd, j->momentum, j->keep, j->nesterov, j->first);
    }
    offset += t->numel;
  }
}

lb_status lb_optimizer_step(lb_optimizer *o) {
  const char *who = "lb_optimizer_step";
  if (!o)
    return lb_fail(LB_EINVAL, "%s: o is NULL", who);
  lb_model *m = o->model;
  if (m->backward_count == o->seen_backward)
    return lb_fail(LB_ESTATE,
                   "%s: no backward pass of the model since the optimizer "
                   "was created, loaded or last stepped",
                   who);
  const lb_sgd_settings *s = &o->settings;
  step_job j;
  memset(&j, 0, sizeof j);
  j.o = o;
  j.total = m->parameter_count;
  j.lr = (float)s->learning_rate;
  j.momentum = (float)s->momentum;
  j.keep = (float)(1.0 - s->dampening);
  j.weight_decay = (float)s->weight_decay;
  j.nesterov = s->nesterov;
  j.first = !o->has_buffers;
#ifdef LB_SGD_FMA_CLONE
  j.fma = __builtin_cpu_supports("fma");
#endif
  j.chunks = lb_parallel_chunks(j.total, 1);
  lb_parallel_for(step_chunk, &j, j.chunks);
  lb_model_parameters_changed(m);
  if (s->momentum != 0)
    o->has_buffers = true;
  o->seen_backward = m->backward_count;
  return LB_OK;
}

void lb_optimizer_free(lb_optimizer *o) {
  if (!o)
    return;
  lb_free_aligned(o->buffers);
  lb_free(o->buffer);
  lb_free(o->param_index);
  lb_free(o);
}
