/* ecoinfer: model loading (GGUF, llama2.c) and the batched forward pass. */
#include "engine/model.h"
#include "engine/kernels.h"
#include "engine/pack.h"
#include "engine/pool.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------------- */
/* loading                                                                     */
/* ------------------------------------------------------------------------- */

typedef struct loader {
  eco_model *m;
  eco_error *err;
  size_t n_owned, cap_owned; /* floats used / allocated in m->owned */
} loader;

static int get_int(const eco_gguf *g, const char *arch, const char *suffix, int def, bool required,
                   int *out, eco_error *err) {
  char key[128];
  snprintf(key, sizeof key, "%s.%s", arch, suffix);
  uint64_t v;
  int rc = eco_gguf_get_u64(g, key, &v);
  if (rc == ECO_ENOENT && !required) {
    *out = def;
    return 0;
  }
  if (rc)
    return eco_error_set(err, ECO_EFORMAT, "model: metadata '%s' %s", key,
                         rc == ECO_ENOENT ? "is missing" : "is not a valid integer");
  if (v > (1u << 30))
    return eco_error_set(err, ECO_EFORMAT, "model: '%s' = %llu is too large", key,
                         (unsigned long long)v);
  *out = (int)v;
  return 0;
}

static float get_float(const eco_gguf *g, const char *arch, const char *suffix, float def) {
  char key[128];
  snprintf(key, sizeof key, "%s.%s", arch, suffix);
  double v;
  return eco_gguf_get_f64(g, key, &v) == 0 ? (float)v : def;
}

/* A 2-D weight with the expected shape; optional weights may be absent. */
static int bind_weight(loader *L, const char *name, int64_t rows, int64_t cols, bool optional,
                       eco_weight *w) {
  const eco_gguf_tensor *t = eco_gguf_find_tensor(L->m->gguf, name);
  memset(w, 0, sizeof *w);
  if (!t) {
    if (optional) return 0;
    return eco_error_set(L->err, ECO_EFORMAT, "model: tensor '%s' is missing", name);
  }
  if ((int64_t)t->ne[0] != cols || (int64_t)t->ne[1] != rows || t->ne[2] != 1 || t->ne[3] != 1)
    return eco_error_set(L->err, ECO_EFORMAT,
                         "model: tensor '%s' has shape [%llu, %llu], expected [%lld, %lld]", name,
                         (unsigned long long)t->ne[0], (unsigned long long)t->ne[1],
                         (long long)cols, (long long)rows);
  if (!eco_quant_supported(t->type))
    return eco_error_set(L->err, ECO_EUNSUPPORTED,
                         "model: tensor '%s' has type %s, which this engine does not support "
                         "(supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K)",
                         name, eco_ggml_type_name(t->type));
  w->type = t->type;
  w->rows = rows;
  w->cols = cols;
  w->row_bytes = eco_quant_row_bytes(t->type, cols);
  w->data = t->data;
  L->m->weight_bytes += t->n_bytes;
  return 0;
}

/* A 1-D F32 vector (converted from F16/BF16 if needed). */
static int bind_vec(loader *L, const char *name, int64_t n, bool optional, const float **out) {
  const eco_gguf_tensor *t = eco_gguf_find_tensor(L->m->gguf, name);
  *out = NULL;
  if (!t) {
    if (optional) return 0;
    return eco_error_set(L->err, ECO_EFORMAT, "model: tensor '%s' is missing", name);
  }
  if ((int64_t)t->n_elements != n)
    return eco_error_set(L->err, ECO_EFORMAT, "model: tensor '%s' has %llu elements, expected %lld",
                         name, (unsigned long long)t->n_elements, (long long)n);
  L->m->weight_bytes += t->n_bytes;
  if (t->type == ECO_GGML_F32 && ((uintptr_t)t->data % 4) == 0) {
    *out = t->data;
    return 0;
  }
  if (t->type != ECO_GGML_F16 && t->type != ECO_GGML_BF16 && t->type != ECO_GGML_F32)
    return eco_error_set(L->err, ECO_EUNSUPPORTED, "model: vector '%s' has unsupported type %s",
                         name, eco_ggml_type_name(t->type));
  if (L->n_owned + (size_t)n > L->cap_owned)
    return eco_error_set(L->err, ECO_EINTERNAL, "model: vector arena too small");
  float *dst = L->m->owned + L->n_owned;
  eco_dequantize_row(t->type, t->data, dst, n);
  L->n_owned += (size_t)n;
  *out = dst;
  return 0;
}

/* The 7 matrices of layer *y, as an array initializer (const or not). */
#define LAYER_MATRICES(y)                                                                          \
  { &(y)->wq, &(y)->wk, &(y)->wv, &(y)->wo, &(y)->w_gate, &(y)->w_up, &(y)->w_down }
#define N_LAYER_MATRICES 7

static void describe_type(eco_model *m) {
  /* the type of most weight bytes, with the K-mix reported as Q4_K_M-like */
  uint64_t by[ECO_N_TYPES] = {0};
  for (int l = 0; l < m->hp.n_layer; l++) {
    const eco_weight *ws[] = LAYER_MATRICES(&m->layers[l]);
    for (size_t i = 0; i < N_LAYER_MATRICES; i++)
      if ((int)ws[i]->type < ECO_N_TYPES) by[ws[i]->type] += ws[i]->row_bytes * ws[i]->rows;
  }
  int best = 0;
  for (int t = 0; t < ECO_N_TYPES; t++)
    if (by[t] > by[best]) best = t;
  if (best == ECO_GGML_Q4_K && by[ECO_GGML_Q6_K] > 0)
    snprintf(m->file_type, sizeof m->file_type, "Q4_K_M");
  else
    snprintf(m->file_type, sizeof m->file_type, "%s", eco_ggml_type_name((eco_ggml_type)best));
}

/* Bytes a decode step reads of w: its packed form when packed. */
static uint64_t matrix_bytes(const eco_weight *w) {
  if (w->packed) return eco_pack_bytes(w->type, w->rows, w->cols);
  return (uint64_t)w->row_bytes * (uint64_t)w->rows;
}

static void compute_bytes_per_token(eco_model *m) {
  uint64_t b = 0;
  for (int l = 0; l < m->hp.n_layer; l++) {
    const eco_weight *ws[] = LAYER_MATRICES(&m->layers[l]);
    for (size_t i = 0; i < N_LAYER_MATRICES; i++)
      b += matrix_bytes(ws[i]);
    b += 2ull * (uint64_t)m->hp.n_embd * 4;
  }
  b += matrix_bytes(&m->output);
  b += m->tok_embd.row_bytes + (uint64_t)m->hp.n_embd * 4;
  m->weight_bytes_per_token = b;
}

