/* The batching engine over real models (../shared): every reference prompt
 * is submitted at once, so sequences share forward passes (batch 4, chunked
 * prefill), and the greedy tokens must equal llama.cpp's exactly (F32
 * models): batched output = unbatched reference output. */
#include "testutil.h"

#include "engine/engine.h"
#include "engine/engine_model.h"
#include "engine/tokenizer.h"
#include "util/timeutil.h"

#include <jansson.h>
#include <pthread.h>

#define MAXP 16

typedef struct out {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int32_t toks[MAXP][128];
  int n[MAXP];
  int done;
} out;

typedef struct slot {
  out *o;
  int i;
} slot;

static void on_tok(void *user, uint64_t id, int32_t token, const char *text, size_t len, bool done,
                   const eco_gen_stats *st) {
  (void)id;
  (void)text;
  (void)len;
  (void)st;
  slot *s = user;
  pthread_mutex_lock(&s->o->mu);
  if (token >= 0 && s->o->n[s->i] < 128) s->o->toks[s->i][s->o->n[s->i]++] = token;
  if (done) {
    s->o->done++;
    pthread_cond_broadcast(&s->o->cv);
  }
  pthread_mutex_unlock(&s->o->mu);
}

static void run_reference(const char *model_rel, const char *ref_rel, uint32_t max_batch,
                          uint32_t chunk) {
  char *mp, *rp;
  ECO_TEST_NEED_SHARED(model_rel, &mp);
  ECO_TEST_NEED_SHARED(ref_rel, &rp);
  eco_error err = {0};
  eco_model *m;
  if (eco_model_load(mp, &m, &err)) fail_msg("%s", err.msg);
  json_error_t je;
  json_t *ref = json_load_file(rp, 0, &je);
  assert_non_null(ref);
  json_t *prompts = json_object_get(ref, "prompts");
  size_t np = json_array_size(prompts);
  assert_true(np > 0 && np <= MAXP);

  eco_engine_cfg cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.sched.kv_budget_bytes = 1ull << 32;
  cfg.sched.max_batch = max_batch;
  cfg.sched.max_queue = MAXP;
  cfg.sched.prefill_chunk = chunk;
  cfg.sched.step_tokens = chunk * max_batch + max_batch;
  eco_engine_model *em;
  if (eco_engine_model_new(m, 2, max_batch, cfg.sched.step_tokens, &em, &err))
    fail_msg("%s", err.msg);
  /* the adapter's caches are F16 unless set; the references were made with
   * F32 caches, and their near-ties (README) need the same type */
  eco_engine_model_ops ops;
  eco_engine_model_ops_fill(em, 512, &ops);
  assert_int_equal(ops.kv_bytes_per_token, eco_kv_bytes_type(m, 1, ECO_GGML_F16));
  assert_int_equal(eco_engine_model_set_kv_type(em, ECO_GGML_F32), 0);
  eco_engine_model_ops_fill(em, 512, &ops);
  assert_int_equal(ops.kv_bytes_per_token, eco_kv_bytes(m, 1));
  eco_engine *e;
  if (eco_engine_new(&ops, em, NULL, &cfg, NULL, &e, &err)) fail_msg("%s", err.msg);
  out o;
  memset(&o, 0, sizeof o);
  pthread_mutex_init(&o.mu, NULL);
  pthread_cond_init(&o.cv, NULL);
  slot sl[MAXP];
  for (size_t i = 0; i < np; i++) {
    json_t *p = json_array_get(prompts, i);
    json_t *ids = json_object_get(p, "prompt_ids");
    int32_t prompt[256];
    size_t n = json_array_size(ids);
    assert_true(n <= 256);
    for (size_t k = 0; k < n; k++)
      prompt[k] = (int32_t)json_integer_value(json_array_get(ids, k));
    eco_gen_params gp;
    eco_gen_params_default(&gp);
    gp.temperature = 0;
    gp.ignore_eos = true;
    gp.max_tokens = (uint32_t)json_array_size(json_object_get(p, "generated_ids"));
    sl[i] = (slot){&o, (int)i};
    assert_int_equal(eco_engine_submit(e, prompt, (uint32_t)n, &gp, on_tok, &sl[i], NULL), 0);
  }
  pthread_mutex_lock(&o.mu);
  while (o.done < (int)np)
    pthread_cond_wait(&o.cv, &o.mu);
  pthread_mutex_unlock(&o.mu);
  for (size_t i = 0; i < np; i++) {
    json_t *p = json_array_get(prompts, i);
    json_t *gen = json_object_get(p, "generated_ids");
    assert_int_equal(o.n[i], (int)json_array_size(gen));
    for (size_t k = 0; k < json_array_size(gen); k++) {
      int32_t want = (int32_t)json_integer_value(json_array_get(gen, k));
      if (o.toks[i][k] != want)
        fail_msg("%s prompt %s step %zu: got %d, llama.cpp %d", model_rel,
                 json_string_value(json_object_get(p, "name")), k, o.toks[i][k], want);
    }
  }
  eco_engine_free(e);
  eco_engine_model_free(em);
  eco_model_free(m);
  json_decref(ref);
  free(mp);
  free(rp);
}

