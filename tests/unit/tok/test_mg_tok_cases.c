/*
 * The tokenizer beyond the golden files: hand-written hard cases and
 * tokenizers derived from the shared ones with components those do not
 * use (expected values from the Rust reference, see
 * tests/fixtures/tokenizer/make-fixtures.js), tokenizer_config.json,
 * errors, and the small API.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "mg_io.h"
#include "mg_json.h"
#include "mg_mem.h"
#include "tok/mg_tok.h"

static char *shared_path(const char *rel)
{
  const char *sh = getenv("MG_SHARED");
  const char *top = getenv("MG_TOP");

  if (sh && *sh)
    return mg_xasprintf("%s/%s", sh, rel);
  return mg_xasprintf("%s/../shared/%s", top && *top ? top : ".", rel);
}

static char *fixture_path(const char *rel)
{
  const char *top = getenv("MG_TOP");

  return mg_xasprintf("%s/tests/fixtures/tokenizer/%s", top && *top ? top : ".",
                      rel);
}

static struct mg_json *read_json_file(const char *path)
{
  struct mg_buf b = MG_BUF_INIT(64 << 20);
  struct mg_err err = MG_ERR_INIT;
  struct mg_json *j = NULL;

  if (mg_io_read_file(path, &b, &err)
      || mg_json_parse(b.data, b.len, path, &j, &err))
    fail_msg("%s", err.msg);
  mg_buf_release(&b);
  return j;
}

static struct mg_json *shared_doc(const char *name)
{
  char *rel = mg_xasprintf("data/tokenizers/%s/tokenizer.json", name);
  char *p = shared_path(rel);
  struct mg_json *j = read_json_file(p);

  free(p);
  free(rel);
  return j;
}

static struct mg_tok *load_shared(const char *name)
{
  char *rel = mg_xasprintf("data/tokenizers/%s", name);
  char *p = shared_path(rel);
  struct mg_err err = MG_ERR_INIT;
  struct mg_tok *t = NULL;

  if (mg_tok_load(p, MG_TOK_NO_CONFIG, &t, &err))
    fail_msg("%s", err.msg);
  free(p);
  free(rel);
  return t;
}

static int str_eq(const struct mg_json *j, const char *s, size_t n)
{
  return mg_json_is_string(j) && mg_json_string_len(j) == n
         && !memcmp(mg_json_string(j), s, n);
}

/* One expected line: encode the text, decode the expected ids. */
static int check_line(struct mg_tok *t, const struct mg_json *g)
{
  const struct mg_json *text = mg_json_get(g, "text");
  const struct mg_json *ids = mg_json_get(g, "ids");
  const struct mg_json *toks = mg_json_get(g, "tokens");
  int add = mg_json_bool(mg_json_get(g, "add_special_tokens"));
  struct mg_tok_encoding e = MG_TOK_ENCODING_INIT;
  struct mg_err err = MG_ERR_INIT;
  struct mg_buf d = MG_BUF_INIT(1 << 20), ds = MG_BUF_INIT(1 << 20);
  size_t ng = mg_json_size(ids);
  uint32_t *gids = mg_xcalloc(ng + 1, sizeof(*gids));
  int ok;

  assert_int_equal(
      mg_tok_encode(t, mg_json_string(text), mg_json_string_len(text),
                    MG_TOK_TOKENS | (add ? MG_TOK_ADD_SPECIAL : 0), &e, &err),
      0);
  ok = e.n == ng && e.n == mg_json_size(toks);
  for (size_t i = 0; ok && i < ng; i++)
    ok = (double)e.ids[i] == mg_json_number(mg_json_at(ids, i))
         && str_eq(mg_json_at(toks, i), e.tok_text + e.tok_off[i],
                   e.tok_off[i + 1] - e.tok_off[i]);
  for (size_t i = 0; i < ng; i++)
    gids[i] = (uint32_t)mg_json_number(mg_json_at(ids, i));
  assert_int_equal(mg_tok_decode(t, gids, ng, 0, &d, &err), 0);
  assert_int_equal(mg_tok_decode(t, gids, ng, 1, &ds, &err), 0);
  ok = ok && str_eq(mg_json_get(g, "decoded"), d.data ? d.data : "", d.len)
       && str_eq(mg_json_get(g, "decoded_skip_special"), ds.data ? ds.data : "",
                 ds.len);
  if (!ok) {
    char *s = mg_json_print(g, 0);
    fprintf(stderr, "# MISMATCH %s\n#  got:", s);
    for (size_t i = 0; i < e.n; i++)
      fprintf(stderr, " %u", e.ids[i]);
    fprintf(stderr, "\n#  decoded '%s'\n", d.data ? d.data : "");
    free(s);
  }
  free(gids);
  mg_buf_release(&d);
  mg_buf_release(&ds);
  mg_tok_encoding_release(&e);
  return ok;
}

