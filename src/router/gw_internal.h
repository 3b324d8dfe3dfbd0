/* ecoinfer router: the gateway's shared state and the functions its files
 * call across one another. Private to src/router/gateway.c and gw_*.c; see
 * router.h for the public interface and docs/router.md. Everything runs on
 * the gateway's one event loop thread.
 *
 *   gateway.c      construction, run, stop, free
 *   gw_zones.c     zones and their intensities
 *   gw_nodes.c     nodes, health checks, circuit breaker, agent polling, DNS
 *   gw_engines.c   foreign engines' load signals (llama.cpp, vLLM, Ollama)
 *   gw_proxy.c     the proxied request: parse, route, batch windows, client
 *   gw_upstream.c  upstream attempts: dispatch, streaming, failover
 *   gw_account.c   receipts, profile updates, the dashboard feed
 *   gw_ledger.c    the router's ledger rows and the savings by lever
 *   gw_eval*.c     the quality loop: sampling, evaluation batches, the judge (gw_eval_internal.h)
 *   gw_admin.c     replies, the public and admin endpoints, metrics */
#ifndef ECO_ROUTER_GW_INTERNAL_H
#define ECO_ROUTER_GW_INTERNAL_H

#include "router/router.h"

#include "carbon/intensity.h"
#include "carbon/ledger.h"
#include "accounting/wire.h"
#include "dashboard/dashboard.h"
#include "router/agent_pick.h"
#include "router/batch_api.h"
#include "util/auth.h"
#include "util/http_front.h"
#include "util/timeutil.h"

#include <event2/event.h>
#include <event2/http.h>
#include <event2/util.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MOD        "router"
#define POOL_MAX   256 /* idle upstream connections kept per node */
#define MAX_BODY   (8u << 20)
#define ZONES_MAX  64
#define AGENT_RING 8 /* agent readings kept: power over up to 7 polling periods */

typedef struct gw gw;
typedef struct preq preq;

typedef struct node {
  gw *g;
  size_t idx;
  eco_router_node_cfg cfg;
  char host[128];
  int port;
  bool removed;  /* DNS: no longer resolved */
  int dns_src;   /* index of the DNS entry, -1 = config */
  bool dns_seen; /* seen in the current resolution */
  /* health */
  struct evhttp_connection *hconn;
  struct event *hev;
  bool hcheck_inflight;
  int hfail; /* consecutive health failures */
  double hnext_s;
  bool ever_ok;
  /* circuit breaker */
  int cfail;           /* consecutive request failures */
  double open_until_s; /* mono s; circuit open until then */
  /* load seen by the router */
  uint32_t inflight;              /* requests routed here and not finished */
  uint32_t rep_queue, rep_active; /* node-reported (ecoinfer /v1/node) */
  uint32_t done_total;            /* our requests there that have finished, ever */
  uint32_t done_at_poll;          /* done_total when the pending /v1/node poll was sent */
  uint32_t done_at_report;        /* done_at_poll of the report in rep_queue/rep_active */
  double rep_intensity;           /* node-reported gCO2e/kWh, <0 = none */
  uint64_t max_body;              /* request body limit, bytes (config or /v1/node; 0 = unknown) */
  /* pool */
  struct evhttp_connection **idle;
  size_t n_idle;
  /* batch window */
  preq *bhead, *btail;
  size_t nb;
  struct event *bev;
  double bdeadline_s; /* mono s the batch timer fires */
  /* energy agent (foreign backends): the last two readings */
  char ahost[128];
  int aport;
  struct evhttp_connection *aconn;
  bool aquery_inflight;
  double aj[AGENT_RING], at[AGENT_RING]; /* J, agent clock s; oldest first */
  double arecv_s;                        /* mono s the newest reading arrived (0 = none) */
  int an;                                /* readings held, 0..AGENT_RING */
  char asrc[32];                         /* meter source, e.g. "rapl" */
  bool aestimated;                       /* a selected meter is an estimate */
  bool agpu;                             /* the selected meters cover the GPU */
  char arails[96];                       /* what they cover (receipts' energy_rails) */
  char aids[96];                         /* which meters: a change restarts the ring */
  char awhy[160];                        /* why the last reading was not used, "" if it was */
  /* foreign engine's own load signals (gw_engines.c) */
  struct evhttp_connection *lconn;
  bool lquery_inflight;
  size_t lnext;           /* next load endpoint to poll this period */
  unsigned ldisabled;     /* endpoints that answered 404/501, by index */
  unsigned lround;        /* load polls started */
  bool lmetrics_ok;       /* llama.cpp: /metrics answers (then /slots is read every 10th) */
  eco_engine_load eload;  /* the latest report */
  double eload_s;         /* mono s it arrived, 0 = none */
  uint32_t done_at_lpoll; /* done_total when the load poll was sent */
  double cold_s;          /* Ollama: learned extra latency of a cold start, s (0 unknown) */
  /* stats */
  uint64_t routed, failures, ok;
  double pred_g, meas_g; /* sums, gCO2e */
  /* dashboard: EWMAs over completed requests */
  double d_tps;    /* generated tokens / upstream s, tokens/s (0 = none yet) */
  double d_jpt;    /* J per generated token from receipts, J (0 = none yet) */
  bool d_jmeas;    /* the last receipt's energy was measured */
  char d_jsrc[32]; /* its energy source */
} node;

