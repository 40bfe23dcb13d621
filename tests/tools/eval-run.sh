#!/bin/bash
# eval-run: prompts, requests, scores and outputs against lm-eval's behaviour.
# Prompts are compared byte for byte with tests/tools/eval-run-ref.py (real
# jinja2 and CPython's random re-implementing lm-eval's prompt building);
# scores are compared with mock-llm's answer key (--answer-expect); request
# bodies are captured by tests/tools/eval-run-fake.py.
. "$(dirname "$0")/../lib.sh"

F=$FIXTURES/eval-run
REF=$MG_TOP/tests/tools/eval-run-ref.py
FAKE=$MG_TOP/tests/tools/eval-run-fake.py
MMLU=$SHARED/data/mmlu
HAVE_PY=0
python3 -c 'import jinja2' 2>/dev/null && HAVE_PY=1

common_negative_tests eval-run

test_expect_success 'malformed JSON on stdin exits 3, stdout empty' '
  echo "{" | expect_exit 3 eval-run --tasks mmlu_anatomy --data-dir "$SHARED/data" \
    --base-url http://127.0.0.1:1 --model m >out 2>err &&
  must_be_empty out && must_contain err "^eval-run: error: malformed JSON"
'

test_expect_success 'missing input file exits 4' '
  expect_exit 4 eval-run --tasks mmlu_anatomy -i no-such.json >out 2>err &&
  must_be_empty out && must_contain err "no-such.json"
'

test_expect_success '--list-tasks to /dev/full exits 4' '
  expect_exit 4 eval-run --list-tasks >/dev/full 2>err &&
  must_contain err "cannot write"
'

test_expect_success '--list-tasks knows the built-in tasks, groups and tags' '
  eval-run --list-tasks >out &&
  for t in mmlu mmlu_stem mmlu_humanities mmlu_jurisprudence \
           mmlu_stem_tasks gsm8k arc_easy arc_challenge hellaswag ai2_arc; do
    grep -qx "$t" out || { echo "missing $t"; exit 1; }
  done &&
  test "$(grep -c "^mmlu_" out)" -ge 61
'

test_expect_success 'usage errors: no tasks, unknown task, bad limit' '
  expect_exit 2 eval-run >out 2>err && must_contain err "no tasks" &&
  expect_exit 2 eval-run --tasks no_such_task --base-url http://x \
    --model m </dev/null >out 2>err &&
  must_contain err "unknown task .no_such_task." && must_be_empty out &&
  expect_exit 2 eval-run --tasks gsm8k --limit 1.5 2>err &&
  expect_exit 2 eval-run --tasks gsm8k --log-samples 2>err &&
  must_contain err "needs --output-path"
'

test_expect_success 'MMLU prompt and continuations are lm-eval'"'"'s' '
  eval-run --tasks mmlu_abstract_algebra --data-dir "$SHARED/data" --limit 1 \
    --write-answer-key key.jsonl 2>err &&
  printf "%s\n" "{\"context\": \"The following are multiple choice questions (with answers) about abstract algebra.\\n\\nFind the degree for the given field extension Q(sqrt(2), sqrt(3), sqrt(18)) over Q.\\nA. 0\\nB. 4\\nC. 2\\nD. 6\\nAnswer:\", \"continuation\": \" B\", \"task\": \"mmlu_abstract_algebra\", \"doc_id\": 0}" >expect &&
  test_cmp expect key.jsonl
'

test_expect_success 'custom YAML task: the tutorial prompt, data path fallback' '
  mkdir t && cp "$SHARED/data/custom-task-example/task.yaml" \
    "$SHARED/data/custom-task-example/data.jsonl" t/ &&
  eval-run --tasks custom-lmeval-task --include-path t \
    --write-answer-key key.jsonl 2>err &&
  must_contain err "data file ./opt/app-root/src/my_tasks/data.jsonl. not found" &&
  test "$(wc -l <key.jsonl)" = 4 &&
  eval-run --tasks tutorial_mc --include-path "$F/tasks" \
    --write-answer-key key2.jsonl 2>err &&
  head -1 key2.jsonl >first &&
  printf "%s\n" "{\"context\": \"Question: What is 2+2?\\n\\nChoices:\\n- (A) 3\\n- (B) 4\\n- (C) 5\\n- (D) 6\\n\\nAnswer:\", \"continuation\": \" 4\", \"task\": \"tutorial_mc\", \"doc_id\": 0}" >expect &&
  test_cmp expect first
'

start_mock M --model m --ttft-ms 0 --itl-ms 0

# The admission gate (lib mg_record_gate), as perf-run holds it.
cat >"$TRASH_ROOT/failed.json" <<'JSON'
{"schema":"modelgate.record/v1","model":{"name":"tiny"},"verification":{"verdict":"fail","findings":[{"severity":"error","check":"safetensors","path":"model.safetensors","message":"tensor 'w' ends past the data"}]}}
JSON
test_expect_success 'gate: a failed verdict is refused, exit 1, the record passed on unchanged' '
  expect_exit 1 eval-run --base-url "$M_URL" --model m --tasks tutorial_mc \
    --include-path "$F/tasks" -i "$TRASH_ROOT/failed.json" >out.json 2>err &&
  test $(wc -l <err) = 1 &&
  must_contain err "^eval-run: error: refusing model .tiny.: verdict .fail.: safetensors .model.safetensors.: tensor .w. ends past the data \(--allow-unverified overrides\)$" &&
  python3 -c "import json,sys; sys.exit(json.load(open(sys.argv[1])) != json.load(open(sys.argv[2])))" \
    "$TRASH_ROOT/failed.json" out.json
'

test_expect_success 'gate: an unverified model record is refused; --allow-unverified evaluates' '
  printf "%s" "{\"schema\":\"modelgate.record/v1\",\"model\":{\"name\":\"raw\"}}" >in.json &&
  expect_exit 1 eval-run --base-url "$M_URL" --model m --tasks tutorial_mc \
    --include-path "$F/tasks" -i in.json >out.json 2>err &&
  must_contain err "refusing model .raw.: no verification verdict" &&
  must_not_contain out.json "\"eval\"" &&
  eval-run --base-url "$M_URL" --model m --tasks tutorial_mc --allow-unverified \
    --include-path "$F/tasks" -i in.json >out.json 2>err &&
  must_contain err "warning: --allow-unverified: evaluating anyway" &&
  must_contain out.json "\"eval\""
'

# run_oracle TASK FORMAT TEST [FEWSHOT]: compares eval-run's samples with
# the oracle's request arguments (uses res.json and s/ from the last run).
run_oracle() {
  python3 "$REF" res.json "$@" >ref.jsonl &&
  python3 - ref.jsonl "s/samples_$1.jsonl" <<'EOF'
import json, sys
ref = [json.loads(l) for l in open(sys.argv[1])]
got = {}
for l in open(sys.argv[2]):
    s = json.loads(l)
    got.setdefault(s["doc_id"], [[a["arg_0"], a["arg_1"]]
                                 for a in s["arguments"].values()])
bad = [r["doc_id"] for r in ref if got.get(r["doc_id"]) != r["args"]]
if bad or not ref:
    print("mismatching docs:", bad[:10], "of", len(ref))
    r = next(x for x in ref if x["doc_id"] == bad[0]) if bad else None
    if r:
        print("want", json.dumps(r["args"])[:800])
        print("got ", json.dumps(got.get(r["doc_id"]))[:800])
    sys.exit(1)
EOF
}

if [ "$HAVE_PY" = 1 ]; then
test_expect_success 'MMLU 0-shot and 5-shot prompts are byte-identical to the reference' '
  for n in 0 5; do
    eval-run --tasks mmlu_jurisprudence,mmlu_high_school_european_history \
      --data-dir "$SHARED/data" --num-fewshot $n --base-url "$M_URL" \
      --model m --num-concurrent 8 -q --output-lm-eval res.json \
      --log-samples --samples-dir s >rec.json &&
    run_oracle mmlu_jurisprudence mmlu "$MMLU/test/jurisprudence_test.csv" \
      "$MMLU/dev/jurisprudence_dev.csv" &&
    run_oracle mmlu_high_school_european_history mmlu \
      "$MMLU/test/high_school_european_history_test.csv" \
      "$MMLU/dev/high_school_european_history_dev.csv" || exit 1
  done
'

