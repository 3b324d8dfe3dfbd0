/* ecoinfer replay: drives the real router and real nodes over HTTP with a
 * held-out fold of the Sprout prompts on a compressed clock over a real
 * trace, and reports the carbon from the nodes' ledgers against the same
 * replay under greedy with no directives (docs/replay.md). */
#include "carbon/intensity.h"
#include "cli/cli.h"
#include "directive/dmodel.h"
#include "directive/dtrain.h"
#include "cli/replay.h"
#include "sim/sprout.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NDS ECO_SPROUT_NDS
#define NLV ECO_SPROUT_NLV

static const eco_opt opts[] = {
    {"data", 0, "DIR", NULL, "the Sprout artifact data (default ../shared/data/sprout)"},
    {"region", 0, "ZONE", NULL, "GB (default), US-CAL or US-TEX: the trace and its zone"},
    {"trace", 0, "FILE", NULL, "Electricity Maps hourly CSV (default: the region's in DIR)"},
    {"policy", 0, "P", NULL,
     "the router's directive plan: ours-live (default; plan live with a directive model "
     "trained without the held-out fold) or lp (Sprout's LP)"},
    {"route-policy", 0, "P", NULL, "routing policy of the policy arm (default greedy)"},
    {"fold", 0, "K", NULL, "the held-out fold of sim sprout's k-fold split (default 0)"},
    {"folds", 0, "K", NULL, "k of the k-fold split (default 5)"},
    {"sample-seed", 0, "N", NULL, "sim sprout's --sample-seed: the split and samples (0)"},
    {"seed", 0, "N", NULL, "sim sprout's --seed: the request mix (0)"},
    {"start-hour", 0, "N", NULL, "first hour of the trace year (default 800)"},
    {"hours", 0, "N", NULL, "trace hours replayed (default 720)"},
    {"per-hour", 0, "N", NULL, "requests per trace hour (default 20)"},
    {"hour-s", 0, "S", NULL, "wall seconds per trace hour (default 0.25)"},
    {"nodes", 0, "N", NULL, "replay nodes per arm (default 2)"},
    {"clients", 0, "N", NULL, "client threads per arm sending an hour's requests (default 4)"},
    {"warmup", 0, "S", NULL, "wall seconds the processes get to start (default 15)"},
    {"time-scale", 0, "X", NULL, "nodes: wall s per recorded s of service (default 0)"},
    {"xi", 0, "X", NULL, "quality tolerance (default 0.1)"},
    {"inner-folds", 0, "K", NULL,
     "ours-live: cross-fitting folds of the group statistics, in the model and the sim (5)"},
    {"work", 0, "DIR", NULL, "configs, logs and ledgers (default a new /tmp/ecoinfer-replay-*)"},
    {"summary", 0, "FILE", NULL, "write the summary (JSON) to FILE"},
};

static const eco_cmd_spec spec = {
    .name = "replay",
    .usage = "[--data DIR] [--region GB] [--fold K] [--hours N] [--per-hour N] [options]",
    .summary = "Replay held-out Sprout prompts through a real router and real nodes.",
    .details = "Starts two arms of real processes of this binary: `serve --replay` nodes (the\n"
               "artifact's recorded answers, energy and time) behind a `route` with directives\n"
               "(the policy arm), and the same behind a greedy router without directives (the\n"
               "baseline). Every process reads the trace on one compressed clock (--hour-s wall\n"
               "seconds per trace hour). Each trace hour, --per-hour prompts drawn from the\n"
               "held-out fold (the same split as `sim sprout`'s k-fold) with that hour's dataset\n"
               "mix are sent to both arms. The carbon comes from the nodes' ledgers; the report\n"
               "sets the reduction beside `sim sprout`'s for the same fold and trace.\n"
               "See docs/replay.md.",
    .opts = opts,
    .n_opts = sizeof opts / sizeof opts[0],
    .min_args = 0,
    .max_args = 0,
};

