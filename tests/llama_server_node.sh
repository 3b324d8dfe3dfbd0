#!/usr/bin/env bash
# A `kind: llama-cpp` router node in front of a real llama-server (built from
# the same llama.cpp bundle as scripts/build-llama-bench.sh), metered by a
# real `ecoinfer agent` reading a Jetson AGX Orin's INA3221 rails from a fake
# sysfs tree (`meter: jetson:gpu+cpu`), as on the two-board walk-through of
# docs/deploy.md. Checks:
#   - the router reads llama-server's own load: its 2 slots become the node's
#     max_batch, and requests running there show as the node's active batch
#     (from /metrics) while they run;
#   - llama-server's usage and timings reach the receipt
#     (router.measured.engine), non-streamed and streamed;
#   - the receipt is measured by exactly the GPU and CPU rails.
#   tests/llama_server_node.sh ECOINFER_BINARY SHARED_DIR
# SKIPs (exit 77, with the reason) without llama-server, the shared model,
# curl or jq. ECO_LLAMA_SERVER names another llama-server binary.
set -uo pipefail
bin="${1:?}"; shared="${2:-}"
server="${ECO_LLAMA_SERVER:-${HOME:-/root}/.cache/ecoinfer/llama.cpp/src/build/bin/llama-server}"
model="$shared/models/test-smollm2-2layer-q8_0.gguf"
command -v curl >/dev/null || { echo "SKIP: curl missing"; exit 77; }
command -v jq >/dev/null || { echo "SKIP: jq missing"; exit 77; }
[[ -x "$server" ]] || {
  echo "SKIP: llama-server not found at $server (scripts/build-llama-bench.sh builds it;" \
       "ECO_LLAMA_SERVER names another)"; exit 77; }
[[ -f "$model" ]] || { echo "SKIP: $model absent (../shared not laid out)"; exit 77; }
work="$(mktemp -d)"; pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$work"/*.log; do echo "--- $f"; tail -20 "$f"; done; exit 1; }

# llama-server: 2 slots, Prometheus metrics, any free port (it logs the one it bound)
"$server" -m "$model" --host 127.0.0.1 --port 0 -np 2 -c 2048 --metrics -t 1 \
  >"$work/llama.log" 2>&1 &
pids+=($!)
lport=""
for _ in $(seq 1 600); do
  lport="$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/llama.log" | head -1)"
  [[ -n "$lport" ]] && curl -sf "http://127.0.0.1:$lport/health" >/dev/null && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$lport/health" >/dev/null || fail "llama-server did not become ready"

# the agent on a fake Jetson AGX Orin: VDD_GPU_SOC 8 W, VDD_CPU_CV 2 W, VIN_SYS_5V0 3 W
put() { mkdir -p "$(dirname "$work/root/$1")"; printf '%s\n' "$2" >"$work/root/$1"; }
h=sys/class/hwmon/hwmon1
put $h/name ina3221
put $h/in1_label VDD_GPU_SOC; put $h/in1_input 5000; put $h/curr1_input 1600
put $h/in2_label VDD_CPU_CV;  put $h/in2_input 5000; put $h/curr2_input 400
put $h/in3_label VIN_SYS_5V0; put $h/in3_input 5000; put $h/curr3_input 600
"$bin" agent --port 0 --interval 0.05 --no-nvml --sysfs-root "$work/root" --json \
  >"$work/agent.out" 2>"$work/agent.log" &
