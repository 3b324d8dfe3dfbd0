/* ecoinfer: commands with sub-commands (`bench engine`, `sim cluster`).
 * Each sub-command lives in its own file (cmd_<cmd>_<sub>.c). */
#ifndef ECO_CLI_SUBCMD_H
#define ECO_CLI_SUBCMD_H

#include "cli/cli.h"

typedef struct eco_subcommand {
  const char *name;
  const char *summary;
  int (*run)(eco_cli *cli, int argc, char **argv); /* argv[0] = "cmd sub" name */
} eco_subcommand;

/* Dispatches argv[1] among subs; prints the list for --help or no argument. */
int eco_cli_dispatch(eco_cli *cli, const char *cmd, const char *summary, const eco_subcommand *subs,
                     size_t n, int argc, char **argv);

int eco_cmd_bench_engine(eco_cli *cli, int argc, char **argv);
int eco_cmd_bench_synth(eco_cli *cli, int argc, char **argv);
int eco_cmd_bench_batch(eco_cli *cli, int argc, char **argv);
int eco_cmd_sim_cluster(eco_cli *cli, int argc, char **argv);
int eco_cmd_sim_sprout(eco_cli *cli, int argc, char **argv);
int eco_cmd_sim_shift(eco_cli *cli, int argc, char **argv);
int eco_cmd_directive_train(eco_cli *cli, int argc, char **argv);
int eco_cmd_directive_export(eco_cli *cli, int argc, char **argv);
int eco_cmd_directive_classify(eco_cli *cli, int argc, char **argv);
int eco_cmd_directive_info(eco_cli *cli, int argc, char **argv);
int eco_cmd_directive_evaluate(eco_cli *cli, int argc, char **argv);

#endif
