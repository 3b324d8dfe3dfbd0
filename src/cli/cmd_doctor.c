/* ecoinfer doctor: what this host offers ecoinfer: CPU and SIMD level,
 * memory, energy sensors (and which meter will be used), the configured
 * carbon-intensity provider, and the models in the model directory. */
#include "cli/cli.h"
#include "energy/probe.h"
#include "util/cpu.h"
#include "util/fs.h"
#include "util/strbuf.h"

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const eco_opt opts[] = {
    {"sysfs-root", 0, "DIR", NULL, "read sensors below DIR instead of / (testing)"},
    {"model-dir", 0, "DIR", "models.dir", "directory to list models from"},
    {"no-nvml", 0, NULL, NULL, "do not try to load the NVIDIA NVML library"},
};

static const eco_cmd_spec spec = {
    .name = "doctor",
    .usage = "[options]",
    .summary = "Inspect this host: CPU, memory, energy sensors, carbon provider and models.",
    .details = "Reports which energy meter each device will use. On hosts without a readable\n"
               "sensor (most VMs) the fallback is the documented power model, labelled\n"
               "'estimated' in every receipt.",
    .opts = opts,
    .n_opts = sizeof opts / sizeof opts[0],
    .min_args = 0,
    .max_args = 0,
};

typedef struct model_entry {
  char name[256];
  unsigned long long bytes;
  char format[16]; /* "gguf", "llama2c", "?" */
} model_entry;

static int list_models(const char *dir, model_entry **out, size_t *n) {
  *out = NULL;
  *n = 0;
  DIR *d = opendir(dir);
  if (!d) return 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t len = strlen(e->d_name);
    bool gguf = len > 5 && strcmp(e->d_name + len - 5, ".gguf") == 0;
    bool bin = len > 4 && strcmp(e->d_name + len - 4, ".bin") == 0;
    if (!gguf && !bin) continue;
    char path[4096];
    if (eco_fs_join(path, sizeof path, dir, e->d_name)) continue;
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
    model_entry *m = realloc(*out, (*n + 1) * sizeof *m);
    if (!m) break;
    *out = m;
    model_entry *me = &m[(*n)++];
    snprintf(me->name, sizeof me->name, "%s", e->d_name);
    me->bytes = (unsigned long long)st.st_size;
    snprintf(me->format, sizeof me->format, "?");
    FILE *f = fopen(path, "rb");
    if (f) {
      char magic[4] = {0};
      if (fread(magic, 1, 4, f) == 4 && memcmp(magic, "GGUF", 4) == 0)
        snprintf(me->format, sizeof me->format, "gguf");
      else if (bin)
        snprintf(me->format, sizeof me->format, "llama2c?");
      fclose(f);
    }
  }
  closedir(d);
  return 0;
}

static const char *simd_list(const eco_cpu_info *c, char *buf, size_t cap) {
  eco_strbuf sb;
  eco_sb_init(&sb);
  struct {
    bool on;
    const char *name;
  } f[] = {{c->has_sse42, "sse4.2"},      {c->has_avx, "avx"},
           {c->has_avx2, "avx2"},         {c->has_fma, "fma"},
           {c->has_f16c, "f16c"},         {c->has_avx512f, "avx512f"},
           {c->has_avx512bw, "avx512bw"}, {c->has_avx512vl, "avx512vl"},
           {c->has_avx512dq, "avx512dq"}, {c->has_avx512vnni, "avx512vnni"},
           {c->has_neon, "neon"},         {c->has_dotprod, "dotprod"}};
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
    if (f[i].on) eco_sb_printf(&sb, "%s%s", sb.len ? " " : "", f[i].name);
  snprintf(buf, cap, "%s", sb.len ? eco_sb_str(&sb) : "none");
  eco_sb_free(&sb);
  return buf;
}

/* The meter each device class will use, by preference: a readable hardware
 * counter, else the estimate. */
static void choose_meter(const eco_sensor_list *s, char *cpu, size_t cap, bool *cpu_measured) {
  const eco_sensor *best = NULL;
  for (size_t i = 0; i < s->n; i++) {
    if (!s->items[i].readable) continue;
    if (s->items[i].kind == ECO_SENSOR_INA3221 && strstr(s->items[i].name, "VDD_IN")) {
      best = &s->items[i];
      break;
    }
    if (s->items[i].kind == ECO_SENSOR_RAPL && strncmp(s->items[i].name, "package", 7) == 0 &&
        (!best || best->kind != ECO_SENSOR_RAPL))
      best = &s->items[i];
    if (!best && s->items[i].kind == ECO_SENSOR_HWMON) best = &s->items[i];
  }
  if (best) {
    snprintf(cpu, cap, "%s %s (measured)", eco_sensor_kind_name(best->kind), best->name);
    *cpu_measured = true;
  } else {
    snprintf(cpu, cap, "model: TDP x utilisation + memory power (estimated)");
    *cpu_measured = false;
  }
}

