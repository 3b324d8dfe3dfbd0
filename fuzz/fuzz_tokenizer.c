/* libFuzzer harness for the tokenizers and chat templates.
 *
 * Input: byte 0 selects the tokenizer, the pre-tokenizer and the flags; the
 * rest is the text (any bytes, including invalid UTF-8). Every input must
 * encode and decode without crashing; for valid UTF-8 text, decoding the
 * ids of a plain encode gives the text back (SPM: text without U+2581,
 * which SentencePiece turns into a space). Tokenizers: synthetic SPM and
 * BPE vocabularies built here (every pre-tokenizer), plus the real ones in
 * $ECO_FUZZ_SHARED/models when that is set (tok512.bin, GPT-2, SmolLM2).
 * Selector values 0xF0.. feed the text to the chat template detector.
 *
 * fuzz-sources: src/engine/tok*.c src/engine/chat.c src/engine/chat_jinja.c
 * fuzz-sources: src/jinja/*.c src/engine/gguf.c src/util/utf8.c src/util/strbuf.c
 * fuzz-seeds: tests/fixtures/tokenizer shared:models/ggml-vocab-gpt-2.gguf.inp
 * fuzz-keep: tests/fixtures/tokenizer
 * fuzz-env: ECO_FUZZ_SHARED
 * fuzz-flags: -max_len=1024
 */
#include "engine/chat.h"
#include "engine/gguf.h"
#include "engine/tok_internal.h"
#include "engine/tokenizer.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_TOKS 8

typedef struct fuzz_state {
  eco_tokenizer *tok[MAX_TOKS];
  bool all_bytes[MAX_TOKS]; /* every byte has a token: plain text round-trips */
  size_t n;
  bool ready;
} fuzz_state;

static fuzz_state g_state; /* libFuzzer needs process-wide state */

static eco_tokenizer *synth(eco_tok_kind kind) {
  eco_tokenizer *t = NULL;
  static const char *const words[] = {"he", "the", "ll", "hello", "wor", "world", "in", "ing"};
  int32_t n = 256 + 3 + 8 + 8 + (kind == ECO_TOK_SPM ? 1 : 3);
  if (tok_create(kind, n, &t) != 0) abort();
  int32_t id = 0;
  if (kind == ECO_TOK_SPM) {
    tok_set_token(t, id++, "<unk>", 5, 0, ECO_TOKT_UNKNOWN);
    tok_set_token(t, id++, "<s>", 3, 0, ECO_TOKT_CONTROL);
    tok_set_token(t, id++, "</s>", 4, 0, ECO_TOKT_CONTROL);
    for (int b = 0; b < 256; b++) {
      char buf[8];
      snprintf(buf, sizeof buf, "<0x%02X>", b);
      tok_set_token(t, id++, buf, 6, 0, ECO_TOKT_BYTE);
    }
    tok_set_token(t, id++, "\xe2\x96\x81", 3, -10.0f, ECO_TOKT_NORMAL); /* the space */
    for (int i = 0; i < 8; i++)
      tok_set_token(t, id++, words[i], strlen(words[i]), -(float)i, ECO_TOKT_NORMAL);
    for (int i = 0; i < 8; i++) {
      char buf[16];
      snprintf(buf, sizeof buf, "\xe2\x96\x81%s", words[i]);
      tok_set_token(t, id++, buf, strlen(buf), -(float)i - 0.5f, ECO_TOKT_NORMAL);
    }
  } else {
    tok_set_token(t, id++, "<|endoftext|>", 13, 0, ECO_TOKT_CONTROL);
    tok_set_token(t, id++, "<tool>", 6, 0, ECO_TOKT_USER_DEFINED);
    tok_set_token(t, id++, "\xc4\xa0the", 5, 0, ECO_TOKT_NORMAL); /* "Ġthe" */
    /* one token per byte, in the byte-level map finalize builds */
    uint16_t next = 256;
    for (int b = 0; b < 256; b++) {
      bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      char buf[4];
      size_t l = tok_utf8_encode(printable ? (uint32_t)b : next++, buf);
      tok_set_token(t, id++, buf, l, 0, ECO_TOKT_NORMAL);
    }
    for (int i = 0; i < 8; i++)
      tok_set_token(t, id++, words[i], strlen(words[i]), 0, ECO_TOKT_NORMAL);
    for (int i = 0; i < 8; i++) {
      char buf[16];
      snprintf(buf, sizeof buf, "\xc4\xa0%s", words[i]);
      tok_set_token(t, id++, buf, strlen(buf), 0, ECO_TOKT_NORMAL);
    }
    /* every merge result must be a token, as in a real vocabulary */
    tok_set_token(t, id++, "hell", 4, 0, ECO_TOKT_NORMAL);
    tok_set_token(t, id++, "wo", 2, 0, ECO_TOKT_NORMAL);
    tok_set_token(t, id++, "\xc4\xa0t", 3, 0, ECO_TOKT_NORMAL);
    static const char *const merges[] = {"h e",    "t he", "l l",        "he ll",
                                         "hell o", "w o",  "wo r",       "wor ld",
                                         "i n",    "in g", "\xc4\xa0 t", "\xc4\xa0t he"};
    for (size_t i = 0; i < sizeof merges / sizeof merges[0]; i++)
      tok_add_merge(t, merges[i], strlen(merges[i]));
    t->bos = t->eos = 0;
    t->clean_spaces = false;
  }
  if (tok_finalize(t, NULL) != 0) abort();
  return t;
}

