/*
 * PNG decoding with libpng, from memory.
 *
 * libpng reports errors by calling an error function that must not return;
 * ours records libpng's message and longjmps back to the setjmp in
 * png_run(). Everything that can be touched after the jump lives in a
 * png_job owned by the caller of png_run(), never in png_run()'s own locals,
 * so no local is left indeterminate by the jump.
 */
#include "image_codec.h"

#include "../core/core_internal.h"

#include <png.h>

#include <setjmp.h>
#include <stdio.h>
#include <string.h>

typedef struct png_job {
  const char *who;
  const char *name;
  const uint8_t *data;
  size_t size;
  size_t offset; /* read cursor */
  png_structp png;
  png_infop info;
  char message[200]; /* libpng's error */
  lb_status status;  /* set when the failure is ours, not libpng's */
  /* decoding only */
  uint8_t *samples;
  png_bytep *rows;
  lb_raw_image *image;
  lb_image_info header;
} png_job;

static void png_job_error(png_structp png, png_const_charp message) {
  png_job *job = png_get_error_ptr(png);
  snprintf(job->message, sizeof job->message, "%s", message);
  png_longjmp(png, 1);
}

/* Warnings concern data libpng could read past (bad ancillary chunks); a
 * library must not print them. */
static void png_job_warning(png_structp png, png_const_charp message) {
  (void)png;
  (void)message;
}

static void png_job_read(png_structp png, png_bytep out, size_t length) {
  png_job *job = png_get_io_ptr(png);
  if (length > job->size - job->offset)
    png_error(png, "unexpected end of data (truncated file)");
  memcpy(out, job->data + job->offset, length);
  job->offset += length;
}

static int32_t stored_channels(png_structp png, png_infop info) {
  int color_type = png_get_color_type(png, info);
  switch (color_type) {
    case PNG_COLOR_TYPE_GRAY: return 1;
    case PNG_COLOR_TYPE_GRAY_ALPHA: return 2;
    case PNG_COLOR_TYPE_RGB: return 3;
    case PNG_COLOR_TYPE_RGB_ALPHA: return 4;
    default: /* palette */
      return png_get_valid(png, info, PNG_INFO_tRNS) ? 4 : 3;
  }
}

/* Reads the chunks before the image data and checks the declared size. */
static void read_header(png_job *job) {
  png_set_read_fn(job->png, job, png_job_read);
  png_read_info(job->png, job->info);
  png_uint_32 width = png_get_image_width(job->png, job->info);
  png_uint_32 height = png_get_image_height(job->png, job->info);
  job->header.format = LB_IMAGE_PNG;
  job->header.width = (int32_t)(width > INT32_MAX ? INT32_MAX : width);
  job->header.height = (int32_t)(height > INT32_MAX ? INT32_MAX : height);
  job->header.channels = stored_channels(job->png, job->info);
  job->header.bit_depth = png_get_bit_depth(job->png, job->info);
  job->status = lb_image_check_header_size(job->who, job->name, "PNG", width,
                                           height);
}

/* Asks libpng for 8- or 16-bit samples of gray, gray + alpha, RGB or RGBA,
 * whatever the stored colour type, and returns the resulting layout. */
static int32_t request_expansion(png_job *job) {
  int color_type = png_get_color_type(job->png, job->info);
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(job->png);
  if (color_type == PNG_COLOR_TYPE_GRAY && job->header.bit_depth < 8)
    png_set_expand_gray_1_2_4_to_8(job->png);
  png_set_interlace_handling(job->png);
  png_read_update_info(job->png, job->info);
  switch (png_get_color_type(job->png, job->info)) {
    case PNG_COLOR_TYPE_GRAY: return LB_PIXELS_GRAY;
    case PNG_COLOR_TYPE_GRAY_ALPHA: return LB_PIXELS_GRAY_ALPHA;
    case PNG_COLOR_TYPE_RGB: return LB_PIXELS_RGB;
    case PNG_COLOR_TYPE_RGB_ALPHA: return LB_PIXELS_RGBA;
    default: return 0;
  }
}

/* The part of decoding that libpng may jump out of. Returns 0 when libpng
 * failed (job->message says why), 1 otherwise (job->status then says whether
 * our own checks passed). */
static int png_run(png_job *job) {
  if (setjmp(png_jmpbuf(job->png))) return 0;
  read_header(job);
  if (job->status != LB_OK || !job->image) return 1;

  int32_t layout = request_expansion(job);
  int bits = png_get_bit_depth(job->png, job->info);
  size_t width = (size_t)job->header.width, height = (size_t)job->header.height;
  size_t row_bytes = 0, total = 0;
  if (layout == 0 || (bits != 8 && bits != 16) ||
      !lb_mul_size(width * (size_t)(bits / 8),
                   (size_t)lb_pixel_layout_samples(layout), &row_bytes) ||
      png_get_rowbytes(job->png, job->info) != row_bytes ||
      !lb_mul_size(row_bytes, height, &total)) {
    job->status = lb_fail(LB_EFORMAT, "%s: '%s': unsupported PNG layout",
                          job->who, job->name);
    return 1;
  }
  job->samples = lb_alloc(total);
  job->rows = job->samples ? lb_alloc(height * sizeof *job->rows) : NULL;
  if (!job->rows) {
    job->status = lb_fail(LB_ENOMEM, "%s: out of memory decoding '%s'",
                          job->who, job->name);
    return 1;
  }
  for (size_t y = 0; y < height; y++)
    job->rows[y] = job->samples + y * row_bytes;
  png_read_image(job->png, job->rows);
  /* Reading on to IEND is what tells a complete file from a truncated one
   * whose pixel data happened to end at a chunk boundary. */
  png_read_end(job->png, NULL);

  job->image->samples = job->samples;
  job->image->width = job->header.width;
  job->image->height = job->header.height;
  job->image->layout = layout;
  job->image->bits = bits;
  job->samples = NULL;
  return 1;
}

/* Runs a probe (image NULL) or a decode over job. */
static lb_status png_job_execute(png_job *job) {
  job->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, job, png_job_error,
                                    png_job_warning);
  job->info = job->png ? png_create_info_struct(job->png) : NULL;
  if (!job->info) {
    png_destroy_read_struct(job->png ? &job->png : NULL, NULL, NULL);
    return lb_fail(LB_ENOMEM, "%s: out of memory starting the PNG reader for "
                   "'%s'", job->who, job->name);
  }
  int finished = png_run(job);
  png_destroy_read_struct(&job->png, &job->info, NULL);
  lb_free(job->rows);
  lb_free(job->samples);
  if (!finished)
    return lb_fail(LB_EFORMAT, "%s: '%s' is not a valid PNG image: %s",
                   job->who, job->name, job->message);
  return job->status;
}

lb_status lb_png_probe(const char *who, const char *name, const uint8_t *data,
                       size_t size, lb_image_info *info) {
  png_job job = {.who = who, .name = name, .data = data, .size = size};
  lb_status status = png_job_execute(&job);
  if (status == LB_OK) *info = job.header;
  return status;
}

lb_status lb_png_decode(const char *who, const char *name, const uint8_t *data,
                        size_t size, lb_raw_image *image) {
  lb_raw_image result = {0};
  png_job job = {.who = who, .name = name, .data = data, .size = size,
                 .image = &result};
  lb_status status = png_job_execute(&job);
  if (status == LB_OK) *image = result;
  return status;
}
