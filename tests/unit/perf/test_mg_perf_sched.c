/* Unit tests for mg_perf_sched and mg_perf_rand. Expected random values
 * come from CPython 3.11's random.Random with the same seeds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "perf/mg_perf_rand.h"
#include "perf/mg_perf_sched.h"

#define CLOSE(a, b) assert_true(fabs((a) - (b)) < 1e-12)

static void test_rand_matches_cpython(void **state)
{
  struct mg_perf_rand r;

  (void)state;
  /* random.Random(42).random() x3 */
  mg_perf_rand_seed(&r, 42);
  assert_true(mg_perf_rand_random(&r) == 0.6394267984578837);
  assert_true(mg_perf_rand_random(&r) == 0.025010755222666936);
  assert_true(mg_perf_rand_random(&r) == 0.27502931836911926);
  /* gauss(100, 10) x3 (the second comes from the cached pair) */
  mg_perf_rand_seed(&r, 42);
  CLOSE(mg_perf_rand_gauss(&r, 100, 10), 98.55909670422072);
  CLOSE(mg_perf_rand_gauss(&r, 100, 10), 98.27096399668481);
  CLOSE(mg_perf_rand_gauss(&r, 100, 10), 98.88684138432338);
  /* randint */
  mg_perf_rand_seed(&r, 42);
  assert_int_equal(mg_perf_rand_randint(&r, 1, 100), 82);
  assert_int_equal(mg_perf_rand_randint(&r, 1, 100), 15);
  assert_int_equal(mg_perf_rand_randint(&r, 1, 100), 4);
  mg_perf_rand_seed(&r, 42);
  assert_true(mg_perf_rand_randint(&r, 0, 1000000000000LL) == 123005401501LL);
  /* Seeds over 32 bits and zero. */
  mg_perf_rand_seed(&r, (1ULL << 40) + 5);
  assert_true(mg_perf_rand_random(&r) == 0.5043802970418443);
  mg_perf_rand_seed(&r, 0);
  assert_true(mg_perf_rand_random(&r) == 0.8444218515250481);
}

static void test_gamma_mean(void **state)
{
  struct mg_perf_rand r;
  double sum = 0, sum2 = 0;
  int n = 20000;

  (void)state;
  /* Shape 0.5 (bursty) and 4 (even): mean k theta, variance k theta^2. */
  mg_perf_rand_seed(&r, 1);
  for (int i = 0; i < n; i++) {
    double x = mg_perf_rand_gamma(&r, 0.5, 2.0);
    sum += x;
    sum2 += x * x;
  }
  assert_true(fabs(sum / n - 1.0) < 0.05);
  assert_true(fabs(sum2 / n - 1.0 - 2.0) < 0.3);
  sum = 0;
  for (int i = 0; i < n; i++)
    sum += mg_perf_rand_gamma(&r, 4, 0.25);
  assert_true(fabs(sum / n - 1.0) < 0.03);
}

static void test_constant_and_rampup(void **state)
{
  struct mg_perf_profile p;
  struct mg_perf_sched s;
  double prev = 0;

  (void)state;
  memset(&p, 0, sizeof(p));
  p.kind = MG_PERF_CONSTANT;
  p.rate = 4;
  mg_perf_sched_init(&s, &p);
  CLOSE(mg_perf_sched_next(&s, -1), 0.25);
  CLOSE(mg_perf_sched_next(&s, -1), 0.5);
  CLOSE(mg_perf_sched_next(&s, -1), 0.75);
  /* Linear ramp over 2 s at 4/s: k <= 4 on the sqrt branch. */
  p.rampup_s = 2;
  mg_perf_sched_init(&s, &p);
  CLOSE(mg_perf_sched_next(&s, -1), sqrt(2 * 1 * 2 / 4.0));
  CLOSE(mg_perf_sched_next(&s, -1), sqrt(2 * 2 * 2 / 4.0));
  CLOSE(mg_perf_sched_next(&s, -1), sqrt(2 * 3 * 2 / 4.0));
  CLOSE(mg_perf_sched_next(&s, -1), 2.0);
  CLOSE(mg_perf_sched_next(&s, -1), 2.25);
  CLOSE(mg_perf_sched_next(&s, -1), 2.5);
  /* Offsets never go back. */
  mg_perf_sched_init(&s, &p);
  for (int i = 0; i < 100; i++) {
    double t = mg_perf_sched_next(&s, -1);
    assert_true(t > prev);
    prev = t;
  }
  assert_int_equal(mg_perf_sched_limit(&p), 0);
  assert_true(mg_perf_sched_kind_open_loop(p.kind));
}

