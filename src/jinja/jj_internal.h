/* ecoinfer: internals of the Jinja interpreter, shared by src/jinja/ only. */
#ifndef ECO_JINJA_JJ_INTERNAL_H
#define ECO_JINJA_JJ_INTERNAL_H

#include "jinja/jinja.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- arena: every value and node lives in one, freed at once ----------- */

typedef struct jj_chunk jj_chunk;
typedef struct jj_arena {
  jj_chunk *head;
  size_t used;  /* bytes handed out, all chunks */
  size_t limit; /* 0 = none */
} jj_arena;

void jj_arena_free(jj_arena *a);
/* Zeroed memory, aligned to 16; NULL when over the limit or out of memory. */
void *jj_arena_alloc(jj_arena *a, size_t n);

/* ---- values ---------------------------------------------------------- */

typedef enum jv_type {
  JV_UNDEF = 0,
  JV_NONE,
  JV_BOOL,
  JV_INT,
  JV_FLOAT,
  JV_STR,
  JV_LIST,  /* also tuples (flags & JV_TUPLE) */
  JV_DICT,  /* ordered */
  JV_NS,    /* namespace(): a dict whose attributes may be set */
  JV_MACRO, /* u.node: the macro statement */
  JV_FUNC,  /* u.i: a global function (jj_func) */
  JV_METHOD,
  JV_LOOP,
} jv_type;

#define JV_TUPLE 1u
#define JV_GEN   2u /* a list that stands for a Python generator (select, map, ...) */
#define JV_SAFE  4u /* a string marked safe (markupsafe.Markup): + escapes plain operands */

typedef struct jj_str {
  size_t len;
  char p[]; /* NUL-terminated */
} jj_str;

struct jv;
typedef struct jj_list {
  size_t n, cap;
  struct jv *v;
} jj_list;

typedef struct jj_dict {
  size_t n, cap;
  struct jv *k, *v;
} jj_dict;

struct jj_node;
struct jj_method;
struct jj_loop;

typedef struct jv {
  uint8_t t;     /* jv_type */
  uint8_t flags; /* JV_TUPLE */
  union {
    bool b;
    int64_t i;
    double f;
    const jj_str *s; /* JV_STR; JV_UNDEF: the name it was looked up by, or NULL */
    jj_list *l;
    jj_dict *d;
    const struct jj_node *node;
    struct jj_method *m;
    struct jj_loop *loop;
  } u;
} jv;

typedef struct jj_method {
  jv self;
  const char *name;
} jj_method;

typedef struct jj_loop {
  jj_list *items; /* the (filtered) sequence */
  size_t index0;
  unsigned depth0;
} jj_loop;

typedef enum jj_func {
  JF_NAMESPACE = 1,
  JF_RANGE,
  JF_DICT,
  JF_RAISE,
  JF_STRFTIME,
} jj_func;

/* ---- AST -------------------------------------------------------------- */

typedef enum jj_kind {
  /* expressions */
  N_LIT = 1,
  N_NAME,
  N_LIST,
  N_TUPLE,
  N_DICT,
  N_GETATTR,
  N_GETITEM,
  N_SLICE,
  N_CALL,
  N_FILTER,
  N_TEST,
  N_NOT,
  N_NEG,
  N_POS,
  N_BIN,
  N_CMP,
  N_AND,
  N_OR,
  N_COND,
  /* statements */
  N_BODY,
  N_TEXT,
  N_OUTPUT,
  N_IF,
  N_FOR,
  N_SET,
  N_SETBLOCK,
  N_MACRO,
  N_BREAK,
  N_CONTINUE,
  N_FILTERBLOCK,
} jj_kind;

typedef enum jj_op {
  OP_ADD = 1,
  OP_SUB,
  OP_MUL,
  OP_DIV,
  OP_FDIV,
  OP_MOD,
  OP_POW,
  OP_CONCAT,
  OP_EQ,
  OP_NE,
  OP_LT,
  OP_LE,
  OP_GT,
  OP_GE,
  OP_IN,
  OP_NOTIN,
} jj_op;

