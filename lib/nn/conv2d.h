/*
 * The 2-D convolution kernel of the ResNet layers: forward and backward of
 * out = conv(in, weight) + bias with PyTorch's semantics (cross-correlation,
 * zero padding, no dilation, no groups), on float32 NCHW arrays. Internal
 * (hidden, never installed); the layer code owns the tensors and calls these.
 *
 * Shapes: input [batch, in_channels, in_h, in_w], weight [out_channels,
 * in_channels, kernel_h, kernel_w], bias [out_channels], output [batch,
 * out_channels, out_h, out_w], all dense and row-major.
 *
 * Use: fill an lb_conv2d_geometry, have lb_conv2d_geometry_validate() check
 * it and derive out_h/out_w, allocate lb_conv2d_workspace_bytes() once, then
 * call the kernels as often as needed. The kernels never allocate and never
 * fail; they assume a validated geometry and arrays of the sizes above.
 * They use the library's threads (and OpenBLAS's under LOSSBAL_GEMM=
 * openblas); a workspace serves one call at a time.
 *
 * The workspace is sized for the thread count at validation (`slots`
 * below), and the kernels never use more of it than that, so a change of
 * lb_set_num_threads() between validation and a call (or between a
 * forward and its backward) is safe: a call runs on at most
 * min(slots, current threads) threads of ranges of images, and falls back
 * to splitting each product over the pool otherwise. Validate again to use
 * more threads that way.
 */
#ifndef LOSSBAL_NN_CONV2D_H
#define LOSSBAL_NN_CONV2D_H

#include "lossbal/lossbal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most ranges of images (and workspace slots) a convolution uses. */
#define LB_CONV_MAX_SLOTS 8

typedef struct lb_conv2d_geometry {
  int64_t batch;
  int64_t in_channels, in_h, in_w;
  int64_t out_channels;
  int64_t kernel_h, kernel_w;
  int64_t stride_h, stride_w;
  int64_t pad_h, pad_w;
  /* Derived by lb_conv2d_geometry_validate(); ignored on input. */
  int64_t out_h, out_w;
  /* Ranges of images the workspace has room for, one per thread: the
   * library's thread count at validation, at most 8 (1 under
   * LOSSBAL_GEMM=openblas, where OpenBLAS threads each product instead). */
  int64_t slots;
} lb_conv2d_geometry;

/* Checks every field above out_h and sets out_h, out_w and slots. Fails with
 * LB_EINVAL and a message starting "conv2d: " when a size, kernel or stride
 * is below 1, a padding is negative, a field exceeds INT32_MAX (BLAS takes
 * int extents), the padded input is smaller than the kernel ("conv2d: input
 * 5x5 is smaller than the kernel 7x7 with padding 0"), or an array's byte
 * size (the workspace's included) overflows. On failure *g is untouched. */
lb_status lb_conv2d_geometry_validate(lb_conv2d_geometry *g);

/* Bytes of workspace the kernels need for this geometry: per slot (up to
 * min(slots, batch) of them) the column matrix of a block of images and,
 * for blocks of several images, a staging area for their output, then
 * weight gradients [Co, K] for the units of blocks but the first: one per
 * slot but the first at least, up to one per block within 127 and
 * LB_BLOCK_PARTS_FLOATS floats (the units are grouped to fit; see
 * conv2d.c and block_claims.h). A
 * 1x1 kernel with stride 1 and no padding on images of 49 pixels or more
 * needs no column matrix, so at one slot its workspace is 0. Cannot
 * overflow for a validated geometry. */
size_t lb_conv2d_workspace_bytes(const lb_conv2d_geometry *g);

/* output = conv(input, weight) + bias; bias may be NULL (no bias). output is
 * overwritten and must not overlap the other arrays. workspace holds
 * lb_conv2d_workspace_bytes(g) bytes (may be NULL when that is 0); its
 * contents on entry do not matter and are garbage on return. */
void lb_conv2d_forward(const lb_conv2d_geometry *g, const float *input,
                       const float *weight, const float *bias, float *output,
                       float *workspace);

/* Gradients of a loss L from grad_output = dL/d(output):
 *   grad_input  = dL/d(input),  skipped when NULL (the first layer);
 *   grad_weight = dL/d(weight), always computed;
 *   grad_bias   = dL/d(bias),   skipped when NULL.
 * Every gradient is OVERWRITTEN, not accumulated: a caller that needs a sum
 * over several calls adds the results itself. The outputs must not overlap
 * each other or the inputs. workspace is as for lb_conv2d_forward(). */
void lb_conv2d_backward(const lb_conv2d_geometry *g, const float *input,
                        const float *weight, const float *grad_output,
                        float *grad_input, float *grad_weight,
                        float *grad_bias, float *workspace);

