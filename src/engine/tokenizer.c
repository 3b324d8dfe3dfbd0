/* ecoinfer: tokenizers (skeleton; see tokenizer.h). */
#include "engine/tokenizer.h"

#include <stdlib.h>
#include <string.h>

struct eco_tokenizer {
  eco_tok_kind kind;
};

int eco_tokenizer_from_gguf(const eco_gguf *g, eco_tokenizer **out, eco_error *err) {
  (void)g;
  *out = NULL;
  return eco_error_set(err, ECO_ENOTIMPL, "tokenizer: GGUF loading not implemented yet");
}

int eco_tokenizer_from_llama2c(const char *tokenizer_bin_path, uint32_t vocab_size,
                               eco_tokenizer **out, eco_error *err) {
  (void)tokenizer_bin_path;
  (void)vocab_size;
  *out = NULL;
  return eco_error_set(err, ECO_ENOTIMPL, "tokenizer: llama2.c loading not implemented yet");
}

void eco_tokenizer_free(eco_tokenizer *t) { free(t); }

eco_tok_kind eco_tokenizer_kind(const eco_tokenizer *t) { return t->kind; }
const char *eco_tokenizer_pre(const eco_tokenizer *t) {
  (void)t;
  return "";
}
int32_t eco_tokenizer_n_vocab(const eco_tokenizer *t) {
  (void)t;
  return 0;
}
int32_t eco_tokenizer_bos(const eco_tokenizer *t) {
  (void)t;
  return -1;
}
int32_t eco_tokenizer_eos(const eco_tokenizer *t) {
  (void)t;
  return -1;
}
int32_t eco_tokenizer_eot(const eco_tokenizer *t) {
  (void)t;
  return -1;
}
bool eco_tokenizer_add_bos(const eco_tokenizer *t) {
  (void)t;
  return false;
}
bool eco_tokenizer_add_eos(const eco_tokenizer *t) {
  (void)t;
  return false;
}
bool eco_tokenizer_is_eog(const eco_tokenizer *t, int32_t id) {
  (void)t;
  (void)id;
  return false;
}
bool eco_tokenizer_is_control(const eco_tokenizer *t, int32_t id) {
  (void)t;
  (void)id;
  return false;
}
eco_tok_attr eco_tokenizer_attr(const eco_tokenizer *t, int32_t id) {
  (void)t;
  (void)id;
  return ECO_TOKT_UNDEFINED;
}
const char *eco_tokenizer_token_text(const eco_tokenizer *t, int32_t id, size_t *len) {
  (void)t;
  (void)id;
  if (len) *len = 0;
  return NULL;
}
int32_t eco_tokenizer_find(const eco_tokenizer *t, const char *s, size_t len) {
  (void)t;
  (void)s;
  (void)len;
  return -1;
}

int eco_tokenizer_encode(const eco_tokenizer *t, const char *text, size_t len, bool add_special,
                         bool parse_special, int32_t *ids, size_t cap, size_t *n_out) {
  (void)t;
  (void)text;
  (void)len;
  (void)add_special;
  (void)parse_special;
  (void)ids;
  (void)cap;
  *n_out = 0;
  return ECO_ENOTIMPL;
}

int eco_tokenizer_piece(const eco_tokenizer *t, int32_t id, bool unparse_special, eco_strbuf *out) {
  (void)t;
  (void)id;
  (void)unparse_special;
  (void)out;
  return ECO_ENOTIMPL;
}

int eco_tokenizer_decode(const eco_tokenizer *t, const int32_t *ids, size_t n, bool remove_special,
                         bool unparse_special, char *buf, size_t cap, size_t *n_out) {
  (void)t;
  (void)ids;
  (void)n;
  (void)remove_special;
  (void)unparse_special;
  (void)buf;
  (void)cap;
  *n_out = 0;
  return ECO_ENOTIMPL;
}

void eco_tok_stream_init(eco_tok_stream *s, const eco_tokenizer *t, bool unparse_special) {
  memset(s, 0, sizeof *s);
  s->tok = t;
  s->unparse_special = unparse_special;
}

int eco_tok_stream_push(eco_tok_stream *s, int32_t id, eco_strbuf *out) {
  (void)s;
  (void)id;
  (void)out;
  return ECO_ENOTIMPL;
}

int eco_tok_stream_flush(eco_tok_stream *s, eco_strbuf *out) {
  (void)out;
  s->n_pend = 0;
  return ECO_ENOTIMPL;
}
