/* bench_alternate: two settings of the library compared in ONE process,
 * alternating round by round, so that the drift of a shared machine's
 * speed (phases of seconds, up to 1.5x) hits both alike. Separate runs of
 * lossbal-bench differ by up to 30% from one another; alternating in one
 * process brings differences of 2% within reach (docs/performance.md).
 *
 *   bench_alternate [--mode infer|train] [--depth 18|34|50] [--width N]
 *                   [--batch N] [--rounds N] [--calls N]
 *                   (--threads A,B [--side-by-side [--copy-batch N]] |
 *                    --env NAME=VALUE [--threads T])
 *
 * A ResNet (small-input stem, 1x28x28 random images, 10 classes) runs
 * `--calls` calls of lb_model_predict() (infer) or training steps (train:
 * lb_model_forward, a fixed logit gradient, lb_model_backward,
 * lb_optimizer_step) in setting A, then as many in setting B, `--rounds`
 * times. With --threads A,B the settings are two thread counts
 * (lb_set_num_threads() between the two halves of a round: the first/second
 * time ratio is the scaling); with --env the settings are NAME unset and
 * NAME=VALUE (the library reads LOSSBAL_CONV and LOSSBAL_GEMM at every
 * call). It prints every round and the median and quartiles of the
 * per-round ratios, time of A / time of B: above 1, B is faster.
 *
 * With --threads 1,N --side-by-side, each round also runs N copies of the
 * same work at once, each its own model on its own thread with the library
 * at one thread, and prints N x time of A / their time: how far the
 * machine lets N independent one-thread copies scale in the same rounds
 * (nothing shared between them, no thread waiting for another), the
 * yardstick for the N-thread figure; and B's rate over the copies' (their
 * time / N x time of B, from the two timings of a round that follow each
 * other). Rates are images a second: --copy-batch gives the copies batches
 * of their own, e.g. each a thread's share of B's batch, so that they do
 * what each of B's threads does, without the joins and the data the
 * threads share.
 */
#include "lossbal/lossbal.h"
#include "bench_stats.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ROUNDS 1000
#define MAX_COPIES 16 /* side by side: copies, each its own model */
#define IMAGE_SIDE 28
#define CLASSES 10

typedef struct options {
  int train;
  int32_t depth, width, threads[2];
  int64_t batch;
  int rounds, calls;
  const char *env_name, *env_value;
  int side_by_side; /* copies at once: 0, or threads[1] */
  int64_t copy_batch; /* images a call of each copy */
} options;

static int usage(const char *program) {
  fprintf(stderr,
          "usage: %s [--mode infer|train] [--depth 18|34|50] [--width N] "
          "[--batch N] [--rounds N] [--calls N]\n"
          "       (--threads A,B [--side-by-side [--copy-batch N]] |\n"
          "        --env NAME=VALUE [--threads T])\n",
          program);
  return 2;
}

/* A whole number in [low, high], or -1. */
static long bounded(const char *text, long low, long high) {
  char *end = NULL;
  long value = strtol(text, &end, 10);
  if (end == text || *end != '\0' || value < low || value > high)
    return -1;
  return value;
}

static int parse_threads(const char *text, options *o) {
  char copy[64];
  snprintf(copy, sizeof copy, "%s", text);
  char *comma = strchr(copy, ',');
  if (comma)
    *comma = '\0';
  long a = bounded(copy, 1, 1024), b = comma ? bounded(comma + 1, 1, 1024) : a;
  if (a < 0 || b < 0)
    return -1;
  o->threads[0] = (int32_t)a;
  o->threads[1] = (int32_t)b;
  return comma ? 2 : 1;
}

