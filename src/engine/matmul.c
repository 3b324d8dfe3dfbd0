/* ecoinfer: parallel matrix products of the forward pass: every weight row
 * against all T activation rows at once, packed or plain layout. */
#include "engine/forward_internal.h"
#include "engine/pack.h"

#include <sched.h>

/* One packed group against c->T activation rows; writes the rows of the
 * group that fall in [a, b). Whole groups are written straight into y. */
static void mm_packed_group(const eco_ctx *c, const mm_job *jb, int64_t g, int64_t a, int64_t b) {
  const eco_weight *w = jb->w;
  const void *grp = (const uint8_t *)w->packed + jb->group_bytes * (size_t)g;
  const int64_t r0 = g * ECO_PACK_ROWS;
  const size_t ys = (size_t)jb->y_stride;
  if (r0 >= a && r0 + ECO_PACK_ROWS <= b) {
    float *y = jb->y + r0;
    if (c->kern.pdot[w->type])
      c->kern.pdot[w->type]((int)w->cols, grp, jb->act, jb->act_stride, c->T, y, ys);
    else /* scalar kernels forced on a packed model (tests) */
      eco_pack_dot_ref(w->type, (int)w->cols, grp, jb->act, jb->act_stride, c->T, y, ys);
    if (jb->bias)
      for (int t = 0; t < c->T; t++)
        for (int r = 0; r < ECO_PACK_ROWS; r++)
          y[(size_t)t * ys + (size_t)r] += jb->bias[r0 + r];
    return;
  }
  float o[4 * ECO_PACK_ROWS]; /* a partial group (the last one of a matrix) */
  for (int t0 = 0; t0 < c->T; t0 += 4) {
    const int nt = c->T - t0 < 4 ? c->T - t0 : 4;
    const uint8_t *x = jb->act + (size_t)t0 * jb->act_stride;
    if (c->kern.pdot[w->type])
      c->kern.pdot[w->type]((int)w->cols, grp, x, jb->act_stride, nt, o, ECO_PACK_ROWS);
    else
      eco_pack_dot_ref(w->type, (int)w->cols, grp, x, jb->act_stride, nt, o, ECO_PACK_ROWS);
    for (int t = 0; t < nt; t++)
      for (int64_t r = r0 > a ? r0 : a; r < r0 + ECO_PACK_ROWS && r < b; r++)
        jb->y[(size_t)(t0 + t) * ys + (size_t)r] =
            o[t * ECO_PACK_ROWS + (r - r0)] + (jb->bias ? jb->bias[r] : 0.f);
  }
}

/* Groups [ga, gb) of a packed job, rows [a, b): pairs of whole groups go
 * through the two-group kernel where the type has one, the batch has more
 * than one row (batch 1 is bound by memory, not by vector work) and either
 * the groups are long (c->pair_min_bytes, ECO_PAIR_MIN_GROUP_BYTES by
 * default) or the batch is wide. Short groups streamed from DRAM by two
 * threads run slower in pairs at batch 4 (two read streams a few KB apart
 * against one), though faster in cache: SmolLM2's 576 columns (4.9 KB in
 * Q8_0) by about 20 %, TinyLlama's 2048 (9.2 KB in Q4_0) by 2 % of the
 * whole batch-4 step (bench_batch_step with PAIR_MIN=8192,12288,
 * docs/benchmarks/batch.md); from 1536 columns in Q8_0 (13 KB) pairs stream
 * as fast as single groups or faster. */
#define PAIR_ANY_GROUP_BATCH 8
static void mm_packed_groups(const eco_ctx *c, const mm_job *jb, int64_t ga, int64_t gb, int64_t a,
                             int64_t b) {
  const eco_weight *w = jb->w;
  const bool pairs =
      c->T > 1 && (jb->group_bytes >= c->pair_min_bytes || c->T >= PAIR_ANY_GROUP_BATCH);
  const eco_pdot2_fn pdot2 = pairs ? c->kern.pdot2[w->type] : NULL;
  int64_t g = ga;
  if (pdot2) {
    const size_t ys = (size_t)jb->y_stride;
    for (; g + 1 < gb && g * ECO_PACK_ROWS >= a && (g + 2) * ECO_PACK_ROWS <= b; g += 2) {
      const int64_t r0 = g * ECO_PACK_ROWS;
      float *y = jb->y + r0;
      pdot2((int)w->cols, (const uint8_t *)w->packed + jb->group_bytes * (size_t)g, jb->group_bytes,
            jb->act, jb->act_stride, c->T, y, ys);
      if (jb->bias)
        for (int t = 0; t < c->T; t++)
          for (int r = 0; r < 2 * ECO_PACK_ROWS; r++)
            y[(size_t)t * ys + (size_t)r] += jb->bias[r0 + r];
    }
  }
  for (; g < gb; g++)
    mm_packed_group(c, jb, g, a, b);
}

