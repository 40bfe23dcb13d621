#!/bin/bash
# model-verify over fixtures built at run time (tests/fixtures/model-verify/
# make_fixtures.py): clean models pass; every hostile pickle, malformed
# safetensors / GGUF, template injection, code file and link escape fails;
# integrity, policy and OpenSSF model signing signatures are checked.
. "$(dirname "$0")/../lib.sh"

common_negative_tests model-verify

FX=$TRASH_ROOT/fx
python3 "$FIXTURES/model-verify/make_fixtures.py" "$FX" || exit 1
SIGN="python3 $FIXTURES/model-verify/sign_model.py"
KEYS=$TRASH_ROOT/keys
mkdir -p "$KEYS"
openssl ecparam -name prime256v1 -genkey -noout -out "$KEYS/k256.pem" 2>/dev/null &&
openssl pkey -in "$KEYS/k256.pem" -pubout -out "$KEYS/p256.pem" &&
openssl ecparam -name secp384r1 -genkey -noout -out "$KEYS/k384.pem" 2>/dev/null &&
openssl pkey -in "$KEYS/k384.pem" -pubout -out "$KEYS/p384.pem" &&
openssl ecparam -name prime256v1 -genkey -noout -out "$KEYS/other.pem" 2>/dev/null &&
openssl pkey -in "$KEYS/other.pem" -pubout -out "$KEYS/otherpub.pem" || exit 1

# verdict FILE: the verification verdict in a record.
verdict() {
  json_get "$1" 'd["verification"]["verdict"]'
}

# errors FILE: the error findings' messages, one per line.
errors() {
  python3 -c 'import json,sys
for f in json.load(open(sys.argv[1]))["verification"]["findings"]:
    if f["severity"] == "error":
        print(f["check"], f.get("path", "-"), f["message"])' "$1"
}

test_expect_success 'malformed JSON on stdin exits 3' '
  echo "{oops" >in &&
  expect_exit 3 model-verify <in >out 2>err &&
  must_be_empty out && must_contain err "^model-verify: error: malformed JSON"
'

test_expect_success 'a record of another schema exits 3' '
  echo "{\"schema\":\"other/v1\"}" >in &&
  expect_exit 3 model-verify <in >out 2>err && must_be_empty out
'

test_expect_success 'a record without model.path exits 3' '
  echo "{\"schema\":\"modelgate.record/v1\"}" >in &&
  expect_exit 3 model-verify <in >out 2>err && must_be_empty out &&
  must_contain err "model.path"
'

test_expect_success 'missing input file exits 4' '
  expect_exit 4 model-verify -i nope.json </dev/null >out 2>err &&
  must_be_empty out && must_contain err "nope.json"
'

test_expect_success 'missing model directory exits 4' '
  expect_exit 4 model-verify -d nowhere </dev/null >out 2>err &&
  must_be_empty out && must_contain err "nowhere"
'

test_expect_success 'output to /dev/full exits 4' '
  expect_exit 4 model-verify -q -d "$FX/clean" </dev/null >/dev/full 2>err &&
  must_contain err "cannot write"
'

test_expect_success 'clean safetensors model passes' '
  model-verify -q -d "$FX/clean" </dev/null >rec.json &&
  test "$(verdict rec.json)" = pass &&
  test "$(json_get rec.json "d[\"verification\"][\"ok\"]")" = True &&
  json_get rec.json "{f[\"path\"]: f[\"format\"] for f in d[\"verification\"][\"files\"]}" >fmt &&
  must_contain fmt "\"model.safetensors\": \"safetensors\"" &&
  must_contain fmt "\"config.json\": \"json\""
'

test_expect_success 'torch state dicts (zip and legacy stacked) pass the allowlist' '
  model-verify -q -d "$FX/torch-clean" </dev/null >rec.json &&
  test "$(verdict rec.json)" = pass &&
  json_get rec.json "{f[\"path\"]: f[\"format\"] for f in d[\"verification\"][\"files\"]}" >fmt &&
  must_contain fmt "\"pytorch_model.bin\": \"pytorch\"" &&
  must_contain fmt "\"legacy.pt\": \"pickle\"" &&
  json_get rec.json "d[\"verification\"][\"files\"]" >files &&
  must_contain files "torch._utils._rebuild_tensor_v2" &&
  must_contain files "collections.OrderedDict"
'

