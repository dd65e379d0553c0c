/* A small built-in bitmap font for the charts: one 5 x 9 pixel glyph per
 * printable ASCII character (32..126; any other byte draws as '?'), capitals
 * 7 pixels tall with two rows below the baseline for descenders, drawn at an
 * integer scale, horizontally or turned 90 degrees to read upwards. */
#ifndef LOSSBAL_TRAIN_FONT_H
#define LOSSBAL_TRAIN_FONT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plot.h"

enum {
  FONT_GLYPH_WIDTH = 5,  /* inked columns of a glyph */
  FONT_GLYPH_HEIGHT = 9, /* rows of a glyph, descenders included */
  FONT_CAP_HEIGHT = 7,   /* rows above the baseline */
  FONT_ADVANCE = 6       /* columns from one glyph to the next */
};

/* Whether the glyph of character c has ink at (column, row), both from the
 * top-left of its 5 x 9 box; false outside the box. */
bool font_glyph_ink(char c, int32_t column, int32_t row);

/* The size in pixels of text drawn at scale: the width of the inked run (no
 * trailing gap after the last glyph; 0 for ""), and the glyph height. */
int32_t font_text_width(const char *text, int32_t scale);
int32_t font_text_height(int32_t scale);

/* Draws text with the top-left corner of its box at (x, y). */
void font_draw_text(plot_canvas *canvas, int32_t x, int32_t y,
                    const char *text, int32_t scale, plot_rgb colour);

/* Draws text turned 90 degrees anticlockwise, reading from bottom to top: its
 * box is font_text_height() wide and font_text_width() tall, with the
 * top-left corner at (x, y). */
void font_draw_text_up(plot_canvas *canvas, int32_t x, int32_t y,
                       const char *text, int32_t scale, plot_rgb colour);

/* Copies into out[0..out_size) the longest head of text that fits in
 * max_width pixels at scale, ending in ".." when it had to be cut, so that a
 * long class name stays recognisable. Returns out. */
char *font_fit_text(const char *text, int32_t max_width, int32_t scale,
                    char *out, size_t out_size);

#endif /* LOSSBAL_TRAIN_FONT_H */
