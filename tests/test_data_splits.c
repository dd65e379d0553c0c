/* Tests of the imbalanced split builders and the samplers
 * (include/lossbal/data.h): the paper's profiles, long-tailed profiles,
 * per-class counts of a split, determinism for a seed and change with
 * another, exclusion, epoch lengths and the statistics of every sampler,
 * bad arguments and allocation failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lossbal/data.h"
#include "test_support.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers -------------------------------------------------------------- */

/* Labels of a balanced set: `per_class` samples of each of `classes`
 * classes, interleaved (0, 1, ..., K-1, 0, 1, ...) like a shuffled set. */
static int32_t *balanced_labels(int32_t classes, int64_t per_class) {
  int64_t n = classes * per_class;
  int32_t *labels = malloc((size_t)n * sizeof *labels);
  assert_non_null(labels);
  for (int64_t i = 0; i < n; i++)
    labels[i] = (int32_t)(i % classes);
  return labels;
}

/* Labels with the given count per class, grouped by class. */
static int32_t *labels_with_counts(const int64_t *counts, int32_t classes,
                                   int64_t *n) {
  *n = 0;
  for (int32_t c = 0; c < classes; c++)
    *n += counts[c];
  int32_t *labels = malloc((size_t)*n * sizeof *labels);
  assert_non_null(labels);
  int64_t filled = 0;
  for (int32_t c = 0; c < classes; c++)
    for (int64_t i = 0; i < counts[c]; i++)
      labels[filled++] = c;
  return labels;
}

static int same_split(const lb_split *a, const lb_split *b) {
  return lb_split_size(a) == lb_split_size(b) &&
         memcmp(lb_split_indices(a), lb_split_indices(b),
                (size_t)lb_split_size(a) * sizeof(int64_t)) == 0;
}

/* ---- profiles ------------------------------------------------------------- */

static void test_named_profiles(void **state) {
  (void)state;
  int64_t counts[16];
  int32_t classes = 0;
  int64_t test_per_class = 0;
  assert_int_equal(lb_profile_counts("part1", counts, 16, &classes,
                                     &test_per_class), LB_OK);
  const int64_t part1[9] = {100, 400, 200, 700, 50, 689, 423, 17, 10};
  assert_int_equal(classes, 9);
  assert_int_equal(test_per_class, 150);
  assert_memory_equal(counts, part1, sizeof part1);

  assert_int_equal(lb_profile_counts("caltech", counts, 16, &classes, NULL),
                   LB_OK);
  const int64_t caltech[8] = {7, 335, 14, 100, 700, 698, 139, 28};
  assert_int_equal(classes, 8);
  assert_memory_equal(counts, caltech, sizeof caltech);

  assert_int_equal(lb_profile_counts("part2", NULL, 0, &classes,
                                     &test_per_class), LB_OK);
  assert_int_equal(classes, 9);
  assert_int_equal(test_per_class, 150);
  assert_int_equal(lb_profile_counts("part2", counts, 9, &classes, NULL),
                   LB_OK);
  assert_int_equal(counts[5], 1100);

  assert_fails_with(lb_profile_counts("part3", counts, 16, &classes, NULL),
                    LB_EUNSUPPORTED, "part3");
  assert_fails_with(lb_profile_counts("part1", counts, 8, &classes, NULL),
                    LB_EINVAL, "capacity 8");
  assert_fails_with(lb_profile_counts(NULL, counts, 16, &classes, NULL),
                    LB_EINVAL, "name is NULL");
  assert_fails_with(lb_profile_counts("part1", counts, 16, NULL, NULL),
                    LB_EINVAL, "num_classes is NULL");
}

