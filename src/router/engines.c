/* ecoinfer router: engine kinds and their load signals (see engines.h). */
#include "router/engines.h"

#include "util/promtext.h"
#include "util/status.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

static const char *const NAMES[] = {"openai", "ecoinfer", "llama-cpp", "vllm", "ollama"};

const char *eco_engine_name(eco_engine_kind k) {
  return (unsigned)k < sizeof NAMES / sizeof NAMES[0] ? NAMES[k] : "openai";
}

int eco_engine_parse(const char *name, eco_engine_kind *out) {
  if (!name || !out) return ECO_EINVAL;
  for (size_t i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++)
    if (strcmp(name, NAMES[i]) == 0) {
      *out = (eco_engine_kind)i;
      return 0;
    }
  if (strcmp(name, "llama.cpp") == 0 || strcmp(name, "llamacpp") == 0) {
    *out = ECO_ENGINE_LLAMA_CPP;
    return 0;
  }
  return ECO_EINVAL;
}

const char *eco_engine_health_path(eco_engine_kind k) {
  switch (k) {
  case ECO_ENGINE_ECOINFER: return "/v1/node";
  case ECO_ENGINE_LLAMA_CPP:
  case ECO_ENGINE_VLLM: return "/health";
  case ECO_ENGINE_OLLAMA: return "/api/version";
  case ECO_ENGINE_OPENAI: break;
  }
  return NULL;
}

size_t eco_engine_load_paths(eco_engine_kind k, const char *const **paths) {
  static const char *const llama[] = {"/slots", "/metrics"};
  static const char *const vllm[] = {"/metrics"};
  static const char *const ollama[] = {"/api/ps"};
  switch (k) {
  case ECO_ENGINE_LLAMA_CPP: *paths = llama; return 2;
  case ECO_ENGINE_VLLM: *paths = vllm; return 1;
  case ECO_ENGINE_OLLAMA: *paths = ollama; return 1;
  case ECO_ENGINE_OPENAI:
  case ECO_ENGINE_ECOINFER: break;
  }
  *paths = NULL;
  return 0;
}

void eco_engine_load_init(eco_engine_load *l) {
  *l = (eco_engine_load){.active = -1,
                         .queue = -1,
                         .slots = -1,
                         .kv_usage = -1,
                         .decode_tps = -1,
                         .prefill_tps = -1,
                         .models_loaded = -1,
                         .vram_fraction = -1};
}

static int32_t count(double v) { return v < 0 ? 0 : v > 1e6 ? 1000000 : (int32_t)lround(v); }

/* llama-server GET /slots: [{"id":0,"n_ctx":..,"is_processing":false,...}]
 * (older servers: "state": 0 idle, 1 processing). */
static int llama_slots(const char *body, size_t len, eco_engine_load *l) {
  json_t *j = json_loadb(body, len, 0, NULL);
  if (!json_is_array(j) || json_array_size(j) == 0 || json_array_size(j) > 65536) {
    json_decref(j);
    return ECO_EFORMAT;
  }
  int32_t busy = 0;
  size_t i;
  json_t *s;
  json_array_foreach(j, i, s) {
    const json_t *p = json_object_get(s, "is_processing");
    const json_t *st = json_object_get(s, "state");
    if (!json_is_object(s) || (!json_is_boolean(p) && !json_is_integer(st))) {
      json_decref(j);
      return ECO_EFORMAT;
    }
    if (json_is_true(p) || (!p && json_integer_value(st) != 0)) busy++;
  }
  l->slots = (int32_t)json_array_size(j);
  l->active = busy;
  json_decref(j);
  return 0;
}

static int prom(const char *body, size_t len, eco_engine_kind k, eco_engine_load *l) {
  double v, w;
  size_t got = 0;
  if (k == ECO_ENGINE_LLAMA_CPP) {
    if (eco_prom_sum(body, len, "llamacpp:requests_processing", &v) && ++got) l->active = count(v);
    if (eco_prom_sum(body, len, "llamacpp:requests_deferred", &v) && ++got) l->queue = count(v);
    if (eco_prom_sum(body, len, "llamacpp:predicted_tokens_seconds", &v) && v > 0)
      l->decode_tps = v;
    if (eco_prom_sum(body, len, "llamacpp:prompt_tokens_seconds", &v) && v > 0) l->prefill_tps = v;
    if (eco_prom_sum(body, len, "llamacpp:kv_cache_usage_ratio", &v) && v >= 0 && v <= 1)
      l->kv_usage = v;
    return got ? 0 : ECO_EFORMAT;
  }
  if (eco_prom_sum(body, len, "vllm:num_requests_running", &v) && ++got) l->active = count(v);
  size_t q = eco_prom_sum(body, len, "vllm:num_requests_waiting", &v);
  if (eco_prom_sum(body, len, "vllm:num_requests_swapped", &w)) v += w;
  if (q && ++got) l->queue = count(v);
  /* a fraction 0..1 in both names; the mean over engines of a node */
  size_t nk = eco_prom_sum(body, len, "vllm:kv_cache_usage_perc", &v);
  if (!nk) nk = eco_prom_sum(body, len, "vllm:gpu_cache_usage_perc", &v);
  if (nk && v / (double)nk >= 0 && v / (double)nk <= 1) l->kv_usage = v / (double)nk;
  return got ? 0 : ECO_EFORMAT;
}

/* Ollama GET /api/ps: {"models":[{"name","size","size_vram",...}]}. */
static int ollama_ps(const char *body, size_t len, eco_engine_load *l) {
  json_t *j = json_loadb(body, len, 0, NULL);
  const json_t *m = json_object_get(j, "models");
  if (!json_is_array(m)) {
    json_decref(j);
    return ECO_EFORMAT;
  }
  double size = 0, vram = 0;
  size_t i;
  const json_t *x;
  json_array_foreach(m, i, x) {
    double s = json_number_value(json_object_get(x, "size"));
    double v = json_number_value(json_object_get(x, "size_vram"));
    if (s > 0 && v >= 0) {
      size += s;
      vram += v < s ? v : s;
    }
  }
  l->models_loaded = (int32_t)(json_array_size(m) > 1000000 ? 1000000 : json_array_size(m));
  l->vram_fraction = size > 0 ? vram / size : -1;
  json_decref(j);
  return 0;
}

int eco_engine_load_parse(eco_engine_kind k, const char *path, const char *body, size_t len,
                          eco_engine_load *l) {
  if (!path || !l || (!body && len)) return ECO_EINVAL;
  if (!body) body = "";
  if (k == ECO_ENGINE_LLAMA_CPP && strcmp(path, "/slots") == 0) return llama_slots(body, len, l);
  if ((k == ECO_ENGINE_LLAMA_CPP || k == ECO_ENGINE_VLLM) && strcmp(path, "/metrics") == 0)
    return prom(body, len, k, l);
  if (k == ECO_ENGINE_OLLAMA && strcmp(path, "/api/ps") == 0) return ollama_ps(body, len, l);
  return ECO_EINVAL;
}
