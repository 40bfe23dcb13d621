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
  printf '%s' '{\"schema\":\"modelgate.record/v1\",\"model\":{\"name\":\"x\"},\"extra\":[1]}' >in.json &&
  perf-run $T -i in.json --profile synchronous --max-requests 2 -q >rec.json &&
  test \"\$(json_get rec.json 'd[\"model\"][\"name\"]')\" = x &&
  test \"\$(json_get rec.json 'd[\"extra\"]')\" = '[1]' &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"runs\"][0][\"requests\"][\"successful\"]')\" = 2
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
  test \"\$(json_get rec.json 'd[\"perf\"][\"runs\"][0][\"concurrency\"][\"max\"]')\" = 3
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

test_expect_success 'GuideLLM v0.3 flags and a data file' "
  printf '%s\n' '{\"question\": \"why?\", \"output_tokens_count\": 3}' \
    '{\"question\": \"how?\", \"output_tokens_count\": 5}' >d.jsonl &&
  perf-run --target $m_URL/v1 --rate-type synchronous --data d.jsonl \
    --processor gpt2 --backend-type openai_http --random-seed 1 \
    --warmup-percent 0.1 --output-path out.json -q </dev/null >stdout &&
  must_be_empty stdout &&
  test \"\$(json_get out.json 'd[\"perf\"][\"runs\"][0][\"stop_reason\"]')\" = data_exhausted &&
  test \"\$(json_get out.json 'd[\"perf\"][\"runs\"][0][\"metrics\"][\"successful\"][\"output_tokens\"][\"sum\"]')\" = 8 &&
  test \"\$(json_get out.json 'd[\"perf\"][\"config\"][\"data\"][\"columns\"]')\" = 'text=question,output_tokens=output_tokens_count'
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

test_done
