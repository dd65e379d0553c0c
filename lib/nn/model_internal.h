/*
 * The inside of lb_model: the ResNet graph (built and initialised by
 * resnet.c), its forward/backward orchestration (model.c) and its
 * safetensors input/output (model_io.c). Internal; never installed.
 *
 * Storage:
 *  - parameters and batch-norm running statistics live in one aligned block
 *    (`values`), their gradients in another (`grads`), the per-BN saved
 *    mean/invstd of the last forward in a third (`saved`); all are sized at
 *    creation;
 *  - every tensor of the state dict has an entry in `tensors`, in
 *    torchvision's state_dict order, which the I/O code walks;
 *  - activations, gradient scratch and the convolution workspace are carved
 *    out of one arena sized for the largest (batch, h, w) seen so far.
 */
#ifndef LOSSBAL_NN_MODEL_INTERNAL_H
#define LOSSBAL_NN_MODEL_INTERNAL_H

#include "conv2d.h"
#include "layers.h"
#include "profile.h"
#include "lossbal/nn.h"
#include "safetensors.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LB_MODEL_NAME_MAX 64

/* One state-dict entry: a float tensor (data, and grad for a learnable
 * parameter, NULL for a running statistic) or a num_batches_tracked
 * counter (count; data and grad NULL, ndim 0). */
typedef struct lb_model_tensor {
  char name[LB_MODEL_NAME_MAX];
  int32_t ndim;
  int64_t shape[4];
  int64_t numel;
  float *data;
  float *grad;
  int64_t *count;
} lb_model_tensor;

/* A bias-free convolution, and its output buffer for the current shape. */
typedef struct lb_model_conv {
  int64_t in_channels, out_channels, kernel, stride, pad;
  float *weight, *grad_weight;
  lb_conv2d_geometry geometry; /* of the current shape */
  float *out;                  /* [batch, out, out_h, out_w], pre-BN */
  /* lb_model_predict() by ranges of images: the weights with the batch
   * norm after the convolution folded in, prepared for the algorithm
   * (lb_conv2d_prepare()), the folded bias and the scale [out] of each
   * output channel; in the model's `prepared` block. */
  float *prepared, *prepared_bias, *prepared_scale;
  lb_conv2d_algorithm algorithm; /* of this call's preparing and ranges */
  lb_conv2d_algorithm prepared_algorithm; /* that `prepared` holds */
} lb_model_conv;

/* A BatchNorm2d, its gradients, saved statistics and (where kept) output. */
typedef struct lb_model_bn {
  lb_batchnorm2d bn; /* running_mean/var point into the values block */
  float *grad_weight, *grad_bias;
  float *save_mean, *save_invstd;
  int64_t num_batches_tracked;
  lb_nchw shape; /* of the current forward */
  float *out;    /* BN(+ReLU) output where it is kept separately */
} lb_model_bn;

/* A BasicBlock (2 convs) or a Bottleneck (3). */
typedef struct lb_model_block {
  char name[16]; /* "layer2.0" */
  int32_t convs;
  lb_model_conv conv[3];
  lb_model_bn bn[3];
  bool has_downsample;
  lb_model_conv down;
  lb_model_bn down_bn;
  lb_nchw in_shape, out_shape;
  const float *in; /* the previous stage's output */
  float *out;      /* relu(bn(conv_last) + shortcut) */
} lb_model_block;

struct lb_model {
  lb_resnet_config config;
  int64_t features; /* fc input features */

  lb_model_conv conv1;
  lb_model_bn bn1;
  bool has_maxpool;
  lb_maxpool2d maxpool;
  lb_nchw pool_shape;
  float *pool_out;
  int32_t *argmax;

  int32_t block_count;
  lb_model_block *blocks;

  float *fc_weight, *fc_bias, *fc_grad_weight, *fc_grad_bias;

  int32_t tensor_count;
  lb_model_tensor *tensors;
  int64_t parameter_count;
  float *values, *grads, *saved;

  /* Per shape: the arena and what is carved out of it. */
  void *arena;
  size_t arena_bytes;
  float *input_copy;
  float *pooled, *grad_pooled;
  float *scratch[4]; /* gradient buffers of the largest activation */
  float *workspace;
  float *folded_weight, *folded_bias; /* a convolution with its batch norm
                                         folded in (lb_model_predict) */

  /* Every convolution's prepared weights, for lb_model_predict() by ranges
   * of images; allocated by the first such call, grown when a shape needs
   * more (never for training alone). */
  float *prepared;
  size_t prepared_bytes;
  float *range_workspace;         /* in `prepared`: one workspace per range,
                                     or the late layers' split by channels
                                     (model.c) */
  int64_t range_workspace_floats; /* each */
  int32_t late_block; /* the last lb_model_predict(): the first block it
                         ran on the whole batch after the ranges
                         (block_count: none; model.c) */
  /* The prepared weights are kept from one call to the next while they
   * hold: parameters_version counts the changes of the weights and batch
   * norm values (lb_model_parameters_changed()), prepared_version is the
   * count they were prepared at (0: never, or the block moved). */
  uint64_t parameters_version, prepared_version;

  bool training;
  bool forward_valid;    /* a backward may follow */
  bool forward_training; /* the mode of that forward */
  uint64_t backward_count; /* successful backwards so far (for lb_optimizer) */
  int64_t batch;
  int32_t height, width;

  lb_profile profile; /* per-layer-kind timing, when switched on */
};

/* The entry named `name`, or NULL. */
const lb_model_tensor *lb_model_find_tensor(const lb_model *m,
                                            const char *name);

/* Describes every tensor of the model's state dict for the safetensors
 * writer, in table order, into list[0 .. tensor_count): F32 for weights and
 * statistics, an I64 scalar for num_batches_tracked. The entries point into
 * the model. */
void lb_model_describe_tensors(const lb_model *m, lb_st_tensor *list);

/* Loads the model's tensors from a parsed file, as
 * lb_model_load_safetensors() does; with ignore_extra, tensors of the file
 * that are not the model's are skipped instead of refused (for fixture
 * files that hold other data too). `who` starts the messages. */
lb_status lb_model_load_st(lb_model *m, const lb_st_file *file,
                           bool ignore_extra, const char *who);

/* To be called by whatever writes the model's weights or batch norm values
 * (an optimizer step, a training-mode forward's running statistics, a
 * load): lb_model_predict() prepares its weights again on its next call. */
void lb_model_parameters_changed(lb_model *m);

#endif /* LOSSBAL_NN_MODEL_INTERNAL_H */
