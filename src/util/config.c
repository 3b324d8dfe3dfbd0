#include "util/config.h"

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

/* ---- tree building ---------------------------------------------------- */

static void node_free(eco_cfg_node *n) {
  if (!n) return;
  for (size_t i = 0; i < n->n_items; i++)
    node_free(n->items[i]);
  free(n->items);
  free(n->key);
  free(n->path);
  free(n->value);
  free(n);
}

static int node_add(eco_cfg_node *parent, eco_cfg_node *child) {
  eco_cfg_node **items = realloc(parent->items, (parent->n_items + 1) * sizeof *items);
  if (!items) return ECO_ENOMEM;
  parent->items = items;
  items[parent->n_items++] = child;
  return ECO_OK;
}

static char *path_join(const char *base, const char *key) {
  size_t a = strlen(base), b = strlen(key);
  char *p = malloc(a + b + 2);
  if (!p) return NULL;
  if (a) {
    memcpy(p, base, a);
    p[a] = '.';
    memcpy(p + a + 1, key, b + 1);
  } else {
    memcpy(p, key, b + 1);
  }
  return p;
}

typedef struct build_ctx {
  yaml_document_t *doc;
  const char *source;
  eco_error *err;
  int depth;
} build_ctx;

static int build(build_ctx *bc, yaml_node_t *yn, const yaml_node_t *key_node, const char *key,
                 const char *path, eco_cfg_node **out) {
  if (++bc->depth > 64) {
    return eco_error_set(bc->err, ECO_ECONFIG, "%s:%zu:%zu: nesting deeper than 64 levels",
                         bc->source, yn->start_mark.line + 1, yn->start_mark.column + 1);
  }
  int rc = ECO_ENOMEM;
  eco_cfg_node *n = calloc(1, sizeof *n);
  if (!n) goto fail;
  n->line = (int)yn->start_mark.line + 1;
  n->col = (int)yn->start_mark.column + 1;
  n->key_line = key_node ? (int)key_node->start_mark.line + 1 : n->line;
  n->key_col = key_node ? (int)key_node->start_mark.column + 1 : n->col;
  n->path = strdup(path);
  if (!n->path) goto fail;
  if (key && !(n->key = strdup(key))) goto fail;

  switch (yn->type) {
  case YAML_SCALAR_NODE: {
    const char *v = (const char *)yn->data.scalar.value;
    bool plain = yn->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    if (plain && (v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0)) {
      n->kind = ECO_CFG_NULL;
    } else {
      n->kind = ECO_CFG_SCALAR;
      if (!(n->value = strdup(v))) goto fail;
    }
    break;
  }
  case YAML_SEQUENCE_NODE: {
    n->kind = ECO_CFG_SEQ;
    size_t i = 0;
    for (yaml_node_item_t *it = yn->data.sequence.items.start; it < yn->data.sequence.items.top;
         it++, i++) {
      char idx[24];
      snprintf(idx, sizeof idx, "%zu", i);
      char *cp = path_join(path, idx);
      if (!cp) goto fail;
      eco_cfg_node *child = NULL;
      rc = build(bc, yaml_document_get_node(bc->doc, *it), NULL, NULL, cp, &child);
      free(cp);
      if (rc) goto fail;
      if ((rc = node_add(n, child))) {
        node_free(child);
        goto fail;
      }
    }
    break;
  }
  case YAML_MAPPING_NODE: {
    n->kind = ECO_CFG_MAP;
    for (yaml_node_pair_t *p = yn->data.mapping.pairs.start; p < yn->data.mapping.pairs.top; p++) {
      yaml_node_t *k = yaml_document_get_node(bc->doc, p->key);
      if (!k || k->type != YAML_SCALAR_NODE) {
        rc = eco_error_set(bc->err, ECO_ECONFIG, "%s:%zu:%zu: mapping keys must be scalars",
                           bc->source, k ? k->start_mark.line + 1 : 0,
                           k ? k->start_mark.column + 1 : 0);
        goto fail;
      }
      const char *ks = (const char *)k->data.scalar.value;
      for (size_t j = 0; j < n->n_items; j++) {
        const eco_cfg_node *sib = n->items[j];
        if (sib && sib->key && strcmp(sib->key, ks) == 0) {
          rc = eco_error_set(bc->err, ECO_ECONFIG, "%s:%zu:%zu: duplicate key '%s'", bc->source,
                             k->start_mark.line + 1, k->start_mark.column + 1, ks);
          goto fail;
        }
      }
      if (strchr(ks, '.')) {
        rc = eco_error_set(bc->err, ECO_ECONFIG, "%s:%zu:%zu: key '%s' must not contain '.'",
                           bc->source, k->start_mark.line + 1, k->start_mark.column + 1, ks);
        goto fail;
      }
      char *cp = path_join(path, ks);
      if (!cp) {
        rc = ECO_ENOMEM;
        goto fail;
      }
      eco_cfg_node *child = NULL;
      rc = build(bc, yaml_document_get_node(bc->doc, p->value), k, ks, cp, &child);
      free(cp);
      if (rc) goto fail;
      if ((rc = node_add(n, child))) {
        node_free(child);
        goto fail;
      }
    }
    break;
  }
  default: n->kind = ECO_CFG_NULL;
  }
  bc->depth--;
  *out = n;
  return ECO_OK;
fail:
  if (rc == ECO_ENOMEM && bc->err && bc->err->code != ECO_ENOMEM)
    eco_error_set(bc->err, ECO_ENOMEM, "%s: out of memory while reading", bc->source);
  node_free(n);
  return rc;
}

static int load(yaml_parser_t *parser, const char *source, eco_cfg **out, eco_error *err) {
  int rc = ECO_ENOMEM;
  yaml_document_t doc;
  bool have_doc = false;
  eco_cfg *cfg = calloc(1, sizeof *cfg);
  if (!cfg) goto fail;
  cfg->use_env = true;
  if (!(cfg->source = strdup(source))) goto fail;
  if (!yaml_parser_load(parser, &doc)) {
    rc = eco_error_set(err, ECO_ECONFIG, "%s:%zu:%zu: %s%s%s", source,
                       parser->problem_mark.line + 1, parser->problem_mark.column + 1,
                       parser->problem ? parser->problem : "syntax error",
                       parser->context ? " " : "", parser->context ? parser->context : "");
    goto fail;
  }
  have_doc = true;
  yaml_node_t *root = yaml_document_get_root_node(&doc);
  if (root) {
    if (root->type != YAML_MAPPING_NODE) {
      rc = eco_error_set(err, ECO_ECONFIG, "%s:%zu:%zu: the top level must be a mapping of keys",
                         source, root->start_mark.line + 1, root->start_mark.column + 1);
      goto fail;
    }
    build_ctx bc = {.doc = &doc, .source = source, .err = err};
    if ((rc = build(&bc, root, NULL, NULL, "", &cfg->root))) goto fail;
  }
  yaml_document_delete(&doc);
  *out = cfg;
  return ECO_OK;
fail:
  if (have_doc) yaml_document_delete(&doc);
  eco_cfg_free(cfg);
  return rc;
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
  node_free(cfg->root);
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

int eco_cfg_check_keys(const eco_cfg *cfg, const eco_cfg_node *node, const char *const *allowed,
                       size_t n_allowed, eco_error *err) {
  if (!node || node->kind != ECO_CFG_MAP) return ECO_OK;
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
