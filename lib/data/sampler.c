/*
 * Samplers: one epoch of positions at a time, drawn from the library's own
 * seeded generator so that every machine sees the same epochs.
 */
#include "lossbal/data.h"

#include "class_groups.h"

#include "../core/core_internal.h"
#include "../core/random.h"

#include <math.h>
#include <string.h>

struct lb_sampler {
  lb_sampler_kind kind;
  int64_t n;
  int32_t num_classes;
  int64_t epoch_length;
  uint64_t random_state;
  /* members[first[c] .. first[c + 1]) are the positions of class c. */
  int64_t *first;
  int64_t *members;
  /* The classes with at least one sample, and how many there are. */
  int32_t *present;
  int32_t present_count;
  int64_t largest_class, smallest_class;
  /* Cumulative draw weights: over present classes (power sampling) or
   * over samples (weighted sampling); the last entry is the total. */
  double *cumulative;
  int64_t cumulative_count;
  /* Scratch for undersampling: a copy of one class's positions. */
  int64_t *scratch;
};

lb_sampler_options lb_sampler_options_default(void) {
  lb_sampler_options options;
  memset(&options, 0, sizeof options);
  options.struct_size = sizeof options;
  options.power = 0.5;
  return options;
}

void lb_sampler_free(lb_sampler *s) {
  if (!s)
    return;
  lb_free(s->first);
  lb_free(s->members);
  lb_free(s->present);
  lb_free(s->cumulative);
  lb_free(s->scratch);
  lb_free(s);
}

int64_t lb_sampler_epoch_length(const lb_sampler *s) {
  return s ? s->epoch_length : 0;
}

/* ---- creation ------------------------------------------------------------- */

static lb_status check_options(const char *who, lb_sampler_kind kind,
                               int64_t n, const lb_sampler_options *o) {
  if (o->struct_size < sizeof(lb_sampler_options))
    return lb_fail(LB_EINVAL, "%s: options->struct_size = %zu is smaller "
                   "than sizeof(lb_sampler_options) = %zu", who,
                   o->struct_size, sizeof(lb_sampler_options));
  if (!isfinite(o->power))
    return lb_fail(LB_ENONFINITE, "%s: options->power is not finite", who);
  if (o->power < 0.0 || o->power > 1.0)
    return lb_fail(LB_EINVAL, "%s: options->power = %g is outside [0, 1]",
                   who, o->power);
  if (o->epoch_length < 0)
    return lb_fail(LB_EINVAL, "%s: options->epoch_length = %lld is negative",
                   who, (long long)o->epoch_length);
  if (kind != LB_SAMPLER_WEIGHTED)
    return LB_OK;
  if (!o->weights)
    return lb_fail(LB_EINVAL, "%s: LB_SAMPLER_WEIGHTED needs "
                   "options->weights", who);
  double total = 0.0;
  for (int64_t i = 0; i < n; i++) {
    if (!isfinite(o->weights[i]))
      return lb_fail(LB_ENONFINITE, "%s: weights[%lld] is not finite", who,
                     (long long)i);
    if (o->weights[i] < 0.0)
      return lb_fail(LB_EINVAL, "%s: weights[%lld] = %g is negative", who,
                     (long long)i, o->weights[i]);
    total += o->weights[i];
  }
  if (!(total > 0.0) || !isfinite(total))
    return lb_fail(LB_EINVAL, "%s: the weights sum to %g; they must sum to a "
                   "positive finite value", who, total);
  return LB_OK;
}

static lb_status out_of_memory(const char *who, lb_sampler *s) {
  lb_sampler_free(s);
  return lb_fail(LB_ENOMEM, "%s: out of memory", who);
}

/* Groups positions by class (a counting sort) and finds the present
 * classes and the largest and smallest present counts. */
static lb_status group_positions(const char *who, lb_sampler *s,
                                 const int32_t *labels) {
  const int32_t k = s->num_classes;
  class_members groups = {NULL, NULL};
  lb_status status = lb_group_by_class(who, labels, s->n, k, NULL, &groups);
  if (status != LB_OK)
    return status;
  s->first = groups.first;
  s->members = groups.members;
  s->present = lb_alloc((size_t)k * sizeof(int32_t));
  if (!s->present)
    return lb_fail(LB_ENOMEM, "%s: out of memory", who);
  s->largest_class = 0;
  s->smallest_class = s->n;
  for (int32_t c = 0; c < k; c++) {
    int64_t size = s->first[c + 1] - s->first[c];
    if (size == 0)
      continue;
    s->present[s->present_count++] = c;
    if (size > s->largest_class)
      s->largest_class = size;
    if (size < s->smallest_class)
      s->smallest_class = size;
  }
  return LB_OK;
}

