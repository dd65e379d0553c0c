/* Tests of the plotting code of lossbal-train (examples/train/plot.c and
 * font.c): the bitmap font, the three charts read back from their PNG files
 * with the library's decoder, argument checks and failed writes. */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "font.h"
#include "lossbal/lossbal.h"
#include "plot.h"
#include "test_scratch.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* ---- helpers -------------------------------------------------------------- */

static const plot_rgb white = {255, 255, 255};
static const plot_rgb black = {0, 0, 0};

static bool same_colour(plot_rgb a, plot_rgb b) {
  return a.r == b.r && a.g == b.g && a.b == b.b;
}

/* Pixels of the canvas that are not white. */
static int64_t count_ink(const plot_canvas *canvas) {
  int64_t ink = 0;
  for (int32_t y = 0; y < canvas->height; y++)
    for (int32_t x = 0; x < canvas->width; x++)
      ink += !same_colour(plot_get_pixel(canvas, x, y), white);
  return ink;
}

/* A decoded chart: a [3][height][width] tensor of floats in [0, 1]. */
typedef struct chart_image {
  lb_tensor *tensor;
  int32_t width, height;
  const float *data;
} chart_image;

static chart_image read_chart(const char *path) {
  chart_image image = {0};
  assert_int_equal(lb_image_decode_file(path, 3, 0, 0, &image.tensor), LB_OK);
  assert_int_equal(lb_tensor_dim(image.tensor, 0), 3);
  image.height = (int32_t)lb_tensor_dim(image.tensor, 1);
  image.width = (int32_t)lb_tensor_dim(image.tensor, 2);
  image.data = lb_tensor_data(image.tensor);
  return image;
}

static void release_chart(chart_image *image) {
  lb_tensor_free(image->tensor);
  image->tensor = NULL;
}

static plot_rgb chart_pixel(const chart_image *image, int32_t x, int32_t y) {
  assert_true(x >= 0 && x < image->width && y >= 0 && y < image->height);
  size_t plane = (size_t)image->width * (size_t)image->height;
  size_t at = (size_t)y * (size_t)image->width + (size_t)x;
  plot_rgb colour = {(uint8_t)lroundf(image->data[at] * 255.0f),
                     (uint8_t)lroundf(image->data[plane + at] * 255.0f),
                     (uint8_t)lroundf(image->data[2 * plane + at] * 255.0f)};
  return colour;
}

/* The largest number of pixels of exactly this colour in one column, left of
 * x_limit: the height of the tallest bar drawn in it. */
static int32_t tallest_column(const chart_image *image, plot_rgb colour,
                              int32_t x_limit) {
  int32_t tallest = 0;
  for (int32_t x = 0; x < x_limit && x < image->width; x++) {
    int32_t column = 0;
    for (int32_t y = 0; y < image->height; y++)
      column += same_colour(chart_pixel(image, x, y), colour);
    if (column > tallest)
      tallest = column;
  }
  return tallest;
}

static int64_t count_colour(const chart_image *image, plot_rgb colour,
                            int32_t x_limit) {
  int64_t count = 0;
  for (int32_t y = 0; y < image->height; y++)
    for (int32_t x = 0; x < x_limit && x < image->width; x++)
      count += same_colour(chart_pixel(image, x, y), colour);
  return count;
}

/* The entries of a directory whose names start with prefix: a chart file
 * and any temporary file beside it ("<name>.tmp-XXXXXX"). */
static int count_entries(const char *directory, const char *prefix) {
  DIR *listing = opendir(directory);
  assert_non_null(listing);
  int count = 0;
  struct dirent *entry;
  while ((entry = readdir(listing)) != NULL)
    if (strncmp(entry->d_name, prefix, strlen(prefix)) == 0)
      count++;
  closedir(listing);
  return count;
}

static const char *const fashion_names[] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

/* ---- font ----------------------------------------------------------------- */

