/* Loading the Sprout artifact's data files (jansson) and an Electricity Maps
 * hourly CSV (direct intensity column). */
#include "sim/sprout.h"

#include "carbon/intensity.h"
#include "directive/dtrain.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const ds_names[ECO_SPROUT_NDS] = {"alpaca",    "math",     "mmlu",
                                                     "naturalqa", "triviaqa", "scienceqa"};
static const char *const ds_files[ECO_SPROUT_NDS] = {
    "alpaca_5000", "math_all", "mmlu_5000", "naturalqa_5000", "triviaqa_5000", "scienceqa_5000"};
static const char *const lv_variant[ECO_SPROUT_NLV] = {"13b-chat", "brief_13b-chat",
                                                       "brief+_13b-chat"};

static json_t *load_json(const char *dir, const char *rel, eco_error *err) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  json_error_t je;
  json_t *j = json_load_file(path, 0, &je);
  if (!j) eco_error_set(err, ECO_EFORMAT, "%s: %s (line %d)", path, je.text, je.line);
  return j;
}

static int read_array(json_t *obj, const char *key, double **out, size_t *n, const char *what,
                      eco_error *err) {
  json_t *a = json_object_get(obj, key);
  if (!json_is_array(a)) return eco_error_set(err, ECO_EFORMAT, "%s: no '%s' list", what, key);
  size_t len = json_array_size(a);
  if (*n && len != *n)
    return eco_error_set(err, ECO_EFORMAT, "%s: '%s' has %zu entries, expected %zu", what, key, len,
                         *n);
  *n = len;
  *out = malloc((len ? len : 1) * sizeof **out);
  if (!*out) return eco_error_set(err, ECO_ENOMEM, "out of memory");
  for (size_t i = 0; i < len; i++) {
    json_t *v = json_array_get(a, i);
    if (!json_is_number(v))
      return eco_error_set(err, ECO_EFORMAT, "%s: '%s'[%zu] not a number", what, key, i);
    (*out)[i] = json_number_value(v);
  }
  return 0;
}

