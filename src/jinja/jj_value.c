/* ecoinfer: Jinja values with Python semantics (truth, equality, ordering,
 * str/repr, json.dumps), the arena they live in, and UTF-8 helpers. */
#include "jinja/jj_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- arena ---------------------------------------------------------------- */

struct jj_chunk {
  jj_chunk *next;
  size_t size, used;
  _Alignas(16) unsigned char mem[];
};

void jj_arena_free(jj_arena *a) {
  jj_chunk *c = a->head;
  while (c) {
    jj_chunk *n = c->next;
    free(c);
    c = n;
  }
  a->head = NULL;
  a->used = 0;
}

void *jj_arena_alloc(jj_arena *a, size_t n) {
  n = (n + 15) & ~(size_t)15;
  if (!n) n = 16;
  if (a->limit && (n > a->limit || a->used > a->limit - n)) return NULL;
  jj_chunk *c = a->head;
  if (!c || c->size - c->used < n) {
    size_t size = n > 32768 ? n : 32768;
    c = malloc(sizeof *c + size);
    if (!c) return NULL;
    c->size = size;
    c->used = 0;
    c->next = a->head;
    a->head = c;
  }
  void *p = c->mem + c->used;
  c->used += n;
  a->used += n;
  memset(p, 0, n);
  return p;
}

/* ---- UTF-8 ---------------------------------------------------------------- */

size_t jj_utf8_next(const char *s, size_t n, uint32_t *cp) {
  const unsigned char *u = (const unsigned char *)s;
  if (!n) {
    *cp = 0;
    return 0;
  }
  unsigned char b = u[0];
  if (b < 0x80) {
    *cp = b;
    return 1;
  }
  size_t len = (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 1;
  if (len == 1 || len > n) {
    *cp = 0xFFFD;
    return 1;
  }
  uint32_t v = b & (0x7F >> len);
  for (size_t k = 1; k < len; k++) {
    if ((u[k] & 0xC0) != 0x80) {
      *cp = 0xFFFD;
      return 1;
    }
    v = (v << 6) | (u[k] & 0x3F);
  }
  *cp = v;
  return len;
}

size_t jj_utf8_count(const char *s, size_t n) {
  size_t c = 0;
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    i += jj_utf8_next(s + i, n - i, &cp);
    c++;
  }
  return c;
}

bool jj_py_isspace(uint32_t c) {
  if (c < 0x80) return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20);
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* ---- constructors --------------------------------------------------------- */

jv jv_undef(const jj_str *name) { return (jv){.t = JV_UNDEF, .u.s = name}; }
jv jv_none(void) { return (jv){.t = JV_NONE}; }
jv jv_bool(bool b) { return (jv){.t = JV_BOOL, .u.b = b}; }
jv jv_int(int64_t i) { return (jv){.t = JV_INT, .u.i = i}; }
jv jv_float(double f) { return (jv){.t = JV_FLOAT, .u.f = f}; }
jv jv_strv(const jj_str *s) { return (jv){.t = JV_STR, .u.s = s}; }

const jj_str *jj_str_new(jj_arena *a, const char *p, size_t n) {
  if (n > ((size_t)1 << 40)) return NULL;
  jj_str *s = jj_arena_alloc(a, sizeof *s + n + 1);
  if (!s) return NULL;
  s->len = n;
  if (n) memcpy(s->p, p, n);
  s->p[n] = '\0';
  return s;
}

jv jj_mkstr(jj_rt *rt, const char *p, size_t n) {
  const jj_str *s = jj_str_new(&rt->arena, p, n);
  if (!s) {
    jj_fail(rt, ECO_EOVERFLOW, "template used more than %zu bytes of memory", rt->lim.max_memory);
    return jv_undef(NULL);
  }
  return jv_strv(s);
}

