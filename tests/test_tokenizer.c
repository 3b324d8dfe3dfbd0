/* Tokenizer tests: llama.cpp reference vectors (../shared/reference
 * tokenizer-*.json, all four modes, ids and detokenized bytes), llama.cpp's
 * upstream test-tokenizer-0 vectors (../shared/models/ggml-vocab-*.inp/.out),
 * the llama2.c loader against the GGUF conversion of the same vocabulary,
 * the streaming decoder, buffer-size semantics and the pre-tokenizers. */
#include "testutil.h"

#include "engine/gguf.h"
#include "engine/tok_internal.h"
#include "engine/tokenizer.h"
#include "util/strbuf.h"

#include <jansson.h>

/* ---- helpers ---------------------------------------------------------------- */

static eco_tokenizer *load_gguf_tok(const char *path) {
  eco_gguf *g = NULL;
  eco_error err = {0};
  int rc = eco_gguf_open(path, &g, &err);
  if (rc != 0) fail_msg("open %s: %s", path, eco_error_text(&err));
  eco_tokenizer *t = NULL;
  rc = eco_tokenizer_from_gguf(g, &t, &err);
  eco_gguf_close(g); /* the tokenizer must not keep pointers into the file */
  if (rc != 0) fail_msg("tokenizer %s: %s", path, eco_error_text(&err));
  return t;
}

static size_t unhex(const char *hex, char *out) {
  size_t n = strlen(hex) / 2;
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    sscanf(hex + 2 * i, "%2x", &v);
    out[i] = (char)v;
  }
  return n;
}

static void to_hex(const char *s, size_t n, char *out) {
  for (size_t i = 0; i < n; i++)
    sprintf(out + 2 * i, "%02x", (unsigned)(unsigned char)s[i]);
  out[2 * n] = '\0';
}

/* Encodes text, returns a malloc'd id array (exercises the overflow path). */
static int32_t *encode_all(const eco_tokenizer *t, const char *text, size_t len, bool add_special,
                           bool parse_special, size_t *n) {
  size_t need = 0;
  int rc = eco_tokenizer_encode(t, text, len, add_special, parse_special, NULL, 0, &need);
  assert_true(rc == 0 || rc == ECO_EOVERFLOW);
  if (rc == 0) assert_int_equal(need, 0);
  int32_t *ids = malloc((need + 1) * sizeof *ids);
  assert_non_null(ids);
  rc = eco_tokenizer_encode(t, text, len, add_special, parse_special, ids, need, n);
  assert_int_equal(rc, 0);
  assert_int_equal(*n, need);
  return ids;
}

static char *decode_all(const eco_tokenizer *t, const int32_t *ids, size_t n, bool rm, bool unparse,
                        size_t *len) {
  size_t need = 0;
  int rc = eco_tokenizer_decode(t, ids, n, rm, unparse, NULL, 0, &need);
  assert_true(rc == 0 || rc == ECO_EOVERFLOW);
  char *buf = malloc(need + 1);
  assert_non_null(buf);
  rc = eco_tokenizer_decode(t, ids, n, rm, unparse, buf, need, len);
  assert_int_equal(rc, 0);
  assert_int_equal(*len, need);
  buf[*len] = '\0';
  return buf;
}

static const char *const k_modes[4] = {"plain", "add_special", "parse_special",
                                       "add_special_parse_special"};

