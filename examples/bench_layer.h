/* The arrays of one convolution layer for the layer benchmarks
 * (bench_conv.c, bench_conv_scaling.c): its input, weights and output
 * gradient filled with the same pseudo-random values in [-0.5, 0.5) every
 * time, room for the rest, and a workspace. Internal to the examples: it
 * uses the library's hidden layer geometry (lib/nn/conv2d.h). */
#ifndef LOSSBAL_EXAMPLES_BENCH_LAYER_H
#define LOSSBAL_EXAMPLES_BENCH_LAYER_H

#include "nn/conv2d.h"

#include <stdint.h>
#include <stdlib.h>

typedef struct bench_layer {
  lb_conv2d_geometry g;
  float *input, *weight, *output, *grad_output, *grad_input, *grad_weight;
  float *workspace;
} bench_layer;

static inline float *bench_random_floats(int64_t count, uint32_t *state) {
  float *a = malloc((size_t)count * sizeof(float));
  if (!a)
    return NULL;
  for (int64_t i = 0; i < count; i++) {
    *state = *state * 1664525u + 1013904223u;
    a[i] = (float)(*state >> 8) / 16777216.0f - 0.5f;
  }
  return a;
}

static inline void bench_free_layer(bench_layer *l) {
  free(l->input);
  free(l->weight);
  free(l->output);
  free(l->grad_output);
  free(l->grad_input);
  free(l->grad_weight);
  free(l->workspace);
  l->input = l->weight = l->output = l->grad_output = NULL;
  l->grad_input = l->grad_weight = l->workspace = NULL;
}

/* The arrays of the layer of geometry `g` (validated), with a workspace of
 * `workspace_bytes`; 0, or -1 with nothing allocated when memory runs
 * out. */
static inline int bench_make_layer(const lb_conv2d_geometry *g,
                                   size_t workspace_bytes, bench_layer *l) {
  int64_t in = g->batch * g->in_channels * g->in_h * g->in_w;
  int64_t out = g->batch * g->out_channels * g->out_h * g->out_w;
  int64_t weights = g->out_channels * g->in_channels * g->kernel_h *
                    g->kernel_w;
  uint32_t state = 12345u;
  l->g = *g;
  l->input = bench_random_floats(in, &state);
  l->weight = bench_random_floats(weights, &state);
  l->grad_output = bench_random_floats(out, &state);
  l->output = malloc((size_t)out * sizeof(float));
  l->grad_input = malloc((size_t)in * sizeof(float));
  l->grad_weight = malloc((size_t)weights * sizeof(float));
  l->workspace = malloc(workspace_bytes > 0 ? workspace_bytes : 1);
  if (!l->input || !l->weight || !l->grad_output || !l->output ||
      !l->grad_input || !l->grad_weight || !l->workspace) {
    bench_free_layer(l);
    return -1;
  }
  return 0;
}

#endif /* LOSSBAL_EXAMPLES_BENCH_LAYER_H */
