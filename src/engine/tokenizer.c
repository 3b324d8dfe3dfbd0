/* ecoinfer: tokenizer core — vocabulary tables, encoding (SPM and
 * byte-level BPE, both with a priority queue of merges: O(n log n)),
 * decoding and the streaming piece decoder. Behaviour follows llama.cpp
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

static int32_t merge_rank(const eco_tokenizer *t, const char *l, size_t ln, const char *r,
                          size_t rn) {
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

static int build_pieces(eco_tokenizer *t);

int tok_finalize(eco_tokenizer *t, eco_error *err) {
  size_t n = (size_t)t->n_vocab;
  /* text -> id (a later duplicate wins, as in llama.cpp's token_to_id map) */
  size_t cap = pow2_at_least(n * 2 + 1);
  t->hash = malloc(cap * sizeof *t->hash);
  if (!t->hash) goto oom;
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
  /* merges: (left,right) -> index (the first occurrence keeps its rank) */
  if (t->n_merges) {
    size_t mc = pow2_at_least(t->n_merges * 2 + 1);
    t->mhash = malloc(mc * sizeof *t->mhash);
    if (!t->mhash) goto oom;
    memset(t->mhash, 0xFF, mc * sizeof *t->mhash);
    t->mhash_mask = mc - 1;
    for (size_t k = 0; k < t->n_merges; k++) {
      const tok_merge *m = &t->merges[k];
      const char *l = t->marena + m->off, *r = l + m->llen;
      if (merge_rank(t, l, m->llen, r, m->rlen) >= 0) continue;
      size_t i = (size_t)hash_pair(l, m->llen, r, m->rlen) & t->mhash_mask;
      while (t->mhash[i] >= 0)
        i = (i + 1) & t->mhash_mask;
      t->mhash[i] = (int32_t)k;
    }
  }
  /* end-of-turn / end-of-generation tokens by text, as llama.cpp does */
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
  if (!t->eog) goto oom;
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
  /* special tokens matched by text, longest first */
  const uint32_t special_mask = TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED | TOK_ATTR_UNKNOWN;
  size_t ns = 0;
  for (size_t id = 0; id < n; id++)
    if (t->tok[id].attr & special_mask) ns++;
  if (ns) {
    t->special = malloc(ns * sizeof *t->special);
    int32_t *tmp = malloc(ns * sizeof *tmp);
    if (!t->special || !tmp) {
      free(tmp);
      goto oom;
    }
    ns = 0;
    for (size_t id = 0; id < n; id++)
      if (t->tok[id].attr & special_mask) t->special[ns++] = (int32_t)id;
    sort_special(t, t->special, ns, tmp);
    free(tmp);
  }
  t->n_special = ns;
  /* SPM byte fallback tokens: <0xXX>, else the 1-byte token */
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
  /* BPE byte-level map (GPT-2's bytes_to_unicode) */
  memset(t->byte_of_cp, 0xFF, sizeof t->byte_of_cp);
  uint16_t next = 256;
  for (int b = 0; b < 256; b++) {
    bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    t->cp_of_byte[b] = printable ? (uint16_t)b : next++;
    t->byte_of_cp[t->cp_of_byte[b]] = (int16_t)b;
  }
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

/* ---- growable vectors ----------------------------------------------------- */

typedef struct idvec {
  int32_t *v;
  size_t n, cap;
} idvec;

static int idvec_push(idvec *a, int32_t id) {
  if (a->n == a->cap) {
    size_t c = a->cap ? a->cap * 2 : 64;
    int32_t *nv = realloc(a->v, c * sizeof *nv);
    if (!nv) return ECO_ENOMEM;
    a->v = nv;
    a->cap = c;
  }
  a->v[a->n++] = id;
  return ECO_OK;
}

/* Ensures *p holds need elements of size elem; NULL on failure (*p kept). */
static void *grow(void *p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return p;
  size_t c = *cap ? *cap : 64;
  while (c < need)
    c *= 2;
  void *np = realloc(p, c * elem);
  if (np) *cap = c;
  return np;
}

