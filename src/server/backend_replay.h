/* ecoinfer: the replay backend (`ecoinfer serve --replay DIR`).
 *
 * A node that serves recordings instead of a model, so that the real router
 * and real nodes can be driven over HTTP with real traffic whose cost is
 * known (`ecoinfer replay`, docs/replay.md). For a chat request whose last
 * user message is one of the Sprout artifact's recorded prompts
 * (replay_data.h) it answers with the recorded answer at the directive level
 * the node applied (eco_backend_request.directive_level), and reports the
 * recorded energy and time of serving that prompt at that level: receipts
 * name the energy source "replay:sprout-a100" and the model
 * "replay-llama-2-13b-chat", so a replayed figure is never mistaken for a
 * measurement of this host. A prompt without a recording is rejected
 * (submit returns ECO_ENOENT: HTTP 400 "unknown_prompt").
 *
 * In judge mode (`--replay-judge DIR`) it is an OpenAI-compatible judge
 * instead: it reads a pairwise judge prompt (directive/judge.h) and answers
 * from the artifact's labels (eco_replay_judge); its energy is the node's
 * own (metered or estimated), as for any request.
 *
 * Answers are emitted as whitespace-led word pieces (generated_tokens counts
 * pieces, not Llama-2 tokens). max_tokens and stop strings cut the answer;
 * a cut answer reports the recorded energy and time scaled by the share of
 * the pieces emitted. With time_scale > 0 a request finishes time_s *
 * time_scale wall seconds after submit (requests overlap freely), so a
 * replay can keep real service times on a compressed clock; 0 answers at
 * once. Threading: one worker thread delivers events; the contract of
 * backend.h holds. */
#ifndef ECO_SERVER_BACKEND_REPLAY_H
#define ECO_SERVER_BACKEND_REPLAY_H

#include "server/backend.h"
#include "util/status.h"

#include <stdbool.h>

typedef struct eco_replay_cfg {
  const char *data_dir;   /* the Sprout artifact (../shared/data/sprout) */
  const char *model_name; /* NULL: "replay-llama-2-13b-chat" or "replay-judge" */
  bool judge;             /* serve the replay judge instead of the answers */
  double time_scale;      /* wall s per recorded s, >= 0 (0 = at once) */
  int queue_cap;          /* requests in flight at most (1024) */
  int context_length;     /* tokens (words) a request may hold (32768) */
} eco_replay_cfg;

void eco_replay_cfg_default(eco_replay_cfg *c);
/* Loads the recordings and starts the worker. ECO_EINVAL, ECO_ENOENT,
 * ECO_EFORMAT (naming the file) or ECO_ENOMEM. */
int eco_backend_replay_new(const eco_replay_cfg *c, eco_backend *out, eco_error *err);

#endif
