/* The glyphs of the charts' bitmap font and the code that draws them. */
#include "font.h"

#include <string.h>

enum {
  FIRST_GLYPH = 32, /* ' ' */
  LAST_GLYPH = 126, /* '~' */
  GLYPHS_PER_BAND = 8
};

/* The glyphs, drawn as they look: '#' is ink. They are laid out in bands of
 * eight side by side, one string per pixel row, so that a glyph can be read
 * and edited in place; band b, row r holds row r of glyphs 8b..8b+7, each 5
 * columns wide and followed by a space. */
static const char *const glyph_art[] = {
  /* ' '   '!'   '"'   '#'   '$'   '%'   '&'   '\''  */
  "..... ..#.. .#.#. .#.#. ..#.. ##... .##.. ..#..",
  "..... ..#.. .#.#. .#.#. .#### ##..# #..#. ..#..",
  "..... ..#.. .#.#. ##### #.#.. ...#. #.#.. .#...",
  "..... ..#.. ..... .#.#. .###. ..#.. .#... .....",
  "..... ..#.. ..... ##### ..#.# .#... #.#.# .....",
  "..... ..... ..... .#.#. ####. #..## #..#. .....",
  "..... ..#.. ..... .#.#. ..#.. ...## .##.# .....",
  "..... ..... ..... ..... ..... ..... ..... .....",
  "..... ..... ..... ..... ..... ..... ..... .....",
  /* '('   ')'   '*'   '+'   ','   '-'   '.'   '/'   */
  "...#. .#... ..... ..... ..... ..... ..... .....",
  "..#.. ..#.. ..#.. ..#.. ..... ..... ..... ....#",
  ".#... ...#. #.#.# ..#.. ..... ..... ..... ...#.",
  ".#... ...#. .###. ##### ..... ##### ..... ..#..",
  ".#... ...#. #.#.# ..#.. ..... ..... ..... .#...",
  "..#.. ..#.. ..#.. ..#.. .##.. ..... .##.. #....",
  "...#. .#... ..... ..... ..#.. ..... .##.. .....",
  "..... ..... ..... ..... .#... ..... ..... .....",
  "..... ..... ..... ..... ..... ..... ..... .....",
  /* '0'   '1'   '2'   '3'   '4'   '5'   '6'   '7'   */
  ".###. ..#.. .###. ##### ...#. ##### ..##. #####",
  "#...# .##.. #...# ...#. ..##. #.... .#... ....#",
  "#..## ..#.. ....# ..#.. .#.#. ####. #.... ...#.",
  "#.#.# ..#.. ...#. ...#. #..#. ....# ####. ..#..",
  "##..# ..#.. ..#.. ....# ##### ....# #...# .#...",
  "#...# ..#.. .#... #...# ...#. #...# #...# .#...",
  ".###. .###. ##### .###. ...#. .###. .###. .#...",
  "..... ..... ..... ..... ..... ..... ..... .....",
  "..... ..... ..... ..... ..... ..... ..... .....",
  /* '8'   '9'   ':'   ';'   '<'   '='   '>'   '?'   */
  ".###. .###. ..... ..... ...#. ..... .#... .###.",
  "#...# #...# .##.. .##.. ..#.. ..... ..#.. #...#",
  "#...# #...# .##.. .##.. .#... ##### ...#. ....#",
  ".###. .#### ..... ..... #.... ..... ....# ...#.",
  "#...# ....# .##.. .##.. .#... ##### ...#. ..#..",
  "#...# ...#. .##.. .##.. ..#.. ..... ..#.. .....",
  ".###. .##.. ..... ..#.. ...#. ..... .#... ..#..",
  "..... ..... ..... .#... ..... ..... ..... .....",
  "..... ..... ..... ..... ..... ..... ..... .....",
  /* '@'   'A'   'B'   'C'   'D'   'E'   'F'   'G'   */
  ".###. .###. ####. .###. ###.. ##### ##### .###.",
  "#...# #...# #...# #...# #..#. #.... #.... #...#",
  "#.### #...# #...# #.... #...# #.... #.... #....",
  "#.#.# ##### ####. #.... #...# ####. ####. #.###",
  "#.### #...# #...# #.... #...# #.... #.... #...#",
  "#.... #...# #...# #...# #..#. #.... #.... #...#",
  ".###. #...# ####. .###. ###.. ##### #.... .####",
  "..... ..... ..... ..... ..... ..... ..... .....",
  "..... ..... ..... ..... ..... ..... ..... .....",
  /* 'H'   'I'   'J'   'K'   'L'   'M'   'N'   'O'   */
  "#...# .###. ..### #...# #.... #...# #...# .###.",
  "#...# ..#.. ...#. #..#. #.... ##.## #...# #...#",
  "#...# ..#.. ...#. #.#.. #.... #.#.# ##..# #...#",
  "##### ..#.. ...#. ##... #.... #.#.# #.#.# #...#",
  "#...# ..#.. ...#. #.#.. #.... #...# #..## #...#",
  "#...# ..#.. #..#. #..#. #.... #...# #...# #...#",
  "#...# .###. .##.. #...# ##### #...# #...# .###.",
  "..... ..... ..... ..... ..... ..... ..... .....",
  "..... ..... ..... ..... ..... ..... ..... .....",
  /* 'P'   'Q'   'R'   'S'   'T'   'U'   'V'   'W'   */
  "####. .###. ####. .#### ##### #...# #...# #...#",
  "#...# #...# #...# #.... ..#.. #...# #...# #...#",
  "#...# #...# #...# #.... ..#.. #...# #...# #...#",
  "####. #...# ####. .###. ..#.. #...# #...# #.#.#",
  "#.... #.#.# #.#.. ....# ..#.. #...# #...# #.#.#",
  "#.... #..#. #..#. ....# ..#.. #...# .#.#. #.#.#",
  "#.... .##.# #...# ####. ..#.. .###. ..#.. .#.#.",
  "..... ..... ..... ..... ..... ..... ..... .....",
  "..... ..... ..... ..... ..... ..... ..... .....",
  /* 'X'   'Y'   'Z'   '['   '\\'  ']'   '^'   '_'   */
  "#...# #...# ##### .###. ..... .###. ..#.. .....",
  "#...# #...# ....# .#... #.... ...#. .#.#. .....",
  ".#.#. .#.#. ...#. .#... .#... ...#. #...# .....",
  "..#.. ..#.. ..#.. .#... ..#.. ...#. ..... .....",
  ".#.#. ..#.. .#... .#... ...#. ...#. ..... .....",
  "#...# ..#.. #.... .#... ....# ...#. ..... .....",
  "#...# ..#.. ##### .###. ..... .###. ..... .....",
  "..... ..... ..... ..... ..... ..... ..... #####",
  "..... ..... ..... ..... ..... ..... ..... .....",
  /* '`'   'a'   'b'   'c'   'd'   'e'   'f'   'g'   */
  ".#... ..... #.... ..... ....# ..... ..##. .....",
  "..#.. ..... #.... ..... ....# ..... .#..# .....",
  "...#. .###. #.##. .###. .##.# .###. .#... .####",
  "..... ....# ##..# #.... #..## #...# ###.. #...#",
  "..... .#### #...# #.... #...# ##### .#... #...#",
  "..... #...# #...# #...# #...# #.... .#... #..##",
  "..... .#### ####. .###. .#### .###. .#... .##.#",
  "..... ..... ..... ..... ..... ..... ..... ....#",
  "..... ..... ..... ..... ..... ..... ..... .###.",
  /* 'h'   'i'   'j'   'k'   'l'   'm'   'n'   'o'   */
  "#.... ..#.. ...#. #.... .##.. ..... ..... .....",
  "#.... ..... ..... #.... ..#.. ..... ..... .....",
  "#.##. .##.. ..##. #..#. ..#.. ##.#. #.##. .###.",
  "##..# ..#.. ...#. #.#.. ..#.. #.#.# ##..# #...#",
  "#...# ..#.. ...#. ##... ..#.. #.#.# #...# #...#",
  "#...# ..#.. ...#. #.#.. ..#.. #.#.# #...# #...#",
  "#...# .###. ...#. #..#. .###. #.#.# #...# .###.",
  "..... ..... #..#. ..... ..... ..... ..... .....",
  "..... ..... .##.. ..... ..... ..... ..... .....",
  /* 'p'   'q'   'r'   's'   't'   'u'   'v'   'w'   */
  "..... ..... ..... ..... .#... ..... ..... .....",
  "..... ..... ..... ..... .#... ..... ..... .....",
  "####. .#### #.##. .#### ###.. #...# #...# #...#",
  "#...# #...# ##..# #.... .#... #...# #...# #...#",
  "#...# #...# #.... .###. .#... #...# #...# #.#.#",
  "#...# #...# #.... ....# .#..# #..## .#.#. #.#.#",
  "####. .#### #.... ####. ..##. .##.# ..#.. .#.#.",
  "#.... ....# ..... ..... ..... ..... ..... .....",
  "#.... ....# ..... ..... ..... ..... ..... .....",
  /* 'x'   'y'   'z'   '{'   '|'   '}'   '~'   */
  "..... ..... ..... ...## ..#.. ##... .....",
  "..... ..... ..... ..#.. ..#.. ..#.. .....",
  "#...# #...# ##### ..#.. ..#.. ..#.. .#...",
  ".#.#. #...# ...#. .#... ..#.. ...#. #.#.#",
  "..#.. #...# ..#.. ..#.. ..#.. ..#.. ...#.",
  ".#.#. #..## .#... ..#.. ..#.. ..#.. .....",
  "#...# .##.# ##### ...## ..#.. ##... .....",
  "..... ....# ..... ..... ..#.. ..... .....",
  "..... .###. ..... ..... ..#.. ..... .....",
};

