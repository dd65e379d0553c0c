/*
 * The library's own random generator: splitmix64 (Steele, Lea and Flood,
 * 2014). Everything seeded in liblossbal (initialisation, splits, samplers,
 * augmentations) draws from it, so a seed means the same numbers on every
 * machine, compiler and C library. Never installed.
 */
#ifndef LOSSBAL_CORE_RANDOM_H
#define LOSSBAL_CORE_RANDOM_H

#include <stdint.h>

/* The next 64 random bits; advances *state. */
static inline uint64_t lb_random_next(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Uniform in (0, 1): 53 random bits, never 0 and never 1. */
static inline double lb_random_open01(uint64_t *state) {
  return ((double)(lb_random_next(state) >> 11) + 0.5) * 0x1.0p-53;
}

/* Uniform in [0, 1): 53 random bits. */
static inline double lb_random_unit(uint64_t *state) {
  return (double)(lb_random_next(state) >> 11) * 0x1.0p-53;
}

/* Uniform integer in [0, bound), bound >= 1, without modulo bias: draws
 * again while the value falls in the incomplete last stretch of 2^64. */
static inline uint64_t lb_random_below(uint64_t *state, uint64_t bound) {
  uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
  uint64_t r;
  do {
    r = lb_random_next(state);
  } while (r >= limit);
  return r % bound;
}

/* A seed for stream `stream` of a generator seeded with `seed`: streams are
 * independent of each other and of the order they are asked for in, which
 * is what keeps per-sample randomness the same on every thread count. */
static inline uint64_t lb_random_stream(uint64_t seed, uint64_t stream) {
  uint64_t state = seed ^ (stream * 0xD1B54A32D192ED03ull);
  return lb_random_next(&state);
}

#endif /* LOSSBAL_CORE_RANDOM_H */
