#!/bin/bash
# model-fetch against real loopback servers: a Hub stand-in that speaks the
# revision listing / resolve / CDN protocol (tests/fixtures/model-fetch/
# hub_server.py) and Debian's docker-registry for OCI modelcar images.
. "$(dirname "$0")/../lib.sh"

common_negative_tests model-fetch

HUB_PY=$FIXTURES/model-fetch/hub_server.py
W=$TRASH_ROOT/work
mkdir -p "$W"

# make_model DIR: a small model with LFS-style and plain files, a subdir.
make_model() {
  python3 - "$1" <<'EOF'
import json, os, struct, sys
d = sys.argv[1]
os.makedirs(os.path.join(d, "tokenizer"), exist_ok=True)
hdr = json.dumps({"w": {"dtype": "F32", "shape": [64, 64],
                        "data_offsets": [0, 16384]}}).encode()
hdr += b" " * ((8 - len(hdr) % 8) % 8)
with open(os.path.join(d, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(hdr)) + hdr + bytes(range(256)) * 64)
json.dump({"architectures": ["Tiny"], "hidden_size": 64},
          open(os.path.join(d, "config.json"), "w"))
open(os.path.join(d, "tokenizer", "vocab.txt"), "w").write("a\nb\nc\n")
open(os.path.join(d, "README.md"), "w").write(
    "---\nlicense: apache-2.0\n---\n# tiny\n")
EOF
}

# digests DIR: "sha256  path" lines, sorted, like sha256sum.
digests() {
  (cd "$1" && find . -type f | sed 's|^\./||' | LC_ALL=C sort |
    while read -r f; do sha256sum "$f"; done)
}

# record_digests FILE: the same lines from a record's model.files.
record_digests() {
  python3 -c 'import json,sys
for f in json.load(open(sys.argv[1]))["model"]["files"]:
    print("%s  %s" % (f["sha256"], f["path"]))' "$1"
}

make_model "$W/tiny"
make_model "$W/gated"
mkdir -p "$W/static"
(cd "$W" && tar czf static/tiny.tar.gz tiny)
cp "$W/tiny/model.safetensors" "$W/static/weights.bin"
COMMIT=0123456789abcdef0123456789abcdef01234567

# start_hub NAME CONFIG-EXTRA: starts the Hub stand-in; sets NAME_URL.
start_hub() {
  name=$1
  cfg=$TRASH_ROOT/$name.json
  python3 - "$cfg" "$W" "$COMMIT" "$2" <<'EOF'
import json, sys
cfg, w, commit, extra = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
base = {"dir": w + "/tiny", "commit": commit, "lfs": ["*.safetensors"]}
repos = {"org/tiny": dict(base),
         "org/gated": dict(base, dir=w + "/gated", gated=True)}
for name, over in (json.loads(extra) if extra else {}).items():
    repos[name] = dict(base, **over)
json.dump({"repos": repos, "files": w + "/static"}, open(cfg, "w"))
EOF
  pf=$TRASH_ROOT/$name.port
  rm -f "$pf"
  : >"$TRASH_ROOT/$name.log"
  python3 "$HUB_PY" "$cfg" "$pf" "$TRASH_ROOT/$name.log" \
    2>"$TRASH_ROOT/$name.err" &
  pid=$!
  i=0
  while [ ! -s "$pf" ] && [ $i -lt 100 ]; do
    sleep 0.05
    i=$((i + 1))
  done
  [ -s "$pf" ] || { cat "$TRASH_ROOT/$name.err" >&2; return 1; }
  eval "${name}_URL=http://127.0.0.1:$(cat "$pf")"
  eval "${name}_LOG=$TRASH_ROOT/$name.log"
  at_exit "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
}

start_hub hub '{"org/bad": {"corrupt": ["model.safetensors"]},
  "org/badsmall": {"corrupt": ["config.json"]},
  "org/drop": {"drop_once": ["model.safetensors"]},
  "org/short": {"short": ["model.safetensors"]},
  "org/norange": {"drop_once": ["model.safetensors"], "ignore_range": true},
  "org/flaky": {"fail_once": ["config.json"]}}'
export HF_ENDPOINT=$hub_URL

test_expect_success 'missing SOURCE is a usage error' '
  expect_exit 2 model-fetch </dev/null >out 2>err &&
  must_be_empty out && must_contain err "missing SOURCE"
'

test_expect_success 'bad --sha256 is a usage error' '
  expect_exit 2 model-fetch --sha256 abc x </dev/null >out 2>err &&
  must_be_empty out && must_contain err "sha256"
'

test_expect_success 'malformed JSON on stdin exits 3' '
  echo "{not json" >in &&
  expect_exit 3 model-fetch "$W/tiny" d <in >out 2>err &&
  must_be_empty out && must_contain err "^model-fetch: error: " &&
  test ! -e d
'

test_expect_success 'missing input record exits 4' '
  expect_exit 4 model-fetch -i nope.json "$W/tiny" d </dev/null >out 2>err &&
  must_be_empty out && must_contain err "nope.json"
'

test_expect_success 'record to /dev/full exits 4' '
  expect_exit 4 model-fetch -q "$W/tiny" d </dev/null >/dev/full 2>err &&
  must_contain err "cannot write"
'

test_expect_success 'local directory: files copied, digests recorded' '
  model-fetch -q "$W/tiny" copy </dev/null >rec.json &&
  digests "$W/tiny" >expect &&
  digests copy >actual && test_cmp expect actual &&
  record_digests rec.json >recorded && test_cmp expect recorded &&
  test "$(json_get rec.json "d[\"model\"][\"source\"][\"kind\"]")" = local &&
  test "$(json_get rec.json "d[\"model\"][\"path\"]")" = "$PWD/copy" &&
  test "$(json_get rec.json "d[\"model\"][\"format\"]")" = safetensors &&
  test ! -e copy.partial
'

test_expect_success 'the record passes through other sections' '
  printf "{\"schema\":\"modelgate.record/v1\",\"perf\":{\"x\":1}}" >in &&
  model-fetch -q "$W/tiny" copy <in >rec.json &&
  test "$(json_get rec.json "d[\"perf\"][\"x\"]")" = 1 &&
  test "$(json_get rec.json "d[\"model\"][\"name\"]")" = tiny
'

test_expect_success 'missing parent directories of the destination are created' '
  test ! -e models &&
  model-fetch -q "$W/tiny" models/org/tiny </dev/null >rec.json &&
  digests "$W/tiny" >expect &&
  digests models/org/tiny >actual && test_cmp expect actual &&
  test ! -e models/org/tiny.partial &&
  : >plainfile &&
  expect_exit 4 model-fetch -q "$W/tiny" plainfile/sub/tiny </dev/null \
    >out 2>err &&
  must_be_empty out &&
  must_contain err "^model-fetch: error: cannot create directory .plainfile/sub."
