#include "httpd.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef struct route {
  char *method; /* NULL = any */
  char *path;
  int status;
  char *content_type, *headers, *body;
  int delay_ms;
  char **chunks;
  size_t n_chunks;
  int chunk_delay_ms;
  eco_test_handler fn;
  void *user;
} route;

struct eco_test_httpd {
  struct event_base *base;
  struct evhttp *http;
  struct event *wake;
  pthread_t thread;
  pthread_mutex_t mu;
  int port;
  char url[64];
  route *routes;
  size_t n_routes;
  eco_test_request *log;
  size_t n_log;
  char **cut_paths; /* paths of answers abandoned because the client left (mu) */
  size_t n_cut;
  struct pending *inflight; /* responses not yet sent (freed at stop) */
};

/* A response in flight (delayed or streaming). */
typedef struct pending {
  struct pending *prev, *next_p; /* h->inflight list, server thread only */
  eco_test_httpd *h;
  struct evhttp_request *req;
  struct event *timer;
  struct event *watch; /* EOF on the client socket while the answer is pending */
  eco_test_response resp;
  char *body, *ctype, *headers;
  char **chunks;
  size_t n_chunks, next;
  bool started;
  char path[512]; /* of the request, for eco_test_httpd_cut_short */
} pending;

/* Records that the client of p left before its answer was complete
 * (called with h->mu held). */
static void cut_record(pending *p) {
  char **cp = realloc(p->h->cut_paths, (p->h->n_cut + 1) * sizeof *cp);
  if (!cp) return;
  p->h->cut_paths = cp;
  cp[p->h->n_cut] = strdup(p->path);
  if (cp[p->h->n_cut]) p->h->n_cut++;
}

static char *dupz(const char *s) { return s ? strdup(s) : NULL; }

static void route_clear(route *r) {
  free(r->method);
  free(r->path);
  free(r->content_type);
  free(r->headers);
  free(r->body);
  for (size_t i = 0; i < r->n_chunks; i++)
    free(r->chunks[i]);
  free(r->chunks);
  memset(r, 0, sizeof *r);
}

static void add_headers(struct evhttp_request *req, const char *ctype, const char *headers) {
  struct evkeyvalq *out = evhttp_request_get_output_headers(req);
  evhttp_add_header(out, "Content-Type", ctype ? ctype : "application/json");
  if (!headers) return;
  const char *p = headers;
  while (*p) {
    const char *nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p) : strlen(p);
    char line[1024];
    if (len < sizeof line) {
      memcpy(line, p, len);
      line[len] = '\0';
      char *colon = strchr(line, ':');
      if (colon) {
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ')
          v++;
        evhttp_add_header(out, line, v);
      }
    }
    p += len + (nl ? 1 : 0);
  }
}

static void pending_free(pending *p) {
  if (p->prev)
    p->prev->next_p = p->next_p;
  else
    p->h->inflight = p->next_p;
  if (p->next_p) p->next_p->prev = p->prev;
  if (p->timer) event_free(p->timer);
  if (p->watch) event_free(p->watch);
  free(p->body);
  free(p->ctype);
  free(p->headers);
  for (size_t i = 0; i < p->n_chunks; i++)
    free(p->chunks[i]);
  free(p->chunks);
  free(p);
}

/* The client closed its end before the answer was complete (as a node
 * server notices, to stop generating): count it and finish the request
 * toward nobody, which frees it in libevent. */
static void pending_watch(evutil_socket_t fd, short ev, void *arg) {
  (void)ev;
  pending *p = arg;
  char c;
  const ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  event_free(p->watch);
  p->watch = NULL;
  if (n > 0) return; /* a pipelined request, not a departure */
  pthread_mutex_lock(&p->h->mu);
  cut_record(p);
  pthread_mutex_unlock(&p->h->mu);
  if (!evhttp_request_get_connection(p->req))
    evhttp_request_free(p->req); /* detached by libevent already */
  else if (p->started)
    evhttp_send_reply_end(p->req);
  else
    evhttp_send_error(p->req, 499, "client closed request");
  pending_free(p);
}

