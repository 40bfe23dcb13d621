#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "mg_json.h"

static struct mg_json *parse_ok(const char *s)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_json *j = NULL;

  assert_int_equal(mg_json_parse(s, strlen(s), "t", &j, &err), 0);
  assert_non_null(j);
  return j;
}

static void expect_parse_error(const char *s, size_t len, const char *want)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_json *j = (struct mg_json *)1;

  assert_int_equal(mg_json_parse(s, len, "in.json", &j, &err), -1);
  assert_null(j);
  assert_int_equal(err.cat, MG_ERR_DATA);
  if (!strstr(err.msg, want))
    fail_msg("message '%s' lacks '%s'", err.msg, want);
}

static void test_parse_errors(void **state)
{
  (void)state;
  expect_parse_error("", 0, "malformed JSON in 'in.json': empty input");
  expect_parse_error("{\"a\": }", 7, "malformed JSON in 'in.json' at byte 6");
  expect_parse_error("{} {}", 5, "at byte 3: unexpected data after");
  expect_parse_error("{}x", 3, "at byte 2");
  expect_parse_error("[1, 2", 5, "malformed JSON in 'in.json'");
  /* The length is honoured: the text after it is not seen. */
  {
    struct mg_err err = MG_ERR_INIT;
    struct mg_json *j;
    assert_int_equal(mg_json_parse("[1] garbage", 3, "t", &j, &err), 0);
    assert_int_equal(mg_json_size(j), 1);
    mg_json_free(j);
  }
}

static void test_trailing_whitespace_ok(void **state)
{
  struct mg_json *j = parse_ok("  {\"a\": 1}\n\t \r\n");

  (void)state;
  assert_true(mg_json_is_object(j));
  mg_json_free(j);
}

static void test_getters(void **state)
{
  struct mg_json *j = parse_ok("{\"s\":\"x\",\"n\":2.5,\"i\":7,\"b\":true,"
                               "\"o\":{\"k\":[1,2,3]},\"z\":null}");
  struct mg_err err = MG_ERR_INIT;
  const char *s;
  double d;
  int64_t i;
  int b;
  struct mg_json *o, *a;

  (void)state;
  assert_int_equal(mg_json_req_string(j, "s", "doc", &s, &err), 0);
  assert_string_equal(s, "x");
  assert_int_equal(mg_json_req_number(j, "n", "doc", &d, &err), 0);
  assert_true(d == 2.5);
  assert_int_equal(mg_json_req_int(j, "i", "doc", 0, 10, &i, &err), 0);
  assert_int_equal(i, 7);
  assert_int_equal(mg_json_req_int(j, "n", "doc", 0, 10, &i, &err), -1);
  assert_non_null(strstr(err.msg, "must be an integer from 0 to 10"));
  assert_int_equal(mg_json_req_int(j, "i", "doc", 0, 5, &i, &err), -1);
  assert_int_equal(mg_json_opt_bool(j, "b", "doc", 0, &b, &err), 0);
  assert_int_equal(b, 1);
  assert_int_equal(mg_json_opt_bool(j, "nope", "doc", 1, &b, &err), 0);
  assert_int_equal(b, 1);
  assert_int_equal(mg_json_opt_string(j, "z", "doc", "dflt", &s, &err), 0);
  assert_string_equal(s, "dflt");
  assert_int_equal(mg_json_req_object(j, "o", "doc", &o, &err), 0);
  assert_int_equal(mg_json_req_array(o, "k", "object 'o'", &a, &err), 0);
  assert_int_equal(mg_json_size(a), 3);
  assert_true(mg_json_number(mg_json_at(a, 2)) == 3);
  assert_null(mg_json_at(a, 3));
  assert_ptr_equal(mg_json_get_path(j, "o.k"), a);
  assert_null(mg_json_get_path(j, "o.missing"));

  mg_err_clear(&err);
  assert_int_equal(mg_json_req_string(j, "missing", "section 'perf'", &s, &err),
                   -1);
  assert_int_equal(err.cat, MG_ERR_DATA);
  assert_string_equal(err.msg, "missing field 'missing' in section 'perf'");
  assert_int_equal(mg_json_req_string(j, "n", "doc", &s, &err), -1);
  assert_string_equal(err.msg,
                      "field 'n' in doc is a number, expected a string");
  assert_int_equal(mg_json_opt_number(j, "s", "doc", 0, &d, &err), -1);
  assert_int_equal(mg_json_req_array(j, "o", "doc", &a, &err), -1);
  /* Lookups are case-sensitive. */
  assert_null(mg_json_get(j, "S"));
  mg_json_free(j);
}

