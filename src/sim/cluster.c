/* ecoinfer simulator: the discrete-event cluster simulation (see cluster.h). */
#include "sim/cluster.h"

#include "accounting/receipt.h"
#include "carbon/sci.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { EV_ARRIVAL = 1, EV_BATCH_DONE = 2, EV_BATCH_TIMER = 3, EV_HOUR = 4 };

#define HOUR_S       3600.0
#define HIST_LO_S    1e-3
#define HIST_PER_DEC 200.0

typedef struct sim_node {
  uint32_t *q; /* ring of request slots */
  size_t q_head, q_len, q_cap;
  double q_prompt, q_out; /* tokens waiting */
  uint32_t *run;          /* slots of the running batch */
  int n_run;
  bool busy;
  double busy_until, idle_since, busy_s;
  uint64_t timer_gen;
  double timer_at; /* armed timer time, or -1 */
} sim_node;

struct eco_sim {
  const eco_sim_cfg *cfg;
  const eco_sim_policy_ops *ops;
  eco_sim_rng rng;
  eco_sim_heap heap;
  double now;
  sim_node *nodes;
  eco_sim_req *reqs; /* slot pool */
  uint32_t *free_slots;
  size_t n_reqs, n_free;
  uint64_t next_id;
  size_t trace_pos;
  double exp_out[ECO_SIM_MAX_LEVELS]; /* expected output tokens per level */
  eco_sim_result *res;
  size_t hours_cap;
  eco_error *err;
};

double eco_sim_hist_edge(size_t i) { return HIST_LO_S * pow(10.0, (double)(i + 1) / HIST_PER_DEC); }

static size_t hist_bin(double lat_s) {
  if (!(lat_s > HIST_LO_S)) return 0;
  double b = floor(log10(lat_s / HIST_LO_S) * HIST_PER_DEC);
  if (b >= ECO_SIM_HIST_BINS - 1) return ECO_SIM_HIST_BINS - 1;
  return b < 0 ? 0 : (size_t)b;
}

double eco_sim_result_quantile(const eco_sim_result *r, double q) {
  uint64_t n = 0;
  for (size_t i = 0; i < ECO_SIM_HIST_BINS; i++)
    n += r->hist[i];
  if (n == 0) return 0;
  double target = q * (double)n;
  uint64_t c = 0;
  for (size_t i = 0; i < ECO_SIM_HIST_BINS; i++) {
    c += r->hist[i];
    if ((double)c >= target && r->hist[i]) {
      double e = eco_sim_hist_edge(i);
      return e < r->lat_max_s ? e : r->lat_max_s;
    }
  }
  return r->lat_max_s;
}

void eco_sim_result_free(eco_sim_result *r) {
  free(r->hours);
  free(r->node_busy_s);
  r->hours = NULL;
  r->node_busy_s = NULL;
  r->n_hours = r->n_nodes = 0;
}

double eco_sim_zone_ci(const eco_sim_zone *z, double t) {
  if (!z->ci || z->n_hours == 0) return 0;
  double h = floor(t / HOUR_S);
  if (h < 0) h = 0;
  size_t i = (z->start_hour + (size_t)h) % z->n_hours;
  return z->ci[i];
}

size_t eco_sim_n_nodes(const eco_sim *sim) { return sim->cfg->n_nodes; }
double eco_sim_now(const eco_sim *sim) { return sim->now; }
const eco_sim_cfg *eco_sim_config(const eco_sim *sim) { return sim->cfg; }

void eco_sim_node_state_get(const eco_sim *sim, size_t i, eco_sim_node_state *st) {
  const eco_sim_node_cfg *nc = &sim->cfg->nodes[i];
  const sim_node *n = &sim->nodes[i];
  st->dev = &sim->cfg->devices[nc->device];
  st->zone = &sim->cfg->zones[nc->zone];
  st->queued = n->q_len;
  st->queued_prompt_tok = n->q_prompt;
  st->queued_out_tok = n->q_out;
  st->running = n->busy ? n->n_run : 0;
  st->busy_until = n->busy ? n->busy_until : sim->now;
  st->intensity = eco_sim_zone_ci(st->zone, sim->now);
  st->healthy = true;
}