/* Runs the lines of a JSONL fixture whose key field equals want. */
static void run_fixture(const char *file, const char *key, const char *want,
                        struct mg_tok *t)
{
  char *path = fixture_path(file);
  struct mg_buf b = MG_BUF_INIT(64 << 20);
  struct mg_err err = MG_ERR_INIT;
  size_t n = 0, good = 0;

  if (mg_io_read_file(path, &b, &err))
    fail_msg("%s", err.msg);
  for (char *p = b.data, *end = b.data + b.len; p < end;) {
    char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
    struct mg_json *g;

    if (len) {
      assert_int_equal(mg_json_parse(p, len, path, &g, &err), 0);
      if (!strcmp(mg_json_string(mg_json_get(g, key)), want)) {
        n++;
        good += check_line(t, g);
      }
      mg_json_free(g);
    }
    p += len + 1;
  }
  print_message("# %s %s: %zu/%zu match\n", file, want, good, n);
  assert_true(n > 0);
  assert_int_equal(good, n);
  mg_buf_release(&b);
  free(path);
}

static void test_hardcases(void **state)
{
  static const char *const names[] = {
    "gpt2",  "phi-2",      "falcon",           "smollm-135m",
    "llama", "phi-3-mini", "bert-base-uncased"
  };

  (void)state;
  for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
    struct mg_tok *t = load_shared(names[i]);
    run_fixture("hardcases.jsonl", "tokenizer", names[i], t);
    mg_tok_free(t);
  }
}

/* Applies one entry of variants.json to a copy of its base file. */
static struct mg_json *derive(const struct mg_json *v)
{
  struct mg_json *d = shared_doc(mg_json_string(mg_json_get(v, "base")));
  struct mg_json *model = mg_json_get(d, "model");
  struct mg_json *added = mg_json_get(d, "added_tokens");
  const struct mg_json *x;

  for (x = mg_json_first(mg_json_get(v, "set")); x; x = mg_json_next(x))
    mg_json_set(d, mg_json_key(x), mg_json_dup(x));
  for (x = mg_json_first(mg_json_get(v, "model_set")); x; x = mg_json_next(x))
    mg_json_set(model, mg_json_key(x), mg_json_dup(x));
  for (x = mg_json_first(mg_json_get(v, "model_drop")); x; x = mg_json_next(x))
    mg_json_remove(model, mg_json_string(x));
  if (mg_json_bool(mg_json_get(v, "merges_as_pairs"))) {
    struct mg_json *pairs = mg_json_new_array();
    for (x = mg_json_first(mg_json_get(model, "merges")); x;
         x = mg_json_next(x)) {
      const char *s = mg_json_string(x), *sp = strchr(s, ' ');
      struct mg_json *pr = mg_json_new_array();
      mg_json_append(pr, mg_json_new_stringn(s, (size_t)(sp - s)));
      mg_json_append(pr, mg_json_new_string(sp + 1));
      mg_json_append(pairs, pr);
    }
    mg_json_set(model, "merges", pairs);
  }
  for (struct mg_json *a = mg_json_first(added); a; a = mg_json_next(a))
    for (x = mg_json_first(mg_json_get(v, "added_all")); x; x = mg_json_next(x))
      mg_json_set(a, mg_json_key(x), mg_json_dup(x));
  for (x = mg_json_first(mg_json_get(v, "added_append")); x;
       x = mg_json_next(x))
    mg_json_append(added, mg_json_dup(x));
  return d;
}

