/* PNG and JPEG encoders for tests; see image_writer.h. */
#include "image_writer.h"

#include <png.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include <setjmp.h>

/* ---- memory output ------------------------------------------------------- */

typedef struct growing_buffer {
  uint8_t *data;
  size_t size;
  size_t capacity;
  int failed;
} growing_buffer;

static void buffer_append(growing_buffer *b, const void *bytes, size_t count) {
  if (b->failed) return;
  if (count > b->capacity - b->size) {
    size_t capacity = b->capacity ? b->capacity : 4096;
    while (count > capacity - b->size) capacity *= 2;
    uint8_t *grown = realloc(b->data, capacity);
    if (!grown) {
      b->failed = 1;
      return;
    }
    b->data = grown;
    b->capacity = capacity;
  }
  memcpy(b->data + b->size, bytes, count);
  b->size += count;
}

int lbt_write_bytes(const char *path, const void *data, size_t size) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t written = size ? fwrite(data, 1, size, f) : 0;
  int closed = fclose(f);
  return written == size && closed == 0 ? 0 : -1;
}

/* ---- PNG ----------------------------------------------------------------- */

static void png_writer_error(png_structp png, png_const_charp message) {
  (void)message;
  png_longjmp(png, 1);
}

static void png_writer_warning(png_structp png, png_const_charp message) {
  (void)png;
  (void)message;
}

static void png_writer_write(png_structp png, png_bytep data, size_t length) {
  growing_buffer *b = png_get_io_ptr(png);
  buffer_append(b, data, length);
  if (b->failed) png_error(png, "out of memory");
}

static void png_writer_flush(png_structp png) { (void)png; }

/* What a PNG needs beyond the rows: its header fields and palette. */
typedef struct png_plan {
  int width, height, bit_depth, color_type, interlaced;
  const png_color *palette;
  int num_colors;
  const uint8_t *alpha;
  png_bytep *rows; /* packed rows, ready for libpng */
} png_plan;

/* The libpng part, apart so no local of the caller is changed between
 * setjmp and longjmp. */
static int png_encode(png_structp png, png_infop info, const png_plan *plan) {
  if (setjmp(png_jmpbuf(png))) return -1;
  png_set_IHDR(png, info, (png_uint_32)plan->width, (png_uint_32)plan->height,
               plan->bit_depth, plan->color_type,
               plan->interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (plan->palette)
    png_set_PLTE(png, info, plan->palette, plan->num_colors);
  if (plan->alpha)
    png_set_tRNS(png, info, plan->alpha, plan->num_colors, NULL);
  png_write_info(png, info);
  png_write_image(png, plan->rows);
  png_write_end(png, info);
  return 0;
}

static int png_run_plan(const png_plan *plan, uint8_t **out, size_t *out_size) {
  growing_buffer b = {0};
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL,
                                            png_writer_error,
                                            png_writer_warning);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  int result = -1;
  if (info) {
    png_set_write_fn(png, &b, png_writer_write, png_writer_flush);
    result = png_encode(png, info, plan);
  }
  png_destroy_write_struct(png ? &png : NULL, info ? &info : NULL);
  if (result != 0 || b.failed) {
    free(b.data);
    return -1;
  }
  *out = b.data;
  *out_size = b.size;
  return 0;
}

/* Packs samples of `bits` bits (1 to 16) into PNG row bytes (big-endian,
 * most significant bits first). */
static void pack_row(const void *pixels, size_t first, size_t count, int bits,
                     uint8_t *row) {
  if (bits == 16) {
    const uint16_t *in = (const uint16_t *)pixels + first;
    for (size_t i = 0; i < count; i++) {
      row[2 * i] = (uint8_t)(in[i] >> 8);
      row[2 * i + 1] = (uint8_t)in[i];
    }
    return;
  }
  const uint8_t *in = (const uint8_t *)pixels + first;
  if (bits == 8) {
    memcpy(row, in, count);
    return;
  }
  memset(row, 0, (count * (size_t)bits + 7) / 8);
  for (size_t i = 0; i < count; i++) {
    size_t bit = i * (size_t)bits;
    unsigned value = in[i] & ((1u << bits) - 1);
    row[bit / 8] |= (uint8_t)(value << (8 - bits - (int)(bit % 8)));
  }
}

