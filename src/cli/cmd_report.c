/* ecoinfer report: not implemented yet (the accounting ledger, issue 3). */
#include "cli/cli.h"

static const eco_cmd_spec spec = {
    .name = "report",
    .usage = "[options]",
    .summary = "Not implemented yet: arrives with the accounting ledger, issue 3.",
    .max_args = -1,
};

int eco_cmd_report(eco_cli *cli, int argc, char **argv) {
  bool done;
  int rc = eco_cli_parse(cli, &spec, argc, argv, &done);
  if (done) return rc;
  return eco_cli_not_implemented(cli, "report", "the accounting ledger, issue 3");
}
