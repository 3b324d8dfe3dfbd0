/* ecoinfer router: generation directives from the Sprout optimizer (see
 * directive_hook.h). */
#include "router/directive_hook.h"

#include <glpk.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Level statistics from the Sprout artifact (../shared/data/sprout):
 * energy and time are the means over all requests of the six datasets in
 * request_carbon/ (the 13b-chat files: none, brief, brief+), preference the
 * share of each level in quality_summary_2000.json (12012 judged prompts). */
static const eco_level_stats sprout_stats[3] = {
    {.energy_kwh = 3.3577e-4, .time_s = 4.8613, .pref = 0.3805},
    {.energy_kwh = 7.7784e-5, .time_s = 1.1277, .pref = 0.3432},
    {.energy_kwh = 5.1894e-5, .time_s = 0.7527, .pref = 0.2763},
};

void eco_rdir_cfg_default(eco_rdir_cfg *c) {
  memset(c, 0, sizeof *c);
  eco_directive_cfg_default(&c->dcfg);
  for (size_t i = 0; i < 3; i++)
    c->stats[i] = sprout_stats[i];
  eco_plan_cfg_default(&c->plan);
  c->plan.ci_min = 100;
  c->plan.ci_max = 600;
  c->replan.period_s = 3600;
  c->replan.threshold = 0.1;
  c->seed = 1;
}

static int load_stats(const eco_cfg *cfg, eco_rdir_cfg *out, eco_error *err) {
  const eco_cfg_node *st = eco_cfg_find(cfg, NULL, "directive.stats");
  char where[256];
  if (!st) {
    if (out->dcfg.n_levels > 3)
      return eco_error_set(err, ECO_ECONFIG,
                           "directive.stats: required with more than 3 levels (the built-in "
                           "Sprout statistics cover 3)");
    return 0;
  }
  eco_cfg_where(cfg, st, where, sizeof where);
  if (st->kind != ECO_CFG_SEQ || st->n_items != out->dcfg.n_levels)
    return eco_error_set(err, ECO_ECONFIG,
                         "%s: directive.stats: expected a list of %zu entries (one per level)",
                         where, out->dcfg.n_levels);
  static const char *const keys[] = {"energy_kwh", "time_s", "pref"};
  for (size_t i = 0; i < st->n_items; i++) {
    const eco_cfg_node *it = st->items[i];
    eco_level_stats *s = &out->stats[i];
    int rc;
    if ((rc = eco_cfg_check_keys(cfg, it, keys, 3, err)) ||
        (rc = eco_cfg_double(cfg, it, "energy_kwh", -1, &s->energy_kwh, err)) ||
        (rc = eco_cfg_double(cfg, it, "time_s", 0, &s->time_s, err)) ||
        (rc = eco_cfg_double(cfg, it, "pref", -1, &s->pref, err)))
      return rc;
    eco_cfg_where(cfg, it, where, sizeof where);
    if (it->kind != ECO_CFG_MAP || !(s->energy_kwh >= 0) || !(s->time_s >= 0) ||
        !(s->pref >= 0 && s->pref <= 1))
      return eco_error_set(err, ECO_ECONFIG,
                           "%s: directive.stats.%zu: needs energy_kwh >= 0, time_s >= 0 and "
                           "pref in 0..1",
                           where, i);
  }
  return 0;
}

int eco_rdir_cfg_load(const eco_cfg *cfg, eco_rdir_cfg *out, eco_error *err) {
  eco_rdir_cfg_default(out);
  if (!cfg || !eco_cfg_find(cfg, NULL, "directive")) return 0;
  int rc;
  const char *zone;
  int64_t seed;
  if ((rc = eco_cfg_bool(cfg, NULL, "directive.enabled", true, &out->enabled, err)) ||
      (rc = eco_directive_cfg_load(cfg, &out->dcfg, err)) ||
      (rc = eco_directive_plan_cfg_load(cfg, &out->plan, &out->replan, err)) ||
      (rc = eco_cfg_str(cfg, NULL, "directive.zone", "", &zone, err)) ||
      (rc = eco_cfg_int(cfg, NULL, "directive.seed", 1, &seed, err)) ||
      (rc = load_stats(cfg, out, err)))
    return rc;
  if (!(out->plan.ci_max > out->plan.ci_min))
    return eco_error_set(err, ECO_ECONFIG, "directive.ci_max must be above directive.ci_min");
  if (strlen(zone) >= sizeof out->zone)
    return eco_error_set(err, ECO_ECONFIG, "directive.zone: too long");
  snprintf(out->zone, sizeof out->zone, "%s", zone);
  out->seed = (uint64_t)seed;
  return 0;
}