static eco_sim_hour *hour_at(eco_sim *s, double t) {
  double hf = floor(t / HOUR_S);
  size_t h = hf < 0 ? 0 : (size_t)hf;
  eco_sim_result *r = s->res;
  if (h >= r->n_hours) {
    if (h >= s->hours_cap) {
      size_t nc = s->hours_cap ? s->hours_cap : 64;
      while (nc <= h)
        nc *= 2;
      eco_sim_hour *nh = realloc(r->hours, nc * sizeof *nh);
      if (!nh) return NULL;
      r->hours = nh;
      s->hours_cap = nc;
    }
    for (size_t i = r->n_hours; i <= h; i++) {
      memset(&r->hours[i], 0, sizeof r->hours[i]);
      double ci = 0;
      for (size_t k = 0; k < s->cfg->n_nodes; k++)
        ci += eco_sim_zone_ci(&s->cfg->zones[s->cfg->nodes[k].zone], (double)i * HOUR_S);
      r->hours[i].ci_mean = s->cfg->n_nodes ? ci / (double)s->cfg->n_nodes : 0;
    }
    r->n_hours = h + 1;
  }
  return &r->hours[h];
}

/* Idle power and idle embodied share of node i over [t0, t1]. */
static int account_idle(eco_sim *s, size_t i, double t0, double t1) {
  const eco_sim_node_cfg *nc = &s->cfg->nodes[i];
  const eco_sim_device *d = &s->cfg->devices[nc->device];
  const eco_sim_zone *z = &s->cfg->zones[nc->zone];
  double t = t0;
  while (t < t1) {
    double hend = (floor(t / HOUR_S) + 1) * HOUR_S;
    double seg = (t1 < hend ? t1 : hend) - t;
    double e = d->idle_w * seg;
    double g = eco_sci_operational_g(e, eco_sim_zone_ci(z, t), z->pue);
    eco_sim_hour *h = hour_at(s, t);
    if (!h) return ECO_ENOMEM;
    h->op_g += g;
    h->energy_j += e;
    s->res->energy_idle_j += e;
    s->res->op_g += g;
    s->res->op_idle_g += g;
    s->res->emb_idle_g += eco_sci_embodied_g(&d->embodied, seg);
    t += seg;
  }
  return 0;
}

/* A request's receipt through the one builder (src/accounting/receipt.h):
 * energy_j at intensity ci and pue, holding share of the device for dur_s. */
static int price_request(eco_sim_req *r, double energy_j, double ci, double pue,
                         const eco_embodied *dev, double dur_s, double share) {
  eco_receipt_in in = {.energy_j = energy_j,
                       .energy_source = "sim",
                       .energy_estimated = true,
                       .intensity_gco2_kwh = ci,
                       .intensity_estimated = true,
                       .embodied_g_per_s = eco_sci_embodied_rate(dev),
                       .reserved_s = dur_s,
                       .share = share,
                       .pue = pue};
  eco_receipt rc;
  int err = eco_receipt_build(&in, &rc);
  if (err) return err;
  r->energy_j = rc.energy_j;
  r->op_g = rc.operational_g;
  r->emb_g = rc.embodied_g;
  return 0;
}

