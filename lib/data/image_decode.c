/*
 * Image decoding: choosing the codec by the data's first bytes, channel
 * conversion to [0, 1] floats, and the public lb_image_* functions.
 *
 * Decoding runs in three steps, each in its own buffer: the codec's
 * interleaved integer samples at the stored size, planar floats with the
 * asked channel count, then (only when the size changes) the resized
 * planes. No state is shared between calls, so any number of threads may
 * decode at once.
 */
#include "image_codec.h"

#include "../core/core_internal.h"
#include "lossbal/tensor.h"

#include <string.h>

/* What error messages call data that came from memory. */
#define MEMORY_NAME "<memory>"

typedef enum sniffed_format {
  SNIFFED_UNKNOWN = 0,
  SNIFFED_PNG = LB_IMAGE_PNG,
  SNIFFED_JPEG = LB_IMAGE_JPEG
} sniffed_format;

static sniffed_format sniff(const uint8_t *data, size_t size) {
  static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G',
                                           '\r', '\n', 0x1a, '\n'};
  /* Every JPEG starts with SOI (FF D8) followed by another marker. */
  static const uint8_t jpeg_signature[3] = {0xff, 0xd8, 0xff};
  if (size >= sizeof png_signature &&
      memcmp(data, png_signature, sizeof png_signature) == 0)
    return SNIFFED_PNG;
  if (size >= sizeof jpeg_signature &&
      memcmp(data, jpeg_signature, sizeof jpeg_signature) == 0)
    return SNIFFED_JPEG;
  return SNIFFED_UNKNOWN;
}

static lb_status not_an_image(const char *who, const char *name, size_t size) {
  if (size == 0)
    return lb_fail(LB_EFORMAT, "%s: '%s' is empty, not a PNG or JPEG image",
                   who, name);
  return lb_fail(LB_EFORMAT,
                 "%s: '%s' is not a PNG or JPEG image (unknown signature)",
                 who, name);
}

int32_t lb_pixel_layout_samples(int32_t layout) {
  switch (layout) {
    case LB_PIXELS_GRAY: return 1;
    case LB_PIXELS_GRAY_ALPHA: return 2;
    case LB_PIXELS_RGB: return 3;
    default: return 4;
  }
}

lb_status lb_image_check_header_size(const char *who, const char *name,
                                     const char *format, uint64_t width,
                                     uint64_t height) {
  if (width == 0 || height == 0)
    return lb_fail(LB_EFORMAT, "%s: '%s': %s header declares an empty image "
                   "(%llu x %llu pixels)", who, name, format,
                   (unsigned long long)width, (unsigned long long)height);
  if (width > LB_IMAGE_MAX_SIDE || height > LB_IMAGE_MAX_SIDE ||
      width * height > (uint64_t)LB_IMAGE_MAX_PIXELS)
    return lb_fail(LB_EFORMAT, "%s: '%s': %s image of %llu x %llu pixels is "
                   "too large (at most %d per side and %ld pixels)", who, name,
                   format, (unsigned long long)width,
                   (unsigned long long)height, LB_IMAGE_MAX_SIDE,
                   (long)LB_IMAGE_MAX_PIXELS);
  return LB_OK;
}

lb_status lb_image_probe_bytes(const char *who, const char *name,
                               const uint8_t *data, size_t size,
                               lb_image_info *info) {
  switch (sniff(data, size)) {
    case SNIFFED_PNG: return lb_png_probe(who, name, data, size, info);
    case SNIFFED_JPEG: return lb_jpeg_probe(who, name, data, size, info);
    default: return not_an_image(who, name, size);
  }
}

/* ---- channel conversion -------------------------------------------------- */

/* Converts the codec's interleaved samples to `channels` (1 or 3) planes of
 * floats in [0, 1]. */
