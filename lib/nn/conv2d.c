/* 2-D convolution as im2col + GEMM (see conv2d.h).
 *
 * The batch is processed in blocks of B consecutive images. A block is
 * lowered to one column matrix [K, B * P]: K = in_channels * kernel_h *
 * kernel_w rows, one per weight of a filter, and P = out_h * out_w columns
 * per image, one per output pixel, the images side by side. Then, per block,
 *   forward       out    [Co, B * P]  = weight [Co, K] * columns (+ bias)
 *   weight grad   grad_weight        += grad_out [Co, B * P] * columns^T
 *   input grad    grad_columns        = weight^T * grad_out, and col2im adds
 *                                       each entry back onto its pixel.
 * Blocks exist for the small late layers: at 4x4 pixels a GEMM per image
 * has 16 columns and OpenBLAS repacks the whole weight for each, four times
 * slower than one GEMM over 64 images. B is the fewest images that give a
 * GEMM MIN_GEMM_COLUMNS columns, but at most a thread's share of the batch
 * (below); from 32x32 pixels on, B is 1.
 *
 * In NCHW, out[n] is [Co, P], so a block of one image needs no relayout;
 * a block of several stages its out (and grad_out) as [Co, B * P] in the
 * workspace and copies it from (to) the images.
 *
 * Two shapes lower cheaply. A 1x1 kernel with stride 1 and no padding needs
 * no lowering at all once an image has POINTWISE_MIN_PIXELS pixels: its
 * blocks are single images, each image [Ci, H * W] is its own column
 * matrix, and the GEMMs read the input and write grad_input in place. A
 * 1x1 kernel without padding at a larger stride (ResNet's downsample
 * projection) lowers by a strided gather: im2col_row() finds every span
 * whole and copies every stride-th pixel, with no zero fill.
 *
 * Threads. The batch is cut into ranges of whole images, one per library
 * thread, run side by side by lb_parallel_for(); each thread goes through
 * its range's blocks with its own slot of the workspace (column matrix and
 * staging area) and single-threaded products (lb_sgemm_serial()), then
 * takes the blocks the other threads have not reached (block_claims.h),
 * so that the call does not end with one thread waiting for a slower one.
 * One fork and join per call, instead of two per block when every
 * lowering and every product was split over the pool: at ResNet-18 width
 * 16 the blocks are so small that the joins (sched_yield) cost a tenth of
 * the time on 2 threads. The weight gradient is a sum over the batch,
 * summed per unit of blocks (a fixed run of one range's blocks, claimed
 * together): the first unit into grad_weight, every other into a [Co, K]
 * part of its own in the workspace, and a last pass adds the parts into
 * grad_weight in unit order, so the same slots and thread count always
 * give the same bits, whichever thread took which unit.
 * When ranges would leave threads idle (fewer images than threads, or
 * ranges of uneven sizes on a small batch: one big image is the extreme),
 * a single range runs instead and each block's lowering, col2im and
 * products are split over the pool, as they were before.
 * The ranges need as many workspace slots: the geometry carries how many
 * the workspace has (slots, set at validation), and a call never uses
 * more, whatever lb_set_num_threads() says by then.
 * Under LOSSBAL_GEMM=openblas (slots 1) there is always one range, and
 * OpenBLAS threads each product: that mode reproduces the old behaviour
 * for comparisons.
 */
#include "conv2d.h"
#include "block_claims.h"
#include "conv_winograd.h"
#include "conv_winograd4.h"
#include "layers.h"

#include "../core/core_internal.h"
#include "../core/vector_kernel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A GEMM narrower than this runs markedly below OpenBLAS's full speed
 * (measured with OpenBLAS 0.3.21 on 2 cores, per flop against 1024 columns
 * or more: 16 columns 4x slower, 49 columns 1.5x, 196 15%, 784 8%). */
#define MIN_GEMM_COLUMNS 1024

/* ---- sizes --------------------------------------------------------------- */

/* K: weights per filter, rows of a column matrix. */
static int64_t filter_size(const lb_conv2d_geometry *g) {
  return g->in_channels * g->kernel_h * g->kernel_w;
}

/* P: output pixels per channel, columns of one image in a column matrix. */
static int64_t out_pixels(const lb_conv2d_geometry *g) {
  return g->out_h * g->out_w;
}

static int64_t input_image_size(const lb_conv2d_geometry *g) {
  return g->in_channels * g->in_h * g->in_w;
}

static int64_t output_image_size(const lb_conv2d_geometry *g) {
  return g->out_channels * out_pixels(g);
}

/* A 1x1 kernel with stride 1 and no padding on images of at least
 * POINTWISE_MIN_PIXELS pixels: each image [Ci, H * W] is its own column
 * matrix and nothing is lowered. Lowering such a layer only copies the
 * input (and stages the output) to get wider GEMMs, and with few channels
 * the copies cost more than the narrow GEMMs lose. Measured on ResNet-50's
 * 1x1 layers (batch 64, one thread, OpenBLAS 0.3.21, forward + backward):
 * at width 16, in place takes 15-25% less time at 28x28, 5-25% at 7x7 and
 * up to 15% at 14x14; at width 32 to 64 on 7x7 images it is within 5%
 * either way. At 4x4 (16-column GEMMs) lowering is as fast or faster. */
#define POINTWISE_MIN_PIXELS 49

static bool columns_are_the_input(const lb_conv2d_geometry *g) {
  return g->kernel_h == 1 && g->kernel_w == 1 && g->stride_h == 1 &&
         g->stride_w == 1 && g->pad_h == 0 && g->pad_w == 0 &&
         out_pixels(g) >= POINTWISE_MIN_PIXELS;
}

/* Workspace slots: one per range of images, and never more ranges than
 * images. */
static int64_t workspace_slots(const lb_conv2d_geometry *g) {
  return g->slots < g->batch ? g->slots : g->batch;
}

/* B: images per block (see the top of the file): enough for
 * MIN_GEMM_COLUMNS columns, but no more than a slot's share of the batch,
 * so that every slot's range has a block. */
static int64_t images_per_block(const lb_conv2d_geometry *g) {
  if (columns_are_the_input(g)) return 1;
  int64_t images = (MIN_GEMM_COLUMNS + out_pixels(g) - 1) / out_pixels(g);
  int64_t share = (g->batch + g->slots - 1) / g->slots;
  return images < share ? images : share;
}

