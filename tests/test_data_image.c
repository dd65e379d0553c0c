/* Tests of PNG and JPEG decoding (include/lossbal/data.h, "images"): every
 * PNG and JPEG kind written by tests/image_writer.c read back, channel
 * conversion, probing, resizing against PyTorch's fixtures, truncated,
 * corrupt and hostile input, files, arguments, allocation failures and
 * concurrent use. */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/core_internal.h"
#include "data/image_internal.h"
#include "image_writer.h"
#include "lossbal/data.h"
#include "lossbal/tensor.h"
#include "test_support.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MEMORY "<memory>"

/* An output pointer value no failing call may overwrite. */
#define UNTOUCHED ((lb_tensor *)0x1)

/* ---- helpers ------------------------------------------------------------- */

static void assert_error_mentions(const char *fragment) {
  if (strstr(lb_last_error(), fragment) == NULL)
    fail_msg("lb_last_error() is \"%s\", expected it to mention \"%s\"",
             lb_last_error(), fragment);
}

static void assert_error_starts_with(const char *who) {
  if (strncmp(lb_last_error(), who, strlen(who)) != 0)
    fail_msg("lb_last_error() is \"%s\", expected it to start with \"%s\"",
             lb_last_error(), who);
}

/* An encoded image (malloc()ed by the writer). */
typedef struct encoded {
  uint8_t *bytes;
  size_t size;
} encoded;

/* A test pattern that uses the whole 0..255 range, differs per channel and
 * has no structure a codec bug could hide in. */
static uint8_t *noisy_pixels(int width, int height, int channels) {
  uint8_t *p = malloc((size_t)width * (size_t)height * (size_t)channels);
  assert_non_null(p);
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      for (int c = 0; c < channels; c++)
        p[((size_t)y * (size_t)width + (size_t)x) * (size_t)channels +
          (size_t)c] = (uint8_t)((x * 37 + y * 91 + c * 53 + x * y * 7) % 256);
  return p;
}

/* A smooth pattern, which JPEG at quality 100 keeps within a few levels. */
static uint8_t *smooth_pixels(int width, int height, int channels) {
  uint8_t *p = malloc((size_t)width * (size_t)height * (size_t)channels);
  assert_non_null(p);
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      for (int c = 0; c < channels; c++)
        p[((size_t)y * (size_t)width + (size_t)x) * (size_t)channels +
          (size_t)c] = (uint8_t)(20 + 150 * x / width + 50 * y / height +
                                 10 * c);
  return p;
}

static encoded png_of(const void *pixels, int width, int height, int channels,
                      int bit_depth, int flags) {
  encoded e = {0};
  assert_int_equal(lbt_png_memory(pixels, width, height, channels, bit_depth,
                                  flags, &e.bytes, &e.size),
                   0);
  return e;
}

static encoded jpeg_of(const uint8_t *pixels, int width, int height,
                       int channels, int flags) {
  encoded e = {0};
  assert_int_equal(lbt_jpeg_memory(pixels, width, height, channels, 100, flags,
                                   &e.bytes, &e.size),
                   0);
  return e;
}

/* Decodes e and checks the result's shape. */
static lb_tensor *decode(encoded e, int32_t channels, int32_t height,
                         int32_t width, int64_t want_c, int64_t want_h,
                         int64_t want_w) {
  lb_tensor *t = NULL;
  lb_status status =
      lb_image_decode_memory(e.bytes, e.size, channels, height, width, &t);
  if (status != LB_OK) fail_msg("decode failed: %s", lb_last_error());
  assert_int_equal(lb_tensor_ndim(t), 3);
  assert_int_equal(lb_tensor_dim(t, 0), want_c);
  assert_int_equal(lb_tensor_dim(t, 1), want_h);
  assert_int_equal(lb_tensor_dim(t, 2), want_w);
  return t;
}

/* The decoded value of channel c at (x, y). */
static float at(const lb_tensor *t, int64_t c, int64_t y, int64_t x) {
  int64_t h = lb_tensor_dim(t, 1), w = lb_tensor_dim(t, 2);
  return lb_tensor_data_const(t)[(c * h + y) * w + x];
}

/* Asserts t holds interleaved 8-bit `pixels` (taking channel `first` and
 * the next channels of each pixel of `stride`) divided by 255 exactly. */
static void assert_planes_equal_u8(const lb_tensor *t, const uint8_t *pixels,
                                   int stride) {
  int64_t c_count = lb_tensor_dim(t, 0), h = lb_tensor_dim(t, 1),
          w = lb_tensor_dim(t, 2);
  for (int64_t c = 0; c < c_count; c++)
    for (int64_t y = 0; y < h; y++)
      for (int64_t x = 0; x < w; x++) {
        float want = pixels[(y * w + x) * stride + c] / 255.0f;
        if (fabsf(at(t, c, y, x) - want) > 1e-6f)
          fail_msg("channel %lld (%lld, %lld): %g, want %g", (long long)c,
                   (long long)x, (long long)y, at(t, c, y, x), want);
      }
}

/* Mean and largest absolute difference between t and expected values
 * computed by `want(c, y, x)` from the test's context. */
typedef float (*expected_fn)(const void *context, int64_t c, int64_t y,
                             int64_t x);

static void assert_close_on_average(const lb_tensor *t, expected_fn want,
                                    const void *context, double mean_limit,
                                    double max_limit) {
  int64_t c_count = lb_tensor_dim(t, 0), h = lb_tensor_dim(t, 1),
          w = lb_tensor_dim(t, 2);
  double total = 0, largest = 0;
  for (int64_t c = 0; c < c_count; c++)
    for (int64_t y = 0; y < h; y++)
      for (int64_t x = 0; x < w; x++) {
        double d = fabs((double)at(t, c, y, x) - want(context, c, y, x));
        total += d;
        if (d > largest) largest = d;
      }
  double mean = total / (double)(c_count * h * w);
  if (mean > mean_limit || largest > max_limit)
    fail_msg("mean abs error %g (limit %g), max %g (limit %g)", mean,
             mean_limit, largest, max_limit);
}

typedef struct interleaved {
  const uint8_t *pixels;
  int width, channels;
} interleaved;

static float interleaved_value(const void *context, int64_t c, int64_t y,
                               int64_t x) {
  const interleaved *im = context;
  return im->pixels[(y * im->width + x) * im->channels + c] / 255.0f;
}

static float luma(float r, float g, float b) {
  return 0.299f * r + 0.587f * g + 0.114f * b;
}

/* A temporary directory, removed with its files by remove_dir(). */
static char *make_temp_dir(void) {
  char *dir = strdup("/tmp/lb_test_image_XXXXXX");
  assert_non_null(dir);
  assert_non_null(mkdtemp(dir));
  return dir;
}

