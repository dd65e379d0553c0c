/* The tensor's layout, for the library's own modules. Never installed. */
#ifndef LOSSBAL_TENSOR_INTERNAL_H
#define LOSSBAL_TENSOR_INTERNAL_H

#include "lossbal/tensor.h"

#include <stdatomic.h>
#include <stdbool.h>

/* Element storage shared by a tensor and its views. */
typedef struct lb_storage {
  float *data;
  atomic_int_fast64_t references; /* handles using this storage */
  bool owns_data;                 /* false for lb_tensor_wrap() buffers */
} lb_storage;

struct lb_tensor {
  lb_storage *storage;
  int32_t ndim;
  int64_t shape[LB_TENSOR_MAX_DIMS];
  int64_t numel;
};

/* Checks ndim and shape for a public entry point named `caller` and computes
 * the element count; records a message naming the bad extent on failure. */
lb_status lb_shape_validate(const char *caller, int32_t ndim,
                            const int64_t *shape, int64_t *numel);

/* True when both tensors have the same ndim and extents. */
bool lb_tensor_same_shape(const lb_tensor *a, const lb_tensor *b);

/* Formats a shape as "[2, 3, 4]" into buffer (always terminated). */
void lb_shape_format(const lb_tensor *t, char *buffer, size_t capacity);

#endif /* LOSSBAL_TENSOR_INTERNAL_H */
