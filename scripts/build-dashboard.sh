#!/usr/bin/env bash
# Builds the dashboard bundle (web/dashboard) into one HTML file: OUT.
# Called by CMake at build time. Packages come from the npm registry, pinned
# by web/dashboard/package-lock.json (npm ci). If npm or the registry is not
# available, writes a page that says so (and the dashboard tests skip with a
# visible message), so that the rest of ecoinfer still builds offline.
set -uo pipefail
OUT=${1:?usage: build-dashboard.sh OUT.html}
DIR="$(cd "$(dirname "$0")/../web/dashboard" && pwd)"
mkdir -p "$(dirname "$OUT")"
fail() {
  echo "build-dashboard: WARNING: $1; embedding a placeholder page" >&2
  cat >"$OUT" <<HTML
<!doctype html><html lang="en"><meta charset="utf-8"><title>ecoinfer dashboard unavailable</title>
<body><h1>ecoinfer dashboard not built</h1><p data-eco-dashboard="unbuilt">The dashboard bundle
could not be built: $1. Install Node.js and npm (scripts/install-deps.sh) and rebuild.</p>
<p>The JSON endpoints still work: <a href="dashboard/api/state">api/state</a>.</p></body></html>
HTML
  exit 0
}
command -v node >/dev/null 2>&1 || fail "node is not installed"
command -v npm >/dev/null 2>&1 || fail "npm is not installed"
cd "$DIR"
if [[ ! -d node_modules/uplot || ! -d node_modules/esbuild || package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund --loglevel=error >&2 || fail "npm ci failed (is the npm registry reachable?)"
fi
node build.mjs "$OUT" >&2 || fail "the bundler failed"