typedef struct jj_node {
  uint8_t kind;       /* jj_kind */
  uint8_t op;         /* jj_op; N_TEST: 1 = negated; N_CMP: first op */
  uint32_t line;      /* 1-based */
  uint32_t col;       /* 1-based, in bytes */
  const jj_str *name; /* names, attributes, filters, tests, macros */
  jv lit;
  struct jj_node *a, *b, *c;
  struct jj_node *body, *orelse;
  struct jj_node **kids; /* arguments, items, statements */
  const jj_str **kw;     /* N_CALL/N_FILTER/N_TEST: names of kids[npos..nkids) */
  uint32_t nkids, npos;
  uint8_t *ops; /* N_CMP: one per kids[] (the right operands) */
} jj_node;

struct eco_jinja_tmpl {
  jj_arena arena;
  jj_node *root;
  eco_jinja_limits limits;
  char notes[256];
};

/* Fills zero fields of l with the defaults. */
void jj_limits_fill(eco_jinja_limits *l);

/* ---- lexer (jj_lex.c) -------------------------------------------------- */

typedef enum jj_tok_type {
  T_EOF = 0,
  T_TEXT,
  T_VAR_BEGIN,
  T_VAR_END,
  T_BLOCK_BEGIN,
  T_BLOCK_END,
  T_NAME,
  T_STRING,
  T_INT,
  T_FLOAT,
  T_OP, /* op[] holds the operator text */
} jj_tok_type;

typedef struct jj_tok {
  uint8_t type;
  char op[3];
  uint32_t line, col;
  const jj_str *s; /* T_TEXT, T_NAME, T_STRING */
  int64_t i;
  double f;
} jj_tok;

typedef struct jj_toks {
  jj_tok *v;
  size_t n, cap;
} jj_toks;

/* Tokenizes src (newlines already normalised). Tokens live in a malloc'd
 * array (free v); strings in arena. */
int jj_lex(const char *src, size_t len, jj_arena *arena, jj_toks *out, eco_error *err);

/* ---- runtime (jj_eval.c, jj_builtins.c, jj_value.c) --------------------- */

typedef struct jj_scope {
  struct jj_scope *parent;
  jj_dict vars;
} jj_scope;

typedef struct jj_rt {
  const eco_jinja_tmpl *t;
  const eco_jinja_render_opts *opts;
  eco_jinja_limits lim;
  jj_arena arena;
  eco_strbuf *out; /* where output goes now (a capture while in a macro) */
  size_t out_total;
  uint64_t steps;
  unsigned call_depth;
  unsigned loop_depth;
  jj_scope *globals;       /* the template's top level */
  jj_scope *scope;         /* the innermost scope */
  const jv *filter_input;  /* the value a filter block or block set filters */
  unsigned depth;          /* nested evaluations now */
  const jj_str *loop_name; /* "loop" */
  jj_dict ctx;             /* the caller's variables */
  const jj_node *at;       /* the node being evaluated, for error positions */
  eco_error *err;
  int rc;   /* first error (sticky) */
  int flow; /* 1 = break, 2 = continue pending */
} jj_rt;

