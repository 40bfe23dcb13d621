#!/bin/bash
# The whole job, as the Tekton pipeline runs it, through files: fetch ->
# verify -> (perf in two load-generator processes, eval) in parallel ->
# merge -> register; then an engineer's rerun with custom data under its own
# label. Every stage's exit status and the final documents are checked.
. "$(dirname "$0")/../lib.sh"

W=$TRASH_ROOT/work
mkdir -p "$W/src/tiny-model" "$W/tasks"
cd "$W" || exit 1

# A model the test writes: config + a valid two-tensor safetensors file.
printf '{"model_type": "tiny"}\n' >src/tiny-model/config.json
python3 - <<'PY'
import json, struct
hdr = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
       "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}
h = json.dumps(hdr).encode()
h += b" " * (-len(h) % 8)
with open("src/tiny-model/model.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + struct.pack("<3f", 1, 2, 3))
PY
cat >tasks/tiny_mc.yaml <<'YAML'
task: tiny_mc
dataset_path: json
dataset_kwargs:
  data_files: tasks/tiny_mc.jsonl
test_split: train
output_type: multiple_choice
doc_to_text: "Q: {{q}}\nA:"
doc_to_choice: "{{choices}}"
doc_to_target: gold
metric_list:
  - metric: acc
YAML
python3 - <<'PY'
import json
with open("tasks/tiny_mc.jsonl", "w") as f:
    for i in range(40):
        f.write(json.dumps({"q": f"What is {i} plus one?",
                            "choices": [str(i + 1), str(i + 2), str(i)],
                            "gold": 0}) + "\n")
PY

test_expect_success 'fetch: the model is copied and every file hashed' '
  cd "$W" &&
  model-fetch src/tiny-model models-tiny >1.json 2>err &&
  test "$(json_get 1.json "len(d[\"model\"][\"files\"])")" = 2 &&
  cmp src/tiny-model/model.safetensors models-tiny/model.safetensors
'

test_expect_success 'verify: the verdict is pass' '
  cd "$W" &&
  model-verify -i 1.json >2.json 2>err &&
  test "$(json_get 2.json "d[\"verification\"][\"verdict\"]")" = pass
'

test_expect_success 'a tampered weight file fails verification with exit 1' '
  cd "$W" &&
  cp -r models-tiny models-bad &&
  sed "s/models-tiny/models-bad/g" 1.json >1-bad.json &&
  printf "\\377" | dd of=models-bad/model.safetensors bs=1 seek=20 \
    conv=notrunc 2>/dev/null &&
  expect_exit 1 model-verify -i 1-bad.json >2-bad.json 2>err &&
  test "$(json_get 2-bad.json "d[\"verification\"][\"verdict\"]")" = fail
'

eval-run --tasks tiny_mc --include-path "$W/tasks" \
  --write-answer-key "$W/key.jsonl" >/dev/null 2>&1
start_mock m --ttft-ms 5 --itl-ms 1 --seed 3 --answer-key "$W/key.jsonl" \
  --answer-accuracy 0.6

test_expect_success 'perf in two processes, eval beside them' '
  cd "$W" || exit 1
  perf-run --target "$m_URL" --endpoint completions --profile constant \
    --rate 10 --max-requests 20 --data prompt_tokens=32,output_tokens=8 \
    --samples p1.jsonl --label baseline -i 2.json >3a.json 2>err1 &
  p1=$!
  perf-run --target "$m_URL" --endpoint completions --profile constant \
    --rate 10 --max-requests 20 --data prompt_tokens=32,output_tokens=8 \
    --samples p2.jsonl --label baseline -i 2.json >3b.json 2>err2 &
  p2=$!
  eval-run --base-url "$m_URL" --model llama-3.1-8b-instruct \
    --tasks tiny_mc --include-path tasks --label baseline \
    -i 2.json >3c.json 2>err3 &&
  wait $p1 && wait $p2
'

test_expect_success 'the mock knows 60% of the answers: eval-run scores exactly that' '
  cd "$W" &&
  mock-llm --answer-key key.jsonl --answer-accuracy 0.6 --seed 3 \
    --answer-expect >expect.json &&
  known=$(json_get expect.json "d[\"known\"]") &&
  n=$(json_get expect.json "d[\"contexts\"]") &&
  test "$n" = 40 &&
  acc=$(json_get 3c.json "d[\"eval\"][\"tasks\"][0][\"metrics\"][\"acc,none\"][\"value\"]") &&
  python3 -c "import sys; sys.exit(abs($acc - $known / $n) > 1e-12)"
'

test_expect_success 'merge: two perf processes add up, eval and verification kept' '
  cd "$W" &&
  results-merge --html report.html 3a.json 3b.json 3c.json >4.json 2>err &&
  a=$(json_get 3a.json "d[\"perf\"][\"runs\"][0][\"requests\"][\"all\"][\"successful\"]") &&
  b=$(json_get 3b.json "d[\"perf\"][\"runs\"][0][\"requests\"][\"all\"][\"successful\"]") &&
  m=$(json_get 4.json "d[\"perf\"][\"runs\"][0][\"requests\"][\"all\"][\"successful\"]") &&
  test "$a" -gt 0 && test "$m" -eq $((a + b)) &&
  test "$(json_get 4.json "d[\"verification\"][\"verdict\"]")" = pass &&
  test "$(json_get 4.json "d[\"eval\"][\"tasks\"][0][\"task\"]")" = tiny_mc &&
  must_contain report.html "<svg"
'

test_expect_success 'register, then register again: nothing changes' '
  cd "$W" &&
  registry-push --registry-dir reg --model-version v1 -i 4.json >5.json &&
  cp reg/registry.json before.json &&
  registry-push --registry-dir reg --model-version v1 -i 4.json >5b.json &&
  test_cmp before.json reg/registry.json
'

test_expect_success 'the engineer adds custom results under another label' '
  cd "$W" &&
  printf "%s\n" "{\"prompt\": \"hello there\"}" "{\"prompt\": \"summarise this\"}" \
    >mine.jsonl &&
  perf-run --target "$m_URL" --endpoint completions --profile synchronous \
    --max-requests 4 --data mine.jsonl --label custom -i 5.json \
    >6.json 2>err &&
  registry-push --registry-dir reg --model-version v1 --label custom \
    -i 6.json >7.json &&
  must_contain reg/registry.json "perf\\.custom\\." &&
  must_contain reg/registry.json "perf\\.baseline\\." &&
  must_contain reg/registry.json "eval\\.baseline\\.tiny_mc"
'

test_expect_success 'provenance names every program that touched the record' '
  cd "$W" &&
  progs=$(json_get 7.json "\" \".join(sorted(set(p[\"program\"] for p in d[\"provenance\"])))") &&
  test "$progs" = "eval-run model-fetch model-verify perf-run registry-push results-merge" &&
  must_not_contain 7.json "Bearer"
'

test_done
