/*
 * lossbal-train's command line: what a run is asked to do.
 */
#ifndef LOSSBAL_TRAIN_OPTIONS_H
#define LOSSBAL_TRAIN_OPTIONS_H

#include <lossbal/lossbal.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TRAIN_MAX_CLASSES 1024
#define TRAIN_MAX_METHODS 16
#define TRAIN_PATH_MAX 4096

typedef enum data_source {
  DATA_FASHION_MNIST,
  DATA_MNIST,
  DATA_FOLDER
} data_source;

typedef enum profile_kind {
  PROFILE_NONE,   /* every training image */
  PROFILE_NAMED,  /* caltech, part1, part2 */
  PROFILE_COUNTS, /* N,N,... */
  PROFILE_LONG_TAIL
} profile_kind;

typedef enum schedule_kind { SCHEDULE_COSINE, SCHEDULE_STEP, SCHEDULE_CONSTANT } schedule_kind;

/* One way of training: a loss and a sampler, under a short name
 * ("le", "os", ...) that the table and the JSON use. */
typedef struct train_method {
  char name[32];
  lb_loss_kind loss;
  lb_sampler_kind sampler;
} train_method;

typedef struct train_options {
  data_source data;
  char data_dir[TRAIN_PATH_MAX]; /* empty: Fashion-MNIST's default place */
  int32_t image_size;            /* folder: 0 chooses from the images */
  int32_t channels;              /* folder: 0 chooses from the images */

  profile_kind profile;
  char profile_name[16];
  int64_t counts[TRAIN_MAX_CLASSES];
  int32_t count_classes;
  lb_long_tail_kind long_tail;
  double rho;
  int64_t test_per_class; /* 0: the profile's, or the default of the data */

  int32_t depth;
  int32_t width;
  train_method methods[TRAIN_MAX_METHODS];
  int32_t method_count;

  int32_t epochs;
  int32_t batch;
  double lr;
  double momentum;
  double weight_decay;
  schedule_kind schedule;
  int32_t crop_padding;
  int flip;
  uint64_t seed;
  int32_t threads; /* 0: the library's default */

  char json_path[TRAIN_PATH_MAX];
  char plots_dir[TRAIN_PATH_MAX];
  char checkpoint_path[TRAIN_PATH_MAX];
  char resume_path[TRAIN_PATH_MAX];
  int progress; /* -1: when stderr is a terminal; 0 never; 1 always */
} train_options;

/* What parse_options() found. */
typedef enum parse_result {
  PARSE_RUN,  /* options filled in */
  PARSE_HELP, /* --help: print_usage() and exit 0 */
  PARSE_ERROR /* error holds one line saying what is wrong */
} parse_result;

parse_result parse_options(int argc, char **argv, train_options *options,
                           char *error, size_t error_size);

void print_usage(FILE *out);

/* Writes a one-line message into error[0..error_size) and returns code,
 * so a failing step reads `return train_error(error, size, 2, "...")`. */
int train_error(char *error, size_t error_size, int code, const char *fmt,
                ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Names of losses, samplers and schedules as the flags spell them. */
const char *loss_name(lb_loss_kind loss);
const char *sampler_name(lb_sampler_kind sampler);
const char *schedule_name(schedule_kind schedule);

#endif /* LOSSBAL_TRAIN_OPTIONS_H */
