/* Tests for src/engine/batch: continuous batching over a deterministic fake
 * model. The fake's next token is a hash of everything its KV slot holds, so
 * a wrong slot, position or fed token changes the output: batched outputs
 * must equal the unbatched reference exactly. Also: admission, EBUSY,
 * cancellation freeing the slot at once, allocation failures, stats. */
#include "testutil.h"

#include "engine/engine.h"
#include "cli/batchbench.h"
#include "util/timeutil.h"

#include <pthread.h>
#include <unistd.h>

#define VOCAB    97
#define NCTX     256
#define MAXSLOTS 16

typedef struct fake {
  int32_t *kv[MAXSLOTS];  /* tokens written per slot, [NCTX] */
  int fail_reserve_after; /* reserve calls after which reserve fails; -1 never */
  int reserves;
  int forwards;
  uint32_t max_items_seen;
  pthread_mutex_t mu;
} fake;

static uint32_t hash_tokens(const int32_t *t, uint32_t n) {
  uint32_t h = 2166136261u;
  for (uint32_t i = 0; i < n; i++)
    h = (h ^ (uint32_t)t[i]) * 16777619u;
  return h;
}

static int f_reserve(void *m, int32_t slot, uint32_t n) {
  fake *f = m;
  if (slot < 0 || slot >= MAXSLOTS || n > NCTX) return ECO_EINVAL;
  if (f->fail_reserve_after >= 0 && f->reserves >= f->fail_reserve_after) return ECO_ENOMEM;
  f->reserves++;
  f->kv[slot] = calloc(NCTX, sizeof(int32_t));
  return f->kv[slot] ? 0 : ECO_ENOMEM;
}

static void f_release(void *m, int32_t slot) {
  fake *f = m;
  free(f->kv[slot]);
  f->kv[slot] = NULL;
}

static int f_forward(void *m, const eco_sched_item *items, uint32_t n, const int32_t *tokens,
                     float *logits) {
  fake *f = m;
  f->forwards++;
  if (n > f->max_items_seen) f->max_items_seen = n;
  uint32_t row = 0;
  for (uint32_t i = 0; i < n; i++) {
    int32_t *kv = f->kv[items[i].slot];
    if (!kv) return ECO_EINTERNAL; /* forward on a slot without KV: engine bug */
    memcpy(kv + items[i].pos, tokens, items[i].n_tokens * sizeof *tokens);
    tokens += items[i].n_tokens;
    if (!items[i].wants_logits) continue;
    float *lg = logits + (size_t)row++ * VOCAB;
    uint32_t next = hash_tokens(kv, items[i].pos + items[i].n_tokens) % VOCAB;
    for (int v = 0; v < VOCAB; v++)
      lg[v] = v == (int)next ? 1.0f : 0.0f;
  }
  return 0;
}

static void *f_sampler_new(void *m, const eco_gen_params *p, const int32_t *prompt, size_t n) {
  (void)p;
  (void)prompt;
  (void)n;
  return m; /* greedy needs no state */
}

static void f_sampler_free(void *m, void *s) {
  (void)m;
  (void)s;
}

static int32_t f_sample(void *m, void *sampler, float *logits) {
  (void)m;
  (void)sampler;
  int32_t best = 0;
  for (int v = 1; v < VOCAB; v++)
    if (logits[v] > logits[best]) best = v;
  return best;
}

static const eco_engine_model_ops ops = {.n_vocab = VOCAB,
                                         .n_ctx = NCTX,
                                         .kv_bytes_per_token = 10,
                                         .kv_reserve = f_reserve,
                                         .kv_release = f_release,
                                         .forward = f_forward,
                                         .sampler_new = f_sampler_new,
                                         .sampler_free = f_sampler_free,
                                         .sample = f_sample};

/* The fake with a prefix cache: a block is its tokens. */
static int f_save(void *m, int32_t slot, uint32_t pos, uint32_t n, void *dst) {
  fake *f = m;
  if (!f->kv[slot] || pos + n > NCTX) return ECO_EINVAL;
  memcpy(dst, f->kv[slot] + pos, n * sizeof(int32_t));
  return 0;
}

static int f_load(void *m, int32_t slot, uint32_t pos, uint32_t n, const void *src) {
  fake *f = m;
  if (!f->kv[slot] || pos + n > NCTX) return ECO_EINVAL;
  memcpy(f->kv[slot] + pos, src, n * sizeof(int32_t));
  return 0;
}

