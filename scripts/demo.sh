#!/usr/bin/env bash
# `make demo`: a two-node carbon-aware cluster on loopback.
#
#   scripts/demo.sh [ECOINFER_BINARY]
#
# 1. runs `ecoinfer doctor`;
# 2. finds a model: $ECOINFER_MODEL, else the first GGUF in the model directory
#    (models.dir / $ECOINFER_MODEL_DIR, default ~/.local/share/ecoinfer/models),
#    else `ecoinfer pull`s a small instruct model ($ECOINFER_DEMO_PULL);
# 3. starts two `ecoinfer serve` nodes in two grid zones (declared as a Jetson
#    Orin NX and an RTX 2000 Ada through static router profiles; both run on
#    this host) and `ecoinfer route` in front of them, on ephemeral ports;
# 4. drives the zones' intensities from real hourly traces replayed at one
#    trace hour per second ($ECOINFER_TRACE_DIR, default ../shared/data/carbon
#    beside the checkout; set but empty = none), or a live provider you configured
#    ($ECOINFER_CARBON_PROVIDER plus its credentials, see docs/accounting.md),
#    or else the static per-zone table;
# 5. sends a short prompt workload in rounds, one request per policy per round
#    (x-ecoinfer-policy header), so all policies see the same grid state, and
#    prints a per-round choice line and a table per policy.
#
# Knobs: ECOINFER_DEMO_ZONES ("US-CAL-CISO US-TEX-ERCO"), ECOINFER_DEMO_ROUNDS (12),
# ECOINFER_DEMO_MAX_TOKENS (24), ECOINFER_DEMO_SLO_MS (1500), ECOINFER_DEMO_START
# (trace time at start-up, 2023-01-01T00:00:00Z), ECOINFER_DEMO_KEEP=1 keeps the work
# directory (configs, logs, every receipt's router object).
set -euo pipefail
BIN=${1:-build/ecoinfer}
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

echo "== ecoinfer doctor =="
"$BIN" doctor

for t in curl jq; do
  command -v "$t" >/dev/null || { echo "demo: '$t' is required (scripts/install-deps.sh installs it)" >&2; exit 1; }
done

# --- the model --------------------------------------------------------------
PULL_REF=${ECOINFER_DEMO_PULL:-HuggingFaceTB/SmolLM2-135M-Instruct-GGUF/smollm2-135m-instruct-q8_0.gguf}
# The model directory as ecoinfer resolves it (models.dir in $ECOINFER_CONFIG,
# ECOINFER_MODEL_DIR, XDG default).
model_dir="$("$BIN" doctor --json 2>/dev/null | jq -r '.models.dir // empty' 2>/dev/null || true)"
[[ -n "$model_dir" ]] || model_dir=${ECOINFER_MODEL_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/ecoinfer/models}
model=${ECOINFER_MODEL:-}
if [[ -n "$model" && ! -f "$model" ]]; then
  echo "demo: ECOINFER_MODEL=$model is not a file" >&2; exit 1
fi
if [[ -z "$model" && -d "$model_dir" ]]; then
  # Prefer an instruct/chat model; any GGUF otherwise.
  model="$(find "$model_dir" -maxdepth 1 -name '*.gguf' | grep -iE 'instruct|chat' | sort | head -n 1 || true)"
  [[ -n "$model" ]] || model="$(find "$model_dir" -maxdepth 1 -name '*.gguf' | sort | head -n 1 || true)"
fi
shared_model="$ROOT/../shared/models/test-smollm2-2layer-q8_0.gguf"
if [[ -z "$model" && "${CI:-}" == true && -f "$shared_model" ]]; then
  # CI has no network but has the shared data beside the checkout.
  model="$(cd "$(dirname "$shared_model")" && pwd)/${shared_model##*/}"
  echo "== CI: no model configured, using the shared test model (random weights: the text is noise) =="
fi
if [[ -z "$model" ]]; then
  echo "== no model in \$ECOINFER_MODEL or $model_dir: ecoinfer pull $PULL_REF =="
  if "$BIN" pull --model-dir "$model_dir" --no-progress "$PULL_REF"; then
    model="$model_dir/${PULL_REF##*/}"
  else
    cat >&2 <<EOF

