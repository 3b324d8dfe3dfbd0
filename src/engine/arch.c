/* ecoinfer: the architecture table and the hyperparameters of a GGUF file
 * (see arch.h). */
#include "engine/arch.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* --- metadata getters ------------------------------------------------------ */

static const char *akey(char *buf, size_t cap, const char *arch, const char *suffix) {
  snprintf(buf, cap, "%s.%s", arch, suffix);
  return buf;
}

/* <arch>.<suffix> as an int in [0, 2^30]; def when absent and optional. */
static int get_int(const eco_gguf *g, const char *arch, const char *suffix, int def, bool required,
                   int *out, eco_error *err) {
  char key[128];
  uint64_t v;
  int rc = eco_gguf_get_u64(g, akey(key, sizeof key, arch, suffix), &v);
  if (rc == ECO_ENOENT && !required) {
    *out = def;
    return 0;
  }
  if (rc)
    return eco_error_set(err, ECO_EFORMAT, "model: metadata '%s' %s", key,
                         rc == ECO_ENOENT   ? "is missing"
                         : rc == ECO_ERANGE ? "is negative"
                                            : "is not a valid integer");
  if (v > (1u << 30))
    return eco_error_set(err, ECO_EFORMAT, "model: '%s' = %llu is too large", key,
                         (unsigned long long)v);
  *out = (int)v;
  return 0;
}

/* Ranges of float keys: (lo, hi], or [lo, hi] with lo_closed. */
typedef struct frange {
  double lo, hi;
  bool lo_closed;
} frange;
static const frange R_EPS = {0, 1, false};      /* an epsilon is small and positive */
static const frange R_BASE = {1, 1e12, false};  /* a RoPE base: 10^4..10^6 in practice */
static const frange R_RATIO = {0, 1e6, true};   /* a scaling factor or a cap (0: none) */
static const frange R_FACTOR = {0, 1e6, false}; /* a multiplier */

/* <arch>.<suffix> as a float: absent -> def; present, a finite number in
 * range, else the load fails naming the key. */
static int get_float(const eco_gguf *g, const char *arch, const char *suffix, float def, frange r,
                     float *out, eco_error *err) {
  char key[128];
  double v;
  int rc = eco_gguf_get_f64(g, akey(key, sizeof key, arch, suffix), &v);
  if (rc == ECO_ENOENT) {
    *out = def;
    return 0;
  }
  if (rc) return eco_error_set(err, ECO_EFORMAT, "model: metadata '%s' is not a number", key);
  if (!isfinite(v) || !(r.lo_closed ? v >= r.lo : v > r.lo) || !(v <= r.hi))
    return eco_error_set(err, ECO_EFORMAT, "model: metadata '%s' = %g is out of range %c%g, %g]",
                         key, v, r.lo_closed ? '[' : '(', r.lo, r.hi);
  *out = (float)v;
  return 0;
}

static void set_swa(eco_hparams *h, int l, bool on) {
  if (on)
    h->swa_layers[l / 64] |= 1ull << (l % 64);
  else
    h->swa_layers[l / 64] &= ~(1ull << (l % 64));
}

/* Which layers slide: <arch>.attention.sliding_window_pattern is either a
 * per-layer array (bool or integer; missing trailing layers are global) or
 * an integer n: layer l slides unless l % n == n - 1 (n = 0: all slide).
 * def_pattern applies when the key is absent. As llama.cpp's
 * set_swa_pattern without dense_first. */
static int load_swa_pattern(const eco_gguf *g, eco_hparams *h, int def_pattern, eco_error *err) {
  char key[128];
  akey(key, sizeof key, h->arch_name, "attention.sliding_window_pattern");
  const eco_gguf_kv *kv = eco_gguf_find(g, key);
  memset(h->swa_layers, 0, sizeof h->swa_layers);
  if (kv && kv->type == ECO_GGUF_ARRAY) {
    const eco_gguf_vtype et = kv->v.arr.type;
    const size_t es = et == ECO_GGUF_BOOL || et == ECO_GGUF_UINT8 || et == ECO_GGUF_INT8 ? 1
                      : et == ECO_GGUF_UINT32 || et == ECO_GGUF_INT32                    ? 4
                                                                                         : 0;
    if (!es || kv->v.arr.n > (uint64_t)h->n_layer)
      return eco_error_set(err, ECO_EFORMAT,
                           "model: '%s' must be an array of at most %d booleans or integers", key,
                           h->n_layer);
    for (uint64_t l = 0; l < kv->v.arr.n; l++) {
      const uint8_t *p = kv->v.arr.data + l * es;
      set_swa(h, (int)l, es == 1 ? p[0] != 0 : (p[0] | p[1] | p[2] | p[3]) != 0);
    }
    return 0;
  }
  int n = def_pattern, rc = get_int(g, h->arch_name, "attention.sliding_window_pattern",
                                    def_pattern, false, &n, err);
  if (rc) return rc;
  for (int l = 0; l < h->n_layer; l++)
    set_swa(h, l, n == 0 || l % n < n - 1);
  return 0;
}

