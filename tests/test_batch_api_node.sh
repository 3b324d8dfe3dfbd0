#!/usr/bin/env bash
# Integration test: the official `openai` npm client (tests/node) runs the
# Batch API flow against `ecoinfer route` with two `ecoinfer serve
# --fake-backend` nodes on loopback. Usage:
#   tests/test_batch_api_node.sh ECOINFER_BINARY [SHARED_DIR]
# Exit 77 (skip) when node/npm are missing or npm cannot reach the registry.
set -uo pipefail
bin="${1:?usage: $0 ECOINFER_BINARY [SHARED_DIR]}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
nodedir="$here/node"
. "$nodedir/ensure-openai.sh"
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
ports=()
for i in 0 1; do
  "$bin" serve --fake-backend --fake-rate 0 --port 0 --port-file "$work/ports$i" \
    --ledger "$work/ledger$i.db" --log-level warn 2>"$work/node$i.log" &
  pids+=($!)
  for _ in $(seq 1 400); do [[ -s "$work/ports$i" ]] && break; sleep 0.025; done
  [[ -s "$work/ports$i" ]] || { echo "node $i did not start"; cat "$work/node$i.log"; exit 1; }
  read -r p _ <"$work/ports$i"
  ports+=("$p")
done
cat >"$work/router.yaml" <<YAML
router:
  port: 0
  admin_port: -1
  batch_api: {db: "$work/batch.db", slot: 1h, request_time: 10ms, poll: 20ms, concurrency: 4}
zones: {FR: 50, PL: 800}
nodes:
  - {id: a, url: "http://127.0.0.1:${ports[0]}", zone: PL, max_batch: 4, kind: ecoinfer}
  - {id: b, url: "http://127.0.0.1:${ports[1]}", zone: FR, max_batch: 4, kind: ecoinfer}
YAML
"$bin" route --config "$work/router.yaml" --log-level warn >"$work/route.out" 2>"$work/route.log" &
rpid=$!
pids+=($rpid)
for _ in $(seq 1 400); do grep -q '127.0.0.1:' "$work/route.out" 2>/dev/null && break; sleep 0.025; done
rport="$(grep -o '127.0.0.1:[0-9]*' "$work/route.out" | head -1 | cut -d: -f2)"
[[ -n "$rport" ]] || { echo "router did not start"; cat "$work/route.log"; exit 1; }
ECOINFER_BASE_URL="http://127.0.0.1:$rport/v1" ECOINFER_MODEL=fake-model \
  timeout 60 node "$nodedir/batch_api.test.mjs"
rc=$?
kill -TERM "$rpid"; wait "$rpid"; src=$?
[[ $src -eq 0 ]] || { echo "router exited with $src after SIGTERM"; cat "$work/route.log"; rc=1; }
exit $rc
