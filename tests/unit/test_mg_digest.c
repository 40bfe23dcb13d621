#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "mg_digest.h"
#include "mg_err.h"

/* FIPS 180-2 test vectors. */
static void test_vectors(void **state)
{
  char hex[MG_DIGEST_SHA256_HEX_LEN + 1];

  (void)state;
  mg_digest_sha256_hex("", 0, hex);
  assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb924"
                           "27ae41e4649b934ca495991b7852b855");
  mg_digest_sha256_hex("abc", 3, hex);
  assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223"
                           "b00361a396177a9cb410ff61f20015ad");
}

static void test_streaming_equals_oneshot(void **state)
{
  static char block[1000000];
  struct mg_digest_sha256 *h = mg_digest_sha256_new();
  char a[MG_DIGEST_SHA256_HEX_LEN + 1], b[MG_DIGEST_SHA256_HEX_LEN + 1];

  (void)state;
  memset(block, 'a', sizeof(block));
  /* "a" x 1,000,000, fed in uneven pieces. */
  for (size_t off = 0, step = 1; off < sizeof(block); step = step * 3 + 1) {
    size_t n = step < sizeof(block) - off ? step : sizeof(block) - off;
    mg_digest_sha256_update(h, block + off, n);
    off += n;
  }
  mg_digest_sha256_final_hex(h, a);
  assert_string_equal(a, "cdc76e5c9914fb9281a1c7e284d73e67"
                         "f1809a48a497200e046d39ccc7112cd0");
  /* final resets the context for reuse. */
  mg_digest_sha256_update(h, "abc", 3);
  mg_digest_sha256_final_hex(h, b);
  assert_string_equal(b, "ba7816bf8f01cfea414140de5dae2223"
                         "b00361a396177a9cb410ff61f20015ad");
  mg_digest_sha256_free(h);
  mg_digest_sha256_free(NULL);
}

static void test_file(void **state)
{
  char path[] = "/tmp/mg-digest-test.XXXXXX";
  int fd = mkstemp(path);
  char hex[MG_DIGEST_SHA256_HEX_LEN + 1];
  unsigned long long size = 0;
  struct mg_err err = MG_ERR_INIT;

  (void)state;
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "abc", 3), 3);
  close(fd);
  assert_int_equal(mg_digest_sha256_file(path, hex, &size, &err), 0);
  assert_int_equal(size, 3);
  assert_true(mg_digest_sha256_hex_valid(hex));
  assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223"
                           "b00361a396177a9cb410ff61f20015ad");
  unlink(path);
  assert_int_equal(mg_digest_sha256_file(path, hex, &size, &err), -1);
  assert_int_equal(err.cat, MG_ERR_IO);
  assert_false(mg_digest_sha256_hex_valid("ABC"));
  assert_false(mg_digest_sha256_hex_valid("e3b0c44298fc1c149afbf4c8996fb924"
                                          "27ae41e4649b934ca495991b7852b85"));
  assert_false(mg_digest_sha256_hex_valid("E3B0C44298FC1C149AFBF4C8996FB924"
                                          "27AE41E4649B934CA495991B7852B855"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_vectors),
    cmocka_unit_test(test_streaming_equals_oneshot),
    cmocka_unit_test(test_file),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