static int alloc_slot(eco_sim *s, uint32_t *slot) {
  if (s->n_free == 0) {
    size_t nc = s->n_reqs ? s->n_reqs * 2 : 1024;
    if (nc > UINT32_MAX) return ECO_EOVERFLOW;
    eco_sim_req *nr = realloc(s->reqs, nc * sizeof *nr);
    if (!nr) return ECO_ENOMEM;
    s->reqs = nr;
    uint32_t *nf = realloc(s->free_slots, nc * sizeof *nf);
    if (!nf) return ECO_ENOMEM;
    s->free_slots = nf;
    for (size_t k = nc; k > s->n_reqs; k--)
      s->free_slots[s->n_free++] = (uint32_t)(k - 1);
    s->n_reqs = nc;
  }
  *slot = s->free_slots[--s->n_free];
  if (s->n_reqs - s->n_free > s->res->peak_in_flight)
    s->res->peak_in_flight = s->n_reqs - s->n_free;
  return 0;
}

static void free_slot(eco_sim *s, uint32_t slot) { s->free_slots[s->n_free++] = slot; }

static int q_push(sim_node *n, uint32_t slot) {
  if (n->q_len == n->q_cap) {
    size_t nc = n->q_cap ? n->q_cap * 2 : 16;
    uint32_t *nq = malloc(nc * sizeof *nq);
    if (!nq) return ECO_ENOMEM;
    for (size_t k = 0; k < n->q_len; k++)
      nq[k] = n->q[(n->q_head + k) % n->q_cap];
    free(n->q);
    n->q = nq;
    n->q_cap = nc;
    n->q_head = 0;
  }
  n->q[(n->q_head + n->q_len) % n->q_cap] = slot;
  n->q_len++;
  return 0;
}

static uint32_t q_pop(sim_node *n) {
  uint32_t s = n->q[n->q_head];
  n->q_head = (n->q_head + 1) % n->q_cap;
  n->q_len--;
  return s;
}

static void finish_req(eco_sim *s, eco_sim_req *r, bool refused) {
  eco_sim_result *res = s->res;
  if (refused) {
    res->refused++;
  } else {
    double lat = r->done_s - r->arrival;
    res->completed++;
    res->lat_sum_s += lat;
    if (lat > res->lat_max_s) res->lat_max_s = lat;
    res->hist[hist_bin(lat)]++;
    if (r->slo_s <= 0 || lat <= r->slo_s + 1e-9) res->slo_met++;
    res->prompt_tok += r->prompt_tok;
    res->out_tok += r->out_tok;
    if (r->done_s > res->makespan_s) res->makespan_s = r->done_s;
    eco_sim_hour *h = hour_at(s, r->done_s);
    if (h) h->done++;
  }
  if (s->cfg->on_done) s->cfg->on_done(s->cfg->user, r, refused);
}

static double batch_duration(const eco_sim_device *d, int b, double sum_prompt, double max_out,
                             double *prefill_s, double *step_s, double *power_w) {
  double pf, dc, pw;
  eco_sim_device_at(d, b, &pf, &dc, &pw);
  *prefill_s = sum_prompt / pf;
  *step_s = (double)b / dc;
  *power_w = pw;
  return *prefill_s + max_out * *step_s;
}

static int notify(eco_sim *s, size_t i) {
  if (s->ops && s->ops->node_changed) return s->ops->node_changed(s->ops->ctx, s, i);
  return 0;
}

/* Refuses the request at the head of node n's queue: it cannot fit even alone. */
static void refuse_head(eco_sim *s, sim_node *n) {
  eco_sim_req *r = &s->reqs[n->q[n->q_head]];
  uint32_t slot = q_pop(n);
  n->q_prompt -= r->prompt_tok;
  n->q_out -= r->expected_out;
  finish_req(s, r, true);
  free_slot(s, slot);
}

/* Whether node i should wait for its batch of target to fill: no longer than batch_wait_s
 * and never so long that the oldest request would miss its SLO. Arms the batch timer. */
