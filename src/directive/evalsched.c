/* The live quality loop's configuration and pure decisions (evalsched.h). */
#include "directive/evalsched.h"

#include "util/auth.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void eco_evalsched_cfg_default(eco_evalsched_cfg *c) {
  memset(c, 0, sizeof *c);
  c->sample = 0.02;
  c->seed = 1;
  c->judge_timeout_s = 60;
  c->judge_max_tokens = 64;
  c->refit_every = 50;
  c->refit_interval_s = 3600;
  c->prior_weight = 20;
  c->max_pending = 64;
  snprintf(c->window, sizeof c->window, "24h");
  c->window_s = 86400;
  c->retries = 3;
  c->retry_s = 30;
  c->poll_s = 1;
}

bool eco_evalsched_active(const eco_evalsched_cfg *c) {
  return c && c->configured && c->judge_url[0];
}

static int bad(const eco_cfg *cfg, const char *path, const char *why, eco_error *err) {
  char w[400];
  eco_cfg_origin(cfg, NULL, path, w, sizeof w);
  return eco_error_set(err, ECO_ECONFIG, "%s: %s", w, why);
}

/* directive.eval.judge: url, model, the key (one way), timeout, max_tokens, zone. */
static int load_judge(const eco_cfg *cfg, eco_evalsched_cfg *out, eco_error *err) {
  const char *J = "directive.eval.judge";
  const eco_cfg_node *j = eco_cfg_find(cfg, NULL, J);
  if (!j || j->kind == ECO_CFG_NULL) return 0;
  char lit[256], env[128], file[512];
  int64_t mt;
  int rc;
  if ((rc = eco_cfg_strcpy(cfg, j, "url", "", out->judge_url, sizeof out->judge_url, err)) ||
      (rc = eco_cfg_strcpy(cfg, j, "model", "judge", out->judge_model, sizeof out->judge_model,
                           err)) ||
      (rc = eco_cfg_strcpy(cfg, j, "api_key", "", lit, sizeof lit, err)) ||
      (rc = eco_cfg_strcpy(cfg, j, "api_key_env", "", env, sizeof env, err)) ||
      (rc = eco_cfg_strcpy(cfg, j, "api_key_file", "", file, sizeof file, err)) ||
      (rc =
           eco_cfg_duration(cfg, j, "timeout", out->judge_timeout_s, &out->judge_timeout_s, err)) ||
      (rc = eco_cfg_int_range(cfg, j, "max_tokens", out->judge_max_tokens, 1, 4096, &mt, err)) ||
      (rc = eco_cfg_strcpy(cfg, j, "zone", "", out->judge_zone, sizeof out->judge_zone, err)))
    return rc;
  out->judge_max_tokens = (int)mt;
  if (strncmp(out->judge_url, "http://", 7) != 0 && strncmp(out->judge_url, "https://", 8) != 0)
    return bad(cfg, "directive.eval.judge.url",
               "expected the judge's base URL, http://HOST:PORT or https://...", err);
  size_t ul = strlen(out->judge_url);
  while (ul > 0 && out->judge_url[ul - 1] == '/') /* base URL: no trailing slash */
    out->judge_url[--ul] = '\0';
  if (!(out->judge_timeout_s > 0 && out->judge_timeout_s <= 3600))
    return bad(cfg, "directive.eval.judge.timeout", "expected a duration in (0, 1h]", err);
  eco_error e = {0};
  if (eco_secret_read(lit, env, file, "directive.eval.judge.api_key", out->judge_key,
                      sizeof out->judge_key, &e)) {
    memset(lit, 0, sizeof lit);
    return bad(cfg, J, eco_error_text(&e), err);
  }
  memset(lit, 0, sizeof lit);
  return 0;
}

