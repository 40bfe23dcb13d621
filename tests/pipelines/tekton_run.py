#!/usr/bin/env python3
"""A local Tekton executor for modelgate's pipeline tests (test-only code).

It runs a Pipeline (or a PipelineRun) task by task, as Tekton Pipelines v1
would, with the built programs on the local machine instead of containers.
What it implements follows Tekton's documentation (pipelines.md, tasks.md,
variables.md, workspaces.md, matrix.md, affinityassistants.md):

  * Validation as the admission webhook does it, for what the shipped YAML
    uses: apiVersion tekton.dev/v1; param names unique; types string/array
    and defaults of that type; every $(params.x), $(workspaces.x.path|bound|
    claim|volume), $(results.x.path), $(context.*) and $(tasks.T.results.r)
    names something declared; an array param ($(params.x[*])) only as a
    whole element of command/args (and of a pipeline task's array param);
    runAfter names existing tasks, no cycles; alpha fields (stdoutConfig,
    stderrConfig) are refused, as a cluster without enable-api-fields:
    alpha refuses them.
  * Params: a Task's defaults, then the pipeline task's params (substituted
    with the Pipeline's params: its defaults, then the PipelineRun's), a
    missing value is a failure ("missing parameters"), an unknown param an
    error; a string where an array is declared (or the reverse) is refused.
  * Substitution (one pass, Tekton does not re-substitute values):
    $(params.x), $(params['x']), $(params.x[*]) (array: expands into
    separate arguments), $(params.x[i]); $(workspaces.x.path) (the mount
    path; "" when an optional workspace is unbound), $(workspaces.x.bound)
    ("true"/"false"), $(workspaces.x.claim), $(workspaces.x.volume);
    $(results.x.path); $(context.pipelineRun.name|namespace|uid),
    $(context.pipeline.name), $(context.taskRun.name|namespace|uid),
    $(context.task.name); $(tasks.T.results.r) and, for a matrixed T,
    $(tasks.T.results.r[*]); $(tasks.T.matrix.length).
  * Ordering: runAfter and result references; independent tasks run at the
    same time (threads), as they would in pods. When a task fails no new
    task starts; running ones finish.
  * when: {input, operator in|notin, values}; a task whose expressions are
    false is skipped, the tasks ordered after it still run, the ones that
    use its results are skipped too.
  * matrix: params (cartesian product) and include; one TaskRun per
    combination, in parallel; results become arrays.
  * Workspaces as directories. Bindings: volumeClaimTemplate (a new PVC per
    PipelineRun workspace), persistentVolumeClaim (claimName must exist in
    the cluster directory), emptyDir (one per TaskRun), configMap and
    secret (must exist unless optional; items honoured; read-only copies),
    subPath on the run's binding and on the pipeline task's (created as the
    kubelet creates it). A TaskRun that binds more than one PVC-backed
    workspace (two claims; a claim and a claim template) is refused with
    Tekton's message "more than one PersistentVolumeClaim is bound", as the
    default coschedule: workspaces does (--coschedule disabled turns it
    off). One claim bound twice with different subPaths is allowed.
  * Task volumes (secret, configMap, emptyDir; optional honoured) and step
    volumeMounts.
  * Steps run in order; the first failure fails the TaskRun. env values,
    valueFrom.secretKeyRef / configMapKeyRef (optional: true and a missing
    secret or key: the variable is not set; otherwise the TaskRun fails as
    the pod could not start). command with args, or script (a shebang, else
    sh). workingDir is created when missing.

Containers are emulated by path mapping: every path a container would see
(/workspace/<name> or a workspace's mountPath, volumeMounts, /tekton/results,
/tekton/home) is a directory under the work directory, and every argument,
env value and workingDir that starts with such a path is rewritten to the
directory (an argument "--x=/path" too). Steps get a clean environment:
PATH, HOME (/tekton/home), the --env given to the executor (e.g. the test
cluster's proxy) and their own env; nothing else of the caller's.

The "cluster" is a directory: secrets/<name>/<key>, configmaps/<name>/<key>,
pvcs/<claimName>/ (a PVC's content), serviceaccount/ (token, ca.crt and
namespace of the run's service account: a kubeconfig for it is written
and KUBECONFIG set, as in-cluster config would be).

Usage:
  tekton_run.py --resources DIR_OR_FILE... --cluster DIR --work DIR
                [--env K=V]... [--coschedule workspaces|disabled]
                [--timeout SEC] [--kube-server URL] [--name NAME]
                (RUN.yaml | --pipeline NAME [-p name=value]...
                 [-w name=SPEC]...)
  SPEC: pvc:CLAIM[:SUBPATH] | vct[:SUBPATH] | emptydir | configmap:NAME |
        secret:NAME
A -p value that starts with '[' is a JSON array. Writes WORK/run.json (the
PipelineRun's status: every task with its status, reason, results and
TaskRuns) and prints one line per TaskRun; exits 0 when the run
succeeded, 1 when it failed, 2 on a usage or validation error.
"""
import argparse
import copy
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid

import yaml

MAX_RESULT_BYTES = 4096
VAR = re.compile(r"\$\(([^()]*)\)")
NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class Invalid(Exception):
    """A validation error (what the webhook or the reconciler refuses)."""


class TaskRunFailed(Exception):
    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason
        self.message = message


# ---- loading ---------------------------------------------------------

def load_docs(paths):
    docs = []
    for p in paths:
        files = []
        if os.path.isdir(p):
            for base, _, names in os.walk(p):
                files += [os.path.join(base, n) for n in names
                          if n.endswith((".yaml", ".yml"))]
        else:
            files.append(p)
        for f in sorted(files):
            with open(f) as fh:
                for d in yaml.safe_load_all(fh):
                    if d:
                        d.setdefault("_file", f)
                        docs.append(d)
    return docs


def check_api(doc):
    if doc.get("apiVersion") != "tekton.dev/v1":
        raise Invalid("%s '%s': apiVersion must be tekton.dev/v1, not '%s'"
                      % (doc.get("kind"), name_of(doc), doc.get("apiVersion")))


