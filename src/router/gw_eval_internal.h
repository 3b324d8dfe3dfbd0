/* ecoinfer router: the quality loop (directive.eval, directive/evalsched.h):
 * what gw_eval.c (the event loop's side: sampling, admin, metrics, the
 * model swap) and gw_eval_work.c (the worker thread: batches, the judge,
 * the verdict store, refits) share. Private to src/router.
 *
 * A sampled request becomes a job: its prompt, its body and the answers
 * known so far (the live answer when the client did not stream). The loop
 * thread appends jobs to the inbox (bounded: max_pending jobs in the inbox
 * or in flight; more are dropped and counted). The worker submits each
 * job's missing levels as one Batch API batch (metadata ecoinfer_kind:
 * eval, so the dispatcher puts it on the ledger as evaluation overhead and
 * the planner runs it at clean hours), waits for it, judges the answers
 * pairwise (eco_eval_judge_pairwise: blocking HTTP, on this thread only),
 * stores the verdict and its training line, and refits the model when due;
 * the refitted model goes back to the loop through `ready` and the swap
 * event. Counters and the rates snapshot are under mu.
 *
 * The judge's own ledger rows are priced at the judge zone's intensity when
 * its call ended: the loop copies the router's current value for that zone
 * into judge_ci at every zone refresh (gw_eval_publish_ci, under mu); the
 * worker reads the copy and never the providers or the zone table. */
#ifndef ECO_ROUTER_GW_EVAL_INTERNAL_H
#define ECO_ROUTER_GW_EVAL_INTERNAL_H

#include "router/gw_internal.h"

#include "directive/evalsched.h"
#include "directive/verdicts.h"
#include "router/batchq.h"

#include <pthread.h>
#include <sqlite3.h>

typedef struct ejob {
  struct ejob *next;
  int64_t id;                                /* its row in eval_jobs, 0 = not stored yet */
  bool dirty;                                /* changed since it was stored */
  char *prompt;                              /* the instruction the judge sees */
  char *body;                                /* the client's body, compact JSON */
  char model[ECO_DLEARN_NAME_MAX];           /* the request's "model" */
  char group[ECO_DSERVE_GROUP_MAX];          /* its group */
  int served;                                /* the level it was served at */
  char *answer[ECO_DIRECTIVE_MAX_LEVELS];    /* known answers, NULL = to generate */
  double energy_j[ECO_DIRECTIVE_MAX_LEVELS]; /* J per level's answer, < 0 unknown */
  double time_s[ECO_DIRECTIVE_MAX_LEVELS];   /* s per level's answer, < 0 unknown */
  double gco2_kwh;                  /* the live answer's intensity, gCO2e/kWh, < 0 unknown */
  char ci_source[64];               /* where it came from */
  char batch_id[ECO_BATCHQ_ID_MAX]; /* "" = not submitted yet */
  bool answered;                    /* every level's answer is in */
  uint32_t attempts;                /* judge attempts made */
  double next_s;                    /* wall s before which it waits (retries) */
} ejob;

/* Counters (under mu). */
typedef struct eval_counts {
  uint64_t sampled;      /* requests sampled and queued */
  uint64_t dropped;      /* sampled while max_pending were waiting */
  uint64_t submitted;    /* batches submitted */
  uint64_t judged;       /* verdicts stored */
  uint64_t decided;      /* of those, with a preferred level */
  uint64_t failed;       /* samples given up (generation, batch, judge, store) */
  uint64_t judge_errors; /* judge attempts with no usable reply */
  uint64_t refits;       /* models refitted and handed to the loop */
  uint64_t refit_errors; /* refits that failed (prior unreadable, write error) */
  uint64_t swaps;        /* refitted models swapped in by the loop */
  uint64_t pending;      /* jobs in the inbox or in flight */
  double judge_energy_j; /* J the judge reported or was estimated to spend */
} eval_counts;

typedef struct gw_eval {
  eco_evalsched_cfg cfg;
  eco_directive_cfg dcfg;    /* the levels */
  char model_path[512];      /* directive.model: the prior of every refit */
  eco_batch_api *batch;      /* the router's Batch API (thread-safe submit) */
  eco_dash *dash;            /* the router's dashboard (thread-safe) */
  struct eco_ledger *ledger; /* the router's ledger (thread-safe), NULL = none */
  eco_logger log;
  pthread_t th;
  bool started;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool stop;                 /* under mu */
  ejob *inbox, *inbox_tail;  /* under mu */
  eval_counts n;             /* under mu */
  double last_refit_s;       /* wall s of the last refit, 0 = none (under mu) */
  char last_error[256];      /* under mu */
  json_t *rates;             /* {group: {verdicts, pref: [...]}} (under mu) */
  eco_dmodel *ready;         /* a refitted model for the loop (under mu) */
  char judge_zone[32];       /* the judge's zone (set before the worker starts) */
  bool zone_assumed;         /* judge.zone not given: the directive plan's zone */
  eco_evalsched_ci judge_ci; /* the router's current value for judge_zone (under mu) */
  struct event *swap_ev;     /* activated by the worker when ready is set */
  uint64_t rng;              /* sampling draws (loop thread) */
} gw_eval;

/* The jobs in flight in SQLite (gw_eval_jobs.c; worker thread only): put
 * inserts (id 0) or updates a job, del removes it, load appends every
 * stored job to *list. */
int gw_eval_jobs_open(const char *path, sqlite3 **out, eco_error *err);
int gw_eval_jobs_put(sqlite3 *db, ejob *j, size_t n_levels, eco_error *err);
int gw_eval_jobs_del(sqlite3 *db, int64_t id, eco_error *err);
int gw_eval_jobs_load(sqlite3 *db, size_t n_levels, ejob **list, size_t *n, eco_error *err);

/* The worker thread (gw_eval_work.c). */
void *gw_eval_main(void *arg);
/* A job's memory. */
void gw_eval_job_free(ejob *j);
/* Sets the dashboard's line (takes mu). */
void gw_eval_dash_update(gw_eval *e);
/* True once the router is stopping (the judge's transfers stop early). */
bool gw_eval_stopping(void *arg);
/* The dashboard's one-line status of the loop (under mu). */
void gw_eval_status_line(const gw_eval *e, char *buf, size_t cap);

#endif
