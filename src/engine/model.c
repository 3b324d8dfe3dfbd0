/* ecoinfer: model loading (GGUF, llama2.c). */
#include "engine/arch.h"
#include "engine/model_internal.h"
#include "engine/pack.h"

#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------------- */
/* loading                                                                     */
/* ------------------------------------------------------------------------- */

typedef struct loader {
  eco_model *m;
  eco_error *err;
  const char *path;          /* the GGUF file, for messages */
  size_t n_owned, cap_owned; /* floats used / allocated in m->owned */
  uint8_t *used;             /* [n_tensors] tensors bound so far */
} loader;

static const eco_gguf_tensor *find_tensor(loader *L, const char *name) {
  const eco_gguf_tensor *t = eco_gguf_find_tensor(L->m->gguf, name);
  if (t) L->used[t - L->m->gguf->tensors] = 1;
  return t;
}

/* A 2-D weight with the expected shape; optional weights may be absent. */
static int bind_weight(loader *L, const char *name, int64_t rows, int64_t cols, bool optional,
                       eco_weight *w) {
  const eco_gguf_tensor *t = find_tensor(L, name);
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
                         "model: '%s': tensor '%s' has type %s, which this engine does not "
                         "support (supported: F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q5_1, IQ4_NL, "
                         "Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS)",
                         L->path, name, eco_ggml_type_name(t->type));
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
  const eco_gguf_tensor *t = find_tensor(L, name);
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

