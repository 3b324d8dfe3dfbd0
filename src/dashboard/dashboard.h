/* ecoinfer: live dashboard (router: full page; node: the same page, its
 * own slice of data).
 *
 * The dashboard holds a snapshot of what the operator wants to see, fed by
 * the component that owns the facts (router or node) through the eco_dash_*
 * calls below, from any thread. It serves, on a libevent evhttp server:
 *   GET PREFIX             one self-contained HTML page (bundled at build
 *                          time from web/dashboard, no CDN)
 *   GET PREFIX/api/state   the whole snapshot as JSON (for scripts too)
 *   GET PREFIX/api/events  server-sent events: "decision" for each new
 *                          routing decision with its receipt, "state" with the
 *                          whole snapshot every push interval
 *
 * Carbon saved counts every lever: a decision that carries the router's
 * savings by lever (routing, directives, shifting: the ledger's facts,
 * scaled to its measured receipt, see carbon/ledger.h) adds them; one
 * without adds its counterfactual (the router's prediction for the greedy
 * policy without directives) minus its prediction, labelled predicted. */
#ifndef ECO_DASHBOARD_DASHBOARD_H
#define ECO_DASHBOARD_DASHBOARD_H

#include "carbon/sci.h"
#include "util/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evhttp;
struct evhttp_request;

#define ECO_DASH_FORECAST_MAX 48

typedef struct eco_dash_zone {
  char zone[32];                            /* e.g. "GB" */
  double gco2_kwh;                          /* current intensity, gCO2e/kWh */
  char source[64];                          /* provider that gave it */
  bool estimated;                           /* forecast, fallback or static */
  double forecast_t[ECO_DASH_FORECAST_MAX]; /* period starts, epoch s */
  double forecast_v[ECO_DASH_FORECAST_MAX]; /* gCO2e/kWh */
  size_t n_forecast;
} eco_dash_zone;

typedef struct eco_dash_node {
  char id[64];
  char device[32];
  char zone[32];
  char health[16]; /* "up", "degraded", "down" */
  bool circuit_open;
  uint32_t queue;         /* requests waiting */
  uint32_t batch;         /* sequences running */
  double tokens_per_s;    /* generated tokens/s, recent */
  double power_w;         /* W, recent average */
  char power_source[16];  /* "measured" or "estimated" */
  double j_per_token;     /* J per generated token, recent */
  char energy_source[32]; /* meter name, e.g. "rapl", "model" */
} eco_dash_node;

typedef struct eco_dash_decision {
  double t; /* completion time, epoch s */
  char request_id[64];
  char policy[24];         /* policy that chose the node */
  char node[64];           /* node that served it */
  double latency_ms;       /* end-to-end, ms */
  uint32_t tokens;         /* prompt + generated tokens */
  uint32_t output_tokens;  /* generated tokens */
  eco_receipt receipt;     /* measured receipt from the node */
  double predicted_g;      /* router's prediction for the chosen node, gCO2e */
  double counterfactual_g; /* prediction for greedy + no directive, gCO2e (<0 unknown) */
  int directive_level;     /* level applied, -1 none */
  bool levers;             /* saved_g holds the savings by lever */
  double saved_g[3];       /* routing, directives, shifting, scaled to the receipt, gCO2e */
  char kind[12];           /* "request" (""), "batch" or "eval" (overhead: a negative saving) */
} eco_dash_decision;

typedef struct eco_dash eco_dash;

/* role: "router" or "node" (shown in the page title). */
int eco_dash_new(const char *role, eco_dash **out);
void eco_dash_free(eco_dash *d);

int eco_dash_set_zone(eco_dash *d, const eco_dash_zone *z);
int eco_dash_set_node(eco_dash *d, const eco_dash_node *n);
int eco_dash_remove_node(eco_dash *d, const char *id);
/* Current directive mix: probability of each level, its names, and the
 * quality floor the optimizer keeps. n <= 8. */
int eco_dash_set_directives(eco_dash *d, const double *mix, const char *const *levels, size_t n,
                            double quality_floor);
/* The quality loop's status line (the router's judge: counts and last
 * refit, or that the priors are kept), shown under the directives. */
int eco_dash_set_eval(eco_dash *d, const char *status);
/* Appends a completed decision (kept: the last 200; series: 20 minutes). */
int eco_dash_record(eco_dash *d, const eco_dash_decision *dec);

/* The snapshot as JSON (malloc'd string; free()). now: epoch s. */
char *eco_dash_state_json(eco_dash *d, double now);

/* Registers the page and the endpoints under prefix (e.g. "/dashboard") on
 * http, whose loop is base; starts the SSE push timer (interval_s). Call on
 * the loop's thread before dispatching, or with the loop stopped. */
int eco_dash_attach(eco_dash *d, struct event_base *base, struct evhttp *http, const char *prefix,
                    double interval_s);

/* Requires credentials on the page and its API (the server's keys): fn
 * returns true to serve the request, or answers it (401, 429) and returns
 * false. Called on the loop's thread. The page passes its own ?key= on to
 * the API calls, since a browser's EventSource cannot send headers. */
typedef bool (*eco_dash_auth_fn)(struct evhttp_request *req, void *arg);
void eco_dash_set_auth(eco_dash *d, eco_dash_auth_fn fn, void *arg);

/* True when the real bundle (not the offline placeholder) is embedded. */
bool eco_dash_bundled(void);

#endif
