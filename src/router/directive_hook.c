/* ecoinfer router: generation directives from the Sprout optimizer (see
 * directive_hook.h). */
#include "router/directive_hook.h"
#include "util/rand.h"

#include <glpk.h>
#include <math.h>
#include <stdio.h>
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
  c->plan_kind = ECO_RDIR_PLAN_LIVE;
  eco_dserve_cfg_default(&c->live);
  c->learn_flush_s = 10;
  eco_evalsched_cfg_default(&c->eval);
}

const char *eco_rdir_plan_name(eco_rdir_plan_kind k) {
  return k == ECO_RDIR_PLAN_LP ? "lp" : "live";
}

/* directive.priors: per level J, tokens, s (and what they measured). */
static int load_priors(const eco_cfg *cfg, eco_rdir_cfg *out, eco_error *err) {
  eco_dlearn_cfg *lc = &out->live.learn;
  lc->n_levels = out->dcfg.n_levels;
  const eco_cfg_node *pr = eco_cfg_find(cfg, NULL, "directive.priors");
  static const char *const keys[ECO_DLEARN_NFIG] = {"energy_j", "out_tokens", "time_s"};
  char where[256];
  for (int f = 0; f < ECO_DLEARN_NFIG; f++) {
    const eco_cfg_node *l = pr ? eco_cfg_find(cfg, pr, keys[f]) : NULL;
    if (!l) {
      if (out->dcfg.n_levels > 3)
        return eco_error_set(err, ECO_ECONFIG,
                             "directive.priors.%s: required with more than 3 levels (the "
                             "built-in Llama-2-13B priors cover 3)",
                             keys[f]);
      continue;
    }
    eco_cfg_where(cfg, l, where, sizeof where);
    if (l->kind != ECO_CFG_SEQ || l->n_items != out->dcfg.n_levels)
      return eco_error_set(err, ECO_ECONFIG,
                           "%s: key 'directive.priors.%s': expected a list of %zu numbers (one "
                           "per level)",
                           where, keys[f], out->dcfg.n_levels);
    for (size_t i = 0; i < l->n_items; i++) {
      char *e = NULL;
      const char *v = l->items[i]->value;
      double x = v ? strtod(v, &e) : NAN;
      if (!v || e == v || *e || !(x > 0) || !isfinite(x)) {
        eco_cfg_where(cfg, l->items[i], where, sizeof where);
        return eco_error_set(err, ECO_ECONFIG,
                             "%s: key 'directive.priors.%s.%zu': expected a number > 0", where,
                             keys[f], i);
      }
      lc->pri.v[f][i] = x;
    }
  }
  if (pr) {
    int rc = eco_cfg_strcpy(cfg, pr, "source", pr ? "configured priors" : NULL, lc->pri.source,
                            sizeof lc->pri.source, err);
    if (rc) return rc;
  }
  return 0;
}

