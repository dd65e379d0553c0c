/*
 * The dataset object: construction, accessors, normalisation and batches.
 * The loaders (idx.c, folder.c) only fill samples, labels and names.
 */
#include "dataset_internal.h"

#include "../core/core_internal.h"
#include "../core/random.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Labels and class counts are int32; a sample of more bytes than this is
 * not an image anyone trains on, and keeps every product below in range. */
#define LB_MAX_SAMPLE_BYTES ((int64_t)1 << 32)

char *lb_strdup(const char *text) {
  size_t bytes = strlen(text) + 1;
  char *copy = lb_alloc(bytes);
  if (copy)
    memcpy(copy, text, bytes);
  return copy;
}

static void free_strings(char **strings, int64_t count) {
  if (!strings)
    return;
  for (int64_t i = 0; i < count; i++)
    lb_free(strings[i]);
  lb_free(strings);
}

void lb_dataset_free(lb_dataset *ds) {
  if (!ds)
    return;
  lb_free(ds->samples);
  lb_free(ds->labels);
  free_strings(ds->class_names, ds->num_classes);
  free_strings(ds->paths, ds->count);
  lb_free(ds->mean);
  lb_free(ds->std);
  lb_free(ds);
}

static lb_status check_shape(const char *who, int64_t count, int32_t channels,
                             int32_t height, int32_t width,
                             int32_t num_classes, int64_t *sample_bytes) {
  if (count < 1)
    return lb_fail(LB_EINVAL, "%s: count = %lld; it must be >= 1", who,
                   (long long)count);
  if (channels < 1 || height < 1 || width < 1)
    return lb_fail(LB_EINVAL,
                   "%s: sample shape %dx%dx%d has a dimension below 1", who,
                   (int)channels, (int)height, (int)width);
  if (num_classes < 1)
    return lb_fail(LB_EINVAL, "%s: num_classes = %d; it must be >= 1", who,
                   (int)num_classes);
  int64_t bytes = (int64_t)channels * height;
  if (!lb_mul_i64(bytes, width, &bytes) || bytes > LB_MAX_SAMPLE_BYTES)
    return lb_fail(LB_EINVAL, "%s: sample shape %dx%dx%d is too large", who,
                   (int)channels, (int)height, (int)width);
  *sample_bytes = bytes;
  return LB_OK;
}

static lb_status out_of_memory(const char *who, lb_dataset *ds) {
  lb_dataset_free(ds);
  return lb_fail(LB_ENOMEM, "%s: out of memory", who);
}

lb_status lb_dataset_new(const char *who, int64_t count, int32_t channels,
                         int32_t height, int32_t width, int32_t num_classes,
                         lb_dataset **out) {
  int64_t sample_bytes = 0;
  lb_status status = check_shape(who, count, channels, height, width,
                                 num_classes, &sample_bytes);
  if (status != LB_OK)
    return status;
  size_t total_bytes = 0, label_bytes = 0, name_bytes = 0;
  if (!lb_mul_size((size_t)count, (size_t)sample_bytes, &total_bytes) ||
      !lb_mul_size((size_t)count, sizeof(int32_t), &label_bytes))
    return lb_fail(LB_ENOMEM, "%s: out of memory (%lld samples of %lld bytes)",
                   who, (long long)count, (long long)sample_bytes);
  name_bytes = (size_t)num_classes * sizeof(char *);

  lb_dataset *ds = lb_alloc_zeroed(sizeof *ds);
  if (!ds)
    return lb_fail(LB_ENOMEM, "%s: out of memory", who);
  ds->count = count;
  ds->channels = channels;
  ds->height = height;
  ds->width = width;
  ds->num_classes = num_classes;
  ds->sample_bytes = sample_bytes;
  ds->samples = lb_alloc(total_bytes);
  ds->labels = lb_alloc(label_bytes);
  ds->class_names = lb_alloc_zeroed(name_bytes);
  ds->mean = lb_alloc((size_t)channels * sizeof(float));
  ds->std = lb_alloc((size_t)channels * sizeof(float));
  if (!ds->samples || !ds->labels || !ds->class_names || !ds->mean ||
      !ds->std)
    return out_of_memory(who, ds);
  for (int32_t c = 0; c < channels; c++) {
    ds->mean[c] = 0.0f;
    ds->std[c] = 1.0f;
  }
  for (int32_t k = 0; k < num_classes; k++) {
    char decimal[16];
    snprintf(decimal, sizeof decimal, "%d", (int)k);
    ds->class_names[k] = lb_strdup(decimal);
    if (!ds->class_names[k])
      return out_of_memory(who, ds);
  }
  *out = ds;
  return LB_OK;
}

lb_status lb_dataset_rename_class(const char *who, lb_dataset *ds,
                                  int32_t label, const char *name) {
  char *copy = lb_strdup(name);
  if (!copy)
    return lb_fail(LB_ENOMEM, "%s: out of memory", who);
  lb_free(ds->class_names[label]);
  ds->class_names[label] = copy;
  return LB_OK;
}

