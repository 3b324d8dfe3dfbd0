/* ecoinfer: durable batch queue in SQLite. See batchq.h. */
#include "router/batchq.h"

#include "util/strbuf.h"

#include <ctype.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define MAX_FILE_BYTES (200u * 1024u * 1024u)
#define MAX_LINES      50000

struct eco_batchq {
  sqlite3 *db;
};

static const char *SCHEMA =
    "CREATE TABLE IF NOT EXISTS files ("
    " id TEXT PRIMARY KEY, purpose TEXT NOT NULL, filename TEXT NOT NULL,"
    " bytes INTEGER NOT NULL, created_at INTEGER NOT NULL, content BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS batches ("
    " id TEXT PRIMARY KEY, status TEXT NOT NULL, input_file_id TEXT NOT NULL,"
    " endpoint TEXT NOT NULL, completion_window TEXT NOT NULL, metadata TEXT,"
    " created_at INTEGER NOT NULL, in_progress_at INTEGER, expires_at INTEGER NOT NULL,"
    " finalizing_at INTEGER, completed_at INTEGER, failed_at INTEGER, expired_at INTEGER,"
    " cancelling_at INTEGER, cancelled_at INTEGER,"
    " total INTEGER NOT NULL, completed INTEGER NOT NULL DEFAULT 0,"
    " failed INTEGER NOT NULL DEFAULT 0, output_file_id TEXT, error_file_id TEXT,"
    " carbon_spent_g REAL NOT NULL DEFAULT 0, carbon_run_now_g REAL NOT NULL DEFAULT 0,"
    " carbon_planned_g REAL NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS requests ("
    " batch_id TEXT NOT NULL, idx INTEGER NOT NULL, custom_id TEXT NOT NULL,"
    " body TEXT NOT NULL, not_before REAL NOT NULL, zone TEXT NOT NULL DEFAULT '',"
    " planned_g REAL NOT NULL DEFAULT 0, state TEXT NOT NULL DEFAULT 'pending',"
    " attempt INTEGER NOT NULL DEFAULT 0, lease_owner TEXT, lease_until REAL,"
    " result_line TEXT, carbon_g REAL NOT NULL DEFAULT 0,"
    " PRIMARY KEY (batch_id, custom_id), UNIQUE (batch_id, idx));"
    "CREATE INDEX IF NOT EXISTS requests_due ON requests (state, not_before);";

static int db_fail(eco_batchq *q, eco_error *err, const char *what) {
  int code = sqlite3_errcode(q->db);
  int rc = (code == SQLITE_BUSY || code == SQLITE_LOCKED) ? ECO_EBUSY : ECO_EIO;
  return eco_error_set(err, rc, "batchq: %s: %s", what, sqlite3_errmsg(q->db));
}

static int exec(eco_batchq *q, const char *sql, eco_error *err) {
  char *msg = NULL;
  if (sqlite3_exec(q->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
    int code = sqlite3_errcode(q->db);
    int rc = (code == SQLITE_BUSY || code == SQLITE_LOCKED) ? ECO_EBUSY : ECO_EIO;
    eco_error_set(err, rc, "batchq: %s", msg ? msg : sqlite3_errmsg(q->db));
    sqlite3_free(msg);
    return rc;
  }
  return 0;
}

static int prep(eco_batchq *q, const char *sql, sqlite3_stmt **st, eco_error *err) {
  if (sqlite3_prepare_v2(q->db, sql, -1, st, NULL) != SQLITE_OK) return db_fail(q, err, "prepare");
  return 0;
}

static void rollback(eco_batchq *q) { sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL); }

int eco_batchq_open(const char *path, eco_batchq **out, eco_error *err) {
  if (!path || !out) return eco_error_set(err, ECO_EINVAL, "batchq: NULL argument");
  *out = NULL;
  eco_batchq *q = calloc(1, sizeof *q);
  if (!q) return eco_error_set(err, ECO_ENOMEM, "batchq: out of memory");
  int rc;
  if (sqlite3_open_v2(path, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
      SQLITE_OK) {
    rc = eco_error_set(err, ECO_EIO, "batchq: open %s: %s", path,
                       q->db ? sqlite3_errmsg(q->db) : "out of memory");
    goto fail;
  }
  sqlite3_busy_timeout(q->db, 10000);
  rc = exec(q, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", err);
  if (rc) goto fail;
  rc = exec(q, SCHEMA, err);
  if (rc) goto fail;
  *out = q;
  return 0;
fail:
  sqlite3_close(q->db);
  free(q);
  return rc;
}

void eco_batchq_close(eco_batchq *q) {
  if (!q) return;
  sqlite3_close(q->db);
  free(q);
}

static int new_id(const char *prefix, char *buf, size_t cap, eco_error *err) {
  unsigned char r[12];
  if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
    return eco_error_set(err, ECO_EIO, "batchq: no random bytes for an id");
  int off = snprintf(buf, cap, "%s", prefix);
  for (size_t i = 0; i < sizeof r && off + 2 < (int)cap; i++)
    off += snprintf(buf + off, cap - (size_t)off, "%02x", r[i]);
  return 0;
}

static void col_text(sqlite3_stmt *st, int i, char *buf, size_t cap) {
  const unsigned char *t = sqlite3_column_text(st, i);
  snprintf(buf, cap, "%s", t ? (const char *)t : "");
}

/* ---- files ---------------------------------------------------------------- */

static int file_insert(eco_batchq *q, const char *purpose, const char *filename, const void *data,
                       size_t len, int64_t now, eco_batchq_file *out, eco_error *err) {
  eco_batchq_file f;
  memset(&f, 0, sizeof f);
  int rc = new_id("file-", f.id, sizeof f.id, err);
  if (rc) return rc;
  snprintf(f.purpose, sizeof f.purpose, "%s", purpose);
  snprintf(f.filename, sizeof f.filename, "%s", filename ? filename : "");
  f.bytes = (int64_t)len;
  f.created_at = now;
  sqlite3_stmt *st = NULL;
  rc = prep(q, "INSERT INTO files VALUES (?,?,?,?,?,?)", &st, err);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, f.id, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, f.purpose, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 3, f.filename, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 4, f.bytes);
  sqlite3_bind_int64(st, 5, f.created_at);
  sqlite3_bind_blob(st, 6, len ? data : "", (int)len, SQLITE_TRANSIENT);
  if (sqlite3_step(st) != SQLITE_DONE) rc = db_fail(q, err, "insert file");
  sqlite3_finalize(st);
  if (rc == 0 && out) *out = f;
  return rc;
}

int eco_batchq_file_create(eco_batchq *q, const char *purpose, const char *filename,
                           const void *data, size_t len, double now_s, eco_batchq_file *out,
                           eco_error *err) {
  if (!q || !purpose || (!data && len))
    return eco_error_set(err, ECO_EINVAL, "batchq: NULL argument");
  if (strcmp(purpose, "batch") != 0)
    return eco_error_set(err, ECO_EINVAL, "purpose must be 'batch' (got '%s')", purpose);
  if (len > MAX_FILE_BYTES)
    return eco_error_set(err, ECO_EOVERFLOW, "file of %zu bytes exceeds the 200 MB limit", len);
  return file_insert(q, purpose, filename, data, len, (int64_t)now_s, out, err);
}

int eco_batchq_file_get(eco_batchq *q, const char *id, eco_batchq_file *out, eco_error *err) {
  if (!q || !id || !out) return eco_error_set(err, ECO_EINVAL, "batchq: NULL argument");
  sqlite3_stmt *st = NULL;
  int rc =
      prep(q, "SELECT id, purpose, filename, bytes, created_at FROM files WHERE id=?", &st, err);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
  int s = sqlite3_step(st);
  if (s == SQLITE_ROW) {
    memset(out, 0, sizeof *out);
    col_text(st, 0, out->id, sizeof out->id);
    col_text(st, 1, out->purpose, sizeof out->purpose);
    col_text(st, 2, out->filename, sizeof out->filename);
    out->bytes = sqlite3_column_int64(st, 3);
    out->created_at = sqlite3_column_int64(st, 4);
  } else if (s == SQLITE_DONE) {
    rc = eco_error_set(err, ECO_ENOENT, "no such file: %s", id);
  } else {
    rc = db_fail(q, err, "read file");
  }
  sqlite3_finalize(st);
  return rc;
}

int eco_batchq_file_content(eco_batchq *q, const char *id, char **data, size_t *len,
                            eco_error *err) {
  if (!q || !id || !data || !len) return eco_error_set(err, ECO_EINVAL, "batchq: NULL argument");
  *data = NULL;
  *len = 0;
  sqlite3_stmt *st = NULL;
  int rc = prep(q, "SELECT content FROM files WHERE id=?", &st, err);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
  int s = sqlite3_step(st);
  if (s == SQLITE_ROW) {
    int n = sqlite3_column_bytes(st, 0);
    const void *b = sqlite3_column_blob(st, 0);
    *data = malloc((size_t)n + 1);
    if (!*data) {
      rc = eco_error_set(err, ECO_ENOMEM, "batchq: out of memory");
    } else {
      if (n) memcpy(*data, b, (size_t)n);
      (*data)[n] = '\0';
      *len = (size_t)n;
    }
  } else if (s == SQLITE_DONE) {
    rc = eco_error_set(err, ECO_ENOENT, "no such file: %s", id);
  } else {
    rc = db_fail(q, err, "read file content");
  }
  sqlite3_finalize(st);
  return rc;
}

json_t *eco_batchq_file_json(const eco_batchq_file *f) {
  return json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:s}", "id", f->id, "object", "file", "bytes",
                   (json_int_t)f->bytes, "created_at", (json_int_t)f->created_at, "filename",
                   f->filename, "purpose", f->purpose, "status", "processed");
}