static char *path_in(const char *dir, const char *name) {
  size_t size = strlen(dir) + strlen(name) + 2;
  char *path = malloc(size);
  assert_non_null(path);
  snprintf(path, size, "%s/%s", dir, name);
  return path;
}

/* ---- PNG round trips ----------------------------------------------------- */

static void test_png_gray_8bit_reads_back_exactly(void **state) {
  (void)state;
  uint8_t *pixels = noisy_pixels(7, 5, 1);
  encoded e = png_of(pixels, 7, 5, 1, 8, 0);
  lb_tensor *t = decode(e, 0, 0, 0, 1, 5, 7);
  assert_planes_equal_u8(t, pixels, 1);
  lb_tensor_free(t);
  free(e.bytes);
  free(pixels);
}

static void test_png_rgb_8bit_reads_back_exactly(void **state) {
  (void)state;
  uint8_t *pixels = noisy_pixels(7, 5, 3);
  encoded e = png_of(pixels, 7, 5, 3, 8, 0);
  lb_tensor *t = decode(e, 0, 0, 0, 3, 5, 7);
  assert_planes_equal_u8(t, pixels, 3);
  lb_tensor_free(t);
  free(e.bytes);
  free(pixels);
}

static void test_png_rgba_drops_alpha(void **state) {
  (void)state;
  uint8_t *pixels = noisy_pixels(7, 5, 4);
  encoded e = png_of(pixels, 7, 5, 4, 8, 0);
  lb_tensor *t = decode(e, 0, 0, 0, 3, 5, 7);
  assert_planes_equal_u8(t, pixels, 4);
  lb_tensor_free(t);
  free(e.bytes);
  free(pixels);
}

static void test_png_gray_alpha_is_gray_as_stored(void **state) {
  (void)state;
  uint8_t *pixels = noisy_pixels(6, 4, 2);
  encoded e = png_of(pixels, 6, 4, 2, 8, 0);
  lb_tensor *t = decode(e, 0, 0, 0, 1, 4, 6);
  assert_planes_equal_u8(t, pixels, 2);
  lb_tensor_free(t);
  free(e.bytes);
  free(pixels);
}

/* 16-bit samples, native uint16_t, spread over the whole range. */
static uint16_t *pixels16(int width, int height, int channels) {
  size_t count = (size_t)width * (size_t)height * (size_t)channels;
  uint16_t *p = malloc(count * sizeof *p);
  assert_non_null(p);
  for (size_t i = 0; i < count; i++)
    p[i] = (uint16_t)((i * 40503u + 17u) % 65536u);
  p[0] = 65535;
  if (count > 1) p[1] = 1; /* below 1/255: lost if stripped to 8 bits */
  return p;
}

static void assert_planes_equal_u16(const lb_tensor *t, const uint16_t *pixels,
                                    int stride) {
  int64_t c_count = lb_tensor_dim(t, 0), h = lb_tensor_dim(t, 1),
          w = lb_tensor_dim(t, 2);
  for (int64_t c = 0; c < c_count; c++)
    for (int64_t y = 0; y < h; y++)
      for (int64_t x = 0; x < w; x++) {
        float want = pixels[(y * w + x) * stride + c] / 65535.0f;
        if (fabsf(at(t, c, y, x) - want) > 1e-7f)
          fail_msg("channel %lld (%lld, %lld): %.9g, want %.9g", (long long)c,
                   (long long)x, (long long)y, at(t, c, y, x), want);
      }
}

static void test_png_16bit_keeps_full_precision(void **state) {
  (void)state;
  for (int channels = 1; channels <= 4; channels++) {
    uint16_t *pixels = pixels16(5, 3, channels);
    encoded e = png_of(pixels, 5, 3, channels, 16, 0);
    lb_tensor *t = decode(e, 0, 0, 0, channels <= 2 ? 1 : 3, 3, 5);
    assert_planes_equal_u16(t, pixels, channels);
    lb_tensor_free(t);
    free(e.bytes);
    free(pixels);
  }
}

static void test_png_interlaced_reads_back_exactly(void **state) {
  (void)state;
  /* 13 x 11 has partial Adam7 blocks on both axes. */
  uint8_t *pixels = noisy_pixels(13, 11, 3);
  encoded e = png_of(pixels, 13, 11, 3, 8, LBT_PNG_INTERLACED);
  lb_tensor *t = decode(e, 0, 0, 0, 3, 11, 13);
  assert_planes_equal_u8(t, pixels, 3);
  lb_tensor_free(t);
  free(e.bytes);
  free(pixels);

  uint16_t *deep = pixels16(9, 10, 1);
  e = png_of(deep, 9, 10, 1, 16, LBT_PNG_INTERLACED);
  t = decode(e, 0, 0, 0, 1, 10, 9);
  assert_planes_equal_u16(t, deep, 1);
  lb_tensor_free(t);
  free(e.bytes);
  free(deep);
}

static void test_png_low_bit_gray_scales_to_full_range(void **state) {
  (void)state;
  const int depths[3] = {1, 2, 4};
  for (int d = 0; d < 3; d++) {
    int bits = depths[d], top = (1 << bits) - 1;
    /* 11 columns: rows end inside a byte for every depth. */
    uint8_t pixels[11 * 3];
    for (int i = 0; i < 11 * 3; i++)
      pixels[i] = (uint8_t)((i * 5 + 1) % (top + 1));
    for (int flags = 0; flags <= LBT_PNG_INTERLACED; flags++) {
      encoded e = png_of(pixels, 11, 3, 1, bits, flags);
      lb_tensor *t = decode(e, 0, 0, 0, 1, 3, 11);
      for (int i = 0; i < 11 * 3; i++)
        assert_float_equal(at(t, 0, i / 11, i % 11),
                           (float)pixels[i] / (float)top, 1e-6);
      lb_tensor_free(t);
      free(e.bytes);
    }
  }
}

static const uint8_t test_palette[4 * 3] = {255, 0, 0, 0, 128, 255,
                                            10, 20, 30, 200, 200, 200};

static void assert_palette_decoded(const lb_tensor *t, const uint8_t *indices,
                                   int count) {
  for (int i = 0; i < count; i++)
    for (int c = 0; c < 3; c++)
      assert_float_equal(lb_tensor_data_const(t)[c * count + i],
                         test_palette[3 * indices[i] + c] / 255.0f, 1e-6);
}

