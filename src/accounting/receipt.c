/* ecoinfer accounting: the one receipt builder (see receipt.h). */
#include "accounting/receipt.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int eco_receipt_build(const eco_receipt_in *in, eco_receipt *out) {
  if (!in || !out) return ECO_EINVAL;
  eco_receipt r;
  memset(&r, 0, sizeof r);
  snprintf(r.energy_source, sizeof r.energy_source, "%s",
           in->energy_source ? in->energy_source : "unknown");
  r.energy_estimated = in->energy_estimated;
  if (in->energy_rails) snprintf(r.energy_rails, sizeof r.energy_rails, "%s", in->energy_rails);
  if (in->intensity_source)
    snprintf(r.intensity_source, sizeof r.intensity_source, "%s", in->intensity_source);
  r.intensity_estimated = in->intensity_estimated;
  if (in->method) snprintf(r.method, sizeof r.method, "%s", in->method);
  if (in->prompt_cached_tokens < 0) return ECO_EINVAL;
  r.prompt_cached_tokens = in->prompt_cached_tokens;
  double m = eco_sci_embodied_share_g(in->embodied_g_per_s, in->reserved_s, in->share);
  int rc = eco_sci_compute(in->energy_j, in->intensity_gco2_kwh, m, in->pue, &r);
  if (rc) return rc;
  *out = r;
  return ECO_OK;
}

int eco_embodied_make(double embodied_kg, double lifetime_years, double share, eco_embodied *out) {
  if (!out || !isfinite(embodied_kg) || !isfinite(lifetime_years) || !isfinite(share) ||
      embodied_kg < 0 || lifetime_years < 0 || share < 0 || share > 1)
    return ECO_EINVAL;
  out->total_g = embodied_kg * 1000.0;
  out->lifetime_s = lifetime_years * ECO_SECONDS_PER_YEAR;
  out->share = share;
  return ECO_OK;
}
