/* bench_conv: the speed of one 3x3, stride 1, padding 1 convolution layer
 * computed by Winograd F(2x2, 3x3) (lib/nn/conv_winograd.c) and by im2col +
 * GEMM (lib/nn/conv2d.c), forward and backward, per layer shape and thread
 * count. It decides (by measurement) where conv2d.c should use Winograd.
 *
 *   bench_conv [--reps N] [--batch B] [--threads 1,2] [--shapes LIST]
 *              [--clock wall|cpu]
 *
 * LIST is comma-separated CxH (in = out = C channels, H x H pixels) or
 * CixCoxH; the default is the 3x3 stride-1 layers of ResNet-18 at widths 16
 * and 64 on 28x28 inputs. Each line gives, per direction, the best and the
 * median of N timed calls of each algorithm and GEMM time / Winograd time
 * of the medians (above 1: Winograd is faster). The two algorithms alternate
 * call by call, so that a change in the machine's load hits both alike.
 * The GEMM path is lb_conv2d_forward()/backward() with LOSSBAL_CONV=gemm
 * (conv2d.c reads it at every call); Winograd is called directly, whatever
 * conv2d.c would choose. Internal headers: links the static library.
 *
 * --clock cpu times by the calling thread's CPU time instead of the wall
 * clock: on a shared machine it leaves out the time other programs hold
 * the core. Only at --threads 1, where all the work runs on the calling
 * thread (the process's CPU time would count OpenBLAS's idle threads
 * spinning too).
 */
#include "bench_layer.h"
#include "bench_stats.h"
#include "nn/conv2d.h"
#include "nn/conv_winograd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_SHAPES 64
#define MAX_THREAD_COUNTS 8
#define MAX_REPS 1000

typedef struct shape {
  int64_t in_channels, out_channels, size;
} shape;

typedef struct options {
  int reps;
  clockid_t clock;
  int64_t batch;
  int thread_counts;
  int32_t threads[MAX_THREAD_COUNTS];
  int shapes;
  shape shape[MAX_SHAPES];
} options;

static const char *const default_shapes =
    "16x28,32x14,64x7,128x4,64x28,128x14,256x7,512x4";

/* ---- options ------------------------------------------------------------- */

static int parse_shapes(const char *text, options *o) {
  o->shapes = 0;
  const char *p = text;
  while (*p) {
    if (o->shapes == MAX_SHAPES)
      return -1;
    long long a = 0, b = 0, c = 0;
    int used = 0;
    shape *s = &o->shape[o->shapes];
    if (sscanf(p, "%lldx%lldx%lld%n", &a, &b, &c, &used) == 3) {
      *s = (shape){a, b, c};
    } else if (sscanf(p, "%lldx%lld%n", &a, &b, &used) == 2) {
      *s = (shape){a, a, b};
    } else {
      return -1;
    }
    if (s->in_channels < 1 || s->out_channels < 1 || s->size < 1)
      return -1;
    o->shapes++;
    p += used;
    if (*p == ',')
      p++;
    else if (*p)
      return -1;
  }
  return o->shapes > 0 ? 0 : -1;
}

static int parse_threads(const char *text, options *o) {
  o->thread_counts = 0;
  const char *p = text;
  while (*p) {
    int value = 0, used = 0;
    if (o->thread_counts == MAX_THREAD_COUNTS ||
        sscanf(p, "%d%n", &value, &used) != 1 || value < 1)
      return -1;
    o->threads[o->thread_counts++] = value;
    p += used;
    if (*p == ',')
      p++;
    else if (*p)
      return -1;
  }
  return o->thread_counts > 0 ? 0 : -1;
}

static int parse_options(int argc, char **argv, options *o) {
  *o = (options){.reps = 15, .batch = 64, .clock = CLOCK_MONOTONIC};
  if (parse_shapes(default_shapes, o) || parse_threads("1,2", o))
    return -1;
  for (int i = 1; i < argc; i++) {
    const char *value = i + 1 < argc ? argv[i + 1] : NULL;
    if (!value)
      return -1;
    if (strcmp(argv[i], "--reps") == 0)
      o->reps = atoi(value);
    else if (strcmp(argv[i], "--batch") == 0)
      o->batch = atoll(value);
    else if (strcmp(argv[i], "--threads") == 0) {
      if (parse_threads(value, o))
        return -1;
    } else if (strcmp(argv[i], "--shapes") == 0) {
      if (parse_shapes(value, o))
        return -1;
    } else if (strcmp(argv[i], "--clock") == 0) {
      if (strcmp(value, "wall") && strcmp(value, "cpu"))
        return -1;
      o->clock = strcmp(value, "cpu") ? CLOCK_MONOTONIC
                                      : CLOCK_THREAD_CPUTIME_ID;
    } else {
      return -1;
    }
    i++;
  }
  return o->reps >= 1 && o->reps <= MAX_REPS && o->batch >= 1 ? 0 : -1;
}

/* ---- one layer ----------------------------------------------------------- */

