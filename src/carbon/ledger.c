/* ecoinfer: SQLite ledger of carbon receipts (see ledger.h). */
#include "carbon/ledger.h"

#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct eco_ledger {
  sqlite3 *db;
  sqlite3_stmt *ins;
  pthread_mutex_t mu;
};

static const char *SCHEMA = "CREATE TABLE IF NOT EXISTS receipts ("
                            " id INTEGER PRIMARY KEY,"
                            " request_id TEXT NOT NULL,"
                            " time_s REAL NOT NULL,"
                            " node TEXT NOT NULL DEFAULT '',"
                            " zone TEXT NOT NULL DEFAULT '',"
                            " model TEXT NOT NULL DEFAULT '',"
                            " prompt_tokens INTEGER NOT NULL DEFAULT 0,"
                            " output_tokens INTEGER NOT NULL DEFAULT 0,"
                            " latency_s REAL NOT NULL DEFAULT 0,"
                            " directive_level INTEGER NOT NULL DEFAULT -1,"
                            " policy TEXT NOT NULL DEFAULT '',"
                            " energy_j REAL NOT NULL,"
                            " energy_source TEXT NOT NULL DEFAULT '',"
                            " energy_estimated INTEGER NOT NULL DEFAULT 1,"
                            " energy_rails TEXT NOT NULL DEFAULT '',"
                            " intensity_gco2_kwh REAL NOT NULL,"
                            " intensity_source TEXT NOT NULL DEFAULT '',"
                            " intensity_estimated INTEGER NOT NULL DEFAULT 1,"
                            " operational_g REAL NOT NULL,"
                            " embodied_g REAL NOT NULL,"
                            " total_g REAL NOT NULL,"
                            " pue REAL NOT NULL DEFAULT 1,"
                            " method TEXT NOT NULL DEFAULT '',"
                            " prompt_cached_tokens INTEGER NOT NULL DEFAULT 0,"
                            " kind TEXT NOT NULL DEFAULT 'request',"
                            " recorder TEXT NOT NULL DEFAULT 'node',"
                            " directive_group TEXT NOT NULL DEFAULT '',"
                            " engine TEXT NOT NULL DEFAULT '',"
                            " predicted_g REAL NOT NULL DEFAULT 0,"
                            " counterfactual_g REAL NOT NULL DEFAULT 0,"
                            " saved_routing_g REAL NOT NULL DEFAULT 0,"
                            " saved_directive_g REAL NOT NULL DEFAULT 0,"
                            " saved_shifting_g REAL NOT NULL DEFAULT 0);"
                            "CREATE INDEX IF NOT EXISTS receipts_time ON receipts(time_s);"
                            "CREATE INDEX IF NOT EXISTS receipts_rid ON receipts(request_id);";

/* The context columns, then the receipt's, named as its fields (ECO_RECEIPT_FIELDS,
 * the names usage.carbon carries too). */
#define RCOL(name, kind) "," #name
#define RQM(name, kind)  ",?"
/* then the row's kind, its recorder and the routing facts */
#define COLS                                                                                       \
  "request_id,time_s,node,zone,model,prompt_tokens,output_tokens,latency_s,directive_level,"       \
  "policy" ECO_RECEIPT_FIELDS(RCOL) ",kind,recorder,directive_group,engine,predicted_g,"           \
                                    "counterfactual_g,saved_routing_g,saved_directive_g,"          \
                                    "saved_shifting_g"
#define PLACEHOLDERS "?,?,?,?,?,?,?,?,?,?" ECO_RECEIPT_FIELDS(RQM) ",?,?,?,?,?,?,?,?,?"

/* The rows every aggregate counts: a request routed by a router that shares
 * the file has a node row and a router row with one id; the router's counts. */
#define EFFECTIVE                                                                                  \
  "(recorder = 'router' OR request_id NOT IN"                                                      \
  " (SELECT request_id FROM receipts WHERE recorder = 'router'))"

