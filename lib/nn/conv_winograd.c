/* Winograd F(2x2, 3x3) convolution (Lavin and Gray, "Fast Algorithms for
 * Convolutional Neural Networks", 2016), forward and backward, for 3x3
 * kernels at stride 1 with padding 1 (see conv_winograd.h).
 *
 * The output is cut into 2x2 tiles; tile t of a channel reads the 4x4 input
 * patch around it. With the transforms
 *   U = G g G^T      (each 3x3 filter g becomes 4x4),
 *   V = B^T d B      (each 4x4 input patch d),
 *   Y = A^T M A      (each 4x4 product M becomes the 2x2 output tile),
 * the convolution is, for each of the 16 positions k of a 4x4 tile, one
 * GEMM over the channels:  M_k [Co, T] = U_k [Co, Ci] * V_k [Ci, T],
 * 16 multiplications per 4 outputs and input channel instead of 36.
 *
 * Backward, with Z = A dY A^T the 4x4 transform of each 2x2 output-gradient
 * tile (the transpose of the output transform):
 *   dU_k [Co, Ci] = Z_k [Co, T] * V_k^T     then  dg = G^T dU G,
 *   dV_k [Ci, T]  = U_k^T * Z_k             then  dd = B dV B^T, added onto
 *                                                 the (overlapping) patches.
 * Every step is the transpose of a forward step, so the gradients are exact
 * for the forward that was computed, as the GEMM path's are.
 *
 * As in conv2d.c, the batch goes in blocks of images so that each GEMM has
 * at least MIN_TILE_COLUMNS columns while the workspace stays bounded.
 *
 * Threads, as in conv2d.c (see its top comment). The batch is cut into
 * ranges of whole images, one per library thread, run side by side by one
 * lb_parallel_for(); each thread goes through its range's blocks (input
 * transform, 16 single-threaded products, output transform), with a V and
 * an M of its own (a workspace slot). Splitting each of those three steps
 * over the pool instead cost three fork-joins per block: at ResNet-18
 * width 16 on 2 threads, an eighth of the time went to threads waiting at
 * joins, and V and M, written by one thread and read by another, left the
 * cache between steps. A thread done with its range takes the blocks the
 * others have not reached (block_claims.h). U is shared: the filters are
 * transformed once per call, on the pool, before the ranges. The filter
 * gradient is a sum over the batch, summed per unit of blocks (a fixed run
 * of one range's blocks, claimed together): the first unit's dU in the
 * workspace's dU, every other unit's in a [16, Co, Ci] part of its own,
 * and a last pass adds the parts in unit order before G^T dU G, so the
 * same slots and thread count always give the same bits, whichever thread
 * took what.
 * When ranges would leave threads idle (fewer images than threads, uneven
 * ranges of a small batch, one large image), or would narrow the products
 * of a wide layer on small images (ranges_too_narrow()), a single range
 * runs, its blocks as wide as all the slots' room allows, and each
 * block's transforms and products are split over the pool as before.
 * A call never uses more ranges than the workspace has slots (the
 * geometry's `slots`, set at validation), whatever lb_set_num_threads()
 * says by then. Under LOSSBAL_GEMM=openblas (slots 1) there is always one
 * range, and the 16 products run one after the other on OpenBLAS's
 * threads.
 *
 * The transforms of the planes cost as much as a good part of the GEMMs
 * (a third of the time of a 64-channel 7x7 layer when they went tile row
 * by tile row), so they are written for the vectoriser: the tiles of a
 * channel go in spans of up to SPAN_TILES consecutive columns of the tap
 * arrays (many tile rows, and for small images many images, at once),
 * gathered into one small array per pixel of the tile; each 1-D transform
 * is then one loop over the span, built for AVX2 too (LB_VECTOR_KERNEL).
 * Input planes up to 62x62 are first copied into a zero-padded plane, so
 * that no tile needs a test at the edges, and their gather does the first
 * 1-D transform on the way. The arithmetic is that of the tile-by-tile
 * definition, in the same order, so results are the same bits whatever the
 * span, the vector width and the thread count (and the same as the
 * earlier, row-by-row code's).
 */
#include "conv_winograd.h"

#include "block_claims.h"
#include "../core/core_internal.h"
#include "../core/gemm_packed.h"
#include "../core/vector_kernel.h"

#include <stdbool.h>
#include <string.h>

/* Positions of a transformed 4x4 tile: the number of GEMMs. */
#define TILE_TAPS 16

/* Fewest GEMM columns (tiles) per block, as MIN_GEMM_COLUMNS in conv2d.c. */
#define MIN_TILE_COLUMNS 512

/* ---- sizes --------------------------------------------------------------- */

bool lb_winograd_applies(const lb_conv2d_geometry *g) {
  return g->kernel_h == 3 && g->kernel_w == 3 && g->stride_h == 1 &&
         g->stride_w == 1 && g->pad_h == 1 && g->pad_w == 1;
}

static int64_t tile_rows(const lb_conv2d_geometry *g) {
  return (g->out_h + 1) / 2;
}

static int64_t tile_cols(const lb_conv2d_geometry *g) {
  return (g->out_w + 1) / 2;
}

static int64_t tiles_per_image(const lb_conv2d_geometry *g) {
  return tile_rows(g) * tile_cols(g);
}

/* Workspace slots, as in conv2d.c: one per range of images (a thread's
 * share of the batch), and never more ranges than images. */
static int64_t workspace_slots(const lb_conv2d_geometry *g) {
  int64_t slots = g->slots > 1 ? g->slots : 1;
  return slots < g->batch ? slots : g->batch;
}

/* The fewest images that give a block MIN_TILE_COLUMNS columns. */
static int64_t images_wanted(const lb_conv2d_geometry *g) {
  int64_t per_image = tiles_per_image(g);
  return (MIN_TILE_COLUMNS + per_image - 1) / per_image;
}

/* Images per block of a range: images_wanted(), but no more than a slot's
 * share of the batch, so that every range has a block (as
 * images_per_block() in conv2d.c). At one slot: all the batch at most. */
static int64_t images_per_block(const lb_conv2d_geometry *g) {
  int64_t images = images_wanted(g), slots = workspace_slots(g);
  int64_t share = (g->batch + slots - 1) / slots;
  return images < share ? images : share;
}

/* Images per block of a call of one range: that range has every slot's
 * room, so its blocks are as wide as the batch allows, as they were
 * before ranges (the same blocks at one slot). */
static int64_t single_range_block(const lb_conv2d_geometry *g) {
  int64_t images = images_wanted(g),
          room = workspace_slots(g) * images_per_block(g);
  if (images > g->batch)
    images = g->batch;
  return images < room ? images : room;
}

static int64_t plane_size(const lb_conv2d_geometry *g) {
  return g->in_h * g->in_w; /* = out_h * out_w at stride 1, padding 1 */
}

/* The workspace, in floats: U and dU [16, Co, Ci] (U shared by the ranges,
 * dU the first unit's part and then the sum), then per slot V [16, Ci, T]
 * and M (or Z) [16, Co, T] of one block of T tiles, then a dU [16, Co, Ci]
 * for every other unit of blocks (see the top of the file and
 * block_claims.h). Every part grows with the batch, never shrinks, so a
 * workspace for a batch serves smaller ones. */
typedef struct winograd_buffers {
  float *v, *m;
} winograd_buffers;

static int64_t filter_floats(const lb_conv2d_geometry *g) {
  return TILE_TAPS * g->out_channels * g->in_channels;
}

static int64_t block_columns(const lb_conv2d_geometry *g) {
  return images_per_block(g) * tiles_per_image(g);
}

static int64_t slot_floats(const lb_conv2d_geometry *g) {
  return TILE_TAPS * (g->in_channels + g->out_channels) * block_columns(g);
}

/* dU parts beyond the first the workspace holds. */
static int64_t parts_room(const lb_conv2d_geometry *g) {
  return lb_block_parts_room(g->batch, workspace_slots(g),
                             images_per_block(g), filter_floats(g));
}

