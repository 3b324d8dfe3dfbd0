/* ecoinfer accounting: what ecoinfer adds to the OpenAI wire, in one place.
 *
 * Node servers and the router speak the OpenAI API and extend it in three
 * ways, all defined here:
 *
 * 1. The x-ecoinfer-* HTTP headers (ECO_HDR_*).
 *
 * 2. usage.carbon, the carbon receipt of a response (and of each Batch API
 *    result, and of each dashboard decision). Its keys are the fields of
 *    eco_receipt in the order of ECO_RECEIPT_FIELDS (src/carbon/sci.h):
 *      {"energy_j": J, "energy_source": s, "energy_estimated": b,
 *       "intensity_gco2_kwh": g/kWh, "intensity_source": s,
 *       "intensity_estimated": b, "operational_g": g, "embodied_g": g,
 *       "total_g": g, "pue": x, "method": s}
 *    (a non-finite number is written as null), extended by
 *      "directive_level": n   the node applied generation directive level n;
 *      "router": {...}        the router's decision and measurements
 *                             (eco_route_receipt below).
 *    eco_receipt_to_json and eco_receipt_from_json are the one codec; the
 *    ledger's receipt columns carry the same names (src/carbon/ledger.c).
 *    tests/test_wire.c pins the JSON text.
 *
 * 3. The OpenAI error body {"error": {"message", "type", "param", "code"}},
 *    built by eco_wire_error_json for the node, the router and the Batch
 *    API alike.
 */
#ifndef ECO_ACCOUNTING_WIRE_H
#define ECO_ACCOUNTING_WIRE_H

#include "carbon/sci.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* ---- headers ---------------------------------------------------------------- */

#define ECO_HDR_PREFIX "x-ecoinfer-" /* every header below starts with it */
/* request (client -> router -> node) */
#define ECO_HDR_POLICY          "x-ecoinfer-policy"          /* routing policy for this request */
#define ECO_HDR_SLO_MS          "x-ecoinfer-slo-ms"          /* latency objective, ms */
#define ECO_HDR_DIRECTIVE       "x-ecoinfer-directive"       /* "off": no generation directive */
#define ECO_HDR_DIRECTIVE_LEVEL "x-ecoinfer-directive-level" /* router -> node: level to apply */
/* response, from the node */
#define ECO_HDR_REQUEST_ID       "x-ecoinfer-request-id"
#define ECO_HDR_ENERGY_J         "x-ecoinfer-energy-j"
#define ECO_HDR_ENERGY_SOURCE    "x-ecoinfer-energy-source"
#define ECO_HDR_INTENSITY        "x-ecoinfer-intensity-gco2-kwh"
#define ECO_HDR_INTENSITY_SOURCE "x-ecoinfer-intensity-source"
#define ECO_HDR_CO2_G            "x-ecoinfer-co2-g"
#define ECO_HDR_ZONE             "x-ecoinfer-zone" /* also from the router: the node's zone */
/* response, from the router */
#define ECO_HDR_NODE                 "x-ecoinfer-node"
#define ECO_HDR_PREDICTED_LATENCY_MS "x-ecoinfer-predicted-latency-ms"
#define ECO_HDR_PREDICTED_GCO2       "x-ecoinfer-predicted-gco2"
#define ECO_HDR_ATTEMPTS             "x-ecoinfer-attempts"
/* (the router's response also carries ECO_HDR_POLICY: the policy applied) */

/* ---- usage.carbon -------------------------------------------------------------- */

#define ECO_USAGE_CARBON           "carbon"          /* key under "usage" */
#define ECO_CARBON_DIRECTIVE_LEVEL "directive_level" /* extension: level applied */
#define ECO_CARBON_ROUTER          "router"          /* extension: eco_route_receipt */

/* Bits of eco_receipt_from_json's *present: one per ECO_RECEIPT_FIELDS entry. */
enum {
#define ECO_RF_BIT_(name, kind) ECO_RF_BIT_##name,
  ECO_RECEIPT_FIELDS(ECO_RF_BIT_)
#undef ECO_RF_BIT_
};
#define ECO_RF(name) (1u << ECO_RF_BIT_##name)

/* The receipt as usage.carbon (new reference; NULL on allocation failure
 * or r NULL). */
json_t *eco_receipt_to_json(const eco_receipt *r);

/* Reads usage.carbon into *out: missing or mistyped numbers read as 0,
 * strings as "", and a receipt counts as estimated unless it says false.
 * present (may be NULL) receives ECO_RF(field) for each field that was
 * there with its type. Extensions are ignored. Returns 0, or ECO_EINVAL
 * when carbon is not an object. */
int eco_receipt_from_json(const json_t *carbon, eco_receipt *out, unsigned *present);