static int png_with_rows(png_plan *plan, const void *pixels, int samples,
                         uint8_t **out, size_t *out_size) {
  size_t per_row = (size_t)plan->width * (size_t)samples;
  size_t row_bytes = (per_row * (size_t)plan->bit_depth + 7) / 8;
  uint8_t *packed = malloc(row_bytes * (size_t)plan->height);
  png_bytep *rows = malloc((size_t)plan->height * sizeof *rows);
  int result = -1;
  if (packed && rows) {
    for (int y = 0; y < plan->height; y++) {
      rows[y] = packed + (size_t)y * row_bytes;
      pack_row(pixels, (size_t)y * per_row, per_row, plan->bit_depth, rows[y]);
    }
    plan->rows = rows;
    result = png_run_plan(plan, out, out_size);
  }
  free(rows);
  free(packed);
  return result;
}

int lbt_png_memory(const void *pixels, int width, int height, int channels,
                   int bit_depth, int flags, uint8_t **out, size_t *out_size) {
  static const int color_types[5] = {0, PNG_COLOR_TYPE_GRAY,
                                     PNG_COLOR_TYPE_GRAY_ALPHA,
                                     PNG_COLOR_TYPE_RGB,
                                     PNG_COLOR_TYPE_RGB_ALPHA};
  if (!pixels || !out || !out_size || width < 1 || height < 1 ||
      channels < 1 || channels > 4)
    return -1;
  if (bit_depth != 8 && bit_depth != 16 &&
      !(channels == 1 && (bit_depth == 1 || bit_depth == 2 || bit_depth == 4)))
    return -1;
  png_plan plan = {.width = width, .height = height, .bit_depth = bit_depth,
                   .color_type = color_types[channels],
                   .interlaced = flags & LBT_PNG_INTERLACED};
  return png_with_rows(&plan, pixels, channels, out, out_size);
}

int lbt_png_palette_memory(const uint8_t *indices, int width, int height,
                           const uint8_t *palette, const uint8_t *alpha,
                           int num_colors, int bit_depth, int flags,
                           uint8_t **out, size_t *out_size) {
  if (!indices || !palette || !out || !out_size || width < 1 || height < 1 ||
      num_colors < 1 || num_colors > 256 ||
      (bit_depth != 1 && bit_depth != 2 && bit_depth != 4 && bit_depth != 8) ||
      num_colors > 1 << bit_depth)
    return -1;
  png_color colors[256];
  for (int i = 0; i < num_colors; i++) {
    colors[i].red = palette[3 * i];
    colors[i].green = palette[3 * i + 1];
    colors[i].blue = palette[3 * i + 2];
  }
  png_plan plan = {.width = width, .height = height, .bit_depth = bit_depth,
                   .color_type = PNG_COLOR_TYPE_PALETTE,
                   .interlaced = flags & LBT_PNG_INTERLACED,
                   .palette = colors, .num_colors = num_colors,
                   .alpha = alpha};
  return png_with_rows(&plan, indices, 1, out, out_size);
}

int lbt_write_png(const char *path, const void *pixels, int width, int height,
                  int channels, int bit_depth) {
  uint8_t *bytes = NULL;
  size_t size = 0;
  if (!path ||
      lbt_png_memory(pixels, width, height, channels, bit_depth, 0, &bytes,
                     &size) != 0)
    return -1;
  int result = lbt_write_bytes(path, bytes, size);
  free(bytes);
  return result;
}

/* ---- JPEG ---------------------------------------------------------------- */

typedef struct jpeg_writer_errors {
  struct jpeg_error_mgr pub; /* first: libjpeg hands us &pub */
  jmp_buf jump;
} jpeg_writer_errors;

static void jpeg_writer_error_exit(j_common_ptr cinfo) {
  longjmp(((jpeg_writer_errors *)cinfo->err)->jump, 1);
}

static void jpeg_writer_output_message(j_common_ptr cinfo) { (void)cinfo; }

