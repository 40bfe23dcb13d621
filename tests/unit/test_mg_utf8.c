/* Unit tests for mg_utf8 (Unicode 15 table 3-7 and its maximal-subpart
 * rule) and mg_hash (published FNV-1a vectors). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "mg_digest.h"
#include "mg_hash.h"
#include "mg_utf8.h"

static void test_next_well_formed(void **state)
{
  static const struct {
    const char *s;
    size_t len;
    uint32_t cp;
  } ok[] = {
    { "A", 1, 0x41 },
    { "\xC2\x80", 2, 0x80 },
    { "\xDF\xBF", 2, 0x7FF },
    { "\xE0\xA0\x80", 3, 0x800 },
    { "\xED\x9F\xBF", 3, 0xD7FF },
    { "\xEE\x80\x80", 3, 0xE000 },
    { "\xEF\xBF\xBF", 3, 0xFFFF },
    { "\xF0\x90\x80\x80", 4, 0x10000 },
    { "\xF4\x8F\xBF\xBF", 4, 0x10FFFF },
  };

  (void)state;
  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
    uint32_t cp = 0;
    size_t bad = 99;

    assert_int_equal(mg_utf8_next(ok[i].s, ok[i].len, &cp, &bad), ok[i].len);
    assert_int_equal(cp, ok[i].cp);
    assert_int_equal(bad, 99);
    assert_true(mg_utf8_valid(ok[i].s, ok[i].len));
  }
}

/* Each ill-formed start with the length of its maximal subpart: what one
 * U+FFFD replaces (the examples of Unicode 15 section 3.9.6). */
static void test_next_ill_formed(void **state)
{
  static const struct {
    const char *s;
    size_t len, bad;
  } ko[] = {
    { "\x80", 1, 1 },             /* stray continuation */
    { "\xC0\xAF", 2, 1 },         /* overlong lead */
    { "\xC1\xBF", 2, 1 },         /* overlong lead */
    { "\xE0\x9F\x80", 3, 1 },     /* overlong three-byte form */
    { "\xED\xA0\x80", 3, 1 },     /* surrogate U+D800 */
    { "\xF0\x8F\xBF\xBF", 4, 1 }, /* overlong four-byte form */
    { "\xF4\x90\x80\x80", 4, 1 }, /* past U+10FFFF */
    { "\xF5\x80\x80\x80", 4, 1 }, /* lead past F4 */
    { "\xFF", 1, 1 },
    { "\xE2\x82", 2, 2 }, /* truncated */
    { "\xE2\x82"
      "A",
      3, 2 },                 /* cut short by ASCII */
    { "\xF0\x9F\x98", 3, 3 }, /* truncated four-byte form */
    { "\xF1\x80"
      "\xC3\xA9",
      4, 2 },
  };

  (void)state;
  assert_int_equal(mg_utf8_next("", 0, NULL, NULL), 0);
  for (size_t i = 0; i < sizeof(ko) / sizeof(ko[0]); i++) {
    size_t bad = 0;

    assert_int_equal(mg_utf8_next(ko[i].s, ko[i].len, NULL, &bad), 0);
    assert_int_equal(bad, ko[i].bad);
    assert_false(mg_utf8_valid(ko[i].s, ko[i].len));
  }
  assert_true(mg_utf8_valid("h\xC3\xA9llo", 6));
  assert_false(mg_utf8_valid("h\xC3\xA9llo\xC3", 7));
  assert_true(mg_utf8_valid("", 0));
}

/* Every scalar value survives put then next; surrogates are written as
 * their three bytes, which next refuses. */
static void test_put_round_trip(void **state)
{
  char b[4];

  (void)state;
  for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
    size_t n = mg_utf8_put(cp, b);
    uint32_t back = 0;

    assert_int_equal(n, cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4);
    if (cp >= 0xD800 && cp <= 0xDFFF) {
      assert_int_equal(mg_utf8_next(b, n, &back, NULL), 0);
      continue;
    }
    assert_int_equal(mg_utf8_next(b, n, &back, NULL), n);
    assert_int_equal(back, cp);
  }
  assert_int_equal(mg_utf8_put(0xD800, b), 3);
  assert_memory_equal(b, "\xED\xA0\x80", 3);
}

static void test_count(void **state)
{
  (void)state;
  assert_int_equal(mg_utf8_count("", 0), 0);
  assert_int_equal(mg_utf8_count("h\xC3\xA9!", 4), 3);
  assert_int_equal(mg_utf8_count("\xF0\x9F\x98\x80x", 5), 2);
  assert_int_equal(mg_utf8_count("\xFF\xFF", 2), 2);
}

static void test_hexval(void **state)
{
  static const char digits[] = "0123456789abcdefABCDEF";

  (void)state;
  for (int c = -128; c < 256; c++) {
    const char *d = c > 0 ? strchr(digits, c) : NULL;
    int want = !d                ? -1
               : d - digits < 16 ? (int)(d - digits)
                                 : (int)(d - digits) - 6;

    assert_int_equal(mg_digest_hexval(c), want);
  }
}

static void test_fnv1a(void **state)
{
  (void)state;
  /* The FNV authors' published 64-bit FNV-1a vectors. */
  assert_true(mg_hash_fnv1a(MG_HASH_FNV_OFFSET, "", 0)
              == 0xCBF29CE484222325ULL);
  assert_true(mg_hash_fnv1a(MG_HASH_FNV_OFFSET, "a", 1)
              == 0xAF63DC4C8601EC8CULL);
  assert_true(mg_hash_fnv1a(MG_HASH_FNV_OFFSET, "foobar", 6)
              == 0x85944171F73967E8ULL);
  /* Continuing a hash equals hashing the whole. */
  assert_true(
      mg_hash_fnv1a(mg_hash_fnv1a(MG_HASH_FNV_OFFSET, "foo", 3), "bar", 3)
      == 0x85944171F73967E8ULL);
  assert_true(mg_hash_mix(1, 2) == mg_hash_mix(1, 2));
  assert_true(mg_hash_mix(1, 2) != mg_hash_mix(2, 1));
  assert_true(mg_hash_mix(0, 0) != 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_next_well_formed),
    cmocka_unit_test(test_next_ill_formed),
    cmocka_unit_test(test_put_round_trip),
    cmocka_unit_test(test_count),
    cmocka_unit_test(test_hexval),
    cmocka_unit_test(test_fnv1a),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
