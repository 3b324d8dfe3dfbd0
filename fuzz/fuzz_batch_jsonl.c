/* libFuzzer harness for the Batch API's input files (JSON Lines, parsed by
 * eco_batchq_parse_input in src/router/batchq_input.c): any bytes must be
 * accepted with every request handed over once, or refused with a message;
 * a request handed over has a non-empty custom_id and a body that is a
 * JSON object. Byte 0 picks the batch's endpoint.
 *
 * fuzz-sources: src/router/batchq_input.c
 */
#include "router/batchq.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_line(void *user, int64_t idx, const char *custom_id, const char *body,
                   eco_error *err) {
  (void)err;
  int64_t *count = user;
  if (idx != *count || !custom_id || !custom_id[0]) abort();
  json_t *b = json_loads(body, 0, NULL);
  if (!json_is_object(b)) abort();
  json_decref(b);
  (*count)++;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *const endpoints[] = {"/v1/chat/completions", "/v1/completions",
                                          "/v1/embeddings", "/v1/responses", "/v1/other"};
  if (size < 1) return 0;
  const char *endpoint = endpoints[data[0] % 5];
  /* exact-size copy: ASan sees any read past the end */
  char *buf = malloc(size - 1 ? size - 1 : 1);
  if (!buf) return 0;
  memcpy(buf, data + 1, size - 1);
  int64_t count = 0, n = -1;
  eco_error err = {0};
  int rc = eco_batchq_parse_input(buf, size - 1, endpoint, on_line, &count, &n, &err);
  if (rc == 0) {
    if (n < 1 || n != count) abort();
  } else {
    if (rc > 0 || !err.msg[0]) abort();
  }
  free(buf);
  return 0;
}
