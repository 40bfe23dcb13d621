#!/bin/bash
# results-merge: merging records (sections side by side, perf from several
# load generators, eval tasks united), comparing them, and the reports; the
# HTML report is loaded in a real headless Chromium.
. "$(dirname "$0")/../lib.sh"

BASE=$FIXTURES/results-merge/baseline.json
CUSTOM=$FIXTURES/results-merge/custom.json
export BASE CUSTOM

# jq-like slicing of fixtures into test inputs (python3 only builds inputs)
slice() {
  python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
keep=sys.argv[3].split(",")
json.dump({k:v for k,v in d.items() if k=="schema" or k in keep},
          open(sys.argv[2],"w"))' "$@"
}

common_negative_tests results-merge

test_expect_success 'malformed JSON on stdin exits 3, stdout empty' '
  echo "[1," >in &&
  expect_exit 3 results-merge <in >out 2>err &&
  must_be_empty out &&
  must_contain err "^results-merge: error: malformed JSON in .<stdin>."
'

test_expect_success 'a missing input exits 4' '
  expect_exit 4 results-merge "$BASE" nope.json >out 2>err &&
  must_be_empty out &&
  must_contain err "cannot open .nope.json."
'

test_expect_success 'writing to /dev/full exits 4' '
  expect_exit 4 results-merge "$BASE" >/dev/full 2>err &&
  must_contain err "cannot write"
'

test_expect_success 'a report to stdout is a usage error' '
  expect_exit 2 results-merge "$BASE" --html - >out 2>err &&
  must_be_empty out
'

test_expect_success 'a bad --allow is a usage error' '
  expect_exit 2 results-merge --allow model=newest "$BASE" >out 2>err &&
  must_contain err "expected SECTION=first.last"
'

test_expect_success 'sections from parallel steps are merged side by side' '
  slice "$BASE" a.json model,verification,provenance &&
  slice "$BASE" b.json model,perf,endpoint &&
  slice "$BASE" c.json model,eval &&
  results-merge a.json b.json c.json >out 2>err &&
  for s in model verification perf endpoint eval; do
    json_get "$BASE" "d[\"$s\"]" >want &&
    json_get out "d[\"$s\"]" >got &&
    test_cmp want got || return 1
  done &&
  must_contain out "\"program\":\"results-merge\""
'

test_expect_success 'stdin and -i inputs are merged too' '
  slice "$BASE" a.json model,verification &&
  slice "$BASE" b.json model,eval &&
  results-merge - -i b.json <a.json >out 2>err &&
  json_get out "sorted(d)" >keys &&
  must_contain keys "eval.*model.*provenance.*schema.*verification"
'

test_expect_success 'two different models conflict, naming both inputs' '
  slice "$BASE" a.json model &&
  python3 -c "import json
