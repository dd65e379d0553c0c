/*
 * lossbal-bench: training and inference speed of a liblossbal ResNet on
 * random data.
 *
 * A training step is what a trainer does per mini-batch: a train-mode
 * forward, the cross-entropy loss and its gradient (lb_criterion, LB_LOSS_CE),
 * the backward pass and an SGD step (momentum 0.9, learning rate 0.01).
 * Inference is lb_model_predict(): an evaluation-mode forward with each
 * batch norm folded into its convolution. After --warmup steps of each,
 * training runs for about --seconds / 2 and inference for about
 * --seconds / 2.
 *
 * The last line of the output is always, for scripts to parse:
 *   train_img_s=<float> infer_img_s=<float> peak_rss_mb=<float>
 *   train_rss_mb=<float>
 * (peak RSS from getrusage's ru_maxrss, model included: of the whole
 * process, and of the process up to the end of the training loop).
 * examples/bench_resnet_torch.py prints the same line for PyTorch and
 * examples/bench_resnet.sh runs both.
 *
 * --profile adds where the time goes: the model's per-layer-kind counters
 * (lb_model_set_profiling()) for the timed training and inference loops,
 * the criterion and the optimizer timed here, and the rate the
 * convolutions reach against a large matrix product on the same threads.
 */
#include <lossbal/lossbal.h>
#include "bench_stats.h"

#include <errno.h>
#include <stdbool.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static const char usage_text[] =
    "usage: lossbal-bench [--arch resnet18|resnet34|resnet50|resnet101|"
    "resnet152]\n"
    "                     [--width N] [--input CxHxW] [--classes N] "
    "[--batch N]\n"
    "                     [--threads N] [--seconds S] [--warmup N]\n"
    "                     [--stem small|imagenet] [--seed N] [--profile]\n"
    "defaults: --arch resnet18 --width 64 --input 1x28x28 --classes 10\n"
    "          --batch 64 --threads <online CPUs> --seconds 10 --warmup 2;\n"
    "          the stem is small (3x3 conv, no max pool) when the input is\n"
    "          under 64 pixels high or wide, ImageNet's otherwise.\n";

typedef struct bench_options {
  int32_t depth;
  int32_t width;
  int32_t channels, height, width_px;
  int32_t classes;
  int64_t batch;
  int32_t threads; /* 0: the library's default */
  double seconds;
  int32_t warmup;
  int stem; /* -1 automatic, 0 ImageNet, 1 small */
  uint64_t seed;
  bool profile; /* print the per-layer-kind tables */
} bench_options;

static void usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "lossbal-bench: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n%s", usage_text);
  exit(2);
}

/* A whole decimal number in [lo, hi], or a usage error naming the option. */
static long long parse_integer(const char *option, const char *text,
                               long long lo, long long hi) {
  char *end = NULL;
  errno = 0;
  long long v = strtoll(text, &end, 10);
  if (errno || end == text || *end != '\0' || v < lo || v > hi) {
    char message[160];
    snprintf(message, sizeof message,
             "%s wants a whole number from %lld to %lld, not '%%s'", option,
             lo, hi);
    usage_error(message, text);
  }
  return v;
}

static void parse_input(const char *text, bench_options *o) {
  long long c = 0, h = 0, w = 0;
  char tail = 0;
  if (sscanf(text, "%lldx%lldx%lld%c", &c, &h, &w, &tail) != 3 || c < 1 ||
      c > 65536 || h < 1 || h > 65536 || w < 1 || w > 65536)
    usage_error("--input wants CxHxW with each extent from 1 to 65536 "
                "(1x28x28, 3x224x224), not '%s'", text);
  o->channels = (int32_t)c;
  o->height = (int32_t)h;
  o->width_px = (int32_t)w;
}

