/* ecoinfer sim shift: not implemented yet (time shifting, issue 10). */
#include "cli/subcmd.h"

static const eco_cmd_spec spec = {
    .name = "sim shift",
    .usage = "[options]",
    .summary = "Not implemented yet: arrives with time shifting, issue 10.",
    .max_args = -1,
};

int eco_cmd_sim_shift(eco_cli *cli, int argc, char **argv) {
  bool done;
  int rc = eco_cli_parse(cli, &spec, argc, argv, &done);
  if (done) return rc;
  return eco_cli_not_implemented(cli, "sim shift", "time shifting, issue 10");
}