static void test_font_has_a_glyph_for_every_printable_character(void **state) {
  (void)state;
  for (int c = 33; c <= 126; c++) {
    int ink = 0;
    for (int32_t row = 0; row < FONT_GLYPH_HEIGHT; row++)
      for (int32_t column = 0; column < FONT_GLYPH_WIDTH; column++)
        ink += font_glyph_ink((char)c, column, row);
    assert_true(ink > 0);
  }
  for (int32_t row = 0; row < FONT_GLYPH_HEIGHT; row++)
    for (int32_t column = 0; column < FONT_GLYPH_WIDTH; column++)
      assert_false(font_glyph_ink(' ', column, row));
}

static void test_font_draws_unknown_bytes_as_question_marks(void **state) {
  (void)state;
  for (int32_t row = 0; row < FONT_GLYPH_HEIGHT; row++)
    for (int32_t column = 0; column < FONT_GLYPH_WIDTH; column++) {
      assert_int_equal(font_glyph_ink('\xc3', column, row),
                       font_glyph_ink('?', column, row));
      assert_int_equal(font_glyph_ink('\n', column, row),
                       font_glyph_ink('?', column, row));
    }
  assert_false(font_glyph_ink('A', -1, 0));
  assert_false(font_glyph_ink('A', 0, FONT_GLYPH_HEIGHT));
}

static void test_font_text_width_is_advances_less_the_last_gap(void **state) {
  (void)state;
  assert_int_equal(font_text_width("", 2), 0);
  assert_int_equal(font_text_width("A", 1), FONT_GLYPH_WIDTH);
  assert_int_equal(font_text_width("abc", 2),
                   (3 * FONT_ADVANCE - (FONT_ADVANCE - FONT_GLYPH_WIDTH)) * 2);
  assert_int_equal(font_text_height(3), 3 * FONT_GLYPH_HEIGHT);
}

static void test_font_puts_ink_exactly_where_glyphs_have_it(void **state) {
  (void)state;
  plot_canvas canvas;
  assert_int_equal(plot_canvas_init(&canvas, 120, 40, white), 0);
  const int32_t scale = 2, left = 7, top = 5;
  const char text[] = "Ag7";
  font_draw_text(&canvas, left, top, text, scale, black);

  int64_t expected_ink = 0;
  for (size_t i = 0; i < strlen(text); i++)
    for (int32_t row = 0; row < FONT_GLYPH_HEIGHT; row++)
      for (int32_t column = 0; column < FONT_GLYPH_WIDTH; column++) {
        bool inked = font_glyph_ink(text[i], column, row);
        expected_ink += inked ? scale * scale : 0;
        /* Every pixel of the scaled glyph pixel matches the bitmap. */
        int32_t x = left + ((int32_t)i * FONT_ADVANCE + column) * scale;
        int32_t y = top + row * scale;
        for (int32_t dy = 0; dy < scale; dy++)
          for (int32_t dx = 0; dx < scale; dx++)
            assert_true(same_colour(plot_get_pixel(&canvas, x + dx, y + dy),
                                    inked ? black : white));
      }
  assert_true(expected_ink > 0);
  assert_int_equal(count_ink(&canvas), expected_ink);
  plot_canvas_release(&canvas);
}

static void test_font_turned_text_is_upright_text_rotated(void **state) {
  (void)state;
  const char text[] = "Ankle boot";
  const int32_t scale = 2;
  int32_t length = font_text_width(text, scale);
  int32_t height = font_text_height(scale);
  plot_canvas upright, turned;
  assert_int_equal(plot_canvas_init(&upright, length, height, white), 0);
  assert_int_equal(plot_canvas_init(&turned, height, length, white), 0);
  font_draw_text(&upright, 0, 0, text, scale, black);
  font_draw_text_up(&turned, 0, 0, text, scale, black);
  /* Turning anticlockwise takes (x, y) to (y, length - 1 - x). */
  for (int32_t y = 0; y < height; y++)
    for (int32_t x = 0; x < length; x++)
      assert_true(same_colour(plot_get_pixel(&upright, x, y),
                              plot_get_pixel(&turned, y, length - 1 - x)));
  assert_int_equal(count_ink(&upright), count_ink(&turned));
  assert_true(count_ink(&upright) > 0);
  plot_canvas_release(&upright);
  plot_canvas_release(&turned);
}

