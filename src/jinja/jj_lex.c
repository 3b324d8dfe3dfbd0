/* ecoinfer: the Jinja lexer. Splits a template into text and tag tokens, with
 * Jinja2's whitespace control as transformers configures it (trim_blocks and
 * lstrip_blocks on): `{%-`/`-%}` strip all whitespace on that side, `+`
 * keeps it, a block or comment tag eats one newline after it, and the
 * indentation before a block or comment tag that starts its line is
 * dropped. */
#include "jinja/jj_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct lexer {
  const char *s;
  size_t n, pos;
  uint32_t line, col; /* of s[pos] */
  jj_arena *arena;
  jj_toks *out;
  eco_error *err;
  char stack[64]; /* open brackets inside a tag */
  size_t depth;
} lexer;

static int lex_fail(lexer *lx, uint32_t line, uint32_t col, int code, const char *msg,
                    const char *arg) {
  return eco_error_set(lx->err, code, "line %u, column %u: %s%s%s", line, col, msg, arg ? " " : "",
                       arg ? arg : "");
}

/* Moves pos to to, keeping line/col. */
static void advance(lexer *lx, size_t to) {
  for (size_t i = lx->pos; i < to; i++) {
    if (lx->s[i] == '\n') {
      lx->line++;
      lx->col = 1;
    } else if (((unsigned char)lx->s[i] & 0xC0) != 0x80) {
      lx->col++;
    }
  }
  lx->pos = to;
}

static jj_tok *push(lexer *lx, uint8_t type, uint32_t line, uint32_t col) {
  jj_toks *t = lx->out;
  if (t->n == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 256;
    jj_tok *v = realloc(t->v, cap * sizeof *v);
    if (!v) return NULL;
    t->v = v;
    t->cap = cap;
  }
  jj_tok *k = &t->v[t->n++];
  memset(k, 0, sizeof *k);
  k->type = type;
  k->line = line;
  k->col = col;
  return k;
}

/* Length of the Python-whitespace character at s[i] (0 if none). */
static size_t space_at(const char *s, size_t n, size_t i) {
  uint32_t cp;
  size_t k = jj_utf8_next(s + i, n - i, &cp);
  return jj_py_isspace(cp) ? k : 0;
}

/* End of the text segment [a, b) with trailing whitespace removed. */
static size_t rstrip_end(const char *s, size_t a, size_t b) {
  size_t end = b;
  while (end > a) {
    size_t st = end - 1;
    while (st > a && ((unsigned char)s[st] & 0xC0) == 0x80)
      st--;
    if (!space_at(s, end, st)) break;
    end = st;
  }
  return end;
}

static bool all_space(const char *s, size_t a, size_t b) {
  if (a >= b) return false;
  for (size_t i = a; i < b;) {
    size_t k = space_at(s, b, i);
    if (!k) return false;
    i += k;
  }
  return true;
}

static size_t skip_space(const char *s, size_t n, size_t i) {
  size_t k;
  while (i < n && (k = space_at(s, n, i)) != 0)
    i += k;
  return i;
}

