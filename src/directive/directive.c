#include "directive/directive.h"

#include <ctype.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

void eco_directive_cfg_default(eco_directive_cfg *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->n_levels = 3;
  snprintf(cfg->text[1], sizeof cfg->text[1], "%s", "Always answer briefly");
  snprintf(cfg->text[2], sizeof cfg->text[2], "%s", "Always answer very briefly");
  cfg->default_cap = 2;
}

/* directive: as the node (srv_directive.c: level, completion_level), the
 * router (directive_hook.c: enabled, zone, seed, stats, plan, model, live,
 * learn, priors; eval: directive/evalsched.c) and this file read it. */
static const eco_cfg_schema one_value[] = {ECO_CFG_VALUE(NULL)};
static const eco_cfg_schema live_keys[] = {ECO_CFG_VALUE("floor_period"), ECO_CFG_VALUE("margin"),
                                           ECO_CFG_VALUE("mix_half_life")};
static const eco_cfg_schema learn_keys[] = {ECO_CFG_VALUE("db"), ECO_CFG_VALUE("flush"),
                                            ECO_CFG_VALUE("alpha"), ECO_CFG_VALUE("prior_weight"),
                                            ECO_CFG_VALUE("scale_alpha")};
static const eco_cfg_schema prior_keys[] = {ECO_CFG_VALUE("source"),
                                            ECO_CFG_SHAPED("energy_j", ECO_CFG_S_LIST, one_value),
                                            ECO_CFG_SHAPED("out_tokens", ECO_CFG_S_LIST, one_value),
                                            ECO_CFG_SHAPED("time_s", ECO_CFG_S_LIST, one_value)};
static const eco_cfg_schema judge_keys[] = {
    ECO_CFG_VALUE("url"),         ECO_CFG_VALUE("model"),        ECO_CFG_VALUE("api_key"),
    ECO_CFG_VALUE("api_key_env"), ECO_CFG_VALUE("api_key_file"), ECO_CFG_VALUE("timeout"),
    ECO_CFG_VALUE("max_tokens"),  ECO_CFG_VALUE("zone")};
static const eco_cfg_schema eval_keys[] = {ECO_CFG_VALUE("sample"),
                                           ECO_CFG_VALUE("seed"),
                                           ECO_CFG_SHAPED("judge", ECO_CFG_S_MAP, judge_keys),
                                           ECO_CFG_VALUE("db"),
                                           ECO_CFG_VALUE("train_out"),
                                           ECO_CFG_VALUE("model_out"),
                                           ECO_CFG_VALUE("refit_every"),
                                           ECO_CFG_VALUE("refit_interval"),
                                           ECO_CFG_VALUE("prior_weight"),
                                           ECO_CFG_VALUE("max_pending"),
                                           ECO_CFG_VALUE("window"),
                                           ECO_CFG_VALUE("retries"),
                                           ECO_CFG_VALUE("retry"),
                                           ECO_CFG_VALUE("poll")};
static const eco_cfg_schema stat_keys[] = {ECO_CFG_VALUE("energy_kwh"), ECO_CFG_VALUE("time_s"),
                                           ECO_CFG_VALUE("pref")};
static const eco_cfg_schema stat_item[] = {ECO_CFG_SHAPED(NULL, ECO_CFG_S_MAP, stat_keys)};
static const eco_cfg_schema directive_keys[] = {
    ECO_CFG_VALUE("enabled"),
    ECO_CFG_SHAPED("levels", ECO_CFG_S_LIST, one_value),
    ECO_CFG_VALUE("default_cap"),
    ECO_CFG_SHAPED("routes", ECO_CFG_S_DICT, one_value),
    ECO_CFG_VALUE("xi"),
    ECO_CFG_VALUE("ci_min"),
    ECO_CFG_VALUE("ci_max"),
    ECO_CFG_VALUE("embodied_g"),
    ECO_CFG_VALUE("life_years"),
    ECO_CFG_VALUE("period"),
    ECO_CFG_VALUE("threshold"),
    ECO_CFG_VALUE("zone"),
    ECO_CFG_VALUE("seed"),
    ECO_CFG_SHAPED("stats", ECO_CFG_S_LIST, stat_item),
    ECO_CFG_VALUE("level"),
    ECO_CFG_VALUE("completion_level"),
    ECO_CFG_VALUE("plan"),
    ECO_CFG_VALUE("model"),
    ECO_CFG_SHAPED("live", ECO_CFG_S_MAP, live_keys),
    ECO_CFG_SHAPED("learn", ECO_CFG_S_MAP, learn_keys),
    ECO_CFG_SHAPED("priors", ECO_CFG_S_MAP, prior_keys),
    ECO_CFG_SHAPED("eval", ECO_CFG_S_MAP, eval_keys),
};
static const eco_cfg_schema sections[] = {
    ECO_CFG_SHAPED("directive", ECO_CFG_S_MAP, directive_keys)};

