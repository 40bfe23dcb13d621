/* Unit tests for mg_mock_sched: schedules, random draws and the heap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "mock/mg_mock_sched.h"

#define MS 1000000LL

static void test_fixed_schedule(void **state)
{
  struct mg_mock_timing t = { .ttft_ms = 100,
                              .itl_ms = 10,
                              .prefill_ms_per_token = 0.5 };
  struct mg_mock_sched s;

  (void)state;
  mg_mock_sched_start(&s, &t, 7, 1000 * MS, 20, 5, (size_t)-1, 0);
  /* start + ttft + prefill * prompt, then + k * itl exactly. */
  for (size_t k = 0; k < 5; k++) {
    assert_int_equal(mg_mock_sched_due(&s),
                     1000 * MS + 110 * MS + (long long)k * 10 * MS);
    mg_mock_sched_advance(&s);
  }
  assert_int_equal(s.k, 5);
  mg_mock_sched_start(&s, &t, 7, 0, 20, 5, (size_t)-1, 0);
  assert_int_equal(mg_mock_sched_end(&s, &t), 110 * MS + 40 * MS);
  /* end does not move the schedule */
  assert_int_equal(mg_mock_sched_due(&s), 110 * MS);
  t.request_latency_s = 2.5;
  assert_int_equal(mg_mock_sched_end(&s, &t), 2500 * MS);
}

static void test_stall(void **state)
{
  struct mg_mock_timing t = { .ttft_ms = 10, .itl_ms = 1 };
  struct mg_mock_sched s;

  (void)state;
  mg_mock_sched_start(&s, &t, 1, 0, 0, 4, 2, 500 * MS);
  assert_int_equal(mg_mock_sched_due(&s), 10 * MS);
  mg_mock_sched_advance(&s);
  assert_int_equal(mg_mock_sched_due(&s), 11 * MS);
  mg_mock_sched_advance(&s);
  assert_int_equal(mg_mock_sched_due(&s), 512 * MS);
  mg_mock_sched_advance(&s);
  assert_int_equal(mg_mock_sched_due(&s), 513 * MS);
  mg_mock_sched_start(&s, &t, 1, 0, 0, 4, 0, 500 * MS);
  assert_int_equal(mg_mock_sched_due(&s), 510 * MS);
}

static void test_spread_is_deterministic(void **state)
{
  struct mg_mock_timing t = {
    .ttft_ms = 50, .ttft_std_ms = 20, .itl_ms = 5, .itl_std_ms = 3
  };
  struct mg_mock_sched a, b;
  long long last = -1;
  int differs = 0;

  (void)state;
  mg_mock_sched_start(&a, &t, 99, 0, 0, 100, (size_t)-1, 0);
  mg_mock_sched_start(&b, &t, 99, 0, 0, 100, (size_t)-1, 0);
  for (int k = 0; k < 100; k++) {
    long long d = mg_mock_sched_due(&a);
    assert_int_equal(d, mg_mock_sched_due(&b));
    /* Absolute and never going back: negative gaps clamp to 0. */
    assert_true(d >= last);
    if (last >= 0 && d - last != 5 * MS)
      differs = 1;
    last = d;
    mg_mock_sched_advance(&a);
    mg_mock_sched_advance(&b);
  }
  assert_true(differs);
  mg_mock_sched_start(&b, &t, 100, 0, 0, 100, (size_t)-1, 0);
  mg_mock_sched_start(&a, &t, 99, 0, 0, 100, (size_t)-1, 0);
  assert_true(mg_mock_sched_due(&a) != mg_mock_sched_due(&b));
}

static void test_normal_moments(void **state)
{
  struct mg_mock_sched_rng r;
  double sum = 0, sq = 0;
  int n = 20000;

  (void)state;
  mg_mock_sched_rng_seed(&r, 1);
  for (int i = 0; i < n; i++) {
    double x = mg_mock_sched_rng_normal(&r, 10, 2);
    sum += x;
    sq += x * x;
  }
  assert_true(fabs(sum / n - 10) < 0.1);
  assert_true(fabs(sqrt(sq / n - (sum / n) * (sum / n)) - 2) < 0.1);
  assert_true(mg_mock_sched_rng_normal(&r, 3.5, 0) == 3.5);
  assert_int_equal(mg_mock_sched_ms_to_ns(-4), 0);
  assert_int_equal(mg_mock_sched_ms_to_ns(1.5), 1500000);
}

static void test_hash_unit(void **state)
{
  (void)state;
  assert_true(mg_mock_sched_hash(1, "abc", 3)
              == mg_mock_sched_hash(1, "abc", 3));
  assert_true(mg_mock_sched_hash(1, "abc", 3)
              != mg_mock_sched_hash(2, "abc", 3));
  assert_true(mg_mock_sched_hash(1, "abc", 3)
              != mg_mock_sched_hash(1, "abd", 3));
  assert_true(mg_mock_sched_unit(0) == 0);
  assert_true(mg_mock_sched_unit(UINT64_MAX) < 1);
}

static void test_heap(void **state)
{
  struct mg_mock_sched_heap h;
  struct mg_mock_timer t[200];
  long long last = -1;
  size_t n = 0;

  (void)state;
  mg_mock_sched_heap_init(&h);
  srand(3);
  for (int i = 0; i < 200; i++) {
    t[i].due = rand() % 50;
    t[i].seq = (uint64_t)i;
    t[i].idx = MG_MOCK_TIMER_IDLE;
    mg_mock_sched_heap_push(&h, &t[i]);
  }
  /* Remove every third, including ones deep in the heap. */
  for (int i = 0; i < 200; i += 3) {
    mg_mock_sched_heap_remove(&h, &t[i]);
    assert_true(t[i].idx == MG_MOCK_TIMER_IDLE);
  }
  mg_mock_sched_heap_remove(&h, &t[0]); /* not in the heap: no-op */
  {
    struct mg_mock_timer *p;
    uint64_t lastseq = 0;

    while ((p = mg_mock_sched_heap_pop(&h))) {
      assert_true(p->due > last || (p->due == last && p->seq > lastseq));
      assert_true(p->seq % 3 != 0);
      last = p->due;
      lastseq = p->seq;
      n++;
    }
  }
  assert_int_equal(n, 200 - 67);
  assert_null(mg_mock_sched_heap_top(&h));
  mg_mock_sched_heap_release(&h);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_fixed_schedule),
    cmocka_unit_test(test_stall),
    cmocka_unit_test(test_spread_is_deterministic),
    cmocka_unit_test(test_normal_moments),
    cmocka_unit_test(test_hash_unit),
    cmocka_unit_test(test_heap),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