demo: could not download $PULL_REF (no network?).
Point the demo at any GGUF chat/instruct model instead, for example:

    ECOINFER_MODEL=/path/to/smollm2-135m-instruct-q8_0.gguf make demo
EOF
    [[ -f "$shared_model" ]] &&
      echo "    ECOINFER_MODEL=$(cd "$(dirname "$shared_model")" && pwd)/${shared_model##*/} make demo   # the dev checkout's test model" >&2
    echo "or put a .gguf file into $model_dir (or set ECOINFER_MODEL_DIR)." >&2
    exit 1
  fi
fi
echo "== model: $model =="

# --- carbon signals ------------------------------------------------------------
read -r -a zones <<<"${ECOINFER_DEMO_ZONES:-US-CAL-CISO US-TEX-ERCO}"
[[ ${#zones[@]} -ge 2 ]] || { echo "demo: ECOINFER_DEMO_ZONES needs two zones" >&2; exit 1; }
za=${zones[0]}; zb=${zones[1]}
start=${ECOINFER_DEMO_START:-2023-01-01T00:00:00Z}
trace_dir=${ECOINFER_TRACE_DIR:-}
# ECOINFER_TRACE_DIR set but empty: no traces (live provider or static table).
if [[ -z "${ECOINFER_TRACE_DIR+set}" && -z "${ECOINFER_CARBON_PROVIDER:-}" &&
  -d "$ROOT/../shared/data/carbon" ]]; then
  trace_dir="$(cd "$ROOT/../shared/data/carbon" && pwd)"
fi
mode=static
if [[ -n "$trace_dir" ]]; then
  [[ -d "$trace_dir" || -f "$trace_dir" ]] || { echo "demo: ECOINFER_TRACE_DIR=$trace_dir does not exist" >&2; exit 1; }
  mode=trace
elif [[ -n "${ECOINFER_CARBON_PROVIDER:-}" && "${ECOINFER_CARBON_PROVIDER}" != static ]]; then
  mode=live
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/ecoinfer-demo.XXXXXX")"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ -n "${ECOINFER_DEMO_KEEP:-}" ]]; then echo "demo: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

carbon_block() { # $1 = zone (node) or "" (router)
  case $mode in
    trace)
      printf 'carbon:\n  provider: trace\n'
      [[ -n "$1" ]] && printf '  zone: %s\n' "$1"
      printf '  trace: {path: "%s", start: %s, speed: 3600, loop: true}\n' "$trace_dir" "$start" ;;
    live)
      [[ -n "$1" ]] && printf 'carbon:\n  zone: %s\n' "$1" ;;
    static)
      printf 'carbon:\n  provider: static\n'
      [[ -n "$1" ]] && printf '  zone: %s\n' "$1"
      printf '  static: {zones: {%s: 230, %s: 390}}\n' "$za" "$zb" ;;
  esac
  return 0
}
case $mode in
  trace) echo "== carbon: hourly traces from $trace_dir, replayed from $start at 1 trace hour per second ==" ;;
  live) echo "== carbon: live provider '$ECOINFER_CARBON_PROVIDER' (from your environment) ==" ;;
  static) echo "== carbon: no trace directory (ECOINFER_TRACE_DIR) and no live provider" \
    "(ECOINFER_CARBON_PROVIDER): using the static per-zone table ($za 230, $zb 390 gCO2/kWh); intensities will not move ==" ;;
esac
# In trace/static mode the file decides: an exported provider would override it.
[[ $mode == live ]] || unset ECOINFER_CARBON_PROVIDER

# --- the nodes ---------------------------------------------------------------
start_node() { # name zone
  { carbon_block "$2"
    printf 'server:\n  threads: 1\n  max_batch: 4\n  context_length: 1024\n'
  } >"$work/$1.yaml"
  "$BIN" serve -c "$work/$1.yaml" -m "$model" --model-name demo --port 0 \
    --port-file "$work/$1.ports" --no-ledger --log-level warn 2>"$work/$1.log" &
  pids+=($!)
}
wait_ports() { # name -> public port
  local p _
  for _ in $(seq 1 600); do [[ -s "$work/$1.ports" ]] && break; sleep 0.05; done
  read -r p _ <"$work/$1.ports" 2>/dev/null || { echo "demo: node $1 did not start:" >&2; cat "$work/$1.log" >&2; exit 1; }
  echo "$p"
}
start_node orin "$za"
start_node ada "$zb"
porin="$(wait_ports orin)"; pada="$(wait_ports ada)"
echo "== nodes: orin ($za) on 127.0.0.1:$porin, ada ($zb) on 127.0.0.1:$pada =="

