/* ecoinfer: the batching engine (continuous batching over one model).
 *
 * One engine thread owns the model. Each iteration it asks the scheduler
 * (engine/sched.h) what to run, runs ONE forward pass for all scheduled
 * sequences (decodes and prompt chunks together, so each weight matrix is
 * read once per step for the whole batch), samples a token for every
 * sequence that produced logits, turns tokens into text, applies stop
 * strings and limits, and delivers tokens through the request's callback.
 *
 * Threads: eco_engine_submit/cancel/stats may be called from any thread.
 * Callbacks run on the engine thread and must not block (hand the data to
 * your own loop, e.g. libevent's event_active). After a request's final
 * callback (done == true) the engine never calls it again.
 *
 * Memory: a request is admitted only when its KV reservation
 * ((prompt + max_tokens) positions) fits the budget; otherwise it waits in
 * a bounded queue, and a full queue is ECO_EBUSY at submission. The KV
 * memory of a slot is allocated at admission through ops->kv_reserve; if
 * that allocation fails the request ends with ECO_FINISH_ERROR (never a
 * crash). The model is reached only through eco_engine_model_ops, so the
 * engine is tested with a deterministic fake model as well as real ones.
 *
 * Prefix reuse (cfg.prefix_block > 0 and a model with kv_save/kv_load):
 * at admission the longest cached prefix of the prompt, in whole blocks of
 * prefix_block tokens and at most n_prompt - 1 tokens, is copied into the
 * request's KV and its prefill starts after it; prompt blocks are cached
 * when a prefill completes, and the blocks of generated tokens when a
 * request finishes. The cache lives in the KV budget next to the
 * reservations: cached bytes + reserved bytes stay within it, evicting
 * least recently used blocks when admission needs room (engine/prefix.h).
 * Reused KV is bit-identical to recomputed KV, so outputs do not change.
 */
#ifndef ECO_ENGINE_ENGINE_H
#define ECO_ENGINE_ENGINE_H

#include "engine/sched.h"
#include "engine/tokenizer.h"
#include "util/log.h"
#include "util/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sampling parameters of one request. */
typedef struct eco_gen_params {
  float temperature;       /* 0 = greedy */
  int32_t top_k;           /* 0 = off */
  float top_p;             /* 1 = off */
  float min_p;             /* 0 = off */
  float repeat_penalty;    /* 1 = off */
  int32_t repeat_last_n;   /* window of the penalty, tokens */
  uint64_t seed;           /* RNG seed of this request */
  uint32_t max_tokens;     /* max generated tokens (> 0) */
  const char *const *stop; /* stop strings (copied at submit), may be NULL */
  size_t n_stop;
  bool ignore_eos; /* keep generating after an end-of-generation token */
} eco_gen_params;

void eco_gen_params_default(eco_gen_params *p);

/* The model as the engine sees it. All calls happen on the engine thread. */
typedef struct eco_engine_model_ops {
  uint32_t n_vocab;            /* logits per row */
  uint32_t n_ctx;              /* context length, positions */
  uint64_t kv_bytes_per_token; /* KV bytes per position (all layers, K and V) */
  /* Prepares KV slot for n_positions (allocation happens here). */
  int (*kv_reserve)(void *model, int32_t slot, uint32_t n_positions);
  void (*kv_release)(void *model, int32_t slot);
  /* Optional, both or neither (the prefix cache): the KV of positions
   * [pos, pos + n) of a slot packed into n * kv_bytes_per_token bytes at
   * dst, and back into a slot (kv_load makes the slot hold pos + n
   * positions; pos must not leave a gap). */
  int (*kv_save)(void *model, int32_t slot, uint32_t pos, uint32_t n, void *dst);
  int (*kv_load)(void *model, int32_t slot, uint32_t pos, uint32_t n, const void *src);
  /* One pass over the weights for n_items chunks. tokens holds each item's
   * n_tokens ids back to back (item order). For every item with
   * wants_logits, one row of n_vocab floats is written to logits, in item
   * order: logits is [n_logit_rows][n_vocab]. */
  int (*forward)(void *model, const eco_sched_item *items, uint32_t n_items, const int32_t *tokens,
                 float *logits);
  /* Per-request sampler: created at submit (prompt given for repetition
   * penalties), used for every token, freed when the request ends. NULL
   * from sampler_new means out of memory. sample() picks a token from one
   * row of logits (which it may modify) and records it in the sampler. */
  void *(*sampler_new)(void *model, const eco_gen_params *p, const int32_t *prompt,
                       size_t n_prompt);
  int32_t (*sample)(void *model, void *sampler, float *logits);
  void (*sampler_free)(void *model, void *sampler);
} eco_engine_model_ops;

typedef enum eco_finish_reason {
  ECO_FINISH_NONE = 0,     /* still running */
  ECO_FINISH_STOP = 1,     /* end-of-generation token or stop string */
  ECO_FINISH_LENGTH = 2,   /* max_tokens or context length */
  ECO_FINISH_CANCELED = 3, /* eco_engine_cancel or engine shutdown */
  ECO_FINISH_ERROR = 4,    /* allocation or model error (error: ECO_ENUMERIC for NaN/inf logits) */
} eco_finish_reason;

