#!/usr/bin/env bash
# Issue 17 item 4: `sim sprout --policy ours-live` against Sprout's LP
# (`--policy lp`) on every hourly trace in a folder, at several start hours
# (seasons), as a Markdown table. Target: ours-live's reduction >= lp's + 15
# points with mean preference >= lp's.
#
#   scripts/sprout_live_table.sh [-b BIN] [-d DATA] [-c CARBON_DIR] [-o OUT_DIR] [-s "800 3900 7000"]
#
# Each run's summary JSON is kept in OUT_DIR (default ./sprout-live-out);
# existing summaries are reused, so an interrupted run resumes. Exits 77
# (skip) when the data is absent.
set -euo pipefail
BIN=./build/ecoinfer
DATA=../shared/data/sprout
CARBON=../shared/data/carbon
OUT=./sprout-live-out
STARTS="800 3900 7000"
while getopts "b:d:c:o:s:" o; do
  case $o in
  b) BIN=$OPTARG ;;
  d) DATA=$OPTARG ;;
  c) CARBON=$OPTARG ;;
  o) OUT=$OPTARG ;;
  s) STARTS=$OPTARG ;;
  *) exit 2 ;;
  esac
done
if [ ! -d "$DATA" ] || ! ls "$CARBON"/*_hourly.csv >/dev/null 2>&1; then
  echo "SKIP: no Sprout data in $DATA or no traces in $CARBON" >&2
  exit 77
fi
command -v jq >/dev/null || { echo "jq is required" >&2; exit 2; }
mkdir -p "$OUT"
for f in "$CARBON"/*_hourly.csv; do
  base=$(basename "$f" _hourly.csv) # e.g. CA-ON_2023
  region=${base%_*}
  for s in $STARTS; do
    for p in lp ours-live; do
      sum="$OUT/${base}_${s}_${p}.json"
      [ -s "$sum" ] && continue
      "$BIN" sim sprout --region "$region" --trace "$f" --data "$DATA" --start-hour "$s" \
        --policy "$p" --summary "$sum.tmp" >"$OUT/${base}_${s}_${p}.txt" 2>&1
      mv "$sum.tmp" "$sum"
    done
  done
done
echo "| trace | start hour | lp reduction % | lp preference | ours-live reduction % | ours-live preference | points over lp | target | lp on the same held-out prompts: reduction % / preference | points over it | degraded hours / periods |"
echo "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|"
met=0
total=0
for f in "$CARBON"/*_hourly.csv; do
  base=$(basename "$f" _hourly.csv)
  for s in $STARTS; do
    lp="$OUT/${base}_${s}_lp.json"
    ol="$OUT/${base}_${s}_ours-live.json"
    row=$(jq -rn --slurpfile a "$lp" --slurpfile b "$ol" '
      ($a[0].reduction_pct) as $lr | ($a[0].quality_preference) as $lq |
      ($b[0].reduction_pct) as $xr | ($b[0].quality_preference) as $xq |
      (($xr - $lr) >= 15 and $xq >= $lq) as $ok |
      ($b[0].lp_reduction_pct) as $sr | ($b[0].lp_quality_preference) as $sq |
      "\($lr*100|round/100) | \($lq*10000|round/10000) | \($xr*100|round/100) | \($xq*10000|round/10000) | \(($xr-$lr)*100|round/100) | \(if $ok then "met" else "MISSED" end) | \($sr*100|round/100) / \($sq*10000|round/10000) | \(($xr-$sr)*100|round/100) | \($b[0].degraded_hours // 0) / \($b[0].degraded_periods // 0)"')
    echo "| $base | $s | $row |"
    total=$((total + 1))
    case $row in *"| met |"*) met=$((met + 1)) ;; esac
  done
done
echo
echo "target met in $met of $total windows"
