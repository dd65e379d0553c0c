/*
 * lossbal-train: trains ResNets on imbalanced splits with liblossbal's public
 * API and reports the metrics of imbalanced classification; with --compare
 * it runs several methods (CE, oversampling, prior weighting, the loss
 * balance, ...) on the same split and prints them side by side.
 *
 * Run `lossbal-train --help` for the flags; docs/training.md describes the
 * outputs.
 */
#include "options.h"
#include "prepare.h"
#include "report.h"
#include "trainer.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The first Ctrl-C asks the loop to stop after its batch; a second one
 * ends the process at once, as the default action does. */
static void on_interrupt(int signal_number) {
  stop_requested = 1;
  signal(signal_number, SIG_DFL);
}

static void install_interrupt_handler(void) {
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, NULL);
}

static int fail(int code, const char *message) {
  fprintf(stderr, "lossbal-train: %s\n", message);
  return code;
}

/* Runs every method in turn; *finished receives how many have results. */
static int run_all(const train_options *o, const prepared_data *d,
                   method_result *results, int32_t *finished, char *error,
                   size_t error_size) {
  int progress = o->progress >= 0 ? o->progress : isatty(STDERR_FILENO);
  *finished = 0;
  for (int32_t i = 0; i < o->method_count; i++) {
    int code = run_method(o, d, &o->methods[i], progress, &results[i], error,
                          error_size);
    if (code != RUN_OK) {
      free_method_result(&results[i]);
      return code;
    }
    (*finished)++;
  }
  return RUN_OK;
}

/* A table that could not be written is a failure, not a quiet success. */
static int check_stdout(void) {
  if (fflush(stdout) != 0 || ferror(stdout))
    return fail(RUN_FAILED, "cannot write the results to standard output");
  return RUN_OK;
}

static int write_outputs(const train_options *o, const prepared_data *d,
                         const method_result *results, int32_t count) {
  char error[512];
  print_table(stdout, d, results, count);
  if (check_stdout() != RUN_OK)
    return RUN_FAILED;
  if (o->json_path[0] &&
      write_json(o->json_path, o, d, results, count, error, sizeof error))
    return fail(RUN_FAILED, error);
  if (o->plots_dir[0] &&
      write_plots(o->plots_dir, d, results, count, error, sizeof error))
    return fail(RUN_FAILED, error);
  return RUN_OK;
}

int main(int argc, char **argv) {
  static train_options options;
  char error[1024];
  switch (parse_options(argc, argv, &options, error, sizeof error)) {
  case PARSE_HELP:
    print_usage(stdout);
    return 0;
  case PARSE_ERROR:
    return fail(RUN_BAD_INPUT, error);
  case PARSE_RUN:
    break;
  }
  if (options.threads && lb_set_num_threads(options.threads) != LB_OK)
    return fail(RUN_BAD_INPUT, lb_last_error());

  static prepared_data data;
  int code = prepare_data(&options, &data, error, sizeof error);
  if (code) {
    release_data(&data);
    return fail(code, error);
  }
  print_split(stdout, &options, &data);
  if (check_stdout() != RUN_OK) {
    release_data(&data);
    return RUN_FAILED;
  }

  install_interrupt_handler();
  static method_result results[TRAIN_MAX_METHODS];
  int32_t finished = 0;
  code = run_all(&options, &data, results, &finished, error, sizeof error);
  if (code == RUN_INTERRUPTED)
    fprintf(stderr, "lossbal-train: stopped by Ctrl-C%s\n",
            options.checkpoint_path[0]
                ? "; the checkpoint is saved: run again with --resume"
                : "");
  else if (code != RUN_OK)
    fprintf(stderr, "lossbal-train: %s\n", error);
  if (finished > 0) {
    int output_code = write_outputs(&options, &data, results, finished);
    if (code == RUN_OK)
      code = output_code;
  }
  for (int32_t i = 0; i < finished; i++)
    free_method_result(&results[i]);
  release_data(&data);
  return code;
}
