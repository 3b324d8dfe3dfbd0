/* ecoinfer: tokenizer loaders — GGUF metadata and llama2.c tokenizer.bin. */
#include "engine/tok_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- GGUF ----------------------------------------------------------------- */

static int load_special_id(const eco_gguf *g, const char *key, int32_t n_vocab, int32_t *id) {
  uint64_t v;
  int rc = eco_gguf_get_u64(g, key, &v);
  if (rc == ECO_ENOENT || rc == ECO_ERANGE) return ECO_OK;
  if (rc != ECO_OK) return rc;
  if (v < (uint64_t)n_vocab) *id = (int32_t)v; /* out of range (e.g. 0xFFFFFFFF): keep default */
  return ECO_OK;
}

static int load_bool(const eco_gguf *g, const char *key, bool *out) {
  int rc = eco_gguf_get_bool(g, key, out);
  return rc == ECO_ENOENT ? ECO_OK : rc;
}

/* tokenizer.ggml.model (llama: SPM, gpt2: BPE) and tokenizer.ggml.pre ("" when absent). */
static int read_kind(const eco_gguf *g, eco_tok_kind *kind, char *pre, size_t pre_cap,
                     eco_error *err) {
  char model[32];
  int rc = eco_gguf_get_str(g, "tokenizer.ggml.model", model, sizeof model);
  if (rc == ECO_ENOENT)
    return eco_error_set(err, ECO_EFORMAT, "tokenizer: GGUF has no tokenizer.ggml.model");
  if (rc != ECO_OK)
    return eco_error_set(err, ECO_EUNSUPPORTED, "tokenizer: bad tokenizer.ggml.model (%s)",
                         eco_strerror(rc));
  if (!strcmp(model, "llama"))
    *kind = ECO_TOK_SPM;
  else if (!strcmp(model, "gpt2"))
    *kind = ECO_TOK_BPE;
  else
    return eco_error_set(err, ECO_EUNSUPPORTED,
                         "tokenizer: tokenizer.ggml.model '%s' not supported (llama, gpt2)", model);
  pre[0] = '\0';
  rc = eco_gguf_get_str(g, "tokenizer.ggml.pre", pre, pre_cap);
  if (rc != ECO_OK && rc != ECO_ENOENT)
    return eco_error_set(err, ECO_EUNSUPPORTED, "tokenizer: bad tokenizer.ggml.pre (%s)",
                         eco_strerror(rc));
  return ECO_OK;
}

/* The vocabulary's arrays: the token strings [n_tok], and the optional float32 scores and
 * int32 types [n_tok] each (NULL when absent). */
typedef struct vocab_arrays {
  uint64_t n_tok;
  const uint8_t *tokens, *scores, *types;
} vocab_arrays;

static int read_vocab(const eco_gguf *g, vocab_arrays *v, eco_error *err) {
  eco_gguf_vtype et;
  uint64_t n;
  int rc = eco_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &v->n_tok, &v->tokens);
  if (rc != ECO_OK || et != ECO_GGUF_STRING)
    return eco_error_set(err, ECO_EFORMAT,
                         "tokenizer: tokenizer.ggml.tokens missing or not a string array");
  if (v->n_tok == 0 || v->n_tok > INT32_MAX)
    return eco_error_set(err, ECO_EFORMAT, "tokenizer: %llu tokens is out of range",
                         (unsigned long long)v->n_tok);
  v->scores = v->types = NULL;
  if (eco_gguf_get_arr(g, "tokenizer.ggml.scores", &et, &n, &v->scores) != ECO_OK)
    v->scores = NULL;
  else if (et != ECO_GGUF_FLOAT32 || n != v->n_tok)
    return eco_error_set(err, ECO_EFORMAT,
                         "tokenizer: tokenizer.ggml.scores must be %llu float32 values",
                         (unsigned long long)v->n_tok);
  if (eco_gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &n, &v->types) != ECO_OK)
    v->types = NULL;
  else if (et != ECO_GGUF_INT32 || n != v->n_tok)
    return eco_error_set(err, ECO_EFORMAT,
                         "tokenizer: tokenizer.ggml.token_type must be %llu int32 values",
                         (unsigned long long)v->n_tok);
  return ECO_OK;
}

static int fill_tokens(eco_tokenizer *t, const vocab_arrays *v, eco_error *err) {
  const uint8_t *pos = v->tokens;
  for (uint64_t i = 0; i < v->n_tok; i++) {
    eco_gguf_str s = eco_gguf_arr_next_str(&pos);
    float score = 0.0f;
    int32_t type = ECO_TOKT_NORMAL; /* no token_type array: treat as normal text */
    if (v->scores) memcpy(&score, v->scores + 4 * i, 4);
    if (v->types) memcpy(&type, v->types + 4 * i, 4);
    int rc = tok_set_token(t, (int32_t)i, s.ptr, (size_t)s.len, score, type);
    if (rc != ECO_OK)
      return eco_error_set(err, rc, "tokenizer: token %llu: %s", (unsigned long long)i,
                           eco_strerror(rc));
  }
  return ECO_OK;
}