'

test_expect_success 'an existing destination is kept unless --force' '
  mkdir dest && echo keep >dest/old &&
  expect_exit 4 model-fetch -q "$W/tiny" dest </dev/null >out 2>err &&
  must_be_empty out && must_contain err "exists" && test -f dest/old &&
  model-fetch -q --force "$W/tiny" dest </dev/null >out &&
  test ! -e dest/old && test -f dest/config.json
'

test_expect_success 'local archive is extracted, its top directory stripped' '
  model-fetch -q "$W/static/tiny.tar.gz" x </dev/null >rec.json &&
  digests "$W/tiny" >expect && digests x >actual && test_cmp expect actual &&
  record_digests rec.json >recorded && test_cmp expect recorded &&
  test ! -e x/tiny
'

test_expect_success 'the engine'"'"'s notes reach stderr with -v only, progress without -q' '
  model-fetch -v "$W/static/tiny.tar.gz" x </dev/null >rec.json 2>err &&
  must_contain err "^model-fetch: stripped the archive'"'"'s top-level directory '"'"'tiny'"'"'" &&
  model-fetch "$W/static/tiny.tar.gz" y </dev/null >rec.json 2>err &&
  must_not_contain err "stripped" &&
  must_contain err "^tiny: .* in .* s" &&
  model-fetch -q "$W/static/tiny.tar.gz" z </dev/null >rec.json 2>err &&
  must_be_empty err
'

test_expect_success '--keep-top-dir keeps the archive top directory' '
  model-fetch -q --keep-top-dir "$W/static/tiny.tar.gz" x </dev/null \
    >rec.json &&
  test -f x/tiny/model.safetensors &&
  json_get rec.json "[f[\"path\"] for f in d[\"model\"][\"files\"]]" \
    >paths && must_contain paths "tiny/config.json"
'

# make_archive KIND FILE: archives whose top directory must be kept.
make_archive() {
  python3 - "$1" "$2" <<'EOF2'
import io, sys, tarfile
kind, out = sys.argv[1], sys.argv[2]
def f(name, data=b"x"):
    ti = tarfile.TarInfo(name); ti.size = len(data); return (ti, data)
with tarfile.open(out, "w") as t:
    if kind == "two-tops":
        ents = [f("a/x"), f("b/y")]
    elif kind == "top-file":
        ents = [f("v1/x"), f("readme")]
    elif kind == "nested-same":
        ents = [f("m/m/x"), f("m/y")]
    elif kind == "with-link":
        ln = tarfile.TarInfo("m/l"); ln.type = tarfile.SYMTYPE
        ln.linkname = "../m/x"
        ents = [f("m/x"), (ln, None)]
    for ti, data in ents:
        t.addfile(ti, io.BytesIO(data) if data is not None else None)
EOF2
}

test_expect_success 'the top directory is stripped only when it is the only one' '
  make_archive two-tops a.tar && model-fetch -q a.tar o1 </dev/null >r1 &&
  test -f o1/a/x && test -f o1/b/y &&
  make_archive top-file b.tar && model-fetch -q b.tar o2 </dev/null >r2 &&
  test -f o2/v1/x && test -f o2/readme &&
  make_archive nested-same c.tar && model-fetch -q c.tar o3 </dev/null >r3 &&
  test -f o3/m/x && test -f o3/y && test ! -e o3/m/y &&
  json_get r3 "sorted(f[\"path\"] for f in d[\"model\"][\"files\"])" \
    >paths && echo "[\"m/x\", \"y\"]" >expect && test_cmp expect paths &&
  make_archive with-link d.tar && model-fetch -q d.tar o4 </dev/null >r4 &&
  test -f o4/m/x && test -L o4/m/l
'

# make_bad_archive KIND FILE: archives that must be refused.
make_bad_archive() {
  python3 - "$1" "$2" <<'EOF'
import io, sys, tarfile, zipfile
kind, out = sys.argv[1], sys.argv[2]
def tar(entries):
    with tarfile.open(out, "w:gz") as t:
        for ti, data in entries:
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
def f(name, data=b"x"):
    ti = tarfile.TarInfo(name); ti.size = len(data); return (ti, data)
def link(name, target, kind=tarfile.SYMTYPE):
    ti = tarfile.TarInfo(name); ti.type = kind; ti.linkname = target
    return (ti, None)
if kind == "dotdot":
    tar([f("ok.txt"), f("../escape.txt")])
elif kind == "absolute":
    tar([f("/tmp/mg-abs-escape.txt")])
elif kind == "symlink":
    tar([link("evil", "/etc"), f("evil/passwd")])
elif kind == "symlink-rel":
    tar([link("up", "../.."), f("x")])
elif kind == "through-link":
    tar([link("d", "sub"), f("sub/keep"), f("d/x")])
elif kind == "hardlink":
    tar([f("a"), link("b", "/etc/passwd", tarfile.LNKTYPE)])
elif kind == "device":
    ti = tarfile.TarInfo("null"); ti.type = tarfile.CHRTYPE
    ti.devmajor, ti.devminor = 1, 3; tar([(ti, None)])
elif kind == "fifo":
    ti = tarfile.TarInfo("p"); ti.type = tarfile.FIFOTYPE; tar([(ti, None)])
elif kind == "zipslip":
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("ok.txt", "x"); z.writestr("../../zip-escape.txt", "x")
elif kind == "many":
    tar([f("f%d" % i) for i in range(50)])
elif kind == "big":
    tar([f("big", b"\0" * 100000)])
elif kind == "truncated":
    tar([f("a", b"y" * 100000)])
    data = open(out, "rb").read(); open(out, "wb").write(data[:len(data) // 2])
EOF
}

for kind in dotdot absolute symlink symlink-rel through-link hardlink device \
  fifo zipslip truncated; do
  test_expect_success "unsafe archive ($kind) is refused with exit 3" "
    case $kind in zipslip) ext=zip ;; *) ext=tar.gz ;; esac &&
    make_bad_archive $kind a.\$ext &&
    expect_exit 3 model-fetch -q a.\$ext out </dev/null >stdout 2>err &&
    must_be_empty stdout && must_contain err '^model-fetch: error: ' &&
    test ! -e out && test ! -e out.partial && test ! -e escape.txt &&
    test ! -e ../zip-escape.txt && test ! -e /tmp/mg-abs-escape.txt
  "
done

test_expect_success 'archive entry and size limits' '
  make_bad_archive many many.tar.gz &&
  expect_exit 3 model-fetch -q --max-entries 10 many.tar.gz o1 \
    </dev/null >out 2>err && must_contain err "more than 10 entries" &&
  make_bad_archive big big.tar.gz &&
  expect_exit 3 model-fetch -q --max-bytes 1000 big.tar.gz o2 \
    </dev/null >out 2>err && must_contain err "larger than 1000 bytes" &&
  model-fetch -q big.tar.gz o3 </dev/null >out && test -f o3/big
