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
 * GEMM MIN_GEMM_COLUMNS columns; from 32x32 pixels on, B is 1.
 *
 * In NCHW, out[n] is [Co, P], so a block of one image needs no relayout;
 * a block of several stages its out (and grad_out) as [Co, B * P] in the
 * workspace and copies it from (to) the images.
 *
 * Two shapes lower cheaply. A 1x1 kernel with stride 1 and no padding in a
 * block of one image needs no lowering at all: the image [Ci, H * W] is its
 * column matrix, and the GEMMs read the input and write grad_input in
 * place. A 1x1 kernel without padding at a larger stride (ResNet's
 * downsample projection) lowers by a strided gather: im2col_row() finds
 * every span whole and copies every stride-th pixel, with no zero fill.
 *
 * Threads: the GEMMs run on OpenBLAS's own threads. Lowering and col2im,
 * loops OpenBLAS cannot help with, are split over the library's pool by
 * (image, row) and (image, channel), so that they shrink with the core count
 * as the GEMMs do. (On 2 cores it is a wash: the lowering takes a third less
 * time, and the GEMMs right after it lose about as much to the pool's
 * worker, which polls for a moment before it sleeps.)
 */
#include "conv2d.h"
#include "conv_winograd.h"

#include "../core/core_internal.h"

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

/* B: images per block (see the top of the file). */
static int64_t images_per_block(const lb_conv2d_geometry *g) {
  int64_t images = (MIN_GEMM_COLUMNS + out_pixels(g) - 1) / out_pixels(g);
  return images < g->batch ? images : g->batch;
}

/* A 1x1 kernel with stride 1 and no padding, one image per block: each
 * image [Ci, H * W] is its own column matrix and nothing is lowered. */
static bool columns_are_the_input(const lb_conv2d_geometry *g) {
  return g->kernel_h == 1 && g->kernel_w == 1 && g->stride_h == 1 &&
         g->stride_w == 1 && g->pad_h == 0 && g->pad_w == 0 &&
         images_per_block(g) == 1;
}

/* The workspace: the column matrix of a block, then the staging area of
 * its output, [Co, B * P] (unused when B is 1). */
static int64_t columns_floats(const lb_conv2d_geometry *g) {
  if (columns_are_the_input(g)) return 0;
  return filter_size(g) * images_per_block(g) * out_pixels(g);
}

static int64_t staging_floats(const lb_conv2d_geometry *g) {
  int64_t images = images_per_block(g);
  return images > 1 ? g->out_channels * images * out_pixels(g) : 0;
}

/* Where a block of several images stages its output; only then is the
 * workspace known to be non-NULL. */
static float *staging_area(const lb_conv2d_geometry *g, float *workspace) {
  return workspace + columns_floats(g);
}

/* ---- the choice of algorithm --------------------------------------------- */

/* The one place that decides how a convolution is computed: Winograd
 * F(2x2, 3x3) (conv_winograd.c) for the 3x3, stride 1, padding 1 layers
 * with at least WINOGRAD_MIN_CHANNELS input channels, im2col + GEMM (this
 * file) for everything else. With few channels the transforms cost more
 * than the multiplications they save. LOSSBAL_CONV=gemm in the environment
 * turns Winograd off, for comparisons (docs/performance.md). */
#define WINOGRAD_MIN_CHANNELS 32

static bool winograd_switched_off(void) {
  const char *setting = getenv("LOSSBAL_CONV");
  return setting && strcmp(setting, "gemm") == 0;
}

static bool use_winograd(const lb_conv2d_geometry *g) {
  return lb_winograd_applies(g) && g->in_channels >= WINOGRAD_MIN_CHANNELS &&
         !winograd_switched_off();
}

static size_t gemm_workspace_bytes(const lb_conv2d_geometry *g) {
  return (size_t)(columns_floats(g) + staging_floats(g)) * sizeof(float);
}