static void test_font_clips_text_at_the_canvas_edges(void **state) {
  (void)state;
  plot_canvas canvas;
  assert_int_equal(plot_canvas_init(&canvas, 10, 10, white), 0);
  font_draw_text(&canvas, -7, -3, "Wide text that overflows", 3, black);
  font_draw_text_up(&canvas, 5, -50, "Also too long", 3, black);
  font_draw_text(&canvas, 0, 0, NULL, 1, black);
  assert_true(count_ink(&canvas) > 0);
  plot_canvas_release(&canvas);
}

static void test_font_fit_text_cuts_long_names_with_a_mark(void **state) {
  (void)state;
  char out[64];
  assert_string_equal(font_fit_text("Coat", 1000, 2, out, sizeof out), "Coat");
  int32_t room = font_text_width("Ankle", 1);
  font_fit_text("Ankle boot", room, 1, out, sizeof out);
  assert_string_equal(out, "Ank..");
  assert_true(font_text_width(out, 1) <= room);
  /* Too narrow for anything: empty rather than overflowing. */
  assert_string_equal(font_fit_text("Ankle boot", 3, 1, out, sizeof out), "");
  /* A small buffer still gets a terminated, cut name. */
  char small[6];
  font_fit_text("Ankle boot", 1000, 1, small, sizeof small);
  assert_string_equal(small, "Ank..");
}

/* ---- colours -------------------------------------------------------------- */

static void test_palette_has_eight_distinct_colours_then_repeats(void **state) {
  (void)state;
  for (int32_t i = 0; i < 8; i++) {
    for (int32_t j = 0; j < i; j++)
      assert_false(
          same_colour(plot_series_colour(i), plot_series_colour(j)));
    assert_false(same_colour(plot_series_colour(i), white));
    assert_true(same_colour(plot_series_colour(i), plot_series_colour(i + 8)));
  }
}

static void test_heat_colour_goes_from_white_to_dark_blue(void **state) {
  (void)state;
  assert_true(same_colour(plot_heat_colour(0.0), white));
  assert_true(same_colour(plot_heat_colour(NAN), white));
  plot_rgb full = plot_heat_colour(1.0);
  assert_true(full.b > full.r && full.b > full.g && full.r + full.g < 200);
  int previous_brightness = 3 * 255 + 1;
  for (int step = 0; step <= 20; step++) {
    plot_rgb colour = plot_heat_colour(step / 20.0);
    int brightness = colour.r + colour.g + colour.b;
    assert_true(brightness < previous_brightness);
    previous_brightness = brightness;
  }
}

/* ---- confusion matrix ----------------------------------------------------- */

/* A point of cell (t, p) away from its centred number and its borders. */
static void cell_sample_point(const plot_confusion_geometry *geometry,
                              int32_t t, int32_t p, int32_t *x, int32_t *y) {
  *x = geometry->grid_x + p * geometry->cell_size + geometry->cell_size / 5;
  *y = geometry->grid_y + t * geometry->cell_size + geometry->cell_size / 5;
}

static void test_confusion_of_perfect_diagonal_is_dark_on_it_white_off(
    void **state) {
  (void)state;
  enum { K = 9 };
  int64_t matrix[K * K] = {0};
  for (int32_t c = 0; c < K; c++)
    matrix[c * K + c] = 100 + c;
  char path[512], error[256] = "";
  scratch_path(path, sizeof path, "diagonal.png");
  assert_int_equal(plot_confusion(path, "Perfect", matrix, K, fashion_names,
                                  error, sizeof error),
                   0);
  plot_confusion_geometry geometry;
  assert_int_equal(
      plot_confusion_layout(K, fashion_names, &geometry, error, sizeof error),
      0);

  chart_image image = read_chart(path);
  assert_int_equal(image.width, geometry.width);
  assert_int_equal(image.height, geometry.height);
  assert_true(image.width >= 400 && image.width <= 1600);
  assert_true(image.height >= 400 && image.height <= 1600);
  for (int32_t t = 0; t < K; t++)
    for (int32_t p = 0; p < K; p++) {
      int32_t x, y;
      cell_sample_point(&geometry, t, p, &x, &y);
      plot_rgb colour = chart_pixel(&image, x, y);
      if (t == p) {
        assert_true(colour.r < 60 && colour.g < 90 && colour.b > 80);
      } else {
        assert_true(same_colour(colour, white));
      }
    }
  release_chart(&image);
  assert_int_equal(unlink(path), 0);
}