/* Rows [a, b) of a plain-layout job. */
static void mm_plain_rows(const eco_ctx *c, const mm_job *jb, int64_t a, int64_t b) {
  const eco_dot_fn dot = c->kern.dot[jb->w->type];
  const eco_dot4_fn dot4 = c->kern.dot4[jb->w->type];
  float tmp[64];
  if (c->T == 1 && dot4) { /* decode: four rows per call */
    for (; a + 4 <= b; a += 4) {
      float o4[4];
      dot4((int)jb->w->cols, (const uint8_t *)jb->w->data + (size_t)a * jb->w->row_bytes,
           jb->w->row_bytes, jb->act, o4);
      for (int k = 0; k < 4; k++)
        jb->y[a + k] = o4[k] + (jb->bias ? jb->bias[a + k] : 0.f);
    }
  }
  for (int64_t r = a; r < b; r++) {
    const uint8_t *wr = (const uint8_t *)jb->w->data + (size_t)r * jb->w->row_bytes;
    const float bias = jb->bias ? jb->bias[r] : 0.f;
    for (int t0 = 0; t0 < c->T; t0 += 64) {
      const int nt = c->T - t0 < 64 ? c->T - t0 : 64;
      dot((int)jb->w->cols, wr, jb->act + (size_t)t0 * jb->act_stride, jb->act_stride, nt, tmp);
      for (int t = 0; t < nt; t++)
        jb->y[(size_t)(t0 + t) * (size_t)jb->y_stride + (size_t)r] = tmp[t] + bias;
    }
  }
}

/* Parallel matmul over the rows of all jobs (same T activation rows each).
 * Work is counted in units of 8 rows per job (a packed group, or 8 plain
 * rows), and chunk k of n takes a contiguous range of units, so no unit is
 * split between threads. */
static void mm_worker(void *arg, int chunk, int n_chunks) {
  eco_ctx *c = arg;
  int64_t total = 0;
  for (int j = 0; j < c->n_jobs; j++)
    total += (c->jobs[j].w->rows + ECO_PACK_ROWS - 1) / ECO_PACK_ROWS;
  int64_t per = (total + n_chunks - 1) / n_chunks;
  per += per & 1; /* whole pairs of groups for the two-group kernels */
  const int64_t u0 = per * chunk, u1 = u0 + per < total ? u0 + per : total;
  int64_t base = 0; /* first unit of job j */
  for (int j = 0; j < c->n_jobs && u0 < u1; j++) {
    const mm_job *jb = &c->jobs[j];
    const int64_t rows = jb->w->rows, units = (rows + ECO_PACK_ROWS - 1) / ECO_PACK_ROWS;
    const int64_t ga = u0 > base ? u0 - base : 0, gb = u1 - base < units ? u1 - base : units;
    if (ga < gb) {
      const int64_t a = ga * ECO_PACK_ROWS,
                    b = gb * ECO_PACK_ROWS < rows ? gb * ECO_PACK_ROWS : rows;
      if (jb->w->packed)
        mm_packed_groups(c, jb, ga, gb, a, b);
      else
        mm_plain_rows(c, jb, a, b);
    }
    base += units;
  }
}

/* Activation format key of a weight: its ggml activation type, or PACKED_ACT
 * for packed weights whose kernels take Q8_0 split rows (pack.h). */
#define PACKED_ACT 1000
static int act_format(const eco_weight *w) {
  return w->packed && eco_pack_split_act(w->type) ? PACKED_ACT : (int)eco_quant_act_type(w->type);
}

/* Rows [t0, t1) of the product's input: made by c->prep where the caller
 * set one (a norm, an activation), then quantized into the activation
 * buffers of the jobs that own one. */
static void prep_rows(eco_ctx *c, int t0, int t1) {
  if (c->prep) c->prep(c, t0, t1);
  for (int j = 0; j < c->n_jobs; j++) {
    const mm_job *jb = &c->jobs[j];
    if (!jb->own_act) continue;
    const eco_weight *w = jb->w;
    for (int t = t0; t < t1; t++) {
      const float *xr = c->mm_x + (size_t)t * (size_t)w->cols;
      uint8_t *dst = (uint8_t *)jb->act + (size_t)t * jb->act_stride;
      if (jb->act_fmt == PACKED_ACT)
        c->kern.quant_act(xr, dst, (int)w->cols);
      else if (jb->act_fmt == ECO_GGML_Q8_K)
        c->kern.quant_q8k(xr, dst, (int)w->cols);
      else
        eco_quantize_row((eco_ggml_type)jb->act_fmt, xr, dst, w->cols);
    }
  }
}

