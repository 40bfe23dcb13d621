#!/bin/bash
# perf-run against mock-llm on loopback.
. "$(dirname "$0")/../lib.sh"

common_negative_tests perf-run

start_mock m --ttft-ms 20 --itl-ms 5 --model mock-model ||
  { echo "not ok - mock-llm did not start"; exit 1; }
start_mock f --ttft-ms 5 --itl-ms 1 --fail-500 0.5 --seed 3 ||
  { echo "not ok - mock-llm did not start"; exit 1; }
T="--target $m_URL --data prompt_tokens=16,output_tokens=8 --skip-check"

test_expect_success 'malformed JSON on stdin exits 3' "
  echo '{not json' | expect_exit 3 perf-run $T --profile synchronous \
    --max-requests 1 >out 2>err &&
  must_be_empty out && must_contain err '^perf-run: error: malformed JSON'
"

test_expect_success 'missing input file exits 4' "
  expect_exit 4 perf-run $T -i nope.json --profile synchronous \
    --max-requests 1 >out 2>err &&
  must_be_empty out && must_contain err \"cannot open 'nope.json'\"
"

test_expect_success 'unreachable target exits 5 and writes nothing' "
  expect_exit 5 perf-run --target http://127.0.0.1:1 --profile synchronous \
    --max-requests 1 </dev/null >out 2>err &&
  must_be_empty out && must_contain err '^perf-run: error: request to'
"

test_expect_success 'wrong model exits 2' "
  expect_exit 2 perf-run $T --model other --profile synchronous \
    --max-requests 1 </dev/null >out 2>err &&
  must_be_empty out &&
  must_contain err \"model 'other' is not served .*mock-model\"
"

test_expect_success 'an endpoint that refuses the request exits 5' "
  expect_exit 5 perf-run --target $m_URL --endpoint /v1/nothing \
    --profile synchronous --max-requests 1 </dev/null >out 2>err &&
  must_be_empty out && must_contain err 'answered HTTP 404'
"

test_expect_success 'bad options exit 2' "
  expect_exit 2 perf-run $T --profile constant </dev/null 2>err1 &&
  must_contain err1 'needs --rate' &&
  expect_exit 2 perf-run $T --profile constant --rate 0 </dev/null 2>err2 &&
  must_contain err2 \"invalid value '0' for --rate\" &&
  expect_exit 2 perf-run --target $m_URL --data prompt_tokens=x \
    --profile synchronous </dev/null 2>err3 &&
  must_contain err3 'invalid data spec' &&
  expect_exit 2 perf-run $T --profile bogus </dev/null 2>err4 &&
  expect_exit 2 perf-run $T --profile sweep </dev/null 2>err5 &&
  must_contain err5 'needs --max-seconds or --max-requests' &&
  expect_exit 2 perf-run --target ftp://x </dev/null 2>err6
"

test_expect_success 'an empty data file exits 3' "
  : >empty.txt &&
  expect_exit 3 perf-run --target $m_URL --data empty.txt \
    --profile synchronous </dev/null >out 2>err &&
  must_be_empty out && must_contain err \"no prompts in 'empty.txt'\"
"

test_expect_success 'constant rate: record, counts and token totals' "
  perf-run $T --profile constant --rate 40 --max-requests 12 -q \
    </dev/null >rec.json 2>err &&
  must_be_empty err &&
  test \"\$(json_get rec.json 'd[\"schema\"]')\" = modelgate.record/v1 &&
  test \"\$(json_get rec.json 'd[\"endpoint\"][\"model\"]')\" = mock-model &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"ok\"]')\" = True &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"runs\"][0][\"kind\"]')\" = constant &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"runs\"][0][\"stop_reason\"]')\" = max_requests &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"runs\"][0][\"requests\"][\"successful\"]')\" = 12 &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"runs\"][0][\"metrics\"][\"successful\"][\"output_tokens\"][\"sum\"]')\" = 96 &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"runs\"][0][\"metrics\"][\"successful\"][\"streaming_iterations\"][\"min\"]')\" = 8 &&
  json_get rec.json 'd[\"perf\"][\"runs\"][0][\"metrics\"][\"successful\"][\"ttft_ms\"][\"min\"] >= 20 or exit(1)' &&
  json_get rec.json 'd[\"perf\"][\"runs\"][0][\"metrics\"][\"successful\"][\"latency_ms\"][\"min\"] >= 55 or exit(1)' &&
  json_get rec.json 'd[\"perf\"][\"runs\"][0][\"client\"][\"target_rate\"] == 40 or exit(1)' &&
  test \"\$(json_get rec.json 'd[\"provenance\"][0][\"program\"]')\" = perf-run
