/* ecoinfer accounting: the receipt codec, the router's receipt object and
 * the OpenAI error body (see wire.h). */
#include "accounting/wire.h"

#include "util/status.h"
#include "util/strbuf.h"
#include "util/utf8.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *num(double x) { return isfinite(x) ? json_real(x) : json_null(); }

/* Sets o[key] = v (stolen); false, with o freed, when v or the set failed. */
static bool put(json_t *o, const char *key, json_t *v) {
  if (!v || json_object_set_new(o, key, v) != 0) {
    json_decref(o);
    return false;
  }
  return true;
}

#define ENC_NUM(name)  num(r->name)
#define ENC_STR(name)  json_string(r->name)
#define ENC_BOOL(name) json_boolean(r->name)
#define ENC_INT(name)  json_integer((json_int_t)r->name)
#define ENC(name, kind)                                                                            \
  if (!put(o, #name, ENC_##kind(name))) return NULL;

json_t *eco_receipt_to_json(const eco_receipt *r) {
  if (!r) return NULL;
  json_t *o = json_object();
  if (!o) return NULL;
  ECO_RECEIPT_FIELDS(ENC)
  return o;
}

static void dec_str(const json_t *v, char *dst, size_t cap, unsigned bit, unsigned *seen) {
  const char *s = json_string_value(v);
  snprintf(dst, cap, "%s", s ? s : "");
  if (s) *seen |= bit;
}

#define DEC_NUM(name, v)                                                                           \
  out->name = json_number_value(v);                                                                \
  if (json_is_number(v)) seen |= ECO_RF(name);
#define DEC_STR(name, v) dec_str(v, out->name, sizeof out->name, ECO_RF(name), &seen);
/* estimated unless the receipt says otherwise */
#define DEC_BOOL(name, v)                                                                          \
  out->name = !json_is_false(v);                                                                   \
  if (json_is_boolean(v)) seen |= ECO_RF(name);
#define DEC_INT(name, v)                                                                           \
  out->name = json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;                             \
  if (json_is_integer(v)) seen |= ECO_RF(name);
#define DEC(name, kind)                                                                            \
  {                                                                                                \
    const json_t *v = json_object_get(carbon, #name);                                              \
    DEC_##kind(name, v)                                                                            \
  }

int eco_receipt_from_json(const json_t *carbon, eco_receipt *out, unsigned *present) {
  if (present) *present = 0;
  if (!json_is_object(carbon) || !out) return ECO_EINVAL;
  memset(out, 0, sizeof *out);
  unsigned seen = 0;
  ECO_RECEIPT_FIELDS(DEC)
  if (present) *present = seen;
  return ECO_OK;
}

static json_t *failed_list(const char *ids) {
  json_t *a = json_array();
  if (!a || !ids || !ids[0]) return a;
  char tmp[256];
  snprintf(tmp, sizeof tmp, "%s", ids);
  for (char *save = NULL, *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save))
    json_array_append_new(a, json_string(t));
  return a;
}

json_t *eco_route_receipt_to_json(const eco_route_receipt *x) {
  if (!x) return NULL;
  json_t *ro = json_pack(
      "{s:s,s:s,s:s,s:s,s:i,s:o,s:{s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f},"
      "s:{s:f,s:f,s:f,s:I,s:I},s:f,s:b,s:b,s:b}",
      "policy", x->policy ? x->policy : "", "node", x->node ? x->node : "", "zone",
      x->zone ? x->zone : "", "device", x->device ? x->device : "", "attempts", x->attempts,
      "failed_nodes", failed_list(x->failed_nodes), "predicted", "latency_s",
      x->predicted.latency_s, "queue_s", x->predicted.queue_s, "out_tokens",
      x->predicted.out_tokens, "batch", x->predicted.batch, "energy_j", x->predicted.energy_j,
      "operational_g", x->predicted.operational_g, "embodied_g", x->predicted.embodied_g, "total_g",
      x->predicted.total_g, "measured", "latency_s", x->measured.latency_s, "upstream_s",
      x->measured.upstream_s, "ttft_s", x->measured.ttft_s, "prompt_tokens",
      (json_int_t)x->measured.prompt_tokens, "completion_tokens",
      (json_int_t)x->measured.completion_tokens, "slo_s", x->slo_s, "slo_met", x->slo_met,
      "slo_predicted_met", x->slo_predicted_met, "slo_fallback", x->slo_fallback);
  if (!ro) return NULL;
  json_t *m = json_object_get(ro, "measured");
  if (x->measured.total_g >= 0) json_object_set_new(m, "total_g", json_real(x->measured.total_g));
  if (x->measured.energy_j >= 0)
    json_object_set_new(m, "energy_j", json_real(x->measured.energy_j));
  if (x->engine_kind) {
    json_t *e = json_pack("{s:s}", "kind", x->engine_kind);
    const eco_engine_usage *u = x->engine;
    if (e && u) {
      if (u->cached_tokens >= 0)
        json_object_set_new(e, "cached_tokens", json_integer((json_int_t)u->cached_tokens));
      if (u->prefill_s >= 0) json_object_set_new(e, "prefill_s", json_real(u->prefill_s));
      if (u->decode_s >= 0) json_object_set_new(e, "decode_s", json_real(u->decode_s));
      if (u->load_s >= 0) json_object_set_new(e, "load_s", json_real(u->load_s));
    }
    if (e) json_object_set_new(m, "engine", e);
  }
  if (x->directive_level >= 0)
    json_object_set_new(ro, ECO_CARBON_DIRECTIVE_LEVEL, json_integer(x->directive_level));
  const eco_route_directive *d = x->directive;
  if (d) {
    json_t *o = json_pack("{s:s}", "plan", d->plan ? d->plan : "");
    if (o && d->group) json_object_set_new(o, "group", json_string(d->group));
    if (o && d->group && d->group_p >= 0) json_object_set_new(o, "group_p", json_real(d->group_p));
    if (o) {
      json_object_set_new(o, "planned_level", json_integer(d->planned_level));
      json_object_set_new(o, "level_p", json_real(d->level_p));
      json_object_set_new(o, "degraded", json_boolean(d->degraded));
      json_object_set_new(o, "opted_out", json_boolean(d->opted_out));
      json_object_set_new(ro, ECO_CARBON_ROUTER_DIRECTIVE, o);
    }
  }
  return ro;
}

static bool count_of(const json_t *v, int64_t *out) {
  if (!json_is_integer(v) || json_integer_value(v) < 0) return false;
  *out = (int64_t)json_integer_value(v);
  return true;
}

/* A non-negative duration in unit seconds per value (1e-3 ms, 1e-9 ns). */
static bool secs_of(const json_t *v, double unit, double *out) {
  if (!json_is_number(v) || !(json_number_value(v) >= 0) || json_number_value(v) > 1e18)
    return false;
  *out = json_number_value(v) * unit;
  return true;
}

int eco_engine_usage_from_json(const json_t *resp, eco_engine_usage *out) {
  *out = (eco_engine_usage){-1, -1, -1, -1, -1, -1};
  if (!json_is_object(resp)) return 0;
  int n = 0;
  const json_t *u = json_object_get(resp, "usage");
  const json_t *t = json_object_get(resp, "timings");
  n += count_of(json_object_get(u, "prompt_tokens"), &out->prompt_tokens);
  n += count_of(json_object_get(u, "completion_tokens"), &out->completion_tokens);
  n += count_of(json_object_get(json_object_get(u, "prompt_tokens_details"), "cached_tokens"),
                &out->cached_tokens);
  /* llama.cpp: prompt_n counts the prompt tokens it evaluated, cache_n the reused ones */
  if (json_is_object(t)) {
    int64_t pn = -1, cn = -1;
    n += count_of(json_object_get(t, "cache_n"), &cn);
    if (cn >= 0) out->cached_tokens = cn;
    if (out->prompt_tokens < 0 && count_of(json_object_get(t, "prompt_n"), &pn)) {
      out->prompt_tokens = pn + (cn > 0 ? cn : 0);
      n++;
    }
    if (out->completion_tokens < 0)
      n += count_of(json_object_get(t, "predicted_n"), &out->completion_tokens);
    n += secs_of(json_object_get(t, "prompt_ms"), 1e-3, &out->prefill_s);
    n += secs_of(json_object_get(t, "predicted_ms"), 1e-3, &out->decode_s);
  }
  /* Ollama's native answer (durations in ns) */
  if (out->prompt_tokens < 0)
    n += count_of(json_object_get(resp, "prompt_eval_count"), &out->prompt_tokens);
  if (out->completion_tokens < 0)
    n += count_of(json_object_get(resp, "eval_count"), &out->completion_tokens);
  if (out->prefill_s < 0)
    n += secs_of(json_object_get(resp, "prompt_eval_duration"), 1e-9, &out->prefill_s);
  if (out->decode_s < 0) n += secs_of(json_object_get(resp, "eval_duration"), 1e-9, &out->decode_s);
  n += secs_of(json_object_get(resp, "load_duration"), 1e-9, &out->load_s);
  return n;
}

/* s as a JSON string, its bytes made valid UTF-8 (each byte that is not
 * part of a character becomes U+FFFD): error texts quote what a client
 * sent, and jansson refuses strings that are not UTF-8. NULL: out of memory. */
static json_t *utf8_string(const char *s) {
  eco_strbuf sb;
  eco_sb_init(&sb);
  eco_utf8_hold h = {0};
  json_t *j = NULL;
  if (!eco_utf8_feed(&h, ECO_UTF8_REPLACE, s, strlen(s), &sb) &&
      !eco_utf8_flush(&h, ECO_UTF8_REPLACE, &sb))
    j = json_stringn(sb.len ? eco_sb_str(&sb) : "", sb.len);
  eco_sb_free(&sb);
  return j;
}

json_t *eco_wire_error_json(const char *message, const char *type, const char *param,
                            const char *code) {
  return json_pack("{s:{s:o,s:o,s:o,s:o}}", "error", "message", utf8_string(message ? message : ""),
                   "type", utf8_string(type ? type : "invalid_request_error"), "param",
                   param && param[0] ? utf8_string(param) : json_null(), "code",
                   code && code[0] ? utf8_string(code) : json_null());
}

char *eco_wire_error_body(const char *message, const char *type, const char *param,
                          const char *code) {
  json_t *o = eco_wire_error_json(message, type, param, code);
  char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(o);
  return s;
}
