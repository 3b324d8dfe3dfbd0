/* ecoinfer: the recordings a replay backend answers from.
 *
 * The Sprout artifact (../shared/data/sprout, SOURCES.md) recorded, for the
 * 2,000 judge-labelled prompts of each of its six datasets, Llama-2-13B-chat's
 * answer at every directive level (responses/<ds>/), the energy and time of
 * serving each prompt at each level on an A100 (request_carbon/, joined to
 * the answers through prompts/ by exact text), and the level a GPT-4 judge
 * preferred (quality_summary_2000.json). Loaded once, read-only after: the
 * lookups are safe from any thread. */
#ifndef ECO_SERVER_REPLAY_DATA_H
#define ECO_SERVER_REPLAY_DATA_H

#include "util/status.h"

#include <stddef.h>

#define ECO_REPLAY_LEVELS 3 /* no directive, "briefly", "very briefly" */

typedef struct eco_replay_item {
  const char *dataset;                   /* "alpaca", "math", ... */
  const char *prompt;                    /* the user prompt (no directive) */
  const char *answer[ECO_REPLAY_LEVELS]; /* recorded answer per level */
  double energy_kwh[ECO_REPLAY_LEVELS];  /* kWh per request, measured */
  double time_s[ECO_REPLAY_LEVELS];      /* s per request, measured */
  int label;                             /* judge's preferred level, -1 = none */
} eco_replay_item;

typedef struct eco_replay_data eco_replay_data;

/* Loads the artifact from dir. ECO_ENOENT / ECO_EFORMAT naming the file. */
int eco_replay_data_load(const char *dir, eco_replay_data **out, eco_error *err);
void eco_replay_data_free(eco_replay_data *d);

/* Recorded prompts. */
size_t eco_replay_data_count(const eco_replay_data *d);
/* The recording of a prompt (exact text, len bytes), or NULL. */
const eco_replay_item *eco_replay_find(const eco_replay_data *d, const char *prompt, size_t len);

/* The level whose recorded answer for item is exactly text, or -1. */
int eco_replay_answer_level(const eco_replay_item *it, const char *text, size_t len);

/* The replay judge: reads a pairwise judge prompt (directive/judge.h) and
 * writes its verdict into out: "Output (a)" or "Output (b)" from the
 * artifact's label (the labelled level wins; between two other levels the
 * one nearer the label, and on equal distance the lower level, i.e. the
 * longer answer), or a sentence naming neither when the prompt, an answer
 * or the label is unknown (no decision). Returns 0 for (a), 1 for (b), -1 for none. */
int eco_replay_judge(const eco_replay_data *d, const char *judge_prompt, char *out, size_t cap);

#endif