lb_status lb_dataset_from_memory(const uint8_t *samples, const int32_t *labels,
                                 int64_t count, int32_t channels,
                                 int32_t height, int32_t width,
                                 int32_t num_classes, lb_dataset **out) {
  const char *who = "lb_dataset_from_memory";
  if (!samples || !labels || !out)
    return lb_fail(LB_EINVAL, "%s: %s is NULL", who,
                   !samples ? "samples" : !labels ? "labels" : "out");
  *out = NULL;
  int64_t sample_bytes = 0;
  lb_status status = check_shape(who, count, channels, height, width,
                                 num_classes, &sample_bytes);
  if (status != LB_OK)
    return status;
  for (int64_t i = 0; i < count; i++)
    if (labels[i] < 0 || labels[i] >= num_classes)
      return lb_fail(LB_EINVAL,
                     "%s: labels[%lld] = %d is outside [0, %d)", who,
                     (long long)i, (int)labels[i], (int)num_classes);
  lb_dataset *ds = NULL;
  status = lb_dataset_new(who, count, channels, height, width, num_classes,
                          &ds);
  if (status != LB_OK)
    return status;
  memcpy(ds->samples, samples, (size_t)(count * sample_bytes));
  memcpy(ds->labels, labels, (size_t)count * sizeof(int32_t));
  *out = ds;
  return LB_OK;
}

/* ---- accessors ------------------------------------------------------------ */

int64_t lb_dataset_size(const lb_dataset *ds) { return ds ? ds->count : 0; }

int32_t lb_dataset_num_classes(const lb_dataset *ds) {
  return ds ? ds->num_classes : 0;
}

lb_status lb_dataset_sample_shape(const lb_dataset *ds, int32_t *channels,
                                  int32_t *height, int32_t *width) {
  if (!ds)
    return lb_fail(LB_EINVAL, "lb_dataset_sample_shape: ds is NULL");
  if (channels)
    *channels = ds->channels;
  if (height)
    *height = ds->height;
  if (width)
    *width = ds->width;
  return LB_OK;
}

const int32_t *lb_dataset_labels(const lb_dataset *ds) {
  return ds ? ds->labels : NULL;
}

const char *lb_dataset_class_name(const lb_dataset *ds, int32_t label) {
  if (!ds || label < 0 || label >= ds->num_classes)
    return NULL;
  return ds->class_names[label];
}

lb_status lb_dataset_class_counts(const lb_dataset *ds, int64_t *counts,
                                  int32_t capacity) {
  const char *who = "lb_dataset_class_counts";
  if (!ds || !counts)
    return lb_fail(LB_EINVAL, "%s: %s is NULL", who, !ds ? "ds" : "counts");
  if (capacity < ds->num_classes)
    return lb_fail(LB_EINVAL,
                   "%s: capacity %d is below the %d classes of the dataset",
                   who, (int)capacity, (int)ds->num_classes);
  memset(counts, 0, (size_t)ds->num_classes * sizeof *counts);
  for (int64_t i = 0; i < ds->count; i++)
    counts[ds->labels[i]]++;
  return LB_OK;
}

int64_t lb_dataset_skipped_files(const lb_dataset *ds) {
  return ds ? ds->skipped_files : 0;
}

const char *lb_dataset_sample_path(const lb_dataset *ds, int64_t index) {
  if (!ds || !ds->paths || index < 0 || index >= ds->count)
    return NULL;
  return ds->paths[index];
}

/* ---- normalisation -------------------------------------------------------- */

lb_status lb_dataset_set_normalization(lb_dataset *ds, const float *mean,
                                       const float *std, int32_t channels) {
  const char *who = "lb_dataset_set_normalization";
  if (!ds || !mean || !std)
    return lb_fail(LB_EINVAL, "%s: %s is NULL", who,
                   !ds ? "ds" : !mean ? "mean" : "std");
  if (channels != ds->channels)
    return lb_fail(LB_EINVAL, "%s: %d values given for a dataset of %d "
                   "channels", who, (int)channels, (int)ds->channels);
  for (int32_t c = 0; c < channels; c++) {
    if (!isfinite(mean[c]) || !isfinite(std[c]))
      return lb_fail(LB_ENONFINITE, "%s: mean[%d] or std[%d] is not finite",
                     who, (int)c, (int)c);
    if (!(std[c] > 0.0f))
      return lb_fail(LB_EINVAL, "%s: std[%d] = %g; it must be > 0", who,
                     (int)c, (double)std[c]);
    /* lb_dataset_batch() multiplies by 1 / (255 std) and adds -mean / std;
     * both must be finite floats. */
    float scale = 1.0f / (255.0f * std[c]), shift = -mean[c] / std[c];
    if (!isfinite(scale) || !isfinite(shift))
      return lb_fail(LB_EINVAL, "%s: std[%d] = %g is too small for mean[%d] "
                     "= %g", who, (int)c, (double)std[c], (int)c,
                     (double)mean[c]);
  }
  memcpy(ds->mean, mean, (size_t)channels * sizeof(float));
  memcpy(ds->std, std, (size_t)channels * sizeof(float));
  return LB_OK;
}