static int make_layer(const shape *s, int64_t batch, bench_layer *l) {
  lb_conv2d_geometry g = {.batch = batch, .in_channels = s->in_channels,
                          .in_h = s->size, .in_w = s->size,
                          .out_channels = s->out_channels, .kernel_h = 3,
                          .kernel_w = 3, .stride_h = 1, .stride_w = 1,
                          .pad_h = 1, .pad_w = 1};
  if (lb_conv2d_geometry_validate(&g) != LB_OK)
    return -1;
  /* Room for either algorithm: both run on the same arrays. */
  size_t gemm = lb_conv2d_workspace_bytes(&g);
  size_t winograd = lb_winograd_workspace_bytes(&g);
  return bench_make_layer(&g, gemm > winograd ? gemm : winograd, l);
}

/* ---- timing -------------------------------------------------------------- */

typedef enum algorithm { WINOGRAD, GEMM } algorithm;
typedef enum direction { FORWARD, BACKWARD } direction;

static double now_seconds(clockid_t clock) {
  struct timespec t;
  clock_gettime(clock, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void run_once(bench_layer *l, algorithm a, direction d) {
  if (a == GEMM)
    setenv("LOSSBAL_CONV", "gemm", 1);
  else
    unsetenv("LOSSBAL_CONV");
  if (d == FORWARD && a == WINOGRAD)
    lb_winograd_forward(&l->g, l->input, l->weight, NULL, l->output,
                        l->workspace);
  else if (d == FORWARD)
    lb_conv2d_forward(&l->g, l->input, l->weight, NULL, l->output,
                      l->workspace);
  else if (a == WINOGRAD)
    lb_winograd_backward(&l->g, l->input, l->weight, l->grad_output,
                         l->grad_input, l->grad_weight, NULL, l->workspace);
  else
    lb_conv2d_backward(&l->g, l->input, l->weight, l->grad_output,
                       l->grad_input, l->grad_weight, NULL, l->workspace);
}

static double timed(bench_layer *l, algorithm a, direction d, clockid_t clock) {
  double start = now_seconds(clock);
  run_once(l, a, d);
  return now_seconds(clock) - start;
}

typedef struct timing {
  double best, median; /* milliseconds */
} timing;

static timing summarise(double *seconds, int reps) {
  double median = bench_median(seconds, reps); /* sorts them */
  return (timing){1e3 * seconds[0], 1e3 * median};
}

/* Both algorithms in one direction, alternating, after one call of each
 * to warm the caches and the pool. */
static void time_direction(bench_layer *l, direction d, int reps,
                           clockid_t clock, timing *winograd, timing *gemm) {
  static double w[MAX_REPS], m[MAX_REPS];
  run_once(l, WINOGRAD, d);
  run_once(l, GEMM, d);
  for (int r = 0; r < reps; r++) {
    w[r] = timed(l, WINOGRAD, d, clock);
    m[r] = timed(l, GEMM, d, clock);
  }
  *winograd = summarise(w, reps);
  *gemm = summarise(m, reps);
}

static void print_header(void) {
  printf("%-13s %3s | %-26s | %-26s\n", "layer", "thr",
         "forward ms: wino  gemm  x", "backward ms: wino  gemm  x");
  printf("%-13s %3s | %6s %6s %6s %6s %5s | %6s %6s %6s %6s %5s\n",
         "CixCo@HxW", "", "w.best", "w.med", "g.best", "g.med", "g/w",
         "w.best", "w.med", "g.best", "g.med", "g/w");
}

static void print_line(const shape *s, int32_t threads, const timing t[4]) {
  char name[32];
  snprintf(name, sizeof name, "%lldx%lld@%lldx%lld",
           (long long)s->in_channels, (long long)s->out_channels,
           (long long)s->size, (long long)s->size);
  printf("%-13s %3d | %6.2f %6.2f %6.2f %6.2f %5.2f | %6.2f %6.2f %6.2f "
         "%6.2f %5.2f\n",
         name, (int)threads, t[0].best, t[0].median, t[1].best, t[1].median,
         t[1].median / t[0].median, t[2].best, t[2].median, t[3].best,
         t[3].median, t[3].median / t[2].median);
  fflush(stdout);
}

static int bench_shape(const options *o, const shape *s, int32_t threads) {
  bench_layer l;
  if (make_layer(s, o->batch, &l))
    return -1;
  timing t[4];
  time_direction(&l, FORWARD, o->reps, o->clock, &t[0], &t[1]);
  time_direction(&l, BACKWARD, o->reps, o->clock, &t[2], &t[3]);
  print_line(s, threads, t);
  bench_free_layer(&l);
  return 0;
}

int main(int argc, char **argv) {
  options o;
  if (parse_options(argc, argv, &o)) {
    fprintf(stderr, "usage: %s [--reps N] [--batch B] [--threads 1,2] "
                    "[--shapes CxH|CixCoxH,...] [--clock wall|cpu]\n",
            argv[0]);
    return 2;
  }
  printf("batch %lld, %d calls per figure, %s time; g/w = GEMM median / "
         "Winograd median\n", (long long)o.batch, o.reps,
         o.clock == CLOCK_MONOTONIC ? "wall" : "CPU");
  print_header();
  for (int t = 0; t < o.thread_counts; t++) {
    if (lb_set_num_threads(o.threads[t]) != LB_OK)
      return 1;
    for (int i = 0; i < o.shapes; i++)
      if (bench_shape(&o, &o.shape[i], o.threads[t])) {
        fprintf(stderr, "bench_conv: no memory for shape %d\n", i);
        return 1;
      }
  }
  return 0;
}
