#!/usr/bin/env bash
# Issue 7's integration test: three real `ecoinfer serve` nodes (a real GGUF
# model through the batching engine) on loopback, each in its own zone with
# intensities replayed from real hourly traces, each with its own static
# device profile, behind `ecoinfer route`. Asserts each policy's choice (read
# from usage.carbon.router.node), SLO handling in slo-carbon, that the zone
# intensities move with the trace, and failover with zero failed client
# requests when a node is killed with SIGKILL while requests are in flight.
#   tests/cluster_real_nodes.sh ECOINFER_BINARY SHARED_DIR
#
# Nodes (profiles are static: router.alpha is tiny so the online EWMA barely
# moves them; energy per token is the same everywhere, no embodied carbon, so
# carbon order = zone intensity order):
#   slow  FR (~20-60 gCO2/kWh in Jan 2023)   overhead 1 s,    4 tok/s
#   mid   GB (~60-250)                        overhead 100 ms, 40 tok/s
#   fast  ZA (~550-700)                       overhead 5 ms,   400 tok/s
set -uo pipefail
bin="${1:?usage: $0 ECOINFER_BINARY SHARED_DIR}"; shared="${2:-}"
model="$shared/models/stories260K-f32.gguf"
tdir="$shared/data/carbon"
for f in "$model" "$tdir/FR_2023_hourly.csv" "$tdir/GB_2023_hourly.csv" "$tdir/ZA_2023_hourly.csv"; do
  [[ -f "$f" ]] || { echo "SKIP: $f absent"; exit 77; }
done
command -v curl >/dev/null || { echo "SKIP: curl missing"; exit 77; }
command -v jq >/dev/null || { echo "SKIP: jq missing"; exit 77; }

