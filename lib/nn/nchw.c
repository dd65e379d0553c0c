/* NCHW shapes of the layer kernels: checking and counting. */
#include "layers.h"

#include "../core/core_internal.h"

#include <stdio.h>

void lb_nchw_format(lb_nchw shape, char *text, size_t capacity) {
  snprintf(text, capacity, "[%lld, %lld, %lld, %lld]", (long long)shape.n,
           (long long)shape.c, (long long)shape.h, (long long)shape.w);
}

/* True when shape.n * c * h * w floats fit both int64_t and size_t bytes. */
static bool addressable(lb_nchw shape) {
  int64_t numel = shape.n;
  size_t bytes;
  return lb_mul_i64(numel, shape.c, &numel) &&
         lb_mul_i64(numel, shape.h, &numel) &&
         lb_mul_i64(numel, shape.w, &numel) &&
         lb_mul_size((size_t)numel, sizeof(float), &bytes) &&
         bytes <= (size_t)INT64_MAX;
}

lb_status lb_nchw_check(const char *who, const char *name, lb_nchw shape) {
  const int64_t extents[4] = {shape.n, shape.c, shape.h, shape.w};
  static const char *const extent_names[4] = {"n", "c", "h", "w"};
  char text[96];
  lb_nchw_format(shape, text, sizeof text);
  for (int i = 0; i < 4; i++)
    if (extents[i] < 1)
      return lb_fail(LB_EINVAL, "%s: %s shape %s has %s = %lld, not >= 1", who,
                     name, text, extent_names[i], (long long)extents[i]);
  if (!addressable(shape))
    return lb_fail(LB_EINVAL, "%s: %s shape %s is too large to address", who,
                   name, text);
  return LB_OK;
}

int64_t lb_nchw_numel(lb_nchw shape) {
  return shape.n * shape.c * shape.h * shape.w;
}
