/* ecoinfer: the durable ledger of per-request carbon receipts (SQLite, WAL).
 *
 * Every request's eco_receipt is appended with its context (request id,
 * time, node, zone, model, tokens, latency, directive level, policy). One
 * append is one transaction: after eco_ledger_append returns 0 the row is
 * committed (acknowledged). A crash or kill -9 may lose appends that had
 * not returned, never corrupts the file and never leaves a partial row.
 * With synchronous=normal (default) a power loss may also drop the last
 * few acknowledged rows; synchronous=full makes each append durable
 * against power loss too, at an fsync per append.
 *
 * Several processes may share one file (a router and a node): writers
 * wait up to busy_timeout_s for each other. A handle is thread-safe.
 *
 * Who writes which rows (docs/router.md, "The ledger"): a node appends one
 * row per request it served (recorder "node": its own receipt, no routing
 * facts). A router appends its own row per request it routed (recorder
 * "router"): the receipt it returned to the client (the node's, or the one
 * it built for a foreign backend) with the routing facts only it knows:
 * policy, directive level and group, its prediction, the counterfactual
 * (greedy routing, no directive, run at once) and the predicted saving of
 * each lever. The router also appends the Batch API's requests (kind
 * "batch") and the quality loop's work (kind "eval": evaluation overhead).
 * When a router and its nodes share one file, a request has two rows with
 * one request id; every aggregate counts it once, from the router's row
 * (the node's row counts only when no router row has its id). */
#ifndef ECO_CARBON_LEDGER_H
#define ECO_CARBON_LEDGER_H

#include "carbon/sci.h"
#include "util/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct eco_ledger eco_ledger;

typedef struct eco_ledger_opts {
  bool sync_full;        /* PRAGMA synchronous=FULL (else NORMAL) */
  double busy_timeout_s; /* wait for other writers, s (0: 5 s) */
  bool read_only;        /* open for reports only */
} eco_ledger_opts;

/* What a row accounts for. */
typedef enum eco_ledger_kind {
  ECO_LEDGER_REQUEST = 0, /* "request": an interactive request */
  ECO_LEDGER_BATCH = 1,   /* "batch": one request of a Batch API job, run when planned */
  ECO_LEDGER_EVAL = 2,    /* "eval": evaluation overhead of the quality loop: a regeneration
                             at another directive level or a judge call (never a saving) */
} eco_ledger_kind;
#define ECO_LEDGER_KINDS 3

/* Who wrote a row. */
typedef enum eco_ledger_recorder {
  ECO_LEDGER_BY_NODE = 0,   /* "node": the node that served the request */
  ECO_LEDGER_BY_ROUTER = 1, /* "router": the router, with the routing facts */
} eco_ledger_recorder;

const char *eco_ledger_kind_name(eco_ledger_kind k);
int eco_ledger_kind_parse(const char *s, eco_ledger_kind *out);
const char *eco_ledger_recorder_name(eco_ledger_recorder r);

/* The routing facts of a row (recorder router; zero in a node's row).
 * counterfactual_g and the savings are in the router's prediction units:
 * the row's modelled carbon is counterfactual_g minus the three savings,
 * and reports scale them by the measured receipt over that (see
 * eco_ledger_levers). A saving may be negative (a lever that cost carbon,
 * e.g. latency routing to a dirtier zone). */
typedef struct eco_ledger_facts {
  char group[32];           /* directive group (the prompt classifier's), "" = none */
  char engine[16];          /* backend kind: "ecoinfer", "llama-cpp", "vllm", "ollama", ... */
  double predicted_g;       /* the router's prediction when it decided, gCO2e (0 = none) */
  double counterfactual_g;  /* greedy routing, no directive, run at once, gCO2e (<= 0: none) */
  double saved_routing_g;   /* by the policy's choice of node against greedy's, gCO2e */
  double saved_directive_g; /* by the directive level against none, gCO2e */
  double saved_shifting_g;  /* by running a batch request when planned against at once, gCO2e */
} eco_ledger_facts;

/* One row: the receipt plus its context. */
typedef struct eco_ledger_entry {
  char request_id[64];
  double time_s;   /* completion time, Unix epoch s */
  char node[64];   /* node name or URL */
  char zone[32];   /* grid zone of the node */
  char model[128]; /* model name */
  int64_t prompt_tokens;
  int64_t output_tokens;
  double latency_s;    /* end-to-end latency, s */
  int directive_level; /* generation directive level, -1 = none */
  char policy[48];     /* routing policy name, "" = none */
  eco_receipt receipt; /* energy, intensity, grams, PUE, method */
  eco_ledger_kind kind;
  eco_ledger_recorder recorder;
  eco_ledger_facts facts; /* routing facts (router rows) */
} eco_ledger_entry;

int eco_ledger_open(const char *path, const eco_ledger_opts *opts, eco_ledger **out,
                    eco_error *err);
