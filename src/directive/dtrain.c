/* Training data of the directive model as JSON lines (see dtrain.h). */
#include "directive/dtrain.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define J_PER_KWH 3.6e6

void eco_dtrain_init(eco_dtrain_set *s, size_t n_levels) {
  memset(s, 0, sizeof *s);
  s->n_levels = n_levels;
}

void eco_dtrain_free(eco_dtrain_set *s) {
  if (!s) return;
  for (size_t i = 0; i < s->n; i++)
    free((void *)s->rec[i].text);
  free(s->rec);
  memset(s, 0, sizeof *s);
}

int eco_dtrain_label(eco_dtrain_set *s, const char *label, eco_error *err) {
  size_t k = label ? strlen(label) : 0;
  if (k == 0 || k >= ECO_DCLASS_LABEL_MAX)
    return eco_error_set(err, ECO_EINVAL, "label must have 1..%d bytes", ECO_DCLASS_LABEL_MAX - 1);
  for (size_t i = 0; i < k; i++) {
    unsigned char c = (unsigned char)label[i];
    if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
      return eco_error_set(err, ECO_EINVAL, "label '%.*s' holds a byte 0x%02x", (int)k, label, c);
  }
  for (size_t c = 0; c < s->n_labels; c++)
    if (strcmp(s->label[c], label) == 0) return (int)c;
  if (s->n_labels >= ECO_DCLASS_MAX_CLASSES)
    return eco_error_set(err, ECO_EOVERFLOW, "more than %d labels", ECO_DCLASS_MAX_CLASSES);
  memcpy(s->label[s->n_labels], label, k + 1);
  return (int)s->n_labels++;
}

int eco_dtrain_add(eco_dtrain_set *s, const char *text, size_t len, const char *label,
                   int preferred, const double *energy_j, const double *time_s, eco_error *err) {
  if (!s || !text || s->n_levels < 1 || s->n_levels > ECO_DIRECTIVE_MAX_LEVELS)
    return eco_error_set(err, ECO_EINVAL, "training record: no prompt");
  if (len > ECO_DTRAIN_MAX_PROMPT)
    return eco_error_set(err, ECO_EINVAL, "training record: prompt over %zu bytes",
                         ECO_DTRAIN_MAX_PROMPT);
  if (preferred < -1 || preferred >= (int)s->n_levels)
    return eco_error_set(err, ECO_EINVAL, "training record: level %d outside 0..%zu", preferred,
                         s->n_levels - 1);
  if (!label && preferred < 0)
    return eco_error_set(err, ECO_EINVAL, "training record: needs a label or a verdict");
  if (!energy_j != !time_s)
    return eco_error_set(err, ECO_EINVAL, "training record: energy_j and time_s go together");
  for (size_t l = 0; energy_j && l < s->n_levels; l++)
    if (!isfinite(energy_j[l]) || energy_j[l] < 0 || energy_j[l] > 3.6e9 || !isfinite(time_s[l]) ||
        time_s[l] < 0 || time_s[l] > 1e7)
      return eco_error_set(err, ECO_EINVAL, "training record: bad energy or time at level %zu", l);
  if (s->n >= ECO_DTRAIN_MAX_RECS)
    return eco_error_set(err, ECO_EOVERFLOW, "more than %zu training records", ECO_DTRAIN_MAX_RECS);
  int cls = -1;
  if (label && (cls = eco_dtrain_label(s, label, err)) < 0) return cls;
  if (s->n == s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 256;
    eco_dtrain_rec *r = realloc(s->rec, cap * sizeof *r);
    if (!r) return eco_error_set(err, ECO_ENOMEM, "out of memory");
    s->rec = r, s->cap = cap;
  }
  char *t = malloc(len + 1);
  if (!t) return eco_error_set(err, ECO_ENOMEM, "out of memory");
  memcpy(t, text, len);
  t[len] = '\0';
  eco_dtrain_rec *r = &s->rec[s->n++];
  memset(r, 0, sizeof *r);
  r->text = t, r->len = len, r->label = cls, r->preferred = preferred;
  r->has_cost = energy_j != NULL;
  for (size_t l = 0; energy_j && l < s->n_levels; l++) {
    r->energy_kwh[l] = energy_j[l] / J_PER_KWH;
    r->time_s[l] = time_s[l];
  }
  return 0;
}

const char *eco_dtrain_request_text(const json_t *body, char *buf, size_t cap, size_t *len) {
  *len = 0;
  const json_t *msgs = json_object_get(body, "messages");
  if (json_is_array(msgs)) {
    for (size_t i = json_array_size(msgs); i-- > 0;) {
      const json_t *m = json_array_get(msgs, i);
      const char *role = json_string_value(json_object_get(m, "role"));
      if (!role || strcmp(role, "user") != 0) continue;
      const json_t *c = json_object_get(m, "content");
      if (json_is_string(c)) {
        *len = json_string_length(c);
        return json_string_value(c);
      }
      if (!json_is_array(c) || !buf || cap == 0) return NULL;
      size_t n = 0, k;
      const json_t *part;
      json_array_foreach(c, k, part) {
        const json_t *tx = json_object_get(part, "text");
        if (!json_is_string(tx)) continue;
        size_t tl = json_string_length(tx);
        if (n && n < cap - 1) buf[n++] = '\n';
        size_t take = tl < cap - 1 - n ? tl : cap - 1 - n;
        memcpy(buf + n, json_string_value(tx), take);
        n += take;
      }
      buf[n] = '\0';
      *len = n;
      return n ? buf : NULL;
    }
    return NULL;
  }
  const json_t *p = json_object_get(body, "prompt");
  if (json_is_array(p)) p = json_array_get(p, 0);
  if (!json_is_string(p)) return NULL;
  *len = json_string_length(p);
  return json_string_value(p);
}