test_expect_success 'GSM8K 5-shot: CPython random.sample picks the same shots' '
  mkdir -p d/gsm8k &&
  head -40 "$SHARED/data/gsm8k/test.jsonl" >d/gsm8k/test.jsonl &&
  sed -n "100,400p" "$SHARED/data/gsm8k/test.jsonl" >d/gsm8k/train.jsonl &&
  eval-run --tasks gsm8k --data-dir d --base-url "$M_URL" --model m \
    --num-concurrent 8 -q --output-lm-eval res.json --log-samples \
    --samples-dir s >rec.json &&
  run_oracle gsm8k jsonl d/gsm8k/test.jsonl d/gsm8k/train.jsonl
'

test_expect_success 'ARC (0/3-shot) and HellaSwag prompts match the reference' '
  eval-run --tasks arc_easy,arc_challenge,hellaswag --data-dir "$F/data" \
    --base-url "$M_URL" --model m -q --output-lm-eval res.json \
    --log-samples --samples-dir s >rec.json &&
  run_oracle arc_easy arc "$F/data/arc/ARC-Easy/ARC-Easy-Test.jsonl" &&
  run_oracle arc_challenge arc \
    "$F/data/arc/ARC-Challenge/ARC-Challenge-Test.jsonl" &&
  run_oracle hellaswag hellaswag "$F/data/hellaswag/hellaswag_val.jsonl" &&
  eval-run --tasks arc_easy --num-fewshot 3 --data-dir "$F/data" \
    --base-url "$M_URL" --model m -q --output-lm-eval res.json \
    --log-samples --samples-dir s >rec.json &&
  run_oracle arc_easy arc "$F/data/arc/ARC-Easy/ARC-Easy-Test.jsonl" \
    "$F/data/arc/ARC-Easy/ARC-Easy-Train.jsonl"
'

test_expect_success 'custom task few-shot from its own split matches the reference' '
  eval-run --tasks tutorial_mc --include-path "$F/tasks" --num-fewshot 3 \
    --base-url "$M_URL" --model m -q --output-lm-eval res.json \
    --log-samples --samples-dir s >rec.json &&
  run_oracle tutorial_mc jsonl "$F/tasks/tutorial_data.jsonl"
'
else
  test_skip 'MMLU 0-shot and 5-shot prompts are byte-identical to the reference' "python3 with jinja2 is not installed"
  test_skip 'GSM8K 5-shot: CPython random.sample picks the same shots' "python3 with jinja2 is not installed"
  test_skip 'ARC (0/3-shot) and HellaSwag prompts match the reference' "python3 with jinja2 is not installed"
  test_skip 'custom task few-shot from its own split matches the reference' "python3 with jinja2 is not installed"
fi

test_expect_success 'request bodies, ctxlen and loglikelihood as lm-eval computes them' '
  (python3 "$FAKE" port bodies.jsonl & echo $! >pid) && sleep 0.5 &&
  while [ ! -s port ]; do sleep 0.1; done &&
  eval-run --tasks tutorial_mc --include-path "$F/tasks" --limit 2 \
    --base-url "http://127.0.0.1:$(cat port)/v1/completions" --model my/model \
    -q --log-samples --samples-dir s --max-length 64 >rec.json;
  rc=$?; kill $(cat pid); test $rc = 0 &&
  python3 - bodies.jsonl s/samples_tutorial_mc.jsonl <<'"'"'EOF'"'"'
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
comp = [r["body"] for r in reqs if r["path"] == "/v1/completions"]
tok = [r["body"] for r in reqs if r["path"] == "/tokenize"]
assert all(list(t) == ["prompt", "add_special_tokens"] and
           t["add_special_tokens"] is False for t in tok), tok[0]
assert len(comp) == 8, len(comp)
for b in comp:
    assert list(b) == ["model", "prompt", "temperature", "max_tokens",
                       "logprobs", "seed", "echo"], list(b)
    assert (b["model"], b["temperature"], b["max_tokens"], b["logprobs"],
            b["seed"], b["echo"]) == ("my/model", 0, 1, 1, 1234, True), b
    assert isinstance(b["prompt"], list) and len(b["prompt"]) == 1
def lp(c): return -((c % 7) + 1) / 8
L = 63  # max_length 64 minus the generated token
seen = 0
for line in open(sys.argv[2]):
    s = json.loads(line)
    for k, a in enumerate(s["arguments"].values()):
        ctx, cont = a["arg_0"], a["arg_1"]
        c2 = ctx.rstrip()
        whole = [ord(c) for c in ctx + cont]
        ctx_enc = [ord(c) for c in c2]
        inp = (ctx_enc + whole[len(ctx_enc):])[-L:]
        ctxlen = len(ctx_enc) - max(0, len(ctx_enc) + len(whole) - len(ctx_enc) - L)
        assert [inp] in [b["prompt"] for b in comp], "prompt ids"
        ll = sum([lp(i) for i in inp[ctxlen:]])
        got = float(s["resps"][k][0][0])
        assert got == ll, (got, ll)
        assert s["resps"][k][0][1] == "True"
        seen += 1
assert seen == 8
EOF
'

test_expect_success 'generation bodies: token-id prompt, stop, max_tokens, extra kwargs' '
  (python3 "$FAKE" port bodies.jsonl & echo $! >pid) &&
  while [ ! -s port ]; do sleep 0.1; done &&
  eval-run --tasks tutorial_suite --include-path "$F/tasks" --limit 2 \
    --base-url "http://127.0.0.1:$(cat port)/v1/completions" --model m -q \
    --gen-kwargs top_p=0.5 --log-samples --samples-dir s >rec.json;
  rc=$?; kill $(cat pid); test $rc = 0 &&
  python3 - bodies.jsonl s/samples_tutorial_gen.jsonl <<'"'"'EOF'"'"'
import json, sys
reqs = [json.loads(l)["body"] for l in open(sys.argv[1])]
gen = [b for b in reqs if "echo" not in b and "add_special_tokens" not in b]
assert len(gen) == 2, gen
for b in gen:
    assert list(b) == ["prompt", "model", "max_tokens", "temperature", "stop",
                       "seed", "top_p"], list(b)
    assert (b["max_tokens"], b["stop"], b["seed"], b["top_p"]) == (16, ["\n"], 1234, 0.5), b
s = [json.loads(l) for l in open(sys.argv[2])]
ctxs = [x["arguments"]["gen_args_0"]["arg_0"] for x in s]
assert sorted(b["prompt"] for b in gen) == sorted([[ord(c) for c in t]] for t in ctxs)
assert s[0]["resps"] == [[" 42"]] and s[0]["filtered_resps"] == ["42"], s[0]
EOF
'

test_expect_success '--tokenizer offsets scores like remote where tokens align' '
  start_mock O --model m --ttft-ms 0 --itl-ms 0 &&
  for tk in remote offsets; do
    eval-run --tasks tutorial_mc --include-path "$F/tasks" --base-url "$O_URL" \
      --model m -q --tokenizer $tk --log-samples --samples-dir $tk >/dev/null ||
    exit 1
  done &&
  python3 - <<'"'"'EOF'"'"'
import json
a = [json.loads(l)["resps"] for l in open("remote/samples_tutorial_mc.jsonl")]
b = [json.loads(l)["resps"] for l in open("offsets/samples_tutorial_mc.jsonl")]
assert a == b and len(a) == 6, (a, b)
EOF
'

test_expect_success 'a local tokenizer.json gives ctxlen without /tokenize calls' '
  tok="$SHARED/data/tokenizers/gpt2" &&
  test -f "$tok/tokenizer.json" &&
  printf "%s\n" "{\"q\": \"A curious otter paddled past the sleeping ferry at dawn.\", \"choices\": [\"yes\", \"no\"], \"answer\": 0}" >d.jsonl &&
  printf "task: tok\ndataset_path: json\ndataset_kwargs:\n  data_files: d.jsonl\ntest_split: train\noutput_type: multiple_choice\ndoc_to_text: \"{{q}}\"\ndoc_to_target: answer\ndoc_to_choice: choices\n" >tok.yaml &&
  (python3 "$FAKE" port bodies.jsonl & echo $! >pid) &&
  while [ ! -s port ]; do sleep 0.1; done &&
  eval-run --tasks tok.yaml --tokenizer "$tok" \
    --base-url "http://127.0.0.1:$(cat port)" --model m -q --log-samples \
    --samples-dir s >rec.json;
  rc=$?; kill $(cat pid); test $rc = 0 &&
  grep "english-001" "$tok/golden.jsonl" | grep "\"add_special_tokens\": false" >golden &&
  python3 - golden bodies.jsonl s/samples_tok.jsonl <<'"'"'EOF'"'"'
