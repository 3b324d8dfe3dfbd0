#include "energy/agent.h"

#include "util/timeutil.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <jansson.h>
#include <netinet/in.h>
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
  json_t *arr = json_array();
  double total = 0;
  for (size_t i = 0; arr && i < a->n; i++) {
    eco_meter *m = a->meters[i].meter;
    double j = eco_meter_total(m);
    pthread_mutex_lock(&m->mu);
    size_t polls = m->n_polls;
    pthread_mutex_unlock(&m->mu);
    total += j;
    json_array_append_new(arr,
                          json_pack("{s:s,s:f,s:s,s:s,s:b,s:I}", "device", a->meters[i].device,
                                    "joules", j, "source", m->src.name, "detail", m->src.detail,
                                    "estimated", m->src.estimated, "polls", (json_int_t)polls));
  }
  json_t *o = json_pack("{s:f,s:f,s:o}", "time_s", (double)eco_time_mono_ns() / 1e9, "total_j",
                        total, "meters", arr ? arr : json_array());
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
