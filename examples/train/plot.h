/* The charts of lossbal-train, written as PNG files with libpng and a built-in
 * bitmap font (font.h): a confusion-matrix heat map, per-class bars by method
 * and training-loss curves.
 *
 * Every chart function returns 0, or -1 with a one-line reason in
 * error[0..error_size) (e.g. "cannot write 'x.png': Permission denied"); error
 * may be NULL when the reason is not wanted. The input values are never
 * modified. A chart is written to a temporary file beside the target and
 * renamed over it, so a failed write leaves neither a half file nor a
 * temporary one. Titles and axis labels may be NULL (nothing is drawn);
 * names may not. Nothing here prints, aborts or keeps global state. */
#ifndef LOSSBAL_TRAIN_PLOT_H
#define LOSSBAL_TRAIN_PLOT_H

#include <stddef.h>
#include <stdint.h>

/* ---- the three charts ----------------------------------------------------- */

/* A heat map of the row-normalised k x k matrix (matrix[true * k + pred];
 * each row divided by its sum, i.e. the recall of each true class), white for
 * 0 to dark blue for 1, with each cell's percentage while cells are large
 * enough to hold it. k is 1 to PLOT_MAX_CLASSES; entries must be >= 0. */
int plot_confusion(const char *path, const char *title, const int64_t *matrix,
                   int32_t k, const char *const *class_names, char *error,
                   size_t error_size);

/* For each group (class) one bar per series (method); values[s * groups + g]
 * is in 0..1 and drawn on an axis shown as 0..100 (outside values are
 * clamped, NaN draws no bar). series is 1 to PLOT_MAX_SERIES. */
int plot_grouped_bars(const char *path, const char *title, const char *y_label,
                      const char *const *group_names, int32_t groups,
                      const char *const *series_names, int32_t series,
                      const double *values, char *error, size_t error_size);

/* One line per series: values[s][0..counts[s]) at x = 1..counts[s], on a y
 * axis fitted to the finite values. NaN and infinite values are skipped (the
 * line breaks there); a lone point is drawn as a marker. */
int plot_lines(const char *path, const char *title, const char *x_label,
               const char *y_label, const char *const *series_names,
               int32_t series, const double *const *values,
               const int32_t *counts, char *error, size_t error_size);

enum {
  PLOT_MAX_CLASSES = 1000, /* confusion matrices up to 1000 x 1000 */
  PLOT_MAX_SERIES = 64,    /* series in a bar or line chart (legend rows) */
  PLOT_MAX_SIDE = 4000     /* no image is wider or taller than this */
};

/* Where plot_confusion() puts the cells, for tests and callers that want to
 * annotate: the image size and the grid's top-left corner and cell side, all
 * in pixels. Cell (true t, predicted p) covers x in [grid_x + p * cell_size,
 * grid_x + (p + 1) * cell_size), y likewise with t. */
typedef struct plot_confusion_geometry {
  int32_t width, height;
  int32_t grid_x, grid_y;
  int32_t cell_size;
} plot_confusion_geometry;

/* Fills geometry for the chart plot_confusion() would draw with the same k
 * and names (the title does not change it). Returns 0, or -1 with a reason. */
int plot_confusion_layout(int32_t k, const char *const *class_names,
                          plot_confusion_geometry *geometry, char *error,
                          size_t error_size);

/* ---- colours -------------------------------------------------------------- */

typedef struct plot_rgb {
  uint8_t r, g, b;
} plot_rgb;

/* The colour of series number index in bars, lines and legends: a fixed
 * palette of 8 colour-blind-friendly colours (Okabe & Ito), repeated. */
plot_rgb plot_series_colour(int32_t index);

/* The heat-map colour of a share in [0, 1]: white at 0, dark blue at 1. */
plot_rgb plot_heat_colour(double share);

/* ---- the canvas the charts are drawn on ----------------------------------- */

/* 8-bit RGB pixels, row after row, 3 bytes a pixel. */
typedef struct plot_canvas {
  int32_t width, height;
  uint8_t *pixels;
} plot_canvas;

/* Allocates a canvas of 1..PLOT_MAX_SIDE pixels a side filled with
 * background. Returns 0, or -1 (bad size or out of memory) leaving canvas
 * empty; plot_canvas_release() is safe on either. */
int plot_canvas_init(plot_canvas *canvas, int32_t width, int32_t height,
                     plot_rgb background);
void plot_canvas_release(plot_canvas *canvas);

/* Drawing clips to the canvas: any coordinates are safe. */
plot_rgb plot_get_pixel(const plot_canvas *canvas, int32_t x, int32_t y);
void plot_set_pixel(plot_canvas *canvas, int32_t x, int32_t y, plot_rgb colour);
void plot_fill_rect(plot_canvas *canvas, int32_t x, int32_t y, int32_t width,
                    int32_t height, plot_rgb colour);

/* Writes the canvas as an 8-bit RGB PNG (temporary file, then rename). */
int plot_write_png(const plot_canvas *canvas, const char *path, char *error,
                   size_t error_size);

#endif /* LOSSBAL_TRAIN_PLOT_H */
