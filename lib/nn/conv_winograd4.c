/* Winograd F(4x4, 3x3) forward of prepared filters (Lavin and Gray, "Fast
 * Algorithms for Convolutional Neural Networks", 2016), for inference: see
 * conv_winograd4.h.
 *
 * The output is cut into 4x4 tiles; tile t of a channel reads the 6x6
 * input patch around it. With the transforms (interpolation points 0, 1,
 * -1, 2, -2 and infinity)
 *   U = G g G^T      (each 3x3 filter g becomes 6x6),
 *   V = B^T d B      (each 6x6 input patch d),
 *   Y = A^T M A      (each 6x6 product M becomes the 4x4 output tile),
 * the convolution is, for each of the 36 positions k of a 6x6 tile, one
 * GEMM over the channels:  M_k [Co, T] = U_k [Co, Ci] * V_k [Ci, T].
 * Against F(2x2, 3x3) (conv_winograd.c) that is 2.25 multiplications per
 * output and input channel instead of 4, and a V and an M of 2.25 floats
 * per output pixel instead of 4: fewer products and less memory for the
 * transforms to write and the products to read. The price is rounding:
 * the transforms' coefficients (up to 8, and 1/6 and 1/24 in G, which
 * floats do not hold exactly) round more than F(2x2)'s (0, 1 and 1/2),
 * which is why training, whose gradients the parity tests hold to
 * PyTorch's, keeps F(2x2); the tests hold this forward to the direct sum
 * within 1e-5 of the output's scale.
 *
 * One call does images [first, first + count) on the calling thread, in
 * blocks of whole images with at least MIN_COLUMNS tiles (the GEMMs'
 * columns) when the range has that many. For each block:
 *  1. each input channel's planes are copied into zero-padded planes whose
 *     height and width are 4 * tiles + 2, so no patch needs a test at the
 *     edges (the borders are cleared once per call, or per block and part
 *     when split by channels, and never written);
 *     V's column t * images + b is then tile t of image b;
 *  2. tile by tile, B^T along the patch's rows then down its columns, each
 *     step one loop across the block's images (the padded planes hold the
 *     images side by side, pixel by pixel), into V's rows;
 *  3. the 36 products, on this thread (lb_sgemm_packed(): U is prepared
 *     in its panels);
 *  4. per output channel, tile by tile: A^T down M's columns, then along
 *     the rows, plus the bias, across the images, then the 4x4 tile of
 *     each image into its output plane.
 * The transforms of each tile do the same arithmetic whatever the block
 * and the range, and so do the products (each output summed down the
 * channels one multiply-add at a time, whatever the block's rows and
 * columns): the bits do not depend on the ranges or the blocks.
 *
 * lb_winograd4_forward_channels() takes the whole batch in the blocks one
 * thread would cut, each block in two jobs over the pool: step 2 split by
 * input channels (each part on padded planes and a tile scratch of its
 * own, into the shared V), then steps 3 and 4 split by output channels (a
 * part's rows of the 36 products, into the shared M, then its channels'
 * output planes and the epilogue on them). For small images, whose blocks
 * need more images than a range's share of the batch: each thread then
 * reads only its share of U. Its bits are those of one range, on any
 * number of parts.
 */
#include "conv_winograd4.h"

#include "../core/core_internal.h"
#include "../core/gemm_packed.h"
#include "../core/vector_kernel.h"

#include <string.h>

/* Positions of a transformed 6x6 tile: the number of GEMMs. */
#define TILE_TAPS 36
/* Side of a transformed tile, and of an output tile. */
#define PATCH 6
#define TILE 4

/* Fewest GEMM columns (tiles) per block, when the range has them. Narrower
 * products run below OpenBLAS's best rate; wider blocks leave the L2. */
#define MIN_COLUMNS 256

/* Images a vector of the transforms holds (AVX2: 8 floats). */
#define IMAGE_VECTOR 8

/* Floats per image of a tile's scratch: B^T d (36), or A^T M (24) and the
 * output tile (16). */
#define TILE_SCRATCH 40

