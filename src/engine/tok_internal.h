/* ecoinfer: tokenizer internals shared by tokenizer.c (the tables and
 * their building), tok_encode.c (SPM and BPE encoding), tok_decode.c
 * (pieces, decoding, streaming), tok_load.c (GGUF and llama2.c loaders) and
 * tok_pretok.c (pre-tokenizer splitters). Not a public interface. */
#ifndef ECO_ENGINE_TOK_INTERNAL_H
#define ECO_ENGINE_TOK_INTERNAL_H

#include "engine/tokenizer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Token attribute bits, as llama.cpp's llama_token_attr. */
#define TOK_ATTR_UNDEFINED    0u
#define TOK_ATTR_UNKNOWN      (1u << 0)
#define TOK_ATTR_UNUSED       (1u << 1)
#define TOK_ATTR_NORMAL       (1u << 2)
#define TOK_ATTR_CONTROL      (1u << 3)
#define TOK_ATTR_USER_DEFINED (1u << 4)
#define TOK_ATTR_BYTE         (1u << 5)

/* Pre-tokenizer families (the regex lists llama.cpp uses per
 * tokenizer.ggml.pre). */
typedef enum tok_pre {
  TOK_PRE_NONE = 0, /* SPM: no pre-tokenizer */
  TOK_PRE_DEFAULT,  /* "default" / absent */
  TOK_PRE_GPT2,     /* gpt-2, phi-2, mpt, olmo, jais, roberta-bpe, gigachat */
  TOK_PRE_LLAMA3,   /* llama3, llama-v3, llama-bpe, falcon3, dbrx, smaug-bpe */
  TOK_PRE_QWEN2,    /* qwen2, deepseek-r1-qwen, megrez, stablelm2 */
  TOK_PRE_SMOLLM,   /* smollm, starcoder, refact, command-r, codeshell, exaone, minerva-7b */
  TOK_PRE_FALCON,   /* falcon */
  TOK_PRE_GPT4O,    /* gpt-4o, llama4 (Phi-4-mini, Llama 4) */
} tok_pre;

typedef struct tok_entry {
  uint32_t off;  /* text offset in the arena, bytes */
  uint32_t len;  /* text length, bytes */
  uint32_t poff; /* decoded piece (llama_token_to_piece, special=true) in parena */
  uint32_t plen; /* its length, bytes */
  float score;   /* SPM merge score */
  uint32_t attr; /* TOK_ATTR_* bits */
  uint8_t type;  /* eco_tok_attr as stored in the metadata */
} tok_entry;

typedef struct tok_merge {
  uint32_t off;  /* left||right bytes in the merge arena */
  uint32_t llen; /* left length, bytes */
  uint32_t rlen; /* right length, bytes */
  int32_t rank;  /* merge priority (lower first) */
} tok_merge;

struct eco_tokenizer {
  eco_tok_kind kind;
  tok_pre pre;
  char pre_name[64];
  int32_t n_vocab;
  tok_entry *tok; /* [n_vocab] */
  char *arena;    /* all token texts */
  size_t arena_len, arena_cap;
  char *parena; /* all decoded pieces */
  size_t parena_len, parena_cap;
  int32_t *hash; /* text -> id, open addressing, -1 empty; [hash_mask + 1] */
  size_t hash_mask;
  tok_merge *merges; /* [n_merges] */
  size_t n_merges, merges_cap;
  char *marena; /* merge texts */
  size_t marena_len, marena_cap;
  int32_t *mhash; /* (left,right) -> merge index; [mhash_mask + 1] */
  size_t mhash_mask;
  int32_t bos, eos, eot, eom, unk, sep, pad; /* -1 = none */
  bool add_bos, add_eos, add_space_prefix, clean_spaces, ignore_merges;
  int32_t *special; /* CONTROL/USER_DEFINED/UNKNOWN ids, longest text first */
  size_t n_special;
  int32_t *eog; /* end-of-generation ids, sorted */
  size_t n_eog;
  int32_t byte_tok[256];    /* SPM: id of <0xXX> (or the 1-byte token), -1 if none */
  uint16_t cp_of_byte[256]; /* BPE byte-level map: byte -> code point */
  int16_t byte_of_cp[324];  /* inverse, -1 where unmapped */
};

/* ---- building (tok_load.c uses these; tokenizer.c implements them) ---- */

/* A tokenizer with n_vocab empty slots and the llama.cpp defaults of kind. */
int tok_create(eco_tok_kind kind, int32_t n_vocab, eco_tokenizer **out);
/* Sets token id's text (copied), score and metadata type. */
int tok_set_token(eco_tokenizer *t, int32_t id, const char *text, size_t len, float score,
                  int type);
/* Adds a merge "left right" (split at the first space after byte 0). */
int tok_add_merge(eco_tokenizer *t, const char *s, size_t len);
/* Selects the pre-tokenizer by name ("" = default); sets pre-dependent
 * defaults (add_bos, clean_spaces, ignore_merges). ECO_EUNSUPPORTED if
 * unknown. */
int tok_set_pre(eco_tokenizer *t, const char *name, eco_error *err);
/* Builds lookup tables, special-token cache, EOG set. Call after all
 * tokens, merges and ids are set. */
int tok_finalize(eco_tokenizer *t, eco_error *err);
/* Id of an exact text, or -1. */
int32_t tok_lookup(const eco_tokenizer *t, const char *s, size_t len);
/* Rank of the merge (left l, right r), or -1 when there is none. */
int32_t tok_merge_rank(const eco_tokenizer *t, const char *l, size_t ln, const char *r, size_t rn);

/* ---- decoding (tok_decode.c) --------------------------------------------- */

/* Token id's piece as llama_token_to_piece(id, special=true) computes it
 * (tok_finalize caches every one), appended to out. */
int tok_piece_compute(const eco_tokenizer *t, int32_t id, eco_strbuf *out);

/* ---- UTF-8 and pre-tokenization (tok_pretok.c) ------------------------- */

/* Byte length of a UTF-8 sequence from its lead byte (llama.cpp's
 * unicode_len_utf8: continuation bytes count 1). */
size_t tok_utf8_len(unsigned char lead);
/* Decodes one code point from s[0..len) (len >= 1) like llama.cpp's
 * unicode_cpt_from_utf8; an invalid byte gives U+FFFD and consumes 1 byte.
 * Returns the bytes consumed. */
size_t tok_utf8_next(const char *s, size_t len, uint32_t *cp);
/* Decodes like llama.cpp's unicode_cpts_from_utf8: invalid bytes become
 * U+FFFD (one per byte); values above U+10FFFF also become U+FFFD.
 * cps must hold len entries; returns the count. */
size_t tok_utf8_decode(const char *s, size_t len, uint32_t *cps);
/* Encodes one code point; returns bytes written (1..4). */
size_t tok_utf8_encode(uint32_t cp, char out[4]);

typedef struct tok_sizes {
  size_t *v;
  size_t n, cap;
} tok_sizes;

/* Splits cps[0..n) into words for the pre-tokenizer pre; word lengths (in
 * code points, all > 0, summing to n) are stored in *out (reset first). */
int tok_pretokenize(tok_pre pre, const uint32_t *cps, size_t n, tok_sizes *out);
void tok_sizes_free(tok_sizes *s);

#endif
