/* ecoinfer router: the batch queue's handle and the helpers its files call
 * across one another. Private to the batchq*.c files; see batchq.h for the
 * public interface and its invariants.
 *
 *   batchq.c        the database (schema, open, SQL helpers, ids) and files
 *   batchq_input.c  input files: completion window, JSONL parser, validation
 *   batchq_batch.c  batches: create with their requests, get, list, JSON
 *   batchq_plan.c   assignments from a plan, the capacity ledger, replans
 *   batchq_state.c  claim, complete, cancel, expire, finishing a batch */
#ifndef ECO_ROUTER_BATCHQ_INTERNAL_H
#define ECO_ROUTER_BATCHQ_INTERNAL_H

#include "router/batchq.h"

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

struct eco_batchq {
  sqlite3 *db;
};

/* The handle's last SQLite error as ECO_EBUSY (busy, locked) or ECO_EIO,
 * "batchq: what: message" in err. */
int bq_db_fail(eco_batchq *q, eco_error *err, const char *what);
/* Runs SQL that returns no rows (BEGIN, COMMIT, pragmas, the schema). */
int bq_exec(eco_batchq *q, const char *sql, eco_error *err);
int bq_prep(eco_batchq *q, const char *sql, sqlite3_stmt **st, eco_error *err);
void bq_rollback(eco_batchq *q);
/* prefix + 24 random hex digits into buf[cap]. */
int bq_new_id(const char *prefix, char *buf, size_t cap, eco_error *err);
/* Column i as text into buf[cap] ("" for NULL). */
void bq_col_text(sqlite3_stmt *st, int i, char *buf, size_t cap);

/* Stores a file of any purpose (no size check); *out (may be NULL) gets it. */
int bq_file_insert(eco_batchq *q, const char *purpose, const char *filename, const void *data,
                   size_t len, int64_t now, eco_batchq_file *out, eco_error *err);
/* Checks a stored input file and calls fn for each request when given. */
int bq_scan_input(eco_batchq *q, const char *file_id, const char *endpoint, eco_batchq_line_fn fn,
                  void *user, int64_t *n_out, eco_error *err);

#endif
