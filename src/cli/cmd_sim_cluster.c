/* ecoinfer sim cluster: not implemented yet (the cluster simulator, issue 9). */
#include "cli/subcmd.h"

static const eco_cmd_spec spec = {
    .name = "sim cluster",
    .usage = "[options]",
    .summary = "Not implemented yet: arrives with the cluster simulator, issue 9.",
    .max_args = -1,
};

int eco_cmd_sim_cluster(eco_cli *cli, int argc, char **argv) {
  bool done;
  int rc = eco_cli_parse(cli, &spec, argc, argv, &done);
  if (done) return rc;
  return eco_cli_not_implemented(cli, "sim cluster", "the cluster simulator, issue 9");
}