jj_list *jj_list_new(jj_rt *rt, size_t cap) {
  jj_list *l = jj_arena_alloc(&rt->arena, sizeof *l);
  if (l && cap && cap < ((size_t)1 << 40)) l->v = jj_arena_alloc(&rt->arena, cap * sizeof *l->v);
  if (!l || (cap && !l->v)) {
    jj_fail(rt, ECO_EOVERFLOW, "template used more than %zu bytes of memory", rt->lim.max_memory);
    return NULL;
  }
  l->cap = cap;
  return l;
}

int jj_list_push(jj_rt *rt, jj_list *l, jv v) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 4;
    jv *nv = jj_arena_alloc(&rt->arena, cap * sizeof *nv);
    if (!nv)
      return jj_fail(rt, ECO_EOVERFLOW, "template used more than %zu bytes of memory",
                     rt->lim.max_memory);
    if (l->n) memcpy(nv, l->v, l->n * sizeof *nv);
    l->v = nv;
    l->cap = cap;
  }
  l->v[l->n++] = v;
  return ECO_OK;
}

jj_dict *jj_dict_new(jj_rt *rt, size_t cap) {
  jj_dict *d = jj_arena_alloc(&rt->arena, sizeof *d);
  if (!d) {
    jj_fail(rt, ECO_EOVERFLOW, "template used more than %zu bytes of memory", rt->lim.max_memory);
    return NULL;
  }
  (void)cap;
  return d;
}

jv *jj_dict_get(const jj_dict *d, jv k) {
  for (size_t i = 0; i < d->n; i++)
    if (jv_equal(d->k[i], k)) return &d->v[i];
  return NULL;
}

jv *jj_dict_gets(const jj_dict *d, const char *k, size_t n) {
  for (size_t i = 0; i < d->n; i++)
    if (d->k[i].t == JV_STR && d->k[i].u.s->len == n && !memcmp(d->k[i].u.s->p, k, n))
      return &d->v[i];
  return NULL;
}

int jj_dict_set(jj_arena *a, jj_dict *d, jv k, jv v) {
  jv *slot = jj_dict_get(d, k);
  if (slot) {
    *slot = v;
    return ECO_OK;
  }
  if (d->n == d->cap) {
    size_t cap = d->cap ? d->cap * 2 : 4;
    jv *nk = jj_arena_alloc(a, cap * sizeof *nk), *nv = jj_arena_alloc(a, cap * sizeof *nv);
    if (!nk || !nv) return ECO_EOVERFLOW;
    if (d->n && d->k && d->v) {
      memcpy(nk, d->k, d->n * sizeof *nk);
      memcpy(nv, d->v, d->n * sizeof *nv);
    }
    d->k = nk;
    d->v = nv;
    d->cap = cap;
  }
  if (!d->k || !d->v) return ECO_EINTERNAL;
  d->k[d->n] = k;
  d->v[d->n] = v;
  d->n++;
  return ECO_OK;
}

/* ---- truth, equality, order ------------------------------------------------ */

bool jv_truthy(jv v) {
  switch ((jv_type)v.t) {
  case JV_UNDEF:
  case JV_NONE: return false;
  case JV_BOOL: return v.u.b;
  case JV_INT: return v.u.i != 0;
  case JV_FLOAT: return v.u.f != 0.0;
  case JV_STR: return v.u.s->len != 0;
  case JV_LIST: return (v.flags & JV_GEN) || v.u.l->n != 0;
  case JV_DICT: return v.u.d->n != 0;
  default: return true;
  }
}

static bool is_num(jv v) { return v.t == JV_BOOL || v.t == JV_INT || v.t == JV_FLOAT; }
static double num_f(jv v) {
  return v.t == JV_FLOAT ? v.u.f : v.t == JV_INT ? (double)v.u.i : (double)v.u.b;
}
static int64_t num_i(jv v) { return v.t == JV_INT ? v.u.i : (int64_t)v.u.b; }

