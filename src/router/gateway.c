/* ecoinfer router gateway: libevent front, pooled evhttp upstreams, policy
 * dispatch, router-side batch windows, failover, health checks, circuit
 * breakers, DNS discovery, zone intensities, receipts. See router.h and
 * docs/router.md. Everything runs on one event loop thread. */
#include "router/router.h"

#include "router/batch_api.h"

#include "accounting/receipt.h"
#include "accounting/wire.h"
#include "carbon/intensity.h"
#include "carbon/sci.h"
#include "dashboard/dash_feed.h"
#include "router/sse.h"
#include "util/timeutil.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <event2/util.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <sys/socket.h>

#define MOD        "router"
#define POOL_MAX   256 /* idle upstream connections kept per node */
#define MAX_BODY   (8u << 20)
#define ZONES_MAX  64
#define AGENT_RING 8 /* agent readings kept: power over up to 7 polling periods */

typedef struct gw gw;
typedef struct preq preq;

typedef struct conn_slot {
  struct evhttp_connection *c;
} conn_slot;

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
  bool aestimated;
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
  char uhdr_node_j[64];
  struct evbuffer *ubody; /* non-stream body or error body */
  struct evbuffer *sse;   /* partial stream events */
  bool reply_started, output_sent, saw_usage;
  bool abandoned;       /* the client left: the upstream connection was shut down */
  struct event *cwatch; /* EOF watch on the client socket until the answer starts */
  uint32_t stream_tokens;
  uint64_t t0_ns, tdisp_ns, tfirst_ns;
  preq *bnext; /* batch list */
  bool in_batch;
  char rid[64];  /* response "id" (what the client sees), for the dashboard */
  double cf_g;   /* counterfactual: greedy's predicted gCO2e at the last decision (<0 none) */
  int dlevel;    /* generation directive level, -1 = directives off */
  bool dopt_out; /* the client sent x-ecoinfer-directive: off */
  char *draw;    /* body with the level applied, for foreign nodes */
  size_t draw_len;
};

static double mono_s(void) { return (double)eco_time_mono_ns() / 1e9; }

static void free_conn_cb(evutil_socket_t fd, short ev, void *arg) {
  (void)fd;
  (void)ev;
  evhttp_connection_free(arg);
}

static void conn_free_later(gw *g, struct evhttp_connection *c) {
  struct timeval tv = {0, 0};
  if (event_base_once(g->base, -1, EV_TIMEOUT, free_conn_cb, c, &tv) != 0)
    evhttp_connection_free(c);
}

/* ---- zones and intensities ---------------------------------------------- */

static zone_state *zone_get(gw *g, const char *zone) {
  for (size_t i = 0; i < g->n_zones; i++)
    if (strcasecmp(g->zones[i].zone, zone) == 0) return &g->zones[i];
  if (g->n_zones >= ZONES_MAX) return NULL;
  zone_state *z = &g->zones[g->n_zones++];
  memset(z, 0, sizeof *z);
  snprintf(z->zone, sizeof z->zone, "%s", zone);
  z->gco2_kwh = -1;
  return z;
}

static void zone_refresh_one(gw *g, zone_state *z) {
  if (z->override) return;
  eco_intensity v;
  eco_error e = {0};
  double now = eco_time_wall_s();
  if (g->prov && eco_intensity_get(g->prov, z->zone, now, &v, &e) == 0) {
    z->gco2_kwh = v.gco2_kwh;
    snprintf(z->source, sizeof z->source, "%s", v.source);
    z->estimated = v.estimated;
    return;
  }
  /* fallback: a node-reported value, else the static table */
  for (size_t i = 0; i < g->n_nodes; i++) {
    node *n = g->nodes[i];
    if (n->rep_intensity >= 0 && strcasecmp(n->cfg.zone, z->zone) == 0) {
      z->gco2_kwh = n->rep_intensity;
      snprintf(z->source, sizeof z->source, "node:%s", n->cfg.id);
      z->estimated = false;
      return;
    }
  }
  if (g->fallback && eco_intensity_get(g->fallback, z->zone, now, &v, &e) == 0) {
    z->gco2_kwh = v.gco2_kwh;
    snprintf(z->source, sizeof z->source, "%s", v.source);
    z->estimated = true;
  }
}

static void zones_refresh(gw *g) {
  for (size_t i = 0; i < g->n_zones; i++)
    zone_refresh_one(g, &g->zones[i]);
  for (size_t i = 0; i < g->n_nodes; i++) {
    zone_state *z = zone_get(g, g->nodes[i]->cfg.zone);
    g->views[i].intensity_gco2_kwh = z && z->gco2_kwh >= 0 ? z->gco2_kwh : 0;
  }
  double now = eco_time_wall_s();
  for (size_t i = 0; g->dash && i < g->n_zones; i++) {
    const zone_state *z = &g->zones[i];
    if (z->gco2_kwh >= 0)
      (void)eco_dash_feed_zone(g->dash, z->override ? NULL : g->prov, z->zone, z->gco2_kwh,
                               z->source, z->estimated, now);
  }
}

static void on_zone_timer(evutil_socket_t fd, short ev, void *arg) {
  (void)fd;
  (void)ev;
  zones_refresh(arg);
}

static int intensity_init(gw *g, eco_error *err) {
  eco_static_entry *ents = NULL;
  int rc = 0;
  if (g->cfg.n_zones) {
    ents = calloc(g->cfg.n_zones, sizeof *ents);
    if (!ents) return ECO_ENOMEM;
    for (size_t i = 0; i < g->cfg.n_zones; i++) {
      ents[i].zone = g->cfg.zones[i].zone;
      ents[i].gco2_kwh = g->cfg.zones[i].gco2_kwh;
    }
  }
  rc = eco_intensity_static_new(ents, g->cfg.n_zones, -1, &g->fallback, err);
  free(ents);
  if (rc) return rc;
  if (g->cfg.intensity) { /* the caller's provider (shared accounting schema) */
    g->prov = g->cfg.intensity;
    g->prov_borrowed = true;
    return 0;
  }
  if (g->cfg.trace_path[0]) {
    eco_trace_opts o;
    eco_trace_opts_default(&o);
    o.replay_origin_s = eco_time_wall_s();
    o.speed = g->cfg.trace_speed > 0 ? g->cfg.trace_speed : 1;
    o.loop = true;
    rc = eco_intensity_trace_open(g->cfg.trace_path, &o, &g->prov, err);
    if (rc) {
      ECO_WARN(&g->log, MOD, "carbon trace '%s' unusable (%s): using the static table",
               g->cfg.trace_path, eco_error_text(err));
      g->prov = NULL;
      rc = 0;
    }
  }
  if (!g->prov) {
    /* Static only: the configured zones win, the built-in table covers the rest. */
    g->prov = g->fallback;
    g->fallback = NULL;
    rc = eco_intensity_static_new(NULL, 0, -1, &g->fallback, err);
  }
  return rc;
}

/* ---- nodes --------------------------------------------------------------- */

static int parse_url(const char *url, char *host, size_t cap, int *port) {
  if (strncmp(url, "http://", 7) != 0) return ECO_EINVAL;
  const char *h = url + 7;
  const char *end = h + strcspn(h, "/");
  const char *colon = memchr(h, ':', (size_t)(end - h));
  size_t hl = colon ? (size_t)(colon - h) : (size_t)(end - h);
  if (hl == 0 || hl >= cap) return ECO_EINVAL;
  memcpy(host, h, hl);
  host[hl] = '\0';
  *port = 80;
  if (colon) {
    char *e;
    long p = strtol(colon + 1, &e, 10);
    if (e != end || p <= 0 || p > 65535) return ECO_EINVAL;
    *port = (int)p;
  }
  return 0;
}

static void schedule_health(node *n, double delay_s);
static void on_health_timer(evutil_socket_t fd, short ev, void *arg);

static node *node_add(gw *g, const eco_router_node_cfg *c, int dns_src, eco_error *err) {
  if (g->n_nodes >= g->cap_nodes) {
    eco_error_set(err, ECO_EOVERFLOW, "more than max_nodes=%zu nodes", g->cap_nodes);
    return NULL;
  }
  node *n = calloc(1, sizeof *n);
  if (!n) return NULL;
  n->g = g;
  n->idx = g->n_nodes;
  n->cfg = *c;
  n->dns_src = dns_src;
  n->rep_intensity = -1;
  if (parse_url(c->url, n->host, sizeof n->host, &n->port) != 0) {
    eco_error_set(err, ECO_ECONFIG, "node '%s': bad url '%s'", c->id, c->url);
    free(n);
    return NULL;
  }
  if (c->agent_url[0] && parse_url(c->agent_url, n->ahost, sizeof n->ahost, &n->aport) != 0) {
    eco_error_set(err, ECO_ECONFIG, "node '%s': bad agent url '%s'", c->id, c->agent_url);
    free(n);
    return NULL;
  }
  n->idle = calloc(POOL_MAX, sizeof *n->idle);
  n->hev = evtimer_new(g->base, on_health_timer, n);
  if (!n->idle || !n->hev) {
    free(n->idle);
    if (n->hev) event_free(n->hev);
    free(n);
    return NULL;
  }
  eco_node_view *v = &g->views[n->idx];
  memset(v, 0, sizeof *v);
  snprintf(v->id, sizeof v->id, "%s", c->id);
  snprintf(v->device, sizeof v->device, "%s", c->device);
  snprintf(v->zone, sizeof v->zone, "%s", c->zone);
  v->pue = g->cfg.pue;
  v->embodied_g_per_s = c->embodied_g_per_s;
  v->max_batch = c->max_batch ? c->max_batch : 1;
  v->profile = c->profile;
  if (!c->has_profile) {
    /* A documented default until /v1/node or receipts teach better:
     * 500 prompt tok/s, 20 tok/s, 1 J/token, 5% slowdown per batched sequence. */
    (void)eco_profile_from_rates(&v->profile, 500, 20, 1.0, 0, 0.05);
  }
  /* Unknown until the first health check answers; still eligible so a
   * cluster is usable from the first request. */
  v->health = ECO_NODE_DEGRADED;
  g->nodes[g->n_nodes++] = n;
  zone_state *z = zone_get(g, c->zone);
  if (z) {
    if (z->gco2_kwh < 0) zone_refresh_one(g, z);
    v->intensity_gco2_kwh = z->gco2_kwh >= 0 ? z->gco2_kwh : 0;
  }
  schedule_health(n, 0);
  return n;
}