static void test_png_palette_expands_to_rgb(void **state) {
  (void)state;
  uint8_t indices[7 * 5];
  for (int i = 0; i < 7 * 5; i++) indices[i] = (uint8_t)((i * 3 + i / 7) % 4);
  const uint8_t alpha[4] = {0, 255, 128, 7};
  const int depths[3] = {2, 4, 8};
  for (int d = 0; d < 3; d++)
    for (int with_alpha = 0; with_alpha <= 1; with_alpha++) {
      encoded e = {0};
      assert_int_equal(lbt_png_palette_memory(indices, 7, 5, test_palette,
                                              with_alpha ? alpha : NULL, 4,
                                              depths[d], 0, &e.bytes, &e.size),
                       0);
      lb_image_info info;
      assert_int_equal(lb_image_probe_memory(e.bytes, e.size, &info), LB_OK);
      assert_int_equal(info.channels, with_alpha ? 4 : 3);
      assert_int_equal(info.bit_depth, depths[d]);
      lb_tensor *t = decode(e, 0, 0, 0, 3, 5, 7);
      assert_palette_decoded(t, indices, 7 * 5);
      lb_tensor_free(t);
      free(e.bytes);
    }
}

static void test_png_odd_sizes_read_back(void **state) {
  (void)state;
  const int sizes[4][2] = {{1, 1}, {1, 13}, {13, 1}, {3, 2}};
  for (int s = 0; s < 4; s++) {
    int w = sizes[s][0], h = sizes[s][1];
    uint8_t *pixels = noisy_pixels(w, h, 3);
    for (int flags = 0; flags <= LBT_PNG_INTERLACED; flags++) {
      encoded e = png_of(pixels, w, h, 3, 8, flags);
      lb_tensor *t = decode(e, 0, 0, 0, 3, h, w);
      assert_planes_equal_u8(t, pixels, 3);
      lb_tensor_free(t);
      free(e.bytes);
    }
    free(pixels);
  }
}

/* ---- JPEG round trips ---------------------------------------------------- */

static void assert_jpeg_close(int width, int height, int channels, int flags,
                              int32_t want_channels) {
  uint8_t *pixels = smooth_pixels(width, height, channels);
  encoded e = jpeg_of(pixels, width, height, channels, flags);
  lb_tensor *t = decode(e, 0, 0, 0, want_channels, height, width);
  interleaved im = {pixels, width, channels};
  assert_close_on_average(t, interleaved_value, &im, 0.01, 0.06);
  lb_tensor_free(t);
  free(e.bytes);
  free(pixels);
}

static void test_jpeg_baseline_rgb_is_close(void **state) {
  (void)state;
  assert_jpeg_close(32, 24, 3, 0, 3);
  assert_jpeg_close(7, 5, 3, 0, 3);
}

static void test_jpeg_progressive_rgb_is_close(void **state) {
  (void)state;
  assert_jpeg_close(33, 17, 3, LBT_JPEG_PROGRESSIVE, 3);
}

static void test_jpeg_gray_is_close(void **state) {
  (void)state;
  assert_jpeg_close(19, 9, 1, 0, 1);
  assert_jpeg_close(19, 9, 1, LBT_JPEG_PROGRESSIVE, 1);
}

static void test_jpeg_rgb_without_ycbcr_is_close(void **state) {
  (void)state;
  assert_jpeg_close(16, 16, 3, LBT_JPEG_RGB, 3);
}

static void test_jpeg_odd_sizes_decode(void **state) {
  (void)state;
  assert_jpeg_close(1, 1, 3, 0, 3);
  assert_jpeg_close(1, 13, 3, 0, 3);
  assert_jpeg_close(13, 1, 1, LBT_JPEG_PROGRESSIVE, 1);
}

typedef struct cmyk_image {
  const uint8_t *cmyk;
  int width;
  int gray; /* compare with the luma of the colour */
} cmyk_image;

/* R = (1 - C)(1 - K), G and B likewise. */
static float cmyk_value(const void *context, int64_t c, int64_t y, int64_t x) {
  const cmyk_image *im = context;
  const uint8_t *p = im->cmyk + (y * im->width + x) * 4;
  float k = 1.0f - p[3] / 255.0f;
  float rgb[3];
  for (int i = 0; i < 3; i++) rgb[i] = (1.0f - p[i] / 255.0f) * k;
  return im->gray ? luma(rgb[0], rgb[1], rgb[2]) : rgb[c];
}

static void test_jpeg_cmyk_converts_to_rgb(void **state) {
  (void)state;
  /* plain CMYK, Adobe's inverted CMYK, YCCK (inverted too) */
  const int kinds[4] = {0, LBT_JPEG_ADOBE, LBT_JPEG_YCCK,
                        LBT_JPEG_ADOBE | LBT_JPEG_PROGRESSIVE};
  uint8_t *cmyk = smooth_pixels(20, 12, 4);
  for (int k = 0; k < 4; k++) {
    encoded e = jpeg_of(cmyk, 20, 12, 4, kinds[k]);
    lb_image_info info;
    assert_int_equal(lb_image_probe_memory(e.bytes, e.size, &info), LB_OK);
    assert_int_equal(info.channels, 4);
    cmyk_image im = {cmyk, 20, 0};
    lb_tensor *t = decode(e, 0, 0, 0, 3, 12, 20);
    assert_close_on_average(t, cmyk_value, &im, 0.01, 0.06);
    lb_tensor_free(t);
    im.gray = 1;
    t = decode(e, 1, 0, 0, 1, 12, 20);
    assert_close_on_average(t, cmyk_value, &im, 0.01, 0.06);
    lb_tensor_free(t);
    free(e.bytes);
  }
  free(cmyk);
}

/* ---- channel conversion -------------------------------------------------- */

/* 8-bit colour becomes gray exactly as Pillow's convert("L"): the 601
 * weights in 16-bit fixed point, rounded, on the bytes. */
static uint8_t pillow_luma(const uint8_t *rgb) {
  return (uint8_t)((19595u * rgb[0] + 38470u * rgb[1] + 7471u * rgb[2] +
                    0x8000u) >> 16);
}