/* directive.plan, model, live, learn (the live plan). */
static int load_live(const eco_cfg *cfg, eco_rdir_cfg *out, eco_error *err) {
  const char *plan;
  int rc;
  if ((rc = eco_cfg_str(cfg, NULL, "directive.plan", "live", &plan, err))) return rc;
  if (strcmp(plan, "live") == 0) {
    out->plan_kind = ECO_RDIR_PLAN_LIVE;
  } else if (strcmp(plan, "lp") == 0) {
    out->plan_kind = ECO_RDIR_PLAN_LP;
  } else {
    char o[256];
    eco_cfg_origin(cfg, NULL, "directive.plan", o, sizeof o);
    return eco_error_set(err, ECO_ECONFIG, "%s: expected live or lp, got '%s'", o, plan);
  }
  double fp_s, hl_s, margin;
  eco_dlive_cfg *lv = &out->live.live;
  eco_dlearn_cfg *lc = &out->live.learn;
  if ((rc = eco_cfg_strcpy(cfg, NULL, "directive.model", "", out->model_path,
                           sizeof out->model_path, err)) ||
      (rc = eco_cfg_duration(cfg, NULL, "directive.live.floor_period", 86400, &fp_s, err)) ||
      (rc = eco_cfg_double_range(cfg, NULL, "directive.live.margin", lv->margin, -1, 1, &margin,
                                 err)) ||
      (rc = eco_cfg_duration(cfg, NULL, "directive.live.mix_half_life", 3600, &hl_s, err)) ||
      (rc = eco_cfg_strcpy(cfg, NULL, "directive.learn.db", "", out->learn_db, sizeof out->learn_db,
                           err)) ||
      (rc = eco_cfg_duration(cfg, NULL, "directive.learn.flush", 10, &out->learn_flush_s, err)) ||
      (rc = eco_cfg_double_range(cfg, NULL, "directive.learn.alpha", lc->alpha, 1e-6, 1, &lc->alpha,
                                 err)) ||
      (rc = eco_cfg_double_range(cfg, NULL, "directive.learn.prior_weight", lc->prior_weight, 0,
                                 1e6, &lc->prior_weight, err)) ||
      (rc = eco_cfg_double_range(cfg, NULL, "directive.learn.scale_alpha", lc->scale_alpha, 1e-6, 1,
                                 &lc->scale_alpha, err)) ||
      (rc = load_priors(cfg, out, err)))
    return rc;
  char o[256];
  double h = fp_s / 3600;
  if (!(h >= 1 && h <= 168) || fabs(h - round(h)) > 1e-9) {
    eco_cfg_origin(cfg, NULL, "directive.live.floor_period", o, sizeof o);
    return eco_error_set(err, ECO_ECONFIG, "%s: expected whole hours, 1h..168h", o);
  }
  if (!(hl_s >= 0) || hl_s > 168 * 3600.0) {
    eco_cfg_origin(cfg, NULL, "directive.live.mix_half_life", o, sizeof o);
    return eco_error_set(err, ECO_ECONFIG, "%s: expected 0..168h", o);
  }
  if (!(out->learn_flush_s >= 0.01)) {
    eco_cfg_origin(cfg, NULL, "directive.learn.flush", o, sizeof o);
    return eco_error_set(err, ECO_ECONFIG, "%s: expected at least 10ms", o);
  }
  lv->period_h = (size_t)round(h);
  lv->margin = margin;
  lv->mix_half_life_h = hl_s / 3600;
  if (out->enabled && out->plan_kind == ECO_RDIR_PLAN_LIVE && !out->model_path[0]) {
    eco_cfg_where(cfg, eco_cfg_find(cfg, NULL, "directive"), o, sizeof o);
    return eco_error_set(err, ECO_ECONFIG,
                         "%s: key 'directive': directive.model: required by directive.plan: live "
                         "(a file from 'ecoinfer directive train'); or set directive.plan: lp",
                         o);
  }
  return 0;
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
      (rc = load_stats(cfg, out, err)) || (rc = load_live(cfg, out, err)) ||
      (rc = eco_evalsched_cfg_load(cfg, out->model_path, &out->eval, err)))
    return rc;
  if (out->enabled && eco_evalsched_active(&out->eval) && out->plan_kind != ECO_RDIR_PLAN_LIVE)
    return eco_error_set(err, ECO_ECONFIG,
                         "directive.eval.judge: the quality loop refits the live plan's model: "
                         "needs directive.plan: live");
  if (!(out->plan.ci_max > out->plan.ci_min))
    return eco_error_set(err, ECO_ECONFIG, "directive.ci_max must be above directive.ci_min");
  if (strlen(zone) >= sizeof out->zone)
    return eco_error_set(err, ECO_ECONFIG, "directive.zone: too long");
  snprintf(out->zone, sizeof out->zone, "%s", zone);
  out->seed = (uint64_t)seed;
  out->live.plan = out->plan; /* xi, intensity range, embodied: one setting for both plans */
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

int eco_rdir_draw(eco_rdir *d, const char *route, const char *optout_hdr) {
  return eco_directive_effective_level(&d->cfg.dcfg, eco_rdir_draw_plan(d), route, optout_hdr);
}

int eco_rdir_draw_plan(eco_rdir *d) {
  double u = eco_rand_uniform(&d->rng);
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
  return planned;
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
