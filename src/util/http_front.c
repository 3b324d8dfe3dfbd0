/* ecoinfer util: the HTTP front before libevent's evhttp (see http_front.h).
 *
 * How it sits in front: the evhttp creates each connection's bufferevent
 * through our factory, and an evbuffer callback on its input buffer runs
 * right after bytes arrive from the socket and before evhttp's read
 * callback. The callback takes the new bytes out, walks them through the
 * framing state machine below and puts back what evhttp may see: a request
 * head only once it is complete and valid, body bytes as they come, chunk
 * size lines once checked. A refused request is replaced by a synthetic one
 * that carries a per-process secret and an index into the error table, and
 * that the front's generic callback answers through the server's own error
 * function (so answers stay in order and every answer is JSON). */
#include "util/http_front.h"

#include "util/rand.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FRONT_HDR   "X-Ecoinfer-Front"
#define FRONT_PATH  "/.ecoinfer-front-error"
#define PENDING_MAX 1024
#define LINGER_MAX  (1ull << 30) /* bytes of an oversized body read and dropped at most */

enum { ST_HEAD, ST_BODY, ST_DISCARD, ST_CSIZE, ST_CDATA, ST_CCRLF, ST_TRAILER, ST_DEAD };

/* The input callback's argument is the front until a connection's first
 * bytes, then the connection's state: both start with is_front. */
typedef struct conn_st {
  bool is_front; /* false */
  eco_http_front *f;
  int ps;                /* ST_* */
  struct evbuffer *head; /* held-back head or trailer bytes */
  size_t scan;           /* bytes of head already scanned for the end of a line */
  bool started;          /* a request line has begun (blank lines before it are dropped) */
  uint64_t left;         /* body, chunk or discard bytes left */
  uint64_t ctotal;       /* sum of chunk sizes so far */
  char line[72];         /* chunk size line or the CRLF after chunk data */
  size_t line_len;
  bool http10;
  bool busy; /* our own changes to the buffer call us again */
} conn_st;

typedef struct pending {
  struct evbuffer *in; /* compared, never dereferenced: may be freed */
  struct bufferevent *bev;
} pending;

struct eco_http_front {
  bool is_front; /* true */
  eco_http_front_cfg cfg;
  char secret[40];
  conn_st **slots; /* by file descriptor */
  size_t n_slots;
  pending pend[PENDING_MAX]; /* connections that have sent nothing yet, a ring */
  size_t pend_next;
  struct evbuffer *tmp, *fresh;
};

typedef struct ferr {
  int status;
  const char *code, *msg;
} ferr;

enum {
  E_LINE,
  E_METHOD,
  E_VERSION,
  E_HEADER,
  E_HEAD_SIZE,
  E_CL,
  E_CL_CONFLICT,
  E_TE_CODING,
  E_TE_LAST,
  E_TE_CL,
  E_TOO_LARGE,
  E_CHUNK_SIZE,
  E_CHUNK_CRLF,
  E_BODY_NOT_ALLOWED,
  E_HOST,
  E_TRAILER,
  E_COUNT
};

static const ferr errs[E_COUNT] = {
    [E_LINE] = {400, "invalid_request_line", "malformed request line"},
    [E_METHOD] = {501, "method_not_supported", "this method is not implemented"},
    [E_VERSION] = {505, "http_version_not_supported", "only HTTP/1.0 and HTTP/1.1 are served"},
    [E_HEADER] = {400, "invalid_header", "malformed header line"},
    [E_HEAD_SIZE] = {431, "headers_too_large", "request line and headers are too large"},
    [E_CL] = {400, "invalid_content_length", "Content-Length is not a decimal number"},
    [E_CL_CONFLICT] = {400, "invalid_content_length", "conflicting Content-Length headers"},
    [E_TE_CODING] = {501, "unsupported_transfer_encoding",
                     "only Transfer-Encoding: chunked is implemented"},
    [E_TE_LAST] = {400, "invalid_transfer_encoding", "chunked must be the final transfer coding"},
    [E_TE_CL] = {400, "invalid_transfer_encoding",
                 "Transfer-Encoding with Content-Length or in an HTTP/1.0 request"},
    [E_TOO_LARGE] = {413, "request_too_large", "request body is larger than this server accepts"},
    [E_CHUNK_SIZE] = {400, "invalid_chunk", "invalid chunk size line"},
    [E_CHUNK_CRLF] = {400, "invalid_chunk", "chunk data not followed by CRLF"},
    [E_BODY_NOT_ALLOWED] = {400, "invalid_request", "a body on a request that takes none"},
    [E_HOST] = {400, "invalid_header", "more than one Host header"},
    [E_TRAILER] = {400, "invalid_chunk", "malformed or oversized trailer"},
};