"

test_expect_success 'the input record passes through' "
  printf '%s' '{\"schema\":\"modelgate.record/v1\",\"model\":{\"name\":\"x\"},\"verification\":{\"verdict\":\"pass\"},\"extra\":[1]}' >in.json &&
  perf-run $T -i in.json --profile synchronous --max-requests 2 -q >rec.json &&
  test \"\$(json_get rec.json 'd[\"model\"][\"name\"]')\" = x &&
  test \"\$(json_get rec.json 'd[\"extra\"]')\" = '[1]' &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"runs\"][0][\"requests\"][\"successful\"]')\" = 2
"

# The admission gate (lib mg_record_gate): a model that failed
# model-verify, or was never verified, is not measured.
cat >"$TRASH_ROOT/failed.json" <<'JSON'
{"schema":"modelgate.record/v1","model":{"name":"tiny","files":[{"path":"m.bin","size":3,"sha256":"aa"}]},"verification":{"verdict":"fail","ok":false,"findings":[{"severity":"warning","check":"license","message":"no license"},{"severity":"error","check":"pickle","path":"m.bin","message":"global 'posix.system' is not allowed"}],"files":[{"path":"m.bin","sha256":"aa"}]}}
JSON
test_expect_success 'gate: a failed verdict is refused, exit 1, the record passed on unchanged' "
  expect_exit 1 perf-run $T -i '$TRASH_ROOT/failed.json' --max-requests 2 \
    >out.json 2>err &&
  test \$(wc -l <err) = 1 &&
  must_contain err \"^perf-run: error: refusing model 'tiny': verdict 'fail': pickle 'm.bin': global 'posix.system' is not allowed \\(--allow-unverified overrides\\)\\\$\" &&
  python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1])) != json.load(open(sys.argv[2])))' \
    '$TRASH_ROOT/failed.json' out.json &&
  must_not_contain out.json '\"perf\"'
"

test_expect_success 'gate: a model record without verification is refused' "
  printf '%s' '{\"schema\":\"modelgate.record/v1\",\"model\":{\"name\":\"raw\"}}' >in.json &&
  expect_exit 1 perf-run $T -i in.json --max-requests 2 >out.json 2>err &&
  must_contain err \"refusing model 'raw': no verification verdict\" &&
  python3 -c 'import json; assert json.load(open(\"in.json\")) == json.load(open(\"out.json\"))'
"

test_expect_success 'gate: --allow-unverified measures anyway, with a warning' "
  perf-run $T -i '$TRASH_ROOT/failed.json' --allow-unverified \
    --profile synchronous --max-requests 2 >out.json 2>err &&
  must_contain err 'warning: --allow-unverified: measuring anyway' &&
  test \"\$(json_get out.json 'd[\"perf\"][\"runs\"][0][\"requests\"][\"successful\"]')\" = 2 &&
  test \"\$(json_get out.json 'd[\"verification\"][\"verdict\"]')\" = fail
"

test_expect_success 'several rates give one run each' "
  perf-run $T --profile poisson --rate 20,40 --max-requests 5 --seed 7 -q \
    </dev/null >rec.json &&
  test \"\$(json_get rec.json 'len(d[\"perf\"][\"runs\"])')\" = 2 &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"runs\"][1][\"rate\"]')\" = 40 &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"runs\"][1][\"seed\"]')\" = 7
"

test_expect_success 'concurrent streams never exceed N in flight' "
  perf-run $T --profile concurrent --rate 3 --max-requests 9 -q \
    </dev/null >rec.json &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"runs\"][0][\"client\"][\"peak_in_flight\"]')\" = 3 &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"runs\"][0][\"concurrency\"][\"max\"]')\" = 3 &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"runs\"][0][\"client\"][\"warmed_connections\"]')\" = 3 &&
  perf-run $T --profile concurrent --rate 3 --max-requests 3 -q \
    --no-warm-connections </dev/null >rec2.json &&
  test \"\$(json_get rec2.json 'd[\"perf\"][\"runs\"][0][\"client\"][\"warmed_connections\"]')\" = 0 &&
  test \"\$(json_get rec2.json 'd[\"perf\"][\"config\"][\"warm_connections\"]')\" = False