static void add_real(const char *dir, const char *rel, bool llama2c) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  eco_tokenizer *t = NULL;
  if (llama2c) {
    if (eco_tokenizer_from_llama2c(path, 0, &t, NULL) != 0) return;
  } else {
    eco_gguf *g = NULL;
    if (eco_gguf_open(path, &g, NULL) != 0) return;
    int rc = eco_tokenizer_from_gguf(g, &t, NULL);
    eco_gguf_close(g);
    if (rc != 0) return;
  }
  if (g_state.n < MAX_TOKS) g_state.tok[g_state.n++] = t;
}

/* True when every byte value has its own token (SmolLM2 lacks a few). */
static bool has_all_bytes(const eco_tokenizer *t) {
  for (int b = 0; b < 256; b++) {
    if (eco_tokenizer_kind(t) == ECO_TOK_SPM) {
      if (t->byte_tok[b] < 0) return false;
    } else {
      char u[4];
      size_t l = tok_utf8_encode(t->cp_of_byte[b], u);
      if (eco_tokenizer_find(t, u, l) < 0) return false;
    }
  }
  return true;
}

static void init(void) {
  g_state.tok[g_state.n++] = synth(ECO_TOK_SPM);
  g_state.tok[g_state.n++] = synth(ECO_TOK_BPE);
  const char *dir = getenv("ECO_FUZZ_SHARED");
  if (dir) {
    add_real(dir, "models/tok512.bin", true);
    add_real(dir, "models/ggml-vocab-gpt-2.gguf", false);
    add_real(dir, "models/test-smollm2-2layer-q8_0.gguf", false);
  }
  for (size_t i = 0; i < g_state.n; i++)
    g_state.all_bytes[i] = has_all_bytes(g_state.tok[i]);
  g_state.ready = true;
}

static bool valid_utf8(const char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint32_t cp;
    size_t k = tok_utf8_next(s + i, n - i, &cp);
    if (cp == 0xFFFD && !(k == 3 && memcmp(s + i, "\xef\xbf\xbd", 3) == 0)) return false;
    if (cp >= 0xD800 && cp <= 0xDFFF) return false;
    /* overlong forms decode to a different text */
    if ((k == 2 && cp < 0x80) || (k == 3 && cp < 0x800) || (k == 4 && cp < 0x10000)) return false;
    i += k;
  }
  return true;
}

