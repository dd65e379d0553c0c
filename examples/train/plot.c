/* The charts of lossbal-train: a canvas with a few drawing primitives, the
 * three chart kinds, and PNG writing with libpng. Each chart is laid out
 * first (sizes in pixels, from the data and the label widths), then drawn,
 * then written; argument checks come before all of that. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* mkstemp, fdopen, fchmod */
#endif

#include "plot.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <png.h>

#include "font.h"

/* ---- errors --------------------------------------------------------------- */

#if defined(__GNUC__)
#define PRINTF_LIKE(format_index, first_argument)                              \
  __attribute__((format(printf, format_index, first_argument)))
#else
#define PRINTF_LIKE(format_index, first_argument)
#endif

/* Writes the reason into error (when there is room) and returns -1. */
static int fail(char *error, size_t error_size, const char *format, ...)
    PRINTF_LIKE(3, 4);

static int fail(char *error, size_t error_size, const char *format, ...) {
  if (error && error_size > 0) {
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(error, error_size, format, arguments);
    va_end(arguments);
  }
  return -1;
}

/* ---- colours -------------------------------------------------------------- */

static const plot_rgb white = {255, 255, 255};
static const plot_rgb ink = {34, 34, 34};          /* text */
static const plot_rgb axis_colour = {90, 90, 90};  /* axes and frames */
static const plot_rgb grid_colour = {225, 225, 225}; /* grid lines */

plot_rgb plot_series_colour(int32_t index) {
  /* Okabe & Ito's palette, ordered so that the first few series get the
   * colours that differ most; yellow comes last as it is faint on white. */
  static const plot_rgb palette[] = {
      {0, 114, 178},   /* blue */
      {230, 159, 0},   /* orange */
      {0, 158, 115},   /* bluish green */
      {213, 94, 0},    /* vermillion */
      {204, 121, 167}, /* reddish purple */
      {86, 180, 233},  /* sky blue */
      {0, 0, 0},       /* black */
      {240, 228, 66},  /* yellow */
  };
  enum { PALETTE_SIZE = sizeof palette / sizeof palette[0] };
  int32_t slot = index % PALETTE_SIZE;
  return palette[slot < 0 ? slot + PALETTE_SIZE : slot];
}

plot_rgb plot_heat_colour(double share) {
  /* White through the blues of ColorBrewer's "Blues" to a dark navy: linear
   * between stops, so equal steps in share look like equal steps in colour. */
  static const plot_rgb stops[] = {
      {255, 255, 255}, {198, 219, 239}, {107, 174, 214},
      {33, 113, 181},  {8, 48, 107},
  };
  enum { STOP_COUNT = sizeof stops / sizeof stops[0] };
  if (!(share > 0.0))
    return stops[0];
  if (share >= 1.0)
    return stops[STOP_COUNT - 1];
  double position = share * (STOP_COUNT - 1);
  int32_t lower = (int32_t)position;
  double fraction = position - lower;
  plot_rgb from = stops[lower], to = stops[lower + 1];
  plot_rgb mixed = {
      (uint8_t)lround(from.r + (to.r - from.r) * fraction),
      (uint8_t)lround(from.g + (to.g - from.g) * fraction),
      (uint8_t)lround(from.b + (to.b - from.b) * fraction),
  };
  return mixed;
}

/* Dark text on light backgrounds, white text on dark ones. */
static plot_rgb text_colour_on(plot_rgb background) {
  double luminance =
      0.299 * background.r + 0.587 * background.g + 0.114 * background.b;
  return luminance < 150.0 ? white : ink;
}

/* ---- canvas and primitives ------------------------------------------------ */

int plot_canvas_init(plot_canvas *canvas, int32_t width, int32_t height,
                     plot_rgb background) {
  if (!canvas)
    return -1;
  canvas->width = 0;
  canvas->height = 0;
  canvas->pixels = NULL;
  if (width < 1 || height < 1 || width > PLOT_MAX_SIDE ||
      height > PLOT_MAX_SIDE)
    return -1;
  size_t byte_count = (size_t)width * (size_t)height * 3;
  uint8_t *pixels = malloc(byte_count);
  if (!pixels)
    return -1;
  for (size_t i = 0; i < byte_count; i += 3) {
    pixels[i] = background.r;
    pixels[i + 1] = background.g;
    pixels[i + 2] = background.b;
  }
  canvas->width = width;
  canvas->height = height;
  canvas->pixels = pixels;
  return 0;
}

void plot_canvas_release(plot_canvas *canvas) {
  if (!canvas)
    return;
  free(canvas->pixels);
  canvas->pixels = NULL;
  canvas->width = 0;
  canvas->height = 0;
}

static bool on_canvas(const plot_canvas *canvas, int32_t x, int32_t y) {
  return canvas && canvas->pixels && x >= 0 && y >= 0 && x < canvas->width &&
         y < canvas->height;
}

static uint8_t *pixel_at(const plot_canvas *canvas, int32_t x, int32_t y) {
  return canvas->pixels + ((size_t)y * (size_t)canvas->width + (size_t)x) * 3;
}

plot_rgb plot_get_pixel(const plot_canvas *canvas, int32_t x, int32_t y) {
  plot_rgb colour = {0, 0, 0};
  if (!on_canvas(canvas, x, y))
    return colour;
  const uint8_t *pixel = pixel_at(canvas, x, y);
  colour.r = pixel[0];
  colour.g = pixel[1];
  colour.b = pixel[2];
  return colour;
}

void plot_set_pixel(plot_canvas *canvas, int32_t x, int32_t y,
                    plot_rgb colour) {
  if (!on_canvas(canvas, x, y))
    return;
  uint8_t *pixel = pixel_at(canvas, x, y);
  pixel[0] = colour.r;
  pixel[1] = colour.g;
  pixel[2] = colour.b;
}

void plot_fill_rect(plot_canvas *canvas, int32_t x, int32_t y, int32_t width,
                    int32_t height, plot_rgb colour) {
  if (!canvas || !canvas->pixels || width <= 0 || height <= 0)
    return;
  /* Clip in 64 bits so that x + width cannot overflow. */
  int64_t left = x < 0 ? 0 : x, top = y < 0 ? 0 : y;
  int64_t right = (int64_t)x + width, bottom = (int64_t)y + height;
  if (right > canvas->width)
    right = canvas->width;
  if (bottom > canvas->height)
    bottom = canvas->height;
  for (int64_t row = top; row < bottom; row++)
    for (int64_t column = left; column < right; column++)
      plot_set_pixel(canvas, (int32_t)column, (int32_t)row, colour);
}