static const char *zone_of(const char *region) {
  if (strcmp(region, "US-CAL") == 0) return "US-CAL-CISO";
  if (strcmp(region, "US-TEX") == 0) return "US-TEX-ERCO";
  return region;
}

typedef struct rp_opts {
  const char *data, *region, *trace, *policy, *route_policy, *work, *summary;
  int64_t fold, folds, sseed, seed, start, hours, per_hour, nodes, clients, inner;
  double hour_s, warmup, time_scale, xi;
} rp_opts;

static int parse(eco_cli *cli, rp_opts *o) {
  o->data = eco_cli_get(cli, "data");
  o->region = eco_cli_get(cli, "region");
  o->trace = eco_cli_get(cli, "trace");
  o->policy = eco_cli_get(cli, "policy");
  o->route_policy = eco_cli_get(cli, "route-policy");
  o->work = eco_cli_get(cli, "work");
  o->summary = eco_cli_get(cli, "summary");
  if (!o->data) o->data = "../shared/data/sprout";
  if (!o->region) o->region = "GB";
  if (!o->policy) o->policy = "ours-live";
  if (!o->route_policy) o->route_policy = "greedy";
  if (eco_cli_get_int(cli, "fold", 0, &o->fold) || eco_cli_get_int(cli, "folds", 5, &o->folds) ||
      eco_cli_get_int(cli, "sample-seed", 0, &o->sseed) ||
      eco_cli_get_int(cli, "seed", 0, &o->seed) ||
      eco_cli_get_int(cli, "start-hour", 800, &o->start) ||
      eco_cli_get_int(cli, "hours", 720, &o->hours) ||
      eco_cli_get_int(cli, "per-hour", 20, &o->per_hour) ||
      eco_cli_get_int(cli, "nodes", 2, &o->nodes) ||
      eco_cli_get_int(cli, "clients", 4, &o->clients) ||
      eco_cli_get_int(cli, "inner-folds", 5, &o->inner) ||
      eco_cli_get_double(cli, "hour-s", 0.25, &o->hour_s) ||
      eco_cli_get_double(cli, "warmup", 15, &o->warmup) ||
      eco_cli_get_double(cli, "time-scale", 0, &o->time_scale) ||
      eco_cli_get_double(cli, "xi", 0.1, &o->xi))
    return ECO_EXIT_USAGE;
  if (strcmp(o->policy, "lp") != 0 && strcmp(o->policy, "ours-live") != 0) {
    eco_cli_error(cli, "replay", "unknown --policy '%s' (ours-live|lp)", o->policy);
    return ECO_EXIT_USAGE;
  }
  if (o->folds < 2 || o->folds > 16 || o->fold < 0 || o->fold >= o->folds || o->sseed < 0 ||
      o->seed < 0 || o->seed > 0xffffffffLL || o->start < 0 || o->hours < 1 || o->hours > 8760 ||
      o->per_hour < 1 || o->per_hour > 10000 || o->nodes < 1 || o->nodes > ECO_RP_MAX_NODES ||
      !(o->hour_s >= 0.02 && o->hour_s <= 3600) || !(o->warmup >= 1 && o->warmup <= 600) ||
      !(o->time_scale >= 0 && o->time_scale <= 10) || !(o->xi >= 0 && o->xi <= 1)) {
    eco_cli_error(cli, "replay",
                  "bad --fold (0..folds-1), --folds (2..16), --hours (1..8760), --per-hour "
                  "(1..10000), --nodes (1..%d), --clients (1..32), --inner-folds (0..16), --hour-s "
                  "(0.02..3600), --warmup (1..600), "
                  "--time-scale (0..10), --xi (0..1) or a seed",
                  ECO_RP_MAX_NODES);
    return ECO_EXIT_USAGE;
  }
  return 0;
}

/* what the router's LP is told: the training folds' per-level means and
 * label shares, weighted by the window's mean dataset mix */