/* ---- sizes --------------------------------------------------------------- */

static int64_t tile_rows(const lb_conv2d_geometry *g) {
  return (g->out_h + TILE - 1) / TILE;
}

static int64_t tile_cols(const lb_conv2d_geometry *g) {
  return (g->out_w + TILE - 1) / TILE;
}

static int64_t tiles_per_image(const lb_conv2d_geometry *g) {
  return tile_rows(g) * tile_cols(g);
}

static int64_t padded_height(const lb_conv2d_geometry *g) {
  return TILE * tile_rows(g) + 2;
}

static int64_t padded_width(const lb_conv2d_geometry *g) {
  return TILE * tile_cols(g) + 2;
}

static int64_t padded_floats(const lb_conv2d_geometry *g) {
  return padded_height(g) * padded_width(g);
}

/* How a call cuts its images into blocks: `images` per block (the stride
 * of the padded planes and of a tile's scratch), and the block's
 * `columns`, images * tiles per image (the length of V's and M's rows). */
typedef struct block_shape {
  int64_t images, columns;
} block_shape;

/* Images per block: enough for MIN_COLUMNS tiles, a multiple of
 * IMAGE_VECTOR (the transforms' vectors run across the block's images), at
 * most `share` images. */
static block_shape blocks_of(const lb_conv2d_geometry *g, int64_t share) {
  int64_t tiles = tiles_per_image(g);
  int64_t images = (MIN_COLUMNS + tiles - 1) / tiles;
  images = (images + IMAGE_VECTOR - 1) / IMAGE_VECTOR * IMAGE_VECTOR;
  if (images > share)
    images = share;
  return (block_shape){images, images * tiles};
}

/* A range's blocks: at most one range's share of the batch (the ranges of
 * lb_model_predict() are one per thread at validation, g->slots; a range
 * with more images, after a change of thread count, goes in more
 * blocks). */
static block_shape range_blocks(const lb_conv2d_geometry *g) {
  int64_t slots = g->slots > 1 ? g->slots : 1;
  return blocks_of(g, (g->batch + slots - 1) / slots);
}

/* The whole batch's blocks, as one thread on one range cuts them. */
static block_shape batch_blocks(const lb_conv2d_geometry *g) {
  return blocks_of(g, g->batch);
}

/* A workspace: V [36, Ci, N] and M [36, Co, N], N a block's columns, then
 * per thread the padded planes of a block's images, a tile's scratch and
 * the products' (lb_sgemm_packed()). A range has one thread; the split by
 * channels one per part. */
typedef struct workspace_parts {
  float *v, *m, *padded, *tile, *products;
} workspace_parts;

static int64_t v_floats(const lb_conv2d_geometry *g, block_shape shape) {
  return TILE_TAPS * g->in_channels * shape.columns;
}

static int64_t m_floats(const lb_conv2d_geometry *g, block_shape shape) {
  return TILE_TAPS * g->out_channels * shape.columns;
}

static int64_t thread_scratch_floats(const lb_conv2d_geometry *g,
                                     block_shape shape) {
  return shape.images * (padded_floats(g) + TILE_SCRATCH) +
         lb_sgemm_packed_scratch_floats();
}

/* The parts of `workspace` that thread `thread` uses. */
static workspace_parts parts_of(const lb_conv2d_geometry *g,
                                block_shape shape, float *workspace,
                                int32_t thread) {
  float *padded = workspace + v_floats(g, shape) + m_floats(g, shape) +
                  thread * thread_scratch_floats(g, shape);
  float *tile = padded + shape.images * padded_floats(g);
  workspace_parts parts = {workspace, workspace + v_floats(g, shape), padded,
                           tile, tile + shape.images * TILE_SCRATCH};
  return parts;
}

static size_t workspace_bytes(const lb_conv2d_geometry *g, block_shape shape,
                              int32_t threads) {
  int64_t floats = v_floats(g, shape) + m_floats(g, shape) +
                   threads * thread_scratch_floats(g, shape);
  return (size_t)floats * sizeof(float);
}

