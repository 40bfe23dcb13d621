#!/bin/bash
# mock-llm: endpoints, shapes, timing bounds, slots, faults, answer key.
# python3 only reads results; requests are made with curl (one process
# per batch, because process start-up dominates on a loaded machine).
. "$(dirname "$0")/../lib.sh"

common_negative_tests mock-llm

# post PATH BODY OUT [BASE]: POST JSON, body to OUT, prints the status code.
post() {
  curl -sS -o "$3" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary "$2" "${4:-$m_URL}$1"
}

# batch BASE [HEADER]: reads lines "PATH OUT BODY" and sends them all, in
# order, from one curl process on a kept-alive connection (unless HEADER is
# "Connection: close"). Prints one line per request: "status curl-exit-code
# seconds".
batch() {
  base=$1
  hdr=${2:-X-Test: 1}
  set --
  while read -r path out body; do
    [ $# -gt 0 ] && set -- "$@" --next
    set -- "$@" -sS -o "$out" -w '%{http_code} %{exitcode} %{time_total}\n' \
      -H 'Content-Type: application/json' -H "$hdr" --data-binary "$body" \
      "$base$path"
  done
  curl "$@" 2>/dev/null
  return 0
}

# wait_lines FILE N: waits up to 2 s for FILE to have N lines (the arrival
# log is written when a request completes, just after its last byte).
wait_lines() {
  n=0
  while [ "$(wc -l <"$1" 2>/dev/null || echo 0)" -lt "$2" ] && [ $n -lt 40 ]; do
    sleep 0.05
    n=$((n + 1))
  done
  [ "$(wc -l <"$1")" -ge "$2" ]
}

# sse_check FILE...: every event is "data: <JSON>" + blank line and
# "data: [DONE]" is last; prints the number of JSON events per file.
sse_check() {
  python3 - "$@" <<'EOF'
import json, sys
for f in sys.argv[1:]:
    raw = open(f, encoding="utf-8").read()
    assert raw.endswith("data: [DONE]\n\n"), (f, "no [DONE] at the end")
    events = raw.split("\n\n")
    n = 0
    for e in events[:-2]:
        assert e.startswith("data: "), (f, e)
        json.loads(e[6:])
        n += 1
    print(n)
EOF
}

test_expect_success 'bad option values exit 2' '
  expect_exit 2 mock-llm --port 70000 2>err &&
  must_contain err "^mock-llm: error: .*--port" &&
  expect_exit 2 mock-llm --fail-429 1.5 2>err &&
  expect_exit 2 mock-llm --fail-429 0.6 --fail-500 0.6 2>err &&
  must_contain err "add up to more than 1" &&
  expect_exit 2 mock-llm --cut-rate 0.6 --stall-rate 0.6 2>err &&
  expect_exit 2 mock-llm --answer-expect 2>err &&
  must_contain err "needs --answer-key" &&
  expect_exit 2 mock-llm extra 2>err
'

test_expect_success 'missing answer key exits 4, malformed exits 3' '
  expect_exit 4 mock-llm --answer-key nope.jsonl --answer-expect >out 2>err &&
  must_be_empty out &&
  must_contain err "^mock-llm: error: .*nope.jsonl" &&
  printf "{\"context\":\"a\",\"continuation\":\"b\"}\n{oops\n" >bad.jsonl &&
  expect_exit 3 mock-llm -i bad.jsonl --answer-expect >out 2>err &&
  must_be_empty out &&
  must_contain err "line 2" &&
  echo "{\"context\":\"a\"}" >bad2.jsonl &&
  expect_exit 3 mock-llm -i bad2.jsonl --answer-expect >out 2>err &&
  must_be_empty out &&
  must_contain err "continuation"
'

# An answer key of 20 multiple-choice questions: the correct choice is
# " c<i>", the others " w<i>x", " w<i>yy", " w<i>zzz".
KEY=$TRASH_ROOT/key.jsonl
for i in $(seq 1 20); do
  printf '{"context":"Question %d: which one?\\nAnswer:","continuation":" c%d"}\n' \
    "$i" "$i"
done >"$KEY"

test_expect_success 'answer-expect reports the known count' '
  mock-llm -i "$KEY" --answer-accuracy 0.5 --seed 3 --answer-expect >half &&
  mock-llm -i "$KEY" --answer-expect --pretty >all &&
  mock-llm -i "$KEY" --answer-accuracy 0 --answer-expect >none &&
  mock-llm -i "$KEY" --answer-accuracy 0.5 --seed 3 --answer-expect -v \
    >lines 2>/dev/null &&
  test "$(wc -l <half)" = 1 &&
  test "$(wc -l <lines)" = 21 &&
  python3 - <<-EOF &&
	import json
	half, all_, none = (json.load(open(f)) for f in ("half", "all", "none"))
	assert half["contexts"] == 20 and 0 < half["known"] < 20, half
	assert all_["known"] == 20 and none["known"] == 0
	lines = [json.loads(l) for l in open("lines")]
	assert lines[0] == half
	assert sum(l["known"] for l in lines[1:]) == half["known"]
	assert [l["line"] for l in lines[1:]] == list(range(1, 21))
	EOF
  expect_exit 4 mock-llm -i "$KEY" --answer-expect >/dev/full 2>err &&
  must_contain err "cannot write"
'

start_mock m --ttft-ms 0 --itl-ms 0 --seed 1 \
  --arrival-log "$TRASH_ROOT/m.arrivals"

test_expect_success '--port-file holds the bound port' '
  test "$(cat "$TRASH_ROOT/m.port")" = "${m_URL##*:}"
'

test_expect_success 'health and models' '
  test "$(curl -sS -o h -w "%{http_code}" "$m_URL/health")" = 200 &&
  test "$(curl -sS -o models -w "%{http_code}" "$m_URL/v1/models")" = 200 &&
  must_contain models "^\\{\"object\":\"list\",\"data\":\\[\\{\"id\":\"llama-3.1-8b-instruct\",\"object\":\"model\","
'

test_expect_success 'completion: exact max_tokens with ignore_eos' '
  test "$(post /v1/completions "{\"prompt\":\"Hello there\",\"max_tokens\":7,\"ignore_eos\":true}" out)" = 200 &&
  must_contain out "\"object\":\"text_completion\"" &&
  must_contain out "\"finish_reason\":\"length\"" &&
  must_contain out "\"usage\":\\{\"prompt_tokens\":4,\"total_tokens\":11,\"completion_tokens\":7\\}" &&
  text=$(sed "s/.*\"text\":\"\\([^\"]*\\)\".*/\\1/" out) &&
  post /tokenize "{\"prompt\":\"$text\"}" toks >/dev/null &&
  must_contain toks "^\\{\"count\":7,"
'

test_expect_success 'completion: the mock may stop before max_tokens' '
  post /v1/completions "{\"prompt\":\"Hi\",\"max_tokens\":500}" out >/dev/null &&
  must_contain out "\"completion_tokens\":128\\}" &&
  must_contain out "\"finish_reason\":\"stop\""
'

test_expect_success 'streams: SSE shape, [DONE], usage, role chunk' '
  post /v1/completions "{\"prompt\":\"Hello\",\"max_tokens\":5,\"ignore_eos\":true,\"stream\":true,\"stream_options\":{\"include_usage\":true}}" c >code &&
  test "$(cat code)" = 200 &&
  post /v1/chat/completions "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}],\"max_completion_tokens\":3,\"ignore_eos\":true,\"stream\":true,\"stream_options\":{\"include_usage\":true,\"continuous_usage_stats\":true}}" ch >/dev/null &&
  sse_check c ch >counts &&
  printf "6\n5\n" >want && test_cmp want counts &&
  test "$(grep -c "\"text\":" c)" = 5 &&
  grep "\"usage\"" c >usage &&
  test "$(wc -l <usage)" = 1 &&
  must_contain usage "\"choices\":\\[\\],\"usage\":\\{\"prompt_tokens\":2,\"total_tokens\":7,\"completion_tokens\":5\\}" &&
  test "$(grep -c "\"finish_reason\":\"length\"" c)" = 1 &&
  head -1 ch | grep -q "\"delta\":{\"role\":\"assistant\",\"content\":\"\"}" &&
  test "$(grep -c "\"delta\":{\"content\":" ch)" = 3 &&
  test "$(grep -c "\"usage\":" ch)" = 5 &&
  test "$(grep -c "chat.completion.chunk" ch)" = 5 &&
  grep "\"finish_reason\":\"length\"" ch | grep -q "\"completion_tokens\":3"
