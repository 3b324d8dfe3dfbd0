/* ecoinfer: energy and carbon pricing of node-server requests. */
#include "server/accounting.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int eco_srv_energy_default(void *user, const eco_backend_stats *st, double wall_s,
                           eco_srv_energy *out) {
  const eco_srv_static_acct *s = user;
  memset(out, 0, sizeof *out);
  if (st->energy_known) {
    out->energy_j = st->energy_j;
    snprintf(out->source, sizeof out->source, "%s",
             st->energy_source[0] ? st->energy_source : "backend");
    out->estimated = st->energy_estimated;
    return 0;
  }
  out->energy_j = st->cpu_s * (s ? s->cpu_watts : 0);
  snprintf(out->source, sizeof out->source, "cpu-time-model");
  out->estimated = true;
  return 0;
}

int eco_srv_intensity_static(void *user, double now_s, eco_srv_intensity *out) {
  const eco_srv_static_acct *s = user;
  if (!s) return ECO_EINVAL;
  *out = s->intensity;
  return 0;
}

int eco_srv_accounting_from_cfg(const eco_cfg *cfg, eco_srv_static_acct *st,
                                eco_srv_accounting *acct, eco_error *err) {
  memset(st, 0, sizeof *st);
  memset(acct, 0, sizeof *acct);
  const char *zone;
  double world, kg, years, share, pue;
  int rc;
  if ((rc = eco_cfg_double(cfg, NULL, "energy.cpu_watts", 15.0, &st->cpu_watts, err)) ||
      (rc = eco_cfg_str(cfg, NULL, "carbon.zone", "world", &zone, err)) ||
      (rc = eco_cfg_double(cfg, NULL, "carbon.static.world", 475.0, &world, err)) ||
      (rc = eco_cfg_double(cfg, NULL, "carbon.pue", 1.0, &pue, err)) ||
      (rc = eco_cfg_double(cfg, NULL, "device.embodied_kg", 0.0, &kg, err)) ||
      (rc = eco_cfg_double(cfg, NULL, "device.lifetime_years", 4.0, &years, err)) ||
      (rc = eco_cfg_double(cfg, NULL, "device.share", 1.0, &share, err)))
    return rc;
  char path[96];
  snprintf(path, sizeof path, "carbon.static.%s", zone);
  double g;
  if ((rc = eco_cfg_double(cfg, NULL, path, world, &g, err))) return rc;
  if (!(g >= 0) || !(pue >= 1) || !(st->cpu_watts >= 0) || !(kg >= 0) || !(years > 0) ||
      !(share >= 0 && share <= 1))
    return eco_error_set(err, ECO_ECONFIG,
                         "carbon/device settings out of range (intensity >= 0, pue >= 1, "
                         "cpu_watts >= 0, embodied_kg >= 0, lifetime_years > 0, 0 <= share <= 1)");
  st->intensity.gco2_kwh = g;
  snprintf(st->intensity.source, sizeof st->intensity.source, "static");
  st->intensity.estimated = true;
  snprintf(st->intensity.zone, sizeof st->intensity.zone, "%s", zone);
  acct->energy = eco_srv_energy_default;
  acct->energy_user = st;
  acct->intensity = eco_srv_intensity_static;
  acct->intensity_user = st;
  acct->embodied.total_g = kg * 1000.0;
  acct->embodied.lifetime_s = years * ECO_SECONDS_PER_YEAR;
  acct->embodied.share = share;
  acct->pue = pue;
  return 0;
}

int eco_srv_price(const eco_srv_accounting *a, const eco_backend_stats *st, double wall_s,
                  double now_s, eco_receipt *r, eco_srv_intensity *in_out) {
  memset(r, 0, sizeof *r);
  eco_srv_energy en;
  eco_srv_intensity in;
  int rc = a->energy(a->energy_user, st, wall_s, &en);
  if (rc) return rc;
  rc = a->intensity(a->intensity_user, now_s, &in);
  if (rc) return rc;
  int batch = st->batch_size > 0 ? st->batch_size : 1;
  double emb = eco_sci_embodied_g(&a->embodied, wall_s > 0 ? wall_s / batch : 0);
  snprintf(r->energy_source, sizeof r->energy_source, "%s", en.source);
  r->energy_estimated = en.estimated;
  snprintf(r->intensity_source, sizeof r->intensity_source, "%s", in.source);
  r->intensity_estimated = in.estimated;
  snprintf(r->method, sizeof r->method, "sci-v1.0");
  rc = eco_sci_compute(en.energy_j, in.gco2_kwh, emb, a->pue < 1 ? 1 : a->pue, r);
  if (rc) return rc;
  if (in_out) *in_out = in;
  return 0;
}