static void convert_to_planes(const lb_raw_image *image, int32_t channels,
                              float *planes) {
  size_t pixels = (size_t)image->width * (size_t)image->height;
  int32_t stride = lb_pixel_layout_samples(image->layout);
  float scale8[256];
  for (int v = 0; v < 256; v++) scale8[v] = (float)v / 255.0f;
  float *red = planes, *green = planes + pixels, *blue = planes + 2 * pixels;
  for (size_t p = 0; p < pixels; p++) {
    float sample[4];
    if (image->bits == 16) {
      const uint8_t *in = image->samples + p * (size_t)stride * 2;
      for (int32_t s = 0; s < stride; s++)
        sample[s] = (float)(in[2 * s] << 8 | in[2 * s + 1]) / 65535.0f;
    } else {
      const uint8_t *in = image->samples + p * (size_t)stride;
      for (int32_t s = 0; s < stride; s++) sample[s] = scale8[in[s]];
    }
    float r, g, b;
    switch (image->layout) {
      case LB_PIXELS_GRAY:
      case LB_PIXELS_GRAY_ALPHA:
        r = g = b = sample[0];
        break;
      case LB_PIXELS_CMYK:
        r = (1.0f - sample[0]) * (1.0f - sample[3]);
        g = (1.0f - sample[1]) * (1.0f - sample[3]);
        b = (1.0f - sample[2]) * (1.0f - sample[3]);
        break;
      case LB_PIXELS_CMYK_INVERTED: /* samples are 1 - C, ..., 1 - K */
        r = sample[0] * sample[3];
        g = sample[1] * sample[3];
        b = sample[2] * sample[3];
        break;
      default: /* RGB, RGBA */
        r = sample[0];
        g = sample[1];
        b = sample[2];
        break;
    }
    if (channels == 3) {
      red[p] = r;
      green[p] = g;
      blue[p] = b;
    } else if (image->layout == LB_PIXELS_GRAY ||
               image->layout == LB_PIXELS_GRAY_ALPHA) {
      red[p] = r; /* gray stays exact */
    } else if (image->bits == 8 && (image->layout == LB_PIXELS_RGB ||
                                    image->layout == LB_PIXELS_RGBA)) {
      /* Pillow's convert("L") in its own fixed point, so that a folder of
       * colour images made gray gives torchvision's bytes exactly. */
      const uint8_t *in = image->samples + p * (size_t)stride;
      uint32_t luma = (19595u * in[0] + 38470u * in[1] + 7471u * in[2] +
                       0x8000u) >> 16;
      red[p] = scale8[luma];
    } else {
      red[p] = 0.299f * r + 0.587f * g + 0.114f * b;
    }
  }
}

static bool is_gray_layout(int32_t layout) {
  return layout == LB_PIXELS_GRAY || layout == LB_PIXELS_GRAY_ALPHA;
}

/* ---- decoding ------------------------------------------------------------ */

static lb_status check_decode_arguments(const char *who, int32_t channels,
                                        int32_t height, int32_t width) {
  if (channels != 0 && channels != 1 && channels != 3)
    return lb_fail(LB_EINVAL, "%s: channels = %d must be 0, 1 or 3", who,
                   (int)channels);
  if (height == 0 && width == 0) return LB_OK;
  if (height < 1 || height > LB_IMAGE_MAX_SIDE || width < 1 ||
      width > LB_IMAGE_MAX_SIDE)
    return lb_fail(LB_EINVAL, "%s: height = %d and width = %d must both be 0 "
                   "or both 1 to %d", who, (int)height, (int)width,
                   LB_IMAGE_MAX_SIDE);
  if ((int64_t)height * width > (int64_t)LB_IMAGE_MAX_PIXELS)
    return lb_fail(LB_EINVAL, "%s: height x width = %d x %d is more than "
                   "LB_IMAGE_MAX_PIXELS = %ld pixels", who, (int)height,
                   (int)width, (long)LB_IMAGE_MAX_PIXELS);
  return LB_OK;
}

/* A float buffer of channels x height x width, or NULL after a message. */
static float *alloc_planes(const char *who, const char *name, int32_t channels,
                           int32_t height, int32_t width) {
  size_t count = 0, bytes = 0;
  if (!lb_mul_size((size_t)channels * (size_t)height, (size_t)width, &count) ||
      !lb_mul_size(count, sizeof(float), &bytes)) {
    lb_fail(LB_ENOMEM, "%s: out of memory decoding '%s'", who, name);
    return NULL;
  }
  float *planes = lb_alloc(bytes);
  if (!planes) lb_fail(LB_ENOMEM, "%s: out of memory decoding '%s'", who, name);
  return planes;
}