int eco_cmd_doctor(eco_cli *cli, int argc, char **argv) {
  bool done;
  int rc = eco_cli_parse(cli, &spec, argc, argv, &done);
  if (done) return rc;

  eco_cpu_info cpu;
  eco_cpu_detect(&cpu);
  const char *root = eco_cli_get(cli, "sysfs-root");
  eco_sensor_list sensors;
  if (eco_energy_probe(root ? root : "/", !eco_cli_flag(cli, "no-nvml"), &sensors)) {
    eco_cli_error(cli, "doctor", "out of memory while probing sensors");
    return ECO_EXIT_RUNTIME;
  }
  eco_error err = {0};
  const char *provider, *zone;
  char defdir[4096];
  eco_fs_default_model_dir(defdir, sizeof defdir);
  const char *model_dir;
  if (eco_cfg_str(cli->cfg, NULL, "carbon.provider", "static", &provider, &err) ||
      eco_cfg_str(cli->cfg, NULL, "carbon.zone", "world", &zone, &err) ||
      eco_cfg_str(cli->cfg, NULL, "models.dir", defdir, &model_dir, &err)) {
    eco_cli_error(cli, "doctor", "%s", eco_error_text(&err));
    eco_sensor_list_free(&sensors);
    return ECO_EXIT_USAGE;
  }
  model_entry *models = NULL;
  size_t n_models = 0;
  list_models(model_dir, &models, &n_models);
  char meter[160];
  bool measured;
  choose_meter(&sensors, meter, sizeof meter, &measured);
  char simd[256];
  simd_list(&cpu, simd, sizeof simd);

  if (cli->json) {
    json_t *o = json_object();
    json_t *jc = json_pack("{s:s,s:s,s:i,s:i,s:s,s:s}", "model", cpu.model, "arch", cpu.arch,
                           "logical_cpus", cpu.logical_cpus, "physical_cores", cpu.physical_cores,
                           "simd_features", simd, "kernel_level", eco_simd_name(cpu.level));
    json_object_set_new(o, "cpu", jc);
    json_object_set_new(o, "memory",
                        json_pack("{s:I,s:I}", "total_bytes", (json_int_t)cpu.mem_total_bytes,
                                  "available_bytes", (json_int_t)cpu.mem_available_bytes));
    json_t *js = json_array();
    for (size_t i = 0; i < sensors.n; i++) {
      const eco_sensor *s = &sensors.items[i];
      json_array_append_new(js, json_pack("{s:s,s:s,s:s,s:b,s:s}", "kind",
                                          eco_sensor_kind_name(s->kind), "name", s->name, "path",
                                          s->path, "readable", s->readable, "hint", s->hint));
    }
    json_object_set_new(o, "sensors", js);
    json_object_set_new(o, "meter", json_pack("{s:s,s:b}", "cpu", meter, "measured", measured));
    json_object_set_new(o, "carbon", json_pack("{s:s,s:s}", "provider", provider, "zone", zone));
    json_t *jm = json_array();
    for (size_t i = 0; i < n_models; i++)
      json_array_append_new(jm, json_pack("{s:s,s:I,s:s}", "name", models[i].name, "bytes",
                                          (json_int_t)models[i].bytes, "format", models[i].format));
    json_object_set_new(o, "models", json_pack("{s:s,s:o}", "dir", model_dir, "files", jm));
    json_object_set_new(o, "config", json_string(cli->config_path ? cli->config_path : ""));
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    json_decref(o);
    if (s) {
      eco_cli_out(s);
      eco_cli_out("\n");
      free(s);
    }
  } else {
    eco_strbuf sb;
    eco_sb_init(&sb);
    eco_sb_printf(&sb, "ecoinfer %s doctor\n\n", ECO_VERSION);
    eco_sb_printf(&sb, "%-16s %s (%s)\n", "CPU", cpu.model, cpu.arch);
    eco_sb_printf(&sb, "%-16s %d logical, %d physical\n", "cores", cpu.logical_cpus,
                  cpu.physical_cores);
    eco_sb_printf(&sb, "%-16s %s\n", "SIMD", simd);
    eco_sb_printf(&sb, "%-16s %s\n", "kernels", eco_simd_name(cpu.level));
    eco_sb_printf(&sb, "%-16s %.1f GiB total, %.1f GiB available\n", "memory",
                  (double)cpu.mem_total_bytes / (1 << 30),
                  (double)cpu.mem_available_bytes / (1 << 30));
    eco_sb_printf(&sb, "\nEnergy sensors\n");
    if (sensors.n == 0)
      eco_sb_printf(&sb, "  none found: no powercap RAPL, hwmon power/energy, NVML or "
                         "INA3221 sensor on this host (typical of a VM)\n");
    for (size_t i = 0; i < sensors.n; i++) {
      const eco_sensor *s = &sensors.items[i];
      eco_sb_printf(&sb, "  %-8s %-28s %-10s %s\n", eco_sensor_kind_name(s->kind), s->name,
                    s->readable ? "readable" : "UNREADABLE", s->readable ? s->path : s->hint);
    }
    eco_sb_printf(&sb, "\n%-16s %s\n", "CPU meter", meter);
    if (!measured)
      eco_sb_printf(&sb, "%-16s %s\n", "",
                    "no readable sensor: receipts will say energy_source=model, estimated");
    eco_sb_printf(&sb, "\n%-16s %s (zone %s)\n", "carbon provider", provider, zone);
    eco_sb_printf(&sb, "%-16s %s\n", "config", cli->config_path ? cli->config_path : "(none)");
    eco_sb_printf(&sb, "\nModels in %s\n", model_dir);
    if (n_models == 0)
      eco_sb_printf(&sb, "  none (set models.dir or ECOINFER_MODEL_DIR, or use 'ecoinfer pull')\n");
    for (size_t i = 0; i < n_models; i++)
      eco_sb_printf(&sb, "  %-40s %10.1f MiB  %s\n", models[i].name,
                    (double)models[i].bytes / (1 << 20), models[i].format);
    eco_cli_out(eco_sb_str(&sb));
    eco_sb_free(&sb);
  }
  free(models);
  eco_sensor_list_free(&sensors);
  return ECO_EXIT_OK;
}
