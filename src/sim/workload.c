/* ecoinfer simulator: workload and zone inputs from files (see workload.h). */
#include "sim/workload.h"

#include "artifact/artifact.h"
#include "carbon/intensity.h"
#include "util/fs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CSV_BYTES (512u * 1024u * 1024u)

static int grow(eco_sim_len **lens, size_t n_new, eco_error *err) {
  eco_sim_len *nl = realloc(*lens, (n_new ? n_new : 1) * sizeof *nl);
  if (!nl) return eco_error_set(err, ECO_ENOMEM, "sim: out of memory for %zu lengths", n_new);
  *lens = nl;
  return 0;
}

static uint32_t tok(double v) {
  if (!(v >= 1)) return 1;
  if (v > 1e9) return 1000000000u;
  return (uint32_t)llround(v);
}

int eco_sim_lens_load_sprout(const char *dir, const char *dataset, double decode_tok_s,
                             eco_sim_len **lens, size_t *n, eco_error *err) {
  if (!(decode_tok_s > 0))
    return eco_error_set(err, ECO_EINVAL, "sim: sprout decode_tok_s must be > 0");
  eco_artifact a;
  int rc = eco_artifact_load_dataset(dir, dataset, &a, err);
  if (rc) return rc;
  const eco_artifact_ds *ds = &a.ds[0];
  if ((rc = grow(lens, *n + ds->n, err))) goto fail;
  for (size_t i = 0; i < ds->n; i++) {
    eco_sim_len *L = &(*lens)[*n + i];
    memset(L, 0, sizeof *L);
    L->prompt_tok = tok(ceil((double)ds->prompt_bytes[i] / 4.0)); /* ~4 bytes a token */
    for (int v = 0; v < ECO_ARTIFACT_NLV; v++)
      L->out_tok[v] = tok(ds->time_s[v][i] * decode_tok_s);
  }
  *n += ds->n;
fail:
  eco_artifact_free(&a);
  return rc;
}

/* Splits a CSV line in place; returns the number of fields (<= max). */
static size_t split(char *line, char **f, size_t max) {
  size_t k = 0;
  char *p = line;
  while (k < max) {
    f[k++] = p;
    char *c = strchr(p, ',');
    if (!c) break;
    *c = 0;
    p = c + 1;
  }
  return k;
}

static int num(const char *s, double *v) {
  char *end;
  *v = strtod(s, &end);
  while (*end == ' ' || *end == '\r' || *end == '\t')
    end++;
  return end != s && *end == 0 && isfinite(*v) ? 0 : -1;
}

typedef int (*row_fn)(void *ctx, size_t row, char **f, size_t nf, eco_error *err);

static int each_row(const char *path, row_fn fn, void *ctx, eco_error *err) {
  char *text = NULL;
  size_t len = 0;
  int rc = eco_fs_read_all(path, MAX_CSV_BYTES, &text, &len, err);
  if (rc) return rc;
  char *save = NULL;
  size_t row = 0;
  bool header = true;
  for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    row++;
    size_t l = strlen(line);
    if (l && line[l - 1] == '\r') line[l - 1] = 0;
    if (!line[0] || line[0] == '#') continue;
    if (header) {
      header = false;
      continue;
    }
    char *f[8];
    size_t nf = split(line, f, 8);
    if ((rc = fn(ctx, row, f, nf, err))) {
      eco_error_prefix(err, "%s", path);
      break;
    }
  }
  free(text);
  return rc;
}

typedef struct lens_ctx {
  eco_sim_len **lens;
  size_t *n;
  size_t cap;
} lens_ctx;

static int lens_row(void *vctx, size_t row, char **f, size_t nf, eco_error *err) {
  lens_ctx *c = vctx;
  if (nf < 2)
    return eco_error_set(err, ECO_EFORMAT, "line %zu: need prompt_tokens,output_tokens", row);
  eco_sim_len L;
  memset(&L, 0, sizeof L);
  for (size_t k = 0; k < nf && k < 1 + ECO_SIM_MAX_LEVELS; k++) {
    double v;
    if (num(f[k], &v) || v < 0 || v > 1e9)
      return eco_error_set(err, ECO_EFORMAT, "line %zu: field %zu is not a token count", row,
                           k + 1);
    if (k == 0)
      L.prompt_tok = tok(v);
    else
      L.out_tok[k - 1] = tok(v);
  }
  if (*c->n == c->cap) {
    c->cap = c->cap ? c->cap * 2 : 1024;
    int rc = grow(c->lens, c->cap, err);
    if (rc) return rc;
  }
  (*c->lens)[(*c->n)++] = L;
  return 0;
}

