/* Tensor life cycle, shape checks and accessors. */
#include "tensor_internal.h"

#include "../core/core_internal.h"

#include <stdio.h>
#include <string.h>

lb_status lb_shape_validate(const char *caller, int32_t ndim,
                            const int64_t *shape, int64_t *numel) {
  if (!shape) return lb_fail(LB_EINVAL, "%s: shape is NULL", caller);
  if (ndim < 1 || ndim > LB_TENSOR_MAX_DIMS)
    return lb_fail(LB_EINVAL, "%s: ndim = %d is outside [1, %d]", caller,
                   (int)ndim, LB_TENSOR_MAX_DIMS);
  int64_t count = 1;
  for (int32_t axis = 0; axis < ndim; axis++) {
    if (shape[axis] < 1)
      return lb_fail(LB_EINVAL, "%s: shape[%d] = %lld must be at least 1",
                     caller, (int)axis, (long long)shape[axis]);
    if (!lb_mul_i64(count, shape[axis], &count))
      return lb_fail(LB_EINVAL,
                     "%s: shape overflows: the element count exceeds INT64_MAX "
                     "at shape[%d] = %lld",
                     caller, (int)axis, (long long)shape[axis]);
  }
  size_t bytes;
  if ((uint64_t)count > SIZE_MAX ||
      !lb_mul_size((size_t)count, sizeof(float), &bytes) ||
      bytes > (size_t)PTRDIFF_MAX)
    return lb_fail(LB_EINVAL,
                   "%s: shape overflows: %lld elements of 4 bytes do not fit "
                   "in the address space",
                   caller, (long long)count);
  *numel = count;
  return LB_OK;
}

bool lb_tensor_same_shape(const lb_tensor *a, const lb_tensor *b) {
  if (a->ndim != b->ndim) return false;
  for (int32_t axis = 0; axis < a->ndim; axis++)
    if (a->shape[axis] != b->shape[axis]) return false;
  return true;
}

void lb_shape_format(const lb_tensor *t, char *buffer, size_t capacity) {
  size_t used = 0;
  buffer[0] = '\0';
  for (int32_t axis = 0; axis < t->ndim && used < capacity; axis++) {
    int written = snprintf(buffer + used, capacity - used, "%s%lld",
                           axis ? ", " : "[", (long long)t->shape[axis]);
    if (written < 0) return;
    used += (size_t)written;
  }
  if (used < capacity) snprintf(buffer + used, capacity - used, "]");
}

/* Makes a handle over `storage` (taking one reference on success). */
static lb_tensor *tensor_new_handle(lb_storage *storage, int32_t ndim,
                                    const int64_t *shape, int64_t numel) {
  lb_tensor *tensor = lb_alloc_zeroed(sizeof *tensor);
  if (!tensor) return NULL;
  tensor->storage = storage;
  tensor->ndim = ndim;
  memcpy(tensor->shape, shape, (size_t)ndim * sizeof *shape);
  tensor->numel = numel;
  atomic_fetch_add(&storage->references, 1);
  return tensor;
}

static lb_storage *storage_new(float *data, bool owns_data) {
  lb_storage *storage = lb_alloc(sizeof *storage);
  if (!storage) return NULL;
  storage->data = data;
  atomic_init(&storage->references, 0);
  storage->owns_data = owns_data;
  return storage;
}

static void storage_release(lb_storage *storage) {
  if (atomic_fetch_sub(&storage->references, 1) != 1) return;
  if (storage->owns_data) lb_free_aligned(storage->data);
  lb_free(storage);
}

/* Creates a tensor over `data` after the shape was validated. On failure an
 * owned `data` is freed, a wrapped one is not. */
static lb_status tensor_over_data(float *data, bool owns_data, int32_t ndim,
                                  const int64_t *shape, int64_t numel,
                                  lb_tensor **out) {
  lb_storage *storage = storage_new(data, owns_data);
  lb_tensor *tensor = storage ? tensor_new_handle(storage, ndim, shape, numel)
                              : NULL;
  if (!tensor) {
    lb_free(storage);
    if (owns_data) lb_free_aligned(data);
    return LB_ENOMEM;
  }
  *out = tensor;
  return LB_OK;
}

/* The common path of create, zeros and from_copy: allocate owned storage and
 * let `initial` (NULL: leave unspecified, else copy) fill it. */
static lb_status tensor_allocate(const char *caller, int32_t ndim,
                                 const int64_t *shape, bool zero,
                                 const float *initial, lb_tensor **out) {
  int64_t numel;
  lb_status status = lb_shape_validate(caller, ndim, shape, &numel);
  if (status != LB_OK) return status;
  size_t bytes = (size_t)numel * sizeof(float);
  float *data = lb_alloc_aligned(bytes);
  if (!data) return LB_ENOMEM;
  if (initial)
    memcpy(data, initial, bytes);
  else if (zero)
    memset(data, 0, bytes);
  return tensor_over_data(data, true, ndim, shape, numel, out);
}