/* What a foreign engine reports about one request, from its answer (or
 * the stream chunk that ends it), whatever the engine:
 *   usage.prompt_tokens, usage.completion_tokens          OpenAI, vLLM, llama.cpp, Ollama /v1
 *   usage.prompt_tokens_details.cached_tokens             vLLM (--enable-prompt-tokens-details),
 *                                                         llama.cpp
 *   timings.{prompt_n, prompt_ms, predicted_n, predicted_ms, cache_n}   llama.cpp's server
 *   prompt_eval_count, prompt_eval_duration, eval_count, eval_duration,
 *   load_duration (ns)                                    Ollama's native API
 * Unknown numbers are -1. */
typedef struct eco_engine_usage {
  int64_t prompt_tokens;     /* tokens */
  int64_t completion_tokens; /* tokens */
  int64_t cached_tokens;     /* prompt tokens served from the engine's cache */
  double prefill_s;          /* the engine's own prompt time, s */
  double decode_s;           /* its generation time, s */
  double load_s;             /* model load time before the request (Ollama), s */
} eco_engine_usage;

/* Reads resp (a response object or a stream chunk) into *out, starting
 * from all unknown. Returns the number of fields found. */
int eco_engine_usage_from_json(const json_t *resp, eco_engine_usage *out);

/* usage.carbon.router.directive: how the router chose the directive level
 * (ECO_CARBON_ROUTER_DIRECTIVE):
 *   {"plan": "live"|"lp", "group": "triviaqa/1", "group_p": 0.97,
 *    "planned_level": 2, "level_p": 0.83, "degraded": false, "opted_out": false}
 * group and group_p only for the live plan (the classifier's group and the
 * probability of its class); planned_level is the plan's draw before the
 * route cap and the opt-out (the level sent is directive_level), level_p
 * the plan's probability of that draw for the group (lp: for every request). */
#define ECO_CARBON_ROUTER_DIRECTIVE "directive"
typedef struct eco_route_directive {
  const char *plan;  /* "live" or "lp" */
  const char *group; /* "label/bucket", NULL: none (lp) */
  double group_p;    /* probability of the group's class, 0..1 (< 0: none) */
  int planned_level; /* the plan's level before cap and opt-out */
  double level_p;    /* the plan's probability of planned_level, 0..1 */
  bool degraded;     /* the hour's plan could not reach the quality floor */
  bool opted_out;    /* the client sent x-ecoinfer-directive: off */
} eco_route_directive;

/* usage.carbon.router: what the router decided and measured. */
typedef struct eco_route_receipt {
  const char *policy;       /* policy that chose the node */
  const char *node;         /* node id */
  const char *zone;         /* its grid zone */
  const char *device;       /* its device type */
  int attempts;             /* upstream attempts made */
  const char *failed_nodes; /* ids of nodes that failed the request, comma-separated, "" none */
  struct {
    double latency_s, queue_s; /* s */
    double out_tokens, batch;  /* tokens, sequences */
    double energy_j;           /* J */
    double operational_g, embodied_g, total_g;
  } predicted;
  struct {
    double latency_s;  /* end to end at the router, s */
    double upstream_s; /* from dispatch to the answer's end, s */
    double ttft_s;     /* to the first streamed token, s (-1 none) */
    int64_t prompt_tokens, completion_tokens;
    double total_g;  /* gCO2e from the receipt (< 0: none) */
    double energy_j; /* J from the receipt or the agent (< 0: none) */
  } measured;
  const char *engine_kind;              /* foreign engine's kind ("llama-cpp"), NULL: no "engine" */
  const eco_engine_usage *engine;       /* its own report, as measured.engine (may be NULL) */
  double slo_s;                         /* SLO applied, s (0 = none) */
  bool slo_met;                         /* measured latency within the SLO (or no SLO) */
  bool slo_predicted_met;               /* the prediction met it */
  bool slo_fallback;                    /* slo-carbon: no node was predicted to meet it */
  int directive_level;                  /* generation directive level sent, < 0 none */
  const eco_route_directive *directive; /* how it was chosen, NULL: no "directive" */
} eco_route_receipt;

/* usage.carbon.router (new reference; NULL on allocation failure). */
json_t *eco_route_receipt_to_json(const eco_route_receipt *x);

/* ---- errors ------------------------------------------------------------------- */

/* {"error":{"message":..,"type":..,"param":..,"code":..}} (new reference);
 * param and code NULL or "" are JSON null. The texts may quote a client's
 * bytes: any byte that is not part of a UTF-8 character becomes U+FFFD. */
json_t *eco_wire_error_json(const char *message, const char *type, const char *param,
                            const char *code);
/* The same as compact JSON text (malloc'd; NULL on allocation failure). */
/* What to send when even that fails (a static string). */
#define ECO_WIRE_ERROR_OOM                                                                         \
  "{\"error\":{\"message\":\"out of "                                                              \
  "memory\",\"type\":\"server_error\",\"param\":null,\"code\":null}}"
char *eco_wire_error_body(const char *message, const char *type, const char *param,
                          const char *code);

#endif