static void test_long_tail_profiles(void **state) {
  (void)state;
  int64_t counts[10];
  /* CIFAR-10-LT with imbalance 100: the published class counts. */
  const int64_t cifar10_lt[10] = {5000, 2997, 1796, 1077, 645,
                                  387,  232,  139,  83,   50};
  assert_int_equal(lb_long_tail_counts(LB_LONG_TAIL_EXP, 5000, 100.0, 10,
                                       counts), LB_OK);
  assert_memory_equal(counts, cifar10_lt, sizeof cifar10_lt);

  assert_int_equal(lb_long_tail_counts(LB_LONG_TAIL_STEP, 5000, 10.0, 5,
                                       counts), LB_OK);
  const int64_t step[5] = {5000, 5000, 5000, 500, 500};
  assert_memory_equal(counts, step, sizeof step);

  assert_int_equal(lb_long_tail_counts(LB_LONG_TAIL_EXP, 7, 3.0, 1, counts),
                   LB_OK);
  assert_int_equal(counts[0], 7);
  assert_int_equal(lb_long_tail_counts(LB_LONG_TAIL_EXP, 100, 1.0, 4, counts),
                   LB_OK);
  for (int i = 0; i < 4; i++)
    assert_int_equal(counts[i], 100);

  assert_fails_with(lb_long_tail_counts(LB_LONG_TAIL_EXP, 10, 20.0, 4,
                                        counts), LB_EINVAL, "rarest class");
  /* 49 * (1/49)^1 rounds to just below 1 in double: refused, not 0. */
  assert_fails_with(lb_long_tail_counts(LB_LONG_TAIL_EXP, 49, 49.0, 2,
                                        counts), LB_EINVAL, "class 1");
  assert_fails_with(lb_long_tail_counts(LB_LONG_TAIL_STEP, 10, 20.0, 3,
                                        counts), LB_EINVAL, "class 2");
  assert_fails_with(lb_long_tail_counts(LB_LONG_TAIL_EXP, 10, 0.5, 4, counts),
                    LB_EINVAL, "rho");
  assert_fails_with(lb_long_tail_counts(LB_LONG_TAIL_EXP, 10, NAN, 4, counts),
                    LB_EINVAL, "rho");
  assert_fails_with(lb_long_tail_counts(LB_LONG_TAIL_EXP, 0, 2.0, 4, counts),
                    LB_EINVAL, "n_max");
  assert_fails_with(lb_long_tail_counts(LB_LONG_TAIL_EXP, 10, 2.0, 0, counts),
                    LB_EINVAL, "num_classes");
  assert_fails_with(lb_long_tail_counts((lb_long_tail_kind)9, 10, 2.0, 4,
                                        counts), LB_EUNSUPPORTED, "kind 9");
  assert_fails_with(lb_long_tail_counts(LB_LONG_TAIL_EXP, 10, 2.0, 4, NULL),
                    LB_EINVAL, "counts is NULL");
}

/* ---- splits --------------------------------------------------------------- */

static void test_split_takes_the_asked_counts(void **state) {
  (void)state;
  int32_t *labels = balanced_labels(10, 300);
  const int64_t part1[9] = {100, 300, 200, 0, 50, 289, 123, 17, 10};
  lb_split *split = NULL;
  assert_int_equal(lb_split_by_counts(labels, 3000, part1, 9, NULL, 42,
                                      &split), LB_OK);
  int64_t total = 0;
  for (int c = 0; c < 9; c++)
    total += part1[c];
  assert_int_equal(lb_split_size(split), total);
  assert_int_equal(lb_split_num_classes(split), 9);
  const int64_t *indices = lb_split_indices(split);
  const int32_t *split_labels = lb_split_labels(split);
  int64_t seen[10] = {0};
  for (int64_t i = 0; i < total; i++) {
    if (i > 0)
      assert_true(indices[i] > indices[i - 1]); /* ascending, no repeats */
    assert_int_equal(split_labels[i], labels[indices[i]]);
    seen[split_labels[i]]++;
  }
  assert_memory_equal(seen, part1, sizeof part1);
  assert_int_equal(seen[9], 0); /* class 9 is beyond the profile */
  int64_t counts[9];
  assert_int_equal(lb_split_class_counts(split, counts, 9), LB_OK);
  assert_memory_equal(counts, part1, sizeof part1);
  lb_split_free(split);
  free(labels);
}

