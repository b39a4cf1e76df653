#!/usr/bin/env python3
"""caredesk flow lint and flow run, as a person uses them."""
import os
import subprocess
import sys
import tempfile

BIN = sys.argv[1]
SRC = os.environ.get("CAREDESK_SRC", ".")
PASSED = FAILED = 0


def check(name, ok, detail=""):
    global PASSED, FAILED
    PASSED += bool(ok)
    FAILED += not ok
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else " -- " + str(detail)[:400]))


flows = sorted(os.path.join(SRC, "flows", f) for f in os.listdir(os.path.join(SRC, "flows")))
r = subprocess.run([BIN, "flow", "lint"] + flows, capture_output=True, text=True)
check("the shipped workflows lint clean (exit 0)", r.returncode == 0, r.stdout + r.stderr)

broken = """{
  "id": "bypass", "version": 1, "client": "demo", "start": "ask",
  "nodes": [
    {"id": "ask", "kind": "ask", "type": "yes_no", "prompt": "Known caller?", "next": "d"},
    {"id": "d", "kind": "decide", "rules": [{"when": "answers.ask", "next": "done"}],
     "default": "verify"},
    {"id": "verify", "kind": "check", "required": true, "text": "Verify identity", "next": "done"},
    {"id": "done", "kind": "end", "outcome": "resolved"}
  ]
}
"""
with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
    f.write(broken)
r = subprocess.run([BIN, "flow", "lint", f.name], capture_output=True, text=True)
check("a workflow that skips a required check fails lint (exit 1)", r.returncode == 1, r)
check("the diagnostic names file:line:col and the bypassing path",
      f.name + ":" in r.stdout and "verify" in r.stdout and "ask -> d -> done" in r.stdout,
      r.stdout)

run = subprocess.run([BIN, "flow", "run", os.path.join(SRC, "flows", "internet_outage.json")],
                     input="no\n", capture_output=True, text=True, timeout=30)
check("flow run steps through a workflow to its end",
      run.returncode == 0 and "NOT_ACCOUNT_HOLDER" in run.stdout, run.stdout[-400:])
os.unlink(f.name)

with tempfile.TemporaryDirectory() as tmp:
    demo = subprocess.run([BIN, "demo", "--db", os.path.join(tmp, "d.db"), "--flows",
                           os.path.join(SRC, "flows"), "--key-file",
                           os.path.join(tmp, "demo.key")], capture_output=True, text=True,
                          timeout=120)
    check("the demo publishes the example workflows for their clients",
          demo.returncode == 0 and "%d workflow(s)" % len(flows) in demo.stdout,
          demo.stdout + demo.stderr)


def caller(wid, target):
    return ('{"id": "%s", "version": 1, "client": "demo", "start": "c", "nodes": [\n'
            '  {"id": "c", "kind": "call", "flow": "%s", "next": "e"},\n'
            '  {"id": "e", "kind": "end", "outcome": "resolved"}]}\n' % (wid, target))


with tempfile.TemporaryDirectory() as tmp:
    paths = {}
    for name, text in (("a", caller("a", "b")), ("b", caller("b", "a")), ("c", caller("c", "b")),
                       ("leaf", '{"id": "leaf", "version": 1, "client": "demo", "start": "e", "nodes": '
                                '[{"id": "e", "kind": "end", "outcome": "resolved"}]}')):
        paths[name] = os.path.join(tmp, name + ".json")
        with open(paths[name], "w") as f:
            f.write(text)
    r = subprocess.run([BIN, "flow", "lint", paths["c"]], capture_output=True, text=True)
    check("alone, a workflow's call target is not checked (exit 0)", r.returncode == 0, r)
    r = subprocess.run([BIN, "flow", "lint", paths["c"], paths["leaf"]], capture_output=True,
                       text=True)
    check("as a set, a call to a workflow not among the files is an error at the call node",
          r.returncode == 1 and paths["c"] + ":2:3: error: node 'c' calls workflow 'b'" in r.stdout,
          r.stdout + r.stderr)
    r = subprocess.run([BIN, "flow", "lint", paths["a"], paths["b"]], capture_output=True,
                       text=True)
    check("workflows calling each other in a cycle are an error, with the cycle",
          r.returncode == 1 and "cycle: a -> b -> a" in r.stdout, r.stdout + r.stderr)
    r = subprocess.run([BIN, "flow", "lint", paths["c"], paths["b"], paths["leaf"]],
                       capture_output=True, text=True)
    check("the cycle is found even when the set names a caller of it first",
          r.returncode == 1 and "calls workflow 'a'" in r.stdout, r.stdout)
print("%d passed, %d failed" % (PASSED, FAILED))
sys.exit(1 if FAILED else 0)