import json, sys
gold = json.loads(open(sys.argv[1]).readline())["ids"]
reqs = [json.loads(l) for l in open(sys.argv[2])]
assert not [r for r in reqs if r["path"] == "/tokenize"], "no /tokenize"
comp = [r["body"]["prompt"][0] for r in reqs]
assert len(comp) == 2 and all(p[:len(gold)] == gold for p in comp), comp
def lp(c): return -((c % 7) + 1) / 8
s = json.loads(open(sys.argv[3]).readline())
for k, p in enumerate(comp):
    assert len(p) > len(gold)
    assert float(s["resps"][k][0][0]) == sum([lp(i) for i in p[len(gold):]])
EOF
'

test_expect_success 'a server that ignores echo is refused, not scored at chance' '
  (python3 "$FAKE" port bodies.jsonl noecho & echo $! >pid) &&
  while [ ! -s port ]; do sleep 0.1; done &&
  expect_exit 5 eval-run --tasks tutorial_mc --include-path "$F/tasks" \
    --base-url "http://127.0.0.1:$(cat port)" --model m >out 2>err;
  rc=$?; kill $(cat pid); test $rc = 0 &&
  must_be_empty out && must_contain err "ignores .echo." &&
  must_contain err "task .tutorial_mc. document 0"
'

ROLL=$MG_TOP/tests/tools/eval-run-roll.py
CHAT=$MG_TOP/tests/tools/eval-run-chat.py
GPT2=$SHARED/data/tokenizers/gpt2

# start_fake LOG [MODE]: the recording server (eval-run-fake.py) on a new
# port; sets FAKE_URL and FAKE_PID
start_fake() {
  rm -f fake.port
  python3 "$FAKE" fake.port "$@" & FAKE_PID=$!
  kill_at_exit $FAKE_PID
  while [ ! -s fake.port ]; do sleep 0.05; done
  FAKE_URL=http://127.0.0.1:$(cat fake.port)
}

test_expect_success 'loglikelihood_rolling: lm-eval windows, sums and perplexities' '
  start_fake bodies.jsonl &&
  eval-run --tasks rolling_text --include-path "$F/rolling" \
    --base-url "$FAKE_URL" --model m --max-length 16 \
    --model-args custom_prefix_token_id=7 -q --log-samples --samples-dir s \
    --output-lm-eval res.json >rec.json;
  rc=$?; kill $FAKE_PID; test $rc = 0 &&
  python3 "$ROLL" s/samples_rolling_text.jsonl res.json rolling_text 7 16 \
    chars fake bodies.jsonl >out && must_contain out "windows 2[0-9] docs 6" &&
  json_get rec.json "d[\"eval\"][\"tasks\"][0][\"metrics\"][\"bits_per_byte,none\"][\"stderr\"]" >se &&
  echo None >none && test_cmp none se
'

test_expect_success 'loglikelihood_rolling with a local tokenizer: BOS prefix, no /tokenize' '
  python3 - "$GPT2/golden.jsonl" <<-\EOF &&
	import json, sys
	want = ["doc-001", "doc-002", "long_words-010", "long_words-015", "english-001"]
	with open("d.jsonl", "w") as f:
	    for l in open(sys.argv[1]):
	        r = json.loads(l)
	        if r["id"] in want and not r["add_special_tokens"]:
	            f.write(json.dumps({"text": r["text"]}) + "\n")
	EOF
  printf "task: roll\ndataset_path: json\ndataset_kwargs:\n  data_files: d.jsonl\ntest_split: train\noutput_type: loglikelihood_rolling\ndoc_to_text: \"\"\ndoc_to_target: text\n" >roll.yaml &&
  start_fake bodies.jsonl &&
  eval-run --tasks roll.yaml --tokenizer "$GPT2" --base-url "$FAKE_URL" \
    --model m --max-length 300 -q --log-samples --samples-dir s \
    --output-lm-eval res.json >rec.json;
  rc=$?; kill $FAKE_PID; test $rc = 0 &&
  ! grep -q tokenize bodies.jsonl &&
  python3 "$ROLL" s/samples_roll.jsonl res.json roll 50256 300 \
    "golden:$GPT2/golden.jsonl" fake bodies.jsonl >out &&
  must_contain out "docs 5"
'

test_expect_success 'loglikelihood_rolling against mock-llm: its tokens, its logprobs' '
  eval-run --tasks rolling_text --include-path "$F/rolling" --base-url "$M_URL" \
    --model m --max-length 8 --num-concurrent 4 \
    --model-args custom_prefix_token_id=1000 -q --log-samples --samples-dir s \
    --output-lm-eval res.json >rec.json &&
  python3 "$ROLL" s/samples_rolling_text.jsonl res.json rolling_text 1000 8 \
    "$M_URL/tokenize" "$M_URL/v1/completions" >out &&
  must_contain out "docs 6" &&
  expect_exit 2 eval-run --tasks rolling_text --include-path "$F/rolling" \
    --base-url "$M_URL" --model m >out 2>err && must_be_empty out &&
  must_contain err "prefix token.*custom_prefix_token_id" &&
  expect_exit 2 eval-run --tasks rolling_text --include-path "$F/rolling" \
    --base-url "$M_URL" --model m --tokenizer offsets 2>err &&
  must_contain err "need token ids"
'

test_expect_success 'acc_mutual_info: empty contexts start with the prefix token' '
  start_fake bodies.jsonl &&
  eval-run --tasks mutual_info --include-path "$F/rolling" --tokenizer "$GPT2" \
    --base-url "$FAKE_URL" --model m -q --log-samples --samples-dir s \
    --output-lm-eval res.json >rec.json &&
  rm -f bodies2.jsonl && kill $FAKE_PID && start_fake bodies2.jsonl &&
  eval-run --tasks mutual_info --include-path "$F/rolling" \
    --base-url "$FAKE_URL" --model m -q --model-args custom_prefix_token_id=5 \
    --log-samples --samples-dir s2 --output-lm-eval res2.json >rec2.json;
  rc=$?; kill $FAKE_PID; test $rc = 0 &&
  python3 - bodies.jsonl bodies2.jsonl s2/samples_mutual_info.jsonl res2.json <<-\EOF
	import json, sys
	def lp(c): return -((c % 7) + 1) / 8
	b1 = [json.loads(l)["body"]["prompt"][0] for l in open(sys.argv[1])]
	# gpt2: BOS <|endoftext|> (50256) + tok(" 3") (513), tok(" Mars") ...
	assert [50256, 513] in b1 and [50256, 604] in b1, b1[-8:]
	b2 = [json.loads(l)["body"] for l in open(sys.argv[2])]
	b2 = [b["prompt"][0] for b in b2 if b.get("echo")]
	accs = []
	for line in open(sys.argv[3]):
	    s = json.loads(line)
	    args = [list(a.values()) for a in s["arguments"].values()]
	    n = len(args) // 2
	    assert all(a[0] == "" for a in args[n:]), args
	    mi = []
	    for k in range(n):
	        ctx, cont = args[k]
	        c2 = ctx.rstrip()
	        whole = [ord(c) for c in ctx + cont]
	        cond = sum([lp(i) for i in whole[len(c2):]])
	        unc_ids = [5] + [ord(c) for c in args[n + k][1]]
	        assert unc_ids in b2, unc_ids
	        unc = sum([lp(i) for i in unc_ids[1:]])
	        assert float(s["resps"][k][0][0]) == cond
	        assert float(s["resps"][n + k][0][0]) == unc
	        mi.append(cond - unc)
	    pred = mi.index(max(mi))
	    assert s["acc_mutual_info"] == (1.0 if pred == s["doc"]["answer"] else 0.0)
	    accs.append(s["acc_mutual_info"])
	r = json.load(open(sys.argv[4]))["results"]["mutual_info"]
	assert r["acc_mutual_info,none"] == sum(accs) / len(accs), r
	EOF
'

test_expect_success 'generation stop gets the EOS string on the synchronous path only' '
  start_fake bodies.jsonl &&
  eval-run --tasks tutorial_suite --include-path "$F/tasks" --tokenizer "$GPT2" \
    --base-url "$FAKE_URL" --model m --limit 1 -q >r1.json &&
  eval-run --tasks tutorial_suite --include-path "$F/tasks" --tokenizer "$GPT2" \
    --base-url "$FAKE_URL" --model m --limit 1 -q --num-concurrent 2 >r2.json &&
  eval-run --tasks tutorial_suite --include-path "$F/tasks" \
    --base-url "$FAKE_URL" --model m --limit 1 -q \
    --model-args eos_string=END >r3.json &&
  eval-run --tasks tutorial_suite --include-path "$F/tasks" \
    --base-url "$FAKE_URL" --model m --limit 1 -q >r4.json;
  rc=$?; kill $FAKE_PID; test $rc = 0 &&
  python3 - bodies.jsonl <<-\EOF
	import json, sys
	stops = [json.loads(l)["body"]["stop"] for l in open(sys.argv[1])
	         if "stop" in json.loads(l)["body"]]
	assert stops == [["\n", "<|endoftext|>"], ["\n"], ["\n", "END"], ["\n"]], stops
	EOF
