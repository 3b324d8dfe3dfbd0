/* ecoinfer: the Jinja evaluator: errors, limits, names, attribute and item
 * access, operators, calls and expressions. Statements, macro bodies and the
 * render entry point are in jj_exec.c. */
#include "jinja/jj_eval_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int jj_fail(jj_rt *rt, int code, const char *fmt, ...) {
  if (rt->rc != ECO_OK) return rt->rc;
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  rt->rc = code;
  if (rt->at)
    eco_error_set(rt->err, code, "line %u, column %u: %s", rt->at->line, rt->at->col, msg);
  else
    eco_error_set(rt->err, code, "%s", msg);
  return code;
}

int jj_oom(jj_rt *rt) {
  return jj_fail(rt, ECO_EOVERFLOW, "template used more than %zu bytes of memory",
                 rt->lim.max_memory);
}

bool jj_step(jj_rt *rt) {
  if (rt->rc) return false;
  if (++rt->steps > rt->lim.max_steps) {
    jj_fail(rt, ECO_EOVERFLOW, "template took more than %llu steps",
            (unsigned long long)rt->lim.max_steps);
    return false;
  }
  return true;
}

/* ---- names ------------------------------------------------------------------ */

jv jj_lookup(jj_rt *rt, const jj_str *name) {
  for (jj_scope *s = rt->scope; s; s = s->parent) {
    jv *v = jj_dict_gets(&s->vars, name->p, name->len);
    if (v) return *v;
  }
  jv *v = jj_dict_gets(&rt->ctx, name->p, name->len);
  if (v) return *v;
  static const struct {
    const char *name;
    jj_func f;
  } k_globals[] = {{"namespace", JF_NAMESPACE},
                   {"range", JF_RANGE},
                   {"dict", JF_DICT},
                   {"raise_exception", JF_RAISE},
                   {"strftime_now", JF_STRFTIME}};
  for (size_t i = 0; i < sizeof k_globals / sizeof *k_globals; i++)
    if (!strcmp(name->p, k_globals[i].name)) return (jv){.t = JV_FUNC, .u.i = k_globals[i].f};
  return jv_undef(name);
}

static int undefined_error(jj_rt *rt, jv v) {
  if (v.u.s) return jj_fail(rt, ECO_EINVAL, "'%s' is undefined", v.u.s->p);
  return jj_fail(rt, ECO_EINVAL, "an undefined value was used");
}

/* ---- attribute and item access --------------------------------------------- */

static jv method(jj_rt *rt, jv self, const char *name) {
  jj_method *m = jj_arena_alloc(&rt->arena, sizeof *m);
  if (!m) {
    jj_oom(rt);
    return jv_undef(NULL);
  }
  m->self = self;
  m->name = name;
  return (jv){.t = JV_METHOD, .u.m = m};
}

static jv loop_attr(jj_rt *rt, jv obj, const jj_str *name) {
  const jj_loop *L = obj.u.loop;
  size_t i = L->index0, n = L->items->n;
  const char *a = name->p;
  if (!strcmp(a, "index")) return jv_int((int64_t)i + 1);
  if (!strcmp(a, "index0")) return jv_int((int64_t)i);
  if (!strcmp(a, "revindex")) return jv_int((int64_t)(n - i));
  if (!strcmp(a, "revindex0")) return jv_int((int64_t)(n - i - 1));
  if (!strcmp(a, "first")) return jv_bool(i == 0);
  if (!strcmp(a, "last")) return jv_bool(i + 1 == n);
  if (!strcmp(a, "length")) return jv_int((int64_t)n);
  if (!strcmp(a, "depth")) return jv_int((int64_t)L->depth0 + 1);
  if (!strcmp(a, "depth0")) return jv_int((int64_t)L->depth0);
  if (!strcmp(a, "previtem")) return i > 0 ? L->items->v[i - 1] : jv_undef(name);
  if (!strcmp(a, "nextitem")) return i + 1 < n ? L->items->v[i + 1] : jv_undef(name);
  if (!strcmp(a, "cycle")) return method(rt, obj, "cycle");
  return jv_undef(name);
}

jv jj_getattr(jj_rt *rt, jv obj, const jj_str *name) {
  switch ((jv_type)obj.t) {
  case JV_UNDEF: undefined_error(rt, obj); return jv_undef(name);
  case JV_DICT:
    if (jj_is_method(obj, name->p)) return method(rt, obj, name->p);
    /* fall through */
  case JV_NS: {
    jv *v = jj_dict_gets(obj.u.d, name->p, name->len);
    return v ? *v : jv_undef(name);
  }
  case JV_LOOP: return loop_attr(rt, obj, name);
  default:
    if (jj_is_method(obj, name->p)) return method(rt, obj, name->p);
    return jv_undef(name);
  }
}