/* What an unbatched engine would produce. */
static void reference(const int32_t *prompt, uint32_t np, uint32_t n_new, int32_t *out) {
  int32_t hist[NCTX];
  memcpy(hist, prompt, np * sizeof *prompt);
  for (uint32_t k = 0; k < n_new; k++) {
    out[k] = (int32_t)(hash_tokens(hist, np + k) % VOCAB);
    hist[np + k] = out[k];
  }
}

typedef struct sink {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int32_t toks[32][NCTX];
  uint32_t n[32];
  bool done[32];
  eco_gen_stats st[32];
  int n_done;
} sink;

typedef struct ctx {
  sink *s;
  int idx;
} ctx;

static void on_token(void *user, uint64_t id, int32_t token, const char *text, size_t len,
                     bool done, const eco_gen_stats *st) {
  (void)id;
  (void)text;
  (void)len;
  ctx *c = user;
  sink *s = c->s;
  pthread_mutex_lock(&s->mu);
  if (token >= 0) s->toks[c->idx][s->n[c->idx]++] = token;
  if (done) {
    s->done[c->idx] = true;
    s->st[c->idx] = *st;
    s->n_done++;
    pthread_cond_broadcast(&s->cv);
  }
  pthread_mutex_unlock(&s->mu);
}

static void wait_done(sink *s, int n) {
  pthread_mutex_lock(&s->mu);
  double until = eco_time_wall_s() + 20;
  while (s->n_done < n && eco_time_wall_s() < until) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 50000000;
    if (ts.tv_nsec >= 1000000000) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&s->cv, &s->mu, &ts);
  }
  int got = s->n_done;
  pthread_mutex_unlock(&s->mu);
  assert_int_equal(got, n);
}

static void sink_init(sink *s) {
  memset(s, 0, sizeof *s);
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
}

static eco_engine_cfg cfg(uint32_t batch, uint32_t queue, uint64_t budget, uint32_t chunk) {
  eco_engine_cfg c;
  memset(&c, 0, sizeof c);
  c.sched.kv_budget_bytes = budget;
  c.sched.max_batch = batch;
  c.sched.max_queue = queue;
  c.sched.prefill_chunk = chunk;
  c.sched.step_tokens = 64;
  return c;
}

/* Blocks the engine in the first callback until released, so the test can
 * cancel while a request is running. */
typedef struct gate {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool entered, open;
  sink *s;
} gate;

static void gated_token(void *user, uint64_t id, int32_t token, const char *text, size_t len,
                        bool done, const eco_gen_stats *st) {
  gate *g = user;
  pthread_mutex_lock(&g->mu);
  g->entered = true;
  pthread_cond_broadcast(&g->cv);
  while (!g->open)
    pthread_cond_wait(&g->cv, &g->mu);
  pthread_mutex_unlock(&g->mu);
  ctx c = {g->s, 0};
  on_token(&c, id, token, text, len, done, st);
}

static void test_batched_equals_unbatched(void **state) {
  (void)state;
  fake f = {.fail_reserve_after = -1};
  eco_engine_cfg c = cfg(4, 16, 1000000, 5);
  eco_engine *b;
  assert_int_equal(eco_engine_new(&ops, &f, NULL, &c, NULL, &b, NULL), 0);
  sink s;
  sink_init(&s);
  ctx cx[10];
  int32_t prompts[10][40];
  uint32_t np[10], nn[10];
  /* Request 0's first callback holds the engine until all ten are queued,
   * so that the rest must share steps (deterministically). */
  gate g = {.s = &s};
  pthread_mutex_init(&g.mu, NULL);
  pthread_cond_init(&g.cv, NULL);
  for (int i = 0; i < 10; i++) {
    np[i] = 3 + (uint32_t)(i * 7) % 30; /* 3..32 tokens: several prefill chunks */
    nn[i] = 5 + (uint32_t)(i * 3) % 12;
    for (uint32_t k = 0; k < np[i]; k++)
      prompts[i][k] = (int32_t)((i * 31 + k * 17) % VOCAB);
    cx[i] = (ctx){&s, i};
    eco_gen_params p;
    eco_gen_params_default(&p);
    p.max_tokens = nn[i];
    uint64_t id;
    if (i == 0)
      assert_int_equal(eco_engine_submit(b, prompts[i], np[i], &p, gated_token, &g, &id), 0);
    else
      assert_int_equal(eco_engine_submit(b, prompts[i], np[i], &p, on_token, &cx[i], &id), 0);
  }
  pthread_mutex_lock(&g.mu);
  g.open = true;
  pthread_cond_broadcast(&g.cv);
  pthread_mutex_unlock(&g.mu);
  wait_done(&s, 10);
  for (int i = 0; i < 10; i++) {
    int32_t ref[64];
    reference(prompts[i], np[i], nn[i], ref);
    assert_int_equal(s.n[i], nn[i]);
    assert_memory_equal(s.toks[i], ref, nn[i] * sizeof(int32_t));
    assert_int_equal(s.st[i].finish, ECO_FINISH_LENGTH);
    assert_int_equal(s.st[i].generated_tokens, nn[i]);
    assert_true(s.st[i].ttft_s >= s.st[i].queue_s);
    assert_true(s.st[i].engine_busy_s > 0);
  }
  assert_true(f.max_items_seen > 1); /* sequences really shared steps */
  assert_true(f.max_items_seen <= 4);
  eco_engine_usage u;
  eco_engine_usage_get(b, &u);
  assert_int_equal(u.sched.kv_reserved, 0);
  assert_int_equal(u.sched.active, 0);
  eco_engine_free(b);
  for (int i = 0; i < MAXSLOTS; i++)
    assert_null(f.kv[i]); /* every slot released */
}