/* ---- validation ----------------------------------------------------------- */

int eco_batchq_parse_window(const char *s, double *seconds, eco_error *err) {
  if (!s || !*s || !seconds) return eco_error_set(err, ECO_EINVAL, "completion_window is empty");
  double total = 0;
  const char *p = s;
  while (*p) {
    if (!isdigit((unsigned char)*p))
      return eco_error_set(err, ECO_EINVAL,
                           "completion_window '%s': expected a duration like 24h, 90m, 2d", s);
    char *end = NULL;
    double v = strtod(p, &end);
    if (end == p) return eco_error_set(err, ECO_EINVAL, "completion_window '%s': bad number", s);
    double mult;
    switch (*end) {
    case 's': mult = 1; break;
    case 'm': mult = 60; break;
    case 'h': mult = 3600; break;
    case 'd': mult = 86400; break;
    case 'w': mult = 7 * 86400; break;
    default:
      return eco_error_set(err, ECO_EINVAL, "completion_window '%s': unit must be s, m, h, d or w",
                           s);
    }
    total += v * mult;
    p = end + 1;
  }
  if (!(total > 0) || total > 365.0 * 86400)
    return eco_error_set(err, ECO_ERANGE, "completion_window '%s' must lie in (0, 365d]", s);
  *seconds = total;
  return 0;
}

static int endpoint_ok(const char *e) {
  return strcmp(e, "/v1/chat/completions") == 0 || strcmp(e, "/v1/completions") == 0 ||
         strcmp(e, "/v1/embeddings") == 0 || strcmp(e, "/v1/responses") == 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One line: a JSON object with custom_id, method POST, url = endpoint and
 * an object body; *obj receives it. */
static int parse_line(const char *p, size_t ll, int64_t lineno, const char *endpoint, json_t **obj,
                      eco_error *err) {
  json_error_t je;
  *obj = json_loadb(p, ll, 0, &je);
  if (!*obj || !json_is_object(*obj))
    return eco_error_set(err, ECO_EFORMAT, "input line %lld: not a JSON object (%s)",
                         (long long)lineno, *obj ? "other JSON value" : je.text);
  const char *cid = json_string_value(json_object_get(*obj, "custom_id"));
  const char *method = json_string_value(json_object_get(*obj, "method"));
  const char *url = json_string_value(json_object_get(*obj, "url"));
  if (!cid || !*cid)
    return eco_error_set(err, ECO_EFORMAT, "input line %lld: custom_id must be a non-empty string",
                         (long long)lineno);
  if (!method || strcmp(method, "POST") != 0)
    return eco_error_set(err, ECO_EFORMAT, "input line %lld: method must be \"POST\"",
                         (long long)lineno);
  if (!url || strcmp(url, endpoint) != 0)
    return eco_error_set(err, ECO_EFORMAT,
                         "input line %lld: url '%.200s' differs from the batch endpoint '%s'",
                         (long long)lineno, url ? url : "", endpoint);
  if (!json_is_object(json_object_get(*obj, "body")))
    return eco_error_set(err, ECO_EFORMAT, "input line %lld: body must be a JSON object",
                         (long long)lineno);
  return 0;
}

/* custom_ids must be unique: sorted, neighbours compared. */
static int check_unique(char **ids, size_t n, eco_error *err) {
  qsort(ids, n, sizeof *ids, cmp_str);
  for (size_t i = 1; i < n; i++)
    if (strcmp(ids[i - 1], ids[i]) == 0)
      return eco_error_set(err, ECO_EFORMAT, "custom_id '%.200s' appears more than once", ids[i]);
  return 0;
}

static int check_endpoint(const char *endpoint, eco_error *err) {
  if (endpoint && endpoint_ok(endpoint)) return 0;
  return eco_error_set(err, ECO_EINVAL,
                       "endpoint '%.200s' not supported (/v1/chat/completions, /v1/completions, "
                       "/v1/embeddings, /v1/responses)",
                       endpoint ? endpoint : "");
}

int eco_batchq_parse_input(const char *data, size_t len, const char *endpoint,
                           eco_batchq_line_fn fn, void *user, int64_t *n_out, eco_error *err) {
  if (check_endpoint(endpoint, err)) return ECO_EINVAL;
  size_t cap_ids = 64, n_ids = 0;
  char **ids = malloc(cap_ids * sizeof *ids);
  json_t *obj = NULL;
  int64_t n = 0, lineno = 0;
  int rc = 0;
  if (!ids) return eco_error_set(err, ECO_ENOMEM, "batchq: out of memory");
  for (const char *p = data, *end = data + len; p < end && !rc;) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl ? nl : end;
    lineno++;
    size_t ll = (size_t)(le - p);
    while (ll && (p[ll - 1] == '\r' || p[ll - 1] == ' ' || p[ll - 1] == '\t'))
      ll--;
    if (ll == 0) {
      p = le + 1;
      continue;
    }
    if ((rc = parse_line(p, ll, lineno, endpoint, &obj, err))) break;
    if (++n > MAX_LINES) {
      rc = eco_error_set(err, ECO_EOVERFLOW, "input has more than %d requests", MAX_LINES);
      break;
    }
    const char *cid = json_string_value(json_object_get(obj, "custom_id"));
    if (n_ids == cap_ids) {
      char **g = realloc(ids, 2 * cap_ids * sizeof *ids);
      if (!g) {
        rc = eco_error_set(err, ECO_ENOMEM, "batchq: out of memory");
        break;
      }
      ids = g;
      cap_ids *= 2;
    }
    if (!(ids[n_ids] = strdup(cid))) {
      rc = eco_error_set(err, ECO_ENOMEM, "batchq: out of memory");
      break;
    }
    n_ids++;
    if (fn) {
      char *b = json_dumps(json_object_get(obj, "body"), JSON_COMPACT | JSON_PRESERVE_ORDER);
      rc = b ? fn(user, n - 1, cid, b, err) : eco_error_set(err, ECO_ENOMEM, "out of memory");
      free(b);
    }
    json_decref(obj);
    obj = NULL;
    p = le + 1;
  }
  if (!rc && n == 0) rc = eco_error_set(err, ECO_EFORMAT, "the input holds no requests");
  if (!rc) rc = check_unique(ids, n_ids, err);
  if (!rc) *n_out = n;
  json_decref(obj);
  for (size_t i = 0; i < n_ids; i++)
    free(ids[i]);
  free(ids);
  return rc;
}

