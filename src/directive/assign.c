#include "directive/assign.h"

#include <glpk.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int eco_assign_bucket(const eco_assign_model *m, const eco_request_features *f) {
  if (!m || !f || f->task < 0 || (size_t)f->task >= m->n_tasks) return 0;
  int b = 0;
  while (b < ECO_ASSIGN_BUCKETS - 1 && (double)f->prompt_chars > m->len_edge[f->task][b])
    b++;
  return b;
}

int eco_assign_train(eco_assign_model *m, const eco_assign_sample *s, size_t n, size_t n_tasks,
                     size_t n_levels, double alpha, eco_error *err) {
  if (!m || !s || n == 0 || n_tasks < 1 || n_tasks > ECO_ASSIGN_MAX_TASKS || n_levels < 1 ||
      n_levels > ECO_DIRECTIVE_MAX_LEVELS || !(alpha >= 0))
    return eco_error_set(err, ECO_EINVAL, "assign: bad training arguments");
  for (size_t i = 0; i < n; i++)
    if (s[i].f.task < 0 || (size_t)s[i].f.task >= n_tasks)
      return eco_error_set(err, ECO_EINVAL, "assign: sample %zu has task %d", i, s[i].f.task);
  memset(m, 0, sizeof *m);
  m->n_levels = n_levels;
  m->n_tasks = n_tasks;
  double *len = malloc(n * sizeof *len);
  if (!len) return eco_error_set(err, ECO_ENOMEM, "assign: out of memory");
  /* length bucket edges: quantiles of the task's training prompts */
  for (size_t t = 0; t < n_tasks; t++) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
      if ((size_t)s[i].f.task == t) len[k++] = (double)s[i].f.prompt_chars;
    if (k == 0) {
      for (int b = 0; b < ECO_ASSIGN_BUCKETS - 1; b++)
        m->len_edge[t][b] = INFINITY;
      continue;
    }
    qsort(len, k, sizeof *len, cmp_double);
    for (int b = 0; b < ECO_ASSIGN_BUCKETS - 1; b++)
      m->len_edge[t][b] = len[(k * (size_t)(b + 1)) / ECO_ASSIGN_BUCKETS];
  }
  free(len);
  /* sums per task and per group */
  double tcnt[ECO_ASSIGN_MAX_TASKS] = {0}, tlab[ECO_ASSIGN_MAX_TASKS] = {0};
  double tpref[ECO_ASSIGN_MAX_TASKS][ECO_DIRECTIVE_MAX_LEVELS] = {{0}};
  double glab[ECO_ASSIGN_MAX_TASKS][ECO_ASSIGN_BUCKETS] = {{0}};
  double gcost[ECO_ASSIGN_MAX_TASKS][ECO_ASSIGN_BUCKETS] = {{0}}, tcost[ECO_ASSIGN_MAX_TASKS] = {0};
  double gpref[ECO_ASSIGN_MAX_TASKS][ECO_ASSIGN_BUCKETS][ECO_DIRECTIVE_MAX_LEVELS] = {{{0}}};
  for (size_t i = 0; i < n; i++) {
    int t = s[i].f.task, b = eco_assign_bucket(m, &s[i].f);
    eco_assign_group *g = &m->g[t][b];
    g->n_train++;
    tcnt[t] += 1;
    if (!s[i].no_cost) {
      gcost[t][b] += 1;
      tcost[t] += 1;
      for (size_t l = 0; l < n_levels; l++) {
        g->lv[l].energy_kwh += s[i].energy_kwh[l];
        g->lv[l].time_s += s[i].time_s[l];
        m->task_lv[t][l].energy_kwh += s[i].energy_kwh[l];
        m->task_lv[t][l].time_s += s[i].time_s[l];
      }
    }
    if (s[i].preferred >= 0 && (size_t)s[i].preferred < n_levels) {
      tlab[t] += 1;
      glab[t][b] += 1;
      tpref[t][s[i].preferred] += 1;
      gpref[t][b][s[i].preferred] += 1;
    }
  }
  for (size_t t = 0; t < n_tasks; t++) {
    for (size_t l = 0; l < n_levels; l++) {
      if (tcost[t] > 0) {
        m->task_lv[t][l].energy_kwh /= tcost[t];
        m->task_lv[t][l].time_s /= tcost[t];
      }
      m->task_lv[t][l].pref = tlab[t] > 0 ? tpref[t][l] / tlab[t] : (l == 0 ? 1.0 : 0.0);
    }
    for (int b = 0; b < ECO_ASSIGN_BUCKETS; b++) {
      eco_assign_group *g = &m->g[t][b];
      g->share = tcnt[t] > 0 ? (double)g->n_train / tcnt[t] : 0.0;
      for (size_t l = 0; l < n_levels; l++) {
        if (gcost[t][b] > 0) {
          g->lv[l].energy_kwh /= gcost[t][b];
          g->lv[l].time_s /= gcost[t][b];
        } else {
          g->lv[l] = m->task_lv[t][l];
        }
        double den = glab[t][b] + alpha;
        g->lv[l].pref = den > 0 ? (gpref[t][b][l] + alpha * m->task_lv[t][l].pref) / den
                                : m->task_lv[t][l].pref;
      }
    }
  }
  return 0;
}

