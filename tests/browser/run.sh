#!/usr/bin/env bash
# Runs a browser check script with playwright-core (installed from the lockfile).
#   tests/browser/run.sh SCRIPT.mjs ARGS...
# Exit 77 (skip) when node, npm, the registry or chromium are unavailable.
set -uo pipefail
cd "$(dirname "$0")"
command -v node >/dev/null || { echo "SKIP: node not installed"; exit 77; }
[[ -x /usr/bin/chromium || -n "${CHROMIUM:-}" ]] || { echo "SKIP: chromium not installed (scripts/install-deps.sh)"; exit 77; }
if [[ ! -d node_modules/playwright-core ]]; then
  npm ci --no-audit --no-fund --loglevel=error >&2 || { echo "SKIP: npm ci failed (registry unreachable?)"; exit 77; }
fi
script=$1; shift
exec node "$script" "$@"
