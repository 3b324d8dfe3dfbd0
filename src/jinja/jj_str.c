/* ecoinfer: Python str methods for Jinja templates (strip, split, replace,
 * startswith, format, case changes, ...), over UTF-8 by code point. Case
 * mapping covers ASCII, Latin-1, Latin Extended-A pairs, Greek and
 * Cyrillic. */
#include "jinja/jj_internal.h"

#include <stdlib.h>
#include <string.h>

static size_t put_cp(uint32_t cp, char *o) {
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xC0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (char)(0xF0 | (cp >> 18));
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

static uint32_t cp_upper(uint32_t c) {
  if (c >= 'a' && c <= 'z') return c - 32;
  if (c < 0x80) return c;
  if ((c >= 0xE0 && c <= 0xFE && c != 0xF7)) return c - 32;
  if (c == 0xFF) return 0x178;
  if (c >= 0x100 && c <= 0x17F && c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 &&
      c != 0x17F) {
    bool odd_lower = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
    if (odd_lower ? (c & 1) == 0 : (c & 1) == 1) return c - 1;
    return c;
  }
  if (c >= 0x3B1 && c <= 0x3C9 && c != 0x3C2) return c - 32;
  if (c >= 0x430 && c <= 0x44F) return c - 32;
  if (c >= 0x450 && c <= 0x45F) return c - 80;
  return c;
}

static uint32_t cp_lower(uint32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c < 0x80) return c;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
  if (c == 0x178) return 0xFF;
  if (c >= 0x100 && c <= 0x17F && c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 &&
      c != 0x17F) {
    bool odd_lower = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
    if (odd_lower ? (c & 1) == 1 : (c & 1) == 0) return c + 1;
    return c;
  }
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 32;
  if (c >= 0x410 && c <= 0x42F) return c + 32;
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  return c;
}

static bool cp_cased(uint32_t c) { return cp_upper(c) != c || cp_lower(c) != c; }
static bool cp_alpha(uint32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  return cp_cased(c) || (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3040 && c <= 0x30FF) ||
         (c >= 0xAC00 && c <= 0xD7A3);
}

/* mode: 0 upper, 1 lower, 2 title, 3 capitalize, 4 swapcase */
jv jj_py_case(jj_rt *rt, const jj_str *s, int mode) {
  char *o = malloc(s->len * 3 + 4); /* an invalid byte becomes U+FFFD (3 bytes) */
  if (!o) {
    jj_fail(rt, ECO_ENOMEM, "out of memory");
    return jv_undef(NULL);
  }
  size_t k = 0;
  bool prev_cased = false, first = true;
  for (size_t i = 0; i < s->len;) {
    uint32_t cp;
    i += jj_utf8_next(s->p + i, s->len - i, &cp);
    bool up = mode == 0 || mode == 4 || (mode == 2 && !prev_cased) || (mode == 3 && first);
    if (mode == 2) prev_cased = cp_cased(cp) || cp == 0xDF;
    first = false;
    if (cp == 0xDF && up) { /* sharp s: "SS" in upper case, "Ss" in title case */
      o[k++] = 'S';
      o[k++] = mode >= 2 && mode <= 3 ? 's' : 'S';
      continue;
    }
    uint32_t r = up ? cp_upper(cp) : cp_lower(cp);
    if (mode == 4 && cp_upper(cp) == cp) r = cp_lower(cp);
    k += put_cp(r, o + k);
  }
  jv v = jj_mkstr(rt, o, k);
  free(o);
  return v;
}

static bool in_chars(uint32_t cp, const jj_str *chars) {
  for (size_t i = 0; i < chars->len;) {
    uint32_t c;
    i += jj_utf8_next(chars->p + i, chars->len - i, &c);
    if (c == cp) return true;
  }
  return false;
}

