/* ecoinfer: the batch queue's batches: creating one with its requests,
 * reading and listing them, the OpenAI batch object. See batchq.h. */
#include "router/batchq_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- batches -------------------------------------------------------------- */

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
    return bq_db_fail(x->q, err, "insert request");
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
  rc = bq_new_id("batch_", id, sizeof id, err);
  if (rc) return rc;
  int64_t now = (int64_t)c->now_s;
  double deadline = c->now_s + window;
  rc = bq_exec(q, "BEGIN IMMEDIATE", err);
  if (rc) return rc;
  insert_ctx x = {.q = q, .batch_id = id, .c = c, .deadline = deadline};
  int64_t n = 0;
  rc = bq_prep(q,
               "INSERT INTO requests (batch_id, idx, custom_id, body, not_before, zone, planned_g)"
               " VALUES (?,?,?,?,?,?,?)",
               &x.st, err);
  if (rc) goto fail;
  rc = bq_scan_input(q, c->input_file_id, c->endpoint, insert_line, &x, &n, err);
  sqlite3_finalize(x.st);
  if (rc) goto fail;
  if (c->assign && c->n_assign != (size_t)n) {
    rc = eco_error_set(err, ECO_EINVAL, "batchq: %zu assignments for %lld requests", c->n_assign,
                       (long long)n);
    goto fail;
  }
  sqlite3_stmt *st = NULL;
  rc = bq_prep(q,
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
  if (sqlite3_step(st) != SQLITE_DONE) rc = bq_db_fail(q, err, "insert batch");
  sqlite3_finalize(st);
  if (rc) goto fail;
  rc = bq_exec(q, "COMMIT", err);
  if (rc) goto fail;
  if (out) return eco_batchq_batch_get(q, id, out, err);
  return 0;
fail:
  bq_rollback(q);
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
  int rc = bq_prep(q,
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
    bq_col_text(st, 0, v[(*n)++], ECO_BATCHQ_ID_MAX);
  if (s != SQLITE_ROW && s != SQLITE_DONE) {
    rc = bq_db_fail(q, err, "list batches");
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

int eco_batchq_batch_get(eco_batchq *q, const char *id, eco_batchq_batch *out, eco_error *err) {
  if (!q || !id || !out) return eco_error_set(err, ECO_EINVAL, "batchq: NULL argument");
  memset(out, 0, sizeof *out);
  sqlite3_stmt *st = NULL;
  int rc =
      bq_prep(q,
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
    bq_col_text(st, 0, out->id, sizeof out->id);
    bq_col_text(st, 1, out->status, sizeof out->status);
    bq_col_text(st, 2, out->input_file_id, sizeof out->input_file_id);
    bq_col_text(st, 3, out->endpoint, sizeof out->endpoint);
    bq_col_text(st, 4, out->completion_window, sizeof out->completion_window);
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
    bq_col_text(st, 18, out->output_file_id, sizeof out->output_file_id);
    bq_col_text(st, 19, out->error_file_id, sizeof out->error_file_id);
    out->carbon_spent_g = sqlite3_column_double(st, 20);
    out->carbon_run_now_g = sqlite3_column_double(st, 21);
    out->carbon_planned_g = sqlite3_column_double(st, 22);
  } else if (s == SQLITE_DONE) {
    rc = eco_error_set(err, ECO_ENOENT, "no such batch: %s", id);
  } else {
    rc = bq_db_fail(q, err, "read batch");
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
