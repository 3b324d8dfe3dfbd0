/* OpenAI request parsing and response shapes (pure functions). */
#include "testutil.h"

#include "server/openai.h"

#include <jansson.h>

static int parse(bool chat, const char *body, eco_oai_request *r, eco_oai_error *e) {
  eco_oai_limits l;
  eco_oai_limits_default(&l);
  l.max_tokens_limit = 1000;
  l.max_text_bytes = 64;
  return eco_oai_parse(chat, body, strlen(body), &l, r, e);
}

static void test_chat_fields(void **state) {
  eco_oai_request r;
  eco_oai_error e;
  const char *b =
      "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
      "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\","
      "\"text\":\"b\"}]},{\"role\":\"assistant\",\"content\":null}],\"max_completion_tokens\":7,"
      "\"temperature\":0,\"top_p\":0.5,\"top_k\":40,\"seed\":42,\"stop\":\"\\n\",\"stream\":true,"
      "\"stream_options\":{\"include_usage\":true},\"user\":\"ignored\",\"tools\":[]}";
  assert_int_equal(parse(true, b, &r, &e), 0);
  assert_string_equal(r.model, "m");
  assert_int_equal(r.n_messages, 3);
  assert_string_equal(r.messages[0].role, "system");
  assert_string_equal(r.messages[1].content, "ab");
  assert_string_equal(r.messages[2].content, "");
  assert_int_equal(r.max_tokens, 7);
  assert_float_equal(r.sampling.temperature, 0, 0);
  assert_float_equal(r.sampling.top_p, 0.5, 0);
  assert_int_equal(r.sampling.top_k, 40);
  assert_true(r.sampling.has_seed);
  assert_int_equal(r.sampling.seed, 42);
  assert_int_equal(r.n_stop, 1);
  assert_string_equal(r.stop[0], "\n");
  assert_true(r.stream);
  assert_true(r.include_usage);
  eco_oai_request_free(&r);
}

static void test_completion_defaults(void **state) {
  eco_oai_request r;
  eco_oai_error e;
  assert_int_equal(parse(false, "{\"model\":\"m\",\"prompt\":\"hi\"}", &r, &e), 0);
  assert_string_equal(r.prompt, "hi");
  assert_int_equal(r.max_tokens, 256);
  assert_float_equal(r.sampling.temperature, 1, 0);
  assert_false(r.stream);
  assert_null(r.messages);
  eco_oai_request_free(&r);
}

static void test_rejections_name_the_param(void **state) {
  struct {
    bool chat;
    const char *body;
    const char *param;
  } c[] = {
      {false, "{\"model\":\"m\"}", "prompt"},
      {false, "{\"model\":\"m\",\"prompt\":[\"a\",\"b\"]}", "prompt"},
      {false, "{\"model\":\"m\",\"prompt\":\"a\",\"echo\":1}", "echo"},
      {false, "{\"model\":\"m\",\"prompt\":\"a\",\"max_tokens\":0}", "max_tokens"},
      {false, "{\"model\":\"m\",\"prompt\":\"a\",\"max_tokens\":1001}", "max_tokens"},
      {false, "{\"model\":\"m\",\"prompt\":\"a\",\"max_tokens\":2.5}", "max_tokens"},
      {false, "{\"model\":\"m\",\"prompt\":\"a\",\"top_p\":-1}", "top_p"},
      {false, "{\"model\":\"m\",\"prompt\":\"a\",\"top_k\":-1}", "top_k"},
      {false, "{\"model\":\"m\",\"prompt\":\"a\",\"seed\":\"1\"}", "seed"},
      {false, "{\"model\":\"m\",\"prompt\":\"a\",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}",
       "stop"},
      {false, "{\"model\":\"m\",\"prompt\":\"a\",\"stop\":\"\"}", "stop"},
      {false, "{\"model\":\"m\",\"prompt\":\"a\",\"stream\":true,\"stream_options\":[]}",
       "stream_options"},
      {false,
       "{\"model\":\"m\",\"prompt\":\"a\",\"stream\":true,\"stream_options\":{\"include_usage\":"
       "\"y\"}}",
       "stream_options.include_usage"},
      {false,
       "{\"model\":\"m\",\"prompt\":\"" /* 70 bytes > 64 */
       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
       "prompt"},
      {true, "{\"model\":\"\",\"messages\":[]}", "model"},
      {true, "{\"model\":\"m\",\"messages\":[1]}", "messages.role"},
      {true,
       "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image\"}]}]}",
       "messages.content"},
      {true, "{\"model\":\"m\\u0000x\",\"messages\":[]}", ""}, /* jansson refuses NUL */
  };
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
    eco_oai_request r;
    eco_oai_error e;
    int rc = parse(c[i].chat, c[i].body, &r, &e);
    if (rc != 400) fail_msg("case %zu (%s): rc %d", i, c[i].body, rc);
    if (strcmp(e.param, c[i].param) != 0)
      fail_msg("case %zu: param '%s', want '%s' (%s)", i, e.param, c[i].param, e.message);
    assert_string_equal(e.type, "invalid_request_error");
  }
}