/* Mixes colour into a pixel by coverage in [0, 1] (anti-aliasing). */
static void blend_pixel(plot_canvas *canvas, int32_t x, int32_t y,
                        plot_rgb colour, double coverage) {
  if (!on_canvas(canvas, x, y) || !(coverage > 0.0))
    return;
  if (coverage > 1.0)
    coverage = 1.0;
  uint8_t *pixel = pixel_at(canvas, x, y);
  const uint8_t target[3] = {colour.r, colour.g, colour.b};
  for (int channel = 0; channel < 3; channel++)
    pixel[channel] = (uint8_t)lround(
        pixel[channel] + (target[channel] - pixel[channel]) * coverage);
}

/* A pixel coordinate from a double, kept within a margin of the canvas so
 * that the conversion to int32_t is defined whatever the input. */
static int32_t clamp_to_pixels(double value, int32_t limit) {
  if (!(value > -2.0))
    return -2;
  if (value > limit + 2.0)
    return limit + 2;
  return (int32_t)floor(value);
}

static double distance_to_segment(double px, double py, double x0, double y0,
                                  double x1, double y1) {
  double dx = x1 - x0, dy = y1 - y0;
  double length_squared = dx * dx + dy * dy;
  double t = 0.0;
  if (length_squared > 0.0) {
    t = ((px - x0) * dx + (py - y0) * dy) / length_squared;
    t = t < 0.0 ? 0.0 : (t > 1.0 ? 1.0 : t);
  }
  double nearest_x = x0 + t * dx, nearest_y = y0 + t * dy;
  return hypot(px - nearest_x, py - nearest_y);
}

/* An anti-aliased segment with round ends, half_width pixels either side of
 * the centre line; with equal ends it is a disc (a marker). */
static void draw_segment(plot_canvas *canvas, double x0, double y0, double x1,
                         double y1, double half_width, plot_rgb colour) {
  if (!isfinite(x0) || !isfinite(y0) || !isfinite(x1) || !isfinite(y1))
    return;
  double reach = half_width + 1.0;
  int32_t left = clamp_to_pixels(fmin(x0, x1) - reach, canvas->width);
  int32_t right = clamp_to_pixels(fmax(x0, x1) + reach, canvas->width);
  int32_t top = clamp_to_pixels(fmin(y0, y1) - reach, canvas->height);
  int32_t bottom = clamp_to_pixels(fmax(y0, y1) + reach, canvas->height);
  for (int32_t y = top; y <= bottom; y++)
    for (int32_t x = left; x <= right; x++) {
      double distance = distance_to_segment(x + 0.5, y + 0.5, x0, y0, x1, y1);
      blend_pixel(canvas, x, y, colour, half_width + 0.5 - distance);
    }
}

/* ---- text helpers --------------------------------------------------------- */

enum {
  MARGIN = 20,          /* around the whole chart */
  TITLE_SCALE = 3,      /* the title's font scale, when it fits */
  TEXT_SCALE = 2,       /* axis titles, ticks and legends */
  TICK_LENGTH = 5,      /* tick marks outside the axes */
  GAP = 8,              /* between a label and what it labels */
  LABEL_MAX_CHARS = 16, /* class names are cut beyond this */
  NAME_BUFFER = 128     /* room for a cut name */
};

static int32_t text_height(int32_t scale) { return font_text_height(scale); }

/* Text centred horizontally on centre_x, top at y. */
static void draw_text_centred(plot_canvas *canvas, int32_t centre_x,
                              int32_t y, const char *text, int32_t scale,
                              plot_rgb colour) {
  font_draw_text(canvas, centre_x - font_text_width(text, scale) / 2, y, text,
                 scale, colour);
}

/* Text ending at right_x, centred vertically on centre_y. */
static void draw_text_right(plot_canvas *canvas, int32_t right_x,
                            int32_t centre_y, const char *text, int32_t scale,
                            plot_rgb colour) {
  int32_t cap_middle = FONT_CAP_HEIGHT * scale / 2;
  font_draw_text(canvas, right_x - font_text_width(text, scale),
                 centre_y - cap_middle, text, scale, colour);
}

/* Text reading upwards, centred vertically on centre_y, left edge at x. */
static void draw_text_up_centred(plot_canvas *canvas, int32_t x,
                                 int32_t centre_y, const char *text,
                                 int32_t scale, plot_rgb colour) {
  font_draw_text_up(canvas, x, centre_y - font_text_width(text, scale) / 2,
                    text, scale, colour);
}

/* The title, centred at the top, at the largest scale that fits (cut if even
 * the smaller scale does not). */
static void draw_title(plot_canvas *canvas, const char *title) {
  if (!title || title[0] == '\0')
    return;
  int32_t room = canvas->width - 2 * MARGIN;
  char fitted[256];
  int32_t scale = font_text_width(title, TITLE_SCALE) <= room ? TITLE_SCALE
                                                               : TEXT_SCALE;
  font_fit_text(title, room, scale, fitted, sizeof fitted);
  int32_t title_top = MARGIN + (text_height(TITLE_SCALE) - text_height(scale));
  draw_text_centred(canvas, canvas->width / 2, title_top, fitted, scale, ink);
}

/* The band at the top that the title takes, whether or not there is one, so
 * that layouts do not depend on the title. */
static int32_t title_band(void) {
  return MARGIN + text_height(TITLE_SCALE) + 2 * GAP;
}

/* The widest of names[0..count) once each is cut to max_width at scale. */
static int32_t widest_name(const char *const *names, int32_t count,
                           int32_t max_width, int32_t scale) {
  int32_t widest = 0;
  char fitted[NAME_BUFFER];
  for (int32_t i = 0; i < count; i++) {
    font_fit_text(names[i], max_width, scale, fitted, sizeof fitted);
    int32_t width = font_text_width(fitted, scale);
    if (width > widest)
      widest = width;
  }
  return widest;
}

/* ---- axes and legends ----------------------------------------------------- */

/* The "nice" step (1, 2 or 5 times a power of ten) nearest above raw. */
static double nice_step(double raw) {
  if (!(raw > 0.0) || !isfinite(raw))
    return 1.0;
  double power = pow(10.0, floor(log10(raw)));
  double mantissa = raw / power;
  double nice = mantissa <= 1.0 ? 1.0 : mantissa <= 2.0 ? 2.0
                                    : mantissa <= 5.0   ? 5.0
                                                        : 10.0;
  return nice * power;
}

