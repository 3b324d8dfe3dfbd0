/* ecoinfer router: the Batch API's HTTP handlers, on the router's event loop
 * (see batch_internal.h). */
#include "router/batch_internal.h"

#include "accounting/wire.h"
#include "util/timeutil.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

/* One request being answered; code receives the HTTP status sent. */
typedef struct hreq {
  struct evhttp_request *r;
  int code;
} hreq;

static void reply(hreq *req, int code, const char *ctype, const char *body, size_t len) {
  struct evbuffer *o = evbuffer_new();
  if (!o) {
    req->code = 500;
    evhttp_send_error(req->r, 500, NULL);
    return;
  }
  req->code = code;
  evhttp_add_header(evhttp_request_get_output_headers(req->r), "Content-Type", ctype);
  evbuffer_add(o, body, len);
  evhttp_send_reply(req->r, code, code < 300 ? "OK" : "Error", o);
  evbuffer_free(o);
}

static void reply_json(hreq *req, int code, json_t *j) {
  char *s = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(12)) : NULL;
  if (!s) {
    req->code = 500;
    evhttp_send_error(req->r, 500, NULL);
  } else {
    reply(req, code, "application/json", s, strlen(s));
    free(s);
  }
  json_decref(j);
}

static void reply_err(hreq *req, int code, const char *type, const char *ecode, const char *msg) {
  reply_json(req, code, eco_wire_error_json(msg, type, NULL, ecode));
}

static int http_code(int rc) {
  switch (rc) {
  case ECO_ENOENT: return 404;
  case ECO_ESTATE: return 409;
  case ECO_ENOMEM:
  case ECO_EIO:
  case ECO_EINTERNAL: return 500;
  default: return 400;
  }
}

static void reply_rc(hreq *req, int rc, const eco_error *e) {
  int c = http_code(rc);
  reply_err(req, c,
            c == 404   ? "not_found_error"
            : c >= 500 ? "server_error"
                       : "invalid_request_error",
            NULL, eco_error_text(e));
}

/* The request body as a malloc'd NUL-terminated buffer. */
static char *req_body(hreq *req, size_t *len) {
  struct evbuffer *in = evhttp_request_get_input_buffer(req->r);
  *len = evbuffer_get_length(in);
  char *s = malloc(*len + 1);
  if (!s) return NULL;
  evbuffer_copyout(in, s, *len);
  s[*len] = '\0';
  return s;
}

static const void *memfind(const void *h, size_t hn, const void *n, size_t nn) {
  if (nn == 0 || hn < nn) return NULL;
  const char *p = h;
  for (size_t i = 0; i + nn <= hn; i++)
    if (p[i] == *(const char *)n && memcmp(p + i, n, nn) == 0) return p + i;
  return NULL;
}

/* A quoted or bare parameter value (e.g. name="file") from a header line. */
static void hdr_param(const char *h, size_t hl, const char *key, char *out, size_t cap) {
  out[0] = '\0';
  size_t kl = strlen(key);
  for (size_t i = 0; i + kl < hl; i++) {
    if (strncasecmp(h + i, key, kl) != 0 || (i && h[i - 1] != ' ' && h[i - 1] != ';')) continue;
    const char *v = h + i + kl, *end = h + hl;
    bool q = v < end && *v == '"';
    if (q) v++;
    size_t k = 0;
    while (v < end && k + 1 < cap && (q ? *v != '"' : (*v != ';' && *v != ' ' && *v != '\r')))
      out[k++] = *v++;
    out[k] = '\0';
    return;
  }
}

typedef struct part {
  char name[64], filename[256];
  const char *data;
  size_t len;
} part;

