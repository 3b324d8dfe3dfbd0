/* ecoinfer: the batching engine's state, shared by engine.c (the public API: submit,
 * cancel, stats, the records' lifetime) and engine_step.c (the engine thread's step loop).
 * Engine files only.
 *
 * Threading: the fields marked "guarded by mu" change under eco_engine.mu; the scratch
 * and each request's tokens, text and sampler belong to the engine thread. */
#ifndef ECO_ENGINE_ENGINE_INTERNAL_H
#define ECO_ENGINE_ENGINE_INTERNAL_H

#include "engine/engine.h"
#include "engine/prefix.h"
#include "engine/sampler.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <pthread.h>
#include <stdint.h>

typedef struct eco_engine_req {
  uint64_t id;
  int32_t *tokens; /* prompt then generated ids, [n_prompt + max_tokens] */
  uint32_t n_prompt;
  uint32_t n_tokens; /* valid entries of tokens */
  eco_gen_params p;  /* stop points into stop_copy */
  char **stop_copy;
  eco_token_cb cb;
  void *user;
  void *sampler;     /* ops->sampler_new state */
  eco_tok_stream ts; /* UTF-8-safe piece decoder */
  eco_stop stop;     /* stop-string matcher (holds back possible prefixes) */
  eco_gen_stats st;
  bool admitted; /* KV reserved on the engine thread */
  int32_t slot;
  bool cancel;    /* cancel requested (engine thread finalizes) */
  bool done;      /* no more work; final callback due or delivered */
  bool delivered; /* final callback returned: the record may be freed */
  bool forget;    /* eco_engine_forget came before delivery: free after it */
  double last_tok_t;
  double itl_sum;
  uint32_t n_itl;
  double batch_sum;
  uint32_t n_batch;
} eco_engine_req;

struct eco_engine {
  eco_engine_model_ops ops;
  void *model;
  const eco_tokenizer *tok;
  const eco_logger *log;
  eco_engine_cfg cfg;
  eco_sched *sched;      /* guarded by mu */
  eco_engine_req **reqs; /* guarded by mu */
  size_t n_reqs, cap_reqs;
  uint64_t next_id;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t thread;
  bool stop;
  bool hold;              /* no new step starts while set (eco_engine_hold); guarded by mu */
  eco_engine_usage usage; /* guarded by mu */
  /* engine thread scratch */
  eco_sched_item *items;     /* [max_batch] the step being run */
  eco_engine_req **item_req; /* [max_batch] request of each item */
  bool *finished;            /* [max_batch] item's request ended in this step */
  int32_t *out_tok;          /* [max_batch] token to deliver (INT32_MIN: none) */
  eco_strbuf *out_txt;       /* [max_batch] text to deliver */
  eco_gen_stats *out_st;     /* [max_batch] stats to deliver */
  int32_t *tok_buf;
  size_t tok_cap;
  float *logits;
  size_t logits_rows;
  eco_prefix *prefix;      /* prefix cache, NULL when off; engine thread only */
  eco_prefix_block **pblk; /* [n_ctx / prefix_block] blocks matched at admission */
};

static inline double eco_engine_now_s(void) { return (double)eco_time_mono_ns() * 1e-9; }

/* The record of request id, or NULL. Caller holds mu. */
eco_engine_req *eco_engine_find_req(eco_engine *b, uint64_t id);
/* Removes and frees record i. Caller holds mu. */
void eco_engine_remove_at(eco_engine *b, size_t i);
/* The engine thread: plans, runs and delivers steps until b->stop. */
void *eco_engine_main(void *arg);

#endif