/* Prefix reuse with a KV budget that cannot hold every prefix: outputs
 * still equal the reference (the fake's next token hashes every position
 * of its slot, so a wrong block would show), blocks are evicted, and the
 * cache plus the reservations never exceed the budget. */
typedef struct budget_watch {
  eco_engine *e;
  sink *s;
  int idx;
  uint64_t worst; /* max of cache + reserved seen from callbacks */
} budget_watch;

static void watched_token(void *user, uint64_t id, int32_t token, const char *text, size_t len,
                          bool done, const eco_gen_stats *st) {
  budget_watch *w = user;
  eco_engine_usage u;
  eco_engine_usage_get(w->e, &u);
  if (u.prefix_bytes + u.sched.kv_reserved > w->worst)
    w->worst = u.prefix_bytes + u.sched.kv_reserved;
  ctx c = {w->s, w->idx};
  on_token(&c, id, token, text, len, done, st);
}

static void test_prefix_reuse_under_a_tight_budget(void **state) {
  (void)state;
  fake f = {.fail_reserve_after = -1};
  eco_engine_model_ops po = ops;
  po.kv_save = f_save;
  po.kv_load = f_load;
  /* 2 slots of (36 + 6) positions x 10 bytes, and room for 12 blocks more */
  const uint64_t budget = 2 * 42 * 10 + 12 * 40;
  eco_engine_cfg c = cfg(2, 32, budget, 8);
  c.prefix_block = 4;
  eco_engine *b;
  assert_int_equal(eco_engine_new(&po, &f, NULL, &c, NULL, &b, NULL), 0);
  sink s;
  sink_init(&s);
  budget_watch w[24];
  int32_t prompts[24][40];
  for (int i = 0; i < 24; i++) {
    /* three families of shared 24-token prefixes, then 12 own tokens */
    for (uint32_t k = 0; k < 36; k++)
      prompts[i][k] = (int32_t)(k < 24 ? (k * 5 + (uint32_t)(i % 3) * 29) % VOCAB
                                       : (k * 7 + (uint32_t)i * 13) % VOCAB);
    w[i] = (budget_watch){b, &s, i, 0};
    eco_gen_params p;
    eco_gen_params_default(&p);
    p.max_tokens = 6;
    assert_int_equal(eco_engine_submit(b, prompts[i], 36, &p, watched_token, &w[i], NULL), 0);
    if (i % 4 == 3) wait_done(&s, i + 1); /* waves, so later ones find cached blocks */
  }
  wait_done(&s, 24);
  uint64_t worst = 0, cached = 0;
  for (int i = 0; i < 24; i++) {
    int32_t ref[8];
    reference(prompts[i], 36, 6, ref);
    assert_memory_equal(s.toks[i], ref, 6 * sizeof(int32_t));
    worst = w[i].worst > worst ? w[i].worst : worst;
    assert_true(s.st[i].cached_tokens % 4 == 0 && s.st[i].cached_tokens <= 35);
    cached += s.st[i].cached_tokens;
  }
  eco_engine_usage u;
  eco_engine_usage_get(b, &u);
  assert_true(worst <= budget);
  assert_true(u.prefix_bytes <= budget);
  assert_true(u.prefix_hits > 0 && u.prefix_misses > 0);
  assert_int_equal(u.prefix_hits + u.prefix_misses, 24);
  assert_int_equal(u.prefix_saved_tokens, cached);
  assert_true(u.prefix_evictions > 0);
  assert_int_equal(u.sched.kv_reserved, 0);
  eco_engine_free(b);
  for (int i = 0; i < MAXSLOTS; i++)
    assert_null(f.kv[i]);
}