static bool as_index(jv k, int64_t *i) {
  if (k.t == JV_INT)
    *i = k.u.i;
  else if (k.t == JV_BOOL)
    *i = k.u.b;
  else
    return false;
  return true;
}

/* Byte offset of code point ci in s (s->len if past the end). */
static size_t cp_offset(const jj_str *s, int64_t ci) {
  size_t off = 0;
  for (int64_t c = 0; c < ci && off < s->len; c++) {
    uint32_t cp;
    off += jj_utf8_next(s->p + off, s->len - off, &cp);
  }
  return off;
}

jv jj_getitem(jj_rt *rt, jv obj, jv key) {
  int64_t i;
  switch ((jv_type)obj.t) {
  case JV_UNDEF: undefined_error(rt, obj); return jv_undef(NULL);
  case JV_DICT:
  case JV_NS: {
    jv *v = jj_dict_get(obj.u.d, key);
    if (v) return *v;
    break;
  }
  case JV_LIST:
    if (obj.flags & JV_GEN) {
      jj_fail(rt, ECO_EINVAL, "'generator' object is not subscriptable");
      return jv_undef(NULL);
    }
    if (as_index(key, &i)) {
      int64_t n = (int64_t)obj.u.l->n;
      if (i < 0) i += n;
      return i >= 0 && i < n ? obj.u.l->v[i] : jv_undef(NULL);
    }
    break;
  case JV_STR:
    if (as_index(key, &i)) {
      int64_t n = (int64_t)jj_utf8_count(obj.u.s->p, obj.u.s->len);
      if (i < 0) i += n;
      if (i < 0 || i >= n) return jv_undef(NULL);
      size_t a = cp_offset(obj.u.s, i), b = cp_offset(obj.u.s, i + 1);
      return jj_mkstr(rt, obj.u.s->p + a, b - a);
    }
    break;
  default: break;
  }
  if (key.t == JV_STR) return jj_getattr(rt, obj, key.u.s);
  return jv_undef(NULL);
}

static int slice_bound(jj_rt *rt, jv v, int64_t n, int64_t step, bool lower, int64_t *out) {
  if (v.t == JV_UNDEF || v.t == JV_NONE) {
    *out = step > 0 ? (lower ? 0 : n) : (lower ? n - 1 : -1);
    return ECO_OK;
  }
  int64_t i;
  if (!as_index(v, &i)) return jj_fail(rt, ECO_EINVAL, "slice indices must be integers or None");
  if (i < 0) {
    i += n;
    if (i < 0) i = step > 0 ? 0 : -1;
  } else if (i >= n) {
    i = step > 0 ? n : n - 1;
  }
  *out = i;
  return ECO_OK;
}

static jv eval_slice(jj_rt *rt, const jj_node *n) {
  jv obj = jj_eval(rt, n->a), parts[3];
  for (int k = 0; k < 3; k++)
    parts[k] = n->kids[k] ? jj_eval(rt, n->kids[k]) : jv_none();
  if (rt->rc) return jv_undef(NULL);
  int64_t stp = 1, len, a = 0, b = 0;
  if (parts[2].t != JV_NONE && !as_index(parts[2], &stp)) {
    jj_fail(rt, ECO_EINVAL, "slice indices must be integers or None");
    return jv_undef(NULL);
  }
  if (stp == 0) {
    jj_fail(rt, ECO_EINVAL, "slice step cannot be zero");
    return jv_undef(NULL);
  }
  if (obj.t == JV_LIST) {
    len = (int64_t)obj.u.l->n;
  } else if (obj.t == JV_STR) {
    len = (int64_t)jj_utf8_count(obj.u.s->p, obj.u.s->len);
  } else {
    if (obj.t == JV_UNDEF)
      undefined_error(rt, obj);
    else
      jj_fail(rt, ECO_EINVAL, "'%s' object is not subscriptable", jv_type_name(obj));
    return jv_undef(NULL);
  }
  if (slice_bound(rt, parts[0], len, stp, true, &a) ||
      slice_bound(rt, parts[1], len, stp, false, &b))
    return jv_undef(NULL);
  if (obj.t == JV_LIST) {
    jj_list *l = jj_list_new(rt, 0);
    for (int64_t i = a; l && (stp > 0 ? i < b : i > b); i += stp)
      if (jj_list_push(rt, l, obj.u.l->v[i])) return jv_undef(NULL);
    return l ? (jv){.t = JV_LIST, .flags = obj.flags, .u.l = l} : jv_undef(NULL);
  }
  const jj_str *s = obj.u.s;
  if (stp == 1) {
    if (b <= a) return jj_mkstr(rt, "", 0);
    size_t x = cp_offset(s, a), y = cp_offset(s, b);
    return jj_mkstr(rt, s->p + x, y - x);
  }
  eco_strbuf sb;
  eco_sb_init(&sb);
  for (int64_t i = a; stp > 0 ? i < b : i > b; i += stp) {
    size_t x = cp_offset(s, i), y = cp_offset(s, i + 1);
    eco_sb_append(&sb, s->p + x, y - x);
  }
  jv r = jj_mkstr(rt, eco_sb_str(&sb), sb.len);
  eco_sb_free(&sb);
  return r;
}