static void test_confusion_divides_each_row_by_its_sum(void **state) {
  (void)state;
  /* Row 0: 30 of 40 right; row 1 is empty and must stay white. */
  const int64_t matrix[] = {30, 10, 0, 0};
  const char *const names[] = {"cat", "dog"};
  char path[512], error[256] = "";
  scratch_path(path, sizeof path, "rows.png");
  assert_int_equal(
      plot_confusion(path, NULL, matrix, 2, names, error, sizeof error), 0);
  plot_confusion_geometry geometry;
  assert_int_equal(
      plot_confusion_layout(2, names, &geometry, error, sizeof error), 0);
  chart_image image = read_chart(path);
  const double expected_share[2][2] = {{0.75, 0.25}, {0.0, 0.0}};
  for (int32_t t = 0; t < 2; t++)
    for (int32_t p = 0; p < 2; p++) {
      int32_t x, y;
      cell_sample_point(&geometry, t, p, &x, &y);
      assert_true(same_colour(chart_pixel(&image, x, y),
                              plot_heat_colour(expected_share[t][p])));
    }
  release_chart(&image);
  assert_int_equal(unlink(path), 0);
}

static void test_confusion_size_stays_bounded_from_1_to_1000_classes(
    void **state) {
  (void)state;
  static const int32_t class_counts[] = {1, 2, 10, 100, 317, PLOT_MAX_CLASSES};
  enum { MOST = PLOT_MAX_CLASSES };
  static char names_storage[MOST][24];
  static const char *names[MOST];
  for (int32_t c = 0; c < MOST; c++) {
    snprintf(names_storage[c], sizeof names_storage[c], "class number %d",
             (int)c);
    names[c] = names_storage[c];
  }
  for (size_t i = 0; i < sizeof class_counts / sizeof class_counts[0]; i++) {
    plot_confusion_geometry geometry;
    char error[256] = "";
    assert_int_equal(plot_confusion_layout(class_counts[i], names, &geometry,
                                           error, sizeof error),
                     0);
    assert_true(geometry.width >= 400 && geometry.width <= PLOT_MAX_SIDE);
    assert_true(geometry.height >= 300 && geometry.height <= PLOT_MAX_SIDE);
    assert_true(geometry.cell_size >= 2);
    assert_true(geometry.grid_x + geometry.cell_size * class_counts[i] <
                geometry.width);
    assert_true(geometry.grid_y + geometry.cell_size * class_counts[i] <
                geometry.height);
  }
}

static void test_confusion_of_100_classes_is_written_and_readable(
    void **state) {
  (void)state;
  enum { K = 100 };
  static int64_t matrix[K * K];
  static char names_storage[K][24];
  const char *names[K];
  for (int32_t c = 0; c < K; c++) {
    snprintf(names_storage[c], sizeof names_storage[c], "class %d", (int)c);
    names[c] = names_storage[c];
    for (int32_t p = 0; p < K; p++)
      matrix[c * K + p] = c == p ? 90 : (p == (c + 1) % K ? 10 : 0);
  }
  char path[512], error[256] = "";
  scratch_path(path, sizeof path, "hundred.png");
  assert_int_equal(
      plot_confusion(path, "100 classes", matrix, K, names, error,
                     sizeof error),
      0);
  plot_confusion_geometry geometry;
  assert_int_equal(
      plot_confusion_layout(K, names, &geometry, error, sizeof error), 0);
  chart_image image = read_chart(path);
  assert_int_equal(image.width, geometry.width);
  assert_int_equal(image.height, geometry.height);
  int32_t x, y;
  cell_sample_point(&geometry, 42, 42, &x, &y);
  assert_true(same_colour(chart_pixel(&image, x, y), plot_heat_colour(0.9)));
  cell_sample_point(&geometry, 42, 7, &x, &y);
  assert_true(same_colour(chart_pixel(&image, x, y), white));
  release_chart(&image);
  assert_int_equal(unlink(path), 0);
}

/* ---- grouped bars --------------------------------------------------------- */