/* ---- merge queue ---------------------------------------------------------- */

/* A candidate merge of symbols left and right. Pops in order of key
 * (SPM: -score; BPE: rank), ties by smaller left index. It is stale when
 * either symbol changed length since it was queued. */
typedef struct bigram {
  double key;
  int32_t left, right;
  uint32_t llen, rlen; /* symbol lengths when queued, bytes */
} bigram;

typedef struct bheap {
  bigram *v;
  size_t n, cap;
} bheap;

static bool bg_less(const bigram *a, const bigram *b) {
  return a->key < b->key || (a->key == b->key && a->left < b->left);
}

static int heap_push(bheap *h, bigram g) {
  if (h->n == h->cap) {
    size_t c = h->cap ? h->cap * 2 : 64;
    bigram *nv = realloc(h->v, c * sizeof *nv);
    if (!nv) return ECO_ENOMEM;
    h->v = nv;
    h->cap = c;
  }
  size_t i = h->n++;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!bg_less(&g, &h->v[p])) break;
    h->v[i] = h->v[p];
    i = p;
  }
  h->v[i] = g;
  return ECO_OK;
}

static bigram heap_pop(bheap *h) {
  bigram top = h->v[0];
  bigram last = h->v[--h->n];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= h->n) break;
    if (c + 1 < h->n && bg_less(&h->v[c + 1], &h->v[c])) c++;
    if (!bg_less(&h->v[c], &last)) break;
    h->v[i] = h->v[c];
    i = c;
  }
  if (h->n) h->v[i] = last;
  return top;
}

typedef struct symbol {
  uint32_t off; /* start in the work buffer, bytes */
  uint32_t n;   /* length, bytes; 0 = merged away */
  int32_t prev, next;
} symbol;

/* Scratch space reused across the words of one encode call. */
typedef struct enc_ctx {
  const eco_tokenizer *t;
  idvec *out;
  symbol *sym;
  size_t sym_cap;
  bheap heap;
  char *buf; /* escaped / byte-encoded text */
  size_t buf_cap;
  uint32_t *cps;
  size_t cps_cap;
  tok_sizes words;
} enc_ctx;

static void enc_free(enc_ctx *c) {
  free(c->sym);
  free(c->heap.v);
  free(c->buf);
  free(c->cps);
  tok_sizes_free(&c->words);
}

/* Splits buf[0..len) into UTF-8 characters (llama.cpp's symbol split). */
static int make_symbols(enc_ctx *c, size_t len, size_t *nsym) {
  void *p = grow(c->sym, &c->sym_cap, len ? len : 1, sizeof *c->sym);
  if (!p) return ECO_ENOMEM;
  c->sym = p;
  size_t k = 0, off = 0;
  while (off < len) {
    size_t l = tok_utf8_len((unsigned char)c->buf[off]);
    if (l > len - off) l = len - off;
    c->sym[k].off = (uint32_t)off;
    c->sym[k].n = (uint32_t)l;
    c->sym[k].prev = (int32_t)k - 1;
    off += l;
    c->sym[k].next = off == len ? -1 : (int32_t)k + 1;
    k++;
  }
  *nsym = k;
  return ECO_OK;
}

/* Runs the queued merges to completion. try(c, l, r) queues a candidate. */
static int run_merges(enc_ctx *c, int (*try)(enc_ctx *, int32_t, int32_t)) {
  int rc;
  while (c->heap.n) {
    bigram g = heap_pop(&c->heap);
    symbol *l = &c->sym[g.left], *r = &c->sym[g.right];
    if (l->n == 0 || r->n == 0 || l->n != g.llen || r->n != g.rlen) continue;
    l->n += r->n;
    r->n = 0;
    l->next = r->next;
    if (r->next >= 0) c->sym[r->next].prev = g.left;
    if ((rc = try(c, l->prev, g.left)) != ECO_OK) return rc;
    if ((rc = try(c, g.left, l->next)) != ECO_OK) return rc;
  }
  return ECO_OK;
}