lb_status lb_image_decode_bytes(const char *who, const char *name,
                                const uint8_t *data, size_t size,
                                int32_t channels, int32_t height,
                                int32_t width, float **pixels,
                                int32_t *out_channels, int32_t *out_height,
                                int32_t *out_width) {
  lb_status status = check_decode_arguments(who, channels, height, width);
  if (status != LB_OK) return status;

  lb_raw_image image = {0};
  switch (sniff(data, size)) {
    case SNIFFED_PNG:
      status = lb_png_decode(who, name, data, size, &image);
      break;
    case SNIFFED_JPEG:
      status = lb_jpeg_decode(who, name, data, size, &image);
      break;
    default: return not_an_image(who, name, size);
  }
  if (status != LB_OK) return status;

  if (channels == 0) channels = is_gray_layout(image.layout) ? 1 : 3;
  if (height == 0) {
    height = image.height;
    width = image.width;
  }
  float *planes = alloc_planes(who, name, channels, image.height, image.width);
  if (!planes) {
    lb_free(image.samples);
    return LB_ENOMEM;
  }
  convert_to_planes(&image, channels, planes);
  lb_free(image.samples);

  if (height != image.height || width != image.width) {
    float *resized = alloc_planes(who, name, channels, height, width);
    status = resized ? lb_image_resize(who, planes, channels, image.height,
                                       image.width, resized, height, width)
                     : LB_ENOMEM;
    lb_free(planes);
    if (status != LB_OK) {
      lb_free(resized);
      return status;
    }
    planes = resized;
    /* A weighted mean of samples in [0, 1] can round to just outside. */
    size_t count = (size_t)channels * (size_t)height * (size_t)width;
    for (size_t i = 0; i < count; i++)
      planes[i] = planes[i] < 0.0f ? 0.0f : planes[i] > 1.0f ? 1.0f : planes[i];
  }
  *pixels = planes;
  *out_channels = channels;
  *out_height = height;
  *out_width = width;
  return LB_OK;
}

/* ---- public functions ---------------------------------------------------- */

lb_status lb_image_probe_memory(const void *data, size_t size,
                                lb_image_info *info) {
  static const char who[] = "lb_image_probe_memory";
  if (!data) return lb_fail(LB_EINVAL, "%s: data is NULL", who);
  if (!info) return lb_fail(LB_EINVAL, "%s: info is NULL", who);
  return lb_image_probe_bytes(who, MEMORY_NAME, data, size, info);
}

lb_status lb_image_probe_file(const char *path, lb_image_info *info) {
  static const char who[] = "lb_image_probe_file";
  if (!path) return lb_fail(LB_EINVAL, "%s: path is NULL", who);
  if (!info) return lb_fail(LB_EINVAL, "%s: info is NULL", who);
  uint8_t *data = NULL;
  size_t size = 0;
  lb_status status = lb_read_file(who, path, LB_IMAGE_MAX_FILE_BYTES, &data,
                                  &size);
  if (status != LB_OK) return status;
  status = lb_image_probe_bytes(who, path, data, size, info);
  lb_free(data);
  return status;
}

/* Wraps decoded planes in a new [channels][height][width] tensor. */
static lb_status planes_to_tensor(float *planes, int32_t channels,
                                  int32_t height, int32_t width,
                                  lb_tensor **out) {
  int64_t shape[3] = {channels, height, width};
  lb_tensor *tensor = NULL;
  lb_status status = lb_tensor_create(3, shape, &tensor);
  if (status == LB_OK) {
    memcpy(lb_tensor_data(tensor), planes,
           (size_t)channels * (size_t)height * (size_t)width * sizeof *planes);
    *out = tensor;
  }
  lb_free(planes);
  return status;
}

static lb_status decode_to_tensor(const char *who, const char *name,
                                  const uint8_t *data, size_t size,
                                  int32_t channels, int32_t height,
                                  int32_t width, lb_tensor **out) {
  float *planes = NULL;
  int32_t c = 0, h = 0, w = 0;
  lb_status status = lb_image_decode_bytes(who, name, data, size, channels,
                                           height, width, &planes, &c, &h, &w);
  if (status != LB_OK) return status;
  return planes_to_tensor(planes, c, h, w, out);
}

lb_status lb_image_decode_memory(const void *data, size_t size,
                                 int32_t channels, int32_t height,
                                 int32_t width, lb_tensor **out) {
  static const char who[] = "lb_image_decode_memory";
  if (!data) return lb_fail(LB_EINVAL, "%s: data is NULL", who);
  if (!out) return lb_fail(LB_EINVAL, "%s: out is NULL", who);
  return decode_to_tensor(who, MEMORY_NAME, data, size, channels, height,
                          width, out);
}

lb_status lb_image_decode_file(const char *path, int32_t channels,
                               int32_t height, int32_t width,
                               lb_tensor **out) {
  static const char who[] = "lb_image_decode_file";
  if (!path) return lb_fail(LB_EINVAL, "%s: path is NULL", who);
  if (!out) return lb_fail(LB_EINVAL, "%s: out is NULL", who);
  /* Bad arguments are reported before the file is read. */
  lb_status status = check_decode_arguments(who, channels, height, width);
  if (status != LB_OK) return status;
  uint8_t *data = NULL;
  size_t size = 0;
  status = lb_read_file(who, path, LB_IMAGE_MAX_FILE_BYTES, &data, &size);
  if (status != LB_OK) return status;
  status = decode_to_tensor(who, path, data, size, channels, height, width,
                            out);
  lb_free(data);
  return status;
}