static void test_variants(void **state)
{
  char *path = fixture_path("variants.json");
  struct mg_json *spec = read_json_file(path);

  (void)state;
  assert_true(mg_json_size(spec) >= 7);
  for (const struct mg_json *v = mg_json_first(spec); v; v = mg_json_next(v)) {
    struct mg_json *d = derive(v);
    struct mg_err err = MG_ERR_INIT;
    struct mg_tok *t = NULL;
    const char *name = mg_json_string(mg_json_get(v, "name"));

    if (mg_tok_from_json(d, NULL, name, &t, &err))
      fail_msg("%s: %s", name, err.msg);
    run_fixture("variants.jsonl", "variant", name, t);
    mg_tok_free(t);
    mg_json_free(d);
  }
  mg_json_free(spec);
  free(path);
}

/* Encodes text and compares the ids with want[0..n). */
static void expect_ids(struct mg_tok *t, const char *text, unsigned flags,
                       const uint32_t *want, size_t n)
{
  struct mg_tok_encoding e = MG_TOK_ENCODING_INIT;
  struct mg_err err = MG_ERR_INIT;

  assert_int_equal(mg_tok_encode(t, text, strlen(text), flags, &e, &err), 0);
  assert_int_equal(e.n, n);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(e.ids[i], want[i]);
  mg_tok_encoding_release(&e);
}

static struct mg_json *parse(const char *s)
{
  struct mg_json *j = NULL;
  struct mg_err err = MG_ERR_INIT;

  if (mg_json_parse(s, strlen(s), "test", &j, &err))
    fail_msg("%s", err.msg);
  return j;
}

static void test_config(void **state)
{
  struct mg_json *llama = shared_doc("llama"), *gpt2 = shared_doc("gpt2");
  struct mg_json *c;
  struct mg_tok *t;
  struct mg_err err = MG_ERR_INIT;
  /* "Hello" in llama is 15043; <s> 1, </s> 2 */
  const uint32_t bos_eos[] = { 1, 15043, 2 }, plain[] = { 15043 };
  const uint32_t hello[] = { 15496 }, ghello[] = { 18435 };

  (void)state;
  c = parse("{\"tokenizer_class\": \"LlamaTokenizer\", \"add_bos_token\": "
            "true, \"add_eos_token\": true, \"bos_token\": {\"content\": "
            "\"<s>\"}, \"eos_token\": \"</s>\", \"model_max_length\": 4096}");
  assert_int_equal(mg_tok_from_json(llama, c, "llama", &t, &err), 0);
  expect_ids(t, "Hello", MG_TOK_ADD_SPECIAL, bos_eos, 3);
  expect_ids(t, "Hello", 0, plain, 1);
  assert_int_equal(mg_tok_max_length(t), 4096);
  mg_tok_free(t);
  mg_json_free(c);

  c = parse("{\"tokenizer_class\": \"LlamaTokenizerFast\", "
            "\"add_bos_token\": false}");
  assert_int_equal(mg_tok_from_json(llama, c, "llama", &t, &err), 0);
  expect_ids(t, "Hello", MG_TOK_ADD_SPECIAL, plain, 1);
  mg_tok_free(t);
  mg_json_free(c);

  /* the class's default tokens when the config names none */
  c = parse("{\"tokenizer_class\": \"LlamaTokenizer\", \"add_eos_token\": "
            "true}");
  assert_int_equal(mg_tok_from_json(llama, c, "llama", &t, &err), 0);
  expect_ids(t, "Hello", MG_TOK_ADD_SPECIAL, bos_eos, 3);
  mg_tok_free(t);
  mg_json_free(c);

  c = parse("{\"tokenizer_class\": \"LlamaTokenizer\", \"add_eos_token\": "
            "true, \"eos_token\": \"<nope>\"}");
  assert_int_equal(mg_tok_from_json(llama, c, "llama", &t, &err), -1);
  assert_int_equal(err.cat, MG_ERR_DATA);
  assert_non_null(strstr(err.msg, "eos_token '<nope>' is not a token"));
  mg_json_free(c);

  /* other classes keep the post-processor of the file */
  c = parse("{\"tokenizer_class\": \"GPT2Tokenizer\", \"add_bos_token\": "
            "true, \"bos_token\": \"<|endoftext|>\"}");
  assert_int_equal(mg_tok_from_json(gpt2, c, "gpt2", &t, &err), 0);
  expect_ids(t, "Hello", MG_TOK_ADD_SPECIAL, hello, 1);
  mg_tok_free(t);
  mg_json_free(c);

  /* add_prefix_space overrides the ByteLevel pre-tokenizer's */
  c = parse("{\"tokenizer_class\": \"GPT2Tokenizer\", \"add_prefix_space\": "
            "true}");
  assert_int_equal(mg_tok_from_json(gpt2, c, "gpt2", &t, &err), 0);
  expect_ids(t, "Hello", 0, ghello, 1);
  mg_tok_free(t);
  mg_json_free(c);

  mg_json_free(llama);
  mg_json_free(gpt2);
}

