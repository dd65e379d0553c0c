/*
 * Benchmark of lb_criterion_compute (loss and gradient) at batch 256 with
 * K = 10 and K = 1000 classes, for every kind of the family, and the ratio to
 * PyTorch's F.cross_entropy(weight=...) forward + backward (the batch-balanced
 * loss written in PyTorch) when python3-torch is installed.
 *
 * Figures are medians over many repetitions, all measured in one run: these
 * machines are shared and noisy, so compare numbers from the same run only.
 *
 * Usage: bench_criterion [--repetitions N] [--threads N]
 *                        [--torch-script PATH] [--python PATH] [--no-torch]
 *
 * PyTorch runs in a separate process: the script's interpreter is --python,
 * else Debian's /usr/bin/python3 (where python3-torch installs), else the
 * python3 on PATH.
 */
#include <lossbal/lossbal.h>
#include "bench_stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef LOSSBAL_TORCH_BENCH_SCRIPT
#define LOSSBAL_TORCH_BENCH_SCRIPT "examples/bench_criterion_torch.py"
#endif

enum { BATCH = 256, WARMUP_CALLS = 20 };

static const int32_t class_counts_to_bench[] = {10, 1000};

typedef struct bench_options {
  int repetitions;
  const char *torch_script; /* NULL: skip PyTorch */
  const char *python;
} bench_options;

typedef struct bench_input {
  int32_t num_classes;
  float *logits;
  float *grad;
  int32_t *labels;
  int64_t *class_counts;
} bench_input;

static uint64_t random_state = 0x9E3779B97F4A7C15ULL;

static double uniform01(void) {
  random_state ^= random_state >> 12;
  random_state ^= random_state << 25;
  random_state ^= random_state >> 27;
  return (double)((random_state * 0x2545F4914F6CDD1DULL) >> 11) /
         9007199254740992.0;
}

/* Labels drawn from a long tail (class c with weight 0.7^c), so batches are
 * skewed the way the library is meant for; logits roughly N(0, 3). */
static int bench_input_make(bench_input *in, int32_t num_classes) {
  size_t cells = (size_t)BATCH * (size_t)num_classes;
  in->num_classes = num_classes;
  in->logits = malloc(cells * sizeof(float));
  in->grad = malloc(cells * sizeof(float));
  in->labels = malloc(BATCH * sizeof(int32_t));
  in->class_counts = malloc((size_t)num_classes * sizeof(int64_t));
  if (!in->logits || !in->grad || !in->labels || !in->class_counts) return -1;
  for (size_t i = 0; i < cells; i++)
    in->logits[i] = (float)(3.0 * (uniform01() + uniform01() + uniform01() +
                                   uniform01() - 2.0) * 1.7320508);
  for (int32_t c = 0; c < num_classes; c++)
    in->class_counts[c] = 1 + (int64_t)(5000.0 * pow(0.7, c));
  for (int i = 0; i < BATCH; i++) {
    int32_t label = 0;
    while (label + 1 < num_classes && uniform01() < 0.7) label++;
    in->labels[i] = label;
  }
  return 0;
}

static void bench_input_free(bench_input *in) {
  free(in->logits);
  free(in->grad);
  free(in->labels);
  free(in->class_counts);
}

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Median nanoseconds per sample of one compute call, or a negative value
 * (with the reason printed) when the criterion fails. */
static double median_ns_per_sample(lb_loss_kind kind, const bench_input *in,
                                   int repetitions, double *times) {
  lb_criterion *criterion = NULL;
  lb_status status = lb_criterion_create(kind, in->num_classes, &criterion);
  if (status == LB_OK)
    status = lb_criterion_set_class_counts(criterion, in->class_counts,
                                           in->num_classes);
  double loss = 0.0;
  for (int i = 0; i < WARMUP_CALLS && status == LB_OK; i++)
    status = lb_criterion_compute(criterion, in->logits, in->labels, BATCH,
                                  &loss, in->grad);
  for (int i = 0; i < repetitions && status == LB_OK; i++) {
    double start = now_ns();
    status = lb_criterion_compute(criterion, in->logits, in->labels, BATCH,
                                  &loss, in->grad);
    times[i] = (now_ns() - start) / BATCH;
  }
  lb_criterion_free(criterion);
  if (status != LB_OK) {
    fprintf(stderr, "kind %d failed: %s (%s)\n", (int)kind,
            lb_status_string(status), lb_last_error());
    return -1.0;
  }
  qsort(times, (size_t)repetitions, sizeof *times, bench_compare_doubles);
  return times[repetitions / 2];
}

/* Runs the PyTorch script and reads "torch K=<k> batch=256
 * ns_per_sample=<x>" lines into torch_ns (indexed like
 * class_counts_to_bench). Returns the number of figures read. */
static int run_torch(const bench_options *options, int threads,
                     double torch_ns[2]) {
  char command[1024];
  snprintf(command, sizeof command,
           "'%s' '%s' --threads %d --repetitions %d 2>/dev/null",
           options->python, options->torch_script, threads,
           options->repetitions);
  FILE *pipe = popen(command, "r");
  if (!pipe) return 0;
  char line[256];
  int found = 0;
  while (fgets(line, sizeof line, pipe)) {
    int k = 0, batch = 0;
    double ns = 0.0;
    if (sscanf(line, "torch K=%d batch=%d ns_per_sample=%lf", &k, &batch,
               &ns) != 3 || batch != BATCH)
      continue;
    for (int i = 0; i < 2; i++)
      if (class_counts_to_bench[i] == k) {
        torch_ns[i] = ns;
        found++;
      }
  }
  pclose(pipe);
  return found;
}