bool eco_fwd_prep_part(eco_ctx *c, int chunk, eco_fwd_prep_fn make) {
  const int np = c->n_prep;
  if (chunk < np) {
    const int per = (c->T + np - 1) / np, t0 = chunk * per, t1 = t0 + per < c->T ? t0 + per : c->T;
    if (t0 < t1) make(c, t0, t1);
    atomic_fetch_add_explicit(&c->prep_done, 1, memory_order_release);
    return true;
  }
  for (int spins = 0; atomic_load_explicit(&c->prep_done, memory_order_acquire) < np;)
    if (++spins < 1000)
      eco_pool_relax();
    else
      sched_yield(); /* its maker may wait for a core (a busy host) */
  return false;
}

int eco_fwd_prep_chunks(eco_ctx *c, eco_fwd_prep_fn make) {
  int np = c->T / 2; /* rows in pairs at least (a norm's sums run side by side) */
  if (np > c->nth) np = c->nth;
  if (np < 2) { /* one row (batch 1): made here, so that no worker the OS has not
                   run yet can hold up the job's other chunks */
    make(c, 0, c->T);
    np = 0;
  }
  c->n_prep = np;
  atomic_store_explicit(&c->prep_done, 0, memory_order_relaxed);
  return np;
}

/* One pool job for the whole product: the input rows (prep_rows), then
 * mm_worker's chunks (eco_fwd_prep_part). */
static void mm_job_worker(void *arg, int chunk, int n_chunks) {
  eco_ctx *c = arg;
  if (!eco_fwd_prep_part(c, chunk, prep_rows))
    mm_worker(c, chunk - c->n_prep, n_chunks - c->n_prep);
}

/* Chunks per thread of a product. More chunks balance threads that the OS
 * runs late, but each one costs: its claim and its completion count move
 * the pool's shared words between cores (on a 2-vCPU Zen 4 VM a job's
 * round trip costs about 1 us and each chunk 0.2-0.3 us more, a pool
 * microbenchmark) and its weight stream starts without prefetches ahead.
 * 2 instead of 4 made SmolLM2 Q8_0's decode steps (products of 10-40 us)
 * 8-11 % faster at batch 1 and 6-17 % at batch 4 on that VM, and left
 * TinyLlama Q4_0's (60 us and more) unchanged (bench_batch_step in one
 * process, both orders, docs/benchmarks/batch.md session 9); 1 was no
 * faster than 2, and 2 still lets a thread that starts late leave its
 * second chunk to the others. */
#define MM_CHUNKS_PER_THREAD 2

/* y_j[t] = W_j x[t] (+ b_j) for up to 3 weights sharing the input x [T][cols]. */
void eco_fwd_matmul(eco_ctx *c, int n, const eco_weight *const *ws, const float *x, int T,
                    float *const *ys, const float *const *biases) {
  for (int j = 0; j < n; j++) {
    const eco_weight *w = ws[j];
    const int fmt = act_format(w);
    const size_t stride = fmt == PACKED_ACT ? eco_pack_act_bytes(w->cols)
                                            : eco_quant_row_bytes((eco_ggml_type)fmt, w->cols);
    int same = -1;
    for (int i = 0; i < j; i++)
      if (c->jobs[i].act_fmt == fmt) same = i;
    c->jobs[j].own_act = same < 0;
    c->jobs[j].act = same >= 0 ? c->jobs[same].act : c->act[j];
    c->jobs[j].act_fmt = fmt;
    c->jobs[j].w = w;
    c->jobs[j].act_stride = stride;
    c->jobs[j].y = ys[j];
    c->jobs[j].y_stride = (int)w->rows;
    c->jobs[j].bias = biases ? biases[j] : NULL;
    c->jobs[j].group_bytes = w->packed ? eco_pack_group_bytes(w->type, w->cols) : 0;
  }
  c->n_jobs = n;
  c->T = T;
  c->mm_x = x;
  /* small products are not worth waking the other threads */
  uint64_t work = 0;
  for (int j = 0; j < n; j++)
    work += (uint64_t)ws[j]->rows * (uint64_t)ws[j]->cols;
  if (work * (uint64_t)T < (1u << 16) || c->nth == 1) {
    prep_rows(c, 0, T);
    mm_worker(c, 0, 1);
  } else {
    /* MM_CHUNKS_PER_THREAD chunks per thread, none smaller than 2 units */
    int64_t units = 0;
    for (int j = 0; j < n; j++)
      units += (ws[j]->rows + ECO_PACK_ROWS - 1) / ECO_PACK_ROWS;
    int64_t chunks = (int64_t)c->nth * MM_CHUNKS_PER_THREAD;
    if (chunks > units / 2) chunks = units / 2 > 0 ? units / 2 : 1;
    eco_pool_run(c->pool, mm_job_worker, c, eco_fwd_prep_chunks(c, prep_rows) + (int)chunks);
  }
  c->prep = NULL;
}
