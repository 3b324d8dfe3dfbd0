/* bench_directive_assign: the cost of the per-request directive decision
 * ("ours": group look-up + draw) against its peer, Sprout's per-request draw
 * from one probability vector, and of the hourly solves (group LP vs
 * Sprout's 3-variable LP), all in the same run. Synthetic model: 6 tasks,
 * 3 levels, 12,000 training prompts. Usage: bench_directive_assign [N] */
#include "directive/assign.h"
#include "directive/plan.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t lcg(uint64_t *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return *s >> 11;
}
static double unif(uint64_t *s) { return (double)lcg(s) * 0x1.0p-53; }

/* Trains the synthetic model: 6 tasks, 3 levels, 12,000 prompts drawn
 * from *seed. Returns 0 or 1. */
static int train(eco_assign_model *m, uint64_t *seed) {
  const size_t n_train = 12000;
  eco_assign_sample *tr = calloc(n_train, sizeof *tr);
  if (!tr) return 1;
  for (size_t i = 0; i < n_train; i++) {
    tr[i].f.task = (int)(i % 6);
    tr[i].f.prompt_chars = 20 + lcg(seed) % 2000;
    for (int l = 0; l < 3; l++) {
      tr[i].energy_kwh[l] = 4e-4 / (1.0 + 2.0 * l) * (0.5 + unif(seed));
      tr[i].time_s[l] = 6.0 / (1.0 + 2.0 * l) * (0.5 + unif(seed));
    }
    tr[i].preferred = (int)(lcg(seed) % 3);
  }
  int rc = eco_assign_train(m, tr, n_train, 6, 3, 5.0, NULL) ? 1 : 0;
  free(tr);
  return rc;
}

/* Seconds per solve of each hourly solve. */
typedef struct solve_times {
  double group, period, lp; /* ours one hour, ours 24-hour period, Sprout's LP */
} solve_times;

/* The hourly solves: ours (group LP, one hour and a 24-hour period) and
 * Sprout's 3-variable LP; leaves the last hour's plan and Sprout's mix x.
 * Returns 0 or 1. */
static int bench_solves(const eco_assign_model *m, const eco_plan_cfg *pc, eco_assign_plan *plan,
                        double x[3], solve_times *t) {
  const double mix[6] = {1, 1, 1, 1, 1, 1};
  const int reps = 200;
  double t0 = now_s();
  for (int i = 0; i < reps; i++)
    if (eco_assign_solve(m, mix, 100.0 + i, pc, 0, plan, NULL)) return 1;
  t->group = (now_s() - t0) / reps;
  eco_assign_plan *plans = malloc(24 * sizeof *plans);
  double fc[24];
  for (int h = 0; h < 24; h++)
    fc[h] = 100.0 + 10.0 * h;
  if (!plans) return 1;
  const int preps = 10;
  t0 = now_s();
  for (int i = 0; i < preps; i++)
    if (eco_assign_solve_period(m, mix, fc, 24, pc, 0, 0, plans, NULL)) {
      free(plans);
      return 1;
    }
  t->period = (now_s() - t0) / preps;
  free(plans);
  eco_level_stats lv[3];
  memcpy(lv, m->task_lv[0], sizeof lv);
  t0 = now_s();
  for (int i = 0; i < reps; i++)
    if (eco_directive_plan(lv, 3, 100.0 + i, pc, x, NULL)) return 1;
  t->lp = (now_s() - t0) / reps;
  return 0;
}

/* Per request: ours (eco_assign_level) vs Sprout's draw from x, on n
 * features pre-drawn from *seed so that both loops do the same work; prints
 * the line. Returns 0 or 1. */
static int bench_requests(const eco_assign_model *m, const eco_assign_plan *plan, const double x[3],
                          size_t n, uint64_t *seed) {
  eco_request_features *f = malloc(n * sizeof *f);
  double *u = malloc(n * sizeof *u);
  if (!f || !u) {
    free(f);
    free(u);
    return 1;
  }
  for (size_t i = 0; i < n; i++) {
    f[i].task = (int)(lcg(seed) % 6);
    f[i].prompt_chars = 20 + lcg(seed) % 2000;
    u[i] = unif(seed);
  }
  size_t hist[3] = {0}, hist2[3] = {0};
  double t0 = now_s();
  for (size_t i = 0; i < n; i++)
    hist[eco_assign_level(m, plan, &f[i], u[i])]++;
  double t_ours = (now_s() - t0) / (double)n;
  t0 = now_s();
  for (size_t i = 0; i < n; i++) {
    double acc = 0;
    int l = 2;
    for (int k = 0; k < 3; k++) {
      acc += x[k];
      if (u[i] < acc) {
        l = k;
        break;
      }
    }
    hist2[l]++;
  }
  double t_sprout = (now_s() - t0) / (double)n;
  printf("per request: ours %.1f ns, Sprout draw %.1f ns, ratio %.2f (n=%zu; levels %zu/%zu/%zu "
         "vs %zu/%zu/%zu)\n",
         t_ours * 1e9, t_sprout * 1e9, t_ours / (t_sprout > 0 ? t_sprout : 1e-12), n, hist[0],
         hist[1], hist[2], hist2[0], hist2[1], hist2[2]);
  free(f);
  free(u);
  return 0;
}

int main(int argc, char **argv) {
  size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 2000000;
  if (n == 0) n = 1;
  uint64_t seed = 42;
  eco_assign_model *m = malloc(sizeof *m);
  eco_assign_plan *plan = malloc(sizeof *plan);
  eco_plan_cfg pc;
  eco_plan_cfg_default(&pc);
  pc.ci_min = 50, pc.ci_max = 400;
  double x[3];
  solve_times t;
  int rc = 1;
  if (m && plan && train(m, &seed) == 0 && bench_solves(m, &pc, plan, x, &t) == 0 &&
      bench_requests(m, plan, x, n, &seed) == 0) {
    printf("per hour:    ours group LP %.1f us, Sprout LP %.1f us, ratio %.2f\n", t.group * 1e6,
           t.lp * 1e6, t.group / t.lp);
    printf("per hour:    ours 24-hour period LP %.1f us, ratio to Sprout LP %.1f\n", t.period * 1e6,
           t.period / t.lp);
    rc = 0;
  }
  free(m);
  free(plan);
  return rc;
}
