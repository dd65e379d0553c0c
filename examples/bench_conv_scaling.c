/* bench_conv_scaling: how each convolution layer of a ResNet scales from one
 * thread to N, against N one-thread copies of the same layer run at once.
 *
 *   bench_conv_scaling [--arch resnet18|resnet34|resnet50] [--width N]
 *                      [--side N] [--batch B] [--threads N] [--rounds R]
 *                      [--calls C]
 *
 * The layers are those of the network's training step on 1-channel images
 * of N x N pixels (28 by default), always with the small-input stem (a 3x3
 * convolution, no max pool), each shape once with the number of times the
 * network has it. Per shape and direction (forward,
 * backward), each round times C calls of lb_conv2d_forward() or
 * lb_conv2d_backward() on the batch at one thread, C on N threads, and C
 * by N copies at once, each its own layer of B / N images on a thread of
 * its own with the library at one thread: nothing shared between them and
 * no thread waiting for another until the end. The copies are what the
 * machine allows the layer when its threads need not work together, the
 * yardstick for the N-thread figure (docs/performance.md). Rounds alternate
 * the three because a shared machine's speed drifts in phases of seconds.
 *
 * It prints, per line, the medians of the three times a call and the
 * medians of the per-round ratios: 1 thread / N threads (the scaling), 1
 * thread / copies (the copies' scaling), copies / N threads (above 1, the
 * N threads beat the copies); then the same summed over the network's
 * layers, weighted by their counts. The library's layer kernels are
 * internal (lib/nn/conv2d.h), so this links the static library.
 */
#include "bench_layer.h"
#include "bench_stats.h"
#include "lossbal/lossbal.h"
#include "nn/conv2d.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_LAYERS 32
#define MAX_ROUNDS 1001
#define MAX_COPIES 8

typedef struct options {
  int depth; /* 18, 34 or 50 */
  int64_t width, side, batch;
  int32_t threads;
  int rounds, calls;
} options;

/* A convolution of the network and how many times it has it. */
typedef struct conv_shape {
  int64_t in_channels, out_channels, side, kernel, stride;
  int count;
} conv_shape;

typedef struct network {
  conv_shape shape[MAX_LAYERS];
  int shapes;
  bool too_many; /* more shapes than MAX_LAYERS: the network is cut short */
} network;

/* ---- the layers of a ResNet ---------------------------------------------- */

static int64_t side_after(int64_t side, int64_t kernel, int64_t stride) {
  int64_t pad = kernel / 2;
  return (side + 2 * pad - kernel) / stride + 1;
}

/* Counts the convolution, adding its shape when it is new. */
static void add_conv(network *net, int64_t in, int64_t out, int64_t side,
                     int64_t kernel, int64_t stride) {
  for (int i = 0; i < net->shapes; i++) {
    conv_shape *s = &net->shape[i];
    if (s->in_channels == in && s->out_channels == out && s->side == side &&
        s->kernel == kernel && s->stride == stride) {
      s->count++;
      return;
    }
  }
  if (net->shapes == MAX_LAYERS) {
    net->too_many = true;
    return;
  }
  net->shape[net->shapes++] = (conv_shape){in, out, side, kernel, stride, 1};
}

/* As lib/nn/resnet.c builds them: the stride of a stage's first block on
 * its 3x3 convolution, a 1x1 shortcut where the shape changes. */
static void basic_block(network *net, int64_t in, int64_t planes,
                        int64_t side, int64_t stride) {
  add_conv(net, in, planes, side, 3, stride);
  add_conv(net, planes, planes, side_after(side, 3, stride), 3, 1);
  if (stride != 1 || in != planes)
    add_conv(net, in, planes, side, 1, stride);
}

static void bottleneck_block(network *net, int64_t in, int64_t planes,
                             int64_t side, int64_t stride) {
  int64_t out = 4 * planes, after = side_after(side, 3, stride);
  add_conv(net, in, planes, side, 1, 1);
  add_conv(net, planes, planes, side, 3, stride);
  add_conv(net, planes, out, after, 1, 1);
  if (stride != 1 || in != out)
    add_conv(net, in, out, side, 1, stride);
}