/* Held engine: nothing runs until release, then the requests that arrived
 * meanwhile are planned together (their first tokens come from the same
 * step), and a cancel during the hold is still finalized at once. */
static void test_hold_gathers_a_burst(void **state) {
  (void)state;
  fake f = {.fail_reserve_after = -1};
  eco_engine_cfg c = cfg(4, 8, 1000000, 16);
  eco_engine *b;
  assert_int_equal(eco_engine_new(&ops, &f, NULL, &c, NULL, &b, NULL), 0);
  eco_engine_hold(b, true);
  sink s;
  sink_init(&s);
  ctx cx[5];
  int32_t prompt[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  eco_gen_params p;
  eco_gen_params_default(&p);
  p.max_tokens = 6;
  uint64_t ids[5];
  for (int i = 0; i < 5; i++) {
    cx[i] = (ctx){&s, i};
    prompt[0] = i + 1;
    assert_int_equal(eco_engine_submit(b, prompt, 8, &p, on_token, &cx[i], &ids[i]), 0);
  }
  assert_int_equal(eco_engine_cancel(b, ids[4]), 0);
  wait_done(&s, 1); /* the canceled one ends while the engine is held */
  assert_true(s.done[4]);
  assert_int_equal(s.st[4].finish, ECO_FINISH_CANCELED);
  usleep(50000);
  assert_int_equal(f.forwards, 0); /* nothing ran while held */
  eco_engine_hold(b, false);
  wait_done(&s, 5);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(s.n[i], 6);
    assert_true(s.st[i].t_first == s.st[0].t_first); /* one prefill step for all four */
  }
  assert_int_equal(f.max_items_seen, 4);
  eco_engine_free(b);
}