static void node_free(node *n) {
  for (size_t i = 0; i < n->n_idle; i++)
    evhttp_connection_free(n->idle[i]);
  free(n->idle);
  if (n->hconn) evhttp_connection_free(n->hconn);
  if (n->aconn) evhttp_connection_free(n->aconn);
  if (n->hev) event_free(n->hev);
  if (n->bev) event_free(n->bev);
  free(n);
}

/* Refreshes the dynamic fields of every view before a decision. */
static void views_refresh(gw *g, double now) {
  for (size_t i = 0; i < g->n_nodes; i++) {
    node *n = g->nodes[i];
    eco_node_view *v = &g->views[i];
    eco_route_merge_load(n->inflight, v->max_batch, n->rep_active, n->rep_queue,
                         n->done_total - n->done_at_report, &v->active_batch, &v->queue_depth);
    v->circuit_open = n->open_until_s > now;
    if (n->removed) v->health = ECO_NODE_DOWN;
  }
}

/* ---- circuit breaker ------------------------------------------------------ */

static void node_request_failed(node *n) {
  gw *g = n->g;
  n->failures++;
  n->cfail++;
  if (n->cfail >= g->cfg.circuit_failures) {
    n->open_until_s = mono_s() + g->cfg.circuit_cooldown_s;
    ECO_WARN(&g->log, MOD, "node %s: circuit open for %.1f s after %d failures", n->cfg.id,
             g->cfg.circuit_cooldown_s, n->cfail);
    /* check sooner than the normal period */
    schedule_health(n, 0.05);
  }
}

static void node_request_ok(node *n) {
  n->ok++;
  n->cfail = 0;
  n->open_until_s = 0;
}

/* Pushes n to the dashboard: power from the agent when it has fresh
 * readings (labelled with its meter), else estimated from tokens/s. */
static double agent_power_w(const node *n);
static void dash_node(node *n) {
  gw *g = n->g;
  if (!g->dash) return;
  views_refresh(g, mono_s());
  double aw = agent_power_w(n);
  eco_dash_node_facts f = {.tokens_per_s = n->d_tps,
                           .power_w = aw,
                           .power_measured = aw >= 0 && !n->aestimated,
                           .j_per_token = n->d_jpt,
                           .energy_measured = n->d_jmeas,
                           .energy_source = n->d_jsrc};
  (void)eco_dash_feed_node(g->dash, &g->views[n->idx], &f);
}

/* ---- health checks ------------------------------------------------------- */

/* Reads an ecoinfer node's GET /v1/node answer (the node server's shape:
 * device, zone, intensity{gco2_kwh}, energy_j_per_token, tokens_per_s,
 * queue{depth}, batch{active,max}, kv{usage}, draining; flat aliases
 * intensity_gco2_kwh, j_per_token, prefill_tokens_per_s, queue_depth,
 * active, max_batch are accepted too). Returns false if the node says it is
 * draining. */
static bool apply_node_info(node *n, const json_t *j) {
  gw *g = n->g;
  eco_node_view *v = &g->views[n->idx];
  const json_t *x;
  const json_t *q = json_object_get(j, "queue"), *b = json_object_get(j, "batch");
  if ((x = json_object_get(j, "queue_depth")) || (x = json_object_get(q, "depth")))
    if (json_is_number(x) && json_number_value(x) >= 0)
      n->rep_queue = (uint32_t)json_number_value(x);
  if ((x = json_object_get(j, "active")) || (x = json_object_get(b, "active")))
    if (json_is_number(x) && json_number_value(x) >= 0)
      n->rep_active = (uint32_t)json_number_value(x);
  if ((x = json_object_get(j, "max_batch")) || (x = json_object_get(b, "max")))
    if (json_is_integer(x) && json_integer_value(x) > 0 && json_integer_value(x) < 1000000)
      v->max_batch = (uint32_t)json_integer_value(x);
  /* memory: a KV cache at 95% or more counts as a full batch */
  x = json_object_get(json_object_get(j, "kv"), "usage");
  if (json_is_number(x) && json_number_value(x) >= 0.95 && n->rep_active < v->max_batch)
    n->rep_active = v->max_batch;
  /* completions after the poll was sent may be missing from the report: they
   * are discounted (erring toward an idle node, never toward phantom sharing) */
  n->done_at_report = n->done_at_poll;
  const json_t *ci = json_object_get(j, "intensity_gco2_kwh");
  if (!ci) ci = json_object_get(json_object_get(j, "intensity"), "gco2_kwh");
  if (json_is_number(ci)) n->rep_intensity = json_number_value(ci);
  const char *dev = json_string_value(json_object_get(j, "device"));
  if (dev && strcmp(n->cfg.device, "unknown") == 0)
    snprintf(v->device, sizeof v->device, "%s", dev);
  const char *zone = json_string_value(json_object_get(j, "zone"));
  if (zone && zone[0] && strcmp(n->cfg.zone, "unknown") == 0) {
    snprintf(n->cfg.zone, sizeof n->cfg.zone, "%s", zone);
    snprintf(v->zone, sizeof v->zone, "%s", zone);
    zone_state *z = zone_get(g, zone);
    if (z) {
      if (z->gco2_kwh < 0) zone_refresh_one(g, z);
      v->intensity_gco2_kwh = z->gco2_kwh >= 0 ? z->gco2_kwh : 0;
    }
  }
  double dtps = json_number_value(json_object_get(j, "tokens_per_s"));
  double ptps = json_number_value(json_object_get(j, "prefill_tokens_per_s"));
  const json_t *jx = json_object_get(j, "energy_j_per_token");
  if (!jx) jx = json_object_get(j, "j_per_token");
  double jpt = json_number_value(jx);
  if (v->profile.n_obs == 0 && !n->cfg.has_profile && dtps > 0) {
    eco_profile p;
    if (eco_profile_from_rates(&p, ptps > 0 ? ptps : dtps * 20, dtps, jpt > 0 ? jpt : 0, 0, 0.05) ==
        0)
      v->profile = p;
  }
  return !json_is_true(json_object_get(j, "draining"));
}

static void on_health_done(struct evhttp_request *req, void *arg) {
  node *n = arg;
  gw *g = n->g;
  n->hcheck_inflight = false;
  eco_node_view *v = &g->views[n->idx];
  int code = req ? evhttp_request_get_response_code(req) : 0;
  bool ok = code >= 200 && code < 300;
  if (ok && n->cfg.ecoinfer) {
    struct evbuffer *b = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(b);
    json_t *j = json_loadb((const char *)evbuffer_pullup(b, -1), len, 0, NULL);
    if (json_is_object(j) && !apply_node_info(n, j)) ok = false; /* draining */
    json_decref(j);
  }
  if (ok) {
    if (v->health != ECO_NODE_UP)
      ECO_INFO(&g->log, MOD, "node %s (%s) is up", n->cfg.id, n->cfg.url);
    n->hfail = 0;
    n->ever_ok = true;
    if (!n->removed) v->health = ECO_NODE_UP;
    /* a passing check lets a half-open circuit try again */
    if (n->open_until_s > 0 && n->open_until_s <= mono_s()) n->open_until_s = 0;
    schedule_health(n, g->cfg.health_interval_s);
  } else {
    n->hfail++;
    if (n->hfail >= g->cfg.health_fail_threshold && v->health != ECO_NODE_DOWN) {
      ECO_WARN(&g->log, MOD, "node %s (%s) is down after %d failed checks", n->cfg.id, n->cfg.url,
               n->hfail);
      v->health = ECO_NODE_DOWN;
    } else if (v->health == ECO_NODE_UP) {
      v->health = ECO_NODE_DEGRADED;
    }
    double d = g->cfg.health_interval_s * pow(2.0, n->hfail - 1);
    if (d > g->cfg.health_max_backoff_s) d = g->cfg.health_max_backoff_s;
    schedule_health(n, d);
    /* the connection may be wedged: start a fresh one next time */
    if (n->hconn) {
      conn_free_later(g, n->hconn);
      n->hconn = NULL;
    }
  }
  dash_node(n);
}

static void on_agent_done(struct evhttp_request *req, void *arg) {
  node *n = arg;
  gw *g = n->g;
  n->aquery_inflight = false;
  int code = req ? evhttp_request_get_response_code(req) : 0;
  json_t *j = NULL;
  if (code == 200) {
    struct evbuffer *b = evhttp_request_get_input_buffer(req);
    j = json_loadb((const char *)evbuffer_pullup(b, -1), evbuffer_get_length(b), 0, NULL);
  }
  const json_t *t = json_object_get(j, "time_s"), *tot = json_object_get(j, "total_j");
  const json_t *m0 = json_array_get(json_object_get(j, "meters"), 0);
  if (json_is_number(t) && json_is_number(tot)) {
    double tj = json_number_value(tot), ts = json_number_value(t);
    if (n->an > 0 && (tj < n->aj[n->an - 1] || ts <= n->at[n->an - 1]))
      n->an = 0; /* agent restarted */
    if (n->an == AGENT_RING) {
      memmove(n->aj, n->aj + 1, (AGENT_RING - 1) * sizeof n->aj[0]);
      memmove(n->at, n->at + 1, (AGENT_RING - 1) * sizeof n->at[0]);
      n->an--;
    }
    n->aj[n->an] = tj;
    n->at[n->an] = ts;
    n->an++;
    n->arecv_s = mono_s();
    const char *src = json_string_value(json_object_get(m0, "source"));
    snprintf(n->asrc, sizeof n->asrc, "%s", src ? src : "agent");
    n->aestimated = json_is_true(json_object_get(m0, "estimated"));
  } else if (n->aconn) {
    conn_free_later(g, n->aconn);
    n->aconn = NULL;
  }
  json_decref(j);
}

static void agent_poll(node *n) {
  gw *g = n->g;
  if (!n->aport || n->aquery_inflight) return;
  if (!n->aconn) {
    n->aconn = evhttp_connection_base_new(g->base, g->dns, n->ahost, (unsigned short)n->aport);
    if (!n->aconn) return;
    struct timeval tv = {2, 0};
    evhttp_connection_set_timeout_tv(n->aconn, &tv);
  }
  struct evhttp_request *req = evhttp_request_new(on_agent_done, n);
  if (!req) return;
  evhttp_add_header(evhttp_request_get_output_headers(req), "Host", n->ahost);
  n->aquery_inflight = true;
  if (evhttp_make_request(n->aconn, req, EVHTTP_REQ_GET, "/v1/meters") != 0)
    n->aquery_inflight = false;
}

/* Measured energy of a request of up_s seconds on n from the agent: the
 * host's average power between the oldest and newest of the last
 * AGENT_RING readings (several polling periods, so that a meter sampled at
 * the same rate as the router polls cannot alias to zero), times the
 * request's upstream time, shared equally among the requests in flight
 * there. Returns -1 without fresh readings (two or more, the newest at most
 * 3 health periods + 1 s old). */
