/* ecoinfer accounting: the one receipt builder.
 *
 * Every carbon receipt, wherever it is priced, is built here from the same
 * inputs and with the same arithmetic (src/carbon/sci.h):
 *   the node server     eco_acct_price (pricing.h): metered or CPU-time
 *                       energy, its zone's intensity, its device's
 *                       embodied rate for wall time / batch;
 *   the router          for a foreign backend that sends no receipt: the
 *                       agent's measured energy or the profile's estimate,
 *                       the zone's intensity, the node's embodied rate for
 *                       its upstream time / batch;
 *   the simulator       each request's share of its batch's energy and
 *                       device time (src/sim/cluster.c).
 * Embodied carbon is computed once, by eco_sci_embodied_share_g: the
 * device's embodied rate (TE / EL) times the time it was held times the
 * request's share of it. Pure: no clock, no I/O. */
#ifndef ECO_ACCOUNTING_RECEIPT_H
#define ECO_ACCOUNTING_RECEIPT_H

#include "carbon/sci.h"
#include "util/status.h"

#include <stdbool.h>

/* What one receipt is built from. Strings may be NULL ("" in the receipt;
 * energy_source NULL is "unknown"). */
typedef struct eco_receipt_in {
  double energy_j;              /* IT energy of the request, J (before PUE) */
  const char *energy_source;    /* "rapl", "cpu-time-model", "agent:rapl", "model" */
  bool energy_estimated;        /* false only for a hardware counter's reading */
  const char *energy_rails;     /* what the energy covers ("VDD_GPU_SOC+VDD_CPU_CV"), may be NULL */
  double intensity_gco2_kwh;    /* grid intensity, gCO2e/kWh */
  const char *intensity_source; /* "static", "trace:...", "electricitymaps", "node:ID" */
  bool intensity_estimated;     /* forecast, fallback or static value */
  double embodied_g_per_s;      /* the device's embodied rate TE / EL, gCO2e/s */
  double reserved_s;            /* time the request held the device, s */
  double share;                 /* share of the device it held meanwhile, 0..1 */
  double pue;                   /* facility multiplier, >= 1 */
  const char *method;           /* e.g. "sci-v1.0 average" (NULL: "sci-v1.0") */
  int64_t prompt_cached_tokens; /* prompt tokens served from the prefix cache (>= 0) */
} eco_receipt_in;

/* Builds *out from in. Returns 0, or ECO_EINVAL for negative or
 * non-finite energy or intensity, or pue < 1 (*out is then unchanged). */
int eco_receipt_build(const eco_receipt_in *in, eco_receipt *out);

/* A device's embodied carbon from kgCO2e, years and share (0..1), as the
 * configuration gives them. ECO_EINVAL for negative or non-finite values. */
int eco_embodied_make(double embodied_kg, double lifetime_years, double share, eco_embodied *out);

#endif
