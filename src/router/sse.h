/* ecoinfer router: small pure helpers for proxying OpenAI-style traffic:
 * splitting a server-sent-events byte stream into events, counting
 * generated tokens in a stream whose backend reports no usage, and
 * estimating prompt tokens from a request body before any tokenizer has
 * seen it. */
#ifndef ECO_ROUTER_SSE_H
#define ECO_ROUTER_SSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length of the first complete event in buf[0..len) including its blank
 * line terminator ("\n\n" or "\r\n\r\n"), or 0 if the event is not
 * complete yet. */
size_t eco_sse_event_len(const char *buf, size_t len);

/* Kinds of one event's data. */
typedef enum eco_sse_kind {
  ECO_SSE_OTHER = 0, /* comment, keep-alive or no data line */
  ECO_SSE_DONE = 1,  /* data: [DONE] */
  ECO_SSE_DATA = 2,  /* data: a JSON payload */
} eco_sse_kind;

/* Classifies an event and points *data and *data_len at its data payload (the
 * text after "data:" and one optional space on the first data line). */
eco_sse_kind eco_sse_classify(const char *ev, size_t len, const char **data, size_t *data_len);

/* True if a chunk's JSON payload carries generated text: a non-empty
 * "content" (chat delta) or "text" (completions) string. One streamed
 * chunk is counted as one token (llama.cpp, vLLM and Ollama stream one
 * token per chunk); used only when the backend reports no usage. */
bool eco_sse_has_text(const char *data, size_t len);

/* True if a chunk's JSON payload has a non-null "usage" member (cheap
 * textual test, before parsing). */
bool eco_sse_has_usage(const char *data, size_t len);

/* Rough prompt-token estimate from a request body's text: chat messages'
 * content (strings or text parts) or the completions prompt, at 4 bytes
 * per token plus 4 tokens per message. json is a jansson json_t *. */
uint32_t eco_router_estimate_prompt_tokens(const void *json_body);

#endif
