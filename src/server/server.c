/* ecoinfer: the node server (see server.h): configuration defaults, the
 * routes and the endpoints other than generation, drain and signals,
 * construction and the loop. The rest is in srv_*.c (srv_internal.h). */
#include "server/srv_internal.h"

#include "util/timeutil.h"

#include <event2/buffer.h>
#include <event2/thread.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void eco_server_cfg_default(eco_server_cfg *c) {
  memset(c, 0, sizeof *c);
  c->host = "127.0.0.1";
  c->port = 8080;
  c->admin_host = "127.0.0.1";
  c->admin_port = 8081;
  c->max_body_bytes = 1 << 20;
  c->max_header_bytes = 16 << 10;
  c->http_timeout_s = 120;
  eco_oai_limits_default(&c->limits);
  c->drain_timeout_s = 30;
  c->retry_after_s = 1;
}

/* ---- other endpoints --------------------------------------------------- */

static void handle_models(eco_server *s, struct evhttp_request *r, const char *path) {
  if (!srv_authorized(s, r, "/v1/models")) return;
  eco_backend_info info;
  s->backend->vt->info(s->backend->self, &info);
  json_t *m = json_pack("{s:s,s:s,s:I,s:s}", "id", info.model_name, "object", "model", "created",
                        (json_int_t)s->metrics.started_s, "owned_by", "ecoinfer");
  if (m && info.chat_template[0]) /* how chats are rendered, and any fallback warning */
    json_object_set_new(m, "chat_template",
                        json_pack("{s:s,s:s}", "renderer", info.chat_template, "warning",
                                  info.chat_template_warning));
  if (strncmp(path, "/v1/models/", 11) == 0) {
    if (strcmp(path + 11, info.model_name) != 0) {
      json_decref(m);
      eco_oai_error e;
      eco_oai_error_set(&e, 404, "invalid_request_error", "model", "model_not_found",
                        "the model '%.100s' does not exist", path + 11);
      srv_reply_error(s, r, "/v1/models", &e);
      return;
    }
    srv_reply_json(s, r, "/v1/models", 200, m);
    return;
  }
  srv_reply_json(s, r, "/v1/models", 200, json_pack("{s:s,s:[o]}", "object", "list", "data", m));
}

static bool ready(eco_server *s, eco_backend_info *info) {
  if (s->backend->vt->info(s->backend->self, info) != 0) return false;
  return info->loaded && !s->draining && info->queue_len < info->queue_cap;
}

static void handle_node(eco_server *s, struct evhttp_request *r) {
  if (!srv_authorized(s, r, "/v1/node")) return;
  eco_backend_info info;
  bool ok = ready(s, &info);
  eco_acct_intensity in;
  memset(&in, 0, sizeof in);
  json_t *ji = json_null();
  if (s->have_acct && s->acct.intensity(s->acct.intensity_user, eco_time_wall_s(), &in) == 0)
    ji = json_pack("{s:f,s:s,s:b}", "gco2_kwh", in.gco2_kwh, "source", in.source, "estimated",
                   in.estimated);
  double busy = s->busy_s;
  if (s->busy_since_ns) busy += (double)(eco_time_mono_ns() - s->busy_since_ns) / 1e9;
  json_t *o = json_pack(
      "{s:s,s:s,s:s,s:o,s:o,s:o,s:{s:i,s:i},s:{s:i,s:i},s:{s:f,s:f,s:f},s:i,s:b,s:b,s:f}", "device",
      info.device, "model", info.model_name, "zone", in.zone, "intensity", ji, "energy_j_per_token",
      s->gen_tokens_total > 0 ? json_real(s->energy_j_total / s->gen_tokens_total) : json_null(),
      "tokens_per_s", busy > 0 ? json_real(s->gen_tokens_total / busy) : json_null(), "queue",
      "depth", info.queue_len, "capacity", info.queue_cap, "batch", "active", info.active, "max",
      info.max_batch, "kv", "used_bytes", info.kv_used_bytes, "budget_bytes", info.kv_budget_bytes,
      "usage", info.kv_budget_bytes > 0 ? info.kv_used_bytes / info.kv_budget_bytes : 0.0,
      "context_length", info.context_length, "ready", ok, "draining", s->draining,
      "generated_tokens", s->gen_tokens_total);
  /* the router sends no body over this (it answers 413 itself) */
  if (o) json_object_set_new(o, "max_body_bytes", json_integer((json_int_t)s->cfg.max_body_bytes));
  srv_reply_json(s, r, "/v1/node", 200, o);
}