def name_of(doc):
    return (doc.get("metadata") or {}).get("name", "")


# ---- variables -------------------------------------------------------

def parse_ref(expr):
    """Splits "params.x", "params['x']", "params.x[*]", "params.x[2]" into
    (kind, name, rest) with rest the remaining selector."""
    m = re.match(r"^params(?:\.([A-Za-z0-9_.-]+?)|\[['\"]([^'\"]+)['\"]\])"
                 r"(\[\*\]|\[\d+\])?$", expr)
    if m:
        return ("params", m.group(1) or m.group(2), m.group(3) or "")
    return None


def refs_in(s):
    return VAR.findall(s) if isinstance(s, str) else []


def walk_strings(obj, fn, path=""):
    if isinstance(obj, str):
        fn(obj, path)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            walk_strings(v, fn, "%s[%d]" % (path, i))
    elif isinstance(obj, dict):
        for k, v in obj.items():
            if k != "_file":
                walk_strings(v, fn, "%s.%s" % (path, k) if path else k)


class Subst:
    """One substitution context: strings for $(x) and arrays for
    $(x[*])."""

    def __init__(self):
        self.strings = {}
        self.arrays = {}

    def add_param(self, name, value):
        keys = ["params.%s" % name, "params['%s']" % name,
                'params["%s"]' % name]
        for k in keys:
            if isinstance(value, list):
                self.arrays[k + "[*]"] = value
                for i, v in enumerate(value):
                    self.strings["%s[%d]" % (k, i)] = v
            else:
                self.strings[k] = value

    def string(self, s, where):
        """Substitutes every $(...) in s that this context knows; an array
        reference inside a string is an error."""
        if not isinstance(s, str):
            return s

        def rep(m):
            key = m.group(1)
            if key in self.arrays:
                raise Invalid("%s: array '$(%s)' used inside a string '%s'"
                              " (it must be a whole element)" % (where, key, s))
            return self.strings.get(key, m.group(0))
        return VAR.sub(rep, s)

    def elements(self, items, where):
        """Substitutes a list of strings (command/args); an element that is
        exactly one array reference expands into its values."""
        out = []
        for it in items or []:
            m = VAR.fullmatch(it) if isinstance(it, str) else None
            if m and m.group(1) in self.arrays:
                out += [str(v) for v in self.arrays[m.group(1)]]
            else:
                out.append(self.string(it, where))
        return out


# ---- task validation -------------------------------------------------

def check_params_decl(params, where):
    seen = set()
    for p in params or []:
        n = p.get("name")
        if not n:
            raise Invalid("%s: a param without a name" % where)
        if n in seen:
            raise Invalid("%s: param '%s' declared twice" % (where, n))
        seen.add(n)
        t = p.get("type", "string")
        if t not in ("string", "array", "object"):
            raise Invalid("%s: param '%s' has unknown type '%s'" % (where, n, t))
        if "default" in p:
            d = p["default"]
            if (t == "array") != isinstance(d, list) or \
                    (t == "string" and not isinstance(d, str)):
                raise Invalid("%s: param '%s' of type %s has a default of "
                              "another type: %r" % (where, n, t, d))


def validate_task(task):
    check_api(task)
    spec = task.get("spec") or {}
    where = "Task '%s'" % name_of(task)
    check_params_decl(spec.get("params"), where)
    ptypes = {p["name"]: p.get("type", "string") for p in spec.get("params") or []}
    wss = {w["name"] for w in spec.get("workspaces") or []}
    results = {r["name"] for r in spec.get("results") or []}
    vols = {v["name"] for v in spec.get("volumes") or []}
    steps = spec.get("steps") or []
    if not steps:
        raise Invalid("%s: no steps" % where)
    names = set()
    for i, st in enumerate(steps):
        sn = st.get("name", "unnamed-%d" % i)
        if sn in names:
            raise Invalid("%s: step '%s' declared twice" % (where, sn))
        names.add(sn)
        for alpha in ("stdoutConfig", "stderrConfig"):
            if alpha in st:
                raise Invalid("%s: step '%s' uses %s, an alpha feature "
                              "(enable-api-fields: alpha)" % (where, sn, alpha))
        if not st.get("image"):
            raise Invalid("%s: step '%s' has no image" % (where, sn))
        if "script" in st and ("command" in st or "args" in st):
            raise Invalid("%s: step '%s' has script and command/args"
                          % (where, sn))
        for vm in st.get("volumeMounts") or []:
            if vm.get("name") not in vols:
                raise Invalid("%s: step '%s' mounts unknown volume '%s'"
                              % (where, sn, vm.get("name")))

    def check(s, path):
        for ref in refs_in(s):
            pr = parse_ref(ref)
            if pr:
                kind, n, sel = pr
                if n not in ptypes:
                    raise Invalid("%s: %s refers to undeclared param '%s'"
                                  % (where, path, n))
                if sel == "[*]" and ptypes[n] == "string":
                    raise Invalid("%s: %s uses string param '%s' as an array"
                                  % (where, path, n))
                if sel == "" and ptypes[n] == "array":
                    whole = path.endswith("]") and (".args[" in path or
                                                    ".command[" in path)
                    raise Invalid("%s: %s uses array param '%s' without [*]%s"
                                  % (where, path, n,
                                     "" if not whole else " as a string"))
                if sel == "[*]":
                    in_list = re.search(r"\.(args|command)\[\d+\]$", path)
                    if not in_list or s != "$(%s)" % ref:
                        raise Invalid("%s: %s: array param '%s' must be a "
                                      "whole element of command or args"
                                      % (where, path, n))
                continue
            m = re.match(r"^workspaces\.([^.]+)\.(path|bound|claim|volume)$", ref)
            if m:
                if m.group(1) not in wss:
                    raise Invalid("%s: %s refers to undeclared workspace '%s'"
                                  % (where, path, m.group(1)))
                continue
            m = re.match(r"^results(?:\.([^.\[]+)|\[['\"]([^'\"]+)['\"]\])\.path$", ref)
            if m:
                rn = m.group(1) or m.group(2)
                if rn not in results:
                    raise Invalid("%s: %s refers to undeclared result '%s'"
                                  % (where, path, rn))
                continue
            if ref in ("context.taskRun.name", "context.taskRun.namespace",
                       "context.taskRun.uid", "context.task.name",
                       "context.task.retry-count"):
                continue
            if re.match(r"^(params|workspaces|results|context|tasks|steps)[.\[]", ref):
                raise Invalid("%s: %s: unknown variable '$(%s)'" % (where, path, ref))
    walk_strings(spec.get("steps"), check, "spec.steps")
    walk_strings(spec.get("volumes"), check, "spec.volumes")