static int emit_text(lexer *lx, size_t a, size_t b, uint32_t line, uint32_t col) {
  if (b <= a) return ECO_OK;
  jj_tok *k = push(lx, T_TEXT, line, col);
  if (!k || !(k->s = jj_str_new(lx->arena, lx->s + a, b - a))) return ECO_ENOMEM;
  return ECO_OK;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static size_t put_utf8(uint32_t cp, char *o) {
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

/* Python's unicode-escape decoding of a string literal's body. Returns the
 * decoded length, or (size_t)-1 for a bad \x/\u/\U escape. */
static size_t unescape(const char *s, size_t n, char *o) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] != '\\' || i + 1 >= n) {
      o[k++] = s[i];
      continue;
    }
    char c = s[++i];
    int digits = 0;
    switch (c) {
    case '\n': break;
    case '\\': o[k++] = '\\'; break;
    case '\'': o[k++] = '\''; break;
    case '"': o[k++] = '"'; break;
    case 'a': o[k++] = '\a'; break;
    case 'b': o[k++] = '\b'; break;
    case 'f': o[k++] = '\f'; break;
    case 'n': o[k++] = '\n'; break;
    case 'r': o[k++] = '\r'; break;
    case 't': o[k++] = '\t'; break;
    case 'v': o[k++] = '\v'; break;
    case 'x': digits = 2; break;
    case 'u': digits = 4; break;
    case 'U': digits = 8; break;
    default:
      if (c >= '0' && c <= '7') {
        uint32_t v = 0;
        int m = 0;
        while (m < 3 && i < n && s[i] >= '0' && s[i] <= '7')
          v = v * 8 + (uint32_t)(s[i++] - '0'), m++;
        i--;
        k += put_utf8(v, o + k);
      } else {
        o[k++] = '\\';
        o[k++] = c;
      }
    }
    if (digits) {
      uint32_t v = 0;
      for (int d = 0; d < digits; d++) {
        int h = i + 1 < n ? hexval(s[i + 1]) : -1;
        if (h < 0) return (size_t)-1;
        v = v * 16 + (uint32_t)h;
        i++;
      }
      if (v > 0x10FFFF) return (size_t)-1;
      k += put_utf8(v, o + k);
    }
  }
  return k;
}

