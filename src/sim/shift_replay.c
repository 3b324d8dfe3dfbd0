/* ecoinfer: time-shifting simulation over a trace (see sim/shift_replay.h). */
#include "sim/shift_replay.h"

#include "policy/shift.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void eco_sim_shift_defaults(eco_sim_shift_cfg *c) {
  memset(c, 0, sizeof *c);
  c->n_jobs = 365;
  c->deadline_s = 24 * 3600.0;
  c->fc = (eco_forecast_cfg){.kind = ECO_FORECAST_SEASONAL_NAIVE, .period = 24, .k_days = 1};
  c->replan = true;
  c->job_hours = 1.0;
  c->request_j = 1000.0;
  c->request_s = 2.0;
  c->pue = 1.2;
  c->embodied =
      (eco_embodied){.total_g = 26356.568, .lifetime_s = 5 * ECO_SECONDS_PER_YEAR, .share = 1.0};
  c->capacity = 100;
  c->interactive_share = 0.3;
  c->seed = 1;
  c->warmup_h = 7 * 24;
}

static uint64_t splitmix(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

typedef struct job {
  double arrival_h;  /* trace hours */
  double deadline_h; /* trace hours */
  size_t slot0;      /* hour of the plan's slot 0 */
  size_t home;       /* zone the job is submitted in (run-now runs it there) */
  eco_shift_plan plan;
  bool active;
} job;

typedef struct sim {
  const double *const *ci; /* [nz] series of n hours, gCO2e/kWh */
  size_t nz, n;
  const eco_sim_shift_cfg *cfg;
  eco_shift_zone *zones;          /* [nz] */
  int64_t *used_shift, *used_now; /* [nz * n] requests per zone-hour held */
  int64_t *tmp_used;              /* [nz * n] the problem's slice of the ledger */
  double *fc;                     /* [nz * n] forecast buffer */
  eco_sim_shift_result *r;
  double start_sum_shift, start_sum_now, ci_sum_shift, ci_sum_now; /* request-weighted */
  double moved;                                                    /* requests run away from home */
} sim;

/* Accounts the cells of p (slots relative to slot0) with slot >= from and
 * < to as run: actual grams on the true trace. */
static void account(sim *s, const job *j, const eco_shift_plan *p, size_t from, size_t to) {
  for (size_t i = 0; i < p->n_cells; i++) {
    const eco_shift_cell *c = &p->cells[i];
    if (c->slot < from || c->slot >= to) continue;
    size_t a = j->slot0 + c->slot;
    double ci = s->ci[c->zone][a];
    s->r->shifted_g += (double)c->count * eco_shift_request_g(&s->zones[c->zone], ci);
    s->ci_sum_shift += (double)c->count * ci;
    double start = (double)a > j->arrival_h ? (double)a : j->arrival_h;
    s->start_sum_shift += (double)c->count * (start - j->arrival_h);
    if ((double)a + 1.0 > j->deadline_h + 1e-9) s->r->late += (size_t)c->count;
    if (c->zone != j->home) s->moved += (double)c->count;
  }
}

/* Adds sign * the cells of p with slot >= from to a [nz * n] ledger. */
static void ledger_add(sim *s, int64_t *used, size_t slot0, const eco_shift_plan *p, size_t from,
                       int64_t sign) {
  for (size_t i = 0; i < p->n_cells; i++) {
    const eco_shift_cell *c = &p->cells[i];
    size_t a = slot0 + c->slot;
    if (c->slot >= from && c->zone < s->nz && a < s->n) used[c->zone * s->n + a] += sign * c->count;
  }
}

/* The problem on a grid starting at hour h for a job, over all zones;
 * fills s->fc and s->tmp_used. */
static int problem_at(sim *s, const job *j, size_t h, double now_h, eco_shift_problem *p,
                      eco_error *err) {
  size_t dslots;
  double frac;
  int rc = eco_shift_window((double)h * 3600, 3600, now_h * 3600, j->deadline_h * 3600, &dslots,
                            &frac, err);
  if (rc) return rc;
  if (h + dslots > s->n) dslots = s->n - h;
  size_t horizon = dslots ? dslots : 1;
  for (size_t z = 0; z < s->nz; z++) {
    rc = eco_forecast_series(&s->cfg->fc, s->ci[z], s->n, h, horizon, s->fc + z * horizon, err);
    if (rc) return rc;
    memcpy(s->tmp_used + z * horizon, s->used_shift + z * s->n + h, horizon * sizeof *s->tmp_used);
  }
  *p = (eco_shift_problem){.n_zones = s->nz,
                           .n_slots = horizon,
                           .zones = s->zones,
                           .intensity = s->fc,
                           .used = s->tmp_used,
                           .deadline_slots = dslots,
                           .first_frac = frac,
                           .keep_margin = s->cfg->keep_margin};
  return 0;
}

static int admit(sim *s, job *j, int64_t n_req, eco_error *err) {
  size_t h = (size_t)floor(j->arrival_h);
  eco_shift_problem p;
  int rc = problem_at(s, j, h, j->arrival_h, &p, err);
  if (rc) return rc;
  p.n_requests = n_req;
  j->slot0 = h;
  rc = eco_shift_plan_make(&p, &j->plan, err);
  if (rc == ECO_ERANGE) {
    s->r->refused++;
    return 0;
  }
  if (rc) return rc;
  /* run-now: at arrival in the home zone, on the true trace, in its own ledger */
  eco_shift_problem q = p;
  q.n_zones = 1;
  q.zones = &s->zones[j->home];
  q.intensity = s->ci[j->home] + h;
  q.used = s->used_now + j->home * s->n + h;
  eco_shift_plan now;
  rc = eco_shift_plan_run_now(&q, &now, err);
  if (rc == ECO_ERANGE) {
    s->r->refused++;
    eco_shift_plan_free(&j->plan);
    return 0;
  }
  if (rc) {
    eco_shift_plan_free(&j->plan);
    return rc;
  }
  eco_shift_reserve(&now, s->used_now + j->home * s->n + h, 1, s->n - h);
  ledger_add(s, s->used_shift, h, &j->plan, 0, 1);
  s->r->run_now_g += now.predicted_g;
  for (size_t i = 0; i < now.n_cells; i++) {
    double a = (double)(h + now.cells[i].slot);
    s->ci_sum_now += (double)now.cells[i].count * s->ci[j->home][h + now.cells[i].slot];
    s->start_sum_now +=
        (double)now.cells[i].count * ((a > j->arrival_h ? a : j->arrival_h) - j->arrival_h);
  }
  eco_shift_plan_free(&now);
  s->r->predicted_g += j->plan.predicted_g;
  s->r->requests += n_req;
  s->r->jobs++;
  j->active = true;
  return 0;
}

/* At the start of hour h: the hours before are run; the rest is replanned
 * with the forecast made now. */
static int replan(sim *s, job *j, size_t h, eco_error *err) {
  size_t elapsed = h - j->slot0;
  account(s, j, &j->plan, 0, elapsed);
  ledger_add(s, s->used_shift, j->slot0, &j->plan, elapsed, -1);
  eco_shift_problem p;
  int rc = problem_at(s, j, h, (double)h, &p, err);
  if (rc) return rc;
  eco_shift_plan next;
  int64_t kept;
  rc = eco_shift_replan(&j->plan, elapsed, false, &p, &next, &kept, err);
  if (rc) return rc;
  eco_shift_plan_free(&j->plan);
  j->plan = next;
  j->slot0 = h;
  ledger_add(s, s->used_shift, h, &j->plan, 0, 1);
  if (j->plan.n_requests == 0) j->active = false;
  return 0;
}

int eco_sim_shift_run_zones(const double *const *ci, size_t n_zones, size_t n,
                            const eco_sim_shift_cfg *cfg, eco_sim_shift_result *out,
                            eco_error *err) {
  if (!ci || !cfg || !out || n == 0 || n_zones == 0)
    return eco_error_set(err, ECO_EINVAL, "sim shift: NULL argument or empty trace");
  memset(out, 0, sizeof *out);
  double dl_h = cfg->deadline_s / 3600.0;
  if (!(dl_h > 0) || !(cfg->job_hours > 0) || cfg->capacity <= 0 || cfg->n_jobs == 0)
    return eco_error_set(err, ECO_EINVAL, "sim shift: deadline, job size, capacity and jobs > 0");
  for (size_t z = 0; z < n_zones; z++) {
    if (!ci[z]) return eco_error_set(err, ECO_EINVAL, "sim shift: zone %zu has no trace", z);
    for (size_t i = 0; i < n; i++)
      if (!(ci[z][i] >= 0) || !isfinite(ci[z][i]))
        return eco_error_set(err, ECO_EFORMAT, "sim shift: bad intensity at zone %zu hour %zu", z,
                             i);
  }
  double last = (double)n - dl_h - 2;
  if (last <= (double)cfg->warmup_h + 1)
    return eco_error_set(err, ECO_ERANGE,
                         "sim shift: a trace of %zu h is too short for %zu h warm-up and a "
                         "%.0f h deadline",
                         n, cfg->warmup_h, dl_h);
  sim s = {.ci = ci, .nz = n_zones, .n = n, .cfg = cfg, .r = out};
  int rc = ECO_ENOMEM;
  double *arr = malloc(cfg->n_jobs * sizeof *arr);
  job *jobs = calloc(cfg->n_jobs, sizeof *jobs);
  s.zones = calloc(n_zones, sizeof *s.zones);
  s.used_shift = calloc(n_zones * n, sizeof *s.used_shift);
  s.used_now = calloc(n_zones * n, sizeof *s.used_now);
  s.tmp_used = calloc(n_zones * n, sizeof *s.tmp_used);
  s.fc = malloc(n_zones * n * sizeof *s.fc);
  if (!arr || !jobs || !s.zones || !s.used_shift || !s.used_now || !s.tmp_used || !s.fc) {
    eco_error_set(err, ECO_ENOMEM, "sim shift: out of memory");
    goto done;
  }
  for (size_t z = 0; z < n_zones; z++)
    s.zones[z] = (eco_shift_zone){.energy_j = cfg->request_j,
                                  .pue = cfg->pue < 1 ? 1 : cfg->pue,
                                  .embodied_g = eco_sci_embodied_g(&cfg->embodied, cfg->request_s),
                                  .capacity = cfg->capacity,
                                  .interactive_share = cfg->interactive_share};
  eco_shift_problem probe = {.n_zones = 1, .n_slots = 1, .zones = s.zones, .first_frac = 1};
  int64_t per_hour = eco_shift_free(&probe, 0, 1 - 1);
  int64_t n_req = (int64_t)llround(cfg->job_hours * (double)per_hour);
  if (n_req < 1) n_req = 1;
  uint64_t seed = cfg->seed;
  double first = (double)cfg->warmup_h;
  for (size_t i = 0; i < cfg->n_jobs; i++)
    arr[i] = first + (double)(splitmix(&seed) >> 11) * 0x1.0p-53 * (last - first);
  qsort(arr, cfg->n_jobs, sizeof *arr, cmp_double);
  for (size_t i = 0; i < cfg->n_jobs; i++) {
    jobs[i].arrival_h = arr[i];
    jobs[i].deadline_h = arr[i] + dl_h;
    jobs[i].home = i % n_zones;
  }
  size_t next = 0, active_from = 0;
  for (size_t h = cfg->warmup_h; h < n; h++) {
    if (cfg->replan)
      for (size_t i = active_from; i < next; i++) {
        if (!jobs[i].active || jobs[i].slot0 >= h) continue;
        rc = replan(&s, &jobs[i], h, err);
        if (rc) goto done;
      }
    while (active_from < next && !jobs[active_from].active)
      active_from++;
    while (next < cfg->n_jobs && jobs[next].arrival_h < (double)h + 1) {
      rc = admit(&s, &jobs[next], n_req, err);
      if (rc) goto done;
      next++;
    }
    if (next == cfg->n_jobs && active_from == next) break;
  }
  for (size_t i = 0; i < cfg->n_jobs; i++)
    if (jobs[i].active) {
      account(&s, &jobs[i], &jobs[i].plan, 0, SIZE_MAX);
      jobs[i].active = false;
    }
  if (out->requests > 0) {
    double r = (double)out->requests;
    out->saving_pct = out->run_now_g > 0 ? 100.0 * (1.0 - out->shifted_g / out->run_now_g) : 0;
    out->mean_delay_h = (s.start_sum_shift - s.start_sum_now) / r;
    out->mean_now_ci = s.ci_sum_now / r;
    out->mean_shift_ci = s.ci_sum_shift / r;
    out->moved_pct = 100.0 * s.moved / r;
  }
  rc = 0;
done:
  for (size_t i = 0; jobs && i < cfg->n_jobs; i++)
    eco_shift_plan_free(&jobs[i].plan);
  free(jobs);
  free(arr);
  free(s.zones);
  free(s.used_shift);
  free(s.used_now);
  free(s.tmp_used);
  free(s.fc);
  return rc;
}

int eco_sim_shift_run(const double *ci, size_t n, const eco_sim_shift_cfg *cfg,
                      eco_sim_shift_result *out, eco_error *err) {
  const double *one[1] = {ci};
  if (!ci) return eco_error_set(err, ECO_EINVAL, "sim shift: NULL argument");
  return eco_sim_shift_run_zones(one, 1, n, cfg, out, err);
}
