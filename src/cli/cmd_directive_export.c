/* ecoinfer directive export --sprout DIR: the Sprout artifact's labelled prompts
 * as training records (JSON lines, dtrain.h): the dataset name as the
 * label, the judge's preferred level, energy (J) and time at each level. */
#include "cli/subcmd.h"
#include "directive/dtrain.h"
#include "sim/sprout.h"

#include <stdio.h>
#include <stdlib.h>

static const eco_opt opts[] = {
    {"sprout", 0, "DIR", NULL, "the Sprout artifact data (../shared/data/sprout)"},
    {"output", 'o', "FILE", NULL, "write here instead of stdout"},
};

static const eco_cmd_spec spec = {
    .name = "directive export",
    .usage = "--sprout DIR [--output FILE]",
    .summary = "Write the Sprout artifact's labelled prompts as training JSON lines.",
    .details = "The records are what `directive train --sprout DIR` learns from; use them as\n"
               "a template for your own labelled prompts.",
    .opts = opts,
    .n_opts = sizeof opts / sizeof opts[0],
    .min_args = 0,
    .max_args = 0,
};

static int write_all(FILE *f, const eco_dtrain_set *set) {
  for (size_t i = 0; i < set->n; i++) {
    const eco_dtrain_rec *r = &set->rec[i];
    double e[ECO_DIRECTIVE_MAX_LEVELS];
    for (size_t l = 0; l < set->n_levels; l++)
      e[l] = r->energy_kwh[l] * 3.6e6;
    char *line =
        eco_dtrain_format(r->text, r->label >= 0 ? set->label[r->label] : NULL, r->preferred,
                          r->has_cost ? e : NULL, r->has_cost ? r->time_s : NULL, set->n_levels);
    if (!line) return ECO_ENOMEM;
    int bad = fputs(line, f) < 0 || fputc('\n', f) < 0;
    free(line);
    if (bad) return ECO_EIO;
  }
  return 0;
}

int eco_cmd_directive_export(eco_cli *cli, int argc, char **argv) {
  bool done;
  int rc = eco_cli_parse(cli, &spec, argc, argv, &done);
  if (done) return rc;
  const char *cmd = "directive export", *dir = eco_cli_get(cli, "sprout"),
             *outp = eco_cli_get(cli, "output");
  if (!dir) {
    eco_cli_error(cli, cmd, "--sprout DIR is required");
    return ECO_EXIT_USAGE;
  }
  eco_sprout_data d;
  eco_dtrain_set set;
  eco_dtrain_init(&set, ECO_SPROUT_NLV);
  eco_error err = {0};
  int code = ECO_EXIT_RUNTIME;
  if (eco_sprout_data_load(dir, &d, &err) || eco_sprout_to_train(&d, &set, &err)) {
    eco_cli_error(cli, cmd, "%s", eco_error_text(&err));
    goto out;
  }
  FILE *f = outp ? fopen(outp, "w") : stdout;
  if (!f) {
    eco_cli_error(cli, cmd, "cannot write %s", outp);
    goto out;
  }
  rc = write_all(f, &set);
  int bad = f == stdout ? fflush(f) != 0 : fclose(f) != 0;
  if (bad || rc) {
    eco_cli_error(cli, cmd, "cannot write %s", outp ? outp : "stdout");
    goto out;
  }
  code = ECO_EXIT_OK;
out:
  eco_dtrain_free(&set);
  eco_sprout_data_free(&d);
  return code;
}