for c in pickle-os-system-global pickle-eval-stack-global pickle-exec-proto5 \
  pickle-proto0-as-bin pickle-memo-trick pickle-put-get pickle-inst \
  pickle-obj pickle-runpy pickle-importlib pickle-pip-main pickle-nested \
  pickle-getattr-chain pickle-torch-hidden-global pickle-in-torch-zip \
  legacy-stacked-hostile numpy-object-array npz-object joblib; do
  test_expect_success "hostile pickle ($c) fails, naming the global" "
    expect_exit 1 model-verify -d '$FX/$c' </dev/null >rec.json 2>err &&
    test \"\$(verdict rec.json)\" = fail &&
    errors rec.json >e && must_contain e '^pickle .* imports .* not on the allowlist' &&
    must_contain err 'verdict fail'
  "
done

test_expect_success 'the offending globals are named exactly' '
  for c in pickle-os-system-global:posix.system pickle-eval-stack-global:builtins.eval \
    pickle-memo-trick:builtins.eval pickle-put-get:os.system \
    pickle-runpy:runpy._run_code pickle-importlib:importlib.import_module \
    pickle-pip-main:pip.main pickle-nested:_pickle.loads; do
    model-verify -q -d "$FX/${c%%:*}" </dev/null >rec.json
    errors rec.json >e && must_contain e "imports .${c#*:}." || return 1
  done
'

for c in pickle-ext1:"EXT1" pickle-build-setattr:"BUILD modifies" \
  pickle-call-non-global:"not an imported global" \
  pickle-truncated:"malformed pickle"; do
  test_expect_success "unsafe pickle construct (${c%%:*}) fails" "
    expect_exit 1 model-verify -q -d '$FX/${c%%:*}' </dev/null >rec.json &&
    errors rec.json >e && must_contain e '${c#*:}'
  "
done

# joblib files written as joblib.dump writes them (make_joblib.py): the
# array bytes after each NumpyArrayWrapper are skipped exactly, an object
# array's nested pickle is scanned, and bytes a plain pickle.load would
# run are judged too.
JL=$TRASH_ROOT/joblib
python3 "$FIXTURES/model-verify/make_joblib.py" "$JL" || exit 1

for c in joblib-array joblib-array-proto2 joblib-array-old-format \
  joblib-object-array; do
  test_expect_success "joblib with inline numpy data ($c) passes" "
    model-verify -q -d '$JL/$c' </dev/null >rec.json &&
    test \"\$(verdict rec.json)\" = pass &&
    json_get rec.json 'd[\"verification\"][\"files\"]' >files &&
    must_contain files 'joblib.numpy_pickle.NumpyArrayWrapper'
  "
done

test_expect_success 'joblib: a hostile object in an object array fails' '
  expect_exit 1 model-verify -q -d "$JL/joblib-object-array-hostile" \
    </dev/null >rec.json &&
  errors rec.json >e && must_contain e "imports .os.system."
'

test_expect_success 'joblib: array bytes that pickle.load would run fail' '
  expect_exit 1 model-verify -q -d "$JL/joblib-data-hides-pickle" \
    </dev/null >rec.json &&
  errors rec.json >e && must_contain e "imports .os.system."
'

test_expect_success 'joblib: a shape larger than the data fails as malformed' '
  expect_exit 1 model-verify -q -d "$JL/joblib-shape-too-large" \
    </dev/null >rec.json &&
  errors rec.json >e && must_contain e "truncated joblib array"
'

# Issue 14's bypass classes, one fixture each (make_bypass.py builds them
# byte by byte): every one must fail with a finding that names the reason.
# trace_load.py first shows that CPython's own unpickler, reading the file
# as its loader would (stub find_class: nothing imported), reaches the
# payload, so each fixture is a real bypass and not just a broken file.
BP=$TRASH_ROOT/bypass
python3 "$FIXTURES/model-verify/make_bypass.py" "$BP" || exit 1
TRACE="python3 $FIXTURES/model-verify/trace_load.py"

