#!/usr/bin/env bash
# Reproduces the Sprout artifact's month (hours 800..1519 of 2023) for GB,
# US-CAL and US-TEX with `ecoinfer sim sprout`, for every policy, over
# several sample seeds, and compares with the artifact's own results.
#   experiments/sprout/reproduce.sh [ECOINFER_BIN] [SPROUT_DATA_DIR] [N_SEEDS] [N_SEEDS_OURS]
# (ours runs 5 folds with a period LP every hour: slower; its spread across
# sample seeds is small, so it uses fewer seeds, default 3)
# Writes per-run summaries and per-hour CSVs to $OUT (default
# experiments/sprout/out) and prints the reproduction table (markdown).
set -euo pipefail
BIN=${1:-build/ecoinfer}
DATA=${2:-../shared/data/sprout}
NSEEDS=${3:-10}
NSEEDS_OURS=${4:-3}
OUT=${OUT:-experiments/sprout/out}
mkdir -p "$OUT"
for region in GB US-CAL US-TEX; do
  for policy in baseline static lp co2opt oracle ours; do
    n=$NSEEDS
    [ "$policy" = ours ] && n=$NSEEDS_OURS
    for ((s = 0; s < n; s++)); do
      "$BIN" sim sprout --region "$region" --data "$DATA" --start-hour 800 --hours 720 \
        --policy "$policy" --seed 0 --sample-seed "$s" \
        --csv "$OUT/${region}_${policy}_s${s}.csv" --summary "$OUT/${region}_${policy}_s${s}.json" \
        >/dev/null
    done
  done
done
python3 "$(dirname "$0")/table.py" "$OUT" "$DATA" "$NSEEDS" "$NSEEDS_OURS"
