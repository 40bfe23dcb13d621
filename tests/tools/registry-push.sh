#!/bin/bash
# registry-push: the local directory registry, and the Kubeflow Model
# Registry REST API against tests/fixtures/registry/mock-registry, a fake
# that checks every request and response body against the OpenAPI spec
# (any "VIOLATION" in its log fails the test).
. "$(dirname "$0")/../lib.sh"

REC=$FIXTURES/results-merge/baseline.json
CUSTOM=$FIXTURES/results-merge/custom.json
# The fake loads the upstream OpenAPI spec from the shared directory at
# test time (never a copy in this tree).
SPEC=$SHARED/specs/kubeflow-model-registry-v1alpha3.yaml
if [ ! -r "$SPEC" ]; then
  echo "Bail out! cannot read the registry spec '$SPEC' (set MG_SHARED)"
  exit 1
fi

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

test_expect_success 'no registry given: the embedded directory registry' '
  env -u MG_REGISTRY registry-push -i "$REC" >out 2>err &&
  must_contain err "using the directory registry .modelgate-registry." &&
  test -s modelgate-registry/registry.json &&
  test "$(json_get out "d[\"registry\"][\"kind\"]")" = dir
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

# ---- --get: the start of an AI engineer's benchmark ----

test_expect_success 'dir: --get writes a starting record for a registered version' '
  registry-push --registry-dir reg -i "$REC" --label baseline >pushed &&
  python3 -c "import json
