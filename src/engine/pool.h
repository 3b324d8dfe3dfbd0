/* ecoinfer: a fixed thread pool for data-parallel kernels.
 *
 * eco_pool_run(p, fn, ctx) calls fn(ctx, ith, nth) once for every ith in
 * [0, nth) and returns when all calls have returned; the caller's thread
 * runs ith = 0. Threads are created once (no thread per token). Workers
 * spin briefly between jobs (a forward pass issues a few hundred jobs per
 * token), then sleep on a condition variable.
 */
#ifndef ECO_ENGINE_POOL_H
#define ECO_ENGINE_POOL_H

#include "util/status.h"

typedef struct eco_pool eco_pool;
typedef void (*eco_pool_fn)(void *ctx, int ith, int nth);

/* n_threads >= 1 (1 = no worker threads). */
int eco_pool_new(int n_threads, eco_pool **out, eco_error *err);
void eco_pool_free(eco_pool *p);
int eco_pool_size(const eco_pool *p);
void eco_pool_run(eco_pool *p, eco_pool_fn fn, void *ctx);

#endif
