#!/bin/bash
# registry-push: the local directory registry, and the Kubeflow Model
# Registry REST API against tests/fixtures/registry/mock-registry, a fake
# that checks every request and response body against the OpenAPI spec
# (any "VIOLATION" in its log fails the test).
. "$(dirname "$0")/../lib.sh"

REC=$FIXTURES/results-merge/baseline.json
CUSTOM=$FIXTURES/results-merge/custom.json
SPEC=$FIXTURES/registry/model-registry-v1alpha3.yaml

# start_registry NAME [ARGS...]: starts the fake registry on a free port;
# sets NAME_URL and NAME_LOG.
start_registry() {
  name=$1
  shift
  pf=$TRASH_ROOT/$name.port
  rm -f "$pf" "$TRASH_ROOT/$name.log"
  "$MG_BUILD/tests/mock-registry" --spec "$SPEC" --port 0 --port-file "$pf" \
    --log "$TRASH_ROOT/$name.log" "$@" 2>"$TRASH_ROOT/$name.err" &
  pid=$!
  i=0
  while [ ! -s "$pf" ] && [ $i -lt 200 ]; do
    sleep 0.05
    i=$((i + 1))
  done
  if [ ! -s "$pf" ]; then
    echo "mock-registry did not start:" >&2
    cat "$TRASH_ROOT/$name.err" >&2
    return 1
  fi
  eval "${name}_URL=http://127.0.0.1:$(cat "$pf")"
  eval "${name}_LOG=$TRASH_ROOT/$name.log"
  at_exit "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
}

writes() {
  grep -c -E '^(POST|PATCH|PUT|DELETE) ' "$1"
}

no_violations() {
  must_not_contain "$1" 'VIOLATION'
}

common_negative_tests registry-push

test_expect_success 'malformed JSON on stdin exits 3, stdout empty' '
  echo "{not json" >in &&
  expect_exit 3 registry-push --registry-dir reg <in >out 2>err &&
  must_be_empty out &&
  must_contain err "^registry-push: error: malformed JSON in .<stdin>. at byte"
'

test_expect_success 'missing input file exits 4' '
  expect_exit 4 registry-push --registry-dir reg -i nope.json >out 2>err &&
  must_be_empty out &&
  must_contain err "cannot open .nope.json."
'

test_expect_success 'no registry given exits 2' '
  expect_exit 2 env -u MG_REGISTRY registry-push -i "$REC" >out 2>err &&
  must_be_empty out &&
  must_contain err "no registry"
'

test_expect_success 'a record without a model name exits 3' '
  echo "{\"schema\":\"modelgate.record/v1\"}" >in &&
  expect_exit 3 registry-push --registry-dir reg -i in >out 2>err &&
  must_be_empty out &&
  must_contain err "no model name"
'

test_expect_success 'writing to /dev/full exits 4' '
  expect_exit 4 registry-push --registry-dir reg -i "$REC" >/dev/full 2>err &&
  must_contain err "cannot write"
'

test_expect_success 'no option takes a secret on the command line' '
  registry-push --help >help &&
  must_contain help "--token-file FILE" &&
  must_not_contain help "--(token|api-key|password|secret)[ =]"
'

# ---- directory registry ----