static int parse(int argc, char **argv, options *o) {
  int thread_counts = 0;
  for (int i = 1; i < argc; i++) {
    const char *flag = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(flag, "--side-by-side") == 0) {
      o->side_by_side = 1;
      continue;
    }
    if (!value)
      return -1;
    i++;
    long number = 0;
    if (strcmp(flag, "--mode") == 0 && strcmp(value, "train") == 0)
      o->train = 1;
    else if (strcmp(flag, "--mode") == 0 && strcmp(value, "infer") == 0)
      o->train = 0;
    else if (strcmp(flag, "--depth") == 0 &&
             (number = bounded(value, 18, 50)) > 0)
      o->depth = (int32_t)number;
    else if (strcmp(flag, "--width") == 0 &&
             (number = bounded(value, 1, 512)) > 0)
      o->width = (int32_t)number;
    else if (strcmp(flag, "--batch") == 0 &&
             (number = bounded(value, 1, 4096)) > 0)
      o->batch = number;
    else if (strcmp(flag, "--copy-batch") == 0 &&
             (number = bounded(value, 1, 4096)) > 0)
      o->copy_batch = number;
    else if (strcmp(flag, "--rounds") == 0 &&
             (number = bounded(value, 1, MAX_ROUNDS)) > 0)
      o->rounds = (int)number;
    else if (strcmp(flag, "--calls") == 0 &&
             (number = bounded(value, 1, 100000)) > 0)
      o->calls = (int)number;
    else if (strcmp(flag, "--threads") == 0 &&
             (thread_counts = parse_threads(value, o)) > 0)
      continue;
    else if (strcmp(flag, "--env") == 0 && strchr(value, '=') &&
             value[0] != '=') {
      static char name[128];
      snprintf(name, sizeof name, "%.*s", (int)(strchr(value, '=') - value),
               value);
      o->env_name = name;
      o->env_value = strchr(value, '=') + 1;
    } else
      return -1;
  }
  /* Exactly one pair of settings: two thread counts, or an environment
   * variable at one thread count. */
  if ((thread_counts == 2) == (o->env_name != NULL))
    return -1;
  if (o->copy_batch && !o->side_by_side)
    return -1;
  if (!o->copy_batch)
    o->copy_batch = o->batch;
  /* Copies of the one-thread run: A is one thread, B how many copies. */
  if (o->side_by_side) {
    if (thread_counts != 2 || o->threads[0] != 1 || o->threads[1] < 2 ||
        o->threads[1] > MAX_COPIES)
      return -1;
    o->side_by_side = o->threads[1];
  }
  return 0;
}

typedef struct run {
  int64_t batch; /* images a call */
  lb_model *model;
  lb_optimizer *optimizer;
  float *images, *logits, *gradient;
} run;

static int one_call(const options *o, run *r) {
  if (!o->train)
    return lb_model_predict(r->model, r->images, r->batch, IMAGE_SIDE,
                            IMAGE_SIDE, r->logits) != LB_OK;
  return lb_model_forward(r->model, r->images, r->batch, IMAGE_SIDE,
                          IMAGE_SIDE, r->logits) != LB_OK ||
         lb_model_backward(r->model, r->gradient) != LB_OK ||
         lb_optimizer_step(r->optimizer) != LB_OK;
}

/* Setting 0 or 1 of the pair. */
static void use_setting(const options *o, int setting) {
  if (o->env_name) {
    if (setting)
      setenv(o->env_name, o->env_value, 1);
    else
      unsetenv(o->env_name);
  } else {
    lb_set_num_threads(o->threads[setting]);
  }
}

/* Seconds of `calls` calls in `setting`; negative on a failed call. */
static double timed_calls(const options *o, run *r, int setting) {
  use_setting(o, setting);
  double start = bench_seconds();
  for (int c = 0; c < o->calls; c++)
    if (one_call(o, r))
      return -1.0;
  return bench_seconds() - start;
}

static int setup(const options *o, run *r, int64_t batch) {
  lb_resnet_config cfg = {.struct_size = sizeof cfg, .depth = o->depth,
                          .num_classes = CLASSES, .in_channels = 1,
                          .base_width = o->width, .small_input_stem = 1};
  r->batch = batch;
  size_t pixels = (size_t)batch * IMAGE_SIDE * IMAGE_SIDE;
  r->images = malloc(pixels * sizeof(float));
  r->logits = malloc((size_t)batch * CLASSES * sizeof(float));
  r->gradient = malloc((size_t)batch * CLASSES * sizeof(float));
  if (!r->images || !r->logits || !r->gradient)
    return -1;
  uint64_t state = 12345;
  for (size_t i = 0; i < pixels; i++) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    r->images[i] = (float)(state >> 40) * 0x1.0p-24f - 0.5f;
  }
  for (int64_t i = 0; i < batch * CLASSES; i++)
    r->gradient[i] = 0.001f * (float)(i % 7 - 3);
  if (lb_resnet_create(&cfg, 1, &r->model) != LB_OK ||
      lb_sgd_create(r->model, &r->optimizer) != LB_OK ||
      lb_model_set_training(r->model, o->train) != LB_OK)
    return -1;
  return 0;
}

/* ---- copies side by side ---- */

typedef struct copy_task {
  const options *o;
  run *r;
  int failed;
} copy_task;

static void *run_copy(void *argument) {
  copy_task *task = argument;
  for (int c = 0; c < task->o->calls && !task->failed; c++)
    task->failed = one_call(task->o, task->r);
  return NULL;
}

/* Seconds until all o->side_by_side copies have made `calls` calls, each on
 * its own thread (the first on this one) with the library at one thread;
 * negative when a call or a thread fails. */
