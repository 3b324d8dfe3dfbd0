#include "engine/sched.h"

#include <stdlib.h>
#include <string.h>

struct eco_sched {
  eco_sched_cfg cfg;
  eco_sched_seq *seqs; /* all known sequences, in submission order */
  size_t n_seqs, cap_seqs;
  bool *slot_used;       /* [max_batch] */
  eco_sched_item *items; /* [max_batch] plan buffer */
  uint64_t kv_reserved;  /* bytes */
  uint32_t n_queued, n_active;
};

uint64_t eco_sched_kv_bytes_per_token(uint32_t n_layer, uint32_t n_kv_head, uint32_t head_dim,
                                      uint32_t elem_bytes) {
  return (uint64_t)n_layer * 2u * n_kv_head * head_dim * elem_bytes;
}

int eco_sched_new(const eco_sched_cfg *cfg, eco_sched **out) {
  if (!cfg || cfg->kv_budget_bytes == 0 || cfg->kv_bytes_per_token == 0 || cfg->max_batch == 0 ||
      cfg->step_tokens == 0 || cfg->prefill_chunk == 0 || cfg->n_ctx == 0)
    return ECO_EINVAL;
  eco_sched *s = calloc(1, sizeof *s);
  if (!s) return ECO_ENOMEM;
  s->cfg = *cfg;
  s->slot_used = calloc(cfg->max_batch, sizeof *s->slot_used);
  s->items = calloc(cfg->max_batch, sizeof *s->items);
  if (!s->slot_used || !s->items) {
    eco_sched_free(s);
    return ECO_ENOMEM;
  }
  *out = s;
  return ECO_OK;
}

void eco_sched_free(eco_sched *s) {
  if (!s) return;
  free(s->seqs);
  free(s->slot_used);
  free(s->items);
  free(s);
}

static eco_sched_seq *find(const eco_sched *s, uint64_t id) {
  for (size_t i = 0; i < s->n_seqs; i++)
    if (s->seqs[i].id == id) return &s->seqs[i];
  return NULL;
}

static uint64_t reservation(const eco_sched *s, uint32_t n_prompt, uint32_t max_new) {
  return ((uint64_t)n_prompt + max_new) * s->cfg.kv_bytes_per_token;
}

int eco_sched_submit(eco_sched *s, uint64_t id, uint32_t n_prompt, uint32_t max_new, double now) {
  if (n_prompt == 0 || max_new == 0) return ECO_EINVAL;
  if ((uint64_t)n_prompt + max_new > s->cfg.n_ctx) return ECO_ECONTEXT;
  /* Overflow-safe: n_prompt + max_new <= n_ctx (u32), bytes/token is u64. */
  if (s->cfg.kv_bytes_per_token > s->cfg.kv_budget_bytes / ((uint64_t)n_prompt + max_new))
    return ECO_ENOMEM;
  if (find(s, id)) return ECO_EINVAL;
  if (s->n_queued >= s->cfg.max_queue) return ECO_EBUSY;
  if (s->n_seqs == s->cap_seqs) {
    size_t cap = s->cap_seqs ? s->cap_seqs * 2 : 16;
    eco_sched_seq *n = realloc(s->seqs, cap * sizeof *n);
    if (!n) return ECO_ENOMEM;
    s->seqs = n;
    s->cap_seqs = cap;
  }
  eco_sched_seq *q = &s->seqs[s->n_seqs++];
  memset(q, 0, sizeof *q);
  q->id = id;
  q->n_prompt = n_prompt;
  q->max_new = max_new;
  q->state = ECO_SEQ_QUEUED;
  q->slot = -1;
  q->t_submit = now;
  s->n_queued++;
  return ECO_OK;
}

static void finish(eco_sched *s, eco_sched_seq *q, double now) {
  if (q->state == ECO_SEQ_QUEUED) {
    s->n_queued--;
  } else if (q->state != ECO_SEQ_DONE) {
    s->n_active--;
    s->kv_reserved -= q->reserved_bytes;
    if (q->slot >= 0) s->slot_used[q->slot] = false;
  }
  q->reserved_bytes = 0;
  q->slot = -1;
  q->state = ECO_SEQ_DONE;
  q->t_done = now;
}

/* FIFO admission: the oldest queued sequence goes first; if it does not fit,
 * nothing behind it is admitted (no starvation of large requests). */
static void admit(eco_sched *s, double now) {
  for (size_t i = 0; i < s->n_seqs; i++) {
    eco_sched_seq *q = &s->seqs[i];
    if (q->state != ECO_SEQ_QUEUED) continue;
    if (s->n_active >= s->cfg.max_batch) return;
    uint64_t need = reservation(s, q->n_prompt, q->max_new);
    if (need > s->cfg.kv_budget_bytes - s->kv_reserved) return;
    int32_t slot = -1;
    for (uint32_t k = 0; k < s->cfg.max_batch; k++)
      if (!s->slot_used[k]) {
        slot = (int32_t)k;
        break;
      }
    if (slot < 0) return; /* cannot happen while n_active < max_batch */
    s->slot_used[slot] = true;
    q->slot = slot;
    q->reserved_bytes = need;
    q->state = ECO_SEQ_PREFILL;
    q->t_admit = now;
    s->kv_reserved += need;
    s->n_queued--;
    s->n_active++;
  }
}

