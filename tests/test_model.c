/* Correctness of the forward pass against llama.cpp reference outputs in
 * ../shared/reference (see its README): prompt_ids are fed directly. */
#include "engine/model.h"
#include "engine/sampler.h"
#include "refjson.h"
#include "testutil.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct ref {
  json_t *root;
  eco_model *m;
  eco_ctx *c;
} ref;

static bool open_ref(const char *model_file, ref *r, int threads) {
  char rel[256], *mp = NULL, *rp = NULL;
  snprintf(rel, sizeof rel, "models/%s", model_file);
  mp = eco_test_shared_path(rel);
  snprintf(rel, sizeof rel, "reference/%s.json", model_file);
  rp = eco_test_shared_path(rel);
  if (!mp || !rp) {
    print_message("SKIP: shared data for %s absent\n", model_file);
    free(mp);
    free(rp);
    return false;
  }
  json_error_t je;
  r->root = json_load_file(rp, 0, &je);
  assert_non_null(r->root);
  eco_error err = {0};
  if (eco_model_load(mp, &r->m, &err)) fail_msg("%s", err.msg);
  if (eco_ctx_new(r->m, threads, 32, &r->c, &err)) fail_msg("%s", err.msg);
  free(mp);
  free(rp);
  return true;
}

static void close_ref(ref *r) {
  eco_ctx_free(r->c);
  eco_model_free(r->m);
  json_decref(r->root);
}

/* Free-running greedy must equal the reference ids exactly; last logits
 * within tol (F32 models). */
static void check_exact(const char *file, double tol, bool exact_greedy) {
  ref r;
  if (!open_ref(file, &r, 2)) skip();
  const int V = r.m->hp.n_vocab;
  float *logits = malloc((size_t)V * sizeof *logits);
  json_t *prompts = json_object_get(r.root, "prompts");
  double worst = 0;
  for (size_t pi = 0; pi < json_array_size(prompts); pi++) {
    json_t *p = json_array_get(prompts, pi);
    int np, ng;
    int32_t *ids = eco_test_ref_ids(json_object_get(p, "prompt_ids"), &np);
    int32_t *gen = eco_test_ref_ids(json_object_get(p, "generated_ids"), &ng);
    json_t *steps = json_object_get(p, "steps");
    eco_kv *kv;
    eco_error err = {0};
    assert_int_equal(eco_kv_new(r.m, 512, &kv, &err), 0);
    if (eco_forward_seq(r.c, kv, ids, np, logits, &err)) fail_msg("%s", err.msg);
    double e = eco_test_ref_rel_err(logits, json_object_get(p, "last_logits"), V);
    if (e > worst) worst = e;
    if (getenv("ECO_TEST_VERBOSE"))
      print_message("  %s: rel err %.3g\n", json_string_value(json_object_get(p, "name")), e);
    if (e > tol)
      fail_msg("%s %s: last logits rel err %.3g > %.3g", file,
               json_string_value(json_object_get(p, "name")), e, tol);
    for (int s = 0; s < ng; s++) {
      int32_t t = eco_argmax(logits, V);
      if (t != gen[s]) {
        json_t *top = json_object_get(json_array_get(steps, (size_t)s), "top10");
        double margin = json_number_value(json_array_get(json_array_get(top, 0), 1)) -
                        json_number_value(json_array_get(json_array_get(top, 1), 1));
        if (exact_greedy || margin > 1e-3)
          fail_msg("%s %s: step %d greedy %d, reference %d (margin %.2g)", file,
                   json_string_value(json_object_get(p, "name")), s, t, gen[s], margin);
        print_message("%s %s: near-tie at step %d (margin %.2g): stop comparing\n", file,
                      json_string_value(json_object_get(p, "name")), s, margin);
        break;
      }
      if (s + 1 < ng && eco_forward_seq(r.c, kv, &t, 1, logits, &err)) fail_msg("%s", err.msg);
    }
    eco_kv_free(kv);
    free(ids);
    free(gen);
  }
  print_message("%s: worst last-logit rel err %.3g\n", file, worst);
  free(logits);
  close_ref(&r);
}

/* Teacher forcing along the reference path: top-1 agreement >= 95% and
 * the reference top-1 always within our top-3. */
