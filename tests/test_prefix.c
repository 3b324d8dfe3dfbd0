/* The engine's prefix cache: the block index itself (engine/prefix.h), the
 * KV block copies (eco_kv_copy_out/in), and exactness on real models
 * (../shared): greedy outputs with prefix reuse equal those without, for
 * shared system prefixes, repeated prompts and a conversation's next turn,
 * on every weight type and both KV cache types. */
#include "testutil.h"

#include "engine/engine.h"
#include "engine/engine_model.h"
#include "engine/prefix.h"

#include <pthread.h>

/* ---- the index ------------------------------------------------------------- */

typedef struct fill_log {
  int calls;
  uint32_t last_pos;
  int fail_at; /* call index that fails, -1 never */
} fill_log;

/* block data (8 bytes: every test's block_bytes is >= 8) = its first
 * position then its length, so a test can tell which positions a block
 * was filled from */
static int fill_fn(void *ctx, uint32_t pos, uint32_t n, void *dst) {
  fill_log *f = ctx;
  if (f->calls++ == f->fail_at) return ECO_EIO;
  f->last_pos = pos;
  memcpy(dst, &pos, 4);
  memcpy((uint8_t *)dst + 4, &n, 4);
  return 0;
}

static uint32_t data_pos(const eco_prefix_block *b) {
  uint32_t p;
  memcpy(&p, eco_prefix_block_data(b), 4);
  return p;
}

static void test_match_insert_and_keys(void **state) {
  (void)state;
  eco_prefix *p;
  assert_int_equal(eco_prefix_new(0, 8, &p), ECO_EINVAL);
  assert_int_equal(eco_prefix_new(4, 0, &p), ECO_EINVAL);
  assert_int_equal(eco_prefix_new(4, 8, &p), 0);
  int32_t a[16], b[16];
  for (int i = 0; i < 16; i++)
    a[i] = b[i] = i + 100;
  b[9] = 7; /* b shares a's first two blocks, differs in the third */
  fill_log f = {0, 0, -1};
  eco_prefix_block *got[4];
  assert_int_equal(eco_prefix_match(p, a, 16, 4, got), 0);
  assert_int_equal(eco_prefix_insert(p, a, 4, 1000, fill_fn, &f), 4);
  assert_int_equal(f.calls, 4);
  /* a again: nothing new is filled, every block is found */
  assert_int_equal(eco_prefix_insert(p, a, 4, 1000, fill_fn, &f), 4);
  assert_int_equal(f.calls, 4);
  assert_int_equal(eco_prefix_match(p, a, 16, 4, got), 4);
  for (uint32_t i = 0; i < 4; i++)
    assert_int_equal(data_pos(got[i]), 4 * i);
  eco_prefix_unpin(p, got, 4);
  /* whole blocks only, and no more than asked */
  assert_int_equal(eco_prefix_match(p, a, 11, 4, got), 2);
  eco_prefix_unpin(p, got, 2);
  assert_int_equal(eco_prefix_match(p, a, 16, 3, got), 3);
  eco_prefix_unpin(p, got, 3);
  /* b: the shared blocks, not a's third block */
  assert_int_equal(eco_prefix_match(p, b, 16, 4, got), 2);
  eco_prefix_unpin(p, got, 2);
  /* the same tokens after another prefix are another block */
  int32_t c[8];
  memcpy(c, a + 4, 4 * sizeof *c); /* a's second block as a first block */
  memcpy(c + 4, a + 8, 4 * sizeof *c);
  assert_int_equal(eco_prefix_match(p, c, 8, 2, got), 0);
  eco_prefix_usage u;
  eco_prefix_usage_get(p, &u);
  assert_int_equal(u.blocks, 4);
  assert_int_equal(u.bytes, 32);
  assert_int_equal(u.inserted, 4);
  assert_int_equal(u.evictions, 0);
  eco_prefix_free(p);
}