'

test_expect_success 'https file with the right --sha256' '
  sha=$(sha256sum "$W/static/weights.bin" | cut -d" " -f1) &&
  model-fetch -q --sha256 $sha "$hub_URL/files/weights.bin" w \
    </dev/null >rec.json &&
  cmp w/weights.bin "$W/static/weights.bin" &&
  test "$(json_get rec.json "d[\"model\"][\"files\"][0][\"verified_by\"]")" \
    = sha256
'

test_expect_success 'https file with a wrong --sha256 fails with 5, no file' '
  bad=0000000000000000000000000000000000000000000000000000000000000000 &&
  expect_exit 5 model-fetch -q --sha256 $bad "$hub_URL/files/weights.bin" \
    w </dev/null >out 2>err &&
  must_be_empty out && must_contain err "corrupt download" &&
  test ! -e w && test ! -e w.partial/weights.bin &&
  test ! -e w.partial/weights.bin.incomplete
'

test_expect_success 'https archive is downloaded and extracted' '
  model-fetch -q "$hub_URL/files/tiny.tar.gz" t </dev/null >rec.json &&
  digests "$W/tiny" >expect && digests t >actual &&
  test_cmp expect actual && test ! -e t/.mg-download
'

test_expect_success 'https 404 is a remote failure' '
  expect_exit 5 model-fetch -q "$hub_URL/files/none.bin" n \
    </dev/null >out 2>err &&
  must_be_empty out && must_contain err "HTTP 404"
'

test_expect_success 'hf:// fetch: listing, LFS sha256, git blob ids, commit' '
  model-fetch -q hf://org/tiny h </dev/null >rec.json &&
  digests "$W/tiny" >expect && digests h >actual && test_cmp expect actual &&
  record_digests rec.json >recorded && test_cmp expect recorded &&
  test "$(json_get rec.json "d[\"model\"][\"source\"][\"revision\"]")" \
    = $COMMIT &&
  test "$(json_get rec.json "d[\"model\"][\"source\"][\"requested_revision\"]")" \
    = main &&
  json_get rec.json "[f[\"verified_by\"] for f in d[\"model\"][\"files\"]]" \
    >by && must_contain by "sha256" && must_contain by "git-sha1" &&
  must_not_contain by "none"
'

test_expect_success 'hf:// pinned revision and patterns' '
  model-fetch -q --include "*.json" --include "tokenizer/" \
    --exclude "config.json" hf://org/tiny@$COMMIT p </dev/null >rec.json &&
  json_get rec.json "[f[\"path\"] for f in d[\"model\"][\"files\"]]" >paths &&
  echo "[\"tokenizer/vocab.txt\"]" >expect && test_cmp expect paths
'

test_expect_success 'hf:// unknown revision is reported' '
  expect_exit 5 model-fetch -q hf://org/tiny@nope r </dev/null >out 2>err &&
  must_be_empty out && must_contain err "revision .nope. not found"
'

test_expect_success 'hf:// missing repository is reported' '
  expect_exit 5 model-fetch -q hf://org/none r </dev/null >out 2>err &&
  must_contain err "repository .org/none. not found"
'

test_expect_success 'hf:// gated repository: 401 without a token' '
  expect_exit 5 model-fetch -q hf://org/gated g </dev/null >out 2>err &&
  must_be_empty out && must_contain err "gated repository" &&
  must_contain err "HF_TOKEN"
'

test_expect_success 'hf:// gated repository: 403 with a token not granted' '
  echo denied >tok &&
  expect_exit 5 model-fetch -q --token-file tok hf://org/gated g \
    </dev/null >out 2>err &&
  must_contain err "gated repository" && must_contain err "no access" &&
  must_not_contain err denied
'

test_expect_success 'hf:// gated repository with a good token; token never sent to the CDN' '
  : >"$hub_LOG" &&
  HF_TOKEN=good model-fetch -q hf://org/gated g </dev/null >rec.json &&
  test -f g/model.safetensors &&
  grep "^GET /cdn/" "$hub_LOG" >cdn && must_contain cdn "auth=no" &&
  must_not_contain cdn "auth=yes" &&
  grep "^GET /org/gated/resolve/" "$hub_LOG" >res &&
  must_contain res "auth=yes"
'

test_expect_success 'hf:// corrupted LFS file: exit 5, partial deleted, no destination' '
  expect_exit 5 model-fetch -q hf://org/bad b </dev/null >out 2>err &&
  must_be_empty out && must_contain err "corrupt download .model.safetensors." &&
  test ! -e b && test ! -e b.partial/model.safetensors.incomplete &&
  test ! -e b.partial/model.safetensors
'

test_expect_success 'hf:// corrupted small file fails its git blob id' '
  expect_exit 5 model-fetch -q hf://org/badsmall b </dev/null >out 2>err &&
  must_contain err "corrupt download .config.json.: git blob" && test ! -e b
'

test_expect_success 'hf:// dropped connection resumes with Range' '
  : >"$hub_LOG" &&
  model-fetch -q hf://org/drop d </dev/null >rec.json &&
  cmp d/model.safetensors "$W/tiny/model.safetensors" &&
  grep "GET /cdn/" "$hub_LOG" >cdn && must_contain cdn "range=bytes=[1-9]"
'

test_expect_success 'hf:// server that ignores Range: restart from zero' '
  : >"$hub_LOG" &&
  model-fetch -q hf://org/norange d </dev/null >rec.json &&
  cmp d/model.safetensors "$W/tiny/model.safetensors"
'

test_expect_success 'hf:// always-truncated responses fail after the retries' '
  expect_exit 5 model-fetch -q --retries 2 hf://org/short s \
    </dev/null >out 2>err &&
  must_be_empty out && must_contain err "model.safetensors" && test ! -e s
'

test_expect_success 'hf:// 503 is retried' '
  model-fetch -q hf://org/flaky f </dev/null >rec.json &&
  cmp f/config.json "$W/tiny/config.json"
'

test_expect_success 'an interrupted run is resumed by the next one' '
  mkdir -p r.partial &&
  head -c 5000 "$W/tiny/model.safetensors" \
    >r.partial/model.safetensors.incomplete &&
  : >"$hub_LOG" &&
  model-fetch -q hf://org/tiny r </dev/null >rec.json &&
  cmp r/model.safetensors "$W/tiny/model.safetensors" &&
  must_contain "$hub_LOG" "range=bytes=5000-" && test ! -e r.partial
'

test_expect_success 'a tampered partial file from an earlier run is caught' '
  mkdir -p r.partial &&
  head -c 5000 /dev/zero >r.partial/model.safetensors.incomplete &&
  expect_exit 5 model-fetch -q hf://org/tiny r </dev/null >out 2>err &&
  must_contain err "corrupt download" &&
  test ! -e r.partial/model.safetensors.incomplete &&
  model-fetch -q hf://org/tiny r </dev/null >rec.json &&
  cmp r/model.safetensors "$W/tiny/model.safetensors"
