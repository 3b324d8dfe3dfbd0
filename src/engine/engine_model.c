#include "engine/engine_model.h"

#include "engine/sampler.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct eco_engine_model {
  const eco_model *m;
  eco_ctx *ctx;
  uint32_t max_slots;
  uint32_t max_tokens;
  eco_kv **kv;           /* [max_slots], NULL when free */
  int32_t *pos;          /* [max_tokens] scratch */
  eco_kv **tok_kv;       /* [max_tokens] scratch */
  uint8_t *want;         /* [max_tokens] scratch */
  eco_ggml_type kv_type; /* element type of the KV caches (ECO_KV_TYPE_DEFAULT unless set) */
};

int eco_engine_model_new(const eco_model *m, int n_threads, uint32_t max_slots, uint32_t max_tokens,
                         eco_engine_model **out, eco_error *err) {
  int rc = ECO_ENOMEM;
  eco_engine_model *em = calloc(1, sizeof *em);
  if (!em) return eco_error_set(err, ECO_ENOMEM, "out of memory");
  em->m = m;
  em->max_slots = max_slots;
  em->max_tokens = max_tokens;
  em->kv_type = ECO_KV_TYPE_DEFAULT;
  em->kv = calloc(max_slots, sizeof *em->kv);
  em->pos = calloc(max_tokens, sizeof *em->pos);
  em->tok_kv = calloc(max_tokens, sizeof *em->tok_kv);
  em->want = calloc(max_tokens, sizeof *em->want);
  if (!em->kv || !em->pos || !em->tok_kv || !em->want) {
    eco_error_set(err, ECO_ENOMEM, "out of memory");
    goto fail;
  }
  if ((rc = eco_ctx_new(m, n_threads, (int)max_tokens, &em->ctx, err))) goto fail;
  *out = em;
  return ECO_OK;
fail:
  eco_engine_model_free(em);
  return rc;
}

void eco_engine_model_free(eco_engine_model *em) {
  if (!em) return;
  for (uint32_t i = 0; em->kv && i < em->max_slots; i++)
    eco_kv_free(em->kv[i]);
  eco_ctx_free(em->ctx);
  free(em->kv);
  free(em->pos);
  free(em->tok_kv);
  free(em->want);
  free(em);
}

static int kv_reserve(void *model, int32_t slot, uint32_t n_positions) {
  eco_engine_model *em = model;
  if (slot < 0 || (uint32_t)slot >= em->max_slots) return ECO_EINVAL;
  eco_kv_free(em->kv[slot]);
  em->kv[slot] = NULL;
  return eco_kv_new_type(em->m, (int)n_positions, em->kv_type, &em->kv[slot], NULL);
}

static void kv_release(void *model, int32_t slot) {
  eco_engine_model *em = model;
  if (slot < 0 || (uint32_t)slot >= em->max_slots) return;
  eco_kv_free(em->kv[slot]);
  em->kv[slot] = NULL;
}

static int kv_save(void *model, int32_t slot, uint32_t pos, uint32_t n, void *dst) {
  eco_engine_model *em = model;
  if (slot < 0 || (uint32_t)slot >= em->max_slots || !em->kv[slot] || pos > INT32_MAX ||
      n > INT32_MAX)
    return ECO_EINVAL;
  return eco_kv_copy_out(em->kv[slot], (int)pos, (int)n, dst);
}

static int kv_load(void *model, int32_t slot, uint32_t pos, uint32_t n, const void *src) {
  eco_engine_model *em = model;
  if (slot < 0 || (uint32_t)slot >= em->max_slots || !em->kv[slot] || pos > INT32_MAX ||
      n > INT32_MAX)
    return ECO_EINVAL;
  return eco_kv_copy_in(em->kv[slot], (int)pos, (int)n, src);
}

static int forward(void *model, const eco_sched_item *items, uint32_t n_items,
                   const int32_t *tokens, float *logits) {
  eco_engine_model *em = model;
  uint32_t n = 0;
  for (uint32_t i = 0; i < n_items; i++) {
    eco_kv *kv = items[i].slot >= 0 && (uint32_t)items[i].slot < em->max_slots
                     ? em->kv[items[i].slot]
                     : NULL;
    if (!kv || n + items[i].n_tokens > em->max_tokens) return ECO_EINTERNAL;
    for (uint32_t k = 0; k < items[i].n_tokens; k++, n++) {
      em->pos[n] = (int32_t)(items[i].pos + k);
      em->tok_kv[n] = kv;
      em->want[n] = items[i].wants_logits && k + 1 == items[i].n_tokens;
    }
  }
  eco_batch b = {
      .n = (int)n, .token = tokens, .pos = em->pos, .kv = em->tok_kv, .logits = em->want};
  return eco_forward(em->ctx, &b, logits, NULL);
}

static void *sampler_new(void *model, const eco_gen_params *p, const int32_t *prompt,
                         size_t n_prompt) {
  eco_engine_model *em = model;
  eco_sampler_params sp = {.temperature = p->temperature,
                           .top_k = p->top_k,
                           .top_p = p->top_p,
                           .min_p = p->min_p,
                           .repeat_penalty = p->repeat_penalty,
                           .repeat_last_n = p->repeat_last_n,
                           .seed = p->seed};
  eco_sampler *s = NULL;
  if (eco_sampler_new(&sp, em->m->hp.n_vocab, &s, NULL)) return NULL;
  for (size_t i = 0; i < n_prompt; i++)
    eco_sampler_accept(s, prompt[i]);
  return s;
}

static int32_t sample(void *model, void *sampler, float *logits) {
  (void)model;
  return eco_sampler_sample(sampler, logits);
}

static void sampler_free(void *model, void *sampler) {
  (void)model;
  eco_sampler_free(sampler);
}

int eco_engine_model_set_kv_type(eco_engine_model *em, eco_ggml_type type) {
  if (type != ECO_GGML_F32 && type != ECO_GGML_F16) return ECO_EINVAL;
  em->kv_type = type;
  return 0;
}

void eco_engine_model_ops_fill(const eco_engine_model *em, uint32_t n_ctx,
                               eco_engine_model_ops *ops) {
  memset(ops, 0, sizeof *ops);
  ops->n_vocab = (uint32_t)em->m->hp.n_vocab;
  ops->n_ctx = n_ctx ? n_ctx : (uint32_t)em->m->hp.n_ctx_train;
  ops->kv_bytes_per_token = eco_kv_bytes_type(em->m, 1, em->kv_type);
  ops->kv_reserve = kv_reserve;
  ops->kv_release = kv_release;
  ops->kv_save = kv_save;
  ops->kv_load = kv_load;
  ops->forward = forward;
  ops->sampler_new = sampler_new;
  ops->sample = sample;
  ops->sampler_free = sampler_free;
}
