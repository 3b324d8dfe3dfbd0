/* ecoinfer: tokenizers compatible with llama.cpp (llama_tokenize /
 * llama_detokenize / llama_token_to_piece).
 *
 * Two algorithms, chosen by GGUF `tokenizer.ggml.model`:
 *   "llama" SentencePiece-style BPE over piece scores, text prefixed with a
 *           space, spaces shown as U+2581 (▁), unknown bytes as <0xXX> tokens.
 *   "gpt2"  byte-level BPE over ranked merges, after a pre-tokenizer split
 *           chosen by `tokenizer.ggml.pre` (gpt-2/default, llama3/llama-bpe,
 *           qwen2, smollm, ...).
 * A llama2.c `tokenizer.bin` loads as "llama" (SPM) with the llama2.c ids
 * (0 <unk>, 1 <s>, 2 </s>, byte tokens 3..258).
 *
 * Token ids are int32_t as in llama.cpp. A tokenizer is immutable after
 * loading and safe to share between threads. It never keeps pointers into
 * the GGUF mapping (the file may be closed after loading).
 * See docs/tokenizer.md.
 */
#ifndef ECO_ENGINE_TOKENIZER_H
#define ECO_ENGINE_TOKENIZER_H

#include "engine/gguf.h"
#include "util/status.h"
#include "util/strbuf.h"
#include "util/utf8.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct eco_tokenizer eco_tokenizer;

/* Tokenizer algorithm (values as llama.cpp's llama_vocab_type). */
typedef enum eco_tok_kind {
  ECO_TOK_SPM = 1, /* "llama": SentencePiece BPE with byte fallback */
  ECO_TOK_BPE = 2, /* "gpt2": byte-level BPE */
} eco_tok_kind;

/* Token types (values of GGUF tokenizer.ggml.token_type). */
typedef enum eco_tok_attr {
  ECO_TOKT_UNDEFINED = 0,
  ECO_TOKT_NORMAL = 1,
  ECO_TOKT_UNKNOWN = 2,
  ECO_TOKT_CONTROL = 3,
  ECO_TOKT_USER_DEFINED = 4,
  ECO_TOKT_UNUSED = 5,
  ECO_TOKT_BYTE = 6,
} eco_tok_attr;

/* ---- loading ------------------------------------------------------------ */

/* Builds the tokenizer from GGUF metadata: tokenizer.ggml.{model, pre,
 * tokens, scores, token_type, merges, bos_token_id, eos_token_id, ...,
 * add_bos_token, add_eos_token}. Missing optional keys take llama.cpp's
 * defaults. An unknown model or pre-tokenizer gets ECO_EUNSUPPORTED. */
int eco_tokenizer_from_gguf(const eco_gguf *g, eco_tokenizer **out, eco_error *err);

/* Loads a llama2.c tokenizer.bin (int32 max_token_length; then per token:
 * float32 score, int32 len, len bytes). vocab_size comes from the
 * checkpoint header (the file does not record it); 0 = read until EOF. */
int eco_tokenizer_from_llama2c(const char *tokenizer_bin_path, uint32_t vocab_size,
                               eco_tokenizer **out, eco_error *err);

void eco_tokenizer_free(eco_tokenizer *t);

/* ---- properties --------------------------------------------------------- */

eco_tok_kind eco_tokenizer_kind(const eco_tokenizer *t);
/* Pre-tokenizer name as in the metadata ("" for SPM / absent). */
const char *eco_tokenizer_pre(const eco_tokenizer *t);
int32_t eco_tokenizer_n_vocab(const eco_tokenizer *t);
int32_t eco_tokenizer_bos(const eco_tokenizer *t); /* -1 if none */
int32_t eco_tokenizer_eos(const eco_tokenizer *t); /* -1 if none */
int32_t eco_tokenizer_eot(const eco_tokenizer *t); /* -1 if none (<|eot_id|>, <|im_end|>, ...) */
bool eco_tokenizer_add_bos(const eco_tokenizer *t);
bool eco_tokenizer_add_eos(const eco_tokenizer *t);
/* End-of-generation: EOS, EOT and the other end tokens llama.cpp treats as
 * such (<|im_end|>, <|eot_id|>, <|endoftext|>, <end_of_turn>, ...). */