static void test_split_depends_on_the_seed_only(void **state) {
  (void)state;
  int32_t *labels = balanced_labels(4, 500);
  const int64_t counts[4] = {250, 100, 10, 1};
  lb_split *a = NULL, *b = NULL, *c = NULL;
  assert_int_equal(lb_split_by_counts(labels, 2000, counts, 4, NULL, 7, &a),
                   LB_OK);
  assert_int_equal(lb_split_by_counts(labels, 2000, counts, 4, NULL, 7, &b),
                   LB_OK);
  assert_int_equal(lb_split_by_counts(labels, 2000, counts, 4, NULL, 8, &c),
                   LB_OK);
  assert_true(same_split(a, b));
  assert_false(same_split(a, c));
  /* The same indices on every machine: these were computed by an
   * independent Python model of splitmix64 streams and the partial
   * Fisher-Yates shuffle (the generator and the algorithm are ours, so no
   * C library or platform enters). */
  const int64_t class2[10] = {422, 626, 658, 858, 1182,
                              1290, 1362, 1554, 1658, 1890};
  int64_t found2[10], n2 = 0, found3 = -1;
  for (int64_t i = 0; i < lb_split_size(a); i++) {
    if (lb_split_labels(a)[i] == 2)
      found2[n2++] = lb_split_indices(a)[i];
    if (lb_split_labels(a)[i] == 3)
      found3 = lb_split_indices(a)[i];
  }
  assert_int_equal(n2, 10);
  assert_memory_equal(found2, class2, sizeof class2);
  assert_int_equal(found3, 163);
  lb_split_free(a);
  lb_split_free(b);
  lb_split_free(c);
  free(labels);
}

static void test_split_classes_draw_independently(void **state) {
  (void)state;
  /* Changing the count of class 0 must not change which samples of class
   * 1 are chosen: each class has its own stream. */
  int32_t *labels = balanced_labels(2, 100);
  const int64_t few[2] = {5, 20}, many[2] = {60, 20};
  lb_split *a = NULL, *b = NULL;
  assert_int_equal(lb_split_by_counts(labels, 200, few, 2, NULL, 3, &a), LB_OK);
  assert_int_equal(lb_split_by_counts(labels, 200, many, 2, NULL, 3, &b),
                   LB_OK);
  int64_t class1_a[20], class1_b[20], na = 0, nb = 0;
  for (int64_t i = 0; i < lb_split_size(a); i++)
    if (lb_split_labels(a)[i] == 1)
      class1_a[na++] = lb_split_indices(a)[i];
  for (int64_t i = 0; i < lb_split_size(b); i++)
    if (lb_split_labels(b)[i] == 1)
      class1_b[nb++] = lb_split_indices(b)[i];
  assert_int_equal(na, 20);
  assert_int_equal(nb, 20);
  assert_memory_equal(class1_a, class1_b, sizeof class1_a);
  lb_split_free(a);
  lb_split_free(b);
  free(labels);
}

static void test_split_excludes_another_split(void **state) {
  (void)state;
  int32_t *labels = balanced_labels(3, 40);
  const int64_t test_counts[3] = {10, 10, 10};
  const int64_t train_counts[3] = {30, 5, 1};
  lb_split *test = NULL, *train = NULL;
  assert_int_equal(lb_split_by_counts(labels, 120, test_counts, 3, NULL, 1,
                                      &test), LB_OK);
  assert_int_equal(lb_split_by_counts(labels, 120, train_counts, 3, test, 2,
                                      &train), LB_OK);
  for (int64_t i = 0; i < lb_split_size(train); i++)
    for (int64_t j = 0; j < lb_split_size(test); j++)
      assert_true(lb_split_indices(train)[i] != lb_split_indices(test)[j]);
  /* Class 0 has 40 samples, 10 held out: 31 is one too many. */
  const int64_t too_many[3] = {31, 0, 0};
  lb_split *none = NULL;
  assert_fails_with(lb_split_by_counts(labels, 120, too_many, 3, test, 2,
                                       &none),
                    LB_EINVAL, "class 0 has 30 samples available but 31");
  assert_null(none);
  lb_split_free(test);
  lb_split_free(train);
  free(labels);
}

