/* ecoinfer router: zones and their intensities (see gw_internal.h). */
#include "router/gw_internal.h"

#include "dashboard/dash_feed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

zone_state *gw_zone_get(gw *g, const char *zone) {
  for (size_t i = 0; i < g->n_zones; i++)
    if (strcasecmp(g->zones[i].zone, zone) == 0) return &g->zones[i];
  if (g->n_zones >= ZONES_MAX) return NULL;
  zone_state *z = &g->zones[g->n_zones++];
  memset(z, 0, sizeof *z);
  snprintf(z->zone, sizeof z->zone, "%s", zone);
  z->gco2_kwh = -1;
  return z;
}

void gw_zone_refresh_one(gw *g, zone_state *z) {
  if (z->override) return;
  eco_intensity v;
  eco_error e = {0};
  double now = eco_time_wall_s();
  if (g->prov && eco_intensity_get(g->prov, z->zone, now, &v, &e) == 0) {
    z->gco2_kwh = v.gco2_kwh;
    snprintf(z->source, sizeof z->source, "%s", v.source);
    z->estimated = v.estimated;
    return;
  }
  /* fallback: a node-reported value, else the static table */
  for (size_t i = 0; i < g->n_nodes; i++) {
    node *n = g->nodes[i];
    if (n->rep_intensity >= 0 && strcasecmp(n->cfg.zone, z->zone) == 0) {
      z->gco2_kwh = n->rep_intensity;
      snprintf(z->source, sizeof z->source, "node:%s", n->cfg.id);
      z->estimated = false;
      return;
    }
  }
  if (g->fallback && eco_intensity_get(g->fallback, z->zone, now, &v, &e) == 0) {
    z->gco2_kwh = v.gco2_kwh;
    snprintf(z->source, sizeof z->source, "%s", v.source);
    z->estimated = true;
  }
}

void gw_zones_refresh(gw *g) {
  for (size_t i = 0; i < g->n_zones; i++)
    gw_zone_refresh_one(g, &g->zones[i]);
  for (size_t i = 0; i < g->n_nodes; i++) {
    zone_state *z = gw_zone_get(g, g->nodes[i]->cfg.zone);
    g->views[i].intensity_gco2_kwh = z && z->gco2_kwh >= 0 ? z->gco2_kwh : 0;
  }
  double now = eco_time_wall_s();
  for (size_t i = 0; g->dash && i < g->n_zones; i++) {
    const zone_state *z = &g->zones[i];
    if (z->gco2_kwh >= 0)
      (void)eco_dash_feed_zone(g->dash, z->override ? NULL : g->prov, z->zone, z->gco2_kwh,
                               z->source, z->estimated, now);
  }
  gw_eval_publish_ci(g);
}

void gw_on_zone_timer(evutil_socket_t fd, short ev, void *arg) {
  (void)fd;
  (void)ev;
  gw_zones_refresh(arg);
}

int gw_intensity_init(gw *g, eco_error *err) {
  eco_static_entry *ents = NULL;
  int rc = 0;
  if (g->cfg.n_zones) {
    ents = calloc(g->cfg.n_zones, sizeof *ents);
    if (!ents) return ECO_ENOMEM;
    for (size_t i = 0; i < g->cfg.n_zones; i++) {
      ents[i].zone = g->cfg.zones[i].zone;
      ents[i].gco2_kwh = g->cfg.zones[i].gco2_kwh;
    }
  }
  rc = eco_intensity_static_new(ents, g->cfg.n_zones, -1, &g->fallback, err);
  free(ents);
  if (rc) return rc;
  if (g->cfg.intensity) { /* the caller's provider (shared accounting schema) */
    g->prov = g->cfg.intensity;
    g->prov_borrowed = true;
    return 0;
  }
  if (g->cfg.trace_path[0]) {
    eco_trace_opts o;
    eco_trace_opts_default(&o);
    o.replay_origin_s = eco_time_wall_s();
    o.speed = g->cfg.trace_speed > 0 ? g->cfg.trace_speed : 1;
    o.loop = true;
    rc = eco_intensity_trace_open(g->cfg.trace_path, &o, &g->prov, err);
    if (rc) {
      ECO_WARN(&g->log, MOD, "carbon trace '%s' unusable (%s): using the static table",
               g->cfg.trace_path, eco_error_text(err));
      g->prov = NULL;
      rc = 0;
    }
  }
  if (!g->prov) {
    /* Static only: the configured zones win, the built-in table covers the rest. */
    g->prov = g->fallback;
    g->fallback = NULL;
    rc = eco_intensity_static_new(NULL, 0, -1, &g->fallback, err);
  }
  return rc;
}
