/* ecoinfer: thread pool with dynamically claimed chunks (see pool.h). */
#include "engine/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#define SPIN_ITERS 1000

struct eco_pool {
  int n;              /* threads including the caller */
  pthread_t *threads; /* [n - 1] */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  /* job word: generation (high 32 bits) | next chunk to claim (low 32) */
  _Atomic uint64_t job;
  atomic_int done_chunks; /* chunks finished in the current job */
  atomic_int sleepers;    /* workers inside the condition-variable wait */
  atomic_bool stop;
  eco_pool_fn fn; /* current job, valid while its chunks are unfinished */
  void *ctx;
  int n_chunks;
};

typedef struct worker_arg {
  eco_pool *p;
} worker_arg;

/* Claims and runs chunks of generation gen until none is left. */
static void work(eco_pool *p, uint32_t gen) {
  for (;;) {
    uint64_t v = atomic_load_explicit(&p->job, memory_order_acquire);
    if ((uint32_t)(v >> 32) != gen) return;
    /* fn/ctx/n_chunks were published before the job word (release) */
    const int n = p->n_chunks;
    const uint32_t chunk = (uint32_t)v;
    if ((int)chunk >= n) return;
    if (!atomic_compare_exchange_weak_explicit(&p->job, &v, v + 1, memory_order_acq_rel,
                                               memory_order_acquire))
      continue;
    p->fn(p->ctx, (int)chunk, n);
    atomic_fetch_add_explicit(&p->done_chunks, 1, memory_order_acq_rel);
  }
}

static void *worker(void *arg) {
  eco_pool *p = ((worker_arg *)arg)->p;
  free(arg);
  uint32_t seen = 0;
  for (;;) {
    uint32_t g;
    int spins = 0;
    while ((g = (uint32_t)(atomic_load_explicit(&p->job, memory_order_acquire) >> 32)) == seen &&
           !atomic_load_explicit(&p->stop, memory_order_acquire) && spins < SPIN_ITERS) {
      eco_pool_relax();
      spins++;
    }
    if (g == seen && !atomic_load(&p->stop)) {
      /* announce the wait before the last look at the job word (both
       * sequentially consistent): eco_pool_run publishes a job, then looks
       * for sleepers, so either this look sees the job or the run sees this
       * sleeper and wakes it under the mutex */
      pthread_mutex_lock(&p->mu);
      atomic_fetch_add(&p->sleepers, 1);
      while ((g = (uint32_t)(atomic_load(&p->job) >> 32)) == seen && !atomic_load(&p->stop))
        pthread_cond_wait(&p->cv, &p->mu);
      atomic_fetch_sub(&p->sleepers, 1);
      pthread_mutex_unlock(&p->mu);
    }
    if (atomic_load(&p->stop)) return NULL;
    seen = g;
    work(p, g);
  }
}

int eco_pool_new(int n_threads, eco_pool **out, eco_error *err) {
  *out = NULL;
  if (n_threads < 1 || n_threads > 1024)
    return eco_error_set(err, ECO_EINVAL, "thread count %d not in 1..1024", n_threads);
  eco_pool *p = calloc(1, sizeof *p);
  if (!p) return eco_error_set(err, ECO_ENOMEM, "out of memory");
  p->n = 1;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  atomic_init(&p->job, 0);
  atomic_init(&p->done_chunks, 0);
  atomic_init(&p->sleepers, 0);
  atomic_init(&p->stop, false);
  p->threads = calloc((size_t)n_threads, sizeof *p->threads);
  if (!p->threads) {
    eco_pool_free(p);
    return eco_error_set(err, ECO_ENOMEM, "out of memory");
  }
  for (int i = 1; i < n_threads; i++) {
    worker_arg *a = malloc(sizeof *a);
    if (!a) {
      eco_pool_free(p);
      return eco_error_set(err, ECO_ENOMEM, "out of memory");
    }
    a->p = p;
    if (pthread_create(&p->threads[i - 1], NULL, worker, a) != 0) {
      free(a);
      eco_pool_free(p);
      return eco_error_set(err, ECO_ENOMEM, "cannot start thread %d", i);
    }
    p->n = i + 1;
  }
  *out = p;
  return 0;
}

void eco_pool_free(eco_pool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  atomic_store(&p->stop, true);
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  for (int i = 1; i < p->n; i++)
    pthread_join(p->threads[i - 1], NULL);
  free(p->threads);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  free(p);
}

int eco_pool_size(const eco_pool *p) { return p->n; }

void eco_pool_run(eco_pool *p, eco_pool_fn fn, void *ctx, int n_chunks) {
  if (n_chunks <= 0) return;
  if (p->n == 1 || n_chunks == 1) {
    for (int i = 0; i < n_chunks; i++)
      fn(ctx, i, n_chunks);
    return;
  }
  p->fn = fn;
  p->ctx = ctx;
  p->n_chunks = n_chunks;
  atomic_store_explicit(&p->done_chunks, 0, memory_order_relaxed);
  const uint64_t old = atomic_load_explicit(&p->job, memory_order_relaxed);
  const uint32_t gen = (uint32_t)(old >> 32) + 1;
  atomic_store(&p->job, (uint64_t)gen << 32);
  if (atomic_load(&p->sleepers) > 0) { /* spinning workers need no wake-up call */
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
  }
  work(p, gen);
  int spins = 0;
  while (atomic_load_explicit(&p->done_chunks, memory_order_acquire) < n_chunks) {
    if (++spins < SPIN_ITERS)
      eco_pool_relax();
    else
      sched_yield();
  }
}
