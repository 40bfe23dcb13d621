#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mg_err.h"
#include "verify/mg_safetensors.h"

/* Builds "<u64 len><header><data_len zero bytes>" in a static buffer. */
static unsigned char img[4096];

static size_t build(const char *header, size_t data_len)
{
  size_t n = strlen(header);

  for (int i = 0; i < 8; i++)
    img[i] = (unsigned char)((uint64_t)n >> (8 * i));
  memcpy(img + 8, header, n);
  memset(img + 8 + n, 0, data_len);
  return 8 + n + data_len;
}

static int check(const char *header, size_t data_len, const char *want_msg)
{
  struct mg_safetensors_info info;
  struct mg_err err = MG_ERR_INIT;
  size_t n = build(header, data_len);
  int rc = mg_safetensors_check(img, n, n, &info, &err);

  if (want_msg) {
    assert_int_equal(rc, -1);
    assert_int_equal(err.cat, MG_ERR_DATA);
    if (!strstr(err.msg, want_msg))
      fail_msg("'%s' lacks '%s'", err.msg, want_msg);
  } else {
    assert_int_equal(rc, 0);
  }
  return rc;
}

static void test_valid(void **state)
{
  struct mg_safetensors_info info;
  struct mg_err err = MG_ERR_INIT;
  size_t n;

  (void)state;
  n = build(
      "{\"__metadata__\":{\"format\":\"pt\"},"
      "\"b\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[16,22]},"
      "\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
      "\"e\":{\"dtype\":\"I8\",\"shape\":[0],\"data_offsets\":[22,22]},"
      "\"s\":{\"dtype\":\"F4\",\"shape\":[2],\"data_offsets\":[22,23]}}  ",
      23);
  assert_int_equal(mg_safetensors_check(img, n, n, &info, &err), 0);
  assert_int_equal(info.n_tensors, 4);
  assert_int_equal(info.data_bytes, 23);
  assert_true(info.has_metadata);
  assert_non_null(strstr(info.dtypes, "F16"));
}

static void test_known_bad(void **state)
{
  (void)state;
  check("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
        12, "overlapping");
  check("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
        "gap");
  check("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
        16, "duplicate key");
  check("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 9,
        "the file holds 9");
  check("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8,
        "ends before");
  check("{\"a\":{\"dtype\":\"X\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
        "unknown dtype");
  check("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8,
        "invalid dimension");
  check("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]}}", 8,
        "invalid dimension");
  check("{\"a\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}", 2,
        "whole number of bytes");
  check("{\"a\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],"
        "\"data_offsets\":[0,8]}}",
        8, "overflows");
  check("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8,
        "data_offsets");
  check("{\"__metadata__\":{\"k\":[1]}}", 0, "not a string");
  check("[1,2]", 0, "does not start");
  check("{\"a\":1}", 0, "not an object");
  check("{\"a\":{}} trailing", 0, "malformed JSON");
  check("{\"\xff\":1}", 0, "UTF-8");
}

static void test_header_bounds(void **state)
{
  struct mg_err err = MG_ERR_INIT;
  unsigned char h[16] = { 0 };

  (void)state;
  assert_int_equal(mg_safetensors_check(h, 4, 4, NULL, &err), -1);
  assert_non_null(strstr(err.msg, "too small"));
  h[3] = 0x10; /* 256 MiB header */
  assert_int_equal(mg_safetensors_check(h, 16, 1 << 30, NULL, &err), -1);
  assert_non_null(strstr(err.msg, "too large"));
  memset(h, 0xff, 8); /* 8 + N overflows */
  assert_int_equal(mg_safetensors_check(h, 16, 16, NULL, &err), -1);
  memset(h, 0, 8);
  h[0] = 100; /* past the end */
  assert_int_equal(mg_safetensors_check(h, 16, 16, NULL, &err), -1);
  assert_non_null(strstr(err.msg, "passes the end"));
}

static void test_utf8(void **state)
{
  (void)state;
  assert_true(mg_safetensors_utf8_valid((const unsigned char *)"h\xc3\xa9", 3));
  assert_false(mg_safetensors_utf8_valid((const unsigned char *)"\xc0\xaf", 2));
  assert_false(
      mg_safetensors_utf8_valid((const unsigned char *)"\xed\xa0\x80", 3));
  assert_false(mg_safetensors_utf8_valid((const unsigned char *)"\xe2\x82", 2));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_valid),
    cmocka_unit_test(test_known_bad),
    cmocka_unit_test(test_header_bounds),
    cmocka_unit_test(test_utf8),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