# --- the router --------------------------------------------------------------
{
  cat <<YAML
router:
  port: 0
  admin_port: 0
  policy: round-robin
  alpha: 0.001           # both nodes run on this host: keep the declared hardware profiles
  health: {interval: 100ms, max_backoff: 2s, fail_threshold: 2}
YAML
  carbon_block ""
  [[ $mode == trace ]] && printf '  refresh: 250ms\n'
  cat <<YAML
nodes:
  - id: orin
    url: http://127.0.0.1:$porin
    kind: ecoinfer
    device: jetson-orin-nx-8gb
    zone: $za
    max_batch: 4
    profile: {prefill_tps: 400, decode_tps: 20, j_per_token: 0.5, overhead: 20ms}
  - id: ada
    url: http://127.0.0.1:$pada
    kind: ecoinfer
    device: rtx-2000-ada-16gb
    zone: $zb
    max_batch: 4
    profile: {prefill_tps: 4000, decode_tps: 80, j_per_token: 0.6, overhead: 10ms}
YAML
} >"$work/cluster.yaml"
"$BIN" route --config "$work/cluster.yaml" --json >"$work/route.out" 2>"$work/route.log" &
pids+=($!)
for _ in $(seq 1 200); do grep -q listening "$work/route.out" 2>/dev/null && break; sleep 0.05; done
rport="$(sed -n 's/.*"listening":"http:\/\/[0-9.]*:\([0-9]*\)".*/\1/p' "$work/route.out")"
aport="$(sed -n 's/.*"admin_port":\([0-9]*\).*/\1/p' "$work/route.out")"
[[ -n "$rport" ]] || { echo "demo: the router did not start:" >&2; cat "$work/route.log" >&2; exit 1; }
base="http://127.0.0.1:$rport"
for _ in $(seq 1 100); do curl -s "$base/health" | grep -q '"nodes_up":2' && break; sleep 0.1; done
curl -s "$base/health" | grep -q '"nodes_up":2' || { echo "demo: nodes not up" >&2; cat "$work/route.log" >&2; exit 1; }
echo "== router on $base (admin 127.0.0.1:$aport); config: $work/cluster.yaml =="
echo "   orin: declared 20 tok/s, 0.5 J/token; ada: declared 80 tok/s, 0.6 J/token"

# --- the workload ------------------------------------------------------------
policies=(round-robin greedy carbon latency slo-carbon)
rounds=${ECOINFER_DEMO_ROUNDS:-12}
max_tokens=${ECOINFER_DEMO_MAX_TOKENS:-24}
slo_ms=${ECOINFER_DEMO_SLO_MS:-1500}
prompts=("Why is the sky blue?" "Write a haiku about wind power." "What is a carbon intensity?"
  "Name three renewable energy sources." "Explain batching in one sentence." "What is 17 times 3?")
