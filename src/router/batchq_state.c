/* ecoinfer: the batch queue's state changes: workers claim and complete
 * requests, batches are cancelled or expire, and a batch whose last request
 * ended is finished (output and error files). Each change is one
 * transaction. See batchq.h. */
#include "router/batchq_internal.h"

#include "util/strbuf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
  int rc = bq_prep(q, sql, &st, err);
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
  if (s != SQLITE_DONE) rc = bq_db_fail(q, err, "read results");
  sqlite3_finalize(st);
  if (!rc && sb.oom) rc = eco_error_set(err, ECO_ENOMEM, "batchq: out of memory");
  if (!rc && lines) {
    char name[128];
    snprintf(name, sizeof name, "%s_%s.jsonl", batch_id,
             strcmp(purpose, "batch_output") == 0 ? "output" : "error");
    eco_batchq_file f;
    rc = bq_file_insert(q, purpose, name, sb.data ? sb.data : "", sb.len, now, &f, err);
    if (!rc) snprintf(id, cap, "%s", f.id);
  }
  eco_sb_free(&sb);
  return rc;
}

/* Inside a transaction: when no request of the batch is pending or
 * claimed, writes the files and ends the batch. */
static int maybe_finish(eco_batchq *q, const char *batch_id, int64_t now, eco_error *err) {
  sqlite3_stmt *st = NULL;
  int rc = bq_prep(q,
                   "SELECT (SELECT count(*) FROM requests WHERE batch_id=?1 AND state IN "
                   "('pending','claimed')), status FROM batches WHERE id=?1",
                   &st, err);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, batch_id, -1, SQLITE_TRANSIENT);
  int64_t open_n = -1;
  char status[16] = "";
  if (sqlite3_step(st) == SQLITE_ROW) {
    open_n = sqlite3_column_int64(st, 0);
    bq_col_text(st, 1, status, sizeof status);
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
  rc = bq_prep(q,
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
  if (sqlite3_step(st) != SQLITE_DONE) rc = bq_db_fail(q, err, "finish batch");
  sqlite3_finalize(st);
  return rc;
}

static int run1(eco_batchq *q, const char *sql, const char *a, int64_t n, eco_error *err) {
  sqlite3_stmt *st = NULL;
  int rc = bq_prep(q, sql, &st, err);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, a, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 2, n);
  if (sqlite3_step(st) != SQLITE_DONE) rc = bq_db_fail(q, err, "update");
  sqlite3_finalize(st);
  return rc;
}

