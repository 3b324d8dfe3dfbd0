/* The architectures of arch.h against llama.cpp (tests/fixtures/arch, made
 * by scripts/make-arch-fixtures.sh): tiny F16 `bench synth` models of
 * llama with a sliding-window key (test-mistral), qwen3, gemma2, gemma3
 * and phi3 (test-phi3: short LongRoPE factors, MHA; test-phi4: long
 * factors, partial rotation, GQA, tied), with llama.cpp's outputs for 6
 * prompts x 32 greedy steps. Per file:
 *   - last-prompt logits within 1e-3 of llama.cpp's (max |diff| / max |logit|;
 *     the F16 tolerance of ../shared/reference/README.md is 2e-3);
 *   - free-running greedy tokens identical for 16 steps;
 *   - teacher forcing along llama.cpp's tokens: at every step our logits of
 *     its top-10 ids within 1e-3, and the same top-1.
 * Then the sliding-window cache: a ring smaller than the positions gives
 * the logits of an unbounded cache, and a llama model's window equals
 * attending to the window's tokens alone. */
#include "engine/arch.h"
#include "engine/model.h"
#include "engine/sampler.h"
#include "engine/synth.h"
#include "refjson.h"
#include "testutil.h"

#include <jansson.h>
#include <math.h>

#define GREEDY_STEPS 16
#define TOL          1e-3

static char *fixture(const char *shape, const char *ext) {
  char rel[512];
  snprintf(rel, sizeof rel, "%s/tests/fixtures/arch/%s-f16.gguf%s", ECO_TEST_SOURCE_DIR, shape,
           ext);
  return strdup(rel);
}

/* Our logits at the reference's top-10 ids against its values, relative to
 * its largest |logit|; *top1 = whether our argmax is its top-1. */
static double top10_err(const float *logits, int V, json_t *top10, bool *top1) {
  double md = 0, mb = 0;
  for (size_t k = 0; k < json_array_size(top10); k++) {
    json_t *e = json_array_get(top10, k);
    const int id = (int)json_integer_value(json_array_get(e, 0));
    const double v = json_number_value(json_array_get(e, 1));
    md = fmax(md, fabs(logits[id] - v));
    mb = fmax(mb, fabs(v));
  }
  *top1 = eco_argmax(logits, V) ==
          (int32_t)json_integer_value(json_array_get(json_array_get(top10, 0), 0));
  return md / mb;
}

typedef struct file_result {
  double last_err, forced_err; /* worst relative errors */
  int greedy_ok, greedy_total; /* free-running steps equal (first GREEDY_STEPS) */
  int forced_ok, forced_total; /* teacher-forced top-1 equal */
} file_result;

/* top10[0] - top10[1] of reference step s */
static double ref_margin(json_t *steps, int s) {
  json_t *top = json_object_get(json_array_get(steps, (size_t)s), "top10");
  return json_number_value(json_array_get(json_array_get(top, 0), 1)) -
         json_number_value(json_array_get(json_array_get(top, 1), 1));
}

static void greedy(eco_ctx *c, eco_kv *kv, float *logits, int V, const int32_t *gen, int ng,
                   json_t *steps, const char *what, file_result *r) {
  eco_error err = {0};
  for (int s = 0; s < GREEDY_STEPS && s < ng; s++) {
    int32_t t = eco_argmax(logits, V);
    r->greedy_total++;
    if (t != gen[s]) {
      print_message("%s: greedy step %d: %d, llama.cpp %d (its margin %.2g)\n", what, s, t, gen[s],
                    ref_margin(steps, s));
      return;
    }
    r->greedy_ok++;
    if (eco_forward_seq(c, kv, &t, 1, logits, &err)) fail_msg("%s", err.msg);
  }
}

static void forced(eco_ctx *c, eco_kv *kv, float *logits, int V, const int32_t *gen, int ng,
                   json_t *steps, file_result *r) {
  eco_error err = {0};
  for (int s = 0; s < ng; s++) {
    bool top1;
    const double e =
        top10_err(logits, V, json_object_get(json_array_get(steps, (size_t)s), "top10"), &top1);
    r->forced_err = fmax(r->forced_err, e);
    r->forced_total++;
    r->forced_ok += top1;
    if (s + 1 < ng && eco_forward_seq(c, kv, &gen[s], 1, logits, &err)) fail_msg("%s", err.msg);
  }
}