'

if [ "$HAVE_PY" = 1 ]; then
test_expect_success 'chat templates rendered for local-completions match jinja2' '
  for t in alt_roles layout meta; do
    mkdir $t && cp "$GPT2/tokenizer.json" $t/ &&
    python3 -c "import json, sys; json.dump({\"bos_token\": \"<|endoftext|>\", \"eos_token\": \"<|endoftext|>\", \"chat_template\": open(sys.argv[1]).read()}, open(sys.argv[2], \"w\"))" \
      "$F/chat/$t.jinja" $t/tokenizer_config.json || exit 1
  done &&
  cp -r "$SHARED/data/tokenizers/phi-3-mini" phi &&
  start_fake chat.jsonl &&
  for task in chat_gen chat_prefix; do
    for args in "" "--system-instruction Be_exact." \
                "--system-instruction Be_exact. --fewshot-as-multiturn"; do
      rm -f chat.jsonl &&
      eval-run --tasks $task --include-path "$F/chat" --base-url "$FAKE_URL" \
        --model m -q --model local-chat-completions --apply-chat-template \
        $args >/dev/null && mv chat.jsonl want.jsonl || exit 1
      for tk in alt_roles layout meta phi; do
        eval-run --tasks $task --include-path "$F/chat" --base-url "$FAKE_URL" \
          --model m -q --apply-chat-template --tokenizer $tk --string-prompts \
          $args >/dev/null &&
        python3 "$CHAT" bodies $tk want.jsonl chat.jsonl >out &&
        must_contain out "rendered 6" && rm chat.jsonl || exit 1
      done
    done
  done &&
  eval-run --tasks tutorial_mc --include-path "$F/tasks" --base-url "$FAKE_URL" \
    --model m -q --tokenizer phi --log-samples --samples-dir p >/dev/null &&
  eval-run --tasks tutorial_mc --include-path "$F/tasks" --base-url "$FAKE_URL" \
    --model m -q --tokenizer phi --apply-chat-template --log-samples \
    --samples-dir s --output-lm-eval res.json >/dev/null;
  rc=$?; kill $FAKE_PID; test $rc = 0 &&
  python3 "$CHAT" samples phi p/samples_tutorial_mc.jsonl \
    s/samples_tutorial_mc.jsonl >out && must_contain out "rendered 24" &&
  json_get res.json "d[\"chat_template\"]" >got &&
  json_get phi/tokenizer_config.json "d[\"chat_template\"]" >want &&
  test_cmp want got
'
else
  test_skip 'chat templates rendered for local-completions match jinja2' "python3 with jinja2 is not installed"
fi

test_expect_success 'chat template errors: no tokenizer, no template, raise_exception' '
  expect_exit 2 eval-run --tasks tutorial_mc --include-path "$F/tasks" \
    --base-url "$M_URL" --model m --apply-chat-template >out 2>err &&
  must_be_empty out && must_contain err "give --tokenizer DIR" &&
  expect_exit 2 eval-run --tasks tutorial_mc --include-path "$F/tasks" \
    --base-url "$M_URL" --model m --apply-chat-template --tokenizer "$GPT2" \
    2>err && must_contain err "has no chat template" &&
  mkdir tk && cp "$GPT2/tokenizer.json" tk/ &&
  printf "%s" "{\"eos_token\": \"</s>\", \"chat_template\": \"{% for m in messages %}{% if m.role != \\\"user\\\" %}{{ raise_exception(\\\"only users here\\\") }}{% endif %}{{ m.content }}{% endfor %}\"}" >tk/tokenizer_config.json &&
  expect_exit 3 eval-run --tasks tutorial_mc --include-path "$F/tasks" \
    --base-url "$M_URL" --model m --apply-chat-template --tokenizer tk \
    --system-instruction S >out 2>err && must_be_empty out &&
  must_contain err "raise_exception: only users here" &&
  printf "%s" "{\"eos_token\": \"</s>\", \"chat_template\": \"{% macro m() %}{% endmacro %}\"}" >tk/tokenizer_config.json &&
  eval-run --tasks tutorial_mc --include-path "$F/tasks" --base-url "$M_URL" \
    --model m --tokenizer tk -q >/dev/null &&
  expect_exit 3 eval-run --tasks tutorial_mc --include-path "$F/tasks" \
    --base-url "$M_URL" --model m --apply-chat-template --tokenizer tk \
    >out 2>err && must_be_empty out &&
  must_contain err "chat_template of .* line 1 column 1: unknown or unexpected tag .macro."
'

test_expect_success 'bleu, chrf and ter: sacreBLEU corpus scores and bootstrap stderr' '
  eval-run --tasks translate_de_en --include-path "$F/translate" \
    --write-answer-key key.jsonl 2>err &&
  start_mock B --model m --ttft-ms 0 --itl-ms 0 --answer-key key.jsonl \
    --answer-accuracy 0.5 &&
  eval-run --tasks translate_de_en --include-path "$F/translate" \
    --base-url "$B_URL" --model m -q --num-concurrent 4 --log-samples \
    --samples-dir s --output-lm-eval res.json >rec.json &&
  python3 "$MG_TOP/tests/tools/eval-run-sacre.py" \
    s/samples_translate_de_en.jsonl res.json translate_de_en >out &&
  must_contain out "over 14" &&
  json_get res.json "d[\"results\"][\"translate_de_en\"][\"bleu,none\"] < 100 and d[\"results\"][\"translate_de_en\"][\"chrf,none\"] > 0" >ok &&
  must_contain ok True &&
  printf "{\"de\": \"x\", \"en\": \"\"}\n" >empty.jsonl &&
  sed "s/translate_data.jsonl/$(pwd | sed "s,/,\\\\/,g")\/empty.jsonl/" \
    "$F/translate/translate_task.yaml" | sed "s/ {{en}}/{{en}}/" >empty.yaml &&
  expect_exit 3 eval-run --tasks empty.yaml --base-url "$B_URL" --model m \
    >out 2>err && must_contain err "empty reference"
'

test_expect_success 'bleu, chrf and ter on random reorderings (mock-llm answers as keyed)' '
  python3 - <<-\EOF &&
	import json, random
	rnd = random.Random(7)
	vocab = ["the", "The", "cat", "sat", "on", "mat", ".", ",", "a", "dog",
	         "Mat", "\u03a3\u039f\u03a6\u0399\u0391", "\u03c3\u03bf\u03c6\u03b9\u03b1",
	         "\u0130stanbul"]
	with open("d.jsonl", "w") as f, open("key.jsonl", "w") as k:
	    for i in range(50):
	        ref = [rnd.choice(vocab) for _ in range(rnd.randint(1, 45))]
	        mode = rnd.randint(0, 3)
	        if mode == 0:
	            hyp = [rnd.choice(vocab) for _ in range(rnd.randint(0, 45))]
	        elif mode == 1:
	            hyp = ref[:]
	            for _ in range(rnd.randint(1, 4)):
	                a = rnd.randint(0, len(hyp))
	                b = rnd.randint(a, min(len(hyp), a + 12))
	                rest = hyp[:a] + hyp[b:]
	                c = min(rnd.randint(0, len(hyp)), len(rest))
	                hyp = rest[:c] + hyp[a:b] + rest[c:]
	        elif mode == 2:
	            hyp = ref[:]
	            rnd.shuffle(hyp)
	        else:
	            hyp = [w if rnd.random() < 0.7 else rnd.choice(vocab) for w in ref]
	        f.write(json.dumps({"id": i, "ref": " ".join(ref)}) + "\n")
	        k.write(json.dumps({"context": "Item %d:" % i,
	                            "continuation": " ".join(hyp)}) + "\n")
	EOF
  printf "task: rnd\ndataset_path: json\ndataset_kwargs:\n  data_files: d.jsonl\ntest_split: train\noutput_type: generate_until\ndoc_to_text: \"Item {{id}}:\"\ndoc_to_target: ref\ngeneration_kwargs:\n  until: [\"\\\\n\\\\n\"]\n  max_gen_toks: 256\nmetric_list:\n  - metric: bleu\n  - metric: chrf\n  - metric: ter\n" >rnd.yaml &&
  start_mock R2 --model m --ttft-ms 0 --itl-ms 0 --answer-key key.jsonl &&
  eval-run --tasks rnd.yaml --base-url "$R2_URL" --model m -q \
    --num-concurrent 4 --log-samples --samples-dir s \
    --output-lm-eval res.json >rec.json &&
  python3 "$MG_TOP/tests/tools/eval-run-sacre.py" s/samples_rnd.jsonl \
    res.json rnd >out && must_contain out "over 50" &&
  json_get res.json "d[\"higher_is_better\"][\"rnd\"]" >hib &&
  must_contain hib "\"ter\": false"