intensity() {
  curl -s "$base/metrics" | sed -n "s/^ecoinfer_router_zone_intensity_gco2_per_kwh{zone=\"$1\"} \(.*\)\$/\1/p"
}
ask() { # policy prompt -> appends "code node zone total_g energy_j latency_s" to $work/$policy.tsv
  local pol=$1 body out
  body="$(jq -cn --arg p "$2" --argjson m "$max_tokens" \
    '{model:"demo",messages:[{role:"user",content:$p}],max_tokens:$m,temperature:0}')"
  out="$(curl -s -m 60 -o "$work/resp.json" -w '%{http_code} %{time_total}' \
    -H 'content-type: application/json' -H "x-ecoinfer-policy: $pol" -H "x-ecoinfer-slo-ms: $slo_ms" \
    -d "$body" "$base/v1/chat/completions" || echo "000 0")"
  local code=${out% *} t=${out#* }
  if [[ $code == 200 ]]; then
    jq -r --arg c "$code" --arg t "$t" \
      '.usage.carbon as $u | [$c, $u.router.node, $u.router.zone, ($u.total_g // 0), ($u.energy_j // 0), $t,
        ($u.router.predicted.total_g // 0)] | join(" ")' \
      "$work/resp.json" >>"$work/$pol.tsv"
    jq -c '.usage.carbon.router' "$work/resp.json" >>"$work/$pol.receipts.jsonl"
  else
    echo "$code - - 0 0 $t 0" >>"$work/$pol.tsv"
  fi
}
echo
echo "== workload: $rounds rounds x ${#policies[@]} policies, $max_tokens tokens each, slo-carbon SLO ${slo_ms} ms =="
printf '%-6s %10s %10s   %s\n' round "$za" "$zb" "node chosen per policy (${policies[*]})"
t0=$SECONDS
for r in $(seq 1 "$rounds"); do
  ia="$(intensity "$za")"; ib="$(intensity "$zb")"
  line=""
  for pol in "${policies[@]}"; do
    ask "$pol" "${prompts[$((r % ${#prompts[@]}))]}"
    line+="$(tail -n 1 "$work/$pol.tsv" | cut -d' ' -f2) "
    # Let the router's /v1/node poll (every 100 ms) see the node idle again:
    # a stale "batch active" would look like a batch to join.
    sleep 0.15
  done
  printf '%-6s %10s %10s   %s\n' "$r" "${ia:-?}" "${ib:-?}" "$line"
done

# The admin API switches the default policy at run time (no header needed).
if [[ -n "$aport" ]] && curl -s -f -X PUT -d '{"policy":"carbon"}' "http://127.0.0.1:$aport/admin/policy" >/dev/null; then
  node="$(curl -s -H 'content-type: application/json' \
    -d '{"model":"demo","messages":[{"role":"user","content":"Hi"}],"max_tokens":4}' \
    "$base/v1/chat/completions" | jq -r '.usage.carbon.router | "\(.policy) -> \(.node) (\(.zone))"')"
  echo "admin API: PUT /admin/policy {\"policy\":\"carbon\"}; a request without header went $node"
fi

echo
echo "== per policy (each policy saw the same rounds; carbon and energy from the nodes' receipts) =="
printf '%-12s %4s %4s %10s %10s %12s %9s %8s   %s\n' policy reqs ok "carbon(g)" "energy(J)" "predicted(g)" "mean(ms)" "p95(ms)" "served by"
for pol in "${policies[@]}"; do
  f="$work/$pol.tsv"
  n=$(wc -l <"$f"); okn=$(awk '$1==200' "$f" | wc -l)
  read -r g j pg mean <<<"$(awk '{g+=$4; j+=$5; t+=$6; p+=$7} END{printf "%.6f %.1f %.6f %.0f", g, j, p, (NR?t/NR*1000:0)}' "$f")"
  p95="$(awk '{print $6*1000}' "$f" | sort -n | awk '{a[NR]=$1} END{i=int(0.95*NR+0.999); if(i<1)i=1; printf "%.0f", a[i]}')"
  served="$(awk '$1==200{c[$2" ("$3")"]++} END{for(k in c) printf "%s x%d, ", k, c[k]}' "$f" | sed 's/, $//')"
  printf '%-12s %4d %4d %10s %10s %12s %9s %8s   %s\n' "$pol" "$n" "$okn" "$g" "$j" "$pg" "$mean" "$p95" "$served"
done
echo
awk -v rr="$(awk '{g+=$4} END{print g}' "$work/round-robin.tsv")" \
  -v c="$(awk '{g+=$4} END{print g}' "$work/carbon.tsv")" \
  -v s="$(awk '{g+=$4} END{print g}' "$work/slo-carbon.tsv")" \
  'BEGIN{if (rr > 0) printf "carbon vs round-robin: %+.0f%%; slo-carbon vs round-robin: %+.0f%%\n", (c/rr-1)*100, (s/rr-1)*100}'
echo "carbon/energy: measured by the nodes (both run on this host, so energy differs only by load);"
echo "predicted(g): the router's prediction from the declared Orin/Ada profiles, what the policies minimise."
echo "Workload took $((SECONDS - t0)) s (ECOINFER_DEMO_KEEP=1 keeps configs, logs and receipts)."
fails=$(cat "$work"/*.tsv | awk '$1!=200' | wc -l)
[[ $fails == 0 ]] || { echo "demo: $fails request(s) failed; router log:" >&2; tail -n 20 "$work/route.log" >&2; exit 1; }
