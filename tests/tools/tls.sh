#!/bin/bash
# TLS is verified by default, end to end: eval-run against mock-llm serving
# HTTPS on loopback with a throwaway CA made by the openssl command at run
# time (nothing kept). perf-run's TLS checks are in perf-run.sh, mock-llm's
# in mock-llm.sh.
. "$(dirname "$0")/../lib.sh"

F=$FIXTURES/eval-run
CA=$TRASH_ROOT/ca
make_test_ca "$CA" || { echo "not ok - cannot make a test CA"; exit 1; }
start_mock_tls s "$CA/server.pem" "$CA/server.key" --model m \
  --ttft-ms 0 --itl-ms 0 ||
  { echo "not ok - mock-llm (TLS) did not start"; exit 1; }
E="--tasks tutorial_mc --include-path $F/tasks --limit 2 --base-url $s_URL --model m"

test_expect_success 'eval-run: an unknown CA fails with exit 5, no output' "
  expect_exit 5 eval-run $E </dev/null >out 2>err &&
  must_be_empty out &&
  test \$(grep -c '^eval-run: error: ' err) -eq 1 &&
  must_contain err \"^eval-run: error: .* at '$s_URL/[^']*': .*certificate\"
"

test_expect_success 'eval-run: --cacert CA verifies the server' "
  eval-run $E --cacert '$CA/ca.pem' -q </dev/null >rec.json 2>err &&
  must_be_empty err &&
  test \"\$(json_get rec.json 'd[\"schema\"]')\" = modelgate.record/v1 &&
  test \"\$(json_get rec.json 'd[\"eval\"][\"complete\"]')\" = True
"

test_expect_success 'eval-run: --cacert with another CA still fails with exit 5' "
  make_test_ca other &&
  expect_exit 5 eval-run $E --cacert other/ca.pem </dev/null >out 2>err &&
  must_be_empty out && must_contain err 'certificate'
"

test_expect_success 'eval-run: --insecure skips verification' "
  eval-run $E --insecure -q </dev/null >rec.json 2>err &&
  must_be_empty err &&
  test \"\$(json_get rec.json 'd[\"eval\"][\"complete\"]')\" = True
"

test_expect_success 'eval-run: the --api-key-file token is never printed, even at -vvv' "
  printf 'sk-test-TLS-4f1c9a7e\n' >token &&
  eval-run $E --cacert '$CA/ca.pem' --api-key-file token -v -v -v \
    </dev/null >rec.json 2>err &&
  must_contain err 'SSL certificate verify ok' &&
  must_contain err '^> Authorization: <redacted>' &&
  must_not_contain err 'sk-test-TLS' &&
  must_not_contain rec.json 'sk-test-TLS' &&
  test \"\$(json_get rec.json 'd[\"eval\"][\"complete\"]')\" = True
"

test_done
