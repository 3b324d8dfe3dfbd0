#!/usr/bin/env bash
# Integration test: drives `ecoinfer serve` on a loopback port with the
# official `openai` npm package (tests/node). Usage:
#   tests/test_server_node.sh ECOINFER_BINARY [SHARED_DIR]
# SERVE_ARGS overrides how the server is started (default: the scripted
# fake backend); ECOINFER_MODEL names the model id the client asks for.
# Exit 77 (skip) when node/npm are missing or npm cannot reach the registry.
set -uo pipefail
bin="${1:?usage: $0 ECOINFER_BINARY [SHARED_DIR]}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
nodedir="$here/node"
. "$nodedir/ensure-openai.sh"
work="$(mktemp -d)"
pid=""
cleanup() { [[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
key="sk-test-$$"
model="${ECOINFER_MODEL:-fake-model}"
read -r -a args <<<"${SERVE_ARGS:---fake-backend --fake-rate 500}"
ECOINFER_SERVER_API_KEY="$key" "$bin" serve "${args[@]}" --port 0 --port-file "$work/ports" --ledger "$work/receipts.db" \
  --log-level warn 2>"$work/server.log" &
pid=$!
for _ in $(seq 1 600); do [[ -s "$work/ports" ]] && break; sleep 0.05; done
[[ -s "$work/ports" ]] || { echo "server did not start"; cat "$work/server.log"; exit 1; }
read -r port _ <"$work/ports"
fake=0; [[ "${args[*]}" == *--fake-backend* ]] && fake=1
ECOINFER_BASE_URL="http://127.0.0.1:$port/v1" ECOINFER_API_KEY="$key" ECOINFER_MODEL="$model" \
  ECOINFER_FAKE="$fake" node "$nodedir/openai_client.test.mjs"
rc=$?
kill -TERM "$pid"; wait "$pid"; src=$?; pid=""
[[ $src -eq 0 ]] || { echo "server exited with $src after SIGTERM"; cat "$work/server.log"; rc=1; }
exit $rc
