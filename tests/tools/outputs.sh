#!/bin/bash
# Issue 14 F1: outputs replace only a regular file or a missing path. A
# symlink is kept (its target is replaced atomically); a device, a FIFO and
# /dev/stdout are written straight through, as the shell's '>' does.
. "$(dirname "$0")/../lib.sh"

REC=$FIXTURES/results-merge/baseline.json

test_expect_success '-o and --html through a symlink keep the link' '
  echo old >target.json && ln -s target.json link.json &&
  echo old >page.html && ln -s page.html link.html &&
  results-merge -o link.json --html link.html "$REC" &&
  test -L link.json && test -L link.html &&
  test "$(readlink link.json)" = target.json &&
  must_contain target.json "\"schema\"" && must_contain page.html "<html" &&
  test "$(ls -a | grep -c "\.tmp\.")" = 0
'

test_expect_success '-o to a FIFO writes through; the FIFO stays' '
  mkfifo fifo &&
  { cat fifo >got & } &&
  results-merge -o fifo "$REC" && wait &&
  test -p fifo && must_contain got "\"schema\""
'

test_expect_success '-o to a character device leaves a character device' '
  if ! mknod null c 1 3 2>mknod.err; then
    echo "SKIP: mknod: $(cat mknod.err) (needs root)" >&3
    exit 0
  fi &&
  results-merge -o null --html null "$REC" &&
  test -c null && test ! -f null &&
  ln -s null to-null && results-merge -o to-null "$REC" &&
  test -c null && test -L to-null
' 3>&1

test_expect_success '-o /dev/stdout reaches stdout' '
  results-merge -o /dev/stdout "$REC" >out &&
  test -c /dev/null && test -L /dev/stdout &&
  must_contain out "\"schema\"" &&
  results-merge -o /dev/stdout "$REC" | cat >piped &&
  must_contain piped "\"schema\""
'

test_expect_success 'a directory is refused with exit 4, nothing replaced' '
  mkdir d && expect_exit 4 results-merge -o d "$REC" 2>err &&
  test -d d && must_contain err "cannot create .d.: Is a directory"
'

test_done