size_t lb_winograd_workspace_bytes(const lb_conv2d_geometry *g) {
  int64_t floats = (2 + parts_room(g)) * filter_floats(g) +
                   workspace_slots(g) * slot_floats(g);
  return (size_t)floats * sizeof(float);
}

static float *transformed_filters(float *workspace) { return workspace; }

static float *filter_gradient_sum(const lb_conv2d_geometry *g,
                                  float *workspace) {
  return workspace + filter_floats(g);
}

/* Where the slots start: after U and the sum of dU. */
static float *first_slot(const lb_conv2d_geometry *g, float *workspace) {
  return workspace + 2 * filter_floats(g);
}

/* V and M of slot `slot` of the slots from `slots`, for blocks of up to
 * `images` images: the images_per_block() of a slot, or in a call of one
 * range the single_range_block() that all the slots' room holds. */
static winograd_buffers slot_buffers(const lb_conv2d_geometry *g,
                                     float *slots, int32_t slot,
                                     int64_t images) {
  winograd_buffers b;
  b.v = slots + slot * slot_floats(g);
  b.m = b.v + TILE_TAPS * g->in_channels * images * tiles_per_image(g);
  return b;
}

/* The dU parts of the units of blocks beyond the first, after every slot
 * (the first unit's dU is the sum's). */
static float *filter_gradient_parts(const lb_conv2d_geometry *g,
                                    float *workspace) {
  return workspace + 2 * filter_floats(g) +
         workspace_slots(g) * slot_floats(g);
}

/* ---- the 4x4 transforms -------------------------------------------------- */

/* Each transform applies one 1-D transform to the rows of a small matrix,
 * then to its columns; the 1-D transforms are written out, as they are a
 * handful of additions. */

/* The 1-D form of G: 3 values to 4. */
static void filter_1d(const float in[3], float out[4]) {
  out[0] = in[0];
  out[1] = 0.5f * (in[0] + in[1] + in[2]);
  out[2] = 0.5f * (in[0] - in[1] + in[2]);
  out[3] = in[2];
}

/* The 1-D form of G^T: 4 values to 3, the transpose of filter_1d(). */
static void filter_1d_transposed(const float in[4], float out[3]) {
  out[0] = in[0] + 0.5f * (in[1] + in[2]);
  out[1] = 0.5f * (in[1] - in[2]);
  out[2] = in[3] + 0.5f * (in[1] + in[2]);
}

/* U = G g G^T for one 3x3 filter; u[k] for k = 4 i + j. */
static void transform_filter(const float g[9], float u[16]) {
  float rows[3][4], column[3], out[4];
  for (int r = 0; r < 3; r++)
    filter_1d(g + 3 * r, rows[r]);
  for (int j = 0; j < 4; j++) {
    for (int r = 0; r < 3; r++)
      column[r] = rows[r][j];
    filter_1d(column, out);
    for (int i = 0; i < 4; i++)
      u[4 * i + j] = out[i];
  }
}

/* dg = G^T dU G for one filter. */
static void transform_filter_gradient(const float du[16], float dg[9]) {
  float rows[4][3], column[4], out[3];
  for (int i = 0; i < 4; i++)
    filter_1d_transposed(du + 4 * i, rows[i]);
  for (int j = 0; j < 3; j++) {
    for (int i = 0; i < 4; i++)
      column[i] = rows[i][j];
    filter_1d_transposed(column, out);
    for (int r = 0; r < 3; r++)
      dg[3 * r + j] = out[r];
  }
}

/* ---- transforms of whole arrays, split over the pool --------------------- */

/* One lb_parallel_for job: `items` (image, channel) pairs or filters. */
typedef struct transform_job {
  const lb_conv2d_geometry *g;
  const float *source;
  float *target;
  int64_t images;   /* in the block */
  int64_t channels; /* of the planes transformed */
  int64_t items;
  int32_t chunks;
  const float *bias; /* the output transform adds bias[channel], if any */
  bool clear_source; /* the output transform zeroes M as it reads it */
} transform_job;

typedef void (*item_transform)(const transform_job *job, int64_t item);

typedef struct item_loop {
  const transform_job *job;
  item_transform each;
} item_loop;

static void run_items(void *context, int32_t chunk) {
  const item_loop *loop = context;
  const transform_job *job = loop->job;
  int64_t end = lb_chunk_begin(job->items, chunk + 1, job->chunks);
  for (int64_t item = lb_chunk_begin(job->items, chunk, job->chunks);
       item < end; item++)
    loop->each(job, item);
}

static void for_each_item(transform_job *job, int64_t item_floats,
                          item_transform each) {
  job->chunks = lb_parallel_chunks(job->items, item_floats);
  item_loop loop = {job, each};
  lb_parallel_for(run_items, &loop, job->chunks);
}

/* Filters go in groups of FILTER_GROUP: a group's 16 taps are gathered
 * in a small array and written as 16 runs of consecutive floats, instead
 * of every filter writing to 16 places a whole tap apart. */
#define FILTER_GROUP 64

static int64_t filter_groups(const lb_conv2d_geometry *g) {
  return (g->out_channels * g->in_channels + FILTER_GROUP - 1) / FILTER_GROUP;
}

/* Filters [first, first + count) of group `item`. */
static void group_range(const transform_job *job, int64_t item,
                        int64_t *first, int64_t *count) {
  int64_t filters = job->g->out_channels * job->g->in_channels;
  *first = item * FILTER_GROUP;
  *count = filters - *first < FILTER_GROUP ? filters - *first : FILTER_GROUP;
}

/* The filters [first, first + count) (at most FILTER_GROUP) of weight
 * [Co, Ci, 3, 3], filter f = co * Ci + ci, each scaled by its output
 * channel's scale first (scale NULL: as they are), into U [16, Co, Ci];
 * when `packed`, each U_k packed for lb_sgemm_packed() (the prepared
 * filters of lb_model_predict()). */
static void transform_filter_group(const lb_conv2d_geometry *g,
                                   const float *weight, const float *scale,
                                   int64_t first, int64_t count, bool packed,
                                   float *prepared) {
  int64_t ci = g->in_channels, filters = g->out_channels * ci;
  float taps[TILE_TAPS][FILTER_GROUP], u[TILE_TAPS], scaled[9];
  for (int64_t f = 0; f < count; f++) {
    const float *filter = weight + (first + f) * 9;
    float by = scale ? scale[(first + f) / g->in_channels] : 1.0f;
    for (int t = 0; t < 9; t++) /* (times 1: exact) */
      scaled[t] = filter[t] * by;
    transform_filter(scaled, u);
    for (int k = 0; k < TILE_TAPS; k++)
      taps[k][f] = u[k];
  }
  if (packed) {
    int64_t tap = lb_packed_floats(g->out_channels, ci);
    for (int k = 0; k < TILE_TAPS; k++)
      lb_packed_store(taps[k], first, count, ci, prepared + k * tap);
    return;
  }
  for (int k = 0; k < TILE_TAPS; k++)
    memcpy(prepared + k * filters + first, taps[k],
           (size_t)count * sizeof(float));
}

/* Group `item` of the filters of weight into U. */
static void filter_item(const transform_job *job, int64_t item) {
  int64_t first = 0, count = 0;
  group_range(job, item, &first, &count);
  transform_filter_group(job->g, job->source, NULL, first, count, false,
                         job->target);
}

/* Group `item` of dU [16, Co, Ci] into its filters of grad_weight. */
static void filter_gradient_item(const transform_job *job, int64_t item) {
  int64_t filters = job->g->out_channels * job->g->in_channels;
  int64_t first = 0, count = 0;
  group_range(job, item, &first, &count);
  float taps[TILE_TAPS][FILTER_GROUP], du[16];
  for (int k = 0; k < TILE_TAPS; k++)
    memcpy(taps[k], job->source + k * filters + first,
           (size_t)count * sizeof(float));
  for (int64_t f = 0; f < count; f++) {
    for (int k = 0; k < TILE_TAPS; k++)
      du[k] = taps[k][f];
    transform_filter_gradient(du, job->target + (first + f) * 9);
  }
}