static void begin_drain(eco_server *s, const char *why);

static void route(struct evhttp_request *r, eco_server *s, bool admin_listener) {
  const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(r);
  const char *path = u ? evhttp_uri_get_path(u) : NULL;
  if (!path) path = "/";
  bool admin_paths = admin_listener || s->cfg.admin_port < 0;
  bool public_paths = !admin_listener;
  enum evhttp_cmd_type cmd = evhttp_request_get_command(r);
  if (strcmp(path, "/health") == 0) {
    srv_reply_json(s, r, "/health", 200, json_pack("{s:s}", "status", "ok"));
  } else if (strcmp(path, "/ready") == 0) {
    eco_backend_info info;
    bool ok = ready(s, &info);
    srv_reply_json(s, r, "/ready", ok ? 200 : 503,
                   json_pack("{s:b,s:b,s:b,s:i,s:i}", "ready", ok, "loaded", info.loaded,
                             "draining", s->draining, "queue_depth", info.queue_len,
                             "queue_capacity", info.queue_cap));
  } else if (admin_paths && strcmp(path, "/metrics") == 0) {
    /* on the public listener (no admin port), /metrics needs the key too */
    if (!admin_listener && !srv_authorized(s, r, "/metrics")) return;
    eco_backend_info info;
    eco_strbuf sb;
    eco_sb_init(&sb);
    s->backend->vt->info(s->backend->self, &info);
    eco_srv_metrics_request(&s->metrics, "/metrics", 200); /* counted before rendering */
    eco_srv_metrics_render(&s->metrics, &info, &sb);
    struct evbuffer *b = evbuffer_new();
    if (b) evbuffer_add(b, eco_sb_str(&sb), sb.len);
    srv_add_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    evhttp_send_reply(r, 200, "OK", b);
    if (b) evbuffer_free(b);
    eco_sb_free(&sb);
  } else if (admin_paths && strcmp(path, "/admin/drain") == 0 && cmd == EVHTTP_REQ_POST) {
    srv_reply_json(s, r, "/admin/drain", 202, json_pack("{s:b}", "draining", true));
    begin_drain(s, "admin request");
  } else if (public_paths && strcmp(path, "/v1/chat/completions") == 0) {
    srv_handle_generate(s, r, true);
  } else if (public_paths && strcmp(path, "/v1/completions") == 0) {
    srv_handle_generate(s, r, false);
  } else if (public_paths &&
             (strcmp(path, "/v1/models") == 0 || strncmp(path, "/v1/models/", 11) == 0)) {
    handle_models(s, r, path);
  } else if (public_paths && strcmp(path, "/v1/node") == 0) {
    handle_node(s, r);
  } else {
    eco_oai_error e;
    eco_oai_error_set(&e, 404, "invalid_request_error", NULL, "not_found", "no route for %.200s",
                      path);
    srv_reply_error(s, r, "other", &e);
  }
}

static void on_public(struct evhttp_request *r, void *arg) { route(r, arg, false); }
static void on_admin(struct evhttp_request *r, void *arg) { route(r, arg, true); }

/* ---- lifecycle ---------------------------------------------------------- */