/* Floats of one tap's U_k [Co, Ci], packed for lb_sgemm_packed(). */
static int64_t tap_floats(const lb_conv2d_geometry *g) {
  return lb_packed_floats(g->out_channels, g->in_channels);
}

int64_t lb_winograd4_prepared_floats(const lb_conv2d_geometry *g) {
  return TILE_TAPS * tap_floats(g);
}

size_t lb_winograd4_images_workspace_bytes(const lb_conv2d_geometry *g) {
  return workspace_bytes(g, range_blocks(g), 1);
}

/* ---- the filters --------------------------------------------------------- */

/* Filters transformed together: the loops below run across a group, and
 * its arrays fill 12 KB on the stack. */
#define FILTER_GROUP 64

/* G, 6x3, row a: the filter's values at interpolation point a. */
static const float filter_points[PATCH][3] = {
    {1.0f / 4, 0, 0},
    {-1.0f / 6, -1.0f / 6, -1.0f / 6},
    {-1.0f / 6, 1.0f / 6, -1.0f / 6},
    {1.0f / 24, 1.0f / 12, 1.0f / 6},
    {1.0f / 24, -1.0f / 12, 1.0f / 6},
    {0, 0, 1}};

/* u[a*6 + d][f] = (G g_f G^T)[a][d] for the n filters g[9][f]. */
LB_VECTOR_KERNEL
static void transform_filters(float g[9][FILTER_GROUP], int64_t n,
                              float u[TILE_TAPS][FILTER_GROUP]) {
  float half[PATCH][3][FILTER_GROUP];
  for (int a = 0; a < PATCH; a++)
    for (int c = 0; c < 3; c++)
      for (int64_t f = 0; f < n; f++)
        half[a][c][f] = filter_points[a][0] * g[c][f] +
                        filter_points[a][1] * g[3 + c][f] +
                        filter_points[a][2] * g[6 + c][f];
  for (int a = 0; a < PATCH; a++)
    for (int d = 0; d < PATCH; d++)
      for (int64_t f = 0; f < n; f++)
        u[a * PATCH + d][f] = half[a][0][f] * filter_points[d][0] +
                              half[a][1][f] * filter_points[d][1] +
                              half[a][2][f] * filter_points[d][2];
}

/* The n filters from filter `first` of weight [Co, Ci, 3, 3] (filter
 * o * Ci + i), each times its output channel's scale (scale NULL: 1),
 * into U [36, Co, Ci], each tap's U_k packed (gemm_packed.h). */
static void prepare_group(const lb_conv2d_geometry *g, const float *weight,
                          const float *scale, int64_t first, int64_t n,
                          float *prepared) {
  float taps[9][FILTER_GROUP], u[TILE_TAPS][FILTER_GROUP];
  for (int64_t f = 0; f < n; f++) {
    const float *filter = weight + (first + f) * 9;
    float by = scale ? scale[(first + f) / g->in_channels] : 1.0f;
    for (int t = 0; t < 9; t++)
      taps[t][f] = filter[t] * by;
  }
  transform_filters(taps, n, u);
  for (int k = 0; k < TILE_TAPS; k++)
    lb_packed_store(u[k], first, n, g->in_channels,
                    prepared + k * tap_floats(g));
}

void lb_winograd4_prepare(const lb_conv2d_geometry *g, const float *weight,
                          const float *scale, int64_t first, int64_t end,
                          float *prepared) {
  int64_t from = first * g->in_channels, to = end * g->in_channels;
  for (int64_t at = from; at < to; at += FILTER_GROUP)
    prepare_group(g, weight, scale, at,
                  to - at < FILTER_GROUP ? to - at : FILTER_GROUP, prepared);
  /* The last panel's rows past the last channel, which the products
   * compute and drop. */
  lb_packed_clear_padding_by_range(first, end, g->out_channels,
                                   g->in_channels, TILE_TAPS, prepared);
}

/* ---- the 1-D transforms -------------------------------------------------- */

/* B^T on 6 values, written once for the tile-by-tile step and the
 * vectorised loop so both round alike. */