static void parse_options(int argc, char **argv, bench_options *o) {
  *o = (bench_options){.depth = 18, .width = 64, .channels = 1, .height = 28,
                       .width_px = 28, .classes = 10, .batch = 64,
                       .threads = 0, .seconds = 10.0, .warmup = 2,
                       .stem = -1, .seed = 1};
  for (int i = 1; i < argc; i++) {
    const char *opt = argv[i];
    if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
      fputs(usage_text, stdout);
      exit(0);
    }
    if (strcmp(opt, "--profile") == 0) {
      o->profile = true;
      continue;
    }
    if (strncmp(opt, "--", 2) != 0) usage_error("unexpected argument '%s'", opt);
    if (i + 1 >= argc) usage_error("%s needs a value", opt);
    const char *val = argv[++i];
    if (strcmp(opt, "--arch") == 0) {
      static const struct { const char *name; int32_t depth; } archs[] = {
          {"resnet18", 18}, {"resnet34", 34}, {"resnet50", 50},
          {"resnet101", 101}, {"resnet152", 152}};
      o->depth = 0;
      for (size_t a = 0; a < sizeof archs / sizeof archs[0]; a++)
        if (strcmp(val, archs[a].name) == 0) o->depth = archs[a].depth;
      if (!o->depth)
        usage_error("--arch wants resnet18, resnet34, resnet50, resnet101 or "
                    "resnet152, not '%s'", val);
    } else if (strcmp(opt, "--width") == 0) {
      o->width = (int32_t)parse_integer(opt, val, 1, 4096);
    } else if (strcmp(opt, "--input") == 0) {
      parse_input(val, o);
    } else if (strcmp(opt, "--classes") == 0) {
      o->classes = (int32_t)parse_integer(opt, val, 1, 1 << 24);
    } else if (strcmp(opt, "--batch") == 0) {
      o->batch = parse_integer(opt, val, 2, 1 << 20);
    } else if (strcmp(opt, "--threads") == 0) {
      o->threads = (int32_t)parse_integer(opt, val, 1, 1024);
    } else if (strcmp(opt, "--warmup") == 0) {
      o->warmup = (int32_t)parse_integer(opt, val, 0, 1000000);
    } else if (strcmp(opt, "--seed") == 0) {
      o->seed = (uint64_t)parse_integer(opt, val, 0, 0x7fffffffffffffffLL);
    } else if (strcmp(opt, "--seconds") == 0) {
      char *end = NULL;
      errno = 0;
      double s = strtod(val, &end);
      if (errno || end == val || *end != '\0' || !(s > 0.0) || s > 1e6)
        usage_error("--seconds wants a number of seconds above 0, not '%s'",
                    val);
      o->seconds = s;
    } else if (strcmp(opt, "--stem") == 0) {
      if (strcmp(val, "small") == 0)
        o->stem = 1;
      else if (strcmp(val, "imagenet") == 0)
        o->stem = 0;
      else
        usage_error("--stem wants small or imagenet, not '%s'", val);
    } else {
      usage_error("unknown option '%s'", opt);
    }
  }
  if (o->stem < 0) o->stem = (o->height < 64 || o->width_px < 64) ? 1 : 0;
}

static uint64_t rng_state;

