/* ecoinfer doctor: what this host offers ecoinfer: CPU and SIMD level,
 * memory, energy sensors (and which meter will be used), the configured
 * carbon-intensity provider, and the models in the model directory. */
#include "cli/cli.h"
#include "cli/doctor_model.h"
#include "accounting/setup.h"
#include "energy/meter.h"
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
    {"model", 'm', "FILE", NULL,
     "report on a GGUF model file instead: will it run (architecture, tensor types, tokenizer, "
     "chat template, memory)"},
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
               "'estimated' in every receipt.\n"
               "With -m FILE it reports on a model file instead: its architecture and shape,\n"
               "every tensor type and whether it is supported, the tokenizer, whether the\n"
               "chat template renders (or the format it falls back to, and why), the memory\n"
               "the weights and the KV cache need, and the verdict; it exits 1 when the\n"
               "model will not run.",
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

/* The meter each configured device will use: the one eco_device_meter_open
 * picks (auto: INA3221 > RAPL > hwmon > model). The model reads /proc: when
 * the sensor root is a fake tree without proc/, the host's /proc is used. */
typedef struct device_meter {
  char name[64];
  char meter[16];        /* as configured */
  eco_energy_source src; /* what opened */
  bool ok;
  char error[256]; /* why it did not open */
} device_meter;

static void probe_devices(const eco_device_cfg *d, size_t n, const char *root, device_meter *out) {
  for (size_t i = 0; i < n; i++) {
    device_meter *m = &out[i];
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", d[i].name);
    snprintf(m->meter, sizeof m->meter, "%s", d[i].meter);
    eco_meter *mt = NULL;
    eco_error err = {0};
    int rc = eco_device_meter_open(&d[i], root, &mt, &err);
    if (rc && (strcmp(d[i].meter, "auto") == 0 || strcmp(d[i].meter, "model") == 0))
      rc = eco_meter_model_open("/", &d[i].model, &mt, &err);
    if (rc) {
      snprintf(m->error, sizeof m->error, "%s", eco_error_text(&err));
      continue;
    }
    m->ok = true;
    m->src = mt->src;
    eco_meter_free(mt);
  }
}

/* What doctor found about the host. */
typedef struct doctor_facts {
  eco_cpu_info cpu;
  char simd[256];
  eco_sensor_list sensors;
  device_meter *dm; /* [n_devs] */
  eco_device_cfg *devs;
  size_t n_devs;
  char meter[160];                         /* the first device's meter, in words */
  bool measured;                           /* the first device's meter reads a sensor */
  const char *provider, *zone, *model_dir; /* model_dir may point into defdir */
  char defdir[4096];                       /* the default model directory */
  model_entry *models;
  size_t n_models;
} doctor_facts;