/* The forward a range of images at a time, on the calling thread alone,
 * for a caller that runs whole ranges of a network side by side
 * (lb_model_predict()), with weights prepared once for all the ranges:
 *
 *  - lb_conv2d_algorithm_of(): the algorithm for this forward now (it
 *    reads LOSSBAL_CONV): that of lb_conv2d_forward(), except that
 *    F(4x4, 3x3) takes Winograd's layers on images where it pays off
 *    (conv2d.c); the caller keeps it and passes it to the functions below,
 *    so that preparing and computing always agree;
 *  - lb_conv2d_prepared_floats(): the floats of the prepared weights (the
 *    weights themselves, or Winograd's transformed filters: 16 or 36 per
 *    3x3 filter);
 *  - lb_conv2d_images_workspace_bytes(): the workspace of one range (each
 *    range has its own, which it may use for every layer in turn);
 *  - lb_conv2d_prepare(): prepares output channels [first, end) of weight,
 *    each channel's filters multiplied by scale[channel] first (scale NULL:
 *    by 1), so a batch norm can be folded in on the way; calls for disjoint
 *    channel ranges may run side by side;
 *  - lb_conv2d_forward_images(): output images [first, first + count) of
 *    the batch from the same images of input (both arrays hold the whole
 *    batch), as lb_conv2d_forward() with the prepared weights, on a
 *    workspace of lb_conv2d_images_workspace_bytes() (NULL when that is 0)
 *    that no other call uses meanwhile, then `after` on each block of
 *    images while it is in the cache (NULL: nothing after). */
typedef enum lb_conv2d_algorithm {
  LB_CONV2D_GEMM = 0,     /* im2col + GEMM (conv2d.c) */
  LB_CONV2D_WINOGRAD = 1, /* F(2x2, 3x3) (conv_winograd.c) */
  LB_CONV2D_WINOGRAD_4X4 = 2 /* F(4x4, 3x3), forward only (conv_winograd4.c) */
} lb_conv2d_algorithm;

/* What lb_conv2d_forward_images() and lb_conv2d_forward_channels() do to
 * their output after the bias, as
 * the layers after a folded convolution would: adds `residual` (an array
 * of the output's shape, the whole batch; NULL: nothing), then the ReLU
 * (`x < 0 ? 0 : x`, NaN passing, as lb_relu_forward()). The same bits as
 * those layers' passes. (No epilogue at all: pass NULL.) */
typedef struct lb_conv2d_epilogue {
  const float *residual;
} lb_conv2d_epilogue;

/* The epilogue on output images [first, first + count): for the
 * algorithms' block loops. */
void lb_conv2d_finish_images(const lb_conv2d_geometry *g,
                             const lb_conv2d_epilogue *after, float *output,
                             int64_t first, int64_t count);

/* The epilogue on the planes of channel `channel` of output images
 * [first, first + count): for a split by channels. */
void lb_conv2d_finish_channel(const lb_conv2d_geometry *g,
                              const lb_conv2d_epilogue *after, float *output,
                              int64_t first, int64_t count, int64_t channel);

lb_conv2d_algorithm lb_conv2d_algorithm_of(const lb_conv2d_geometry *g);
int64_t lb_conv2d_prepared_floats(const lb_conv2d_geometry *g,
                                  lb_conv2d_algorithm algorithm);
size_t lb_conv2d_images_workspace_bytes(const lb_conv2d_geometry *g,
                                        lb_conv2d_algorithm algorithm);
void lb_conv2d_prepare(const lb_conv2d_geometry *g,
                       lb_conv2d_algorithm algorithm, const float *weight,
                       const float *scale, int64_t first, int64_t end,
                       float *prepared);
void lb_conv2d_forward_images(const lb_conv2d_geometry *g,
                              lb_conv2d_algorithm algorithm,
                              const float *input, const float *prepared,
                              const float *bias, float *output,
                              float *workspace, int64_t first, int64_t count,
                              const lb_conv2d_epilogue *after);

/* The forward of prepared weights on the whole batch at once, split over
 * the pool by channels, for the layers where ranges of images would cut
 * the products narrower than one thread does (small images, whose blocks
 * need many images: lb_model_predict() runs its late layers this way):
 *
 *  - lb_conv2d_splits_channels(): whether the algorithm has this forward
 *    (F(4x4, 3x3) has) and it pays off against `ranges` ranges of images:
 *    a range's blocks would hold fewer images than the whole batch's and,
 *    unless `any_size`, the prepared weights take at least
 *    LB_CONV2D_SPLIT_MIN_PREPARED_BYTES (conv2d.c says why);
 *  - lb_conv2d_channels_workspace_bytes(): its workspace on `parts` parts;
 *  - lb_conv2d_forward_channels(): the whole batch's output, as
 *    lb_conv2d_forward_images() of every image would give it, the input
 *    transform split by input channels and the products, the output
 *    transform and `after` by output channels, each over `parts` chunks of
 *    the pool; the same bits for the same `parts`. Only for an algorithm
 *    for which lb_conv2d_splits_channels() said yes (others leave the
 *    output as it was). */
#define LB_CONV2D_SPLIT_MIN_PREPARED_BYTES ((int64_t)4 << 20)
bool lb_conv2d_splits_channels(const lb_conv2d_geometry *g,
                               lb_conv2d_algorithm algorithm, int32_t ranges,
                               bool any_size);
size_t lb_conv2d_channels_workspace_bytes(const lb_conv2d_geometry *g,
                                          lb_conv2d_algorithm algorithm,
                                          int32_t parts);
void lb_conv2d_forward_channels(const lb_conv2d_geometry *g,
                                lb_conv2d_algorithm algorithm,
                                const float *input, const float *prepared,
                                const float *bias, float *output,
                                float *workspace, int32_t parts,
                                const lb_conv2d_epilogue *after);

/* grad_bias[c] = the sum of channel c of grad_output over the batch,
 * accumulated in double: the bias gradient of every algorithm. */
void lb_conv2d_bias_gradient(const lb_conv2d_geometry *g,
                             const float *grad_output, float *grad_bias);

#endif /* LOSSBAL_NN_CONV2D_H */
