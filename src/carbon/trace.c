/* ecoinfer: CSV trace replay provider (Electricity Maps hourly exports and
 * simple timestamp,zone,value files). */
#include "carbon/intensity.h"
#include "util/fs.h"
#include "util/timeutil.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TRACE_MAX_FILE_BYTES (256u * 1024u * 1024u)
#define TRACE_MAX_FIELDS     32

typedef struct trace_row {
  double t;       /* period start, epoch s */
  double v;       /* gCO2e/kWh */
  uint16_t file;  /* index into files[] */
  bool estimated; /* the row says it was estimated */
} trace_row;

typedef struct trace_series {
  char zone[ECO_ZONE_MAX];
  char alias[ECO_ZONE_MAX]; /* "" if none */
  trace_row *rows;
  size_t n, cap;
  double last_period_s; /* median row spacing, used for the last row */
} trace_series;

typedef struct trace_provider {
  eco_intensity_provider base;
  eco_trace_opts opts;
  trace_series *series;
  size_t n_series;
  char **files; /* "trace:<base name>", ECO_SOURCE_MAX bytes each */
  size_t n_files;
} trace_provider;

void eco_trace_opts_default(eco_trace_opts *o) {
  memset(o, 0, sizeof *o);
  o->column = ECO_TRACE_DIRECT;
  o->signal = ECO_SIGNAL_AVERAGE;
  o->speed = 1.0;
}

static trace_series *find_series(trace_provider *tp, const char *zone) {
  for (size_t i = 0; i < tp->n_series; i++)
    if (strcasecmp(tp->series[i].zone, zone) == 0) return &tp->series[i];
  for (size_t i = 0; i < tp->n_series; i++)
    if (tp->series[i].alias[0] && strcasecmp(tp->series[i].alias, zone) == 0) return &tp->series[i];
  return NULL;
}

static trace_series *get_series(trace_provider *tp, const char *zone, const char *alias) {
  for (size_t i = 0; i < tp->n_series; i++)
    if (strcasecmp(tp->series[i].zone, zone) == 0) {
      if (alias && *alias && !tp->series[i].alias[0])
        snprintf(tp->series[i].alias, sizeof tp->series[i].alias, "%s", alias);
      return &tp->series[i];
    }
  trace_series *s = realloc(tp->series, (tp->n_series + 1) * sizeof *s);
  if (!s) return NULL;
  tp->series = s;
  trace_series *z = &s[tp->n_series++];
  memset(z, 0, sizeof *z);
  snprintf(z->zone, sizeof z->zone, "%s", zone);
  if (alias && strcasecmp(alias, zone) != 0) snprintf(z->alias, sizeof z->alias, "%s", alias);
  return z;
}

static int series_push(trace_series *s, const trace_row *r) {
  if (s->n == s->cap) {
    size_t nc = s->cap ? s->cap * 2 : 1024;
    trace_row *nr = realloc(s->rows, nc * sizeof *nr);
    if (!nr) return ECO_ENOMEM;
    s->rows = nr;
    s->cap = nc;
  }
  s->rows[s->n++] = *r;
  return ECO_OK;
}