'

test_expect_success 'chat: non-streamed message' '
  post /v1/chat/completions "{\"model\":\"llama-3.1-8b-instruct\",\"messages\":[{\"role\":\"system\",\"content\":\"s\"},{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":4}" out >/dev/null &&
  must_contain out "\"object\":\"chat.completion\"" &&
  must_contain out "\"message\":\\{\"role\":\"assistant\",\"content\":\"( [a-z]{3}){4}\"\\}" &&
  must_contain out "\"completion_tokens\":4\\}"
'

test_expect_success 'stop strings cut the output' '
  post /v1/completions "{\"prompt\":\"x\",\"max_tokens\":10,\"ignore_eos\":true}" full >/dev/null &&
  text=$(sed "s/.*\"text\":\"\\([^\"]*\\)\".*/\\1/" full) &&
  test ${#text} = 40 &&
  stop=${text:9:3} &&
  post /v1/completions "{\"prompt\":\"x\",\"max_tokens\":10,\"ignore_eos\":true,\"stop\":[\"$stop\"]}" cut >/dev/null &&
  got=$(sed "s/.*\"text\":\"\\([^\"]*\\)\".*/\\1/" cut) &&
  test "$got" = "${text%%"$stop"*}" &&
  test ${#got} -lt 9 -o ${#got} = 9 &&
  must_contain cut "\"finish_reason\":\"stop\""
'

test_expect_success 'tokenize / detokenize round trip (tricky UTF-8)' '
  s="h\u00e9llo \u65e5\u672c \ud83d\ude00 e\u0301 tab\tnl\n end" &&
  post /tokenize "{\"prompt\":\"$s\",\"add_special_tokens\":false}" t >/dev/null &&
  ids=$(sed "s/.*\"tokens\":\\[\\([0-9,]*\\)\\].*/\\1/" t) &&
  test "$(post /detokenize "{\"tokens\":[$ids]}" d)" = 200 &&
  printf "\"%s\"" "$s" >want.json &&
  test "$(post /detokenize "{\"tokens\":[128]}" bad)" = 400 &&
  python3 - <<-EOF
	import json
	t = json.load(open("t"))
	assert t["count"] == len(t["tokens"]) > 5 and t["max_model_len"] == 131072
	assert json.load(open("d"))["prompt"] == json.load(open("want.json"))
	assert all(0 <= i < 2**31 for i in t["tokens"])
	EOF
'

test_expect_success 'logprobs + echo: legacy shape, lengths, one choice per prompt' '
  post /v1/completions "{\"prompt\":[\"The cat sat\",\"A dog ran far\"],\"max_tokens\":1,\"echo\":true,\"logprobs\":1,\"temperature\":0}" out >/dev/null &&
  post /tokenize "{\"prompt\":\"Hello world\"}" t >/dev/null &&
  ids=$(sed "s/.*\"tokens\":\\[\\([0-9,]*\\)\\].*/\\1/" t) &&
  post /v1/completions "{\"prompt\":[[$ids]],\"max_tokens\":1,\"echo\":true}" byid >/dev/null &&
  python3 - <<-EOF
	import json
	d = json.load(open("out"))
	assert [c["index"] for c in d["choices"]] == [0, 1]
	for c, p in zip(d["choices"], ["The cat sat", "A dog ran far"]):
	    lp = c["logprobs"]
	    n = len(lp["tokens"])
	    assert n == len(lp["token_logprobs"]) == len(lp["top_logprobs"]) == len(lp["text_offset"])
	    assert lp["token_logprobs"][0] is None and lp["top_logprobs"][0] is None
	    assert "".join(lp["tokens"]) == c["text"] and c["text"].startswith(p)
	    assert lp["text_offset"][0] == 0
	    for i in range(1, n):
	        assert lp["text_offset"][i] == lp["text_offset"][i-1] + len(lp["tokens"][i-1])
	        assert isinstance(lp["token_logprobs"][i], float)
	        assert 1 <= len(lp["top_logprobs"][i]) <= 2
	assert d["usage"]["completion_tokens"] == 2
	b = json.load(open("byid"))
	t = json.load(open("t"))
	assert b["choices"][0]["text"].startswith("Hello world")
	assert b["usage"]["prompt_tokens"] == t["count"]
	EOF
'

test_expect_success 'bad requests get OpenAI-style JSON errors' '
  printf "%s\n" \
    "/v1/completions e1 {\"prompt\": " \
    "/v1/completions e2 {\"prompt\":\"a\",\"n\":2}" \
    "/v1/completions e3 {\"prompt\":\"a\",\"max_tokens\":-1}" \
    "/v1/chat/completions e4 {\"messages\":\"hi\"}" \
    "/v1/completions e5 {\"prompt\":\"a\",\"model\":\"other\"}" \
    "/v1/completions e6 {\"prompt\":\"a\",\"max_tokens\":200000}" \
    "/v2/nothing e7 {}" \
    "/tokenize e8 [1]" | batch "$m_URL" >codes &&
  cut -d" " -f1 codes >got &&
  printf "400\n400\n400\n400\n404\n400\n404\n400\n" >want &&
  test_cmp want got &&
  for i in 1 2 3 4 5 6 7 8; do
    must_contain e$i "^\\{\"error\":\\{\"message\":\"[^\"]+\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":40[04]\\}\\}$" || exit 1
  done &&
  must_contain e1 "malformed JSON" &&
  must_contain e5 "does not exist" &&
  must_contain e6 "maximum context length" &&
  test "$(curl -sS -o e9 -w "%{http_code}" "$m_URL/v1/completions")" = 405 &&
  must_contain e9 "\"code\":405" &&
  test "$(curl -sS -o h -w "%{http_code}" "$m_URL/health")" = 200
