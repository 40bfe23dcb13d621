/* Unit tests for mg_perf_osd: over-saturation detection. Expected values
 * come from GuideLLM's formulas (scheduler/constraints/saturation.py) run
 * in CPython 3.11 with the same inputs and random.Random(1) draws. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "mg_err.h"
#include "mg_json.h"
#include "perf/mg_perf_osd.h"
#include "perf/mg_perf_rand.h"

static void test_t_ppf(void **state)
{
  (void)state;
  assert_true(mg_perf_osd_t_ppf(0.975, 10) == 2.2192073919054045);
  assert_true(mg_perf_osd_t_ppf(0.025, 3.5) == -2.6684762199003824);
  assert_true(mg_perf_osd_t_ppf(0.975, 1) == 6.479055276561087);
  assert_true(isnan(mg_perf_osd_t_ppf(0.975, 0)));
}

static void test_slope(void **state)
{
  struct mg_perf_osd_slope s;
  static const double x[] = { 1, 2, 3, 4, 5 };
  static const double y[] = { 2.0, 2.9, 4.2, 4.8, 6.1 };

  (void)state;
  memset(&s, 0, sizeof(s));
  for (int i = 0; i < 5; i++)
    mg_perf_osd_slope_add(&s, x[i], y[i]);
  assert_int_equal(mg_perf_osd_slope_check(&s, 5, 2.0, 0.95), 1);
  assert_true(s.slope == 1.0099999999999993);
  assert_true(s.moe == 0.17005836844359712);
  mg_perf_osd_slope_remove(&s, 1, 2.0);
  assert_int_equal(mg_perf_osd_slope_check(&s, 4, 0.5, 0.95), 1);
  assert_true(s.slope == 1.019999999999999);
  assert_true(s.moe == 0.35749456026760434);
  /* Too few points: no verdict, nothing changes. */
  assert_int_equal(mg_perf_osd_slope_check(&s, 2.5, 2.0, 0.95), 0);
  assert_true(s.slope == 1.019999999999999);
  /* A flat series is not a positive slope. */
  memset(&s, 0, sizeof(s));
  for (int i = 0; i < 10; i++)
    mg_perf_osd_slope_add(&s, i, 3);
  assert_int_equal(mg_perf_osd_slope_check(&s, 10, 2.0, 0.95), 0);
}

static void test_detector(void **state)
{
  struct mg_perf_osd_opts o;
  struct mg_perf_osd d;
  struct mg_perf_rand r;
  int first = -1;
  struct mg_json *j;

  (void)state;
  mg_perf_osd_opts_init(&o);
  o.min_seconds = 1;
  o.minimum_ttft = 0.1;
  mg_perf_osd_init(&d, &o);
  mg_perf_rand_seed(&r, 1);
  for (int i = 0; i < 200; i++) {
    double t = i * 0.05;
    mg_perf_osd_started(&d, t, 1 + i / 2 + (int)mg_perf_rand_randint(&r, 0, 3));
    if (i >= 4)
      mg_perf_osd_first_token(&d, t,
                              0.05 + 0.02 * i + mg_perf_rand_random(&r) * 0.05);
    if (mg_perf_osd_check(&d, t) && first < 0)
      first = i;
  }
  assert_int_equal(first, 100);
  assert_true(d.detected && d.detected_at == 5.0);
  assert_true(d.conc.slope == 10.02163651717853);
  assert_true(d.conc.moe == 0.04301138553664568);
  assert_true(d.ttft.slope == 0.3999357416733908);
  assert_true(d.ttft.moe == 0.014288766910745643);
  assert_int_equal(d.violations, 147);
  assert_int_equal(d.conc.n, 150);
  assert_int_equal(d.ttft.n, 147);
  j = mg_perf_osd_json(&d);
  assert_true(mg_json_bool(mg_json_get(j, "detected")));
  assert_true(mg_json_number(mg_json_get(j, "detected_at_s")) == 5.0);
  assert_string_equal(mg_json_string(mg_json_get(j, "mode")), "enforce");
  mg_json_free(j);
  mg_perf_osd_release(&d);

  /* A steady server: flat concurrency and TTFT never trigger. */
  mg_perf_osd_init(&d, &o);
  for (int i = 0; i < 400; i++) {
    double t = i * 0.05;
    mg_perf_osd_started(&d, t, 8 + (int)mg_perf_rand_randint(&r, 0, 1));
    mg_perf_osd_first_token(&d, t, 0.2 + mg_perf_rand_random(&r) * 0.01);
    assert_int_equal(mg_perf_osd_check(&d, t), 0);
  }
  assert_false(d.detected);
  mg_perf_osd_release(&d);
}

static void test_parse(void **state)
{
  struct mg_perf_osd_opts o;
  struct mg_err err = MG_ERR_INIT;

  (void)state;
  mg_perf_osd_opts_init(&o);
  assert_int_equal(mg_perf_osd_opts_parse("min_seconds=5,mode=monitor,"
                                          "minimum_ttft=0.5,"
                                          "minimum_window_size=7",
                                          &o, &err),
                   0);
  assert_true(o.min_seconds == 5 && o.minimum_ttft == 0.5);
  assert_int_equal(o.enforce, 0);
  assert_int_equal(o.min_window_size, 7);
  assert_int_equal(mg_perf_osd_opts_parse("{\"enabled\": true, "
                                          "\"max_window_seconds\": 60, "
                                          "\"confidence\": 0.9}",
                                          &o, &err),
                   0);
  assert_int_equal(o.enforce, 1);
  assert_true(o.max_window_seconds == 60 && o.confidence == 0.9);
  assert_int_equal(mg_perf_osd_opts_parse("bogus=1", &o, &err), -1);
  assert_int_equal(err.cat, MG_ERR_USAGE);
  assert_int_equal(mg_perf_osd_opts_parse("confidence=2", &o, &err), -1);
  assert_int_equal(mg_perf_osd_opts_parse("mode=x", &o, &err), -1);
  assert_int_equal(mg_perf_osd_opts_parse("{\"min_seconds\": -1}", &o, &err),
                   -1);
  assert_int_equal(mg_perf_osd_opts_parse("[1]", &o, &err), -1);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_t_ppf),
    cmocka_unit_test(test_slope),
    cmocka_unit_test(test_detector),
    cmocka_unit_test(test_parse),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