static int wait_for_fill(eco_sim *s, size_t i, int target, bool *wait) {
  sim_node *n = &s->nodes[i];
  const eco_sim_cfg *cfg = s->cfg;
  const eco_sim_device *d = &cfg->devices[cfg->nodes[i].device];
  *wait = false;
  if ((int)n->q_len >= target) return 0;
  const eco_sim_req *old = &s->reqs[n->q[n->q_head]];
  double deadline = old->arrival + cfg->batch_wait_s;
  if (old->slo_s > 0) {
    double ps, ss, pw;
    double est = batch_duration(d, target, (double)old->prompt_tok * target,
                                (double)old->expected_out, &ps, &ss, &pw);
    double latest = old->arrival + old->slo_s - est;
    if (latest < deadline) deadline = latest;
  }
  if (s->now >= deadline) return 0;
  *wait = true;
  if (n->timer_at == deadline) return 0;
  n->timer_gen++;
  n->timer_at = deadline;
  return eco_sim_heap_push(&s->heap, deadline, EV_BATCH_TIMER, (uint32_t)i, n->timer_gen);
}

/* The batch being formed: sums over its requests. */
typedef struct batch_sums {
  double tokens;     /* prompt + output tokens of the batch */
  double sum_prompt; /* prompt tokens */
  double max_out;    /* the longest output, tokens */
} batch_sums;

/* Forms node n's batch: FIFO, up to target, while memory fits. */
static void form_batch(eco_sim *s, sim_node *n, const eco_sim_device *d, int target,
                       batch_sums *b) {
  double max_prompt = 0;
  *b = (batch_sums){0};
  n->n_run = 0;
  while (n->q_len > 0 && n->n_run < target) {
    eco_sim_req *r = &s->reqs[n->q[n->q_head]];
    double own = (double)r->prompt_tok + r->out_tok;
    if (eco_sim_device_mem_need(d, own) > d->usable_mem_bytes) {
      refuse_head(s, n); /* cannot fit even alone: refused */
      continue;
    }
    /* static batches pad every sequence to the longest prompt + output */
    double mp = r->prompt_tok > max_prompt ? r->prompt_tok : max_prompt;
    double mo = r->out_tok > b->max_out ? r->out_tok : b->max_out;
    double t2 = (double)(n->n_run + 1) * (mp + mo);
    if (n->n_run > 0 && eco_sim_device_mem_need(d, t2) > d->usable_mem_bytes) break;
    b->tokens += own;
    max_prompt = mp;
    n->run[n->n_run++] = q_pop(n);
    n->q_prompt -= r->prompt_tok;
    n->q_out -= r->expected_out;
    b->sum_prompt += r->prompt_tok;
    if (r->out_tok > b->max_out) b->max_out = r->out_tok;
  }
  if (n->q_len == 0) n->q_prompt = n->q_out = 0; /* no drift from float sums */
}

/* Runs node i's formed batch: prices each request and the hour, and schedules its end. */
static int run_batch(eco_sim *s, size_t i, const batch_sums *b) {
  sim_node *n = &s->nodes[i];
  const eco_sim_node_cfg *nc = &s->cfg->nodes[i];
  const eco_sim_device *d = &s->cfg->devices[nc->device];
  const eco_sim_zone *z = &s->cfg->zones[nc->zone];
  int rc;
  double prefill_s, step_s, power_w;
  double dur =
      batch_duration(d, n->n_run, b->sum_prompt, b->max_out, &prefill_s, &step_s, &power_w);
  if ((rc = account_idle(s, i, n->idle_since, s->now))) return rc;
  double ci = eco_sim_zone_ci(z, s->now);
  double e_pre = power_w * prefill_s, e_dec = power_w * (b->max_out * step_s);
  double sum_out = 0;
  for (int k = 0; k < n->n_run; k++)
    sum_out += s->reqs[n->run[k]].out_tok;
  double emb = eco_sci_embodied_g(&d->embodied, dur);
  for (int k = 0; k < n->n_run; k++) {
    eco_sim_req *r = &s->reqs[n->run[k]];
    double share_p = b->sum_prompt > 0 ? r->prompt_tok / b->sum_prompt : 1.0 / n->n_run;
    double share_o = sum_out > 0 ? r->out_tok / sum_out : 1.0 / n->n_run;
    double toks = (double)r->prompt_tok + r->out_tok;
    r->node = (int32_t)i;
    r->start_s = s->now;
    r->done_s = s->now + prefill_s + (double)r->out_tok * step_s;
    /* the request's share of the batch's energy (by phase) and of its device time (by tokens) */
    if ((rc = price_request(r, e_pre * share_p + e_dec * share_o, ci, z->pue, &d->embodied, dur,
                            b->tokens > 0 ? toks / b->tokens : 1.0 / n->n_run)))
      return rc;
  }
  double e = power_w * dur;
  double g = eco_sci_operational_g(e, ci, z->pue);
  eco_sim_hour *h = hour_at(s, s->now);
  if (!h) return ECO_ENOMEM;
  h->op_g += g;
  h->emb_g += emb;
  h->energy_j += e;
  s->res->energy_active_j += e;
  s->res->op_g += g;
  s->res->emb_g += emb;
  s->res->batches++;
  s->res->batch_seqs += n->n_run;
  n->busy = true;
  n->busy_until = s->now + dur;
  n->busy_s += dur;
  return eco_sim_heap_push(&s->heap, n->busy_until, EV_BATCH_DONE, (uint32_t)i, 0);
}