'

test_expect_success 'keep-alive: one connection serves several requests' '
  curl -sv "$m_URL/health" "$m_URL/v1/models" >/dev/null 2>log &&
  must_contain log "[Rr]e-?using existing connection"
'

test_expect_success 'fifty concurrent streams all complete' '
  set -- &&
  for i in $(seq 1 50); do
    set -- "$@" -o "s$i" "$m_URL/v1/completions"
  done &&
  curl -sS -Z --parallel-immediate --parallel-max 50 --no-progress-meter --data-binary \
    "{\"prompt\":\"p\",\"max_tokens\":20,\"ignore_eos\":true,\"stream\":true}" \
    "$@" &&
  sse_check $(seq -f "s%g" 1 50) | sort -u >counts &&
  echo 20 >want && test_cmp want counts
'

start_mock small --max-body 1024 --ttft-ms 0 --itl-ms 0 --request-latency 0.2

test_expect_success 'oversize body is rejected with 413' '
  big=$(head -c 3000 /dev/zero | tr "\\0" a) &&
  test "$(post /v1/completions "{\"prompt\":\"$big\"}" e "$small_URL")" = 413 &&
  must_contain e "\"code\":413" &&
  printf "{\"prompt\":\"%s\"}" "$big" >big.json &&
  code=$(curl -sS -o e2 -w "%{http_code}" -H "Transfer-Encoding: chunked" \
    --data-binary @big.json "$small_URL/v1/completions") &&
  test "$code" = 413 &&
  test "$(post /v1/completions "{\"prompt\":\"ok\",\"max_tokens\":1}" ok "$small_URL")" = 200
