#!/usr/bin/env python3
"""A local Kubeflow Pipelines (v2) executor for modelgate's pipeline tests
(test-only code).

It compiles kfp/pipeline.py with the SDK stand-in in tests/pipelines/
kfp_stub (the real kfp cannot be installed here; the stand-in records the
DAG with KFP v2's typing rules, see kfp_stub/kfp/dsl.py) and runs the DAG
as KFP's driver and launcher would, with the built programs on this
machine instead of pods:

  * Parameters: the pipeline's defaults, then -p values; a missing one is
    an error. Task inputs: constants, pipeline parameters, upstream output
    parameters, f-strings over those; component defaults for inputs not
    given; a required input with no value is an error.
  * Placeholders: {inputValue: x} the parameter's value (strings as they
    are, numbers and booleans as JSON), {inputPath: x} a local copy of the
    artifact, {inputUri: x} the artifact's URI, {outputPath: x} a fresh
    local path (its parent directory exists; the program creates the file
    or directory), {outputUri: x}, {concat: [...]}, {if: {cond: {isPresent:
    x}, then: [...], else: [...]}}.
  * Artifacts as files: an output artifact lives at
    WORK/minio/mlpipeline/v2/artifacts/<pipeline>/<run>/<task>/<output>
    (URI minio://mlpipeline/v2/artifacts/...); it must exist when the
    program ends. An output parameter is read back from its file.
    dsl.importer artifacts keep their URI; a consumer that asks for a path
    gets the objects downloaded (s3:// and minio://, signed with AWS
    Signature V4 with --object-store credentials, as the launcher does)
    to WORK/s3/<bucket>/<key>.
  * Order: data dependencies and .after(); independent tasks run at the
    same time; a failed task stops the run (no new task starts).
  * Caching, as KFP v2: a task with caching on whose component and inputs
    (parameter values, artifact contents) match an earlier successful run
    in --cache is not run; its outputs are copied ("Cached").
  * Environment: PATH, HOME, --env, set_env_variable, secrets from the
    cluster directory (kubernetes.use_secret_as_env; a missing secret or
    key fails the task unless optional), secrets as volumes, and the
    service account token mounted at /var/run/secrets/kubernetes.io/
    serviceaccount (arguments starting with a mounted path are rewritten
    to its directory, as tekton_run.py does); KUBECONFIG for kubectl.

Usage:
  kfp_run.py --pipeline kfp/pipeline.py --components-dir DIR --cluster DIR
             --work DIR [--cache DIR] [--env K=V]... [--path PATH]
             [--object-store ENDPOINT,REGION,ACCESS_KEY_FILE,SECRET_FILE]
             [--kube-server URL] [--run-name NAME] [-p name=value]...
Writes WORK/run.json and prints a line per task; exit 0 when the run
succeeded, 1 when a task failed, 2 when the pipeline does not compile.
"""
import argparse
import datetime
import hashlib
import hmac
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SA_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
CHANNEL_RE = re.compile(r"\{\{channel:task=([^;]*);name=([^;]*);type=([^;]*);\}\}")


class Invalid(Exception):
    pass


class TaskFailed(Exception):
    pass


# ---- compile ---------------------------------------------------------

def compile_pipeline(path):
    sys.path.insert(0, os.path.join(HERE, "kfp_stub"))
    from kfp import dsl  # noqa: the stand-in
    spec = importlib.util.spec_from_file_location("mg_pipeline", path)
    mod = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(mod)
    except (TypeError, ValueError) as e:
        raise Invalid("%s: %s" % (path, e))
    pipes = [v for v in vars(mod).values() if isinstance(v, dsl.Pipeline)]
    if len(pipes) != 1:
        raise Invalid("%s: expected one @dsl.pipeline, found %d" % (path, len(pipes)))
    try:
        return pipes[0].build()
    except (TypeError, ValueError, AttributeError) as e:
        raise Invalid("%s: %s" % (path, e))


# ---- S3 (the launcher's object store client) -------------------------

