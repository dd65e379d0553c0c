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
 * at least MIN_TILE_COLUMNS columns while the workspace stays bounded; the
 * transforms are split over the library's pool by (image, channel), the
 * GEMMs run on OpenBLAS's threads.
 */
#include "conv_winograd.h"

#include "../core/core_internal.h"

#include <cblas.h>
#include <string.h>

/* Positions of a transformed 4x4 tile: the number of GEMMs. */
#define TILE_TAPS 16

/* Fewest GEMM columns (tiles) per block, as MIN_GEMM_COLUMNS in conv2d.c. */
#define MIN_TILE_COLUMNS 1024

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

static int64_t images_per_block(const lb_conv2d_geometry *g) {
  int64_t per_image = tiles_per_image(g);
  int64_t images = (MIN_TILE_COLUMNS + per_image - 1) / per_image;
  return images < g->batch ? images : g->batch;
}

static int64_t plane_size(const lb_conv2d_geometry *g) {
  return g->in_h * g->in_w; /* = out_h * out_w at stride 1, padding 1 */
}

/* The workspace, in floats: U and dU [16, Co, Ci], then V [16, Ci, T] and
 * M (or Z) [16, Co, T] of one block of T tiles. */
typedef struct winograd_buffers {
  float *u, *du, *v, *m;
} winograd_buffers;

static int64_t filter_floats(const lb_conv2d_geometry *g) {
  return TILE_TAPS * g->out_channels * g->in_channels;
}

static int64_t block_columns(const lb_conv2d_geometry *g) {
  return images_per_block(g) * tiles_per_image(g);
}

size_t lb_winograd_workspace_bytes(const lb_conv2d_geometry *g) {
  int64_t floats = 2 * filter_floats(g) +
                   TILE_TAPS * (g->in_channels + g->out_channels) *
                       block_columns(g);
  return (size_t)floats * sizeof(float);
}

