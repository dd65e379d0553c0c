/*
 * Antialiased bilinear resizing, equal to PyTorch's
 * F.interpolate(mode="bilinear", align_corners=False, antialias=True)
 * (_upsample_bilinear2d_aa).
 *
 * The resize is separable: one axis, then the other, each output sample a
 * weighted sum of a window of source samples. Output sample i of an axis
 * scaled by s = in / out sits at source position (i + 0.5) s. The triangle
 * filter is stretched by s when shrinking, so every source pixel contributes
 * (that is the antialiasing), and kept at width 1 when enlarging, which is
 * then ordinary bilinear interpolation with clamped edges. Windows are cut
 * off at the image border and their weights renormalised to sum to 1.
 */
#include "image_codec.h"

#include "../core/core_internal.h"

#include <math.h>

/* The window of every output sample along one axis. */
typedef struct axis_weights {
  int32_t *first;  /* first source index of output i's window */
  int32_t *count;  /* its length */
  double *weights; /* out * stride weights, output i's from i * stride */
  int32_t stride;
} axis_weights;

static double triangle(double x) {
  x = fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

/* Leaves w empty, so freeing it again is harmless. */
static void axis_weights_free(axis_weights *w) {
  lb_free(w->first);
  lb_free(w->count);
  lb_free(w->weights);
  *w = (axis_weights){0};
}

static lb_status axis_weights_compute(const char *who, int32_t in, int32_t out,
                                      axis_weights *w) {
  double scale = (double)in / (double)out;
  double support = scale >= 1.0 ? scale : 1.0;
  double inverse = scale >= 1.0 ? 1.0 / scale : 1.0;
  /* A window covers at most ceil(2 support) + 1 source samples. */
  w->stride = (int32_t)ceil(support) * 2 + 1;
  size_t cells = (size_t)out * (size_t)w->stride;
  w->first = lb_alloc((size_t)out * sizeof *w->first);
  w->count = w->first ? lb_alloc((size_t)out * sizeof *w->count) : NULL;
  w->weights = w->count ? lb_alloc(cells * sizeof *w->weights) : NULL;
  if (!w->weights) {
    axis_weights_free(w);
    return lb_fail(LB_ENOMEM, "%s: out of memory resizing an image", who);
  }
  for (int32_t i = 0; i < out; i++) {
    double center = scale * (i + 0.5);
    /* Truncation, not floor, as torch does; the max() makes them agree. */
    int64_t lo = (int64_t)(center - support + 0.5);
    int64_t hi = (int64_t)(center + support + 0.5);
    if (lo < 0) lo = 0;
    if (hi > in) hi = in;
    if (hi - lo > w->stride) hi = lo + w->stride;
    double *weight = w->weights + (size_t)i * (size_t)w->stride;
    double total = 0.0;
    for (int64_t j = lo; j < hi; j++) {
      weight[j - lo] = triangle(((double)j - center + 0.5) * inverse);
      total += weight[j - lo];
    }
    if (total > 0.0)
      for (int64_t j = lo; j < hi; j++) weight[j - lo] /= total;
    w->first[i] = (int32_t)lo;
    w->count[i] = (int32_t)(hi - lo);
  }
  return LB_OK;
}

/* Resizes each of `rows` rows of in_width samples to out_width samples. */
static void resize_rows(const float *src, int32_t rows, int32_t in_width,
                        float *dst, int32_t out_width, const axis_weights *w) {
  for (int64_t r = 0; r < rows; r++) {
    const float *in = src + r * in_width;
    float *out = dst + r * out_width;
    for (int32_t i = 0; i < out_width; i++) {
      const double *weight = w->weights + (size_t)i * (size_t)w->stride;
      const float *window = in + w->first[i];
      double sum = 0.0;
      for (int32_t k = 0; k < w->count[i]; k++) sum += weight[k] * window[k];
      out[i] = (float)sum;
    }
  }
}

/* Resizes one plane's columns from its rows to out_height rows. Output row
 * i is a weighted sum of whole source rows, accumulated row by row so the
 * inner loop runs along memory. */
static void resize_columns(const float *src, int32_t width, float *dst,
                           int32_t out_height, const axis_weights *w) {
  for (int32_t i = 0; i < out_height; i++) {
    const double *weight = w->weights + (size_t)i * (size_t)w->stride;
    float *out = dst + (size_t)i * (size_t)width;
    for (int32_t x = 0; x < width; x++) out[x] = 0.0f;
    for (int32_t k = 0; k < w->count[i]; k++) {
      const float *row = src + (size_t)(w->first[i] + k) * (size_t)width;
      float factor = (float)weight[k];
      for (int32_t x = 0; x < width; x++) out[x] += factor * row[x];
    }
  }
}

lb_status lb_image_resize(const char *who, const float *src, int32_t channels,
                          int32_t in_height, int32_t in_width, float *dst,
                          int32_t out_height, int32_t out_width) {
  /* The pass that shrinks the intermediate image more goes first. Either
   * order gives the same result to float rounding, but one of them can need
   * far more memory: 65535 x 4096 to 4096 x 65535 rows first would hold
   * 65535 x 65535 samples. The smaller is at most LB_IMAGE_MAX_PIXELS, as
   * the product of the two is that of the input and output pixel counts. */
  size_t plane_in = (size_t)in_height * (size_t)in_width;
  size_t plane_out = (size_t)out_height * (size_t)out_width;
  size_t rows_first = (size_t)in_height * (size_t)out_width;
  size_t columns_first = (size_t)out_height * (size_t)in_width;
  int by_rows = rows_first <= columns_first;
  size_t plane_middle = by_rows ? rows_first : columns_first;

  axis_weights across = {0}, down = {0};
  float *middle = lb_alloc((size_t)channels * plane_middle * sizeof *middle);
  if (!middle)
    return lb_fail(LB_ENOMEM, "%s: out of memory resizing an image", who);
  lb_status status = axis_weights_compute(who, in_width, out_width, &across);
  if (status == LB_OK)
    status = axis_weights_compute(who, in_height, out_height, &down);
  if (status == LB_OK && by_rows) {
    resize_rows(src, channels * in_height, in_width, middle, out_width,
                &across);
    for (int32_t c = 0; c < channels; c++)
      resize_columns(middle + (size_t)c * plane_middle, out_width,
                     dst + (size_t)c * plane_out, out_height, &down);
  } else if (status == LB_OK) {
    for (int32_t c = 0; c < channels; c++)
      resize_columns(src + (size_t)c * plane_in, in_width,
                     middle + (size_t)c * plane_middle, out_height, &down);
    resize_rows(middle, channels * out_height, in_width, dst, out_width,
                &across);
  }
  axis_weights_free(&across);
  axis_weights_free(&down);
  lb_free(middle);
  return status;
}