typedef struct zone_state {
  char zone[32];
  double gco2_kwh; /* current value used, gCO2e/kWh */
  char source[64]; /* where it came from */
  bool estimated;  /* forecast, fallback or static value */
  bool override;   /* set through the admin API */
} zone_state;

struct gw {
  eco_router_cfg cfg;
  eco_logger log;
  struct event_base *base;
  struct evhttp *http, *admin;
  eco_http_front *front, *admin_front; /* framing checks before evhttp (util/http_front.h) */
  eco_auth auth;                       /* router.api_keys (none: the public API is open) */
  uint64_t auth_refused, auth_limited; /* requests answered 401 / 429 by the key check */
  struct evdns_base *dns;
  struct event *wake, *zone_ev, *dns_ev;
  int port, admin_port;
  eco_policy policy; /* current default policy (admin-changeable) */
  node **nodes;
  eco_node_view *views;
  size_t n_nodes, cap_nodes;
  eco_outlen_model outlen;
  eco_intensity_provider *prov, *fallback;
  bool prov_borrowed;   /* prov belongs to the caller (cfg.intensity) */
  eco_batch_api *batch; /* OpenAI Batch API, NULL = off */
  zone_state zones[ZONES_MAX];
  size_t n_zones;
  size_t models_rr;
  /* metrics */
  uint64_t req_by_code[6]; /* 1xx..5xx by hundred, [0] other */
  uint64_t retries, stream_errors, client_gone, no_node;
  uint64_t upstream_cancelled; /* upstream requests cut because their client left */
  uint64_t decisions;
  double decision_s_sum;
  double pred_g_sum, meas_g_sum;
  eco_dash *dash; /* GET /dashboard on the public listener */
  uint64_t req_seq;
  eco_rdir dir; /* directive plan and RNG (used when cfg.directive.enabled) */
  /* the live directive plan (gw_directive.c; cfg.directive.plan_kind live) */
  eco_dmodel *dmodel;        /* the directive model file */
  eco_dserve *dserve;        /* classifier + period planner + learned costs */
  struct eco_dstats_db *ddb; /* learned costs on disk, NULL = memory only */
  struct event *dflush_ev;   /* writes learned costs every learn_flush_s */
  long dfc_hour;             /* hour of the cached forecast */
  uint64_t ddb_errors;       /* failed writes of learned costs */
  /* the ledger (cfg.ledger, gw_ledger.c) */
  struct eco_ledger *ledger;
  uint64_t ledger_rows, ledger_errors;
  double saved_g[2]; /* routing, directives: scaled savings of the rows written, gCO2e */
  /* each directive level's output length over the level-blind prediction
   * (eco_outlen_predict): running mean, then EWMA; counts (gw_ledger.c) */
  double lvl_ratio[ECO_DIRECTIVE_MAX_LEVELS];
  uint32_t lvl_n[ECO_DIRECTIVE_MAX_LEVELS];
  struct gw_eval *eval; /* the quality loop (gw_eval_internal.h), NULL before init */
};