static double agent_power_w(const node *n) {
  if (n->an < 2 || n->at[n->an - 1] <= n->at[0]) return -1;
  if (mono_s() - n->arecv_s > 3 * n->g->cfg.health_interval_s + 1) return -1;
  return (n->aj[n->an - 1] - n->aj[0]) / (n->at[n->an - 1] - n->at[0]);
}

static double agent_energy_j(const node *n, double up_s) {
  double p_w = agent_power_w(n);
  if (p_w < 0) return -1;
  double conc = n->inflight > 0 ? (double)n->inflight : 1.0;
  return p_w > 0 ? p_w * up_s / conc : 0;
}

static void on_health_timer(evutil_socket_t fd, short ev, void *arg) {
  (void)fd;
  (void)ev;
  node *n = arg;
  gw *g = n->g;
  agent_poll(n);
  if (n->hcheck_inflight) return;
  if (!n->hconn) {
    n->hconn = evhttp_connection_base_new(g->base, g->dns, n->host, (unsigned short)n->port);
    if (!n->hconn) {
      schedule_health(n, g->cfg.health_interval_s);
      return;
    }
    double t = g->cfg.health_interval_s < 2 ? g->cfg.health_interval_s : 2;
    if (t < 0.2) t = 0.2;
    struct timeval tv = {(time_t)t, (suseconds_t)((t - floor(t)) * 1e6)};
    evhttp_connection_set_timeout_tv(n->hconn, &tv);
  }
  struct evhttp_request *req = evhttp_request_new(on_health_done, n);
  if (!req) return;
  evhttp_add_header(evhttp_request_get_output_headers(req), "Host", n->host);
  const char *path = n->cfg.ecoinfer ? "/v1/node" : n->cfg.health_path;
  n->hcheck_inflight = true;
  n->done_at_poll = n->done_total;
  if (evhttp_make_request(n->hconn, req, EVHTTP_REQ_GET, path) != 0) {
    n->hcheck_inflight = false;
    schedule_health(n, g->cfg.health_interval_s);
  }
}

static void schedule_health(node *n, double delay_s) {
  /* re-adding a pending timer reschedules it */
  struct timeval tv = {(time_t)delay_s, (suseconds_t)((delay_s - floor(delay_s)) * 1e6)};
  evtimer_add(n->hev, &tv);
}

/* ---- DNS discovery ------------------------------------------------------- */

typedef struct dns_q {
  gw *g;
  int src;
} dns_q;

static void on_dns(int result, struct evutil_addrinfo *res, void *arg) {
  dns_q *q = arg;
  gw *g = q->g;
  const eco_router_dns_cfg *d = &g->cfg.dns[q->src];
  if (result != 0) {
    ECO_WARN(&g->log, MOD, "dns %s: %s (keeping the current nodes)", d->name,
             evutil_gai_strerror(result));
    free(q);
    return;
  }
  for (size_t i = 0; i < g->n_nodes; i++)
    if (g->nodes[i]->dns_src == q->src) g->nodes[i]->dns_seen = false;
  for (struct evutil_addrinfo *a = res; a; a = a->ai_next) {
    if (a->ai_family != AF_INET) continue;
    char ip[64];
    const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)a->ai_addr;
    if (!inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof ip)) continue;
    char id[64];
    snprintf(id, sizeof id, "%s:%d", ip, d->port);
    node *found = NULL;
    for (size_t i = 0; i < g->n_nodes; i++)
      if (g->nodes[i]->dns_src == q->src && strcmp(g->nodes[i]->cfg.id, id) == 0)
        found = g->nodes[i];
    if (found) {
      found->dns_seen = true;
      if (found->removed) {
        found->removed = false;
        ECO_INFO(&g->log, MOD, "dns %s: node %s is back", d->name, id);
        schedule_health(found, 0);
      }
      continue;
    }
    eco_router_node_cfg c = d->tpl;
    snprintf(c.id, sizeof c.id, "%s", id);
    snprintf(c.url, sizeof c.url, "http://%s:%d", ip, d->port);
    eco_error e = {0};
    node *n = node_add(g, &c, q->src, &e);
    if (n) {
      n->dns_seen = true;
      ECO_INFO(&g->log, MOD, "dns %s: added node %s", d->name, id);
    } else {
      ECO_WARN(&g->log, MOD, "dns %s: cannot add %s: %s", d->name, id, eco_error_text(&e));
    }
  }
  for (size_t i = 0; i < g->n_nodes; i++) {
    node *n = g->nodes[i];
    if (n->dns_src == q->src && !n->dns_seen && !n->removed) {
      n->removed = true;
      g->views[i].health = ECO_NODE_DOWN;
      ECO_INFO(&g->log, MOD, "dns %s: node %s removed", d->name, n->cfg.id);
    }
  }
  evutil_freeaddrinfo(res);
  free(q);
}

static void dns_resolve_all(gw *g) {
  for (size_t i = 0; i < g->cfg.n_dns; i++) {
    dns_q *q = calloc(1, sizeof *q);
    if (!q) return;
    q->g = g;
    q->src = (int)i;
    struct evutil_addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    /* evdns_getaddrinfo may call on_dns before returning. */
    evdns_getaddrinfo(g->dns, g->cfg.dns[i].name, NULL, &hints, on_dns, q);
  }
}

static void on_dns_timer(evutil_socket_t fd, short ev, void *arg) {
  (void)fd;
  (void)ev;
  dns_resolve_all(arg);
}

/* ---- replies ------------------------------------------------------------- */

static void count_code(gw *g, int code) {
  int k = code / 100;
  g->req_by_code[(k >= 1 && k <= 5) ? k : 0]++;
}

static void send_json(gw *g, struct evhttp_request *req, int code, const char *reason,
                      const char *json) {
  struct evbuffer *b = evbuffer_new();
  if (b) evbuffer_add(b, json, strlen(json));
  struct evkeyvalq *h = evhttp_request_get_output_headers(req);
  evhttp_add_header(h, "Content-Type", "application/json");
  evhttp_send_reply(req, code, reason, b);
  if (b) evbuffer_free(b);
  count_code(g, code);
}

static void send_error(gw *g, struct evhttp_request *req, int code, const char *type,
                       const char *param, const char *msg) {
  char *s = eco_wire_error_body(msg, type, param, NULL);
  send_json(g, req, code, "Error", s ? s : ECO_WIRE_ERROR_OOM);
  free(s);
}

/* ---- proxied request lifecycle -------------------------------------------- */

static void cwatch_stop(preq *r) {
  if (r->cwatch) event_free(r->cwatch);
  r->cwatch = NULL;
}

static void preq_free(preq *r) {
  cwatch_stop(r);
  if (r->ubody) evbuffer_free(r->ubody);
  if (r->sse) evbuffer_free(r->sse);
  json_decref(r->body);
  free(r->raw);
  free(r->draw);
  free(r->excluded);
  free(r);
}

static void on_client_close(struct evhttp_connection *c, void *arg);

/* Detaches from the client request (called right before the final send). */
static void client_detach(preq *r) {
  cwatch_stop(r);
  if (r->cconn) evhttp_connection_set_closecb(r->cconn, NULL, NULL);
  r->cconn = NULL;
  r->creq = NULL;
}

static void target_release(preq *r) {
  if (r->target) {
    if (r->target->inflight > 0) r->target->inflight--;
    r->target->done_total++;
    eco_batch_api_interactive(r->g->batch, r->target->cfg.url, -1);
    r->target = NULL;
  }
}

static void add_router_headers(preq *r, struct evkeyvalq *h) {
  char buf[64];
  node *n = r->target;
  if (!n) return;
  evhttp_add_header(h, ECO_HDR_NODE, n->cfg.id);
  evhttp_add_header(h, ECO_HDR_ZONE, n->cfg.zone);
  evhttp_add_header(h, ECO_HDR_POLICY, eco_policy_name(r->pol.kind));
  snprintf(buf, sizeof buf, "%.3f", r->pred.latency_s * 1e3);
  evhttp_add_header(h, ECO_HDR_PREDICTED_LATENCY_MS, buf);
  snprintf(buf, sizeof buf, "%.6g", r->pred.total_g);
  evhttp_add_header(h, ECO_HDR_PREDICTED_GCO2, buf);
  snprintf(buf, sizeof buf, "%d", r->attempts);
  evhttp_add_header(h, ECO_HDR_ATTEMPTS, buf);
}

/* Feeds the dashboard with one completed request and its node's recent
 * rates (EWMA with the profile's alpha). */
static void dash_record(preq *r, const eco_receipt *rcpt, double total_s, uint32_t ptok,
                        uint32_t otok, double up_s) {
  gw *g = r->g;
  node *n = r->target;
  if (!g->dash || !n) return;
  eco_dash_decision x;
  memset(&x, 0, sizeof x);
  x.t = eco_time_wall_s();
  if (r->rid[0])
    snprintf(x.request_id, sizeof x.request_id, "%s", r->rid);
  else
    snprintf(x.request_id, sizeof x.request_id, "router-%llu", (unsigned long long)++g->req_seq);
  snprintf(x.policy, sizeof x.policy, "%s", eco_policy_name(r->pol.kind));
  snprintf(x.node, sizeof x.node, "%s", n->cfg.id);
  x.latency_ms = total_s * 1e3;
  x.tokens = ptok + otok;
  x.output_tokens = otok;
  bool have = rcpt != NULL;
  if (have) x.receipt = *rcpt;
  x.predicted_g = r->pred.total_g;
  x.counterfactual_g = r->cf_g;
  x.directive_level = r->dlevel;
  (void)eco_dash_record(g->dash, &x);
  double a = g->cfg.alpha > 0 && g->cfg.alpha <= 1 ? g->cfg.alpha : 0.2;
  if (otok > 0 && up_s > 0) {
    double tps = otok / up_s;
    n->d_tps = n->d_tps > 0 ? (1 - a) * n->d_tps + a * tps : tps;
  }
  if (have && otok > 0 && x.receipt.energy_j > 0) {
    double jpt = x.receipt.energy_j / otok;
    n->d_jpt = n->d_jpt > 0 ? (1 - a) * n->d_jpt + a * jpt : jpt;
    n->d_jmeas = !x.receipt.energy_estimated;
    snprintf(n->d_jsrc, sizeof n->d_jsrc, "%s", x.receipt.energy_source);
  }
  dash_node(n);
}

/* Builds usage.carbon.router (and an estimated receipt when the backend
 * sent none), updates profiles, output-length history and stats.
 * usage may be NULL (no usage from the backend): then tokens come from the
 * stream count. Returns the router object (new reference) or NULL. */
