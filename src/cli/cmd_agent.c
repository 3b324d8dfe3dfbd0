/* ecoinfer agent: not implemented yet (the router's meter agent, issue 7). */
#include "cli/cli.h"

static const eco_cmd_spec spec = {
    .name = "agent",
    .usage = "[options]",
    .summary = "Not implemented yet: arrives with the router's meter agent, issue 7.",
    .max_args = -1,
};

int eco_cmd_agent(eco_cli *cli, int argc, char **argv) {
  bool done;
  int rc = eco_cli_parse(cli, &spec, argc, argv, &done);
  if (done) return rc;
  return eco_cli_not_implemented(cli, "agent", "the router's meter agent, issue 7");
}
