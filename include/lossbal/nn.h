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
 * smaller shape never allocate, as long as lb_set_num_threads() is not
 * raised (each thread has its own convolution workspace).
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
 * Runs the model on a batch of images for predictions: the forward of
 * evaluation mode (batch norm with the running statistics) whatever the
 * mode set by lb_model_set_training(), faster than lb_model_forward()
 * because nothing is kept for a backward pass (the input is not copied)
 * and each batch norm is folded into the convolution before it (its scale
 * into the filters, its shift into a bias, as PyTorch's
 * `fuse_conv_bn_eval`): no batch-norm pass over the activations, only a
 * ReLU pass where one follows. The logits equal those of an evaluation-mode
 * lb_model_forward() to rounding (the folded products round differently,
 * and by ranges, below, the Winograd layers on images whose sides are at
 * most 28 pixels and 3 or 0 modulo 4 (4, 7, 8, ..., 27, 28) use F(4x4,
 * 3x3), whose rounding is coarser:
 * the tests hold it within 1e-5 of the largest logit). Running statistics are untouched and the input is
 * only read.
 *
 * With several library threads (up to 8 are used this way) and a batch
 * that spreads evenly over them, each thread takes a range of the images
 * through the whole network (with one thread, the whole batch is its
 * range), so the threads meet at most twice per call
 * (once the weights are prepared, and at the end) instead of at every
 * layer; except that the last layers of a wide network, convolutions on
 * images so small that a range's images make narrow products, and whose
 * transformed filters take 4 MB or more (width-64 ResNet-18's on 7x7 and
 * 4x4 images), run on the whole batch, each split by channels over the
 * threads. That needs the folded (and for Winograd layers transformed)
 * weights of every layer at once and a workspace per thread: a block of
 * memory the first such call allocates and the model keeps until a larger
 * shape or thread count needs more or the model is freed. The prepared
 * weights are kept from one call to the next, and prepared again only
 * after the weights or batch norm values change (lb_optimizer_step(), a
 * training-mode lb_model_forward(), a load) or a new image size calls for
 * another algorithm. (The block holds the 3x3 filters' Winograd
 * transforms, 16 floats for each 9, or 36 on those images, plus a
 * workspace per thread: for ResNet-18 on 1x28x28, batch 64, two threads,
 * 179 MB at width 64, whose weights take 45 MB, and 15 MB at width 16,
 * 2.8 MB.) If it cannot be allocated, the call goes layer by layer, each
 * layer on all the threads, which needs no memory beyond that of a forward
 * of the same shape, and still succeeds; so does a batch that does not
 * spread evenly over the threads (3 images on 2 threads). A given thread count and batch give the same bits every time
 * (unless such an allocation fails: layer by layer rounds differently).
 *
 * @param m the model.
 * @param input `[batch][in_channels][height][width]` floats (NCHW).
 * @param batch number of images, >= 1.
 * @param height image height, >= 1.
 * @param width image width, >= 1.
 * @param logits receives `[batch][num_classes]` floats.
 * @return ::LB_OK; ::LB_EINVAL when a pointer is NULL, a size is below 1 or
 *         the images are too small for the network; ::LB_ENOMEM. Either
 *         way a backward pass needs a new lb_model_forward().
 */
LB_API lb_status lb_model_predict(lb_model *m, const float *input,
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
 *         mode changed, the weights were loaded, lb_model_predict() ran
 *         since, or the last forward failed). Never allocates.
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

/** Kinds of layer a model's time is counted under by
 *  lb_model_get_profile(). Values are stable; new kinds get new numbers
 *  at the end (lb_layer_kind_name() returns NULL past the last one). */