/* ---- plane transforms: spans of tiles ------------------------------------ */

/* The plane transforms work on spans: up to SPAN_TILES tiles of one
 * channel that are consecutive columns of its rows of a [16, channels, T]
 * array (tile rows of one plane, then of the next image's plane). A span
 * is assembled from segments, each at most STRIP_TILES tiles of one tile
 * row; a small plane (4x4 pixels: 4 tiles) thus shares its span with its
 * neighbours and every loop of a transform runs over up to SPAN_TILES
 * tiles, instead of over one short tile row.
 *
 * Each transform is split in two: a gather or scatter between the planes
 * and small per-tile arrays (one array per pixel of the tile, indexed by
 * tile: "tile-major"), and the 4x4 arithmetic on those arrays, a few
 * 1-D transforms each of which is one loop over the span with a handful of
 * restrict pointers, which GCC vectorises (LB_VECTOR_KERNEL: for AVX2 too,
 * see vector_kernel.h). The arithmetic is that of the 1-D transforms
 * applied in the same order as by a scalar tile-by-tile code, so the
 * results do not depend on the span or the vector width.
 *
 * A span, its padded plane (below) and the tile arrays of a transform take
 * about 40 KiB of stack. */
#define SPAN_TILES 128

/* Segments are at most STRIP_TILES tiles of a tile row, beginning at
 * multiples of it; the input gradient adds each segment's sums onto the
 * plane separately, so this fixes where the sums are cut (and with it the
 * order of additions at the cuts). */
#define STRIP_TILES 64

/* Tiles [first, first + count) of tile row `ty` of (image, channel) plane
 * `item`, which begins at float `plane` of its NCHW array. */
typedef struct segment {
  int64_t item, plane, ty, first, count;
} segment;

/* Input planes of up to PADDED_PLANE floats with their zero padding
 * (rows -1 .. 2 tile_rows, columns -1 .. 2 tile_cols) are copied whole
 * into a padded array, once per plane: their patches are then gathered
 * without a test at the edges, which for small images (7x7: two tiles of
 * four in a row at an edge) would cost more than the copy. 4096 floats
 * hold a padded 62x62 plane; larger ones are gathered from the plane. */
#define PADDED_PLANE 4096

typedef struct span {
  int64_t channel, tiles;
  int32_t segments;
  segment segment[SPAN_TILES]; /* a segment holds one tile or more */
  /* The input plane of item padded_item in padded; -1: none yet, and
   * padded not yet cleared. */
  int64_t padded_item;
  float padded[PADDED_PLANE];
} span;

/* The 16 (or 4) tile-major arrays of a span: pixel p of tile t at
 * [p * SPAN_TILES + t]. */
typedef float tile_arrays[TILE_TAPS * SPAN_TILES];

/* ---- the 1-D transforms over a span -------------------------------------- */

/* B^T on 4 values: (x0 - x2, x1 + x2, x2 - x1, x1 - x3); V = B^T d B
 * applies it down the columns of d, then along the rows. */
LB_VECTOR_KERNEL
static void input_1d(const float *restrict x0, const float *restrict x1,
                            const float *restrict x2, const float *restrict x3,
                            float *restrict y0, float *restrict y1,
                            float *restrict y2, float *restrict y3,
                            int64_t n) {
  for (int64_t t = 0; t < n; t++) {
    y0[t] = x0[t] - x2[t];
    y1[t] = x1[t] + x2[t];
    y2[t] = x2[t] - x1[t];
    y3[t] = x1[t] - x3[t];
  }
}

/* A^T on 4 values: (x0 + x1 + x2, x1 - x2 - x3); Y = A^T M A applies it
 * along the rows of M, then down the columns, adding the bias. */
LB_VECTOR_KERNEL
static void output_1d(const float *restrict x0,
                             const float *restrict x1,
                             const float *restrict x2,
                             const float *restrict x3, float *restrict y0,
                             float *restrict y1, int64_t n) {
  for (int64_t t = 0; t < n; t++) {
    y0[t] = x0[t] + x1[t] + x2[t];
    y1[t] = x1[t] - x2[t] - x3[t];
  }
}

LB_VECTOR_KERNEL
static void output_1d_bias(const float *restrict x0,
                                  const float *restrict x1,
                                  const float *restrict x2,
                                  const float *restrict x3, float bias,
                                  float *restrict y0, float *restrict y1,
                                  int64_t n) {
  for (int64_t t = 0; t < n; t++) {
    y0[t] = x0[t] + x1[t] + x2[t] + bias;
    y1[t] = x1[t] - x2[t] - x3[t] + bias;
  }
}

/* A on 2 values: (x0, x0 + x1, x0 - x1, -x1); Z = A dY A^T applies it down
 * the columns of dY, then along the rows. */
LB_VECTOR_KERNEL
static void output_gradient_1d(const float *restrict x0,
                                      const float *restrict x1,
                                      float *restrict y0, float *restrict y1,
                                      float *restrict y2, float *restrict y3,
                                      int64_t n) {
  for (int64_t t = 0; t < n; t++) {
    y0[t] = x0[t];
    y1[t] = x0[t] + x1[t];
    y2[t] = x0[t] - x1[t];
    y3[t] = -x1[t];
  }
}

/* B on 4 values: (x0, x1 - x2 + x3, x1 + x2 - x0, -x3); dd = B dV B^T
 * applies it along the rows of dV, then down the columns. */
LB_VECTOR_KERNEL
static void input_gradient_1d(const float *restrict x0,
                                     const float *restrict x1,
                                     const float *restrict x2,
                                     const float *restrict x3,
                                     float *restrict y0, float *restrict y1,
                                     float *restrict y2, float *restrict y3,
                                     int64_t n) {
  for (int64_t t = 0; t < n; t++) {
    y0[t] = x0[t];
    y1[t] = x1[t] - x2[t] + x3[t];
    y2[t] = x1[t] + x2[t] - x0[t];
    y3[t] = -x3[t];
  }
}

/* ---- the 4x4 transforms of a span ---------------------------------------- */

/* Where tap k of the span's first tile is: tap k at base + k * stride. */
typedef struct tap_rows {
  float *base;
  int64_t stride;
} tap_rows;

/* The first half of V = B^T d B for n tiles: B^T down the columns of d,
 * both tile-major (pixel 4 r + c). */
static void input_down(const float *d, int64_t n, float *down) {
  for (int c = 0; c < 4; c++)
    input_1d(d + c * SPAN_TILES, d + (4 + c) * SPAN_TILES,
             d + (8 + c) * SPAN_TILES, d + (12 + c) * SPAN_TILES,
             down + c * SPAN_TILES, down + (4 + c) * SPAN_TILES,
             down + (8 + c) * SPAN_TILES, down + (12 + c) * SPAN_TILES, n);
}

/* The second half: B along the rows of input_down()'s result, into the
 * taps. */
static void input_along(const float *down, int64_t n, tap_rows v) {
  for (int i = 0; i < 4; i++) {
    const float *row = down + 4 * i * SPAN_TILES;
    float *out = v.base + 4 * i * v.stride;
    input_1d(row, row + SPAN_TILES, row + 2 * SPAN_TILES,
             row + 3 * SPAN_TILES, out, out + v.stride, out + 2 * v.stride,
             out + 3 * v.stride, n);
  }
}

/* Y = A^T M A + bias for n tiles: M from the taps, Y tile-major (pixel
 * 2 r + c). */