static void test_rgb_to_gray_uses_601_luma(void **state) {
  (void)state;
  uint8_t *pixels = noisy_pixels(7, 5, 3);
  encoded e = png_of(pixels, 7, 5, 3, 8, 0);
  lb_tensor *t = decode(e, 1, 0, 0, 1, 5, 7);
  for (int i = 0; i < 35; i++)
    assert_float_equal(lb_tensor_data_const(t)[i],
                       pillow_luma(pixels + 3 * i) / 255.0f, 1e-7);
  lb_tensor_free(t);
  free(e.bytes);

  /* Pillow's values for the primaries, and a colour where the fixed point
   * and float weights round differently (float gives 22). */
  const uint8_t colours[12] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 0, 4, 168};
  e = png_of(colours, 4, 1, 3, 8, 0);
  t = decode(e, 1, 0, 0, 1, 1, 4);
  assert_float_equal(at(t, 0, 0, 0), 76 / 255.0f, 1e-7);
  assert_float_equal(at(t, 0, 0, 1), 150 / 255.0f, 1e-7);
  assert_float_equal(at(t, 0, 0, 2), 29 / 255.0f, 1e-7);
  assert_float_equal(at(t, 0, 0, 3), 21 / 255.0f, 1e-7);
  lb_tensor_free(t);
  free(e.bytes);
  free(pixels);

  /* 16-bit colour keeps its precision: the weights in float. */
  uint16_t deep[6] = {65535, 0, 0, 1000, 40000, 9};
  e = png_of(deep, 2, 1, 3, 16, 0);
  t = decode(e, 1, 0, 0, 1, 1, 2);
  assert_float_equal(at(t, 0, 0, 0), 0.299f, 1e-6);
  assert_float_equal(at(t, 0, 0, 1),
                     luma(1000 / 65535.0f, 40000 / 65535.0f, 9 / 65535.0f),
                     1e-6);
  lb_tensor_free(t);
  free(e.bytes);
}

static void test_gray_to_rgb_repeats_the_sample(void **state) {
  (void)state;
  uint8_t *pixels = noisy_pixels(7, 5, 2);
  for (int channels = 1; channels <= 2; channels++) {
    encoded e = png_of(pixels, 7, 5, channels, 8, 0);
    lb_tensor *t = decode(e, 3, 0, 0, 3, 5, 7);
    for (int64_t y = 0; y < 5; y++)
      for (int64_t x = 0; x < 7; x++)
        for (int64_t c = 0; c < 3; c++)
          assert_float_equal(at(t, c, y, x),
                             pixels[(y * 7 + x) * channels] / 255.0f, 1e-7);
    lb_tensor_free(t);
    free(e.bytes);
  }
  free(pixels);
}

static void test_gray_jpeg_to_rgb_has_equal_channels(void **state) {
  (void)state;
  uint8_t *pixels = smooth_pixels(9, 8, 1);
  encoded e = jpeg_of(pixels, 9, 8, 1, 0);
  lb_tensor *t = decode(e, 3, 0, 0, 3, 8, 9);
  for (int64_t i = 0; i < 72; i++) {
    const float *d = lb_tensor_data_const(t);
    assert_float_equal(d[i], d[72 + i], 0.0);
    assert_float_equal(d[i], d[144 + i], 0.0);
  }
  lb_tensor_free(t);
  free(e.bytes);
  free(pixels);
}

/* ---- probing ------------------------------------------------------------- */

static void assert_info(const encoded e, int32_t format, int32_t width,
                        int32_t height, int32_t channels, int32_t bit_depth) {
  lb_image_info info;
  memset(&info, 0xab, sizeof info);
  assert_int_equal(lb_image_probe_memory(e.bytes, e.size, &info), LB_OK);
  assert_int_equal(info.format, format);
  assert_int_equal(info.width, width);
  assert_int_equal(info.height, height);
  assert_int_equal(info.channels, channels);
  assert_int_equal(info.bit_depth, bit_depth);
}

static void test_probe_reports_the_stored_header(void **state) {
  (void)state;
  uint8_t *pixels = noisy_pixels(11, 6, 4);
  uint16_t *deep = pixels16(11, 6, 4);
  for (int channels = 1; channels <= 4; channels++) {
    encoded e = png_of(pixels, 11, 6, channels, 8, 0);
    assert_info(e, LB_IMAGE_PNG, 11, 6, channels, 8);
    free(e.bytes);
    e = png_of(deep, 11, 6, channels, 16, LBT_PNG_INTERLACED);
    assert_info(e, LB_IMAGE_PNG, 11, 6, channels, 16);
    free(e.bytes);
  }
  encoded e = png_of(pixels, 11, 6, 1, 2, 0);
  assert_info(e, LB_IMAGE_PNG, 11, 6, 1, 2);
  free(e.bytes);
  e = jpeg_of(pixels, 11, 6, 1, 0);
  assert_info(e, LB_IMAGE_JPEG, 11, 6, 1, 8);
  free(e.bytes);
  e = jpeg_of(pixels, 11, 6, 3, LBT_JPEG_PROGRESSIVE);
  assert_info(e, LB_IMAGE_JPEG, 11, 6, 3, 8);
  free(e.bytes);
  e = jpeg_of(pixels, 11, 6, 4, LBT_JPEG_ADOBE);
  assert_info(e, LB_IMAGE_JPEG, 11, 6, 4, 8);
  free(e.bytes);
  free(deep);
  free(pixels);
}

static void test_probe_and_decode_files(void **state) {
  (void)state;
  char *dir = make_temp_dir();
  char *png_path = path_in(dir, "picture.jpg"); /* the name does not matter */
  char *jpeg_path = path_in(dir, "photo.png");
  uint8_t *pixels = noisy_pixels(7, 5, 3);
  assert_int_equal(lbt_write_png(png_path, pixels, 7, 5, 3, 8), 0);
  assert_int_equal(lbt_write_jpeg(jpeg_path, pixels, 7, 5, 3, 90), 0);

  lb_image_info info;
  assert_int_equal(lb_image_probe_file(png_path, &info), LB_OK);
  assert_int_equal(info.format, LB_IMAGE_PNG);
  assert_int_equal(lb_image_probe_file(jpeg_path, &info), LB_OK);
  assert_int_equal(info.format, LB_IMAGE_JPEG);
  assert_int_equal(info.width, 7);
  assert_int_equal(info.height, 5);

  lb_tensor *t = NULL;
  assert_int_equal(lb_image_decode_file(png_path, 0, 0, 0, &t), LB_OK);
  assert_planes_equal_u8(t, pixels, 3);
  lb_tensor_free(t);
  assert_int_equal(lb_image_decode_file(jpeg_path, 1, 4, 6, &t), LB_OK);
  assert_int_equal(lb_tensor_dim(t, 0), 1);
  assert_int_equal(lb_tensor_dim(t, 1), 4);
  assert_int_equal(lb_tensor_dim(t, 2), 6);
  lb_tensor_free(t);

  unlink(png_path);
  unlink(jpeg_path);
  rmdir(dir);
  free(pixels);
  free(png_path);
  free(jpeg_path);
  free(dir);
}

/* ---- resizing against PyTorch -------------------------------------------- */

typedef struct fixture {
  int channels, in_h, in_w, out_h, out_w;
  uint8_t *input;  /* CHW */
  float *expected; /* CHW */
} fixture;