'

test_expect_success 'the token is never printed, even with -vv' '
  HF_TOKEN=good model-fetch -vv hf://org/gated v </dev/null >out 2>err &&
  must_contain err "Authorization: <redacted>" &&
  must_not_contain err "good"
'

# S3: a fake S3 server on loopback that verifies SigV4 signatures
# (tests/fixtures/model-fetch/s3_server.py).
S3_PY=$FIXTURES/model-fetch/s3_server.py
AKID=AKIAMODELGATETEST
SECRET=wJalrXUtnFEMI/K7MDENG/bPxRfiCYmodelgate
mkdir -p "$W/s3seed/org/tiny" "$W/s3plain" "$W/s3arch"
cp -r "$W/tiny/." "$W/s3seed/org/tiny/"
cp -r "$W/tiny/." "$W/s3plain/"
cp "$W/static/tiny.tar.gz" "$W/s3arch/"
# start_s3 FAULTS-JSON: starts the fake; sets S3_URL and S3_LOG.
start_s3() {
  cfg=$TRASH_ROOT/s3.json
  python3 - "$cfg" "$W" "$AKID" "$SECRET" "$1" <<'EOF'
import json, sys
cfg, w, akid, secret, faults = sys.argv[1:]
json.dump({"region": "eu-west-3",
           "keys": {akid: {"secret": secret},
                    "ASIATEMPORARY": {"secret": "tmpsecret",
                                      "token": "sess-tok-42"}},
           "buckets": {"models": {"dir": w + "/s3seed"},
                       "plain": {"dir": w + "/s3plain", "checksums": False},
                       "arch": {"dir": w + "/s3arch"},
                       "public-models": {"dir": w + "/s3plain"},
                       "upload": {}},
           "public": ["public-models"], "max_keys": 2,
           "faults": json.loads(faults)}, open(cfg, "w"))
EOF
  pf=$TRASH_ROOT/s3.port
  rm -f "$pf"
  : >"$TRASH_ROOT/s3.log"
  python3 "$S3_PY" "$cfg" "$pf" "$TRASH_ROOT/s3.log" 2>"$TRASH_ROOT/s3.err" &
  s3pid=$!
  at_exit "kill $s3pid 2>/dev/null; wait $s3pid 2>/dev/null"
  i=0
  while [ ! -s "$pf" ] && [ $i -lt 100 ]; do
    sleep 0.05
    i=$((i + 1))
  done
  [ -s "$pf" ] || { cat "$TRASH_ROOT/s3.err" >&2; return 1; }
  S3_URL=http://127.0.0.1:$(cat "$pf")
  S3_LOG=$TRASH_ROOT/s3.log
}
# s3env CMD...: runs CMD with the test credentials, region and endpoint.
s3env() {
  AWS_ACCESS_KEY_ID=$AKID AWS_SECRET_ACCESS_KEY=$SECRET AWS_REGION=eu-west-3 \
    AWS_ENDPOINT_URL=$S3_URL AWS_SHARED_CREDENTIALS_FILE=/nonexistent \
    AWS_CONFIG_FILE=/nonexistent "$@"
}
start_s3 '{"plain/README.md": {"corrupt": true},
  "public-models/model.safetensors": {"drop_once": true},
  "models/org/tiny/tokenizer/vocab.txt": {"multipart_etag": true}}'

test_expect_success 's3:// source: paged ListObjectsV2, SigV4, sha256 checksums' '
  : >"$S3_LOG" &&
  s3env model-fetch -q --exclude README.md s3://models/org/tiny s \
    </dev/null >rec.json &&
  digests "$W/tiny" | grep -v README.md >expect && digests s >actual &&
  test_cmp expect actual && record_digests rec.json >recorded &&
  test_cmp expect recorded &&
  test "$(json_get rec.json "d[\"model\"][\"source\"][\"kind\"]")" = s3 &&
  test "$(json_get rec.json "d[\"model\"][\"source\"][\"bucket\"]")" = models &&
  test "$(json_get rec.json "d[\"model\"][\"name\"]")" = tiny &&
  json_get rec.json "{f[\"path\"]: f[\"verified_by\"] for f in d[\"model\"][\"files\"]}" >by &&
  must_contain by "\"config.json\": \"sha256\"" &&
  must_contain by "\"model.safetensors\": \"sha256\"" &&
  must_contain by "\"tokenizer/vocab.txt\": \"none\"" &&
  must_contain "$S3_LOG" "continuation-token=" &&
  must_not_contain "$S3_LOG" "auth=(anonymous|rejected)"
'

test_expect_success 's3:// without checksums: the single-part ETag (MD5) is checked' '
  s3env model-fetch -q --exclude README.md s3://plain p </dev/null >rec.json &&
  json_get rec.json "sorted(set(f[\"verified_by\"] for f in d[\"model\"][\"files\"]))" \
    >by && echo "[\"md5-etag\"]" >expect && test_cmp expect by &&
  cmp p/model.safetensors "$W/tiny/model.safetensors"
'

test_expect_success 's3:// dropped connection resumes with Range' '
  : >"$S3_LOG" &&
  s3env model-fetch -q --include model.safetensors s3://public-models p \
    </dev/null >rec.json &&
  cmp p/model.safetensors "$W/tiny/model.safetensors" &&
  must_contain "$S3_LOG" "model.safetensors .*range=bytes=[1-9]"
'

test_expect_success 's3:// corrupt object (MD5 ETag mismatch) fails with 5' '
  expect_exit 5 s3env model-fetch -q --include README.md s3://plain c \
    </dev/null >out 2>err &&
  must_be_empty out && must_contain err "corrupt download .README.md.: md5" &&
  test ! -e c && test ! -e c.partial/README.md
'

test_expect_success 's3:// wrong secret: 403 SignatureDoesNotMatch, secret never shown' '
  expect_exit 5 env AWS_ACCESS_KEY_ID=$AKID AWS_SECRET_ACCESS_KEY=not-it \
    AWS_REGION=eu-west-3 AWS_ENDPOINT_URL=$S3_URL model-fetch -vv \
    s3://models/org/tiny w </dev/null >out 2>err &&
  must_be_empty out && must_contain err "403 SignatureDoesNotMatch" &&
  must_contain err "credentials" &&
  must_not_contain err "not-it" && test ! -e w &&
  must_contain "$S3_LOG" "auth=rejected:SignatureDoesNotMatch"
'

