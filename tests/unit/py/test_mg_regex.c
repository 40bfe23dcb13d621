#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "py/mg_pv.h"
#include "py/mg_regex.h"

/* Expected values from CPython 3.11's re module. */

static char *findall(const char *pat, const char *s)
{
  struct mg_regex *re;
  struct mg_err err = MG_ERR_INIT;
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  struct mg_pv *l;

  assert_int_equal(mg_regex_compile(pat, &re, &err), 0);
  l = mg_regex_findall(re, s, strlen(s));
  mg_pv_repr(&b, l);
  mg_pv_unref(l);
  mg_regex_free(re);
  return mg_buf_detach(&b, NULL);
}

static char *sub(const char *pat, const char *repl, const char *s, long count)
{
  struct mg_regex *re;
  struct mg_err err = MG_ERR_INIT;
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

  assert_int_equal(mg_regex_compile(pat, &re, &err), 0);
  assert_int_equal(mg_regex_sub(re, repl, s, strlen(s), count, &b, &err), 0);
  mg_regex_free(re);
  return mg_buf_detach(&b, NULL);
}

static void test_findall(void **state)
{
  char *r;

  (void)state;
  r = findall("x*", "axb");
  assert_string_equal(r, "['', 'x', '', '']");
  free(r);
  r = findall("a??", "a");
  assert_string_equal(r, "['', 'a', '']");
  free(r);
  r = findall("#### (\\-?[0-9\\.\\,]+)", "so #### 1,000.\nand #### -3");
  assert_string_equal(r, "['1,000.', '-3']");
  free(r);
  r = findall("(-?[$0-9.,]{2,})|(-?[0-9]+)", "3 apples cost $12.50 or 7");
  assert_string_equal(r, "[('', '3'), ('$12.50', ''), ('', '7')]");
  free(r);
  r = findall("\\d+", "\xd9\xa3\xd9\xa4 and 12");
  assert_string_equal(r, "['\xd9\xa3\xd9\xa4', '12']");
  free(r);
}

static void test_sub(void **state)
{
  char *r;

  (void)state;
  r = sub("x*", "-", "abxd", 0);
  assert_string_equal(r, "-a-b--d-");
  free(r);
  r = sub("(?s).*#### ", "", "work\nmore #### 42", 0);
  assert_string_equal(r, "42");
  free(r);
  r = sub("(\\w+) (?P<second>\\w+)", "\\g<second> \\1", "hello world", 0);
  assert_string_equal(r, "world hello");
  free(r);
  r = sub("o", "0", "foo boo", 2);
  assert_string_equal(r, "f00 boo");
  free(r);
  r = sub("\\.$", "", "18.", 0);
  assert_string_equal(r, "18");
  free(r);
}

static void test_errors(void **state)
{
  struct mg_regex *re = NULL;
  struct mg_err err = MG_ERR_INIT;
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

  (void)state;
  assert_int_equal(mg_regex_compile("(unclosed", &re, &err), -1);
  assert_null(re);
  assert_non_null(strstr(err.msg, "invalid regular expression '(unclosed'"));
  assert_int_equal(mg_regex_compile("(a)", &re, &err), 0);
  assert_int_equal(mg_regex_groups(re), 1);
  assert_int_equal(mg_regex_sub(re, "\\2", "a", 1, 0, &b, &err), -1);
  assert_true(mg_regex_search(re, "xa", 2));
  assert_false(mg_regex_search(re, "xb", 2));
  mg_buf_release(&b);
  mg_regex_free(re);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_findall),
    cmocka_unit_test(test_sub),
    cmocka_unit_test(test_errors),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