static fixture read_fixture(const char *name) {
  char path[512];
  snprintf(path, sizeof path, "%s/images/%s", LOSSBAL_TEST_DATA_DIR, name);
  FILE *f = fopen(path, "r");
  if (!f) fail_msg("cannot open fixture %s", path);
  char comment[512];
  assert_non_null(fgets(comment, sizeof comment, f));
  assert_int_equal(comment[0], '#');
  fixture fx = {0};
  assert_int_equal(fscanf(f, "%d %d %d %d %d", &fx.channels, &fx.in_h,
                          &fx.in_w, &fx.out_h, &fx.out_w),
                   5);
  size_t in_count = (size_t)fx.channels * (size_t)fx.in_h * (size_t)fx.in_w;
  size_t out_count = (size_t)fx.channels * (size_t)fx.out_h * (size_t)fx.out_w;
  fx.input = malloc(in_count);
  fx.expected = malloc(out_count * sizeof *fx.expected);
  assert_non_null(fx.input);
  assert_non_null(fx.expected);
  for (size_t i = 0; i < in_count; i++) {
    unsigned v;
    assert_int_equal(fscanf(f, "%u", &v), 1);
    fx.input[i] = (uint8_t)v;
  }
  for (size_t i = 0; i < out_count; i++)
    assert_int_equal(fscanf(f, "%f", &fx.expected[i]), 1);
  fclose(f);
  return fx;
}

/* Each fixture's input goes through a PNG (CHW to interleaved) and the
 * public decoder, whose resize must match torch's output. */
static void test_resize_matches_torch_antialiased_bilinear(void **state) {
  (void)state;
  char manifest[512];
  snprintf(manifest, sizeof manifest, "%s/images/MANIFEST",
           LOSSBAL_TEST_DATA_DIR);
  FILE *list = fopen(manifest, "r");
  assert_non_null(list);
  char name[256];
  int cases = 0;
  while (fscanf(list, "%255s", name) == 1) {
    fixture fx = read_fixture(name);
    size_t plane = (size_t)fx.in_h * (size_t)fx.in_w;
    uint8_t *pixels = malloc(plane * (size_t)fx.channels);
    assert_non_null(pixels);
    for (size_t p = 0; p < plane; p++)
      for (int c = 0; c < fx.channels; c++)
        pixels[p * (size_t)fx.channels + (size_t)c] =
            fx.input[(size_t)c * plane + p];
    encoded e = png_of(pixels, fx.in_w, fx.in_h, fx.channels, 8, 0);
    lb_tensor *t = decode(e, 0, fx.out_h, fx.out_w, fx.channels, fx.out_h,
                          fx.out_w);
    const float *got = lb_tensor_data_const(t);
    for (int64_t i = 0; i < lb_tensor_numel(t); i++)
      if (fabsf(got[i] - fx.expected[i]) > 1e-5f)
        fail_msg("%s: element %lld is %.9g, torch gives %.9g", name,
                 (long long)i, got[i], fx.expected[i]);
    lb_tensor_free(t);
    free(e.bytes);
    free(pixels);
    free(fx.input);
    free(fx.expected);
    cases++;
  }
  fclose(list);
  assert_true(cases >= 10);
}

static void test_resize_to_the_stored_size_changes_nothing(void **state) {
  (void)state;
  uint8_t *pixels = noisy_pixels(7, 5, 3);
  encoded e = png_of(pixels, 7, 5, 3, 8, 0);
  lb_tensor *t = decode(e, 3, 5, 7, 3, 5, 7);
  assert_planes_equal_u8(t, pixels, 3);
  lb_tensor_free(t);
  free(e.bytes);
  free(pixels);
}

static void test_resize_keeps_a_constant_image_constant(void **state) {
  (void)state;
  /* white is the case where float rounding could leave [0, 1] */
  const uint8_t levels[3] = {77, 255, 0};
  const int32_t sizes[5][2] = {{1, 1}, {3, 20}, {50, 2}, {6, 9}, {4, 3}};
  for (int l = 0; l < 3; l++) {
    uint8_t pixels[9 * 6 * 3];
    memset(pixels, levels[l], sizeof pixels);
    encoded e = png_of(pixels, 9, 6, 3, 8, 0);
    for (int s = 0; s < 5; s++) {
      lb_tensor *t = decode(e, 0, sizes[s][0], sizes[s][1], 3, sizes[s][0],
                            sizes[s][1]);
      for (int64_t i = 0; i < lb_tensor_numel(t); i++) {
        float v = lb_tensor_data_const(t)[i];
        assert_float_equal(v, levels[l] / 255.0f, 1e-6);
        assert_true(v >= 0.0f && v <= 1.0f);
      }
      lb_tensor_free(t);
    }
    free(e.bytes);
  }
}

/* ---- malformed input ----------------------------------------------------- */

static void assert_decode_refused(const void *bytes, size_t size,
                                  const char *fragment) {
  lb_tensor *t = UNTOUCHED;
  assert_fails_with(lb_image_decode_memory(bytes, size, 0, 0, 0, &t),
                    LB_EFORMAT, fragment);
  assert_ptr_equal(t, UNTOUCHED);
  assert_error_starts_with("lb_image_decode_memory");
  assert_error_mentions(MEMORY);
}

static void assert_probe_refused(const void *bytes, size_t size,
                                 const char *fragment) {
  lb_image_info info;
  assert_fails_with(lb_image_probe_memory(bytes, size, &info), LB_EFORMAT,
                    fragment);
  assert_error_starts_with("lb_image_probe_memory");
  assert_error_mentions(MEMORY);
}

static void assert_every_prefix_refused(encoded e) {
  for (size_t size = 0; size < e.size; size++) {
    lb_tensor *t = UNTOUCHED;
    lb_clear_error();
    lb_status status = lb_image_decode_memory(e.bytes, size, 0, 0, 0, &t);
    if (status != LB_EFORMAT)
      fail_msg("prefix of %zu of %zu bytes gives %s", size, e.size,
               lb_status_name(status));
    assert_ptr_equal(t, UNTOUCHED);
    assert_error_starts_with("lb_image_decode_memory");
    assert_error_mentions(MEMORY);
  }
  /* and the whole file is fine */
  lb_tensor *t = NULL;
  assert_int_equal(lb_image_decode_memory(e.bytes, e.size, 0, 0, 0, &t), LB_OK);
  lb_tensor_free(t);
}

static void test_every_truncated_png_is_refused(void **state) {
  (void)state;
  uint8_t *pixels = noisy_pixels(7, 5, 3);
  encoded e = png_of(pixels, 7, 5, 3, 8, 0);
  assert_every_prefix_refused(e);
  free(e.bytes);
  e = png_of(pixels, 7, 5, 1, 8, LBT_PNG_INTERLACED);
  assert_every_prefix_refused(e);
  free(e.bytes);
  free(pixels);
}