bool jv_equal(jv a, jv b) {
  if (is_num(a) && is_num(b)) {
    if (a.t == JV_FLOAT || b.t == JV_FLOAT) return num_f(a) == num_f(b);
    return num_i(a) == num_i(b);
  }
  if (a.t != b.t) return false;
  switch ((jv_type)a.t) {
  case JV_UNDEF:
  case JV_NONE: return true;
  case JV_STR: return a.u.s->len == b.u.s->len && !memcmp(a.u.s->p, b.u.s->p, a.u.s->len);
  case JV_LIST:
    if ((a.flags & JV_TUPLE) != (b.flags & JV_TUPLE) || a.u.l->n != b.u.l->n) return false;
    for (size_t i = 0; i < a.u.l->n; i++)
      if (!jv_equal(a.u.l->v[i], b.u.l->v[i])) return false;
    return true;
  case JV_DICT:
    if (a.u.d->n != b.u.d->n) return false;
    for (size_t i = 0; i < a.u.d->n; i++) {
      jv *o = jj_dict_get(b.u.d, a.u.d->k[i]);
      if (!o || !jv_equal(a.u.d->v[i], *o)) return false;
    }
    return true;
  case JV_NS: return a.u.d == b.u.d;
  case JV_MACRO: return a.u.node == b.u.node;
  case JV_FUNC: return a.u.i == b.u.i;
  case JV_METHOD: return a.u.m == b.u.m;
  case JV_LOOP: return a.u.loop == b.u.loop;
  default: return false;
  }
}

const char *jv_type_name(jv v) {
  switch ((jv_type)v.t) {
  case JV_UNDEF: return "Undefined";
  case JV_NONE: return "NoneType";
  case JV_BOOL: return "bool";
  case JV_INT: return "int";
  case JV_FLOAT: return "float";
  case JV_STR: return "str";
  case JV_LIST: return (v.flags & JV_TUPLE) ? "tuple" : "list";
  case JV_DICT: return "dict";
  case JV_NS: return "Namespace";
  case JV_MACRO: return "Macro";
  case JV_FUNC: return "function";
  case JV_METHOD: return "builtin_function_or_method";
  case JV_LOOP: return "LoopContext";
  }
  return "object";
}

int jv_compare(jj_rt *rt, jv a, jv b, int *cmp) {
  if (is_num(a) && is_num(b)) {
    if (a.t == JV_FLOAT || b.t == JV_FLOAT) {
      double x = num_f(a), y = num_f(b);
      *cmp = x < y ? -1 : x > y ? 1 : 0;
    } else {
      int64_t x = num_i(a), y = num_i(b);
      *cmp = x < y ? -1 : x > y ? 1 : 0;
    }
    return ECO_OK;
  }
  if (a.t == JV_STR && b.t == JV_STR) {
    size_t n = a.u.s->len < b.u.s->len ? a.u.s->len : b.u.s->len;
    int c = memcmp(a.u.s->p, b.u.s->p, n);
    *cmp = c < 0 ? -1 : c > 0 ? 1 : a.u.s->len < b.u.s->len ? -1 : a.u.s->len > b.u.s->len;
    return ECO_OK;
  }
  if (a.t == JV_LIST && b.t == JV_LIST && (a.flags & JV_TUPLE) == (b.flags & JV_TUPLE)) {
    size_t n = a.u.l->n < b.u.l->n ? a.u.l->n : b.u.l->n;
    for (size_t i = 0; i < n; i++) {
      if (jv_equal(a.u.l->v[i], b.u.l->v[i])) continue;
      return jv_compare(rt, a.u.l->v[i], b.u.l->v[i], cmp);
    }
    *cmp = a.u.l->n < b.u.l->n ? -1 : a.u.l->n > b.u.l->n;
    return ECO_OK;
  }
  if (a.t == JV_UNDEF || b.t == JV_UNDEF)
    return jj_fail(rt, ECO_EINVAL, "an undefined value cannot be compared");
  return jj_fail(rt, ECO_EINVAL, "'<' not supported between instances of '%s' and '%s'",
                 jv_type_name(a), jv_type_name(b));
}

/* ---- printing --------------------------------------------------------------- */

