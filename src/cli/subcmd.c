#include "cli/subcmd.h"

#include <stdio.h>
#include <string.h>

int eco_cli_dispatch(eco_cli *cli, const char *cmd, const char *summary, const eco_subcommand *subs,
                     size_t n, int argc, char **argv) {
  bool help = argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0;
  if (!help) {
    for (size_t i = 0; i < n; i++) {
      if (strcmp(subs[i].name, argv[1]) == 0) {
        char name[64];
        snprintf(name, sizeof name, "%s %s", cmd, subs[i].name);
        argv[1] = name;
        return subs[i].run(cli, argc - 1, argv + 1);
      }
    }
  }
  FILE *f = help && argc >= 2 ? stdout : stderr;
  if (!help) fprintf(stderr, "%s %s: unknown sub-command '%s'\n\n", cli->prog, cmd, argv[1]);
  fprintf(f, "Usage: %s %s <sub-command> [options]\n\n%s\n\nSub-commands:\n", cli->prog, cmd,
          summary);
  for (size_t i = 0; i < n; i++)
    fprintf(f, "  %-10s %s\n", subs[i].name, subs[i].summary);
  fprintf(f, "\nRun '%s %s <sub-command> --help' for its options.\n", cli->prog, cmd);
  return help && argc >= 2 ? ECO_EXIT_OK : ECO_EXIT_USAGE;
}
