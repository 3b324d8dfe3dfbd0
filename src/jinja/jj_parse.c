/* ecoinfer: the Jinja parser (tokens to a tree), following Jinja2's grammar
 * and operator precedence: conditional < or < and < not < comparisons <
 * + - < ~ < * / // % < ** < unary - + < postfix (. [] ()) < filters and tests. */
#include "jinja/jj_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
  const jj_tok *t;
  size_t n, i;
  jj_arena *arena;
  eco_error *err;
  unsigned depth, max_depth;
  int rc;
  char *notes; /* [256]: the first construct that fails when reached */
} parser;

typedef struct nvec {
  jj_node **v;
  uint32_t n, cap;
} nvec;

static const jj_tok *cur(parser *p) { return &p->t[p->i < p->n ? p->i : p->n - 1]; }
static const jj_tok *look(parser *p, size_t k) {
  return &p->t[p->i + k < p->n ? p->i + k : p->n - 1];
}
static bool tok_op(const jj_tok *t, const char *op) {
  return t->type == T_OP && strcmp(t->op, op) == 0;
}
static bool tok_name(const jj_tok *t, const char *kw) {
  return t->type == T_NAME && strcmp(t->s->p, kw) == 0;
}

static const char *describe(const jj_tok *t) {
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

static void *fail_at(parser *p, const jj_tok *t, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void *fail_at(parser *p, const jj_tok *t, int code, const char *fmt, ...) {
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
#define FAIL(p, ...) fail_at((p), cur(p), ECO_EFORMAT, __VA_ARGS__)

/* Jinja2 reports an unknown filter or test only when it is reached (it may
 * sit in a branch never taken), so they parse, fail when evaluated, and the
 * first one is noted for eco_jinja_notes. */
static void note(parser *p, const jj_tok *at, const char *what, const char *name) {
  if (p->notes && !p->notes[0])
    snprintf(p->notes, 256,
             "line %u, column %u: unknown %s '%s' (rendering fails where it is reached)", at->line,
             at->col, what, name);
}

static jj_node *node(parser *p, jj_kind kind, const jj_tok *at) {
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

static bool vpush(parser *p, nvec *v, jj_node *x) {
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

static bool expect_op(parser *p, const char *op) {
  if (tok_op(cur(p), op)) {
    p->i++;
    return true;
  }
  fail_at(p, cur(p), ECO_EFORMAT, "expected '%s', got %s", op, describe(cur(p)));
  return false;
}

static bool enter(parser *p) {
  if (++p->depth > p->max_depth) {
    fail_at(p, cur(p), ECO_EOVERFLOW, "nested too deeply");
    return false;
  }
  return true;
}

static jj_node *parse_expr(parser *p, bool with_cond);
static jj_node *parse_tuple(parser *p, bool simplified, bool with_cond, const char *extra_end,
                            bool explicit_paren);
static jj_node *parse_unary(parser *p, bool with_filter);
static jj_node *parse_primary(parser *p);
static jj_node *parse_postfix(parser *p, jj_node *x);

/* ( args ) into n->kids / n->kw / n->npos. */
static bool parse_call_args(parser *p, jj_node *n) {
  if (!expect_op(p, "(")) return false;
  nvec pos = {0}, kwv = {0};
  const jj_str **names = NULL;
  uint32_t nkw = 0, kwcap = 0;
  while (!tok_op(cur(p), ")")) {
    if (pos.n + kwv.n && !expect_op(p, ",")) return false;
    if (tok_op(cur(p), ")")) break;
    if (tok_op(cur(p), "*") || tok_op(cur(p), "**")) {
      fail_at(p, cur(p), ECO_EUNSUPPORTED, "*args and **kwargs in calls are not supported");
      return false;
    }
    if (cur(p)->type == T_NAME && tok_op(look(p, 1), "=")) {
      if (nkw == kwcap) {
        uint32_t cap = kwcap ? kwcap * 2 : 4;
        const jj_str **nn = jj_arena_alloc(p->arena, cap * sizeof *nn);
        if (!nn) return false;
        if (nkw) memcpy(nn, names, nkw * sizeof *nn);
        names = nn;
        kwcap = cap;
      }
      names[nkw++] = cur(p)->s;
      p->i += 2;
      if (!vpush(p, &kwv, parse_expr(p, true))) return false;
    } else {
      if (kwv.n) {
        FAIL(p, "positional argument after keyword argument");
        return false;
      }
      if (!vpush(p, &pos, parse_expr(p, true))) return false;
    }
  }
  p->i++;
  for (uint32_t k = 0; k < kwv.n; k++)
    if (!vpush(p, &pos, kwv.v[k])) return false;
  n->kids = pos.v;
  n->nkids = pos.n;
  n->npos = pos.n - kwv.n;
  n->kw = names;
  return true;
}

static const jj_str *dotted_name(parser *p) {
  const jj_tok *t = cur(p);
  if (t->type != T_NAME) {
    FAIL(p, "expected a name, got %s", describe(t));
    return NULL;
  }
  p->i++;
  const jj_str *s = t->s;
  while (tok_op(cur(p), ".") && look(p, 1)->type == T_NAME) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s.%s", s->p, look(p, 1)->s->p);
    s = jj_str_new(p->arena, buf, strlen(buf));
    if (!s) return NULL;
    p->i += 2;
  }
  return s;
}

static jj_node *parse_filter(parser *p, jj_node *x, bool inline_start) {
  while (tok_op(cur(p), "|") || inline_start) {
    if (!inline_start) p->i++;
    inline_start = false;
    const jj_tok *at = cur(p);
    jj_node *f = node(p, N_FILTER, at);
    if (!f || !(f->name = dotted_name(p))) return NULL;
    if (!jj_has_filter(f->name->p)) note(p, at, "filter", f->name->p);
    f->a = x;
    if (tok_op(cur(p), "(") && !parse_call_args(p, f)) return NULL;
    x = f;
  }
  return x;
}

static jj_node *parse_test(parser *p, jj_node *x) {
  const jj_tok *at = cur(p);
  p->i++; /* is */
  jj_node *t = node(p, N_TEST, at);
  if (!t) return NULL;
  if (tok_name(cur(p), "not")) {
    t->op = 1;
    p->i++;
  }
  if (!(t->name = dotted_name(p))) return NULL;
  if (!jj_has_test(t->name->p)) note(p, at, "test", t->name->p);
  t->a = x;
  const jj_tok *c = cur(p);
  if (tok_op(c, "(")) {
    if (!parse_call_args(p, t)) return NULL;
  } else if ((c->type == T_NAME || c->type == T_STRING || c->type == T_INT || c->type == T_FLOAT ||
              tok_op(c, "[") || tok_op(c, "{")) &&
             !tok_name(c, "else") && !tok_name(c, "or") && !tok_name(c, "and")) {
    if (tok_name(c, "is")) return FAIL(p, "tests cannot be chained with 'is'");
    jj_node *arg = parse_postfix(p, parse_primary(p));
    nvec v = {0};
    if (!vpush(p, &v, arg)) return NULL;
    t->kids = v.v;
    t->nkids = t->npos = 1;
  }
  return t;
}

static jj_node *parse_filter_expr(parser *p, jj_node *x) {
  while (x) {
    if (tok_op(cur(p), "|")) {
      x = parse_filter(p, x, false);
    } else if (tok_name(cur(p), "is")) {
      x = parse_test(p, x);
    } else if (tok_op(cur(p), "(")) {
      jj_node *c = node(p, N_CALL, cur(p));
      if (!c) return NULL;
      c->a = x;
      if (!parse_call_args(p, c)) return NULL;
      x = c;
    } else {
      break;
    }
  }
  return x;
}

static jj_node *parse_subscribed(parser *p) {
  jj_node *parts[3] = {NULL, NULL, NULL};
  const jj_tok *at = cur(p);
  if (!tok_op(cur(p), ":")) {
    parts[0] = parse_expr(p, true);
    if (!parts[0]) return NULL;
    if (!tok_op(cur(p), ":")) return parts[0];
  }
  p->i++; /* : */
  if (!tok_op(cur(p), "]") && !tok_op(cur(p), ",") && !tok_op(cur(p), ":")) {
    if (!(parts[1] = parse_expr(p, true))) return NULL;
  }
  if (tok_op(cur(p), ":")) {
    p->i++;
    if (!tok_op(cur(p), "]") && !tok_op(cur(p), ",")) {
      if (!(parts[2] = parse_expr(p, true))) return NULL;
    }
  }
  jj_node *s = node(p, N_SLICE, at);
  if (!s) return NULL;
  s->kids = jj_arena_alloc(p->arena, 3 * sizeof *s->kids);
  if (!s->kids) return NULL;
  memcpy(s->kids, parts, sizeof parts);
  s->nkids = 3;
  return s;
}

static jj_node *parse_postfix(parser *p, jj_node *x) {
  while (x) {
    const jj_tok *t = cur(p);
    if (tok_op(t, ".")) {
      p->i++;
      const jj_tok *a = cur(p);
      if (a->type == T_NAME) {
        jj_node *g = node(p, N_GETATTR, t);
        if (!g) return NULL;
        g->a = x;
        g->name = a->s;
        p->i++;
        x = g;
      } else if (a->type == T_INT) {
        jj_node *g = node(p, N_GETITEM, t), *k = node(p, N_LIT, a);
        if (!g || !k) return NULL;
        k->lit = jv_int(a->i);
        g->a = x;
        g->b = k;
        p->i++;
        x = g;
      } else {
        return FAIL(p, "expected a name or number after '.', got %s", describe(a));
      }
    } else if (tok_op(t, "[")) {
      p->i++;
      nvec args = {0};
      while (!tok_op(cur(p), "]")) {
        if (args.n && !expect_op(p, ",")) return NULL;
        if (!vpush(p, &args, parse_subscribed(p))) return NULL;
      }
      p->i++;
      if (!args.n) return fail_at(p, t, ECO_EFORMAT, "empty subscript");
      for (uint32_t k = 0; args.n > 1 && k < args.n; k++)
        if (args.v[k]->kind == N_SLICE) /* x[a:b, c]: no value here takes such an index */
          return fail_at(p, t, ECO_EUNSUPPORTED, "a slice in a subscript of several items");
      jj_node *g;
      if (args.n == 1 && args.v[0]->kind == N_SLICE) {
        g = args.v[0];
        g->a = x;
      } else {
        g = node(p, N_GETITEM, t);
        if (!g) return NULL;
        g->a = x;
        if (args.n == 1) {
          g->b = args.v[0];
        } else {
          jj_node *tu = node(p, N_TUPLE, t);
          if (!tu) return NULL;
          tu->kids = args.v;
          tu->nkids = args.n;
          g->b = tu;
        }
      }
      x = g;
    } else if (tok_op(t, "(")) {
      jj_node *c = node(p, N_CALL, t);
      if (!c) return NULL;
      c->line = x->line; /* report a call where its callee starts */
      c->col = x->col;
      c->a = x;
      if (!parse_call_args(p, c)) return NULL;
      x = c;
    } else {
      break;
    }
  }
  return x;
}

static jj_node *parse_list_or_dict(parser *p, bool dict) {
  const jj_tok *at = cur(p);
  p->i++;
  jj_node *n = node(p, dict ? N_DICT : N_LIST, at);
  nvec v = {0};
  const char *close = dict ? "}" : "]";
  while (n && !tok_op(cur(p), close)) {
    if (v.n && !expect_op(p, ",")) return NULL;
    if (tok_op(cur(p), close)) break;
    if (!vpush(p, &v, parse_expr(p, true))) return NULL;
    if (dict && (!expect_op(p, ":") || !vpush(p, &v, parse_expr(p, true)))) return NULL;
  }
  if (!n) return NULL;
  p->i++;
  n->kids = v.v;
  n->nkids = v.n;
  return n;
}

static jj_node *parse_primary(parser *p) {
  const jj_tok *t = cur(p);
  if (!enter(p)) return NULL;
  jj_node *n = NULL;
  if (t->type == T_NAME) {
    const char *s = t->s->p;
    n = node(p, N_LIT, t);
    if (!n) return NULL;
    if (!strcmp(s, "true") || !strcmp(s, "True")) {
      n->lit = jv_bool(true);
    } else if (!strcmp(s, "false") || !strcmp(s, "False")) {
      n->lit = jv_bool(false);
    } else if (!strcmp(s, "none") || !strcmp(s, "None")) {
      n->lit = jv_none();
    } else {
      n->kind = N_NAME;
      n->name = t->s;
    }
    p->i++;
  } else if (t->type == T_STRING) {
    n = node(p, N_LIT, t);
    if (!n) return NULL;
    p->i++;
    if (cur(p)->type != T_STRING) {
      n->lit = jv_strv(t->s);
    } else {
      eco_strbuf sb;
      eco_sb_init(&sb);
      eco_sb_append(&sb, t->s->p, t->s->len);
      while (cur(p)->type == T_STRING)
        eco_sb_append(&sb, cur(p)->s->p, cur(p)->s->len), p->i++;
      const jj_str *s = sb.oom ? NULL : jj_str_new(p->arena, eco_sb_str(&sb), sb.len);
      eco_sb_free(&sb);
      if (!s) return NULL;
      n->lit = jv_strv(s);
    }
  } else if (t->type == T_INT || t->type == T_FLOAT) {
    n = node(p, N_LIT, t);
    if (!n) return NULL;
    n->lit = t->type == T_INT ? jv_int(t->i) : jv_float(t->f);
    p->i++;
  } else if (tok_op(t, "(")) {
    p->i++;
    n = parse_tuple(p, false, true, NULL, true);
    if (n && !expect_op(p, ")")) n = NULL;
  } else if (tok_op(t, "[") || tok_op(t, "{")) {
    n = parse_list_or_dict(p, tok_op(t, "{"));
  } else {
    FAIL(p, "unexpected %s", describe(t));
  }
  p->depth--;
  return n;
}

static jj_node *parse_unary(parser *p, bool with_filter) {
  const jj_tok *t = cur(p);
  if (!enter(p)) return NULL;
  jj_node *x;
  if (tok_op(t, "-") || tok_op(t, "+")) {
    p->i++;
    x = node(p, tok_op(t, "-") ? N_NEG : N_POS, t);
    if (x && !(x->a = parse_unary(p, false))) x = NULL;
  } else {
    x = parse_primary(p);
  }
  x = parse_postfix(p, x);
  if (with_filter) x = parse_filter_expr(p, x);
  p->depth--;
  return x;
}

static jj_node *binary(parser *p, const jj_tok *at, jj_op op, jj_node *a, jj_node *b) {
  if (!a || !b) return NULL;
  jj_node *n = node(p, N_BIN, at);
  if (!n) return NULL;
  n->op = (uint8_t)op;
  n->a = a;
  n->b = b;
  return n;
}

static jj_node *parse_pow(parser *p) {
  jj_node *x = parse_unary(p, true);
  while (x && tok_op(cur(p), "**")) {
    const jj_tok *at = cur(p);
    p->i++;
    x = binary(p, at, OP_POW, x, parse_unary(p, true));
  }
  return x;
}

static jj_node *parse_math2(parser *p) {
  jj_node *x = parse_pow(p);
  for (;;) {
    const jj_tok *at = cur(p);
    jj_op op = tok_op(at, "*")    ? OP_MUL
               : tok_op(at, "/")  ? OP_DIV
               : tok_op(at, "//") ? OP_FDIV
               : tok_op(at, "%")  ? OP_MOD
                                  : 0;
    if (!x || !op) return x;
    p->i++;
    x = binary(p, at, op, x, parse_pow(p));
  }
}

static jj_node *parse_concat(parser *p) {
  jj_node *x = parse_math2(p);
  while (x && tok_op(cur(p), "~")) {
    const jj_tok *at = cur(p);
    p->i++;
    x = binary(p, at, OP_CONCAT, x, parse_math2(p));
  }
  return x;
}

static jj_node *parse_math1(parser *p) {
  jj_node *x = parse_concat(p);
  for (;;) {
    const jj_tok *at = cur(p);
    jj_op op = tok_op(at, "+") ? OP_ADD : tok_op(at, "-") ? OP_SUB : 0;
    if (!x || !op) return x;
    p->i++;
    x = binary(p, at, op, x, parse_concat(p));
  }
}

static jj_node *parse_compare(parser *p) {
  const jj_tok *at = cur(p);
  jj_node *x = parse_math1(p);
  nvec rhs = {0};
  uint8_t ops[64];
  while (x) {
    const jj_tok *t = cur(p);
    jj_op op = tok_op(t, "==")     ? OP_EQ
               : tok_op(t, "!=")   ? OP_NE
               : tok_op(t, "<")    ? OP_LT
               : tok_op(t, "<=")   ? OP_LE
               : tok_op(t, ">")    ? OP_GT
               : tok_op(t, ">=")   ? OP_GE
               : tok_name(t, "in") ? OP_IN
                                   : 0;
    if (!op && tok_name(t, "not") && tok_name(look(p, 1), "in")) {
      op = OP_NOTIN;
      p->i++;
    }
    if (!op) break;
    p->i++;
    if (rhs.n == sizeof ops) return FAIL(p, "too many chained comparisons");
    ops[rhs.n] = (uint8_t)op;
    if (!vpush(p, &rhs, parse_math1(p))) return NULL;
  }
  if (!x || !rhs.n) return x;
  jj_node *c = node(p, N_CMP, at);
  if (!c || !(c->ops = jj_arena_alloc(p->arena, rhs.n))) return NULL;
  memcpy(c->ops, ops, rhs.n);
  c->a = x;
  c->kids = rhs.v;
  c->nkids = rhs.n;
  return c;
}

static jj_node *parse_not(parser *p) {
  if (tok_name(cur(p), "not")) {
    const jj_tok *at = cur(p);
    p->i++;
    if (!enter(p)) return NULL;
    jj_node *n = node(p, N_NOT, at);
    if (n && !(n->a = parse_not(p))) n = NULL;
    p->depth--;
    return n;
  }
  return parse_compare(p);
}

static jj_node *parse_andor(parser *p, bool is_or) {
  jj_node *x = is_or ? parse_andor(p, false) : parse_not(p);
  while (x && tok_name(cur(p), is_or ? "or" : "and")) {
    const jj_tok *at = cur(p);
    p->i++;
    jj_node *n = node(p, is_or ? N_OR : N_AND, at);
    if (!n) return NULL;
    n->a = x;
    if (!(n->b = is_or ? parse_andor(p, false) : parse_not(p))) return NULL;
    x = n;
  }
  return x;
}

static jj_node *parse_expr(parser *p, bool with_cond) {
  if (!enter(p)) return NULL;
  jj_node *x = parse_andor(p, true);
  while (with_cond && x && tok_name(cur(p), "if")) {
    const jj_tok *at = cur(p);
    p->i++;
    jj_node *c = node(p, N_COND, at);
    if (!c) return NULL;
    c->a = x;
    if (!(c->b = parse_andor(p, true))) return NULL;
    if (tok_name(cur(p), "else")) {
      p->i++;
      if (!(c->c = parse_expr(p, true))) return NULL;
    }
    x = c;
  }
  p->depth--;
  return x;
}

static bool tuple_end(parser *p, const char *extra_end) {
  const jj_tok *t = cur(p);
  return t->type == T_VAR_END || t->type == T_BLOCK_END || tok_op(t, ")") ||
         (extra_end && tok_name(t, extra_end));
}

static jj_node *parse_tuple(parser *p, bool simplified, bool with_cond, const char *extra_end,
                            bool explicit_paren) {
  const jj_tok *at = cur(p);
  nvec v = {0};
  bool is_tuple = false;
  for (;;) {
    if (v.n && !expect_op(p, ",")) return NULL;
    if (tuple_end(p, extra_end)) break;
    jj_node *x = simplified ? parse_primary(p) : parse_expr(p, with_cond);
    if (!vpush(p, &v, x)) return NULL;
    if (tok_op(cur(p), ","))
      is_tuple = true;
    else
      break;
  }
  if (!is_tuple) {
    if (v.n) return v.v[0];
    if (!explicit_paren) return FAIL(p, "expected an expression, got %s", describe(cur(p)));
  }
  jj_node *n = node(p, N_TUPLE, at);
  if (!n) return NULL;
  n->kids = v.v;
  n->nkids = v.n;
  return n;
}

/* ---- statements ---------------------------------------------------------- */

static jj_node *parse_body(parser *p, const char *const *ends);

static bool expect_block_end(parser *p) {
  if (cur(p)->type == T_BLOCK_END) {
    p->i++;
    return true;
  }
  FAIL(p, "expected '%%}', got %s", describe(cur(p)));
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
    jj_node *g = node(p, N_GETATTR, t), *nm = node(p, N_NAME, t);
    if (!g || !nm) return NULL;
    nm->name = t->s;
    g->a = nm;
    g->name = look(p, 2)->s;
    p->i += 3;
    return g;
  }
  jj_node *x = parse_tuple(p, true, false, extra_end, false);
  if (x && !valid_target(x)) return fail_at(p, t, ECO_EFORMAT, "cannot assign to this");
  return x;
}

static jj_node *parse_if(parser *p, const jj_tok *at) {
  static const char *const ends[] = {"elif", "else", "endif", NULL};
  static const char *const endif[] = {"endif", NULL};
  jj_node *n = node(p, N_IF, at);
  if (!n || !(n->a = parse_tuple(p, false, false, NULL, false))) return NULL;
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
  jj_node *n = node(p, N_FOR, at);
  if (!n || !(n->a = parse_assign_target(p, "in", false))) return NULL;
  if (!tok_name(cur(p), "in")) return FAIL(p, "expected 'in', got %s", describe(cur(p)));
  p->i++;
  if (!(n->b = parse_tuple(p, false, false, "recursive", false))) return NULL;
  if (tok_name(cur(p), "if")) {
    p->i++;
    if (!(n->c = parse_expr(p, true))) return NULL;
  }
  if (tok_name(cur(p), "recursive"))
    return fail_at(p, cur(p), ECO_EUNSUPPORTED, "recursive loops are not supported");
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
    jj_node *n = node(p, N_SET, at);
    if (!n) return NULL;
    n->a = target;
    n->b = parse_tuple(p, false, true, NULL, false);
    return n->b ? n : NULL;
  }
  jj_node *n = node(p, N_SETBLOCK, at);
  if (!n) return NULL;
  n->a = target;
  if (tok_op(cur(p), "|") && !(n->c = parse_filter(p, NULL, false))) return NULL;
  const char *which;
  n->body = parse_block(p, ends, &which);
  return n->body ? n : NULL;
}

static jj_node *parse_macro(parser *p, const jj_tok *at) {
  static const char *const ends[] = {"endmacro", NULL};
  jj_node *n = node(p, N_MACRO, at);
  if (!n) return NULL;
  if (cur(p)->type != T_NAME) return FAIL(p, "expected a macro name, got %s", describe(cur(p)));
  n->name = cur(p)->s;
  p->i++;
  if (!expect_op(p, "(")) return NULL;
  nvec params = {0};
  while (!tok_op(cur(p), ")")) {
    if (params.n && !expect_op(p, ",")) return NULL;
    const jj_tok *t = cur(p);
    if (t->type != T_NAME) return FAIL(p, "expected a parameter name, got %s", describe(t));
    jj_node *prm = node(p, N_NAME, t);
    if (!prm) return NULL;
    prm->name = t->s;
    p->i++;
    if (tok_op(cur(p), "=")) {
      p->i++;
      if (!(prm->b = parse_expr(p, true))) return NULL;
    }
    if (!vpush(p, &params, prm)) return NULL;
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
  if (at->type != T_NAME) return FAIL(p, "expected a tag name, got %s", describe(at));
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
    n = node(p, kw[0] == 'b' ? N_BREAK : N_CONTINUE, at);
  } else if (!strcmp(kw, "generation")) {
    static const char *const ends[] = {"endgeneration", NULL};
    n = parse_block(p, ends, &which);
  } else if (!strcmp(kw, "filter")) {
    static const char *const ends[] = {"endfilter", NULL};
    n = node(p, N_FILTERBLOCK, at);
    if (n && !(n->a = parse_filter(p, NULL, true))) return NULL;
    if (n && !(n->body = parse_block(p, ends, &which))) return NULL;
  } else {
    return fail_at(p, at, ECO_EUNSUPPORTED, "tag '%s' is not supported", kw);
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
  jj_node *body = node(p, N_BODY, start);
  nvec v = {0};
  if (!body || !enter(p)) return NULL;
  for (;;) {
    const jj_tok *t = cur(p);
    if (t->type == T_EOF) {
      if (ends) return FAIL(p, "unexpected end of template: expected '%s'", ends[0]);
      break;
    }
    if (t->type == T_TEXT) {
      jj_node *x = node(p, N_TEXT, t);
      if (!x) return NULL;
      x->lit = jv_strv(t->s);
      p->i++;
      if (!vpush(p, &v, x)) return NULL;
    } else if (t->type == T_VAR_BEGIN) {
      p->i++;
      jj_node *x = node(p, N_OUTPUT, t);
      if (!x || !(x->a = parse_tuple(p, false, true, NULL, false))) return NULL;
      if (cur(p)->type != T_VAR_END) return FAIL(p, "expected '}}', got %s", describe(cur(p)));
      p->i++;
      if (!vpush(p, &v, x)) return NULL;
    } else if (t->type == T_BLOCK_BEGIN) {
      p->i++;
      if (is_end(cur(p), ends)) break;
      if (cur(p)->type == T_NAME && !strncmp(cur(p)->s->p, "end", 3))
        return FAIL(p, "unexpected '%s'%s", cur(p)->s->p, ends ? " here" : " (no block is open)");
      if (cur(p)->type == T_NAME && (tok_name(cur(p), "elif") || tok_name(cur(p), "else")))
        return FAIL(p, "unexpected '%s'", cur(p)->s->p);
      if (!vpush(p, &v, parse_stmt(p))) return NULL;
    } else {
      return FAIL(p, "unexpected %s", describe(t));
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
