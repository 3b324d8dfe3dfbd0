#!/usr/bin/env bash
# Runs `sim sprout` for several policies over every hourly trace in a
# directory and several start hours (the month after each), one JSON summary
# per run in $OUT (default experiments/sprout/out/grid), skipping runs whose
# summary exists. experiments/sprout/grid_table.py turns them into tables.
#   experiments/sprout/grid.sh BIN SPROUT_DIR TRACE_DIR "POLICIES" [START_HOURS...]
# e.g. grid.sh build/ecoinfer ../shared/data/sprout ../shared/data/carbon \
#        "ours-live ours prompt-oracle oracle" 800 3900 7000
# Extra `sim sprout` options go in $SPROUT_OPTS.
set -eu
bin="$1"; data="$2"; traces="$3"; policies="$4"
shift 4
hours="${*:-800 3900 7000}"
out="${OUT:-experiments/sprout/out/grid}"
mkdir -p "$out"
for t in "$traces"/*_hourly.csv; do
  name="$(basename "$t" _hourly.csv)"
  for sh in $hours; do
    for p in $policies; do
      js="$out/${name}_${sh}_${p}.json"
      [ -s "$js" ] && continue
      # shellcheck disable=SC2086
      "$bin" sim sprout --trace "$t" --data "$data" --start-hour "$sh" --policy "$p" \
        ${SPROUT_OPTS:-} --summary "$js.tmp" >/dev/null && mv "$js.tmp" "$js"
      echo "$name $sh $p done"
    done
  done
done
