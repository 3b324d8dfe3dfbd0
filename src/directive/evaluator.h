/* ecoinfer directives: the offline quality evaluator.
 *
 * For a sample of recent prompts it generates an answer at every directive
 * level through an OpenAI-compatible endpoint (an ecoinfer node or any other
 * server), then asks a judge model (also any OpenAI-compatible endpoint)
 * which answer is best. The judge's reply is parsed robustly: a reply that
 * names exactly one answer is a decision, anything else (ambiguous, empty,
 * garbage, HTTP error) counts as no decision. The wins per level become the
 * preference rates q_L the optimizer uses.
 *
 * The evaluator spends energy itself. It returns what it spent (energy from
 * the servers' usage.carbon.energy_j when they report it, else an estimate
 * per generated token) and the carbon at the given intensity, so the caller
 * can write it to the ledger.
 *
 * When to run is decided by eco_eval_sched_step (plan.h), a pure function. */
#ifndef ECO_DIRECTIVE_EVALUATOR_H
#define ECO_DIRECTIVE_EVALUATOR_H

#include "directive/directive.h"
#include "util/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct eco_eval_cfg {
  const char *gen_url;     /* base URL, e.g. "http://127.0.0.1:8080" (POST /v1/chat/completions) */
  const char *gen_model;   /* model name sent to the generator */
  const char *judge_url;   /* base URL of the judge */
  const char *judge_model; /* model name sent to the judge */
  const char *api_key;     /* bearer token for both, or NULL */
  double timeout_s;        /* per HTTP request, s (default 60) */
  int max_tokens;          /* per generated answer (default 512) */
  double j_per_token;      /* J per completion token when no energy is reported (default 2.0) */
  double intensity_gco2_kwh; /* intensity charged for the evaluator's energy, gCO2/kWh */
  bool gen_ecoinfer; /* the generator is an ecoinfer node: send the prompt as is with the level
                      * in x-ecoinfer-directive-level (the node applies it and prices it);
                      * else the level's instruction goes into the messages */
  bool (*cancel)(void *user); /* polled during transfers: true aborts them (a stopping
                               * server), or NULL */
  void *cancel_user;
} eco_eval_cfg;

void eco_eval_cfg_default(eco_eval_cfg *c);

typedef struct eco_eval_outcome {
  size_t n_prompts;                      /* prompts evaluated */
  size_t n_decided;                      /* judge named exactly one answer */
  size_t n_undecided;                    /* ambiguous, garbage or failed */
  size_t wins[ECO_DIRECTIVE_MAX_LEVELS]; /* decisions per level */
  size_t n_requests;                     /* HTTP requests made */
  size_t completion_tokens;              /* tokens generated (answers + verdicts) */
  double energy_j;                       /* energy spent, J */
  bool energy_estimated;                 /* some energy came from j_per_token */
  double carbon_g;                       /* energy_j at intensity_gco2_kwh, gCO2e */
} eco_eval_outcome;

/* What one prompt's evaluation found: the training data of the per-request
 * assignment model (assign.h): the judge's preferred level and the output
 * length and energy of every level. */
typedef struct eco_eval_prompt_result {
  int preferred;                             /* level, or -1 = no decision */
  size_t tokens[ECO_DIRECTIVE_MAX_LEVELS];   /* completion tokens per level */
  double energy_j[ECO_DIRECTIVE_MAX_LEVELS]; /* J per level (reported or estimated) */
} eco_eval_prompt_result;

/* Pure: the answer number (0-based index) a judge's reply names, or -1 for
 * no decision. Accepts a JSON object {"best": N}, or text where exactly one
 * distinct number 1..n_answers stands alone ("2", "Answer 2.", "**2**",
 * "The best is answer 2"). Several different numbers, none, or a number out
 * of range: -1. */
int eco_eval_parse_verdict(const char *reply, size_t n_answers);

/* Pure: the order in which answers are shown to the judge for prompt i
 * (rotated to cancel position bias): order[j] = level shown as answer j+1. */
void eco_eval_order(size_t i, size_t n_levels, int *order);

/* Pure: picks k distinct indices out of n recent prompts (uniformly, Floyd's
 * algorithm, seeded), in increasing order, into idx[k]. k is clamped to n;
 * returns the number picked. */
size_t eco_eval_pick(size_t n, size_t k, uint64_t seed, size_t *idx);

/* Evaluates n prompts (user texts) at every level of dcfg. Errors of single
 * requests count as undecided; returns ECO_EINVAL on bad arguments, else 0
 * (also when every request failed: see n_undecided). per_prompt (may be
 * NULL) receives n per-prompt results. */
int eco_eval_run(const eco_eval_cfg *cfg, const eco_directive_cfg *dcfg, const char *const *prompts,
                 size_t n, eco_eval_outcome *out, eco_eval_prompt_result *per_prompt,
                 eco_error *err);

/* Sprout's pairwise protocol (judge.h) for one prompt whose answers at
 * every level are known: each pair of levels is asked in both orders; a
 * level wins a pair when both orders prefer it (else the pair is a tie).
 * The preferred level is the one that wins every pair it is in, or -1 (no
 * decision: a cycle, ties, or failed requests). */
typedef struct eco_eval_pair_result {
  int preferred;                         /* level, -1 = no decision */
  size_t wins[ECO_DIRECTIVE_MAX_LEVELS]; /* pairs each level won */
  size_t pairs, pairs_decided;           /* pairs asked, pairs with a winner */
  size_t replies_undecided;              /* single replies naming neither output */
  eco_eval_outcome spent;                /* requests, tokens and energy of the judge */
} eco_eval_pair_result;

/* Asks cfg->judge_url about answers[n_levels] (answers[l] = level l's) to
 * instruction. ECO_EINVAL on bad arguments; failed requests count as
 * undecided replies. */
int eco_eval_judge_pairwise(const eco_eval_cfg *cfg, const char *instruction,
                            const char *const *answers, size_t n_levels, eco_eval_pair_result *out,
                            eco_error *err);

/* One prompt of the live judge: generates its answer at every level of
 * dcfg through cfg->gen_url (the level's instruction as the system
 * message), then judges the answers pairwise (above). pr gets the tokens
 * and energy of each level's answer and the preferred level (-1 when an
 * answer failed or the judge decided nothing); gen (may be NULL) adds the
 * generation's requests, tokens and energy. ECO_EINVAL on bad arguments. */
int eco_eval_prompt_pairwise(const eco_eval_cfg *cfg, const eco_directive_cfg *dcfg,
                             const char *prompt, eco_eval_prompt_result *pr,
                             eco_eval_pair_result *jr, eco_eval_outcome *gen, eco_error *err);

/* Pure: replaces the preference rates in lv[n_levels] by the outcome's when
 * it has at least min_decided decisions (Sprout keeps the stale estimate
 * otherwise). Returns true when updated. */
bool eco_eval_update_prefs(const eco_eval_outcome *o, size_t n_levels, size_t min_decided,
                           eco_level_stats *lv);

/* The preference rates from an outcome: wins / decided (zeros if none). */
void eco_eval_rates(const eco_eval_outcome *o, size_t n_levels, double *pref);

#endif