/* Checks a stored input file and calls fn for each request when given. */
static int scan_input(eco_batchq *q, const char *file_id, const char *endpoint,
                      eco_batchq_line_fn fn, void *user, int64_t *n_out, eco_error *err) {
  if (check_endpoint(endpoint, err)) return ECO_EINVAL;
  eco_batchq_file f;
  int rc = eco_batchq_file_get(q, file_id, &f, err);
  if (rc) return rc;
  if (strcmp(f.purpose, "batch") != 0)
    return eco_error_set(err, ECO_EINVAL, "file %s has purpose '%s', not 'batch'", file_id,
                         f.purpose);
  char *data = NULL;
  size_t len = 0;
  if ((rc = eco_batchq_file_content(q, file_id, &data, &len, err))) return rc;
  rc = eco_batchq_parse_input(data, len, endpoint, fn, user, n_out, err);
  if (rc == ECO_EFORMAT && strstr(err ? err->msg : "", "holds no requests"))
    eco_error_set(err, ECO_EFORMAT, "input file %s holds no requests", file_id);
  free(data);
  return rc;
}

int eco_batchq_validate(eco_batchq *q, const char *input_file_id, const char *endpoint,
                        int64_t *n_requests, eco_error *err) {
  if (!q || !input_file_id || !n_requests)
    return eco_error_set(err, ECO_EINVAL, "batchq: NULL argument");
  return scan_input(q, input_file_id, endpoint, NULL, NULL, n_requests, err);
}

int eco_batchq_assign_from_plan(const eco_shift_plan *plan, double slot0_start_s, double slot_s,
                                double now_s, const char *const *zone_names, size_t n_zones,
                                eco_batchq_assign **out, eco_error *err) {
  if (!plan || !out) return eco_error_set(err, ECO_EINVAL, "batchq: NULL argument");
  *out = NULL;
  if (plan->n_requests == 0) return 0;
  eco_batchq_assign *a = calloc((size_t)plan->n_requests, sizeof *a);
  if (!a) return eco_error_set(err, ECO_ENOMEM, "batchq: out of memory");
  int64_t k = 0;
  for (size_t i = 0; i < plan->n_cells; i++) {
    const eco_shift_cell *c = &plan->cells[i];
    double t = slot0_start_s + (double)c->slot * slot_s;
    if (t < now_s) t = now_s;
    for (int64_t j = 0; j < c->count && k < plan->n_requests; j++, k++) {
      a[k].not_before_s = t;
      a[k].predicted_g = c->cost_g;
      if (zone_names && c->zone < n_zones && zone_names[c->zone])
        snprintf(a[k].zone, sizeof a[k].zone, "%s", zone_names[c->zone]);
    }
  }
  if (k != plan->n_requests) {
    free(a);
    return eco_error_set(err, ECO_EINTERNAL, "batchq: plan cells hold %lld of %lld requests",
                         (long long)k, (long long)plan->n_requests);
  }
  *out = a;
  return 0;
}

typedef struct insert_ctx {
  eco_batchq *q;
  sqlite3_stmt *st;
  const char *batch_id;
  const eco_batchq_create *c;
  double deadline;
} insert_ctx;

static int insert_line(void *user, int64_t idx, const char *custom_id, const char *body,
                       eco_error *err) {
  insert_ctx *x = user;
  const eco_batchq_create *c = x->c;
  double nb = c->now_s, g = 0;
  const char *zone = "";
  if (c->assign) {
    if ((size_t)idx >= c->n_assign)
      return eco_error_set(err, ECO_EINVAL, "batchq: %zu assignments for more requests",
                           c->n_assign);
    nb = c->assign[idx].not_before_s;
    g = c->assign[idx].predicted_g;
    zone = c->assign[idx].zone;
    if (!(nb <= x->deadline))
      return eco_error_set(err, ECO_ERANGE,
                           "request %lld is planned after the batch deadline: refused",
                           (long long)idx);
  }
  sqlite3_stmt *st = x->st;
  sqlite3_reset(st);
  sqlite3_bind_text(st, 1, x->batch_id, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 2, idx);
  sqlite3_bind_text(st, 3, custom_id, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 4, body, -1, SQLITE_TRANSIENT);
  sqlite3_bind_double(st, 5, nb);
  sqlite3_bind_text(st, 6, zone, -1, SQLITE_TRANSIENT);
  sqlite3_bind_double(st, 7, g);
  if (sqlite3_step(st) != SQLITE_DONE) {
    if (sqlite3_extended_errcode(x->q->db) == SQLITE_CONSTRAINT_PRIMARYKEY)
      return eco_error_set(err, ECO_EFORMAT, "custom_id '%s' appears more than once", custom_id);
    return db_fail(x->q, err, "insert request");
  }
  return 0;
}

