/* libFuzzer harness for the configuration file: any bytes as YAML must load
 * or fail with a FILE:LINE:COL message, in bounded time and memory (alias
 * bombs, deep nesting); a loaded file then goes through the whole-file
 * schema check, the router's loader (router:, nodes:, dns:, zones:,
 * directive:), the device list and typed lookups of every kind. Nothing may
 * crash or leak.
 *
 * fuzz-sources: src/util/config.c src/util/cfg_yaml.c src/cli/cfg_schema.c
 * fuzz-sources: src/router/router_cfg.c src/router/directive_hook.c
 * fuzz-sources: src/directive/directive.c src/accounting/setup.c
 * fuzz-seeds: examples
 * fuzz-flags: -max_len=65536
 */
#include "accounting/setup.h"
#include "cli/cli.h"
#include "router/router.h"
#include "util/config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void lookups(const eco_cfg *cfg) {
  static const char *const paths[] = {"server.port", "router.policy",  "carbon.pue",
                                      "nodes.0.url", "router.slo",     "directive.levels.1",
                                      "zones.GB",    "devices.0.share"};
  eco_error err = {0};
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
    const char *s;
    double d;
    int64_t v;
    bool b;
    char buf[16];
    (void)eco_cfg_str(cfg, NULL, paths[i], "x", &s, &err);
    (void)eco_cfg_double(cfg, NULL, paths[i], 0, &d, &err);
    (void)eco_cfg_int_range(cfg, NULL, paths[i], 0, -5, 5, &v, &err);
    (void)eco_cfg_bool(cfg, NULL, paths[i], false, &b, &err);
    (void)eco_cfg_duration(cfg, NULL, paths[i], 1, &d, &err);
    (void)eco_cfg_strcpy(cfg, NULL, paths[i], "", buf, sizeof buf, &err);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  eco_cfg *cfg = NULL;
  eco_error err = {0};
  int rc = eco_cfg_load_string(text, "fuzz.yaml", &cfg, &err);
  free(text);
  if (rc) {
    if (rc > 0 || !err.msg[0]) abort();
    return 0;
  }
  eco_cfg_use_env(cfg, false);
  (void)eco_cli_cfg_check(cfg, &err);
  eco_router_cfg rc_;
  if (eco_router_cfg_load(cfg, &rc_, &err) == 0) eco_router_cfg_free(&rc_);
  eco_device_cfg *devs = NULL;
  size_t n_devs = 0;
  if (eco_device_cfgs_load(cfg, &devs, &n_devs, &err) == 0) free(devs);
  lookups(cfg);
  eco_cfg_free(cfg);
  return 0;
}
