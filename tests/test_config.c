/* Tests for src/util/config: YAML parsing, typed lookups, precedence
 * (flag > env > file > default) and error positions. */
#include "testutil.h"

#include "util/config.h"
#include "util/strbuf.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *good = "carbon:\n"
                          "  provider: trace\n"
                          "  pue: 1.2\n"
                          "  zones: [GB, FR]\n"
                          "server:\n"
                          "  port: 8080\n"
                          "  tls: off\n"
                          "  window: 24h\n"
                          "nodes:\n"
                          "  - url: http://a:1\n"
                          "    zone: GB\n"
                          "  - url: http://b:2\n"
                          "    zone: FR\n"
                          "empty:\n";

static void test_typed_lookup(void **state) {
  (void)state;
  eco_cfg *cfg;
  eco_error err = {0};
  assert_int_equal(eco_cfg_load_string(good, "good.yaml", &cfg, &err), 0);
  eco_cfg_use_env(cfg, false);
  const char *s;
  double d;
  int64_t i;
  bool b;
  assert_int_equal(eco_cfg_str(cfg, NULL, "carbon.provider", "x", &s, &err), 0);
  assert_string_equal(s, "trace");
  assert_int_equal(eco_cfg_double(cfg, NULL, "carbon.pue", 1.0, &d, &err), 0);
  assert_true(d == 1.2);
  assert_int_equal(eco_cfg_int(cfg, NULL, "server.port", 1, &i, &err), 0);
  assert_int_equal(i, 8080);
  assert_int_equal(eco_cfg_bool(cfg, NULL, "server.tls", true, &b, &err), 0);
  assert_false(b);
  assert_int_equal(eco_cfg_duration(cfg, NULL, "server.window", 0, &d, &err), 0);
  assert_true(d == 86400.0);
  assert_int_equal(eco_cfg_str(cfg, NULL, "nodes.1.zone", NULL, &s, &err), 0);
  assert_string_equal(s, "FR");
  const eco_cfg_node *nodes = eco_cfg_find(cfg, NULL, "nodes");
  assert_non_null(nodes);
  assert_int_equal(nodes->kind, ECO_CFG_SEQ);
  assert_int_equal(nodes->n_items, 2);
  assert_int_equal(eco_cfg_str(cfg, nodes->items[0], "url", NULL, &s, &err), 0);
  assert_string_equal(s, "http://a:1");
  /* Missing keys give the default. */
  assert_int_equal(eco_cfg_int(cfg, NULL, "server.missing", 42, &i, &err), 0);
  assert_int_equal(i, 42);
  assert_int_equal(eco_cfg_str(cfg, NULL, "empty", "dflt", &s, &err), 0);
  assert_string_equal(s, "dflt");
  eco_cfg_free(cfg);
}

static void test_wrong_types_name_position(void **state) {
  (void)state;
  eco_cfg *cfg;
  eco_error err = {0};
  assert_int_equal(eco_cfg_load_string(good, "good.yaml", &cfg, &err), 0);
  eco_cfg_use_env(cfg, false);
  double d;
  assert_int_equal(eco_cfg_double(cfg, NULL, "carbon.provider", 0, &d, &err), ECO_ECONFIG);
  assert_non_null(strstr(err.msg, "good.yaml:2:13"));
  assert_non_null(strstr(err.msg, "carbon.provider"));
  assert_non_null(strstr(err.msg, "'trace'"));
  int64_t i;
  assert_int_equal(eco_cfg_int(cfg, NULL, "carbon.zones", 0, &i, &err), ECO_ECONFIG);
  assert_non_null(strstr(err.msg, "mapping or list"));
  bool b;
  assert_int_equal(eco_cfg_bool(cfg, NULL, "carbon.pue", 0, &b, &err), ECO_ECONFIG);
  static const char *const allowed[] = {"provider", "pue"};
  assert_int_equal(eco_cfg_check_keys(cfg, eco_cfg_find(cfg, NULL, "carbon"), allowed, 2, &err),
                   ECO_ECONFIG);
  assert_non_null(strstr(err.msg, "good.yaml:4:3: unknown key 'carbon.zones'"));
  eco_cfg_free(cfg);
}