static int cmp_row(const void *a, const void *b) {
  const trace_row *x = a, *y = b;
  if (x->t < y->t) return -1;
  if (x->t > y->t) return 1;
  /* Equal times: the later file wins after dedup (keep the last). */
  return (int)x->file - (int)y->file;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Sorts, removes duplicate timestamps (keeps the last loaded), and sets the
 * period used for the last row. */
static int series_finish(trace_series *s) {
  if (s->n == 0) return ECO_OK;
  qsort(s->rows, s->n, sizeof *s->rows, cmp_row);
  size_t w = 0;
  for (size_t i = 0; i < s->n; i++) {
    if (w > 0 && s->rows[w - 1].t == s->rows[i].t)
      s->rows[w - 1] = s->rows[i];
    else
      s->rows[w++] = s->rows[i];
  }
  s->n = w;
  s->last_period_s = 3600.0;
  if (s->n >= 2) {
    double *d = malloc((s->n - 1) * sizeof *d);
    if (!d) return ECO_ENOMEM;
    for (size_t i = 0; i + 1 < s->n; i++)
      d[i] = s->rows[i + 1].t - s->rows[i].t;
    qsort(d, s->n - 1, sizeof *d, cmp_double);
    s->last_period_s = d[(s->n - 2) / 2]; /* lower median */
    free(d);
  }
  return ECO_OK;
}

/* Splits line (modified in place) into CSV fields (RFC 4180): commas
 * separate fields; a field in double quotes may hold commas, and "" inside
 * it is a literal quote (e.g. the US-TEX export's "Electric Reliability
 * Council of Texas, Inc."). Unquoted fields are trimmed of spaces and CR. */
static size_t split_csv(char *line, char **f, size_t maxf) {
  size_t n = 0;
  char *p = line;
  for (;;) {
    while (*p == ' ' || *p == '\t')
      p++;
    char *start = p, *w;
    bool quoted = *p == '"';
    if (quoted) {
      p++;
      start = w = p;
      while (*p) {
        if (*p == '"' && p[1] == '"') { /* escaped quote */
          *w++ = '"';
          p += 2;
        } else if (*p == '"') {
          p++;
          break;
        } else {
          *w++ = *p++;
        }
      }
      while (*p && *p != ',')
        p++; /* junk after the closing quote is ignored */
    } else {
      while (*p && *p != ',')
        p++;
      w = p;
      while (w > start && (w[-1] == ' ' || w[-1] == '\t' || w[-1] == '\r' || w[-1] == '\n'))
        w--;
    }
    bool more = *p == ',';
    *w = '\0';
    if (n < maxf) f[n] = start;
    n++;
    if (!more) break;
    p++;
  }
  return n;
}

static int parse_num(const char *s, double *out) {
  if (!s || !*s) return ECO_EFORMAT;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || *end || !isfinite(v)) return ECO_EFORMAT;
  *out = v;
  return ECO_OK;
}

static bool parse_bool(const char *s) {
  return strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0 || strcasecmp(s, "yes") == 0;
}

static const char *base_name(const char *path) {
  const char *b = strrchr(path, '/');
  return b ? b + 1 : path;
}

typedef enum { FMT_EMAPS, FMT_SIMPLE } trace_fmt;

