#!/usr/bin/env bash
# Install every Debian package ecoinfer needs to build, test and demo.
# Idempotent: prints nothing and exits 0 when everything is already present.
# Works as root or through sudo. Usage: scripts/install-deps.sh
set -euo pipefail

# Build + libraries (see docs/architecture.md for why each one).
PKGS=(
  build-essential cmake pkg-config clang clang-format clang-tidy cppcheck
  libjansson-dev        # JSON
  libcurl4-openssl-dev  # HTTP client (carbon APIs, router -> node, pull)
  libssl-dev            # libcrypto: SHA-256 of pulled models
  libsqlite3-dev        # durable ledger and batch queue
  libevent-dev          # HTTP server (node, router, agent)
  libyaml-dev           # configuration files
  libglpk-dev           # linear programs (directive optimizer)
  libcmocka-dev         # unit tests
  libclang-rt-14-dev    # sanitizer and libFuzzer runtimes for clang
  curl wrk              # integration tests and load benchmarks
  prometheus            # promtool, to validate /metrics
  chromium              # headless browser tests of the dashboard (playwright-core)
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross   # aarch64 compile check (make aarch64)
  qemu-user             # runs the NEON kernels under emulation (tests/kernels_aarch64.sh)
  jq                    # experiments/*/run.sh (simulator result tables)
  python3-jinja2        # the oracle the Jinja interpreter is compared with (tests/jinja_oracle.sh)
)
# Node.js + npm (openai npm client in integration tests, dashboard bundle).
# Some images ship nodesource's nodejs, which bundles npm and conflicts with
# Debian's npm package: only ask apt for them when the commands are missing.
# kubectl renders the Kubernetes manifests (kustomize) in tests/k8s_manifests.sh;
# Debian's kubernetes-client, unless some kubectl is installed already.
command -v kubectl >/dev/null 2>&1 || PKGS+=(kubernetes-client)
command -v node >/dev/null 2>&1 || PKGS+=(nodejs)
command -v npm >/dev/null 2>&1 || PKGS+=(npm)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1
  fi
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done" >&2