work="$(mktemp -d)"
declare -A npid nport
rpid=""
cleanup() {
  local p
  for p in "${npid[@]}" $rpid; do kill "$p" 2>/dev/null; done
  for p in "${npid[@]}" $rpid; do wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
pass=0; fail=0
ok() { echo "ok: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
dump_logs() { tail -n 20 "$work"/*.log 2>/dev/null; }

# Only these three zones' traces: a private directory of links.
mkdir -p "$work/traces"
for z in FR GB ZA; do ln -s "$tdir/${z}_2023_hourly.csv" "$work/traces/"; done

for n in slow mid fast; do
  "$bin" serve -m "$model" --port 0 --port-file "$work/$n.ports" --no-ledger --log-level warn \
    --model-name stories 2>"$work/$n.log" &
  npid[$n]=$!
done
for n in slow mid fast; do
  for _ in $(seq 1 300); do [[ -s "$work/$n.ports" ]] && break; sleep 0.05; done
  read -r p _ <"$work/$n.ports" || { echo "node $n did not start"; dump_logs; exit 1; }
  nport[$n]=$p
done

cat >"$work/cluster.yaml" <<YAML
router:
  port: 0
  admin_port: 0
  policy: round-robin
  alpha: 0.001
  attempts: 3
  health: {interval: 200ms, max_backoff: 1s, fail_threshold: 4}
  circuit: {failures: 2, cooldown: 30s}
carbon:
  trace: $work/traces
  speed: 3600
  refresh: 200ms
nodes:
  - id: slow
    url: http://127.0.0.1:${nport[slow]}
    kind: ecoinfer
    device: cpu-slow
    zone: FR
    max_batch: 4
    profile: {prefill_tps: 100, decode_tps: 4, j_per_token: 0.5, prefill_j_per_token: 0.05, overhead: 1s}
  - id: mid
    url: http://127.0.0.1:${nport[mid]}
    kind: ecoinfer
    device: cpu-mid
    zone: GB
    max_batch: 4
    profile: {prefill_tps: 1000, decode_tps: 40, j_per_token: 0.5, prefill_j_per_token: 0.05, overhead: 100ms}
  - id: fast
    url: http://127.0.0.1:${nport[fast]}
    kind: ecoinfer
    device: gpu-fast
    zone: ZA
    max_batch: 4
    profile: {prefill_tps: 10000, decode_tps: 400, j_per_token: 0.5, prefill_j_per_token: 0.05, overhead: 5ms}
YAML
"$bin" route --config "$work/cluster.yaml" --json >"$work/route.out" 2>"$work/route.log" &
rpid=$!
for _ in $(seq 1 200); do grep -q listening "$work/route.out" 2>/dev/null && break; sleep 0.05; done
rport="$(sed -n 's/.*"listening":"http:\/\/[0-9.]*:\([0-9]*\)".*/\1/p' "$work/route.out")"
[[ -n "$rport" ]] || { echo "router did not start"; cat "$work/route.out"; dump_logs; exit 1; }
base="http://127.0.0.1:$rport"

# Wait until the router sees all three nodes up.
for _ in $(seq 1 100); do
  curl -s "$base/health" | grep -q '"nodes_up":3' && break; sleep 0.1
done
curl -s "$base/health" | grep -q '"nodes_up":3' || { echo "nodes not up: $(curl -s "$base/health")"; dump_logs; exit 1; }

zone_int() { # zone -> intensity from /metrics
  curl -s "$base/metrics" |
    sed -n "s/^ecoinfer_router_zone_intensity_gco2_per_kwh{zone=\"$1\"} \(.*\)\$/\1/p"
}
for _ in $(seq 1 50); do
  fr0="$(zone_int FR)"; gb0="$(zone_int GB)"; za0="$(zone_int ZA)"
  [[ -n "$fr0" && -n "$gb0" && -n "$za0" ]] && break; sleep 0.1
done

body='{"model":"stories","prompt":"Once upon a time","max_tokens":8,"temperature":0}'
# ask POLICY [SLO_MS] -> prints "code node slo_fallback"
ask() {
  local h=(-H "content-type: application/json" -H "x-ecoinfer-policy: $1")
  [[ -n "${2:-}" ]] && h+=(-H "x-ecoinfer-slo-ms: $2")
  curl -s -m 20 -o "$work/ask.json" -w '%{http_code}' "${h[@]}" -d "$body" "$base/v1/completions" >"$work/ask.code"
  # Let the next /v1/node poll (every 200 ms) see the node idle: the router
  # keeps the larger of its own load count and the node's last report, and a
  # report taken mid-request would look like a batch to join.
  sleep 0.25
  local r
  r="$(jq -r '[.usage.carbon.router.node, (.usage.carbon.router.slo_fallback | tostring)] | join(" ")' \
    "$work/ask.json" 2>/dev/null)" || r="none none"
  echo "$(cat "$work/ask.code") $r"
}
expect() { # label want_node want_fallback got...
  local label="$1" node="$2" fb="$3"; shift 3
  if [[ "$1" == 200 && "$2" == "$node" && ( "$fb" == "-" || "$3" == "$fb" ) ]]; then
    ok "$label -> $2"
  else
    bad "$label: want 200 $node (fallback $fb), got $*"; cat "$work/ask.json"; echo
  fi
}

# Sanity: the trace ordering this test relies on holds right now.
if awk -v a="$fr0" -v b="$gb0" -v c="$za0" 'BEGIN{exit !(a!="" && b!="" && c!="" && a<b && b<c)}'; then
  ok "zone intensities FR $fr0 < GB $gb0 < ZA $za0 (gCO2/kWh, from the traces)"
else
  bad "unexpected intensities FR=$fr0 GB=$gb0 ZA=$za0"
fi

# Round-robin visits every node.
seen=""
for _ in 1 2 3; do read -r c n _ < <(ask round-robin); [[ $c == 200 ]] && seen+="$n "; done
if [[ $seen == *slow* && $seen == *mid* && $seen == *fast* ]]; then ok "round-robin -> $seen"
else bad "round-robin visited: $seen"; fi

for i in 1 2; do
  read -r -a r < <(ask carbon); expect "carbon #$i (least gCO2: FR)" slow - "${r[@]}"
  read -r -a r < <(ask latency); expect "latency #$i (fastest profile)" fast - "${r[@]}"
  read -r -a r < <(ask greedy); expect "greedy #$i (fastest hardware first)" fast - "${r[@]}"
done
# slo-carbon: a loose SLO lets the cleanest node serve; 500 ms rules out the
# slow node (1 s overhead) so the cleaner of the other two wins; 50 ms leaves
# only the fast node; 1 ms is met by none: the fastest, flagged as fallback.
read -r -a r < <(ask slo-carbon 60000); expect "slo-carbon slo 60s" slow false "${r[@]}"
read -r -a r < <(ask slo-carbon 500); expect "slo-carbon slo 500ms" mid false "${r[@]}"
read -r -a r < <(ask slo-carbon 50); expect "slo-carbon slo 50ms" fast false "${r[@]}"
read -r -a r < <(ask slo-carbon 1); expect "slo-carbon slo 1ms (none meets it)" fast true "${r[@]}"
# The default policy can be switched at run time through the admin API.
aport="$(sed -n 's/.*"admin_port":\([0-9]*\).*/\1/p' "$work/route.out")"
if [[ -n "$aport" ]] &&
  curl -s -f -X PUT -d '{"policy":"carbon"}' "http://127.0.0.1:$aport/admin/policy" >/dev/null; then
  curl -s -m 20 -o "$work/ask.json" -H "content-type: application/json" -d "$body" "$base/v1/completions"
  if jq -e '.usage.carbon.router | .policy == "carbon" and .node == "slow"' "$work/ask.json" >/dev/null; then
    ok "admin PUT /admin/policy carbon -> slow"
  else bad "admin policy switch: $(cat "$work/ask.json")"; fi
  curl -s -X PUT -d '{"policy":"round-robin"}' "http://127.0.0.1:$aport/admin/policy" >/dev/null
else
  bad "admin API not reachable (route.out: $(cat "$work/route.out"))"
fi
# Bad policy header: 400, not a crash.
c="$(curl -s -o /dev/null -w '%{http_code}' -H 'x-ecoinfer-policy: nope' -d "$body" "$base/v1/completions")"
if [[ $c == 400 ]]; then ok "unknown policy header -> 400"; else bad "unknown policy header -> $c"; fi

# Failover: round-robin load, SIGKILL the mid node during the run; every
# client request must still get 200. Health checks need four failures (>= 2 s)
# to mark the node down, so requests sent right after the kill do reach the
# dead node (connection refused, or dying mid-request) and must be retried.
fbody='{"model":"stories","prompt":"Once upon a time","max_tokens":48,"temperature":0}'
mkdir -p "$work/fo"
cpids=()
for i in $(seq 1 30); do
  curl -s -m 30 -o "$work/fo/$i.json" -w '%{http_code}\n' -H "content-type: application/json" \
    -H "x-ecoinfer-policy: round-robin" -d "$fbody" "$base/v1/completions" >"$work/fo/$i.code" &
  cpids+=($!)
  if [[ $i == 10 ]]; then kill -9 "${npid[mid]}"; wait "${npid[mid]}" 2>/dev/null; unset 'npid[mid]'; fi
  sleep 0.02
done
for p in "${cpids[@]}"; do wait "$p"; done
codes="$(cat "$work"/fo/*.code | tr -s ' ' | sort | uniq -c | tr '\n' ' ')"
n200="$(cat "$work"/fo/*.code | grep -c '^200$')"
if [[ $n200 == 30 ]]; then ok "failover: 30/30 requests answered 200 after SIGKILL of a node"
else bad "failover: codes $codes"; fi
# Every answer is a complete completion (complete JSON, usage and a carbon receipt).
if jq -e -s 'length == 30 and all(.[]; (.choices[0].text | type) == "string" and .usage.completion_tokens >= 1 and (.usage.carbon.router.node | type) == "string")' \
  "$work"/fo/*.json >/dev/null; then ok "failover answers are complete JSON completions with receipts"
else bad "failover answers incomplete"; fi
# Four failed checks, 0.2+0.4+0.8+1 s apart (backoff), mark it down: until then
# round-robin keeps choosing it and the router must retry elsewhere.
for _ in $(seq 1 100); do
  curl -s "$base/metrics" | grep -q '^ecoinfer_router_node_up{node="mid"[^}]*} 0' && break; sleep 0.1
done
retries="$(curl -s "$base/metrics" | sed -n 's/^ecoinfer_router_retries_total \(.*\)$/\1/p')"
up_mid="$(curl -s "$base/metrics" | sed -n 's/^ecoinfer_router_node_up{node="mid"[^}]*} \(.*\)$/\1/p')"
echo "router retries_total=$retries node_up{mid}=$up_mid"
if awk -v r="$retries" 'BEGIN{exit !(r >= 1)}'; then ok "failover exercised: $retries retried request(s)"
else bad "no request was retried (retries_total=$retries)"; fi
if [[ "$up_mid" == 0 ]]; then ok "killed node marked down"; else bad "killed node up=$up_mid"; fi
# After the kill, requests keep working and avoid the dead node.
read -r -a r < <(ask slo-carbon 500)
expect "slo-carbon slo 500ms with mid dead -> fast" fast false "${r[@]}"

# Intensities follow the trace (1 trace hour per second).
fr1="$(zone_int FR)"
if [[ -n "$fr1" && "$fr1" != "$fr0" ]]; then ok "FR intensity moved with the trace: $fr0 -> $fr1"
else bad "FR intensity did not move: $fr0 -> $fr1"; fi

echo "$pass passed, $fail failed"
[[ $fail == 0 ]] || { dump_logs; exit 1; }