typedef enum lb_layer_kind {
  LB_LAYER_CONV3X3 = 0,    /**< convolutions with a 3x3 kernel, any stride
                                (the stem of small-input models too) */
  LB_LAYER_CONV1X1 = 1,    /**< 1x1 convolutions (Bottleneck, downsample) */
  LB_LAYER_CONV_OTHER = 2, /**< other kernels: the 7x7 ImageNet stem */
  LB_LAYER_BATCHNORM = 3,  /**< batch norm, with the ReLU fused into it
                                where one follows (lb_model_predict()
                                folds batch norm into the convolutions:
                                layer by layer its time counts under their
                                kinds, by ranges of images under none) */
  LB_LAYER_RELU = 4,       /**< the ReLU after each block's residual sum;
                                in lb_model_predict() layer by layer also
                                those after folded convolutions; by
                                ranges of images, ReLUs and residual sums
                                run in the convolutions' epilogue and
                                count under their kinds */
  LB_LAYER_RESIDUAL = 5,   /**< the residual sums */
  LB_LAYER_POOLING = 6,    /**< max pool and global average pool */
  LB_LAYER_LINEAR = 7,     /**< the final fully connected layer */
  LB_LAYER_INPUT = 8       /**< copying the input batch into the model */
} lb_layer_kind;

/** The time a model spent in one kind of layer since profiling was turned
 *  on (lb_model_get_profile()). A POD output struct: set struct_size to
 *  `sizeof(lb_layer_profile)`. */
typedef struct lb_layer_profile {
  size_t struct_size;      /**< `sizeof(lb_layer_profile)`, set by the
                                caller; a smaller value is refused. */
  double forward_seconds;  /**< wall time in forward passes */
  double backward_seconds; /**< wall time in backward passes */
  int64_t forward_calls;   /**< layer calls in forward passes */
  int64_t backward_calls;  /**< layer calls in backward passes */
  double forward_flops;    /**< nominal floating-point operations of the
                                forward calls: 2 per multiply-add of a
                                direct convolution or matrix product, 0 for
                                the other kinds. A fast algorithm (Winograd)
                                does fewer; dividing this by the time gives
                                the effective rate. */
  double backward_flops;   /**< the same for the backward calls (input and
                                weight gradients) */
} lb_layer_profile;

/**
 * Turns per-layer-kind timing of a model's forward and backward passes on
 * (@p enabled nonzero) or off. Turning it on clears the counters. Timing
 * reads a monotonic clock around every layer call, which costs well under
 * a microsecond each; while off the model reads no clock. When
 * lb_model_predict() runs by ranges of images, the first range's thread
 * times its layers (the ranges run side by side, so those are the call's
 * times) and the flops are the whole batch's; the folding of the weights
 * before the ranges is in no kind.
 *
 * @return ::LB_OK, or ::LB_EINVAL when @p m is NULL.
 */
LB_API lb_status lb_model_set_profiling(lb_model *m, int enabled);

/**
 * Reads the counters of one kind of layer (see lb_model_set_profiling()).
 * All zero when profiling was never turned on; turning it off keeps them.
 *
 * @param m the model.
 * @param kind an ::lb_layer_kind value.
 * @param out receives the counters; out->struct_size must be set.
 * @return ::LB_OK; ::LB_EINVAL when a pointer is NULL, out->struct_size is
 *         too small or @p kind is not a kind this library knows.
 */
LB_API lb_status lb_model_get_profile(const lb_model *m, int32_t kind,
                                      lb_layer_profile *out);

/** A short lowercase name of a layer kind ("conv3x3", "batchnorm", ...),
 *  or NULL for a value that is not a kind: loop from 0 until NULL to visit
 *  every kind this library version knows. */
LB_API const char *lb_layer_kind_name(int32_t kind);

/** @} */

/** @defgroup optim Training: SGD, learning-rate schedules, checkpoints
 *
 * An ::lb_optimizer is torch.optim.SGD (PyTorch 1.13) over every learnable
 * parameter of one ::lb_model. For each parameter p with gradient g of the
 * model's last backward pass, in float32 as PyTorch does:
 *
 *     d = g + weight_decay * p        (when weight_decay != 0 and decay
 *                                      applies to p)
 *     if momentum != 0:
 *         buf = d                                      on its first step,
 *         buf = momentum * buf + (1 - dampening) * d   afterwards
 *         d   = nesterov ? d + momentum * buf : buf
 *     p  -= learning_rate * d
 *
 * Thread safety: an optimizer is used with its model, by one thread at a
 * time.
 * @{ */

/** Opaque SGD optimizer handle. */
typedef struct lb_optimizer lb_optimizer;