static void output_tiles(tap_rows m, int64_t n, float bias, float *y) {
  float across[8 * SPAN_TILES]; /* pixel (i, c) at 2 i + c */
  for (int i = 0; i < 4; i++) {
    const float *row = m.base + 4 * i * m.stride;
    output_1d(row, row + m.stride, row + 2 * m.stride, row + 3 * m.stride,
              across + 2 * i * SPAN_TILES, across + (2 * i + 1) * SPAN_TILES,
              n);
  }
  for (int c = 0; c < 2; c++)
    output_1d_bias(across + c * SPAN_TILES, across + (2 + c) * SPAN_TILES,
                   across + (4 + c) * SPAN_TILES,
                   across + (6 + c) * SPAN_TILES, bias, y + c * SPAN_TILES,
                   y + (2 + c) * SPAN_TILES, n);
}

/* Z = A dY A^T for n tiles: dY tile-major (pixel 2 r + c), Z to the
 * taps. */
static void output_gradient_tiles(const float *dy, int64_t n, tap_rows z) {
  float down[8 * SPAN_TILES]; /* pixel (i, c) at 2 i + c */
  for (int c = 0; c < 2; c++)
    output_gradient_1d(dy + c * SPAN_TILES, dy + (2 + c) * SPAN_TILES,
                       down + c * SPAN_TILES, down + (2 + c) * SPAN_TILES,
                       down + (4 + c) * SPAN_TILES,
                       down + (6 + c) * SPAN_TILES, n);
  for (int i = 0; i < 4; i++) {
    float *out = z.base + 4 * i * z.stride;
    output_gradient_1d(down + 2 * i * SPAN_TILES,
                       down + (2 * i + 1) * SPAN_TILES, out, out + z.stride,
                       out + 2 * z.stride, out + 3 * z.stride, n);
  }
}

/* dd = B dV B^T for n tiles: dV from the taps, dd tile-major (pixel
 * 4 r + c). */
static void input_gradient_tiles(tap_rows dv, int64_t n, float *dd) {
  tile_arrays along;
  for (int i = 0; i < 4; i++) {
    const float *row = dv.base + 4 * i * dv.stride;
    float *out = along + 4 * i * SPAN_TILES;
    input_gradient_1d(row, row + dv.stride, row + 2 * dv.stride,
                      row + 3 * dv.stride, out, out + SPAN_TILES,
                      out + 2 * SPAN_TILES, out + 3 * SPAN_TILES, n);
  }
  for (int c = 0; c < 4; c++)
    input_gradient_1d(along + c * SPAN_TILES, along + (4 + c) * SPAN_TILES,
                      along + (8 + c) * SPAN_TILES,
                      along + (12 + c) * SPAN_TILES, dd + c * SPAN_TILES,
                      dd + (4 + c) * SPAN_TILES, dd + (8 + c) * SPAN_TILES,
                      dd + (12 + c) * SPAN_TILES, n);
}

/* ---- between the planes and the tile-major arrays ------------------------ */

/* The image row y of a plane, or NULL outside it. */
static const float *plane_row(const float *plane, int64_t y, int64_t height,
                              int64_t width) {
  return y >= 0 && y < height ? plane + y * width : NULL;
}

/* Tiles [begin, end) of a segment whose pixels 2 s + x0 .. 2 s + x0 +
 * size - 1 all lie in [0, width): the range the vector loops cover
 * without a test; the one or two tiles outside it go pixel by pixel. */
typedef struct inner {
  int64_t begin, end;
} inner;

static inner inner_tiles(int64_t x0, int64_t size, int64_t width,
                         int64_t count) {
  int64_t begin = x0 < 0 ? (1 - x0) / 2 : 0;
  int64_t end = (width - x0 - size + 2) / 2;
  if (begin > count)
    begin = count;
  if (end > count)
    end = count;
  if (end < begin)
    end = begin;
  return (inner){begin, end};
}

/* Pixel (r, c) of tile s at d[(4 r + c) * SPAN_TILES + s] is row r's
 * pixel 2 s + x0 + c, for s in [begin, end) (all inside the rows). One loop
 * for the 16 pixels: the compiler loads each row once per step, as
 * interleaved pairs. */
LB_VECTOR_KERNEL
static void gather_4x4(const float *r0, const float *r1, const float *r2,
                       const float *r3, int64_t x0, inner in,
                       float *restrict d) {
  for (int64_t s = in.begin; s < in.end; s++) {
    int64_t x = 2 * s + x0;
    d[0 * SPAN_TILES + s] = r0[x];
    d[1 * SPAN_TILES + s] = r0[x + 1];
    d[2 * SPAN_TILES + s] = r0[x + 2];
    d[3 * SPAN_TILES + s] = r0[x + 3];
    d[4 * SPAN_TILES + s] = r1[x];
    d[5 * SPAN_TILES + s] = r1[x + 1];
    d[6 * SPAN_TILES + s] = r1[x + 2];
    d[7 * SPAN_TILES + s] = r1[x + 3];
    d[8 * SPAN_TILES + s] = r2[x];
    d[9 * SPAN_TILES + s] = r2[x + 1];
    d[10 * SPAN_TILES + s] = r2[x + 2];
    d[11 * SPAN_TILES + s] = r2[x + 3];
    d[12 * SPAN_TILES + s] = r3[x];
    d[13 * SPAN_TILES + s] = r3[x + 1];
    d[14 * SPAN_TILES + s] = r3[x + 2];
    d[15 * SPAN_TILES + s] = r3[x + 3];
  }
}

/* As gather_4x4() for 2x2 tiles: pixel (r, c) at d[(2 r + c) *
 * SPAN_TILES + s]. */
LB_VECTOR_KERNEL
static void gather_2x2(const float *r0, const float *r1, int64_t x0,
                       inner in, float *restrict d) {
  for (int64_t s = in.begin; s < in.end; s++) {
    int64_t x = 2 * s + x0;
    d[0 * SPAN_TILES + s] = r0[x];
    d[1 * SPAN_TILES + s] = r0[x + 1];
    d[2 * SPAN_TILES + s] = r1[x];
    d[3 * SPAN_TILES + s] = r1[x + 1];
  }
}

/* One tile of gather_tiles() at the plane's left or right edge: its left
 * column is x, and its columns [lo, hi) are the ones inside the plane
 * (the same for every row, so the loops branch alike row after row). */
static void gather_edge_tile(const float *const rows[4], int64_t width,
                             int64_t x, int size, float *d) {
  int64_t lo = x < 0 ? -x : 0, hi = width - x < size ? width - x : size;
  for (int r = 0; r < size; r++) {
    float *p = d + size * r * SPAN_TILES;
    for (int64_t c = 0; c < size; c++)
      p[c * SPAN_TILES] = rows[r] && c >= lo && c < hi ? rows[r][x + c] : 0.0f;
  }
}

/* The size x size tiles of a segment (size 4: input patches; 2: output-
 * gradient tiles) into d, pixel (r, c) of tile s at d[(size r + c) *
 * SPAN_TILES + s]: tile s covers rows y0 .. y0 + size - 1 and columns
 * 2 s + x0 .. 2 s + x0 + size - 1 of the plane, pixels outside it are 0. */
static void gather_tiles(const float *plane, int64_t height, int64_t width,
                         int64_t y0, int64_t x0, int64_t count, int size,
                         float *d) {
  const float *rows[4] = {NULL, NULL, NULL, NULL}, *any = NULL;
  for (int r = 0; r < size; r++) {
    rows[r] = plane_row(plane, y0 + r, height, width);
    if (rows[r])
      any = rows[r];
  }
  /* The vector loop reads a row outside the plane as any row inside it;
   * its pixels are zeroed below. */
  const float *safe[4];
  for (int r = 0; r < 4; r++)
    safe[r] = rows[r] ? rows[r] : any;
  inner in = inner_tiles(x0, size, width, count);
  if (size == 4)
    gather_4x4(safe[0], safe[1], safe[2], safe[3], x0, in, d);
  else
    gather_2x2(safe[0], safe[1], x0, in, d);
  for (int64_t s = 0; s < in.begin; s++)
    gather_edge_tile(rows, width, 2 * s + x0, size, d + s);
  for (int64_t s = in.end; s < count; s++)
    gather_edge_tile(rows, width, 2 * s + x0, size, d + s);
  for (int r = 0; r < size; r++)
    if (!rows[r])
      for (int c = 0; c < size; c++)
        memset(d + (size * r + c) * SPAN_TILES, 0,
               (size_t)count * sizeof(float));
}

