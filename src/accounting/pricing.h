/* ecoinfer accounting: how a node prices a request in energy and carbon.
 *
 * Two small interfaces decouple the server from the meters and intensity
 * providers (set up by src/accounting/setup.h):
 *   - an energy-attribution callback: the joules of one finished request,
 *     with their source;
 *   - an intensity lookup: the grid intensity of this node's zone now.
 * A receipt sink (the ledger) receives every receipt with its context.
 *
 * eco_acct_open() wires them from the configuration:
 *   energy    = backend-reported joules when known; else, with
 *               energy.attribution: meter (default), the first device's meter
 *               (RAPL/hwmon/INA3221/NVML, else the utilisation model) polled by
 *               the server at each request start and finish and every
 *               energy.attribution_interval (0.25 s) while requests run, split
 *               among the in-flight requests by src/energy/tracker.h
 *               (the rule of src/energy/attribute.c);
 *               else (energy.attribution: cpu-time, or no meter) CPU time x
 *               energy.cpu_watts (default 15 W), "cpu-time-model", estimated
 *   intensity = the carbon.provider chain of the accounting module
 *               (eco_carbon_provider_from_config: static table, trace, live
 *               providers with cache and fallback) for carbon.zone
 *   embodied  = the first configured device (device: / devices:), for the
 *               request's wall time divided by its batch size
 *   pue       = carbon.pue
 *   sink      = the SQLite ledger at ledger.path, when set
 */
#ifndef ECO_ACCOUNTING_PRICING_H
#define ECO_ACCOUNTING_PRICING_H

#include "carbon/sci.h"
#include "energy/attribute.h"
#include "energy/meter.h"
#include "util/config.h"

#include <stdbool.h>
#include <stdint.h>

/* What a finished request used, as its server saw it. */
typedef struct eco_acct_usage {
  int64_t prompt_tokens;  /* tokens in the (templated) prompt */
  int64_t output_tokens;  /* tokens generated */
  int64_t cached_tokens;  /* prompt tokens reused from the prefix cache (not computed) */
  double cpu_s;           /* CPU time attributed to the request, s */
  int batch_size;         /* sequences it shared the device with (<= 0: 1) */
  bool energy_known;      /* energy_j was measured or attributed already */
  double energy_j;        /* J, when energy_known (IT energy, before PUE) */
  char energy_source[32]; /* its source: "rapl", "nvml", "model", ... */
  bool energy_estimated;  /* energy_j is itself a model estimate */
  char energy_rails[96];  /* what the meter covers (its detail), "" if unknown */
} eco_acct_usage;

typedef struct eco_acct_energy {
  double energy_j; /* J attributed to the request (IT energy, before PUE) */
  char source[32]; /* meter name: "rapl", "nvml", "cpu-time-model", ... */
  bool estimated;  /* true unless read from a hardware counter */
  char rails[96];  /* what the energy covers: the meter's detail, "cpu-time" */
} eco_acct_energy;

typedef struct eco_acct_intensity {
  double gco2_kwh; /* grid intensity, gCO2e/kWh */
  char source[64]; /* "static", "trace:...", "electricitymaps" */
  bool estimated;  /* forecast, fallback or static value */
  char zone[32];   /* grid zone id, e.g. "GB" */
  char signal[12]; /* "average" or "marginal" */
} eco_acct_intensity;

/* Energy of one finished request. wall_s: submit to done, s. 0 or ECO_E*. */
typedef int (*eco_acct_energy_fn)(void *user, const eco_acct_usage *u, double wall_s,
                                  eco_acct_energy *out);
/* Intensity at epoch time now_s. 0 or ECO_E*. Called on the event loop: must not block long. */
typedef int (*eco_acct_intensity_fn)(void *user, double now_s, eco_acct_intensity *out);
/* What the sink receives for each finished request. */
typedef struct eco_acct_receipt_ctx {
  const char *request_id; /* the response "id" */
  const char *model;
  const char *zone;
  double time_s;    /* completion time, Unix epoch s */
  double latency_s; /* arrival to completion, s */
  const eco_receipt *receipt;
  const eco_acct_usage *usage;
  int directive_level; /* generation directive level applied, -1 = directives off */
} eco_acct_receipt_ctx;

/* Receives every receipt (the ledger). Runs on the server's loop thread. */
typedef void (*eco_acct_receipt_fn)(void *user, const eco_acct_receipt_ctx *ctx);

typedef struct eco_accounting {
  eco_acct_energy_fn energy;
  void *energy_user;
  eco_acct_intensity_fn intensity;
  void *intensity_user;
  eco_acct_receipt_fn sink; /* may be NULL */
  void *sink_user;
  eco_embodied embodied;
  double pue;             /* >= 1 */
  eco_meter *meter;       /* node meter the server attributes from, or NULL */
  eco_attr_cfg attr;      /* attribution rule for meter energy */
  double attr_interval_s; /* meter poll period while requests run, s */
} eco_accounting;

typedef struct eco_intensity_provider eco_intensity_provider;
typedef struct eco_ledger eco_ledger;

/* State behind the configured accounting (owned; eco_acct_close). */
typedef struct eco_acct_state {
  double cpu_watts;                 /* W per busy CPU-second, for the CPU-time estimate */
  char zone[32];                    /* carbon.zone */
  char node[64];                    /* node name in ledger rows */
  eco_intensity_provider *provider; /* intensity chain */
  eco_ledger *ledger;               /* NULL without ledger.path */
  eco_meter *meter;                 /* NULL with energy.attribution: cpu-time */
  char meter_note[256];             /* why no meter was opened, "" if one was */
  int ledger_errors;                /* appends that failed (logged once) */
} eco_acct_state;

int eco_acct_energy_default(void *user, const eco_acct_usage *u, double wall_s,
                            eco_acct_energy *out);
/* user = eco_acct_state: asks its provider for its zone. */
int eco_acct_intensity_provider(void *user, double now_s, eco_acct_intensity *out);
/* user = eco_acct_state: appends to its ledger. */
void eco_acct_ledger_sink(void *user, const eco_acct_receipt_ctx *ctx);

/* Builds *st and *acct from cfg (see above); node names ledger rows. */
int eco_acct_open(const eco_cfg *cfg, const char *node, eco_acct_state *st, eco_accounting *acct,
                  eco_error *err);
void eco_acct_close(eco_acct_state *st);

/* Prices one finished request into *r (method "sci-v1.0 SIGNAL"); also returns the
 * intensity used (zone) in *in if non-NULL. */
int eco_acct_price(const eco_accounting *a, const eco_acct_usage *u, double wall_s, double now_s,
                   eco_receipt *r, eco_acct_intensity *in);

#endif
