/* Sprout's pairwise judging with position swapping (evaluator.h, judge.h). */
#include "directive/eval_internal.h"
#include "directive/judge.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* one reply: 0 = (a), 1 = (b), -1 = none */
static int ask(const eco_eval_cfg *cfg, const char *instruction, const char *a, const char *b,
               eco_eval_pair_result *out) {
  char *p = eco_judge_pair_prompt(instruction, a, b);
  json_t *msgs = p ? json_pack("[{s:s,s:s},{s:s,s:s}]", "role", "system", "content",
                               eco_judge_system_prompt(), "role", "user", "content", p)
                   : NULL;
  free(p);
  char *reply =
      msgs ? eco_eval_chat(cfg, cfg->judge_url, cfg->judge_model, msgs, &out->spent) : NULL;
  json_decref(msgs);
  int v = eco_judge_parse_reply(reply);
  free(reply);
  if (v < 0) out->replies_undecided++;
  return v;
}

int eco_eval_judge_pairwise(const eco_eval_cfg *cfg, const char *instruction,
                            const char *const *answers, size_t n_levels, eco_eval_pair_result *out,
                            eco_error *err) {
  if (!cfg || !cfg->judge_url || !instruction || !answers || !out || n_levels < 2 ||
      n_levels > ECO_DIRECTIVE_MAX_LEVELS || !(cfg->timeout_s > 0))
    return eco_error_set(err, ECO_EINVAL, "evaluator: bad pairwise judging arguments");
  for (size_t l = 0; l < n_levels; l++)
    if (!answers[l]) return eco_error_set(err, ECO_EINVAL, "evaluator: answer %zu missing", l);
  memset(out, 0, sizeof *out);
  out->preferred = -1;
  for (size_t x = 0; x < n_levels; x++)
    for (size_t y = x + 1; y < n_levels; y++) {
      int ab = ask(cfg, instruction, answers[x], answers[y], out);
      int ba = ask(cfg, instruction, answers[y], answers[x], out);
      int w = eco_judge_combine(ab, ba);
      out->pairs++;
      if (w < 0) continue;
      out->pairs_decided++;
      out->wins[w == 0 ? x : y]++;
    }
  for (size_t l = 0; l < n_levels; l++)
    if (out->wins[l] == n_levels - 1) out->preferred = (int)l;
  out->spent.carbon_g = 0; /* priced by the caller (it knows the hour's intensity) */
  return 0;
}

int eco_eval_prompt_pairwise(const eco_eval_cfg *cfg, const eco_directive_cfg *dcfg,
                             const char *prompt, eco_eval_prompt_result *pr,
                             eco_eval_pair_result *jr, eco_eval_outcome *gen, eco_error *err) {
  if (!cfg || !dcfg || !prompt || !pr || !jr || !cfg->gen_url || !cfg->judge_url ||
      dcfg->n_levels < 2 || dcfg->n_levels > ECO_DIRECTIVE_MAX_LEVELS || !(cfg->timeout_s > 0))
    return eco_error_set(err, ECO_EINVAL, "evaluator: bad configuration");
  size_t L = dcfg->n_levels;
  char *ans[ECO_DIRECTIVE_MAX_LEVELS] = {0};
  eco_eval_outcome spent;
  memset(&spent, 0, sizeof spent);
  memset(pr, 0, sizeof *pr);
  memset(jr, 0, sizeof *jr);
  pr->preferred = jr->preferred = -1;
  bool ok = true;
  for (size_t l = 0; ok && l < L; l++) {
    json_t *msgs = json_pack("[{s:s, s:s}]", "role", "user", "content", prompt);
    ok = msgs && (cfg->gen_ecoinfer || eco_directive_apply(dcfg, (int)l, msgs, NULL) == 0);
    size_t tok0 = spent.completion_tokens;
    double e0 = spent.energy_j;
    if (ok)
      ans[l] = eco_eval_chat_level(cfg, cfg->gen_url, cfg->gen_model, msgs,
                                   cfg->gen_ecoinfer ? (int)l : -1, &spent);
    pr->tokens[l] = spent.completion_tokens - tok0;
    pr->energy_j[l] = spent.energy_j - e0;
    ok = ok && ans[l];
    json_decref(msgs);
  }
  int rc = 0;
  if (ok) rc = eco_eval_judge_pairwise(cfg, prompt, (const char *const *)ans, L, jr, err);
  if (!rc) pr->preferred = jr->preferred;
  for (size_t l = 0; l < L; l++)
    free(ans[l]);
  if (gen) {
    gen->n_requests += spent.n_requests;
    gen->completion_tokens += spent.completion_tokens;
    gen->energy_j += spent.energy_j;
    gen->energy_estimated |= spent.energy_estimated;
  }
  return rc;
}
