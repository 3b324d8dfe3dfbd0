/* ecoinfer: the Jinja parser's expressions, following Jinja2's grammar
 * and operator precedence: conditional < or < and < not < comparisons <
 * + - < ~ < * / // % < ** < unary - + < postfix (. [] ()) < filters and tests. */
#include "jinja/jj_parse_internal.h"

#include <stdio.h>
#include <string.h>

/* Jinja2 reports an unknown filter or test only when it is reached (it may
 * sit in a branch never taken), so they parse, fail when evaluated, and the
 * first one is noted for eco_jinja_notes. */
static void note(parser *p, const jj_tok *at, const char *what, const char *name) {
  if (p->notes && !p->notes[0])
    snprintf(p->notes, 256,
             "line %u, column %u: unknown %s '%s' (rendering fails where it is reached)", at->line,
             at->col, what, name);
}

static jj_node *parse_unary(parser *p, bool with_filter);
static jj_node *parse_primary(parser *p);
static jj_node *parse_postfix(parser *p, jj_node *x);

/* ( args ) into n->kids / n->kw / n->npos. */
static bool parse_call_args(parser *p, jj_node *n) {
  if (!jj_p_expect_op(p, "(")) return false;
  nvec pos = {0}, kwv = {0};
  const jj_str **names = NULL;
  uint32_t nkw = 0, kwcap = 0;
  while (!tok_op(cur(p), ")")) {
    if (pos.n + kwv.n && !jj_p_expect_op(p, ",")) return false;
    if (tok_op(cur(p), ")")) break;
    if (tok_op(cur(p), "*") || tok_op(cur(p), "**")) {
      jj_p_fail_at(p, cur(p), ECO_EUNSUPPORTED, "*args and **kwargs in calls are not supported");
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
      if (!jj_p_vpush(p, &kwv, jj_parse_expr(p, true))) return false;
    } else {
      if (kwv.n) {
        FAIL(p, "positional argument after keyword argument");
        return false;
      }
      if (!jj_p_vpush(p, &pos, jj_parse_expr(p, true))) return false;
    }
  }
  p->i++;
  for (uint32_t k = 0; k < kwv.n; k++)
    if (!jj_p_vpush(p, &pos, kwv.v[k])) return false;
  n->kids = pos.v;
  n->nkids = pos.n;
  n->npos = pos.n - kwv.n;
  n->kw = names;
  return true;
}

