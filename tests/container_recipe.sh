#!/usr/bin/env bash
# Checks the container image recipe (deploy/docker/Dockerfile) as far as a
# machine without a container runtime can (docker build cannot run here):
#   1. its base images are Debian's and it fetches nothing but Debian
#      packages (apt-get; no curl, wget, pip, npm or ADD of a URL);
#   2. every file it COPYs exists and .dockerignore lets it into the context;
#   3. every package it installs exists in Debian's archive (apt-cache);
#   4. its build stage configures: the same cmake command, without tests and
#      with the dashboard bundle of `make build`;
#   5. the runtime stage installs the package of every shared library the
#      ecoinfer binary needs (readelf NEEDED -> dpkg -S).
#   tests/container_recipe.sh ECOINFER_BINARY [SHARED_DIR]
set -uo pipefail
bin="${1:?}"
root="$(cd "$(dirname "$0")/.." && pwd)"
df="$root/deploy/docker/Dockerfile"
fail() { echo "FAIL: $*"; exit 1; }
[[ -f "$df" ]] || fail "$df missing"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT

# 1. sources
grep -E '^ARG DEBIAN=debian:[a-z]+(-slim)?$' "$df" >/dev/null || fail "the base is not a Debian image"
grep -E '^FROM ' "$df" | grep -vqE '^FROM \$\{DEBIAN\}( AS [a-z]+)?$' && fail "a FROM that is not \${DEBIAN}"
grep -inE '^(ADD|RUN .*(curl|wget|pip3? install|npm (ci|install)|git clone))' "$df" &&
  fail "the recipe fetches something other than Debian packages"

# 2. COPY sources, and .dockerignore admits them
ign="$root/.dockerignore"
[[ -f "$ign" ]] || fail ".dockerignore missing"
while read -r src; do
  [[ "$src" == build/* ]] && continue   # made by `make build`, checked below
  [[ -e "$root/$src" ]] || fail "COPY $src: no such file in the repository"
  grep -qxF "!${src%/}" "$ign" || grep -qxF "!$src" "$ign" || fail ".dockerignore excludes COPY $src"
done < <(sed -n 's/^COPY \([^-][^ ]*\) .*/\1/p' "$df")
grep -qxF '!build/dashboard/index.html' "$ign" || fail ".dockerignore excludes the dashboard bundle"

# 3. packages, per stage
# the packages of `apt-get install` in stage $1 (continuation lines joined,
# the command cut at the next &&)
pkgs() { awk -v want="$1" '
  /^FROM /{stage++}
  stage==want{line = line " " $0; if ($0 ~ /\\$/) next; print line; line=""}' "$df" |
  sed 's/\\//g' | tr '&' '\n' | grep 'apt-get install' |
  sed 's/.*apt-get install//' | tr ' ' '\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' | sort -u; }
build_pkgs="$(pkgs 1)"; run_pkgs="$(pkgs 2)"
[[ -n "$build_pkgs" && -n "$run_pkgs" ]] || fail "no packages found in the recipe"
candidate() { local out; out="$(apt-cache policy "$1" 2>/dev/null)"; [[ "$out" == *"Candidate: "[0-9]* ]]; }
if candidate libjansson4; then
  for p in $build_pkgs $run_pkgs; do
    candidate "$p" || fail "package $p is not in the archive"
  done
  echo "packages: $(echo $build_pkgs | wc -w) in the build stage, $(echo $run_pkgs | wc -w) at run time, all in the archive"
else
  echo "SKIP part: apt's package lists are empty here (run apt-get update); package names not checked"
fi

# 4. the build stage's cmake configuration (tests off, a prebuilt dashboard)
html="$(dirname "$bin")/dashboard/index.html"
[[ -f "$html" ]] || fail "no dashboard bundle at $html (make build makes it)"
cmake -S "$root" -B "$work/b" -DCMAKE_BUILD_TYPE=Release -DECO_BUILD_TESTS=OFF \
  -DECO_DASHBOARD_HTML="$html" >"$work/cmake.log" 2>&1 || fail "cmake: $(tail -5 "$work/cmake.log")"
grep -q 'add_test\|test_' "$work/b/CTestTestfile.cmake" 2>/dev/null && fail "tests configured"
echo "build stage: cmake configures without tests"

# 5. the runtime stage provides every library the binary links
command -v readelf >/dev/null || { echo "SKIP part: readelf missing"; echo "PASS (partial)"; exit 0; }
command -v dpkg >/dev/null || { echo "SKIP part: dpkg missing"; echo "PASS (partial)"; exit 0; }
missing=""
while read -r lib; do
  path="$(ldd "$bin" | awk -v l="$lib" '$1==l{print $3}')"
  [[ -n "$path" ]] || fail "ldd does not resolve $lib"
  pkg="$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -1 | cut -d: -f1)"
  [[ -n "$pkg" ]] || pkg="$(dpkg -S "$path" 2>/dev/null | head -1 | cut -d: -f1)"
  case "$pkg" in libc6|libgcc-s1) continue ;; esac   # in every Debian image
  grep -qxF "$pkg" <<<"$run_pkgs" || missing+=" $lib($pkg)"
done < <(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
[[ -z "$missing" ]] || fail "the runtime stage lacks:$missing"
echo "runtime stage: every NEEDED library of ecoinfer comes from a package it installs"
echo "PASS: the container recipe checks out (without building the image)"
