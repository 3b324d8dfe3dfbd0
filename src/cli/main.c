/* ecoinfer: entry point. Dispatches `ecoinfer <command>` to src/cli/cmd_*.c. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

const eco_command eco_commands[] = {
    {"run", "generate text with a GGUF model on this machine", eco_cmd_run},
    {"serve", "serve a model over an OpenAI-compatible HTTP API with carbon receipts",
     eco_cmd_serve},
    {"route", "carbon-aware gateway in front of a cluster of nodes", eco_cmd_route},
    {"agent", "expose this host's energy meters over HTTP for the router", eco_cmd_agent},
    {"bench", "benchmarks: engine speed, batching, synthetic model files", eco_cmd_bench},
    {"sim", "simulators: cluster, sprout directives, time shifting", eco_cmd_sim},
    {"replay", "replay held-out Sprout prompts through a real router and real nodes",
     eco_cmd_replay},
    {"directive", "the directive model: train, classify prompts, inspect", eco_cmd_directive},
    {"report", "carbon and energy report from the receipt ledger", eco_cmd_report},
    {"carbon", "current grid carbon intensity for a zone", eco_cmd_carbon},
    {"pull", "download a GGUF model into the model directory", eco_cmd_pull},
    {"doctor", "inspect this host: CPU, memory, energy sensors, carbon provider, models",
     eco_cmd_doctor},
};
const size_t eco_n_commands = sizeof eco_commands / sizeof eco_commands[0];

static void usage(FILE *f, const char *prog) {
  fprintf(f,
          "Usage: %s <command> [options]\n\n"
          "ecoinfer %s: carbon-aware LLM inference (engine, accounting, server, router).\n\n"
          "Commands:\n",
          prog, ECO_VERSION);
  for (size_t i = 0; i < eco_n_commands; i++)
    fprintf(f, "  %-9s %s\n", eco_commands[i].name, eco_commands[i].summary);
  fprintf(f,
          "\nRun '%s <command> --help' for a command's options.\n"
          "Global options: --version, --help.\n"
          "Exit status: 0 ok, 1 runtime error, 2 usage or configuration error.\n",
          prog);
}

int main(int argc, char **argv) {
  eco_cli cli = {0};
  const char *slash = strrchr(argv[0], '/');
  cli.prog = "ecoinfer";
  (void)slash;
  eco_log_init(&cli.log);

  if (argc < 2) {
    usage(stderr, cli.prog);
    return ECO_EXIT_USAGE;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    if (argc > 2 && strcmp(argv[1], "help") == 0) {
      char *hargv[] = {argv[2], "--help", NULL};
      for (size_t i = 0; i < eco_n_commands; i++)
        if (strcmp(eco_commands[i].name, argv[2]) == 0) {
          int rc = eco_commands[i].run(&cli, 2, hargv);
          eco_cli_free(&cli);
          return rc;
        }
    }
    usage(stdout, cli.prog);
    return ECO_EXIT_OK;
  }
  if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
    printf("ecoinfer %s\n", ECO_VERSION);
    return ECO_EXIT_OK;
  }
  for (size_t i = 0; i < eco_n_commands; i++) {
    if (strcmp(eco_commands[i].name, argv[1]) == 0) {
      int rc = eco_commands[i].run(&cli, argc - 1, argv + 1);
      eco_cli_free(&cli);
      return rc;
    }
  }
  fprintf(stderr, "%s: unknown command '%s'\n\n", cli.prog, argv[1]);
  usage(stderr, cli.prog);
  return ECO_EXIT_USAGE;
}