static const jj_str *dotted_name(parser *p) {
  const jj_tok *t = cur(p);
  if (t->type != T_NAME) {
    FAIL(p, "expected a name, got %s", jj_p_describe(t));
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

jj_node *jj_parse_filter(parser *p, jj_node *x, bool inline_start) {
  while (tok_op(cur(p), "|") || inline_start) {
    if (!inline_start) p->i++;
    inline_start = false;
    const jj_tok *at = cur(p);
    jj_node *f = jj_p_node(p, N_FILTER, at);
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
  jj_node *t = jj_p_node(p, N_TEST, at);
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
    if (!jj_p_vpush(p, &v, arg)) return NULL;
    t->kids = v.v;
    t->nkids = t->npos = 1;
  }
  return t;
}

static jj_node *parse_filter_expr(parser *p, jj_node *x) {
  while (x) {
    if (tok_op(cur(p), "|")) {
      x = jj_parse_filter(p, x, false);
    } else if (tok_name(cur(p), "is")) {
      x = parse_test(p, x);
    } else if (tok_op(cur(p), "(")) {
      jj_node *c = jj_p_node(p, N_CALL, cur(p));
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
    parts[0] = jj_parse_expr(p, true);
    if (!parts[0]) return NULL;
    if (!tok_op(cur(p), ":")) return parts[0];
  }
  p->i++; /* : */
  if (!tok_op(cur(p), "]") && !tok_op(cur(p), ",") && !tok_op(cur(p), ":")) {
    if (!(parts[1] = jj_parse_expr(p, true))) return NULL;
  }
  if (tok_op(cur(p), ":")) {
    p->i++;
    if (!tok_op(cur(p), "]") && !tok_op(cur(p), ",")) {
      if (!(parts[2] = jj_parse_expr(p, true))) return NULL;
    }
  }
  jj_node *s = jj_p_node(p, N_SLICE, at);
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
        jj_node *g = jj_p_node(p, N_GETATTR, t);
        if (!g) return NULL;
        g->a = x;
        g->name = a->s;
        p->i++;
        x = g;
      } else if (a->type == T_INT) {
        jj_node *g = jj_p_node(p, N_GETITEM, t), *k = jj_p_node(p, N_LIT, a);
        if (!g || !k) return NULL;
        k->lit = jv_int(a->i);
        g->a = x;
        g->b = k;
        p->i++;
        x = g;
      } else {
        return FAIL(p, "expected a name or number after '.', got %s", jj_p_describe(a));
      }
    } else if (tok_op(t, "[")) {
      p->i++;
      nvec args = {0};
      while (!tok_op(cur(p), "]")) {
        if (args.n && !jj_p_expect_op(p, ",")) return NULL;
        if (!jj_p_vpush(p, &args, parse_subscribed(p))) return NULL;
      }
      p->i++;
      if (!args.n) return jj_p_fail_at(p, t, ECO_EFORMAT, "empty subscript");
      for (uint32_t k = 0; args.n > 1 && k < args.n; k++)
        if (args.v[k]->kind == N_SLICE) /* x[a:b, c]: no value here takes such an index */
          return jj_p_fail_at(p, t, ECO_EUNSUPPORTED, "a slice in a subscript of several items");
      jj_node *g;
      if (args.n == 1 && args.v[0]->kind == N_SLICE) {
        g = args.v[0];
        g->a = x;
      } else {
        g = jj_p_node(p, N_GETITEM, t);
        if (!g) return NULL;
        g->a = x;
        if (args.n == 1) {
          g->b = args.v[0];
        } else {
          jj_node *tu = jj_p_node(p, N_TUPLE, t);
          if (!tu) return NULL;
          tu->kids = args.v;
          tu->nkids = args.n;
          g->b = tu;
        }
      }
      x = g;
    } else if (tok_op(t, "(")) {
      jj_node *c = jj_p_node(p, N_CALL, t);
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
  jj_node *n = jj_p_node(p, dict ? N_DICT : N_LIST, at);
  nvec v = {0};
  const char *close = dict ? "}" : "]";
  while (n && !tok_op(cur(p), close)) {
    if (v.n && !jj_p_expect_op(p, ",")) return NULL;
    if (tok_op(cur(p), close)) break;
    if (!jj_p_vpush(p, &v, jj_parse_expr(p, true))) return NULL;
    if (dict && (!jj_p_expect_op(p, ":") || !jj_p_vpush(p, &v, jj_parse_expr(p, true))))
      return NULL;
  }
  if (!n) return NULL;
  p->i++;
  n->kids = v.v;
  n->nkids = v.n;
  return n;
}

static jj_node *parse_primary(parser *p) {
  const jj_tok *t = cur(p);
  if (!jj_p_enter(p)) return NULL;
  jj_node *n = NULL;
  if (t->type == T_NAME) {
    const char *s = t->s->p;
    n = jj_p_node(p, N_LIT, t);
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
    n = jj_p_node(p, N_LIT, t);
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
    n = jj_p_node(p, N_LIT, t);
    if (!n) return NULL;
    n->lit = t->type == T_INT ? jv_int(t->i) : jv_float(t->f);
    p->i++;
  } else if (tok_op(t, "(")) {
    p->i++;
    n = jj_parse_tuple(p, false, true, NULL, true);
    if (n && !jj_p_expect_op(p, ")")) n = NULL;
  } else if (tok_op(t, "[") || tok_op(t, "{")) {
    n = parse_list_or_dict(p, tok_op(t, "{"));
  } else {
    FAIL(p, "unexpected %s", jj_p_describe(t));
  }
  p->depth--;
  return n;
}

static jj_node *parse_unary(parser *p, bool with_filter) {
  const jj_tok *t = cur(p);
  if (!jj_p_enter(p)) return NULL;
  jj_node *x;
  if (tok_op(t, "-") || tok_op(t, "+")) {
    p->i++;
    x = jj_p_node(p, tok_op(t, "-") ? N_NEG : N_POS, t);
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
  jj_node *n = jj_p_node(p, N_BIN, at);
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
    if (!jj_p_vpush(p, &rhs, parse_math1(p))) return NULL;
  }
  if (!x || !rhs.n) return x;
  jj_node *c = jj_p_node(p, N_CMP, at);
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
    if (!jj_p_enter(p)) return NULL;
    jj_node *n = jj_p_node(p, N_NOT, at);
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
    jj_node *n = jj_p_node(p, is_or ? N_OR : N_AND, at);
    if (!n) return NULL;
    n->a = x;
    if (!(n->b = is_or ? parse_andor(p, false) : parse_not(p))) return NULL;
    x = n;
  }
  return x;
}

jj_node *jj_parse_expr(parser *p, bool with_cond) {
  if (!jj_p_enter(p)) return NULL;
  jj_node *x = parse_andor(p, true);
  while (with_cond && x && tok_name(cur(p), "if")) {
    const jj_tok *at = cur(p);
    p->i++;
    jj_node *c = jj_p_node(p, N_COND, at);
    if (!c) return NULL;
    c->a = x;
    if (!(c->b = parse_andor(p, true))) return NULL;
    if (tok_name(cur(p), "else")) {
      p->i++;
      if (!(c->c = jj_parse_expr(p, true))) return NULL;
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

jj_node *jj_parse_tuple(parser *p, bool simplified, bool with_cond, const char *extra_end,
                        bool explicit_paren) {
  const jj_tok *at = cur(p);
  nvec v = {0};
  bool is_tuple = false;
  for (;;) {
    if (v.n && !jj_p_expect_op(p, ",")) return NULL;
    if (tuple_end(p, extra_end)) break;
    jj_node *x = simplified ? parse_primary(p) : jj_parse_expr(p, with_cond);
    if (!jj_p_vpush(p, &v, x)) return NULL;
    if (tok_op(cur(p), ","))
      is_tuple = true;
    else
      break;
  }
  if (!is_tuple) {
    if (v.n) return v.v[0];
    if (!explicit_paren) return FAIL(p, "expected an expression, got %s", jj_p_describe(cur(p)));
  }
  jj_node *n = jj_p_node(p, N_TUPLE, at);
  if (!n) return NULL;
  n->kids = v.v;
  n->nkids = v.n;
  return n;
}