/* --- per-architecture keys --------------------------------------------------- */

static int hp_llama(const eco_gguf *g, eco_hparams *h, eco_error *err) {
  int rc = get_int(g, h->arch_name, "attention.sliding_window", 0, false, &h->n_swa, err);
  if (rc || h->n_swa == 0) return rc;
  /* Mistral-style: every layer slides unless a pattern says otherwise */
  return load_swa_pattern(g, h, 0, err);
}

/* Gemma 27B models scale queries by 1/sqrt(n_embd / n_head) (gemma_pytorch's
 * query_pre_attn_scalar), the others by 1/sqrt(head_dim). */
static void gemma_attn_scale(eco_hparams *h, int n_layer_27b) {
  h->attn_scale = h->n_layer == n_layer_27b ? 1.0f / sqrtf((float)(h->n_embd / h->n_head))
                                            : 1.0f / sqrtf((float)h->head_dim);
}

static int hp_gemma2(const eco_gguf *g, eco_hparams *h, eco_error *err) {
  const char *a = h->arch_name;
  int rc;
  h->rope_base_swa = h->rope_base;
  h->rope_freq_scale_swa = h->rope_freq_scale;
  if ((rc = get_int(g, a, "attention.sliding_window", 4096, false, &h->n_swa, err)) ||
      (rc = get_float(g, a, "rope.freq_base_swa", h->rope_base, R_BASE, &h->rope_base_swa, err)) ||
      (rc = get_float(g, a, "attn_logit_softcapping", 50.f, R_RATIO, &h->attn_softcap, err)) ||
      (rc = get_float(g, a, "final_logit_softcapping", 30.f, R_RATIO, &h->final_softcap, err)) ||
      (rc = load_swa_pattern(g, h, 2, err)))
    return rc;
  gemma_attn_scale(h, 46);
  return 0;
}

static int hp_gemma3(const eco_gguf *g, eco_hparams *h, eco_error *err) {
  const char *a = h->arch_name;
  int rc;
  if ((rc = get_int(g, a, "attention.sliding_window", 0, false, &h->n_swa, err)) ||
      (rc = get_float(g, a, "final_logit_softcapping", 0.f, R_RATIO, &h->final_softcap, err)))
    return rc;
  if (h->n_swa > 0) {
    h->rope_freq_scale_swa = 1.f;
    if ((rc = get_float(g, a, "rope.freq_base_swa", 10000.f, R_BASE, &h->rope_base_swa, err)) ||
        (rc = load_swa_pattern(g, h, 6, err)))
      return rc;
  }
  gemma_attn_scale(h, 62);
  return 0;
}

static int hp_phi3(const eco_gguf *g, eco_hparams *h, eco_error *err) {
  (void)g;
  (void)err;
  h->n_swa = 0; /* phi3's sliding_window key is ignored (llama.cpp disables it) */
  return 0;
}

static const eco_arch_desc archs[] = {
    {.name = "llama", .arch = ECO_ARCH_LLAMA, .rope_type = ECO_ROPE_NORM, .hparams = hp_llama},
    {.name = "qwen2", .arch = ECO_ARCH_QWEN2, .rope_type = ECO_ROPE_NEOX, .qkv_bias = true},
    {.name = "qwen3", .arch = ECO_ARCH_QWEN3, .rope_type = ECO_ROPE_NEOX, .qk_norm = true},
    {.name = "gemma2",
     .arch = ECO_ARCH_GEMMA2,
     .rope_type = ECO_ROPE_NEOX,
     .act = ECO_ACT_GELU,
     .post_norms = true,
     .embd_scale = true,
     .tied_only = true,
     .hparams = hp_gemma2},
    {.name = "gemma3",
     .arch = ECO_ARCH_GEMMA3,
     .rope_type = ECO_ROPE_NEOX,
     .act = ECO_ACT_GELU,
     .qk_norm = true,
     .post_norms = true,
     .embd_scale = true,
     .hparams = hp_gemma3},
    {.name = "phi3",
     .arch = ECO_ARCH_PHI3,
     .rope_type = ECO_ROPE_NEOX,
     .fused_gate_up = true,
     .hparams = hp_phi3},
};

