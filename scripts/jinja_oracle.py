#!/usr/bin/env python3
"""Differential test of ecoinfer's Jinja interpreter against jinja2.

Renders every template given (files or folders of *.jinja) with a set of
conversations (system, multi-turn, empty, unicode, tool use, no messages),
each with add_generation_prompt true and false, once with jinja2 set up as
Hugging Face transformers sets it up for chat templates, and once with the
driver built from scripts/jinja_render.c; compares the outputs byte for byte.
When jinja2 raises, ecoinfer must fail too. A template jinja2 cannot compile
is reported and must not parse in ecoinfer either.

Usage: jinja_oracle.py DRIVER PATH... [--allow-fail NAME]
Prints one line per template and a summary 'N passed, N failed'; exits 1 on
any mismatch.
"""
import json
import os
import subprocess
import sys
import tempfile
from datetime import datetime, timezone

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

NOW = 1721952000  # 2024-07-26 00:00:00 UTC, rendered by strftime_now


class Generation(Extension):
    """transformers' AssistantTracker: {% generation %} renders its body."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


def strftime_now(fmt):
    return datetime.fromtimestamp(NOW, tz=timezone.utc).strftime(fmt)


def make_env():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[Generation, loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {"type": "object",
                       "properties": {"location": {"type": "string", "description": "City name"},
                                      "unit": {"type": "string", "enum": ["celsius", "fahrenheit"],
                                               "description": "Unit"}},
                       "required": ["location"]}}},
    {"type": "function", "function": {
        "name": "search",
        "description": "Search the web",
        "parameters": {"type": "object",
                       "properties": {"query": {"type": "string", "description": "Query"},
                                      "top_k": {"type": "integer", "description": "Results"}},
                       "required": ["query"]}}},
]

TOOL_CALL = {"id": "call_1", "type": "function",
             "function": {"name": "get_weather",
                          "arguments": {"location": "Paris", "unit": "celsius"}}}

SCENARIOS = [
    ("user", [{"role": "user", "content": "Hello, how are you?"}], None),
    ("system", [{"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": "What is the capital of France?"}], None),
    ("multi-turn", [{"role": "system", "content": "Answer briefly."},
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello! How can I help?"},
                    {"role": "user", "content": "Tell me a joke.\nA short one."}], None),
    ("assistant-last", [{"role": "user", "content": "2+2?"},
                        {"role": "assistant", "content": "4"}], None),
    ("empty-content", [{"role": "system", "content": ""},
                       {"role": "user", "content": ""}], None),
    ("unicode", [{"role": "user", "content": "\u3000 Ça va? 你好 👋🏽 naïve café\u00a0\u2003"},
                 {"role": "assistant", "content": " مرحبا Привет Ελληνικά "},
                 {"role": "user", "content": "ÉÀÜ ß İ ﬁ 😀\t"}], None),
    ("markup", [{"role": "user",
                 "content": "  {{ not a tag }} {% raw %} <b>&amp;</b> 'quotes' \"dq\" \\ \n\n  "}],
     None),
    ("tools", [{"role": "system", "content": "You can call tools."},
               {"role": "user", "content": "Weather in Paris?"}], TOOLS),
    ("tool-calls", [{"role": "user", "content": "Weather in Paris?"},
                    {"role": "assistant", "content": "", "tool_calls": [TOOL_CALL]},
                    {"role": "tool", "tool_call_id": "call_1", "name": "get_weather",
                     "content": "{\"temperature\": 21.5, \"unit\": \"celsius\"}"},
                    {"role": "user", "content": "Thanks!"}], TOOLS),
    ("tool-calls-null-content",
     [{"role": "user", "content": "Weather in Paris?"},
      {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]},
      {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "21.5 C"}],
     TOOLS),
    ("no-messages", [], None),
]


def contexts():
    out = []
    for name, msgs, tools in SCENARIOS:
        for agp in (True, False):
            ctx = {"messages": msgs, "add_generation_prompt": agp,
                   "bos_token": "<s>", "eos_token": "</s>"}
            if tools is not None:
                ctx["tools"] = tools
            out.append((f"{name}/agp={int(agp)}", ctx))
    return out


def jinja2_render(tmpl, ctx):
    try:
        return True, tmpl.render(**ctx)
    except Exception as e:  # noqa: BLE001 - any failure is a failure to render
        return False, f"{type(e).__name__}: {e}"


def check_template(driver, env, path, cases):
    with open(path, encoding="utf-8") as f:
        src = f.read()
    try:
        tmpl = env.from_string(src)
    except Exception as e:  # noqa: BLE001
        compiled = f"{type(e).__name__}: {e}"
    else:
        compiled = None
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump([c for _, c in cases], f)
        ctx_path = f.name
    try:
        proc = subprocess.run([driver, path, ctx_path, str(NOW)], capture_output=True,
                              timeout=120, check=False)
    finally:
        os.unlink(ctx_path)
    if proc.returncode != 0:
        return [f"driver failed: {proc.stderr.decode(errors='replace')}"], 0, 0
    res = json.loads(proc.stdout)
    if compiled is not None:  # then ecoinfer must not render it either
        if isinstance(res, dict) or not any(r["ok"] for r in res):
            return [], 0, len(cases)
        return [f"jinja2 cannot compile it ({compiled}) but ecoinfer renders it"], 0, 0
    if isinstance(res, dict):
        return [f"ecoinfer cannot parse it: {res['parse_error']}"], 0, 0
    problems, same, both_fail = [], 0, 0
    for (label, ctx), r in zip(cases, res):
        ok, want = jinja2_render(tmpl, ctx)
        if ok and r["ok"]:
            if r["out"] == want:
                same += 1
            else:
                got = r["out"]
                at = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]),
                          min(len(got), len(want)))
                a = max(0, at - 40)
                problems.append(f"{label}: output differs at character {at}\n"
                                f"    jinja2:   {want[a:at + 60]!r}\n"
                                f"    ecoinfer: {got[a:at + 60]!r}")
        elif ok:
            problems.append(f"{label}: ecoinfer failed: {r['err']}")
        elif r["ok"]:
            problems.append(f"{label}: jinja2 failed ({want}) but ecoinfer rendered")
        else:
            both_fail += 1
    return problems, same, both_fail


def main():
    args = sys.argv[1:]
    allow = set()
    while "--allow-fail" in args:
        i = args.index("--allow-fail")
        allow.add(args[i + 1])
        del args[i:i + 2]
    driver, paths = args[0], args[1:]
    files = []
    for p in paths:
        if os.path.isdir(p):
            files += sorted(os.path.join(p, f) for f in os.listdir(p) if f.endswith(".jinja"))
        else:
            files.append(p)
    env = make_env()
    cases = contexts()
    passed = failed = allowed = 0
    for path in files:
        name = os.path.basename(path)
        problems, same, both_fail = check_template(driver, env, path, cases)
        if not problems:
            passed += 1
            print(f"ok   {name}: {same} identical renders, {both_fail} failing in both")
        elif name in allow:
            allowed += 1
            print(f"KNOWN {name}: {len(problems)} difference(s) (allowed): {problems[0][:200]}")
        else:
            failed += 1
            print(f"FAIL {name}:")
            for pr in problems[:6]:
                print("    " + pr)
            if len(problems) > 6:
                print(f"    ... and {len(problems) - 6} more")
    print(f"jinja2 {jinja2.__version__}: {len(files)} templates, {len(cases)} contexts each")
    print(f"{passed} passed, {failed} failed, {allowed} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
