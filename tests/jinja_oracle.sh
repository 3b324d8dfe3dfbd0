#!/usr/bin/env bash
# Differential test of the Jinja interpreter (src/jinja) against python3-jinja2,
# set up as transformers sets it up for chat templates: the real templates in
# ../shared/templates, the feature templates in tests/fixtures/jinja and, when
# present, the templates in llama.cpp's source (scripts/fetch-llama-src.sh),
# each with 11 conversations x add_generation_prompt true/false, compared
# byte for byte (scripts/jinja_oracle.py). Exits 77 (skip) without jinja2.
set -u
here="$(cd "$(dirname "$0")/.." && pwd)"
shared="${2:-$here/../shared}"
py=""
for c in /usr/bin/python3 python3; do
  if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import jinja2' 2>/dev/null; then py="$c"; break; fi
done
[ -n "$py" ] || { echo "SKIP: no python3 with jinja2 (Debian package python3-jinja2)"; exit 77; }
cc="${CC:-cc}"
command -v "$cc" >/dev/null 2>&1 || { echo "SKIP: no C compiler"; exit 77; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# with ASan+UBSan where the compiler has them, so memory errors and undefined behaviour fail too
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
echo 'int main(void){return 0;}' >"$work/p.c"
"$cc" $san "$work/p.c" -o "$work/p" 2>/dev/null || san=""
# shellcheck disable=SC2086
"$cc" -std=c17 -D_GNU_SOURCE -O1 -g $san -I"$here/src" "$here/scripts/jinja_render.c" \
  "$here"/src/jinja/*.c "$here/src/util/status.c" "$here/src/util/strbuf.c" -ljansson -lm \
  -o "$work/render" || { echo "FAIL: driver does not build"; exit 1; }
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
dirs=("$here/tests/fixtures/jinja")
if [ -d "$shared/templates" ]; then
  dirs+=("$shared/templates")
else
  echo "SKIP (part): $shared/templates is absent; only the feature templates are compared"
fi
llama="${ECO_LLAMA_CPP_SRC:-${HOME:-/root}/.cache/ecoinfer/llama.cpp/src}/models/templates"
if [ ! -d "$llama" ] && [ -z "${ECO_NO_FETCH:-}" ] && [ -z "${ECO_LLAMA_CPP_SRC:-}" ]; then
  echo "llama.cpp's source is absent: fetching it (scripts/fetch-llama-src.sh)"
  "$here/scripts/fetch-llama-src.sh" >/dev/null || echo "fetch failed"
fi
if [ -d "$llama" ]; then
  dirs+=("$llama")
else
  echo "SKIP (part): llama.cpp's templates are unavailable ($llama: npm unreachable or ECO_NO_FETCH set)"
fi
"$py" "$here/scripts/jinja_oracle.py" "$work/render" "${dirs[@]}"