const eco_arch_desc *eco_arch_find(const char *name) {
  for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
    if (strcmp(archs[i].name, name) == 0) return &archs[i];
  return NULL;
}

const char *eco_arch_names(void) { return "llama, qwen2, qwen3, gemma2, gemma3, phi3"; }

/* --- common keys ----------------------------------------------------------- */

/* rope.scaling.type (default linear, as llama.cpp) and its factor
 * (rope.scaling.factor, or the older rope.scale_linear). */
static int load_rope_scaling(const eco_gguf *g, eco_hparams *h, eco_error *err) {
  const char *a = h->arch_name;
  char key[128], stype[32] = "linear";
  int rc = eco_gguf_get_str(g, akey(key, sizeof key, a, "rope.scaling.type"), stype, sizeof stype);
  if (rc && rc != ECO_ENOENT)
    return eco_error_set(err, ECO_EFORMAT, "model: metadata '%s' is not a short string", key);
  if (strcmp(stype, "none") != 0 && strcmp(stype, "linear") != 0 && strcmp(stype, "longrope") != 0)
    return eco_error_set(err, ECO_EUNSUPPORTED,
                         "model: rope scaling '%s' is not supported (none, linear, longrope)",
                         stype);
  float factor = 0.f, lin = 0.f;
  if ((rc = get_float(g, a, "rope.scaling.factor", 0.f, R_RATIO, &factor, err)) ||
      (rc = get_float(g, a, "rope.scale_linear", 0.f, R_RATIO, &lin, err)))
    return rc;
  if (factor == 0.f) factor = lin;
  h->rope_freq_scale = factor == 0.f || strcmp(stype, "none") == 0 ? 1.f : 1.f / factor;
  h->rope_freq_scale_swa = h->rope_freq_scale;
  if ((rc =
           get_float(g, a, "rope.scaling.attn_factor", 1.f, R_FACTOR, &h->rope_attn_factor, err)) ||
      (rc = get_int(g, a, "rope.scaling.original_context_length", h->n_ctx_train, false,
                    &h->n_ctx_orig, err)))
    return rc;
  return 0;
}

static int load_common(const eco_gguf *g, eco_hparams *h, eco_error *err) {
  const char *a = h->arch_name;
  int rc;
  if ((rc = get_int(g, a, "embedding_length", 0, true, &h->n_embd, err)) ||
      (rc = get_int(g, a, "feed_forward_length", 0, true, &h->n_ff, err)) ||
      (rc = get_int(g, a, "block_count", 0, true, &h->n_layer, err)) ||
      (rc = get_int(g, a, "attention.head_count", 0, true, &h->n_head, err)) ||
      (rc = get_int(g, a, "attention.head_count_kv", h->n_head, false, &h->n_head_kv, err)) ||
      (rc = get_int(g, a, "context_length", 2048, false, &h->n_ctx_train, err)))
    return rc;
  if (h->n_head <= 0)
    return eco_error_set(err, ECO_EFORMAT, "model: metadata '%s.attention.head_count' is 0", a);
  if (h->n_layer < 1 || h->n_layer > ECO_MAX_LAYERS) /* before the pattern bitmap is filled */
    return eco_error_set(err, ECO_EFORMAT,
                         "model: metadata '%s.block_count' = %d is out of range [1, %d]", a,
                         h->n_layer, ECO_MAX_LAYERS);
  int v_dim = 0;
  if ((rc = get_int(g, a, "attention.key_length", h->n_embd / h->n_head, false, &h->head_dim,
                    err)) ||
      (rc = get_int(g, a, "attention.value_length", h->head_dim, false, &v_dim, err)) ||
      (rc = get_int(g, a, "rope.dimension_count", h->head_dim, false, &h->rope_dims, err)) ||
      (rc = get_float(g, a, "attention.layer_norm_rms_epsilon", 1e-5f, R_EPS, &h->rms_eps, err)) ||
      (rc = get_float(g, a, "rope.freq_base", 10000.f, R_BASE, &h->rope_base, err)))
    return rc;
  if (v_dim != h->head_dim)
    return eco_error_set(err, ECO_EUNSUPPORTED,
                         "model: key length %d and value length %d differ (not supported)",
                         h->head_dim, v_dim);
  h->rope_base_swa = 10000.f;
  h->embd_scale = 1.f;
  h->attn_scale = h->head_dim > 0 ? 1.0f / sqrtf((float)h->head_dim) : 1.f;
  return load_rope_scaling(g, h, err);
}

