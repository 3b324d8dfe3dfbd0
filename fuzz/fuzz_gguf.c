/* libFuzzer harness for the GGUF reader: any input must be parsed or
 * refused with an error, never crash or read outside the buffer.
 *
 * fuzz-sources: src/engine/gguf.c src/util/status.c
 * fuzz-seeds: tests/fixtures/gguf shared:models/stories260K-f32.gguf:65536
 * fuzz-seeds: shared:models/test-llama-tok512-q4_k.gguf:65536
 * fuzz-keep: tests/fixtures/gguf
 * fuzz-flags: -max_len=65536
 */
#include "engine/gguf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* exact-size copy so that ASan sees overreads past the end */
  uint8_t *buf = malloc(size ? size : 1);
  if (!buf) return 0;
  if (size) memcpy(buf, data, size);
  eco_gguf *g = NULL;
  eco_error err = {0};
  if (eco_gguf_parse(buf, size, &g, &err) == 0) {
    uint64_t sum = 0;
    for (uint64_t i = 0; i < g->n_kv; i++) {
      const eco_gguf_kv *kv = &g->kv[i];
      if (kv->type == ECO_GGUF_STRING && kv->v.str.len) sum += (uint8_t)kv->v.str.ptr[0];
      if (kv->type == ECO_GGUF_ARRAY && kv->v.arr.type == ECO_GGUF_STRING) {
        const uint8_t *pos = kv->v.arr.data;
        for (uint64_t j = 0; j < kv->v.arr.n; j++) {
          eco_gguf_str s = eco_gguf_arr_next_str(&pos);
          if (s.len) sum += (uint8_t)s.ptr[s.len - 1];
        }
      }
    }
    for (uint64_t i = 0; i < g->n_tensors; i++) {
      const eco_gguf_tensor *t = &g->tensors[i];
      if (t->n_bytes) sum += ((const uint8_t *)t->data)[t->n_bytes - 1];
    }
    char s[64];
    (void)eco_gguf_get_str(g, "general.architecture", s, sizeof s);
    (void)eco_gguf_find_tensor(g, "token_embd.weight");
    eco_gguf_close(g);
    if (sum == 0xFFFFFFFFFFFFFFFFULL) abort(); /* keep sum alive */
  }
  free(buf);
  return 0;
}