/* n^q, with the common powers exact: sqrt() is correctly rounded
 * everywhere, pow() only in some C libraries, and the draws should not
 * depend on which. */
static double class_weight(double n, double q) {
  if (q == 0.0)
    return 1.0;
  if (q == 0.5)
    return sqrt(n);
  if (q == 1.0)
    return n;
  return pow(n, q);
}

static lb_status build_cumulative(const char *who, lb_sampler *s,
                                  const lb_sampler_options *o) {
  if (s->kind == LB_SAMPLER_POWER) {
    s->cumulative_count = s->present_count;
  } else if (s->kind == LB_SAMPLER_WEIGHTED) {
    s->cumulative_count = s->n;
  } else {
    return LB_OK;
  }
  s->cumulative = lb_alloc((size_t)s->cumulative_count * sizeof(double));
  if (!s->cumulative)
    return lb_fail(LB_ENOMEM, "%s: out of memory", who);
  double running = 0.0;
  for (int64_t i = 0; i < s->cumulative_count; i++) {
    if (s->kind == LB_SAMPLER_POWER) {
      int32_t c = s->present[i];
      running += class_weight((double)(s->first[c + 1] - s->first[c]),
                              o->power);
    } else {
      running += o->weights[i];
    }
    s->cumulative[i] = running;
  }
  return LB_OK;
}

static int64_t epoch_length_of(const lb_sampler *s,
                               const lb_sampler_options *o) {
  switch (s->kind) {
  case LB_SAMPLER_OVERSAMPLE:
    return (int64_t)s->present_count * s->largest_class;
  case LB_SAMPLER_UNDERSAMPLE:
    return (int64_t)s->present_count * s->smallest_class;
  case LB_SAMPLER_CLASS_BALANCED:
  case LB_SAMPLER_POWER:
  case LB_SAMPLER_WEIGHTED:
    return o->epoch_length ? o->epoch_length : s->n;
  case LB_SAMPLER_SEQUENTIAL:
  case LB_SAMPLER_SHUFFLE:
  default:
    return s->n;
  }
}

lb_status lb_sampler_create(lb_sampler_kind kind, const int32_t *labels,
                            int64_t n, int32_t num_classes,
                            const lb_sampler_options *options, uint64_t seed,
                            lb_sampler **out) {
  const char *who = "lb_sampler_create";
  if (!labels || !out)
    return lb_fail(LB_EINVAL, "%s: %s is NULL", who, !labels ? "labels" : "out");
  *out = NULL;
  if ((int)kind < LB_SAMPLER_SEQUENTIAL || (int)kind > LB_SAMPLER_WEIGHTED)
    return lb_fail(LB_EUNSUPPORTED, "%s: unknown sampler kind %d", who,
                   (int)kind);
  if (n < 1)
    return lb_fail(LB_EINVAL, "%s: n = %lld; it must be >= 1", who,
                   (long long)n);
  if (num_classes < 1)
    return lb_fail(LB_EINVAL, "%s: num_classes = %d; it must be >= 1", who,
                   (int)num_classes);
  for (int64_t i = 0; i < n; i++)
    if (labels[i] < 0 || labels[i] >= num_classes)
      return lb_fail(LB_EINVAL, "%s: labels[%lld] = %d is outside [0, %d)",
                     who, (long long)i, (int)labels[i], (int)num_classes);
  lb_sampler_options defaults = lb_sampler_options_default();
  const lb_sampler_options *o = options ? options : &defaults;
  lb_status status = check_options(who, kind, n, o);
  if (status != LB_OK)
    return status;

  lb_sampler *s = lb_alloc_zeroed(sizeof *s);
  if (!s)
    return lb_fail(LB_ENOMEM, "%s: out of memory", who);
  s->kind = kind;
  s->n = n;
  s->num_classes = num_classes;
  s->random_state = seed;
  status = group_positions(who, s, labels);
  if (status == LB_OK)
    status = build_cumulative(who, s, o);
  if (status != LB_OK) {
    lb_sampler_free(s);
    return status;
  }
  s->scratch = lb_alloc((size_t)s->largest_class * sizeof(int64_t));
  if (!s->scratch)
    return out_of_memory(who, s);
  s->epoch_length = epoch_length_of(s, o);
  *out = s;
  return LB_OK;
}