d=json.load(open(\"reg/registry.json\"))
v=d[\"registered_models\"][0][\"versions\"][0]
v[\"customProperties\"][\"reviewed-by\"]={\"metadataType\":\"MetadataStringValue\",\"string_value\":\"alice\"}
json.dump(d,open(\"reg/registry.json\",\"w\"))" &&
  registry-push --registry-dir reg --get --model acme/tiny-llm \
    --model-version 5f0c2a1b9e8d7c6f5a4b3c2d1e0f9a8b7c6d5e4f >seed 2>err &&
  test "$(json_get seed "d[\"schema\"]")" = modelgate.record/v1 &&
  test "$(json_get seed "d[\"model\"][\"name\"]")" = acme/tiny-llm &&
  test "$(json_get seed "d[\"model\"][\"version\"]")" = \
    5f0c2a1b9e8d7c6f5a4b3c2d1e0f9a8b7c6d5e4f &&
  test "$(json_get seed "d[\"model\"][\"destination\"][\"uri\"]")" = \
    "$(json_get "$REC" "d[\"model\"][\"destination\"][\"uri\"]")" &&
  test "$(json_get seed "d[\"model\"][\"destination\"][\"kind\"]")" = oci &&
  test "$(json_get seed "d[\"model\"][\"format\"]")" = safetensors &&
  test "$(json_get seed "d[\"model\"][\"source\"]")" = \
    "$(json_get "$REC" "{k: d[\"model\"][\"source\"][k] for k in (\"uri\", \"kind\", \"revision\")}")" &&
  for k in registered_model_id model_version_id model_artifact_id; do
    test "$(json_get seed "d[\"registry\"][\"$k\"]")" = \
      "$(json_get pushed "d[\"registry\"][\"$k\"]")" || return 1
  done &&
  test "$(json_get seed "d[\"registry\"][\"kind\"]")" = dir &&
  test "$(json_get seed "d[\"registry\"][\"model_artifact\"][\"uri\"]")" = \
    "$(json_get seed "d[\"model\"][\"destination\"][\"uri\"]")" &&
  json_get seed "d[\"registry\"][\"version_properties\"]" >props &&
  must_contain props "\"perf.baseline.ttft_p50_ms\": 39.74713" &&
  must_contain props "\"eval.baseline.gsm8k.n\": 1319" &&
  must_contain props "\"verify.verdict\": \"pass\"" &&
  must_not_contain props "reviewed-by" &&
  must_contain seed "\"provenance\":\[\{\"program\":\"registry-push\""
'

test_expect_success 'dir: pushing a starting record back changes nothing' '
  registry-push --registry-dir reg -i "$REC" --label baseline >/dev/null &&
  registry-push --registry-dir reg --get --model acme/tiny-llm >seed &&
  sha256sum reg/registry.json >before &&
  registry-push --registry-dir reg -i seed --uri "" --model-version "" \
    >out 2>err &&
  sha256sum reg/registry.json >after &&
  test_cmp before after &&
  test "$(json_get out "d[\"registry\"][\"writes\"]")" = 0
'

test_expect_success 'dir: --get takes the latest version that is not archived' '
  registry-push --registry-dir reg -i "$REC" --model-version v1 >/dev/null &&
  registry-push --registry-dir reg -i "$REC" --model-version v2 >/dev/null &&
  registry-push --registry-dir reg --get --model acme/tiny-llm \
    --model-version "" >seed &&
  test "$(json_get seed "d[\"model\"][\"version\"]")" = v2 &&
  python3 -c "import json
d=json.load(open(\"reg/registry.json\"))
for v in d[\"registered_models\"][0][\"versions\"]:
    if v[\"name\"] == \"v2\": v[\"state\"] = \"ARCHIVED\"
json.dump(d,open(\"reg/registry.json\",\"w\"))" &&
  registry-push --registry-dir reg --get --model acme/tiny-llm >seed &&
  test "$(json_get seed "d[\"model\"][\"version\"]")" = v1 &&
  registry-push --registry-dir reg --get --model acme/tiny-llm \
    --model-version v2 >seed 2>err &&
  test "$(json_get seed "d[\"registry\"][\"model_version_state\"]")" = ARCHIVED &&
  must_contain err "warning: version .v2. of model .acme/tiny-llm. is archived"
'

test_expect_success 'dir: --get of what does not exist exits 5, usage errors 2' '
  registry-push --registry-dir reg -i "$REC" >/dev/null &&
  expect_exit 5 registry-push --registry-dir reg --get --model nosuch \
    >out 2>err &&
  must_be_empty out &&
  must_contain err "no registered model .nosuch." &&
  expect_exit 5 registry-push --registry-dir reg --get --model acme/tiny-llm \
    --model-version v9 >out 2>err &&
  must_be_empty out &&
  must_contain err "no version .v9. of model .acme/tiny-llm." &&
  expect_exit 2 registry-push --registry-dir reg --get >out 2>err &&
  must_contain err "--get needs --model" &&
  expect_exit 2 registry-push --registry-dir reg --get --model m \
    --label custom >out 2>err &&
  must_contain err "--get takes no push options" &&
  expect_exit 2 registry-push --registry-dir reg --get --list --model m \
    >out 2>err &&
  must_be_empty out
'

test_expect_success 'dir: --get feeds a comparison with the registered baseline' '
  registry-push --registry-dir reg -i "$REC" --label baseline >/dev/null &&
  registry-push --registry-dir reg --get --model acme/tiny-llm >seed &&
  results-merge --compare seed "$CUSTOM" --label ignored --label custom \
    >cmp 2>err &&
  json_get cmp "[e[\"label\"] for e in d[\"comparison\"][\"entries\"]]" >labels &&
  must_contain labels "baseline.*custom" &&
  json_get cmp "[r[\"values\"] for r in d[\"comparison\"][\"rows\"] if r[\"metric\"] == \"ttft_p50_ms\"][0]" >v &&
  must_contain v "^\[39.74713, 40.85"
'

# ---- Kubeflow Model Registry REST API (fake) ----

printf "s3cret-token\n" >"$TRASH_ROOT/token"
printf "r3ader-token\n" >"$TRASH_ROOT/reader"
TOKEN=$TRASH_ROOT/token
READER=$TRASH_ROOT/reader
start_registry REG --token-file "$TOKEN" --reader-token-file "$READER" ||
  exit 1
export REG_URL REG_LOG TOKEN READER

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

test_expect_success 'rest: a token that may only read: --get works, a push gets 403' '
  registry-push --registry "$REG_URL" --token-file "$READER" --get \
    --model acme/tiny-llm >seed 2>err &&
  test "$(json_get seed "d[\"model\"][\"name\"]")" = acme/tiny-llm &&
  expect_exit 5 registry-push --registry "$REG_URL" --token-file "$READER" \
    -i "$REC" --model forbidden >out 2>err &&
  must_be_empty out &&
  must_contain err "^registry-push: error: registry refused .POST /registered_models.: 403 Forbidden: the token.s identity may not do this on this registry$" &&
  no_violations "$REG_LOG"
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

test_expect_success 'rest: --get names the pushed entities; others'"'"' keys left out' '
  registry-push --registry "$REG_URL" --token-file "$TOKEN" -i "$REC" \
    --label baseline >pushed 2>err &&
  registry-push --registry "$REG_URL" --token-file "$TOKEN" --get \
    --model acme/tiny-llm \
    --model-version 5f0c2a1b9e8d7c6f5a4b3c2d1e0f9a8b7c6d5e4f >seed 2>err &&
  for k in registered_model_id model_version_id model_artifact_id; do
    test "$(json_get seed "d[\"registry\"][\"$k\"]")" = \
      "$(json_get pushed "d[\"registry\"][\"$k\"]")" || return 1
  done &&
  test "$(json_get seed "d[\"registry\"][\"url\"]")" = \
    "$REG_URL/api/model_registry/v1alpha3" &&
  test "$(json_get seed "d[\"model\"][\"destination\"][\"uri\"]")" = \
    "$(json_get "$REC" "d[\"model\"][\"destination\"][\"uri\"]")" &&
  json_get seed "d[\"registry\"][\"version_properties\"]" >props &&
  must_contain props "perf.custom.ttft_p50_ms" &&
  must_contain props "perf.baseline.ttft_p50_ms" &&
  must_not_contain props "reviewed-by" &&
  must_not_contain seed "s3cret-token" &&
  no_violations "$REG_LOG"
'

test_expect_success 'rest: get, perf-run and eval-run, merge, push: one PATCH' '
  start_mock LLM --model acme/tiny-llm --ttft-ms 1 --itl-ms 1 &&
  registry-push --registry "$REG_URL" --token-file "$TOKEN" --get \
    --model acme/tiny-llm >seed.json 2>err &&
  perf-run --target "$LLM_URL" --data prompt_tokens=16,output_tokens=8 \
    --profile constant --rate 20 --max-requests 20 -q \
    -i seed.json >perf.json &&
  eval-run --tasks tutorial_mc --include-path "$FIXTURES/eval-run/tasks" \
    --base-url "$LLM_URL" -q -i seed.json >eval.json &&
  results-merge -q perf.json eval.json >merged.json &&
  before=$(writes "$REG_LOG") &&
  registry-push --registry "$REG_URL" --token-file "$TOKEN" \
    --label support-bot -i merged.json >out 2>err &&
  test $(($(writes "$REG_LOG") - before)) = 1 &&
  test "$(json_get out "d[\"registry\"][\"model_version_id\"]")" = \
    "$(json_get seed.json "d[\"registry\"][\"model_version_id\"]")" &&
  test "$(json_get out "d[\"registry\"][\"created\"]")" = "[]" &&
  json_get out "d[\"registry\"][\"added\"]" >added &&
  must_contain added "perf.support-bot.ttft_p50_ms" &&
  must_contain added "eval.support-bot.tutorial_mc.acc" &&
  must_contain added "support-bot results" &&
  must_not_contain added "baseline|source\.|destination\.|model\." &&
  test "$(json_get out "d[\"registry\"][\"changed\"]")" = "[]" &&
  no_violations "$REG_LOG"
'

start_registry REJECT --inject createModelVersion=422 || exit 1
export REJECT_URL REJECT_LOG

test_expect_success 'rest: a 422 rejection names the call, exits 5' '
  expect_exit 5 registry-push --registry "$REJECT_URL" -i "$REC" \
    --retry-delay 1 >out 2>err &&
  must_be_empty out &&
  must_contain err "^registry-push: error: registry rejected the request .POST /model_versions.: 422 \(schema validation\): injected 422 for createModelVersion$" &&
  test "$(grep -c "^POST .*/model_versions 422 injected" "$REJECT_LOG")" = 1 &&
  no_violations "$REJECT_LOG"
'

start_registry REJECT2 --inject updateModelVersion=400 || exit 1
export REJECT2_URL REJECT2_LOG

test_expect_success 'rest: a 400 on the PATCH of new results exits 5' '
  registry-push --registry "$REJECT2_URL" -i "$REC" --label baseline \
    >/dev/null 2>err &&
  expect_exit 5 registry-push --registry "$REJECT2_URL" -i "$CUSTOM" \
    --label custom >out 2>err &&
  must_be_empty out &&
  must_contain err "registry rejected the request .PATCH /model_versions/[0-9]+.: 400 \(schema validation\): injected 400" &&
  no_violations "$REJECT2_LOG"
'

start_registry RACE \
  --race createRegisteredModel,createModelVersion,upsertModelVersionArtifact \
  || exit 1
export RACE_URL RACE_LOG

test_expect_success 'rest: 409 when someone created it meanwhile is recovered' '
  registry-push --registry "$RACE_URL" -i "$REC" --label baseline \
    >out 2>err &&
  test "$(grep -c "raced by another client: 201" "$RACE_LOG")" = 3 &&
  must_contain "$RACE_LOG" "^POST /api/model_registry/v1alpha3/registered_models 409" &&
  must_contain "$RACE_LOG" "^POST /api/model_registry/v1alpha3/model_versions 409" &&
  must_contain "$RACE_LOG" "^POST /api/model_registry/v1alpha3/model_versions/[0-9]+/artifacts 409" &&
  test "$(json_get out "d[\"registry\"][\"created\"]")" = "[]" &&
  json_get out "d[\"registry\"][\"updated\"]" >updated &&
  must_contain updated "model_version.*model_artifact" &&
  json_get out "d[\"registry\"][\"added\"]" >added &&
  must_contain added "perf.baseline.ttft_p50_ms" &&
  vid=$(json_get out "d[\"registry\"][\"model_version_id\"]") &&
  curl -sf "$RACE_URL/api/model_registry/v1alpha3/model_versions/$vid" >mv &&
  must_contain mv "\"created-by\":\{\"metadataType\":\"MetadataStringValue\",\"string_value\":\"another-client\"\}" &&
  must_contain mv "perf.baseline.ttft_p50_ms" &&
  aid=$(json_get out "d[\"registry\"][\"model_artifact_id\"]") &&
  curl -sf "$RACE_URL/api/model_registry/v1alpha3/model_artifacts/$aid" >ma &&
  must_contain ma "\"modelFormatName\":\"safetensors\"" &&
  test "$(grep -c "^GET /api/model_registry/v1alpha3/registered_model?" "$RACE_LOG")" = 2 &&
  registry-push --registry "$RACE_URL" -i "$REC" --label baseline \
    >again 2>err &&
  test "$(json_get again "d[\"registry\"][\"writes\"]")" = 0 &&
  no_violations "$RACE_LOG"
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

# ---- the admission gate (lib mg_record_gate) ----
python3 - "$REC" "$TRASH_ROOT/failed.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["model"]["name"] = "acme/tampered"
d["verification"] = {"verdict": "fail", "ok": False, "findings": [
    {"severity": "error", "check": "safetensors", "path": "model.safetensors",
     "message": "tensor 'w' ends past the data"}]}
json.dump(d, open(sys.argv[2], "w"))
PY
FAILED=$TRASH_ROOT/failed.json
export FAILED

test_expect_success 'gate: a failed verdict is refused: exit 1, nothing written, record passed on' '
  before=$(writes "$REG_LOG") &&
  expect_exit 1 registry-push --registry "$REG_URL" --token-file "$TOKEN" \
    -i "$FAILED" >out 2>err &&
  test "$(wc -l <err)" = 1 &&
  must_contain err "^registry-push: error: refusing model .acme/tampered.: verdict .fail.: safetensors .model.safetensors.: tensor .w. ends past the data \(--allow-unverified overrides\)$" &&
  python3 -c "import json,sys; sys.exit(json.load(open(sys.argv[1])) != json.load(open(sys.argv[2])))" \
    "$FAILED" out &&
  test "$(writes "$REG_LOG")" = "$before" &&
  expect_exit 1 registry-push --registry-dir gated -i "$FAILED" >out 2>err &&
  test ! -e gated
'

test_expect_success 'gate: --allow-unverified registers the version ARCHIVED, saying why' '
  registry-push --registry "$REG_URL" --token-file "$TOKEN" -i "$FAILED" \
    --allow-unverified --model-version v-bad >out 2>err &&
  must_contain err "warning: --allow-unverified: registering as ARCHIVED: refusing model .acme/tampered.: verdict .fail." &&
  vid=$(json_get out "d[\"registry\"][\"model_version_id\"]") &&
  curl -sf -H "Authorization: Bearer s3cret-token" \
    "$REG_URL/api/model_registry/v1alpha3/model_versions/$vid" >mv &&
  test "$(json_get mv "d[\"state\"]")" = ARCHIVED &&
  test "$(json_get mv "d[\"customProperties\"][\"verify.gate\"][\"string_value\"]")" = \
    "registered with --allow-unverified: refusing model '"'"'acme/tampered'"'"': verdict '"'"'fail'"'"': safetensors '"'"'model.safetensors'"'"': tensor '"'"'w'"'"' ends past the data" &&
  no_violations "$REG_LOG"
'

test_expect_success 'gate: a LIVE version pushed again unverified is PATCHed to ARCHIVED' '
  python3 -c "import json,sys
d=json.load(open(sys.argv[1])); d[\"model\"][\"name\"]=\"acme/later\"
json.dump(d,open(\"good.json\",\"w\"))
d[\"verification\"]={\"verdict\":\"fail\",\"findings\":[]}
json.dump(d,open(\"bad.json\",\"w\"))" "$REC" &&
  registry-push --registry "$REG_URL" --token-file "$TOKEN" -i good.json \
    --model-version v1 >out 2>err &&
  vid=$(json_get out "d[\"registry\"][\"model_version_id\"]") &&
  V=$REG_URL/api/model_registry/v1alpha3/model_versions/$vid &&
  curl -sf -H "Authorization: Bearer s3cret-token" "$V" >mv &&
  test "$(json_get mv "d[\"state\"]")" = LIVE &&
  registry-push --registry "$REG_URL" --token-file "$TOKEN" -i bad.json \
    --model-version v1 --allow-unverified >out 2>err &&
  curl -sf -H "Authorization: Bearer s3cret-token" "$V" >mv &&
  test "$(json_get mv "d[\"state\"]")" = ARCHIVED &&
  must_contain mv "verify.gate" &&
  json_get out "d[\"registry\"][\"updated\"]" >updated &&
  must_contain updated model_version &&
  no_violations "$REG_LOG"
'

test_expect_success 'gate: the directory registry records ARCHIVED too' '
  registry-push --registry-dir gated -i "$FAILED" --allow-unverified \
    >out 2>err &&
  python3 -c "import json
d=json.load(open(\"gated/registry.json\"))
print(json.dumps(d))" >dump &&
  must_contain dump "\"state\": \"ARCHIVED\"" &&
  must_contain dump "verify.gate"
'

test_expect_success 'model.bytes is the sum of the sizes model-fetch records' '
  mkdir -p src/sized &&
  printf "{\"model_type\": \"tiny\"}\n" >src/sized/config.json &&
  printf "{\"pad\": \"%01000d\"}\n" 0 >src/sized/tokenizer_config.json &&
  model-fetch -q src/sized fetched/sized </dev/null >f.json &&
  model-verify -q -i f.json >v.json &&
  registry-push --registry-dir sized -i v.json --model-version v1 >out 2>err &&
  registry-push --registry-dir sized --get --model sized --model-version v1 \
    >got 2>err &&
  want=$(json_get v.json "sum(f[\"size\"] for f in d[\"model\"][\"files\"])") &&
  test "$want" -gt 1000 &&
  got=$(json_get got "d[\"registry\"][\"version_properties\"][\"model.bytes\"]") &&
  python3 -c "import sys; sys.exit(float(sys.argv[1]) != float(sys.argv[2]))" \
    "$got" "$want"
'

test_done