static void test_split_bad_arguments(void **state) {
  (void)state;
  int32_t labels[6] = {0, 1, 2, -1, 1, 0};
  const int64_t counts[3] = {2, 2, 1};
  lb_split *split = NULL;
  assert_int_equal(lb_split_by_counts(labels, 6, counts, 3, NULL, 0, &split),
                   LB_OK); /* the negative label is never chosen */
  assert_int_equal(lb_split_size(split), 5);
  lb_split_free(split);
  const int64_t negative[3] = {1, -1, 0};
  assert_fails_with(lb_split_by_counts(labels, 6, negative, 3, NULL, 0,
                                       &split), LB_EINVAL, "counts[1] = -1");
  assert_null(split);
  const int64_t too_many[3] = {1, 1, 2};
  assert_fails_with(lb_split_by_counts(labels, 6, too_many, 3, NULL, 0,
                                       &split),
                    LB_EINVAL, "class 2 has 1 samples available but 2");
  assert_fails_with(lb_split_by_counts(NULL, 6, counts, 3, NULL, 0, &split),
                    LB_EINVAL, "labels is NULL");
  assert_fails_with(lb_split_by_counts(labels, 6, NULL, 3, NULL, 0, &split),
                    LB_EINVAL, "counts is NULL");
  assert_fails_with(lb_split_by_counts(labels, 6, counts, 3, NULL, 0, NULL),
                    LB_EINVAL, "out is NULL");
  assert_fails_with(lb_split_by_counts(labels, 0, counts, 3, NULL, 0, &split),
                    LB_EINVAL, "count = 0");
  assert_fails_with(lb_split_by_counts(labels, 6, counts, 0, NULL, 0, &split),
                    LB_EINVAL, "num_classes = 0");
  /* An exclusion split made for a larger set. */
  int32_t big_labels[20] = {0};
  const int64_t one[1] = {20};
  lb_split *big = NULL;
  assert_int_equal(lb_split_by_counts(big_labels, 20, one, 1, NULL, 0, &big),
                   LB_OK);
  assert_fails_with(lb_split_by_counts(labels, 6, counts, 3, big, 0, &split),
                    LB_EINVAL, "outside the 6 labels");
  int64_t out_counts[3];
  assert_fails_with(lb_split_class_counts(big, out_counts, 0), LB_EINVAL,
                    "capacity 0");
  assert_fails_with(lb_split_class_counts(NULL, out_counts, 3), LB_EINVAL,
                    "split is NULL");
  assert_int_equal(lb_split_size(NULL), 0);
  assert_int_equal(lb_split_num_classes(NULL), 0);
  assert_null(lb_split_indices(NULL));
  assert_null(lb_split_labels(NULL));
  lb_split_free(NULL);
  lb_split_free(big);
}

static void test_split_allocation_failures(void **state) {
  (void)state;
  int32_t *labels = balanced_labels(3, 20);
  const int64_t counts[3] = {5, 6, 7};
  lb_split *test = NULL;
  assert_int_equal(lb_split_by_counts(labels, 60, counts, 3, NULL, 9, &test),
                   LB_OK);
  lb_split *split = NULL;
  assert_each_allocation_failure_is_clean(
      status_ = lb_split_by_counts(labels, 60, counts, 3, test, 1, &split),
      lb_split_free(split));
  lb_split_free(test);
  free(labels);
}

/* ---- samplers ------------------------------------------------------------- */

static const int64_t skewed[4] = {400, 100, 25, 4};

static int64_t *run_epoch(lb_sampler *s) {
  int64_t length = lb_sampler_epoch_length(s);
  int64_t *positions = malloc((size_t)length * sizeof *positions);
  assert_non_null(positions);
  assert_int_equal(lb_sampler_next_epoch(s, positions, length), LB_OK);
  return positions;
}

static lb_sampler *make_sampler(lb_sampler_kind kind, const int32_t *labels,
                                int64_t n, const lb_sampler_options *options,
                                uint64_t seed) {
  lb_sampler *s = NULL;
  assert_int_equal(lb_sampler_create(kind, labels, n, 4, options, seed, &s),
                   LB_OK);
  return s;
}