'

# expect_score KEYFILE P TASKARGS...: writes the answer key, starts mock-llm
# with it, runs eval-run and checks every metric equals known/contexts.
test_expect_success 'MMLU scores equal the answer key exactly (57 subjects, groups)' '
  eval-run --tasks mmlu --data-dir "$SHARED/data" --limit 8 \
    --write-answer-key key.jsonl 2>err &&
  mock-llm --answer-key key.jsonl --answer-accuracy 0.6 --answer-expect >exp &&
  start_mock K --model m --ttft-ms 0 --itl-ms 0 --answer-key key.jsonl \
    --answer-accuracy 0.6 &&
  eval-run --tasks mmlu --data-dir "$SHARED/data" --limit 8 --base-url "$K_URL" \
    --model m --num-concurrent 16 -q --output-lm-eval res.json \
    --log-samples --samples-dir s >rec.json &&
  python3 - exp res.json rec.json s <<'"'"'EOF'"'"'
import json, math, sys, glob
exp = json.load(open(sys.argv[1])); res = json.load(open(sys.argv[2]))
rec = json.load(open(sys.argv[3]))["eval"]
assert exp["contexts"] == 456, exp  # 57 x 8, all distinct
r = res["results"]
assert r["mmlu"]["acc,none"] == exp["known"] / exp["contexts"], (r["mmlu"], exp)
# per task: mean and sample-sd stderr of the per-doc values
vals = {}
for f in glob.glob(sys.argv[4] + "/samples_*.jsonl"):
    for l in open(f):
        s = json.loads(l); t = f.split("samples_")[1][:-6]
        vals.setdefault(t, []).append(s["acc"])
for t, xs in vals.items():
    m = sum(xs) / len(xs)
    se = math.sqrt(sum([(x - m) ** 2 for x in xs]) / (len(xs) - 1)) / math.sqrt(len(xs))
    assert r[t]["acc,none"] == m and r[t]["acc_stderr,none"] == se, t
# groups: size-weighted over leaves, pooled stderr
def pooled(ts):
    sizes = [len(vals[t]) for t in ts]; ses = [r[t]["acc_stderr,none"] for t in ts]
    v = sum([r[t]["acc,none"] * n for t, n in zip(ts, sizes)]) / sum(sizes)
    var = sum([(n - 1) * s ** 2 * n for n, s in zip(sizes, ses)]) / (sum(sizes) - len(sizes))
    return v, math.sqrt(var / sum(sizes))
cats = {g: [t for t in res["group_subtasks"][g]] for g in
        ["mmlu_stem", "mmlu_other", "mmlu_social_sciences", "mmlu_humanities"]}
for g, ts in cats.items():
    assert (r[g]["acc,none"], r[g]["acc_stderr,none"]) == pooled(ts), g
leaves = [t for ts in cats.values() for t in ts]
assert len(leaves) == 57
v, se = pooled(leaves)
assert abs(r["mmlu"]["acc,none"] - v) < 1e-15 and abs(r["mmlu"]["acc_stderr,none"] - se) < 1e-15
assert r["mmlu_stem"]["alias"] == " - stem" and r["mmlu_anatomy"]["alias"] == "  - anatomy"
assert res["versions"]["mmlu"] == 2 and res["versions"]["mmlu_anatomy"] == 1.0
assert res["n-shot"]["mmlu_anatomy"] == 0
assert rec["groups"]["mmlu"]["acc,none"] == r["mmlu"]["acc,none"]
assert rec["ok"] is True and rec["requests"]["total"] == 456 * 4
EOF
'

test_expect_success 'GSM8K (both filters) and chat generation score the answer key exactly' '
  mkdir -p d/gsm8k && head -30 "$SHARED/data/gsm8k/test.jsonl" >d/gsm8k/test.jsonl &&
  sed -n "100,200p" "$SHARED/data/gsm8k/test.jsonl" >d/gsm8k/train.jsonl &&
  eval-run --tasks gsm8k --data-dir d --write-answer-key key.jsonl 2>err &&
  eval-run --tasks gsm8k --data-dir d --model local-chat-completions \
    --apply-chat-template --write-answer-key ckey.jsonl 2>err &&
  cat key.jsonl ckey.jsonl >both.jsonl &&
  mock-llm --answer-key key.jsonl --answer-accuracy 0.5 --answer-expect >exp &&
  mock-llm --answer-key ckey.jsonl --answer-accuracy 0.5 --answer-expect >cexp &&
  start_mock G --model m --ttft-ms 0 --itl-ms 0 --answer-key both.jsonl \
    --answer-accuracy 0.5 &&
  eval-run --tasks gsm8k --data-dir d --base-url "$G_URL" --model m \
    --num-concurrent 8 -q --output-lm-eval res.json >rec.json &&
  eval-run --tasks gsm8k --data-dir d --base-url "$G_URL" --model m \
    --model local-chat-completions --apply-chat-template \
    --num-concurrent 8 -q --output-lm-eval cres.json >crec.json &&
  python3 - exp res.json cexp cres.json <<'"'"'EOF'"'"'
import json, sys
for e, r in [(sys.argv[1], sys.argv[2]), (sys.argv[3], sys.argv[4])]:
    exp = json.load(open(e)); res = json.load(open(r))["results"]["gsm8k"]
    want = exp["known"] / exp["contexts"]
    assert exp["contexts"] == 30 and 0 < exp["known"] < 30, exp
    assert res["exact_match,strict-match"] == want, (res, exp)
    assert res["exact_match,flexible-extract"] == want, (res, exp)
EOF
'

test_expect_success 'groups from YAML: inline tasks, filters, aggregation' '
  eval-run --tasks tutorial_suite --include-path "$F/tasks" --base-url "$M_URL" \
    --model m -q --output-lm-eval res.json >rec.json &&
  json_get res.json "d[\"group_subtasks\"][\"tutorial_suite\"]" >sub &&
  must_contain sub "tutorial_mc.*tutorial_gen" &&
  json_get res.json "sorted(d[\"results\"][\"tutorial_gen\"])" >keys &&
  must_contain keys "exact_match,strip" &&
  json_get res.json "d[\"results\"][\"tutorial_suite\"][\"acc,none\"] == d[\"results\"][\"tutorial_mc\"][\"acc,none\"]" >same &&
  must_contain same True
'

test_expect_success 'resume after a kill sends no answered request twice' '
  start_mock S --model m --ttft-ms 0 --itl-ms 0 --request-latency 0.01 \
    --arrival-log arr1.log &&
  (eval-run --tasks mmlu_stem --data-dir "$SHARED/data" --limit 20 \
    --base-url "$S_URL" --model m --num-concurrent 4 -q --cache c.jsonl \
    >r1.json 2>/dev/null & echo $! >pid) &&
  i=0; while [ "$(wc -l <c.jsonl 2>/dev/null || echo 0)" -lt 60 ] && [ $i -lt 200 ]; do
    sleep 0.05; i=$((i + 1)); done &&
  kill -9 $(cat pid) && sleep 0.2 &&
  n1=$(wc -l <c.jsonl) && test "$n1" -ge 60 &&
  start_mock T --model m --ttft-ms 0 --itl-ms 0 --arrival-log arr2.log &&
  eval-run --tasks mmlu_stem --data-dir "$SHARED/data" --limit 20 \
    --base-url "$T_URL" --model m --num-concurrent 4 -q --cache c.jsonl \
    --output-lm-eval a.json >r2.json &&
  json_get r2.json "d[\"eval\"][\"requests\"]" >req &&
  python3 - r2.json arr2.log "$n1" <<'"'"'EOF'"'"' &&