static void pending_step(evutil_socket_t fd, short ev, void *arg) {
  (void)fd;
  (void)ev;
  pending *p = arg;
  struct evhttp_request *req = p->req;
  if (!evhttp_request_get_connection(req)) {
    /* The client left before the answer was complete: libevent detached
     * the request and left it to us. */
    pthread_mutex_lock(&p->h->mu);
    cut_record(p);
    pthread_mutex_unlock(&p->h->mu);
    evhttp_request_free(req);
    pending_free(p);
    return;
  }
  if (p->resp.status == 0) {
    /* Drop the connection without an answer. */
    struct evhttp_connection *c = evhttp_request_get_connection(req);
    evutil_socket_t s = bufferevent_getfd(evhttp_connection_get_bufferevent(c));
    shutdown(s, SHUT_RDWR);
    evhttp_send_reply(req, 500, "dropped", NULL);
    pending_free(p);
    return;
  }
  if (!p->chunks) {
    add_headers(req, p->ctype, p->headers);
    struct evbuffer *b = evbuffer_new();
    if (p->body) evbuffer_add(b, p->body, strlen(p->body));
    evhttp_send_reply(req, p->resp.status, "OK", b);
    evbuffer_free(b);
    pending_free(p);
    return;
  }
  if (!p->started) {
    add_headers(req, p->ctype, p->headers);
    evhttp_send_reply_start(req, p->resp.status, "OK");
    p->started = true;
  }
  if (p->next < p->n_chunks) {
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, p->chunks[p->next], strlen(p->chunks[p->next]));
    evhttp_send_reply_chunk(req, b);
    evbuffer_free(b);
    p->next++;
  }
  if (p->next >= p->n_chunks) {
    evhttp_send_reply_end(req);
    pending_free(p);
    return;
  }
  struct timeval tv = {p->resp.chunk_delay_ms / 1000, (p->resp.chunk_delay_ms % 1000) * 1000};
  evtimer_add(p->timer, &tv);
}

static void on_request(struct evhttp_request *req, void *arg) {
  eco_test_httpd *h = arg;
  const char *methods[] = {"GET",     "POST",  "HEAD",    "PUT",  "DELETE",
                           "OPTIONS", "TRACE", "CONNECT", "PATCH"};
  enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
  const char *method = "?";
  for (int i = 0; i < 9; i++)
    if ((unsigned)cmd == (1u << i)) method = methods[i];

  eco_test_request rec;
  memset(&rec, 0, sizeof rec);
  snprintf(rec.method, sizeof rec.method, "%s", method);
  const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
  const char *path = evhttp_uri_get_path(uri);
  const char *query = evhttp_uri_get_query(uri);
  snprintf(rec.path, sizeof rec.path, "%s", path ? path : "/");
  snprintf(rec.query, sizeof rec.query, "%s", query ? query : "");
  struct evbuffer *in = evhttp_request_get_input_buffer(req);
  rec.body_len = evbuffer_get_length(in);
  rec.body = malloc(rec.body_len + 1);
  if (rec.body) {
    evbuffer_copyout(in, rec.body, rec.body_len);
    rec.body[rec.body_len] = '\0';
  }
  size_t hl = 0;
  struct evkeyvalq *hdrs = evhttp_request_get_input_headers(req);
  for (struct evkeyval *kv = hdrs->tqh_first; kv; kv = kv->next.tqe_next)
    hl += strlen(kv->key) + strlen(kv->value) + 3;
  rec.headers = malloc(hl + 1);
  if (rec.headers) {
    rec.headers[0] = '\0';
    for (struct evkeyval *kv = hdrs->tqh_first; kv; kv = kv->next.tqe_next) {
      strcat(rec.headers, kv->key);
      strcat(rec.headers, ": ");
      strcat(rec.headers, kv->value);
      strcat(rec.headers, "\n");
    }
  }

  pending *p = calloc(1, sizeof *p);
  p->h = h;
  p->req = req;
  snprintf(p->path, sizeof p->path, "%s", rec.path);
  p->resp.status = 404;
  p->body = strdup("{\"error\":{\"message\":\"not scripted\",\"type\":\"not_found\"}}");

  pthread_mutex_lock(&h->mu);
  route *match = NULL;
  for (size_t i = 0; i < h->n_routes; i++) {
    route *r = &h->routes[i];
    if (strcmp(r->path, rec.path) == 0 && (!r->method || strcmp(r->method, method) == 0)) match = r;
  }
  eco_test_handler fn = NULL;
  void *user = NULL;
  if (match) {
    if (match->fn) {
      fn = match->fn;
      user = match->user;
    } else {
      free(p->body);
      p->resp.status = match->status;
      p->resp.delay_ms = match->delay_ms;
      p->resp.chunk_delay_ms = match->chunk_delay_ms;
      p->body = dupz(match->body);
      p->ctype = dupz(match->content_type);
      p->headers = dupz(match->headers);
      if (match->n_chunks) {
        p->chunks = calloc(match->n_chunks, sizeof *p->chunks);
        p->n_chunks = match->n_chunks;
        for (size_t i = 0; i < match->n_chunks; i++)
          p->chunks[i] = strdup(match->chunks[i]);
      }
    }
  }
  eco_test_request *log = realloc(h->log, (h->n_log + 1) * sizeof *log);
  if (log) {
    h->log = log;
    log[h->n_log++] = rec;
  } else {
    free(rec.body);
    free(rec.headers);
  }
  pthread_mutex_unlock(&h->mu);

  if (fn) {
    eco_test_response resp = {.status = 200};
    fn(&rec, &resp, user);
    free(p->body);
    p->resp = resp;
    p->body = dupz(resp.body);
    p->ctype = dupz(resp.content_type);
    p->headers = dupz(resp.headers);
    if (resp.n_chunks) {
      p->chunks = calloc(resp.n_chunks, sizeof *p->chunks);
      p->n_chunks = resp.n_chunks;
      for (size_t i = 0; i < resp.n_chunks; i++)
        p->chunks[i] = strdup(resp.chunks[i]);
    }
  }
  p->next_p = h->inflight;
  if (h->inflight) h->inflight->prev = p;
  h->inflight = p;
  p->timer = evtimer_new(h->base, pending_step, p);
  struct bufferevent *cbev = evhttp_connection_get_bufferevent(evhttp_request_get_connection(req));
  const evutil_socket_t cfd = cbev ? bufferevent_getfd(cbev) : -1;
  if (cfd >= 0) {
    p->watch = event_new(h->base, cfd, EV_CLOSED | EV_PERSIST, pending_watch, p);
    if (p->watch && event_add(p->watch, NULL) != 0) {
      event_free(p->watch);
      p->watch = NULL;
    }
  }
  struct timeval tv = {p->resp.delay_ms / 1000, (p->resp.delay_ms % 1000) * 1000};
  evtimer_add(p->timer, &tv);
}