static void test_every_truncated_jpeg_is_refused(void **state) {
  (void)state;
  uint8_t *pixels = noisy_pixels(9, 7, 3);
  encoded e = jpeg_of(pixels, 9, 7, 3, 0);
  assert_every_prefix_refused(e);
  free(e.bytes);
  e = jpeg_of(pixels, 9, 7, 3, LBT_JPEG_PROGRESSIVE);
  assert_every_prefix_refused(e);
  free(e.bytes);
  free(pixels);
}

/* A flipped byte may still decode (JPEG has no checksum, so even the size
 * may change), but the call must return, with an image of the size the
 * probe reads or LB_EFORMAT. */
static void assert_flips_are_survived(encoded e) {
  for (size_t i = e.size / 8; i < e.size; i++) {
    for (int pattern = 0; pattern < 2; pattern++) {
      uint8_t saved = e.bytes[i];
      e.bytes[i] ^= pattern ? 0x01 : 0xff;
      lb_tensor *t = NULL;
      lb_status status = lb_image_decode_memory(e.bytes, e.size, 3, 0, 0, &t);
      if (status == LB_OK) {
        lb_image_info info;
        assert_int_equal(lb_image_probe_memory(e.bytes, e.size, &info), LB_OK);
        assert_int_equal(lb_tensor_dim(t, 1), info.height);
        assert_int_equal(lb_tensor_dim(t, 2), info.width);
        const float *d = lb_tensor_data_const(t);
        for (int64_t k = 0; k < lb_tensor_numel(t); k++)
          assert_true(d[k] >= 0.0f && d[k] <= 1.0f);
        lb_tensor_free(t);
      } else {
        assert_int_equal(status, LB_EFORMAT);
        assert_error_mentions(MEMORY);
      }
      e.bytes[i] = saved;
    }
  }
}

static void test_flipped_bytes_never_crash(void **state) {
  (void)state;
  uint8_t *pixels = noisy_pixels(9, 7, 3);
  encoded e = png_of(pixels, 9, 7, 3, 8, LBT_PNG_INTERLACED);
  assert_flips_are_survived(e);
  free(e.bytes);
  e = jpeg_of(pixels, 9, 7, 3, 0);
  assert_flips_are_survived(e);
  free(e.bytes);
  e = jpeg_of(pixels, 9, 7, 3, LBT_JPEG_PROGRESSIVE);
  assert_flips_are_survived(e);
  free(e.bytes);
  free(pixels);
}

/* PNG's chunk CRC (ISO 3309), so hand-made chunks pass libpng's check. */
static uint32_t png_crc(const uint8_t *bytes, size_t size) {
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i < size; i++) {
    crc ^= bytes[i];
    for (int k = 0; k < 8; k++)
      crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return crc ^ 0xffffffffu;
}

static void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/* A PNG signature, an 8-bit gray IHDR of the given size with a correct CRC,
 * a one-byte IDAT and IEND: 8 + 25 + 13 + 12 bytes. */
static size_t png_with_header(uint32_t width, uint32_t height, uint8_t *out) {
  static const uint8_t signature[8] = {0x89, 'P', 'N', 'G',
                                       '\r', '\n', 0x1a, '\n'};
  memcpy(out, signature, 8);
  uint8_t *ihdr = out + 8;
  put_be32(ihdr, 13);
  memcpy(ihdr + 4, "IHDR", 4);
  put_be32(ihdr + 8, width);
  put_be32(ihdr + 12, height);
  ihdr[16] = 8; /* bit depth */
  ihdr[17] = 0; /* gray */
  ihdr[18] = ihdr[19] = ihdr[20] = 0;
  put_be32(ihdr + 21, png_crc(ihdr + 4, 17));
  uint8_t *idat = ihdr + 25;
  put_be32(idat, 1);
  memcpy(idat + 4, "IDAT", 4);
  idat[8] = 0;
  put_be32(idat + 9, png_crc(idat + 4, 5));
  uint8_t *iend = idat + 13;
  put_be32(iend, 0);
  memcpy(iend + 4, "IEND", 4);
  put_be32(iend + 8, png_crc(iend + 4, 4));
  return 8 + 25 + 13 + 12;
}

static void test_png_header_sizes_are_checked_before_allocating(void **state) {
  (void)state;
  uint8_t bytes[64];
  size_t size = png_with_header(0, 0, bytes);
  assert_probe_refused(bytes, size, "IHDR");
  assert_decode_refused(bytes, size, "IHDR");

  size = png_with_header(100000, 100000, bytes);
  assert_probe_refused(bytes, size, "too large");
  assert_decode_refused(bytes, size, "too large");
  assert_error_mentions("100000 x 100000");

  /* within the side limit, over the pixel limit */
  size = png_with_header(65535, 65535, bytes);
  assert_decode_refused(bytes, size, "too large");

  /* a small valid header with a bad CRC */
  size = png_with_header(4, 4, bytes);
  bytes[8 + 25 - 1] ^= 1;
  assert_probe_refused(bytes, size, "CRC");
}

/* Offset of a JPEG's SOF0/SOF2 marker segment. */
static size_t find_sof(const encoded e) {
  for (size_t i = 2; i + 9 < e.size; i++)
    if (e.bytes[i] == 0xff &&
        (e.bytes[i + 1] == 0xc0 || e.bytes[i + 1] == 0xc2))
      return i;
  fail_msg("no SOF marker");
  return 0;
}

static void test_jpeg_huge_sof_is_refused_before_decoding(void **state) {
  (void)state;
  uint8_t *pixels = noisy_pixels(8, 8, 3);
  for (int flags = 0; flags <= LBT_JPEG_PROGRESSIVE; flags++) {
    encoded e = jpeg_of(pixels, 8, 8, 3, flags);
    size_t sof = find_sof(e);
    /* FF C0, length (2), precision (1), height (2), width (2) */
    e.bytes[sof + 5] = e.bytes[sof + 7] = 0xff;
    e.bytes[sof + 6] = e.bytes[sof + 8] = 0xdc; /* 65500 */
    assert_probe_refused(e.bytes, e.size, "too large");
    assert_decode_refused(e.bytes, e.size, "too large");
    e.bytes[sof + 5] = e.bytes[sof + 6] = 0; /* height 0 */
    assert_decode_refused(e.bytes, e.size, "JPEG");
    free(e.bytes);
  }
  free(pixels);
}

static void test_data_that_is_no_image_is_refused(void **state) {
  (void)state;
  static const char text[] = "width,height\n7,5\n";
  assert_probe_refused(text, sizeof text - 1, "not a PNG or JPEG");
  assert_decode_refused(text, sizeof text - 1, "not a PNG or JPEG");
  assert_probe_refused(text, 0, "empty");
  assert_decode_refused(text, 0, "empty");
  /* a JPEG start with nothing valid after it */
  static const uint8_t fake_jpeg[6] = {0xff, 0xd8, 0xff, 0x00, 0x01, 0x02};
  assert_decode_refused(fake_jpeg, sizeof fake_jpeg, "JPEG");
}

