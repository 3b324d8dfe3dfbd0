/* The router's configuration (src/router/router_cfg.c) against broken files
 * (issue 19): every error names FILE:LINE:COL and the key; what used to be
 * accepted silently (a list for router:, duplicate node ids, negative
 * embodied carbon or lifetime, an admin_token cut to 127 characters) is
 * refused; and the whole-file schema check every command runs catches
 * typos at any level ("routerr:"). */
#include "testutil.h"

#include "cli/cli.h"
#include "router/router.h"

static const char *const NODE = "nodes:\n  - id: a\n    url: http://127.0.0.1:1\n";

/* Loads yaml; the router config must fail with a message holding want. */
static void refused(const char *yaml, const char *want) {
  eco_cfg *cfg = NULL;
  eco_error err = {0};
  assert_int_equal(eco_cfg_load_string(yaml, "c.yaml", &cfg, &err), 0);
  eco_cfg_use_env(cfg, false);
  eco_router_cfg rc;
  int e = eco_router_cfg_load(cfg, &rc, &err);
  if (e == 0) {
    eco_router_cfg_free(&rc);
    fail_msg("accepted:\n%s", yaml);
  }
  if (!strstr(err.msg, want)) fail_msg("%s\nmessage: %s\nwanted: %s", yaml, err.msg, want);
  eco_cfg_free(cfg);
}

