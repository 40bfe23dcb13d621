/*
 * lm-eval's group aggregate: size-weighted and plain means, the pooled
 * standard error, and "N/A" when a leaf has no standard error or size.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <math.h>
#include <cmocka.h>

#include "eval/mg_eval_group.h"

static void test_aggregate(void **state)
{
  struct mg_eval_group g;
  double se = 0;

  (void)state;
  mg_eval_group_init(&g);
  mg_eval_group_add(&g, 0.5, 100, 1, 1, 0.05);
  mg_eval_group_add(&g, 0.25, 300, 1, 1, 0.025);
  assert_int_equal(g.k, 2);
  /* (0.5 * 100 + 0.25 * 300) / 400, and (0.5 + 0.25) / 2 */
  assert_true(mg_eval_group_value(&g, 1) == 125.0 / 400.0);
  assert_true(mg_eval_group_value(&g, 0) == 0.375);
  assert_true(mg_eval_group_stderr(&g, &se));
  /* sqrt((99 * 0.05^2 * 100 + 299 * 0.025^2 * 300) / (400 - 2) / 400) */
  assert_true(
      fabs(se
           - sqrt((99 * 0.0025 * 100 + 299 * 0.000625 * 300) / 398.0 / 400.0))
      < 1e-15);
  mg_eval_group_add(&g, 1.0, 10, 1, 0, 0);
  assert_false(mg_eval_group_stderr(&g, &se)); /* a leaf without one */
  mg_eval_group_release(&g);
  mg_eval_group_init(&g);
  mg_eval_group_add(&g, 1.0, 0, 0, 1, 0.1);
  assert_false(g.sized);
  assert_false(mg_eval_group_stderr(&g, &se)); /* no size */
  assert_true(mg_eval_group_value(&g, 0) == 1.0);
  mg_eval_group_release(&g);
  mg_eval_group_init(&g);
  assert_false(mg_eval_group_stderr(&g, &se)); /* empty */
  mg_eval_group_release(&g);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_aggregate),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