# ---- pipeline validation --------------------------------------------

def task_refs(pt):
    """Names of tasks whose results pt uses."""
    out = set()

    def f(s, _):
        for ref in refs_in(s):
            m = re.match(r"^tasks\.([^.]+)\.(results|matrix)\.", ref)
            if m:
                out.add(m.group(1))
    walk_strings(pt.get("params"), f)
    walk_strings(pt.get("matrix"), f)
    walk_strings(pt.get("when"), f)
    walk_strings(pt.get("workspaces"), f)
    return out


def validate_pipeline(pipe, tasks):
    check_api(pipe)
    spec = pipe.get("spec") or {}
    where = "Pipeline '%s'" % name_of(pipe)
    check_params_decl(spec.get("params"), where)
    ptypes = {p["name"]: p.get("type", "string") for p in spec.get("params") or []}
    wss = {w["name"] for w in spec.get("workspaces") or []}
    pts = spec.get("tasks") or []
    names = [t.get("name") for t in pts]
    for n in names:
        if not n or not NAME_RE.match(n):
            raise Invalid("%s: invalid task name '%s'" % (where, n))
        if names.count(n) > 1:
            raise Invalid("%s: task '%s' declared twice" % (where, n))
    by_name = {t["name"]: t for t in pts}
    for t in pts:
        tw = "%s task '%s'" % (where, t["name"])
        ref = (t.get("taskRef") or {}).get("name")
        task = tasks.get(ref) if ref else None
        if t.get("taskSpec"):
            task = {"apiVersion": "tekton.dev/v1", "kind": "Task",
                    "metadata": {"name": t["name"]}, "spec": t["taskSpec"]}
            validate_task(task)
        if not task:
            raise Invalid("%s: Task '%s' not found" % (tw, ref))
        for ra in t.get("runAfter") or []:
            if ra not in by_name:
                raise Invalid("%s: runAfter names unknown task '%s'" % (tw, ra))
        tspec = task["spec"]
        tparams = {p["name"]: p for p in tspec.get("params") or []}
        given = [p["name"] for p in t.get("params") or []]
        mgiven = [p["name"] for p in (t.get("matrix") or {}).get("params") or []]
        for g in given + mgiven:
            if g not in tparams:
                raise Invalid("%s: param '%s' is not declared by Task '%s'"
                              % (tw, g, name_of(task)))
            if (given + mgiven).count(g) > 1:
                raise Invalid("%s: param '%s' given twice" % (tw, g))
        for p in t.get("params") or []:
            want = tparams[p["name"]].get("type", "string")
            v = p.get("value")
            if want == "string" and isinstance(v, list):
                raise Invalid("%s: param '%s' is a string; an array was given"
                              % (tw, p["name"]))
            if want == "array" and isinstance(v, str) and \
                    not re.fullmatch(r"\$\([^()]*\[\*\]\)", v):
                raise Invalid("%s: param '%s' is an array; a string was given"
                              % (tw, p["name"]))
        for p in mgiven:
            if tparams[p].get("type", "string") != "string":
                raise Invalid("%s: matrix param '%s' must be a string param"
                              % (tw, p))
        twss = {w["name"]: w for w in tspec.get("workspaces") or []}
        for w in t.get("workspaces") or []:
            if w["name"] not in twss:
                raise Invalid("%s: workspace '%s' is not declared by Task '%s'"
                              % (tw, w["name"], name_of(task)))
            if w.get("workspace") and w["workspace"] not in wss:
                raise Invalid("%s: binds undeclared pipeline workspace '%s'"
                              % (tw, w["workspace"]))
        for tn in task_refs(t):
            if tn not in by_name:
                raise Invalid("%s: uses results of unknown task '%s'" % (tw, tn))
        for w in t.get("when") or []:
            if w.get("operator") not in ("in", "notin"):
                raise Invalid("%s: when operator '%s'" % (tw, w.get("operator")))
            if not isinstance(w.get("values"), list) or not w["values"]:
                raise Invalid("%s: when needs a non-empty values list" % tw)

        def check(s, path, tw=tw):
            for r in refs_in(s):
                pr = parse_ref(r)
                if pr:
                    if pr[1] not in ptypes:
                        raise Invalid("%s: %s refers to undeclared param '%s'"
                                      % (tw, path, pr[1]))
                    if pr[2] == "[*]" and ptypes[pr[1]] != "array":
                        raise Invalid("%s: %s uses string param '%s' as an "
                                      "array" % (tw, path, pr[1]))
                    if pr[2] == "" and ptypes[pr[1]] == "array":
                        raise Invalid("%s: %s uses array param '%s' without"
                                      " [*]" % (tw, path, pr[1]))
                    continue
                m = re.match(r"^workspaces\.([^.]+)\.bound$", r)
                if m:
                    if m.group(1) not in wss:
                        raise Invalid("%s: %s refers to undeclared workspace"
                                      " '%s'" % (tw, path, m.group(1)))
                    continue
                m = re.match(r"^tasks\.([^.]+)\.results\.([^.\[]+)(\[\*\]|\[\d+\])?$", r)
                if m:
                    other = by_name.get(m.group(1))
                    otask = tasks.get((other.get("taskRef") or {}).get("name")) \
                        if other else None
                    if other and other.get("taskSpec"):
                        otask = {"spec": other["taskSpec"]}
                    rs = {x["name"] for x in
                          ((otask or {}).get("spec") or {}).get("results") or []}
                    if m.group(2) not in rs:
                        raise Invalid("%s: %s refers to result '%s' that task "
                                      "'%s' does not declare"
                                      % (tw, path, m.group(2), m.group(1)))
                    continue
                if re.match(r"^tasks\.[^.]+\.matrix\.length$", r):
                    continue
                if r in ("context.pipelineRun.name", "context.pipelineRun.namespace",
                         "context.pipelineRun.uid", "context.pipeline.name",
                         "context.pipelineTask.retries"):
                    continue
                if re.match(r"^(params|workspaces|results|context|tasks)[.\[]", r):
                    raise Invalid("%s: %s: unknown variable '$(%s)'" % (tw, path, r))
        walk_strings(t.get("params"), check, "params")
        walk_strings(t.get("matrix"), check, "matrix")
        walk_strings(t.get("when"), check, "when")
        walk_strings(t.get("workspaces"), check, "workspaces")
    # cycles
    deps = {t["name"]: set(t.get("runAfter") or []) | task_refs(t) for t in pts}
    state = {}

    def visit(n, stack):
        if state.get(n) == 1:
            raise Invalid("%s: cycle through %s" % (where, " -> ".join(stack + [n])))
        if state.get(n) == 2:
            return
        state[n] = 1
        for d in deps[n]:
            visit(d, stack + [n])
        state[n] = 2
    for n in deps:
        visit(n, [])
    return deps