test_expect_success 's3:// unknown key, wrong region, bad names are reported' '
  expect_exit 5 env AWS_ACCESS_KEY_ID=AKIANOBODY AWS_SECRET_ACCESS_KEY=x \
    AWS_REGION=eu-west-3 AWS_ENDPOINT_URL=$S3_URL model-fetch -q \
    s3://models/org/tiny w </dev/null >out 2>err &&
  must_contain err "InvalidAccessKeyId" &&
  expect_exit 5 s3env model-fetch -q --s3-region us-east-1 \
    s3://models/org/tiny w </dev/null >out 2>err &&
  must_contain err "AuthorizationHeaderMalformed.*region" &&
  expect_exit 5 s3env model-fetch -q s3://nobucket/x w </dev/null >out 2>err &&
  must_contain err "NoSuchBucket" &&
  expect_exit 3 s3env model-fetch -q s3://models/none w </dev/null >out 2>err &&
  must_contain err "no objects below" &&
  expect_exit 2 s3env model-fetch -q s3://Bad_Bucket/x w </dev/null >out 2>err &&
  must_contain err "bad bucket name" && must_be_empty out
'

test_expect_success 's3:// temporary credentials: the session token is sent, never shown' '
  expect_exit 5 env AWS_ACCESS_KEY_ID=ASIATEMPORARY AWS_SECRET_ACCESS_KEY=tmpsecret \
    AWS_REGION=eu-west-3 AWS_ENDPOINT_URL=$S3_URL model-fetch -q \
    s3://public-models t </dev/null >out 2>err &&
  must_contain err "InvalidToken" &&
  env AWS_ACCESS_KEY_ID=ASIATEMPORARY AWS_SECRET_ACCESS_KEY=tmpsecret \
    AWS_SESSION_TOKEN=sess-tok-42 AWS_REGION=eu-west-3 \
    AWS_ENDPOINT_URL=$S3_URL model-fetch -vv --include config.json \
    s3://public-models t </dev/null >rec.json 2>err &&
  cmp t/config.json "$W/tiny/config.json" &&
  must_contain err "x-amz-security-token: <redacted>" &&
  must_not_contain err "sess-tok-42|tmpsecret"
'

test_expect_success 's3:// credentials and region from the AWS CLI files, a named profile' '
  printf "[default]\naws_access_key_id = wrong\naws_secret_access_key = wrong\n[ci]\naws_access_key_id = %s\naws_secret_access_key = %s\n" \
    "$AKID" "$SECRET" >credentials &&
  printf "[profile ci]\nregion = eu-west-3\n" >config &&
  env AWS_SHARED_CREDENTIALS_FILE=$PWD/credentials AWS_CONFIG_FILE=$PWD/config \
    AWS_PROFILE=ci model-fetch -q --s3-endpoint "$S3_URL" \
    --include config.json s3://models/org/tiny f </dev/null >rec.json &&
  cmp f/config.json "$W/tiny/config.json" &&
  test "$(json_get rec.json "d[\"model\"][\"source\"][\"region\"]")" = eu-west-3
'

test_expect_success 's3:// anonymous read of a public bucket; private ones refused' '
  env AWS_SHARED_CREDENTIALS_FILE=/nonexistent AWS_REGION=eu-west-3 \
    model-fetch -q --s3-endpoint "$S3_URL" --include config.json \
    s3://public-models a </dev/null >rec.json &&
  cmp a/config.json "$W/tiny/config.json" &&
  expect_exit 5 env AWS_SHARED_CREDENTIALS_FILE=/nonexistent \
    AWS_REGION=eu-west-3 model-fetch -q --s3-endpoint "$S3_URL" \
    s3://models/org/tiny b </dev/null >out 2>err &&
  must_contain err "403 AccessDenied"
'

test_expect_success 's3:// single archive object is downloaded and extracted' '
  s3env model-fetch -q s3://arch/tiny.tar.gz x </dev/null >rec.json &&
  digests "$W/tiny" >expect && digests x >actual && test_cmp expect actual
'

test_expect_success 's3:// destination: one object per file, sha256 checksum sent' '
  : >"$S3_LOG" &&
  s3env model-fetch -q "$W/tiny" s3://upload/models/tiny/v1/ </dev/null \
    >rec.json &&
  test "$(json_get rec.json "d[\"model\"][\"destination\"][\"uri\"]")" \
    = s3://upload/models/tiny/v1 &&
  test "$(json_get rec.json "d[\"model\"][\"destination\"][\"s3\"][\"objects\"]")" = 4 &&
  test "$(grep -c "^PUT /upload/models/tiny/v1/" "$S3_LOG")" = 4 &&
  s3env model-fetch -q s3://upload/models/tiny/v1 back </dev/null >r2.json &&
  digests "$W/tiny" >expect && digests back >actual && test_cmp expect actual &&
  json_get r2.json "sorted(set(f[\"verified_by\"] for f in d[\"model\"][\"files\"]))" \
    >by && echo "[\"sha256\"]" >expect && test_cmp expect by
'

test_expect_success 's3:// multipart upload of a large file, read back' '
  mkdir big && head -c 12000000 /dev/urandom >big/weights.bin &&
  : >"$S3_LOG" &&
  s3env model-fetch -q --s3-part-size 5242880 --s3-multipart-threshold 6000000 \
    big s3://upload/big </dev/null >rec.json &&
  test "$(json_get rec.json "d[\"model\"][\"destination\"][\"s3\"][\"multipart_objects\"]")" = 1 &&
  test "$(grep -c "partNumber=" "$S3_LOG")" = 3 &&
  s3env model-fetch -q s3://upload/big back </dev/null >r2.json &&
  cmp big/weights.bin back/weights.bin &&
  test "$(json_get r2.json "d[\"model\"][\"files\"][0][\"verified_by\"]")" = sha256
'

test_expect_success 'hf:// to s3:// in one step' '
  s3env model-fetch -q hf://org/tiny s3://upload/hub/tiny </dev/null >rec.json &&
  test "$(json_get rec.json "d[\"model\"][\"source\"][\"revision\"]")" \
    = $COMMIT &&
  test "$(json_get rec.json "d[\"model\"].get(\"path\", \"none\")")" = none &&
  s3env model-fetch -q s3://upload/hub/tiny back </dev/null >r2.json &&
  digests "$W/tiny" >expect && digests back >actual && test_cmp expect actual
'

