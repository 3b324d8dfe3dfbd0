/* DNS discovery (dns: entries) without the system resolver (issue 19): the
 * router resolves through a DNS server the test runs (router.dns_servers,
 * tests/helpers/dnsd), whose A records change while it runs. A name with
 * several addresses gives one node per address, each served (backends on
 * 127.0.0.2 and 127.0.0.3 with one port); an address that disappears stops
 * getting traffic, comes back when it reappears; a name that stops
 * resolving keeps the nodes it had. Nothing here can skip. */
#include "testutil.h"

#include "dnsd.h"
#include "httpd.h"
#include "router/router.h"
#include "util/strbuf.h"

#include <curl/curl.h>
#include <pthread.h>
#include <unistd.h>

#define NAME "nodes.ecoinfer.test"

typedef struct fixture {
  eco_test_dnsd *dnsd;
  eco_test_httpd *be[3];
  int port; /* the nodes' common port */
  eco_router *r;
  pthread_t th;
  char url[64], admin[64];
} fixture;

static void *run_router(void *arg) {
  eco_router_run(arg);
  return NULL;
}

static size_t on_data(char *p, size_t sz, size_t n, void *u) {
  eco_sb_append(u, p, sz * n);
  return sz * n;
}

/* GET or POST; the answer body in out, the x-ecoinfer-node header in node. */
static long http(const char *url, const char *body, eco_strbuf *out, char *node, size_t cap) {
  eco_strbuf hdr;
  eco_sb_init(out);
  eco_sb_init(&hdr);
  CURL *c = curl_easy_init();
  struct curl_slist *hl = curl_slist_append(NULL, "Content-Type: application/json");
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
  if (body) curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &hdr);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
  long code = 0;
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  if (node) {
    node[0] = '\0';
    const char *h = strcasestr(eco_sb_str(&hdr), "x-ecoinfer-node: ");
    if (h) {
      h += strlen("x-ecoinfer-node: ");
      size_t n = strcspn(h, "\r\n");
      snprintf(node, cap, "%.*s", (int)(n < cap ? n : cap - 1), h);
    }
  }
  curl_slist_free_all(hl);
  curl_easy_cleanup(c);
  eco_sb_free(&hdr);
  return code;
}

static void backend(eco_test_httpd *h) {
  eco_test_response ok = {.status = 200, .body = "{\"status\":\"ok\"}"};
  eco_test_httpd_on(h, "GET", "/health", &ok);
  eco_test_response chat = {
      .status = 200,
      .body =
          "{\"id\":\"x\",\"object\":\"chat.completion\",\"model\":\"m\",\"choices\":[{\"index\":0,"
          "\"message\":{\"role\":\"assistant\",\"content\":\"hi\"},\"finish_reason\":\"stop\"}],"
          "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}"};
  eco_test_httpd_on(h, "POST", "/v1/chat/completions", &chat);
}

static void start(fixture *f) {
  memset(f, 0, sizeof *f);
  assert_int_equal(eco_test_dnsd_start(&f->dnsd), 0);
  /* two nodes behind one name: one port on two loopback addresses */
  assert_int_equal(eco_test_httpd_start_at("127.0.0.2", 0, &f->be[0]), 0);
  f->port = eco_test_httpd_port(f->be[0]);
  assert_int_equal(eco_test_httpd_start_at("127.0.0.3", f->port, &f->be[1]), 0);
  backend(f->be[0]);
  backend(f->be[1]);
  const char *two[] = {"127.0.0.2", "127.0.0.3"};
  assert_int_equal(eco_test_dnsd_set(f->dnsd, NAME, two, 2), 0);
  char yaml[1024];
  snprintf(yaml, sizeof yaml,
           "router:\n  port: 0\n  admin_port: 0\n  policy: round-robin\n"
           "  dns_servers: ['127.0.0.1:%d']\n"
           "  health: {interval: 100ms, max_backoff: 400ms, fail_threshold: 1}\n"
           "dns:\n  - name: " NAME "\n    port: %d\n    interval: 150ms\n    zone: SE\n"
           "    profile: {decode_tps: 20, j_per_token: 1.0}\n",
           eco_test_dnsd_port(f->dnsd), f->port);
  eco_cfg *cfg = NULL;
  eco_error err = {0};
  assert_int_equal(eco_cfg_load_string(yaml, "dns.yaml", &cfg, &err), 0);
  eco_cfg_use_env(cfg, false);
  eco_router_cfg rc;
  if (eco_router_cfg_load(cfg, &rc, &err)) fail_msg("config: %s", err.msg);
  assert_int_equal(rc.n_dns_servers, 1);
  eco_logger lg;
  eco_log_init(&lg);
  lg.level = getenv("ECO_TEST_LOG") ? ECO_LOG_DEBUG : ECO_LOG_ERROR;
  if (eco_router_new(&rc, &lg, &f->r, &err)) fail_msg("router: %s", err.msg);
  eco_router_cfg_free(&rc);
  eco_cfg_free(cfg);
  snprintf(f->url, sizeof f->url, "http://127.0.0.1:%d", eco_router_port(f->r));
  snprintf(f->admin, sizeof f->admin, "http://127.0.0.1:%d", eco_router_admin_port(f->r));
  assert_int_equal(pthread_create(&f->th, NULL, run_router, f->r), 0);
}