import json, sys
req = json.load(open(sys.argv[1]))["eval"]["requests"]
sent2 = sum(1 for l in open(sys.argv[2]) if "/v1/completions" in l)
n1 = int(sys.argv[3])
assert req["cached"] >= n1 and req["sent"] == sent2, (req, sent2, n1)
assert req["cached"] + req["sent"] == req["total"] == 19 * 20 * 4, req
EOF
  eval-run --tasks mmlu_stem --data-dir "$SHARED/data" --limit 20 \
    --base-url "$T_URL" --model m -q --cache c.jsonl --output-lm-eval b.json \
    >r3.json &&
  json_get r3.json "d[\"eval\"][\"requests\"][\"sent\"]" >sent && echo 0 >zero &&
  test_cmp zero sent &&
  json_get a.json "d[\"results\"][\"mmlu_stem\"]" >ra &&
  json_get b.json "d[\"results\"][\"mmlu_stem\"]" >rb && test_cmp ra rb
'

test_expect_success 'SIGINT keeps partial results, marked incomplete' '
  start_mock I --model m --ttft-ms 0 --itl-ms 0 --request-latency 0.02 &&
  (eval-run --tasks mmlu_stem --data-dir "$SHARED/data" --limit 20 \
    --base-url "$I_URL" --model m --num-concurrent 2 -q -o part.json \
    --output-lm-eval lm.json >out 2>err & echo $! >pid) &&
  sleep 1 && kill -INT $(cat pid) &&
  i=0; while kill -0 $(cat pid) 2>/dev/null && [ $i -lt 100 ]; do
    sleep 0.05; i=$((i + 1)); done &&
  must_be_empty out && must_contain err "interrupted" &&
  json_get part.json "[d[\"eval\"][\"complete\"], d[\"eval\"][\"ok\"]]" >c &&
  must_contain c "false, false" &&
  json_get lm.json "d[\"eval_run\"][\"complete\"]" >c2 && must_contain c2 False
'

test_expect_success 'retries with backoff; a request that keeps failing is named' '
  start_mock R --model m --ttft-ms 0 --itl-ms 0 --fail-500 0.3 &&
  eval-run --tasks tutorial_mc --include-path "$F/tasks" --base-url "$R_URL" \
    --model m -q --max-retries 10 --retry-wait 5 >rec.json &&
  json_get rec.json "d[\"eval\"][\"requests\"][\"retries\"] > 0" >r &&
  must_contain r True &&
  start_mock X --model m --ttft-ms 0 --itl-ms 0 --fail-500 1 &&
  expect_exit 5 eval-run --tasks tutorial_mc --include-path "$F/tasks" \
    --base-url "$X_URL" --model m -q --max-retries 2 --retry-wait 5 \
    >out 2>err &&
  must_be_empty out &&
  must_contain err "task .tutorial_mc. document [0-9]+ failed after 2 attempts: HTTP 500"
'

test_expect_success 'bad YAML, templates, data and Python-only fields give clear errors' '
  expect_exit 3 eval-run --tasks "$F/bad/bad_yaml.yaml" --base-url "$M_URL" \
    --model m >out 2>err && must_be_empty out &&
  must_contain err "malformed YAML in .*bad_yaml.yaml. at line 4 column 1" &&
  expect_exit 3 eval-run --tasks bad_template --include-path "$F/bad" \
    --base-url "$M_URL" --model m 2>err &&
  must_contain err "template .bad_template.doc_to_text. line 1 column 22" &&
  expect_exit 3 eval-run --tasks undefined_var --include-path "$F/bad" \
    --base-url "$M_URL" --model m 2>err &&
  must_contain err "no_such_field. is undefined" &&
  expect_exit 3 eval-run --tasks needs_python --include-path "$F/bad" \
    --base-url "$M_URL" --model m 2>err &&
  must_contain err "task .needs_python.: field .process_docs. needs Python" &&
  expect_exit 4 eval-run --tasks missing_data --include-path "$F/bad" \
    --base-url "$M_URL" --model m 2>err &&
  must_contain err "cannot open .no_such_file.jsonl." &&
  expect_exit 3 eval-run --tasks broken_data --include-path "$F/bad" \
    --base-url "$M_URL" --model m 2>err &&
  must_contain err "malformed JSON in .*broken.jsonl:2. at byte" &&
  expect_exit 2 eval-run --tasks mmlu_anatomy --base-url "$M_URL" --model m \
    2>err && must_contain err "needs a local mirror: give --data-dir"
'

test_expect_success 'lm-eval flags, --output-path layout, record pass-through' '
  echo "{\"schema\": \"modelgate.record/v1\", \"endpoint\": {\"url\": \"$M_URL\", \"model\": \"m\", \"api\": \"completions\"}, \"perf\": {\"keep\": 1}}" >in.json &&
  eval-run -i in.json --model local-completions \
    --model_args "num_concurrent=4,max_retries=3,tokenized_requests=True" \
    --tasks tutorial_mc --include_path "$F/tasks" --num_fewshot 1 --limit 0.5 \
    --log_samples --output_path out --batch_size 1 -q >rec.json &&
  ls out/m/results_*.json out/m/samples_tutorial_mc_*.jsonl >/dev/null &&
  json_get rec.json "d[\"perf\"]" >perf && must_contain perf "\"keep\": 1" &&
  json_get rec.json "d[\"eval\"][\"tasks\"][0][\"n\"]" >n && echo 3 >three &&
  test_cmp three n &&
  json_get rec.json "d[\"eval\"][\"tasks\"][0][\"samples\"][\"sha256\"]" >sha &&
  sha256sum out/m/samples_tutorial_mc_*.jsonl | cut -c1-64 >sha2 &&
  test_cmp sha2 sha &&
  json_get rec.json "d[\"provenance\"][-1][\"program\"]" >p &&
  must_contain p eval-run &&
  f=$(ls out/m/results_*.json) &&
  json_get "$f" "sorted(d)" >keys &&
  for k in results group_subtasks configs versions n-shot higher_is_better \
           n-samples config date task_hashes model_name; do
    must_contain keys "\"$k\"" || exit 1; done &&
  json_get "$f" "d[\"n-samples\"][\"tutorial_mc\"]" >ns &&
  must_contain ns "\"original\": 6, \"effective\": 3"
'

LMEVAL=$MG_TOP/tests/tools/eval-run-lmeval.py
HAVE_REGEX=0
[ "$HAVE_PY" = 1 ] && python3 -c 'import regex' 2>/dev/null && HAVE_REGEX=1
GRANITE=ibm-granite/granite-3.3-8b-instruct

# make_hf_cache DIR: DIR/hub holds the tutorial's tokenizer id in
# huggingface_hub's layout (blobs, snapshot symlinks, refs/main). The
# Granite files are not in the shared data; gpt2's stand in (same
# byte-level BPE family; its tokenizer_config.json sets
# clean_up_tokenization_spaces true, as the clean-up needs).
make_hf_cache() {
  r=$1/hub/models--ibm-granite--granite-3.3-8b-instruct &&
  c=0123456789abcdef0123456789abcdef01234567 &&
  mkdir -p "$r/blobs" "$r/refs" "$r/snapshots/$c" &&
  cp "$GPT2/tokenizer.json" "$r/blobs/aaaa" &&
  cp "$GPT2/tokenizer_config.json" "$r/blobs/bbbb" &&
  ln -sf ../../blobs/aaaa "$r/snapshots/$c/tokenizer.json" &&
  ln -sf ../../blobs/bbbb "$r/snapshots/$c/tokenizer_config.json" &&
  printf %s $c >"$r/refs/main"
}

if [ "$HAVE_REGEX" = 1 ]; then
test_expect_success 'string prompts: the last max_length-1 tokens, decoded with clean-up, byte for byte' '
  start_fake bodies.jsonl &&
  eval-run --tasks mmlu_jurisprudence --data-dir "$SHARED/data" \
    --tokenizer "$GPT2" --string-prompts --max-length 96 \
    --base-url "$FAKE_URL" --model m --num-concurrent 4 \
    --output-lm-eval res.json --log-samples --samples-dir s >rec.json 2>err;
  rc=$?; kill $FAKE_PID; test $rc = 0 &&
  python3 "$REF" res.json mmlu_jurisprudence mmlu \
    "$MMLU/test/jurisprudence_test.csv" "$MMLU/dev/jurisprudence_dev.csv" \
    >ref.jsonl &&
  python3 "$LMEVAL" ref.jsonl "$GPT2" m 96 strings bodies.jsonl \
    s/samples_mmlu_jurisprudence.jsonl >out &&
  cat out && must_contain out "bodies 432 truncated [1-9][0-9]* cleaned [1-9]" &&
  ! grep -q "\"path\": \"/tokenize\"" bodies.jsonl &&
  must_contain err "replies echoed another number of prompt tokens" &&
  json_get rec.json "d[\"eval\"][\"requests\"][\"retokenized\"]" >n &&
  echo 432 >want && test_cmp want n
'

