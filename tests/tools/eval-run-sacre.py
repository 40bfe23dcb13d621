#!/usr/bin/env python3
"""Test-only re-implementation of sacreBLEU 2.x corpus BLEU (13a), chrF and TER,
as lm-evaluation-harness aggregates its bleu / chrf metrics, to check
eval-run's scores and bootstrap standard errors (tests/tools/eval-run.sh).

Written from sacreBLEU's description (tokenizer_13a.py, tokenizer_re.py,
metrics/bleu.py, metrics/chrf.py, metrics/helpers.py) with Python's own
re module for the tokenizer; lm-eval: metrics.bleu / chrf over
[gold, prediction] items, bootstrap_stderr with iterations capped at 100.

usage: eval-run-sacre.py SAMPLES RESULTS TASK
"""
import json
import math
import random
import re
import sys
from collections import Counter

_RE = [
    (re.compile(r'([\{-\~\[-\` -\&\(-\+\:-\@\/])'), r' \1 '),
    (re.compile(r'([^0-9])([\.,])'), r'\1 \2 '),
    (re.compile(r'([\.,])([^0-9])'), r' \1 \2'),
    (re.compile(r'([0-9])(-)'), r'\1 \2 '),
]


def tok13a(line):
    line = line.replace('<skipped>', '')
    line = line.replace('-\n', '')
    line = line.replace('\n', ' ')
    if '&' in line:
        line = line.replace('&quot;', '"')
        line = line.replace('&amp;', '&')
        line = line.replace('&lt;', '<')
        line = line.replace('&gt;', '>')
    line = f' {line} '
    for r, repl in _RE:
        line = r.sub(repl, line)
    return ' '.join(line.split())


def word_ngrams(line, max_order=4):
    tokens = line.split()
    c = Counter()
    for n in range(1, max_order + 1):
        for i in range(len(tokens) - n + 1):
            c[tuple(tokens[i:i + n])] += 1
    return c, len(tokens)


def bleu_stats(hyp, ref):
    hyp, ref = tok13a(hyp.rstrip()), tok13a(ref.rstrip())
    rng, rlen = word_ngrams(ref)
    hng, hlen = word_ngrams(hyp)
    correct, total = [0] * 4, [0] * 4
    for g, c in hng.items():
        total[len(g) - 1] += c
        if g in rng:
            correct[len(g) - 1] += min(c, rng[g])
    return [hlen, rlen] + correct + total


def my_log(x):
    return -9999999999 if x == 0.0 else math.log(x)


def bleu_score(stats):
    sys_len, ref_len = stats[0], stats[1]
    correct, total = stats[2:6], stats[6:10]
    if sys_len < ref_len:
        bp = math.exp(1 - ref_len / sys_len) if sys_len > 0 else 0.0
    else:
        bp = 1.0
    prec = [0.0] * 4
    if not any(correct):
        return 0.0
    smooth = 1.
    for n in range(1, 5):
        if total[n - 1] == 0:
            break
        if correct[n - 1] == 0:
            smooth *= 2
            prec[n - 1] = 100. / (smooth * total[n - 1])
        else:
            prec[n - 1] = 100. * correct[n - 1] / total[n - 1]
    return bp * math.exp(sum([my_log(p) for p in prec[:4]]) / 4)


def char_ngrams(line, order=6):
    line = ''.join(line.split())
    return [Counter([line[i:i + n] for i in range(len(line) - n + 1)])
            for n in range(1, order + 1)]


def chrf_stats(hyp, ref):
    out = []
    for h, r in zip(char_ngrams(hyp), char_ngrams(ref)):
        m = sum(min(c, r[g]) for g, c in h.items() if g in r)
        out += [sum(h.values()) if r else 0, sum(r.values()), m]
    return out


def chrf_score(stats):
    factor = 2 ** 2
    p = r = 0.0
    eff = 0
    for i in range(6):
        nh, nr, nm = stats[3 * i:3 * i + 3]
        if nh > 0 and nr > 0:
            p += nm / nh
            r += nm / nr
            eff += 1
    if eff == 0:
        p = r = 0.0
    else:
        p /= eff
        r /= eff
    if p + r:
        s = (1 + factor) * p * r
        s /= (factor * p) + r
        return 100 * s
    return 0.0


# TER (metrics/ter.py, lib_ter.py; tokenizer_ter.py with its defaults:
# lowercase, whitespace split)
def ter_edit_distance(h, r):
    nh, nr = len(h), len(r)
    ratio = nr / nh if h else 1
    beam = math.ceil(ratio / 2 + 25) if 25 < ratio / 2 else 25
    inf = int(1e16)
    dist = [[(j, 'i') for j in range(nr + 1)]]
    for i in range(1, nh + 1):
        row = [(inf, 'x')] * (nr + 1)
        diag = math.floor(i * ratio)
        lo, hi = max(0, diag - beam), min(nr + 1, diag + beam)
        if i == nh:
            hi = nr + 1
        for j in range(lo, hi):
            if j == 0:
                row[0] = (dist[i - 1][0][0] + 1, 'd')
                continue
            sub = 0 if h[i - 1] == r[j - 1] else 1
            for cost, op in ((dist[i - 1][j - 1][0] + sub, ' ' if sub == 0 else 's'),
                             (dist[i - 1][j][0] + 1, 'd'),
                             (row[j - 1][0] + 1, 'i')):
                if row[j][0] > cost:
                    row[j] = (cost, op)
        dist.append(row)
    trace, i, j = '', nh, nr
    while i > 0 or j > 0:
        op = dist[i][j][1]
        trace = op + trace
        if op in ' s':
            i, j = i - 1, j - 1
        elif op == 'i':
            j -= 1
        else:
            i -= 1
    return dist[nh][nr][0], trace


