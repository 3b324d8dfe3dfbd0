/* ecoinfer: per-sequence KV caches (see model.h). */
#include "engine/model.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

uint64_t eco_kv_bytes_type(const eco_model *m, int n_ctx, eco_ggml_type type) {
  const uint64_t es = type == ECO_GGML_F16 ? 2 : 4;
  return 2ull * (uint64_t)m->hp.n_layer * (uint64_t)n_ctx * (uint64_t)m->hp.n_head_kv *
         (uint64_t)m->hp.head_dim * es;
}

uint64_t eco_kv_bytes(const eco_model *m, int n_ctx) {
  return eco_kv_bytes_type(m, n_ctx, ECO_GGML_F32);
}

int eco_kv_new_type(const eco_model *m, int n_ctx, eco_ggml_type type, eco_kv **out,
                    eco_error *err) {
  *out = NULL;
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
  const size_t n = (size_t)kv->n_layer * (size_t)n_ctx * (size_t)kv->kv_dim;
  const size_t es = type == ECO_GGML_F16 ? 2 : 4;
  /* calloc: pages are committed only as positions are filled */
  kv->k = calloc(n, es);
  kv->v = calloc(n, es);
  if (!kv->k || !kv->v) {
    eco_kv_free(kv);
    return eco_error_set(err, ECO_ENOMEM, "kv: cannot allocate %llu bytes for %d positions",
                         (unsigned long long)eco_kv_bytes_type(m, n_ctx, type), n_ctx);
  }
  *out = kv;
  return 0;
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

int eco_kv_new(const eco_model *m, int n_ctx, eco_kv **out, eco_error *err) {
  return eco_kv_new_type(m, n_ctx, ECO_GGML_F32, out, err);
}

void eco_kv_free(eco_kv *kv) {
  if (!kv) return;
  free(kv->k);
  free(kv->v);
  free(kv);
}

void eco_kv_truncate(eco_kv *kv, int n) {
  if (n >= 0 && n < kv->n_past) kv->n_past = n;
}

/* The cache holds one run of n_ctx positions per (layer, KV head); a block
 * holds the same runs cut to [pos, pos + n), K runs first, then V. Copies
 * cache -> out when out is set, else in -> cache. */
static void kv_copy(const eco_kv *kv, int pos, int n, uint8_t *out, const uint8_t *in) {
  const size_t es = kv->type == ECO_GGML_F16 ? 2 : 4;
  const size_t hd = (size_t)(kv->kv_dim / kv->n_head_kv);
  const size_t runs = (size_t)kv->n_layer * (size_t)kv->n_head_kv, len = (size_t)n * hd * es;
  for (int m = 0; m < 2; m++) {
    uint8_t *base = m ? kv->v : kv->k;
    for (size_t r = 0; r < runs; r++) {
      uint8_t *at = base + (r * (size_t)kv->n_ctx + (size_t)pos) * hd * es;
      if (out) {
        memcpy(out, at, len);
        out += len;
      } else {
        memcpy(at, in, len);
        in += len;
      }
    }
  }
}

int eco_kv_copy_out(const eco_kv *kv, int pos, int n, void *dst) {
  if (!kv || !dst || pos < 0 || n <= 0 || pos > kv->n_past - n) return ECO_EINVAL;
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
