/* Training checkpoints: the model's tensors, the SGD optimizer's momentum
 * buffers and settings, and the training position, in one safetensors file
 * written atomically. Loading checks the whole file before it changes
 * anything. */
#include "optim_internal.h"

#include "../core/core_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "lossbal's checkpoints assume a little-endian host"
#endif

#define MOMENTUM_PREFIX "optimizer.momentum."
#define NAME_CAPACITY (LB_MODEL_NAME_MAX + sizeof MOMENTUM_PREFIX)
#define CHECKPOINT_VERSION "1"

/* The metadata of a checkpoint, by key. */
enum {
  META_FORMAT,
  META_VERSION,
  META_EPOCH,
  META_STEP,
  META_RNG,
  META_OPTIMIZER,
  META_LR,
  META_MOMENTUM,
  META_DAMPENING,
  META_WEIGHT_DECAY,
  META_NESTEROV,
  META_DECAY_NORM_AND_BIAS,
  META_BUFFERS,
  META_COUNT
};

static const char *const meta_key[META_COUNT] = {
    "format",
    "lossbal.checkpoint",
    "lossbal.epoch",
    "lossbal.step",
    "lossbal.rng_state",
    "lossbal.optimizer",
    "lossbal.sgd.learning_rate",
    "lossbal.sgd.momentum",
    "lossbal.sgd.dampening",
    "lossbal.sgd.weight_decay",
    "lossbal.sgd.nesterov",
    "lossbal.sgd.decay_norm_and_bias",
    "lossbal.sgd.momentum_buffers",
};

lb_status lb_checkpoint_save(const char *path, const lb_model *m,
                             const lb_optimizer *o, int64_t epoch, int64_t step,
                             uint64_t rng_state) {
  const char *who = "lb_checkpoint_save";
  if (!path)
    return lb_fail(LB_EINVAL, "%s: path is NULL", who);
  if (!m)
    return lb_fail(LB_EINVAL, "%s: m is NULL", who);
  if (o && o->model != m)
    return lb_fail(LB_EINVAL, "%s: o is not an optimizer of m", who);
  if (epoch < 0)
    return lb_fail(LB_EINVAL, "%s: epoch %lld is negative", who,
                   (long long)epoch);
  if (step < 0)
    return lb_fail(LB_EINVAL, "%s: step %lld is negative", who,
                   (long long)step);
  bool buffers = o && o->has_buffers;
  size_t extra = buffers ? (size_t)o->param_count : 0;
  size_t count = (size_t)m->tensor_count + extra;
  lb_st_tensor *list = lb_alloc_zeroed(count * sizeof *list);
  char *names = list && extra ? lb_alloc(extra * NAME_CAPACITY) : NULL;
  if (!list || (extra && !names)) {
    lb_free(list);
    return LB_ENOMEM;
  }
  lb_model_describe_tensors(m, list);
  for (size_t k = 0; k < extra; k++) {
    const lb_model_tensor *t = &m->tensors[o->param_index[k]];
    lb_st_tensor *f = &list[(size_t)m->tensor_count + k];
    char *name = names + k * NAME_CAPACITY;
    snprintf(name, NAME_CAPACITY, "%s%s", MOMENTUM_PREFIX, t->name);
    f->name = name;
    f->dtype = LB_ST_F32;
    f->ndim = t->ndim;
    for (int32_t d = 0; d < t->ndim; d++)
      f->shape[d] = t->shape[d];
    f->data = o->buffer[k];
    f->bytes = (size_t)t->numel * sizeof(float);
  }

  char text[META_COUNT][40];
  lb_st_pair meta[META_COUNT];
  size_t meta_count = 0;
#define PUT(entry, ...)                                                        \
  do {                                                                         \
    snprintf(text[entry], sizeof text[entry], __VA_ARGS__);                    \
    meta[meta_count].key = meta_key[entry];                                    \
    meta[meta_count].value = text[entry];                                      \
    meta_count++;                                                              \
  } while (0)
  PUT(META_FORMAT, "pt");
  PUT(META_VERSION, CHECKPOINT_VERSION);
  PUT(META_EPOCH, "%lld", (long long)epoch);
  PUT(META_STEP, "%lld", (long long)step);
  PUT(META_RNG, "%llu", (unsigned long long)rng_state);
  PUT(META_OPTIMIZER, "%s", o ? "sgd" : "none");
  if (o) {
    const lb_sgd_settings *s = &o->settings;
    PUT(META_LR, "%.17g", s->learning_rate);
    PUT(META_MOMENTUM, "%.17g", s->momentum);
    PUT(META_DAMPENING, "%.17g", s->dampening);
    PUT(META_WEIGHT_DECAY, "%.17g", s->weight_decay);
    PUT(META_NESTEROV, "%d", s->nesterov ? 1 : 0);
    PUT(META_DECAY_NORM_AND_BIAS, "%d", s->decay_norm_and_bias ? 1 : 0);
    PUT(META_BUFFERS, "%d", buffers ? 1 : 0);
  }
#undef PUT
  lb_status status = lb_st_write_file(path, list, count, meta, meta_count);
  lb_free(names);
  lb_free(list);
  return status;
}

