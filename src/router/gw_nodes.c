/* ecoinfer router: nodes, health checks, circuit breakers, agent polling and
 * DNS discovery (see gw_internal.h). */
#include "router/gw_internal.h"

#include "dashboard/dash_feed.h"

#include <event2/buffer.h>
#include <event2/dns.h>
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void schedule_health(node *n, double delay_s);
static void on_health_timer(evutil_socket_t fd, short ev, void *arg);

static void free_conn_cb(evutil_socket_t fd, short ev, void *arg) {
  (void)fd;
  (void)ev;
  evhttp_connection_free(arg);
}

void gw_conn_free_later(gw *g, struct evhttp_connection *c) {
  struct timeval tv = {0, 0};
  if (event_base_once(g->base, -1, EV_TIMEOUT, free_conn_cb, c, &tv) != 0)
    evhttp_connection_free(c);
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

node *gw_node_add(gw *g, const eco_router_node_cfg *c, int dns_src, eco_error *err) {
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
  n->max_body = c->max_body_bytes;
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
  zone_state *z = gw_zone_get(g, c->zone);
  if (z) {
    if (z->gco2_kwh < 0) gw_zone_refresh_one(g, z);
    v->intensity_gco2_kwh = z->gco2_kwh >= 0 ? z->gco2_kwh : 0;
  }
  schedule_health(n, 0);
  return n;
}

void gw_node_free(node *n) {
  for (size_t i = 0; i < n->n_idle; i++)
    evhttp_connection_free(n->idle[i]);
  free(n->idle);
  if (n->hconn) evhttp_connection_free(n->hconn);
  if (n->aconn) evhttp_connection_free(n->aconn);
  if (n->lconn) evhttp_connection_free(n->lconn);
  if (n->hev) event_free(n->hev);
  if (n->bev) event_free(n->bev);
  free(n);
}

/* Refreshes the dynamic fields of every view before a decision. */
void gw_views_refresh(gw *g, double now) {
  for (size_t i = 0; i < g->n_nodes; i++) {
    node *n = g->nodes[i];
    eco_node_view *v = &g->views[i];
    gw_engine_apply(n, now);
    eco_route_merge_load(n->inflight, v->max_batch, n->rep_active, n->rep_queue,
                         n->done_total - n->done_at_report, &v->active_batch, &v->queue_depth);
    v->circuit_open = n->open_until_s > now;
    if (n->removed) v->health = ECO_NODE_DOWN;
  }
}

/* ---- circuit breaker ------------------------------------------------------ */

void gw_node_request_failed(node *n) {
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

void gw_node_request_ok(node *n) {
  n->ok++;
  n->cfail = 0;
  n->open_until_s = 0;
}

/* Pushes n to the dashboard: power from the agent when it has fresh
 * readings (labelled with its meter), else estimated from tokens/s. */
void gw_dash_node(node *n) {
  gw *g = n->g;
  if (!g->dash) return;
  gw_views_refresh(g, mono_s());
  double aw = gw_agent_power_w(n);
  eco_dash_node_facts f = {.tokens_per_s = n->d_tps,
                           .power_w = aw,
                           .power_measured = aw >= 0 && !n->aestimated && (!n->cfg.gpu || n->agpu),
                           .j_per_token = n->d_jpt,
                           .energy_measured = n->d_jmeas,
                           .energy_source = n->d_jsrc};
  (void)eco_dash_feed_node(g->dash, &g->views[n->idx], &f);
}

/* ---- health checks and agent polling ---------------------------------------- */

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
  x = json_object_get(j, "max_body_bytes");
  if (json_is_integer(x) && json_integer_value(x) > 0 && !n->cfg.max_body_bytes)
    n->max_body = (uint64_t)json_integer_value(x);
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
    zone_state *z = gw_zone_get(g, zone);
    if (z) {
      if (z->gco2_kwh < 0) gw_zone_refresh_one(g, z);
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
      gw_conn_free_later(g, n->hconn);
      n->hconn = NULL;
    }
  }
  gw_dash_node(n);
}

/* Keeps the selected meters' total (the node's meter: spec, agent_pick.h)
 * in the ring of readings. A reading that cannot be used (a meter the
 * agent does not serve, overlapping meters) empties the ring, so the
 * profile estimate applies, and says why in /admin/nodes. */
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
  const json_t *t = json_object_get(j, "time_s");
  eco_agent_pick pk;
  char why[160] = "";
  if (!j) {
    if (n->aconn) {
      gw_conn_free_later(g, n->aconn);
      n->aconn = NULL;
    }
  } else if (!json_is_number(t)) {
    snprintf(why, sizeof why, "agent answer has no time_s");
  } else if (eco_agent_pick_meters(j, n->cfg.meter, &pk, why, sizeof why) == 0) {
    double tj = pk.joules, ts = json_number_value(t);
    if (n->an > 0 && (tj < n->aj[n->an - 1] || ts <= n->at[n->an - 1] || strcmp(pk.ids, n->aids)))
      n->an = 0; /* agent restarted, or other meters */
    if (n->an == AGENT_RING) {
      memmove(n->aj, n->aj + 1, (AGENT_RING - 1) * sizeof n->aj[0]);
      memmove(n->at, n->at + 1, (AGENT_RING - 1) * sizeof n->at[0]);
      n->an--;
    }
    n->aj[n->an] = tj;
    n->at[n->an] = ts;
    n->an++;
    n->arecv_s = mono_s();
    snprintf(n->asrc, sizeof n->asrc, "%s", pk.source);
    snprintf(n->arails, sizeof n->arails, "%s", pk.rails);
    snprintf(n->aids, sizeof n->aids, "%s", pk.ids);
    n->aestimated = pk.estimated;
    n->agpu = pk.covers_gpu;
  }
  if (why[0]) {
    if (strcmp(why, n->awhy) != 0)
      ECO_WARN(&g->log, MOD, "node %s: agent %s: %s (the profile estimate applies)", n->cfg.id,
               n->cfg.agent_url, why);
    n->an = 0;
  }
  snprintf(n->awhy, sizeof n->awhy, "%s", why);
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
double gw_agent_power_w(const node *n) {
  if (n->an < 2 || n->at[n->an - 1] <= n->at[0]) return -1;
  if (mono_s() - n->arecv_s > 3 * n->g->cfg.health_interval_s + 1) return -1;
  return (n->aj[n->an - 1] - n->aj[0]) / (n->at[n->an - 1] - n->at[0]);
}

double gw_agent_energy_j(const node *n, double up_s) {
  double p_w = gw_agent_power_w(n);
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
  gw_engine_poll(n);
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
  gw_upstream_auth(n, evhttp_request_get_output_headers(req));
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
    /* agent: http://{host}:9100 is the agent beside each address */
    char *ph = strstr(c.agent_url, "{host}");
    if (ph) {
      char tail[256];
      snprintf(tail, sizeof tail, "%s", ph + 6);
      *ph = '\0';
      size_t l = strlen(c.agent_url);
      snprintf(c.agent_url + l, sizeof c.agent_url - l, "%s%s", ip, tail);
    }
    eco_error e = {0};
    node *n = gw_node_add(g, &c, q->src, &e);
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

void gw_dns_resolve_all(gw *g) {
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

void gw_on_dns_timer(evutil_socket_t fd, short ev, void *arg) {
  (void)fd;
  (void)ev;
  gw_dns_resolve_all(arg);
}
