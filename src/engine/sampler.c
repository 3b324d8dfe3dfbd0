/* ecoinfer: sampler and stop strings (see sampler.h). */
#include "engine/sampler.h"
#include "util/rand.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

typedef struct cand {
  int32_t id;
  float logit;
  float p;
} cand;

struct eco_sampler {
  eco_sampler_params p;
  int n_vocab;
  uint64_t rng;
  int32_t *hist; /* ring of the last repeat_last_n tokens */
  int hist_n, hist_pos;
  float *work; /* [n_vocab] penalized logits */
  cand *c;     /* [n_vocab] */
};

eco_sampler_params eco_sampler_default_params(void) {
  eco_sampler_params p = {.temperature = 0.8f,
                          .top_k = 40,
                          .top_p = 0.95f,
                          .min_p = 0.05f,
                          .repeat_penalty = 1.0f,
                          .repeat_last_n = 64,
                          .seed = 0};
  return p;
}

int eco_sampler_new(const eco_sampler_params *p, int n_vocab, eco_sampler **out, eco_error *err) {
  *out = NULL;
  if (n_vocab <= 0) return eco_error_set(err, ECO_EINVAL, "sampler: n_vocab must be positive");
  if (!(p->repeat_penalty > 0) || !isfinite(p->repeat_penalty) || p->repeat_last_n < 0 ||
      !isfinite(p->temperature))
    return eco_error_set(err, ECO_EINVAL, "sampler: invalid parameters");
  eco_sampler *s = calloc(1, sizeof *s);
  if (!s) return eco_error_set(err, ECO_ENOMEM, "sampler: out of memory");
  s->p = *p;
  s->n_vocab = n_vocab;
  s->rng = p->seed * 0x9E3779B97F4A7C15ULL + 0x2545F4914F6CDD1DULL;
  if (!s->rng) s->rng = 1;
  s->hist = calloc((size_t)(p->repeat_last_n > 0 ? p->repeat_last_n : 1), sizeof *s->hist);
  s->work = malloc((size_t)n_vocab * sizeof *s->work);
  s->c = malloc((size_t)n_vocab * sizeof *s->c);
  if (!s->hist || !s->work || !s->c) {
    eco_sampler_free(s);
    return eco_error_set(err, ECO_ENOMEM, "sampler: out of memory");
  }
  *out = s;
  return 0;
}

void eco_sampler_free(eco_sampler *s) {
  if (!s) return;
  free(s->hist);
  free(s->work);
  free(s->c);
  free(s);
}

void eco_sampler_accept(eco_sampler *s, int32_t token) {
  if (s->p.repeat_last_n <= 0) return;
  s->hist[s->hist_pos] = token;
  s->hist_pos = (s->hist_pos + 1) % s->p.repeat_last_n;
  if (s->hist_n < s->p.repeat_last_n) s->hist_n++;
}

/* NaN ranks below every number (and is never picked over one): the first
 * index of the largest non-NaN value, 0 when all are NaN. Two passes over
 * the row (the engine runs this once per sequence and step, a 50k-entry
 * vocabulary at a time): the maximum in independent lanes (a NaN never
 * compares greater), then its first index. On x86-64 both passes take 16
 * logits per step in SSE2 registers (`maxps` keeps its second operand
 * unless the first is greater, which is the scalar rule; the compiler kept
 * the scalar lanes in scalar registers: about 15 us per 49k row on Zen 4,
 * four times per step at batch 4, on the engine thread); the scalar loops
 * do the rest and other CPUs. The index is the first one whose logit
 * equals the maximum, whichever lane found it. */
int32_t eco_argmax(const float *logits, int n) {
  float mx = -INFINITY;
  int i = 0;
#if defined(__SSE2__)
  __m128 m[4];
  for (int k = 0; k < 4; k++)
    m[k] = _mm_set1_ps(-INFINITY);
  for (; i + 16 <= n; i += 16)
    for (int k = 0; k < 4; k++)
      m[k] = _mm_max_ps(_mm_loadu_ps(logits + i + 4 * k), m[k]);
  float lanes[16];
  for (int k = 0; k < 4; k++)
    _mm_storeu_ps(lanes + 4 * k, m[k]);
  for (int k = 0; k < 16; k++)
    mx = lanes[k] > mx ? lanes[k] : mx;
#else
  float m[8];
  for (int k = 0; k < 8; k++)
    m[k] = -INFINITY;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; k++)
      m[k] = logits[i + k] > m[k] ? logits[i + k] : m[k];
  for (int k = 0; k < 8; k++)
    mx = m[k] > mx ? m[k] : mx;