static json_t *load_ref(const char *shape) {
  char *p = fixture(shape, ".json");
  json_t *r = eco_test_ref_load(p);
  free(p);
  return r;
}

/* Runs model file `path` over the prompts of reference `ref`. */
static void run_file(const char *path, json_t *ref, const char *shape, int threads, int batch,
                     file_result *r) {
  eco_model *m;
  eco_ctx *c;
  eco_error err = {0};
  if (eco_model_load(path, &m, &err)) fail_msg("%s", err.msg);
  if (eco_ctx_new(m, threads, batch, &c, &err)) fail_msg("%s", err.msg);
  const int V = m->hp.n_vocab;
  float *logits = malloc((size_t)V * sizeof *logits);
  memset(r, 0, sizeof *r);
  json_t *prompts = json_object_get(ref, "prompts");
  for (size_t pi = 0; pi < json_array_size(prompts); pi++) {
    json_t *p = json_array_get(prompts, pi);
    char what[128];
    snprintf(what, sizeof what, "%s %s", shape, json_string_value(json_object_get(p, "name")));
    int np, ng;
    int32_t *ids = eco_test_ref_ids(json_object_get(p, "prompt_ids"), &np);
    int32_t *gen = eco_test_ref_ids(json_object_get(p, "generated_ids"), &ng);
    eco_kv *kv;
    assert_int_equal(eco_kv_new(m, 512, &kv, &err), 0);
    if (eco_forward_seq(c, kv, ids, np, logits, &err)) fail_msg("%s", err.msg);
    const double e = eco_test_ref_rel_err(logits, json_object_get(p, "last_logits"), V);
    r->last_err = fmax(r->last_err, e);
    if (getenv("ECO_TEST_VERBOSE")) print_message("  %s: %.3g\n", what, e);
    greedy(c, kv, logits, V, gen, ng, json_object_get(p, "steps"), what, r);
    eco_kv_free(kv);
    assert_int_equal(eco_kv_new(m, 512, &kv, &err), 0);
    if (eco_forward_seq(c, kv, ids, np, logits, &err)) fail_msg("%s", err.msg);
    forced(c, kv, logits, V, gen, ng, json_object_get(p, "steps"), r);
    eco_kv_free(kv);
    free(ids);
    free(gen);
  }
  free(logits);
  eco_ctx_free(c);
  eco_model_free(m);
}

static void check_shape(const char *shape, eco_arch want) {
  char *path = fixture(shape, "");
  eco_model *m;
  eco_error err = {0};
  if (eco_model_load(path, &m, &err)) fail_msg("%s", err.msg);
  assert_int_equal(m->hp.arch, want);
  eco_model_free(m);
  free(path);
  /* 2 threads with chunks of 8 tokens, 1 thread with whole prompts */
  json_t *ref = load_ref(shape);
  path = fixture(shape, "");
  for (int run = 0; run < 2; run++) {
    file_result r;
    run_file(path, ref, shape, run ? 1 : 2, run ? 128 : 8, &r);
    print_message("%-12s %s: last-logit rel err %.2e, forced top-10 rel err %.2e, greedy %d/%d, "
                  "forced top-1 %d/%d\n",
                  shape, run ? "1 thread, batch 128" : "2 threads, batch 8", r.last_err,
                  r.forced_err, r.greedy_ok, r.greedy_total, r.forced_ok, r.forced_total);
    if (r.last_err > TOL || r.forced_err > TOL)
      fail_msg("%s: logits differ from llama.cpp's by %.2e / %.2e (> %g)", shape, r.last_err,
               r.forced_err, TOL);
    if (r.greedy_ok != r.greedy_total)
      fail_msg("%s: greedy tokens differ from llama.cpp's within %d steps", shape, GREEDY_STEPS);
    if (r.forced_ok != r.forced_total)
      fail_msg("%s: teacher-forced top-1 %d/%d", shape, r.forced_ok, r.forced_total);
  }
  free(path);
  json_decref(ref);
}

