/* ecoinfer directive evaluate: the live judge's loop over a file of prompts:
 * each prompt's answer at every level from a generator endpoint, judged
 * pairwise with position swapping by a judge endpoint (Sprout's protocol,
 * directive/evaluator.h), each verdict stored in SQLite (verdicts.h) and
 * written as training data for `directive train`. */
#include "cli/subcmd.h"
#include "directive/dmodel.h"
#include "directive/dtrain.h"
#include "directive/evaluator.h"
#include "directive/verdicts.h"
#include "util/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const eco_opt opts[] = {
    {"prompts", 0, "FILE", NULL, "training-data JSON lines (dtrain format): the prompts to judge"},
    {"gen", 0, "URL", NULL, "OpenAI-compatible endpoint that answers at every level"},
    {"gen-model", 0, "NAME", NULL, "model name sent to the generator"},
    {"gen-ecoinfer", 0, NULL, NULL,
     "the generator is an ecoinfer node: the level goes in its header, the node applies it"},
    {"judge", 0, "URL", NULL, "OpenAI-compatible judge endpoint"},
    {"judge-model", 0, "NAME", NULL, "model name sent to the judge"},
    {"api-key", 0, "KEY", NULL, "bearer token for both endpoints"},
    {"verdicts", 0, "FILE", NULL, "SQLite verdict store (created if absent)"},
    {"train-out", 0, "FILE", NULL, "append each decided verdict as a training-data line"},
    {"model", 0, "FILE", NULL, "directive model file: verdicts are grouped by its classifier"},
    {"limit", 0, "N", NULL, "judge at most N prompts (default all)"},
    {"timeout", 0, "S", NULL, "per HTTP request, seconds (default 60)"},
};

static const eco_cmd_spec spec = {
    .name = "directive evaluate",
    .usage = "--prompts FILE --gen URL --judge URL --verdicts DB [options]",
    .summary = "Judge prompts' answers at every level pairwise and store the verdicts.",
    .details = "Each pair of levels is shown to the judge in both orders (\"Output (a)\" /\n"
               "\"Output (b)\", src/directive/judge.h); a level wins a pair when both orders\n"
               "prefer it, and a prompt's preferred level is the one that wins all its pairs.\n"
               "Prints the preference rate of each level (overall and per group with --model).\n"
               "`serve --replay DIR` and `serve --replay DIR --replay-judge` are a generator\n"
               "and a judge from the Sprout artifact's recordings (docs/replay.md).",
    .opts = opts,
    .n_opts = sizeof opts / sizeof opts[0],
    .min_args = 0,
    .max_args = 0,
};

typedef struct ev_run {
  eco_eval_cfg c;
  eco_directive_cfg dcfg;
  eco_dmodel dm;
  bool have_model;
  eco_verdicts *v;
  FILE *train;
  size_t n, decided;
  double gen_j, judge_j;
} ev_run;

static int one(ev_run *x, const char *text, size_t len, eco_error *err) {
  eco_eval_prompt_result pr;
  eco_eval_pair_result jr;
  eco_eval_outcome gen = {0};
  char *prompt = strndup(text, len);
  if (!prompt) return eco_error_set(err, ECO_ENOMEM, "out of memory");
  int rc = eco_eval_prompt_pairwise(&x->c, &x->dcfg, prompt, &pr, &jr, &gen, err);
  char group[64] = "";
  if (!rc && x->have_model) {
    eco_dmodel_pred p;
    eco_dmodel_predict(&x->dm, prompt, len, &p);
    eco_dmodel_group_name(&x->dm, p.cls, p.bucket, group, sizeof group);
  }
  eco_verdict r = {.time_s = eco_time_wall_s(),
                   .model = x->c.gen_model ? x->c.gen_model : "",
                   .group = group,
                   .prompt = prompt,
                   .served_level = -1,
                   .preferred = pr.preferred,
                   .n_levels = x->dcfg.n_levels,
                   .judge_energy_j = jr.spent.energy_j};
  for (size_t l = 0; l < x->dcfg.n_levels; l++)
    r.energy_j[l] = pr.energy_j[l], r.time_s_lv[l] = -1; /* time: not reported by the API */
  int64_t id = 0;
  if (!rc) rc = eco_verdicts_add(x->v, &r, &id, err);
  if (!rc && x->train && r.preferred >= 0) {
    char *line = eco_verdict_dtrain_line(&r, id);
    if (!line || fprintf(x->train, "%s\n", line) < 0)
      rc = eco_error_set(err, ECO_EIO, "cannot write the training data");
    free(line);
  }
  x->n++;
  x->decided += !rc && r.preferred >= 0;
  x->gen_j += gen.energy_j;
  x->judge_j += jr.spent.energy_j;
  free(prompt);
  return rc;
}

