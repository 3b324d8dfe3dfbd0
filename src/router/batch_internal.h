/* ecoinfer router: the Batch API's shared state and the functions its files
 * call across one another. Private to the batch_*.c files; see batch_api.h
 * for the public interface and docs/time-shifting.md section 5.
 *
 *   batch_api.c       life cycle: providers, nodes, zones, threads
 *   batch_http.c      the HTTP handlers (event loop thread)
 *   batch_plan.c      planning and replanning over zone forecasts
 *   batch_dispatch.c  the dispatcher and maintenance threads
 *   batch_submit.c    batches the router submits itself (the quality loop) */
#ifndef ECO_ROUTER_BATCH_INTERNAL_H
#define ECO_ROUTER_BATCH_INTERNAL_H

#include "router/batch_api.h"

#include "carbon/intensity.h"
#include "router/batchq.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MOD          "batch"
#define ZMAX         32
#define MAX_ATTEMPTS 3
#define DOWN_S       5.0 /* s a node is skipped after a connection failure */

typedef struct bnode {
  char url[256];
  char auth[300]; /* "Authorization: Bearer KEY" for the node's upstream key, "" = none */
  char zone[32];
  uint32_t limit;      /* batch requests at once */
  uint32_t max_batch;  /* the node's concurrent sequences */
  bool ecoinfer;       /* an ecoinfer node: a directive level goes in the header */
  uint32_t active;     /* batch requests in flight (under mu) */
  int64_t interactive; /* interactive requests in flight, from the gateway (under mu) */
  double down_until_s; /* monotonic s: skipped after a connection failure (under mu) */
} bnode;

typedef struct zinfo {
  char name[32];
  double energy_j;    /* J per request, configured (router.batch_api.energy_j) */
  double learned_j;   /* J per request, EWMA of the receipts of this zone's batch results (mu) */
  uint64_t n_learned; /* receipts behind learned_j (under mu) */
  double embodied_g;  /* gCO2e per request */
  int64_t capacity;   /* requests per slot */
} zinfo;

typedef struct worker {
  eco_batch_api *b;
  int idx;
  pthread_t th;
  bool started;
} worker;

struct eco_batch_api {
  eco_router_batch_cfg cfg;
  double pue;
  eco_logger log;
  eco_batchq *q; /* event-loop thread's handle */
  bnode *nodes;
  size_t n_nodes;
  zinfo zones[ZMAX];
  size_t n_zones;
  eco_intensity_provider *prov;     /* history forecast wrapper (under prov_mu) */
  eco_intensity_provider *inner;    /* the wrapped provider (owned by prov, or the caller's) */
  bool prefer_inner;                /* inner has a forecast endpoint: use it first */
  eco_intensity_provider *fallback; /* static table, for zones the source lacks */
  double t0_wall, t0_trace, speed;  /* trace time = t0_trace + (wall - t0_wall) * speed, s */
  pthread_mutex_t prov_mu;
  pthread_mutex_t mu; /* nodes[].active, stop */
  pthread_cond_t cv;
  bool stop;
  worker *workers;
  int n_workers;
  worker maint;
  struct eco_ledger *ledger; /* the router's (cfg.ledger), NULL = none */
  eco_rdir_cfg dir;          /* directive levels, for bodies with ECO_BATCH_BODY_LEVEL */
  eco_batch_row_fn observer; /* set before the workers claim work */
  void *observer_user;
};

/* ---- planning (batch_plan.c) */
void bapi_zone_forecast(eco_batch_api *b, const char *zone, double slot0, size_t n, double *out);
int bapi_plan(eco_batch_api *b, eco_batchq *q, const char *self, int64_t n, double now,
              double deadline_s, eco_batchq_assign **assign, double *planned_g, double *run_now_g,
              eco_error *err);
void bapi_replan_all(eco_batch_api *b, eco_batchq *q);

/* ---- dispatcher and maintenance threads (batch_dispatch.c) */
double bapi_zone_energy(eco_batch_api *b, size_t z);
void *bapi_worker_main(void *arg);
void *bapi_maint_main(void *arg);

#endif