#define INPUT_1D(x0, x1, x2, x3, x4, x5, y0, y1, y2, y3, y4, y5)              \
  do {                                                                         \
    float sum_12_ = (x1) + (x2), diff_12_ = (x1) - (x2);                       \
    float outer_ = (x4) - (x2), inner_ = (x3) - (x1);                          \
    (y0) = 4.0f * (x0) - 5.0f * (x2) + (x4);                                   \
    (y1) = ((x3) + (x4)) - 4.0f * sum_12_;                                     \
    (y2) = ((x4) - (x3)) + 4.0f * diff_12_;                                    \
    (y3) = outer_ + 2.0f * inner_;                                             \
    (y4) = outer_ - 2.0f * inner_;                                             \
    (y5) = 4.0f * (x1) - 5.0f * (x3) + (x5);                                   \
  } while (0)

/* A^T on 6 values: 4 out. */
#define OUTPUT_1D(x0, x1, x2, x3, x4, x5, y0, y1, y2, y3)                     \
  do {                                                                         \
    float sum_12_ = (x1) + (x2), diff_12_ = (x1) - (x2);                       \
    float sum_34_ = (x3) + (x4), diff_34_ = (x3) - (x4);                       \
    (y0) = (x0) + sum_12_ + sum_34_;                                           \
    (y1) = diff_12_ + 2.0f * diff_34_;                                         \
    (y2) = sum_12_ + 4.0f * sum_34_;                                           \
    (y3) = diff_12_ + 8.0f * diff_34_ + (x5);                                  \
  } while (0)

/* ---- the input transform ------------------------------------------------- */

/* The padded planes of a block hold its images side by side: pixel (y, x)
 * of image b of the block at [(y * padded width + x) * per_block + b], so
 * that a tile's pixel over the block's images is one contiguous run, the
 * vector of the loops below. */

/* Copies channel `channel` of images [image, image + images) into the
 * interiors of the padded planes (their borders stay 0). */
static void pad_channel(const lb_conv2d_geometry *g, block_shape shape,
                        const float *input, int64_t image, int64_t images,
                        int64_t channel, float *padded) {
  int64_t width = padded_width(g), stride = shape.images;
  int64_t pixels = g->in_h * g->in_w;
  for (int64_t b = 0; b < images; b++) {
    const float *from =
        input + ((image + b) * g->in_channels + channel) * pixels;
    for (int64_t y = 0; y < g->in_h; y++) {
      float *to = padded + ((y + 1) * width + 1) * stride + b;
      for (int64_t x = 0; x < g->in_w; x++)
        to[x * stride] = from[y * g->in_w + x];
    }
  }
}

/* Where V's or M's 36 rows of one channel and one tile start, and how far
 * apart they are. */
typedef struct tap_rows {
  float *first;
  int64_t step;
} tap_rows;

/* V = B^T d B for one tile over n images: patch points at pixel (0, 0) of
 * its 6x6 patch, `row` floats from one patch row to the next and `stride`
 * from one pixel to the next; h is room for 36 x stride floats. */
LB_VECTOR_KERNEL
static void input_tile(const float *restrict patch, int64_t row,
                       int64_t stride, int64_t n, float *restrict h,
                       tap_rows v) {
  for (int i = 0; i < PATCH; i++) {
    const float *restrict x = patch + i * row;
    float *restrict y = h + i * PATCH * stride;
    LB_ELEMENTWISE_LOOP
    for (int64_t b = 0; b < n; b++)
      INPUT_1D(x[b], x[stride + b], x[2 * stride + b], x[3 * stride + b],
               x[4 * stride + b], x[5 * stride + b], y[b], y[stride + b],
               y[2 * stride + b], y[3 * stride + b], y[4 * stride + b],
               y[5 * stride + b]);
  }
  int64_t down = PATCH * stride, tap = v.step;
  for (int l = 0; l < PATCH; l++) {
    const float *restrict x = h + l * stride;
    float *restrict y = v.first + l * tap;
    LB_ELEMENTWISE_LOOP
    for (int64_t b = 0; b < n; b++)
      INPUT_1D(x[b], x[down + b], x[2 * down + b], x[3 * down + b],
               x[4 * down + b], x[5 * down + b], y[b], y[PATCH * tap + b],
               y[2 * PATCH * tap + b], y[3 * PATCH * tap + b],
               y[4 * PATCH * tap + b], y[5 * PATCH * tap + b]);
  }
}