/* Checks every case and mode of a tokenizer-*.json file; returns mismatches. */
static int check_reference(const eco_tokenizer *t, const char *json_rel) {
  char *path;
  path = eco_test_shared_path(json_rel);
  assert_non_null(path);
  json_error_t jerr;
  json_t *root = json_load_file(path, 0, &jerr);
  free(path);
  assert_non_null(root);
  assert_int_equal(eco_tokenizer_n_vocab(t), json_integer_value(json_object_get(root, "n_vocab")));
  assert_int_equal(eco_tokenizer_bos(t), json_integer_value(json_object_get(root, "bos_id")));
  assert_int_equal(eco_tokenizer_eos(t), json_integer_value(json_object_get(root, "eos_id")));
  assert_int_equal(eco_tokenizer_add_bos(t), json_is_true(json_object_get(root, "add_bos")));
  assert_int_equal(eco_tokenizer_add_eos(t), json_is_true(json_object_get(root, "add_eos")));
  json_t *cases = json_object_get(root, "cases");
  int bad = 0, checked = 0;
  for (size_t c = 0; c < json_array_size(cases); c++) {
    json_t *cs = json_array_get(cases, c);
    const char *hex = json_string_value(json_object_get(cs, "text_hex"));
    char *text = malloc(strlen(hex) / 2 + 1);
    size_t tl = unhex(hex, text);
    for (int m = 0; m < 4; m++) {
      json_t *mode = json_object_get(cs, k_modes[m]);
      json_t *want = json_object_get(mode, "ids");
      size_t n;
      int32_t *ids = encode_all(t, text, tl, m & 1, m >> 1, &n);
      bool ok = n == json_array_size(want);
      for (size_t i = 0; ok && i < n; i++)
        ok = ids[i] == json_integer_value(json_array_get(want, i));
      if (!ok) {
        if (bad < 8) {
          print_message("MISMATCH %s case %zu mode %s text '%.60s'\n  got:", json_rel, c,
                        k_modes[m], text);
          for (size_t i = 0; i < n && i < 40; i++)
            print_message(" %d", ids[i]);
          print_message("\n want:");
          for (size_t i = 0; i < json_array_size(want) && i < 40; i++)
            print_message(" %lld", (long long)json_integer_value(json_array_get(want, i)));
          print_message("\n");
        }
        bad++;
      }
      /* detokenize the REFERENCE ids, both ways */
      size_t nw = json_array_size(want);
      int32_t *wids = malloc((nw + 1) * sizeof *wids);
      for (size_t i = 0; i < nw; i++)
        wids[i] = (int32_t)json_integer_value(json_array_get(want, i));
      for (int d = 0; d < 2; d++) {
        size_t len;
        char *s = decode_all(t, wids, nw, d == 1, d == 0, &len);
        char *h = malloc(2 * len + 1);
        to_hex(s, len, h);
        const char *wh = json_string_value(
            json_object_get(mode, d == 0 ? "detok_keep_special_hex" : "detok_strip_special_hex"));
        if (strcmp(h, wh) != 0) {
          if (bad < 8)
            print_message("DETOK MISMATCH %s case %zu mode %s %s\n  got  %s\n  want %s\n", json_rel,
                          c, k_modes[m], d == 0 ? "keep" : "strip", h, wh);
          bad++;
        }
        free(h);
        free(s);
      }
      checked++;
      free(wids);
      free(ids);
    }
    free(text);
  }
  print_message("%s: %d mode checks, %d mismatches\n", json_rel, checked, bad);
  assert_true(checked >= 4 * 79);
  json_decref(root);
  return bad;
}

/* llama.cpp test-tokenizer-0 vectors: add_special=false, parse_special=false. */
static int check_upstream(const eco_tokenizer *t, const char *inp_rel, const char *out_rel) {
  char *ip = eco_test_shared_path(inp_rel), *op = eco_test_shared_path(out_rel);
  assert_non_null(ip);
  assert_non_null(op);
  FILE *fi = fopen(ip, "rb"), *fo = fopen(op, "rb");
  assert_non_null(fi);
  assert_non_null(fo);
  static char inp[1 << 16];
  size_t il = fread(inp, 1, sizeof inp - 1, fi);
  inp[il] = '\0';
  const char *sep = "\n__ggml_vocab_test__\n";
  char *p = inp;
  char line[1 << 14];
  int bad = 0, n_tests = 0;
  for (;;) {
    char *q = strstr(p, sep);
    if (!q) break;
    size_t tl = (size_t)(q - p);
    if (!fgets(line, sizeof line, fo)) fail_msg("%s: fewer lines than tests", out_rel);
    int32_t want[2048] = {0};
    size_t nw = 0;
    for (char *tok = strtok(line, " \n"); tok && nw < 2048; tok = strtok(NULL, " \n"))
      want[nw++] = atoi(tok);
    size_t n;
    int32_t *ids = encode_all(t, p, tl, false, false, &n);
    bool ok = n == nw;
    for (size_t i = 0; ok && i < n; i++)
      ok = ids[i] == want[i];
    if (!ok) {
      print_message("UPSTREAM MISMATCH %s test %d '%.*s'\n", inp_rel, n_tests,
                    (int)(tl > 60 ? 60 : tl), p);
      bad++;
    }
    free(ids);
    n_tests++;
    p = q + strlen(sep);
  }
  print_message("%s: %d tests, %d mismatches\n", inp_rel, n_tests, bad);
  assert_true(n_tests >= 40);
  fclose(fi);
  fclose(fo);
  free(ip);
  free(op);
  return bad;
}