const eco_cfg_schema *eco_directive_cfg_sections(size_t *n) {
  *n = sizeof sections / sizeof sections[0];
  return sections;
}

int eco_directive_cfg_load(const eco_cfg *cfg, eco_directive_cfg *out, eco_error *err) {
  eco_directive_cfg_default(out);
  if (!cfg) return 0;
  if (eco_cfg_check_schema(cfg, eco_cfg_find(cfg, NULL, "directive"), &sections[0], err))
    return ECO_ECONFIG;
  char where[256];
  const eco_cfg_node *lv = eco_cfg_find(cfg, NULL, "directive.levels");
  if (lv) {
    if (lv->kind != ECO_CFG_SEQ || lv->n_items < 1 || lv->n_items > ECO_DIRECTIVE_MAX_LEVELS) {
      eco_cfg_where(cfg, lv, where, sizeof where);
      return eco_error_set(err, ECO_ECONFIG,
                           "%s: directive.levels: expected a list of 1..%d strings", where,
                           ECO_DIRECTIVE_MAX_LEVELS);
    }
    out->n_levels = lv->n_items;
    for (size_t i = 0; i < lv->n_items; i++) {
      const eco_cfg_node *it = lv->items[i];
      eco_cfg_where(cfg, it, where, sizeof where);
      if (it->kind != ECO_CFG_SCALAR || !it->value || strlen(it->value) >= ECO_DIRECTIVE_TEXT_MAX)
        return eco_error_set(err, ECO_ECONFIG, "%s: directive.levels.%zu: expected a string", where,
                             i);
      if (i == 0 && it->value[0])
        return eco_error_set(err, ECO_ECONFIG,
                             "%s: directive.levels.0 must be \"\" (level 0 = no directive)", where);
      snprintf(out->text[i], sizeof out->text[i], "%s", it->value);
    }
    for (size_t i = lv->n_items; i < ECO_DIRECTIVE_MAX_LEVELS; i++)
      out->text[i][0] = '\0';
  }
  out->default_cap = (int)out->n_levels - 1;
  int64_t dc = 0;
  int rc = eco_cfg_int(cfg, NULL, "directive.default_cap", out->default_cap, &dc, err);
  if (rc) return rc;
  if (dc < 0 || dc >= (int64_t)out->n_levels)
    return eco_error_set(err, ECO_ECONFIG, "directive.default_cap: %lld not in 0..%zu",
                         (long long)dc, out->n_levels - 1);
  out->default_cap = (int)dc;
  const eco_cfg_node *rt = eco_cfg_find(cfg, NULL, "directive.routes");
  if (rt) {
    eco_cfg_where(cfg, rt, where, sizeof where);
    if (rt->kind != ECO_CFG_MAP || rt->n_items > ECO_DIRECTIVE_MAX_ROUTES)
      return eco_error_set(err, ECO_ECONFIG,
                           "%s: directive.routes: expected a map of at most %d routes", where,
                           ECO_DIRECTIVE_MAX_ROUTES);
    for (size_t i = 0; i < rt->n_items; i++) {
      const eco_cfg_node *it = rt->items[i];
      eco_cfg_where(cfg, it, where, sizeof where);
      char *end = NULL;
      long v = it->kind == ECO_CFG_SCALAR && it->value ? strtol(it->value, &end, 10) : -1;
      if (!it->key || strlen(it->key) >= sizeof out->routes[0].route || !end || *end || v < 0 ||
          v >= (long)out->n_levels)
        return eco_error_set(err, ECO_ECONFIG,
                             "%s: directive.routes: expected route: level in 0..%zu", where,
                             out->n_levels - 1);
      snprintf(out->routes[i].route, sizeof out->routes[i].route, "%s", it->key);
      out->routes[i].max_level = (int)v;
    }
    out->n_routes = rt->n_items;
  }
  return 0;
}