static void lp_stats(const eco_sprout_data *d, unsigned char *const *in_fold, size_t fold,
                     const eco_sprout_result *r, eco_level_stats *st) {
  double w[NDS] = {0};
  for (size_t h = 0; h < r->n_hours; h++)
    for (int k = 0; k < NDS; k++)
      w[k] += r->hour[h].mix[k] / (double)r->n_hours;
  memset(st, 0, NLV * sizeof *st);
  for (int k = 0; k < NDS; k++) {
    const eco_sprout_dataset *ds = &d->ds[k];
    double n = 0, e[NLV] = {0}, t[NLV] = {0}, q[NLV] = {0};
    for (size_t j = 0; j < ds->n_lab; j++) {
      if (in_fold[k][j] == fold) continue;
      size_t i = ds->lab_idx[j];
      n++;
      q[ds->lab_level[j]]++;
      for (int l = 0; l < NLV; l++)
        e[l] += ds->energy[l][i], t[l] += ds->time[l][i];
    }
    for (int l = 0; n > 0 && l < NLV; l++) {
      st[l].energy_kwh += w[k] * e[l] / n;
      st[l].time_s += w[k] * t[l] / n;
      st[l].pref += w[k] * q[l] / n;
    }
  }
}

static uint64_t mix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
static double unif(uint64_t *x) { return (double)(mix64(x) >> 11) * 0x1.0p-53; }

/* per_hour requests per hour from the held-out fold, datasets by the hour's mix */
static void draw(const eco_sprout_data *d, unsigned char *const *in_fold, size_t fold,
                 const eco_sprout_result *r, size_t per_hour, uint64_t seed, eco_rp_req *req,
                 size_t *n_req, size_t **pool, size_t *npool) {
  for (int k = 0; k < NDS; k++)
    for (size_t j = 0; j < d->ds[k].n_lab; j++)
      if (in_fold[k][j] == fold) pool[k][npool[k]++] = j;
  uint64_t x = seed * 0x2545f4914f6cdd1dULL + fold + 1;
  for (size_t h = 0; h < r->n_hours; h++) {
    n_req[h] = 0;
    for (size_t j = 0; j < per_hour; j++) {
      double u = unif(&x), acc = 0;
      int k = NDS - 1;
      for (int m = 0; m < NDS; m++)
        if (u < (acc += r->hour[h].mix[m])) {
          k = m;
          break;
        }
      if (!npool[k]) continue;
      size_t li = pool[k][(size_t)(unif(&x) * (double)npool[k])];
      const eco_sprout_dataset *ds = &d->ds[k];
      req[h * per_hour + n_req[h]++] =
          (eco_rp_req){ds->text[ds->lab_idx[li]], ds->lab_level[li], k};
    }
  }
}

/* trace epoch s of the year's first row, and the year's extremes */
static int trace_span(const char *path, const char *zone, double *first, eco_error *err) {
  eco_trace_opts o;
  eco_trace_opts_default(&o);
  eco_intensity_provider *p = NULL;
  double end = 0;
  int rc = eco_intensity_trace_open(path, &o, &p, err);
  if (!rc && eco_intensity_trace_span(p, zone, first, &end))
    rc = eco_error_set(err, ECO_ENOENT, "%s: no zone '%s' in the trace", path, zone);
  eco_intensity_free(p);
  return rc;
}

static void arm_report(eco_strbuf *sb, const eco_rp_arm *a) {
  double n = a->ok ? (double)a->ok : 1;
  eco_sb_printf(sb,
                "  %-8s %6zu sent, %6zu ok, %zu failed | ledger %lld rows, %.6f g/request | "
                "levels %.3f/%.3f/%.3f | quality %.4f\n",
                a->name, a->sent, a->ok, a->failed, (long long)a->ledger_rows,
                a->ledger_rows ? a->ledger_g / (double)a->ledger_rows : 0, a->level_n[0] / n,
                a->level_n[1] / n, a->level_n[2] / n, a->quality_hits / n);
  if (a->first_error[0]) eco_sb_printf(sb, "           first error: %s\n", a->first_error);
}

