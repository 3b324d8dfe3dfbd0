/* ecoinfer: the Jinja parser (tokens to a tree): the helpers both halves
 * share, the statements ({% if %}, {% for %}, {% set %}, {% macro %}, ...),
 * the template body and the entry point. Expressions are in jj_parse_expr.c. */
#include "jinja/jj_parse_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *jj_p_describe(const jj_tok *t) {
  switch (t->type) {
  case T_EOF: return "end of template";
  case T_TEXT: return "text";
  case T_VAR_BEGIN: return "'{{'";
  case T_VAR_END: return "'}}'";
  case T_BLOCK_BEGIN: return "'{%'";
  case T_BLOCK_END: return "'%}'";
  case T_NAME: return t->s->p;
  case T_STRING: return "string";
  case T_INT: return "integer";
  case T_FLOAT: return "float";
  default: return t->op;
  }
}

void *jj_p_fail_at(parser *p, const jj_tok *t, int code, const char *fmt, ...) {
  if (p->rc == ECO_OK) {
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    p->rc = eco_error_set(p->err, code, "line %u, column %u: %s", t->line, t->col, msg);
  }
  return NULL;
}

jj_node *jj_p_node(parser *p, jj_kind kind, const jj_tok *at) {
  jj_node *n = jj_arena_alloc(p->arena, sizeof *n);
  if (!n) {
    if (p->rc == ECO_OK) p->rc = eco_error_set(p->err, ECO_ENOMEM, "out of memory");
    return NULL;
  }
  n->kind = (uint8_t)kind;
  n->line = at->line;
  n->col = at->col;
  return n;
}

bool jj_p_vpush(parser *p, nvec *v, jj_node *x) {
  if (!x) return false;
  if (v->n == v->cap) {
    uint32_t cap = v->cap ? v->cap * 2 : 4;
    jj_node **nv = jj_arena_alloc(p->arena, cap * sizeof *nv);
    if (!nv) {
      if (p->rc == ECO_OK) p->rc = eco_error_set(p->err, ECO_ENOMEM, "out of memory");
      return false;
    }
    if (v->n) memcpy(nv, v->v, v->n * sizeof *nv);
    v->v = nv;
    v->cap = cap;
  }
  v->v[v->n++] = x;
  return true;
}

bool jj_p_expect_op(parser *p, const char *op) {
  if (tok_op(cur(p), op)) {
    p->i++;
    return true;
  }
  jj_p_fail_at(p, cur(p), ECO_EFORMAT, "expected '%s', got %s", op, jj_p_describe(cur(p)));
  return false;
}

bool jj_p_enter(parser *p) {
  if (++p->depth > p->max_depth) {
    jj_p_fail_at(p, cur(p), ECO_EOVERFLOW, "nested too deeply");
    return false;
  }
  return true;
}

/* ---- statements ---------------------------------------------------------- */

static jj_node *parse_body(parser *p, const char *const *ends);

static bool expect_block_end(parser *p) {
  if (cur(p)->type == T_BLOCK_END) {
    p->i++;
    return true;
  }
  FAIL(p, "expected '%%}', got %s", jj_p_describe(cur(p)));
  return false;
}

/* Body up to one of ends; leaves the position after that end's name. */
static jj_node *parse_block(parser *p, const char *const *ends, const char **which) {
  if (!expect_block_end(p)) return NULL;
  jj_node *b = parse_body(p, ends);
  if (!b) return NULL;
  *which = cur(p)->s->p;
  p->i++;
  return b;
}

static bool valid_target(const jj_node *t) {
  if (t->kind == N_NAME) return true;
  if (t->kind != N_TUPLE || !t->nkids) return false;
  for (uint32_t k = 0; k < t->nkids; k++)
    if (t->kids[k]->kind != N_NAME) return false;
  return true;
}

static jj_node *parse_assign_target(parser *p, const char *extra_end, bool with_ns) {
  const jj_tok *t = cur(p);
  if (with_ns && t->type == T_NAME && tok_op(look(p, 1), ".") && look(p, 2)->type == T_NAME) {
    jj_node *g = jj_p_node(p, N_GETATTR, t), *nm = jj_p_node(p, N_NAME, t);
    if (!g || !nm) return NULL;
    nm->name = t->s;
    g->a = nm;
    g->name = look(p, 2)->s;
    p->i += 3;
    return g;
  }
  jj_node *x = jj_parse_tuple(p, true, false, extra_end, false);
  if (x && !valid_target(x)) return jj_p_fail_at(p, t, ECO_EFORMAT, "cannot assign to this");
  return x;
}

static jj_node *parse_if(parser *p, const jj_tok *at) {
  static const char *const ends[] = {"elif", "else", "endif", NULL};
  static const char *const endif[] = {"endif", NULL};
  jj_node *n = jj_p_node(p, N_IF, at);
  if (!n || !(n->a = jj_parse_tuple(p, false, false, NULL, false))) return NULL;
  const char *which;
  if (!(n->body = parse_block(p, ends, &which))) return NULL;
  if (!strcmp(which, "elif")) {
    n->orelse = parse_if(p, &p->t[p->i - 1]);
    return n->orelse ? n : NULL;
  }
  if (!strcmp(which, "else")) {
    if (!(n->orelse = parse_block(p, endif, &which))) return NULL;
  }
  return n;
}

