/* Element-wise, reduction and matrix operations on tensors. Each public
 * function validates, then calls a plain loop or OpenBLAS. */
#include "tensor_internal.h"

#include "../core/core_internal.h"

#include <math.h>
#include <string.h>

/* The parameter names of out, a and b in the public function, so messages
 * name what the caller passed ("lb_tensor_axpy: x is NULL"). */
typedef struct operand_names {
  const char *out, *a, *b;
} operand_names;

static const operand_names out_a_b = {"out", "a", "b"};

/* Checks that out, a and b are non-NULL and share one shape. */
static lb_status check_elementwise(const char *caller, operand_names names,
                                   const lb_tensor *out, const lb_tensor *a,
                                   const lb_tensor *b) {
  if (!out) return lb_fail(LB_EINVAL, "%s: %s is NULL", caller, names.out);
  if (!a) return lb_fail(LB_EINVAL, "%s: %s is NULL", caller, names.a);
  if (!b) return lb_fail(LB_EINVAL, "%s: %s is NULL", caller, names.b);
  const lb_tensor *mismatched = !lb_tensor_same_shape(a, b)     ? b
                                : !lb_tensor_same_shape(a, out) ? out
                                                                : NULL;
  if (mismatched) {
    char expected[96], got[96];
    lb_shape_format(a, expected, sizeof expected);
    lb_shape_format(mismatched, got, sizeof got);
    return lb_fail(LB_EINVAL, "%s: shape mismatch: %s is %s, %s is %s", caller,
                   names.a, expected, mismatched == b ? names.b : names.out,
                   got);
  }
  return LB_OK;
}

/* True when the elements of x and y overlap in memory: views of one storage,
 * or wraps of one caller buffer. */
static bool storage_overlaps(const lb_tensor *x, const lb_tensor *y) {
  return x->storage == y->storage ||
         lb_ranges_overlap(x->storage->data, (size_t)x->numel * sizeof(float),
                           y->storage->data, (size_t)y->numel * sizeof(float));
}

lb_status lb_tensor_copy(lb_tensor *dst, const lb_tensor *src) {
  if (!dst) return lb_fail(LB_EINVAL, "lb_tensor_copy: dst is NULL");
  if (!src) return lb_fail(LB_EINVAL, "lb_tensor_copy: src is NULL");
  if (!lb_tensor_same_shape(dst, src)) {
    char dst_shape[96], src_shape[96];
    lb_shape_format(dst, dst_shape, sizeof dst_shape);
    lb_shape_format(src, src_shape, sizeof src_shape);
    return lb_fail(LB_EINVAL, "lb_tensor_copy: shape mismatch: dst is %s, src is %s",
                   dst_shape, src_shape);
  }
  memmove(dst->storage->data, src->storage->data,
          (size_t)src->numel * sizeof(float));
  return LB_OK;
}

lb_status lb_tensor_fill(lb_tensor *tensor, float value) {
  if (!tensor) return lb_fail(LB_EINVAL, "lb_tensor_fill: tensor is NULL");
  float *data = tensor->storage->data;
  for (int64_t i = 0; i < tensor->numel; i++) data[i] = value;
  return LB_OK;
}

lb_status lb_tensor_add(lb_tensor *out, const lb_tensor *a, const lb_tensor *b) {
  lb_status status = check_elementwise("lb_tensor_add", out_a_b, out, a, b);
  if (status != LB_OK) return status;
  const float *x = a->storage->data, *y = b->storage->data;
  float *z = out->storage->data;
  for (int64_t i = 0; i < out->numel; i++) z[i] = x[i] + y[i];
  return LB_OK;
}

lb_status lb_tensor_sub(lb_tensor *out, const lb_tensor *a, const lb_tensor *b) {
  lb_status status = check_elementwise("lb_tensor_sub", out_a_b, out, a, b);
  if (status != LB_OK) return status;
  const float *x = a->storage->data, *y = b->storage->data;
  float *z = out->storage->data;
  for (int64_t i = 0; i < out->numel; i++) z[i] = x[i] - y[i];
  return LB_OK;
}