static int check_hparams(eco_model *m, eco_error *err) {
  eco_hparams *h = &m->hp;
  if (h->n_embd <= 0 || h->n_layer <= 0 || h->n_head <= 0 || h->n_head_kv <= 0 || h->n_ff <= 0 ||
      h->n_vocab <= 0 || h->head_dim <= 0)
    return eco_error_set(err, ECO_EFORMAT, "model: hyperparameters must be positive");
  if (h->n_head % h->n_head_kv)
    return eco_error_set(err, ECO_EFORMAT, "model: n_head %d is not a multiple of n_head_kv %d",
                         h->n_head, h->n_head_kv);
  if (h->rope_dims <= 0 || h->rope_dims > h->head_dim || h->rope_dims % 2)
    return eco_error_set(err, ECO_EFORMAT, "model: rope dimension count %d invalid", h->rope_dims);
  if (h->n_layer > 4096 || h->head_dim > 4096)
    return eco_error_set(err, ECO_EFORMAT, "model: hyperparameters out of range");
  return 0;
}

static int load_gguf(const char *path, eco_model *m, eco_error *err) {
  int rc = eco_gguf_open(path, &m->gguf, err);
  if (rc) return rc;
  const eco_gguf *g = m->gguf;
  eco_hparams *h = &m->hp;
  if (eco_gguf_get_str(g, "general.architecture", h->arch_name, sizeof h->arch_name))
    return eco_error_set(err, ECO_EFORMAT, "model: general.architecture is missing");
  if (strcmp(h->arch_name, "llama") == 0) {
    h->arch = ECO_ARCH_LLAMA;
    h->rope_type = ECO_ROPE_NORM;
  } else if (strcmp(h->arch_name, "qwen2") == 0) {
    h->arch = ECO_ARCH_QWEN2;
    h->rope_type = ECO_ROPE_NEOX;
  } else {
    return eco_error_set(err, ECO_EUNSUPPORTED,
                         "model: architecture '%s' is not supported (supported: llama, qwen2)",
                         h->arch_name);
  }
  const char *a = h->arch_name;
  if ((rc = get_int(g, a, "embedding_length", 0, true, &h->n_embd, err)) ||
      (rc = get_int(g, a, "feed_forward_length", 0, true, &h->n_ff, err)) ||
      (rc = get_int(g, a, "block_count", 0, true, &h->n_layer, err)) ||
      (rc = get_int(g, a, "attention.head_count", 0, true, &h->n_head, err)) ||
      (rc = get_int(g, a, "attention.head_count_kv", h->n_head, false, &h->n_head_kv, err)) ||
      (rc = get_int(g, a, "context_length", 2048, false, &h->n_ctx_train, err)))
    return rc;
  if (h->n_head <= 0) return eco_error_set(err, ECO_EFORMAT, "model: head_count is 0");
  if ((rc = get_int(g, a, "attention.key_length", h->n_embd / h->n_head, false, &h->head_dim,
                    err)) ||
      (rc = get_int(g, a, "rope.dimension_count", h->head_dim, false, &h->rope_dims, err)))
    return rc;
  h->rms_eps = get_float(g, a, "attention.layer_norm_rms_epsilon", 1e-5f);
  h->rope_base = get_float(g, a, "rope.freq_base", 10000.f);
  h->rope_freq_scale = 1.f;
  char key[128], stype[32];
  snprintf(key, sizeof key, "%s.rope.scaling.type", a);
  float factor = get_float(g, a, "rope.scaling.factor", 0.f);
  if (eco_gguf_get_str(g, key, stype, sizeof stype) == 0) {
    if (strcmp(stype, "linear") == 0 && factor > 0)
      h->rope_freq_scale = 1.f / factor;
    else if (strcmp(stype, "none") != 0 && strcmp(stype, "linear") != 0)
      return eco_error_set(err, ECO_EUNSUPPORTED, "model: rope scaling '%s' is not supported",
                           stype);
  } else {
    float lin = get_float(g, a, "rope.scale_linear", 0.f);
    if (lin > 0) h->rope_freq_scale = 1.f / lin;
  }
  const eco_gguf_tensor *te = eco_gguf_find_tensor(g, "token_embd.weight");
  if (!te || te->n_dims != 2)
    return eco_error_set(err, ECO_EFORMAT, "model: tensor 'token_embd.weight' missing or not 2-D");
  if (te->ne[1] > (1u << 24))
    return eco_error_set(err, ECO_EFORMAT, "model: vocabulary of %llu tokens is too large",
                         (unsigned long long)te->ne[1]);
  h->n_vocab = (int)te->ne[1];
  if ((rc = check_hparams(m, err))) return rc;

  loader L = {.m = m, .err = err};
  /* arena for vectors that need conversion: norms and biases */
  L.cap_owned =
      (size_t)h->n_layer *
          (2 * (size_t)h->n_embd + (size_t)(h->n_head + 2 * h->n_head_kv) * (size_t)h->head_dim) +
      (size_t)h->n_embd + (size_t)h->head_dim;
  m->owned = calloc(L.cap_owned, sizeof(float));
  m->layers = calloc((size_t)h->n_layer, sizeof *m->layers);
  if (!m->owned || !m->layers) return eco_error_set(err, ECO_ENOMEM, "model: out of memory");
  const int64_t E = h->n_embd, Q = (int64_t)h->n_head * h->head_dim,
                KV = (int64_t)h->n_head_kv * h->head_dim, F = h->n_ff;
  if ((rc = bind_weight(&L, "token_embd.weight", h->n_vocab, E, false, &m->tok_embd)) ||
      (rc = bind_vec(&L, "output_norm.weight", E, false, &m->out_norm)) ||
      (rc = bind_weight(&L, "output.weight", h->n_vocab, E, true, &m->output)))
    return rc;
  if (!m->output.data) {
    m->output = m->tok_embd;
    h->tied_output = true;
  }
  if ((rc = bind_vec(&L, "rope_freqs.weight", h->rope_dims / 2, true, &m->rope_freqs))) return rc;
  for (int l = 0; l < h->n_layer; l++) {
    eco_layer *y = &m->layers[l];
    char n[96];
#define NAME(s) (snprintf(n, sizeof n, "blk.%d.%s", l, s), n)
    if ((rc = bind_vec(&L, NAME("attn_norm.weight"), E, false, &y->attn_norm)) ||
        (rc = bind_weight(&L, NAME("attn_q.weight"), Q, E, false, &y->wq)) ||
        (rc = bind_weight(&L, NAME("attn_k.weight"), KV, E, false, &y->wk)) ||
        (rc = bind_weight(&L, NAME("attn_v.weight"), KV, E, false, &y->wv)) ||
        (rc = bind_weight(&L, NAME("attn_output.weight"), E, Q, false, &y->wo)) ||
        (rc = bind_vec(&L, NAME("ffn_norm.weight"), E, false, &y->ffn_norm)) ||
        (rc = bind_weight(&L, NAME("ffn_gate.weight"), F, E, false, &y->w_gate)) ||
        (rc = bind_weight(&L, NAME("ffn_up.weight"), F, E, false, &y->w_up)) ||
        (rc = bind_weight(&L, NAME("ffn_down.weight"), E, F, false, &y->w_down)))
      return rc;
    bool need_bias = h->arch == ECO_ARCH_QWEN2;
    if ((rc = bind_vec(&L, NAME("attn_q.bias"), Q, !need_bias, &y->bq)) ||
        (rc = bind_vec(&L, NAME("attn_k.bias"), KV, !need_bias, &y->bk)) ||
        (rc = bind_vec(&L, NAME("attn_v.bias"), KV, !need_bias, &y->bv)))
      return rc;
#undef NAME
  }
  return 0;
}

