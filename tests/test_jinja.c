/* Jinja interpreter tests: what the differential test against jinja2
 * (tests/jinja_oracle.sh) cannot check: error messages with line and column,
 * the bounds on untrusted templates (size, steps, output, memory, nesting,
 * recursion), the output left unchanged by a failed render, unsupported
 * constructs, and the sandbox's refusal to mutate values. */
#include "testutil.h"

#include "jinja/jinja.h"

#include <jansson.h>

static int render_ex(const char *tmpl, const char *vars_json, const eco_jinja_render_opts *o,
                     eco_strbuf *out, eco_error *err) {
  eco_jinja_tmpl *t = NULL;
  int rc = eco_jinja_parse(tmpl, strlen(tmpl), o ? &o->limits : NULL, &t, err);
  if (rc != ECO_OK) return rc;
  json_t *vars = vars_json ? json_loads(vars_json, 0, NULL) : NULL;
  rc = eco_jinja_render(t, vars, o, out, err);
  json_decref(vars);
  eco_jinja_free(t);
  return rc;
}

/* Renders and returns the text (caller frees); asserts success. */
static char *render(const char *tmpl, const char *vars_json) {
  eco_strbuf sb;
  eco_sb_init(&sb);
  eco_error err = {0};
  int rc = render_ex(tmpl, vars_json, NULL, &sb, &err);
  if (rc != ECO_OK) fail_msg("render failed: %s", err.msg);
  char *s = strdup(eco_sb_str(&sb));
  eco_sb_free(&sb);
  return s;
}

static void expect(const char *tmpl, const char *vars, const char *want) {
  char *got = render(tmpl, vars);
  assert_string_equal(got, want);
  free(got);
}

/* Fails with code and a message containing needle. */
static void expect_error(const char *tmpl, const char *vars, int code, const char *needle) {
  eco_strbuf sb;
  eco_sb_init(&sb);
  eco_sb_puts(&sb, "before");
  eco_error err = {0};
  int rc = render_ex(tmpl, vars, NULL, &sb, &err);
  if (rc != code || !strstr(err.msg, needle))
    fail_msg("template %s: got %d '%s', want %d with '%s'", tmpl, rc, err.msg, code, needle);
  assert_string_equal(eco_sb_str(&sb), "before"); /* unchanged */
  eco_sb_free(&sb);
}

static void test_basics(void **state) {
  (void)state;
  expect("Hello {{ name }}!", "{\"name\": \"W\"}", "Hello W!");
  expect("{% for m in messages %}{{ m.role }}:{{ m['content'] }};{% endfor %}",
         "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", "
         "\"content\": \"yo\"}]}",
         "user:hi;assistant:yo;");
  expect("{{ missing }}|{{ missing is defined }}", NULL, "|False");
  expect("{{ x.y }}", "{\"x\": null}", ""); /* None.attr is undefined, as in Jinja2 */
  expect("a\n{% if true %}\n  b\n{% endif %}\nc\n", NULL, "a\n  b\nc");
  expect("  {%- if true %} x {% endif -%}  \n y", NULL, " x y");
  expect("{{ strftime_now('%Y-%m-%d') }}", NULL, "1970-01-01");
}

static void test_errors_have_positions(void **state) {
  (void)state;
  expect_error("line1\n  {% if %}", NULL, ECO_EFORMAT, "line 2, column 9");
  expect_error("{% for x in y %}", NULL, ECO_EFORMAT, "expected 'endfor'");
  expect_error("{{ 1 + }}", NULL, ECO_EFORMAT, "line 1, column 8");
  expect_error("{{ 'abc }}", NULL, ECO_EFORMAT, "unterminated string");
  expect_error("{{ x", NULL, ECO_EFORMAT, "missing }}");
  expect_error("{# open", NULL, ECO_EFORMAT, "unclosed comment");
  expect_error("{% endif %}", NULL, ECO_EFORMAT, "unexpected 'endif'");
  expect_error("{{ (1 ]", NULL, ECO_EFORMAT, "unexpected ]");
  expect_error("{% extends 'base' %}", NULL, ECO_EUNSUPPORTED, "tag 'extends' is not supported");
  expect_error("{% raw %}x{% endraw %}", NULL, ECO_EUNSUPPORTED, "'raw'");
  expect_error("{% for x in y recursive %}{% endfor %}", NULL, ECO_EUNSUPPORTED, "recursive");
  /* run-time errors carry the position of the failing expression */
  expect_error("ok\n{{ raise_exception('Roles must alternate') }}", NULL, ECO_EINVAL,
               "line 2, column 4: template raised: Roles must alternate");
  expect_error("{{ 1 + 'a' }}", NULL, ECO_EINVAL, "unsupported operand");
  expect_error("{{ x.y }}", NULL, ECO_EINVAL, "'x' is undefined");
  expect_error("{{ 1 // 0 }}", NULL, ECO_EINVAL, "division");
  expect_error("{{ [1].append(2) }}", NULL, ECO_EINVAL, "unsafe");
  expect_error("{% set d = {} %}{{ d.update({'a': 1}) }}", NULL, ECO_EINVAL, "unsafe");
  expect_error("{% set x = 1 %}{% set x.a = 2 %}", NULL, ECO_EINVAL, "non-namespace");
  expect_error("{{ 9223372036854775807 + 1 }}", NULL, ECO_EOVERFLOW, "out of range");
  expect_error("{% for a, b in [1] %}{% endfor %}", NULL, ECO_EINVAL, "unpack");
}