# reason CASE: what the error findings of CASE must say (an ERE).
reason() {
  case $1 in
  bypass-1-*) echo "^pickle pytorch_model.bin member .archive/data.pkl. imports .posix.system." ;;
  bypass-2-first-opcode-proto1-*) echo "^pickle [^ ]* pickle imports .builtins.eval. \(GLOBAL" ;;
  bypass-2-*) echo "^pickle [^ ]* pickle imports .posix.system." ;;
  bypass-3-*) echo "imports .posix.system. \(STACK_GLOBAL at byte [0-9]+, pickle 4\)" ;;
  bypass-4-*) echo "^archive .* member .archive/data.pkl.: the local header names it .archive/data.txt." ;;
  bypass-5-npz-*) echo "member .o.npy. \(object dtype .O., data read by pickle.load\) imports .posix.system." ;;
  bypass-5-*) echo "^pickle arr.npy array \(object dtype .*\) imports .posix.system." ;;
  bypass-6-joblib-*) echo "^pickle model.joblib ${1#bypass-6-joblib-} stream imports .os.system." ;;
  bypass-6-pandas-pkl-zip) echo "member .frame.pkl. imports .posix.system." ;;
  bypass-6-pandas-*) echo "^pickle frame.pkl.${1#bypass-6-pandas-pkl-} (gzip|bz2|xz) stream imports .posix.system." ;;
  bypass-7-zip-*) echo "member .payload. imports .posix.system." ;;
  bypass-7-payload-in-17th-*) echo "imports .posix.system. \(STACK_GLOBAL at byte [0-9]+, pickle 17\)" ;;
  bypass-8-*) echo "^pickle model.pkl pickle: valid tar, but a pickle loader reading it imports .posix.system. \(byte 0\): a polyglot" ;;
  *) echo "no reason for $1" >&2; return 1 ;;
  esac
}

# model_file CASE: the model file of a fixture (the one besides config.json).
model_file() {
  for f in "$BP/$1"/*; do
    case ${f##*/} in config.json) ;; *) echo "$f" ;; esac
  done
}