static void finish_accounting(preq *r, json_t *usage, uint64_t tend_ns) {
  gw *g = r->g;
  node *n = r->target;
  if (!n) return;
  eco_node_view *v = &g->views[n->idx];
  double total_s = (double)(tend_ns - r->t0_ns) / 1e9;
  double up_s = (double)(tend_ns - r->tdisp_ns) / 1e9;
  double ttft_s = r->tfirst_ns ? (double)(r->tfirst_ns - r->tdisp_ns) / 1e9 : -1;
  uint32_t ptok = r->rr.prompt_tokens, otok = r->stream_tokens;
  if (usage) {
    const json_t *pt = json_object_get(usage, "prompt_tokens");
    const json_t *ct = json_object_get(usage, "completion_tokens");
    if (json_is_integer(pt) && json_integer_value(pt) >= 0) ptok = (uint32_t)json_integer_value(pt);
    if (json_is_integer(ct) && json_integer_value(ct) >= 0) otok = (uint32_t)json_integer_value(ct);
  }
  json_t *carbon = usage ? json_object_get(usage, ECO_USAGE_CARBON) : NULL;
  double meas_g = -1, meas_j = -1;
  eco_receipt rc;
  unsigned have = 0;
  bool got = eco_receipt_from_json(carbon, &rc, &have) == 0;
  if (got) {
    if (have & ECO_RF(total_g)) meas_g = rc.total_g;
    if (have & ECO_RF(energy_j)) meas_j = rc.energy_j;
  } else if (usage) {
    /* Foreign backend: estimate from the profile at the measured tokens. */
    zone_state *z = zone_get(g, n->cfg.zone);
    eco_receipt_in ri = {.intensity_gco2_kwh = v->intensity_gco2_kwh,
                         .intensity_source = z ? z->source : "static",
                         .intensity_estimated = true,
                         .embodied_g_per_s = v->embodied_g_per_s,
                         .reserved_s = up_s,
                         .share = 1.0 / r->pred.batch,
                         .pue = v->pue >= 1 ? v->pue : 1};
    char esrc[40];
    double e = agent_energy_j(n, up_s);
    if (e >= 0) {
      /* measured by the host's agent */
      snprintf(esrc, sizeof esrc, "agent:%s", n->asrc);
      ri.energy_source = esrc;
      ri.energy_estimated = n->aestimated;
      ri.method = "sci-v1.0/router-agent";
      meas_j = e;
    } else {
      ri.energy_source = "model";
      ri.energy_estimated = true;
      ri.method = "sci-v1.0/router-estimate";
      e = eco_profile_energy_j(&v->profile, ptok, otok, r->pred.batch);
    }
    ri.energy_j = e;
    if (eco_receipt_build(&ri, &rc) == 0) {
      got = true;
      carbon = eco_receipt_to_json(&rc);
      if (carbon) json_object_set_new(usage, ECO_USAGE_CARBON, carbon);
      meas_g = rc.total_g;
    }
  }
  bool meets = r->pred.slo_s <= 0 || total_s <= r->pred.slo_s;
  if (json_is_object(carbon)) {
    eco_route_receipt x = {.policy = eco_policy_name(r->pol.kind),
                           .node = n->cfg.id,
                           .zone = n->cfg.zone,
                           .device = v->device,
                           .attempts = r->attempts,
                           .failed_nodes = r->failed,
                           .predicted = {r->pred.latency_s, r->pred.queue_s, r->pred.out_tokens,
                                         r->pred.batch, r->pred.energy_j, r->pred.operational_g,
                                         r->pred.embodied_g, r->pred.total_g},
                           .measured = {total_s, up_s, ttft_s, ptok, otok, meas_g, meas_j},
                           .slo_s = r->pred.slo_s,
                           .slo_met = meets,
                           .slo_predicted_met = r->pred.meets_slo,
                           .slo_fallback = r->pred.slo_fallback,
                           .directive_level = r->dlevel};
    json_t *ro = eco_route_receipt_to_json(&x);
    if (ro) json_object_set_new(carbon, ECO_CARBON_ROUTER, ro);
  }
  /* Online profile update (EWMA, see profile.h). The upstream time includes
   * any queue wait at the node, so ttft is only trusted when the request
   * was predicted to start at once. */
  eco_profile_obs o = {.prompt_tokens = ptok,
                       .out_tokens = otok,
                       .batch = (uint32_t)(r->pred.batch >= 1 ? r->pred.batch : 1),
                       .ttft_s = -1,
                       .decode_s = -1,
                       .energy_j = meas_j};
  if (r->pred.queue_s <= 0) {
    if (r->stream && ttft_s >= 0) {
      o.ttft_s = ttft_s;
      o.decode_s = up_s - ttft_s;
    } else {
      double pre = eco_profile_prefill_s(&v->profile, ptok);
      o.decode_s = up_s > pre ? up_s - pre : 0;
    }
  }
  if (otok > 0 || ptok > 0) (void)eco_profile_observe(&v->profile, &o, g->cfg.alpha);
  eco_outlen_observe(&g->outlen, r->rr.prompt_tokens, otok);
  n->pred_g += r->pred.total_g;
  g->pred_g_sum += r->pred.total_g;
  if (meas_g >= 0) {
    n->meas_g += meas_g;
    g->meas_g_sum += meas_g;
  }
  dash_record(r, got ? &rc : NULL, total_s, ptok, otok, up_s);
}

static void dispatch(preq *r);
static int choose_and_dispatch(preq *r);

/* The upstream attempt failed before any output reached the client:
 * retry elsewhere or answer with an error. */
static void attempt_failed(preq *r, const char *why) {
  gw *g = r->g;
  node *n = r->target;
  if (n) {
    ECO_WARN(&g->log, MOD, "node %s failed (%s), attempt %d", n->cfg.id, why, r->attempts);
    node_request_failed(n);
    if (!r->excluded) r->excluded = calloc(g->cap_nodes, sizeof *r->excluded);
    if (r->excluded) r->excluded[n->idx] = true;
    size_t fl = strlen(r->failed);
    if (fl + strlen(n->cfg.id) + 2 < sizeof r->failed)
      snprintf(r->failed + fl, sizeof r->failed - fl, "%s%s", fl ? "," : "", n->cfg.id);
  }
  target_release(r);
  if (r->ubody) evbuffer_drain(r->ubody, evbuffer_get_length(r->ubody));
  if (r->sse) evbuffer_drain(r->sse, evbuffer_get_length(r->sse));
  r->ustatus = 0;
  r->stream_tokens = 0;
  r->tfirst_ns = 0;
  if (!r->creq) {
    preq_free(r);
    return;
  }
  if (r->output_sent) {
    /* Output already went out: end the stream with an error event. */
    struct evbuffer *b = evbuffer_new();
    if (b) {
      evbuffer_add_printf(b,
                          "data: {\"error\":{\"message\":\"upstream node failed mid-stream: "
                          "%s\",\"type\":\"upstream_error\"}}\n\ndata: [DONE]\n\n",
                          why);
      evhttp_send_reply_chunk(r->creq, b);
      evbuffer_free(b);
    }
    g->stream_errors++;
    struct evhttp_request *c = r->creq;
    client_detach(r);
    evhttp_send_reply_end(c);
    preq_free(r);
    return;
  }
  if (r->attempts >= g->cfg.max_attempts) {
    struct evhttp_request *c = r->creq;
    client_detach(r);
    char msg[512];
    snprintf(msg, sizeof msg, "all %d attempts failed (nodes: %s)", r->attempts, r->failed);
    if (r->reply_started) {
      evhttp_send_reply_end(c);
    } else {
      send_error(g, c, 502, "upstream_error", NULL, msg);
    }
    preq_free(r);
    return;
  }
  g->retries++;
  if (choose_and_dispatch(r) != 0) {
    struct evhttp_request *c = r->creq;
    client_detach(r);
    g->no_node++;
    if (r->reply_started)
      evhttp_send_reply_end(c);
    else
      send_error(g, c, 503, "unavailable", NULL, "no healthy node can take the request");
    preq_free(r);
  }
}

static void start_client_stream(preq *r) {
  if (r->reply_started || !r->creq) return;
  struct evkeyvalq *h = evhttp_request_get_output_headers(r->creq);
  evhttp_add_header(h, "Content-Type", r->uctype[0] ? r->uctype : "text/event-stream");
  evhttp_add_header(h, "Cache-Control", "no-cache");
  add_router_headers(r, h);
  cwatch_stop(r); /* from here on libevent notices a client that leaves (writes fail) */
  evhttp_send_reply_start(r->creq, 200, "OK");
  r->reply_started = true;
  count_code(r->g, 200);
}

static void take_id(preq *r, const char *data, size_t dl);

/* Forwards every complete event in r->sse. */
static void pump_events(preq *r, bool final) {
  struct evbuffer *out = evbuffer_new();
  if (!out) return;
  for (;;) {
    size_t len = evbuffer_get_length(r->sse);
    if (!len) break;
    const char *buf = (const char *)evbuffer_pullup(r->sse, -1);
    size_t el = eco_sse_event_len(buf, len);
    if (!el) {
      if (!final) break;
      el = len; /* trailing bytes without a terminator */
    }
    const char *data = NULL;
    size_t dl = 0;
    eco_sse_kind k = eco_sse_classify(buf, el, &data, &dl);
    if (k == ECO_SSE_DATA) {
      if (!r->tfirst_ns) r->tfirst_ns = eco_time_mono_ns();
      if (!r->rid[0]) take_id(r, data, dl);
      if (eco_sse_has_text(data, dl)) r->stream_tokens++;
      if (eco_sse_has_usage(data, dl)) {
        json_t *j = json_loadb(data, dl, 0, NULL);
        json_t *u = j ? json_object_get(j, "usage") : NULL;
        if (json_is_object(u)) {
          r->saw_usage = true;
          finish_accounting(r, u, eco_time_mono_ns());
          char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(10));
          if (s) {
            evbuffer_add_printf(out, "data: %s\n\n", s);
            free(s);
            json_decref(j);
            evbuffer_drain(r->sse, el);
            continue;
          }
        }
        json_decref(j);
      }
    }
    evbuffer_remove_buffer(r->sse, out, el);
  }
  if (evbuffer_get_length(out) && r->creq) {
    start_client_stream(r);
    r->output_sent = true;
    evhttp_send_reply_chunk(r->creq, out);
  }
  evbuffer_free(out);
}