/* ---- operators --------------------------------------------------------------- */

static bool is_num(jv v) { return v.t == JV_BOOL || v.t == JV_INT || v.t == JV_FLOAT; }
static double fval(jv v) {
  return v.t == JV_FLOAT ? v.u.f : v.t == JV_INT ? (double)v.u.i : (double)v.u.b;
}
static int64_t ival(jv v) { return v.t == JV_INT ? v.u.i : (int64_t)v.u.b; }

static jv repeat(jj_rt *rt, jv seq, int64_t times) {
  if (times < 0) times = 0;
  if (seq.t == JV_STR) {
    size_t len = seq.u.s->len;
    if (len && (uint64_t)times > rt->lim.max_memory / len) {
      jj_oom(rt);
      return jv_undef(NULL);
    }
    jj_str *s = jj_arena_alloc(&rt->arena, sizeof *s + len * (size_t)times + 1);
    if (!s) {
      jj_oom(rt);
      return jv_undef(NULL);
    }
    for (int64_t k = 0; k < times; k++)
      memcpy(s->p + (size_t)k * len, seq.u.s->p, len);
    s->len = len * (size_t)times;
    return jv_strv(s);
  }
  jj_list *l = jj_list_new(rt, 0);
  for (int64_t k = 0; l && k < times; k++)
    for (size_t i = 0; i < seq.u.l->n; i++)
      if (!jj_step(rt) || jj_list_push(rt, l, seq.u.l->v[i])) return jv_undef(NULL);
  return l ? (jv){.t = JV_LIST, .flags = seq.flags, .u.l = l} : jv_undef(NULL);
}

static jv type_error(jj_rt *rt, const char *op, jv a, jv b) {
  if (a.t == JV_UNDEF)
    undefined_error(rt, a);
  else if (b.t == JV_UNDEF)
    undefined_error(rt, b);
  else
    jj_fail(rt, ECO_EINVAL, "unsupported operand type(s) for %s: '%s' and '%s'", op,
            jv_type_name(a), jv_type_name(b));
  return jv_undef(NULL);
}

static jv arith_int(jj_rt *rt, jj_op op, int64_t x, int64_t y) {
  int64_t r = 0;
  bool ovf = false;
  switch (op) {
  case OP_ADD: ovf = __builtin_add_overflow(x, y, &r); break;
  case OP_SUB: ovf = __builtin_sub_overflow(x, y, &r); break;
  case OP_MUL: ovf = __builtin_mul_overflow(x, y, &r); break;
  case OP_FDIV:
  case OP_MOD:
    if (y == 0) {
      jj_fail(rt, ECO_EINVAL, "integer division or modulo by zero");
      return jv_undef(NULL);
    }
    if (x == INT64_MIN && y == -1) {
      ovf = true;
      break;
    }
    r = op == OP_FDIV ? x / y : x % y;
    if (op == OP_FDIV && (x % y != 0) && ((x < 0) != (y < 0))) r--;
    if (op == OP_MOD && r != 0 && ((r < 0) != (y < 0))) r += y;
    break;
  case OP_POW:
    if (y < 0) return jv_float(pow((double)x, (double)y));
    r = 1;
    for (int64_t k = 0; k < y && !ovf; k++) {
      ovf = __builtin_mul_overflow(r, x, &r);
      if (r == 0 || r == 1) break;
    }
    break;
  default: break;
  }
  if (ovf) {
    jj_fail(rt, ECO_EOVERFLOW, "integer result out of range");
    return jv_undef(NULL);
  }
  return jv_int(r);
}

