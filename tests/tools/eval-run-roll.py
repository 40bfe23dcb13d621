#!/usr/bin/env python3
"""Test-only oracle for eval-run's loglikelihood_rolling (tests/tools/eval-run.sh).

Re-implements, from lm-evaluation-harness's description, what its API models
do for a loglikelihood_rolling request: tokenize the text, cut it with
get_rolling_token_windows(tokens, prefix, max_seq_len=max_length-2,
context_len=1) + make_disjoint_window, send each window as
(context + continuation)[-(max_length-1):] with ctxlen = len(context), add
up sum(token_logprobs[ctxlen:-1]) over the windows; then
word_perplexity / byte_perplexity = exp(-sum(ll) / sum(n)) and
bits_per_byte = -(sum(ll) / sum(bytes)) / ln 2, n = len(re.split(r"\\s+",
text)) words or len(text.encode()) bytes.

usage: eval-run-roll.py SAMPLES RESULTS TASK PREFIX MAX_LENGTH TOKENS LOGPROBS [BODIES]
  TOKENS    chars (one token per character, the fake server's /tokenize),
            golden:FILE (ids from a tokenizer golden.jsonl), or URL (the
            server's /tokenize)
  LOGPROBS  fake (eval-run-fake.py's -(id % 7 + 1) / 8 per token) or URL
            (ask that server with lm-eval's body and read its logprobs)
  BODIES    the fake server's request log: the window prompts must be
            exactly the ones sent
"""
import json
import math
import re
import sys
import urllib.request


def rolling_windows(tokens, prefix, max_seq_len, context_len):
    # lm_eval.utils.get_rolling_token_windows
    assert 1 <= context_len <= max_seq_len
    if not tokens:
        return
    pred_len = max_seq_len - context_len + 1
    predicted = 0
    first = min(max_seq_len, len(tokens))
    yield [prefix] + tokens[:first - 1], tokens[:first]
    predicted += first
    while predicted < len(tokens):
        n = min(len(tokens) - predicted, pred_len)
        end = predicted + n
        yield tokens[end - max_seq_len - 1:end - 1], tokens[end - n:end]
        predicted += n


def disjoint(pair):
    a, b = pair
    return a[:len(a) - (len(b) - 1)], b


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)


def main():
    samples, results, task, prefix, max_length, toks, lps = sys.argv[1:8]
    bodies = sys.argv[8] if len(sys.argv) > 8 else None
    prefix, max_length = int(prefix), int(max_length)
    L = max_length - 1  # TemplateAPI.max_length
    golden = {}
    if toks.startswith("golden:"):
        for line in open(toks[7:]):
            g = json.loads(line)
            if not g["add_special_tokens"]:
                golden[g["text"]] = g["ids"]

    def tokenize(text):
        if toks == "chars":
            return [ord(c) for c in text]
        if toks.startswith("golden:"):
            return golden[text]
        return post(toks, {"prompt": text, "add_special_tokens": False})["tokens"]

    def loglik(inp, ctxlen):
        if lps == "fake":
            tl = [None] + [-((i % 7) + 1) / 8 for i in inp[1:]] + [-0.5]
        else:
            out = post(lps, {"model": "m", "prompt": [inp], "temperature": 0,
                             "max_tokens": 1, "logprobs": 1, "seed": 1234,
                             "echo": True})
            tl = out["choices"][0]["logprobs"]["token_logprobs"]
            assert len(tl) == len(inp) + 1, (len(tl), len(inp))
        assert ctxlen > 0
        return sum(tl[ctxlen:-1])

    sent = []
    items = {"word_perplexity": [], "byte_perplexity": [], "bits_per_byte": []}
    ndocs = 0
    for line in open(samples):
        s = json.loads(line)
        text = s["arguments"]["gen_args_0"]["arg_0"]
        assert list(s["arguments"]["gen_args_0"]) == ["arg_0"], s["arguments"]
        windows = [disjoint(w) for w in rolling_windows(
            tokenize(text), prefix, L - 1, 1)]
        lls = []
        for ctx, cont in windows:
            inp = (ctx + cont)[-L:]
            ctxlen = len(ctx) - max(0, len(ctx) + len(cont) - L)
            sent.append(inp)
            lls.append(loglik(inp, ctxlen))
        ll = sum(lls)
        got = float(s["resps"][0][0])
        assert got == ll, (s["doc_id"], got, ll, len(windows))
        assert s["filtered_resps"] == [repr(ll)], s["filtered_resps"]
        words = len(re.split(r"\s+", text))
        nbytes = len(text.encode("utf-8"))
        for k, n in [("word_perplexity", words), ("byte_perplexity", nbytes),
                     ("bits_per_byte", nbytes)]:
            assert json.dumps(s[k]) == json.dumps([ll, n]), (k, s[k], ll, n)
        items["word_perplexity"].append((ll, words))
        items["byte_perplexity"].append((ll, nbytes))
        items["bits_per_byte"].append((ll, nbytes))
        ndocs += 1
    assert ndocs > 0

    def wmean(xs):
        a, b = zip(*xs)
        return sum(a) / sum(b)

    r = json.load(open(results))["results"][task]
    want = {"word_perplexity": math.exp(-wmean(items["word_perplexity"])),
            "byte_perplexity": math.exp(-wmean(items["byte_perplexity"])),
            "bits_per_byte": -wmean(items["bits_per_byte"]) / math.log(2)}
    for k, v in want.items():
        assert r[k + ",none"] == v, (k, r[k + ",none"], v)
        assert r[k + "_stderr,none"] == "N/A", r
    if bodies:
        got = [json.loads(l)["body"] for l in open(bodies)]
        got = sorted(b["prompt"][0] for b in got if b.get("echo"))
        assert got == sorted(sent), ("window prompts differ", len(got), len(sent))
    print("windows", len(sent), "docs", ndocs)


main()
