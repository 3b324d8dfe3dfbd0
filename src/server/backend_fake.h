/* ecoinfer: a deterministic fake generation backend for tests and demos
 * (`ecoinfer serve --fake-backend`). It emits a scripted token stream at a
 * configured rate from its own thread, batches up to max_batch requests,
 * queues up to queue_cap more, honours cancel and stop strings, and can be
 * forced busy. Prompt tokens are counted as whitespace-separated words. */
#ifndef ECO_SERVER_BACKEND_FAKE_H
#define ECO_SERVER_BACKEND_FAKE_H

#include "server/backend.h"

typedef struct eco_fake_cfg {
  const char *model_name;    /* default "fake-model" */
  const char *const *script; /* token pieces, cycled; NULL = built-in sentence */
  size_t n_script;           /* 0 = built-in */
  bool stop_at_script_end;   /* finish "stop" after one pass of the script */
  double tokens_per_s;       /* per-sequence rate; <= 0 = as fast as possible */
  int max_batch;             /* concurrent sequences, default 4 */
  int queue_cap;             /* waiting requests beyond the batch, default 16 */
  int context_length;        /* tokens, default 2048 */
  double cpu_s_per_token;    /* CPU time reported per generated token, s */
  double energy_j_per_token; /* if > 0: reports measured-looking energy, J/token */
  double kv_bytes_per_seq;   /* reported KV usage per active sequence, B */
} eco_fake_cfg;

/* Fills defaults. */
void eco_fake_cfg_default(eco_fake_cfg *cfg);
int eco_backend_fake_new(const eco_fake_cfg *cfg, eco_backend *out);
/* Forces submit() to answer ECO_EBUSY (true) or to behave normally. */
void eco_backend_fake_set_busy(eco_backend *b, bool busy);
/* Holds generation (no tokens are emitted) while paused; for tests that
 * need requests to stay in flight. */
void eco_backend_fake_set_paused(eco_backend *b, bool paused);
/* Number of requests that ended with "cancelled" so far. */
int eco_backend_fake_cancelled(eco_backend *b);
/* Copies the last submitted prompt to buf (truncated to n): chat messages
 * flattened as "role: content\n" lines, or the raw prompt. ECO_ENOENT before
 * any submit. */
int eco_backend_fake_last_prompt(eco_backend *b, char *buf, size_t n);

#endif
