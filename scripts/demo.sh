#!/usr/bin/env bash
# `make demo`: every carbon lever of ecoinfer on a two-node cluster on loopback.
#
#   scripts/demo.sh [ECOINFER_BINARY]
#
# 1. runs `ecoinfer doctor`;
# 2. finds a model: $ECOINFER_MODEL, else the first GGUF in the model directory
#    (models.dir / $ECOINFER_MODEL_DIR, default ~/.local/share/ecoinfer/models),
#    else `ecoinfer pull`s SmolLM2-135M-Instruct ($ECOINFER_DEMO_PULL), else (no
#    network) writes a random-weight model of SmolLM2-135M's shapes with
#    `ecoinfer bench synth`: its text is gibberish, the carbon mechanics are real;
# 3. starts two `ecoinfer serve` nodes in two grid zones (declared as a Jetson
#    Orin NX and an RTX 2000 Ada through static router profiles; both run on
#    this host) and `ecoinfer route` in front of them, on ephemeral ports, all
#    three appending to one ledger; prints the dashboard's URL;
# 4. drives the zones' intensities from real hourly traces replayed at one
#    trace hour per second ($ECOINFER_TRACE_DIR, default ../shared/data/carbon
#    beside the checkout, read in place; set but empty = none), or a live
#    provider you configured ($ECOINFER_CARBON_PROVIDER plus its credentials,
#    see docs/accounting.md), or else the static per-zone table;
# 5. runs each lever in turn:
#    routing     rounds of one request per policy (x-ecoinfer-policy), with
#                directives off, so all policies see the same grid state;
#    directives  requests under the router's directive plan, each printed with
#                the level chosen and why (the prompt classifier's group and the
#                hour's plan when a classifier can be trained from
#                ../shared/data/sprout, else Sprout's LP plan);
#    batching    concurrent requests that share the nodes' batches;
#    shifting    a Batch API job that the planner defers to the cleanest slots;
# 6. ends with `ecoinfer report` over the ledger: carbon by kind, policy and
#    directive level, and one table of carbon per request by lever (routing,
#    directives, shifting) against greedy routing with no directives.
#
# Knobs: ECOINFER_DEMO_ZONES ("US-CAL-CISO US-TEX-ERCO"), ECOINFER_DEMO_ROUNDS (6),
# ECOINFER_DEMO_MAX_TOKENS (24), ECOINFER_DEMO_SLO_MS (1500), ECOINFER_DEMO_START
# (trace time at start-up, 2023-01-01T00:00:00Z), ECOINFER_DEMO_OFFLINE=1 (no pull:
# the synthetic model unless one is configured), ECOINFER_DEMO_KEEP=1 keeps the work
# directory (configs, logs, the ledger, every receipt's router object).
set -euo pipefail
BIN=${1:-build/ecoinfer}
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED=${ECOINFER_SHARED_DIR:-$ROOT/../shared} # traces and Sprout prompts, read in place

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
synthetic=
if [[ -n "$model" && ! -f "$model" ]]; then
  echo "demo: ECOINFER_MODEL=$model is not a file" >&2; exit 1
fi
if [[ -z "$model" && -d "$model_dir" ]]; then
  # Prefer an instruct/chat model; any GGUF otherwise.
  model="$(find "$model_dir" -maxdepth 1 -name '*.gguf' | grep -iE 'instruct|chat' | sort | head -n 1 || true)"
  [[ -n "$model" ]] || model="$(find "$model_dir" -maxdepth 1 -name '*.gguf' | sort | head -n 1 || true)"
fi
if [[ -z "$model" && -z "${ECOINFER_DEMO_OFFLINE:-}" ]]; then
  echo "== no model in \$ECOINFER_MODEL or $model_dir: ecoinfer pull $PULL_REF =="
  if timeout 900 "$BIN" pull --model-dir "$model_dir" --no-progress "$PULL_REF"; then
    model="$model_dir/${PULL_REF##*/}"
  else
    echo "== the pull failed (no network?) =="
  fi
fi
if [[ -z "$model" ]]; then
  cache=${XDG_CACHE_HOME:-$HOME/.cache}/ecoinfer
  model="$cache/demo-synth-smollm2-135m-q8_0.gguf"
  mkdir -p "$cache"
  [[ -f "$model" ]] || "$BIN" bench synth --shape smollm2-135m --type q8_0 --seed 1 -o "$model" >/dev/null
  synthetic=1
  cat <<EOF
