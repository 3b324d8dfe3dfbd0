#include "util/config.h"

#include "util/cfg_yaml.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

typedef struct cfg_override {
  char *path;
  char *value;
  char *origin;
} cfg_override;

struct eco_cfg {
  char *source;       /* file name or pseudo-name */
  eco_cfg_node *root; /* NULL for an empty config */
  bool use_env;
  cfg_override *ovr; /* command-line overrides */
  size_t n_ovr;
  char **env_cache; /* strdup'd env values handed out by eco_cfg_str */
  size_t n_env_cache;
};

/* ---- loading (the YAML reader is cfg_yaml.c) ------------------------------ */

static int load(yaml_parser_t *parser, const char *source, eco_cfg **out, eco_error *err) {
  eco_cfg *cfg = calloc(1, sizeof *cfg);
  if (!cfg || !(cfg->source = strdup(source))) {
    free(cfg);
    return eco_error_set(err, ECO_ENOMEM, "%s: out of memory while reading", source);
  }
  cfg->use_env = true;
  int rc = eco_cfg_yaml_build(parser, source, &cfg->root, err);
  if (rc) {
    eco_cfg_free(cfg);
    return rc;
  }
  *out = cfg;
  return ECO_OK;
}

int eco_cfg_load_file(const char *path, eco_cfg **out, eco_error *err) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    int e = errno;
    return eco_error_set(err, eco_status_from_errno(e), "%s: cannot open config: %s", path,
                         strerror(e));
  }
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) {
    fclose(f);
    return eco_error_set(err, ECO_ENOMEM, "yaml parser init failed");
  }
  yaml_parser_set_input_file(&parser, f);
  int rc = load(&parser, path, out, err);
  yaml_parser_delete(&parser);
  fclose(f);
  return rc;
}

int eco_cfg_load_string(const char *text, const char *name, eco_cfg **out, eco_error *err) {
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) return eco_error_set(err, ECO_ENOMEM, "yaml init");
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
  int rc = load(&parser, name ? name : "<string>", out, err);
  yaml_parser_delete(&parser);
  return rc;
}

int eco_cfg_new_empty(eco_cfg **out) {
  eco_cfg *cfg = calloc(1, sizeof *cfg);
  if (!cfg) return ECO_ENOMEM;
  cfg->use_env = true;
  cfg->source = strdup("");
  if (!cfg->source) {
    free(cfg);
    return ECO_ENOMEM;
  }
  *out = cfg;
  return ECO_OK;
}

void eco_cfg_free(eco_cfg *cfg) {
  if (!cfg) return;
  eco_cfg_node_free(cfg->root);
  for (size_t i = 0; i < cfg->n_ovr; i++) {
    free(cfg->ovr[i].path);
    free(cfg->ovr[i].value);
    free(cfg->ovr[i].origin);
  }
  free(cfg->ovr);
  for (size_t i = 0; i < cfg->n_env_cache; i++)
    free(cfg->env_cache[i]);
  free(cfg->env_cache);
  free(cfg->source);
  free(cfg);
}

const char *eco_cfg_source(const eco_cfg *cfg) { return cfg->source; }
void eco_cfg_use_env(eco_cfg *cfg, bool on) { cfg->use_env = on; }

int eco_cfg_set(eco_cfg *cfg, const char *path, const char *value, const char *origin) {
  for (size_t i = 0; i < cfg->n_ovr; i++) {
    if (strcmp(cfg->ovr[i].path, path) == 0) {
      char *v = strdup(value);
      if (!v) return ECO_ENOMEM;
      free(cfg->ovr[i].value);
      cfg->ovr[i].value = v;
      return ECO_OK;
    }
  }
  cfg_override *o = realloc(cfg->ovr, (cfg->n_ovr + 1) * sizeof *o);
  if (!o) return ECO_ENOMEM;
  cfg->ovr = o;
  cfg_override *n = &o[cfg->n_ovr];
  n->path = strdup(path);
  n->value = strdup(value);
  n->origin = strdup(origin ? origin : "command line");
  if (!n->path || !n->value || !n->origin) {
    free(n->path);
    free(n->value);
    free(n->origin);
    return ECO_ENOMEM;
  }
  cfg->n_ovr++;
  return ECO_OK;
}

/* ---- lookup ----------------------------------------------------------- */