# ---- the cluster -----------------------------------------------------

class Cluster:
    def __init__(self, root, work, namespace):
        self.root = root
        self.work = work
        self.namespace = namespace
        self.lock = threading.Lock()
        self.vct = {}

    def secret(self, name):
        d = os.path.join(self.root, "secrets", name)
        return d if os.path.isdir(d) else None

    def configmap(self, name):
        d = os.path.join(self.root, "configmaps", name)
        return d if os.path.isdir(d) else None

    def pvc(self, name):
        d = os.path.join(self.root, "pvcs", name)
        return d if os.path.isdir(d) else None

    def new_dir(self, *parts):
        d = os.path.join(self.work, *parts)
        os.makedirs(d, exist_ok=True)
        return d


def copy_keys(src, dst, items, what, name):
    """A configMap/secret volume: each key a file (items map key -> path)."""
    os.makedirs(dst, exist_ok=True)
    if items:
        for it in items:
            s = os.path.join(src, it["key"])
            if not os.path.isfile(s):
                raise TaskRunFailed("CreateContainerConfigError",
                                    "%s '%s' has no key '%s'" % (what, name, it["key"]))
            d = os.path.join(dst, it["path"])
            os.makedirs(os.path.dirname(d), exist_ok=True)
            shutil.copyfile(s, d)
    else:
        for k in os.listdir(src):
            if os.path.isfile(os.path.join(src, k)):
                shutil.copyfile(os.path.join(src, k), os.path.join(dst, k))
    for base, dirs, files in os.walk(dst):
        for f in files:
            os.chmod(os.path.join(base, f), 0o444)


class Binding:
    """A resolved workspace binding: where it is, and the PVC behind it."""

    def __init__(self, path, pvc=None, kind="", volume=""):
        self.path = path
        self.pvc = pvc
        self.kind = kind
        self.volume = volume


def resolve_run_binding(cluster, runname, b):
    """A PipelineRun workspace binding -> (base dir, pvc id, kind)."""
    if "persistentVolumeClaim" in b:
        claim = b["persistentVolumeClaim"].get("claimName")
        d = cluster.pvc(claim)
        if not d:
            raise Invalid("workspace '%s': PersistentVolumeClaim '%s' not "
                          "found" % (b["name"], claim))
        return d, "pvc/" + claim, "pvc"
    if "volumeClaimTemplate" in b:
        with cluster.lock:
            key = b["name"]
            if key not in cluster.vct:
                cluster.vct[key] = cluster.new_dir("pvc", "pvc-%s-%s" % (runname, key))
        return cluster.vct[key], "vct/" + b["name"], "pvc"
    if "emptyDir" in b:
        return None, None, "emptyDir"
    if "configMap" in b:
        return None, None, "configMap"
    if "secret" in b:
        return None, None, "secret"
    raise Invalid("workspace '%s': unsupported volume source %s"
                  % (b["name"], sorted(k for k in b if k != "name")))


def materialize(cluster, trdir, wsname, b, base, kind, subpath):
    """The directory a TaskRun sees for a binding."""
    if kind == "pvc":
        d = os.path.normpath(os.path.join(base, b.get("subPath", "") or "",
                                          subpath or ""))
        if not (d + "/").startswith(os.path.normpath(base) + "/"):
            raise Invalid("workspace '%s': subPath leaves the volume" % wsname)
        os.makedirs(d, exist_ok=True)
        return d
    if kind == "emptyDir":
        return cluster.new_dir(trdir, "emptydir", wsname)
    if kind in ("configMap", "secret"):
        src_spec = b[kind]
        name = src_spec.get("name") or src_spec.get("secretName")
        src = cluster.configmap(name) if kind == "configMap" else cluster.secret(name)
        d = cluster.new_dir(trdir, kind.lower(), wsname)
        if not src:
            if src_spec.get("optional"):
                return d
            raise TaskRunFailed("CreateContainerConfigError",
                                "%s '%s' not found" % (kind, name))
        copy_keys(src, d, src_spec.get("items"), kind, name)
        if subpath or b.get("subPath"):
            d = os.path.join(d, b.get("subPath", "") or "", subpath or "")
        return d
    raise Invalid("unsupported binding kind %s" % kind)


# ---- running a TaskRun ----------------------------------------------

