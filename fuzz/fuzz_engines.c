/* libFuzzer harness for what a router reads from foreign engines and agents:
 * the Prometheus text reader, each engine's load parser (llama.cpp /slots
 * and /metrics, vLLM /metrics, Ollama /api/ps), the engine usage codec and
 * the choice of an agent's meters. The first byte picks the parser; any
 * bytes must parse or fail cleanly, never crash, leak or read out of
 * bounds, and what they parse stays in range. The seeds are the recorded
 * answers of tests/fixtures/engines with their parser's byte in front.
 *
 * fuzz-sources: src/router/engines.c src/router/agent_pick.c src/util/promtext.c
 * fuzz-sources: src/accounting/wire.c
 * fuzz-flags: -max_len=4096
 */
#include "accounting/wire.h"
#include "router/agent_pick.h"
#include "router/engines.h"
#include "util/promtext.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_load(const eco_engine_load *l) {
  if (l->active < -1 || l->queue < -1 || l->slots < -1 || l->models_loaded < -1) abort();
  if (l->kv_usage > 1 || (l->vram_fraction > 1 && l->vram_fraction >= 0)) abort();
  if (!(l->decode_tps == -1 || (l->decode_tps > 0 && isfinite(l->decode_tps)))) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const char *body = (const char *)data + 1;
  size_t len = size - 1;
  eco_engine_load l;
  eco_engine_load_init(&l);
  switch (data[0] % 6) {
  case 0: {
    double v;
    size_t n = eco_prom_sum(body, len, "vllm:num_requests_running", &v);
    if (!isfinite(v) || (n == 0 && v != 0)) abort();
    break;
  }
  case 1: (void)eco_engine_load_parse(ECO_ENGINE_LLAMA_CPP, "/slots", body, len, &l); break;
  case 2: (void)eco_engine_load_parse(ECO_ENGINE_LLAMA_CPP, "/metrics", body, len, &l); break;
  case 3: (void)eco_engine_load_parse(ECO_ENGINE_VLLM, "/metrics", body, len, &l); break;
  case 4: (void)eco_engine_load_parse(ECO_ENGINE_OLLAMA, "/api/ps", body, len, &l); break;
  default: {
    json_t *j = json_loadb(body, len, 0, NULL);
    eco_engine_usage u;
    (void)eco_engine_usage_from_json(j, &u);
    if (u.prompt_tokens < -1 || u.completion_tokens < -1 || u.cached_tokens < -1) abort();
    if (u.prefill_s < -1 || u.decode_s < -1 || u.load_s < -1) abort();
    eco_agent_pick p;
    char why[160];
    if (eco_agent_pick_meters(j, "nvml:0,host,jetson:gpu+cpu", &p, why, sizeof why) == 0 &&
        !(p.joules >= 0))
      abort();
    (void)eco_agent_pick_meters(j, "jetson", &p, why, sizeof why);
    json_decref(j);
    break;
  }
  }
  check_load(&l);
  return 0;
}
