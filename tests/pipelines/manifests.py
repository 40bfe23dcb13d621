"""Checks tekton/ and kfp/ against the built tools.

For every Tekton step and Kubeflow component: the command is one modelgate
program, every option it passes is one that program's --help documents, and
every $(params.x) / $(workspaces.x...) / {inputValue: x} refers to something
declared. Prints one TAP line per manifest. Reads only.
"""
import re
import subprocess
import sys
from pathlib import Path

import yaml

top = Path(sys.argv[1])
bindir = Path(sys.argv[2])
helps = {}


def help_of(tool):
    if tool not in helps:
        exe = bindir / tool
        if not exe.exists():
            helps[tool] = None
        else:
            out = subprocess.run([str(exe), "--help"], capture_output=True,
                                 text=True, check=False)
            helps[tool] = out.stdout
    return helps[tool]


def check_args(tool, args, problems):
    text = help_of(tool)
    if text is None:
        problems.append(f"'{tool}' is not a modelgate program")
        return
    for a in args:
        if isinstance(a, str) and a.startswith("--"):
            opt = a.split("=", 1)[0]
            if not re.search(re.escape(opt) + r"(?![\w-])", text):
                problems.append(f"{tool} has no option '{opt}'")


def tekton(doc, problems):
    spec = doc.get("spec", {})
    kind = doc.get("kind")
    params = {p["name"] for p in spec.get("params", [])}
    wss = {w["name"] for w in spec.get("workspaces", [])}
    text = yaml.safe_dump(spec)
    for ref in re.findall(r"\$\(params\.([\w-]+)", text):
        if ref not in params:
            problems.append(f"undeclared param '{ref}'")
    for ref in re.findall(r"\$\(workspaces\.([\w-]+)", text):
        if ref not in wss:
            problems.append(f"undeclared workspace '{ref}'")
    if kind == "Task":
        for step in spec.get("steps", []):
            cmd = step.get("command") or []
            if len(cmd) != 1:
                problems.append(f"step '{step.get('name')}' must run one program")
                continue
            if "script" in step:
                problems.append(f"step '{step.get('name')}' has a script")
            check_args(cmd[0], step.get("args", []), problems)
    elif kind == "Pipeline":
        for t in spec.get("tasks", []):
            ref = t.get("taskRef", {}).get("name", "")
            task = tasks_by_name.get(ref)
            if not task:
                problems.append(f"pipeline task '{t['name']}' uses unknown Task '{ref}'")
                continue
            tparams = {p["name"]: p for p in task["spec"].get("params", [])}
            given = {p["name"] for p in t.get("params", [])}
            given |= {p["name"] for p in t.get("matrix", {}).get("params", [])}
            for g in given:
                if g not in tparams:
                    problems.append(f"task '{t['name']}' passes unknown param '{g}'")
            for name, p in tparams.items():
                if "default" not in p and name not in given:
                    problems.append(f"task '{t['name']}' misses param '{name}'")
            twss = {w["name"]: w for w in task["spec"].get("workspaces", [])}
            bound = {w["name"] for w in t.get("workspaces", [])}
            for name, w in twss.items():
                if not w.get("optional") and name not in bound:
                    problems.append(f"task '{t['name']}' misses workspace '{name}'")


def kfp_component(doc, problems):
    impl = doc["implementation"]["container"]
    names = {i["name"] for i in doc.get("inputs", [])}
    names |= {o["name"] for o in doc.get("outputs", [])}
    args = impl.get("args", [])
    for a in args:
        if isinstance(a, dict):
            (k, v), = a.items()
            if v not in names:
                problems.append(f"{k} refers to undeclared '{v}'")
    cmd = impl.get("command") or []
    if len(cmd) != 1:
        problems.append("component must run one program")
    else:
        check_args(cmd[0], args, problems)


files = sorted((top / "tekton").rglob("*.yaml")) + \
    sorted((top / "kfp" / "components").glob("*.yaml"))
docs = {f: yaml.safe_load(f.read_text()) for f in files}
tasks_by_name = {d["metadata"]["name"]: d for d in docs.values()
                 if isinstance(d, dict) and d.get("kind") == "Task"}
n = 0
bad = 0
for f, doc in docs.items():
    problems = []
    if "kfp" in f.parts:
        kfp_component(doc, problems)
    elif doc.get("kind") in ("Task", "Pipeline"):
        tekton(doc, problems)
    elif doc.get("kind") == "PipelineRun":
        ref = doc["spec"]["pipelineRef"]["name"]
        if ref not in {d["metadata"]["name"] for d in docs.values()
                       if d.get("kind") == "Pipeline"}:
            problems.append(f"unknown pipeline '{ref}'")
    n += 1
    rel = f.relative_to(top)
    if problems:
        bad += 1
        print(f"not ok {n} - {rel}")
        for p in problems:
            print(f"#   {p}")
    else:
        print(f"ok {n} - {rel}")
print(f"1..{n}")
sys.exit(1 if bad else 0)