static uint64_t next_u64(void) { /* splitmix64 */
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

static double uniform01(void) {
  return (double)(next_u64() >> 11) * (1.0 / 9007199254740992.0);
}

/* Everything one benchmark run holds. */
typedef struct bench {
  lb_model *model;
  lb_criterion *criterion;
  lb_optimizer *optimizer;
  float *input, *logits, *grad_logits;
  int32_t *labels;
  double last_loss;
  int64_t steps;                /* of the last timed loop */
  double seconds;               /* its length */
  double criterion_s, optimizer_s; /* time in them, with --profile */
} bench;

static int report(lb_status status, const char *what) {
  if (status == LB_OK) return 0;
  fprintf(stderr, "lossbal-bench: %s failed: %s (%s)\n", what,
          lb_status_name(status), lb_last_error());
  return -1;
}

static int train_step(bench *b, const bench_options *o) {
  lb_status s = lb_model_forward(b->model, b->input, o->batch, o->height,
                                 o->width_px, b->logits);
  double t0 = bench_seconds();
  if (s == LB_OK)
    s = lb_criterion_compute(b->criterion, b->logits, b->labels, o->batch,
                             &b->last_loss, b->grad_logits);
  double t1 = bench_seconds();
  if (s == LB_OK) s = lb_model_backward(b->model, b->grad_logits);
  double t2 = bench_seconds();
  if (s == LB_OK) s = lb_optimizer_step(b->optimizer);
  b->criterion_s += t1 - t0;
  b->optimizer_s += bench_seconds() - t2;
  return report(s, "training step");
}

static int infer_step(bench *b, const bench_options *o) {
  return report(lb_model_predict(b->model, b->input, o->batch, o->height,
                                 o->width_px, b->logits),
                "lb_model_predict");
}

/* Runs step() until `budget` seconds have passed (at least once); returns
 * images per second over the whole loop, or a negative value on failure.
 * Also prints the median and fastest step: on a shared machine a few
 * disturbed steps move the mean, not the median. */
static double timed_loop(bench *b, const bench_options *o, double budget,
                         int (*step)(bench *, const bench_options *),
                         const char *label) {
  int64_t steps = 0, capacity = 0;
  double *times = NULL;
  double start = bench_seconds(), elapsed = 0.0;
  do {
    if (steps == capacity) {
      capacity = capacity ? 2 * capacity : 256;
      double *grown = realloc(times, (size_t)capacity * sizeof *times);
      if (!grown) {
        free(times);
        fprintf(stderr, "lossbal-bench: out of memory for step times\n");
        return -1.0;
      }
      times = grown;
    }
    double t0 = bench_seconds();
    if (step(b, o) != 0) {
      free(times);
      return -1.0;
    }
    double t1 = bench_seconds();
    times[steps++] = t1 - t0;
    elapsed = t1 - start;
  } while (elapsed < budget);
  double rate = (double)(steps * o->batch) / elapsed;
  b->steps = steps;
  b->seconds = elapsed;
  double median = bench_median(times, steps);
  double fastest = times[0]; /* sorted by bench_median() */
  free(times);
  printf("%-9s %6lld steps in %6.2f s: %8.2f ms/step mean, %8.2f median, "
         "%8.2f fastest, %9.1f img/s\n",
         label, (long long)steps, elapsed, 1e3 * elapsed / (double)steps,
         1e3 * median, 1e3 * fastest, rate);
  return rate;
}

static int setup(bench *b, const bench_options *o) {
  lb_resnet_config cfg = {.struct_size = sizeof cfg,
                          .depth = o->depth,
                          .num_classes = o->classes,
                          .in_channels = o->channels,
                          .base_width = o->width,
                          .small_input_stem = o->stem};
  if (report(lb_resnet_create(&cfg, o->seed, &b->model), "lb_resnet_create"))
    return -1;
  if (report(lb_criterion_create(LB_LOSS_CE, o->classes, &b->criterion),
             "lb_criterion_create"))
    return -1;
  if (report(lb_sgd_create(b->model, &b->optimizer), "lb_sgd_create") ||
      report(lb_optimizer_set_param(b->optimizer, LB_SGD_LEARNING_RATE, 0.01),
             "lb_optimizer_set_param(LB_SGD_LEARNING_RATE)") ||
      report(lb_optimizer_set_param(b->optimizer, LB_SGD_MOMENTUM, 0.9),
             "lb_optimizer_set_param(LB_SGD_MOMENTUM)"))
    return -1;

  size_t pixels = (size_t)o->channels * (size_t)o->height * (size_t)o->width_px;
  size_t cells = (size_t)o->batch * (size_t)o->classes;
  b->input = malloc((size_t)o->batch * pixels * sizeof(float));
  b->logits = malloc(cells * sizeof(float));
  b->grad_logits = malloc(cells * sizeof(float));
  b->labels = malloc((size_t)o->batch * sizeof(int32_t));
  if (!b->input || !b->logits || !b->grad_logits || !b->labels) {
    fprintf(stderr, "lossbal-bench: out of memory for the input batch\n");
    return -1;
  }
  rng_state = o->seed ^ 0x5DEECE66DULL;
  for (size_t i = 0; i < (size_t)o->batch * pixels; i++) /* about N(0, 1) */
    b->input[i] = (float)((uniform01() + uniform01() + uniform01() - 1.5) * 2.0);
  for (int64_t i = 0; i < o->batch; i++)
    b->labels[i] = (int32_t)(next_u64() % (uint64_t)o->classes);
  return 0;
}

static void teardown(bench *b) {
  lb_optimizer_free(b->optimizer);
  lb_criterion_free(b->criterion);
  lb_model_free(b->model);
  free(b->input);
  free(b->logits);
  free(b->grad_logits);
  free(b->labels);
}

/* ---- --profile ----------------------------------------------------------- */

static bool is_convolution(int32_t kind) {
  return kind == LB_LAYER_CONV3X3 || kind == LB_LAYER_CONV1X1 ||
         kind == LB_LAYER_CONV_OTHER;
}

/* One row of a profile table: milliseconds per step in the forward and
 * backward passes (a negative value prints a dash: not a pass of this
 * row), their total, its share of the loop's time and, for flops > 0, the
 * rate. */
static void print_row(const bench *b, const char *name, double forward_s,
                      double backward_s, double total_s, double flops) {
  double steps = (double)b->steps;
  printf("  %-11s", name);
  if (forward_s >= 0) printf(" %9.2f", 1e3 * forward_s / steps);
  else printf(" %9s", "-");
  if (backward_s >= 0) printf(" %9.2f", 1e3 * backward_s / steps);
  else printf(" %9s", "-");
  printf(" %9.2f %6.1f%%", 1e3 * total_s / steps, 100.0 * total_s / b->seconds);
  if (flops > 0 && total_s > 0) printf(" %8.1f", flops / total_s * 1e-9);
  printf("\n");
}

/* Prints where the last timed loop's time went: the model's layer kinds,
 * for training the criterion and the optimizer, and what is left (the
 * loop itself). Returns the convolutions' rate in GFLOP/s. */
static double print_profile(const bench *b, const char *loop, bool training) {
  printf("%s, per step over %lld steps (GFLOP/s: 2 per multiply-add of a "
         "direct convolution or product, over the time):\n",
         loop, (long long)b->steps);
  printf("  %-11s %9s %9s %9s %7s %8s\n", "layer kind", "fwd ms", "bwd ms",
         "total ms", "share", "GFLOP/s");
  double accounted_s = 0.0, conv_s = 0.0, conv_flops = 0.0;
  for (int32_t kind = 0; lb_layer_kind_name(kind); kind++) {
    lb_layer_profile p = {.struct_size = sizeof p};
    if (lb_model_get_profile(b->model, kind, &p) != LB_OK ||
        p.forward_calls + p.backward_calls == 0)
      continue;
    double flops = p.forward_flops + p.backward_flops;
    double seconds = p.forward_seconds + p.backward_seconds;
    print_row(b, lb_layer_kind_name(kind), p.forward_seconds,
              training ? p.backward_seconds : -1.0, seconds, flops);
    accounted_s += seconds;
    if (is_convolution(kind)) {
      conv_s += seconds;
      conv_flops += flops;
    }
  }
  if (training) {
    print_row(b, "criterion", -1.0, -1.0, b->criterion_s, 0.0);
    print_row(b, "optimizer", -1.0, -1.0, b->optimizer_s, 0.0);
    accounted_s += b->criterion_s + b->optimizer_s;
  }
  print_row(b, "other", -1.0, -1.0, b->seconds - accounted_s, 0.0);
  print_row(b, "step", -1.0, -1.0, b->seconds, 0.0);
  return conv_s > 0 ? conv_flops / conv_s * 1e-9 : 0.0;
}

/* GFLOP/s of the best of a few [n, n] x [n, n] products through the
 * library (lb_tensor_matmul) on its current threads: the practical peak
 * the convolutions' products are measured against. */
static double matmul_peak_gflops(int64_t n) {
  int64_t shape[2] = {n, n};
  lb_tensor *a = NULL, *b = NULL, *c = NULL;
  double best = INFINITY;
  if (lb_tensor_create(2, shape, &a) == LB_OK &&
      lb_tensor_create(2, shape, &b) == LB_OK &&
      lb_tensor_zeros(2, shape, &c) == LB_OK &&
      lb_tensor_fill(a, 0.5f) == LB_OK && lb_tensor_fill(b, 0.25f) == LB_OK) {
    for (int i = 0; i < 4; i++) {
      double t0 = bench_seconds();
      if (lb_tensor_matmul(c, a, 0, b, 0, 1.0f, 0.0f) != LB_OK) break;
      double t = bench_seconds() - t0;
      if (i > 0 && t < best) best = t; /* the first one warms up */
    }
  }
  lb_tensor_free(a);
  lb_tensor_free(b);
  lb_tensor_free(c);
  return isfinite(best) ? 2.0 * (double)n * (double)n * (double)n / best * 1e-9
                        : 0.0;
}

/* The process's peak resident memory so far, in MB (0 if unknown). */
static double peak_rss_mb(void) {
  struct rusage usage;
  if (getrusage(RUSAGE_SELF, &usage) != 0)
    return 0.0;
  return (double)usage.ru_maxrss / 1024.0; /* Linux: kilobytes */
}

int main(int argc, char **argv) {
  bench_options o;
  parse_options(argc, argv, &o);
  if (o.threads > 0 && report(lb_set_num_threads(o.threads),
                              "lb_set_num_threads"))
    return 1;

  bench b = {0};
  int failed = setup(&b, &o);
  if (!failed) {
    printf("liblossbal %s: resnet%d width %d, %s stem, input %dx%dx%d, "
           "%d classes, batch %lld, %d thread(s), %lld parameters\n",
           lb_version_string(), o.depth, o.width,
           o.stem ? "small" : "ImageNet", o.channels, o.height, o.width_px,
           o.classes, (long long)o.batch, lb_get_num_threads(),
           (long long)lb_model_parameter_count(b.model));
    printf("train: forward + CE + backward + SGD (momentum 0.9, lr 0.01); "
           "infer: lb_model_predict (eval mode); %d warm-up step(s) each, "
           "%.1f s each\n",
           o.warmup, o.seconds / 2);
    fflush(stdout);
  }

  double train_rate = 0.0, infer_rate = 0.0;
  double train_conv_gflops = 0.0, infer_conv_gflops = 0.0;
  for (int32_t i = 0; i < o.warmup && !failed; i++) failed = train_step(&b, &o);
  if (!failed) {
    double first_loss = b.last_loss;
    b.criterion_s = b.optimizer_s = 0.0;
    lb_model_set_profiling(b.model, o.profile);
    train_rate = timed_loop(&b, &o, o.seconds / 2, train_step, "train");
    failed = train_rate < 0;
    if (!failed)
      printf("          CE loss %.4f after warm-up, %.4f at the end\n",
             first_loss, b.last_loss);
    if (!failed && o.profile)
      train_conv_gflops = print_profile(&b, "training", true);
  }
  /* The peak of the training phase: what training needs, before the
   * inference loop adds lb_model_predict's prepared weights. */
  double train_peak_mb = peak_rss_mb();
  if (!failed)
    failed = report(lb_model_set_training(b.model, 0), "lb_model_set_training");
  for (int32_t i = 0; i < o.warmup && !failed; i++) failed = infer_step(&b, &o);
  if (!failed) {
    lb_model_set_profiling(b.model, o.profile);
    infer_rate = timed_loop(&b, &o, o.seconds / 2, infer_step, "infer");
    failed = infer_rate < 0;
    if (!failed && o.profile)
      infer_conv_gflops = print_profile(&b, "inference", false);
  }
  teardown(&b);
  if (failed) return 1;

  /* Read before the peak product below allocates its matrices. */
  double peak_mb = peak_rss_mb();
  if (o.profile) {
    double peak = matmul_peak_gflops(2048);
    printf("convolutions: %.1f GFLOP/s in training, %.1f in inference; a "
           "2048^3 product on the same %d thread(s): %.1f GFLOP/s "
           "(%.0f%% and %.0f%% of it)\n",
           train_conv_gflops, infer_conv_gflops, lb_get_num_threads(), peak,
           peak > 0 ? 100.0 * train_conv_gflops / peak : 0.0,
           peak > 0 ? 100.0 * infer_conv_gflops / peak : 0.0);
  }
  printf("train_img_s=%.2f infer_img_s=%.2f peak_rss_mb=%.1f "
         "train_rss_mb=%.1f\n",
         train_rate, infer_rate, peak_mb, train_peak_mb);
  return 0;
}