/* BPE: tokenizer.ggml.merges, then the pre-tokenizer named by pre. */
static int load_merges(const eco_gguf *g, eco_tokenizer *t, const char *pre, eco_error *err) {
  eco_gguf_vtype et;
  uint64_t n;
  const uint8_t *mdata;
  if (eco_gguf_get_arr(g, "tokenizer.ggml.merges", &et, &n, &mdata) != ECO_OK ||
      et != ECO_GGUF_STRING)
    return eco_error_set(err, ECO_EFORMAT,
                         "tokenizer: gpt2 tokenizer without a tokenizer.ggml.merges string array");
  const uint8_t *pos = mdata;
  for (uint64_t i = 0; i < n; i++) {
    eco_gguf_str s = eco_gguf_arr_next_str(&pos);
    int rc = tok_add_merge(t, s.ptr, (size_t)s.len);
    if (rc != ECO_OK)
      return eco_error_set(err, rc, "tokenizer: merge %llu: %s", (unsigned long long)i,
                           eco_strerror(rc));
  }
  return tok_set_pre(t, pre, err);
}

/* The flags and special token ids; a key of the wrong type is an ECO_EFORMAT error. */
static int load_specials(const eco_gguf *g, eco_tokenizer *t, eco_error *err) {
  static const char *const k_ids[] = {
      "tokenizer.ggml.bos_token_id",     "tokenizer.ggml.eos_token_id",
      "tokenizer.ggml.eot_token_id",     "tokenizer.ggml.eom_token_id",
      "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.seperator_token_id",
      "tokenizer.ggml.padding_token_id",
  };
  int32_t *dst[] = {&t->bos, &t->eos, &t->eot, &t->eom, &t->unk, &t->sep, &t->pad};
  bool asp = t->add_space_prefix;
  int rc = load_bool(g, "tokenizer.ggml.add_space_prefix", &asp);
  if (rc == ECO_OK) t->add_space_prefix = asp;
  for (size_t k = 0; rc == ECO_OK && k < sizeof k_ids / sizeof k_ids[0]; k++)
    rc = load_special_id(g, k_ids[k], t->n_vocab, dst[k]);
  if (rc == ECO_OK) rc = load_bool(g, "tokenizer.ggml.add_bos_token", &t->add_bos);
  if (rc == ECO_OK) rc = load_bool(g, "tokenizer.ggml.add_eos_token", &t->add_eos);
  if (rc != ECO_OK)
    return eco_error_set(err, ECO_EFORMAT,
                         "tokenizer: a tokenizer.ggml.* key has the wrong type (%s)",
                         eco_strerror(rc));
  return ECO_OK;
}

int eco_tokenizer_from_gguf(const eco_gguf *g, eco_tokenizer **out, eco_error *err) {
  eco_tokenizer *t = NULL;
  char pre[64];
  eco_tok_kind kind = ECO_TOK_SPM;
  vocab_arrays v;
  *out = NULL;
  if (!g) return eco_error_set(err, ECO_EINVAL, "tokenizer: no GGUF file");
  int rc = read_kind(g, &kind, pre, sizeof pre, err);
  if (rc == ECO_OK) rc = read_vocab(g, &v, err);
  if (rc != ECO_OK) return rc;
  rc = tok_create(kind, (int32_t)v.n_tok, &t);
  if (rc != ECO_OK) return eco_error_set(err, rc, "tokenizer: out of memory");
  if ((rc = fill_tokens(t, &v, err)) != ECO_OK ||
      (kind == ECO_TOK_BPE && (rc = load_merges(g, t, pre, err)) != ECO_OK) ||
      (rc = load_specials(g, t, err)) != ECO_OK || (rc = tok_finalize(t, err)) != ECO_OK) {
    eco_tokenizer_free(t);
    return rc;
  }
  *out = t;
  return ECO_OK;
}

/* ---- llama2.c tokenizer.bin ----------------------------------------------- */

static bool read_exact(FILE *f, void *p, size_t n) { return fread(p, 1, n, f) == n; }

/* Token rules of llama.cpp's convert-llama2c-to-ggml (which made
 * stories260K-f32.gguf from tok512.bin): 0 <unk>, 1 <s>, 2 </s>, empty ->
 * CONTROL, "<0x.." -> BYTE, spaces written as U+2581. */