int eco_sched_plan(eco_sched *s, double now, eco_sched_step *step) {
  admit(s, now);
  uint32_t budget = s->cfg.step_tokens, n = 0, ntok = 0, ndec = 0;
  /* Decodes first: one token each, so generation never waits on prompts. */
  for (size_t i = 0; i < s->n_seqs && budget > 0 && n < s->cfg.max_batch; i++) {
    eco_sched_seq *q = &s->seqs[i];
    if (q->state != ECO_SEQ_DECODE) continue;
    s->items[n++] = (eco_sched_item){.id = q->id,
                                     .slot = q->slot,
                                     .pos = q->n_prompt + q->n_generated - 1,
                                     .n_tokens = 1,
                                     .wants_logits = true};
    budget--;
    ntok++;
    ndec++;
  }
  /* Then prompt chunks, oldest first, within what is left of the budget. */
  for (size_t i = 0; i < s->n_seqs && budget > 0 && n < s->cfg.max_batch; i++) {
    eco_sched_seq *q = &s->seqs[i];
    if (q->state != ECO_SEQ_PREFILL) continue;
    uint32_t left = q->n_prompt - q->n_prefilled;
    uint32_t chunk = left < s->cfg.prefill_chunk ? left : s->cfg.prefill_chunk;
    if (chunk > budget) chunk = budget;
    s->items[n++] = (eco_sched_item){.id = q->id,
                                     .slot = q->slot,
                                     .pos = q->n_prefilled,
                                     .n_tokens = chunk,
                                     .wants_logits = chunk == left};
    budget -= chunk;
    ntok += chunk;
  }
  step->items = s->items;
  step->n_items = n;
  step->n_tokens = ntok;
  step->n_decode = ndec;
  return ECO_OK;
}

int eco_sched_complete(eco_sched *s, const eco_sched_step *step, const bool *finished, double now) {
  for (uint32_t i = 0; i < step->n_items; i++) {
    const eco_sched_item *it = &step->items[i];
    eco_sched_seq *q = find(s, it->id);
    /* A sequence canceled while its step ran is simply skipped. */
    if (!q || q->state == ECO_SEQ_DONE || q->state == ECO_SEQ_QUEUED) continue;
    bool produced = false;
    if (q->state == ECO_SEQ_PREFILL) {
      if (it->pos != q->n_prefilled || it->n_tokens > q->n_prompt - q->n_prefilled)
        return ECO_EINTERNAL;
      q->n_prefilled += it->n_tokens;
      if (q->n_prefilled == q->n_prompt) {
        q->state = ECO_SEQ_DECODE;
        q->n_generated = 1;
        q->t_first_token = now;
        produced = true;
      }
    } else {
      if (it->n_tokens != 1) return ECO_EINTERNAL;
      q->n_generated++;
      produced = true;
    }
    if (produced && ((finished && finished[i]) || q->n_generated >= q->max_new)) finish(s, q, now);
  }
  return ECO_OK;
}

int eco_sched_skip_prefill(eco_sched *s, uint64_t id, uint32_t n) {
  eco_sched_seq *q = find(s, id);
  if (!q || q->state == ECO_SEQ_DONE) return ECO_ENOENT;
  if (q->state != ECO_SEQ_PREFILL || q->n_prefilled != 0) return ECO_ESTATE;
  if (n == 0 || n >= q->n_prompt) return ECO_EINVAL;
  q->n_prefilled = n;
  return ECO_OK;
}

int eco_sched_cancel(eco_sched *s, uint64_t id, double now) {
  eco_sched_seq *q = find(s, id);
  if (!q || q->state == ECO_SEQ_DONE) return ECO_ENOENT;
  finish(s, q, now);
  return ECO_OK;
}

const eco_sched_seq *eco_sched_get(const eco_sched *s, uint64_t id) { return find(s, id); }

int eco_sched_reap(eco_sched *s, uint64_t id) {
  for (size_t i = 0; i < s->n_seqs; i++) {
    if (s->seqs[i].id != id) continue;
    if (s->seqs[i].state != ECO_SEQ_DONE) return ECO_ESTATE;
    memmove(&s->seqs[i], &s->seqs[i + 1], (s->n_seqs - i - 1) * sizeof *s->seqs);
    s->n_seqs--;
    return ECO_OK;
  }
  return ECO_ENOENT;
}

void eco_sched_usage_get(const eco_sched *s, eco_sched_usage *u) {
  u->queued = s->n_queued;
  u->active = s->n_active;
  u->kv_reserved = s->kv_reserved;
  u->kv_budget = s->cfg.kv_budget_bytes;
}