static winograd_buffers carve(const lb_conv2d_geometry *g, float *workspace) {
  winograd_buffers b;
  b.u = workspace;
  b.du = b.u + filter_floats(g);
  b.v = b.du + filter_floats(g);
  b.m = b.v + TILE_TAPS * g->in_channels * block_columns(g);
  return b;
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

/* Group `item` of the filters co * Ci + ci of weight [Co, Ci, 3, 3] into
 * U [16, Co, Ci]. */
static void filter_item(const transform_job *job, int64_t item) {
  int64_t filters = job->g->out_channels * job->g->in_channels;
  int64_t first = 0, count = 0;
  group_range(job, item, &first, &count);
  float taps[TILE_TAPS][FILTER_GROUP], u[16];
  for (int64_t f = 0; f < count; f++) {
    transform_filter(job->source + (first + f) * 9, u);
    for (int k = 0; k < TILE_TAPS; k++)
      taps[k][f] = u[k];
  }
  for (int k = 0; k < TILE_TAPS; k++)
    memcpy(job->target + k * filters + first, taps[k],
           (size_t)count * sizeof(float));
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

/* The plane transforms work on strips of up to STRIP_TILES tiles of one
 * tile row at a time: a strip's rows are loaded (with the zero padding)
 * into small arrays, and each step of a transform is one loop over the
 * strip, which the compiler vectorises; the results for tap k go to
 * consecutive columns of row k. */
#define STRIP_TILES 64
#define STRIP_WIDTH (2 * STRIP_TILES + 2)

/* Tiles [first, first + count) of tile row `ty` of a plane. */
typedef struct strip {
  int64_t ty, first, count;
} strip;

static strip strip_at(const lb_conv2d_geometry *g, int64_t ty, int64_t first) {
  int64_t left = tile_cols(g) - first;
  return (strip){ty, first, left < STRIP_TILES ? left : STRIP_TILES};
}

/* row[x] = plane_row[x0 + x] for x in [0, width), 0 where x0 + x falls
 * outside [0, plane_width) or the row itself is outside (plane_row NULL). */
static void load_padded(const float *plane_row, int64_t plane_width,
                        int64_t x0, int64_t width, float *row) {
  int64_t begin = x0 < 0 ? -x0 : 0;
  int64_t end = plane_width - x0 < width ? plane_width - x0 : width;
  if (!plane_row || end <= begin) {
    memset(row, 0, (size_t)width * sizeof(float));
    return;
  }
  if (begin > 0)
    memset(row, 0, (size_t)begin * sizeof(float));
  memcpy(row + begin, plane_row + x0 + begin,
         (size_t)(end - begin) * sizeof(float));
  if (end < width)
    memset(row + end, 0, (size_t)(width - end) * sizeof(float));
}

/* The image row y of a plane, or NULL outside it. */
static const float *plane_row(const float *plane, int64_t y, int64_t height,
                              int64_t width) {
  return y >= 0 && y < height ? plane + y * width : NULL;
}

/* Where tap k of the strip's first tile goes: column tile of row k. */
typedef struct tap_rows {
  float *base;    /* tap 0, the strip's first tile */
  int64_t stride; /* from one tap to the next */
} tap_rows;

/* Splits row[0, width) into its even and odd entries: every transform
 * step then reads consecutive floats, which vectorises far better than
 * reading every other one. */
static void split_even_odd(const float *row, int64_t width, float *even,
                           float *odd) {
  for (int64_t x = 0; 2 * x < width; x++)
    even[x] = row[2 * x];
  for (int64_t x = 0; 2 * x + 1 < width; x++)
    odd[x] = row[2 * x + 1];
}

/* V = B^T d B for every tile of a strip: the 4 input rows around the tile
 * row, split into even and odd columns, then B^T down the columns (all at
 * once), then B along each row: tile s reads columns 2s .. 2s + 3, that is
 * even[s], odd[s], even[s + 1], odd[s + 1]. */
static void input_strip(const lb_conv2d_geometry *g, const float *plane,
                        strip st, tap_rows out) {
  enum { HALF = STRIP_TILES + 1 };
  float row[STRIP_WIDTH], even[4][HALF], odd[4][HALF];
  float down_even[4][HALF], down_odd[4][HALF];
  int64_t width = 2 * st.count + 2, half = st.count + 1;
  for (int i = 0; i < 4; i++) {
    load_padded(plane_row(plane, 2 * st.ty - 1 + i, g->in_h, g->in_w),
                g->in_w, 2 * st.first - 1, width, row);
    split_even_odd(row, width, even[i], odd[i]);
  }
  for (int64_t x = 0; x < half; x++) {
    down_even[0][x] = even[0][x] - even[2][x];
    down_even[1][x] = even[1][x] + even[2][x];
    down_even[2][x] = even[2][x] - even[1][x];
    down_even[3][x] = even[1][x] - even[3][x];
    down_odd[0][x] = odd[0][x] - odd[2][x];
    down_odd[1][x] = odd[1][x] + odd[2][x];
    down_odd[2][x] = odd[2][x] - odd[1][x];
    down_odd[3][x] = odd[1][x] - odd[3][x];
  }
  for (int i = 0; i < 4; i++) {
    const float *e = down_even[i], *o = down_odd[i];
    float *v0 = out.base + (4 * i) * out.stride, *v1 = v0 + out.stride,
          *v2 = v1 + out.stride, *v3 = v2 + out.stride;
    for (int64_t s = 0; s < st.count; s++) {
      v0[s] = e[s] - e[s + 1];
      v1[s] = o[s] + e[s + 1];
      v2[s] = e[s + 1] - o[s];
      v3[s] = o[s] - o[s + 1];
    }
  }
}

/* Y = A^T M A (+ bias) for every tile of a strip, written to the output
 * rows 2 ty and 2 ty + 1 that lie inside the plane. */
static void output_strip(const lb_conv2d_geometry *g, tap_rows in, strip st,
                         float bias, float *plane) {
  float across[4][2][STRIP_TILES], y[2][2 * STRIP_TILES];
  for (int i = 0; i < 4; i++) {
    const float *m0 = in.base + (4 * i) * in.stride, *m1 = m0 + in.stride,
                *m2 = m1 + in.stride, *m3 = m2 + in.stride;
    for (int64_t s = 0; s < st.count; s++) {
      across[i][0][s] = m0[s] + m1[s] + m2[s];
      across[i][1][s] = m1[s] - m2[s] - m3[s];
    }
  }
  for (int j = 0; j < 2; j++)
    for (int64_t s = 0; s < st.count; s++) {
      y[0][2 * s + j] =
          across[0][j][s] + across[1][j][s] + across[2][j][s] + bias;
      y[1][2 * s + j] =
          across[1][j][s] - across[2][j][s] - across[3][j][s] + bias;
    }
  int64_t x0 = 2 * st.first, columns = 2 * st.count;
  if (x0 + columns > g->out_w)
    columns = g->out_w - x0;
  for (int r = 0; r < 2 && 2 * st.ty + r < g->out_h; r++)
    memcpy(plane + (2 * st.ty + r) * g->out_w + x0, y[r],
           (size_t)columns * sizeof(float));
}

/* Z = A dY A^T for every 2x2 output-gradient tile of a strip (pixels past
 * the edge count as 0). */
static void output_gradient_strip(const lb_conv2d_geometry *g,
                                  const float *plane, strip st,
                                  tap_rows out) {
  float dy[2][2 * STRIP_TILES];
  for (int r = 0; r < 2; r++)
    load_padded(plane_row(plane, 2 * st.ty + r, g->out_h, g->out_w),
                g->out_w, 2 * st.first, 2 * st.count, dy[r]);
  /* Rows of A dY: (p, q), (p + r, q + u), (p - r, q - u), (-r, -u) for the
   * tile [[p, q], [r, u]]; then each row (a, b) becomes (a, a + b, a - b,
   * -b). */
  for (int i = 0; i < 4; i++) {
    float *z0 = out.base + (4 * i) * out.stride, *z1 = z0 + out.stride,
          *z2 = z1 + out.stride, *z3 = z2 + out.stride;
    for (int64_t s = 0; s < st.count; s++) {
      float p = dy[0][2 * s], q = dy[0][2 * s + 1];
      float r = dy[1][2 * s], u = dy[1][2 * s + 1];
      float a = i == 0 ? p : i == 1 ? p + r : i == 2 ? p - r : -r;
      float b = i == 0 ? q : i == 1 ? q + u : i == 2 ? q - u : -u;
      z0[s] = a;
      z1[s] = a + b;
      z2[s] = a - b;
      z3[s] = -b;
    }
  }
}

/* dd = B dV B^T for every tile of a strip, added onto the 4 input-gradient
 * rows around the tile row; neighbouring tiles overlap by two columns,
 * so each row is summed in a strip buffer first, in two passes that do
 * not overlap within themselves. */
static void input_gradient_strip(const lb_conv2d_geometry *g, tap_rows in,
                                 strip st, float *plane) {
  float along[4][4][STRIP_TILES], sums[4][STRIP_WIDTH];
  for (int i = 0; i < 4; i++) {
    const float *d0 = in.base + (4 * i) * in.stride, *d1 = d0 + in.stride,
                *d2 = d1 + in.stride, *d3 = d2 + in.stride;
    for (int64_t s = 0; s < st.count; s++) { /* dV B^T along the row */
      along[i][0][s] = d0[s];
      along[i][1][s] = d1[s] - d2[s] + d3[s];
      along[i][2][s] = d1[s] + d2[s] - d0[s];
      along[i][3][s] = -d3[s];
    }
  }
  int64_t width = 2 * st.count + 2;
  for (int i = 0; i < 4; i++)
    memset(sums[i], 0, (size_t)width * sizeof(float));
  for (int j = 0; j < 4; j++) /* then B down the columns */
    for (int64_t s = 0; s < st.count; s++) {
      float a = along[0][j][s], b = along[1][j][s], c = along[2][j][s],
            e = along[3][j][s];
      sums[0][2 * s + j] += a;
      sums[1][2 * s + j] += b - c + e;
      sums[2][2 * s + j] += b + c - a;
      sums[3][2 * s + j] -= e;
    }
  int64_t x0 = 2 * st.first - 1;
  int64_t begin = x0 < 0 ? -x0 : 0;
  int64_t end = g->in_w - x0 < width ? g->in_w - x0 : width;
  for (int i = 0; i < 4; i++) {
    int64_t y = 2 * st.ty - 1 + i;
    if (y < 0 || y >= g->in_h)
      continue;
    float *target = plane + y * g->in_w + x0;
    for (int64_t x = begin; x < end; x++)
      target[x] += sums[i][x];
  }
}

/* The taps of (image, channel) plane `item` in a [16, channels, T] array. */
static tap_rows taps_of(const transform_job *job, float *array, int64_t item,
                        int64_t ty, int64_t first) {
  int64_t image = item % job->images, channel = item / job->images;
  int64_t per_image = tiles_per_image(job->g);
  int64_t columns = job->images * per_image;
  return (tap_rows){array + channel * columns + image * per_image +
                        ty * tile_cols(job->g) + first,
                    job->channels * columns};
}

/* Plane `item` (channel, image) of an NCHW array of `channels` channels. */
static int64_t plane_offset(const transform_job *job, int64_t item) {
  int64_t image = item % job->images, channel = item / job->images;
  return (image * job->channels + channel) * plane_size(job->g);
}

/* Item (channel, image) of a block: every tile of one input plane into
 * V [16, Ci, T]. */
static void patch_item(const transform_job *job, int64_t item) {
  const float *plane = job->source + plane_offset(job, item);
  for (int64_t ty = 0; ty < tile_rows(job->g); ty++)
    for (int64_t first = 0; first < tile_cols(job->g); first += STRIP_TILES)
      input_strip(job->g, plane, strip_at(job->g, ty, first),
                  taps_of(job, job->target, item, ty, first));
}

/* Item (channel, image): every tile of M [16, Co, T] into one output
 * plane, plus the bias. */
static void product_item(const transform_job *job, int64_t item) {
  float *plane = job->target + plane_offset(job, item);
  float bias = job->bias ? job->bias[item / job->images] : 0.0f;
  for (int64_t ty = 0; ty < tile_rows(job->g); ty++)
    for (int64_t first = 0; first < tile_cols(job->g); first += STRIP_TILES)
      output_strip(job->g,
                   taps_of(job, (float *)job->source, item, ty, first),
                   strip_at(job->g, ty, first), bias, plane);
}

/* Item (channel, image): one output-gradient plane into Z [16, Co, T]. */
static void output_gradient_item(const transform_job *job, int64_t item) {
  const float *plane = job->source + plane_offset(job, item);
  for (int64_t ty = 0; ty < tile_rows(job->g); ty++)
    for (int64_t first = 0; first < tile_cols(job->g); first += STRIP_TILES)
      output_gradient_strip(job->g, plane, strip_at(job->g, ty, first),
                            taps_of(job, job->target, item, ty, first));
}

/* Item (channel, image): dV [16, Ci, T] back onto one input-gradient
 * plane, cleared first as the tiles' patches overlap. */
static void patch_gradient_item(const transform_job *job, int64_t item) {
  float *plane = job->target + plane_offset(job, item);
  memset(plane, 0, (size_t)plane_size(job->g) * sizeof(float));
  for (int64_t ty = 0; ty < tile_rows(job->g); ty++)
    for (int64_t first = 0; first < tile_cols(job->g); first += STRIP_TILES)
      input_gradient_strip(job->g,
                           taps_of(job, (float *)job->source, item, ty, first),
                           strip_at(job->g, ty, first), plane);
}

/* ---- the GEMMs ----------------------------------------------------------- */

/* The 16 products of a step, one per tap. On the library's pool (see
 * lib/core/gemm.c) they run side by side, each single-threaded, which
 * needs no fork and join inside any of them; otherwise one after the
 * other on OpenBLAS's threads. */
typedef enum tap_product {
  TAP_FORWARD,         /* M_k [Co, T] = U_k [Co, Ci] * V_k [Ci, T] */
  TAP_FILTER_GRADIENT, /* dU_k [Co, Ci] = beta dU_k + Z_k [Co, T] * V_k^T */
  TAP_INPUT_GRADIENT   /* dV_k [Ci, T] = U_k^T * Z_k [Co, T] */
} tap_product;

typedef struct tap_job {
  const lb_conv2d_geometry *g;
  tap_product product;
  const float *u, *v, *z; /* z is M's buffer, holding Z in the backward */
  float *out;
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
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)co, (int)t,
                (int)ci, 1.0f, u, (int)ci, job->v + k * ci * t, (int)t, 0.0f,
                job->out + k * co * t, (int)t);
    break;
  case TAP_FILTER_GRADIENT:
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)co, (int)ci,
                (int)t, 1.0f, job->z + k * co * t, (int)t, job->v + k * ci * t,
                (int)t, job->beta, job->out + k * co * ci, (int)ci);
    break;
  case TAP_INPUT_GRADIENT:
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)ci, (int)t,
                (int)co, 1.0f, u, (int)ci, job->z + k * co * t, (int)t, 0.0f,
                job->out + k * ci * t, (int)t);
    break;
  }
}

