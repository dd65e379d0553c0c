/*
 * Test helpers that encode PNG and JPEG images with libpng and libjpeg, to
 * build inputs for the image decoder and image-folder tests.
 *
 * Pixels are interleaved rows, top row first. For PNG a sample is one
 * uint8_t holding 0 .. 2^bit_depth - 1 for bit depths 1 to 8 (the writer
 * packs low bit depths), or one native-endian uint16_t for bit depth 16.
 * The *_memory functions return a malloc()ed buffer for free(). Every
 * function returns 0 on success and -1 on failure (bad arguments, libpng or
 * libjpeg errors, I/O), and never prints or exits.
 */
#ifndef LOSSBAL_TESTS_IMAGE_WRITER_H
#define LOSSBAL_TESTS_IMAGE_WRITER_H

#include <stddef.h>
#include <stdint.h>

/* PNG flags. */
#define LBT_PNG_INTERLACED 1 /* Adam7 */

/* JPEG flags. */
#define LBT_JPEG_PROGRESSIVE 1 /* progressive instead of baseline */
#define LBT_JPEG_ADOBE 2 /* 4 channels: store Adobe's inverted CMYK with an
                            Adobe marker; without it CMYK is stored plain,
                            with no Adobe marker */
#define LBT_JPEG_YCCK 4  /* 4 channels: store as YCCK (implies the Adobe
                            marker and inverted samples) */
#define LBT_JPEG_RGB 8   /* 3 channels: store RGB without the YCbCr
                            transform */

/* A PNG of `channels` (1 gray, 2 gray + alpha, 3 RGB, 4 RGBA) samples per
 * pixel. Bit depths 1, 2 and 4 need channels 1; 8 and 16 take any. */
int lbt_png_memory(const void *pixels, int width, int height, int channels,
                   int bit_depth, int flags, uint8_t **out, size_t *out_size);
int lbt_write_png(const char *path, const void *pixels, int width, int height,
                  int channels, int bit_depth);

/* A palette PNG: `indices` are width * height palette indices (each below
 * num_colors, at most 2^bit_depth), `palette` num_colors RGB triples,
 * `alpha` NULL (no tRNS chunk) or num_colors alpha values. */
int lbt_png_palette_memory(const uint8_t *indices, int width, int height,
                           const uint8_t *palette, const uint8_t *alpha,
                           int num_colors, int bit_depth, int flags,
                           uint8_t **out, size_t *out_size);

/* A JPEG of 8-bit samples: channels 1 (gray), 3 (RGB, stored as YCbCr
 * unless LBT_JPEG_RGB) or 4 (CMYK, 0 = no ink; see LBT_JPEG_ADOBE);
 * quality 1 to 100. */
int lbt_jpeg_memory(const uint8_t *pixels, int width, int height,
                    int channels, int quality, int flags, uint8_t **out,
                    size_t *out_size);
int lbt_write_jpeg(const char *path, const uint8_t *pixels, int width,
                   int height, int channels, int quality);

/* Writes size bytes to path (created or truncated). */
int lbt_write_bytes(const char *path, const void *data, size_t size);

#endif /* LOSSBAL_TESTS_IMAGE_WRITER_H */