test_expect_success 'token-id prompts: the same cut as lm-eval, no decoding' '
  start_fake bodies.jsonl &&
  eval-run --tasks mmlu_jurisprudence --data-dir "$SHARED/data" \
    --tokenizer "$GPT2" --max-length 96 --base-url "$FAKE_URL" --model m \
    --num-concurrent 4 -q --output-lm-eval res.json --log-samples \
    --samples-dir s >rec.json;
  rc=$?; kill $FAKE_PID; test $rc = 0 &&
  python3 "$REF" res.json mmlu_jurisprudence mmlu \
    "$MMLU/test/jurisprudence_test.csv" "$MMLU/dev/jurisprudence_dev.csv" \
    >ref.jsonl &&
  python3 "$LMEVAL" ref.jsonl "$GPT2" m 96 ids bodies.jsonl \
    s/samples_mmlu_jurisprudence.jsonl >out &&
  must_contain out "bodies 432 truncated [1-9]"
'

test_expect_success 'the tutorial LMEvalJob modelArgs: Hub-id tokenizer, string prompts, lm-eval bodies' '
  make_hf_cache hf && mkdir t &&
  cp "$SHARED/data/custom-task-example/task.yaml" \
    "$SHARED/data/custom-task-example/data.jsonl" t/ &&
  for ml in 2048 160; do
    rm -f bodies.jsonl && start_fake bodies.jsonl &&
    args="model=granite,base_url=$FAKE_URL/v1/completions,tokenizer=$GRANITE,tokenized_requests=False,num_concurrent=1,max_retries=6" &&
    if [ $ml != 2048 ]; then args="$args,max_length=$ml"; fi &&
    HF_HOME=$PWD/hf eval-run --model local-completions --model_args "$args" \
      --tasks mmlu_jurisprudence,custom-lmeval-task --include_path t \
      --data-dir "$SHARED/data" --batch_size 1 -q --output-lm-eval res.json \
      --log_samples --samples-dir s >rec.json 2>err;
    rc=$?; kill $FAKE_PID; test $rc = 0 || exit 1
    python3 "$REF" res.json mmlu_jurisprudence mmlu \
      "$MMLU/test/jurisprudence_test.csv" "$MMLU/dev/jurisprudence_dev.csv" \
      >ref.jsonl &&
    python3 "$REF" res.json custom-lmeval-task jsonl t/data.jsonl >>ref.jsonl &&
    python3 "$LMEVAL" ref.jsonl "$GPT2" granite $ml strings bodies.jsonl \
      >out.$ml 2>&1 || { cat out.$ml; exit 1; }
    ! grep -q "\"path\": \"/tokenize\"" bodies.jsonl || exit 1
  done &&
  cat out.* && must_contain out.2048 "bodies 448 truncated 0 cleaned [1-9]" &&
  must_contain out.160 "bodies 448 truncated [1-9][0-9]* cleaned [1-9]"
'

test_expect_success 'loglikelihood_rolling string prompts: windows decoded with clean-up' '
  python3 - "$GPT2/golden.jsonl" <<-\EOF &&
	import json, sys
	want = ["contractions-027", "contractions-032", "code-021", "doc-002"]
	with open("d.jsonl", "w") as f:
	    for l in open(sys.argv[1]):
	        r = json.loads(l)
	        if r["id"] in want and not r["add_special_tokens"]:
	            f.write(json.dumps({"text": r["text"]}) + "\n")
	EOF
  printf "task: roll\ndataset_path: json\ndataset_kwargs:\n  data_files: d.jsonl\ntest_split: train\noutput_type: loglikelihood_rolling\ndoc_to_text: \"\"\ndoc_to_target: text\n" >roll.yaml &&
  for mode in ids strings; do
    start_fake bodies.$mode.jsonl &&
    if [ $mode = strings ]; then sp=--string-prompts; else sp=; fi &&
    eval-run --tasks roll.yaml --tokenizer "$GPT2" --base-url "$FAKE_URL" \
      --model m --max-length 40 $sp -q >rec.json;
    rc=$?; kill $FAKE_PID; test $rc = 0 || exit 1
  done &&
  python3 - "$LMEVAL" "$GPT2" bodies.ids.jsonl bodies.strings.jsonl <<-\EOF
	import json, sys
	src = open(sys.argv[1]).read().replace("\nmain()\n", "\n")
	ns = {}
	exec(src, ns)
	tok = ns["BPE"](sys.argv[2])
	ids = [json.loads(l)["body"]["prompt"][0] for l in open(sys.argv[3])]
	strs = [json.loads(l)["body"]["prompt"] for l in open(sys.argv[4])]
	want = sorted(tok.decode(i) for i in ids)
	assert sorted(strs) == want and len(want) > 8, (len(strs), len(want))
	tok.clean = False
	assert sorted(tok.decode(i) for i in ids) != want  # the clean-up shows
	EOF
'
else
test_skip 'loglikelihood_rolling string prompts: windows decoded with clean-up' "needs python3 with jinja2 and regex"
test_skip 'string prompts: the last max_length-1 tokens, decoded with clean-up, byte for byte' "needs python3 with jinja2 and regex"
test_skip 'token-id prompts: the same cut as lm-eval, no decoding' "needs python3 with jinja2 and regex"
test_skip 'the tutorial LMEvalJob modelArgs: Hub-id tokenizer, string prompts, lm-eval bodies' "needs python3 with jinja2 and regex"
fi

test_expect_success 'a Hub-id tokenizer: HF cache, mirror, then the server, then offsets' '
  make_hf_cache hf2 && mkdir -p mirror/$GRANITE &&
  cp "$GPT2/tokenizer.json" mirror/$GRANITE/ &&
  start_fake bodies.jsonl &&
  HF_HOME=$PWD/hf2 eval-run --tasks tutorial_mc --include-path "$F/tasks" \
    --base-url "$FAKE_URL" --model m --tokenizer $GRANITE -v \
    >rec.json 2>err &&
  must_contain err "tokenizer .$GRANITE.: .*hf2/hub/models--ibm-granite--granite-3.3-8b-instruct/snapshots/0123456789abcdef0123456789abcdef01234567. \(hf-cache\)" &&
  HF_HOME=$PWD/nothing eval-run --tasks tutorial_mc --include-path "$F/tasks" \
    --base-url "$FAKE_URL" --model m --tokenizer $GRANITE -v \
    --processor-dir "$PWD/none:$PWD/mirror" >rec.json 2>err &&
  must_contain err "\(mirror\)" &&
  HF_HOME=$PWD/nothing MG_TOKENIZERS=$PWD/mirror eval-run --tasks tutorial_mc \
    --include-path "$F/tasks" --base-url "$FAKE_URL" --model m -v \
    --model-args tokenizer=$GRANITE >rec.json 2>err &&
  must_contain err "\(mirror\)" &&
  json_get rec.json "d[\"eval\"][\"requests\"][\"tokenize_calls\"]" >n &&
  echo 0 >zero && test_cmp zero n &&
  : >bodies.jsonl &&
  HF_HOME=$PWD/nothing eval-run --tasks tutorial_mc --include-path "$F/tasks" \
    --base-url "$FAKE_URL" --model m --tokenizer $GRANITE >rec.json 2>err &&
  must_contain err "warning: tokenizer .$GRANITE. is not here .*: ctxlen comes from the server.s /tokenize" &&
  grep -q "\"/tokenize\"" bodies.jsonl;
  rc=$?; kill $FAKE_PID; test $rc = 0 &&
  start_fake bodies.jsonl notok &&
  HF_HOME=$PWD/nothing eval-run --tasks tutorial_mc --include-path "$F/tasks" \
    --base-url "$FAKE_URL" --model m --tokenizer $GRANITE >rec.json 2>err;
  rc=$?; kill $FAKE_PID; test $rc = 0 &&
  must_contain err "the server does not tokenize .*HTTP 404.*: ctxlen comes from the echoed text_offset" &&
  json_get rec.json "d[\"eval\"][\"endpoint\"][\"tokenizer\"]" >tk &&
  must_contain tk offsets &&
  expect_exit 4 eval-run --tasks tutorial_mc --include-path "$F/tasks" \
    --base-url "$FAKE_URL" --model m --tokenizer ./no/such/dir >out 2>err &&
  must_be_empty out && must_contain err "cannot find tokenizer .\./no/such/dir."
'