static void tap_chunk(void *context, int32_t chunk) {
  const tap_job *job = context;
  int64_t end = lb_chunk_begin(TILE_TAPS, chunk + 1, job->chunks);
  for (int64_t k = lb_chunk_begin(TILE_TAPS, chunk, job->chunks); k < end; k++)
    multiply_tap(job, (int)k);
}

static void multiply_taps(tap_job job) {
  if (!lb_gemm_on_pool()) {
    for (int k = 0; k < TILE_TAPS; k++)
      multiply_tap(&job, k);
    return;
  }
  int32_t threads = lb_get_num_threads();
  job.chunks = threads < TILE_TAPS ? threads : TILE_TAPS;
  lb_parallel_for(tap_chunk, &job, job.chunks);
}

/* ---- forward and backward ------------------------------------------------ */

static void transform_filters(const lb_conv2d_geometry *g, const float *weight,
                              float *u) {
  transform_job job = {.g = g, .source = weight, .target = u,
                       .items = filter_groups(g)};
  for_each_item(&job, TILE_TAPS * FILTER_GROUP, filter_item);
}

static void transform_patches(const lb_conv2d_geometry *g, const float *input,
                              int64_t images, float *v) {
  transform_job job = {.g = g, .source = input, .target = v,
                       .images = images, .channels = g->in_channels,
                       .items = images * g->in_channels};
  for_each_item(&job, TILE_TAPS * tiles_per_image(g), patch_item);
}

