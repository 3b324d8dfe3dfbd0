/* ecoinfer: per-sequence KV caches (see model.h). */
#include "engine/model.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Positions a sliding-window layer keeps in an n_ctx cache with this slack. */
static int ring_len(const eco_model *m, int n_ctx, int slack) {
  const int64_t r = (int64_t)m->hp.n_swa + slack;
  return m->hp.n_swa > 0 && r < n_ctx ? (int)r : n_ctx;
}

/* Positions layer l keeps in an n_ctx cache. */
static int layer_len(const eco_model *m, int l, int n_ctx, int ring) {
  return m->layers[l].swa ? ring : n_ctx;
}

uint64_t eco_kv_bytes_type(const eco_model *m, int n_ctx, eco_ggml_type type) {
  const uint64_t es = type == ECO_GGML_F16 ? 2 : 4;
  uint64_t positions = 0;
  for (int l = 0; l < m->hp.n_layer; l++)
    positions += (uint64_t)layer_len(m, l, n_ctx, ring_len(m, n_ctx, ECO_SWA_SLACK));
  return 2ull * positions * (uint64_t)m->hp.n_head_kv * (uint64_t)m->hp.head_dim * es;
}

uint64_t eco_kv_bytes(const eco_model *m, int n_ctx) {
  return eco_kv_bytes_type(m, n_ctx, ECO_GGML_F32);
}

int eco_kv_new_opts(const eco_model *m, int n_ctx, const eco_kv_opts *o, eco_kv **out,
                    eco_error *err) {
  static const eco_kv_opts defaults = {.type = ECO_GGML_F32};
  if (!o) o = &defaults;
  const eco_ggml_type type = o->type;
  *out = NULL;
  if (o->swa_slack < 0 || o->swa_slack > (1 << 24))
    return eco_error_set(err, ECO_EINVAL, "kv: sliding-window slack %d invalid", o->swa_slack);
  if (type != ECO_GGML_F32 && type != ECO_GGML_F16)
    return eco_error_set(err, ECO_EINVAL, "kv: cache type %s not supported (f32 or f16)",
                         eco_ggml_type_name(type));
  if (n_ctx <= 0 || n_ctx > (1 << 24))
    return eco_error_set(err, ECO_EINVAL, "kv: context length %d invalid", n_ctx);
  eco_kv *kv = calloc(1, sizeof *kv);
  if (!kv) return eco_error_set(err, ECO_ENOMEM, "kv: out of memory");
  kv->n_ctx = n_ctx;
  kv->n_layer = m->hp.n_layer;
  kv->kv_dim = m->hp.n_head_kv * m->hp.head_dim;
  kv->n_head_kv = m->hp.n_head_kv;
  kv->type = type;
  kv->n_swa = m->hp.n_swa;
  kv->swa_slack = o->swa_slack ? o->swa_slack : ECO_SWA_SLACK;
  kv->ring = o->swa_unbounded ? n_ctx : ring_len(m, n_ctx, kv->swa_slack);
  kv->scan_lo = -1;
  kv->len = malloc((size_t)kv->n_layer * sizeof *kv->len);
  kv->off = malloc((size_t)kv->n_layer * sizeof *kv->off);
  if (!kv->len || !kv->off) {
    eco_kv_free(kv);
    return eco_error_set(err, ECO_ENOMEM, "kv: out of memory");
  }
  size_t n = 0;
  for (int l = 0; l < kv->n_layer; l++) {
    kv->len[l] = layer_len(m, l, n_ctx, kv->ring);
    kv->off[l] = n;
    n += (size_t)kv->len[l] * (size_t)kv->kv_dim;
  }
  const size_t es = type == ECO_GGML_F16 ? 2 : 4;
  /* calloc: pages are committed only as positions are filled */
  kv->k = calloc(n ? n : 1, es);
  kv->v = calloc(n ? n : 1, es);
  if (!kv->k || !kv->v) {
    eco_kv_free(kv);
    return eco_error_set(err, ECO_ENOMEM, "kv: cannot allocate %llu bytes for %d positions",
                         (unsigned long long)n * es * 2, n_ctx);
  }
  *out = kv;
  return 0;
}

int eco_kv_new_type(const eco_model *m, int n_ctx, eco_ggml_type type, eco_kv **out,
                    eco_error *err) {
  const eco_kv_opts o = {.type = type};
  return eco_kv_new_opts(m, n_ctx, &o, out, err);
}

