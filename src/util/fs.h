/* ecoinfer: small file-system helpers. */
#ifndef ECO_UTIL_FS_H
#define ECO_UTIL_FS_H

#include "util/status.h"

#include <stdbool.h>
#include <stddef.h>

/* Reads a whole file into a NUL-terminated heap buffer (*len excludes the
 * NUL). Refuses files larger than max_bytes with ECO_EOVERFLOW. */
int eco_fs_read_all(const char *path, size_t max_bytes, char **out, size_t *len, eco_error *err);

/* Reads a small sysfs-style file: first line, trailing newline stripped. */
int eco_fs_read_line(const char *path, char *buf, size_t cap);

/* Writes data to path atomically (temp file in the same dir, fsync, rename). */
int eco_fs_write_atomic(const char *path, const void *data, size_t len, eco_error *err);

/* mkdir -p with mode 0755. */
int eco_fs_mkdirs(const char *path);

bool eco_fs_exists(const char *path);
bool eco_fs_is_dir(const char *path);

/* Joins a and b with one '/' into buf; ECO_EOVERFLOW if it does not fit. */
int eco_fs_join(char *buf, size_t cap, const char *a, const char *b);

/* Default model directory: $ECOINFER_MODEL_DIR, else $XDG_DATA_HOME/ecoinfer/models,
 * else $HOME/.local/share/ecoinfer/models. */
int eco_fs_default_model_dir(char *buf, size_t cap);

#endif