/* Coefficients below this magnitude are zero in the LP: GLPK's scaling
 * aborts the process ("invalid scale factor") on subnormal entries. */
#define LP_TINY 1e-12

static double lp_snap(double v) { return fabs(v) < LP_TINY ? 0.0 : v; }

/* The highest-preference plan (for an unreachable floor): per group the
 * level the judge prefers most, the cheaper at ci on ties. Keeps floor and
 * ref_g; sets y, expect_pref, expect_g and degraded. */
static void best_pref_plan(const eco_assign_model *m, const double *task_mix, double wsum,
                           double ci, const eco_plan_cfg *cfg, eco_assign_plan *p) {
  p->expect_pref = p->expect_g = 0;
  for (size_t t = 0; t < m->n_tasks; t++)
    for (int b = 0; b < ECO_ASSIGN_BUCKETS; b++) {
      const eco_assign_group *g = &m->g[t][b];
      size_t best = 0;
      for (size_t l = 1; l < m->n_levels; l++)
        if (g->lv[l].pref > g->lv[best].pref + 1e-6 ||
            (fabs(g->lv[l].pref - g->lv[best].pref) <= 1e-6 &&
             eco_plan_cost_g(cfg, &g->lv[l], ci) < eco_plan_cost_g(cfg, &g->lv[best], ci)))
          best = l; /* preferences within 1e-6 are a tie */
      for (size_t l = 0; l < m->n_levels; l++)
        p->y[t][b][l] = l == best ? 1.0 : 0.0;
      double w = task_mix[t] / wsum * g->share;
      p->expect_pref += w * g->lv[best].pref;
      p->expect_g += w * eco_plan_cost_g(cfg, &g->lv[best], ci);
    }
  p->degraded = true;
}

int eco_assign_solve_period(const eco_assign_model *m, const double *task_mix, const double *ci_fc,
                            size_t n_hours, const eco_plan_cfg *cfg, double margin,
                            double credit_pref, eco_assign_plan *plans, eco_error *err) {
  if (!m || !task_mix || !ci_fc || !cfg || !plans || n_hours < 1 || n_hours > 168 ||
      m->n_tasks < 1 || !(cfg->ci_max > cfg->ci_min) || !isfinite(margin) || !isfinite(credit_pref))
    return eco_error_set(err, ECO_EINVAL, "assign: bad period arguments");
  double wsum = 0;
  for (size_t t = 0; t < m->n_tasks; t++) {
    if (!(task_mix[t] >= 0) || !isfinite(task_mix[t]))
      return eco_error_set(err, ECO_EINVAL, "assign: bad mix weight for task %zu", t);
    wsum += task_mix[t];
  }
  if (wsum <= 0) return eco_error_set(err, ECO_EINVAL, "assign: empty task mix");
  size_t L = m->n_levels, G = m->n_tasks * ECO_ASSIGN_BUCKETS;
  double q0 = 0;
  for (size_t t = 0; t < m->n_tasks; t++)
    for (int b = 0; b < ECO_ASSIGN_BUCKETS; b++)
      q0 += task_mix[t] / wsum * m->g[t][b].share * m->g[t][b].lv[0].pref;
  double floor_sum = 0;
  for (size_t h = 0; h < n_hours; h++) {
    if (!isfinite(ci_fc[h]) || ci_fc[h] < 0)
      return eco_error_set(err, ECO_EINVAL, "assign: bad forecast at hour %zu", h);
    memset(&plans[h], 0, sizeof plans[h]);
    plans[h].n_levels = L;
    plans[h].n_tasks = m->n_tasks;
    plans[h].floor = eco_plan_floor_factor(cfg, ci_fc[h]) * q0 + margin;
    floor_sum += plans[h].floor;
  }
  double need = floor_sum - credit_pref * (double)n_hours;
  size_t maxc = n_hours * G * L;
  int rc = 0;
  int *ia = malloc((2 * maxc + 1) * sizeof *ia), *ja = malloc((2 * maxc + 1) * sizeof *ja);
  double *ar = malloc((2 * maxc + 1) * sizeof *ar);
  size_t *col = malloc((maxc + 1) * sizeof *col);
  glp_prob *lp = glp_create_prob();
  if (!ia || !ja || !ar || !col) {
    rc = eco_error_set(err, ECO_ENOMEM, "assign: out of memory");
    goto fail;
  }
  glp_set_obj_dir(lp, GLP_MIN);
  glp_add_rows(lp, 1);
  glp_set_row_bnds(lp, 1, GLP_LO, need, 0.0);
  int k = 0, ncol = 0;
  for (size_t h = 0; h < n_hours; h++)
    for (size_t t = 0; t < m->n_tasks; t++)
      for (int b = 0; b < ECO_ASSIGN_BUCKETS; b++) {
        const eco_assign_group *g = &m->g[t][b];
        double w = task_mix[t] / wsum * g->share;
        plans[h].y[t][b][0] = 1.0;
        plans[h].ref_g += w * eco_plan_cost_g(cfg, &g->lv[0], ci_fc[h]);
        if (w < LP_TINY) continue; /* no weight in the mix: stays at level 0 */
        int row = glp_add_rows(lp, 1);
        glp_set_row_bnds(lp, row, GLP_FX, 1.0, 1.0);
        for (size_t l = 0; l < L; l++) {
          int c = glp_add_cols(lp, 1);
          ncol = c;
          col[c] = ((h * m->n_tasks + t) * ECO_ASSIGN_BUCKETS + (size_t)b) * L + l;
          glp_set_col_bnds(lp, c, GLP_DB, 0.0, 1.0);
          glp_set_obj_coef(lp, c, lp_snap(w * eco_plan_cost_g(cfg, &g->lv[l], ci_fc[h])));
          double a = lp_snap(w * g->lv[l].pref);
          if (a != 0) ++k, ia[k] = 1, ja[k] = c, ar[k] = a;
          ++k, ia[k] = row, ja[k] = c, ar[k] = 1.0;
        }
      }
  glp_load_matrix(lp, k, ia, ja, ar);
  glp_smcp parm;
  glp_init_smcp(&parm);
  parm.msg_lev = GLP_MSG_OFF;
  parm.presolve = GLP_ON;
  int grc = glp_simplex(lp, &parm);
  int st = glp_get_status(lp);
  if (grc == GLP_ENOPFS || grc == GLP_ENODFS || st == GLP_NOFEAS || st == GLP_INFEAS) {
    for (size_t h = 0; h < n_hours; h++) /* never abort: degrade */
      best_pref_plan(m, task_mix, wsum, ci_fc[h], cfg, &plans[h]);
    goto fail;
  }
  if (grc != 0 || st != GLP_OPT) {
    rc = eco_error_set(err, ECO_EINTERNAL, "assign: GLPK simplex failed (%d, %d)", grc, st);
    goto fail;
  }
  for (int c = 1; c <= ncol; c++) {
    size_t id = col[c], l = id % L, b = (id / L) % ECO_ASSIGN_BUCKETS,
           t = (id / L / ECO_ASSIGN_BUCKETS) % m->n_tasks,
           h = id / L / ECO_ASSIGN_BUCKETS / m->n_tasks;
    double v = glp_get_col_prim(lp, c);
    v = v < 0 ? 0 : v > 1 ? 1 : v;
    plans[h].y[t][b][l] = v;
    double w = task_mix[t] / wsum * m->g[t][b].share;
    plans[h].expect_pref += w * v * m->g[t][b].lv[l].pref;
    plans[h].expect_g += w * v * eco_plan_cost_g(cfg, &m->g[t][b].lv[l], ci_fc[h]);
  }
fail:
  glp_delete_prob(lp);
  free(ia);
  free(ja);
  free(ar);
  free(col);
  return rc;
}