/* Starts a batch at node i if it is idle and its queue is ready. */
static int try_start(eco_sim *s, size_t i) {
  sim_node *n = &s->nodes[i];
  const eco_sim_cfg *cfg = s->cfg;
  const eco_sim_device *d = &cfg->devices[cfg->nodes[i].device];
  int rc;
  if (n->busy) return 0;
  /* refuse requests that cannot fit even alone, as the node would */
  while (n->q_len > 0) {
    const eco_sim_req *r = &s->reqs[n->q[n->q_head]];
    double need = eco_sim_device_mem_need(d, (double)r->prompt_tok + r->out_tok);
    if (need <= d->usable_mem_bytes) break;
    refuse_head(s, n);
  }
  if (n->q_len == 0) return notify(s, i);
  int target = cfg->batch_size < d->max_batch ? cfg->batch_size : d->max_batch;
  if (target < 1) target = 1;
  bool wait;
  if ((rc = wait_for_fill(s, i, target, &wait))) return rc;
  if (wait) return 0;
  n->timer_at = -1;
  n->timer_gen++;
  batch_sums b;
  form_batch(s, n, d, target, &b);
  if (n->n_run == 0) return notify(s, i); /* everything was refused */
  if ((rc = run_batch(s, i, &b))) return rc;
  return notify(s, i);
}

static int batch_done(eco_sim *s, size_t i) {
  sim_node *n = &s->nodes[i];
  for (int k = 0; k < n->n_run; k++) {
    finish_req(s, &s->reqs[n->run[k]], false);
    free_slot(s, n->run[k]);
  }
  n->n_run = 0;
  n->busy = false;
  n->idle_since = s->now;
  return try_start(s, i);
}

static uint32_t cap_tok(double v, uint32_t cap) {
  if (!(v >= 1)) v = 1;
  if (cap && v > cap) v = cap;
  if (v > 1e9) v = 1e9;
  return (uint32_t)llround(v);
}

static void draw_lengths(eco_sim *s, eco_sim_req *r, const eco_sim_len *given) {
  const eco_sim_workload *w = &s->cfg->workload;
  double u = eco_sim_rng_uniform(&s->rng);
  uint8_t level = 0;
  double acc = 0;
  for (size_t l = 0; l < w->n_levels; l++) {
    acc += w->level_mix[l];
    level = (uint8_t)l;
    if (u < acc) break;
  }
  r->level = level;
  if (given || w->n_lens > 0) {
    const eco_sim_len *L = given ? given : &w->lens[eco_sim_rng_below(&s->rng, w->n_lens)];
    r->prompt_tok = cap_tok(L->prompt_tok, w->max_prompt_tok);
    double out = L->out_tok[level];
    if (out == 0) out = L->out_tok[0] * w->level_mult[level];
    r->out_tok = cap_tok(out, w->max_out_tok);
  } else {
    double p = w->prompt_median * exp(w->prompt_sigma * eco_sim_rng_normal(&s->rng));
    double o = w->out_median * exp(w->out_sigma * eco_sim_rng_normal(&s->rng));
    r->prompt_tok = cap_tok(p, w->max_prompt_tok);
    r->out_tok = cap_tok(o * w->level_mult[level], w->max_out_tok);
  }
  r->expected_out = w->oracle_lengths ? r->out_tok : cap_tok(s->exp_out[level], w->max_out_tok);
}

