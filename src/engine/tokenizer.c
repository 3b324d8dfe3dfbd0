/* ecoinfer: tokenizer core — the vocabulary tables (tokens, merges, the
 * special-token cache, the end-of-generation set), building them for the
 * loaders (tok_load.c) and the tokenizer's properties. Encoding is in
 * tok_encode.c, decoding in tok_decode.c. Behaviour follows llama.cpp
 * (llama-vocab.cpp at c392e509); see docs/tokenizer.md for the rules. */
#include "engine/tok_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- hashing ------------------------------------------------------------ */

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= 0x100000001B3ull;
  }
  return h;
}

#define HASH_SEED 0xCBF29CE484222325ull

static uint64_t hash_pair(const char *l, size_t ln, const char *r, size_t rn) {
  uint64_t h = hash_bytes(HASH_SEED, l, ln);
  h ^= (uint64_t)ln + 0xFF; /* keeps ("ab","c") apart from ("a","bc") */
  h *= 0x100000001B3ull;
  return hash_bytes(h, r, rn);
}

static size_t pow2_at_least(size_t n) {
  size_t c = 16;
  while (c < n)
    c <<= 1;
  return c;
}

/* ---- building ----------------------------------------------------------- */

int tok_create(eco_tok_kind kind, int32_t n_vocab, eco_tokenizer **out) {
  *out = NULL;
  if (n_vocab <= 0) return ECO_EINVAL;
  eco_tokenizer *t = calloc(1, sizeof *t);
  if (!t) return ECO_ENOMEM;
  t->tok = calloc((size_t)n_vocab, sizeof *t->tok);
  if (!t->tok) {
    free(t);
    return ECO_ENOMEM;
  }
  t->kind = kind;
  t->n_vocab = n_vocab;
  t->eot = t->eom = t->sep = t->pad = -1;
  if (kind == ECO_TOK_SPM) {
    t->pre = TOK_PRE_NONE;
    t->bos = 1;
    t->eos = 2;
    t->unk = 0;
    t->add_space_prefix = true;
    t->clean_spaces = false;
    t->add_bos = true;
    t->add_eos = false;
  } else {
    t->pre = TOK_PRE_DEFAULT;
    t->bos = 11;
    t->eos = 11;
    t->unk = -1;
    t->add_space_prefix = false;
    t->clean_spaces = true;
    t->add_bos = false;
    t->add_eos = false;
  }
  *out = t;
  return ECO_OK;
}

static int arena_put(char **arena, size_t *len, size_t *cap, const char *s, size_t n,
                     uint32_t *off) {
  if (n > UINT32_MAX || *len > UINT32_MAX - n) return ECO_EOVERFLOW;
  if (*len + n > *cap) {
    size_t c = *cap ? *cap : 4096;
    while (c < *len + n)
      c *= 2;
    char *na = realloc(*arena, c);
    if (!na) return ECO_ENOMEM;
    *arena = na;
    *cap = c;
  }
  if (n) memcpy(*arena + *len, s, n);
  *off = (uint32_t)*len;
  *len += n;
  return ECO_OK;
}

static uint32_t attr_of_type(int type) {
  switch (type) {
  case ECO_TOKT_NORMAL: return TOK_ATTR_NORMAL;
  case ECO_TOKT_UNKNOWN: return TOK_ATTR_UNKNOWN;
  case ECO_TOKT_CONTROL: return TOK_ATTR_CONTROL;
  case ECO_TOKT_USER_DEFINED: return TOK_ATTR_USER_DEFINED;
  case ECO_TOKT_UNUSED: return TOK_ATTR_UNUSED;
  case ECO_TOKT_BYTE: return TOK_ATTR_BYTE;
  default: return TOK_ATTR_UNDEFINED;
  }
}

int tok_set_token(eco_tokenizer *t, int32_t id, const char *text, size_t len, float score,
                  int type) {
  if (id < 0 || id >= t->n_vocab) return ECO_EINVAL;
  char empty[32];
  if (len == 0) { /* llama.cpp renames empty tokens */
    int k = snprintf(empty, sizeof empty, "[EMPTY_%d]", (int)id);
    text = empty;
    len = (size_t)k;
  }
  tok_entry *e = &t->tok[id];
  int rc = arena_put(&t->arena, &t->arena_len, &t->arena_cap, text, len, &e->off);
  if (rc != ECO_OK) return rc;
  e->len = (uint32_t)len;
  e->score = score;
  e->type = (uint8_t)(type >= 0 && type <= 6 ? type : 0);
  e->attr = attr_of_type(type);
  return ECO_OK;
}

