/* ecoinfer: durable batch queue in SQLite: the database (schema, open,
 * SQL helpers, ids) and the files table. See batchq.h; the other parts are
 * listed in batchq_internal.h. */
#include "router/batchq_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define MAX_FILE_BYTES (200u * 1024u * 1024u)

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

int bq_db_fail(eco_batchq *q, eco_error *err, const char *what) {
  int code = sqlite3_errcode(q->db);
  int rc = (code == SQLITE_BUSY || code == SQLITE_LOCKED) ? ECO_EBUSY : ECO_EIO;
  return eco_error_set(err, rc, "batchq: %s: %s", what, sqlite3_errmsg(q->db));
}

int bq_exec(eco_batchq *q, const char *sql, eco_error *err) {
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

int bq_prep(eco_batchq *q, const char *sql, sqlite3_stmt **st, eco_error *err) {
  if (sqlite3_prepare_v2(q->db, sql, -1, st, NULL) != SQLITE_OK)
    return bq_db_fail(q, err, "prepare");
  return 0;
}

void bq_rollback(eco_batchq *q) { sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL); }

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
  rc = bq_exec(q, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", err);
  if (rc) goto fail;
  rc = bq_exec(q, SCHEMA, err);
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

int bq_new_id(const char *prefix, char *buf, size_t cap, eco_error *err) {
  unsigned char r[12];
  if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
    return eco_error_set(err, ECO_EIO, "batchq: no random bytes for an id");
  int off = snprintf(buf, cap, "%s", prefix);
  for (size_t i = 0; i < sizeof r && off + 2 < (int)cap; i++)
    off += snprintf(buf + off, cap - (size_t)off, "%02x", r[i]);
  return 0;
}

void bq_col_text(sqlite3_stmt *st, int i, char *buf, size_t cap) {
  const unsigned char *t = sqlite3_column_text(st, i);
  snprintf(buf, cap, "%s", t ? (const char *)t : "");
}

/* ---- files ---------------------------------------------------------------- */

int bq_file_insert(eco_batchq *q, const char *purpose, const char *filename, const void *data,
                   size_t len, int64_t now, eco_batchq_file *out, eco_error *err) {
  eco_batchq_file f;
  memset(&f, 0, sizeof f);
  int rc = bq_new_id("file-", f.id, sizeof f.id, err);
  if (rc) return rc;
  snprintf(f.purpose, sizeof f.purpose, "%s", purpose);
  snprintf(f.filename, sizeof f.filename, "%s", filename ? filename : "");
  f.bytes = (int64_t)len;
  f.created_at = now;
  sqlite3_stmt *st = NULL;
  rc = bq_prep(q, "INSERT INTO files VALUES (?,?,?,?,?,?)", &st, err);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, f.id, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, f.purpose, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 3, f.filename, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 4, f.bytes);
  sqlite3_bind_int64(st, 5, f.created_at);
  sqlite3_bind_blob(st, 6, len ? data : "", (int)len, SQLITE_TRANSIENT);
  if (sqlite3_step(st) != SQLITE_DONE) rc = bq_db_fail(q, err, "insert file");
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
  return bq_file_insert(q, purpose, filename, data, len, (int64_t)now_s, out, err);
}

int eco_batchq_file_get(eco_batchq *q, const char *id, eco_batchq_file *out, eco_error *err) {
  if (!q || !id || !out) return eco_error_set(err, ECO_EINVAL, "batchq: NULL argument");
  sqlite3_stmt *st = NULL;
  int rc =
      bq_prep(q, "SELECT id, purpose, filename, bytes, created_at FROM files WHERE id=?", &st, err);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
  int s = sqlite3_step(st);
  if (s == SQLITE_ROW) {
    memset(out, 0, sizeof *out);
    bq_col_text(st, 0, out->id, sizeof out->id);
    bq_col_text(st, 1, out->purpose, sizeof out->purpose);
    bq_col_text(st, 2, out->filename, sizeof out->filename);
    out->bytes = sqlite3_column_int64(st, 3);
    out->created_at = sqlite3_column_int64(st, 4);
  } else if (s == SQLITE_DONE) {
    rc = eco_error_set(err, ECO_ENOENT, "no such file: %s", id);
  } else {
    rc = bq_db_fail(q, err, "read file");
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
  int rc = bq_prep(q, "SELECT content FROM files WHERE id=?", &st, err);
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
    rc = bq_db_fail(q, err, "read file content");
  }
  sqlite3_finalize(st);
  return rc;
}

json_t *eco_batchq_file_json(const eco_batchq_file *f) {
  return json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:s}", "id", f->id, "object", "file", "bytes",
                   (json_int_t)f->bytes, "created_at", (json_int_t)f->created_at, "filename",
                   f->filename, "purpose", f->purpose, "status", "processed");
}
