/* The prompt classifier: hashed features and multinomial logistic
 * regression (see classify.h). */
#include "directive/classify.h"
#include "util/rand.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* --- hashing ----------------------------------------------------------------- */
/* distinct seeds per feature family */
enum {
  FAM_CHAR = 1,
  FAM_WORD = 2,
  FAM_BIGRAM = 3,
  FAM_LEN = 4,
  FAM_LEN2 = 5,
  FAM_LINES = 6,
  FAM_DIGITS = 7,
  FAM_QEND = 8,
};

typedef struct sink {
  eco_dclass_feat *out;
  size_t n, cap;
  uint32_t mask;
} sink;

/* a multiply-xorshift mix of the feature's 64-bit key; index from the low
 * bits, sign from the top bit */
static void emit(sink *s, uint64_t h) {
  if (s->n >= s->cap) return;
  h ^= h >> 31;
  h *= 0xd6e8feb86659fd93ULL;
  h ^= h >> 32;
  s->out[s->n++] = (uint32_t)(h & s->mask) | (uint32_t)((h >> 63) << 31);
}

static uint64_t fam(int f, uint64_t v) { return v * 0x9E3779B97F4A7C15ULL + (uint64_t)f; }

/* byte n-grams of orders 3 and 5 of one segment, packed into a 64-bit
 * window (order 4 adds cost and no accuracy on the Sprout prompts) */
static void char_ngrams(sink *s, const unsigned char *p, size_t n) {
  uint64_t win = 0;
  for (size_t i = 0; i < n; i++) {
    win = (win << 8) | p[i];
    for (unsigned k = 3; k <= 5; k += 2)
      if (i + 1 >= k) {
        uint64_t g = win & ((1ULL << (8 * k)) - 1);
        emit(s, fam(FAM_CHAR, g * 8 + k));
      }
  }
}

static bool is_word_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

#define WORD_BOS 0x0123456789ULL
#define WORD_EOS 0x0987654321ULL
#define WORD_NUM 0x4E554DULL

/* lower-cased words and word bigrams of one segment (bos/eos: whether the
 * segment starts or ends the prompt) */
static void words(sink *s, const unsigned char *p, size_t n, bool bos, bool eos) {
  uint64_t prev = bos ? WORD_BOS : 0;
  bool have_prev = bos;
  size_t i = 0;
  while (i < n) {
    while (i < n && !is_word_byte(p[i]))
      i++;
    if (i >= n) break;
    uint64_t h = 0xcbf29ce484222325ULL;
    bool digits = true;
    while (i < n && is_word_byte(p[i])) {
      unsigned char c = p[i++];
      if (c >= 'A' && c <= 'Z') c = (unsigned char)(c + 32);
      if (c < '0' || c > '9') digits = false;
      h = (h ^ c) * 0x100000001b3ULL;
    }
    if (digits) h = WORD_NUM;
    emit(s, fam(FAM_WORD, h));
    if (have_prev) emit(s, fam(FAM_BIGRAM, prev * 31 + h));
    prev = h;
    have_prev = true;
  }
  if (eos && have_prev) emit(s, fam(FAM_BIGRAM, prev * 31 + WORD_EOS));
}

static unsigned log2_bucket(size_t v, unsigned steps) {
  /* floor(steps * log2(v + 1)), exact enough for buckets */
  return (unsigned)floor((double)steps * log2((double)v + 1.0));
}

static void count_shape(const unsigned char *p, size_t n, size_t *lines, size_t *digits) {
  for (size_t i = 0; i < n; i++) {
    *lines += p[i] == '\n';
    *digits += p[i] >= '0' && p[i] <= '9';
  }
}

/* shape of a prompt of len bytes read as segment a (its start) and, for a
 * long prompt, segment b (its end; NULL otherwise) */
static void shape(sink *s, size_t len, const unsigned char *a, size_t na, const unsigned char *b,
                  size_t nb) {
  emit(s, fam(FAM_LEN, log2_bucket(len, 1)));
  emit(s, fam(FAM_LEN2, log2_bucket(len, 2)));
  size_t lines = 0, digits = 0;
  count_shape(a, na, &lines, &digits);
  if (b) count_shape(b, nb, &lines, &digits);
  emit(s, fam(FAM_LINES, lines < 8 ? lines : 8 + log2_bucket(lines, 1)));
  emit(s, fam(FAM_DIGITS, na + nb ? (digits * 20) / (na + nb) : 0));
  const unsigned char *e = b ? b : a;
  size_t ne = b ? nb : na;
  while (ne > 0 &&
         (e[ne - 1] == ' ' || e[ne - 1] == '\n' || e[ne - 1] == '\t' || e[ne - 1] == '\r'))
    ne--;
  emit(s, fam(FAM_QEND, ne > 0 && e[ne - 1] == '?'));
}