static json_t *arm_json(const eco_rp_arm *a) {
  double n = a->ok ? (double)a->ok : 1;
  return json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:f,s:f,s:f,s:[f,f,f],s:f,s:s,s:{s:I,s:f,s:f,s:f}}",
                   "name", a->name, "sent", (json_int_t)a->sent, "ok", (json_int_t)a->ok, "failed",
                   (json_int_t)a->failed, "intensity_mismatches", (json_int_t)a->ci_mismatch,
                   "ledger_rows", (json_int_t)a->ledger_rows, "ledger_total_g", a->ledger_g,
                   "ledger_energy_j", a->ledger_energy_j, "answers_total_g", a->resp_g,
                   "level_shares", a->level_n[0] / n, a->level_n[1] / n, a->level_n[2] / n,
                   "quality_preference", a->quality_hits / n, "first_error", a->first_error,
                   "router_ledger", "rows", (json_int_t)a->router_rows, "actual_g",
                   a->router_actual_g, "counterfactual_g", a->router_baseline_g,
                   "directive_saved_g", a->router_directive_g);
}

typedef struct rp_state {
  eco_sprout_data d;
  double *ci_year;
  size_t n_year;
  eco_sprout_result r;
  unsigned char *in_fold[NDS];
  size_t *pool[NDS], npool[NDS];
  eco_rp_req *req;
  size_t *n_req;
  double *ci; /* [hours] */
  char dmodel[700];
  eco_rp_arm arm[2];
} rp_state;

static void state_free(rp_state *st) {
  for (int i = 0; i < 2; i++)
    eco_rp_arm_stop(&st->arm[i]);
  for (int k = 0; k < NDS; k++)
    free(st->in_fold[k]), free(st->pool[k]);
  free(st->req);
  free(st->n_req);
  free(st->ci);
  eco_sprout_result_free(&st->r);
  eco_sprout_data_free(&st->d);
  free(st->ci_year);
}

/* ours-live: the directive model learnt from every labelled prompt outside
 * the held-out fold, with the simulator's settings (sprout_kfold.c), written
 * where the router reads it */
static int train_fold(const rp_opts *o, rp_state *st, size_t inner_folds, eco_rp_setup *s,
                      eco_error *err) {
  eco_dtrain_set set;
  eco_dtrain_init(&set, NLV);
  eco_dmodel dm;
  memset(&dm, 0, sizeof dm);
  int rc = eco_sprout_to_train_fold(&st->d, st->in_fold, (size_t)o->fold, &set, err);
  const char *labels[NDS];
  for (int k = 0; k < NDS; k++)
    labels[k] = st->d.ds[k].name;
  eco_dmodel_fit_cfg fc;
  eco_dmodel_fit_cfg_default(&fc);
  fc.inner_folds = inner_folds;
  fc.fold_seed = (uint64_t)o->sseed * 131 + (uint64_t)o->fold + 1;
  fc.cost_source = "sprout artifact (Llama-2-13B-chat, A100), training folds";
  snprintf(st->dmodel, sizeof st->dmodel, "%s/fold%lld.dmodel", o->work, (long long)o->fold);
  if (!rc) rc = eco_dmodel_fit(&dm, &fc, labels, NDS, set.rec, set.n, NULL, err);
  if (!rc) rc = eco_dmodel_save(&dm, st->dmodel, err);
  eco_dmodel_free(&dm);
  eco_dtrain_free(&set);
  s->dmodel = st->dmodel;
  return rc;
}

/* Loads the artifact and the trace, runs `sim sprout` for the same fold,
 * draws the requests. */
