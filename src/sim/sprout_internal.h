/* ecoinfer sim sprout: what sprout.c (the artifact's protocol) and
 * sprout_kfold.c (the k-fold policies: ours, ours-live, prompt-oracle)
 * share. Internal to src/sim. */
#ifndef ECO_SIM_SPROUT_INTERNAL_H
#define ECO_SIM_SPROUT_INTERNAL_H

#include "directive/plan.h"
#include "sim/sprout.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* --- a small seeded RNG (xoshiro256**, seeded by splitmix64) -------------- */
typedef struct eco_sprout_rng {
  uint64_t s[4];
} eco_sprout_rng;

static inline uint64_t eco_sprout_splitmix(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
static inline void eco_sprout_rng_seed(eco_sprout_rng *r, uint64_t seed) {
  for (int i = 0; i < 4; i++)
    r->s[i] = eco_sprout_splitmix(&seed);
}
static inline uint64_t eco_sprout_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static inline uint64_t eco_sprout_rng_next(eco_sprout_rng *r) {
  uint64_t *s = r->s, res = eco_sprout_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3], s[2] ^= t,
      s[3] = eco_sprout_rotl(s[3], 45);
  return res;
}
static inline double eco_sprout_rng_unif(eco_sprout_rng *r) {
  return (double)(eco_sprout_rng_next(r) >> 11) * 0x1.0p-53;
}
static inline size_t eco_sprout_rng_below(eco_sprout_rng *r, size_t n) {
  return n ? (size_t)(eco_sprout_rng_unif(r) * (double)n) : 0;
}

/* --- the shared per-run context -------------------------------------------- */
typedef struct eco_sprout_sim {
  const eco_sprout_data *d;
  const eco_sprout_cfg *cfg;
  eco_plan_cfg pc;
  const double *ci; /* window: ci[0] = start_hour of the year; valid from
                     * -start_hour to n_after - 1 */
  size_t n_after;   /* hours of the year from the window's start on */
  size_t H;
  double (*comp)[ECO_SPROUT_NDS]; /* [H] dataset mix */
  double mE[ECO_SPROUT_NDS][ECO_SPROUT_NLV], mT[ECO_SPROUT_NDS][ECO_SPROUT_NLV];
  size_t *scratch;     /* sampling without replacement */
  double ci_year_mean; /* gCO2/kWh, static policy */
} eco_sprout_sim;

/* One sampled request: dataset, index into the measurements, label index
 * (into lab_idx/lab_level), preferred level. */
typedef struct eco_sprout_req {
  int k;
  size_t i;
  size_t j;
  int label;
} eco_sprout_req;

/* Dataset counts of n draws from the mix. */
void eco_sprout_draw_counts(eco_sprout_rng *r, const double *comp, size_t n, size_t *cnt);
/* Mean energy and time of each level over the mix; preference q (or 0). */
void eco_sprout_mix_stats(const eco_sprout_sim *s, const double *comp, const double *q,
                          eco_level_stats *lv);
/* g of prompt i of dataset k at level l and intensity ci. */
double eco_sprout_prompt_g(const eco_sprout_sim *s, int k, size_t i, int l, double ci);
/* Sprout's LP that never aborts: an unreachable floor (numerically) gives
 * the level with the highest preference and *degraded = true. */
int eco_sprout_lp(const eco_sprout_sim *s, const eco_level_stats *lv, double ci, double *x,
                  bool *degraded, eco_error *err);
/* The k-fold policies (ours, ours-live, prompt-oracle): fills res. */
int eco_sprout_run_kfold(eco_sprout_sim *s, eco_sprout_result *res, eco_error *err);

#endif
