/* ecoinfer: token sampling and stop strings.
 *
 * Pipeline per step (logits [n_vocab] in, token id out):
 *   repetition penalty over the last repeat_last_n accepted tokens
 *   (logit > 0 ? logit / penalty : logit * penalty), then
 *   temperature <= 0: greedy argmax (ties: lowest id); otherwise
 *   top-k -> softmax(logit / temperature) -> top-p -> min-p -> draw
 *   with a seeded xorshift generator (same seed, same tokens).
 */
#ifndef ECO_ENGINE_SAMPLER_H
#define ECO_ENGINE_SAMPLER_H

#include "util/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct eco_sampler_params {
  float temperature;    /* <= 0: greedy */
  int top_k;            /* <= 0: off */
  float top_p;          /* >= 1: off */
  float min_p;          /* <= 0: off */
  float repeat_penalty; /* 1: off */
  int repeat_last_n;    /* tokens of history the penalty looks at */
  uint64_t seed;
} eco_sampler_params;

/* temperature 0.8, top_k 40, top_p 0.95, min_p 0.05, no penalty, seed 0 */
eco_sampler_params eco_sampler_default_params(void);

typedef struct eco_sampler eco_sampler;

int eco_sampler_new(const eco_sampler_params *p, int n_vocab, eco_sampler **out, eco_error *err);
void eco_sampler_free(eco_sampler *s);
/* Picks a token from logits [n_vocab] (not modified) and records it in
 * the history. */
int32_t eco_sampler_sample(eco_sampler *s, const float *logits);
/* Adds a token to the penalty history without sampling (prompt tokens). */
void eco_sampler_accept(eco_sampler *s, int32_t token);
/* Greedy argmax (ties: lowest id; NaN never beats a number). */
int32_t eco_argmax(const float *logits, int n);
/* True if every one of the n logits is finite. A model with a NaN weight or
 * a bad hyperparameter gives NaN or infinite logits; callers fail such a
 * request (ECO_ENUMERIC) rather than sample from them. */
bool eco_logits_finite(const float *logits, size_t n);

/* Stop strings over streamed text. Feed each decoded piece; the matcher
 * returns how much text is safe to print now (text that cannot be the
 * start of a stop string) and whether a stop string has been completed
 * (the text before it is still emitted, the stop string is not). */
typedef struct eco_stop {
  char **stops; /* [n] NUL-terminated */
  size_t n;
  char *pending; /* held-back text that may begin a stop string */
  size_t len, cap;
  bool hit;
} eco_stop;

int eco_stop_init(eco_stop *st, const char *const *stops, size_t n);
void eco_stop_free(eco_stop *st);
/* Appends piece; *emit / *emit_len receive text to print (valid until the
 * next call). Returns true once a stop string has been seen. */
bool eco_stop_feed(eco_stop *st, const char *piece, size_t len, const char **emit,
                   size_t *emit_len);
/* At the end of generation: the held-back text (no stop string matched). */
void eco_stop_flush(eco_stop *st, const char **emit, size_t *emit_len);

#endif