int eco_batchq_batch_create(eco_batchq *q, const eco_batchq_create *c, eco_batchq_batch *out,
                            eco_error *err) {
  if (!q || !c || !c->input_file_id || !c->endpoint || !c->completion_window)
    return eco_error_set(err, ECO_EINVAL, "batchq: NULL argument");
  double window = 0;
  int rc = eco_batchq_parse_window(c->completion_window, &window, err);
  if (rc) return rc;
  if (c->metadata_json) {
    json_t *m = json_loads(c->metadata_json, 0, NULL);
    bool ok = json_is_object(m);
    json_decref(m);
    if (!ok) return eco_error_set(err, ECO_EINVAL, "metadata must be a JSON object");
  }
  char id[ECO_BATCHQ_ID_MAX];
  rc = new_id("batch_", id, sizeof id, err);
  if (rc) return rc;
  int64_t now = (int64_t)c->now_s;
  double deadline = c->now_s + window;
  rc = exec(q, "BEGIN IMMEDIATE", err);
  if (rc) return rc;
  insert_ctx x = {.q = q, .batch_id = id, .c = c, .deadline = deadline};
  int64_t n = 0;
  rc = prep(q,
            "INSERT INTO requests (batch_id, idx, custom_id, body, not_before, zone, planned_g)"
            " VALUES (?,?,?,?,?,?,?)",
            &x.st, err);
  if (rc) goto fail;
  rc = scan_input(q, c->input_file_id, c->endpoint, insert_line, &x, &n, err);
  sqlite3_finalize(x.st);
  if (rc) goto fail;
  if (c->assign && c->n_assign != (size_t)n) {
    rc = eco_error_set(err, ECO_EINVAL, "batchq: %zu assignments for %lld requests", c->n_assign,
                       (long long)n);
    goto fail;
  }
  sqlite3_stmt *st = NULL;
  rc = prep(q,
            "INSERT INTO batches (id, status, input_file_id, endpoint, completion_window, "
            "metadata, created_at, in_progress_at, expires_at, total, carbon_run_now_g, "
            "carbon_planned_g) VALUES (?, 'in_progress', ?,?,?,?,?,?,?,?,?,?)",
            &st, err);
  if (rc) goto fail;
  sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, c->input_file_id, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 3, c->endpoint, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 4, c->completion_window, -1, SQLITE_TRANSIENT);
  if (c->metadata_json)
    sqlite3_bind_text(st, 5, c->metadata_json, -1, SQLITE_TRANSIENT);
  else
    sqlite3_bind_null(st, 5);
  sqlite3_bind_int64(st, 6, now);
  sqlite3_bind_int64(st, 7, now);
  sqlite3_bind_int64(st, 8, (int64_t)ceil(deadline));
  sqlite3_bind_int64(st, 9, n);
  sqlite3_bind_double(st, 10, c->run_now_g);
  sqlite3_bind_double(st, 11, c->planned_g);
  if (sqlite3_step(st) != SQLITE_DONE) rc = db_fail(q, err, "insert batch");
  sqlite3_finalize(st);
  if (rc) goto fail;
  rc = exec(q, "COMMIT", err);
  if (rc) goto fail;
  if (out) return eco_batchq_batch_get(q, id, out, err);
  return 0;
fail:
  rollback(q);
  return rc;
}

void eco_batchq_batch_clear(eco_batchq_batch *b) {
  if (!b) return;
  free(b->metadata_json);
  memset(b, 0, sizeof *b);
}

int eco_batchq_batch_list(eco_batchq *q, const char *after, size_t limit, bool active_only,
                          char (**ids)[ECO_BATCHQ_ID_MAX], size_t *n, eco_error *err) {
  if (!q || !ids || !n) return eco_error_set(err, ECO_EINVAL, "batchq: NULL argument");
  *ids = NULL;
  *n = 0;
  if (limit == 0) return 0;
  char(*v)[ECO_BATCHQ_ID_MAX] = calloc(limit, sizeof *v);
  if (!v) return eco_error_set(err, ECO_ENOMEM, "batchq: out of memory");
  sqlite3_stmt *st = NULL;
  int rc = prep(q,
                "SELECT id FROM batches WHERE (?1 = '' OR rowid < (SELECT rowid FROM batches"
                " WHERE id = ?1)) AND (?2 = 0 OR status IN ('in_progress','cancelling'))"
                " ORDER BY rowid DESC LIMIT ?3",
                &st, err);
  if (rc) goto fail;
  sqlite3_bind_text(st, 1, after ? after : "", -1, SQLITE_TRANSIENT);
  sqlite3_bind_int(st, 2, active_only ? 1 : 0);
  sqlite3_bind_int64(st, 3, (sqlite3_int64)limit);
  int s;
  while ((s = sqlite3_step(st)) == SQLITE_ROW && *n < limit)
    col_text(st, 0, v[(*n)++], ECO_BATCHQ_ID_MAX);
  if (s != SQLITE_ROW && s != SQLITE_DONE) {
    rc = db_fail(q, err, "list batches");
    goto fail;
  }
  sqlite3_finalize(st);
  *ids = v;
  return 0;
fail:
  if (st) sqlite3_finalize(st);
  free(v);
  *n = 0;
  return rc;
}

int eco_batchq_load(eco_batchq *q, const char *exclude_batch, double slot0_s, double slot_s,
                    size_t n_slots, const char *const *zone_names, size_t n_zones, int64_t *used,
                    eco_error *err) {
  if (!q || !used || (n_zones && !zone_names) || slot_s <= 0)
    return eco_error_set(err, ECO_EINVAL, "batchq: bad load arguments");
  sqlite3_stmt *st = NULL;
  int rc = prep(q,
                "SELECT zone, MAX(0, CAST((not_before - ?2) / ?3 AS INTEGER)), COUNT(*)"
                " FROM requests WHERE state = 'claimed' OR (state = 'pending' AND batch_id <> ?1)"
                " OR (state IN ('done','failed') AND not_before >= ?2) GROUP BY 1, 2",
                &st, err);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, exclude_batch ? exclude_batch : "", -1, SQLITE_TRANSIENT);
  sqlite3_bind_double(st, 2, slot0_s);
  sqlite3_bind_double(st, 3, slot_s);
  int s;
  while ((s = sqlite3_step(st)) == SQLITE_ROW) {
    const char *zone = (const char *)sqlite3_column_text(st, 0);
    int64_t slot = sqlite3_column_int64(st, 1), cnt = sqlite3_column_int64(st, 2);
    if (!zone || slot < 0 || (uint64_t)slot >= n_slots) continue;
    for (size_t z = 0; z < n_zones; z++)
      if (strcmp(zone_names[z], zone) == 0) used[z * n_slots + (size_t)slot] += cnt;
  }
  if (s != SQLITE_DONE) rc = db_fail(q, err, "read load");
  sqlite3_finalize(st);
  return rc;
}

