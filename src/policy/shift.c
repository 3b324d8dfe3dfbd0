/* ecoinfer: the time/zone shifting planner (pure). See shift.h. */
#include "policy/shift.h"

#include "carbon/sci.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double eco_shift_request_g(const eco_shift_zone *z, double intensity) {
  double pue = z->pue >= 1.0 ? z->pue : 1.0;
  return z->energy_j / ECO_J_PER_KWH * pue * intensity + z->embodied_g;
}

int eco_shift_window(double slot0_start_s, double slot_s, double now_s, double deadline_s,
                     size_t *deadline_slots, double *first_frac, eco_error *err) {
  if (!(slot_s > 0) || !isfinite(slot0_start_s) || !isfinite(now_s) || !isfinite(deadline_s) ||
      now_s < slot0_start_s || now_s >= slot0_start_s + slot_s)
    return eco_error_set(err, ECO_EINVAL, "shift: now must lie in slot 0 of the grid");
  double left = slot0_start_s + slot_s - now_s;
  *first_frac = left / slot_s;
  if (deadline_s < slot0_start_s + slot_s) {
    *deadline_slots = 0;
    return 0;
  }
  *deadline_slots = (size_t)floor((deadline_s - slot0_start_s) / slot_s + 1e-9);
  return 0;
}

int64_t eco_shift_free(const eco_shift_problem *p, size_t z, size_t s) {
  const eco_shift_zone *zn = &p->zones[z];
  double share = zn->interactive_share;
  if (!(share >= 0)) share = 0;
  if (share > 1) share = 1;
  double cap = floor((double)zn->capacity * (1.0 - share) + 1e-9);
  if (s == 0) cap = floor(cap * p->first_frac + 1e-9);
  int64_t c = (int64_t)cap;
  if (p->used) c -= p->used[z * p->n_slots + s];
  return c > 0 ? c : 0;
}

static int check(const eco_shift_problem *p, eco_error *err) {
  if (!p || !p->zones || !p->intensity || p->n_zones == 0 || p->n_slots == 0)
    return eco_error_set(err, ECO_EINVAL, "shift: empty problem");
  if (p->n_requests < 0) return eco_error_set(err, ECO_EINVAL, "shift: negative request count");
  if (!(p->first_frac > 0) || p->first_frac > 1)
    return eco_error_set(err, ECO_EINVAL, "shift: first_frac %g not in (0, 1]", p->first_frac);
  if (p->deadline_slots > p->n_slots)
    return eco_error_set(err, ECO_ERANGE,
                         "shift: the forecast covers %zu slots but the deadline needs %zu",
                         p->n_slots, p->deadline_slots);
  for (size_t z = 0; z < p->n_zones; z++) {
    const eco_shift_zone *zn = &p->zones[z];
    if (!(zn->energy_j >= 0) || !(zn->embodied_g >= 0) || zn->capacity < 0 ||
        !isfinite(zn->energy_j) || !isfinite(zn->embodied_g))
      return eco_error_set(err, ECO_EINVAL, "shift: zone %zu has a bad energy or capacity", z);
    for (size_t s = 0; s < p->deadline_slots; s++)
      if (!(p->intensity[z * p->n_slots + s] >= 0) || !isfinite(p->intensity[z * p->n_slots + s]))
        return eco_error_set(err, ECO_EINVAL, "shift: bad intensity at zone %zu slot %zu", z, s);
  }
  return 0;
}

typedef struct cand {
  uint32_t slot, zone;
  int64_t free;
  double cost; /* predicted g per request */
  double key;  /* ranking cost: cost, less the keep margin on sticky cells */
} cand;

static int by_cost(const void *a, const void *b) {
  const cand *x = a, *y = b;
  if (x->key != y->key) return x->key < y->key ? -1 : 1;
  if (x->slot != y->slot) return x->slot < y->slot ? -1 : 1;
  return (x->zone > y->zone) - (x->zone < y->zone);
}

static int by_time(const void *a, const void *b) {
  const cand *x = a, *y = b;
  if (x->slot != y->slot) return x->slot < y->slot ? -1 : 1;
  if (x->cost != y->cost) return x->cost < y->cost ? -1 : 1;
  return (x->zone > y->zone) - (x->zone < y->zone);
}

static int by_cell(const void *a, const void *b) {
  const eco_shift_cell *x = a, *y = b;
  if (x->slot != y->slot) return x->slot < y->slot ? -1 : 1;
  return (x->zone > y->zone) - (x->zone < y->zone);
}

/* Fills the candidates in the given order; no error checking of p.
 * sticky (may be NULL) marks cells [z * n_slots + s] ranked keep_margin
 * cheaper. */
