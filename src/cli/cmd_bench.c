/* ecoinfer bench: dispatches to the benchmark sub-commands. */
#include "cli/subcmd.h"

static const eco_subcommand subs[] = {
    {"engine", "prompt and decode speed against the memory-bandwidth ceiling (and llama.cpp)",
     eco_cmd_bench_engine},
    {"synth", "write a random-weight GGUF of a real model shape", eco_cmd_bench_synth},
    {"batch", "throughput and energy per token across batch sizes", eco_cmd_bench_batch},
};

int eco_cmd_bench(eco_cli *cli, int argc, char **argv) {
  return eco_cli_dispatch(cli, "bench", "Benchmarks and benchmark inputs.", subs,
                          sizeof subs / sizeof subs[0], argc, argv);
}