/* ---- SPM ------------------------------------------------------------------ */

static int spm_try_bigram(enc_ctx *c, int32_t l, int32_t r) {
  if (l < 0 || r < 0) return ECO_OK;
  const symbol *sl = &c->sym[l], *sr = &c->sym[r];
  int32_t id = tok_lookup(c->t, c->buf + sl->off, (size_t)sl->n + sr->n);
  if (id < 0) return ECO_OK;
  bigram g = {-(double)c->t->tok[id].score, l, r, sl->n, sr->n};
  return heap_push(&c->heap, g);
}

/* Tokenizes c->buf[0..len) (already escaped: spaces as U+2581). */
static int spm_session(enc_ctx *c, size_t len) {
  size_t nsym;
  int rc = make_symbols(c, len, &nsym);
  if (rc != ECO_OK || nsym == 0) return rc;
  c->heap.n = 0;
  for (size_t i = 1; i < nsym; i++)
    if ((rc = spm_try_bigram(c, (int32_t)i - 1, (int32_t)i)) != ECO_OK) return rc;
  if ((rc = run_merges(c, spm_try_bigram)) != ECO_OK) return rc;
  for (int32_t i = 0; i != -1; i = c->sym[i].next) {
    const symbol *s = &c->sym[i];
    int32_t id = tok_lookup(c->t, c->buf + s->off, s->n);
    if (id >= 0) {
      if ((rc = idvec_push(c->out, id)) != ECO_OK) return rc;
      continue;
    }
    for (uint32_t j = 0; j < s->n; j++) { /* byte fallback */
      int32_t b = c->t->byte_tok[(unsigned char)c->buf[s->off + j]];
      if (b < 0) b = c->t->unk;
      if (b >= 0 && (rc = idvec_push(c->out, b)) != ECO_OK) return rc;
    }
  }
  return ECO_OK;
}

/* Escapes (optional leading space +) text into c->buf, ' ' -> U+2581. */
static int spm_fragment(enc_ctx *c, const char *text, size_t len, bool prefix_space) {
  void *p = grow(c->buf, &c->buf_cap, 3 * (len + 1), 1);
  if (!p) return ECO_ENOMEM;
  c->buf = p;
  size_t k = 0;
  if (prefix_space) {
    memcpy(c->buf, "\xe2\x96\x81", 3);
    k = 3;
  }
  for (size_t i = 0; i < len; i++) {
    if (text[i] == ' ') {
      memcpy(c->buf + k, "\xe2\x96\x81", 3);
      k += 3;
    } else {
      c->buf[k++] = text[i];
    }
  }
  return spm_session(c, k);
}

/* ---- BPE ------------------------------------------------------------------ */

static int bpe_try_bigram(enc_ctx *c, int32_t l, int32_t r) {
  if (l < 0 || r < 0) return ECO_OK;
  const symbol *sl = &c->sym[l], *sr = &c->sym[r];
  int32_t rank = merge_rank(c->t, c->buf + sl->off, sl->n, c->buf + sr->off, sr->n);
  if (rank < 0) return ECO_OK;
  bigram g = {(double)rank, l, r, sl->n, sr->n};
  return heap_push(&c->heap, g);
}