#endif
  for (; i < n; i++)
    mx = logits[i] > mx ? logits[i] : mx;
  i = 0;
#if defined(__SSE2__)
  const __m128 vm = _mm_set1_ps(mx);
  for (; i + 16 <= n; i += 16) { /* the first block of 16 that holds it */
    int hit = 0;
    for (int k = 0; k < 4; k++)
      hit |= _mm_movemask_ps(_mm_cmpeq_ps(_mm_loadu_ps(logits + i + 4 * k), vm)) << (4 * k);
    if (hit) return i + __builtin_ctz((unsigned)hit);
  }
#else
  for (; i + 8 <= n; i += 8) { /* the first block of 8 that holds it */
    int hit = 0;
    for (int k = 0; k < 8; k++)
      hit |= logits[i + k] == mx;
    if (hit) break;
  }
#endif
  for (; i < n; i++)
    if (logits[i] == mx) return i;
  return 0; /* every logit NaN */
}

/* A float is NaN or +-inf exactly when its exponent bits are all ones;
 * the test ORs them over the row in integers, which vectorizes (a float
 * sum would be one chain of dependent additions). */
bool eco_logits_finite(const float *logits, size_t n) {
  uint32_t bad = 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t u;
    memcpy(&u, &logits[i], sizeof u);
    bad |= (uint32_t)((u & 0x7F800000u) == 0x7F800000u);
  }
  return bad == 0;
}

static uint64_t next_u64(eco_sampler *s) { return eco_rand_next(&s->rng); }

/* A strict total order even with NaN (last) and infinities, so that the
 * partitioning below never runs past the array: best logit first, ties by
 * lowest id. */
static int cmp_cand(const void *a, const void *b) {
  const cand *x = a, *y = b;
  const bool xn = isnan(x->logit), yn = isnan(y->logit);
  if (xn != yn) return xn ? 1 : -1;
  if (!xn && x->logit != y->logit) return x->logit < y->logit ? 1 : -1;
  return x->id < y->id ? -1 : x->id > y->id;
}

/* Moves the k best candidates to the front, sorted (k small: a heap would
 * do, selection by repeated partitioning is enough here). */
static void top_k_sort(cand *c, int n, int k) {
  if (k >= n) {
    qsort(c, (size_t)n, sizeof *c, cmp_cand);
    return;
  }
  int lo = 0, hi = n - 1;
  while (lo < hi) { /* quickselect so that c[0..k) are the k best */
    cand pivot = c[(lo + hi) / 2];
    int i = lo, j = hi;
    while (i <= j) {
      while (cmp_cand(&c[i], &pivot) < 0)
        i++;
      while (cmp_cand(&c[j], &pivot) > 0)
        j--;
      if (i <= j) {
        cand t = c[i];
        c[i] = c[j];
        c[j] = t;
        i++;
        j--;
      }
    }
    if (k - 1 <= j)
      hi = j;
    else if (k - 1 >= i)
      lo = i;
    else
      break;
  }
  qsort(c, (size_t)k, sizeof *c, cmp_cand);
}

int32_t eco_sampler_sample(eco_sampler *s, const float *logits) {
  const int n = s->n_vocab;
  if (s->p.temperature <= 0 && s->p.repeat_penalty == 1.0f) { /* greedy: no copy needed */
    const int32_t tok = eco_argmax(logits, n);
    eco_sampler_accept(s, tok);
    return tok;
  }
  memcpy(s->work, logits, (size_t)n * sizeof *s->work);
  if (s->p.repeat_penalty != 1.0f) {
    for (int i = 0; i < s->hist_n; i++) {
      int32_t t = s->hist[i];
      if (t < 0 || t >= n) continue;
      bool seen = false; /* penalize each token once */
      for (int j = 0; j < i; j++)
        seen |= s->hist[j] == t;
      if (seen) continue;
      float *l = &s->work[t];
      *l = *l > 0 ? *l / s->p.repeat_penalty : *l * s->p.repeat_penalty;
    }
  }
  int32_t tok;
  if (s->p.temperature <= 0) {
    tok = eco_argmax(s->work, n);
  } else {
    for (int i = 0; i < n; i++)
      s->c[i] = (cand){.id = i, .logit = s->work[i]};
    int k = s->p.top_k > 0 && s->p.top_k < n ? s->p.top_k : n;
    top_k_sort(s->c, n, k);
    /* Non-finite logits (a broken model; the engine fails such requests
     * before sampling) must still give a valid id: the best candidate is
     * certain if it is +inf, NaN or -inf. */
    if (!isfinite(s->c[0].logit)) {
      tok = s->c[0].id;
      eco_sampler_accept(s, tok);
      return tok;
    }
    const float inv_t = 1.0f / s->p.temperature;
    double sum = 0;
    for (int i = 0; i < k; i++) {
      float z = (s->c[i].logit - s->c[0].logit) * inv_t; /* <= 0, or NaN for a NaN logit */
      s->c[i].p = isnan(z) ? 0.f : expf(z);
      sum += s->c[i].p;
    }
    for (int i = 0; i < k; i++)
      s->c[i].p = (float)(s->c[i].p / sum);
    int keep = k;
    if (s->p.top_p < 1.0f) {
      double cum = 0;
      for (int i = 0; i < k; i++) {
        cum += s->c[i].p;
        if (cum >= s->p.top_p) {
          keep = i + 1;
          break;
        }
      }
    }
    if (s->p.min_p > 0) {
      const float th = s->p.min_p * s->c[0].p;
      int m = 1;
      while (m < keep && s->c[m].p >= th)
        m++;
      keep = m;
    }
    double tot = 0;
    for (int i = 0; i < keep; i++)
      tot += s->c[i].p;
    const double r = (double)(next_u64(s) >> 11) * (1.0 / 9007199254740992.0) * tot;
    double acc = 0;
    tok = s->c[keep - 1].id;
    for (int i = 0; i < keep; i++) {
      acc += s->c[i].p;
      if (r < acc) {
        tok = s->c[i].id;
        break;
      }
    }
  }
  eco_sampler_accept(s, tok);
  return tok;
}