int eco_sim_lens_load_csv(const char *path, eco_sim_len **lens, size_t *n, eco_error *err) {
  lens_ctx c = {.lens = lens, .n = n, .cap = *n};
  return each_row(path, lens_row, &c, err);
}

typedef struct trace_ctx {
  double *t;
  eco_sim_len *l;
  size_t n, cap;
  int with_len; /* -1 unknown */
} trace_ctx;

static int trace_row(void *vctx, size_t row, char **f, size_t nf, eco_error *err) {
  trace_ctx *c = vctx;
  double t;
  if (num(f[0], &t) || t < 0)
    return eco_error_set(err, ECO_EFORMAT, "line %zu: time_s must be a number >= 0", row);
  if (c->n > 0 && t < c->t[c->n - 1])
    return eco_error_set(err, ECO_EFORMAT, "line %zu: timestamps must not decrease", row);
  int wl = nf >= 3;
  if (c->with_len < 0) c->with_len = wl;
  if (c->with_len != wl)
    return eco_error_set(err, ECO_EFORMAT, "line %zu: every row needs the same columns", row);
  if (c->n == c->cap) {
    size_t nc = c->cap ? c->cap * 2 : 1024;
    double *nt = realloc(c->t, nc * sizeof *nt);
    if (!nt) return ECO_ENOMEM;
    c->t = nt;
    eco_sim_len *nl = realloc(c->l, nc * sizeof *nl);
    if (!nl) return ECO_ENOMEM;
    c->l = nl;
    c->cap = nc;
  }
  memset(&c->l[c->n], 0, sizeof c->l[c->n]);
  if (wl) {
    double p, o;
    if (num(f[1], &p) || num(f[2], &o) || p < 0 || o < 0)
      return eco_error_set(err, ECO_EFORMAT, "line %zu: bad token counts", row);
    c->l[c->n].prompt_tok = tok(p);
    c->l[c->n].out_tok[0] = tok(o);
  }
  c->t[c->n++] = t;
  return 0;
}

int eco_sim_trace_load_csv(const char *path, double **times, eco_sim_len **lens, size_t *n,
                           eco_error *err) {
  trace_ctx c = {.with_len = -1};
  int rc = each_row(path, trace_row, &c, err);
  if (rc || c.n == 0) {
    free(c.t);
    free(c.l);
    if (!rc) rc = eco_error_set(err, ECO_EFORMAT, "%s: no arrivals", path);
    return rc;
  }
  *times = c.t;
  if (c.with_len == 1) {
    *lens = c.l;
  } else {
    free(c.l);
    *lens = NULL;
  }
  *n = c.n;
  return 0;
}

int eco_sim_zone_hourly(const char *trace_path, const char *zone, double start_s, size_t n_hours,
                        double **ci, eco_error *err) {
  eco_trace_opts o;
  eco_trace_opts_default(&o);
  o.loop = true;
  eco_intensity_provider *p = NULL;
  double *v = NULL;
  int rc = eco_intensity_trace_new(&o, &p, err);
  if (rc) return rc;
  if (eco_fs_is_dir(trace_path))
    rc = eco_intensity_trace_add_dir(p, trace_path, err);
  else
    rc = eco_intensity_trace_add_file(p, trace_path, zone, NULL, err);
  if (rc) goto fail;
  double first = 0, end = 0;
  if ((rc = eco_intensity_trace_span(p, zone, &first, &end))) {
    eco_error_set(err, rc, "%s: no zone '%s' in the trace", trace_path, zone);
    goto fail;
  }
  if (start_s <= 0) start_s = first;
  v = malloc((n_hours ? n_hours : 1) * sizeof *v);
  if (!v) {
    rc = eco_error_set(err, ECO_ENOMEM, "sim: out of memory");
    goto fail;
  }
  for (size_t h = 0; h < n_hours; h++) {
    eco_intensity x;
    if ((rc = eco_intensity_get(p, zone, start_s + (double)h * 3600.0, &x, err))) goto fail;
    v[h] = x.gco2_kwh;
  }
  *ci = v;
  v = NULL;
fail:
  free(v);
  eco_intensity_free(p);
  return rc;
}
