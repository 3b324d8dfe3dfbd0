/* ecoinfer test helpers for the router's tests (see router_fixture.h). */
#include "router_fixture.h"

#include "testutil.h"

#include "directive/dmodel.h"
#include "util/config.h"
#include "util/log.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- a fake backend ---------------------------------------------------------- */

static const char *const stream_chunks[] = {
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"content\":\"Hel\"}}]}\n\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"content\":\"lo\"}}]}\n\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"content\":\"!\"}}]}\n\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{"
    "\"prompt_tokens\":7,\"completion_tokens\":3,\"total_tokens\":10,\"carbon\":{\"energy_j\":"
    "1.5,\"total_g\":0.0002,\"method\":\"sci-v1.0\"}}}\n\n",
    "data: [DONE]\n\n",
};

#define HEL                                                                                        \
  "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"           \
  "\"delta\":{\"content\":\"Hel\"}}]}\n\n"
static const char *const slow_chunks[] = {
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
    HEL,
    HEL,
    HEL,
    HEL,
    HEL,
    HEL,
    HEL,
    HEL,
    HEL,
    HEL,
    HEL,
    HEL,
    HEL,
    HEL,
    HEL,
    HEL,
    HEL,
    "data: [DONE]\n\n",
};
#undef HEL

static void on_chat(const eco_test_request *req, eco_test_response *resp, void *user) {
  eco_test_backend *b = user;
  resp->delay_ms = b->delay_ms;
  if (b->drop) {
    resp->status = 0;
    return;
  }
  if (b->fail_status) {
    resp->status = b->fail_status;
    resp->body = "{\"error\":{\"message\":\"scripted failure\"}}";
    return;
  }
  resp->status = 200;
  if (req->body && strstr(req->body, "\"stream\":true")) {
    resp->content_type = "text/event-stream";
    resp->chunks = stream_chunks;
    resp->n_chunks = sizeof stream_chunks / sizeof stream_chunks[0];
    resp->chunk_delay_ms = 40;
    if (b->slow_stream) {
      resp->chunks = slow_chunks;
      resp->n_chunks = sizeof slow_chunks / sizeof slow_chunks[0];
      resp->chunk_delay_ms = 100;
    }
    return;
  }
  int out = 100;
  if (b->brief) {
    char lv[16];
    int level = atoi(eco_test_request_header(req, "x-ecoinfer-directive-level", lv, sizeof lv));
    if (req->body && strstr(req->body, "very briefly"))
      level = 2;
    else if (req->body && strstr(req->body, "briefly"))
      level = level > 1 ? level : 1;
    out = level >= 2 ? 14 : level == 1 ? 25 : 100;
  }
  /* The body buffer is per backend; answers are sent before the next
   * request is handled on the backend's single thread. */
  snprintf(
      b->body, sizeof b->body,
      "{\"id\":\"%s-%u\",\"object\":\"chat.completion\",\"model\":\"m\",\"choices\":[{\"index\":"
      "0,\"message\":{\"role\":\"assistant\",\"content\":\"from %s\"},\"finish_reason\":"
      "\"stop\"}],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":%d,"
      "\"total_tokens\":%d%s}}",
      b->name, ++b->answers, b->name, out, 12 + out,
      b->with_carbon ? ",\"carbon\":{\"energy_j\":2.0,\"total_g\":0.0003,\"method\":"
                       "\"sci-v1.0\"}"
                     : "");
  resp->body = b->body;
}

void eco_test_backend_start(eco_test_backend *b, const char *name) {
  memset(b, 0, sizeof *b);
  b->name = name;
  assert_int_equal(eco_test_httpd_start(&b->h), 0);
  eco_test_httpd_handler(b->h, "POST", "/v1/chat/completions", on_chat, b);
  eco_test_httpd_handler(b->h, "POST", "/v1/completions", on_chat, b);
  eco_test_response ok = {.status = 200, .body = "{\"status\":\"ok\"}"};
  eco_test_httpd_on(b->h, "GET", "/health", &ok);
  eco_test_response models = {
      .status = 200,
      .body = "{\"object\":\"list\",\"data\":[{\"id\":\"m\",\"object\":\"model\"}]}"};
  eco_test_httpd_on(b->h, "GET", "/v1/models", &models);
}

