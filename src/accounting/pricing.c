/* ecoinfer accounting: energy and carbon pricing of a node's requests. */
#include "accounting/pricing.h"

#include "accounting/receipt.h"
#include "accounting/setup.h"
#include "carbon/intensity.h"
#include "carbon/ledger.h"
#include "util/timeutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int eco_acct_energy_default(void *user, const eco_acct_usage *u, double wall_s,
                            eco_acct_energy *out) {
  const eco_acct_state *s = user;
  memset(out, 0, sizeof *out);
  if (u->energy_known) {
    out->energy_j = u->energy_j;
    snprintf(out->source, sizeof out->source, "%s",
             u->energy_source[0] ? u->energy_source : "backend");
    out->estimated = u->energy_estimated;
    snprintf(out->rails, sizeof out->rails, "%s", u->energy_rails);
    return 0;
  }
  out->energy_j = u->cpu_s * (s ? s->cpu_watts : 0);
  snprintf(out->source, sizeof out->source, "cpu-time-model");
  snprintf(out->rails, sizeof out->rails, "cpu-time");
  out->estimated = true;
  return 0;
}

int eco_acct_intensity_provider(void *user, double now_s, eco_acct_intensity *out) {
  eco_acct_state *s = user;
  if (!s || !s->provider) return ECO_EINVAL;
  eco_intensity iv;
  eco_error err = {0};
  int rc = eco_intensity_get(s->provider, s->zone, now_s, &iv, &err);
  if (rc) return rc;
  memset(out, 0, sizeof *out);
  out->gco2_kwh = iv.gco2_kwh;
  snprintf(out->source, sizeof out->source, "%s", iv.source);
  out->estimated = iv.estimated;
  snprintf(out->zone, sizeof out->zone, "%s", iv.zone[0] ? iv.zone : s->zone);
  snprintf(out->signal, sizeof out->signal, "%s", eco_signal_name(iv.signal));
  return 0;
}

void eco_acct_ledger_sink(void *user, const eco_acct_receipt_ctx *c) {
  eco_acct_state *s = user;
  if (!s || !s->ledger) return;
  eco_ledger_entry e;
  memset(&e, 0, sizeof e);
  snprintf(e.request_id, sizeof e.request_id, "%s", c->request_id);
  e.time_s = c->time_s;
  snprintf(e.node, sizeof e.node, "%s", s->node);
  snprintf(e.zone, sizeof e.zone, "%s", c->zone ? c->zone : s->zone);
  snprintf(e.model, sizeof e.model, "%s", c->model);
  e.prompt_tokens = c->usage ? c->usage->prompt_tokens : 0;
  e.output_tokens = c->usage ? c->usage->output_tokens : 0;
  e.latency_s = c->latency_s;
  e.directive_level = c->directive_level;
  e.receipt = *c->receipt;
  eco_error err = {0};
  if (eco_ledger_append(s->ledger, &e, &err) != 0 && s->ledger_errors++ == 0)
    fprintf(stderr, "ecoinfer serve: ledger append failed: %s\n", eco_error_text(&err));
}