/* ---- reference vectors ------------------------------------------------------ */

static void test_ref_tok512_llama2c(void **state) {
  (void)state;
  char *bin, *js;
  ECO_TEST_NEED_SHARED("models/tok512.bin", &bin);
  ECO_TEST_NEED_SHARED("reference/tokenizer-tok512.json", &js);
  eco_tokenizer *t = NULL;
  eco_error err = {0};
  assert_int_equal(eco_tokenizer_from_llama2c(bin, 512, &t, &err), 0);
  assert_int_equal(eco_tokenizer_kind(t), ECO_TOK_SPM);
  assert_int_equal(check_reference(t, "reference/tokenizer-tok512.json"), 0);
  eco_tokenizer_free(t);
  /* vocab_size 0 = read to the end of the file */
  assert_int_equal(eco_tokenizer_from_llama2c(bin, 0, &t, &err), 0);
  assert_int_equal(eco_tokenizer_n_vocab(t), 512);
  eco_tokenizer_free(t);
  free(bin);
  free(js);
}

static void test_ref_tok512_gguf(void **state) {
  (void)state;
  char *m, *js;
  ECO_TEST_NEED_SHARED("models/stories260K-f32.gguf", &m);
  ECO_TEST_NEED_SHARED("reference/tokenizer-tok512.json", &js);
  eco_tokenizer *t = load_gguf_tok(m);
  assert_int_equal(check_reference(t, "reference/tokenizer-tok512.json"), 0);
  eco_tokenizer_free(t);
  free(m);
  free(js);
}

static void test_ref_llama_spm(void **state) {
  (void)state;
  char *m, *js;
  ECO_TEST_NEED_SHARED("models/ggml-vocab-llama-spm.gguf", &m);
  ECO_TEST_NEED_SHARED("reference/tokenizer-llama-spm.json", &js);
  eco_tokenizer *t = load_gguf_tok(m);
  assert_int_equal(check_reference(t, "reference/tokenizer-llama-spm.json"), 0);
  eco_tokenizer_free(t);
  free(m);
  free(js);
}

static void test_ref_gpt2(void **state) {
  (void)state;
  char *m, *js;
  ECO_TEST_NEED_SHARED("models/ggml-vocab-gpt-2.gguf", &m);
  ECO_TEST_NEED_SHARED("reference/tokenizer-gpt2.json", &js);
  eco_tokenizer *t = load_gguf_tok(m);
  assert_int_equal(eco_tokenizer_kind(t), ECO_TOK_BPE);
  assert_string_equal(eco_tokenizer_pre(t), "gpt-2");
  assert_int_equal(check_reference(t, "reference/tokenizer-gpt2.json"), 0);
  eco_tokenizer_free(t);
  free(m);
  free(js);
}

static void test_ref_gpt2_in_qwen2_model(void **state) {
  (void)state;
  char *m, *js;
  ECO_TEST_NEED_SHARED("models/test-qwen2-gpt2vocab-q8_0.gguf", &m);
  ECO_TEST_NEED_SHARED("reference/tokenizer-gpt2.json", &js);
  eco_tokenizer *t = load_gguf_tok(m);
  assert_int_equal(check_reference(t, "reference/tokenizer-gpt2.json"), 0);
  eco_tokenizer_free(t);
  free(m);
  free(js);
}

