/* ecoinfer: UTF-8 helpers and the BPE pre-tokenizers (the regex splits that
 * llama.cpp applies before byte-level BPE), written as hand-made matchers.
 *
 * llama.cpp runs a list of regexes per pre-tokenizer; each one splits every
 * current piece into its matches and the unmatched gaps between them. Three
 * regexes (GPT-2's, Llama 3's and Qwen2's) have dedicated matchers in
 * llama.cpp that use the true Unicode categories. The others run through
 * std::regex over a "collapsed" text where every non-ASCII code point is
 * replaced by one class byte: whitespace -> \v, \p{N} -> number, \p{L} ->
 * letter, \p{P} -> punctuation, anything else (symbols, emoji, marks) -> a
 * byte no class matches (llama.cpp c392e509 made those letters too). The
 * matchers below reproduce both behaviours, each where llama.cpp uses it.
 */
#include "engine/tok_internal.h"
#include "engine/tok_unicode.h"

#include <stdlib.h>
#include <string.h>

size_t tok_utf8_len(unsigned char lead) {
  static const unsigned char k_len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return k_len[lead >> 4];
}

size_t tok_utf8_next(const char *s, size_t len, uint32_t *cp) {
  const unsigned char *u = (const unsigned char *)s;
  unsigned char b = u[0];
  if (!(b & 0x80)) {
    *cp = b;
    return 1;
  }
  *cp = 0xFFFD;
  if (!(b & 0x40)) return 1;
  if (!(b & 0x20)) {
    if (len < 2 || (u[1] & 0xC0) != 0x80) return 1;
    *cp = ((uint32_t)(b & 0x1F) << 6) | (u[1] & 0x3F);
    return 2;
  }
  if (!(b & 0x10)) {
    if (len < 3 || (u[1] & 0xC0) != 0x80 || (u[2] & 0xC0) != 0x80) return 1;
    *cp = ((uint32_t)(b & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F);
    return 3;
  }
  if (!(b & 0x08)) {
    if (len < 4 || (u[1] & 0xC0) != 0x80 || (u[2] & 0xC0) != 0x80 || (u[3] & 0xC0) != 0x80)
      return 1;
    *cp = ((uint32_t)(b & 0x07) << 18) | ((uint32_t)(u[1] & 0x3F) << 12) |
          ((uint32_t)(u[2] & 0x3F) << 6) | (u[3] & 0x3F);
    if (*cp > 0x10FFFF) *cp = 0xFFFD; /* llama.cpp throws here */
    return 4;
  }
  return 1;
}

size_t tok_utf8_decode(const char *s, size_t len, uint32_t *cps) {
  size_t n = 0, i = 0;
  while (i < len)
    i += tok_utf8_next(s + i, len - i, &cps[n++]);
  return n;
}

size_t tok_utf8_encode(uint32_t cp, char out[4]) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  if (cp > 0x10FFFF) cp = 0xFFFD;
  if (cp < 0x10000) return tok_utf8_encode(cp, out);
  out[0] = (char)(0xF0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* ---- character classes -------------------------------------------------- */

/* White_Space property (llama.cpp's is_whitespace). */
static bool is_ws(uint32_t c) {
  if (c < 0x80) return (c >= 0x09 && c <= 0x0D) || c == 0x20;
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

static bool is_letter(uint32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  return eco_ucd_is_letter(c);
}

static bool is_number(uint32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  return eco_ucd_is_number(c);
}

/* Collapsed class bytes (llama.cpp's std::regex fallback). */
#define COL_LETTER 0xD3u
#define COL_NUMBER 0xD1u
#define COL_PUNCT  0xD2u
#define COL_OTHER  0xD0u /* (a distinct byte; llama.cpp has one per category) */

static uint32_t collapse(uint32_t c) {
  if (c < 0x80) return c;
  if (is_ws(c)) return 0x0B;
  if (eco_ucd_is_number(c)) return COL_NUMBER;
  if (eco_ucd_is_letter(c)) return COL_LETTER;
  if (eco_ucd_is_punct(c)) return COL_PUNCT;
  return COL_OTHER; /* marks, symbols (emoji), the rest: none of \p{L} \p{N} \p{P} */
}

/* Classes over collapsed values (std::regex, "C" locale). */
static bool c_ws(uint32_t x) { return (x >= 0x09 && x <= 0x0D) || x == 0x20; }
static bool c_letter(uint32_t x) {
  return x == COL_LETTER || (x >= 'a' && x <= 'z') || (x >= 'A' && x <= 'Z');
}
static bool c_number(uint32_t x) { return x == COL_NUMBER || (x >= '0' && x <= '9'); }
static bool c_other(uint32_t x) { return !c_ws(x) && !c_letter(x) && !c_number(x); }
/* [\p{P}\$\+<=>\^~\|] (plus ` for falcon) over collapsed values. */
static bool c_punct_sym(uint32_t x, bool backtick) {
  if (x == COL_PUNCT) return true;
  if (x >= 0x80) return false;
  if ((x >= 0x21 && x <= 0x23) || (x >= 0x25 && x <= 0x2A) || (x >= 0x2C && x <= 0x2F) ||
      (x >= 0x3A && x <= 0x3B) || (x >= 0x3F && x <= 0x40) || (x >= 0x5B && x <= 0x5D) ||
      x == 0x5F || x == 0x7B || x == 0x7D)
    return true;
  if (x == '$' || x == '+' || x == '<' || x == '=' || x == '>' || x == '^' || x == '~' || x == '|')
    return true;
  return backtick && x == '`';
}
static uint32_t ascii_lower(uint32_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

/* ---- size vectors ------------------------------------------------------- */

void tok_sizes_free(tok_sizes *s) {
  free(s->v);
  memset(s, 0, sizeof *s);
}

static int sizes_push(tok_sizes *s, size_t v) {
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 64;
    size_t *nv = realloc(s->v, cap * sizeof *nv);
    if (!nv) return ECO_ENOMEM;
    s->v = nv;
    s->cap = cap;
  }
  s->v[s->n++] = v;
  return ECO_OK;
}

/* ---- llama.cpp's dedicated matchers (true categories) ------------------- */

enum { F_IN = 1, F_L = 2, F_N = 4, F_W = 8 };

static unsigned flags_at(const uint32_t *cps, size_t pos, size_t end) {
  if (pos >= end) return 0;
  uint32_t c = cps[pos];
  unsigned f = F_IN;
  if (is_letter(c)) f |= F_L;
  if (is_number(c)) f |= F_N;
  if (is_ws(c)) f |= F_W;
  return f;
}

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static int split_gpt2(const uint32_t *cps, size_t beg, size_t end, tok_sizes *out) {
  size_t prev = beg;
  size_t pos = beg;
  int rc = ECO_OK;
#define EMIT(at)                                                                                   \
  do {                                                                                             \
    if ((at) > prev && (rc = sizes_push(out, (at)-prev)) != ECO_OK) return rc;                     \
    prev = (at);                                                                                   \
  } while (0)
  while (pos < end) {
    uint32_t c = cps[pos];
    unsigned f = flags_at(cps, pos, end);
    if (c == '\'' && pos + 1 < end) {
      uint32_t n1 = cps[pos + 1];
      if (n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd') {
        pos += 2;
        EMIT(pos);
        continue;
      }
      if (pos + 2 < end) {
        uint32_t n2 = cps[pos + 2];
        if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l')) {
          pos += 3;
          EMIT(pos);
          continue;
        }
      }
    }
    unsigned f2 = c == ' ' ? flags_at(cps, pos + 1, end) : f;
    if (f2 & F_L) {
      pos += c == ' ';
      while (f2 & F_L)
        f2 = flags_at(cps, ++pos, end);
      EMIT(pos);
      continue;
    }
    if (f2 & F_N) {
      pos += c == ' ';
      while (f2 & F_N)
        f2 = flags_at(cps, ++pos, end);
      EMIT(pos);
      continue;
    }
    if (!(f2 & (F_W | F_L | F_N)) && (f2 & F_IN)) {
      pos += c == ' ';
      while (!(f2 & (F_W | F_L | F_N)) && (f2 & F_IN))
        f2 = flags_at(cps, ++pos, end);
      EMIT(pos);
      continue;
    }
    size_t nws = 0;
    while (flags_at(cps, pos + nws, end) & F_W)
      nws++;
    if (nws > 1 && pos + nws < end) {
      pos += nws - 1;
      EMIT(pos);
      continue;
    }
    if (nws > 0) {
      pos += nws;
      EMIT(pos);
      continue;
    }
    pos++;
    EMIT(pos);
  }
  return rc;
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * with max_digits 3 (Llama 3); with 1 it is Qwen2's regex (\p{N} alone),
 * which llama.cpp also matches over the true categories (so an emoji is a
 * symbol, as in Hugging Face tokenizers). */
static int split_llama3(const uint32_t *cps, size_t beg, size_t end, size_t max_digits,
                        tok_sizes *out) {
  size_t prev = beg;
  size_t pos = beg;
  int rc = ECO_OK;
  while (pos < end) {
    uint32_t c = cps[pos];
    unsigned f = flags_at(cps, pos, end);
    if (c == '\'' && pos + 1 < end) {
      uint32_t n1 = ascii_lower(cps[pos + 1]);
      if (n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd') {
        pos += 2;
        EMIT(pos);
        continue;
      }
      if (pos + 2 < end) {
        uint32_t n2 = ascii_lower(cps[pos + 2]);
        if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l')) {
          pos += 3;
          EMIT(pos);
          continue;
        }
      }
    }
    if (!(c == '\r' || c == '\n' || (f & F_N))) {
      if ((f & F_L) || (flags_at(cps, pos + 1, end) & F_L)) {
        pos++;
        while (flags_at(cps, pos, end) & F_L)
          pos++;
        EMIT(pos);
        continue;
      }
    }
    if (f & F_N) {
      size_t ini = pos;
      while (flags_at(cps, pos, end) & F_N) {
        if (++pos - ini >= max_digits) {
          EMIT(pos);
          ini = pos;
        }
      }
      EMIT(pos);
      continue;
    }
    unsigned f2 = c == ' ' ? flags_at(cps, pos + 1, end) : f;
    if (!(f2 & (F_W | F_L | F_N)) && (f & F_IN)) {
      pos += c == ' ';
      while (!(f2 & (F_W | F_L | F_N)) && (f2 & F_IN))
        f2 = flags_at(cps, ++pos, end);
      while (pos < end && (cps[pos] == '\r' || cps[pos] == '\n'))
        pos++;
      EMIT(pos);
      continue;
    }
    size_t nws = 0, last_rn = 0;
    while (flags_at(cps, pos + nws, end) & F_W) {
      uint32_t c2 = cps[pos + nws];
      if (c2 == '\r' || c2 == '\n') last_rn = pos + nws + 1;
      nws++;
    }
    if (last_rn > 0) {
      pos = last_rn;
      EMIT(pos);
      continue;
    }
    if (nws > 1 && pos + nws < end) {
      pos += nws - 1;
      EMIT(pos);
      continue;
    }
    if (nws > 0) {
      pos += nws;
      EMIT(pos);
      continue;
    }
    pos++;
    EMIT(pos);
  }
  return rc;
}
#undef EMIT

/* ---- std::regex-equivalent matchers over collapsed text ----------------- */

/* Each returns the length of the match starting exactly at p (0 = none). */
typedef size_t (*matcher_fn)(const uint32_t *x, size_t p, size_t e);

/* GPT-4o / Llama 4 (Phi-4-mini), as llama.cpp rewrites it for std::regex:
 * [^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+(?:'s|'t|...)?|
 * [^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*(?:'s|'t|...)?|
 * \p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * over collapsed text, where a non-ASCII letter is both "not a-z" and "not
 * A-Z"; contractions are case-insensitive. */
static bool g_up(const uint32_t *x, size_t i, size_t e) {
  return i < e && c_letter(x[i]) && !(x[i] >= 'a' && x[i] <= 'z');
}
static bool g_low(const uint32_t *x, size_t i, size_t e) {
  return i < e && c_letter(x[i]) && !(x[i] >= 'A' && x[i] <= 'Z');
}

static size_t contraction(const uint32_t *x, size_t p, size_t e) {
  if (p + 1 >= e || x[p] != '\'') return 0;
  uint32_t a = ascii_lower(x[p + 1]), b = p + 2 < e ? ascii_lower(x[p + 2]) : 0;
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

/* The two letter alternatives; 0 when neither matches at p. */
static size_t g_word(const uint32_t *x, size_t p, size_t e) {
  for (int alt = 0; alt < 2; alt++) {
    bool pre = p < e && x[p] != '\r' && x[p] != '\n' && !c_letter(x[p]) && !c_number(x[p]);
    for (int o = pre ? 1 : 0; o >= 0; o--) {
      size_t q = p + (size_t)o, nu = 0;
      while (g_up(x, q + nu, e))
        nu++;
      size_t j = 0;
      if (alt == 0) { /* up* low+ : the longest up-run that a low letter follows */
        bool found = false;
        for (size_t k = nu + 1; k-- > 0;)
          if (g_low(x, q + k, e)) {
            j = q + k;
            found = true;
            break;
          }
        if (!found) continue;
        while (g_low(x, j, e))
          j++;
      } else { /* up+ low* */
        if (!nu) continue;
        j = q + nu;
        while (g_low(x, j, e))
          j++;
      }
      return j + contraction(x, j, e) - p;
    }
  }
  return 0;
}

static size_t m_gpt4o(const uint32_t *x, size_t p, size_t e) {
  size_t n = g_word(x, p, e);
  if (n) return n;
  if (c_number(x[p])) {
    while (n < 3 && p + n < e && c_number(x[p + n]))
      n++;
    return n;
  }
  size_t q = p + (x[p] == ' ' && p + 1 < e && c_other(x[p + 1]));
  if (c_other(x[q])) {
    while (q < e && c_other(x[q]))
      q++;
    while (q < e && (x[q] == '\r' || x[q] == '\n' || x[q] == '/'))
      q++;
    return q - p;
  }
  size_t r = p, last_rn = 0;
  while (r < e && c_ws(x[r])) {
    if (x[r] == '\r' || x[r] == '\n') last_rn = r + 1;
    r++;
  }
  if (r == p) return 0;
  if (last_rn) return last_rn - p;
  if (r == e) return r - p;
  return r - 1 > p ? r - 1 - p : r - p;
}

static size_t m_one_number(const uint32_t *x, size_t p, size_t e) {
  (void)e;
  return c_number(x[p]) ? 1 : 0;
}

/* \p{N}+ */
static size_t m_numbers(const uint32_t *x, size_t p, size_t e) {
  size_t q = p;
  while (q < e && c_number(x[q]))
    q++;
  return q - p;
}

/* [\p{P}\$\+<=>\^~\|]+ */
static size_t m_punct(const uint32_t *x, size_t p, size_t e) {
  size_t q = p;
  while (q < e && c_punct_sym(x[q], false))
    q++;
  return q - p;
}

/* [\p{P}\$\+<=>\^~\|`]+ */
static size_t m_punct_falcon(const uint32_t *x, size_t p, size_t e) {
  size_t q = p;
  while (q < e && c_punct_sym(x[q], true))
    q++;
  return q - p;
}

/* [0-9][0-9][0-9] (plain std::wregex, ASCII digits) */
static size_t m_3digits(const uint32_t *x, size_t p, size_t e) {
  if (p + 3 > e) return 0;
  for (size_t i = 0; i < 3; i++)
    if (x[p + i] < '0' || x[p + i] > '9') return 0;
  return 3;
}

static int split_regex(const uint32_t *x, size_t beg, size_t end, matcher_fn m, tok_sizes *out) {
  size_t gap = beg, pos = beg;
  int rc;
  while (pos < end) {
    size_t len = m(x, pos, end);
    if (len == 0) {
      pos++;
      continue;
    }
    if (pos > gap && (rc = sizes_push(out, pos - gap)) != ECO_OK) return rc;
    if ((rc = sizes_push(out, len)) != ECO_OK) return rc;
    pos += len;
    gap = pos;
  }
  if (end > gap && (rc = sizes_push(out, end - gap)) != ECO_OK) return rc;
  return ECO_OK;
}

/* ---- pre-tokenizer pipelines -------------------------------------------- */

typedef enum split_kind {
  SP_GPT2,
  SP_LLAMA3,
  SP_QWEN2,
  SP_ONE_NUMBER,
  SP_NUMBERS,
  SP_PUNCT,
  SP_PUNCT_FALCON,
  SP_3DIGITS,
  SP_GPT4O,
} split_kind;

static size_t pipeline(tok_pre pre, split_kind *k) {
  switch (pre) {
  case TOK_PRE_DEFAULT:
    k[0] = SP_PUNCT;
    k[1] = SP_GPT2;
    k[2] = SP_NUMBERS;
    k[3] = SP_3DIGITS;
    return 4;
  case TOK_PRE_GPT2: k[0] = SP_GPT2; return 1;
  case TOK_PRE_LLAMA3: k[0] = SP_LLAMA3; return 1;
  case TOK_PRE_QWEN2: k[0] = SP_QWEN2; return 1;
  case TOK_PRE_SMOLLM:
    k[0] = SP_ONE_NUMBER;
    k[1] = SP_GPT2;
    return 2;
  case TOK_PRE_FALCON:
    k[0] = SP_PUNCT_FALCON;
    k[1] = SP_GPT2;
    k[2] = SP_3DIGITS;
    return 3;
  case TOK_PRE_GPT4O: k[0] = SP_GPT4O; return 1;
  case TOK_PRE_NONE: break;
  }
  return 0;
}

int tok_pretokenize(tok_pre pre, const uint32_t *cps, size_t n, tok_sizes *out) {
  split_kind kinds[4];
  size_t nk = pipeline(pre, kinds);
  tok_sizes cur = {0}, next = {0};
  uint32_t *col = NULL;
  int rc = ECO_OK;
  out->n = 0;
  if (n == 0) return ECO_OK;
  if ((rc = sizes_push(&cur, n)) != ECO_OK) goto fail;
  for (size_t s = 0; s < nk; s++) {
    split_kind k = kinds[s];
    bool collapsed = k == SP_GPT4O || k == SP_ONE_NUMBER || k == SP_NUMBERS || k == SP_PUNCT ||
                     k == SP_PUNCT_FALCON;
    if (collapsed && !col) {
      col = malloc(n * sizeof *col);
      if (!col) {
        rc = ECO_ENOMEM;
        goto fail;
      }
      for (size_t i = 0; i < n; i++)
        col[i] = collapse(cps[i]);
    }
    next.n = 0;
    size_t at = 0;
    for (size_t w = 0; w < cur.n; w++) {
      size_t b = at, e = at + cur.v[w];
      at = e;
      switch (k) {
      case SP_GPT2: rc = split_gpt2(cps, b, e, &next); break;
      case SP_LLAMA3: rc = split_llama3(cps, b, e, 3, &next); break;
      case SP_QWEN2: rc = split_llama3(cps, b, e, 1, &next); break;
      case SP_ONE_NUMBER: rc = split_regex(col, b, e, m_one_number, &next); break;
      case SP_NUMBERS: rc = split_regex(col, b, e, m_numbers, &next); break;
      case SP_PUNCT: rc = split_regex(col, b, e, m_punct, &next); break;
      case SP_PUNCT_FALCON: rc = split_regex(col, b, e, m_punct_falcon, &next); break;
      case SP_3DIGITS: rc = split_regex(cps, b, e, m_3digits, &next); break;
      case SP_GPT4O: rc = split_regex(col, b, e, m_gpt4o, &next); break;
      }
      if (rc != ECO_OK) goto fail;
    }
    tok_sizes tmp = cur;
    cur = next;
    next = tmp;
  }
  /* hand the result over */
  tok_sizes_free(out);
  *out = cur;
  cur = (tok_sizes){0};
fail:
  tok_sizes_free(&cur);
  tok_sizes_free(&next);
  free(col);
  return rc;
}