const char *eco_finish_reason_name(eco_finish_reason r); /* "stop", "length", ... */

/* Per-request statistics (times in s, monotonic clock). */
typedef struct eco_gen_stats {
  uint32_t prompt_tokens;
  uint32_t cached_tokens; /* prompt tokens whose KV came from the prefix cache */
  uint32_t generated_tokens;
  double queue_s;       /* submit -> admission */
  double ttft_s;        /* submit -> first token */
  double total_s;       /* submit -> done */
  double itl_mean_s;    /* mean inter-token latency */
  double itl_max_s;     /* worst inter-token gap */
  double engine_busy_s; /* sum over steps of (step time x share of the step's tokens) */
  double cpu_s;         /* engine CPU time attributed the same way */
  double t_submit, t_admit, t_first, t_done; /* s, monotonic */
  uint32_t batch_mean_x100;                  /* mean batch size of its decode steps x 100 */
  eco_finish_reason finish;
  int error; /* eco_status when finish == ERROR */
} eco_gen_stats;

/* Token delivery. text/len: new UTF-8 text (may be empty: a token can end
 * mid-character, or be held back while it might start a stop string).
 * token < 0 on the final call when no token comes with it. The return value
 * is ignored; cancel with eco_engine_cancel. */
typedef void (*eco_token_cb)(void *user, uint64_t id, int32_t token, const char *text, size_t len,
                             bool done, const eco_gen_stats *stats);

typedef struct eco_engine_cfg {
  eco_sched_cfg sched;   /* budget, batch, queue, chunking (n_ctx, kv bytes from ops) */
  uint32_t max_requests; /* records kept (active + queued + finished awaiting stats) */
  uint32_t prefix_block; /* tokens per prefix-cache block; 0 = no prefix cache */
} eco_engine_cfg;

typedef struct eco_engine eco_engine;

/* Starts the engine thread. tok may be NULL (no text, no stop strings). */
int eco_engine_new(const eco_engine_model_ops *ops, void *model, const eco_tokenizer *tok,
                   const eco_engine_cfg *cfg, const eco_logger *log, eco_engine **out,
                   eco_error *err);
/* Stops the thread; every unfinished request gets its final callback with
 * ECO_FINISH_CANCELED first. */
void eco_engine_free(eco_engine *b);

/* Submits a tokenized prompt. Errors (nothing queued, no callback):
 * ECO_EBUSY queue full; ECO_ECONTEXT prompt + max_tokens > context;
 * ECO_ENOMEM reservation larger than the whole budget; ECO_EINVAL. */
int eco_engine_submit(eco_engine *b, const int32_t *prompt, uint32_t n_prompt,
                      const eco_gen_params *p, eco_token_cb cb, void *user, uint64_t *id);
/* Cancels at once: the slot and its KV reservation are free for the next
 * step; the final callback (ECO_FINISH_CANCELED) comes from the engine
 * thread. ECO_ENOENT if unknown or already finished. */
int eco_engine_cancel(eco_engine *b, uint64_t id);
/* Stats of a running or finished request (finished ones are kept until
 * eco_engine_forget or until max_requests forces the oldest out). */
int eco_engine_stats(eco_engine *b, uint64_t id, eco_gen_stats *out);
/* Drops a finished request's record (safe from its final callback or right
 * after it). ECO_ESTATE if it is still running. */
int eco_engine_forget(eco_engine *b, uint64_t id);

/* While held, the engine finishes the step it is running and starts no new
 * one; cancellations are still finalized. Submissions queue up and are
 * planned together when the hold is released (requests that arrive as one
 * burst, e.g. a benchmark's batch or a router's batch window). */
void eco_engine_hold(eco_engine *b, bool hold);

typedef struct eco_engine_usage {
  eco_sched_usage sched; /* queue, active, KV bytes */
  uint64_t steps;        /* forward passes run */
  uint64_t tokens;       /* tokens processed (prompt + generated) */
  uint64_t generated;    /* tokens generated */
  double busy_s;         /* time spent in steps, s */
  uint32_t last_batch;   /* items in the last step */
  uint64_t nonfinite;    /* requests failed because their logits held NaN or infinity */
  /* prefix cache (all 0 when it is off) */
  uint64_t prefix_hits;         /* admitted requests that reused cached KV */
  uint64_t prefix_misses;       /* admitted requests that found none */
  uint64_t prefix_saved_tokens; /* prompt tokens taken from the cache, not computed */
  uint64_t prefix_blocks;       /* blocks cached now */
  uint64_t prefix_bytes;        /* KV bytes they hold (within the KV budget) */
  uint64_t prefix_evictions;    /* blocks evicted so far */
} eco_engine_usage;
void eco_engine_usage_get(eco_engine *b, eco_engine_usage *u);

#endif
