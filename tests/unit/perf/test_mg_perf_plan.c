/* Unit tests for mg_perf_plan: the benchmarks of a run, and the sweep's
 * rates added once synchronous and throughput are measured. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "mg_err.h"
#include "perf/mg_perf_cfg.h"
#include "perf/mg_perf_plan.h"

static void configure(struct mg_perf_config *c, const char *profile,
                      const char *rate)
{
  struct mg_err err = MG_ERR_INIT;

  mg_perf_cfg_init(c);
  c->target = "http://h";
  c->max_requests = 10;
  assert_int_equal(mg_perf_cfg_profile(c, profile, &err), 0);
  c->rate_arg = rate;
  assert_int_equal(mg_perf_cfg_finish(c, &err), 0);
}

static void test_rates(void **state)
{
  struct mg_perf_config c;
  struct mg_perf_plan p;
  const struct mg_perf_profile *s;
  double want[] = { 1, 2.5, 4 };
  int i = 0;

  (void)state;
  configure(&c, "constant", "1,2.5,4");
  c.max_concurrency = 7;
  mg_perf_plan_init(&p, &c);
  assert_int_equal(mg_perf_plan_count(&p), 3);
  while ((s = mg_perf_plan_next(&p))) {
    assert_int_equal(p.next - 1, i);
    assert_int_equal(s->kind, MG_PERF_CONSTANT);
    assert_true(s->rate == want[i]);
    assert_int_equal(s->max_concurrency, 7);
    assert_int_equal((int)s->seed, 42);
    mg_perf_plan_done(&p, 100); /* no effect outside a sweep */
    i++;
  }
  assert_int_equal(i, 3);
  assert_null(mg_perf_plan_next(&p));
  mg_perf_plan_release(&p);
  mg_perf_cfg_release(&c);

  /* One benchmark without rates; throughput defaults to 512 streams. */
  configure(&c, "throughput", NULL);
  mg_perf_plan_init(&p, &c);
  s = mg_perf_plan_next(&p);
  assert_non_null(s);
  assert_int_equal(s->kind, MG_PERF_THROUGHPUT);
  assert_int_equal(s->max_concurrency, 512);
  assert_null(mg_perf_plan_next(&p));
  mg_perf_plan_release(&p);
  mg_perf_cfg_release(&c);

  configure(&c, "concurrent", "2,8");
  mg_perf_plan_init(&p, &c);
  assert_int_equal(mg_perf_plan_next(&p)->streams, 2);
  assert_int_equal(mg_perf_plan_next(&p)->streams, 8);
  assert_null(mg_perf_plan_next(&p));
  mg_perf_plan_release(&p);
  mg_perf_cfg_release(&c);
}

static void test_sweep(void **state)
{
  struct mg_perf_config c;
  struct mg_perf_plan p;
  const struct mg_perf_profile *s;

  (void)state;
  /* sweep 6: synchronous, throughput, then linspace(2, 10, 5)[1:]. */
  configure(&c, "sweep", "6");
  c.sweep_kind = MG_PERF_POISSON;
  c.seed = 5;
  mg_perf_plan_init(&p, &c);
  assert_int_equal(mg_perf_plan_count(&p), 2);
  s = mg_perf_plan_next(&p);
  assert_int_equal(s->kind, MG_PERF_SYNCHRONOUS);
  mg_perf_plan_done(&p, 2);
  assert_int_equal(mg_perf_plan_count(&p), 2);
  s = mg_perf_plan_next(&p);
  assert_int_equal(s->kind, MG_PERF_THROUGHPUT);
  assert_int_equal(s->max_concurrency, 512);
  mg_perf_plan_done(&p, 10);
  assert_int_equal(mg_perf_plan_count(&p), 6);
  for (int k = 0; k < 4; k++) {
    s = mg_perf_plan_next(&p);
    assert_non_null(s);
    assert_int_equal(s->kind, MG_PERF_POISSON);
    assert_true(fabs(s->rate - (4 + 2 * k)) < 1e-12);
    assert_int_equal(s->max_concurrency, 0); /* open loop: unlimited */
    assert_int_equal((int)s->seed, 5);
    mg_perf_plan_done(&p, 1); /* later figures change nothing */
  }
  assert_true(s->rate == 10); /* the last rate is r_thr exactly */
  assert_null(mg_perf_plan_next(&p));
  mg_perf_plan_release(&p);
  mg_perf_cfg_release(&c);

  /* A step that measured nothing: no rate benchmarks. */
  configure(&c, "sweep", "4");
  mg_perf_plan_init(&p, &c);
  mg_perf_plan_next(&p);
  mg_perf_plan_done(&p, 0);
  mg_perf_plan_next(&p);
  mg_perf_plan_done(&p, 30);
  assert_null(mg_perf_plan_next(&p));
  assert_int_equal(mg_perf_plan_count(&p), 2);
  mg_perf_plan_release(&p);
  mg_perf_cfg_release(&c);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_rates),
    cmocka_unit_test(test_sweep),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