/* llama2.c checkpoint: 7 int32 header then F32 arrays (see run.c there). */
static int load_llama2c(const char *path, eco_model *m, eco_error *err) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return eco_error_set(err, eco_status_from_errno(errno), "model: cannot open '%s': %s", path,
                         strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size < 28) {
    close(fd);
    return eco_error_set(err, ECO_EFORMAT, "model: '%s' is too short for a llama2.c checkpoint",
                         path);
  }
  m->map_size = (size_t)st.st_size;
  m->map = mmap(NULL, m->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (m->map == MAP_FAILED) {
    m->map = NULL;
    return eco_error_set(err, ECO_EIO, "model: cannot map '%s'", path);
  }
  int32_t hd[7];
  memcpy(hd, m->map, sizeof hd);
  eco_hparams *h = &m->hp;
  snprintf(h->arch_name, sizeof h->arch_name, "llama");
  h->arch = ECO_ARCH_LLAMA;
  h->rope_type = ECO_ROPE_NORM;
  h->n_embd = hd[0];
  h->n_ff = hd[1];
  h->n_layer = hd[2];
  h->n_head = hd[3];
  h->n_head_kv = hd[4];
  h->tied_output = hd[5] > 0;
  h->n_vocab = hd[5] > 0 ? hd[5] : -(int64_t)hd[5] > INT32_MAX ? 0 : -hd[5];
  h->n_ctx_train = hd[6];
  for (int i = 0; i < 7; i++)
    if (hd[i] == 0 || (i != 5 && (hd[i] < 0 || hd[i] > (1 << 20))))
      return eco_error_set(err, ECO_EFORMAT, "model: '%s': implausible llama2.c header", path);
  if (h->n_head <= 0 || h->n_embd % h->n_head)
    return eco_error_set(err, ECO_EFORMAT, "model: '%s': dim not a multiple of n_heads", path);
  h->head_dim = h->n_embd / h->n_head;
  h->rope_dims = h->head_dim;
  h->rms_eps = 1e-5f;
  h->rope_base = 10000.f;
  h->rope_freq_scale = 1.f;
  int rc = check_hparams(m, err);
  if (rc) return rc;
  const uint64_t E = (uint64_t)h->n_embd, F = (uint64_t)h->n_ff, L = (uint64_t)h->n_layer,
                 V = (uint64_t)h->n_vocab, KV = (uint64_t)h->n_head_kv * (uint64_t)h->head_dim,
                 S = (uint64_t)h->n_ctx_train, HS = (uint64_t)h->head_dim;
  uint64_t need = V * E + L * E + L * E * E + 2 * L * E * KV + L * E * E + L * E + 3 * L * E * F +
                  E + S * HS + (h->tied_output ? 0 : V * E);
  if (need > (m->map_size - 28) / 4)
    return eco_error_set(err, ECO_EFORMAT,
                         "model: '%s': %zu bytes, but the header describes %llu floats", path,
                         m->map_size, (unsigned long long)need);
  const float *p = (const float *)(const void *)((const uint8_t *)m->map + 28);
  m->layers = calloc(L, sizeof *m->layers);
  if (!m->layers) return eco_error_set(err, ECO_ENOMEM, "model: out of memory");
#define W(rows_, cols_, ptr)                                                                       \
  (eco_weight){.type = ECO_GGML_F32,                                                               \
               .rows = (int64_t)(rows_),                                                           \
               .cols = (int64_t)(cols_),                                                           \
               .row_bytes = (size_t)(cols_)*4,                                                     \
               .data = (ptr)}
  m->tok_embd = W(V, E, p);
  p += V * E;
  for (uint64_t l = 0; l < L; l++)
    m->layers[l].attn_norm = p + l * E;
  p += L * E;
  for (uint64_t l = 0; l < L; l++)
    m->layers[l].wq = W(E, E, p + l * E * E);
  p += L * E * E;
  for (uint64_t l = 0; l < L; l++)
    m->layers[l].wk = W(KV, E, p + l * E * KV);
  p += L * E * KV;
  for (uint64_t l = 0; l < L; l++)
    m->layers[l].wv = W(KV, E, p + l * E * KV);
  p += L * E * KV;
  for (uint64_t l = 0; l < L; l++)
    m->layers[l].wo = W(E, E, p + l * E * E);
  p += L * E * E;
  for (uint64_t l = 0; l < L; l++)
    m->layers[l].ffn_norm = p + l * E;
  p += L * E;
  for (uint64_t l = 0; l < L; l++)
    m->layers[l].w_gate = W(F, E, p + l * E * F);
  p += L * E * F;
  for (uint64_t l = 0; l < L; l++)
    m->layers[l].w_down = W(E, F, p + l * E * F);
  p += L * E * F;
  for (uint64_t l = 0; l < L; l++)
    m->layers[l].w_up = W(F, E, p + l * E * F);
  p += L * E * F;
  m->out_norm = p;
  p += E;
  p += S * HS; /* freq_cis_real and freq_cis_imag (S * HS/2 each): RoPE is computed */
  m->output = h->tied_output ? m->tok_embd : W(V, E, p);
#undef W
  m->weight_bytes = (need - S * HS) * 4;
  return 0;
}