void eco_rdir_init(eco_rdir *d, const eco_rdir_cfg *c) {
  memset(d, 0, sizeof *d);
  d->cfg = *c;
  d->x[0] = 1;
  d->rng = c->seed ? c->seed : 0x9E3779B97F4A7C15ull;
}

int eco_rdir_update(eco_rdir *d, double now_s, double ci, eco_error *err) {
  if (!isfinite(ci) || ci < 0) return 0;
  if (!eco_directive_replan_due(&d->cfg.replan, !d->planned, d->last_t_s, d->last_ci, now_s, ci))
    return 0;
  size_t n = d->cfg.dcfg.n_levels;
  double x[ECO_DIRECTIVE_MAX_LEVELS] = {0};
  int rc = eco_directive_plan(d->cfg.stats, n, ci, &d->cfg.plan, x, err);
  d->planned = true;
  d->last_t_s = now_s;
  d->last_ci = ci;
  d->solves++;
  if (rc) {
    d->solve_errors++;
    memset(d->x, 0, sizeof d->x);
    d->x[0] = 1;
    return rc;
  }
  memcpy(d->x, x, sizeof x);
  return 0;
}

void eco_rdir_thread_done(void) { (void)glp_free_env(); }

/* xorshift64* -> uniform in [0, 1). */
static double uniform(uint64_t *s) {
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return (double)((x * 0x2545F4914F6CDD1Dull) >> 11) * 0x1.0p-53;
}

int eco_rdir_draw(eco_rdir *d, const char *route, const char *optout_hdr) {
  double u = uniform(&d->rng);
  size_t n = d->cfg.dcfg.n_levels;
  int planned = 0;
  double acc = 0;
  for (size_t l = 0; l < n; l++) {
    acc += d->x[l];
    if (d->x[l] > 0 && u < acc) {
      planned = (int)l;
      break;
    }
    if (l == n - 1 && d->x[l] > 0) planned = (int)l; /* rounding: acc just under 1 */
  }
  return eco_directive_effective_level(&d->cfg.dcfg, planned, route, optout_hdr);
}

int eco_rdir_rewrite_body(const eco_rdir_cfg *c, int level, const json_t *body, char **out,
                          size_t *out_len, eco_error *err) {
  *out = NULL;
  *out_len = 0;
  if (level <= 0 || !json_is_object(body)) return 0;
  if (level >= (int)c->dcfg.n_levels)
    return eco_error_set(err, ECO_EINVAL, "directive: level %d out of range", level);
  json_t *copy = json_deep_copy(body);
  if (!copy) return eco_error_set(err, ECO_ENOMEM, "out of memory");
  int rc = 0;
  json_t *msgs = json_object_get(copy, "messages");
  json_t *prompt = json_object_get(copy, "prompt");
  if (json_is_array(msgs)) {
    if ((rc = eco_directive_apply(&c->dcfg, level, msgs, err))) goto done;
  } else if (json_is_string(prompt) && c->dcfg.text[level][0]) {
    size_t a = strlen(c->dcfg.text[level]), b = json_string_length(prompt);
    char *p = malloc(a + 2 + b + 1);
    if (!p) {
      rc = eco_error_set(err, ECO_ENOMEM, "out of memory");
      goto done;
    }
    memcpy(p, c->dcfg.text[level], a);
    memcpy(p + a, "\n\n", 2);
    memcpy(p + a + 2, json_string_value(prompt), b + 1);
    json_object_set_new(copy, "prompt", json_stringn(p, a + 2 + b));
    free(p);
  } else {
    goto done; /* nothing to apply it to */
  }
  *out = json_dumps(copy, JSON_COMPACT);
  if (!*out) {
    rc = eco_error_set(err, ECO_ENOMEM, "out of memory");
    goto done;
  }
  *out_len = strlen(*out);
done:
  json_decref(copy);
  return rc;
}