static void print_json(const eco_cli *cli, const doctor_facts *f) {
  const eco_cpu_info *cpu = &f->cpu;
  json_t *o = json_object();
  json_t *jc = json_pack("{s:s,s:s,s:i,s:i,s:s,s:s}", "model", cpu->model, "arch", cpu->arch,
                         "logical_cpus", cpu->logical_cpus, "physical_cores", cpu->physical_cores,
                         "simd_features", f->simd, "kernel_level", eco_simd_name(cpu->level));
  json_object_set_new(o, "cpu", jc);
  json_object_set_new(o, "memory",
                      json_pack("{s:I,s:I}", "total_bytes", (json_int_t)cpu->mem_total_bytes,
                                "available_bytes", (json_int_t)cpu->mem_available_bytes));
  json_t *js = json_array();
  for (size_t i = 0; i < f->sensors.n; i++) {
    const eco_sensor *s = &f->sensors.items[i];
    json_array_append_new(js, json_pack("{s:s,s:s,s:s,s:b,s:s}", "kind",
                                        eco_sensor_kind_name(s->kind), "name", s->name, "path",
                                        s->path, "readable", s->readable, "hint", s->hint));
  }
  json_object_set_new(o, "sensors", js);
  json_object_set_new(o, "meter", json_pack("{s:s,s:b}", "cpu", f->meter, "measured", f->measured));
  json_t *jd = json_array();
  for (size_t i = 0; i < f->n_devs; i++) {
    const device_meter *d = &f->dm[i];
    json_array_append_new(jd,
                          json_pack("{s:s,s:s,s:b,s:s,s:s,s:b,s:s}", "name", d->name, "configured",
                                    d->meter, "ok", d->ok, "source", d->ok ? d->src.name : "",
                                    "detail", d->ok ? d->src.detail : "", "estimated",
                                    d->ok ? d->src.estimated : true, "error", d->error));
  }
  json_object_set_new(o, "devices", jd);
  json_object_set_new(o, "carbon",
                      json_pack("{s:s,s:s}", "provider", f->provider, "zone", f->zone));
  json_t *jm = json_array();
  for (size_t i = 0; i < f->n_models; i++)
    json_array_append_new(jm,
                          json_pack("{s:s,s:I,s:s}", "name", f->models[i].name, "bytes",
                                    (json_int_t)f->models[i].bytes, "format", f->models[i].format));
  json_object_set_new(o, "models", json_pack("{s:s,s:o}", "dir", f->model_dir, "files", jm));
  json_object_set_new(o, "config", json_string(cli->config_path ? cli->config_path : ""));
  eco_cli_out_json(o, JSON_INDENT(2) | JSON_ENSURE_ASCII);
}

static void print_energy(eco_strbuf *sb, const doctor_facts *f) {
  eco_sb_printf(sb, "\nEnergy sensors\n");
  if (f->sensors.n == 0)
    eco_sb_printf(sb, "  none found: no powercap RAPL, hwmon power/energy, NVML or "
                      "INA3221 sensor on this host (typical of a VM)\n");
  for (size_t i = 0; i < f->sensors.n; i++) {
    const eco_sensor *s = &f->sensors.items[i];
    eco_sb_printf(sb, "  %-8s %-28s %-10s %s\n", eco_sensor_kind_name(s->kind), s->name,
                  s->readable ? "readable" : "UNREADABLE", s->readable ? s->path : s->hint);
  }
  eco_sb_printf(sb, "\nMeters (device: configured -> used)\n");
  for (size_t i = 0; i < f->n_devs; i++) {
    const device_meter *d = &f->dm[i];
    if (d->ok)
      eco_sb_printf(sb, "  %-10s %-8s -> %s: %s (%s)\n", d->name, d->meter, d->src.name,
                    d->src.detail, d->src.estimated ? "estimated" : "measured");
    else
      eco_sb_printf(sb, "  %-10s %-8s -> UNAVAILABLE: %s\n", d->name, d->meter, d->error);
  }
  if (!f->measured)
    eco_sb_printf(sb, "  %s\n",
                  "no readable sensor: receipts will say energy_source=model, estimated");
}

static void print_text(const eco_cli *cli, const doctor_facts *f) {
  const eco_cpu_info *cpu = &f->cpu;
  eco_strbuf sb;
  eco_sb_init(&sb);
  eco_sb_printf(&sb, "ecoinfer %s doctor\n\n", ECO_VERSION);
  eco_sb_printf(&sb, "%-16s %s (%s)\n", "CPU", cpu->model, cpu->arch);
  eco_sb_printf(&sb, "%-16s %d logical, %d physical\n", "cores", cpu->logical_cpus,
                cpu->physical_cores);
  eco_sb_printf(&sb, "%-16s %s\n", "SIMD", f->simd);
  eco_sb_printf(&sb, "%-16s %s\n", "kernels", eco_simd_name(cpu->level));
  eco_sb_printf(&sb, "%-16s %.1f GiB total, %.1f GiB available\n", "memory",
                (double)cpu->mem_total_bytes / (1 << 30),
                (double)cpu->mem_available_bytes / (1 << 30));
  print_energy(&sb, f);
  eco_sb_printf(&sb, "\n%-16s %s (zone %s)\n", "carbon provider", f->provider, f->zone);
  eco_sb_printf(&sb, "%-16s %s\n", "config", cli->config_path ? cli->config_path : "(none)");
  eco_sb_printf(&sb, "\nModels in %s\n", f->model_dir);
  if (f->n_models == 0)
    eco_sb_printf(&sb, "  none (set models.dir or ECOINFER_MODEL_DIR, or use 'ecoinfer pull')\n");
  for (size_t i = 0; i < f->n_models; i++)
    eco_sb_printf(&sb, "  %-40s %10.1f MiB  %s\n", f->models[i].name,
                  (double)f->models[i].bytes / (1 << 20), f->models[i].format);
  eco_cli_out(eco_sb_str(&sb));
  eco_sb_free(&sb);
}

