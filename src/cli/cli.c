#include "cli/cli.h"

#include "util/fs.h"
#include "util/strbuf.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const eco_opt common_opts[] = {
    {"config", 'c', "FILE", NULL, "configuration file (default: $ECOINFER_CONFIG)"},
    {"json", 0, NULL, NULL, "print results as JSON"},
    {"log-level", 0, "LEVEL", NULL, "debug, info, warn, error or off (default info)"},
    {"log-format", 0, "FMT", NULL, "text or json (default text)"},
    {"help", 'h', NULL, NULL, "show this help"},
};
#define N_COMMON (sizeof common_opts / sizeof common_opts[0])

void eco_cli_out(const char *text) {
  size_t n = strlen(text);
  while (n > 0) {
    ssize_t w = write(1, text, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;
    }
    text += w;
    n -= (size_t)w;
  }
}

int eco_cli_out_json(json_t *o, size_t flags) {
  char *s = o ? json_dumps(o, flags) : NULL;
  json_decref(o);
  if (!s) return ECO_ENOMEM;
  eco_cli_out(s);
  eco_cli_out("\n");
  free(s);
  return ECO_OK;
}

void eco_cli_error(const eco_cli *cli, const char *cmd, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s%s%s: %s\n", cli && cli->prog ? cli->prog : "ecoinfer", cmd ? " " : "",
          cmd ? cmd : "", msg);
}

void eco_cli_ledger_default(eco_cli *cli, bool no_ledger) {
  const char *lp = NULL;
  eco_error err = {0};
  if (no_ledger) {
    eco_cfg_set(cli->cfg, "ledger.path", "", "--no-ledger");
    return;
  }
  if (eco_cfg_str(cli->cfg, NULL, "ledger.path", NULL, &lp, &err) || lp) return;
  char ledger[4200];
  const char *x = getenv("XDG_DATA_HOME"), *h = getenv("HOME");
  if (x && *x)
    snprintf(ledger, sizeof ledger, "%s/ecoinfer", x);
  else
    snprintf(ledger, sizeof ledger, "%s/.local/share/ecoinfer", h && *h ? h : "/tmp");
  if (eco_fs_mkdirs(ledger) == 0) {
    size_t n = strlen(ledger);
    snprintf(ledger + n, sizeof ledger - n, "/receipts.db");
    eco_cfg_set(cli->cfg, "ledger.path", ledger, "default");
  }
}

int eco_cli_not_implemented(eco_cli *cli, const char *cmd, const char *issue) {
  eco_cli_error(cli, cmd, "not implemented yet (%s)", issue);
  return ECO_EXIT_USAGE;
}

static void print_opts(eco_strbuf *sb, const eco_opt *o, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char left[96];
    if (o[i].short_name)
      snprintf(left, sizeof left, "-%c, --%s%s%s", o[i].short_name, o[i].name, o[i].arg ? " " : "",
               o[i].arg ? o[i].arg : "");
    else
      snprintf(left, sizeof left, "    --%s%s%s", o[i].name, o[i].arg ? " " : "",
               o[i].arg ? o[i].arg : "");
    eco_sb_printf(sb, "  %-28s %s", left, o[i].help);
    if (o[i].cfg_path) eco_sb_printf(sb, " [config: %s]", o[i].cfg_path);
    eco_sb_puts(sb, "\n");
  }
}

void eco_cli_print_help(const eco_cli *cli, const eco_cmd_spec *spec, int fd) {
  eco_strbuf sb;
  eco_sb_init(&sb);
  eco_sb_printf(&sb, "Usage: %s %s %s\n\n%s\n", cli->prog, spec->name,
                spec->usage ? spec->usage : "[options]", spec->summary);
  if (spec->details) eco_sb_printf(&sb, "\n%s\n", spec->details);
  if (spec->n_opts) {
    eco_sb_puts(&sb, "\nOptions:\n");
    print_opts(&sb, spec->opts, spec->n_opts);
  }
  eco_sb_puts(&sb, "\nCommon options:\n");
  print_opts(&sb, common_opts, N_COMMON);
  eco_sb_puts(&sb, "\nExit status: 0 ok, 1 runtime error, 2 usage or configuration error.\n");
  const char *s = eco_sb_str(&sb);
  size_t n = strlen(s);
  while (n) {
    ssize_t w = write(fd, s, n);
    if (w <= 0) break;
    s += w;
    n -= (size_t)w;
  }
  eco_sb_free(&sb);
}