static void test_bars_of_one_are_twice_as_tall_as_bars_of_a_half(
    void **state) {
  (void)state;
  const char *const groups[] = {"T-shirt/top", "Trouser"};
  const char *const methods[] = {"CE", "LE", "PE"};
  /* values[series][group]; PE's NaN draws no bar at all. */
  const double values[] = {1.0, 1.0, 0.5, 0.5, NAN, NAN};
  char path[512], error[256] = "";
  scratch_path(path, sizeof path, "bars.png");
  assert_int_equal(plot_grouped_bars(path, "F1", "F1 (%)", groups, 2, methods,
                                     3, values, error, sizeof error),
                   0);
  chart_image image = read_chart(path);
  assert_true(image.width >= 480 && image.width <= 2000);
  assert_true(image.height >= 400 && image.height <= 1200);
  int32_t full = tallest_column(&image, plot_series_colour(0), image.width);
  int32_t half = tallest_column(&image, plot_series_colour(1), image.width);
  int32_t missing = tallest_column(&image, plot_series_colour(2), image.width);
  assert_true(full > half);
  assert_true(abs(full - 2 * half) <= 2);
  assert_true(half > 100);
  /* Only the legend's swatch has the third colour. */
  assert_true(missing > 0 && missing < 30);
  release_chart(&image);
  assert_int_equal(unlink(path), 0);
}

static void test_bars_clamp_values_outside_zero_to_one(void **state) {
  (void)state;
  const char *const groups[] = {"a"};
  const char *const methods[] = {"over", "exact"};
  const double values[] = {7.5, 1.0};
  char path[512], error[256] = "";
  scratch_path(path, sizeof path, "clamped.png");
  assert_int_equal(plot_grouped_bars(path, NULL, NULL, groups, 1, methods, 2,
                                     values, error, sizeof error),
                   0);
  chart_image image = read_chart(path);
  assert_int_equal(tallest_column(&image, plot_series_colour(0), image.width),
                   tallest_column(&image, plot_series_colour(1), image.width));
  release_chart(&image);
  assert_int_equal(unlink(path), 0);
}

static void test_bars_of_many_classes_stay_within_bounds(void **state) {
  (void)state;
  enum { GROUPS = 100, SERIES = 8 };
  static char names_storage[GROUPS][24];
  const char *names[GROUPS];
  static double values[SERIES * GROUPS];
  for (int32_t g = 0; g < GROUPS; g++) {
    snprintf(names_storage[g], sizeof names_storage[g], "class %d", (int)g);
    names[g] = names_storage[g];
  }
  for (int32_t i = 0; i < SERIES * GROUPS; i++)
    values[i] = (i % 11) / 10.0;
  const char *const methods[] = {"1", "2", "3", "4", "5", "6", "7", "8"};
  char path[512], error[256] = "";
  scratch_path(path, sizeof path, "many-bars.png");
  assert_int_equal(plot_grouped_bars(path, "many", "F1", names, GROUPS,
                                     methods, SERIES, values, error,
                                     sizeof error),
                   0);
  chart_image image = read_chart(path);
  assert_true(image.width <= PLOT_MAX_SIDE && image.height <= PLOT_MAX_SIDE);
  release_chart(&image);
  assert_int_equal(unlink(path), 0);
}

/* ---- lines ---------------------------------------------------------------- */

static void test_lines_draw_every_series_and_skip_non_finite_values(
    void **state) {
  (void)state;
  /* 300 epochs: too dense for markers on every point, so the lone point's
   * marker is drawn only because it is alone. */
  enum { EPOCHS = 300 };
  double falling[EPOCHS];
  for (int32_t i = 0; i < EPOCHS; i++)
    falling[i] = 0.4 + 2.0 / (1 + i);
  falling[3] = NAN;
  falling[10] = INFINITY;
  falling[20] = -INFINITY;
  const double lone[] = {1.5};
  const double none[] = {NAN, NAN};
  const double *const values[] = {falling, lone, none};
  const int32_t counts[] = {EPOCHS, 1, 2};
  const char *const names[] = {"CE", "single", "empty"};
  char path[512], error[256] = "";
  scratch_path(path, sizeof path, "lines.png");
  assert_int_equal(plot_lines(path, "Training loss", "epoch", "loss", names, 3,
                              values, counts, error, sizeof error),
                   0);
  chart_image image = read_chart(path);
  assert_true(image.width >= 800 && image.width <= 1600);
  assert_true(image.height >= 450 && image.height <= 1000);
  /* The legend is right of the plot area, which ends before 80 % of the
   * width: colours found left of that were drawn as data. */
  int32_t plot_limit = image.width * 4 / 5;
  assert_true(count_colour(&image, plot_series_colour(0), plot_limit) > 200);
  /* A lone point is drawn as a marker. */
  int64_t marker = count_colour(&image, plot_series_colour(1), plot_limit);
  assert_true(marker > 10 && marker < 200);
  assert_int_equal(count_colour(&image, plot_series_colour(2), plot_limit), 0);
  release_chart(&image);
  assert_int_equal(unlink(path), 0);
}