static void doctor_facts_free(doctor_facts *f) {
  free(f->models);
  free(f->devs);
  free(f->dm);
  eco_sensor_list_free(&f->sensors);
}

/* Probes the CPU, the sensors, the configured devices' meters, the carbon settings and the
 * model directory. An exit code (reported) on failure. */
static int gather(eco_cli *cli, doctor_facts *f) {
  eco_cpu_detect(&f->cpu);
  const char *root = eco_cli_get(cli, "sysfs-root");
  if (eco_energy_probe(root ? root : "/", !eco_cli_flag(cli, "no-nvml"), &f->sensors)) {
    eco_cli_error(cli, "doctor", "out of memory while probing sensors");
    return ECO_EXIT_RUNTIME;
  }
  eco_error err = {0};
  eco_fs_default_model_dir(f->defdir, sizeof f->defdir);
  if (eco_cfg_str(cli->cfg, NULL, "carbon.provider", "static", &f->provider, &err) ||
      eco_cfg_str(cli->cfg, NULL, "carbon.zone", "world", &f->zone, &err) ||
      eco_cfg_str(cli->cfg, NULL, "models.dir", f->defdir, &f->model_dir, &err)) {
    eco_cli_error(cli, "doctor", "%s", eco_error_text(&err));
    return ECO_EXIT_USAGE;
  }
  list_models(f->model_dir, &f->models, &f->n_models);
  if (eco_device_cfgs_load(cli->cfg, &f->devs, &f->n_devs, &err)) {
    eco_cli_error(cli, "doctor", "%s", eco_error_text(&err));
    return ECO_EXIT_USAGE;
  }
  f->dm = calloc(f->n_devs, sizeof *f->dm);
  if (!f->dm) return ECO_EXIT_RUNTIME;
  probe_devices(f->devs, f->n_devs, root ? root : "/", f->dm);
  const device_meter *d0 = &f->dm[0];
  f->measured = d0->ok && !d0->src.estimated;
  if (d0->ok)
    snprintf(f->meter, sizeof f->meter, "%s: %s (%s)", d0->src.name, d0->src.detail,
             d0->src.estimated ? "estimated" : "measured");
  else
    snprintf(f->meter, sizeof f->meter, "none: %s", d0->error);
  simd_list(&f->cpu, f->simd, sizeof f->simd);
  return ECO_EXIT_OK;
}

int eco_cmd_doctor(eco_cli *cli, int argc, char **argv) {
  bool done;
  int rc = eco_cli_parse(cli, &spec, argc, argv, &done);
  if (done) return rc;
  const char *model_path = eco_cli_get(cli, "model");
  if (model_path) return eco_doctor_model(cli, model_path);
  doctor_facts *f = calloc(1, sizeof *f);
  if (!f) return ECO_EXIT_RUNTIME;
  rc = gather(cli, f);
  if (rc == ECO_EXIT_OK) {
    if (cli->json)
      print_json(cli, f);
    else
      print_text(cli, f);
  }
  doctor_facts_free(f);
  free(f);
  return rc;
}
