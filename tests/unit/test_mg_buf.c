#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mg_buf.h"
#include "mg_err.h"

/* The invariants mg_buf.h promises, checked after every operation. */
static void check_invariants(const struct mg_buf *b)
{
  assert_true(b->len <= b->max);
  if (b->data) {
    assert_true(b->len < b->cap);
    assert_int_equal(b->data[b->len], '\0');
  } else {
    assert_int_equal(b->len, 0);
    assert_int_equal(b->cap, 0);
  }
}

static void test_add_and_detach(void **state)
{
  struct mg_buf b = MG_BUF_INIT(1024);
  struct mg_err err = MG_ERR_INIT;
  size_t len;
  char *s;

  (void)state;
  check_invariants(&b);
  assert_int_equal(mg_buf_addstr(&b, "hello", &err), 0);
  check_invariants(&b);
  assert_int_equal(mg_buf_addch(&b, ' ', &err), 0);
  assert_int_equal(mg_buf_printf(&b, &err, "%s %d", "world", 42), 0);
  check_invariants(&b);
  assert_string_equal(b.data, "hello world 42");
  assert_int_equal(b.len, 14);
  s = mg_buf_detach(&b, &len);
  check_invariants(&b);
  assert_int_equal(len, 14);
  assert_string_equal(s, "hello world 42");
  assert_null(b.data);
  free(s);
}

static void test_detach_empty_gives_string(void **state)
{
  struct mg_buf b = MG_BUF_INIT(10);
  char *s = mg_buf_detach(&b, NULL);

  (void)state;
  assert_non_null(s);
  assert_string_equal(s, "");
  free(s);
}

static void test_max_is_enforced(void **state)
{
  struct mg_buf b = MG_BUF_INIT(8);
  struct mg_err err = MG_ERR_INIT;

  (void)state;
  assert_int_equal(mg_buf_addstr(&b, "12345678", &err), 0);
  check_invariants(&b);
  assert_int_equal(mg_buf_addch(&b, 'x', &err), -1);
  assert_int_equal(err.cat, MG_ERR_DATA);
  assert_non_null(strstr(err.msg, "larger than 8 bytes"));
  /* A failed add leaves the buffer unchanged. */
  assert_string_equal(b.data, "12345678");
  check_invariants(&b);
  assert_int_equal(mg_buf_printf(&b, &err, "%d", 1), -1);
  assert_string_equal(b.data, "12345678");
  /* A huge request must not overflow the size computation. */
  assert_int_equal(mg_buf_grow(&b, (size_t)-1, &err), -1);
  mg_buf_release(&b);
  check_invariants(&b);
}

static void test_binary_and_consume(void **state)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  struct mg_err err = MG_ERR_INIT;
  const char bin[] = { 'a', '\0', 'b', '\0', 'c' };

  (void)state;
  assert_int_equal(mg_buf_add(&b, bin, sizeof(bin), &err), 0);
  assert_int_equal(b.len, 5);
  assert_memory_equal(b.data, bin, 5);
  check_invariants(&b);
  mg_buf_consume(&b, 2);
  assert_int_equal(b.len, 3);
  assert_memory_equal(b.data, bin + 2, 3);
  check_invariants(&b);
  mg_buf_truncate(&b, 1);
  assert_int_equal(b.len, 1);
  assert_int_equal(b.data[0], 'b');
  check_invariants(&b);
  mg_buf_consume(&b, 99);
  assert_int_equal(b.len, 0);
  check_invariants(&b);
  mg_buf_release(&b);
}

static void test_growth_many(void **state)
{
  struct mg_buf b = MG_BUF_INIT(1 << 20);
  struct mg_err err = MG_ERR_INIT;

  (void)state;
  for (int i = 0; i < 10000; i++) {
    assert_int_equal(mg_buf_printf(&b, &err, "%04d", i % 10000), 0);
    if (i % 997 == 0)
      check_invariants(&b);
  }
  assert_int_equal(b.len, 40000);
  assert_memory_equal(b.data + 4 * 9999, "9999", 4);
  mg_buf_reset(&b);
  assert_int_equal(b.len, 0);
  check_invariants(&b);
  mg_buf_release(&b);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_add_and_detach),
    cmocka_unit_test(test_detach_empty_gives_string),
    cmocka_unit_test(test_max_is_enforced),
    cmocka_unit_test(test_binary_and_consume),
    cmocka_unit_test(test_growth_many),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