class S3:
    def __init__(self, spec):
        endpoint, region, akf, skf = spec.split(",")
        self.endpoint = endpoint.rstrip("/")
        self.region = region
        self.ak = open(akf).read().strip()
        self.sk = open(skf).read().strip()

    def _req(self, path, query=""):
        u = urllib.parse.urlsplit(self.endpoint)
        t = datetime.datetime.now(datetime.timezone.utc)
        amz = t.strftime("%Y%m%dT%H%M%SZ")
        day = t.strftime("%Y%m%d")
        payload = hashlib.sha256(b"").hexdigest()
        canon_q = "&".join(sorted(query.split("&"))) if query else ""
        headers = {"host": u.netloc, "x-amz-content-sha256": payload,
                   "x-amz-date": amz}
        signed = ";".join(sorted(headers))
        creq = "\n".join(["GET", path, canon_q] +
                         ["%s:%s" % (k, headers[k]) for k in sorted(headers)] +
                         ["", signed, payload])
        scope = "%s/%s/s3/aws4_request" % (day, self.region)
        sts = "\n".join(["AWS4-HMAC-SHA256", amz, scope,
                         hashlib.sha256(creq.encode()).hexdigest()])
        k = ("AWS4" + self.sk).encode()
        for part in (day, self.region, "s3", "aws4_request"):
            k = hmac.new(k, part.encode(), hashlib.sha256).digest()
        sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
        req = urllib.request.Request(self.endpoint + path + ("?" + canon_q if canon_q else ""))
        req.add_header("x-amz-content-sha256", payload)
        req.add_header("x-amz-date", amz)
        req.add_header("Authorization", "AWS4-HMAC-SHA256 Credential=%s/%s, "
                       "SignedHeaders=%s, Signature=%s" % (self.ak, scope, signed, sig))
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.read()

    @staticmethod
    def q(s):
        return urllib.parse.quote(s, safe="-_.~")

    def download(self, bucket, key, dest):
        """Downloads the object key, or every object below key/ (a
        directory artifact), to dest."""
        keys = []
        token = None
        while True:
            query = "list-type=2&prefix=" + self.q(key.rstrip("/") + "/")
            if token:
                query += "&continuation-token=" + self.q(token)
            root = ET.fromstring(self._req("/" + bucket, query))
            ns = {"s": root.tag.split("}")[0].strip("{")} if "}" in root.tag else {}
            pre = "s:" if ns else ""
            keys += [c.find(pre + "Key", ns).text for c in root.findall(pre + "Contents", ns)]
            nt = root.find(pre + "NextContinuationToken", ns)
            if nt is None or not nt.text:
                break
            token = nt.text
        if not keys:
            data = self._req("/%s/%s" % (bucket, self.q(key).replace("%2F", "/")))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with open(dest, "wb") as f:
                f.write(data)
            return
        for k in keys:
            rel = k[len(key.rstrip("/")) + 1:]
            if rel.endswith("/") or ".." in rel.split("/"):
                continue
            d = os.path.join(dest, rel)
            os.makedirs(os.path.dirname(d), exist_ok=True)
            with open(d, "wb") as f:
                f.write(self._req("/%s/%s" % (bucket, self.q(k).replace("%2F", "/"))))


# ---- running ---------------------------------------------------------

def tree_digest(p):
    h = hashlib.sha256()
    if os.path.isdir(p):
        for base, dirs, files in os.walk(p):
            dirs.sort()
            for f in sorted(files):
                fp = os.path.join(base, f)
                h.update(os.path.relpath(fp, p).encode() + b"\0")
                h.update(open(fp, "rb").read())
    elif os.path.exists(p):
        h.update(open(p, "rb").read())
    return h.hexdigest()


def copy_any(src, dst):
    if os.path.isdir(dst):
        shutil.rmtree(dst)
    elif os.path.exists(dst):
        os.unlink(dst)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if os.path.isdir(src):
        shutil.copytree(src, dst)
    else:
        shutil.copyfile(src, dst)


def as_text(v):
    return v if isinstance(v, str) else json.dumps(v)


