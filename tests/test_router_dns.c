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
#include "router_fixture.h"

#include <curl/curl.h>
#include <unistd.h>

#define NAME "nodes.ecoinfer.test"

typedef struct fixture {
  eco_test_dnsd *dnsd;
  eco_test_httpd *be[2];
  int port; /* the nodes' common port */
  eco_test_router rt;
} fixture;

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
  eco_test_router_start(&f->rt, yaml);
}

static void stop(fixture *f) {
  eco_test_router_stop(&f->rt);
  for (int i = 0; i < 2; i++)
    if (f->be[i]) eco_test_httpd_stop(f->be[i]);
  eco_test_dnsd_stop(f->dnsd);
}

/* The admin view of node ip:port: "" if unknown, else "up"/"down" plus
 * ",removed" when DNS no longer lists it. */
static void node_state(const fixture *f, const char *ip, char *out, size_t cap) {
  char url[128], id[64];
  snprintf(url, sizeof url, "%s/admin/nodes", f->rt.admin);
  snprintf(id, sizeof id, "\"id\":\"%s:%d\"", ip, f->port);
  eco_test_resp r;
  out[0] = '\0';
  if (eco_test_http(NULL, url, NULL, NULL, &r) == 0 && r.code == 200) {
    const char *n = strstr(r.body, id);
    if (n) {
      const char *h = strstr(n, "\"health\":\"");
      const char *rm = strstr(n, "\"removed\":true");
      const char *next = strstr(n + 1, "\"id\":");
      snprintf(out, cap, "%.*s%s", h ? (int)strcspn(h + 10, "\"") : 0, h ? h + 10 : "",
               rm && (!next || rm < next) ? ",removed" : "");
    }
  }
  eco_test_resp_free(&r);
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
  snprintf(url, sizeof url, "%s/v1/chat/completions", f->rt.url);
  snprintf(want2, sizeof want2, "127.0.0.2:%d", f->port);
  snprintf(want3, sizeof want3, "127.0.0.3:%d", f->port);
  for (int i = 0; i < n; i++) {
    eco_test_resp r;
    eco_test_http(NULL, url,
                  "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", NULL,
                  &r);
    if (r.code != 200) fail_msg("request %d: %ld %s", i, r.code, r.body);
    eco_test_resp_header(&r, "x-ecoinfer-node", node, sizeof node);
    eco_test_resp_free(&r);
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
  fixture f = {0};
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