static void test_ref_smollm2(void **state) {
  (void)state;
  char *m, *js;
  ECO_TEST_NEED_SHARED("models/test-smollm2-2layer-q8_0.gguf", &m);
  ECO_TEST_NEED_SHARED("reference/tokenizer-smollm2.json", &js);
  eco_tokenizer *t = load_gguf_tok(m);
  assert_string_equal(eco_tokenizer_pre(t), "smollm");
  assert_int_equal(check_reference(t, "reference/tokenizer-smollm2.json"), 0);
  /* end of generation: <|im_end|> (eos) and <|endoftext|> */
  assert_true(eco_tokenizer_is_eog(t, 2));
  assert_true(eco_tokenizer_is_eog(t, 0));
  assert_false(eco_tokenizer_is_eog(t, 1));
  assert_false(eco_tokenizer_is_eog(t, 100));
  eco_tokenizer_free(t);
  free(m);
  free(js);
}

static void test_upstream_llama_spm(void **state) {
  (void)state;
  char *m, *inp;
  ECO_TEST_NEED_SHARED("models/ggml-vocab-llama-spm.gguf", &m);
  ECO_TEST_NEED_SHARED("models/ggml-vocab-llama-spm.gguf.inp", &inp);
  eco_tokenizer *t = load_gguf_tok(m);
  assert_int_equal(check_upstream(t, "models/ggml-vocab-llama-spm.gguf.inp",
                                  "models/ggml-vocab-llama-spm.gguf.out"),
                   0);
  eco_tokenizer_free(t);
  free(m);
  free(inp);
}

static void test_upstream_gpt2(void **state) {
  (void)state;
  char *m, *inp;
  ECO_TEST_NEED_SHARED("models/ggml-vocab-gpt-2.gguf", &m);
  ECO_TEST_NEED_SHARED("models/ggml-vocab-gpt-2.gguf.inp", &inp);
  eco_tokenizer *t = load_gguf_tok(m);
  assert_int_equal(
      check_upstream(t, "models/ggml-vocab-gpt-2.gguf.inp", "models/ggml-vocab-gpt-2.gguf.out"), 0);
  eco_tokenizer_free(t);
  free(m);
  free(inp);
}