/* mode bit 1 = left, bit 2 = right. chars NULL = whitespace. */
jv jj_py_strip(jj_rt *rt, const jj_str *s, const jj_str *chars, int mode) {
  size_t a = 0, b = s->len;
  while ((mode & 1) && a < b) {
    uint32_t cp;
    size_t k = jj_utf8_next(s->p + a, b - a, &cp);
    if (chars ? !in_chars(cp, chars) : !jj_py_isspace(cp)) break;
    a += k;
  }
  while ((mode & 2) && b > a) {
    size_t st = b - 1;
    while (st > a && ((unsigned char)s->p[st] & 0xC0) == 0x80)
      st--;
    uint32_t cp;
    jj_utf8_next(s->p + st, b - st, &cp);
    if (chars ? !in_chars(cp, chars) : !jj_py_isspace(cp)) break;
    b = st;
  }
  if (a == 0 && b == s->len) return jv_strv(s);
  return jj_mkstr(rt, s->p + a, b - a);
}

jv jj_py_replace(jj_rt *rt, const jj_str *s, const jj_str *old, const jj_str *rep, int64_t count) {
  eco_strbuf sb;
  eco_sb_init(&sb);
  size_t i = 0;
  int64_t done = 0;
  if (!old->len) {
    while (count < 0 || done < count) {
      eco_sb_append(&sb, rep->p, rep->len);
      done++;
      if (i >= s->len) break;
      uint32_t cp;
      size_t k = jj_utf8_next(s->p + i, s->len - i, &cp);
      eco_sb_append(&sb, s->p + i, k);
      i += k;
    }
  } else {
    while (count < 0 || done < count) {
      const char *hit = memmem(s->p + i, s->len - i, old->p, old->len);
      if (!hit) break;
      size_t h = (size_t)(hit - s->p);
      eco_sb_append(&sb, s->p + i, h - i);
      eco_sb_append(&sb, rep->p, rep->len);
      i = h + old->len;
      done++;
      if (sb.len > rt->lim.max_memory) break;
    }
  }
  eco_sb_append(&sb, s->p + i, s->len - i);
  jv v = sb.oom ? (jj_fail(rt, ECO_ENOMEM, "out of memory"), jv_undef(NULL))
                : jj_mkstr(rt, eco_sb_str(&sb), sb.len);
  eco_sb_free(&sb);
  return v;
}

static jv wrap_list(jj_list *l) { return l ? (jv){.t = JV_LIST, .u.l = l} : jv_undef(NULL); }

jv jj_py_split(jj_rt *rt, const jj_str *s, const jj_str *sep, int64_t maxsplit) {
  jj_list *l = jj_list_new(rt, 0);
  if (!l) return jv_undef(NULL);
  if (sep && !sep->len) {
    jj_fail(rt, ECO_EINVAL, "empty separator");
    return jv_undef(NULL);
  }
  size_t i = 0;
  int64_t splits = 0;
  if (sep) {
    for (;;) {
      const char *hit = (maxsplit < 0 || splits < maxsplit)
                            ? memmem(s->p + i, s->len - i, sep->p, sep->len)
                            : NULL;
      size_t end = hit ? (size_t)(hit - s->p) : s->len;
      if (jj_list_push(rt, l, jj_mkstr(rt, s->p + i, end - i))) return jv_undef(NULL);
      if (!hit) break;
      i = end + sep->len;
      splits++;
    }
    return wrap_list(l);
  }
  for (;;) {
    while (i < s->len) { /* skip whitespace */
      uint32_t cp;
      size_t k = jj_utf8_next(s->p + i, s->len - i, &cp);
      if (!jj_py_isspace(cp)) break;
      i += k;
    }
    if (i >= s->len) break;
    if (maxsplit >= 0 && splits >= maxsplit) { /* the rest, trailing whitespace kept */
      if (jj_list_push(rt, l, jj_mkstr(rt, s->p + i, s->len - i))) return jv_undef(NULL);
      break;
    }
    size_t a = i;
    while (i < s->len) {
      uint32_t cp;
      size_t k = jj_utf8_next(s->p + i, s->len - i, &cp);
      if (jj_py_isspace(cp)) break;
      i += k;
    }
    if (jj_list_push(rt, l, jj_mkstr(rt, s->p + a, i - a))) return jv_undef(NULL);
    splits++;
  }
  return wrap_list(l);
}

static bool is_line_break(uint32_t c) {
  return c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D || c == 0x1E ||
         c == 0x85 || c == 0x2028 || c == 0x2029;
}