/* A workspace slot: the column matrix of a block, then the staging area of
 * its output, [Co, B * P] (unused when B is 1). */
static int64_t columns_floats(const lb_conv2d_geometry *g) {
  if (columns_are_the_input(g)) return 0;
  return filter_size(g) * images_per_block(g) * out_pixels(g);
}

static int64_t staging_floats(const lb_conv2d_geometry *g) {
  int64_t images = images_per_block(g);
  return images > 1 ? g->out_channels * images * out_pixels(g) : 0;
}

static int64_t slot_floats(const lb_conv2d_geometry *g) {
  return columns_floats(g) + staging_floats(g);
}

/* Weight gradients [Co, K] the workspace holds beyond grad_weight itself:
 * one per unit of blocks but the first (block_claims.h). */
static int64_t parts_room(const lb_conv2d_geometry *g) {
  return lb_block_parts_room(g->batch, workspace_slots(g),
                             images_per_block(g),
                             g->out_channels * filter_size(g));
}

/* The workspace: the slots, then parts_room() weight gradients. False when
 * the count overflows (only validation can see that). */
static bool gemm_workspace_floats(const lb_conv2d_geometry *g,
                                  int64_t *floats) {
  int64_t blocks, gradients;
  if (!lb_mul_i64(workspace_slots(g), slot_floats(g), &blocks) ||
      !lb_mul_i64(parts_room(g), g->out_channels * filter_size(g),
                  &gradients) ||
      blocks > INT64_MAX - gradients)
    return false;
  *floats = blocks + gradients;
  return true;
}

/* The column matrix of slot `slot`. Slot 0 is the workspace itself, with
 * no arithmetic on it: the workspace is NULL when the kernels need none
 * (one slot and no column matrix), and NULL + 0 is undefined. */
static float *slot_columns(const lb_conv2d_geometry *g, float *workspace,
                           int32_t slot) {
  return slot == 0 ? workspace : workspace + slot * slot_floats(g);
}

/* Where slot `slot` stages a block of several images. */
static float *slot_staging(const lb_conv2d_geometry *g, float *workspace,
                           int32_t slot) {
  return slot_columns(g, workspace, slot) + columns_floats(g);
}

/* The weight-gradient parts of the units of blocks beyond the first,
 * after every slot (the first unit sums into grad_weight). */
static float *weight_gradient_parts(const lb_conv2d_geometry *g,
                                    float *workspace) {
  return workspace + workspace_slots(g) * slot_floats(g);
}

/* ---- the choice of algorithm --------------------------------------------- */

/* The one place that decides how a convolution is computed: Winograd
 * F(2x2, 3x3) (conv_winograd.c) for the 3x3, stride 1, padding 1 layers
 * where it pays off (winograd_pays_off), im2col + GEMM (this file) for
 * everything else. LOSSBAL_CONV=gemm in the environment turns Winograd
 * off, for comparisons (docs/performance.md). */
#define WINOGRAD_MIN_CHANNELS 16

/* Winograd's 16 products have an inner dimension of Ci where im2col's has
 * 9 Ci, and its transforms cost about Ci + Co per tile. Measured per layer
 * with examples/bench_conv.c (batch 64, 1 and 2 threads, forward and
 * backward against the GEMM path): with Ci = Co it wins from 16 channels
 * at every image size from 3x3 to 112x112 (1.2x to 1.8x), ties at 8 and
 * loses at 4 on two threads; with Co = 2 Ci it wins or ties; with Co = 4 Ci
 * (16 -> 64) its forward loses (0.82x); a 3-channel stem loses (0.6x). */
static bool winograd_pays_off(const lb_conv2d_geometry *g) {
  return lb_winograd_applies(g) && g->in_channels >= WINOGRAD_MIN_CHANNELS &&
         g->out_channels <= 2 * g->in_channels;
}

/* Whether LOSSBAL_CONV is `value`: gemm turns Winograd off; winograd2x2
 * keeps the forward of prepared weights on F(2x2, 3x3) where it would take
 * F(4x4, 3x3). For comparisons. */
static bool conv_setting_is(const char *value) {
  const char *setting = getenv("LOSSBAL_CONV");
  return setting && strcmp(setting, value) == 0;
}

static bool winograd_switched_off(void) { return conv_setting_is("gemm"); }

static bool winograd_4x4_switched_off(void) {
  return conv_setting_is("winograd2x2");
}

static bool use_winograd(const lb_conv2d_geometry *g) {
  return winograd_pays_off(g) && !winograd_switched_off();
}

static size_t gemm_workspace_bytes(const lb_conv2d_geometry *g) {
  int64_t floats = 0;
  gemm_workspace_floats(g, &floats); /* fits: validation checked */
  return (size_t)floats * sizeof(float);
}

/* Enough for either algorithm where Winograd could be chosen, so that the
 * size never depends on the environment. */
size_t lb_conv2d_workspace_bytes(const lb_conv2d_geometry *g) {
  size_t gemm = gemm_workspace_bytes(g);
  if (!winograd_pays_off(g))
    return gemm;
  size_t winograd = lb_winograd_workspace_bytes(g);
  return winograd > gemm ? winograd : gemm;
}

/* ---- geometry validation ------------------------------------------------- */

typedef struct field_rule {
  const char *name;
  int64_t value, minimum;
} field_rule;

/* Every given field within [minimum, INT32_MAX]: BLAS takes int extents,
 * and the bound keeps in_h + 2 * pad_h far from overflowing. */
static lb_status check_fields(const lb_conv2d_geometry *g) {
  const field_rule rules[] = {
      {"batch", g->batch, 1},          {"in_channels", g->in_channels, 1},
      {"in_h", g->in_h, 1},            {"in_w", g->in_w, 1},
      {"out_channels", g->out_channels, 1},
      {"kernel_h", g->kernel_h, 1},    {"kernel_w", g->kernel_w, 1},
      {"stride_h", g->stride_h, 1},    {"stride_w", g->stride_w, 1},
      {"pad_h", g->pad_h, 0},          {"pad_w", g->pad_w, 0}};
  for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
    const field_rule *rule = &rules[i];
    if (rule->value < rule->minimum)
      return lb_fail(LB_EINVAL, "conv2d: %s = %lld, it must be at least %lld",
                     rule->name, (long long)rule->value,
                     (long long)rule->minimum);
    if (rule->value > INT32_MAX)
      return lb_fail(LB_EINVAL, "conv2d: %s = %lld exceeds INT32_MAX",
                     rule->name, (long long)rule->value);
  }
  return LB_OK;
}

