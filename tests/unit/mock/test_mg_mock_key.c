/* Unit tests for mg_mock_key: loading, decisions and matching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "mock/mg_mock_key.h"

static const char key_text[] =
    "{\"context\": \"Q: 2+2?\\nA:\", \"continuation\": \" 4\"}\n"
    "\n"
    "  {\"context\": \"Q: capital of France?\\nA:\", \"continuation\": "
    "\" Paris\", \"extra\": 1}\r\n"
    "{\"context\": \"Q: 2+2?\\nA:\", \"continuation\": \" 5\"}\n"
    "{\"context\": \"Q:\", \"continuation\": \" short\"}\n";

static void test_parse(void **state)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_mock_key *k;
  const struct mg_mock_key_entry *e;

  (void)state;
  assert_int_equal(
      mg_mock_key_parse(key_text, strlen(key_text), "k", 1, 1.0, &k, &err), 0);
  /* The repeated context keeps its first line. */
  assert_int_equal(mg_mock_key_count(k), 3);
  assert_int_equal(mg_mock_key_known(k), 3);
  e = mg_mock_key_find(k, "Q: 2+2?\nA:", 10);
  assert_non_null(e);
  assert_string_equal(e->continuation, " 4");
  assert_int_equal(e->line, 1);
  assert_int_equal(mg_mock_key_at(k, 1)->line, 3);
  assert_null(mg_mock_key_find(k, "Q: 2+2?", 7));
  assert_null(mg_mock_key_at(k, 3));
  mg_mock_key_free(k);
}

static void test_match(void **state)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_mock_key *k;
  const struct mg_mock_key_entry *e;
  int exact;

  (void)state;
  assert_int_equal(
      mg_mock_key_parse(key_text, strlen(key_text), "k", 1, 1.0, &k, &err), 0);
  e = mg_mock_key_match(k, "Q: 2+2?\nA: 4", 12, &exact);
  assert_non_null(e);
  assert_int_equal(exact, 1);
  assert_string_equal(e->continuation, " 4");
  /* Another choice: the longest context that starts the text. */
  e = mg_mock_key_match(k, "Q: 2+2?\nA: 22", 13, &exact);
  assert_non_null(e);
  assert_int_equal(exact, 0);
  assert_int_equal(e->context_len, 10);
  /* Only the short context "Q:" starts this one. */
  e = mg_mock_key_match(k, "Q: short", 8, &exact);
  assert_non_null(e);
  assert_int_equal(exact, 1);
  e = mg_mock_key_match(k, "Q: who?", 7, &exact);
  assert_non_null(e);
  assert_int_equal(exact, 0);
  assert_null(mg_mock_key_match(k, "nothing", 7, &exact));
  assert_null(mg_mock_key_match(NULL, "Q:", 2, &exact));
  mg_mock_key_free(k);
}

static void test_decisions(void **state)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  struct mg_err err = MG_ERR_INIT;
  struct mg_mock_key *k;
  size_t known = 0;

  (void)state;
  for (int i = 0; i < 1000; i++)
    mg_buf_printf(&b, NULL,
                  "{\"context\":\"question %d\",\"continuation\":\" a\"}\n", i);
  assert_int_equal(mg_mock_key_parse(b.data, b.len, "k", 42, 0.7, &k, &err), 0);
  assert_int_equal(mg_mock_key_count(k), 1000);
  for (size_t i = 0; i < 1000; i++) {
    const struct mg_mock_key_entry *e = mg_mock_key_at(k, i);
    assert_int_equal(e->known,
                     mg_mock_key_decide(42, 0.7, e->context, e->context_len));
    known += (size_t)e->known;
  }
  assert_int_equal(known, mg_mock_key_known(k));
  /* A fair share of 70 %, and every decision fixed by seed and context. */
  assert_true(known > 650 && known < 750);
  mg_mock_key_free(k);
  assert_int_equal(mg_mock_key_parse(b.data, b.len, "k", 42, 0.0, &k, &err), 0);
  assert_int_equal(mg_mock_key_known(k), 0);
  mg_mock_key_free(k);
  /* Another seed makes other decisions. */
  {
    struct mg_mock_key *k2;
    int differ = 0;

    assert_int_equal(mg_mock_key_parse(b.data, b.len, "k", 42, 0.7, &k, &err),
                     0);
    assert_int_equal(mg_mock_key_parse(b.data, b.len, "k", 43, 0.7, &k2, &err),
                     0);
    for (size_t i = 0; i < 1000; i++)
      differ |= mg_mock_key_at(k, i)->known != mg_mock_key_at(k2, i)->known;
    assert_true(differ);
    mg_mock_key_free(k);
    mg_mock_key_free(k2);
  }
  mg_buf_release(&b);
}

static void test_errors(void **state)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_mock_key *k = NULL;
  const char *bad = "{\"context\":\"a\",\"continuation\":\"b\"}\n{oops\n";
  const char *missing = "{\"context\":\"a\"}\n";
  const char *notobj = "[1]\n";

  (void)state;
  assert_int_equal(
      mg_mock_key_parse(bad, strlen(bad), "k.jsonl", 0, 1, &k, &err), -1);
  assert_null(k);
  assert_int_equal(err.cat, MG_ERR_DATA);
  assert_non_null(strstr(err.msg, "line 2"));
  assert_non_null(strstr(err.msg, "k.jsonl"));
  assert_int_equal(
      mg_mock_key_parse(missing, strlen(missing), "k", 0, 1, &k, &err), -1);
  assert_non_null(strstr(err.msg, "'continuation'"));
  assert_int_equal(
      mg_mock_key_parse(notobj, strlen(notobj), "k", 0, 1, &k, &err), -1);
  assert_non_null(strstr(err.msg, "not a JSON object"));
  assert_int_equal(
      mg_mock_key_load("/nonexistent/key.jsonl", 1 << 20, 0, 1, &k, &err), -1);
  assert_int_equal(err.cat, MG_ERR_IO);
  /* An empty key is valid and matches nothing. */
  assert_int_equal(mg_mock_key_parse("", 0, "k", 0, 1, &k, &err), 0);
  assert_int_equal(mg_mock_key_count(k), 0);
  assert_null(mg_mock_key_find(k, "", 0));
  mg_mock_key_free(k);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_parse),
    cmocka_unit_test(test_match),
    cmocka_unit_test(test_decisions),
    cmocka_unit_test(test_errors),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
