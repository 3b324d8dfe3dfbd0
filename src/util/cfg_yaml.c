/* The event-driven YAML tree builder (see cfg_yaml.h). */
#include "util/cfg_yaml.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct anchor {
  char *name;
  eco_cfg_node *node;
  bool open; /* the anchored collection has not ended yet */
} anchor;

typedef struct frame {
  eco_cfg_node *n;
  size_t anchor; /* index + 1 of the anchor naming n, or 0 */
  char *key;     /* map: the key read, its value comes next (NULL: expecting a key) */
  int key_line, key_col;
} frame;

typedef struct builder {
  const char *source;
  eco_error *err;
  frame stack[ECO_CFG_MAX_DEPTH];
  int depth;
  anchor *anchors;
  size_t n_anchors, cap_anchors;
  size_t n_nodes, text;
  const yaml_mark_t *alias_at; /* the alias being expanded, for errors */
  const char *alias_name;
  eco_cfg_node *root;
  bool root_done;
} builder;

void eco_cfg_node_free(eco_cfg_node *n) {
  if (!n) return;
  for (size_t i = 0; i < n->n_items; i++)
    eco_cfg_node_free(n->items[i]);
  free(n->items);
  free(n->key);
  free(n->path);
  free(n->value);
  free(n);
}

static int fail_at(builder *b, const yaml_mark_t *m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_at(builder *b, const yaml_mark_t *m, const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  eco_error_set(b->err, ECO_ECONFIG, "%s:%zu:%zu: %s", b->source, m->line + 1, m->column + 1, msg);
  return ECO_ECONFIG;
}

static int oom(builder *b) {
  eco_error_set(b->err, ECO_ENOMEM, "%s: out of memory while reading", b->source);
  return ECO_ENOMEM;
}

static char *path_join(const char *base, const char *key) {
  size_t a = strlen(base), k = strlen(key);
  char *p = malloc(a + k + 2);
  if (!p) return NULL;
  if (a) {
    memcpy(p, base, a);
    p[a] = '.';
    memcpy(p + a + 1, key, k + 1);
  } else {
    memcpy(p, key, k + 1);
  }
  return p;
}

/* Charges nodes and bytes of text to the budgets. */
static int charge(builder *b, const yaml_mark_t *m, size_t n_nodes, size_t bytes) {
  b->text += bytes;
  b->n_nodes += n_nodes;
  bool nodes = b->n_nodes > ECO_CFG_MAX_NODES, text = b->text > ECO_CFG_MAX_TEXT;
  if (!nodes && !text) return ECO_OK;
  const char *what = nodes ? "more than 100000 values" : "more than 16 MiB of keys and values";
  if (b->alias_at)
    return fail_at(b, b->alias_at, "%s once alias '*%s' is expanded (an alias bomb?): refused",
                   what, b->alias_name);
  return fail_at(b, m, "%s: refused", what);
}

/* A new node at the current position in the tree: key and path come from
 * the open frame (a map's pending key or a list index). */
static int new_node(builder *b, eco_cfg_kind kind, const yaml_mark_t *m, eco_cfg_node **out) {
  *out = NULL;
  eco_cfg_node *n = calloc(1, sizeof *n);
  if (!n) return oom(b);
  n->kind = kind;
  n->line = (int)m->line + 1;
  n->col = (int)m->column + 1;
  n->key_line = n->line;
  n->key_col = n->col;
  frame *f = b->depth ? &b->stack[b->depth - 1] : NULL;
  char idx[24];
  const char *seg = NULL;
  if (f && f->n->kind == ECO_CFG_MAP) {
    n->key = f->key; /* ownership moves to the node */
    f->key = NULL;
    n->key_line = f->key_line;
    n->key_col = f->key_col;
    seg = n->key;
  } else if (f) {
    snprintf(idx, sizeof idx, "%zu", f->n->n_items);
    seg = idx;
  }
  n->path = seg ? path_join(f->n->path, seg) : strdup("");
  if (!n->path) {
    eco_cfg_node_free(n);
    return oom(b);
  }
  int rc = charge(b, m, 1, strlen(n->path) + 1);
  if (rc) {
    eco_cfg_node_free(n);
    return rc;
  }
  *out = n;
  return ECO_OK;
}

/* Links n under the open frame (or makes it the root). Frees n on error. */
static int attach(builder *b, eco_cfg_node *n, const yaml_mark_t *m) {
  if (!b->depth) {
    b->root_done = true;
    if (n->kind == ECO_CFG_NULL) { /* an empty document */
      eco_cfg_node_free(n);
      return ECO_OK;
    }
    if (n->kind != ECO_CFG_MAP) {
      eco_cfg_node_free(n);
      return fail_at(b, m, "the top level must be a mapping of keys");
    }
    b->root = n;
    return ECO_OK;
  }
  eco_cfg_node *p = b->stack[b->depth - 1].n;
  if ((p->n_items & (p->n_items - 1)) == 0) { /* full at 0, 1, 2, 4, ...: double */
    eco_cfg_node **items = realloc(p->items, (p->n_items ? 2 * p->n_items : 1) * sizeof *items);
    if (!items) {
      eco_cfg_node_free(n);
      return oom(b);
    }
    p->items = items;
  }
  p->items[p->n_items++] = n;
  return ECO_OK;
}

static int add_anchor(builder *b, const char *name, eco_cfg_node *n, bool open, size_t *idx) {
  if (b->n_anchors == b->cap_anchors) {
    size_t cap = b->cap_anchors ? 2 * b->cap_anchors : 8;
    anchor *grown = realloc(b->anchors, cap * sizeof *grown);
    if (!grown) return oom(b);
    b->anchors = grown;
    b->cap_anchors = cap;
  }
  char *nm = strdup(name);
  if (!nm) return oom(b);
  anchor *a = &b->anchors[b->n_anchors];
  a->name = nm;
  a->node = n;
  a->open = open;
  *idx = ++b->n_anchors;
  return ECO_OK;
}

static const anchor *find_anchor(const builder *b, const char *name) {
  for (size_t i = b->n_anchors; i-- > 0;) /* the latest definition wins */
    if (strcmp(b->anchors[i].name, name) == 0) return &b->anchors[i];
  return NULL;
}

/* In a map expecting a key: takes text as the key. */
static int take_key(builder *b, const char *text, const yaml_mark_t *m) {
  frame *f = &b->stack[b->depth - 1];
  if (strlen(text) > ECO_CFG_MAX_KEY)
    return fail_at(b, m, "key longer than 256 characters: '%.60s...'", text);
  if (strchr(text, '.')) return fail_at(b, m, "key '%s' must not contain '.'", text);
  if (!(f->key = strdup(text))) return oom(b);
  f->key_line = (int)m->line + 1;
  f->key_col = (int)m->column + 1;
  return ECO_OK;
}

static bool expecting_key(const builder *b) {
  const frame *f = b->depth ? &b->stack[b->depth - 1] : NULL;
  return f && f->n->kind == ECO_CFG_MAP && !f->key;
}

static int on_scalar(builder *b, const yaml_event_t *ev) {
  const char *v = (const char *)ev->data.scalar.value;
  const yaml_mark_t *m = &ev->start_mark;
  if (expecting_key(b)) return take_key(b, v, m);
  bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
  bool null = plain && (v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
                        strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0);
  eco_cfg_node *n;
  int rc = new_node(b, null ? ECO_CFG_NULL : ECO_CFG_SCALAR, m, &n);
  if (rc) return rc;
  if (!null) {
    if (!(n->value = strdup(v)))
      rc = oom(b);
    else
      rc = charge(b, m, 0, ev->data.scalar.length);
  }
  if (rc) {
    eco_cfg_node_free(n);
    return rc;
  }
  if (ev->data.scalar.anchor) {
    size_t idx;
    if ((rc = add_anchor(b, (const char *)ev->data.scalar.anchor, n, false, &idx))) {
      eco_cfg_node_free(n);
      return rc;
    }
  }
  return attach(b, n, m);
}

static int on_open(builder *b, const yaml_event_t *ev, eco_cfg_kind kind, const yaml_char_t *anc) {
  const yaml_mark_t *m = &ev->start_mark;
  if (expecting_key(b)) return fail_at(b, m, "mapping keys must be scalars");
  if (b->depth >= ECO_CFG_MAX_DEPTH) return fail_at(b, m, "nesting deeper than 64 levels");
  eco_cfg_node *n;
  int rc = new_node(b, kind, m, &n);
  if (rc || (rc = attach(b, n, m))) return rc;
  size_t idx = 0;
  if (anc && (rc = add_anchor(b, (const char *)anc, n, true, &idx))) return rc;
  b->stack[b->depth++] = (frame){.n = n, .anchor = idx};
  return ECO_OK;
}

static int cmp_item(const void *x, const void *y) {
  const eco_cfg_node *a = *(eco_cfg_node *const *)x, *c = *(eco_cfg_node *const *)y;
  int k = strcmp(a->key, c->key);
  if (k) return k;
  if (a->key_line != c->key_line) return a->key_line < c->key_line ? -1 : 1;
  return (a->key_col > c->key_col) - (a->key_col < c->key_col);
}

/* Duplicate keys of a finished mapping, O(n log n): the error names the
 * first repeated key in document order. */
static int check_dups(builder *b, const eco_cfg_node *n) {
  if (n->n_items < 2) return ECO_OK;
  eco_cfg_node **s = malloc(n->n_items * sizeof *s);
  if (!s) return oom(b);
  memcpy(s, n->items, n->n_items * sizeof *s);
  qsort(s, n->n_items, sizeof *s, cmp_item);
  const eco_cfg_node *dup = NULL;
  for (size_t i = 1; i < n->n_items; i++)
    if (strcmp(s[i - 1]->key, s[i]->key) == 0 &&
        (!dup || s[i]->key_line < dup->key_line ||
         (s[i]->key_line == dup->key_line && s[i]->key_col < dup->key_col)))
      dup = s[i];
  int rc = ECO_OK;
  if (dup)
    rc = eco_error_set(b->err, ECO_ECONFIG, "%s:%d:%d: duplicate key '%s'", b->source,
                       dup->key_line, dup->key_col, dup->key);
  free(s);
  return rc;
}

static int on_close(builder *b, const yaml_mark_t *m) {
  if (b->depth == 0) return fail_at(b, m, "unbalanced end of a collection"); /* not from libyaml */
  frame *f = &b->stack[--b->depth];
  if (f->anchor) b->anchors[f->anchor - 1].open = false;
  free(f->key); /* a key without a value cannot happen with libyaml's events */
  f->key = NULL;
  return f->n->kind == ECO_CFG_MAP ? check_dups(b, f->n) : ECO_OK;
}

/* A copy of src at the current position (an alias), counted in full. */
static int copy_tree(builder *b, const eco_cfg_node *src, const yaml_mark_t *m,
                     eco_cfg_node **out) {
  eco_cfg_node *n;
  int rc = new_node(b, src->kind, m, &n);
  if (rc) return rc;
  if (src->value && !(n->value = strdup(src->value))) rc = oom(b);
  if (!rc && src->value) rc = charge(b, m, 0, strlen(src->value));
  if (!rc && b->depth >= ECO_CFG_MAX_DEPTH && src->n_items)
    rc = fail_at(b, m, "nesting deeper than 64 levels (through an alias)");
  if (!rc && src->n_items) {
    /* the copy becomes a frame for its children's keys and paths */
    b->stack[b->depth++] = (frame){.n = n};
    for (size_t i = 0; i < src->n_items && !rc; i++) {
      const eco_cfg_node *c = src->items[i];
      eco_cfg_node *cc = NULL;
      if (c->key && !(b->stack[b->depth - 1].key = strdup(c->key))) {
        rc = oom(b);
        break;
      }
      b->stack[b->depth - 1].key_line = c->key_line;
      b->stack[b->depth - 1].key_col = c->key_col;
      const yaml_mark_t cm = {.line = (size_t)(c->line - 1), .column = (size_t)(c->col - 1)};
      if ((rc = copy_tree(b, c, &cm, &cc))) break;
      if ((rc = attach(b, cc, &cm))) break;
    }
    frame *f = &b->stack[--b->depth];
    free(f->key);
  }
  if (rc) {
    eco_cfg_node_free(n);
    return rc;
  }
  *out = n;
  return ECO_OK;
}

static int on_alias(builder *b, const yaml_event_t *ev) {
  const char *name = (const char *)ev->data.alias.anchor;
  const yaml_mark_t *m = &ev->start_mark;
  const anchor *a = find_anchor(b, name);
  if (!a) return fail_at(b, m, "alias '*%s' names no anchor defined before it", name);
  if (a->open) return fail_at(b, m, "alias '*%s' refers to a node that contains it", name);
  if (expecting_key(b)) {
    if (a->node->kind != ECO_CFG_SCALAR)
      return fail_at(b, m, "mapping keys must be scalars (alias '*%s')", name);
    return take_key(b, a->node->value, m);
  }
  eco_cfg_node *n;
  b->alias_at = m;
  b->alias_name = name;
  int rc = copy_tree(b, a->node, m, &n);
  b->alias_at = NULL;
  return rc ? rc : attach(b, n, m);
}

static int on_event(builder *b, const yaml_event_t *ev) {
  bool value = ev->type == YAML_SCALAR_EVENT || ev->type == YAML_ALIAS_EVENT ||
               ev->type == YAML_SEQUENCE_START_EVENT || ev->type == YAML_MAPPING_START_EVENT;
  if (value && !b->depth && b->root_done)
    return fail_at(b, &ev->start_mark, "only one YAML document per configuration file");
  switch (ev->type) {
  case YAML_SCALAR_EVENT: return on_scalar(b, ev);
  case YAML_ALIAS_EVENT: return on_alias(b, ev);
  case YAML_SEQUENCE_START_EVENT:
    return on_open(b, ev, ECO_CFG_SEQ, ev->data.sequence_start.anchor);
  case YAML_MAPPING_START_EVENT: return on_open(b, ev, ECO_CFG_MAP, ev->data.mapping_start.anchor);
  case YAML_SEQUENCE_END_EVENT:
  case YAML_MAPPING_END_EVENT: return on_close(b, &ev->start_mark);
  default: return ECO_OK; /* stream and document boundaries */
  }
}

int eco_cfg_yaml_build(yaml_parser_t *parser, const char *source, eco_cfg_node **root,
                       eco_error *err) {
  builder b = {.source = source, .err = err};
  int rc = ECO_OK;
  for (bool end = false; !end && !rc;) {
    yaml_event_t ev;
    if (!yaml_parser_parse(parser, &ev)) {
      rc = eco_error_set(err, ECO_ECONFIG, "%s:%zu:%zu: %s%s%s", source,
                         parser->problem_mark.line + 1, parser->problem_mark.column + 1,
                         parser->problem ? parser->problem : "syntax error",
                         parser->context ? " " : "", parser->context ? parser->context : "");
      break;
    }
    end = ev.type == YAML_STREAM_END_EVENT;
    rc = on_event(&b, &ev);
    yaml_event_delete(&ev);
  }
  while (b.depth > 0)
    free(b.stack[--b.depth].key);
  for (size_t i = 0; i < b.n_anchors; i++)
    free(b.anchors[i].name);
  free(b.anchors);
  if (rc) {
    eco_cfg_node_free(b.root);
    return rc;
  }
  *root = b.root;
  return ECO_OK;
}