void eco_test_backend_stop(eco_test_backend *b) {
  if (b->h) eco_test_httpd_stop(b->h);
  b->h = NULL;
}

/* ---- the router in a thread ---------------------------------------------------- */

static void *run_router(void *arg) {
  eco_router_run(arg);
  return NULL;
}

void eco_test_router_start(eco_test_router *t, const char *yaml) {
  eco_cfg *cfg = NULL;
  eco_error err = {0};
  if (eco_cfg_load_string(yaml, "cluster.yaml", &cfg, &err))
    fail_msg("cluster.yaml: %s", eco_error_text(&err));
  eco_cfg_use_env(cfg, false);
  eco_router_cfg rc;
  int e = eco_router_cfg_load(cfg, &rc, &err);
  eco_cfg_free(cfg);
  if (e) fail_msg("config: %s", eco_error_text(&err));
  eco_logger lg;
  eco_log_init(&lg);
  lg.level = getenv("ECO_TEST_LOG") ? ECO_LOG_DEBUG : ECO_LOG_ERROR;
  rc.ledger = t->ledger;
  e = eco_router_new(&rc, &lg, &t->r, &err);
  eco_router_cfg_free(&rc);
  if (e) {
    t->r = NULL;
    fail_msg("router: %s", eco_error_text(&err));
  }
  snprintf(t->url, sizeof t->url, "http://127.0.0.1:%d", eco_router_port(t->r));
  snprintf(t->admin, sizeof t->admin, "http://127.0.0.1:%d", eco_router_admin_port(t->r));
  if (pthread_create(&t->th, NULL, run_router, t->r) != 0) {
    eco_router_free(t->r);
    t->r = NULL;
    fail_msg("router: cannot start its thread");
  }
}

void eco_test_router_stop(eco_test_router *t) {
  if (!t->r) return;
  eco_router_stop(t->r);
  pthread_join(t->th, NULL);
  eco_router_free(t->r);
  t->r = NULL;
}

/* ---- an HTTP client ----------------------------------------------------------- */

static size_t on_body(char *p, size_t sz, size_t n, void *u) {
  eco_test_resp *r = u;
  size_t k = sz * n;
  char *nb = realloc(r->body, r->len + k + 1);
  if (!nb) return 0;
  r->body = nb;
  memcpy(r->body + r->len, p, k);
  r->len += k;
  r->body[r->len] = '\0';
  r->writes++;
  return k;
}

static size_t on_hdr(char *p, size_t sz, size_t n, void *u) {
  eco_test_resp *r = u;
  size_t k = sz * n;
  if (r->hlen + k < sizeof r->hdr) {
    memcpy(r->hdr + r->hlen, p, k);
    r->hlen += k;
    r->hdr[r->hlen] = '\0';
  }
  return k;
}

int eco_test_http_ms(const char *method, const char *url, const char *body, const char *const *hdrs,
                     long timeout_ms, eco_test_resp *out) {
  memset(out, 0, sizeof *out);
  CURL *c = curl_easy_init();
  if (!c) return -1;
  struct curl_slist *sl = curl_slist_append(NULL, "Content-Type: application/json");
  for (size_t i = 0; hdrs && hdrs[i]; i++)
    sl = curl_slist_append(sl, hdrs[i]);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, sl);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_hdr);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  if (body) curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  if (method) curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  CURLcode rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->code);
  curl_slist_free_all(sl);
  curl_easy_cleanup(c);
  if (!out->body) out->body = calloc(1, 1);
  return rc == CURLE_OK ? 0 : rc == CURLE_OPERATION_TIMEDOUT ? 1 : -1;
}

int eco_test_http(const char *method, const char *url, const char *body, const char *const *hdrs,
                  eco_test_resp *out) {
  return eco_test_http_ms(method, url, body, hdrs, 8000, out) == 0 ? 0 : -1;
}

void eco_test_resp_free(eco_test_resp *r) { free(r->body); }