static void fuzz_chat(const char *text, size_t n) {
  char *tmpl = malloc(n + 1);
  if (!tmpl) return;
  memcpy(tmpl, text, n);
  tmpl[n] = '\0';
  eco_chat_family f;
  char *dsys = NULL;
  eco_chat_detect(tmpl, &f, &dsys);
  free(dsys);
  eco_chat_msg m[3] = {{"system", tmpl}, {"user", "hi"}, {"assistant", " x "}};
  eco_strbuf sb;
  eco_sb_init(&sb);
  eco_logger quiet;
  eco_log_init(&quiet);
  quiet.level = ECO_LOG_OFF;
  eco_chat_apply(tmpl, m, 3, true, &sb, &f, &quiet, NULL);
  eco_chat_apply(tmpl, m + 1, 2, false, &sb, &f, &quiet, NULL);
  eco_sb_free(&sb);
  free(tmpl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!g_state.ready) init();
  if (size < 1) return 0;
  uint8_t sel = data[0];
  /* exact-size copy so that ASan sees overreads */
  size_t n = size - 1;
  char *text = malloc(n ? n : 1);
  if (!text) return 0;
  if (n) memcpy(text, data + 1, n);
  if (sel >= 0xF0) {
    fuzz_chat(text, n);
    free(text);
    return 0;
  }
  if (g_state.n == 0) abort(); /* init always adds the two synthetic tokenizers */
  size_t which = (sel & 7) % g_state.n;
  eco_tokenizer *t = g_state.tok[which];
  tok_pre saved = t->pre;
  if (t == g_state.tok[1]) t->pre = (tok_pre)(1 + ((sel >> 3) % 6)); /* synthetic BPE: every pre */
  bool add_special = sel & 0x40, parse_special = sel & 0x80;
  size_t cap = 4 * n + 8, got = 0;
  int32_t *ids = malloc(cap * sizeof *ids);
  if (!ids) abort();
  int rc = eco_tokenizer_encode(t, text, n, add_special, parse_special, ids, cap, &got);
  if (rc != 0 || got > cap) abort();
  for (size_t i = 0; i < got; i++)
    if (ids[i] < 0 || ids[i] >= eco_tokenizer_n_vocab(t)) abort();
  size_t dcap = 0, dn = 0;
  for (int mode = 0; mode < 4; mode++) {
    rc = eco_tokenizer_decode(t, ids, got, mode & 1, mode & 2, NULL, 0, &dn);
    if (rc != 0 && rc != ECO_EOVERFLOW) abort();
    if (dn > dcap) dcap = dn;
  }
  char *out = malloc(dcap + 1);
  if (!out) abort();
  for (int mode = 0; mode < 4; mode++) {
    rc = eco_tokenizer_decode(t, ids, got, mode & 1, mode & 2, out, dcap, &dn);
    if (rc != 0) abort();
  }
  /* round trip of a plain encode of valid UTF-8 */
  if (!add_special && !parse_special && valid_utf8(text, n) &&
      !(eco_tokenizer_kind(t) == ECO_TOK_SPM && n >= 3 && memmem(text, n, "\xe2\x96\x81", 3)) &&
      !t->clean_spaces && g_state.all_bytes[which]) {
    rc = eco_tokenizer_decode(t, ids, got, true, false, out, dcap, &dn);
    if (rc != 0 || dn != n || (n && memcmp(out, text, n) != 0)) abort();
  }
  /* streaming gives the same bytes as the pieces */
  eco_tok_stream st;
  eco_tok_stream_init(&st, t, true);
  eco_strbuf a, b;
  eco_sb_init(&a);
  eco_sb_init(&b);
  for (size_t i = 0; i < got; i++) {
    if (eco_tok_stream_push(&st, ids[i], &a) != 0) abort();
    if (eco_tokenizer_piece(t, ids[i], true, &b) != 0) abort();
  }
  eco_tok_stream_flush(&st, &a);
  if (a.len != b.len || (a.len && memcmp(a.data, b.data, a.len) != 0)) abort();
  eco_sb_free(&a);
  eco_sb_free(&b);
  t->pre = saved;
  free(out);
  free(ids);
  free(text);
  return 0;
}
