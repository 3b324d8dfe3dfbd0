/* ecoinfer directive: the directive model of live traffic (train it, export
 * the Sprout prompts as training data, classify prompts, describe a model). */
#include "cli/subcmd.h"

static const eco_subcommand subs[] = {
    {"train", "learn the prompt classifier and group statistics from labelled prompts",
     eco_cmd_directive_train},
    {"export", "write labelled prompts (the Sprout artifact's) as training JSON lines",
     eco_cmd_directive_export},
    {"classify", "the group, level statistics and class probabilities of prompts",
     eco_cmd_directive_classify},
    {"info", "describe a directive model file", eco_cmd_directive_info},
    {"evaluate", "judge prompts' answers at every level pairwise; store verdicts, training data",
     eco_cmd_directive_evaluate},
};

int eco_cmd_directive(eco_cli *cli, int argc, char **argv) {
  return eco_cli_dispatch(cli, "directive",
                          "Generation directives: the model that picks each request's level.", subs,
                          sizeof subs / sizeof subs[0], argc, argv);
}