static void test_malformed_bodies(void **state) {
  /* a bad escape before bytes that are not UTF-8: jansson's message quotes
   * them (fuzz_openai's crash, tests/fixtures/fuzz/openai/) */
  static const char bad_escape[] =
      "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{"
      "\"\\\\\\\\\\\xdb\x8b\x9a\x87t\":"
      "\"x\"}]}],\"seed\":1}";
  const char *bad[] = {"",
                       "null",
                       "\"str\"",
                       "{\"model\":\"m\",\"prompt\":\"a\"",
                       "{\"model\":\"m\",\"prompt\":\"\xff\"}",
                       "{\"model\":\"m\",\"prompt\":\"a\",\"prompt\":\"b\"}",
                       "{\"model\":\"m\",\"prompt\":\"a\",\"max_tokens\":1e400}",
                       "{\"model\":\"m\",\"prompt\":\"a\",\"max_tokens\":123456789012345678901234}",
                       bad_escape};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    eco_oai_request r;
    eco_oai_error e;
    assert_int_equal(parse(false, bad[i], &r, &e), 400);
    char *j = eco_oai_error_json(&e);
    assert_non_null(j);
    json_t *o = json_loads(j, 0, NULL);
    assert_non_null(o);
    json_t *err = json_object_get(o, "error");
    assert_true(json_is_string(json_object_get(err, "message")));
    assert_true(json_object_get(err, "param") != NULL);
    assert_true(json_object_get(err, "code") != NULL);
    json_decref(o);
    free(j);
  }
  /* an embedded NUL byte in the body */
  eco_oai_request r;
  eco_oai_error e;
  const char nul[] = "{\"model\":\"m\",\"prompt\":\"a\0b\"}";
  eco_oai_limits l;
  eco_oai_limits_default(&l);
  assert_int_equal(eco_oai_parse(false, nul, sizeof nul - 1, &l, &r, &e), 400);
}

static void test_response_shapes(void **state) {
  eco_receipt rc = {.energy_j = 1.5, .intensity_gco2_kwh = 100, .pue = 1.2, .total_g = 0.1};
  snprintf(rc.energy_source, sizeof rc.energy_source, "rapl");
  snprintf(rc.intensity_source, sizeof rc.intensity_source, "static");
  snprintf(rc.method, sizeof rc.method, "sci-v1.0");
  eco_oai_usage u = {.prompt_tokens = 3, .completion_tokens = 2, .carbon = &rc};
  char *s = eco_oai_response_json(true, "id1", 10, "m", "hey", 3, "stop", &u);
  json_t *j = json_loads(s, 0, NULL);
  assert_non_null(j);
  json_t *usage = json_object_get(j, "usage");
  assert_int_equal(json_integer_value(json_object_get(usage, "total_tokens")), 5);
  assert_string_equal(
      json_string_value(json_object_get(json_object_get(usage, "carbon"), "energy_source")),
      "rapl");
  json_decref(j);
  free(s);
  s = eco_oai_chunk_json(true, "id1", 10, "m", "x", 1, true, NULL, NULL, true);
  j = json_loads(s, 0, NULL);
  json_t *d = json_object_get(json_array_get(json_object_get(j, "choices"), 0), "delta");
  assert_string_equal(json_string_value(json_object_get(d, "role")), "assistant");
  assert_true(json_is_null(json_object_get(j, "usage")));
  json_decref(j);
  free(s);
  s = eco_oai_chunk_json(false, "id1", 10, "m", NULL, 0, false, NULL, &u, false);
  j = json_loads(s, 0, NULL);
  assert_int_equal(json_array_size(json_object_get(j, "choices")), 0);
  assert_true(json_is_object(json_object_get(json_object_get(j, "usage"), "carbon")));
  json_decref(j);
  free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_chat_fields),
      cmocka_unit_test(test_completion_defaults),
      cmocka_unit_test(test_rejections_name_the_param),
      cmocka_unit_test(test_malformed_bodies),
      cmocka_unit_test(test_response_shapes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
