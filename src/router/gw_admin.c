/* ecoinfer router: replies, the public and admin endpoints and /metrics
 * (see gw_internal.h). */
#include "router/gw_internal.h"

#include "accounting/wire.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gw_count_code(gw *g, int code) {
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
  gw_count_code(g, code);
}

void gw_send_error(gw *g, struct evhttp_request *req, int code, const char *type, const char *param,
                   const char *msg) {
  char *s = eco_wire_error_body(msg, type, param, NULL);
  send_json(g, req, code, "Error", s ? s : ECO_WIRE_ERROR_OOM);
  free(s);
}

void gw_send_error_code(gw *g, struct evhttp_request *req, int status, const char *type,
                        const char *param, const char *code, const char *msg) {
  char *s = eco_wire_error_body(msg, type, param, code);
  send_json(g, req, status, "Error", s ? s : ECO_WIRE_ERROR_OOM);
  free(s);
}

void gw_on_front_error(struct evhttp_request *req, int status, const char *code, const char *msg,
                       void *arg) {
  gw_send_error_code(arg, req, status, "invalid_request_error", NULL, code, msg);
}

static const char *method_of(struct evhttp_request *req) {
  switch (evhttp_request_get_command(req)) {
  case EVHTTP_REQ_GET: return "GET";
  case EVHTTP_REQ_POST: return "POST";
  case EVHTTP_REQ_PUT: return "PUT";
  default: return "OTHER";
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
  gw_directive_metrics(g, b);
  gw_eval_metrics(g, b);
  gw_ledger_metrics(g, b);
  evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                    "text/plain; version=0.0.4");
  evhttp_send_reply(req, 200, "OK", b);
  gw_count_code(g, 200);
  evbuffer_free(b);
}

