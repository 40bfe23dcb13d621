#!/usr/bin/env python3
"""Test oracle for tests/tools/eval-run.sh (never used by the product).

Computes the loglikelihood request bodies lm-evaluation-harness 0.4.8's
local-completions model sends for given request arguments, and compares
them with the bodies a recording server saw. It re-implements, in Python,
what lm-eval does with a Hugging Face tokenizer:

- TemplateLM._encode_pair: the context's trailing whitespace moves to the
  continuation; whole = tok(ctx + cont), ctx_enc = tok(ctx),
  cont_enc = whole[len(ctx_enc):]; no special tokens (add_bos_token False);
- TemplateAPI.batch_loglikelihood_requests: inp = (ctx_enc +
  cont_enc)[-(max_length - 1):];
- create_message with tokenized_requests=False: tokenizer.batch_decode(inp)
  with transformers' defaults, i.e. the ByteLevel decoder and then
  clean_up_tokenization (transformers' str.replace chain) when
  tokenizer_config.json sets clean_up_tokenization_spaces;
- LocalCompletionsAPI._create_payload: {"model", "prompt", "temperature": 0,
  "max_tokens": 1, "logprobs": 1, "seed": 1234, "echo": true}.

The tokenizer is a byte-level BPE tokenizer.json with the GPT-2
pre-tokenizer (gpt2 here), written independently of eval-run's C engine:
GPT-2's regex (Python `regex` module for \\p{L}/\\p{N}), the bytes-to-unicode
table and rank-ordered merges.

usage: eval-run-lmeval.py REF_JSONL TOKENIZER_DIR MODEL MAX_LENGTH
                          strings|ids BODIES_JSONL [SAMPLES_JSONL]
  REF_JSONL: eval-run-ref.py's output ({"doc_id", "args": [[ctx, cont]...]})
  SAMPLES_JSONL (one task; the server is eval-run-fake.py, which tokenizes
  a string prompt one token per character): each loglikelihood must be
  lm-eval's sum(token_logprobs[ctxlen:-1]) over the fake's echo, ctxlen
  being the tokenizer's count, not the server's
  prints "bodies N truncated T cleaned C" when every expected body was seen
  exactly as often as expected and nothing else was sent
"""
import collections
import json
import sys

import regex

PAT = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


def bytes_to_unicode():
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
          + list(range(ord("®"), ord("ÿ") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


class BPE:
    def __init__(self, path):
        j = json.load(open(path + "/tokenizer.json", encoding="utf-8"))
        assert j["pre_tokenizer"]["type"] == "ByteLevel"
        assert j["decoder"]["type"] == "ByteLevel"
        self.vocab = j["model"]["vocab"]
        self.inv = {v: k for k, v in self.vocab.items()}
        for t in j.get("added_tokens", []):
            self.inv[t["id"]] = t["content"]
        merges = j["model"]["merges"]
        merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in merges]
        self.rank = {m: i for i, m in enumerate(merges)}
        self.b2u = bytes_to_unicode()
        self.u2b = {v: k for k, v in self.b2u.items()}
        try:
            cfg = json.load(open(path + "/tokenizer_config.json"))
        except FileNotFoundError:
            cfg = {}
        self.clean = cfg.get("clean_up_tokenization_spaces") is True

    def bpe(self, word):
        parts = list(word)
        while len(parts) > 1:
            best = None
            for i in range(len(parts) - 1):
                r = self.rank.get((parts[i], parts[i + 1]))
                if r is not None and (best is None or r < best[0]):
                    best = (r, i)
            if best is None:
                break
            i = best[1]
            parts[i:i + 2] = [parts[i] + parts[i + 1]]
        return parts

    def encode(self, text):
        ids = []
        for piece in PAT.findall(text):
            word = "".join(self.b2u[b] for b in piece.encode("utf-8"))
            ids += [self.vocab[p] for p in self.bpe(word)]
        return ids

    def decode(self, ids):
        text = "".join(self.inv[i] for i in ids)
        raw = bytes(self.u2b[c] for c in text)
        out = raw.decode("utf-8", errors="replace")
        if self.clean:
            out = (out.replace(" .", ".").replace(" ?", "?").replace(" !", "!")
                   .replace(" ,", ",").replace(" ' ", "'").replace(" n't", "n't")
                   .replace(" 'm", "'m").replace(" 's", "'s").replace(" 've", "'ve")
                   .replace(" 're", "'re"))
        return out


def main():
    ref, tokdir, model, max_length, mode, bodies = sys.argv[1:7]
    tok = BPE(tokdir)
    L = int(max_length) - 1
    want = collections.Counter()
    truncated = cleaned = 0
    per_doc = {}
    for line in open(ref, encoding="utf-8"):
        r = json.loads(line)
        for ctx, cont in r["args"]:
            n = len(ctx) - len(ctx.rstrip())
            if n:
                cont = ctx[-n:] + cont
                ctx = ctx[:-n]
            whole = tok.encode(ctx + cont)
            ctx_enc = tok.encode(ctx)
            inp = (ctx_enc + whole[len(ctx_enc):])[-L:]
            truncated += len(whole) > L
            if mode == "ids":
                prompt = [inp]
            else:
                prompt = tok.decode(inp)
                raw = tok.clean
                tok.clean = False
                cleaned += prompt != tok.decode(inp)
                tok.clean = raw
            ctxlen = len(ctx_enc) - max(0, len(whole) - L)
            per_doc.setdefault(r["doc_id"], []).append((prompt, ctxlen))
            body = {"model": model, "prompt": prompt, "temperature": 0,
                    "max_tokens": 1, "logprobs": 1, "seed": 1234, "echo": True}
            want[json.dumps(body)] += 1
    got = collections.Counter()
    for line in open(bodies, encoding="utf-8"):
        r = json.loads(line)
        assert r["path"] == "/v1/completions", r["path"]
        got[json.dumps(r["body"])] += 1
    if got != want:
        missing = list((want - got).elements())
        extra = list((got - want).elements())
        print("expected but not sent (%d):" % len(missing))
        for b in missing[:2]:
            print("  ", b[:600])
        print("sent but not expected (%d):" % len(extra))
        for b in extra[:2]:
            print("  ", b[:600])
        sys.exit(1)
    if len(sys.argv) > 7:
        def lp(c):
            return -((c % 7) + 1) / 8
        seen = 0
        for line in open(sys.argv[7], encoding="utf-8"):
            smp = json.loads(line)
            for k, (prompt, ctxlen) in enumerate(per_doc[smp["doc_id"]]):
                chars = [ord(c) for c in prompt] if mode != "ids" else prompt[0]
                ll = sum([lp(c) for c in chars[ctxlen:]])
                got_ll = float(smp["resps"][k][0][0])
                assert got_ll == ll, (smp["doc_id"], k, got_ll, ll)
                seen += 1
        assert seen == sum(want.values()), seen
    print("bodies %d truncated %d cleaned %d" % (sum(want.values()), truncated, cleaned))


main()