# OCI: Debian's docker-registry on a loopback port.
REGISTRY_BIN=$(command -v docker-registry || echo /usr/bin/docker-registry)
# start_registry [NAME HTPASSWD]: a registry (with htpasswd Basic auth
# when HTPASSWD is given); sets REG, or NAME_REG.
start_registry() {
  [ -x "$REGISTRY_BIN" ] || return 1
  rname=${1:-registry}
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$TRASH_ROOT/$rname"
  cat >"$TRASH_ROOT/$rname.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $TRASH_ROOT/$rname
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOF
  if [ -n "${2:-}" ]; then
    printf "auth:\n  htpasswd:\n    realm: modelgate-test\n    path: %s\n" \
      "$2" >>"$TRASH_ROOT/$rname.yml"
  fi
  "$REGISTRY_BIN" serve "$TRASH_ROOT/$rname.yml" \
    >"$TRASH_ROOT/$rname.log" 2>&1 &
  rpid=$!
  at_exit "kill $rpid 2>/dev/null; wait $rpid 2>/dev/null"
  i=0
  while [ "$(curl -s -o /dev/null -w "%{http_code}" \
    "http://127.0.0.1:$port/v2/")" = 000 ]; do
    i=$((i + 1))
    [ $i -lt 100 ] || return 1
    sleep 0.05
  done
  if [ -n "${1:-}" ]; then
    eval "${1}_REG=127.0.0.1:$port"
  else
    REG=127.0.0.1:$port
  fi
}

# make_htpasswd USER PASSWORD FILE: a bcrypt line (cost 4, to keep the
# registry fast), with Apache's htpasswd when installed, else python3.
make_htpasswd() {
  if command -v htpasswd >/dev/null 2>&1; then
    htpasswd -Bbn -C 4 "$1" "$2" >"$3"
  else
    python3 -W ignore -c 'import crypt, sys
print("%s:%s" % (sys.argv[1], crypt.crypt(sys.argv[2],
      crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))))' "$1" "$2" >"$3"
  fi
}

# A missing docker-registry is a skip; one that is installed but does not
# start is a failure, never a silent skip.
if [ ! -x "$REGISTRY_BIN" ]; then
  reg_state=missing
elif start_registry; then
  reg_state=up
else
  reg_state=down
