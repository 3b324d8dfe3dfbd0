/* ecoinfer: tokenizer encoding — SPM and byte-level BPE, both with a
 * priority queue of merges (O(n log n)), after the special-token
 * partition. Behaviour follows llama.cpp (llama-vocab.cpp at c392e509);
 * see docs/tokenizer.md for the rules. */
#include "engine/tok_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
  int32_t rank = tok_merge_rank(c->t, c->buf + sl->off, sl->n, c->buf + sr->off, sr->n);
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
