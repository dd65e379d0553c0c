/*
 * lossbal-train's data: the datasets, the imbalanced training split and the
 * balanced test split, normalised with the training split's statistics.
 */
#ifndef LOSSBAL_TRAIN_PREPARE_H
#define LOSSBAL_TRAIN_PREPARE_H

#include "options.h"

typedef struct prepared_data {
  lb_dataset *train_set;
  lb_dataset *test_set; /* the same dataset as train_set for a folder */
  lb_split *train;      /* indices into train_set */
  lb_split *test;       /* indices into test_set */
  int32_t classes;
  int32_t channels, height, width;
  int64_t train_counts[TRAIN_MAX_CLASSES];
  int64_t test_per_class;
  const char *class_names[TRAIN_MAX_CLASSES]; /* owned by train_set */
} prepared_data;

/* Loads the data and builds the splits. Returns 0; 2 when the data is
 * missing or cannot give what was asked (a usage problem: the message says
 * which); 1 for other failures. `error` receives one line. */
int prepare_data(const train_options *o, prepared_data *d, char *error,
                 size_t error_size);

void release_data(prepared_data *d);

#endif /* LOSSBAL_TRAIN_PREPARE_H */