void jj_py_float(double f, eco_strbuf *sb) {
  if (isnan(f)) {
    eco_sb_puts(sb, "nan");
    return;
  }
  if (isinf(f)) {
    eco_sb_puts(sb, f < 0 ? "-inf" : "inf");
    return;
  }
  char buf[64];
  int prec = 1;
  for (; prec <= 17; prec++) {
    snprintf(buf, sizeof buf, "%.*e", prec - 1, f);
    if (strtod(buf, NULL) == f) break;
  }
  /* buf = [-]d[.ddd]e[+-]XX: digits and decimal exponent */
  char digits[32] = {0};
  size_t nd = 0;
  const char *q = buf;
  bool neg = *q == '-';
  if (neg) q++;
  for (; *q && *q != 'e'; q++)
    if (*q != '.') digits[nd++] = *q;
  int exp = atoi(q + 1);
  while (nd > 1 && digits[nd - 1] == '0')
    nd--;
  if (neg) eco_sb_puts(sb, "-");
  if (exp < -4 || exp >= 16) {
    eco_sb_append(sb, digits, 1);
    if (nd > 1) {
      eco_sb_puts(sb, ".");
      eco_sb_append(sb, digits + 1, nd - 1);
    }
    eco_sb_printf(sb, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    return;
  }
  if (exp < 0) {
    eco_sb_puts(sb, "0.");
    for (int z = 0; z < -exp - 1; z++)
      eco_sb_puts(sb, "0");
    eco_sb_append(sb, digits, nd);
    return;
  }
  size_t ip = (size_t)exp + 1;
  for (size_t k = 0; k < ip; k++)
    eco_sb_append(sb, k < nd ? &digits[k] : "0", 1);
  eco_sb_puts(sb, ".");
  if (nd > ip)
    eco_sb_append(sb, digits + ip, nd - ip);
  else
    eco_sb_puts(sb, "0");
}

static void repr_str(const jj_str *s, eco_strbuf *sb) {
  bool has_sq = memchr(s->p, '\'', s->len) != NULL, has_dq = memchr(s->p, '"', s->len) != NULL;
  char q = has_sq && !has_dq ? '"' : '\'';
  eco_sb_append(sb, &q, 1);
  for (size_t i = 0; i < s->len;) {
    uint32_t cp;
    size_t k = jj_utf8_next(s->p + i, s->len - i, &cp);
    char c = s->p[i];
    if (c == q || c == '\\') {
      eco_sb_printf(sb, "\\%c", c);
    } else if (c == '\n') {
      eco_sb_puts(sb, "\\n");
    } else if (c == '\r') {
      eco_sb_puts(sb, "\\r");
    } else if (c == '\t') {
      eco_sb_puts(sb, "\\t");
    } else if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA1) || cp == 0xAD) {
      eco_sb_printf(sb, "\\x%02x", (unsigned)cp);
    } else {
      eco_sb_append(sb, s->p + i, k);
    }
    i += k;
  }
  eco_sb_append(sb, &q, 1);
}

