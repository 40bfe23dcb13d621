#!/bin/bash
# perf-run's run loop and transport against mock-llm on loopback: closed
# loops that never wait for a tick, timeouts, failure verdicts, many
# streams, a common start instant. Counts and states only: nothing here
# times a figure (bench/perf-run does).
. "$(dirname "$0")/../lib.sh"

start_mock z --ttft-ms 0 --itl-ms 0 ||
  { echo "not ok - mock-llm did not start"; exit 1; }
start_mock m --ttft-ms 20 --itl-ms 5 ||
  { echo "not ok - mock-llm did not start"; exit 1; }

# A server that answers a whole stream within one loop turn: the next
# request of a closed loop starts at once, never at the 100 ms status
# tick (issue 12 item 8). With the stall about a quarter of the requests
# waited ~100 ms; a busy machine may preempt a few, never dozens.
test_expect_success 'synchronous: no request waits for the status tick' "
  perf-run --target $z_URL --data prompt_tokens=16,output_tokens=16 \
    --skip-check --profile synchronous --max-requests 300 -q \
    --samples s.jsonl </dev/null >rec.json &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"runs\"][0][\"requests\"][\"successful\"]')\" = 300 &&
  python3 -c '
import json, sys
late = [s for s in map(json.loads, open(\"s.jsonl\"))
        if s[\"sent\"] - s[\"scheduled\"] >= 50]
print(len(late), \"requests waited >= 50 ms\")
sys.exit(len(late) > 5)'
"

# wait_conns PORT N: waits (10 s at most) until N TCP connections to
# loopback PORT are established, read from /proc/net/tcp.
wait_conns() {
  python3 - "$1" "$2" <<'PY'
import sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
for _ in range(400):
    c = 0
    for line in open("/proc/net/tcp").readlines()[1:]:
        f = line.split()
        if f[3] == "01" and int(f[2].split(":")[1], 16) == port:
            c += 1
    if c >= n:
        sys.exit(0)
    time.sleep(0.025)
sys.exit(1)
PY
}

# A server that stops answering for good (SIGSTOP) after the checks:
# every request ends at the request timeout as errored "timeout", the
# record is written and, with more than half failed, the verdict is
# negative (exit 1) (issue 12 item 9).
start_mock p --ttft-ms 3000 --itl-ms 5 ||
  { echo "not ok - mock-llm did not start"; exit 1; }
test_expect_success 'a paused server: requests time out, exit 1, record kept' "
  (timeout 60 perf-run --target $p_URL --data prompt_tokens=8,output_tokens=4 \
    --profile concurrent --rate 4 --max-requests 8 --request-timeout 1 \
    --samples s.jsonl </dev/null >rec.json 2>err; echo \$? >rc) &
  wait_conns ${p_URL##*:} 4 && kill -STOP $p_PID &&
  wait && kill -CONT $p_PID &&
  test \$(cat rc) = 1 &&
  must_contain err '^perf-run: warning: 8 of 8 requests failed' &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"ok\"]')\" = False &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"runs\"][0][\"requests\"][\"errored\"]')\" = 8 &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"runs\"][0][\"requests\"][\"errors\"]')\" = '{\"timeout\": 8}'
"

test_expect_success 'a paused server: the check request has its own timeout' "
  kill -STOP $p_PID &&
  { timeout 60 perf-run --target $p_URL --check-timeout 0.5 \
      --profile synchronous --max-requests 1 </dev/null >out 2>err
    echo \$? >rc; kill -CONT $p_PID; } &&
  test \$(cat rc) = 5 && must_be_empty out &&
  must_contain err '^perf-run: error: request to .*/v1/models.* timed out'
"

# A server killed mid-run: requests in flight are cut, new ones refused;
# 8 of 8 failed is a negative verdict, not ok:true.
start_mock k --ttft-ms 3000 --itl-ms 5 ||
  { echo "not ok - mock-llm did not start"; exit 1; }
test_expect_success 'a killed server: exit 1, errors counted, record kept' "
  (timeout 60 perf-run --target $k_URL --data prompt_tokens=8,output_tokens=4 \
    --profile concurrent --rate 4 --max-requests 8 \
    </dev/null >rec.json 2>err; echo \$? >rc) &
  wait_conns ${k_URL##*:} 4 && kill -KILL $k_PID &&
  wait &&
  test \$(cat rc) = 1 &&
  must_contain err '^perf-run: warning: 8 of 8 requests failed' &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"ok\"]')\" = False &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"runs\"][0][\"requests\"][\"errored\"]')\" = 8
"

# 1,000 streams at once (issue 15 item 6): every request completes, over
# 1,000 warmed connections, against one mock-llm. Both ends need more
# than 1,000 descriptors: raise the soft limit when the hard one allows.
[ "$(ulimit -n)" -lt 2200 ] && ulimit -n 2200 2>/dev/null
if [ "$(ulimit -n)" -ge 2200 ]; then
  start_mock w --ttft-ms 20 --itl-ms 2 --max-connections 1200 ||
    { echo "not ok - mock-llm did not start"; exit 1; }
  test_expect_success '1,000 concurrent streams all complete' "
    perf-run --target $w_URL --data prompt_tokens=8,output_tokens=8 \
      --skip-check --profile concurrent --rate 1000 --max-requests 3000 -q \
      </dev/null >rec.json &&
    test \"\$(json_get rec.json 'd[\"perf\"][\"runs\"][0][\"requests\"][\"successful\"]')\" = 3000 &&
    test \"\$(json_get rec.json 'd[\"perf\"][\"runs\"][0][\"client\"][\"peak_in_flight\"]')\" = 1000 &&
    test \"\$(json_get rec.json 'd[\"perf\"][\"runs\"][0][\"client\"][\"warmed_connections\"]')\" = 1000 &&
    test \"\$(json_get rec.json 'd[\"perf\"][\"runs\"][0][\"metrics\"][\"successful\"][\"output_tokens\"][\"sum\"]')\" = 24000
  "
else
  test_skip "1,000 concurrent streams all complete" \
    "open files limited to $(ulimit -n)"
fi

# Load generators that start together (issue 15 item 5): two processes
# given the same --start-at instant have the same benchmark start on the
# wall clock, so results-merge unites their samples on one clock.
test_expect_success '--start-at: two processes start at one instant and merge' "
  at=\$(python3 -c 'import time; print(f\"{time.time() + 1:.3f}\")') &&
  { perf-run --target $m_URL --data prompt_tokens=8,output_tokens=4 \
      --skip-check --profile constant --rate 20 --max-requests 10 -q \
      --start-at \$at --samples s1.jsonl </dev/null >r1.json &
    perf-run --target $m_URL --data prompt_tokens=8,output_tokens=4 \
      --skip-check --profile constant --rate 20 --max-requests 10 -q \
      --start-at \$at --samples s2.jsonl </dev/null >r2.json; wait \$!; } &&
  json_get r1.json \"abs(d['perf']['runs'][0]['start_unix'] - \$at) < 1e-6 or exit(1)\" &&
  json_get r2.json \"abs(d['perf']['runs'][0]['start_unix'] - \$at) < 1e-6 or exit(1)\" &&
  results-merge r1.json r2.json >m.json 2>err &&
  must_be_empty err &&
  test \"\$(json_get m.json 'd[\"perf\"][\"runs\"][0][\"requests\"][\"successful\"]')\" = 20 &&
  test \"\$(json_get m.json 'd[\"perf\"][\"runs\"][0][\"metrics_from\"]')\" = samples &&
  json_get m.json \"abs(d['perf']['runs'][0]['start_unix'] - \$at) < 1e-6 or exit(1)\"
"

test_expect_success '--start-at in the past: a warning, then the run' "
  perf-run --target $m_URL --data prompt_tokens=8,output_tokens=4 \
    --skip-check --profile synchronous --max-requests 2 --start-at 1000 \
    </dev/null >rec.json 2>err &&
  must_contain err '^perf-run: warning: --start-at 1000.000 has passed' &&
  test \"\$(json_get rec.json 'd[\"perf\"][\"runs\"][0][\"requests\"][\"successful\"]')\" = 2 &&
  expect_exit 2 perf-run --target $m_URL --start-at soon </dev/null 2>err2 &&
  must_contain err2 \"invalid value 'soon' for --start-at\"
"

# Shards that started apart (no common --start-at): results-merge moves
# each onto the earliest start's clock (start_unix), windows and samples
# alike, instead of keeping the first start_unix with a warning.
test_expect_success 'results-merge: shards that started apart, one clock' "
  at=\$(python3 -c 'import time; print(f\"{time.time() + 0.5:.3f}\")') &&
  later=\$(python3 -c \"print(f'{\$at + 0.4:.3f}')\") &&
  { perf-run --target $m_URL --data prompt_tokens=8,output_tokens=4 \
      --skip-check --profile constant --rate 20 --max-requests 10 -q \
      --start-at \$at --samples s1.jsonl </dev/null >r1.json &
    perf-run --target $m_URL --data prompt_tokens=8,output_tokens=4 \
      --skip-check --profile constant --rate 20 --max-requests 10 -q \
      --start-at \$later --samples s2.jsonl </dev/null >r2.json; wait \$!; } &&
  results-merge r1.json r2.json >m.json 2>err &&
  must_be_empty err &&
  json_get m.json \"abs(d['perf']['runs'][0]['start_unix'] - \$at) < 1e-6 or exit(1)\" &&
  json_get m.json \"(lambda w2, w: abs(w['end_s'] - w2['end_s'] - 0.4) < 1e-6 or exit(1))(__import__('json').load(open('r2.json'))['perf']['runs'][0]['window'], d['perf']['runs'][0]['window'])\" &&
  test \"\$(json_get m.json 'd[\"perf\"][\"runs\"][0][\"requests\"][\"successful\"]')\" = 20 &&
  test \"\$(json_get m.json 'd[\"perf\"][\"runs\"][0][\"metrics_from\"]')\" = samples &&
  json_get m.json \"d['perf']['runs'][0]['metrics']['successful']['latency_ms']['max'] < 200 or exit(1)\"
"

test_done
