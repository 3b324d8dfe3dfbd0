/* ecoinfer: carbon-aware time (and place) shifting of deferrable work.
 *
 * A batch of n identical-cost requests is planned over time slots (slot 0
 * = the slot that contains "now") and zones (each zone = one node class
 * with its own energy per request and capacity). The predicted carbon of
 * running one request in zone z during slot s is
 *
 *   cost[z][s] = E_z / 3.6e6 * PUE_z * I_z[s] + M_z            (gCO2e)
 *
 * with I the forecast intensity (gCO2e/kWh), E_z the node's IT energy per
 * request (J) and M_z its embodied carbon per request (g). The planner
 * minimises the sum of cost over the batch subject to
 *   - the deadline: only slots that END at or before it are used, so a
 *     request planned in slot s (and any request takes at most one slot)
 *     finishes in time;
 *   - capacity: per zone and slot, floor(capacity * (1 - interactive
 *     share)) requests minus what other batches already hold;
 *   - slot 0 is only partly left: its capacity is scaled by first_frac.
 * Because all requests of a batch cost the same per cell, filling the
 * cheapest cells first is optimal (a one-source transportation problem).
 * Ties go to the earlier slot, then the lower zone index: deterministic.
 *
 * Admission: when the free capacity before the deadline is smaller than n
 * the batch is refused (ECO_ERANGE, message says how much fits).
 * Replanning keeps what already ran or is running and re-plans the rest
 * with the new forecast; since the old plan's own cells are still free
 * for it, a replan of an admitted batch is always feasible under the same
 * capacities, so an accepted deadline is never missed.
 *
 * Pure functions: no clock, no I/O, no globals. */
#ifndef ECO_POLICY_SHIFT_H
#define ECO_POLICY_SHIFT_H

#include "util/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct eco_shift_zone {
  char name[32];            /* zone / node label, e.g. "DE-LU" */
  double energy_j;          /* IT energy of one request on this node, J */
  double pue;               /* facility multiplier, >= 1 */
  double embodied_g;        /* embodied carbon of one request, gCO2e */
  int64_t capacity;         /* requests the node can run per slot */
  double interactive_share; /* share of capacity reserved for interactive traffic, 0..1 */
} eco_shift_zone;

typedef struct eco_shift_problem {
  size_t n_zones, n_slots;     /* intensity and used are [n_zones][n_slots], row-major */
  const eco_shift_zone *zones; /* [n_zones] */
  const double *intensity;     /* forecast, gCO2e/kWh; slot 0 = current slot */
  const int64_t *used;         /* requests other batches hold per cell, or NULL */
  size_t deadline_slots;       /* slots 0 .. deadline_slots-1 end by the deadline */
  double first_frac;           /* share of slot 0 still ahead, (0, 1] */
  int64_t n_requests;          /* requests to place */
  double keep_margin;          /* replans only: cells of the current plan rank as if this
                                  share (0..1) cheaper, so work moves only for a clear gain */
} eco_shift_problem;

typedef struct eco_shift_cell {
  uint32_t slot; /* slot index, 0 = current */
  uint32_t zone; /* zone index */
  int64_t count; /* requests planned in this cell */
  double cost_g; /* predicted gCO2e per request in this cell */
} eco_shift_cell;

typedef struct eco_shift_plan {
  eco_shift_cell *cells; /* sorted by slot, then zone; count > 0 each */
  size_t n_cells;
  int64_t n_requests; /* sum of counts */
  double predicted_g; /* sum of count * cost_g, gCO2e */
  double run_now_g;   /* predicted gCO2e of the run-now schedule, same capacities */
} eco_shift_plan;

/* Cost in gCO2e of one request in zone z at intensity (gCO2e/kWh). */
double eco_shift_request_g(const eco_shift_zone *z, double intensity);

/* Slots between a slot grid and a deadline: *deadline_slots = number of
 * whole slots from the one holding now that end at or before deadline_s;
 * *first_frac = share of the current slot still ahead. Times in s. */
int eco_shift_window(double slot0_start_s, double slot_s, double now_s, double deadline_s,
                     size_t *deadline_slots, double *first_frac, eco_error *err);

/* Free capacity of cell (z, s) under p. */
int64_t eco_shift_free(const eco_shift_problem *p, size_t z, size_t s);

/* Plans p->n_requests; ECO_ERANGE with a clear message when they do not fit
 * before the deadline. On success *out owns cells (eco_shift_plan_free). */
int eco_shift_plan_make(const eco_shift_problem *p, eco_shift_plan *out, eco_error *err);

/* The run-now schedule: earliest slots first, within a slot the cheapest
 * zone; the baseline "carbon_run_now_g". Same errors as plan_make. */
int eco_shift_plan_run_now(const eco_shift_problem *p, eco_shift_plan *out, eco_error *err);

/* Replans a batch when the forecast changes. cur was made on a slot grid
 * whose slot elapsed_slots is the slot holding now; p is the new problem on
 * the new grid (slot 0 holds now, new forecast, same deadline) with
 * p->used NOT including cur's own requests. cur's requests in slots before
 * elapsed_slots are done and kept; so are those in the current slot when
 * current_started (they are running and keep their capacity there).
 * *kept receives their number. The other cur->n_requests - *kept requests
 * are planned anew into *out (p->n_requests is ignored). With
 * p->keep_margin > 0, the cells that held cur's open requests are ranked
 * as if keep_margin cheaper (hysteresis): against a forecast whose error
 * is large, a replan then moves work only for a gain larger than that
 * margin, instead of chasing forecast noise toward the deadline. */
int eco_shift_replan(const eco_shift_plan *cur, size_t elapsed_slots, bool current_started,
                     const eco_shift_problem *p, eco_shift_plan *out, int64_t *kept,
                     eco_error *err);

/* Adds plan's counts into used[n_zones][n_slots] (a capacity ledger). */
void eco_shift_reserve(const eco_shift_plan *plan, int64_t *used, size_t n_zones, size_t n_slots);

void eco_shift_plan_free(eco_shift_plan *plan);

#endif
