/* bench_machine: how far the MACHINE lets work scale from one thread to
 * N (default 2), measured without the library, so that the library's own
 * scaling (bench_alternate --threads 1,2) has a yardstick.
 *
 *   bench_machine [--rounds N] [--threads N] [--megabytes M]
 *
 * Three loops, each a fixed amount of work done once by one thread and once
 * cut into equal shares for --threads threads (default 2), alternating
 * round by round like bench_alternate, so that the drift of a shared
 * machine's speed hits both alike:
 *   compute  multiply-adds on registers only, 48 independent chains per
 *            thread (enough to keep a core's multiply-add units busy);
 *   cache    y = a * x + b over buffers of 3 MB in all (6 times one core's
 *            512 KB L2 here, within the shared L3; on 2 threads each
 *            thread's half is still 3 times its L2): the pattern of batch
 *            norm's apply pass on the activations of a small layer;
 *   memory   the same over --megabytes (default 192) of buffers, beyond the
 *            caches, like a training step's passes over all activations.
 * For each it prints the median and quartiles over the rounds of
 * (time on one thread) / (time on N threads): N when the threads do not
 * slow each other down. Threads are plain POSIX threads, started for each
 * timing and released together from a barrier; with one fork and join per
 * timing of 30 to 60 ms, the figures leave out what forks and joins cost,
 * which the library pays per layer: the gap between these figures and
 * bench_alternate's holds that cost and the library's own. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench_stats.h"

#define MAX_ROUNDS 1000
#define MAX_THREADS 64
#define CHAINS 48
#define CACHE_BYTES (3 << 20)

typedef enum loop_kind { LOOP_COMPUTE, LOOP_CACHE, LOOP_MEMORY } loop_kind;

static const char *const loop_names[] = {"compute", "cache", "memory"};

/* One thread's share of a timing. */
typedef struct share {
  loop_kind kind;
  int64_t count;   /* multiply-add steps per chain, or floats */
  int32_t repeats; /* passes over the floats */
  const float *x;
  float *y;
  pthread_barrier_t *start;
  float result; /* kept so that the compiler cannot drop the work */
} share;

/* CHAINS independent chains of v = v * m + c: the next step of a chain
 * waits for its last, but the chains do not wait for each other. */
static float run_compute(int64_t steps) {
  float v[CHAINS], m = 0.999999f, c = 1e-7f;
  for (int i = 0; i < CHAINS; i++) v[i] = (float)i;
  for (int64_t s = 0; s < steps; s++)
    for (int i = 0; i < CHAINS; i++) v[i] = v[i] * m + c;
  float sum = 0.0f;
  for (int i = 0; i < CHAINS; i++) sum += v[i];
  return sum;
}

/* y = a * x + b over `count` floats, `repeats` times. */
static float run_stream(const float *x, float *y, int64_t count,
                        int32_t repeats) {
  for (int32_t r = 0; r < repeats; r++) {
    float a = 1.0f + 1e-6f * (float)r;
    for (int64_t i = 0; i < count; i++) y[i] = a * x[i] + 0.5f;
  }
  return y[count - 1];
}

static void *run_share(void *argument) {
  share *s = argument;
  pthread_barrier_wait(s->start);
  s->result = s->kind == LOOP_COMPUTE
                  ? run_compute(s->count)
                  : run_stream(s->x, s->y, s->count, s->repeats);
  return NULL;
}

/* The work of one timing: a total of `count` steps or floats (the floats at
 * x and y), cut into `threads` shares. */
typedef struct work {
  loop_kind kind;
  int64_t count;
  int32_t repeats;
  const float *x;
  float *y;
} work;