/* Whether this CPU's kernels pack weight w (pack.h). */
static bool will_pack(const eco_kernels *k, const eco_weight *w) {
  return w->data && eco_pack_supported(w->type) && k->pdot[w->type] &&
         eco_pack_group_bytes(w->type, w->cols) > 0;
}

/* Packs w into dst, then releases the file pages it was read from. */
static void repack_weight(eco_weight *w, void *dst) {
  const size_t gb = eco_pack_group_bytes(w->type, w->cols);
  const int64_t groups = (w->rows + ECO_PACK_ROWS - 1) / ECO_PACK_ROWS;
  for (int64_t g = 0; g < groups; g++)
    eco_pack_group(w->type, w->cols, w->data, w->row_bytes, w->rows, g,
                   (uint8_t *)dst + gb * (size_t)g);
  w->packed = dst;
  /* drop the now unused file pages (only whole pages inside the tensor);
   * later reads of `data` (embedding rows of a tied output) fault them in */
  const long pg = sysconf(_SC_PAGESIZE);
  if (pg > 0) {
    const uintptr_t a = ((uintptr_t)w->data + (uintptr_t)pg - 1) & ~((uintptr_t)pg - 1);
    const uintptr_t e =
        ((uintptr_t)w->data + w->row_bytes * (size_t)w->rows) & ~((uintptr_t)pg - 1);
    if (e > a) (void)madvise((void *)a, e - a, MADV_DONTNEED);
  }
}

#define PACK_ALIGN ((size_t)2 << 20) /* 2 MiB: transparent huge pages */

static size_t packed_size(const eco_weight *w) {
  return (eco_pack_bytes(w->type, w->rows, w->cols) + 63) & ~(size_t)63;
}

typedef struct pack_job {
  eco_weight **ws; /* [n] matrices to pack */
  uint8_t **dst;   /* [n] where each goes */
} pack_job;

static void pack_worker(void *arg, int i, int n) {
  (void)n;
  const pack_job *j = arg;
  repack_weight(j->ws[i], j->dst[i]);
}

/* Repacks every matrix this CPU has packed kernels for into one anonymous
 * mapping that asks for huge pages: decode streams all weights every
 * token, and 4 KiB pages would cost a TLB miss every 4 KiB. */
static int repack_model(eco_model *m, eco_error *err) {
  eco_cpu_info ci;
  eco_cpu_detect(&ci);
  eco_kernels k;
  eco_kernels_init(&k, ci.level);
  const int nw = N_LAYER_MATRICES * m->hp.n_layer + 1;
  eco_weight **ws = malloc((size_t)nw * sizeof *ws);
  if (!ws) return eco_error_set(err, ECO_ENOMEM, "model: out of memory");
  for (int l = 0; l < m->hp.n_layer; l++) {
    eco_weight *lw[] = LAYER_MATRICES(&m->layers[l]);
    memcpy(ws + N_LAYER_MATRICES * l, lw, sizeof lw);
  }
  ws[nw - 1] = &m->output;
  size_t total = 0;
  for (int i = 0; i < nw; i++)
    if (will_pack(&k, ws[i])) total += packed_size(ws[i]);
  if (total == 0) {
    free(ws);
    return 0;
  }
  const size_t len = (total + PACK_ALIGN - 1) & ~(PACK_ALIGN - 1);
  /* one extra huge page so that the arena can start on a boundary */
  uint8_t *raw =
      mmap(NULL, len + PACK_ALIGN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) { /* no memory for a copy: keep the file layout */
    free(ws);
    return 0;
  }
  uint8_t *arena = (uint8_t *)(((uintptr_t)raw + PACK_ALIGN - 1) & ~(uintptr_t)(PACK_ALIGN - 1));
  if (arena > raw) munmap(raw, (size_t)(arena - raw));
  const size_t tail = (size_t)((raw + len + PACK_ALIGN) - (arena + len));
  if (tail) munmap(arena + len, tail);
#ifdef MADV_HUGEPAGE
  (void)madvise(arena, len, MADV_HUGEPAGE); /* a hint: fine if refused */
#endif
  m->pack_arena = arena;
  m->pack_arena_len = len;
  /* one matrix per chunk, on every core: packing (and the kernel zeroing
   * the new pages) would otherwise be most of the load time */
  uint8_t **dst = malloc((size_t)nw * sizeof *dst);
  eco_pool *pool = NULL;
  const int nth = ci.logical_cpus > 1 ? (ci.logical_cpus < 16 ? ci.logical_cpus : 16) : 1;
  if (!dst || eco_pool_new(nth, &pool, NULL)) { /* keep the file layout */
    munmap(arena, len);
    m->pack_arena = NULL;
    m->pack_arena_len = 0;
    free(dst);
    free(ws);
    return 0;
  }
  int n = 0;
  size_t off = 0;
  for (int i = 0; i < nw; i++)
    if (will_pack(&k, ws[i])) {
      ws[n] = ws[i];
      dst[n++] = arena + off;
      off += packed_size(ws[i]);
    }
  pack_job job = {ws, dst};
  eco_pool_run(pool, pack_worker, &job, n);
  eco_pool_free(pool);
  m->packed_bytes = total;
  free(dst);
  free(ws);
  return 0;
}

int eco_model_load(const char *path, eco_model **out, eco_error *err) {
  return eco_model_load_opts(path, NULL, out, err);
}

int eco_model_load_opts(const char *path, const eco_model_opts *opts, eco_model **out,
                        eco_error *err) {
  *out = NULL;
  eco_model *m = calloc(1, sizeof *m);
  if (!m) return eco_error_set(err, ECO_ENOMEM, "model: out of memory");
  FILE *f = fopen(path, "rb");
  if (!f) {
    int e = errno;
    free(m);
    return eco_error_set(err, eco_status_from_errno(e), "model: cannot open '%s': %s", path,
                         strerror(e));
  }
  char magic[4] = {0};
  size_t got = fread(magic, 1, 4, f);
  fclose(f);
  int rc = (got == 4 && memcmp(magic, "GGUF", 4) == 0) ? load_gguf(path, m, err)
                                                       : load_llama2c(path, m, err);
  if (rc) {
    eco_model_free(m);
    return rc;
  }
  describe_type(m);
  if (!(opts && opts->no_repack) && (rc = repack_model(m, err))) {
    eco_model_free(m);
    return rc;
  }
  compute_bytes_per_token(m);
  *out = m;
  return 0;
}