int eco_intensity_trace_add_file(eco_intensity_provider *p, const char *path, const char *alias,
                                 size_t *rows, eco_error *err) {
  if (!p || p->vt->get == NULL || strcmp(p->vt->kind, "trace") != 0 || !path)
    return eco_error_set(err, ECO_EINVAL, "trace: invalid argument");
  trace_provider *tp = (trace_provider *)p;
  if (rows) *rows = 0;
  if (tp->n_files >= UINT16_MAX) return eco_error_set(err, ECO_EOVERFLOW, "trace: too many files");
  char *text = NULL;
  size_t len = 0;
  int rc = eco_fs_read_all(path, TRACE_MAX_FILE_BYTES, &text, &len, err);
  if (rc) {
    eco_error_prefix(err, "trace %s", path);
    return rc;
  }
  char **nf = realloc(tp->files, (tp->n_files + 1) * sizeof *nf);
  if (!nf) {
    free(text);
    return eco_error_set(err, ECO_ENOMEM, "trace: out of memory");
  }
  tp->files = nf;
  nf[tp->n_files] = calloc(1, ECO_SOURCE_MAX);
  if (nf[tp->n_files]) snprintf(nf[tp->n_files], ECO_SOURCE_MAX, "trace:%s", base_name(path));
  if (!nf[tp->n_files]) {
    free(text);
    return eco_error_set(err, ECO_ENOMEM, "trace: out of memory");
  }
  uint16_t file_idx = (uint16_t)tp->n_files++;

  char *save = NULL;
  char *line = strtok_r(text, "\n", &save);
  size_t lineno = 1;
  if (!line) {
    rc = eco_error_set(err, ECO_EFORMAT, "trace %s: empty file", path);
    goto fail;
  }
  /* Header. A UTF-8 BOM is skipped. */
  if ((unsigned char)line[0] == 0xEF && (unsigned char)line[1] == 0xBB &&
      (unsigned char)line[2] == 0xBF)
    line += 3;
  char *f[TRACE_MAX_FIELDS];
  size_t nh = split_csv(line, f, TRACE_MAX_FIELDS);
  trace_fmt fmt;
  if (nh >= 10 && strncasecmp(f[0], "Datetime", 8) == 0)
    fmt = FMT_EMAPS;
  else if (nh >= 3 && (strcasecmp(f[0], "timestamp") == 0 || strcasecmp(f[0], "time") == 0 ||
                       strcasecmp(f[0], "datetime") == 0))
    fmt = FMT_SIMPLE;
  else {
    rc = eco_error_set(err, ECO_EFORMAT,
                       "trace %s:1: unknown header (want an Electricity Maps export or "
                       "'timestamp,zone,value')",
                       path);
    goto fail;
  }
  size_t loaded = 0;
  while ((line = strtok_r(NULL, "\n", &save))) {
    lineno++;
    /* skip blank lines */
    const char *q = line;
    while (*q == ' ' || *q == '\r' || *q == '\t')
      q++;
    if (!*q) continue;
    size_t nfld = split_csv(line, f, TRACE_MAX_FIELDS);
    trace_row r = {.file = file_idx};
    const char *zone;
    if (fmt == FMT_EMAPS) {
      if (nfld < 10 || nfld > TRACE_MAX_FIELDS) {
        rc = eco_error_set(err, ECO_EFORMAT, "trace %s:%zu: expected 11 columns, got %zu", path,
                           lineno, nfld);
        goto fail;
      }
      zone = f[3];
      const char *val = tp->opts.column == ECO_TRACE_LIFECYCLE ? f[5] : f[4];
      if (eco_time_parse(f[0], &r.t) || parse_num(val, &r.v) || r.v < 0) {
        rc = eco_error_set(err, ECO_EFORMAT, "trace %s:%zu: bad time '%s' or value '%s'", path,
                           lineno, f[0], val);
        goto fail;
      }
      /* "Data Estimated" is the second-to-last column (Data Source may
       * hold extra commas in other exports, so count from the end). */
      r.estimated = parse_bool(f[nfld - 2]);
    } else {
      if (nfld < 3 || nfld > TRACE_MAX_FIELDS) {
        rc = eco_error_set(err, ECO_EFORMAT, "trace %s:%zu: expected timestamp,zone,value", path,
                           lineno);
        goto fail;
      }
      zone = f[1];
      if (eco_time_parse(f[0], &r.t) || parse_num(f[2], &r.v) || r.v < 0) {
        rc = eco_error_set(err, ECO_EFORMAT, "trace %s:%zu: bad time '%s' or value '%s'", path,
                           lineno, f[0], f[2]);
        goto fail;
      }
      r.estimated = nfld >= 4 && parse_bool(f[3]);
    }
    if (!*zone) {
      rc = eco_error_set(err, ECO_EFORMAT, "trace %s:%zu: empty zone", path, lineno);
      goto fail;
    }
    trace_series *s = get_series(tp, zone, alias);
    if (!s || series_push(s, &r)) {
      rc = eco_error_set(err, ECO_ENOMEM, "trace: out of memory");
      goto fail;
    }
    loaded++;
  }
  for (size_t i = 0; i < tp->n_series; i++)
    if (series_finish(&tp->series[i])) {
      rc = eco_error_set(err, ECO_ENOMEM, "trace: out of memory");
      goto fail;
    }
  if (loaded == 0) {
    rc = eco_error_set(err, ECO_EFORMAT, "trace %s: no data rows", path);
    goto fail;
  }
  if (rows) *rows = loaded;
  free(text);
  return ECO_OK;
fail:
  /* Drop rows of this file already added. */
  for (size_t i = 0; i < tp->n_series; i++) {
    trace_series *s = &tp->series[i];
    size_t w = 0;
    for (size_t k = 0; k < s->n; k++)
      if (s->rows[k].file != file_idx) s->rows[w++] = s->rows[k];
    s->n = w;
  }
  free(text);
  return rc;
}

int eco_intensity_trace_add_dir(eco_intensity_provider *p, const char *dir, eco_error *err) {
  DIR *d = opendir(dir);
  if (!d) return eco_error_set(err, ECO_ENOENT, "trace dir %s: %s", dir, strerror(errno));
  char **names = NULL;
  size_t n = 0;
  int rc = ECO_OK;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t len = strlen(e->d_name);
    if (len < 5 || strcasecmp(e->d_name + len - 4, ".csv") != 0) continue;
    char **nn = realloc(names, (n + 1) * sizeof *nn);
    if (!nn || !(nn[n] = strdup(e->d_name))) {
      if (nn) names = nn;
      rc = eco_error_set(err, ECO_ENOMEM, "trace: out of memory");
      goto done;
    }
    names = nn;
    n++;
  }
  /* Deterministic order. */
  for (size_t i = 1; i < n; i++)
    for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
      char *t = names[j];
      names[j] = names[j - 1];
      names[j - 1] = t;
    }
  if (n == 0) rc = eco_error_set(err, ECO_ENOENT, "trace dir %s: no .csv files", dir);
  for (size_t i = 0; i < n && rc == ECO_OK; i++) {
    char path[4096];
    char alias[ECO_ZONE_MAX];
    if (eco_fs_join(path, sizeof path, dir, names[i])) {
      rc = eco_error_set(err, ECO_EOVERFLOW, "trace: path too long");
      break;
    }
    /* alias: the name up to "_<digit>" */
    snprintf(alias, sizeof alias, "%s", names[i]);
    for (char *c = alias; *c; c++)
      if (*c == '_' && isdigit((unsigned char)c[1])) {
        *c = '\0';
        break;
      }
    char *dot = strrchr(alias, '.');
    if (dot) *dot = '\0';
    rc = eco_intensity_trace_add_file(p, path, alias, NULL, err);
  }
