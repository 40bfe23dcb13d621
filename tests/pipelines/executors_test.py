#!/usr/bin/env python3
"""Tests of the two local executors themselves (tekton_run.py, kfp_run.py
and the kfp stand-in): each Tekton and KFP rule they implement, with small
Tasks, Pipelines and components run through /bin/sh and coreutils. TAP.
Every case would fail if the rule it names were not implemented.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
TEKTON = os.path.join(HERE, "tekton_run.py")
KFP = os.path.join(HERE, "kfp_run.py")
ROOT = tempfile.mkdtemp(prefix="mg-exec-", dir=os.environ.get("MG_TRASH"))
n = 0
bad = 0


def case(title):
    def deco(fn):
        global n, bad
        n += 1
        d = os.path.join(ROOT, str(n))
        os.makedirs(d)
        try:
            fn(d)
            print("ok %d - %s" % (n, title))
        except Exception as e:  # noqa: report and go on
            bad += 1
            print("not ok %d - %s" % (n, title))
            for line in str(e).splitlines()[-30:]:
                print("#   " + line)
        return fn
    return deco


def write(d, name, text):
    p = os.path.join(d, name)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "w") as f:
        f.write(textwrap.dedent(text))
    return p


def tekton(d, yaml_text, *extra, run=None, want=0):
    res = write(d, "res.yaml", yaml_text)
    cluster = os.path.join(d, "cluster")
    os.makedirs(cluster, exist_ok=True)
    argv = [sys.executable, TEKTON, "--resources", res, "--cluster", cluster,
            "--work", os.path.join(d, "work")] + list(extra)
    if run:
        argv.append(write(d, "run.yaml", run))
    p = subprocess.run(argv, capture_output=True, text=True)
    if p.returncode != want:
        raise AssertionError("exit %d, wanted %d\n%s%s" % (p.returncode, want,
                                                          p.stdout, p.stderr))
    rj = os.path.join(d, "work", "run.json")
    out = json.load(open(rj)) if os.path.exists(rj) else {}
    return out, p.stdout + p.stderr


def eq(a, b, what=""):
    if a != b:
        raise AssertionError("%s: %r != %r" % (what, a, b))


ECHO_TASK = """
    apiVersion: tekton.dev/v1
    kind: Task
    metadata: {name: echo}
    spec:
      params:
        - {name: a, default: task-default}
        - {name: list, type: array, default: []}
      results: [{name: out}]
      steps:
        - name: s
          image: x
          command: [sh, -c, 'printf "%s|" "$@" > "$0"', $(results.out.path)]
          args: [$(params.a), "$(params.list[*])"]
    ---
