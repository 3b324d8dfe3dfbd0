/* Models with bad numbers (issue 19): hyperparameters that are NaN,
 * infinite or out of range are refused at load with the GGUF key named; a
 * NaN weight makes the requests that reach it fail with ECO_ENUMERIC while
 * the other requests of the same batch complete, and the engine counts
 * them. The broken files are made from stories260K (../shared) by
 * tests/helpers/gguf_edit. */
#include "testutil.h"

#include "engine/engine.h"
#include "engine/engine_model.h"
#include "engine/model.h"
#include "gguf_edit.h"

#include <math.h>
#include <pthread.h>

#define MODEL   "models/stories260K-f32.gguf"
#define N_EMBD  64 /* stories260K: token_embd is [512][64] */
#define BAD_TOK 200

typedef struct bad_case {
  eco_test_gguf_edit edit;
  const char *key_in_message;
} bad_case;

static void expect_refused(const char *model, const char *dir, const bad_case *c) {
  char *p = eco_test_path(dir, "bad.gguf");
  assert_int_equal(eco_test_gguf_edit_copy(model, p, &c->edit, 1), 0);
  eco_model *m = NULL;
  eco_error err = {0};
  int rc = eco_model_load(p, &m, &err);
  if (rc == 0) fail_msg("%s = %g was accepted", c->edit.name, c->edit.value);
  assert_int_equal(rc, ECO_EFORMAT);
  if (!strstr(err.msg, c->key_in_message))
    fail_msg("%s = %g: message does not name '%s': %s", c->edit.name, c->edit.value,
             c->key_in_message, err.msg);
  free(p);
}

static void test_bad_hparams_refused(void **state) {
  (void)state;
  char *model;
  ECO_TEST_NEED_SHARED(MODEL, &model);
  char *dir = eco_test_tmpdir();
#define F32(k, v)                                                                                  \
  { {ECO_TEST_EDIT_F32, "llama." k, (v), 0}, "llama." k }
#define U32(k, v)                                                                                  \
  { {ECO_TEST_EDIT_U32, "llama." k, (v), 0}, "llama." k }
#define I32(k, v)                                                                                  \
  { {ECO_TEST_EDIT_I32, "llama." k, (v), 0}, "llama." k }
  const bad_case cases[] = {
      F32("attention.layer_norm_rms_epsilon", NAN),
      F32("attention.layer_norm_rms_epsilon", -1),
      F32("attention.layer_norm_rms_epsilon", 0),
      F32("attention.layer_norm_rms_epsilon", INFINITY),
      F32("rope.freq_base", NAN), /* absent in the file: added */
      F32("rope.freq_base", 0),
      F32("rope.freq_base", -10000),
      F32("rope.freq_base", INFINITY),
      F32("rope.scaling.factor", -2),
      F32("rope.scaling.factor", NAN),
      F32("rope.scale_linear", INFINITY),
      U32("attention.head_count", 0),
      U32("attention.head_count_kv", 0),
      U32("attention.head_count_kv", 3), /* 8 heads are not a multiple of 3 */
      U32("embedding_length", 0),
      U32("context_length", 0),
      U32("block_count", 0),
      U32("feed_forward_length", 0),
      U32("rope.dimension_count", 7),
      U32("rope.dimension_count", 0),
      U32("attention.key_length", 0),
      I32("attention.key_length", -8),
  };
#undef F32
#undef U32
#undef I32
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    expect_refused(model, dir, &cases[i]);
  /* the unedited copy loads: the helper itself is sound */
  char *p = eco_test_path(dir, "good.gguf");
  eco_test_gguf_edit none = {ECO_TEST_EDIT_F32, "llama.attention.layer_norm_rms_epsilon", 1e-5, 0};
  assert_int_equal(eco_test_gguf_edit_copy(model, p, &none, 1), 0);
  eco_model *m = NULL;
  eco_error err = {0};
  if (eco_model_load(p, &m, &err)) fail_msg("good copy: %s", err.msg);
  eco_model_free(m);
  free(p);
  eco_test_rmtree(dir);
  free(dir);
  free(model);
}

typedef struct result {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int n_done;
  eco_finish_reason finish[4];
  int error[4];
  uint32_t generated[4];
} result;

typedef struct slot {
  result *r;
  int i;
} slot;

static void on_tok(void *user, uint64_t id, int32_t token, const char *text, size_t len, bool done,
                   const eco_gen_stats *st) {
  (void)id;
  (void)token;
  (void)text;
  (void)len;
  slot *s = user;
  if (!done) return;
  pthread_mutex_lock(&s->r->mu);
  s->r->finish[s->i] = st->finish;
  s->r->error[s->i] = st->error;
  s->r->generated[s->i] = st->generated_tokens;
  s->r->n_done++;
  pthread_cond_broadcast(&s->r->cv);
  pthread_mutex_unlock(&s->r->mu);
}

