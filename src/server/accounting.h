/* ecoinfer: how the node server prices a request in energy and carbon.
 *
 * Two small interfaces decouple the server from the meters and intensity
 * providers of the accounting module:
 *   - an energy-attribution callback: the joules of one finished request,
 *     with their source;
 *   - an intensity lookup: the grid intensity of this node's zone now.
 * A receipt sink (the ledger) receives every receipt.
 * Config-driven defaults serve until the real providers plug in:
 *   energy    = backend-reported joules when known, else
 *               CPU time x energy.cpu_watts (labelled "cpu-time-model", estimated)
 *   intensity = carbon.static.<carbon.zone> (else carbon.static.world, else 475),
 *               source "static", estimated
 *   embodied  = device.embodied_kg, device.lifetime_years, device.share, for the
 *               request's wall time divided by its batch size
 *   pue       = carbon.pue (default 1.0)
 */
#ifndef ECO_SERVER_ACCOUNTING_H
#define ECO_SERVER_ACCOUNTING_H

#include "carbon/sci.h"
#include "server/backend.h"
#include "util/config.h"

typedef struct eco_srv_energy {
  double energy_j; /* J attributed to the request (IT energy, before PUE) */
  char source[32]; /* meter name: "rapl", "nvml", "cpu-time-model", ... */
  bool estimated;  /* true unless read from a hardware counter */
} eco_srv_energy;

typedef struct eco_srv_intensity {
  double gco2_kwh; /* grid intensity, gCO2e/kWh */
  char source[64]; /* "static", "trace:...", "electricitymaps" */
  bool estimated;  /* forecast, fallback or static value */
  char zone[32];   /* grid zone id, e.g. "GB" */
} eco_srv_intensity;

/* Energy of one finished request. wall_s: submit to done, s. 0 or ECO_E*. */
typedef int (*eco_srv_energy_fn)(void *user, const eco_backend_stats *st, double wall_s,
                                 eco_srv_energy *out);
/* Intensity at epoch time now_s. 0 or ECO_E*. Called on the event loop: must not block long. */
typedef int (*eco_srv_intensity_fn)(void *user, double now_s, eco_srv_intensity *out);
/* Receives every receipt (the ledger). request_id is the response "id". */
typedef void (*eco_srv_receipt_fn)(void *user, const char *request_id, const char *model,
                                   const eco_receipt *r, const eco_backend_stats *st);

typedef struct eco_srv_accounting {
  eco_srv_energy_fn energy;
  void *energy_user;
  eco_srv_intensity_fn intensity;
  void *intensity_user;
  eco_srv_receipt_fn sink; /* may be NULL */
  void *sink_user;
  eco_embodied embodied;
  double pue; /* >= 1 */
} eco_srv_accounting;

/* State of the config-driven defaults (owned by the caller). */
typedef struct eco_srv_static_acct {
  double cpu_watts; /* W drawn per busy CPU-second, for the CPU-time estimate */
  eco_srv_intensity intensity;
} eco_srv_static_acct;

int eco_srv_energy_default(void *user, const eco_backend_stats *st, double wall_s,
                           eco_srv_energy *out);
int eco_srv_intensity_static(void *user, double now_s, eco_srv_intensity *out);

/* Reads energy.cpu_watts, carbon.zone, carbon.static.*, carbon.pue, device.* from
 * cfg and wires the defaults above into *acct (st must outlive acct). */
int eco_srv_accounting_from_cfg(const eco_cfg *cfg, eco_srv_static_acct *st,
                                eco_srv_accounting *acct, eco_error *err);

/* Prices one finished request into *r (method "sci-v1.0"); also returns the
 * intensity used (zone) in *in if non-NULL. */
int eco_srv_price(const eco_srv_accounting *a, const eco_backend_stats *st, double wall_s,
                  double now_s, eco_receipt *r, eco_srv_intensity *in);

#endif
