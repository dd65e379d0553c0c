/* The library's worker threads: lb_parallel_for() (see core_internal.h).
 *
 * One process-wide pool of workers, started lazily as jobs ask for them and
 * never stopped. A job is split into chunks; the caller runs chunk 0 (and
 * any chunk no worker could take) while worker i runs chunk i + 1. Each
 * worker has a mailbox (`has_job`), so a worker only ever reads the job it
 * was given, and the caller returns only after every worker it gave a chunk
 * to has finished: no worker can still be reading a job when the next one
 * is posted.
 *
 * A worker that finishes spins for a short while before it sleeps, because
 * training calls come back to back and waking a sleeping thread costs tens
 * of microseconds on a virtual machine, a large part of one criterion call.
 *
 * One job runs at a time. A caller that finds the pool busy (another thread
 * is using it, or a chunk itself calls lb_parallel_for) runs its chunks
 * itself: the result is the same, only slower. */
#include "core_internal.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

/* Workers beyond the caller; lb_set_num_threads() allows 1024 threads. */
#define LB_POOL_MAX_WORKERS 1023

/* How long an idle worker keeps polling its mailbox before it sleeps. */
#define LB_POOL_SPIN_NS 50000

typedef struct worker_slot {
  atomic_int has_job; /* 1 from posting until the worker finished it */
  int32_t chunk;      /* which chunk of the current job is this worker's */
} worker_slot;

static struct {
  pthread_mutex_t lock; /* guards `started` and the sleep of idle workers */
  pthread_cond_t wake;
  atomic_flag busy;     /* set while a job uses the workers */
  int32_t started;      /* workers running */
  lb_parallel_task task;
  void *context;
  worker_slot slots[LB_POOL_MAX_WORKERS];
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, ATOMIC_FLAG_INIT,
          0, NULL, NULL, {{0, 0}}};

static pthread_once_t fork_handler_once = PTHREAD_ONCE_INIT;

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

static int64_t monotonic_ns(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

/* Polls the mailbox for a while; true when a job arrived. Between bursts of
 * polling it yields the processor, so a thread that has work (OpenBLAS's,
 * typically, right after our job) is not kept waiting by our polling. */
static bool spin_for_job(worker_slot *slot) {
  int64_t deadline = monotonic_ns() + LB_POOL_SPIN_NS;
  for (;;) {
    for (int i = 0; i < 64; i++) {
      if (atomic_load_explicit(&slot->has_job, memory_order_acquire))
        return true;
      cpu_relax();
    }
    if (monotonic_ns() > deadline) return false;
    sched_yield();
  }
}

static void sleep_until_job(worker_slot *slot) {
  pthread_mutex_lock(&pool.lock);
  while (!atomic_load_explicit(&slot->has_job, memory_order_acquire))
    pthread_cond_wait(&pool.wake, &pool.lock);
  pthread_mutex_unlock(&pool.lock);
}

static void *worker_main(void *argument) {
  worker_slot *slot = argument;
  for (;;) {
    if (!spin_for_job(slot)) sleep_until_job(slot);
    pool.task(pool.context, slot->chunk);
    atomic_store_explicit(&slot->has_job, 0, memory_order_release);
  }
  return NULL;
}

/* In a child of fork() only the forking thread exists: forget the workers,
 * so the child starts its own when it needs them. */
static void forget_workers_after_fork(void) {
  pool.started = 0;
  atomic_flag_clear(&pool.busy);
  for (int i = 0; i < LB_POOL_MAX_WORKERS; i++)
    atomic_store(&pool.slots[i].has_job, 0);
}

static void install_fork_handler(void) {
  pthread_atfork(NULL, NULL, forget_workers_after_fork);
}

/* Starts workers until `wanted` run; returns how many run (fewer when the
 * system refuses a thread, which only costs speed). */
static int32_t start_workers(int32_t wanted) {
  pthread_once(&fork_handler_once, install_fork_handler);
  pthread_mutex_lock(&pool.lock);
  while (pool.started < wanted) {
    pthread_t thread;
    pthread_attr_t attributes;
    if (pthread_attr_init(&attributes) != 0) break;
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    int failed = pthread_create(&thread, &attributes, worker_main,
                                &pool.slots[pool.started]);
    pthread_attr_destroy(&attributes);
    if (failed) break;
    pool.started++;
  }
  int32_t running = pool.started;
  pthread_mutex_unlock(&pool.lock);
  return running;
}

static void run_on_caller(lb_parallel_task task, void *context, int32_t from,
                          int32_t to) {
  for (int32_t chunk = from; chunk < to; chunk++) task(context, chunk);
}

void lb_parallel_for(lb_parallel_task task, void *context, int32_t chunks) {
  if (chunks <= 1 || atomic_flag_test_and_set(&pool.busy)) {
    run_on_caller(task, context, 0, chunks);
    return;
  }
  int32_t wanted = chunks - 1 < LB_POOL_MAX_WORKERS ? chunks - 1
                                                    : LB_POOL_MAX_WORKERS;
  int32_t helpers = start_workers(wanted);
  if (helpers > wanted) helpers = wanted;

  pool.task = task;
  pool.context = context;
  for (int32_t i = 0; i < helpers; i++) {
    pool.slots[i].chunk = i + 1;
    atomic_store_explicit(&pool.slots[i].has_job, 1, memory_order_release);
  }
  /* Under the lock, so a worker between its check and its wait cannot miss
   * the signal. */
  pthread_mutex_lock(&pool.lock);
  pthread_cond_broadcast(&pool.wake);
  pthread_mutex_unlock(&pool.lock);

  run_on_caller(task, context, 0, 1);
  run_on_caller(task, context, helpers + 1, chunks);
  for (int32_t i = 0; i < helpers; i++)
    while (atomic_load_explicit(&pool.slots[i].has_job, memory_order_acquire))
      sched_yield();
  atomic_flag_clear(&pool.busy);
}

int32_t lb_parallel_chunks(int64_t items, int64_t item_elements) {
  int64_t by_size = items * item_elements / LB_PARALLEL_MIN_CHUNK_ELEMENTS;
  int64_t chunks = lb_get_num_threads();
  if (chunks > by_size) chunks = by_size;
  if (chunks > items) chunks = items;
  return chunks < 1 ? 1 : (int32_t)chunks;
}

int64_t lb_chunk_begin(int64_t items, int32_t chunk, int32_t chunks) {
  /* The first items % chunks ranges get one item more. Written without
   * items * chunk, which could overflow. */
  int64_t base = items / chunks, extra = items % chunks;
  return base * chunk + (chunk < extra ? chunk : extra);
}

/* ---- adding partial sums ---------------------------------------------------
 */

typedef struct add_parts_job {
  float *sum;
  const float *const *parts;
  int32_t count;
  int64_t floats;
  int32_t chunks;
} add_parts_job;

static void add_parts_chunk(void *context, int32_t chunk) {
  const add_parts_job *job = context;
  int64_t begin = lb_chunk_begin(job->floats, chunk, job->chunks);
  int64_t end = lb_chunk_begin(job->floats, chunk + 1, job->chunks);
  for (int32_t part = 0; part < job->count; part++) {
    const float *add = job->parts[part];
    for (int64_t i = begin; i < end; i++)
      job->sum[i] += add[i];
  }
}

void lb_add_parts(float *sum, const float *const *parts, int32_t count,
                  int64_t floats) {
  add_parts_job job = {sum, parts, count, floats, 1};
  job.chunks = lb_parallel_chunks(floats, count);
  lb_parallel_for(add_parts_chunk, &job, job.chunks);
}