/* A tick label with as many decimals as the step needs, "-0" shown as "0". */
static void format_tick(double value, double step, char *out, size_t size) {
  if (fabs(value) < step * 1e-6)
    value = 0.0;
  double magnitude = fmax(fabs(value), step);
  if (magnitude >= 1e6 || step < 1e-4) {
    snprintf(out, size, "%.3g", value);
    return;
  }
  int decimals = (int)ceil(-log10(step) - 1e-9);
  if (decimals < 0)
    decimals = 0;
  snprintf(out, size, "%.*f", decimals, value);
}

/* The legend: one row per series, a swatch then the name. */
typedef enum legend_swatch { SWATCH_BOX, SWATCH_LINE } legend_swatch;

enum {
  LEGEND_SWATCH_WIDTH = 26,
  LEGEND_ROW_HEIGHT = 26,
  LEGEND_NAME_MAX_CHARS = 24,
  LEGEND_PADDING = 10
};

static int32_t legend_name_room(void) {
  return LEGEND_NAME_MAX_CHARS * FONT_ADVANCE * TEXT_SCALE;
}

static int32_t legend_width(const char *const *names, int32_t count) {
  return 2 * LEGEND_PADDING + LEGEND_SWATCH_WIDTH + GAP +
         widest_name(names, count, legend_name_room(), TEXT_SCALE);
}

static int32_t legend_height(int32_t count) {
  return 2 * LEGEND_PADDING + count * LEGEND_ROW_HEIGHT - GAP;
}

static void draw_frame(plot_canvas *canvas, int32_t x, int32_t y,
                       int32_t width, int32_t height, plot_rgb colour) {
  plot_fill_rect(canvas, x, y, width, 1, colour);
  plot_fill_rect(canvas, x, y + height - 1, width, 1, colour);
  plot_fill_rect(canvas, x, y, 1, height, colour);
  plot_fill_rect(canvas, x + width - 1, y, 1, height, colour);
}

static void draw_legend(plot_canvas *canvas, int32_t x, int32_t y,
                        const char *const *names, int32_t count,
                        legend_swatch swatch) {
  draw_frame(canvas, x, y, legend_width(names, count), legend_height(count),
             grid_colour);
  char fitted[NAME_BUFFER];
  for (int32_t s = 0; s < count; s++) {
    int32_t row_top = y + LEGEND_PADDING + s * LEGEND_ROW_HEIGHT;
    int32_t row_middle = row_top + (LEGEND_ROW_HEIGHT - GAP) / 2;
    plot_rgb colour = plot_series_colour(s);
    if (swatch == SWATCH_BOX) {
      plot_fill_rect(canvas, x + LEGEND_PADDING + 4, row_top, 18, 18, colour);
    } else {
      double line_y = row_middle + 0.5;
      draw_segment(canvas, x + LEGEND_PADDING + 1.0, line_y,
                   x + LEGEND_PADDING + LEGEND_SWATCH_WIDTH - 1.0, line_y, 1.3,
                   colour);
      draw_segment(canvas, x + LEGEND_PADDING + LEGEND_SWATCH_WIDTH / 2.0,
                   line_y, x + LEGEND_PADDING + LEGEND_SWATCH_WIDTH / 2.0,
                   line_y, 3.5, colour);
    }
    font_fit_text(names[s], legend_name_room(), TEXT_SCALE, fitted,
                  sizeof fitted);
    font_draw_text(canvas, x + LEGEND_PADDING + LEGEND_SWATCH_WIDTH + GAP,
                   row_middle - FONT_CAP_HEIGHT * TEXT_SCALE / 2, fitted,
                   TEXT_SCALE, ink);
  }
}

/* ---- PNG writing ---------------------------------------------------------- */

/* libpng reports errors through this: the message is kept and control
 * jumps back to encode_png(); nothing is printed. */
typedef struct png_failure {
  jmp_buf jump;
  char message[160];
} png_failure;

static void on_png_error(png_structp png, png_const_charp message) {
  png_failure *failure = png_get_error_ptr(png);
  snprintf(failure->message, sizeof failure->message, "%s",
           message ? message : "libpng error");
  longjmp(failure->jump, 1);
}

static void on_png_warning(png_structp png, png_const_charp message) {
  (void)png;
  (void)message;
}

static void write_rows(png_structp png, const plot_canvas *canvas) {
  for (int32_t y = 0; y < canvas->height; y++)
    png_write_row(png, pixel_at(canvas, 0, y));
}

/* Encodes the canvas into file. Only png and info live across the setjmp,
 * and neither changes after it, so the jump cannot clobber them; the row
 * loop is in write_rows() for the same reason. */
static int encode_png(FILE *file, const plot_canvas *canvas,
                      png_failure *failure) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, failure,
                                            on_png_error, on_png_warning);
  if (!png) {
    snprintf(failure->message, sizeof failure->message, "out of memory");
    return -1;
  }
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_write_struct(&png, NULL);
    snprintf(failure->message, sizeof failure->message, "out of memory");
    return -1;
  }
  if (setjmp(failure->jump)) {
    png_destroy_write_struct(&png, &info);
    return -1;
  }
  png_init_io(png, file);
  png_set_IHDR(png, info, (png_uint_32)canvas->width,
               (png_uint_32)canvas->height, 8, PNG_COLOR_TYPE_RGB,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  write_rows(png, canvas);
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  return 0;
}

/* Removes the temporary file and reports why the write failed. */
static int abandon_temporary(char *temporary_path, const char *path,
                             const char *reason, char *error,
                             size_t error_size) {
  fail(error, error_size, "cannot write '%s': %s", path, reason);
  unlink(temporary_path);
  free(temporary_path);
  return -1;
}

