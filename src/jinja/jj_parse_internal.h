/* ecoinfer: the Jinja parser's state and the helpers its two files share.
 * Private to jj_parse.c (helpers, statements, the entry point
 * eco_jinja_parse) and jj_parse_expr.c (expressions). */
#ifndef ECO_JINJA_JJ_PARSE_INTERNAL_H
#define ECO_JINJA_JJ_PARSE_INTERNAL_H

#include "jinja/jj_internal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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

static inline const jj_tok *cur(parser *p) { return &p->t[p->i < p->n ? p->i : p->n - 1]; }
static inline const jj_tok *look(parser *p, size_t k) {
  return &p->t[p->i + k < p->n ? p->i + k : p->n - 1];
}
static inline bool tok_op(const jj_tok *t, const char *op) {
  return t->type == T_OP && strcmp(t->op, op) == 0;
}
static inline bool tok_name(const jj_tok *t, const char *kw) {
  return t->type == T_NAME && strcmp(t->s->p, kw) == 0;
}

/* ---- jj_parse.c ---------------------------------------------------------- */

/* The token as an error message names it. */
const char *jj_p_describe(const jj_tok *t);
/* Records the first error (ECO_* code, "line L, column C: ..." at t); NULL. */
void *jj_p_fail_at(parser *p, const jj_tok *t, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define FAIL(p, ...) jj_p_fail_at((p), cur(p), ECO_EFORMAT, __VA_ARGS__)
/* A zeroed node at the token's position; NULL (ECO_ENOMEM) when out of memory. */
jj_node *jj_p_node(parser *p, jj_kind kind, const jj_tok *at);
/* Appends x (false when x is NULL or out of memory). */
bool jj_p_vpush(parser *p, nvec *v, jj_node *x);
/* Consumes the operator op, or fails. */
bool jj_p_expect_op(parser *p, const char *op);
/* One nesting level deeper (the caller decrements p->depth); fails past max_depth. */
bool jj_p_enter(parser *p);

/* ---- jj_parse_expr.c ----------------------------------------------------- */

/* An expression; with_cond allows "a if b else c". */
jj_node *jj_parse_expr(parser *p, bool with_cond);
/* Comma-separated expressions (primaries only when simplified): one alone
 * is itself, several or one with a trailing comma a tuple, none an error
 * unless explicit_paren (the empty tuple); stops before extra_end (a name). */
jj_node *jj_parse_tuple(parser *p, bool simplified, bool with_cond, const char *extra_end,
                        bool explicit_paren);
/* "| name(args) | ..." applied to x (NULL: a filter block or block set);
 * inline_start: the first name follows without a "|". */
jj_node *jj_parse_filter(parser *p, jj_node *x, bool inline_start);

#endif