static const eco_cfg_node *child(const eco_cfg_node *n, const char *seg, size_t len) {
  if (!n) return NULL;
  if (n->kind == ECO_CFG_MAP) {
    for (size_t i = 0; i < n->n_items; i++)
      if (strlen(n->items[i]->key) == len && memcmp(n->items[i]->key, seg, len) == 0)
        return n->items[i];
  } else if (n->kind == ECO_CFG_SEQ) {
    size_t idx = 0;
    if (len == 0 || len > 9) return NULL;
    for (size_t i = 0; i < len; i++) {
      if (!isdigit((unsigned char)seg[i])) return NULL;
      idx = idx * 10 + (size_t)(seg[i] - '0');
    }
    return idx < n->n_items ? n->items[idx] : NULL;
  }
  return NULL;
}

const eco_cfg_node *eco_cfg_find(const eco_cfg *cfg, const eco_cfg_node *base, const char *path) {
  const eco_cfg_node *n = base ? base : cfg->root;
  if (!path || !*path) return n;
  while (n && *path) {
    const char *dot = strchr(path, '.');
    size_t len = dot ? (size_t)(dot - path) : strlen(path);
    n = child(n, path, len);
    path = dot ? dot + 1 : path + len;
  }
  return n;
}

void eco_cfg_where(const eco_cfg *cfg, const eco_cfg_node *node, char *buf, size_t cap) {
  if (node && node->line)
    snprintf(buf, cap, "%s:%d:%d", cfg->source, node->line, node->col);
  else
    snprintf(buf, cap, "%s", cfg->source[0] ? cfg->source : "config");
}

/* Where a scalar value comes from, resolved by precedence. */
typedef struct scalar_src {
  const char *value; /* NULL if absent */
  char where[384];   /* "file:l:c: key 'x'" / "environment X" / "--flag" */
  bool is_null;      /* present in the file as null / empty */
  bool wrong_kind;   /* present in the file but a map or sequence */
} scalar_src;

static void full_path(const eco_cfg_node *base, const char *path, char *buf, size_t cap) {
  if (base && base->path && base->path[0])
    snprintf(buf, cap, "%s%s%s", base->path, (path && *path) ? "." : "", path ? path : "");
  else
    snprintf(buf, cap, "%s", path ? path : "");
}

static void env_name(const char *fp, char *buf, size_t cap) {
  size_t n = (size_t)snprintf(buf, cap, "ECOINFER_");
  for (; *fp && n + 1 < cap; fp++) {
    char c = *fp;
    buf[n++] = (c == '.' || c == '-') ? '_' : (char)toupper((unsigned char)c);
  }
  buf[n] = '\0';
}

static void resolve(const eco_cfg *cfg, const eco_cfg_node *base, const char *path, scalar_src *s) {
  char fp[256];
  full_path(base, path, fp, sizeof fp);
  memset(s, 0, sizeof *s);
  for (size_t i = 0; i < cfg->n_ovr; i++) {
    if (strcmp(cfg->ovr[i].path, fp) == 0) {
      s->value = cfg->ovr[i].value;
      snprintf(s->where, sizeof s->where, "%s", cfg->ovr[i].origin);
      return;
    }
  }
  if (cfg->use_env) {
    char en[300];
    env_name(fp, en, sizeof en);
    const char *v = getenv(en);
    if (v) {
      s->value = v;
      snprintf(s->where, sizeof s->where, "environment %s", en);
      return;
    }
  }
  const eco_cfg_node *n = eco_cfg_find(cfg, base, path);
  if (!n) return;
  char w[300];
  eco_cfg_where(cfg, n, w, sizeof w);
  snprintf(s->where, sizeof s->where, "%s: key '%s'", w, fp);
  if (n->kind == ECO_CFG_SCALAR)
    s->value = n->value;
  else if (n->kind == ECO_CFG_NULL)
    s->is_null = true;
  else
    s->wrong_kind = true;
}

static int shape_error(const scalar_src *s, const char *want, eco_error *err) {
  if (s->wrong_kind)
    return eco_error_set(err, ECO_ECONFIG, "%s: expected %s, got a %s", s->where, want,
                         "mapping or list");
  return eco_error_set(err, ECO_ECONFIG, "%s: expected %s, got '%s'", s->where, want,
                       s->value ? s->value : "");
}

