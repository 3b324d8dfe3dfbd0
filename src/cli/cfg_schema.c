/* The configuration file's schema: the CLI's own sections (models:,
 * server:, pull:) and those each module reads (accounting, directive,
 * router). Every command but the simulator's scenario runs checks the whole
 * file against it before it starts, so a typo anywhere ("routerr:",
 * "router: {prot: 1}") stops every command, not only the one that reads
 * that section. */
#include "accounting/setup.h"
#include "cli/cli.h"
#include "directive/directive.h"
#include "router/router.h"

#include <string.h>

static const eco_cfg_schema fake_keys[] = {ECO_CFG_VALUE("tokens_per_s"),
                                           ECO_CFG_VALUE("context_length"),
                                           ECO_CFG_VALUE("max_batch"), ECO_CFG_VALUE("queue_cap")};
static const eco_cfg_schema replay_keys[] = {ECO_CFG_VALUE("data"), ECO_CFG_VALUE("judge"),
                                             ECO_CFG_VALUE("time_scale")};
static const eco_cfg_schema server_keys[] = {
    ECO_CFG_VALUE("model"),
    ECO_CFG_VALUE("model_name"),
    ECO_CFG_VALUE("host"),
    ECO_CFG_VALUE("port"),
    ECO_CFG_VALUE("admin_host"),
    ECO_CFG_VALUE("admin_port"),
    ECO_CFG_VALUE("api_key"),
    ECO_CFG_VALUE("api_key_file"),
    ECO_CFG_VALUE("drain_timeout"),
    ECO_CFG_VALUE("threads"),
    ECO_CFG_VALUE("context_length"),
    ECO_CFG_VALUE("max_batch"),
    ECO_CFG_VALUE("max_queue"),
    ECO_CFG_VALUE("kv_budget_bytes"),
    ECO_CFG_VALUE("kv_type"),
    ECO_CFG_VALUE("prefill_chunk"),
    ECO_CFG_VALUE("prefix_block"),
    ECO_CFG_VALUE("max_body_bytes"),
    ECO_CFG_VALUE("max_header_bytes"),
    ECO_CFG_VALUE("max_tokens"),
    ECO_CFG_VALUE("max_messages"),
    ECO_CFG_VALUE("queue_full_status"),
    ECO_CFG_VALUE("retry_after"),
    ECO_CFG_VALUE("fake_backend"),
    ECO_CFG_SHAPED("fake", ECO_CFG_S_MAP, fake_keys),
    ECO_CFG_SHAPED("replay", ECO_CFG_S_MAP, replay_keys),
};
static const eco_cfg_schema models_keys[] = {ECO_CFG_VALUE("dir")};
static const eco_cfg_schema pull_keys[] = {ECO_CFG_VALUE("base_url"), ECO_CFG_VALUE("revision")};
static const eco_cfg_schema cli_sections[] = {
    ECO_CFG_SHAPED("models", ECO_CFG_S_MAP, models_keys),
    ECO_CFG_SHAPED("server", ECO_CFG_S_MAP, server_keys),
    ECO_CFG_SHAPED("pull", ECO_CFG_S_MAP, pull_keys),
};

size_t eco_cli_cfg_sections(eco_cfg_schema *out, size_t cap) {
  const eco_cfg_schema *parts[4];
  size_t lens[4];
  lens[0] = sizeof cli_sections / sizeof cli_sections[0];
  parts[0] = cli_sections;
  parts[1] = eco_acct_cfg_sections(&lens[1]);
  parts[2] = eco_directive_cfg_sections(&lens[2]);
  parts[3] = eco_router_cfg_sections(&lens[3]);
  size_t n = 0;
  for (size_t p = 0; p < 4; p++)
    for (size_t i = 0; i < lens[p] && n < cap; i++)
      out[n++] = parts[p][i];
  return n;
}

int eco_cli_cfg_check(const eco_cfg *cfg, eco_error *err) {
  eco_cfg_schema top[ECO_CLI_CFG_MAX_SECTIONS];
  eco_cfg_schema root = {NULL, ECO_CFG_S_MAP, top,
                         eco_cli_cfg_sections(top, ECO_CLI_CFG_MAX_SECTIONS)};
  return eco_cfg_check_schema(cfg, eco_cfg_find(cfg, NULL, ""), &root, err);
}