typedef struct jpeg_plan {
  const uint8_t *pixels; /* samples as handed to libjpeg */
  int width, height, channels, quality, flags;
  unsigned char *buffer; /* jpeg_mem_dest's */
  unsigned long size;
} jpeg_plan;

static int jpeg_encode(struct jpeg_compress_struct *cinfo,
                       jpeg_writer_errors *errors, jpeg_plan *plan) {
  if (setjmp(errors->jump)) return -1;
  jpeg_mem_dest(cinfo, &plan->buffer, &plan->size);
  cinfo->image_width = (JDIMENSION)plan->width;
  cinfo->image_height = (JDIMENSION)plan->height;
  cinfo->input_components = plan->channels;
  cinfo->in_color_space = plan->channels == 1   ? JCS_GRAYSCALE
                          : plan->channels == 3 ? JCS_RGB
                                                : JCS_CMYK;
  jpeg_set_defaults(cinfo);
  if (plan->channels == 3 && (plan->flags & LBT_JPEG_RGB))
    jpeg_set_colorspace(cinfo, JCS_RGB);
  if (plan->channels == 4) {
    jpeg_set_colorspace(cinfo, plan->flags & LBT_JPEG_YCCK ? JCS_YCCK
                                                           : JCS_CMYK);
    cinfo->write_Adobe_marker =
        (plan->flags & (LBT_JPEG_ADOBE | LBT_JPEG_YCCK)) ? TRUE : FALSE;
  }
  jpeg_set_quality(cinfo, plan->quality, TRUE);
  if (plan->flags & LBT_JPEG_PROGRESSIVE) jpeg_simple_progression(cinfo);
  jpeg_start_compress(cinfo, TRUE);
  size_t stride = (size_t)plan->width * (size_t)plan->channels;
  while (cinfo->next_scanline < cinfo->image_height) {
    JSAMPROW row = (JSAMPROW)(plan->pixels + cinfo->next_scanline * stride);
    jpeg_write_scanlines(cinfo, &row, 1);
  }
  jpeg_finish_compress(cinfo);
  return 0;
}

int lbt_jpeg_memory(const uint8_t *pixels, int width, int height,
                    int channels, int quality, int flags, uint8_t **out,
                    size_t *out_size) {
  if (!pixels || !out || !out_size || width < 1 || height < 1 ||
      (channels != 1 && channels != 3 && channels != 4) || quality < 1 ||
      quality > 100)
    return -1;
  size_t count = (size_t)width * (size_t)height * (size_t)channels;
  uint8_t *inverted = NULL;
  /* Adobe's CMYK stores 255 - value; libjpeg writes samples as given. */
  if (channels == 4 && (flags & (LBT_JPEG_ADOBE | LBT_JPEG_YCCK))) {
    inverted = malloc(count);
    if (!inverted) return -1;
    for (size_t i = 0; i < count; i++) inverted[i] = (uint8_t)(255 - pixels[i]);
  }
  jpeg_plan plan = {.pixels = inverted ? inverted : pixels, .width = width,
                    .height = height, .channels = channels,
                    .quality = quality, .flags = flags};
  struct jpeg_compress_struct cinfo;
  jpeg_writer_errors errors;
  cinfo.err = jpeg_std_error(&errors.pub);
  errors.pub.error_exit = jpeg_writer_error_exit;
  errors.pub.output_message = jpeg_writer_output_message;
  jpeg_create_compress(&cinfo);
  int result = jpeg_encode(&cinfo, &errors, &plan);
  jpeg_destroy_compress(&cinfo);
  free(inverted);
  /* After a failure plan.buffer may be stale: jpeg_mem_dest hands its
   * buffer over only when compression finishes. */
  if (result != 0) return -1;
  *out = plan.buffer;
  *out_size = plan.size;
  return 0;
}

int lbt_write_jpeg(const char *path, const uint8_t *pixels, int width,
                   int height, int channels, int quality) {
  uint8_t *bytes = NULL;
  size_t size = 0;
  if (!path ||
      lbt_jpeg_memory(pixels, width, height, channels, quality, 0, &bytes,
                      &size) != 0)
    return -1;
  int result = lbt_write_bytes(path, bytes, size);
  free(bytes);
  return result;
}
