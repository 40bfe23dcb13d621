#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "mg_err.h"
#include "mg_oci.h"

#define HEX "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void
test_parse(void **state)
{
  struct mg_oci_ref r;
  struct mg_err err = MG_ERR_INIT;
  char *s;
  static const char *const bad[] = {
    "oci://host",         "oci:///repo",    "oci://h/Repo",
    "oci://h/a..b",       "oci://h/a:-tag", "oci://h/a@sha256:abc",
    "oci://h/a@md5:" HEX, "oci://h/a_",     "oci://h/a/",
    "oci://h/a b",
  };

  (void)state;
  assert_int_equal(mg_oci_parse("oci://127.0.0.1:5000/org/m:v1", &r, &err), 0);
  assert_string_equal(r.registry, "127.0.0.1:5000");
  assert_string_equal(r.repo, "org/m");
  assert_string_equal(r.tag, "v1");
  assert_null(r.digest);
  s = mg_oci_ref_string(&r, 1);
  assert_string_equal(s, "127.0.0.1:5000/org/m:v1");
  free(s);
  mg_oci_ref_release(&r);
  assert_int_equal(mg_oci_parse("quay.io/a/b-c__d.e@sha256:" HEX, &r, &err), 0);
  assert_null(r.tag);
  assert_string_equal(r.digest, "sha256:" HEX);
  s = mg_oci_ref_string(&r, 1);
  assert_string_equal(s, "quay.io/a/b-c__d.e@sha256:" HEX);
  free(s);
  mg_oci_ref_release(&r);
  assert_int_equal(mg_oci_parse("oci://h:1/x", &r, &err), 0);
  assert_string_equal(r.tag, "latest");
  mg_oci_ref_release(&r);
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    if (mg_oci_parse(bad[i], &r, &err) == 0)
      fail_msg("accepted '%s'", bad[i]);
    assert_int_equal(err.cat, MG_ERR_USAGE);
  }
}

static void
test_challenge(void **state)
{
  char *scheme, *realm, *service, *scope;

  (void)state;
  assert_int_equal(
      mg_oci_parse_challenge("Bearer realm=\"https://auth.docker.io/token\","
                             "service=\"registry.docker.io\",scope=\"repository"
                             ":library/busybox:pull\"",
                             &scheme, &realm, &service, &scope),
      0);
  assert_string_equal(scheme, "Bearer");
  assert_string_equal(realm, "https://auth.docker.io/token");
  assert_string_equal(service, "registry.docker.io");
  assert_string_equal(scope, "repository:library/busybox:pull");
  free(scheme);
  free(realm);
  free(service);
  free(scope);
  assert_int_equal(mg_oci_parse_challenge("Basic realm=\"Registry\"", &scheme,
                                          &realm, &service, &scope),
                   0);
  assert_string_equal(scheme, "Basic");
  assert_string_equal(realm, "Registry");
  assert_null(service);
  assert_null(scope);
  free(scheme);
  free(realm);
  assert_int_equal(
      mg_oci_parse_challenge(NULL, &scheme, &realm, &service, &scope), -1);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_parse),
    cmocka_unit_test(test_challenge),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
