#!/usr/bin/env bash
# The main job, run by `make demo`. Until the engine, server and router land
# it inspects the host; later issues extend it (see README).
set -euo pipefail
BIN=${1:-build/ecoinfer}
echo "== ecoinfer doctor =="
"$BIN" doctor