int eco_directive_plan_cfg_load(const eco_cfg *cfg, eco_plan_cfg *plan, eco_replan_cfg *replan,
                                eco_error *err) {
  int rc = 0;
  if (plan) {
    double xi = 0, lo = 0, hi = 0, emb = 0, life = 0;
    if ((rc = eco_cfg_double(cfg, NULL, "directive.xi", plan->xi, &xi, err)) ||
        (rc = eco_cfg_double(cfg, NULL, "directive.ci_min", plan->ci_min, &lo, err)) ||
        (rc = eco_cfg_double(cfg, NULL, "directive.ci_max", plan->ci_max, &hi, err)) ||
        (rc = eco_cfg_double(cfg, NULL, "directive.embodied_g", 26356.568, &emb, err)) ||
        (rc = eco_cfg_double(cfg, NULL, "directive.life_years", 5.0, &life, err)))
      return rc;
    if (xi < 0 || xi > 1)
      return eco_error_set(err, ECO_ECONFIG, "directive.xi: %g not in 0..1", xi);
    if (hi < lo || lo < 0)
      return eco_error_set(err, ECO_ECONFIG, "directive.ci_min/ci_max: bad range [%g, %g]", lo, hi);
    if (emb < 0 || life <= 0)
      return eco_error_set(err, ECO_ECONFIG, "directive.embodied_g/life_years: bad values");
    plan->xi = xi;
    plan->ci_min = lo;
    plan->ci_max = hi;
    plan->embodied_g_per_s = emb / (life * 365.0 * 24.0 * 3600.0);
  }
  if (replan) {
    double period = 0, thr = 0;
    if ((rc = eco_cfg_duration(cfg, NULL, "directive.period", 3600.0, &period, err)) ||
        (rc = eco_cfg_double(cfg, NULL, "directive.threshold", 0.1, &thr, err)))
      return rc;
    if (period <= 0 || thr < 0)
      return eco_error_set(err, ECO_ECONFIG, "directive.period/threshold: bad values");
    replan->period_s = period;
    replan->threshold = thr;
  }
  return 0;
}

int eco_directive_route_cap_for(const eco_directive_cfg *cfg, const char *route) {
  if (route)
    for (size_t i = 0; i < cfg->n_routes; i++)
      if (strcmp(cfg->routes[i].route, route) == 0) return cfg->routes[i].max_level;
  return cfg->default_cap;
}

bool eco_directive_opted_out(const char *v) {
  if (!v) return false;
  while (isspace((unsigned char)*v))
    v++;
  size_t n = strlen(v);
  while (n && isspace((unsigned char)v[n - 1]))
    n--;
  static const char *const offs[] = {"off", "none", "0", "false"};
  for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++)
    if (n == strlen(offs[i]) && strncasecmp(v, offs[i], n) == 0) return true;
  return false;
}

int eco_directive_effective_level(const eco_directive_cfg *cfg, int planned, const char *route,
                                  const char *header_value) {
  if (eco_directive_opted_out(header_value) || planned <= 0) return 0;
  int cap = eco_directive_route_cap_for(cfg, route);
  int lvl = planned < cap ? planned : cap;
  if (lvl >= (int)cfg->n_levels) lvl = (int)cfg->n_levels - 1;
  return lvl < 0 ? 0 : lvl;
}

int eco_directive_apply(const eco_directive_cfg *cfg, int level, json_t *messages, eco_error *err) {
  if (!cfg || !json_is_array(messages))
    return eco_error_set(err, ECO_EINVAL, "directive: messages must be a JSON array");
  if (level < 0 || (size_t)level >= cfg->n_levels)
    return eco_error_set(err, ECO_EINVAL, "directive: level %d not in 0..%zu", level,
                         cfg->n_levels - 1);
  size_t n = json_array_size(messages);
  for (size_t i = 0; i < n; i++)
    if (!json_is_object(json_array_get(messages, i)))
      return eco_error_set(err, ECO_EINVAL, "directive: message %zu is not an object", i);
  const char *text = cfg->text[level];
  if (level == 0 || !text[0]) return 0;
  json_t *first = n ? json_array_get(messages, 0) : NULL;
  const char *role = first ? json_string_value(json_object_get(first, "role")) : NULL;
  json_t *content = first ? json_object_get(first, "content") : NULL;
  if (role && strcmp(role, "system") == 0 && json_is_string(content)) {
    const char *old = json_string_value(content);
    size_t len = strlen(text) + 2 + strlen(old) + 1;
    char *merged = malloc(len);
    if (!merged) return eco_error_set(err, ECO_ENOMEM, "directive: out of memory");
    if (old[0])
      snprintf(merged, len, "%s\n\n%s", text, old);
    else
      snprintf(merged, len, "%s", text);
    int rc = json_object_set_new(first, "content", json_string(merged));
    free(merged);
    return rc ? eco_error_set(err, ECO_ENOMEM, "directive: out of memory") : 0;
  }
  json_t *sys = json_pack("{s:s, s:s}", "role", "system", "content", text);
  if (!sys || json_array_insert_new(messages, 0, sys))
    return eco_error_set(err, ECO_ENOMEM, "directive: out of memory");
  return 0;
}
