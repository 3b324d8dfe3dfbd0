/* ecoinfer: the durable batch queue (OpenAI Batch API semantics) in SQLite.
 *
 * One SQLite database (WAL, synchronous=FULL) holds three tables:
 *   files     uploaded JSONL inputs and the output / error files it writes
 *   batches   the OpenAI batch object + carbon_spent_g / carbon_run_now_g
 *   requests  one row per input line: custom_id, body, planned start time
 *             and zone, state, attempt, lease, result line
 * Request states: pending -> claimed (leased to a worker until
 * lease_until) -> done | failed; pending -> cancelled | expired.
 * A claim whose lease has run out is handed out again, so a crashed
 * worker's requests are re-run; completion is idempotent by
 * (batch, custom_id): the first result wins and a later one is reported as
 * a duplicate and dropped, so every request yields exactly one result
 * line. Every state change is one transaction: a kill -9 at any point
 * leaves either the old or the new state.
 *
 * The router's HTTP handlers are meant to be thin wrappers:
 *   POST /v1/files (purpose=batch)       eco_batchq_file_create + file_json
 *   POST /v1/batches                     eco_batchq_validate, plan (shift.h),
 *                                        eco_batchq_batch_create + batch_json
 *   GET  /v1/batches/{id}                eco_batchq_batch_get + batch_json
 *   POST /v1/batches/{id}/cancel         eco_batchq_cancel + batch_json
 *   GET  /v1/files/{id}/content          eco_batchq_file_content
 * and the dispatcher loops eco_batchq_claim -> run -> eco_batchq_complete.
 *
 * Times are Unix seconds passed in by the caller (no clock inside). A
 * handle is used by one thread at a time; open one per thread/process. */
#ifndef ECO_ROUTER_BATCHQ_H
#define ECO_ROUTER_BATCHQ_H

#include "policy/shift.h"
#include "util/status.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct eco_batchq eco_batchq;

#define ECO_BATCHQ_ID_MAX 64

int eco_batchq_open(const char *path, eco_batchq **out, eco_error *err);
void eco_batchq_close(eco_batchq *q);

/* ---- files ---------------------------------------------------------------- */
typedef struct eco_batchq_file {
  char id[ECO_BATCHQ_ID_MAX]; /* "file-..." */
  char purpose[32];           /* "batch", "batch_output", "batch_error" */
  char filename[256];
  int64_t bytes;      /* content size, bytes */
  int64_t created_at; /* Unix s */
} eco_batchq_file;

/* Stores data (at most 200 MB) as a new file. */
int eco_batchq_file_create(eco_batchq *q, const char *purpose, const char *filename,
                           const void *data, size_t len, double now_s, eco_batchq_file *out,
                           eco_error *err);
int eco_batchq_file_get(eco_batchq *q, const char *id, eco_batchq_file *out, eco_error *err);
/* The content in a malloc'd NUL-terminated buffer (*len excludes the NUL). */
int eco_batchq_file_content(eco_batchq *q, const char *id, char **data, size_t *len,
                            eco_error *err);
/* The OpenAI file object. NULL on allocation failure. */
json_t *eco_batchq_file_json(const eco_batchq_file *f);

/* ---- batches -------------------------------------------------------------- */
/* "24h", "90m", "2d", "3600s", "1h30m" -> seconds (> 0, at most 365 days). */
int eco_batchq_parse_window(const char *s, double *seconds, eco_error *err);

/* One request of an input file: its index, custom_id and compact body. A
 * non-zero return stops the parse and is returned. */
typedef int (*eco_batchq_line_fn)(void *user, int64_t idx, const char *custom_id, const char *body,
                                  eco_error *err);
/* Parses a Batch API input file's bytes (JSON Lines, blank lines skipped):
 * each line an object with a non-empty custom_id, method "POST", url equal
 * to endpoint and an object body; custom_ids unique; at least one and at
 * most 50,000 requests. Calls fn (may be NULL) for each request in order.
 * ECO_EFORMAT (ECO_EOVERFLOW, ECO_EINVAL for the endpoint) with "input line
 * N: ..." in err. Pure: no database (the fuzzer's entry point). */