static void test_sequential_and_shuffle(void **state) {
  (void)state;
  int64_t n = 0;
  int32_t *labels = labels_with_counts(skewed, 4, &n);
  lb_sampler *seq = make_sampler(LB_SAMPLER_SEQUENTIAL, labels, n, NULL, 1);
  assert_int_equal(lb_sampler_epoch_length(seq), n);
  int64_t *order = run_epoch(seq);
  for (int64_t i = 0; i < n; i++)
    assert_int_equal(order[i], i);
  free(order);

  lb_sampler *shuffle = make_sampler(LB_SAMPLER_SHUFFLE, labels, n, NULL, 1);
  int64_t *first = run_epoch(shuffle), *second = run_epoch(shuffle);
  int64_t *seen = calloc((size_t)n, sizeof *seen);
  int64_t moved = 0;
  for (int64_t i = 0; i < n; i++) {
    seen[first[i]]++;
    moved += first[i] != i;
  }
  for (int64_t i = 0; i < n; i++)
    assert_int_equal(seen[i], 1); /* a permutation */
  assert_true(moved > n / 2);
  assert_memory_not_equal(first, second, (size_t)n * sizeof *first);
  /* The same seed gives the same epochs. */
  lb_sampler *again = make_sampler(LB_SAMPLER_SHUFFLE, labels, n, NULL, 1);
  int64_t *replay = run_epoch(again);
  assert_memory_equal(first, replay, (size_t)n * sizeof *first);
  free(replay);
  free(first);
  free(second);
  free(seen);
  lb_sampler_free(seq);
  lb_sampler_free(shuffle);
  lb_sampler_free(again);
  free(labels);
}

/* Counts of each class in an epoch, and how often each position occurs. */
static void class_histogram(const int64_t *positions, int64_t length,
                            const int32_t *labels, int64_t *per_class) {
  memset(per_class, 0, 4 * sizeof *per_class);
  for (int64_t i = 0; i < length; i++)
    per_class[labels[positions[i]]]++;
}

static void test_oversampling(void **state) {
  (void)state;
  int64_t n = 0;
  int32_t *labels = labels_with_counts(skewed, 4, &n);
  lb_sampler *s = make_sampler(LB_SAMPLER_OVERSAMPLE, labels, n, NULL, 5);
  assert_int_equal(lb_sampler_epoch_length(s), 4 * 400);
  int64_t *epoch = run_epoch(s);
  int64_t per_class[4];
  class_histogram(epoch, 1600, labels, per_class);
  for (int c = 0; c < 4; c++)
    assert_int_equal(per_class[c], 400);
  /* Every original sample is in the epoch (RandomOverSampler keeps them). */
  int64_t *seen = calloc((size_t)n, sizeof *seen);
  for (int64_t i = 0; i < 1600; i++)
    seen[epoch[i]]++;
  for (int64_t i = 0; i < n; i++)
    assert_true(seen[i] >= 1);
  /* The 4 samples of the rarest class share 400 places: about 100 each. */
  for (int64_t i = 525; i < 529; i++)
    assert_true(seen[i] > 60 && seen[i] < 140);
  free(seen);
  free(epoch);
  lb_sampler_free(s);
  free(labels);
}

static void test_undersampling(void **state) {
  (void)state;
  int64_t n = 0;
  int32_t *labels = labels_with_counts(skewed, 4, &n);
  lb_sampler *s = make_sampler(LB_SAMPLER_UNDERSAMPLE, labels, n, NULL, 5);
  assert_int_equal(lb_sampler_epoch_length(s), 4 * 4);
  int64_t *epoch = run_epoch(s), *next = run_epoch(s);
  int64_t per_class[4];
  class_histogram(epoch, 16, labels, per_class);
  for (int c = 0; c < 4; c++)
    assert_int_equal(per_class[c], 4);
  for (int64_t i = 0; i < 16; i++)
    for (int64_t j = i + 1; j < 16; j++)
      assert_true(epoch[i] != epoch[j]); /* without replacement */
  assert_memory_not_equal(epoch, next, 16 * sizeof *epoch);
  free(epoch);
  free(next);
  lb_sampler_free(s);
  free(labels);
}

/* Draws `epochs` epochs and returns the share of each class. */
static void class_shares(lb_sampler *s, const int32_t *labels, int epochs,
                         double *shares) {
  int64_t total[4] = {0}, length = lb_sampler_epoch_length(s);
  for (int e = 0; e < epochs; e++) {
    int64_t *epoch = run_epoch(s), per_class[4];
    class_histogram(epoch, length, labels, per_class);
    for (int c = 0; c < 4; c++)
      total[c] += per_class[c];
    free(epoch);
  }
  for (int c = 0; c < 4; c++)
    shares[c] = (double)total[c] / (double)(length * epochs);
}