static void describe_type(eco_model *m) {
  /* the file's own mix name (general.file_type, as llama-quantize writes it) */
  uint64_t ft;
  const char *ftn =
      m->gguf && eco_gguf_get_u64(m->gguf, "general.file_type", &ft) == 0 && ft <= UINT32_MAX
          ? eco_gguf_ftype_name((uint32_t)ft)
          : NULL;
  if (ftn) {
    snprintf(m->file_type, sizeof m->file_type, "%s", ftn);
    return;
  }
  /* else the type of most weight bytes, with the K-mix reported as Q4_K_M-like */
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

/* The matrices and vectors of block l, as the architecture describes it. */
static int bind_layer(loader *L, const eco_arch_desc *d, int l) {
  const eco_hparams *h = &L->m->hp;
  eco_layer *y = &L->m->layers[l];
  const int64_t E = h->n_embd, Q = (int64_t)h->n_head * h->head_dim,
                KV = (int64_t)h->n_head_kv * h->head_dim, F = h->n_ff, hd = h->head_dim;
  char n[96];
  int rc;
#define NAME(s) (snprintf(n, sizeof n, "blk.%d.%s", l, s), n)
  y->swa = eco_hparams_is_swa(h, l);
  if ((rc = bind_vec(L, NAME("attn_norm.weight"), E, false, &y->attn_norm)) ||
      (rc = bind_weight(L, NAME("attn_qkv.weight"), Q + 2 * KV, E, true, &y->wqkv)))
    return rc;
  if (y->wqkv.data) {
    if ((rc = bind_vec(L, NAME("attn_qkv.bias"), Q + 2 * KV, true, &y->bqkv))) return rc;
  } else if ((rc = bind_weight(L, NAME("attn_q.weight"), Q, E, false, &y->wq)) ||
             (rc = bind_weight(L, NAME("attn_k.weight"), KV, E, false, &y->wk)) ||
             (rc = bind_weight(L, NAME("attn_v.weight"), KV, E, false, &y->wv))) {
    return rc;
  }
  const bool bias_opt = !d->qkv_bias || y->wqkv.data;
  if ((rc = bind_vec(L, NAME("attn_q.bias"), Q, bias_opt, &y->bq)) ||
      (rc = bind_vec(L, NAME("attn_k.bias"), KV, bias_opt, &y->bk)) ||
      (rc = bind_vec(L, NAME("attn_v.bias"), KV, bias_opt, &y->bv)) ||
      (rc = bind_weight(L, NAME("attn_output.weight"), E, Q, false, &y->wo)) ||
      (rc = bind_vec(L, NAME("ffn_norm.weight"), E, false, &y->ffn_norm)) ||
      (rc = bind_weight(L, NAME("ffn_down.weight"), E, F, false, &y->w_down)))
    return rc;
  if (d->fused_gate_up)
    rc = bind_weight(L, NAME("ffn_up.weight"), 2 * F, E, false, &y->w_up);
  else if (!(rc = bind_weight(L, NAME("ffn_gate.weight"), F, E, false, &y->w_gate)))
    rc = bind_weight(L, NAME("ffn_up.weight"), F, E, false, &y->w_up);
  if (rc) return rc;
  if (d->qk_norm && ((rc = bind_vec(L, NAME("attn_q_norm.weight"), hd, false, &y->q_norm)) ||
                     (rc = bind_vec(L, NAME("attn_k_norm.weight"), hd, false, &y->k_norm))))
    return rc;
  if (d->post_norms &&
      ((rc = bind_vec(L, NAME("post_attention_norm.weight"), E, false, &y->attn_post_norm)) ||
       (rc = bind_vec(L, NAME("post_ffw_norm.weight"), E, false, &y->ffn_post_norm))))
    return rc;
#undef NAME
  return 0;
}

/* Floats of the vectors that may need converting to F32: norms, biases,
 * q/k norms and RoPE factors. */
static size_t vector_floats(const eco_hparams *h) {
  const size_t E = (size_t)h->n_embd, hd = (size_t)h->head_dim,
               QKV = (size_t)(h->n_head + 2 * h->n_head_kv) * hd;
  return (size_t)h->n_layer * (4 * E + 2 * QKV + 2 * hd) + E + 3 * hd;
}

/* ggml's GELU table: the tanh-approximation GELU of every F16 value,
 * rounded to F16 (the forward pass reads it as llama.cpp's CPU backend
 * does). */
static int make_gelu_table(eco_model *m, eco_error *err) {
  m->gelu_f16 = malloc(65536 * sizeof *m->gelu_f16);
  if (!m->gelu_f16) return eco_error_set(err, ECO_ENOMEM, "model: out of memory");
  for (uint32_t i = 0; i < 65536; i++) {
    const float x = eco_fp16_to_fp32((uint16_t)i);
    const float y =
        0.5f * x *
        (1.0f + tanhf(0.79788456080286535587989211986876f * x * (1.0f + 0.044715f * x * x)));
    m->gelu_f16[i] = eco_fp32_to_fp16(y);
  }
  return 0;
}

/* A file with tensors the architecture does not use is refused (as llama.cpp
 * does): running without them would silently compute something else. */
static int check_all_used(const loader *L) {
  const eco_gguf *g = L->m->gguf;
  for (uint64_t i = 0; i < g->n_tensors; i++)
    if (!L->used[i])
      return eco_error_set(L->err, ECO_EUNSUPPORTED,
                           "model: tensor '%.*s' is not part of architecture '%s' as this "
                           "engine runs it",
                           (int)g->tensors[i].name.len, g->tensors[i].name.ptr, L->m->hp.arch_name);
  return 0;
}

static int load_gguf(const char *path, eco_model *m, eco_error *err) {
  int rc = eco_gguf_open(path, &m->gguf, err);
  if (rc) return rc;
  eco_hparams *h = &m->hp;
  if ((rc = eco_arch_load_hparams(m->gguf, h, err))) return rc;
  const eco_arch_desc *d = eco_arch_find(h->arch_name);
  loader L = {.m = m, .err = err, .path = path, .cap_owned = vector_floats(h)};
  m->owned = calloc(L.cap_owned, sizeof(float));
  m->layers = calloc((size_t)h->n_layer, sizeof *m->layers);
  L.used = calloc(m->gguf->n_tensors + 1, 1);
  if (!m->owned || !m->layers || !L.used) {
    free(L.used);
    return eco_error_set(err, ECO_ENOMEM, "model: out of memory");
  }
  const int64_t E = h->n_embd, half = h->rope_dims / 2;
  if ((rc = bind_weight(&L, "token_embd.weight", h->n_vocab, E, false, &m->tok_embd)) ||
      (rc = bind_vec(&L, "output_norm.weight", E, false, &m->out_norm)) ||
      (!d->tied_only && (rc = bind_weight(&L, "output.weight", h->n_vocab, E, true, &m->output))) ||
      (rc = bind_vec(&L, "rope_freqs.weight", half, true, &m->rope_freqs)) ||
      (rc = bind_vec(&L, "rope_factors_long.weight", half, true, &m->rope_long)) ||
      (rc = bind_vec(&L, "rope_factors_short.weight", half, true, &m->rope_short)))
    goto out;
  if (!m->output.data) {
    m->output = m->tok_embd;
    h->tied_output = true;
  }
  for (int l = 0; l < h->n_layer && !rc; l++)
    rc = bind_layer(&L, d, l);
  if (!rc) rc = check_all_used(&L);
  if (!rc && h->act == ECO_ACT_GELU) rc = make_gelu_table(m, err);
out:
  free(L.used);
  return rc;
}

/* The hyperparameters of a llama2.c header: dim, hidden_dim, n_layers, n_heads, n_kv_heads,
 * vocab_size (negative: an untied output matrix follows), seq_len. */
static int llama2c_hparams(const int32_t hd[7], const char *path, eco_hparams *h, eco_error *err) {
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
  h->rope_base_swa = h->rope_base;
  h->rope_freq_scale_swa = 1.f;
  h->rope_attn_factor = 1.f;
  h->n_ctx_orig = h->n_ctx_train;
  h->embd_scale = 1.f;
  h->attn_scale = 1.0f / sqrtf((float)h->head_dim);
  return eco_arch_check_hparams(h, err);
}

static eco_weight llama2c_weight(uint64_t rows, uint64_t cols, const float *data) {
  return (eco_weight){.type = ECO_GGML_F32,
                      .rows = (int64_t)rows,
                      .cols = (int64_t)cols,
                      .row_bytes = (size_t)cols * 4,
                      .data = data};
}

/* Points the layers' weights into the checkpoint's arrays, which follow the header in this
 * order, each over all layers: token embedding [V][E], attention norms [L][E], wq [L][E][E],
 * wk and wv [L][KV][E], wo [L][E][E], FFN norms [L][E], w1 (gate) [L][F][E], w2 (down)
 * [L][E][F], w3 (up) [L][F][E], the final norm [E], the RoPE tables [S][HS] (unused: RoPE
 * is computed), and the output [V][E] when untied. */
static void llama2c_place(eco_model *m, const float *p) {
  const eco_hparams *h = &m->hp;
  const uint64_t E = (uint64_t)h->n_embd, F = (uint64_t)h->n_ff, L = (uint64_t)h->n_layer,
                 V = (uint64_t)h->n_vocab, KV = (uint64_t)h->n_head_kv * (uint64_t)h->head_dim,
                 S = (uint64_t)h->n_ctx_train, HS = (uint64_t)h->head_dim;
  m->tok_embd = llama2c_weight(V, E, p);
  p += V * E;
  /* each array holds all layers, one after the other */
  const float *attn_norm = p, *wq = attn_norm + L * E, *wk = wq + L * E * E, *wv = wk + L * E * KV,
              *wo = wv + L * E * KV, *ffn_norm = wo + L * E * E, *w1 = ffn_norm + L * E,
              *w2 = w1 + L * E * F, *w3 = w2 + L * E * F;
  for (uint64_t l = 0; l < L; l++) {
    eco_layer *ly = &m->layers[l];
    ly->attn_norm = attn_norm + l * E;
    ly->wq = llama2c_weight(E, E, wq + l * E * E);
    ly->wk = llama2c_weight(KV, E, wk + l * E * KV);
    ly->wv = llama2c_weight(KV, E, wv + l * E * KV);
    ly->wo = llama2c_weight(E, E, wo + l * E * E);
    ly->ffn_norm = ffn_norm + l * E;
    ly->w_gate = llama2c_weight(F, E, w1 + l * E * F);
    ly->w_down = llama2c_weight(E, F, w2 + l * E * F);
    ly->w_up = llama2c_weight(F, E, w3 + l * E * F);
  }
  p = w3 + L * E * F;
  m->out_norm = p;
  p += E;
  p += S * HS; /* freq_cis_real and freq_cis_imag (S * HS/2 each): RoPE is computed */
  m->output = h->tied_output ? m->tok_embd : llama2c_weight(V, E, p);
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
  int rc = llama2c_hparams(hd, path, h, err);
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
  m->layers = calloc(L, sizeof *m->layers);
  if (!m->layers) return eco_error_set(err, ECO_ENOMEM, "model: out of memory");
  llama2c_place(m, (const float *)(const void *)((const uint8_t *)m->map + 28));
  m->weight_bytes = (need - S * HS) * 4;
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
  if (!(opts && opts->no_repack) && (rc = eco_model_repack(m, err))) {
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
  free(m->gelu_f16);
  free(m);
}