static void test_malformed_file_names_line_and_column(void **state) {
  (void)state;
  char *dir = eco_test_tmpdir();
  assert_int_equal(eco_test_write_file(dir, "bad.yaml", "a: 1\nb: [1, 2\nc: 3\n"), 0);
  char *p = eco_test_path(dir, "bad.yaml");
  eco_cfg *cfg = NULL;
  eco_error err = {0};
  assert_int_equal(eco_cfg_load_file(p, &cfg, &err), ECO_ECONFIG);
  assert_null(cfg);
  assert_non_null(strstr(err.msg, "bad.yaml:"));
  /* libyaml reports where it noticed the problem; it must be a line:col. */
  int line = 0, col = 0;
  const char *at = strstr(err.msg, "bad.yaml:") + strlen("bad.yaml:");
  assert_int_equal(sscanf(at, "%d:%d", &line, &col), 2);
  assert_true(line >= 2 && col >= 1);

  assert_int_equal(eco_cfg_load_string("a: 1\na: 2\n", "dup.yaml", &cfg, &err), ECO_ECONFIG);
  assert_non_null(strstr(err.msg, "dup.yaml:2:1: duplicate key 'a'"));
  assert_int_equal(eco_cfg_load_string("- 1\n- 2\n", "seq.yaml", &cfg, &err), ECO_ECONFIG);
  assert_non_null(strstr(err.msg, "top level must be a mapping"));
  assert_int_equal(eco_cfg_load_string("a:\n\tb: 1\n", "tab.yaml", &cfg, &err), ECO_ECONFIG);
  assert_non_null(strstr(err.msg, "tab.yaml:2:"));
  char *missing = eco_test_path(dir, "none.yaml");
  assert_int_equal(eco_cfg_load_file(missing, &cfg, &err), ECO_ENOENT);
  assert_non_null(strstr(err.msg, "cannot open config"));
  free(missing);
  free(p);
  eco_test_rmtree(dir);
  free(dir);
}

static void test_precedence_flag_env_file(void **state) {
  (void)state;
  eco_cfg *cfg;
  eco_error err = {0};
  assert_int_equal(eco_cfg_load_string(good, "good.yaml", &cfg, &err), 0);
  int64_t port;
  unsetenv("ECOINFER_SERVER_PORT");
  assert_int_equal(eco_cfg_int(cfg, NULL, "server.port", 1, &port, &err), 0);
  assert_int_equal(port, 8080);
  setenv("ECOINFER_SERVER_PORT", "9090", 1);
  assert_int_equal(eco_cfg_int(cfg, NULL, "server.port", 1, &port, &err), 0);
  assert_int_equal(port, 9090);
  assert_int_equal(eco_cfg_set(cfg, "server.port", "7070", "option --port"), 0);
  assert_int_equal(eco_cfg_int(cfg, NULL, "server.port", 1, &port, &err), 0);
  assert_int_equal(port, 7070);
  assert_int_equal(eco_cfg_set(cfg, "server.port", "seven", "option --port"), 0);
  assert_int_equal(eco_cfg_int(cfg, NULL, "server.port", 1, &port, &err), ECO_ECONFIG);
  assert_non_null(strstr(err.msg, "option --port"));
  setenv("ECOINFER_CARBON_PUE", "x", 1);
  double d;
  assert_int_equal(eco_cfg_double(cfg, NULL, "carbon.pue", 1, &d, &err), ECO_ECONFIG);
  assert_non_null(strstr(err.msg, "environment ECOINFER_CARBON_PUE"));
  /* Env overrides also reach keys absent from the file. */
  setenv("ECOINFER_ROUTER_POLICY", "carbon", 1);
  const char *s;
  assert_int_equal(eco_cfg_str(cfg, NULL, "router.policy", "greedy", &s, &err), 0);
  assert_string_equal(s, "carbon");
  unsetenv("ECOINFER_SERVER_PORT");
  unsetenv("ECOINFER_CARBON_PUE");
  unsetenv("ECOINFER_ROUTER_POLICY");
  eco_cfg_free(cfg);
}

static void test_durations(void **state) {
  (void)state;
  double s;
  assert_int_equal(eco_parse_duration("250ms", &s), 0);
  assert_true(s == 0.25);
  assert_int_equal(eco_parse_duration("5m", &s), 0);
  assert_true(s == 300);
  assert_int_equal(eco_parse_duration("7d", &s), 0);
  assert_true(s == 604800);
  assert_int_equal(eco_parse_duration("12", &s), 0);
  assert_true(s == 12);
  assert_int_equal(eco_parse_duration("-1h", &s), ECO_EINVAL);
  assert_int_equal(eco_parse_duration("1 fortnight", &s), ECO_EINVAL);
}