class TaskRun:
    def __init__(self, ex, name, task, params, bindings, labels):
        self.ex = ex
        self.name = name
        self.task = task
        self.params = params          # name -> str | list (given)
        self.bindings = bindings      # task ws name -> Binding (or None)
        self.labels = labels
        self.status = "Pending"
        self.reason = ""
        self.message = ""
        self.results = {}
        self.dir = os.path.join(ex.cluster.work, "taskruns", name)
        self.log = os.path.join(self.dir, "log")

    def fail(self, reason, message):
        raise TaskRunFailed(reason, message)

    def run(self):
        os.makedirs(self.dir, exist_ok=True)
        try:
            self._run()
            self.status = "Succeeded"
        except TaskRunFailed as e:
            self.status = "Failed"
            self.reason = e.reason
            self.message = e.message
        except Invalid as e:
            self.status = "Failed"
            self.reason = "TaskRunValidationFailed"
            self.message = str(e)
        return self

    def _run(self):
        spec = self.task["spec"]
        tname = name_of(self.task)
        # params
        values = {}
        decl = {p["name"]: p for p in spec.get("params") or []}
        for n, p in decl.items():
            if n in self.params:
                v = self.params[n]
            elif "default" in p:
                v = p["default"]
            else:
                continue
            want = p.get("type", "string")
            if want == "array" and not isinstance(v, list):
                self.fail("ParameterTypeMismatch", "param '%s' of Task '%s' is "
                          "an array; got %r" % (n, tname, v))
            if want == "string" and not isinstance(v, str):
                self.fail("ParameterTypeMismatch", "param '%s' of Task '%s' is "
                          "a string; got %r" % (n, tname, v))
            values[n] = v
        missing = sorted(set(decl) - set(values))
        if missing:
            self.fail("TaskRunValidationFailed", "missing parameters: %s"
                      % ", ".join(missing))
        # workspaces
        if self.ex.coschedule == "workspaces":
            pvcs = {b.pvc for b in self.bindings.values() if b and b.pvc}
            if len(pvcs) > 1:
                self.fail("TaskRunValidationFailed",
                          "more than one PersistentVolumeClaim is bound")
        mounts = []                   # (container path, host dir)
        s = Subst()
        for n, v in values.items():
            s.add_param(n, v)
        for w in spec.get("workspaces") or []:
            b = self.bindings.get(w["name"])
            if not b and not w.get("optional"):
                self.fail("TaskRunValidationFailed", "workspace '%s' of Task "
                          "'%s' is not bound" % (w["name"], tname))
            cpath = w.get("mountPath") or "/workspace/%s" % w["name"]
            s.strings["workspaces.%s.path" % w["name"]] = cpath if b else ""
            s.strings["workspaces.%s.bound" % w["name"]] = "true" if b else "false"
            s.strings["workspaces.%s.claim" % w["name"]] = \
                (b.pvc.split("/", 1)[1] if b and b.pvc else "")
            s.strings["workspaces.%s.volume" % w["name"]] = \
                ("ws-%s" % w["name"]) if b else ""
            if b:
                mounts.append((cpath, b.path))
        resdir = os.path.join(self.dir, "results")
        os.makedirs(resdir, exist_ok=True)
        mounts.append(("/tekton/results", resdir))
        home = os.path.join(self.dir, "home")
        os.makedirs(home, exist_ok=True)
        mounts.append(("/tekton/home", home))
        for r in spec.get("results") or []:
            p = "/tekton/results/%s" % r["name"]
            for k in ("results.%s.path", "results['%s'].path",
                      'results["%s"].path'):
                s.strings[k % r["name"]] = p
        s.strings["context.taskRun.name"] = self.name
        s.strings["context.taskRun.namespace"] = self.ex.cluster.namespace
        s.strings["context.taskRun.uid"] = str(uuid.uuid5(uuid.NAMESPACE_DNS, self.name))
        s.strings["context.task.name"] = tname
        s.strings["context.task.retry-count"] = "0"
        # task volumes
        vols = {}
        for v in spec.get("volumes") or []:
            v = json.loads(json.dumps(v))
            for key in ("secret", "configMap"):
                if key in v:
                    src = v[key]
                    nm_key = "secretName" if key == "secret" else "name"
                    src[nm_key] = s.string(src.get(nm_key, ""), "volume")
                    d = os.path.join(self.dir, "volumes", v["name"])
                    found = (self.ex.cluster.secret(src[nm_key]) if key == "secret"
                             else self.ex.cluster.configmap(src[nm_key]))
                    if not found:
                        if not src.get("optional"):
                            self.fail("CreateContainerConfigError",
                                      "%s '%s' not found" % (key, src[nm_key]))
                        os.makedirs(d, exist_ok=True)
                    else:
                        copy_keys(found, d, src.get("items"), key, src[nm_key])
                    vols[v["name"]] = d
            if "emptyDir" in v:
                vols[v["name"]] = self.ex.cluster.new_dir(self.dir, "volumes", v["name"])
            if v["name"] not in vols:
                raise Invalid("volume '%s': unsupported source" % v["name"])
        steps = spec.get("steps") or []
        with open(self.log, "w") as log:
            for i, st in enumerate(steps):
                self._step(i, st, s, mounts, vols, home, log)
        # results
        total = 0
        for r in spec.get("results") or []:
            f = os.path.join(resdir, r["name"])
            if os.path.exists(f):
                data = open(f, "rb").read()
                total += len(data)
                self.results[r["name"]] = data.decode()
        if total > MAX_RESULT_BYTES:
            self.fail("TaskRunResultLargerThanAllowedLimit",
                      "results are %d bytes, more than %d" % (total, MAX_RESULT_BYTES))

    def _step(self, i, st, s, mounts, vols, home, log):
        sname = st.get("name", "unnamed-%d" % i)
        where = "step '%s'" % sname
        smounts = list(mounts)
        for vm in st.get("volumeMounts") or []:
            smounts.append((s.string(vm["mountPath"], where),
                            os.path.join(vols[vm["name"]], vm.get("subPath", ""))))
        smounts.sort(key=lambda m: -len(m[0]))

        def host(p):
            if not isinstance(p, str):
                return p
            m = re.match(r"^(--?[A-Za-z0-9-]+=)(/.*)$", p)
            head, body = (m.group(1), m.group(2)) if m else ("", p)
            for cpath, hpath in smounts:
                if body == cpath or body.startswith(cpath.rstrip("/") + "/"):
                    return head + hpath + body[len(cpath.rstrip("/")):]
            return p
        env = {"PATH": self.ex.path, "HOME": home}
        env.update(self.ex.env)
        if self.ex.kubeconfig:
            env["KUBECONFIG"] = self.ex.kubeconfig
        for e in st.get("env") or []:
            n = e["name"]
            if "value" in e:
                env[n] = host(s.string(str(e["value"]), where))
            elif "valueFrom" in e:
                vf = e["valueFrom"]
                for key, getter, what in (("secretKeyRef", self.ex.cluster.secret, "secret"),
                                          ("configMapKeyRef", self.ex.cluster.configmap,
                                           "configmap")):
                    if key in vf:
                        ref = vf[key]
                        rn = s.string(ref.get("name", ""), where)
                        rk = s.string(ref.get("key", ""), where)
                        d = getter(rn)
                        f = os.path.join(d, rk) if d else None
                        if f and os.path.isfile(f):
                            env[n] = open(f).read()
                        elif not ref.get("optional"):
                            self.fail("CreateContainerConfigError",
                                      "%s: %s '%s' (key '%s') not found"
                                      % (where, what, rn, rk))
            else:
                env[n] = ""
        wd = host(s.string(st.get("workingDir", ""), where)) or \
            os.path.join(self.dir, "wd")
        os.makedirs(wd, exist_ok=True)
        if "script" in st:
            body = s.string(st["script"], where)
            sf = os.path.join(self.dir, "script-%s" % sname)
            with open(sf, "w") as f:
                f.write(body if body.startswith("#!") else "#!/bin/sh\nset -e\n" + body)
            os.chmod(sf, 0o755)
            argv = [sf]
        else:
            argv = s.elements(st.get("command") or [], where) + \
                s.elements(st.get("args") or [], where)
            if not argv:
                raise Invalid("%s has no command (the executor cannot use an "
                              "image's entrypoint)" % where)
            left = [a for a in argv if re.search(
                r"\$\((params|workspaces|results|context|tasks)[.\[]", a)]
            if left:
                raise Invalid("%s: unresolved variable in %r" % (where, left))
            argv = [host(a) for a in argv]
        log.write("## step %s: %s\n" % (sname, " ".join(argv)))
        log.flush()
        self.ex.steps.append({"taskrun": self.name, "step": sname,
                              "argv": argv, "env": sorted(env), "cwd": wd})
        try:
            rc = subprocess.call(argv, cwd=wd, env=env, stdout=log, stderr=log,
                                 stdin=subprocess.DEVNULL,
                                 timeout=self.ex.timeout)
        except FileNotFoundError:
            self.fail("Failed", "%s: executable '%s' not found" % (where, argv[0]))
        except subprocess.TimeoutExpired:
            self.fail("TaskRunTimeout", "%s: timed out after %s s"
                      % (where, self.ex.timeout))
        log.write("## step %s exited %d\n" % (sname, rc))
        if rc != 0:
            self.fail("Failed", "%s exited with code %d" % (where, rc))