int plot_write_png(const plot_canvas *canvas, const char *path, char *error,
                   size_t error_size) {
  if (!path || path[0] == '\0')
    return fail(error, error_size, "no output path given");
  if (!canvas || !canvas->pixels)
    return fail(error, error_size, "cannot write '%s': empty canvas", path);
  static const char suffix[] = ".tmp-XXXXXX";
  size_t path_length = strlen(path);
  char *temporary_path = malloc(path_length + sizeof suffix);
  if (!temporary_path)
    return fail(error, error_size, "cannot write '%s': out of memory", path);
  memcpy(temporary_path, path, path_length);
  memcpy(temporary_path + path_length, suffix, sizeof suffix);

  /* The temporary file sits beside the target so that rename() is atomic. */
  int descriptor = mkstemp(temporary_path);
  if (descriptor < 0) {
    fail(error, error_size, "cannot write '%s': %s", path, strerror(errno));
    free(temporary_path);
    return -1;
  }
  /* mkstemp() makes the file private (0600); a chart is meant to be read. */
  (void)fchmod(descriptor, 0644);
  FILE *file = fdopen(descriptor, "wb");
  if (!file) {
    int reason = errno;
    close(descriptor);
    return abandon_temporary(temporary_path, path, strerror(reason), error,
                             error_size);
  }
  png_failure failure;
  failure.message[0] = '\0';
  int encoded = encode_png(file, canvas, &failure);
  int closed = fclose(file);
  int close_reason = errno;
  if (encoded != 0)
    return abandon_temporary(temporary_path, path, failure.message, error,
                             error_size);
  if (closed != 0)
    return abandon_temporary(temporary_path, path, strerror(close_reason),
                             error, error_size);
  if (rename(temporary_path, path) != 0)
    return abandon_temporary(temporary_path, path, strerror(errno), error,
                             error_size);
  free(temporary_path);
  return 0;
}

/* ---- argument checks shared by the charts --------------------------------- */

static int check_path(const char *chart, const char *path, char *error,
                      size_t error_size) {
  if (!path || path[0] == '\0')
    return fail(error, error_size, "%s: no output path given", chart);
  return 0;
}

static int check_names(const char *chart, const char *what,
                       const char *const *names, int32_t count, char *error,
                       size_t error_size) {
  if (!names)
    return fail(error, error_size, "%s: %s is NULL", chart, what);
  for (int32_t i = 0; i < count; i++)
    if (!names[i])
      return fail(error, error_size, "%s: %s[%d] is NULL", chart, what,
                  (int)i);
  return 0;
}

/* ---- confusion matrix ----------------------------------------------------- */

enum {
  CONFUSION_GRID_TARGET = 640, /* grid side aimed at for small k */
  CONFUSION_MAX_CELL = 80,
  CONFUSION_NAMED_CELL = 12,      /* smallest cell that fits a name (scale 1) */
  CONFUSION_MAX_GRID = 2400,      /* keeps the image within PLOT_MAX_SIDE */
  COLOUR_BAR_WIDTH = 20,
  COLOUR_BAR_GAP = 24
};

/* Everything plot_confusion() needs to know about where things go. */
typedef struct confusion_layout {
  plot_confusion_geometry geometry;
  int32_t label_scale;     /* class names */
  int32_t label_step;      /* every label_step-th class is named */
  int32_t label_room;      /* names are cut to this width */
  int32_t widest_label;    /* after cutting */
  bool x_labels_turned;    /* x tick labels read upwards */
  int32_t number_scale;    /* cell percentages; 0 when cells are too small */
  int32_t y_title_x;       /* "true", reading upwards */
  int32_t x_title_y;       /* "predicted" */
  int32_t colour_bar_x;
} confusion_layout;

static int32_t confusion_cell_size(int32_t k) {
  int32_t cell = CONFUSION_GRID_TARGET / k;
  if (cell > CONFUSION_MAX_CELL)
    cell = CONFUSION_MAX_CELL;
  /* Many classes: keep cells tall enough to name each class while the grid
   * stays bounded; beyond that, cells shrink and only some are named. */
  if (cell < CONFUSION_NAMED_CELL)
    cell = k * CONFUSION_NAMED_CELL <= CONFUSION_MAX_GRID
               ? CONFUSION_NAMED_CELL
               : CONFUSION_MAX_GRID / k;
  return cell < 2 ? 2 : cell;
}

static int32_t confusion_number_scale(int32_t cell) {
  if (cell >= font_text_width("100", 2) + 10)
    return 2;
  if (cell >= font_text_width("100", 1) + 5)
    return 1;
  return 0;
}

static void layout_confusion(int32_t k, const char *const *class_names,
                             confusion_layout *layout) {
  plot_confusion_geometry *geometry = &layout->geometry;
  int32_t cell = confusion_cell_size(k);
  geometry->cell_size = cell;
  layout->label_scale = cell >= 20 ? 2 : 1;
  int32_t line_height = text_height(layout->label_scale) + layout->label_scale;
  layout->label_step = (line_height + cell - 1) / cell;
  layout->label_room = LABEL_MAX_CHARS * FONT_ADVANCE * layout->label_scale;
  layout->widest_label =
      widest_name(class_names, k, layout->label_room, layout->label_scale);
  layout->x_labels_turned =
      layout->widest_label > cell * layout->label_step - 4;
  layout->number_scale = confusion_number_scale(cell);

  int32_t grid_side = cell * k;
  layout->y_title_x = MARGIN;
  geometry->grid_x = MARGIN + text_height(TEXT_SCALE) + 2 * GAP +
                     layout->widest_label + TICK_LENGTH;
  geometry->grid_y = title_band();
  int32_t x_labels_height = layout->x_labels_turned
                                ? layout->widest_label
                                : text_height(layout->label_scale);
  layout->x_title_y =
      geometry->grid_y + grid_side + TICK_LENGTH + GAP + x_labels_height + GAP;
  geometry->height = layout->x_title_y + text_height(TEXT_SCALE) + MARGIN;
  layout->colour_bar_x = geometry->grid_x + grid_side + COLOUR_BAR_GAP;
  geometry->width = layout->colour_bar_x + COLOUR_BAR_WIDTH + TICK_LENGTH +
                    GAP / 2 + font_text_width("100%", TEXT_SCALE) + MARGIN;
  /* Room for a short title over a small matrix. */
  if (geometry->width < 400)
    geometry->width = 400;
}

static int check_confusion(const char *path, const int64_t *matrix, int32_t k,
                           const char *const *class_names, char *error,
                           size_t error_size) {
  static const char chart[] = "plot_confusion";
  if (check_path(chart, path, error, error_size) != 0)
    return -1;
  if (k < 1 || k > PLOT_MAX_CLASSES)
    return fail(error, error_size, "%s: k is %d, must be 1 to %d", chart,
                (int)k, PLOT_MAX_CLASSES);
  if (!matrix)
    return fail(error, error_size, "%s: matrix is NULL", chart);
  if (check_names(chart, "class_names", class_names, k, error, error_size))
    return -1;
  for (int64_t i = 0; i < (int64_t)k * k; i++)
    if (matrix[i] < 0)
      return fail(error, error_size,
                  "%s: matrix[%lld][%lld] is negative (%lld)", chart,
                  (long long)(i / k), (long long)(i % k),
                  (long long)matrix[i]);
  return 0;
}