/* The llama2.c loader builds the same vocabulary as llama.cpp's conversion. */
static void test_llama2c_matches_gguf(void **state) {
  (void)state;
  char *bin, *m;
  ECO_TEST_NEED_SHARED("models/tok512.bin", &bin);
  ECO_TEST_NEED_SHARED("models/stories260K-f32.gguf", &m);
  eco_tokenizer *a = NULL, *b = load_gguf_tok(m);
  eco_error err = {0};
  assert_int_equal(eco_tokenizer_from_llama2c(bin, 512, &a, &err), 0);
  assert_int_equal(eco_tokenizer_n_vocab(a), eco_tokenizer_n_vocab(b));
  for (int32_t i = 0; i < eco_tokenizer_n_vocab(a); i++) {
    size_t la, lb;
    const char *ta = eco_tokenizer_token_text(a, i, &la), *tb = eco_tokenizer_token_text(b, i, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(ta, tb, la);
    assert_int_equal(eco_tokenizer_attr(a, i), eco_tokenizer_attr(b, i));
    assert_true(a->tok[i].score == b->tok[i].score);
  }
  eco_tokenizer_free(a);
  eco_tokenizer_free(b);
  free(bin);
  free(m);
}

/* ---- behaviour ------------------------------------------------------------- */

static void test_buffer_semantics(void **state) {
  (void)state;
  char *bin;
  ECO_TEST_NEED_SHARED("models/tok512.bin", &bin);
  eco_tokenizer *t = NULL;
  assert_int_equal(eco_tokenizer_from_llama2c(bin, 512, &t, NULL), 0);
  int32_t ids[4];
  size_t n = 0;
  /* "Once upon a time" -> [1, 403, 407, 261, 378] (README) */
  assert_int_equal(eco_tokenizer_encode(t, "Once upon a time", 16, true, false, ids, 4, &n),
                   ECO_EOVERFLOW);
  assert_int_equal(n, 5);
  int32_t ids5[5];
  assert_int_equal(eco_tokenizer_encode(t, "Once upon a time", 16, true, false, ids5, 5, &n), 0);
  int32_t want[5] = {1, 403, 407, 261, 378};
  assert_memory_equal(ids5, want, sizeof want);
  char buf[8];
  assert_int_equal(eco_tokenizer_decode(t, ids5, 5, true, false, buf, sizeof buf, &n),
                   ECO_EOVERFLOW);
  assert_int_equal(n, strlen(" Once upon a time"));
  /* no array but a capacity */
  assert_int_equal(eco_tokenizer_encode(t, "a", 1, false, false, NULL, 4, &n), ECO_EINVAL);
  /* an id out of range is refused */
  int32_t bad[2] = {5, 512};
  assert_int_equal(eco_tokenizer_decode(t, bad, 2, false, false, buf, sizeof buf, &n), ECO_EINVAL);
  assert_null(eco_tokenizer_token_text(t, -1, &n));
  assert_int_equal(eco_tokenizer_find(t, "<s>", 3), 1);
  assert_true(eco_tokenizer_is_eog(t, 2));
  assert_true(eco_tokenizer_is_control(t, 1));
  eco_tokenizer_free(t);
  free(bin);
}

/* Streams ids one by one: the output never splits a UTF-8 character and the
 * concatenation equals the whole-sequence piece text. */
static void check_stream(const eco_tokenizer *t, const char *text) {
  size_t n;
  int32_t *ids = encode_all(t, text, strlen(text), false, false, &n);
  eco_tok_stream st;
  eco_tok_stream_init(&st, t, false);
  eco_strbuf all, chunk;
  eco_sb_init(&all);
  eco_sb_init(&chunk);
  eco_strbuf ref;
  eco_sb_init(&ref);
  for (size_t i = 0; i < n; i++) {
    eco_sb_reset(&chunk);
    assert_int_equal(eco_tok_stream_push(&st, ids[i], &chunk), 0);
    /* every chunk is valid UTF-8 on its own */
    size_t k = 0;
    while (k < chunk.len) {
      uint32_t cp;
      size_t adv = tok_utf8_next(chunk.data + k, chunk.len - k, &cp);
      assert_false(cp == 0xFFFD && memcmp(chunk.data + k, "\xef\xbf\xbd", adv < 3 ? adv : 3) != 0);
      k += adv;
    }
    eco_sb_append(&all, chunk.data, chunk.len);
    assert_int_equal(eco_tokenizer_piece(t, ids[i], false, &ref), 0);
  }
  assert_int_equal(eco_tok_stream_flush(&st, &all), 0);
  assert_int_equal(all.len, ref.len);
  assert_memory_equal(all.data, ref.data, all.len);
  eco_sb_free(&all);
  eco_sb_free(&chunk);
  eco_sb_free(&ref);
  free(ids);
}

static void test_stream_utf8(void **state) {
  (void)state;
  char *bin, *gpt2;
  ECO_TEST_NEED_SHARED("models/tok512.bin", &bin);
  ECO_TEST_NEED_SHARED("models/ggml-vocab-gpt-2.gguf", &gpt2);
  eco_tokenizer *spm = NULL;
  assert_int_equal(eco_tokenizer_from_llama2c(bin, 512, &spm, NULL), 0);
  eco_tokenizer *bpe = load_gguf_tok(gpt2);
  const char *texts[] = {"Hello \xf0\x9f\x98\x80 world \xe4\xbd\xa0\xe5\xa5\xbd!",
                         "caf\xc3\xa9 na\xc3\xafve \xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9",
                         "plain ascii"};
  for (size_t i = 0; i < 3; i++) {
    check_stream(spm, texts[i]);
    check_stream(bpe, texts[i]);
  }
  /* held back: the first byte token of an emoji yields nothing */
  int32_t b0 = eco_tokenizer_find(spm, "<0xF0>", 6);
  assert_true(b0 >= 0);
  eco_tok_stream st;
  eco_tok_stream_init(&st, spm, false);
  eco_strbuf o;
  eco_sb_init(&o);
  assert_int_equal(eco_tok_stream_push(&st, b0, &o), 0);
  assert_int_equal(o.len, 0);
  /* a following ASCII token proves the byte invalid: it comes out raw */
  int32_t a = eco_tokenizer_find(spm, "a", 1);
  assert_true(a >= 0);
  assert_int_equal(eco_tok_stream_push(&st, a, &o), 0);
  assert_int_equal(o.len, 2);
  assert_memory_equal(o.data,
                      "\xf0"
                      "a",
                      2);
  eco_sb_free(&o);
  eco_tokenizer_free(spm);
  eco_tokenizer_free(bpe);
  free(bin);
  free(gpt2);
}

/* Round trip: decode(encode(x)) == x for valid UTF-8 text without special
 * tokens (SPM: the leading space is removed by decode). */
static void test_roundtrip(void **state) {
  (void)state;
  char *m1, *m2;
  ECO_TEST_NEED_SHARED("models/ggml-vocab-llama-spm.gguf", &m1);
  ECO_TEST_NEED_SHARED("models/test-smollm2-2layer-q8_0.gguf", &m2);
  eco_tokenizer *ts[2] = {load_gguf_tok(m1), load_gguf_tok(m2)};
  const char *texts[] = {"Hello world", "  leading and trailing  ", "tabs\tand\nnewlines\r\n",
                         "\xce\xb1\xce\xb2\xce\xb3 \xd0\xb4\xd0\xb0 \xf0\x9f\xa6\x99 \xe6\x97\xa5",
                         "x = a*b + 3.14; // ok?"};
  for (int k = 0; k < 2; k++) {
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
      size_t n, len;
      int32_t *ids = encode_all(ts[k], texts[i], strlen(texts[i]), false, false, &n);
      char *s = decode_all(ts[k], ids, n, true, false, &len);
      assert_int_equal(len, strlen(texts[i]));
      assert_memory_equal(s, texts[i], len);
      free(s);
      free(ids);
    }
    eco_tokenizer_free(ts[k]);
  }
  free(m1);
  free(m2);
}