int eco_acct_open(const eco_cfg *cfg, const char *node, eco_acct_state *st, eco_accounting *acct,
                  eco_error *err) {
  memset(st, 0, sizeof *st);
  memset(acct, 0, sizeof *acct);
  const char *zone;
  double pue;
  eco_device_cfg *devs = NULL;
  size_t n_devs = 0;
  int rc;
  snprintf(st->node, sizeof st->node, "%s", node ? node : "");
  if ((rc = eco_cfg_double(cfg, NULL, "energy.cpu_watts", 15.0, &st->cpu_watts, err)) ||
      (rc = eco_carbon_zone_pue(cfg, &zone, &pue, err)) ||
      (rc = eco_device_cfgs_load(cfg, &devs, &n_devs, err)))
    goto fail;
  if (!(st->cpu_watts >= 0) || !isfinite(st->cpu_watts)) {
    rc = eco_error_set(err, ECO_ECONFIG, "energy.cpu_watts: must be >= 0");
    goto fail;
  }
  snprintf(st->zone, sizeof st->zone, "%s", zone);
  const char *mode, *root;
  double interval;
  if ((rc = eco_cfg_str(cfg, NULL, "energy.attribution", "meter", &mode, err)) ||
      (rc = eco_cfg_str(cfg, NULL, "energy.sysfs_root", "/", &root, err)) ||
      (rc = eco_cfg_duration(cfg, NULL, "energy.attribution_interval", 0.25, &interval, err)))
    goto fail;
  if (strcmp(mode, "meter") != 0 && strcmp(mode, "cpu-time") != 0) {
    rc = eco_error_set(err, ECO_ECONFIG, "energy.attribution: 'meter' or 'cpu-time', not '%s'",
                       mode);
    goto fail;
  }
  acct->attr_interval_s = interval > 0.01 ? interval : 0.01;
  eco_attr_cfg_default(&acct->attr);
  if (n_devs > 0) acct->attr = devs[0].attr;
  acct->attr.pue = pue;
  if (strcmp(mode, "meter") == 0 && n_devs > 0) {
    eco_error merr = {0};
    if (eco_device_meter_open(&devs[0], root, &st->meter, &merr) == 0) {
      acct->meter = st->meter;
    } else {
      snprintf(st->meter_note, sizeof st->meter_note,
               "no meter for device '%s' (%s): using CPU time", devs[0].name,
               eco_error_text(&merr));
    }
  }
  if ((rc = eco_carbon_provider_from_config(cfg, NULL, eco_time_wall_s(), &st->provider, err)))
    goto fail;
  const char *lpath;
  if ((rc = eco_cfg_str(cfg, NULL, "ledger.path", "", &lpath, err))) goto fail;
  if (lpath[0] && (rc = eco_ledger_open_from_config(cfg, false, &st->ledger, err))) goto fail;
  acct->energy = eco_acct_energy_default;
  acct->energy_user = st;
  acct->intensity = eco_acct_intensity_provider;
  acct->intensity_user = st;
  if (st->ledger) {
    acct->sink = eco_acct_ledger_sink;
    acct->sink_user = st;
  }
  if (n_devs > 0) acct->embodied = devs[0].embodied;
  acct->pue = pue;
  free(devs);
  return 0;
fail:
  free(devs);
  eco_acct_close(st);
  return rc;
}

void eco_acct_close(eco_acct_state *st) {
  if (!st) return;
  eco_intensity_free(st->provider);
  st->provider = NULL;
  if (st->ledger) eco_ledger_close(st->ledger);
  st->ledger = NULL;
  if (st->meter) eco_meter_free(st->meter);
  st->meter = NULL;
}

int eco_acct_price(const eco_accounting *a, const eco_acct_usage *u, double wall_s, double now_s,
                   eco_receipt *r, eco_acct_intensity *in_out) {
  memset(r, 0, sizeof *r);
  eco_acct_energy en;
  eco_acct_intensity in;
  memset(&in, 0, sizeof in);
  int rc = a->energy(a->energy_user, u, wall_s, &en);
  if (rc) return rc;
  rc = a->intensity(a->intensity_user, now_s, &in);
  if (rc) return rc;
  int batch = u->batch_size > 0 ? u->batch_size : 1;
  char method[48];
  snprintf(method, sizeof method, "sci-v1.0%s%s", in.signal[0] ? " " : "", in.signal);
  eco_receipt_in ri = {.energy_j = en.energy_j,
                       .energy_source = en.source,
                       .energy_estimated = en.estimated,
                       .energy_rails = en.rails,
                       .intensity_gco2_kwh = in.gco2_kwh,
                       .intensity_source = in.source,
                       .intensity_estimated = in.estimated,
                       .embodied_g_per_s = eco_sci_embodied_rate(&a->embodied),
                       .reserved_s = wall_s > 0 ? wall_s / batch : 0,
                       .share = a->embodied.share,
                       .pue = a->pue < 1 ? 1 : a->pue,
                       .method = method,
                       .prompt_cached_tokens = u->cached_tokens};
  rc = eco_receipt_build(&ri, r);
  if (rc) return rc;
  if (in_out) *in_out = in;
  return 0;
}
