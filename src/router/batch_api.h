/* ecoinfer router: the OpenAI Batch API on the router's public listener.
 *
 *   POST /v1/files                    multipart (purpose=batch, file=JSONL) or a
 *                                     raw JSONL body with ?purpose=batch
 *   GET  /v1/files/{id}               the file object
 *   GET  /v1/files/{id}/content       the file's bytes (input, output, error)
 *   POST /v1/batches                  plan (shift.h) + create; an unmeetable
 *                                     deadline is a 400
 *   GET  /v1/batches/{id}, GET /v1/batches (list), POST /v1/batches/{id}/cancel
 *
 * The queue is src/router/batchq.h (SQLite). Handlers run on the router's
 * event loop with their own queue handle. Dispatch is NOT through the
 * gateway's evhttp upstream path: `concurrency` worker threads, each with
 * its own queue handle and a libcurl easy handle, loop claim -> POST to a
 * node of the planned zone -> complete (result line + the node's
 * usage.carbon receipt). A maintenance thread expires overdue batches and
 * replans pending work every replan period with forecasts from a history
 * forecast wrapper around the router's intensity sources. Each node takes
 * at most max(1, floor(max_batch * (1 - interactive_reserve))) batch
 * requests at once, so the rest of its slots stay free for interactive
 * traffic, and fewer while the gateway has interactive requests there
 * (batch + interactive <= max_batch; one batch request may always run so
 * batch work cannot starve). See docs/time-shifting.md section 5. */
#ifndef ECO_ROUTER_BATCH_API_H
#define ECO_ROUTER_BATCH_API_H

#include "router/router.h"

#include <stdbool.h>

struct evhttp_request;

typedef struct eco_batch_api eco_batch_api;

/* A batch whose metadata holds {"ecoinfer_kind": "eval"} is the quality
 * loop's work: its requests go to the ledger as evaluation overhead (kind
 * eval), never as savings. Other batches are kind batch, with the shifting
 * lever's saving: (run-now - planned prediction) / requests. */
#define ECO_BATCH_META_KIND "ecoinfer_kind"
#define ECO_BATCH_KIND_EVAL "eval"

/* A request body's top-level key holding the generation directive level
 * to apply (an integer): the dispatcher removes it and sends the level as
 * the x-ecoinfer-directive-level header to an ecoinfer node (which applies
 * and prices it), or puts the level's instruction into the body for other
 * backends (eco_rdir_rewrite_body). The quality loop's batches use it. */
#define ECO_BATCH_BODY_LEVEL "ecoinfer_directive_level"

struct eco_ledger_entry;
/* Receives each ledger row the Batch API appends (after the append), on a
 * dispatcher thread: the router feeds its dashboard with it. */
typedef void (*eco_batch_row_fn)(void *user, const struct eco_ledger_entry *row);

/* Opens cfg->batch_api.db_path and starts the dispatcher threads. */
int eco_batch_api_new(const eco_router_cfg *cfg, const eco_logger *log, eco_batch_api **out,
                      eco_error *err);
/* Answers req when path is a Batch API path (b NULL: 404, the API is off)
 * and returns the HTTP status sent; 0 when path is not a Batch API path. */
int eco_batch_api_handle(eco_batch_api *b, struct evhttp_request *req, const char *path);
/* The gateway reports interactive requests it sends to (+1) or finishes on
 * (-1) the node at url; batch work on a node backs off so that batch +
 * interactive stays within its max_batch. Any thread; b NULL is a no-op. */
void eco_batch_api_interactive(eco_batch_api *b, const char *node_url, int delta);
/* Sets the row observer (before requests run; b NULL is a no-op). */
void eco_batch_api_set_observer(eco_batch_api *b, eco_batch_row_fn fn, void *user);
/* A batch submitted by the router itself (the quality loop). */
typedef struct eco_batch_submit {
  const char *jsonl;         /* the input file's bytes (Batch API lines) */
  size_t len;                /* bytes */
  const char *filename;      /* stored with the file */
  const char *endpoint;      /* "/v1/chat/completions" */
  const char *window;        /* completion window, e.g. "24h" */
  const char *metadata_json; /* object text, or NULL */
} eco_batch_submit;

struct eco_batchq;
struct eco_batchq_batch;
/* Stores the input file and creates the batch with the same checks and
 * plan as POST /v1/files + POST /v1/batches. q is the caller's own queue
 * handle (batchq.h: one per thread), so any thread may call it. */
int eco_batch_api_submit(eco_batch_api *b, struct eco_batchq *q, const eco_batch_submit *s,
                         struct eco_batchq_batch *out, eco_error *err);
/* The queue file (for a caller's own handle). */
const char *eco_batch_api_db(const eco_batch_api *b);

/* Stops the threads (in-flight requests finish or their lease lapses). */
void eco_batch_api_free(eco_batch_api *b);

#endif