/* Records an error at rt->at's position (first one wins); returns the code. */
int jj_fail(jj_rt *rt, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* values (jj_value.c) */
jv jv_undef(const jj_str *name);
jv jv_none(void);
jv jv_bool(bool b);
jv jv_int(int64_t i);
jv jv_float(double f);
jv jv_strv(const jj_str *s);
const jj_str *jj_str_new(jj_arena *a, const char *p, size_t n);
/* A string value, or an undefined one with rt->rc set when out of memory. */
jv jj_mkstr(jj_rt *rt, const char *p, size_t n);
jj_list *jj_list_new(jj_rt *rt, size_t cap);
int jj_list_push(jj_rt *rt, jj_list *l, jv v);
jj_dict *jj_dict_new(jj_rt *rt, size_t cap);
/* Sets (replacing an equal key). */
int jj_dict_set(jj_arena *a, jj_dict *d, jv k, jv v);
/* The value for key, or NULL. */
jv *jj_dict_get(const jj_dict *d, jv k);
jv *jj_dict_gets(const jj_dict *d, const char *k, size_t n);

bool jv_truthy(jv v);
bool jv_equal(jv a, jv b);
/* Python ordering: *cmp = -1/0/1; fails (type error) for unordered types. */
int jv_compare(jj_rt *rt, jv a, jv b, int *cmp);
const char *jv_type_name(jv v);
/* str(v) / repr(v) as Python prints them, appended to sb. */
int jv_str(jj_rt *rt, jv v, eco_strbuf *sb);
int jv_repr(jj_rt *rt, jv v, eco_strbuf *sb);
/* str(v) as a string value (strings are returned as they are). */
jv jv_to_str(jj_rt *rt, jv v);
/* json.dumps(v, ensure_ascii=ascii, indent=indent (<0 = None), sort_keys). */
int jv_json(jj_rt *rt, jv v, int indent, bool sort_keys, bool ascii, eco_strbuf *sb);
void jj_py_float(double f, eco_strbuf *sb);
/* A jansson value as a jv. */
int jv_from_json(jj_rt *rt, const json_t *j, jv *out, unsigned depth);
/* len(v): 0 with the error set for a value without a length. */
int jv_len(jj_rt *rt, jv v, int64_t *n);
/* list(v) for iteration: strings give characters, dicts keys, undefined
 * nothing. */
int jv_iter(jj_rt *rt, jv v, jj_list **out);

/* UTF-8 helpers (jj_value.c) */
size_t jj_utf8_next(const char *s, size_t n, uint32_t *cp);
size_t jj_utf8_count(const char *s, size_t n);
bool jj_py_isspace(uint32_t cp);

/* Python str methods (jj_str.c) */
bool jj_str_is_method(const char *name);
jv jj_str_method(jj_rt *rt, const char *name, const jj_str *s, jv *args, size_t npos,
                 const jj_str **kw, size_t nkw);
jv jj_py_strip(jj_rt *rt, const jj_str *s, const jj_str *chars, int mode);
/* mode: 0 upper, 1 lower, 2 title, 3 capitalize, 4 swapcase */
jv jj_py_case(jj_rt *rt, const jj_str *s, int mode);
jv jj_py_replace(jj_rt *rt, const jj_str *s, const jj_str *old, const jj_str *rep, int64_t count);
jv jj_py_split(jj_rt *rt, const jj_str *s, const jj_str *sep, int64_t maxsplit);
jv jj_py_splitlines(jj_rt *rt, const jj_str *s, bool keepends);

/* evaluation (jj_eval.c) */
jv jj_eval(jj_rt *rt, const jj_node *n);
jv jj_call_value(jj_rt *rt, jv callee, jv *args, size_t npos, const jj_str **kw, size_t nkw);
jv jj_getattr(jj_rt *rt, jv obj, const jj_str *name);
jv jj_getitem(jj_rt *rt, jv obj, jv key);

/* builtins (jj_builtins.c, jj_filters.c) */
/* True if a filter / test of that name exists. */
bool jj_has_filter(const char *name);
bool jj_has_test(const char *name);
jv jj_apply_filter(jj_rt *rt, const char *name, jv v, jv *args, size_t npos, const jj_str **kw,
                   size_t nkw);
/* Returns 0/1, or -1 with the error set. */
int jj_apply_test(jj_rt *rt, const char *name, jv v, jv *args, size_t nargs);
jv jj_call_method(jj_rt *rt, const jj_method *m, jv *args, size_t npos, const jj_str **kw,
                  size_t nkw);
/* Whether a type has a method of that name (for attribute lookup). */
bool jj_is_method(jv self, const char *name);
/* dict.items() */
jv jj_dict_items(jj_rt *rt, const jj_dict *d);
jv jj_call_func(jj_rt *rt, jj_func f, jv *args, size_t npos, const jj_str **kw, size_t nkw);

/* Keyword argument lookup helper: the kwarg named name, else args[pos] if
 * pos < npos, else NULL. */
jv *jj_arg(jv *args, size_t npos, const jj_str **kw, size_t nkw, size_t pos, const char *name);

#endif