# ---- running a PipelineRun ------------------------------------------

class Executor:
    def __init__(self, args, docs):
        self.docs = docs
        self.tasks = {}
        self.pipelines = {}
        for d in docs:
            if d.get("kind") == "Task":
                self.tasks[name_of(d)] = d
            elif d.get("kind") == "Pipeline":
                self.pipelines[name_of(d)] = d
        for t in self.tasks.values():
            validate_task(t)
        self.cluster = Cluster(os.path.abspath(args.cluster),
                               os.path.abspath(args.work), args.namespace)
        self.env = dict(e.split("=", 1) for e in args.env)
        self.path = args.path or os.environ.get("PATH", "/usr/bin:/bin")
        self.coschedule = args.coschedule
        self.timeout = args.timeout
        self.steps = []
        self.kubeconfig = None
        sa = os.path.join(self.cluster.root, "serviceaccount")
        if args.kube_server and os.path.isdir(sa):
            self.kubeconfig = os.path.join(self.cluster.work, "kubeconfig")
            ns = open(os.path.join(sa, "namespace")).read().strip() \
                if os.path.exists(os.path.join(sa, "namespace")) else args.namespace
            with open(self.kubeconfig, "w") as f:
                yaml.safe_dump({
                    "apiVersion": "v1", "kind": "Config",
                    "clusters": [{"name": "in-cluster", "cluster": {
                        "server": args.kube_server,
                        "certificate-authority": os.path.join(sa, "ca.crt")}}],
                    "users": [{"name": "sa", "user": {
                        "tokenFile": os.path.join(sa, "token")}}],
                    "contexts": [{"name": "in-cluster", "context": {
                        "cluster": "in-cluster", "user": "sa", "namespace": ns}}],
                    "current-context": "in-cluster"}, f)

    def run(self, prun):
        check_api(prun)
        spec = prun.get("spec") or {}
        md = prun.get("metadata") or {}
        runname = md.get("name") or (md.get("generateName", "run-") +
                                     uuid.uuid4().hex[:5])
        if spec.get("pipelineRef"):
            pipe = self.pipelines.get(spec["pipelineRef"].get("name"))
            if not pipe:
                raise Invalid("Pipeline '%s' not found" % spec["pipelineRef"].get("name"))
        elif spec.get("pipelineSpec"):
            pipe = {"apiVersion": "tekton.dev/v1", "kind": "Pipeline",
                    "metadata": {"name": runname}, "spec": spec["pipelineSpec"]}
        else:
            raise Invalid("PipelineRun has neither pipelineRef nor pipelineSpec")
        deps = validate_pipeline(pipe, self.tasks)
        pspec = pipe["spec"]
        # params: pipeline defaults, then the run's
        pvals = {}
        pdecl = {p["name"]: p for p in pspec.get("params") or []}
        given = {}
        for p in spec.get("params") or []:
            if p["name"] in given:
                raise Invalid("PipelineRun param '%s' given twice" % p["name"])
            given[p["name"]] = p.get("value")
        for n in given:
            if n not in pdecl:
                raise Invalid("PipelineRun param '%s' is not declared by the "
                              "Pipeline" % n)
        for n, p in pdecl.items():
            v = given.get(n, p.get("default"))
            if v is None:
                continue
            t = p.get("type", "string")
            if (t == "array") != isinstance(v, list):
                raise Invalid("PipelineRun param '%s' is of type %s; got %r"
                              % (n, t, v))
            pvals[n] = v
        missing = sorted(set(pdecl) - set(pvals))
        if missing:
            raise Invalid("PipelineRun missing parameters: %s" % ", ".join(missing))
        # workspaces
        wdecl = {w["name"]: w for w in pspec.get("workspaces") or []}
        wbind = {}
        for b in spec.get("workspaces") or []:
            if b["name"] not in wdecl:
                raise Invalid("PipelineRun binds workspace '%s' the Pipeline "
                              "does not declare" % b["name"])
            wbind[b["name"]] = b
        for n, w in wdecl.items():
            if n not in wbind and not w.get("optional"):
                raise Invalid("PipelineRun does not bind workspace '%s'" % n)
        resolved = {n: resolve_run_binding(self.cluster, runname, b)
                    for n, b in wbind.items()}
        base = Subst()
        for n, v in pvals.items():
            base.add_param(n, v)
        for n in wdecl:
            base.strings["workspaces.%s.bound" % n] = "true" if n in wbind else "false"
        base.strings["context.pipelineRun.name"] = runname
        base.strings["context.pipelineRun.namespace"] = self.cluster.namespace
        base.strings["context.pipelineRun.uid"] = str(uuid.uuid5(uuid.NAMESPACE_DNS, runname))
        base.strings["context.pipeline.name"] = name_of(pipe)
        base.strings["context.pipelineTask.retries"] = "0"

        pts = {t["name"]: t for t in pspec.get("tasks") or []}
        state = {}      # task -> dict(status, reason, results, taskruns)
        lock = threading.Lock()
        cond = threading.Condition(lock)
        running = set()
        failed = [False]

        def result_subst():
            s = Subst()
            s.strings.update(base.strings)
            s.arrays.update(base.arrays)
            for tn, st in state.items():
                if st["status"] != "Succeeded":
                    continue
                if st.get("matrix") is not None:
                    s.strings["tasks.%s.matrix.length" % tn] = str(st["matrix"])
                for rn, rv in st["results"].items():
                    if isinstance(rv, list):
                        s.arrays["tasks.%s.results.%s[*]" % (tn, rn)] = rv
                        for i, x in enumerate(rv):
                            s.strings["tasks.%s.results.%s[%d]" % (tn, rn, i)] = x
                    else:
                        s.strings["tasks.%s.results.%s" % (tn, rn)] = rv
            return s

        def param_value(s, v, where):
            if isinstance(v, list):
                return s.elements([str(x) for x in v], where)
            m = VAR.fullmatch(v) if isinstance(v, str) else None
            if m and m.group(1) in s.arrays:
                return list(s.arrays[m.group(1)])
            return s.string(str(v), where)

        def unresolved(v):
            vs = v if isinstance(v, list) else [v]
            return [x for x in vs if re.search(r"\$\(tasks\.", str(x))]

        def start(tn):
            pt = pts[tn]
            s = result_subst()
            where = "pipeline task '%s'" % tn
            # when
            for w in pt.get("when") or []:
                inp = param_value(s, w.get("input", ""), where)
                vals = param_value(s, w.get("values", []), where)
                if unresolved(inp) or unresolved(vals):
                    return {"status": "Skipped", "reason":
                            "ResultReferencesUnresolvable", "results": {},
                            "taskruns": []}
                ok = (inp in vals) if w["operator"] == "in" else (inp not in vals)
                if not ok:
                    return {"status": "Skipped", "reason": "WhenExpressionsFalse",
                            "results": {}, "taskruns": []}
            params = {}
            for p in pt.get("params") or []:
                params[p["name"]] = param_value(s, p.get("value"), where)
                if unresolved(params[p["name"]]):
                    return {"status": "Skipped", "reason":
                            "ResultReferencesUnresolvable", "results": {},
                            "taskruns": []}
            ref = (pt.get("taskRef") or {}).get("name")
            task = self.tasks.get(ref) if ref else {
                "apiVersion": "tekton.dev/v1", "kind": "Task",
                "metadata": {"name": tn}, "spec": pt["taskSpec"]}
            # matrix combinations
            combos = [{}]
            mx = pt.get("matrix")
            if mx:
                axes = []
                for p in mx.get("params") or []:
                    vals = param_value(s, p.get("value"), where)
                    if not isinstance(vals, list):
                        raise Invalid("%s: matrix param '%s' must be an array"
                                      % (where, p["name"]))
                    axes.append([(p["name"], v) for v in vals])
                combos = [dict(c) for c in itertools.product(*axes)] if axes else []
                for inc in mx.get("include") or []:
                    extra = {p["name"]: param_value(s, p["value"], where)
                             for p in inc.get("params") or []}
                    combos.append(extra)
                if not combos:
                    combos = [{}]
            taskruns = []
            for i, c in enumerate(combos):
                trp = dict(params)
                trp.update(c)
                binds = {}
                for w in pt.get("workspaces") or []:
                    pw = w.get("workspace") or w["name"]
                    if pw not in wbind:
                        binds[w["name"]] = None
                        continue
                    basedir, pvc, kind = resolved[pw]
                    trname = "%s-%s%s" % (runname, tn, "-%d" % i if mx else "")
                    sub = s.string(w.get("subPath", ""), where)
                    d = materialize(self.cluster, os.path.join("taskruns", trname),
                                    w["name"], wbind[pw], basedir, kind, sub)
                    binds[w["name"]] = Binding(d, pvc, kind)
                trname = "%s-%s%s" % (runname, tn, "-%d" % i if mx else "")
                taskruns.append(TaskRun(self, trname, task, trp, binds,
                                        {"tekton.dev/pipelineTask": tn}))
            threads = [threading.Thread(target=tr.run) for tr in taskruns]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            st = {"taskruns": [{"name": tr.name, "status": tr.status,
                                "reason": tr.reason, "message": tr.message,
                                "params": tr.params, "results": tr.results,
                                "log": tr.log} for tr in taskruns],
                  "results": {}}
            if all(tr.status == "Succeeded" for tr in taskruns):
                st["status"] = "Succeeded"
                if mx:
                    st["matrix"] = len(taskruns)
                    names = {r for tr in taskruns for r in tr.results}
                    st["results"] = {r: [tr.results.get(r, "") for tr in taskruns]
                                     for r in names}
                else:
                    st["results"] = dict(taskruns[0].results)
            else:
                bad = [tr for tr in taskruns if tr.status != "Succeeded"][0]
                st["status"] = "Failed"
                st["reason"] = bad.reason
                st["message"] = bad.message
            return st

        def worker(tn):
            try:
                st = start(tn)
            except Invalid as e:
                st = {"status": "Failed", "reason": "PipelineValidationFailed",
                      "message": str(e), "results": {}, "taskruns": []}
            except TaskRunFailed as e:
                st = {"status": "Failed", "reason": e.reason, "message": e.message,
                      "results": {}, "taskruns": []}
            with cond:
                state[tn] = st
                running.discard(tn)
                if st["status"] == "Failed":
                    failed[0] = True
                cond.notify_all()

        with cond:
            while True:
                if not failed[0]:
                    for tn in pts:
                        if tn in state or tn in running:
                            continue
                        if not all(d in state for d in deps[tn]):
                            continue
                        if any(state[d]["status"] == "Failed" for d in deps[tn]):
                            continue
                        if any(state[d]["status"] == "Skipped" for d in task_refs(pts[tn])):
                            state[tn] = {"status": "Skipped", "reason":
                                         "ResultReferencesUnresolvable",
                                         "results": {}, "taskruns": []}
                            cond.notify_all()
                            continue
                        running.add(tn)
                        threading.Thread(target=worker, args=(tn,)).start()
                if not running:
                    break
                cond.wait()
        for tn in pts:
            if tn not in state:
                state[tn] = {"status": "NotRun", "reason": "PipelineFailed" if
                             failed[0] else "", "results": {}, "taskruns": []}
        ok = not failed[0]
        return {"name": runname, "pipeline": name_of(pipe),
                "status": "Succeeded" if ok else "Failed",
                "tasks": {tn: state[tn] for tn in pts}, "steps": self.steps}


