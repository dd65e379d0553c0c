/*
 * From --data, --profile / --long-tail and --test-per-class to two splits.
 *
 * The test split is taken first: from the test file of an IDX dataset, or
 * held out of a folder, which the training split then excludes. The
 * training split takes the profile's count of every class at random (seeded).
 */
#include "prepare.h"

#include <stdio.h>
#include <string.h>

#define EXIT_USAGE 2
#define EXIT_FAILURE_RUN 1

/* Missing or unusable data is the user's to fix (exit 2); running out of
 * memory is not. */
static int library_failure(char *error, size_t error_size, lb_status status) {
  int code = status == LB_ENOMEM ? EXIT_FAILURE_RUN : EXIT_USAGE;
  return train_error(error, error_size, code, "%s", lb_last_error());
}

/* ---- loading -------------------------------------------------------------- */

/* dir/stem.gz when it exists, else dir/stem. */
static void idx_path(const char *dir, const char *stem, char *path,
                     size_t capacity) {
  snprintf(path, capacity, "%s/%s.gz", dir, stem);
  FILE *f = fopen(path, "rb");
  if (f) {
    fclose(f);
    return;
  }
  snprintf(path, capacity, "%s/%s", dir, stem);
}

static lb_status load_mnist(const char *dir, int train, lb_dataset **out) {
  const char *prefix = train ? "train" : "t10k";
  char stem[64], images[TRAIN_PATH_MAX + 64], labels[TRAIN_PATH_MAX + 64];
  snprintf(stem, sizeof stem, "%s-images-idx3-ubyte", prefix);
  idx_path(dir, stem, images, sizeof images);
  snprintf(stem, sizeof stem, "%s-labels-idx1-ubyte", prefix);
  idx_path(dir, stem, labels, sizeof labels);
  return lb_dataset_load_idx(images, labels, out);
}

static lb_status load_datasets(const train_options *o, prepared_data *d) {
  const char *dir = o->data_dir[0] ? o->data_dir : NULL;
  lb_status status = LB_OK;
  switch (o->data) {
  case DATA_FASHION_MNIST:
    status = lb_dataset_load_fashion_mnist(dir, 1, &d->train_set);
    if (status == LB_OK)
      status = lb_dataset_load_fashion_mnist(dir, 0, &d->test_set);
    break;
  case DATA_MNIST:
    status = load_mnist(dir, 1, &d->train_set);
    if (status == LB_OK)
      status = load_mnist(dir, 0, &d->test_set);
    break;
  case DATA_FOLDER: {
    lb_folder_options folder = lb_folder_options_default();
    folder.channels = o->channels;
    folder.height = o->image_size;
    folder.width = o->image_size;
    /* A real folder holds the odd broken file; leave it out, and say so. */
    folder.skip_bad_files = 1;
    status = lb_dataset_load_folder(dir, &folder, &d->train_set);
    d->test_set = d->train_set;
    if (status == LB_OK && lb_dataset_skipped_files(d->train_set) > 0)
      fprintf(stderr, "lossbal-train: left out %lld files of %s that are not "
              "readable PNG or JPEG images\n",
              (long long)lb_dataset_skipped_files(d->train_set), dir);
    break;
  }
  }
  return status;
}

/* ---- splits --------------------------------------------------------------- */

static void count_labels(const int32_t *labels, int64_t n, int32_t classes,
                         int64_t *counts) {
  memset(counts, 0, (size_t)classes * sizeof *counts);
  for (int64_t i = 0; i < n; i++)
    if (labels[i] >= 0 && labels[i] < classes)
      counts[labels[i]]++;
}

static int64_t smallest(const int64_t *counts, int32_t classes) {
  int64_t least = counts[0];
  for (int32_t k = 1; k < classes; k++)
    if (counts[k] < least)
      least = counts[k];
  return least;
}

/* The number of classes the profile asks for, checked against the data. */
static int choose_classes(const train_options *o, prepared_data *d,
                          char *error, size_t error_size) {
  int32_t available = lb_dataset_num_classes(d->train_set);
  int32_t wanted = available;
  if (o->profile == PROFILE_NAMED)
    lb_profile_counts(o->profile_name, NULL, 0, &wanted, NULL);
  else if (o->profile == PROFILE_COUNTS)
    wanted = o->count_classes;
  if (wanted > available)
    return train_error(error, error_size, EXIT_USAGE,
                  "the profile has %d classes but the data has %d", (int)wanted,
                  (int)available);
  if (wanted > TRAIN_MAX_CLASSES || wanted < 2)
    return train_error(error, error_size, EXIT_USAGE,
                  "the data has %d classes; lossbal-train handles 2 to %d",
                  (int)wanted, TRAIN_MAX_CLASSES);
  d->classes = wanted;
  return 0;
}

static int64_t default_test_per_class(const train_options *o,
                                      const prepared_data *d) {
  if (o->test_per_class > 0)
    return o->test_per_class;
  if (o->profile == PROFILE_NAMED) {
    int32_t classes = 0;
    int64_t per_class = 0;
    lb_profile_counts(o->profile_name, NULL, 0, &classes, &per_class);
    return per_class;
  }
  int64_t counts[TRAIN_MAX_CLASSES];
  count_labels(lb_dataset_labels(d->test_set), lb_dataset_size(d->test_set),
               d->classes, counts);
  int64_t least = smallest(counts, d->classes);
  /* A folder keeps most of each class for training. */
  if (o->data == DATA_FOLDER)
    return least / 5 > 0 ? least / 5 : 1;
  return least;
}

