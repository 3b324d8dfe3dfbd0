/* ecoinfer router: the configuration of keys and tokens (router.api_keys,
 * router.protect_metrics, the admin token, each node's upstream key) and
 * the check that refuses an open admin API on a public address. Secrets
 * come from the YAML, an environment variable (*_env) or a file (*_file);
 * none is ever logged. See router.h and docs/router.md "Security". */
#include "router/router.h"

#include "util/auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bad(const eco_cfg *cfg, const eco_cfg_node *base, const char *path, const char *why,
               eco_error *err) {
  char w[400];
  eco_cfg_origin(cfg, base, path, w, sizeof w);
  return eco_error_set(err, ECO_ECONFIG, "%s: %s", w, why);
}

/* A secret under base: `name` (literal), `name_env` or `name_file`. */
static int secret(const eco_cfg *cfg, const eco_cfg_node *base, const char *name, char *out,
                  size_t cap, eco_error *err) {
  char lit[1024], env[128], file[512], k_env[64], k_file[64];
  snprintf(k_env, sizeof k_env, "%s_env", name);
  snprintf(k_file, sizeof k_file, "%s_file", name);
  int rc;
  if ((rc = eco_cfg_strcpy(cfg, base, name, "", lit, sizeof lit, err)) ||
      (rc = eco_cfg_strcpy(cfg, base, k_env, "", env, sizeof env, err)) ||
      (rc = eco_cfg_strcpy(cfg, base, k_file, "", file, sizeof file, err)))
    return rc;
  eco_error e = {0};
  const char *at = env[0] ? k_env : file[0] ? k_file : name;
  rc = eco_secret_read(lit, env, file, at, out, cap, &e);
  memset(lit, 0, sizeof lit);
  if (rc) return bad(cfg, base, at, eco_error_text(&e), err);
  return 0;
}

static int load_key(const eco_cfg *cfg, const eco_cfg_node *list, const eco_cfg_node *it, size_t i,
                    eco_router_key_cfg *k, eco_error *err) {
  char path[32];
  snprintf(path, sizeof path, "%zu", i);
  int rc;
  memset(k, 0, sizeof *k);
  snprintf(k->name, sizeof k->name, "key%zu", i);
  if (it->kind == ECO_CFG_SCALAR) {
    if ((rc = eco_cfg_strcpy(cfg, list, path, "", k->key, sizeof k->key, err))) return rc;
  } else {
    double rpm = 0;
    if ((rc = secret(cfg, it, "key", k->key, sizeof k->key, err)) ||
        (rc = eco_cfg_strcpy(cfg, it, "name", k->name, k->name, sizeof k->name, err)) ||
        (rc = eco_cfg_double_range(cfg, it, "rpm", 0, 0, 1e9, &rpm, err)) ||
        (rc = eco_cfg_double_range(cfg, it, "burst", 0, 0, 1e9, &k->burst, err)))
      return rc;
    k->rate_per_s = rpm / 60;
  }
  if (!k->key[0]) return bad(cfg, list, path, "an API key needs key, key_env or key_file", err);
  if (strlen(k->key) < 16)
    return bad(cfg, list, path, "an API key needs 16 characters or more", err);
  return 0;
}

static bool loopback(const char *host) {
  return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
         strcmp(host, "localhost") == 0;
}

int eco_router_admin_check(const eco_router_cfg *c, eco_error *err) {
  if (c->admin_port < 0 || c->admin_token[0] || loopback(c->admin_host)) return 0;
  return eco_error_set(err, ECO_ECONFIG,
                       "the admin API would listen on %s without a token: set "
                       "router.admin_token (or admin_token_env / admin_token_file), listen on "
                       "127.0.0.1, or turn it off with admin_port: -1",
                       c->admin_host);
}

int eco_router_cfg_load_keys(const eco_cfg *cfg, eco_router_cfg *c, eco_error *err) {
  const eco_cfg_node *r = eco_cfg_find(cfg, NULL, "router");
  int rc;
  if (r && r->kind == ECO_CFG_MAP &&
      (eco_cfg_find(cfg, r, "admin_token_env") || eco_cfg_find(cfg, r, "admin_token_file")) &&
      (rc = secret(cfg, r, "admin_token", c->admin_token, sizeof c->admin_token, err)))
    return rc;
  const eco_cfg_node *kl = eco_cfg_find(cfg, NULL, "router.api_keys");
  if (kl && kl->kind == ECO_CFG_SEQ && kl->n_items) {
    if (!(c->api_keys = calloc(kl->n_items, sizeof *c->api_keys))) return ECO_ENOMEM;
    for (size_t i = 0; i < kl->n_items; i++) {
      if ((rc = load_key(cfg, kl, kl->items[i], i, &c->api_keys[i], err))) return rc;
      c->n_api_keys++;
      for (size_t k = 0; k < i; k++)
        if (strcmp(c->api_keys[k].key, c->api_keys[i].key) == 0) {
          char p[32];
          snprintf(p, sizeof p, "%zu", i);
          return bad(cfg, kl, p, "the same API key twice", err);
        }
    }
  }
  if ((rc = eco_cfg_bool(cfg, NULL, "router.protect_metrics", true, &c->protect_metrics, err)))
    return rc;
  char w[400];
  eco_error e = {0};
  if (eco_router_admin_check(c, &e) != 0) {
    eco_cfg_origin(cfg, NULL, "router.admin_host", w, sizeof w);
    return eco_error_set(err, ECO_ECONFIG, "%s: %s", w, eco_error_text(&e));
  }
  return 0;
}

int eco_router_node_key_load(const eco_cfg *cfg, const eco_cfg_node *nn, eco_router_node_cfg *n,
                             eco_error *err) {
  return secret(cfg, nn, "api_key", n->api_key, sizeof n->api_key, err);
}