"

test_expect_success 'sweep: synchronous, throughput, then linspace rates' "
  perf-run $T --profile sweep --rate 4 --max-requests 6 -q \
    </dev/null >rec.json &&
  test \"\$(json_get rec.json '[r[\"kind\"] for r in d[\"perf\"][\"runs\"]]')\" = \
    '[\"synchronous\", \"throughput\", \"constant\", \"constant\"]' &&
  json_get rec.json '(lambda r: abs(r[3][\"rate\"] - r[1][\"requests_per_s\"]) < 1e-6 and abs(r[2][\"rate\"] - (r[0][\"requests_per_s\"] + r[1][\"requests_per_s\"]) / 2) < 1e-3)(d[\"perf\"][\"runs\"]) or exit(1)'
"

test_expect_success 'samples side file and CSV' "
  perf-run $T --profile constant --rate 50 --max-requests 7 -q \
    --samples s.jsonl --csv sum.csv </dev/null >rec.json &&
  test \$(wc -l <s.jsonl) = 7 &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"samples\"][\"sha256\"]')\" = \
    \"\$(sha256sum s.jsonl | cut -d' ' -f1)\" &&
  must_contain s.jsonl '\"status\":\"successful\".*\"events\":\\[\\[' &&
  test \$(wc -l <sum.csv) = 2 &&
  must_contain sum.csv '^id,kind,rate,' &&
  must_contain sum.csv '^0,constant,50,7,0,0,'
"

test_expect_success 'errors are counted by reason' "
  perf-run --target $f_URL --data prompt_tokens=8,output_tokens=4 \
    --skip-check --profile concurrent --rate 4 --max-requests 40 -q \
    </dev/null >rec.json &&
  json_get rec.json '(lambda r: r[\"errored\"] > 0 and r[\"successful\"] > 0 and r[\"errored\"] + r[\"successful\"] == 40 and r[\"errors\"][\"http 500\"] == r[\"errored\"])(d[\"perf\"][\"runs\"][0][\"requests\"]) or exit(1)'
"

test_expect_success 'max-errors stops the run' "
  perf-run --target $f_URL --data prompt_tokens=8,output_tokens=4 \
    --skip-check --profile synchronous --max-requests 100 --max-errors 2 \
    -q </dev/null >rec.json; test \$? = 0 &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"runs\"][0][\"stop_reason\"]')\" = max_errors
"

test_expect_success 'max-seconds cancels in-flight requests as incomplete' "
  perf-run --target $m_URL --data prompt_tokens=8,output_tokens=2000 \
    --profile concurrent --rate 2 --max-seconds 0.5 -q </dev/null >rec.json
  test \$? = 1 &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"ok\"]')\" = False &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"runs\"][0][\"requests\"][\"incomplete\"]')\" = 2 &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"runs\"][0][\"requests\"][\"incomplete_reasons\"][\"max_seconds\"]')\" = 2
"

test_expect_success 'SIGINT keeps what was measured' "
  perf-run --target $m_URL --data prompt_tokens=8,output_tokens=4 \
    --profile constant --rate 20 --max-seconds 30 -q -o rec.json \
    </dev/null 2>err &
  pid=\$! && sleep 1 && kill -INT \$pid && wait \$pid; rc=\$? &&
  test \$rc = 1 &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"interrupted\"]')\" = True &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"runs\"][0][\"stop_reason\"]')\" = interrupted &&
  json_get rec.json 'd[\"perf\"][\"runs\"][0][\"requests\"][\"successful\"] > 5 or exit(1)'
"

