#include "carbon/sci.h"

#include "util/status.h"

#include <math.h>
#include <stdio.h>

double eco_sci_embodied_rate(const eco_embodied *e) {
  if (!e || !(e->lifetime_s > 0) || !(e->total_g > 0)) return 0.0;
  return e->total_g / e->lifetime_s;
}

double eco_sci_embodied_share_g(double g_per_s, double reserved_s, double share) {
  if (!(g_per_s > 0) || !(reserved_s > 0)) return 0.0;
  if (!(share > 0)) return 0.0;
  if (share > 1) share = 1;
  return g_per_s * reserved_s * share;
}

double eco_sci_embodied_g(const eco_embodied *e, double reserved_s) {
  return e ? eco_sci_embodied_share_g(eco_sci_embodied_rate(e), reserved_s, e->share) : 0.0;
}

double eco_sci_operational_g(double energy_j, double intensity_gco2_kwh, double pue) {
  return energy_j / ECO_J_PER_KWH * pue * intensity_gco2_kwh;
}

int eco_sci_compute(double energy_j, double intensity_gco2_kwh, double embodied_g, double pue,
                    eco_receipt *r) {
  if (!r || !isfinite(energy_j) || !isfinite(intensity_gco2_kwh) || !isfinite(embodied_g) ||
      !isfinite(pue) || energy_j < 0 || intensity_gco2_kwh < 0 || embodied_g < 0 || pue < 1.0)
    return ECO_EINVAL;
  r->energy_j = energy_j;
  r->intensity_gco2_kwh = intensity_gco2_kwh;
  r->pue = pue;
  r->operational_g = eco_sci_operational_g(energy_j, intensity_gco2_kwh, pue);
  r->embodied_g = embodied_g;
  r->total_g = r->operational_g + r->embodied_g;
  if (!r->method[0]) snprintf(r->method, sizeof r->method, "sci-v1.0");
  return ECO_OK;
}