int eco_kv_type_parse(const char *s, eco_ggml_type *out) {
  if (!s) return ECO_EINVAL;
  if (strcasecmp(s, "f32") == 0)
    *out = ECO_GGML_F32;
  else if (strcasecmp(s, "f16") == 0)
    *out = ECO_GGML_F16;
  else
    return ECO_EINVAL;
  return 0;
}

const char *eco_kv_type_name(eco_ggml_type type) { return type == ECO_GGML_F16 ? "f16" : "f32"; }

int eco_kv_new(const eco_model *m, int n_ctx, eco_kv **out, eco_error *err) {
  return eco_kv_new_type(m, n_ctx, ECO_GGML_F32, out, err);
}

void eco_kv_free(eco_kv *kv) {
  if (!kv) return;
  free(kv->k);
  free(kv->v);
  free(kv->len);
  free(kv->off);
  free(kv);
}

int eco_kv_truncate(eco_kv *kv, int n) {
  if (n < 0 || n >= kv->n_past) return 0;
  if (kv->ring < kv->n_ctx && n > 0) {
    /* the next token (position n) reads n - n_swa + 1 .. n - 1, which the
     * ring still holds only if they are above the highest written position
     * minus the ring's length */
    const int need = n - kv->n_swa + 1 > 0 ? n - kv->n_swa + 1 : 0;
    if (need <= kv->n_past - 1 - kv->ring) return ECO_ESTATE;
  }
  kv->n_past = n;
  return 0;
}

/* Copies one (layer, head) run of n positions from pos between the cache
 * (slot p % L of the run at `run`) and the block (`blk`, contiguous). */
static void copy_run(uint8_t *run, int L, int pos, int n, size_t row, uint8_t *out,
                     const uint8_t *in) {
  int first = pos;
  if (in && n > L) first = pos + n - L; /* earlier ones would be overwritten in the ring */
  for (int p = first; p < pos + n;) {
    const int slot = p % L, k = L - slot < pos + n - p ? L - slot : pos + n - p;
    uint8_t *at = run + (size_t)slot * row;
    const size_t off = (size_t)(p - pos) * row, len = (size_t)k * row;
    if (out)
      memcpy(out + off, at, len);
    else
      memcpy(at, in + off, len);
    p += k;
  }
}

/* A block holds, for K then V, for each layer and KV head, the run of
 * positions [pos, pos + n). Copies cache -> out when out is set, else
 * in -> cache. */
static void kv_copy(const eco_kv *kv, int pos, int n, uint8_t *out, const uint8_t *in) {
  const size_t es = kv->type == ECO_GGML_F16 ? 2 : 4;
  const size_t hd = (size_t)(kv->kv_dim / kv->n_head_kv), row = hd * es, len = (size_t)n * row;
  size_t at = 0; /* bytes of the block done */
  for (int m = 0; m < 2; m++) {
    uint8_t *base = m ? kv->v : kv->k;
    for (int l = 0; l < kv->n_layer; l++)
      for (int kh = 0; kh < kv->n_head_kv; kh++, at += len) {
        uint8_t *run = base + (kv->off[l] + (size_t)kh * (size_t)kv->len[l] * hd) * es;
        copy_run(run, kv->len[l], pos, n, row, out ? out + at : NULL, in ? in + at : NULL);
      }
  }
}

/* Whether every layer still holds positions [pos, ...). */
static bool holds(const eco_kv *kv, int pos) {
  for (int l = 0; l < kv->n_layer; l++)
    if (pos <= kv->n_past - 1 - kv->len[l]) return false;
  return true;
}

int eco_kv_copy_out(const eco_kv *kv, int pos, int n, void *dst) {
  if (!kv || !dst || pos < 0 || n <= 0 || pos > kv->n_past - n) return ECO_EINVAL;
  if (!holds(kv, pos)) return ECO_ESTATE;
  kv_copy(kv, pos, n, dst, NULL);
  return 0;
}

int eco_kv_copy_in(eco_kv *kv, int pos, int n, const void *src) {
  if (!kv || !src || pos < 0 || n <= 0 || pos > kv->n_past || pos > kv->n_ctx - n)
    return ECO_EINVAL;
  kv_copy(kv, pos, n, NULL, src);
  if (pos + n > kv->n_past) kv->n_past = pos + n;
  return 0;
}