done:
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
  closedir(d);
  return rc;
}

double eco_intensity_trace_time(const eco_intensity_provider *p, double t_s) {
  if (!p || strcmp(p->vt->kind, "trace") != 0) return t_s;
  const trace_provider *tp = (const trace_provider *)p;
  if (tp->opts.replay_origin_s <= 0) return t_s;
  double speed = tp->opts.speed > 0 ? tp->opts.speed : 1.0;
  double start = tp->opts.start_s;
  if (start <= 0) {
    /* first row of any zone */
    start = INFINITY;
    for (size_t i = 0; i < tp->n_series; i++)
      if (tp->series[i].n && tp->series[i].rows[0].t < start) start = tp->series[i].rows[0].t;
    if (!isfinite(start)) start = 0;
  }
  return start + (t_s - tp->opts.replay_origin_s) * speed;
}

double eco_intensity_trace_caller_time(const eco_intensity_provider *p, double trace_s) {
  if (!p || strcmp(p->vt->kind, "trace") != 0) return trace_s;
  const trace_provider *tp = (const trace_provider *)p;
  if (tp->opts.replay_origin_s <= 0) return trace_s;
  double speed = tp->opts.speed > 0 ? tp->opts.speed : 1.0;
  double start = eco_intensity_trace_time(p, tp->opts.replay_origin_s); /* trace time at origin */
  return tp->opts.replay_origin_s + (trace_s - start) / speed;
}

int eco_intensity_trace_span(eco_intensity_provider *p, const char *zone, double *first_s,
                             double *end_s) {
  if (!p || strcmp(p->vt->kind, "trace") != 0 || !zone) return ECO_EINVAL;
  trace_series *s = find_series((trace_provider *)p, zone);
  if (!s || s->n == 0) return ECO_ENOENT;
  if (first_s) *first_s = s->rows[0].t;
  if (end_s) *end_s = s->rows[s->n - 1].t + s->last_period_s;
  return ECO_OK;
}

/* Index of the row in effect at trace time tt (no wrapping); -1 if none. */
static long row_at(const trace_series *s, double tt) {
  if (s->n == 0 || tt < s->rows[0].t) return -1;
  if (tt >= s->rows[s->n - 1].t + s->last_period_s) return -1;
  size_t lo = 0, hi = s->n; /* invariant: rows[lo].t <= tt, answer in [lo, hi) */
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (s->rows[mid].t <= tt)
      lo = mid;
    else
      hi = mid;
  }
  return (long)lo;
}

/* Wraps tt into the span when looping; *shift receives the offset added to
 * the row times (k * span). */
static void wrap(const trace_provider *tp, const trace_series *s, double *tt, double *shift) {
  *shift = 0;
  if (!tp->opts.loop || s->n == 0) return;
  double first = s->rows[0].t, end = s->rows[s->n - 1].t + s->last_period_s;
  double span = end - first;
  if (span <= 0) return;
  double k = floor((*tt - first) / span);
  *shift = k * span;
  *tt -= *shift;
}

static void fill(const trace_provider *tp, const trace_series *s, size_t i, double shift,
                 eco_intensity *out) {
  memset(out, 0, sizeof *out);
  const trace_row *r = &s->rows[i];
  out->gco2_kwh = r->v;
  out->time_s = r->t + shift;
  out->period_s = i + 1 < s->n ? s->rows[i + 1].t - r->t : s->last_period_s;
  out->signal = tp->opts.signal;
  out->estimated = r->estimated;
  memcpy(out->zone, s->zone, sizeof out->zone);
  /* files[] hold "trace:<base name>", at least ECO_SOURCE_MAX bytes */
  memcpy(out->source, tp->files[r->file], sizeof out->source);
  out->source[sizeof out->source - 1] = '\0';
}