static network resnet_layers(const options *o) {
  static const int blocks18[4] = {2, 2, 2, 2}, blocks34[4] = {3, 4, 6, 3};
  const int *blocks = o->depth == 18 ? blocks18 : blocks34; /* 50: as 34 */
  network net = {.shapes = 0, .too_many = false};
  int64_t side = o->side, in = o->width;
  add_conv(&net, 1, o->width, side, 3, 1); /* the small-input stem */
  for (int stage = 0; stage < 4; stage++) {
    int64_t planes = o->width << stage;
    for (int i = 0; i < blocks[stage]; i++) {
      int64_t stride = stage > 0 && i == 0 ? 2 : 1;
      if (o->depth == 50) {
        bottleneck_block(&net, in, planes, side, stride);
        in = 4 * planes;
      } else {
        basic_block(&net, in, planes, side, stride);
        in = planes;
      }
      side = side_after(side, 3, stride);
    }
  }
  return net;
}

/* ---- one layer ----------------------------------------------------------- */

/* A layer of `batch` images, its workspace for the library's thread count
 * at the time of the call. */
static int make_layer(const conv_shape *s, int64_t batch, bench_layer *l) {
  lb_conv2d_geometry g = {
      .batch = batch, .in_channels = s->in_channels, .in_h = s->side,
      .in_w = s->side, .out_channels = s->out_channels,
      .kernel_h = s->kernel, .kernel_w = s->kernel, .stride_h = s->stride,
      .stride_w = s->stride, .pad_h = s->kernel / 2, .pad_w = s->kernel / 2};
  if (lb_conv2d_geometry_validate(&g) != LB_OK)
    return -1;
  return bench_make_layer(&g, lb_conv2d_workspace_bytes(&g), l);
}

typedef enum direction { FORWARD, BACKWARD } direction;

static void run_calls(bench_layer *l, direction d, int calls) {
  for (int i = 0; i < calls; i++) {
    if (d == FORWARD)
      lb_conv2d_forward(&l->g, l->input, l->weight, NULL, l->output,
                        l->workspace);
    else
      lb_conv2d_backward(&l->g, l->input, l->weight, l->grad_output,
                         l->grad_input, l->grad_weight, NULL, l->workspace);
  }
}

/* ---- copies on threads of their own -------------------------------------- */

/* Copy 0 runs on the calling thread, copy i on helper i - 1; a round starts
 * and ends at a barrier of all of them. */
typedef struct copies {
  pthread_barrier_t barrier;
  pthread_t helper[MAX_COPIES - 1];
  bench_layer copy[MAX_COPIES];
  int count, calls;
  direction dir;
  bool stop;
} copies;

typedef struct helper_start {
  copies *c;
  int index;
} helper_start;

static helper_start helper_starts[MAX_COPIES];

static void *run_helper(void *argument) {
  const helper_start *start = argument;
  copies *c = start->c;
  for (;;) {
    pthread_barrier_wait(&c->barrier);
    if (c->stop)
      return NULL;
    run_calls(&c->copy[start->index], c->dir, c->calls);
    pthread_barrier_wait(&c->barrier);
  }
}

static int start_copies(copies *c, int count) {
  c->count = count;
  c->stop = false;
  if (pthread_barrier_init(&c->barrier, NULL, (unsigned)count) != 0)
    return -1;
  for (int i = 1; i < count; i++) {
    helper_starts[i] = (helper_start){c, i};
    if (pthread_create(&c->helper[i - 1], NULL, run_helper,
                       &helper_starts[i]) != 0)
      return -1; /* the process ends at once; nothing to unwind */
  }
  return 0;
}

static void stop_copies(copies *c) {
  c->stop = true;
  pthread_barrier_wait(&c->barrier);
  for (int i = 1; i < c->count; i++)
    pthread_join(c->helper[i - 1], NULL);
  pthread_barrier_destroy(&c->barrier);
}

/* Seconds a call of all the copies at once. */
static double time_copies(copies *c, direction d, int calls) {
  c->dir = d;
  c->calls = calls;
  double start = bench_seconds();
  pthread_barrier_wait(&c->barrier);
  run_calls(&c->copy[0], d, calls);
  pthread_barrier_wait(&c->barrier);
  return (bench_seconds() - start) / calls;
}

