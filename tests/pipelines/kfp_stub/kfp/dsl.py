"""Stand-in for kfp.dsl (kfp 2.x), test-only.

It records a pipeline as KFP v2 compiles it, with the rules of the real
SDK that the modelgate pipeline could break:

  * Inputs of a component are parameters or artifacts by their type name
    (String, Integer, Float, Boolean, JsonObject, JsonArray, ... are
    parameters; Dataset, Model, HTML, Markdown, Metrics, Artifact and any
    unknown name such as JSON or Directory are artifacts of that schema,
    system.Artifact for unknown names), as KFP v2 reads a v1 component YAML.
  * {inputValue} may name only a parameter, {inputPath}/{inputUri} only an
    artifact; {outputPath} either (a parameter output is written to that
    file), {outputUri} only an artifact. Violations are TypeErrors when
    the component is loaded.
  * A component is called with keyword arguments only; an unknown or
    missing required argument is a TypeError; an artifact argument must go
    to an artifact input (system.Artifact is compatible with every artifact
    schema, others must match), a parameter (pipeline parameter, upstream
    output parameter, constant, or an f-string over parameters) to a
    parameter input of the same type; a constant cannot be an artifact.
  * Task names are the component name made DNS-safe, made unique with
    "-2", "-3", ...; importer tasks are "importer", "importer-2", ...
  * Caching is on unless set_caching_options(False); set_env_variable
    takes constant strings.
  * An f-string over pipeline channels keeps KFP's channel placeholders
    ("{{channel:task=;name=p;type=String;}}") and is resolved at run time.
"""
import inspect
import re

_CURRENT = []


class _Artifact:
    schema_title = "system.Artifact"


class Artifact(_Artifact):
    schema_title = "system.Artifact"


class Dataset(_Artifact):
    schema_title = "system.Dataset"


class Model(_Artifact):
    schema_title = "system.Model"


class Metrics(_Artifact):
    schema_title = "system.Metrics"


class HTML(_Artifact):
    schema_title = "system.HTML"


class Markdown(_Artifact):
    schema_title = "system.Markdown"


ARTIFACT_TYPES = {"artifact": Artifact, "dataset": Dataset, "model": Model,
                  "metrics": Metrics, "html": HTML, "markdown": Markdown}
PARAMETER_TYPES = {"integer": "NUMBER_INTEGER", "int": "NUMBER_INTEGER",
                   "double": "NUMBER_DOUBLE", "float": "NUMBER_DOUBLE",
                   "string": "STRING", "str": "STRING", "text": "STRING",
                   "bool": "BOOLEAN", "boolean": "BOOLEAN", "dict": "STRUCT",
                   "list": "LIST", "jsonobject": "STRUCT", "jsonarray": "LIST"}
PY_TYPES = {str: "STRING", int: "NUMBER_INTEGER", float: "NUMBER_DOUBLE",
            bool: "BOOLEAN", dict: "STRUCT", list: "LIST"}


class Input:
    """Input[Dataset] in a signature: an artifact of that class."""

    def __class_getitem__(cls, item):
        return ("Input", item)


class Output:
    def __class_getitem__(cls, item):
        return ("Output", item)


class PipelineChannel:
    def __init__(self, name, task=None):
        self.name = name
        self.task = task

    @property
    def pattern(self):
        return "{{channel:task=%s;name=%s;type=%s;}}" % (
            self.task.name if self.task else "", self.name, self.type_name)

    def __str__(self):
        return self.pattern

    def __format__(self, spec):
        return self.pattern

    def __repr__(self):
        return self.pattern

    def __bool__(self):
        raise TypeError("a pipeline channel has no truth value at compile time")


class PipelineParameterChannel(PipelineChannel):
    def __init__(self, name, ptype, task=None, default=None):
        super().__init__(name, task)
        self.ptype = ptype
        self.default = default

    @property
    def type_name(self):
        return {"STRING": "String", "NUMBER_INTEGER": "Integer",
                "NUMBER_DOUBLE": "Float", "BOOLEAN": "Boolean",
                "STRUCT": "Dict", "LIST": "List"}[self.ptype]