/* Remembers the response "id" of the first event that has one. */
static void take_id(preq *r, const char *data, size_t dl) {
  json_t *j = json_loadb(data, dl, 0, NULL);
  const char *id = json_string_value(json_object_get(j, "id"));
  if (id) snprintf(r->rid, sizeof r->rid, "%s", id);
  json_decref(j);
}

static bool retryable(int code) { return code == 0 || code == 429 || code >= 500; }

static int on_up_header(struct evhttp_request *req, void *arg) {
  preq *r = arg;
  r->ustatus = evhttp_request_get_response_code(req);
  const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
  snprintf(r->uctype, sizeof r->uctype, "%s", ct ? ct : "");
  return 0;
}

static void on_up_chunk(struct evhttp_request *req, void *arg) {
  preq *r = arg;
  struct evbuffer *in = evhttp_request_get_input_buffer(req);
  if (r->ustatus == 200 && r->stream && strncmp(r->uctype, "text/event-stream", 17) == 0) {
    evbuffer_add_buffer(r->sse, in);
    pump_events(r, false);
  } else {
    if (evbuffer_get_length(r->ubody) + evbuffer_get_length(in) > MAX_BODY) {
      evbuffer_drain(in, evbuffer_get_length(in));
      return;
    }
    evbuffer_add_buffer(r->ubody, in);
  }
}

static void on_up_error(enum evhttp_request_error e, void *arg) {
  (void)e;
  (void)arg;
}

static void pool_put(node *n, struct evhttp_connection *c) {
  if (n->n_idle < POOL_MAX)
    n->idle[n->n_idle++] = c;
  else
    conn_free_later(n->g, c);
}

static void on_up_done(struct evhttp_request *req, void *arg) {
  preq *r = arg;
  gw *g = r->g;
  struct evhttp_connection *uc = r->uconn;
  r->ureq = NULL;
  r->uconn = NULL;
  int code = req ? evhttp_request_get_response_code(req) : 0;
  if (req && code > 0) r->ustatus = code;
  node *n = r->target;
  if (r->abandoned) { /* the client left and we cut the upstream: no retry, no reuse */
    conn_free_later(g, uc);
    target_release(r);
    preq_free(r);
    return;
  }
  if (!req || code == 0) {
    conn_free_later(g, uc);
    attempt_failed(r, "connection error");
    return;
  }
  /* Whatever the chunk callback left (non-chunked bodies arrive here). */
  struct evbuffer *in = evhttp_request_get_input_buffer(req);
  if (evbuffer_get_length(in)) on_up_chunk(req, r);
  if (n)
    pool_put(n, uc);
  else
    conn_free_later(g, uc);
  if (retryable(code) && !r->output_sent) {
    char why[32];
    snprintf(why, sizeof why, "HTTP %d", code);
    attempt_failed(r, why);
    return;
  }
  if (n) node_request_ok(n);
  if (!r->creq) {
    target_release(r);
    preq_free(r);
    return;
  }
  uint64_t tend = eco_time_mono_ns();
  if (r->reply_started) {
    pump_events(r, true);
    if (!r->saw_usage) finish_accounting(r, NULL, tend);
    struct evhttp_request *c = r->creq;
    client_detach(r);
    evhttp_send_reply_end(c);
    target_release(r);
    preq_free(r);
    return;
  }
  /* Buffered answer (non-stream, or a stream request answered with JSON). */
  size_t len = evbuffer_get_length(r->ubody);
  const char *body = len ? (const char *)evbuffer_pullup(r->ubody, -1) : "";
  struct evhttp_request *c = r->creq;
  struct evkeyvalq *h = evhttp_request_get_output_headers(c);
  const struct evkeyvalq *uh = evhttp_request_get_input_headers(req);
  for (const struct evkeyval *kv = uh->tqh_first; kv; kv = kv->next.tqe_next)
    if (strncasecmp(kv->key, ECO_HDR_PREFIX, strlen(ECO_HDR_PREFIX)) == 0)
      evhttp_add_header(h, kv->key, kv->value);
  evhttp_add_header(h, "Content-Type", r->uctype[0] ? r->uctype : "application/json");
  add_router_headers(r, h);
  struct evbuffer *ob = evbuffer_new();
  json_t *j = NULL;
  if (code == 200 && !r->models && r->ustatus == 200) j = json_loadb(body, len, 0, NULL);
  json_t *u = j ? json_object_get(j, "usage") : NULL;
  const char *rid = json_string_value(json_object_get(j, "id"));
  if (!rid) rid = evhttp_find_header(uh, ECO_HDR_REQUEST_ID);
  if (rid) snprintf(r->rid, sizeof r->rid, "%s", rid);
  if (json_is_object(u)) {
    finish_accounting(r, u, tend);
    char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(10));
    if (s && ob) evbuffer_add(ob, s, strlen(s));
    free(s);
  } else {
    if (code == 200 && !r->models) finish_accounting(r, NULL, tend);
    if (ob) evbuffer_add(ob, body, len);
  }
  json_decref(j);
  client_detach(r);
  evhttp_send_reply(c, code, "OK", ob);
  count_code(g, code);
  if (ob) evbuffer_free(ob);
  target_release(r);
  preq_free(r);
}

static struct evhttp_connection *pool_get(node *n) {
  gw *g = n->g;
  if (n->n_idle) return n->idle[--n->n_idle];
  struct evhttp_connection *c =
      evhttp_connection_base_new(g->base, g->dns, n->host, (unsigned short)n->port);
  if (!c) return NULL;
  struct timeval tv = {(time_t)g->cfg.timeout_s,
                       (suseconds_t)((g->cfg.timeout_s - floor(g->cfg.timeout_s)) * 1e6)};
  evhttp_connection_set_timeout_tv(c, &tv);
  evhttp_connection_set_retries(c, 0);
  return c;
}

/* The directive plan on the dashboard: the probability of each level and
 * the quality floor factor at the plan's last intensity (plan.h). */
static void dash_directives(gw *g) {
  if (!g->dash || !g->dir.planned) return;
  size_t n = g->dir.cfg.dcfg.n_levels;
  if (n > 8) n = 8;
  char names[8][8];
  const char *lv[8];
  for (size_t i = 0; i < n; i++) {
    snprintf(names[i], sizeof names[i], "L%zu", i);
    lv[i] = names[i];
  }
  (void)eco_dash_set_directives(g->dash, g->dir.x, lv, n,
                                eco_plan_floor_factor(&g->dir.cfg.plan, g->dir.last_ci));
}

/* Decides the request's directive level (directive_hook.h) at the
 * intensity of the directive zone (default: the first node's). */
static void directive_decide(preq *r, const struct evkeyvalq *ih) {
  gw *g = r->g;
  r->dlevel = -1;
  if (!g->cfg.directive.enabled || r->models) return;
  const char *zn = g->dir.cfg.zone;
  if (!zn[0] && g->n_nodes) zn = g->nodes[0]->cfg.zone;
  zone_state *z = zn[0] ? zone_get(g, zn) : NULL;
  eco_error err = {0};
  if (eco_rdir_update(&g->dir, mono_s(), z ? z->gco2_kwh : -1, &err))
    ECO_WARN(&g->log, MOD, "directive plan: %s (level 0 until the next solve)",
             eco_error_text(&err));
  dash_directives(g);
  const char *opt = evhttp_find_header(ih, ECO_HDR_DIRECTIVE);
  r->dopt_out = eco_directive_opted_out(opt);
  r->dlevel = eco_rdir_draw(&g->dir, r->path, opt);
}

/* Forwards the level: a header for ecoinfer nodes, the instruction in the
 * body for foreign backends (built once, on first need). */
static void directive_forward(preq *r, struct evkeyvalq *h, const char **raw, size_t *raw_len) {
  if (r->dlevel < 0) return;
  if (r->target->cfg.ecoinfer) {
    char v[16];
    snprintf(v, sizeof v, "%d", r->dlevel);
    evhttp_add_header(h, ECO_HDR_DIRECTIVE_LEVEL, v);
    if (r->dopt_out) evhttp_add_header(h, ECO_HDR_DIRECTIVE, "off");
    return;
  }
  eco_error err = {0};
  if (!r->draw && r->dlevel > 0 &&
      eco_rdir_rewrite_body(&r->g->dir.cfg, r->dlevel, r->body, &r->draw, &r->draw_len, &err))
    ECO_WARN(&r->g->log, MOD, "directive: %s (forwarded unchanged)", eco_error_text(&err));
  if (r->draw) {
    *raw = r->draw;
    *raw_len = r->draw_len;
  }
}

/* Sends r to r->target now. */
static void dispatch(preq *r) {
  gw *g = r->g;
  node *n = r->target;
  r->attempts++;
  n->routed++;
  r->tdisp_ns = eco_time_mono_ns();
  struct evhttp_connection *c = pool_get(n);
  struct evhttp_request *u = c ? evhttp_request_new(on_up_done, r) : NULL;
  if (!u) {
    if (c) pool_put(n, c);
    attempt_failed(r, "out of memory");
    return;
  }
  evhttp_request_set_header_cb(u, on_up_header);
  evhttp_request_set_chunked_cb(u, on_up_chunk);
  evhttp_request_set_error_cb(u, on_up_error);
  struct evkeyvalq *h = evhttp_request_get_output_headers(u);
  char hostport[160];
  snprintf(hostport, sizeof hostport, "%s:%d", n->host, n->port);
  evhttp_add_header(h, "Host", hostport);
  if (r->auth[0]) evhttp_add_header(h, "Authorization", r->auth);
  if (!r->models) {
    evhttp_add_header(h, "Content-Type", "application/json");
    const char *raw = r->raw;
    size_t raw_len = r->raw_len;
    directive_forward(r, h, &raw, &raw_len);
    evbuffer_add(evhttp_request_get_output_buffer(u), raw, raw_len);
  }
  r->uconn = c;
  r->ureq = u;
  if (evhttp_make_request(c, u, r->models ? EVHTTP_REQ_GET : EVHTTP_REQ_POST, r->path) != 0) {
    /* libevent freed u */
    r->ureq = NULL;
    r->uconn = NULL;
    conn_free_later(g, c);
    attempt_failed(r, "cannot send");
  }
}

/* ---- batch windows ------------------------------------------------------- */

static void batch_flush(node *n) {
  preq *r = n->bhead;
  n->bhead = n->btail = NULL;
  n->nb = 0;
  if (n->bev) evtimer_del(n->bev);
  while (r) {
    preq *next = r->bnext;
    r->bnext = NULL;
    r->in_batch = false;
    dispatch(r);
    r = next;
  }
}

static void on_batch_timer(evutil_socket_t fd, short ev, void *arg) {
  (void)fd;
  (void)ev;
  batch_flush(arg);
}

