/* The directive model file: versioned, bounds-checked, SHA-256 trailer (the
 * layout is in dmodel.h). The decoder is the parser of untrusted input:
 * every size is checked before it is used, every number is checked for
 * range, and nothing is allocated before the sizes add up. */
#include "directive/dmodel.h"
#include "util/fs.h"

#include <math.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC      "ECODIRM"
#define HDR_BYTES  64
#define SHA_BYTES  32
#define FLAG_COSTS 1u
#define W_LIMIT    1e6 /* |weight| and |bias| bound: anything larger is corruption */

/* --- little-endian writer and reader --------------------------------------- */
typedef struct wbuf {
  unsigned char *p;
  size_t n;
} wbuf;

static void put_u32(wbuf *w, uint32_t v) {
  for (int i = 0; i < 4; i++)
    w->p[w->n++] = (unsigned char)(v >> (8 * i));
}
static void put_u64(wbuf *w, uint64_t v) {
  for (int i = 0; i < 8; i++)
    w->p[w->n++] = (unsigned char)(v >> (8 * i));
}
static void put_f64(wbuf *w, double d) {
  uint64_t v;
  memcpy(&v, &d, 8);
  put_u64(w, v);
}
static void put_f32(wbuf *w, float f) {
  uint32_t v;
  memcpy(&v, &f, 4);
  put_u32(w, v);
}
static void put_str(wbuf *w, const char *s, size_t field) {
  size_t k = strnlen(s, field - 1);
  memcpy(w->p + w->n, s, k);
  memset(w->p + w->n + k, 0, field - k);
  w->n += field;
}

typedef struct rbuf {
  const unsigned char *p;
  size_t n, off;
} rbuf;

/* callers check the total size first, so these never read past the end */
static uint32_t get_u32(rbuf *r) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++)
    v |= (uint32_t)r->p[r->off++] << (8 * i);
  return v;
}
static uint64_t get_u64(rbuf *r) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v |= (uint64_t)r->p[r->off++] << (8 * i);
  return v;
}
static double get_f64(rbuf *r) {
  uint64_t v = get_u64(r);
  double d;
  memcpy(&d, &v, 8);
  return d;
}
static float get_f32(rbuf *r) {
  uint32_t v = get_u32(r);
  float f;
  memcpy(&f, &v, 4);
  return f;
}

static int sha256(const unsigned char *p, size_t n, unsigned char out[SHA_BYTES]) {
  unsigned int len = 0;
  return EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) == 1 && len == SHA_BYTES ? 0 : -1;
}

static size_t payload_bytes(size_t C, size_t L, unsigned bits) {
  size_t per_class = 4 + 8 * (ECO_ASSIGN_BUCKETS - 1) + 24 * L;
  size_t per_group = 8 + 8 + 24 * L;
  return C * ECO_DCLASS_LABEL_MAX + ECO_DMODEL_SOURCE_MAX + C * per_class +
         C * ECO_ASSIGN_BUCKETS * per_group + ((size_t)1 << bits) * C * 4;
}

static void put_stats(wbuf *w, const eco_level_stats *s, size_t L) {
  for (size_t l = 0; l < L; l++) {
    put_f64(w, s[l].energy_kwh);
    put_f64(w, s[l].time_s);
    put_f64(w, s[l].pref);
  }
}

int eco_dmodel_encode(const eco_dmodel *m, unsigned char **out, size_t *len, eco_error *err) {
  if (!m || !out || !len || !m->cls.w || m->cls.n_classes < 1 ||
      m->cls.n_classes > ECO_DCLASS_MAX_CLASSES || m->groups.n_tasks != m->cls.n_classes ||
      m->groups.n_levels < 1 || m->groups.n_levels > ECO_DIRECTIVE_MAX_LEVELS)
    return eco_error_set(err, ECO_EINVAL, "directive model: nothing to save");
  size_t C = m->cls.n_classes, L = m->groups.n_levels, pay = payload_bytes(C, L, m->cls.hash_bits);
  size_t total = HDR_BYTES + pay + SHA_BYTES;
  wbuf w = {malloc(total), 0};
  if (!w.p) return eco_error_set(err, ECO_ENOMEM, "directive model: out of memory");
  memcpy(w.p, MAGIC, 8);
  w.n = 8;
  put_u32(&w, ECO_DMODEL_VERSION);
  put_u32(&w, ECO_DMODEL_FEAT_VERSION);
  put_u32(&w, (uint32_t)C);
  put_u32(&w, (uint32_t)L);
  put_u32(&w, m->cls.hash_bits);
  put_u32(&w, ECO_ASSIGN_BUCKETS);
  put_u32(&w, m->has_costs ? FLAG_COSTS : 0);
  put_u32(&w, 0);
  put_u64(&w, pay);
  put_f64(&w, m->accuracy);
  put_u64(&w, m->n_train);
  for (size_t c = 0; c < C; c++)
    put_str(&w, m->cls.label[c], ECO_DCLASS_LABEL_MAX);
  put_str(&w, m->cost_source, ECO_DMODEL_SOURCE_MAX);
  for (size_t c = 0; c < C; c++) {
    put_f32(&w, m->cls.bias[c]);
    for (int b = 0; b < ECO_ASSIGN_BUCKETS - 1; b++)
      put_f64(&w, m->groups.len_edge[c][b]);
    put_stats(&w, m->groups.task_lv[c], L);
  }
  for (size_t c = 0; c < C; c++)
    for (int b = 0; b < ECO_ASSIGN_BUCKETS; b++) {
      const eco_assign_group *g = &m->groups.g[c][b];
      put_f64(&w, g->share);
      put_u64(&w, g->n_train);
      put_stats(&w, g->lv, L);
    }
  size_t nw = ((size_t)1 << m->cls.hash_bits) * C;
  for (size_t i = 0; i < nw; i++)
    put_f32(&w, m->cls.w[i]);
  if (sha256(w.p, w.n, w.p + w.n)) {
    free(w.p);
    return eco_error_set(err, ECO_EINTERNAL, "directive model: SHA-256 failed");
  }
  *out = w.p;
  *len = total;
  return 0;
}