/* Replaces key of the gpt2 document with json and expects a load error. */
static void expect_load_error(const char *key, const char *json,
                              const char *msg)
{
  struct mg_json *d = shared_doc("gpt2");
  struct mg_tok *t = NULL;
  struct mg_err err = MG_ERR_INIT;

  mg_json_set(d, key, parse(json));
  assert_int_equal(mg_tok_from_json(d, NULL, "some/tokenizer.json", &t, &err),
                   -1);
  assert_null(t);
  assert_int_equal(err.cat, MG_ERR_DATA);
  if (!strstr(err.msg, msg))
    fail_msg("message '%s' lacks '%s'", err.msg, msg);
  mg_json_free(d);
}

static void test_unsupported(void **state)
{
  (void)state;
  expect_load_error("model", "{\"type\": \"Unigram\", \"vocab\": [[\"a\", 0]]}",
                    "unsupported model 'Unigram' in 'some/tokenizer.json'");
  expect_load_error("normalizer", "{\"type\": \"Precompiled\"}",
                    "unsupported normalizer 'Precompiled' in "
                    "'some/tokenizer.json'");
  expect_load_error("pre_tokenizer",
                    "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": "
                    "\"ByteLevel\"}, {\"type\": \"UnicodeScripts\"}]}",
                    "unsupported pre_tokenizer 'UnicodeScripts' in "
                    "'some/tokenizer.json'");
  expect_load_error("decoder", "{\"type\": \"CTC\"}",
                    "unsupported decoder 'CTC' in 'some/tokenizer.json'");
  expect_load_error("post_processor", "{\"type\": \"Fancy\"}",
                    "unsupported post_processor 'Fancy'");
  expect_load_error("pre_tokenizer",
                    "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}, "
                    "\"behavior\": \"Isolated\"}",
                    "bad regex in 'some/tokenizer.json'");
  expect_load_error("pre_tokenizer",
                    "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"a\"}, "
                    "\"behavior\": \"Sideways\"}",
                    "unsupported split behavior 'Sideways'");
  expect_load_error("normalizer", "{\"kind\": \"NFC\"}",
                    "normalizer without a type");
  expect_load_error("model",
                    "{\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, "
                    "\"merges\": [\"a c\"]}",
                    "merge token 'c' in 'some/tokenizer.json' is not in the "
                    "vocabulary");
  expect_load_error("model",
                    "{\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": "
                    "[], \"dropout\": 0.1}",
                    "unsupported model option 'dropout'");
  expect_load_error("model",
                    "{\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}, "
                    "\"max_input_chars_per_word\": 10}",
                    "unk_token '[UNK]' in 'some/tokenizer.json' is not in the "
                    "vocabulary");
}

static void test_wordlevel_no_unk(void **state)
{
  struct mg_json *d = parse(
      "{\"model\": {\"type\": \"WordLevel\", \"vocab\": {\"hello\": 0, \"a\": "
      "1}}, \"pre_tokenizer\": {\"type\": \"WhitespaceSplit\"}}");
  struct mg_tok *t = NULL;
  struct mg_tok_encoding e = MG_TOK_ENCODING_INIT;
  struct mg_err err = MG_ERR_INIT;
  const uint32_t want[] = { 0, 1 };

  (void)state;
  assert_int_equal(mg_tok_from_json(d, NULL, "wl", &t, &err), 0);
  expect_ids(t, "hello a", 0, want, 2);
  /* the reference fails on an unknown word; so must we */
  assert_int_equal(mg_tok_encode(t, "hello world", 11, 0, &e, &err), -1);
  assert_int_equal(err.cat, MG_ERR_DATA);
  assert_non_null(strstr(err.msg, "word 'world' is not in the vocabulary"));
  mg_tok_encoding_release(&e);
  mg_tok_free(t);
  mg_json_free(d);
}