jv jj_py_splitlines(jj_rt *rt, const jj_str *s, bool keepends) {
  jj_list *l = jj_list_new(rt, 0);
  size_t a = 0, i = 0;
  while (l && i < s->len) {
    uint32_t cp;
    size_t k = jj_utf8_next(s->p + i, s->len - i, &cp);
    if (!is_line_break(cp)) {
      i += k;
      continue;
    }
    size_t end = i;
    i += k;
    if (cp == '\r' && i < s->len && s->p[i] == '\n') i++;
    if (jj_list_push(rt, l, jj_mkstr(rt, s->p + a, (keepends ? i : end) - a)))
      return jv_undef(NULL);
    a = i;
  }
  if (l && a < s->len && jj_list_push(rt, l, jj_mkstr(rt, s->p + a, s->len - a)))
    return jv_undef(NULL);
  return wrap_list(l);
}

static bool affix(const jj_str *s, const jj_str *x, bool suffix) {
  if (x->len > s->len) return false;
  return !memcmp(suffix ? s->p + s->len - x->len : s->p, x->p, x->len);
}

/* startswith/endswith with a string or a tuple of strings. */
static jv starts_ends(jj_rt *rt, const jj_str *s, jv arg, bool suffix) {
  if (arg.t == JV_STR) return jv_bool(affix(s, arg.u.s, suffix));
  if (arg.t == JV_LIST && (arg.flags & JV_TUPLE)) {
    for (size_t i = 0; i < arg.u.l->n; i++) {
      jv x = arg.u.l->v[i];
      if (x.t != JV_STR) break;
      if (affix(s, x.u.s, suffix)) return jv_bool(true);
      if (i + 1 == arg.u.l->n) return jv_bool(false);
    }
  }
  jj_fail(rt, ECO_EINVAL, "%s first arg must be str or a tuple of str, not %s",
          suffix ? "endswith" : "startswith", jv_type_name(arg));
  return jv_undef(NULL);
}

/* str.format with {} {0} {name} fields and {{ }} escapes (no format specs). */
static jv py_format(jj_rt *rt, const jj_str *s, jv *args, size_t npos, const jj_str **kw,
                    size_t nkw) {
  eco_strbuf sb;
  eco_sb_init(&sb);
  size_t auto_idx = 0;
  jv r = jv_undef(NULL);
  for (size_t i = 0; i < s->len; i++) {
    char c = s->p[i];
    if ((c == '{' || c == '}') && i + 1 < s->len && s->p[i + 1] == c) {
      eco_sb_append(&sb, &c, 1);
      i++;
      continue;
    }
    if (c == '}') {
      jj_fail(rt, ECO_EINVAL, "single '}' encountered in format string");
      goto done;
    }
    if (c != '{') {
      eco_sb_append(&sb, &c, 1);
      continue;
    }
    const char *close = memchr(s->p + i, '}', s->len - i);
    if (!close) {
      jj_fail(rt, ECO_EINVAL, "single '{' encountered in format string");
      goto done;
    }
    size_t a = i + 1, b = (size_t)(close - s->p);
    const jv *val = NULL;
    if (memchr(s->p + a, ':', b - a) || memchr(s->p + a, '!', b - a)) {
      jj_fail(rt, ECO_EUNSUPPORTED, "format specs in str.format are not supported");
      goto done;
    }
    if (a == b) {
      if (auto_idx < npos) val = &args[auto_idx++];
    } else if (s->p[a] >= '0' && s->p[a] <= '9') {
      size_t idx = (size_t)strtoul(s->p + a, NULL, 10);
      if (idx < npos) val = &args[idx];
    } else {
      for (size_t k = 0; k < nkw && !val; k++)
        if (kw[k]->len == b - a && !memcmp(kw[k]->p, s->p + a, b - a)) val = &args[npos + k];
    }
    if (!val) {
      jj_fail(rt, ECO_EINVAL, "format field '%.*s' has no value", (int)(b - a), s->p + a);
      goto done;
    }
    if (jv_str(rt, *val, &sb)) goto done;
    i = b;
  }
  r = jj_mkstr(rt, eco_sb_str(&sb), sb.len);
done:
  eco_sb_free(&sb);
  return r;
}