int plot_confusion_layout(int32_t k, const char *const *class_names,
                          plot_confusion_geometry *geometry, char *error,
                          size_t error_size) {
  static const char chart[] = "plot_confusion_layout";
  if (k < 1 || k > PLOT_MAX_CLASSES)
    return fail(error, error_size, "%s: k is %d, must be 1 to %d", chart,
                (int)k, PLOT_MAX_CLASSES);
  if (check_names(chart, "class_names", class_names, k, error, error_size))
    return -1;
  if (!geometry)
    return fail(error, error_size, "%s: geometry is NULL", chart);
  confusion_layout layout;
  layout_confusion(k, class_names, &layout);
  *geometry = layout.geometry;
  return 0;
}

/* The sum of row true_class, in a double: int64 counts could overflow. */
static double row_sum(const int64_t *matrix, int32_t k, int32_t true_class) {
  const int64_t *row = matrix + (size_t)true_class * (size_t)k;
  double sum = 0.0;
  for (int32_t p = 0; p < k; p++)
    sum += (double)row[p];
  return sum;
}

static void draw_confusion_cells(plot_canvas *canvas, const int64_t *matrix,
                                 int32_t k, const confusion_layout *layout) {
  const plot_confusion_geometry *geometry = &layout->geometry;
  int32_t cell = geometry->cell_size;
  char number[16];
  for (int32_t t = 0; t < k; t++) {
    double sum = row_sum(matrix, k, t);
    for (int32_t p = 0; p < k; p++) {
      /* Recall: the share of true class t predicted as p; 0 for an empty row. */
      double count = (double)matrix[(size_t)t * (size_t)k + (size_t)p];
      double share = sum > 0.0 ? count / sum : 0.0;
      plot_rgb background = plot_heat_colour(share);
      int32_t x = geometry->grid_x + p * cell, y = geometry->grid_y + t * cell;
      plot_fill_rect(canvas, x, y, cell, cell, background);
      if (layout->number_scale == 0)
        continue;
      snprintf(number, sizeof number, "%ld", lround(share * 100.0));
      int32_t scale = layout->number_scale;
      draw_text_centred(canvas, x + cell / 2,
                        y + (cell - FONT_CAP_HEIGHT * scale) / 2, number,
                        scale, text_colour_on(background));
    }
  }
  /* Faint lines between cells so that white cells stay visible. */
  if (cell >= 8)
    for (int32_t i = 1; i < k; i++) {
      plot_fill_rect(canvas, geometry->grid_x + i * cell, geometry->grid_y, 1,
                     cell * k, grid_colour);
      plot_fill_rect(canvas, geometry->grid_x, geometry->grid_y + i * cell,
                     cell * k, 1, grid_colour);
    }
  draw_frame(canvas, geometry->grid_x - 1, geometry->grid_y - 1, cell * k + 2,
             cell * k + 2, axis_colour);
}

static void draw_confusion_labels(plot_canvas *canvas,
                                  const char *const *class_names, int32_t k,
                                  const confusion_layout *layout) {
  const plot_confusion_geometry *geometry = &layout->geometry;
  int32_t cell = geometry->cell_size, scale = layout->label_scale;
  int32_t grid_bottom = geometry->grid_y + cell * k;
  char name[NAME_BUFFER];
  for (int32_t c = 0; c < k; c += layout->label_step) {
    font_fit_text(class_names[c], layout->label_room, scale, name, sizeof name);
    int32_t centre_x = geometry->grid_x + c * cell + cell / 2;
    int32_t centre_y = geometry->grid_y + c * cell + cell / 2;
    /* y axis: tick, then the name ending at the tick. */
    plot_fill_rect(canvas, geometry->grid_x - 1 - TICK_LENGTH, centre_y,
                   TICK_LENGTH, 1, axis_colour);
    draw_text_right(canvas, geometry->grid_x - 1 - TICK_LENGTH - GAP / 2,
                    centre_y, name, scale, ink);
    /* x axis: tick, then the name under it, turned so that its end meets
     * the tick when names are wider than cells. */
    plot_fill_rect(canvas, centre_x, grid_bottom + 1, 1, TICK_LENGTH,
                   axis_colour);
    int32_t labels_top = grid_bottom + 1 + TICK_LENGTH + GAP / 2;
    if (layout->x_labels_turned)
      font_draw_text_up(canvas, centre_x - FONT_CAP_HEIGHT * scale / 2,
                        labels_top, name, scale, ink);
    else
      draw_text_centred(canvas, centre_x, labels_top, name, scale, ink);
  }
  int32_t grid_middle_x = geometry->grid_x + cell * k / 2;
  int32_t grid_middle_y = geometry->grid_y + cell * k / 2;
  draw_text_centred(canvas, grid_middle_x, layout->x_title_y, "predicted",
                    TEXT_SCALE, ink);
  draw_text_up_centred(canvas, layout->y_title_x, grid_middle_y, "true",
                       TEXT_SCALE, ink);
}

/* A vertical colour bar beside the grid, 0 % at the bottom to 100 % at the
 * top, as the heat map's legend. */
static void draw_colour_bar(plot_canvas *canvas,
                            const confusion_layout *layout, int32_t k) {
  const plot_confusion_geometry *geometry = &layout->geometry;
  int32_t height = geometry->cell_size * k;
  int32_t x = layout->colour_bar_x, top = geometry->grid_y;
  for (int32_t row = 0; row < height; row++) {
    double share = height > 1 ? 1.0 - (double)row / (height - 1) : 1.0;
    plot_fill_rect(canvas, x, top + row, COLOUR_BAR_WIDTH, 1,
                   plot_heat_colour(share));
  }
  draw_frame(canvas, x - 1, top - 1, COLOUR_BAR_WIDTH + 2, height + 2,
             axis_colour);
  static const char *const tick_labels[] = {"0%", "25%", "50%", "75%",
                                            "100%"};
  /* Short bars keep only the ends. */
  int32_t tick_stride = height >= 5 * 2 * text_height(TEXT_SCALE) ? 1 : 4;
  for (int32_t i = 0; i < 5; i += tick_stride) {
    int32_t y = top + (height - 1) - (height - 1) * i / 4;
    plot_fill_rect(canvas, x + COLOUR_BAR_WIDTH + 1, y, TICK_LENGTH, 1,
                   axis_colour);
    font_draw_text(canvas, x + COLOUR_BAR_WIDTH + 1 + TICK_LENGTH + GAP / 2,
                   y - FONT_CAP_HEIGHT * TEXT_SCALE / 2, tick_labels[i],
                   TEXT_SCALE, ink);
  }
}