static int l2c_add(eco_tokenizer *t, int32_t id, const char *text, size_t len, float score) {
  int type = ECO_TOKT_NORMAL;
  if (id == 0) {
    text = "<unk>";
    len = 5;
    type = ECO_TOKT_UNKNOWN;
  } else if (id == 1) {
    text = "<s>";
    len = 3;
    type = ECO_TOKT_CONTROL;
  } else if (id == 2) {
    text = "</s>";
    len = 4;
    type = ECO_TOKT_CONTROL;
  } else if (len == 0) {
    type = ECO_TOKT_CONTROL;
  } else if (len >= 4 && memcmp(text, "<0x", 3) == 0 &&
             ((text[3] >= '0' && text[3] <= '9') || (text[3] >= 'a' && text[3] <= 'f') ||
              (text[3] >= 'A' && text[3] <= 'F'))) {
    type = ECO_TOKT_BYTE; /* sscanf("<0x%02hhX>") == 1 */
  }
  size_t spaces = 0;
  for (size_t i = 0; i < len; i++)
    spaces += text[i] == ' ';
  if (spaces == 0) return tok_set_token(t, id, text, len, score, type);
  char *esc = malloc(len + 2 * spaces);
  if (!esc) return ECO_ENOMEM;
  size_t k = 0;
  for (size_t i = 0; i < len; i++) {
    if (text[i] == ' ') {
      memcpy(esc + k, "\xe2\x96\x81", 3);
      k += 3;
    } else {
      esc[k++] = text[i];
    }
  }
  int rc = tok_set_token(t, id, esc, k, score, type);
  free(esc);
  return rc;
}

int eco_tokenizer_from_llama2c(const char *path, uint32_t vocab_size, eco_tokenizer **out,
                               eco_error *err) {
  eco_tokenizer *t = NULL;
  char *buf = NULL;
  int rc = ECO_OK;
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) return eco_error_set(err, ECO_ENOENT, "tokenizer: cannot open '%s'", path);
  /* count tokens first when the size is not given */
  int32_t max_len;
  if (!read_exact(f, &max_len, 4) || max_len < 0) {
    rc = eco_error_set(err, ECO_EFORMAT, "tokenizer: '%s': bad llama2.c header", path);
    goto fail;
  }
  long start = ftell(f);
  uint32_t count = 0;
  for (;;) {
    float score;
    int32_t len;
    if (vocab_size && count == vocab_size) break;
    if (!read_exact(f, &score, 4)) {
      if (vocab_size == 0 && feof(f)) break;
      rc = eco_error_set(err, ECO_EFORMAT, "tokenizer: '%s': truncated at token %u", path, count);
      goto fail;
    }
    if (!read_exact(f, &len, 4) || len < 0 || len > (1 << 20) || fseek(f, len, SEEK_CUR) != 0) {
      rc = eco_error_set(err, ECO_EFORMAT, "tokenizer: '%s': bad token %u", path, count);
      goto fail;
    }
    count++;
    if (count > (1u << 24)) {
      rc = eco_error_set(err, ECO_EFORMAT, "tokenizer: '%s': too many tokens", path);
      goto fail;
    }
  }
  if (count == 0 || count < 3) {
    rc = eco_error_set(err, ECO_EFORMAT, "tokenizer: '%s': %u tokens", path, count);
    goto fail;
  }
  /* fseek past EOF succeeds: check the file size too */
  if (fseek(f, 0, SEEK_END) != 0) {
    rc = eco_error_set(err, ECO_EIO, "tokenizer: '%s': seek failed", path);
    goto fail;
  }
  long size = ftell(f);
  if (fseek(f, start, SEEK_SET) != 0) {
    rc = eco_error_set(err, ECO_EIO, "tokenizer: '%s': seek failed", path);
    goto fail;
  }
  if ((rc = tok_create(ECO_TOK_SPM, (int32_t)count, &t)) != ECO_OK) {
    eco_error_set(err, rc, "tokenizer: out of memory");
    goto fail;
  }
  for (uint32_t i = 0; i < count; i++) {
    float score;
    int32_t len;
    if (!read_exact(f, &score, 4) || !read_exact(f, &len, 4) || len < 0 ||
        ftell(f) + (long)len > size) {
      rc = eco_error_set(err, ECO_EFORMAT, "tokenizer: '%s': truncated at token %u", path, i);
      goto fail;
    }
    char *nb = realloc(buf, (size_t)len + 1);
    if (!nb) {
      rc = eco_error_set(err, ECO_ENOMEM, "tokenizer: out of memory");
      goto fail;
    }
    buf = nb;
    if (!read_exact(f, buf, (size_t)len)) {
      rc = eco_error_set(err, ECO_EFORMAT, "tokenizer: '%s': truncated at token %u", path, i);
      goto fail;
    }
    if ((rc = l2c_add(t, (int32_t)i, buf, (size_t)len, score)) != ECO_OK) {
      eco_error_set(err, rc, "tokenizer: token %u: %s", i, eco_strerror(rc));
      goto fail;
    }
  }
  if ((rc = tok_finalize(t, err)) != ECO_OK) goto fail;
  fclose(f);
  free(buf);
  *out = t;
  return ECO_OK;
fail:
  fclose(f);
  free(buf);
  eco_tokenizer_free(t);
  return rc;
}