static double time_layer(bench_layer *l, direction d, int calls,
                         int32_t threads) {
  lb_set_num_threads(threads);
  double start = bench_seconds();
  run_calls(l, d, calls);
  return (bench_seconds() - start) / calls;
}

/* ---- medians and printing ------------------------------------------------ */

/* One line's figures: median seconds a call and median per-round ratios. */
typedef struct figures {
  double one, many, copies;          /* seconds */
  double scaling, copies_scaling, many_over_copies;
} figures;

static figures summarise(const double *one, const double *many,
                         const double *copies_time, int rounds) {
  static double a[MAX_ROUNDS], b[MAX_ROUNDS], c[MAX_ROUNDS];
  figures f;
  for (int r = 0; r < rounds; r++) {
    a[r] = one[r] / many[r];
    b[r] = one[r] / copies_time[r];
    c[r] = copies_time[r] / many[r];
  }
  f.scaling = bench_median(a, rounds);
  f.copies_scaling = bench_median(b, rounds);
  f.many_over_copies = bench_median(c, rounds);
  memcpy(a, one, (size_t)rounds * sizeof *a);
  memcpy(b, many, (size_t)rounds * sizeof *b);
  memcpy(c, copies_time, (size_t)rounds * sizeof *c);
  f.one = bench_median(a, rounds);
  f.many = bench_median(b, rounds);
  f.copies = bench_median(c, rounds);
  return f;
}

static void print_line(const char *name, int count, const char *dir,
                       const figures *f) {
  printf("%-22s %3d %4s %9.3f %9.3f %9.3f %7.3f %7.3f %7.3f\n", name, count,
         dir, 1e3 * f->one, 1e3 * f->many, 1e3 * f->copies, f->scaling,
         f->copies_scaling, f->many_over_copies);
  fflush(stdout);
}

/* ---- one shape ----------------------------------------------------------- */

/* Per round, the times a call at one thread, at N and of the copies. */
typedef struct round_times {
  double one[MAX_ROUNDS], many[MAX_ROUNDS], copies[MAX_ROUNDS];
} round_times;

/* The whole network's time of each round, weighted by the counts. */
static round_times network_times;

static int bench_shape(const options *o, const conv_shape *s, copies *c) {
  lb_set_num_threads(o->threads);
  bench_layer batch_layer;
  if (make_layer(s, o->batch, &batch_layer))
    return -1;
  lb_set_num_threads(1);
  int made = 0;
  for (; made < o->threads; made++)
    if (make_layer(s, o->batch / o->threads, &c->copy[made]))
      break;
  int status = made == o->threads ? 0 : -1;
  char name[48];
  snprintf(name, sizeof name, "%lldx%lld@%lld k%lld s%lld",
           (long long)s->in_channels, (long long)s->out_channels,
           (long long)s->side, (long long)s->kernel, (long long)s->stride);
  static round_times t;
  for (int d = FORWARD; status == 0 && d <= BACKWARD; d++) {
    for (int r = -1; r < o->rounds; r++) { /* round -1 warms up */
      double one = time_layer(&batch_layer, (direction)d, o->calls, 1);
      double many =
          time_layer(&batch_layer, (direction)d, o->calls, o->threads);
      lb_set_num_threads(1);
      double copies_time = time_copies(c, (direction)d, o->calls);
      if (r < 0)
        continue;
      t.one[r] = one;
      t.many[r] = many;
      t.copies[r] = copies_time;
      network_times.one[r] += s->count * one;
      network_times.many[r] += s->count * many;
      network_times.copies[r] += s->count * copies_time;
    }
    figures f = summarise(t.one, t.many, t.copies, o->rounds);
    print_line(name, s->count, d == FORWARD ? "fwd" : "bwd", &f);
  }
  for (int i = 0; i < made; i++)
    bench_free_layer(&c->copy[i]);
  bench_free_layer(&batch_layer);
  return status;
}

/* Calls of the first layer on N threads for a second before anything is
 * timed: the library's pool starts its threads, and OpenBLAS's own threads,
 * idle here, spin for their first tenth of a second or so, which took half
 * a core from the first figures. */
