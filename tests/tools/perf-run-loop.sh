#!/bin/bash
# perf-run's run loop and transport against mock-llm on loopback: closed
# loops that never wait for a tick, timeouts, failure verdicts, many
# streams, a common start instant. Counts and states only: nothing here
# times a figure (bench/perf-run does).
. "$(dirname "$0")/../lib.sh"

start_mock z --ttft-ms 0 --itl-ms 0 ||
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

test_done