for d in "$BP"/bypass-*; do
  c=${d##*/}
  test_expect_success "bypass fixture $c fails the gate" "
    re=\$(reason $c) &&
    if test $c != bypass-4-zip-local-central-mismatch; then
      $TRACE \"\$(model_file $c)\" >trace &&
      must_contain trace '^(posix|os)\\.system\$|^builtins\\.eval\$'
    fi &&
    expect_exit 1 model-verify -q -d '$d' </dev/null >rec.json &&
    test \"\$(verdict rec.json)\" = fail &&
    errors rec.json >e && must_contain e \"\$re\"
  "
done

test_expect_success 'bypass 4: zipfile refuses the mismatched zip (torch reads it)' '
  $TRACE "$BP/bypass-4-zip-local-central-mismatch/pytorch_model.bin" >trace &&
  must_contain trace "^error: BadZipFile: File name in directory"
'

for d in "$BP"/benign-*; do
  c=${d##*/}
  test_expect_success "benign fixture $c passes" "
    model-verify -q -d '$d' </dev/null >rec.json &&
    test \"\$(verdict rec.json)\" = pass &&
    test \"\$(json_get rec.json 'd[\"verification\"][\"summary\"][\"errors\"]')\" = 0
  "
done

test_expect_success 'benign joblib files are read through their compressor' '
  for k in zlib gzip bz2 xz lzma; do
    model-verify -q -d "$BP/benign-joblib-$k" </dev/null >rec.json &&
    json_get rec.json "[f[\"detail\"] for f in d[\"verification\"][\"files\"] if f[\"path\"] == \"model.joblib\"]" >det || return 1
    must_contain det "compression.: .$k." &&
    must_contain det "joblib.numpy_pickle.NumpyArrayWrapper" || return 1
  done
'

test_expect_success 'sharded safetensors: a consistent index passes' '
  model-verify -q -d "$FX/sharded-ok" </dev/null >rec.json &&
  test "$(verdict rec.json)" = pass &&
  model-verify -q -d "$FX/sharded-total-size-off" </dev/null >rec.json &&
  test "$(verdict rec.json)" = pass &&
  json_get rec.json "[f[\"message\"] for f in d[\"verification\"][\"findings\"] if f[\"severity\"] == \"warning\"]" \
    >w && must_contain w "total_size is 1, the shards hold 24"
'

for c in "sharded-not-in-shard:tensor .b. is not in shard .model-00001" \
  "sharded-wrong-shard:tensor .b. is not in shard .model-00002" \
  "sharded-duplicate:tensor .b. is in two shards" \
  "sharded-unlisted:shard .model-00001-of-00002.safetensors. holds tensor .x., which the index does not list" \
  "sharded-missing-shard:shard .model-00002-of-00002.safetensors. is missing" \
  "sharded-listed-twice:tensor .a. is listed twice"; do
  test_expect_success "sharded safetensors: ${c%%:*} fails" "
    expect_exit 1 model-verify -q -d '$FX/${c%%:*}' </dev/null >rec.json &&
    errors rec.json >e &&
    must_contain e '^safetensors model.safetensors.index.json ${c#*:}'
  "
done

test_expect_success 'numpy without object dtype passes' '
  model-verify -q -d "$FX/numpy-plain-array" </dev/null >rec.json &&
  test "$(verdict rec.json)" = pass
'

test_expect_success 'a zip with duplicate member names fails' '
  expect_exit 1 model-verify -q -d "$FX/zip-duplicate-member" </dev/null \
    >rec.json && errors rec.json >e && must_contain e "duplicate member"
'

test_expect_success 'TorchScript archives are refused (they run code)' '
  expect_exit 1 model-verify -q -d "$FX/torchscript" </dev/null >rec.json &&
  errors rec.json >e && must_contain e "^code .*TorchScript"
'

for c in st-overlap:"overlapping offsets" st-gap:"gap before" \
  st-out-of-range:"cover 16 data bytes" st-duplicate-key:"duplicate key" \
  st-trailing-bytes:"but the file holds 28" st-bad-dtype:"unknown dtype" \
  st-shape-mismatch:"dtype and shape need" st-huge-header:"too large" \
  st-truncated:"file holds 11" st-metadata-not-string:"not a string"; do
  test_expect_success "malformed safetensors (${c%%:*}) fails" "
    expect_exit 1 model-verify -q -d '$FX/${c%%:*}' </dev/null >rec.json &&
    errors rec.json >e && must_contain e '^safetensors .*${c#*:}'
  "
done

test_expect_success 'clean GGUF passes, its chat template noted for review' '
  model-verify -q -d "$FX/gguf-clean" </dev/null >rec.json &&
  test "$(verdict rec.json)" = pass &&
  json_get rec.json "d[\"verification\"][\"findings\"]" >f &&
  must_contain f "chat_template" && must_contain f "review" &&
  json_get rec.json "d[\"verification\"][\"files\"][0][\"detail\"][\"architecture\"]" >a &&
  echo llama >expect && test_cmp expect a
'

for c in gguf-ssti-template:"__globals__" gguf-truncated:"does not fit" \
  gguf-duplicate-key:"duplicate key" gguf-bad-alignment:"power of two" \
  gguf-five-dims:"5 dimensions" gguf-zero-dim:"of size 0" \
  gguf-past-end:"past the end" gguf-overlap:"overlaps" \
  gguf-huge-count:"does not fit"; do
  test_expect_success "hostile GGUF (${c%%:*}) fails" "
    expect_exit 1 model-verify -q -d '$FX/${c%%:*}' </dev/null >rec.json &&
    errors rec.json >e && must_contain e '${c#*:}'
  "
done

test_expect_success 'template injection in tokenizer_config.json fails' '
  expect_exit 1 model-verify -q -d "$FX/template-ssti" </dev/null >rec.json &&
  errors rec.json >e && must_contain e "^chat_template .*sandbox-escape"
'

test_expect_success 'remote code (auto_map, *.py) fails unless allowed' '
  expect_exit 1 model-verify -q -d "$FX/remote-code" </dev/null >rec.json &&
  errors rec.json >e && must_contain e "auto_map" &&
  must_contain e "modeling_tiny.py" &&
  echo "{\"allow_code\": true}" >p.json &&
  model-verify -q -p p.json -d "$FX/remote-code" </dev/null >rec.json &&
  test "$(verdict rec.json)" = pass
'

test_expect_success 'a symlink out of the model fails' '
  expect_exit 1 model-verify -q -d "$FX/symlink-out" </dev/null >rec.json &&
  errors rec.json >e && must_contain e "leaves the model directory"
'

test_expect_success 'unknown binaries fail by default, warn when the policy relaxes them' '
  expect_exit 1 model-verify -q -d "$FX/unknown-binary" </dev/null >rec.json &&
  errors rec.json >e &&
  must_contain e "^format blob.dat pickle: neither a known format nor a pickle" &&
  printf "unknown_formats: warn\n" >p.yaml &&
  model-verify -q -p p.yaml -d "$FX/unknown-binary" </dev/null >rec.json &&
  test "$(verdict rec.json)" = pass &&
  json_get rec.json "d[\"verification\"][\"summary\"][\"warnings\"]" >w &&
  must_contain w "^[1-9]" &&
  printf "unscanned_allow: [\"*.dat\"]\n" >p.yaml &&
  model-verify -q -p p.yaml -d "$FX/unknown-binary" </dev/null >rec.json &&
  test "$(verdict rec.json)" = pass &&
  printf "unscanned_allow: [\"other/*.dat\"]\n" >p.yaml &&
  expect_exit 1 model-verify -q -p p.yaml -d "$FX/unknown-binary" \
    </dev/null >rec.json
'

test_expect_success 'integrity: a record from model-fetch verifies' '
  model-fetch -q "$FX/clean" m </dev/null >fetched.json &&
  model-verify -q -i fetched.json >rec.json &&
  test "$(verdict rec.json)" = pass &&
  test "$(json_get rec.json "d[\"model\"][\"name\"]")" = clean
'

test_expect_success 'integrity: tampered, missing and extra files fail' '
  model-fetch -q "$FX/clean" m </dev/null >fetched.json &&
  printf X | dd of=m/model.safetensors bs=1 seek=40 conv=notrunc 2>/dev/null &&
  rm m/tokenizer/vocab.txt && echo new >m/extra.txt &&
  expect_exit 1 model-verify -q -i fetched.json >rec.json &&
  errors rec.json >e &&
  must_contain e "^integrity model.safetensors sha256 .* differs" &&
  must_contain e "^integrity tokenizer/vocab.txt missing" &&
  must_contain e "^integrity extra.txt extra"
'

test_expect_success 'policy: formats, pickles, size, required files, licenses' '
  printf "{\"formats\": [\"safetensors\", \"json\"]}" >p1.json &&
  expect_exit 1 model-verify -q -p p1.json -d "$FX/clean" </dev/null >r.json &&
  errors r.json >e && must_contain e "format .text. is not allowed" &&
  printf "{\"pickle\": \"deny\"}" >p2.json &&
  expect_exit 1 model-verify -q -p p2.json -d "$FX/torch-clean" \
    </dev/null >r.json && errors r.json >e && must_contain e "not allowed by the policy" &&
  printf "{\"max_total_bytes\": 10}" >p3.json &&
  expect_exit 1 model-verify -q -p p3.json -d "$FX/clean" </dev/null >r.json &&
  printf "{\"required_files\": [\"config.json\", \"tokenizer.json\"]}" >p4.json &&
  expect_exit 1 model-verify -q -p p4.json -d "$FX/clean" </dev/null >r.json &&
  errors r.json >e && must_contain e "tokenizer.json required file is missing" &&
  printf "licenses:\n  - Apache-2.0\n  - mit\n" >p5.yaml &&
  model-verify -q -p p5.yaml -d "$FX/clean" </dev/null >r.json &&
  test "$(verdict r.json)" = pass &&
  printf "licenses: [mit]\n" >p6.yaml &&
  expect_exit 1 model-verify -q -p p6.yaml -d "$FX/clean" </dev/null >r.json &&
  errors r.json >e && must_contain e "license .apache-2.0. is not on"
'

test_expect_success 'policy: extra allowlist entries admit a known class' '
  printf "{\"pickle_allow\": [\"sklearn.pipeline.*\"]}" >p.json &&
  model-verify -q -p p.json -d "$FX/joblib" </dev/null >r.json &&
  test "$(verdict r.json)" = pass
'

test_expect_success 'policy: an unknown key or bad value exits 3' '
  printf "{\"pickles\": \"deny\"}" >p.json &&
  expect_exit 3 model-verify -q -p p.json -d "$FX/clean" </dev/null >out 2>err &&
  must_be_empty out && must_contain err "unknown policy field .pickles." &&
  printf "{\"pickle\": \"maybe\"}" >p.json &&
  expect_exit 3 model-verify -q -p p.json -d "$FX/clean" </dev/null >out 2>err
'

test_expect_success 'signature: valid P-256 bundle verifies' '
  cp -r "$FX/clean" s && $SIGN s "$KEYS/k256.pem" s/model.sig &&
  model-verify -q --public-key "$KEYS/p256.pem" -d s </dev/null >rec.json &&
  test "$(verdict rec.json)" = pass &&
  test "$(json_get rec.json "d[\"verification\"][\"signature\"][\"status\"]")" = verified &&
  test "$(json_get rec.json "d[\"verification\"][\"signature\"][\"curve\"]")" = P-256 &&
  test "$(json_get rec.json "d[\"verification\"][\"signature\"][\"covered_files\"]")" = 5
'

test_expect_success 'signature: P-384, shards and blake2b serializations verify' '
  cp -r "$FX/clean" s && $SIGN s "$KEYS/k384.pem" s/model.sig \
    --method shards --shard-size 7 --hash blake2b &&
  model-verify -q --public-key "$KEYS/p384.pem" --require-signature -d s \
    </dev/null >rec.json &&
  test "$(verdict rec.json)" = pass &&
  test "$(json_get rec.json "d[\"verification\"][\"signature\"][\"curve\"]")" = P-384
'

test_expect_success 'signature: a changed file fails' '
  cp -r "$FX/clean" s && $SIGN s "$KEYS/k256.pem" s/model.sig &&
  echo " " >>s/config.json &&
  expect_exit 1 model-verify -q --public-key "$KEYS/p256.pem" -d s \
    </dev/null >rec.json &&
  errors rec.json >e && must_contain e "config.json. does not match its signed digest"
'

test_expect_success 'signature: an added or removed file fails' '
  cp -r "$FX/clean" s && $SIGN s "$KEYS/k256.pem" s/model.sig &&
  echo x >s/added.txt &&
  expect_exit 1 model-verify -q --public-key "$KEYS/p256.pem" -d s \
    --signature s/model.sig </dev/null >rec.json &&
  errors rec.json >e && must_contain e "added.txt. is not covered" &&
  rm s/added.txt s/config.json &&
  expect_exit 1 model-verify -q --public-key "$KEYS/p256.pem" -d s \
    </dev/null >rec.json &&
  errors rec.json >e && must_contain e "signed file .config.json. is missing"
'

test_expect_success 'signature: another key fails (hint, then signature)' '
  cp -r "$FX/clean" s && $SIGN s "$KEYS/k256.pem" s/model.sig &&
  expect_exit 1 model-verify -q --public-key "$KEYS/otherpub.pem" -d s \
    </dev/null >rec.json &&
  errors rec.json >e && must_contain e "another key" &&
  $SIGN s "$KEYS/k256.pem" s/model.sig --no-hint &&
  expect_exit 1 model-verify -q --public-key "$KEYS/otherpub.pem" -d s \
    </dev/null >rec.json &&
  errors rec.json >e && must_contain e "does not verify"
'

test_expect_success 'signature: a forged payload fails' '
  cp -r "$FX/clean" s && $SIGN s "$KEYS/k256.pem" s/model.sig &&
  python3 -c "import base64,json,sys
b=json.load(open(sys.argv[1]))
p=json.loads(base64.b64decode(b[\"dsseEnvelope\"][\"payload\"]))
p[\"predicate\"][\"resources\"][0][\"digest\"]=\"00\"*32
b[\"dsseEnvelope\"][\"payload\"]=base64.b64encode(json.dumps(p).encode()).decode()
json.dump(b,open(sys.argv[1],\"w\"))" s/model.sig &&
  expect_exit 1 model-verify -q --public-key "$KEYS/p256.pem" -d s \
    </dev/null >rec.json &&
  errors rec.json >e && must_contain e "does not verify"
'

test_expect_success 'signature: wrong payloadType and bad bundles fail' '
  cp -r "$FX/clean" s &&
  $SIGN s "$KEYS/k256.pem" s/model.sig --payload-type text/plain &&
  expect_exit 1 model-verify -q --public-key "$KEYS/p256.pem" -d s \
    </dev/null >rec.json &&
  errors rec.json >e && must_contain e "payloadType" &&
  echo "{}" >s/model.sig &&
  expect_exit 1 model-verify -q --public-key "$KEYS/p256.pem" -d s \
    </dev/null >rec.json && errors rec.json >e && must_contain e "mediaType"
'

test_expect_success 'signature: required but absent fails; present without key warns' '
  expect_exit 1 model-verify -q --require-signature -d "$FX/clean" \
    </dev/null >rec.json &&
  errors rec.json >e && must_contain e "no signature bundle" &&
  cp -r "$FX/clean" s && $SIGN s "$KEYS/k256.pem" s/model.sig &&
  model-verify -q -d s </dev/null >rec.json &&
  test "$(json_get rec.json "d[\"verification\"][\"signature\"][\"status\"]")" = unchecked
'

test_expect_success 'parallel and serial runs agree' '
  model-verify -q -j 1 -d "$FX/torch-clean" </dev/null >a.json &&
  model-verify -q -j 4 -d "$FX/torch-clean" </dev/null >b.json &&
  json_get a.json "d[\"verification\"][\"files\"]" >fa &&
  json_get b.json "d[\"verification\"][\"files\"]" >fb && test_cmp fa fb
'

test_done