void gw_on_public(struct evhttp_request *req, void *arg) {
  gw *g = arg;
  const char *uri = evhttp_request_get_uri(req);
  char path[128];
  size_t pl = strcspn(uri, "?");
  if (pl >= sizeof path) pl = sizeof path - 1;
  memcpy(path, uri, pl);
  path[pl] = '\0';
  const char *m = method_of(req);
  int code;
  /* keys: every /v1/ path (files and batches too), and /metrics unless
   * router.protect_metrics is false; /health and /ready stay open */
  if ((strncmp(path, "/v1/", 4) == 0 ||
       (strcmp(path, "/metrics") == 0 && g->cfg.protect_metrics)) &&
      !gw_authorized(g, req))
    return;
  if (strcmp(path, "/v1/chat/completions") == 0 || strcmp(path, "/v1/completions") == 0) {
    if (strcmp(m, "POST") != 0) {
      gw_send_error(g, req, 405, "invalid_request_error", NULL, "use POST");
      return;
    }
    gw_handle_proxy(g, req, path, false);
  } else if (strcmp(path, "/v1/models") == 0 && strcmp(m, "GET") == 0) {
    gw_handle_proxy(g, req, path, true);
  } else if (strcmp(path, "/health") == 0) {
    size_t up = 0;
    for (size_t i = 0; i < g->n_nodes; i++)
      if (g->views[i].health != ECO_NODE_DOWN && !g->nodes[i]->removed) up++;
    char buf[128];
    snprintf(buf, sizeof buf, "{\"status\":\"%s\",\"nodes\":%zu,\"nodes_up\":%zu}",
             up ? "ok" : "degraded", g->n_nodes, up);
    send_json(g, req, 200, "OK", buf);
  } else if (strcmp(path, "/ready") == 0) {
    /* readiness (Kubernetes): a node has passed a health check */
    size_t up = 0;
    for (size_t i = 0; i < g->n_nodes; i++)
      if (g->views[i].health == ECO_NODE_UP && !g->nodes[i]->removed) up++;
    char buf[128];
    snprintf(buf, sizeof buf, "{\"status\":\"%s\",\"nodes\":%zu,\"nodes_up\":%zu}",
             up ? "ready" : "no node is up", g->n_nodes, up);
    send_json(g, req, up ? 200 : 503, up ? "OK" : "Service Unavailable", buf);
  } else if (strcmp(path, "/metrics") == 0) {
    handle_metrics(g, req);
  } else if ((code = eco_batch_api_handle(g->batch, req, path)) != 0) {
    gw_count_code(g, code);
  } else {
    gw_send_error(g, req, 404, "not_found", NULL, "no such endpoint");
  }
}

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
  gw_views_refresh(g, now);
  for (size_t i = 0; arr && i < g->n_nodes; i++) {
    node *n = g->nodes[i];
    const eco_node_view *v = &g->views[i];
    static const char *const hs[] = {"up", "degraded", "down"};
    json_t *item = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:f,s:f,s:i,s:i,s:i,s:i,s:s,s:b,s:b,s:I,s:I,"
        "s:{s:f,s:f,s:f,s:f,s:f,s:f,s:i}}",
        "id", v->id, "url", n->cfg.url, "device", v->device, "zone", v->zone, "labels",
        n->cfg.labels, "intensity_gco2_kwh", v->intensity_gco2_kwh, "embodied_g_per_s",
        v->embodied_g_per_s, "inflight", (int)n->inflight, "queue_depth", (int)v->queue_depth,
        "active_batch", (int)v->active_batch, "max_batch", (int)v->max_batch, "health",
        hs[v->health], "circuit_open", v->circuit_open, "removed", n->removed, "routed",
        (json_int_t)n->routed, "failures", (json_int_t)n->failures, "profile", "overhead_s",
        v->profile.overhead_s, "prefill_s_per_tok", v->profile.prefill_s_per_tok,
        "decode_s_per_tok", v->profile.decode_s_per_tok, "prefill_j_per_tok",
        v->profile.prefill_j_per_tok, "decode_j_per_tok", v->profile.decode_j_per_tok, "service_s",
        v->profile.service_s, "n_obs", (int)v->profile.n_obs);
    if (!item) continue;
    json_object_set_new(item, "backlog_s", json_real(v->backlog_s));
    json_object_set_new(item, "max_body_bytes",
                        n->max_body ? json_integer((json_int_t)n->max_body) : json_null());
    json_object_set_new(item, "engine", gw_engine_json(n));
    json_object_set_new(item, "meter", gw_meter_json(n));
    json_array_append_new(arr, item);
  }
  json_t *o = json_pack("{s:s,s:o}", "policy", eco_policy_name(g->policy.kind), "nodes",
                        arr ? arr : json_array());
  char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
  send_json(g, req, 200, "OK", s ? s : "{}");
  free(s);
  json_decref(o);
}

void gw_on_admin(struct evhttp_request *req, void *arg) {
  gw *g = arg;
  if (!admin_auth(g, req)) {
    gw_send_error(g, req, 401, "authentication_error", NULL, "admin token required");
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
        gw_send_error(g, req, 400, "invalid_request_error", "policy",
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
  } else if (strcmp(uri, "/admin/directive/reload") == 0 && write) {
    eco_error err = {0};
    if (gw_directive_reload(g, &err)) {
      gw_send_error(g, req, 409, "invalid_request_error", NULL, eco_error_text(&err));
      return;
    }
    send_json(g, req, 200, "OK", "{\"reloaded\":true}");
  } else if (strcmp(uri, "/admin/directive") == 0) {
    json_t *o = gw_directive_admin_json(g);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
    send_json(g, req, 200, "OK", s ? s : "{}");
    free(s);
    json_decref(o);
  } else if (strcmp(uri, "/admin/intensity") == 0 && write) {
    json_t *j = body_json(req);
    const char *zone = json_string_value(json_object_get(j, "zone"));
    json_t *v = json_object_get(j, "gco2_kwh");
    zone_state *z = zone ? gw_zone_get(g, zone) : NULL;
    if (!z || !(json_is_number(v) || json_is_null(v)) ||
        (json_is_number(v) && !(json_number_value(v) >= 0))) {
      json_decref(j);
      gw_send_error(g, req, 400, "invalid_request_error", "zone",
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
    gw_zones_refresh(g);
    send_json(g, req, 200, "OK", "{\"ok\":true}");
  } else {
    gw_send_error(g, req, 404, "not_found", NULL, "no such admin endpoint");
  }
}