/* Receipt columns added after the first release, with their definition and
 * the value an older ledger reads for them. A writable ledger gains them
 * (ALTER TABLE); a read-only one is read through a temporary view of the
 * same name that supplies those values. */
static const char *const ADDED[][3] = {
    {"prompt_cached_tokens", "INTEGER NOT NULL DEFAULT 0", "0"},
    {"energy_rails", "TEXT NOT NULL DEFAULT ''", "''"},
    /* issue 18: the routing facts; an older ledger was written by nodes only */
    {"kind", "TEXT NOT NULL DEFAULT 'request'", "'request'"},
    {"recorder", "TEXT NOT NULL DEFAULT 'node'", "'node'"},
    {"directive_group", "TEXT NOT NULL DEFAULT ''", "''"},
    {"engine", "TEXT NOT NULL DEFAULT ''", "''"},
    {"predicted_g", "REAL NOT NULL DEFAULT 0", "0"},
    {"counterfactual_g", "REAL NOT NULL DEFAULT 0", "0"},
    {"saved_routing_g", "REAL NOT NULL DEFAULT 0", "0"},
    {"saved_directive_g", "REAL NOT NULL DEFAULT 0", "0"},
    {"saved_shifting_g", "REAL NOT NULL DEFAULT 0", "0"},
};

static bool has_column(sqlite3 *db, const char *col) {
  sqlite3_stmt *st = NULL;
  bool found = false;
  if (sqlite3_prepare_v2(db, "PRAGMA main.table_info(receipts)", -1, &st, NULL) == SQLITE_OK)
    while (!found && sqlite3_step(st) == SQLITE_ROW) {
      const unsigned char *name = sqlite3_column_text(st, 1);
      found = name && strcmp((const char *)name, col) == 0;
    }
  sqlite3_finalize(st);
  return found;
}

static int migrate(sqlite3 *db, bool read_only) {
  char view[1024] = "CREATE TEMP VIEW receipts AS SELECT *";
  bool missing = false;
  for (size_t i = 0; i < sizeof ADDED / sizeof ADDED[0]; i++) {
    if (has_column(db, ADDED[i][0])) continue;
    missing = true;
    if (read_only) {
      size_t l = strlen(view);
      snprintf(view + l, sizeof view - l, ", %s AS %s", ADDED[i][2], ADDED[i][0]);
      continue;
    }
    char sql[160];
    snprintf(sql, sizeof sql, "ALTER TABLE receipts ADD COLUMN %s %s", ADDED[i][0], ADDED[i][1]);
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK) return rc;
  }
  if (!read_only || !missing) return SQLITE_OK;
  size_t l = strlen(view);
  snprintf(view + l, sizeof view - l, " FROM main.receipts");
  return sqlite3_exec(db, view, NULL, NULL, NULL);
}

static int db_err(sqlite3 *db, eco_error *err, const char *what) {
  int code = db ? sqlite3_errcode(db) : SQLITE_ERROR;
  int rc = code == SQLITE_BUSY || code == SQLITE_LOCKED      ? ECO_EBUSY
           : code == SQLITE_CORRUPT || code == SQLITE_NOTADB ? ECO_EFORMAT
           : code == SQLITE_CANTOPEN                         ? ECO_ENOENT
           : code == SQLITE_READONLY || code == SQLITE_PERM  ? ECO_EACCES
                                                             : ECO_EIO;
  return eco_error_set(err, rc, "ledger: %s: %s", what, db ? sqlite3_errmsg(db) : "no database");
}