lb_status lb_tensor_mul(lb_tensor *out, const lb_tensor *a, const lb_tensor *b) {
  lb_status status = check_elementwise("lb_tensor_mul", out_a_b, out, a, b);
  if (status != LB_OK) return status;
  const float *x = a->storage->data, *y = b->storage->data;
  float *z = out->storage->data;
  for (int64_t i = 0; i < out->numel; i++) z[i] = x[i] * y[i];
  return LB_OK;
}

lb_status lb_tensor_scale(lb_tensor *tensor, float alpha) {
  if (!tensor) return lb_fail(LB_EINVAL, "lb_tensor_scale: tensor is NULL");
  float *data = tensor->storage->data;
  for (int64_t i = 0; i < tensor->numel; i++) data[i] *= alpha;
  return LB_OK;
}

lb_status lb_tensor_axpy(float alpha, const lb_tensor *x, lb_tensor *y) {
  lb_status status = check_elementwise(
      "lb_tensor_axpy", (operand_names){"y", "x", "y"}, y, x, y);
  if (status != LB_OK) return status;
  const float *from = x->storage->data;
  float *to = y->storage->data;
  for (int64_t i = 0; i < y->numel; i++) to[i] += alpha * from[i];
  return LB_OK;
}

lb_status lb_tensor_relu(lb_tensor *out, const lb_tensor *in) {
  lb_status status = check_elementwise(
      "lb_tensor_relu", (operand_names){"out", "in", "in"}, out, in, in);
  if (status != LB_OK) return status;
  const float *x = in->storage->data;
  float *z = out->storage->data;
  /* Written as a comparison so NaN stays NaN, as in PyTorch. */
  for (int64_t i = 0; i < out->numel; i++) z[i] = x[i] < 0.0f ? 0.0f : x[i];
  return LB_OK;
}

lb_status lb_tensor_sum(const lb_tensor *tensor, double *sum) {
  if (!tensor) return lb_fail(LB_EINVAL, "lb_tensor_sum: tensor is NULL");
  if (!sum) return lb_fail(LB_EINVAL, "lb_tensor_sum: sum is NULL");
  const float *data = tensor->storage->data;
  double total = 0.0;
  for (int64_t i = 0; i < tensor->numel; i++) total += data[i];
  *sum = total;
  return LB_OK;
}

lb_status lb_tensor_mean(const lb_tensor *tensor, double *mean) {
  if (!tensor) return lb_fail(LB_EINVAL, "lb_tensor_mean: tensor is NULL");
  if (!mean) return lb_fail(LB_EINVAL, "lb_tensor_mean: mean is NULL");
  double total = 0.0;
  lb_tensor_sum(tensor, &total);
  *mean = total / (double)tensor->numel;
  return LB_OK;
}

lb_status lb_tensor_max(const lb_tensor *tensor, float *max, int64_t *index) {
  if (!tensor) return lb_fail(LB_EINVAL, "lb_tensor_max: tensor is NULL");
  const float *data = tensor->storage->data;
  int64_t best = 0;
  for (int64_t i = 0; i < tensor->numel; i++) {
    if (isnan(data[i]))
      return lb_fail(LB_ENONFINITE, "lb_tensor_max: element %lld is NaN",
                     (long long)i);
    if (data[i] > data[best]) best = i;
  }
  if (max) *max = data[best];
  if (index) *index = best;
  return LB_OK;
}

lb_status lb_tensor_dot(const lb_tensor *a, const lb_tensor *b, double *dot) {
  if (!a) return lb_fail(LB_EINVAL, "lb_tensor_dot: a is NULL");
  if (!b) return lb_fail(LB_EINVAL, "lb_tensor_dot: b is NULL");
  if (!dot) return lb_fail(LB_EINVAL, "lb_tensor_dot: dot is NULL");
  if (a->numel != b->numel)
    return lb_fail(LB_EINVAL,
                   "lb_tensor_dot: a has %lld elements, b has %lld",
                   (long long)a->numel, (long long)b->numel);
  const float *x = a->storage->data, *y = b->storage->data;
  double total = 0.0;
  for (int64_t i = 0; i < a->numel; i++) total += (double)x[i] * y[i];
  *dot = total;
  return LB_OK;
}