test_expect_success 'dir: push creates the entities and typed properties' '
  registry-push --registry-dir reg -i "$REC" --label baseline \
    --link report=https://reports.example/run1.html >out 2>err &&
  test "$(json_get out "d[\"registry\"][\"kind\"]")" = dir &&
  test "$(json_get out "d[\"registry\"][\"registered_model_name\"]")" = \
    acme/tiny-llm &&
  test "$(json_get out "d[\"registry\"][\"model_version_name\"]")" = \
    5f0c2a1b9e8d7c6f5a4b3c2d1e0f9a8b7c6d5e4f &&
  json_get out "d[\"registry\"][\"created\"]" >created &&
  must_contain created "registered_model.*model_version.*model_artifact.*doc_artifact" &&
  test -f reg/registry.json &&
  json_get reg/registry.json \
    "d[\"registered_models\"][0][\"versions\"][0][\"customProperties\"]" >props &&
  must_contain props "\"perf.baseline.ttft_p50_ms\": \{\"metadataType\": \"MetadataDoubleValue\", \"double_value\": [0-9.]+\}" &&
  must_contain props "\"perf.baseline.requests\": \{\"metadataType\": \"MetadataIntValue\", \"int_value\": \"[0-9]+\"\}" &&
  must_contain props "\"eval.baseline.gsm8k.exact_match_strict-match_stderr\": \{\"metadataType\": \"MetadataDoubleValue\", \"double_value\": 0.0136\}" &&
  must_contain props "\"baseline results\": \{\"metadataType\": \"MetadataStringValue\", \"string_value\": \"\"\}" &&
  must_contain props "\"link.baseline.report\": \{\"metadataType\": \"MetadataStringValue\", \"string_value\": \"https://reports.example/run1.html\"\}" &&
  must_contain props "\"verify.verdict\": \{\"metadataType\": \"MetadataStringValue\", \"string_value\": \"pass\"\}" &&
  json_get reg/registry.json \
    "d[\"registered_models\"][0][\"versions\"][0][\"artifacts\"][0]" >art &&
  must_contain art "\"uri\": \"oci://quay.example.com/models/tiny-llm@sha256:" &&
  must_contain art "\"modelFormatName\": \"safetensors\"" &&
  must_contain art "\"state\": \"LIVE\"" &&
  must_contain out "\"provenance\":\[.*\"program\":\"registry-push\""
'

test_expect_success 'dir: pushing the same record again changes nothing' '
  registry-push --registry-dir reg -i "$REC" --label baseline >/dev/null &&
  sha256sum reg/registry.json >before &&
  registry-push --registry-dir reg -i "$REC" --label baseline >out 2>err &&
  sha256sum reg/registry.json >after &&
  test_cmp before after &&
  test "$(json_get out "d[\"registry\"][\"writes\"]")" = 0 &&
  test "$(json_get out "d[\"registry\"][\"added\"]")" = "[]" &&
  test "$(json_get out "d[\"registry\"][\"changed\"]")" = "[]"
'

test_expect_success 'dir: custom results sit beside the baseline' '
  registry-push --registry-dir reg -i "$REC" --label baseline >/dev/null &&
  registry-push --registry-dir reg -i "$CUSTOM" --label custom >out 2>err &&
  json_get out "d[\"registry\"][\"added\"]" >added &&
  must_contain added "perf.custom.ttft_p50_ms" &&
  must_not_contain added "perf.baseline" &&
  registry-push --registry-dir reg --list --pretty >list &&
  json_get list "d[\"registry_list\"][\"models\"][0][\"versions\"][0][\"properties\"]" >props &&
  must_contain props "perf.baseline.ttft_p50_ms" &&
  must_contain props "perf.custom.ttft_p50_ms" &&
  must_contain props "eval.custom.acme_support_qa.acc"
'

test_expect_success 'dir: --list feeds a comparison of what the registry holds' '
  registry-push --registry-dir reg -i "$REC" --label baseline >/dev/null &&
  registry-push --registry-dir reg -i "$CUSTOM" --label custom >/dev/null &&
  registry-push --registry-dir reg --list >list &&
  results-merge --compare list --markdown cmp.md >cmp 2>err &&
  json_get cmp "[e[\"label\"] for e in d[\"comparison\"][\"entries\"]]" >labels &&
  must_contain labels "baseline.*custom" &&
  must_contain cmp.md "Requests/s"
'

test_expect_success 'dir: --list of a missing registry exits 4' '
  expect_exit 4 registry-push --registry-dir nowhere --list >out 2>err &&
  must_be_empty out
'

test_expect_success 'dir: --list of an unknown model exits 5' '
  registry-push --registry-dir reg -i "$REC" >/dev/null &&
  expect_exit 5 registry-push --registry-dir reg --list --model nosuch \
    >out 2>err &&
  must_be_empty out &&
  must_contain err "no registered model .nosuch."
'

# ---- Kubeflow Model Registry REST API (fake) ----

