/* ecoinfer: repacking a loaded model's matrices into the 8-row interleaved
 * layout of the packed kernels (pack.h), in one huge-page arena. */
#include "engine/kernels.h"
#include "engine/model_internal.h"
#include "engine/pack.h"
#include "engine/pool.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Whether this CPU's kernels pack weight w (pack.h). */
static bool will_pack(const eco_kernels *k, const eco_weight *w) {
  return w->data && eco_pack_supported(w->type) && k->pdot[w->type] &&
         eco_pack_group_bytes(w->type, w->cols) > 0;
}

/* Packs w into dst, then releases the file pages it was read from. */
static void repack_weight(eco_weight *w, void *dst) {
  const size_t gb = eco_pack_group_bytes(w->type, w->cols);
  const int64_t groups = (w->rows + ECO_PACK_ROWS - 1) / ECO_PACK_ROWS;
  for (int64_t g = 0; g < groups; g++)
    eco_pack_group(w->type, w->cols, w->data, w->row_bytes, w->rows, g,
                   (uint8_t *)dst + gb * (size_t)g);
  w->packed = dst;
  /* drop the now unused file pages (only whole pages inside the tensor);
   * later reads of `data` (embedding rows of a tied output) fault them in */
  const long pg = sysconf(_SC_PAGESIZE);
  if (pg > 0) {
    const uintptr_t a = ((uintptr_t)w->data + (uintptr_t)pg - 1) & ~((uintptr_t)pg - 1);
    const uintptr_t e =
        ((uintptr_t)w->data + w->row_bytes * (size_t)w->rows) & ~((uintptr_t)pg - 1);
    if (e > a) (void)madvise((void *)a, e - a, MADV_DONTNEED);
  }
}

#define PACK_ALIGN ((size_t)2 << 20) /* 2 MiB: transparent huge pages */

static size_t packed_size(const eco_weight *w) {
  return (eco_pack_bytes(w->type, w->rows, w->cols) + 63) & ~(size_t)63;
}

typedef struct pack_job {
  eco_weight **ws; /* [n] matrices to pack */
  uint8_t **dst;   /* [n] where each goes */
} pack_job;

static void pack_worker(void *arg, int i, int n) {
  (void)n;
  const pack_job *j = arg;
  repack_weight(j->ws[i], j->dst[i]);
}

/* Repacks every matrix this CPU has packed kernels for into one anonymous
 * mapping that asks for huge pages: decode streams all weights every
 * token, and 4 KiB pages would cost a TLB miss every 4 KiB. */
int eco_model_repack(eco_model *m, eco_error *err) {
  eco_cpu_info ci;
  eco_cpu_detect(&ci);
  eco_kernels k;
  eco_kernels_init(&k, ci.level);
  const int nw = N_LAYER_MATRICES * m->hp.n_layer + 1;
  eco_weight **ws = malloc((size_t)nw * sizeof *ws);
  if (!ws) return eco_error_set(err, ECO_ENOMEM, "model: out of memory");
  for (int l = 0; l < m->hp.n_layer; l++) {
    eco_weight *lw[] = LAYER_MATRICES(&m->layers[l]);
    memcpy(ws + N_LAYER_MATRICES * l, lw, sizeof lw);
  }
  ws[nw - 1] = &m->output;
  size_t total = 0;
  for (int i = 0; i < nw; i++)
    if (will_pack(&k, ws[i])) total += packed_size(ws[i]);
  if (total == 0) {
    free(ws);
    return 0;
  }
  const size_t len = (total + PACK_ALIGN - 1) & ~(PACK_ALIGN - 1);
  /* one extra huge page so that the arena can start on a boundary */
  uint8_t *raw =
      mmap(NULL, len + PACK_ALIGN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) { /* no memory for a copy: keep the file layout */
    free(ws);
    return 0;
  }
  uint8_t *arena = (uint8_t *)(((uintptr_t)raw + PACK_ALIGN - 1) & ~(uintptr_t)(PACK_ALIGN - 1));
  if (arena > raw) munmap(raw, (size_t)(arena - raw));
  const size_t tail = (size_t)((raw + len + PACK_ALIGN) - (arena + len));
  if (tail) munmap(arena + len, tail);
#ifdef MADV_HUGEPAGE
  (void)madvise(arena, len, MADV_HUGEPAGE); /* a hint: fine if refused */
#endif
  m->pack_arena = arena;
  m->pack_arena_len = len;
  /* one matrix per chunk, on every core: packing (and the kernel zeroing
   * the new pages) would otherwise be most of the load time */
  uint8_t **dst = malloc((size_t)nw * sizeof *dst);
  eco_pool *pool = NULL;
  const int nth = ci.logical_cpus > 1 ? (ci.logical_cpus < 16 ? ci.logical_cpus : 16) : 1;
  if (!dst || eco_pool_new(nth, &pool, NULL)) { /* keep the file layout */
    munmap(arena, len);
    m->pack_arena = NULL;
    m->pack_arena_len = 0;
    free(dst);
    free(ws);
    return 0;
  }
  int n = 0;
  size_t off = 0;
  for (int i = 0; i < nw; i++)
    if (will_pack(&k, ws[i])) {
      ws[n] = ws[i];
      dst[n++] = arena + off;
      off += packed_size(ws[i]);
    }
  pack_job job = {ws, dst};
  eco_pool_run(pool, pack_worker, &job, n);
  eco_pool_free(pool);
  m->packed_bytes = total;
  free(dst);
  free(ws);
  return 0;
}