int eco_cfg_str(const eco_cfg *cfg, const eco_cfg_node *base, const char *path, const char *def,
                const char **out, eco_error *err) {
  scalar_src s;
  resolve(cfg, base, path, &s);
  if (s.wrong_kind) return shape_error(&s, "a string", err);
  if (!s.value) {
    *out = def;
    return ECO_OK;
  }
  if (strncmp(s.where, "environment ", 12) == 0) {
    /* Copy: the environment may change under us. */
    char *copy = strdup(s.value);
    if (!copy) return ECO_ENOMEM;
    eco_cfg *mut = (eco_cfg *)cfg;
    char **c = realloc(mut->env_cache, (mut->n_env_cache + 1) * sizeof *c);
    if (!c) {
      free(copy);
      return ECO_ENOMEM;
    }
    mut->env_cache = c;
    c[mut->n_env_cache++] = copy;
    *out = copy;
    return ECO_OK;
  }
  *out = s.value;
  return ECO_OK;
}

int eco_cfg_double(const eco_cfg *cfg, const eco_cfg_node *base, const char *path, double def,
                   double *out, eco_error *err) {
  scalar_src s;
  resolve(cfg, base, path, &s);
  if (s.wrong_kind) return shape_error(&s, "a number", err);
  if (!s.value) {
    *out = def;
    return ECO_OK;
  }
  char *end;
  errno = 0;
  double v = strtod(s.value, &end);
  while (*end && isspace((unsigned char)*end))
    end++;
  if (end == s.value || *end || errno == ERANGE || !isfinite(v))
    return shape_error(&s, "a finite number", err);
  *out = v;
  return ECO_OK;
}

int eco_cfg_int(const eco_cfg *cfg, const eco_cfg_node *base, const char *path, int64_t def,
                int64_t *out, eco_error *err) {
  scalar_src s;
  resolve(cfg, base, path, &s);
  if (s.wrong_kind) return shape_error(&s, "an integer", err);
  if (!s.value) {
    *out = def;
    return ECO_OK;
  }
  char *end;
  errno = 0;
  long long v = strtoll(s.value, &end, 10);
  while (*end && isspace((unsigned char)*end))
    end++;
  if (end == s.value || *end || errno == ERANGE) return shape_error(&s, "an integer", err);
  *out = (int64_t)v;
  return ECO_OK;
}

int eco_cfg_bool(const eco_cfg *cfg, const eco_cfg_node *base, const char *path, bool def,
                 bool *out, eco_error *err) {
  scalar_src s;
  resolve(cfg, base, path, &s);
  if (s.wrong_kind) return shape_error(&s, "true or false", err);
  if (!s.value) {
    *out = def;
    return ECO_OK;
  }
  static const char *yes[] = {"true", "yes", "on", "1"};
  static const char *no[] = {"false", "no", "off", "0"};
  for (int i = 0; i < 4; i++) {
    if (strcasecmp(s.value, yes[i]) == 0) {
      *out = true;
      return ECO_OK;
    }
    if (strcasecmp(s.value, no[i]) == 0) {
      *out = false;
      return ECO_OK;
    }
  }
  return shape_error(&s, "true or false", err);
}

int eco_parse_duration(const char *s, double *out_s) {
  if (!s) return ECO_EINVAL;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || errno == ERANGE || !isfinite(v) || v < 0) return ECO_EINVAL;
  while (*end == ' ')
    end++;
  double mul;
  if (*end == '\0' || strcmp(end, "s") == 0)
    mul = 1;
  else if (strcmp(end, "ms") == 0)
    mul = 1e-3;
  else if (strcmp(end, "us") == 0)
    mul = 1e-6;
  else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
    mul = 60;
  else if (strcmp(end, "h") == 0)
    mul = 3600;
  else if (strcmp(end, "d") == 0)
    mul = 86400;
  else
    return ECO_EINVAL;
  *out_s = v * mul;
  return ECO_OK;
}

int eco_cfg_duration(const eco_cfg *cfg, const eco_cfg_node *base, const char *path, double def_s,
                     double *out_s, eco_error *err) {
  scalar_src s;
  resolve(cfg, base, path, &s);
  if (s.wrong_kind) return shape_error(&s, "a duration", err);
  if (!s.value) {
    *out_s = def_s;
    return ECO_OK;
  }
  if (eco_parse_duration(s.value, out_s))
    return shape_error(&s, "a duration such as 250ms, 30s, 5m, 24h or 7d", err);
  return ECO_OK;
}