/* Runs the prompts together (one batch) on a model file; fills r. */
static void run_batch(const char *path, const int32_t *const *prompts, const uint32_t *lens, int n,
                      uint32_t prefix_block, result *r, eco_engine_usage *usage) {
  eco_error err = {0};
  eco_model *m;
  if (eco_model_load(path, &m, &err)) fail_msg("%s", err.msg);
  eco_engine_cfg cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.sched.kv_budget_bytes = 1ull << 30;
  cfg.sched.max_batch = 4;
  cfg.sched.max_queue = 8;
  cfg.sched.prefill_chunk = 64;
  cfg.sched.step_tokens = 64 * 4 + 4;
  cfg.max_requests = 16;
  cfg.prefix_block = prefix_block;
  eco_engine_model *em;
  if (eco_engine_model_new(m, 1, 4, cfg.sched.step_tokens, &em, &err)) fail_msg("%s", err.msg);
  eco_engine_model_ops ops;
  eco_engine_model_ops_fill(em, 128, &ops);
  eco_engine *e;
  if (eco_engine_new(&ops, em, NULL, &cfg, NULL, &e, &err)) fail_msg("%s", err.msg);
  memset(r, 0, sizeof *r);
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->cv, NULL);
  slot sl[4];
  eco_engine_hold(e, true); /* all in one batch */
  for (int i = 0; i < n; i++) {
    eco_gen_params gp;
    eco_gen_params_default(&gp);
    gp.temperature = 0.8f;
    gp.top_k = 40;
    gp.ignore_eos = true;
    gp.max_tokens = 16;
    sl[i] = (slot){r, i};
    assert_int_equal(eco_engine_submit(e, prompts[i], lens[i], &gp, on_tok, &sl[i], NULL), 0);
  }
  eco_engine_hold(e, false);
  pthread_mutex_lock(&r->mu);
  while (r->n_done < n)
    pthread_cond_wait(&r->cv, &r->mu);
  pthread_mutex_unlock(&r->mu);
  eco_engine_usage_get(e, usage);
  eco_engine_free(e);
  eco_engine_model_free(em);
  eco_model_free(m);
  pthread_mutex_destroy(&r->mu);
  pthread_cond_destroy(&r->cv);
}

/* One NaN in the embedding of token BAD_TOK: the request whose prompt holds
 * it fails with ECO_ENUMERIC; the two others, in the same forward passes,
 * generate all their tokens. */
static void test_nan_weight_fails_one_request(void **state) {
  (void)state;
  char *model;
  ECO_TEST_NEED_SHARED(MODEL, &model);
  char *dir = eco_test_tmpdir();
  char *p = eco_test_path(dir, "nan-embd.gguf");
  eco_test_gguf_edit nan_w = {ECO_TEST_EDIT_ELEM, "token_embd.weight", NAN,
                              (uint64_t)BAD_TOK * N_EMBD + 5};
  assert_int_equal(eco_test_gguf_edit_copy(model, p, &nan_w, 1), 0);
  const int32_t a[] = {1, 100, 101, 102}, b[] = {1, 300, BAD_TOK, 301}, c[] = {1, 400, 401};
  const int32_t *prompts[] = {a, b, c};
  const uint32_t lens[] = {4, 4, 3};
  result r;
  eco_engine_usage u;
  run_batch(p, prompts, lens, 3, 0, &r, &u);
  assert_int_equal(r.finish[0], ECO_FINISH_LENGTH);
  assert_int_equal(r.generated[0], 16);
  assert_int_equal(r.finish[1], ECO_FINISH_ERROR);
  assert_int_equal(r.error[1], ECO_ENUMERIC);
  assert_int_equal(r.generated[1], 0);
  assert_int_equal(r.finish[2], ECO_FINISH_LENGTH);
  assert_int_equal(r.generated[2], 16);
  assert_int_equal(u.nonfinite, 1);
  /* with the prefix cache on, the same; and the poisoned prompt's KV is
   * not cached (blocks of 2 tokens: the good prompts leave theirs) */
  const int32_t *bad_only[] = {b};
  run_batch(p, bad_only, &lens[1], 1, 2, &r, &u);
  assert_int_equal(r.finish[0], ECO_FINISH_ERROR);
  assert_int_equal(u.prefix_blocks, 0);
  run_batch(p, prompts, lens, 3, 2, &r, &u);
  assert_int_equal(r.finish[0], ECO_FINISH_LENGTH);
  assert_int_equal(r.finish[1], ECO_FINISH_ERROR);
  assert_int_equal(r.finish[2], ECO_FINISH_LENGTH);
  assert_true(u.prefix_blocks > 0);

  /* a NaN in one row of the output projection: every request fails, the
   * engine survives and says why */
  eco_test_gguf_edit nan_out = {ECO_TEST_EDIT_ELEM, "output.weight", NAN, 7 * N_EMBD};
  assert_int_equal(eco_test_gguf_edit_copy(model, p, &nan_out, 1), 0);
  run_batch(p, prompts, lens, 3, 0, &r, &u);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(r.finish[i], ECO_FINISH_ERROR);
    assert_int_equal(r.error[i], ECO_ENUMERIC);
  }
  assert_int_equal(u.nonfinite, 3);
  assert_non_null(strstr(eco_strerror(ECO_ENUMERIC), "NaN"));
  free(p);
  eco_test_rmtree(dir);
  free(dir);
  free(model);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bad_hparams_refused),
      cmocka_unit_test(test_nan_weight_fails_one_request),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