int eco_batchq_parse_input(const char *data, size_t len, const char *endpoint,
                           eco_batchq_line_fn fn, void *user, int64_t *n_requests, eco_error *err);

/* Checks an input file against an endpoint: every non-empty line a JSON
 * object with a unique non-empty string custom_id, method "POST", url equal
 * to endpoint and an object body. ECO_EFORMAT with the line number
 * otherwise. *n_requests receives the number of requests. */
int eco_batchq_validate(eco_batchq *q, const char *input_file_id, const char *endpoint,
                        int64_t *n_requests, eco_error *err);

/* Where and when one request is planned to run. */
typedef struct eco_batchq_assign {
  double not_before_s; /* earliest start, Unix s */
  char zone[32];       /* node / zone label, "" = any */
  double predicted_g;  /* planned gCO2e */
} eco_batchq_assign;

/* Expands a plan (shift.h) over a slot grid into one assignment per
 * request, in plan order (earlier slots first). zone_names[z] labels zone
 * z. *out is malloc'd with plan->n_requests entries. */
int eco_batchq_assign_from_plan(const eco_shift_plan *plan, double slot0_start_s, double slot_s,
                                double now_s, const char *const *zone_names, size_t n_zones,
                                eco_batchq_assign **out, eco_error *err);

typedef struct eco_batchq_create {
  const char *input_file_id;
  const char *endpoint;            /* "/v1/chat/completions", ... */
  const char *completion_window;   /* "24h", any duration */
  const char *metadata_json;       /* object text, or NULL */
  double now_s;                    /* Unix s */
  const eco_batchq_assign *assign; /* [n_assign] in input order, or NULL = run now anywhere */
  size_t n_assign;
  double planned_g; /* predicted gCO2e of the plan */
  double run_now_g; /* predicted gCO2e of running everything now */
} eco_batchq_create;

typedef struct eco_batchq_batch {
  char id[ECO_BATCHQ_ID_MAX]; /* "batch_..." */
  char
      status[16]; /* validating|in_progress|finalizing|completed|failed|expired|cancelling|cancelled
                   */
  char input_file_id[ECO_BATCHQ_ID_MAX];
  char endpoint[64];
  char completion_window[32];
  char output_file_id[ECO_BATCHQ_ID_MAX]; /* "" = none yet */
  char error_file_id[ECO_BATCHQ_ID_MAX];  /* "" = none */
  int64_t created_at, in_progress_at, expires_at, finalizing_at, completed_at, failed_at,
      expired_at, cancelling_at, cancelled_at; /* Unix s, 0 = not (yet) */
  int64_t total, completed, failed;            /* request_counts */
  double carbon_spent_g;                       /* gCO2e of the results so far (receipts) */
  double carbon_run_now_g;                     /* gCO2e a run-now schedule was predicted to spend */
  double carbon_planned_g;                     /* gCO2e the accepted plan predicted */
  char *metadata_json; /* malloc'd object text or NULL; eco_batchq_batch_clear */
} eco_batchq_batch;

void eco_batchq_batch_clear(eco_batchq_batch *b);

/* Creates a batch (status in_progress) with its requests. Re-validates the
 * input; c->assign must have one entry per request when given. Refuses a
 * plan whose start times fall after the deadline (ECO_ERANGE). */
int eco_batchq_batch_create(eco_batchq *q, const eco_batchq_create *c, eco_batchq_batch *out,
                            eco_error *err);
int eco_batchq_batch_get(eco_batchq *q, const char *id, eco_batchq_batch *out, eco_error *err);
/* Ids of up to limit batches, newest first, starting after the batch
 * `after` (a cursor; NULL or "" = from the newest); active_only keeps
 * in_progress / cancelling ones. *ids is malloc'd (free it). */