def run_from_args(args):
    if args.run:
        with open(args.run) as f:
            prun = yaml.safe_load(f)
        return prun
    params = []
    for p in args.param:
        n, v = p.split("=", 1)
        params.append({"name": n, "value": json.loads(v) if v.startswith("[") else v})
    wss = []
    for w in args.workspace:
        n, specs = w.split("=", 1)
        kind, _, rest = specs.partition(":")
        if kind == "pvc":
            claim, _, sub = rest.partition(":")
            b = {"name": n, "persistentVolumeClaim": {"claimName": claim}}
            if sub:
                b["subPath"] = sub
        elif kind == "vct":
            b = {"name": n, "volumeClaimTemplate": {"spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}}}}}
            if rest:
                b["subPath"] = rest
        elif kind == "emptydir":
            b = {"name": n, "emptyDir": {}}
        elif kind == "configmap":
            b = {"name": n, "configMap": {"name": rest}}
        elif kind == "secret":
            b = {"name": n, "secret": {"secretName": rest}}
        else:
            raise Invalid("bad workspace spec '%s'" % w)
        wss.append(b)
    return {"apiVersion": "tekton.dev/v1", "kind": "PipelineRun",
            "metadata": {"name": args.name or "%s-run" % args.pipeline},
            "spec": {"pipelineRef": {"name": args.pipeline}, "params": params,
                     "workspaces": wss}}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", nargs="?")
    ap.add_argument("--resources", action="append", default=[])
    ap.add_argument("--cluster", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--namespace", default="modelgate")
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--path")
    ap.add_argument("--coschedule", default="workspaces",
                    choices=["workspaces", "disabled"])
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--kube-server")
    ap.add_argument("--pipeline")
    ap.add_argument("--name")
    ap.add_argument("-p", "--param", action="append", default=[])
    ap.add_argument("-w", "--workspace", action="append", default=[])
    args = ap.parse_args()
    if bool(args.run) == bool(args.pipeline):
        ap.error("give RUN.yaml or --pipeline NAME")
    os.makedirs(args.work, exist_ok=True)
    t0 = time.time()
    try:
        ex = Executor(args, load_docs(args.resources))
        out = ex.run(run_from_args(args))
    except Invalid as e:
        print("tekton_run: invalid: %s" % e, file=sys.stderr)
        with open(os.path.join(args.work, "run.json"), "w") as f:
            json.dump({"status": "Invalid", "message": str(e)}, f, indent=1)
        return 2
    out["seconds"] = round(time.time() - t0, 2)
    with open(os.path.join(args.work, "run.json"), "w") as f:
        json.dump(out, f, indent=1)
    for tn, st in out["tasks"].items():
        line = "%-10s %s" % (st["status"], tn)
        if st.get("reason") and st["status"] != "Succeeded":
            line += " (%s%s)" % (st["reason"], ": " + st["message"]
                                 if st.get("message") else "")
        print(line)
        if st["status"] == "Failed":
            for tr in st["taskruns"]:
                if tr["status"] == "Failed" and os.path.exists(tr["log"]):
                    sys.stdout.write("".join("  | " + l for l in
                                             open(tr["log"]).readlines()[-15:]))
    print("PipelineRun %s: %s (%.1f s)" % (out["name"], out["status"], out["seconds"]))
    return 0 if out["status"] == "Succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