void eco_model_free(eco_model *m) {
  if (!m) return;
  if (m->pack_arena) munmap(m->pack_arena, m->pack_arena_len);
  eco_gguf_close(m->gguf);
  if (m->map) munmap(m->map, m->map_size);
  free(m->owned);
  free(m->layers);
  free(m);
}

/* ------------------------------------------------------------------------- */
/* KV cache                                                                    */
/* ------------------------------------------------------------------------- */

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

/* ------------------------------------------------------------------------- */
/* forward                                                                     */
/* ------------------------------------------------------------------------- */

#define MAX_JOBS 3

typedef struct mm_job {
  const eco_weight *w;
  const uint8_t *act; /* [T] activation rows, act_stride bytes apart */
  size_t act_stride;
  float *y; /* [T][y_stride] */
  int y_stride;
  const float *bias; /* [rows] or NULL */
} mm_job;

struct eco_ctx {
  const eco_model *m;
  eco_pool *pool;
  eco_kernels kern;
  int max_batch;
  int nth;
  /* scratch, sized for max_batch tokens */
  float *x, *xn, *q, *k, *v, *att, *gate, *up; /* [B][...] */
  uint8_t *act[MAX_JOBS];                      /* quantized activations, [B][row bytes] */
  size_t act_cap;                              /* bytes per act buffer */
  float *rope_cos, *rope_sin;                  /* [B][rope_dims/2] */
  float *scores;                               /* [2 * nth][score_cap] */
  int score_cap;
  /* current parallel job */
  mm_job jobs[MAX_JOBS];
  int n_jobs, T;
  /* attention job */
  int layer;
  const int32_t *pos;
  eco_kv *const *kvs;
};

/* F32 rows are the largest activation form (Q8_0 34/32, Q8_K 292/256 < 4). */
static size_t max_act_bytes(int n) { return (size_t)n * 4; }

int eco_ctx_new(const eco_model *m, int n_threads, int max_batch, eco_ctx **out, eco_error *err) {
  *out = NULL;
  if (max_batch < 1 || max_batch > 4096)
    return eco_error_set(err, ECO_EINVAL, "ctx: batch size %d not in 1..4096", max_batch);
  eco_ctx *c = calloc(1, sizeof *c);
  if (!c) return eco_error_set(err, ECO_ENOMEM, "ctx: out of memory");
  c->m = m;
  c->max_batch = max_batch;
  int rc = eco_pool_new(n_threads, &c->pool, err);
  if (rc) {
    free(c);
    return rc;
  }
  c->nth = n_threads;
  eco_cpu_info ci;
  eco_cpu_detect(&ci);
  eco_kernels_init(&c->kern, ci.level);
  const eco_hparams *h = &m->hp;
  const size_t B = (size_t)max_batch, E = (size_t)h->n_embd, Q = (size_t)h->n_head * h->head_dim,
               KV = (size_t)h->n_head_kv * h->head_dim, F = (size_t)h->n_ff;
  c->x = malloc(B * E * 4);
  c->xn = malloc(B * E * 4);
  c->q = malloc(B * Q * 4);
  c->k = malloc(B * KV * 4);
  c->v = malloc(B * KV * 4);
  c->att = malloc(B * Q * 4);
  c->gate = malloc(B * F * 4);
  c->up = malloc(B * F * 4);
  size_t widest = E > F ? E : F;
  if (Q > widest) widest = Q;
  c->act_cap = max_act_bytes((int)widest);
  for (int i = 0; i < MAX_JOBS; i++)
    c->act[i] = malloc(B * c->act_cap);
  c->rope_cos = malloc(B * (size_t)h->rope_dims / 2 * 4);
  c->rope_sin = malloc(B * (size_t)h->rope_dims / 2 * 4);
  if (!c->x || !c->xn || !c->q || !c->k || !c->v || !c->att || !c->gate || !c->up || !c->act[0] ||
      !c->act[1] || !c->act[2] || !c->rope_cos || !c->rope_sin) {
    eco_ctx_free(c);
    return eco_error_set(err, ECO_ENOMEM, "ctx: out of memory for scratch buffers");
  }
  *out = c;
  return 0;
}

void eco_ctx_free(eco_ctx *c) {
  if (!c) return;
  eco_pool_free(c->pool);
  free(c->x);
  free(c->xn);
  free(c->q);
  free(c->k);
  free(c->v);
  free(c->att);
  free(c->gate);
  free(c->up);
  for (int i = 0; i < MAX_JOBS; i++)
    free(c->act[i]);
  free(c->rope_cos);
  free(c->rope_sin);
  free(c->scores);
  free(c);
}

void eco_ctx_set_simd(eco_ctx *c, eco_simd_level level) { eco_kernels_init(&c->kern, level); }
eco_simd_level eco_ctx_simd(const eco_ctx *c) { return c->kern.level; }

/* One packed group against c->T activation rows; writes the rows of the
 * group that fall in [a, b). Whole groups are written straight into y. */
static void mm_packed_group(const eco_ctx *c, const mm_job *jb, int64_t g, int64_t a, int64_t b) {
  const eco_weight *w = jb->w;
  const void *grp = (const uint8_t *)w->packed + eco_pack_group_bytes(w->type, w->cols) * (size_t)g;
  const int64_t r0 = g * ECO_PACK_ROWS;
  const size_t ys = (size_t)jb->y_stride;
  if (r0 >= a && r0 + ECO_PACK_ROWS <= b) {
    float *y = jb->y + r0;
    if (c->kern.pdot[w->type])
      c->kern.pdot[w->type]((int)w->cols, grp, jb->act, jb->act_stride, c->T, y, ys);
    else /* scalar kernels forced on a packed model (tests) */
      eco_pack_dot_ref(w->type, (int)w->cols, grp, jb->act, jb->act_stride, c->T, y, ys);
    if (jb->bias)
      for (int t = 0; t < c->T; t++)
        for (int r = 0; r < ECO_PACK_ROWS; r++)
          y[(size_t)t * ys + (size_t)r] += jb->bias[r0 + r];
    return;
  }
  float o[4 * ECO_PACK_ROWS]; /* a partial group (the last one of a matrix) */
  for (int t0 = 0; t0 < c->T; t0 += 4) {
    const int nt = c->T - t0 < 4 ? c->T - t0 : 4;
    const uint8_t *x = jb->act + (size_t)t0 * jb->act_stride;
    if (c->kern.pdot[w->type])
      c->kern.pdot[w->type]((int)w->cols, grp, x, jb->act_stride, nt, o, ECO_PACK_ROWS);
    else
      eco_pack_dot_ref(w->type, (int)w->cols, grp, x, jb->act_stride, nt, o, ECO_PACK_ROWS);
    for (int t = 0; t < nt; t++)
      for (int64_t r = r0 > a ? r0 : a; r < r0 + ECO_PACK_ROWS && r < b; r++)
        jb->y[(size_t)(t0 + t) * ys + (size_t)r] =
            o[t * ECO_PACK_ROWS + (r - r0)] + (jb->bias ? jb->bias[r] : 0.f);
  }
}

