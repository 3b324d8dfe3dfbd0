#!/usr/bin/env bash
# Checks that every file under src/ includes only what its module may
# include: its own module's headers, and the public headers of the modules
# that the table in docs/architecture.md (between the include-rules
# markers) lets it use. A header named *_internal.h is private to its own
# module. Run by ctest (include_rules); exits 1 and names each offending
# line otherwise.
#
#   scripts/check-includes.sh [ROOT]     check ROOT (default: this checkout)
#   scripts/check-includes.sh --self-test  also prove that it catches a bad include
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

check() {
  local root="$1" doc="$1/docs/architecture.md"
  [[ -f "$doc" ]] || { echo "check-includes: $doc not found" >&2; return 2; }
  # "| `mod` | `a`, `b` |" rows between the markers -> "mod a b"
  local rules
  rules="$(awk '/<!-- include-rules/{on=1; next} /<!-- \/include-rules -->/{on=0} on' "$doc" |
    awk -F'|' 'NF >= 4 && $2 ~ /`/ {
      m = $2; gsub(/[ `]/, "", m); deps = $3; gsub(/[`,]/, " ", deps); print m, deps }')"
  [[ -n "$rules" ]] || { echo "check-includes: no include-rules table in $doc" >&2; return 2; }
  local bad=0 mods
  mods="$(echo "$rules" | awk '{print $1}')"
  # every module folder has a row, and every row a folder
  for d in "$root"/src/*/; do
    d="$(basename "$d")"
    grep -qx "$d" <<<"$mods" || { echo "src/$d: module missing from the include-rules table"; bad=1; }
  done
  for m in $mods; do
    [[ -d "$root/src/$m" ]] || { echo "include-rules table: no folder src/$m"; bad=1; }
  done
  local f m line hdr target allowed row
  local -A may=()
  while read -r row; do may[${row%% *}]=" ${row} "; done <<<"$rules"
  while IFS= read -r f; do
    m="${f%/*}"
    m="${m##*/}"
    allowed="${may[$m]:- $m }"
    while IFS= read -r line; do
      hdr="${line#*\"}"
      hdr="${hdr%%\"*}"
      [[ "$hdr" == */* ]] || continue # same folder, relative
      target="${hdr%%/*}"
      if [[ "$allowed" != *" $target "* ]]; then
        echo "${f#"$root"/}: includes $hdr, but $m may not include $target (docs/architecture.md)"
        bad=1
      elif [[ "$target" != "$m" && "$hdr" == *_internal.h ]]; then
        echo "${f#"$root"/}: includes $hdr, private to $target"
        bad=1
      fi
    done < <(grep -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" || true)
  done < <(find "$root/src" -name '*.[ch]' | sort)
  return $bad
}

if [[ "${1:-}" == "--self-test" ]]; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/docs" "$work/src"
  cp "$here/docs/architecture.md" "$work/docs/"
  cp -r "$here/src/." "$work/src/"
  check "$work" >/dev/null || { echo "self-test: the tree as it is should pass"; exit 1; }
  # util may include nothing; engine may not use another module's private header
  echo '#include "router/router.h"' >>"$work/src/util/status.c"
  out="$(check "$work" || true)"
  grep -q 'src/util/status.c: includes router/router.h' <<<"$out" ||
    { echo "self-test: a forbidden include was not caught"; exit 1; }
  cp "$here/src/util/status.c" "$work/src/util/status.c"
  echo '#include "router/gw_internal.h"' >>"$work/src/cli/main.c"
  out="$(check "$work" || true)"
  grep -q 'private to router' <<<"$out" ||
    { echo "self-test: a private header used across modules was not caught"; exit 1; }
  echo "check-includes: self-test passed"
  check "$here"
  exit $?
fi

if check "${1:-$here}"; then
  echo "check-includes: every include in src/ follows docs/architecture.md"
else
  exit 1
fi