lb_status lb_tensor_create(int32_t ndim, const int64_t *shape,
                           lb_tensor **out) {
  if (!out) return lb_fail(LB_EINVAL, "lb_tensor_create: out is NULL");
  return tensor_allocate("lb_tensor_create", ndim, shape, false, NULL, out);
}

lb_status lb_tensor_zeros(int32_t ndim, const int64_t *shape,
                          lb_tensor **out) {
  if (!out) return lb_fail(LB_EINVAL, "lb_tensor_zeros: out is NULL");
  return tensor_allocate("lb_tensor_zeros", ndim, shape, true, NULL, out);
}

lb_status lb_tensor_from_copy(int32_t ndim, const int64_t *shape,
                              const float *data, lb_tensor **out) {
  if (!out) return lb_fail(LB_EINVAL, "lb_tensor_from_copy: out is NULL");
  if (!data) return lb_fail(LB_EINVAL, "lb_tensor_from_copy: data is NULL");
  return tensor_allocate("lb_tensor_from_copy", ndim, shape, false, data, out);
}

lb_status lb_tensor_wrap(int32_t ndim, const int64_t *shape, float *data,
                         lb_tensor **out) {
  if (!out) return lb_fail(LB_EINVAL, "lb_tensor_wrap: out is NULL");
  if (!data) return lb_fail(LB_EINVAL, "lb_tensor_wrap: data is NULL");
  if ((uintptr_t)data % _Alignof(float) != 0)
    return lb_fail(LB_EINVAL, "lb_tensor_wrap: data %p is not aligned for float",
                   (void *)data);
  int64_t numel;
  lb_status status = lb_shape_validate("lb_tensor_wrap", ndim, shape, &numel);
  if (status != LB_OK) return status;
  return tensor_over_data(data, false, ndim, shape, numel, out);
}

lb_status lb_tensor_clone(const lb_tensor *src, lb_tensor **out) {
  if (!src) return lb_fail(LB_EINVAL, "lb_tensor_clone: src is NULL");
  if (!out) return lb_fail(LB_EINVAL, "lb_tensor_clone: out is NULL");
  return tensor_allocate("lb_tensor_clone", src->ndim, src->shape, false,
                         src->storage->data, out);
}

lb_status lb_tensor_reshape(const lb_tensor *src, int32_t ndim,
                            const int64_t *shape, lb_tensor **out) {
  if (!src) return lb_fail(LB_EINVAL, "lb_tensor_reshape: src is NULL");
  if (!out) return lb_fail(LB_EINVAL, "lb_tensor_reshape: out is NULL");
  int64_t numel;
  lb_status status = lb_shape_validate("lb_tensor_reshape", ndim, shape, &numel);
  if (status != LB_OK) return status;
  if (numel != src->numel) {
    char from[96];
    lb_shape_format(src, from, sizeof from);
    return lb_fail(LB_EINVAL,
                   "lb_tensor_reshape: the new shape has %lld elements, the "
                   "tensor %s has %lld",
                   (long long)numel, from, (long long)src->numel);
  }
  lb_tensor *view = tensor_new_handle(src->storage, ndim, shape, numel);
  if (!view) return LB_ENOMEM;
  *out = view;
  return LB_OK;
}

void lb_tensor_free(lb_tensor *tensor) {
  if (!tensor) return;
  storage_release(tensor->storage);
  lb_free(tensor);
}

int32_t lb_tensor_ndim(const lb_tensor *tensor) {
  return tensor ? tensor->ndim : 0;
}

int64_t lb_tensor_dim(const lb_tensor *tensor, int32_t axis) {
  if (!tensor) {
    lb_fail(LB_EINVAL, "lb_tensor_dim: tensor is NULL");
    return -1;
  }
  int32_t resolved = axis < 0 ? axis + tensor->ndim : axis;
  if (resolved < 0 || resolved >= tensor->ndim) {
    lb_fail(LB_EINVAL, "lb_tensor_dim: axis %d is outside [%d, %d)", (int)axis,
            (int)-tensor->ndim, (int)tensor->ndim);
    return -1;
  }
  return tensor->shape[resolved];
}

lb_status lb_tensor_shape(const lb_tensor *tensor, int64_t *shape,
                          int32_t capacity) {
  if (!tensor) return lb_fail(LB_EINVAL, "lb_tensor_shape: tensor is NULL");
  if (!shape) return lb_fail(LB_EINVAL, "lb_tensor_shape: shape is NULL");
  if (capacity < tensor->ndim)
    return lb_fail(LB_EINVAL,
                   "lb_tensor_shape: capacity %d is less than ndim %d",
                   (int)capacity, (int)tensor->ndim);
  memcpy(shape, tensor->shape, (size_t)tensor->ndim * sizeof *shape);
  return LB_OK;
}

int64_t lb_tensor_numel(const lb_tensor *tensor) {
  return tensor ? tensor->numel : 0;
}

float *lb_tensor_data(lb_tensor *tensor) {
  return tensor ? tensor->storage->data : NULL;
}

const float *lb_tensor_data_const(const lb_tensor *tensor) {
  return tensor ? tensor->storage->data : NULL;
}
