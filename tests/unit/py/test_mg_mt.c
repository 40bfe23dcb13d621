#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "py/mg_mt.h"

/*
 * Expected values were produced by CPython 3.11's random module, e.g.
 *   r = random.Random(1234); [r.getrandbits(32) for _ in range(5)]
 * tests/tools/eval-run.sh cross-checks more cases live when python3 exists.
 */

static void test_seed_1234_words(void **state)
{
  static const uint32_t want[] = { 4150886329U, 3342196574U, 1892932127U,
                                   501869158U, 32175636U };
  struct mg_mt r;

  (void)state;
  mg_mt_seed(&r, 1234);
  for (size_t i = 0; i < 5; i++)
    assert_int_equal(mg_mt_u32(&r), want[i]);
}

static void test_random_double(void **state)
{
  struct mg_mt r;

  (void)state;
  mg_mt_seed(&r, 1234);
  assert_true(mg_mt_random(&r) == 0.9664535356921388);
  assert_true(mg_mt_random(&r) == 0.4407325991753527);
}

static void test_seed_zero_and_big(void **state)
{
  struct mg_mt r;

  (void)state;
  mg_mt_seed(&r, 0);
  assert_int_equal(mg_mt_u32(&r), 3626764237U);
  mg_mt_seed(&r, (1ULL << 40) + 5);
  assert_int_equal(mg_mt_getrandbits(&r, 32), 2166296868U);
  assert_true(mg_mt_getrandbits(&r, 40) == 294277936956ULL);
  assert_true(mg_mt_getrandbits(&r, 64) == 17077747508935831298ULL);
}

static void check_sample(struct mg_mt *r, size_t n, size_t k,
                         const size_t *want)
{
  size_t out[64];

  mg_mt_sample(r, n, k, out);
  for (size_t i = 0; i < k; i++)
    assert_int_equal(out[i], want[i]);
}

static void test_sample_large_population(void **state)
{
  /* GSM8K's train split has 7473 docs: the set-based branch. */
  static const size_t a[] = { 6374, 3610, 957, 61, 742 };
  static const size_t b[] = { 7462, 6610, 4769, 286, 5501 };
  struct mg_mt r;

  (void)state;
  mg_mt_seed(&r, 1234);
  check_sample(&r, 7473, 5, a);
  check_sample(&r, 7473, 5, b);
}

static void test_sample_pool_branch(void **state)
{
  static const size_t a[] = { 7, 1, 0, 9, 4 };
  static const size_t b[] = { 1, 21, 22, 2, 3, 24, 11, 7 };
  static const size_t c[] = { 2, 3,  99, 44, 82, 79, 61, 78, 59, 19, 11, 23, 14,
                              1, 64, 62, 31, 8,  69, 91, 95, 76, 89, 65, 74 };
  struct mg_mt r;

  (void)state;
  mg_mt_seed(&r, 1234);
  check_sample(&r, 10, 5, a);
  check_sample(&r, 30, 8, b);
  check_sample(&r, 100, 25, c);
}

static void test_shuffle_and_choices(void **state)
{
  static const size_t want[] = { 8, 3, 1, 4, 7, 0, 9, 6, 2, 5 };
  static const size_t ch[] = { 237, 544, 369, 603, 625 };
  size_t x[10];
  struct mg_mt r;

  (void)state;
  for (size_t i = 0; i < 10; i++)
    x[i] = i;
  mg_mt_seed(&r, 7);
  mg_mt_shuffle(&r, x, 10);
  for (size_t i = 0; i < 10; i++)
    assert_int_equal(x[i], want[i]);
  mg_mt_seed(&r, 3);
  for (size_t i = 0; i < 5; i++)
    assert_int_equal(mg_mt_choice(&r, 1000), ch[i]);
}

static void test_randbelow_bounds(void **state)
{
  struct mg_mt r;

  (void)state;
  mg_mt_seed(&r, 99);
  for (int i = 0; i < 1000; i++) {
    assert_true(mg_mt_randbelow(&r, 1) == 0);
    assert_true(mg_mt_randbelow(&r, 3) < 3);
  }
  assert_true(mg_mt_getrandbits(&r, 0) == 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_seed_1234_words),
    cmocka_unit_test(test_random_double),
    cmocka_unit_test(test_seed_zero_and_big),
    cmocka_unit_test(test_sample_large_population),
    cmocka_unit_test(test_sample_pool_branch),
    cmocka_unit_test(test_shuffle_and_choices),
    cmocka_unit_test(test_randbelow_bounds),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
