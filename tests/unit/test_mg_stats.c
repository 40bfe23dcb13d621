/* Unit tests for mg_stats: summaries, percentiles, histograms, rates
 * and concurrency, against values worked out by hand or by the reference
 * formulas (GuideLLM's searchsorted over cumsum, numpy's linear). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mg_json.h"
#include "mg_stats.h"

#define CLOSE(a, b) assert_true(fabs((a) - (b)) < 1e-9)

static void test_nearest_rank_unweighted(void **state)
{
  struct mg_stats_dist d = MG_STATS_DIST_INIT;
  struct mg_stats_summary s;
  /* searchsorted(cumsum([.1]*10), q, 'left') over 1..10, float sums and
   * all: p90 lands on 10 because the 9th partial sum is 0.8999... */
  static const double want[MG_STATS_NPCT] = { 1, 1,  1,  1,  3, 5,
                                              8, 10, 10, 10, 10 };

  (void)state;
  for (int i = 10; i >= 1; i--)
    mg_stats_dist_add(&d, i);
  mg_stats_dist_summarize(&d, MG_STATS_PCT_NEAREST_RANK, &s);
  assert_int_equal(s.count, 10);
  CLOSE(s.mean, 5.5);
  CLOSE(s.median, 5);
  CLOSE(s.min, 1);
  CLOSE(s.max, 10);
  CLOSE(s.sum, 55);
  CLOSE(s.std, sqrt(8.25));
  for (int i = 0; i < MG_STATS_NPCT; i++)
    CLOSE(s.pct[i], want[i]);
  mg_stats_dist_release(&d);
}

static void test_linear(void **state)
{
  struct mg_stats_dist d = MG_STATS_DIST_INIT;
  struct mg_stats_summary s;

  (void)state;
  mg_stats_dist_add(&d, 4);
  mg_stats_dist_add(&d, 1);
  mg_stats_dist_add(&d, 3);
  mg_stats_dist_add(&d, 2);
  mg_stats_dist_summarize(&d, MG_STATS_PCT_LINEAR, &s);
  /* numpy.percentile([1,2,3,4], q): h = 3q. */
  CLOSE(s.median, 2.5);
  CLOSE(s.pct[4], 1.75);  /* p25 */
  CLOSE(s.pct[5], 2.5);   /* p50 */
  CLOSE(s.pct[9], 3.97);  /* p99 */
  CLOSE(s.pct[0], 1.003); /* p0.1 */
  CLOSE(s.pct[10], 3.997);
  mg_stats_dist_summarize(&d, MG_STATS_PCT_NEAREST_RANK, &s);
  CLOSE(s.median, 2);
  mg_stats_dist_release(&d);
}

static void test_weighted_and_std(void **state)
{
  struct mg_stats_dist d = MG_STATS_DIST_INIT;
  struct mg_stats_summary s;
  static const double v[] = { 2, 4, 4, 4, 5, 5, 7, 9 };

  (void)state;
  mg_stats_dist_addw(&d, 20, 3);
  mg_stats_dist_addw(&d, 10, 1);
  mg_stats_dist_addw(&d, 99, 0); /* ignored */
  mg_stats_dist_summarize(&d, MG_STATS_PCT_NEAREST_RANK, &s);
  assert_int_equal(s.count, 2);
  CLOSE(s.weight, 4);
  CLOSE(s.mean, 17.5);
  CLOSE(s.pct[3], 10); /* p10: cumsum .25 >= .1 at the first value */
  CLOSE(s.pct[4], 10); /* p25: .25 >= .25 */
  CLOSE(s.median, 20);
  CLOSE(s.std, sqrt((1 * 56.25 + 3 * 6.25) / 4));
  mg_stats_dist_release(&d);

  for (size_t i = 0; i < sizeof(v) / sizeof(*v); i++)
    mg_stats_dist_add(&d, v[i]);
  mg_stats_dist_summarize(&d, MG_STATS_PCT_LINEAR, &s);
  CLOSE(s.std, 2);
  CLOSE(s.mean, 5);
  CLOSE(s.median, 4.5);
  mg_stats_dist_release(&d);

  /* Empty. */
  mg_stats_dist_summarize(&d, MG_STATS_PCT_LINEAR, &s);
  assert_int_equal(s.count, 0);
  CLOSE(s.mean, 0);
}