static void *loop(void *arg) {
  eco_test_httpd *h = arg;
  event_base_dispatch(h->base);
  return NULL;
}

static void on_wake(evutil_socket_t fd, short ev, void *arg) {
  (void)fd;
  (void)ev;
  event_base_loopbreak(arg);
}

int eco_test_httpd_start(eco_test_httpd **out) {
  return eco_test_httpd_start_at("127.0.0.1", 0, out);
}

int eco_test_httpd_start_at(const char *ip, int port, eco_test_httpd **out) {
  evthread_use_pthreads();
  signal(SIGPIPE, SIG_IGN); /* a dropped peer must not kill the test */
  eco_test_httpd *h = calloc(1, sizeof *h);
  if (!h) return -1;
  pthread_mutex_init(&h->mu, NULL);
  h->base = event_base_new();
  if (!h->base) goto fail;
  h->http = evhttp_new(h->base);
  if (!h->http) goto fail;
  evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                          EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD | EVHTTP_REQ_PATCH |
                                          EVHTTP_REQ_OPTIONS);
  evhttp_set_gencb(h->http, on_request, h);
  struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(h->http, ip, (ev_uint16_t)port);
  if (!bs) goto fail;
  evutil_socket_t fd = evhttp_bound_socket_get_fd(bs);
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t sl = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) goto fail;
  h->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  snprintf(h->url, sizeof h->url, "http://%s:%d", ip, h->port);
  h->wake = event_new(h->base, -1, 0, on_wake, h->base);
  if (pthread_create(&h->thread, NULL, loop, h) != 0) goto fail;
  *out = h;
  return 0;
fail:
  if (h->http) evhttp_free(h->http);
  if (h->base) event_base_free(h->base);
  free(h);
  return -1;
}