static void test_router_cfg_errors_have_positions(void **state) {
  (void)state;
  char y[1024];
  /* silently accepted before */
  snprintf(y, sizeof y, "router:\n  - port: 1\n%s", NODE);
  refused(y, "c.yaml:2:3: key 'router': expected a mapping, got a list");
  refused("nodes:\n  - {id: a, url: 'http://h:1'}\n  - {id: b, url: 'http://h:2'}\n"
          "  - {id: a, url: 'http://h:3'}\n",
          "c.yaml:4:10: key 'nodes.2.id': node id 'a' is already used by nodes.0");
  snprintf(y, sizeof y, "%s    embodied_g: -5\n", NODE);
  refused(y, "c.yaml:4:17: key 'nodes.0.embodied_g': -5 is out of range [0, 1e+12]");
  snprintf(y, sizeof y, "%s    embodied_g: 1000\n    lifetime_y: -2\n", NODE);
  refused(y, "c.yaml:5:17: key 'nodes.0.lifetime_y': -2 is out of range");
  snprintf(y, sizeof y, "%s    lifetime_y: 0\n", NODE);
  refused(y, "c.yaml:4:17: key 'nodes.0.lifetime_y': must be more than 0 years");
  snprintf(y, sizeof y, "%s    embodied_g_per_s: -1\n", NODE);
  refused(y, "key 'nodes.0.embodied_g_per_s': -1 is out of range");
  char token[200];
  memset(token, 'x', 128);
  token[128] = '\0';
  snprintf(y, sizeof y, "router:\n  admin_token: %s\n%s", token, NODE);
  refused(y, "c.yaml:2:16: key 'router.admin_token': longer than 127 characters");
  /* errors that lacked the position */
  refused("router: {port: 1}\n", "c.yaml: key 'nodes': no nodes");
  refused("nodes:\n", "c.yaml:1:7: key 'nodes': no nodes");
  refused("nodes: []\n", "c.yaml:1:8: key 'nodes': no nodes");
  snprintf(y, sizeof y, "router:\n  port: 70000\n%s", NODE);
  refused(y, "c.yaml:2:9: key 'router.port': 70000 is out of range [0, 65535]");
  snprintf(y, sizeof y, "router:\n  admin_port: -7\n%s", NODE);
  refused(y, "c.yaml:2:15: key 'router.admin_port': -7 is out of range [-1, 65535]");
  snprintf(y, sizeof y, "router:\n  policy: fastest\n%s", NODE);
  refused(y, "c.yaml:2:11: key 'router.policy': unknown policy 'fastest'");
  snprintf(y, sizeof y, "%s    max_batch: -1\n", NODE);
  refused(y, "c.yaml:4:16: key 'nodes.0.max_batch': -1 is out of range [1, 4096]");
  snprintf(y, sizeof y, "router:\n  batch: {max: 0}\n%s", NODE);
  refused(y, "c.yaml:2:16: key 'router.batch.max': 0 is out of range [1, 4096]");
  snprintf(y, sizeof y, "router:\n  alpha: 0\n%s", NODE);
  refused(y, "c.yaml:2:10: key 'router.alpha': must lie in (0, 1]");
  snprintf(y, sizeof y, "router:\n  batch_api: {concurrency: 0}\n%s", NODE);
  refused(y, "key 'router.batch_api.concurrency': 0 is out of range [1, 256]");
  snprintf(y, sizeof y, "router:\n  timeout: 0s\n%s", NODE);
  refused(y, "c.yaml:2:12: key 'router.timeout': must be longer than 0");
  refused("nodes:\n  - id: a\n    url: ftp://h\n", "c.yaml:3:10: key 'nodes.0.url': a node needs");
  refused("nodes:\n  - id: a\n    url: http://h:1\n    kind: tgi\n",
          "c.yaml:4:11: key 'nodes.0.kind': must be ecoinfer, openai, llama-cpp, vllm or ollama");
  refused("nodes:\n  - id: a\n    url: http://h:1\n    meter: nvml\n",
          "c.yaml:4:12: key 'nodes.0.meter': needs agent: http://HOST:PORT");
  refused("nodes: {a: 1}\n", "c.yaml:1:8: key 'nodes': expected a list, got a mapping");
  refused("nodes:\n  - http://h:1\n", "c.yaml:2:5: key 'nodes.0': expected a mapping");
  refused("zones: [GB]\n", "c.yaml:1:8: key 'zones': expected a mapping, got a list");
  refused("router:\n  health: {intervall: 1s}\n",
          "c.yaml:2:12: unknown key 'router.health.intervall' (did you mean 'interval'?)");
  refused("dns:\n  - name: h\n", "c.yaml:2:5: key 'dns.0.port': a dns entry needs the nodes' port");
  refused("dns:\n  - port: 80\n", "key 'dns.0.name': a dns entry needs a host name");
  refused("dns:\n  - {name: h, port: 80, interval: 0s}\n",
          "key 'dns.0.interval': must be longer than 0");
  snprintf(y, sizeof y, "%s    id: %0100d\n", "nodes:\n  - url: http://h:1\n", 1);
  refused(y, "c.yaml:3:9: key 'nodes.0.id': longer than 63 characters");
  /* still fine: a complete file */
  eco_cfg *cfg = NULL;
  eco_error err = {0};
  assert_int_equal(eco_cfg_load_string("router: {port: 0, admin_port: -1, policy: carbon}\n"
                                       "nodes:\n  - {id: a, url: 'http://h:1', embodied_g: 0}\n"
                                       "  - {id: b, url: 'http://h:2', lifetime_y: 3}\n",
                                       "c.yaml", &cfg, &err),
                   0);
  eco_cfg_use_env(cfg, false);
  eco_router_cfg rc;
  if (eco_router_cfg_load(cfg, &rc, &err)) fail_msg("%s", err.msg);
  assert_int_equal(rc.n_nodes, 2);
  assert_int_equal(rc.admin_port, -1);
  eco_router_cfg_free(&rc);
  eco_cfg_free(cfg);
}

/* The whole-file check: unknown sections and keys anywhere, with the
 * position and a suggestion, for every command (here through the binary). */
