#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mg_err.h"
#include "mg_mem.h"

static void test_set_and_prefix(void **state)
{
  struct mg_err err = MG_ERR_INIT;

  (void)state;
  assert_int_equal(err.cat, MG_ERR_NONE);
  assert_int_equal(mg_err_set(&err, MG_ERR_DATA, "missing field '%s'", "x"),
                   -1);
  assert_int_equal(err.cat, MG_ERR_DATA);
  assert_string_equal(err.msg, "missing field 'x'");
  assert_int_equal(mg_err_prefix(&err, "task '%s'", "gsm8k"), -1);
  assert_string_equal(err.msg, "task 'gsm8k': missing field 'x'");
  mg_err_clear(&err);
  assert_int_equal(err.cat, MG_ERR_NONE);
  assert_string_equal(err.msg, "");
  /* NULL is allowed and still returns -1. */
  assert_int_equal(mg_err_set(NULL, MG_ERR_IO, "x"), -1);
}

static void test_errno_and_truncation(void **state)
{
  struct mg_err err = MG_ERR_INIT;
  char longname[600];

  (void)state;
  errno = ENOENT;
  mg_err_errno(&err, MG_ERR_IO, "cannot open '%s'", "f");
  assert_string_equal(err.msg, "cannot open 'f': No such file or directory");
  assert_int_equal(errno, ENOENT);
  memset(longname, 'x', sizeof(longname) - 1);
  longname[sizeof(longname) - 1] = '\0';
  mg_err_set(&err, MG_ERR_IO, "cannot open '%s'", longname);
  assert_int_equal(strlen(err.msg), MG_ERR_MSG_MAX - 1);
  mg_err_prefix(&err, "%s", longname);
  assert_int_equal(strlen(err.msg), MG_ERR_MSG_MAX - 1);
}

static void test_mem(void **state)
{
  char *s = mg_xasprintf("%s-%d", "a", 7);
  char *t = mg_xstrndup("hello", 3);
  int *arr = mg_xreallocarray(NULL, 10, sizeof(int));
  char secret[8] = "token12";

  (void)state;
  assert_string_equal(s, "a-7");
  assert_string_equal(t, "hel");
  arr[9] = 1;
  mg_wipe(secret, sizeof(secret));
  for (size_t i = 0; i < sizeof(secret); i++)
    assert_int_equal(secret[i], 0);
  free(s);
  free(t);
  free(arr);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_set_and_prefix),
    cmocka_unit_test(test_errno_and_truncation),
    cmocka_unit_test(test_mem),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
