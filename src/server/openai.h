/* ecoinfer: OpenAI-compatible request parsing and response building.
 *
 * Parsing is pure (no I/O, no clock) so the fuzzer (fuzz/fuzz_openai.c) and
 * unit tests drive it directly. JSON is parsed with jansson using
 * JSON_REJECT_DUPLICATES: a body with a repeated key ("max_tokens" twice) is
 * ambiguous and gets 400 rather than last-wins. jansson also rejects invalid
 * UTF-8, nesting deeper than 2048 and numbers that overflow; every failure is
 * an eco_oai_error with OpenAI's error shape, never a crash. Unknown fields
 * are ignored (SDKs send extras); known fields of the wrong type or out of
 * range are rejected naming the field in "param".
 */
#ifndef ECO_SERVER_OPENAI_H
#define ECO_SERVER_OPENAI_H

#include "carbon/sci.h"
#include "server/backend.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct eco_oai_limits {
  int max_tokens_limit;   /* largest accepted max_tokens */
  int default_max_tokens; /* used when the request gives none */
  size_t max_messages;    /* messages per chat request */
  size_t max_stop;        /* stop strings (OpenAI: 4) */
  size_t max_text_bytes;  /* total prompt text, bytes */
} eco_oai_limits;

void eco_oai_limits_default(eco_oai_limits *l);

typedef struct eco_oai_error {
  int status;     /* HTTP status: 400, 401, 404, 413, 429, 503, 500 */
  char type[40];  /* "invalid_request_error", "authentication_error", ... */
  char param[64]; /* offending field or "" (JSON null) */
  char code[40];  /* "" (null) or a code such as "model_not_found" */
  char message[256];
} eco_oai_error;

/* Fills *e and returns its status. */
int eco_oai_error_set(eco_oai_error *e, int status, const char *type, const char *param,
                      const char *code, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* {"error":{"message":..,"type":..,"param":..,"code":..}}; malloc'd, NULL on OOM. */
char *eco_oai_error_json(const eco_oai_error *e);

typedef struct eco_oai_request {
  bool chat;   /* /v1/chat/completions (else /v1/completions) */
  char *model; /* as requested */
  eco_chat_msg *messages;
  size_t n_messages;
  char *prompt; /* completions */
  eco_sampling sampling;
  int max_tokens;
  char **stop;
  size_t n_stop;
  bool stream;
  bool include_usage; /* stream_options.include_usage */
  bool echo;          /* completions: echo the prompt */
  bool ignore_eos;    /* extension (llama.cpp, vLLM): generate max_tokens regardless of EOS */
} eco_oai_request;

/* Parses a request body. Returns 0, or the HTTP status (400/413) with *err set. */
int eco_oai_parse(bool chat, const char *body, size_t len, const eco_oai_limits *lim,
                  eco_oai_request *out, eco_oai_error *err);
void eco_oai_request_free(eco_oai_request *r);

/* Token usage plus the carbon receipt, as it goes into "usage". */
typedef struct eco_oai_usage {
  int prompt_tokens;
  int completion_tokens;
  int cached_tokens;         /* prompt tokens reused from the prefix cache (OpenAI's
                                prompt_tokens_details.cached_tokens) */
  const eco_receipt *carbon; /* NULL: omitted */
  bool has_directive;        /* add carbon.directive_level */
  int directive_level;       /* directive level applied, 0 = none */
} eco_oai_usage;

/* The "usage" object (new reference). */
void *eco_oai_usage_json(const eco_oai_usage *u);

/* A whole non-streaming response (malloc'd JSON text). */
char *eco_oai_response_json(bool chat, const char *id, long created, const char *model,
                            const char *text, size_t len, const char *finish_reason,
                            const eco_oai_usage *u);

/* One stream chunk's JSON (malloc'd): a text delta (text != NULL), a finish
 * chunk (finish_reason != NULL), or a usage chunk (u != NULL, empty choices).
 * role_first adds {"role":"assistant"} to the first chat delta. */
char *eco_oai_chunk_json(bool chat, const char *id, long created, const char *model,
                         const char *text, size_t len, bool role_first, const char *finish_reason,
                         const eco_oai_usage *u, bool usage_null);

#endif