static const char *const k_str_methods[] = {
    "strip",     "lstrip",    "rstrip",  "split",      "rsplit",       "startswith",   "endswith",
    "upper",     "lower",     "title",   "capitalize", "swapcase",     "replace",      "find",
    "rfind",     "count",     "join",    "format",     "isdigit",      "isalpha",      "isalnum",
    "isspace",   "islower",   "isupper", "splitlines", "removeprefix", "removesuffix", "index",
    "isnumeric", "isdecimal", NULL};

bool jj_str_is_method(const char *name) {
  for (size_t i = 0; k_str_methods[i]; i++)
    if (!strcmp(name, k_str_methods[i])) return true;
  return false;
}

static const jj_str *opt_str(jj_rt *rt, jv *a, const char *what) {
  if (!a || a->t == JV_NONE) return NULL;
  if (a->t != JV_STR) {
    jj_fail(rt, ECO_EINVAL, "%s arg must be None or str", what);
    return NULL;
  }
  return a->u.s;
}

static jv str_pred(const jj_str *s, const char *name) {
  if (!s->len) return jv_bool(false);
  bool any_cased = false;
  for (size_t i = 0; i < s->len;) {
    uint32_t cp;
    i += jj_utf8_next(s->p + i, s->len - i, &cp);
    bool digit = cp >= '0' && cp <= '9';
    bool ok = true;
    if (!strcmp(name, "isdigit") || !strcmp(name, "isnumeric") || !strcmp(name, "isdecimal"))
      ok = digit;
    else if (!strcmp(name, "isalpha"))
      ok = cp_alpha(cp);
    else if (!strcmp(name, "isalnum"))
      ok = digit || cp_alpha(cp);
    else if (!strcmp(name, "isspace"))
      ok = jj_py_isspace(cp);
    else if (!strcmp(name, "islower"))
      ok = !cp_cased(cp) || cp_lower(cp) == cp;
    else if (!strcmp(name, "isupper"))
      ok = !cp_cased(cp) || cp_upper(cp) == cp;
    if (cp_cased(cp)) any_cased = true;
    if (!ok) return jv_bool(false);
  }
  if (!strcmp(name, "islower") || !strcmp(name, "isupper")) return jv_bool(any_cased);
  return jv_bool(true);
}

static int64_t find_cp(const jj_str *s, const jj_str *x, bool reverse) {
  const char *hit = NULL;
  if (!reverse) {
    hit = memmem(s->p, s->len, x->p, x->len);
  } else {
    for (size_t i = s->len + 1; i-- > 0;)
      if (i + x->len <= s->len && !memcmp(s->p + i, x->p, x->len)) {
        hit = s->p + i;
        break;
      }
  }
  return hit ? (int64_t)jj_utf8_count(s->p, (size_t)(hit - s->p)) : -1;
}