static int print_v(jj_rt *rt, jv v, eco_strbuf *sb, bool repr, unsigned depth) {
  if (depth > 64) return jj_fail(rt, ECO_EOVERFLOW, "value nested too deeply to print");
  switch ((jv_type)v.t) {
  case JV_UNDEF: return ECO_OK;
  case JV_NONE: eco_sb_puts(sb, "None"); break;
  case JV_BOOL: eco_sb_puts(sb, v.u.b ? "True" : "False"); break;
  case JV_INT: eco_sb_printf(sb, "%lld", (long long)v.u.i); break;
  case JV_FLOAT: jj_py_float(v.u.f, sb); break;
  case JV_STR:
    if (repr)
      repr_str(v.u.s, sb);
    else
      eco_sb_append(sb, v.u.s->p, v.u.s->len);
    break;
  case JV_LIST: {
    bool tup = v.flags & JV_TUPLE;
    if (v.flags & JV_GEN) {
      eco_sb_puts(sb, "<generator object>");
      break;
    }
    eco_sb_puts(sb, tup ? "(" : "[");
    for (size_t i = 0; i < v.u.l->n; i++) {
      if (i) eco_sb_puts(sb, ", ");
      int rc = print_v(rt, v.u.l->v[i], sb, true, depth + 1);
      if (rc) return rc;
    }
    eco_sb_puts(sb, tup ? (v.u.l->n == 1 ? ",)" : ")") : "]");
    break;
  }
  case JV_DICT:
  case JV_NS: {
    eco_sb_puts(sb, v.t == JV_NS ? "<Namespace {" : "{");
    for (size_t i = 0; i < v.u.d->n; i++) {
      if (i) eco_sb_puts(sb, ", ");
      int rc = print_v(rt, v.u.d->k[i], sb, true, depth + 1);
      eco_sb_puts(sb, ": ");
      if (!rc) rc = print_v(rt, v.u.d->v[i], sb, true, depth + 1);
      if (rc) return rc;
    }
    eco_sb_puts(sb, v.t == JV_NS ? "}>" : "}");
    break;
  }
  case JV_MACRO: eco_sb_printf(sb, "<Macro '%s'>", v.u.node->name->p); break;
  default: eco_sb_printf(sb, "<%s>", jv_type_name(v)); break;
  }
  return sb->oom ? jj_fail(rt, ECO_ENOMEM, "out of memory") : ECO_OK;
}

int jv_str(jj_rt *rt, jv v, eco_strbuf *sb) { return print_v(rt, v, sb, false, 0); }
int jv_repr(jj_rt *rt, jv v, eco_strbuf *sb) { return print_v(rt, v, sb, true, 0); }

jv jv_to_str(jj_rt *rt, jv v) {
  if (v.t == JV_STR) return v;
  eco_strbuf sb;
  eco_sb_init(&sb);
  jv r = jv_undef(NULL);
  if (jv_str(rt, v, &sb) == ECO_OK) r = jj_mkstr(rt, eco_sb_str(&sb), sb.len);
  eco_sb_free(&sb);
  return r;
}

static void json_str(const char *p, size_t n, bool ascii, eco_strbuf *sb) {
  eco_sb_puts(sb, "\"");
  size_t run = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    const char *esc = NULL;
    char hex[8];
    switch (c) {
    case '"': esc = "\\\""; break;
    case '\\': esc = "\\\\"; break;
    case '\n': esc = "\\n"; break;
    case '\r': esc = "\\r"; break;
    case '\t': esc = "\\t"; break;
    case '\b': esc = "\\b"; break;
    case '\f': esc = "\\f"; break;
    default:
      if (c < 0x20) {
        snprintf(hex, sizeof hex, "\\u%04x", c);
        esc = hex;
      } else if (ascii && c >= 0x80) {
        uint32_t cp;
        size_t k = jj_utf8_next(p + i, n - i, &cp);
        eco_sb_append(sb, p + run, i - run);
        if (cp >= 0x10000) {
          cp -= 0x10000;
          eco_sb_printf(sb, "\\u%04x\\u%04x", 0xD800 + (unsigned)(cp >> 10),
                        0xDC00 + (unsigned)(cp & 0x3FF));
        } else {
          eco_sb_printf(sb, "\\u%04x", (unsigned)cp);
        }
        i += k - 1;
        run = i + 1;
        continue;
      }
    }
    if (esc) {
      eco_sb_append(sb, p + run, i - run);
      eco_sb_puts(sb, esc);
      run = i + 1;
    }
  }
  eco_sb_append(sb, p + run, n - run);
  eco_sb_puts(sb, "\"");
}

static void json_nl(eco_strbuf *sb, int indent, unsigned level) {
  eco_sb_puts(sb, "\n");
  for (unsigned k = 0; k < (unsigned)indent * level; k++)
    eco_sb_puts(sb, " ");
}