static void test_lru_leaves_pins_and_room(void **state) {
  (void)state;
  eco_prefix *p;
  assert_int_equal(eco_prefix_new(2, 10, &p), 0);
  fill_log f = {0, 0, -1};
  int32_t a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {7, 8, 9, 10, 11, 12};
  assert_int_equal(eco_prefix_insert(p, a, 3, 100, fill_fn, &f), 3); /* 30 bytes */
  assert_int_equal(eco_prefix_insert(p, b, 3, 100, fill_fn, &f), 3); /* 60 */
  eco_prefix_block *got[3];
  /* a is used again: b is now the least recently used chain */
  assert_int_equal(eco_prefix_match(p, a, 6, 3, got), 3);
  eco_prefix_unpin(p, got, 3);
  /* evicting one block takes b's leaf (never a parent before its child) */
  assert_int_equal(eco_prefix_evict(p, 50), 50);
  assert_int_equal(eco_prefix_match(p, b, 6, 3, got), 2);
  eco_prefix_unpin(p, got, 2);
  assert_int_equal(eco_prefix_match(p, a, 6, 3, got), 3);
  /* a is pinned: evicting everything leaves exactly a */
  assert_int_equal(eco_prefix_evict(p, 0), 30);
  eco_prefix_unpin(p, got, 3);
  assert_int_equal(eco_prefix_evict(p, 0), 0);
  eco_prefix_usage u;
  eco_prefix_usage_get(p, &u);
  assert_int_equal(u.blocks, 0);
  assert_int_equal(u.evictions, 6);
  /* room: an insert evicts older blocks, and stops when nothing more fits */
  assert_int_equal(eco_prefix_insert(p, a, 3, 30, fill_fn, &f), 3);
  assert_int_equal(eco_prefix_insert(p, b, 3, 30, fill_fn, &f), 3); /* a's 3 blocks evicted */
  assert_int_equal(eco_prefix_match(p, a, 6, 3, got), 0);
  /* room for one block: b goes, a's first block comes, its second cannot
   * evict the first (its own path) */
  assert_int_equal(eco_prefix_insert(p, a, 3, 15, fill_fn, &f), 1);
  eco_prefix_usage_get(p, &u);
  assert_true(u.bytes <= 30);
  /* an insert never evicts its own path: with room for 2 blocks, 2 of 3 */
  assert_int_equal(eco_prefix_evict(p, 0), 0);
  assert_int_equal(eco_prefix_insert(p, a, 3, 20, fill_fn, &f), 2);
  /* a failing fill stops there; what was cached stays */
  f.fail_at = f.calls;
  assert_int_equal(eco_prefix_insert(p, a, 3, 100, fill_fn, &f), 2);
  f.fail_at = -1;
  assert_int_equal(eco_prefix_match(p, a, 6, 3, got), 2);
  eco_prefix_unpin(p, got, 2);
  eco_prefix_free(p);
}

static void test_many_blocks_grow_the_table(void **state) {
  (void)state;
  eco_prefix *p;
  assert_int_equal(eco_prefix_new(1, 8, &p), 0); /* fill_fn writes 8 bytes */
  fill_log f = {0, 0, -1};
  int32_t t[600];
  for (int i = 0; i < 600; i++)
    t[i] = i % 7;
  assert_int_equal(eco_prefix_insert(p, t, 600, 1u << 20, fill_fn, &f), 600);
  eco_prefix_block **got = calloc(600, sizeof *got);
  assert_int_equal(eco_prefix_match(p, t, 600, 600, got), 600);
  for (uint32_t i = 0; i < 600; i++)
    assert_int_equal(data_pos(got[i]), i);
  eco_prefix_unpin(p, got, 600);
  free(got);
  eco_prefix_free(p);
}

/* ---- KV block copies --------------------------------------------------------- */

static void test_kv_copy_roundtrip(void **state) {
  (void)state;
  char *mp;
  ECO_TEST_NEED_SHARED("models/test-llama-tok512-f32.gguf", &mp);
  eco_error err = {0};
  eco_model *m;
  if (eco_model_load(mp, &m, &err)) fail_msg("%s", err.msg);
  for (int f16 = 0; f16 <= 1; f16++) {
    const eco_ggml_type t = f16 ? ECO_GGML_F16 : ECO_GGML_F32;
    eco_kv *a, *b;
    assert_int_equal(eco_kv_new_type(m, 40, t, &a, &err), 0);
    assert_int_equal(eco_kv_new_type(m, 40, t, &b, &err), 0);
    eco_ctx *c;
    assert_int_equal(eco_ctx_new(m, 1, 16, &c, &err), 0);
    int32_t toks[24];
    for (int i = 0; i < 24; i++)
      toks[i] = (i * 37 + 3) % 512;
    assert_int_equal(eco_forward_seq(c, a, toks, 24, NULL, &err), 0);
    const size_t bb = (size_t)eco_kv_bytes_type(m, 8, t);
    uint8_t *blk = malloc(bb);
    assert_int_equal(eco_kv_copy_out(a, 20, 8, blk), ECO_EINVAL); /* past n_past */
    assert_int_equal(eco_kv_copy_in(b, 8, 8, blk), ECO_EINVAL);   /* would leave a gap */
    for (int pos = 0; pos < 24; pos += 8) {
      assert_int_equal(eco_kv_copy_out(a, pos, 8, blk), 0);
      assert_int_equal(eco_kv_copy_in(b, pos, 8, blk), 0);
    }
    assert_int_equal(b->n_past, 24);
    const size_t es = f16 ? 2 : 4;
    /* every (layer, head) run of 24 positions equal; the rest untouched */
    const size_t hd = (size_t)(a->kv_dim / a->n_head_kv), runs = (size_t)a->n_layer * a->n_head_kv;
    for (size_t r = 0; r < runs; r++) {
      const size_t off = r * 40 * hd * es;
      assert_memory_equal((uint8_t *)a->k + off, (uint8_t *)b->k + off, 24 * hd * es);
      assert_memory_equal((uint8_t *)a->v + off, (uint8_t *)b->v + off, 24 * hd * es);
    }
    free(blk);
    eco_ctx_free(c);
    eco_kv_free(a);
    eco_kv_free(b);
  }
  eco_model_free(m);
  free(mp);
}