struct preq {
  gw *g;
  struct evhttp_request *creq; /* NULL once answered or the client left */
  struct evhttp_connection *cconn;
  char path[64];
  bool chat, stream, models;
  json_t *body;
  char *raw;
  size_t raw_len;
  char auth[512];
  eco_route_request rr;
  eco_policy pol;
  bool *excluded;
  eco_route_prediction pred;
  node *target;
  int attempts;
  char failed[256]; /* ids of nodes that failed this request */
  /* upstream */
  struct evhttp_connection *uconn;
  struct evhttp_request *ureq;
  int ustatus;
  char uctype[128];
  struct evbuffer *ubody; /* non-stream body or error body */
  struct evbuffer *sse;   /* partial stream events */
  bool reply_started, output_sent, saw_usage;
  bool abandoned;       /* the client left: the upstream connection was shut down */
  struct event *cwatch; /* EOF watch on the client socket until the answer starts */
  uint32_t stream_tokens;
  uint64_t t0_ns, tdisp_ns, tfirst_ns;
  preq *bnext; /* batch list */
  bool in_batch;
  char rid[64];    /* response "id" (what the client sees), for the dashboard */
  double cf_g;     /* counterfactual: greedy's predicted gCO2e at the last decision, at the
                      level-blind output length (no directive) (<0 none) */
  double x_base;   /* the chosen node's prediction at that length, gCO2e (<0 none) */
  int dlevel;      /* generation directive level, -1 = directives off */
  bool dopt_out;   /* the client sent x-ecoinfer-directive: off */
  bool dlive;      /* ddec holds a live decision */
  int dplanned;    /* the plan's level before cap and opt-out */
  double dlevel_p; /* its probability */
  eco_dserve_decision ddec;
  char dmodel_name[ECO_DLEARN_NAME_MAX]; /* the request's "model" */
  char *draw;                            /* body with the level applied, for foreign nodes */
  bool cold;                             /* sent to an Ollama node with no model in memory */
  eco_engine_usage eusage; /* the engine's own report (timings in a stream's last chunk) */
  bool have_eusage;
  size_t draw_len;
  double out_base; /* the level-blind output-length prediction at the decision, tokens */
};

static inline double mono_s(void) { return (double)eco_time_mono_ns() / 1e9; }

/* ---- zones and intensities (gw_zones.c) */
zone_state *gw_zone_get(gw *g, const char *zone);
void gw_zone_refresh_one(gw *g, zone_state *z);
void gw_zones_refresh(gw *g);
void gw_on_zone_timer(evutil_socket_t fd, short ev, void *arg);
int gw_intensity_init(gw *g, eco_error *err);

/* ---- nodes, health checks, circuit breaker, agent polling, DNS (gw_nodes.c) */
void gw_conn_free_later(gw *g, struct evhttp_connection *c);
node *gw_node_add(gw *g, const eco_router_node_cfg *c, int dns_src, eco_error *err);
void gw_node_free(node *n);
void gw_views_refresh(gw *g, double now);
void gw_node_request_failed(node *n);
void gw_node_request_ok(node *n);
void gw_dash_node(node *n);
double gw_agent_energy_j(const node *n, double up_s);

/* ---- foreign engines' load signals (gw_engines.c) */
void gw_engine_poll(node *n);
void gw_engine_apply(node *n, double now);
json_t *gw_engine_json(const node *n);
json_t *gw_meter_json(const node *n);
/* the agent's mean power over its recent samples, W; -1 until two fresh
 * samples have arrived or when they are stale */
double gw_agent_power_w(const node *n);
void gw_dns_resolve_all(gw *g);
void gw_on_dns_timer(evutil_socket_t fd, short ev, void *arg);

/* ---- accounting: receipts, profiles, dashboard (gw_account.c) */
void gw_finish_accounting(preq *r, json_t *usage, const json_t *resp, uint64_t tend_ns);
void gw_dash_directives(gw *g);

/* ---- generation directives: both plans, learning, admin (gw_directive.c) */
int gw_directive_init(gw *g, eco_error *err);
void gw_directive_free(gw *g);
/* Decides r's level (r->dlevel, -1 when directives are off). */
void gw_directive_decide(preq *r, const struct evkeyvalq *ih);
/* A finished request's figures: J (< 0 unknown), output tokens, s. */
void gw_directive_learn(preq *r, double energy_j, uint32_t out_tokens, double up_s);
/* The output tokens expected of r at its level (0 = no estimate). */
double gw_directive_out_tokens(const preq *r);
/* r's decision as the receipt's router.directive (into *d; false: none). */
bool gw_directive_receipt(const preq *r, eco_route_directive *d);
/* Reloads directive.model (e.g. after the judge loop refitted it). */
int gw_directive_reload(gw *g, eco_error *err);
/* Swaps m (malloc'd, loaded) in as the live plan's model: the reload's
 * swap. On success g owns m; on error the caller still does. */