def ter_shift(h, r, checked):
    pre, inv = ter_edit_distance(h, r)
    trace = inv.translate(str.maketrans('id', 'di'))
    ph = pr = -1
    herr, rerr, align = [], [], {}
    for op in trace:
        if op in ' s':
            ph += 1; pr += 1; align[pr] = ph
            herr.append(int(op == 's')); rerr.append(int(op == 's'))
        elif op == 'i':
            ph += 1; herr.append(1)
        else:
            pr += 1; align[pr] = ph; rerr.append(1)

    def pairs():
        for sh in range(len(h)):
            for sr in range(len(r)):
                if abs(sr - sh) > 50:
                    continue
                n = 0
                while h[sh + n] == r[sr + n] and n < 10:
                    n += 1
                    yield sh, sr, n
                    if len(h) == sh + n or len(r) == sr + n:
                        break
    best = None
    for sh, sr, n in pairs():
        if sum(herr[sh:sh + n]) == 0 or sum(rerr[sr:sr + n]) == 0:
            continue
        if sh <= align[sr] < sh + n:
            continue
        prev = -1
        for off in range(-1, n):
            if sr + off == -1:
                idx = 0
            elif sr + off in align:
                idx = align[sr + off] + 1
            else:
                break
            if idx == prev:
                continue
            prev = idx
            if idx < sh:
                new = h[:idx] + h[sh:sh + n] + h[idx:sh] + h[sh + n:]
            elif idx > sh + n:
                new = h[:sh] + h[sh + n:idx] + h[sh:sh + n] + h[idx:]
            else:
                new = h[:sh] + h[sh + n:n + idx] + h[sh:sh + n] + h[n + idx:]
            cand = (pre - ter_edit_distance(new, r)[0], n, -sh, -idx, new)
            checked += 1
            if not best or cand > best:
                best = cand
        if checked >= 1000:
            break
    if not best:
        return 0, h, checked
    return best[0], best[4], checked


def ter_stats(hyp, ref):
    h = hyp.rstrip().lower().split()
    r = ref.rstrip().lower().split()
    if not r:
        return [len(h), 0]
    shifts, checked = 0, 0
    while True:
        delta, new, checked = ter_shift(h, r, checked)
        if checked >= 1000 or delta <= 0:
            break
        shifts += 1
        h = new
    return [shifts + ter_edit_distance(h, r)[0], len(r)]


def ter_score(stats):
    edits, reflen = stats
    if reflen > 0:
        return 100 * (edits / reflen)
    return 100.0 if edits > 0 else 0.0


_memo = {}


def corpus(items, stats_fn, score_fn):
    # an item's statistics do not depend on the rest of the corpus, so the
    # bootstrap's resamples can reuse them (sacreBLEU recomputes them)
    rows = []
    for ref, pred in items:
        key = (stats_fn.__name__, ref, pred)
        if key not in _memo:
            _memo[key] = stats_fn(pred, ref)
        rows.append(_memo[key])
    return score_fn([sum(col) for col in zip(*rows)])


def stderr(items, f):
    # lm-eval's bootstrap_stderr with iters = min(100000, 100)
    rnd = random.Random()
    rnd.seed(0)
    res = [f(rnd.choices(items, k=len(items))) for _ in range(100)]
    mu = sum(res) / len(res)
    return math.sqrt(sum([(x - mu) ** 2 for x in res]) / (len(res) - 1))


def main():
    samples, results, task = sys.argv[1:4]
    bleu, chrf, ter = [], [], []
    for line in open(samples):
        s = json.loads(line)
        bleu.append(tuple(s["bleu"]))
        chrf.append(tuple(s["chrf"]))
        ter.append(tuple(s["ter"]))
    r = json.load(open(results))["results"][task]
    fb = lambda xs: corpus(xs, bleu_stats, bleu_score)
    fc = lambda xs: corpus(xs, chrf_stats, chrf_score)
    ft = lambda xs: corpus(xs, ter_stats, ter_score)
    want = {"bleu,none": fb(bleu), "chrf,none": fc(chrf), "ter,none": ft(ter),
            "bleu_stderr,none": stderr(bleu, fb),
            "chrf_stderr,none": stderr(chrf, fc),
            "ter_stderr,none": stderr(ter, ft)}
    for k, v in want.items():
        assert r[k] == v, (k, r[k], v)
    # the tokenizer alone, segment by segment
    print("bleu %.4f chrf %.4f ter %.4f over %d" % (
        want["bleu,none"], want["chrf,none"], want["ter,none"], len(bleu)))


if __name__ == "__main__":
    main()