size_t eco_dclass_features(const char *text, size_t len, unsigned hash_bits, eco_dclass_feat *out,
                           size_t cap) {
  if (!out || cap == 0 || hash_bits < ECO_DCLASS_MIN_BITS || hash_bits > ECO_DCLASS_MAX_BITS)
    return 0;
  if (!text) len = 0;
  sink s = {out, 0, cap < ECO_DCLASS_MAX_FEATS ? cap : ECO_DCLASS_MAX_FEATS,
            (uint32_t)((1u << hash_bits) - 1)};
  const unsigned char *p = (const unsigned char *)text;
  if (len <= ECO_DCLASS_HEAD + ECO_DCLASS_TAIL) {
    char_ngrams(&s, p, len);
    words(&s, p, len, true, true);
    shape(&s, len, p, len, NULL, 0);
  } else {
    const unsigned char *tail = p + len - ECO_DCLASS_TAIL;
    char_ngrams(&s, p, ECO_DCLASS_HEAD);
    char_ngrams(&s, tail, ECO_DCLASS_TAIL);
    words(&s, p, ECO_DCLASS_HEAD, true, false);
    words(&s, tail, ECO_DCLASS_TAIL, false, true);
    shape(&s, len, p, ECO_DCLASS_HEAD, tail, ECO_DCLASS_TAIL);
  }
  return s.n;
}

/* --- model ------------------------------------------------------------------- */
void eco_dclass_cfg_default(eco_dclass_cfg *c) {
  c->hash_bits = 16;
  c->epochs = 8;
  c->lr = 0.5;
  c->l2 = 1e-6;
  c->seed = 1;
}

void eco_dclass_free(eco_dclass *m) {
  if (!m) return;
  free(m->w);
  m->w = NULL;
}

int eco_dclass_find(const eco_dclass *m, const char *label) {
  for (size_t c = 0; m && label && c < m->n_classes; c++)
    if (strcmp(m->label[c], label) == 0) return (int)c;
  return -1;
}

/* z[c] = scale * sum_f sign_f * v * w[f][c] + bias[c] */
static void scores(const eco_dclass *m, const eco_dclass_feat *f, size_t n, double scale,
                   double *z) {
  size_t C = m->n_classes;
  double acc[ECO_DCLASS_MAX_CLASSES] = {0};
  for (size_t i = 0; i < n; i++) {
    const float *row = m->w + (size_t)(f[i] & 0x7fffffffu) * C;
    if (f[i] >> 31)
      for (size_t c = 0; c < C; c++)
        acc[c] -= row[c];
    else
      for (size_t c = 0; c < C; c++)
        acc[c] += row[c];
  }
  double v = n ? scale / sqrt((double)n) : 0;
  for (size_t c = 0; c < C; c++)
    z[c] = acc[c] * v + m->bias[c];
}

static int softmax_argmax(double *z, size_t C) {
  int best = 0;
  if (C == 0) return 0;
  for (size_t c = 1; c < C; c++)
    if (z[c] > z[best]) best = (int)c;
  double mx = z[best], sum = 0;
  for (size_t c = 0; c < C; c++)
    sum += (z[c] = exp(z[c] - mx));
  for (size_t c = 0; c < C; c++)
    z[c] /= sum;
  return best;
}

int eco_dclass_predict_feats(const eco_dclass *m, const eco_dclass_feat *f, size_t n, double *p) {
  if (!m || !m->w || m->n_classes == 0) return 0;
  double z[ECO_DCLASS_MAX_CLASSES] = {0};
  scores(m, f, n, 1.0, z);
  int best = softmax_argmax(z, m->n_classes);
  if (p) memcpy(p, z, m->n_classes * sizeof *p);
  return best;
}

int eco_dclass_predict(const eco_dclass *m, const char *text, size_t len, double *p) {
  if (!m || !m->w || m->n_classes == 0) return 0;
  eco_dclass_feat f[ECO_DCLASS_MAX_FEATS];
  size_t n = eco_dclass_features(text, len, m->hash_bits, f, ECO_DCLASS_MAX_FEATS);
  return eco_dclass_predict_feats(m, f, n, p);
}

