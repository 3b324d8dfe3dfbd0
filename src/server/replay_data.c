/* Loading the Sprout artifact's recordings (see replay_data.h). */
#include "server/replay_data.h"

#include "directive/judge.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NDS 6
#define NLV ECO_REPLAY_LEVELS

static const char *const ds_names[NDS] = {"alpaca",    "math",     "mmlu",
                                          "naturalqa", "triviaqa", "scienceqa"};
static const char *const ds_files[NDS] = {"alpaca_5000",    "math_all",      "mmlu_5000",
                                          "naturalqa_5000", "triviaqa_5000", "scienceqa_5000"};
static const char *const carbon_variant[NLV] = {"13b-chat", "brief_13b-chat", "brief+_13b-chat"};
static const char *const answer_variant[NLV] = {"13b", "brief_13b", "brief+_13b"};

struct eco_replay_data {
  eco_replay_item *items; /* [n] */
  size_t n, cap;
  json_t *index; /* prompt text -> item index */
  json_t *keep;  /* the JSON documents the item strings point into */
};

static json_t *load_json(const char *dir, const char *rel, eco_error *err) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  json_error_t je;
  json_t *j = json_load_file(path, 0, &je);
  if (!j) eco_error_set(err, ECO_EFORMAT, "%s: %s (line %d)", path, je.text, je.line);
  return j;
}

static int read_list(json_t *obj, const char *key, size_t n, double *out, const char *what,
                     eco_error *err) {
  json_t *a = json_object_get(obj, key);
  if (!json_is_array(a) || json_array_size(a) != n)
    return eco_error_set(err, ECO_EFORMAT, "%s: '%s' is not a list of %zu numbers", what, key, n);
  for (size_t i = 0; i < n; i++) {
    json_t *v = json_array_get(a, i);
    if (!json_is_number(v))
      return eco_error_set(err, ECO_EFORMAT, "%s: '%s'[%zu] is not a number", what, key, i);
    out[i] = json_number_value(v);
  }
  return 0;
}

/* per dataset while loading: prompt position -> energy and time per level */
typedef struct ds_cost {
  size_t n;
  double *e[NLV], *t[NLV];
  json_t *pos; /* prompt text -> position in prompts/ */
} ds_cost;

static void ds_cost_free(ds_cost *c) {
  for (int l = 0; l < NLV; l++)
    free(c->e[l]), free(c->t[l]);
  json_decref(c->pos);
}

static int load_costs(const char *dir, int k, ds_cost *c, eco_error *err) {
  char rel[256];
  snprintf(rel, sizeof rel, "prompts/prompt_%s.json", ds_files[k]);
  json_t *pr = load_json(dir, rel, err);
  if (!pr) return ECO_EFORMAT;
  int rc = 0;
  c->n = json_array_size(pr);
  c->pos = json_object();
  if (!json_is_array(pr) || !c->n || !c->pos) {
    rc = eco_error_set(err, ECO_EFORMAT, "%s: not a list of prompts", rel);
    goto out;
  }
  for (size_t i = 0; i < c->n; i++) {
    const char *t =
        json_string_value(json_object_get(json_array_get(json_array_get(pr, i), 0), "content"));
    if (t && !json_object_get(c->pos, t)) json_object_set_new(c->pos, t, json_integer((long)i));
  }
  for (int l = 0; l < NLV && !rc; l++) {
    snprintf(rel, sizeof rel, "request_carbon/%s_%s.json", ds_files[k], carbon_variant[l]);
    json_t *j = load_json(dir, rel, err);
    c->e[l] = malloc(c->n * sizeof *c->e[l]);
    c->t[l] = malloc(c->n * sizeof *c->t[l]);
    if (!j)
      rc = ECO_EFORMAT;
    else if (!c->e[l] || !c->t[l])
      rc = eco_error_set(err, ECO_ENOMEM, "out of memory");
    else if (!(rc = read_list(j, "energy", c->n, c->e[l], rel, err)))
      rc = read_list(j, "time", c->n, c->t[l], rel, err);
    json_decref(j);
  }
out:
  json_decref(pr);
  return rc;
}

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
  it->dataset = ds_names[k];
  it->prompt = prompt;
  it->label = -1;
  for (int l = 0; l < NLV; l++)
    it->energy_kwh[l] = it->time_s[l] = -1;
  if (json_object_set_new(d->index, prompt, json_integer((long)d->n))) return NULL;
  d->n++;
  *fresh = true;
  return it;
}

static int load_answers(eco_replay_data *d, const char *dir, int k, const ds_cost *c,
                        eco_error *err) {
  for (int l = 0; l < NLV; l++) {
    char rel[256];
    snprintf(rel, sizeof rel, "responses/%s/%s_%s.json", ds_names[k], ds_files[k],
             answer_variant[l]);
    json_t *a = load_json(dir, rel, err);
    if (!a) return ECO_EFORMAT;
    if (!json_is_array(a) || json_array_append_new(d->keep, a)) {
      json_decref(a);
      return eco_error_set(err, ECO_EFORMAT, "%s: not a list of answers", rel);
    }
    for (size_t i = 0; i < json_array_size(a); i++) {
      json_t *e = json_array_get(a, i);
      const char *ins = json_string_value(json_object_get(e, "instruction"));
      const char *out = json_string_value(json_object_get(e, "output"));
      json_t *pos = ins ? json_object_get(c->pos, ins) : NULL;
      if (!ins || !out || !pos) continue; /* not joinable to a measurement: skipped */
      bool fresh;
      eco_replay_item *it = item_for(d, ins, k, &fresh);
      if (!it) return eco_error_set(err, ECO_ENOMEM, "out of memory");
      if (strcmp(it->dataset, ds_names[k]) != 0) continue; /* same text in two datasets */
      size_t p = (size_t)json_integer_value(pos);
      it->answer[l] = out;
      it->energy_kwh[l] = c->e[l][p];
      it->time_s[l] = c->t[l][p];
    }
  }
  return 0;
}

static void load_labels(eco_replay_data *d, json_t *q) {
  for (int k = 0; k < NDS; k++) {
    json_t *lab = json_object_get(q, ds_names[k]);
    for (size_t i = 0; i < json_array_size(lab); i++) {
      json_t *e = json_array_get(lab, i);
      const char *ins = json_string_value(json_object_get(e, "instruction"));
      json_t *lv = json_object_get(e, "assistance_lvl");
      json_t *ix = ins ? json_object_get(d->index, ins) : NULL;
      if (!ix || !json_is_integer(lv) || json_integer_value(lv) < 0 ||
          json_integer_value(lv) >= NLV)
        continue;
      d->items[json_integer_value(ix)].label = (int)json_integer_value(lv); /* last wins */
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
  d->keep = json_array();
  int rc = d->index && d->keep ? 0 : eco_error_set(err, ECO_ENOMEM, "out of memory");
  for (int k = 0; k < NDS && !rc; k++) {
    ds_cost c = {0};
    rc = load_costs(dir, k, &c, err);
    if (!rc) rc = load_answers(d, dir, k, &c, err);
    ds_cost_free(&c);
  }
  json_t *q = rc ? NULL : load_json(dir, "quality_summary_2000.json", err);
  if (!rc && !q) rc = ECO_EFORMAT;
  if (!rc) {
    /* labels index the same prompt strings: keep that document too */
    if (compact(d) || json_array_append(d->keep, q))
      rc = eco_error_set(err, ECO_ENOMEM, "out of memory");
    else
      load_labels(d, q);
  }
  json_decref(q);
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
  json_decref(d->keep);
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