static void test_hist_accuracy(void **state)
{
  (void)state;
  assert_int_equal(mg_stats_hist_index(1.0), 0);
  assert_int_equal(mg_stats_hist_index(1.02), 1);
  for (double v = 1e-3; v < 1e6; v *= 1.0371) {
    double rep = mg_stats_hist_value(mg_stats_hist_index(v));
    assert_true(fabs(rep - v) / v <= MG_STATS_HIST_ALPHA + 1e-12);
  }
}

static void test_json_and_hist_merge(void **state)
{
  struct mg_stats_dist a = MG_STATS_DIST_INIT, b = MG_STATS_DIST_INIT;
  struct mg_json *ja, *jb, *bins;
  double total = 0;

  (void)state;
  mg_stats_dist_add(&a, 0);
  mg_stats_dist_add(&a, 10);
  mg_stats_dist_add(&a, 10.01);
  mg_stats_dist_add(&a, 100);
  ja = mg_stats_dist_json(&a, MG_STATS_PCT_NEAREST_RANK, 1);
  assert_int_equal((int)mg_json_number(mg_json_get(ja, "count")), 4);
  assert_null(mg_json_get(ja, "weight"));
  assert_true(mg_json_number(mg_json_get_path(ja, "percentiles.p50")) == 10);
  assert_true(mg_json_number(mg_json_get_path(ja, "hist.zero")) == 1);
  bins = mg_json_get_path(ja, "hist.bins");
  /* 10 and 10.01 share a bucket; 100 has its own. */
  assert_int_equal(mg_json_size(bins), 2);
  for (struct mg_json *x = mg_json_first(bins); x; x = mg_json_next(x))
    total += mg_json_number(mg_json_at(x, 1));
  assert_true(total == 3);
  assert_int_equal((int)mg_json_number(mg_json_at(mg_json_at(bins, 0), 0)),
                   mg_stats_hist_index(10));
  /* Merging distributions is adding their values. */
  mg_stats_dist_add(&b, 100);
  mg_stats_dist_merge(&b, &a);
  jb = mg_stats_dist_json(&b, MG_STATS_PCT_NEAREST_RANK, 1);
  assert_int_equal((int)mg_json_number(mg_json_get(jb, "count")), 5);
  assert_true(mg_json_number(mg_json_at(
                  mg_json_at(mg_json_get_path(jb, "hist.bins"), 1), 1))
              == 2);
  mg_json_free(ja);
  mg_json_free(jb);
  mg_stats_dist_release(&a);
  mg_stats_dist_release(&b);
}