static void test_llama_swa_key(void **s) {
  (void)s;
  check_shape("test-mistral", ECO_ARCH_LLAMA);
}
static void test_qwen3(void **s) {
  (void)s;
  check_shape("test-qwen3", ECO_ARCH_QWEN3);
}
static void test_gemma2(void **s) {
  (void)s;
  check_shape("test-gemma2", ECO_ARCH_GEMMA2);
}
static void test_gemma3(void **s) {
  (void)s;
  check_shape("test-gemma3", ECO_ARCH_GEMMA3);
}
static void test_phi3(void **s) {
  (void)s;
  check_shape("test-phi3", ECO_ARCH_PHI3);
}
static void test_phi4(void **s) {
  (void)s;
  check_shape("test-phi4", ECO_ARCH_PHI3);
}

/* Deterministic token ids in [3, V). */
static void lcg_ids(int32_t *ids, int n, int V) {
  uint32_t x = 12345;
  for (int i = 0; i < n; i++) {
    x = x * 1103515245u + 12345u;
    ids[i] = 3 + (int32_t)((x >> 8) % (uint32_t)(V - 3));
  }
}

static double max_rel(const float *a, const float *b, int n) {
  double md = 0, mb = 0;
  for (int i = 0; i < n; i++) {
    md = fmax(md, fabs((double)a[i] - b[i]));
    mb = fmax(mb, fabs((double)b[i]));
  }
  return md / mb;
}

/* A cache whose sliding-window layers are rings of 12 positions (window 8,
 * slack 4) gives the logits of a cache that keeps every position (to
 * rounding): a
 * 100-token prompt (split into chunks that fit the ring) and 200 decode
 * steps, F32 and F16. Then truncation within and beyond the slack. */
static void ring_matches(const char *shape, eco_ggml_type type) {
  char *path = fixture(shape, "");
  eco_model *m;
  eco_ctx *c;
  eco_error err = {0};
  if (eco_model_load(path, &m, &err)) fail_msg("%s", err.msg);
  if (eco_ctx_new(m, 2, 64, &c, &err)) fail_msg("%s", err.msg);
  const int V = m->hp.n_vocab, N = 300, P = 100;
  int32_t ids[300];
  lcg_ids(ids, N, V);
  eco_kv *full, *ring;
  const eco_kv_opts of = {.type = type, .swa_unbounded = true},
                    orng = {.type = type, .swa_slack = 4};
  assert_int_equal(eco_kv_new_opts(m, 512, &of, &full, &err), 0);
  assert_int_equal(eco_kv_new_opts(m, 512, &orng, &ring, &err), 0);
  assert_int_equal(ring->ring, 12);
  assert_int_equal(full->ring, 512);
  float *a = malloc((size_t)V * 4), *b = malloc((size_t)V * 4), *saved = malloc((size_t)V * 4);
  double worst = 0;
  assert_int_equal(eco_forward_seq(c, full, ids, P, a, &err), 0);
  assert_int_equal(eco_forward_seq(c, ring, ids, P, b, &err), 0);
  worst = fmax(worst, max_rel(b, a, V));
  for (int i = P; i < N; i++) {
    assert_int_equal(eco_forward_seq(c, full, &ids[i], 1, a, &err), 0);
    assert_int_equal(eco_forward_seq(c, ring, &ids[i], 1, b, &err), 0);
    worst = fmax(worst, max_rel(b, a, V));
    if (i == N - 2) memcpy(saved, b, (size_t)V * 4);
  }
  print_message("%s %s: ring of 12 vs unbounded cache over %d positions: rel err %.2e\n", shape,
                eco_ggml_type_name(type), N, worst);
  /* rounding: the two caches sum a window in different orders, and these
   * random networks turn an F16 rounding flip into ~1e-3; a wrong or stale
   * position costs 1e-1 and more */
  assert_true(worst < 5e-3);
  /* truncation: back 2 positions is within the slack, back 10 is not */
  assert_int_equal(eco_kv_truncate(ring, N - 10), ECO_ESTATE);
  assert_int_equal(ring->n_past, N);
  assert_int_equal(eco_kv_truncate(ring, N - 2), 0);
  assert_int_equal(ring->n_past, N - 2);
  assert_int_equal(eco_forward_seq(c, ring, &ids[N - 2], 1, b, &err), 0);
  assert_true(max_rel(b, saved, V) < 1e-6);
  /* rewriting an old position without truncating is refused */
  const int32_t pos = 50;
  eco_kv *kvs[1] = {ring};
  const eco_batch bt = {.n = 1, .token = ids, .pos = &pos, .kv = kvs};
  assert_int_equal(eco_forward(c, &bt, b, &err), ECO_ESTATE);
  /* a bounded cache needs less memory than an unbounded one */
  assert_true(eco_kv_bytes(m, 4096) < eco_kv_bytes(m, 512) * 8);
  free(a);
  free(b);
  free(saved);
  eco_kv_free(full);
  eco_kv_free(ring);
  eco_ctx_free(c);
  eco_model_free(m);
  free(path);
}