/* Time of the next arrival after t, or +inf when there is none. */
static double next_arrival(eco_sim *s, double t) {
  const eco_sim_workload *w = &s->cfg->workload;
  if (w->max_requests && s->next_id >= w->max_requests) return INFINITY;
  if (w->arrival == ECO_SIM_ARRIVAL_TRACE) {
    if (s->trace_pos >= w->n_times) return INFINITY;
    return w->times[s->trace_pos];
  }
  double amp = w->daily_amp < 0 ? 0 : (w->daily_amp > 1 ? 1 : w->daily_amp);
  double lmax = w->rate_per_s * (1 + amp);
  for (int guard = 0; guard < 100000; guard++) {
    t += eco_sim_rng_exp(&s->rng, lmax);
    if (!isfinite(t)) return INFINITY;
    double lam = w->rate_per_s * (1 + amp * cos(2 * M_PI * (t / 86400.0 - w->peak_hour / 24.0)));
    if (amp == 0 || eco_sim_rng_uniform(&s->rng) * lmax <= lam) return t;
  }
  return INFINITY;
}

static int schedule_arrival(eco_sim *s, double after) {
  double t = next_arrival(s, after);
  if (!isfinite(t) || t > s->cfg->duration_s) return 0;
  return eco_sim_heap_push(&s->heap, t, EV_ARRIVAL, 0, 0);
}

static int on_arrival(eco_sim *s) {
  const eco_sim_workload *w = &s->cfg->workload;
  uint32_t slot;
  int rc = alloc_slot(s, &slot);
  if (rc) return rc;
  eco_sim_req *r = &s->reqs[slot];
  memset(r, 0, sizeof *r);
  r->arrival = s->now;
  r->id = s->next_id++;
  r->slo_s = w->slo_s;
  r->node = -1;
  const eco_sim_len *given = NULL;
  if (w->arrival == ECO_SIM_ARRIVAL_TRACE) {
    if (w->trace_len) given = &w->trace_len[s->trace_pos];
    s->trace_pos++;
  }
  draw_lengths(s, r, given);
  s->res->arrived++;
  size_t node = 0;
  rc = s->ops->choose(s->ops->ctx, s, r, &node);
  if (rc || node >= s->cfg->n_nodes) {
    finish_req(s, r, true);
    free_slot(s, slot);
  } else {
    sim_node *n = &s->nodes[node];
    if ((rc = q_push(n, slot))) return rc;
    n->q_prompt += r->prompt_tok;
    n->q_out += r->expected_out;
    if ((rc = notify(s, node))) return rc;
    if ((rc = try_start(s, node))) return rc;
  }
  return schedule_arrival(s, s->now);
}