static lb_status check_kernel_fits(const lb_conv2d_geometry *g) {
  if (g->in_h + 2 * g->pad_h >= g->kernel_h &&
      g->in_w + 2 * g->pad_w >= g->kernel_w)
    return LB_OK;
  char padding[48];
  if (g->pad_h == g->pad_w)
    snprintf(padding, sizeof padding, "%lld", (long long)g->pad_h);
  else
    snprintf(padding, sizeof padding, "%lldx%lld", (long long)g->pad_h,
             (long long)g->pad_w);
  return lb_fail(LB_EINVAL,
                 "conv2d: input %lldx%lld is smaller than the kernel %lldx%lld "
                 "with padding %s",
                 (long long)g->in_h, (long long)g->in_w, (long long)g->kernel_h,
                 (long long)g->kernel_w, padding);
}

/* The float array [a, b, c, d] must have a byte size that fits int64_t and
 * size_t, so that no later index or allocation size can overflow. */
static lb_status check_array(const char *what, int64_t a, int64_t b, int64_t c,
                             int64_t d) {
  int64_t bytes = a;
  if (lb_mul_i64(bytes, b, &bytes) && lb_mul_i64(bytes, c, &bytes) &&
      lb_mul_i64(bytes, d, &bytes) &&
      lb_mul_i64(bytes, (int64_t)sizeof(float), &bytes) &&
      (uint64_t)bytes <= SIZE_MAX)
    return LB_OK;
  return lb_fail(LB_EINVAL,
                 "conv2d: the %s [%lld, %lld, %lld, %lld] is too large: its "
                 "byte size overflows",
                 what, (long long)a, (long long)b, (long long)c, (long long)d);
}

/* The arrays the kernels touch, on a geometry whose out_h/out_w are set.
 * The weight goes first: it bounds K. The workspace of any block is at
 * most a column matrix plus a staged output for every image of the batch:
 * [batch, K + Co, out_h, out_w]. */
static lb_status check_arrays(const lb_conv2d_geometry *g) {
  lb_status status;
  if ((status = check_array("input", g->batch, g->in_channels, g->in_h,
                            g->in_w)) != LB_OK ||
      (status = check_array("weight", g->out_channels, g->in_channels,
                            g->kernel_h, g->kernel_w)) != LB_OK ||
      (status = check_array("output", g->batch, g->out_channels, g->out_h,
                            g->out_w)) != LB_OK ||
      (status = check_array("workspace of the batch", g->batch,
                            filter_size(g) + g->out_channels, g->out_h,
                            g->out_w)) != LB_OK)
    return status;
  if (filter_size(g) > INT32_MAX)
    return lb_fail(LB_EINVAL,
                   "conv2d: a filter has %lld weights, more than the INT32_MAX "
                   "a BLAS extent can be",
                   (long long)filter_size(g));
  if (out_pixels(g) > INT32_MAX)
    return lb_fail(LB_EINVAL,
                   "conv2d: an output channel has %lld pixels, more than the "
                   "INT32_MAX a BLAS extent can be",
                   (long long)out_pixels(g));
  return LB_OK;
}

/* The workspace of every slot, on a geometry that passed check_arrays()
 * (so that a slot's size cannot overflow): with many threads the slots and
 * their weight gradients can still outgrow a byte count. */
/* An upper bound of Winograd's workspace in floats, whatever its blocks:
 * (slots + 1) transformed filter banks [16, Co, Ci], the gradient parts
 * beyond one per slot (at most LB_BLOCK_PARTS_FLOATS) and, per slot, the
 * transformed input and output [16, Ci + Co, T] of at most every tile of
 * the batch. False when it overflows. */
static bool winograd_bound_floats(const lb_conv2d_geometry *g,
                                  int64_t *floats) {
  int64_t tiles = ((g->out_h + 1) / 2) * ((g->out_w + 1) / 2);
  int64_t filters, data;
  return lb_mul_i64(16 * (g->slots + 1), g->out_channels, &filters) &&
         lb_mul_i64(filters, g->in_channels, &filters) &&
         lb_mul_i64(16 * g->slots, g->in_channels + g->out_channels, &data) &&
         lb_mul_i64(data, tiles, &data) &&
         lb_mul_i64(data, g->batch, &data) &&
         !__builtin_add_overflow(filters, data, floats) &&
         !__builtin_add_overflow(*floats, LB_BLOCK_PARTS_FLOATS, floats);
}

static lb_status check_workspace(const lb_conv2d_geometry *g) {
  int64_t floats, bytes;
  bool fits = gemm_workspace_floats(g, &floats) &&
              lb_mul_i64(floats, (int64_t)sizeof(float), &bytes) &&
              (uint64_t)bytes <= SIZE_MAX;
  if (fits && lb_winograd_applies(g))
    fits = winograd_bound_floats(g, &floats) &&
           lb_mul_i64(floats, (int64_t)sizeof(float), &bytes) &&
           (uint64_t)bytes <= SIZE_MAX;
  if (fits)
    return LB_OK;
  return lb_fail(LB_EINVAL,
                 "conv2d: the workspace of %lld threads is too large: its "
                 "byte size overflows",
                 (long long)g->slots);
}

/* LB_CONV_MAX_SLOTS (conv2d.h) is the most ranges a convolution runs.
 * Every slot holds a block's column matrix and every slot but the first a
 * weight gradient (Winograd: its transformed filters' gradient, 16 Co Ci
 * floats), so the workspace grows with the slots: 8 keep that part within
 * about ten times a layer's weights, and ranges of fewer than 8 images of
 * a 64-image batch would make products too narrow anyway. (The parts of
 * units of blocks beyond one per slot add at most LB_BLOCK_PARTS_FLOATS,
 * whatever the slots: block_claims.h.) Past 8 threads the
 * rest of the pool idles in the convolutions (docs/performance.md).
 *
 * One slot per library thread, up to LB_CONV_MAX_SLOTS, so that every
 * thread can take a range of images; one under LOSSBAL_GEMM=openblas, whose
 * products OpenBLAS threads one by one (see the top of the file). */
