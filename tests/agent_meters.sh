#!/usr/bin/env bash
# `ecoinfer agent` serves every meter of a host: here a fake sysfs tree with
# a Jetson AGX Orin's INA3221 rails (mainline hwmon layout) and RAPL, and
# two NVIDIA GPUs from the fake libnvidia-ml.so.1 (tests/fakes/fake_nvml.c)
# that the agent dlopens by its production name through LD_LIBRARY_PATH.
#   tests/agent_meters.sh ECOINFER_BINARY [SHARED_DIR]
# ctest sets ECO_FAKE_NVML_DIR (the fake library's directory).
set -uo pipefail
bin="${1:?}"
command -v curl >/dev/null || { echo "SKIP: curl missing"; exit 77; }
command -v jq >/dev/null || { echo "SKIP: jq missing"; exit 77; }
[[ -n "${ECO_FAKE_NVML_DIR:-}" && -e "$ECO_FAKE_NVML_DIR/libnvidia-ml.so.1" ]] || {
  echo "SKIP: ECO_FAKE_NVML_DIR does not hold the fake libnvidia-ml.so.1 (run through ctest)"
  exit 77; }
work="$(mktemp -d)"; pid=""
cleanup() { [[ -n "$pid" ]] && { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; cat "$work/agent.log" 2>/dev/null; exit 1; }
put() { mkdir -p "$(dirname "$work/root/$1")"; printf '%s\n' "$2" >"$work/root/$1"; }
h=sys/class/hwmon/hwmon1
put $h/name ina3221
put $h/in1_label VDD_GPU_SOC; put $h/in1_input 5000; put $h/curr1_input 1600
put $h/in2_label VDD_CPU_CV;  put $h/in2_input 5000; put $h/curr2_input 400
put $h/in3_label VIN_SYS_5V0; put $h/in3_input 5000; put $h/curr3_input 600
put sys/class/powercap/intel-rapl:0/name package-0
put sys/class/powercap/intel-rapl:0/energy_uj 1000000
state="$work/nvml.state"
printf 'count=2\n0.name=NVIDIA RTX 2000 Ada Generation\n0.energy_mj=1000\n0.power_mw=40000\n0.procs=4242:1073741824\n0.util=4242:70:1\n1.power_mw=30000\n' >"$state"

ECO_FAKE_NVML="$state" LD_LIBRARY_PATH="$ECO_FAKE_NVML_DIR" \
  "$bin" agent --port 0 --interval 0.05 --sysfs-root "$work/root" --json >"$work/agent.out" \
  2>"$work/agent.log" &
pid=$!
for _ in $(seq 1 200); do grep -q listening "$work/agent.out" 2>/dev/null && break; sleep 0.05; done
url="$(jq -r .listening "$work/agent.out" 2>/dev/null)"
[[ "$url" == http://* ]] || fail "agent did not start"
jq -e '.meter == "ina3221" and .estimated == false' "$work/agent.out" >/dev/null ||
  fail "host meter: $(cat "$work/agent.out")"
# the energy counter moves: 2.5 J more on GPU 0, sampled by the agent's threads
sleep 0.3
sed -i 's/0.energy_mj=1000/0.energy_mj=3500/; s/4242:70:1/4242:70:1,4242:80:2/' "$state"
sleep 0.5
doc="$(curl -sf "$url/v1/meters")" || fail "GET /v1/meters"
echo "$doc" | jq -c '.meters[] | {id, source, joules, covers}'
ids="$(echo "$doc" | jq -r '[.meters[].id] | join(",")')"
[[ "$ids" == "ina3221,jetson:VDD_GPU_SOC,jetson:VDD_CPU_CV,jetson:VIN_SYS_5V0,rapl,nvml:0,nvml:1" ]] ||
  fail "meter ids: $ids"
echo "$doc" | jq -e '.meters[0].host == true and ([.meters[] | select(.host)] | length) == 1' \
  >/dev/null || fail "exactly one host meter"
echo "$doc" | jq -e '.meters[] | select(.id == "jetson:VDD_GPU_SOC") |
  .covers == ["gpu","soc"] and .power_w == 8 and .joules > 0' >/dev/null || fail "VDD_GPU_SOC rail"
echo "$doc" | jq -e '.meters[] | select(.id == "nvml:0") |
  .joules == 2.5 and .covers == ["gpu"] and .estimated == false and
  (.detail | test("RTX 2000 Ada")) and .processes[0].pid == 4242 and
  .processes[0].used_memory_bytes == 1073741824 and .processes[0].joules == 2.5' >/dev/null ||
  fail "nvml:0 and its process: $(echo "$doc" | jq -c '.meters[] | select(.id == "nvml:0")')"
echo "$doc" | jq -e '.meters[] | select(.id == "nvml:1") | (.detail | test("power$")) and .joules > 0' \
  >/dev/null || fail "nvml:1 integrates power"
echo "$doc" | jq -e '.total_j == .meters[0].joules' >/dev/null || fail "total_j is the host meter's"
curl -sf "$url/health" | jq -e '.status == "ok"' >/dev/null || fail "/health"
# without NVML (--no-nvml) the host meters remain
kill "$pid"; wait "$pid" 2>/dev/null; pid=""
LD_LIBRARY_PATH="$ECO_FAKE_NVML_DIR" "$bin" agent --port 0 --no-nvml --sysfs-root "$work/root" \
  --json >"$work/agent2.out" 2>"$work/agent.log" &
pid=$!
for _ in $(seq 1 200); do grep -q listening "$work/agent2.out" 2>/dev/null && break; sleep 0.05; done
url="$(jq -r .listening "$work/agent2.out" 2>/dev/null)"
[[ "$url" == http://* ]] || fail "agent --no-nvml did not start"
curl -sf "$url/v1/meters" | jq -e '[.meters[].id | select(startswith("nvml"))] | length == 0' \
  >/dev/null || fail "--no-nvml still serves GPUs"
echo "PASS: agent serves rails, RAPL and NVML GPUs with their processes"