static void test_example_config_parses(void **state) {
  (void)state;
  eco_cfg *cfg;
  eco_error err = {0};
  int rc = eco_cfg_load_file(ECO_TEST_SOURCE_DIR "/examples/ecoinfer.yaml", &cfg, &err);
  if (rc) fail_msg("%s", err.msg);
  eco_cfg_free(cfg);
}

/* ---- hostile files (issue 19) ------------------------------------------------ */

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* "Billion laughs": 9 levels of 10 aliases would expand to 10^9 values. The
 * loader stops at 100,000, at once, naming the alias. */
static void test_alias_bomb_refused(void **state) {
  (void)state;
  eco_strbuf y;
  eco_sb_init(&y);
  eco_sb_puts(&y, "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
  for (int c = 'b'; c <= 'i'; c++) {
    eco_sb_printf(&y, "%c: &%c [", c, c);
    for (int i = 0; i < 10; i++)
      eco_sb_printf(&y, "%s*%c", i ? ", " : "", c - 1);
    eco_sb_puts(&y, "]\n");
  }
  eco_cfg *cfg = NULL;
  eco_error err = {0};
  double t0 = now_s();
  assert_int_equal(eco_cfg_load_string(eco_sb_str(&y), "bomb.yaml", &cfg, &err), ECO_ECONFIG);
  assert_true(now_s() - t0 < 5.0);
  assert_null(cfg);
  assert_non_null(strstr(err.msg, "bomb.yaml:"));
  assert_non_null(strstr(err.msg, "more than 100000 values once alias"));
  eco_sb_free(&y);
  /* a reasonable alias still works: the copy has its own paths */
  const char *ok = "base: &b {zone: FR, max_batch: 4}\nnodes:\n  - *b\n  - *b\n";
  assert_int_equal(eco_cfg_load_string(ok, "ok.yaml", &cfg, &err), 0);
  eco_cfg_use_env(cfg, false);
  const char *z;
  assert_int_equal(eco_cfg_str(cfg, NULL, "nodes.1.zone", NULL, &z, &err), 0);
  assert_string_equal(z, "FR");
  assert_string_equal(eco_cfg_find(cfg, NULL, "nodes.1.zone")->path, "nodes.1.zone");
  eco_cfg_free(cfg);
  /* an alias to an anchor not defined before it, or to its own container */
  assert_int_equal(eco_cfg_load_string("a: *nope\n", "u.yaml", &cfg, &err), ECO_ECONFIG);
  assert_non_null(strstr(err.msg, "u.yaml:1:4: alias '*nope'"));
  assert_int_equal(eco_cfg_load_string("a: &x [1, *x]\n", "r.yaml", &cfg, &err), ECO_ECONFIG);
  assert_non_null(strstr(err.msg, "refers to a node that contains it"));
}

/* Flow sequences nested 100,000 deep took quadratic time in libyaml's
 * scanner (seconds at 10^4, minutes at 10^5): the loader stops at level 65. */
static void test_deep_nesting_refused_fast(void **state) {
  (void)state;
  const int depth = 100000;
  char *y = malloc((size_t)depth * 2 + 8);
  assert_non_null(y);
  memcpy(y, "a: ", 3);
  memset(y + 3, '[', (size_t)depth);
  memset(y + 3 + depth, ']', (size_t)depth);
  strcpy(y + 3 + 2 * (size_t)depth, "\n");
  eco_cfg *cfg = NULL;
  eco_error err = {0};
  double t0 = now_s();
  assert_int_equal(eco_cfg_load_string(y, "deep.yaml", &cfg, &err), ECO_ECONFIG);
  assert_true(now_s() - t0 < 2.0);
  assert_non_null(strstr(err.msg, "deep.yaml:1:67: nesting deeper than 64 levels"));
  memset(y, '{', 30000); /* the same through flow mappings with keys */
  strcpy(y + 30000, "a: 1\n");
  assert_int_equal(eco_cfg_load_string(y, "deep2.yaml", &cfg, &err), ECO_ECONFIG);
  free(y);
}

/* Duplicate keys are found by sorting (a 30,000-key map took 6 s pairwise),
 * reported at the second occurrence; more limits: key length, one document. */
static void test_big_maps_keys_documents(void **state) {
  (void)state;
  eco_strbuf y;
  eco_sb_init(&y);
  for (int i = 0; i < 50000; i++)
    eco_sb_printf(&y, "k%d: %d\n", i, i);
  eco_sb_puts(&y, "k77: again\n");
  eco_cfg *cfg = NULL;
  eco_error err = {0};
  double t0 = now_s();
  assert_int_equal(eco_cfg_load_string(eco_sb_str(&y), "big.yaml", &cfg, &err), ECO_ECONFIG);
  assert_true(now_s() - t0 < 5.0);
  assert_non_null(strstr(err.msg, "big.yaml:50001:1: duplicate key 'k77'"));
  eco_sb_free(&y);
  char key[400];
  memset(key, 'k', 300);
  strcpy(key + 300, ": 1\n");
  assert_int_equal(eco_cfg_load_string(key, "key.yaml", &cfg, &err), ECO_ECONFIG);
  assert_non_null(strstr(err.msg, "key longer than 256 characters"));
  assert_int_equal(eco_cfg_load_string("a: 1\n---\nb: 2\n", "two.yaml", &cfg, &err), ECO_ECONFIG);
  assert_non_null(strstr(err.msg, "two.yaml:3:1: only one YAML document"));
  assert_int_equal(eco_cfg_load_string("[a, b]: 1\n", "ck.yaml", &cfg, &err), ECO_ECONFIG);
  assert_non_null(strstr(err.msg, "mapping keys must be scalars"));
  /* an empty document is an empty configuration */
  assert_int_equal(eco_cfg_load_string("---\n", "e.yaml", &cfg, &err), 0);
  eco_cfg_free(cfg);
}

/* Range-checked getters, strings that do not fit, and where values came from. */
static void test_ranges_and_origins(void **state) {
  (void)state;
  eco_cfg *cfg;
  eco_error err = {0};
  assert_int_equal(eco_cfg_load_string("router:\n  port: 70000\n  alpha: -1\n  token: abcdefgh\n",
                                       "r.yaml", &cfg, &err),
                   0);
  eco_cfg_use_env(cfg, false);
  int64_t v;
  double d;
  char buf[8];
  assert_int_equal(eco_cfg_int_range(cfg, NULL, "router.port", 0, 0, 65535, &v, &err), ECO_ECONFIG);
  assert_string_equal(err.msg, "r.yaml:2:9: key 'router.port': 70000 is out of range [0, 65535]");
  assert_int_equal(eco_cfg_double_range(cfg, NULL, "router.alpha", 0.5, 0, 1, &d, &err),
                   ECO_ECONFIG);
  assert_non_null(strstr(err.msg, "r.yaml:3:10: key 'router.alpha': -1 is out of range"));
  assert_int_equal(eco_cfg_strcpy(cfg, NULL, "router.token", "", buf, sizeof buf, &err),
                   ECO_ECONFIG);
  assert_string_equal(err.msg, "r.yaml:4:10: key 'router.token': longer than 7 characters");
  assert_int_equal(eco_cfg_int_range(cfg, NULL, "router.missing", 5, 0, 9, &v, &err), 0);
  assert_int_equal(v, 5);
  char w[256];
  eco_cfg_origin(cfg, NULL, "router.missing", w, sizeof w);
  assert_string_equal(w, "r.yaml: key 'router.missing'");
  assert_int_equal(eco_cfg_set(cfg, "router.port", "99999", "option --port"), 0);
  assert_int_equal(eco_cfg_int_range(cfg, NULL, "router.port", 0, 0, 65535, &v, &err), ECO_ECONFIG);
  assert_non_null(strstr(err.msg, "option --port: 99999 is out of range"));
  /* check_keys: a list where a mapping belongs is an error, not a pass */
  eco_cfg_free(cfg);
  assert_int_equal(eco_cfg_load_string("router:\n  - port: 1\n", "l.yaml", &cfg, &err), 0);
  static const char *const keys[] = {"port"};
  assert_int_equal(eco_cfg_check_keys(cfg, eco_cfg_find(cfg, NULL, "router"), keys, 1, &err),
                   ECO_ECONFIG);
  assert_string_equal(err.msg, "l.yaml:2:3: key 'router': expected a mapping, got a list");
  eco_cfg_free(cfg);
}

static void test_schema(void **state) {
  (void)state;
  static const eco_cfg_schema one[] = {ECO_CFG_VALUE(NULL)};
  static const eco_cfg_schema item_keys[] = {ECO_CFG_VALUE("url"),
                                             ECO_CFG_SHAPED("labels", ECO_CFG_S_DICT, one)};
  static const eco_cfg_schema item[] = {ECO_CFG_SHAPED(NULL, ECO_CFG_S_MAP, item_keys)};
  static const eco_cfg_schema svc_keys[] = {ECO_CFG_VALUE("port"), ECO_CFG_VALUE("policy")};
  static const eco_cfg_schema top_keys[] = {
      ECO_CFG_SHAPED("router", ECO_CFG_S_MAP, svc_keys),
      ECO_CFG_SHAPED("nodes", ECO_CFG_S_LIST, item),
      ECO_CFG_SHAPED("trace", ECO_CFG_S_VALUE_OR_MAP, svc_keys)};
  static const eco_cfg_schema top = ECO_CFG_SHAPED(NULL, ECO_CFG_S_MAP, top_keys);
  static const struct {
    const char *yaml, *msg;
  } cases[] = {
      {"routerr: {port: 1}\n", "s.yaml:1:1: unknown key 'routerr' (did you mean 'router'?)"},
      {"router: {prot: 1}\n", "s.yaml:1:10: unknown key 'router.prot' (did you mean 'port'?)"},
      {"router: [1]\n", "s.yaml:1:9: key 'router': expected a mapping, got a list"},
      {"router: fast\n", "s.yaml:1:9: key 'router': expected a mapping, got 'fast'"},
      {"router: {port: [1]}\n",
       "s.yaml:1:16: key 'router.port': expected a single value, got a list"},
      {"nodes: {url: x}\n", "s.yaml:1:8: key 'nodes': expected a list, got a mapping"},
      {"nodes:\n  - url: x\n    zone: y\n", "s.yaml:3:5: unknown key 'nodes.0.zone'"},
      {"nodes:\n  - url: x\n    labels: [a]\n",
       "s.yaml:3:13: key 'nodes.0.labels': expected a mapping, got a list"},
      {"trace: {port: 1, x: 2}\n", "s.yaml:1:18: unknown key 'trace.x'"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    eco_cfg *cfg;
    eco_error err = {0};
    assert_int_equal(eco_cfg_load_string(cases[i].yaml, "s.yaml", &cfg, &err), 0);
    assert_int_equal(eco_cfg_check_schema(cfg, eco_cfg_find(cfg, NULL, ""), &top, &err),
                     ECO_ECONFIG);
    if (strcmp(err.msg, cases[i].msg) != 0) fail_msg("%s: got %s", cases[i].yaml, err.msg);
    eco_cfg_free(cfg);
  }
  eco_cfg *cfg;
  eco_error err = {0};
  assert_int_equal(eco_cfg_load_string("router: {port: 1}\nnodes:\n  - {url: u, labels: {a: b}}\n"
                                       "trace: /x.csv\n",
                                       "s.yaml", &cfg, &err),
                   0);
  assert_int_equal(eco_cfg_check_schema(cfg, eco_cfg_find(cfg, NULL, ""), &top, &err), 0);
  eco_cfg_free(cfg);
  assert_true(eco_cfg_schema_knows(&top, "router.port"));
  assert_true(eco_cfg_schema_knows(&top, "nodes.12.labels.anything"));
  assert_false(eco_cfg_schema_knows(&top, "nodes.x.url"));
  assert_false(eco_cfg_schema_knows(&top, "router.prot"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_typed_lookup),
      cmocka_unit_test(test_wrong_types_name_position),
      cmocka_unit_test(test_malformed_file_names_line_and_column),
      cmocka_unit_test(test_precedence_flag_env_file),
      cmocka_unit_test(test_durations),
      cmocka_unit_test(test_example_config_parses),
      cmocka_unit_test(test_alias_bomb_refused),
      cmocka_unit_test(test_deep_nesting_refused_fast),
      cmocka_unit_test(test_big_maps_keys_documents),
      cmocka_unit_test(test_ranges_and_origins),
      cmocka_unit_test(test_schema),
  };
  return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