static int64_t slots_now(void) {
  if (!lb_gemm_on_pool())
    return 1;
  int64_t threads = lb_get_num_threads();
  return threads < LB_CONV_MAX_SLOTS ? threads : LB_CONV_MAX_SLOTS;
}

lb_status lb_conv2d_geometry_validate(lb_conv2d_geometry *g) {
  lb_status status;
  if ((status = check_fields(g)) != LB_OK ||
      (status = check_kernel_fits(g)) != LB_OK)
    return status;
  lb_conv2d_geometry derived = *g;
  derived.out_h = (g->in_h + 2 * g->pad_h - g->kernel_h) / g->stride_h + 1;
  derived.out_w = (g->in_w + 2 * g->pad_w - g->kernel_w) / g->stride_w + 1;
  derived.slots = slots_now();
  if ((status = check_arrays(&derived)) != LB_OK ||
      (status = check_workspace(&derived)) != LB_OK)
    return status;
  *g = derived;
  return LB_OK;
}

/* ---- im2col and col2im --------------------------------------------------- */

/* [begin, end): a contiguous range of output positions. */
typedef struct span {
  int64_t begin, end;
} span;

/* The output positions o in [0, out) whose input position o * stride +
 * offset lies inside [0, in): the rest read padding. Contiguous, because
 * the input position grows with o. */
static span inside_input(int64_t out, int64_t in, int64_t stride,
                         int64_t offset) {
  int64_t begin = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  int64_t last = in - 1 - offset; /* the largest o * stride allowed */
  int64_t end = last < 0 ? 0 : last / stride + 1;
  if (end > out) end = out;
  if (begin > end) begin = end;
  return (span){begin, end};
}

/* out[r * out_step + i] = in[r * in_step + 2 * i] for i in [0, count) and
 * r in [0, rows): the rows of an im2col row at stride 2 in width (the
 * ResNets' downsampling layers), one call for all of them, the stride a
 * constant so that the loop vectorises. */
LB_VECTOR_KERNEL
static void gather_rows_every_other(float *restrict out, int64_t out_step,
                                    const float *restrict in, int64_t in_step,
                                    int64_t rows, int64_t count) {
  for (int64_t r = 0; r < rows; r++)
    for (int64_t i = 0; i < count; i++)
      out[r * out_step + i] = in[r * in_step + 2 * i];
}

/* out[i] = in[first + i * stride] for i in [0, count). */
static void gather(float *restrict out, const float *restrict in, int64_t first,
                   int64_t count, int64_t stride) {
  if (stride == 1) {
    if (count > 0) memcpy(out, in + first, (size_t)count * sizeof(float));
    return;
  }
  for (int64_t i = 0; i < count; i++) out[i] = in[first + i * stride];
}

/* out[first + i * stride] += in[i] for i in [0, count): the transpose of
 * gather(). */
static void scatter_add(float *restrict out, const float *restrict in,
                        int64_t first, int64_t count, int64_t stride) {
  if (stride == 1) {
    for (int64_t i = 0; i < count; i++) out[first + i] += in[i];
    return;
  }
  for (int64_t i = 0; i < count; i++) out[first + i * stride] += in[i];
}

/* Which output positions of one kernel offset (ki, kj) read the input
 * rather than the padding, and where the first of them reads. */
typedef struct offset_spans {
  span rows, cols;
  int64_t first_col;
  bool padded; /* some output position reads the padding */
} offset_spans;

static offset_spans spans_of_offset(const lb_conv2d_geometry *g, int64_t ki,
                                    int64_t kj) {
  offset_spans o;
  o.rows = inside_input(g->out_h, g->in_h, g->stride_h, ki - g->pad_h);
  o.cols = inside_input(g->out_w, g->in_w, g->stride_w, kj - g->pad_w);
  o.first_col = o.cols.begin * g->stride_w + kj - g->pad_w;
  o.padded = o.rows.end - o.rows.begin < g->out_h ||
             o.cols.end - o.cols.begin < g->out_w;
  return o;
}

/* The P entries of one image in one row of a column matrix, for the kernel
 * offset (ki, kj) over one input channel `plane`: row[ho * out_w + wo] is
 * the pixel at (ho * stride_h + ki - pad_h, wo * stride_w + kj - pad_w), or
 * 0 where that lies in the padding. A row with padding is zeroed whole
 * first: one memset costs less than two short ones per copied stretch. */
static void im2col_row(const lb_conv2d_geometry *g, const float *plane,
                       int64_t ki, const offset_spans *o, float *row) {
  if (o->padded)
    memset(row, 0, (size_t)out_pixels(g) * sizeof(float));
  if (g->stride_w == 2) {
    gather_rows_every_other(
        row + o->rows.begin * g->out_w + o->cols.begin, g->out_w,
        plane + (o->rows.begin * g->stride_h + ki - g->pad_h) * g->in_w +
            o->first_col,
        g->stride_h * g->in_w, o->rows.end - o->rows.begin,
        o->cols.end - o->cols.begin);
    return;
  }
  for (int64_t ho = o->rows.begin; ho < o->rows.end; ho++)
    gather(row + ho * g->out_w + o->cols.begin,
           plane + (ho * g->stride_h + ki - g->pad_h) * g->in_w, o->first_col,
           o->cols.end - o->cols.begin, g->stride_w);
}

/* The transpose of im2col_row() over the kernel_h * kernel_w rows of one
 * channel of one image, which start at `rows`, `row_stride` floats apart:
 * plane is overwritten with the sum, over every kernel offset, of the
 * entries copied from each pixel. */
static void col2im_channel(const lb_conv2d_geometry *g, const float *rows,
                           int64_t row_stride, float *plane) {
  memset(plane, 0, (size_t)(g->in_h * g->in_w) * sizeof(float));
  for (int64_t ki = 0; ki < g->kernel_h; ki++) {
    span out_rows = inside_input(g->out_h, g->in_h, g->stride_h, ki - g->pad_h);
    for (int64_t kj = 0; kj < g->kernel_w; kj++) {
      span cols = inside_input(g->out_w, g->in_w, g->stride_w, kj - g->pad_w);
      int64_t first_col = cols.begin * g->stride_w + kj - g->pad_w;
      const float *row = rows + (ki * g->kernel_w + kj) * row_stride;
      for (int64_t ho = out_rows.begin; ho < out_rows.end; ho++)
        scatter_add(plane + (ho * g->stride_h + ki - g->pad_h) * g->in_w,
                    row + ho * g->out_w + cols.begin, first_col,
                    cols.end - cols.begin, g->stride_w);
    }
  }
}

