/* ecoinfer router gateway: libevent front, pooled evhttp upstreams, policy
 * dispatch, router-side batch windows, failover, health checks, circuit
 * breakers, DNS discovery, zone intensities, receipts. See router.h and
 * docs/router.md. Everything runs on one event loop thread. This file
 * builds, runs and frees the gateway; gw_internal.h lists the others. */
#include "router/gw_internal.h"

#include <event2/dns.h>
#include <event2/thread.h>
#include <math.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

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
  int rc = eco_router_admin_check(cfg, err);
  if (rc) return rc;
  evthread_use_pthreads();
  gw *g = calloc(1, sizeof *g);
  if (!g) return ECO_ENOMEM;
  g->cfg = *cfg;
  g->cfg.zones = NULL;
  g->cfg.nodes = NULL;
  g->cfg.dns = NULL;
  g->cfg.n_zones = g->cfg.n_nodes = g->cfg.n_dns = 0;
  g->cfg.api_keys = NULL; /* gw_auth_init keeps their digests */
  g->cfg.n_api_keys = 0;
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
  /* Resolvers: router.dns_servers when given (no search list), else the
   * system's; /etc/hosts either way. */
  g->dns = cfg->n_dns_servers ? NULL : evdns_base_new(g->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
  if (!g->dns) g->dns = evdns_base_new(g->base, 0);
  for (size_t i = 0; g->dns && i < cfg->n_dns_servers; i++)
    if (evdns_base_nameserver_ip_add(g->dns, cfg->dns_servers[i]) != 0) {
      rc = eco_error_set(err, ECO_ECONFIG, "router.dns_servers: cannot use '%s'",
                         cfg->dns_servers[i]);
      goto fail;
    }
  if (g->dns) evdns_base_load_hosts(g->dns, NULL);
  if ((rc = gw_intensity_init(g, err))) goto fail;
  if ((rc = gw_directive_init(g, err))) goto fail;
  for (size_t i = 0; i < cfg->n_nodes; i++) {
    if (!gw_node_add(g, &cfg->nodes[i], -1, err)) {
      rc = err && err->code ? err->code : ECO_ENOMEM;
      goto fail;
    }
  }
  if (cfg->batch_api.db_path[0] && (rc = eco_batch_api_new(cfg, &g->log, &g->batch, err)))
    goto fail;
  g->http = evhttp_new(g->base);
  if (!g->http) goto oom;
  eco_http_front_cfg fc = {
      .max_body_bytes = MAX_BODY,
      .max_header_bytes = 64 * 1024,
      .methods =
          EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_HEAD | EVHTTP_REQ_OPTIONS,
      .timeout_s = cfg->client_timeout_s,
      .on_error = gw_on_front_error,
      .gencb = gw_on_public,
      .arg = g,
  };
  if (eco_http_front_attach(g->http, &fc, &g->front) != 0) goto oom;
  if ((rc = bind_port(g->http, cfg->host, cfg->port, &g->port, err))) goto fail;
  /* exact paths (evhttp_set_cb) take precedence over on_public */
  if (eco_dash_new("router", &g->dash) != 0) goto oom;
  g->ledger = cfg->ledger;
  eco_batch_api_set_observer(g->batch, gw_batch_row, g);
  if ((rc = eco_dash_attach(g->dash, g->base, g->http, "/dashboard", 1.0)) != 0) {
    rc = eco_error_set(err, rc, "router: cannot attach the dashboard");
    goto fail;
  }
  if ((rc = gw_eval_init(g, err))) goto fail; /* after the Batch API and the dashboard */
  if ((rc = gw_auth_init(g, cfg, err))) goto fail;
  if (cfg->admin_port >= 0) {
    g->admin = evhttp_new(g->base);
    if (!g->admin) goto oom;
    fc.methods = EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_HEAD;
    fc.max_body_bytes = 65536;
    fc.gencb = gw_on_admin;
    if (eco_http_front_attach(g->admin, &fc, &g->admin_front) != 0) goto oom;
    if ((rc = bind_port(g->admin, cfg->admin_host, cfg->admin_port, &g->admin_port, err)))
      goto fail;
  } else {
    g->admin_port = -1;
  }
  g->wake = event_new(g->base, -1, 0, on_wake, g->base);
  g->zone_ev = event_new(g->base, -1, EV_PERSIST, gw_on_zone_timer, g);
  if (!g->wake || !g->zone_ev) goto oom;
  double zr = cfg->intensity_refresh_s > 0.01 ? cfg->intensity_refresh_s : 0.01;
  struct timeval ztv = {(time_t)zr, (suseconds_t)((zr - floor(zr)) * 1e6)};
  evtimer_add(g->zone_ev, &ztv);
  gw_zones_refresh(g);
  if (cfg->n_dns && g->dns) {
    double di = cfg->dns[0].interval_s;
    for (size_t i = 1; i < cfg->n_dns; i++)
      if (cfg->dns[i].interval_s < di) di = cfg->dns[i].interval_s;
    g->dns_ev = event_new(g->base, -1, EV_PERSIST, gw_on_dns_timer, g);
    if (!g->dns_ev) goto oom;
    struct timeval dtv = {(time_t)di, (suseconds_t)((di - floor(di)) * 1e6)};
    evtimer_add(g->dns_ev, &dtv);
    gw_dns_resolve_all(g);
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
  eco_http_front_free(g->front); /* after its evhttp */
  eco_http_front_free(g->admin_front);
  gw_eval_free(g); /* its thread submits to the Batch API and feeds the dashboard */
  eco_batch_api_free(g->batch);
  /* run pending deferred connection frees */
  if (g->base) event_base_loop(g->base, EVLOOP_NONBLOCK);
  for (size_t i = 0; i < g->n_nodes; i++)
    gw_node_free(g->nodes[i]);
  eco_dash_free(g->dash); /* after its listener and the last callbacks that feed it */
  gw_directive_free(g);   /* writes the learned costs a last time */
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
  eco_auth_free(&g->auth);
  memset(g->cfg.admin_token, 0, sizeof g->cfg.admin_token);
  free(g);
}