static void test_busy_and_limits(void **state) {
  (void)state;
  fake f = {.fail_reserve_after = -1};
  /* Budget 200 B = 20 positions: one 10 + 10 request at a time. */
  eco_engine_cfg c = cfg(2, 2, 200, 8);
  eco_engine *b;
  assert_int_equal(eco_engine_new(&ops, &f, NULL, &c, NULL, &b, NULL), 0);
  int32_t prompt[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  eco_gen_params p;
  eco_gen_params_default(&p);
  p.max_tokens = 10;
  sink s;
  sink_init(&s);
  ctx cx[8];
  for (int i = 0; i < 8; i++)
    cx[i] = (ctx){&s, i};
  uint64_t id;
  int accepted = 0, busy = 0;
  for (int i = 0; i < 8; i++) {
    int rc = eco_engine_submit(b, prompt, 10, &p, on_token, &cx[accepted], &id);
    if (rc == 0)
      accepted++;
    else if (rc == ECO_EBUSY)
      busy++;
    else
      fail_msg("unexpected %d", rc);
  }
  assert_true(busy > 0); /* the bounded queue said no */
  assert_true(accepted >= 2);
  wait_done(&s, accepted); /* everything accepted completes */
  p.max_tokens = 300;
  assert_int_equal(eco_engine_submit(b, prompt, 10, &p, on_token, &cx[0], &id), ECO_ECONTEXT);
  p.max_tokens = 15; /* 25 positions > 20-position budget: never fits */
  assert_int_equal(eco_engine_submit(b, prompt, 10, &p, on_token, &cx[0], &id), ECO_ENOMEM);
  int32_t bad[1] = {VOCAB + 5};
  p.max_tokens = 2;
  assert_int_equal(eco_engine_submit(b, bad, 1, &p, on_token, &cx[0], &id), ECO_EINVAL);
  eco_engine_free(b);
}

static void test_cancel_frees_slot_at_once(void **state) {
  (void)state;
  fake f = {.fail_reserve_after = -1};
  eco_engine_cfg c = cfg(1, 4, 1000000, 8);
  eco_engine *b;
  assert_int_equal(eco_engine_new(&ops, &f, NULL, &c, NULL, &b, NULL), 0);
  sink s;
  sink_init(&s);
  gate g = {.s = &s};
  pthread_mutex_init(&g.mu, NULL);
  pthread_cond_init(&g.cv, NULL);
  int32_t prompt[4] = {5, 6, 7, 8};
  eco_gen_params p;
  eco_gen_params_default(&p);
  p.max_tokens = 100;
  uint64_t long_id, next_id;
  assert_int_equal(eco_engine_submit(b, prompt, 4, &p, gated_token, &g, &long_id), 0);
  ctx c1 = {&s, 1};
  p.max_tokens = 3;
  assert_int_equal(eco_engine_submit(b, prompt, 4, &p, on_token, &c1, &next_id), 0);
  /* Wait until the long request delivers its first token (it holds the only slot). */
  pthread_mutex_lock(&g.mu);
  while (!g.entered)
    pthread_cond_wait(&g.cv, &g.mu);
  pthread_mutex_unlock(&g.mu);
  eco_engine_usage u;
  eco_engine_usage_get(b, &u);
  assert_int_equal(u.sched.active, 1);
  assert_int_equal(u.sched.queued, 1);
  assert_int_equal(eco_engine_cancel(b, long_id), 0);
  eco_engine_usage_get(b, &u); /* freed at once, before the engine runs again */
  assert_int_equal(u.sched.active, 0);
  assert_int_equal(u.sched.kv_reserved, 0);
  assert_int_equal(eco_engine_cancel(b, long_id), ECO_ENOENT);
  pthread_mutex_lock(&g.mu);
  g.open = true;
  pthread_cond_broadcast(&g.cv);
  pthread_mutex_unlock(&g.mu);
  wait_done(&s, 2);
  assert_int_equal(s.st[0].finish, ECO_FINISH_CANCELED);
  assert_true(s.n[0] < 100);
  assert_int_equal(s.st[1].finish, ECO_FINISH_LENGTH);
  assert_int_equal(s.n[1], 3);
  eco_gen_stats st;
  assert_int_equal(eco_engine_stats(b, next_id, &st), 0);
  assert_int_equal(st.generated_tokens, 3);
  assert_int_equal(eco_engine_forget(b, next_id), 0);
  assert_int_equal(eco_engine_stats(b, next_id, &st), ECO_ENOENT);
  eco_engine_free(b);
}

static void test_kv_allocation_failure_is_an_error_not_a_crash(void **state) {
  (void)state;
  fake f = {.fail_reserve_after = 1}; /* the second reservation fails */
  eco_engine_cfg c = cfg(1, 4, 1000000, 8);
  eco_engine *b;
  assert_int_equal(eco_engine_new(&ops, &f, NULL, &c, NULL, &b, NULL), 0);
  sink s;
  sink_init(&s);
  ctx cx[3] = {{&s, 0}, {&s, 1}, {&s, 2}};
  int32_t prompt[3] = {1, 2, 3};
  eco_gen_params p;
  eco_gen_params_default(&p);
  p.max_tokens = 4;
  for (int i = 0; i < 3; i++)
    assert_int_equal(eco_engine_submit(b, prompt, 3, &p, on_token, &cx[i], NULL), 0);
  wait_done(&s, 3);
  assert_int_equal(s.st[0].finish, ECO_FINISH_LENGTH);
  assert_int_equal(s.st[1].finish, ECO_FINISH_ERROR);
  assert_int_equal(s.st[1].error, ECO_ENOMEM);
  assert_int_equal(s.st[2].finish, ECO_FINISH_ERROR); /* every later reserve fails too */
  eco_engine_free(b);
}

static void test_shutdown_cancels_pending(void **state) {
  (void)state;
  fake f = {.fail_reserve_after = -1};
  eco_engine_cfg c = cfg(1, 8, 1000000, 8);
  eco_engine *b;
  assert_int_equal(eco_engine_new(&ops, &f, NULL, &c, NULL, &b, NULL), 0);
  sink s;
  sink_init(&s);
  ctx cx[5];
  int32_t prompt[2] = {1, 2};
  eco_gen_params p;
  eco_gen_params_default(&p);
  p.max_tokens = 200;
  for (int i = 0; i < 5; i++) {
    cx[i] = (ctx){&s, i};
    assert_int_equal(eco_engine_submit(b, prompt, 2, &p, on_token, &cx[i], NULL), 0);
  }
  eco_engine_free(b); /* every request gets exactly one final callback */
  assert_int_equal(s.n_done, 5);
}

static void test_bench_harness_with_fake_model(void **state) {
  (void)state;
  fake f = {.fail_reserve_after = -1};
  uint32_t sizes[] = {1, 2, 4};
  eco_bench_batch_cfg c = {.sizes = sizes, .n_sizes = 3, .prompt_tokens = 8, .gen_tokens = 6};
  eco_bench_batch_point pts[3];
  eco_error err = {0};
  assert_int_equal(eco_bench_batch_run(&ops, &f, &c, pts, &err), 0);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(pts[i].batch, sizes[i]);
    assert_int_equal(pts[i].generated, sizes[i] * 6); /* EOS ignored: exactly gen_tokens each */
    assert_true(pts[i].agg_tok_s > 0);
    assert_true(pts[i].j_per_tok < 0); /* no meter given: no energy figure invented */
    assert_true(pts[i].peak_rss > 0);
  }
  assert_true(f.max_items_seen >= 4); /* batch 4 really ran 4 sequences per step */
  c.gen_tokens = NCTX;
  assert_int_equal(eco_bench_batch_run(&ops, &f, &c, pts, &err), ECO_ECONTEXT);
}

