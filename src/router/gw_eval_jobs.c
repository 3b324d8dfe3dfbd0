/* ecoinfer router: the quality loop's jobs in flight, in SQLite (table
 * eval_jobs of the verdict store's file), so a restart picks them up where
 * they were: waiting for their batch (by its id), or for the judge. One row
 * per job: its state as JSON. Used by the worker thread only (see
 * gw_eval_internal.h). */
#include "router/gw_eval_internal.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

static int db_fail(sqlite3 *db, eco_error *err, const char *what) {
  return eco_error_set(err, ECO_EIO, "quality loop jobs: %s: %s", what,
                       db ? sqlite3_errmsg(db) : "out of memory");
}

int gw_eval_jobs_open(const char *path, sqlite3 **out, eco_error *err) {
  sqlite3 *db = NULL;
  *out = NULL;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
    int rc = db_fail(db, err, path);
    sqlite3_close(db);
    return rc;
  }
  sqlite3_busy_timeout(db, 5000);
  if (sqlite3_exec(db,
                   "CREATE TABLE IF NOT EXISTS eval_jobs (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                   " state TEXT NOT NULL)",
                   NULL, NULL, NULL) != SQLITE_OK) {
    int rc = db_fail(db, err, "create");
    sqlite3_close(db);
    return rc;
  }
  *out = db;
  return 0;
}

static json_t *num_arr(const double *v, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; a && i < n; i++)
    json_array_append_new(a, json_real(v[i]));
  return a;
}

static char *job_text(const ejob *j, size_t L) {
  json_t *ans = json_array();
  for (size_t l = 0; ans && l < L; l++)
    json_array_append_new(ans, j->answer[l] ? json_string(j->answer[l]) : json_null());
  json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:i,s:o,s:o,s:o,s:f,s:s,s:s,s:b,s:i,s:f}", "prompt",
                        j->prompt, "body", j->body, "model", j->model, "group", j->group, "served",
                        j->served, "answers", ans ? ans : json_array(), "energy_j",
                        num_arr(j->energy_j, L), "time_s", num_arr(j->time_s, L), "gco2_kwh",
                        j->gco2_kwh, "ci_source", j->ci_source, "batch_id", j->batch_id, "answered",
                        j->answered, "attempts", (int)j->attempts, "next_s", j->next_s);
  char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(o);
  return s;
}

int gw_eval_jobs_put(sqlite3 *db, ejob *j, size_t n_levels, eco_error *err) {
  char *s = job_text(j, n_levels);
  if (!s) return eco_error_set(err, ECO_ENOMEM, "quality loop jobs: out of memory");
  sqlite3_stmt *st = NULL;
  const char *sql = j->id ? "UPDATE eval_jobs SET state = ?1 WHERE id = ?2"
                          : "INSERT INTO eval_jobs (state) VALUES (?1)";
  int rc = 0;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
    rc = db_fail(db, err, "prepare");
    goto out;
  }
  sqlite3_bind_text(st, 1, s, -1, SQLITE_STATIC);
  if (j->id) sqlite3_bind_int64(st, 2, j->id);
  if (sqlite3_step(st) != SQLITE_DONE) {
    rc = db_fail(db, err, "write");
    goto out;
  }
  if (!j->id) j->id = sqlite3_last_insert_rowid(db);
out:
  sqlite3_finalize(st);
  free(s);
  return rc;
}

int gw_eval_jobs_del(sqlite3 *db, int64_t id, eco_error *err) {
  if (!id) return 0;
  sqlite3_stmt *st = NULL;
  int rc = 0;
  if (sqlite3_prepare_v2(db, "DELETE FROM eval_jobs WHERE id = ?1", -1, &st, NULL) != SQLITE_OK ||
      (sqlite3_bind_int64(st, 1, id), sqlite3_step(st)) != SQLITE_DONE)
    rc = db_fail(db, err, "delete");
  sqlite3_finalize(st);
  return rc;
}

static void num_take(const json_t *a, double *v, size_t L) {
  for (size_t l = 0; l < L; l++) {
    const json_t *x = json_array_get(a, l);
    v[l] = json_is_number(x) ? json_number_value(x) : -1;
  }
}

/* One row back into a job; NULL when the row is not a job (skipped). */
static ejob *job_parse(int64_t id, const char *text, size_t L) {
  json_t *o = json_loads(text, 0, NULL);
  const char *prompt = json_string_value(json_object_get(o, "prompt"));
  const char *body = json_string_value(json_object_get(o, "body"));
  ejob *j = prompt && body ? calloc(1, sizeof *j) : NULL;
  if (!j) goto fail;
  j->id = id;
  j->prompt = strdup(prompt);
  j->body = strdup(body);
  if (!j->prompt || !j->body) goto fail;
  const char *s;
  snprintf(j->model, sizeof j->model, "%s",
           (s = json_string_value(json_object_get(o, "model"))) ? s : "");
  snprintf(j->group, sizeof j->group, "%s",
           (s = json_string_value(json_object_get(o, "group"))) ? s : "");
  snprintf(j->ci_source, sizeof j->ci_source, "%s",
           (s = json_string_value(json_object_get(o, "ci_source"))) ? s : "");
  snprintf(j->batch_id, sizeof j->batch_id, "%s",
           (s = json_string_value(json_object_get(o, "batch_id"))) ? s : "");
  j->served = (int)json_integer_value(json_object_get(o, "served"));
  j->answered = json_is_true(json_object_get(o, "answered"));
  j->attempts = (uint32_t)json_integer_value(json_object_get(o, "attempts"));
  j->next_s = json_number_value(json_object_get(o, "next_s"));
  j->gco2_kwh = json_is_number(json_object_get(o, "gco2_kwh"))
                    ? json_number_value(json_object_get(o, "gco2_kwh"))
                    : -1;
  num_take(json_object_get(o, "energy_j"), j->energy_j, L);
  num_take(json_object_get(o, "time_s"), j->time_s, L);
  for (size_t l = 0; l < L; l++) {
    const char *a = json_string_value(json_array_get(json_object_get(o, "answers"), l));
    if (a && !(j->answer[l] = strdup(a))) goto fail;
    if (j->answered && !j->answer[l]) goto fail; /* inconsistent: dropped */
  }
  json_decref(o);
  return j;
fail:
  json_decref(o);
  gw_eval_job_free(j);
  return NULL;
}

int gw_eval_jobs_load(sqlite3 *db, size_t n_levels, ejob **list, size_t *n, eco_error *err) {
  *n = 0;
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db, "SELECT id, state FROM eval_jobs ORDER BY id", -1, &st, NULL) !=
      SQLITE_OK)
    return db_fail(db, err, "read");
  ejob **tail = list;
  while (*tail)
    tail = &(*tail)->next;
  int r;
  while ((r = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t id = sqlite3_column_int64(st, 0);
    const char *text = (const char *)sqlite3_column_text(st, 1);
    ejob *j = text ? job_parse(id, text, n_levels) : NULL;
    if (!j) continue;
    *tail = j;
    tail = &j->next;
    (*n)++;
  }
  sqlite3_finalize(st);
  return r == SQLITE_DONE ? 0 : db_fail(db, err, "read");
}
