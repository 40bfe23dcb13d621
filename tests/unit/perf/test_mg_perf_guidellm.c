/* Unit tests for mg_perf_guidellm: GuideLLM's DistributionSummary, rate
 * and concurrency distributions. Expected values come from GuideLLM's
 * schemas/statistics.py algorithms transcribed to plain Python and run on
 * the same inputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "mg_json.h"
#include "mg_stats.h"
#include "perf/mg_perf_guidellm.h"

#define CLOSE(a, b)                                                            \
  assert_true(fabs((double)(a) - (double)(b))                                  \
              <= 1e-12 * (1 + fabs((double)(b))))

static double num(const struct mg_json *j, const char *path)
{
  const struct mg_json *v = mg_json_get_path(j, path);

  assert_non_null(v);
  return mg_json_number(v);
}

static void check(const struct mg_json *j, double mean, double median,
                  double mode, double var, double mn, double mx, double count,
                  const double *pct)
{
  static const char *const keys[11] = {
    "percentiles.p001", "percentiles.p01",  "percentiles.p05",
    "percentiles.p10",  "percentiles.p25",  "percentiles.p50",
    "percentiles.p75",  "percentiles.p90",  "percentiles.p95",
    "percentiles.p99",  "percentiles.p999",
  };

  CLOSE(num(j, "mean"), mean);
  CLOSE(num(j, "median"), median);
  CLOSE(num(j, "mode"), mode);
  CLOSE(num(j, "variance"), var);
  CLOSE(num(j, "std_dev"), sqrt(var));
  CLOSE(num(j, "min"), mn);
  CLOSE(num(j, "max"), mx);
  CLOSE(num(j, "count"), count);
  CLOSE(num(j, "total_sum"), mean * count);
  for (int i = 0; i < 11; i++)
    CLOSE(num(j, keys[i]), pct[i]);
  assert_true(mg_json_is_null(mg_json_get(j, "pdf")));
}

static void test_summary(void **state)
{
  struct mg_stats_dist d = MG_STATS_DIST_INIT;
  struct mg_json *j;
  static const double p1[11] = { 1, 1, 1, 1, 2, 2, 3, 5, 5, 5, 5 };
  static const double p2[11] = { 1, 1, 1, 1, 2.5, 2.5, 4, 4, 4, 4, 4 };

  (void)state;
  /* Duplicates merge; a zero weight drops out. */
  mg_stats_dist_add(&d, 3);
  mg_stats_dist_add(&d, 1);
  mg_stats_dist_add(&d, 2);
  mg_stats_dist_add(&d, 2);
  mg_stats_dist_add(&d, 5);
  j = mg_perf_guidellm_summary(&d, -1);
  check(j, 2.6, 2.0, 2.0, 1.84, 1, 5, 5, p1);
  mg_json_free(j);
  mg_stats_dist_release(&d);

  mg_stats_dist_addw(&d, 4, 3);
  mg_stats_dist_addw(&d, 1, 1);
  mg_stats_dist_addw(&d, 2.5, 6);
  j = mg_perf_guidellm_summary(&d, -1);
  check(j, 2.8, 2.5, 2.5, 0.81, 1, 4, 10, p2);
  mg_json_free(j);
  mg_stats_dist_release(&d);

  j = mg_perf_guidellm_summary(&d, 3);
  CLOSE(num(j, "count"), 3);
  CLOSE(num(j, "mean"), 0);
  mg_json_free(j);
}

static void test_rate(void **state)
{
  /* Events 0.05 ms apart merge; the one after the window is dropped. */
  static const double t[] = { 0.10, 0.10005, 0.3, 0.30002, 0.9, 1.5 };
  static const double w[] = { 1, 1, 1, 2, 1, 1 };
  static const double p[11] = { 0,
                                0,
                                0,
                                2.857142857142857,
                                2.857142857142857,
                                7.500000000000001,
                                7.500000000000001,
                                16,
                                16,
                                16,
                                16 };
  struct mg_json *j;

  (void)state;
  j = mg_perf_guidellm_rate(t, w, 6, 0.05, 1.0);
  check(j, 6.315789473684211, 7.500000000000001, 7.500000000000001,
        20.486743173723784, 0, 16, 6, p);
  mg_json_free(j);
  j = mg_perf_guidellm_rate(t, w, 0, 0.05, 1.0);
  CLOSE(num(j, "count"), 0);
  CLOSE(num(j, "mean"), 0);
  mg_json_free(j);
}

static void test_concurrency(void **state)
{
  static const double s[] = { 0.0, 0.2, 0.25, 0.6, 1.5 };
  static const double e[] = { 0.5, 0.7, 0.25005, 1.2, 2.0 };
  static const double p[11] = { 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2 };
  struct mg_json *j;

  (void)state;
  j = mg_perf_guidellm_concurrency(s, e, 5, 0.1, 1.0);
  check(j, 1.4444444444444446, 1, 1, 0.24691358024691357, 1, 2, 4, p);
  mg_json_free(j);
  j = mg_perf_guidellm_concurrency(s, e, 0, 0.1, 1.0);
  CLOSE(num(j, "count"), 0);
  mg_json_free(j);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_summary),
    cmocka_unit_test(test_rate),
    cmocka_unit_test(test_concurrency),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