class PipelineArtifactChannel(PipelineChannel):
    def __init__(self, name, schema, task=None):
        super().__init__(name, task)
        self.schema = schema

    @property
    def type_name(self):
        return self.schema


CHANNEL_RE = re.compile(r"\{\{channel:task=([^;]*);name=([^;]*);type=([^;]*);\}\}")


def _current():
    if not _CURRENT:
        raise RuntimeError("components and importers are called inside a "
                           "@dsl.pipeline function (the stand-in has no local "
                           "execution)")
    return _CURRENT[-1]


def _dns(name):
    s = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return s or "task"


class PipelineTask:
    def __init__(self, component, kind="container"):
        self.component = component
        self.kind = kind
        self.args = {}
        self.after_tasks = []
        self.enable_caching = True
        self.env = {}
        self.secrets_env = []
        self.secrets_vol = []
        self.display_name = None
        self.importer = None
        p = _current()
        base = _dns(component["name"]) if kind == "container" else "importer"
        name, i = base, 1
        while name in p.task_names:
            i += 1
            name = "%s-%d" % (base, i)
        self.name = name
        p.task_names.add(name)
        p.tasks.append(self)
        self.outputs = {}
        for on, spec in component["outputs"].items():
            if spec["category"] == "artifact":
                self.outputs[on] = PipelineArtifactChannel(on, spec["schema"], self)
            else:
                self.outputs[on] = PipelineParameterChannel(on, spec["ptype"], self)

    @property
    def output(self):
        if len(self.outputs) != 1:
            raise AttributeError(
                "The task has multiple outputs. Please reference the output "
                "by its name.")
        return list(self.outputs.values())[0]

    def after(self, *tasks):
        for t in tasks:
            self.after_tasks.append(t.name)
        return self

    def set_caching_options(self, enable_caching):
        if not isinstance(enable_caching, bool):
            raise TypeError("enable_caching must be a bool")
        self.enable_caching = enable_caching
        return self

    def set_env_variable(self, name, value):
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError("set_env_variable takes constant strings")
        self.env[name] = value
        return self

    def set_display_name(self, name):
        self.display_name = name
        return self

    def _noop(self, *a, **k):
        return self

    set_cpu_limit = set_memory_limit = set_cpu_request = _noop
    set_memory_request = set_accelerator_limit = set_accelerator_type = _noop
    set_retry = _noop

    def _bind(self, inputs, kwargs, cname):
        for k in kwargs:
            if k not in inputs:
                raise TypeError('%s() got an unexpected keyword argument "%s".'
                                % (cname, k))
        for k, spec in inputs.items():
            if k not in kwargs:
                if spec["optional"]:
                    continue
                raise TypeError("%s() missing 1 required argument: %s." % (cname, k))
            self.args[k] = _argument(kwargs[k], spec, k, cname)


def _argument(v, spec, k, cname):
    want = spec["schema"] if spec["category"] == "artifact" else spec["ptype"]
    if isinstance(v, PipelineArtifactChannel):
        if spec["category"] != "artifact":
            raise TypeError(
                "Incompatible argument passed to the input '%s' of component "
                "'%s': Argument type '%s@0.0.1' is incompatible with the input "
                "type '%s'" % (k, cname, v.schema, want))
        if "system.Artifact" not in (v.schema, spec["schema"]) and \
                v.schema != spec["schema"]:
            raise TypeError(
                "Incompatible argument passed to the input '%s' of component "
                "'%s': Argument type '%s@0.0.1' is incompatible with the input "
                "type '%s@0.0.1'" % (k, cname, v.schema, want))
        return {"task": v.task.name, "output": v.name}
    if spec["category"] == "artifact":
        raise TypeError(
            "Incompatible argument passed to the input '%s' of component '%s':"
            " an artifact input takes an artifact (a task output or an "
            "importer), not %s" % (k, cname,
                                   "the parameter '%s'" % v.name
                                   if isinstance(v, PipelineChannel)
                                   else "the constant %r" % (v,)))
    if isinstance(v, PipelineParameterChannel):
        if v.ptype != spec["ptype"]:
            raise TypeError(
                "Incompatible argument passed to the input '%s' of component "
                "'%s': Argument type '%s' is incompatible with the input type "
                "'%s'" % (k, cname, v.ptype, want))
        if v.task is None:
            return {"param": v.name}
        return {"task": v.task.name, "output": v.name}
    if isinstance(v, str) and CHANNEL_RE.search(v):
        for m in CHANNEL_RE.finditer(v):
            if m.group(3).startswith("system."):
                raise TypeError("an f-string argument may only use parameters")
        if spec["ptype"] != "STRING":
            raise TypeError("an f-string is a String; input '%s' is %s"
                            % (k, want))
        return {"fstring": v}
    t = PY_TYPES.get(type(v))
    if t is None or (t != spec["ptype"] and
                     not (t == "NUMBER_INTEGER" and spec["ptype"] == "NUMBER_DOUBLE")):
        raise TypeError(
            "Incompatible argument passed to the input '%s' of component '%s':"
            " Argument type '%s' is incompatible with the input type '%s'"
            % (k, cname, t or type(v).__name__, want))
    return {"const": v}