static const char *kind_name(eco_cfg_kind k) {
  switch (k) {
  case ECO_CFG_MAP: return "a mapping";
  case ECO_CFG_SEQ: return "a list";
  case ECO_CFG_SCALAR: return "a value";
  default: return "nothing";
  }
}

static int shape_mismatch(const eco_cfg *cfg, const eco_cfg_node *node, const char *want,
                          eco_error *err) {
  char w[300];
  eco_cfg_where(cfg, node, w, sizeof w);
  if (node->kind == ECO_CFG_SCALAR)
    return eco_error_set(err, ECO_ECONFIG, "%s: key '%s': expected %s, got '%.60s'", w, node->path,
                         want, node->value);
  return eco_error_set(err, ECO_ECONFIG, "%s: key '%s': expected %s, got %s", w,
                       node->path[0] ? node->path : "(top level)", want, kind_name(node->kind));
}

int eco_cfg_check_keys(const eco_cfg *cfg, const eco_cfg_node *node, const char *const *allowed,
                       size_t n_allowed, eco_error *err) {
  if (!node || node->kind == ECO_CFG_NULL) return ECO_OK;
  if (node->kind != ECO_CFG_MAP) return shape_mismatch(cfg, node, "a mapping", err);
  for (size_t i = 0; i < node->n_items; i++) {
    bool ok = false;
    for (size_t j = 0; j < n_allowed && !ok; j++)
      ok = strcmp(node->items[i]->key, allowed[j]) == 0;
    if (!ok) {
      const eco_cfg_node *it = node->items[i];
      return eco_error_set(err, ECO_ECONFIG, "%s:%d:%d: unknown key '%s'", cfg->source,
                           it->key_line, it->key_col, it->path);
    }
  }
  return ECO_OK;
}

/* ---- ranges, strings, origins -------------------------------------------- */

void eco_cfg_origin(const eco_cfg *cfg, const eco_cfg_node *base, const char *path, char *buf,
                    size_t cap) {
  scalar_src s;
  resolve(cfg, base, path, &s);
  if (s.where[0]) {
    snprintf(buf, cap, "%s", s.where);
    return;
  }
  /* absent: the position of the mapping it belongs in, if any */
  char fp[256], w[300];
  full_path(base, path, fp, sizeof fp);
  eco_cfg_where(cfg, base, w, sizeof w);
  snprintf(buf, cap, "%s: key '%s'", w, fp);
}

int eco_cfg_int_range(const eco_cfg *cfg, const eco_cfg_node *base, const char *path, int64_t def,
                      int64_t lo, int64_t hi, int64_t *out, eco_error *err) {
  int64_t v = def;
  int rc = eco_cfg_int(cfg, base, path, def, &v, err);
  if (rc) return rc;
  if (v < lo || v > hi) {
    char w[400];
    eco_cfg_origin(cfg, base, path, w, sizeof w);
    return eco_error_set(err, ECO_ECONFIG, "%s: %lld is out of range [%lld, %lld]", w, (long long)v,
                         (long long)lo, (long long)hi);
  }
  *out = v;
  return ECO_OK;
}

int eco_cfg_double_range(const eco_cfg *cfg, const eco_cfg_node *base, const char *path, double def,
                         double lo, double hi, double *out, eco_error *err) {
  double v = def;
  int rc = eco_cfg_double(cfg, base, path, def, &v, err);
  if (rc) return rc;
  if (!(v >= lo && v <= hi)) {
    char w[400];
    eco_cfg_origin(cfg, base, path, w, sizeof w);
    return eco_error_set(err, ECO_ECONFIG, "%s: %g is out of range [%g, %g]", w, v, lo, hi);
  }
  *out = v;
  return ECO_OK;
}

int eco_cfg_strcpy(const eco_cfg *cfg, const eco_cfg_node *base, const char *path, const char *def,
                   char *buf, size_t cap, eco_error *err) {
  const char *v = NULL;
  int rc = eco_cfg_str(cfg, base, path, def, &v, err);
  if (rc) return rc;
  if (!v) v = "";
  size_t n = strlen(v);
  if (n >= cap) {
    char w[400];
    eco_cfg_origin(cfg, base, path, w, sizeof w);
    return eco_error_set(err, ECO_ECONFIG, "%s: longer than %zu characters", w, cap - 1);
  }
  memmove(buf, v, n + 1); /* v may be buf itself (the default) */
  return ECO_OK;
}