int plot_confusion(const char *path, const char *title, const int64_t *matrix,
                   int32_t k, const char *const *class_names, char *error,
                   size_t error_size) {
  if (check_confusion(path, matrix, k, class_names, error, error_size) != 0)
    return -1;
  confusion_layout layout;
  layout_confusion(k, class_names, &layout);
  plot_canvas canvas;
  if (plot_canvas_init(&canvas, layout.geometry.width, layout.geometry.height,
                       white) != 0)
    return fail(error, error_size, "cannot write '%s': out of memory", path);
  draw_title(&canvas, title);
  draw_confusion_cells(&canvas, matrix, k, &layout);
  draw_confusion_labels(&canvas, class_names, k, &layout);
  draw_colour_bar(&canvas, &layout, k);
  int written = plot_write_png(&canvas, path, error, error_size);
  plot_canvas_release(&canvas);
  return written;
}

/* ---- a value axis shared by bars and lines -------------------------------- */

/* A vertical axis from low (bottom) to high (top) over a plot area. */
typedef struct value_axis {
  double low, high, step; /* step between ticks */
  double label_factor;    /* tick labels show value * label_factor */
} value_axis;

/* The widest tick label of the axis. */
static int32_t value_axis_label_width(const value_axis *axis) {
  int32_t widest = 0;
  char label[64];
  for (int32_t i = 0; i <= 100; i++) {
    double value = axis->low + i * axis->step;
    if (value > axis->high + axis->step * 1e-6)
      break;
    format_tick(value * axis->label_factor, axis->step * axis->label_factor,
                label, sizeof label);
    int32_t width = font_text_width(label, TEXT_SCALE);
    if (width > widest)
      widest = width;
  }
  return widest;
}

typedef struct plot_area {
  int32_t x, y, width, height;
} plot_area;

static double value_to_y(const plot_area *area, const value_axis *axis,
                         double value) {
  return area->y + area->height -
         (value - axis->low) / (axis->high - axis->low) * area->height;
}

/* Grid lines, ticks and labels of the value axis, and the y axis title. */
static void draw_value_axis(plot_canvas *canvas, const plot_area *area,
                            const value_axis *axis, const char *y_label) {
  char label[64];
  for (int32_t i = 0; i <= 100; i++) {
    double value = axis->low + i * axis->step;
    if (value > axis->high + axis->step * 1e-6)
      break;
    int32_t y = (int32_t)lround(value_to_y(area, axis, value));
    if (y > area->y + area->height - 1)
      y = area->y + area->height - 1;
    plot_fill_rect(canvas, area->x, y, area->width, 1, grid_colour);
    plot_fill_rect(canvas, area->x - TICK_LENGTH, y, TICK_LENGTH, 1,
                   axis_colour);
    format_tick(value * axis->label_factor, axis->step * axis->label_factor,
                label, sizeof label);
    draw_text_right(canvas, area->x - TICK_LENGTH - GAP / 2, y, label,
                    TEXT_SCALE, ink);
  }
  if (y_label && y_label[0] != '\0') {
    char fitted[NAME_BUFFER];
    font_fit_text(y_label, area->height, TEXT_SCALE, fitted, sizeof fitted);
    draw_text_up_centred(canvas, MARGIN, area->y + area->height / 2, fitted,
                         TEXT_SCALE, ink);
  }
}

/* The left and bottom axis lines, drawn last so that nothing covers them. */
static void draw_axis_lines(plot_canvas *canvas, const plot_area *area) {
  plot_fill_rect(canvas, area->x - 1, area->y, 1, area->height + 1,
                 axis_colour);
  plot_fill_rect(canvas, area->x - 1, area->y + area->height, area->width + 1,
                 1, axis_colour);
}

/* Where the plot area starts when the y axis has a title and tick labels. */
static int32_t plot_area_left(const value_axis *axis) {
  return MARGIN + text_height(TEXT_SCALE) + 2 * GAP +
         value_axis_label_width(axis) + TICK_LENGTH;
}

/* ---- grouped bars --------------------------------------------------------- */

enum {
  BARS_AREA_HEIGHT = 400,
  BARS_WIDTH_TARGET = 840, /* plot area width aimed at */
  BARS_MAX_BAR = 36,
  BARS_MAX_AREA_WIDTH = 3200
};

typedef struct bars_layout {
  plot_area area;
  value_axis axis;
  int32_t bar_width, group_width; /* a group: its bars, then one bar's gap */
  int32_t label_scale, label_step, label_room, widest_label;
  bool labels_turned;
  int32_t legend_x, legend_y;
  int32_t width, height;
} bars_layout;

static int check_grouped_bars(const char *path, const char *const *group_names,
                              int32_t groups, const char *const *series_names,
                              int32_t series, const double *values,
                              char *error, size_t error_size) {
  static const char chart[] = "plot_grouped_bars";
  if (check_path(chart, path, error, error_size) != 0)
    return -1;
  if (groups < 1)
    return fail(error, error_size, "%s: groups is %d, must be >= 1", chart,
                (int)groups);
  if (series < 1 || series > PLOT_MAX_SERIES)
    return fail(error, error_size, "%s: series is %d, must be 1 to %d", chart,
                (int)series, PLOT_MAX_SERIES);
  if ((int64_t)groups * (series + 1) > BARS_MAX_AREA_WIDTH)
    return fail(error, error_size,
                "%s: %d groups of %d bars do not fit in %d pixels", chart,
                (int)groups, (int)series, BARS_MAX_AREA_WIDTH);
  if (!values)
    return fail(error, error_size, "%s: values is NULL", chart);
  if (check_names(chart, "group_names", group_names, groups, error,
                  error_size) != 0 ||
      check_names(chart, "series_names", series_names, series, error,
                  error_size) != 0)
    return -1;
  return 0;
}

