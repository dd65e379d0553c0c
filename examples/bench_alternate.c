/* bench_alternate: two settings of the library compared in ONE process,
 * alternating round by round, so that the drift of a shared machine's
 * speed (phases of seconds, up to 1.5x) hits both alike. Separate runs of
 * lossbal-bench differ by up to 30% from one another; alternating in one
 * process brings differences of 2% within reach (docs/performance.md).
 *
 *   bench_alternate [--mode infer|train] [--depth 18|34|50] [--width N]
 *                   [--batch N] [--rounds N] [--calls N]
 *                   (--threads A,B | --env NAME=VALUE [--threads T])
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
 */
#include "lossbal/lossbal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ROUNDS 1000
#define IMAGE_SIDE 28
#define CLASSES 10

typedef struct options {
  int train;
  int32_t depth, width, threads[2];
  int64_t batch;
  int rounds, calls;
  const char *env_name, *env_value;
} options;

static double seconds_now(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
}

static int usage(const char *program) {
  fprintf(stderr,
          "usage: %s [--mode infer|train] [--depth 18|34|50] [--width N] "
          "[--batch N] [--rounds N] [--calls N]\n"
          "       (--threads A,B | --env NAME=VALUE [--threads T])\n",
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
  return 0;
}

typedef struct run {
  lb_model *model;
  lb_optimizer *optimizer;
  float *images, *logits, *gradient;
} run;

static int one_call(const options *o, run *r) {
  if (!o->train)
    return lb_model_predict(r->model, r->images, o->batch, IMAGE_SIDE,
                            IMAGE_SIDE, r->logits) != LB_OK;
  return lb_model_forward(r->model, r->images, o->batch, IMAGE_SIDE,
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
  double start = seconds_now();
  for (int c = 0; c < o->calls; c++)
    if (one_call(o, r))
      return -1.0;
  return seconds_now() - start;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int setup(const options *o, run *r) {
  lb_resnet_config cfg = {.struct_size = sizeof cfg, .depth = o->depth,
                          .num_classes = CLASSES, .in_channels = 1,
                          .base_width = o->width, .small_input_stem = 1};
  size_t pixels = (size_t)o->batch * IMAGE_SIDE * IMAGE_SIDE;
  r->images = malloc(pixels * sizeof(float));
  r->logits = malloc((size_t)o->batch * CLASSES * sizeof(float));
  r->gradient = malloc((size_t)o->batch * CLASSES * sizeof(float));
  if (!r->images || !r->logits || !r->gradient)
    return -1;
  uint64_t state = 12345;
  for (size_t i = 0; i < pixels; i++) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    r->images[i] = (float)(state >> 40) * 0x1.0p-24f - 0.5f;
  }
  for (int64_t i = 0; i < o->batch * CLASSES; i++)
    r->gradient[i] = 0.001f * (float)(i % 7 - 3);
  if (lb_resnet_create(&cfg, 1, &r->model) != LB_OK ||
      lb_sgd_create(r->model, &r->optimizer) != LB_OK ||
      lb_model_set_training(r->model, o->train) != LB_OK)
    return -1;
  return 0;
}

int main(int argc, char **argv) {
  options o = {0, 18, 16, {1, 1}, 64, 15, 10, NULL, NULL};
  if (parse(argc, argv, &o) != 0)
    return usage(argv[0]);
  if (o.env_name)
    o.threads[1] = o.threads[0];
  /* The larger thread count first: the model's plans are made for it. */
  lb_set_num_threads(o.threads[0] > o.threads[1] ? o.threads[0]
                                                 : o.threads[1]);
  run r = {NULL, NULL, NULL, NULL, NULL};
  double ratios[MAX_ROUNDS];
  int status = setup(&o, &r);
  for (int warm = 0; status == 0 && warm < 2; warm++)
    for (int setting = 0; setting < 2 && status == 0; setting++)
      status = timed_calls(&o, &r, setting) < 0 ? -1 : 0;
  for (int round = 0; status == 0 && round < o.rounds; round++) {
    double first = timed_calls(&o, &r, 0), second = timed_calls(&o, &r, 1);
    if (first < 0 || second < 0) {
      status = -1;
      break;
    }
    ratios[round] = first / second;
    printf("round %d: A %.2f ms, B %.2f ms a call, A/B %.3f\n", round + 1,
           1e3 * first / o.calls, 1e3 * second / o.calls, ratios[round]);
  }
  if (status == 0) {
    qsort(ratios, (size_t)o.rounds, sizeof ratios[0], by_value);
    if (o.env_name)
      printf("A: %s unset, B: %s=%s, %d thread(s); ", o.env_name, o.env_name,
             o.env_value, o.threads[0]);
    else
      printf("A: %d thread(s), B: %d thread(s); ", o.threads[0],
             o.threads[1]);
    printf("%s, resnet%d width %d, batch %lld: median time A / time B "
           "%.3f (quartiles %.3f, %.3f; %d rounds of %d calls)\n",
           o.train ? "training steps" : "lb_model_predict", o.depth, o.width,
           (long long)o.batch, ratios[o.rounds / 2], ratios[o.rounds / 4],
           ratios[(3 * o.rounds) / 4], o.rounds, o.calls);
  } else {
    fprintf(stderr, "bench_alternate: %s\n", lb_last_error());
  }
  lb_optimizer_free(r.optimizer);
  lb_model_free(r.model);
  free(r.images);
  free(r.logits);
  free(r.gradient);
  return status == 0 ? 0 : 1;
}