jv jj_str_method(jj_rt *rt, const char *name, const jj_str *s, jv *args, size_t npos,
                 const jj_str **kw, size_t nkw) {
  jv *a0 = jj_arg(args, npos, kw, nkw, 0, NULL), *a1 = jj_arg(args, npos, kw, nkw, 1, NULL);
  if (!strcmp(name, "strip") || !strcmp(name, "lstrip") || !strcmp(name, "rstrip")) {
    const jj_str *chars = opt_str(rt, jj_arg(args, npos, kw, nkw, 0, "chars"), "strip");
    if (rt->rc) return jv_undef(NULL);
    return jj_py_strip(rt, s, chars, name[0] == 'l' ? 1 : name[0] == 'r' ? 2 : 3);
  }
  if (!strcmp(name, "split") || !strcmp(name, "rsplit")) {
    const jj_str *sep = opt_str(rt, jj_arg(args, npos, kw, nkw, 0, "sep"), "split");
    jv *m = jj_arg(args, npos, kw, nkw, 1, "maxsplit");
    if (rt->rc) return jv_undef(NULL);
    if (name[0] == 'r' && m && m->t == JV_INT && m->u.i >= 0) {
      jj_fail(rt, ECO_EUNSUPPORTED, "rsplit with maxsplit is not supported");
      return jv_undef(NULL);
    }
    return jj_py_split(rt, s, sep, m && m->t == JV_INT ? m->u.i : -1);
  }
  if (!strcmp(name, "startswith") || !strcmp(name, "endswith")) {
    if (!a0) {
      jj_fail(rt, ECO_EINVAL, "%s takes at least 1 argument", name);
      return jv_undef(NULL);
    }
    return starts_ends(rt, s, *a0, name[0] == 'e');
  }
  if (!strcmp(name, "upper")) return jj_py_case(rt, s, 0);
  if (!strcmp(name, "lower")) return jj_py_case(rt, s, 1);
  if (!strcmp(name, "title")) return jj_py_case(rt, s, 2);
  if (!strcmp(name, "capitalize")) return jj_py_case(rt, s, 3);
  if (!strcmp(name, "swapcase")) return jj_py_case(rt, s, 4);
  if (!strcmp(name, "format")) return py_format(rt, s, args, npos, kw, nkw);
  if (!strcmp(name, "splitlines")) return jj_py_splitlines(rt, s, a0 && jv_truthy(*a0));
  if (!strncmp(name, "is", 2)) return str_pred(s, name);
  if (!strcmp(name, "join")) {
    jj_list *l;
    if (!a0 || jv_iter(rt, *a0, &l)) {
      if (!rt->rc) jj_fail(rt, ECO_EINVAL, "join takes exactly one argument");
      return jv_undef(NULL);
    }
    eco_strbuf sb;
    eco_sb_init(&sb);
    for (size_t i = 0; i < l->n && !rt->rc; i++) {
      if (l->v[i].t != JV_STR) {
        jj_fail(rt, ECO_EINVAL, "sequence item %zu: expected str instance, %s found", i,
                jv_type_name(l->v[i]));
        break;
      }
      if (i) eco_sb_append(&sb, s->p, s->len);
      eco_sb_append(&sb, l->v[i].u.s->p, l->v[i].u.s->len);
    }
    jv r = rt->rc ? jv_undef(NULL) : jj_mkstr(rt, eco_sb_str(&sb), sb.len);
    eco_sb_free(&sb);
    return r;
  }
  /* the rest take one or two string arguments */
  if (!a0 || a0->t != JV_STR) {
    jj_fail(rt, ECO_EINVAL, "%s: expected a string argument", name);
    return jv_undef(NULL);
  }
  const jj_str *x = a0->u.s;
  if (!strcmp(name, "replace")) {
    if (!a1 || a1->t != JV_STR) {
      jj_fail(rt, ECO_EINVAL, "replace expects two strings");
      return jv_undef(NULL);
    }
    jv *c = jj_arg(args, npos, kw, nkw, 2, "count");
    return jj_py_replace(rt, s, x, a1->u.s, c && c->t == JV_INT ? c->u.i : -1);
  }
  if (!strcmp(name, "find") || !strcmp(name, "index") || !strcmp(name, "rfind")) {
    int64_t r = find_cp(s, x, name[0] == 'r');
    if (r < 0 && name[0] == 'i') {
      jj_fail(rt, ECO_EINVAL, "substring not found");
      return jv_undef(NULL);
    }
    return jv_int(r);
  }
  if (!strcmp(name, "count")) {
    if (!x->len) return jv_int((int64_t)jj_utf8_count(s->p, s->len) + 1);
    int64_t c = 0;
    for (size_t i = 0; i + x->len <= s->len;) {
      const char *hit = memmem(s->p + i, s->len - i, x->p, x->len);
      if (!hit) break;
      c++;
      i = (size_t)(hit - s->p) + x->len;
    }
    return jv_int(c);
  }
  if (!strcmp(name, "removeprefix"))
    return affix(s, x, false) ? jj_mkstr(rt, s->p + x->len, s->len - x->len) : jv_strv(s);
  if (!strcmp(name, "removesuffix"))
    return affix(s, x, true) ? jj_mkstr(rt, s->p, s->len - x->len) : jv_strv(s);
  jj_fail(rt, ECO_EUNSUPPORTED, "str.%s is not supported", name);
  return jv_undef(NULL);
}
