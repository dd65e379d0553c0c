/* What the benchmark programs of examples/ share: a monotonic clock in
 * seconds, and the order and median of per-round figures. Standard C and
 * POSIX only, so that the programs which use nothing but the public API
 * can include it too. */
#ifndef LOSSBAL_EXAMPLES_BENCH_STATS_H
#define LOSSBAL_EXAMPLES_BENCH_STATS_H

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

/* Seconds on the monotonic clock. */
static inline double bench_seconds(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
}

/* qsort()'s comparison of doubles, ascending. */
static inline int bench_compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Sorts `count` > 0 values and returns their median (the mean of the
 * middle two for an even count). */
static inline double bench_median(double *values, int64_t count) {
  qsort(values, (size_t)count, sizeof *values, bench_compare_doubles);
  return count % 2 ? values[count / 2]
                   : 0.5 * (values[count / 2 - 1] + values[count / 2]);
}

#endif /* LOSSBAL_EXAMPLES_BENCH_STATS_H */