/* row[2 s + x0] = even[s] and row[2 s + x0 + 1] = odd[s] for s in
 * [0, count), where those pixels lie in [0, width). */
LB_VECTOR_KERNEL
static void scatter_pairs(const float *restrict even,
                          const float *restrict odd, int64_t count,
                          int64_t x0, int64_t width, float *restrict row) {
  inner in = inner_tiles(x0, 2, width, count);
  for (int64_t s = in.begin; s < in.end; s++) {
    row[2 * s + x0] = even[s];
    row[2 * s + x0 + 1] = odd[s];
  }
  for (int64_t s = in.end; s < count; s++)
    if (2 * s + x0 < width)
      row[2 * s + x0] = even[s];
}

/* Adds one row of the patches dd of a segment's tiles onto an image row:
 * tile s covers pixels 2 s + x0 .. 2 s + x0 + 3 (pixels p0 .. p3 of its
 * row of dd), so inside the segment pixel 2 s + x0 gets p0 of tile s plus
 * p2 of tile s - 1, and 2 s + x0 + 1 gets p1 of s plus p3 of s - 1; the
 * first two and last two pixels have one tile each. Each pixel's sum is
 * formed first and then added, once per segment. */
LB_VECTOR_KERNEL
static void add_patch_row(const float *restrict p0, const float *restrict p1,
                          const float *restrict p2, const float *restrict p3,
                          int64_t count, int64_t x0, int64_t width,
                          float *restrict row) {
  for (int64_t s = 1; s < count; s++) {
    row[2 * s + x0] += p0[s] + p2[s - 1];
    row[2 * s + x0 + 1] += p1[s] + p3[s - 1];
  }
  if (x0 >= 0)
    row[x0] += p0[0];
  row[x0 + 1] += p1[0];
  if (2 * count + x0 < width)
    row[2 * count + x0] += p2[count - 1];
  if (2 * count + x0 + 1 < width)
    row[2 * count + x0 + 1] += p3[count - 1];
}

/* The 4x4 input patches of a segment's tiles into d (pixel 4 r + c),
 * zero outside the plane. */
static void gather_patches(const lb_conv2d_geometry *g, const float *plane,
                           const segment *sg, float *d) {
  gather_tiles(plane, g->in_h, g->in_w, 2 * sg->ty - 1, 2 * sg->first - 1,
               sg->count, 4, d);
}

/* The 2x2 output-gradient tiles of a segment into dy (pixel 2 r + c),
 * zero past the plane's edge. */
static void gather_output_tiles(const lb_conv2d_geometry *g,
                                const float *plane, const segment *sg,
                                float *dy) {
  gather_tiles(plane, g->out_h, g->out_w, 2 * sg->ty, 2 * sg->first,
               sg->count, 2, dy);
}

/* The 2x2 output tiles y (pixel 2 r + c) of a segment into the plane,
 * where they lie inside it. */
static void scatter_output_tiles(const lb_conv2d_geometry *g, const float *y,
                                 const segment *sg, float *plane) {
  for (int r = 0; r < 2 && 2 * sg->ty + r < g->out_h; r++)
    scatter_pairs(y + 2 * r * SPAN_TILES, y + (2 * r + 1) * SPAN_TILES,
                  sg->count, 2 * sg->first, g->out_w,
                  plane + (2 * sg->ty + r) * g->out_w);
}

/* The patches dd (pixel 4 r + c) of a segment added onto the plane. */
static void add_patches(const lb_conv2d_geometry *g, const float *dd,
                        const segment *sg, float *plane) {
  for (int r = 0; r < 4; r++) {
    int64_t y = 2 * sg->ty - 1 + r;
    if (y < 0 || y >= g->in_h)
      continue;
    const float *p = dd + 4 * r * SPAN_TILES;
    add_patch_row(p, p + SPAN_TILES, p + 2 * SPAN_TILES, p + 3 * SPAN_TILES,
                  sg->count, 2 * sg->first - 1, g->in_w,
                  plane + y * g->in_w);
  }
}

/* ---- spans of a job's planes --------------------------------------------- */

/* The taps of tile (ty, first) of (image, channel) plane `item` in a
 * [16, channels, T] array. */
static tap_rows taps_of(const transform_job *job, const float *array,
                        int64_t item, int64_t ty, int64_t first) {
  int64_t image = item % job->images, channel = item / job->images;
  int64_t per_image = tiles_per_image(job->g);
  int64_t columns = job->images * per_image;
  return (tap_rows){(float *)array + channel * columns + image * per_image +
                        ty * tile_cols(job->g) + first,
                    job->channels * columns};
}

static tap_rows span_taps(const transform_job *job, const float *array,
                          const span *sp) {
  const segment *first = &sp->segment[0];
  return taps_of(job, array, first->item, first->ty, first->first);
}

/* Plane `item` (channel, image) of an NCHW array of `channels` channels. */
static int64_t plane_offset(const transform_job *job, int64_t item) {
  int64_t image = item % job->images, channel = item / job->images;
  return (image * job->channels + channel) * plane_size(job->g);
}

/* The padded input plane: 2 tile_rows + 2 rows of 2 tile_cols + 2. */
static int64_t padded_width(const lb_conv2d_geometry *g) {
  return 2 * tile_cols(g) + 2;
}

static int64_t padded_floats(const lb_conv2d_geometry *g) {
  return (2 * tile_rows(g) + 2) * padded_width(g);
}

static bool padded_fits(const lb_conv2d_geometry *g) {
  return padded_floats(g) <= PADDED_PLANE;
}

/* Copies the plane of `item` into sp->padded unless it is there; the
 * border, cleared once, stays 0 as every plane writes the same pixels. */
static void pad_plane(const transform_job *job, span *sp, int64_t item,
                      int64_t plane) {
  const lb_conv2d_geometry *g = job->g;
  if (sp->padded_item == item)
    return;
  if (sp->padded_item < 0)
    memset(sp->padded, 0, (size_t)padded_floats(g) * sizeof(float));
  int64_t width = padded_width(g);
  for (int64_t y = 0; y < g->in_h; y++)
    memcpy(sp->padded + (y + 1) * width + 1,
           job->source + plane + y * g->in_w, (size_t)g->in_w * sizeof(float));
  sp->padded_item = item;
}

/* gather_patches() then input_down() in one pass, from the padded plane,
 * where no tile is at an edge: pixel (r, c) of tile s is row r's pixel
 * 2 s + x0 + c, and the tile-major result `down` is B^T down the patch's
 * columns (the same operations as input_1d()). */
LB_VECTOR_KERNEL
static void gather_down_4x4(const float *r0, const float *r1,
                            const float *r2, const float *r3, int64_t x0,
                            int64_t count, float *restrict down) {
  for (int64_t s = 0; s < count; s++)
    for (int c = 0; c < 4; c++) {
      int64_t x = 2 * s + x0 + c;
      down[c * SPAN_TILES + s] = r0[x] - r2[x];
      down[(4 + c) * SPAN_TILES + s] = r1[x] + r2[x];
      down[(8 + c) * SPAN_TILES + s] = r2[x] - r1[x];
      down[(12 + c) * SPAN_TILES + s] = r1[x] - r3[x];
    }
}

static void gather_padded_down(const transform_job *job, span *sp,
                               const segment *sg, float *down) {
  pad_plane(job, sp, sg->item, sg->plane);
  int64_t width = padded_width(job->g);
  const float *top = sp->padded + 2 * sg->ty * width;
  gather_down_4x4(top, top + width, top + 2 * width, top + 3 * width,
                  2 * sg->first, sg->count, down);
}