/* V's columns for channel `channel` of a block of `images` images whose
 * planes of that channel are in `padded`: column t * images + b is tile t
 * of image b. */
static void transform_channel(const lb_conv2d_geometry *g,
                              block_shape shape, const float *padded,
                              int64_t channel, int64_t images, float *h,
                              float *v) {
  int64_t stride = shape.images, row = padded_width(g) * stride;
  int64_t n = shape.columns;
  for (int64_t ty = 0; ty < tile_rows(g); ty++)
    for (int64_t tx = 0; tx < tile_cols(g); tx++) {
      int64_t tile = ty * tile_cols(g) + tx;
      const float *patch = padded + ty * TILE * row + tx * TILE * stride;
      tap_rows rows = {v + channel * n + tile * images, g->in_channels * n};
      input_tile(patch, row, stride, images, h, rows);
    }
}

/* ---- the output transform ------------------------------------------------ */

/* y = A^T M A + bias for one tile over n images, M's 36 rows from m;
 * q is room for 24 x stride floats, y for 16 x stride: value (r, c) of
 * image b at y[(r * 4 + c) * stride + b]. */
LB_VECTOR_KERNEL
static void output_tile(tap_rows m, int64_t stride, int64_t n, float bias,
                        float *restrict q, float *restrict y) {
  int64_t tap = m.step;
  for (int l = 0; l < PATCH; l++) {
    const float *restrict x = m.first + l * tap;
    float *restrict to = q + l * stride;
    int64_t across = PATCH * stride;
    LB_ELEMENTWISE_LOOP
    for (int64_t b = 0; b < n; b++)
      OUTPUT_1D(x[b], x[PATCH * tap + b], x[2 * PATCH * tap + b],
                x[3 * PATCH * tap + b], x[4 * PATCH * tap + b],
                x[5 * PATCH * tap + b], to[b], to[across + b],
                to[2 * across + b], to[3 * across + b]);
  }
  for (int r = 0; r < TILE; r++) {
    const float *restrict x = q + r * PATCH * stride;
    float *restrict to = y + r * TILE * stride;
    LB_ELEMENTWISE_LOOP
    for (int64_t b = 0; b < n; b++) {
      OUTPUT_1D(x[b], x[stride + b], x[2 * stride + b], x[3 * stride + b],
                x[4 * stride + b], x[5 * stride + b], to[b],
                to[stride + b], to[2 * stride + b], to[3 * stride + b]);
      to[b] += bias;
      to[stride + b] += bias;
      to[2 * stride + b] += bias;
      to[3 * stride + b] += bias;
    }
  }
}

/* Tile (ty, tx) of y (as output_tile() leaves it) into the output planes
 * of channel `channel` of the block's n images from `image`; a tile past
 * the edge is cut. */
static void write_tile(const lb_conv2d_geometry *g, const float *y,
                       int64_t stride, int64_t n, int64_t ty, int64_t tx,
                       int64_t image, int64_t channel, float *output) {
  int64_t pixels = g->out_h * g->out_w;
  int64_t y0 = ty * TILE, x0 = tx * TILE;
  int64_t height = g->out_h - y0 < TILE ? g->out_h - y0 : TILE;
  int64_t width = g->out_w - x0 < TILE ? g->out_w - x0 : TILE;
  for (int64_t b = 0; b < n; b++) {
    float *to = output + ((image + b) * g->out_channels + channel) * pixels +
                y0 * g->out_w + x0;
    for (int64_t r = 0; r < height; r++)
      for (int64_t c = 0; c < width; c++)
        to[r * g->out_w + c] = y[(r * TILE + c) * stride + b];
  }
}