static void test_poisson_matches_guidellm(void **state)
{
  struct mg_perf_profile p;
  struct mg_perf_sched s;
  double t = 0;

  (void)state;
  memset(&p, 0, sizeof(p));
  p.kind = MG_PERF_POISSON;
  p.rate = 4;
  p.seed = 42;
  mg_perf_sched_init(&s, &p);
  /* Random(42).expovariate(4.0), accumulated as GuideLLM's offset. */
  t += 0.25501507181870026;
  CLOSE(mg_perf_sched_next(&s, -1), t);
  t += 0.006332209760684723;
  CLOSE(mg_perf_sched_next(&s, -1), t);
  t += 0.0804060160187414;
  CLOSE(mg_perf_sched_next(&s, -1), t);
  /* The long-run rate is the target. */
  for (int i = 3; i < 20000; i++)
    t = mg_perf_sched_next(&s, -1);
  assert_true(fabs(20000 / t - 4) < 0.1);
}

static void test_gamma_profile_rate(void **state)
{
  struct mg_perf_profile p;
  struct mg_perf_sched s;
  double t = 0;

  (void)state;
  memset(&p, 0, sizeof(p));
  p.kind = MG_PERF_GAMMA;
  p.rate = 10;
  p.burstiness = 0.5;
  p.seed = 7;
  mg_perf_sched_init(&s, &p);
  for (int i = 0; i < 20000; i++)
    t = mg_perf_sched_next(&s, -1);
  assert_true(fabs(20000 / t - 10) < 0.4);
}

static void test_closed_loop_profiles(void **state)
{
  struct mg_perf_profile p;
  struct mg_perf_sched s;

  (void)state;
  memset(&p, 0, sizeof(p));
  p.kind = MG_PERF_SYNCHRONOUS;
  assert_int_equal(mg_perf_sched_limit(&p), 1);
  assert_false(mg_perf_sched_kind_open_loop(p.kind));
  p.kind = MG_PERF_CONCURRENT;
  p.streams = 4;
  p.rampup_s = 2;
  assert_int_equal(mg_perf_sched_limit(&p), 4);
  mg_perf_sched_init(&s, &p);
  CLOSE(mg_perf_sched_next(&s, -1), 0);
  CLOSE(mg_perf_sched_next(&s, -1), 0.5);
  CLOSE(mg_perf_sched_next(&s, -1), 1.0);
  CLOSE(mg_perf_sched_next(&s, -1), 1.5);
  CLOSE(mg_perf_sched_next(&s, -1), 0);
  p.kind = MG_PERF_THROUGHPUT;
  p.max_concurrency = 2;
  mg_perf_sched_init(&s, &p);
  CLOSE(mg_perf_sched_next(&s, -1), 0);
  CLOSE(mg_perf_sched_next(&s, -1), 1);
  CLOSE(mg_perf_sched_next(&s, -1), 2);
  CLOSE(mg_perf_sched_next(&s, -1), 2);
  p.kind = MG_PERF_REPLAY;
  p.time_scale = 0.5;
  mg_perf_sched_init(&s, &p);
  CLOSE(mg_perf_sched_next(&s, 3.0), 1.5);
}

static void test_names_and_sweep(void **state)
{
  double r[8];

  (void)state;
  assert_int_equal(mg_perf_sched_kind_parse("async"), MG_PERF_CONSTANT);
  assert_int_equal(mg_perf_sched_kind_parse("sweep"), MG_PERF_SWEEP);
  assert_int_equal(mg_perf_sched_kind_parse("nope"), -1);
  assert_string_equal(mg_perf_sched_kind_name(MG_PERF_POISSON), "poisson");
  /* GuideLLM v0.2.1 live: sync 2.71, thr 64.69, sweep 4 -> 33.70, 64.69. */
  assert_int_equal(mg_perf_sched_sweep_rates(2.71, 64.69, 4, r), 2);
  CLOSE(r[0], 33.7);
  assert_true(r[1] == 64.69);
  /* The default 10: 8 rates, evenly spaced, ending at r_thr. */
  assert_int_equal(mg_perf_sched_sweep_rates(1, 10, 10, r), 8);
  CLOSE(r[0], 1 + 9.0 / 8);
  assert_true(r[7] == 10);
  assert_int_equal(mg_perf_sched_sweep_rates(1, 10, 2, r), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_rand_matches_cpython),
    cmocka_unit_test(test_gamma_mean),
    cmocka_unit_test(test_constant_and_rampup),
    cmocka_unit_test(test_poisson_matches_guidellm),
    cmocka_unit_test(test_gamma_profile_rate),
    cmocka_unit_test(test_closed_loop_profiles),
    cmocka_unit_test(test_names_and_sweep),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