int eco_batchq_batch_get(eco_batchq *q, const char *id, eco_batchq_batch *out, eco_error *err) {
  if (!q || !id || !out) return eco_error_set(err, ECO_EINVAL, "batchq: NULL argument");
  memset(out, 0, sizeof *out);
  sqlite3_stmt *st = NULL;
  int rc = prep(q,
                "SELECT id, status, input_file_id, endpoint, completion_window, metadata,"
                " created_at, in_progress_at, expires_at, finalizing_at, completed_at, failed_at,"
                " expired_at, cancelling_at, cancelled_at, total, completed, failed,"
                " output_file_id, error_file_id, carbon_spent_g, carbon_run_now_g,"
                " carbon_planned_g FROM batches WHERE id=?",
                &st, err);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
  int s = sqlite3_step(st);
  if (s == SQLITE_ROW) {
    col_text(st, 0, out->id, sizeof out->id);
    col_text(st, 1, out->status, sizeof out->status);
    col_text(st, 2, out->input_file_id, sizeof out->input_file_id);
    col_text(st, 3, out->endpoint, sizeof out->endpoint);
    col_text(st, 4, out->completion_window, sizeof out->completion_window);
    const unsigned char *m = sqlite3_column_text(st, 5);
    if (m) {
      out->metadata_json = strdup((const char *)m);
      if (!out->metadata_json) rc = eco_error_set(err, ECO_ENOMEM, "batchq: out of memory");
    }
    int64_t *t[] = {&out->created_at,   &out->in_progress_at, &out->expires_at, &out->finalizing_at,
                    &out->completed_at, &out->failed_at,      &out->expired_at, &out->cancelling_at,
                    &out->cancelled_at, &out->total,          &out->completed,  &out->failed};
    for (int i = 0; i < 12; i++)
      *t[i] = sqlite3_column_int64(st, 6 + i);
    col_text(st, 18, out->output_file_id, sizeof out->output_file_id);
    col_text(st, 19, out->error_file_id, sizeof out->error_file_id);
    out->carbon_spent_g = sqlite3_column_double(st, 20);
    out->carbon_run_now_g = sqlite3_column_double(st, 21);
    out->carbon_planned_g = sqlite3_column_double(st, 22);
  } else if (s == SQLITE_DONE) {
    rc = eco_error_set(err, ECO_ENOENT, "no such batch: %s", id);
  } else {
    rc = db_fail(q, err, "read batch");
  }
  sqlite3_finalize(st);
  return rc;
}

static json_t *time_or_null(int64_t t) { return t ? json_integer(t) : json_null(); }

json_t *eco_batchq_batch_json(const eco_batchq_batch *b) {
  json_t *o = json_object();
  if (!o) return NULL;
  json_t *meta = b->metadata_json ? json_loads(b->metadata_json, 0, NULL) : NULL;
  int bad = 0;
  bad |= json_object_set_new(o, "id", json_string(b->id));
  bad |= json_object_set_new(o, "object", json_string("batch"));
  bad |= json_object_set_new(o, "endpoint", json_string(b->endpoint));
  bad |= json_object_set_new(o, "errors", json_null());
  bad |= json_object_set_new(o, "input_file_id", json_string(b->input_file_id));
  bad |= json_object_set_new(o, "completion_window", json_string(b->completion_window));
  bad |= json_object_set_new(o, "status", json_string(b->status));
  bad |= json_object_set_new(o, "output_file_id",
                             b->output_file_id[0] ? json_string(b->output_file_id) : json_null());
  bad |= json_object_set_new(o, "error_file_id",
                             b->error_file_id[0] ? json_string(b->error_file_id) : json_null());
  bad |= json_object_set_new(o, "created_at", json_integer(b->created_at));
  bad |= json_object_set_new(o, "in_progress_at", time_or_null(b->in_progress_at));
  bad |= json_object_set_new(o, "expires_at", time_or_null(b->expires_at));
  bad |= json_object_set_new(o, "finalizing_at", time_or_null(b->finalizing_at));
  bad |= json_object_set_new(o, "completed_at", time_or_null(b->completed_at));
  bad |= json_object_set_new(o, "failed_at", time_or_null(b->failed_at));
  bad |= json_object_set_new(o, "expired_at", time_or_null(b->expired_at));
  bad |= json_object_set_new(o, "cancelling_at", time_or_null(b->cancelling_at));
  bad |= json_object_set_new(o, "cancelled_at", time_or_null(b->cancelled_at));
  bad |=
      json_object_set_new(o, "request_counts",
                          json_pack("{s:I, s:I, s:I}", "total", (json_int_t)b->total, "completed",
                                    (json_int_t)b->completed, "failed", (json_int_t)b->failed));
  bad |= json_object_set_new(o, "metadata", meta ? meta : json_null());
  bad |= json_object_set_new(o, "carbon_spent_g", json_real(b->carbon_spent_g));
  bad |= json_object_set_new(o, "carbon_run_now_g", json_real(b->carbon_run_now_g));
  bad |= json_object_set_new(o, "carbon_planned_g", json_real(b->carbon_planned_g));
  if (bad) {
    json_decref(o);
    return NULL;
  }
  return o;
}

/* ---- finishing ------------------------------------------------------------ */

/* Concatenates the result lines of requests in the given states (input
 * order) into a new file; *id stays "" when there are none. */
static int write_results(eco_batchq *q, const char *batch_id, const char *states_sql,
                         const char *purpose, int64_t now, char *id, size_t cap, eco_error *err) {
  id[0] = '\0';
  char sql[256];
  snprintf(sql, sizeof sql,
           "SELECT result_line FROM requests WHERE batch_id=? AND state IN (%s) "
           "AND result_line IS NOT NULL ORDER BY idx",
           states_sql);
  sqlite3_stmt *st = NULL;
  int rc = prep(q, sql, &st, err);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, batch_id, -1, SQLITE_TRANSIENT);
  eco_strbuf sb;
  eco_sb_init(&sb);
  int s;
  size_t lines = 0;
  while ((s = sqlite3_step(st)) == SQLITE_ROW) {
    eco_sb_puts(&sb, (const char *)sqlite3_column_text(st, 0));
    eco_sb_puts(&sb, "\n");
    lines++;
  }
  if (s != SQLITE_DONE) rc = db_fail(q, err, "read results");
  sqlite3_finalize(st);
  if (!rc && sb.oom) rc = eco_error_set(err, ECO_ENOMEM, "batchq: out of memory");
  if (!rc && lines) {
    char name[128];
    snprintf(name, sizeof name, "%s_%s.jsonl", batch_id,
             strcmp(purpose, "batch_output") == 0 ? "output" : "error");
    eco_batchq_file f;
    rc = file_insert(q, purpose, name, sb.data ? sb.data : "", sb.len, now, &f, err);
    if (!rc) snprintf(id, cap, "%s", f.id);
  }
  eco_sb_free(&sb);
  return rc;
}