/* Splits a multipart/form-data body into up to max parts (RFC 7578). */
static size_t multipart(const char *body, size_t len, const char *boundary, part *parts,
                        size_t max) {
  char delim[128];
  int dl = snprintf(delim, sizeof delim, "--%s", boundary);
  if (dl <= 2 || (size_t)dl >= sizeof delim) return 0;
  size_t n = 0;
  const char *p = memfind(body, len, delim, (size_t)dl), *end = body + len;
  while (p && n < max) {
    p += dl;
    if (end - p >= 2 && p[0] == '-' && p[1] == '-') break;
    if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') p += 2;
    const char *he = memfind(p, (size_t)(end - p), "\r\n\r\n", 4);
    if (!he) break;
    part *pt = &parts[n];
    memset(pt, 0, sizeof *pt);
    for (const char *l = p; l < he;) {
      const char *le = memfind(l, (size_t)(he - l), "\r\n", 2);
      if (!le) le = he;
      if ((size_t)(le - l) > 20 && strncasecmp(l, "Content-Disposition:", 20) == 0) {
        hdr_param(l, (size_t)(le - l), "name=", pt->name, sizeof pt->name);
        hdr_param(l, (size_t)(le - l), "filename=", pt->filename, sizeof pt->filename);
      }
      l = le + 2;
    }
    const char *d = he + 4;
    const char *nx = memfind(d, (size_t)(end - d), delim, (size_t)dl);
    if (!nx) break;
    size_t dlen = (size_t)(nx - d);
    if (dlen >= 2 && d[dlen - 2] == '\r' && d[dlen - 1] == '\n') dlen -= 2;
    pt->data = d;
    pt->len = dlen;
    n++;
    p = nx;
  }
  return n;
}

static const char *query_get(hreq *req, struct evkeyvalq *kv, const char *key) {
  const char *uri = evhttp_request_get_uri(req->r);
  const char *qm = strchr(uri, '?');
  if (!qm) return NULL;
  if (!kv->tqh_first && evhttp_parse_query_str(qm + 1, kv) != 0) return NULL;
  return evhttp_find_header(kv, key);
}

static void files_create(eco_batch_api *b, hreq *req) {
  size_t len = 0;
  char *body = req_body(req, &len);
  struct evkeyvalq kv = {0};
  TAILQ_INIT(&kv);
  if (!body) {
    reply_err(req, 500, "server_error", NULL, "out of memory");
    return;
  }
  const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req->r), "Content-Type");
  char purpose[32] = "", filename[256] = "input.jsonl";
  const char *data = body;
  size_t dlen = len;
  if (ct && strncasecmp(ct, "multipart/form-data", 19) == 0) {
    char boundary[100];
    hdr_param(ct, strlen(ct), "boundary=", boundary, sizeof boundary);
    part parts[8];
    size_t np = boundary[0] ? multipart(body, len, boundary, parts, 8) : 0;
    data = NULL;
    for (size_t i = 0; i < np; i++) {
      if (strcmp(parts[i].name, "purpose") == 0) {
        snprintf(purpose, sizeof purpose, "%.*s", (int)(parts[i].len < 31 ? parts[i].len : 31),
                 parts[i].data);
      } else if (strcmp(parts[i].name, "file") == 0) {
        data = parts[i].data;
        dlen = parts[i].len;
        if (parts[i].filename[0]) snprintf(filename, sizeof filename, "%s", parts[i].filename);
      }
    }
    if (!data) {
      reply_err(req, 400, "invalid_request_error", "missing_file",
                "multipart body needs a 'file' part (and purpose=batch)");
      goto out;
    }
  } else {
    const char *p = query_get(req, &kv, "purpose");
    const char *fn = query_get(req, &kv, "filename");
    if (p) snprintf(purpose, sizeof purpose, "%s", p);
    if (fn) snprintf(filename, sizeof filename, "%s", fn);
  }
  if (strcmp(purpose, "batch") != 0) {
    reply_err(req, 400, "invalid_request_error", "invalid_purpose",
              "purpose must be 'batch' (multipart field, or ?purpose=batch with a raw body)");
    goto out;
  }
  eco_batchq_file f;
  eco_error e = {0};
  int rc = eco_batchq_file_create(b->q, "batch", filename, data, dlen, eco_time_wall_s(), &f, &e);
  if (rc)
    reply_rc(req, rc, &e);
  else
    reply_json(req, 200, eco_batchq_file_json(&f));
out:
  evhttp_clear_headers(&kv);
  free(body);
}

