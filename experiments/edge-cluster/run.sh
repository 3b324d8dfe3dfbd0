#!/usr/bin/env bash
# The edge-cluster study (docs/experiments/edge-cluster.md), one command:
#   experiments/edge-cluster/run.sh [ecoinfer binary] [shared dir]
# Part A: each device alone, 256 prompts at once, batch sizes 1-16 (knee).
# Part B: Jetson Orin NX + RTX 2000 Ada cluster, one day of Poisson arrivals,
#         greedy vs carbon vs latency (and slo-carbon), batch sizes 1-16.
# Writes tables (Markdown) to stdout; CSV/JSON/SVG under $OUT.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${1:-$root/build/ecoinfer}
shared=${2:-${ECO_SHARED_DIR:-$root/../shared}}
OUT=${OUT:-$root/build/experiments/edge-cluster}
mkdir -p "$OUT"
command -v jq >/dev/null || { echo "needs jq" >&2; exit 1; }

echo "## Part A: one device, 256 prompts at once (static batches)"
echo
echo "| device | batch | mean batch run | throughput req/s | gain vs half batch | J/request | makespan s | refused |"
echo "|---|---|---|---|---|---|---|---|"
for dev in jetson-orin-nx-8gb rtx-2000-ada-16gb; do
  prev=""
  for B in 1 2 4 8 16; do
    "$bin" sim cluster --config "$here/bench-$dev.yaml" --shared-dir "$shared" --batch "$B" --json \
      > "$OUT/A-$dev-b$B.json"
    jq -r --arg dev "$dev" --arg B "$B" --arg prev "$prev" '.policies[0] |
      "| \($dev) | \($B) | \(.mean_batch*100|round/100) | \(.throughput_rps*10000|round/10000) | " +
      (if $prev == "" then "-" else "\(((.throughput_rps / ($prev|tonumber) - 1)*1000|round)/10)%" end) +
      " | \(.j_per_req*10|round/10) | \(.span_s|round) | \(.refused) |"' "$OUT/A-$dev-b$B.json"
    prev=$(jq -r '.policies[0].throughput_rps' "$OUT/A-$dev-b$B.json")
  done
done

echo
echo "## Part B: two-node cluster, one day, Poisson 0.03 req/s, DE-LU grid"
echo
echo "| batch | policy | gCO2e/req (all) | gCO2e/req (batches only) | J/req | p50 s | p95 s | mean s | SLO 60 s met | util | mean batch |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for B in 1 2 4 8 16; do
  "$bin" sim cluster --config "$here/cluster.yaml" --shared-dir "$shared" --batch "$B" --json \
    --out "$OUT/B-b$B" > "$OUT/B-b$B.json"
  jq -r --arg B "$B" '.policies[] |
    "| \($B) | \(.policy) | \(.total_g_per_req*10000|round/10000) | \((.op_active_g_per_req+.emb_g_per_req)*10000|round/10000) | \(.j_per_req|round) | \(.p50_s*10|round/10) | \(.p95_s*10|round/10) | \(.mean_s*10|round/10) | \(.slo_attainment*1000|round/10)% | \(.util_mean*100|round/100) | \(.mean_batch*100|round/100) |"' \
    "$OUT/B-b$B.json"
done

echo
echo "## Part B, derived: carbon-aware vs greedy, latency-aware speed-up"
echo
echo "| batch | carbon saving vs greedy (all) | (batches only) | latency-aware mean-latency speed-up vs carbon-aware | vs greedy |"
echo "|---|---|---|---|---|"
for B in 1 2 4 8 16; do
  jq -r --arg B "$B" '
    def p(n): .policies[] | select(.policy == n);
    (p("greedy")) as $g | (p("carbon")) as $c | (p("latency")) as $l |
    "| \($B) | \(((1 - $c.total_g_per_req / $g.total_g_per_req)*1000|round)/10)% | " +
    "\(((1 - ($c.op_active_g_per_req+$c.emb_g_per_req) / ($g.op_active_g_per_req+$g.emb_g_per_req))*1000|round)/10)% | " +
    "\(($c.mean_s / $l.mean_s)*100|round/100)x | \(($g.mean_s / $l.mean_s)*100|round/100)x |"' "$OUT/B-b$B.json"
done
echo
echo "CSV, JSON and SVG plots (carbon.svg, latency_cdf.svg, pareto.svg) per batch size: $OUT/B-b*/"