static int json_v(jj_rt *rt, jv v, int indent, bool sort, bool ascii, unsigned level,
                  eco_strbuf *sb) {
  if (level > 64) return jj_fail(rt, ECO_EOVERFLOW, "value nested too deeply for tojson");
  switch ((jv_type)v.t) {
  case JV_NONE: eco_sb_puts(sb, "null"); break;
  case JV_BOOL: eco_sb_puts(sb, v.u.b ? "true" : "false"); break;
  case JV_INT: eco_sb_printf(sb, "%lld", (long long)v.u.i); break;
  case JV_FLOAT:
    if (isnan(v.u.f))
      eco_sb_puts(sb, "NaN");
    else if (isinf(v.u.f))
      eco_sb_puts(sb, v.u.f < 0 ? "-Infinity" : "Infinity");
    else
      jj_py_float(v.u.f, sb);
    break;
  case JV_STR: json_str(v.u.s->p, v.u.s->len, ascii, sb); break;
  case JV_LIST: {
    if (v.flags & JV_GEN)
      return jj_fail(rt, ECO_EINVAL, "Object of type generator is not JSON serializable");
    if (!v.u.l->n) {
      eco_sb_puts(sb, "[]");
      break;
    }
    eco_sb_puts(sb, "[");
    for (size_t i = 0; i < v.u.l->n; i++) {
      if (i) eco_sb_puts(sb, indent >= 0 ? "," : ", ");
      if (indent >= 0) json_nl(sb, indent, level + 1);
      int rc = json_v(rt, v.u.l->v[i], indent, sort, ascii, level + 1, sb);
      if (rc) return rc;
    }
    if (indent >= 0) json_nl(sb, indent, level);
    eco_sb_puts(sb, "]");
    break;
  }
  case JV_DICT: {
    const jj_dict *d = v.u.d;
    if (!d->n) {
      eco_sb_puts(sb, "{}");
      break;
    }
    size_t *order = malloc(d->n * sizeof *order);
    if (!order) return jj_fail(rt, ECO_ENOMEM, "out of memory");
    for (size_t i = 0; i < d->n; i++)
      order[i] = i;
    if (sort) {
      for (size_t i = 1; i < d->n; i++) { /* insertion sort: stable, small */
        size_t x = order[i], j = i;
        int c = 0;
        while (j > 0 && jv_compare(rt, d->k[order[j - 1]], d->k[x], &c) == ECO_OK && c > 0) {
          order[j] = order[j - 1];
          j--;
        }
        order[j] = x;
      }
    }
    eco_sb_puts(sb, "{");
    int rc = rt->rc;
    for (size_t i = 0; i < d->n && !rc; i++) {
      jv k = d->k[order[i]];
      if (i) eco_sb_puts(sb, indent >= 0 ? "," : ", ");
      if (indent >= 0) json_nl(sb, indent, level + 1);
      if (k.t == JV_STR) {
        json_str(k.u.s->p, k.u.s->len, ascii, sb);
      } else if (k.t == JV_INT || k.t == JV_FLOAT || k.t == JV_BOOL || k.t == JV_NONE) {
        eco_strbuf t;
        eco_sb_init(&t);
        json_v(rt, k, -1, false, ascii, level + 1, &t);
        json_str(eco_sb_str(&t), t.len, ascii, sb);
        eco_sb_free(&t);
      } else {
        rc = jj_fail(rt, ECO_EINVAL, "keys must be str, int, float, bool or None, not %s",
                     jv_type_name(k));
        break;
      }
      eco_sb_puts(sb, ": ");
      rc = json_v(rt, d->v[order[i]], indent, sort, ascii, level + 1, sb);
    }
    free(order);
    if (rc) return rc;
    if (indent >= 0) json_nl(sb, indent, level);
    eco_sb_puts(sb, "}");
    break;
  }
  default:
    return jj_fail(rt, ECO_EINVAL, "Object of type %s is not JSON serializable", jv_type_name(v));
  }
  return sb->oom ? jj_fail(rt, ECO_ENOMEM, "out of memory") : ECO_OK;
}

int jv_json(jj_rt *rt, jv v, int indent, bool sort_keys, bool ascii, eco_strbuf *sb) {
  return json_v(rt, v, indent, sort_keys, ascii, 0, sb);
}

