/* ecoinfer simulator: RNG and event heap (see des.h). */
#include "sim/des.h"

#include "util/status.h"

#include <math.h>
#include <stdlib.h>

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void eco_sim_rng_seed(eco_sim_rng *r, uint64_t seed) {
  uint64_t x = seed;
  for (int i = 0; i < 4; i++)
    r->s[i] = splitmix64(&x);
}

uint64_t eco_sim_rng_next(eco_sim_rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double eco_sim_rng_uniform(eco_sim_rng *r) {
  return (double)(eco_sim_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

double eco_sim_rng_exp(eco_sim_rng *r, double rate) {
  if (!(rate > 0)) return INFINITY;
  double u = eco_sim_rng_uniform(r);
  return -log1p(-u) / rate;
}

double eco_sim_rng_normal(eco_sim_rng *r) {
  double u1 = eco_sim_rng_uniform(r);
  double u2 = eco_sim_rng_uniform(r);
  return sqrt(-2.0 * log1p(-u1)) * cos(2.0 * M_PI * u2);
}

uint64_t eco_sim_rng_below(eco_sim_rng *r, uint64_t n) {
  if (n == 0) return 0;
  uint64_t lim = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do {
    x = eco_sim_rng_next(r);
  } while (x >= lim);
  return x % n;
}

void eco_sim_heap_init(eco_sim_heap *h) {
  h->ev = NULL;
  h->n = h->cap = 0;
  h->next_seq = 0;
}

void eco_sim_heap_free(eco_sim_heap *h) {
  free(h->ev);
  eco_sim_heap_init(h);
}

static int before(const eco_sim_event *x, const eco_sim_event *y) {
  if (x->t != y->t) return x->t < y->t;
  return x->seq < y->seq;
}

int eco_sim_heap_push(eco_sim_heap *h, double t, uint32_t kind, uint32_t a, uint64_t b) {
  if (h->n == h->cap) {
    size_t nc = h->cap ? h->cap * 2 : 64;
    eco_sim_event *ne = realloc(h->ev, nc * sizeof *ne);
    if (!ne) return ECO_ENOMEM;
    h->ev = ne;
    h->cap = nc;
  }
  eco_sim_event e = {.t = t, .seq = h->next_seq++, .kind = kind, .a = a, .b = b};
  size_t i = h->n++;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!before(&e, &h->ev[p])) break;
    h->ev[i] = h->ev[p];
    i = p;
  }
  h->ev[i] = e;
  return 0;
}

int eco_sim_heap_pop(eco_sim_heap *h, eco_sim_event *out) {
  if (h->n == 0) return ECO_ENOENT;
  *out = h->ev[0];
  eco_sim_event last = h->ev[--h->n];
  size_t i = 0, n = h->n;
  for (;;) {
    size_t l = 2 * i + 1;
    if (l >= n) break;
    size_t c = l;
    if (l + 1 < n && before(&h->ev[l + 1], &h->ev[l])) c = l + 1;
    if (!before(&h->ev[c], &last)) break;
    h->ev[i] = h->ev[c];
    i = c;
  }
  if (n > 0) h->ev[i] = last;
  return 0;
}

const eco_sim_event *eco_sim_heap_peek(const eco_sim_heap *h) { return h->n ? &h->ev[0] : NULL; }