static void batches_create(eco_batch_api *b, hreq *req) {
  size_t len = 0;
  char *raw = req_body(req, &len);
  json_error_t je;
  json_t *j = raw ? json_loadb(raw, len, 0, &je) : NULL;
  free(raw);
  eco_error e = {0};
  eco_batchq_assign *as = NULL;
  char *meta = NULL;
  if (!json_is_object(j)) {
    reply_err(req, 400, "invalid_request_error", NULL, "body must be a JSON object");
    goto out;
  }
  const char *fid = json_string_value(json_object_get(j, "input_file_id"));
  const char *ep = json_string_value(json_object_get(j, "endpoint"));
  const char *win = json_string_value(json_object_get(j, "completion_window"));
  if (!fid || !ep || !win) {
    reply_err(req, 400, "invalid_request_error", NULL,
              "input_file_id, endpoint and completion_window are required strings");
    goto out;
  }
  if (strcmp(ep, "/v1/chat/completions") != 0 && strcmp(ep, "/v1/completions") != 0) {
    reply_err(req, 400, "invalid_request_error", "invalid_endpoint",
              "endpoint must be /v1/chat/completions or /v1/completions");
    goto out;
  }
  json_t *m = json_object_get(j, "metadata");
  if (json_is_object(m)) meta = json_dumps(m, JSON_COMPACT);
  double window = 0, now = eco_time_wall_s(), pg = 0, rg = 0;
  int64_t n = 0;
  int rc = eco_batchq_parse_window(win, &window, &e);
  if (!rc) rc = eco_batchq_validate(b->q, fid, ep, &n, &e);
  if (rc) {
    reply_err(req, rc == ECO_ENOENT ? 404 : 400,
              rc == ECO_ENOENT ? "not_found_error" : "invalid_request_error", NULL,
              eco_error_text(&e));
    goto out;
  }
  if (n == 0) {
    reply_err(req, 400, "invalid_request_error", "empty_file", "the input file has no requests");
    goto out;
  }
  if (b->n_zones == 0) {
    reply_err(req, 400, "invalid_request_error", "no_capacity", "the router has no nodes");
    goto out;
  }
  if ((rc = bapi_plan(b, b->q, NULL, n, now, now + window, &as, &pg, &rg, &e))) {
    char msg[600];
    snprintf(msg, sizeof msg, "cannot meet completion_window %s: %s", win, eco_error_text(&e));
    reply_err(req, rc == ECO_ERANGE ? 400 : http_code(rc), "invalid_request_error",
              rc == ECO_ERANGE ? "deadline_infeasible" : NULL, msg);
    goto out;
  }
  eco_batchq_create c = {.input_file_id = fid,
                         .endpoint = ep,
                         .completion_window = win,
                         .metadata_json = meta,
                         .now_s = now,
                         .assign = as,
                         .n_assign = (size_t)n,
                         .planned_g = pg,
                         .run_now_g = rg};
  eco_batchq_batch bt;
  if ((rc = eco_batchq_batch_create(b->q, &c, &bt, &e))) {
    reply_rc(req, rc, &e);
    goto out;
  }
  reply_json(req, 200, eco_batchq_batch_json(&bt));
  eco_batchq_batch_clear(&bt);
out:
  free(as);
  free(meta);
  json_decref(j);
}