/* The scalar keys of directive.eval. */
static int load_values(const eco_cfg *cfg, eco_evalsched_cfg *out, eco_error *err) {
  int64_t seed, every, pend, retries;
  double win;
  int rc;
  if ((rc = eco_cfg_double_range(cfg, NULL, "directive.eval.sample", out->sample, 0, 1,
                                 &out->sample, err)) ||
      (rc = eco_cfg_int_range(cfg, NULL, "directive.eval.seed", 1, 1, INT64_MAX, &seed, err)) ||
      (rc = eco_cfg_strcpy(cfg, NULL, "directive.eval.db", "", out->db, sizeof out->db, err)) ||
      (rc = eco_cfg_strcpy(cfg, NULL, "directive.eval.train_out", "", out->train_out,
                           sizeof out->train_out, err)) ||
      (rc = eco_cfg_strcpy(cfg, NULL, "directive.eval.model_out", "", out->model_out,
                           sizeof out->model_out, err)) ||
      (rc = eco_cfg_int_range(cfg, NULL, "directive.eval.refit_every", out->refit_every, 0, 1000000,
                              &every, err)) ||
      (rc = eco_cfg_duration(cfg, NULL, "directive.eval.refit_interval", out->refit_interval_s,
                             &out->refit_interval_s, err)) ||
      (rc = eco_cfg_double_range(cfg, NULL, "directive.eval.prior_weight", out->prior_weight, 0,
                                 1e6, &out->prior_weight, err)) ||
      (rc = eco_cfg_int_range(cfg, NULL, "directive.eval.max_pending", out->max_pending, 1, 100000,
                              &pend, err)) ||
      (rc = eco_cfg_duration(cfg, NULL, "directive.eval.window", out->window_s, &win, err)) ||
      (rc = eco_cfg_int_range(cfg, NULL, "directive.eval.retries", out->retries, 1, 100, &retries,
                              err)) ||
      (rc =
           eco_cfg_duration(cfg, NULL, "directive.eval.retry", out->retry_s, &out->retry_s, err)) ||
      (rc = eco_cfg_duration(cfg, NULL, "directive.eval.poll", out->poll_s, &out->poll_s, err)))
    return rc;
  out->seed = (uint64_t)seed;
  out->refit_every = (uint32_t)every;
  out->max_pending = (uint32_t)pend;
  out->retries = (uint32_t)retries;
  if (!(win >= 60 && win <= 365 * 86400.0))
    return bad(cfg, "directive.eval.window", "expected a duration in 1m..365d", err);
  out->window_s = win;
  snprintf(out->window, sizeof out->window, "%.0fs", round(win));
  if (!(out->refit_interval_s >= 0))
    return bad(cfg, "directive.eval.refit_interval", "expected a duration >= 0", err);
  if (out->refit_every == 0 && out->refit_interval_s == 0)
    return bad(cfg, "directive.eval.refit_every",
               "refit_every and refit_interval are both 0: the verdicts would never be used", err);
  if (!(out->retry_s >= 0.01 && out->retry_s <= 86400))
    return bad(cfg, "directive.eval.retry", "expected a duration in 10ms..1d", err);
  if (!(out->poll_s >= 0.01 && out->poll_s <= 60))
    return bad(cfg, "directive.eval.poll", "expected a duration in 10ms..60s", err);
  return 0;
}

int eco_evalsched_cfg_load(const eco_cfg *cfg, const char *model_path, eco_evalsched_cfg *out,
                           eco_error *err) {
  eco_evalsched_cfg_default(out);
  const eco_cfg_node *ev = cfg ? eco_cfg_find(cfg, NULL, "directive.eval") : NULL;
  if (!ev || ev->kind == ECO_CFG_NULL) return 0;
  out->configured = true;
  int rc;
  if ((rc = load_values(cfg, out, err)) || (rc = load_judge(cfg, out, err))) return rc;
  if (!out->judge_url[0]) return 0; /* no judge: the priors are kept */
  if (!out->db[0])
    return bad(cfg, "directive.eval.judge",
               "directive.eval.db (the verdict store) is required with a judge", err);
  if (model_path && out->model_out[0] && strcmp(out->model_out, model_path) == 0)
    return bad(cfg, "directive.eval.model_out",
               "must differ from directive.model (that file is the prior the verdicts move; "
               "overwriting it would count them twice after a restart)",
               err);
  return 0;
}

