#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mg_base64.h"
#include "mg_digest.h"
#include "mg_err.h"
#include "verify/mg_sign.h"

static void test_pae(void **state)
{
  unsigned char *out;
  size_t n;

  (void)state;
  mg_sign_pae("application/vnd.in-toto+json", (const unsigned char *)"{}", 2,
              &out, &n);
  assert_int_equal(n, strlen("DSSEv1 28 application/vnd.in-toto+json 2 {}"));
  assert_memory_equal(out, "DSSEv1 28 application/vnd.in-toto+json 2 {}", n);
  free(out);
  mg_sign_pae("t", (const unsigned char *)"", 0, &out, &n);
  assert_memory_equal(out, "DSSEv1 1 t 0 ", n);
  free(out);
}

static void test_base64(void **state)
{
  static const char *const vec[][2] = {
    { "", "" },        { "f", "Zg==" },        { "fo", "Zm8=" },
    { "foo", "Zm9v" }, { "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }
  };
  struct mg_err err = MG_ERR_INIT;
  unsigned char *d;
  size_t n;

  (void)state;
  for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
    char *e = mg_base64_encode(vec[i][0], strlen(vec[i][0]));
    assert_string_equal(e, vec[i][1]);
    free(e);
    assert_int_equal(
        mg_base64_decode(vec[i][1], strlen(vec[i][1]), &d, &n, &err), 0);
    assert_int_equal(n, strlen(vec[i][0]));
    assert_memory_equal(d, vec[i][0], n);
    free(d);
  }
  assert_int_equal(mg_base64_decode("Zm8", 3, &d, &n, &err), 0); /* no pad */
  free(d);
  assert_int_equal(mg_base64_decode("Zm9v_-8", 7, &d, &n, &err), 0);
  free(d);
  assert_int_equal(mg_base64_decode("Zm 9v", 5, &d, &n, &err), -1);
  assert_int_equal(mg_base64_decode("Z", 1, &d, &n, &err), -1);
  assert_int_equal(mg_base64_decode("Zh==", 4, &d, &n, &err), -1);
  assert_int_equal(mg_base64_decode("Zm9v=", 5, &d, &n, &err), -1);
}

static void test_ecdsa_key_errors(void **state)
{
  static const char not_pem[] = "hello";
  struct mg_err err = MG_ERR_INIT;
  char *canon;

  (void)state;
  assert_int_equal(mg_digest_ecdsa_verify(
                       not_pem, strlen(not_pem), (const unsigned char *)"m", 1,
                       (const unsigned char *)"s", 1, NULL, &err),
                   -1);
  assert_int_equal(err.cat, MG_ERR_DATA);
  assert_int_equal(mg_digest_pubkey_pem(not_pem, strlen(not_pem), &canon, &err),
                   -1);
  assert_null(canon);
}

static void test_md(void **state)
{
  struct mg_digest_md *h = mg_digest_md_new("sha1");
  char hex[2 * MG_MD_MAX + 1];

  (void)state;
  assert_null(mg_digest_md_new("md4"));
  mg_digest_md_update(h, "abc", 3);
  mg_digest_md_final_hex(h, hex);
  assert_string_equal(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
  mg_digest_md_free(h);
  h = mg_digest_md_new("blake2b");
  assert_int_equal(mg_digest_md_size(h), 64);
  mg_digest_md_free(h);
  /* S3 single-part ETags. */
  h = mg_digest_md_new("md5");
  mg_digest_md_update(h, "abc", 3);
  mg_digest_md_final_hex(h, hex);
  assert_string_equal(hex, "900150983cd24fb0d6963f7d28e17f72");
  mg_digest_md_free(h);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_pae),
    cmocka_unit_test(test_base64),
    cmocka_unit_test(test_ecdsa_key_errors),
    cmocka_unit_test(test_md),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
