/* ecoinfer: Jinja tests (`is defined`, ...), methods of dicts, lists and the
 * loop object, and the globals (namespace, range, dict, raise_exception,
 * strftime_now). Mutating methods (list.append, dict.update, ...) fail as in
 * transformers' immutable sandbox. */
#include "jinja/jj_internal.h"

#include <string.h>
#include <time.h>

jv *jj_arg(jv *args, size_t npos, const jj_str **kw, size_t nkw, size_t pos, const char *name) {
  if (name)
    for (size_t k = 0; k < nkw; k++)
      if (!strcmp(kw[k]->p, name)) return &args[npos + k];
  return pos < npos ? &args[pos] : NULL;
}

/* ---- tests ---------------------------------------------------------------- */

static const char *const k_tests[] = {
    "defined",     "undefined", "none",    "string",   "number",   "integer",  "float", "boolean",
    "true",        "false",     "mapping", "iterable", "sequence", "callable", "odd",   "even",
    "divisibleby", "equalto",   "eq",      "==",       "ne",       "!=",       "lt",    "<",
    "le",          "<=",        "gt",      ">",        "ge",       ">=",       "in",    "sameas",
    "lower",       "upper",     "escaped", NULL};

bool jj_has_test(const char *name) {
  for (size_t i = 0; k_tests[i]; i++)
    if (!strcmp(name, k_tests[i])) return true;
  return false;
}

static int cmp_test(jj_rt *rt, const char *name, jv v, jv arg) {
  if (!strcmp(name, "equalto") || !strcmp(name, "eq") || !strcmp(name, "=="))
    return jv_equal(v, arg);
  if (!strcmp(name, "ne") || !strcmp(name, "!=")) return !jv_equal(v, arg);
  int c;
  if (jv_compare(rt, v, arg, &c)) return -1;
  if (!strcmp(name, "lt") || !strcmp(name, "<")) return c < 0;
  if (!strcmp(name, "le") || !strcmp(name, "<=")) return c <= 0;
  if (!strcmp(name, "gt") || !strcmp(name, ">")) return c > 0;
  return c >= 0;
}

int jj_apply_test(jj_rt *rt, const char *name, jv v, jv *args, size_t nargs) {
  if (!jj_has_test(name)) {
    jj_fail(rt, ECO_EUNSUPPORTED, "no test named '%s'", name);
    return -1;
  }
  bool gen = v.t == JV_LIST && (v.flags & JV_GEN);
  if (!strcmp(name, "defined")) return v.t != JV_UNDEF;
  if (!strcmp(name, "undefined")) return v.t == JV_UNDEF;
  if (!strcmp(name, "none")) return v.t == JV_NONE;
  if (!strcmp(name, "string")) return v.t == JV_STR;
  if (!strcmp(name, "number")) return v.t == JV_INT || v.t == JV_FLOAT || v.t == JV_BOOL;
  if (!strcmp(name, "integer")) return v.t == JV_INT;
  if (!strcmp(name, "float")) return v.t == JV_FLOAT;
  if (!strcmp(name, "boolean")) return v.t == JV_BOOL;
  if (!strcmp(name, "true")) return v.t == JV_BOOL && v.u.b;
  if (!strcmp(name, "false")) return v.t == JV_BOOL && !v.u.b;
  if (!strcmp(name, "mapping")) return v.t == JV_DICT;
  if (!strcmp(name, "iterable"))
    return v.t == JV_STR || v.t == JV_LIST || v.t == JV_DICT || v.t == JV_UNDEF;
  if (!strcmp(name, "sequence"))
    return v.t == JV_STR || (v.t == JV_LIST && !gen) || v.t == JV_DICT || v.t == JV_UNDEF;
  if (!strcmp(name, "callable")) return v.t == JV_MACRO || v.t == JV_FUNC || v.t == JV_METHOD;
  if (!strcmp(name, "escaped")) return false;
  if (!strcmp(name, "lower") || !strcmp(name, "upper")) {
    jv str = jv_to_str(rt, v);
    if (rt->rc) return -1;
    jv r = jj_str_method(rt, name[0] == 'l' ? "islower" : "isupper", str.u.s, NULL, 0, NULL, 0);
    return rt->rc ? -1 : r.u.b;
  }
  if (!strcmp(name, "odd") || !strcmp(name, "even") || !strcmp(name, "divisibleby")) {
    if (v.t != JV_INT && v.t != JV_BOOL) {
      jj_fail(rt, ECO_EINVAL, "test '%s' needs an integer, got %s", name, jv_type_name(v));
      return -1;
    }
    int64_t x = v.t == JV_INT ? v.u.i : v.u.b, d = 2;
    if (name[0] == 'd') {
      if (nargs < 1 || args[0].t != JV_INT || args[0].u.i == 0) {
        jj_fail(rt, ECO_EINVAL, "divisibleby needs a nonzero integer");
        return -1;
      }
      d = args[0].u.i;
      return x % d == 0;
    }
    return (x % 2 != 0) == (name[0] == 'o');
  }
  if (nargs < 1) {
    jj_fail(rt, ECO_EINVAL, "test '%s' needs an argument", name);
    return -1;
  }
  if (!strcmp(name, "sameas")) {
    if (v.t != args[0].t) return 0;
    if (v.t == JV_NONE || v.t == JV_UNDEF) return 1;
    if (v.t == JV_BOOL) return v.u.b == args[0].u.b;
    return jv_equal(v, args[0]) && (v.t == JV_INT || v.u.l == args[0].u.l);
  }
  if (!strcmp(name, "in")) {
    jv hay = args[0];
    if (hay.t == JV_STR && v.t == JV_STR)
      return !v.u.s->len || memmem(hay.u.s->p, hay.u.s->len, v.u.s->p, v.u.s->len) != NULL;
    if (hay.t == JV_DICT) return jj_dict_get(hay.u.d, v) != NULL;
    jj_list *l;
    if (jv_iter(rt, hay, &l)) return -1;
    for (size_t i = 0; i < l->n; i++)
      if (jv_equal(l->v[i], v)) return 1;
    return 0;
  }
  return cmp_test(rt, name, v, args[0]);
}