static void on_drain_timeout(evutil_socket_t fd, short what, void *arg) {
  eco_server *s = arg;
  if (s->n_reqs == 0) {
    event_base_loopexit(s->base, NULL);
    return;
  }
  if (!s->drain_forced) {
    ECO_WARN(s->log, "server", "drain timeout: cancelling %d in-flight request(s)", s->n_reqs);
    s->drain_forced = true;
    for (gen_req *g = s->reqs; g; g = g->next)
      s->backend->vt->cancel(s->backend->self, g->bid);
    struct timeval tv = {5, 0}; /* grace for the backend to deliver DONE */
    evtimer_add(s->drain_timer, &tv);
    return;
  }
  ECO_ERROR(s->log, "server", "%d request(s) still not finished after cancel; exiting", s->n_reqs);
  event_base_loopexit(s->base, NULL);
}

static void begin_drain(eco_server *s, const char *why) {
  if (s->draining) return;
  s->draining = true;
  ECO_INFO(s->log, "server", "%s: draining %d in-flight request(s), timeout %.1f s", why, s->n_reqs,
           s->cfg.drain_timeout_s);
  if (s->bound) {
    evhttp_del_accept_socket(s->http, s->bound);
    s->bound = NULL;
  }
  if (s->n_reqs == 0 && s->n_sending == 0) {
    event_base_loopexit(s->base, NULL);
    return;
  }
  double t = s->cfg.drain_timeout_s > 0 ? s->cfg.drain_timeout_s : 0;
  struct timeval tv = {(time_t)t, (suseconds_t)((t - (double)(time_t)t) * 1e6)};
  evtimer_add(s->drain_timer, &tv);
}

