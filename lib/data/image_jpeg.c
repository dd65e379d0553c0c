/*
 * JPEG decoding with libjpeg-turbo, from memory.
 *
 * libjpeg's default error handler prints and calls exit(); ours records the
 * message and longjmps back to the setjmp in jpeg_run(). As in image_png.c,
 * all state that outlives the jump sits in a jpeg_job owned by the caller of
 * jpeg_run(). Warnings are silent but counted: libjpeg only warns about
 * corrupt or truncated entropy data (it pads a truncated file with a fake
 * end marker and goes on), and a decoder that returned such an image would
 * hand back garbage as if it were a picture.
 */
#include "image_codec.h"

#include "../core/core_internal.h"

#include <stdio.h>

#include <jerror.h>
#include <jpeglib.h>

#include <setjmp.h>
#include <string.h>

/* A progressive file may hold any number of scans, each re-reading the whole
 * coefficient buffer; real encoders write about ten. Far more is an attack
 * on decoding time, refused. */
#define JPEG_MAX_SCANS 1000

typedef struct jpeg_job {
  struct jpeg_error_mgr errors; /* first: libjpeg hands us &errors */
  struct jpeg_progress_mgr progress;
  jmp_buf jump;
  const char *who;
  const char *name;
  const uint8_t *data;
  size_t size;
  struct jpeg_decompress_struct cinfo;
  char message[JMSG_LENGTH_MAX]; /* the error, or the first warning */
  int warned;
  lb_status status; /* set when the failure is ours, not libjpeg's */
  /* decoding only */
  uint8_t *samples;
  lb_raw_image *image;
  lb_image_info header;
} jpeg_job;

static void jpeg_job_error_exit(j_common_ptr cinfo) {
  jpeg_job *job = (jpeg_job *)cinfo->err;
  cinfo->err->format_message(cinfo, job->message);
  longjmp(job->jump, 1);
}

static void jpeg_job_output_message(j_common_ptr cinfo) { (void)cinfo; }

/* Level -1 is a warning, higher levels are trace messages. */
static void jpeg_job_emit_message(j_common_ptr cinfo, int level) {
  jpeg_job *job = (jpeg_job *)cinfo->err;
  if (level >= 0) return;
  int code = cinfo->err->msg_code;
  /* These two say only that a header field has a value this libjpeg does
   * not know; the pixels are still decoded correctly. */
  if (code == JWRN_JFIF_MAJOR || code == JWRN_ADOBE_XFORM) return;
  cinfo->err->num_warnings++;
  if (!job->warned) cinfo->err->format_message(cinfo, job->message);
  job->warned = 1;
}

static void jpeg_job_progress(j_common_ptr cinfo) {
  if (!cinfo->is_decompressor) return;
  j_decompress_ptr d = (j_decompress_ptr)cinfo;
  if (d->input_scan_number > JPEG_MAX_SCANS) {
    jpeg_job *job = (jpeg_job *)cinfo->err;
    snprintf(job->message, sizeof job->message,
             "more than %d scans", JPEG_MAX_SCANS);
    longjmp(job->jump, 1);
  }
}

/* The layout libjpeg gives for a colour space, or 0 when unsupported. */
static int32_t layout_of(const struct jpeg_decompress_struct *cinfo) {
  switch (cinfo->jpeg_color_space) {
    case JCS_GRAYSCALE: return cinfo->num_components == 1 ? LB_PIXELS_GRAY : 0;
    case JCS_YCbCr:
    case JCS_RGB: return cinfo->num_components == 3 ? LB_PIXELS_RGB : 0;
    case JCS_CMYK:
    case JCS_YCCK:
      if (cinfo->num_components != 4) return 0;
      /* Photoshop, the main writer of CMYK JPEG, stores inverted samples and
       * marks its files with an Adobe segment; this is what Pillow and
       * browsers assume too. */
      return cinfo->saw_Adobe_marker ? LB_PIXELS_CMYK_INVERTED : LB_PIXELS_CMYK;
    default: return 0;
  }
}

static void read_header(jpeg_job *job) {
  struct jpeg_decompress_struct *cinfo = &job->cinfo;
  jpeg_mem_src(cinfo, job->data, (unsigned long)job->size);
  jpeg_read_header(cinfo, TRUE);
  job->header.format = LB_IMAGE_JPEG;
  job->header.width = (int32_t)cinfo->image_width;
  job->header.height = (int32_t)cinfo->image_height;
  job->header.channels = cinfo->num_components;
  job->header.bit_depth = cinfo->data_precision;
  job->status = lb_image_check_header_size(job->who, job->name, "JPEG",
                                           cinfo->image_width,
                                           cinfo->image_height);
  if (job->status == LB_OK && layout_of(cinfo) == 0)
    job->status = lb_fail(LB_EFORMAT,
                          "%s: '%s': unsupported JPEG colour space (%d "
                          "components)", job->who, job->name,
                          cinfo->num_components);
  if (job->status == LB_OK && job->warned)
    job->status = lb_fail(LB_EFORMAT, "%s: '%s' is not a valid JPEG image: %s",
                          job->who, job->name, job->message);
}

