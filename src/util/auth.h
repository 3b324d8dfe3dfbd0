/* ecoinfer util: API keys for the node and the router. Bearer keys are
 * kept as SHA-256 digests and compared with OpenSSL's CRYPTO_memcmp against
 * every configured key, so the time taken does not depend on which key
 * matched or where a wrong one differs. Each key may carry a name (for logs
 * and metrics; the key itself is never logged) and a request rate limit
 * (a token bucket). Secrets can come from the config, an environment
 * variable or a file, so they need not sit in YAML. Not thread-safe: one
 * server's event loop owns a set. */
#ifndef ECO_UTIL_AUTH_H
#define ECO_UTIL_AUTH_H

#include "util/status.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct eco_auth_key {
  unsigned char digest[32]; /* SHA-256 of the key */
  char name[64];            /* label, never the key */
  double rate_per_s;        /* requests per second allowed, 0 = no limit */
  double burst;             /* bucket size, requests (>= 1 when limited) */
  double tokens;            /* requests available now */
  double last_s;            /* clock of the last refill, s (monotonic) */
} eco_auth_key;

typedef struct eco_auth {
  eco_auth_key *keys;
  size_t n;
} eco_auth;

typedef enum eco_auth_result {
  ECO_AUTH_OK,      /* a key matched and its limit allows the request */
  ECO_AUTH_MISSING, /* no credentials */
  ECO_AUTH_WRONG,   /* credentials that match no key */
  ECO_AUTH_LIMITED, /* a key matched but its rate limit is spent */
} eco_auth_result;

/* Adds a key (empty keys are refused). rate_per_s 0: no limit; burst <= 0:
 * max(1, rate_per_s). */
int eco_auth_add(eco_auth *a, const char *key, const char *name, double rate_per_s, double burst);
void eco_auth_free(eco_auth *a);
static inline bool eco_auth_on(const eco_auth *a) { return a && a->n > 0; }

/* Checks "Authorization: Bearer KEY" (authorization may be NULL) or, when
 * it is absent, a key given another way (query_key, e.g. the dashboard's
 * ?key=; NULL if none). now_s: a monotonic clock. On success *idx is the
 * key's index; on ECO_AUTH_LIMITED *retry_s is when the next request fits. */
eco_auth_result eco_auth_check(eco_auth *a, const char *authorization, const char *query_key,
                               double now_s, size_t *idx, double *retry_s);

/* A secret from exactly one of: a literal, the environment variable env, or
 * the first line of file (trailing whitespace dropped). what names it in
 * errors. ECO_ECONFIG when the variable is unset or empty, the file cannot
 * be read or is empty, or the secret does not fit in cap. */
int eco_secret_read(const char *literal, const char *env, const char *file, const char *what,
                    char *out, size_t cap, eco_error *err);

#endif