"""


@case("tekton: params come from the Task default, the pipeline task, the Pipeline default, then the run")
def _(d):
    y = ECHO_TASK + """
    apiVersion: tekton.dev/v1
    kind: Pipeline
    metadata: {name: p}
    spec:
      params: [{name: x, default: pipe-default}]
      tasks:
        - {name: t1, taskRef: {name: echo}}
        - name: t2
          taskRef: {name: echo}
          params: [{name: a, value: "x=$(params.x)"}]
    """
    out, _ = tekton(d, y, "--pipeline", "p")
    eq(out["tasks"]["t1"]["results"]["out"], "task-default|", "t1")
    eq(out["tasks"]["t2"]["results"]["out"], "x=pipe-default|", "t2")
    out, _ = tekton(d, y, "--pipeline", "p", "-p", "x=from-run")
    eq(out["tasks"]["t2"]["results"]["out"], "x=from-run|", "run param")


@case("tekton: $(params.x[*]) expands an array into separate arguments")
def _(d):
    y = ECHO_TASK + """
    apiVersion: tekton.dev/v1
    kind: Pipeline
    metadata: {name: p}
    spec:
      params: [{name: files, type: array, default: [a b, c]}]
      tasks:
        - name: t
          taskRef: {name: echo}
          params: [{name: list, value: "$(params.files[*])"}]
        - name: u
          taskRef: {name: echo}
          params: [{name: list, value: [one, "$(params.files[*])"]}]
    """
    out, _ = tekton(d, y, "--pipeline", "p")
    eq(out["tasks"]["t"]["results"]["out"], "task-default|a b|c|", "t")
    eq(out["tasks"]["u"]["results"]["out"], "task-default|one|a b|c|", "u")


@case("tekton: an array param used inside a string is refused, as the webhook does")
def _(d):
    y = """
    apiVersion: tekton.dev/v1
    kind: Task
    metadata: {name: t}
    spec:
      params: [{name: l, type: array}]
      steps: [{name: s, image: x, command: [echo], args: ["--x=$(params.l[*])"]}]
    """
    _, log = tekton(d, y, "--pipeline", "none", want=2)
    if "whole element" not in log:
        raise AssertionError(log)


@case("tekton: an unbound optional workspace gives path '' and bound 'false'")
def _(d):
    y = """
    apiVersion: tekton.dev/v1
    kind: Task
    metadata: {name: ws}
    spec:
      workspaces: [{name: opt, optional: true}, {name: req}]
      results: [{name: out}]
      steps:
        - name: s
          image: x
          command: [sh, -c, 'printf "[%s][%s][%s]" "$1" "$2" "$(cat "$3"/f)" > "$0"',
                    $(results.out.path), $(workspaces.opt.path),
                    $(workspaces.opt.bound), $(workspaces.req.path)]
    ---
    apiVersion: tekton.dev/v1
    kind: Pipeline
    metadata: {name: p}
    spec:
      workspaces: [{name: o, optional: true}, {name: r}]
      tasks:
        - name: t
          taskRef: {name: ws}
          workspaces: [{name: opt, workspace: o}, {name: req, workspace: r}]
    """
    os.makedirs(os.path.join(d, "cluster", "pvcs", "data"))
    write(d, "cluster/pvcs/data/f", "hello")
    out, _ = tekton(d, y, "--pipeline", "p", "-w", "r=pvc:data")
    eq(out["tasks"]["t"]["results"]["out"], "[][false][hello]", "unbound")
    out, _ = tekton(d, y, "--pipeline", "p", "-w", "r=pvc:data", "-w", "o=emptydir")
    r = out["tasks"]["t"]["results"]["out"]
    if not r.startswith("[/") or "][true][hello]" not in r:
        raise AssertionError(r)


@case("tekton: a result reference orders tasks and carries the value; runAfter orders")
def _(d):
    y = ECHO_TASK + """
    apiVersion: tekton.dev/v1
    kind: Task
    metadata: {name: slow}
    spec:
      workspaces: [{name: w}]
      steps:
        - name: s
          image: x
          command: [sh, -c, 'sleep 0.4; echo done > "$0"/mark', $(workspaces.w.path)]
    ---
    apiVersion: tekton.dev/v1
    kind: Task
    metadata: {name: check}
    spec:
      workspaces: [{name: w}]
      steps:
        - {name: s, image: x, command: [test, -f, $(workspaces.w.path)/mark]}
    ---
    apiVersion: tekton.dev/v1
    kind: Pipeline
    metadata: {name: p}
    spec:
      workspaces: [{name: w}]
      tasks:
        - name: second
          taskRef: {name: echo}
          params: [{name: a, value: "got $(tasks.first.results.out)"}]
        - {name: first, taskRef: {name: echo}, params: [{name: a, value: v1}]}
        - {name: slow, taskRef: {name: slow}, workspaces: [{name: w, workspace: w}]}
        - {name: check, runAfter: [slow], taskRef: {name: check},
           workspaces: [{name: w, workspace: w}]}
    """
    out, _ = tekton(d, y, "--pipeline", "p", "-w", "w=vct")
    eq(out["tasks"]["second"]["results"]["out"], "got v1||", "result")
    eq(out["tasks"]["check"]["status"], "Succeeded", "runAfter")


@case("tekton: a false when skips the task; runAfter dependents still run, result users are skipped")
def _(d):
    y = ECHO_TASK + """
    apiVersion: tekton.dev/v1
    kind: Pipeline
    metadata: {name: p}
    spec:
      params: [{name: go, default: "no"}]
      tasks:
        - name: guarded
          taskRef: {name: echo}
          when: [{input: $(params.go), operator: in, values: ["yes"]}]
        - {name: after, runAfter: [guarded], taskRef: {name: echo}}
        - name: user
          taskRef: {name: echo}
          params: [{name: a, value: $(tasks.guarded.results.out)}]
    """
    out, _ = tekton(d, y, "--pipeline", "p")
    eq(out["tasks"]["guarded"]["status"], "Skipped", "guarded")
    eq(out["tasks"]["after"]["status"], "Succeeded", "after")
    eq(out["tasks"]["user"]["status"], "Skipped", "user")
    out, _ = tekton(d, y, "--pipeline", "p", "-p", "go=yes")
    eq(out["tasks"]["user"]["status"], "Succeeded", "user runs")


@case("tekton: matrix fans out one TaskRun per value, at the same time; results are arrays")
def _(d):
    y = """
    apiVersion: tekton.dev/v1
    kind: Task
    metadata: {name: m}
    spec:
      params: [{name: v}]
      results: [{name: out}]
      steps:
        - {name: s, image: x, command: [sh, -c, 'sleep 0.5; printf "%s" "$1" > "$0"',
           $(results.out.path), $(params.v)]}
    ---
    apiVersion: tekton.dev/v1
    kind: Task
    metadata: {name: j}
    spec:
      params: [{name: all, type: array}]
      results: [{name: out}]
      steps:
        - {name: s, image: x, command: [sh, -c, 'printf "%s," "$@" > "$0"',
           $(results.out.path)], args: ["$(params.all[*])"]}
    ---
    apiVersion: tekton.dev/v1
    kind: Pipeline
    metadata: {name: p}
    spec:
      tasks:
        - name: fan
          taskRef: {name: m}
          matrix: {params: [{name: v, value: [a, b, c]}]}
        - name: join
          taskRef: {name: j}
          params: [{name: all, value: "$(tasks.fan.results.out[*])"}]
    """
    out, _ = tekton(d, y, "--pipeline", "p")
    eq(len(out["tasks"]["fan"]["taskruns"]), 3, "taskruns")
    eq(out["tasks"]["join"]["results"]["out"], "a,b,c,", "join")
    if out["seconds"] > 1.4:
        raise AssertionError("matrix ran one after another: %s s" % out["seconds"])


@case("tekton: secretKeyRef optional and missing leaves the variable unset; required and missing fails")
def _(d):
    y = """
    apiVersion: tekton.dev/v1
    kind: Task
    metadata: {name: e}
    spec:
      params: [{name: opt, default: "true"}]
      results: [{name: out}]
      steps:
        - name: s
          image: x
          env:
            - name: KEY
              valueFrom: {secretKeyRef: {name: sec, key: k, optional: true}}
            - name: OTHER
              valueFrom: {secretKeyRef: {name: other, key: k, optional: true}}
          command: [sh, -c, 'printf "[%s][%s]" "${KEY-unset}" "${OTHER-unset}" > "$0"',
                    $(results.out.path)]
    ---
    apiVersion: tekton.dev/v1
    kind: Task
    metadata: {name: r}
    spec:
      steps:
        - name: s
          image: x
          env: [{name: K, valueFrom: {secretKeyRef: {name: missing, key: k}}}]
          command: ["true"]
    ---
    apiVersion: tekton.dev/v1
    kind: Pipeline
    metadata: {name: p}
    spec:
      tasks: [{name: t, taskRef: {name: e}}]
    ---
    apiVersion: tekton.dev/v1
    kind: Pipeline
    metadata: {name: q}
    spec:
      tasks: [{name: t, taskRef: {name: r}}]
    """
    write(d, "cluster/secrets/sec/k", "s3cr3t")
    out, _ = tekton(d, y, "--pipeline", "p")
    eq(out["tasks"]["t"]["results"]["out"], "[s3cr3t][unset]", "env")
    out, _ = tekton(d, y, "--pipeline", "q", want=1)
    eq(out["tasks"]["t"]["reason"], "CreateContainerConfigError", "required")


@case("tekton: two PVCs in one TaskRun are refused; one claim with two subPaths is not")
def _(d):
    y = """
    apiVersion: tekton.dev/v1
    kind: Task
    metadata: {name: two}
    spec:
      workspaces: [{name: a}, {name: b}]
      steps:
        - {name: s, image: x, command: [sh, -c, 'echo x > "$0"/fa; echo y > "$1"/fb',
           $(workspaces.a.path), $(workspaces.b.path)]}
    ---
    apiVersion: tekton.dev/v1
    kind: Pipeline
    metadata: {name: p}
    spec:
      workspaces: [{name: one}, {name: other}]
      tasks:
        - name: same
          taskRef: {name: two}
          workspaces: [{name: a, workspace: one, subPath: records},
                       {name: b, workspace: one, subPath: models}]
        - name: mixed
          runAfter: [same]
          taskRef: {name: two}
          workspaces: [{name: a, workspace: one}, {name: b, workspace: other}]
    """
    os.makedirs(os.path.join(d, "cluster", "pvcs", "claim"))
    out, _ = tekton(d, y, "--pipeline", "p", "-w", "one=vct", "-w",
                    "other=pvc:claim", want=1)
    eq(out["tasks"]["same"]["status"], "Succeeded", "same claim")
    base = [x for x in os.listdir(os.path.join(d, "work", "pvc"))][0]
    for f in ("records/fa", "models/fb"):
        if not os.path.exists(os.path.join(d, "work", "pvc", base, f)):
            raise AssertionError("subPath file %s missing" % f)
    eq(out["tasks"]["mixed"]["reason"], "TaskRunValidationFailed", "mixed")
    eq(out["tasks"]["mixed"]["message"], "more than one PersistentVolumeClaim is bound", "msg")
    out, _ = tekton(d, y, "--pipeline", "p", "-w", "one=vct", "-w",
                    "other=pvc:claim", "--coschedule", "disabled")
    eq(out["status"], "Succeeded", "coschedule disabled")


@case("tekton: a failed step fails the run; later tasks do not start; missing params fail")
def _(d):
    y = ECHO_TASK + """
    apiVersion: tekton.dev/v1
    kind: Task
    metadata: {name: boom}
    spec:
      params: [{name: need}]
      steps: [{name: s, image: x, command: [sh, -c, 'exit 3']}]
    ---
    apiVersion: tekton.dev/v1
    kind: Pipeline
    metadata: {name: p}
    spec:
      tasks:
        - {name: b, taskRef: {name: boom}, params: [{name: need, value: x}]}
        - {name: later, runAfter: [b], taskRef: {name: echo}}
    ---
    apiVersion: tekton.dev/v1
    kind: Pipeline
    metadata: {name: q}
    spec:
      tasks: [{name: b, taskRef: {name: boom}}]
    """
    out, _ = tekton(d, y, "--pipeline", "p", want=1)
    eq(out["tasks"]["b"]["message"], "step 's' exited with code 3", "step")
    eq(out["tasks"]["later"]["status"], "NotRun", "later")
    out, _ = tekton(d, y, "--pipeline", "q", want=1)
    eq(out["tasks"]["b"]["message"], "missing parameters: need", "missing")


@case("tekton: unknown params, undeclared references and alpha fields are invalid")
def _(d):
    base = ECHO_TASK + """
    apiVersion: tekton.dev/v1
    kind: Pipeline
    metadata: {name: p}
    spec:
      tasks: [{name: t, taskRef: {name: echo}, params: [{name: nope, value: x}]}]
    """
    _, log = tekton(d, base, "--pipeline", "p", want=2)
    if "not declared by Task" not in log:
        raise AssertionError(log)
    y = """
    apiVersion: tekton.dev/v1
    kind: Task
    metadata: {name: t}
    spec:
      steps: [{name: s, image: x, command: [echo, $(params.ghost)]}]
    """
    _, log = tekton(d, y, "--pipeline", "p", want=2)
    if "undeclared param 'ghost'" not in log:
        raise AssertionError(log)
    y = """
    apiVersion: tekton.dev/v1
    kind: Task
    metadata: {name: t}
    spec:
      results: [{name: r}]
      steps: [{name: s, image: x, command: [echo], stdoutConfig: {path: $(results.r.path)}}]
    """
    _, log = tekton(d, y, "--pipeline", "p", want=2)
    if "alpha" not in log:
        raise AssertionError(log)


@case("tekton: secret volumes and workspaces are mounted by path; emptyDir is per TaskRun")
def _(d):
    y = """
    apiVersion: tekton.dev/v1
    kind: Task
    metadata: {name: v}
    spec:
      params: [{name: sec, default: creds}]
      workspaces: [{name: scratch}]
      results: [{name: out}]
      volumes: [{name: c, secret: {secretName: $(params.sec)}}]
      steps:
        - name: s
          image: x
          volumeMounts: [{name: c, mountPath: /etc/creds}]
          command: [sh, -c, 'cat "$1" > "$0"; ls "$2" >> "$0"; touch "$2"/mine',
                    $(results.out.path), /etc/creds/auth, $(workspaces.scratch.path)]
    ---
    apiVersion: tekton.dev/v1
    kind: Pipeline
    metadata: {name: p}
    spec:
      workspaces: [{name: s}]
      tasks:
        - {name: a, taskRef: {name: v}, workspaces: [{name: scratch, workspace: s}]}
        - {name: b, runAfter: [a], taskRef: {name: v},
           workspaces: [{name: scratch, workspace: s}]}
    """
    write(d, "cluster/secrets/creds/auth", "user:pw\n")
    out, _ = tekton(d, y, "--pipeline", "p", "-w", "s=emptydir")
    eq(out["tasks"]["b"]["results"]["out"], "user:pw\n", "emptyDir not shared")


def kfp(d, pipeline_py, components, *params, want=0, cache=None):
    for name, text in components.items():
        write(d, "components/" + name, text)
    pp = write(d, "pipeline.py", pipeline_py)
    cluster = os.path.join(d, "cluster")
    os.makedirs(os.path.join(cluster, "serviceaccount"), exist_ok=True)
    write(d, "cluster/serviceaccount/token", "sa-token")
    write(d, "cluster/serviceaccount/namespace", "ns")
    work = os.path.join(d, "work-%d" % len(os.listdir(d)))
    argv = [sys.executable, KFP, "--pipeline", pp, "--cluster", cluster,
            "--work", work, "--cache", cache or os.path.join(d, "cache")]
    for p in params:
        argv += ["-p", p]
    p = subprocess.run(argv, capture_output=True, text=True)
    if p.returncode != want:
        raise AssertionError("exit %d, wanted %d\n%s%s" % (p.returncode, want,
                                                          p.stdout, p.stderr))
    rj = os.path.join(work, "run.json")
    return (json.load(open(rj)) if os.path.exists(rj) else {}), p.stdout + p.stderr


WRITE_COMP = """
name: writer
inputs:
  - {name: text, type: String}
  - {name: extra, type: String, default: "def"}
