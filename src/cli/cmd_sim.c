/* ecoinfer sim: not implemented yet (the simulators, issues 8, 9 and 10). */
#include "cli/cli.h"

static const eco_cmd_spec spec = {
    .name = "sim",
    .usage = "[options]",
    .summary = "Not implemented yet: arrives with the simulators, issues 8, 9 and 10.",
    .max_args = -1,
};

int eco_cmd_sim(eco_cli *cli, int argc, char **argv) {
  bool done;
  int rc = eco_cli_parse(cli, &spec, argc, argv, &done);
  if (done) return rc;
  return eco_cli_not_implemented(cli, "sim", "the simulators, issues 8, 9 and 10");
}
