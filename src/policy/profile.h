/* ecoinfer policy: node performance/energy profiles and output-length
 * prediction.
 *
 * A profile predicts, for one node, how long a request takes and how much
 * energy it uses, as a function of its prompt tokens P, its expected output
 * tokens O and the batch b it runs in:
 *
 *   step(b)   = 1 + batch_slowdown * (b - 1)        decode step time factor
 *   prefill_s = overhead_s + prefill_s_per_tok * P
 *   decode_s  = decode_s_per_tok * O * step(b)
 *   energy_j  = prefill_j_per_tok * P + decode_j_per_tok * O * step(b) / b
 *
 * (a batched decode step costs about one step's power for b sequences, so
 * the per-sequence energy falls as step(b)/b).
 *
 * Online update (eco_profile_observe), the documented estimator: an
 * exponentially weighted moving average with weight alpha (default 0.2) on
 * each coefficient, each measured from one receipt:
 *   prefill_s_per_tok <- EWMA( max(0, ttft_s - overhead_s) / P )
 *   decode_s_per_tok  <- EWMA( decode_s / O / step(b) )
 *   service_s         <- EWMA( ttft_s + decode_s )
 *   J coefficients    <- scaled by EWMA of measured_j / predicted_j
 *                        (both coefficients keep their ratio)
 * The first observation of an unseeded profile is taken as is.
 *
 * Everything here is pure: no clock, no I/O, no globals. */
#ifndef ECO_POLICY_PROFILE_H
#define ECO_POLICY_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct eco_profile {
  double overhead_s;        /* fixed per-request time (HTTP, tokenize, schedule), s */
  double prefill_s_per_tok; /* prompt processing time per prompt token, s/token */
  double decode_s_per_tok;  /* decode step time per generated token at batch 1, s/token */
  double batch_slowdown;    /* step(b) = 1 + batch_slowdown*(b-1); 0 = perfect batching */
  double prefill_j_per_tok; /* energy per prompt token, J/token (IT energy, before PUE) */
  double decode_j_per_tok;  /* energy per generated token at batch 1, J/token */
  double service_s;         /* mean observed service time of one request, s (0 = unknown) */
  uint32_t n_obs;           /* receipts folded in so far (0 = seeded only) */
} eco_profile;

/* One request's measurements, from a receipt or the router's own clock. */
typedef struct eco_profile_obs {
  uint32_t prompt_tokens; /* P */
  uint32_t out_tokens;    /* generated tokens */
  uint32_t batch;         /* batch it ran in (1 if unknown) */
  double ttft_s;          /* time to first token, excluding queue wait when known, s (<0 unknown) */
  double decode_s;        /* first token to last token, s (<0 unknown) */
  double energy_j;        /* measured IT energy of the request, J (<0 unknown) */
} eco_profile_obs;

#define ECO_PROFILE_ALPHA_DEFAULT 0.2

/* step(b) as above; b < 1 is treated as 1. */
double eco_profile_step_factor(const eco_profile *p, double batch);
/* Predicted prefill (incl. overhead) and decode times, s. */
double eco_profile_prefill_s(const eco_profile *p, double prompt_tokens);
double eco_profile_decode_s(const eco_profile *p, double out_tokens, double batch);
/* Predicted IT energy of one request, J. */
double eco_profile_energy_j(const eco_profile *p, double prompt_tokens, double out_tokens,
                            double batch);
/* True if the profile can predict (positive decode speed). */
bool eco_profile_valid(const eco_profile *p);

/* Folds one observation into *p (EWMA with weight alpha in (0,1]).
 * Unknown (negative) fields are skipped. Returns 0, or ECO_EINVAL for
 * NULL, non-finite values or alpha outside (0,1]. */
int eco_profile_observe(eco_profile *p, const eco_profile_obs *o, double alpha);

/* Seeds a profile from throughput figures as a node or `ecoinfer bench`
 * reports them: prompt tokens/s, generated tokens/s at batch 1 and J per
 * generated token. Prefill energy per token is taken as j_per_tok *
 * decode_tps / prefill_tps (same power, faster tokens). Returns 0 or
 * ECO_EINVAL for non-positive rates. */
int eco_profile_from_rates(eco_profile *p, double prefill_tps, double decode_tps, double j_per_tok,
                           double overhead_s, double batch_slowdown);

/* --- Expected output length ------------------------------------------- */

#define ECO_OUTLEN_BUCKETS 16

/* History of output lengths, bucketed by floor(log2(prompt tokens + 1)). */
typedef struct eco_outlen_model {
  double mean_out[ECO_OUTLEN_BUCKETS]; /* EWMA of generated tokens, tokens */
  uint32_t n[ECO_OUTLEN_BUCKETS];      /* observations per bucket */
  double all_mean_out;                 /* EWMA over every bucket, tokens */
  uint32_t all_n;                      /* observations in all */
  double alpha;                        /* EWMA weight, (0,1]; 0 = ECO_PROFILE_ALPHA_DEFAULT */
  double default_out;                  /* prior when there is no history, tokens (0 = 128) */
  uint32_t default_max_tokens;         /* cap when a request has no max_tokens (0 = 4096) */
} eco_outlen_model;

/* Prediction, tokens, always in [1, max_tokens]:
 *  - prior (no history): min(max_tokens, default_out);
 *  - with history: the bucket's mean if it has >= 3 observations, else the
 *    all-bucket mean, blended with the prior by weight n/(n+4), capped at
 *    max_tokens. max_tokens 0 means "none" (default_max_tokens). m may be
 *    NULL (prior only). */
double eco_outlen_predict(const eco_outlen_model *m, uint32_t prompt_tokens, uint32_t max_tokens);
/* Records one finished request's generated tokens. */
void eco_outlen_observe(eco_outlen_model *m, uint32_t prompt_tokens, uint32_t out_tokens);

#endif
