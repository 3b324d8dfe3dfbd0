/* ecoinfer bench: not implemented yet (engine and batching benchmarks, issues 4 and 5). */
#include "cli/cli.h"

static const eco_cmd_spec spec = {
    .name = "bench",
    .usage = "[options]",
    .summary = "Not implemented yet: arrives with engine and batching benchmarks, issues 4 and 5.",
    .max_args = -1,
};

int eco_cmd_bench(eco_cli *cli, int argc, char **argv) {
  bool done;
  int rc = eco_cli_parse(cli, &spec, argc, argv, &done);
  if (done) return rc;
  return eco_cli_not_implemented(cli, "bench", "engine and batching benchmarks, issues 4 and 5");
}
