/*
 * Training and evaluating one method (a loss and a sampler) on prepared
 * data.
 */
#ifndef LOSSBAL_TRAIN_TRAINER_H
#define LOSSBAL_TRAIN_TRAINER_H

#include "options.h"
#include "prepare.h"

#include <signal.h>

/* Set by the SIGINT handler; the training loop stops after the current
 * batch when it is. */
extern volatile sig_atomic_t stop_requested;

typedef struct epoch_record {
  double mean_loss; /* over the epoch's samples */
  double seconds;   /* training time of the epoch */
} epoch_record;

typedef struct method_result {
  train_method method;
  int64_t epoch_length;  /* images per epoch under the method's sampler */
  int32_t first_epoch;   /* > 0 after --resume */
  int32_t epochs_done;
  epoch_record *epochs;  /* epochs_done records, from first_epoch */
  int64_t images_seen;   /* training images processed by this run */
  double train_seconds;
  double eval_seconds;
  lb_metrics *metrics;   /* on the test split; NULL when interrupted */
} method_result;

/* Exit codes of run_method(), as lossbal-train's. */
#define RUN_OK 0
#define RUN_FAILED 1
#define RUN_BAD_INPUT 2
#define RUN_INTERRUPTED 130

/* Trains `method` on d->train and evaluates it on d->test. `progress`
 * nonzero draws a live line on stderr; otherwise one line per epoch.
 * Returns a RUN_* code with `error` set for RUN_FAILED and RUN_BAD_INPUT. */
int run_method(const train_options *o, const prepared_data *d,
               const train_method *method, int progress, method_result *r,
               char *error, size_t error_size);

void free_method_result(method_result *r);

/* The checkpoint file of a method: `base`, or `base.<method>` when several
 * methods are compared. */
void checkpoint_path_for(const train_options *o, const train_method *method,
                         const char *base, char *path, size_t capacity);

#endif /* LOSSBAL_TRAIN_TRAINER_H */
