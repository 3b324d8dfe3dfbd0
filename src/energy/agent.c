#include "energy/agent.h"

#include "util/timeutil.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct eco_agent {
  struct event_base *base;
  struct evhttp *http;
  struct event *wake;
  int port;
  eco_agent_meter *meters;
  size_t n;
};

static void reply(struct evhttp_request *req, int code, const char *body) {
  struct evbuffer *b = evbuffer_new();
  if (b) evbuffer_add(b, body, strlen(body));
  evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
  evhttp_send_reply(req, code, code == 200 ? "OK" : "Error", b);
  if (b) evbuffer_free(b);
}

static json_t *covers_json(unsigned covers) {
  static const char *const names[] = ECO_COVER_NAMES;
  json_t *a = json_array();
  for (int i = 0; a && i < ECO_COVER_COUNT; i++)
    if (covers & (1u << i)) json_array_append_new(a, json_string(names[i]));
  return a;
}

static json_t *processes_json(eco_meter *m) {
  eco_gpu_process p[64];
  size_t n = 0;
  json_t *a = json_array();
  if (!a || eco_meter_nvml_processes(m, p, 64, &n) != 0) return a;
  for (size_t i = 0; i < n && i < 64; i++) {
    json_t *o = json_pack("{s:I}", "pid", (json_int_t)p[i].pid);
    if (!o) continue;
#define OPT(key, v) json_object_set_new(o, key, (v) >= 0 ? json_real(v) : json_null())
    OPT("used_memory_bytes", p[i].used_memory_bytes);
    OPT("sm_util_pct", p[i].sm_util_pct);
    OPT("joules", p[i].joules);
    json_object_set_new(o, "joules_estimated", json_true());
    OPT("accounting_gpu_util_pct", p[i].acct_gpu_util_pct);
    if (p[i].acct_gpu_util_pct >= 0)
      json_object_set_new(o, "accounting_active_s", json_real(p[i].acct_active_s));
#undef OPT
    json_array_append_new(a, o);
  }
  return a;
}

/* One entry for a meter (its base fields). */
static json_t *meter_json(const eco_agent_meter *am, bool host) {
  eco_meter *m = am->meter;
  pthread_mutex_lock(&m->mu);
  double j = m->total_j;
  size_t polls = m->n_polls, errs = m->n_errors;
  char last[256];
  snprintf(last, sizeof last, "%s", m->last_msg);
  pthread_mutex_unlock(&m->mu);
  json_t *o =
      json_pack("{s:s,s:s,s:b,s:f,s:s,s:s,s:b,s:o,s:I,s:I}", "id", am->id[0] ? am->id : am->device,
                "device", am->device, "host", host, "joules", j, "source", m->src.name, "detail",
                m->src.detail, "estimated", m->src.estimated, "covers", covers_json(am->covers),
                "polls", (json_int_t)polls, "errors", (json_int_t)errs);
  if (o && errs && last[0]) json_object_set_new(o, "last_error", json_string(last));
  if (o && strcmp(m->vt->kind, "nvml") == 0) {
    char sup[48];
    eco_meter_nvml_process_support(m, sup, sizeof sup);
    json_object_set_new(o, "process_support", json_string(sup));
    json_object_set_new(o, "processes", processes_json(m));
  }
  return o;
}

/* The rails of an INA3221 meter, one entry each. */
static void rails_json(json_t *arr, const eco_agent_meter *am) {
  eco_rail_energy r[16];
  size_t n = 0;
  if (eco_meter_ina3221_rails(am->meter, r, 16, &n) != 0) return;
  const char *parent = am->id[0] ? am->id : am->device;
  for (size_t i = 0; i < n && i < 16; i++) {
    char id[48];
    snprintf(id, sizeof id, "jetson:%.32s", r[i].name);
    json_t *o =
        json_pack("{s:s,s:s,s:s,s:s,s:b,s:f,s:f,s:s,s:s,s:b,s:o}", "id", id, "device", r[i].name,
                  "rail", r[i].name, "part_of", parent, "host", false, "joules", r[i].joules,
                  "power_w", r[i].watts, "source", "ina3221", "detail", r[i].name, "estimated",
                  false, "covers", covers_json(eco_rail_covers(r[i].name)));
    if (o) json_array_append_new(arr, o);
  }
}