static void check_forced(const char *file) {
  ref r;
  if (!open_ref(file, &r, 2)) skip();
  const int V = r.m->hp.n_vocab;
  float *logits = malloc((size_t)V * sizeof *logits);
  json_t *prompts = json_object_get(r.root, "prompts");
  int agree = 0, total = 0;
  double worst = 0;
  for (size_t pi = 0; pi < json_array_size(prompts); pi++) {
    json_t *p = json_array_get(prompts, pi);
    int np, ng;
    int32_t *ids = eco_test_ref_ids(json_object_get(p, "prompt_ids"), &np);
    int32_t *gen = eco_test_ref_ids(json_object_get(p, "generated_ids"), &ng);
    eco_kv *kv;
    eco_error err = {0};
    assert_int_equal(eco_kv_new(r.m, 512, &kv, &err), 0);
    if (eco_forward_seq(r.c, kv, ids, np, logits, &err)) fail_msg("%s", err.msg);
    double e = eco_test_ref_rel_err(logits, json_object_get(p, "last_logits"), V);
    if (e > worst) worst = e;
    for (int s = 0; s < ng; s++) {
      /* our top-3 */
      int32_t top[3] = {-1, -1, -1};
      for (int i = 0; i < V; i++) {
        for (int k = 0; k < 3; k++) {
          if (top[k] < 0 || logits[i] > logits[top[k]]) {
            for (int m = 2; m > k; m--)
              top[m] = top[m - 1];
            top[k] = i;
            break;
          }
        }
      }
      total++;
      agree += top[0] == gen[s];
      if (top[0] != gen[s] && top[1] != gen[s] && top[2] != gen[s])
        fail_msg("%s %s step %d: reference top-1 %d not in our top-3 (%d %d %d)", file,
                 json_string_value(json_object_get(p, "name")), s, gen[s], top[0], top[1], top[2]);
      if (s + 1 < ng && eco_forward_seq(r.c, kv, &gen[s], 1, logits, &err)) fail_msg("%s", err.msg);
    }
    eco_kv_free(kv);
    free(ids);
    free(gen);
  }
  print_message("%s: top-1 agreement %d/%d, worst last-logit rel err %.3g\n", file, agree, total,
                worst);
  assert_true(agree * 100 >= total * 95);
  free(logits);
  close_ref(&r);
}

static void test_stories_f32(void **s) {
  (void)s;
  check_exact("stories260K-f32.gguf", 1e-3, true);
}
static void test_tok512_f32(void **s) {
  (void)s;
  check_exact("test-llama-tok512-f32.gguf", 1e-3, true);
}
static void test_tok512_f16(void **s) {
  (void)s;
  check_exact("test-llama-tok512-f16.gguf", 2e-3, false);
}
static void test_tok512_q8_0(void **s) {
  (void)s;
  check_forced("test-llama-tok512-q8_0.gguf");
}
static void test_tok512_q4_0(void **s) {
  (void)s;
  check_forced("test-llama-tok512-q4_0.gguf");
}
static void test_tok512_q4_k(void **s) {
  (void)s;
  check_forced("test-llama-tok512-q4_k.gguf");
}
static void test_tok512_q6_k(void **s) {
  (void)s;
  check_forced("test-llama-tok512-q6_k.gguf");
}
static void test_qwen2_q8_0(void **s) {
  (void)s;
  check_forced("test-qwen2-gpt2vocab-q8_0.gguf");
}
static void test_smollm2_q8_0(void **s) {
  (void)s;
  check_forced("test-smollm2-2layer-q8_0.gguf");
}