/* ---- loading ------------------------------------------------------------- */

static lb_status missing(const char *who, const char *path, int key) {
  return lb_fail(LB_EFORMAT, "%s: %s: metadata entry \"%s\" is missing", who,
                 path, meta_key[key]);
}

/* A decimal integer of digits only, at most `max`. */
static lb_status meta_u64(const lb_st_file *f, int key, uint64_t max,
                          const char *who, const char *path, uint64_t *out) {
  const char *v = lb_st_metadata_find(f, meta_key[key]);
  if (!v)
    return missing(who, path, key);
  uint64_t x = 0;
  bool ok = *v != '\0';
  for (const char *c = v; ok && *c; c++) {
    unsigned digit = (unsigned)(*c - '0');
    ok = *c >= '0' && *c <= '9' && digit <= max && x <= (max - digit) / 10;
    x = x * 10 + digit;
  }
  if (!ok)
    return lb_fail(LB_EFORMAT,
                   "%s: %s: metadata entry \"%s\" = \"%s\" is not a decimal "
                   "integer in [0, %llu]",
                   who, path, meta_key[key], v, (unsigned long long)max);
  *out = x;
  return LB_OK;
}

static lb_status meta_double(const lb_st_file *f, int key, const char *who,
                             const char *path, double *out) {
  const char *v = lb_st_metadata_find(f, meta_key[key]);
  if (!v)
    return missing(who, path, key);
  char *end = NULL;
  errno = 0;
  double x = strtod(v, &end);
  if (*v == '\0' || *end != '\0' || !isfinite(x) || *v == ' ' || *v == '\t')
    return lb_fail(LB_EFORMAT,
                   "%s: %s: metadata entry \"%s\" = \"%s\" is not a finite "
                   "number",
                   who, path, meta_key[key], v);
  *out = x;
  return LB_OK;
}

static lb_status meta_flag(const lb_st_file *f, int key, const char *who,
                           const char *path, bool *out) {
  uint64_t x = 0;
  lb_status s = meta_u64(f, key, 1, who, path, &x);
  if (s == LB_OK)
    *out = x != 0;
  return s;
}

/* What a checkpoint's metadata says. */
typedef struct header {
  uint64_t epoch, step, rng;
  bool has_optimizer, buffers;
  lb_sgd_settings settings;
} header;

static lb_status read_header(const lb_st_file *f, const char *who,
                             const char *path, header *h) {
  const char *version = lb_st_metadata_find(f, meta_key[META_VERSION]);
  if (!version)
    return lb_fail(LB_EFORMAT,
                   "%s: %s: metadata entry \"%s\" is missing: not a lossbal "
                   "checkpoint",
                   who, path, meta_key[META_VERSION]);
  if (strcmp(version, CHECKPOINT_VERSION) != 0)
    return lb_fail(LB_EFORMAT,
                   "%s: %s: metadata entry \"%s\" = \"%s\": unsupported "
                   "checkpoint version (this library reads %s)",
                   who, path, meta_key[META_VERSION], version,
                   CHECKPOINT_VERSION);
  lb_status s;
  if ((s = meta_u64(f, META_EPOCH, INT64_MAX, who, path, &h->epoch)) ||
      (s = meta_u64(f, META_STEP, INT64_MAX, who, path, &h->step)) ||
      (s = meta_u64(f, META_RNG, UINT64_MAX, who, path, &h->rng)))
    return s;
  const char *kind = lb_st_metadata_find(f, meta_key[META_OPTIMIZER]);
  if (!kind)
    return missing(who, path, META_OPTIMIZER);
  if (strcmp(kind, "none") == 0) {
    h->has_optimizer = false;
    h->buffers = false;
    return LB_OK;
  }
  if (strcmp(kind, "sgd") != 0)
    return lb_fail(LB_EFORMAT,
                   "%s: %s: metadata entry \"%s\" = \"%s\" is neither "
                   "\"sgd\" nor \"none\"",
                   who, path, meta_key[META_OPTIMIZER], kind);
  h->has_optimizer = true;
  lb_sgd_settings *t = &h->settings;
  if ((s = meta_double(f, META_LR, who, path, &t->learning_rate)) ||
      (s = meta_double(f, META_MOMENTUM, who, path, &t->momentum)) ||
      (s = meta_double(f, META_DAMPENING, who, path, &t->dampening)) ||
      (s = meta_double(f, META_WEIGHT_DECAY, who, path, &t->weight_decay)) ||
      (s = meta_flag(f, META_NESTEROV, who, path, &t->nesterov)) ||
      (s = meta_flag(f, META_DECAY_NORM_AND_BIAS, who, path,
                     &t->decay_norm_and_bias)) ||
      (s = meta_flag(f, META_BUFFERS, who, path, &h->buffers)))
    return s;
  char prefix[600];
  snprintf(prefix, sizeof prefix, "%s: %s: optimizer settings", who, path);
  return lb_sgd_check_settings(t, LB_EFORMAT, prefix);
}