static jj_node *parse_for(parser *p, const jj_tok *at) {
  static const char *const ends[] = {"endfor", "else", NULL};
  static const char *const endfor[] = {"endfor", NULL};
  jj_node *n = jj_p_node(p, N_FOR, at);
  if (!n || !(n->a = parse_assign_target(p, "in", false))) return NULL;
  if (!tok_name(cur(p), "in")) return FAIL(p, "expected 'in', got %s", jj_p_describe(cur(p)));
  p->i++;
  if (!(n->b = jj_parse_tuple(p, false, false, "recursive", false))) return NULL;
  if (tok_name(cur(p), "if")) {
    p->i++;
    if (!(n->c = jj_parse_expr(p, true))) return NULL;
  }
  if (tok_name(cur(p), "recursive"))
    return jj_p_fail_at(p, cur(p), ECO_EUNSUPPORTED, "recursive loops are not supported");
  const char *which;
  if (!(n->body = parse_block(p, ends, &which))) return NULL;
  if (!strcmp(which, "else") && !(n->orelse = parse_block(p, endfor, &which))) return NULL;
  return n;
}

static jj_node *parse_set(parser *p, const jj_tok *at) {
  static const char *const ends[] = {"endset", NULL};
  jj_node *target = parse_assign_target(p, NULL, true);
  if (!target) return NULL;
  if (tok_op(cur(p), "=")) {
    p->i++;
    jj_node *n = jj_p_node(p, N_SET, at);
    if (!n) return NULL;
    n->a = target;
    n->b = jj_parse_tuple(p, false, true, NULL, false);
    return n->b ? n : NULL;
  }
  jj_node *n = jj_p_node(p, N_SETBLOCK, at);
  if (!n) return NULL;
  n->a = target;
  if (tok_op(cur(p), "|") && !(n->c = jj_parse_filter(p, NULL, false))) return NULL;
  const char *which;
  n->body = parse_block(p, ends, &which);
  return n->body ? n : NULL;
}

static jj_node *parse_macro(parser *p, const jj_tok *at) {
  static const char *const ends[] = {"endmacro", NULL};
  jj_node *n = jj_p_node(p, N_MACRO, at);
  if (!n) return NULL;
  if (cur(p)->type != T_NAME)
    return FAIL(p, "expected a macro name, got %s", jj_p_describe(cur(p)));
  n->name = cur(p)->s;
  p->i++;
  if (!jj_p_expect_op(p, "(")) return NULL;
  nvec params = {0};
  while (!tok_op(cur(p), ")")) {
    if (params.n && !jj_p_expect_op(p, ",")) return NULL;
    const jj_tok *t = cur(p);
    if (t->type != T_NAME) return FAIL(p, "expected a parameter name, got %s", jj_p_describe(t));
    jj_node *prm = jj_p_node(p, N_NAME, t);
    if (!prm) return NULL;
    prm->name = t->s;
    p->i++;
    if (tok_op(cur(p), "=")) {
      p->i++;
      if (!(prm->b = jj_parse_expr(p, true))) return NULL;
    }
    if (!jj_p_vpush(p, &params, prm)) return NULL;
  }
  p->i++;
  n->kids = params.v;
  n->nkids = params.n;
  const char *which;
  n->body = parse_block(p, ends, &which);
  return n->body ? n : NULL;
}

static jj_node *parse_stmt(parser *p) {
  const jj_tok *at = cur(p);
  if (at->type != T_NAME) return FAIL(p, "expected a tag name, got %s", jj_p_describe(at));
  const char *kw = at->s->p;
  p->i++;
  jj_node *n = NULL;
  const char *which;
  if (!strcmp(kw, "if")) {
    n = parse_if(p, at);
  } else if (!strcmp(kw, "for")) {
    n = parse_for(p, at);
  } else if (!strcmp(kw, "set")) {
    n = parse_set(p, at);
  } else if (!strcmp(kw, "macro")) {
    n = parse_macro(p, at);
  } else if (!strcmp(kw, "break") || !strcmp(kw, "continue")) {
    n = jj_p_node(p, kw[0] == 'b' ? N_BREAK : N_CONTINUE, at);
  } else if (!strcmp(kw, "generation")) {
    static const char *const ends[] = {"endgeneration", NULL};
    n = parse_block(p, ends, &which);
  } else if (!strcmp(kw, "filter")) {
    static const char *const ends[] = {"endfilter", NULL};
    n = jj_p_node(p, N_FILTERBLOCK, at);
    if (n && !(n->a = jj_parse_filter(p, NULL, true))) return NULL;
    if (n && !(n->body = parse_block(p, ends, &which))) return NULL;
  } else {
    return jj_p_fail_at(p, at, ECO_EUNSUPPORTED, "tag '%s' is not supported", kw);
  }
  if (!n || !expect_block_end(p)) return NULL;
  return n;
}

