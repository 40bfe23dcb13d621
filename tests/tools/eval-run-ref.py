#!/usr/bin/env python3
"""Test oracle for tests/tools/eval-run.sh (never used by the product).

Re-implements, in Python with the real jinja2 (StrictUndefined,
keep_trailing_newline), ast.literal_eval and CPython's random module, how
lm-evaluation-harness turns a task config and its documents into request
arguments (ConfigurableTask.fewshot_context, ContextSampler.get_context,
construct_requests), so that eval-run's prompts can be compared byte for
byte. The task config is taken from eval-run's results JSON ("configs");
the documents are read here, independently, from the data files.

usage: eval-run-ref.py RESULTS_JSON TASK FORMAT TEST_FILE [FEWSHOT_FILE]
  FORMAT: mmlu (hendrycks CSV), jsonl, arc (AI2 JSONL), hellaswag (rowanz)
  prints one JSON line per doc: {"doc_id": i, "args": [[ctx, cont], ...]}
"""
import ast
import csv
import json
import random
import re
import sys

import jinja2


def regex_replace(string, pattern, repl, count=0):
    return re.sub(pattern, repl, string, count=count)


ENV = jinja2.Environment(loader=jinja2.BaseLoader,
                         undefined=jinja2.StrictUndefined,
                         keep_trailing_newline=True)
ENV.filters["regex_replace"] = regex_replace


def render(tmpl, doc):
    return ENV.from_string(tmpl).render(**doc)


def load(fmt, path, subject=None):
    if fmt == "mmlu":
        docs = []
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.reader(f):
                docs.append({"question": row[0], "subject": subject,
                             "choices": row[1:5],
                             "answer": "ABCD".index(row[5])})
        return docs
    rows = [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]
    if fmt == "arc":
        out = []
        for r in rows:
            q = r["question"]
            out.append({"id": r["id"], "question": q["stem"],
                        "choices": {"text": [c["text"] for c in q["choices"]],
                                    "label": [c["label"] for c in q["choices"]]},
                        "answerKey": r["answerKey"]})
        return out
    if fmt == "hellaswag":
        def pre(text):
            text = text.strip()
            text = text.replace(" [title]", ". ")
            text = re.sub("\\[.*?\\]", "", text)
            text = text.replace("  ", " ")
            return text
        out = []
        for r in rows:
            d = {k: r[k] for k in ["ind", "activity_label", "ctx_a", "ctx_b",
                                   "ctx", "endings", "source_id", "split",
                                   "split_type", "label"]}
            d["label"] = str(d["label"])
            ctx = d["ctx_a"] + " " + d["ctx_b"].capitalize()
            d["query"] = pre(d["activity_label"] + ": " + ctx)
            d["choices"] = [pre(e) for e in d["endings"]]
            d["gold"] = int(d["label"])
            out.append(d)
        return out
    return rows


class Task:
    def __init__(self, cfg, features):
        self.cfg = cfg
        self.features = features

    def text(self, doc):
        v = self.cfg["doc_to_text"]
        if isinstance(v, int):
            return v
        if v in self.features:
            return doc[v]
        s = render(v, doc)
        if s.isdigit() and self.cfg.get("doc_to_choice") is not None:
            return ast.literal_eval(s)
        return s

    def target(self, doc):
        v = self.cfg["doc_to_target"]
        if isinstance(v, (int, list)):
            return v
        if v in self.features:
            return doc[v]
        s = render(v, doc)
        if s.isdigit() and self.cfg.get("doc_to_choice") is not None:
            return ast.literal_eval(s)
        if len(s) >= 2 and s[0] == "[" and s[-1] == "]":
            try:
                return ast.literal_eval(s)
            except (SyntaxError, ValueError):
                return s
        return s

    def choice(self, doc):
        v = self.cfg["doc_to_choice"]
        if isinstance(v, str):
            if v in self.features:
                return doc[v]
            return ast.literal_eval(render(v, doc))
        if isinstance(v, dict):
            return list(v.values())
        return v


def main():
    results, name, fmt, test = sys.argv[1:5]
    fewshot = sys.argv[5] if len(sys.argv) > 5 else None
    cfg = json.load(open(results))["configs"][name]
    subject = cfg.get("dataset_name")
    docs = load(fmt, test, subject)
    limit = int(sys.argv[6]) if len(sys.argv) > 6 else len(docs)
    fs_docs = load(fmt, fewshot, subject) if fewshot else docs
    t = Task(cfg, list(docs[0].keys()))
    n = cfg.get("num_fewshot") or 0
    tdelim = cfg.get("target_delimiter", " ")
    fdelim = cfg.get("fewshot_delimiter", "\n\n")
    sampler = cfg.get("fewshot_config", {}).get("sampler", "default")
    same = cfg.get("fewshot_split") is not None and \
        cfg.get("fewshot_split") == cfg.get("test_split")
    rnd = random.Random(1234)
    has_choice = cfg.get("doc_to_choice") is not None
    for i, doc in enumerate(docs[:limit]):
        ctx = render(cfg["description"], doc) if cfg.get("description") else ""
        if n > 0:
            k = n + 1 if same else n
            drawn = fs_docs[:k] if sampler == "first_n" else rnd.sample(fs_docs, k)
            for shot in [x for x in drawn if x != doc][:n]:
                content = t.text(shot)
                tgt = t.target(shot)
                ctx += content if isinstance(content, str) else t.choice(shot)[content]
                if tgt != "":
                    ctx += tdelim
                    ctx += (str(tgt[0]) if isinstance(tgt, list) else tgt
                            if not has_choice or isinstance(tgt, str)
                            else str(t.choice(shot)[tgt]))
                    ctx += fdelim
        example = t.text(doc)
        if cfg["output_type"] == "multiple_choice":
            if isinstance(example, int):
                cont = t.target(doc)
                args = [[ctx + c, f"{tdelim}{cont}"] for c in t.choice(doc)]
            else:
                args = [[ctx + example, f"{tdelim}{c}"] for c in t.choice(doc)]
        elif cfg["output_type"] == "generate_until":
            args = [[ctx + example, cfg["generation_kwargs"]]]
        else:
            args = [[ctx + example, t.target(doc)]]
        print(json.dumps({"doc_id": i, "args": args}, ensure_ascii=False))


if __name__ == "__main__":
    main()