static int read_costs(const json_t *o, const char *key, size_t L, double *out, bool *present,
                      eco_error *err) {
  const json_t *a = json_object_get(o, key);
  *present = a && !json_is_null(a);
  if (!*present) return 0;
  if (!json_is_array(a) || json_array_size(a) != L)
    return eco_error_set(err, ECO_EFORMAT, "'%s' must be a list of %zu numbers", key, L);
  for (size_t l = 0; l < L; l++) {
    const json_t *v = json_array_get(a, l);
    if (!json_is_number(v))
      return eco_error_set(err, ECO_EFORMAT, "'%s'[%zu] is not a number", key, l);
    out[l] = json_number_value(v);
  }
  return 0;
}

int eco_dtrain_parse_line(eco_dtrain_set *s, const char *line, size_t len, eco_error *err) {
  size_t i = 0;
  while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r' || line[i] == '\n'))
    i++;
  if (i == len || line[i] == '#') return 0;
  if (len > ECO_DTRAIN_MAX_LINE)
    return eco_error_set(err, ECO_EFORMAT, "line over %zu bytes", ECO_DTRAIN_MAX_LINE);
  json_error_t je;
  json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
  if (!o) return eco_error_set(err, ECO_EFORMAT, "not JSON: %s (column %d)", je.text, je.column);
  int rc = 0;
  char buf[8192];
  size_t tl = 0;
  const char *text = NULL;
  const json_t *pr = json_object_get(o, "prompt"), *lab = json_object_get(o, "label"),
               *pref = json_object_get(o, "preferred");
  if (!json_is_object(o)) {
    rc = eco_error_set(err, ECO_EFORMAT, "a record must be a JSON object");
    goto out;
  }
  if (json_is_string(pr)) {
    text = json_string_value(pr), tl = json_string_length(pr);
  } else if (json_is_array(json_object_get(o, "messages"))) {
    text = eco_dtrain_request_text(o, buf, sizeof buf, &tl);
  }
  if (!text) {
    rc = eco_error_set(err, ECO_EFORMAT, "no \"prompt\" string and no user message");
    goto out;
  }
  if (lab && !json_is_null(lab) && !json_is_string(lab)) {
    rc = eco_error_set(err, ECO_EFORMAT, "\"label\" must be a string or null");
    goto out;
  }
  int level = -1;
  if (pref && !json_is_null(pref)) {
    if (!json_is_integer(pref) || json_integer_value(pref) < -1 ||
        json_integer_value(pref) >= (json_int_t)s->n_levels) {
      rc = eco_error_set(err, ECO_EFORMAT, "\"preferred\" must be a level 0..%zu, -1 or null",
                         s->n_levels - 1);
      goto out;
    }
    level = (int)json_integer_value(pref);
  }
  double e[ECO_DIRECTIVE_MAX_LEVELS], t[ECO_DIRECTIVE_MAX_LEVELS];
  bool he = false, ht = false;
  if ((rc = read_costs(o, "energy_j", s->n_levels, e, &he, err)) ||
      (rc = read_costs(o, "time_s", s->n_levels, t, &ht, err)))
    goto out;
  if (he != ht) {
    rc = eco_error_set(err, ECO_EFORMAT, "\"energy_j\" and \"time_s\" go together");
    goto out;
  }
  rc =
      eco_dtrain_add(s, text, tl, json_string_value(lab), level, he ? e : NULL, ht ? t : NULL, err);
  if (rc) rc = ECO_EFORMAT;
out:
  json_decref(o);
  return rc;
}

int eco_dtrain_load(eco_dtrain_set *s, const char *path, eco_error *err) {
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
  if (!f) return eco_error_set(err, ECO_ENOENT, "%s: cannot open", path);
  char *line = NULL;
  size_t cap = 0, lineno = 0;
  ssize_t n;
  int rc = 0;
  while ((n = getline(&line, &cap, f)) >= 0) {
    lineno++;
    if ((rc = eco_dtrain_parse_line(s, line, (size_t)n, err))) {
      eco_error_prefix(err, "%s:%zu", path, lineno);
      break;
    }
  }
  if (!rc && ferror(f)) rc = eco_error_set(err, ECO_EIO, "%s: read error", path);
  free(line);
  if (f != stdin) fclose(f);
  return rc;
}

char *eco_dtrain_format(const char *text, const char *label, int preferred, const double *energy_j,
                        const double *time_s, size_t n_levels) {
  json_t *o = json_object();
  if (!o) return NULL;
  json_t *pt = json_string(text ? text : ""); /* NULL: not UTF-8 */
  if (!pt) {
    json_decref(o);
    return NULL;
  }
  json_object_set_new(o, "prompt", pt);
  if (label) json_object_set_new(o, "label", json_string(label));
  if (preferred >= 0) json_object_set_new(o, "preferred", json_integer(preferred));
  if (energy_j && time_s && n_levels <= ECO_DIRECTIVE_MAX_LEVELS) {
    json_t *e = json_array(), *t = json_array();
    for (size_t l = 0; l < n_levels; l++) {
      json_array_append_new(e, json_real(energy_j[l]));
      json_array_append_new(t, json_real(time_s[l]));
    }
    json_object_set_new(o, "energy_j", e);
    json_object_set_new(o, "time_s", t);
  }
  char *s = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  return s;
}
