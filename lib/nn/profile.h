/*
 * Per-layer-kind timing of a model (lb_model_set_profiling(),
 * lb_model_get_profile()). Internal; never installed.
 *
 * model.c brackets each layer call:
 *   int64_t start = lb_profile_start(&m->profile);
 *   ... the layer ...
 *   lb_profile_stop(&m->profile, LB_LAYER_BATCHNORM, LB_PASS_FORWARD, start,
 *                   0.0);
 * While profiling is off, lb_profile_start() returns 0 without reading the
 * clock and lb_profile_stop() returns at once.
 */
#ifndef LOSSBAL_NN_PROFILE_H
#define LOSSBAL_NN_PROFILE_H

#include "conv2d.h"
#include "lossbal/nn.h"

#include <stdbool.h>
#include <stdint.h>

/* One past the last lb_layer_kind. */
#define LB_LAYER_KINDS 9

typedef enum lb_pass { LB_PASS_FORWARD, LB_PASS_BACKWARD } lb_pass;

typedef struct lb_profile_counter {
  int64_t nanoseconds, calls;
  double flops;
} lb_profile_counter;

typedef struct lb_profile {
  bool enabled;
  lb_profile_counter counters[LB_LAYER_KINDS][2]; /* [kind][pass] */
} lb_profile;

/* Clears the counters and switches timing on or off. */
void lb_profile_enable(lb_profile *p, bool enabled);

/* The clock now in nanoseconds when profiling is on, else 0. */
int64_t lb_profile_start(const lb_profile *p);

/* Adds the time since `start`, one call and `flops` to a kind's counter
 * when profiling is on. */
void lb_profile_stop(lb_profile *p, lb_layer_kind kind, lb_pass pass,
                     int64_t start, double flops);

/* The kind a convolution is counted under, by its kernel. */
lb_layer_kind lb_profile_conv_kind(const lb_conv2d_geometry *g);

/* 2 x the multiply-adds of a direct convolution's forward, which is also
 * the count of each of its two backward products. */
double lb_profile_conv_flops(const lb_conv2d_geometry *g);

/* Copies a kind's counters into a public struct. */
void lb_profile_read(const lb_profile *p, lb_layer_kind kind,
                     lb_layer_profile *out);

#endif /* LOSSBAL_NN_PROFILE_H */
