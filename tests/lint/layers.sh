#!/bin/bash
# scripts/check-layers and scripts/check-names: each planted violation of
# docs/layout.md's rules is caught, named by file and line, and fails.
. "$(dirname "$0")/../lib.sh"

CL=$MG_TOP/scripts/check-layers
CN=$MG_TOP/scripts/check-names

# copy_tree DIR: the include-bearing parts of the tree, to plant errors in.
copy_tree() {
  mkdir -p "$1" && cp -r "$MG_TOP/lib" "$MG_TOP/tools" "$1/"
}

# plant FILE LINE: appends an include line to a copy of the tree.
plant() {
  printf '%s\n' "$2" >>"t/$1"
}

test_expect_success 'the tree as it is passes' '
  copy_tree t &&
  "$CL" t >out 2>&1 || { cat out; false; }
'

test_expect_success 'py/ may not include perf/' '
  copy_tree t && plant lib/py/mg_pv.c "#include \"perf/mg_perf_sched.h\"" &&
  expect_exit 1 "$CL" t >out &&
  must_contain out "^lib/py/mg_pv.c:[0-9]+: error: .perf/mg_perf_sched.h. is not allowed in py"
'

test_expect_success 'core may not include an engine' '
  copy_tree t && plant lib/mg_json.c "#include \"tok/mg_tok.h\"" &&
  expect_exit 1 "$CL" t >out &&
  must_contain out "^lib/mg_json.c:[0-9]+: error: .tok/mg_tok.h. is not allowed in core"
'

test_expect_success 'publish may include only the formula headers of perf and eval' '
  copy_tree t && plant lib/publish/mg_report.c "#include \"eval/mg_task.h\"" &&
  plant lib/publish/mg_report.c "#include \"perf/mg_perf_bench.h\"" &&
  expect_exit 1 "$CL" t >out &&
  must_contain out "mg_report.c:[0-9]+: error: .eval/mg_task.h. is not allowed in publish" &&
  must_contain out "mg_report.c:[0-9]+: error: .perf/mg_perf_bench.h. is not allowed in publish" &&
  copy_tree u &&
  printf "#include \"perf/mg_perf_metrics.h\"\n" >>u/lib/publish/mg_report.c &&
  "$CL" u >out2 && must_not_contain out2 mg_report.c
'

test_expect_success 'a same-directory include without its folder is refused' '
  copy_tree t && plant lib/perf/mg_perf_bench.c "#include \"mg_perf_sse.h\"" &&
  expect_exit 1 "$CL" t >out &&
  must_contain out "mg_perf_bench.c:[0-9]+: error: .mg_perf_sse.h. is not a lib header by that spelling"
'

test_expect_success 'a private *_int.h stays in its folder' '
  copy_tree t && plant tools/perf-run.c "#include \"tok/mg_tok_int.h\"" &&
  plant lib/eval/mg_eval.c "#include \"tok/mg_tok_int.h\"" &&
  expect_exit 1 "$CL" t >out &&
  must_contain out "^tools/perf-run.c:[0-9]+: error: .tok/mg_tok_int.h. is private to lib/tok/" &&
  must_contain out "^lib/eval/mg_eval.c:[0-9]+: error: .tok/mg_tok_int.h. is private to lib/tok/"
'

test_expect_success 'check-names: an export without its file prefix is named' '
  mkdir -p o/perf &&
  printf "int mg_perf_x_ok(void) { return 0; }\nint mg_perf_y(void) { return 1; }\nint mg_die(void) { return 2; }\n" >x.c &&
  cc -c -o o/perf/mg_perf_x.o x.c &&
  expect_exit 1 "$CN" o >out &&
  must_contain out "mg_perf_x.o: error: .mg_perf_y. does not carry the prefix .mg_perf_x_." &&
  must_contain out "mg_perf_x.o: error: .mg_die. does not carry" &&
  must_not_contain out "mg_perf_x_ok"
'

test_expect_success 'check-names: the built library passes' '
  "$CN" "$MG_BUILD/lib"
'

test_done
