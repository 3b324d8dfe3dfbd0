/* ecoinfer: continuous-batching scheduler core (pure; no model, no clock).
 *
 * The engine loop asks the scheduler, before every forward pass, which
 * sequences run and with how many tokens; it then runs ONE pass over the
 * weights for all of them and reports back. The scheduler owns:
 *
 *  - Admission against a KV-cache budget. A sequence is admitted only when
 *    its whole reservation fits: (n_prompt + max_new) positions x
 *    kv_bytes_per_token. So an admitted sequence can never run out of KV
 *    memory mid-generation, and the process never over-commits.
 *  - A bounded FIFO wait queue. Submitting to a full queue returns ECO_EBUSY
 *    (the server turns it into 429/503 with Retry-After). Admission is
 *    strictly FIFO, so a large request cannot be starved by small ones.
 *  - Chunked prefill. Each step gives every decoding sequence 1 token first,
 *    then spends the rest of the step's token budget on prompt chunks of at
 *    most prefill_chunk tokens. A long prompt is spread over several steps
 *    and never stalls the decoders.
 *  - Retirement and cancellation. Both free the reservation and the slot at
 *    once, so the next queued sequence can be admitted at the next step.
 *
 * Times are passed in by the caller (seconds on any monotonic clock), and
 * only used for statistics.
 */
#ifndef ECO_ENGINE_SCHED_H
#define ECO_ENGINE_SCHED_H

#include "util/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct eco_sched_cfg {
  uint64_t kv_budget_bytes; /* total KV-cache bytes all sequences may reserve */
  uint64_t
      kv_bytes_per_token; /* bytes per position: n_layer * 2 (K,V) * n_kv_head * head_dim * elem */
  uint32_t max_batch;     /* max sequences admitted at once (= KV slots) */
  uint32_t max_queue;     /* max sequences waiting; beyond: ECO_EBUSY */
  uint32_t prefill_chunk; /* max prompt tokens of one sequence per step */
  uint32_t step_tokens;   /* max tokens (decode + prefill) in one step */
  uint32_t n_ctx;         /* model context length, positions */
} eco_sched_cfg;

typedef enum eco_seq_state {
  ECO_SEQ_QUEUED = 0,  /* waiting for admission */
  ECO_SEQ_PREFILL = 1, /* admitted, prompt not fully processed */
  ECO_SEQ_DECODE = 2,  /* generating one token per step */
  ECO_SEQ_DONE = 3,    /* finished or canceled; slot freed */
} eco_seq_state;

typedef struct eco_sched_seq {
  uint64_t id;          /* caller's request id */
  uint32_t n_prompt;    /* prompt tokens */
  uint32_t max_new;     /* max generated tokens */
  uint32_t n_prefilled; /* prompt tokens already in the KV cache */
  uint32_t n_generated; /* tokens generated so far */
  eco_seq_state state;
  int32_t slot;            /* KV slot index in [0, max_batch), -1 if none */
  uint64_t reserved_bytes; /* KV bytes reserved for this sequence */
  double t_submit;         /* s, caller's clock */
  double t_admit;          /* s, 0 until admitted */
  double t_first_token;    /* s, 0 until the first token */
  double t_done;           /* s, 0 until done */
} eco_sched_seq;

/* One entry of a step: run n_tokens of sequence seq starting at position
 * pos. decode entries have n_tokens == 1 and produce a token; a prefill
 * entry produces a token only when it completes the prompt (logits). */
typedef struct eco_sched_item {
  uint64_t id;       /* sequence id */
  int32_t slot;      /* KV slot */
  uint32_t pos;      /* first position written */
  uint32_t n_tokens; /* tokens in this step */
  bool wants_logits; /* last token's logits are sampled */
} eco_sched_item;

typedef struct eco_sched_step {
  eco_sched_item *items; /* capacity max_batch, owned by the scheduler */
  uint32_t n_items;
  uint32_t n_tokens; /* total tokens in the step */
  uint32_t n_decode; /* items that are decodes */
} eco_sched_step;

typedef struct eco_sched eco_sched;

/* ECO_EINVAL for a config that can never admit anything (zero budget, zero
 * batch, zero step tokens). */
int eco_sched_new(const eco_sched_cfg *cfg, eco_sched **out);
void eco_sched_free(eco_sched *s);

/* Queues a sequence. ECO_ECONTEXT if n_prompt + max_new > n_ctx or
 * n_prompt == 0; ECO_ENOMEM if its reservation exceeds the whole budget (it
 * could never run); ECO_EBUSY if the queue is full; ECO_EINVAL on a
 * duplicate id. Nothing changes on error. */
int eco_sched_submit(eco_sched *s, uint64_t id, uint32_t n_prompt, uint32_t max_new, double now);

/* Admits what fits (FIFO) and plans the next step into *step (valid until
 * the next call). An empty step (n_items == 0) means nothing to do. */
int eco_sched_plan(eco_sched *s, double now, eco_sched_step *step);

/* Reports the outcome of the planned step: advances positions; for each
 * item that produced a token, the caller passes whether that sequence is
 * now finished (EOS, stop string or max_new reached are detected by the
 * caller; max_new is also enforced here). finished[i] refers to
 * step->items[i]. */
int eco_sched_complete(eco_sched *s, const eco_sched_step *step, const bool *finished, double now);

/* Marks the first n prompt tokens of a sequence admitted in the last plan
 * as already in its KV cache (a reused prefix), before any of its prefill
 * ran: its prefill continues at position n. Needs 0 < n < n_prompt;
 * ECO_ESTATE if prefill already started, ECO_ENOENT if unknown. */
int eco_sched_skip_prefill(eco_sched *s, uint64_t id, uint32_t n);

/* Cancels a queued or running sequence; frees its slot and reservation at
 * once. ECO_ENOENT if unknown or already done. */
int eco_sched_cancel(eco_sched *s, uint64_t id, double now);

/* Looks up a sequence (including done ones not yet reaped). */
const eco_sched_seq *eco_sched_get(const eco_sched *s, uint64_t id);
/* Removes a done sequence's record. */
int eco_sched_reap(eco_sched *s, uint64_t id);

typedef struct eco_sched_usage {
  uint32_t queued;      /* sequences waiting */
  uint32_t active;      /* sequences admitted (prefill + decode) */
  uint64_t kv_reserved; /* bytes reserved */
  uint64_t kv_budget;   /* bytes */
} eco_sched_usage;
void eco_sched_usage_get(const eco_sched *s, eco_sched_usage *u);

/* KV bytes per position for a model: n_layer * 2 * n_kv_head * head_dim * elem_bytes. */
uint64_t eco_sched_kv_bytes_per_token(uint32_t n_layer, uint32_t n_kv_head, uint32_t head_dim,
                                      uint32_t elem_bytes);

#endif