/* Inside a transaction: when no request of the batch is pending or
 * claimed, writes the files and ends the batch. */
static int maybe_finish(eco_batchq *q, const char *batch_id, int64_t now, eco_error *err) {
  sqlite3_stmt *st = NULL;
  int rc = prep(q,
                "SELECT (SELECT count(*) FROM requests WHERE batch_id=?1 AND state IN "
                "('pending','claimed')), status FROM batches WHERE id=?1",
                &st, err);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, batch_id, -1, SQLITE_TRANSIENT);
  int64_t open_n = -1;
  char status[16] = "";
  if (sqlite3_step(st) == SQLITE_ROW) {
    open_n = sqlite3_column_int64(st, 0);
    col_text(st, 1, status, sizeof status);
  }
  sqlite3_finalize(st);
  if (open_n != 0) return 0;
  if (strcmp(status, "in_progress") != 0 && strcmp(status, "cancelling") != 0) return 0;
  char out_id[ECO_BATCHQ_ID_MAX], err_id[ECO_BATCHQ_ID_MAX];
  rc = write_results(q, batch_id, "'done'", "batch_output", now, out_id, sizeof out_id, err);
  if (rc) return rc;
  rc = write_results(q, batch_id, "'failed','expired'", "batch_error", now, err_id, sizeof err_id,
                     err);
  if (rc) return rc;
  bool cancelling = strcmp(status, "cancelling") == 0;
  rc = prep(q,
            cancelling ? "UPDATE batches SET status='cancelled', cancelled_at=?2, "
                         "output_file_id=NULLIF(?3,''), error_file_id=NULLIF(?4,'') WHERE id=?1"
                       : "UPDATE batches SET status='completed', finalizing_at=?2, "
                         "completed_at=?2, output_file_id=NULLIF(?3,''), "
                         "error_file_id=NULLIF(?4,'') WHERE id=?1",
            &st, err);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, batch_id, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 2, now);
  sqlite3_bind_text(st, 3, out_id, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 4, err_id, -1, SQLITE_TRANSIENT);
  if (sqlite3_step(st) != SQLITE_DONE) rc = db_fail(q, err, "finish batch");
  sqlite3_finalize(st);
  return rc;
}

static int run1(eco_batchq *q, const char *sql, const char *a, int64_t n, eco_error *err) {
  sqlite3_stmt *st = NULL;
  int rc = prep(q, sql, &st, err);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, a, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 2, n);
  if (sqlite3_step(st) != SQLITE_DONE) rc = db_fail(q, err, "update");
  sqlite3_finalize(st);
  return rc;
}

int eco_batchq_cancel(eco_batchq *q, const char *id, double now_s, eco_batchq_batch *out,
                      eco_error *err) {
  if (!q || !id) return eco_error_set(err, ECO_EINVAL, "batchq: NULL argument");
  eco_batchq_batch b;
  int rc = exec(q, "BEGIN IMMEDIATE", err);
  if (rc) return rc;
  rc = eco_batchq_batch_get(q, id, &b, err);
  if (rc) goto fail;
  bool live = strcmp(b.status, "in_progress") == 0 || strcmp(b.status, "validating") == 0;
  char status[16];
  snprintf(status, sizeof status, "%s", b.status);
  eco_batchq_batch_clear(&b);
  if (!live) {
    rc = eco_error_set(err, ECO_ESTATE, "batch %s is %s and cannot be cancelled", id, status);
    goto fail;
  }
  int64_t now = (int64_t)now_s;
  rc = run1(q, "UPDATE requests SET state='cancelled' WHERE batch_id=?1 AND state='pending'", id,
            now, err);
  if (!rc)
    rc = run1(q, "UPDATE batches SET status='cancelling', cancelling_at=?2 WHERE id=?1", id, now,
              err);
  if (!rc) rc = maybe_finish(q, id, now, err);
  if (rc) goto fail;
  rc = exec(q, "COMMIT", err);
  if (rc) goto fail;
  return out ? eco_batchq_batch_get(q, id, out, err) : 0;
fail:
  rollback(q);
  return rc;
}

static char *error_line(const char *batch_id, int64_t idx, const char *custom_id, const char *code,
                        const char *message) {
  char rid[160];
  snprintf(rid, sizeof rid, "batch_req_%s_%lld", batch_id, (long long)idx);
  json_t *o = json_pack("{s:s, s:s, s:n, s:{s:s, s:s}}", "id", rid, "custom_id", custom_id,
                        "response", "error", "code", code, "message", message);
  char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(o);
  return s;
}