static int prepare(const rp_opts *o, const char *trace, rp_state *st, eco_rp_setup *s,
                   eco_error *err) {
  int rc;
  if ((rc = eco_sprout_trace_load(trace, &st->ci_year, &st->n_year, err)) ||
      (rc = eco_sprout_data_load(o->data, &st->d, err)))
    return rc;
  if ((size_t)(o->start + o->hours) > st->n_year)
    return eco_error_set(err, ECO_EINVAL, "the window ends after the trace (%zu hours)",
                         st->n_year);
  eco_sprout_cfg c;
  eco_sprout_cfg_default(&c);
  /* the same policy, fold and trace in the simulator; the router forecasts
   * a trace's intensity from the trace itself: a perfect forecast. For lp
   * the k-fold run's rows hold Sprout's LP on the fold's prompts. */
  bool live = strcmp(o->policy, "ours-live") == 0;
  c.policy = live ? ECO_SPROUT_OURS_LIVE : ECO_SPROUT_OURS;
  c.forecast = 1;
  c.start_hour = (size_t)o->start, c.hours = (size_t)o->hours;
  c.seed = (uint64_t)o->seed, c.sample_seed = (uint64_t)o->sseed;
  c.folds = (size_t)o->folds, c.xi = o->xi;
  c.inner_folds = (size_t)o->inner;
  if ((rc = eco_sprout_run(&st->d, st->ci_year, st->n_year, &c, &st->r, err)) ||
      (rc = eco_sprout_fold_split(&st->d, c.folds, c.sample_seed, st->in_fold, err)))
    return rc;
  size_t H = (size_t)o->hours, N = (size_t)o->per_hour;
  st->req = calloc(H * N, sizeof *st->req);
  st->n_req = calloc(H, sizeof *st->n_req);
  st->ci = calloc(H, sizeof *st->ci);
  for (int k = 0; k < NDS; k++)
    st->pool[k] = malloc((st->d.ds[k].n_lab + 1) * sizeof *st->pool[k]);
  for (int k = 0; k < NDS; k++)
    if (!st->pool[k]) return eco_error_set(err, ECO_ENOMEM, "out of memory");
  if (!st->req || !st->n_req || !st->ci) return eco_error_set(err, ECO_ENOMEM, "out of memory");
  draw(&st->d, st->in_fold, (size_t)o->fold, &st->r, N, (uint64_t)o->sseed, st->req, st->n_req,
       st->pool, st->npool);
  lp_stats(&st->d, st->in_fold, (size_t)o->fold, &st->r, s->stats);
  if (live && (rc = train_fold(o, st, c.inner_folds, s, err))) return rc;
  s->ci_min = INFINITY, s->ci_max = -INFINITY;
  for (size_t h = 0; h < st->n_year; h++)
    s->ci_min = fmin(s->ci_min, st->ci_year[h]), s->ci_max = fmax(s->ci_max, st->ci_year[h]);
  for (size_t h = 0; h < H; h++)
    st->ci[h] = st->ci_year[o->start + (int64_t)h];
  s->embodied_g = c.embodied_g, s->life_years = c.life_years, s->xi = o->xi;
  return 0;
}

static int run_arms(const rp_opts *o, rp_state *st, eco_rp_setup *s, eco_error *err) {
  snprintf(st->arm[0].name, sizeof st->arm[0].name, "policy");
  st->arm[0].directives = true;
  snprintf(st->arm[1].name, sizeof st->arm[1].name, "baseline");
  s->origin_s = ceil(eco_time_wall_s() + o->warmup);
  int rc = 0;
  for (int i = 0; i < 2 && !rc; i++)
    rc = eco_rp_arm_spawn_nodes(s, &st->arm[i], err);
  for (int i = 0; i < 2 && !rc; i++)
    rc = eco_rp_arm_start_router(s, &st->arm[i], s->origin_s - 0.2, err);
  for (int i = 0; i < 2 && !rc; i++)
    rc = eco_rp_arm_wait_ready(&st->arm[i], s->origin_s - 0.1, err);
  if (rc) return rc;
  rc = eco_rp_drive(s, st->arm, 2, st->req, st->n_req, (size_t)o->per_hour, (size_t)o->hours,
                    st->ci, err);
  for (int i = 0; i < 2; i++)
    eco_rp_arm_stop(&st->arm[i]);
  for (int i = 0; i < 2 && !rc; i++)
    rc = eco_rp_arm_read_ledgers(&st->arm[i], err);
  return rc;
}