static void test_build_and_print_is_deterministic(void **state)
{
  struct mg_json *o = mg_json_new_object();
  struct mg_json *arr = mg_json_new_array();
  char *s;

  (void)state;
  mg_json_set_string(o, "schema", "x/v1");
  mg_json_set_number(o, "n", 3);
  mg_json_set_number(o, "f", 0.25);
  mg_json_append(arr, mg_json_new_bool(1));
  mg_json_append(arr, mg_json_new_null());
  mg_json_set(o, "a", arr);
  /* Replacing keeps the position. */
  mg_json_set_number(o, "n", 4);
  s = mg_json_print(o, MG_JSON_NEWLINE);
  assert_string_equal(s, "{\"schema\":\"x/v1\",\"n\":4,\"f\":0.25,"
                         "\"a\":[true,null]}\n");
  free(s);
  s = mg_json_print(o, 0);
  assert_int_equal(s[strlen(s) - 1], '}');
  free(s);
  mg_json_remove(o, "f");
  {
    struct mg_json *n = mg_json_detach(o, "n");
    assert_true(mg_json_number(n) == 4);
    mg_json_free(n);
  }
  s = mg_json_print(o, 0);
  assert_string_equal(s, "{\"schema\":\"x/v1\",\"a\":[true,null]}");
  free(s);
  mg_json_free(o);
}

static void test_roundtrip_and_equal(void **state)
{
  const char *text = "{\"b\":[1,2,{\"c\":\"\\u00e9\\n\"}],\"a\":-1.5e-7}";
  struct mg_json *j = parse_ok(text), *k, *d;
  char *s;

  (void)state;
  s = mg_json_print(j, 0);
  k = parse_ok(s);
  assert_true(mg_json_equal(j, k));
  d = mg_json_dup(j);
  assert_true(mg_json_equal(j, d));
  mg_json_set_number(d, "a", 2);
  assert_false(mg_json_equal(j, d));
  free(s);
  mg_json_free(j);
  mg_json_free(k);
  mg_json_free(d);
}

static void test_nul_in_strings(void **state)
{
  struct mg_json *j = parse_ok(
      "{\"k\":\"a\\\\u0000\",\"t\":\"x\\u0000y\",\"u\":[\"\\u0000\"]}");
  struct mg_json *s;

  (void)state;
  /* "a\\u0000" is a backslash followed by "u0000": 7 bytes, no NUL. */
  assert_int_equal(mg_json_string_len(mg_json_get(j, "k")), 7);
  assert_int_equal(mg_json_string_len(mg_json_get(j, "t")), 3);
  assert_memory_equal(mg_json_string(mg_json_get(j, "t")), "x\0y", 3);
  assert_int_equal(mg_json_string_len(mg_json_at(mg_json_get(j, "u"), 0)), 1);
  mg_json_free(j);
  s = mg_json_new_stringn("p\0q", 3);
  assert_int_equal(mg_json_string_len(s), 3);
  mg_json_free(s);
}