static jv arith(jj_rt *rt, jj_op op, jv a, jv b) {
  static const char *const k_sym[] = {"", "+", "-", "*", "/", "//", "%", "**"};
  if (is_num(a) && is_num(b)) {
    if (op == OP_DIV) {
      if (fval(b) == 0.0) {
        jj_fail(rt, ECO_EINVAL, "division by zero");
        return jv_undef(NULL);
      }
      return jv_float(fval(a) / fval(b));
    }
    if (a.t != JV_FLOAT && b.t != JV_FLOAT) return arith_int(rt, op, ival(a), ival(b));
    double x = fval(a), y = fval(b);
    switch (op) {
    case OP_ADD: return jv_float(x + y);
    case OP_SUB: return jv_float(x - y);
    case OP_MUL: return jv_float(x * y);
    case OP_POW: return jv_float(pow(x, y));
    default:
      if (y == 0.0) {
        jj_fail(rt, ECO_EINVAL, "float division by zero");
        return jv_undef(NULL);
      }
      if (op == OP_FDIV) return jv_float(floor(x / y));
      double m = fmod(x, y);
      if (m != 0.0 && ((m < 0) != (y < 0))) m += y;
      return jv_float(m);
    }
  }
  if (op == OP_ADD && a.t == JV_STR && b.t == JV_STR && ((a.flags ^ b.flags) & JV_SAFE)) {
    /* Markup + str escapes the plain side (markupsafe) */
    jv plain = (a.flags & JV_SAFE) ? b : a,
       esc = jj_apply_filter(rt, "escape", plain, NULL, 0, NULL, 0);
    if (rt->rc) return jv_undef(NULL);
    jv r = (a.flags & JV_SAFE) ? arith(rt, op, a, esc) : arith(rt, op, esc, b);
    return r;
  }
  if (op == OP_ADD && a.t == b.t && (a.t == JV_STR || a.t == JV_LIST)) {
    if (a.t == JV_STR) {
      size_t n = a.u.s->len + b.u.s->len;
      jj_str *s = jj_arena_alloc(&rt->arena, sizeof *s + n + 1);
      if (!s) {
        jj_oom(rt);
        return jv_undef(NULL);
      }
      memcpy(s->p, a.u.s->p, a.u.s->len);
      memcpy(s->p + a.u.s->len, b.u.s->p, b.u.s->len);
      s->len = n;
      return (jv){.t = JV_STR, .flags = (uint8_t)(a.flags & b.flags & JV_SAFE), .u.s = s};
    }
    if ((a.flags & JV_TUPLE) == (b.flags & JV_TUPLE)) {
      jj_list *l = jj_list_new(rt, a.u.l->n + b.u.l->n);
      if (!l) return jv_undef(NULL);
      for (size_t i = 0; i < a.u.l->n; i++)
        l->v[l->n++] = a.u.l->v[i];
      for (size_t i = 0; i < b.u.l->n; i++)
        l->v[l->n++] = b.u.l->v[i];
      return (jv){.t = JV_LIST, .flags = a.flags, .u.l = l};
    }
  }
  if (op == OP_MUL && (a.t == JV_STR || a.t == JV_LIST) && (b.t == JV_INT || b.t == JV_BOOL))
    return repeat(rt, a, ival(b));
  if (op == OP_MUL && (b.t == JV_STR || b.t == JV_LIST) && (a.t == JV_INT || a.t == JV_BOOL))
    return repeat(rt, b, ival(a));
  return type_error(rt, k_sym[op], a, b);
}

static int contains(jj_rt *rt, jv hay, jv needle, bool *out) {
  *out = false;
  switch ((jv_type)hay.t) {
  case JV_UNDEF: return ECO_OK;
  case JV_STR:
    if (needle.t != JV_STR)
      return jj_fail(rt, ECO_EINVAL, "'in <string>' requires string as left operand, not %s",
                     jv_type_name(needle));
    *out = needle.u.s->len == 0 ||
           memmem(hay.u.s->p, hay.u.s->len, needle.u.s->p, needle.u.s->len) != NULL;
    return ECO_OK;
  case JV_LIST:
    for (size_t i = 0; i < hay.u.l->n && !*out; i++)
      *out = jv_equal(hay.u.l->v[i], needle);
    return ECO_OK;
  case JV_DICT:
  case JV_NS: *out = jj_dict_get(hay.u.d, needle) != NULL; return ECO_OK;
  default:
    return jj_fail(rt, ECO_EINVAL, "argument of type '%s' is not iterable", jv_type_name(hay));
  }
}

