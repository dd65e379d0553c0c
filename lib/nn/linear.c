/* Linear (fully connected) forward and backward on OpenBLAS (see
 * layers.h). Row-major throughout, as PyTorch stores x [batch, in] and
 * weight [out, in]. */
#include "layers.h"

#include "../core/core_internal.h"

#include <string.h>

/* True when rows * cols floats fit size_t bytes. */
static bool matrix_fits(int64_t rows, int64_t cols) {
  size_t elements, bytes;
  return lb_mul_size((size_t)rows, (size_t)cols, &elements) &&
         lb_mul_size(elements, sizeof(float), &bytes);
}

lb_status lb_linear_check(const char *who, const lb_linear *fc, int64_t batch) {
  if (!fc) return lb_fail(LB_EINVAL, "%s: the linear layer is NULL", who);
  if (!fc->weight) return lb_fail(LB_EINVAL, "%s: linear weight is NULL", who);
  if (!fc->bias) return lb_fail(LB_EINVAL, "%s: linear bias is NULL", who);
  const int64_t extents[3] = {batch, fc->in_features, fc->out_features};
  static const char *const names[3] = {"batch", "in_features", "out_features"};
  for (int i = 0; i < 3; i++)
    if (extents[i] < 1 || extents[i] > INT32_MAX)
      return lb_fail(LB_EINVAL, "%s: linear %s = %lld is outside [1, %d]", who,
                     names[i], (long long)extents[i], INT32_MAX);
  if (!matrix_fits(batch, fc->in_features) ||
      !matrix_fits(batch, fc->out_features) ||
      !matrix_fits(fc->out_features, fc->in_features))
    return lb_fail(LB_EINVAL,
                   "%s: linear [%lld, %lld] -> [%lld, %lld] is too large to "
                   "address",
                   who, (long long)batch, (long long)fc->in_features,
                   (long long)batch, (long long)fc->out_features);
  return LB_OK;
}

void lb_linear_forward(const lb_linear *fc, int64_t batch, const float *x,
                       float *y) {
  int in = (int)fc->in_features, out = (int)fc->out_features;
  /* Every row starts as the bias, and the GEMM adds x W^T onto it. */
  for (int64_t i = 0; i < batch; i++)
    memcpy(y + i * out, fc->bias, (size_t)out * sizeof(float));
  lb_sgemm(false, true, batch, out, in, 1.0f, x, in, fc->weight, in, 1.0f, y,
           out);
}

/* grad_bias[j] = sum_i grad_y[i][j], in double, in row order. */
static void column_sums(const float *grad_y, int64_t rows, int64_t cols,
                        float *sums) {
  for (int64_t j = 0; j < cols; j++) {
    double sum = 0.0;
    for (int64_t i = 0; i < rows; i++) sum += grad_y[i * cols + j];
    sums[j] = (float)sum;
  }
}

void lb_linear_backward(const lb_linear *fc, int64_t batch, const float *x,
                        const float *grad_y, float *grad_x, float *grad_weight,
                        float *grad_bias) {
  int in = (int)fc->in_features, out = (int)fc->out_features;
  /* BLAS reads C even when beta is 0 in some builds; clear the outputs so
   * NaN left in them cannot leak into the gradients. */
  memset(grad_x, 0, (size_t)batch * (size_t)in * sizeof(float));
  memset(grad_weight, 0, (size_t)out * (size_t)in * sizeof(float));
  lb_sgemm(false, false, batch, in, out, 1.0f, grad_y, out, fc->weight, in,
           0.0f, grad_x, in);
  lb_sgemm(true, false, out, in, batch, 1.0f, grad_y, out, x, in, 0.0f,
           grad_weight, in);
  column_sums(grad_y, batch, out, grad_bias);
}
