# Shell test harness, in the manner of git's t/test-lib.sh.
#
#   . "$(dirname "$0")/../lib.sh"
#   test_expect_success 'title' '
#       cmd && cmd >actual && test_cmp expect actual
#   '
#   test_done
#
# Each case runs in a fresh scratch directory under the build tree, in a
# subshell, with the built tools first on PATH. Output is TAP.

set -u
: "${MG_TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${MG_BUILD:=$MG_TOP/build}"
SHARED=${MG_SHARED:-$MG_TOP/../shared}
FIXTURES=$MG_TOP/tests/fixtures
PATH=$MG_BUILD/bin:$PATH
export PATH SHARED FIXTURES MG_TOP MG_BUILD
unset HF_TOKEN OPENAI_API_KEY MG_API_KEY NO_COLOR 2>/dev/null

suite=$(basename "$0" .sh)
TRASH_ROOT=$MG_BUILD/trash/$suite
rm -rf "$TRASH_ROOT"
mkdir -p "$TRASH_ROOT"
test_count=0
test_failed=0
_cleanups=

# Registers a command to run when the suite ends (stop servers). Works at
# the top level of a suite; inside a test body (a subshell) use
# kill_at_exit, which also reaches the suite's EXIT trap.
at_exit() {
  _cleanups="$1; $_cleanups"
}
_pidfile=$TRASH_ROOT/.pids
: >"$_pidfile"
# kill_at_exit PID: the process is killed when the suite ends, even when
# this is called from inside a test body.
kill_at_exit() {
  echo "$1" >>"$_pidfile"
}
_kill_listed() {
  while read -r p; do
    kill "$p" 2>/dev/null
  done <"$_pidfile"
  while read -r p; do
    while kill -0 "$p" 2>/dev/null; do sleep 0.05; done
  done <"$_pidfile"
}
trap 'eval "$_cleanups"; _kill_listed' EXIT

test_expect_success() {
  test_count=$((test_count + 1))
  dir=$TRASH_ROOT/$test_count
  mkdir -p "$dir"
  if (cd "$dir" && eval "$2") >"$dir/.out" 2>&1; then
    echo "ok $test_count - $1"
  else
    test_failed=$((test_failed + 1))
    echo "not ok $test_count - $1"
    sed 's/^/#   /' "$dir/.out" | tail -40
  fi
}

# test_skip TITLE REASON: a case that cannot run on this machine. Printed
# as a TAP skip, "ok N - TITLE # SKIP REASON"; tests/run counts it as
# skipped (not passed) and lists the reason. Use it only for a missing
# tool or privilege, never to detect whether a feature of ours exists.
test_skip() {
  test_count=$((test_count + 1))
  echo "ok $test_count - $1 # SKIP $2"
}

test_done() {
  echo "1..$test_count"
  [ "$test_failed" -eq 0 ]
}

# expect_exit CODE CMD...: runs CMD, fails unless it exits with CODE.
expect_exit() {
  want=$1
  shift
  "$@"
  got=$?
  if [ "$got" -ne "$want" ]; then
    echo "expected exit $want, got $got: $*" >&2
    return 1
  fi
  return 0
}

test_cmp() {
  diff -u "$1" "$2"
}

# must_contain FILE PATTERN: grep -E, with the file shown on failure.
must_contain() {
  if ! grep -E -q -- "$2" "$1"; then
    echo "'$1' does not contain /$2/:" >&2
    sed 's/^/| /' "$1" | head -20 >&2
    return 1
  fi
}

must_not_contain() {
  if grep -E -q -- "$2" "$1"; then
    echo "'$1' unexpectedly contains /$2/:" >&2
    grep -E -- "$2" "$1" | head -5 >&2
    return 1
  fi
}

must_be_empty() {
  if [ -s "$1" ]; then
    echo "'$1' is not empty:" >&2
    head -5 "$1" >&2
    return 1
  fi
}

# json_get FILE EXPR: prints a value from a JSON file with python3's json
# module when present, else fails. Used only to read results, never to
# produce them.
json_get() {
  python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
v=eval(sys.argv[2],{"d":d})
print(json.dumps(v) if isinstance(v,(dict,list)) else v)' "$1" "$2"
}

