#!/usr/bin/env bash
# Spatial shifting across grids (docs/experiments/multi-zone.md), one command:
#   experiments/multi-zone/run.sh [ecoinfer binary] [shared dir]
# Two clusters of Jetson Orin NX + RTX 2000 Ada pairs, one week of June 2023:
#   cluster.yaml         FR + DE-LU + US-CAL-CISO (6 nodes)
#   cluster-de-cal.yaml  DE-LU + US-CAL-CISO only (4 nodes; no always-clean zone)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${1:-$root/build/ecoinfer}
shared=${2:-${ECO_SHARED_DIR:-$root/../shared}}
OUT=${OUT:-$root/build/experiments/multi-zone}
mkdir -p "$OUT"
command -v jq >/dev/null || { echo "needs jq" >&2; exit 1; }
for c in cluster cluster-de-cal; do
  "$bin" sim cluster --config "$here/$c.yaml" --shared-dir "$shared" --json --out "$OUT/$c" \
    > "$OUT/$c.json"
  echo "## $(grep '^description:' "$here/$c.yaml" | cut -d' ' -f2-)"
  echo
  echo "| policy | gCO2e/req (all) | gCO2e/req (batches only) | saving vs round-robin (all) | p95 s | SLO 60 s met | busy share by zone | Jetson share |"
  echo "|---|---|---|---|---|---|---|---|"
  rr=$(jq '.policies[] | select(.policy=="round-robin") | .total_g_per_req' "$OUT/$c.json")
  jq -r --arg rr "$rr" '.policies[] |
    "| \(.policy) | \(.total_g_per_req*10000|round/10000) | \((.op_active_g_per_req+.emb_g_per_req)*10000|round/10000) | \(((1-.total_g_per_req/($rr|tonumber))*1000|round)/10)% | \(.p95_s*10|round/10) | \(.slo_attainment*1000|round/10)% | " +
    ([.zone_busy_share | to_entries[] | "\(.key) \(.value*100|round)%"] | join(", ")) +
    " | \(.device_busy_share["jetson-orin-nx-8gb"]*100|round)% |"' "$OUT/$c.json"
  echo
done
echo "Hourly carbon per policy with intensity: $OUT/*/carbon.svg and hourly.csv"