static int load_dataset(const char *dir, int k, json_t *quality, eco_sprout_dataset *ds,
                        eco_error *err) {
  int rc = 0;
  json_t *pr = NULL, *map = NULL;
  snprintf(ds->name, sizeof ds->name, "%s", ds_names[k]);
  for (int l = 0; l < ECO_SPROUT_NLV; l++) {
    char rel[256];
    snprintf(rel, sizeof rel, "request_carbon/%s_%s.json", ds_files[k], lv_variant[l]);
    json_t *j = load_json(dir, rel, err);
    if (!j) return ECO_EFORMAT;
    rc = read_array(j, "energy", &ds->energy[l], &ds->n, rel, err);
    if (!rc) rc = read_array(j, "time", &ds->time[l], &ds->n, rel, err);
    json_decref(j);
    if (rc) return rc;
  }
  char rel[256];
  snprintf(rel, sizeof rel, "prompts/prompt_%s.json", ds_files[k]);
  pr = load_json(dir, rel, err);
  if (!pr) return ECO_EFORMAT;
  if (!json_is_array(pr) || json_array_size(pr) != ds->n) {
    rc = eco_error_set(err, ECO_EFORMAT, "%s: expected a list of %zu prompts", rel, ds->n);
    goto fail;
  }
  ds->chars = calloc(ds->n ? ds->n : 1, sizeof *ds->chars);
  ds->text = calloc(ds->n ? ds->n : 1, sizeof *ds->text);
  map = json_object();
  if (!ds->chars || !ds->text || !map) {
    rc = eco_error_set(err, ECO_ENOMEM, "out of memory");
    goto fail;
  }
  for (size_t i = 0; i < ds->n; i++) {
    json_t *msgs = json_array_get(pr, i);
    json_t *m0 = json_array_get(msgs, 0);
    const char *c = json_string_value(json_object_get(m0, "content"));
    if (!c) {
      rc = eco_error_set(err, ECO_EFORMAT, "%s: prompt %zu has no content", rel, i);
      goto fail;
    }
    ds->chars[i] = strlen(c);
    if (!(ds->text[i] = strdup(c))) {
      rc = eco_error_set(err, ECO_ENOMEM, "out of memory");
      goto fail;
    }
    if (!json_object_get(map, c)) json_object_set_new(map, c, json_integer((json_int_t)i));
  }
  json_t *lab = json_object_get(quality, ds_names[k]);
  if (!json_is_array(lab)) {
    rc = eco_error_set(err, ECO_EFORMAT, "quality_summary_2000.json: no '%s'", ds_names[k]);
    goto fail;
  }
  size_t nl = json_array_size(lab);
  ds->lab_idx = malloc((nl ? nl : 1) * sizeof *ds->lab_idx);
  ds->lab_level = malloc((nl ? nl : 1) * sizeof *ds->lab_level);
  if (!ds->lab_idx || !ds->lab_level) {
    rc = eco_error_set(err, ECO_ENOMEM, "out of memory");
    goto fail;
  }
  for (size_t i = 0; i < nl; i++) {
    json_t *it = json_array_get(lab, i);
    const char *ins = json_string_value(json_object_get(it, "instruction"));
    json_t *lv = json_object_get(it, "assistance_lvl");
    json_t *idx = ins ? json_object_get(map, ins) : NULL;
    if (!idx || !json_is_integer(lv) || json_integer_value(lv) < 0 ||
        json_integer_value(lv) >= ECO_SPROUT_NLV)
      continue; /* unknown prompt or bad label: skipped */
    /* as the artifact's {instruction: level} dict: one entry per distinct
     * prompt, the last label wins */
    size_t pi = (size_t)json_integer_value(idx), at = ds->n_lab;
    for (size_t j = 0; j < ds->n_lab; j++)
      if (ds->lab_idx[j] == pi) at = j;
    ds->lab_idx[at] = pi;
    ds->lab_level[at] = (int)json_integer_value(lv);
    if (at == ds->n_lab) ds->n_lab++;
  }
  if (ds->n_lab == 0)
    rc = eco_error_set(err, ECO_EFORMAT, "%s: no labelled prompt matches", ds_names[k]);
fail:
  json_decref(pr);
  json_decref(map);
  return rc;
}

static int load_pai(const char *dir, eco_sprout_data *d, eco_error *err) {
  char path[1024];
  snprintf(path, sizeof path, "%s/pai.csv", dir);
  FILE *f = fopen(path, "r");
  if (!f) return eco_error_set(err, ECO_ENOENT, "%s: cannot open", path);
  char line[512];
  size_t cap = 2048;
  d->pai = malloc(cap * sizeof *d->pai);
  if (!d->pai) {
    fclose(f);
    return eco_error_set(err, ECO_ENOMEM, "out of memory");
  }
  int col = -1, rc = 0;
  while (fgets(line, sizeof line, f)) {
    char *save = NULL, *tok;
    int c = 0;
    if (col < 0) { /* header */
      for (char *p = line; (tok = strsep(&p, ",\r\n")); c++)
        if (strcmp(tok, "job_name") == 0) col = c;
      if (col < 0) {
        rc = eco_error_set(err, ECO_EFORMAT, "%s: no job_name column", path);
        break;
      }
      continue;
    }
    (void)save;
    double v = -1;
    for (char *p = line; (tok = strsep(&p, ",\r\n")); c++)
      if (c == col) v = strtod(tok, NULL);
    if (v < 0) continue;
    if (d->n_pai == cap) {
      cap *= 2;
      double *nv = realloc(d->pai, cap * sizeof *nv);
      if (!nv) {
        rc = eco_error_set(err, ECO_ENOMEM, "out of memory");
        break;
      }
      d->pai = nv;
    }
    d->pai[d->n_pai++] = v;
  }
  fclose(f);
  if (!rc && d->n_pai < 64) rc = eco_error_set(err, ECO_EFORMAT, "%s: too few rows", path);
  return rc;
}