static void stop(fixture *f) {
  eco_router_stop(f->r);
  pthread_join(f->th, NULL);
  eco_router_free(f->r);
  for (int i = 0; i < 3; i++)
    if (f->be[i]) eco_test_httpd_stop(f->be[i]);
  eco_test_dnsd_stop(f->dnsd);
}

/* The admin view of node ip:port: "" if unknown, else "up"/"down" plus
 * ",removed" when DNS no longer lists it. */
static void node_state(const fixture *f, const char *ip, char *out, size_t cap) {
  char url[128], id[64];
  snprintf(url, sizeof url, "%s/admin/nodes", f->admin);
  snprintf(id, sizeof id, "\"id\":\"%s:%d\"", ip, f->port);
  eco_strbuf b;
  out[0] = '\0';
  if (http(url, NULL, &b, NULL, 0) == 200) {
    const char *n = strstr(eco_sb_str(&b), id);
    if (n) {
      const char *h = strstr(n, "\"health\":\"");
      const char *rm = strstr(n, "\"removed\":true");
      const char *next = strstr(n + 1, "\"id\":");
      snprintf(out, cap, "%.*s%s", h ? (int)strcspn(h + 10, "\"") : 0, h ? h + 10 : "",
               rm && (!next || rm < next) ? ",removed" : "");
    }
  }
  eco_sb_free(&b);
}

/* Waits (up to 10 s) for node ip's state to become want. */
static void wait_state(const fixture *f, const char *ip, const char *want) {
  char st[64] = "";
  for (int i = 0; i < 500; i++) {
    node_state(f, ip, st, sizeof st);
    if (strcmp(st, want) == 0) return;
    usleep(20000);
  }
  fail_msg("node %s:%d: state '%s', wanted '%s'", ip, f->port, st, want);
}

/* n requests; counts how many each address served. */
static void spread(const fixture *f, int n, int *on2, int *on3) {
  *on2 = *on3 = 0;
  char url[128], node[64], want2[64], want3[64];
  snprintf(url, sizeof url, "%s/v1/chat/completions", f->url);
  snprintf(want2, sizeof want2, "127.0.0.2:%d", f->port);
  snprintf(want3, sizeof want3, "127.0.0.3:%d", f->port);
  for (int i = 0; i < n; i++) {
    eco_strbuf b;
    long code = http(url, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                     &b, node, sizeof node);
    if (code != 200) fail_msg("request %d: %ld %s", i, code, eco_sb_str(&b));
    eco_sb_free(&b);
    if (strcmp(node, want2) == 0)
      (*on2)++;
    else if (strcmp(node, want3) == 0)
      (*on3)++;
    else
      fail_msg("served by '%s'", node);
  }
}

static void test_dns_several_addresses_and_changes(void **state) {
  (void)state;
  fixture f;
  start(&f);
  /* both addresses become nodes, and both serve; the router asked our server */
  wait_state(&f, "127.0.0.2", "up");
  assert_true(eco_test_dnsd_queries(f.dnsd, NAME) > 0);
  wait_state(&f, "127.0.0.2", "up");
  wait_state(&f, "127.0.0.3", "up");
  int on2, on3;
  spread(&f, 10, &on2, &on3);
  assert_true(on2 > 0 && on3 > 0);
  /* 127.0.0.3 disappears from DNS: removed, no more traffic */
  const char *one[] = {"127.0.0.2"};
  assert_int_equal(eco_test_dnsd_set(f.dnsd, NAME, one, 1), 0);
  wait_state(&f, "127.0.0.3", "down,removed");
  spread(&f, 8, &on2, &on3);
  assert_int_equal(on3, 0);
  assert_int_equal(on2, 8);
  /* it comes back, and a third address without a server joins: the third
   * is marked down by its health check and gets nothing */
  const char *three[] = {"127.0.0.2", "127.0.0.3", "127.0.0.4"};
  assert_int_equal(eco_test_dnsd_set(f.dnsd, NAME, three, 3), 0);
  wait_state(&f, "127.0.0.3", "up");
  wait_state(&f, "127.0.0.4", "down");
  spread(&f, 10, &on2, &on3);
  assert_true(on2 > 0 && on3 > 0);
  /* the name stops resolving (NXDOMAIN): the router keeps what it had */
  assert_int_equal(eco_test_dnsd_set(f.dnsd, NAME, NULL, 0), 0);
  usleep(600000); /* several resolution periods */
  char st[64];
  node_state(&f, "127.0.0.2", st, sizeof st);
  assert_string_equal(st, "up");
  node_state(&f, "127.0.0.3", st, sizeof st);
  assert_string_equal(st, "up");
  spread(&f, 4, &on2, &on3);
  assert_int_equal(on2 + on3, 4);
  stop(&f);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dns_several_addresses_and_changes),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