/* ---- epochs --------------------------------------------------------------- */

static void shuffle(uint64_t *state, int64_t *values, int64_t count) {
  for (int64_t i = count - 1; i > 0; i--) {
    int64_t j = (int64_t)lb_random_below(state, (uint64_t)i + 1);
    int64_t kept = values[i];
    values[i] = values[j];
    values[j] = kept;
  }
}

static int64_t class_size(const lb_sampler *s, int32_t c) {
  return s->first[c + 1] - s->first[c];
}

/* One of class c's positions, uniformly. */
static int64_t draw_from_class(lb_sampler *s, int32_t c) {
  uint64_t offset =
      lb_random_below(&s->random_state, (uint64_t)class_size(s, c));
  return s->members[s->first[c] + (int64_t)offset];
}

/* The first entry of the cumulative weights above a uniform draw. */
static int64_t draw_cumulative(lb_sampler *s) {
  double total = s->cumulative[s->cumulative_count - 1];
  double target = lb_random_unit(&s->random_state) * total;
  int64_t low = 0, high = s->cumulative_count - 1;
  while (low < high) {
    int64_t middle = low + (high - low) / 2;
    if (s->cumulative[middle] > target)
      high = middle;
    else
      low = middle + 1;
  }
  return low;
}

static void oversample_epoch(lb_sampler *s, int64_t *positions) {
  int64_t filled = 0;
  for (int32_t p = 0; p < s->present_count; p++) {
    int32_t c = s->present[p];
    int64_t size = class_size(s, c);
    memcpy(positions + filled, s->members + s->first[c],
           (size_t)size * sizeof *positions);
    filled += size;
    for (int64_t extra = size; extra < s->largest_class; extra++)
      positions[filled++] = draw_from_class(s, c);
  }
  shuffle(&s->random_state, positions, filled);
}

static void undersample_epoch(lb_sampler *s, int64_t *positions) {
  int64_t filled = 0;
  for (int32_t p = 0; p < s->present_count; p++) {
    int32_t c = s->present[p];
    int64_t size = class_size(s, c);
    memcpy(s->scratch, s->members + s->first[c],
           (size_t)size * sizeof *s->scratch);
    for (int64_t i = 0; i < s->smallest_class; i++) {
      int64_t j = i + (int64_t)lb_random_below(&s->random_state,
                                               (uint64_t)(size - i));
      int64_t kept = s->scratch[i];
      s->scratch[i] = s->scratch[j];
      s->scratch[j] = kept;
      positions[filled++] = s->scratch[i];
    }
  }
  shuffle(&s->random_state, positions, filled);
}

static void draw_epoch(lb_sampler *s, int64_t *positions) {
  for (int64_t i = 0; i < s->epoch_length; i++) {
    switch (s->kind) {
    case LB_SAMPLER_CLASS_BALANCED: {
      uint64_t p = lb_random_below(&s->random_state,
                                   (uint64_t)s->present_count);
      positions[i] = draw_from_class(s, s->present[p]);
      break;
    }
    case LB_SAMPLER_POWER:
      positions[i] = draw_from_class(s, s->present[draw_cumulative(s)]);
      break;
    default: /* LB_SAMPLER_WEIGHTED */
      positions[i] = draw_cumulative(s);
      break;
    }
  }
}

lb_status lb_sampler_next_epoch(lb_sampler *s, int64_t *positions,
                                int64_t capacity) {
  const char *who = "lb_sampler_next_epoch";
  if (!s || !positions)
    return lb_fail(LB_EINVAL, "%s: %s is NULL", who, !s ? "s" : "positions");
  if (capacity < s->epoch_length)
    return lb_fail(LB_EINVAL, "%s: capacity %lld is below the epoch length "
                   "%lld", who, (long long)capacity,
                   (long long)s->epoch_length);
  switch (s->kind) {
  case LB_SAMPLER_SEQUENTIAL:
    for (int64_t i = 0; i < s->n; i++)
      positions[i] = i;
    break;
  case LB_SAMPLER_SHUFFLE:
    for (int64_t i = 0; i < s->n; i++)
      positions[i] = i;
    shuffle(&s->random_state, positions, s->n);
    break;
  case LB_SAMPLER_OVERSAMPLE:
    oversample_epoch(s, positions);
    break;
  case LB_SAMPLER_UNDERSAMPLE:
    undersample_epoch(s, positions);
    break;
  default:
    draw_epoch(s, positions);
    break;
  }
  return LB_OK;
}
