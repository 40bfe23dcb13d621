/* Unit tests for mg_propkey: the property key scheme (moved here from
 * test_mg_registry.c with the function). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "publish/mg_propkey.h"

static void test_keys(void **state)
{
  const char *p1[] = { "eval", "my label", "gsm8k", "acc,none" };
  const char *p2[] = { "perf", "", "x.y" };
  char longpart[200];
  const char *p3[] = { "eval", longpart };
  const char *p4[] = { "eval", longpart, "b" };
  char *k, *k2;

  (void)state;
  k = mg_propkey_join(p1, 4);
  assert_string_equal(k, "eval.my_label.gsm8k.acc_none");
  free(k);
  k = mg_propkey_join(p2, 3);
  assert_string_equal(k, "perf._.x_y");
  free(k);
  memset(longpart, 'a', sizeof(longpart) - 1);
  longpart[sizeof(longpart) - 1] = '\0';
  k = mg_propkey_join(p3, 2);
  k2 = mg_propkey_join(p4, 3);
  assert_int_equal(strlen(k), MG_PROPKEY_MAX);
  assert_int_equal(strlen(k2), MG_PROPKEY_MAX);
  assert_int_equal(k[MG_PROPKEY_MAX - 9], '~');
  assert_string_not_equal(k, k2);
  free(k);
  free(k2);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_keys),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