int eco_batchq_cancel(eco_batchq *q, const char *id, double now_s, eco_batchq_batch *out,
                      eco_error *err) {
  if (!q || !id) return eco_error_set(err, ECO_EINVAL, "batchq: NULL argument");
  eco_batchq_batch b;
  int rc = bq_exec(q, "BEGIN IMMEDIATE", err);
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
  rc = bq_exec(q, "COMMIT", err);
  if (rc) goto fail;
  return out ? eco_batchq_batch_get(q, id, out, err) : 0;
fail:
  bq_rollback(q);
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
  int rc = bq_exec(q, "BEGIN IMMEDIATE", err);
  if (rc) return rc;
  sqlite3_stmt *st = NULL, *up = NULL;
  rc = bq_prep(q,
               "SELECT r.batch_id, r.idx, r.custom_id FROM requests r JOIN batches b ON "
               "b.id=r.batch_id WHERE b.status='in_progress' AND b.expires_at<=? AND "
               "r.state='pending'",
               &st, err);
  if (!rc)
    rc = bq_prep(q, "UPDATE requests SET state='expired', result_line=? WHERE batch_id=? AND idx=?",
                 &up, err);
  if (rc) goto fail;
  sqlite3_bind_int64(st, 1, now);
  while (sqlite3_step(st) == SQLITE_ROW) {
    char bid[ECO_BATCHQ_ID_MAX];
    bq_col_text(st, 0, bid, sizeof bid);
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
      rc = bq_db_fail(q, err, "expire request");
      goto fail;
    }
    rc = run1(q, "UPDATE batches SET failed=failed+1 WHERE id=?1 AND ?2>=0", bid, 0, err);
    if (rc) goto fail;
  }
  sqlite3_finalize(st);
  st = NULL;
  /* Batches past their deadline with nothing left running end as expired. */
  rc = bq_prep(q,
               "SELECT id FROM batches WHERE status='in_progress' AND expires_at<=? AND NOT EXISTS "
               "(SELECT 1 FROM requests WHERE batch_id=batches.id AND state IN "
               "('pending','claimed'))",
               &st, err);
  if (rc) goto fail;
  sqlite3_bind_int64(st, 1, now);
  while (sqlite3_step(st) == SQLITE_ROW) {
    char bid[ECO_BATCHQ_ID_MAX];
    bq_col_text(st, 0, bid, sizeof bid);
    int64_t exp_n = 0;
    sqlite3_stmt *c = NULL;
    rc = bq_prep(q, "SELECT count(*) FROM requests WHERE batch_id=? AND state='expired'", &c, err);
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
  return bq_exec(q, "COMMIT", err);
fail:
  sqlite3_finalize(st);
  sqlite3_finalize(up);
  bq_rollback(q);
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
  int rc = bq_exec(q, "BEGIN IMMEDIATE", err);
  if (rc) {
    free(w);
    return rc;
  }
  rc = bq_prep(q,
               "SELECT r.batch_id, r.idx, r.custom_id, r.body, b.endpoint, r.zone, r.attempt "
               "FROM requests r JOIN batches b ON b.id=r.batch_id "
               "WHERE b.status='in_progress' AND ((r.state='pending' AND r.not_before<=?1) OR "
               "(r.state='claimed' AND r.lease_until<=?1)) ORDER BY r.not_before, r.batch_id, "
               "r.idx LIMIT ?2",
               &st, err);
  if (!rc)
    rc = bq_prep(q,
                 "UPDATE requests SET state='claimed', attempt=attempt+1, lease_owner=?, "
                 "lease_until=? WHERE batch_id=? AND idx=?",
                 &up, err);
  if (rc) goto fail;
  sqlite3_bind_double(st, 1, now_s);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
  while (k < max && sqlite3_step(st) == SQLITE_ROW) {
    eco_batchq_work *x = &w[k];
    bq_col_text(st, 0, x->batch_id, sizeof x->batch_id);
    int64_t idx = sqlite3_column_int64(st, 1);
    x->custom_id = strdup((const char *)sqlite3_column_text(st, 2));
    x->body_json = strdup((const char *)sqlite3_column_text(st, 3));
    k++;
    if (!x->custom_id || !x->body_json) {
      rc = eco_error_set(err, ECO_ENOMEM, "batchq: out of memory");
      goto fail;
    }
    bq_col_text(st, 4, x->url, sizeof x->url);
    bq_col_text(st, 5, x->zone, sizeof x->zone);
    x->attempt = sqlite3_column_int(st, 6) + 1;
    x->lease_until = now_s + lease_s;
    sqlite3_reset(up);
    sqlite3_bind_text(up, 1, owner, -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(up, 2, x->lease_until);
    sqlite3_bind_text(up, 3, x->batch_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(up, 4, idx);
    if (sqlite3_step(up) != SQLITE_DONE) {
      rc = bq_db_fail(q, err, "claim");
      goto fail;
    }
  }
  sqlite3_finalize(st);
  sqlite3_finalize(up);
  st = up = NULL;
  rc = bq_exec(q, "COMMIT", err);
  if (rc) goto fail;
  *out = w;
  *n = k;
  return 0;
fail:
  sqlite3_finalize(st);
  sqlite3_finalize(up);
  bq_rollback(q);
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
  int rc = bq_exec(q, "BEGIN IMMEDIATE", err);
  if (rc) return rc;
  sqlite3_stmt *st = NULL;
  char *line = NULL;
  rc = bq_prep(q, "SELECT idx, state FROM requests WHERE batch_id=? AND custom_id=?", &st, err);
  if (rc) goto fail;
  sqlite3_bind_text(st, 1, batch_id, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, custom_id, -1, SQLITE_TRANSIENT);
  if (sqlite3_step(st) != SQLITE_ROW) {
    rc = eco_error_set(err, ECO_ENOENT, "batch %s has no request '%s'", batch_id, custom_id);
    goto fail;
  }
  int64_t idx = sqlite3_column_int64(st, 0);
  char state[16];
  bq_col_text(st, 1, state, sizeof state);
  sqlite3_finalize(st);
  st = NULL;
  if (strcmp(state, "pending") != 0 && strcmp(state, "claimed") != 0) {
    *duplicate = true; /* already has its one result (or was cancelled/expired) */
    bq_rollback(q);
    return 0;
  }
  bool ok = !r->error_code && r->status_code >= 200 && r->status_code < 300;
  line = result_line(batch_id, idx, custom_id, r, err);
  if (!line) {
    rc = err ? err->code : ECO_ENOMEM;
    goto fail;
  }
  rc = bq_prep(q,
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
    rc = bq_db_fail(q, err, "record result");
    goto fail;
  }
  sqlite3_finalize(st);
  st = NULL;
  rc = bq_prep(q,
               ok ? "UPDATE batches SET completed=completed+1, carbon_spent_g=carbon_spent_g+? "
                    "WHERE id=?"
                  : "UPDATE batches SET failed=failed+1, carbon_spent_g=carbon_spent_g+? "
                    "WHERE id=?",
               &st, err);
  if (rc) goto fail;
  sqlite3_bind_double(st, 1, r->carbon_g);
  sqlite3_bind_text(st, 2, batch_id, -1, SQLITE_TRANSIENT);
  if (sqlite3_step(st) != SQLITE_DONE) {
    rc = bq_db_fail(q, err, "count result");
    goto fail;
  }
  sqlite3_finalize(st);
  st = NULL;
  rc = maybe_finish(q, batch_id, (int64_t)now_s, err);
  if (rc) goto fail;
  rc = bq_exec(q, "COMMIT", err);
  if (rc) goto fail;
  free(line);
  return 0;
fail:
  sqlite3_finalize(st);
  free(line);
  bq_rollback(q);
  return rc;
}