static int report(eco_cli *cli, const rp_opts *o, const rp_state *st) {
  const eco_rp_arm *p = &st->arm[0], *b = &st->arm[1];
  double red = b->ledger_g > 0 ? 100.0 * (1 - p->ledger_g / b->ledger_g) : 0;
  const eco_sprout_fold *sf = &st->r.fold[o->fold];
  bool live = strcmp(o->policy, "ours-live") == 0;
  double sim = live ? sf->reduction_pct : sf->lp_reduction_pct;
  double simq = live ? sf->quality : sf->lp_quality;
  double pq = p->ok ? (double)p->quality_hits / (double)p->ok : 0;
  eco_strbuf sb;
  eco_sb_init(&sb);
  eco_sb_printf(&sb,
                "replay: %s, hours %lld..%lld (%.3g s each), fold %lld of %lld, %lld requests "
                "per hour, %lld nodes per arm, policy %s\n",
                o->region, (long long)o->start, (long long)(o->start + o->hours - 1), o->hour_s,
                (long long)o->fold, (long long)o->folds, (long long)o->per_hour,
                (long long)o->nodes, o->policy);
  arm_report(&sb, p);
  arm_report(&sb, b);
  eco_sb_printf(&sb, "%-44s %.2f %% (quality %.4f)\n",
                "reduction vs greedy, no directives (ledger)", red, pq);
  eco_sb_printf(&sb, "%-44s %.2f %% (quality %.4f)\n",
                live ? "sim sprout --policy ours-live, same fold"
                     : "sim sprout, same fold: lp on its prompts",
                sim, simq);
  eco_sb_printf(&sb, "%-44s %+.2f points\n", "replay - sim", red - sim);
  eco_sb_printf(&sb, "%-44s %.2f %% (sim: Sprout's LP on the fold's prompts)\n", "  for reference",
                sf->lp_reduction_pct);
  if (p->router_rows && p->router_baseline_g > 0)
    eco_sb_printf(&sb,
                  "%-44s %.2f %% (directive lever %.2f %%; %lld rows; its counterfactual "
                  "%.6f g/request, the baseline arm measured %.6f)\n",
                  "the policy router's own ledger claims",
                  100 * (1 - p->router_actual_g / p->router_baseline_g),
                  100 * p->router_directive_g / p->router_baseline_g, (long long)p->router_rows,
                  p->router_baseline_g / (double)p->router_rows,
                  b->ledger_rows ? b->ledger_g / (double)b->ledger_rows : 0);
  eco_sb_printf(&sb, "clock: %zu answers priced at another hour's intensity, %zu late hours\n",
                p->ci_mismatch + b->ci_mismatch, p->late + b->late);
  eco_sb_printf(&sb, "work directory (configs, logs, ledgers): %s\n", o->work);
  json_t *js = json_pack(
      "{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:f,s:f,s:f,s:f,s:f,s:[o,o]}", "region", o->region, "policy",
      o->policy, "start_hour", (json_int_t)o->start, "hours", (json_int_t)o->hours, "fold",
      (json_int_t)o->fold, "folds", (json_int_t)o->folds, "per_hour", (json_int_t)o->per_hour,
      "hour_s", o->hour_s, "reduction_pct", red, "quality_preference", pq, "sim_reduction_pct", sim,
      "sim_quality_preference", simq, "arms", arm_json(p), arm_json(b));
  int rc = 0;
  if (js && o->summary && json_dump_file(js, o->summary, JSON_INDENT(2))) {
    eco_cli_error(cli, "replay", "cannot write %s", o->summary);
    rc = ECO_EXIT_RUNTIME;
  }
  if (cli->json && js)
    eco_cli_out_json(js, JSON_INDENT(2));
  else
    eco_cli_out(eco_sb_str(&sb));
  json_decref(js);
  eco_sb_free(&sb);
  for (int i = 0; i < 2 && !rc; i++) {
    const eco_rp_arm *a = &st->arm[i];
    if (a->failed || a->ok != a->sent || a->ledger_rows != (int64_t)a->ok) {
      eco_cli_error(cli, "replay",
                    "the %s arm: %zu of %zu requests failed, %lld ledger rows for %zu answers",
                    a->name, a->failed, a->sent, (long long)a->ledger_rows, a->ok);
      rc = ECO_EXIT_RUNTIME;
    }
  }
  return rc;
}