static void test_whole_file_schema(void **state) {
  (void)state;
  static const struct {
    const char *yaml, *want;
  } cases[] = {
      {"routerr:\n  port: 9000\n", ":1:1: unknown key 'routerr' (did you mean 'router'?)"},
      {"server:\n  prot: 1\n", ":2:3: unknown key 'server.prot' (did you mean 'port'?)"},
      {"carbon:\n  static: {zonez: {GB: 1}}\n",
       ":2:12: unknown key 'carbon.static.zonez' (did you mean 'zones'?)"},
      {"carbon:\n  trace: {path: x, sped: 2}\n", ":2:20: unknown key 'carbon.trace.sped'"},
      {"devices:\n  - {name: cpu, tdp: 65}\n",
       ":2:17: unknown key 'devices.0.tdp' (did you mean 'tdp_w'?)"},
      {"directive:\n  stats:\n    - {energy_kwh: 1, time: 1}\n",
       ":3:23: unknown key 'directive.stats.0.time' (did you mean 'time_s'?)"},
      {"ledger: /tmp/x.db\n", ":1:9: key 'ledger': expected a mapping, got '/tmp/x.db'"},
  };
  char *dir = eco_test_tmpdir();
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    assert_int_equal(eco_test_write_file(dir, "bad.yaml", cases[i].yaml), 0);
    const char *const cmds[] = {"doctor", "route", "serve --fake-backend --port 0", "report"};
    for (size_t k = 0; k < sizeof cmds / sizeof cmds[0]; k++) {
      char cmd[1024];
      snprintf(cmd, sizeof cmd, "%s %s --config %s/bad.yaml 2>&1", eco_test_binary(), cmds[k], dir);
      char *out = NULL;
      int code = -1;
      assert_int_equal(eco_test_run(cmd, &out, &code), 0);
      if (code != 2 || !strstr(out, "bad.yaml") || !strstr(out, cases[i].want))
        fail_msg("%s with\n%s-> exit %d: %s", cmds[k], cases[i].yaml, code, out);
      free(out);
    }
  }
  eco_test_rmtree(dir);
  free(dir);
  /* the examples pass the check */
  static const char *const examples[] = {"/examples/ecoinfer.yaml", "/examples/cluster.yaml"};
  for (size_t i = 0; i < 2; i++) {
    char p[512];
    snprintf(p, sizeof p, "%s%s", ECO_TEST_SOURCE_DIR, examples[i]);
    eco_cfg *cfg = NULL;
    eco_error err = {0};
    assert_int_equal(eco_cfg_load_file(p, &cfg, &err), 0);
    if (eco_cli_cfg_check(cfg, &err)) fail_msg("%s: %s", examples[i], err.msg);
    eco_cfg_free(cfg);
  }
}

/* Every configuration path the code reads as a literal ("server.port",
 * "router.batch_api.db", option tables' cfg_path) is one the schema
 * knows, so the whole-file check never refuses a key a command uses. */
static void scan_file(const eco_cfg_schema *root, const char *path, int *n_found) {
  FILE *f = fopen(path, "r");
  if (!f) return;
  static const char *const sections[] = {"models.",  "server.", "energy.",    "carbon.", "device.",
                                         "devices.", "ledger.", "directive.", "router.", "nodes.",
                                         "dns.",     "zones.",  "pull."};
  char line[4096];
  while (fgets(line, sizeof line, f)) {
    for (char *q = line; (q = strstr(q, "\"")) != NULL;) {
      char *end = strchr(q + 1, '"');
      if (!end) break;
      /* literals passed as a lookup path (after `NULL, ` or `", `) */
      bool arg = (q - line >= 6 && strncmp(q - 6, "NULL, ", 6) == 0) ||
                 (q - line >= 3 && strncmp(q - 3, "\", ", 3) == 0);
      char lit[256];
      size_t len = (size_t)(end - q - 1);
      if (arg && len < sizeof lit) {
        memcpy(lit, q + 1, len);
        lit[len] = '\0';
        bool cfg_path = strspn(lit, "abcdefghijklmnopqrstuvwxyz0123456789_.") == len;
        for (size_t s = 0; cfg_path && s < sizeof sections / sizeof sections[0]; s++)
          if (strncmp(lit, sections[s], strlen(sections[s])) == 0) {
            if (!eco_cfg_schema_knows(root, lit))
              fail_msg("%s reads '%s', which the configuration schema does not know", path, lit);
            (*n_found)++;
          }
      }
      q = end + 1;
    }
  }
  fclose(f);
}

static void test_schema_knows_every_key_read(void **state) {
  (void)state;
  eco_cfg_schema top[ECO_CLI_CFG_MAX_SECTIONS];
  eco_cfg_schema root = {NULL, ECO_CFG_S_MAP, top, eco_cli_cfg_sections(top, 32)};
  char cmd[512];
  snprintf(cmd, sizeof cmd, "ls %s/src/*/*.c", ECO_TEST_SOURCE_DIR);
  char *list = NULL;
  int code = -1;
  assert_int_equal(eco_test_run(cmd, &list, &code), 0);
  int n_found = 0;
  for (char *p = strtok(list, "\n"); p; p = strtok(NULL, "\n"))
    scan_file(&root, p, &n_found);
  free(list);
  assert_true(n_found > 100); /* the scan found the paths */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_router_cfg_errors_have_positions),
      cmocka_unit_test(test_whole_file_schema),
      cmocka_unit_test(test_schema_knows_every_key_read),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
