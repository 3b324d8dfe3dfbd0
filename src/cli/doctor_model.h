/* ecoinfer: `doctor -m FILE`, whether a model file will run (cmd_doctor_model.c). */
#ifndef ECO_CLI_DOCTOR_MODEL_H
#define ECO_CLI_DOCTOR_MODEL_H

#include "cli/cli.h"

/* Prints the report on a GGUF file (JSON with --json): architecture and
 * shape, tensor types and whether each is supported, tokenizer, chat
 * template (renders or falls back, and why), memory for weights and KV
 * cache, and the verdict. Returns ECO_EXIT_OK when the model will run,
 * ECO_EXIT_RUNTIME when it will not (or the file is not GGUF). */
int eco_doctor_model(eco_cli *cli, const char *path);

#endif