/* ---- a block's lowering and col2im ------------------------------------- */

/* One job over a block of `images` images, whose column matrix has rows of
 * images * P floats: `items` is images x K rows (lowering) or images x
 * input channels (col2im), cut into `chunks` for lb_parallel_for() (1: the
 * calling thread does it all). */
typedef struct block_job {
  const lb_conv2d_geometry *g;
  const float *input;  /* the block's first image */
  float *columns;
  float *grad_input;   /* the block's first image */
  int64_t images, items;
  int32_t chunks;
} block_job;

/* Items [begin, end) of the chunk: an even share, in item order. */
static span chunk_items(const block_job *job, int32_t chunk) {
  return (span){lb_chunk_begin(job->items, chunk, job->chunks),
                lb_chunk_begin(job->items, chunk + 1, job->chunks)};
}

static void lower_chunk(void *context, int32_t chunk) {
  const block_job *job = context;
  const lb_conv2d_geometry *g = job->g;
  int64_t taps = g->kernel_h * g->kernel_w, p = out_pixels(g);
  span items = chunk_items(job, chunk);
  /* Items go image by image within a row of the column matrix: the
   * offset's spans change with the row only. */
  int64_t image = items.begin % job->images, row = items.begin / job->images;
  offset_spans o = {{0, 0}, {0, 0}, 0, false};
  for (int64_t item = items.begin; item < items.end; item++) {
    int64_t channel = row / taps, tap = row % taps, ki = tap / g->kernel_w;
    if (item == items.begin || image == 0)
      o = spans_of_offset(g, ki, tap % g->kernel_w);
    im2col_row(g,
               job->input + image * input_image_size(g) +
                   channel * g->in_h * g->in_w,
               ki, &o, job->columns + (row * job->images + image) * p);
    if (++image == job->images) {
      image = 0;
      row++;
    }
  }
}

static void col2im_chunk(void *context, int32_t chunk) {
  const block_job *job = context;
  const lb_conv2d_geometry *g = job->g;
  int64_t taps = g->kernel_h * g->kernel_w, p = out_pixels(g);
  span items = chunk_items(job, chunk);
  for (int64_t item = items.begin; item < items.end; item++) {
    int64_t image = item % job->images, channel = item / job->images;
    col2im_channel(g,
                   job->columns + (channel * taps * job->images + image) * p,
                   job->images * p,
                   job->grad_input + image * input_image_size(g) +
                       channel * g->in_h * g->in_w);
  }
}

/* The column matrix of `images` images from `input`: the input itself
 * when it needs no lowering, else lowered into `columns`, split over the
 * pool when `split`. */
static const float *lower_block(const lb_conv2d_geometry *g,
                                const float *input, int64_t images,
                                float *columns, bool split) {
  if (columns_are_the_input(g)) return input;
  block_job job = {.g = g, .input = input, .columns = columns,
                   .images = images, .items = images * filter_size(g),
                   .chunks = 1};
  if (split) job.chunks = lb_parallel_chunks(job.items, out_pixels(g));
  lb_parallel_for(lower_chunk, &job, job.chunks);
  return columns;
}

/* grad_input of `images` images from the gradient of their column
 * matrix, split over the pool when `split`. */
static void col2im_block(const lb_conv2d_geometry *g, float *columns,
                         int64_t images, float *grad_input, bool split) {
  int64_t taps = g->kernel_h * g->kernel_w;
  block_job job = {.g = g, .columns = columns, .grad_input = grad_input,
                   .images = images, .items = images * g->in_channels,
                   .chunks = 1};
  if (split) job.chunks = lb_parallel_chunks(job.items, taps * out_pixels(g));
  lb_parallel_for(col2im_chunk, &job, job.chunks);
}

/* ---- staging a block's output -------------------------------------------- */

/* staged [Co, images * P] = images [images, Co, P]: a block's grad_output
 * in the layout of its column matrix. */
static void stage(const lb_conv2d_geometry *g, const float *nchw,
                  int64_t images, float *staged) {
  int64_t p = out_pixels(g);
  for (int64_t c = 0; c < g->out_channels; c++)
    for (int64_t n = 0; n < images; n++)
      memcpy(staged + (c * images + n) * p,
             nchw + n * output_image_size(g) + c * p,
             (size_t)p * sizeof(float));
}

/* images [images, Co, P] = staged [Co, images * P]: the inverse of
 * stage(). */
static void unstage(const lb_conv2d_geometry *g, const float *staged,
                    int64_t images, float *nchw) {
  int64_t p = out_pixels(g);
  for (int64_t n = 0; n < images; n++)
    for (int64_t c = 0; c < g->out_channels; c++)
      memcpy(nchw + n * output_image_size(g) + c * p,
             staged + (c * images + n) * p, (size_t)p * sizeof(float));
}

/* ---- ranges of images ---------------------------------------------------- */

/* One call of a kernel, cut into `ranges` ranges of whole images run side
 * by side; the thread of range r uses workspace slot r for every block it
 * takes. */
typedef struct conv_call {
  const lb_conv2d_geometry *g;
  const float *input, *weight, *bias, *grad_output;
  float *output, *grad_input, *grad_weight, *workspace;
  int32_t ranges;
  bool split; /* one range, each product split over the pool */
  const lb_conv2d_epilogue *after; /* on each block's output, or NULL */
  lb_block_claims claims; /* the blocks of the ranges (of several) */
} conv_call;

/* Ranges smaller than the largest by more than this share of a range
 * (1 / UNEVEN_RANGES) leave too much of their threads' time idle: a single
 * range with every block split over the pool does better. */
#define UNEVEN_RANGES 4

/* How many ranges a call runs: one per thread, within the workspace's
 * slots (and so never more than the batch); 1 when the batch does not
 * spread evenly enough, e.g. 3 images on 2 threads. */
static int32_t image_ranges(const lb_conv2d_geometry *g) {
  int64_t ranges = lb_get_num_threads();
  if (ranges > workspace_slots(g)) ranges = workspace_slots(g);
  if (g->batch % ranges != 0 && g->batch < UNEVEN_RANGES * ranges) return 1;
  return (int32_t)ranges;
}

