/* Tests for src/util/config: YAML parsing, typed lookups, precedence
 * (flag > env > file > default) and error positions. */
#include "testutil.h"

#include "util/config.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_typed_lookup),
      cmocka_unit_test(test_wrong_types_name_position),
      cmocka_unit_test(test_malformed_file_names_line_and_column),
      cmocka_unit_test(test_precedence_flag_env_file),
      cmocka_unit_test(test_durations),
      cmocka_unit_test(test_example_config_parses),
  };
  return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