def importer(artifact_uri, artifact_class, reimport=False, metadata=None):
    if not (isinstance(artifact_class, type) and issubclass(artifact_class, _Artifact)):
        raise TypeError("artifact_class must be an artifact class")
    comp = {"name": "importer", "inputs": {}, "outputs": {
        "artifact": {"category": "artifact", "schema": artifact_class.schema_title}}}
    t = PipelineTask(comp, kind="importer")
    spec = {"category": "parameter", "ptype": "STRING", "optional": False}
    t.importer = {"uri": _argument(artifact_uri, spec, "artifact_uri", "importer"),
                  "schema": artifact_class.schema_title, "reimport": bool(reimport),
                  "metadata": metadata or {}}
    return t


class Pipeline:
    def __init__(self, func, name, description):
        self.func = func
        self.name = name or _dns(func.__name__)
        self.description = description or ""
        if not re.match(r"^[a-z0-9][a-z0-9-]{0,127}$", self.name):
            raise ValueError("invalid pipeline name '%s'" % self.name)
        self.params = {}
        for pn, p in inspect.signature(func).parameters.items():
            if p.annotation is inspect.Parameter.empty:
                raise TypeError("Missing type annotation for argument: %s" % pn)
            if p.annotation not in PY_TYPES:
                raise TypeError("pipeline parameter '%s': type %r is not supported "
                                "by the stand-in" % (pn, p.annotation))
            spec = {"type": PY_TYPES[p.annotation]}
            if p.default is not inspect.Parameter.empty:
                spec["default"] = p.default
            self.params[pn] = spec
        self.tasks = []
        self.task_names = set()

    def __call__(self, *a, **k):
        return self.func(*a, **k)

    def build(self):
        self.tasks = []
        self.task_names = set()
        _CURRENT.append(self)
        try:
            chans = {n: PipelineParameterChannel(n, s["type"])
                     for n, s in self.params.items()}
            self.func(**chans)
        finally:
            _CURRENT.pop()
        known = {t.name for t in self.tasks}
        ir = {"stand_in": "modelgate kfp stand-in IR v1", "pipeline": self.name,
              "description": self.description, "params": self.params,
              "tasks": []}
        for t in self.tasks:
            for a in t.after_tasks:
                if a not in known:
                    raise ValueError("task '%s' is after unknown task '%s'"
                                     % (t.name, a))
            ir["tasks"].append({
                "name": t.name, "kind": t.kind, "component": t.component,
                "args": t.args, "after": t.after_tasks,
                "caching": t.enable_caching, "env": t.env,
                "secrets_env": t.secrets_env, "secrets_vol": t.secrets_vol,
                "importer": t.importer})
        return ir


def pipeline(func=None, *, name=None, description=None, pipeline_root=None,
             display_name=None):
    def wrap(f):
        return Pipeline(f, name, description)
    return wrap(func) if func else wrap