static int fill(const eco_shift_problem *p, int (*order)(const void *, const void *),
                const unsigned char *sticky, eco_shift_plan *out, eco_error *err) {
  memset(out, 0, sizeof *out);
  size_t n = p->n_zones * p->deadline_slots;
  cand *c = n ? malloc(n * sizeof *c) : NULL;
  if (n && !c) return eco_error_set(err, ECO_ENOMEM, "shift: out of memory");
  size_t k = 0;
  int64_t total = 0;
  for (size_t z = 0; c && z < p->n_zones; z++)
    for (size_t s = 0; s < p->deadline_slots; s++) {
      int64_t f = eco_shift_free(p, z, s);
      if (f <= 0) continue;
      c[k].slot = (uint32_t)s;
      c[k].zone = (uint32_t)z;
      c[k].free = f;
      c[k].cost = eco_shift_request_g(&p->zones[z], p->intensity[z * p->n_slots + s]);
      c[k].key = c[k].cost;
      if (sticky && sticky[z * p->n_slots + s] && p->keep_margin > 0 && p->keep_margin < 1)
        c[k].key = c[k].cost * (1.0 - p->keep_margin);
      total += f;
      k++;
    }
  if (total < p->n_requests) {
    free(c);
    return eco_error_set(err, ECO_ERANGE,
                         "cannot meet the deadline: %lld requests need %lld request-slots "
                         "before it, only %lld are free in %zu slot(s); choose a longer "
                         "completion_window or a smaller batch",
                         (long long)p->n_requests, (long long)p->n_requests, (long long)total,
                         p->deadline_slots);
  }
  if (k) qsort(c, k, sizeof *c, order);
  size_t used_cells = 0;
  int64_t left = p->n_requests;
  for (size_t i = 0; i < k && left > 0; i++, used_cells++) {
    int64_t take = c[i].free < left ? c[i].free : left;
    c[i].free = take;
    left -= take;
  }
  out->cells = used_cells ? malloc(used_cells * sizeof *out->cells) : NULL;
  if (used_cells && !out->cells) {
    free(c);
    return eco_error_set(err, ECO_ENOMEM, "shift: out of memory");
  }
  for (size_t i = 0; i < used_cells; i++) {
    out->cells[i] = (eco_shift_cell){
        .slot = c[i].slot, .zone = c[i].zone, .count = c[i].free, .cost_g = c[i].cost};
    out->predicted_g += (double)c[i].free * c[i].cost;
  }
  out->n_cells = used_cells;
  out->n_requests = p->n_requests;
  if (used_cells) qsort(out->cells, used_cells, sizeof *out->cells, by_cell);
  free(c);
  return 0;
}

int eco_shift_plan_run_now(const eco_shift_problem *p, eco_shift_plan *out, eco_error *err) {
  if (!out) return eco_error_set(err, ECO_EINVAL, "shift: NULL plan");
  memset(out, 0, sizeof *out);
  int rc = check(p, err);
  if (rc) return rc;
  rc = fill(p, by_time, NULL, out, err);
  if (rc == 0) out->run_now_g = out->predicted_g;
  return rc;
}

static int plan_make(const eco_shift_problem *p, const unsigned char *sticky, eco_shift_plan *out,
                     eco_error *err) {
  if (!out) return eco_error_set(err, ECO_EINVAL, "shift: NULL plan");
  memset(out, 0, sizeof *out);
  int rc = check(p, err);
  if (rc) return rc;
  eco_shift_plan now;
  rc = fill(p, by_time, NULL, &now, err);
  if (rc) return rc;
  rc = fill(p, by_cost, sticky, out, err);
  if (rc == 0) out->run_now_g = now.predicted_g;
  eco_shift_plan_free(&now);
  return rc;
}

int eco_shift_plan_make(const eco_shift_problem *p, eco_shift_plan *out, eco_error *err) {
  return plan_make(p, NULL, out, err);
}

int eco_shift_replan(const eco_shift_plan *cur, size_t elapsed_slots, bool current_started,
                     const eco_shift_problem *p, eco_shift_plan *out, int64_t *kept,
                     eco_error *err) {
  if (!cur || !p || !out || !kept) return eco_error_set(err, ECO_EINVAL, "shift: NULL argument");
  memset(out, 0, sizeof *out);
  *kept = 0;
  for (size_t i = 0; i < cur->n_cells; i++)
    if (cur->cells[i].slot < elapsed_slots ||
        (current_started && cur->cells[i].slot == elapsed_slots))
      *kept += cur->cells[i].count;
  eco_shift_problem q = *p;
  q.n_requests = cur->n_requests - *kept;
  int64_t *used = NULL;
  unsigned char *sticky = NULL;
  if (p->n_zones && p->n_slots) {
    used = calloc(p->n_zones * p->n_slots, sizeof *used);
    sticky = calloc(p->n_zones * p->n_slots, 1);
    if (!used || !sticky) {
      free(used);
      free(sticky);
      return eco_error_set(err, ECO_ENOMEM, "shift: out of memory");
    }
    for (size_t i = 0; i < cur->n_cells; i++) {
      const eco_shift_cell *c = &cur->cells[i];
      if (c->slot < elapsed_slots || c->zone >= p->n_zones) continue;
      size_t s = c->slot - elapsed_slots;
      if (s < p->n_slots) sticky[c->zone * p->n_slots + s] = 1;
    }
    if (p->used) memcpy(used, p->used, p->n_zones * p->n_slots * sizeof *used);
    /* what runs in the current slot keeps its capacity there */
    for (size_t i = 0; i < cur->n_cells; i++)
      if (current_started && cur->cells[i].slot == elapsed_slots && cur->cells[i].zone < p->n_zones)
        used[cur->cells[i].zone * p->n_slots] += cur->cells[i].count;
    q.used = used;
  }
  int rc = plan_make(&q, sticky, out, err);
  free(used);
  free(sticky);
  return rc;
}

void eco_shift_reserve(const eco_shift_plan *plan, int64_t *used, size_t n_zones, size_t n_slots) {
  for (size_t i = 0; i < plan->n_cells; i++) {
    const eco_shift_cell *c = &plan->cells[i];
    if (c->zone < n_zones && c->slot < n_slots) used[c->zone * n_slots + c->slot] += c->count;
  }
}

void eco_shift_plan_free(eco_shift_plan *plan) {
  if (!plan) return;
  free(plan->cells);
  memset(plan, 0, sizeof *plan);
}