json_t *eco_agent_meters_json(const eco_agent_meter *meters, size_t n, double time_s) {
  json_t *arr = json_array();
  if (!arr) return NULL;
  size_t host = 0;
  for (size_t i = 0; i < n; i++)
    if (meters[i].host) {
      host = i;
      break;
    }
  double total = 0;
  for (size_t i = 0; i < n; i++) {
    json_t *o = meter_json(&meters[i], i == host);
    if (i == host) total = json_number_value(json_object_get(o, "joules"));
    if (o) json_array_append_new(arr, o);
    if (strcmp(meters[i].meter->vt->kind, "ina3221") == 0) rails_json(arr, &meters[i]);
  }
  return json_pack("{s:f,s:f,s:o}", "time_s", time_s, "total_j", total, "meters", arr);
}

static void on_req(struct evhttp_request *req, void *arg) {
  eco_agent *a = arg;
  const char *uri = evhttp_request_get_uri(req);
  if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
    reply(req, 405, "{\"error\":{\"message\":\"use GET\",\"type\":\"invalid_request_error\"}}");
    return;
  }
  if (strcmp(uri, "/health") == 0) {
    reply(req, 200, "{\"status\":\"ok\"}");
    return;
  }
  if (strcmp(uri, "/v1/meters") != 0) {
    reply(req, 404, "{\"error\":{\"message\":\"no such endpoint\",\"type\":\"not_found\"}}");
    return;
  }
  json_t *o = eco_agent_meters_json(a->meters, a->n, (double)eco_time_mono_ns() / 1e9);
  char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
  reply(req, s ? 200 : 500, s ? s : "{}");
  free(s);
  json_decref(o);
}

static void on_wake(evutil_socket_t fd, short ev, void *arg) {
  (void)fd;
  (void)ev;
  event_base_loopbreak(arg);
}

int eco_agent_new(const char *host, int port, const eco_agent_meter *meters, size_t n,
                  eco_agent **out, eco_error *err) {
  if (!out || (!meters && n) || port < 0 || port > 65535)
    return eco_error_set(err, ECO_EINVAL, "agent: bad arguments");
  *out = NULL;
  evthread_use_pthreads();
  eco_agent *a = calloc(1, sizeof *a);
  if (!a) return ECO_ENOMEM;
  int rc = ECO_ENOMEM;
  if (n) {
    a->meters = calloc(n, sizeof *a->meters);
    if (!a->meters) goto fail;
    memcpy(a->meters, meters, n * sizeof *meters);
    a->n = n;
  }
  a->base = event_base_new();
  if (!a->base) goto fail;
  a->http = evhttp_new(a->base);
  a->wake = event_new(a->base, -1, 0, on_wake, a->base);
  if (!a->http || !a->wake) goto fail;
  evhttp_set_gencb(a->http, on_req, a);
  struct evhttp_bound_socket *bs =
      evhttp_bind_socket_with_handle(a->http, host ? host : "127.0.0.1", (ev_uint16_t)port);
  if (!bs) {
    rc = eco_error_set(err, ECO_ENET, "agent: cannot listen on %s:%d", host ? host : "127.0.0.1",
                       port);
    goto fail;
  }
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  socklen_t sl = sizeof sa;
  if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sa, &sl) != 0) {
    rc = eco_error_set(err, ECO_ENET, "agent: getsockname failed");
    goto fail;
  }
  a->port = ntohs(sa.sin_port);
  *out = a;
  return 0;
fail:
  eco_agent_free(a);
  return rc;
}

int eco_agent_port(const eco_agent *a) { return a->port; }

int eco_agent_run(eco_agent *a) {
  if (!a) return ECO_EINVAL;
  return event_base_dispatch(a->base) < 0 ? ECO_EIO : 0;
}

void eco_agent_stop(eco_agent *a) {
  if (a && a->wake) event_active(a->wake, EV_READ, 0);
}

void eco_agent_free(eco_agent *a) {
  if (!a) return;
  if (a->http) evhttp_free(a->http);
  if (a->wake) event_free(a->wake);
  if (a->base) event_base_free(a->base);
  free(a->meters);
  free(a);
}