lb_status lb_tensor_sum_rows(lb_tensor *out, const lb_tensor *in) {
  if (!out) return lb_fail(LB_EINVAL, "lb_tensor_sum_rows: out is NULL");
  if (!in) return lb_fail(LB_EINVAL, "lb_tensor_sum_rows: in is NULL");
  if (in->ndim != 2)
    return lb_fail(LB_EINVAL, "lb_tensor_sum_rows: in has %d dimensions, not 2",
                   (int)in->ndim);
  if (out->ndim != 1 || out->shape[0] != in->shape[1])
    return lb_fail(LB_EINVAL,
                   "lb_tensor_sum_rows: out must be 1-D of %lld elements",
                   (long long)in->shape[1]);
  int64_t rows = in->shape[0], cols = in->shape[1];
  const float *x = in->storage->data;
  float *z = out->storage->data;
  if (storage_overlaps(out, in))
    return lb_fail(LB_EINVAL, "lb_tensor_sum_rows: out shares storage with in");
  for (int64_t j = 0; j < cols; j++) z[j] = 0.0f;
  for (int64_t i = 0; i < rows; i++)
    for (int64_t j = 0; j < cols; j++) z[j] += x[i * cols + j];
  return LB_OK;
}

/* Extents of op(t) for a 2-D tensor, after the caller checked ndim. */
static void op_extents(const lb_tensor *t, int transpose, int64_t *rows,
                       int64_t *cols) {
  *rows = transpose ? t->shape[1] : t->shape[0];
  *cols = transpose ? t->shape[0] : t->shape[1];
}

static lb_status check_matmul(const lb_tensor *c, const lb_tensor *a,
                              int transpose_a, const lb_tensor *b,
                              int transpose_b) {
  static const char caller[] = "lb_tensor_matmul";
  if (!c) return lb_fail(LB_EINVAL, "%s: c is NULL", caller);
  if (!a) return lb_fail(LB_EINVAL, "%s: a is NULL", caller);
  if (!b) return lb_fail(LB_EINVAL, "%s: b is NULL", caller);
  const lb_tensor *operands[3] = {a, b, c};
  const char *names[3] = {"a", "b", "c"};
  for (int i = 0; i < 3; i++) {
    if (operands[i]->ndim != 2)
      return lb_fail(LB_EINVAL, "%s: %s has %d dimensions, not 2", caller,
                     names[i], (int)operands[i]->ndim);
    if (operands[i]->shape[0] > INT32_MAX || operands[i]->shape[1] > INT32_MAX)
      return lb_fail(LB_EINVAL, "%s: %s has an extent beyond INT32_MAX", caller,
                     names[i]);
  }
  if (storage_overlaps(c, a) || storage_overlaps(c, b))
    return lb_fail(LB_EINVAL, "%s: c shares storage with %s", caller,
                   storage_overlaps(c, a) ? "a" : "b");
  int64_t m, k, k_of_b, n;
  op_extents(a, transpose_a, &m, &k);
  op_extents(b, transpose_b, &k_of_b, &n);
  if (k != k_of_b)
    return lb_fail(LB_EINVAL,
                   "%s: op(a) is [%lld, %lld] but op(b) is [%lld, %lld]", caller,
                   (long long)m, (long long)k, (long long)k_of_b, (long long)n);
  if (c->shape[0] != m || c->shape[1] != n)
    return lb_fail(LB_EINVAL, "%s: c is [%lld, %lld], the product is [%lld, %lld]",
                   caller, (long long)c->shape[0], (long long)c->shape[1],
                   (long long)m, (long long)n);
  return LB_OK;
}

lb_status lb_tensor_matmul(lb_tensor *c, const lb_tensor *a, int transpose_a,
                           const lb_tensor *b, int transpose_b, float alpha,
                           float beta) {
  lb_status status = check_matmul(c, a, transpose_a, b, transpose_b);
  if (status != LB_OK) return status;
  int64_t m, k, n, unused;
  op_extents(a, transpose_a, &m, &k);
  op_extents(b, transpose_b, &unused, &n);
  float *out = c->storage->data;
  /* BLAS reads C even when beta is 0 in some builds; clear it so NaN left
   * in an uninitialised output cannot leak into the result. */
  if (beta == 0.0f) memset(out, 0, (size_t)c->numel * sizeof(float));
  lb_sgemm(transpose_a, transpose_b, m, n, k, alpha, a->storage->data,
           a->shape[1], b->storage->data, b->shape[1], beta, out, n);
  return LB_OK;
}
