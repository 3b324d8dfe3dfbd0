#include "dashboard/dash_feed.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define FORECAST_SPAN_S (24.0 * 3600.0)

int eco_dash_feed_zone(eco_dash *d, eco_intensity_provider *prov, const char *zone, double gco2_kwh,
                       const char *source, bool estimated, double now_s) {
  if (!d || !zone || !zone[0]) return ECO_EINVAL;
  eco_dash_zone z;
  memset(&z, 0, sizeof z);
  snprintf(z.zone, sizeof z.zone, "%s", zone);
  z.gco2_kwh = gco2_kwh;
  snprintf(z.source, sizeof z.source, "%s", source ? source : "");
  z.estimated = estimated;
  if (prov) {
    eco_intensity fc[ECO_DASH_FORECAST_MAX];
    size_t n = ECO_DASH_FORECAST_MAX;
    eco_error e = {0};
    if (eco_intensity_forecast(prov, zone, now_s, now_s + FORECAST_SPAN_S, fc, &n, &e) == 0) {
      for (size_t i = 0; i < n && i < ECO_DASH_FORECAST_MAX; i++) {
        if (!isfinite(fc[i].gco2_kwh) || !isfinite(fc[i].time_s)) continue;
        z.forecast_t[z.n_forecast] = fc[i].time_s;
        z.forecast_v[z.n_forecast] = fc[i].gco2_kwh;
        z.n_forecast++;
      }
    }
  }
  return eco_dash_set_zone(d, &z);
}

int eco_dash_feed_node(eco_dash *d, const eco_node_view *v, const eco_dash_node_facts *f) {
  if (!d || !v || !f) return ECO_EINVAL;
  static const char *const hs[] = {"up", "degraded", "down"};
  eco_dash_node n;
  memset(&n, 0, sizeof n);
  snprintf(n.id, sizeof n.id, "%s", v->id);
  snprintf(n.device, sizeof n.device, "%s", v->device);
  snprintf(n.zone, sizeof n.zone, "%s", v->zone);
  snprintf(n.health, sizeof n.health, "%s", (unsigned)v->health <= 2 ? hs[v->health] : "down");
  n.circuit_open = v->circuit_open;
  n.queue = v->queue_depth;
  n.batch = v->active_batch;
  n.tokens_per_s = f->tokens_per_s;
  if (!(n.tokens_per_s > 0) && v->profile.decode_s_per_tok > 0)
    n.tokens_per_s = 1.0 / v->profile.decode_s_per_tok;
  bool measured = f->energy_measured && f->j_per_token > 0;
  n.j_per_token = f->j_per_token > 0 ? f->j_per_token : v->profile.decode_j_per_tok;
  /* the page shows the label next to J/token: "rapl (measured)", "model (estimated)" */
  const char *src = "model";
  if (f->j_per_token > 0 && f->energy_source && f->energy_source[0])
    src = f->energy_source;
  else if (f->j_per_token > 0)
    src = "receipts";
  char lab[32];
  snprintf(lab, sizeof lab, "%.18s (%s)", src, measured ? "measured" : "estimated");
  snprintf(n.energy_source, sizeof n.energy_source, "%s", lab);
  if (f->power_w >= 0) {
    n.power_w = f->power_w;
    snprintf(n.power_source, sizeof n.power_source, "%s",
             f->power_measured ? "measured" : "estimated");
  } else {
    /* Only while generating: tokens/s is the decode rate, so this is the
     * power drawn at that rate. */
    n.power_w = n.tokens_per_s * n.j_per_token;
    snprintf(n.power_source, sizeof n.power_source, "estimated");
  }
  if (!isfinite(n.power_w) || n.power_w < 0) n.power_w = 0;
  return eco_dash_set_node(d, &n);
}

double eco_dash_counterfactual_g(const eco_route_request *rr, const eco_node_view *views,
                                 size_t n) {
  if (!rr || !views || n == 0) return -1;
  eco_policy greedy = {.kind = ECO_POLICY_GREEDY};
  eco_route_prediction p;
  memset(&p, 0, sizeof p);
  if (eco_policy_choose(&greedy, rr, views, n, &p) != 0) return -1;
  return p.total_g;
}