void eco_test_httpd_stop(eco_test_httpd *h) {
  if (!h) return;
  event_active(h->wake, EV_READ, 0);
  pthread_join(h->thread, NULL);
  while (h->inflight)
    pending_free(h->inflight);
  evhttp_free(h->http);
  event_free(h->wake);
  event_base_free(h->base);
  for (size_t i = 0; i < h->n_routes; i++)
    route_clear(&h->routes[i]);
  free(h->routes);
  for (size_t i = 0; i < h->n_log; i++)
    eco_test_request_free(&h->log[i]);
  free(h->log);
  for (size_t i = 0; i < h->n_cut; i++)
    free(h->cut_paths[i]);
  free(h->cut_paths);
  pthread_mutex_destroy(&h->mu);
  free(h);
}

int eco_test_httpd_port(const eco_test_httpd *h) { return h->port; }
const char *eco_test_httpd_url(const eco_test_httpd *h) { return h->url; }

static route *slot(eco_test_httpd *h, const char *method, const char *path) {
  for (size_t i = 0; i < h->n_routes; i++) {
    route *r = &h->routes[i];
    bool same_m = (!r->method && !method) || (r->method && method && !strcmp(r->method, method));
    if (same_m && strcmp(r->path, path) == 0) {
      route_clear(r);
      return r;
    }
  }
  route *rs = realloc(h->routes, (h->n_routes + 1) * sizeof *rs);
  if (!rs) return NULL;
  h->routes = rs;
  memset(&rs[h->n_routes], 0, sizeof *rs);
  return &rs[h->n_routes++];
}

int eco_test_httpd_on(eco_test_httpd *h, const char *method, const char *path,
                      const eco_test_response *resp) {
  pthread_mutex_lock(&h->mu);
  route *r = slot(h, method, path);
  if (!r) {
    pthread_mutex_unlock(&h->mu);
    return -1;
  }
  r->method = dupz(method);
  r->path = strdup(path);
  r->status = resp->status;
  r->content_type = dupz(resp->content_type);
  r->headers = dupz(resp->headers);
  r->body = dupz(resp->body);
  r->delay_ms = resp->delay_ms;
  r->chunk_delay_ms = resp->chunk_delay_ms;
  if (resp->n_chunks) {
    r->chunks = calloc(resp->n_chunks, sizeof *r->chunks);
    r->n_chunks = resp->n_chunks;
    for (size_t i = 0; i < resp->n_chunks; i++)
      r->chunks[i] = strdup(resp->chunks[i]);
  }
  pthread_mutex_unlock(&h->mu);
  return 0;
}

int eco_test_httpd_handler(eco_test_httpd *h, const char *method, const char *path,
                           eco_test_handler fn, void *user) {
  pthread_mutex_lock(&h->mu);
  route *r = slot(h, method, path);
  if (!r) {
    pthread_mutex_unlock(&h->mu);
    return -1;
  }
  r->method = dupz(method);
  r->path = strdup(path);
  r->fn = fn;
  r->user = user;
  pthread_mutex_unlock(&h->mu);
  return 0;
}

size_t eco_test_httpd_count(eco_test_httpd *h, const char *path) {
  pthread_mutex_lock(&h->mu);
  size_t n = 0;
  for (size_t i = 0; i < h->n_log; i++)
    if (!path || strcmp(h->log[i].path, path) == 0) n++;
  pthread_mutex_unlock(&h->mu);
  return n;
}

size_t eco_test_httpd_cut_short(eco_test_httpd *h, const char *path) {
  pthread_mutex_lock(&h->mu);
  size_t n = 0;
  for (size_t i = 0; i < h->n_cut; i++)
    if (!path || strcmp(h->cut_paths[i], path) == 0) n++;
  pthread_mutex_unlock(&h->mu);
  return n;
}

int eco_test_httpd_last(eco_test_httpd *h, const char *path, eco_test_request *out) {
  int rc = -1;
  pthread_mutex_lock(&h->mu);
  for (size_t i = h->n_log; i-- > 0;) {
    if (!path || strcmp(h->log[i].path, path) == 0) {
      *out = h->log[i];
      out->body = dupz(h->log[i].body);
      out->headers = dupz(h->log[i].headers);
      rc = 0;
      break;
    }
  }
  pthread_mutex_unlock(&h->mu);
  return rc;
}

void eco_test_request_free(eco_test_request *r) {
  free(r->body);
  free(r->headers);
  r->body = r->headers = NULL;
}