/** The settings of an SGD optimizer, for lb_optimizer_set_param(). */
typedef enum lb_sgd_param {
  LB_SGD_LEARNING_RATE = 0,      /**< > 0, default 0.1. */
  LB_SGD_MOMENTUM = 1,           /**< [0, 1), default 0 (PyTorch's default). */
  LB_SGD_DAMPENING = 2,          /**< [0, 1], default 0. */
  LB_SGD_WEIGHT_DECAY = 3,       /**< >= 0, default 0. */
  LB_SGD_NESTEROV = 4,           /**< 0 or 1, default 0; needs momentum > 0
                                      and dampening 0. */
  LB_SGD_DECAY_NORM_AND_BIAS = 5 /**< 0 or 1, default 1 (PyTorch applies
                                      decay to every parameter); 0: no weight
                                      decay on batch-norm weights and biases
                                      and on any bias (every parameter of
                                      fewer than 2 dimensions or named
                                      `*.bias`). */
} lb_sgd_param;

/**
 * Creates an SGD optimizer for the learnable parameters of a model, with
 * the default settings of ::lb_sgd_param. The optimizer keeps a pointer to
 * @p m, which must outlive it. The momentum buffers are allocated here, so
 * lb_optimizer_step() never allocates.
 *
 * @param m the model whose parameters it updates.
 * @param out receives the optimizer, to be released with lb_optimizer_free().
 * @return ::LB_OK; ::LB_EINVAL when a pointer is NULL; ::LB_ENOMEM.
 */
LB_API lb_status lb_sgd_create(lb_model *m, lb_optimizer **out);

/**
 * Changes one setting of an optimizer; it applies from the next step.
 *
 * @param o the optimizer.
 * @param p the setting.
 * @param value its new value, in the range given by ::lb_sgd_param.
 * @return ::LB_OK; ::LB_EINVAL when @p o is NULL, @p p is not a setting,
 *         @p value is out of range or not finite, or the change would leave
 *         Nesterov momentum on with momentum 0 or dampening other than 0
 *         (the message says which). On failure the settings are unchanged.
 */
LB_API lb_status lb_optimizer_set_param(lb_optimizer *o, lb_sgd_param p,
                                        double value);

/**
 * Reads one setting of an optimizer.
 *
 * @param o the optimizer.
 * @param p the setting.
 * @param value receives its value (0 or 1 for the flags).
 * @return ::LB_OK; ::LB_EINVAL when a pointer is NULL or @p p is not a
 *         setting.
 */
LB_API lb_status lb_optimizer_get_param(const lb_optimizer *o, lb_sgd_param p,
                                        double *value);

/**
 * Updates the model's parameters with the gradients of its last backward
 * pass (see the group's description). Never allocates.
 *
 * @param o the optimizer.
 * @return ::LB_OK; ::LB_EINVAL when @p o is NULL; ::LB_ESTATE when no
 *         successful lb_model_backward() of its model has run since the
 *         optimizer was created, loaded from a checkpoint, or last stepped.
 */
LB_API lb_status lb_optimizer_step(lb_optimizer *o);

/** Releases an optimizer (not its model); NULL is a no-op. */
LB_API void lb_optimizer_free(lb_optimizer *o);

/** Kinds of learning-rate schedule, for ::lb_lr_schedule. */
typedef enum lb_lr_schedule_kind {
  LB_LR_CONSTANT = 0,  /**< base_lr. */
  LB_LR_STEP = 1,      /**< base_lr * gamma^floor(step / step_size)
                            (PyTorch's StepLR). */
  LB_LR_MULTISTEP = 2, /**< base_lr * gamma^(number of milestones <= step)
                            (MultiStepLR). */
  LB_LR_COSINE = 3     /**< min_lr + (base_lr - min_lr) *
                            (1 + cos(pi * step / total_steps)) / 2
                            (CosineAnnealingLR's closed form, periodic past
                            total_steps as PyTorch's). */
} lb_lr_schedule_kind;

/** A learning-rate schedule, for lb_lr_at(). A POD options struct: set
 *  struct_size to `sizeof(lb_lr_schedule)`; fields another kind uses are
 *  ignored. */
