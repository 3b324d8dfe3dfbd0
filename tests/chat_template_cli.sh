#!/usr/bin/env bash
# The model's own chat template, end to end: `serve` renders chats with it
# and says so in /v1/models ("renderer": "jinja"); a chat the template
# renders reaches the model. Uses SmolLM2's template (../shared/models).
#   tests/chat_template_cli.sh ECOINFER_BINARY SHARED_DIR
set -uo pipefail
bin="${1:?usage: $0 ECOINFER_BINARY SHARED_DIR}"
shared="${2:-}"
model="$shared/models/test-smollm2-2layer-q8_0.gguf"
[[ -f "$model" ]] || { echo "SKIP: shared model $model absent"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl not found"; exit 77; }
work="$(mktemp -d)"
pid=""
cleanup() { [[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; [[ -f "$work/server.log" ]] && tail -20 "$work/server.log"; exit 1; }

"$bin" serve -m "$model" --port 0 --port-file "$work/ports" --ledger "$work/receipts.db" \
  --log-level warn 2>"$work/server.log" &
pid=$!
for _ in $(seq 1 600); do [[ -s "$work/ports" ]] && break; sleep 0.05; done
[[ -s "$work/ports" ]] || fail "server did not start"
read -r port _ <"$work/ports"
models=$(curl -sf "http://127.0.0.1:$port/v1/models") || fail "GET /v1/models"
echo "$models" | grep -q '"renderer": *"jinja"' || fail "/v1/models does not say renderer jinja: $models"
echo "$models" | grep -q '"warning": *""' || fail "/v1/models has a template warning: $models"
out=$(curl -sf "http://127.0.0.1:$port/v1/chat/completions" -H 'content-type: application/json' \
  -d '{"model":"test-smollm2-2layer-q8_0.gguf","max_tokens":2,"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi \u00e9"}]}') \
  || fail "chat completion"
echo "$out" | grep -q '"prompt_tokens"' || fail "no usage in $out"
grep -qi "chat template" "$work/server.log" && fail "template warning in the log"
kill -TERM "$pid"; wait "$pid"; pid=""

# the same model with a template Jinja cannot read (endfor misspelt, same length):
# serve falls back to the ChatML family, warns once at load, and /v1/models says so
command -v python3 >/dev/null || { echo "SKIP (part): python3 not found for the broken-template copy"; exit 0; }
python3 - "$model" "$work/broken.gguf" <<'PY' || fail "cannot make the broken copy"
import sys
data = open(sys.argv[1], "rb").read()
assert data.count(b"endfor") >= 1
open(sys.argv[2], "wb").write(data.replace(b"endfor", b"endfxr"))
PY
rm -f "$work/ports"
"$bin" serve -m "$work/broken.gguf" --port 0 --port-file "$work/ports" --ledger "$work/receipts2.db" \
  --log-level warn 2>"$work/server.log" &
pid=$!
for _ in $(seq 1 600); do [[ -s "$work/ports" ]] && break; sleep 0.05; done
[[ -s "$work/ports" ]] || fail "server did not start with the broken template"
read -r port _ <"$work/ports"
models=$(curl -sf "http://127.0.0.1:$port/v1/models") || fail "GET /v1/models"
echo "$models" | grep -q '"renderer": *"chatml"' || fail "no chatml fallback in /v1/models: $models"
echo "$models" | grep -q 'chat template cannot be rendered (line [0-9]*, column [0-9]*: ' \
  || fail "no warning with a position in /v1/models: $models"
grep -q "chat template cannot be rendered" "$work/server.log" || fail "no warning in the log"
out=$(curl -sf "http://127.0.0.1:$port/v1/chat/completions" -H 'content-type: application/json' \
  -d '{"model":"broken.gguf","max_tokens":2,"messages":[{"role":"user","content":"Hi"}]}') \
  || fail "chat completion with the fallback"
kill -TERM "$pid"; wait "$pid"; pid=""

# doctor -m: the same facts before serving
d=$("$bin" doctor -m "$model") || fail "doctor -m on a good model exits non-zero"
echo "$d" | grep -q "renders with the Jinja interpreter" || fail "doctor: $d"
echo "$d" | grep -q "^verdict *runs with ecoinfer" || fail "doctor verdict: $d"
echo "$d" | grep -q "Q8_0 .* supported" || fail "doctor tensor types: $d"
d=$("$bin" doctor -m "$work/broken.gguf") || fail "doctor -m with a broken template exits non-zero"
echo "$d" | grep -q "DOES NOT RENDER: falls back to the chatml format" || fail "doctor broken: $d"
echo "$d" | grep -q "cannot be rendered (line [0-9]*, column [0-9]*" || fail "doctor broken reason: $d"
if command -v jq >/dev/null; then
  "$bin" doctor -m "$model" --json | jq -e '.runs and .chat_template.renderer == "jinja" and
    .kv_bytes_per_token.f32 > 0 and (.tensor_types | length) == 2' >/dev/null || fail "doctor --json"
fi
head -c 1000 "$model" >"$work/truncated.gguf"
"$bin" doctor -m "$work/truncated.gguf" >"$work/d.txt" 2>&1 && fail "doctor -m on a truncated file exits 0"
echo "ok: serve renders with the model's template (jinja), reports it in /v1/models, falls back with a warning; doctor -m says the same"