static const eco_opt *find_long(const eco_cmd_spec *spec, const char *name, size_t len) {
  for (size_t i = 0; i < spec->n_opts; i++)
    if (strlen(spec->opts[i].name) == len && strncmp(spec->opts[i].name, name, len) == 0)
      return &spec->opts[i];
  for (size_t i = 0; i < N_COMMON; i++)
    if (strlen(common_opts[i].name) == len && strncmp(common_opts[i].name, name, len) == 0)
      return &common_opts[i];
  return NULL;
}

static const eco_opt *find_short(const eco_cmd_spec *spec, char c) {
  for (size_t i = 0; i < spec->n_opts; i++)
    if (spec->opts[i].short_name == c) return &spec->opts[i];
  for (size_t i = 0; i < N_COMMON; i++)
    if (common_opts[i].short_name == c) return &common_opts[i];
  return NULL;
}

static int usage_error(eco_cli *cli, const eco_cmd_spec *spec, bool *done, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int usage_error(eco_cli *cli, const eco_cmd_spec *spec, bool *done, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s %s: %s\nTry '%s %s --help'.\n", cli->prog, spec->name, msg, cli->prog,
          spec->name);
  *done = true;
  return ECO_EXIT_USAGE;
}

static int record(eco_cli *cli, const char *name, const char *value) {
  if (cli->n_values >= ECO_CLI_MAX_VALUES) return -1;
  cli->opt_name[cli->n_values] = name;
  cli->opt_value[cli->n_values] = value;
  cli->n_values++;
  return 0;
}

/* Records argv's options and collects its arguments. ECO_EXIT_OK, or *done with the exit
 * code of a usage error (printed). */
static int parse_argv(eco_cli *cli, const eco_cmd_spec *spec, int argc, char **argv, bool *done) {
  bool only_args = false;
  for (int i = 1; i < argc; i++) {
    char *a = argv[i];
    if (only_args || a[0] != '-' || a[1] == '\0') {
      cli->args[cli->n_args++] = a;
      continue;
    }
    if (strcmp(a, "--") == 0) {
      only_args = true;
      continue;
    }
    const eco_opt *o;
    const char *val = NULL;
    if (a[1] == '-') {
      const char *name = a + 2;
      const char *eq = strchr(name, '=');
      size_t len = eq ? (size_t)(eq - name) : strlen(name);
      o = find_long(spec, name, len);
      if (!o) return usage_error(cli, spec, done, "unknown option '--%.*s'", (int)len, name);
      if (eq) {
        if (!o->arg) return usage_error(cli, spec, done, "option '--%s' takes no value", o->name);
        val = eq + 1;
      }
    } else {
      o = find_short(spec, a[1]);
      if (a[2] != '\0') {
        if (!o || !o->arg) return usage_error(cli, spec, done, "unknown option '%s'", a);
        val = a + 2; /* -n64 */
      } else if (!o) {
        return usage_error(cli, spec, done, "unknown option '%s'", a);
      }
    }
    if (o->arg && !val) {
      if (i + 1 >= argc)
        return usage_error(cli, spec, done, "option '--%s' needs a value (%s)", o->name, o->arg);
      val = argv[++i];
    }
    if (record(cli, o->name, val ? val : ""))
      return usage_error(cli, spec, done, "too many options");
  }
  return ECO_EXIT_OK;
}

/* Configuration: --config, else $ECOINFER_CONFIG, else empty; then the options that name a
 * configuration path override it. */