static double timed_side_by_side(const options *o, run *runs) {
  copy_task tasks[MAX_COPIES];
  pthread_t threads[MAX_COPIES];
  int started = 1, failed = 0;
  for (int i = 0; i < o->side_by_side; i++)
    tasks[i] = (copy_task){o, &runs[i], 0};
  lb_set_num_threads(1);
  double start = bench_seconds();
  for (; started < o->side_by_side; started++)
    if (pthread_create(&threads[started], NULL, run_copy, &tasks[started]))
      break;
  run_copy(&tasks[0]);
  for (int i = 1; i < started; i++)
    pthread_join(threads[i], NULL);
  double seconds = bench_seconds() - start;
  for (int i = 0; i < started; i++)
    failed |= tasks[i].failed;
  return failed || started < o->side_by_side ? -1.0 : seconds;
}

static void free_run(run *r) {
  lb_optimizer_free(r->optimizer);
  lb_model_free(r->model);
  free(r->images);
  free(r->logits);
  free(r->gradient);
}

/* Sorts the per-round values and prints their median and quartiles. */
static void print_spread(double *values, int rounds) {
  qsort(values, (size_t)rounds, sizeof values[0], bench_compare_doubles);
  printf("%.3f (quartiles %.3f, %.3f", values[rounds / 2],
         values[rounds / 4], values[(3 * rounds) / 4]);
}

static void print_summary(const options *o, double *ratios, double *copies,
                          double *shares) {
  if (o->env_name)
    printf("A: %s unset, B: %s=%s, %d thread(s); ", o->env_name, o->env_name,
           o->env_value, o->threads[0]);
  else
    printf("A: %d thread(s), B: %d thread(s); ", o->threads[0],
           o->threads[1]);
  printf("%s, resnet%d width %d, batch %lld: median time A / time B ",
         o->train ? "training steps" : "lb_model_predict", o->depth, o->width,
         (long long)o->batch);
  print_spread(ratios, o->rounds);
  printf("; %d rounds of %d calls)\n", o->rounds, o->calls);
  if (!o->side_by_side)
    return;
  printf("%d one-thread copies of batch %lld side by side: median their "
         "rate / A's ",
         o->side_by_side, (long long)o->copy_batch);
  print_spread(copies, o->rounds);
  printf("); B's rate / the copies' rate ");
  print_spread(shares, o->rounds);
  printf(")\n");
}

int main(int argc, char **argv) {
  options o = {0, 18, 16, {1, 1}, 64, 15, 10, NULL, NULL, 0, 0};
  if (parse(argc, argv, &o) != 0)
    return usage(argv[0]);
  if (o.env_name)
    o.threads[1] = o.threads[0];
  /* The larger thread count first: the model's plans are made for it. */
  lb_set_num_threads(o.threads[0] > o.threads[1] ? o.threads[0]
                                                 : o.threads[1]);
  /* runs[0] for A and B, the copies after it. */
  run runs[MAX_COPIES + 1] = {{0, NULL, NULL, NULL, NULL, NULL}};
  int run_count = 1 + o.side_by_side;
  /* Per round: time A / time B, the copies' rate over A's, and B's rate
   * over the copies' (rates in images a second; the last needs no A). */
  double ratios[MAX_ROUNDS], copies[MAX_ROUNDS], shares[MAX_ROUNDS];
  int status = 0;
  for (int i = 0; i < run_count && status == 0; i++)
    status = setup(&o, &runs[i], i == 0 ? o.batch : o.copy_batch);
  for (int warm = 0; status == 0 && warm < 2; warm++) {
    for (int setting = 0; setting < 2 && status == 0; setting++)
      status = timed_calls(&o, &runs[0], setting) < 0 ? -1 : 0;
    if (status == 0 && o.side_by_side)
      status = timed_side_by_side(&o, runs + 1) < 0 ? -1 : 0;
  }
  for (int round = 0; status == 0 && round < o.rounds; round++) {
    double first = timed_calls(&o, &runs[0], 0);
    double second = timed_calls(&o, &runs[0], 1);
    double together =
        o.side_by_side ? timed_side_by_side(&o, runs + 1) : 1.0;
    if (first < 0 || second < 0 || together < 0) {
      status = -1;
      break;
    }
    ratios[round] = first / second;
    /* Images a second: the copies' against A's, and B's against the
     * copies'. */
    double copy_images = (double)(o.side_by_side * o.copy_batch);
    copies[round] = copy_images * first / ((double)o.batch * together);
    shares[round] = (double)o.batch * together / (copy_images * second);
    printf("round %d: A %.2f ms, B %.2f ms a call, A/B %.3f", round + 1,
           1e3 * first / o.calls, 1e3 * second / o.calls, ratios[round]);
    if (o.side_by_side)
      printf("; copies %.2f ms a call each, %.3f", 1e3 * together / o.calls,
             copies[round]);
    printf("\n");
  }
  if (status == 0)
    print_summary(&o, ratios, copies, shares);
  else
    fprintf(stderr, "bench_alternate: %s\n", lb_last_error());
  for (int i = 0; i < run_count; i++)
    free_run(&runs[i]);
  return status == 0 ? 0 : 1;
}
