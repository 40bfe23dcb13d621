/* Unit tests for mg_mock_tok: the mock tokenizer's round trip and shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "mg_utf8.h"
#include "mock/mg_mock_tok.h"

/* Encodes s, checks ids, offsets and token validity, decodes it back. */
static size_t round_trip(const char *s, size_t n)
{
  struct mg_mock_tok_list t = MG_MOCK_TOKS_INIT;
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  struct mg_err err = MG_ERR_INIT;
  size_t count;

  mg_mock_tok_encode(s, n, &t);
  count = t.n;
  assert_int_equal(mg_mock_tok_count(s, n), t.n);
  if (n)
    assert_int_equal(t.off[t.n], n);
  for (size_t i = 0; i < t.n; i++) {
    char tb[MG_MOCK_TOK_MAX_BYTES];
    int l = mg_mock_tok_bytes(t.ids[i], tb);

    assert_true(t.ids[i] < (1u << 31));
    assert_true(l >= 1 && l <= 4);
    assert_int_equal((size_t)l, t.off[i + 1] - t.off[i]);
    assert_memory_equal(tb, s + t.off[i], (size_t)l);
    /* Tokens of valid text are valid UTF-8 on their own. */
    if (mg_utf8_valid(s, n))
      assert_true(mg_utf8_valid(tb, (size_t)l));
  }
  assert_int_equal(mg_mock_tok_decode(t.ids, t.n, &b, &err), 0);
  assert_int_equal(b.len, n);
  if (n)
    assert_memory_equal(b.data, s, n);
  mg_buf_release(&b);
  mg_mock_tok_list_release(&t);
  return count;
}

static void test_ascii(void **state)
{
  const char *s = "The quick brown fox jumps over the lazy dog.";
  struct mg_mock_tok_list t = MG_MOCK_TOKS_INIT;
  size_t n;

  (void)state;
  n = round_trip(s, strlen(s));
  /* About 3 bytes per token on English text (44 bytes, 15 tokens). */
  assert_int_equal(n, 15);
  assert_true((double)strlen(s) / (double)n > 2.5);
  assert_int_equal(round_trip("", 0), 0);
  assert_int_equal(round_trip("a", 1), 1);
  /* A space starts a new piece: " Paris" is " Par" "is". */
  mg_mock_tok_encode("in Paris", 8, &t);
  assert_int_equal(t.n, 3);
  assert_int_equal(t.off[1], 2);
  assert_int_equal(t.off[2], 6);
  /* One ASCII character is its own code. */
  assert_int_equal(t.ids[0] >> 28, 1);
  mg_mock_tok_encode("A", 1, &t);
  assert_int_equal(t.ids[0], 'A');
  mg_mock_tok_list_release(&t);
}

static void test_context_is_prefix(void **state)
{
  /* With the continuation starting at a space, tokens of the context are
   * a prefix of the tokens of context + continuation. */
  const char *ctx = "Question: what is 2+2?\nAnswer:";
  const char *whole = "Question: what is 2+2?\nAnswer: four";
  struct mg_mock_tok_list a = MG_MOCK_TOKS_INIT, b = MG_MOCK_TOKS_INIT;

  (void)state;
  mg_mock_tok_encode(ctx, strlen(ctx), &a);
  mg_mock_tok_encode(whole, strlen(whole), &b);
  assert_true(b.n > a.n);
  assert_memory_equal(a.ids, b.ids, a.n * sizeof(*a.ids));
  assert_int_equal(b.off[a.n], strlen(ctx));
  mg_mock_tok_list_release(&a);
  mg_mock_tok_list_release(&b);
}

static void test_tricky_utf8(void **state)
{
  static const char *const cases[] = {
    "h\xC3\xA9llo w\xC3\xB6rld",            /* 2-byte letters */
    "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E", /* CJK, 3 bytes each */
    "\xF0\x9F\x98\x80\xF0\x9F\x98\x81!",    /* emoji, 4 bytes each */
    "e\xCC\x81 combining",                  /* combining accent */
    "a\xC3\xA9",                            /* ASCII + 2-byte: one token */
    "\xC3\xA9z",                            /* 2-byte + ASCII */
    "\xEF\xBB\xBF BOM",                     /* byte order mark */
    "\xF4\x8F\xBF\xBF max",                 /* U+10FFFF */
    " \t\n\r  spaced\n\nout  ",
  };

  (void)state;
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    round_trip(cases[i], strlen(cases[i]));
  /* An embedded NUL is a character like any other. */
  round_trip("a\0b", 3);
}

static void test_invalid_utf8(void **state)
{
  static const char *const cases[] = {
    "\xFF\xFE",         /* never valid */
    "\xC3",             /* truncated */
    "\xC0\xAF",         /* overlong */
    "\xED\xA0\x80",     /* surrogate */
    "\xF4\x90\x80\x80", /* past U+10FFFF */
    "ok\x80ok",
  };
  struct mg_mock_tok_list t = MG_MOCK_TOKS_INIT;

  (void)state;
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    assert_false(mg_utf8_valid(cases[i], strlen(cases[i])));
    round_trip(cases[i], strlen(cases[i]));
  }
  /* A bad byte is a token of its own. */
  mg_mock_tok_encode("a\xFF", 2, &t);
  assert_int_equal(t.n, 2);
  mg_mock_tok_list_release(&t);
}

static void test_bad_ids(void **state)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  struct mg_err err = MG_ERR_INIT;
  char tb[4];
  uint32_t bad[] = { 128, (1u << 30) + 0xD800, (1u << 30) + 0x41,
                     (1u << 30) + (1u << 21) + (1u << 24) + 256, 0x7FFFFFFF };

  (void)state;
  /* 128 claims one character but has 8 bits: not a mock token. */
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(mg_mock_tok_bytes(bad[i], tb), -1);
  assert_int_equal(mg_mock_tok_decode(bad, 1, &b, &err), -1);
  assert_int_equal(err.cat, MG_ERR_DATA);
  assert_non_null(strstr(err.msg, "token id 128"));
  mg_buf_release(&b);
}

static void test_chars(void **state)
{
  (void)state;
  assert_int_equal(mg_utf8_count("h\xC3\xA9!", 4), 3);
  assert_int_equal(mg_utf8_count("\xFF\xFF", 2), 2);
  assert_int_equal(mg_utf8_count("", 0), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_ascii),
    cmocka_unit_test(test_context_is_prefix),
    cmocka_unit_test(test_tricky_utf8),
    cmocka_unit_test(test_invalid_utf8),
    cmocka_unit_test(test_bad_ids),
    cmocka_unit_test(test_chars),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