d=json.load(open(\"a.json\")); d[\"model\"][\"name\"]=\"other/model\"
json.dump(d,open(\"b.json\",\"w\"))" &&
  expect_exit 3 results-merge a.json b.json >out 2>err &&
  must_be_empty out &&
  must_contain err "records describe different models: .a.json. has .acme/tiny-llm. and .b.json. has .other/model." &&
  results-merge --allow model=last a.json b.json >out 2>err &&
  test "$(json_get out "d[\"model\"][\"name\"]")" = other/model
'

test_expect_success 'perf from two load generators of one benchmark adds up' '
  slice "$BASE" a.json model,perf &&
  python3 -c "import json
d=json.load(open(\"a.json\")); d[\"perf\"][\"started\"]=\"2020-01-01T00:00:00.000Z\"
json.dump(d,open(\"b.json\",\"w\"))" &&
  results-merge a.json b.json >out 2>err &&
  for i in 0 1 2 3 4; do
    one=$(json_get a.json "d[\"perf\"][\"runs\"][$i][\"requests\"][\"successful\"]") &&
    two=$(json_get out "d[\"perf\"][\"runs\"][$i][\"requests\"][\"successful\"]") &&
    test "$two" = "$((2 * one))" &&
    one=$(json_get a.json "d[\"perf\"][\"runs\"][$i][\"metrics\"][\"successful\"][\"ttft_ms\"][\"max\"]") &&
    two=$(json_get out "d[\"perf\"][\"runs\"][$i][\"metrics\"][\"successful\"][\"ttft_ms\"][\"max\"]") &&
    test "$one" = "$two" &&
    test "$(json_get out "d[\"perf\"][\"runs\"][$i][\"merged_from\"]")" = 2 ||
    return 1
  done &&
  test "$(json_get out "d[\"perf\"][\"started\"]")" = 2020-01-01T00:00:00.000Z
'

test_expect_success 'perf of different benchmarks conflicts' '
  slice "$BASE" a.json model,perf &&
  slice "$CUSTOM" b.json model,perf &&
  expect_exit 3 results-merge a.json b.json >out 2>err &&
  must_be_empty out &&
  must_contain err "conflicting section .perf. in .a.json. and .b.json.: different benchmarks"
'

test_expect_success 'eval tasks from several runs form one result set' '
  python3 -c "import json,os
d=json.load(open(os.environ[\"BASE\"]))
for n,tasks in ((\"a\",[\"gsm8k\"]),(\"b\",[\"mmlu\",\"hellaswag\"])):
    e=dict(d[\"eval\"])
    e[\"results\"]={t:d[\"eval\"][\"results\"][t] for t in tasks}
    e[\"n-samples\"]={t:d[\"eval\"][\"n-samples\"][t] for t in tasks}
    e[\"higher_is_better\"]={t:d[\"eval\"][\"higher_is_better\"][t] for t in tasks}
    json.dump({\"schema\":d[\"schema\"],\"eval\":e},open(n+\".json\",\"w\"))" &&
  results-merge a.json b.json >out 2>err &&
  json_get "$BASE" "d[\"eval\"][\"results\"]" >want &&
  json_get out "d[\"eval\"][\"results\"]" >got &&
  python3 -c "import json,sys
sys.exit(json.load(open(\"want\")) != json.load(open(\"got\")))" &&
  test "$(json_get out "sorted(d[\"eval\"][\"n-samples\"])")" = \
    "[\"gsm8k\", \"hellaswag\", \"mmlu\"]"
'

# mmlu_groups DIR WEIGHT STEM HUM: a two-level mmlu-like group "pick" over
# groups "pick_stem" and "pick_hum" with the given subjects.
mmlu_groups() {
  mkdir -p "$1" &&
  for g in pick_stem:"$3" pick_hum:"$4" pick:"pick_stem, pick_hum"; do
    printf "group: %s\ntask: [%s]\naggregate_metric_list:\n  - metric: acc\n    weight_by_size: %s\nmetadata:\n  version: 1\n" \
      "${g%%:*}" "${g#*:}" "$2" >"$1/${g%%:*}.yaml" || return 1
  done
}

# eval_shards WEIGHT A_STEM A_HUM B_STEM B_HUM: eval-run over two shards
# of MMLU subjects (A and B) and over all of them (C), against mock-llm
# answering from one answer key.
eval_shards() {
  mmlu_groups A "$1" "$2" "$3" &&
  mmlu_groups B "$1" "$4" "$5" &&
  mmlu_groups C "$1" "$2, $4" "$3, $5" &&
  E="--tasks pick --data-dir $SHARED/data --limit 0.1" &&
  eval-run $E --include-path C --write-answer-key key.jsonl 2>err &&
  start_mock K --model m --ttft-ms 0 --itl-ms 0 --answer-key key.jsonl \
    --answer-accuracy 0.6 &&
  for d in A B C; do
    eval-run $E --include-path $d --base-url "$K_URL" --model m -q \
      >$d.json || return 1
  done
}

# same_groups MERGED SINGLE: every group figure equal (to the last printed
# digit), and the sample counts
same_groups() {
  python3 - "$1" "$2" <<'PYEND'
import json, sys
m = json.load(open(sys.argv[1]))["eval"]; c = json.load(open(sys.argv[2]))["eval"]
assert sorted(m["groups"]) == sorted(c["groups"]) == ["pick", "pick_hum", "pick_stem"]
assert sorted(m["group_subtasks"]) == sorted(c["group_subtasks"])
for g, want in c["groups"].items():
    got = m["groups"][g]
    assert sorted(got) == sorted(want), (g, got, want)
    for k, v in want.items():
        if isinstance(v, float):
            assert abs(got[k] - v) <= 1e-15 * abs(v), (g, k, got[k], v)
        else:
            assert got[k] == v, (g, k, got[k], v)
    assert m["n-samples"][g] == c["n-samples"][g], g
assert m["group_subtasks"] == c["group_subtasks"], m["group_subtasks"]
# the shards really differ from the union
a = json.load(open("A.json"))["eval"]["groups"]["pick"]["acc,none"]
assert abs(a - c["groups"]["pick"]["acc,none"]) > 1e-3, a
PYEND
}

test_expect_success 'eval: mmlu-like groups are recomputed from merged subjects' '
  eval_shards true mmlu_anatomy mmlu_jurisprudence mmlu_astronomy \
    mmlu_virology &&
  results-merge A.json B.json >M.json 2>err &&
  same_groups M.json C.json &&
  must_contain err "group .pick_stem. .*weighted, as lm-eval" &&
  results-merge --compare C.json M.json --csv cmp.csv >cmp &&
  json_get cmp "[r[\"delta\"][1] for r in d[\"comparison\"][\"rows\"] if r.get(\"task\") == \"pick\"]" >delta &&
  must_contain delta "^\[0(\.0)?\]$"
'

test_expect_success 'eval: a group that is not weighted by size stays so' '
  eval_shards false "mmlu_anatomy, mmlu_astronomy" mmlu_jurisprudence \
    mmlu_college_biology "mmlu_virology, mmlu_world_religions" &&
  results-merge A.json B.json >M.json 2>err &&
  same_groups M.json C.json &&
  must_not_contain err "weighted, as lm-eval" &&
  python3 -c "import json
c=json.load(open(\"C.json\"))[\"eval\"]
t={x[\"task\"]:x[\"metrics\"][\"acc,none\"][\"value\"] for x in c[\"tasks\"]}
assert c[\"groups\"][\"pick\"][\"acc,none\"] == sum(t.values())/6, c[\"groups\"]"
'

test_expect_success 'eval: one group weighted in one input, not in another, conflicts' '
  eval_shards true "mmlu_anatomy, mmlu_astronomy" mmlu_jurisprudence \
    mmlu_college_biology "mmlu_virology, mmlu_world_religions" &&
  mmlu_groups D false mmlu_college_biology \
    "mmlu_virology, mmlu_world_religions" &&
  eval-run $E --include-path D --base-url "$K_URL" --model m -q >D.json &&
  expect_exit 3 results-merge A.json D.json >out 2>err &&
  must_be_empty out &&
  must_contain err "conflicting aggregation of group .eval.groups.pick."
'

test_expect_success 'the same task with other results conflicts' '
  slice "$BASE" a.json eval &&
  python3 -c "import json
d=json.load(open(\"a.json\"))
d[\"eval\"][\"results\"][\"gsm8k\"][\"exact_match,strict-match\"]=0.1
json.dump(d,open(\"b.json\",\"w\"))" &&
  expect_exit 3 results-merge a.json b.json >out 2>err &&
  must_be_empty out &&
  must_contain err "conflicting results for .eval.results.gsm8k.exact_match,strict-match. in .a.json. and .b.json."
'

test_expect_success 'compare: deltas, labels and significance' '
  results-merge --compare "$BASE" "$CUSTOM" --label baseline --label custom \
    --markdown cmp.md --csv cmp.csv >out 2>err &&
  json_get out "[e[\"label\"] for e in d[\"comparison\"][\"entries\"]]" >labels &&
  must_contain labels "baseline.*custom" &&
  json_get out "[r for r in d[\"comparison\"][\"rows\"] if r.get(\"task\")==\"gsm8k\"][0]" >row &&
  must_contain row "\"values\": \[0.4238, 0.4391\]" &&
  must_contain row "\"significant\": \[null, false\]" &&
  must_contain cmp.md "^\| gsm8k \| exact_match,strict-match \| 0.4238 ± 0.0136 \| 0.4391 ± 0.0137 \(\+0.0153, \+3.6%, within 1 SE\) \|" &&
  must_contain cmp.md "Max sustainable rate \(req/s\) \(higher is better\) \| 45 \| 30 \(-15, -33.3%\)" &&
  must_contain cmp.md "^## Performance at the same offered load \(30 req/s\)" &&
  must_contain cmp.csv "custom\.json,acme/tiny-llm,custom,perf_same_load,constant@30,30,,latency_p50_ms,ms,224\.927065," &&
  must_contain cmp.csv "^source,model,label,group,run,rate,task,metric,unit,value" &&
  must_contain cmp.csv "custom\.json,acme/tiny-llm,custom,perf,,,,max_sustainable_rps,req/s,30,,-15," &&
  test "$(json_get out "d[\"report\"][\"markdown\"][\"sha256\"]")" = \
    "$(sha256sum cmp.md | cut -d" " -f1)"
'

test_expect_success 'compare: different loads say so instead of deltas' '
  results-merge --compare "$FIXTURES/results-merge/sweep.json" \
    "$FIXTURES/results-merge/sweep-custom.json" --label baseline \
    --label support-bot --markdown cmp.md >out 2>err &&
  test "$(json_get out "d[\"comparison\"][\"loads\"][\"headline\"]")" = \
    "different loads: not comparable" &&
  test "$(json_get out "set(r[\"delta\"][1] for r in d[\"comparison\"][\"rows\"] if r[\"group\"]==\"perf\")")" = "{None}" &&
  must_contain cmp.md "^\*\*different loads: not comparable\*\*" &&
  must_contain cmp.md "^\| Requests/s \(higher is better\) \| 20.43 \| 3.63 \|$"
'

test_expect_success 'merge: a single record with a report' '
  results-merge "$BASE" --label baseline --markdown r.md >out 2>err &&
  must_contain r.md "^# Results: acme/tiny-llm" &&
  must_contain r.md "constant@45 \| 45 \| 41.97 \|" &&
  test "$(json_get out "d[\"report\"][\"markdown\"][\"path\"]")" = r.md
'

# pod.json and pod-samples.jsonl: one real perf-run (constant 10 and 30
# req/s against mock-llm) with its per-request samples.
split_pod() {
  cp "$FIXTURES/results-merge/pod.json" "$FIXTURES/results-merge/pod-samples.jsonl" . &&
  python3 -c 'import json,hashlib
d=json.load(open("pod.json"))
lines=open("pod-samples.jsonl").read().splitlines(True)
def rec(name, ls):
    data="".join(ls).encode()
    open(name+".jsonl","wb").write(data)
    r=json.loads(json.dumps(d))
    r["perf"]["samples"]={"path":name+".jsonl","bytes":len(data),
                          "sha256":hashlib.sha256(data).hexdigest()}
    json.dump(r,open(name+".json","w"))
for i in range(3): rec("part%d"%i, lines[i::3])
rec("full", lines); rec("empty", [])'
}

test_expect_success 'perf: one run split over three processes merges exactly' '
  split_pod &&
  results-merge part0.json part1.json part2.json >m3 2>err &&
  results-merge full.json empty.json >m1 2>err1 &&
  python3 -c "import json,sys
a=json.load(open(\"m3\"))[\"perf\"][\"runs\"]
b=json.load(open(\"m1\"))[\"perf\"][\"runs\"]
o=json.load(open(\"pod.json\"))[\"perf\"][\"runs\"]
bad=0
for i in range(len(o)):
    # identical to the same requests measured by one process
    bad|=a[i][\"metrics\"]!=b[i][\"metrics\"]
    bad|=a[i][\"requests\"]!=o[i][\"requests\"]
    bad|=a[i][\"metrics_from\"]!=\"samples\"
    # and to perf-run itself, but for the samples file keeping times in us
    for bk,ms in o[i][\"metrics\"].items():
        for m,dist in ms.items():
            got=a[i][\"metrics\"][bk][m]
            bad|=got[\"count\"]!=dist[\"count\"]
            for p,v in dist[\"percentiles\"].items():
                if abs(got[\"percentiles\"][p]-v)>0.0011*max(1,abs(v)/1000):
                    print(i,bk,m,p,v,got[\"percentiles\"][p]); bad=1
sys.exit(bad)" &&
  results-merge m3 >again 2>/dev/null &&
  must_not_contain again "percentiles_approx"
'

test_expect_success 'perf: changed samples fall back to histograms, with a warning' '
  split_pod &&
  echo "{}" >>part1.jsonl &&
  results-merge part0.json part1.json part2.json >m3 2>err &&
  must_contain err "samples file .part1.jsonl. of .part1.json. changed since it was written" &&
  must_contain m3 "\"percentiles_approx\":true"
'

CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -n "$CHROMIUM" ]; then
  export CHROMIUM
  test_expect_success 'html: renders in headless Chromium with its charts' '
    results-merge --compare "$BASE" "$CUSTOM" --label baseline \
      --label custom --html cmp.html >out 2>err &&
    must_not_contain cmp.html "(src|href)=" &&
    must_not_contain cmp.html "<script" &&
    mkdir profile &&
    timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu \
      --disable-quic --no-first-run --disable-background-networking \
      --disable-component-update --disable-sync \
      --user-data-dir="$PWD/profile" --dump-dom "file://$PWD/cmp.html" \
      >dom.html 2>chrome.err &&
    for id in chart-throughput chart-tokens chart-ttft chart-itl \
              chart-latency chart-ttft-dist chart-itl-dist chart-accuracy; do
      must_contain dom.html "<svg id=\"$id\"" || return 1
    done &&
    test "$(grep -o "<circle" dom.html | wc -l)" -ge 60 &&
    must_contain dom.html "class=\"badge pass\">PASS" &&
    must_contain dom.html "41.97" &&
    must_contain dom.html ">1: max 45</text>" &&
    must_contain dom.html ">2: max 30</text>" &&
    must_contain dom.html "Comparison of acme/tiny-llm: baseline vs custom" &&
    must_contain dom.html "Performance at the same offered load \(30&nbsp;req/s\)" &&
    must_contain dom.html "synthetic prompt_tokens=256,output_tokens=24" &&
    must_contain dom.html "gsm8k"
  '
  # A real sweep (synchronous, throughput, then constant steps, the
  # throughput step's achieved rate inside the constant range) against
  # the engineer's one constant step: the report that used to zig-zag.
  test_expect_success 'html: knee charts of a real sweep: a line in rate order, labelled step markers, nothing clipped' '
    results-merge --compare "$FIXTURES/results-merge/sweep.json" \
      "$FIXTURES/results-merge/sweep-custom.json" --label baseline \
      --label support-bot --html sweep.html >out 2>err &&
    results-merge "$FIXTURES/results-merge/sweep.json" --html one.html >out &&
    for page in sweep one; do
      timeout 120 python3 "$MG_TOP/tests/browser.py" eval \
        "file://$PWD/$page.html" \
        "$(cat "$MG_TOP/tests/tools/report-charts.js")" >$page.seen || return 1
      python3 -c "import json,sys
d=json.load(open(sys.argv[1]))
bad=0
def no(what, v):
    global bad
    if v: print(what, v); bad=1
no(\"clipped text:\", d[\"clipped\"])
no(\"lines that double back:\", d[\"backwards\"])
for c in (\"chart-throughput\",\"chart-tokens\",\"chart-ttft\",\"chart-itl\",\"chart-latency\"):
    m=d[\"markers\"].get(c)
    if m is None: print(\"no chart\", c); bad=1; continue
    # baseline: its synchronous and throughput steps, on their own, labelled
    if \"synchronous:sync\" not in m or \"throughput:throughput\" not in m:
        print(c, \"markers:\", m); bad=1
    x, y = d[\"axes\"][c]
    if \"(req/s)\" not in x or not (\"(ms)\" in y or \"/s)\" in y):
        print(c, \"axes without units:\", x, y); bad=1
sys.exit(bad)" $page.seen || return 1
    done &&
    mkdir -p "$MG_BUILD/report" &&
    timeout 120 python3 "$MG_TOP/tests/browser.py" shot "file://$PWD/sweep.html" \
      "$MG_BUILD/report/test-sweep-charts.png"
  '
else
  test_skip 'html: renders in headless Chromium with its charts' "chromium is not installed"
  test_skip 'html: knee charts of a real sweep: a line in rate order, labelled step markers, nothing clipped' "chromium is not installed"
fi

test_done
