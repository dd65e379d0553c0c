/*
 * liblossbal tensors: float32 arrays of up to four dimensions (NCHW).
 */
#ifndef LOSSBAL_TENSOR_H
#define LOSSBAL_TENSOR_H

#include "lossbal/lossbal.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @defgroup tensor Tensors
 *
 * An ::lb_tensor is a dense, row-major float32 array of 1 to
 * ::LB_TENSOR_MAX_DIMS dimensions (images are NCHW). Storage the library
 * allocates is 64-byte aligned. A tensor either owns its storage or wraps a
 * caller's buffer; views made by lb_tensor_reshape() share the storage, which
 * lives until the last handle on it is freed.
 *
 * Shapes are arrays of `int64_t` extents, each at least 1. Every size
 * computation is overflow-checked: a shape whose byte size does not fit in
 * memory's address range fails with ::LB_EINVAL.
 *
 * Thread safety: distinct tensors may be used from distinct threads at once,
 * views of one storage included; one tensor must not be written by one thread
 * while another uses it.
 *  @{ */

/** The largest number of dimensions a tensor may have. */
#define LB_TENSOR_MAX_DIMS 4

/** Alignment, in bytes, of storage the library allocates. */
#define LB_TENSOR_ALIGNMENT 64

/** Opaque tensor handle. */
typedef struct lb_tensor lb_tensor;

/**
 * Creates a tensor of the given shape whose values are unspecified.
 *
 * @param ndim  number of dimensions, 1 to ::LB_TENSOR_MAX_DIMS.
 * @param shape @p ndim extents, each >= 1; copied, not kept.
 * @param out   receives the new tensor, which the caller frees with
 *              lb_tensor_free(). Untouched on failure.
 * @return ::LB_OK; ::LB_EINVAL for a NULL pointer, a bad @p ndim, an extent
 *         < 1 or a size that overflows; ::LB_ENOMEM when allocation fails.
 */
LB_API lb_status lb_tensor_create(int32_t ndim, const int64_t *shape,
                                  lb_tensor **out);

/** Like lb_tensor_create(), with every value 0.0f. Same errors. */
LB_API lb_status lb_tensor_zeros(int32_t ndim, const int64_t *shape,
                                 lb_tensor **out);

/**
 * Creates a tensor holding a copy of @p data.
 *
 * @param ndim  number of dimensions, 1 to ::LB_TENSOR_MAX_DIMS.
 * @param shape @p ndim extents, each >= 1; copied, not kept.
 * @param data  numel(shape) floats, row-major; read, not kept.
 * @param out   receives the new tensor; untouched on failure.
 * Other parameters and errors as lb_tensor_create(); @p data NULL is
 * ::LB_EINVAL.
 */
LB_API lb_status lb_tensor_from_copy(int32_t ndim, const int64_t *shape,
                                     const float *data, lb_tensor **out);

/**
 * Wraps a caller-owned buffer in a tensor, without copying it.
 *
 * The caller keeps ownership of @p data: it must hold numel(shape) floats,
 * be aligned for float, and outlive the tensor and every view of it.
 * lb_tensor_free() never frees it. Writes through the tensor go to @p data.
 *
 * Other parameters and errors as lb_tensor_create(); @p data NULL or not
 * aligned for float is ::LB_EINVAL.
 */
LB_API lb_status lb_tensor_wrap(int32_t ndim, const int64_t *shape,
                                float *data, lb_tensor **out);

/**
 * Creates a new tensor with its own storage holding a copy of @p src.
 *
 * @param src the tensor to copy.
 * @param out receives the copy; untouched on failure.
 * @return ::LB_OK; ::LB_EINVAL for a NULL pointer; ::LB_ENOMEM.
 */
LB_API lb_status lb_tensor_clone(const lb_tensor *src, lb_tensor **out);

/**
 * Creates a view of @p src with another shape of the same element count.
 *
 * The view shares @p src's storage (writes through either are seen by both)
 * and keeps it alive: @p src may be freed first. Free the view with
 * lb_tensor_free().
 *
 * @return ::LB_OK; ::LB_EINVAL for a NULL pointer, a bad shape, or a shape
 *         whose element count differs from @p src's; ::LB_ENOMEM.
 */
LB_API lb_status lb_tensor_reshape(const lb_tensor *src, int32_t ndim,
                                   const int64_t *shape, lb_tensor **out);

/** Releases a tensor handle, and its storage once no other view uses it.
 *  A wrapped caller buffer is never freed. NULL is a no-op. */
LB_API void lb_tensor_free(lb_tensor *tensor);

/** Number of dimensions of @p tensor, or 0 when @p tensor is NULL. */
LB_API int32_t lb_tensor_ndim(const lb_tensor *tensor);

/**
 * Extent of one dimension.
 *
 * @param tensor the tensor.
 * @param axis 0 to ndim - 1; negative values count from the end (-1 is the
 *             last dimension), as in PyTorch.
 * @return the extent, or -1 when @p tensor is NULL or @p axis is out of range
 *         (lb_last_error() then says which).
 */
LB_API int64_t lb_tensor_dim(const lb_tensor *tensor, int32_t axis);

/**
 * Copies the shape into @p shape.
 *
 * @param tensor   the tensor.
 * @param shape    receives ndim extents.
 * @param capacity number of elements @p shape can hold; must be >= ndim.
 * @return ::LB_OK; ::LB_EINVAL for a NULL pointer or a too small @p capacity
 *         (then @p shape is untouched).
 */
LB_API lb_status lb_tensor_shape(const lb_tensor *tensor, int64_t *shape,
                                 int32_t capacity);

/** Number of elements of @p tensor, or 0 when @p tensor is NULL. */
LB_API int64_t lb_tensor_numel(const lb_tensor *tensor);

/** The tensor's elements, row-major, writable; NULL when @p tensor is NULL.
 *  Valid while any handle on the storage lives. */
LB_API float *lb_tensor_data(lb_tensor *tensor);

/** Read-only access to the tensor's elements; NULL when @p tensor is NULL. */
LB_API const float *lb_tensor_data_const(const lb_tensor *tensor);

/**
 * Copies the elements of @p src into @p dst. The shapes must be equal.
 * Overlapping storage (a view of the same data) is handled.
 *
 * @return ::LB_OK; ::LB_EINVAL for a NULL pointer or different shapes.
 */
LB_API lb_status lb_tensor_copy(lb_tensor *dst, const lb_tensor *src);

/** Sets every element of @p tensor to @p value.
 *  @return ::LB_OK; ::LB_EINVAL when @p tensor is NULL. */
LB_API lb_status lb_tensor_fill(lb_tensor *tensor, float value);

/**
 * Element-wise `out = a + b`. All three shapes must be equal; @p out may be
 * @p a or @p b.
 * @return ::LB_OK; ::LB_EINVAL for a NULL pointer or a shape mismatch.
 */
LB_API lb_status lb_tensor_add(lb_tensor *out, const lb_tensor *a,
                               const lb_tensor *b);

/** Element-wise `out = a - b`; rules and errors as lb_tensor_add(). */
LB_API lb_status lb_tensor_sub(lb_tensor *out, const lb_tensor *a,
                               const lb_tensor *b);

/** Element-wise `out = a * b`; rules and errors as lb_tensor_add(). */
LB_API lb_status lb_tensor_mul(lb_tensor *out, const lb_tensor *a,
                               const lb_tensor *b);

/** Multiplies every element of @p tensor by @p alpha, in place.
 *  @return ::LB_OK; ::LB_EINVAL when @p tensor is NULL. */
LB_API lb_status lb_tensor_scale(lb_tensor *tensor, float alpha);

/**
 * `y = alpha * x + y`, element-wise (BLAS axpy). Shapes must be equal.
 * @return ::LB_OK; ::LB_EINVAL for a NULL pointer or a shape mismatch.
 */
LB_API lb_status lb_tensor_axpy(float alpha, const lb_tensor *x, lb_tensor *y);

/** `out = max(in, 0)` element-wise; @p out may be @p in. Errors as
 *  lb_tensor_add(). */
LB_API lb_status lb_tensor_relu(lb_tensor *out, const lb_tensor *in);

/**
 * Sum of all elements, accumulated in double.
 * @param tensor the tensor to sum.
 * @param sum receives the sum; untouched on failure.
 * @return ::LB_OK; ::LB_EINVAL for a NULL pointer.
 */
LB_API lb_status lb_tensor_sum(const lb_tensor *tensor, double *sum);

/** Mean of all elements, accumulated in double. Errors as lb_tensor_sum(). */
LB_API lb_status lb_tensor_mean(const lb_tensor *tensor, double *mean);

/**
 * Largest element and the flat index of its first occurrence.
 * @param tensor the tensor to search.
 * @param max   receives the value (may be NULL if not wanted).
 * @param index receives the row-major flat index (may be NULL).
 * @return ::LB_OK; ::LB_EINVAL when @p tensor is NULL;
 *         ::LB_ENONFINITE when an element is NaN (nothing is written).
 */
LB_API lb_status lb_tensor_max(const lb_tensor *tensor, float *max,
                               int64_t *index);

/**
 * Dot product of two tensors of equal element count, accumulated in double.
 * @return ::LB_OK; ::LB_EINVAL for a NULL pointer or different counts.
 */
LB_API lb_status lb_tensor_dot(const lb_tensor *a, const lb_tensor *b,
                               double *dot);

/**
 * Sums a 2-D tensor over its rows: `out[j] = sum_i in[i][j]` (the gradient
 * of a broadcast bias). @p in is [rows, cols]; @p out is 1-D [cols].
 * @return ::LB_OK; ::LB_EINVAL for a NULL pointer or a shape mismatch.
 */
LB_API lb_status lb_tensor_sum_rows(lb_tensor *out, const lb_tensor *in);

/**
 * Matrix product on OpenBLAS: `c = alpha * op(a) * op(b) + beta * c`, where
 * op(x) is x or its transpose. All three are 2-D; op(a) is [m, k], op(b) is
 * [k, n] and c is [m, n]. With beta = 0 the prior contents of @p c are
 * ignored (NaN in them does not propagate). @p c must not share storage
 * with @p a or @p b.
 *
 * @return ::LB_OK; ::LB_EINVAL for a NULL pointer, a tensor that is not 2-D,
 *         mismatched extents, shared storage, or an extent beyond INT32_MAX
 *         (the BLAS interface is 32-bit).
 */
LB_API lb_status lb_tensor_matmul(lb_tensor *c, const lb_tensor *a,
                                  int transpose_a, const lb_tensor *b,
                                  int transpose_b, float alpha, float beta);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* LOSSBAL_TENSOR_H */