static void test_lines_of_constant_or_huge_values_are_written(void **state) {
  (void)state;
  const double flat[] = {3.0, 3.0, 3.0};
  const double huge[] = {1e300, -1e300, 1e12, -1e12};
  const double tiny[] = {1e-9, 2e-9, 3e-9};
  const double *const values[] = {flat, huge, tiny};
  const int32_t counts[] = {3, 4, 3};
  const char *const names[] = {"flat", "huge", "tiny"};
  char path[512], error[256] = "";
  scratch_path(path, sizeof path, "odd-lines.png");
  for (int32_t series = 1; series <= 3; series++) {
    assert_int_equal(plot_lines(path, NULL, NULL, NULL, names + series - 1, 1,
                                values + series - 1, counts + series - 1,
                                error, sizeof error),
                     0);
    chart_image image = read_chart(path);
    assert_true(count_colour(&image, plot_series_colour(0),
                             image.width * 4 / 5) > 0);
    release_chart(&image);
  }
  /* Many epochs. */
  static double long_run[5000];
  for (int32_t i = 0; i < 5000; i++)
    long_run[i] = 1.0 / (1 + i);
  const double *const long_values[] = {long_run};
  const int32_t long_count[] = {5000};
  assert_int_equal(plot_lines(path, "long", "epoch", "loss", names, 1,
                              long_values, long_count, error, sizeof error),
                   0);
  assert_int_equal(unlink(path), 0);
}

/* ---- arguments and failed writes ------------------------------------------ */

