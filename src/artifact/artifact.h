/* ecoinfer artifact: the one reader of the Sprout artifact's data
 * (../shared/data/sprout; EMNLP'24, github.com/boringlee24/EMNLP24_Sprout).
 *
 * For each of its six datasets the artifact has the prompts
 * (prompts/prompt_<file>.json), the energy and time of serving each prompt
 * at each directive level on an A100 (request_carbon/, in the order of the
 * prompts), Llama-2-13B-chat's answer at each level (responses/<ds>/, keyed
 * by the prompt's text) and the level a GPT-4 judge preferred
 * (quality_summary_2000.json, keyed by the prompt's text). This reader
 * loads them and joins the labels to the prompts; what a module builds from
 * them is its own (the simulator's datasets in sim/sprout.h, its length
 * pool in sim/workload.h, the replay backend's recordings in
 * server/replay_data.h). Read-only after loading. */
#ifndef ECO_ARTIFACT_ARTIFACT_H
#define ECO_ARTIFACT_ARTIFACT_H

#include "util/status.h"

#include <stddef.h>

#define ECO_ARTIFACT_NDS 6 /* datasets */
#define ECO_ARTIFACT_NLV 3 /* directive levels: none, "briefly", "very briefly" */

typedef struct eco_artifact_ds {
  const char *name;                     /* "alpaca", "math", "mmlu", ... */
  size_t n;                             /* prompts, in the order of prompts/ */
  const char **prompt;                  /* [n] text of the first message, NULL where none */
  size_t *prompt_bytes;                 /* [n] bytes of the content of all its messages */
  double *energy_kwh[ECO_ARTIFACT_NLV]; /* [n] kWh per request at each level, measured */
  double *time_s[ECO_ARTIFACT_NLV];     /* [n] s per request at each level, measured */
  size_t n_lab;                         /* distinct prompts with a judge label */
  size_t *lab_pos;                /* [n_lab] their positions in prompt[], in order of first label */
  int *lab_level;                 /* [n_lab] the preferred level (of several labels, the last) */
  size_t n_ans[ECO_ARTIFACT_NLV]; /* recorded answers (ECO_ARTIFACT_ANSWERS) */
  const char **ans_prompt[ECO_ARTIFACT_NLV]; /* [n_ans] the instruction, NULL where none */
  const char **ans_text[ECO_ARTIFACT_NLV];   /* [n_ans] the answer, NULL where none */
} eco_artifact_ds;

typedef struct eco_artifact_docs eco_artifact_docs;

typedef struct eco_artifact {
  eco_artifact_ds ds[ECO_ARTIFACT_NDS];
  eco_artifact_docs *docs; /* the documents the strings point into */
} eco_artifact;

enum { ECO_ARTIFACT_ANSWERS = 1 }; /* what: also load responses/ */

/* Loads the artifact from dir: prompts, costs and labels, and with
 * ECO_ARTIFACT_ANSWERS the recorded answers. Every cost list must have one
 * number per prompt. ECO_ENOMEM, or ECO_EFORMAT naming the file. The
 * arrays are malloc'd: a caller may take one (and set the field to NULL)
 * before eco_artifact_free. */
int eco_artifact_load(const char *dir, unsigned what, eco_artifact *a, eco_error *err);
/* Loads one dataset's prompts and costs by its file name, any name (e.g.
 * "alpaca_5000": prompts/prompt_alpaca_5000.json and
 * request_carbon/alpaca_5000_<level variant>.json), into a->ds[0] (whose
 * name is then file); the other datasets stay empty, without labels or
 * answers. Same checks and errors as eco_artifact_load; ECO_EINVAL for a
 * name too long for a path. Free with eco_artifact_free. */
int eco_artifact_load_dataset(const char *dir, const char *file, eco_artifact *a, eco_error *err);
void eco_artifact_free(eco_artifact *a);

/* The first position of prompt text (exact, len bytes) in dataset k, or -1. */
long eco_artifact_find(const eco_artifact *a, int k, const char *text, size_t len);

#endif