int eco_batchq_batch_list(eco_batchq *q, const char *after, size_t limit, bool active_only,
                          char (**ids)[ECO_BATCHQ_ID_MAX], size_t *n, eco_error *err);
/* The OpenAI batch object plus the carbon fields. NULL on allocation failure. */
json_t *eco_batchq_batch_json(const eco_batchq_batch *b);

/* Cancels: pending requests become cancelled; the batch is cancelling while
 * claimed ones run on, then cancelled with the results so far. ECO_ESTATE
 * when the batch already ended. */
int eco_batchq_cancel(eco_batchq *q, const char *id, double now_s, eco_batchq_batch *out,
                      eco_error *err);

/* Expires in-progress batches whose deadline has passed: their pending
 * requests go to the error file (code batch_expired). */
int eco_batchq_expire(eco_batchq *q, double now_s, int *n_expired, eco_error *err);

/* New planned times for a batch's still-pending requests (a replan):
 * assign[i] applies to the i-th pending request in input order; n must be
 * the number of pending requests (eco_batchq_count_pending). */
int eco_batchq_count_pending(eco_batchq *q, const char *batch_id, int64_t *n, eco_error *err);
int eco_batchq_reassign(eco_batchq *q, const char *batch_id, const eco_batchq_assign *assign,
                        size_t n, eco_error *err);

/* The capacity ledger of the queue: adds to used[z * n_slots + s] the
 * requests in zone zone_names[z] planned in slot s of the grid slot0_s +
 * s * slot_s that hold capacity there: pending ones of every batch but
 * exclude_batch (NULL = none; the batch being replanned), claimed ones of
 * every batch (earlier starts count in slot 0: they run now), and done or
 * failed ones planned in the grid (they used the current slot). Later than
 * the grid and other zones are left out. */
int eco_batchq_load(eco_batchq *q, const char *exclude_batch, double slot0_s, double slot_s,
                    size_t n_slots, const char *const *zone_names, size_t n_zones, int64_t *used,
                    eco_error *err);

/* ---- workers -------------------------------------------------------------- */
typedef struct eco_batchq_work {
  char batch_id[ECO_BATCHQ_ID_MAX];
  char *custom_id;    /* malloc'd */
  char *body_json;    /* malloc'd request body (the line's "body") */
  char url[64];       /* the endpoint */
  char zone[32];      /* planned zone, "" = any */
  int attempt;        /* 1 on the first claim */
  double lease_until; /* Unix s */
} eco_batchq_work;

/* Claims up to max due requests (planned start <= now, or a lapsed lease)
 * for owner, leased until now + lease_s. *out is malloc'd; free it with
 * eco_batchq_work_free. */
int eco_batchq_claim(eco_batchq *q, const char *owner, double now_s, double lease_s, size_t max,
                     eco_batchq_work **out, size_t *n, eco_error *err);
void eco_batchq_work_free(eco_batchq_work *w, size_t n);

typedef struct eco_batchq_result {
  int status_code;           /* HTTP status of the node's answer; 0 if none */
  const char *request_id;    /* node's request id, or NULL */
  const char *body_json;     /* response body (JSON text), or NULL */
  const char *error_code;    /* NULL when the request succeeded */
  const char *error_message; /* with error_code */
  const char *receipt_json;  /* carbon receipt object (JSON text), or NULL */
  double carbon_g;           /* gCO2e of this request (receipt total) */
  double elapsed_s;          /* s the node took to answer, <= 0 unknown ("ecoinfer_elapsed_s") */
} eco_batchq_result;

/* Records one request's result line exactly once. *duplicate is set when
 * the request already had a result (the call then changes nothing). When
 * the last request of a batch ends, the output and error files are written
 * and the batch completes (or is cancelled), in the same transaction. */
int eco_batchq_complete(eco_batchq *q, const char *batch_id, const char *custom_id,
                        const eco_batchq_result *r, double now_s, bool *duplicate, eco_error *err);

#endif
