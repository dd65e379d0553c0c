/*
 * Winograd F(2x2, 3x3) convolution for 3x3 kernels at stride 1 with
 * padding 1 (every 3x3 convolution of a ResNet block but the strided ones):
 * the same contract as lb_conv2d_forward() and lb_conv2d_backward() (see
 * conv2d.h) with 2.25 times fewer multiplications in the GEMMs. Internal,
 * never installed; conv2d.c decides when it is used.
 */
#ifndef LOSSBAL_NN_CONV_WINOGRAD_H
#define LOSSBAL_NN_CONV_WINOGRAD_H

#include "conv2d.h"

#include <stdbool.h>
#include <stddef.h>

/* True for a validated geometry this algorithm computes: kernel 3x3,
 * stride 1, padding 1. */
bool lb_winograd_applies(const lb_conv2d_geometry *g);

/* Bytes of workspace for a geometry it applies to: room for the ranges of
 * images of g->slots threads (see conv_winograd.c); never less for a
 * larger batch. */
size_t lb_winograd_workspace_bytes(const lb_conv2d_geometry *g);

/* As lb_conv2d_forward() and lb_conv2d_backward(), for a geometry it
 * applies to, with a workspace of lb_winograd_workspace_bytes(). */
void lb_winograd_forward(const lb_conv2d_geometry *g, const float *input,
                         const float *weight, const float *bias,
                         float *output, float *workspace);
void lb_winograd_backward(const lb_conv2d_geometry *g, const float *input,
                          const float *weight, const float *grad_output,
                          float *grad_input, float *grad_weight,
                          float *grad_bias, float *workspace);

/* As lb_conv2d_prepared_floats(), lb_conv2d_images_workspace_bytes(),
 * lb_conv2d_prepare() and lb_conv2d_forward_images(), for a geometry it
 * applies to: the prepared filters are the transformed ones, U [16, Co,
 * Ci], each tap's packed for lb_sgemm_packed() (lib/core/gemm_packed.h),
 * whose products sum each output alike whatever the block. */
int64_t lb_winograd_prepared_floats(const lb_conv2d_geometry *g);
size_t lb_winograd_images_workspace_bytes(const lb_conv2d_geometry *g);
void lb_winograd_prepare(const lb_conv2d_geometry *g, const float *weight,
                         const float *scale, int64_t first, int64_t end,
                         float *prepared);
void lb_winograd_forward_images(const lb_conv2d_geometry *g,
                                const float *input, const float *prepared,
                                const float *bias, float *output,
                                float *workspace, int64_t first,
                                int64_t count,
                                const lb_conv2d_epilogue *after);

#endif /* LOSSBAL_NN_CONV_WINOGRAD_H */