/* Input planes into V [16, Ci, T]. */
static void patch_span(const transform_job *job, span *sp) {
  tile_arrays d, down;
  int64_t at = 0;
  bool padded = padded_fits(job->g);
  for (int32_t i = 0; i < sp->segments; i++) {
    const segment *sg = &sp->segment[i];
    if (padded)
      gather_padded_down(job, sp, sg, down + at);
    else
      gather_patches(job->g, job->source + sg->plane, sg, d + at);
    at += sg->count;
  }
  if (!padded)
    input_down(d, sp->tiles, down);
  input_along(down, sp->tiles, span_taps(job, job->target, sp));
}

/* Zeroes the span's 16 tap rows, just read and still in the cache. */
static void clear_taps(tap_rows rows, int64_t n) {
  for (int k = 0; k < TILE_TAPS; k++)
    memset(rows.base + k * rows.stride, 0, (size_t)n * sizeof(float));
}

/* M [16, Co, T] into output planes, plus the bias; M's span is zeroed
 * behind when the job asks (see forward_block()). */
static void product_span(const transform_job *job, span *sp) {
  float y[4 * SPAN_TILES];
  float bias = job->bias ? job->bias[sp->channel] : 0.0f;
  tap_rows m = span_taps(job, job->source, sp);
  output_tiles(m, sp->tiles, bias, y);
  if (job->clear_source)
    clear_taps(m, sp->tiles);
  int64_t at = 0;
  for (int32_t i = 0; i < sp->segments; i++) {
    const segment *sg = &sp->segment[i];
    scatter_output_tiles(job->g, y + at, sg, job->target + sg->plane);
    at += sg->count;
  }
}

/* Output-gradient planes into Z [16, Co, T]. */
static void output_gradient_span(const transform_job *job, span *sp) {
  float dy[4 * SPAN_TILES];
  int64_t at = 0;
  for (int32_t i = 0; i < sp->segments; i++) {
    const segment *sg = &sp->segment[i];
    gather_output_tiles(job->g, job->source + sg->plane, sg, dy + at);
    at += sg->count;
  }
  output_gradient_tiles(dy, sp->tiles, span_taps(job, job->target, sp));
}

/* dV [16, Ci, T] added onto input-gradient planes, which start_plane()
 * cleared. */
static void patch_gradient_span(const transform_job *job, span *sp) {
  tile_arrays dd;
  input_gradient_tiles(span_taps(job, job->source, sp), sp->tiles, dd);
  int64_t at = 0;
  for (int32_t i = 0; i < sp->segments; i++) {
    const segment *sg = &sp->segment[i];
    add_patches(job->g, dd + at, sg, job->target + sg->plane);
    at += sg->count;
  }
}

/* The input-gradient plane of `item`, cleared before its first span adds
 * to it (the patches overlap). */
static void clear_plane(const transform_job *job, int64_t item) {
  memset(job->target + plane_offset(job, item), 0,
         (size_t)plane_size(job->g) * sizeof(float));
}

typedef void (*span_transform)(const transform_job *job, span *sp);
typedef void (*plane_start)(const transform_job *job, int64_t item);

typedef struct span_loop {
  const transform_job *job;
  span_transform each;
  plane_start start; /* NULL: nothing to do before a plane */
} span_loop;

/* Appends a segment, first transforming the span if it is full or the
 * segment is of another channel (its taps would not follow on). */
static void add_segment(const span_loop *loop, span *sp, int64_t channel,
                        segment sg) {
  if (sp->tiles > 0 &&
      (sp->tiles + sg.count > SPAN_TILES || channel != sp->channel)) {
    loop->each(loop->job, sp);
    sp->tiles = 0;
    sp->segments = 0;
  }
  sp->channel = channel;
  sp->segment[sp->segments++] = sg;
  sp->tiles += sg.count;
}

static void run_spans(void *context, int32_t chunk) {
  const span_loop *loop = context;
  const transform_job *job = loop->job;
  const lb_conv2d_geometry *g = job->g;
  span sp;
  sp.channel = -1;
  sp.tiles = 0;
  sp.segments = 0;
  sp.padded_item = -1;
  int64_t rows = tile_rows(g), columns = tile_cols(g);
  int64_t end = lb_chunk_begin(job->items, chunk + 1, job->chunks);
  for (int64_t item = lb_chunk_begin(job->items, chunk, job->chunks);
       item < end; item++) {
    if (loop->start)
      loop->start(job, item);
    int64_t channel = item / job->images, plane = plane_offset(job, item);
    for (int64_t ty = 0; ty < rows; ty++)
      for (int64_t first = 0; first < columns; first += STRIP_TILES) {
        int64_t left = columns - first;
        add_segment(loop, &sp, channel,
                    (segment){item, plane, ty, first,
                              left < STRIP_TILES ? left : STRIP_TILES});
      }
  }
  if (sp.tiles > 0)
    loop->each(job, &sp);
}

/* Every (image, channel) plane of the job: split over the pool when
 * `split` (a call of one range), else all on the calling thread (the
 * range's). The spans, and so the bits, are the same either way. */
static void for_each_span(transform_job *job, span_transform each,
                          plane_start start, bool split) {
  job->chunks =
      split ? lb_parallel_chunks(job->items,
                                 TILE_TAPS * tiles_per_image(job->g))
            : 1;
  span_loop loop = {job, each, start};
  lb_parallel_for(run_spans, &loop, job->chunks);
}

/* ---- the GEMMs ----------------------------------------------------------- */

/* The 16 products of a step, one per tap. In a range, one after the other
 * on the range's thread. In a call of one range, on the library's pool
 * (see lib/core/gemm.c) they run side by side, each single-threaded, which
 * needs no fork and join inside any of them; under LOSSBAL_GEMM=openblas,
 * one after the other on OpenBLAS's threads. Each is one cblas_sgemm
 * (lb_sgemm_serial()) whoever runs it. */
typedef enum tap_product {
  TAP_FORWARD,         /* M_k [Co, T] = U_k [Co, Ci] * V_k [Ci, T] */
  TAP_FILTER_GRADIENT, /* dU_k [Co, Ci] = beta dU_k + Z_k [Co, T] * V_k^T */
  TAP_INPUT_GRADIENT,  /* dV_k [Ci, T] = U_k^T * Z_k [Co, T] */
  TAP_GRADIENTS        /* both, tap by tap: dU_k, then dV_k over V_k */
} tap_product;

typedef struct tap_job {
  const lb_conv2d_geometry *g;
  tap_product product;
  const float *u, *v, *z; /* z is M's buffer, holding Z in the backward */
  bool packed_u;          /* TAP_FORWARD of prepared filters, */
  float *products;        /* with lb_sgemm_packed()'s scratch */
  float *out;
  float *dv; /* TAP_GRADIENTS: where dV goes, V's own buffer */
  int64_t columns;
  float beta;
  int32_t chunks;
} tap_job;

static void multiply_tap(const tap_job *job, int k) {
  int64_t co = job->g->out_channels, ci = job->g->in_channels,
          t = job->columns;
  const float *u = job->u + k * co * ci;
  switch (job->product) {
  case TAP_FORWARD:
    if (job->packed_u) /* it overwrites M: beta 1 is only asked on zeros */
      lb_sgemm_packed(job->u + k * lb_packed_floats(co, ci), ci, 0, co,
                      job->v + k * ci * t, t, t, job->out + k * co * t, t,
                      job->products);
    else
      lb_sgemm_serial(false, false, co, t, ci, 1.0f, u, ci,
                      job->v + k * ci * t, t, job->beta,
                      job->out + k * co * t, t);
    break;
  case TAP_FILTER_GRADIENT:
    lb_sgemm_serial(false, true, co, ci, t, 1.0f, job->z + k * co * t, t,
                    job->v + k * ci * t, t, job->beta,
                    job->out + k * co * ci, ci);
    break;
  case TAP_INPUT_GRADIENT:
    lb_sgemm_serial(true, false, ci, t, co, 1.0f, u, ci, job->z + k * co * t,
                    t, 0.0f, job->out + k * ci * t, t);
    break;
  case TAP_GRADIENTS: {
    /* dV_k right after dU_k, while Z_k and V_k are still in the cache
     * (OpenBLAS's zeroing of dV for beta 0 included); V_k, read by dU_k
     * only, is then free for dV_k. Same products, same bits as all the
     * dU_k and then all the dV_k; bench_conv, 6 layers of widths 16 and
     * 64, 2 threads, 4 alternating rounds: backward 82 -> 75 ms (medians
     * of the sums), no difference on one thread. */
    tap_job part = *job;
    part.product = TAP_FILTER_GRADIENT;
    multiply_tap(&part, k);
    part.product = TAP_INPUT_GRADIENT;
    part.out = job->dv;
    multiply_tap(&part, k);
    break;
  }
  }
}