static void test_bad_arguments_return_minus_one_with_a_reason(void **state) {
  (void)state;
  const int64_t matrix[] = {1, 0, 0, 1};
  const int64_t negative[] = {1, -1, 0, 1};
  const char *const names[] = {"a", "b"};
  const char *const null_name[] = {"a", NULL};
  const double bar_values[] = {0.5, 0.5};
  const double line[] = {1.0, 2.0};
  const double *const lines[] = {line, line};
  const double *const null_line[] = {line, NULL};
  const int32_t counts[] = {2, 2};
  const int32_t zero_count[] = {2, 0};
  char path[512];
  scratch_path(path, sizeof path, "never.png");

  struct {
    const char *what;
    int result;
  } cases[] = {
      {"NULL path", plot_confusion(NULL, "t", matrix, 2, names, NULL, 0)},
      {"empty path", plot_confusion("", "t", matrix, 2, names, NULL, 0)},
      {"k 0", plot_confusion(path, "t", matrix, 0, names, NULL, 0)},
      {"k too big",
       plot_confusion(path, "t", matrix, PLOT_MAX_CLASSES + 1, names, NULL,
                      0)},
      {"NULL matrix", plot_confusion(path, "t", NULL, 2, names, NULL, 0)},
      {"negative count",
       plot_confusion(path, "t", negative, 2, names, NULL, 0)},
      {"NULL class names",
       plot_confusion(path, "t", matrix, 2, NULL, NULL, 0)},
      {"a NULL class name",
       plot_confusion(path, "t", matrix, 2, null_name, NULL, 0)},
      {"bars NULL path", plot_grouped_bars(NULL, "t", "y", names, 2, names, 1,
                                           bar_values, NULL, 0)},
      {"bars 0 groups", plot_grouped_bars(path, "t", "y", names, 0, names, 1,
                                          bar_values, NULL, 0)},
      {"bars 0 series", plot_grouped_bars(path, "t", "y", names, 2, names, 0,
                                          bar_values, NULL, 0)},
      {"bars NULL values", plot_grouped_bars(path, "t", "y", names, 2, names,
                                             1, NULL, NULL, 0)},
      {"bars NULL group names", plot_grouped_bars(path, "t", "y", NULL, 2,
                                                  names, 1, bar_values, NULL,
                                                  0)},
      {"bars a NULL series name",
       plot_grouped_bars(path, "t", "y", names, 1, null_name, 2, bar_values,
                         NULL, 0)},
      {"lines NULL path",
       plot_lines(NULL, "t", "x", "y", names, 2, lines, counts, NULL, 0)},
      {"lines 0 series",
       plot_lines(path, "t", "x", "y", names, 0, lines, counts, NULL, 0)},
      {"lines count 0",
       plot_lines(path, "t", "x", "y", names, 2, lines, zero_count, NULL, 0)},
      {"lines NULL counts",
       plot_lines(path, "t", "x", "y", names, 2, lines, NULL, NULL, 0)},
      {"lines NULL values",
       plot_lines(path, "t", "x", "y", names, 2, NULL, counts, NULL, 0)},
      {"lines a NULL series",
       plot_lines(path, "t", "x", "y", names, 2, null_line, counts, NULL, 0)},
      {"lines NULL names",
       plot_lines(path, "t", "x", "y", NULL, 2, lines, counts, NULL, 0)},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    if (cases[i].result != -1)
      fail_msg("%s: expected -1, got %d", cases[i].what, cases[i].result);
  }
  /* The same checks with an error buffer: a one-line reason. */
  char error[256] = "";
  assert_int_equal(
      plot_lines(path, "t", "x", "y", names, 2, lines, zero_count, error,
                 sizeof error),
      -1);
  assert_non_null(strstr(error, "counts[1]"));
  assert_null(strchr(error, '\n'));
  error[0] = '\0';
  assert_int_equal(
      plot_confusion(path, "t", matrix, 0, names, error, sizeof error), -1);
  assert_non_null(strstr(error, "k is 0"));
  error[0] = '\0';
  assert_int_equal(
      plot_confusion(path, "t", matrix, 2, null_name, error, sizeof error),
      -1);
  assert_non_null(strstr(error, "class_names[1]"));
  /* A tiny buffer is cut, not overrun. */
  char tiny[4] = "xxx";
  assert_int_equal(plot_confusion(NULL, "t", matrix, 2, names, tiny, 3), -1);
  assert_int_equal(strlen(tiny), 2);
  assert_int_equal(count_entries(scratch_dir, "never.png"), 0);
}

static void test_unwritable_path_fails_naming_it_and_leaves_nothing(
    void **state) {
  (void)state;
  const int64_t matrix[] = {3, 1, 1, 3};
  const char *const names[] = {"a", "b"};
  char path[512], error[512] = "";
  scratch_path(path, sizeof path, "no-such-directory/chart.png");
  assert_int_equal(
      plot_confusion(path, "t", matrix, 2, names, error, sizeof error), -1);
  assert_non_null(strstr(error, path));
  assert_non_null(strstr(error, "cannot write"));
  assert_int_equal(count_entries(scratch_dir, "no-such-directory"), 0);
}

static void test_failed_rename_removes_the_temporary_file(void **state) {
  (void)state;
  /* The target is a directory: the PNG is written, the rename fails. */
  const double line[] = {1.0, 0.5};
  const double *const lines[] = {line};
  const int32_t counts[] = {2};
  const char *const names[] = {"CE"};
  char path[512], error[512] = "";
  scratch_path(path, sizeof path, "taken.png");
  assert_int_equal(mkdir(path, 0700), 0);
  assert_int_equal(plot_lines(path, "t", "x", "y", names, 1, lines, counts,
                              error, sizeof error),
                   -1);
  assert_non_null(strstr(error, path));
  /* The directory itself, and no "taken.png.tmp-XXXXXX" beside it. */
  assert_int_equal(count_entries(scratch_dir, "taken.png"), 1);
  assert_int_equal(rmdir(path), 0);
}