/* Rows [a, b) of a plain-layout job. */
static void mm_plain_rows(const eco_ctx *c, const mm_job *jb, int64_t a, int64_t b) {
  const eco_dot_fn dot = c->kern.dot[jb->w->type];
  const eco_dot4_fn dot4 = c->kern.dot4[jb->w->type];
  float tmp[64];
  if (c->T == 1 && dot4) { /* decode: four rows per call */
    for (; a + 4 <= b; a += 4) {
      float o4[4];
      dot4((int)jb->w->cols, (const uint8_t *)jb->w->data + (size_t)a * jb->w->row_bytes,
           jb->w->row_bytes, jb->act, o4);
      for (int k = 0; k < 4; k++)
        jb->y[a + k] = o4[k] + (jb->bias ? jb->bias[a + k] : 0.f);
    }
  }
  for (int64_t r = a; r < b; r++) {
    const uint8_t *wr = (const uint8_t *)jb->w->data + (size_t)r * jb->w->row_bytes;
    const float bias = jb->bias ? jb->bias[r] : 0.f;
    for (int t0 = 0; t0 < c->T; t0 += 64) {
      const int nt = c->T - t0 < 64 ? c->T - t0 : 64;
      dot((int)jb->w->cols, wr, jb->act + (size_t)t0 * jb->act_stride, jb->act_stride, nt, tmp);
      for (int t = 0; t < nt; t++)
        jb->y[(size_t)(t0 + t) * (size_t)jb->y_stride + (size_t)r] = tmp[t] + bias;
    }
  }
}

/* Parallel matmul over the rows of all jobs (same T activation rows each).
 * Work is counted in units of 8 rows per job (a packed group, or 8 plain
 * rows), and chunk k of n takes a contiguous range of units, so no unit is
 * split between threads. */
static void mm_worker(void *arg, int chunk, int n_chunks) {
  eco_ctx *c = arg;
  int64_t total = 0;
  for (int j = 0; j < c->n_jobs; j++)
    total += (c->jobs[j].w->rows + ECO_PACK_ROWS - 1) / ECO_PACK_ROWS;
  const int64_t per = (total + n_chunks - 1) / n_chunks;
  const int64_t u0 = per * chunk, u1 = u0 + per < total ? u0 + per : total;
  int64_t base = 0; /* first unit of job j */
  for (int j = 0; j < c->n_jobs && u0 < u1; j++) {
    const mm_job *jb = &c->jobs[j];
    const int64_t rows = jb->w->rows, units = (rows + ECO_PACK_ROWS - 1) / ECO_PACK_ROWS;
    const int64_t ga = u0 > base ? u0 - base : 0, gb = u1 - base < units ? u1 - base : units;
    if (ga < gb) {
      const int64_t a = ga * ECO_PACK_ROWS,
                    b = gb * ECO_PACK_ROWS < rows ? gb * ECO_PACK_ROWS : rows;
      if (jb->w->packed)
        for (int64_t g = ga; g < gb; g++)
          mm_packed_group(c, jb, g, a, b);
      else
        mm_plain_rows(c, jb, a, b);
    }
    base += units;
  }
}

/* Activation format key of a weight: its ggml activation type, or PACKED_ACT
 * for packed weights whose kernels take Q8_0 split rows (pack.h). */
#define PACKED_ACT 1000
static int act_format(const eco_weight *w) {
  return w->packed && eco_pack_split_act(w->type) ? PACKED_ACT : (int)eco_quant_act_type(w->type);
}

/* y_j[t] = W_j x[t] (+ b_j) for up to 3 weights sharing the input x [T][cols]. */
static void matmul(eco_ctx *c, int n, const eco_weight *const *ws, const float *x, int T,
                   float *const *ys, const float *const *biases) {
  for (int j = 0; j < n; j++) {
    const eco_weight *w = ws[j];
    const int fmt = act_format(w);
    const size_t stride = fmt == PACKED_ACT ? eco_pack_act_bytes(w->cols)
                                            : eco_quant_row_bytes((eco_ggml_type)fmt, w->cols);
    int same = -1;
    for (int i = 0; i < j; i++)
      if (act_format(ws[i]) == fmt) same = i;
    if (same >= 0) {
      c->jobs[j].act = c->jobs[same].act;
    } else {
      for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * (size_t)w->cols;
        uint8_t *dst = c->act[j] + (size_t)t * stride;
        if (fmt == PACKED_ACT)
          c->kern.quant_act(xr, dst, (int)w->cols);
        else
          eco_quantize_row((eco_ggml_type)fmt, xr, dst, w->cols);
      }
      c->jobs[j].act = c->act[j];
    }
    c->jobs[j].w = w;
    c->jobs[j].act_stride = stride;
    c->jobs[j].y = ys[j];
    c->jobs[j].y_stride = (int)w->rows;
    c->jobs[j].bias = biases ? biases[j] : NULL;
  }
  c->n_jobs = n;
  c->T = T;
  /* small products are not worth waking the other threads */
  uint64_t work = 0;
  for (int j = 0; j < n; j++)
    work += (uint64_t)ws[j]->rows * (uint64_t)ws[j]->cols;
  if (work * (uint64_t)T < (1u << 16) || c->nth == 1) {
    mm_worker(c, 0, 1);
  } else {
    /* a few chunks per thread, none smaller than 2 units (16 rows) */
    int64_t units = 0;
    for (int j = 0; j < n; j++)
      units += (ws[j]->rows + ECO_PACK_ROWS - 1) / ECO_PACK_ROWS;
    int64_t chunks = (int64_t)c->nth * 4;
    if (chunks > units / 2) chunks = units / 2 > 0 ? units / 2 : 1;
    eco_pool_run(c->pool, mm_worker, c, (int)chunks);
  }
}

static void rmsnorm(const eco_ctx *c, float *out, const float *x, const float *w, int n,
                    float eps) {
  const double ss = c->kern.sumsq(n, x);
  const float scale = 1.0f / sqrtf((float)(ss / n) + eps);
  for (int i = 0; i < n; i++)
    out[i] = (x[i] * scale) * w[i];
}