/* Enough for either algorithm where Winograd could be chosen, so that the
 * size never depends on the environment. */
size_t lb_conv2d_workspace_bytes(const lb_conv2d_geometry *g) {
  size_t gemm = gemm_workspace_bytes(g);
  if (!lb_winograd_applies(g) || g->in_channels < WINOGRAD_MIN_CHANNELS)
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

lb_status lb_conv2d_geometry_validate(lb_conv2d_geometry *g) {
  lb_status status;
  if ((status = check_fields(g)) != LB_OK ||
      (status = check_kernel_fits(g)) != LB_OK)
    return status;
  lb_conv2d_geometry derived = *g;
  derived.out_h = (g->in_h + 2 * g->pad_h - g->kernel_h) / g->stride_h + 1;
  derived.out_w = (g->in_w + 2 * g->pad_w - g->kernel_w) / g->stride_w + 1;
  if ((status = check_arrays(&derived)) != LB_OK) return status;
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

/* The P entries of one image in one row of a column matrix, for the kernel
 * offset (ki, kj) over one input channel `plane`: row[ho * out_w + wo] is
 * the pixel at (ho * stride_h + ki - pad_h, wo * stride_w + kj - pad_w), or
 * 0 where that lies in the padding. A row with padding is zeroed whole
 * first: one memset costs less than two short ones per copied stretch. */
static void im2col_row(const lb_conv2d_geometry *g, const float *plane,
                       int64_t ki, int64_t kj, float *row) {
  span rows = inside_input(g->out_h, g->in_h, g->stride_h, ki - g->pad_h);
  span cols = inside_input(g->out_w, g->in_w, g->stride_w, kj - g->pad_w);
  int64_t first_col = cols.begin * g->stride_w + kj - g->pad_w;
  if (rows.end - rows.begin < g->out_h || cols.end - cols.begin < g->out_w)
    memset(row, 0, (size_t)out_pixels(g) * sizeof(float));
  for (int64_t ho = rows.begin; ho < rows.end; ho++)
    gather(row + ho * g->out_w + cols.begin,
           plane + (ho * g->stride_h + ki - g->pad_h) * g->in_w, first_col,
           cols.end - cols.begin, g->stride_w);
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

/* ---- a block's lowering and col2im, split over threads ------------------- */

/* One lb_parallel_for job over a block of `images` images, whose column
 * matrix has rows of images * P floats: `items` is images x K rows
 * (lowering) or images x input channels (col2im). */
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
  for (int64_t item = items.begin; item < items.end; item++) {
    int64_t image = item % job->images, row = item / job->images;
    int64_t channel = row / taps, tap = row % taps;
    im2col_row(g,
               job->input + image * input_image_size(g) +
                   channel * g->in_h * g->in_w,
               tap / g->kernel_w, tap % g->kernel_w,
               job->columns + (row * job->images + image) * p);
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
 * when it needs no lowering, else lowered into the workspace. */
static const float *lower_block(const lb_conv2d_geometry *g,
                                const float *input, int64_t images,
                                float *workspace) {
  if (columns_are_the_input(g)) return input;
  block_job job = {.g = g, .input = input, .columns = workspace,
                   .images = images, .items = images * filter_size(g)};
  job.chunks = lb_parallel_chunks(job.items, out_pixels(g));
  lb_parallel_for(lower_chunk, &job, job.chunks);
  return workspace;
}

/* grad_input of `images` images from the gradient of their column
 * matrix. */
static void col2im_block(const lb_conv2d_geometry *g, float *columns,
                         int64_t images, float *grad_input) {
  int64_t taps = g->kernel_h * g->kernel_w;
  block_job job = {.g = g, .columns = columns, .grad_input = grad_input,
                   .images = images, .items = images * g->in_channels};
  job.chunks = lb_parallel_chunks(job.items, taps * out_pixels(g));
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

/* The images in the block that starts at image `first`. */
static int64_t block_images(const lb_conv2d_geometry *g, int64_t first) {
  int64_t left = g->batch - first, block = images_per_block(g);
  return left < block ? left : block;
}

/* ---- forward ------------------------------------------------------------- */

/* out [Co, images * P] = weight [Co, K] * columns [K, images * P]
 * (+ bias[c] on row c). */
static void forward_gemm(const lb_conv2d_geometry *g, const float *columns,
                         int64_t images, const float *weight,
                         const float *bias, float *out) {
  int co = (int)g->out_channels, k = (int)filter_size(g),
      n = (int)(images * out_pixels(g));
  if (bias)
    for (int64_t c = 0; c < co; c++)
      for (int64_t i = 0; i < n; i++) out[c * n + i] = bias[c];
  /* beta = 0 makes OpenBLAS overwrite out without reading it. */
  lb_sgemm(false, false, co, n, k, 1.0f, weight, k, columns, n,
           bias ? 1.0f : 0.0f, out, n);
}

void lb_conv2d_forward(const lb_conv2d_geometry *g, const float *input,
                       const float *weight, const float *bias, float *output,
                       float *workspace) {
  if (use_winograd(g)) {
    lb_winograd_forward(g, input, weight, bias, output, workspace);
    return;
  }
  for (int64_t first = 0; first < g->batch; first += images_per_block(g)) {
    int64_t images = block_images(g, first);
    const float *columns =
        lower_block(g, input + first * input_image_size(g), images, workspace);
    float *out = output + first * output_image_size(g);
    if (images == 1) {
      forward_gemm(g, columns, images, weight, bias, out);
    } else {
      float *staged = staging_area(g, workspace);
      forward_gemm(g, columns, images, weight, bias, staged);
      unstage(g, staged, images, out);
    }
  }
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
                                 float *grad_weight) {
  int co = (int)g->out_channels, k = (int)filter_size(g),
      n = (int)(images * out_pixels(g));
  lb_sgemm(false, true, co, k, n, 1.0f, grad_out, n, columns, n, beta,
           grad_weight, k);
}

/* grad_columns [K, images * P] = weight^T [K, Co] * grad_out. */
static void column_gradient_gemm(const lb_conv2d_geometry *g,
                                 const float *weight, const float *grad_out,
                                 int64_t images, float *grad_columns) {
  int co = (int)g->out_channels, k = (int)filter_size(g),
      n = (int)(images * out_pixels(g));
  lb_sgemm(true, false, k, n, co, 1.0f, weight, k, grad_out, n, 0.0f,
           grad_columns, n);
}

/* grad_input of a block. The column gradient is grad_input itself when the
 * input is its own column matrix, else it goes into the workspace (whose
 * columns the weight gradient has consumed) for col2im. */
static void input_gradient_block(const lb_conv2d_geometry *g,
                                 const float *weight, const float *grad_out,
                                 int64_t images, float *grad_input,
                                 float *workspace) {
  if (columns_are_the_input(g)) {
    column_gradient_gemm(g, weight, grad_out, images, grad_input);
    return;
  }
  column_gradient_gemm(g, weight, grad_out, images, workspace);
  col2im_block(g, workspace, images, grad_input);
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
  for (int64_t first = 0; first < g->batch; first += images_per_block(g)) {
    int64_t images = block_images(g, first);
    const float *grad_out = grad_output + first * output_image_size(g);
    if (images > 1) {
      float *staged = staging_area(g, workspace);
      stage(g, grad_out, images, staged);
      grad_out = staged;
    }
    const float *columns =
        lower_block(g, input + first * input_image_size(g), images, workspace);
    weight_gradient_gemm(g, columns, images, grad_out,
                         first == 0 ? 0.0f : 1.0f, grad_weight);
    if (grad_input)
      input_gradient_block(g, weight, grad_out, images,
                           grad_input + first * input_image_size(g),
                           workspace);
  }
}