typedef struct text_out {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  char text[4096];
  size_t len;
  bool done;
  eco_gen_stats st;
} text_out;

static void on_text(void *user, uint64_t id, int32_t token, const char *text, size_t len, bool done,
                    const eco_gen_stats *st) {
  (void)id;
  (void)token;
  text_out *o = user;
  pthread_mutex_lock(&o->mu);
  if (o->len + len < sizeof o->text) {
    memcpy(o->text + o->len, text, len);
    o->len += len;
    o->text[o->len] = '\0';
  }
  if (done) {
    o->done = true;
    o->st = *st;
    pthread_cond_broadcast(&o->cv);
  }
  pthread_mutex_unlock(&o->mu);
}

/* Text streaming and stop strings with the real tokenizer: stories260K's
 * greedy continuation of "Once upon a time" is ", there was a little girl
 * named Lily. She loved ..." (llama.cpp and llama2.c agree); with the stop
 * string "Lily" the text must end right before it. */
static void test_stories_text_and_stop_string(void **state) {
  (void)state;
  char *mp;
  ECO_TEST_NEED_SHARED("models/stories260K-f32.gguf", &mp);
  eco_error err = {0};
  eco_model *m;
  if (eco_model_load(mp, &m, &err)) fail_msg("%s", err.msg);
  eco_tokenizer *tok;
  if (eco_tokenizer_from_gguf(m->gguf, &tok, &err)) fail_msg("%s", err.msg);
  eco_engine_cfg cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.sched.kv_budget_bytes = 1ull << 30;
  cfg.sched.max_batch = 2;
  cfg.sched.max_queue = 4;
  cfg.sched.prefill_chunk = 32;
  cfg.sched.step_tokens = 64;
  eco_engine_model *em;
  if (eco_engine_model_new(m, 1, 2, 64, &em, &err)) fail_msg("%s", err.msg);
  eco_engine_model_ops ops;
  eco_engine_model_ops_fill(em, 512, &ops);
  eco_engine *e;
  if (eco_engine_new(&ops, em, tok, &cfg, NULL, &e, &err)) fail_msg("%s", err.msg);
  int32_t ids[16];
  size_t n = 0;
  assert_int_equal(eco_tokenizer_encode(tok, "Once upon a time", 16, true, false, ids, 16, &n), 0);
  text_out a, b2;
  memset(&a, 0, sizeof a);
  memset(&b2, 0, sizeof b2);
  pthread_mutex_init(&a.mu, NULL);
  pthread_cond_init(&a.cv, NULL);
  pthread_mutex_init(&b2.mu, NULL);
  pthread_cond_init(&b2.cv, NULL);
  eco_gen_params gp;
  eco_gen_params_default(&gp);
  gp.temperature = 0;
  gp.max_tokens = 40;
  const char *stops[] = {"Lily"};
  gp.stop = stops;
  gp.n_stop = 1;
  assert_int_equal(eco_engine_submit(e, ids, (uint32_t)n, &gp, on_text, &a, NULL), 0);
  gp.stop = NULL;
  gp.n_stop = 0;
  gp.max_tokens = 12;
  assert_int_equal(eco_engine_submit(e, ids, (uint32_t)n, &gp, on_text, &b2, NULL), 0);
  pthread_mutex_lock(&a.mu);
  while (!a.done)
    pthread_cond_wait(&a.cv, &a.mu);
  pthread_mutex_unlock(&a.mu);
  pthread_mutex_lock(&b2.mu);
  while (!b2.done)
    pthread_cond_wait(&b2.cv, &b2.mu);
  pthread_mutex_unlock(&b2.mu);
  assert_string_equal(a.text, ", there was a little girl named ");
  assert_int_equal(a.st.finish, ECO_FINISH_STOP);
  assert_int_equal(b2.st.finish, ECO_FINISH_LENGTH);
  assert_int_equal(b2.st.generated_tokens, 12);
  /* Same prompt, no stop string, 12 tokens: the text continues through it. */
  assert_string_equal(b2.text, ", there was a little girl named Lily. She");
  eco_engine_free(e);
  eco_engine_model_free(em);
  eco_tokenizer_free(tok);
  eco_model_free(m);
  free(mp);
}

static void test_stories_batched_matches_llamacpp(void **state) {
  (void)state;
  run_reference("models/stories260K-f32.gguf", "reference/stories260K-f32.gguf.json", 4, 16);
}

static void test_tok512_f32_batched_matches_llamacpp(void **state) {
  (void)state;
  run_reference("models/test-llama-tok512-f32.gguf", "reference/test-llama-tok512-f32.gguf.json", 4,
                7);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stories_batched_matches_llamacpp),
      cmocka_unit_test(test_tok512_f32_batched_matches_llamacpp),
      cmocka_unit_test(test_stories_text_and_stop_string),
  };
  return cmocka_run_group_tests_name("engine_model", tests, NULL, NULL);
}