/* llama2.c checkpoint gives the same greedy story as its GGUF conversion. */
static void test_llama2c_bin(void **state) {
  (void)state;
  char *bin, *gg;
  ECO_TEST_NEED_SHARED("models/stories260K.bin", &bin);
  ECO_TEST_NEED_SHARED("models/stories260K-f32.gguf", &gg);
  eco_error err = {0};
  int32_t out[2][64];
  const char *paths[2] = {bin, gg};
  for (int k = 0; k < 2; k++) {
    eco_model *m;
    eco_ctx *c;
    eco_kv *kv;
    if (eco_model_load(paths[k], &m, &err)) fail_msg("%s", err.msg);
    assert_int_equal(m->hp.n_vocab, 512);
    assert_int_equal(m->hp.n_layer, 5);
    assert_int_equal(m->hp.n_head_kv, 4);
    assert_int_equal(eco_ctx_new(m, 1, 8, &c, &err), 0);
    assert_int_equal(eco_kv_new(m, 512, &kv, &err), 0);
    float logits[512];
    int32_t prompt[5] = {1, 403, 407, 261, 378};
    assert_int_equal(eco_forward_seq(c, kv, prompt, 5, logits, &err), 0);
    for (int s = 0; s < 64; s++) {
      out[k][s] = eco_argmax(logits, 512);
      assert_int_equal(eco_forward_seq(c, kv, &out[k][s], 1, logits, &err), 0);
    }
    eco_kv_free(kv);
    eco_ctx_free(c);
    eco_model_free(m);
  }
  assert_memory_equal(out[0], out[1], sizeof out[0]);
  free(bin);
  free(gg);
}

/* Batched multi-sequence forward equals one-sequence forwards; context
 * limit gives ECO_ECONTEXT. */
static void test_batch_and_context(void **state) {
  (void)state;
  ref r;
  if (!open_ref("test-llama-tok512-q8_0.gguf", &r, 2)) skip();
  const int V = r.m->hp.n_vocab;
  eco_error err = {0};
  int32_t a[6] = {1, 10, 20, 30, 40, 50}, b[4] = {1, 99, 98, 97};
  float la[512], lb[512];
  eco_kv *ka, *kb;
  assert_int_equal(eco_kv_new(r.m, 16, &ka, &err), 0);
  assert_int_equal(eco_kv_new(r.m, 16, &kb, &err), 0);
  assert_int_equal(eco_forward_seq(r.c, ka, a, 6, la, &err), 0);
  assert_int_equal(eco_forward_seq(r.c, kb, b, 4, lb, &err), 0);
  /* same two sequences interleaved in one batch */
  eco_kv *kc, *kd;
  assert_int_equal(eco_kv_new(r.m, 16, &kc, &err), 0);
  assert_int_equal(eco_kv_new(r.m, 16, &kd, &err), 0);
  int32_t tok[10], pos[10];
  eco_kv *kvs[10];
  uint8_t want[10] = {0};
  int n = 0;
  for (int i = 0; i < 6; i++) {
    tok[n] = a[i];
    pos[n] = i;
    kvs[n++] = kc;
    if (i < 4) {
      tok[n] = b[i];
      pos[n] = i;
      kvs[n++] = kd;
    }
  }
  want[7] = 1; /* b's last token (index 7) */
  want[9] = 1; /* a's last token */
  float out[2 * 512];
  eco_batch bt = {.n = n, .token = tok, .pos = pos, .kv = kvs, .logits = want};
  assert_int_equal(eco_forward(r.c, &bt, out, &err), 0);
  for (int i = 0; i < V; i++) {
    assert_float_equal(out[i], lb[i], 1e-4);
    assert_float_equal(out[512 + i], la[i], 1e-4);
  }
  assert_int_equal(kc->n_past, 6);
  assert_int_equal(kd->n_past, 4);
  /* prefill without logits (NULL), then one more token: same logits as all at once */
  eco_kv *ke;
  float le[512];
  assert_int_equal(eco_kv_new(r.m, 16, &ke, &err), 0);
  assert_int_equal(eco_forward_seq(r.c, ke, a, 5, NULL, &err), 0);
  assert_int_equal(eco_forward_seq(r.c, ke, &a[5], 1, le, &err), 0);
  for (int i = 0; i < V; i++)
    assert_float_equal(le[i], la[i], 1e-4);
  eco_kv_free(ke);
  /* context limit */
  int32_t many[16] = {0};
  int rc = eco_forward_seq(r.c, ka, many, 11, la, &err);
  assert_int_equal(rc, ECO_ECONTEXT);
  assert_non_null(strstr(err.msg, "context"));
  int32_t bad = 100000;
  assert_int_equal(eco_forward_seq(r.c, kb, &bad, 1, lb, &err), ECO_EINVAL);
  eco_kv_free(ka);
  eco_kv_free(kb);
  eco_kv_free(kc);
  eco_kv_free(kd);
  close_ref(&r);
}

/* The path of ../shared/models/FILE (free it), or NULL after a SKIP line
 * when it is absent. */