'

test_expect_success '--request-latency sets the non-streamed reply time' '
  t=$(curl -sS -o out -w "%{time_total}" --data-binary \
    "{\"prompt\":\"hi\",\"max_tokens\":3}" "$small_URL/v1/completions") &&
  awk -v t="$t" "BEGIN { exit !(t >= 0.2) }" &&
  must_contain out "\"completion_tokens\":3\}"
'

start_mock slow --ttft-ms 300 --itl-ms 1 --prefill-ms-per-token 2

test_expect_success 'TTFT seen by curl is at least --ttft-ms' '
  t=$(curl -sS -o out -w "%{time_starttransfer}" --data-binary \
    "{\"prompt\":\"hi\",\"max_tokens\":3,\"stream\":true}" \
    "$slow_URL/v1/completions") &&
  awk -v t="$t" "BEGIN { exit !(t >= 0.3) }" &&
  test "$(grep -c "^data: {" out)" = 3 &&
  test "$(tail -c 14 out)" = "data: [DONE]"
'

test_expect_success 'prefill time grows with the prompt' '
  long=$(printf " word%.0s" $(seq 1 200)) &&
  t=$(curl -sS -o out -w "%{time_starttransfer}" --data-binary \
    "{\"prompt\":\"$long\",\"max_tokens\":1,\"stream\":true}" \
    "$slow_URL/v1/completions") &&
  awk -v t="$t" "BEGIN { exit !(t >= 0.3 + 0.002 * 400) }"
'

start_mock one --slots 1 --ttft-ms 100 --itl-ms 20 \
  --arrival-log "$TRASH_ROOT/one.arrivals"

test_expect_success 'slots: the second request waits for the first' '
  curl -sS -Z --parallel-immediate --no-progress-meter -o s1 -o s2 --data-binary \
    "{\"prompt\":\"q\",\"max_tokens\":5,\"ignore_eos\":true,\"stream\":true}" \
    "$one_URL/v1/completions" "$one_URL/v1/completions" &&
  wait_lines "$TRASH_ROOT/one.arrivals" 2 &&
  python3 - "$TRASH_ROOT/one.arrivals" <<-EOF
	import json, sys
	rows = [json.loads(l) for l in open(sys.argv[1])]
	rows = [r for r in rows if r["path"] == "/v1/completions"]
	assert len(rows) == 2, rows
	a, b = sorted(rows, key=lambda r: r["first_byte_ns"])
	assert b["arrival_ns"] < a["last_byte_ns"], "not concurrent"
	assert b["first_byte_ns"] > a["last_byte_ns"], (a, b)
	for f in ("s1", "s2"):
	    assert open(f).read().count("data: {") == 5
	EOF
'

# bg_stream URL N: a streamed completion of 20 tokens (10 s at --itl-ms
# 500) in the background, body to kN, curl's trace to tN; its pid is
# appended to the file pids.
bg_stream() {
  curl -sS -N -o "k$2" --trace-ascii "t$2" --data-binary \
    "{\"prompt\":\"gone $2\",\"max_tokens\":20,\"ignore_eos\":true,\"stream\":true}" \
    "$1/v1/completions" 2>/dev/null &
  echo $! >>pids
  kill_at_exit $!
}

# wait_for CMD...: retries CMD for up to 5 s.
wait_for() {
  n=0
  while ! "$@" && [ $n -lt 100 ]; do
    sleep 0.05
    n=$((n + 1))
  done
  "$@"
}

start_mock gone --slots 1 --ttft-ms 400 --itl-ms 500 \
  --arrival-log "$TRASH_ROOT/gone.arrivals"

test_expect_success 'slots: requests whose client went away are dropped' '
  : >pids &&
  bg_stream "$gone_URL" 1 &&
  wait_for test -s k1 &&
  for i in 2 3 4; do bg_stream "$gone_URL" $i; done &&
  for i in 2 3 4; do wait_for grep -qs "=> Send data" t$i || exit 1; done &&
  sleep 0.3 &&
  kill $(cat pids) &&
  { wait $(cat pids); true; } 2>/dev/null &&
  test "$(post /v1/completions "{\"prompt\":\"fresh\",\"max_tokens\":2,\"ignore_eos\":true,\"stream\":true}" fresh "$gone_URL")" = 200 &&
  test "$(grep -c "^data: {" fresh)" = 2 &&
  wait_lines "$TRASH_ROOT/gone.arrivals" 5 &&
  python3 - "$TRASH_ROOT/gone.arrivals" <<-EOF
	import json, sys
	rows = [json.loads(l) for l in open(sys.argv[1])]
	assert len(rows) == 5, rows
	rows.sort(key=lambda r: r["seq"])
	killed, fresh = rows[:4], rows[4]
	# The one that held the slot stopped early: aborted, not all its tokens.
	held = [r for r in killed if r["slot_ns"] is not None]
	assert len(held) == 1, killed
	a = held[0]
	assert a["end"] == "aborted" and 0 < a["completion_tokens"] < 20, a
	# The queued ones were dropped without a slot and without a byte.
	queued = [r for r in killed if r is not a]
	for r in queued:
	    assert r["cancelled"] is True and r["end"] == "aborted", r
	    assert r["first_byte_ns"] is None and r["completion_tokens"] == 0, r
	    assert r["arrival_ns"] < a["last_byte_ns"], (r, a)
	# The fresh request waited at most for the slot holder to be noticed,
	# not for the dead queue (each would hold the slot for its ttft, until
	# its first write failed: 1.2 s); 0.5 s is slack for a loaded machine.
	assert fresh["end"] == "ok" and fresh["cancelled"] is False, fresh
	assert fresh["completion_tokens"] == 2, fresh
	assert all(fresh["arrival_ns"] > r["arrival_ns"] for r in killed)
	assert fresh["arrival_ns"] <= fresh["slot_ns"] < fresh["first_byte_ns"]
	assert fresh["slot_ns"] <= max(fresh["arrival_ns"], a["last_byte_ns"]) + 500e6, (a, fresh)
	assert fresh["first_byte_ns"] - fresh["slot_ns"] >= 400e6, fresh
	EOF
'

test_expect_success 'arrival log: one parseable line per request' '
  python3 - "$TRASH_ROOT/m.arrivals" <<-EOF
	import json, sys
	rows = [json.loads(l) for l in open(sys.argv[1])]
	assert len(rows) > 60, len(rows)
	assert sorted(r["seq"] for r in rows) == list(range(len(rows)))
	for r in rows:
	    assert r["arrival_ns"] <= r["first_byte_ns"] <= r["last_byte_ns"], r
	    assert r["arrival_unix"] <= r["first_byte_unix"] <= r["last_byte_unix"], r
	    assert r["end"] == "ok" and r["cancelled"] is False, r
	    gen = r["path"].endswith("completions") and r["status"] == 200
	    assert (r["slot_ns"] is not None) == gen, r
	    assert (r["slot_unix"] is not None) == gen, r
	    if gen:
	        assert r["arrival_ns"] <= r["slot_ns"] <= r["first_byte_ns"], r
	paths = {r["path"] for r in rows}
	assert {"/health", "/v1/models", "/v1/completions", "/tokenize"} <= paths
	assert sum(r["stream"] and r["completion_tokens"] == 20 for r in rows) == 50
	EOF
'

# faults URL N: N requests in order, one status per line.
faults() {
  for i in $(seq 1 "$2"); do
    echo "/v1/completions f$i {\"prompt\":\"r$i\",\"max_tokens\":2}"
  done | batch "$1" | cut -d" " -f1
}

start_mock fa --fail-429 0.5 --seed 7 --ttft-ms 0 --itl-ms 0
start_mock fb --fail-429 0.5 --seed 7 --ttft-ms 0 --itl-ms 0

test_expect_success 'fault injection: the 429 pattern is fixed by the seed' '
  faults "$fa_URL" 40 >a &&
  faults "$fb_URL" 40 >b &&
  test_cmp a b &&
  n429=$(grep -c "^429$" a) &&
  n200=$(grep -c "^200$" a) &&
  test $((n429 + n200)) = 40 &&
  test "$n429" -ge 10 && test "$n429" -le 30 &&
  for i in $(seq 1 40); do
    if test "$(sed -n "${i}p" a)" = 429; then
      must_contain "f$i" "^\\{\"error\":\\{\"message\":\"[^\"]+\",\"type\":\"rate_limit_error\",\"param\":null,\"code\":429\\}\\}$" || exit 1
    else
      must_contain "f$i" "\"completion_tokens\":2\\}" || exit 1
    fi
  done
'

start_mock f5 --fail-500 0.5 --fail-503 0.5 --retry-after 3 --ttft-ms 0 --itl-ms 0

test_expect_success 'fault injection: 500 and 503, Retry-After on 503' '
  faults "$f5_URL" 20 >a &&
  grep -q "^500$" a && grep -q "^503$" a &&
  ! grep -q "^200$" a &&
  curl -sS -D hdrs -o /dev/null -o /dev/null -o /dev/null -o /dev/null \
    --data-binary "{\"prompt\":\"x\"}" "$f5_URL/v1/completions" \
    "$f5_URL/v1/completions" "$f5_URL/v1/completions" \
    "$f5_URL/v1/completions" &&
  must_contain hdrs "^HTTP/1.1 503" &&
  must_contain hdrs "^Retry-After: 3"
'

start_mock fs --ttft-ms 0 --itl-ms 1 --cut-rate 0.25 --malformed-rate 0.25 \
  --stream-error-rate 0.25 --stall-rate 0.25 --stall-ms 200 --seed 2

test_expect_success 'stream faults: cut, malformed, error event, stall' '
  for i in $(seq 1 24); do
    echo "/v1/completions s$i {\"prompt\":\"s$i\",\"max_tokens\":10,\"ignore_eos\":true,\"stream\":true}"
  done | batch "$fs_URL" >res &&
  test "$(wc -l <res)" = 24 &&
  python3 - <<-EOF
	import json
	seen = {"cut": 0, "malformed": 0, "error": 0, "stall": 0, "clean": 0}
	for i, line in enumerate(open("res"), 1):
	    code, rc, secs = line.split()
	    raw = open("s%d" % i, encoding="utf-8").read()
	    events = [e for e in raw.split("\n\n") if e]
	    bad = []
	    for e in events:
	        assert e.startswith("data: "), e
	        if e != "data: [DONE]":
	            try:
	                json.loads(e[6:])
	            except ValueError:
	                bad.append(e)
	    if rc != "0":
	        assert "[DONE]" not in raw and 0 < len(events) < 11, raw
	        seen["cut"] += 1
	    elif bad:
	        assert len(bad) == 1 and bad[0].endswith("\"text\":"), bad
	        assert events[-1] == "data: [DONE]" and len(events) == 12
	        seen["malformed"] += 1
	    elif "\"error\"" in raw:
	        err = json.loads(events[-2][6:])
	        assert err["error"]["code"] == 500 and events[-1] == "data: [DONE]"
	        assert len(events) < 11
	        seen["error"] += 1
	    elif float(secs) >= 0.2:
	        assert len(events) == 11
	        seen["stall"] += 1
	    else:
	        seen["clean"] += 1
	print(seen)
	assert all(seen[k] > 0 for k in ("cut", "malformed", "error", "stall")), seen
	EOF
'

test_expect_success 'non-streamed faults: cut, malformed body, stall' '
  for i in $(seq 1 24); do
    echo "/v1/completions n$i {\"prompt\":\"n$i\",\"max_tokens\":10,\"ignore_eos\":true}"
  done | batch "$fs_URL" "Connection: close" >res &&
  test "$(wc -l <res)" = 24 &&
  python3 - <<-EOF
	import json
	seen = {"cut": 0, "malformed": 0, "stall": 0, "clean": 0}
	for i, line in enumerate(open("res"), 1):
	    code, rc, secs = line.split()
	    if rc != "0":
	        seen["cut"] += 1
	        continue
	    assert code == "200", line
	    raw = open("n%d" % i).read()
	    try:
	        d = json.loads(raw)
	    except ValueError:
	        assert raw.startswith("{\"id\":\"cmpl-"), raw
	        seen["malformed"] += 1
	        continue
	    assert d["usage"]["completion_tokens"] == 10
	    seen["stall" if float(secs) >= 0.2 else "clean"] += 1
	print(seen)
	assert all(seen[k] > 0 for k in ("cut", "malformed", "stall")), seen
	EOF
'

start_mock key -i "$KEY" --answer-accuracy 0.5 --seed 3 --ttft-ms 0 --itl-ms 0

test_expect_success 'answer key: an evaluation scores exactly the known set' '
  mock-llm -i "$KEY" --answer-accuracy 0.5 --seed 3 --answer-expect -v \
    >expect 2>/dev/null &&
  for i in $(seq 1 20); do
    ctx="Question $i: which one?\\nAnswer:" &&
    echo "/tokenize t$i {\"prompt\":\"$ctx\"}" &&
    echo "/v1/completions r$i {\"prompt\":[\"$ctx c$i\",\"$ctx w${i}x\",\"$ctx w${i}yy\",\"$ctx w${i}zzz\"],\"max_tokens\":1,\"echo\":true,\"logprobs\":1,\"temperature\":0}" &&
    echo "/v1/completions g$i {\"prompt\":\"$ctx\",\"max_tokens\":5,\"temperature\":0}" ||
    exit 1
  done | batch "$key_URL" >codes &&
  test "$(grep -c "^200 0 " codes)" = 60 &&
  python3 - <<-EOF
	import json
	lines = [json.loads(l) for l in open("expect")]
	known = {l["context"]: l["known"] for l in lines[1:]}
	assert len(known) == 20 and sum(known.values()) == lines[0]["known"]
	assert 0 < lines[0]["known"] < 20
	for i in range(1, 21):
	    ctx = "Question %d: which one?\nAnswer:" % i
	    ctxlen = json.load(open("t%d" % i))["count"]
	    choices = json.load(open("r%d" % i))["choices"]
	    conts = [" c%d" % i, " w%dx" % i, " w%dyy" % i, " w%dzzz" % i]
	    ll, norm, greedy = [], [], []
	    for c, cont in zip(sorted(choices, key=lambda c: c["index"]), conts):
	        lp = c["logprobs"]
	        part = lp["token_logprobs"][ctxlen:-1]
	        tops = lp["top_logprobs"][ctxlen:-1]
	        ll.append(sum(part))
	        norm.append(sum(part) / len(cont.strip()))
	        greedy.append(all(v == max(t.values()) for v, t in zip(part, tops)))
	    right = ll.index(max(ll)) == 0
	    right_norm = norm.index(max(norm)) == 0
	    assert right == known[ctx] == right_norm == greedy[0], (i, ll, norm, greedy)
	    text = json.load(open("g%d" % i))["choices"][0]["text"]
	    assert (text == " c%d" % i) == known[ctx], (i, text)
	EOF
'

test_expect_success 'SIGINT and SIGTERM stop the server cleanly (exit 0)' '
  for sig in INT TERM; do
    rm -f p
    mock-llm --port 0 --port-file p -q --ttft-ms 5000 2>err &
    pid=$!
    n=0 &&
    while ! test -s p && test $n -lt 100; do sleep 0.05; n=$((n + 1)); done &&
    (curl -sS -o /dev/null --max-time 5 --data-binary "{\"prompt\":\"x\",\"stream\":true}" \
      "http://127.0.0.1:$(cat p)/v1/completions" 2>/dev/null &) &&
    sleep 0.3 &&
    kill -$sig $pid &&
    wait $pid &&
    must_be_empty err || exit 1
  done
'

test_expect_success 'a port in use exits 4' '
  port=${fa_URL##*:} &&
  expect_exit 4 mock-llm --port "$port" -q 2>err &&
  must_contain err "^mock-llm: error: cannot listen on"
'

# HTTPS with a throwaway CA made by the openssl command (nothing kept).
CA=$TRASH_ROOT/ca
make_test_ca "$CA" || { echo "not ok - cannot make a test CA"; exit 1; }
start_mock_tls tls "$CA/server.pem" "$CA/server.key" --ttft-ms 0 --itl-ms 0

test_expect_success 'HTTPS: start_mock_tls gives an https URL' '
  case "$tls_URL" in https://127.0.0.1:[0-9]*) ;; *) false ;; esac
'

test_expect_success 'HTTPS: curl verifies the mock with --cacert' '
  curl -sS --cacert "$CA/ca.pem" -o health "$tls_URL/health" &&
  must_contain health "\"status\": *\"ok\"" &&
  curl -sS --cacert "$CA/ca.pem" -o s.txt -H "Content-Type: application/json" \
    --data-binary "{\"model\":\"llama-3.1-8b-instruct\",\"prompt\":\"hi\",\"max_tokens\":4,\"ignore_eos\":true,\"stream\":true}" \
    "$tls_URL/v1/completions" &&
  test "$(grep -c "^data: {" s.txt)" -eq 4 &&
  must_contain s.txt "^data: \[DONE\]"
'

test_expect_success 'HTTPS: an unknown CA is refused, plain HTTP gets no answer' '
  expect_exit 60 curl -sS -o out "$tls_URL/health" 2>err &&
  must_contain err "certificate" &&
  ! curl -sS -o out2 "http://${tls_URL#https://}/health" 2>err2 &&
  must_contain err2 "^curl: \((52|56)\)"
'

test_expect_success 'HTTPS: --tls-cert needs --tls-key, and the reverse' '
  expect_exit 2 mock-llm --port 0 --tls-cert "$CA/server.pem" 2>err1 &&
  must_contain err1 "^mock-llm: error: --tls-cert and --tls-key go together" &&
  expect_exit 2 mock-llm --port 0 --tls-key "$CA/server.key" 2>err2 &&
  must_contain err2 "go together"
'

test_expect_success 'HTTPS: a missing key file exits 4 and names the file' '
  expect_exit 4 mock-llm --port 0 --tls-cert "$CA/server.pem" \
    --tls-key nope.key >out 2>err &&
  must_be_empty out &&
  must_contain err "^mock-llm: error: cannot open .nope\.key."
'

test_expect_success 'HTTPS: a key that does not match exits 4, key never shown' '
  expect_exit 4 mock-llm --port 0 -v --tls-cert "$CA/server.pem" \
    --tls-key "$CA/ca.key" >out 2>err &&
  must_be_empty out &&
  must_contain err "^mock-llm: error: cannot start the HTTPS server .*do not match" &&
  sed -n 2p "$CA/ca.key" | cut -c1-24 >needle &&
  test -s needle && ! grep -F -q -f needle err
'

test_expect_success 'HTTPS: the key never appears in the -v log' '
  mock-llm --port 0 --port-file port -v --ttft-ms 0 --itl-ms 0 \
    --tls-cert "$CA/server.pem" --tls-key "$CA/server.key" 2>log &
  pid=$!
  kill_at_exit $pid &&
  n=0 && while [ ! -s port ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n+1)); done &&
  curl -sS --cacert "$CA/ca.pem" -o h "https://127.0.0.1:$(cat port)/health" &&
  kill -TERM $pid && wait $pid &&
  must_contain log "serving .* on https://127\.0\.0\.1:" &&
  must_contain log "GET /health 200" &&
  sed -n "2,\$p" "$CA/server.key" | grep -v "^-----" | cut -c1-16 >needles &&
  test -s needles && ! grep -F -q -f needles log
'

test_done
