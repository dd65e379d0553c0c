/*
 * liblossbal nn: torchvision-compatible ResNet models on the CPU, with
 * forward and backward passes and safetensors weight files.
 */
#ifndef LOSSBAL_NN_H
#define LOSSBAL_NN_H

#include "lossbal/lossbal.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @defgroup nn Models: torchvision ResNets
 *
 * An ::lb_model is a ResNet with torchvision's architecture (v1.5: a
 * Bottleneck's stride is on its 3x3 convolution), parameter names and
 * layouts (`conv1.weight`, `bn1.running_mean`, `layer1.0.conv1.weight`,
 * `layer2.0.downsample.0.weight`, `fc.weight` `[classes, features]`, ...), so
 * weights move between PyTorch and liblossbal as safetensors files.
 *
 * Batch norm uses momentum 0.1 and eps 1e-5. In training mode it normalises
 * with the batch statistics, moves the running statistics towards them (the
 * unbiased variance) and adds 1 to `num_batches_tracked`; in evaluation mode
 * it uses the running statistics.
 *
 * Memory: a forward pass allocates the activations, saved values and
 * workspaces for its (batch, height, width) the first time it meets a shape
 * that needs more memory than the model holds; forwards of the same or a
 * smaller shape never allocate.
 *
 * Thread safety: a model must not be used by two threads at once; distinct
 * models may. The kernels use the library's threads (lb_set_num_threads()).
 * @{ */

/** Opaque model handle. */
typedef struct lb_model lb_model;

/** The architecture of a ResNet, for lb_resnet_create(). A POD options
 *  struct: set struct_size to `sizeof(lb_resnet_config)`. */
typedef struct lb_resnet_config {
  size_t struct_size;       /**< `sizeof(lb_resnet_config)`; a smaller value is
                                 refused, a larger one's extra bytes are
                                 ignored. */
  int32_t depth;            /**< 18 or 34 (BasicBlock), 50, 101 or 152
                                 (Bottleneck, expansion 4). */
  int32_t num_classes;      /**< outputs of `fc`, 1 to 2^24. */
  int32_t in_channels;      /**< channels of the input images, 1 to 65536. */
  int32_t base_width;       /**< width of layer1 (the stages are base_width
                                 times 1, 2, 4, 8); 64 in torchvision; 1 to
                                 4096. */
  int32_t small_input_stem; /**< 1: `conv1` is 3x3 stride 1 padding 1 and
                                 there is no max pool (small images such as
                                 CIFAR or MNIST); 0: torchvision's ImageNet
                                 stem, 7x7 stride 2 padding 3 and a 3x3
                                 stride 2 padding 1 max pool. */
} lb_resnet_config;

/**
 * Creates a ResNet in training mode with a seeded, deterministic
 * initialisation: every convolution N(0, 2 / (out_channels * kh * kw))
 * (kaiming_normal, fan_out, ReLU), batch norm weight 1, bias 0, running mean
 * 0, running variance 1, `fc` weight and bias U(-1/sqrt(f), 1/sqrt(f)) with
 * f its input features. Equal seeds give equal models.
 *
 * @param cfg the architecture; see ::lb_resnet_config.
 * @param seed the seed of the initialisation.
 * @param out receives the model, to be released with lb_model_free().
 * @return ::LB_OK; ::LB_EINVAL when a pointer is NULL, cfg->struct_size is
 *         too small, or a field is out of range; ::LB_EUNSUPPORTED for a
 *         depth other than 18, 34, 50, 101 and 152; ::LB_ENOMEM.
 */
LB_API lb_status lb_resnet_create(const lb_resnet_config *cfg, uint64_t seed,
                                  lb_model **out);

/**
 * Switches between training mode (@p training nonzero; the mode of a new
 * model) and evaluation mode (0). A backward pass needs a forward in the
 * current mode after the switch.
 *
 * @return ::LB_OK, or ::LB_EINVAL when @p m is NULL.
 */
LB_API lb_status lb_model_set_training(lb_model *m, int training);

/**
 * Runs the model on a batch of images.
 *
 * The input is copied, so it may change after the call; the backward pass
 * uses the copy.
 *
 * @param m the model.
 * @param input `[batch][in_channels][height][width]` floats (NCHW).
 * @param batch number of images, >= 1.
 * @param height image height, >= 1.
 * @param width image width, >= 1.
 * @param logits receives `[batch][num_classes]` floats.
 * @return ::LB_OK; ::LB_EINVAL when a pointer is NULL, a size is below 1, the
 *         images are too small for the network (the message names the layer)
 *         or, in training mode, a batch norm would see one value per
 *         channel; ::LB_ENOMEM. On failure @p logits and the parameters are
 *         untouched, and a backward pass needs a new forward.
 */
LB_API lb_status lb_model_forward(lb_model *m, const float *input,
                                  int64_t batch, int32_t height, int32_t width,
                                  float *logits);

/**
 * Computes the gradient of a loss with respect to every parameter, from its
 * gradient with respect to the logits of the last forward pass. Parameter
 * gradients are overwritten, not accumulated. Running statistics are not
 * touched. May be repeated after one forward.
 *
 * @param m the model.
 * @param grad_logits `[batch][num_classes]` floats, d(loss)/d(logits), with
 *        the batch of the last forward.
 * @return ::LB_OK; ::LB_EINVAL when a pointer is NULL; ::LB_ESTATE when no
 *         successful forward in the current mode precedes it (none yet, the
 *         mode changed, the weights were loaded, or the last forward
 *         failed). Never allocates.
 */
LB_API lb_status lb_model_backward(lb_model *m, const float *grad_logits);

/**
 * Replaces all parameters and batch-norm buffers with those of a safetensors
 * file, by torchvision name.
 *
 * The file must hold exactly the model's tensors: F32 with the model's
 * shapes, and `*.num_batches_tracked` as I64 scalars (shape `[]`). Nothing
 * else is ignored: a missing or extra tensor, a wrong dtype or shape is an
 * error. Everything is checked before anything is copied.
 *
 * @param m the model.
 * @param path the file.
 * @return ::LB_OK; ::LB_EINVAL when a pointer is NULL; ::LB_EIO when the
 *         file cannot be read; ::LB_EFORMAT when it is malformed or does not
 *         match the model (the message names the tensor); ::LB_ENOMEM. On
 *         failure the model is unchanged. On success a backward pass needs
 *         a new forward.
 */
LB_API lb_status lb_model_load_safetensors(lb_model *m, const char *path);

/**
 * Writes all parameters and batch-norm buffers to a safetensors file under
 * their torchvision names (F32; `num_batches_tracked` I64 scalars), readable
 * by `safetensors.torch.load_file` and lb_model_load_safetensors(). The file
 * is replaced atomically (a temporary file renamed over @p path).
 *
 * @return ::LB_OK; ::LB_EINVAL when a pointer is NULL; ::LB_EIO; ::LB_ENOMEM.
 */
LB_API lb_status lb_model_save_safetensors(const lb_model *m, const char *path);

/** The number of classes (outputs) of a model; 0 when @p m is NULL. */
LB_API int32_t lb_model_num_classes(const lb_model *m);

/** The number of learnable parameters (weights and biases, not the
 *  batch-norm buffers) of a model; 0 when @p m is NULL. */
LB_API int64_t lb_model_parameter_count(const lb_model *m);

/** Releases a model; NULL is a no-op. */
LB_API void lb_model_free(lb_model *m);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* LOSSBAL_NN_H */