int eco_arch_load_hparams(const eco_gguf *g, eco_hparams *h, eco_error *err) {
  if (eco_gguf_get_str(g, "general.architecture", h->arch_name, sizeof h->arch_name))
    return eco_error_set(err, ECO_EFORMAT, "model: general.architecture is missing");
  const eco_arch_desc *d = eco_arch_find(h->arch_name);
  if (!d)
    return eco_error_set(err, ECO_EUNSUPPORTED,
                         "model: architecture '%s' is not supported (supported: %s)", h->arch_name,
                         eco_arch_names());
  h->arch = d->arch;
  h->rope_type = d->rope_type;
  h->act = d->act;
  int rc = load_common(g, h, err);
  if (rc) return rc;
  if (d->embd_scale) h->embd_scale = sqrtf((float)h->n_embd);
  if (d->hparams && (rc = d->hparams(g, h, err))) return rc;
  const eco_gguf_tensor *te = eco_gguf_find_tensor(g, "token_embd.weight");
  if (!te || te->n_dims != 2)
    return eco_error_set(err, ECO_EFORMAT, "model: tensor 'token_embd.weight' missing or not 2-D");
  if (te->ne[1] > (1u << 24))
    return eco_error_set(err, ECO_EFORMAT, "model: vocabulary of %llu tokens is too large",
                         (unsigned long long)te->ne[1]);
  h->n_vocab = (int)te->ne[1];
  return eco_arch_check_hparams(h, err);
}

/* A finite float in [lo, hi]. */
static bool in_range(float v, float lo, float hi) { return isfinite(v) && v >= lo && v <= hi; }

/* Every hyperparameter in range, named by its GGUF key (arch.suffix) when
 * it is not: a file with bad numbers fails at load, not with NaN later. */
int eco_arch_check_hparams(const eco_hparams *h, eco_error *err) {
  const struct {
    const char *key;
    int v, lo, hi;
  } ints[] = {
      {"embedding_length", h->n_embd, 1, 1 << 20},
      {"feed_forward_length", h->n_ff, 1, 1 << 22},
      {"block_count", h->n_layer, 1, ECO_MAX_LAYERS},
      {"attention.head_count", h->n_head, 1, 4096},
      {"attention.head_count_kv", h->n_head_kv, 1, 4096},
      {"attention.key_length", h->head_dim, 1, 4096},
      {"context_length", h->n_ctx_train, 1, 1 << 30},
      {"attention.sliding_window", h->n_swa, 0, 1 << 30},
  };
  if (h->n_vocab < 1 || h->n_vocab > (1 << 24))
    return eco_error_set(err, ECO_EFORMAT, "model: vocabulary of %d tokens is out of range",
                         h->n_vocab);
  for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
    if (ints[i].v < ints[i].lo || ints[i].v > ints[i].hi)
      return eco_error_set(err, ECO_EFORMAT,
                           "model: metadata '%s.%s' = %d is out of range [%d, %d]", h->arch_name,
                           ints[i].key, ints[i].v, ints[i].lo, ints[i].hi);
  if (h->n_head % h->n_head_kv)
    return eco_error_set(err, ECO_EFORMAT,
                         "model: metadata '%s.attention.head_count' = %d is not a multiple of "
                         "'%s.attention.head_count_kv' = %d",
                         h->arch_name, h->n_head, h->arch_name, h->n_head_kv);
  if (h->rope_dims <= 0 || h->rope_dims > h->head_dim || h->rope_dims % 2)
    return eco_error_set(err, ECO_EFORMAT,
                         "model: metadata '%s.rope.dimension_count' = %d must be even and within "
                         "1..%d (the head size)",
                         h->arch_name, h->rope_dims, h->head_dim);
  if ((int64_t)h->n_head * h->head_dim > (1 << 20))
    return eco_error_set(err, ECO_EFORMAT, "model: %d heads of %d dimensions are too wide",
                         h->n_head, h->head_dim);
  /* the float keys were range-checked as read; these hold for llama2.c too */
  if (!in_range(h->rms_eps, 0.f, 1.f) || !in_range(h->rope_base, 1.f, 1e12f) ||
      !in_range(h->rope_base_swa, 1.f, 1e12f) || !in_range(h->rope_freq_scale, 1e-6f, 1e6f) ||
      !in_range(h->rope_freq_scale_swa, 1e-6f, 1e6f) ||
      !in_range(h->rope_attn_factor, 1e-6f, 1e6f) || !in_range(h->attn_softcap, 0.f, 1e6f) ||
      !in_range(h->final_softcap, 0.f, 1e6f) || !in_range(h->attn_scale, 1e-9f, 1e6f) ||
      !in_range(h->embd_scale, 1e-9f, 1e6f))
    return eco_error_set(err, ECO_EFORMAT, "model: '%s': scale or soft-cap values out of range",
                         h->arch_name);
  return 0;
}