static int cmp_d(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* The radix sort, the one-pass percentiles and the histogram shortcut
 * against the direct definitions on many values, negatives and bucket
 * edges included. */
static void test_large_against_reference(void **state)
{
  struct mg_stats_dist d = MG_STATS_DIST_INIT, w = MG_STATS_DIST_INIT;
  struct mg_stats_summary s;
  struct mg_json *j, *bins;
  size_t n = 5000, nb = 0;
  double *ref = malloc(n * sizeof(double));
  double g = (1 + MG_STATS_HIST_ALPHA) / (1 - MG_STATS_HIST_ALPHA);
  int last = 0, have = 0;
  double acc = 0;

  (void)state;
  srand(7);
  for (size_t i = 0; i < n; i++) {
    double v = (double)rand() / RAND_MAX * 200 - 20;
    if (i % 7 == 0)
      v = pow(g, (int)(i % 300) - 100); /* on a bucket edge */
    if (i % 11 == 0)
      v = 3.25; /* duplicates */
    ref[i] = v;
    mg_stats_dist_add(&d, v);
    mg_stats_dist_addw(&w, v, 1 + (double)(i % 5));
  }
  qsort(ref, n, sizeof(double), cmp_d);
  mg_stats_dist_summarize(&d, MG_STATS_PCT_NEAREST_RANK, &s);
  for (size_t i = 0; i < n; i++)
    assert_true(d.v[i] == ref[i]);
  for (int i = 0; i < MG_STATS_NPCT; i++)
    assert_true(s.pct[i]
                == mg_stats_dist_quantile(&d, mg_stats_pct_q[i],
                                          MG_STATS_PCT_NEAREST_RANK));
  assert_true(s.median
              == mg_stats_dist_quantile(&d, 0.5, MG_STATS_PCT_NEAREST_RANK));
  mg_stats_dist_summarize(&w, MG_STATS_PCT_NEAREST_RANK, &s);
  for (size_t i = 0; i < n; i++)
    assert_true(w.v[i] == ref[i]);
  for (int i = 0; i < MG_STATS_NPCT; i++)
    assert_true(s.pct[i]
                == mg_stats_dist_quantile(&w, mg_stats_pct_q[i],
                                          MG_STATS_PCT_NEAREST_RANK));
  j = mg_stats_dist_json(&d, MG_STATS_PCT_NEAREST_RANK, 1);
  bins = mg_json_get_path(j, "hist.bins");
  for (size_t i = 0; i < n; i++) {
    int idx;
    if (!(ref[i] > 0))
      continue;
    idx = mg_stats_hist_index(ref[i]);
    if (have && idx != last) {
      struct mg_json *b = mg_json_at(bins, nb++);
      assert_int_equal((int)mg_json_number(mg_json_at(b, 0)), last);
      CLOSE(mg_json_number(mg_json_at(b, 1)), acc);
      acc = 0;
    }
    last = idx;
    have = 1;
    acc += 1;
  }
  assert_int_equal((int)mg_json_number(mg_json_at(mg_json_at(bins, nb), 0)),
                   last);
  assert_int_equal(mg_json_size(bins), nb + 1);
  mg_json_free(j);
  mg_stats_dist_release(&d);
  mg_stats_dist_release(&w);
  free(ref);
}

static void test_rate_dist(void **state)
{
  struct mg_stats_dist d = MG_STATS_DIST_INIT;
  struct mg_stats_summary s;
  double t[] = { 1, 2, 3 }, c[] = { 1, 1, 1 };

  (void)state;
  mg_stats_rate_dist(t, c, 3, 0, 4, &d);
  mg_stats_dist_summarize(&d, MG_STATS_PCT_NEAREST_RANK, &s);
  /* Intervals [0,1.5], [1.5,2.5], [2.5,4]: rates 2/3, 1, 2/3. */
  CLOSE(s.weight, 4);
  CLOSE(s.mean, 0.75);
  CLOSE(s.max, 1);
  CLOSE(s.min, 2.0 / 3);
  mg_stats_dist_release(&d);
}

static void test_concurrency(void **state)
{
  struct mg_stats_dist d = MG_STATS_DIST_INIT;
  struct mg_stats_summary s;
  double st[] = { 0, 1, 5, -1 }, en[] = { 2, 3, 6, 0.5 };
  int peak;

  (void)state;
  /* [0,2) and [1,3) overlap on [1,2); [5,6) lies outside [0,4); the last
   * one is clipped to [0,0.5). */
  mg_stats_concurrency(st, en, 4, 0, 4, &d, &peak);
  mg_stats_dist_summarize(&d, MG_STATS_PCT_NEAREST_RANK, &s);
  assert_int_equal(peak, 2);
  CLOSE(s.weight, 4);
  CLOSE(s.mean, (2 * 0.5 + 1 * 0.5 + 2 * 1 + 1 * 1 + 0 * 1) / 4.0);
  CLOSE(s.median, 1);
  CLOSE(s.max, 2);
  mg_stats_dist_release(&d);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_nearest_rank_unweighted),
    cmocka_unit_test(test_linear),
    cmocka_unit_test(test_weighted_and_std),
    cmocka_unit_test(test_hist_accuracy),
    cmocka_unit_test(test_json_and_hist_merge),
    cmocka_unit_test(test_large_against_reference),
    cmocka_unit_test(test_rate_dist),
    cmocka_unit_test(test_concurrency),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
