/* ecoinfer replay: internal to src/cli (cmd_replay.c, replay_cluster.c,
 * replay_drive.c). See docs/replay.md.
 *
 * Two arms run side by side on one compressed clock: the policy arm (a
 * router with generation directives in front of its replay nodes) and the
 * baseline arm (a router with policy greedy and no directives in front of
 * its own replay nodes). Both are real processes of this binary (`serve
 * --replay`, `route`) spoken to over HTTP; every node and router reads the
 * same trace through the same replay mapping (carbon.trace.origin/start/
 * speed), so trace hour h is wall interval [origin + h*hour_s, origin +
 * (h+1)*hour_s). Each arm's carbon is read back from its nodes' ledgers. */
#ifndef ECO_CLI_REPLAY_H
#define ECO_CLI_REPLAY_H

#include "directive/plan.h"
#include "util/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ECO_RP_MAX_NODES 8
#define ECO_RP_LEVELS    3

/* One request of the replay: a held-out labelled prompt. */
typedef struct eco_rp_req {
  const char *text; /* the prompt (owned by the Sprout data) */
  int label;        /* judge's preferred level */
  int dataset;      /* index of the dataset */
} eco_rp_req;

typedef struct eco_rp_setup {
  const char *exe;          /* this binary */
  const char *work;         /* directory for configs, logs and ledgers */
  const char *data_dir;     /* the Sprout artifact */
  const char *trace;        /* Electricity Maps CSV */
  const char *zone;         /* its zone id */
  const char *policy;       /* "ours-live" (directive.plan: live) or "lp" (plan: lp) */
  const char *dmodel;       /* ours-live: the directive model trained without the held-out fold */
  const char *route_policy; /* routing policy of the policy arm (greedy) */
  int nodes;                /* per arm */
  int clients;              /* client threads per arm (requests of an hour in parallel) */
  double hour_s;            /* wall seconds per trace hour */
  double origin_s;          /* wall epoch s at which trace hour 0 begins */
  double trace_start_s;     /* trace epoch s of hour 0 */
  double ci_min, ci_max;    /* gCO2/kWh: the year's extremes (the floor's range) */
  double xi;
  double embodied_g, life_years;        /* device embodied carbon, g, years */
  eco_level_stats stats[ECO_RP_LEVELS]; /* lp: what the router is told per level */
  double time_scale;                    /* replay backend: wall s per recorded s */
} eco_rp_setup;

/* One arm: its processes and what the replay measured. */
typedef struct eco_rp_arm {
  char name[16]; /* "policy" | "baseline" */
  bool directives;
  char dir[512];
  int n_nodes;
  pid_t node_pid[ECO_RP_MAX_NODES], router_pid;
  int node_port[ECO_RP_MAX_NODES], router_port, admin_port;
  char ledger[ECO_RP_MAX_NODES][640];
  char router_ledger[640]; /* the router's own rows (routing facts, counterfactuals) */
  /* results */
  size_t sent, ok, failed, late, ci_mismatch, quality_hits;
  size_t level_n[ECO_RP_LEVELS];
  double resp_g;   /* sum of usage.carbon.total_g in the answers, g */
  double ledger_g; /* sum of total_g over the nodes' ledgers, g */
  double ledger_energy_j;
  int64_t ledger_rows;
  /* the router's ledger: its rows, their carbon, and what it claims the
   * directive lever saved against its counterfactual (greedy, no directive) */
  int64_t router_rows;
  double router_actual_g, router_baseline_g, router_directive_g;
  char first_error[256];
} eco_rp_arm;

/* Writes the arm's node configs and starts its nodes. */
int eco_rp_arm_spawn_nodes(const eco_rp_setup *s, eco_rp_arm *a, eco_error *err);
/* Waits until the nodes listen, then writes the router's config and starts
 * it; waits until it listens (deadline: wall epoch s). */
int eco_rp_arm_start_router(const eco_rp_setup *s, eco_rp_arm *a, double deadline_s,
                            eco_error *err);
/* Waits until the router reports every node up (GET /admin/nodes), or fails at deadline_s. */
int eco_rp_arm_wait_ready(eco_rp_arm *a, double deadline_s, eco_error *err);
/* SIGTERM, then SIGKILL after a grace period; reaps every process. */
void eco_rp_arm_stop(eco_rp_arm *a);
/* Sums the nodes' ledgers into the arm's ledger_* fields and the router's
 * into router_*. */
int eco_rp_arm_read_ledgers(eco_rp_arm *a, eco_error *err);

/* Drives both arms through hours [0, H): req[h * per_hour + j], n_req[h]
 * requests in hour h; ci[h] the intensity each answer must carry.
 * s->clients threads per arm. */
int eco_rp_drive(const eco_rp_setup *s, eco_rp_arm *arms, size_t n_arms, const eco_rp_req *req,
                 const size_t *n_req, size_t per_hour, size_t H, const double *ci, eco_error *err);

#endif
