/* ecoinfer: the batch queue's planning side: assignments from a plan,
 * the capacity ledger and replanning of pending requests. See batchq.h. */
#include "router/batchq_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int eco_batchq_load(eco_batchq *q, const char *exclude_batch, double slot0_s, double slot_s,
                    size_t n_slots, const char *const *zone_names, size_t n_zones, int64_t *used,
                    eco_error *err) {
  if (!q || !used || (n_zones && !zone_names) || slot_s <= 0)
    return eco_error_set(err, ECO_EINVAL, "batchq: bad load arguments");
  sqlite3_stmt *st = NULL;
  int rc =
      bq_prep(q,
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
  if (s != SQLITE_DONE) rc = bq_db_fail(q, err, "read load");
  sqlite3_finalize(st);
  return rc;
}

int eco_batchq_count_pending(eco_batchq *q, const char *batch_id, int64_t *n, eco_error *err) {
  if (!q || !batch_id || !n) return eco_error_set(err, ECO_EINVAL, "batchq: NULL argument");
  sqlite3_stmt *st = NULL;
  int rc =
      bq_prep(q, "SELECT count(*) FROM requests WHERE batch_id=? AND state='pending'", &st, err);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, batch_id, -1, SQLITE_TRANSIENT);
  if (sqlite3_step(st) == SQLITE_ROW)
    *n = sqlite3_column_int64(st, 0);
  else
    rc = bq_db_fail(q, err, "count pending");
  sqlite3_finalize(st);
  return rc;
}

int eco_batchq_reassign(eco_batchq *q, const char *batch_id, const eco_batchq_assign *assign,
                        size_t n, eco_error *err) {
  if (!q || !batch_id || (!assign && n))
    return eco_error_set(err, ECO_EINVAL, "batchq: NULL argument");
  int rc = bq_exec(q, "BEGIN IMMEDIATE", err);
  if (rc) return rc;
  sqlite3_stmt *st = NULL, *up = NULL;
  eco_batchq_batch b;
  memset(&b, 0, sizeof b);
  rc = eco_batchq_batch_get(q, batch_id, &b, err);
  if (rc) goto fail;
  rc = bq_prep(q, "SELECT idx FROM requests WHERE batch_id=? AND state='pending' ORDER BY idx", &st,
               err);
  if (!rc)
    rc = bq_prep(q,
                 "UPDATE requests SET not_before=?, zone=?, planned_g=? WHERE batch_id=? AND idx=?",
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
      rc = bq_db_fail(q, err, "reassign");
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
  return bq_exec(q, "COMMIT", err);
fail:
  sqlite3_finalize(st);
  sqlite3_finalize(up);
  eco_batchq_batch_clear(&b);
  bq_rollback(q);
  return rc;
}
