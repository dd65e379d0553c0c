/*
 * The inside of lb_optimizer (sgd.c), shared with the checkpoint code
 * (checkpoint.c). Internal; never installed.
 *
 * The optimizer walks the model's state-dict table: every entry with a
 * gradient is a parameter. Its momentum buffers live in one aligned block,
 * in table order, allocated at creation.
 */
#ifndef LOSSBAL_NN_OPTIM_INTERNAL_H
#define LOSSBAL_NN_OPTIM_INTERNAL_H

#include "lossbal/nn.h"
#include "model_internal.h"

#include <stdbool.h>
#include <stdint.h>

/* The settings, as doubles and flags. */
typedef struct lb_sgd_settings {
  double learning_rate, momentum, dampening, weight_decay;
  bool nesterov, decay_norm_and_bias;
} lb_sgd_settings;

struct lb_optimizer {
  lb_model *model;
  lb_sgd_settings settings;
  int32_t param_count;    /* entries of the model's table with a gradient */
  int32_t *param_index;   /* their indices in the table */
  float **buffer;         /* each one's momentum buffer, in `buffers` */
  float *buffers;         /* one block of parameter_count floats */
  bool has_buffers;       /* a step with momentum has run (PyTorch's
                             momentum_buffer is not None) */
  uint64_t seen_backward; /* the model's backward_count at the last step */
};

/* Whether weight decay is excluded from the parameter when the
 * decay_norm_and_bias setting is 0: batch-norm weights and biases and
 * every bias (fewer than 2 dimensions, or named "*.bias"). */
bool lb_sgd_is_norm_or_bias(const lb_model_tensor *t);

/* Checks a complete set of settings (ranges and the Nesterov rule);
 * `code` (LB_EINVAL or LB_EFORMAT) with a message starting with `who`
 * otherwise. */
lb_status lb_sgd_check_settings(const lb_sgd_settings *s, lb_status code,
                                const char *who);

#endif /* LOSSBAL_NN_OPTIM_INTERNAL_H */