pids+=($!)
for _ in $(seq 1 200); do grep -q listening "$work/agent.out" 2>/dev/null && break; sleep 0.05; done
agent="$(jq -r .listening "$work/agent.out" 2>/dev/null)"
[[ "$agent" == http://* ]] || fail "agent did not start"

cat >"$work/cluster.yaml" <<YAML
router:
  port: 0
  admin_port: 0
  policy: carbon
  health: {interval: 200ms, max_backoff: 1s, fail_threshold: 2}
zones: {SE: 40}
nodes:
  - id: orin
    url: http://127.0.0.1:$lport
    kind: llama-cpp
    device: jetson-agx-orin
    zone: SE
    max_batch: 8
    agent: $agent
    meter: jetson:gpu+cpu
YAML
"$bin" route --config "$work/cluster.yaml" --json --log-level info >"$work/route.out" \
  2>"$work/route.log" &
pids+=($!)
for _ in $(seq 1 200); do grep -q listening "$work/route.out" 2>/dev/null && break; sleep 0.05; done
rport="$(sed -n 's/.*"listening":"http:\/\/[0-9.]*:\([0-9]*\)".*/\1/p' "$work/route.out" | head -1)"
aport="$(jq -r .admin_port "$work/route.out" 2>/dev/null | head -1)"
[[ -n "$rport" && "$aport" =~ ^[0-9]+$ ]] || fail "router did not start: $(cat "$work/route.out")"
node() { curl -sf "http://127.0.0.1:$aport/admin/nodes" | jq -c '.nodes[] | select(.id == "orin")'; }

n=""
for _ in $(seq 1 100); do
  n="$(node)"
  echo "$n" | jq -e '.engine.fresh == true and .engine.slots == 2 and .meter.rails != "" and
    .meter.power_w != null' \
    >/dev/null 2>&1 && break
  sleep 0.1
done
echo "node: $(echo "$n" | jq -c '{health, max_batch, engine, meter}')"
echo "$n" | jq -e '.health == "up" and .max_batch == 2 and .engine.kind == "llama-cpp" and
  .engine.not_served == [] and .meter.rails == "VDD_GPU_SOC+VDD_CPU_CV" and .meter.covers_gpu' \
  >/dev/null || fail "llama-server's slots and the agent's rails not read: $n"

chat='{"model":"m","max_tokens":24,"messages":[{"role":"user","content":"Tell me a story"}]}'
r="$(curl -sf "http://127.0.0.1:$rport/v1/chat/completions" -H 'Content-Type: application/json' \
  -d "$chat")" || fail "chat through the router"
echo "receipt: $(echo "$r" | jq -c '.usage.carbon | {energy_j, energy_source, energy_rails,
  energy_estimated, method, engine: .router.measured.engine}')"
echo "$r" | jq -e '(.choices[0].message.content | length) > 0 and
  .usage.carbon.energy_source == "agent:ina3221" and
  .usage.carbon.energy_rails == "VDD_GPU_SOC+VDD_CPU_CV" and
  .usage.carbon.energy_estimated == false and .usage.carbon.energy_j > 0 and
  .usage.carbon.method == "sci-v1.0/router-agent" and
  .usage.carbon.router.measured.engine.kind == "llama-cpp" and
  .usage.carbon.router.measured.engine.prefill_s > 0 and
  .usage.carbon.router.measured.engine.decode_s > 0 and
  .usage.carbon.router.measured.engine.cached_tokens >= 0 and
  .usage.carbon.router.measured.prompt_tokens == .usage.prompt_tokens and
  .usage.carbon.router.measured.completion_tokens == .usage.completion_tokens' >/dev/null ||
  fail "receipt of a non-streamed answer: $r"

# streamed, with usage: the receipt rides in the usage chunk with llama.cpp's timings
s="$(curl -sfN "http://127.0.0.1:$rport/v1/chat/completions" -H 'Content-Type: application/json' \
  -d '{"model":"m","max_tokens":16,"stream":true,"stream_options":{"include_usage":true},
       "messages":[{"role":"user","content":"Tell me a story"}]}')" || fail "stream"
u="$(echo "$s" | sed -n 's/^data: //p' | grep -v '^\[DONE\]' | jq -c 'select(.usage != null)' | tail -1)"
echo "$u" | jq -e '.usage.carbon.router.measured.engine.decode_s > 0 and
  .usage.carbon.energy_rails == "VDD_GPU_SOC+VDD_CPU_CV"' >/dev/null ||
  fail "stream usage chunk: $u"
echo "$s" | tail -2 | grep -q '^data: \[DONE\]' || fail "stream did not end with [DONE]"

# load: three long requests on two slots; the router sees them run there
long='{"model":"m","max_tokens":300,"ignore_eos":true,"messages":[{"role":"user","content":"Go on"}]}'
for i in 1 2 3; do
  curl -s "http://127.0.0.1:$rport/v1/chat/completions" -H 'Content-Type: application/json' \
    -d "$long" >"$work/long$i.json" &
  pids+=($!)
done
seen_active=0; seen_queue=0
for _ in $(seq 1 100); do
  n="$(node)"
  a="$(echo "$n" | jq '.engine.active // 0')"; q="$(echo "$n" | jq '.engine.queue // 0')"
  (( a > seen_active )) && seen_active=$a
  (( q > seen_queue )) && seen_queue=$q
  (( seen_active >= 2 && seen_queue >= 1 )) && break
  sleep 0.1
done
echo "llama-server reported up to $seen_active running and $seen_queue deferred requests"
(( seen_active >= 1 )) || fail "the router never saw llama-server's running requests"
wait "${pids[@]: -3}" 2>/dev/null
for i in 1 2 3; do
  jq -e '.usage.completion_tokens == 300' "$work/long$i.json" >/dev/null ||
    fail "long request $i: $(head -c 300 "$work/long$i.json")"
done
echo "PASS: llama-cpp node: slots, load and timings read from a real llama-server"
