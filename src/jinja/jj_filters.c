/* ecoinfer: Jinja filters, with Jinja2's semantics (select, map, unique and
 * reverse give generators: they iterate, but have no length). tojson is
 * transformers' (no key sorting, ensure_ascii off by default). */
#include "jinja/jj_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const k_filters[] = {
    "abs",     "attr",    "capitalize", "count",  "d",      "default",    "dictsort", "e",
    "escape",  "first",   "float",      "indent", "int",    "items",      "join",     "last",
    "length",  "list",    "lower",      "map",    "max",    "min",        "reject",   "rejectattr",
    "replace", "reverse", "round",      "safe",   "select", "selectattr", "sort",     "string",
    "sum",     "title",   "tojson",     "trim",   "unique", "upper",      NULL};

bool jj_has_filter(const char *name) {
  for (size_t i = 0; k_filters[i]; i++)
    if (!strcmp(name, k_filters[i])) return true;
  return false;
}

static jv bad(jj_rt *rt, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static jv bad(jj_rt *rt, const char *fmt, ...) {
  char msg[300];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  jj_fail(rt, ECO_EINVAL, "%s", msg);
  return jv_undef(NULL);
}

/* str(v), with undefined as "". */
static const jj_str *soft_str(jj_rt *rt, jv v) {
  if (v.t == JV_UNDEF) return jj_str_new(&rt->arena, "", 0);
  jv s = jv_to_str(rt, v);
  return s.t == JV_STR ? s.u.s : NULL;
}

static jv list_of(jj_list *l, uint8_t flags) {
  return l ? (jv){.t = JV_LIST, .flags = flags, .u.l = l} : jv_undef(NULL);
}

/* item.a.b (each part looked up as an item, then as an attribute). */
static jv attr_path(jj_rt *rt, jv item, jv attr) {
  if (attr.t != JV_STR) return jj_getitem(rt, item, attr);
  const jj_str *s = attr.u.s;
  size_t a = 0;
  for (;;) {
    const char *dot = memchr(s->p + a, '.', s->len - a);
    size_t b = dot ? (size_t)(dot - s->p) : s->len;
    jv key;
    bool digits = b > a;
    for (size_t k = a; k < b; k++)
      digits = digits && s->p[k] >= '0' && s->p[k] <= '9';
    key = digits ? jv_int(strtoll(s->p + a, NULL, 10)) : jj_mkstr(rt, s->p + a, b - a);
    item = jj_getitem(rt, item, key);
    if (rt->rc || !dot) return item;
    a = b + 1;
  }
}

static jv lowered(jj_rt *rt, jv v, bool case_sensitive) {
  return (!case_sensitive && v.t == JV_STR) ? jj_py_case(rt, v.u.s, 1) : v;
}

/* ---- sorting (stable merge sort over keys) --------------------------------- */

typedef struct keyed {
  jv key, val;
} keyed;

static void merge_sort(jj_rt *rt, keyed *v, keyed *tmp, size_t n, bool reverse) {
  if (n < 2 || rt->rc) return;
  size_t h = n / 2;
  merge_sort(rt, v, tmp, h, reverse);
  merge_sort(rt, v + h, tmp, n - h, reverse);
  size_t i = 0, j = h, k = 0;
  while (i < h && j < n && !rt->rc) {
    int c = 0;
    jv_compare(rt, v[j].key, v[i].key, &c);
    bool take_right = reverse ? c > 0 : c < 0;
    tmp[k++] = take_right ? v[j++] : v[i++];
  }
  while (i < h)
    tmp[k++] = v[i++];
  while (j < n)
    tmp[k++] = v[j++];
  memcpy(v, tmp, n * sizeof *v);
}

static jj_list *sorted(jj_rt *rt, jj_list *in, jv *attr, bool case_sensitive, bool reverse,
                       int pair_pos) {
  size_t n = in->n;
  keyed *v = malloc((n ? n : 1) * sizeof *v), *tmp = malloc((n ? n : 1) * sizeof *tmp);
  jj_list *out = NULL;
  if (!v || !tmp) {
    jj_fail(rt, ECO_ENOMEM, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < n && !rt->rc; i++) {
    jv k = in->v[i];
    if (pair_pos >= 0)
      k = k.u.l->v[pair_pos];
    else if (attr)
      k = attr_path(rt, k, *attr);
    v[i] = (keyed){lowered(rt, k, case_sensitive), in->v[i]};
  }
  merge_sort(rt, v, tmp, n, reverse);
  if (rt->rc || !(out = jj_list_new(rt, n))) goto done;
  for (size_t i = 0; i < n; i++)
    out->v[out->n++] = v[i].val;
done:
  free(v);
  free(tmp);
  return rt->rc ? NULL : out;
}

/* ---- select / map ------------------------------------------------------------- */

/* select, reject (attr NULL) and selectattr, rejectattr. */
static jv select_reject(jj_rt *rt, jv seq, jv *args, size_t npos, bool want, bool by_attr) {
  jj_list *in, *out = jj_list_new(rt, 0);
  if (out && !jv_truthy(seq)) return list_of(out, JV_GEN); /* Jinja2 skips a falsy input */
  if (!out || jv_iter(rt, seq, &in)) return jv_undef(NULL);
  size_t t = by_attr ? 1 : 0;
  if (by_attr && npos < 1) return bad(rt, "%s needs an attribute name", "selectattr");
  const char *test = NULL;
  if (npos > t) {
    if (args[t].t != JV_STR) return bad(rt, "%s: the test name must be a string", "select");
    test = args[t].u.s->p;
    if (!jj_has_test(test)) return bad(rt, "no test named '%s'", test);
  }
  for (size_t i = 0; i < in->n && !rt->rc; i++) {
    jv x = by_attr ? attr_path(rt, in->v[i], args[0]) : in->v[i];
    if (rt->rc) break;
    int r = test ? jj_apply_test(rt, test, x, args + t + 1, npos - t - 1) : jv_truthy(x);
    if (r < 0) break;
    if ((r != 0) == want && jj_list_push(rt, out, in->v[i])) break;
  }
  return rt->rc ? jv_undef(NULL) : list_of(out, JV_GEN);
}

static jv do_map(jj_rt *rt, jv seq, jv *args, size_t npos, const jj_str **kw, size_t nkw) {
  jj_list *in, *out = jj_list_new(rt, 0);
  if (out && !jv_truthy(seq)) return list_of(out, JV_GEN); /* Jinja2 skips a falsy input */
  if (!out || jv_iter(rt, seq, &in)) return jv_undef(NULL);
  jv *attr = jj_arg(args, npos, kw, nkw, (size_t)-1, "attribute");
  jv *def = jj_arg(args, npos, kw, nkw, (size_t)-1, "default");
  if (!attr && (npos < 1 || args[0].t != JV_STR))
    return bad(rt, "%s needs a filter name or attribute=", "map");
  if (!attr && !jj_has_filter(args[0].u.s->p))
    return bad(rt, "no filter named '%s'", args[0].u.s->p);
  for (size_t i = 0; i < in->n && !rt->rc; i++) {
    jv r;
    if (attr) {
      r = attr_path(rt, in->v[i], *attr);
      if (r.t == JV_UNDEF && def) r = *def;
    } else {
      r = jj_apply_filter(rt, args[0].u.s->p, in->v[i], args + 1, npos - 1, NULL, 0);
    }
    if (rt->rc || jj_list_push(rt, out, r)) break;
  }
  return rt->rc ? jv_undef(NULL) : list_of(out, JV_GEN);
}

static jv do_unique(jj_rt *rt, jv seq, jv *cs, jv *attr) {
  jj_list *in, *out = jj_list_new(rt, 0), *seen = jj_list_new(rt, 0);
  if (!out || !seen || jv_iter(rt, seq, &in)) return jv_undef(NULL);
  bool case_sensitive = cs && jv_truthy(*cs);
  for (size_t i = 0; i < in->n && !rt->rc; i++) {
    jv k = attr ? attr_path(rt, in->v[i], *attr) : in->v[i];
    k = lowered(rt, k, case_sensitive);
    bool dup = false;
    for (size_t j = 0; j < seen->n && !dup; j++)
      dup = jv_equal(seen->v[j], k);
    if (!dup && (jj_list_push(rt, seen, k) || jj_list_push(rt, out, in->v[i]))) break;
  }
  return rt->rc ? jv_undef(NULL) : list_of(out, JV_GEN);
}

static jv min_max(jj_rt *rt, jv seq, jv *cs, jv *attr, bool want_max) {
  jj_list *in;
  if (jv_iter(rt, seq, &in)) return jv_undef(NULL);
  if (!in->n) return jv_undef(NULL);
  bool case_sensitive = cs && jv_truthy(*cs);
  size_t best = 0;
  jv bk = lowered(rt, attr ? attr_path(rt, in->v[0], *attr) : in->v[0], case_sensitive);
  for (size_t i = 1; i < in->n && !rt->rc; i++) {
    jv k = lowered(rt, attr ? attr_path(rt, in->v[i], *attr) : in->v[i], case_sensitive);
    int c = 0;
    if (jv_compare(rt, k, bk, &c)) break;
    if (want_max ? c > 0 : c < 0) {
      best = i;
      bk = k;
    }
  }
  return rt->rc ? jv_undef(NULL) : in->v[best];
}

/* ---- strings ---------------------------------------------------------------------- */

static jv do_indent(jj_rt *rt, const jj_str *s, jv *width, jv *first, jv *blank) {
  eco_strbuf ind, out;
  eco_sb_init(&ind);
  eco_sb_init(&out);
  if (width && width->t == JV_STR) {
    eco_sb_append(&ind, width->u.s->p, width->u.s->len);
  } else {
    int64_t w = width && width->t == JV_INT ? width->u.i : 4;
    for (int64_t k = 0; k < w && k < 4096; k++)
      eco_sb_puts(&ind, " ");
  }
  /* s + "\n", split into lines (Python splitlines) */
  eco_strbuf tmp;
  eco_sb_init(&tmp);
  eco_sb_append(&tmp, s->p, s->len);
  eco_sb_puts(&tmp, "\n");
  const jj_str *t2 = jj_str_new(&rt->arena, eco_sb_str(&tmp), tmp.len);
  eco_sb_free(&tmp);
  jv lines = t2 ? jj_py_splitlines(rt, t2, false) : jv_undef(NULL);
  jv r = jv_undef(NULL);
  if (lines.t != JV_LIST) goto done;
  jj_list *l = lines.u.l;
  if (first && jv_truthy(*first)) eco_sb_append(&out, eco_sb_str(&ind), ind.len);
  for (size_t i = 0; i < l->n; i++) {
    const jj_str *line = l->v[i].u.s;
    if (i) {
      eco_sb_puts(&out, "\n");
      if (line->len || (blank && jv_truthy(*blank))) eco_sb_append(&out, eco_sb_str(&ind), ind.len);
    }
    eco_sb_append(&out, line->p, line->len);
  }
  r = jj_mkstr(rt, eco_sb_str(&out), out.len);
done:
  eco_sb_free(&ind);
  eco_sb_free(&out);
  return r;
}

static jv do_escape(jj_rt *rt, const jj_str *s) {
  eco_strbuf sb;
  eco_sb_init(&sb);
  for (size_t i = 0; i < s->len; i++) {
    switch (s->p[i]) {
    case '&': eco_sb_puts(&sb, "&amp;"); break;
    case '<': eco_sb_puts(&sb, "&lt;"); break;
    case '>': eco_sb_puts(&sb, "&gt;"); break;
    case '"': eco_sb_puts(&sb, "&#34;"); break;
    case '\'': eco_sb_puts(&sb, "&#39;"); break;
    default: eco_sb_append(&sb, &s->p[i], 1);
    }
  }
  jv r = jj_mkstr(rt, eco_sb_str(&sb), sb.len);
  eco_sb_free(&sb);
  return r;
}

static jv do_join(jj_rt *rt, jv seq, jv *sep, jv *attr) {
  jj_list *in;
  if (jv_iter(rt, seq, &in)) return jv_undef(NULL);
  const jj_str *d = sep ? soft_str(rt, *sep) : NULL;
  eco_strbuf sb;
  eco_sb_init(&sb);
  for (size_t i = 0; i < in->n && !rt->rc; i++) {
    if (i && d) eco_sb_append(&sb, d->p, d->len);
    jv x = attr ? attr_path(rt, in->v[i], *attr) : in->v[i];
    if (!rt->rc) jv_str(rt, x, &sb);
  }
  jv r = rt->rc ? jv_undef(NULL) : jj_mkstr(rt, eco_sb_str(&sb), sb.len);
  eco_sb_free(&sb);
  return r;
}

static bool parse_num(const jj_str *s, bool integer, int base, double *f, int64_t *i) {
  const char *p = s->p;
  while (*p == ' ' || (*p >= '\t' && *p <= '\r'))
    p++;
  char *end;
  if (integer) {
    *i = strtoll(p, &end, base);
  } else {
    *f = strtod(p, &end);
  }
  if (end == p) return false;
  while (*end == ' ' || (*end >= '\t' && *end <= '\r'))
    end++;
  return *end == '\0';
}

static jv do_int_float(jj_rt *rt, jv v, jv *def, jv *basev, bool to_int) {
  jv d = def ? *def : to_int ? jv_int(0) : jv_float(0.0);
  int base = basev && basev->t == JV_INT ? (int)basev->u.i : 10;
  double f = 0;
  int64_t i = 0;
  switch ((jv_type)v.t) {
  case JV_INT: return to_int ? v : jv_float((double)v.u.i);
  case JV_BOOL: return to_int ? jv_int(v.u.b) : jv_float(v.u.b);
  case JV_FLOAT:
    if (!to_int) return v;
    if (!isfinite(v.u.f) || fabs(v.u.f) >= 9.2e18) return d;
    return jv_int((int64_t)v.u.f);
  case JV_STR:
    if (to_int && parse_num(v.u.s, true, base, &f, &i)) return jv_int(i);
    if (parse_num(v.u.s, false, 10, &f, &i)) {
      if (!to_int) return jv_float(f);
      if (isfinite(f) && fabs(f) < 9.2e18) return jv_int((int64_t)f);
    }
    return d;
  default: return d;
  }
}

static jv do_round(jj_rt *rt, jv v, jv *precv, jv *methv) {
  if (v.t != JV_INT && v.t != JV_FLOAT && v.t != JV_BOOL)
    return bad(rt, "round: %s is not a number", jv_type_name(v));
  int64_t prec = precv && precv->t == JV_INT ? precv->u.i : 0;
  const char *method = methv && methv->t == JV_STR ? methv->u.s->p : "common";
  double x = v.t == JV_FLOAT ? v.u.f : v.t == JV_INT ? (double)v.u.i : v.u.b;
  if (prec < 0 || prec > 15)
    return bad(rt, "round: precision %lld is not supported", (long long)prec);
  if (!strcmp(method, "common")) {
    if (v.t != JV_FLOAT) return jv_int(v.t == JV_INT ? v.u.i : v.u.b);
    char buf[64];
    snprintf(buf, sizeof buf, "%.*f", (int)prec, x);
    return jv_float(strtod(buf, NULL));
  }
  double m = pow(10.0, (double)prec);
  if (!strcmp(method, "floor")) return jv_float(floor(x * m) / m);
  if (!strcmp(method, "ceil")) return jv_float(ceil(x * m) / m);
  return bad(rt, "method must be common, ceil or floor, not %s", method);
}

static jv do_tojson(jj_rt *rt, jv v, jv *args, size_t npos, const jj_str **kw, size_t nkw) {
  jv *ind = jj_arg(args, npos, kw, nkw, 0, "indent");
  jv *ascii = jj_arg(args, npos, kw, nkw, (size_t)-1, "ensure_ascii");
  jv *sortk = jj_arg(args, npos, kw, nkw, (size_t)-1, "sort_keys");
  jv *seps = jj_arg(args, npos, kw, nkw, (size_t)-1, "separators");
  if (seps && seps->t != JV_NONE) return bad(rt, "tojson: %s is not supported", "separators");
  int indent = -1;
  if (ind && ind->t == JV_INT)
    indent = ind->u.i < 0 ? 0 : ind->u.i > 64 ? 64 : (int)ind->u.i;
  else if (ind && ind->t != JV_NONE)
    return bad(rt, "tojson: indent must be an integer, not %s", jv_type_name(*ind));
  eco_strbuf sb;
  eco_sb_init(&sb);
  jv r = jv_undef(NULL);
  if (!jv_json(rt, v, indent, sortk && jv_truthy(*sortk), ascii && jv_truthy(*ascii), &sb))
    r = jj_mkstr(rt, eco_sb_str(&sb), sb.len);
  eco_sb_free(&sb);
  return r;
}

static jv do_attr(jj_rt *rt, jv v, jv *name) {
  if (!name || name->t != JV_STR) return bad(rt, "attr needs a %s", "name");
  if (v.t == JV_DICT && !jj_is_method(v, name->u.s->p)) return jv_undef(name->u.s);
  return jj_getattr(rt, v, name->u.s);
}

static jv seq_end(jj_rt *rt, jv v, bool last) {
  if (last && v.t == JV_LIST && (v.flags & JV_GEN))
    return bad(rt, "'%s' object is not reversible", "generator");
  jj_list *l;
  if (jv_iter(rt, v, &l)) return jv_undef(NULL);
  if (!l->n) return jv_undef(NULL);
  return l->v[last ? l->n - 1 : 0];
}

static jv do_reverse(jj_rt *rt, jv v) {
  if (v.t == JV_STR) {
    jj_list *l;
    if (jv_iter(rt, v, &l)) return jv_undef(NULL);
    eco_strbuf sb;
    eco_sb_init(&sb);
    for (size_t i = l->n; i-- > 0;)
      eco_sb_append(&sb, l->v[i].u.s->p, l->v[i].u.s->len);
    jv r = jj_mkstr(rt, eco_sb_str(&sb), sb.len);
    eco_sb_free(&sb);
    return r;
  }
  jj_list *in, *out;
  if (jv_iter(rt, v, &in) || !(out = jj_list_new(rt, in->n))) return jv_undef(NULL);
  for (size_t i = in->n; i-- > 0;)
    out->v[out->n++] = in->v[i];
  return list_of(out, JV_GEN);
}

static jv do_sum(jj_rt *rt, jv v, jv *attr, jv *start) {
  jj_list *in;
  if (jv_iter(rt, v, &in)) return jv_undef(NULL);
  jv acc = start ? *start : jv_int(0);
  for (size_t i = 0; i < in->n && !rt->rc; i++) {
    jv x = attr ? attr_path(rt, in->v[i], *attr) : in->v[i];
    bool f = acc.t == JV_FLOAT || x.t == JV_FLOAT;
    if ((acc.t != JV_INT && acc.t != JV_FLOAT && acc.t != JV_BOOL) ||
        (x.t != JV_INT && x.t != JV_FLOAT && x.t != JV_BOOL))
      return bad(rt, "sum: unsupported operand type %s", jv_type_name(x));
    double a = acc.t == JV_FLOAT ? acc.u.f : acc.t == JV_INT ? (double)acc.u.i : acc.u.b;
    double b = x.t == JV_FLOAT ? x.u.f : x.t == JV_INT ? (double)x.u.i : x.u.b;
    if (f) {
      acc = jv_float(a + b);
    } else {
      int64_t r;
      if (__builtin_add_overflow(acc.t == JV_INT ? acc.u.i : acc.u.b, x.t == JV_INT ? x.u.i : x.u.b,
                                 &r))
        return bad(rt, "sum: %s", "integer overflow");
      acc = jv_int(r);
    }
  }
  return acc;
}

jv jj_apply_filter(jj_rt *rt, const char *name, jv v, jv *args, size_t npos, const jj_str **kw,
                   size_t nkw) {
#define ARG(i, n) jj_arg(args, npos, kw, nkw, (i), (n))
  if (!jj_has_filter(name)) {
    jj_fail(rt, ECO_EUNSUPPORTED, "no filter named '%s'", name);
    return jv_undef(NULL);
  }
  bool gen = v.t == JV_LIST && (v.flags & JV_GEN);
  if (!strcmp(name, "safe")) {
    jv r = v.t == JV_STR ? v : jv_to_str(rt, v);
    if (r.t == JV_STR) r.flags |= JV_SAFE;
    return r;
  }
  if (!strcmp(name, "default") || !strcmp(name, "d")) {
    jv *dv = ARG(0, "default_value"), *boolean = ARG(1, "boolean");
    bool use = v.t == JV_UNDEF || (boolean && jv_truthy(*boolean) && !jv_truthy(v));
    return use ? (dv ? *dv : jj_mkstr(rt, "", 0)) : v;
  }
  if (!strcmp(name, "length") || !strcmp(name, "count")) {
    if (gen) return bad(rt, "object of type '%s' has no len()", "generator");
    int64_t n;
    return jv_len(rt, v, &n) ? jv_undef(NULL) : jv_int(n);
  }
  if (!strcmp(name, "tojson")) return do_tojson(rt, v, args, npos, kw, nkw);
  if (!strcmp(name, "items")) {
    if (v.t == JV_UNDEF) return list_of(jj_list_new(rt, 0), 0);
    if (v.t != JV_DICT) return bad(rt, "Can only get item pairs from a mapping%s", ".");
    return jj_dict_items(rt, v.u.d);
  }
  if (!strcmp(name, "list")) {
    jj_list *l, *out;
    if (jv_iter(rt, v, &l) || !(out = jj_list_new(rt, l->n))) return jv_undef(NULL);
    if (l->n) memcpy(out->v, l->v, l->n * sizeof *l->v);
    out->n = l->n;
    return list_of(out, 0);
  }
  if (!strcmp(name, "join")) return do_join(rt, v, ARG(0, "d"), ARG(1, "attribute"));
  if (!strcmp(name, "first") || !strcmp(name, "last")) return seq_end(rt, v, name[0] == 'l');
  if (!strcmp(name, "select") || !strcmp(name, "reject"))
    return select_reject(rt, v, args, npos, name[0] == 's', false);
  if (!strcmp(name, "selectattr") || !strcmp(name, "rejectattr"))
    return select_reject(rt, v, args, npos, name[0] == 's', true);
  if (!strcmp(name, "map")) return do_map(rt, v, args, npos, kw, nkw);
  if (!strcmp(name, "unique"))
    return do_unique(rt, v, ARG(0, "case_sensitive"), ARG(1, "attribute"));
  if (!strcmp(name, "min") || !strcmp(name, "max"))
    return min_max(rt, v, ARG(0, "case_sensitive"), ARG(1, "attribute"), name[1] == 'a');
  if (!strcmp(name, "sort") || !strcmp(name, "dictsort")) {
    bool dict = name[0] == 'd';
    jv *rev = ARG(dict ? 2 : 0, "reverse"), *cs = ARG(dict ? 0 : 1, "case_sensitive");
    jj_list *in;
    int pos = -1;
    if (dict) {
      if (v.t != JV_DICT) return bad(rt, "dictsort: %s is not a mapping", jv_type_name(v));
      jv *by = ARG(1, "by");
      pos = by && by->t == JV_STR && !strcmp(by->u.s->p, "value") ? 1 : 0;
      jv items = jj_dict_items(rt, v.u.d);
      if (rt->rc) return items;
      in = items.u.l;
    } else if (jv_iter(rt, v, &in)) {
      return jv_undef(NULL);
    }
    jj_list *out = sorted(rt, in, dict ? NULL : ARG(2, "attribute"), cs && jv_truthy(*cs),
                          rev && jv_truthy(*rev), pos);
    return list_of(out, 0);
  }
  if (!strcmp(name, "reverse")) return do_reverse(rt, v);
  if (!strcmp(name, "sum")) return do_sum(rt, v, ARG(0, "attribute"), ARG(1, "start"));
  if (!strcmp(name, "int") || !strcmp(name, "float"))
    return do_int_float(rt, v, ARG(0, "default"), ARG(1, "base"), name[0] == 'i');
  if (!strcmp(name, "abs")) {
    if (v.t == JV_FLOAT) return jv_float(fabs(v.u.f));
    if (v.t == JV_INT && v.u.i != INT64_MIN) return jv_int(v.u.i < 0 ? -v.u.i : v.u.i);
    if (v.t == JV_BOOL) return jv_int(v.u.b);
    return bad(rt, "bad operand type for abs(): '%s'", jv_type_name(v));
  }
  if (!strcmp(name, "round")) return do_round(rt, v, ARG(0, "precision"), ARG(1, "method"));
  if (!strcmp(name, "attr")) return do_attr(rt, v, ARG(0, "name"));
  /* the rest work on str(value) */
  const jj_str *s = soft_str(rt, v);
  if (!s) return jv_undef(NULL);
  if (!strcmp(name, "string")) return v.t == JV_UNDEF ? jv_strv(s) : jv_to_str(rt, v);
  if (!strcmp(name, "trim")) {
    jv *chars = ARG(0, "chars");
    if (chars && chars->t != JV_STR && chars->t != JV_NONE)
      return bad(rt, "trim: chars must be a %s", "string");
    return jj_py_strip(rt, s, chars && chars->t == JV_STR ? chars->u.s : NULL, 3);
  }
  if (!strcmp(name, "upper")) return jj_py_case(rt, s, 0);
  if (!strcmp(name, "lower")) return jj_py_case(rt, s, 1);
  if (!strcmp(name, "title")) return jj_py_case(rt, s, 2);
  if (!strcmp(name, "capitalize")) return jj_py_case(rt, s, 3);
  if (!strcmp(name, "e") || !strcmp(name, "escape")) {
    jv r = (v.t == JV_STR && (v.flags & JV_SAFE)) ? v : do_escape(rt, s);
    if (r.t == JV_STR) r.flags |= JV_SAFE;
    return r;
  }
  if (!strcmp(name, "indent"))
    return do_indent(rt, s, ARG(0, "width"), ARG(1, "first"), ARG(2, "blank"));
  if (!strcmp(name, "replace")) {
    jv *old = ARG(0, "old"), *rep = ARG(1, "new"), *cnt = ARG(2, "count");
    if (!old || !rep) return bad(rt, "replace needs %s arguments", "two");
    const jj_str *o = soft_str(rt, *old), *r = soft_str(rt, *rep);
    if (!o || !r) return jv_undef(NULL);
    return jj_py_replace(rt, s, o, r, cnt && cnt->t == JV_INT ? cnt->u.i : -1);
  }
#undef ARG
  jj_fail(rt, ECO_EUNSUPPORTED, "no filter named '%s'", name);
  return jv_undef(NULL);
}