static void test_swa_ring(void **s) {
  (void)s;
  ring_matches("test-gemma3", ECO_GGML_F32);
  ring_matches("test-gemma2", ECO_GGML_F16);
}

/* The prefix cache's block copies with a ring: 40 positions copied out of
 * an unbounded cache in blocks of 8 and into a ring of 12, in order, then
 * 20 more tokens in both give the same logits; the ring no longer holds
 * its first blocks (ECO_ESTATE), but still its last. */
static void test_swa_block_copy(void **s) {
  (void)s;
  char *path = fixture("test-gemma3", "");
  eco_model *m;
  eco_ctx *c;
  eco_error err = {0};
  if (eco_model_load(path, &m, &err)) fail_msg("%s", err.msg);
  if (eco_ctx_new(m, 2, 64, &c, &err)) fail_msg("%s", err.msg);
  const int V = m->hp.n_vocab, B = 8;
  int32_t ids[60];
  lcg_ids(ids, 60, V);
  eco_kv *full, *ring;
  const eco_kv_opts of = {.swa_unbounded = true}, orng = {.swa_slack = 4};
  assert_int_equal(eco_kv_new_opts(m, 512, &of, &full, &err), 0);
  assert_int_equal(eco_kv_new_opts(m, 512, &orng, &ring, &err), 0);
  const size_t bb = (size_t)B * eco_kv_bytes_type(m, 1, ECO_GGML_F32);
  uint8_t *blk = malloc(bb);
  float *a = malloc((size_t)V * 4), *b = malloc((size_t)V * 4);
  assert_int_equal(eco_forward_seq(c, full, ids, 40, a, &err), 0);
  for (int i = 0; i < 40; i += B) {
    assert_int_equal(eco_kv_copy_out(full, i, B, blk), 0);
    assert_int_equal(eco_kv_copy_in(ring, i, B, blk), 0);
  }
  assert_int_equal(ring->n_past, 40);
  assert_int_equal(eco_kv_copy_out(ring, 0, B, blk), ECO_ESTATE);
  assert_int_equal(eco_kv_copy_out(ring, 32, B, blk), 0);
  double worst = 0;
  for (int i = 40; i < 60; i++) {
    assert_int_equal(eco_forward_seq(c, full, &ids[i], 1, a, &err), 0);
    assert_int_equal(eco_forward_seq(c, ring, &ids[i], 1, b, &err), 0);
    worst = fmax(worst, max_rel(b, a, V));
  }
  print_message("blocks copied into a ring of 12, 20 more tokens: rel err %.2e\n", worst);
  assert_true(worst < 5e-3);
  free(blk);
  free(a);
  free(b);
  eco_kv_free(full);
  eco_kv_free(ring);
  eco_ctx_free(c);
  eco_model_free(m);
  free(path);
}

/* A one-layer llama model with llama.attention.sliding_window = 8: the last
 * token of a 20-token sequence sees only the last 8, so its logits equal
 * those of the 8 tokens alone at positions 0..7 (RoPE depends on relative
 * positions only). */