static void layout_grouped_bars(const char *const *group_names, int32_t groups,
                                const char *const *series_names,
                                int32_t series, bars_layout *layout) {
  int32_t slots = groups * (series + 1);
  int32_t bar = BARS_WIDTH_TARGET / slots;
  layout->bar_width = bar < 1 ? 1 : (bar > BARS_MAX_BAR ? BARS_MAX_BAR : bar);
  layout->group_width = layout->bar_width * (series + 1);

  value_axis axis = {0.0, 1.0, 0.1, 100.0};
  layout->axis = axis;
  layout->label_scale = layout->group_width >= 24 ? TEXT_SCALE : 1;
  int32_t line_height = text_height(layout->label_scale) + layout->label_scale;
  layout->label_step = (line_height + layout->group_width - 1) /
                       layout->group_width;
  layout->label_room = LABEL_MAX_CHARS * FONT_ADVANCE * layout->label_scale;
  layout->widest_label = widest_name(group_names, groups, layout->label_room,
                                     layout->label_scale);
  layout->labels_turned =
      layout->widest_label > layout->group_width * layout->label_step - 4;

  plot_area *area = &layout->area;
  area->x = plot_area_left(&layout->axis);
  area->y = title_band();
  area->width = groups * layout->group_width;
  area->height = BARS_AREA_HEIGHT;
  int32_t labels_height = layout->labels_turned
                              ? layout->widest_label
                              : text_height(layout->label_scale);
  layout->legend_x = area->x + area->width + 2 * GAP;
  layout->legend_y = area->y;
  layout->width = layout->legend_x + legend_width(series_names, series) +
                  MARGIN;
  layout->height =
      area->y + area->height + TICK_LENGTH + GAP + labels_height + MARGIN;
  int32_t legend_bottom = layout->legend_y + legend_height(series) + MARGIN;
  if (layout->height < legend_bottom)
    layout->height = legend_bottom;
  if (layout->width < 480)
    layout->width = 480;
}

static void draw_bars(plot_canvas *canvas, const bars_layout *layout,
                      int32_t groups, int32_t series, const double *values) {
  const plot_area *area = &layout->area;
  for (int32_t g = 0; g < groups; g++)
    for (int32_t s = 0; s < series; s++) {
      double value = values[(size_t)s * (size_t)groups + (size_t)g];
      if (isnan(value))
        continue;
      value = value < 0.0 ? 0.0 : (value > 1.0 ? 1.0 : value);
      int32_t height = (int32_t)lround(value * area->height);
      /* Half a gap on each side of the group's bars. */
      int32_t x = area->x + g * layout->group_width + layout->bar_width / 2 +
                  s * layout->bar_width;
      plot_fill_rect(canvas, x, area->y + area->height - height,
                     layout->bar_width, height, plot_series_colour(s));
    }
}

static void draw_group_labels(plot_canvas *canvas, const bars_layout *layout,
                              const char *const *group_names, int32_t groups) {
  const plot_area *area = &layout->area;
  int32_t scale = layout->label_scale;
  int32_t top = area->y + area->height + 1 + TICK_LENGTH + GAP / 2;
  char name[NAME_BUFFER];
  for (int32_t g = 0; g < groups; g++) {
    /* A tick between groups, a name under each named group. */
    int32_t group_x = area->x + g * layout->group_width;
    if (g > 0)
      plot_fill_rect(canvas, group_x, area->y + area->height + 1, 1,
                     TICK_LENGTH, axis_colour);
    if (g % layout->label_step != 0)
      continue;
    font_fit_text(group_names[g], layout->label_room, scale, name, sizeof name);
    int32_t centre_x = group_x + layout->group_width / 2;
    if (layout->labels_turned)
      font_draw_text_up(canvas, centre_x - FONT_CAP_HEIGHT * scale / 2, top,
                        name, scale, ink);
    else
      draw_text_centred(canvas, centre_x, top, name, scale, ink);
  }
}

int plot_grouped_bars(const char *path, const char *title, const char *y_label,
                      const char *const *group_names, int32_t groups,
                      const char *const *series_names, int32_t series,
                      const double *values, char *error, size_t error_size) {
  if (check_grouped_bars(path, group_names, groups, series_names, series,
                         values, error, error_size) != 0)
    return -1;
  bars_layout layout;
  layout_grouped_bars(group_names, groups, series_names, series, &layout);
  plot_canvas canvas;
  if (plot_canvas_init(&canvas, layout.width, layout.height, white) != 0)
    return fail(error, error_size, "cannot write '%s': out of memory", path);
  draw_title(&canvas, title);
  draw_value_axis(&canvas, &layout.area, &layout.axis, y_label);
  draw_bars(&canvas, &layout, groups, series, values);
  draw_group_labels(&canvas, &layout, group_names, groups);
  draw_axis_lines(&canvas, &layout.area);
  draw_legend(&canvas, layout.legend_x, layout.legend_y, series_names, series,
              SWATCH_BOX);
  int written = plot_write_png(&canvas, path, error, error_size);
  plot_canvas_release(&canvas);
  return written;
}

/* ---- lines ---------------------------------------------------------------- */

enum {
  LINES_AREA_WIDTH = 800,
  LINES_AREA_HEIGHT = 450,
  LINES_MARKER_SPACING = 12 /* markers on every point while this far apart */
};

/* Values beyond this are treated like infinities: the axis range must stay
 * finite when the extremes are subtracted. */
static const double largest_plotted = 1e150;

static bool plotted(double value) {
  return isfinite(value) && fabs(value) <= largest_plotted;
}

typedef struct lines_layout {
  plot_area area;
  value_axis axis;
  double x_low, x_high, x_step; /* x_step: between integer ticks */
  int32_t legend_x, legend_y;
  int32_t x_title_y;
  int32_t width, height;
  bool markers;
} lines_layout;

static int check_lines(const char *path, const char *const *series_names,
                       int32_t series, const double *const *values,
                       const int32_t *counts, char *error, size_t error_size) {
  static const char chart[] = "plot_lines";
  if (check_path(chart, path, error, error_size) != 0)
    return -1;
  if (series < 1 || series > PLOT_MAX_SERIES)
    return fail(error, error_size, "%s: series is %d, must be 1 to %d", chart,
                (int)series, PLOT_MAX_SERIES);
  if (!values || !counts)
    return fail(error, error_size, "%s: %s is NULL", chart,
                values ? "counts" : "values");
  if (check_names(chart, "series_names", series_names, series, error,
                  error_size) != 0)
    return -1;
  for (int32_t s = 0; s < series; s++) {
    if (counts[s] < 1)
      return fail(error, error_size, "%s: counts[%d] is %d, must be >= 1",
                  chart, (int)s, (int)counts[s]);
    if (!values[s])
      return fail(error, error_size, "%s: values[%d] is NULL", chart, (int)s);
  }
  return 0;
}