static void batch_remove(preq *r) {
  node *n = r->target;
  if (!n || !r->in_batch) return;
  preq **pp = &n->bhead;
  preq *prev = NULL;
  while (*pp && *pp != r) {
    prev = *pp;
    pp = &(*pp)->bnext;
  }
  if (*pp) {
    *pp = r->bnext;
    if (n->btail == r) n->btail = prev;
    n->nb--;
  }
  r->in_batch = false;
}

/* Queues r for its target's batch window, or sends it at once. The wait is
 * at most the window and never past the request's SLO slack. */
static void enqueue(preq *r) {
  gw *g = r->g;
  node *n = r->target;
  double win = g->cfg.batch_window_s;
  if (win <= 0 || g->cfg.batch_max <= 1 || r->attempts > 0) {
    dispatch(r);
    return;
  }
  double slack = r->pred.slo_s > 0 ? r->pred.slo_s - r->pred.latency_s : win;
  if (slack <= 0) {
    dispatch(r);
    return;
  }
  double wait = slack < win ? slack : win;
  r->bnext = NULL;
  r->in_batch = true;
  if (n->btail)
    n->btail->bnext = r;
  else
    n->bhead = r;
  n->btail = r;
  n->nb++;
  eco_node_view *v = &g->views[n->idx];
  uint32_t cap = g->cfg.batch_max;
  uint32_t mb = v->max_batch ? v->max_batch : 1;
  if (cap > mb) cap = mb;
  if (n->nb >= cap) {
    batch_flush(n);
    return;
  }
  double now = mono_s();
  if (!n->bev) n->bev = evtimer_new(g->base, on_batch_timer, n);
  if (!n->bev) {
    batch_flush(n);
    return;
  }
  if (n->nb == 1 || now + wait < n->bdeadline_s) {
    n->bdeadline_s = now + wait;
    struct timeval tv = {(time_t)wait, (suseconds_t)((wait - floor(wait)) * 1e6)};
    evtimer_add(n->bev, &tv);
  }
}

/* ---- routing -------------------------------------------------------------- */

static int choose_and_dispatch(preq *r) {
  gw *g = r->g;
  if (g->n_nodes == 0) return ECO_ENOENT;
  double now = mono_s();
  views_refresh(g, now);
  r->rr.excluded = r->excluded;
  if (!r->models)
    r->rr.expected_out_tokens =
        eco_outlen_predict(&g->outlen, r->rr.prompt_tokens, r->rr.max_tokens);
  uint64_t t0 = eco_time_mono_ns();
  int rc = eco_policy_choose(&r->pol, &r->rr, g->views, g->n_nodes, &r->pred);
  g->decision_s_sum += (double)(eco_time_mono_ns() - t0) / 1e9;
  g->decisions++;
  if (rc != 0) {
    /* No eligible node: try the ones whose circuit is open, best effort. */
    if (rc != ECO_ENOENT) return rc;
    bool any = false;
    for (size_t i = 0; i < g->n_nodes; i++) {
      if (g->views[i].circuit_open && g->views[i].health != ECO_NODE_DOWN &&
          !(r->excluded && r->excluded[i])) {
        g->views[i].circuit_open = false;
        any = true;
      }
    }
    if (!any) return rc;
    rc = eco_policy_choose(&r->pol, &r->rr, g->views, g->n_nodes, &r->pred);
    if (rc != 0) return rc;
  }
  if (!r->models && g->dash) r->cf_g = eco_dash_counterfactual_g(&r->rr, g->views, g->n_nodes);
  if (!r->models && r->pol.kind == ECO_POLICY_ROUND_ROBIN &&
      r->pol.rr_cursor == g->policy.rr_cursor)
    g->policy.rr_cursor = r->pred.rr_next;
  r->target = g->nodes[r->pred.node];
  r->target->inflight++;
  eco_batch_api_interactive(g->batch, r->target->cfg.url, +1);
  if (r->attempts == 0)
    enqueue(r);
  else
    dispatch(r);
  return 0;
}

/* Shuts the upstream socket down when an attempt is in flight: the node
 * sees its client leave and cancels the generation (an ecoinfer node frees
 * the batch slot at once), and libevent fails the request through its usual
 * path, which frees it and calls on_up_done, where the abandoned request is
 * freed. (evhttp_cancel_request, or freeing the connection, leaked a
 * libevent request object under ASan with libevent 2.1.12.) */
static void upstream_abandon(preq *r) {
  if (!r->ureq || !r->uconn || r->abandoned) return;
  struct bufferevent *bev = evhttp_connection_get_bufferevent(r->uconn);
  const evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
  if (fd < 0) return;
  r->abandoned = true;
  r->g->upstream_cancelled++;
  shutdown(fd, SHUT_RDWR);
}

/* The client of r is gone (r->creq already NULL): a request waiting in a
 * batch window is dropped now; with an upstream attempt in flight the
 * node's work is cut (on_up_done frees r); otherwise the request runs its
 * course and is freed when its answer finds no client. */
static void client_gone_cleanup(preq *r) {
  if (r->in_batch) {
    batch_remove(r);
    target_release(r);
    preq_free(r);
    return;
  }
  upstream_abandon(r);
}

static void on_client_close(struct evhttp_connection *c, void *arg) {
  (void)c;
  preq *r = arg;
  gw *g = r->g;
  g->client_gone++;
  cwatch_stop(r); /* its socket is about to be closed */
  /* A client that left before its answer: libevent detaches the request
   * from the connection and leaves it to us (evhttp_connection_incoming_fail
   * on EOF); a request still attached is freed by libevent after this
   * callback. */
  if (r->creq && !evhttp_request_get_connection(r->creq)) evhttp_request_free(r->creq);
  r->creq = NULL;
  r->cconn = NULL;
  client_gone_cleanup(r);
}

/* A client that leaves while its answer is generated is not reported by
 * libevent 2.1 until the router writes to it. Until the answer starts, the
 * client socket is watched for end of file; on EOF the router answers (to
 * nobody: libevent then frees the request) and cuts the upstream request. */
static void on_client_readable(evutil_socket_t fd, short ev, void *arg) {
  (void)ev;
  preq *r = arg;
  char c;
  const ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  cwatch_stop(r);
  if (n > 0 || !r->creq) return; /* a pipelined request: stop watching, nothing lost */
  gw *g = r->g;
  g->client_gone++;
  struct evhttp_request *creq = r->creq;
  client_detach(r);
  evhttp_send_error(creq, 499, "client closed request");
  client_gone_cleanup(r);
}

static void cwatch_start(preq *r) {
  struct bufferevent *bev = r->cconn ? evhttp_connection_get_bufferevent(r->cconn) : NULL;
  const evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
  if (fd < 0) return;
  r->cwatch = event_new(r->g->base, fd, EV_READ | EV_PERSIST, on_client_readable, r);
  if (r->cwatch && event_add(r->cwatch, NULL) != 0) cwatch_stop(r);
}

static const char *method_of(struct evhttp_request *req) {
  switch (evhttp_request_get_command(req)) {
  case EVHTTP_REQ_GET: return "GET";
  case EVHTTP_REQ_POST: return "POST";
  case EVHTTP_REQ_PUT: return "PUT";
  default: return "OTHER";
  }
}

static void handle_proxy(gw *g, struct evhttp_request *req, const char *path, bool models) {
  preq *r = calloc(1, sizeof *r);
  if (!r) {
    send_error(g, req, 500, "server_error", NULL, "out of memory");
    return;
  }
  r->g = g;
  r->t0_ns = eco_time_mono_ns();
  r->models = models;
  snprintf(r->path, sizeof r->path, "%s", path);
  r->pol = g->policy;
  r->pol.default_slo_s = g->cfg.default_slo_s;
  r->ubody = evbuffer_new();
  r->sse = evbuffer_new();
  if (!r->ubody || !r->sse) {
    send_error(g, req, 500, "server_error", NULL, "out of memory");
    preq_free(r);
    return;
  }
  const struct evkeyvalq *ih = evhttp_request_get_input_headers(req);
  const char *auth = evhttp_find_header(ih, "Authorization");
  if (auth) snprintf(r->auth, sizeof r->auth, "%s", auth);
  const char *ph = evhttp_find_header(ih, ECO_HDR_POLICY);
  if (ph && eco_policy_parse(ph, &r->pol.kind) != 0) {
    send_error(g, req, 400, "invalid_request_error", ECO_HDR_POLICY,
               "unknown policy (round-robin, greedy, carbon, latency, slo-carbon)");
    preq_free(r);
    return;
  }
  const char *sh = evhttp_find_header(ih, ECO_HDR_SLO_MS);
  if (sh) {
    char *e;
    double ms = strtod(sh, &e);
    if (e == sh || *e || !(ms > 0) || !isfinite(ms)) {
      send_error(g, req, 400, "invalid_request_error", ECO_HDR_SLO_MS,
                 ECO_HDR_SLO_MS " must be a positive number of milliseconds");
      preq_free(r);
      return;
    }
    r->rr.slo_s = ms / 1e3;
  }
  if (!models) {
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    if (len > MAX_BODY) {
      send_error(g, req, 413, "invalid_request_error", NULL, "request body too large");
      preq_free(r);
      return;
    }
    r->raw = malloc(len + 1);
    if (!r->raw) {
      send_error(g, req, 500, "server_error", NULL, "out of memory");
      preq_free(r);
      return;
    }
    evbuffer_copyout(in, r->raw, len);
    r->raw[len] = '\0';
    r->raw_len = len;
    json_error_t je;
    r->body = json_loadb(r->raw, len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(r->body)) {
      char msg[256];
      snprintf(msg, sizeof msg, "request body is not a JSON object: %s", je.text);
      send_error(g, req, 400, "invalid_request_error", NULL, msg);
      preq_free(r);
      return;
    }
    r->stream = json_is_true(json_object_get(r->body, "stream"));
    r->rr.prompt_tokens = eco_router_estimate_prompt_tokens(r->body);
    json_t *mt = json_object_get(r->body, "max_tokens");
    if (!mt) mt = json_object_get(r->body, "max_completion_tokens");
    if (json_is_integer(mt) && json_integer_value(mt) > 0)
      r->rr.max_tokens =
          (uint32_t)(json_integer_value(mt) > UINT32_MAX ? UINT32_MAX : json_integer_value(mt));
  } else {
    /* /v1/models: any node will do, in turn. */
    r->pol.kind = ECO_POLICY_ROUND_ROBIN;
    r->pol.rr_cursor = g->models_rr++;
  }
  directive_decide(r, ih);
  r->creq = req;
  r->cconn = evhttp_request_get_connection(req);
  evhttp_connection_set_closecb(r->cconn, on_client_close, r);
  cwatch_start(r);
  if (choose_and_dispatch(r) != 0) {
    client_detach(r);
    g->no_node++;
    send_error(g, req, 503, "unavailable", NULL, "no healthy node can take the request");
    preq_free(r);
  }
}

