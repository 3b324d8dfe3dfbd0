/* ecoinfer: random bytes from the operating system (getrandom), for
 * identifiers that must not repeat across processes and restarts (request
 * ids, batch and file ids). Simulations and samplers take a seeded
 * generator instead. */
#ifndef ECO_UTIL_RAND_H
#define ECO_UTIL_RAND_H

#include <stddef.h>
#include <stdint.h>

/* Fills buf with n random bytes. 0, or ECO_EIO when the kernel gives none. */
int eco_rand_bytes(void *buf, size_t n);

/* Writes prefix followed by 2 * n_bytes lowercase hex digits of fresh
 * random bytes ("chatcmpl-" and 16 bytes: a 128-bit id). 0, ECO_EOVERFLOW
 * if it does not fit cap (NUL included; n_bytes at most 64), or ECO_EIO. */
int eco_rand_id(const char *prefix, size_t n_bytes, char *buf, size_t cap);

/* The seeded generator of samplers and plans: xorshift64* (Vigna). Advances
 * *state (which must not be 0) and returns the next 64-bit output. */
uint64_t eco_rand_next(uint64_t *state);

/* The next output of eco_rand_next as a double uniform in [0, 1) (its top
 * 53 bits). */
double eco_rand_uniform(uint64_t *state);

#endif
