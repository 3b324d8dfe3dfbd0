#!/usr/bin/env bash
# The official `openai` npm client against `ecoinfer serve` with a REAL model
# (the batching engine): chat, completions, streaming with include_usage,
# model listing, error shapes. Same client script as test_server_node.sh.
#   tests/test_server_node_model.sh ECOINFER_BINARY SHARED_DIR
set -uo pipefail
bin="${1:?usage: $0 ECOINFER_BINARY SHARED_DIR}"
shared="${2:-}"
model="$shared/models/test-smollm2-2layer-q8_0.gguf"
[[ -f "$model" ]] || { echo "SKIP: shared model $model absent"; exit 77; }
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SERVE_ARGS="-m $model" ECOINFER_MODEL="test-smollm2-2layer-q8_0.gguf" \
  exec bash "$here/test_server_node.sh" "$bin" "$shared"
