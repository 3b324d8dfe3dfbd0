/* ecoinfer bench batch: not implemented yet (batched generation, issue 5). */
#include "cli/subcmd.h"

static const eco_cmd_spec spec = {
    .name = "bench batch",
    .usage = "[options]",
    .summary = "Not implemented yet: arrives with batched generation, issue 5.",
    .max_args = -1,
};

int eco_cmd_bench_batch(eco_cli *cli, int argc, char **argv) {
  bool done;
  int rc = eco_cli_parse(cli, &spec, argc, argv, &done);
  if (done) return rc;
  return eco_cli_not_implemented(cli, "bench batch", "batched generation, issue 5");
}