/* ---- exactness through the engine --------------------------------------------- */

#define NREQ 10
#define NGEN 24

typedef struct outs {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int32_t toks[NREQ][NGEN];
  int n[NREQ];
  uint32_t cached[NREQ];
  int done;
} outs;

typedef struct tag {
  outs *o;
  int i;
} tag;

static void on_tok(void *user, uint64_t id, int32_t token, const char *text, size_t len, bool done,
                   const eco_gen_stats *st) {
  (void)id;
  (void)text;
  (void)len;
  tag *t = user;
  pthread_mutex_lock(&t->o->mu);
  if (token >= 0 && t->o->n[t->i] < NGEN) t->o->toks[t->i][t->o->n[t->i]++] = token;
  if (done) {
    t->o->cached[t->i] = st->cached_tokens;
    t->o->done++;
    pthread_cond_broadcast(&t->o->cv);
  }
  pthread_mutex_unlock(&t->o->mu);
}

typedef struct prompts {
  int32_t ids[NREQ][200];
  uint32_t n[NREQ];
} prompts;

/* Runs the prompts in waves (wave w starts when w-1 finished, so later
 * waves find what earlier ones cached; a wave's own requests run batched);
 * a prompt whose n is 0 is request i-1's prompt + its generated tokens +
 * 5 more tokens (a conversation's next turn). */
static void run_waves(const eco_model *m, eco_ggml_type kv_type, uint32_t block, prompts *pr,
                      const int *wave_end, int n_waves, outs *o, eco_engine_usage *u) {
  eco_error err = {0};
  eco_engine_cfg cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.sched.kv_budget_bytes = 1ull << 30;
  cfg.sched.max_batch = 4;
  cfg.sched.max_queue = NREQ;
  cfg.sched.prefill_chunk = 24; /* prompts span several chunks */
  cfg.sched.step_tokens = 24 * 4 + 4;
  cfg.prefix_block = block;
  eco_engine_model *em;
  if (eco_engine_model_new(m, 2, 4, cfg.sched.step_tokens, &em, &err)) fail_msg("%s", err.msg);
  assert_int_equal(eco_engine_model_set_kv_type(em, kv_type), 0);
  eco_engine_model_ops ops;
  eco_engine_model_ops_fill(em, 512, &ops);
  eco_engine *e;
  if (eco_engine_new(&ops, em, NULL, &cfg, NULL, &e, &err)) fail_msg("%s", err.msg);
  memset(o, 0, sizeof *o);
  pthread_mutex_init(&o->mu, NULL);
  pthread_cond_init(&o->cv, NULL);
  tag tags[NREQ];
  int i = 0;
  for (int w = 0; w < n_waves; w++) {
    for (; i < wave_end[w]; i++) {
      if (pr->n[i] == 0) { /* next turn of request i-1 */
        uint32_t n = pr->n[i - 1];
        memcpy(pr->ids[i], pr->ids[i - 1], n * sizeof(int32_t));
        memcpy(pr->ids[i] + n, o->toks[i - 1], NGEN * sizeof(int32_t));
        for (int k = 0; k < 5; k++)
          pr->ids[i][n + NGEN + k] = (int32_t)((i * 11 + k * 5 + 9) % 256 + 3);
        pr->n[i] = n + NGEN + 5;
      }
      eco_gen_params gp;
      eco_gen_params_default(&gp);
      gp.temperature = 0;
      gp.ignore_eos = true;
      gp.max_tokens = NGEN;
      tags[i] = (tag){o, i};
      assert_int_equal(eco_engine_submit(e, pr->ids[i], pr->n[i], &gp, on_tok, &tags[i], NULL), 0);
    }
    pthread_mutex_lock(&o->mu);
    while (o->done < wave_end[w])
      pthread_cond_wait(&o->cv, &o->mu);
    pthread_mutex_unlock(&o->mu);
  }
  eco_engine_usage_get(e, u);
  eco_engine_free(e);
  eco_engine_model_free(em);
  pthread_mutex_destroy(&o->mu);
  pthread_cond_destroy(&o->cv);
}

