/*
 * Winograd F(4x4, 3x3) forward of prepared filters, a range of images on
 * the calling thread or the whole batch split by channels over the pool:
 * the algorithm LB_CONV2D_WINOGRAD_4X4 of conv2d.h's lb_conv2d_prepare(),
 * lb_conv2d_forward_images() and lb_conv2d_forward_channels()
 * (lb_model_predict()).
 * For the 3x3, stride 1, padding 1 geometries of lb_winograd_applies(); 36
 * multiplications per 16 outputs and input channel where F(2x2, 3x3) does
 * 64 and a direct convolution 144. Forward only: training keeps F(2x2, 3x3),
 * whose rounding is closer to the direct sum. Internal, never installed;
 * conv2d.c decides when it is used.
 */
#ifndef LOSSBAL_NN_CONV_WINOGRAD4_H
#define LOSSBAL_NN_CONV_WINOGRAD4_H

#include "conv2d.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* As lb_conv2d_prepared_floats(), lb_conv2d_images_workspace_bytes(),
 * lb_conv2d_prepare() and lb_conv2d_forward_images() (see conv2d.h): the
 * prepared filters are the transformed ones, U [36, Co, Ci], each tap's
 * packed for lb_sgemm_packed() (lib/core/gemm_packed.h). */
int64_t lb_winograd4_prepared_floats(const lb_conv2d_geometry *g);
size_t lb_winograd4_images_workspace_bytes(const lb_conv2d_geometry *g);
void lb_winograd4_prepare(const lb_conv2d_geometry *g, const float *weight,
                          const float *scale, int64_t first, int64_t end,
                          float *prepared);
void lb_winograd4_forward_images(const lb_conv2d_geometry *g,
                                 const float *input, const float *prepared,
                                 const float *bias, float *output,
                                 float *workspace, int64_t first,
                                 int64_t count,
                                 const lb_conv2d_epilogue *after);

/* As lb_conv2d_splits_channels(), lb_conv2d_channels_workspace_bytes()
 * and lb_conv2d_forward_channels() (see conv2d.h). */
bool lb_winograd4_channels_pay_off(const lb_conv2d_geometry *g,
                                   int32_t ranges);
size_t lb_winograd4_channels_workspace_bytes(const lb_conv2d_geometry *g,
                                             int32_t parts);
void lb_winograd4_forward_channels(const lb_conv2d_geometry *g,
                                   const float *input, const float *prepared,
                                   const float *bias, float *output,
                                   float *workspace, int32_t parts,
                                   const lb_conv2d_epilogue *after);

#endif /* LOSSBAL_NN_CONV_WINOGRAD4_H */
