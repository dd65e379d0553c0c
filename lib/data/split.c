/*
 * Imbalanced splits: count profiles (the paper's, long-tailed ones) and the
 * seeded choice of samples that realises a profile on a labelled set.
 */
#include "lossbal/data.h"

#include "class_groups.h"

#include "../core/core_internal.h"
#include "../core/random.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct lb_split {
  int64_t size;
  int32_t num_classes;
  int64_t *indices; /* ascending */
  int32_t *labels;
  int64_t *class_counts;
};

/* ---- profiles ------------------------------------------------------------- */

typedef struct named_profile {
  const char *name;
  int32_t num_classes;
  int64_t test_per_class;
  int64_t counts[9];
} named_profile;

/* Table 1 of Huang, Song and Lu (2019). */
static const named_profile named_profiles[] = {
    {"caltech", 8, 100, {7, 335, 14, 100, 700, 698, 139, 28}},
    {"part1", 9, 150, {100, 400, 200, 700, 50, 689, 423, 17, 10}},
    {"part2", 9, 150, {200, 100, 700, 650, 400, 1100, 10, 50, 1000}},
};

lb_status lb_profile_counts(const char *name, int64_t *counts,
                            int32_t capacity, int32_t *num_classes,
                            int64_t *test_per_class) {
  const char *who = "lb_profile_counts";
  if (!name || !num_classes)
    return lb_fail(LB_EINVAL, "%s: %s is NULL", who,
                   !name ? "name" : "num_classes");
  for (size_t p = 0; p < sizeof named_profiles / sizeof *named_profiles; p++) {
    const named_profile *profile = &named_profiles[p];
    if (strcmp(profile->name, name) != 0)
      continue;
    if (counts && capacity < profile->num_classes)
      return lb_fail(LB_EINVAL, "%s: capacity %d is below the %d classes of "
                     "profile '%s'", who, (int)capacity,
                     (int)profile->num_classes, name);
    if (counts)
      memcpy(counts, profile->counts,
             (size_t)profile->num_classes * sizeof *counts);
    *num_classes = profile->num_classes;
    if (test_per_class)
      *test_per_class = profile->test_per_class;
    return LB_OK;
  }
  return lb_fail(LB_EUNSUPPORTED, "%s: unknown profile '%s' (known: caltech, "
                 "part1, part2)", who, name);
}

lb_status lb_long_tail_counts(lb_long_tail_kind kind, int64_t n_max,
                              double rho, int32_t num_classes,
                              int64_t *counts) {
  const char *who = "lb_long_tail_counts";
  if (!counts)
    return lb_fail(LB_EINVAL, "%s: counts is NULL", who);
  if (kind != LB_LONG_TAIL_EXP && kind != LB_LONG_TAIL_STEP)
    return lb_fail(LB_EUNSUPPORTED, "%s: unknown kind %d", who, (int)kind);
  if (n_max < 1)
    return lb_fail(LB_EINVAL, "%s: n_max = %lld; it must be >= 1", who,
                   (long long)n_max);
  if (!(rho >= 1.0) || !isfinite(rho))
    return lb_fail(LB_EINVAL, "%s: rho = %g; it must be finite and >= 1", who,
                   rho);
  if (num_classes < 1 || num_classes > LB_PROFILE_MAX_CLASSES)
    return lb_fail(LB_EINVAL, "%s: num_classes = %d is outside [1, %d]", who,
                   (int)num_classes, LB_PROFILE_MAX_CLASSES);
  for (int32_t i = 0; i < num_classes; i++) {
    double count;
    if (kind == LB_LONG_TAIL_EXP)
      /* Written as the CIFAR-LT reference code computes it, (1/rho)^t,
       * so the floors agree with the published class counts. */
      count = num_classes == 1
                  ? (double)n_max
                  : (double)n_max *
                        pow(1.0 / rho, (double)i / (num_classes - 1.0));
    else
      count = i < (num_classes + 1) / 2 ? (double)n_max
                                        : (double)n_max / rho;
    if (count < 1.0)
      return lb_fail(LB_EINVAL, "%s: class %d of n_max %lld at rho %g would "
                     "have %g samples, so the rarest class would be empty",
                     who, (int)i, (long long)n_max, rho, count);
    counts[i] = (int64_t)floor(count);
  }
  return LB_OK;
}

/* ---- splits --------------------------------------------------------------- */

void lb_split_free(lb_split *split) {
  if (!split)
    return;
  lb_free(split->indices);
  lb_free(split->labels);
  lb_free(split->class_counts);
  lb_free(split);
}

int64_t lb_split_size(const lb_split *split) { return split ? split->size : 0; }

int32_t lb_split_num_classes(const lb_split *split) {
  return split ? split->num_classes : 0;
}

const int64_t *lb_split_indices(const lb_split *split) {
  return split ? split->indices : NULL;
}

const int32_t *lb_split_labels(const lb_split *split) {
  return split ? split->labels : NULL;
}

lb_status lb_split_class_counts(const lb_split *split, int64_t *counts,
                                int32_t capacity) {
  const char *who = "lb_split_class_counts";
  if (!split || !counts)
    return lb_fail(LB_EINVAL, "%s: %s is NULL", who,
                   !split ? "split" : "counts");
  if (capacity < split->num_classes)
    return lb_fail(LB_EINVAL, "%s: capacity %d is below the %d classes of "
                   "the split", who, (int)capacity, (int)split->num_classes);
  memcpy(counts, split->class_counts,
         (size_t)split->num_classes * sizeof *counts);
  return LB_OK;
}

