/*
 * The layer kernels of the ResNet stack other than convolution, on raw float
 * arrays in NCHW order, with the numbers of PyTorch's torch.nn.BatchNorm2d,
 * ReLU, MaxPool2d, AdaptiveAvgPool2d(1) + flatten, Linear and the residual
 * add of torchvision's blocks. Internal: hidden visibility, never installed.
 *
 * How the model code uses them:
 *  - once per shape, a check function (lb_nchw_check, lb_batchnorm2d_check,
 *    lb_maxpool2d_check, lb_linear_check) validates the layer and the shape
 *    and returns LB_EINVAL with a message that starts with `who`;
 *  - then the kernels, which assume checked arguments, never allocate and
 *    never fail.
 *
 * Buffers:
 *  - every buffer is owned by the caller; a kernel writes only its outputs;
 *  - what a backward needs from its forward is kept in caller buffers whose
 *    sizes are given with each forward (BatchNorm: two floats per channel;
 *    MaxPool: one int32_t per output element; the others: nothing beyond
 *    their input or output);
 *  - parameter gradients (grad_weight, grad_bias) are written, not
 *    accumulated;
 *  - outputs may be the inputs only where a function says so.
 *
 * Large tensors are cut into chunks for lb_parallel_for (by channel, plane or
 * range of elements). Every reduction runs over one channel or plane, in a
 * fixed order, in double, so results never depend on the thread count.
 */
#ifndef LOSSBAL_NN_LAYERS_H
#define LOSSBAL_NN_LAYERS_H

#include "lossbal/lossbal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- shapes ------------------------------------------------------------- */

/* The extents of an NCHW tensor. */
typedef struct lb_nchw {
  int64_t n, c, h, w;
} lb_nchw;

/* LB_EINVAL unless every extent is at least 1 and the tensor's size in bytes
 * fits both int64_t and size_t; `name` names the tensor in the message
 * ("lb_model_forward: input shape [2, 0, 4, 4] has c = 0"). */
lb_status lb_nchw_check(const char *who, const char *name, lb_nchw shape);

/* n * c * h * w, of a checked shape. */
int64_t lb_nchw_numel(lb_nchw shape);

/* Writes "[n, c, h, w]" into text, for messages; 96 bytes always suffice. */
void lb_nchw_format(lb_nchw shape, char *text, size_t capacity);

/* ---- BatchNorm2d -------------------------------------------------------- */

/* PyTorch's defaults, which torchvision's ResNets use. */
#define LB_BATCHNORM_EPS 1e-5
#define LB_BATCHNORM_MOMENTUM 0.1

/* One BatchNorm2d layer: its settings and its parameter arrays, all of
 * `channels` floats, and optionally room for per-image sums. */
typedef struct lb_batchnorm2d {
  int64_t channels;
  double eps;          /* added to the variance, > 0 */
  double momentum;     /* weight of the batch in the running stats, [0, 1] */
  const float *weight; /* gamma */
  const float *bias;   /* beta */
  float *running_mean; /* updated by training forwards, read in eval mode */
  float *running_var;
  /* NULL, or room for 2 * channels * (n + 1) doubles for a batch of n, used
   * during a call only (layers may share it if their calls never overlap:
   * the model's batch norms all do). With it, a call on several threads
   * splits the batch by images, so each thread works on the images a
   * convolution by ranges of images just wrote on it, instead of by
   * channels, which reads every image on every thread; the two give the
   * same bits (batchnorm.c). */
  double *image_sums;
} lb_batchnorm2d;

/* LB_EINVAL when a parameter array is NULL, eps or momentum is out of range,
 * shape.c differs from bn->channels, or training has one value per channel
 * (n * h * w == 1: its variance is 0, and PyTorch refuses it too). */
lb_status lb_batchnorm2d_check(const char *who, const lb_batchnorm2d *bn,
                               lb_nchw shape, bool training);

/* y = (x - mean) * invstd * gamma + beta per channel, where in training mode
 * mean and the biased variance are the batch's over (n, h, w), and the
 * running stats move by `momentum` towards the mean and the UNBIASED
 * variance (var * m / (m - 1), m = n * h * w); in eval mode mean and var are
 * the running stats, which are left as they are. invstd = 1 / sqrt(var +
 * eps). Either way save_mean and save_invstd ([channels] floats each)
 * receive the mean and invstd used, for the backward. y may be x. */
void lb_batchnorm2d_forward(const lb_batchnorm2d *bn, bool training,
                            lb_nchw shape, const float *x, float *y,
                            float *save_mean, float *save_invstd);

/* The gradients of the forward of the same mode, from its input x and its
 * save_mean / save_invstd: in training mode through the batch statistics,
 * in eval mode through the affine map alone. Writes grad_x (shape),
 * grad_weight and grad_bias ([channels] each). grad_x may be grad_y. */
void lb_batchnorm2d_backward(const lb_batchnorm2d *bn, bool training,
                             lb_nchw shape, const float *x, const float *grad_y,
                             const float *save_mean, const float *save_invstd,
                             float *grad_x, float *grad_weight,
                             float *grad_bias);

/* relu(batchnorm(x)) in one pass over the data: as lb_batchnorm2d_forward,
 * then y = max(y, 0). y may be x, but the backward needs x. */
void lb_batchnorm2d_relu_forward(const lb_batchnorm2d *bn, bool training,
                                 lb_nchw shape, const float *x, float *y,
                                 float *save_mean, float *save_invstd);

