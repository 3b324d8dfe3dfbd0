/* ecoinfer: a fixed thread pool for data-parallel kernels.
 *
 * eco_pool_run(p, fn, ctx, n_chunks) calls fn(ctx, chunk, n_chunks) once
 * for every chunk in [0, n_chunks) and returns when all calls have
 * returned. Threads are created once (no thread per token). Chunks are
 * claimed dynamically from an atomic counter by the caller's thread and
 * the workers, so a worker that the OS has not scheduled yet (a busy or
 * oversubscribed machine) delays nothing: the others take its chunks.
 * Workers spin briefly between jobs, then sleep on a condition variable.
 */
#ifndef ECO_ENGINE_POOL_H
#define ECO_ENGINE_POOL_H

#include "util/status.h"

typedef struct eco_pool eco_pool;
typedef void (*eco_pool_fn)(void *ctx, int chunk, int n_chunks);

/* n_threads >= 1 (1 = no worker threads). */
int eco_pool_new(int n_threads, eco_pool **out, eco_error *err);
void eco_pool_free(eco_pool *p);
int eco_pool_size(const eco_pool *p);
void eco_pool_run(eco_pool *p, eco_pool_fn fn, void *ctx, int n_chunks);

/* A pause in a spin-wait loop (the pool's own waits, and chunk functions
 * that wait for other chunks of their job). */
static inline void eco_pool_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

#endif