/* --- decoding -------------------------------------------------------------- */
static bool finite_in(double v, double lo, double hi) { return isfinite(v) && v >= lo && v <= hi; }

static int get_label(rbuf *r, char *dst, size_t field, bool need, const char *what,
                     eco_error *err) {
  const unsigned char *s = r->p + r->off;
  size_t k = strnlen((const char *)s, field);
  r->off += field;
  if (k == field)
    return eco_error_set(err, ECO_EFORMAT, "directive model: %s not terminated", what);
  if (need && k == 0) return eco_error_set(err, ECO_EFORMAT, "directive model: empty %s", what);
  for (size_t i = 0; i < k; i++)
    if (s[i] < 0x20 || s[i] > 0x7e || s[i] == '"' || s[i] == '\\')
      return eco_error_set(err, ECO_EFORMAT, "directive model: %s has a byte 0x%02x", what, s[i]);
  for (size_t i = k; i < field; i++)
    if (s[i]) return eco_error_set(err, ECO_EFORMAT, "directive model: %s padding not zero", what);
  memcpy(dst, s, k + 1);
  return 0;
}

static int get_stats(rbuf *r, eco_level_stats *s, size_t L, eco_error *err) {
  for (size_t l = 0; l < L; l++) {
    s[l].energy_kwh = get_f64(r);
    s[l].time_s = get_f64(r);
    s[l].pref = get_f64(r);
    if (!finite_in(s[l].energy_kwh, 0, 1e3) || !finite_in(s[l].time_s, 0, 1e7) ||
        !finite_in(s[l].pref, 0, 1))
      return eco_error_set(err, ECO_EFORMAT, "directive model: level statistics out of range");
  }
  return 0;
}

static int decode_header(rbuf *r, size_t *C, size_t *L, unsigned *bits, eco_dmodel *m,
                         eco_error *err) {
  if (r->n < HDR_BYTES + SHA_BYTES)
    return eco_error_set(err, ECO_EFORMAT, "directive model: %zu bytes, too short", r->n);
  if (memcmp(r->p, MAGIC, 8) != 0)
    return eco_error_set(err, ECO_EFORMAT, "directive model: not a directive model file");
  r->off = 8;
  uint32_t ver = get_u32(r), fver = get_u32(r), c = get_u32(r), l = get_u32(r), b = get_u32(r),
           nb = get_u32(r), flags = get_u32(r), zero = get_u32(r);
  uint64_t pay = get_u64(r);
  m->accuracy = get_f64(r);
  uint64_t ntr = get_u64(r);
  if (ver != ECO_DMODEL_VERSION)
    return eco_error_set(err, ECO_EFORMAT,
                         "directive model: format version %u (this build reads %d)", ver,
                         ECO_DMODEL_VERSION);
  if (fver != ECO_DMODEL_FEAT_VERSION)
    return eco_error_set(err, ECO_EFORMAT,
                         "directive model: feature version %u (this build computes %d): retrain",
                         fver, ECO_DMODEL_FEAT_VERSION);
  if (c < 1 || c > ECO_DCLASS_MAX_CLASSES || l < 1 || l > ECO_DIRECTIVE_MAX_LEVELS ||
      b < ECO_DCLASS_MIN_BITS || b > ECO_DCLASS_MAX_BITS || nb != ECO_ASSIGN_BUCKETS ||
      (flags & ~FLAG_COSTS) || zero)
    return eco_error_set(err, ECO_EFORMAT,
                         "directive model: bad header (classes %u, levels %u, hash bits %u, "
                         "buckets %u, flags %u)",
                         c, l, b, nb, flags);
  if (!(m->accuracy == -1 || finite_in(m->accuracy, 0, 1)) || ntr > ((uint64_t)1 << 40))
    return eco_error_set(err, ECO_EFORMAT, "directive model: bad accuracy or training count");
  size_t want = payload_bytes(c, l, b);
  if (pay != want || r->n != HDR_BYTES + want + SHA_BYTES)
    return eco_error_set(err, ECO_EFORMAT,
                         "directive model: size %zu does not match its header (%zu expected)", r->n,
                         (size_t)(HDR_BYTES + want + SHA_BYTES));
  unsigned char md[SHA_BYTES];
  if (sha256(r->p, r->n - SHA_BYTES, md))
    return eco_error_set(err, ECO_EINTERNAL, "directive model: SHA-256 failed");
  if (memcmp(md, r->p + r->n - SHA_BYTES, SHA_BYTES) != 0)
    return eco_error_set(err, ECO_EFORMAT, "directive model: checksum mismatch (corrupt file)");
  *C = c, *L = l, *bits = b;
  m->has_costs = flags & FLAG_COSTS;
  m->n_train = (size_t)ntr;
  return 0;
}

