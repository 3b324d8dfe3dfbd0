/* Reading the Sprout artifact's data files (see artifact.h). */
#include "artifact/artifact.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NDS ECO_ARTIFACT_NDS
#define NLV ECO_ARTIFACT_NLV

static const char *const ds_names[NDS] = {"alpaca",    "math",     "mmlu",
                                          "naturalqa", "triviaqa", "scienceqa"};
static const char *const ds_files[NDS] = {"alpaca_5000",    "math_all",      "mmlu_5000",
                                          "naturalqa_5000", "triviaqa_5000", "scienceqa_5000"};
static const char *const carbon_variant[NLV] = {"13b-chat", "brief_13b-chat", "brief+_13b-chat"};
static const char *const answer_variant[NLV] = {"13b", "brief_13b", "brief+_13b"};

struct eco_artifact_docs {
  json_t *keep;     /* the documents the strings point into */
  json_t *pos[NDS]; /* per dataset: prompt text -> its first position */
  char *file;       /* eco_artifact_load_dataset's file name (ds[0].name) */
};

static json_t *load_json(const char *dir, const char *rel, eco_error *err) {
  char path[4096];
  if (snprintf(path, sizeof path, "%s/%s", dir, rel) >= (int)sizeof path) {
    eco_error_set(err, ECO_EINVAL, "sprout artifact: path too long: %s/%s", dir, rel);
    return NULL;
  }
  json_error_t je;
  json_t *j = json_load_file(path, 0, &je);
  if (!j && je.line > 0)
    eco_error_set(err, ECO_EFORMAT, "%s: %s (line %d)", path, je.text, je.line);
  else if (!j)
    eco_error_set(err, ECO_EFORMAT, "%s: %s", path, je.text); /* could not read it */
  return j;
}

/* Loads rel into *out and keeps it alive as long as the artifact. */
static int load_kept(eco_artifact *a, const char *dir, const char *rel, json_t **out,
                     eco_error *err) {
  if (!(*out = load_json(dir, rel, err))) return ECO_EFORMAT;
  if (json_array_append_new(a->docs->keep, *out))
    return eco_error_set(err, ECO_ENOMEM, "out of memory");
  return 0;
}

/* obj[key] as n numbers into a malloc'd *out. */
static int read_list(json_t *obj, const char *key, size_t n, double **out, const char *what,
                     eco_error *err) {
  json_t *a = json_object_get(obj, key);
  if (!json_is_array(a) || json_array_size(a) != n)
    return eco_error_set(err, ECO_EFORMAT, "%s: '%s' is not a list of %zu numbers", what, key, n);
  if (!(*out = malloc(n * sizeof **out))) return eco_error_set(err, ECO_ENOMEM, "out of memory");
  for (size_t i = 0; i < n; i++) {
    json_t *v = json_array_get(a, i);
    if (!json_is_number(v))
      return eco_error_set(err, ECO_EFORMAT, "%s: '%s'[%zu] is not a number", what, key, i);
    (*out)[i] = json_number_value(v);
  }
  return 0;
}

/* Bytes of the content of every message of one prompt (a list of
 * {role, content}); 0 for anything else. */
static size_t prompt_bytes(const json_t *msgs) {
  size_t b = 0;
  for (size_t i = 0; json_is_array(msgs) && i < json_array_size(msgs); i++) {
    const json_t *c = json_object_get(json_array_get(msgs, i), "content");
    if (json_is_string(c)) b += json_string_length(c);
  }
  return b;
}