/* Images [begin, end) of range `range`: an even share of the batch. */
static span range_images(const conv_call *call, int32_t range) {
  return (span){lb_chunk_begin(call->g->batch, range, call->ranges),
                lb_chunk_begin(call->g->batch, range + 1, call->ranges)};
}

/* The images in the block that starts at image `first` of `images`. */
static int64_t block_images(const lb_conv2d_geometry *g, int64_t first,
                            span images) {
  int64_t left = images.end - first, block = images_per_block(g);
  return left < block ? left : block;
}

/* A product, split over the pool (a single range) or on the calling
 * thread alone (one range of several). Extents fit int. */
static void gemm(bool split, bool transpose_a, bool transpose_b, int64_t m,
                 int64_t n, int64_t k, const float *a, int64_t lda,
                 const float *b, int64_t ldb, float beta, float *c,
                 int64_t ldc) {
  if (split)
    lb_sgemm(transpose_a, transpose_b, m, n, k, 1.0f, a, lda, b, ldb, beta,
             c, ldc);
  else
    lb_sgemm_serial(transpose_a, transpose_b, m, n, k, 1.0f, a, lda, b, ldb,
                    beta, c, ldc);
}

/* ---- forward ------------------------------------------------------------- */

/* out [Co, images * P] = weight [Co, K] * columns [K, images * P]
 * (+ bias[c] on row c). */
static void forward_gemm(const lb_conv2d_geometry *g, const float *columns,
                         int64_t images, const float *weight,
                         const float *bias, float *out, bool split) {
  int64_t co = g->out_channels, k = filter_size(g),
          n = images * out_pixels(g);
  if (bias)
    for (int64_t c = 0; c < co; c++)
      for (int64_t i = 0; i < n; i++) out[c * n + i] = bias[c];
  /* beta = 0 makes OpenBLAS overwrite out without reading it. */
  gemm(split, false, false, co, n, k, weight, k, columns, n,
       bias ? 1.0f : 0.0f, out, n);
}

/* The output of the block of `images` images from image `first`, with
 * workspace slot `slot`. */
static void forward_block(const conv_call *call, int64_t first,
                          int64_t images, int32_t slot) {
  const lb_conv2d_geometry *g = call->g;
  bool split = call->split;
  const float *columns =
      lower_block(g, call->input + first * input_image_size(g), images,
                  slot_columns(g, call->workspace, slot), split);
  float *out = call->output + first * output_image_size(g);
  if (images == 1) {
    forward_gemm(g, columns, images, call->weight, call->bias, out, split);
    return;
  }
  float *staged = slot_staging(g, call->workspace, slot);
  forward_gemm(g, columns, images, call->weight, call->bias, staged, split);
  unstage(g, staged, images, out);
}

/* The output of `images` with workspace slot `slot`. */
static void forward_images(const conv_call *call, span images, int32_t slot) {
  for (int64_t first = images.begin, count; first < images.end;
       first += count) {
    count = block_images(call->g, first, images);
    forward_block(call, first, count, slot);
    lb_conv2d_finish_images(call->g, call->after, call->output, first, count);
  }
}

/* The blocks the thread of range `range` claims, its own range's first
 * (block_claims.h), with its workspace slot; on a single range, all. */
static void forward_range(void *context, int32_t range) {
  conv_call *call = context;
  if (call->split) {
    forward_images(call, range_images(call, range), range);
    return;
  }
  int32_t turn = 0;
  lb_block_unit block;
  while (lb_block_claim(&call->claims, range, &turn, &block))
    forward_images(call, (span){block.first, block.first + block.images},
                   range);
}

void lb_conv2d_forward(const lb_conv2d_geometry *g, const float *input,
                       const float *weight, const float *bias, float *output,
                       float *workspace) {
  if (use_winograd(g)) {
    lb_winograd_forward(g, input, weight, bias, output, workspace);
    return;
  }
  conv_call call = {.g = g, .input = input, .weight = weight, .bias = bias,
                    .output = output, .workspace = workspace,
                    .ranges = image_ranges(g)};
  call.split = call.ranges == 1;
  if (!call.split)
    lb_block_claims_start(&call.claims, g->batch, call.ranges,
                          images_per_block(g), 1);
  lb_parallel_for(forward_range, &call, call.ranges);
}

/* ---- forward of prepared weights, a range of images at a time ------------ */

void lb_conv2d_finish_images(const lb_conv2d_geometry *g,
                             const lb_conv2d_epilogue *after, float *output,
                             int64_t first, int64_t count) {
  if (!after)
    return;
  int64_t offset = first * output_image_size(g);
  lb_add_relu_here(count * output_image_size(g),
                   after->residual ? after->residual + offset : NULL,
                   output + offset);
}

void lb_conv2d_finish_channel(const lb_conv2d_geometry *g,
                              const lb_conv2d_epilogue *after, float *output,
                              int64_t first, int64_t count, int64_t channel) {
  if (!after)
    return;
  int64_t pixels = out_pixels(g);
  for (int64_t n = first; n < first + count; n++) {
    int64_t offset = n * output_image_size(g) + channel * pixels;
    lb_add_relu_here(pixels, after->residual ? after->residual + offset : NULL,
                     output + offset);
  }
}

/* F(4x4, 3x3) (conv_winograd4.c) does 2.25 multiplications per output
 * and input channel where F(2x2, 3x3) does 4, but its tiles cover the
 * image in steps of 4 pixels, and its transforms gather and scatter a pixel
 * at a time across the images of a block. Measured with forward_images on
 * one thread (32 images; F(2x2) time / F(4x4) time): 1.5x to 1.7x on
 * images of 4x4 to 12x12 pixels (16 to 256 channels) where 4-pixel tiles
 * waste no more of the image than 2-pixel ones (4, 7, 8, 11, 12); 1.0x at
 * 14x14 (tiles covering 16x16); 0.9x to 1.0x at 28x28 with 16 channels and
 * 1.17x with 64, where the scatter costs as much as the products saved.
 * In the network, ResNet-18 on 28x28 alternating call by call in one
 * process, F(4x4) on the 28x28 layers too was 1.02x to 1.06x faster at
 * width 16 and 1.02x at width 64 (the single-layer runs had the machine's
 * noise), and on the 14x14 ones too no faster. Since the products of prepared
 * filters run packed (lib/core/gemm_packed.h), the products weigh more than the
 * transforms: F(4x4) on the 14x14 layers too (tiles covering 16x16, 2.94
 * multiplications per output and input channel against F(2x2)'s 4) took
 * ResNet-18 width 64 (128 channels there) 0.93 and 0.96 of the time on 1 and 2
 * threads, then 0.91 and 0.93 (15 rounds of 3 calls each); at width 16 (32
 * channels) 1.00 and 0.96, then 0.98 and 0.96, and ResNet-50 width 16 (32
 * channels) 1.00 and 1.05 (15 to 21 rounds): where the tiles cover the image
 * more loosely, F(4x4) only from 64 channels, and only where its tiles, 36
 * multiplications per 16 outputs, need fewer than F(2x2)'s, 16 per 4 (not on
 * 2x2 images, one 4x4 tile, nor where the two tie, as on 5x5 and 6x6). Up to 28
 * pixels: a block's V and M grow with the image (8 images of 28x28 and 64
 * channels: 7 MB a range). */