static void test_writing_replaces_an_existing_file(void **state) {
  (void)state;
  char path[512], error[256] = "";
  scratch_path(path, sizeof path, "replaced.png");
  FILE *old = fopen(path, "wb");
  assert_non_null(old);
  fputs("not a png", old);
  fclose(old);
  plot_canvas canvas;
  assert_int_equal(plot_canvas_init(&canvas, 3, 2, white), 0);
  const plot_rgb red = {255, 0, 0};
  plot_set_pixel(&canvas, 2, 1, red);
  assert_int_equal(plot_write_png(&canvas, path, error, sizeof error), 0);
  plot_canvas_release(&canvas);
  chart_image image = read_chart(path);
  assert_int_equal(image.width, 3);
  assert_int_equal(image.height, 2);
  assert_true(same_colour(chart_pixel(&image, 2, 1), red));
  assert_true(same_colour(chart_pixel(&image, 0, 0), white));
  release_chart(&image);
  assert_int_equal(unlink(path), 0);
  assert_int_equal(count_entries(scratch_dir, "replaced.png"), 0);
}

static void test_canvas_rejects_bad_sizes_and_clips_drawing(void **state) {
  (void)state;
  plot_canvas canvas;
  assert_int_equal(plot_canvas_init(&canvas, 0, 5, white), -1);
  assert_null(canvas.pixels);
  assert_int_equal(plot_canvas_init(&canvas, PLOT_MAX_SIDE + 1, 5, white), -1);
  plot_canvas_release(&canvas);
  char error[128] = "";
  assert_int_equal(plot_write_png(&canvas, "/tmp/x.png", error, sizeof error),
                   -1);
  assert_int_equal(plot_canvas_init(&canvas, 4, 4, white), 0);
  plot_fill_rect(&canvas, -10, -10, INT32_MAX, INT32_MAX, black);
  assert_int_equal(count_ink(&canvas), 16);
  plot_set_pixel(&canvas, 4, 0, white);
  plot_set_pixel(&canvas, -1, 0, white);
  assert_int_equal(count_ink(&canvas), 16);
  plot_canvas_release(&canvas);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_font_has_a_glyph_for_every_printable_character),
      cmocka_unit_test(test_font_draws_unknown_bytes_as_question_marks),
      cmocka_unit_test(test_font_text_width_is_advances_less_the_last_gap),
      cmocka_unit_test(test_font_puts_ink_exactly_where_glyphs_have_it),
      cmocka_unit_test(test_font_turned_text_is_upright_text_rotated),
      cmocka_unit_test(test_font_clips_text_at_the_canvas_edges),
      cmocka_unit_test(test_font_fit_text_cuts_long_names_with_a_mark),
      cmocka_unit_test(test_palette_has_eight_distinct_colours_then_repeats),
      cmocka_unit_test(test_heat_colour_goes_from_white_to_dark_blue),
      cmocka_unit_test(
          test_confusion_of_perfect_diagonal_is_dark_on_it_white_off),
      cmocka_unit_test(test_confusion_divides_each_row_by_its_sum),
      cmocka_unit_test(
          test_confusion_size_stays_bounded_from_1_to_1000_classes),
      cmocka_unit_test(test_confusion_of_100_classes_is_written_and_readable),
      cmocka_unit_test(test_bars_of_one_are_twice_as_tall_as_bars_of_a_half),
      cmocka_unit_test(test_bars_clamp_values_outside_zero_to_one),
      cmocka_unit_test(test_bars_of_many_classes_stay_within_bounds),
      cmocka_unit_test(
          test_lines_draw_every_series_and_skip_non_finite_values),
      cmocka_unit_test(test_lines_of_constant_or_huge_values_are_written),
      cmocka_unit_test(test_bad_arguments_return_minus_one_with_a_reason),
      cmocka_unit_test(
          test_unwritable_path_fails_naming_it_and_leaves_nothing),
      cmocka_unit_test(test_failed_rename_removes_the_temporary_file),
      cmocka_unit_test(test_writing_replaces_an_existing_file),
      cmocka_unit_test(test_canvas_rejects_bad_sizes_and_clips_drawing),
  };
  return cmocka_run_group_tests(tests, make_scratch, remove_scratch);
}