static int load_config(eco_cli *cli, const eco_cmd_spec *spec, bool *done) {
  const char *cp = eco_cli_get(cli, "config");
  if (!cp) cp = getenv("ECOINFER_CONFIG");
  if (cp && !*cp) cp = NULL;
  eco_cfg_free(cli->cfg);
  cli->cfg = NULL;
  eco_error err = {0};
  int rc = cp ? eco_cfg_load_file(cp, &cli->cfg, &err) : eco_cfg_new_empty(&cli->cfg);
  if (rc == 0 && !spec->own_config) rc = eco_cli_cfg_check(cli->cfg, &err);
  if (rc) {
    fprintf(stderr, "%s %s: %s\n", cli->prog, spec->name, eco_error_text(&err));
    *done = true;
    return ECO_EXIT_USAGE;
  }
  cli->config_path = cp;
  for (size_t i = 0; i < cli->n_values; i++) {
    for (size_t j = 0; j < spec->n_opts; j++) {
      const eco_opt *o = &spec->opts[j];
      if (!o->cfg_path || strcmp(o->name, cli->opt_name[i]) != 0) continue;
      char origin[80];
      snprintf(origin, sizeof origin, "option --%s", o->name);
      if (eco_cfg_set(cli->cfg, o->cfg_path, o->arg ? cli->opt_value[i] : "true", origin)) {
        *done = true;
        return ECO_EXIT_RUNTIME;
      }
    }
  }
  return ECO_EXIT_OK;
}

int eco_cli_parse(eco_cli *cli, const eco_cmd_spec *spec, int argc, char **argv, bool *done) {
  *done = false;
  cli->n_values = 0;
  free(cli->args);
  cli->args = calloc((size_t)argc + 1, sizeof *cli->args);
  cli->n_args = 0;
  if (!cli->args) {
    *done = true;
    return ECO_EXIT_RUNTIME;
  }
  int rc = parse_argv(cli, spec, argc, argv, done);
  if (*done) return rc;
  if (eco_cli_flag(cli, "help")) {
    eco_cli_print_help(cli, spec, 1);
    *done = true;
    return ECO_EXIT_OK;
  }
  if (cli->n_args < spec->min_args)
    return usage_error(cli, spec, done, "missing argument (usage: %s %s %s)", cli->prog, spec->name,
                       spec->usage ? spec->usage : "");
  if (spec->max_args >= 0 && cli->n_args > spec->max_args)
    return usage_error(cli, spec, done, "unexpected argument '%s'", cli->args[spec->max_args]);
  const char *lv = eco_cli_get(cli, "log-level");
  if (lv && eco_log_parse_level(lv, &cli->log.level))
    return usage_error(cli, spec, done, "bad --log-level '%s' (debug|info|warn|error|off)", lv);
  const char *lf = eco_cli_get(cli, "log-format");
  if (lf && eco_log_parse_format(lf, &cli->log.format))
    return usage_error(cli, spec, done, "bad --log-format '%s' (text|json)", lf);
  if (eco_cli_flag(cli, "json")) cli->json = true;
  return load_config(cli, spec, done);
}

const char *eco_cli_get(const eco_cli *cli, const char *name) {
  const char *v = NULL;
  for (size_t i = 0; i < cli->n_values; i++)
    if (strcmp(cli->opt_name[i], name) == 0) v = cli->opt_value[i];
  return v;
}

bool eco_cli_flag(const eco_cli *cli, const char *name) { return eco_cli_get(cli, name) != NULL; }

int eco_cli_get_int(const eco_cli *cli, const char *name, int64_t def, int64_t *out) {
  const char *v = eco_cli_get(cli, name);
  if (!v) {
    *out = def;
    return 0;
  }
  char *end;
  errno = 0;
  long long x = strtoll(v, &end, 10);
  if (end == v || *end || errno) {
    eco_cli_error(cli, NULL, "option --%s: expected an integer, got '%s'", name, v);
    return ECO_EINVAL;
  }
  *out = x;
  return 0;
}

int eco_cli_get_double(const eco_cli *cli, const char *name, double def, double *out) {
  const char *v = eco_cli_get(cli, name);
  if (!v) {
    *out = def;
    return 0;
  }
  char *end;
  errno = 0;
  double x = strtod(v, &end);
  if (end == v || *end || errno || !isfinite(x)) {
    eco_cli_error(cli, NULL, "option --%s: expected a number, got '%s'", name, v);
    return ECO_EINVAL;
  }
  *out = x;
  return 0;
}

void eco_cli_free(eco_cli *cli) {
  eco_cfg_free(cli->cfg);
  cli->cfg = NULL;
  free(cli->args);
  cli->args = NULL;
}