#define WINOGRAD_4X4_MAX_SIDE 28
#define WINOGRAD_4X4_LOOSE_MIN_CHANNELS 64

static int64_t covered(int64_t side, int64_t tile) {
  return (side + tile - 1) / tile * tile;
}

static bool winograd_4x4_pays_off(const lb_conv2d_geometry *g) {
  if (g->out_h > WINOGRAD_4X4_MAX_SIDE || g->out_w > WINOGRAD_4X4_MAX_SIDE)
    return false;
  bool as_tight = covered(g->out_h, 4) == covered(g->out_h, 2) &&
                  covered(g->out_w, 4) == covered(g->out_w, 2);
  if (as_tight)
    return true;
  int64_t by_4x4 = 9 * covered(g->out_h, 4) * covered(g->out_w, 4);
  int64_t by_2x2 = 16 * covered(g->out_h, 2) * covered(g->out_w, 2);
  return by_4x4 < by_2x2 &&
         g->in_channels >= WINOGRAD_4X4_LOOSE_MIN_CHANNELS;
}

lb_conv2d_algorithm lb_conv2d_algorithm_of(const lb_conv2d_geometry *g) {
  if (!use_winograd(g))
    return LB_CONV2D_GEMM;
  return winograd_4x4_pays_off(g) && !winograd_4x4_switched_off()
             ? LB_CONV2D_WINOGRAD_4X4
             : LB_CONV2D_WINOGRAD;
}

int64_t lb_conv2d_prepared_floats(const lb_conv2d_geometry *g,
                                  lb_conv2d_algorithm algorithm) {
  if (algorithm == LB_CONV2D_WINOGRAD)
    return lb_winograd_prepared_floats(g);
  if (algorithm == LB_CONV2D_WINOGRAD_4X4)
    return lb_winograd4_prepared_floats(g);
  return g->out_channels * filter_size(g);
}

/* Slot 0's part of the workspace. */
size_t lb_conv2d_images_workspace_bytes(const lb_conv2d_geometry *g,
                                        lb_conv2d_algorithm algorithm) {
  if (algorithm == LB_CONV2D_WINOGRAD)
    return lb_winograd_images_workspace_bytes(g);
  if (algorithm == LB_CONV2D_WINOGRAD_4X4)
    return lb_winograd4_images_workspace_bytes(g);
  return (size_t)slot_floats(g) * sizeof(float);
}

void lb_conv2d_prepare(const lb_conv2d_geometry *g,
                       lb_conv2d_algorithm algorithm, const float *weight,
                       const float *scale, int64_t first, int64_t end,
                       float *prepared) {
  if (algorithm == LB_CONV2D_WINOGRAD) {
    lb_winograd_prepare(g, weight, scale, first, end, prepared);
    return;
  }
  if (algorithm == LB_CONV2D_WINOGRAD_4X4) {
    lb_winograd4_prepare(g, weight, scale, first, end, prepared);
    return;
  }
  int64_t k = filter_size(g);
  for (int64_t o = first; o < end; o++)
    for (int64_t i = 0; i < k; i++)
      prepared[o * k + i] = scale ? weight[o * k + i] * scale[o]
                                  : weight[o * k + i];
}

void lb_conv2d_forward_images(const lb_conv2d_geometry *g,
                              lb_conv2d_algorithm algorithm,
                              const float *input, const float *prepared,
                              const float *bias, float *output,
                              float *workspace, int64_t first, int64_t count,
                              const lb_conv2d_epilogue *after) {
  if (algorithm == LB_CONV2D_WINOGRAD) {
    lb_winograd_forward_images(g, input, prepared, bias, output, workspace,
                               first, count, after);
    return;
  }
  if (algorithm == LB_CONV2D_WINOGRAD_4X4) {
    lb_winograd4_forward_images(g, input, prepared, bias, output, workspace,
                                first, count, after);
    return;
  }
  conv_call call = {.g = g, .input = input, .weight = prepared, .bias = bias,
                    .output = output, .workspace = workspace, .ranges = 0,
                    .split = false, .after = after};
  forward_images(&call, (span){first, first + count}, 0);
}

/* ---- forward of prepared weights, the whole batch split by channels ------ */

/* Split by channels, each thread reads half of the prepared weights for
 * products as wide as one thread's; by ranges, each reads all of them for
 * narrower products, but with no join and no V shared across cores. Which
 * wins depends on where the weights come from: in width-64 ResNet-18 at
 * batch 64 on 2 threads (F(4x4) on 7x7 and 4x4 images, 9.4 and 38 MB of
 * transformed filters, beyond a core's L2 and, the second, the L3) the
 * split took 0.947 to 0.980 of the time of ranges; at width 16 (0.6 and
 * 2.4 MB, which the ranges read from the cache) 1.036 (alternating
 * rounds in one process, 21 to 25 of them). */
bool lb_conv2d_splits_channels(const lb_conv2d_geometry *g,
                               lb_conv2d_algorithm algorithm, int32_t ranges,
                               bool any_size) {
  if (algorithm != LB_CONV2D_WINOGRAD_4X4 || ranges < 2)
    return false;
  int64_t bytes = lb_winograd4_prepared_floats(g) * (int64_t)sizeof(float);
  return (any_size || bytes >= LB_CONV2D_SPLIT_MIN_PREPARED_BYTES) &&
         lb_winograd4_channels_pay_off(g, ranges);
}