/* The backward of lb_batchnorm2d_relu_forward: y is its output, which gives
 * the ReLU's mask (grad_y stops where y <= 0, as in lb_relu_backward), so
 * nothing but x and y is kept. grad_x may be grad_y. */
void lb_batchnorm2d_relu_backward(const lb_batchnorm2d *bn, bool training,
                                  lb_nchw shape, const float *x, const float *y,
                                  const float *grad_y, const float *save_mean,
                                  const float *save_invstd, float *grad_x,
                                  float *grad_weight, float *grad_bias);

/* ---- ReLU --------------------------------------------------------------- */

/* y = max(x, 0) over `count` elements; NaN stays NaN. y may be x. */
void lb_relu_forward(int64_t count, const float *x, float *y);

/* grad_x = 0 where y <= 0, else grad_y, as PyTorch's threshold_backward:
 * y is the forward's output, or its input (both are positive at the same
 * places). grad_x may be grad_y. */
void lb_relu_backward(int64_t count, const float *y, const float *grad_y,
                      float *grad_x);

/* ---- MaxPool2d ---------------------------------------------------------- */

/* A square window of `kernel` elements moved by `stride`, over the input
 * padded by `padding` on each side with -inf (dilation 1, floor mode), as
 * torch.nn.MaxPool2d(kernel, stride, padding). ResNet's is {3, 2, 1}. */
typedef struct lb_maxpool2d {
  int32_t kernel, stride, padding;
} lb_maxpool2d;

/* LB_EINVAL unless kernel and stride are at least 1, 0 <= padding <=
 * kernel / 2 (PyTorch's limit, which also keeps every window on real
 * elements), the input is a valid shape whose padded planes hold a window,
 * and a plane's h * w fits the int32_t argmax. */
lb_status lb_maxpool2d_check(const char *who, const lb_maxpool2d *pool,
                             lb_nchw in);

/* The output shape of a checked input: (n, c, floor((h + 2p - k) / s) + 1,
 * floor((w + 2p - k) / s) + 1). */
lb_nchw lb_maxpool2d_output_shape(const lb_maxpool2d *pool, lb_nchw in);

/* y = the maximum of each window; argmax (one int32_t per element of y)
 * receives its index h * w_in + w within the input plane. On ties the first
 * maximum in row-major window order wins, as in PyTorch's CPU kernel; a NaN
 * is the maximum of its window. Padding never wins: windows are clipped to
 * the input. */
void lb_maxpool2d_forward(const lb_maxpool2d *pool, lb_nchw in, const float *x,
                          float *y, int32_t *argmax);

/* grad_x = 0, then each grad_y added at its argmax (overlapping windows add
 * up, in output order). */
void lb_maxpool2d_backward(const lb_maxpool2d *pool, lb_nchw in,
                           const int32_t *argmax, const float *grad_y,
                           float *grad_x);

/* ---- global average pool ------------------------------------------------ */

/* y[n * c_count + c] = the mean of plane (n, c): AdaptiveAvgPool2d(1)
 * followed by flatten, so y is [n, c]. */
void lb_global_avgpool_forward(lb_nchw in, const float *x, float *y);

/* grad_x of plane (n, c) = grad_y[n * c_count + c] / (h * w). */
void lb_global_avgpool_backward(lb_nchw in, const float *grad_y, float *grad_x);

/* ---- Linear ------------------------------------------------------------- */

/* y = x W^T + b, x [batch, in_features], y [batch, out_features], in
 * PyTorch's layout: weight [out_features, in_features], bias
 * [out_features]. */
typedef struct lb_linear {
  int64_t in_features, out_features;
  const float *weight;
  const float *bias;
} lb_linear;

/* LB_EINVAL when weight or bias is NULL, or batch, in_features or
 * out_features is below 1 or beyond INT32_MAX (OpenBLAS takes int extents),
 * or a matrix's size in bytes does not fit size_t. */
lb_status lb_linear_check(const char *who, const lb_linear *fc, int64_t batch);

/* y [batch, out_features] = x W^T + b; y must not overlap x. */
void lb_linear_forward(const lb_linear *fc, int64_t batch, const float *x,
                       float *y);

/* grad_x = grad_y W, grad_weight = grad_y^T x, grad_bias = the column sums
 * of grad_y. None of the outputs may overlap the inputs. */
void lb_linear_backward(const lb_linear *fc, int64_t batch, const float *x,
                        const float *grad_y, float *grad_x, float *grad_weight,
                        float *grad_bias);

/* ---- residual add ------------------------------------------------------- */

/* out = a + b over `count` elements; out may be a or b.
 *
 * The forward of a block's `main + shortcut`. Its backward is the identity
 * into both branches, so the model hands the same gradient buffer to both
 * and needs no kernel; where the branches meet again, at the block's input,
 * the two gradients are summed with this same function
 * (lb_residual_add(count, grad_main, grad_shortcut, grad_main)). */
void lb_residual_add(int64_t count, const float *a, const float *b, float *out);

/* out = relu(out + residual) on the calling thread, without the sum when
 * residual is NULL: the same bits as lb_residual_add(count, out, residual,
 * out) then lb_relu_forward(count, out, out), in one pass, for a
 * convolution's epilogue. */
void lb_add_relu_here(int64_t count, const float *residual, float *out);

#endif /* LOSSBAL_NN_LAYERS_H */