== no model could be pulled: using a random-weight model of SmolLM2-135M's shapes, written by
   \`ecoinfer bench synth\` ($model).
   Its text is GIBBERISH. The carbon mechanics are real: measured or modelled energy, grid
   intensity, routing, directives, batching, deferral and the ledger all work as with a real
   model. Its answers do not get shorter under a directive, so the directive lever saves
   nothing here (with a real instruct model they do). Set ECOINFER_MODEL to a GGUF to use one. ==
EOF
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
  -d "$SHARED/data/carbon" ]]; then
  trace_dir="$(cd "$SHARED/data/carbon" && pwd)"
fi
mode=static
if [[ -n "$trace_dir" ]]; then
  [[ -d "$trace_dir" || -f "$trace_dir" ]] || { echo "demo: ECOINFER_TRACE_DIR=$trace_dir does not exist" >&2; exit 1; }
  mode=trace
elif [[ -n "${ECOINFER_CARBON_PROVIDER:-}" && "${ECOINFER_CARBON_PROVIDER}" != static ]]; then
  mode=live
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/ecoinfer-demo.XXXXXX")"
ledger="$work/ledger.db"
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

# --- directives: the prompt classifier when labelled prompts are at hand ------
sprout="$SHARED/data/sprout"
if [[ -d "$sprout" ]] && "$BIN" directive train --sprout "$sprout" -o "$work/directive.model" \
  --epochs 4 --inner-folds 0 --log-level warn >"$work/train.log" 2>&1; then
  dplan="  plan: live\n  model: \"$work/directive.model\"\n"
  echo "== directives: the prompt classifier trained on the Sprout prompts ($sprout, read in place):" \
    "each request's level from its text and the hour's plan (plan: live) =="
else
  dplan="  plan: lp\n"
  echo "== directives: no labelled prompts (../shared/data/sprout) to train the prompt classifier:" \
    "Sprout's LP plan (plan: lp), one level mix for every request at the zone's intensity =="
fi

# --- the nodes ---------------------------------------------------------------
start_node() { # name zone
  { carbon_block "$2"
    printf 'server:\n  threads: 1\n  max_batch: 4\n  context_length: 1024\n'
    printf 'directive: {enabled: true}\n'
    printf 'ledger: {path: "%s"}\n' "$ledger"
  } >"$work/$1.yaml"
  "$BIN" serve -c "$work/$1.yaml" -m "$model" --model-name demo --port 0 \
    --port-file "$work/$1.ports" --log-level warn 2>"$work/$1.log" &
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
  policy: carbon
  alpha: 0.001           # both nodes run on this host: keep the declared hardware profiles
  health: {interval: 100ms, max_backoff: 2s, fail_threshold: 2}
  batch: {max: 4, window: 30ms}   # router-side batching: requests within 30 ms go out together
  batch_api: {db: "$work/batch.db", slot: 4s, request_time: 2s, poll: 100ms, concurrency: 2,
              energy_j: 20}
ledger: {path: "$ledger"}
YAML
  carbon_block ""
  [[ $mode == trace ]] && printf '  refresh: 250ms\n'
  printf 'directive:\n%b  zone: %s\n  seed: 7\n' "$dplan" "$za"
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
echo "== router on $base (admin 127.0.0.1:$aport); config: $work/cluster.yaml; ledger: $ledger =="
echo "   orin: declared 20 tok/s, 0.5 J/token; ada: declared 80 tok/s, 0.6 J/token"
echo
echo "== dashboard (live while the demo runs): $base/dashboard =="

max_tokens=${ECOINFER_DEMO_MAX_TOKENS:-24}
slo_ms=${ECOINFER_DEMO_SLO_MS:-1500}
prompts=("Why is the sky blue?" "Write a haiku about wind power." "What is a carbon intensity?"
  "Name three renewable energy sources." "Explain batching in one sentence." "What is 17 times 3?"
  "Which city hosted the 1908 Olympics?" "Summarize the causes of the French Revolution.")
chat_body() { # prompt
  jq -cn --arg p "$1" --argjson m "$max_tokens" \
    '{model:"demo",messages:[{role:"user",content:$p}],max_tokens:$m,temperature:0}'
}
fails=0
# post FILE PROMPT [HEADER...] -> HTTP code; the answer in FILE (runs in a
# subshell: the caller counts failures)
post() {
  local f=$1 p=$2 h=() code
  shift 2
  for x in "$@"; do h+=(-H "$x"); done
  code="$(curl -s -m 120 -o "$f" -w '%{http_code}' -H 'content-type: application/json' "${h[@]}" \
    -d "$(chat_body "$p")" "$base/v1/chat/completions" || echo 000)"
  echo "$code"
}
intensity() {
  curl -s "$base/metrics" | sed -n "s/^ecoinfer_router_zone_intensity_gco2_per_kwh{zone=\"$1\"} \(.*\)\$/\1/p"
}

# --- lever 1: routing --------------------------------------------------------
policies=(round-robin greedy carbon latency slo-carbon)
rounds=${ECOINFER_DEMO_ROUNDS:-6}
echo
echo "== 1. routing: $rounds rounds x ${#policies[@]} policies, $max_tokens tokens each, directives off" \
  "(x-ecoinfer-directive: off), slo-carbon SLO ${slo_ms} ms =="
printf '%-6s %10s %10s   %s\n' round "$za" "$zb" "node chosen per policy (${policies[*]})"
t0=$SECONDS
for r in $(seq 1 "$rounds"); do
  ia="$(intensity "$za")"; ib="$(intensity "$zb")"
  line=""
  for pol in "${policies[@]}"; do
    code="$(post "$work/resp.json" "${prompts[$((r % ${#prompts[@]}))]}" "x-ecoinfer-policy: $pol" \
      "x-ecoinfer-slo-ms: $slo_ms" "x-ecoinfer-directive: off")"
    [[ $code == 200 ]] || fails=$((fails + 1))
    if [[ $code == 200 ]]; then
      jq -r '.usage.carbon as $u | [$u.router.node, $u.router.zone, ($u.total_g // 0), ($u.energy_j // 0),
        ($u.router.measured.latency_s // 0), ($u.router.predicted.total_g // 0)] | join(" ")' \
        "$work/resp.json" >>"$work/$pol.tsv"
      line+="$(jq -r '.usage.carbon.router.node' "$work/resp.json") "
    else
      line+="($code) "
    fi
    # Let the router's /v1/node poll (every 100 ms) see the node idle again:
    # a stale "batch active" would look like a batch to join.
    sleep 0.15
  done
  printf '%-6s %10s %10s   %s\n' "$r" "${ia:-?}" "${ib:-?}" "$line"
done
printf '%-12s %4s %11s %10s %13s %9s   %s\n' policy ok "carbon(mg)" "energy(J)" "predicted(mg)" "mean(ms)" "served by"
for pol in "${policies[@]}"; do
  f="$work/$pol.tsv"
  [[ -f $f ]] || continue
  awk -v pol="$pol" '{g+=$3; j+=$4; t+=$5; p+=$6; c[$1" ("$2")"]++}
    END{s=""; for(k in c) s=s k " x" c[k] ", "; sub(/, $/, "", s);
        printf "%-12s %4d %11.4f %10.1f %13.4f %9.0f   %s\n", pol, NR, g*1e3, j, p*1e3, (NR?t/NR*1000:0), s}' "$f"
done
echo "carbon/energy: the nodes' receipts (both run on this host, so energy differs only by load);"
echo "predicted: the router's prediction from the declared Orin/Ada profiles, what the policies minimise."

# --- lever 2: directives per request ------------------------------------------
echo
echo "== 2. directives: ${#prompts[@]} requests under the directive plan (policy carbon), each with the level and why =="
printf '%-45s %5s %-44s %6s %10s\n' prompt level why tokens "carbon(mg)"
for p in "${prompts[@]}"; do
  code="$(post "$work/resp.json" "$p")"
  if [[ $code != 200 ]]; then
    printf '%-45.45s failed (%s)\n' "$p" "$code"
    fails=$((fails + 1))
    continue
  fi
  jq -r --arg p "$p" '.usage as $u | $u.carbon.router as $r | ($r.directive // {}) as $d |
    [$p, ($r.directive_level // -1),
     (if $d.plan == "live" then "group \($d.group) (p \($d.group_p*100|round)%), plan L\($d.planned_level) p \($d.level_p*100|round)%"
      elif $d.plan then "\($d.plan) plan: L\($d.planned_level) with p \($d.level_p*100|round)%" else "-" end)
     + (if $d.degraded then ", degraded hour" else "" end) + (if $d.opted_out then ", opted out" else "" end),
     $u.completion_tokens, (($u.carbon.total_g // 0) * 1000 * 10000 | round / 10000)] |
    @tsv' "$work/resp.json" |
    awk -F'\t' '{printf "%-45.45s %5s %-44.44s %6s %10s\n", $1, "L"$2, $3, $4, $5}'
  jq -c '.usage.carbon.router' "$work/resp.json" >>"$work/directive.receipts.jsonl"
done
curl -s "http://127.0.0.1:$aport/admin/directive" >"$work/admin-directive.json" 2>/dev/null || true
[[ -s "$work/admin-directive.json" ]] &&
  jq -r 'select(.plan == "live") |
    "what each level costs on model demo: its receipts, shrunk toward the Llama-2-13B priors (prior weight \(.learn.prior_weight)):",
    (.models[]? | select(.model == "demo") | .levels[] |
     "  L\(.level): \(.out_tokens*10|round/10) output tokens, \(.energy_j*100|round/100) J (\(.out_tokens_receipts) receipts)")' \
    "$work/admin-directive.json" 2>/dev/null || true
[[ -n $synthetic ]] && echo "(random weights: the answers are max_tokens long at every level, so no directive saving is measured)"

# --- lever 3: batching --------------------------------------------------------
conc=8
echo
echo "== 3. batching: $conc requests at once (router batch window 30 ms, nodes batch up to 4 sequences) =="
seq_jpt="$(cat "$work"/*.tsv | awk '{j+=$4} END{print j}')"
seq_tok=$((rounds * ${#policies[@]} * max_tokens))
bpids=()
for i in $(seq 1 $conc); do
  (post "$work/conc$i.json" "${prompts[$((i % ${#prompts[@]}))]}" "x-ecoinfer-directive: off" >"$work/conc$i.code") &
  bpids+=($!)
done
for p in "${bpids[@]}"; do wait "$p" || true; done
for i in $(seq 1 $conc); do [[ "$(cat "$work/conc$i.code")" == 200 ]] || fails=$((fails + 1)); done
jq -s -r '[.[] | .usage] as $u |
  "predicted batch sizes: \([ $u[] | .carbon.router.predicted.batch ] | map(tostring) | join(" ")); " +
  "energy \(([ $u[] | .carbon.energy_j ] | add) * 100 | round / 100) J for \([ $u[] | .completion_tokens ] | add) tokens"' \
  "$work"/conc*.json
awk -v sj="$seq_jpt" -v st="$seq_tok" -v cj="$(jq -s '[.[] | .usage.carbon.energy_j] | add' "$work"/conc*.json)" \
  -v ct="$(jq -s '[.[] | .usage.completion_tokens] | add' "$work"/conc*.json)" \
  'BEGIN{if (st > 0 && ct > 0) printf "J per generated token: %.3f one at a time (step 1), %.3f batched\n", sj/st, cj/ct}'

# --- lever 4: shifting (a deferred Batch API job) -----------------------------
echo
njobs=6
echo "== 4. shifting: a Batch API job of $njobs requests, completion_window 40s: the planner puts them" \
  "in the cleanest of ten 4 s slots (4 trace hours each) =="
: >"$work/jobs.jsonl"
for i in $(seq 1 $njobs); do
  jq -cn --arg id "job-$i" --argjson b "$(chat_body "${prompts[$((i % ${#prompts[@]}))]}")" \
    '{custom_id:$id, method:"POST", url:"/v1/chat/completions", body:$b}' >>"$work/jobs.jsonl"
done
fid="$(curl -s --data-binary @"$work/jobs.jsonl" "$base/v1/files?purpose=batch&filename=jobs.jsonl" | jq -r .id)"
curl -s -H 'content-type: application/json' \
  -d "{\"input_file_id\":\"$fid\",\"endpoint\":\"/v1/chat/completions\",\"completion_window\":\"40s\"}" \
  "$base/v1/batches" >"$work/batch.json"
bid="$(jq -r '.id // empty' "$work/batch.json")"
if [[ -z "$bid" ]]; then
  echo "demo: the batch was refused: $(cat "$work/batch.json")" >&2; fails=$((fails + 1))
else
  jq -r '"accepted \(.id): predicted \(.carbon_planned_g*1000*1000|round/1000) mg as planned, \(.carbon_run_now_g*1000*1000|round/1000) mg if run at once"' "$work/batch.json"
  tb=$SECONDS
  status=
  for _ in $(seq 1 120); do
    curl -s "$base/v1/batches/$bid" >"$work/batch.json"
    status="$(jq -r .status "$work/batch.json")"
    [[ $status == completed || $status == failed || $status == expired ]] && break
    sleep 0.5
  done
  jq -r --arg s "$((SECONDS - tb))" '"\(.status) after \($s) s: \(.request_counts.completed)/\(.request_counts.total) done, \(.carbon_spent_g*1000*1000|round/1000) mg measured"' "$work/batch.json"
  [[ $status == completed ]] || fails=$((fails + 1))
  [[ $mode == trace ]] || echo "(static intensities: no slot is cleaner than another; the saving is the planner's choice of zone)"
fi

# --- the ledger ----------------------------------------------------------------
echo
echo "== the ledger ($ledger): nodes and router append to it; each request counts once =="
sleep 0.3
"$BIN" report --ledger "$ledger" --by kind,policy,directive
echo
echo "Workload took $((SECONDS - t0)) s (ECOINFER_DEMO_KEEP=1 keeps configs, logs, the ledger and receipts)."
rows="$("$BIN" report --ledger "$ledger" --json --by recorder | jq '[.groups.recorder[] | select(.key=="router") | .requests] | add // 0')"
[[ $rows -gt 0 ]] || { echo "demo: the router wrote no ledger rows" >&2; exit 1; }
[[ $fails == 0 ]] || { echo "demo: $fails request(s) failed; router log:" >&2; tail -n 20 "$work/route.log" >&2; exit 1; }
