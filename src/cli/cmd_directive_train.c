/* ecoinfer directive train: learns a directive model (prompt classifier and
 * group statistics, dmodel.h) from labelled prompts in JSON lines (dtrain.h)
 * or from the Sprout artifact's data, and writes the model file. With
 * --refit MODEL it keeps that model's classifier and re-estimates only the
 * group statistics from the records (e.g. the live judge's verdicts). */
#include "cli/subcmd.h"
#include "directive/dtrain.h"
#include "sim/sprout.h"
#include "util/strbuf.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const eco_opt opts[] = {
    {"input", 'i', "FILE", NULL, "training records, JSON lines (- = stdin)"},
    {"sprout", 0, "DIR", NULL, "or: the Sprout artifact data (../shared/data/sprout)"},
    {"output", 'o', "FILE", NULL, "model file to write"},
    {"refit", 0, "MODEL", NULL, "keep MODEL's classifier; refit only the group statistics"},
    {"levels", 0, "N", NULL, "directive levels (default 3)"},
    {"hash-bits", 0, "N", NULL, "feature space 2^N (default 16)"},
    {"epochs", 0, "N", NULL, "passes over the data (default 8)"},
    {"inner-folds", 0, "K", NULL,
     "cross-fitting folds for the group statistics and the accuracy (default 5; 0 = none)"},
    {"alpha", 0, "A", NULL, "shrinkage of a group's preferences toward its class's (default 5)"},
    {"seed", 0, "N", NULL, "shuffle and fold seed (default 1)"},
    {"cost-source", 0, "TEXT", NULL,
     "what the records' energy figures measured (stored in the model; default for --sprout: "
     "the artifact's Llama-2-13B-chat on an A100)"},
};

static const eco_cmd_spec spec = {
    .name = "directive train",
    .usage = "(--input FILE | --sprout DIR) --output MODEL [options]",
    .summary = "Learn the prompt classifier and group statistics of the directive model.",
    .details = "Records (JSON lines, see docs/directives.md): {\"prompt\": TEXT | \"messages\":\n"
               "[...], \"label\": CLASS, \"preferred\": LEVEL, \"energy_j\": [...], \"time_s\":\n"
               "[...]}. Labels train the classifier; verdicts (preferred) and costs give the\n"
               "statistics of the groups the classifier predicts (out of fold). Prints the\n"
               "out-of-fold accuracy and confusion matrix.",
    .opts = opts,
    .n_opts = sizeof opts / sizeof opts[0],
    .min_args = 0,
    .max_args = 0,
};

#define SPROUT_SOURCE "Llama-2-13B-chat, A100, vLLM (Sprout artifact)"

static void print_report(eco_strbuf *sb, const eco_dmodel *m, const eco_dmodel_report *r) {
  size_t C = m->cls.n_classes, L = m->groups.n_levels;
  eco_sb_printf(sb, "records: %zu labelled, %zu with a verdict, %zu with costs\n", r->n_labelled,
                r->n_verdicts, r->n_costs);
  if (r->accuracy >= 0) {
    eco_sb_printf(sb, "out-of-fold accuracy %.4f; confusion (rows true, columns predicted):\n%-12s",
                  r->accuracy, "");
    for (size_t b = 0; b < C; b++)
      eco_sb_printf(sb, " %10.10s", m->cls.label[b]);
    for (size_t a = 0; a < C; a++) {
      eco_sb_printf(sb, "\n%-12.12s", m->cls.label[a]);
      for (size_t b = 0; b < C; b++)
        eco_sb_printf(sb, " %10zu", r->conf[a][b]);
    }
    eco_sb_printf(sb, "\n");
  }
  eco_sb_printf(sb,
                "groups (predicted class / length bucket): share, prompts, preference per level\n");
  for (size_t c = 0; c < C; c++)
    for (int b = 0; b < ECO_ASSIGN_BUCKETS; b++) {
      const eco_assign_group *g = &m->groups.g[c][b];
      eco_sb_printf(sb, "  %s/%d  %.3f %5zu ", m->cls.label[c], b, g->share, g->n_train);
      for (size_t l = 0; l < L; l++)
        eco_sb_printf(sb, " L%zu %.3f", l, g->lv[l].pref);
      eco_sb_printf(sb, "\n");
    }
}

static int read_records(eco_cli *cli, const char *cmd, eco_dtrain_set *set) {
  const char *in = eco_cli_get(cli, "input"), *sp = eco_cli_get(cli, "sprout");
  eco_error err = {0};
  if (!in == !sp) {
    eco_cli_error(cli, cmd, "give one of --input FILE or --sprout DIR");
    return ECO_EXIT_USAGE;
  }
  if (in) {
    if (eco_dtrain_load(set, in, &err)) {
      eco_cli_error(cli, cmd, "%s", eco_error_text(&err));
      return err.code == ECO_ENOENT ? ECO_EXIT_RUNTIME : ECO_EXIT_USAGE;
    }
    return 0;
  }
  eco_sprout_data d;
  if (eco_sprout_data_load(sp, &d, &err) || eco_sprout_to_train(&d, set, &err)) {
    eco_cli_error(cli, cmd, "%s", eco_error_text(&err));
    eco_sprout_data_free(&d); /* the loader cleared d first: safe on its errors too */
    return ECO_EXIT_RUNTIME;
  }
  eco_sprout_data_free(&d);
  return 0;
}

/* The options that shape a fresh fit (not --refit) into fc. ECO_EXIT_OK or a reported
 * ECO_EXIT_USAGE. */