int tok_add_merge(eco_tokenizer *t, const char *s, size_t len) {
  /* split at the first space at index >= 1; no space: both halves empty */
  size_t sp = len;
  for (size_t i = 1; i < len; i++)
    if (s[i] == ' ') {
      sp = i;
      break;
    }
  const char *l = s, *r = s;
  size_t ln = 0, rn = 0;
  if (sp < len) {
    ln = sp;
    r = s + sp + 1;
    rn = len - sp - 1;
  }
  if (t->n_merges == t->merges_cap) {
    size_t c = t->merges_cap ? t->merges_cap * 2 : 1024;
    tok_merge *nm = realloc(t->merges, c * sizeof *nm);
    if (!nm) return ECO_ENOMEM;
    t->merges = nm;
    t->merges_cap = c;
  }
  if (t->n_merges >= INT32_MAX) return ECO_EOVERFLOW;
  tok_merge *m = &t->merges[t->n_merges];
  uint32_t off, off2;
  int rc = arena_put(&t->marena, &t->marena_len, &t->marena_cap, l, ln, &off);
  if (rc != ECO_OK) return rc;
  rc = arena_put(&t->marena, &t->marena_len, &t->marena_cap, r, rn, &off2);
  if (rc != ECO_OK) return rc;
  m->off = off;
  m->llen = (uint32_t)ln;
  m->rlen = (uint32_t)rn;
  m->rank = (int32_t)t->n_merges;
  t->n_merges++;
  return ECO_OK;
}

static const struct {
  const char *name;
  tok_pre pre;
} k_pre_names[] = {
    {"default", TOK_PRE_DEFAULT},   {"gpt-2", TOK_PRE_GPT2},
    {"phi-2", TOK_PRE_GPT2},        {"mpt", TOK_PRE_GPT2},
    {"olmo", TOK_PRE_GPT2},         {"jais", TOK_PRE_GPT2},
    {"roberta-bpe", TOK_PRE_GPT2},  {"gigachat", TOK_PRE_GPT2},
    {"llama3", TOK_PRE_LLAMA3},     {"llama-v3", TOK_PRE_LLAMA3},
    {"llama-bpe", TOK_PRE_LLAMA3},  {"falcon3", TOK_PRE_LLAMA3},
    {"dbrx", TOK_PRE_LLAMA3},       {"smaug-bpe", TOK_PRE_LLAMA3},
    {"qwen2", TOK_PRE_QWEN2},       {"deepseek-r1-qwen", TOK_PRE_QWEN2},
    {"megrez", TOK_PRE_QWEN2},      {"stablelm2", TOK_PRE_QWEN2},
    {"smollm", TOK_PRE_SMOLLM},     {"starcoder", TOK_PRE_SMOLLM},
    {"refact", TOK_PRE_SMOLLM},     {"command-r", TOK_PRE_SMOLLM},
    {"codeshell", TOK_PRE_SMOLLM},  {"exaone", TOK_PRE_SMOLLM},
    {"minerva-7b", TOK_PRE_SMOLLM}, {"falcon", TOK_PRE_FALCON},
    {"gpt-4o", TOK_PRE_GPT4O},      {"llama4", TOK_PRE_GPT4O},
};