static jv eval_cmp(jj_rt *rt, const jj_node *n) {
  jv left = jj_eval(rt, n->a);
  for (uint32_t k = 0; k < n->nkids && !rt->rc; k++) {
    jv right = jj_eval(rt, n->kids[k]);
    if (rt->rc) break;
    bool r = false;
    int c = 0;
    switch ((jj_op)n->ops[k]) {
    case OP_EQ: r = jv_equal(left, right); break;
    case OP_NE: r = !jv_equal(left, right); break;
    case OP_IN:
    case OP_NOTIN:
      if (contains(rt, right, left, &r)) return jv_undef(NULL);
      if (n->ops[k] == OP_NOTIN) r = !r;
      break;
    default:
      if (jv_compare(rt, left, right, &c)) return jv_undef(NULL);
      r = n->ops[k] == OP_LT   ? c < 0
          : n->ops[k] == OP_LE ? c <= 0
          : n->ops[k] == OP_GT ? c > 0
                               : c >= 0;
    }
    if (!r) return jv_bool(false);
    left = right;
  }
  return rt->rc ? jv_undef(NULL) : jv_bool(true);
}

/* ---- calls ----------------------------------------------------------------------- */

jv jj_call_value(jj_rt *rt, jv callee, jv *args, size_t npos, const jj_str **kw, size_t nkw) {
  switch ((jv_type)callee.t) {
  case JV_MACRO: return jj_call_macro(rt, callee.u.node, args, npos, kw, nkw);
  case JV_FUNC: return jj_call_func(rt, (jj_func)callee.u.i, args, npos, kw, nkw);
  case JV_METHOD: return jj_call_method(rt, callee.u.m, args, npos, kw, nkw);
  case JV_UNDEF: undefined_error(rt, callee); return jv_undef(NULL);
  default:
    jj_fail(rt, ECO_EINVAL, "'%s' object is not callable", jv_type_name(callee));
    return jv_undef(NULL);
  }
}

/* Evaluates n->kids into a fresh array (NULL when there are none). */
static jv *eval_args(jj_rt *rt, const jj_node *n) {
  if (!n->nkids) return NULL;
  jv *args = jj_arena_alloc(&rt->arena, n->nkids * sizeof *args);
  if (!args) {
    jj_oom(rt);
    return NULL;
  }
  for (uint32_t k = 0; k < n->nkids && !rt->rc; k++)
    args[k] = jj_eval(rt, n->kids[k]);
  return args;
}

static jv eval_filter(jj_rt *rt, const jj_node *n) {
  jv v;
  if (n->a) {
    v = jj_eval(rt, n->a);
  } else if (rt->filter_input) {
    v = *rt->filter_input;
  } else {
    jj_fail(rt, ECO_EINTERNAL, "filter without input");
    return jv_undef(NULL);
  }
  jv *args = eval_args(rt, n);
  if (rt->rc) return jv_undef(NULL);
  const jj_node *saved = rt->at;
  rt->at = n;
  jv r = jj_apply_filter(rt, n->name->p, v, args, n->npos, n->kw, n->nkids - n->npos);
  rt->at = saved;
  return r;
}

/* ---- expressions ------------------------------------------------------------------ */

static jv eval_seq(jj_rt *rt, const jj_node *n) {
  jj_list *l = jj_list_new(rt, n->nkids);
  if (!l) return jv_undef(NULL);
  for (uint32_t k = 0; k < n->nkids && !rt->rc; k++)
    l->v[l->n++] = jj_eval(rt, n->kids[k]);
  return (jv){.t = JV_LIST, .flags = n->kind == N_TUPLE ? JV_TUPLE : 0, .u.l = l};
}

static jv eval_dict(jj_rt *rt, const jj_node *n) {
  jj_dict *d = jj_dict_new(rt, n->nkids / 2);
  for (uint32_t k = 0; d && k + 1 < n->nkids && !rt->rc; k += 2) {
    jv key = jj_eval(rt, n->kids[k]), val = jj_eval(rt, n->kids[k + 1]);
    if (key.t == JV_LIST && !(key.flags & JV_TUPLE)) {
      jj_fail(rt, ECO_EINVAL, "unhashable type: 'list'");
    } else if (key.t == JV_DICT) {
      jj_fail(rt, ECO_EINVAL, "unhashable type: 'dict'");
    } else if (!rt->rc && jj_dict_set(&rt->arena, d, key, val)) {
      jj_oom(rt);
    }
  }
  return d && !rt->rc ? (jv){.t = JV_DICT, .u.d = d} : jv_undef(NULL);
}