printf "s3cret-token\n" >"$TRASH_ROOT/token"
TOKEN=$TRASH_ROOT/token
start_registry REG --token-file "$TOKEN" || exit 1
export REG_URL REG_LOG TOKEN

test_expect_success 'rest: push creates model, version, artifact, docs' '
  registry-push --registry "$REG_URL" --token-file "$TOKEN" -i "$REC" \
    --label baseline --link report=https://reports.example/run1.html \
    >out 2>err &&
  test "$(json_get out "d[\"registry\"][\"kind\"]")" = kubeflow &&
  test "$(json_get out "d[\"registry\"][\"url\"]")" = \
    "$REG_URL/api/model_registry/v1alpha3" &&
  json_get out "d[\"registry\"][\"created\"]" >created &&
  must_contain created "registered_model.*model_version.*model_artifact.*doc_artifact" &&
  must_contain "$REG_LOG" "^POST /api/model_registry/v1alpha3/registered_models 201" &&
  must_contain "$REG_LOG" "^POST /api/model_registry/v1alpha3/model_versions 201" &&
  must_contain "$REG_LOG" "^POST /api/model_registry/v1alpha3/model_versions/[0-9]+/artifacts 201" &&
  no_violations "$REG_LOG"
'

test_expect_success 'rest: pushing the same record again writes nothing' '
  before=$(writes "$REG_LOG") &&
  registry-push --registry "$REG_URL" --token-file "$TOKEN" -i "$REC" \
    --label baseline --link report=https://reports.example/run1.html \
    >out 2>err &&
  after=$(writes "$REG_LOG") &&
  test "$before" = "$after" &&
  test "$(json_get out "d[\"registry\"][\"writes\"]")" = 0 &&
  no_violations "$REG_LOG"
'

test_expect_success 'rest: new results are added with one PATCH' '
  before=$(writes "$REG_LOG") &&
  registry-push --registry "$REG_URL" --token-file "$TOKEN" -i "$CUSTOM" \
    --label custom >out 2>err &&
  after=$(writes "$REG_LOG") &&
  test $((after - before)) = 1 &&
  tail -n 3 "$REG_LOG" | grep -q "^PATCH /api/model_registry/v1alpha3/model_versions/[0-9]* 200" &&
  json_get out "d[\"registry\"][\"added\"]" >added &&
  must_contain added "perf.custom.ttft_p50_ms" &&
  vid=$(json_get out "d[\"registry\"][\"model_version_id\"]") &&
  curl -sf -H "Authorization: Bearer s3cret-token" \
    "$REG_URL/api/model_registry/v1alpha3/model_versions/$vid" >mv &&
  must_contain mv "perf.baseline.ttft_p50_ms" &&
  must_contain mv "perf.custom.ttft_p50_ms" &&
  no_violations "$REG_LOG"
'

test_expect_success 'rest: properties set by others are kept' '
  registry-push --registry "$REG_URL" --token-file "$TOKEN" -i "$REC" \
    --label baseline >out 2>err &&
  vid=$(json_get out "d[\"registry\"][\"model_version_id\"]") &&
  A="Authorization: Bearer s3cret-token" &&
  V=$REG_URL/api/model_registry/v1alpha3/model_versions/$vid &&
  curl -sf -H "$A" "$V" >mv &&
  python3 -c "import json,sys