/* The output planes of channel `channel` of the block's `images` images
 * from image `image`, from M. */
static void output_channel(const lb_conv2d_geometry *g, block_shape shape,
                           float *m, int64_t channel, int64_t images,
                           float bias, float *q, float *y, int64_t image,
                           float *output) {
  int64_t stride = shape.images, n = shape.columns;
  for (int64_t ty = 0; ty < tile_rows(g); ty++)
    for (int64_t tx = 0; tx < tile_cols(g); tx++) {
      int64_t tile = ty * tile_cols(g) + tx;
      tap_rows rows = {m + channel * n + tile * images, g->out_channels * n};
      output_tile(rows, stride, images, bias, q, y);
      write_tile(g, y, stride, images, ty, tx, image, channel, output);
    }
}

/* ---- a block of images --------------------------------------------------- */

/* V's rows of input channels [first, end) of the block's `images` images
 * from image `image`, on the thread's padded planes. */
static void transform_block(const lb_conv2d_geometry *g, block_shape shape,
                            const float *input, int64_t image, int64_t images,
                            int64_t first, int64_t end,
                            workspace_parts parts) {
  for (int64_t c = first; c < end; c++) {
    pad_channel(g, shape, input, image, images, c, parts.padded);
    transform_channel(g, shape, parts.padded, c, images, parts.tile,
                      parts.v);
  }
}

/* M's rows of output channels [first, end): the 36 products of the
 * block's `columns` columns, on this thread (lb_sgemm_packed()). */
static void multiply_block(const lb_conv2d_geometry *g, block_shape shape,
                           const float *u, int64_t columns, int64_t first,
                           int64_t end, workspace_parts parts) {
  int64_t ci = g->in_channels, co = g->out_channels, n = shape.columns;
  for (int k = 0; k < TILE_TAPS; k++)
    lb_sgemm_packed(u + k * tap_floats(g), ci, first, end,
                    parts.v + k * ci * n, n, columns, parts.m + k * co * n, n,
                    parts.products);
}

/* Output channel `channel` of the block's `images` images from image
 * `image`, from M, plus its bias. */
static void output_block_channel(const lb_conv2d_geometry *g,
                                 block_shape shape, const float *bias,
                                 workspace_parts parts, int64_t image,
                                 int64_t images, int64_t channel,
                                 float *output) {
  float *q = parts.tile, *y = parts.tile + TILE * PATCH * shape.images;
  output_channel(g, shape, parts.m, channel, images,
                 bias ? bias[channel] : 0.0f, q, y, image, output);
}

static void forward_block(const lb_conv2d_geometry *g, block_shape shape,
                          const float *input, const float *u,
                          const float *bias, float *output,
                          workspace_parts parts, int64_t image,
                          int64_t images) {
  transform_block(g, shape, input, image, images, 0, g->in_channels, parts);
  multiply_block(g, shape, u, images * tiles_per_image(g), 0,
                 g->out_channels, parts);
  for (int64_t o = 0; o < g->out_channels; o++)
    output_block_channel(g, shape, bias, parts, image, images, o, output);
}

/* The images of the block from image `image` of images ending at `end`. */
static int64_t images_from(block_shape shape, int64_t image, int64_t end) {
  return end - image < shape.images ? end - image : shape.images;
}

/* The borders of the padded planes, which no copy writes: the workspace
 * held other layers' data. */
static void clear_padded(const lb_conv2d_geometry *g, block_shape shape,
                         workspace_parts parts) {
  memset(parts.padded, 0,
         (size_t)(shape.images * padded_floats(g)) * sizeof(float));
}

void lb_winograd4_forward_images(const lb_conv2d_geometry *g,
                                 const float *input, const float *prepared,
                                 const float *bias, float *output,
                                 float *workspace, int64_t first,
                                 int64_t count,
                                 const lb_conv2d_epilogue *after) {
  block_shape shape = range_blocks(g);
  workspace_parts parts = parts_of(g, shape, workspace, 0);
  clear_padded(g, shape, parts);
  for (int64_t image = first; image < first + count; image += shape.images) {
    int64_t images = images_from(shape, image, first + count);
    forward_block(g, shape, input, prepared, bias, output, parts, image,
                  images);
    lb_conv2d_finish_images(g, after, output, image, images);
  }
}

