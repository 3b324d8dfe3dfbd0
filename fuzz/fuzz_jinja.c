/* libFuzzer harness for the Jinja interpreter (src/jinja): the input is a
 * template (any bytes). It must parse or fail with a message, and a parsed
 * template must render a fixed conversation (with tools) or fail with a
 * message, within tight limits, without crashing, leaking or running away.
 *
 * fuzz-sources: src/jinja/*.c src/util/strbuf.c
 * fuzz-seeds: tests/fixtures/jinja tests/fixtures/jinja-crash shared:templates
 * fuzz-keep: tests/fixtures/jinja-crash
 * fuzz-flags: -max_len=16384
 */
#include "jinja/jinja.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char k_vars[] =
    "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"},"
    " {\"role\": \"user\", \"content\": \"Hi \\u00e9\\ud83d\\ude00 {{ x }}\"},"
    " {\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"type\": \"function\","
    " \"function\": {\"name\": \"f\", \"arguments\": {\"a\": 1, \"b\": [true, null, 2.5]}}}]},"
    " {\"role\": \"tool\", \"content\": \"42\"}],"
    " \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\":"
    " {\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"integer\"}}}}}],"
    " \"add_generation_prompt\": true, \"bos_token\": \"<s>\", \"eos_token\": \"</s>\"}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static json_t *vars;
  if (!vars) vars = json_loads(k_vars, 0, NULL);
  eco_jinja_limits lim = {.max_template = 1 << 16,
                          .max_output = 1 << 20,
                          .max_memory = 16 << 20,
                          .max_steps = 200000,
                          .max_depth = 100};
  eco_jinja_tmpl *t = NULL;
  eco_error err = {0};
  int rc = eco_jinja_parse((const char *)data, size, &lim, &t, &err);
  if (rc != ECO_OK) {
    if (t || !err.msg[0]) abort(); /* a failure leaves no template and says why */
    return 0;
  }
  eco_jinja_render_opts o = {.limits = lim, .now = 1721952000, .utc = 1};
  eco_strbuf out;
  eco_sb_init(&out);
  rc = eco_jinja_render(t, vars, &o, &out, &err);
  if (rc != ECO_OK && (out.len || !err.msg[0])) abort(); /* failed renders add nothing */
  if (out.len > lim.max_output) abort();
  eco_sb_free(&out);
  eco_jinja_free(t);
  return 0;
}