static int check_cfg(const eco_sim_cfg *cfg, const eco_sim_policy_ops *ops, eco_error *err) {
  if (!ops || !ops->choose) return eco_error_set(err, ECO_EINVAL, "sim: no policy");
  if (cfg->n_nodes == 0 || cfg->n_nodes > UINT32_MAX)
    return eco_error_set(err, ECO_EINVAL, "sim: need at least one node");
  for (size_t i = 0; i < cfg->n_devices; i++) {
    int rc = eco_sim_device_validate(&cfg->devices[i], err);
    if (rc) return rc;
  }
  for (size_t i = 0; i < cfg->n_nodes; i++)
    if (cfg->nodes[i].device >= cfg->n_devices || cfg->nodes[i].zone >= cfg->n_zones)
      return eco_error_set(err, ECO_EINVAL, "sim: node %zu names a missing device or zone", i);
  for (size_t i = 0; i < cfg->n_zones; i++)
    if (!(cfg->zones[i].pue >= 1))
      return eco_error_set(err, ECO_EINVAL, "sim: zone '%s': pue must be >= 1", cfg->zones[i].name);
  const eco_sim_workload *w = &cfg->workload;
  if (w->n_levels < 1 || w->n_levels > ECO_SIM_MAX_LEVELS)
    return eco_error_set(err, ECO_EINVAL, "sim: 1..%d directive levels", ECO_SIM_MAX_LEVELS);
  double mix = 0;
  for (size_t l = 0; l < w->n_levels; l++) {
    if (w->level_mix[l] < 0 || !(w->level_mult[l] > 0))
      return eco_error_set(err, ECO_EINVAL, "sim: level %zu: bad mix or multiplier", l);
    mix += w->level_mix[l];
  }
  if (fabs(mix - 1) > 1e-6) return eco_error_set(err, ECO_EINVAL, "sim: level mix must sum to 1");
  if (w->arrival == ECO_SIM_ARRIVAL_POISSON && !(w->rate_per_s > 0))
    return eco_error_set(err, ECO_EINVAL, "sim: Poisson arrivals need rate_per_s > 0");
  if (w->arrival == ECO_SIM_ARRIVAL_TRACE) {
    for (size_t k = 1; k < w->n_times; k++)
      if (w->times[k] < w->times[k - 1])
        return eco_error_set(err, ECO_EINVAL, "sim: trace timestamps must not decrease (row %zu)",
                             k);
  }
  if (w->n_lens == 0 && !w->trace_len && (!(w->prompt_median > 0) || !(w->out_median > 0)))
    return eco_error_set(err, ECO_EINVAL, "sim: no length table and no log-normal medians");
  if (cfg->batch_size < 1) return eco_error_set(err, ECO_EINVAL, "sim: batch_size must be >= 1");
  if (!(cfg->duration_s > 0)) return eco_error_set(err, ECO_EINVAL, "sim: duration must be > 0");
  return 0;
}

static void expected_outputs(eco_sim *s) {
  const eco_sim_workload *w = &s->cfg->workload;
  for (size_t l = 0; l < w->n_levels; l++) {
    double m;
    if (w->arrival == ECO_SIM_ARRIVAL_TRACE && w->trace_len && w->n_times > 0) {
      double sum = 0;
      for (size_t k = 0; k < w->n_times; k++) {
        double o = w->trace_len[k].out_tok[l];
        if (o == 0) o = w->trace_len[k].out_tok[0] * w->level_mult[l];
        sum += o;
      }
      m = sum / (double)w->n_times;
    } else if (w->n_lens > 0) {
      double sum = 0;
      for (size_t k = 0; k < w->n_lens; k++) {
        double o = w->lens[k].out_tok[l];
        if (o == 0) o = w->lens[k].out_tok[0] * w->level_mult[l];
        sum += o;
      }
      m = sum / (double)w->n_lens;
    } else if (w->out_median > 0) {
      m = w->out_median * exp(0.5 * w->out_sigma * w->out_sigma) * w->level_mult[l];
    } else {
      m = 128 * w->level_mult[l]; /* trace lengths only: a neutral prior */
    }
    s->exp_out[l] = m;
  }
}