static jv eval_unary(jj_rt *rt, const jj_node *n) {
  jv v = jj_eval(rt, n->a);
  if (rt->rc) return v;
  if (n->kind == N_NOT) return jv_bool(!jv_truthy(v));
  if (v.t == JV_FLOAT) return jv_float(n->kind == N_NEG ? -v.u.f : v.u.f);
  if (v.t == JV_INT || v.t == JV_BOOL) {
    int64_t i = ival(v);
    if (n->kind == N_NEG && i == INT64_MIN) {
      jj_fail(rt, ECO_EOVERFLOW, "integer result out of range");
      return jv_undef(NULL);
    }
    return jv_int(n->kind == N_NEG ? -i : i);
  }
  if (v.t == JV_UNDEF)
    undefined_error(rt, v);
  else
    jj_fail(rt, ECO_EINVAL, "bad operand type for unary %s: '%s'", n->kind == N_NEG ? "-" : "+",
            jv_type_name(v));
  return jv_undef(NULL);
}

static jv eval_inner(jj_rt *rt, const jj_node *n) {
  switch ((jj_kind)n->kind) {
  case N_LIT: return n->lit;
  case N_NAME: return jj_lookup(rt, n->name);
  case N_LIST:
  case N_TUPLE: return eval_seq(rt, n);
  case N_DICT: return eval_dict(rt, n);
  case N_GETATTR: {
    jv o = jj_eval(rt, n->a);
    return rt->rc ? o : jj_getattr(rt, o, n->name);
  }
  case N_GETITEM: {
    jv o = jj_eval(rt, n->a), k = jj_eval(rt, n->b);
    return rt->rc ? o : jj_getitem(rt, o, k);
  }
  case N_SLICE: return eval_slice(rt, n);
  case N_CALL: {
    jv callee = jj_eval(rt, n->a);
    jv *args = eval_args(rt, n);
    if (rt->rc) return jv_undef(NULL);
    return jj_call_value(rt, callee, args, n->npos, n->kw, n->nkids - n->npos);
  }
  case N_FILTER: return eval_filter(rt, n);
  case N_TEST: {
    jv v = jj_eval(rt, n->a);
    jv *args = eval_args(rt, n);
    if (rt->rc) return jv_undef(NULL);
    int r = jj_apply_test(rt, n->name->p, v, args, n->nkids);
    return r < 0 ? jv_undef(NULL) : jv_bool(n->op ? !r : r);
  }
  case N_NOT:
  case N_NEG:
  case N_POS: return eval_unary(rt, n);
  case N_BIN: {
    jv a = jj_eval(rt, n->a), b = jj_eval(rt, n->b);
    if (rt->rc) return jv_undef(NULL);
    if (n->op != OP_CONCAT) return arith(rt, (jj_op)n->op, a, b);
    eco_strbuf sb;
    eco_sb_init(&sb);
    jv r = jv_undef(NULL);
    if (!jv_str(rt, a, &sb) && !jv_str(rt, b, &sb)) r = jj_mkstr(rt, eco_sb_str(&sb), sb.len);
    eco_sb_free(&sb);
    return r;
  }
  case N_CMP: return eval_cmp(rt, n);
  case N_AND:
  case N_OR: {
    jv a = jj_eval(rt, n->a);
    if (rt->rc || jv_truthy(a) == (n->kind == N_OR)) return a;
    return jj_eval(rt, n->b);
  }
  case N_COND: {
    jv c = jj_eval(rt, n->b);
    if (rt->rc) return c;
    if (jv_truthy(c)) return jj_eval(rt, n->a);
    return n->c ? jj_eval(rt, n->c) : jv_undef(NULL);
  }
  default: jj_fail(rt, ECO_EINTERNAL, "not an expression"); return jv_undef(NULL);
  }
}

jv jj_eval(jj_rt *rt, const jj_node *n) {
  if (!jj_step(rt)) return jv_undef(NULL);
  if (++rt->depth > rt->lim.max_depth * 3) {
    rt->depth--;
    jj_fail(rt, ECO_EOVERFLOW, "evaluation nested too deeply");
    return jv_undef(NULL);
  }
  const jj_node *saved = rt->at;
  rt->at = n;
  jv v = eval_inner(rt, n);
  if (!rt->rc) rt->at = saved;
  rt->depth--;
  return v;
}