int eco_ledger_open(const char *path, const eco_ledger_opts *opts, eco_ledger **out,
                    eco_error *err) {
  if (!path || !*path || !out) return eco_error_set(err, ECO_EINVAL, "ledger: invalid argument");
  *out = NULL;
  eco_ledger_opts o = {0};
  if (opts) o = *opts;
  eco_ledger *l = calloc(1, sizeof *l);
  if (!l) return eco_error_set(err, ECO_ENOMEM, "ledger: out of memory");
  if (pthread_mutex_init(&l->mu, NULL)) {
    free(l);
    return eco_error_set(err, ECO_EINTERNAL, "ledger: mutex");
  }
  int flags = SQLITE_OPEN_FULLMUTEX |
              (o.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  int rc;
  char pragmas[256];
  if (sqlite3_open_v2(path, &l->db, flags, NULL) != SQLITE_OK) {
    rc = db_err(l->db, err, path);
    goto fail;
  }
  sqlite3_busy_timeout(l->db, (int)((o.busy_timeout_s > 0 ? o.busy_timeout_s : 5.0) * 1000));
  if (!o.read_only) {
    snprintf(pragmas, sizeof pragmas, "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s;",
             o.sync_full ? "FULL" : "NORMAL");
    if (sqlite3_exec(l->db, pragmas, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(l->db, SCHEMA, NULL, NULL, NULL) != SQLITE_OK ||
        migrate(l->db, false) != SQLITE_OK) {
      rc = db_err(l->db, err, path);
      goto fail;
    }
    if (sqlite3_prepare_v2(l->db, "INSERT INTO receipts(" COLS ") VALUES (" PLACEHOLDERS ")", -1,
                           &l->ins, NULL) != SQLITE_OK) {
      rc = db_err(l->db, err, "prepare insert");
      goto fail;
    }
  } else {
    /* must be a ledger */
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(l->db, "SELECT count(*) FROM receipts", -1, &st, NULL) != SQLITE_OK) {
      rc = db_err(l->db, err, path);
      sqlite3_finalize(st);
      goto fail;
    }
    sqlite3_finalize(st);
    if (migrate(l->db, true) != SQLITE_OK) {
      rc = db_err(l->db, err, path);
      goto fail;
    }
  }
  *out = l;
  return ECO_OK;
fail:
  sqlite3_finalize(l->ins);
  sqlite3_close(l->db);
  pthread_mutex_destroy(&l->mu);
  free(l);
  return rc;
}

void eco_ledger_close(eco_ledger *l) {
  if (!l) return;
  sqlite3_finalize(l->ins);
  sqlite3_close(l->db);
  pthread_mutex_destroy(&l->mu);
  free(l);
}

static bool fin(double x) { return isfinite(x); }

static bool facts_ok(const eco_ledger_entry *e) {
  const eco_ledger_facts *f = &e->facts;
  return (unsigned)e->kind < ECO_LEDGER_KINDS && (unsigned)e->recorder <= ECO_LEDGER_BY_ROUTER &&
         fin(f->predicted_g) && fin(f->counterfactual_g) && fin(f->saved_routing_g) &&
         fin(f->saved_directive_g) && fin(f->saved_shifting_g);
}

static const char *const kind_names[ECO_LEDGER_KINDS] = {"request", "batch", "eval"};
static const char *const recorder_names[] = {"node", "router"};

const char *eco_ledger_kind_name(eco_ledger_kind k) {
  return (unsigned)k < ECO_LEDGER_KINDS ? kind_names[k] : "?";
}

int eco_ledger_kind_parse(const char *s, eco_ledger_kind *out) {
  for (int i = 0; s && i < ECO_LEDGER_KINDS; i++)
    if (strcmp(s, kind_names[i]) == 0) {
      *out = (eco_ledger_kind)i;
      return ECO_OK;
    }
  return ECO_EINVAL;
}

const char *eco_ledger_recorder_name(eco_ledger_recorder r) {
  return (unsigned)r <= ECO_LEDGER_BY_ROUTER ? recorder_names[r] : "?";
}

int eco_ledger_append(eco_ledger *l, const eco_ledger_entry *e, eco_error *err) {
  if (!l || !e) return eco_error_set(err, ECO_EINVAL, "ledger: invalid argument");
  if (!l->ins) return eco_error_set(err, ECO_ESTATE, "ledger: opened read-only");
  const eco_receipt *r = &e->receipt;
  if (!e->request_id[0] || !fin(e->time_s) || !fin(e->latency_s) || !fin(r->energy_j) ||
      !fin(r->intensity_gco2_kwh) || !fin(r->operational_g) || !fin(r->embodied_g) ||
      !fin(r->total_g) || !fin(r->pue) || !facts_ok(e))
    return eco_error_set(err, ECO_EINVAL,
                         "ledger: entry needs a request id, a known kind and finite numbers");
  pthread_mutex_lock(&l->mu);
  sqlite3_stmt *s = l->ins;
  int i = 1;
  sqlite3_bind_text(s, i++, e->request_id, -1, SQLITE_TRANSIENT);
  sqlite3_bind_double(s, i++, e->time_s);
  sqlite3_bind_text(s, i++, e->node, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, i++, e->zone, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, i++, e->model, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(s, i++, e->prompt_tokens);
  sqlite3_bind_int64(s, i++, e->output_tokens);
  sqlite3_bind_double(s, i++, e->latency_s);
  sqlite3_bind_int(s, i++, e->directive_level);
  sqlite3_bind_text(s, i++, e->policy, -1, SQLITE_TRANSIENT);
#define BIND_NUM(x)      sqlite3_bind_double(s, i++, x);
#define BIND_STR(x)      sqlite3_bind_text(s, i++, x, -1, SQLITE_TRANSIENT);
#define BIND_BOOL(x)     sqlite3_bind_int(s, i++, x);
#define BIND_INT(x)      sqlite3_bind_int64(s, i++, x);
#define BIND(name, kind) BIND_##kind(r->name)
  ECO_RECEIPT_FIELDS(BIND)
#undef BIND
  const eco_ledger_facts *f = &e->facts;
  sqlite3_bind_text(s, i++, kind_names[e->kind], -1, SQLITE_STATIC);
  sqlite3_bind_text(s, i++, recorder_names[e->recorder], -1, SQLITE_STATIC);
  sqlite3_bind_text(s, i++, f->group, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, i++, f->engine, -1, SQLITE_TRANSIENT);
  sqlite3_bind_double(s, i++, f->predicted_g);
  sqlite3_bind_double(s, i++, f->counterfactual_g);
  sqlite3_bind_double(s, i++, f->saved_routing_g);
  sqlite3_bind_double(s, i++, f->saved_directive_g);
  sqlite3_bind_double(s, i++, f->saved_shifting_g);
  int rc = sqlite3_step(s) == SQLITE_DONE ? ECO_OK : db_err(l->db, err, "append");
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  pthread_mutex_unlock(&l->mu);
  return rc;
}

/* " WHERE time_s >= ? AND time_s < ?" when the window is set. */
static const char *window(double from_s, double to_s) {
  return to_s > from_s ? " WHERE time_s >= ?1 AND time_s < ?2" : "";
}

/* " AND time_s >= ? AND time_s < ?" when the window is set. */
static const char *window_and(double from_s, double to_s) {
  return to_s > from_s ? " AND time_s >= ?1 AND time_s < ?2" : "";
}

static void bind_window(sqlite3_stmt *s, double from_s, double to_s) {
  if (to_s > from_s) {
    sqlite3_bind_double(s, 1, from_s);
    sqlite3_bind_double(s, 2, to_s);
  }
}

int eco_ledger_count(eco_ledger *l, double from_s, double to_s, int64_t *n, eco_error *err) {
  if (!l || !n) return eco_error_set(err, ECO_EINVAL, "ledger: invalid argument");
  char sql[256];
  snprintf(sql, sizeof sql, "SELECT count(*) FROM receipts%s", window(from_s, to_s));
  sqlite3_stmt *s = NULL;
  pthread_mutex_lock(&l->mu);
  int rc = ECO_OK;
  if (sqlite3_prepare_v2(l->db, sql, -1, &s, NULL) != SQLITE_OK) {
    rc = db_err(l->db, err, "count");
  } else {
    bind_window(s, from_s, to_s);
    if (sqlite3_step(s) == SQLITE_ROW)
      *n = sqlite3_column_int64(s, 0);
    else
      rc = db_err(l->db, err, "count");
  }
  sqlite3_finalize(s);
  pthread_mutex_unlock(&l->mu);
  return rc;
}

static const char *group_names[] = {"total",  "hour", "day",       "node",  "zone",    "model",
                                    "policy", "kind", "directive", "group", "recorder"};

const char *eco_ledger_group_name(eco_ledger_group g) {
  return (unsigned)g < sizeof group_names / sizeof group_names[0] ? group_names[g] : "?";
}

int eco_ledger_group_parse(const char *s, eco_ledger_group *out) {
  for (size_t i = 0; s && i < sizeof group_names / sizeof group_names[0]; i++)
    if (strcasecmp(s, group_names[i]) == 0) {
      *out = (eco_ledger_group)i;
      return ECO_OK;
    }
  return ECO_EINVAL;
}

double eco_ledger_agg_sci_per_request(const eco_ledger_agg *a) {
  return a && a->requests > 0 ? a->total_g / (double)a->requests : 0.0;
}

double eco_ledger_agg_sci_per_1k_tokens(const eco_ledger_agg *a) {
  return a && a->output_tokens > 0 ? a->total_g * 1000.0 / (double)a->output_tokens : 0.0;
}

int eco_ledger_aggregate(eco_ledger *l, eco_ledger_group g, double from_s, double to_s,
                         eco_ledger_agg **out, size_t *n, eco_error *err) {
  if (!l || !out || !n || (unsigned)g > ECO_GROUP_RECORDER)
    return eco_error_set(err, ECO_EINVAL, "ledger: invalid argument");
  *out = NULL;
  *n = 0;
#define LEVEL_KEY "CASE WHEN directive_level < 0 THEN 'none' ELSE 'L' || directive_level END"
  static const char *keys[] = {"'total'",
                               "strftime('%Y-%m-%dT%H:00Z', time_s, 'unixepoch')",
                               "strftime('%Y-%m-%d', time_s, 'unixepoch')",
                               "node",
                               "zone",
                               "model",
                               "policy",
                               "kind",
                               LEVEL_KEY,
                               "directive_group",
                               "recorder"};
  char sql[2048];
  snprintf(sql, sizeof sql,
           "SELECT %s AS k, count(*), sum(prompt_tokens), sum(output_tokens), sum(energy_j),"
           " sum(energy_j*pue), sum(operational_g), sum(embodied_g), sum(total_g),"
           " sum(latency_s), sum(energy_estimated OR intensity_estimated), min(time_s),"
           " max(time_s) FROM receipts WHERE %s%s GROUP BY k ORDER BY k",
           keys[g], EFFECTIVE, window_and(from_s, to_s));
  sqlite3_stmt *s = NULL;
  pthread_mutex_lock(&l->mu);
  int rc = ECO_OK;
  eco_ledger_agg *a = NULL;
  size_t na = 0;
  if (sqlite3_prepare_v2(l->db, sql, -1, &s, NULL) != SQLITE_OK) {
    rc = db_err(l->db, err, "aggregate");
    goto done;
  }
  bind_window(s, from_s, to_s);
  int step;
  while ((step = sqlite3_step(s)) == SQLITE_ROW) {
    eco_ledger_agg *na2 = realloc(a, (na + 1) * sizeof *a);
    if (!na2) {
      rc = eco_error_set(err, ECO_ENOMEM, "ledger: out of memory");
      goto done;
    }
    a = na2;
    eco_ledger_agg *x = &a[na++];
    memset(x, 0, sizeof *x);
    const unsigned char *k = sqlite3_column_text(s, 0);
    snprintf(x->key, sizeof x->key, "%s", k ? (const char *)k : "");
    x->requests = sqlite3_column_int64(s, 1);
    x->prompt_tokens = sqlite3_column_int64(s, 2);
    x->output_tokens = sqlite3_column_int64(s, 3);
    x->energy_j = sqlite3_column_double(s, 4);
    x->facility_j = sqlite3_column_double(s, 5);
    x->operational_g = sqlite3_column_double(s, 6);
    x->embodied_g = sqlite3_column_double(s, 7);
    x->total_g = sqlite3_column_double(s, 8);
    x->latency_s_sum = sqlite3_column_double(s, 9);
    x->estimated = sqlite3_column_int64(s, 10);
    x->first_s = sqlite3_column_double(s, 11);
    x->last_s = sqlite3_column_double(s, 12);
    x->intensity_gco2_kwh =
        x->facility_j > 0 ? x->operational_g / (x->facility_j / ECO_J_PER_KWH) : 0.0;
  }
  if (step != SQLITE_DONE) rc = db_err(l->db, err, "aggregate");
done:
  sqlite3_finalize(s);
  pthread_mutex_unlock(&l->mu);
  if (rc) {
    free(a);
    return rc;
  }
  *out = a;
  *n = na;
  return ECO_OK;
}

static void col_text(sqlite3_stmt *s, int i, char *dst, size_t cap) {
  const unsigned char *t = sqlite3_column_text(s, i);
  snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

int eco_ledger_foreach(eco_ledger *l, double from_s, double to_s, eco_ledger_row_fn fn, void *user,
                       eco_error *err) {
  if (!l || !fn) return eco_error_set(err, ECO_EINVAL, "ledger: invalid argument");
  char sql[1536];
  snprintf(sql, sizeof sql, "SELECT " COLS " FROM receipts%s ORDER BY time_s, id",
           window(from_s, to_s));
  sqlite3_stmt *s = NULL;
  pthread_mutex_lock(&l->mu);
  int rc = ECO_OK;
  if (sqlite3_prepare_v2(l->db, sql, -1, &s, NULL) != SQLITE_OK) {
    rc = db_err(l->db, err, "query");
    goto done;
  }
  bind_window(s, from_s, to_s);
  int step;
  while ((step = sqlite3_step(s)) == SQLITE_ROW) {
    eco_ledger_entry e;
    memset(&e, 0, sizeof e);
    int i = 0;
    col_text(s, i++, e.request_id, sizeof e.request_id);
    e.time_s = sqlite3_column_double(s, i++);
    col_text(s, i++, e.node, sizeof e.node);
    col_text(s, i++, e.zone, sizeof e.zone);
    col_text(s, i++, e.model, sizeof e.model);
    e.prompt_tokens = sqlite3_column_int64(s, i++);
    e.output_tokens = sqlite3_column_int64(s, i++);
    e.latency_s = sqlite3_column_double(s, i++);
    e.directive_level = sqlite3_column_int(s, i++);
    col_text(s, i++, e.policy, sizeof e.policy);
    eco_receipt *r = &e.receipt;
#define READ_NUM(x)      x = sqlite3_column_double(s, i++);
#define READ_STR(x)      col_text(s, i++, (x), sizeof(x));
#define READ_BOOL(x)     x = sqlite3_column_int(s, i++) != 0;
#define READ_INT(x)      (x) = sqlite3_column_int64(s, i++);
#define READ(name, kind) READ_##kind(r->name)
    ECO_RECEIPT_FIELDS(READ)
#undef READ
    char kind[16], rec[16];
    col_text(s, i++, kind, sizeof kind);
    col_text(s, i++, rec, sizeof rec);
    if (eco_ledger_kind_parse(kind, &e.kind)) e.kind = ECO_LEDGER_REQUEST;
    e.recorder = strcmp(rec, "router") == 0 ? ECO_LEDGER_BY_ROUTER : ECO_LEDGER_BY_NODE;
    eco_ledger_facts *f = &e.facts;
    col_text(s, i++, f->group, sizeof f->group);
    col_text(s, i++, f->engine, sizeof f->engine);
    f->predicted_g = sqlite3_column_double(s, i++);
    f->counterfactual_g = sqlite3_column_double(s, i++);
    f->saved_routing_g = sqlite3_column_double(s, i++);
    f->saved_directive_g = sqlite3_column_double(s, i++);
    f->saved_shifting_g = sqlite3_column_double(s, i++);
    /* the handle's lock is held here: fn must not call this ledger */
    rc = fn(&e, user);
    if (rc) goto done;
  }
  if (step != SQLITE_DONE) rc = db_err(l->db, err, "query");
done:
  sqlite3_finalize(s);
  pthread_mutex_unlock(&l->mu);
  return rc;
}

/* One effective row's share of the lever sums (see ledger.h). */
static void levers_add(eco_ledger_levers *o, const char *kind, double total_g, double cf, double sr,
                       double sd, double ss) {
  eco_ledger_kind k;
  if (eco_ledger_kind_parse(kind, &k)) k = ECO_LEDGER_REQUEST;
  o->by_kind[k]++;
  if (k == ECO_LEDGER_EVAL) {
    o->eval_rows++;
    o->eval_g += total_g;
    return;
  }
  o->requests++;
  if (!(cf > 0)) return;
  o->with_facts++;
  double modelled = cf - sr - sd - ss;
  double scale = modelled > 0 ? total_g / modelled : 1.0;
  o->actual_g += total_g;
  o->routing_g += sr * scale;
  o->directive_g += sd * scale;
  o->shifting_g += ss * scale;
  o->predicted_baseline_g += cf;
  o->predicted_saved_g += sr + sd + ss;
}

int eco_ledger_levers_sum(eco_ledger *l, double from_s, double to_s, eco_ledger_levers *out,
                          eco_error *err) {
  if (!l || !out) return eco_error_set(err, ECO_EINVAL, "ledger: invalid argument");
  memset(out, 0, sizeof *out);
  char sql[768];
  snprintf(sql, sizeof sql,
           "SELECT kind, total_g, counterfactual_g, saved_routing_g, saved_directive_g,"
           " saved_shifting_g FROM receipts WHERE %s%s",
           EFFECTIVE, window_and(from_s, to_s));
  sqlite3_stmt *s = NULL;
  pthread_mutex_lock(&l->mu);
  int rc = ECO_OK;
  if (sqlite3_prepare_v2(l->db, sql, -1, &s, NULL) != SQLITE_OK) {
    rc = db_err(l->db, err, "levers");
    goto done;
  }
  bind_window(s, from_s, to_s);
  int step;
  while ((step = sqlite3_step(s)) == SQLITE_ROW) {
    const unsigned char *k = sqlite3_column_text(s, 0);
    levers_add(out, k ? (const char *)k : "", sqlite3_column_double(s, 1),
               sqlite3_column_double(s, 2), sqlite3_column_double(s, 3),
               sqlite3_column_double(s, 4), sqlite3_column_double(s, 5));
  }
  if (step != SQLITE_DONE) rc = db_err(l->db, err, "levers");
  out->baseline_g = out->actual_g + out->routing_g + out->directive_g + out->shifting_g;
  out->net_saved_g = out->routing_g + out->directive_g + out->shifting_g - out->eval_g;
done:
  sqlite3_finalize(s);
  pthread_mutex_unlock(&l->mu);
  if (rc) memset(out, 0, sizeof *out);
  return rc;
}

int eco_ledger_check(eco_ledger *l, eco_error *err) {
  if (!l) return eco_error_set(err, ECO_EINVAL, "ledger: NULL");
  sqlite3_stmt *s = NULL;
  pthread_mutex_lock(&l->mu);
  int rc = ECO_OK;
  if (sqlite3_prepare_v2(l->db, "PRAGMA integrity_check", -1, &s, NULL) != SQLITE_OK) {
    rc = db_err(l->db, err, "integrity_check");
  } else if (sqlite3_step(s) != SQLITE_ROW) {
    rc = db_err(l->db, err, "integrity_check");
  } else {
    const unsigned char *t = sqlite3_column_text(s, 0);
    if (!t || strcmp((const char *)t, "ok") != 0)
      rc =
          eco_error_set(err, ECO_EFORMAT, "ledger: integrity_check: %s", t ? (const char *)t : "?");
  }
  sqlite3_finalize(s);
  pthread_mutex_unlock(&l->mu);
  return rc;
}
