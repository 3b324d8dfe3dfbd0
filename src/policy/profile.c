#include "policy/profile.h"

#include "util/status.h"

#include <math.h>

double eco_profile_step_factor(const eco_profile *p, double batch) {
  if (batch < 1) batch = 1;
  double k = p->batch_slowdown > 0 ? p->batch_slowdown : 0;
  return 1.0 + k * (batch - 1.0);
}

double eco_profile_prefill_s(const eco_profile *p, double prompt_tokens) {
  if (prompt_tokens < 0) prompt_tokens = 0;
  return p->overhead_s + p->prefill_s_per_tok * prompt_tokens;
}

double eco_profile_decode_s(const eco_profile *p, double out_tokens, double batch) {
  if (out_tokens < 0) out_tokens = 0;
  return p->decode_s_per_tok * out_tokens * eco_profile_step_factor(p, batch);
}

double eco_profile_energy_j(const eco_profile *p, double prompt_tokens, double out_tokens,
                            double batch) {
  if (batch < 1) batch = 1;
  if (prompt_tokens < 0) prompt_tokens = 0;
  if (out_tokens < 0) out_tokens = 0;
  return p->prefill_j_per_tok * prompt_tokens +
         p->decode_j_per_tok * out_tokens * eco_profile_step_factor(p, batch) / batch;
}

bool eco_profile_valid(const eco_profile *p) {
  return p && isfinite(p->decode_s_per_tok) && p->decode_s_per_tok > 0;
}

static double ewma(double old, double x, double alpha, bool first) {
  return first ? x : old + alpha * (x - old);
}

int eco_profile_observe(eco_profile *p, const eco_profile_obs *o, double alpha) {
  if (!p || !o || !(alpha > 0 && alpha <= 1)) return ECO_EINVAL;
  if (!isfinite(o->ttft_s) || !isfinite(o->decode_s) || !isfinite(o->energy_j)) return ECO_EINVAL;
  double b = o->batch >= 1 ? (double)o->batch : 1.0;
  bool first = p->n_obs == 0 && !eco_profile_valid(p);
  if (o->ttft_s >= 0 && o->prompt_tokens > 0) {
    double x = o->ttft_s - p->overhead_s;
    if (x < 0) x = 0;
    p->prefill_s_per_tok =
        ewma(p->prefill_s_per_tok, x / o->prompt_tokens, alpha, first || p->prefill_s_per_tok <= 0);
  }
  if (o->decode_s >= 0 && o->out_tokens > 0) {
    double x = o->decode_s / o->out_tokens / eco_profile_step_factor(p, b);
    p->decode_s_per_tok = ewma(p->decode_s_per_tok, x, alpha, first);
  }
  if (o->ttft_s >= 0 && o->decode_s >= 0)
    p->service_s = ewma(p->service_s, o->ttft_s + o->decode_s, alpha, p->service_s <= 0);
  if (o->energy_j >= 0) {
    double pred = eco_profile_energy_j(p, o->prompt_tokens, o->out_tokens, b);
    if (pred > 0) {
      double scale = o->energy_j / pred;
      double f = first ? scale : 1.0 + alpha * (scale - 1.0);
      p->prefill_j_per_tok *= f;
      p->decode_j_per_tok *= f;
    } else if (o->out_tokens > 0 || o->prompt_tokens > 0) {
      /* No energy model yet: attribute it all per token, prompt and output alike. */
      double per = o->energy_j / ((double)o->prompt_tokens +
                                  (double)o->out_tokens * eco_profile_step_factor(p, b) / b);
      p->prefill_j_per_tok = per;
      p->decode_j_per_tok = per;
    }
  }
  p->n_obs++;
  return ECO_OK;
}

int eco_profile_from_rates(eco_profile *p, double prefill_tps, double decode_tps, double j_per_tok,
                           double overhead_s, double batch_slowdown) {
  if (!p || !(prefill_tps > 0) || !(decode_tps > 0) || !(j_per_tok >= 0) || !(overhead_s >= 0) ||
      !(batch_slowdown >= 0) || !isfinite(prefill_tps) || !isfinite(decode_tps) ||
      !isfinite(j_per_tok))
    return ECO_EINVAL;
  *p = (eco_profile){
      .overhead_s = overhead_s,
      .prefill_s_per_tok = 1.0 / prefill_tps,
      .decode_s_per_tok = 1.0 / decode_tps,
      .batch_slowdown = batch_slowdown,
      .prefill_j_per_tok = j_per_tok * decode_tps / prefill_tps,
      .decode_j_per_tok = j_per_tok,
  };
  return ECO_OK;
}

/* --- output length ------------------------------------------------------ */

static int bucket_of(uint32_t prompt_tokens) {
  int b = 0;
  uint64_t v = (uint64_t)prompt_tokens + 1;
  while (v > 1 && b < ECO_OUTLEN_BUCKETS - 1) {
    v >>= 1;
    b++;
  }
  return b;
}

double eco_outlen_predict(const eco_outlen_model *m, uint32_t prompt_tokens, uint32_t max_tokens) {
  double def = m && m->default_out > 0 ? m->default_out : 128.0;
  double cap = max_tokens > 0 ? (double)max_tokens
                              : (m && m->default_max_tokens > 0 ? m->default_max_tokens : 4096.0);
  double prior = def < cap ? def : cap;
  double pred = prior;
  if (m) {
    int b = bucket_of(prompt_tokens);
    double hist = 0, n = 0;
    if (m->n[b] >= 3) {
      hist = m->mean_out[b];
      n = m->n[b];
    } else if (m->all_n > 0) {
      hist = m->all_mean_out;
      n = m->all_n;
    }
    if (n > 0) {
      double w = n / (n + 4.0);
      pred = w * hist + (1 - w) * prior;
    }
  }
  if (pred > cap) pred = cap;
  if (pred < 1) pred = 1;
  return pred;
}

void eco_outlen_observe(eco_outlen_model *m, uint32_t prompt_tokens, uint32_t out_tokens) {
  if (!m) return;
  double a = m->alpha > 0 && m->alpha <= 1 ? m->alpha : ECO_PROFILE_ALPHA_DEFAULT;
  int b = bucket_of(prompt_tokens);
  /* Plain mean for the first 1/alpha samples, EWMA after. */
  double ab = 1.0 / (m->n[b] + 1.0);
  if (ab < a) ab = a;
  m->mean_out[b] += ab * ((double)out_tokens - m->mean_out[b]);
  m->n[b]++;
  double aa = 1.0 / (m->all_n + 1.0);
  if (aa < a) aa = a;
  m->all_mean_out += aa * ((double)out_tokens - m->all_mean_out);
  m->all_n++;
}