static void test_load_errors(void **state)
{
  struct mg_tok *t = NULL;
  struct mg_err err = MG_ERR_INIT;
  char *p = fixture_path("hard-texts.json");

  (void)state;
  assert_int_equal(mg_tok_load("/nonexistent/dir/tokenizer.json", 0, &t, &err),
                   -1);
  assert_int_equal(err.cat, MG_ERR_IO);
  assert_non_null(strstr(err.msg, "/nonexistent/dir/tokenizer.json"));
  /* a JSON file that is no tokenizer */
  assert_int_equal(mg_tok_load(p, 0, &t, &err), -1);
  assert_int_equal(err.cat, MG_ERR_DATA);
  assert_null(t);
  free(p);
  /* malformed JSON */
  p = fixture_path("make-fixtures.js");
  assert_int_equal(mg_tok_load(p, 0, &t, &err), -1);
  assert_int_equal(err.cat, MG_ERR_DATA);
  assert_non_null(strstr(err.msg, "malformed JSON"));
  free(p);
}

static void test_api(void **state)
{
  struct mg_tok *t = load_shared("phi-3-mini");
  struct mg_tok_encoding e = MG_TOK_ENCODING_INIT;
  struct mg_err err = MG_ERR_INIT;
  struct mg_buf small = MG_BUF_INIT(4), b = MG_BUF_INIT(100);
  const uint32_t ids[] = { 15043, 99999999, 32007 };
  size_t len;
  const char *s;

  (void)state;
  assert_int_equal(mg_tok_vocab_size(t), 32011);
  s = mg_tok_id_to_token(t, 32010, &len);
  assert_non_null(s);
  assert_int_equal(len, 8);
  assert_memory_equal(s, "<|user|>", 8);
  s = mg_tok_id_to_token(t, 15043, &len);
  assert_int_equal(len, 8);
  assert_memory_equal(s, "\xE2\x96\x81Hello", 8);
  assert_null(mg_tok_id_to_token(t, 40000, &len));
  assert_int_equal(mg_tok_token_to_id(t, "<|end|>", 7), 32007);
  assert_int_equal(mg_tok_token_to_id(t, "\xE2\x96\x81Hello", 8), 15043);
  assert_int_equal(mg_tok_token_to_id(t, "no such", 7), -1);
  assert_true(mg_tok_memory(t) > 100000);
  assert_true(mg_tok_memory(t) < 8 << 20);

  /* empty input */
  assert_int_equal(mg_tok_encode(t, "", 0, MG_TOK_ADD_SPECIAL, &e, &err), 0);
  assert_int_equal(e.n, 0);
  /* invalid UTF-8 is refused with its offset */
  assert_int_equal(mg_tok_encode(t, "ab\xC3(", 4, 0, &e, &err), -1);
  assert_int_equal(err.cat, MG_ERR_DATA);
  assert_non_null(strstr(err.msg, "not valid UTF-8 at byte 2"));
  assert_int_equal(mg_tok_encode(t, "\xED\xA0\x80", 3, 0, &e, &err), -1);

  /* unknown ids are skipped; the output buffer's cap is an error */
  assert_int_equal(mg_tok_decode(t, ids, 3, 0, &b, &err), 0);
  assert_string_equal(b.data, "Hello<|end|>");
  assert_int_equal(mg_tok_decode(t, ids, 3, 0, &small, &err), -1);
  assert_int_equal(err.cat, MG_ERR_DATA);

  mg_buf_release(&small);
  mg_buf_release(&b);
  mg_tok_encoding_release(&e);
  mg_tok_free(t);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_hardcases),        cmocka_unit_test(test_variants),
    cmocka_unit_test(test_config),           cmocka_unit_test(test_unsupported),
    cmocka_unit_test(test_load_errors),      cmocka_unit_test(test_api),
    cmocka_unit_test(test_wordlevel_no_unk),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