static char *model_or_skip(const char *file) {
  char rel[256];
  snprintf(rel, sizeof rel, "models/%s", file);
  char *mp = eco_test_shared_path(rel);
  if (!mp) print_message("SKIP: %s absent\n", file);
  return mp;
}

/* The repacked (8-row interleaved) layout gives the plain layout's logits,
 * for prompts of 1..9 tokens (kernel widths 4 + remainder), at 1 and 2
 * threads. With the scalar kernels on both models the sums are done in the
 * same order, so the logits must be equal. With the SIMD kernels the float
 * order differs, and on these random-weight models a last-bit difference
 * can move an activation across a Q8_0 rounding boundary in a later layer
 * (~1e-2 in the logits), so there the check is that the logit vectors point
 * the same way (cosine > 0.999; a wrong row or scale gives ~0).
 * test_kernels compares the kernels themselves to 1e-4. */
static void check_repack(const char *file) {
  char *mp = model_or_skip(file);
  if (!mp) return;
  eco_error err = {0};
  eco_model *mpk, *mpl;
  eco_model_opts plain = {.no_repack = true};
  if (eco_model_load(mp, &mpk, &err)) fail_msg("%s", err.msg);
  if (eco_model_load_opts(mp, &plain, &mpl, &err)) fail_msg("%s", err.msg);
  free(mp);
  assert_int_equal(mpl->packed_bytes, 0);
  eco_cpu_info ci;
  eco_cpu_detect(&ci);
  if (ci.level >= ECO_SIMD_AVX2) assert_true(mpk->packed_bytes > 0);
  const int V = mpk->hp.n_vocab;
  float *la = malloc((size_t)V * 4), *lb = malloc((size_t)V * 4);
  int32_t toks[9];
  for (int i = 0; i < 9; i++)
    toks[i] = (int32_t)((i * 37 + 5) % V);
  for (int threads = 1; threads <= 2; threads++)
    for (int n = 1; n <= 9; n += 4)
      for (int scalar = 0; scalar <= 1; scalar++) {
        eco_ctx *ca, *cb;
        eco_kv *ka, *kb;
        assert_int_equal(eco_ctx_new(mpk, threads, 8, &ca, &err), 0);
        assert_int_equal(eco_ctx_new(mpl, threads, 8, &cb, &err), 0);
        if (scalar) {
          eco_ctx_set_simd(ca, ECO_SIMD_SCALAR);
          eco_ctx_set_simd(cb, ECO_SIMD_SCALAR);
        }
        assert_int_equal(eco_kv_new(mpk, 16, &ka, &err), 0);
        assert_int_equal(eco_kv_new(mpl, 16, &kb, &err), 0);
        assert_int_equal(eco_forward_seq(ca, ka, toks, n, la, &err), 0);
        assert_int_equal(eco_forward_seq(cb, kb, toks, n, lb, &err), 0);
        double md = 0, mx = 0, ab = 0, aa = 0, bb = 0;
        for (int i = 0; i < V; i++) {
          md = fmax(md, fabs(la[i] - lb[i]));
          mx = fmax(mx, fabs(lb[i]));
          ab += (double)la[i] * lb[i];
          aa += (double)la[i] * la[i];
          bb += (double)lb[i] * lb[i];
        }
        const double cosine = ab / sqrt(aa * bb);
        if (scalar ? md > 1e-6 * (1 + mx) : cosine < 0.999)
          fail_msg("%s: packed vs plain logits differ by %g, cosine %.6f (n=%d threads=%d "
                   "scalar=%d)",
                   file, md, cosine, n, threads, scalar);
        eco_kv_free(ka);
        eco_kv_free(kb);
        eco_ctx_free(ca);
        eco_ctx_free(cb);
      }
  free(la);
  free(lb);
  eco_model_free(mpk);
  eco_model_free(mpl);
}

/* Without memory for the packed copy, the model still loads, in the file
 * layout. The child process caps its address space just above what it
 * uses plus the file, so the packed arena's mapping is refused. */