static int decode_classes(rbuf *r, size_t C, size_t L, eco_dmodel *m, eco_error *err) {
  int rc;
  for (size_t c = 0; c < C; c++) {
    if ((rc = get_label(r, m->cls.label[c], ECO_DCLASS_LABEL_MAX, true, "label", err))) return rc;
    for (size_t d = 0; d < c; d++)
      if (strcmp(m->cls.label[c], m->cls.label[d]) == 0)
        return eco_error_set(err, ECO_EFORMAT, "directive model: label '%s' repeated",
                             m->cls.label[c]);
  }
  if ((rc = get_label(r, m->cost_source, ECO_DMODEL_SOURCE_MAX, false, "cost source", err)))
    return rc;
  for (size_t c = 0; c < C; c++) {
    m->cls.bias[c] = get_f32(r);
    if (!finite_in(m->cls.bias[c], -W_LIMIT, W_LIMIT))
      return eco_error_set(err, ECO_EFORMAT, "directive model: bias out of range");
    double prev = 0;
    for (int b = 0; b < ECO_ASSIGN_BUCKETS - 1; b++) {
      double e = get_f64(r);
      /* +inf marks a class without training prompts */
      if (isnan(e) || e < prev || (isinf(e) && e < 0))
        return eco_error_set(err, ECO_EFORMAT, "directive model: bad length bucket edges");
      m->groups.len_edge[c][b] = prev = e;
    }
    if ((rc = get_stats(r, m->groups.task_lv[c], L, err))) return rc;
  }
  for (size_t c = 0; c < C; c++)
    for (int b = 0; b < ECO_ASSIGN_BUCKETS; b++) {
      eco_assign_group *g = &m->groups.g[c][b];
      g->share = get_f64(r);
      uint64_t nt = get_u64(r);
      if (!finite_in(g->share, 0, 1) || nt > ((uint64_t)1 << 40))
        return eco_error_set(err, ECO_EFORMAT, "directive model: bad group share or count");
      g->n_train = (size_t)nt;
      if ((rc = get_stats(r, g->lv, L, err))) return rc;
    }
  return 0;
}

int eco_dmodel_decode(const unsigned char *buf, size_t len, eco_dmodel *m, eco_error *err) {
  if (!m) return eco_error_set(err, ECO_EINVAL, "directive model: no output");
  memset(m, 0, sizeof *m);
  if (!buf) return eco_error_set(err, ECO_EINVAL, "directive model: no input");
  rbuf r = {buf, len, 0};
  size_t C = 0, L = 0;
  unsigned bits = 0;
  int rc = decode_header(&r, &C, &L, &bits, m, err);
  if (rc || (rc = decode_classes(&r, C, L, m, err))) goto fail;
  size_t nw = ((size_t)1 << bits) * C;
  m->cls.w = malloc((nw ? nw : 1) * sizeof *m->cls.w);
  if (!m->cls.w) {
    rc = eco_error_set(err, ECO_ENOMEM, "directive model: out of memory");
    goto fail;
  }
  for (size_t i = 0; i < nw; i++) {
    float v = get_f32(&r);
    if (!finite_in(v, -W_LIMIT, W_LIMIT)) {
      rc = eco_error_set(err, ECO_EFORMAT, "directive model: weight %zu out of range", i);
      goto fail;
    }
    m->cls.w[i] = v;
  }
  m->cls.n_classes = C;
  m->cls.hash_bits = bits;
  m->groups.n_tasks = C;
  m->groups.n_levels = L;
  return 0;
fail:
  eco_dmodel_free(m);
  return rc;
}

int eco_dmodel_save(const eco_dmodel *m, const char *path, eco_error *err) {
  unsigned char *buf = NULL;
  size_t len = 0;
  int rc = eco_dmodel_encode(m, &buf, &len, err);
  if (!rc) rc = eco_fs_write_atomic(path, buf, len, err);
  free(buf);
  return rc;
}

int eco_dmodel_load(const char *path, eco_dmodel *m, eco_error *err) {
  if (m) memset(m, 0, sizeof *m);
  char *buf = NULL;
  size_t len = 0;
  int rc = eco_fs_read_all(path, ECO_DMODEL_MAX_BYTES, &buf, &len, err);
  if (rc) return rc;
  rc = eco_dmodel_decode((const unsigned char *)buf, len, m, err);
  if (rc) eco_error_prefix(err, "%s", path);
  free(buf);
  return rc;
}