static int build_test_split(const train_options *o, prepared_data *d,
                            char *error, size_t error_size) {
  d->test_per_class = default_test_per_class(o, d);
  int64_t counts[TRAIN_MAX_CLASSES];
  for (int32_t k = 0; k < d->classes; k++)
    counts[k] = d->test_per_class;
  lb_status status = lb_split_by_counts(
      lb_dataset_labels(d->test_set), lb_dataset_size(d->test_set), counts,
      d->classes, NULL, o->seed ^ 0x7e57, &d->test);
  if (status != LB_OK)
    return train_error(error, error_size,
                  status == LB_ENOMEM ? EXIT_FAILURE_RUN : EXIT_USAGE,
                  "the test split: %s", lb_last_error());
  return 0;
}

/* Training images each class still has: all of an IDX training file, or a
 * folder's class minus its held-out test images. */
static void available_for_training(const prepared_data *d, int64_t *counts) {
  count_labels(lb_dataset_labels(d->train_set), lb_dataset_size(d->train_set),
               d->classes, counts);
  if (d->train_set == d->test_set)
    for (int32_t k = 0; k < d->classes; k++)
      counts[k] -= d->test_per_class;
}

static int choose_train_counts(const train_options *o, prepared_data *d,
                               char *error, size_t error_size) {
  int64_t available[TRAIN_MAX_CLASSES];
  available_for_training(d, available);
  int32_t classes = 0;
  lb_status status = LB_OK;
  switch (o->profile) {
  case PROFILE_NONE:
    memcpy(d->train_counts, available, (size_t)d->classes * sizeof *available);
    break;
  case PROFILE_NAMED:
    status = lb_profile_counts(o->profile_name, d->train_counts,
                               TRAIN_MAX_CLASSES, &classes, NULL);
    break;
  case PROFILE_COUNTS:
    memcpy(d->train_counts, o->counts, (size_t)d->classes * sizeof *o->counts);
    break;
  case PROFILE_LONG_TAIL:
    status = lb_long_tail_counts(o->long_tail, smallest(available, d->classes),
                                 o->rho, d->classes, d->train_counts);
    break;
  }
  if (status != LB_OK)
    return library_failure(error, error_size, status);
  for (int32_t k = 0; k < d->classes; k++)
    if (d->train_counts[k] < 1)
      return train_error(error, error_size, EXIT_USAGE,
                    "class %d (%s) has no training image left", (int)k,
                    lb_dataset_class_name(d->train_set, k));
  return 0;
}

static int build_train_split(const train_options *o, prepared_data *d,
                             char *error, size_t error_size) {
  int code = choose_train_counts(o, d, error, error_size);
  if (code)
    return code;
  const lb_split *exclude = d->train_set == d->test_set ? d->test : NULL;
  lb_status status = lb_split_by_counts(
      lb_dataset_labels(d->train_set), lb_dataset_size(d->train_set),
      d->train_counts, d->classes, exclude, o->seed, &d->train);
  if (status != LB_OK)
    return train_error(error, error_size,
                  status == LB_ENOMEM ? EXIT_FAILURE_RUN : EXIT_USAGE,
                  "the training split: %s", lb_last_error());
  return 0;
}

/* Normalises both datasets with the training split's channel statistics,
 * as a trainer that never sees the test set must. */
static int normalise(prepared_data *d, char *error, size_t error_size) {
  float mean[3], std[3];
  lb_status status = lb_dataset_channel_stats(
      d->train_set, lb_split_indices(d->train), lb_split_size(d->train), mean,
      std, d->channels);
  for (int32_t c = 0; status == LB_OK && c < d->channels; c++)
    if (!(std[c] > 1e-6f))
      std[c] = 1.0f; /* a constant channel: only centre it */
  if (status == LB_OK)
    status = lb_dataset_set_normalization(d->train_set, mean, std,
                                          d->channels);
  if (status == LB_OK && d->test_set != d->train_set)
    status = lb_dataset_set_normalization(d->test_set, mean, std,
                                          d->channels);
  return status == LB_OK ? 0 : library_failure(error, error_size, status);
}

static int check_shapes(prepared_data *d, char *error, size_t error_size) {
  int32_t c2 = 0, h2 = 0, w2 = 0;
  lb_dataset_sample_shape(d->train_set, &d->channels, &d->height, &d->width);
  lb_dataset_sample_shape(d->test_set, &c2, &h2, &w2);
  if (c2 != d->channels || h2 != d->height || w2 != d->width)
    return train_error(error, error_size, EXIT_USAGE,
                  "the training images are %dx%dx%d but the test images "
                  "%dx%dx%d", (int)d->channels, (int)d->height, (int)d->width,
                  (int)c2, (int)h2, (int)w2);
  if (d->channels != 1 && d->channels != 3)
    return train_error(error, error_size, EXIT_USAGE,
                  "images of %d channels are not supported", (int)d->channels);
  return 0;
}

int prepare_data(const train_options *o, prepared_data *d, char *error,
                 size_t error_size) {
  memset(d, 0, sizeof *d);
  lb_status status = load_datasets(o, d);
  if (status != LB_OK)
    return library_failure(error, error_size, status);
  int code = check_shapes(d, error, error_size);
  if (!code)
    code = choose_classes(o, d, error, error_size);
  if (!code)
    code = build_test_split(o, d, error, error_size);
  if (!code)
    code = build_train_split(o, d, error, error_size);
  if (!code)
    code = normalise(d, error, error_size);
  for (int32_t k = 0; !code && k < d->classes; k++)
    d->class_names[k] = lb_dataset_class_name(d->train_set, k);
  return code;
}

void release_data(prepared_data *d) {
  lb_split_free(d->train);
  lb_split_free(d->test);
  if (d->test_set != d->train_set)
    lb_dataset_free(d->test_set);
  lb_dataset_free(d->train_set);
  memset(d, 0, sizeof *d);
}