static void handle_metrics(gw *g, struct evhttp_request *req) {
  struct evbuffer *b = evbuffer_new();
  if (!b) return;
  evbuffer_add_printf(b, "# HELP ecoinfer_router_requests_total Requests answered, by status "
                         "class.\n# TYPE ecoinfer_router_requests_total counter\n");
  static const char *const cls[6] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
  for (int i = 0; i < 6; i++)
    evbuffer_add_printf(b, "ecoinfer_router_requests_total{code=\"%s\"} %llu\n", cls[i],
                        (unsigned long long)g->req_by_code[i]);
  evbuffer_add_printf(b,
                      "# HELP ecoinfer_router_retries_total Upstream attempts retried on another "
                      "node.\n# TYPE ecoinfer_router_retries_total counter\n"
                      "ecoinfer_router_retries_total %llu\n"
                      "# HELP ecoinfer_router_stream_errors_total Streams ended with an error "
                      "event after output was sent.\n# TYPE ecoinfer_router_stream_errors_total "
                      "counter\necoinfer_router_stream_errors_total %llu\n"
                      "# HELP ecoinfer_router_decisions_total Routing decisions.\n"
                      "# TYPE ecoinfer_router_decisions_total counter\n"
                      "ecoinfer_router_decisions_total %llu\n"
                      "# HELP ecoinfer_router_decision_seconds_total Time spent in policy "
                      "decisions.\n# TYPE ecoinfer_router_decision_seconds_total counter\n"
                      "ecoinfer_router_decision_seconds_total %.9f\n"
                      "# HELP ecoinfer_router_predicted_gco2_total Predicted gCO2e of routed "
                      "requests.\n# TYPE ecoinfer_router_predicted_gco2_total counter\n"
                      "ecoinfer_router_predicted_gco2_total %.9g\n"
                      "# HELP ecoinfer_router_measured_gco2_total gCO2e from receipts.\n"
                      "# TYPE ecoinfer_router_measured_gco2_total counter\n"
                      "ecoinfer_router_measured_gco2_total %.9g\n",
                      (unsigned long long)g->retries, (unsigned long long)g->stream_errors,
                      (unsigned long long)g->decisions, g->decision_s_sum, g->pred_g_sum,
                      g->meas_g_sum);
  evbuffer_add_printf(b,
                      "# HELP ecoinfer_router_client_disconnects_total Clients that left before "
                      "their answer was complete.\n"
                      "# TYPE ecoinfer_router_client_disconnects_total counter\n"
                      "ecoinfer_router_client_disconnects_total %llu\n"
                      "# HELP ecoinfer_router_upstream_cancelled_total Upstream requests cut "
                      "because their client left (the node stops generating).\n"
                      "# TYPE ecoinfer_router_upstream_cancelled_total counter\n"
                      "ecoinfer_router_upstream_cancelled_total %llu\n",
                      (unsigned long long)g->client_gone,
                      (unsigned long long)g->upstream_cancelled);
  evbuffer_add_printf(b, "# HELP ecoinfer_router_node_up 1 if the node passes health checks.\n"
                         "# TYPE ecoinfer_router_node_up gauge\n");
  for (size_t i = 0; i < g->n_nodes; i++)
    evbuffer_add_printf(b, "ecoinfer_router_node_up{node=\"%s\",zone=\"%s\"} %d\n",
                        g->nodes[i]->cfg.id, g->nodes[i]->cfg.zone,
                        g->views[i].health == ECO_NODE_UP ? 1 : 0);
  evbuffer_add_printf(b, "# HELP ecoinfer_router_node_inflight Requests in flight per node.\n"
                         "# TYPE ecoinfer_router_node_inflight gauge\n");
  for (size_t i = 0; i < g->n_nodes; i++)
    evbuffer_add_printf(b, "ecoinfer_router_node_inflight{node=\"%s\"} %u\n", g->nodes[i]->cfg.id,
                        g->nodes[i]->inflight);
  evbuffer_add_printf(b, "# HELP ecoinfer_router_node_routed_total Upstream attempts per node.\n"
                         "# TYPE ecoinfer_router_node_routed_total counter\n");
  for (size_t i = 0; i < g->n_nodes; i++)
    evbuffer_add_printf(b, "ecoinfer_router_node_routed_total{node=\"%s\"} %llu\n",
                        g->nodes[i]->cfg.id, (unsigned long long)g->nodes[i]->routed);
  evbuffer_add_printf(b, "# HELP ecoinfer_router_node_failures_total Failed upstream attempts.\n"
                         "# TYPE ecoinfer_router_node_failures_total counter\n");
  for (size_t i = 0; i < g->n_nodes; i++)
    evbuffer_add_printf(b, "ecoinfer_router_node_failures_total{node=\"%s\"} %llu\n",
                        g->nodes[i]->cfg.id, (unsigned long long)g->nodes[i]->failures);
  evbuffer_add_printf(b, "# HELP ecoinfer_router_zone_intensity_gco2_per_kwh Grid intensity "
                         "used per zone.\n# TYPE ecoinfer_router_zone_intensity_gco2_per_kwh "
                         "gauge\n");
  for (size_t i = 0; i < g->n_zones; i++)
    evbuffer_add_printf(b, "ecoinfer_router_zone_intensity_gco2_per_kwh{zone=\"%s\"} %.6g\n",
                        g->zones[i].zone, g->zones[i].gco2_kwh);
  evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                    "text/plain; version=0.0.4");
  evhttp_send_reply(req, 200, "OK", b);
  count_code(g, 200);
  evbuffer_free(b);
}

static void on_public(struct evhttp_request *req, void *arg) {
  gw *g = arg;
  const char *uri = evhttp_request_get_uri(req);
  char path[128];
  size_t pl = strcspn(uri, "?");
  if (pl >= sizeof path) pl = sizeof path - 1;
  memcpy(path, uri, pl);
  path[pl] = '\0';
  const char *m = method_of(req);
  int code;
  if (strcmp(path, "/v1/chat/completions") == 0 || strcmp(path, "/v1/completions") == 0) {
    if (strcmp(m, "POST") != 0) {
      send_error(g, req, 405, "invalid_request_error", NULL, "use POST");
      return;
    }
    handle_proxy(g, req, path, false);
  } else if (strcmp(path, "/v1/models") == 0 && strcmp(m, "GET") == 0) {
    handle_proxy(g, req, path, true);
  } else if (strcmp(path, "/health") == 0) {
    size_t up = 0;
    for (size_t i = 0; i < g->n_nodes; i++)
      if (g->views[i].health != ECO_NODE_DOWN && !g->nodes[i]->removed) up++;
    char buf[128];
    snprintf(buf, sizeof buf, "{\"status\":\"%s\",\"nodes\":%zu,\"nodes_up\":%zu}",
             up ? "ok" : "degraded", g->n_nodes, up);
    send_json(g, req, 200, "OK", buf);
  } else if (strcmp(path, "/metrics") == 0) {
    handle_metrics(g, req);
  } else if ((code = eco_batch_api_handle(g->batch, req, path)) != 0) {
    count_code(g, code);
  } else {
    send_error(g, req, 404, "not_found", NULL, "no such endpoint");
  }
}

/* ---- admin ----------------------------------------------------------------- */

static bool admin_auth(gw *g, struct evhttp_request *req) {
  if (!g->cfg.admin_token[0]) return true;
  const char *a = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
  if (!a || strncmp(a, "Bearer ", 7) != 0) return false;
  const char *t = a + 7, *want = g->cfg.admin_token;
  size_t tl = strlen(t), wl = strlen(want);
  unsigned diff = (unsigned)(tl ^ wl);
  for (size_t i = 0; i < wl; i++)
    diff |= (unsigned)(want[i] ^ (i < tl ? t[i] : 0));
  return diff == 0;
}

static json_t *body_json(struct evhttp_request *req) {
  struct evbuffer *in = evhttp_request_get_input_buffer(req);
  size_t len = evbuffer_get_length(in);
  if (len == 0 || len > 65536) return NULL;
  return json_loadb((const char *)evbuffer_pullup(in, -1), len, 0, NULL);
}

static void admin_nodes(gw *g, struct evhttp_request *req) {
  json_t *arr = json_array();
  double now = mono_s();
  views_refresh(g, now);
  for (size_t i = 0; arr && i < g->n_nodes; i++) {
    node *n = g->nodes[i];
    const eco_node_view *v = &g->views[i];
    static const char *const hs[] = {"up", "degraded", "down"};
    json_array_append_new(
        arr,
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:f,s:f,s:i,s:i,s:i,s:i,s:s,s:b,s:b,s:I,s:I,"
                  "s:{s:f,s:f,s:f,s:f,s:f,s:f,s:i}}",
                  "id", v->id, "url", n->cfg.url, "device", v->device, "zone", v->zone, "labels",
                  n->cfg.labels, "intensity_gco2_kwh", v->intensity_gco2_kwh, "embodied_g_per_s",
                  v->embodied_g_per_s, "inflight", (int)n->inflight, "queue_depth",
                  (int)v->queue_depth, "active_batch", (int)v->active_batch, "max_batch",
                  (int)v->max_batch, "health", hs[v->health], "circuit_open", v->circuit_open,
                  "removed", n->removed, "routed", (json_int_t)n->routed, "failures",
                  (json_int_t)n->failures, "profile", "overhead_s", v->profile.overhead_s,
                  "prefill_s_per_tok", v->profile.prefill_s_per_tok, "decode_s_per_tok",
                  v->profile.decode_s_per_tok, "prefill_j_per_tok", v->profile.prefill_j_per_tok,
                  "decode_j_per_tok", v->profile.decode_j_per_tok, "service_s",
                  v->profile.service_s, "n_obs", (int)v->profile.n_obs));
  }
  json_t *o = json_pack("{s:s,s:o}", "policy", eco_policy_name(g->policy.kind), "nodes",
                        arr ? arr : json_array());
  char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
  send_json(g, req, 200, "OK", s ? s : "{}");
  free(s);
  json_decref(o);
}

