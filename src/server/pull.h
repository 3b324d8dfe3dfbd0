/* ecoinfer: download a GGUF model (`ecoinfer pull`).
 *
 *   REPO/FILE  e.g. "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF/smollm2-135m-instruct-q8_0.gguf"
 *              -> {base_url}/{REPO}/resolve/{revision}/{FILE}
 *   URL        http(s)://... downloaded as is
 *
 * The file is written to dest_dir/NAME.part and renamed to dest_dir/NAME
 * once complete and verified. An existing .part is resumed with an HTTP
 * Range request (a server that ignores Range restarts the download). The
 * SHA-256 of the whole file is checked against, in order: the --sha256
 * value, else the hub's X-Linked-ETag / ETag header when it is a 64-digit
 * hex digest (Hugging Face sends the LFS sha256 there). With neither, the
 * digest is printed but not checked. A mismatch deletes the .part file.
 * SHA-256 comes from OpenSSL's libcrypto. */
#ifndef ECO_SERVER_PULL_H
#define ECO_SERVER_PULL_H

#include "util/status.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct eco_pull_opts {
  const char *base_url; /* hub base, default "https://huggingface.co" */
  const char *revision; /* default "main" */
  const char *dest_dir; /* created if missing */
  const char *sha256;   /* expected hex digest, or NULL */
  const char *token;    /* bearer token (HF_TOKEN), or NULL */
  int progress_fd;      /* progress bar destination, -1 = none */
  long timeout_s;       /* stall timeout: abort below 1 B/s for this long, s (default 60) */
} eco_pull_opts;

typedef struct eco_pull_result {
  char path[4096];          /* final file */
  char sha256[65];          /* hex digest of the file */
  bool verified;            /* digest compared against an expected value */
  bool resumed;             /* continued from a .part file */
  unsigned long long bytes; /* file size, B */
} eco_pull_result;

int eco_pull(const char *spec, const eco_pull_opts *o, eco_pull_result *res, eco_error *err);

/* Hex SHA-256 of a file (libcrypto); 0 or ECO_E*. */
int eco_sha256_file(const char *path, char hex[65], eco_error *err);

#endif