lb_status lb_dataset_channel_stats(const lb_dataset *ds,
                                   const int64_t *indices, int64_t count,
                                   float *mean, float *std,
                                   int32_t channels) {
  const char *who = "lb_dataset_channel_stats";
  if (!ds || !mean || !std)
    return lb_fail(LB_EINVAL, "%s: %s is NULL", who,
                   !ds ? "ds" : !mean ? "mean" : "std");
  if (channels != ds->channels)
    return lb_fail(LB_EINVAL, "%s: %d values asked of a dataset of %d "
                   "channels", who, (int)channels, (int)ds->channels);
  int64_t samples = indices ? count : ds->count;
  if (samples < 1)
    return lb_fail(LB_EINVAL, "%s: no samples (count = %lld)", who,
                   (long long)samples);
  for (int64_t i = 0; indices && i < count; i++)
    if (indices[i] < 0 || indices[i] >= ds->count)
      return lb_fail(LB_EINVAL, "%s: indices[%lld] = %lld is outside [0, %lld)",
                     who, (long long)i, (long long)indices[i],
                     (long long)ds->count);
  int64_t plane = (int64_t)ds->height * ds->width;
  for (int32_t c = 0; c < channels; c++) {
    /* Integer sums are exact for any dataset that fits in memory. */
    uint64_t sum = 0, sum_squares = 0;
    for (int64_t i = 0; i < samples; i++) {
      int64_t index = indices ? indices[i] : i;
      const uint8_t *pixel =
          ds->samples + index * ds->sample_bytes + c * plane;
      for (int64_t k = 0; k < plane; k++) {
        sum += pixel[k];
        sum_squares += (uint64_t)pixel[k] * pixel[k];
      }
    }
    double n = (double)samples * (double)plane;
    double mean_value = (double)sum / n;
    double variance = (double)sum_squares / n - mean_value * mean_value;
    mean[c] = (float)(mean_value / 255.0);
    std[c] = (float)(sqrt(variance > 0.0 ? variance : 0.0) / 255.0);
  }
  return LB_OK;
}

/* ---- batches -------------------------------------------------------------- */

typedef struct batch_job {
  const lb_dataset *ds;
  const int64_t *indices;
  int64_t count;
  const lb_augment *augment;
  uint64_t seed;
  float *images;
  int32_t chunks;
} batch_job;

static void render_chunk(void *context, int32_t chunk) {
  const batch_job *job = context;
  int64_t begin = lb_chunk_begin(job->count, chunk, job->chunks);
  int64_t end = lb_chunk_begin(job->count, chunk + 1, job->chunks);
  for (int64_t i = begin; i < end; i++)
    lb_dataset_render_sample(job->ds, job->indices[i], job->augment,
                             lb_random_stream(job->seed, (uint64_t)i),
                             job->images + i * job->ds->sample_bytes);
}

static lb_status check_augment(const char *who, const lb_augment *augment) {
  if (augment && (augment->crop_padding < 0 || augment->crop_padding > 1024))
    return lb_fail(LB_EINVAL, "%s: augment->crop_padding = %d is outside "
                   "[0, 1024]", who, (int)augment->crop_padding);
  return LB_OK;
}

lb_status lb_dataset_batch(const lb_dataset *ds, const int64_t *indices,
                           int64_t count, const lb_augment *augment,
                           uint64_t seed, lb_tensor *images, int32_t *labels) {
  const char *who = "lb_dataset_batch";
  if (!ds || !indices || !images)
    return lb_fail(LB_EINVAL, "%s: %s is NULL", who,
                   !ds ? "ds" : !indices ? "indices" : "images");
  if (count < 1)
    return lb_fail(LB_EINVAL, "%s: count = %lld; it must be >= 1", who,
                   (long long)count);
  lb_status status = check_augment(who, augment);
  if (status != LB_OK)
    return status;
  int64_t wanted = 0;
  if (!lb_mul_i64(count, ds->sample_bytes, &wanted))
    return lb_fail(LB_EINVAL, "%s: count = %lld samples of %dx%dx%d are more "
                   "floats than a tensor holds", who, (long long)count,
                   (int)ds->channels, (int)ds->height, (int)ds->width);
  if (lb_tensor_numel(images) != wanted)
    return lb_fail(LB_EINVAL,
                   "%s: images has %lld elements; %lld samples of %dx%dx%d "
                   "need %lld", who, (long long)lb_tensor_numel(images),
                   (long long)count, (int)ds->channels, (int)ds->height,
                   (int)ds->width, (long long)wanted);
  for (int64_t i = 0; i < count; i++)
    if (indices[i] < 0 || indices[i] >= ds->count)
      return lb_fail(LB_EINVAL, "%s: indices[%lld] = %lld is outside [0, %lld)",
                     who, (long long)i, (long long)indices[i],
                     (long long)ds->count);
  batch_job job = {ds, indices, count, augment, seed, lb_tensor_data(images),
                   lb_parallel_chunks(count, ds->sample_bytes)};
  lb_parallel_for(render_chunk, &job, job.chunks);
  if (labels)
    for (int64_t i = 0; i < count; i++)
      labels[i] = ds->labels[indices[i]];
  return LB_OK;
}