test_expect_success 'remote string prompts: the cut ids decoded by the server' '
  start_fake bodies.jsonl &&
  eval-run --tasks tutorial_mc --include-path "$F/tasks" --limit 2 \
    --string-prompts --max-length 40 --base-url "$FAKE_URL" --model m -q \
    --log-samples --samples-dir s >rec.json;
  rc=$?; kill $FAKE_PID; test $rc = 0 &&
  python3 - bodies.jsonl s/samples_tutorial_mc.jsonl <<-\EOF
	import json, sys
	reqs = [json.loads(l) for l in open(sys.argv[1])]
	detok = [r["body"]["tokens"] for r in reqs if r["path"] == "/detokenize"]
	comp = [r["body"]["prompt"] for r in reqs if r["path"] == "/v1/completions"]
	want = []
	for line in open(sys.argv[2]):
	    for a in json.loads(line)["arguments"].values():
	        ctx, cont = a["arg_0"], a["arg_1"]
	        c2 = ctx.rstrip()
	        ids = [ord(c) for c in c2] + [ord(c) for c in (ctx + cont)[len(c2):]]
	        want.append(ids[-39:])
	assert sorted(detok) == sorted(want), (detok[:1], want[:1])
	assert sorted(comp) == sorted("".join(map(chr, w)) for w in want)
	assert any(len(w) == 39 for w in want)
	EOF
'

test_expect_success 'a reply echoing another token count is named for what it is' '
  start_fake bodies.jsonl cut &&
  expect_exit 5 eval-run --tasks tutorial_mc --include-path "$F/tasks" \
    --base-url "$FAKE_URL" --model m >out 2>err;
  rc=$?; kill $FAKE_PID; test $rc = 0 &&
  must_be_empty out &&
  must_contain err "the server echoed [0-9]+ prompt tokens where the tokenizer gives [0-9]+ \(context [0-9]+\): it cut the prompt" &&
  must_not_contain err "ignores .echo."
'

test_expect_success 'an error body that echoes the API key is redacted and capped' '
  start_fake bodies.jsonl reflect &&
  echo "sk-test-0123456789abcdefghij" >key &&
  expect_exit 5 eval-run --tasks tutorial_mc --include-path "$F/tasks" \
    --base-url "$FAKE_URL" --model m --api-key-file key --max-retries 1 \
    --tokenizer "$GPT2" >out 2>err;
  rc=$?; kill $FAKE_PID; test $rc = 0 &&
  must_be_empty out &&
  must_contain err "HTTP 401: Unauthorized. You sent: Bearer <redacted> Also known as <redacted>" &&
  must_not_contain err "0123456789abcdef" && must_not_contain err "sk-test" &&
  test "$(wc -c <err)" -lt 600 &&
  must_contain err "\.\.\.$"
'

test_expect_success 'partial results: marked partial, with the true counts' '
  start_mock P --model m --ttft-ms 0 --itl-ms 0 --request-latency 0.02 &&
  (eval-run --tasks mmlu_stem --data-dir "$SHARED/data" --limit 20 \
    --base-url "$P_URL" --model m --num-concurrent 2 -q -o part.json \
    --output-lm-eval lm.json --log-samples --samples-dir s >out 2>err &
   echo $! >pid) &&
  sleep 1 && kill -INT $(cat pid) &&
  i=0; while kill -0 $(cat pid) 2>/dev/null && [ $i -lt 100 ]; do
    sleep 0.05; i=$((i + 1)); done &&
  must_be_empty out &&
  python3 - lm.json part.json s <<-\EOF
	import json, sys, glob
	lm = json.load(open(sys.argv[1])); rec = json.load(open(sys.argv[2]))["eval"]
	er = lm["eval_run"]
	assert er["complete"] is False and er["partial"] is True, er
	lines = {}
	for f in glob.glob(sys.argv[3] + "/samples_*.jsonl"):
	    lines[f.split("samples_")[1][:-6]] = sum(1 for _ in open(f))
	short = 0
	for t, ns in lm["n-samples"].items():
	    d = er["documents"][t]
	    assert ns["effective"] == d["scored"] == lines[t], (t, ns, d, lines[t])
	    assert d["selected"] == 20 and ns["original"] >= 20, (t, d, ns)
	    short += d["scored"] < 20
	assert short > 0, "nothing was cut short"
	assert er["requests"]["answered"] < er["requests"]["total"] == 19 * 20 * 4
	for x in rec["tasks"]:
	    assert x["n_samples"]["effective"] == x["n"] == lines[x["task"]], x
	EOF
'

test_expect_success 'the results table: lm-eval'"'"'s summary on stdout when the record goes to a file' '
  eval-run --tasks tutorial_suite --include-path "$F/tasks" --base-url "$M_URL" \
    --model local-completions --model_args model=m --limit 2 --batch_size 1 \
    -o rec.json --output-lm-eval res.json >out 2>err &&
  head -1 out >first &&
  echo "local-completions (model=m), gen_kwargs: (None), limit: 2.0, num_fewshot: None, batch_size: 1" >want &&
  test_cmp want first &&
  sed -n 2p out >hdr &&
  must_contain hdr "^\| +Tasks +\|Version\|Filter\|n-shot\| +Metric +\|   \|Value\|   \|Stderr\|$" &&
  sed -n 3p out >sep && must_contain sep "^\|-+\|-+:?\|-+\|-+:\|-+\|---\|-+:\|---\|-+:?\|$" &&
  must_contain out "^\| +Groups +\|Version\|" &&
  python3 - out res.json <<-\EOF &&
	import json, sys
	out = open(sys.argv[1]).read()
	res = json.load(open(sys.argv[2]))
	tables = out.split("\n\n")
	assert len(tables) == 3 and tables[2] == "", [t[:40] for t in tables]
	rows = [l.split("|")[1:-1] for l in tables[0].splitlines()[3:]]
	seen = 0
	for r in rows:
	    name = r[0].strip() or name
	    if r[4].strip() in ("", " "):
	        continue
	    key = [k for k, v in res["results"].items() if v.get("alias", k).strip() == name.strip()][0]
	    v = res["results"][key]["%s,%s" % (r[4].strip(), r[2].strip())]
	    assert abs(float(r[6]) - v) < 0.00051, (r, v)
	    seen += 1
	assert seen >= 3, rows
	EOF
  eval-run --tasks tutorial_suite --include-path "$F/tasks" --base-url "$M_URL" \
    --model m --limit 2 >rec2.json 2>err2 &&
  json_get rec2.json "d[\"eval\"][\"ok\"]" >ok && must_contain ok True &&
  must_contain err2 "^\| +Tasks +\|Version" &&
  eval-run --tasks tutorial_suite --include-path "$F/tasks" --base-url "$M_URL" \
    --model m --limit 2 -q >rec3.json 2>err3 && must_be_empty err3
'

test_expect_success 'results metadata as lm-eval 0.4.8 writes it' '
  eval-run --tasks mmlu_anatomy,tutorial_mc --include-path "$F/tasks" \
    --data-dir "$SHARED/data" --limit 3 --base-url "$M_URL" --model m \
    --tokenizer "$GPT2" --batch_size 1 -q --output-lm-eval res.json >rec.json &&
  eval-run --tasks tutorial_mc --include-path "$F/tasks" --limit 0.5 \
    --base-url "$M_URL" --model m -q --output-lm-eval res2.json >rec2.json &&
  python3 - res.json res2.json <<-\EOF
	import json, sys
	r = json.load(open(sys.argv[1])); r2 = json.load(open(sys.argv[2]))
	c = r["configs"]["mmlu_anatomy"]
	assert c["dataset_path"] == "hails/mmlu_no_train", c["dataset_path"]
	keys = list(c)
	assert keys.index("doc_to_target") + 1 == keys.index("unsafe_code") and \
	       keys.index("unsafe_code") + 1 == keys.index("doc_to_choice"), keys
	assert c["unsafe_code"] is False
	assert r["configs"]["tutorial_mc"]["unsafe_code"] is False
	assert r["config"]["batch_size"] == "1" and r2["config"]["batch_size"] == 1
	assert r["config"]["limit"] == 3.0 and isinstance(r["config"]["limit"], float)
	assert r2["config"]["limit"] == 0.5
	top = list(r)
	i = top.index("upper_git_hash")
	assert top[i + 1:i + 7] == ["tokenizer_pad_token", "tokenizer_eos_token",
	    "tokenizer_bos_token", "eot_token_id", "max_length", "task_hashes"], top
	assert r["tokenizer_pad_token"] == [None, "None"]
	assert r["tokenizer_eos_token"] == ["<|endoftext|>", "50256"]
	assert r["tokenizer_bos_token"] == ["<|endoftext|>", "50256"]
	assert r["eot_token_id"] == 50256 and r["max_length"] == 2047
	assert "tokenizer_pad_token" not in r2 and "eot_token_id" not in r2
	EOF
'

test_done
