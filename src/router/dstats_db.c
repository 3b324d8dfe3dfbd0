/* The directive costs learned from receipts, in SQLite (see dstats_db.h). */
#include "router/dstats_db.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

struct eco_dstats_db {
  sqlite3 *db;
};

static const char *const fig_name[ECO_DLEARN_NFIG] = {"energy_j", "out_tokens", "time_s"};

static int db_fail(eco_dstats_db *q, eco_error *err, const char *what) {
  return eco_error_set(err, ECO_EIO, "directive costs: %s: %s", what, sqlite3_errmsg(q->db));
}

static int exec(eco_dstats_db *q, const char *sql, eco_error *err) {
  char *msg = NULL;
  if (sqlite3_exec(q->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
    int rc = eco_error_set(err, ECO_EIO, "directive costs: %s", msg ? msg : "sqlite error");
    sqlite3_free(msg);
    return rc;
  }
  return 0;
}

int eco_dstats_db_open(const char *path, eco_dstats_db **out, eco_error *err) {
  if (!path || !out) return eco_error_set(err, ECO_EINVAL, "directive costs: NULL argument");
  *out = NULL;
  eco_dstats_db *q = calloc(1, sizeof *q);
  if (!q) return eco_error_set(err, ECO_ENOMEM, "directive costs: out of memory");
  int rc;
  if (sqlite3_open_v2(path, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
      SQLITE_OK) {
    rc = eco_error_set(err, ECO_EIO, "directive costs: open %s: %s", path,
                       q->db ? sqlite3_errmsg(q->db) : "out of memory");
    goto fail;
  }
  sqlite3_busy_timeout(q->db, 5000);
  if ((rc = exec(q, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", err)) ||
      (rc = exec(q,
                 "CREATE TABLE IF NOT EXISTS directive_costs ("
                 " model TEXT NOT NULL, level INTEGER NOT NULL, figure TEXT NOT NULL,"
                 " n REAL NOT NULL, mean REAL NOT NULL, updated REAL NOT NULL,"
                 " PRIMARY KEY (model, level, figure))",
                 err)))
    goto fail;
  *out = q;
  return 0;
fail:
  sqlite3_close(q->db);
  free(q);
  return rc;
}

void eco_dstats_db_close(eco_dstats_db *q) {
  if (!q) return;
  sqlite3_close(q->db);
  free(q);
}

static int fig_index(const char *s) {
  for (int f = 0; s && f < ECO_DLEARN_NFIG; f++)
    if (strcmp(s, fig_name[f]) == 0) return f;
  return -1;
}

int eco_dstats_db_load(eco_dstats_db *q, eco_dlearn *d, size_t *n_rows, eco_error *err) {
  if (n_rows) *n_rows = 0;
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(q->db,
                         "SELECT model, level, figure, n, mean FROM directive_costs "
                         "ORDER BY updated, model",
                         -1, &st, NULL) != SQLITE_OK)
    return db_fail(q, err, "read");
  int s;
  size_t n = 0;
  while ((s = sqlite3_step(st)) == SQLITE_ROW) {
    const char *model = (const char *)sqlite3_column_text(st, 0);
    int level = sqlite3_column_int(st, 1);
    int f = fig_index((const char *)sqlite3_column_text(st, 2));
    if (!model || f < 0 || level >= (int)d->cfg.n_levels) continue;
    if (eco_dlearn_set(d, model, level, f, sqlite3_column_double(st, 3),
                       sqlite3_column_double(st, 4)) == 0)
      n++;
  }
  sqlite3_finalize(st);
  if (s != SQLITE_DONE) return db_fail(q, err, "read");
  for (size_t i = 0; i < d->n; i++)
    d->m[i].dirty = false;
  if (n_rows) *n_rows = n;
  return 0;
}

static int put(sqlite3_stmt *st, const char *model, int level, int f, const eco_dlearn_fig *x,
               double now_s) {
  sqlite3_reset(st);
  sqlite3_bind_text(st, 1, model, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 2, level);
  sqlite3_bind_text(st, 3, fig_name[f], -1, SQLITE_STATIC);
  sqlite3_bind_double(st, 4, x->n);
  sqlite3_bind_double(st, 5, x->mean);
  sqlite3_bind_double(st, 6, now_s);
  return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

int eco_dstats_db_save(eco_dstats_db *q, eco_dlearn *d, double now_s, eco_error *err) {
  bool any = false;
  for (size_t i = 0; i < d->n; i++)
    any |= d->m[i].dirty;
  if (!any) return 0;
  int rc = exec(q, "BEGIN", err);
  if (rc) return rc;
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(q->db,
                         "INSERT OR REPLACE INTO directive_costs "
                         "(model, level, figure, n, mean, updated) VALUES (?,?,?,?,?,?)",
                         -1, &st, NULL) != SQLITE_OK) {
    rc = db_fail(q, err, "write");
    goto fail;
  }
  for (size_t i = 0; i < d->n; i++) {
    const eco_dlearn_model *m = &d->m[i];
    if (!m->dirty) continue;
    for (int f = 0; f < ECO_DLEARN_NFIG; f++) {
      if (m->scale[f].n > 0 && put(st, m->name, -1, f, &m->scale[f], now_s)) goto write_fail;
      for (size_t l = 0; l < d->cfg.n_levels; l++)
        if (m->lv[l][f].n > 0 && put(st, m->name, (int)l, f, &m->lv[l][f], now_s)) goto write_fail;
    }
  }
  sqlite3_finalize(st);
  st = NULL;
  if ((rc = exec(q, "COMMIT", err))) goto fail;
  for (size_t i = 0; i < d->n; i++)
    d->m[i].dirty = false;
  return 0;
write_fail:
  rc = db_fail(q, err, "write");
fail:
  sqlite3_finalize(st);
  sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}