int eco_sim_run(const eco_sim_cfg *cfg, const eco_sim_policy_ops *ops, eco_sim_result *out,
                eco_error *err) {
  memset(out, 0, sizeof *out);
  int rc = check_cfg(cfg, ops, err);
  if (rc) return rc;
  eco_sim s;
  memset(&s, 0, sizeof s);
  s.cfg = cfg;
  s.ops = ops;
  s.res = out;
  s.err = err;
  eco_sim_rng_seed(&s.rng, cfg->seed);
  eco_sim_heap_init(&s.heap);
  snprintf(out->policy, sizeof out->policy, "%s", ops->name ? ops->name : "?");
  s.nodes = calloc(cfg->n_nodes, sizeof *s.nodes);
  out->node_busy_s = calloc(cfg->n_nodes, sizeof *out->node_busy_s);
  if (!s.nodes || !out->node_busy_s) {
    rc = ECO_ENOMEM;
    goto fail;
  }
  out->n_nodes = cfg->n_nodes;
  for (size_t i = 0; i < cfg->n_nodes; i++) {
    const eco_sim_device *d = &cfg->devices[cfg->nodes[i].device];
    s.nodes[i].run = malloc((size_t)d->max_batch * sizeof(uint32_t));
    if (!s.nodes[i].run) {
      rc = ECO_ENOMEM;
      goto fail;
    }
    s.nodes[i].timer_at = -1;
  }
  expected_outputs(&s);
  for (size_t i = 0; i < cfg->n_nodes; i++)
    if ((rc = notify(&s, i))) goto fail;
  if ((rc = schedule_arrival(&s, 0))) goto fail;
  if ((rc = eco_sim_heap_push(&s.heap, HOUR_S, EV_HOUR, 0, 1))) goto fail;
  if (!hour_at(&s, 0)) {
    rc = ECO_ENOMEM;
    goto fail;
  }
  eco_sim_event ev;
  while (eco_sim_heap_pop(&s.heap, &ev) == 0) {
    s.now = ev.t;
    out->events++;
    switch (ev.kind) {
    case EV_ARRIVAL: rc = on_arrival(&s); break;
    case EV_BATCH_DONE: rc = batch_done(&s, ev.a); break;
    case EV_BATCH_TIMER:
      if (ev.b == s.nodes[ev.a].timer_gen && !s.nodes[ev.a].busy) {
        s.nodes[ev.a].timer_at = -1;
        /* the deadline has passed: start with what is queued */
        rc = try_start(&s, ev.a);
      }
      break;
    case EV_HOUR:
      for (size_t i = 0; i < cfg->n_nodes && !rc; i++)
        rc = notify(&s, i);
      if (!rc && (s.heap.n > 0 || s.now < cfg->duration_s))
        rc = eco_sim_heap_push(&s.heap, s.now + HOUR_S, EV_HOUR, 0, ev.b + 1);
      break;
    default: rc = ECO_EINTERNAL;
    }
    if (rc) goto fail;
  }
  double t_end = out->makespan_s > cfg->duration_s ? out->makespan_s : cfg->duration_s;
  out->util_min = INFINITY;
  for (size_t i = 0; i < cfg->n_nodes; i++) {
    sim_node *n = &s.nodes[i];
    if ((rc = account_idle(&s, i, n->idle_since, t_end))) goto fail;
    out->node_busy_s[i] = n->busy_s;
    double u = n->busy_s / t_end;
    out->util_mean += u / (double)cfg->n_nodes;
    if (u < out->util_min) out->util_min = u;
    if (u > out->util_max) out->util_max = u;
  }
  if (out->makespan_s < cfg->duration_s) out->makespan_s = cfg->duration_s;
fail:
  if (rc) {
    if (err && !err->msg[0]) eco_error_set(err, rc, "sim: %s", eco_strerror(rc));
    eco_sim_result_free(out);
  }
  if (s.nodes)
    for (size_t i = 0; i < cfg->n_nodes; i++) {
      free(s.nodes[i].q);
      free(s.nodes[i].run);
    }
  free(s.nodes);
  free(s.reqs);
  free(s.free_slots);
  eco_sim_heap_free(&s.heap);
  return rc;
}