int tok_set_pre(eco_tokenizer *t, const char *name, eco_error *err) {
  if (t->kind != ECO_TOK_BPE) return ECO_OK;
  if (strlen(name) >= sizeof t->pre_name)
    return eco_error_set(err, ECO_EUNSUPPORTED, "tokenizer: pre-tokenizer name too long");
  if (name[0] == '\0') {
    t->pre = TOK_PRE_DEFAULT;
    t->pre_name[0] = '\0';
    return ECO_OK;
  }
  for (size_t i = 0; i < sizeof k_pre_names / sizeof k_pre_names[0]; i++) {
    if (strcmp(name, k_pre_names[i].name) != 0) continue;
    t->pre = k_pre_names[i].pre;
    snprintf(t->pre_name, sizeof t->pre_name, "%s", name);
    /* name-dependent defaults, as llama.cpp sets them (dbrx and smaug-bpe
     * share the Llama-3 regex but not these flags) */
    if (!strcmp(name, "llama3") || !strcmp(name, "llama-v3") || !strcmp(name, "llama-bpe") ||
        !strcmp(name, "falcon3")) {
      t->ignore_merges = true;
      t->add_bos = true;
    }
    if (!strcmp(name, "qwen2") || !strcmp(name, "deepseek-r1-qwen") || !strcmp(name, "smollm") ||
        !strcmp(name, "command-r") || t->pre == TOK_PRE_GPT4O)
      t->clean_spaces = false;
    return ECO_OK;
  }
  return eco_error_set(err, ECO_EUNSUPPORTED,
                       "tokenizer: unknown pre-tokenizer '%s' (supported: default, gpt-2, llama3/"
                       "llama-bpe, qwen2, smollm, gpt-4o and aliases; see docs/tokenizer.md)",
                       name);
}

int32_t tok_lookup(const eco_tokenizer *t, const char *s, size_t len) {
  if (!t->hash) return -1;
  size_t i = (size_t)hash_bytes(HASH_SEED, s, len) & t->hash_mask;
  for (;;) {
    int32_t id = t->hash[i];
    if (id < 0) return -1;
    const tok_entry *e = &t->tok[id];
    if (e->len == len && memcmp(t->arena + e->off, s, len) == 0) return id;
    i = (i + 1) & t->hash_mask;
  }
}

int32_t tok_merge_rank(const eco_tokenizer *t, const char *l, size_t ln, const char *r, size_t rn) {
  if (!t->mhash) return -1;
  size_t i = (size_t)hash_pair(l, ln, r, rn) & t->mhash_mask;
  for (;;) {
    int32_t mi = t->mhash[i];
    if (mi < 0) return -1;
    const tok_merge *m = &t->merges[mi];
    if (m->llen == ln && m->rlen == rn && memcmp(t->marena + m->off, l, ln) == 0 &&
        memcmp(t->marena + m->off + ln, r, rn) == 0)
      return m->rank;
    i = (i + 1) & t->mhash_mask;
  }
}

/* Special-token order: longest text first, then lower id. */
static bool special_before(const eco_tokenizer *t, int32_t x, int32_t y) {
  uint32_t lx = t->tok[x].len, ly = t->tok[y].len;
  if (lx != ly) return lx > ly;
  return x < y;
}

static void sort_special(const eco_tokenizer *t, int32_t *v, size_t n, int32_t *tmp) {
  if (n < 2) return;
  size_t h = n / 2;
  sort_special(t, v, h, tmp);
  sort_special(t, v + h, n - h, tmp);
  size_t i = 0, j = h, k = 0;
  while (i < h && j < n)
    tmp[k++] = special_before(t, v[j], v[i]) ? v[j++] : v[i++];
  while (i < h)
    tmp[k++] = v[i++];
  while (j < n)
    tmp[k++] = v[j++];
  memcpy(v, tmp, n * sizeof *v);
}

static int cmp_i32(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}

/* Caches every token's decoded piece (llama_token_to_piece, special) in
 * parena. */
static int build_pieces(eco_tokenizer *t) {
  eco_strbuf sb;
  eco_sb_init(&sb);
  int rc = ECO_OK;
  for (int32_t id = 0; id < t->n_vocab && rc == ECO_OK; id++) {
    eco_sb_reset(&sb);
    rc = tok_piece_compute(t, id, &sb);
    if (rc == ECO_OK && sb.oom) rc = ECO_ENOMEM;
    if (rc == ECO_OK)
      rc = arena_put(&t->parena, &t->parena_len, &t->parena_cap, sb.data, sb.len, &t->tok[id].poff);
    t->tok[id].plen = (uint32_t)sb.len;
  }
  eco_sb_free(&sb);
  return rc;
}