static void batches_list(eco_batch_api *b, hreq *req) {
  struct evkeyvalq kv;
  TAILQ_INIT(&kv);
  const char *after = query_get(req, &kv, "after");
  const char *lim = query_get(req, &kv, "limit");
  long limit = lim ? strtol(lim, NULL, 10) : 20;
  if (limit < 1 || limit > 100) limit = 20;
  char(*ids)[ECO_BATCHQ_ID_MAX] = NULL;
  size_t n = 0;
  eco_error e = {0};
  int rc = eco_batchq_batch_list(b->q, after, (size_t)limit + 1, false, &ids, &n, &e);
  if (rc) {
    reply_rc(req, rc, &e);
    evhttp_clear_headers(&kv);
    return;
  }
  bool more = n > (size_t)limit;
  if (more) n = (size_t)limit;
  json_t *data = json_array();
  for (size_t i = 0; i < n; i++) {
    eco_batchq_batch bt;
    if (eco_batchq_batch_get(b->q, ids[i], &bt, &e) == 0) {
      json_array_append_new(data, eco_batchq_batch_json(&bt));
      eco_batchq_batch_clear(&bt);
    }
  }
  reply_json(req, 200,
             json_pack("{s:s,s:o,s:s?,s:s?,s:b}", "object", "list", "data", data, "first_id",
                       n ? ids[0] : NULL, "last_id", n ? ids[n - 1] : NULL, "has_more", more));
  free(ids);
  evhttp_clear_headers(&kv);
}

static void handle(eco_batch_api *b, hreq *req, const char *path);

int eco_batch_api_handle(eco_batch_api *b, struct evhttp_request *r, const char *path) {
  if (strncmp(path, "/v1/files", 9) != 0 && strncmp(path, "/v1/batches", 11) != 0) return 0;
  hreq req = {r, 0};
  handle(b, &req, path);
  return req.code ? req.code : 500;
}

static void handle(eco_batch_api *b, hreq *req, const char *path) {
  if (!b) {
    reply_err(req, 404, "not_found_error", NULL,
              "the Batch API is off on this router (set router.batch_api.db)");
    return;
  }
  enum evhttp_cmd_type cmd = evhttp_request_get_command(req->r);
  bool get = cmd == EVHTTP_REQ_GET, post = cmd == EVHTTP_REQ_POST;
  eco_error e = {0};
  char id[ECO_BATCHQ_ID_MAX] = "", tail[32] = "";
  if (strcmp(path, "/v1/files") == 0) {
    if (post)
      files_create(b, req);
    else
      reply_err(req, 405, "invalid_request_error", NULL, "use POST");
    return;
  }
  if (strcmp(path, "/v1/batches") == 0) {
    if (post)
      batches_create(b, req);
    else if (get)
      batches_list(b, req);
    else
      reply_err(req, 405, "invalid_request_error", NULL, "use GET or POST");
    return;
  }
  bool files = path[4] == 'f';
  const char *rest = path + (files ? 10 : 12);
  size_t il = strcspn(rest, "/");
  if (il == 0 || il >= sizeof id || strlen(rest + il) >= sizeof tail) {
    reply_err(req, 404, "not_found_error", NULL, "no such endpoint");
    return;
  }
  memcpy(id, rest, il);
  snprintf(tail, sizeof tail, "%s", rest + il);
  int rc;
  if (files && get && tail[0] == '\0') {
    eco_batchq_file f;
    if ((rc = eco_batchq_file_get(b->q, id, &f, &e)))
      reply_rc(req, rc, &e);
    else
      reply_json(req, 200, eco_batchq_file_json(&f));
  } else if (files && get && strcmp(tail, "/content") == 0) {
    char *data = NULL;
    size_t len = 0;
    if ((rc = eco_batchq_file_content(b->q, id, &data, &len, &e)))
      reply_rc(req, rc, &e);
    else
      reply(req, 200, "application/jsonl", data, len);
    free(data);
  } else if (!files && get && tail[0] == '\0') {
    eco_batchq_batch bt;
    if ((rc = eco_batchq_batch_get(b->q, id, &bt, &e))) {
      reply_rc(req, rc, &e);
    } else {
      reply_json(req, 200, eco_batchq_batch_json(&bt));
      eco_batchq_batch_clear(&bt);
    }
  } else if (!files && post && strcmp(tail, "/cancel") == 0) {
    eco_batchq_batch bt;
    if ((rc = eco_batchq_cancel(b->q, id, eco_time_wall_s(), &bt, &e))) {
      reply_rc(req, rc, &e);
    } else {
      reply_json(req, 200, eco_batchq_batch_json(&bt));
      eco_batchq_batch_clear(&bt);
    }
  } else {
    reply_err(req, 404, "not_found_error", NULL, "no such endpoint");
  }
}