static int64_t block_images(const lb_conv2d_geometry *g, int64_t first) {
  int64_t left = g->batch - first, block = images_per_block(g);
  return left < block ? left : block;
}

static void write_outputs(const lb_conv2d_geometry *g, const float *m,
                          int64_t images, const float *bias, float *output) {
  transform_job job = {.g = g, .source = m, .target = output,
                       .images = images, .channels = g->out_channels,
                       .items = images * g->out_channels, .bias = bias};
  for_each_item(&job, TILE_TAPS * tiles_per_image(g), product_item);
}

void lb_winograd_forward(const lb_conv2d_geometry *g, const float *input,
                         const float *weight, const float *bias,
                         float *output, float *workspace) {
  winograd_buffers b = carve(g, workspace);
  transform_filters(g, weight, b.u);
  for (int64_t first = 0; first < g->batch; first += images_per_block(g)) {
    int64_t images = block_images(g, first);
    transform_patches(g, input + first * g->in_channels * plane_size(g),
                      images, b.v);
    multiply_taps((tap_job){.g = g, .product = TAP_FORWARD, .u = b.u,
                            .v = b.v, .out = b.m,
                            .columns = images * tiles_per_image(g)});
    write_outputs(g, b.m, images, bias,
                  output + first * g->out_channels * plane_size(g));
  }
}