/* ---- schemas ---------------------------------------------------------------- */

/* Edit distance of short keys, for "did you mean"; large when far apart. */
static size_t distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 32 || lb > 32) return 99;
  size_t row[33];
  for (size_t j = 0; j <= lb; j++)
    row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t up = row[j];
      size_t best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[lb];
}

static const eco_cfg_schema *schema_child(const eco_cfg_schema *s, const char *key) {
  for (size_t i = 0; i < s->n_items; i++)
    if (s->items[i].key && strcmp(s->items[i].key, key) == 0) return &s->items[i];
  return NULL;
}

static int unknown_key(const eco_cfg *cfg, const eco_cfg_node *it, const eco_cfg_schema *s,
                       eco_error *err) {
  const char *best = NULL;
  size_t bd = 3; /* suggest within 2 edits */
  for (size_t i = 0; i < s->n_items; i++) {
    size_t d = s->items[i].key ? distance(it->key, s->items[i].key) : 99;
    if (d < bd) {
      bd = d;
      best = s->items[i].key;
    }
  }
  if (best)
    return eco_error_set(err, ECO_ECONFIG, "%s:%d:%d: unknown key '%s' (did you mean '%s'?)",
                         cfg->source, it->key_line, it->key_col, it->path, best);
  return eco_error_set(err, ECO_ECONFIG, "%s:%d:%d: unknown key '%s'", cfg->source, it->key_line,
                       it->key_col, it->path);
}

int eco_cfg_check_schema(const eco_cfg *cfg, const eco_cfg_node *node, const eco_cfg_schema *schema,
                         eco_error *err) {
  if (!node || node->kind == ECO_CFG_NULL) return ECO_OK;
  int rc = ECO_OK;
  switch (schema->shape) {
  case ECO_CFG_S_VALUE:
    if (node->kind != ECO_CFG_SCALAR) return shape_mismatch(cfg, node, "a single value", err);
    return ECO_OK;
  case ECO_CFG_S_VALUE_OR_MAP:
    if (node->kind == ECO_CFG_SCALAR) return ECO_OK;
    /* fall through */
  case ECO_CFG_S_MAP:
    if (node->kind != ECO_CFG_MAP) return shape_mismatch(cfg, node, "a mapping", err);
    for (size_t i = 0; i < node->n_items && !rc; i++) {
      const eco_cfg_schema *c = schema_child(schema, node->items[i]->key);
      rc = c ? eco_cfg_check_schema(cfg, node->items[i], c, err)
             : unknown_key(cfg, node->items[i], schema, err);
    }
    return rc;
  case ECO_CFG_S_LIST:
    if (node->kind != ECO_CFG_SEQ) return shape_mismatch(cfg, node, "a list", err);
    for (size_t i = 0; i < node->n_items && !rc; i++)
      rc = eco_cfg_check_schema(cfg, node->items[i], schema->items, err);
    return rc;
  case ECO_CFG_S_DICT:
    if (node->kind != ECO_CFG_MAP) return shape_mismatch(cfg, node, "a mapping", err);
    for (size_t i = 0; i < node->n_items && !rc; i++)
      rc = eco_cfg_check_schema(cfg, node->items[i], schema->items, err);
    return rc;
  }
  return ECO_OK;
}

bool eco_cfg_schema_knows(const eco_cfg_schema *schema, const char *path) {
  const eco_cfg_schema *s = schema;
  while (s && path && *path) {
    const char *dot = strchr(path, '.');
    size_t len = dot ? (size_t)(dot - path) : strlen(path);
    char seg[128];
    if (len >= sizeof seg) return false;
    memcpy(seg, path, len);
    seg[len] = '\0';
    if (s->shape == ECO_CFG_S_MAP || s->shape == ECO_CFG_S_VALUE_OR_MAP) {
      s = schema_child(s, seg);
    } else if (s->shape == ECO_CFG_S_LIST) {
      if (!len || strspn(seg, "0123456789") != len) return false;
      s = s->items;
    } else if (s->shape == ECO_CFG_S_DICT) {
      s = s->items;
    } else {
      return false;
    }
    path = dot ? dot + 1 : path + len;
  }
  return s != NULL;
}
