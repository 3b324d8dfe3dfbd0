/* ecoinfer pull: not implemented yet (the model downloader, issue 6). */
#include "cli/cli.h"

static const eco_cmd_spec spec = {
    .name = "pull",
    .usage = "[options]",
    .summary = "Not implemented yet: arrives with the model downloader, issue 6.",
    .max_args = -1,
};

int eco_cmd_pull(eco_cli *cli, int argc, char **argv) {
  bool done;
  int rc = eco_cli_parse(cli, &spec, argc, argv, &done);
  if (done) return rc;
  return eco_cli_not_implemented(cli, "pull", "the model downloader, issue 6");
}