static bool is_end(const jj_tok *t, const char *const *ends) {
  for (size_t k = 0; ends && ends[k]; k++)
    if (tok_name(t, ends[k])) return true;
  return false;
}

static jj_node *parse_body(parser *p, const char *const *ends) {
  const jj_tok *start = cur(p);
  jj_node *body = jj_p_node(p, N_BODY, start);
  nvec v = {0};
  if (!body || !jj_p_enter(p)) return NULL;
  for (;;) {
    const jj_tok *t = cur(p);
    if (t->type == T_EOF) {
      if (ends) return FAIL(p, "unexpected end of template: expected '%s'", ends[0]);
      break;
    }
    if (t->type == T_TEXT) {
      jj_node *x = jj_p_node(p, N_TEXT, t);
      if (!x) return NULL;
      x->lit = jv_strv(t->s);
      p->i++;
      if (!jj_p_vpush(p, &v, x)) return NULL;
    } else if (t->type == T_VAR_BEGIN) {
      p->i++;
      jj_node *x = jj_p_node(p, N_OUTPUT, t);
      if (!x || !(x->a = jj_parse_tuple(p, false, true, NULL, false))) return NULL;
      if (cur(p)->type != T_VAR_END) return FAIL(p, "expected '}}', got %s", jj_p_describe(cur(p)));
      p->i++;
      if (!jj_p_vpush(p, &v, x)) return NULL;
    } else if (t->type == T_BLOCK_BEGIN) {
      p->i++;
      if (is_end(cur(p), ends)) break;
      if (cur(p)->type == T_NAME && !strncmp(cur(p)->s->p, "end", 3))
        return FAIL(p, "unexpected '%s'%s", cur(p)->s->p, ends ? " here" : " (no block is open)");
      if (cur(p)->type == T_NAME && (tok_name(cur(p), "elif") || tok_name(cur(p), "else")))
        return FAIL(p, "unexpected '%s'", cur(p)->s->p);
      if (!jj_p_vpush(p, &v, parse_stmt(p))) return NULL;
    } else {
      return FAIL(p, "unexpected %s", jj_p_describe(t));
    }
  }
  body->kids = v.v;
  body->nkids = v.n;
  p->depth--;
  return body;
}

void jj_limits_fill(eco_jinja_limits *l) {
  if (!l->max_template) l->max_template = (size_t)1 << 20;
  if (!l->max_output) l->max_output = (size_t)32 << 20;
  if (!l->max_memory) l->max_memory = (size_t)256 << 20;
  if (!l->max_steps) l->max_steps = 20000000;
  if (!l->max_depth) l->max_depth = 200;
}

/* Newlines (\r\n, \r) become \n, and one trailing newline goes, as Jinja2
 * does before lexing. Returns the new length. */
static size_t normalise(const char *src, size_t len, char *dst) {
  size_t k = 0;
  for (size_t i = 0; i < len; i++) {
    if (src[i] == '\r') {
      dst[k++] = '\n';
      if (i + 1 < len && src[i + 1] == '\n') i++;
    } else {
      dst[k++] = src[i];
    }
  }
  if (k && dst[k - 1] == '\n') k--;
  return k;
}

int eco_jinja_parse(const char *src, size_t len, const eco_jinja_limits *limits,
                    eco_jinja_tmpl **out, eco_error *err) {
  *out = NULL;
  if (!src) return eco_error_set(err, ECO_EINVAL, "no template");
  eco_jinja_limits lim = limits ? *limits : (eco_jinja_limits){0};
  jj_limits_fill(&lim);
  if (len > lim.max_template)
    return eco_error_set(err, ECO_EOVERFLOW, "template of %zu bytes is over the limit of %zu", len,
                         lim.max_template);
  eco_jinja_tmpl *t = calloc(1, sizeof *t);
  char *norm = malloc(len + 1);
  jj_toks toks = {0};
  int rc = ECO_ENOMEM;
  if (!t || !norm) goto fail;
  t->limits = lim;
  t->arena.limit = lim.max_memory;
  size_t n = normalise(src, len, norm);
  if ((rc = jj_lex(norm, n, &t->arena, &toks, err)) != ECO_OK) goto fail;
  parser p = {.t = toks.v,
              .n = toks.n,
              .arena = &t->arena,
              .err = err,
              .max_depth = lim.max_depth,
              .notes = t->notes};
  t->root = parse_body(&p, NULL);
  if (!t->root) {
    rc = p.rc ? p.rc : eco_error_set(err, ECO_ENOMEM, "out of memory");
    goto fail;
  }
  free(toks.v);
  free(norm);
  *out = t;
  return ECO_OK;
fail:
  if (rc == ECO_ENOMEM && err && !err->msg[0]) eco_error_set(err, ECO_ENOMEM, "out of memory");
  free(toks.v);
  free(norm);
  eco_jinja_free(t);
  return rc;
}

const char *eco_jinja_notes(const eco_jinja_tmpl *t) { return t ? t->notes : ""; }

void eco_jinja_free(eco_jinja_tmpl *t) {
  if (!t) return;
  jj_arena_free(&t->arena);
  free(t);
}
