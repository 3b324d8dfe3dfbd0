/* ecoinfer bench synth: not implemented yet (the inference engine, issue 4). */
#include "cli/subcmd.h"

static const eco_cmd_spec spec = {
    .name = "bench synth",
    .usage = "[options]",
    .summary = "Not implemented yet: arrives with the inference engine, issue 4.",
    .max_args = -1,
};

int eco_cmd_bench_synth(eco_cli *cli, int argc, char **argv) {
  bool done;
  int rc = eco_cli_parse(cli, &spec, argc, argv, &done);
  if (done) return rc;
  return eco_cli_not_implemented(cli, "bench synth", "the inference engine, issue 4");
}
