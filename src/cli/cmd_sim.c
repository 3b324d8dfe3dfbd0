/* ecoinfer sim: dispatches to the simulators. */
#include "cli/subcmd.h"

static const eco_subcommand subs[] = {
    {"cluster", "trace-driven simulation of a cluster under routing policies", eco_cmd_sim_cluster},
    {"sprout", "replay the Sprout directive study on its public data", eco_cmd_sim_sprout},
    {"shift", "savings of carbon-aware time shifting over a year of traces", eco_cmd_sim_shift},
};

int eco_cmd_sim(eco_cli *cli, int argc, char **argv) {
  return eco_cli_dispatch(cli, "sim", "Simulators for planning and for reproducing studies.", subs,
                          sizeof subs / sizeof subs[0], argc, argv);
}
