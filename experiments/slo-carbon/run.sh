#!/usr/bin/env bash
# slo-carbon vs greedy, carbon-aware and latency-aware on the edge-cluster
# workload (docs/experiments/slo-carbon.md), one command:
#   experiments/slo-carbon/run.sh [ecoinfer binary] [shared dir]
# Every request has a 60 s end-to-end SLO. slo-carbon is run with the SLO it
# is given (--policy-slo) swept from 15 s to 60 s: a tighter value leaves a
# margin for the error of the router's latency prediction.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${1:-$root/build/ecoinfer}
shared=${2:-${ECO_SHARED_DIR:-$root/../shared}}
OUT=${OUT:-$root/build/experiments/slo-carbon}
cfg=$root/experiments/edge-cluster/cluster.yaml
mkdir -p "$OUT"
command -v jq >/dev/null || { echo "needs jq" >&2; exit 1; }
B=${BATCH:-4}
"$bin" sim cluster --config "$cfg" --shared-dir "$shared" --batch "$B" --slo 60s \
  --policy greedy,carbon,latency,slo-carbon --json --out "$OUT/all" > "$OUT/all.json"
for S in 15 20 30 45 60; do
  "$bin" sim cluster --config "$cfg" --shared-dir "$shared" --batch "$B" --slo 60s \
    --policy slo-carbon --policy-slo "${S}s" --json > "$OUT/slo-$S.json"
  # the same with a perfect output-length predictor: how much of the gap is prediction error
  "$bin" sim cluster --config "$cfg" --shared-dir "$shared" --batch "$B" --slo 60s \
    --policy slo-carbon --policy-slo "${S}s" --length-prediction oracle --json \
    > "$OUT/slo-$S-oracle.json"
done
"$bin" sim cluster --config "$cfg" --shared-dir "$shared" --batch "$B" --slo 60s \
  --policy carbon --length-prediction oracle --json > "$OUT/carbon-oracle.json"
echo "## Batch $B, SLO 60 s for every request (Jetson Orin NX + RTX 2000 Ada, DE-LU, 1 day)"
echo
echo "| policy | SLO given to the policy | gCO2e/req (all) | gCO2e/req (batches only) | saving vs greedy (all) | p95 s | mean s | SLO attainment |"
echo "|---|---|---|---|---|---|---|---|"
g=$(jq '.policies[] | select(.policy=="greedy") | .total_g_per_req' "$OUT/all.json")
row='"| \(.policy) | \($s) | \(.total_g_per_req*10000|round/10000) | \((.op_active_g_per_req+.emb_g_per_req)*10000|round/10000) | \(((1-.total_g_per_req/($g|tonumber))*1000|round)/10)% | \(.p95_s*10|round/10) | \(.mean_s*10|round/10) | \(.slo_attainment*1000|round/10)% |"'
jq -r --arg g "$g" --arg s "60 s" ".policies[] | select(.policy != \"slo-carbon\") | $row" "$OUT/all.json"
for S in 15 20 30 45 60; do
  jq -r --arg g "$g" --arg s "$S s" ".policies[] | $row" "$OUT/slo-$S.json"
done
for S in 15 20 30 45 60; do
  jq -r --arg g "$g" --arg s "$S s, oracle lengths" ".policies[] | $row" "$OUT/slo-$S-oracle.json"
done
jq -r --arg g "$g" --arg s "-, oracle lengths" ".policies[] | $row" "$OUT/carbon-oracle.json"
echo
echo "Plots (carbon over time, latency CDF, Pareto front): $OUT/all/"