/* The part of decoding that libjpeg may jump out of. Returns 0 when libjpeg
 * failed (job->message says why), 1 otherwise (job->status then says whether
 * our own checks passed). */
static int jpeg_run(jpeg_job *job) {
  if (setjmp(job->jump)) return 0;
  struct jpeg_decompress_struct *cinfo = &job->cinfo;
  read_header(job);
  if (job->status != LB_OK || !job->image) return 1;

  int32_t layout = layout_of(cinfo);
  cinfo->out_color_space = layout == LB_PIXELS_GRAY  ? JCS_GRAYSCALE
                           : layout == LB_PIXELS_RGB ? JCS_RGB
                                                     : JCS_CMYK;
  cinfo->dct_method = JDCT_ISLOW;
  jpeg_start_decompress(cinfo);
  size_t width = cinfo->output_width, height = cinfo->output_height;
  size_t row_bytes = 0, total = 0;
  if (width != cinfo->image_width || height != cinfo->image_height ||
      cinfo->output_components != lb_pixel_layout_samples(layout) ||
      !lb_mul_size(width, (size_t)cinfo->output_components, &row_bytes) ||
      !lb_mul_size(row_bytes, height, &total)) {
    job->status = lb_fail(LB_EFORMAT, "%s: '%s': unsupported JPEG layout",
                          job->who, job->name);
    return 1;
  }
  job->samples = lb_alloc(total);
  if (!job->samples) {
    job->status = lb_fail(LB_ENOMEM, "%s: out of memory decoding '%s'",
                          job->who, job->name);
    return 1;
  }
  while (cinfo->output_scanline < cinfo->output_height) {
    JSAMPROW row = job->samples + (size_t)cinfo->output_scanline * row_bytes;
    if (jpeg_read_scanlines(cinfo, &row, 1) != 1) break;
  }
  /* Reads on to the end marker: a file cut after its last scanline is
   * caught here, as a warning. */
  jpeg_finish_decompress(cinfo);
  if (job->warned) {
    job->status = lb_fail(LB_EFORMAT, "%s: '%s' is not a valid JPEG image: %s",
                          job->who, job->name, job->message);
    return 1;
  }
  job->image->samples = job->samples;
  job->image->width = (int32_t)width;
  job->image->height = (int32_t)height;
  job->image->layout = layout;
  job->image->bits = 8;
  job->samples = NULL;
  return 1;
}

static lb_status jpeg_job_execute(jpeg_job *job) {
  job->cinfo.err = jpeg_std_error(&job->errors);
  job->errors.error_exit = jpeg_job_error_exit;
  job->errors.output_message = jpeg_job_output_message;
  job->errors.emit_message = jpeg_job_emit_message;
  /* jpeg_create_decompress can fail (out of memory) through error_exit. */
  if (setjmp(job->jump)) {
    /* libjpeg's memory manager may exist already; cinfo started zeroed, so
     * destroying is safe either way. */
    jpeg_destroy_decompress(&job->cinfo);
    return lb_fail(LB_ENOMEM, "%s: cannot start the JPEG reader for '%s': %s",
                   job->who, job->name, job->message);
  }
  jpeg_create_decompress(&job->cinfo);
  job->progress.progress_monitor = jpeg_job_progress;
  job->cinfo.progress = &job->progress;
  int finished = jpeg_run(job);
  jpeg_destroy_decompress(&job->cinfo);
  lb_free(job->samples);
  if (!finished)
    return lb_fail(LB_EFORMAT, "%s: '%s' is not a valid JPEG image: %s",
                   job->who, job->name, job->message);
  return job->status;
}

lb_status lb_jpeg_probe(const char *who, const char *name, const uint8_t *data,
                        size_t size, lb_image_info *info) {
  jpeg_job job = {.who = who, .name = name, .data = data, .size = size};
  lb_status status = jpeg_job_execute(&job);
  if (status == LB_OK) *info = job.header;
  return status;
}

lb_status lb_jpeg_decode(const char *who, const char *name,
                         const uint8_t *data, size_t size,
                         lb_raw_image *image) {
  lb_raw_image result = {0};
  jpeg_job job = {.who = who, .name = name, .data = data, .size = size,
                  .image = &result};
  lb_status status = jpeg_job_execute(&job);
  if (status == LB_OK) *image = result;
  return status;
}