static void test_repack_fallback(void **state) {
  (void)state;
  char *mp = eco_test_shared_path("models/test-llama-tok512-q8_0.gguf");
  if (!mp) skip();
  struct stat sb;
  assert_int_equal(stat(mp, &sb), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%ld", &pages) != 1) _exit(3);
    fclose(f);
    const rlim_t cap =
        (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (rlim_t)sb.st_size + ((rlim_t)1 << 20);
    struct rlimit rl = {cap, cap};
    if (setrlimit(RLIMIT_AS, &rl)) _exit(4);
    eco_model *m;
    eco_error err = {0};
    if (eco_model_load(mp, &m, &err)) _exit(5);
    const int packed = m->packed_bytes != 0;
    eco_model_free(m);
    _exit(packed ? 6 : 0);
  }
  int st = 0;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  free(mp);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
}

/* An F16 KV cache: half the bytes, and logits close to the F32 cache's
 * (the cached keys and values are rounded to F16, as llama.cpp's default
 * cache does), over a prompt long enough for several attention blocks. */
static void test_kv_f16(void **state) {
  (void)state;
  ref r;
  if (!open_ref("test-llama-tok512-f32.gguf", &r, 2)) skip();
  eco_error err = {0};
  assert_int_equal(eco_kv_bytes_type(r.m, 64, ECO_GGML_F16) * 2, eco_kv_bytes(r.m, 64));
  eco_kv *bad;
  assert_int_equal(eco_kv_new_type(r.m, 64, ECO_GGML_Q8_0, &bad, &err), ECO_EINVAL);
  eco_ggml_type t;
  assert_int_equal(eco_kv_type_parse("F16", &t), 0);
  assert_int_equal(t, ECO_GGML_F16);
  assert_int_equal(eco_kv_type_parse("f32", &t), 0);
  assert_int_equal(t, ECO_GGML_F32);
  assert_int_equal(eco_kv_type_parse("q8_0", &t), ECO_EINVAL);
  /* the name round-trips through the parser; the default is a type it names */
  assert_string_equal(eco_kv_type_name(ECO_GGML_F16), "f16");
  assert_string_equal(eco_kv_type_name(ECO_GGML_F32), "f32");
  assert_int_equal(eco_kv_type_parse(eco_kv_type_name(ECO_KV_TYPE_DEFAULT), &t), 0);
  assert_int_equal(t, ECO_KV_TYPE_DEFAULT);
  const int V = r.m->hp.n_vocab;
  float *la = malloc((size_t)V * 4), *lb = malloc((size_t)V * 4);
  int32_t toks[40];
  for (int i = 0; i < 40; i++)
    toks[i] = (int32_t)((i * 37 + 5) % V);
  eco_kv *k32, *k16;
  assert_int_equal(eco_kv_new(r.m, 64, &k32, &err), 0);
  assert_int_equal(eco_kv_new_type(r.m, 64, ECO_GGML_F16, &k16, &err), 0);
  assert_int_equal(k16->type, ECO_GGML_F16);
  assert_int_equal(eco_forward_seq(r.c, k32, toks, 40, la, &err), 0);
  assert_int_equal(eco_forward_seq(r.c, k16, toks, 40, lb, &err), 0);
  /* then one decode step each */
  assert_int_equal(eco_forward_seq(r.c, k32, toks, 1, la, &err), 0);
  assert_int_equal(eco_forward_seq(r.c, k16, toks, 1, lb, &err), 0);
  double md = 0, mx = 0;
  for (int i = 0; i < V; i++) {
    md = fmax(md, fabs(la[i] - lb[i]));
    mx = fmax(mx, fabs(la[i]));
  }
  if (md > 1e-2 * mx) fail_msg("F16 KV logits differ from F32 KV by %g (max |logit| %g)", md, mx);
  assert_true(md > 0); /* the cache really is F16 */
  eco_kv_free(k32);
  eco_kv_free(k16);
  free(la);
  free(lb);
  close_ref(&r);
}

/* The pairing threshold (eco_ctx_set_pair_min) only picks kernels: with
 * every group paired and with none, a batch of 2..7 rows gives the same
 * bits (the two-group kernels equal two one-group calls). */
static void check_pair_min(const char *file) {
  char *mp = model_or_skip(file);
  if (!mp) return;
  eco_error err = {0};
  eco_model *m;
  if (eco_model_load(mp, &m, &err)) fail_msg("%s", err.msg);
  free(mp);
  const int V = m->hp.n_vocab;
  float *la = calloc((size_t)V, 4), *lb = calloc((size_t)V, 4); /* written by the forward */
  assert_non_null(la);
  assert_non_null(lb);
  int32_t toks[4];
  for (int i = 0; i < 4; i++)
    toks[i] = (int32_t)((i * 53 + 11) % V);
  for (int threads = 1; threads <= 2; threads++) {
    eco_ctx *c;
    assert_int_equal(eco_ctx_new(m, threads, 8, &c, &err), 0);
    assert_int_equal(eco_ctx_pair_min(c), ECO_PAIR_MIN_GROUP_BYTES);
    float *out[2] = {la, lb};
    const size_t mins[2] = {1, SIZE_MAX};
    for (int k = 0; k < 2; k++) {
      eco_kv *kv;
      eco_ctx_set_pair_min(c, mins[k]);
      assert_int_equal(eco_ctx_pair_min(c), mins[k]);
      assert_int_equal(eco_kv_new(m, 16, &kv, &err), 0);
      assert_int_equal(eco_forward_seq(c, kv, toks, 4, out[k], &err), 0);
      eco_kv_free(kv);
    }
    if (memcmp(la, lb, (size_t)V * 4) != 0)
      fail_msg("%s: logits with every group paired differ from none paired (threads=%d)", file,
               threads);
    eco_ctx_set_pair_min(c, 0);
    assert_int_equal(eco_ctx_pair_min(c), ECO_PAIR_MIN_GROUP_BYTES);
    eco_ctx_free(c);
  }
  free(la);
  free(lb);
  eco_model_free(m);
}

static void test_pair_min(void **state) {
  (void)state;
  check_pair_min("test-llama-tok512-q8_0.gguf");
  check_pair_min("test-llama-tok512-q4_0.gguf");
  check_pair_min("test-llama-tok512-q6_k.gguf");
}

static void test_repack(void **state) {
  (void)state;
  check_repack("test-llama-tok512-q8_0.gguf");
  check_repack("test-llama-tok512-q4_0.gguf");
  check_repack("test-llama-tok512-q4_k.gguf");
  check_repack("test-llama-tok512-q6_k.gguf");
  check_repack("test-qwen2-gpt2vocab-q8_0.gguf");
  check_repack("test-smollm2-2layer-q8_0.gguf");
}

static void test_load_errors(void **state) {
  (void)state;
  eco_model *m;
  eco_error err = {0};
  assert_int_equal(eco_model_load("/nonexistent.gguf", &m, &err), ECO_ENOENT);
  char *p;
  ECO_TEST_NEED_SHARED("models/ggml-vocab-gpt-2.gguf", &p);
  /* a vocab-only file: arch gpt2 is refused clearly */
  int rc = eco_model_load(p, &m, &err);
  assert_int_not_equal(rc, 0);
  print_message("vocab-only file: %s\n", err.msg);
  free(p);
  /* a truncated llama2.c file */
  char *dir = eco_test_tmpdir();
  char *xp = eco_test_path(dir, "x.bin");
  FILE *f = fopen(xp, "wb");
  int32_t hdr[7] = {64, 172, 5, 8, 4, 512, 512};
  fwrite(hdr, 4, 7, f);
  fclose(f);
  assert_int_equal(eco_model_load(xp, &m, &err), ECO_EFORMAT);
  free(xp);
  eco_test_rmtree(dir);
  free(dir);
}

int main(void) {
  eco_cpu_info ci; /* ECOINFER_CPU_MAX caps it: tests/CMakeLists.txt runs each level */
  eco_cpu_detect(&ci);
  printf("kernels: %s\n", eco_simd_name(ci.level));
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stories_f32),
      cmocka_unit_test(test_tok512_f32),
      cmocka_unit_test(test_tok512_f16),
      cmocka_unit_test(test_tok512_q8_0),
      cmocka_unit_test(test_tok512_q4_0),
      cmocka_unit_test(test_tok512_q4_k),
      cmocka_unit_test(test_tok512_q6_k),
      cmocka_unit_test(test_qwen2_q8_0),
      cmocka_unit_test(test_smollm2_q8_0),
      cmocka_unit_test(test_llama2c_bin),
      cmocka_unit_test(test_batch_and_context),
      cmocka_unit_test(test_load_errors),
      cmocka_unit_test(test_repack),
      cmocka_unit_test(test_pair_min),
      cmocka_unit_test(test_kv_f16),
      cmocka_unit_test(test_repack_fallback),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
