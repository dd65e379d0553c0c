/*
 * Image decoding inside the library: the pieces the public lb_image_*
 * functions and the folder loader share. Never installed.
 */
#ifndef LOSSBAL_DATA_IMAGE_INTERNAL_H
#define LOSSBAL_DATA_IMAGE_INTERNAL_H

#include "lossbal/data.h"

#include <stddef.h>
#include <stdint.h>

/* The largest encoded image file read: 1 GiB. */
#define LB_IMAGE_MAX_FILE_BYTES ((size_t)1 << 30)

/* Reads the header of the encoded image in data[0, size). `name` (a path, or
 * "<memory>") goes into error messages, which start with `who`. */
lb_status lb_image_probe_bytes(const char *who, const char *name,
                               const uint8_t *data, size_t size,
                               lb_image_info *info);

/* Decodes, converts to `channels` (1, 3, or 0 for as stored) and resizes to
 * height x width (both 0: as stored). On success *pixels is a new lb_alloc
 * block of out_channels * out_height * out_width floats in [0, 1], CHW.
 * On failure nothing is allocated and the message names `name`. Safe to
 * call from several threads at once. */
lb_status lb_image_decode_bytes(const char *who, const char *name,
                                const uint8_t *data, size_t size,
                                int32_t channels, int32_t height,
                                int32_t width, float **pixels,
                                int32_t *out_channels, int32_t *out_height,
                                int32_t *out_width);

#endif /* LOSSBAL_DATA_IMAGE_INTERNAL_H */