int jv_from_json(jj_rt *rt, const json_t *j, jv *out, unsigned depth) {
  if (depth > 64) return jj_fail(rt, ECO_EOVERFLOW, "input nested too deeply");
  switch (json_typeof(j)) {
  case JSON_NULL: *out = jv_none(); return ECO_OK;
  case JSON_TRUE: *out = jv_bool(true); return ECO_OK;
  case JSON_FALSE: *out = jv_bool(false); return ECO_OK;
  case JSON_INTEGER: *out = jv_int((int64_t)json_integer_value(j)); return ECO_OK;
  case JSON_REAL: *out = jv_float(json_real_value(j)); return ECO_OK;
  case JSON_STRING: *out = jj_mkstr(rt, json_string_value(j), json_string_length(j)); return rt->rc;
  case JSON_ARRAY: {
    jj_list *l = jj_list_new(rt, json_array_size(j));
    if (!l) return rt->rc;
    for (size_t i = 0; i < json_array_size(j); i++) {
      int rc = jv_from_json(rt, json_array_get(j, i), &l->v[l->n], depth + 1);
      if (rc) return rc;
      l->n++;
    }
    *out = (jv){.t = JV_LIST, .u.l = l};
    return ECO_OK;
  }
  case JSON_OBJECT: {
    jj_dict *d = jj_dict_new(rt, json_object_size(j));
    if (!d) return rt->rc;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)j, key, val) {
      jv k = jj_mkstr(rt, key, strlen(key)), v;
      if (rt->rc) return rt->rc;
      int rc = jv_from_json(rt, val, &v, depth + 1);
      if (rc) return rc;
      if (jj_dict_set(&rt->arena, d, k, v) != ECO_OK)
        return jj_fail(rt, ECO_EOVERFLOW, "template used too much memory");
    }
    *out = (jv){.t = JV_DICT, .u.d = d};
    return ECO_OK;
  }
  }
  return jj_fail(rt, ECO_EINVAL, "unsupported JSON value");
}

int jv_len(jj_rt *rt, jv v, int64_t *n) {
  switch ((jv_type)v.t) {
  case JV_UNDEF: *n = 0; return ECO_OK;
  case JV_STR: *n = (int64_t)jj_utf8_count(v.u.s->p, v.u.s->len); return ECO_OK;
  case JV_LIST:
    if (v.flags & JV_GEN) break;
    *n = (int64_t)v.u.l->n;
    return ECO_OK;
  case JV_DICT: *n = (int64_t)v.u.d->n; return ECO_OK;
  default: break;
  }
  {
    *n = 0;
    return jj_fail(rt, ECO_EINVAL, "object of type '%s' has no len()",
                   (v.t == JV_LIST && (v.flags & JV_GEN)) ? "generator" : jv_type_name(v));
  }
}

int jv_iter(jj_rt *rt, jv v, jj_list **out) {
  switch ((jv_type)v.t) {
  case JV_UNDEF: *out = jj_list_new(rt, 0); break;
  case JV_LIST: *out = v.u.l; return ECO_OK;
  case JV_DICT: {
    jj_list *l = jj_list_new(rt, v.u.d->n);
    if (l)
      for (size_t i = 0; i < v.u.d->n; i++)
        l->v[l->n++] = v.u.d->k[i];
    *out = l;
    break;
  }
  case JV_STR: {
    const jj_str *s = v.u.s;
    jj_list *l = jj_list_new(rt, jj_utf8_count(s->p, s->len));
    for (size_t i = 0; l && i < s->len;) {
      uint32_t cp;
      size_t k = jj_utf8_next(s->p + i, s->len - i, &cp);
      l->v[l->n++] = jj_mkstr(rt, s->p + i, k);
      i += k;
    }
    *out = l;
    break;
  }
  default:
    *out = NULL;
    return jj_fail(rt, ECO_EINVAL, "'%s' object is not iterable", jv_type_name(v));
  }
  return *out ? rt->rc : rt->rc ? rt->rc : ECO_ENOMEM;
}
