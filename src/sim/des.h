/* ecoinfer simulator: discrete-event primitives.
 *
 * A deterministic random number generator (xoshiro256** seeded through
 * splitmix64: the same seed gives the same stream on every platform) and a
 * binary-heap event queue ordered by (time, insertion sequence), so that
 * events at equal times pop in the order they were pushed. There is no
 * clock anywhere: simulated time is a double in seconds. */
#ifndef ECO_SIM_DES_H
#define ECO_SIM_DES_H

#include <stddef.h>
#include <stdint.h>

typedef struct eco_sim_rng {
  uint64_t s[4]; /* xoshiro256** state */
} eco_sim_rng;

void eco_sim_rng_seed(eco_sim_rng *r, uint64_t seed);
uint64_t eco_sim_rng_next(eco_sim_rng *r);
/* Uniform in [0, 1), 53 random bits. */
double eco_sim_rng_uniform(eco_sim_rng *r);
/* Exponential with the given rate (1/s); rate <= 0 gives +inf. */
double eco_sim_rng_exp(eco_sim_rng *r, double rate);
/* Standard normal (Box-Muller, one value per call). */
double eco_sim_rng_normal(eco_sim_rng *r);
/* Uniform integer in [0, n), n > 0 (unbiased). */
uint64_t eco_sim_rng_below(eco_sim_rng *r, uint64_t n);

typedef struct eco_sim_event {
  double t;     /* simulated time, s */
  uint64_t seq; /* insertion order: ties at equal t pop first-in first-out */
  uint32_t kind;
  uint32_t a; /* payload (e.g. node index) */
  uint64_t b; /* payload (e.g. request slot or generation counter) */
} eco_sim_event;

typedef struct eco_sim_heap {
  eco_sim_event *ev;
  size_t n, cap;
  uint64_t next_seq;
} eco_sim_heap;

void eco_sim_heap_init(eco_sim_heap *h);
void eco_sim_heap_free(eco_sim_heap *h);
/* 0, or ECO_ENOMEM. */
int eco_sim_heap_push(eco_sim_heap *h, double t, uint32_t kind, uint32_t a, uint64_t b);
/* 0 and the earliest event in *out, or ECO_ENOENT when empty. */
int eco_sim_heap_pop(eco_sim_heap *h, eco_sim_event *out);
/* Earliest event without removing it, or NULL. */
const eco_sim_event *eco_sim_heap_peek(const eco_sim_heap *h);

#endif