/* Merges one pre-tokenized word held byte-encoded in c->buf[0..len). */
static int bpe_word(enc_ctx *c, size_t len) {
  const eco_tokenizer *t = c->t;
  int rc;
  if (t->ignore_merges) {
    int32_t id = tok_lookup(t, c->buf, len);
    if (id >= 0) return idvec_push(c->out, id);
  }
  size_t nsym;
  if ((rc = make_symbols(c, len, &nsym)) != ECO_OK || nsym == 0) return rc;
  c->heap.n = 0;
  for (size_t i = 1; i < nsym; i++)
    if ((rc = bpe_try_bigram(c, (int32_t)i - 1, (int32_t)i)) != ECO_OK) return rc;
  if ((rc = run_merges(c, bpe_try_bigram)) != ECO_OK) return rc;
  for (int32_t i = 0; i != -1; i = c->sym[i].next) {
    const symbol *s = &c->sym[i];
    if (s->n == 0) continue;
    int32_t id = tok_lookup(t, c->buf + s->off, s->n);
    if (id >= 0) {
      if ((rc = idvec_push(c->out, id)) != ECO_OK) return rc;
      continue;
    }
    for (uint32_t j = 0; j < s->n; j++) { /* llama.cpp: single-byte tokens or nothing */
      int32_t b = tok_lookup(t, c->buf + s->off + j, 1);
      if (b >= 0 && (rc = idvec_push(c->out, b)) != ECO_OK) return rc;
    }
  }
  return ECO_OK;
}

static int bpe_fragment(enc_ctx *c, const char *text, size_t len) {
  const eco_tokenizer *t = c->t;
  void *p = grow(c->cps, &c->cps_cap, len ? len : 1, sizeof *c->cps);
  if (!p) return ECO_ENOMEM;
  c->cps = p;
  size_t n = tok_utf8_decode(text, len, c->cps);
  int rc = tok_pretokenize(t->pre, c->cps, n, &c->words);
  if (rc != ECO_OK) return rc;
  size_t at = 0;
  for (size_t w = 0; w < c->words.n; w++) {
    size_t wl = c->words.v[w];
    /* each code point is <= 4 UTF-8 bytes, each byte maps to <= 2 bytes */
    p = grow(c->buf, &c->buf_cap, wl * 8 + 1, 1);
    if (!p) return ECO_ENOMEM;
    c->buf = p;
    size_t k = 0;
    for (size_t i = at; i < at + wl; i++) {
      char u[4];
      size_t ul = tok_utf8_encode(c->cps[i], u);
      for (size_t j = 0; j < ul; j++)
        k += tok_utf8_encode(t->cp_of_byte[(unsigned char)u[j]], c->buf + k);
    }
    at += wl;
    if ((rc = bpe_word(c, k)) != ECO_OK) return rc;
  }
  return ECO_OK;
}

/* ---- special-token partition ---------------------------------------------- */

typedef struct frag {
  int32_t id; /* token id, or -1 for raw text */
  size_t off, len;
} frag;

typedef struct fragvec {
  frag *v;
  size_t n, cap;
} fragvec;

static int frag_push(fragvec *f, int32_t id, size_t off, size_t len) {
  void *p = grow(f->v, &f->cap, f->n + 1, sizeof *f->v);
  if (!p) return ECO_ENOMEM;
  f->v = p;
  f->v[f->n++] = (frag){id, off, len};
  return ECO_OK;
}

static const char *find_bytes(const char *h, size_t hn, const char *nd, size_t nn) {
  if (nn == 0 || nn > hn) return NULL;
  const char *end = h + hn - nn;
  for (const char *p = h; p <= end; p++) {
    p = memchr(p, nd[0], (size_t)(end - p) + 1);
    if (!p) return NULL;
    if (memcmp(p, nd, nn) == 0) return p;
  }
  return NULL;
}

/* Splits the text into raw-text and special-token fragments: every special
 * token in turn (longest first) is cut out of the remaining raw text. */
