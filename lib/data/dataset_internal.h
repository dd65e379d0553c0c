/*
 * The dataset object the loaders fill and lb_dataset_batch() reads. Never
 * installed.
 */
#ifndef LOSSBAL_DATA_DATASET_INTERNAL_H
#define LOSSBAL_DATA_DATASET_INTERNAL_H

#include "lossbal/data.h"

#include <stdint.h>

struct lb_dataset {
  int64_t count;
  int32_t channels, height, width;
  int32_t num_classes;
  int64_t sample_bytes;  /* channels * height * width */
  uint8_t *samples;      /* count * sample_bytes, CHW per sample */
  int32_t *labels;       /* count */
  char **class_names;    /* num_classes strings */
  char **paths;          /* count strings for a folder dataset, else NULL */
  int64_t skipped_files; /* files a folder load left out */
  float *mean, *std;     /* channels each: lb_dataset_batch()'s normalisation */
};

/* A dataset of `count` samples of the given shape and classes with every
 * array allocated: samples and labels uninitialised, class names the labels
 * in decimal, normalisation mean 0 and std 1, no paths. `who` starts error
 * messages. */
lb_status lb_dataset_new(const char *who, int64_t count, int32_t channels,
                         int32_t height, int32_t width, int32_t num_classes,
                         lb_dataset **out);

/* Replaces class name `label` by a copy of `name`. */
lb_status lb_dataset_rename_class(const char *who, lb_dataset *ds,
                                  int32_t label, const char *name);

/* A copy of `text` in a new lb_alloc block, or NULL when out of memory. */
char *lb_strdup(const char *text);

/* Writes sample `index` of ds into `image` (sample_bytes floats): scaled to
 * [0, 1], normalised, and augmented when `augment` is not NULL with the
 * generator state `random_state`. Arguments are checked by the caller. */
void lb_dataset_render_sample(const lb_dataset *ds, int64_t index,
                              const lb_augment *augment,
                              uint64_t random_state, float *image);

#endif /* LOSSBAL_DATA_DATASET_INTERNAL_H */