void eco_ledger_close(eco_ledger *l);

/* Appends one row in its own transaction. ECO_EINVAL for a missing request
 * id or non-finite numbers. */
int eco_ledger_append(eco_ledger *l, const eco_ledger_entry *e, eco_error *err);

/* Number of rows with time in [from_s, to_s) (to_s <= from_s: all rows). */
int eco_ledger_count(eco_ledger *l, double from_s, double to_s, int64_t *n, eco_error *err);

typedef enum eco_ledger_group {
  ECO_GROUP_TOTAL = 0,
  ECO_GROUP_HOUR = 1, /* key "2026-11-21T10:00Z" (UTC) */
  ECO_GROUP_DAY = 2,  /* key "2026-11-21" */
  ECO_GROUP_NODE = 3,
  ECO_GROUP_ZONE = 4,
  ECO_GROUP_MODEL = 5,
  ECO_GROUP_POLICY = 6,
  ECO_GROUP_KIND = 7,      /* "request", "batch", "eval" */
  ECO_GROUP_DIRECTIVE = 8, /* key "L<level>" ("none" for -1) */
  ECO_GROUP_GROUP = 9,     /* directive group, "" = none */
  ECO_GROUP_RECORDER = 10, /* "node", "router" */
} eco_ledger_group;

const char *eco_ledger_group_name(eco_ledger_group g);
int eco_ledger_group_parse(const char *s, eco_ledger_group *out);

/* One aggregate row. */
typedef struct eco_ledger_agg {
  char key[128];
  int64_t requests;
  int64_t prompt_tokens, output_tokens;
  double energy_j;           /* IT energy, J */
  double facility_j;         /* energy x PUE, J */
  double operational_g;      /* gCO2e */
  double embodied_g;         /* gCO2e */
  double total_g;            /* gCO2e */
  double intensity_gco2_kwh; /* energy-weighted mean intensity, gCO2e/kWh */
  double latency_s_sum;      /* s */
  int64_t estimated;         /* rows whose energy or intensity was estimated */
  double first_s, last_s;    /* time range of the rows, epoch s */
} eco_ledger_agg;

/* SCI per request and per 1000 output tokens (0 if none), gCO2e. */
double eco_ledger_agg_sci_per_request(const eco_ledger_agg *a);
double eco_ledger_agg_sci_per_1k_tokens(const eco_ledger_agg *a);

/* Aggregates rows with time in [from_s, to_s) (to_s <= from_s: all) by
 * group, ordered by key; *out is malloc'd (free()). */
int eco_ledger_aggregate(eco_ledger *l, eco_ledger_group g, double from_s, double to_s,
                         eco_ledger_agg **out, size_t *n, eco_error *err);

/* Savings by lever over the rows of kinds request and batch with a
 * counterfactual (router rows), against greedy routing with no directive
 * run at once. Each row's savings are scaled to its measured receipt:
 * k = total_g / (counterfactual_g - saved_routing_g - saved_directive_g -
 * saved_shifting_g) (k = 1 when that is not positive), so that for the
 * rows counted baseline_g = actual_g + routing_g + directive_g + shifting_g
 * exactly. Evaluation overhead (kind eval) is reported apart, and
 * net_saved_g = routing + directive + shifting - eval. */
typedef struct eco_ledger_levers {
  int64_t requests;   /* rows of kind request or batch (each request once) */
  int64_t with_facts; /* of them, rows with a counterfactual (those below) */
  double actual_g;    /* their measured carbon, gCO2e */
  double baseline_g;  /* greedy, no directive, at once, scaled as above, gCO2e */
  double routing_g, directive_g, shifting_g; /* savings by lever, gCO2e */
  double predicted_baseline_g;               /* sum of counterfactual_g, unscaled */
  double predicted_saved_g;                  /* sum of the three savings, unscaled */
  int64_t eval_rows;                         /* rows of kind eval */
  double eval_g;                             /* their carbon, gCO2e */
  double net_saved_g;                        /* levers minus evaluation overhead, gCO2e */
  int64_t by_kind[ECO_LEDGER_KINDS];         /* rows of each kind */
} eco_ledger_levers;

int eco_ledger_levers_sum(eco_ledger *l, double from_s, double to_s, eco_ledger_levers *out,
                          eco_error *err);

/* Calls fn for each row in time order; a non-zero return stops and is
 * returned. fn runs under the handle's lock: it must not use l. */
typedef int (*eco_ledger_row_fn)(const eco_ledger_entry *e, void *user);
int eco_ledger_foreach(eco_ledger *l, double from_s, double to_s, eco_ledger_row_fn fn, void *user,
                       eco_error *err);

/* PRAGMA integrity_check == "ok" (0), else ECO_EFORMAT with the message. */
int eco_ledger_check(eco_ledger *l, eco_error *err);

#endif
