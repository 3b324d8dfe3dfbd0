# Sourced by the tests that drive ecoinfer with the official `openai` npm
# client: makes sure tests/node/node_modules holds the locked openai version
# (npm ci), or exits 77 (skip) with the reason. Needs $nodedir.
command -v node >/dev/null 2>&1 || { echo "SKIP: node not installed"; exit 77; }
command -v npm >/dev/null 2>&1 || { echo "SKIP: npm not installed"; exit 77; }
want="$(node -p "require('$nodedir/package-lock.json').packages['node_modules/openai'].version")"
have="$(node -p "try{require('$nodedir/node_modules/openai/package.json').version}catch(e){''}" 2>/dev/null)"
if [[ "$want" != "$have" ]]; then
  if ! (cd "$nodedir" && timeout 180 npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1); then
    echo "SKIP: 'npm ci' failed (no access to the npm registry?); the openai client is not installed"
    exit 77
  fi
fi