enum {
  GLYPH_COUNT = LAST_GLYPH - FIRST_GLYPH + 1,
  BAND_COUNT = (GLYPH_COUNT + GLYPHS_PER_BAND - 1) / GLYPHS_PER_BAND
};

_Static_assert(sizeof glyph_art / sizeof glyph_art[0] ==
                   (size_t)BAND_COUNT * FONT_GLYPH_HEIGHT,
               "every band of glyphs has one string per pixel row");

bool font_glyph_ink(char c, int32_t column, int32_t row) {
  if (column < 0 || column >= FONT_GLYPH_WIDTH || row < 0 ||
      row >= FONT_GLYPH_HEIGHT)
    return false;
  int32_t code = (unsigned char)c;
  if (code < FIRST_GLYPH || code > LAST_GLYPH)
    code = '?';
  int32_t index = code - FIRST_GLYPH;
  const char *art_row =
      glyph_art[(index / GLYPHS_PER_BAND) * FONT_GLYPH_HEIGHT + row];
  int32_t offset = (index % GLYPHS_PER_BAND) * (FONT_GLYPH_WIDTH + 1) + column;
  /* The last band is shorter than the others. */
  if ((size_t)offset >= strlen(art_row))
    return false;
  return art_row[offset] == '#';
}

int32_t font_text_width(const char *text, int32_t scale) {
  size_t length = text ? strlen(text) : 0;
  if (length == 0)
    return 0;
  return (int32_t)((length * FONT_ADVANCE - (FONT_ADVANCE - FONT_GLYPH_WIDTH)) *
                   (size_t)scale);
}

