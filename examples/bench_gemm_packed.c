/* bench_gemm_packed: the products of Winograd's taps on one thread, by
 * OpenBLAS (cblas_sgemm, which packs both factors on every call) and by
 * lb_sgemm_packed() (lib/core/gemm_packed.c, whose left factor, the
 * prepared filters, is packed once), per shape.
 *
 *   bench_gemm_packed [--reps N] [--taps T] [--shapes LIST]
 *
 * LIST is comma-separated RxDxC: C [R, C] = A [R, D] * B [D, C], R output
 * channels, D input channels, C columns (tiles); the default is the tap
 * products of ResNet-18's prediction on 1x28x28 at widths 16 and 64, a
 * range of 32 images and one of 64. Each rep times T products (one per
 * tap, each on its own A, B and C, as in a block) by each way, the two
 * ways alternating rep by rep so that a change in the machine's load hits
 * both alike; a line gives the best GFLOP/s of each and the median of the
 * per-rep ratio OpenBLAS time / packed time (above 1: packed is faster),
 * with its quartiles. Which kernel runs (AVX2 + FMA or portable) is
 * printed first. Internal headers: links the static library.
 */
#include "core/gemm_packed.h"
#include "bench_stats.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_SHAPES 64
#define MAX_REPS 1000

typedef struct shape {
  int64_t rows, depth, columns;
} shape;

typedef struct options {
  int reps, taps, shapes;
  shape shape[MAX_SHAPES];
} options;

/* 28x28 by F(4x4): 8 images of 49 tiles; 7x7: 4 tiles an image; 4x4: 1;
 * 14x14 by F(2x2): 4 images of 49 tiles. */
static const char *const default_shapes =
    "16x16x392,32x32x196,64x64x128,128x128x32,128x128x64,"
    "64x64x392,128x128x196,256x256x128,256x256x256,512x512x32,512x512x64";

static int parse_shapes(const char *text, options *o) {
  o->shapes = 0;
  for (const char *p = text; *p;) {
    long long r, d, c;
    int used = 0;
    if (o->shapes == MAX_SHAPES ||
        sscanf(p, "%lldx%lldx%lld%n", &r, &d, &c, &used) != 3 || r < 1 ||
        d < 1 || c < 1 || r > 4096 || d > 4096 || c > 65536)
      return -1;
    o->shape[o->shapes++] = (shape){r, d, c};
    p += used;
    if (*p == ',')
      p++;
    else if (*p)
      return -1;
  }
  return o->shapes > 0 ? 0 : -1;
}

static int parse_options(int argc, char **argv, options *o) {
  *o = (options){.reps = 21, .taps = 36};
  if (parse_shapes(default_shapes, o) != 0)
    return -1;
  for (int i = 1; i < argc; i += 2) {
    if (i + 1 >= argc)
      return -1;
    if (strcmp(argv[i], "--reps") == 0)
      o->reps = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--taps") == 0)
      o->taps = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--shapes") == 0) {
      if (parse_shapes(argv[i + 1], o) != 0)
        return -1;
    } else
      return -1;
  }
  return o->reps >= 1 && o->reps <= MAX_REPS && o->taps >= 1 &&
                 o->taps <= 64
             ? 0
             : -1;
}

static float *filled(int64_t count, unsigned seed) {
  float *data = malloc((size_t)(count > 0 ? count : 1) * sizeof(float));
  if (!data)
    return NULL;
  for (int64_t i = 0; i < count; i++)
    data[i] = (float)((i * 2654435761u + seed) % 1000) / 1000.0f - 0.5f;
  return data;
}

/* The operands of `taps` products of one shape. */
typedef struct operands {
  float *a, *packed, *b, *c, *scratch;
  int64_t packed_floats;
} operands;

static void free_operands(operands *x) {
  free(x->a);
  free(x->packed);
  free(x->b);
  free(x->c);
  free(x->scratch);
}