/* The machine is shared and noisy, so the comparison alternates: each round
 * measures LE, then PyTorch, at the same thread count, and the figures
 * reported are the medians over the rounds of each side and of their
 * ratio. */
enum { TORCH_ROUNDS = 3 };

static double median_of_rounds(double values[TORCH_ROUNDS]) {
  qsort(values, TORCH_ROUNDS, sizeof *values, bench_compare_doubles);
  return values[TORCH_ROUNDS / 2];
}

static int compare_with_torch(const bench_options *options,
                              const bench_input inputs[2], double *times) {
  int32_t library_threads = lb_get_num_threads();
  int32_t thread_choices[2] = {library_threads, 1};
  printf("\nLE vs PyTorch F.cross_entropy(weight=batch weights) forward + "
         "backward, %d alternating rounds:\n", TORCH_ROUNDS);
  for (int t = 0; t < (library_threads > 1 ? 2 : 1); t++) {
    double ours[2][TORCH_ROUNDS], theirs[2][TORCH_ROUNDS], ratio[2][TORCH_ROUNDS];
    lb_set_num_threads(thread_choices[t]);
    for (int round = 0; round < TORCH_ROUNDS; round++) {
      for (int i = 0; i < 2; i++) {
        ours[i][round] = median_ns_per_sample(LB_LOSS_BATCH_BALANCED, &inputs[i],
                                              options->repetitions, times);
        if (ours[i][round] < 0) return -1;
      }
      double torch_ns[2] = {0, 0};
      if (run_torch(options, thread_choices[t], torch_ns) != 2) {
        printf("PyTorch: not measured (needs python3-torch and %s)\n",
               options->torch_script);
        lb_set_num_threads(library_threads);
        return 0;
      }
      for (int i = 0; i < 2; i++) {
        theirs[i][round] = torch_ns[i];
        ratio[i][round] = torch_ns[i] / ours[i][round];
      }
    }
    for (int i = 0; i < 2; i++)
      printf("%d thread(s) K=%-5d  LE %7.1f ns/sample  PyTorch %8.1f "
             "ns/sample  liblossbal %.1fx faster\n",
             thread_choices[t], class_counts_to_bench[i],
             median_of_rounds(ours[i]), median_of_rounds(theirs[i]),
             median_of_rounds(ratio[i]));
  }
  lb_set_num_threads(library_threads);
  return 0;
}

static int parse_options(int argc, char **argv, bench_options *options) {
  options->repetitions = 200;
  options->torch_script = LOSSBAL_TORCH_BENCH_SCRIPT;
  options->python = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3"
                                                          : "python3";
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--repetitions") == 0 && i + 1 < argc) {
      options->repetitions = atoi(argv[++i]);
      if (options->repetitions < 1) return -1;
    } else if (strcmp(argv[i], "--torch-script") == 0 && i + 1 < argc) {
      options->torch_script = argv[++i];
    } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      if (lb_set_num_threads((int32_t)atoi(argv[++i])) != LB_OK) return -1;
    } else if (strcmp(argv[i], "--python") == 0 && i + 1 < argc) {
      options->python = argv[++i];
    } else if (strcmp(argv[i], "--no-torch") == 0) {
      options->torch_script = NULL;
    } else {
      return -1;
    }
  }
  return 0;
}

static const struct {
  lb_loss_kind kind;
  const char *name;
} kinds[] = {
    {LB_LOSS_CE, "CE"},
    {LB_LOSS_PRIOR_WEIGHTED, "PE (prior weighted)"},
    {LB_LOSS_BATCH_BALANCED, "LE (batch balanced)"},
    {LB_LOSS_FOCAL, "focal"},
    {LB_LOSS_CLASS_BALANCED, "class balanced"},
    {LB_LOSS_LOGIT_ADJUSTED, "logit adjusted"},
    {LB_LOSS_LDAM, "LDAM"},
};

int main(int argc, char **argv) {
  bench_options options;
  if (parse_options(argc, argv, &options) != 0) {
    fprintf(stderr, "usage: %s [--repetitions N] [--threads N] "
                    "[--torch-script PATH] [--python PATH] [--no-torch]\n", argv[0]);
    return 2;
  }
  double *times = malloc((size_t)options.repetitions * sizeof(double));
  bench_input inputs[2] = {{0}, {0}};
  int failed = !times;
  for (int i = 0; i < 2 && !failed; i++)
    failed = bench_input_make(&inputs[i], class_counts_to_bench[i]) != 0;

  printf("liblossbal %s, lb_criterion_compute (loss + gradient), batch %d, "
         "median of %d calls, %d thread(s)\n\n",
         lb_version_string(), BATCH, options.repetitions, lb_get_num_threads());
  printf("%-22s %14s %14s\n", "kind", "K=10 ns/sample", "K=1000 ns/sample");
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0] && !failed; k++) {
    double ns[2];
    for (int i = 0; i < 2 && !failed; i++) {
      ns[i] = median_ns_per_sample(kinds[k].kind, &inputs[i],
                                   options.repetitions, times);
      failed = ns[i] < 0;
    }
    if (failed) break;
    printf("%-22s %14.1f %14.1f\n", kinds[k].name, ns[0], ns[1]);
  }

  if (!failed && options.torch_script)
    failed = compare_with_torch(&options, inputs, times) != 0;
  for (int i = 0; i < 2; i++) bench_input_free(&inputs[i]);
  free(times);
  return failed ? 1 : 0;
}
