#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "mg_err.h"
#include "mg_io.h"
#include "mg_json.h"
#include "mg_mem.h"
#include "mg_record.h"

static struct mg_json *parse(const char *s)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_json *j;

  assert_int_equal(mg_json_parse(s, strlen(s), "t", &j, &err), 0);
  return j;
}

static void expect_check_fails(const char *doc, const char *want)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_json *j = parse(doc);

  assert_int_equal(mg_record_check(j, "in.json", &err), -1);
  assert_int_equal(err.cat, MG_ERR_DATA);
  if (!strstr(err.msg, want))
    fail_msg("message '%s' lacks '%s'", err.msg, want);
  mg_json_free(j);
}

static void test_check(void **state)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_json *j = parse("{\"schema\":\"modelgate.record/v1\"}");

  (void)state;
  assert_int_equal(mg_record_check(j, "x", &err), 0);
  mg_json_free(j);
  expect_check_fails("[]", "the document is an array, expected an object");
  expect_check_fails("{}", "missing field 'schema' in record");
  expect_check_fails("{\"schema\":1}", "is a number, expected a string");
  expect_check_fails("{\"schema\":\"other/v1\"}",
                     "schema is 'other/v1', expected 'modelgate.record/v1'");
  expect_check_fails("{\"schema\":\"modelgate.record/v2\"}",
                     "unsupported record version in 'in.json'");
  expect_check_fails("{\"schema\":\"modelgate.record/v\"}",
                     "unsupported record version");
  expect_check_fails("{\"schema\":\"modelgate.record/v1x\"}",
                     "unsupported record version");
}

static void test_sections_pass_through(void **state)
{
  struct mg_json *rec = parse("{\"schema\":\"modelgate.record/v1\","
                              "\"future\":{\"x\":[1,{\"y\":null}]},"
                              "\"perf\":{\"old\":true}}");
  struct mg_json *perf = mg_json_new_object();
  char *s;

  (void)state;
  mg_json_set_bool(perf, "new", 1);
  mg_record_set_section(rec, "perf", perf);
  mg_record_set_section(rec, "eval", mg_json_new_object());
  assert_ptr_equal(mg_record_section(rec, "perf"), perf);
  s = mg_json_print(rec, 0);
  /* The unknown section is untouched and order is kept. */
  assert_string_equal(s, "{\"schema\":\"modelgate.record/v1\","
                         "\"future\":{\"x\":[1,{\"y\":null}]},"
                         "\"perf\":{\"new\":true},\"eval\":{}}");
  free(s);
  mg_json_free(rec);
}

static void test_write_read_and_sidefile(void **state)
{
  char dir[] = "/tmp/mg-rec-test.XXXXXX";
  struct mg_err err = MG_ERR_INIT;
  struct mg_json *rec, *back, *side;
  char *path, *sp;

  (void)state;
  assert_non_null(mkdtemp(dir));
  path = mg_xasprintf("%s/r.json", dir);
  sp = mg_xasprintf("%s/side.jsonl", dir);
  rec = mg_record_new();
  assert_int_equal(mg_io_write_atomic(sp, "abc", 3, 0644, &err), 0);
  assert_int_equal(mg_record_sidefile(sp, &side, &err), 0);
  assert_string_equal(mg_json_string(mg_json_get(side, "sha256")),
                      "ba7816bf8f01cfea414140de5dae2223"
                      "b00361a396177a9cb410ff61f20015ad");
  assert_true(mg_json_number(mg_json_get(side, "bytes")) == 3);
  mg_record_set_section(rec, "samples", side);
  assert_int_equal(mg_record_write(rec, path, 1, &err), 0);
  assert_int_equal(mg_record_read(path, 1 << 20, &back, &err), 0);
  assert_true(mg_json_equal(rec, back));
  mg_json_free(back);
  /* The size cap applies to records too. */
  assert_int_equal(mg_record_read(path, 10, &back, &err), -1);
  assert_int_equal(err.cat, MG_ERR_DATA);
  assert_null(back);
  assert_int_equal(mg_record_sidefile("/nonexistent", &side, &err), -1);
  assert_int_equal(err.cat, MG_ERR_IO);
  mg_json_free(rec);
  unlink(path);
  unlink(sp);
  rmdir(dir);
  free(path);
  free(sp);
}

static void test_read_rejects_garbage(void **state)
{
  char dir[] = "/tmp/mg-rec-test.XXXXXX";
  struct mg_err err = MG_ERR_INIT;
  struct mg_json *back;
  char *path;

  (void)state;
  assert_non_null(mkdtemp(dir));
  path = mg_xasprintf("%s/bad.json", dir);
  assert_int_equal(mg_io_write_atomic(path, "{\"schema\":", 10, 0644, &err), 0);
  assert_int_equal(mg_record_read(path, 1 << 20, &back, &err), -1);
  assert_int_equal(err.cat, MG_ERR_DATA);
  assert_non_null(strstr(err.msg, "malformed JSON in"));
  assert_non_null(strstr(err.msg, path));
  unlink(path);
  rmdir(dir);
  free(path);
}

static void test_redact_url(void **state)
{
  static const char *const cases[][2] = {
    { "https://user:pw@host:8443/v1?a=1", "https://host:8443/v1?a=1" },
    { "https://h/p?X-Amz-Signature=abc&x=2&token=t#f",
      "https://h/p?X-Amz-Signature=REDACTED&x=2&token=REDACTED#f" },
    { "s3://bucket/key", "s3://bucket/key" },
    { "--rate", "--rate" },
    { "http://h/a@b", "http://h/a@b" },
  };

  (void)state;
  for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
    char *r = mg_record_redact_url(cases[i][0]);
    assert_string_equal(r, cases[i][1]);
    free(r);
  }
}