static int parse_fit(eco_cli *cli, const char *cmd, eco_dmodel_fit_cfg *fc) {
  int64_t levels, bits, epochs, inner, seed;
  double alpha;
  if (eco_cli_get_int(cli, "levels", 3, &levels) || eco_cli_get_int(cli, "hash-bits", 16, &bits) ||
      eco_cli_get_int(cli, "epochs", 8, &epochs) ||
      eco_cli_get_int(cli, "inner-folds", 5, &inner) || eco_cli_get_int(cli, "seed", 1, &seed) ||
      eco_cli_get_double(cli, "alpha", 5.0, &alpha))
    return ECO_EXIT_USAGE;
  if (!eco_cli_get(cli, "output")) {
    eco_cli_error(cli, cmd, "--output MODEL is required");
    return ECO_EXIT_USAGE;
  }
  if (levels < 1 || levels > ECO_DIRECTIVE_MAX_LEVELS || bits < ECO_DCLASS_MIN_BITS ||
      bits > ECO_DCLASS_MAX_BITS || epochs < 1 || epochs > 1000 || inner < 0 || inner > 32 ||
      seed < 0 || !(alpha >= 0 && alpha <= 1e6)) {
    eco_cli_error(cli, cmd,
                  "bad --levels (1..%d), --hash-bits (%d..%d), --epochs (1..1000), --inner-folds "
                  "(0..32), --seed or --alpha",
                  ECO_DIRECTIVE_MAX_LEVELS, ECO_DCLASS_MIN_BITS, ECO_DCLASS_MAX_BITS);
    return ECO_EXIT_USAGE;
  }
  eco_dmodel_fit_cfg_default(fc);
  fc->n_levels = (size_t)levels;
  fc->cls.hash_bits = (unsigned)bits;
  fc->cls.epochs = (unsigned)epochs;
  fc->cls.seed = (uint64_t)seed + 1;
  fc->inner_folds = (size_t)inner;
  fc->alpha = alpha;
  fc->fold_seed = (uint64_t)seed;
  fc->cost_source = eco_cli_get(cli, "cost-source");
  if (!fc->cost_source && eco_cli_get(cli, "sprout")) fc->cost_source = SPROUT_SOURCE;
  return ECO_EXIT_OK;
}

/* Fits m on the records, or with --refit only refits the group rates of that model. */
static int fit(eco_cli *cli, const char *cmd, const eco_dmodel_fit_cfg *fc,
               const eco_dtrain_set *set, eco_dmodel *m, eco_dmodel_report *rep) {
  eco_error err = {0};
  const char *refit = eco_cli_get(cli, "refit");
  if (refit) {
    if (eco_dmodel_load(refit, m, &err) ||
        eco_dmodel_refit_groups(m, set->rec, set->n, fc->alpha, &err)) {
      eco_cli_error(cli, cmd, "%s", eco_error_text(&err));
      return ECO_EXIT_RUNTIME;
    }
    memset(rep, 0, sizeof *rep);
    rep->accuracy = -1;
    return ECO_EXIT_OK;
  }
  const char *labels[ECO_DCLASS_MAX_CLASSES];
  for (size_t c = 0; c < set->n_labels; c++)
    labels[c] = set->label[c];
  if (eco_dmodel_fit(m, fc, labels, set->n_labels, set->rec, set->n, rep, &err)) {
    eco_cli_error(cli, cmd, "%s", eco_error_text(&err));
    return err.code == ECO_EINVAL ? ECO_EXIT_USAGE : ECO_EXIT_RUNTIME;
  }
  return ECO_EXIT_OK;
}

int eco_cmd_directive_train(eco_cli *cli, int argc, char **argv) {
  bool done;
  int rc = eco_cli_parse(cli, &spec, argc, argv, &done);
  if (done) return rc;
  const char *cmd = "directive train", *outp = eco_cli_get(cli, "output");
  eco_dmodel_fit_cfg fc;
  if ((rc = parse_fit(cli, cmd, &fc)) != ECO_EXIT_OK) return rc;
  eco_dtrain_set set;
  eco_dtrain_init(&set, fc.n_levels);
  eco_dmodel m = {0};
  eco_dmodel_report rep;
  eco_error err = {0};
  int code = read_records(cli, cmd, &set);
  if (code || (code = fit(cli, cmd, &fc, &set, &m, &rep))) goto out;
  code = ECO_EXIT_RUNTIME;
  if (eco_dmodel_save(&m, outp, &err)) {
    eco_cli_error(cli, cmd, "%s", eco_error_text(&err));
    goto out;
  }
  if (cli->json) {
    json_t *o = json_pack("{s:s,s:I,s:I,s:f}", "model", outp, "records", (json_int_t)set.n,
                          "classes", (json_int_t)m.cls.n_classes, "accuracy", rep.accuracy);
    eco_cli_out_json(o, JSON_INDENT(2));
  } else {
    eco_strbuf sb;
    eco_sb_init(&sb);
    eco_sb_printf(&sb, "directive model %s: %zu classes, %zu levels, 2^%u features\n", outp,
                  m.cls.n_classes, m.groups.n_levels, m.cls.hash_bits);
    print_report(&sb, &m, &rep);
    eco_cli_out(eco_sb_str(&sb));
    eco_sb_free(&sb);
  }
  code = ECO_EXIT_OK;
out:
  eco_dmodel_free(&m);
  eco_dtrain_free(&set);
  return code;
}