static int settle(const options *o, const conv_shape *s) {
  lb_set_num_threads(o->threads);
  bench_layer l;
  if (make_layer(s, o->batch, &l))
    return -1;
  for (double start = bench_seconds(); bench_seconds() - start < 1.0;)
    run_calls(&l, FORWARD, 1);
  bench_free_layer(&l);
  return 0;
}

/* ---- options ------------------------------------------------------------- */

static int parse_arch(const char *value, options *o) {
  if (strcmp(value, "resnet18") == 0)
    o->depth = 18;
  else if (strcmp(value, "resnet34") == 0)
    o->depth = 34;
  else if (strcmp(value, "resnet50") == 0)
    o->depth = 50;
  else
    return -1;
  return 0;
}

static int parse_options(int argc, char **argv, options *o) {
  *o = (options){.depth = 18, .width = 16, .side = 28, .batch = 64,
                 .threads = 2, .rounds = 15, .calls = 3};
  for (int i = 1; i < argc; i += 2) {
    if (i + 1 >= argc)
      return -1;
    const char *value = argv[i + 1];
    if (strcmp(argv[i], "--arch") == 0) {
      if (parse_arch(value, o))
        return -1;
    } else if (strcmp(argv[i], "--width") == 0) {
      o->width = atoll(value);
    } else if (strcmp(argv[i], "--side") == 0) {
      o->side = atoll(value);
    } else if (strcmp(argv[i], "--batch") == 0) {
      o->batch = atoll(value);
    } else if (strcmp(argv[i], "--threads") == 0) {
      o->threads = atoi(value);
    } else if (strcmp(argv[i], "--rounds") == 0) {
      o->rounds = atoi(value);
    } else if (strcmp(argv[i], "--calls") == 0) {
      o->calls = atoi(value);
    } else {
      return -1;
    }
  }
  /* Each copy takes an equal share of the batch. */
  return o->width >= 1 && o->width <= 4096 && o->side >= 8 &&
                 o->side <= 1024 && o->threads >= 2 &&
                 o->threads <= MAX_COPIES && o->batch >= o->threads &&
                 o->batch % o->threads == 0 && o->rounds >= 1 &&
                 o->rounds < MAX_ROUNDS && o->calls >= 1
             ? 0
             : -1;
}

int main(int argc, char **argv) {
  options o;
  if (parse_options(argc, argv, &o)) {
    fprintf(stderr,
            "usage: %s [--arch resnet18|resnet34|resnet50] [--width N] "
            "[--side N] [--batch B] [--threads N (2 to %d, dividing B)] "
            "[--rounds R] [--calls C]\n",
            argv[0], MAX_COPIES);
    return 2;
  }
  network net = resnet_layers(&o);
  if (net.too_many) {
    fprintf(stderr, "bench_conv_scaling: the network has more than %d layer "
                    "shapes\n", MAX_LAYERS);
    return 1;
  }
  static copies c;
  if (start_copies(&c, o.threads)) {
    fprintf(stderr, "bench_conv_scaling: cannot start the copies' threads\n");
    return 1;
  }
  printf("resnet%d width %lld, %lldx%lld input, batch %lld; %d threads "
         "against 1 thread and against %d one-thread copies of batch %lld "
         "at once; medians of %d rounds of %d calls\n",
         o.depth, (long long)o.width, (long long)o.side, (long long)o.side,
         (long long)o.batch, (int)o.threads, (int)o.threads,
         (long long)(o.batch / o.threads), o.rounds, o.calls);
  printf("%-22s %3s %4s %9s %9s %9s %7s %7s %7s\n", "CixCo@side kernel stride",
         "n", "dir", "1 thr ms", "N thr ms", "copies", "1/N", "1/cp",
         "cp/N");
  for (int i = 0; i < net.shapes; i++)
    if ((i == 0 && settle(&o, &net.shape[0])) ||
        bench_shape(&o, &net.shape[i], &c)) {
      fprintf(stderr, "bench_conv_scaling: no memory for a layer\n");
      stop_copies(&c);
      return 1;
    }
  figures total = summarise(network_times.one, network_times.many,
                            network_times.copies, o.rounds);
  print_line("all, by their counts", 0, "both", &total);
  stop_copies(&c);
  return 0;
}