static void rope_apply(const eco_hparams *h, float *v, const float *cs, const float *sn) {
  const int half = h->rope_dims / 2;
  if (h->rope_type == ECO_ROPE_NORM) {
    for (int i = 0; i < half; i++) {
      const float x0 = v[2 * i], x1 = v[2 * i + 1];
      v[2 * i] = x0 * cs[i] - x1 * sn[i];
      v[2 * i + 1] = x0 * sn[i] + x1 * cs[i];
    }
  } else {
    for (int i = 0; i < half; i++) {
      const float x0 = v[i], x1 = v[i + half];
      v[i] = x0 * cs[i] - x1 * sn[i];
      v[i + half] = x0 * sn[i] + x1 * cs[i];
    }
  }
}

/* Attention tasks: (token t, KV head kh, piece of its GQA group). The query
 * heads of one group share each pass over the K and V rows; the group is
 * split into pieces only when there are too few (t, kh) pairs to keep every
 * thread busy. */
static int attn_piece(const eco_ctx *c) {
  const eco_hparams *h = &c->m->hp;
  const int group = h->n_head / h->n_head_kv, pairs = c->T * h->n_head_kv;
  int pieces = (2 * c->nth + pairs - 1) / pairs;
  if (pieces < (group + 7) / 8) pieces = (group + 7) / 8; /* kernels take <= 8 heads */
  if (pieces > group) pieces = group;
  return (group + pieces - 1) / pieces; /* heads per piece */
}

static void attn_worker(void *arg, int ith, int nth) {
  /* chunk ith of nth: tasks ith, ith + nth, ... */
  eco_ctx *c = arg;
  const eco_hparams *h = &c->m->hp;
  const int hd = h->head_dim, group = h->n_head / h->n_head_kv;
  const float scale = 1.0f / sqrtf((float)hd);
  const int piece = attn_piece(c), pieces = (group + piece - 1) / piece;
  float *sc = c->scores + (size_t)ith * (size_t)c->score_cap * (size_t)group;
  const int tasks = c->T * h->n_head_kv * pieces;
  for (int task = ith; task < tasks; task += nth) {
    const int t = task / (h->n_head_kv * pieces), rest = task % (h->n_head_kv * pieces);
    const int kh = rest / pieces, h0 = kh * group + (rest % pieces) * piece;
    const int nq = h0 + piece <= (kh + 1) * group ? piece : (kh + 1) * group - h0;
    const eco_kv *kv = c->kvs[t];
    const int np = c->pos[t] + 1;
    const float *q = c->q + (size_t)t * (size_t)(h->n_head * hd) + (size_t)h0 * hd;
    const size_t base =
        ((size_t)c->layer * (size_t)h->n_head_kv + (size_t)kh) * (size_t)kv->n_ctx * (size_t)hd;
    const bool f16 = kv->type == ECO_GGML_F16;
    if (f16)
      c->kern.attn_scores_f16(hd, q, nq, (const uint16_t *)kv->k + base, (size_t)hd, np, scale, sc);
    else
      c->kern.attn_scores(hd, q, nq, (const float *)kv->k + base, (size_t)hd, np, scale, sc);
    for (int j = 0; j < nq; j++) /* softmax of each head's row */
      c->kern.softmax(np, sc + (size_t)j * np);
    float *o = c->att + (size_t)t * (size_t)(h->n_head * hd) + (size_t)h0 * hd;
    if (f16)
      c->kern.attn_accum_f16(hd, sc, nq, (const uint16_t *)kv->v + base, (size_t)hd, np, o);
    else
      c->kern.attn_accum(hd, sc, nq, (const float *)kv->v + base, (size_t)hd, np, o);
  }
}