/* The y axis: from the finite values, widened to whole nice steps. */
static value_axis fit_value_axis(int32_t series, const double *const *values,
                                 const int32_t *counts) {
  double low = INFINITY, high = -INFINITY;
  for (int32_t s = 0; s < series; s++)
    for (int32_t i = 0; i < counts[s]; i++)
      if (plotted(values[s][i])) {
        low = fmin(low, values[s][i]);
        high = fmax(high, values[s][i]);
      }
  if (low > high) { /* nothing to plot */
    low = 0.0;
    high = 1.0;
  }
  if (high - low < fmax(fabs(high), 1.0) * 1e-9) { /* a flat line */
    double half_span = fmax(fabs(high) * 0.1, 0.5);
    low -= half_span;
    high += half_span;
  }
  value_axis axis;
  axis.step = nice_step((high - low) / 6.0);
  axis.low = floor(low / axis.step) * axis.step;
  axis.high = ceil(high / axis.step) * axis.step;
  axis.label_factor = 1.0;
  return axis;
}

/* The x axis: 1..longest series, padded so that end markers show whole, with
 * integer ticks far enough apart for their labels. */
static void fit_x_axis(int32_t series, const int32_t *counts,
                       lines_layout *layout) {
  int32_t longest = 1;
  for (int32_t s = 0; s < series; s++)
    if (counts[s] > longest)
      longest = counts[s];
  double low = 1.0, high = longest;
  if (longest == 1) {
    low = 0.0;
    high = 2.0;
  }
  double padding = (high - low) * 0.03;
  layout->x_low = low - padding;
  layout->x_high = high + padding;
  char widest[16];
  snprintf(widest, sizeof widest, "%d", (int)longest);
  int32_t label_room = font_text_width(widest, TEXT_SCALE) + 3 * GAP;
  int32_t most_ticks = LINES_AREA_WIDTH / label_room;
  double step = nice_step((high - low) / (most_ticks > 1 ? most_ticks : 1));
  layout->x_step = step < 1.0 ? 1.0 : step;
  layout->markers = LINES_AREA_WIDTH / (high - low) >= LINES_MARKER_SPACING;
}

static void layout_lines(const char *const *series_names, int32_t series,
                         const double *const *values, const int32_t *counts,
                         lines_layout *layout) {
  layout->axis = fit_value_axis(series, values, counts);
  fit_x_axis(series, counts, layout);
  plot_area *area = &layout->area;
  area->x = plot_area_left(&layout->axis);
  area->y = title_band();
  area->width = LINES_AREA_WIDTH;
  area->height = LINES_AREA_HEIGHT;
  layout->x_title_y = area->y + area->height + TICK_LENGTH + GAP +
                      text_height(TEXT_SCALE) + GAP;
  layout->legend_x = area->x + area->width + 2 * GAP;
  layout->legend_y = area->y;
  layout->width = layout->legend_x + legend_width(series_names, series) +
                  MARGIN;
  layout->height = layout->x_title_y + text_height(TEXT_SCALE) + MARGIN;
  int32_t legend_bottom = layout->legend_y + legend_height(series) + MARGIN;
  if (layout->height < legend_bottom)
    layout->height = legend_bottom;
}

static double x_to_pixel(const lines_layout *layout, double x) {
  return layout->area.x +
         (x - layout->x_low) / (layout->x_high - layout->x_low) *
             layout->area.width;
}

static void draw_x_axis(plot_canvas *canvas, const lines_layout *layout,
                        const char *x_label) {
  const plot_area *area = &layout->area;
  char label[32];
  double first = ceil(layout->x_low / layout->x_step) * layout->x_step;
  for (double x = first; x <= layout->x_high; x += layout->x_step) {
    if (x < 1.0) /* epochs start at 1 */
      continue;
    int32_t pixel_x = (int32_t)floor(x_to_pixel(layout, x));
    plot_fill_rect(canvas, pixel_x, area->y, 1, area->height, grid_colour);
    plot_fill_rect(canvas, pixel_x, area->y + area->height + 1, 1,
                   TICK_LENGTH, axis_colour);
    snprintf(label, sizeof label, "%.0f", x);
    draw_text_centred(canvas, pixel_x,
                      area->y + area->height + 1 + TICK_LENGTH + GAP / 2,
                      label, TEXT_SCALE, ink);
  }
  if (x_label && x_label[0] != '\0') {
    char fitted[NAME_BUFFER];
    font_fit_text(x_label, area->width, TEXT_SCALE, fitted, sizeof fitted);
    draw_text_centred(canvas, area->x + area->width / 2, layout->x_title_y,
                      fitted, TEXT_SCALE, ink);
  }
}

/* One series: segments between neighbouring plotted points, and a marker on
 * every point when they are sparse, or on a point with no plotted
 * neighbour, which no segment would show. */
static void draw_series(plot_canvas *canvas, const lines_layout *layout,
                        const double *values, int32_t count, plot_rgb colour) {
  const plot_area *area = &layout->area;
  for (int32_t i = 0; i < count; i++) {
    if (!plotted(values[i]))
      continue;
    double x = x_to_pixel(layout, i + 1.0);
    double y = value_to_y(area, &layout->axis, values[i]);
    bool has_next = i + 1 < count && plotted(values[i + 1]);
    bool has_previous = i > 0 && plotted(values[i - 1]);
    if (has_next)
      draw_segment(canvas, x, y, x_to_pixel(layout, i + 2.0),
                   value_to_y(area, &layout->axis, values[i + 1]), 1.3,
                   colour);
    if (layout->markers || (!has_next && !has_previous))
      draw_segment(canvas, x, y, x, y, 3.5, colour);
  }
}

int plot_lines(const char *path, const char *title, const char *x_label,
               const char *y_label, const char *const *series_names,
               int32_t series, const double *const *values,
               const int32_t *counts, char *error, size_t error_size) {
  if (check_lines(path, series_names, series, values, counts, error,
                  error_size) != 0)
    return -1;
  lines_layout layout;
  layout_lines(series_names, series, values, counts, &layout);
  plot_canvas canvas;
  if (plot_canvas_init(&canvas, layout.width, layout.height, white) != 0)
    return fail(error, error_size, "cannot write '%s': out of memory", path);
  draw_title(&canvas, title);
  draw_value_axis(&canvas, &layout.area, &layout.axis, y_label);
  draw_x_axis(&canvas, &layout, x_label);
  for (int32_t s = 0; s < series; s++)
    draw_series(&canvas, &layout, values[s], counts[s],
                plot_series_colour(s));
  draw_axis_lines(&canvas, &layout.area);
  draw_legend(&canvas, layout.legend_x, layout.legend_y, series_names, series,
              SWATCH_LINE);
  int written = plot_write_png(&canvas, path, error, error_size);
  plot_canvas_release(&canvas);
  return written;
}