static int trace_get(eco_intensity_provider *p, const char *zone, double t_s, eco_intensity *out,
                     eco_error *err) {
  trace_provider *tp = (trace_provider *)p;
  trace_series *s = find_series(tp, zone);
  if (!s || s->n == 0) return eco_error_set(err, ECO_ENOENT, "trace: no data for zone '%s'", zone);
  double tt = eco_intensity_trace_time(p, t_s), shift;
  wrap(tp, s, &tt, &shift);
  long i = row_at(s, tt);
  if (i < 0) {
    char a[32], b[32], c[32];
    eco_time_iso8601(tt, a, sizeof a);
    eco_time_iso8601(s->rows[0].t, b, sizeof b);
    eco_time_iso8601(s->rows[s->n - 1].t + s->last_period_s, c, sizeof c);
    return eco_error_set(err, ECO_ERANGE, "trace: zone '%s': time %s outside the trace [%s, %s)",
                         zone, a, b, c);
  }
  fill(tp, s, (size_t)i, shift, out);
  return ECO_OK;
}

static int trace_forecast(eco_intensity_provider *p, const char *zone, double from_s, double to_s,
                          eco_intensity *out, size_t *n, eco_error *err) {
  trace_provider *tp = (trace_provider *)p;
  size_t cap = *n;
  *n = 0;
  trace_series *s = find_series(tp, zone);
  if (!s || s->n == 0) return eco_error_set(err, ECO_ENOENT, "trace: no data for zone '%s'", zone);
  double tf = eco_intensity_trace_time(p, from_s), tt_end = eco_intensity_trace_time(p, to_s);
  double cur = tf;
  size_t guard = 0;
  while (*n < cap && cur < tt_end && guard++ < 10000000) {
    double x = cur, shift;
    wrap(tp, s, &x, &shift);
    long i = row_at(s, x);
    if (i < 0) {
      if (*n == 0 && x < s->rows[0].t && !tp->opts.loop) {
        /* window starts before the trace: skip ahead to its first row */
        cur = s->rows[0].t;
        continue;
      }
      break;
    }
    fill(tp, s, (size_t)i, shift, &out[*n]);
    (*n)++;
    double next = out[*n - 1].time_s + out[*n - 1].period_s;
    if (next <= cur) break;
    cur = next;
  }
  if (*n == 0)
    return eco_error_set(err, ECO_ERANGE, "trace: zone '%s': no values in the window", zone);
  return ECO_OK;
}

static void trace_destroy(eco_intensity_provider *p) {
  trace_provider *tp = (trace_provider *)p;
  for (size_t i = 0; i < tp->n_series; i++)
    free(tp->series[i].rows);
  free(tp->series);
  for (size_t i = 0; i < tp->n_files; i++)
    free(tp->files[i]);
  free(tp->files);
  free(tp);
}

static const eco_intensity_vtbl trace_vt = {
    .kind = "trace", .get = trace_get, .forecast = trace_forecast, .destroy = trace_destroy};

int eco_intensity_trace_new(const eco_trace_opts *opts, eco_intensity_provider **out,
                            eco_error *err) {
  if (!out) return eco_error_set(err, ECO_EINVAL, "trace: out is NULL");
  *out = NULL;
  trace_provider *tp = calloc(1, sizeof *tp);
  if (!tp) return eco_error_set(err, ECO_ENOMEM, "trace: out of memory");
  if (opts)
    tp->opts = *opts;
  else
    eco_trace_opts_default(&tp->opts);
  if (!isfinite(tp->opts.speed) || tp->opts.speed <= 0) tp->opts.speed = 1.0;
  tp->base.vt = &trace_vt;
  snprintf(tp->base.name, sizeof tp->base.name, "trace");
  *out = &tp->base;
  return ECO_OK;
}

int eco_intensity_trace_open(const char *path, const eco_trace_opts *opts,
                             eco_intensity_provider **out, eco_error *err) {
  if (!path || !out) return eco_error_set(err, ECO_EINVAL, "trace: invalid argument");
  int rc = eco_intensity_trace_new(opts, out, err);
  if (rc) return rc;
  rc = eco_fs_is_dir(path) ? eco_intensity_trace_add_dir(*out, path, err)
                           : eco_intensity_trace_add_file(*out, path, NULL, NULL, err);
  if (rc) {
    eco_intensity_free(*out);
    *out = NULL;
  }
  return rc;
}