static void test_llama_window(void **s) {
  (void)s;
  char *dir = eco_test_tmpdir(), *path = eco_test_path(dir, "swa.gguf");
  const eco_synth_shape sh = {
      "swa-test", "llama",        320,       48, 64, 1, 4, 2, 512, 10000.f, 1e-5f,
      .tied = 0,  .head_dim = 16, .n_swa = 8};
  eco_error err = {0};
  if (eco_synth_write(&sh, "f16", path, 3, &err)) fail_msg("%s", err.msg);
  eco_model *m;
  eco_ctx *c;
  if (eco_model_load(path, &m, &err)) fail_msg("%s", err.msg);
  assert_int_equal(m->hp.n_swa, 8);
  assert_true(m->layers[0].swa);
  if (eco_ctx_new(m, 1, 32, &c, &err)) fail_msg("%s", err.msg);
  const int V = m->hp.n_vocab;
  int32_t ids[20];
  lcg_ids(ids, 20, V);
  float *a = malloc((size_t)V * 4), *b = malloc((size_t)V * 4);
  eco_kv *k1, *k2;
  assert_int_equal(eco_kv_new(m, 64, &k1, &err), 0);
  assert_int_equal(eco_kv_new(m, 64, &k2, &err), 0);
  assert_int_equal(eco_forward_seq(c, k1, ids, 20, a, &err), 0);
  assert_int_equal(eco_forward_seq(c, k2, ids + 12, 8, b, &err), 0);
  const double e = max_rel(a, b, V);
  print_message("llama window 8: 20 tokens vs the last 8 alone: rel err %.2e\n", e);
  assert_true(e < 1e-3);
  assert_int_equal(eco_argmax(a, V), eco_argmax(b, V));
  /* the same weights without the window give other logits */
  const eco_synth_shape full = {"swa-test", "llama",   320,           48, 64, 1, 4, 2, 512, 10000.f,
                                1e-5f,      .tied = 0, .head_dim = 16};
  if (eco_synth_write(&full, "f16", path, 3, &err)) fail_msg("%s", err.msg);
  eco_model *m2;
  eco_ctx *c2;
  if (eco_model_load(path, &m2, &err)) fail_msg("%s", err.msg);
  assert_int_equal(m2->hp.n_swa, 0);
  if (eco_ctx_new(m2, 1, 32, &c2, &err)) fail_msg("%s", err.msg);
  eco_kv_free(k2);
  assert_int_equal(eco_kv_new(m2, 64, &k2, &err), 0);
  assert_int_equal(eco_forward_seq(c2, k2, ids, 20, b, &err), 0);
  print_message("llama window 8 vs none: rel diff %.2e\n", max_rel(a, b, V));
  assert_true(max_rel(a, b, V) > 1e-2);
  eco_ctx_free(c2);
  eco_model_free(m2);
  free(a);
  free(b);
  eco_kv_free(k1);
  eco_kv_free(k2);
  eco_ctx_free(c);
  eco_model_free(m);
  eco_test_rmtree(dir);
  free(path);
  free(dir);
}

/* Larger files, such as the real shapes of `bench synth`, each with
 * llama.cpp's reference as FILE.json beside it (ecoinfer-llama-ref):
 * ECO_ARCH_FILES="a.gguf b.gguf". Prints the same figures; fails when
 * teacher-forced top-1 agreement is under 95 % (quantized files and large
 * random vocabularies have near-ties; see docs/engine.md). */
static void test_extra_files(void **s) {
  (void)s;
  const char *list = getenv("ECO_ARCH_FILES");
  if (!list || !*list) {
    print_message("SKIP: no ECO_ARCH_FILES (GGUF files with FILE.json from "
                  "ecoinfer-llama-ref) given\n");
    skip();
    return;
  }
  char *copy = strdup(list), *save = NULL;
  for (char *f = strtok_r(copy, " ,", &save); f; f = strtok_r(NULL, " ,", &save)) {
    char jp[4096];
    snprintf(jp, sizeof jp, "%s.json", f);
    json_t *ref = eco_test_ref_load(jp);
    file_result r;
    run_file(f, ref, f, 2, 64, &r);
    print_message("%s: last-logit rel err %.2e, forced top-10 rel err %.2e, greedy %d/%d, "
                  "forced top-1 %d/%d\n",
                  f, r.last_err, r.forced_err, r.greedy_ok, r.greedy_total, r.forced_ok,
                  r.forced_total);
    json_decref(ref);
    if (r.forced_ok * 100 < r.forced_total * 95)
      fail_msg("%s: teacher-forced top-1 %d/%d < 95 %%", f, r.forced_ok, r.forced_total);
  }
  free(copy);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_llama_swa_key), cmocka_unit_test(test_qwen3),
      cmocka_unit_test(test_gemma2),        cmocka_unit_test(test_gemma3),
      cmocka_unit_test(test_phi3),          cmocka_unit_test(test_phi4),
      cmocka_unit_test(test_swa_ring),      cmocka_unit_test(test_swa_block_copy),
      cmocka_unit_test(test_llama_window),  cmocka_unit_test(test_extra_files),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