/* Large input: must be fast (priority queue) and consistent. */
static void test_large_input(void **state) {
  (void)state;
  char *m;
  ECO_TEST_NEED_SHARED("models/test-smollm2-2layer-q8_0.gguf", &m);
  eco_tokenizer *t = load_gguf_tok(m);
  size_t len = 100000;
  char *text = malloc(len + 1);
  for (size_t i = 0; i < len; i++)
    text[i] = "abcdefghij klmnopqrstuvwxyz.,"[(i * 7919) % 29];
  text[len] = '\0';
  size_t n, dl;
  int32_t *ids = encode_all(t, text, len, false, false, &n);
  assert_true(n > 1000);
  char *s = decode_all(t, ids, n, false, false, &dl);
  assert_int_equal(dl, len);
  assert_memory_equal(s, text, len);
  free(s);
  free(ids);
  /* one 100 kB word without any split point */
  memset(text, 'a', len);
  ids = encode_all(t, text, len, false, false, &n);
  assert_true(n > 10 && n < len);
  free(ids);
  free(text);
  eco_tokenizer_free(t);
  free(m);
}

/* ---- pre-tokenizers (hand-derived expectations of the regexes) ----------- */

static void expect_split(tok_pre pre, const char *text, const char *const *want, size_t nw) {
  uint32_t cps[256];
  size_t n = tok_utf8_decode(text, strlen(text), cps);
  tok_sizes words = {0};
  assert_int_equal(tok_pretokenize(pre, cps, n, &words), 0);
  size_t at = 0;
  bool ok = words.n == nw;
  char got[1024] = "";
  for (size_t w = 0; w < words.n; w++) {
    char piece[256];
    size_t pl = 0;
    for (size_t i = at; i < at + words.v[w]; i++)
      pl += tok_utf8_encode(cps[i], piece + pl);
    piece[pl] = '\0';
    if (ok && strcmp(piece, want[w]) != 0) ok = false;
    strncat(got, "[", sizeof got - strlen(got) - 1);
    strncat(got, piece, sizeof got - strlen(got) - 1);
    strncat(got, "]", sizeof got - strlen(got) - 1);
    at += words.v[w];
  }
  if (!ok) fail_msg("pre %d split of '%s': got %s", (int)pre, text, got);
  tok_sizes_free(&words);
}