class Run:
    def __init__(self, args, ir):
        self.ir = ir
        self.args = args
        self.work = os.path.abspath(args.work)
        self.cluster = os.path.abspath(args.cluster)
        self.cache = os.path.abspath(args.cache or os.path.join(self.cluster, "kfp-cache"))
        self.env = dict(e.split("=", 1) for e in args.env)
        self.path = args.path or os.environ.get("PATH", "/usr/bin:/bin")
        self.name = args.run_name or "%s-%s" % (ir["pipeline"], os.urandom(3).hex())
        self.s3 = S3(args.object_store) if args.object_store else None
        self.params = {}
        given = {}
        for p in args.param:
            n, v = p.split("=", 1)
            if n not in ir["params"]:
                raise Invalid("unknown pipeline parameter '%s'" % n)
            given[n] = v
        for n, spec in ir["params"].items():
            if n in given:
                v = given[n]
                t = spec["type"]
                try:
                    v = {"NUMBER_INTEGER": int, "NUMBER_DOUBLE": float,
                         "BOOLEAN": lambda s: s == "true"}.get(t, str)(v)
                except ValueError:
                    raise Invalid("parameter '%s' must be %s" % (n, t))
                self.params[n] = v
            elif "default" in spec:
                self.params[n] = spec["default"]
            else:
                raise Invalid("missing pipeline parameter '%s'" % n)
        self.tasks = {t["name"]: t for t in ir["tasks"]}
        self.state = {}
        self.kubeconfig = None
        sa = os.path.join(self.cluster, "serviceaccount")
        if args.kube_server and os.path.isdir(sa):
            self.kubeconfig = os.path.join(self.work, "kubeconfig")
            ns = open(os.path.join(sa, "namespace")).read().strip()
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

    def deps(self, t):
        out = set(t["after"])
        refs = list(t["args"].values())
        if t.get("importer"):
            refs.append(t["importer"]["uri"])
        for a in refs:
            if "task" in a:
                out.add(a["task"])
            if "fstring" in a:
                out |= {m.group(1) for m in CHANNEL_RE.finditer(a["fstring"]) if m.group(1)}
        return out

    def art_path(self, task, output):
        return os.path.join(self.work, "minio", "mlpipeline", "v2", "artifacts",
                            self.ir["pipeline"], self.name, task, output)

    def value(self, a):
        if "const" in a:
            return a["const"]
        if "param" in a:
            return self.params[a["param"]]
        if "task" in a:
            st = self.state[a["task"]]
            return st["outputs"][a["output"]]
        if "fstring" in a:
            def rep(m):
                if m.group(1):
                    return as_text(self.state[m.group(1)]["outputs"][m.group(2)]["value"])
                return as_text(self.params[m.group(2)])
            return CHANNEL_RE.sub(rep, a["fstring"])
        raise Invalid("bad argument %r" % a)

    def local_artifact(self, art, tdir, name):
        if art.get("path"):
            return art["path"]
        uri = art["uri"]
        m = re.match(r"^(s3|minio)://([^/]+)/(.+)$", uri)
        if not m:
            raise TaskFailed("cannot download artifact '%s': only s3:// and "
                             "minio:// URIs are downloaded by the launcher" % uri)
        if not self.s3:
            raise TaskFailed("no object store configured to download '%s'" % uri)
        dest = os.path.join(tdir, "s3", m.group(2), m.group(3).rstrip("/"))
        try:
            self.s3.download(m.group(2), m.group(3), dest)
        except OSError as e:
            raise TaskFailed("downloading '%s': %s" % (uri, e))
        return dest

    def run_importer(self, t):
        uri = self.value(t["importer"]["uri"])
        if not isinstance(uri, str) or not uri:
            raise TaskFailed("importer: empty artifact_uri")
        return {"status": "Succeeded", "outputs": {"artifact": {
            "uri": uri, "schema": t["importer"]["schema"]}}}

    def run_container(self, t):
        comp = t["component"]
        tdir = os.path.join(self.work, "tasks", t["name"])
        os.makedirs(tdir, exist_ok=True)
        vals = {}
        arts = {}
        for n, spec in comp["inputs"].items():
            if n in t["args"]:
                v = self.value(t["args"][n])
            elif "default" in spec:
                v = spec["default"]
            elif spec["optional"]:
                continue
            else:
                raise TaskFailed("input '%s' has no value" % n)
            if spec["category"] == "artifact":
                arts[n] = v
            else:
                vals[n] = v["value"] if isinstance(v, dict) and "value" in v else v
        outs = {}
        for n, spec in comp["outputs"].items():
            p = self.art_path(t["name"], n)
            if os.path.isdir(p):
                shutil.rmtree(p)
            elif os.path.exists(p):
                os.unlink(p)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            outs[n] = p
        key = None
        if t["caching"]:
            h = hashlib.sha256(comp["digest"].encode())
            h.update(json.dumps(vals, sort_keys=True).encode())
            for n in sorted(arts):
                a = arts[n]
                h.update(n.encode() + (tree_digest(a["path"]) if a.get("path")
                                       else a["uri"]).encode())
            key = h.hexdigest()
            cdir = os.path.join(self.cache, key)
            if os.path.isfile(os.path.join(cdir, "outputs.json")):
                cached = json.load(open(os.path.join(cdir, "outputs.json")))
                res = {}
                for n, spec in comp["outputs"].items():
                    if spec["category"] == "artifact":
                        copy_any(os.path.join(cdir, n), outs[n])
                        res[n] = {"path": outs[n], "uri": self.uri_of(t["name"], n),
                                  "schema": spec["schema"]}
                    else:
                        res[n] = {"value": cached[n]}
                return {"status": "Cached", "outputs": res, "cache_key": key}
        mounts = {SA_PATH: os.path.join(self.cluster, "serviceaccount")}
        env = {"PATH": self.path, "HOME": os.path.join(tdir, "home")}
        os.makedirs(env["HOME"], exist_ok=True)
        env.update(self.env)
        if self.kubeconfig:
            env["KUBECONFIG"] = self.kubeconfig
        env.update({k: str(v) for k, v in (comp["container"].get("env") or {}).items()})
        env.update(t["env"])
        for se in t["secrets_env"]:
            d = os.path.join(self.cluster, "secrets", se["secret"])
            for key_, var in se["keys"].items():
                f = os.path.join(d, key_)
                if os.path.isfile(f):
                    env[var] = open(f).read()
                elif not se["optional"]:
                    raise TaskFailed("secret '%s' (key '%s') not found"
                                     % (se["secret"], key_))
        for sv in t["secrets_vol"]:
            d = os.path.join(self.cluster, "secrets", sv["secret"])
            if not os.path.isdir(d) and not sv["optional"]:
                raise TaskFailed("secret '%s' not found" % sv["secret"])
            mounts[sv["path"]] = d
        paths = {}

        def expand(a):
            if isinstance(a, (int, float)) and not isinstance(a, bool):
                return [str(a)]
            if isinstance(a, str):
                return [a]
            (k, v), = a.items()
            if k == "concat":
                return ["".join(x for y in v for x in expand(y))]
            if k == "if":
                present = v["cond"]["isPresent"] in vals or v["cond"]["isPresent"] in arts
                return [x for y in v.get("then" if present else "else", []) for x in expand(y)]
            if k == "inputValue":
                if v not in vals:
                    raise TaskFailed("inputValue '%s' has no value" % v)
                return [as_text(vals[v])]
            if k == "inputUri":
                return [arts[v]["uri"]]
            if k == "inputPath":
                if v not in paths:
                    paths[v] = self.local_artifact(arts[v], tdir, v)
                return [paths[v]]
            if k == "outputPath":
                return [outs[v]]
            if k == "outputUri":
                return [self.uri_of(t["name"], v)]
            raise Invalid("placeholder %s" % k)
        argv = [x for a in comp["container"]["command"] + comp["container"]["args"]
                for x in expand(a)]

        def host(p):
            for cpath, hpath in sorted(mounts.items(), key=lambda m: -len(m[0])):
                if p == cpath or p.startswith(cpath + "/"):
                    return hpath + p[len(cpath):]
            return p
        argv = [host(a) for a in argv]
        logf = os.path.join(tdir, "log")
        with open(logf, "w") as log:
            log.write("## %s\n" % " ".join(argv))
            log.flush()
            try:
                rc = subprocess.call(argv, cwd=tdir, env=env, stdout=log, stderr=log,
                                     stdin=subprocess.DEVNULL, timeout=self.args.timeout)
            except FileNotFoundError:
                raise TaskFailed("executable '%s' not found" % argv[0])
            except subprocess.TimeoutExpired:
                raise TaskFailed("timed out")
            log.write("## exited %d\n" % rc)
        if rc != 0:
            raise TaskFailed("the program exited with code %d" % rc)
        res = {}
        for n, spec in comp["outputs"].items():
            if not os.path.exists(outs[n]):
                raise TaskFailed("output '%s' was not written (%s)" % (n, outs[n]))
            if spec["category"] == "artifact":
                res[n] = {"path": outs[n], "uri": self.uri_of(t["name"], n),
                          "schema": spec["schema"]}
            else:
                raw = open(outs[n]).read()
                try:
                    v = {"NUMBER_INTEGER": int, "NUMBER_DOUBLE": float,
                         "BOOLEAN": lambda s: s.strip() == "true"}.get(spec["ptype"], str)(raw)
                except ValueError:
                    raise TaskFailed("output '%s' is not %s" % (n, spec["ptype"]))
                res[n] = {"value": v}
        if key:
            cdir = os.path.join(self.cache, key)
            tmp = cdir + ".tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            os.makedirs(tmp)
            plain = {}
            for n, r in res.items():
                if "path" in r:
                    copy_any(r["path"], os.path.join(tmp, n))
                else:
                    plain[n] = r["value"]
            with open(os.path.join(tmp, "outputs.json"), "w") as f:
                json.dump(plain, f)
            shutil.rmtree(cdir, ignore_errors=True)
            os.rename(tmp, cdir)
        return {"status": "Succeeded", "outputs": res, "log": logf, "argv": argv,
                "env": sorted(env), "cache_key": key}

    def uri_of(self, task, output):
        return "minio://mlpipeline/v2/artifacts/%s/%s/%s/%s" % (
            self.ir["pipeline"], self.name, task, output)

    def run(self):
        lock = threading.Condition()
        running = set()
        failed = [False]
        deps = {n: self.deps(t) for n, t in self.tasks.items()}
        for n, d in deps.items():
            for x in d:
                if x not in self.tasks:
                    raise Invalid("task '%s' depends on unknown task '%s'" % (n, x))

        def worker(n):
            t = self.tasks[n]
            try:
                st = self.run_importer(t) if t["kind"] == "importer" else self.run_container(t)
            except TaskFailed as e:
                st = {"status": "Failed", "message": str(e), "outputs": {},
                      "log": os.path.join(self.work, "tasks", n, "log")}
            st["caching"] = t["caching"]
            with lock:
                self.state[n] = st
                running.discard(n)
                if st["status"] == "Failed":
                    failed[0] = True
                lock.notify_all()
        with lock:
            while True:
                if not failed[0]:
                    for n in self.tasks:
                        if n in self.state or n in running:
                            continue
                        if all(d in self.state and self.state[d]["status"] != "Failed"
                               for d in deps[n]):
                            running.add(n)
                            threading.Thread(target=worker, args=(n,)).start()
                if not running:
                    break
                lock.wait()
        for n in self.tasks:
            self.state.setdefault(n, {"status": "NotRun", "outputs": {}})
        return {"name": self.name, "pipeline": self.ir["pipeline"],
                "status": "Failed" if failed[0] else "Succeeded",
                "params": self.params, "tasks": self.state}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pipeline", required=True)
    ap.add_argument("--cluster", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--cache")
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--path")
    ap.add_argument("--object-store")
    ap.add_argument("--kube-server")
    ap.add_argument("--run-name")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("-p", "--param", action="append", default=[])
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    t0 = time.time()
    try:
        ir = compile_pipeline(args.pipeline)
        with open(os.path.join(args.work, "ir.json"), "w") as f:
            json.dump(ir, f, indent=1)
        out = Run(args, ir).run()
    except Invalid as e:
        print("kfp_run: invalid: %s" % e, file=sys.stderr)
        with open(os.path.join(args.work, "run.json"), "w") as f:
            json.dump({"status": "Invalid", "message": str(e)}, f)
        return 2
    out["seconds"] = round(time.time() - t0, 2)
    with open(os.path.join(args.work, "run.json"), "w") as f:
        json.dump(out, f, indent=1)
    for n, st in out["tasks"].items():
        print("%-10s %s%s" % (st["status"], n, " (%s)" % st["message"]
                              if st.get("message") else ""))
        if st["status"] == "Failed" and st.get("log") and os.path.exists(st["log"]):
            sys.stdout.write("".join("  | " + l for l in open(st["log"]).readlines()[-15:]))
    print("run %s: %s (%.1f s)" % (out["name"], out["status"], out["seconds"]))
    return 0 if out["status"] == "Succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