/* The value of header name in "Name: value" lines, into buf. */
static const char *find_header(const char *lines, const char *name, char *buf, size_t cap) {
  const char *p = lines ? lines : "";
  size_t nl = strlen(name);
  while (*p) {
    const char *e = strchr(p, '\n');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    if (l > nl + 1 && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
      const char *v = p + nl + 1;
      while (*v == ' ')
        v++;
      size_t vl = (size_t)(p + l - v);
      while (vl && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
        vl--;
      snprintf(buf, cap, "%.*s", (int)vl, v);
      return buf;
    }
    p += l + (e ? 1 : 0);
  }
  buf[0] = '\0';
  return buf;
}

const char *eco_test_resp_header(const eco_test_resp *r, const char *name, char *buf, size_t cap) {
  return find_header(r->hdr, name, buf, cap);
}

const char *eco_test_request_header(const eco_test_request *q, const char *name, char *buf,
                                    size_t cap) {
  return find_header(q->headers, name, buf, cap);
}

/* ---- requests through the router ---------------------------------------------- */

const char *const eco_test_chat_body =
    "{\"model\":\"m\",\"max_tokens\":100,\"messages\":[{\"role\":\"user\",\"content\":"
    "\"Say hello to the carbon-aware router, please, in a few words\"}]}";

void eco_test_chat(const eco_test_router *t, const char *policy, const char *slo_ms,
                   eco_test_resp *out) {
  char url[128], ph[64], sh[64];
  snprintf(url, sizeof url, "%s/v1/chat/completions", t->url);
  const char *hdrs[3] = {NULL, NULL, NULL};
  size_t k = 0;
  if (policy) {
    snprintf(ph, sizeof ph, "x-ecoinfer-policy: %s", policy);
    hdrs[k++] = ph;
  }
  if (slo_ms) {
    snprintf(sh, sizeof sh, "x-ecoinfer-slo-ms: %s", slo_ms);
    hdrs[k++] = sh;
  }
  assert_int_equal(eco_test_http(NULL, url, eco_test_chat_body, hdrs, out), 0);
}

void eco_test_expect_node(const eco_test_router *t, const char *policy, const char *slo_ms,
                          const char *want) {
  eco_test_resp r;
  eco_test_chat(t, policy, slo_ms, &r);
  char node[64];
  if (r.code != 200 ||
      strcmp(eco_test_resp_header(&r, "x-ecoinfer-node", node, sizeof node), want) != 0)
    fail_msg("policy %s slo %s: got %ld node '%s', want '%s' (%s)", policy ? policy : "-",
             slo_ms ? slo_ms : "-", r.code, node, want, r.body);
  eco_test_resp_free(&r);
}

int eco_test_router_node_int(const eco_test_router *t, const char *id, const char *field) {
  char url[128];
  snprintf(url, sizeof url, "%s/admin/nodes", t->admin);
  eco_test_resp r;
  int v = -1;
  if (eco_test_http(NULL, url, NULL, NULL, &r) == 0) {
    json_t *j = json_loads(r.body, 0, NULL);
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(j, "nodes"), i, n) {
      const json_t *x = json_object_get(n, field);
      if (strcmp(json_string_value(json_object_get(n, "id")), id) == 0 && json_is_integer(x))
        v = (int)json_integer_value(x);
    }
    json_decref(j);
  }
  eco_test_resp_free(&r);
  return v;
}

/* ---- a directive model file --------------------------------------------------- */