static int lex_string(lexer *lx) {
  const char *s = lx->s;
  char q = s[lx->pos];
  size_t i = lx->pos + 1;
  while (i < lx->n && s[i] != q)
    i += (s[i] == '\\' && i + 1 < lx->n) ? 2 : 1;
  if (i >= lx->n) return lex_fail(lx, lx->line, lx->col, ECO_EFORMAT, "unterminated string", NULL);
  size_t body = lx->pos + 1, blen = i - body;
  /* decoding never grows the text (\U........ is 10 bytes for at most 4) */
  char *tmp = malloc(blen + 1);
  if (!tmp) return ECO_ENOMEM;
  size_t m = unescape(s + body, blen, tmp);
  if (m == (size_t)-1) {
    free(tmp);
    return lex_fail(lx, lx->line, lx->col, ECO_EFORMAT, "bad escape in string literal", NULL);
  }
  jj_tok *k = push(lx, T_STRING, lx->line, lx->col);
  const jj_str *str = k ? jj_str_new(lx->arena, tmp, m) : NULL;
  free(tmp);
  if (!str) return ECO_ENOMEM;
  k->s = str;
  advance(lx, i + 1);
  return ECO_OK;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_name0(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

/* Digits with single underscores between them; returns the end. */
static size_t digits_end(const char *s, size_t n, size_t i) {
  while (i < n && is_digit(s[i])) {
    i++;
    if (i + 1 < n && s[i] == '_' && is_digit(s[i + 1])) i++;
  }
  return i;
}

static int lex_number(lexer *lx) {
  const char *s = lx->s;
  size_t a = lx->pos, i = digits_end(s, lx->n, a);
  bool after_dot = a > 0 && s[a - 1] == '.';
  bool is_float = false;
  if (!after_dot) {
    if (i + 1 < lx->n && s[i] == '.' && is_digit(s[i + 1])) {
      i = digits_end(s, lx->n, i + 1);
      is_float = true;
    }
    if (i < lx->n && (s[i] == 'e' || s[i] == 'E')) {
      size_t j = i + 1;
      if (j < lx->n && (s[j] == '+' || s[j] == '-')) j++;
      if (j < lx->n && is_digit(s[j])) {
        i = digits_end(s, lx->n, j);
        is_float = true;
      }
    }
  }
  char buf[128];
  size_t m = 0;
  for (size_t k = a; k < i && m + 1 < sizeof buf; k++)
    if (s[k] != '_') buf[m++] = s[k];
  buf[m] = '\0';
  jj_tok *k = push(lx, is_float ? T_FLOAT : T_INT, lx->line, lx->col);
  if (!k) return ECO_ENOMEM;
  if (is_float) {
    k->f = strtod(buf, NULL);
  } else {
    int64_t v = 0;
    for (size_t d = 0; d < m; d++) {
      if (v > (INT64_MAX - (buf[d] - '0')) / 10)
        return lex_fail(lx, lx->line, lx->col, ECO_EUNSUPPORTED, "integer literal too large", NULL);
      v = v * 10 + (buf[d] - '0');
    }
    k->i = v;
  }
  advance(lx, i);
  return ECO_OK;
}

static const char *const k_ops2[] = {"//", "**", "==", "!=", "<=", ">="};
static const char k_ops1[] = "+-/*%~[](){}<>=.:|,;";

static int lex_op(lexer *lx) {
  const char *s = lx->s + lx->pos;
  size_t len = 0;
  for (size_t i = 0; i < sizeof k_ops2 / sizeof *k_ops2; i++)
    if (lx->pos + 1 < lx->n && s[0] == k_ops2[i][0] && s[1] == k_ops2[i][1]) len = 2;
  if (!len && strchr(k_ops1, s[0]) && s[0]) len = 1;
  if (!len) {
    char c[8];
    uint32_t cp;
    size_t k = jj_utf8_next(s, lx->n - lx->pos, &cp);
    memcpy(c, s, k);
    c[k] = '\0';
    return lex_fail(lx, lx->line, lx->col, ECO_EFORMAT, "unexpected character", c);
  }
  if (len == 1 && (s[0] == '(' || s[0] == '[' || s[0] == '{')) {
    if (lx->depth == sizeof lx->stack)
      return lex_fail(lx, lx->line, lx->col, ECO_EOVERFLOW, "brackets nested too deeply", NULL);
    lx->stack[lx->depth++] = s[0];
  } else if (len == 1 && (s[0] == ')' || s[0] == ']' || s[0] == '}')) {
    char want = s[0] == ')' ? '(' : s[0] == ']' ? '[' : '{';
    char c[2] = {s[0], 0};
    if (!lx->depth || lx->stack[lx->depth - 1] != want)
      return lex_fail(lx, lx->line, lx->col, ECO_EFORMAT, "unexpected", c);
    lx->depth--;
  }
  jj_tok *k = push(lx, T_OP, lx->line, lx->col);
  if (!k) return ECO_ENOMEM;
  memcpy(k->op, s, len);
  advance(lx, lx->pos + len);
  return ECO_OK;
}

/* Tokens of one {{ }} or {% %} tag; pos is just past the opening marker.
 * Sets *nl when the tag's end consumed a newline. */
static int lex_tag(lexer *lx, bool block, bool *nl) {
  uint32_t l0 = lx->line, c0 = lx->col;
  lx->depth = 0;
  for (;;) {
    advance(lx, skip_space(lx->s, lx->n, lx->pos));
    if (lx->pos >= lx->n)
      return lex_fail(
          lx, l0, c0, ECO_EFORMAT,
          block ? "unclosed block tag (missing %})" : "unclosed expression (missing }})", NULL);
    const char *s = lx->s + lx->pos;
    size_t left = lx->n - lx->pos;
    char e = block ? '%' : '}';
    if (!lx->depth) {
      size_t mlen = 0;
      int sign = 0;
      if (left >= 3 && (s[0] == '-' || (block && s[0] == '+')) && s[1] == e && s[2] == '}') {
        mlen = 3;
        sign = (unsigned char)s[0];
      } else if (left >= 2 && s[0] == e && s[1] == '}') {
        mlen = 2;
      }
      if (mlen) {
        if (!push(lx, block ? T_BLOCK_END : T_VAR_END, lx->line, lx->col)) return ECO_ENOMEM;
        size_t end = lx->pos + mlen;
        if (sign == '-') {
          end = skip_space(lx->s, lx->n, end);
        } else if (!sign && block && end < lx->n && lx->s[end] == '\n') {
          end++;
        }
        *nl = end > 0 && lx->s[end - 1] == '\n';
        advance(lx, end);
        return ECO_OK;
      }
    }
    int rc;
    if (is_digit(s[0])) {
      rc = lex_number(lx);
    } else if (is_name0(s[0])) {
      size_t i = 1;
      while (i < left && (is_name0(s[i]) || is_digit(s[i])))
        i++;
      jj_tok *k = push(lx, T_NAME, lx->line, lx->col);
      if (!k || !(k->s = jj_str_new(lx->arena, s, i))) return ECO_ENOMEM;
      advance(lx, lx->pos + i);
      rc = ECO_OK;
    } else if (s[0] == '\'' || s[0] == '"') {
      rc = lex_string(lx);
    } else {
      rc = lex_op(lx);
    }
    if (rc != ECO_OK) return rc;
  }
}

int jj_lex(const char *src, size_t len, jj_arena *arena, jj_toks *out, eco_error *err) {
  lexer lx = {.s = src, .n = len, .line = 1, .col = 1, .arena = arena, .out = out, .err = err};
  bool line_starting = true;
  int rc;
  while (lx.pos < len) {
    /* the next tag start */
    size_t at = lx.pos;
    const char *hit = NULL;
    while ((hit = memchr(src + at, '{', len - at)) != NULL) {
      size_t h = (size_t)(hit - src);
      if (h + 1 < len && (src[h + 1] == '{' || src[h + 1] == '%' || src[h + 1] == '#')) break;
      at = h + 1;
    }
    uint32_t tl = lx.line, tc = lx.col;
    if (!hit) {
      if ((rc = emit_text(&lx, lx.pos, len, tl, tc)) != ECO_OK) return rc;
      advance(&lx, len);
      break;
    }
    size_t start = (size_t)(hit - src);
    char kind = src[start + 1];
    char sign = start + 2 < len ? src[start + 2] : 0;
    if (sign != '-' && sign != '+') sign = 0;
    size_t tend = start;
    if (sign == '-') {
      tend = rstrip_end(src, lx.pos, start);
    } else if (!sign && kind != '{') {
      size_t lp = start;
      while (lp > lx.pos && src[lp - 1] != '\n')
        lp--;
      if ((lp > lx.pos || line_starting) && all_space(src, lp, start)) tend = lp;
    }
    if ((rc = emit_text(&lx, lx.pos, tend, tl, tc)) != ECO_OK) return rc;
    advance(&lx, start);
    uint32_t bl = lx.line, bc = lx.col;
    advance(&lx, start + 2 + (sign ? 1 : 0));
    if (kind == '#') {
      const char *e = NULL;
      size_t from = lx.pos;
      for (;;) {
        e = from < len ? memchr(src + from, '#', len - from) : NULL;
        if (!e || ((size_t)(e - src) + 1 < len && e[1] == '}')) break;
        from = (size_t)(e - src) + 1;
      }
      if (!e) return lex_fail(&lx, bl, bc, ECO_EFORMAT, "unclosed comment (missing #})", NULL);
      size_t q = (size_t)(e - src), end = q + 2;
      char csign = q > lx.pos ? src[q - 1] : 0;
      if (csign == '-')
        end = skip_space(src, len, end);
      else if (csign != '+' && end < len && src[end] == '\n')
        end++;
      line_starting = src[end - 1] == '\n';
      advance(&lx, end);
      continue;
    }
    bool block = kind == '%';
    if (!push(&lx, block ? T_BLOCK_BEGIN : T_VAR_BEGIN, bl, bc)) return ECO_ENOMEM;
    bool nl = false;
    if ((rc = lex_tag(&lx, block, &nl)) != ECO_OK) return rc;
    line_starting = nl;
  }
  return push(&lx, T_EOF, lx.line, lx.col) ? ECO_OK : ECO_ENOMEM;
}
