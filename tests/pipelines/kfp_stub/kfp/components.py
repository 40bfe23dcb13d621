"""Stand-in for kfp.components.load_component_from_file (test-only): reads
a v1 component YAML (name, inputs, outputs, implementation.container) as
KFP v2 does, checks its placeholders (dsl.py lists the rules) and returns
a factory that makes a task when called inside a pipeline."""
import hashlib
import json
import re

import yaml

from . import dsl

PLACEHOLDERS = ("inputValue", "inputPath", "inputUri", "outputPath",
                "outputUri", "concat", "if")


def _spec(entry, where):
    t = entry.get("type")
    name = entry.get("name")
    if not name:
        raise ValueError("%s: an input or output without a name" % where)
    out = {"type": t, "optional": bool(entry.get("optional")) or "default" in entry,
           "description": entry.get("description", "")}
    if "default" in entry:
        out["default"] = entry["default"]
    tl = t.lower() if isinstance(t, str) else None
    if tl in dsl.PARAMETER_TYPES:
        out["category"] = "parameter"
        out["ptype"] = dsl.PARAMETER_TYPES[tl]
        if "default" in entry and out["ptype"] == "STRING" and \
                not isinstance(entry["default"], str):
            raise TypeError("%s: default of String input '%s' is not a string"
                            % (where, name))
    else:
        out["category"] = "artifact"
        cls = dsl.ARTIFACT_TYPES.get(tl or "", dsl.Artifact)
        out["schema"] = cls.schema_title
        if "default" in entry:
            raise TypeError("%s: artifact input '%s' cannot have a default"
                            % (where, name))
    return re.sub(r"[^a-z0-9_]", "_", name.lower()), out


def _check_args(args, inputs, outputs, where):
    def check(a):
        if isinstance(a, (str, int, float)):
            return
        if not isinstance(a, dict) or len(a) != 1:
            raise ValueError("%s: bad argument %r" % (where, a))
        (k, v), = a.items()
        if k not in PLACEHOLDERS:
            raise ValueError("%s: unknown placeholder %r" % (where, k))
        if k == "concat":
            for x in v:
                check(x)
            return
        if k == "if":
            cond = v.get("cond", {})
            if list(cond) != ["isPresent"] or cond["isPresent"] not in inputs:
                raise ValueError("%s: bad if placeholder %r" % (where, v))
            for x in v.get("then", []) + v.get("else", []):
                check(x)
            return
        pool = inputs if k.startswith("input") else outputs
        if v not in pool:
            raise ValueError("%s: %s names undeclared '%s'" % (where, k, v))
        cat = pool[v]["category"]
        kind = pool[v].get("schema") or pool[v].get("ptype")
        if k == "inputValue" and cat == "artifact":
            raise TypeError('%s: Input "%s" with type "%s" cannot be paired with '
                            'InputValuePlaceholder.' % (where, v, kind))
        if k in ("inputPath", "inputUri") and cat == "parameter":
            raise TypeError('%s: Input "%s" with type "%s" cannot be paired with '
                            '%sPlaceholder.' % (where, v, kind, k[0].upper() + k[1:]))
        if k == "outputUri" and cat == "parameter":
            raise TypeError('%s: Output "%s" is a parameter; outputUri needs an '
                            'artifact' % (where, v))
    for a in args:
        check(a)


def load_component_from_text(text, source="<text>"):
    doc = yaml.safe_load(text)
    where = "component '%s'" % source
    if not isinstance(doc, dict) or "implementation" not in doc:
        raise ValueError("%s: not a component spec" % where)
    name = doc.get("name") or "component"
    inputs = dict(_spec(e, where) for e in doc.get("inputs") or [])
    outputs = {}
    for e in doc.get("outputs") or []:
        n, s = _spec(e, where)
        s.pop("optional", None)
        outputs[n] = s
    cont = (doc["implementation"] or {}).get("container")
    if not cont or not cont.get("image"):
        raise ValueError("%s: needs implementation.container.image" % where)
    cmd = cont.get("command") or []
    args = cont.get("args") or []
    _check_args(cmd + args, inputs, outputs, where)
    comp = {"name": name, "description": doc.get("description", ""),
            "inputs": inputs, "outputs": outputs,
            "container": {"image": cont["image"], "command": cmd, "args": args,
                          "env": cont.get("env") or {}},
            "source": str(source)}
    comp["digest"] = hashlib.sha256(json.dumps(comp, sort_keys=True)
                                    .encode()).hexdigest()

    def factory(*a, **kwargs):
        if a:
            raise TypeError('Components must be instantiated using keyword '
                            'arguments. Positional parameters are not allowed '
                            '(found %d such parameters for component "%s").'
                            % (len(a), name))
        t = dsl.PipelineTask(comp)
        t._bind(inputs, kwargs, name)
        return t
    factory.component_spec = comp
    factory.__name__ = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return factory


def load_component_from_file(path):
    with open(path) as f:
        return load_component_from_text(f.read(), path)