eco_evalsched_pick eco_evalsched_sample(const eco_evalsched_cfg *c, const eco_evalsched_req *q,
                                        size_t pending, double u) {
  if (!eco_evalsched_active(c) || !q || !q->chat || !q->decided || q->opted_out || !q->ok)
    return ECO_EVALSCHED_SKIP;
  if (!(u < c->sample)) return ECO_EVALSCHED_SKIP;
  return pending >= c->max_pending ? ECO_EVALSCHED_FULL : ECO_EVALSCHED_SAMPLE;
}

bool eco_evalsched_refit_due(const eco_evalsched_cfg *c, uint64_t new_verdicts, double last_s,
                             double now_s) {
  if (!c || new_verdicts == 0) return false;
  if (c->refit_every > 0 && new_verdicts >= c->refit_every) return true;
  return c->refit_interval_s > 0 && now_s - last_s >= c->refit_interval_s;
}

double eco_evalsched_retry_at(const eco_evalsched_cfg *c, uint32_t attempts, double now_s) {
  if (!c || attempts >= c->retries) return -1;
  double d = c->retry_s * ldexp(1.0, attempts > 0 ? (int)attempts - 1 : 0);
  return now_s + (d < 3600 ? d : 3600);
}

static const eco_evalsched_group *find_group(const eco_evalsched_group *g, size_t n,
                                             const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(g[i].name, name) == 0) return &g[i];
  return NULL;
}

/* pref[l] = (wins[l] + w * prior[l]) / (n + w), over lv[L]. */
static void shrink(eco_level_stats *lv, size_t L, const double *wins, double n, double w) {
  if (!(n + w > 0)) return;
  for (size_t l = 0; l < L; l++)
    lv[l].pref = (wins[l] + w * lv[l].pref) / (n + w);
}

int eco_evalsched_refit(eco_dmodel *m, const eco_evalsched_group *g, size_t n, double prior_weight,
                        size_t *changed, eco_error *err) {
  if (changed) *changed = 0;
  if (!m || (n && !g) || !(prior_weight >= 0) || m->groups.n_levels < 1 ||
      m->groups.n_levels > ECO_DIRECTIVE_MAX_LEVELS || m->cls.n_classes > ECO_ASSIGN_MAX_TASKS)
    return eco_error_set(err, ECO_EINVAL, "quality loop: bad refit arguments");
  size_t L = m->groups.n_levels;
  for (size_t t = 0; t < m->cls.n_classes; t++) {
    double cw[ECO_DIRECTIVE_MAX_LEVELS] = {0}, cn = 0;
    for (int b = 0; b < ECO_ASSIGN_BUCKETS; b++) {
      char name[sizeof g->name];
      eco_dmodel_group_name(m, (int)t, b, name, sizeof name);
      const eco_evalsched_group *v = find_group(g, n, name);
      if (!v || v->n <= 0) continue;
      for (size_t l = 0; l < L; l++) {
        if (!(v->wins[l] >= 0) || !isfinite(v->wins[l]))
          return eco_error_set(err, ECO_EINVAL, "quality loop: bad wins in group %s", name);
        cw[l] += v->wins[l];
      }
      cn += (double)v->n;
      shrink(m->groups.g[t][b].lv, L, v->wins, (double)v->n, prior_weight);
      if (changed) (*changed)++;
    }
    if (cn > 0) shrink(m->groups.task_lv[t], L, cw, cn, prior_weight);
  }
  return 0;
}

bool eco_evalsched_judge_ci(const eco_evalsched_ci *now, bool zone_assumed,
                            const eco_evalsched_ci *sampled, eco_evalsched_ci *out) {
  if (now && now->gco2_kwh >= 0) {
    out->gco2_kwh = now->gco2_kwh;
    snprintf(out->source, sizeof out->source, "%.40s:judge-time%s", now->source,
             zone_assumed ? ":plan-zone" : "");
    out->estimated = now->estimated || zone_assumed;
    return true;
  }
  if (sampled && sampled->gco2_kwh >= 0) {
    out->gco2_kwh = sampled->gco2_kwh;
    snprintf(out->source, sizeof out->source, "%.40s:sampled-answer", sampled->source);
    out->estimated = true;
    return true;
  }
  return false;
}