static void test_provenance(void **state)
{
  struct mg_json *rec = mg_record_new();
  char a0[] = "perf-run", a1[] = "--target", a2[] = "http://u:secret@h:1/v1";
  char a3[] = "--header", a4[] = "Authorization: Bearer tok3n";
  char a5[] = "--header=X-Key: k3y", a6[] = "--rate";
  char *argv[] = { a0, a1, a2, a3, a4, a5, a6, NULL };
  struct mg_json *prov, *e;
  char *s;

  (void)state;
  mg_record_add_provenance(rec, "2026-01-01T00:00:00.000Z", 7, argv);
  mg_record_add_provenance(rec, "2026-01-01T00:00:01.000Z", 1, argv);
  prov = mg_json_get(rec, "provenance");
  assert_int_equal(mg_json_size(prov), 2);
  e = mg_json_at(prov, 0);
  assert_string_equal(mg_json_string(mg_json_get(e, "started")),
                      "2026-01-01T00:00:00.000Z");
  assert_int_equal(mg_json_size(mg_json_get(e, "args")), 7);
  s = mg_json_print(rec, 0);
  assert_null(strstr(s, "secret"));
  assert_null(strstr(s, "tok3n"));
  assert_null(strstr(s, "k3y"));
  assert_non_null(strstr(s, "\"--rate\"]"));
  assert_non_null(strstr(s, "http://h:1/v1"));
  free(s);
  mg_json_free(rec);
}

static void test_read_or_new(void **state)
{
  char path[] = "/tmp/mg-rec-empty.XXXXXX";
  int fd = mkstemp(path), saved = dup(0), nul;
  struct mg_err err = MG_ERR_INIT;
  struct mg_json *rec;

  (void)state;
  assert_true(fd >= 0);
  assert_int_equal(write(fd, " \n\t", 3), 3);
  close(fd);
  /* A named file must hold a record, even with read_or_new. */
  assert_int_equal(mg_record_read_or_new(path, 1 << 20, &rec, &err), -1);
  assert_int_equal(err.cat, MG_ERR_DATA);
  /* An empty or blank pipe on stdin is "no record": a fresh one. */
  nul = open(path, O_RDONLY);
  dup2(nul, 0);
  close(nul);
  assert_int_equal(mg_record_read_or_new("-", 1 << 20, &rec, &err), 0);
  assert_int_equal(mg_record_check(rec, "new", &err), 0);
  assert_int_equal(mg_json_size(rec), 1);
  mg_json_free(rec);
  /* ... but not for mg_record_read, which needs a record. */
  nul = open(path, O_RDONLY);
  dup2(nul, 0);
  close(nul);
  assert_int_equal(mg_record_read("-", 1 << 20, &rec, &err), -1);
  assert_int_equal(err.cat, MG_ERR_DATA);
  dup2(saved, 0);
  close(saved);
  unlink(path);
}

static void expect_gate(const char *doc, int want, const char *msg)
{
  struct mg_json *j = parse(doc);
  struct mg_err err = MG_ERR_INIT;

  assert_int_equal(mg_record_gate(j, &err), want ? -1 : 0);
  if (msg && !strstr(err.msg, msg))
    fail_msg("gate message '%s' lacks '%s'", err.msg, msg);
  if (want) {
    assert_int_equal(err.cat, MG_ERR_FAIL);
  } else {
    assert_int_equal(err.cat, MG_ERR_NONE);
  }
  mg_json_free(j);
}

#define FILES "\"files\": [{\"path\": \"a.bin\", \"sha256\": \"aa\"}]"

static void test_gate(void **state)
{
  (void)state;
  /* no model: an endpoint measured on its own */
  expect_gate("{\"schema\": \"modelgate.record/v1\"}", 0, NULL);
  expect_gate("{\"model\": {\"name\": \"m\", " FILES "}}", 1,
              "refusing model 'm': no verification verdict");
  expect_gate("{\"model\": {\"name\": \"m\", " FILES "}, \"verification\": "
              "{\"verdict\": \"pass\", " FILES "}}",
              0, NULL);
  /* the first error finding is named, not the first warning */
  expect_gate("{\"model\": {\"name\": \"m\", " FILES "}, \"verification\": "
              "{\"verdict\": \"fail\", \"findings\": ["
              "{\"severity\": \"warning\", \"check\": \"license\", "
              "\"message\": \"no license\"},"
              "{\"severity\": \"error\", \"check\": \"pickle\", \"path\": "
              "\"a.bin\", \"message\": \"global os.system\"}]}}",
              1,
              "refusing model 'm': verdict 'fail': pickle "
              "'a.bin': global os.system");
  /* a verdict about other bytes does not count */
  expect_gate("{\"model\": {\"name\": \"m\", " FILES "}, \"verification\": "
              "{\"verdict\": \"pass\", \"files\": [{\"path\": \"a.bin\", "
              "\"sha256\": \"bb\"}]}}",
              1, "file 'a.bin' was not verified with this sha256");
  /* a registered version's verdict stands for a seed record */
  expect_gate("{\"model\": {\"name\": \"m\"}, \"registry\": "
              "{\"version_properties\": {\"verify.verdict\": \"pass\"}}}",
              0, NULL);
  expect_gate("{\"model\": {\"name\": \"m\"}, \"registry\": "
              "{\"version_properties\": {\"verify.verdict\": \"fail\"}}}",
              1, "verdict 'fail' in the registry");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_check),
    cmocka_unit_test(test_sections_pass_through),
    cmocka_unit_test(test_write_read_and_sidefile),
    cmocka_unit_test(test_read_rejects_garbage),
    cmocka_unit_test(test_redact_url),
    cmocka_unit_test(test_provenance),
    cmocka_unit_test(test_read_or_new),
    cmocka_unit_test(test_gate),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