bool eco_tokenizer_is_eog(const eco_tokenizer *t, int32_t id);
/* CONTROL or UNKNOWN token: its text is produced only with unparse_special. */
bool eco_tokenizer_is_control(const eco_tokenizer *t, int32_t id);
eco_tok_attr eco_tokenizer_attr(const eco_tokenizer *t, int32_t id);
/* The raw vocabulary text of a token (e.g. "▁the" or "Ġthe"), not
 * NUL-terminated; NULL for an id out of range. */
const char *eco_tokenizer_token_text(const eco_tokenizer *t, int32_t id, size_t *len);
/* Id of a token whose vocabulary text is exactly s[0..len), or -1. */
int32_t eco_tokenizer_find(const eco_tokenizer *t, const char *s, size_t len);

/* ---- encoding ----------------------------------------------------------- */

/* llama_tokenize: text (len bytes, need not be NUL-terminated, may be any
 * bytes including invalid UTF-8) to ids.
 * add_special: add BOS/EOS where the tokenizer says so (add_bos/add_eos).
 * parse_special: exact text of CONTROL / USER_DEFINED tokens becomes their id
 * (USER_DEFINED tokens are always matched, as in llama.cpp).
 * Writes at most cap ids; *n_out = number of ids produced. If cap is too
 * small returns ECO_EOVERFLOW with *n_out = the number needed (ids may be
 * NULL when cap is 0; ECO_EINVAL if NULL with cap > 0). Texts over 512 MiB
 * get ECO_EOVERFLOW. O(n log n) in the text length. */
int eco_tokenizer_encode(const eco_tokenizer *t, const char *text, size_t len, bool add_special,
                         bool parse_special, int32_t *ids, size_t cap, size_t *n_out);

/* ---- decoding ----------------------------------------------------------- */

/* llama_token_to_piece(id, lstrip=0, special=unparse_special): the bytes of
 * one token. SPM: ▁ -> ' ', <0xXX> -> that byte. BPE: byte-level map undone.
 * CONTROL tokens give their text only when unparse_special, else nothing;
 * USER_DEFINED tokens always give their text. Appends to out. */
int eco_tokenizer_piece(const eco_tokenizer *t, int32_t id, bool unparse_special, eco_strbuf *out);

/* llama_detokenize: concatenated pieces with llama.cpp's rules:
 * remove_special drops a leading BOS (if add_bos) and a trailing EOS (if
 * add_eos); SPM removes the leading space of the first piece unless the
 * sequence started with a removed BOS; BPE pre "gpt-2" applies
 * clean_up_tokenization_spaces. Writes at most cap bytes (no NUL is added);
 * *n_out = bytes produced; ECO_EOVERFLOW with *n_out = bytes needed when cap
 * is too small. ECO_EINVAL for an id out of range. */
int eco_tokenizer_decode(const eco_tokenizer *t, const int32_t *ids, size_t n, bool remove_special,
                         bool unparse_special, char *buf, size_t cap, size_t *n_out);

/* Streaming decoder for generated tokens: feed one id at a time; it appends
 * only whole UTF-8 characters, holding back the bytes of a character that
 * a later token completes (SPM byte tokens, BPE bytes of an emoji). Bytes
 * that can never form a valid character are emitted as they are.
 * Pieces are emitted as llama_token_to_piece gives them (no leading-space
 * removal, no clean-up). The state is this struct; nothing is allocated
 * besides growing out. */
typedef struct eco_tok_stream {
  const eco_tokenizer *tok;
  bool unparse_special; /* emit CONTROL token text */
  eco_utf8_hold hold;   /* an incomplete character's bytes (util/utf8.h, PASS mode) */
} eco_tok_stream;

void eco_tok_stream_init(eco_tok_stream *s, const eco_tokenizer *t, bool unparse_special);
/* Appends the text that token id completes. ECO_EINVAL for a bad id. */
int eco_tok_stream_push(eco_tok_stream *s, int32_t id, eco_strbuf *out);
/* Appends whatever is still held back (an incomplete character at the end of
 * generation) and resets the state. */
int eco_tok_stream_flush(eco_tok_stream *s, eco_strbuf *out);

#endif