static void test_bad_files_name_the_path(void **state) {
  (void)state;
  char *dir = make_temp_dir();
  char *text = path_in(dir, "notes.png");
  char *empty = path_in(dir, "empty.jpg");
  char *missing = path_in(dir, "missing.png");
  assert_int_equal(lbt_write_bytes(text, "hello, world\n", 13), 0);
  assert_int_equal(lbt_write_bytes(empty, "", 0), 0);
  lb_image_info info;
  lb_tensor *t = UNTOUCHED;

  assert_fails_with(lb_image_probe_file(text, &info), LB_EFORMAT, text);
  assert_error_starts_with("lb_image_probe_file");
  assert_fails_with(lb_image_decode_file(text, 0, 0, 0, &t), LB_EFORMAT, text);
  assert_error_starts_with("lb_image_decode_file");
  assert_fails_with(lb_image_probe_file(empty, &info), LB_EFORMAT, empty);
  assert_fails_with(lb_image_decode_file(empty, 0, 0, 0, &t), LB_EFORMAT,
                    empty);
  assert_fails_with(lb_image_probe_file(missing, &info), LB_EIO, missing);
  assert_fails_with(lb_image_decode_file(missing, 0, 0, 0, &t), LB_EIO,
                    missing);
  assert_error_starts_with("lb_image_decode_file");
  assert_fails_with(lb_image_probe_file(dir, &info), LB_EIO, dir);
  assert_fails_with(lb_image_decode_file(dir, 0, 0, 0, &t), LB_EIO, dir);
  assert_ptr_equal(t, UNTOUCHED);

  /* a corrupt image file names its path too */
  uint8_t bytes[64];
  size_t size = png_with_header(100000, 100000, bytes);
  assert_int_equal(lbt_write_bytes(text, bytes, size), 0);
  assert_fails_with(lb_image_decode_file(text, 0, 0, 0, &t), LB_EFORMAT, text);

  unlink(text);
  unlink(empty);
  rmdir(dir);
  free(text);
  free(empty);
  free(missing);
  free(dir);
}

/* ---- arguments ----------------------------------------------------------- */

static void test_bad_arguments_are_refused(void **state) {
  (void)state;
  uint8_t pixels[4] = {1, 2, 3, 4};
  encoded e = png_of(pixels, 2, 2, 1, 8, 0);
  lb_image_info info;
  lb_tensor *t = UNTOUCHED;

  assert_fails_with(lb_image_probe_memory(NULL, 10, &info), LB_EINVAL, "data");
  assert_fails_with(lb_image_probe_memory(e.bytes, e.size, NULL), LB_EINVAL,
                    "info");
  assert_fails_with(lb_image_probe_file(NULL, &info), LB_EINVAL, "path");
  assert_fails_with(lb_image_probe_file("x.png", NULL), LB_EINVAL, "info");

  assert_fails_with(lb_image_decode_memory(NULL, 10, 0, 0, 0, &t), LB_EINVAL,
                    "data");
  assert_fails_with(lb_image_decode_memory(e.bytes, e.size, 0, 0, 0, NULL),
                    LB_EINVAL, "out");
  const int32_t bad_channels[4] = {-1, 2, 4, 100};
  for (int i = 0; i < 4; i++) {
    assert_fails_with(lb_image_decode_memory(e.bytes, e.size, bad_channels[i],
                                             0, 0, &t),
                      LB_EINVAL, "channels");
    assert_fails_with(lb_image_decode_file("x.png", bad_channels[i], 0, 0, &t),
                      LB_EINVAL, "channels");
  }
  const int32_t bad_sizes[7][2] = {{0, 5},  {5, 0},        {-1, 5},
                                   {5, -1}, {65536, 1},    {1, 65536},
                                   {INT32_MIN, INT32_MIN}};
  for (int i = 0; i < 7; i++) {
    assert_fails_with(lb_image_decode_memory(e.bytes, e.size, 0,
                                             bad_sizes[i][0], bad_sizes[i][1],
                                             &t),
                      LB_EINVAL, "height");
    assert_error_starts_with("lb_image_decode_memory");
    assert_fails_with(lb_image_decode_file("x.png", 0, bad_sizes[i][0],
                                           bad_sizes[i][1], &t),
                      LB_EINVAL, "height");
  }
  /* each side allowed, the product not */
  assert_fails_with(lb_image_decode_memory(e.bytes, e.size, 0, 65535, 65535,
                                           &t),
                    LB_EINVAL, "LB_IMAGE_MAX_PIXELS");
  assert_fails_with(lb_image_decode_file(NULL, 0, 0, 0, &t), LB_EINVAL,
                    "path");
  assert_fails_with(lb_image_decode_file("x.png", 0, 0, 0, NULL), LB_EINVAL,
                    "out");
  assert_ptr_equal(t, UNTOUCHED);

  /* the largest side is accepted */
  assert_int_equal(lb_image_decode_memory(e.bytes, e.size, 1, 1, 65535, &t),
                   LB_OK);
  assert_int_equal(lb_tensor_dim(t, 2), 65535);
  lb_tensor_free(t);
  free(e.bytes);
}

/* ---- allocation failures ------------------------------------------------- */

static void test_allocation_failures_are_clean(void **state) {
  (void)state;
  uint8_t *pixels = noisy_pixels(9, 7, 3);
  encoded png = png_of(pixels, 9, 7, 3, 8, LBT_PNG_INTERLACED);
  encoded jpeg = jpeg_of(pixels, 9, 7, 3, LBT_JPEG_PROGRESSIVE);
  lb_tensor *t = NULL;

  assert_each_allocation_failure_is_clean(
      status_ = lb_image_decode_memory(png.bytes, png.size, 1, 4, 13, &t),
      lb_tensor_free(t));
  assert_each_allocation_failure_is_clean(
      status_ = lb_image_decode_memory(jpeg.bytes, jpeg.size, 0, 0, 0, &t),
      lb_tensor_free(t));

  char *dir = make_temp_dir();
  char *path = path_in(dir, "image.png");
  assert_int_equal(lbt_write_bytes(path, png.bytes, png.size), 0);
  assert_each_allocation_failure_is_clean(
      status_ = lb_image_decode_file(path, 3, 20, 5, &t), lb_tensor_free(t));
  lb_image_info info;
  assert_each_allocation_failure_is_clean(
      status_ = lb_image_probe_file(path, &info), (void)0);
  assert_int_equal(info.width, 9);

  /* the internal entry point the folder loader uses */
  float *planes = NULL;
  int32_t c = 0, h = 0, w = 0;
  assert_each_allocation_failure_is_clean(
      status_ = lb_image_decode_bytes("who", "name", jpeg.bytes, jpeg.size, 3,
                                      3, 3, &planes, &c, &h, &w),
      lb_free(planes));

  unlink(path);
  rmdir(dir);
  free(path);
  free(dir);
  free(png.bytes);
  free(jpeg.bytes);
  free(pixels);
}