static int partition(const eco_tokenizer *t, const char *text, size_t len, bool parse_special,
                     fragvec *cur) {
  fragvec nxt = {0};
  int rc = ECO_OK;
  cur->n = 0;
  if (len == 0) return ECO_OK;
  if ((rc = frag_push(cur, -1, 0, len)) != ECO_OK) return rc;
  for (size_t s = 0; s < t->n_special; s++) {
    int32_t id = t->special[s];
    const tok_entry *e = &t->tok[id];
    if (!parse_special && (e->attr & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN))) continue;
    const char *tt = t->arena + e->off;
    nxt.n = 0;
    bool changed = false;
    for (size_t i = 0; i < cur->n; i++) {
      frag f = cur->v[i];
      if (f.id >= 0) {
        if ((rc = frag_push(&nxt, f.id, f.off, f.len)) != ECO_OK) goto done;
        continue;
      }
      size_t off = f.off, end = f.off + f.len;
      for (;;) {
        const char *m = find_bytes(text + off, end - off, tt, e->len);
        if (!m) break;
        size_t at = (size_t)(m - text);
        changed = true;
        if (at > off && (rc = frag_push(&nxt, -1, off, at - off)) != ECO_OK) goto done;
        if ((rc = frag_push(&nxt, id, at, e->len)) != ECO_OK) goto done;
        off = at + e->len;
      }
      if (end > off && (rc = frag_push(&nxt, -1, off, end - off)) != ECO_OK) goto done;
    }
    if (changed) {
      fragvec tmp = *cur;
      *cur = nxt;
      nxt = tmp;
    }
  }
done:
  free(nxt.v);
  return rc;
}

int eco_tokenizer_encode(const eco_tokenizer *t, const char *text, size_t len, bool add_special,
                         bool parse_special, int32_t *ids, size_t cap, size_t *n_out) {
  *n_out = 0;
  if (!t || (!text && len) || (!ids && cap)) return ECO_EINVAL;
  if (len > UINT32_MAX / 8) return ECO_EOVERFLOW; /* work buffers use 32-bit offsets */
  idvec out = {0};
  fragvec frags = {0};
  enc_ctx c = {.t = t, .out = &out};
  int rc = partition(t, text, len, parse_special, &frags);
  if (rc != ECO_OK) goto fail;
  if (add_special && t->add_bos && t->bos >= 0 && (rc = idvec_push(&out, t->bos)) != ECO_OK)
    goto fail;
  bool prev_special = true; /* SPM: the first text fragment gets a leading space */
  for (size_t i = 0; i < frags.n; i++) {
    const frag *f = &frags.v[i];
    if (f->id >= 0) {
      if ((rc = idvec_push(&out, f->id)) != ECO_OK) goto fail;
      prev_special = true;
      continue;
    }
    if (t->kind == ECO_TOK_SPM)
      rc = spm_fragment(&c, text + f->off, f->len, t->add_space_prefix && prev_special);
    else
      rc = bpe_fragment(&c, text + f->off, f->len);
    if (rc != ECO_OK) goto fail;
    prev_special = false;
  }
  if (add_special && t->add_eos && t->eos >= 0 && (rc = idvec_push(&out, t->eos)) != ECO_OK)
    goto fail;
  *n_out = out.n;
  if (out.n > cap) {
    rc = ECO_EOVERFLOW;
    goto fail;
  }
  if (out.n) memcpy(ids, out.v, out.n * sizeof *ids);
fail:
  free(out.v);
  free(frags.v);
  enc_free(&c);
  return rc;
}

/* ---- decoding ------------------------------------------------------------- */

/* llama.cpp's llama_decode_text: each code point of a byte-level token
 * maps back to one byte; one outside the map gives "[UNK_BYTE_0x..<text>]". */
static int append_bpe_text(const eco_tokenizer *t, const char *s, size_t n, eco_strbuf *out) {
  size_t i = 0;
  int rc = ECO_OK;
  while (i < n && rc == ECO_OK) {
    uint32_t cp;
    i += tok_utf8_next(s + i, n - i, &cp);
    if (cp < 324 && t->byte_of_cp[cp] >= 0) {
      char b = (char)t->byte_of_cp[cp];
      rc = eco_sb_append(out, &b, 1);
      continue;
    }
    char u[4];
    size_t ul = tok_utf8_encode(cp, u);
    rc = eco_sb_puts(out, "[UNK_BYTE_0x");
    for (size_t j = 0; j < ul && rc == ECO_OK; j++)
      rc = eco_sb_printf(out, "%02x", (unsigned)(unsigned char)u[j]);
    if (rc == ECO_OK) rc = eco_sb_append(out, s, n);
    if (rc == ECO_OK) rc = eco_sb_puts(out, "]");
  }
  return rc;
}

