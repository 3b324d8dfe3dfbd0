/* ecoinfer router: the inference engines a node can be, and their own load
 * signals, read for the routing policies.
 *
 *   kind        health          load signals (polled each health period)
 *   ecoinfer    GET /v1/node    (the node's report, gw_nodes.c)
 *   openai      health_path     none: the router's own in-flight count
 *   llama-cpp   GET /health     GET /slots: one entry per slot, is_processing;
 *                               GET /metrics (--metrics): llamacpp:requests_processing,
 *                               llamacpp:requests_deferred, llamacpp:predicted_tokens_seconds,
 *                               llamacpp:prompt_tokens_seconds, llamacpp:kv_cache_usage_ratio
 *   vllm        GET /health     GET /metrics: vllm:num_requests_running, vllm:num_requests_waiting,
 *                               vllm:num_requests_swapped, vllm:kv_cache_usage_perc
 *                               (vllm:gpu_cache_usage_perc before v0.8)
 *   ollama      GET /api/version GET /api/ps: the models in memory and their size_vram / size
 * An endpoint that answers 404 or 501 (llama-server without --slots or
 * --metrics) is left out until the node restarts. Parsers are pure and
 * take untrusted input. */
#ifndef ECO_ROUTER_ENGINES_H
#define ECO_ROUTER_ENGINES_H

#include <stddef.h>
#include <stdint.h>

typedef enum eco_engine_kind {
  ECO_ENGINE_OPENAI = 0, /* any OpenAI-compatible server, no load signal */
  ECO_ENGINE_ECOINFER = 1,
  ECO_ENGINE_LLAMA_CPP = 2,
  ECO_ENGINE_VLLM = 3,
  ECO_ENGINE_OLLAMA = 4,
} eco_engine_kind;

/* "openai", "ecoinfer", "llama-cpp", "vllm", "ollama". */
const char *eco_engine_name(eco_engine_kind k);
/* Also accepts "llama.cpp" and "llamacpp". 0 or ECO_EINVAL. */
int eco_engine_parse(const char *name, eco_engine_kind *out);
/* The health-check path of a kind; NULL: the node's configured one. */
const char *eco_engine_health_path(eco_engine_kind k);
/* The load endpoints of a kind, in polling order; returns their number. */
size_t eco_engine_load_paths(eco_engine_kind k, const char *const **paths);

/* What an engine reports about its load. -1 (or < 0) = not reported. */
typedef struct eco_engine_load {
  int32_t active;        /* sequences running now */
  int32_t queue;         /* requests waiting (deferred, waiting, swapped) */
  int32_t slots;         /* concurrent sequences it can run (llama.cpp slots) */
  double kv_usage;       /* KV cache in use, 0..1 */
  double decode_tps;     /* the engine's generation throughput, tokens/s (> 0 only) */
  double prefill_tps;    /* its prompt throughput, tokens/s (> 0 only) */
  int32_t models_loaded; /* Ollama: models in memory */
  double vram_fraction;  /* Ollama: size_vram / size over the loaded models, 0..1 */
} eco_engine_load;

void eco_engine_load_init(eco_engine_load *l);
/* Reads the answer of load endpoint path of kind k into *l; fields the
 * answer does not carry are left as they are. 0, or ECO_EFORMAT when the
 * body is not what that endpoint sends (*l unchanged). */
int eco_engine_load_parse(eco_engine_kind k, const char *path, const char *body, size_t len,
                          eco_engine_load *l);

#endif