/* ---- the internal interface ---------------------------------------------- */

static void test_internal_decode_reports_its_shape(void **state) {
  (void)state;
  uint8_t *pixels = noisy_pixels(7, 5, 2);
  encoded e = png_of(pixels, 7, 5, 2, 8, 0);
  float *planes = NULL;
  int32_t c = 0, h = 0, w = 0;
  assert_int_equal(lb_image_decode_bytes("who", "a/b.png", e.bytes, e.size, 0,
                                         0, 0, &planes, &c, &h, &w),
                   LB_OK);
  assert_int_equal(c, 1);
  assert_int_equal(h, 5);
  assert_int_equal(w, 7);
  assert_float_equal(planes[1], pixels[2] / 255.0f, 1e-7);
  lb_free(planes);
  assert_fails_with(lb_image_decode_bytes("who", "a/b.png", e.bytes, 20, 0, 0,
                                          0, &planes, &c, &h, &w),
                    LB_EFORMAT, "a/b.png");
  assert_error_starts_with("who");
  free(e.bytes);
  free(pixels);
}

/* ---- threads ------------------------------------------------------------- */

typedef struct decode_job {
  encoded png, jpeg;
  const float *png_reference, *jpeg_reference;
  int64_t png_count, jpeg_count;
  int mismatches;
} decode_job;

static void *decode_repeatedly(void *arg) {
  decode_job *job = arg;
  for (int round = 0; round < 20; round++) {
    lb_tensor *t = NULL;
    if (lb_image_decode_memory(job->png.bytes, job->png.size, 3, 17, 11, &t) !=
            LB_OK ||
        memcmp(lb_tensor_data_const(t), job->png_reference,
               (size_t)job->png_count * sizeof(float)) != 0)
      job->mismatches++;
    lb_tensor_free(t);
    t = NULL;
    if (lb_image_decode_memory(job->jpeg.bytes, job->jpeg.size, 1, 0, 0, &t) !=
            LB_OK ||
        memcmp(lb_tensor_data_const(t), job->jpeg_reference,
               (size_t)job->jpeg_count * sizeof(float)) != 0)
      job->mismatches++;
    lb_tensor_free(t);
    /* a failing decode on another thread must not disturb the others */
    lb_image_info info;
    if (lb_image_probe_memory(job->jpeg.bytes, 30, &info) == LB_OK)
      job->mismatches++;
  }
  return NULL;
}

static void test_concurrent_decodes_agree(void **state) {
  (void)state;
  uint8_t *pixels = noisy_pixels(23, 19, 3);
  encoded png = png_of(pixels, 23, 19, 3, 8, LBT_PNG_INTERLACED);
  encoded jpeg = jpeg_of(pixels, 23, 19, 3, LBT_JPEG_PROGRESSIVE);
  lb_tensor *png_ref = decode(png, 3, 17, 11, 3, 17, 11);
  lb_tensor *jpeg_ref = decode(jpeg, 1, 0, 0, 1, 19, 23);
  decode_job jobs[4];
  pthread_t threads[4];
  for (int i = 0; i < 4; i++) {
    jobs[i] = (decode_job){png, jpeg, lb_tensor_data_const(png_ref),
                           lb_tensor_data_const(jpeg_ref),
                           lb_tensor_numel(png_ref), lb_tensor_numel(jpeg_ref),
                           0};
    assert_int_equal(pthread_create(&threads[i], NULL, decode_repeatedly,
                                    &jobs[i]),
                     0);
  }
  for (int i = 0; i < 4; i++) {
    assert_int_equal(pthread_join(threads[i], NULL), 0);
    assert_int_equal(jobs[i].mismatches, 0);
  }
  lb_tensor_free(png_ref);
  lb_tensor_free(jpeg_ref);
  free(png.bytes);
  free(jpeg.bytes);
  free(pixels);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_png_gray_8bit_reads_back_exactly),
      cmocka_unit_test(test_png_rgb_8bit_reads_back_exactly),
      cmocka_unit_test(test_png_rgba_drops_alpha),
      cmocka_unit_test(test_png_gray_alpha_is_gray_as_stored),
      cmocka_unit_test(test_png_16bit_keeps_full_precision),
      cmocka_unit_test(test_png_interlaced_reads_back_exactly),
      cmocka_unit_test(test_png_low_bit_gray_scales_to_full_range),
      cmocka_unit_test(test_png_palette_expands_to_rgb),
      cmocka_unit_test(test_png_odd_sizes_read_back),
      cmocka_unit_test(test_jpeg_baseline_rgb_is_close),
      cmocka_unit_test(test_jpeg_progressive_rgb_is_close),
      cmocka_unit_test(test_jpeg_gray_is_close),
      cmocka_unit_test(test_jpeg_rgb_without_ycbcr_is_close),
      cmocka_unit_test(test_jpeg_odd_sizes_decode),
      cmocka_unit_test(test_jpeg_cmyk_converts_to_rgb),
      cmocka_unit_test(test_rgb_to_gray_uses_601_luma),
      cmocka_unit_test(test_gray_to_rgb_repeats_the_sample),
      cmocka_unit_test(test_gray_jpeg_to_rgb_has_equal_channels),
      cmocka_unit_test(test_probe_reports_the_stored_header),
      cmocka_unit_test(test_probe_and_decode_files),
      cmocka_unit_test(test_resize_matches_torch_antialiased_bilinear),
      cmocka_unit_test(test_resize_to_the_stored_size_changes_nothing),
      cmocka_unit_test(test_resize_keeps_a_constant_image_constant),
      cmocka_unit_test(test_every_truncated_png_is_refused),
      cmocka_unit_test(test_every_truncated_jpeg_is_refused),
      cmocka_unit_test(test_flipped_bytes_never_crash),
      cmocka_unit_test(test_png_header_sizes_are_checked_before_allocating),
      cmocka_unit_test(test_jpeg_huge_sof_is_refused_before_decoding),
      cmocka_unit_test(test_data_that_is_no_image_is_refused),
      cmocka_unit_test(test_bad_files_name_the_path),
      cmocka_unit_test(test_bad_arguments_are_refused),
      cmocka_unit_test(test_allocation_failures_are_clean),
      cmocka_unit_test(test_internal_decode_reports_its_shape),
      cmocka_unit_test(test_concurrent_decodes_agree),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
