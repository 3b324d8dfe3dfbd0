/* ecoinfer directive classify / info: what a directive model decides for
 * prompts (class, probability, group and its statistics), and what a model
 * file holds. */
#include "cli/subcmd.h"
#include "directive/dmodel.h"
#include "util/strbuf.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const eco_opt classify_opts[] = {
    {"model", 'm', "FILE", NULL, "directive model file (from directive train)"},
};

static const eco_cmd_spec classify_spec = {
    .name = "directive classify",
    .usage = "--model FILE [PROMPT...]",
    .summary = "Classify prompts (the arguments, else one per line of stdin).",
    .details = "Prints the predicted class, its probability, the group (class/length bucket)\n"
               "and the group's preference rate of each level. --json gives every class's\n"
               "probability.",
    .opts = classify_opts,
    .n_opts = sizeof classify_opts / sizeof classify_opts[0],
    .min_args = 0,
    .max_args = -1,
};

static json_t *decision_json(const eco_dmodel *m, const char *text, size_t len) {
  eco_dmodel_pred pr;
  eco_dmodel_predict(m, text, len, &pr);
  double p[ECO_DCLASS_MAX_CLASSES];
  eco_dclass_predict(&m->cls, text, len, p);
  char grp[64];
  eco_dmodel_group_name(m, pr.cls, pr.bucket, grp, sizeof grp);
  json_t *probs = json_object(), *pref = json_array();
  for (size_t c = 0; c < m->cls.n_classes; c++)
    json_object_set_new(probs, m->cls.label[c], json_real(p[c]));
  const eco_assign_group *g = &m->groups.g[pr.cls][pr.bucket];
  for (size_t l = 0; l < m->groups.n_levels; l++)
    json_array_append_new(pref, json_real(g->lv[l].pref));
  return json_pack("{s:s,s:f,s:s,s:I,s:o,s:o}", "class", m->cls.label[pr.cls], "p", pr.p, "group",
                   grp, "chars", (json_int_t)len, "preference", pref, "probabilities", probs);
}

static void decision_text(eco_strbuf *sb, const eco_dmodel *m, const char *text, size_t len) {
  json_t *o = decision_json(m, text, len);
  eco_sb_printf(
      sb, "%-14s p=%.3f  group %-14s pref", json_string_value(json_object_get(o, "class")),
      json_real_value(json_object_get(o, "p")), json_string_value(json_object_get(o, "group")));
  json_t *pref = json_object_get(o, "preference");
  for (size_t l = 0; l < json_array_size(pref); l++)
    eco_sb_printf(sb, " L%zu %.3f", l, json_real_value(json_array_get(pref, l)));
  eco_sb_printf(sb, "\n");
  json_decref(o);
}

int eco_cmd_directive_classify(eco_cli *cli, int argc, char **argv) {
  bool done;
  int rc = eco_cli_parse(cli, &classify_spec, argc, argv, &done);
  if (done) return rc;
  const char *cmd = "directive classify", *mp = eco_cli_get(cli, "model");
  if (!mp) {
    eco_cli_error(cli, cmd, "--model FILE is required");
    return ECO_EXIT_USAGE;
  }
  eco_dmodel m;
  eco_error err = {0};
  if (eco_dmodel_load(mp, &m, &err)) {
    eco_cli_error(cli, cmd, "%s", eco_error_text(&err));
    return ECO_EXIT_RUNTIME;
  }
  json_t *arr = json_array();
  eco_strbuf sb;
  eco_sb_init(&sb);
  char *line = NULL;
  size_t cap = 0;
  for (int i = 0; i < cli->n_args || (cli->n_args == 0 && !feof(stdin)); i++) {
    const char *t;
    size_t len;
    if (cli->n_args) {
      t = cli->args[i], len = strlen(t);
    } else {
      ssize_t n = getline(&line, &cap, stdin);
      if (n < 0) break;
      while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
      t = line, len = (size_t)n;
    }
    if (cli->json)
      json_array_append_new(arr, decision_json(&m, t, len));
    else
      decision_text(&sb, &m, t, len);
  }
  free(line);
  if (cli->json)
    eco_cli_out_json(arr, JSON_INDENT(2));
  else
    json_decref(arr), eco_cli_out(eco_sb_str(&sb));
  eco_sb_free(&sb);
  eco_dmodel_free(&m);
  return ECO_EXIT_OK;
}

static const eco_cmd_spec info_spec = {
    .name = "directive info",
    .usage = "MODEL",
    .summary = "Describe a directive model file: classes, groups, statistics, accuracy.",
    .details = NULL,
    .opts = NULL,
    .n_opts = 0,
    .min_args = 1,
    .max_args = 1,
};

int eco_cmd_directive_info(eco_cli *cli, int argc, char **argv) {
  bool done;
  int rc = eco_cli_parse(cli, &info_spec, argc, argv, &done);
  if (done) return rc;
  eco_dmodel m;
  eco_error err = {0};
  if (eco_dmodel_load(cli->args[0], &m, &err)) {
    eco_cli_error(cli, "directive info", "%s", eco_error_text(&err));
    return ECO_EXIT_RUNTIME;
  }
  size_t C = m.cls.n_classes, L = m.groups.n_levels;
  json_t *groups = json_array();
  for (size_t c = 0; c < C; c++)
    for (int b = 0; b < ECO_ASSIGN_BUCKETS; b++) {
      const eco_assign_group *g = &m.groups.g[c][b];
      json_t *lv = json_array();
      for (size_t l = 0; l < L; l++)
        json_array_append_new(lv,
                              json_pack("{s:f,s:f,s:f}", "pref", g->lv[l].pref, "prior_energy_kwh",
                                        g->lv[l].energy_kwh, "prior_time_s", g->lv[l].time_s));
      char name[64];
      eco_dmodel_group_name(&m, (int)c, b, name, sizeof name);
      double hi = b < ECO_ASSIGN_BUCKETS - 1 ? m.groups.len_edge[c][b] : -1;
      json_array_append_new(groups, json_pack("{s:s,s:f,s:I,s:f,s:o}", "group", name, "share",
                                              g->share, "train", (json_int_t)g->n_train,
                                              "max_chars", hi, "levels", lv));
    }
  json_t *o =
      json_pack("{s:i,s:I,s:I,s:i,s:f,s:I,s:b,s:s,s:o}", "version", ECO_DMODEL_VERSION, "classes",
                (json_int_t)C, "levels", (json_int_t)L, "hash_bits", (int)m.cls.hash_bits,
                "accuracy", m.accuracy, "train", (json_int_t)m.n_train, "has_cost_priors",
                m.has_costs, "cost_priors_source", m.cost_source, "groups", groups);
  eco_dmodel_free(&m);
  return eco_cli_out_json(o, JSON_INDENT(2)) ? ECO_EXIT_RUNTIME : ECO_EXIT_OK;
}