static int setup(eco_cli *cli, ev_run *x, eco_error *err) {
  const char *mp = eco_cli_get(cli, "model"), *vp = eco_cli_get(cli, "verdicts"),
             *tp = eco_cli_get(cli, "train-out");
  eco_eval_cfg_default(&x->c);
  eco_directive_cfg_default(&x->dcfg);
  x->c.gen_url = eco_cli_get(cli, "gen");
  x->c.gen_model = eco_cli_get(cli, "gen-model");
  x->c.judge_url = eco_cli_get(cli, "judge");
  x->c.judge_model = eco_cli_get(cli, "judge-model");
  x->c.api_key = eco_cli_get(cli, "api-key");
  x->c.max_tokens = 4096;
  x->c.gen_ecoinfer = eco_cli_flag(cli, "gen-ecoinfer");
  if (eco_cli_get_double(cli, "timeout", 60, &x->c.timeout_s) || !(x->c.timeout_s > 0))
    return eco_error_set(err, ECO_EINVAL, "--timeout must be > 0");
  if (!x->c.gen_url || !x->c.judge_url || !vp)
    return eco_error_set(err, ECO_EINVAL, "--gen URL, --judge URL and --verdicts FILE are needed");
  int rc = mp ? eco_dmodel_load(mp, &x->dm, err) : 0;
  if (rc) return rc;
  x->have_model = mp != NULL;
  if ((rc = eco_verdicts_open(vp, &x->v, err))) return rc;
  if (tp && !(x->train = fopen(tp, "a")))
    return eco_error_set(err, ECO_EIO, "--train-out %s: cannot open", tp);
  return 0;
}

int eco_cmd_directive_evaluate(eco_cli *cli, int argc, char **argv) {
  bool done;
  int rc = eco_cli_parse(cli, &spec, argc, argv, &done);
  if (done) return rc;
  const char *cmd = "directive evaluate", *pp = eco_cli_get(cli, "prompts");
  int64_t limit = 0;
  ev_run x;
  memset(&x, 0, sizeof x);
  eco_dtrain_set set;
  eco_dtrain_init(&set, ECO_DIRECTIVE_MAX_LEVELS);
  eco_error err = {0};
  int code = ECO_EXIT_USAGE;
  if (eco_cli_get_int(cli, "limit", 0, &limit) || limit < 0) {
    eco_cli_error(cli, cmd, "--limit must be >= 0");
    goto out;
  }
  if (!pp) {
    eco_cli_error(cli, cmd, "--prompts FILE is required");
    goto out;
  }
  if ((rc = setup(cli, &x, &err)) || (set.n_levels = x.dcfg.n_levels, 0) ||
      (rc = eco_dtrain_load(&set, pp, &err))) {
    eco_cli_error(cli, cmd, "%s", eco_error_text(&err));
    code = rc == ECO_EINVAL ? ECO_EXIT_USAGE : ECO_EXIT_RUNTIME;
    goto out;
  }
  code = ECO_EXIT_RUNTIME;
  for (size_t i = 0; i < set.n && (!limit || (int64_t)i < limit); i++)
    if (one(&x, set.rec[i].text, set.rec[i].len, &err)) {
      eco_cli_error(cli, cmd, "prompt %zu: %s", i + 1, eco_error_text(&err));
      goto out;
    }
  double pref[ECO_DIRECTIVE_MAX_LEVELS];
  int64_t nd = 0;
  if (eco_verdicts_rates(x.v, NULL, x.dcfg.n_levels, pref, &nd, &err)) {
    eco_cli_error(cli, cmd, "%s", eco_error_text(&err));
    goto out;
  }
  printf("directive evaluate: %zu prompts judged, %zu decided; generation %.1f J, judge %.1f J\n",
         x.n, x.decided, x.gen_j, x.judge_j);
  printf("preference rates over the store's %lld decided verdicts:", (long long)nd);
  for (size_t l = 0; l < x.dcfg.n_levels; l++)
    printf(" L%zu %.3f", l, pref[l]);
  printf("\n");
  code = ECO_EXIT_OK;
out:
  eco_dtrain_free(&set);
  eco_verdicts_close(x.v);
  if (x.train) fclose(x.train);
  if (x.have_model) eco_dmodel_free(&x.dm);
  return code;
}