static void test_iteration(void **state)
{
  struct mg_json *j = parse_ok("{\"x\":1,\"y\":2,\"z\":3}");
  char seen[8] = "";
  size_t n = 0;

  (void)state;
  for (struct mg_json *c = mg_json_first(j); c; c = mg_json_next(c))
    seen[n++] = mg_json_key(c)[0];
  assert_string_equal(seen, "xyz");
  assert_int_equal(mg_json_size(j), 3);
  assert_int_equal(mg_json_type(j), MG_JSON_OBJECT);
  assert_int_equal(mg_json_type(NULL), MG_JSON_INVALID);
  mg_json_free(j);
}

static void test_quote(void **state)
{
  struct mg_buf b = MG_BUF_INIT(1024);
  struct mg_err err = MG_ERR_INIT;
  struct mg_json *j;

  (void)state;
  assert_int_equal(mg_json_quote(&b, "a\"b\\c\n\x01\xc3\xa9", 9, &err), 0);
  assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\"");
  /* What we quote, the parser reads back. */
  assert_int_equal(mg_json_parse(b.data, b.len, "q", &j, &err), 0);
  assert_string_equal(mg_json_string(j), "a\"b\\c\n\x01\xc3\xa9");
  mg_json_free(j);
  mg_buf_release(&b);
  /* A full buffer is an error, not an overflow. */
  mg_buf_init(&b, 4);
  assert_int_equal(mg_json_quote(&b, "abcdef", 6, &err), -1);
  mg_buf_release(&b);
}

static void test_deep_nesting_is_bounded(void **state)
{
  size_t n = 5000;
  char *s = malloc(2 * n);
  struct mg_err err = MG_ERR_INIT;
  struct mg_json *j;

  (void)state;
  memset(s, '[', n);
  memset(s + n, ']', n);
  assert_int_equal(mg_json_parse(s, 2 * n, "deep", &j, &err), -1);
  assert_int_equal(err.cat, MG_ERR_DATA);
  free(s);
}

/*
 * J1: the 18-byte document of issue 14. The old length fix-up scanned the
 * text a second time with other rules than cJSON's and gave later strings
 * a wrong length, so callers read past the allocation. Now one scanner
 * decides: a raw NUL between tokens is not whitespace, and a key holding a
 * NUL is refused.
 */
static void test_j1_regression(void **state)
{
  static const char doc[] = "{\"\\u0000n\xfb\"\x00:[\"\"]}";
  struct mg_err err = MG_ERR_INIT;
  struct mg_json *j = NULL;

  (void)state;
  assert_int_equal(sizeof(doc) - 1, 18);
  assert_int_equal(mg_json_parse(doc, 18, "j1", &j, &err), -1);
  assert_null(j);
  assert_string_equal(err.msg, "malformed JSON in 'j1' at byte 1: an object "
                               "key holds a NUL character");
  /* The same bytes as values: the raw NUL is not whitespace. */
  assert_int_equal(
      mg_json_parse("[\"\\u0000n\xfb\"\x00,\"\"]", 14, "j1b", &j, &err), -1);
  assert_string_equal(
      err.msg, "malformed JSON in 'j1b' at byte 11: expected ',' or ']'");
}

/* Every string gets its own length, whatever comes before it. */
static void test_string_lengths_exact(void **state)
{
  static const char doc[] =
      "{\"a\":\"\\u0000n\xfb\", \"b\":[\"\", \"x\\u0000\"],"
      "\"c\":\"r\x01\x00w\", \"d\":\"plain\","
      "\"e\":\"\\ud83d\\ude00\\u00e9\"}";
  struct mg_err err = MG_ERR_INIT;
  struct mg_json *j = NULL, *b;

  (void)state;
  assert_int_equal(mg_json_parse(doc, sizeof(doc) - 1, "t", &j, &err), 0);
  assert_int_equal(mg_json_string_len(mg_json_get(j, "a")), 3);
  assert_memory_equal(mg_json_string(mg_json_get(j, "a")), "\0n\xfb", 3);
  b = mg_json_get(j, "b");
  assert_int_equal(mg_json_string_len(mg_json_at(b, 0)), 0);
  assert_int_equal(mg_json_string_len(mg_json_at(b, 1)), 2);
  /* Raw control bytes, NUL included, are kept with their true length. */
  assert_int_equal(mg_json_string_len(mg_json_get(j, "c")), 4);
  assert_memory_equal(mg_json_string(mg_json_get(j, "c")), "r\x01\0w", 4);
  assert_int_equal(mg_json_string_len(mg_json_get(j, "d")), 5);
  assert_int_equal(mg_json_string_len(mg_json_get(j, "e")), 6);
  assert_string_equal(mg_json_string(mg_json_get(j, "e")),
                      "\xf0\x9f\x98\x80\xc3\xa9");
  mg_json_free(j);
}

