/* Loading the Sprout artifact's recordings (see replay_data.h). */
#include "server/replay_data.h"

#include "artifact/artifact.h"
#include "directive/judge.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NDS ECO_ARTIFACT_NDS
#define NLV ECO_REPLAY_LEVELS

_Static_assert(ECO_REPLAY_LEVELS == ECO_ARTIFACT_NLV, "the replay's levels are the artifact's");

struct eco_replay_data {
  eco_replay_item *items; /* [n] */
  size_t n, cap;
  json_t *index;    /* prompt text -> item index */
  eco_artifact art; /* what the item strings point into */
};

static eco_replay_item *item_for(eco_replay_data *d, const char *prompt, int k, bool *fresh) {
  json_t *ix = json_object_get(d->index, prompt);
  *fresh = false;
  if (ix) return &d->items[json_integer_value(ix)];
  if (d->n == d->cap) {
    size_t cap = d->cap ? d->cap * 2 : 4096;
    eco_replay_item *ni = realloc(d->items, cap * sizeof *ni);
    if (!ni) return NULL;
    d->items = ni, d->cap = cap;
  }
  eco_replay_item *it = &d->items[d->n];
  memset(it, 0, sizeof *it);
  it->dataset = d->art.ds[k].name;
  it->prompt = prompt;
  it->label = -1;
  for (int l = 0; l < NLV; l++)
    it->energy_kwh[l] = it->time_s[l] = -1;
  if (json_object_set_new(d->index, prompt, json_integer((long)d->n))) return NULL;
  d->n++;
  *fresh = true;
  return it;
}

/* Dataset k's recorded answers joined to their prompts' measurements. */
static int join_answers(eco_replay_data *d, int k, eco_error *err) {
  const eco_artifact_ds *ds = &d->art.ds[k];
  for (int l = 0; l < NLV; l++) {
    for (size_t i = 0; i < ds->n_ans[l]; i++) {
      const char *ins = ds->ans_prompt[l][i], *out = ds->ans_text[l][i];
      long p = ins ? eco_artifact_find(&d->art, k, ins, strlen(ins)) : -1;
      if (!ins || !out || p < 0) continue; /* not joinable to a measurement: skipped */
      bool fresh;
      eco_replay_item *it = item_for(d, ins, k, &fresh);
      if (!it) return eco_error_set(err, ECO_ENOMEM, "out of memory");
      if (strcmp(it->dataset, ds->name) != 0) continue; /* same text in two datasets */
      it->answer[l] = out;
      it->energy_kwh[l] = ds->energy_kwh[l][p];
      it->time_s[l] = ds->time_s[l][p];
    }
  }
  return 0;
}

static void join_labels(eco_replay_data *d) {
  for (int k = 0; k < NDS; k++) {
    const eco_artifact_ds *ds = &d->art.ds[k];
    for (size_t j = 0; j < ds->n_lab; j++) {
      json_t *ix = json_object_get(d->index, ds->prompt[ds->lab_pos[j]]);
      if (ix) d->items[json_integer_value(ix)].label = ds->lab_level[j];
    }
  }
}

/* keeps the items with an answer at every level, rebuilding the index */
static int compact(eco_replay_data *d) {
  size_t w = 0;
  json_object_clear(d->index);
  for (size_t i = 0; i < d->n; i++) {
    eco_replay_item *it = &d->items[i];
    bool full = true;
    for (int l = 0; l < NLV; l++)
      full &= it->answer[l] != NULL;
    if (!full) continue;
    d->items[w] = *it;
    if (json_object_set_new(d->index, it->prompt, json_integer((long)w))) return ECO_ENOMEM;
    w++;
  }
  d->n = w;
  return 0;
}

int eco_replay_data_load(const char *dir, eco_replay_data **out, eco_error *err) {
  eco_replay_data *d = calloc(1, sizeof *d);
  if (!d || !dir) {
    free(d);
    return eco_error_set(err, d ? ECO_EINVAL : ECO_ENOMEM, "replay: no data directory");
  }
  d->index = json_object();
  int rc = d->index ? 0 : eco_error_set(err, ECO_ENOMEM, "out of memory");
  if (!rc) rc = eco_artifact_load(dir, ECO_ARTIFACT_ANSWERS, &d->art, err);
  for (int k = 0; k < NDS && !rc; k++)
    rc = join_answers(d, k, err);
  if (!rc && compact(d)) rc = eco_error_set(err, ECO_ENOMEM, "out of memory");
  if (!rc) join_labels(d);
  if (!rc && d->n == 0) rc = eco_error_set(err, ECO_EFORMAT, "%s: no recorded answers", dir);
  if (rc) {
    eco_replay_data_free(d);
    return rc;
  }
  *out = d;
  return 0;
}

void eco_replay_data_free(eco_replay_data *d) {
  if (!d) return;
  free(d->items);
  json_decref(d->index);
  eco_artifact_free(&d->art);
  free(d);
}

size_t eco_replay_data_count(const eco_replay_data *d) { return d ? d->n : 0; }

const eco_replay_item *eco_replay_find(const eco_replay_data *d, const char *prompt, size_t len) {
  if (!d || !prompt) return NULL;
  json_t *ix = json_object_getn(d->index, prompt, len);
  return ix ? &d->items[json_integer_value(ix)] : NULL;
}

int eco_replay_answer_level(const eco_replay_item *it, const char *text, size_t len) {
  for (int l = 0; it && l < NLV; l++)
    if (strlen(it->answer[l]) == len && memcmp(it->answer[l], text, len) == 0) return l;
  return -1;
}

int eco_replay_judge(const eco_replay_data *d, const char *judge_prompt, char *out, size_t cap) {
  const char *in, *a, *b;
  size_t in_n, a_n, b_n;
  const char *why = "No decision: this is not a pairwise judge prompt.";
  int pick = -1;
  if (eco_judge_pair_parse(judge_prompt, &in, &in_n, &a, &a_n, &b, &b_n) == 0) {
    const eco_replay_item *it = eco_replay_find(d, in, in_n);
    int la = eco_replay_answer_level(it, a, a_n), lb = eco_replay_answer_level(it, b, b_n);
    if (!it)
      why = "No decision: the instruction is not one of the recorded prompts.";
    else if (la < 0 || lb < 0)
      why = "No decision: an output is not one of the recorded answers.";
    else if (it->label < 0)
      why = "No decision: the recorded judge gave no label for this prompt.";
    else {
      int c = it->label, da = abs(la - c), db = abs(lb - c);
      pick = da < db || (da == db && la <= lb) ? 0 : 1;
    }
  }
  snprintf(out, cap, "%s", pick == 0 ? "Output (a)" : pick == 1 ? "Output (b)" : why);
  return pick;
}