fi
if [ "$reg_state" = up ]; then
  test_expect_success 'oci push: modelcar image, one tar layer per file under /models' '
    model-fetch -q "$W/tiny" oci://$REG/models/tiny:v1 </dev/null >rec.json &&
    uri=$(json_get rec.json "d[\"model\"][\"destination\"][\"uri\"]") &&
    case $uri in oci://$REG/models/tiny@sha256:*) ;; *) false ;; esac &&
    curl -sf -H "Accept: application/vnd.oci.image.manifest.v1+json" \
      http://$REG/v2/models/tiny/manifests/v1 >man.json &&
    test "$(json_get man.json "len(d[\"layers\"])")" = 4 &&
    json_get man.json "[l[\"mediaType\"] for l in d[\"layers\"]]" >types &&
    echo "[\"application/vnd.oci.image.layer.v1.tar\", \"application/vnd.oci.image.layer.v1.tar\", \"application/vnd.oci.image.layer.v1.tar\", \"application/vnd.oci.image.layer.v1.tar+gzip\"]" \
      >expect && test_cmp expect types &&
    digest=$(json_get man.json "d[\"layers\"][0][\"digest\"]") &&
    curl -sf http://$REG/v2/models/tiny/blobs/$digest >layer.tar &&
    tar tvf layer.tar >list && must_contain list " models/" &&
    must_contain list "root/root|0/0" &&
    test "sha256:$(sha256sum <man.json | cut -d" " -f1)" = "${uri#*@}"
  '

  test_expect_success 'oci push: the model card is the last layer, tar+gzip, annotated' '
    curl -sf -H "Accept: application/vnd.oci.image.manifest.v1+json" \
      http://$REG/v2/models/tiny/manifests/v1 >man.json &&
    card=$(json_get man.json "d[\"layers\"][-1][\"digest\"]") &&
    test "$(json_get man.json "d[\"layers\"][-1][\"annotations\"][\"io.opendatahub.modelcar.layer.type\"]")" = modelcard &&
    test "$(json_get man.json "d[\"annotations\"][\"io.opendatahub.layers.modelcard\"]")" = "$card" &&
    curl -sf http://$REG/v2/models/tiny/blobs/$card >card.tgz &&
    tar tzvf card.tgz >list && must_contain list "models/README.md" &&
    cfg=$(json_get man.json "d[\"config\"][\"digest\"]") &&
    curl -sf http://$REG/v2/models/tiny/blobs/$cfg >cfg.json &&
    gunzip -c card.tgz >card.tar &&
    test "$(json_get cfg.json "d[\"rootfs\"][\"diff_ids\"][-1]")" = \
      "sha256:$(sha256sum <card.tar | cut -d" " -f1)"
  '

  test_expect_success 'oci pull gives back the same files and digests' '
    model-fetch -q oci://$REG/models/tiny:v1 back </dev/null >rec.json &&
    digests "$W/tiny" >expect && digests back >actual &&
    test_cmp expect actual &&
    record_digests rec.json >recorded && test_cmp expect recorded &&
    json_get rec.json "d[\"model\"][\"source\"][\"revision\"]" >rev &&
    must_contain rev "^sha256:"
  '

  test_expect_success 'oci pull by digest' '
    model-fetch -q "$W/tiny" oci://$REG/models/tiny:v2 </dev/null >rec.json &&
    uri=$(json_get rec.json "d[\"model\"][\"destination\"][\"uri\"]") &&
    model-fetch -q "$uri" back </dev/null >rec2.json &&
    digests "$W/tiny" >expect && digests back >actual && test_cmp expect actual
  '

  test_expect_success 'oci push in chunks (PATCH, Content-Range) reads back the same' '
    : >"$TRASH_ROOT/registry.log" &&
    model-fetch -q --oci-chunk-size 4096 "$W/tiny" oci://$REG/models/chunked:1 \
      </dev/null >rec.json &&
    test "$(json_get rec.json "d[\"model\"][\"destination\"][\"oci\"][\"chunked_uploads\"] >= 1")" = True &&
    test "$(grep -a -c "\"PATCH /v2/models/chunked/blobs/uploads/" \
      "$TRASH_ROOT/registry.log")" -ge 4 &&
    model-fetch -q oci://$REG/models/chunked:1 back </dev/null >r2.json &&
    digests "$W/tiny" >expect && digests back >actual && test_cmp expect actual
  '

  test_expect_success 'oci push skips blobs the registry already has' '
    model-fetch -q "$W/tiny" oci://$REG/models/tiny:v3 </dev/null >rec.json &&
    test "$(json_get rec.json "d[\"model\"][\"destination\"][\"oci\"][\"blobs_skipped\"]")" = 4
  '

  test_expect_success 'oci push on a base image in the same registry' '
    make_model base && echo "#!/bin/sh" >base/sh &&
    model-fetch -q base oci://$REG/library/base:1 </dev/null >b.json &&
    model-fetch -q --base oci://$REG/library/base:1 "$W/tiny" \
      oci://$REG/models/onbase:1 </dev/null >rec.json &&
    curl -sf -H "Accept: application/vnd.oci.image.manifest.v1+json" \
      http://$REG/v2/models/onbase/manifests/1 >man.json &&
    test "$(json_get man.json "len(d[\"layers\"])")" = 9 &&
    cfg=$(json_get man.json "d[\"config\"][\"digest\"]") &&
    curl -sf http://$REG/v2/models/onbase/blobs/$cfg >cfg.json &&
    test "$(json_get cfg.json "len(d[\"rootfs\"][\"diff_ids\"])")" = 9
  '

  test_expect_success 'hf:// to oci:// in one step' '
    model-fetch -q hf://org/tiny oci://$REG/models/fromhub:1 \
      </dev/null >rec.json &&
    model-fetch -q oci://$REG/models/fromhub:1 back </dev/null >r2.json &&
    digests "$W/tiny" >expect && digests back >actual && test_cmp expect actual
  '

  test_expect_success 'oci: a missing image and a missing tag fail with 5' '
    expect_exit 5 model-fetch -q oci://$REG/models/none:1 x \
      </dev/null >out 2>err && must_be_empty out &&
    must_contain err "MANIFEST_UNKNOWN|NAME_UNKNOWN|404"
  '

  test_expect_success 'oci: a tampered layer blob is caught' '
    model-fetch -q "$W/tiny" oci://$REG/models/tamper:1 </dev/null >rec.json &&
    curl -sf -H "Accept: application/vnd.oci.image.manifest.v1+json" \
      http://$REG/v2/models/tamper/manifests/1 >man.json &&
    d=$(json_get man.json "d[\"layers\"][0][\"digest\"]") && hex=${d#sha256:} &&
    blob=$TRASH_ROOT/registry/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data &&
    cp "$blob" saved && chmod u+w "$blob" &&
    printf X | dd of="$blob" bs=1 seek=600 conv=notrunc 2>/dev/null &&
    expect_exit 5 model-fetch -q oci://$REG/models/tamper:1 x \
      </dev/null >out 2>err; rc=$?; cp saved "$blob";
    test $rc = 0 && must_contain err "corrupt blob" && test ! -e x
  '

  test_expect_success 'oci: invalid references are usage errors' '
    expect_exit 2 model-fetch -q "$W/tiny" "oci://$REG/Bad Name:1" \
      </dev/null >out 2>err && must_contain err "invalid image reference"
  '
  make_htpasswd alice "pw-$$-secret" "$TRASH_ROOT/htpasswd"
  if start_registry authreg "$TRASH_ROOT/htpasswd"; then
    test_expect_success 'oci with htpasswd Basic auth: no or wrong credentials fail' '
      expect_exit 5 model-fetch -q "$W/tiny" oci://$authreg_REG/models/a:1 \
        </dev/null >out 2>err &&
      must_be_empty out && must_contain err "needs credentials" &&
      echo "alice:wrong" >bad &&
      expect_exit 5 model-fetch -q --oci-auth-file bad "$W/tiny" \
        oci://$authreg_REG/models/a:1 </dev/null >out 2>err &&
      must_contain err "401.*refused the credentials" &&
      must_not_contain err "wrong"
    '

    test_expect_success 'oci with htpasswd Basic auth: push and pull back' '
      echo "alice:pw-$$-secret" >auth &&
      model-fetch -vv --oci-auth-file auth "$W/tiny" \
        oci://$authreg_REG/models/a:1 </dev/null >rec.json 2>err &&
      must_contain err "Authorization: <redacted>" &&
      must_not_contain err "pw-$$-secret|YWxpY2U6" &&
      model-fetch -q --oci-auth-file auth oci://$authreg_REG/models/a:1 back \
        </dev/null >r2.json &&
      digests "$W/tiny" >expect && digests back >actual && test_cmp expect actual
    '
  else
    test_expect_success 'docker-registry with htpasswd auth starts' '
      cat "$TRASH_ROOT/authreg.log" >&2; false
    '
  fi
elif [ "$reg_state" = down ]; then
  test_expect_success 'docker-registry starts on loopback' '
    cat "$TRASH_ROOT/registry.log" >&2; false
  '
else
  test_skip 'oci:// against a real registry' "docker-registry is not installed"
fi

test_expect_success 'storing a fetched copy keeps the model name and its original source' '
  cp -r "$W/tiny" upstream-model &&
  model-fetch -q upstream-model fetched </dev/null >r1.json &&
  model-fetch -q -i r1.json fetched stored </dev/null >r2.json &&
  test "$(json_get r2.json "d[\"model\"][\"source\"][\"uri\"]")" = upstream-model &&
  test "$(json_get r2.json "d[\"model\"][\"name\"]")" = upstream-model &&
  test "$(json_get r2.json "d[\"model\"][\"path\"]")" = "$PWD/stored" &&
  echo changed >>fetched/config.json &&
  model-fetch -q -i r1.json fetched stored2 </dev/null >r3.json &&
  test "$(json_get r3.json "d[\"model\"][\"source\"][\"uri\"]")" = fetched
'

# The built-in tasks' datasets (issue 12 item 18): small files in the
# upstream layouts (hendrycks data.tar, GSM8K JSONL, AI2's ARC zip, rowanz
# HellaSwag JSONL) served over HTTPS on loopback, a manifest pointing at
# them, and eval-run reading the result as its --data-dir.
ER=$FIXTURES/eval-run/data
make_upstream() {
  u=$1 && mkdir -p "$u/src/data/dev" "$u/src/data/test" "$u/src/data/val" \
    "$u/src/ARC-V1-Feb2018-2/ARC-Easy" "$u/src/ARC-V1-Feb2018-2/ARC-Challenge" \
    "$u/www/arc" "$u/www/gsm" "$u/www/hs" &&
  for sp in dev test val; do
    head -5 "$SHARED/data/mmlu/$sp/jurisprudence_$sp.csv" \
      >"$u/src/data/$sp/jurisprudence_$sp.csv" || return 1
  done &&
  (cd "$u/src" && tar cf ../www/data.tar data) &&
  head -6 "$SHARED/data/gsm8k/test.jsonl" >"$u/www/gsm/test.jsonl" &&
  sed -n "100,120p" "$SHARED/data/gsm8k/test.jsonl" >"$u/www/gsm/train.jsonl" &&
  cp "$ER/arc/ARC-Easy/"* "$u/src/ARC-V1-Feb2018-2/ARC-Easy/" &&
  cp "$ER/arc/ARC-Challenge/"* "$u/src/ARC-V1-Feb2018-2/ARC-Challenge/" &&
  (cd "$u/src" && python3 -c "import shutil; shutil.make_archive(\"../www/arc/ARC-V1-Feb2018\", \"zip\", \".\", \"ARC-V1-Feb2018-2\")") &&
  cp "$ER/hellaswag/hellaswag_val.jsonl" "$u/www/hs/" &&
  head -3 "$ER/hellaswag/hellaswag_val.jsonl" >"$u/www/hs/hellaswag_train.jsonl"
}

# write_manifest URL WWW OUT: the manifest of those files at URL.
write_manifest() {
  python3 - "$1" "$2" "$3" <<'PYEOF'
import hashlib, json, os, sys
url, www, out = sys.argv[1:4]
def f(rel, dest, lic, extract=False):
    p = os.path.join(www, rel)
    e = {"url": url + "/" + rel,
         "sha256": hashlib.sha256(open(p, "rb").read()).hexdigest(),
         "bytes": os.path.getsize(p), "license": lic, "dest": dest}
    if extract:
        e["extract"] = True
    return e
m = {"schema": "modelgate.dataset-manifest/v1", "datasets": [
    {"name": "mmlu", "files": [f("data.tar", "mmlu", "MIT", True)]},
    {"name": "gsm8k", "files": [f("gsm/test.jsonl", "gsm8k", "MIT"),
                                f("gsm/train.jsonl", "gsm8k", "MIT")]},
    {"name": "arc", "files": [f("arc/ARC-V1-Feb2018.zip", "arc", "CC BY-SA 4.0", True)]},
    {"name": "hellaswag", "files": [f("hs/hellaswag_val.jsonl", "hellaswag", "MIT"),
                                    f("hs/hellaswag_train.jsonl", "hellaswag", "MIT")]}]}
json.dump(m, open(out, "w"), indent=1)
PYEOF
}

test_expect_success 'the built-in dataset manifest pins URL, sha256 and license' '
  model-fetch --dataset list >m.json &&
  python3 - m.json <<-\EOF
	import json, re, sys
	m = json.load(open(sys.argv[1]))
	assert m["schema"] == "modelgate.dataset-manifest/v1"
	names = [d["name"] for d in m["datasets"]]
	assert names == ["mmlu", "gsm8k", "arc", "hellaswag"], names
	pins = {f["url"].rsplit("/", 1)[1]: f["sha256"] for d in m["datasets"] for f in d["files"]}
	assert pins["data.tar"] == "bec563ba4bac1d6aaf04141cd7d1605d7a5ca833e38f994051e818489592989b"
	assert pins["test.jsonl"] == "3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14"
	for d in m["datasets"]:
	    for f in d["files"]:
	        assert f["url"].startswith("https://") and f["license"], f
	        assert re.fullmatch("[0-9a-f]{64}", f["sha256"]), f
	EOF
'

DS=$TRASH_ROOT/datasets
mkdir -p "$DS"
if make_test_ca "$DS/ca" >/dev/null 2>&1 && make_upstream "$DS/up"; then
  (python3 "$FIXTURES/model-fetch/tls_static.py" "$DS/up/www" \
    "$DS/ca/server.pem" "$DS/ca/server.key" "$DS/tls.port" &
   echo $! >"$DS/tls.pid")
  kill_at_exit "$(cat "$DS/tls.pid")"
  while [ ! -s "$DS/tls.port" ]; do sleep 0.05; done
  DS_URL=https://127.0.0.1:$(cat "$DS/tls.port")
  write_manifest "$DS_URL" "$DS/up/www" "$DS/man.json"
fi

test_expect_success 'model-fetch --dataset: upstream layouts over HTTPS into eval-run'"'"'s data dir' '
  model-fetch -q --dataset all --manifest "$DS/man.json" \
    --cacert "$DS/ca/ca.pem" mirror </dev/null >rec.json &&
  test -f mirror/mmlu/test/jurisprudence_test.csv &&
  test -f mirror/mmlu/dev/jurisprudence_dev.csv &&
  cmp mirror/gsm8k/test.jsonl "$DS/up/www/gsm/test.jsonl" &&
  test -f mirror/arc/ARC-Easy/ARC-Easy-Test.jsonl &&
  test -f mirror/hellaswag/hellaswag_val.jsonl &&
  test -z "$(ls -a mirror | grep modelgate-part)" &&
  python3 - rec.json <<-\EOF &&
	import json, sys
	d = json.load(open(sys.argv[1]))["datasets"]
	got = [(x["name"], len(x["files"]), x["files"][0]["license"]) for x in d["datasets"]]
	assert got == [("mmlu", 1, "MIT"), ("gsm8k", 2, "MIT"),
	               ("arc", 1, "CC BY-SA 4.0"), ("hellaswag", 2, "MIT")], got
	assert all(len(f["sha256"]) == 64 for x in d["datasets"] for f in x["files"])
	assert d["dir"].endswith("/mirror")
	EOF
  eval-run --tasks mmlu_jurisprudence,gsm8k,arc_easy,arc_challenge,hellaswag \
    --data-dir mirror --write-answer-key key.jsonl 2>err &&
  test "$(grep -c mmlu_jurisprudence key.jsonl)" = 5 &&
  test "$(grep -c "\"gsm8k\"" key.jsonl)" = 6 &&
  grep -q arc_easy key.jsonl && grep -q hellaswag key.jsonl &&
  model-fetch -q --dataset gsm8k,mmlu --manifest "$DS/man.json" \
    --cacert "$DS/ca/ca.pem" mirror </dev/null >rec2.json &&
  json_get rec2.json "[f.get(\"already_present\") for d in d[\"datasets\"][\"datasets\"] for f in d[\"files\"]]" >again &&
  must_contain again "true, true, true"
'

test_expect_success 'model-fetch --dataset refuses bad bytes, bad TLS, bad manifests' '
  sed "s/\"sha256\": \"[0-9a-f]*\"/\"sha256\": \"$(printf %064d 0)\"/" \
    "$DS/man.json" >bad.json &&
  expect_exit 5 model-fetch -q --dataset gsm8k --manifest bad.json \
    --cacert "$DS/ca/ca.pem" m2 </dev/null >out 2>err &&
  must_be_empty out && must_contain err "dataset .gsm8k.: .*corrupt download" &&
  test ! -e m2/gsm8k/test.jsonl &&
  expect_exit 5 model-fetch -q --dataset gsm8k --manifest "$DS/man.json" m3 \
    </dev/null >out 2>err && must_be_empty out &&
  test ! -e m3/gsm8k/test.jsonl &&
  expect_exit 2 model-fetch -q --dataset nosuch --manifest "$DS/man.json" m4 \
    </dev/null 2>err && must_contain err "unknown dataset .nosuch." &&
  echo "{\"schema\": \"modelgate.dataset-manifest/v1\", \"datasets\": [{\"name\": \"x\", \"files\": [{\"url\": \"$DS_URL/x\", \"sha256\": \"$(printf %064d 0)\", \"license\": \"MIT\", \"dest\": \"../up\"}]}]}" >evil.json &&
  expect_exit 3 model-fetch -q --dataset x --manifest evil.json m5 </dev/null 2>err &&
  must_contain err "malformed dataset manifest .evil.json.: dataset .x. file 0: .dest." &&
  expect_exit 2 model-fetch --manifest "$DS/man.json" src dst 2>err &&
  must_contain err "goes with --dataset"
'

test_done