/* prompts/ and request_carbon/ of the dataset named file, into dataset k. */
static int load_prompts_costs(eco_artifact *a, const char *dir, const char *file, int k,
                              eco_error *err) {
  eco_artifact_ds *ds = &a->ds[k];
  char rel[512];
  if (strlen(file) > 256)
    return eco_error_set(err, ECO_EINVAL, "sprout artifact: dataset name too long: %.64s...", file);
  snprintf(rel, sizeof rel, "prompts/prompt_%s.json", file);
  json_t *pr;
  int rc = load_kept(a, dir, rel, &pr, err);
  if (rc) return rc;
  ds->n = json_array_size(pr);
  json_t *pos = a->docs->pos[k] = json_object();
  if (!json_is_array(pr) || !ds->n || !pos)
    return eco_error_set(err, ECO_EFORMAT, "%s: not a list of prompts", rel);
  ds->prompt = calloc(ds->n, sizeof *ds->prompt);
  ds->prompt_bytes = calloc(ds->n, sizeof *ds->prompt_bytes);
  if (!ds->prompt || !ds->prompt_bytes) return eco_error_set(err, ECO_ENOMEM, "out of memory");
  for (size_t i = 0; i < ds->n; i++) {
    const json_t *msgs = json_array_get(pr, i);
    const char *t = json_string_value(json_object_get(json_array_get(msgs, 0), "content"));
    ds->prompt[i] = t;
    ds->prompt_bytes[i] = prompt_bytes(msgs);
    if (t && !json_object_get(pos, t) && json_object_set_new(pos, t, json_integer((long)i)))
      return eco_error_set(err, ECO_ENOMEM, "out of memory");
  }
  for (int l = 0; l < NLV && !rc; l++) {
    snprintf(rel, sizeof rel, "request_carbon/%s_%s.json", file, carbon_variant[l]);
    json_t *j = load_json(dir, rel, err);
    if (!j) return ECO_EFORMAT;
    if (!(rc = read_list(j, "energy", ds->n, &ds->energy_kwh[l], rel, err)))
      rc = read_list(j, "time", ds->n, &ds->time_s[l], rel, err);
    json_decref(j);
  }
  return rc;
}

/* The judge's labels of dataset k: one entry per distinct prompt (as the
 * artifact's {instruction: level} dict), the last label wins; unknown
 * prompts and bad levels are skipped. */
static int load_labels(eco_artifact *a, const json_t *quality, int k, eco_error *err) {
  eco_artifact_ds *ds = &a->ds[k];
  const json_t *lab = json_object_get(quality, ds_names[k]);
  size_t nl = json_array_size(lab);
  ds->lab_pos = calloc(nl ? nl : 1, sizeof *ds->lab_pos); /* zeroed, for clang-tidy's analyzer */
  ds->lab_level = calloc(nl ? nl : 1, sizeof *ds->lab_level);
  if (!ds->lab_pos || !ds->lab_level) return eco_error_set(err, ECO_ENOMEM, "out of memory");
  for (size_t i = 0; i < nl; i++) {
    const json_t *it = json_array_get(lab, i);
    const char *ins = json_string_value(json_object_get(it, "instruction"));
    const json_t *lv = json_object_get(it, "assistance_lvl");
    const json_t *idx = ins ? json_object_get(a->docs->pos[k], ins) : NULL;
    if (!idx || !json_is_integer(lv) || json_integer_value(lv) < 0 || json_integer_value(lv) >= NLV)
      continue;
    size_t pi = (size_t)json_integer_value(idx), at = ds->n_lab;
    for (size_t j = 0; j < ds->n_lab; j++)
      if (ds->lab_pos[j] == pi) at = j;
    ds->lab_pos[at] = pi;
    ds->lab_level[at] = (int)json_integer_value(lv);
    if (at == ds->n_lab) ds->n_lab++;
  }
  return 0;
}

