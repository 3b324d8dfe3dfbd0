/* ecoinfer pull: download a GGUF model from Hugging Face (or any URL) into
 * the model directory, with a progress bar, resume and a sha256 check. */
#include "cli/cli.h"
#include "server/pull.h"
#include "util/fs.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const eco_opt opts[] = {
    {"model-dir", 0, "DIR", "models.dir", "directory to save into"},
    {"base-url", 0, "URL", "pull.base_url", "hub base URL (default https://huggingface.co)"},
    {"revision", 0, "REV", "pull.revision", "branch, tag or commit (default main)"},
    {"sha256", 0, "HEX", NULL, "expected SHA-256 of the file (else the hub's ETag is used)"},
    {"no-progress", 0, NULL, NULL, "do not draw the progress bar"},
};

static const eco_cmd_spec spec = {
    .name = "pull",
    .usage = "[options] OWNER/REPO/FILE.gguf | URL",
    .summary = "Download a GGUF model into the model directory (resumable, sha256-checked).",
    .details = "Example: ecoinfer pull HuggingFaceTB/SmolLM2-135M-Instruct-GGUF/"
               "smollm2-135m-instruct-q8_0.gguf\n"
               "An interrupted download is resumed from FILE.part on the next run. Set HF_TOKEN\n"
               "for gated repositories. Exit codes: 0 ok, 1 download or checksum failure.",
    .opts = opts,
    .n_opts = sizeof opts / sizeof opts[0],
    .min_args = 1,
    .max_args = 1,
};

int eco_cmd_pull(eco_cli *cli, int argc, char **argv) {
  bool done;
  int rc = eco_cli_parse(cli, &spec, argc, argv, &done);
  if (done) return rc;
  eco_error err = {0};
  char defdir[4096];
  eco_fs_default_model_dir(defdir, sizeof defdir);
  eco_pull_opts o = {.progress_fd = -1};
  if (eco_cfg_str(cli->cfg, NULL, "models.dir", defdir, &o.dest_dir, &err) ||
      eco_cfg_str(cli->cfg, NULL, "pull.base_url", "https://huggingface.co", &o.base_url, &err) ||
      eco_cfg_str(cli->cfg, NULL, "pull.revision", "main", &o.revision, &err)) {
    eco_cli_error(cli, "pull", "%s", eco_error_text(&err));
    return ECO_EXIT_USAGE;
  }
  char dir[4096];
  if (o.dest_dir[0] == '~' && o.dest_dir[1] == '/' && getenv("HOME")) {
    snprintf(dir, sizeof dir, "%s%s", getenv("HOME"), o.dest_dir + 1);
    o.dest_dir = dir;
  }
  o.sha256 = eco_cli_get(cli, "sha256");
  o.token = getenv("HF_TOKEN");
  if (!eco_cli_flag(cli, "no-progress") && !cli->json && isatty(2)) o.progress_fd = 2;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  eco_pull_result res;
  rc = eco_pull(cli->args[0], &o, &res, &err);
  curl_global_cleanup();
  if (rc) {
    eco_cli_error(cli, "pull", "%s", eco_error_text(&err));
    return rc == ECO_EINVAL ? ECO_EXIT_USAGE : ECO_EXIT_RUNTIME;
  }
  if (cli->json) {
    json_t *j =
        json_pack("{s:s,s:s,s:b,s:b,s:I}", "path", res.path, "sha256", res.sha256, "verified",
                  res.verified, "resumed", res.resumed, "bytes", (json_int_t)res.bytes);
    eco_cli_out_json(j, JSON_COMPACT);
  } else {
    char line[4400];
    snprintf(line, sizeof line, "%s\n  %llu bytes, sha256 %s (%s)%s\n", res.path, res.bytes,
             res.sha256, res.verified ? "verified" : "not verified: no expected hash",
             res.resumed ? ", resumed" : "");
    eco_cli_out(line);
  }
  return ECO_EXIT_OK;
}