static void on_admin(struct evhttp_request *req, void *arg) {
  gw *g = arg;
  if (!admin_auth(g, req)) {
    send_error(g, req, 401, "authentication_error", NULL, "admin token required");
    return;
  }
  const char *uri = evhttp_request_get_uri(req);
  const char *m = method_of(req);
  bool write = strcmp(m, "PUT") == 0 || strcmp(m, "POST") == 0;
  if (strncmp(uri, "/admin/policy", 13) == 0 && (uri[13] == '\0' || uri[13] == '?')) {
    if (write) {
      json_t *j = body_json(req);
      const char *name = json_string_value(json_object_get(j, "policy"));
      eco_policy_kind k;
      if (!name || eco_policy_parse(name, &k) != 0) {
        json_decref(j);
        send_error(g, req, 400, "invalid_request_error", "policy",
                   "body must be {\"policy\": round-robin|greedy|carbon|latency|slo-carbon}");
        return;
      }
      g->policy.kind = k;
      json_t *slo = json_object_get(j, "slo_ms");
      if (json_is_number(slo) && json_number_value(slo) >= 0)
        g->cfg.default_slo_s = json_number_value(slo) / 1e3;
      json_decref(j);
      ECO_INFO(&g->log, MOD, "policy set to %s", eco_policy_name(k));
    }
    char buf[128];
    snprintf(buf, sizeof buf, "{\"policy\":\"%s\",\"slo_ms\":%.3f}",
             eco_policy_name(g->policy.kind), g->cfg.default_slo_s * 1e3);
    send_json(g, req, 200, "OK", buf);
  } else if (strcmp(uri, "/admin/nodes") == 0) {
    admin_nodes(g, req);
  } else if (strcmp(uri, "/admin/intensity") == 0 && write) {
    json_t *j = body_json(req);
    const char *zone = json_string_value(json_object_get(j, "zone"));
    json_t *v = json_object_get(j, "gco2_kwh");
    zone_state *z = zone ? zone_get(g, zone) : NULL;
    if (!z || !(json_is_number(v) || json_is_null(v)) ||
        (json_is_number(v) && !(json_number_value(v) >= 0))) {
      json_decref(j);
      send_error(g, req, 400, "invalid_request_error", "zone",
                 "body must be {\"zone\": Z, \"gco2_kwh\": number >= 0 or null}");
      return;
    }
    if (json_is_null(v)) {
      z->override = false;
    } else {
      z->override = true;
      z->gco2_kwh = json_number_value(v);
      snprintf(z->source, sizeof z->source, "admin");
      z->estimated = false;
    }
    json_decref(j);
    zones_refresh(g);
    send_json(g, req, 200, "OK", "{\"ok\":true}");
  } else {
    send_error(g, req, 404, "not_found", NULL, "no such admin endpoint");
  }
}

/* ---- construction ---------------------------------------------------------- */

static void on_wake(evutil_socket_t fd, short ev, void *arg) {
  (void)fd;
  (void)ev;
  event_base_loopbreak(arg);
}

static int bind_port(struct evhttp *h, const char *host, int port, int *out, eco_error *err) {
  struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(h, host, (ev_uint16_t)port);
  if (!bs) return eco_error_set(err, ECO_ENET, "cannot listen on %s:%d", host, port);
  evutil_socket_t fd = evhttp_bound_socket_get_fd(bs);
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t sl = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
    return eco_error_set(err, ECO_ENET, "getsockname failed");
  *out = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  return 0;
}

int eco_router_new(const eco_router_cfg *cfg, const eco_logger *log, eco_router **out,
                   eco_error *err) {
  if (!cfg || !out) return eco_error_set(err, ECO_EINVAL, "router: NULL argument");
  *out = NULL;
  int rc = 0;
  evthread_use_pthreads();
  gw *g = calloc(1, sizeof *g);
  if (!g) return ECO_ENOMEM;
  g->cfg = *cfg;
  g->cfg.zones = NULL;
  g->cfg.nodes = NULL;
  g->cfg.dns = NULL;
  g->cfg.n_zones = g->cfg.n_nodes = g->cfg.n_dns = 0;
  if (cfg->n_zones) {
    g->cfg.zones = calloc(cfg->n_zones, sizeof *g->cfg.zones);
    if (!g->cfg.zones) goto oom;
    memcpy(g->cfg.zones, cfg->zones, cfg->n_zones * sizeof *cfg->zones);
    g->cfg.n_zones = cfg->n_zones;
  }
  if (cfg->n_dns) {
    g->cfg.dns = calloc(cfg->n_dns, sizeof *g->cfg.dns);
    if (!g->cfg.dns) goto oom;
    memcpy(g->cfg.dns, cfg->dns, cfg->n_dns * sizeof *cfg->dns);
    g->cfg.n_dns = cfg->n_dns;
  }
  if (log)
    g->log = *log;
  else
    eco_log_init(&g->log);
  g->policy.kind = cfg->policy;
  g->outlen.alpha = cfg->alpha;
  eco_rdir_init(&g->dir, &cfg->directive);
  g->cap_nodes = cfg->max_nodes > cfg->n_nodes ? cfg->max_nodes : cfg->n_nodes;
  if (g->cap_nodes == 0) g->cap_nodes = 1;
  g->nodes = calloc(g->cap_nodes, sizeof *g->nodes);
  g->views = calloc(g->cap_nodes, sizeof *g->views);
  if (!g->nodes || !g->views) goto oom;
  /* The changelist coalesces the many event add/del calls evhttp makes per
   * request into one epoll_ctl per fd and loop iteration. */
  struct event_config *ec = event_config_new();
  if (ec) event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
  g->base = ec ? event_base_new_with_config(ec) : NULL;
  if (ec) event_config_free(ec);
  if (!g->base) g->base = event_base_new();
  if (!g->base) goto oom;
  g->dns = evdns_base_new(g->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
  if (!g->dns) g->dns = evdns_base_new(g->base, 0);
  if (g->dns) evdns_base_load_hosts(g->dns, NULL);
  if ((rc = intensity_init(g, err))) goto fail;
  for (size_t i = 0; i < cfg->n_nodes; i++) {
    if (!node_add(g, &cfg->nodes[i], -1, err)) {
      rc = err && err->code ? err->code : ECO_ENOMEM;
      goto fail;
    }
  }
  if (cfg->batch_api.db_path[0] && (rc = eco_batch_api_new(cfg, &g->log, &g->batch, err)))
    goto fail;
  g->http = evhttp_new(g->base);
  if (!g->http) goto oom;
  evhttp_set_allowed_methods(g->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                          EVHTTP_REQ_HEAD | EVHTTP_REQ_OPTIONS);
  evhttp_set_max_body_size(g->http, MAX_BODY);
  evhttp_set_max_headers_size(g->http, 64 * 1024);
  evhttp_set_gencb(g->http, on_public, g);
  if ((rc = bind_port(g->http, cfg->host, cfg->port, &g->port, err))) goto fail;
  /* exact paths (evhttp_set_cb) take precedence over on_public */
  if (eco_dash_new("router", &g->dash) != 0) goto oom;
  if ((rc = eco_dash_attach(g->dash, g->base, g->http, "/dashboard", 1.0)) != 0) {
    rc = eco_error_set(err, rc, "router: cannot attach the dashboard");
    goto fail;
  }
  if (cfg->admin_port >= 0) {
    g->admin = evhttp_new(g->base);
    if (!g->admin) goto oom;
    evhttp_set_allowed_methods(g->admin, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT);
    evhttp_set_max_body_size(g->admin, 65536);
    evhttp_set_gencb(g->admin, on_admin, g);
    if ((rc = bind_port(g->admin, cfg->admin_host, cfg->admin_port, &g->admin_port, err)))
      goto fail;
  } else {
    g->admin_port = -1;
  }
  g->wake = event_new(g->base, -1, 0, on_wake, g->base);
  g->zone_ev = event_new(g->base, -1, EV_PERSIST, on_zone_timer, g);
  if (!g->wake || !g->zone_ev) goto oom;
  double zr = cfg->intensity_refresh_s > 0.01 ? cfg->intensity_refresh_s : 0.01;
  struct timeval ztv = {(time_t)zr, (suseconds_t)((zr - floor(zr)) * 1e6)};
  evtimer_add(g->zone_ev, &ztv);
  zones_refresh(g);
  if (cfg->n_dns && g->dns) {
    double di = cfg->dns[0].interval_s;
    for (size_t i = 1; i < cfg->n_dns; i++)
      if (cfg->dns[i].interval_s < di) di = cfg->dns[i].interval_s;
    g->dns_ev = event_new(g->base, -1, EV_PERSIST, on_dns_timer, g);
    if (!g->dns_ev) goto oom;
    struct timeval dtv = {(time_t)di, (suseconds_t)((di - floor(di)) * 1e6)};
    evtimer_add(g->dns_ev, &dtv);
    dns_resolve_all(g);
  }
  *out = (eco_router *)g;
  return 0;
oom:
  rc = eco_error_set(err, ECO_ENOMEM, "router: out of memory");
fail:
  eco_router_free((eco_router *)g);
  return rc ? rc : ECO_ENOMEM;
}

int eco_router_run(eco_router *r) {
  gw *g = (gw *)r;
  if (!g) return ECO_EINVAL;
  int rc = event_base_dispatch(g->base) < 0 ? ECO_EIO : 0;
  if (g->cfg.directive.enabled) eco_rdir_thread_done(); /* plans were solved on this thread */
  return rc;
}

void eco_router_stop(eco_router *r) {
  gw *g = (gw *)r;
  if (g && g->wake) event_active(g->wake, EV_READ, 0);
}

int eco_router_port(const eco_router *r) { return ((const gw *)r)->port; }
int eco_router_admin_port(const eco_router *r) { return ((const gw *)r)->admin_port; }

void eco_router_free(eco_router *r) {
  gw *g = (gw *)r;
  if (!g) return;
  if (g->http) evhttp_free(g->http);
  if (g->admin) evhttp_free(g->admin);
  eco_batch_api_free(g->batch);
  /* run pending deferred connection frees */
  if (g->base) event_base_loop(g->base, EVLOOP_NONBLOCK);
  for (size_t i = 0; i < g->n_nodes; i++)
    node_free(g->nodes[i]);
  eco_dash_free(g->dash); /* after its listener and the last callbacks that feed it */
  if (g->wake) event_free(g->wake);
  if (g->zone_ev) event_free(g->zone_ev);
  if (g->dns_ev) event_free(g->dns_ev);
  if (g->dns) evdns_base_free(g->dns, 0);
  if (!g->prov_borrowed) eco_intensity_free(g->prov);
  eco_intensity_free(g->fallback);
  if (g->base) event_base_free(g->base);
  free(g->nodes);
  free(g->views);
  free(g->cfg.zones);
  free(g->cfg.dns);
  free(g);
}