typedef struct lb_lr_schedule {
  size_t struct_size;          /**< `sizeof(lb_lr_schedule)`; a smaller value
                                    is refused. */
  int32_t kind;                /**< an ::lb_lr_schedule_kind. */
  double base_lr;              /**< > 0. */
  int64_t step_size;           /**< STEP: decay every step_size steps, >= 1. */
  double gamma;                /**< STEP, MULTISTEP: the factor, > 0. */
  int64_t milestones[16];      /**< MULTISTEP: strictly increasing steps,
                                    >= 0. */
  int32_t milestone_count;     /**< MULTISTEP: 0 to 16. */
  int64_t total_steps;         /**< COSINE: T_max, >= 1. */
  double min_lr;               /**< COSINE: eta_min, >= 0. */
  int64_t warmup_steps;        /**< linear warm-up for any kind, >= 0; 0 =
                                    none. */
  double warmup_start_factor;  /**< with warm-up, in (0, 1]: the learning
                                    rate at step 0 is the schedule's times
                                    this factor, which rises linearly to 1
                                    at warmup_steps (PyTorch's LinearLR,
                                    multiplying the schedule). */
} lb_lr_schedule;

/**
 * Checks a learning-rate schedule.
 *
 * @return ::LB_OK; ::LB_EINVAL naming the first bad field (a NULL @p s, a
 *         too small struct_size, an unknown kind, a field of the kind out of
 *         range or not finite).
 */
LB_API lb_status lb_lr_schedule_validate(const lb_lr_schedule *s);

/**
 * The learning rate of a schedule at a step (0 for the first), in closed
 * form: the kind's rate (see ::lb_lr_schedule_kind) times, during warm-up,
 * warmup_start_factor + (1 - warmup_start_factor) * step / warmup_steps.
 * Equals, up to rounding, what PyTorch's schedulers give after @p step calls
 * of `scheduler.step()` (with ChainedScheduler and LinearLR for warm-up).
 *
 * @param s the schedule, checked as by lb_lr_schedule_validate().
 * @param step the step, >= 0.
 * @param lr receives the learning rate.
 * @return ::LB_OK; ::LB_EINVAL when a pointer is NULL, @p step < 0 or the
 *         schedule is invalid.
 */
LB_API lb_status lb_lr_at(const lb_lr_schedule *s, int64_t step, double *lr);

/**
 * Writes a training checkpoint: one safetensors file, replaced atomically
 * (a crash while saving leaves a previous file at @p path intact), holding
 * the model's tensors under their torchvision names (as
 * lb_model_save_safetensors()), the optimizer's momentum buffers, if it has
 * any yet, as `optimizer.momentum.<parameter name>`, and in the metadata
 * the optimizer's settings and @p epoch, @p step and @p rng_state as
 * decimal strings.
 *
 * @param path the file.
 * @param m the model.
 * @param o its optimizer, or NULL to save no optimizer state.
 * @param epoch, step the training position to record, >= 0.
 * @param rng_state a random-generator state to record.
 * @return ::LB_OK; ::LB_EINVAL when @p path or @p m is NULL, @p o is not
 *         @p m's optimizer, or @p epoch or @p step is negative; ::LB_EIO;
 *         ::LB_ENOMEM.
 */
LB_API lb_status lb_checkpoint_save(const char *path, const lb_model *m,
                                    const lb_optimizer *o, int64_t epoch,
                                    int64_t step, uint64_t rng_state);

/**
 * Restores a checkpoint of lb_checkpoint_save() into a model and, unless
 * @p o is NULL, its optimizer (settings and momentum buffers). Everything
 * is checked before anything changes: on failure the model, the optimizer
 * and the outputs are unchanged. With @p o NULL the file's optimizer state
 * is ignored. After a load, a step needs a new backward pass.
 *
 * @param path the file.
 * @param m the model, of the architecture saved.
 * @param o its optimizer, or NULL.
 * @param epoch, step, rng_state receive the recorded values; each may be
 *        NULL.
 * @return ::LB_OK; ::LB_EINVAL when @p path or @p m is NULL or @p o is not
 *         @p m's optimizer; ::LB_EIO when the file cannot be read;
 *         ::LB_EFORMAT when it is malformed, does not match the model, or
 *         has no optimizer state while @p o is given (the message names the
 *         tensor or metadata entry); ::LB_ENOMEM.
 */
LB_API lb_status lb_checkpoint_load(const char *path, lb_model *m,
                                    lb_optimizer *o, int64_t *epoch,
                                    int64_t *step, uint64_t *rng_state);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* LOSSBAL_NN_H */
