/* The simulator's view of the Sprout artifact (read by artifact/artifact.h),
 * the PAI trace and an Electricity Maps hourly CSV (direct intensity
 * column). */
#include "sim/sprout.h"

#include "artifact/artifact.h"
#include "carbon/intensity.h"
#include "directive/dtrain.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(ECO_SPROUT_NDS == ECO_ARTIFACT_NDS && ECO_SPROUT_NLV == ECO_ARTIFACT_NLV,
               "the simulator's datasets and levels are the artifact's");

/* Dataset k of the artifact (artifact/artifact.h): its measured costs and
 * judge labels taken over, its prompt texts copied. */
static int take_dataset(eco_artifact *a, int k, eco_sprout_dataset *ds, eco_error *err) {
  eco_artifact_ds *src = &a->ds[k];
  snprintf(ds->name, sizeof ds->name, "%s", src->name);
  ds->n = src->n;
  for (int l = 0; l < ECO_SPROUT_NLV; l++) {
    ds->energy[l] = src->energy_kwh[l];
    ds->time[l] = src->time_s[l];
    src->energy_kwh[l] = src->time_s[l] = NULL;
  }
  ds->n_lab = src->n_lab;
  ds->lab_idx = src->lab_pos;
  ds->lab_level = src->lab_level;
  src->lab_pos = NULL;
  src->lab_level = NULL;
  if (ds->n_lab == 0)
    return eco_error_set(err, ECO_EFORMAT, "%s: no labelled prompt matches", src->name);
  ds->chars = calloc(ds->n, sizeof *ds->chars);
  ds->text = calloc(ds->n, sizeof *ds->text);
  if (!ds->chars || !ds->text) return eco_error_set(err, ECO_ENOMEM, "out of memory");
  for (size_t i = 0; i < ds->n; i++) {
    const char *c = src->prompt[i];
    if (!c) return eco_error_set(err, ECO_EFORMAT, "%s: prompt %zu has no content", src->name, i);
    ds->chars[i] = strlen(c);
    if (!(ds->text[i] = strdup(c))) return eco_error_set(err, ECO_ENOMEM, "out of memory");
  }
  return 0;
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
  eco_artifact a;
  int rc = eco_artifact_load(dir, 0, &a, err);
  if (rc) return rc;
  for (int k = 0; k < ECO_SPROUT_NDS && !rc; k++)
    rc = take_dataset(&a, k, &d->ds[k], err);
  eco_artifact_free(&a);
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
