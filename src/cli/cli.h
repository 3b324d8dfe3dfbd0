/* ecoinfer: command-line framework.
 *
 * `ecoinfer <command> [options] [args]`. Each command declares its options
 * in a table (eco_opt); the framework parses them the same way for every
 * command, prints --help from the table, loads the configuration and turns
 * options that carry a cfg_path into configuration overrides, so that
 * flags > environment (ECOINFER_*) > config file > defaults everywhere.
 *
 * Exit codes: 0 ok, 1 runtime error, 2 usage error (bad option, bad
 * config, command not implemented yet).
 *
 * Options every command accepts: --config FILE, --json, --log-level L,
 * --log-format text|json, --help.
 */
#ifndef ECO_CLI_CLI_H
#define ECO_CLI_CLI_H

#include "util/config.h"
#include <jansson.h>
#include "util/log.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { ECO_EXIT_OK = 0, ECO_EXIT_RUNTIME = 1, ECO_EXIT_USAGE = 2 };

typedef struct eco_opt {
  const char *name;     /* long name without "--", e.g. "port" */
  char short_name;      /* e.g. 'p', or 0 */
  const char *arg;      /* argument placeholder ("N", "FILE"), NULL for a flag */
  const char *cfg_path; /* if set, the value overrides this config path */
  const char *help;     /* one line */
} eco_opt;

typedef struct eco_cmd_spec {
  const char *name;    /* "doctor", "bench engine" */
  const char *usage;   /* "[options] MODEL" (after the name) */
  const char *summary; /* one line */
  const char *details; /* more text for --help, or NULL */
  const eco_opt *opts;
  size_t n_opts;
  int min_args, max_args; /* positional arguments; max_args -1 = unlimited */
  bool own_config;        /* --config is a file of another schema (a sim scenario): the
                             configuration file's schema is not checked */
} eco_cmd_spec;

#define ECO_CLI_MAX_VALUES 64

typedef struct eco_cli {
  const char *prog;        /* argv[0] basename */
  eco_logger log;          /* from --log-level / --log-format */
  eco_cfg *cfg;            /* loaded config, never NULL after parse */
  const char *config_path; /* NULL if none */
  bool json;               /* --json */
  /* parsed options of the current command */
  const char *opt_name[ECO_CLI_MAX_VALUES];
  const char *opt_value[ECO_CLI_MAX_VALUES]; /* "" for flags */
  size_t n_values;
  char **args; /* positional arguments */
  int n_args;
} eco_cli;

typedef struct eco_command {
  const char *name;
  const char *summary;
  int (*run)(eco_cli *cli, int argc, char **argv); /* argv[0] is the command name */
} eco_command;

/* The command table (src/cli/main.c). */
extern const eco_command eco_commands[];
extern const size_t eco_n_commands;

/* Parses argv (argv[0] = command name) against spec, loads the config and
 * applies overrides. Returns 0 to proceed, or an exit code to return at once
 * with *done set (help printed: 0; usage or config error: 2). */
int eco_cli_parse(eco_cli *cli, const eco_cmd_spec *spec, int argc, char **argv, bool *done);
void eco_cli_print_help(const eco_cli *cli, const eco_cmd_spec *spec, int fd);

/* Value of option name (last occurrence), or NULL. Flags give "". */
const char *eco_cli_get(const eco_cli *cli, const char *name);
bool eco_cli_flag(const eco_cli *cli, const char *name);
/* Typed getters: absent -> def; malformed -> message + ECO_EINVAL. */
int eco_cli_get_int(const eco_cli *cli, const char *name, int64_t def, int64_t *out);
int eco_cli_get_double(const eco_cli *cli, const char *name, double def, double *out);

/* Prints "ecoinfer CMD: MESSAGE" to stderr. */
void eco_cli_error(const eco_cli *cli, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* For commands that do not exist yet: one line, exit 2. */
int eco_cli_not_implemented(eco_cli *cli, const char *cmd, const char *issue);

/* ledger.path for a command that writes the receipt ledger: unless
 * no_ledger or the config names one, $XDG_DATA_HOME/ecoinfer/receipts.db
 * (else ~/.local/share/...), created as needed; no_ledger sets it to "". */
void eco_cli_ledger_default(eco_cli *cli, bool no_ledger);

/* Writes text to stdout fully (handles short writes). */
void eco_cli_out(const char *text);
/* Writes o as JSON (jansson dump flags) and a newline to stdout, then
 * releases o (the reference is stolen; NULL is allowed). ECO_ENOMEM if o is
 * NULL or could not be serialised. */
int eco_cli_out_json(json_t *o, size_t flags);

void eco_cli_free(eco_cli *cli);

/* The configuration file's schema (src/cli/cfg_schema.c): its top-level
 * sections, from the CLI (models, server, pull) and the modules (carbon,
 * device, devices, energy, ledger, directive, router, nodes, dns, zones). */
#define ECO_CLI_CFG_MAX_SECTIONS 32
size_t eco_cli_cfg_sections(eco_cfg_schema *out, size_t cap);
/* Checks the whole file against it: unknown keys at every level and values
 * of the wrong shape, with FILE:LINE:COL and the key. */
int eco_cli_cfg_check(const eco_cfg *cfg, eco_error *err);

/* Commands. */
int eco_cmd_run(eco_cli *cli, int argc, char **argv);
int eco_cmd_serve(eco_cli *cli, int argc, char **argv);
int eco_cmd_route(eco_cli *cli, int argc, char **argv);
int eco_cmd_agent(eco_cli *cli, int argc, char **argv);
int eco_cmd_bench(eco_cli *cli, int argc, char **argv);
int eco_cmd_sim(eco_cli *cli, int argc, char **argv);
int eco_cmd_directive(eco_cli *cli, int argc, char **argv);
int eco_cmd_report(eco_cli *cli, int argc, char **argv);
int eco_cmd_replay(eco_cli *cli, int argc, char **argv);
int eco_cmd_carbon(eco_cli *cli, int argc, char **argv);
int eco_cmd_pull(eco_cli *cli, int argc, char **argv);
int eco_cmd_doctor(eco_cli *cli, int argc, char **argv);

#endif
