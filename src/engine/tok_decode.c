/* ecoinfer: tokenizer decoding — token pieces, whole-sequence decoding
 * with llama.cpp's space clean-up, and the streaming piece decoder.
 * Behaviour follows llama.cpp (llama-vocab.cpp at c392e509); see
 * docs/tokenizer.md for the rules. */
#include "engine/tok_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
int tok_piece_compute(const eco_tokenizer *t, int32_t id, eco_strbuf *out) {
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