test_expect_success 'GuideLLM v0.3 flags: --output-path x.json is the report' "
  printf '%s\n' '{\"question\": \"why?\", \"output_tokens_count\": 3}' \
    '{\"question\": \"how?\", \"output_tokens_count\": 5}' >d.jsonl &&
  perf-run benchmark --target $m_URL/v1 --rate-type synchronous \
    --data d.jsonl --backend-type openai_http --random-seed 1 \
    --warmup-percent 0.1 --output-path out.json -q </dev/null >rec.json &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"runs\"][0][\"stop_reason\"]')\" = data_exhausted &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"runs\"][0][\"metrics\"][\"successful\"][\"output_tokens\"][\"sum\"]')\" = 8 &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"config\"][\"data\"][\"columns\"]')\" = 'text=question,output_tokens=output_tokens_count' &&
  test \"\$(json_get out.json 'd[\"metadata\"][\"version\"]')\" = 2 &&
  test \"\$(json_get out.json 'd[\"benchmarks\"][0][\"type_\"]')\" = generative_benchmark &&
  test \"\$(json_get out.json 'd[\"benchmarks\"][0][\"config\"][\"strategy\"][\"type_\"]')\" = synchronous &&
  test \"\$(json_get out.json 'd[\"benchmarks\"][0][\"metrics\"][\"request_totals\"]')\" = \
    '{\"successful\": 2, \"incomplete\": 0, \"errored\": 0, \"total\": 2}' &&
  test \"\$(json_get out.json 'd[\"benchmarks\"][0][\"metrics\"][\"output_token_count\"][\"successful\"][\"total_sum\"]')\" = 8 &&
  test \"\$(json_get out.json 'd[\"benchmarks\"][0][\"metrics\"][\"output_token_count\"][\"successful\"][\"percentiles\"][\"p50\"]')\" = 3 &&
  test \"\$(json_get out.json 'len(d[\"benchmarks\"][0][\"requests\"][\"successful\"])')\" = 2 &&
  mkdir -p od && perf-run --target $m_URL --rate-type synchronous \
    --data d.jsonl --output-path od -q </dev/null >/dev/null &&
  test \"\$(json_get od/benchmarks.json 'len(d[\"benchmarks\"])')\" = 1 &&
  expect_exit 2 perf-run --target $m_URL --output-path x.txt </dev/null 2>err &&
  must_contain err \"invalid value 'x.txt' for --output-path\"
"

test_expect_success 'GuideLLM report: shapes, GuideLLM token rules, samples' "
  perf-run $T --profile constant --rate 40 --max-requests 6 -q \
    --guidellm-json gl.json --sample-requests 2 </dev/null >rec.json &&
  json_get gl.json '(lambda b: b[\"config\"][\"strategy\"] == {\"type_\": \"constant\", \"rate\": 40} and b[\"metrics\"][\"request_totals\"][\"total\"] == 6 and b[\"metrics\"][\"inter_token_latency_ms\"][\"successful\"][\"count\"] == 42 and b[\"metrics\"][\"output_token_count\"][\"total\"][\"total_sum\"] == 48 and b[\"metrics\"][\"request_streaming_iterations_count\"][\"successful\"][\"mode\"] == 8 and b[\"metrics\"][\"time_to_first_token_ms\"][\"successful\"][\"min\"] >= 20 and b[\"metrics\"][\"request_latency\"][\"successful\"][\"min\"] >= 0.055 and len(b[\"requests\"][\"successful\"]) == 2 and b[\"requests\"][\"total\"] is None and b[\"requests\"][\"successful\"][0][\"info\"][\"status\"] == \"completed\" and b[\"requests\"][\"successful\"][0][\"output_tokens\"] == 8 and sorted(b[\"metrics\"][\"time_to_first_token_ms\"][\"successful\"][\"percentiles\"]) == sorted([\"p001\",\"p01\",\"p05\",\"p10\",\"p25\",\"p50\",\"p75\",\"p90\",\"p95\",\"p99\",\"p999\"]) and b[\"scheduler_metrics\"][\"requests_made\"][\"successful\"] == 6)(d[\"benchmarks\"][0]) or exit(1)' &&
  python3 -c 'import json,sys