static void test_knee_and_reports(void **state) {
  (void)state;
  /* Cost per token falls steeply to batch 4, then flattens: knee at 4. */
  double cost[] = {10.0, 5.2, 2.8, 2.5, 2.4};
  uint32_t b[] = {1, 2, 4, 8, 16};
  eco_bench_batch_point pts[5];
  memset(pts, 0, sizeof pts);
  for (int i = 0; i < 5; i++) {
    pts[i].batch = b[i];
    pts[i].cpu_per_tok_s = cost[i] / 1000;
    pts[i].agg_tok_s = 100.0 / cost[i];
    pts[i].j_per_tok = -1;
    pts[i].energy_j = -1;
  }
  assert_int_equal(eco_bench_knee(pts, 5), 2);
  /* Energy, when measured, takes precedence over CPU time. */
  double joules[] = {4.0, 3.9, 3.8, 1.0, 0.9}; /* knee moves to 8 */
  for (int i = 0; i < 5; i++)
    pts[i].j_per_tok = joules[i];
  assert_int_equal(eco_bench_knee(pts, 5), 3);
  assert_int_equal(eco_bench_knee(pts, 2), -1);
  /* A straight line has no knee. */
  for (int i = 0; i < 5; i++)
    pts[i].j_per_tok = 5.0 - i;
  assert_int_equal(eco_bench_knee(pts, 5), -1);
  for (int i = 0; i < 5; i++)
    pts[i].j_per_tok = -1;
  eco_strbuf sb;
  eco_sb_init(&sb);
  eco_bench_batch_table(pts, 5, 2, &sb);
  assert_non_null(strstr(eco_sb_str(&sb), "<- knee"));
  assert_non_null(strstr(eco_sb_str(&sb), "knee: batch 4"));
  eco_sb_reset(&sb);
  eco_bench_batch_csv(pts, 5, &sb);
  const char *csv = eco_sb_str(&sb);
  int lines = 0;
  for (const char *q = csv; *q; q++)
    lines += *q == '\n';
  assert_int_equal(lines, 6);
  assert_non_null(strstr(csv, "\n4,"));
  eco_sb_reset(&sb);
  eco_bench_batch_svg(pts, 5, 2, "t", &sb);
  assert_non_null(strstr(eco_sb_str(&sb), "<svg"));
  assert_non_null(strstr(eco_sb_str(&sb), "knee: batch 4"));
  assert_non_null(strstr(eco_sb_str(&sb), "</svg>"));
  eco_sb_free(&sb);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_batched_equals_unbatched),
      cmocka_unit_test(test_prefix_reuse_under_a_tight_budget),
      cmocka_unit_test(test_busy_and_limits),
      cmocka_unit_test(test_hold_gathers_a_burst),
      cmocka_unit_test(test_cancel_frees_slot_at_once),
      cmocka_unit_test(test_kv_allocation_failure_is_an_error_not_a_crash),
      cmocka_unit_test(test_shutdown_cancels_pending),
      cmocka_unit_test(test_bench_harness_with_fake_model),
      cmocka_unit_test(test_knee_and_reports),
  };
  return cmocka_run_group_tests_name("batch", tests, NULL, NULL);
}