outputs:
  - {name: doc, type: JSON}
  - {name: size, type: Integer}
implementation:
  container:
    image: x
    command: [sh, -c, 'printf "%s %s" "$0" "$1" > "$2"; printf 7 > "$3"',
              {inputValue: text}, {inputValue: extra}, {outputPath: doc},
              {outputPath: size}]
"""
READ_COMP = """
name: reader
inputs:
  - {name: doc, type: JSON}
  - {name: label, type: String}
outputs:
  - {name: out, type: JSON}
implementation:
  container:
    image: x
    command: [sh, -c, 'printf "%s:" "$1" > "$2"; cat "$0" >> "$2"; date +%s%N >> "$2"',
              {inputPath: doc}, {inputValue: label}, {outputPath: out}]
"""
PIPE = """
from pathlib import Path
from kfp import components, dsl
H = Path(__file__).parent / "components"
writer = components.load_component_from_file(H / "writer.yaml")
reader = components.load_component_from_file(H / "reader.yaml")

@dsl.pipeline(name="t")
def t(word: str, n: str = "2"):
    w = writer(text=word)
    r = reader(doc=w.outputs["doc"], label=f"{word}-{n}")
    %s
"""


@case("kfp: inputValue, inputPath and outputPath; artifacts pass as files; f-strings resolve")
def _(d):
    out, _ = kfp(d, PIPE % "", {"writer.yaml": WRITE_COMP, "reader.yaml": READ_COMP},
                 "word=hi")
    r = out["tasks"]["reader"]["outputs"]["out"]["path"]
    text = open(r).read()
    if not text.startswith("hi-2:hi def"):
        raise AssertionError(text)
    eq(out["tasks"]["writer"]["outputs"]["size"]["value"], 7, "output parameter")


@case("kfp: an artifact where a parameter is declared (or a constant for an artifact) does not compile")
def _(d):
    for bad in ('reader(doc="a string", label="x")',
                'reader(doc=w.outputs["doc"], label=w.outputs["doc"])',
                'reader(doc=w.outputs["size"], label="x")',
                'reader(w.outputs["doc"], label="x")',
                'reader(doc=w.outputs["doc"], label="x", nope=1)'):
        _, log = kfp(d, PIPE % bad, {"writer.yaml": WRITE_COMP,
                                     "reader.yaml": READ_COMP}, "word=hi", want=2)
        if "invalid" not in log:
            raise AssertionError(bad + ": " + log)
    bad_comp = READ_COMP.replace("{inputPath: doc}", "{inputValue: doc}")
    _, log = kfp(d, PIPE % "", {"writer.yaml": WRITE_COMP, "reader.yaml": bad_comp},
                 "word=hi", want=2)
    if "InputValuePlaceholder" not in log:
        raise AssertionError(log)


@case("kfp: caching reuses a task's outputs unless set_caching_options(False)")
def _(d):
    comps = {"writer.yaml": WRITE_COMP, "reader.yaml": READ_COMP}
    cache = os.path.join(d, "cache")
    a, _ = kfp(d, PIPE % "", comps, "word=hi", cache=cache)
    b, _ = kfp(d, PIPE % "", comps, "word=hi", cache=cache)
    eq(b["tasks"]["reader"]["status"], "Cached", "cached rerun")
    eq(open(a["tasks"]["reader"]["outputs"]["out"]["path"]).read(),
       open(b["tasks"]["reader"]["outputs"]["out"]["path"]).read(), "same output")
    c, _ = kfp(d, PIPE % "r.set_caching_options(False)", comps, "word=hi", cache=cache)
    eq(c["tasks"]["reader"]["status"], "Succeeded", "not cached")
    eq(c["tasks"]["writer"]["status"], "Cached", "writer still cached")


@case("kfp: secrets as env (missing: fails unless optional), the SA token path is mounted")
def _(d):
    comp = """
    name: env
    inputs: []
    outputs: [{name: out, type: String}]
    implementation:
      container:
        image: x
        command: [sh, -c, 'printf "%s|%s|" "${KEY-unset}" "${OPT-unset}" > "$1"; cat "$0" >> "$1"',
                  /var/run/secrets/kubernetes.io/serviceaccount/token, {outputPath: out}]
    """
    pipe = """