int eco_sprout_data_load(const char *dir, eco_sprout_data *d, eco_error *err) {
  memset(d, 0, sizeof *d);
  json_t *quality = load_json(dir, "quality_summary_2000.json", err);
  if (!quality) return ECO_EFORMAT;
  int rc = 0;
  for (int k = 0; k < ECO_SPROUT_NDS && !rc; k++)
    rc = load_dataset(dir, k, quality, &d->ds[k], err);
  json_decref(quality);
  if (!rc) rc = load_pai(dir, d, err);
  if (rc) eco_sprout_data_free(d);
  return rc;
}

void eco_sprout_data_free(eco_sprout_data *d) {
  if (!d) return;
  for (int k = 0; k < ECO_SPROUT_NDS; k++) {
    eco_sprout_dataset *ds = &d->ds[k];
    for (int l = 0; l < ECO_SPROUT_NLV; l++) {
      free(ds->energy[l]);
      free(ds->time[l]);
    }
    free(ds->chars);
    for (size_t i = 0; ds->text && i < ds->n; i++)
      free(ds->text[i]);
    free(ds->text);
    free(ds->lab_idx);
    free(ds->lab_level);
  }
  free(d->pai);
  memset(d, 0, sizeof *d);
}

int eco_sprout_trace_load(const char *path, double **ci_out, size_t *n_out, eco_error *err) {
  eco_trace_opts o;
  eco_trace_opts_default(&o);
  o.column = ECO_TRACE_DIRECT; /* the artifact uses the direct column */
  eco_intensity_provider *p = NULL;
  eco_intensity *v = NULL;
  int rc = eco_intensity_trace_new(&o, &p, err);
  if (rc) return rc;
  const char *alias = "sprout-trace";
  double first = 0, end = 0;
  if ((rc = eco_intensity_trace_add_file(p, path, alias, NULL, err)) ||
      (rc = eco_intensity_trace_span(p, alias, &first, &end)))
    goto fail;
  size_t cap = (size_t)((end - first) / 3600.0) + 2;
  v = malloc(cap * sizeof *v);
  double *ci = malloc(cap * sizeof *ci);
  if (!v || !ci) {
    free(ci);
    rc = eco_error_set(err, ECO_ENOMEM, "out of memory");
    goto fail;
  }
  size_t n = cap;
  if ((rc = eco_intensity_forecast(p, alias, first, end, v, &n, err))) {
    free(ci);
    goto fail;
  }
  for (size_t i = 0; i < n; i++)
    ci[i] = v[i].gco2_kwh;
  *ci_out = ci;
  *n_out = n;
fail:
  free(v);
  eco_intensity_free(p);
  return rc;
}

int eco_sprout_to_train(const eco_sprout_data *d, eco_dtrain_set *s, eco_error *err) {
  return eco_sprout_to_train_fold(d, NULL, 0, s, err);
}

int eco_sprout_to_train_fold(const eco_sprout_data *d, unsigned char *const *in_fold,
                             size_t hold_out, eco_dtrain_set *s, eco_error *err) {
  if (!d || !s || s->n_levels != ECO_SPROUT_NLV)
    return eco_error_set(err, ECO_EINVAL, "sprout: a training set of %d levels is needed",
                         ECO_SPROUT_NLV);
  for (int k = 0; k < ECO_SPROUT_NDS; k++) {
    const eco_sprout_dataset *ds = &d->ds[k];
    for (size_t j = 0; j < ds->n_lab; j++) {
      if (in_fold && in_fold[k][j] == hold_out) continue;
      size_t i = ds->lab_idx[j];
      double e[ECO_SPROUT_NLV], t[ECO_SPROUT_NLV];
      for (int l = 0; l < ECO_SPROUT_NLV; l++) {
        e[l] = ds->energy[l][i] * 3.6e6; /* kWh -> J */
        t[l] = ds->time[l][i];
      }
      int rc = eco_dtrain_add(s, ds->text[i], ds->chars[i], ds->name, ds->lab_level[j], e, t, err);
      if (rc) return rc;
    }
  }
  return 0;
}
