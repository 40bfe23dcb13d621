#!/bin/bash
# perf-run --tokenize / --detokenize: the command-line face of the
# tokenizer (lib/tok/mg_tok_proc.c) with a local tokenizer and with a server.
. "$(dirname "$0")/../lib.sh"

T=$SHARED/data/tokenizers

test_expect_success 'tokenize with a model directory, special tokens on' '
  printf "Hello world" >in &&
  perf-run --tokenize --processor "$T/llama" --add-special-tokens <in >out &&
  echo "{\"ids\":[1,15043,3186],\"count\":3}" >expect &&
  test_cmp expect out
'

test_expect_success 'tokenize without special tokens, from -i' '
  printf "Hello world" >in &&
  perf-run --tokenize --processor "$T/llama" -i in >out &&
  echo "{\"ids\":[15043,3186],\"count\":2}" >expect &&
  test_cmp expect out
'

test_expect_success 'tokenize with a tokenizer.json file, to -o' '
  printf "Hello world" >in &&
  perf-run --tokenize --processor "$T/gpt2/tokenizer.json" -i in -o out &&
  echo "{\"ids\":[15496,995],\"count\":2}" >expect &&
  test_cmp expect out
'

test_expect_success 'every shared tokenizer gives the golden ids' '
  for t in gpt2 phi-2 falcon smollm-135m llama phi-3-mini bert-base-uncased; do
    head -n 40 "$T/$t/golden.jsonl" | tail -n 1 >line &&
    json_get line "d[\"text\"]" | head -c -1 >text &&
    json_get line "{\"ids\": d[\"ids\"], \"count\": len(d[\"ids\"])}" >want &&
    if [ "$(json_get line "d[\"add_special_tokens\"]")" = True ]; then
      perf-run --tokenize --processor "$T/$t" --add-special-tokens <text >got
    else
      perf-run --tokenize --processor "$T/$t" <text >got
    fi &&
    json_get got "d" >got.norm &&
    test_cmp want got.norm || return 1
  done
'

test_expect_success 'detokenize {"ids": [...]} and a bare list' '
  echo "{\"ids\":[15496,995],\"count\":2}" >in &&
  perf-run --detokenize --processor "$T/gpt2" <in >out &&
  printf "Hello world" >expect &&
  test_cmp expect out &&
  echo "[1, 15043, 3186]" >in &&
  perf-run --detokenize --processor "$T/llama" <in >out &&
  printf "<s> Hello world" >expect &&
  test_cmp expect out
'

test_expect_success 'tokenize then detokenize gives the text back' '
  printf "Mixed  text: 123, émoji 😀 and\ttabs\n" >in &&
  perf-run --tokenize --processor "$T/smollm-135m" <in >ids &&
  perf-run --detokenize --processor "$T/smollm-135m" <ids >out &&
  test_cmp in out
'

test_expect_success 'missing tokenizer: exit 4, nothing on stdout' '
  printf "x" >in &&
  expect_exit 4 perf-run --tokenize --processor /nonexistent/model <in >out 2>err &&
  must_be_empty out &&
  must_contain err "^perf-run: error: .*nonexistent"
'

test_expect_success 'malformed ids: exit 3, nothing on stdout' '
  echo "{\"ids\": [1," >in &&
  expect_exit 3 perf-run --detokenize --processor "$T/gpt2" <in >out 2>err &&
  must_be_empty out &&
  must_contain err "^perf-run: error: "
'

test_expect_success 'invalid UTF-8: exit 3' '
  printf "\377\376" >in &&
  expect_exit 3 perf-run --tokenize --processor "$T/gpt2" <in >out 2>err &&
  must_be_empty out &&
  must_contain err "not valid UTF-8"
'

test_expect_success 'missing input file: exit 4' '
  expect_exit 4 perf-run --tokenize --processor "$T/gpt2" -i /nonexistent/in >out 2>err &&
  must_be_empty out
'

test_expect_success 'stdout on /dev/full: exit 4' '
  printf "x" >in &&
  expect_exit 4 perf-run --tokenize --processor "$T/gpt2" <in >/dev/full 2>err
'

start_mock m

test_expect_success 'tokenize and detokenize with a server URL' '
  printf "Hello world, hello tokens" >in &&
  perf-run --tokenize --processor "$m_URL" <in >ids &&
  must_contain ids "^\{\"ids\":\[[0-9,]+\],\"count\":[1-9][0-9]*\}$" &&
  perf-run --detokenize --processor "$m_URL" <ids >out &&
  test_cmp in out
'

test_expect_success 'a server that is down: exit 5' '
  printf "x" >in &&
  expect_exit 5 perf-run --tokenize --processor http://127.0.0.1:1 <in >out 2>err &&
  must_be_empty out
'

test_done
