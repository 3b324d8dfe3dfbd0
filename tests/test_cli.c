/* End-to-end tests of the ecoinfer binary's command-line interface:
 * help, version, exit codes, doctor (text and JSON), config errors. */
#include "testutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* noinline: gcc 12 -O3 reports a false dangling-pointer warning when inlined. */
__attribute__((noinline)) static char *run(const char *args, int *code) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "%s %s 2>&1", eco_test_binary(), args);
  char *out = NULL;
  if (eco_test_run(cmd, &out, code) != 0) fail_msg("cannot run %s", cmd);
  return out;
}

static void test_help_and_version(void **state) {
  (void)state;
  int code;
  char *out = run("--help", &code);
  assert_int_equal(code, 0);
  const char *cmds[] = {"run", "serve",  "route",  "agent", "bench",
                        "sim", "report", "carbon", "pull",  "doctor"};
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
    char needle[32];
    snprintf(needle, sizeof needle, "\n  %s ", cmds[i]);
    if (!strstr(out, needle)) fail_msg("command %s missing from --help", cmds[i]);
    char args[64];
    snprintf(args, sizeof args, "%s --help", cmds[i]);
    char *h = run(args, &code);
    assert_int_equal(code, 0);
    assert_non_null(strstr(h, "Usage: ecoinfer"));
    free(h);
  }
  free(out);
  out = run("--version", &code);
  assert_int_equal(code, 0);
  assert_non_null(strstr(out, "ecoinfer " ECO_VERSION));
  free(out);
  out = run("", &code);
  assert_int_equal(code, 2);
  free(out);
  out = run("frobnicate", &code);
  assert_int_equal(code, 2);
  assert_non_null(strstr(out, "unknown command 'frobnicate'"));
  free(out);
  out = run("doctor --no-such-flag", &code);
  assert_int_equal(code, 2);
  assert_non_null(strstr(out, "unknown option '--no-such-flag'"));
  free(out);
  out = run("doctor --log-level shouty", &code);
  assert_int_equal(code, 2);
  free(out);
  /* bench batch: bad inputs are usage errors, found before any model loads. */
  out = run("bench batch", &code);
  assert_int_equal(code, 2);
  assert_non_null(strstr(out, "missing -m MODEL"));
  free(out);
  out = run("bench batch -m none.gguf --batch 1,abc", &code);
  assert_int_equal(code, 2);
  assert_non_null(strstr(out, "bad --batch"));
  free(out);
  out = run("bench batch -m none.gguf --batch 0", &code);
  assert_int_equal(code, 2);
  free(out);
  out = run("bench batch -m none.gguf --batch 1,,2", &code);
  assert_int_equal(code, 2);
  free(out);
  out = run("bench batch -m /nonexistent.gguf --batch 1", &code);
  assert_int_equal(code, 1);
  free(out);
}

static void test_doctor_json_is_valid(void **state) {
  (void)state;
  char *dir = eco_test_tmpdir();
  eco_test_write_file(dir, "models/tiny.gguf", "GGUF\3\0\0\0");
  char args[1024];
  snprintf(args, sizeof args, "doctor --json --no-nvml --sysfs-root %s --model-dir %s/models", dir,
           dir);
  int code;
  char *out = run(args, &code);
  assert_int_equal(code, 0);
  json_error_t jerr;
  json_t *j = json_loads(out, 0, &jerr);
  if (!j) fail_msg("doctor --json is not JSON: %s\n%s", jerr.text, out);
  assert_true(json_is_object(json_object_get(j, "cpu")));
  assert_true(json_integer_value(json_object_get(json_object_get(j, "cpu"), "logical_cpus")) >= 1);
  assert_true(json_is_array(json_object_get(j, "sensors")));
  assert_int_equal(json_array_size(json_object_get(j, "sensors")), 0);
  json_t *meter = json_object_get(j, "meter");
  assert_false(json_boolean_value(json_object_get(meter, "measured")));
  json_t *files = json_object_get(json_object_get(j, "models"), "files");
  assert_int_equal(json_array_size(files), 1);
  assert_string_equal(json_string_value(json_object_get(json_array_get(files, 0), "format")),
                      "gguf");
  json_decref(j);
  free(out);

  snprintf(args, sizeof args, "doctor --no-nvml --sysfs-root %s", dir);
  out = run(args, &code);
  assert_int_equal(code, 0);
  assert_non_null(strstr(out, "none found"));
  assert_non_null(strstr(out, "estimated"));
  free(out);
  eco_test_rmtree(dir);
  free(dir);
}

static void test_bad_config_names_line_and_column(void **state) {
  (void)state;
  char *dir = eco_test_tmpdir();
  eco_test_write_file(dir, "bad.yaml", "carbon:\n  provider: static\n  zones: [GB,\n");
  char args[1024];
  snprintf(args, sizeof args, "doctor --config %s/bad.yaml", dir);
  int code;
  char *out = run(args, &code);
  assert_int_equal(code, 2);
  assert_non_null(strstr(out, "bad.yaml:"));
  int line = 0, col = 0;
  const char *at = strstr(out, "bad.yaml:");
  assert_non_null(at);
  assert_int_equal(sscanf(at + strlen("bad.yaml:"), "%d:%d", &line, &col), 2);
  assert_true(line >= 3);
  free(out);

  /* A wrongly typed value names the key as well. */
  eco_test_write_file(dir, "typed.yaml", "carbon:\n  provider: [a, b]\n");
  snprintf(args, sizeof args, "doctor --config %s/typed.yaml", dir);
  out = run(args, &code);
  assert_int_equal(code, 2);
  assert_non_null(strstr(out, "typed.yaml:2:13: key 'carbon.provider'"));
  free(out);

  /* Environment overrides the file; the flag overrides both. */
  eco_test_write_file(dir, "ok.yaml", "carbon:\n  provider: static\n  zone: FR\n");
  snprintf(args, sizeof args, "doctor --json --no-nvml --config %s/ok.yaml --model-dir %s", dir,
           dir);
  setenv("ECOINFER_CARBON_ZONE", "GB", 1);
  out = run(args, &code);
  unsetenv("ECOINFER_CARBON_ZONE");
  assert_int_equal(code, 0);
  assert_non_null(strstr(out, "\"zone\": \"GB\""));
  free(out);
  eco_test_rmtree(dir);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_help_and_version),
      cmocka_unit_test(test_doctor_json_is_valid),
      cmocka_unit_test(test_bad_config_names_line_and_column),
  };
  return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