int eco_batchq_expire(eco_batchq *q, double now_s, int *n_expired, eco_error *err) {
  if (!q) return eco_error_set(err, ECO_EINVAL, "batchq: NULL argument");
  if (n_expired) *n_expired = 0;
  int64_t now = (int64_t)now_s;
  int rc = exec(q, "BEGIN IMMEDIATE", err);
  if (rc) return rc;
  sqlite3_stmt *st = NULL, *up = NULL;
  rc = prep(q,
            "SELECT r.batch_id, r.idx, r.custom_id FROM requests r JOIN batches b ON "
            "b.id=r.batch_id WHERE b.status='in_progress' AND b.expires_at<=? AND "
            "r.state='pending'",
            &st, err);
  if (!rc)
    rc = prep(q, "UPDATE requests SET state='expired', result_line=? WHERE batch_id=? AND idx=?",
              &up, err);
  if (rc) goto fail;
  sqlite3_bind_int64(st, 1, now);
  while (sqlite3_step(st) == SQLITE_ROW) {
    char bid[ECO_BATCHQ_ID_MAX];
    col_text(st, 0, bid, sizeof bid);
    int64_t idx = sqlite3_column_int64(st, 1);
    char *line = error_line(bid, idx, (const char *)sqlite3_column_text(st, 2), "batch_expired",
                            "This request could not be executed before the completion window "
                            "expired.");
    if (!line) {
      rc = eco_error_set(err, ECO_ENOMEM, "batchq: out of memory");
      goto fail;
    }
    sqlite3_reset(up);
    sqlite3_bind_text(up, 1, line, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(up, 2, bid, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(up, 3, idx);
    free(line);
    if (sqlite3_step(up) != SQLITE_DONE) {
      rc = db_fail(q, err, "expire request");
      goto fail;
    }
    rc = run1(q, "UPDATE batches SET failed=failed+1 WHERE id=?1 AND ?2>=0", bid, 0, err);
    if (rc) goto fail;
  }
  sqlite3_finalize(st);
  st = NULL;
  /* Batches past their deadline with nothing left running end as expired. */
  rc = prep(q,
            "SELECT id FROM batches WHERE status='in_progress' AND expires_at<=? AND NOT EXISTS "
            "(SELECT 1 FROM requests WHERE batch_id=batches.id AND state IN "
            "('pending','claimed'))",
            &st, err);
  if (rc) goto fail;
  sqlite3_bind_int64(st, 1, now);
  while (sqlite3_step(st) == SQLITE_ROW) {
    char bid[ECO_BATCHQ_ID_MAX];
    col_text(st, 0, bid, sizeof bid);
    int64_t exp_n = 0;
    sqlite3_stmt *c = NULL;
    rc = prep(q, "SELECT count(*) FROM requests WHERE batch_id=? AND state='expired'", &c, err);
    if (rc) goto fail;
    sqlite3_bind_text(c, 1, bid, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(c) == SQLITE_ROW) exp_n = sqlite3_column_int64(c, 0);
    sqlite3_finalize(c);
    if (exp_n == 0) continue; /* finished normally; maybe_finish handles it */
    rc = maybe_finish(q, bid, now, err);
    if (!rc)
      rc = run1(q,
                "UPDATE batches SET status='expired', expired_at=?2, completed_at=NULL "
                "WHERE id=?1",
                bid, now, err);
    if (rc) goto fail;
    if (n_expired) (*n_expired)++;
  }
  sqlite3_finalize(st);
  sqlite3_finalize(up);
  return exec(q, "COMMIT", err);
fail:
  sqlite3_finalize(st);
  sqlite3_finalize(up);
  rollback(q);
  return rc;
}

/* ---- workers -------------------------------------------------------------- */

void eco_batchq_work_free(eco_batchq_work *w, size_t n) {
  if (!w) return;
  for (size_t i = 0; i < n; i++) {
    free(w[i].custom_id);
    free(w[i].body_json);
  }
  free(w);
}

int eco_batchq_claim(eco_batchq *q, const char *owner, double now_s, double lease_s, size_t max,
                     eco_batchq_work **out, size_t *n, eco_error *err) {
  if (!q || !owner || !out || !n || !(lease_s > 0))
    return eco_error_set(err, ECO_EINVAL, "batchq: bad claim arguments");
  *out = NULL;
  *n = 0;
  if (max == 0) return 0;
  eco_batchq_work *w = calloc(max, sizeof *w);
  if (!w) return eco_error_set(err, ECO_ENOMEM, "batchq: out of memory");
  sqlite3_stmt *st = NULL, *up = NULL;
  size_t k = 0;
  int rc = exec(q, "BEGIN IMMEDIATE", err);
  if (rc) {
    free(w);
    return rc;
  }
  rc = prep(q,
            "SELECT r.batch_id, r.idx, r.custom_id, r.body, b.endpoint, r.zone, r.attempt "
            "FROM requests r JOIN batches b ON b.id=r.batch_id "
            "WHERE b.status='in_progress' AND ((r.state='pending' AND r.not_before<=?1) OR "
            "(r.state='claimed' AND r.lease_until<=?1)) ORDER BY r.not_before, r.batch_id, "
            "r.idx LIMIT ?2",
            &st, err);
  if (!rc)
    rc = prep(q,
              "UPDATE requests SET state='claimed', attempt=attempt+1, lease_owner=?, "
              "lease_until=? WHERE batch_id=? AND idx=?",
              &up, err);
  if (rc) goto fail;
  sqlite3_bind_double(st, 1, now_s);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
  while (k < max && sqlite3_step(st) == SQLITE_ROW) {
    eco_batchq_work *x = &w[k];
    col_text(st, 0, x->batch_id, sizeof x->batch_id);
    int64_t idx = sqlite3_column_int64(st, 1);
    x->custom_id = strdup((const char *)sqlite3_column_text(st, 2));
    x->body_json = strdup((const char *)sqlite3_column_text(st, 3));
    k++;
    if (!x->custom_id || !x->body_json) {
      rc = eco_error_set(err, ECO_ENOMEM, "batchq: out of memory");
      goto fail;
    }
    col_text(st, 4, x->url, sizeof x->url);
    col_text(st, 5, x->zone, sizeof x->zone);
    x->attempt = sqlite3_column_int(st, 6) + 1;
    x->lease_until = now_s + lease_s;
    sqlite3_reset(up);
    sqlite3_bind_text(up, 1, owner, -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(up, 2, x->lease_until);
    sqlite3_bind_text(up, 3, x->batch_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(up, 4, idx);
    if (sqlite3_step(up) != SQLITE_DONE) {
      rc = db_fail(q, err, "claim");
      goto fail;
    }
  }
  sqlite3_finalize(st);
  sqlite3_finalize(up);
  st = up = NULL;
  rc = exec(q, "COMMIT", err);
  if (rc) goto fail;
  *out = w;
  *n = k;
  return 0;
fail:
  sqlite3_finalize(st);
  sqlite3_finalize(up);
  rollback(q);
  eco_batchq_work_free(w, k);
  return rc;
}

static char *result_line(const char *batch_id, int64_t idx, const char *custom_id,
                         const eco_batchq_result *r, eco_error *err) {
  char rid[160];
  snprintf(rid, sizeof rid, "batch_req_%s_%lld", batch_id, (long long)idx);
  json_t *o = json_object(), *body = NULL, *receipt = NULL, *resp = json_null(), *e = json_null();
  if (r->body_json) {
    body = json_loads(r->body_json, 0, NULL);
    if (!body) {
      eco_error_set(err, ECO_EFORMAT, "result of '%s': response body is not JSON", custom_id);
      goto fail;
    }
  }
  if (r->receipt_json) {
    receipt = json_loads(r->receipt_json, 0, NULL);
    if (!json_is_object(receipt)) {
      eco_error_set(err, ECO_EFORMAT, "result of '%s': receipt is not a JSON object", custom_id);
      goto fail;
    }
  }
  if (r->status_code > 0) {
    resp = json_pack("{s:i, s:s, s:o}", "status_code", r->status_code, "request_id",
                     r->request_id ? r->request_id : rid, "body", body ? body : json_null());
    body = NULL;
  }
  if (r->error_code)
    e = json_pack("{s:s, s:s}", "code", r->error_code, "message",
                  r->error_message ? r->error_message : "");
  if (!o || !resp || !e) goto oom;
  json_object_set_new(o, "id", json_string(rid));
  json_object_set_new(o, "custom_id", json_string(custom_id));
  json_object_set_new(o, "response", resp);
  json_object_set_new(o, "error", e);
  resp = e = NULL;
  if (receipt) {
    json_object_set_new(o, "carbon", receipt);
    receipt = NULL;
  }
  if (r->elapsed_s > 0) json_object_set_new(o, "ecoinfer_elapsed_s", json_real(r->elapsed_s));
  char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(o);
  if (!s) eco_error_set(err, ECO_ENOMEM, "batchq: out of memory");
  return s;
oom:
  eco_error_set(err, ECO_ENOMEM, "batchq: out of memory");
fail:
  json_decref(o);
  json_decref(body);
  json_decref(receipt);
  json_decref(resp);
  json_decref(e);
  return NULL;
}

int eco_batchq_complete(eco_batchq *q, const char *batch_id, const char *custom_id,
                        const eco_batchq_result *r, double now_s, bool *duplicate, eco_error *err) {
  if (!q || !batch_id || !custom_id || !r || !duplicate)
    return eco_error_set(err, ECO_EINVAL, "batchq: NULL argument");
  *duplicate = false;
  if (!(r->carbon_g >= 0) || !isfinite(r->carbon_g))
    return eco_error_set(err, ECO_EINVAL, "result of '%s': carbon_g must be >= 0", custom_id);
  int rc = exec(q, "BEGIN IMMEDIATE", err);
  if (rc) return rc;
  sqlite3_stmt *st = NULL;
  char *line = NULL;
  rc = prep(q, "SELECT idx, state FROM requests WHERE batch_id=? AND custom_id=?", &st, err);
  if (rc) goto fail;
  sqlite3_bind_text(st, 1, batch_id, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, custom_id, -1, SQLITE_TRANSIENT);
  if (sqlite3_step(st) != SQLITE_ROW) {
    rc = eco_error_set(err, ECO_ENOENT, "batch %s has no request '%s'", batch_id, custom_id);
    goto fail;
  }
  int64_t idx = sqlite3_column_int64(st, 0);
  char state[16];
  col_text(st, 1, state, sizeof state);
  sqlite3_finalize(st);
  st = NULL;
  if (strcmp(state, "pending") != 0 && strcmp(state, "claimed") != 0) {
    *duplicate = true; /* already has its one result (or was cancelled/expired) */
    rollback(q);
    return 0;
  }
  bool ok = !r->error_code && r->status_code >= 200 && r->status_code < 300;
  line = result_line(batch_id, idx, custom_id, r, err);
  if (!line) {
    rc = err ? err->code : ECO_ENOMEM;
    goto fail;
  }
  rc = prep(q,
            "UPDATE requests SET state=?, result_line=?, carbon_g=?, lease_until=NULL "
            "WHERE batch_id=? AND idx=? AND state IN ('pending','claimed')",
            &st, err);
  if (rc) goto fail;
  sqlite3_bind_text(st, 1, ok ? "done" : "failed", -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, line, -1, SQLITE_TRANSIENT);
  sqlite3_bind_double(st, 3, r->carbon_g);
  sqlite3_bind_text(st, 4, batch_id, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 5, idx);
  if (sqlite3_step(st) != SQLITE_DONE) {
    rc = db_fail(q, err, "record result");
    goto fail;
  }
  sqlite3_finalize(st);
  st = NULL;
  rc = prep(q,
            ok ? "UPDATE batches SET completed=completed+1, carbon_spent_g=carbon_spent_g+? "
                 "WHERE id=?"
               : "UPDATE batches SET failed=failed+1, carbon_spent_g=carbon_spent_g+? "
                 "WHERE id=?",
            &st, err);
  if (rc) goto fail;
  sqlite3_bind_double(st, 1, r->carbon_g);
  sqlite3_bind_text(st, 2, batch_id, -1, SQLITE_TRANSIENT);
  if (sqlite3_step(st) != SQLITE_DONE) {
    rc = db_fail(q, err, "count result");
    goto fail;
  }
  sqlite3_finalize(st);
  st = NULL;
  rc = maybe_finish(q, batch_id, (int64_t)now_s, err);
  if (rc) goto fail;
  rc = exec(q, "COMMIT", err);
  if (rc) goto fail;
  free(line);
  return 0;
fail:
  sqlite3_finalize(st);
  free(line);
  rollback(q);
  return rc;
}

int eco_batchq_count_pending(eco_batchq *q, const char *batch_id, int64_t *n, eco_error *err) {
  if (!q || !batch_id || !n) return eco_error_set(err, ECO_EINVAL, "batchq: NULL argument");
  sqlite3_stmt *st = NULL;
  int rc = prep(q, "SELECT count(*) FROM requests WHERE batch_id=? AND state='pending'", &st, err);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, batch_id, -1, SQLITE_TRANSIENT);
  if (sqlite3_step(st) == SQLITE_ROW)
    *n = sqlite3_column_int64(st, 0);
  else
    rc = db_fail(q, err, "count pending");
  sqlite3_finalize(st);
  return rc;
}

int eco_batchq_reassign(eco_batchq *q, const char *batch_id, const eco_batchq_assign *assign,
                        size_t n, eco_error *err) {
  if (!q || !batch_id || (!assign && n))
    return eco_error_set(err, ECO_EINVAL, "batchq: NULL argument");
  int rc = exec(q, "BEGIN IMMEDIATE", err);
  if (rc) return rc;
  sqlite3_stmt *st = NULL, *up = NULL;
  eco_batchq_batch b;
  memset(&b, 0, sizeof b);
  rc = eco_batchq_batch_get(q, batch_id, &b, err);
  if (rc) goto fail;
  rc = prep(q, "SELECT idx FROM requests WHERE batch_id=? AND state='pending' ORDER BY idx", &st,
            err);
  if (!rc)
    rc = prep(q, "UPDATE requests SET not_before=?, zone=?, planned_g=? WHERE batch_id=? AND idx=?",
              &up, err);
  if (rc) goto fail;
  sqlite3_bind_text(st, 1, batch_id, -1, SQLITE_TRANSIENT);
  size_t k = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    if (k >= n) {
      rc = eco_error_set(err, ECO_EINVAL, "batchq: more pending requests than the %zu assigned", n);
      goto fail;
    }
    if (!(assign[k].not_before_s <= (double)b.expires_at)) {
      rc = eco_error_set(err, ECO_ERANGE, "replan puts a request after the batch deadline");
      goto fail;
    }
    sqlite3_reset(up);
    sqlite3_bind_double(up, 1, assign[k].not_before_s);
    sqlite3_bind_text(up, 2, assign[k].zone, -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(up, 3, assign[k].predicted_g);
    sqlite3_bind_text(up, 4, batch_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(up, 5, sqlite3_column_int64(st, 0));
    if (sqlite3_step(up) != SQLITE_DONE) {
      rc = db_fail(q, err, "reassign");
      goto fail;
    }
    k++;
  }
  if (k != n) {
    rc = eco_error_set(err, ECO_EINVAL, "batchq: %zu pending requests, %zu assigned", k, n);
    goto fail;
  }
  sqlite3_finalize(st);
  sqlite3_finalize(up);
  eco_batchq_batch_clear(&b);
  return exec(q, "COMMIT", err);
fail:
  sqlite3_finalize(st);
  sqlite3_finalize(up);
  eco_batchq_batch_clear(&b);
  rollback(q);
  return rc;
}