/* Every tensor of the file is the model's or, with buffers, a momentum
 * buffer of one of its parameters with the parameter's shape; with
 * buffers, every parameter has one. */
static lb_status check_tensors(const lb_st_file *f, const lb_model *m,
                               bool buffers, const char *who,
                               const char *path) {
  size_t prefix = strlen(MOMENTUM_PREFIX);
  for (size_t i = 0; i < lb_st_count(f); i++) {
    const lb_st_tensor *t = lb_st_at(f, i);
    if (lb_model_find_tensor(m, t->name))
      continue;
    const lb_model_tensor *p = NULL;
    if (strncmp(t->name, MOMENTUM_PREFIX, prefix) == 0) {
      p = lb_model_find_tensor(m, t->name + prefix);
      if (p && !p->grad)
        p = NULL;
    }
    if (!p)
      return lb_fail(LB_EFORMAT,
                     "%s: %s: tensor \"%s\" is not a tensor of the model or "
                     "of its optimizer",
                     who, path, t->name);
    if (!buffers)
      return lb_fail(LB_EFORMAT,
                     "%s: %s: tensor \"%s\" is present but metadata entry "
                     "\"%s\" does not say 1",
                     who, path, t->name, meta_key[META_BUFFERS]);
    bool same = t->dtype == LB_ST_F32 && t->ndim == p->ndim;
    for (int32_t d = 0; same && d < p->ndim; d++)
      same = t->shape[d] == p->shape[d];
    if (!same)
      return lb_fail(LB_EFORMAT,
                     "%s: %s: tensor \"%s\" is not F32 of the shape of "
                     "parameter \"%s\"",
                     who, path, t->name, p->name);
  }
  if (buffers) {
    char name[NAME_CAPACITY];
    for (int32_t i = 0; i < m->tensor_count; i++) {
      if (!m->tensors[i].grad)
        continue;
      snprintf(name, sizeof name, "%s%s", MOMENTUM_PREFIX, m->tensors[i].name);
      if (!lb_st_find(f, name))
        return lb_fail(LB_EFORMAT, "%s: %s: tensor \"%s\" is missing", who,
                       path, name);
    }
  }
  return LB_OK;
}

lb_status lb_checkpoint_load(const char *path, lb_model *m, lb_optimizer *o,
                             int64_t *epoch, int64_t *step,
                             uint64_t *rng_state) {
  const char *who = "lb_checkpoint_load";
  if (!path)
    return lb_fail(LB_EINVAL, "%s: path is NULL", who);
  if (!m)
    return lb_fail(LB_EINVAL, "%s: m is NULL", who);
  if (o && o->model != m)
    return lb_fail(LB_EINVAL, "%s: o is not an optimizer of m", who);
  lb_st_file *f = NULL;
  lb_status s = lb_st_read_file(path, &f);
  if (s != LB_OK)
    return s;
  header h;
  memset(&h, 0, sizeof h);
  s = read_header(f, who, path, &h);
  if (s == LB_OK && o && !h.has_optimizer)
    s = lb_fail(LB_EFORMAT,
                "%s: %s: metadata entry \"%s\" = \"none\": the checkpoint "
                "holds no optimizer state to load into o",
                who, path, meta_key[META_OPTIMIZER]);
  if (s == LB_OK)
    s = check_tensors(f, m, h.buffers, who, path);
  /* checks the model's tensors, then copies them */
  if (s == LB_OK)
    s = lb_model_load_st(m, f, true, who);
  if (s != LB_OK) {
    lb_st_free(f);
    return s;
  }
  if (o) {
    o->settings = h.settings;
    o->has_buffers = h.buffers;
    char name[NAME_CAPACITY];
    for (int32_t k = 0; k < o->param_count; k++) {
      const lb_model_tensor *t = &m->tensors[o->param_index[k]];
      size_t bytes = (size_t)t->numel * sizeof(float);
      if (h.buffers) {
        snprintf(name, sizeof name, "%s%s", MOMENTUM_PREFIX, t->name);
        memcpy(o->buffer[k], lb_st_find(f, name)->data, bytes);
      } else {
        memset(o->buffer[k], 0, bytes);
      }
    }
    o->seen_backward = m->backward_count;
  }
  lb_st_free(f);
  if (epoch)
    *epoch = (int64_t)h.epoch;
  if (step)
    *step = (int64_t)h.step;
  if (rng_state)
    *rng_state = h.rng;
  return LB_OK;
}
