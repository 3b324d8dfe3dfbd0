/* ecoinfer util: API keys (see auth.h). */
#include "util/auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int eco_auth_add(eco_auth *a, const char *key, const char *name, double rate_per_s, double burst) {
  if (!a || !key || !key[0] || !(rate_per_s >= 0)) return ECO_EINVAL;
  eco_auth_key *k = realloc(a->keys, (a->n + 1) * sizeof *k);
  if (!k) return ECO_ENOMEM;
  a->keys = k;
  k = &a->keys[a->n++];
  memset(k, 0, sizeof *k);
  SHA256((const unsigned char *)key, strlen(key), k->digest);
  snprintf(k->name, sizeof k->name, "%s", name && name[0] ? name : "key");
  k->rate_per_s = rate_per_s;
  k->burst = burst > 0 ? burst : (rate_per_s > 1 ? rate_per_s : 1);
  k->tokens = k->burst;
  k->last_s = -1;
  return 0;
}

void eco_auth_free(eco_auth *a) {
  if (!a) return;
  if (a->keys) OPENSSL_cleanse(a->keys, a->n * sizeof *a->keys);
  free(a->keys);
  a->keys = NULL;
  a->n = 0;
}

eco_auth_result eco_auth_check(eco_auth *a, const char *authorization, const char *query_key,
                               double now_s, size_t *idx, double *retry_s) {
  const char *given = NULL;
  if (authorization) {
    if (strncasecmp(authorization, "Bearer ", 7) != 0) return ECO_AUTH_WRONG;
    given = authorization + 7;
    while (*given == ' ')
      given++;
  } else if (query_key) {
    given = query_key;
  }
  if (!given) return ECO_AUTH_MISSING;
  unsigned char d[32];
  SHA256((const unsigned char *)given, strlen(given), d);
  size_t hit = (size_t)-1;
  for (size_t i = 0; i < a->n; i++) /* every key, no early exit */
    if (CRYPTO_memcmp(d, a->keys[i].digest, sizeof d) == 0) hit = i;
  if (hit == (size_t)-1) return ECO_AUTH_WRONG;
  eco_auth_key *k = &a->keys[hit];
  if (idx) *idx = hit;
  if (k->rate_per_s > 0) {
    if (k->last_s >= 0 && now_s > k->last_s) k->tokens += (now_s - k->last_s) * k->rate_per_s;
    if (k->tokens > k->burst) k->tokens = k->burst;
    k->last_s = now_s;
    if (k->tokens < 1) {
      if (retry_s) *retry_s = (1 - k->tokens) / k->rate_per_s;
      return ECO_AUTH_LIMITED;
    }
    k->tokens -= 1;
  }
  return ECO_AUTH_OK;
}

static int read_first_line(const char *file, const char *what, char *out, size_t cap,
                           eco_error *err) {
  FILE *f = fopen(file, "r");
  if (!f) return eco_error_set(err, ECO_ECONFIG, "%s: cannot read '%s'", what, file);
  char line[1024];
  bool got = fgets(line, sizeof line, f) != NULL;
  fclose(f);
  size_t n = got ? strlen(line) : 0;
  while (n &&
         (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
    line[--n] = '\0';
  int rc = 0;
  if (n == 0)
    rc = eco_error_set(err, ECO_ECONFIG, "%s: '%s' is empty", what, file);
  else if (n >= cap)
    rc = eco_error_set(err, ECO_ECONFIG, "%s: the secret in '%s' is longer than %zu bytes", what,
                       file, cap - 1);
  else
    memcpy(out, line, n + 1);
  OPENSSL_cleanse(line, sizeof line);
  return rc;
}

int eco_secret_read(const char *literal, const char *env, const char *file, const char *what,
                    char *out, size_t cap, eco_error *err) {
  int given = (literal && literal[0]) + (env && env[0]) + (file && file[0]);
  out[0] = '\0';
  if (given == 0) return 0;
  if (given > 1)
    return eco_error_set(err, ECO_ECONFIG, "%s: give the secret one way (value, env or file)",
                         what);
  if (file && file[0]) return read_first_line(file, what, out, cap, err);
  const char *v = literal && literal[0] ? literal : getenv(env);
  if (!v || !v[0])
    return eco_error_set(err, ECO_ECONFIG, "%s: environment variable %s is not set", what, env);
  if (strlen(v) >= cap)
    return eco_error_set(err, ECO_ECONFIG, "%s: the secret is longer than %zu bytes", what,
                         cap - 1);
  memcpy(out, v, strlen(v) + 1);
  return 0;
}
