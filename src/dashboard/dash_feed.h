/* ecoinfer: helpers that turn the router's and node's own facts into
 * dashboard records (src/dashboard/dashboard.h). Pure conversions plus one
 * provider query (forecasts); no clock, no globals. */
#ifndef ECO_DASHBOARD_DASH_FEED_H
#define ECO_DASHBOARD_DASH_FEED_H

#include "carbon/intensity.h"
#include "carbon/sci.h"
#include "dashboard/dashboard.h"
#include "policy/policy.h"

#include <stdbool.h>

/* Pushes zone's current value and, where prov gives one, its forecast over
 * [now_s, now_s + 24 h) (at most ECO_DASH_FORECAST_MAX points). prov may be
 * NULL. Returns eco_dash_set_zone's code. */
int eco_dash_feed_zone(eco_dash *d, eco_intensity_provider *prov, const char *zone, double gco2_kwh,
                       const char *source, bool estimated, double now_s);

/* What the owner knows about one node beyond its view. */
typedef struct eco_dash_node_facts {
  double tokens_per_s;       /* recent generated tokens/s (<= 0: from the profile) */
  double power_w;            /* W (< 0: tokens/s x J/token, estimated) */
  bool power_measured;       /* power_w read from a meter */
  double j_per_token;        /* J per generated token (<= 0: from the profile) */
  bool energy_measured;      /* j_per_token from measured receipts */
  const char *energy_source; /* meter name ("rapl", "agent:rapl", "model"); NULL = "model" */
} eco_dash_node_facts;

/* Pushes one node: device, zone, health, circuit, queue, batch from v; the
 * rest from f, with the profile as fallback (labelled estimated). */
int eco_dash_feed_node(eco_dash *d, const eco_node_view *v, const eco_dash_node_facts *f);

/* The counterfactual of a decision: the prediction (total gCO2e) of the
 * greedy policy, without directives, on the same views and request.
 * Returns -1 when greedy finds no node. */
double eco_dash_counterfactual_g(const eco_route_request *rr, const eco_node_view *views, size_t n);

#endif
