/* ecoinfer: the generation backend the node server drives.
 *
 * The server never calls the engine directly: it talks to an eco_backend, a
 * small vtable. The engine's batch scheduler (issue 5) gets an adapter to it;
 * the deterministic fake (backend_fake.h) serves tests and demos.
 *
 * Threading contract (every implementation must keep it):
 *  - submit/cancel/stats/info may be called from any thread (the server
 *    calls them from its event-loop thread) and must not block for long.
 *  - The token callback runs on a backend thread. It must not block; the
 *    server only copies the piece and wakes its event loop.
 *  - For every successful submit the callback receives zero or more
 *    ECO_BACKEND_TOKEN events and then exactly one ECO_BACKEND_DONE event,
 *    after which the backend never touches that request's user pointer again.
 *    cancel() of a running or queued request leads to DONE with finish
 *    reason "cancelled" soon after (cancel of an unknown or finished id
 *    returns ECO_ENOENT and has no effect).
 *  - Stop strings are applied by the backend: text pieces never contain a
 *    stop string or text after it.
 */
#ifndef ECO_SERVER_BACKEND_H
#define ECO_SERVER_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint64_t eco_backend_id;

/* Chat messages (OpenAI "messages" entries, text content only) are the
 * engine's type: engine/chat.h owns eco_chat_msg. */
#include "engine/chat.h"

typedef struct eco_sampling {
  double temperature;   /* 0 = greedy; OpenAI range 0..2 */
  double top_p;         /* nucleus mass, (0, 1] */
  int top_k;            /* 0 = off */
  double presence_pen;  /* -2..2 */
  double frequency_pen; /* -2..2 */
  uint64_t seed;        /* RNG seed when has_seed */
  bool has_seed;
} eco_sampling;

/* A generation request. All pointers are only valid during submit(): the
 * backend copies what it keeps. Exactly one of messages / prompt is set. */
typedef struct eco_backend_request {
  const eco_chat_msg *messages; /* chat: the backend applies the model's chat template */
  size_t n_messages;
  const char *prompt; /* completions: raw prompt text */
  eco_sampling sampling;
  int max_tokens; /* generated tokens at most, >= 1 */
  const char *const *stop;
  size_t n_stop;
  bool ignore_eos;     /* generate max_tokens even past end-of-generation tokens (benchmarks) */
  int directive_level; /* generation directive level the server applied (0 = none); its
                        * instruction is already in messages/prompt. Backends that generate
                        * ignore it; the replay backend answers with that level's recording */
} eco_backend_request;

/* Per-request statistics. Times are wall-clock durations. */
typedef struct eco_backend_stats {
  int prompt_tokens;      /* tokens in the (templated) prompt */
  int cached_tokens;      /* of them, tokens whose KV came from the prefix cache */
  int generated_tokens;   /* tokens generated so far */
  double queue_s;         /* s from submit until admission to a batch */
  double ttft_s;          /* s from submit until the first token, 0 if none yet */
  double per_token_s;     /* mean s between generated tokens after the first */
  double cpu_s;           /* CPU time attributed to this request, s */
  double energy_j;        /* energy attributed to this request, J (when energy_known) */
  char energy_source[32]; /* "rapl", "nvml", "model", ... ("" if unknown) */
  bool energy_known;      /* false: the server estimates from cpu_s */
  bool energy_estimated;  /* true if energy_j is itself a model estimate */
  int batch_size;         /* sequences in the batch at the last step */
  double device_s;        /* s the request held the device as the backend measured it, 0 =
                           * the server's wall time (the replay backend: the recorded time) */
} eco_backend_stats;

typedef enum eco_backend_event_kind {
  ECO_BACKEND_TOKEN = 0, /* text holds one decoded piece (may be "" for partial UTF-8) */
  ECO_BACKEND_DONE = 1,  /* generation ended: finish_reason and stats are set */
} eco_backend_event_kind;

typedef struct eco_backend_event {
  eco_backend_event_kind kind;
  eco_backend_id id;
  const char *text;               /* TOKEN: UTF-8 piece (not NUL-terminated) */
  size_t len;                     /* TOKEN: bytes in text */
  const char *finish_reason;      /* DONE: "stop", "length", "cancelled" or "error" */
  int error;                      /* DONE: 0, or an ECO_E* code when finish_reason is "error" */
  const eco_backend_stats *stats; /* DONE: final statistics (valid during the call) */
} eco_backend_event;

/* Called on a backend thread; must return quickly and never block. */
typedef void (*eco_backend_token_cb)(const eco_backend_event *ev, void *user);

/* What the node serves, for /v1/models, /ready, /v1/node and /metrics. */
typedef struct eco_backend_info {
  char model_name[128];      /* id clients put in "model" */
  char device[64];           /* "cpu", "cuda:0", ... */
  int context_length;        /* tokens */
  bool loaded;               /* model ready to serve */
  int queue_len;             /* requests waiting for admission */
  int queue_cap;             /* bound of the waiting queue */
  int active;                /* sequences in the running batch */
  int max_batch;             /* per-node maximum batch */
  double kv_used_bytes;      /* bytes of KV cache reserved, B */
  double kv_budget_bytes;    /* KV cache budget, B (0 = unknown) */
  uint64_t failed_nonfinite; /* requests failed on NaN/infinite logits (a broken model), count */

  /* How chats are rendered: "jinja" (the model's own template) or the family
   * it falls back to ("chatml", "llama3", ...); "" = the backend does not say.
   * The warning says why it falls back, or what may fail; "" = none. */
  char chat_template[16];
  char chat_template_warning[400];
  /* prefix cache (all 0 without one) */
  bool prefix_cache;          /* the backend reuses KV across requests */
  double prefix_hits;         /* requests that reused cached KV */
  double prefix_misses;       /* requests that found none */
  double prefix_saved_tokens; /* prompt tokens taken from the cache instead of computed */
  double prefix_bytes;        /* KV bytes cached, B (within kv_budget_bytes) */
  double prefix_evictions;    /* blocks evicted */
} eco_backend_info;

typedef struct eco_backend_vtable {
  /* Queues a request. Returns 0 and *id, ECO_EBUSY when the queue is full,
   * ECO_ECONTEXT when the prompt plus max_tokens cannot fit the context,
   * ECO_EINVAL for a bad request. On error the callback is never called. */
  int (*submit)(void *self, const eco_backend_request *req, eco_backend_token_cb cb, void *user,
                eco_backend_id *id);
  /* Cancels a queued or running request (see the contract above). */
  int (*cancel)(void *self, eco_backend_id id);
  /* Statistics of a request between submit and its DONE event; ECO_ENOENT after. */
  int (*stats)(void *self, eco_backend_id id, eco_backend_stats *out);
  /* Snapshot of the node's state. */
  int (*info)(void *self, eco_backend_info *out);
  /* Cancels everything, waits for the DONE events, frees the backend. */
  void (*destroy)(void *self);
} eco_backend_vtable;

typedef struct eco_backend {
  const eco_backend_vtable *vt;
  void *self;
} eco_backend;

#endif