static void check_exact(const char *rel, eco_ggml_type kv_type) {
  char *mp;
  ECO_TEST_NEED_SHARED(rel, &mp);
  eco_error err = {0};
  eco_model *m;
  if (eco_model_load(mp, &m, &err)) fail_msg("%s", err.msg);
  const int V = m->hp.n_vocab < 256 ? m->hp.n_vocab : 256;
  /* 0..3: a 70-token system prefix + distinct turns (0 and 3: the prefix
   * alone); 4: a repeat of 0; 5: 4's next turn; 6..8: distinct prompts; 9:
   * the system prefix cut inside a block */
  prompts pr;
  memset(&pr, 0, sizeof pr);
  for (int i = 0; i < NREQ; i++) {
    const bool shared = i <= 3 || i == 9;
    const uint32_t n = i == 9 ? 45 : 70 + (uint32_t)(i % 3) * 9;
    for (uint32_t k = 0; k < n; k++)
      pr.ids[i][k] =
          (int32_t)(shared && k < 70 ? (k * 31 + 7) % V + 1 : (k * 13 + (uint32_t)i * 101) % V + 1);
    pr.n[i] = n;
  }
  memcpy(pr.ids[4], pr.ids[0], sizeof pr.ids[0]);
  pr.n[4] = pr.n[0];
  pr.n[5] = 0;
  prompts base = pr;
  const int waves[] = {1, 4, 5, 6, 10};
  outs ref, got;
  eco_engine_usage ur, ug;
  run_waves(m, kv_type, 0, &base, waves, 5, &ref, &ur);
  run_waves(m, kv_type, 16, &pr, waves, 5, &got, &ug);
  for (int i = 0; i < NREQ; i++) {
    assert_int_equal(ref.n[i], NGEN);
    assert_int_equal(got.n[i], NGEN);
    for (int k = 0; k < NGEN; k++)
      if (ref.toks[i][k] != got.toks[i][k])
        fail_msg("%s kv %s request %d token %d: %d with prefix reuse, %d without", rel,
                 eco_ggml_type_name(kv_type), i, k, got.toks[i][k], ref.toks[i][k]);
  }
  /* what was reused: 1..3 and 9 the system blocks, 4 all but the last
   * block, 5 the previous turn */
  assert_int_equal(ur.prefix_hits + ur.prefix_misses, 0);
  assert_int_equal(got.cached[0], 0);
  for (int i = 1; i <= 3; i++)
    assert_int_equal(got.cached[i], 64);
  assert_int_equal(got.cached[4], 64);
  assert_int_equal(got.cached[5], (pr.n[4] + NGEN - 1) / 16 * 16);
  assert_int_equal(got.cached[9], 32);
  for (int i = 6; i <= 8; i++)
    assert_int_equal(got.cached[i], 0);
  assert_int_equal(ug.prefix_hits, 6);
  assert_int_equal(ug.prefix_misses, 4);
  uint64_t saved = 0;
  for (int i = 0; i < NREQ; i++)
    saved += got.cached[i];
  assert_int_equal(ug.prefix_saved_tokens, saved);
  assert_true(ug.prefix_blocks > 0 && ug.prefix_bytes > 0);
  print_message("%s kv %s: %llu prompt tokens reused, %llu blocks cached\n", rel,
                eco_ggml_type_name(kv_type), (unsigned long long)saved,
                (unsigned long long)ug.prefix_blocks);
  eco_model_free(m);
  free(mp);
}

static void test_exact_stories(void **state) {
  (void)state;
  check_exact("models/stories260K-f32.gguf", ECO_GGML_F32);
}
static void test_exact_tok512_types(void **state) {
  (void)state;
  const char *files[] = {"f32", "f16", "q8_0", "q4_0", "q4_k", "q6_k"};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    char rel[96];
    snprintf(rel, sizeof rel, "models/test-llama-tok512-%s.gguf", files[i]);
    check_exact(rel, ECO_GGML_F32);
  }
  check_exact("models/test-llama-tok512-q8_0.gguf", ECO_GGML_F16);
}
static void test_exact_smollm2_qwen2(void **state) {
  (void)state;
  check_exact("models/test-smollm2-2layer-q8_0.gguf", ECO_GGML_F32);
  check_exact("models/test-qwen2-gpt2vocab-q8_0.gguf", ECO_GGML_F16);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_match_insert_and_keys),
      cmocka_unit_test(test_lru_leaves_pins_and_room),
      cmocka_unit_test(test_many_blocks_grow_the_table),
      cmocka_unit_test(test_kv_copy_roundtrip),
      cmocka_unit_test(test_exact_stories),
      cmocka_unit_test(test_exact_tok512_types),
      cmocka_unit_test(test_exact_smollm2_qwen2),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