static int forward_chunk(eco_ctx *c, int T, const int32_t *tok, const int32_t *pos,
                         eco_kv *const *kvs, const uint8_t *want, float *logits, int *n_out) {
  const eco_model *m = c->m;
  const eco_hparams *h = &m->hp;
  const int E = h->n_embd, hd = h->head_dim, Qd = h->n_head * hd, KVd = h->n_head_kv * hd,
            F = h->n_ff, half = h->rope_dims / 2;
  /* embeddings */
  for (int t = 0; t < T; t++)
    eco_dequantize_row(m->tok_embd.type,
                       (const uint8_t *)m->tok_embd.data + (size_t)tok[t] * m->tok_embd.row_bytes,
                       c->x + (size_t)t * E, E);
  /* RoPE angles per token, as llama.cpp: theta_i = p * base^(-2i/d) (iterated) */
  const float theta_scale = powf(h->rope_base, -2.0f / (float)h->rope_dims);
  for (int t = 0; t < T; t++) {
    float theta = (float)pos[t];
    for (int i = 0; i < half; i++) {
      float th = theta * h->rope_freq_scale;
      if (m->rope_freqs) th /= m->rope_freqs[i];
      c->rope_cos[(size_t)t * half + i] = cosf(th);
      c->rope_sin[(size_t)t * half + i] = sinf(th);
      theta *= theta_scale;
    }
  }
  c->pos = pos;
  c->kvs = kvs;
  c->T = T;
  for (int l = 0; l < h->n_layer; l++) {
    const eco_layer *y = &m->layers[l];
    for (int t = 0; t < T; t++)
      rmsnorm(c, c->xn + (size_t)t * E, c->x + (size_t)t * E, y->attn_norm, E, h->rms_eps);
    const eco_weight *wqkv[3] = {&y->wq, &y->wk, &y->wv};
    float *const yqkv[3] = {c->q, c->k, c->v};
    const float *const bqkv[3] = {y->bq, y->bk, y->bv};
    matmul(c, 3, wqkv, c->xn, T, yqkv, bqkv);
    for (int t = 0; t < T; t++) {
      const float *cs = c->rope_cos + (size_t)t * half, *sn = c->rope_sin + (size_t)t * half;
      for (int hh = 0; hh < h->n_head; hh++)
        rope_apply(h, c->q + (size_t)t * Qd + (size_t)hh * hd, cs, sn);
      for (int hh = 0; hh < h->n_head_kv; hh++)
        rope_apply(h, c->k + (size_t)t * KVd + (size_t)hh * hd, cs, sn);
      eco_kv *kv = kvs[t];
      for (int kh = 0; kh < h->n_head_kv; kh++) { /* head-major: see eco_kv */
        const size_t off =
            (((size_t)l * (size_t)h->n_head_kv + (size_t)kh) * (size_t)kv->n_ctx + (size_t)pos[t]) *
            (size_t)hd;
        const float *ks = c->k + (size_t)t * KVd + (size_t)kh * hd;
        const float *vs = c->v + (size_t)t * KVd + (size_t)kh * hd;
        if (kv->type == ECO_GGML_F16) {
          c->kern.to_f16(hd, ks, (uint16_t *)kv->k + off);
          c->kern.to_f16(hd, vs, (uint16_t *)kv->v + off);
        } else {
          memcpy((float *)kv->k + off, ks, (size_t)hd * 4);
          memcpy((float *)kv->v + off, vs, (size_t)hd * 4);
        }
      }
    }
    c->layer = l;
    int max_p = 0;
    for (int t = 0; t < T; t++)
      max_p = pos[t] > max_p ? pos[t] : max_p;
    c->T = T; /* attn_piece reads it */
    const int piece = attn_piece(c), group = h->n_head / h->n_head_kv;
    const int tasks = T * h->n_head_kv * ((group + piece - 1) / piece);
    if ((uint64_t)T * (uint64_t)(max_p + 1) * (uint64_t)Qd < (1u << 15) || c->nth == 1)
      attn_worker(c, 0, 1);
    else
      eco_pool_run(c->pool, attn_worker, c, tasks < 2 * c->nth ? tasks : 2 * c->nth);
    const eco_weight *wo[1] = {&y->wo};
    float *const yo[1] = {c->xn}; /* reuse xn as [T][E] output */
    matmul(c, 1, wo, c->att, T, yo, NULL);
    for (size_t i = 0; i < (size_t)T * E; i++)
      c->x[i] += c->xn[i];
    for (int t = 0; t < T; t++)
      rmsnorm(c, c->xn + (size_t)t * E, c->x + (size_t)t * E, y->ffn_norm, E, h->rms_eps);
    const eco_weight *wgu[2] = {&y->w_gate, &y->w_up};
    float *const ygu[2] = {c->gate, c->up};
    matmul(c, 2, wgu, c->xn, T, ygu, NULL);
    c->kern.silu_mul(T * F, c->gate, c->up);
    const eco_weight *wd[1] = {&y->w_down};
    float *const yd[1] = {c->xn};
    matmul(c, 1, wd, c->gate, T, yd, NULL);
    for (size_t i = 0; i < (size_t)T * E; i++)
      c->x[i] += c->xn[i];
  }
  /* final norm and logits for the tokens that want them (packed) */
  int n = 0;
  for (int t = 0; t < T; t++) {
    if (!want[t]) continue;
    rmsnorm(c, c->xn + (size_t)n * E, c->x + (size_t)t * E, m->out_norm, E, h->rms_eps);
    n++;
  }
  if (n) {
    const eco_weight *wout[1] = {&m->output};
    float *const yout[1] = {logits};
    matmul(c, 1, wout, c->xn, n, yout, NULL);
  }
  *n_out = n;
  return 0;
}

int eco_forward(eco_ctx *c, const eco_batch *b, float *logits, eco_error *err) {
  const eco_hparams *h = &c->m->hp;
  if (b->n <= 0) return 0;
  int max_pos = 0;
  for (int i = 0; i < b->n; i++) {
    if (b->token[i] < 0 || b->token[i] >= h->n_vocab)
      return eco_error_set(err, ECO_EINVAL, "forward: token id %d out of range [0, %d)",
                           b->token[i], h->n_vocab);
    if (!b->kv[i]) return eco_error_set(err, ECO_EINVAL, "forward: token %d has no KV cache", i);
    if (b->kv[i]->n_layer != h->n_layer || b->kv[i]->kv_dim != h->n_head_kv * h->head_dim)
      return eco_error_set(err, ECO_EINVAL, "forward: token %d: KV cache made for another model",
                           i);
    if (b->pos[i] < 0 || b->pos[i] >= b->kv[i]->n_ctx)
      return eco_error_set(err, ECO_ECONTEXT,
                           "context length exceeded: position %d does not fit a context of %d "
                           "tokens",
                           b->pos[i], b->kv[i]->n_ctx);
    if (b->pos[i] + 1 > max_pos) max_pos = b->pos[i] + 1;
  }
  if (max_pos > c->score_cap) {
    const size_t group = (size_t)(h->n_head / h->n_head_kv);
    float *s = realloc(c->scores, (size_t)(2 * c->nth) * group * (size_t)max_pos * sizeof(float));
    if (!s) return eco_error_set(err, ECO_ENOMEM, "forward: out of memory for attention scores");
    c->scores = s;
    c->score_cap = max_pos;
  }
  int done = 0;
  float *out = logits;
  while (done < b->n) {
    int T = b->n - done < c->max_batch ? b->n - done : c->max_batch;
    uint8_t want[4096];
    for (int t = 0; t < T; t++)
      want[t] = !logits     ? 0
                : b->logits ? (b->logits[done + t] != 0)
                            : (uint8_t)(done + t == b->n - 1);
    int n_out = 0;
    int rc = forward_chunk(c, T, b->token + done, b->pos + done, b->kv + done, want, out, &n_out);
    if (rc) return rc;
    for (int t = 0; t < T; t++) {
      eco_kv *kv = b->kv[done + t];
      if (b->pos[done + t] + 1 > kv->n_past) kv->n_past = b->pos[done + t] + 1;
    }
    if (out) out += (size_t)n_out * (size_t)h->n_vocab;
    done += T;
  }
  return 0;
}

int eco_forward_seq(eco_ctx *c, eco_kv *kv, const int32_t *tokens, int n, float *logits,
                    eco_error *err) {
  if (n <= 0) return eco_error_set(err, ECO_EINVAL, "forward: no tokens");
  if (kv->n_past + n > kv->n_ctx)
    return eco_error_set(err, ECO_ECONTEXT,
                         "context length exceeded: %d cached + %d new tokens > context of %d",
                         kv->n_past, n, kv->n_ctx);
  int32_t *pos = malloc((size_t)n * sizeof *pos);
  eco_kv **kvs = malloc((size_t)n * sizeof *kvs);
  if (!pos || !kvs) {
    free(pos);
    free(kvs);
    return eco_error_set(err, ECO_ENOMEM, "forward: out of memory");
  }
  for (int i = 0; i < n; i++) {
    pos[i] = kv->n_past + i;
    kvs[i] = kv;
  }
  eco_batch b = {.n = n, .token = tokens, .pos = pos, .kv = kvs, .logits = NULL};
  int rc = eco_forward(c, &b, logits, err);
  free(pos);
  free(kvs);
  return rc;
}
