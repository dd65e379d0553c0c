/* libFuzzer target for the PNG and JPEG decoder. Every input must be either
 * refused with LB_EFORMAT or decoded with data.h's promises kept: a probe
 * that succeeds whenever the decode does and agrees on the size, a tensor of
 * the asked shape, every value in [0, 1]. A crash, a sanitizer report or an
 * abort() below is a bug.
 *
 * The first byte of the input picks the channel count and output size; the
 * rest is the image. Images the probe declares larger than 2^20 pixels are
 * only probed: decoding them proves nothing more and exhausts the fuzzer's
 * memory limit. */
#include "lossbal/data.h"
#include "lossbal/tensor.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_PIXELS (1L << 20)

static void check_decoded(const lb_tensor *t, int32_t channels, int32_t height,
                          int32_t width) {
  if (lb_tensor_ndim(t) != 3 || lb_tensor_dim(t, 0) != channels ||
      lb_tensor_dim(t, 1) != height || lb_tensor_dim(t, 2) != width)
    abort();
  const float *values = lb_tensor_data_const(t);
  for (int64_t i = 0; i < lb_tensor_numel(t); i++)
    if (!(values[i] >= 0.0f && values[i] <= 1.0f)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const int32_t channel_choices[3] = {0, 1, 3};
  static const int32_t size_choices[4][2] = {{0, 0}, {7, 5}, {1, 13}, {32, 3}};
  if (size == 0) return 0;
  int32_t channels = channel_choices[data[0] % 3];
  int32_t height = size_choices[(data[0] / 3) % 4][0];
  int32_t width = size_choices[(data[0] / 3) % 4][1];
  data++;
  size--;

  lb_image_info info;
  lb_status probed = lb_image_probe_memory(data, size, &info);
  if (probed != LB_OK && probed != LB_EFORMAT) abort();
  if (probed == LB_OK &&
      (info.width < 1 || info.height < 1 ||
       (int64_t)info.width * info.height > LB_IMAGE_MAX_PIXELS))
    abort();
  if (probed == LB_OK &&
      (int64_t)info.width * info.height > FUZZ_MAX_PIXELS)
    return 0;

  lb_tensor *t = NULL;
  lb_status decoded =
      lb_image_decode_memory(data, size, channels, height, width, &t);
  if (decoded == LB_OK) {
    if (probed != LB_OK) abort();
    int32_t want_channels = channels ? channels : info.channels <= 2 ? 1 : 3;
    check_decoded(t, want_channels, height ? height : info.height,
                  width ? width : info.width);
    lb_tensor_free(t);
  } else if (decoded != LB_EFORMAT) {
    abort();
  }
  return 0;
}