/* Seconds for `w` on `threads` threads, the caller being one of them. */
static double time_work(const work *w, int32_t threads) {
  share shares[MAX_THREADS];
  pthread_t ids[MAX_THREADS];
  pthread_barrier_t start;
  if (pthread_barrier_init(&start, NULL, (unsigned)threads) != 0) {
    fprintf(stderr, "bench_machine: cannot make a barrier\n");
    exit(1);
  }
  /* The last share takes the remainder: the same work on any count. */
  int64_t per_thread = w->count / threads;
  for (int32_t t = 0; t < threads; t++)
    shares[t] = (share){.kind = w->kind,
                        .count = t + 1 < threads
                                     ? per_thread
                                     : w->count - per_thread * (threads - 1),
                        .repeats = w->repeats,
                        .x = w->x ? w->x + t * per_thread : NULL,
                        .y = w->y ? w->y + t * per_thread : NULL,
                        .start = &start};
  for (int32_t t = 1; t < threads; t++)
    if (pthread_create(&ids[t], NULL, run_share, &shares[t]) != 0) {
      fprintf(stderr, "bench_machine: cannot start a thread\n");
      exit(1);
    }
  /* The clock starts before the barrier that releases every thread, so
   * that a late starter counts against the threads, not for them. */
  double began = bench_seconds();
  run_share(&shares[0]);
  for (int32_t t = 1; t < threads; t++) pthread_join(ids[t], NULL);
  double elapsed = bench_seconds() - began;
  pthread_barrier_destroy(&start);
  return elapsed;
}

/* The median and quartiles of the ratios, and a line of them. */
static void report(const char *name, double *ratios, int rounds,
                   int32_t threads, double one_thread_seconds) {
  qsort(ratios, (size_t)rounds, sizeof *ratios, bench_compare_doubles);
  printf("%-8s 1 thread / %d threads: median %.2f (quartiles %.2f, %.2f; "
         "%d rounds; one thread %.1f ms)\n",
         name, threads, ratios[rounds / 2], ratios[rounds / 4],
         ratios[(3 * rounds) / 4], rounds, 1e3 * one_thread_seconds);
}

static void measure(const work *w, int rounds, int32_t threads) {
  double ratios[MAX_ROUNDS], one_thread_total = 0.0;
  time_work(w, 1); /* warm-up: pages touched, clocks up */
  for (int r = 0; r < rounds; r++) {
    double one = time_work(w, 1);
    double many = time_work(w, threads);
    ratios[r] = one / many;
    one_thread_total += one;
  }
  report(loop_names[w->kind], ratios, rounds, threads,
         one_thread_total / rounds);
}

static int usage(const char *program) {
  fprintf(stderr,
          "usage: %s [--rounds N] [--threads N] [--megabytes M]\n", program);
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

int main(int argc, char **argv) {
  long rounds = 21, threads = 2, megabytes = 192;
  for (int i = 1; i < argc; i++) {
    long *target = NULL, high = 0;
    if (strcmp(argv[i], "--rounds") == 0)
      target = &rounds, high = MAX_ROUNDS;
    else if (strcmp(argv[i], "--threads") == 0)
      target = &threads, high = MAX_THREADS;
    else if (strcmp(argv[i], "--megabytes") == 0)
      target = &megabytes, high = 16384;
    if (target == NULL || i + 1 == argc) return usage(argv[0]);
    *target = bounded(argv[++i], target == &megabytes ? 8 : 1, high);
    if (*target < 1) return usage(argv[0]);
  }
  /* x and y each take half of the buffers. */
  int64_t memory_floats = (int64_t)megabytes * (1 << 20) / 2 / sizeof(float);
  int64_t cache_floats = CACHE_BYTES / 2 / sizeof(float);
  float *x = malloc((size_t)memory_floats * sizeof *x);
  float *y = malloc((size_t)memory_floats * sizeof *y);
  if (x == NULL || y == NULL) {
    fprintf(stderr, "bench_machine: out of memory\n");
    return 1;
  }
  for (int64_t i = 0; i < memory_floats; i++) {
    x[i] = (float)(i % 1000) * 1e-3f;
    y[i] = 0.0f;
  }
  /* Each timing about 50 to 100 ms on one thread of this machine. */
  const work loops[] = {
      {LOOP_COMPUTE, 6000000 * (int64_t)threads, 1, NULL, NULL},
      {LOOP_CACHE, cache_floats, (int32_t)(150000000 / cache_floats) + 1, x,
       y},
      {LOOP_MEMORY, memory_floats,
       (int32_t)(100000000 / memory_floats) + 1, x, y},
  };
  printf("bench_machine: %ld rounds, 1 thread against %ld, memory loop "
         "over %ld MB\n",
         rounds, threads, megabytes);
  for (size_t k = 0; k < sizeof loops / sizeof loops[0]; k++)
    measure(&loops[k], (int)rounds, (int32_t)threads);
  free(x);
  free(y);
  return 0;
}