static void test_unknown_filter_fails_when_reached(void **state) {
  (void)state;
  const char *src = "{% if x %}{{ y | from_json }}{% endif %}ok";
  eco_jinja_tmpl *t = NULL;
  eco_error err = {0};
  assert_int_equal(eco_jinja_parse(src, strlen(src), NULL, &t, &err), 0);
  assert_non_null(strstr(eco_jinja_notes(t), "line 1, column 18: unknown filter 'from_json'"));
  eco_strbuf sb;
  eco_sb_init(&sb);
  assert_int_equal(eco_jinja_render(t, NULL, NULL, &sb, &err), 0);
  assert_string_equal(eco_sb_str(&sb), "ok");
  json_t *v = json_pack("{s:b,s:s}", "x", 1, "y", "[]");
  assert_int_equal(eco_jinja_render(t, v, NULL, &sb, &err), ECO_EUNSUPPORTED);
  assert_non_null(strstr(err.msg, "no filter named 'from_json'"));
  json_decref(v);
  eco_sb_free(&sb);
  eco_jinja_free(t);
}

static void test_limits(void **state) {
  (void)state;
  eco_strbuf sb;
  eco_sb_init(&sb);
  eco_error err = {0};
  /* work: a loop that never ends in practice */
  eco_jinja_render_opts o = {.limits = {.max_steps = 100000}};
  assert_int_equal(render_ex("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor "
                             "%}{% endfor %}",
                             NULL, &o, &sb, &err),
                   ECO_EOVERFLOW);
  assert_non_null(strstr(err.msg, "steps"));
  /* output */
  o = (eco_jinja_render_opts){.limits = {.max_output = 1000}};
  assert_int_equal(render_ex("{% for i in range(1000) %}xx{% endfor %}", NULL, &o, &sb, &err),
                   ECO_EOVERFLOW);
  assert_non_null(strstr(err.msg, "output"));
  /* memory: a string doubling itself */
  o = (eco_jinja_render_opts){.limits = {.max_memory = 1 << 20}};
  assert_int_equal(render_ex("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = "
                             "ns.s + ns.s %}{% endfor %}",
                             NULL, &o, &sb, &err),
                   ECO_EOVERFLOW);
  assert_non_null(strstr(err.msg, "memory"));
  assert_int_equal(render_ex("{{ 'x' * 100000000000 }}", NULL, &o, &sb, &err), ECO_EOVERFLOW);
  /* the sandbox's range limit */
  assert_int_equal(render_ex("{{ range(1000000)|length }}", NULL, NULL, &sb, &err), ECO_EOVERFLOW);
  /* macro recursion */
  assert_int_equal(
      render_ex("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", NULL, NULL, &sb, &err),
      ECO_EOVERFLOW);
  assert_non_null(strstr(err.msg, "macro calls"));
  /* nesting when parsing */
  char deep[4096];
  size_t k = 0;
  k += (size_t)snprintf(deep + k, sizeof deep - k, "{{ ");
  for (int i = 0; i < 1000; i++)
    deep[k++] = '(';
  deep[k++] = '1';
  for (int i = 0; i < 1000; i++)
    deep[k++] = ')';
  k += (size_t)snprintf(deep + k, sizeof deep - k, " }}");
  eco_jinja_tmpl *t = NULL;
  assert_int_equal(eco_jinja_parse(deep, k, NULL, &t, &err), ECO_EOVERFLOW);
  /* template size */
  eco_jinja_limits lim = {.max_template = 10};
  assert_int_equal(eco_jinja_parse("0123456789ab", 12, &lim, &t, &err), ECO_EOVERFLOW);
  assert_null(t);
  assert_int_equal(sb.len, 0);
  eco_sb_free(&sb);
}

static void test_python_printing(void **state) {
  (void)state;
  expect("{{ [1, 'a', none, true, 1.5, {'k': (1,)}] }}", NULL,
         "[1, 'a', None, True, 1.5, {'k': (1,)}]");
  expect("{{ 1e16 }} {{ 1e-5 }} {{ 0.1 + 0.2 }} {{ 2.0 }} {{ 1/3 }}", NULL,
         "1e+16 1e-05 0.30000000000000004 2.0 0.3333333333333333");
  expect("{{ {'a': 'é', 'b': [1, 2.0]}|tojson }}", NULL, "{\"a\": \"é\", \"b\": [1, 2.0]}");
  expect("{{ 'é😀'|tojson(ensure_ascii=true) }}", NULL, "\"\\u00e9\\ud83d\\ude00\"");
}

static void test_bad_vars(void **state) {
  (void)state;
  eco_jinja_tmpl *t = NULL;
  eco_error err = {0};
  assert_int_equal(eco_jinja_parse("x", 1, NULL, &t, &err), 0);
  eco_strbuf sb;
  eco_sb_init(&sb);
  json_t *arr = json_array();
  assert_int_equal(eco_jinja_render(t, arr, NULL, &sb, &err), ECO_EINVAL);
  json_decref(arr);
  /* nesting too deep in the input */
  json_t *deep = json_array(), *cur = deep;
  for (int i = 0; i < 100; i++) {
    json_t *n = json_array();
    json_array_append_new(cur, n);
    cur = n;
  }
  json_t *vars = json_pack("{s:o}", "d", deep);
  assert_int_equal(eco_jinja_render(t, vars, NULL, &sb, &err), ECO_EOVERFLOW);
  json_decref(vars);
  eco_sb_free(&sb);
  eco_jinja_free(t);
  assert_int_equal(eco_jinja_parse(NULL, 0, NULL, &t, &err), ECO_EINVAL);
  assert_null(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_basics),
      cmocka_unit_test(test_errors_have_positions),
      cmocka_unit_test(test_unknown_filter_fails_when_reached),
      cmocka_unit_test(test_limits),
      cmocka_unit_test(test_python_printing),
      cmocka_unit_test(test_bad_vars),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