static lb_status check_counts(const char *who, const int64_t *counts,
                              int32_t num_classes, const class_members *m,
                              int64_t *total) {
  *total = 0;
  for (int32_t c = 0; c < num_classes; c++) {
    int64_t available = m->first[c + 1] - m->first[c];
    if (counts[c] < 0)
      return lb_fail(LB_EINVAL, "%s: counts[%d] = %lld is negative", who,
                     (int)c, (long long)counts[c]);
    if (counts[c] > available)
      return lb_fail(LB_EINVAL, "%s: class %d has %lld samples available but "
                     "%lld were asked for", who, (int)c, (long long)available,
                     (long long)counts[c]);
    *total += counts[c];
  }
  return LB_OK;
}

static int compare_indices(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Moves a uniformly random choice of `take` of the `available` entries to
 * the front (a partial Fisher-Yates shuffle). Each class draws from its own
 * stream, so the samples of one class do not depend on another's count. */
static void choose_front(int64_t *entries, int64_t available, int64_t take,
                         uint64_t seed, int32_t class_index) {
  uint64_t state = lb_random_stream(seed, (uint64_t)class_index);
  for (int64_t i = 0; i < take; i++) {
    int64_t j = i + (int64_t)lb_random_below(&state,
                                             (uint64_t)(available - i));
    int64_t kept = entries[i];
    entries[i] = entries[j];
    entries[j] = kept;
  }
}

static lb_status mark_excluded(const char *who, const lb_split *exclude,
                               int64_t count, uint8_t **excluded) {
  *excluded = NULL;
  if (!exclude)
    return LB_OK;
  for (int64_t i = 0; i < exclude->size; i++)
    if (exclude->indices[i] >= count)
      return lb_fail(LB_EINVAL, "%s: exclude holds index %lld, outside the "
                     "%lld labels", who, (long long)exclude->indices[i],
                     (long long)count);
  *excluded = lb_alloc_zeroed((size_t)count);
  if (!*excluded)
    return lb_fail(LB_ENOMEM, "%s: out of memory", who);
  for (int64_t i = 0; i < exclude->size; i++)
    (*excluded)[exclude->indices[i]] = 1;
  return LB_OK;
}

static lb_status new_split(const char *who, int64_t size, int32_t num_classes,
                           lb_split **out) {
  lb_split *split = lb_alloc_zeroed(sizeof *split);
  if (!split)
    return lb_fail(LB_ENOMEM, "%s: out of memory", who);
  split->size = size;
  split->num_classes = num_classes;
  split->indices = lb_alloc(((size_t)size + 1) * sizeof(int64_t));
  split->labels = lb_alloc(((size_t)size + 1) * sizeof(int32_t));
  split->class_counts = lb_alloc((size_t)num_classes * sizeof(int64_t));
  if (!split->indices || !split->labels || !split->class_counts) {
    lb_split_free(split);
    return lb_fail(LB_ENOMEM, "%s: out of memory", who);
  }
  *out = split;
  return LB_OK;
}

static lb_status choose_split(const char *who, const int32_t *labels,
                              const int64_t *counts, int32_t num_classes,
                              const class_members *m, uint64_t seed,
                              lb_split **out) {
  int64_t total = 0;
  lb_status status = check_counts(who, counts, num_classes, m, &total);
  if (status != LB_OK)
    return status;
  lb_split *split = NULL;
  status = new_split(who, total, num_classes, &split);
  if (status != LB_OK)
    return status;
  int64_t filled = 0;
  for (int32_t c = 0; c < num_classes; c++) {
    int64_t *entries = m->members + m->first[c];
    choose_front(entries, m->first[c + 1] - m->first[c], counts[c], seed, c);
    memcpy(split->indices + filled, entries, (size_t)counts[c] * sizeof *entries);
    filled += counts[c];
    split->class_counts[c] = counts[c];
  }
  qsort(split->indices, (size_t)total, sizeof *split->indices,
        compare_indices);
  for (int64_t i = 0; i < total; i++)
    split->labels[i] = labels[split->indices[i]];
  *out = split;
  return LB_OK;
}

lb_status lb_split_by_counts(const int32_t *labels, int64_t count,
                             const int64_t *counts, int32_t num_classes,
                             const lb_split *exclude, uint64_t seed,
                             lb_split **out) {
  const char *who = "lb_split_by_counts";
  if (!labels || !counts || !out)
    return lb_fail(LB_EINVAL, "%s: %s is NULL", who,
                   !labels ? "labels" : !counts ? "counts" : "out");
  *out = NULL;
  if (count < 1)
    return lb_fail(LB_EINVAL, "%s: count = %lld; it must be >= 1", who,
                   (long long)count);
  if (num_classes < 1 || num_classes > LB_PROFILE_MAX_CLASSES)
    return lb_fail(LB_EINVAL, "%s: num_classes = %d is outside [1, %d]", who,
                   (int)num_classes, LB_PROFILE_MAX_CLASSES);
  uint8_t *excluded = NULL;
  lb_status status = mark_excluded(who, exclude, count, &excluded);
  if (status != LB_OK)
    return status;
  class_members members = {NULL, NULL};
  status = lb_group_by_class(who, labels, count, num_classes, excluded,
                             &members);
  lb_free(excluded);
  if (status != LB_OK)
    return status;
  status = choose_split(who, labels, counts, num_classes, &members, seed, out);
  lb_free_class_members(&members);
  return status;
}