from pathlib import Path
from kfp import components, dsl, kubernetes
e = components.load_component_from_file(Path(__file__).parent / "components" / "env.yaml")

@dsl.pipeline(name="e")
def p():
    t = e()
    kubernetes.use_secret_as_env(t, secret_name="s", secret_key_to_env={"k": "KEY"})
    kubernetes.use_secret_as_env(t, secret_name="gone", secret_key_to_env={"k": "OPT"},
                                 optional=True)
"""
    write(d, "cluster/secrets/s/k", "v1")
    out, _ = kfp(d, pipe, {"env.yaml": comp})
    eq(out["tasks"]["env"]["outputs"]["out"]["value"], "v1|unset|sa-token", "env")
    shutil.rmtree(os.path.join(d, "cluster", "secrets", "s"))
    out, _ = kfp(d, pipe, {"env.yaml": comp}, want=1, cache=os.path.join(d, "c2"))
    if "not found" not in out["tasks"]["env"]["message"]:
        raise AssertionError(out["tasks"]["env"])


@case("kfp: an importer's artifact keeps its URI ({inputUri}); a failed task stops the run")
def _(d):
    comp = """
    name: uri
    inputs: [{name: data, type: Dataset}]
    outputs: [{name: out, type: String}]
    implementation:
      container:
        image: x
        command: [sh, -c, 'printf "%s" "$0" > "$1"; case "$0" in s3://*) ;; *) exit 4;; esac',
                  {inputUri: data}, {outputPath: out}]
    """
    pipe = """
from pathlib import Path
from kfp import components, dsl
u = components.load_component_from_file(Path(__file__).parent / "components" / "uri.yaml")

@dsl.pipeline(name="i")
def p(where: str):
    imp = dsl.importer(artifact_uri=where, artifact_class=dsl.Dataset)
    first = u(data=imp.output)
    u(data=imp.output).after(first)
"""
    out, _ = kfp(d, pipe, {"uri.yaml": comp}, "where=s3://b/prompts.jsonl")
    eq(out["tasks"]["uri"]["outputs"]["out"]["value"], "s3://b/prompts.jsonl", "uri")
    if out["tasks"]["uri-2"]["status"] not in ("Succeeded", "Cached"):
        raise AssertionError(out["tasks"]["uri-2"])
    out, _ = kfp(d, pipe, {"uri.yaml": comp}, "where=https://h/p.jsonl", want=1,
                 cache=os.path.join(d, "c2"))
    eq(out["tasks"]["uri"]["status"], "Failed", "failed")
    eq(out["tasks"]["uri-2"]["status"], "NotRun", "not run")


print("1..%d" % n)
if not bad:
    shutil.rmtree(ROOT, ignore_errors=True)
sys.exit(1 if bad else 0)