/* The bytes of token id as llama_token_to_piece(special=true) gives them:
 * CONTROL/UNKNOWN/USER_DEFINED as their text, NORMAL with U+2581 -> ' '
 * (SPM) or the byte-level map undone (BPE), SPM BYTE tokens as their byte,
 * anything else as nothing. Computed once per token at load. */
static int piece_compute(const eco_tokenizer *t, int32_t id, eco_strbuf *out) {
  const tok_entry *e = &t->tok[id];
  const char *s = t->arena + e->off;
  size_t n = e->len;
  if (e->attr & (TOK_ATTR_UNKNOWN | TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED))
    return eco_sb_append(out, s, n);
  if (e->attr & TOK_ATTR_NORMAL) {
    if (t->kind != ECO_TOK_SPM) return append_bpe_text(t, s, n, out);
    int rc = ECO_OK;
    for (size_t i = 0; i < n && rc == ECO_OK; i++) {
      if (i + 3 <= n && memcmp(s + i, "\xe2\x96\x81", 3) == 0) {
        rc = eco_sb_append(out, " ", 1);
        i += 2;
      } else {
        rc = eco_sb_append(out, s + i, 1);
      }
    }
    return rc;
  }
  if ((e->attr & TOK_ATTR_BYTE) && t->kind == ECO_TOK_SPM) {
    char hex[3] = {0, 0, 0};
    size_t k = n > 3 ? (n - 3 < 2 ? n - 3 : 2) : 0; /* text.substr(3, 2) */
    if (k) memcpy(hex, s + 3, k);
    char b = (char)strtol(hex, NULL, 16);
    return eco_sb_append(out, &b, 1);
  }
  return ECO_OK; /* UNUSED / UNDEFINED (and BYTE in a BPE vocab): nothing */
}

static int build_pieces(eco_tokenizer *t) {
  eco_strbuf sb;
  eco_sb_init(&sb);
  int rc = ECO_OK;
  for (int32_t id = 0; id < t->n_vocab && rc == ECO_OK; id++) {
    eco_sb_reset(&sb);
    rc = piece_compute(t, id, &sb);
    if (rc == ECO_OK && sb.oom) rc = ECO_ENOMEM;
    if (rc == ECO_OK)
      rc = arena_put(&t->parena, &t->parena_len, &t->parena_cap, sb.data, sb.len, &t->tok[id].poff);
    t->tok[id].plen = (uint32_t)sb.len;
  }
  eco_sb_free(&sb);
  return rc;
}

/* llama_token_to_piece(id, lstrip, special), from the cache. */
static int piece_get(const eco_tokenizer *t, int32_t id, bool special, int lstrip, const char **p,
                     size_t *n) {
  *n = 0;
  if (id < 0 || id >= t->n_vocab) return ECO_EINVAL;
  const tok_entry *e = &t->tok[id];
  if (!special && (e->attr & (TOK_ATTR_UNKNOWN | TOK_ATTR_CONTROL))) return ECO_OK;
  const char *s = t->parena + e->poff;
  size_t len = e->plen;
  for (int i = 0; i < lstrip && len && *s == ' '; i++) {
    s++;
    len--;
  }
  *p = s;
  *n = len;
  return ECO_OK;
}

static int piece_append(const eco_tokenizer *t, int32_t id, bool special, int lstrip,
                        eco_strbuf *out) {
  const char *p = NULL;
  size_t n;
  int rc = piece_get(t, id, special, lstrip, &p, &n);
  if (rc == ECO_OK && n) rc = eco_sb_append(out, p, n);
  return rc;
}