static int make_operands(shape s, int taps, operands *x) {
  x->packed_floats = lb_packed_floats(s.rows, s.depth);
  x->a = filled(taps * s.rows * s.depth, 1);
  x->packed = filled(taps * x->packed_floats, 0);
  x->b = filled(taps * s.depth * s.columns, 2);
  x->c = filled(taps * s.rows * s.columns, 3);
  x->scratch = filled(lb_sgemm_packed_scratch_floats(), 4);
  if (!x->a || !x->packed || !x->b || !x->c || !x->scratch)
    return -1;
  for (int t = 0; t < taps; t++) {
    float *packed = x->packed + t * x->packed_floats;
    lb_packed_store(x->a + t * s.rows * s.depth, 0, s.rows * s.depth,
                    s.depth, packed);
    lb_packed_clear_padding(s.rows, s.depth, packed);
  }
  return 0;
}

static double time_openblas(shape s, int taps, const operands *x) {
  double start = bench_seconds();
  for (int t = 0; t < taps; t++)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)s.rows,
                (int)s.columns, (int)s.depth, 1.0f,
                x->a + t * s.rows * s.depth, (int)s.depth,
                x->b + t * s.depth * s.columns, (int)s.columns, 0.0f,
                x->c + t * s.rows * s.columns, (int)s.columns);
  return bench_seconds() - start;
}

static double time_packed(shape s, int taps, const operands *x) {
  double start = bench_seconds();
  for (int t = 0; t < taps; t++)
    lb_sgemm_packed(x->packed + t * x->packed_floats, s.depth, 0, s.rows,
                    x->b + t * s.depth * s.columns, s.columns, s.columns,
                    x->c + t * s.rows * s.columns, s.columns, x->scratch);
  return bench_seconds() - start;
}

static int bench_shape(shape s, const options *o) {
  operands x = {0};
  if (make_operands(s, o->taps, &x) != 0) {
    free_operands(&x);
    fprintf(stderr, "bench_gemm_packed: out of memory\n");
    return -1;
  }
  static double ratio[MAX_REPS];
  double best_openblas = 1e300, best_packed = 1e300;
  time_openblas(s, o->taps, &x); /* warm both up */
  time_packed(s, o->taps, &x);
  for (int rep = 0; rep < o->reps; rep++) {
    double openblas = time_openblas(s, o->taps, &x);
    double packed = time_packed(s, o->taps, &x);
    best_openblas = openblas < best_openblas ? openblas : best_openblas;
    best_packed = packed < best_packed ? packed : best_packed;
    ratio[rep] = openblas / packed;
  }
  qsort(ratio, (size_t)o->reps, sizeof *ratio, bench_compare_doubles);
  double flops = 2.0 * (double)o->taps * (double)(s.rows * s.depth) *
                 (double)s.columns;
  printf("%4lld x %4lld x %5lld: OpenBLAS %6.1f GFLOP/s, packed %6.1f; "
         "OpenBLAS time / packed %.3f (quartiles %.3f, %.3f)\n",
         (long long)s.rows, (long long)s.depth, (long long)s.columns,
         flops / best_openblas * 1e-9, flops / best_packed * 1e-9,
         ratio[o->reps / 2], ratio[o->reps / 4], ratio[3 * o->reps / 4]);
  free_operands(&x);
  return 0;
}

int main(int argc, char **argv) {
  options o;
  if (parse_options(argc, argv, &o) != 0) {
    fprintf(stderr, "usage: %s [--reps N (1-%d)] [--taps T (1-64)] "
                    "[--shapes RxDxC,...]\n",
            argv[0], MAX_REPS);
    return 2;
  }
  openblas_set_num_threads(1);
  printf("one thread, %d products a rep, %d reps; packed kernel: %s\n",
         o.taps, o.reps,
         lb_sgemm_packed_uses_fma() ? "AVX2 + FMA" : "portable");
  for (int i = 0; i < o.shapes; i++)
    if (bench_shape(o.shape[i], &o) != 0)
      return 1;
  return 0;
}