static void test_class_balanced_and_power(void **state) {
  (void)state;
  int64_t n = 0;
  int32_t *labels = labels_with_counts(skewed, 4, &n);
  double shares[4];
  lb_sampler *balanced =
      make_sampler(LB_SAMPLER_CLASS_BALANCED, labels, n, NULL, 11);
  assert_int_equal(lb_sampler_epoch_length(balanced), n);
  class_shares(balanced, labels, 40, shares); /* 21 160 draws */
  for (int c = 0; c < 4; c++)
    assert_true(fabs(shares[c] - 0.25) < 0.015);

  lb_sampler *root = make_sampler(LB_SAMPLER_POWER, labels, n, NULL, 11);
  class_shares(root, labels, 40, shares);
  /* q = 1/2: shares proportional to 20, 10, 5, 2. */
  const double expected[4] = {20.0 / 37, 10.0 / 37, 5.0 / 37, 2.0 / 37};
  for (int c = 0; c < 4; c++)
    assert_true(fabs(shares[c] - expected[c]) < 0.015);

  lb_sampler_options options = lb_sampler_options_default();
  options.power = 1.0;
  options.epoch_length = 1000;
  lb_sampler *instance = make_sampler(LB_SAMPLER_POWER, labels, n, &options,
                                      11);
  assert_int_equal(lb_sampler_epoch_length(instance), 1000);
  class_shares(instance, labels, 20, shares);
  for (int c = 0; c < 4; c++)
    assert_true(fabs(shares[c] - (double)skewed[c] / (double)n) < 0.015);
  lb_sampler_free(balanced);
  lb_sampler_free(root);
  lb_sampler_free(instance);
  free(labels);
}

static void test_weighted(void **state) {
  (void)state;
  int32_t labels[5] = {0, 1, 2, 3, 3};
  const double weights[5] = {1.0, 0.0, 2.0, 1.0, 4.0};
  lb_sampler_options options = lb_sampler_options_default();
  options.weights = weights;
  options.epoch_length = 8000;
  lb_sampler *s = make_sampler(LB_SAMPLER_WEIGHTED, labels, 5, &options, 2);
  int64_t *epoch = run_epoch(s);
  int64_t seen[5] = {0};
  for (int64_t i = 0; i < 8000; i++)
    seen[epoch[i]]++;
  assert_int_equal(seen[1], 0); /* weight 0: never drawn */
  for (int i = 0; i < 5; i++)
    assert_true(fabs((double)seen[i] / 8000.0 - weights[i] / 8.0) < 0.02);
  free(epoch);
  lb_sampler_free(s);
}