# start_mock NAME [ARGS...]: starts mock-llm on a free loopback port, waits
# until it answers /health, and sets NAME_URL (base URL) and NAME_PID.
start_mock() {
  name=$1
  shift
  pf=$TRASH_ROOT/$name.port
  rm -f "$pf"
  mock-llm --host 127.0.0.1 --port 0 --port-file "$pf" -q "$@" \
    2>"$TRASH_ROOT/$name.log" &
  pid=$!
  i=0
  while [ ! -s "$pf" ] && [ $i -lt 200 ]; do
    sleep 0.05
    i=$((i + 1))
  done
  if [ ! -s "$pf" ]; then
    echo "mock-llm did not start:" >&2
    cat "$TRASH_ROOT/$name.log" >&2
    return 1
  fi
  eval "${name}_URL=http://127.0.0.1:$(cat "$pf")"
  eval "${name}_PID=$pid"
  kill_at_exit "$pid"
}

# The negative tests every tool gets (STYLE.md rule 46). Usage:
#   common_negative_tests TOOL [ARGS that make it read a record]
common_negative_tests() {
  tool=$1
  shift
  test_expect_success "$tool: unknown option exits 2" "
    expect_exit 2 $tool --no-such-option >out 2>err &&
    must_be_empty out &&
    must_contain err '^$tool: error: ' &&
    must_contain err \"Try '$tool --help'\"
  "
  test_expect_success "$tool: --help prints usage on stdout and exits 0" "
    expect_exit 0 $tool --help >out 2>err &&
    must_contain out '^usage: $tool' &&
    must_be_empty err
  "
  test_expect_success "$tool: --version exits 0" "
    expect_exit 0 $tool --version >out &&
    must_contain out '^$tool \\(modelgate\\) '
  "
  test_expect_success "$tool: the standard options (mg_cli) are all there" "
    expect_exit 0 $tool --help >out &&
    for o in --input --output --max-input --pretty --quiet --verbose \\
      --help --version; do
      must_contain out \"\$o\" || return 1
    done &&
    expect_exit 2 $tool --max-input 0 >out 2>err &&
    must_contain err \"invalid value '0' for --max-input\" &&
    expect_exit 0 $tool -q -v -v --pretty --max-input 1024 --version >out &&
    must_contain out '^$tool \\(modelgate\\) '
  "
  test_expect_success "$tool: --help to /dev/full exits 4" "
    expect_exit 4 $tool --help >/dev/full 2>err &&
    must_contain err 'cannot write'
  "
}

# make_test_ca DIR: a throwaway CA (DIR/ca.pem) and a server certificate
# for 127.0.0.1 it signed (DIR/server.pem, key DIR/server.key), made with
# the openssl command at run time; nothing is kept. Fails without openssl.
make_test_ca() {
  d=$1
  mkdir -p "$d" &&
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -keyout "$d/ca.key" -out "$d/ca.pem" -days 1 -subj /CN=mg-test-ca \
      2>"$d/openssl.log" &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -keyout "$d/server.key" -out "$d/server.csr" -subj /CN=127.0.0.1 \
      2>>"$d/openssl.log" &&
    printf 'subjectAltName=IP:127.0.0.1\n' >"$d/server.ext" &&
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" \
      -CAkey "$d/ca.key" -CAcreateserial -out "$d/server.pem" -days 1 \
      -extfile "$d/server.ext" 2>>"$d/openssl.log" || {
    cat "$d/openssl.log" >&2
    return 1
  }
}

# start_mock_tls NAME CERT KEY [ARGS...]: start_mock serving HTTPS with
# that certificate and key; NAME_URL is https://127.0.0.1:PORT.
start_mock_tls() {
  _tls_name=$1
  _tls_cert=$2
  _tls_key=$3
  shift 3
  start_mock "$_tls_name" --tls-cert "$_tls_cert" --tls-key "$_tls_key" \
    "$@" || return 1
  eval "_tls_url=\$${_tls_name}_URL"
  eval "${_tls_name}_URL=https://${_tls_url#http://}"
}