/* text -> id (a later duplicate wins, as in llama.cpp's token_to_id map). */
static int build_hash(eco_tokenizer *t) {
  size_t n = (size_t)t->n_vocab;
  size_t cap = pow2_at_least(n * 2 + 1);
  t->hash = malloc(cap * sizeof *t->hash);
  if (!t->hash) return ECO_ENOMEM;
  memset(t->hash, 0xFF, cap * sizeof *t->hash);
  t->hash_mask = cap - 1;
  for (size_t id = 0; id < n; id++) {
    const tok_entry *e = &t->tok[id];
    size_t i = (size_t)hash_bytes(HASH_SEED, t->arena + e->off, e->len) & t->hash_mask;
    for (;;) {
      int32_t o = t->hash[i];
      if (o < 0 || (t->tok[o].len == e->len &&
                    memcmp(t->arena + t->tok[o].off, t->arena + e->off, e->len) == 0)) {
        t->hash[i] = (int32_t)id;
        break;
      }
      i = (i + 1) & t->hash_mask;
    }
  }
  return ECO_OK;
}

/* merges: (left,right) -> index (the first occurrence keeps its rank). */
static int build_merge_hash(eco_tokenizer *t) {
  if (!t->n_merges) return ECO_OK;
  size_t mc = pow2_at_least(t->n_merges * 2 + 1);
  t->mhash = malloc(mc * sizeof *t->mhash);
  if (!t->mhash) return ECO_ENOMEM;
  memset(t->mhash, 0xFF, mc * sizeof *t->mhash);
  t->mhash_mask = mc - 1;
  for (size_t k = 0; k < t->n_merges; k++) {
    const tok_merge *m = &t->merges[k];
    const char *l = t->marena + m->off, *r = l + m->llen;
    if (tok_merge_rank(t, l, m->llen, r, m->rlen) >= 0) continue;
    size_t i = (size_t)hash_pair(l, m->llen, r, m->rlen) & t->mhash_mask;
    while (t->mhash[i] >= 0)
      i = (i + 1) & t->mhash_mask;
    t->mhash[i] = (int32_t)k;
  }
  return ECO_OK;
}

/* End-of-turn, end-of-message and end-of-generation tokens by text, as
 * llama.cpp does; the EOG set sorted. */
static int find_eog(eco_tokenizer *t) {
  static const char *const k_eot_texts[] = {"<|eot_id|>",
                                            "<|im_end|>",
                                            "<|end|>",
                                            "<end_of_turn>",
                                            "<|endoftext|>",
                                            "<EOT>",
                                            ("<\xef\xbd\x9c"
                                             "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>")};
  for (size_t k = 0; k < sizeof k_eot_texts / sizeof k_eot_texts[0] && t->eot < 0; k++) {
    int32_t id = tok_lookup(t, k_eot_texts[k], strlen(k_eot_texts[k]));
    if (id >= 0) {
      t->eot = id;
      t->tok[id].attr = TOK_ATTR_CONTROL;
    }
  }
  if (t->eom < 0) {
    int32_t id = tok_lookup(t, "<|eom_id|>", 10);
    if (id >= 0) {
      t->eom = id;
      t->tok[id].attr = TOK_ATTR_CONTROL;
    }
  }
  static const char *const k_eog_texts[] = {"<|eot_id|>",    "<|im_end|>",    "<|end|>",
                                            "<end_of_turn>", "<|endoftext|>", "<|eom_id|>",
                                            "<EOT>"};
  size_t neog_cap = sizeof k_eog_texts / sizeof k_eog_texts[0] + 3;
  t->eog = malloc(neog_cap * sizeof *t->eog);
  if (!t->eog) return ECO_ENOMEM;
  t->n_eog = 0;
  for (size_t k = 0; k < sizeof k_eog_texts / sizeof k_eog_texts[0]; k++) {
    int32_t id = tok_lookup(t, k_eog_texts[k], strlen(k_eog_texts[k]));
    if (id >= 0) {
      t->eog[t->n_eog++] = id;
      t->tok[id].attr = TOK_ATTR_CONTROL;
    }
  }
  int32_t extra[3] = {t->eos, t->eot, t->eom};
  for (size_t k = 0; k < 3; k++) {
    if (extra[k] < 0) continue;
    bool have = false;
    for (size_t j = 0; j < t->n_eog; j++)
      have = have || t->eog[j] == extra[k];
    if (!have) t->eog[t->n_eog++] = extra[k];
  }
  qsort(t->eog, t->n_eog, sizeof *t->eog, cmp_i32);
  return ECO_OK;
}

