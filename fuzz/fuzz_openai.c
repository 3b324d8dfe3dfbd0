/* libFuzzer harness for the OpenAI request parser: any bytes, as a chat or
 * a completions body, must parse or fail with a 4xx/5xx error object,
 * never crash, leak or read out of bounds.
 *
 * fuzz-sources: src/server/openai.c
 * fuzz-flags: -max_len=4096
 */
#include "server/openai.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  eco_oai_limits lim;
  eco_oai_limits_default(&lim);
  bool chat = size > 0 && (data[0] & 1);
  eco_oai_request r;
  eco_oai_error e;
  int rc = eco_oai_parse(chat, (const char *)data, size, &lim, &r, &e);
  if (rc == 0) {
    if (!r.model || (chat ? r.n_messages == 0 : r.prompt == NULL)) abort();
    if (r.max_tokens < 1 || r.max_tokens > lim.max_tokens_limit) abort();
    eco_oai_usage u = {1, 2, NULL, false, 0};
    char *s = eco_oai_response_json(chat, "id", 0, r.model, "x", 1, "stop", &u);
    if (!s) abort();
    free(s);
    eco_oai_request_free(&r);
  } else {
    if (rc < 400 || rc > 599 || e.status != rc) abort();
    char *s = eco_oai_error_json(&e);
    if (!s) abort();
    free(s);
  }
  return 0;
}