static int check_train_args(const eco_dclass_cfg *cfg, const char *const *label, size_t n_classes,
                            const eco_dclass_sample *s, size_t n, const unsigned char *use,
                            eco_error *err) {
  if (!cfg || !label || !s || n_classes < 1 || n_classes > ECO_DCLASS_MAX_CLASSES ||
      cfg->hash_bits < ECO_DCLASS_MIN_BITS || cfg->hash_bits > ECO_DCLASS_MAX_BITS ||
      cfg->epochs < 1 || cfg->epochs > 1000 || !(cfg->lr > 0) || !(cfg->l2 >= 0) ||
      !isfinite(cfg->lr) || !isfinite(cfg->l2))
    return eco_error_set(err, ECO_EINVAL, "classifier: bad training arguments");
  for (size_t c = 0; c < n_classes; c++) {
    if (!label[c] || !label[c][0] || strlen(label[c]) >= ECO_DCLASS_LABEL_MAX)
      return eco_error_set(err, ECO_EINVAL, "classifier: label %zu empty or longer than %d bytes",
                           c, ECO_DCLASS_LABEL_MAX - 1);
    for (size_t d = 0; d < c; d++)
      if (strcmp(label[c], label[d]) == 0)
        return eco_error_set(err, ECO_EINVAL, "classifier: label '%s' repeated", label[c]);
  }
  size_t used = 0;
  uint32_t mask = (1u << cfg->hash_bits) - 1;
  for (size_t i = 0; i < n; i++) {
    if (use && !use[i]) continue;
    if (s[i].cls < 0 || (size_t)s[i].cls >= n_classes || !(s[i].weight > 0) ||
        !isfinite(s[i].weight) || (s[i].n_feat && !s[i].feat))
      return eco_error_set(err, ECO_EINVAL, "classifier: sample %zu has a bad class or weight", i);
    for (size_t k = 0; k < s[i].n_feat; k++)
      if ((s[i].feat[k] & 0x7fffffffu) > mask)
        return eco_error_set(err, ECO_EINVAL, "classifier: sample %zu: feature out of range", i);
    used++;
  }
  if (!used) return eco_error_set(err, ECO_EINVAL, "classifier: no training sample");
  return 0;
}

/* one SGD step on sample x (scaled weights: true w = scale * m->w) */
static void sgd_step(eco_dclass *m, const eco_dclass_sample *x, double eta, double scale) {
  size_t C = m->n_classes;
  double z[ECO_DCLASS_MAX_CLASSES] = {0};
  scores(m, x->feat, x->n_feat, scale, z);
  softmax_argmax(z, C);
  double g[ECO_DCLASS_MAX_CLASSES];
  for (size_t c = 0; c < C; c++) {
    g[c] = (z[c] - ((int)c == x->cls ? 1.0 : 0.0)) * x->weight;
    m->bias[c] -= (float)(eta * g[c]);
  }
  double v = x->n_feat ? 1.0 / sqrt((double)x->n_feat) : 0;
  for (size_t c = 0; c < C; c++)
    g[c] *= eta * v / scale;
  for (size_t i = 0; i < x->n_feat; i++) {
    float *row = m->w + (size_t)(x->feat[i] & 0x7fffffffu) * C;
    double sg = (x->feat[i] >> 31) ? -1.0 : 1.0;
    for (size_t c = 0; c < C; c++)
      row[c] -= (float)(sg * g[c]);
  }
}

int eco_dclass_train(eco_dclass *m, const eco_dclass_cfg *cfg, const char *const *label,
                     size_t n_classes, const eco_dclass_sample *s, size_t n,
                     const unsigned char *use, eco_error *err) {
  if (!m) return eco_error_set(err, ECO_EINVAL, "classifier: no model");
  memset(m, 0, sizeof *m);
  int rc = check_train_args(cfg, label, n_classes, s, n, use, err);
  if (rc) return rc;
  size_t D = (size_t)1 << cfg->hash_bits, nu = 0;
  m->n_classes = n_classes;
  m->hash_bits = cfg->hash_bits;
  for (size_t c = 0; c < n_classes; c++)
    strcpy(m->label[c], label[c]); /* length checked above */
  size_t nw = D * n_classes;       /* >= 256: checked above */
  m->w = calloc(nw > 0 ? nw : 1, sizeof *m->w);
  size_t *order = malloc(n * sizeof *order);
  if (!m->w || !order) {
    free(order);
    eco_dclass_free(m);
    return eco_error_set(err, ECO_ENOMEM, "classifier: out of memory");
  }
  for (size_t i = 0; i < n; i++)
    if (!use || use[i]) order[nu++] = i;
  uint64_t rs = cfg->seed ? cfg->seed : 0x9E3779B97F4A7C15ULL;
  double scale = 1.0, t = 0;
  for (unsigned ep = 0; ep < cfg->epochs; ep++) {
    for (size_t i = nu; i > 1; i--) { /* Fisher-Yates */
      size_t j = (size_t)(eco_rand_next(&rs) % i), tmp = order[i - 1];
      order[i - 1] = order[j], order[j] = tmp;
    }
    for (size_t k = 0; k < nu; k++, t += 1) {
      double eta = cfg->lr / (1.0 + cfg->lr * cfg->l2 * t);
      scale *= 1.0 - eta * cfg->l2;
      if (scale < 1e-6) { /* fold the scale into the weights */
        for (size_t i = 0; i < D * n_classes; i++)
          m->w[i] = (float)(m->w[i] * scale);
        scale = 1.0;
      }
      sgd_step(m, &s[order[k]], eta, scale);
    }
  }
  for (size_t i = 0; i < D * n_classes; i++)
    m->w[i] = (float)(m->w[i] * scale);
  free(order);
  return 0;
}