void lb_winograd_backward(const lb_conv2d_geometry *g, const float *input,
                          const float *weight, const float *grad_output,
                          float *grad_input, float *grad_weight,
                          float *grad_bias, float *workspace) {
  winograd_buffers b = carve(g, workspace);
  if (grad_bias)
    lb_conv2d_bias_gradient(g, grad_output, grad_bias);
  if (grad_input)
    transform_filters(g, weight, b.u);
  for (int64_t first = 0; first < g->batch; first += images_per_block(g)) {
    int64_t images = block_images(g, first), columns =
        images * tiles_per_image(g);
    transform_patches(g, input + first * g->in_channels * plane_size(g),
                      images, b.v);
    transform_job z_job = {.g = g,
                           .source = grad_output +
                                     first * g->out_channels * plane_size(g),
                           .target = b.m, .images = images,
                           .channels = g->out_channels,
                           .items = images * g->out_channels};
    for_each_item(&z_job, TILE_TAPS * tiles_per_image(g),
                  output_gradient_item);
    multiply_taps((tap_job){.g = g, .product = TAP_FILTER_GRADIENT, .v = b.v,
                            .z = b.m, .out = b.du, .columns = columns,
                            .beta = first == 0 ? 0.0f : 1.0f});
    if (!grad_input)
      continue;
    /* V is spent: dV takes its place. */
    multiply_taps((tap_job){.g = g, .product = TAP_INPUT_GRADIENT, .u = b.u,
                            .z = b.m, .out = b.v, .columns = columns});
    transform_job dd_job = {.g = g, .source = b.v,
                            .target = grad_input +
                                      first * g->in_channels * plane_size(g),
                            .images = images, .channels = g->in_channels,
                            .items = images * g->in_channels};
    for_each_item(&dd_job, TILE_TAPS * tiles_per_image(g),
                  patch_gradient_item);
  }
  transform_job dg_job = {.g = g, .source = b.du, .target = grad_weight,
                          .items = filter_groups(g)};
  for_each_item(&dg_job, TILE_TAPS * FILTER_GROUP, filter_gradient_item);
}
