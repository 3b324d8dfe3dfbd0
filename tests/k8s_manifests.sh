#!/usr/bin/env bash
# The Kubernetes manifests (deploy/kubernetes), checked offline, with no
# cluster:
#   1. every overlay renders with kustomize (`kubectl kustomize`; Debian's
#      kubernetes-client carries kustomize 2.0.3, newer kubectl 5.x: the
#      manifests are written for both), with the Secrets generated from
#      their .example files;
#   2. every rendered object validates against Kubernetes' schemas and has no
#      field Kubernetes does not know, and its references (Secrets and keys,
#      ConfigMaps, probe ports, Service selectors) resolve (tests/k8s/validate.mjs);
#   3. the router's cluster.yaml and the CPU node's node.yaml, as rendered
#      into their ConfigMaps, load in `ecoinfer route` and `ecoinfer serve`.
#   tests/k8s_manifests.sh ECOINFER_BINARY [SHARED_DIR]
set -uo pipefail
bin="${1:?}"
here="$(cd "$(dirname "$0")" && pwd)"; root="$(dirname "$here")"
nodedir="$here/k8s"
command -v kubectl >/dev/null 2>&1 || {
  echo "SKIP: kubectl missing (scripts/install-deps.sh installs Debian's kubernetes-client)"; exit 77; }
command -v node >/dev/null 2>&1 || { echo "SKIP: node not installed"; exit 77; }
command -v npm >/dev/null 2>&1 || { echo "SKIP: npm not installed"; exit 77; }
command -v jq >/dev/null 2>&1 || { echo "SKIP: jq missing"; exit 77; }
want="$(node -p "require('$nodedir/package-lock.json').packages['node_modules/kubernetes-models'].version")"
have="$(node -p "try{require('$nodedir/node_modules/kubernetes-models/package.json').version}catch(e){''}" 2>/dev/null)"
if [[ "$want" != "$have" ]]; then
  if ! (cd "$nodedir" && timeout 300 npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1); then
    echo "SKIP: 'npm ci' in tests/k8s failed (no access to the npm registry?)"; exit 77
  fi
fi
work="$(mktemp -d)"; pid=""
cleanup() { [[ -n "$pid" ]] && { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
echo "kustomize: $(kubectl version --client 2>/dev/null | tr '\n' ' ')"

cp -r "$root/deploy/kubernetes" "$work/k"
for f in "$work"/k/secrets/*.env.example; do cp "$f" "${f%.example}"; done
for o in two-board monitoring; do
  kubectl kustomize "$work/k/overlays/$o" >"$work/$o.yaml" 2>"$work/$o.err" ||
    fail "kustomize overlays/$o: $(grep -v Warning "$work/$o.err")"
  echo "overlays/$o: $(grep -c '^kind:' "$work/$o.yaml") objects"
done
# without the Secrets' files the overlay refuses to render (nothing empty is applied by mistake)
rm "$work"/k/secrets/api-keys.env
kubectl kustomize "$work/k/overlays/two-board" >/dev/null 2>&1 &&
  fail "the overlay rendered without secrets/api-keys.env"
node "$nodedir/validate.mjs" "$work/two-board.yaml" "$work/monitoring.yaml" || fail "validation"

# the workloads a walk-through needs are there
kinds="$(grep '^kind:' "$work/two-board.yaml" | sort | uniq -c | tr -s ' ' | tr '\n' ';')"
for k in "1 kind: Deployment" "3 kind: DaemonSet" "1 kind: PodDisruptionBudget" "2 kind: Secret" "2 kind: ConfigMap"; do
  [[ "$kinds" == *"$k"* ]] || fail "expected $k in two-board: $kinds"
done
grep -q 'nvidia.com/gpu: 1' "$work/two-board.yaml" || fail "no GPU resource request"

# the configurations in the ConfigMaps load in the binary
node -e "
const {parseAllDocuments}=require('$nodedir/node_modules/yaml');
const fs=require('fs');
for (const d of parseAllDocuments(fs.readFileSync('$work/two-board.yaml','utf8'))) {
  const o=d.toJS(); if (!o||o.kind!=='ConfigMap') continue;
  for (const [k,v] of Object.entries(o.data)) fs.writeFileSync('$work/'+k, v);
}" || fail "extracting the ConfigMaps"
[[ -s "$work/cluster.yaml" && -s "$work/node.yaml" ]] || fail "cluster.yaml or node.yaml missing"
ECOINFER_ROUTER_PORT=0 ECOINFER_ROUTER_ADMIN_PORT=0 ECOINFER_ROUTER_HOST=127.0.0.1 \
  ECOINFER_ROUTER_ADMIN_HOST=127.0.0.1 ECOINFER_CARBON_PROVIDER=static \
  ECOINFER_API_KEY=k8s-test-node-key \
  "$bin" route --config "$work/cluster.yaml" --json >"$work/route.out" 2>"$work/route.log" &
pid=$!
for _ in $(seq 1 100); do grep -q listening "$work/route.out" 2>/dev/null && break; sleep 0.05; done
jq -e '.nodes == 0' "$work/route.out" >/dev/null 2>&1 ||
  fail "the router did not load cluster.yaml: $(cat "$work/route.out" "$work/route.log")"
port="$(sed -n 's/.*"listening":"http:\/\/[0-9.]*:\([0-9]*\)".*/\1/p' "$work/route.out")"
code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/ready")"
[[ "$code" == 503 ]] || fail "router /ready with no node up answered $code, want 503"
curl -sf "http://127.0.0.1:$port/health" >/dev/null || fail "router /health"
kill "$pid"; wait "$pid" 2>/dev/null; pid=""
mkdir -p "$work/host/proc" "$work/state"
cp /proc/stat /proc/meminfo /proc/cpuinfo "$work/host/proc/" 2>/dev/null
ECOINFER_ENERGY_SYSFS_ROOT="$work/host" ECOINFER_LEDGER_PATH="$work/state/receipts.db" \
  ECOINFER_CARBON_ZONE=FR ECOINFER_CARBON_PROVIDER=static \
  "$bin" serve --config "$work/node.yaml" --fake-backend --host 127.0.0.1 --port 0 \
  --admin-port -1 --port-file "$work/node.ports" >"$work/serve.out" 2>"$work/serve.log" &
pid=$!
for _ in $(seq 1 100); do [[ -s "$work/node.ports" ]] && break; sleep 0.05; done
read -r nport _ <"$work/node.ports" 2>/dev/null || fail "the node did not load node.yaml: $(cat "$work/serve.log")"
curl -sf "http://127.0.0.1:$nport/ready" >/dev/null || fail "node /ready"
echo "PASS: manifests render, validate and their configurations load"