/* A string holding NULs prints whole, and reads back the same. */
static void test_nul_strings_print_whole(void **state)
{
  struct mg_json *o = mg_json_new_object(), *a = mg_json_new_array(), *k;
  struct mg_err err = MG_ERR_INIT;
  char *s;

  (void)state;
  mg_json_append(a, mg_json_new_stringn("x\0y", 3));
  mg_json_append(a, mg_json_new_string("z"));
  mg_json_set(o, "a", a);
  mg_json_set(o, "n", mg_json_new_stringn("\0", 1));
  s = mg_json_print(o, 0);
  assert_string_equal(s, "{\"a\":[\"x\\u0000y\",\"z\"],\"n\":\"\\u0000\"}");
  assert_int_equal(mg_json_parse(s, strlen(s), "p", &k, &err), 0);
  assert_int_equal(mg_json_string_len(mg_json_get(k, "n")), 1);
  assert_memory_equal(mg_json_string(mg_json_at(mg_json_get(k, "a"), 0)),
                      "x\0y", 3);
  free(s);
  /* The tree printed is unchanged. */
  assert_int_equal(mg_json_type(mg_json_get(o, "n")), MG_JSON_STRING);
  s = mg_json_print(mg_json_get(o, "n"), MG_JSON_PRETTY);
  assert_string_equal(s, "\"\\u0000\"");
  free(s);
  mg_json_free(k);
  mg_json_free(o);
}

static void test_grammar(void **state)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_json *j;
  static const char *bad[] = {
    "01",    "1.",        ".5",    "-",       "1e",          "+1",
    "[1,]",  "{,}",       "tru",   "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"",
    "\"abc", "{\"a\" 1}", "[1 2]", "\f1",     "nul"
  };

  (void)state;
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    if (mg_json_parse(bad[i], strlen(bad[i]), "g", &j, &err) != -1)
      fail_msg("'%s' was accepted", bad[i]);
    assert_int_equal(err.cat, MG_ERR_DATA);
  }
  j = parse_ok("\xEF\xBB\xBF [ -0.5e+2, 1E3, 0, true, false, null, \"\\/\" ] ");
  assert_true(mg_json_number(mg_json_at(j, 0)) == -50);
  assert_true(mg_json_number(mg_json_at(j, 1)) == 1000);
  assert_string_equal(mg_json_string(mg_json_at(j, 6)), "/");
  mg_json_free(j);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_parse_errors),
    cmocka_unit_test(test_trailing_whitespace_ok),
    cmocka_unit_test(test_getters),
    cmocka_unit_test(test_build_and_print_is_deterministic),
    cmocka_unit_test(test_roundtrip_and_equal),
    cmocka_unit_test(test_nul_in_strings),
    cmocka_unit_test(test_iteration),
    cmocka_unit_test(test_quote),
    cmocka_unit_test(test_deep_nesting_is_bounded),
    cmocka_unit_test(test_j1_regression),
    cmocka_unit_test(test_string_lengths_exact),
    cmocka_unit_test(test_nul_strings_print_whole),
    cmocka_unit_test(test_grammar),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