void eco_test_dmodel_write(const char *path, int n, int (*preferred)(int i, bool trivia)) {
  static const char *const country[] = {"France", "Peru",   "Japan",  "Kenya",  "Norway",
                                        "Chile",  "Egypt",  "Canada", "Poland", "Vietnam",
                                        "Ghana",  "Sweden", "Italy",  "Mexico", "Nepal"};
  eco_dtrain_rec rec[60];
  char text[60][160];
  assert_true(n > 0 && n <= 60);
  memset(rec, 0, sizeof rec);
  for (int i = 0; i < n; i++) {
    bool tv = i < n / 2;
    if (tv)
      snprintf(text[i], sizeof text[i], "Which city is the capital of %s? Answer with its name.",
               country[i % 15]);
    else
      snprintf(text[i], sizeof text[i],
               "Compute %d * %d + %d and show every step of the working, then check it.", 10 + i,
               7 + i % 5, i * 3);
    rec[i].text = text[i];
    rec[i].len = strlen(text[i]);
    rec[i].label = tv ? 0 : 1;
    rec[i].preferred = preferred(i, tv);
  }
  static const char *const labels[] = {"trivia", "math"};
  eco_dmodel_fit_cfg fc;
  eco_dmodel_fit_cfg_default(&fc);
  fc.cls.hash_bits = 10;
  fc.inner_folds = 0;
  eco_dmodel m;
  eco_error err = {0};
  if (eco_dmodel_fit(&m, &fc, labels, 2, rec, (size_t)n, NULL, &err))
    fail_msg("%s", eco_error_text(&err));
  if (eco_dmodel_save(&m, path, &err)) fail_msg("%s", eco_error_text(&err));
  eco_dmodel_free(&m);
}

/* ---- a test program's main ------------------------------------------------------ */

int eco_test_router_main(const char *name, const struct CMUnitTest *tests, size_t n) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  if (getenv("ECO_TEST_FILTER")) cmocka_set_test_filter(getenv("ECO_TEST_FILTER"));
  int rc = _cmocka_run_group_tests(name, tests, n, NULL, NULL);
  curl_global_cleanup();
  return rc;
}

/* ---- the fixture -------------------------------------------------------------- */

/* A, B, C: fast/dirty, slow/clean, middle (the numbers of test_policy). */
char *eco_test_cluster_yaml(const eco_test_backend *bs, size_t n, const char *extra) {
  static const char *const prof[] = {
      "{prefill_tps: 1000, decode_tps: 100, j_per_token: 2.0, prefill_j_per_token: 0.2}",
      "{prefill_tps: 200, decode_tps: 20, j_per_token: 1.0, prefill_j_per_token: 0.1}",
      "{prefill_tps: 500, decode_tps: 50, j_per_token: 1.5, prefill_j_per_token: 0.15}",
      "{prefill_tps: 500, decode_tps: 50, j_per_token: 1.5, prefill_j_per_token: 0.15}",
  };
  static const char *const zone[] = {"PL", "SE", "FR", "DE"};
  char *y = malloc(8192);
  assert_non_null(y);
  int off = snprintf(y, 8192,
                     "router:\n  port: 0\n  admin_port: 0\n  policy: latency\n"
                     "  health: {interval: 100ms, max_backoff: 400ms, fail_threshold: 1}\n"
                     "  circuit: {failures: 2, cooldown: 30s}\n%s"
                     "zones: {PL: 800, SE: 50, FR: 300, DE: 400}\nnodes:\n",
                     extra ? extra : "");
  for (size_t i = 0; i < n; i++)
    off += snprintf(y + off, 8192 - (size_t)off,
                    "  - id: %s\n    url: %s\n    device: dev%zu\n    zone: %s\n"
                    "    max_batch: 4\n    labels: {rack: r%zu}\n    profile: %s\n",
                    bs[i].name, eco_test_httpd_url(bs[i].h), i, zone[i], i, prof[i]);
  return y;
}

eco_test_router *eco_test_cluster_route(eco_test_cluster *cl, size_t n, const char *extra) {
  char *y = eco_test_cluster_yaml(cl->b, n, extra);
  eco_test_router_start(&cl->rt, y);
  free(y);
  return &cl->rt;
}

int eco_test_cluster_setup(void **state) {
  eco_test_cluster *c = calloc(1, sizeof *c);
  if (!c) return -1;
  static const char *const names[ECO_TEST_BACKENDS] = {"A", "B", "C"};
  for (size_t i = 0; i < ECO_TEST_BACKENDS; i++)
    eco_test_backend_start(&c->b[i], names[i]);
  *state = c;
  return 0;
}

int eco_test_cluster_teardown(void **state) {
  eco_test_cluster *c = *state;
  if (!c) return 0;
  eco_test_router_stop(&c->rt);
  for (size_t i = 0; i < ECO_TEST_BACKENDS; i++)
    eco_test_backend_stop(&c->b[i]);
  free(c);
  *state = NULL;
  return 0;
}
