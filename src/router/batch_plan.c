/* ecoinfer router: Batch API planning and replanning over the zones' forecasts
 * (see batch_internal.h). */
#include "router/batch_internal.h"

#include "policy/shift.h"
#include "util/timeutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static double trace_t(const eco_batch_api *b, double wall_s) {
  return b->t0_trace + (wall_s - b->t0_wall) * b->speed;
}

/* Forecast of zone over n slots from slot0 (wall clock) into out, gCO2e/kWh
 * (gaps repeat the last value; no forecast at all: the current value). */
void bapi_zone_forecast(eco_batch_api *b, const char *zone, double slot0, size_t n, double *out) {
  eco_error e = {0};
  eco_intensity now_v;
  double cur = 400;
  double from = trace_t(b, slot0), to = trace_t(b, slot0 + (double)n * b->cfg.slot_s);
  /* values of at least 5 minutes */
  size_t cap = (size_t)((to - from) / 300.0) + n + 4, got = cap;
  eco_intensity *v = calloc(cap, sizeof *v);
  pthread_mutex_lock(&b->prov_mu);
  if (eco_intensity_get(b->prov, zone, trace_t(b, eco_time_wall_s()), &now_v, &e) == 0 ||
      eco_intensity_get(b->fallback, zone, eco_time_wall_s(), &now_v, &e) == 0)
    cur = now_v.gco2_kwh;
  /* A configured live provider's forecast endpoint comes first; the
   * history-built forecast is the fallback (and the default for traces). */
  bool have = false;
  if (v && b->prefer_inner && eco_intensity_forecast(b->inner, zone, from, to, v, &got, &e) == 0 &&
      got > 0)
    have = true;
  if (!have) got = cap;
  if (!have && (!v || eco_intensity_forecast(b->prov, zone, from, to, v, &got, &e) != 0)) {
    /* no history yet (a trace replay's first days): the inner provider's
     * own forecast where it has one (for a trace: its future, i.e. perfect) */
    ECO_DEBUG(&b->log, MOD, "history forecast %s: %s", zone, eco_error_text(&e));
    got = cap;
    if (!v || eco_intensity_forecast(b->inner, zone, from, to, v, &got, &e) != 0) got = 0;
  }
  pthread_mutex_unlock(&b->prov_mu);
  if (got > cap) got = cap;
  ECO_DEBUG(&b->log, MOD, "forecast %s: now %.1f g/kWh, %zu values, %s", zone, cur, got,
            got ? v[0].source : "-");
  size_t k = 0; /* values are in time order: one pass */
  double x = cur;
  for (size_t s = 0; s < n; s++) {
    double t = trace_t(b, slot0 + ((double)s + 0.5) * b->cfg.slot_s);
    while (k < got && t >= v[k].time_s + (v[k].period_s > 0 ? v[k].period_s : 3600))
      k++;
    if (k < got && v[k].time_s <= t && v[k].gco2_kwh >= 0) x = v[k].gco2_kwh;
    out[s] = x;
  }
  out[0] = cur;
  free(v);
}

/* Plans n requests due by deadline_s into *assign (malloc'd, n entries),
 * around what the other batches in q (all but self) already hold. */

int bapi_plan(eco_batch_api *b, eco_batchq *q, const char *self, int64_t n, double now,
              double deadline_s, eco_batchq_assign **assign, double *planned_g, double *run_now_g,
              eco_error *err) {
  *assign = NULL;
  double slot0 = floor(now / b->cfg.slot_s) * b->cfg.slot_s;
  size_t dslots = 0;
  double first = 1;
  int rc = eco_shift_window(slot0, b->cfg.slot_s, now, deadline_s, &dslots, &first, err);
  if (rc) return rc;
  if (dslots == 0)
    return eco_error_set(err, ECO_ERANGE,
                         "completion_window too short: no %.0f s planning slot ends before the "
                         "deadline",
                         b->cfg.slot_s);
  size_t nz = b->n_zones;
  eco_shift_zone *zs = calloc(nz, sizeof *zs);
  double *in = calloc(nz * dslots, sizeof *in);
  int64_t *used = calloc(nz * dslots, sizeof *used);
  const char *names[ZMAX];
  eco_shift_plan p = {0}, rn = {0};
  if (!zs || !in || !used) {
    rc = eco_error_set(err, ECO_ENOMEM, "batch: out of memory");
    goto done;
  }
  for (size_t z = 0; z < nz; z++) {
    snprintf(zs[z].name, sizeof zs[z].name, "%s", b->zones[z].name);
    zs[z].energy_j = bapi_zone_energy(b, z);
    zs[z].pue = b->pue >= 1 ? b->pue : 1;
    zs[z].embodied_g = b->zones[z].embodied_g;
    zs[z].capacity = b->zones[z].capacity;
    zs[z].interactive_share = b->cfg.interactive_reserve;
    names[z] = b->zones[z].name;
    bapi_zone_forecast(b, b->zones[z].name, slot0, dslots, in + z * dslots);
  }
  /* what the other accepted batches already hold */
  if ((rc = eco_batchq_load(q, self, slot0, b->cfg.slot_s, dslots, names, nz, used, err)))
    goto done;
  eco_shift_problem pr = {.n_zones = nz,
                          .n_slots = dslots,
                          .zones = zs,
                          .intensity = in,
                          .used = used,
                          .deadline_slots = dslots,
                          .first_frac = first,
                          .n_requests = n};
  if ((rc = eco_shift_plan_make(&pr, &p, err))) goto done;
  *planned_g = p.predicted_g;
  *run_now_g = eco_shift_plan_run_now(&pr, &rn, NULL) == 0 ? rn.predicted_g : p.run_now_g;
  rc = eco_batchq_assign_from_plan(&p, slot0, b->cfg.slot_s, now, names, nz, assign, err);
done:
  eco_shift_plan_free(&p);
  eco_shift_plan_free(&rn);
  free(zs);
  free(in);
  free(used);
  return rc;
}

void bapi_replan_all(eco_batch_api *b, eco_batchq *q) {
  char(*ids)[ECO_BATCHQ_ID_MAX] = NULL;
  size_t n = 0;
  eco_error e = {0};
  if (eco_batchq_batch_list(q, NULL, 1000, true, &ids, &n, &e)) return;
  for (size_t i = 0; i < n; i++) {
    eco_batchq_batch bt;
    int64_t pend = 0;
    if (eco_batchq_batch_get(q, ids[i], &bt, &e)) continue;
    double deadline = (double)bt.expires_at;
    eco_batchq_batch_clear(&bt);
    if (eco_batchq_count_pending(q, ids[i], &pend, &e) || pend == 0) continue;
    eco_batchq_assign *as = NULL;
    double pg = 0, rg = 0;
    if (bapi_plan(b, q, ids[i], pend, eco_time_wall_s(), deadline, &as, &pg, &rg, &e) == 0 &&
        eco_batchq_reassign(q, ids[i], as, (size_t)pend, &e) == 0)
      ECO_DEBUG(&b->log, MOD, "replanned %s: %lld pending, %.4g g predicted", ids[i],
                (long long)pend, pg);
    else /* the old plan stays (it was feasible when accepted) */
      ECO_DEBUG(&b->log, MOD, "replan %s kept: %s", ids[i], eco_error_text(&e));
    free(as);
  }
  free(ids);
}