d=json.load(open(\"mv\"))
cp=d[\"customProperties\"]
cp[\"reviewed-by\"]={\"metadataType\":\"MetadataStringValue\",\"string_value\":\"alice\"}
json.dump({\"customProperties\":cp},open(\"patch\",\"w\"))" &&
  curl -sf -X PATCH -H "$A" -H "Content-Type: application/json" \
    --data @patch "$V" >/dev/null &&
  registry-push --registry "$REG_URL" --token-file "$TOKEN" -i "$REC" \
    --label baseline --link extra=https://reports.example/extra.csv \
    >out 2>err &&
  json_get out "d[\"registry\"][\"added\"]" >added &&
  must_contain added "link.baseline.extra" &&
  curl -sf -H "$A" "$V" >mv2 &&
  must_contain mv2 "\"reviewed-by\":\{\"metadataType\":\"MetadataStringValue\",\"string_value\":\"alice\"\}" &&
  must_contain mv2 "perf.custom.ttft_p50_ms" &&
  no_violations "$REG_LOG"
'

test_expect_success 'rest: without a token: 401, exit 5, stdout empty' '
  expect_exit 5 env -u MG_REGISTRY_TOKEN -u KF_PIPELINES_SA_TOKEN_PATH \
    registry-push --registry "$REG_URL" -i "$REC" >out 2>err &&
  must_be_empty out &&
  must_contain err "^registry-push: error: registry refused .GET /registered_models\?pageSize=1.: 401 Unauthorized"
'

test_expect_success 'rest: the token comes from the environment too' '
  MG_REGISTRY_TOKEN=s3cret-token registry-push --registry "$REG_URL" \
    -i "$REC" --label baseline >out 2>err &&
  test "$(json_get out "d[\"registry\"][\"kind\"]")" = kubeflow
'

test_expect_success 'rest: the token never shows, even with -v' '
  registry-push -v --registry "$REG_URL" --token-file "$TOKEN" -i "$REC" \
    --label baseline >out 2>err &&
  must_not_contain err "s3cret-token" &&
  must_not_contain out "s3cret-token"
'

test_expect_success 'rest: --list walks every page' '
  for m in m1 m2 m3 m4 m5; do
    registry-push --registry "$REG_URL" --token-file "$TOKEN" -i "$REC" \
      --model "$m" --model-version v1 >/dev/null || return 1
  done &&
  registry-push --registry "$REG_URL" --token-file "$TOKEN" --list \
    --page-size 2 >list 2>err &&
  json_get list "len(d[\"registry_list\"][\"models\"])" >n &&
  test "$(cat n)" = 6 &&
  json_get list "sorted(m[\"name\"] for m in d[\"registry_list\"][\"models\"])" >names &&
  must_contain names "acme/tiny-llm.*m1.*m2.*m3.*m4.*m5" &&
  must_contain "$REG_LOG" "^GET /api/model_registry/v1alpha3/registered_models\?pageSize=2&nextPageToken=" &&
  no_violations "$REG_LOG"
'

test_expect_success 'rest: --list --model --model-version' '
  registry-push --registry "$REG_URL" --token-file "$TOKEN" --list \
    --model m3 --model-version v1 >list 2>err &&
  test "$(json_get list "d[\"registry_list\"][\"models\"][0][\"name\"]")" = m3 &&
  test "$(json_get list "len(d[\"registry_list\"][\"models\"][0][\"versions\"])")" = 1 &&
  expect_exit 5 registry-push --registry "$REG_URL" --token-file "$TOKEN" \
    --list --model m3 --model-version v9 >out 2>err &&
  must_be_empty out &&
  must_contain err "no version .v9. of model .m3."
'

start_registry FLAKY --fail-writes 2 || exit 1
export FLAKY_URL FLAKY_LOG

test_expect_success 'rest: 5xx answers are retried' '
  registry-push --registry "$FLAKY_URL" -i "$REC" --retry-delay 1 \
    >out 2>err &&
  test "$(grep -c " 503 injected" "$FLAKY_LOG")" = 2 &&
  test "$(json_get out "d[\"registry\"][\"registered_model_name\"]")" = \
    acme/tiny-llm &&
  no_violations "$FLAKY_LOG"
'

start_registry DOWN --fail-first 100 || exit 1
export DOWN_URL

test_expect_success 'rest: persistent 503 exits 5 with the status' '
  expect_exit 5 registry-push --registry "$DOWN_URL" -i "$REC" \
    --retries 1 --retry-delay 1 >out 2>err &&
  must_be_empty out &&
  must_contain err "registry failed on .GET /registered_models\?pageSize=1.: 503 after 2 attempts"
'

test_expect_success 'rest: an unreachable registry exits 5' '
  expect_exit 5 registry-push --registry http://127.0.0.1:9 -i "$REC" \
    --retries 0 >out 2>err &&
  must_be_empty out
'

test_done