/* responses/ of dataset k: {instruction, output} at each level. */
static int load_answers(eco_artifact *a, const char *dir, int k, eco_error *err) {
  eco_artifact_ds *ds = &a->ds[k];
  for (int l = 0; l < NLV; l++) {
    char rel[256];
    snprintf(rel, sizeof rel, "responses/%s/%s_%s.json", ds_names[k], ds_files[k],
             answer_variant[l]);
    json_t *j;
    int rc = load_kept(a, dir, rel, &j, err);
    if (rc) return rc;
    if (!json_is_array(j)) return eco_error_set(err, ECO_EFORMAT, "%s: not a list of answers", rel);
    size_t n = json_array_size(j);
    ds->ans_prompt[l] = calloc(n ? n : 1, sizeof *ds->ans_prompt[l]);
    ds->ans_text[l] = calloc(n ? n : 1, sizeof *ds->ans_text[l]);
    if (!ds->ans_prompt[l] || !ds->ans_text[l])
      return eco_error_set(err, ECO_ENOMEM, "out of memory");
    ds->n_ans[l] = n;
    for (size_t i = 0; i < n; i++) {
      json_t *e = json_array_get(j, i);
      ds->ans_prompt[l][i] = json_string_value(json_object_get(e, "instruction"));
      ds->ans_text[l][i] = json_string_value(json_object_get(e, "output"));
    }
  }
  return 0;
}

/* Empties a and gives it its documents; 0 or ECO_ENOMEM. */
static int artifact_init(eco_artifact *a, eco_error *err) {
  memset(a, 0, sizeof *a);
  a->docs = calloc(1, sizeof *a->docs);
  if (!a->docs || !(a->docs->keep = json_array())) {
    eco_artifact_free(a);
    return eco_error_set(err, ECO_ENOMEM, "out of memory");
  }
  return 0;
}

int eco_artifact_load(const char *dir, unsigned what, eco_artifact *a, eco_error *err) {
  memset(a, 0, sizeof *a);
  if (!dir) return eco_error_set(err, ECO_EINVAL, "sprout artifact: no data directory");
  int rc = artifact_init(a, err);
  for (int k = 0; k < NDS && !rc; k++) {
    a->ds[k].name = ds_names[k];
    rc = load_prompts_costs(a, dir, ds_files[k], k, err);
    if (!rc && (what & ECO_ARTIFACT_ANSWERS)) rc = load_answers(a, dir, k, err);
  }
  json_t *quality = rc ? NULL : load_json(dir, "quality_summary_2000.json", err);
  if (!rc && !quality) rc = ECO_EFORMAT;
  for (int k = 0; k < NDS && !rc; k++)
    rc = load_labels(a, quality, k, err);
  json_decref(quality);
  if (rc) eco_artifact_free(a);
  return rc;
}

int eco_artifact_load_dataset(const char *dir, const char *file, eco_artifact *a, eco_error *err) {
  memset(a, 0, sizeof *a);
  if (!dir || !file)
    return eco_error_set(err, ECO_EINVAL, "sprout artifact: no data directory or dataset");
  int rc = artifact_init(a, err);
  if (!rc && !(a->docs->file = strdup(file))) rc = eco_error_set(err, ECO_ENOMEM, "out of memory");
  if (!rc) {
    a->ds[0].name = a->docs->file;
    rc = load_prompts_costs(a, dir, file, 0, err);
  }
  if (rc) eco_artifact_free(a);
  return rc;
}

void eco_artifact_free(eco_artifact *a) {
  if (!a) return;
  for (int k = 0; k < NDS; k++) {
    eco_artifact_ds *ds = &a->ds[k];
    free(ds->prompt);
    free(ds->prompt_bytes);
    for (int l = 0; l < NLV; l++) {
      free(ds->energy_kwh[l]);
      free(ds->time_s[l]);
      free(ds->ans_prompt[l]);
      free(ds->ans_text[l]);
    }
    free(ds->lab_pos);
    free(ds->lab_level);
    if (a->docs) json_decref(a->docs->pos[k]);
  }
  if (a->docs) {
    json_decref(a->docs->keep);
    free(a->docs->file);
  }
  free(a->docs);
  memset(a, 0, sizeof *a);
}

long eco_artifact_find(const eco_artifact *a, int k, const char *text, size_t len) {
  if (!a || !a->docs || k < 0 || k >= NDS || !text) return -1;
  json_t *ix = json_object_getn(a->docs->pos[k], text, len);
  return ix ? (long)json_integer_value(ix) : -1;
}