/* ---- methods ---------------------------------------------------------------- */

static const char *const k_dict_methods[] = {"get", "items", "keys", "values", "copy", NULL};
static const char *const k_dict_unsafe[] = {"clear",      "pop",    "popitem",
                                            "setdefault", "update", NULL};
static const char *const k_list_methods[] = {"index", "count", "copy", NULL};
static const char *const k_list_unsafe[] = {"append",  "extend", "insert", "pop", "remove",
                                            "reverse", "sort",   "clear",  NULL};

static bool listed(const char *const *names, const char *name) {
  for (size_t i = 0; names[i]; i++)
    if (!strcmp(names[i], name)) return true;
  return false;
}

bool jj_is_method(jv self, const char *name) {
  switch ((jv_type)self.t) {
  case JV_DICT: return listed(k_dict_methods, name) || listed(k_dict_unsafe, name);
  case JV_LIST: return listed(k_list_methods, name) || listed(k_list_unsafe, name);
  case JV_STR: return jj_str_is_method(name);
  default: return false;
  }
}

static jv pairs(jj_rt *rt, const jj_dict *d, int which) {
  jj_list *l = jj_list_new(rt, d->n);
  for (size_t i = 0; l && i < d->n; i++) {
    if (which == 0) {
      jj_list *t = jj_list_new(rt, 2);
      if (!t) return jv_undef(NULL);
      t->v[0] = d->k[i];
      t->v[1] = d->v[i];
      t->n = 2;
      l->v[l->n++] = (jv){.t = JV_LIST, .flags = JV_TUPLE, .u.l = t};
    } else {
      l->v[l->n++] = which == 1 ? d->k[i] : d->v[i];
    }
  }
  return l ? (jv){.t = JV_LIST, .u.l = l} : jv_undef(NULL);
}

jv jj_dict_items(jj_rt *rt, const jj_dict *d) { return pairs(rt, d, 0); }

jv jj_call_method(jj_rt *rt, const jj_method *m, jv *args, size_t npos, const jj_str **kw,
                  size_t nkw) {
  jv self = m->self;
  const char *name = m->name;
  if (self.t == JV_LOOP) { /* loop.cycle(a, b, ...) */
    if (!npos) {
      jj_fail(rt, ECO_EINVAL, "no items for cycling given");
      return jv_undef(NULL);
    }
    return args[self.u.loop->index0 % npos];
  }
  if (self.t == JV_STR) return jj_str_method(rt, name, self.u.s, args, npos, kw, nkw);
  if ((self.t == JV_DICT && listed(k_dict_unsafe, name)) ||
      (self.t == JV_LIST && listed(k_list_unsafe, name))) {
    jj_fail(rt, ECO_EINVAL, "access to attribute '%s' of '%s' object is unsafe", name,
            jv_type_name(self));
    return jv_undef(NULL);
  }
  if (self.t == JV_DICT) {
    if (!strcmp(name, "items")) return pairs(rt, self.u.d, 0);
    if (!strcmp(name, "keys")) return pairs(rt, self.u.d, 1);
    if (!strcmp(name, "values")) return pairs(rt, self.u.d, 2);
    if (!strcmp(name, "copy")) return self;
    jv *key = jj_arg(args, npos, kw, nkw, 0, NULL), *def = jj_arg(args, npos, kw, nkw, 1, NULL);
    if (!key) {
      jj_fail(rt, ECO_EINVAL, "get expected at least 1 argument, got 0");
      return jv_undef(NULL);
    }
    jv *v = jj_dict_get(self.u.d, *key);
    return v ? *v : def ? *def : jv_none();
  }
  if (self.t == JV_LIST) {
    if (!strcmp(name, "copy")) return self;
    jv *x = jj_arg(args, npos, kw, nkw, 0, NULL);
    if (!x) {
      jj_fail(rt, ECO_EINVAL, "%s takes exactly one argument", name);
      return jv_undef(NULL);
    }
    int64_t count = 0;
    for (size_t i = 0; i < self.u.l->n; i++) {
      if (!jv_equal(self.u.l->v[i], *x)) continue;
      if (name[0] == 'i') return jv_int((int64_t)i);
      count++;
    }
    if (name[0] == 'i') {
      jj_fail(rt, ECO_EINVAL, "value is not in list");
      return jv_undef(NULL);
    }
    return jv_int(count);
  }
  jj_fail(rt, ECO_EINVAL, "'%s' object has no method '%s'", jv_type_name(self), name);
  return jv_undef(NULL);
}