#define SPLIT(pre, text, ...)                                                                      \
  do {                                                                                             \
    const char *const w_[] = {__VA_ARGS__};                                                        \
    expect_split(pre, text, w_, sizeof w_ / sizeof w_[0]);                                         \
  } while (0)

static void test_pretokenizers(void **state) {
  (void)state;
  /* GPT-2 */
  SPLIT(TOK_PRE_GPT2, "Hello world's 123  x", "Hello", " world", "'s", " 123", " ", " x");
  SPLIT(TOK_PRE_GPT2, "a  \n", "a", "  \n");
  SPLIT(TOK_PRE_GPT2, "I'LL go!!", "I", "'", "LL", " go", "!!");
  /* Llama-3: case-insensitive contractions, numbers in groups of 3, newlines */
  SPLIT(TOK_PRE_LLAMA3, "I'LL pay 1234567 now\n\n  ok", "I", "'LL", " pay", " ", "123", "456", "7",
        " now", "\n\n", " ", " ok");
  SPLIT(TOK_PRE_LLAMA3, "(x)\r\n+y", "(x", ")\r\n", "+y");
  /* Qwen2: single digits; an emoji is a symbol (true categories, as llama.cpp's dedicated
   * matcher and Hugging Face tokenizers: test-tokenizer-0's ' this is 🦙.cpp') */
  SPLIT(TOK_PRE_QWEN2, "abc123 4", "abc", "1", "2", "3", " ", "4");
  SPLIT(TOK_PRE_QWEN2, "hi \xf0\x9f\x98\x80!", "hi", " \xf0\x9f\x98\x80!");
  SPLIT(TOK_PRE_QWEN2, "is \xf0\x9f\xa6\x99.cpp", "is", " \xf0\x9f\xa6\x99.", "cpp");
  SPLIT(TOK_PRE_GPT2, "hi \xf0\x9f\x98\x80!", "hi", " \xf0\x9f\x98\x80!");
  /* SmolLM: every digit apart, then GPT-2 */
  SPLIT(TOK_PRE_SMOLLM, "ab 2024x", "ab", " ", "2", "0", "2", "4", "x");
  /* default: punctuation runs, then GPT-2, then numbers, then 3-digit groups */
  SPLIT(TOK_PRE_DEFAULT, "a+b=12345.", "a", "+", "b", "=", "123", "45", ".");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ref_tok512_llama2c),
      cmocka_unit_test(test_ref_tok512_gguf),
      cmocka_unit_test(test_ref_llama_spm),
      cmocka_unit_test(test_ref_gpt2),
      cmocka_unit_test(test_ref_gpt2_in_qwen2_model),
      cmocka_unit_test(test_ref_smollm2),
      cmocka_unit_test(test_upstream_llama_spm),
      cmocka_unit_test(test_upstream_gpt2),
      cmocka_unit_test(test_llama2c_matches_gguf),
      cmocka_unit_test(test_buffer_semantics),
      cmocka_unit_test(test_stream_utf8),
      cmocka_unit_test(test_roundtrip),
      cmocka_unit_test(test_large_input),
      cmocka_unit_test(test_pretokenizers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