static bool tchar(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int method_bit(const char *m, size_t n) {
  static const struct {
    const char *name;
    int bit;
  } t[] = {
      {"GET", EVHTTP_REQ_GET},     {"POST", EVHTTP_REQ_POST},       {"HEAD", EVHTTP_REQ_HEAD},
      {"PUT", EVHTTP_REQ_PUT},     {"DELETE", EVHTTP_REQ_DELETE},   {"OPTIONS", EVHTTP_REQ_OPTIONS},
      {"TRACE", EVHTTP_REQ_TRACE}, {"CONNECT", EVHTTP_REQ_CONNECT}, {"PATCH", EVHTTP_REQ_PATCH}};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    if (strlen(t[i].name) == n && memcmp(t[i].name, m, n) == 0) return t[i].bit;
  return 0;
}

/* One line of a head: [s, e) without its line end. A CR inside is refused. */
static bool line_clean(const char *s, const char *e) {
  return memchr(s, '\r', (size_t)(e - s)) == NULL;
}

/* Checks a header line's shape: token ":" OWS value OWS, no control
 * characters; gives the name's length and the trimmed value. */
static bool header_line(const char *s, const char *e, size_t *nl, const char **v, size_t *vl) {
  const char *c = s;
  while (c < e && tchar((unsigned char)*c))
    c++;
  if (c == s || c == e || *c != ':') return false;
  *nl = (size_t)(c - s);
  for (const char *p = c + 1; p < e; p++) {
    unsigned char ch = (unsigned char)*p;
    if ((ch < 0x20 && ch != '\t') || ch == 0x7f) return false;
  }
  c++;
  while (c < e && (*c == ' ' || *c == '\t'))
    c++;
  const char *ve = e;
  while (ve > c && (ve[-1] == ' ' || ve[-1] == '\t'))
    ve--;
  *v = c;
  *vl = (size_t)(ve - c);
  return true;
}

static bool name_is(const char *s, size_t n, const char *want) {
  return strlen(want) == n && strncasecmp(s, want, n) == 0;
}

typedef struct head_info {
  int method;
  bool http10, chunked;
  uint64_t cl;
} head_info;

static int check_request_line(eco_http_front *f, const char *s, const char *e, head_info *hi) {
  const char *sp1 = memchr(s, ' ', (size_t)(e - s));
  if (!sp1 || !line_clean(s, e)) return E_LINE;
  const char *sp2 = memchr(sp1 + 1, ' ', (size_t)(e - sp1 - 1));
  if (!sp2 || sp2 == sp1 + 1) return E_LINE;
  for (const char *p = s; p < sp1; p++)
    if (!tchar((unsigned char)*p)) return E_LINE;
  char target[2048];
  size_t tl = (size_t)(sp2 - sp1 - 1);
  if (tl >= sizeof target) return E_LINE;
  for (const char *p = sp1 + 1; p < sp2; p++)
    if ((unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7f) return E_LINE;
  const char *ver = sp2 + 1;
  size_t vl = (size_t)(e - ver);
  if (vl == 8 && memcmp(ver, "HTTP/1.1", 8) == 0)
    hi->http10 = false;
  else if (vl == 8 && memcmp(ver, "HTTP/1.0", 8) == 0)
    hi->http10 = true;
  else if (vl == 8 && memcmp(ver, "HTTP/", 5) == 0 && ver[5] >= '0' && ver[5] <= '9' &&
           ver[6] == '.' && ver[7] >= '0' && ver[7] <= '9')
    return E_VERSION;
  else
    return E_LINE;
  hi->method = method_bit(s, (size_t)(sp1 - s));
  if (!hi->method || !(hi->method & f->cfg.methods)) return E_METHOD;
  memcpy(target, sp1 + 1, tl);
  target[tl] = '\0';
  struct evhttp_uri *u = evhttp_uri_parse_with_flags(target, EVHTTP_URI_NONCONFORMANT);
  if (!u) return E_LINE;
  evhttp_uri_free(u);
  return -1;
}

/* Transfer-Encoding value: a list of codings; counts them and notes
 * whether chunked is the last one. */
static int check_te(const char *v, size_t vl, int *n_codings, int *n_chunked, bool *last_chunked) {
  const char *p = v, *e = v + vl;
  while (p <= e) {
    const char *c = memchr(p, ',', (size_t)(e - p));
    if (!c) c = e;
    const char *a = p, *b = c;
    while (a < b && (*a == ' ' || *a == '\t'))
      a++;
    while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
      b--;
    if (a == b) return E_TE_LAST; /* empty element */
    bool ch = name_is(a, (size_t)(b - a), "chunked");
    (*n_codings)++;
    *n_chunked += ch;
    *last_chunked = ch;
    p = c + 1;
  }
  return -1;
}

static int check_headers(eco_http_front *f, const char *s, const char *end, head_info *hi) {
  bool cl_seen = false, te_seen = false, last_chunked = false;
  int n_codings = 0, n_chunked = 0, hosts = 0;
  while (s < end) {
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    const char *e = nl;
    if (e > s && e[-1] == '\r') e--;
    if (e == s) break; /* the blank line */
    size_t nlen, vl;
    const char *v;
    if (!line_clean(s, e) || *s == ' ' || *s == '\t' || !header_line(s, e, &nlen, &v, &vl))
      return E_HEADER;
    if (name_is(s, nlen, "Content-Length")) {
      if (vl == 0 || vl > 18) return E_CL;
      uint64_t n = 0;
      for (size_t i = 0; i < vl; i++) {
        if (v[i] < '0' || v[i] > '9') return E_CL;
        n = n * 10 + (uint64_t)(v[i] - '0');
      }
      if (cl_seen && n != hi->cl) return E_CL_CONFLICT;
      cl_seen = true;
      hi->cl = n;
    } else if (name_is(s, nlen, "Transfer-Encoding")) {
      te_seen = true;
      int rc = check_te(v, vl, &n_codings, &n_chunked, &last_chunked);
      if (rc >= 0) return rc;
    } else if (name_is(s, nlen, "Host")) {
      hosts++;
    }
    s = nl + 1;
  }
  if (hosts > 1) return E_HOST;
  if (te_seen) {
    if (cl_seen || hi->http10) return E_TE_CL;
    if (!last_chunked || n_chunked > 1) return E_TE_LAST;
    if (n_codings > 1) return E_TE_CODING;
    hi->chunked = true;
  }
  bool body = hi->chunked || hi->cl > 0;
  if (body && (hi->method & (EVHTTP_REQ_HEAD | EVHTTP_REQ_TRACE))) return E_BODY_NOT_ALLOWED;
  if (!hi->chunked && hi->cl > f->cfg.max_body_bytes) return E_TOO_LARGE;
  return -1;
}

/* Replaces the refused request by the synthetic one; keep_alive when the
 * body will be read and dropped (an oversized Content-Length). */
static void inject_request(conn_st *st, struct evbuffer *out, int err, bool keep_alive) {
  evbuffer_add_printf(out,
                      "GET " FRONT_PATH " HTTP/1.%d\r\nHost: front\r\n" FRONT_HDR
                      ": %s %d\r\nConnection: %s\r\n\r\n",
                      st->http10 ? 0 : 1, st->f->secret, err, keep_alive ? "keep-alive" : "close");
}

/* Ends a chunked body early with one more chunk that names the error:
 * "\n" FRONT_HDR " " secret " " NN at the very end of the body (libevent
 * drops trailer fields, so a trailer cannot carry it). */
static void inject_marker(conn_st *st, struct evbuffer *out, int err) {
  char m[96];
  int n = snprintf(m, sizeof m, "\n" FRONT_HDR " %s %02d", st->f->secret, err);
  evbuffer_add_printf(out, "\r\n%x\r\n%s\r\n0\r\n\r\n", n, m);
  st->ps = ST_DEAD;
}

/* Scans st->head for the end of the head (a blank line); returns the head's
 * length with that line, 0 when not complete yet. Blank lines before a
 * request line are dropped. */
static size_t head_end(conn_st *st) {
  for (;;) {
    struct evbuffer_ptr p;
    size_t eol = 0;
    if (evbuffer_ptr_set(st->head, &p, st->scan, EVBUFFER_PTR_SET) != 0) return 0;
    struct evbuffer_ptr q = evbuffer_search_eol(st->head, &p, &eol, EVBUFFER_EOL_LF);
    if (q.pos < 0) return 0;
    size_t line_len = (size_t)q.pos - st->scan;
    /* a line of only "\r" is blank too */
    bool blank = line_len == 0;
    if (line_len == 1) {
      char c;
      evbuffer_copyout_from(st->head, &p, &c, 1);
      blank = c == '\r';
    }
    size_t next = (size_t)q.pos + eol;
    if (blank && !st->started) {
      evbuffer_drain(st->head, next);
      st->scan = 0;
      continue;
    }
    st->started = true;
    st->scan = next;
    if (blank) return next;
  }
}

static void on_head_done(conn_st *st, struct evbuffer *in, struct evbuffer *nw, size_t len) {
  eco_http_front *f = st->f;
  evbuffer_drain(f->tmp, evbuffer_get_length(f->tmp));
  evbuffer_remove_buffer(st->head, f->tmp, len);
  evbuffer_prepend_buffer(nw, st->head); /* bytes after the head */
  st->scan = 0;
  st->started = false;
  const char *h = (const char *)evbuffer_pullup(f->tmp, -1);
  const char *e = h + len, *nl = memchr(h, '\n', len);
  head_info hi = {0};
  const char *le = nl > h && nl[-1] == '\r' ? nl - 1 : nl;
  int err = check_request_line(f, h, le, &hi);
  st->http10 = hi.http10;
  if (err < 0) err = check_headers(f, nl + 1, e, &hi);
  if (err >= 0) {
    bool linger = err == E_TOO_LARGE && hi.cl <= LINGER_MAX;
    inject_request(st, in, err, linger && !hi.http10);
    st->ps = linger ? ST_DISCARD : ST_DEAD;
    st->left = hi.cl;
    return;
  }
  evbuffer_add_buffer(in, f->tmp);
  st->ctotal = 0;
  st->line_len = 0;
  st->ps = hi.chunked ? ST_CSIZE : hi.cl > 0 ? ST_BODY : ST_HEAD;
  st->left = hi.cl;
}

/* A chunk size line: 1 to 15 hex digits, nothing else. */
static int chunk_size(conn_st *st, uint64_t *size) {
  size_t n = st->line_len;
  if (n && st->line[n - 1] == '\r') n--;
  if (n == 0 || n > 15) return E_CHUNK_SIZE;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    char c = st->line[i];
    int d = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (d < 0) return E_CHUNK_SIZE;
    v = v * 16 + (uint64_t)d;
  }
  *size = v;
  return -1;
}

/* Reads bytes of a short line into st->line; true once it is complete. */
static bool take_line(conn_st *st, struct evbuffer *nw, int *err, int too_long) {
  char c;
  while (evbuffer_remove(nw, &c, 1) == 1) {
    if (c == '\n') return true;
    if (st->line_len >= sizeof st->line - 1 ||
        (st->line_len && st->line[st->line_len - 1] == '\r')) {
      *err = too_long;
      return false;
    }
    st->line[st->line_len++] = c;
  }
  return false;
}

/* The chunked body states; returns false when the connection is done. */
static bool step_chunked(conn_st *st, struct evbuffer *in, struct evbuffer *nw) {
  eco_http_front *f = st->f;
  int err = -1;
  if (st->ps == ST_CDATA) {
    size_t n = evbuffer_get_length(nw);
    if (n > st->left) n = (size_t)st->left;
    evbuffer_remove_buffer(nw, in, n);
    st->left -= n;
    if (st->left == 0) st->ps = ST_CCRLF;
    return true;
  }
  if (st->ps == ST_CCRLF || st->ps == ST_CSIZE) {
    if (!take_line(st, nw, &err, st->ps == ST_CCRLF ? E_CHUNK_CRLF : E_CHUNK_SIZE)) {
      if (err >= 0) inject_marker(st, in, err);
      return err < 0 && evbuffer_get_length(nw) > 0;
    }
    if (st->ps == ST_CCRLF) {
      bool ok = st->line_len == 0 || (st->line_len == 1 && st->line[0] == '\r');
      st->line_len = 0;
      if (!ok) {
        inject_marker(st, in, E_CHUNK_CRLF);
        return false;
      }
      evbuffer_add(in, "\r\n", 2);
      st->ps = ST_CSIZE;
      return true;
    }
    uint64_t size = 0;
    if ((err = chunk_size(st, &size)) >= 0 || (st->ctotal += size) > f->cfg.max_body_bytes) {
      inject_marker(st, in, err >= 0 ? err : E_TOO_LARGE);
      return false;
    }
    evbuffer_add(in, st->line, st->line_len);
    evbuffer_add(in, "\n", 1);
    st->line_len = 0;
    st->left = size;
    st->ps = size ? ST_CDATA : ST_TRAILER;
    return true;
  }
  /* ST_TRAILER: held back like a head; an empty trailer is the blank line */
  evbuffer_add_buffer(st->head, nw);
  st->started = true;
  size_t len = head_end(st);
  if (!len) {
    if (evbuffer_get_length(st->head) > f->cfg.max_header_bytes) {
      evbuffer_drain(st->head, evbuffer_get_length(st->head));
      inject_marker(st, in, E_TRAILER);
    }
    return false;
  }
  evbuffer_drain(f->tmp, evbuffer_get_length(f->tmp));
  evbuffer_remove_buffer(st->head, f->tmp, len);
  evbuffer_prepend_buffer(nw, st->head);
  st->scan = 0;
  st->started = false;
  const char *t = (const char *)evbuffer_pullup(f->tmp, -1), *e = t + len;
  while (t < e) {
    const char *nl = memchr(t, '\n', (size_t)(e - t)), *le = nl;
    if (le > t && le[-1] == '\r') le--;
    size_t nlen, vl;
    const char *v;
    if (le != t && (!line_clean(t, le) || !header_line(t, le, &nlen, &v, &vl) ||
                    name_is(t, nlen, FRONT_HDR))) {
      inject_marker(st, in, E_TRAILER);
      return false;
    }
    t = nl + 1;
  }
  evbuffer_add_buffer(in, f->tmp);
  st->ps = ST_HEAD;
  return true;
}

static void process(conn_st *st, struct evbuffer *in, struct evbuffer *nw) {
  eco_http_front *f = st->f;
  while (evbuffer_get_length(nw) > 0) {
    if (st->ps == ST_DEAD) {
      evbuffer_drain(nw, evbuffer_get_length(nw));
    } else if (st->ps == ST_BODY || st->ps == ST_DISCARD) {
      size_t n = evbuffer_get_length(nw);
      if (n > st->left) n = (size_t)st->left;
      if (st->ps == ST_BODY)
        evbuffer_remove_buffer(nw, in, n);
      else
        evbuffer_drain(nw, n);
      st->left -= n;
      if (st->left == 0) st->ps = ST_HEAD;
    } else if (st->ps == ST_HEAD) {
      evbuffer_add_buffer(st->head, nw);
      size_t len = head_end(st);
      if (len) {
        on_head_done(st, in, nw, len);
      } else if (evbuffer_get_length(st->head) > f->cfg.max_header_bytes) {
        evbuffer_drain(st->head, evbuffer_get_length(st->head));
        st->scan = 0;
        st->http10 = false;
        inject_request(st, in, E_HEAD_SIZE, false);
        st->ps = ST_DEAD;
      }
    } else if (!step_chunked(st, in, nw)) {
      if (st->ps == ST_DEAD) evbuffer_drain(nw, evbuffer_get_length(nw));
    }
  }
}

static conn_st *slot_for(eco_http_front *f, evutil_socket_t fd) {
  if (fd < 0) return NULL;
  if ((size_t)fd >= f->n_slots) {
    size_t n = f->n_slots ? f->n_slots : 64;
    while (n <= (size_t)fd)
      n *= 2;
    conn_st **s = realloc(f->slots, n * sizeof *s);
    if (!s) return NULL;
    memset(s + f->n_slots, 0, (n - f->n_slots) * sizeof *s);
    f->slots = s;
    f->n_slots = n;
  }
  conn_st *st = f->slots[fd];
  if (!st) {
    st = calloc(1, sizeof *st);
    if (!st || !(st->head = evbuffer_new())) {
      free(st);
      return NULL;
    }
    f->slots[fd] = st;
  }
  /* a new connection on this descriptor: the one before it is closed */
  evbuffer_drain(st->head, evbuffer_get_length(st->head));
  struct evbuffer *h = st->head;
  memset(st, 0, sizeof *st);
  st->head = h;
  st->f = f;
  return st;
}

static void on_input(struct evbuffer *in, const struct evbuffer_cb_info *info, void *arg);

/* The first bytes of a connection: find its bufferevent among those made
 * and not yet heard from, and give it the state of its descriptor. */
static conn_st *first_input(eco_http_front *f, struct evbuffer *in) {
  struct bufferevent *bev = NULL;
  for (size_t k = 0; k < PENDING_MAX && !bev; k++) {
    pending *p = &f->pend[(f->pend_next + PENDING_MAX - 1 - k) % PENDING_MAX];
    if (p->in == in) {
      bev = p->bev;
      p->in = NULL;
    }
  }
  for (size_t k = 0; k < PENDING_MAX; k++) /* older entries at a reused address are stale */
    if (f->pend[k].in == in) f->pend[k].in = NULL;
  conn_st *st = bev ? slot_for(f, bufferevent_getfd(bev)) : NULL;
  evbuffer_remove_cb(in, on_input, f);
  if (st) evbuffer_add_cb(in, on_input, st);
  return st;
}

static void on_input(struct evbuffer *in, const struct evbuffer_cb_info *info, void *arg) {
  if (info->n_added == 0) return;
  conn_st *st = arg;
  if (*(const bool *)arg) { /* the front: a connection's first bytes */
    st = first_input(arg, in);
    if (!st) return; /* unknown connection: evhttp's own checks apply */
  }
  if (st->busy) return;
  st->busy = true;
  eco_http_front *f = st->f;
  size_t len = evbuffer_get_length(in), keep = len - info->n_added;
  evbuffer_drain(f->tmp, evbuffer_get_length(f->tmp));
  evbuffer_drain(f->fresh, evbuffer_get_length(f->fresh));
  evbuffer_remove_buffer(in, f->tmp, keep); /* the bytes evhttp has not read yet */
  evbuffer_add_buffer(f->fresh, in);        /* the new ones */
  evbuffer_add_buffer(in, f->tmp);
  process(st, in, f->fresh);
  st->busy = false;
}

static struct bufferevent *make_bev(struct event_base *base, void *arg) {
  eco_http_front *f = arg;
  struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
  if (!bev) return NULL;
  struct evbuffer *in = bufferevent_get_input(bev);
  if (evbuffer_add_cb(in, on_input, f)) {
    pending *p = &f->pend[f->pend_next];
    f->pend_next = (f->pend_next + 1) % PENDING_MAX;
    p->in = in;
    p->bev = bev;
  }
  return bev;
}

/* The error index a refused request carries (synthetic request or body
 * marker), -1 for a request of the client's. */
static int refused(eco_http_front *f, struct evhttp_request *req) {
  size_t sl = strlen(f->secret);
  const char *m = evhttp_find_header(evhttp_request_get_input_headers(req), FRONT_HDR);
  if (m && strncmp(m, f->secret, sl) == 0 && m[sl] == ' ') return atoi(m + sl + 1);
  struct evbuffer *b = evhttp_request_get_input_buffer(req);
  char tail[96], want[64];
  size_t ml = 1 + strlen(FRONT_HDR) + 1 + sl + 3, bl = evbuffer_get_length(b);
  if (bl < ml || ml >= sizeof tail) return -1;
  struct evbuffer_ptr p;
  if (evbuffer_ptr_set(b, &p, bl - ml, EVBUFFER_PTR_SET) != 0 ||
      evbuffer_copyout_from(b, &p, tail, ml) != (ev_ssize_t)ml)
    return -1;
  snprintf(want, sizeof want, "\n" FRONT_HDR " %s ", f->secret);
  if (memcmp(tail, want, ml - 2) != 0) return -1;
  return (tail[ml - 2] - '0') * 10 + (tail[ml - 1] - '0');
}

static void on_request(struct evhttp_request *req, void *arg) {
  eco_http_front *f = arg;
  int i = refused(f, req);
  if (i >= 0) {
    if (i >= E_COUNT) i = E_LINE;
    struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
    const char *conn = evhttp_find_header(evhttp_request_get_input_headers(req), "Connection");
    if (!conn || strcasecmp(conn, "keep-alive") != 0) evhttp_add_header(oh, "Connection", "close");
    f->cfg.on_error(req, errs[i].status, errs[i].code, errs[i].msg, f->cfg.arg);
    return;
  }
  f->cfg.gencb(req, f->cfg.arg);
}

int eco_http_front_attach(struct evhttp *h, const eco_http_front_cfg *cfg, eco_http_front **out) {
  *out = NULL;
  if (!h || !cfg || !cfg->on_error || !cfg->gencb) return -1;
  eco_http_front *f = calloc(1, sizeof *f);
  if (!f) return -1;
  f->is_front = true;
  f->cfg = *cfg;
  f->tmp = evbuffer_new();
  f->fresh = evbuffer_new();
  if (!f->tmp || !f->fresh || eco_rand_id("", 16, f->secret, sizeof f->secret) != 0) {
    eco_http_front_free(f);
    return -1;
  }
  double t = cfg->timeout_s > 0 ? cfg->timeout_s : 120;
  struct timeval tv = {(time_t)t, (suseconds_t)((t - (double)(time_t)t) * 1e6)};
  evhttp_set_timeout_tv(h, &tv);
  /* room for the error marker; the front enforces the real limit */
  evhttp_set_max_body_size(h, (ev_ssize_t)cfg->max_body_bytes + 256);
  /* evhttp counts header lines only; ours is the stricter count */
  evhttp_set_max_headers_size(h, (ev_ssize_t)cfg->max_header_bytes + 64);
  evhttp_set_allowed_methods(h, (ev_uint16_t)(cfg->methods | EVHTTP_REQ_GET));
  evhttp_set_bevcb(h, make_bev, f);
  evhttp_set_gencb(h, on_request, f);
  *out = f;
  return 0;
}

void eco_http_front_free(eco_http_front *f) {
  if (!f) return;
  for (size_t i = 0; i < f->n_slots; i++)
    if (f->slots[i]) {
      evbuffer_free(f->slots[i]->head);
      free(f->slots[i]);
    }
  free(f->slots);
  if (f->tmp) evbuffer_free(f->tmp);
  if (f->fresh) evbuffer_free(f->fresh);
  free(f);
}