/* Special tokens, matched by text: longest first. */
static int build_special(eco_tokenizer *t) {
  size_t n = (size_t)t->n_vocab;
  const uint32_t special_mask = TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED | TOK_ATTR_UNKNOWN;
  size_t ns = 0;
  for (size_t id = 0; id < n; id++)
    if (t->tok[id].attr & special_mask) ns++;
  if (ns) {
    t->special = malloc(ns * sizeof *t->special);
    int32_t *tmp = malloc(ns * sizeof *tmp);
    if (!t->special || !tmp) {
      free(tmp);
      return ECO_ENOMEM;
    }
    ns = 0;
    for (size_t id = 0; id < n; id++)
      if (t->tok[id].attr & special_mask) t->special[ns++] = (int32_t)id;
    sort_special(t, t->special, ns, tmp);
    free(tmp);
  }
  t->n_special = ns;
  return ECO_OK;
}

/* SPM byte fallback tokens (<0xXX>, else the 1-byte token) and the BPE
 * byte-level map (GPT-2's bytes_to_unicode). */
static void build_byte_maps(eco_tokenizer *t) {
  for (int b = 0; b < 256; b++) {
    char buf[8];
    snprintf(buf, sizeof buf, "<0x%02X>", b);
    int32_t id = tok_lookup(t, buf, 6);
    if (id < 0) {
      char c = (char)b;
      id = tok_lookup(t, &c, 1);
    }
    t->byte_tok[b] = id;
  }
  memset(t->byte_of_cp, 0xFF, sizeof t->byte_of_cp);
  uint16_t next = 256;
  for (int b = 0; b < 256; b++) {
    bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    t->cp_of_byte[b] = printable ? (uint16_t)b : next++;
    t->byte_of_cp[t->cp_of_byte[b]] = (int16_t)b;
  }
}

int tok_finalize(eco_tokenizer *t, eco_error *err) {
  if (build_hash(t) || build_merge_hash(t) || find_eog(t) || build_special(t)) goto oom;
  build_byte_maps(t);
  if (build_pieces(t) != ECO_OK) goto oom;
  return ECO_OK;
oom:
  return eco_error_set(err, ECO_ENOMEM, "tokenizer: out of memory building tables");
}

void eco_tokenizer_free(eco_tokenizer *t) {
  if (!t) return;
  free(t->tok);
  free(t->arena);
  free(t->parena);
  free(t->hash);
  free(t->merges);
  free(t->marena);
  free(t->mhash);
  free(t->special);
  free(t->eog);
  free(t);
}

/* ---- properties --------------------------------------------------------- */

eco_tok_kind eco_tokenizer_kind(const eco_tokenizer *t) { return t->kind; }
const char *eco_tokenizer_pre(const eco_tokenizer *t) { return t->pre_name; }
int32_t eco_tokenizer_n_vocab(const eco_tokenizer *t) { return t->n_vocab; }
int32_t eco_tokenizer_bos(const eco_tokenizer *t) { return t->bos; }
int32_t eco_tokenizer_eos(const eco_tokenizer *t) { return t->eos; }
int32_t eco_tokenizer_eot(const eco_tokenizer *t) { return t->eot; }
bool eco_tokenizer_add_bos(const eco_tokenizer *t) { return t->add_bos; }
bool eco_tokenizer_add_eos(const eco_tokenizer *t) { return t->add_eos; }

bool eco_tokenizer_is_eog(const eco_tokenizer *t, int32_t id) {
  if (id < 0 || !t->n_eog) return false;
  return bsearch(&id, t->eog, t->n_eog, sizeof *t->eog, cmp_i32) != NULL;
}

bool eco_tokenizer_is_control(const eco_tokenizer *t, int32_t id) {
  if (id < 0 || id >= t->n_vocab) return false;
  return (t->tok[id].attr & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN)) != 0;
}

eco_tok_attr eco_tokenizer_attr(const eco_tokenizer *t, int32_t id) {
  if (id < 0 || id >= t->n_vocab) return ECO_TOKT_UNDEFINED;
  return (eco_tok_attr)t->tok[id].type;
}

const char *eco_tokenizer_token_text(const eco_tokenizer *t, int32_t id, size_t *len) {
  if (id < 0 || id >= t->n_vocab) {
    if (len) *len = 0;
    return NULL;
  }
  if (len) *len = t->tok[id].len;
  return t->arena + t->tok[id].off;
}

int32_t eco_tokenizer_find(const eco_tokenizer *t, const char *s, size_t len) {
  return tok_lookup(t, s, len);
}
