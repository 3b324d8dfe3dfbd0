/* ecoinfer: simulation of carbon-aware time shifting over an intensity trace.
 *
 * n_jobs deferrable jobs arrive at seeded-random times over an hourly
 * trace of one zone. Each job is a batch of requests that fills job_hours
 * hours of the node's batch capacity, and must finish within deadline_s of
 * its arrival. Every job is planned by the production planner
 * (policy/shift.h) against a forecast (carbon/forecast.h) made at its
 * arrival, through a capacity ledger shared by all jobs; with replan set
 * the plan is redone at every hour boundary with the forecast of that
 * hour. The carbon actually spent is then evaluated on the true trace and
 * compared with run-now (every job starts at arrival, same capacities).
 * Pure: no clock, no I/O; the caller loads the trace. */
#ifndef ECO_SIM_SHIFT_REPLAY_H
#define ECO_SIM_SHIFT_REPLAY_H

#include "carbon/forecast.h"
#include "carbon/sci.h"
#include "util/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct eco_sim_shift_cfg {
  size_t n_jobs;            /* jobs over the trace */
  double deadline_s;        /* completion window of every job, s */
  eco_forecast_cfg fc;      /* forecast used for planning */
  bool replan;              /* redo plans every hour with the newest forecast */
  double keep_margin;       /* replan hysteresis, 0..1 (policy/shift.h) */
  double job_hours;         /* job size in hours of the node's free capacity */
  double request_j;         /* IT energy of one request, J */
  double request_s;         /* node time of one request, s (embodied share) */
  double pue;               /* >= 1 */
  eco_embodied embodied;    /* the node's embodied carbon */
  int64_t capacity;         /* requests per hour the node runs */
  double interactive_share; /* capacity share reserved for interactive traffic */
  uint64_t seed;            /* arrival times */
  size_t warmup_h;          /* first hours kept as forecast history, no arrivals */
} eco_sim_shift_cfg;

/* Defaults: 365 jobs, 24 h, seasonal-naive, replan, 1 h jobs, 1000 J and
 * 2 s per request, PUE 1.2, the Sprout device (26356.568 g over 5 y),
 * 100 requests/h, 30 % interactive reserve, seed 1, 7 days warm-up. */
void eco_sim_shift_defaults(eco_sim_shift_cfg *c);

typedef struct eco_sim_shift_result {
  size_t jobs;          /* jobs simulated */
  size_t refused;       /* jobs the admission check refused (counted in neither total) */
  int64_t requests;     /* requests run */
  double run_now_g;     /* actual gCO2e of run-now */
  double shifted_g;     /* actual gCO2e of the shifted plans */
  double predicted_g;   /* gCO2e the first plans predicted */
  double saving_pct;    /* 100 * (1 - shifted / run_now) */
  double mean_delay_h;  /* mean start delay of a request vs run-now, h */
  double mean_now_ci;   /* request-weighted intensity of run-now, gCO2e/kWh */
  double mean_shift_ci; /* ... of the shifted plans, gCO2e/kWh */
  size_t late;          /* requests that ran after their deadline (must be 0) */
  double moved_pct;     /* share of requests run outside the job's home zone, % */
} eco_sim_shift_result;

/* ci: hourly intensity, gCO2e/kWh, ci[0] the first hour. */
int eco_sim_shift_run(const double *ci, size_t n, const eco_sim_shift_cfg *cfg,
                      eco_sim_shift_result *out, eco_error *err);

/* Spatial and temporal shifting together: ci[z] are n_zones aligned hourly
 * series (same start, n hours each), one node per zone as in cfg. Job i
 * is submitted in zone i % n_zones; run-now runs it there at arrival, the
 * planner may use any zone and hour before the deadline. */
int eco_sim_shift_run_zones(const double *const *ci, size_t n_zones, size_t n,
                            const eco_sim_shift_cfg *cfg, eco_sim_shift_result *out,
                            eco_error *err);

#endif
