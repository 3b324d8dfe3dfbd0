/* ecoinfer bench synth: write a synthetic GGUF model (random weights of a
 * real model's shapes, a tokenizer in the metadata) for speed tests. */
#include "cli/subcmd.h"
#include "engine/synth.h"

#include <jansson.h>
#include <stdio.h>
#include <sys/stat.h>

static const eco_opt opts[] = {
    {"shape", 0, "NAME", NULL,
     "smollm2-135m | qwen2.5-0.5b | tinyllama-1.1b | llama3.2-1b | mistral-7b | qwen3-0.6b | "
     "qwen3-1.7b | gemma2-2b | gemma3-1b | gemma3-4b | phi3.5-mini | phi4-mini, or a tiny "
     "test-* shape of the test fixtures (an unknown name lists them all)"},
    {"type", 0, "TYPE", NULL,
     "f16 | q8_0 | q4_0 | q5_0 | q5_1 | q2_k | q3_k_m | q4_k_m | q5_k_m | q6_k | iq4_nl | "
     "iq4_xs: llama-quantize's per-tensor types for the mix, fallbacks included"},
    {"output", 'o', "FILE", NULL, "GGUF file to write"},
    {"seed", 0, "S", NULL, "random seed (default 1)"},
};

static const eco_cmd_spec spec = {
    .name = "bench synth",
    .usage = "--shape NAME --type TYPE -o FILE",
    .summary = "Write a synthetic GGUF model with random weights of a real model's shapes.",
    .opts = opts,
    .n_opts = sizeof opts / sizeof opts[0],
    .min_args = 0,
    .max_args = 0,
};

int eco_cmd_bench_synth(eco_cli *cli, int argc, char **argv) {
  bool done;
  int rc = eco_cli_parse(cli, &spec, argc, argv, &done);
  if (done) return rc;
  const char *shape = eco_cli_get(cli, "shape"), *type = eco_cli_get(cli, "type"),
             *out = eco_cli_get(cli, "output");
  int64_t seed;
  if (eco_cli_get_int(cli, "seed", 1, &seed)) return ECO_EXIT_USAGE;
  if (!shape || !type || !out) {
    eco_cli_error(cli, "bench synth", "--shape, --type and -o are required");
    return ECO_EXIT_USAGE;
  }
  const eco_synth_shape *sh = eco_synth_find_shape(shape);
  if (!sh) {
    char names[1024];
    eco_synth_shape_names(names, sizeof names);
    eco_cli_error(cli, "bench synth", "unknown shape '%s' (known: %s)", shape, names);
    return ECO_EXIT_USAGE;
  }
  eco_error err = {0};
  rc = eco_synth_write(sh, type, out, (uint64_t)seed, &err);
  if (rc) {
    eco_cli_error(cli, "bench synth", "%s", eco_error_text(&err));
    return rc == ECO_EINVAL ? ECO_EXIT_USAGE : ECO_EXIT_RUNTIME;
  }
  struct stat st;
  long long bytes = stat(out, &st) == 0 ? (long long)st.st_size : -1;
  if (cli->json) {
    json_t *o = json_pack("{s:s, s:s, s:s, s:I}", "shape", shape, "type", type, "file", out,
                          "bytes", (json_int_t)bytes);
    char *s = json_dumps(o, JSON_COMPACT);
    printf("%s\n", s ? s : "{}");
    free(s);
    json_decref(o);
  } else {
    printf("wrote %s (%s, %s, %.1f MB)\n", out, shape, type, (double)bytes / 1e6);
  }
  return 0;
}