int eco_tokenizer_piece(const eco_tokenizer *t, int32_t id, bool unparse_special, eco_strbuf *out) {
  return piece_append(t, id, unparse_special, 0, out);
}

/* llama.cpp's clean_up_tokenization_spaces: three in-place passes. */
static size_t clean_spaces(char *text, size_t total) {
  size_t total1 = total;
  total = total ? 1 : 0;
  for (size_t i = 1; i < total1; ++i) { /* " ?", " !", " .", " ," */
    const char x = text[i];
    if (text[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) total--;
    text[total++] = x;
  }
  size_t total2 = total;
  total = total ? 1 : 0;
  for (size_t i = 1; i < total2; ++i) { /* " ' " -> "'" */
    const char x = text[i];
    if (x == '\'' && i + 1 < total2 && text[i - 1] == ' ' && text[i + 1] == ' ') {
      total--;
      text[++i] = '\0';
    }
    text[total++] = x;
  }
  size_t total3 = total;
  total = total ? 1 : 0;
  for (size_t i = 1; i < total3; ++i) { /* " 's", " 'm", " 're", " 've" */
    const char x = text[i];
    if (text[i - 1] == ' ' && x == '\'' && i + 1 < total3) {
      const char x1 = text[i + 1];
      if (x1 == 's' || x1 == 'm') {
        total--;
      } else if (x1 != 't' && x1 != 'd' && i + 2 < total3) {
        const char x2 = text[i + 2];
        if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) total--;
      }
    }
    text[total++] = x;
  }
  return total;
}

int eco_tokenizer_decode(const eco_tokenizer *t, const int32_t *ids, size_t n, bool remove_special,
                         bool unparse_special, char *buf, size_t cap, size_t *n_out) {
  *n_out = 0;
  if (!t || (!ids && n) || (!buf && cap)) return ECO_EINVAL;
  bool remove_space = t->add_space_prefix;
  if (remove_special && t->add_bos && n > 0 && ids[0] == t->bos) {
    remove_space = false;
    ids++;
    n--;
  }
  if (remove_special && t->add_eos && n > 0 && ids[n - 1] == t->eos) n--;
  eco_strbuf sb;
  eco_sb_init(&sb);
  int rc = ECO_OK;
  for (size_t i = 0; i < n && rc == ECO_OK; i++) {
    rc = piece_append(t, ids[i], unparse_special, remove_space ? 1 : 0, &sb);
    remove_space = false;
  }
  if (rc == ECO_OK && sb.oom) rc = ECO_ENOMEM;
  if (rc == ECO_OK) {
    size_t total = sb.len;
    if (t->clean_spaces && total) total = clean_spaces(sb.data, total);
    *n_out = total;
    if (total > cap)
      rc = ECO_EOVERFLOW;
    else if (total)
      memcpy(buf, sb.data, total);
  }
  eco_sb_free(&sb);
  return rc;
}

/* ---- streaming ------------------------------------------------------------ */

void eco_tok_stream_init(eco_tok_stream *s, const eco_tokenizer *t, bool unparse_special) {
  memset(s, 0, sizeof *s);
  s->tok = t;
  s->unparse_special = unparse_special;
}

int eco_tok_stream_push(eco_tok_stream *s, int32_t id, eco_strbuf *out) {
  if (!s->tok) return ECO_EINVAL;
  const char *p = NULL;
  size_t n;
  int rc = piece_get(s->tok, id, s->unparse_special, 0, &p, &n);
  if (rc == ECO_OK && n) rc = eco_utf8_feed(&s->hold, ECO_UTF8_PASS, p, n, out);
  return rc;
}

int eco_tok_stream_flush(eco_tok_stream *s, eco_strbuf *out) {
  return eco_utf8_flush(&s->hold, ECO_UTF8_PASS, out);
}