/* ---- globals -------------------------------------------------------------------- */

static jv make_ns(jj_rt *rt, jv *args, size_t npos, const jj_str **kw, size_t nkw, bool ns) {
  jj_dict *d = jj_dict_new(rt, nkw);
  if (!d) return jv_undef(NULL);
  if (npos > 1 || (npos == 1 && args[0].t != JV_DICT)) {
    jj_fail(rt, ECO_EINVAL, "%s() takes a mapping and keyword arguments",
            ns ? "namespace" : "dict");
    return jv_undef(NULL);
  }
  if (npos == 1)
    for (size_t i = 0; i < args[0].u.d->n; i++)
      if (jj_dict_set(&rt->arena, d, args[0].u.d->k[i], args[0].u.d->v[i])) goto oom;
  for (size_t k = 0; k < nkw; k++)
    if (jj_dict_set(&rt->arena, d, jv_strv(kw[k]), args[npos + k])) goto oom;
  return (jv){.t = ns ? JV_NS : JV_DICT, .u.d = d};
oom:
  jj_fail(rt, ECO_EOVERFLOW, "template used too much memory");
  return jv_undef(NULL);
}

static jv make_range(jj_rt *rt, jv *args, size_t npos) {
  int64_t v[3] = {0, 0, 1};
  if (npos < 1 || npos > 3) {
    jj_fail(rt, ECO_EINVAL, "range expected 1 to 3 arguments, got %zu", npos);
    return jv_undef(NULL);
  }
  for (size_t k = 0; k < npos; k++) {
    if (args[k].t != JV_INT && args[k].t != JV_BOOL) {
      jj_fail(rt, ECO_EINVAL, "'%s' object cannot be interpreted as an integer",
              jv_type_name(args[k]));
      return jv_undef(NULL);
    }
  }
  if (npos == 1) {
    v[1] = args[0].t == JV_INT ? args[0].u.i : args[0].u.b;
  } else {
    for (size_t k = 0; k < npos; k++)
      v[k] = args[k].t == JV_INT ? args[k].u.i : args[k].u.b;
  }
  if (v[2] == 0) {
    jj_fail(rt, ECO_EINVAL, "range() arg 3 must not be zero");
    return jv_undef(NULL);
  }
  /* the sandbox's limit (jinja2.sandbox.MAX_RANGE) */
  double count = ((double)v[1] - (double)v[0]) / (double)v[2];
  if (count > 100000) {
    jj_fail(rt, ECO_EOVERFLOW,
            "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
    return jv_undef(NULL);
  }
  jj_list *l = jj_list_new(rt, count > 0 ? (size_t)count + 1 : 0);
  for (int64_t i = v[0]; l && (v[2] > 0 ? i < v[1] : i > v[1]); i += v[2])
    l->v[l->n++] = jv_int(i);
  return l ? (jv){.t = JV_LIST, .u.l = l} : jv_undef(NULL);
}

jv jj_call_func(jj_rt *rt, jj_func f, jv *args, size_t npos, const jj_str **kw, size_t nkw) {
  switch (f) {
  case JF_NAMESPACE: return make_ns(rt, args, npos, kw, nkw, true);
  case JF_DICT: return make_ns(rt, args, npos, kw, nkw, false);
  case JF_RANGE: return make_range(rt, args, npos);
  case JF_RAISE: {
    jv *m = jj_arg(args, npos, kw, nkw, 0, NULL);
    jv s = m ? jv_to_str(rt, *m) : jv_undef(NULL);
    jj_fail(rt, ECO_EINVAL, "template raised: %s", s.t == JV_STR ? s.u.s->p : "");
    return jv_undef(NULL);
  }
  case JF_STRFTIME: {
    jv *fmt = jj_arg(args, npos, kw, nkw, 0, "format");
    if (!fmt || fmt->t != JV_STR) {
      jj_fail(rt, ECO_EINVAL, "strftime_now expects a format string");
      return jv_undef(NULL);
    }
    struct tm tm;
    time_t now = rt->opts->now;
    if (rt->opts->utc ? !gmtime_r(&now, &tm) : !localtime_r(&now, &tm)) {
      jj_fail(rt, ECO_EINVAL, "bad time");
      return jv_undef(NULL);
    }
    char buf[512];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    size_t n = fmt->u.s->len < 200 ? strftime(buf, sizeof buf, fmt->u.s->p, &tm) : 0;
#pragma GCC diagnostic pop
    if (!n && fmt->u.s->len) {
      jj_fail(rt, ECO_EINVAL, "strftime_now: format too long");
      return jv_undef(NULL);
    }
    return jj_mkstr(rt, buf, n);
  }
  }
  jj_fail(rt, ECO_EINTERNAL, "unknown function");
  return jv_undef(NULL);
}