size_t lb_conv2d_channels_workspace_bytes(const lb_conv2d_geometry *g,
                                          lb_conv2d_algorithm algorithm,
                                          int32_t parts) {
  if (algorithm != LB_CONV2D_WINOGRAD_4X4)
    return 0;
  return lb_winograd4_channels_workspace_bytes(g, parts);
}

void lb_conv2d_forward_channels(const lb_conv2d_geometry *g,
                                lb_conv2d_algorithm algorithm,
                                const float *input, const float *prepared,
                                const float *bias, float *output,
                                float *workspace, int32_t parts,
                                const lb_conv2d_epilogue *after) {
  if (algorithm == LB_CONV2D_WINOGRAD_4X4)
    lb_winograd4_forward_channels(g, input, prepared, bias, output,
                                  workspace, parts, after);
}

/* ---- backward ------------------------------------------------------------ */

void lb_conv2d_bias_gradient(const lb_conv2d_geometry *g,
                             const float *grad_output, float *grad_bias) {
  int64_t p = out_pixels(g);
  for (int64_t c = 0; c < g->out_channels; c++) {
    double sum = 0.0;
    for (int64_t n = 0; n < g->batch; n++) {
      const float *plane = grad_output + n * output_image_size(g) + c * p;
      for (int64_t i = 0; i < p; i++) sum += plane[i];
    }
    grad_bias[c] = (float)sum;
  }
}

/* grad_weight [Co, K] = beta * grad_weight + grad_out [Co, images * P] *
 * columns^T; beta 0 overwrites. */
static void weight_gradient_gemm(const lb_conv2d_geometry *g,
                                 const float *columns, int64_t images,
                                 const float *grad_out, float beta,
                                 float *grad_weight, bool split) {
  int64_t co = g->out_channels, k = filter_size(g),
          n = images * out_pixels(g);
  gemm(split, false, true, co, k, n, grad_out, n, columns, n, beta,
       grad_weight, k);
}

/* grad_columns [K, images * P] = weight^T [K, Co] * grad_out. */
static void column_gradient_gemm(const lb_conv2d_geometry *g,
                                 const float *weight, const float *grad_out,
                                 int64_t images, float *grad_columns,
                                 bool split) {
  int64_t co = g->out_channels, k = filter_size(g),
          n = images * out_pixels(g);
  gemm(split, true, false, k, n, co, weight, k, grad_out, n, 0.0f,
       grad_columns, n);
}

/* grad_input of a block. The column gradient is grad_input itself when the
 * input is its own column matrix, else it goes into the slot's column
 * matrix (which the weight gradient has consumed) for col2im. */
static void input_gradient_block(const lb_conv2d_geometry *g,
                                 const float *weight, const float *grad_out,
                                 int64_t images, float *grad_input,
                                 float *columns, bool split) {
  if (columns_are_the_input(g)) {
    column_gradient_gemm(g, weight, grad_out, images, grad_input, split);
    return;
  }
  column_gradient_gemm(g, weight, grad_out, images, columns, split);
  col2im_block(g, columns, images, grad_input, split);
}

/* The gradients of the block of `images` images from image `first`, with
 * workspace slot `slot`: its weight gradient goes into grad_weight, scaled
 * by beta first (0: overwritten). */
static void backward_block(const conv_call *call, int64_t first,
                           int64_t images, int32_t slot, float beta,
                           float *grad_weight) {
  const lb_conv2d_geometry *g = call->g;
  bool split = call->split;
  float *columns = slot_columns(g, call->workspace, slot);
  const float *grad_out = call->grad_output + first * output_image_size(g);
  if (images > 1) {
    float *staged = slot_staging(g, call->workspace, slot);
    stage(g, grad_out, images, staged);
    grad_out = staged;
  }
  const float *lowered = lower_block(
      g, call->input + first * input_image_size(g), images, columns, split);
  weight_gradient_gemm(g, lowered, images, grad_out, beta, grad_weight,
                       split);
  if (call->grad_input)
    input_gradient_block(g, call->weight, grad_out, images,
                         call->grad_input + first * input_image_size(g),
                         columns, split);
}

/* The gradients of `images` with workspace slot `slot`, their weight
 * gradient summed into grad_weight. */
static void backward_images(const conv_call *call, span images, int32_t slot,
                            float *grad_weight) {
  for (int64_t first = images.begin, count; first < images.end;
       first += count) {
    count = block_images(call->g, first, images);
    backward_block(call, first, count, slot,
                   first == images.begin ? 0.0f : 1.0f, grad_weight);
  }
}

/* The units the thread of range `range` claims, its own range's first,
 * each unit's weight gradient into its own part (the first unit's into
 * grad_weight; block_claims.h), added up afterwards in unit order; on a
 * single range, all of the batch into grad_weight. */
static void backward_range(void *context, int32_t range) {
  conv_call *call = context;
  if (call->split) {
    backward_images(call, range_images(call, range), range,
                    call->grad_weight);
    return;
  }
  int32_t turn = 0;
  lb_block_unit unit;
  while (lb_block_claim(&call->claims, range, &turn, &unit))
    backward_images(call, (span){unit.first, unit.first + unit.images},
                    range,
                    lb_block_unit_gradient(
                        call->grad_weight,
                        weight_gradient_parts(call->g, call->workspace),
                        call->g->out_channels * filter_size(call->g),
                        unit.index));
}

void lb_conv2d_backward(const lb_conv2d_geometry *g, const float *input,
                        const float *weight, const float *grad_output,
                        float *grad_input, float *grad_weight,
                        float *grad_bias, float *workspace) {
  if (use_winograd(g)) {
    lb_winograd_backward(g, input, weight, grad_output, grad_input,
                         grad_weight, grad_bias, workspace);
    return;
  }
  if (grad_bias) lb_conv2d_bias_gradient(g, grad_output, grad_bias);
  conv_call call = {.g = g, .input = input, .weight = weight,
                    .grad_output = grad_output, .grad_input = grad_input,
                    .grad_weight = grad_weight, .workspace = workspace,
                    .ranges = image_ranges(g)};
  call.split = call.ranges == 1;
  if (!call.split)
    lb_block_claims_start_summing(&call.claims, g->batch, call.ranges,
                                  images_per_block(g), parts_room(g));
  lb_parallel_for(backward_range, &call, call.ranges);
  if (call.ranges > 1)
    lb_block_add_parts(&call.claims, grad_weight,
                       weight_gradient_parts(g, workspace),
                       g->out_channels * filter_size(g));
}