static void tap_chunk(void *context, int32_t chunk) {
  const tap_job *job = context;
  int64_t end = lb_chunk_begin(TILE_TAPS, chunk + 1, job->chunks);
  for (int64_t k = lb_chunk_begin(TILE_TAPS, chunk, job->chunks); k < end; k++)
    multiply_tap(job, (int)k);
}

static void multiply_taps(tap_job job, bool split) {
  if (!split || !lb_gemm_on_pool()) {
    for (int k = 0; k < TILE_TAPS; k++)
      multiply_tap(&job, k);
    return;
  }
  int32_t threads = lb_get_num_threads();
  job.chunks = threads < TILE_TAPS ? threads : TILE_TAPS;
  lb_parallel_for(tap_chunk, &job, job.chunks);
}

/* ---- transforms of a block ----------------------------------------------- */

static void transform_filters(const lb_conv2d_geometry *g, const float *weight,
                              float *u) {
  transform_job job = {.g = g, .source = weight, .target = u,
                       .items = filter_groups(g)};
  for_each_item(&job, TILE_TAPS * FILTER_GROUP, filter_item);
}

/* Input planes of `images` images into V. */
static void transform_patches(const lb_conv2d_geometry *g, const float *input,
                              int64_t images, float *v, bool split) {
  transform_job job = {.g = g, .source = input, .target = v,
                       .images = images, .channels = g->in_channels,
                       .items = images * g->in_channels};
  for_each_span(&job, patch_span, NULL, split);
}

/* M into the output planes of `images` images, plus the bias; with clear,
 * M is left all zero. */
static void write_outputs(const lb_conv2d_geometry *g, float *m,
                          int64_t images, const float *bias, float *output,
                          bool split, bool clear) {
  transform_job job = {.g = g, .source = m, .target = output,
                       .images = images, .channels = g->out_channels,
                       .items = images * g->out_channels, .bias = bias,
                       .clear_source = clear};
  for_each_span(&job, product_span, NULL, split);
}

/* Output-gradient planes of `images` images into Z. */
static void transform_output_gradient(const lb_conv2d_geometry *g,
                                      const float *grad_output,
                                      int64_t images, float *z, bool split) {
  transform_job job = {.g = g, .source = grad_output, .target = z,
                       .images = images, .channels = g->out_channels,
                       .items = images * g->out_channels};
  for_each_span(&job, output_gradient_span, NULL, split);
}

/* dV onto the (cleared) input-gradient planes of `images` images. */
static void write_input_gradient(const lb_conv2d_geometry *g, const float *dv,
                                 int64_t images, float *grad_input,
                                 bool split) {
  transform_job job = {.g = g, .source = dv, .target = grad_input,
                       .images = images, .channels = g->in_channels,
                       .items = images * g->in_channels};
  for_each_span(&job, patch_gradient_span, clear_plane, split);
}

/* ---- ranges of images ---------------------------------------------------- */

/* One call, cut into `ranges` ranges of whole images run side by side;
 * the thread of range r uses workspace slot r for every block it takes. U
 * (and in the backward the sum of dU) is shared. */
typedef struct winograd_call {
  const lb_conv2d_geometry *g;
  const float *input, *bias, *grad_output;
  const float *u; /* the transformed filters (the forward's) */
  bool packed_u;  /* u is prepared: each U_k packed (gemm_packed.h) */
  float *products; /* with packed_u: lb_sgemm_packed()'s scratch */
  float *output, *grad_input, *workspace;
  float *slots; /* the ranges' V and M (see slot_buffers()) */
  int32_t ranges;
  bool split; /* one range, each step split over the pool */
  const lb_conv2d_epilogue *after; /* on each block's output, or NULL */
  lb_block_claims claims; /* the blocks of the ranges (of several) */
} winograd_call;

/* As in conv2d.c: ranges smaller than the largest by more than a
 * 1 / UNEVEN_RANGES share leave too much of their threads' time idle, and a
 * single range with every step split over the pool does better. */
#define UNEVEN_RANGES 4

/* True when ranges would make the products narrower than one range's
 * (small images: a range's share of the batch is fewer images than a
 * block wants) and narrower than the filters are wide. Those layers have
 * so many channels that a block's products dwarf its joins, while narrow
 * products repack U_k for fewer columns and each range writes a whole
 * dU: at 512 channels on 4x4 images (128 tiles a range on 2 threads,
 * against 256), the backward took 10% to 30% longer on ranges; at 128
 * channels ranges were faster. */
static bool ranges_too_narrow(const lb_conv2d_geometry *g) {
  int64_t range = images_per_block(g) * tiles_per_image(g),
          single = single_range_block(g) * tiles_per_image(g),
          widest = g->in_channels > g->out_channels ? g->in_channels
                                                    : g->out_channels;
  return range < single && range < widest;
}

/* How many ranges a call runs: one per thread, within the workspace's
 * slots (and so never more than the batch); 1 when the batch does not
 * spread evenly enough (3 images on 2 threads, one large image) or the
 * ranges' products would be too narrow. */
static int32_t image_ranges(const lb_conv2d_geometry *g) {
  int64_t ranges = lb_get_num_threads();
  if (ranges > workspace_slots(g))
    ranges = workspace_slots(g);
  if (ranges <= 1 ||
      (g->batch % ranges != 0 && g->batch < UNEVEN_RANGES * ranges) ||
      ranges_too_narrow(g))
    return 1;
  return (int32_t)ranges;
}

/* The most images in a block of the call. */
static int64_t call_block(const winograd_call *call) {
  return call->split ? single_range_block(call->g)
                     : images_per_block(call->g);
}

/* The images of the block from image `first` of a range ending at `end`. */
static int64_t block_images(const winograd_call *call, int64_t first,
                            int64_t end) {
  int64_t left = end - first, block = call_block(call);
  return left < block ? left : block;
}

/* ---- forward ------------------------------------------------------------- */

/* The output of the block of `images` images from image `first`, with
 * workspace slot `slot`. M holds zeros on entry when m_is_zero (the
 * products then add into it, beta 1, and OpenBLAS skips the pass that would
 * zero it for beta 0: 13% of a width-16 inference profile, M having left
 * the cache since the last block read it); with clear_m the output
 * transform leaves it zero for the next block. Packed filters' products
 * (lb_sgemm_packed()) overwrite M and need neither. */
static void forward_block(const winograd_call *call, int64_t first,
                          int64_t images, int32_t slot, bool m_is_zero,
                          bool clear_m) {
  const lb_conv2d_geometry *g = call->g;
  bool split = call->split;
  winograd_buffers b = slot_buffers(g, call->slots, slot,
                                    call_block(call));
  transform_patches(g, call->input + first * g->in_channels * plane_size(g),
                    images, b.v, split);
  multiply_taps((tap_job){.g = g, .product = TAP_FORWARD, .u = call->u,
                          .packed_u = call->packed_u,
                          .products = call->products, .v = b.v, .out = b.m,
                          .columns = images * tiles_per_image(g),
                          .beta = m_is_zero ? 1.0f : 0.0f},
                split);
  write_outputs(g, b.m, images, call->bias,
                call->output + first * g->out_channels * plane_size(g),
                split, clear_m && !call->packed_u);
}