static void on_signal(evutil_socket_t sig, short what, void *arg) {
  begin_drain(arg, sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void on_stop(evutil_socket_t fd, short what, void *arg) { begin_drain(arg, "shutdown"); }

int eco_server_new(const eco_server_cfg *cfg, eco_backend *backend, const eco_accounting *acct,
                   const eco_logger *log, eco_server **out, eco_error *err) {
  *out = NULL;
  if (!cfg || !backend || !backend->vt) return eco_error_set(err, ECO_EINVAL, "no backend");
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, (void (*)(void))evthread_use_pthreads);
  signal(SIGPIPE, SIG_IGN);
  eco_server *s = calloc(1, sizeof *s);
  if (!s) return eco_error_set(err, ECO_ENOMEM, "out of memory");
  s->cfg = *cfg;
  if (!s->cfg.host) s->cfg.host = "127.0.0.1";
  if (!s->cfg.admin_host) s->cfg.admin_host = "127.0.0.1";
  if (s->cfg.max_body_bytes == 0) s->cfg.max_body_bytes = 1 << 20;
  if (s->cfg.max_header_bytes == 0) s->cfg.max_header_bytes = 16 << 10;
  if (s->cfg.limits.max_tokens_limit == 0) eco_oai_limits_default(&s->cfg.limits);
  s->backend = backend;
  if (acct) {
    s->acct = *acct;
    s->have_acct = acct->energy && acct->intensity;
  }
  s->log = log;
  s->admin_port = -1;
  eco_srv_metrics_init(&s->metrics, eco_time_wall_s());
  int rc;
  s->base = event_base_new();
  if (!s->base) {
    rc = eco_error_set(err, ECO_ENOMEM, "cannot create the event loop");
    goto fail;
  }
  s->http = srv_make_http(s, on_public, &s->front);
  s->stop_ev = event_new(s->base, -1, 0, on_stop, s);
  s->drain_timer = evtimer_new(s->base, on_drain_timeout, s);
  s->attr_timer = event_new(s->base, -1, EV_PERSIST, srv_on_attr_timer, s);
  if (!s->http || !s->stop_ev || !s->drain_timer || !s->attr_timer) {
    rc = eco_error_set(err, ECO_ENOMEM, "out of memory");
    goto fail;
  }
  if (s->have_acct && s->acct.meter &&
      (rc = eco_tracker_new(s->acct.meter, &s->acct.attr, &s->tracker, err)))
    goto fail;
  if ((rc = srv_bind(s->http, s->cfg.host, s->cfg.port, &s->bound, &s->port, err))) goto fail;
  if ((rc = srv_keys_set(s, err)) || (rc = srv_dash_setup(s, err))) goto fail;
  if (s->cfg.admin_port >= 0) {
    s->admin = srv_make_http(s, on_admin, &s->admin_front);
    if (!s->admin) {
      rc = eco_error_set(err, ECO_ENOMEM, "out of memory");
      goto fail;
    }
    if ((rc = srv_bind(s->admin, s->cfg.admin_host, s->cfg.admin_port, &s->admin_bound,
                       &s->admin_port, err)))
      goto fail;
  }
  if (s->cfg.handle_signals) {
    s->sigterm = evsignal_new(s->base, SIGTERM, on_signal, s);
    s->sigint = evsignal_new(s->base, SIGINT, on_signal, s);
    if (!s->sigterm || !s->sigint || evsignal_add(s->sigterm, NULL) ||
        evsignal_add(s->sigint, NULL)) {
      rc = eco_error_set(err, ECO_EINTERNAL, "cannot install signal handlers");
      goto fail;
    }
  }
  *out = s;
  return 0;
fail:
  eco_server_free(s);
  return rc;
}

int eco_server_port(const eco_server *s) { return s->port; }
int eco_server_admin_port(const eco_server *s) { return s->admin ? s->admin_port : -1; }

int eco_server_run(eco_server *s) {
  ECO_INFO(s->log, "server", "listening on http://%s:%d (admin %s:%d)", s->cfg.host, s->port,
           s->admin ? s->cfg.admin_host : "-", s->admin ? s->admin_port : -1);
  event_base_dispatch(s->base);
  s->run_rc = s->drain_forced ? ECO_ETIMEOUT : 0;
  return s->run_rc;
}

static void *run_thread(void *arg) {
  eco_server_run(arg);
  return NULL;
}

int eco_server_start(eco_server *s) {
  if (pthread_create(&s->thread, NULL, run_thread, s) != 0) return ECO_EINTERNAL;
  s->thread_started = true;
  return 0;
}

void eco_server_shutdown(eco_server *s) { event_active(s->stop_ev, EV_READ, 0); }

int eco_server_join(eco_server *s) {
  if (s->thread_started) {
    pthread_join(s->thread, NULL);
    s->thread_started = false;
  }
  return s->run_rc;
}

void eco_server_free(eco_server *s) {
  if (!s) return;
  if (s->n_reqs) {
    /* requests the backend still references: cancel, and let the backend's
     * destroy deliver their DONE events into a loop that no longer runs
     * would be unsafe, so run the loop until they are gone */
    for (gen_req *g = s->reqs; g; g = g->next)
      s->backend->vt->cancel(s->backend->self, g->bid);
    s->draining = true;
    uint64_t t0 = eco_time_mono_ns();
    while (s->n_reqs && eco_time_mono_ns() - t0 < 5000000000ull)
      event_base_loop(s->base, EVLOOP_ONCE | EVLOOP_NONBLOCK), eco_time_sleep_s(0.001);
  }
  if (s->http) evhttp_free(s->http);
  if (s->admin) evhttp_free(s->admin);
  eco_http_front_free(s->front); /* after its evhttp */
  eco_http_front_free(s->admin_front);
  eco_dash_free(s->dash); /* after its listener */
  if (s->dash_timer) event_free(s->dash_timer);
  if (s->sigterm) event_free(s->sigterm);
  if (s->sigint) event_free(s->sigint);
  if (s->stop_ev) event_free(s->stop_ev);
  if (s->drain_timer) event_free(s->drain_timer);
  if (s->attr_timer) event_free(s->attr_timer);
  if (s->tracker) eco_tracker_free(s->tracker);
  if (s->base && !s->n_reqs) event_base_free(s->base);
  eco_srv_metrics_destroy(&s->metrics);
  eco_auth_free(&s->auth);
  free(s);
}