/* One hour is a period of one hour: the same LP. */
int eco_assign_solve(const eco_assign_model *m, const double *task_mix, double ci,
                     const eco_plan_cfg *cfg, double margin, eco_assign_plan *out, eco_error *err) {
  return eco_assign_solve_period(m, task_mix, &ci, 1, cfg, margin, 0, out, err);
}

int eco_assign_level(const eco_assign_model *m, const eco_assign_plan *p,
                     const eco_request_features *f, double u) {
  if (!m || !p || !f || f->task < 0 || (size_t)f->task >= p->n_tasks) return 0;
  const double *y = p->y[f->task][eco_assign_bucket(m, f)];
  double acc = 0;
  for (size_t l = 0; l < p->n_levels; l++) {
    acc += y[l];
    if (u < acc) return (int)l;
  }
  /* rounding: the last level with positive probability */
  for (size_t l = p->n_levels; l-- > 0;)
    if (y[l] > 0) return (int)l;
  return 0;
}

void eco_assign_explain(const eco_assign_model *m, const eco_assign_plan *p,
                        const eco_request_features *f, double ci, const eco_plan_cfg *cfg,
                        char *buf, size_t cap) {
  if (!buf || cap == 0) return;
  if (!m || !p || !f || f->task < 0 || (size_t)f->task >= p->n_tasks) {
    snprintf(buf, cap, "unknown task: level 0");
    return;
  }
  int b = eco_assign_bucket(m, f);
  const eco_assign_group *g = &m->g[f->task][b];
  size_t off = (size_t)snprintf(buf, cap, "task %d, length bucket %d (%zu chars):", f->task, b,
                                f->prompt_chars);
  for (size_t l = 0; l < p->n_levels && off < cap; l++)
    off +=
        (size_t)snprintf(buf + off, cap - off, " L%zu p=%.2f (%.4f g, pref %.2f)", l,
                         p->y[f->task][b][l], eco_plan_cost_g(cfg, &g->lv[l], ci), g->lv[l].pref);
}