r=json.load(open(\"rec.json\"))[\"perf\"][\"runs\"][0][\"requests_per_s\"]
g=json.load(open(\"gl.json\"))[\"benchmarks\"][0][\"metrics\"][\"requests_per_second\"][\"successful\"][\"mean\"]
sys.exit(0 if abs(r-g) < 1e-5 * r else 1)'
"

test_expect_success 'GuideLLM v0.4-v0.6 flat flags' "
  mkdir -p o4 &&
  perf-run benchmark run --target $m_URL --profile concurrent --rate 2 \
    --backend openai_http --backend-kwargs '{\"headers\": {\"X-Test\": \"1\"}, \"timeout\": 30}' \
    --request-format /v1/completions --max-requests 4 --warmup 0.25 \
    --data prompt_tokens=8,output_tokens=4 --data-samples 3 \
    --outputs json,csv --output-dir o4 --disable-console-interactive \
    --sample-requests 1 --max-global-error-rate 0.5 -q </dev/null >rec.json &&
  test \"\$(json_get rec.json 'd[\"endpoint\"][\"api\"]')\" = completions &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"runs\"][0][\"streams\"]')\" = 2 &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"runs\"][0][\"requests\"][\"all\"][\"total\"]')\" = 4 &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"config\"][\"data\"][\"items\"]')\" = 3 &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"config\"][\"limits\"][\"warmup\"]')\" = 0.25 &&
  test \"\$(json_get o4/benchmarks.json 'len(d[\"benchmarks\"][0][\"requests\"][\"successful\"])')\" = 1 &&
  must_contain o4/benchmarks.csv '^0,concurrent,2,' &&
  expect_exit 2 perf-run --target $m_URL --backend-kwargs '{\"api_key\": \"x\"}' </dev/null 2>err1 &&
  must_contain err1 'no api_key on the command line' &&
  expect_exit 2 perf-run --target $m_URL --data-column-mapper '{}' </dev/null 2>err2 &&
  must_contain err2 \"option '--data-column-mapper' is not supported\" &&
  expect_exit 2 perf-run --target $m_URL --outputs html </dev/null 2>err3 &&
  expect_exit 2 perf-run benchmark frobnicate --target $m_URL </dev/null 2>err4 &&
  must_contain err4 \"unexpected operand 'frobnicate'\"
"

test_expect_success 'a bare --label is the dataset label, K=V a metadata label' "
  perf-run --target $m_URL --endpoint completions --profile synchronous \
    --max-requests 2 --data prompt_tokens=8,output_tokens=2 \
    --label support-bot --label team=perf -q </dev/null >lab.json &&
  test \"\$(json_get lab.json 'd[\"perf\"][\"label\"]')\" = support-bot &&
  test \"\$(json_get lab.json 'd[\"perf\"][\"config\"][\"labels\"][\"team\"]')\" = perf &&
  expect_exit 2 perf-run --target $m_URL --label '' </dev/null >out 2>err &&
  must_be_empty out &&
  must_contain err \"for --label: empty label\" &&
  expect_exit 2 perf-run --target $m_URL --label =x </dev/null 2>err2
"

test_expect_success 'GuideLLM v0.7 registry options' "
  perf-run run --backend kind=openai_http,target=$m_URL,model=mock-model,validate_backend=false \
    --profile kind=constant,rate=[30,60] --constraint kind=max_requests,count=5 \
    --data kind=synthetic_text,prompt_tokens=8,output_tokens=3 \
    --seed kind=static,value=7 --output kind=json,path=r7.json \
    --metrics kind=generative,sample_size=0 --label team=perf \
    --data-loader samples=2 -q </dev/null >rec.json &&
  test \"\$(json_get rec.json '[r[\"rate\"] for r in d[\"perf\"][\"runs\"]]')\" = '[30, 60]' &&
  test \"\$(json_get rec.json '[r[\"requests\"][\"all\"][\"total\"] for r in d[\"perf\"][\"runs\"]]')\" = '[5, 5]' &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"runs\"][0][\"metrics\"][\"successful\"][\"output_tokens\"][\"sum\"]')\" = 15 &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"config\"][\"seed\"]')\" = 7 &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"config\"][\"data\"][\"items\"]')\" = 2 &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"config\"][\"labels\"]')\" = '{\"team\": \"perf\"}' &&
  test \"\$(json_get r7.json 'd[\"config\"][\"metadata\"][\"labels\"][\"team\"]')\" = perf &&
  test \"\$(json_get r7.json 'd[\"config\"][\"spec\"][\"profile\"]')\" = '{\"kind\": \"constant\", \"rate\": [30, 60]}' &&
  test \"\$(json_get r7.json '[len(b[\"requests\"][\"successful\"]) for b in d[\"benchmarks\"]]')\" = '[0, 0]' &&
  expect_exit 2 perf-run --target $m_URL --profile kind=bogus </dev/null 2>e1 &&
  expect_exit 2 perf-run --target $m_URL --constraint kind=max_requests,cnt=5 </dev/null 2>e2 &&
  must_contain e2 \"unknown field 'cnt'\" &&
  expect_exit 2 perf-run --backend kind=openai_http,target=$m_URL,api_key=sk-1 </dev/null 2>e3 &&
  must_contain e3 'no api_key on the command line' &&
  expect_exit 2 perf-run --target $m_URL --data kind=huggingface,source=x </dev/null 2>e4 &&
  expect_exit 2 perf-run --target $m_URL --profile kind=constant,rate=[1,x] </dev/null 2>e5
"

test_expect_success 'over-saturation stops a saturated server, not a healthy one' "
  start_mock s --ttft-ms 20 --itl-ms 5 --slots 2 &&
  perf-run --target \$s_URL --data prompt_tokens=8,output_tokens=20 \
    --skip-check --profile constant --rate 60 --max-seconds 20 -q \
    --over-saturation min_seconds=1,minimum_ttft=0.05,minimum_window_size=3 \
    </dev/null >rec.json &&
  json_get rec.json '(lambda r: r[\"stop_reason\"] == \"over_saturation\" and r[\"duration_s\"] < 10 and r[\"over_saturation\"][\"detected\"] and r[\"over_saturation\"][\"detected_at_s\"] >= 3 and r[\"over_saturation\"][\"concurrent_slope\"] > 0 and r[\"over_saturation\"][\"ttft_slope\"] > 0 and r[\"requests\"][\"incomplete_reasons\"][\"over_saturation\"] > 0)(d[\"perf\"][\"runs\"][0]) or exit(1)' &&
  perf-run --target \$s_URL --data prompt_tokens=8,output_tokens=20 \
    --skip-check --profile constant --rate 5 --max-seconds 4 -q \
    --over-saturation min_seconds=1,minimum_ttft=0.05,minimum_window_size=3 \
    </dev/null >rec2.json &&
  json_get rec2.json '(lambda r: r[\"stop_reason\"] == \"max_seconds\" and not r[\"over_saturation\"][\"detected\"])(d[\"perf\"][\"runs\"][0]) or exit(1)' &&
  expect_exit 2 perf-run --target \$s_URL --over-saturation bogus=1 </dev/null 2>err &&
  must_contain err 'invalid over-saturation spec'
"

test_expect_success 'exact prompt lengths with --processor server' "
  perf-run --target $m_URL --endpoint completions --processor server \
    --data prompt_tokens=37,output_tokens=5,samples=20 \
    --profile synchronous --max-requests 6 -q </dev/null >rec.json &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"config\"][\"data\"][\"exact_lengths\"]')\" = True &&
  test \"\$(json_get rec.json '[d[\"perf\"][\"runs\"][0][\"metrics\"][\"successful\"][\"prompt_tokens\"][k] for k in (\"min\", \"max\", \"count\")]')\" = '[37, 37, 6]'
"

test_expect_success 'a local tokenizer: exact prompts, output counted from text' "
  X='{\"stream_options\": {\"include_usage\": false}}' &&
  perf-run --target $m_URL --processor \$SHARED/data/tokenizers/gpt2 \
    --data prompt_tokens=25,output_tokens=20 --profile synchronous \
    --max-requests 4 --extra-body \"\$X\" -q --samples s.jsonl \
    </dev/null >rec.json &&
  json_get rec.json '(lambda m: m[\"prompt_tokens\"][\"min\"] == m[\"prompt_tokens\"][\"max\"] == 25 and m[\"output_tokens\"][\"sum\"] >= m[\"streaming_iterations\"][\"sum\"] == 80)(d[\"perf\"][\"runs\"][0][\"metrics\"][\"successful\"]) or exit(1)' &&
  must_contain s.jsonl '\"usage_output_tokens\":-1' &&
  perf-run --target $m_URL --processor \$SHARED/data/tokenizers/llama \
    --data prompt_tokens=25,output_tokens=20 --profile synchronous \
    --max-requests 4 --extra-body \"\$X\" -q </dev/null >rec2.json &&
  json_get rec2.json '(lambda m: m[\"output_tokens\"][\"sum\"] > m[\"streaming_iterations\"][\"sum\"] == 80)(d[\"perf\"][\"runs\"][0][\"metrics\"][\"successful\"]) or exit(1)' &&
  perf-run $T --processor org/no-such-model --profile synchronous \
    --max-requests 1 </dev/null >rec3.json 2>err &&
  must_contain err \"warning: tokenizer 'org/no-such-model' is not a local path\" &&
  test \"\$(json_get rec3.json 'd[\"perf\"][\"config\"][\"data\"][\"exact_lengths\"]')\" = False
"

test_expect_success 'completions endpoint and the summary on stderr' "
  perf-run $T --endpoint completions --profile throughput \
    --max-concurrency 4 --max-requests 8 </dev/null >rec.json 2>err &&
  test \"\$(json_get rec.json 'd[\"endpoint\"][\"api\"]')\" = completions &&
  must_contain err '^perf-run: throughput .* req/s'
"

test_expect_success 'a full disk fails with exit 4' "
  expect_exit 4 perf-run $T --profile synchronous --max-requests 1 -q \
    </dev/null >/dev/full 2>err &&
  must_contain err 'cannot write'
"

# TLS is verified by default: a mock serving HTTPS with a throwaway CA
# made by the openssl command at run time (nothing kept).
CA=$TRASH_ROOT/ca
make_test_ca "$CA" || { echo "not ok - cannot make a test CA"; exit 1; }
start_mock_tls s "$CA/server.pem" "$CA/server.key" --ttft-ms 5 --itl-ms 1 ||
  { echo "not ok - mock-llm (TLS) did not start"; exit 1; }
S="--target $s_URL --data prompt_tokens=16,output_tokens=8 --profile synchronous --max-requests 2"

test_expect_success 'TLS: an unknown CA fails with exit 5, one line, no output' "
  expect_exit 5 perf-run $S </dev/null >out 2>err &&
  must_be_empty out &&
  test \$(wc -l <err) -eq 1 &&
  must_contain err \"^perf-run: error: request to '$s_URL/[^']*' failed: .*certificate\"
"

test_expect_success 'TLS: --cacert CA verifies the server' "
  perf-run $S --cacert '$CA/ca.pem' -q </dev/null >rec.json 2>err &&
  must_be_empty err &&
  test \"\$(json_get rec.json 'd[\"endpoint\"][\"url\"]')\" = '$s_URL' &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"runs\"][0][\"requests\"][\"successful\"]')\" = 2
"

test_expect_success 'TLS: --cacert with another CA still fails with exit 5' "
  make_test_ca other &&
  expect_exit 5 perf-run $S --cacert other/ca.pem </dev/null >out 2>err &&
  must_be_empty out && must_contain err 'certificate'
"

test_expect_success 'TLS: --insecure skips verification' "
  perf-run $S --insecure -q </dev/null >rec.json 2>err &&
  must_be_empty err &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"runs\"][0][\"requests\"][\"successful\"]')\" = 2
"

test_expect_success 'TLS: the --api-key-file token is never printed, even at -vv' "
  printf 'sk-test-TLS-4f1c9a7e\n' >token &&
  perf-run $S --cacert '$CA/ca.pem' --api-key-file token -v -v \
    </dev/null >rec.json 2>err &&
  must_contain err 'SSL certificate verify ok' &&
  must_contain err '^> Authorization: <redacted>' &&
  must_not_contain err 'sk-test-TLS' &&
  must_not_contain rec.json 'sk-test-TLS' &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"runs\"][0][\"requests\"][\"successful\"]')\" = 2
"

test_expect_success 'TLS: --http2 offers h2 and falls back to HTTP/1.1' "
  perf-run $S --cacert '$CA/ca.pem' --http2 -v -v </dev/null >rec.json 2>err &&
  must_contain err 'ALPN: offers h2' &&
  must_contain err '^< HTTP/1\.1 200' &&
  must_not_contain err '^< HTTP/2' &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"config\"][\"http2\"]')\" = True &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"runs\"][0][\"requests\"][\"successful\"]')\" = 2
"

test_done
