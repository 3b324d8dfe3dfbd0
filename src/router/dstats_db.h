/* ecoinfer router: the directive costs learned from receipts (directive/
 * dlearn.h), kept in SQLite across restarts.
 *
 * One table, directive_costs(model, level, figure, n, mean, updated): a row
 * per model, level and figure ("energy_j", "out_tokens", "time_s"); level
 * -1 holds the model's scale (log of learned over prior). WAL mode, as the
 * batch queue and the ledger. The router writes the models that changed
 * every directive.learn.flush and when it stops, in one transaction, off
 * the request path; at start it reads every row back (oldest first, so the
 * most recently updated models win the table's slots). */
#ifndef ECO_ROUTER_DSTATS_DB_H
#define ECO_ROUTER_DSTATS_DB_H

#include "directive/dlearn.h"
#include "util/status.h"

#include <stddef.h>

typedef struct eco_dstats_db eco_dstats_db;

/* Opens (creating) the file. ECO_EIO with SQLite's message. */
int eco_dstats_db_open(const char *path, eco_dstats_db **out, eco_error *err);
void eco_dstats_db_close(eco_dstats_db *db);

/* Restores every stored figure into d (rows for levels d does not have are
 * skipped); *n_rows (may be NULL) receives the rows read. */
int eco_dstats_db_load(eco_dstats_db *db, eco_dlearn *d, size_t *n_rows, eco_error *err);

/* Writes the models marked dirty and clears their marks; now_s (wall clock)
 * is stored as the rows' update time. */
int eco_dstats_db_save(eco_dstats_db *db, eco_dlearn *d, double now_s, eco_error *err);

#endif