int32_t font_text_height(int32_t scale) { return FONT_GLYPH_HEIGHT * scale; }

/* Paints one inked font pixel, given in text coordinates (text_x along the
 * text from its start, text_y down from its top, both already scaled), for
 * text whose box has its top-left corner at (origin_x, origin_y). */
typedef void paint_pixel_fn(plot_canvas *canvas, int32_t origin_x,
                            int32_t origin_y, int32_t text_x, int32_t text_y,
                            int32_t scale, int32_t text_width,
                            plot_rgb colour);

/* Calls paint for every inked pixel of every glyph of text. */
static void for_each_ink(plot_canvas *canvas, int32_t origin_x,
                         int32_t origin_y, const char *text, int32_t scale,
                         plot_rgb colour, paint_pixel_fn *paint) {
  if (!canvas || !text || scale < 1)
    return;
  int32_t text_width = font_text_width(text, scale);
  for (size_t i = 0; text[i] != '\0'; i++)
    for (int32_t row = 0; row < FONT_GLYPH_HEIGHT; row++)
      for (int32_t column = 0; column < FONT_GLYPH_WIDTH; column++)
        if (font_glyph_ink(text[i], column, row))
          paint(canvas, origin_x, origin_y,
                ((int32_t)i * FONT_ADVANCE + column) * scale, row * scale,
                scale, text_width, colour);
}

static void paint_upright(plot_canvas *canvas, int32_t origin_x,
                          int32_t origin_y, int32_t text_x, int32_t text_y,
                          int32_t scale, int32_t text_width, plot_rgb colour) {
  (void)text_width;
  plot_fill_rect(canvas, origin_x + text_x, origin_y + text_y, scale, scale,
                 colour);
}

/* Turned anticlockwise: the text's x runs up the canvas from the bottom of
 * the box, the text's y runs right from its left edge. */
static void paint_turned_up(plot_canvas *canvas, int32_t origin_x,
                            int32_t origin_y, int32_t text_x, int32_t text_y,
                            int32_t scale, int32_t text_width,
                            plot_rgb colour) {
  plot_fill_rect(canvas, origin_x + text_y,
                 origin_y + text_width - text_x - scale, scale, scale, colour);
}

void font_draw_text(plot_canvas *canvas, int32_t x, int32_t y,
                    const char *text, int32_t scale, plot_rgb colour) {
  for_each_ink(canvas, x, y, text, scale, colour, paint_upright);
}

void font_draw_text_up(plot_canvas *canvas, int32_t x, int32_t y,
                       const char *text, int32_t scale, plot_rgb colour) {
  for_each_ink(canvas, x, y, text, scale, colour, paint_turned_up);
}

char *font_fit_text(const char *text, int32_t max_width, int32_t scale,
                    char *out, size_t out_size) {
  if (!out || out_size == 0)
    return out;
  out[0] = '\0';
  if (!text || scale < 1)
    return out;
  size_t length = strlen(text);
  if (length > out_size - 1)
    length = out_size - 1;
  memcpy(out, text, length);
  out[length] = '\0';
  if (length == strlen(text) && font_text_width(out, scale) <= max_width)
    return out;
  /* Cut: keep as many characters as fit beside the ".." that marks the cut,
   * or just what fits when not even one character and ".." do. */
  static const char cut_mark[] = "..";
  size_t mark_length = sizeof cut_mark - 1;
  while (length > 0) {
    length--;
    if (length + mark_length > out_size - 1)
      continue;
    memcpy(out + length, cut_mark, mark_length + 1);
    if (font_text_width(out, scale) <= max_width)
      return out;
  }
  out[0] = '\0';
  return out;
}
