/* ecoinfer: per-sequence KV caches (see model.h). */
#include "engine/model.h"

#include <stdlib.h>
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