static void test_sampler_bad_arguments(void **state) {
  (void)state;
  int32_t labels[4] = {0, 1, 1, 3};
  lb_sampler *s = NULL;
  assert_fails_with(lb_sampler_create(LB_SAMPLER_SHUFFLE, NULL, 4, 4, NULL, 0,
                                      &s), LB_EINVAL, "labels is NULL");
  assert_fails_with(lb_sampler_create(LB_SAMPLER_SHUFFLE, labels, 4, 4, NULL,
                                      0, NULL), LB_EINVAL, "out is NULL");
  assert_fails_with(lb_sampler_create((lb_sampler_kind)7, labels, 4, 4, NULL,
                                      0, &s), LB_EUNSUPPORTED, "kind 7");
  assert_fails_with(lb_sampler_create(LB_SAMPLER_SHUFFLE, labels, 0, 4, NULL,
                                      0, &s), LB_EINVAL, "n = 0");
  assert_fails_with(lb_sampler_create(LB_SAMPLER_SHUFFLE, labels, 4, 3, NULL,
                                      0, &s), LB_EINVAL, "labels[3] = 3");
  assert_fails_with(lb_sampler_create(LB_SAMPLER_SHUFFLE, labels, 4, 0, NULL,
                                      0, &s), LB_EINVAL, "num_classes = 0");
  lb_sampler_options options = lb_sampler_options_default();
  assert_fails_with(lb_sampler_create(LB_SAMPLER_WEIGHTED, labels, 4, 4,
                                      &options, 0, &s),
                    LB_EINVAL, "needs options->weights");
  double weights[4] = {1.0, -1.0, 0.0, 0.0};
  options.weights = weights;
  assert_fails_with(lb_sampler_create(LB_SAMPLER_WEIGHTED, labels, 4, 4,
                                      &options, 0, &s),
                    LB_EINVAL, "weights[1] = -1");
  weights[1] = NAN;
  assert_fails_with(lb_sampler_create(LB_SAMPLER_WEIGHTED, labels, 4, 4,
                                      &options, 0, &s),
                    LB_ENONFINITE, "weights[1]");
  weights[1] = 0.0;
  weights[0] = 0.0;
  assert_fails_with(lb_sampler_create(LB_SAMPLER_WEIGHTED, labels, 4, 4,
                                      &options, 0, &s),
                    LB_EINVAL, "sum to 0");
  options = lb_sampler_options_default();
  options.power = 1.5;
  assert_fails_with(lb_sampler_create(LB_SAMPLER_POWER, labels, 4, 4,
                                      &options, 0, &s), LB_EINVAL, "power");
  options.power = INFINITY;
  assert_fails_with(lb_sampler_create(LB_SAMPLER_POWER, labels, 4, 4,
                                      &options, 0, &s), LB_ENONFINITE,
                    "power");
  options = lb_sampler_options_default();
  options.epoch_length = -1;
  assert_fails_with(lb_sampler_create(LB_SAMPLER_POWER, labels, 4, 4,
                                      &options, 0, &s), LB_EINVAL,
                    "epoch_length");
  options = lb_sampler_options_default();
  options.struct_size = 4;
  assert_fails_with(lb_sampler_create(LB_SAMPLER_SHUFFLE, labels, 4, 4,
                                      &options, 0, &s), LB_EINVAL,
                    "struct_size");
  assert_null(s);

  s = make_sampler(LB_SAMPLER_SHUFFLE, labels, 4, NULL, 3);
  int64_t positions[4], replay[4];
  assert_fails_with(lb_sampler_next_epoch(s, positions, 3), LB_EINVAL,
                    "capacity 3");
  assert_fails_with(lb_sampler_next_epoch(NULL, positions, 4), LB_EINVAL,
                    "s is NULL");
  assert_fails_with(lb_sampler_next_epoch(s, NULL, 4), LB_EINVAL,
                    "positions is NULL");
  /* A refused call leaves the sampler where it was. */
  lb_sampler *fresh = make_sampler(LB_SAMPLER_SHUFFLE, labels, 4, NULL, 3);
  assert_int_equal(lb_sampler_next_epoch(s, positions, 4), LB_OK);
  assert_int_equal(lb_sampler_next_epoch(fresh, replay, 4), LB_OK);
  assert_memory_equal(positions, replay, sizeof positions);
  assert_int_equal(lb_sampler_epoch_length(NULL), 0);
  lb_sampler_free(NULL);
  lb_sampler_free(s);
  lb_sampler_free(fresh);
}

static void test_sampler_allocation_failures(void **state) {
  (void)state;
  int64_t n = 0;
  int32_t *labels = labels_with_counts(skewed, 4, &n);
  double *weights = malloc((size_t)n * sizeof *weights);
  for (int64_t i = 0; i < n; i++)
    weights[i] = 1.0 + (double)(i % 3);
  lb_sampler_options options = lb_sampler_options_default();
  options.weights = weights;
  for (int kind = LB_SAMPLER_SEQUENTIAL; kind <= LB_SAMPLER_WEIGHTED; kind++) {
    lb_sampler *s = NULL;
    assert_each_allocation_failure_is_clean(
        status_ = lb_sampler_create((lb_sampler_kind)kind, labels, n, 4,
                                    &options, 1, &s),
        lb_sampler_free(s));
  }
  free(weights);
  free(labels);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_named_profiles),
      cmocka_unit_test(test_long_tail_profiles),
      cmocka_unit_test(test_split_takes_the_asked_counts),
      cmocka_unit_test(test_split_depends_on_the_seed_only),
      cmocka_unit_test(test_split_classes_draw_independently),
      cmocka_unit_test(test_split_excludes_another_split),
      cmocka_unit_test(test_split_bad_arguments),
      cmocka_unit_test(test_split_allocation_failures),
      cmocka_unit_test(test_sequential_and_shuffle),
      cmocka_unit_test(test_oversampling),
      cmocka_unit_test(test_undersampling),
      cmocka_unit_test(test_class_balanced_and_power),
      cmocka_unit_test(test_weighted),
      cmocka_unit_test(test_sampler_bad_arguments),
      cmocka_unit_test(test_sampler_allocation_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