/* The output of images [begin, end) with workspace slot `slot`. */
static void forward_images(const winograd_call *call, int64_t begin,
                           int64_t end, int32_t slot) {
  /* Blocks after the first reuse M as the previous one left it: zero, and
   * no larger than before (a range's blocks only shrink at its end). */
  for (int64_t first = begin, count; first < end; first += count) {
    count = block_images(call, first, end);
    forward_block(call, first, count, slot, first != begin,
                  first + count < end);
    lb_conv2d_finish_images(call->g, call->after, call->output, first, count);
  }
}

/* The blocks the thread of range `range` claims, its own range's first,
 * with its workspace slot. Every block leaves M zero, so a block no wider
 * than one done before adds into it (see forward_block()). */
static void forward_claimed(winograd_call *call, int32_t range) {
  const lb_conv2d_geometry *g = call->g;
  int64_t zero_columns = 0;
  int32_t turn = 0;
  lb_block_unit block;
  while (lb_block_claim(&call->claims, range, &turn, &block)) {
    int64_t columns = block.images * tiles_per_image(g);
    forward_block(call, block.first, block.images, range,
                  columns <= zero_columns, true);
    if (columns > zero_columns)
      zero_columns = columns;
    lb_conv2d_finish_images(g, call->after, call->output, block.first,
                            block.images);
  }
}

static void forward_range(void *context, int32_t range) {
  winograd_call *call = context;
  if (call->split) {
    forward_images(call, 0, call->g->batch, 0);
    return;
  }
  forward_claimed(call, range);
}

void lb_winograd_forward(const lb_conv2d_geometry *g, const float *input,
                         const float *weight, const float *bias,
                         float *output, float *workspace) {
  transform_filters(g, weight, transformed_filters(workspace));
  winograd_call call = {.g = g, .input = input, .bias = bias,
                        .u = transformed_filters(workspace),
                        .output = output, .workspace = workspace,
                        .slots = first_slot(g, workspace),
                        .ranges = image_ranges(g)};
  call.split = call.ranges == 1;
  if (!call.split)
    lb_block_claims_start(&call.claims, g->batch, call.ranges,
                          images_per_block(g), 1);
  lb_parallel_for(forward_range, &call, call.ranges);
}

/* ---- forward of prepared filters, a range of images at a time ------------ */

int64_t lb_winograd_prepared_floats(const lb_conv2d_geometry *g) {
  return TILE_TAPS * lb_packed_floats(g->out_channels, g->in_channels);
}

/* One slot, V and M, then the products' scratch (lb_sgemm_packed()): U
 * is the prepared filters, and no gradient. */
size_t lb_winograd_images_workspace_bytes(const lb_conv2d_geometry *g) {
  int64_t floats = slot_floats(g) + lb_sgemm_packed_scratch_floats();
  return (size_t)floats * sizeof(float);
}

/* The filters of output channels [first, end) are consecutive: filter
 * o * Ci + i. */
void lb_winograd_prepare(const lb_conv2d_geometry *g, const float *weight,
                         const float *scale, int64_t first, int64_t end,
                         float *prepared) {
  int64_t from = first * g->in_channels, to = end * g->in_channels;
  for (int64_t at = from; at < to; at += FILTER_GROUP)
    transform_filter_group(g, weight, scale, at,
                           to - at < FILTER_GROUP ? to - at : FILTER_GROUP,
                           true, prepared);
  /* The last panel's rows past the last channel, which the products
   * compute and drop. */
  lb_packed_clear_padding_by_range(first, end, g->out_channels,
                                   g->in_channels, TILE_TAPS, prepared);
}

void lb_winograd_forward_images(const lb_conv2d_geometry *g,
                                const float *input, const float *prepared,
                                const float *bias, float *output,
                                float *workspace, int64_t first,
                                int64_t count,
                                const lb_conv2d_epilogue *after) {
  winograd_call call = {.g = g, .input = input, .bias = bias, .u = prepared,
                        .packed_u = true,
                        .products = workspace + slot_floats(g),
                        .output = output, .workspace = workspace,
                        .slots = workspace, .ranges = 0, .split = false,
                        .after = after};
  forward_images(&call, first, first + count, 0);
}

/* ---- backward ------------------------------------------------------------ */

/* The gradients of the block of `images` images from image `first`, with
 * workspace slot `slot`: its dU goes into du, scaled by beta first (0:
 * overwritten). */
static void backward_block(const winograd_call *call, int64_t first,
                           int64_t images, int32_t slot, float beta,
                           float *du) {
  const lb_conv2d_geometry *g = call->g;
  bool split = call->split;
  winograd_buffers b = slot_buffers(g, call->slots, slot,
                                    call_block(call));
  int64_t columns = images * tiles_per_image(g);
  transform_patches(g, call->input + first * g->in_channels * plane_size(g),
                    images, b.v, split);
  transform_output_gradient(
      g, call->grad_output + first * g->out_channels * plane_size(g), images,
      b.m, split);
  if (!call->grad_input) {
    multiply_taps((tap_job){.g = g, .product = TAP_FILTER_GRADIENT, .v = b.v,
                            .z = b.m, .out = du, .columns = columns,
                            .beta = beta},
                  split);
    return;
  }
  /* dV takes V's place, tap by tap. */
  multiply_taps((tap_job){.g = g, .product = TAP_GRADIENTS, .u = call->u,
                          .v = b.v, .z = b.m, .out = du, .dv = b.v,
                          .columns = columns, .beta = beta},
                split);
  write_input_gradient(
      g, b.v, images,
      call->grad_input + first * g->in_channels * plane_size(g), split);
}

/* The gradients of images [begin, end), their dU summed into du. */
static void backward_images(const winograd_call *call, int64_t begin,
                            int64_t end, int32_t slot, float *du) {
  for (int64_t first = begin, count; first < end; first += count) {
    count = block_images(call, first, end);
    backward_block(call, first, count, slot, first == begin ? 0.0f : 1.0f,
                   du);
  }
}

/* The units the thread of range `range` claims, its own range's first,
 * each unit's dU into its own part (block_claims.h), added up afterwards
 * in unit order. */
static void backward_range(void *context, int32_t range) {
  winograd_call *call = context;
  if (call->split) {
    backward_images(call, 0, call->g->batch, 0,
                    filter_gradient_sum(call->g, call->workspace));
    return;
  }
  int32_t turn = 0;
  lb_block_unit unit;
  while (lb_block_claim(&call->claims, range, &turn, &unit))
    backward_images(call, unit.first, unit.first + unit.images, range,
                    lb_block_unit_gradient(
                        filter_gradient_sum(call->g, call->workspace),
                        filter_gradient_parts(call->g, call->workspace),
                        filter_floats(call->g), unit.index));
}

void lb_winograd_backward(const lb_conv2d_geometry *g, const float *input,
                          const float *weight, const float *grad_output,
                          float *grad_input, float *grad_weight,
                          float *grad_bias, float *workspace) {
  if (grad_bias)
    lb_conv2d_bias_gradient(g, grad_output, grad_bias);
  if (grad_input)
    transform_filters(g, weight, transformed_filters(workspace));
  winograd_call call = {.g = g, .input = input, .grad_output = grad_output,
                        .u = transformed_filters(workspace),
                        .grad_input = grad_input, .workspace = workspace,
                        .slots = first_slot(g, workspace),
                        .ranges = image_ranges(g)};
  call.split = call.ranges == 1;
  if (!call.split)
    lb_block_claims_start_summing(&call.claims, g->batch, call.ranges,
                                  images_per_block(g), parts_room(g));
  lb_parallel_for(backward_range, &call, call.ranges);
  if (call.ranges > 1)
    lb_block_add_parts(&call.claims, filter_gradient_sum(g, workspace),
                       filter_gradient_parts(g, workspace), filter_floats(g));
  transform_job dg_job = {.g = g,
                          .source = filter_gradient_sum(g, workspace),
                          .target = grad_weight, .items = filter_groups(g)};
  for_each_item(&dg_job, TILE_TAPS * FILTER_GROUP, filter_gradient_item);
}
