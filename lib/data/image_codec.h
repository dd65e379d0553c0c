/*
 * The pieces of image decoding that the codec files (image_png.c,
 * image_jpeg.c) and the resizer (image_resize.c) share with image_decode.c.
 * Never installed; the rest of the library uses image_internal.h.
 */
#ifndef LOSSBAL_DATA_IMAGE_CODEC_H
#define LOSSBAL_DATA_IMAGE_CODEC_H

#include "image_internal.h"

#include <stddef.h>
#include <stdint.h>

/* How the samples of a decoded image are laid out, per pixel. */
typedef enum lb_pixel_layout {
  LB_PIXELS_GRAY = 1,       /* G */
  LB_PIXELS_GRAY_ALPHA = 2, /* G A */
  LB_PIXELS_RGB = 3,        /* R G B */
  LB_PIXELS_RGBA = 4,       /* R G B A */
  LB_PIXELS_CMYK = 5,       /* C M Y K, 0 = no ink */
  LB_PIXELS_CMYK_INVERTED = 6 /* Adobe's: 255 - C, ... , 255 - K */
} lb_pixel_layout;

/* An image at its stored size, as a codec hands it over: interleaved rows,
 * 8-bit samples, or 16-bit big-endian sample pairs when bits is 16. */
typedef struct lb_raw_image {
  uint8_t *samples; /* lb_alloc block */
  int32_t width;
  int32_t height;
  int32_t layout; /* an lb_pixel_layout */
  int32_t bits;   /* 8 or 16 */
} lb_raw_image;

/* Samples per pixel of a layout. */
int32_t lb_pixel_layout_samples(int32_t layout);

/* Refuses a header size the decoder will not allocate for: LB_EFORMAT when
 * a side is 0 or above LB_IMAGE_MAX_SIDE, or the pixel count is above
 * LB_IMAGE_MAX_PIXELS. `format` ("PNG", "JPEG") goes into the message. */
lb_status lb_image_check_header_size(const char *who, const char *name,
                                     const char *format, uint64_t width,
                                     uint64_t height);

/* Codecs. Probes fill *info; decoders fill *image (nothing is allocated on
 * failure). Errors are LB_EFORMAT naming `name`, or LB_ENOMEM. */
lb_status lb_png_probe(const char *who, const char *name, const uint8_t *data,
                       size_t size, lb_image_info *info);
lb_status lb_png_decode(const char *who, const char *name, const uint8_t *data,
                        size_t size, lb_raw_image *image);
lb_status lb_jpeg_probe(const char *who, const char *name, const uint8_t *data,
                        size_t size, lb_image_info *info);
lb_status lb_jpeg_decode(const char *who, const char *name,
                         const uint8_t *data, size_t size,
                         lb_raw_image *image);

/* Resizes `channels` planes of in_height x in_width floats to out_height x
 * out_width as torch's antialiased bilinear interpolation does. src and dst
 * must not overlap. Returns LB_ENOMEM (after recording a message starting
 * with who) when scratch memory cannot be had. */
lb_status lb_image_resize(const char *who, const float *src, int32_t channels,
                          int32_t in_height, int32_t in_width, float *dst,
                          int32_t out_height, int32_t out_width);

#endif /* LOSSBAL_DATA_IMAGE_CODEC_H */