/* --- stop strings ------------------------------------------------------ */

int eco_stop_init(eco_stop *st, const char *const *stops, size_t n) {
  memset(st, 0, sizeof *st);
  if (n) {
    st->stops = calloc(n, sizeof *st->stops);
    if (!st->stops) return ECO_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    if (!stops[i] || !stops[i][0]) continue;
    st->stops[st->n] = strdup(stops[i]);
    if (!st->stops[st->n]) {
      eco_stop_free(st);
      return ECO_ENOMEM;
    }
    st->n++;
  }
  return 0;
}

void eco_stop_free(eco_stop *st) {
  for (size_t i = 0; i < st->n; i++)
    free(st->stops[i]);
  free(st->stops);
  free(st->pending);
  memset(st, 0, sizeof *st);
}

bool eco_stop_feed(eco_stop *st, const char *piece, size_t len, const char **emit,
                   size_t *emit_len) {
  *emit = "";
  *emit_len = 0;
  if (st->hit) return true;
  if (st->len + len + 1 > st->cap) {
    size_t cap = (st->len + len + 1) * 2;
    char *p = realloc(st->pending, cap);
    if (!p) return false;
    st->pending = p;
    st->cap = cap;
  }
  memcpy(st->pending + st->len, piece, len);
  st->len += len;
  st->pending[st->len] = '\0';
  /* a complete stop string? emit what precedes the earliest one */
  size_t first = st->len;
  for (size_t i = 0; i < st->n; i++) {
    const char *f = memmem(st->pending, st->len, st->stops[i], strlen(st->stops[i]));
    if (f && (size_t)(f - st->pending) < first) first = (size_t)(f - st->pending);
  }
  if (first < st->len) {
    st->hit = true;
    *emit = st->pending;
    *emit_len = first;
    st->len = 0;
    return true;
  }
  /* hold back the longest suffix that is a prefix of some stop string */
  size_t hold = 0;
  for (size_t i = 0; i < st->n; i++) {
    size_t sl = strlen(st->stops[i]);
    for (size_t k = sl - 1; k > hold; k--)
      if (k <= st->len && memcmp(st->pending + st->len - k, st->stops[i], k) == 0) {
        hold = k;
        break;
      }
  }
  size_t out = st->len - hold;
  /* emitted bytes go out through a scratch copy at the end of the buffer */
  *emit = st->pending;
  *emit_len = out;
  /* caller reads before the next call; shift after reading is done by the
   * next feed: keep the held-back text at the front */
  if (out) {
    /* copy the emitted part into the tail area so the front can hold the rest */
    if (st->len + out + 1 > st->cap) {
      size_t cap = (st->len + out + 1) * 2;
      char *p = realloc(st->pending, cap);
      if (!p) return false;
      st->pending = p;
      st->cap = cap;
    }
    char *tail = st->pending + st->len + 1;
    memcpy(tail, st->pending, out);
    memmove(st->pending, st->pending + out, hold);
    st->len = hold;
    *emit = tail;
  }
  return false;
}

void eco_stop_flush(eco_stop *st, const char **emit, size_t *emit_len) {
  *emit = st->pending ? st->pending : "";
  *emit_len = st->hit ? 0 : st->len;
  st->len = 0;
}