int gw_directive_swap(gw *g, eco_dmodel *m, eco_error *err);
/* E(level 0) / E(level) for r's group and served model, from the live
 * plan's cost figures (the model file's per group, scaled to what this
 * model's receipts taught); -1 when unknown (no live decision). */
double gw_directive_energy_ratio(const preq *r);
json_t *gw_directive_admin_json(gw *g);
void gw_directive_metrics(gw *g, struct evbuffer *b);
/* ---- the router's ledger rows, savings by lever (gw_ledger.c) */
/* What a finished request saved, lever by lever (see carbon/ledger.h). */
typedef struct gw_levers {
  bool have;              /* a counterfactual was known */
  eco_ledger_facts facts; /* in prediction units, for the ledger */
  double scaled_g[3];     /* routing, directives, shifting, scaled to the receipt, gCO2e */
} gw_levers;
/* After a decision: greedy's prediction with no directive (r->cf_g) and the
 * chosen node's at the same output length (r->x_base). */
void gw_counterfactual(preq *r);
/* Computes r's savings (rcpt may be NULL: prediction units) and learns its
 * level's output length. */
void gw_levers_of(preq *r, const eco_receipt *rcpt, uint32_t ptok, uint32_t otok, gw_levers *out);
/* Appends r's router row (no-op without a ledger or a receipt). */
void gw_ledger_request(preq *r, const eco_receipt *rcpt, uint32_t ptok, uint32_t otok,
                       double latency_s, const gw_levers *lv);
/* The ledger's counters for /metrics. */
void gw_ledger_metrics(gw *g, struct evbuffer *b);
/* The Batch API's row observer: feeds the dashboard (any thread). */
void gw_batch_row(void *user, const struct eco_ledger_entry *row);

/* ---- the quality loop (gw_eval.c, gw_eval_work.c; see gw_eval_internal.h) */
int gw_eval_init(gw *g, eco_error *err);
void gw_eval_free(gw *g);
/* A finished request (resp: the answer's JSON, or a stream's last chunk;
 * rc: its receipt, NULL none; up_s: upstream s): sampled or not. */
void gw_eval_offer(preq *r, const json_t *resp, const eco_receipt *rc, double up_s);
json_t *gw_eval_admin_json(gw *g);
/* Hands the judge zone's current intensity to the worker (loop thread;
 * gw_zones_refresh calls it). */
void gw_eval_publish_ci(gw *g);
void gw_eval_metrics(gw *g, struct evbuffer *b);

/* ---- upstream attempts: dispatch, streaming, failover (gw_upstream.c) */
void gw_dispatch(preq *r);
void gw_upstream_abandon(preq *r);

/* ---- the proxied request: routing, batch windows, client (gw_proxy.c) */
void gw_cwatch_stop(preq *r);
void gw_preq_free(preq *r);
void gw_client_detach(preq *r);
void gw_target_release(preq *r);
void gw_add_router_headers(preq *r, struct evkeyvalq *h);
int gw_choose_and_dispatch(preq *r);
void gw_handle_proxy(gw *g, struct evhttp_request *req, const char *path, bool models);

/* ---- keys (gw_auth.c) */
int gw_auth_init(gw *g, const eco_router_cfg *cfg, eco_error *err);
/* true if req may go on; otherwise it has been answered 401 or 429 */
bool gw_authorized(gw *g, struct evhttp_request *req);
/* adds the node's upstream key (Authorization: Bearer) when it has one */
void gw_upstream_auth(const node *n, struct evkeyvalq *h);

/* ---- replies, the public and admin endpoints, metrics (gw_admin.c) */
void gw_count_code(gw *g, int code);
void gw_send_error(gw *g, struct evhttp_request *req, int code, const char *type, const char *param,
                   const char *msg);
/* with an error code ("invalid_json", "request_too_large", ...) */
void gw_send_error_code(gw *g, struct evhttp_request *req, int status, const char *type,
                        const char *param, const char *code, const char *msg);
/* a request the HTTP front refused (eco_http_front_error_fn) */
void gw_on_front_error(struct evhttp_request *req, int status, const char *code, const char *msg,
                       void *arg);
void gw_on_public(struct evhttp_request *req, void *arg);
void gw_on_admin(struct evhttp_request *req, void *arg);

#endif