int eco_cmd_replay(eco_cli *cli, int argc, char **argv) {
  bool done;
  int rc = eco_cli_parse(cli, &spec, argc, argv, &done);
  if (done) return rc;
  rp_opts o;
  if ((rc = parse(cli, &o))) return rc;
  char qpath[1100];
  snprintf(qpath, sizeof qpath, "%s/quality_summary_2000.json", o.data);
  if (access(qpath, R_OK) != 0) {
    eco_cli_error(cli, "replay", "--data %s: no Sprout artifact there (%s)", o.data, qpath);
    return ECO_EXIT_USAGE;
  }
  char tpath[1100], work[600], exe[1024];
  const char *zone = zone_of(o.region);
  if (!o.trace) {
    snprintf(tpath, sizeof tpath, "%s/carbon_intensity/%s_2023_hourly.csv", o.data, zone);
    o.trace = tpath;
  }
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) {
    eco_cli_error(cli, "replay", "cannot find this binary (/proc/self/exe)");
    return ECO_EXIT_RUNTIME;
  }
  exe[n] = 0;
  if (!o.work) {
    snprintf(work, sizeof work, "/tmp/ecoinfer-replay-XXXXXX");
    if (!mkdtemp(work)) {
      eco_cli_error(cli, "replay", "cannot create a work directory in /tmp");
      return ECO_EXIT_RUNTIME;
    }
    o.work = work;
  } else if (eco_fs_mkdirs(o.work)) {
    eco_cli_error(cli, "replay", "--work %s: cannot create", o.work);
    return ECO_EXIT_RUNTIME;
  }
  eco_rp_setup s = {.exe = exe,
                    .work = o.work,
                    .data_dir = o.data,
                    .trace = o.trace,
                    .zone = zone,
                    .policy = o.policy,
                    .route_policy = o.route_policy,
                    .nodes = (int)o.nodes,
                    .clients = (int)o.clients,
                    .hour_s = o.hour_s,
                    .time_scale = o.time_scale};
  rp_state st;
  memset(&st, 0, sizeof st);
  eco_error err = {0};
  double first = 0;
  if ((rc = trace_span(o.trace, zone, &first, &err)) || (rc = prepare(&o, o.trace, &st, &s, &err)))
    goto fail;
  s.trace_start_s = first + 3600.0 * (double)o.start;
  ECO_INFO(&cli->log, "replay", "starting 2 arms x %lld nodes in %s", (long long)o.nodes, o.work);
  if ((rc = run_arms(&o, &st, &s, &err))) goto fail;
  rc = report(cli, &o, &st);
  state_free(&st);
  return rc;
fail:
  eco_cli_error(cli, "replay", "%s", eco_error_text(&err));
  state_free(&st);
  return rc == ECO_EINVAL ? ECO_EXIT_USAGE : ECO_EXIT_RUNTIME;
}
