/* The live judge's verdicts in SQLite (see verdicts.h). */
#include "directive/verdicts.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

struct eco_verdicts {
  sqlite3 *db;
};

static const char *SCHEMA =
    "CREATE TABLE IF NOT EXISTS verdicts ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, time_s REAL NOT NULL, model TEXT NOT NULL,"
    " grp TEXT NOT NULL, prompt TEXT NOT NULL, served_level INTEGER NOT NULL,"
    " preferred INTEGER NOT NULL, n_levels INTEGER NOT NULL, energy_j TEXT NOT NULL,"
    " time_s_lv TEXT NOT NULL, judge_energy_j REAL NOT NULL);"
    "CREATE INDEX IF NOT EXISTS verdicts_grp ON verdicts(grp);";

static int db_err(sqlite3 *db, const char *what, eco_error *err) {
  return eco_error_set(err, ECO_EIO, "verdicts: %s: %s", what, db ? sqlite3_errmsg(db) : "no db");
}

int eco_verdicts_open(const char *path, eco_verdicts **out, eco_error *err) {
  if (!path || !out) return eco_error_set(err, ECO_EINVAL, "verdicts: no path");
  eco_verdicts *v = calloc(1, sizeof *v);
  if (!v) return eco_error_set(err, ECO_ENOMEM, "out of memory");
  int rc = 0;
  if (sqlite3_open_v2(path, &v->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
    rc = eco_error_set(err, ECO_EIO, "verdicts: %s: %s", path,
                       v->db ? sqlite3_errmsg(v->db) : "cannot open");
  if (!rc) sqlite3_busy_timeout(v->db, 5000);
  if (!rc && (sqlite3_exec(v->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) != SQLITE_OK ||
              sqlite3_exec(v->db, SCHEMA, NULL, NULL, NULL) != SQLITE_OK))
    rc = eco_error_set(err, ECO_EIO, "verdicts: %s: %s", path, sqlite3_errmsg(v->db));
  if (rc) {
    eco_verdicts_close(v);
    return rc;
  }
  *out = v;
  return 0;
}

void eco_verdicts_close(eco_verdicts *v) {
  if (!v) return;
  sqlite3_close(v->db);
  free(v);
}

static char *levels_json(const double *x, size_t n) {
  json_t *a = json_array();
  for (size_t l = 0; a && l < n; l++)
    json_array_append_new(a, x[l] >= 0 ? json_real(x[l]) : json_null());
  char *s = a ? json_dumps(a, JSON_COMPACT) : NULL;
  json_decref(a);
  return s;
}

int eco_verdicts_add(eco_verdicts *v, const eco_verdict *r, int64_t *id, eco_error *err) {
  if (!v || !r || !r->prompt || r->n_levels < 1 || r->n_levels > ECO_DIRECTIVE_MAX_LEVELS ||
      r->preferred >= (int)r->n_levels)
    return eco_error_set(err, ECO_EINVAL, "verdicts: bad verdict");
  char *e = levels_json(r->energy_j, r->n_levels), *t = levels_json(r->time_s_lv, r->n_levels);
  sqlite3_stmt *st = NULL;
  int rc = 0;
  if (!e || !t) {
    rc = eco_error_set(err, ECO_ENOMEM, "out of memory");
    goto out;
  }
  if (sqlite3_prepare_v2(v->db,
                         "INSERT INTO verdicts (time_s, model, grp, prompt, served_level, "
                         "preferred, n_levels, energy_j, time_s_lv, judge_energy_j) VALUES "
                         "(?,?,?,?,?,?,?,?,?,?)",
                         -1, &st, NULL) != SQLITE_OK) {
    rc = db_err(v->db, "insert", err);
    goto out;
  }
  sqlite3_bind_double(st, 1, r->time_s);
  sqlite3_bind_text(st, 2, r->model ? r->model : "", -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 3, r->group ? r->group : "", -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 4, r->prompt, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int(st, 5, r->served_level);
  sqlite3_bind_int(st, 6, r->preferred);
  sqlite3_bind_int(st, 7, (int)r->n_levels);
  sqlite3_bind_text(st, 8, e, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 9, t, -1, SQLITE_TRANSIENT);
  sqlite3_bind_double(st, 10, r->judge_energy_j);
  if (sqlite3_step(st) != SQLITE_DONE)
    rc = db_err(v->db, "insert", err);
  else if (id)
    *id = sqlite3_last_insert_rowid(v->db);
out:
  sqlite3_finalize(st);
  free(e);
  free(t);
  return rc;
}

int eco_verdicts_rates(eco_verdicts *v, const char *group, size_t n_levels, double *pref,
                       int64_t *n_decided, eco_error *err) {
  if (!v || !pref || !n_decided || n_levels < 1 || n_levels > ECO_DIRECTIVE_MAX_LEVELS)
    return eco_error_set(err, ECO_EINVAL, "verdicts: bad arguments");
  sqlite3_stmt *st = NULL;
  const char *sql = group ? "SELECT preferred, count(*) FROM verdicts WHERE preferred >= 0 AND "
                            "grp = ? GROUP BY preferred"
                          : "SELECT preferred, count(*) FROM verdicts WHERE preferred >= 0 "
                            "GROUP BY preferred";
  if (sqlite3_prepare_v2(v->db, sql, -1, &st, NULL) != SQLITE_OK)
    return db_err(v->db, "rates", err);
  if (group) sqlite3_bind_text(st, 1, group, -1, SQLITE_TRANSIENT);
  int64_t cnt[ECO_DIRECTIVE_MAX_LEVELS] = {0}, all = 0;
  int s;
  while ((s = sqlite3_step(st)) == SQLITE_ROW) {
    int l = sqlite3_column_int(st, 0);
    int64_t c = sqlite3_column_int64(st, 1);
    if (l >= 0 && (size_t)l < n_levels) cnt[l] += c, all += c;
  }
  sqlite3_finalize(st);
  if (s != SQLITE_DONE) return db_err(v->db, "rates", err);
  for (size_t l = 0; l < n_levels; l++)
    pref[l] = all ? (double)cnt[l] / (double)all : 0;
  *n_decided = all;
  return 0;
}

int eco_verdicts_count(eco_verdicts *v, int64_t *n, int64_t *n_decided, eco_error *err) {
  sqlite3_stmt *st = NULL;
  if (!v ||
      sqlite3_prepare_v2(v->db, "SELECT count(*), coalesce(sum(preferred >= 0), 0) FROM verdicts",
                         -1, &st, NULL) != SQLITE_OK)
    return db_err(v ? v->db : NULL, "count", err);
  int rc = 0;
  if (sqlite3_step(st) == SQLITE_ROW) {
    if (n) *n = sqlite3_column_int64(st, 0);
    if (n_decided) *n_decided = sqlite3_column_int64(st, 1);
  } else {
    rc = db_err(v->db, "count", err);
  }
  sqlite3_finalize(st);
  return rc;
}

char *eco_verdict_dtrain_line(const eco_verdict *r, int64_t id) {
  json_t *o =
      json_pack("{s:s,s:i,s:I,s:s,s:s,s:i}", "prompt", r->prompt ? r->prompt : "", "preferred",
                r->preferred, "verdict_id", (json_int_t)id, "model", r->model ? r->model : "",
                "group", r->group ? r->group : "", "served_level", r->served_level);
  bool costs = true;
  for (size_t l = 0; l < r->n_levels; l++)
    costs &= r->energy_j[l] >= 0 && r->time_s_lv[l] >= 0;
  if (o && costs) { /* both or neither, as dtrain.h reads them */
    json_t *e = json_array(), *t = json_array();
    for (size_t l = 0; l < r->n_levels; l++) {
      json_array_append_new(e, json_real(r->energy_j[l]));
      json_array_append_new(t, json_real(r->time_s_lv[l]));
    }
    json_object_set_new(o, "energy_j", e);
    json_object_set_new(o, "time_s", t);
  }
  char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(o);
  return s;
}

static void parse_levels(const unsigned char *txt, double *x, size_t n) {
  json_t *a = txt ? json_loads((const char *)txt, 0, NULL) : NULL;
  for (size_t l = 0; l < n; l++) {
    json_t *v = json_array_get(a, l);
    x[l] = json_is_number(v) ? json_number_value(v) : -1;
  }
  json_decref(a);
}

int eco_verdicts_export(eco_verdicts *v, FILE *f, int64_t after_id, int64_t *n, eco_error *err) {
  sqlite3_stmt *st = NULL;
  if (!v || !f ||
      sqlite3_prepare_v2(v->db,
                         "SELECT id, time_s, model, grp, prompt, served_level, preferred, "
                         "n_levels, energy_j, time_s_lv FROM verdicts WHERE preferred >= 0 AND "
                         "id > ? ORDER BY id",
                         -1, &st, NULL) != SQLITE_OK)
    return db_err(v ? v->db : NULL, "export", err);
  sqlite3_bind_int64(st, 1, after_id);
  int64_t k = 0;
  int s, rc = 0;
  while ((s = sqlite3_step(st)) == SQLITE_ROW) {
    eco_verdict r = {.time_s = sqlite3_column_double(st, 1),
                     .model = (const char *)sqlite3_column_text(st, 2),
                     .group = (const char *)sqlite3_column_text(st, 3),
                     .prompt = (const char *)sqlite3_column_text(st, 4),
                     .served_level = sqlite3_column_int(st, 5),
                     .preferred = sqlite3_column_int(st, 6),
                     .n_levels = (size_t)sqlite3_column_int(st, 7)};
    if (r.n_levels < 1 || r.n_levels > ECO_DIRECTIVE_MAX_LEVELS) continue;
    parse_levels(sqlite3_column_text(st, 8), r.energy_j, r.n_levels);
    parse_levels(sqlite3_column_text(st, 9), r.time_s_lv, r.n_levels);
    char *line = eco_verdict_dtrain_line(&r, sqlite3_column_int64(st, 0));
    if (!line || fprintf(f, "%s\n", line) < 0) rc = eco_error_set(err, ECO_EIO, "verdicts: write");
    free(line);
    if (rc) break;
    k++;
  }
  if (!rc && s != SQLITE_DONE) rc = db_err(v->db, "export", err);
  sqlite3_finalize(st);
  if (n) *n = k;
  return rc;
}
