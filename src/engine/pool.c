/* ecoinfer: thread pool (see pool.h). */
#include "engine/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#define SPIN_ITERS 20000

struct eco_pool {
  int n;              /* threads including the caller */
  pthread_t *threads; /* [n - 1] */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  atomic_uint gen; /* job generation, bumped per eco_pool_run */
  atomic_int done; /* workers finished with the current job */
  atomic_bool stop;
  eco_pool_fn fn; /* current job */
  void *ctx;
};

typedef struct worker_arg {
  eco_pool *p;
  int ith;
} worker_arg;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

static void *worker(void *arg) {
  worker_arg a = *(worker_arg *)arg;
  free(arg);
  eco_pool *p = a.p;
  unsigned seen = 0;
  for (;;) {
    unsigned g;
    int spins = 0;
    while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen &&
           !atomic_load_explicit(&p->stop, memory_order_acquire) && spins < SPIN_ITERS) {
      cpu_relax();
      spins++;
    }
    if (g == seen && !atomic_load(&p->stop)) {
      pthread_mutex_lock(&p->mu);
      while ((g = atomic_load(&p->gen)) == seen && !atomic_load(&p->stop))
        pthread_cond_wait(&p->cv, &p->mu);
      pthread_mutex_unlock(&p->mu);
    }
    if (atomic_load(&p->stop)) return NULL;
    seen = g;
    p->fn(p->ctx, a.ith, p->n);
    atomic_fetch_add_explicit(&p->done, 1, memory_order_acq_rel);
  }
}

int eco_pool_new(int n_threads, eco_pool **out, eco_error *err) {
  *out = NULL;
  if (n_threads < 1 || n_threads > 1024)
    return eco_error_set(err, ECO_EINVAL, "thread count %d not in 1..1024", n_threads);
  eco_pool *p = calloc(1, sizeof *p);
  if (!p) return eco_error_set(err, ECO_ENOMEM, "out of memory");
  p->n = n_threads;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  atomic_init(&p->gen, 0);
  atomic_init(&p->done, 0);
  atomic_init(&p->stop, false);
  p->threads = calloc((size_t)n_threads, sizeof *p->threads);
  if (!p->threads) goto fail;
  for (int i = 1; i < n_threads; i++) {
    worker_arg *a = malloc(sizeof *a);
    if (!a) goto fail;
    a->p = p;
    a->ith = i;
    if (pthread_create(&p->threads[i - 1], NULL, worker, a) != 0) {
      free(a);
      p->n = i; /* join only the started ones */
      eco_pool_free(p);
      return eco_error_set(err, ECO_ENOMEM, "cannot start thread %d", i);
    }
  }
  *out = p;
  return 0;
fail:
  free(p->threads);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  free(p);
  return eco_error_set(err, ECO_ENOMEM, "out of memory");
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

void eco_pool_run(eco_pool *p, eco_pool_fn fn, void *ctx) {
  if (p->n == 1) {
    fn(ctx, 0, 1);
    return;
  }
  p->fn = fn;
  p->ctx = ctx;
  atomic_store_explicit(&p->done, 0, memory_order_relaxed);
  atomic_fetch_add_explicit(&p->gen, 1, memory_order_acq_rel);
  pthread_mutex_lock(&p->mu);
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  fn(ctx, 0, p->n);
  int spins = 0;
  while (atomic_load_explicit(&p->done, memory_order_acquire) < p->n - 1) {
    if (++spins < SPIN_ITERS)
      cpu_relax();
    else
      sched_yield();
  }
}
