#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fetch/mg_hf.h"
#include "mg_err.h"

static void test_parse(void **state)
{
  struct mg_hf_ref r;
  struct mg_err err = MG_ERR_INIT;
  static const char *const bad[] = { "hf://",       "hf://a/b/c",
                                     "hf://a/../b", "hf://a b/c",
                                     "hf://org/x@", "hf://org/x@a/b",
                                     "hf://./x" };

  (void)state;
  assert_int_equal(mg_hf_parse("hf://org/name", &r, &err), 0);
  assert_string_equal(r.repo, "org/name");
  assert_string_equal(r.revision, "main");
  assert_false(r.pinned);
  mg_hf_ref_release(&r);
  assert_int_equal(mg_hf_parse("hf://gpt2@v1.0", &r, &err), 0);
  assert_string_equal(r.repo, "gpt2");
  assert_string_equal(r.revision, "v1.0");
  assert_true(r.pinned);
  mg_hf_ref_release(&r);
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_int_equal(mg_hf_parse(bad[i], &r, &err), -1);
    assert_int_equal(err.cat, MG_ERR_USAGE);
  }
}

static void test_urls(void **state)
{
  struct mg_hf_ref r = { (char *)"org/m", (char *)"refs/pr/1", 1 };
  char *u;

  (void)state;
  u = mg_hf_revision_url("http://h", &r);
  assert_string_equal(u, "http://h/api/models/org/m/revision/refs%2Fpr%2F1"
                         "?blobs=true");
  free(u);
  u = mg_hf_resolve_url("http://h", "org/m", "abc", "dir/a b#.json");
  assert_string_equal(u, "http://h/org/m/resolve/abc/dir/a%20b%23.json");
  free(u);
  setenv("HF_ENDPOINT", "http://mirror.local//", 1);
  u = mg_hf_endpoint(NULL);
  assert_string_equal(u, "http://mirror.local");
  free(u);
  u = mg_hf_endpoint("http://x/");
  assert_string_equal(u, "http://x");
  free(u);
  unsetenv("HF_ENDPOINT");
  u = mg_hf_endpoint(NULL);
  assert_string_equal(u, MG_HF_DEFAULT_ENDPOINT);
  free(u);
}

static void test_patterns(void **state)
{
  static const char *const inc[] = { "*.json", "tokenizer/", NULL };
  static const char *const exc[] = { "config.json", NULL };
  static const char *const star[] = { "*.safetensors", NULL };

  (void)state;
  assert_true(mg_hf_match("a.json", inc, exc));
  assert_true(mg_hf_match("sub/deep/a.json", inc, exc)); /* '*' crosses / */
  assert_true(mg_hf_match("tokenizer/vocab.txt", inc, exc));
  assert_false(mg_hf_match("config.json", inc, exc));
  assert_false(mg_hf_match("model.bin", inc, exc));
  assert_true(mg_hf_match(".hidden.safetensors", star, NULL));
  assert_false(mg_hf_match(".git/config", NULL, NULL));
  assert_false(mg_hf_match(".cache/huggingface/x", NULL, NULL));
  assert_true(mg_hf_match("anything", NULL, NULL));
}

static void test_listing(void **state)
{
  static const char good[] =
      "{\"sha\":\"c0ffee\",\"siblings\":["
      "{\"rfilename\":\"model.safetensors\",\"size\":10,\"blobId\":\"x\","
      "\"lfs\":{\"sha256\":\"AB00000000000000000000000000000000000000000000000"
      "000000000000000\",\"size\":1000,\"pointerSize\":130}},"
      "{\"rfilename\":\"config.json\",\"size\":5,"
      "\"blobId\":\"0123456789abcdef0123456789abcdef01234567\"}]}";
  static const char *const bad[] = {
    "{\"siblings\":[]}",
    "{\"sha\":\"x\",\"siblings\":[{\"rfilename\":\"../etc/passwd\"}]}",
    "{\"sha\":\"x\",\"siblings\":[{\"rfilename\":\"/abs\"}]}",
    "{\"sha\":\"x\",\"siblings\":[{\"rfilename\":\"a//b\"}]}",
    ("{\"sha\":\"x\",\"siblings\":[{\"rfilename\":\"a\",\"lfs\":"
     "{\"sha256\":\"zz\"}}]}"),
    "[1]",
  };
  struct mg_hf_listing l;
  struct mg_err err = MG_ERR_INIT;

  (void)state;
  assert_int_equal(
      mg_hf_parse_listing(good, strlen(good), NULL, NULL, &l, &err), 0);
  assert_string_equal(l.commit, "c0ffee");
  assert_int_equal(l.n, 2);
  assert_string_equal(l.files[0].path, "model.safetensors");
  assert_int_equal(l.files[0].size, 1000); /* the LFS size, not the pointer */
  assert_int_equal(l.files[0].sha256[0], 'a');
  assert_string_equal(l.files[0].git_sha1, "");
  assert_string_equal(l.files[1].git_sha1,
                      "0123456789abcdef0123456789abcdef01234567");
  mg_hf_listing_release(&l);
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_int_equal(
        mg_hf_parse_listing(bad[i], strlen(bad[i]), NULL, NULL, &l, &err), -1);
    assert_int_equal(err.cat, MG_ERR_DATA);
  }
}

static void test_errors(void **state)
{
  struct mg_err err = MG_ERR_INIT;

  (void)state;
  mg_hf_error(401, "HTTP/1.1 401\r\nX-Error-Code: GatedRepo\r\n", "o/m", "main",
              0, &err);
  assert_non_null(strstr(err.msg, "gated repository 'o/m'"));
  assert_int_equal(err.cat, MG_ERR_REMOTE);
  mg_hf_error(403, "x-error-code: GatedRepo\r\n", "o/m", "main", 1, &err);
  assert_non_null(strstr(err.msg, "no access"));
  mg_hf_error(404, "X-Error-Code: RevisionNotFound\r\n", "o/m", "v9", 0, &err);
  assert_non_null(strstr(err.msg, "revision 'v9' not found"));
  mg_hf_error(401,
              "X-Error-Message: Invalid credentials in Authorization "
              "header\r\n",
              "o/m", "main", 1, &err);
  assert_non_null(strstr(err.msg, "rejected the token"));
  mg_hf_error(401, "", "o/m", "main", 0, &err);
  assert_non_null(strstr(err.msg, "not found or not authorised"));
  mg_hf_error(500, "", "o/m", "main", 0, &err);
  assert_non_null(strstr(err.msg, "HTTP 500"));
}

static void test_gitsha(void **state)
{
  struct mg_hf_gitsha *g = mg_hf_gitsha_new(6);
  char out[41];

  (void)state;
  mg_hf_gitsha_update(g, "hel", 3);
  mg_hf_gitsha_update(g, "lo\n", 3);
  mg_hf_gitsha_finish(g, out);
  /* git hash-object of "hello\n" */
  assert_string_equal(out, "ce013625030ba8dba906f756967f9e9ca394464a");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_parse),    cmocka_unit_test(test_urls),
    cmocka_unit_test(test_patterns), cmocka_unit_test(test_listing),
    cmocka_unit_test(test_errors),   cmocka_unit_test(test_gitsha),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
