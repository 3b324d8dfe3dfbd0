/* ecoinfer sim sprout: not implemented yet (generation directives, issue 8). */
#include "cli/subcmd.h"

static const eco_cmd_spec spec = {
    .name = "sim sprout",
    .usage = "[options]",
    .summary = "Not implemented yet: arrives with generation directives, issue 8.",
    .max_args = -1,
};

int eco_cmd_sim_sprout(eco_cli *cli, int argc, char **argv) {
  bool done;
  int rc = eco_cli_parse(cli, &spec, argc, argv, &done);
  if (done) return rc;
  return eco_cli_not_implemented(cli, "sim sprout", "generation directives, issue 8");
}
