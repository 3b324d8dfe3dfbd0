#!/usr/bin/env bash
# End-to-end: `ecoinfer run` on the shared models, `bench synth` + `run` on
# a synthetic model. Args: <ecoinfer binary> <shared dir>.
set -u
bin="$1"
shared="${2:-}"
m="$shared/models"
[ -f "$m/stories260K-f32.gguf" ] || { echo "SKIP: shared models absent"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# greedy story equals llama.cpp's reference text (shared/reference README; made with F32 caches)
out="$("$bin" run -m "$m/stories260K-f32.gguf" -p "Once upon a time" -n 64 --temp 0 -t 1 --kv-type f32)" || fail "run gguf"
echo "$out" | grep -q "^, there was a little girl named Lily. She loved to play outside in the park." || fail "story text: $out"
echo "$out" | tail -1 | grep -q "gen 64 tok" || fail "summary line: $(echo "$out" | tail -1)"
# the llama2.c checkpoint with its tokenizer gives the same text
out2="$("$bin" run -m "$m/stories260K.bin" --tokenizer "$m/tok512.bin" -p "Once upon a time" -n 64 --temp 0 -t 2)" || fail "run bin"
[ "$(echo "$out" | head -2)" = "$(echo "$out2" | head -2)" ] || fail "bin and gguf differ"
# --json summary, stop string, seed reproducibility
js="$("$bin" run -m "$m/stories260K-f32.gguf" -p "Once upon a time" -n 64 --temp 0 --stop "Lily" --json | tail -1)"
echo "$js" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["stop_reason"]=="stop", d; assert d["gen_tokens"]<64; assert d["kv_type"]=="f16", d' || fail "json/stop: $js"
a="$("$bin" run -m "$m/stories260K-f32.gguf" -p "Once" -n 20 --seed 7 --temp 1 | head -1)"
b="$("$bin" run -m "$m/stories260K-f32.gguf" -p "Once" -n 20 --seed 7 --temp 1 | head -1)"
[ "$a" = "$b" ] || fail "same seed, different text"
# context limit is a clear error
if "$bin" run -m "$m/stories260K-f32.gguf" -p "Once upon a time" --ctx 3 -n 4 2>"$work/err"; then fail "ctx limit accepted"; fi
grep -q "context length exceeded" "$work/err" || fail "ctx message: $(cat "$work/err")"
# the default F16 KV cache tells the same story (the references' margins are wide here)
out3="$("$bin" run -m "$m/stories260K-f32.gguf" -p "Once upon a time" -n 64 --temp 0 -t 1)" || fail "run default kv"
[ "$(echo "$out" | head -2)" = "$(echo "$out3" | head -2)" ] || fail "default (f16) KV story differs: $out3"
out4="$("$bin" run -m "$m/stories260K-f32.gguf" -p "Once upon a time" -n 64 --temp 0 -t 1 --kv-type f16)" || fail "run f16 kv"
[ "$(echo "$out4" | head -2)" = "$(echo "$out3" | head -2)" ] || fail "f16 KV story differs: $out4"
echo "$out3" | tail -1 | grep -q ", KV f16, " || fail "the default KV type is not f16: $(echo "$out3" | tail -1)"
echo "$out" | tail -1 | grep -q ", KV f32, " || fail "--kv-type f32 not in the summary: $(echo "$out" | tail -1)"
if "$bin" run -m "$m/stories260K-f32.gguf" -p x -n 1 --kv-type q8 2>"$work/err"; then fail "bad kv type accepted"; fi
grep -q "kv-type must be f32 or f16" "$work/err" || fail "kv-type message: $(cat "$work/err")"
# bench batch says which KV type it measured (f16 unless asked)
for kt in default f32; do
  opt=(); [ "$kt" = default ] || opt=(--kv-type "$kt")
  bj="$("$bin" bench batch -m "$m/stories260K-f32.gguf" --batch 1,2 --prompt 4 --gen 4 -t 1 --json "${opt[@]}")" || fail "bench batch $kt"
  want=$([ "$kt" = default ] && echo f16 || echo "$kt")
  echo "$bj" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["kv_type"]==sys.argv[1], d["kv_type"]; assert [p["batch"] for p in d["points"]]==[1,2]' "$want" || fail "bench batch json ($kt): $bj"
done
"$bin" bench batch -m "$m/stories260K-f32.gguf" --kv-type q8 2>"$work/err"
[ $? -eq 2 ] || fail "bench batch: bad --kv-type is not a usage error"
grep -q "kv-type must be f32 or f16" "$work/err" || fail "bench batch kv-type message: $(cat "$work/err")"
"$bin" serve -m "$m/stories260K-f32.gguf" --kv-type q8 --port 0 2>"$work/err"
[ $? -eq 2 ] || fail "serve: bad --kv-type is not a usage error"
grep -q "server.kv_type must be f32 or f16" "$work/err" || fail "serve kv_type message: $(cat "$work/err")"
# chat template (SmolLM2)
"$bin" run -m "$m/test-smollm2-2layer-q8_0.gguf" --chat -p "hi" -n 4 -t 1 >/dev/null || fail "chat"
# unsupported architecture is refused clearly
if "$bin" run -m "$m/ggml-vocab-gpt-2.gguf" -p x -n 1 2>"$work/err"; then fail "vocab-only accepted"; fi
grep -q "architecture 'gpt2' is not supported" "$work/err" || fail "arch message: $(cat "$work/err")"
# synthetic model: written, loadable, runs
"$bin" bench synth --shape smollm2-135m --type q4_k_m -o "$work/s.gguf" >/dev/null || fail "synth"
"$bin" run -m "$work/s.gguf" -p "hello" -n 4 -t 2 --temp 0 >/dev/null || fail "run synth"
if "$bin" bench synth --shape nope --type q8_0 -o "$work/x.gguf" 2>/dev/null; then fail "bad shape accepted"; fi
echo "engine_cli: ok"
