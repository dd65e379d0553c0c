/*
 * Every single-precision matrix product of the library goes through here,
 * so that one place decides who runs it on several cores.
 *
 * Two ways, chosen once per process:
 *  - The library's pool (the default): OpenBLAS is kept at one thread, and
 *    a product is cut into column blocks (or row blocks, when it has few
 *    columns), one per library thread, each an ordinary single-threaded
 *    cblas_sgemm. Callers with several independent products (Winograd's 16)
 *    run them side by side instead, through lb_gemm_on_pool().
 *  - OpenBLAS's threads (LOSSBAL_GEMM=openblas in the environment):
 *    cblas_sgemm with OpenBLAS's thread count following
 *    lb_set_num_threads(). Each product forks and joins OpenBLAS's threads,
 *    which costs more than the product is worth for the small products of a
 *    narrow network (docs/performance.md has the measurements).
 * The two agree to rounding, not to the bit: OpenBLAS may pick another
 * kernel for a smaller block. Either way a product repeated with the same
 * thread count gives the same bits.
 */
#include "core_internal.h"

#include <cblas.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Column blocks are multiples of this, so that no block ends in a ragged
 * edge of OpenBLAS's micro-kernel. */
#define COLUMN_GRAIN 16

static pthread_once_t mode_once = PTHREAD_ONCE_INIT;
static bool pool_mode;

static void choose_mode(void) {
  const char *setting = getenv("LOSSBAL_GEMM");
  pool_mode = !(setting && strcmp(setting, "openblas") == 0);
  if (pool_mode)
    openblas_set_num_threads(1);
}

bool lb_gemm_on_pool(void) {
  pthread_once(&mode_once, choose_mode);
  return pool_mode;
}

void lb_gemm_threads_changed(int32_t threads) {
  if (!lb_gemm_on_pool())
    openblas_set_num_threads(threads);
}

typedef struct gemm_job {
  bool transpose_a, transpose_b;
  int64_t m, n, k;
  float alpha, beta;
  const float *a, *b;
  float *c;
  int64_t lda, ldb, ldc;
  bool by_rows;    /* blocks of rows of C, else of columns */
  int64_t units;   /* grains of columns, or rows */
  int32_t chunks;
} gemm_job;

static void run_block(const gemm_job *job, int64_t first, int64_t count) {
  const float *a = job->a, *b = job->b;
  float *c = job->c;
  int64_t m = job->m, n = job->n;
  if (job->by_rows) {
    a += job->transpose_a ? first : first * job->lda;
    c += first * job->ldc;
    m = count;
  } else {
    b += job->transpose_b ? first * job->ldb : first;
    c += first;
    n = count;
  }
  cblas_sgemm(CblasRowMajor, job->transpose_a ? CblasTrans : CblasNoTrans,
              job->transpose_b ? CblasTrans : CblasNoTrans, (int)m, (int)n,
              (int)job->k, job->alpha, a, (int)job->lda, b, (int)job->ldb,
              job->beta, c, (int)job->ldc);
}

static void gemm_chunk(void *context, int32_t chunk) {
  const gemm_job *job = context;
  int64_t begin = lb_chunk_begin(job->units, chunk, job->chunks);
  int64_t end = lb_chunk_begin(job->units, chunk + 1, job->chunks);
  if (job->by_rows) {
    run_block(job, begin, end - begin);
    return;
  }
  int64_t first = begin * COLUMN_GRAIN, last = end * COLUMN_GRAIN;
  if (last > job->n)
    last = job->n;
  if (last > first)
    run_block(job, first, last - first);
}

void lb_sgemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n,
              int64_t k, float alpha, const float *a, int64_t lda,
              const float *b, int64_t ldb, float beta, float *c,
              int64_t ldc) {
  gemm_job job = {transpose_a, transpose_b, m, n, k, alpha, beta, a, b, c,
                  lda, ldb, ldc, false, 0, 1};
  if (lb_gemm_on_pool()) {
    /* Enough columns for a grain per thread: split them; else the rows. */
    int64_t grains = (n + COLUMN_GRAIN - 1) / COLUMN_GRAIN;
    job.by_rows = grains < lb_get_num_threads() && m > grains;
    job.units = job.by_rows ? m : grains;
    int64_t unit_work = (job.by_rows ? n : COLUMN_GRAIN) * (k > 0 ? k : 1);
    job.chunks = lb_parallel_chunks(job.units, unit_work);
  }
  if (job.chunks <= 1) {
    job.by_rows = false; /* one block: all of C */
    run_block(&job, 0, n);
    return;
  }
  lb_parallel_for(gemm_chunk, &job, job.chunks);
}

void lb_sgemm_serial(bool transpose_a, bool transpose_b, int64_t m,
                     int64_t n, int64_t k, float alpha, const float *a,
                     int64_t lda, const float *b, int64_t ldb, float beta,
                     float *c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, transpose_a ? CblasTrans : CblasNoTrans,
              transpose_b ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k,
              alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}