/* ---- the whole batch, split by channels ---------------------------------- */

/* Output channels go to the parts in groups of this many, so that each
 * part's rows start at a panel of the packed filters (a part starting
 * inside one would compute that panel's other rows too). */
#define CHANNEL_GRAIN LB_PACKED_ROWS

/* A range of `ranges` goes in blocks of range_blocks(), and of no more
 * images than it has. */
bool lb_winograd4_channels_pay_off(const lb_conv2d_geometry *g,
                                   int32_t ranges) {
  int64_t share = (g->batch + ranges - 1) / ranges;
  int64_t range_images = range_blocks(g).images;
  if (range_images > share)
    range_images = share;
  return range_images < batch_blocks(g).images;
}

size_t lb_winograd4_channels_workspace_bytes(const lb_conv2d_geometry *g,
                                             int32_t parts) {
  return workspace_bytes(g, batch_blocks(g), parts);
}

/* One block of the batch, as the parts share it. */
typedef struct channels_call {
  const lb_conv2d_geometry *g;
  block_shape shape;
  const float *input, *u, *bias;
  float *output, *workspace;
  const lb_conv2d_epilogue *after;
  int64_t image, images; /* the block */
  int32_t parts;
} channels_call;

/* Part `part`'s share of the input channels into V. */
static void transform_part(void *context, int32_t part) {
  const channels_call *call = context;
  const lb_conv2d_geometry *g = call->g;
  workspace_parts parts = parts_of(g, call->shape, call->workspace, part);
  clear_padded(g, call->shape, parts);
  transform_block(g, call->shape, call->input, call->image, call->images,
                  lb_chunk_begin(g->in_channels, part, call->parts),
                  lb_chunk_begin(g->in_channels, part + 1, call->parts),
                  parts);
}

static int64_t channel_grain_begin(int64_t channels, int32_t part,
                                   int32_t parts) {
  int64_t grains = (channels + CHANNEL_GRAIN - 1) / CHANNEL_GRAIN;
  int64_t begin = lb_chunk_begin(grains, part, parts) * CHANNEL_GRAIN;
  return begin < channels ? begin : channels;
}

/* Part `part`'s share of the output channels: their rows of the 36
 * products, their output planes and the epilogue on them. */
static void output_part(void *context, int32_t part) {
  const channels_call *call = context;
  const lb_conv2d_geometry *g = call->g;
  workspace_parts parts = parts_of(g, call->shape, call->workspace, part);
  int64_t first = channel_grain_begin(g->out_channels, part, call->parts);
  int64_t end = channel_grain_begin(g->out_channels, part + 1, call->parts);
  if (first == end)
    return;
  multiply_block(g, call->shape, call->u, call->images * tiles_per_image(g),
                 first, end, parts);
  for (int64_t o = first; o < end; o++) {
    output_block_channel(g, call->shape, call->bias, parts, call->image,
                         call->images, o, call->output);
    lb_conv2d_finish_channel(g, call->after, call->output, call->image,
                             call->images, o);
  }
}

void lb_winograd4_forward_channels(const lb_conv2d_geometry *g,
                                   const float *input, const float *prepared,
                                   const float *bias, float *output,
                                   float *workspace, int32_t parts,
                                   const lb_conv2d_epilogue *after) {
  channels_call call = {.g = g, .shape = batch_blocks(g), .input = input,
                        .u = prepared, .bias = bias, .output = output,
                        .workspace = workspace, .after = after,
                        .parts = parts};
  for (int64_t image = 0; image < g->batch; image += call.shape.images) {
    call.image = image;
    call.images = images_from(call.shape, image, g->batch);
    lb_parallel_for(transform_part, &call, parts);
    lb_parallel_for(output_part, &call, parts);
  }
}
