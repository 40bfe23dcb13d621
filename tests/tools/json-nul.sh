#!/bin/bash
# Issue 14 J1 end to end: JSON strings that hold "\u0000", raw NUL and raw
# control bytes travel whole through eval-run (from a server's responses to
# the samples file and the record) and through mock-llm (from a request to
# its echo), and never carry bytes from the program's own memory.
. "$(dirname "$0")/../lib.sh"

# hostile_server PORTFILE: answers every POST with completion text that
# holds an escaped NUL, a raw NUL and raw control bytes (the J1 shapes).
HOSTILE=$TRASH_ROOT/hostile.py
cat >"$HOSTILE" <<'EOF'
import http.server, sys
BODY = (b'{"j1":["\\u0000n\xfb",""],"id":"x","choices":[{"index":0,'
        b'"text":"A\\u0000B\x00C\x01\x1f\xfbD","finish_reason":"stop"}],'
        b'"usage":{"prompt_tokens":1,"completion_tokens":1}}')
# "junk": a raw control byte where JSON allows only whitespace. cJSON skipped
# it, the old length scanner did not, and gave "A" the 3000-byte length of
# the key before it: eval-run wrote its own heap into the samples.
JUNK = (b'{"' + b"k" * 3000 + b'"\x01:0,"choices":[{"index":0,"text":"A",'
        b'"finish_reason":"stop"}],"z":"\\u0000"}')
if len(sys.argv) > 2:
    BODY = JUNK
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        body = BODY
        if self.path.endswith("/tokenize"):
            body = b'{"tokens":[1,2],"count":2}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_port))
s.serve_forever()
EOF

test_expect_success 'a key holding a NUL is refused with one line, no heap' '
  printf "{\"\\\\u0000n\\373\"\\000:[\"\"]}" >j1.json &&
  test "$(wc -c <j1.json)" = 18 &&
  expect_exit 3 results-merge j1.json >out 2>err &&
  must_be_empty out &&
  test "$(wc -l <err)" = 1 &&
  must_contain err "j1.json.* at byte 1: an object key holds a NUL"
'

test_expect_success 'eval-run: samples hold exactly the bytes the server sent' '
  python3 "$HOSTILE" port & pid=$! && kill_at_exit $pid && i=0 &&
  while [ ! -s port ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done &&
  printf "{\"q\": \"one\"}\n{\"q\": \"two\"}\n" >d.jsonl &&
  printf "task: hostile\ndataset_path: json\ndataset_kwargs:\n  data_files: d.jsonl\ntest_split: train\noutput_type: generate_until\ndoc_to_text: \"{{q}}\"\ndoc_to_target: \"x\"\ngeneration_kwargs:\n  max_gen_toks: 4\nmetric_list:\n  - metric: exact_match\n" >hostile.yaml &&
  eval-run --tasks hostile.yaml --base-url "http://127.0.0.1:$(cat port)" \
    --model m -q --log-samples --samples-dir s </dev/null >rec.json &&
  kill $pid &&
  python3 - s/samples_hostile.jsonl rec.json <<-\EOF
	import json, sys
	want = "A\x00B\x00C\x01\x1f\ufffdD"
	lines = open(sys.argv[1], "rb").read().splitlines()
	assert len(lines) == 2, lines
	for l in lines:
	    s = json.loads(l.decode("utf-8", "replace"))
	    got = s["resps"][0][0]
	    assert got == want, (got, want)
	json.load(open(sys.argv[2]))
	EOF
'

test_expect_success 'eval-run: junk between tokens is an error, not heap' '
  python3 "$HOSTILE" port junk & pid=$! && kill_at_exit $pid && i=0 &&
  while [ ! -s port ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done &&
  printf "{\"q\": \"one\"}\n" >d.jsonl &&
  printf "task: junk\ndataset_path: json\ndataset_kwargs:\n  data_files: d.jsonl\ntest_split: train\noutput_type: generate_until\ndoc_to_text: \"{{q}}\"\ndoc_to_target: \"x\"\nmetric_list:\n  - metric: exact_match\n" >junk.yaml &&
  expect_exit 5 eval-run --tasks junk.yaml \
    --base-url "http://127.0.0.1:$(cat port)" --model m -q --log-samples \
    --samples-dir s </dev/null >rec.json 2>err;
  rc=$?; kill $pid; test $rc = 0 &&
  test "$(wc -l <err)" = 1 &&
  must_contain err "malformed JSON in .* at byte 3003: expected .:." &&
  ! grep -rq "A" s 2>/dev/null
'

test_expect_success 'mock-llm: an echoed prompt with NULs is the prompt, no more' '
  start_mock M --model m &&
  printf "{\"model\":\"m\",\"prompt\":\"a\\\\u0000b\\\\u0000\",\"echo\":true,\"max_tokens\":1,\"logprobs\":1}" >req.json &&
  curl -s -H "Content-Type: application/json" --data-binary @req.json \
    "$M_URL/v1/completions" >resp.json &&
  python3 - resp.json <<-\EOF
	import json, sys
	r = json.load(open(sys.argv[1]))
	t = r["choices"][0]["text"]
	assert t.startswith("a\x00b\x00"), repr(t)
	toks = r["choices"][0]["logprobs"]["tokens"]
	assert "".join(toks[:-1]) == "a\x00b\x00", repr(toks)
	EOF
'

test_done
