/*
 * lm-eval's results table against tables lm-eval itself printed
 * (tests/fixtures/eval-table, see SOURCE.txt there), and the formatting
 * rules on hand-made dicts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "eval/mg_eval_table.h"
#include "mg_buf.h"
#include "mg_err.h"
#include "mg_io.h"
#include "mg_mem.h"
#include "py/mg_pv.h"

static char *fixture(const char *name)
{
  const char *top = getenv("MG_TOP");
  char *p = mg_xasprintf("%s/tests/fixtures/eval-table/%s",
                         top && *top ? top : ".", name);
  struct mg_buf b = MG_BUF_INIT(1 << 20);
  struct mg_err err = MG_ERR_INIT;

  if (mg_io_read_file(p, &b, &err) < 0)
    fail_msg("%s", err.msg);
  free(p);
  return mg_buf_detach(&b, NULL);
}

static struct mg_pv *parse(const char *json)
{
  struct mg_pv *v = NULL;
  struct mg_err err = MG_ERR_INIT;

  if (mg_pv_parse(json, strlen(json), MG_PV_JSON, "test", &v, &err) < 0)
    fail_msg("%s", err.msg);
  return v;
}

static void expect_table(const char *json, const char *column, const char *want)
{
  struct mg_pv *d = parse(json);
  struct mg_buf b = MG_BUF_INIT(1 << 20);

  assert_int_equal(mg_eval_table(d, column, &b), 0);
  if (strcmp(b.data ? b.data : "", want))
    fail_msg("got:\n%s\nwant:\n%s", b.data ? b.data : "", want);
  mg_buf_release(&b);
  mg_pv_unref(d);
}

static void test_golden(void **state)
{
  static const char *const names[] = { "mmlu_stem", "humaneval" };

  (void)state;
  for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
    char *jn = mg_xasprintf("%s.json", names[i]);
    char *tn = mg_xasprintf("%s.txt", names[i]);
    char *json = fixture(jn), *txt = fixture(tn);

    expect_table(json, "results", txt);
    free(json);
    free(txt);
    free(jn);
    free(tn);
  }
}

/* The rules themselves (expected tables derived from the rules in
 * mg_eval_table.h, not from lm-eval output). */
static void test_rules(void **state)
{
  (void)state;
  /* groups: header "Groups"; an unaggregated group's " " row; metrics in
   * sorted key order; missing version and n-shot; a real column whose
   * integers pull the decimals down: ceil(mean(0, 0, 4, 0, 4) + 1) -> 3,
   * rounded half to even on the digits (0.1235 -> 0.124, 0.1225 ->
   * 0.122) */
  expect_table(
      "{\"groups\": {\"g\": {\"alias\": \"g\", \"acc_norm,none\": 1.0, "
      "\"acc,none\": 0.0, \"acc_stderr,none\": 0.05}, "
      "\"h\": {\"alias\": \" - h\", \" \": \" \"}, "
      "\"k\": {\"alias\": \"k\", \"f1,x\": 0.1235}, "
      "\"m\": {\"alias\": \"m\", \"y,none\": 0.1225, \"x,none\": 0.0}}, "
      "\"versions\": {\"g\": 2}, \"n-shot\": {\"g\": 5}, "
      "\"higher_is_better\": {\"g\": {\"acc\": true, \"acc_norm\": false}}}",
      "groups",
      "|Groups|Version|Filter|n-shot| Metric |   |Value|   |Stderr|\n"
      "|------|-------|------|-----:|--------|---|----:|---|-----:|\n"
      "|g     |      2|none  |     5|acc     |↑  |0.000|±  |0.0500|\n"
      "|      |       |none  |     5|acc_norm|↓  |1.000|   |      |\n"
      "| - h  |    N/A|      |      |        |   |     |   |      |\n"
      "|k     |    N/A|x     |      |f1      |   |0.124|   |      |\n"
      "|m     |    N/A|none  |      |x       |   |0.000|   |      |\n"
      "|      |       |none  |      |y       |   |0.122|   |      |\n");
  /* no such column */
  {
    struct mg_pv *d = parse("{\"results\": {}}");
    struct mg_buf b = MG_BUF_INIT(1 << 10);

    assert_int_equal(mg_eval_table(d, "groups", &b), -1);
    assert_int_equal(b.len, 0);
    mg_pv_unref(d);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_golden),
    cmocka_unit_test(test_rules),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
