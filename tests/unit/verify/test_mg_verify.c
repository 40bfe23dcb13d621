/*
 * Unit tests for mg_verify: policy files (JSON and YAML, unknown keys and
 * bad values refused), chat template markers, and whole runs over small
 * model directories written here: a clean safetensors model, a hostile
 * pickle, integrity against an expected file list, policy limits, and a
 * sharded safetensors index that disagrees with its shards.
 */
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
#include "mg_io.h"
#include "mg_json.h"
#include "mg_tree.h"
#include "verify/mg_unpack.h"
#include "verify/mg_verify.h"

static char dir[64];

static void put(const char *rel, const void *p, size_t n)
{
  char *path = mg_tree_join(dir, rel);

  assert_int_equal(mg_io_write_atomic(path, p, n, 0644, NULL), 0);
  free(path);
}

static void put_str(const char *rel, const char *s)
{
  put(rel, s, strlen(s));
}

/* A valid safetensors file: one F32 tensor per name, 2 elements each. */
static size_t safetensors(unsigned char *out, size_t cap,
                          const char *const *names)
{
  char hdr[512];
  size_t n = 0, k = 0, len;

  n += (size_t)snprintf(hdr + n, sizeof(hdr) - n, "{");
  for (; names[k]; k++)
    n += (size_t)snprintf(hdr + n, sizeof(hdr) - n,
                          "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[2],"
                          "\"data_offsets\":[%zu,%zu]}",
                          k ? "," : "", names[k], k * 8, k * 8 + 8);
  n += (size_t)snprintf(hdr + n, sizeof(hdr) - n, "}");
  while (n % 8)
    hdr[n++] = ' ';
  len = 8 + n + 8 * k;
  assert_true(len <= cap);
  for (int i = 0; i < 8; i++)
    out[i] = (unsigned char)((uint64_t)n >> (8 * i));
  memcpy(out + 8, hdr, n);
  memset(out + 8 + n, 0, 8 * k);
  return len;
}

static int setup(void **state)
{
  (void)state;
  snprintf(dir, sizeof(dir), "/tmp/test-mg-verify-XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
  (void)state;
  return mg_tree_remove(dir, NULL);
}

/* Empties the model directory between tests. */
static void fresh(void)
{
  assert_int_equal(mg_tree_remove(dir, NULL), 0);
  assert_int_equal(mg_io_mkdirs(dir, NULL), 0);
}

struct run {
  struct mg_json *sec;
  int passed;
};

static void run(struct run *r, const struct mg_json *expected,
                const struct mg_verify_policy *pol)
{
  struct mg_verify_policy def;
  struct mg_verify_opts o = { 0 };
  struct mg_err err = MG_ERR_INIT;

  mg_verify_policy_init(&def);
  o.dir = dir;
  o.expected = expected;
  o.policy = pol ? pol : &def;
  o.jobs = 2;
  assert_int_equal(mg_verify_run(&o, &r->sec, &r->passed, &err), 0);
  mg_verify_policy_release(&def);
}

/* Whether an error finding of check mentions needle. */
static int has_error(const struct run *r, const char *check, const char *needle)
{
  const struct mg_json *f = mg_json_get(r->sec, "findings");

  for (const struct mg_json *x = mg_json_first(f); x; x = mg_json_next(x))
    if (strcmp(mg_json_string(mg_json_get(x, "severity")), "error") == 0
        && strcmp(mg_json_string(mg_json_get(x, "check")), check) == 0
        && strstr(mg_json_string(mg_json_get(x, "message")), needle))
      return 1;
  return 0;
}

static void test_policy_load(void **state)
{
  struct mg_verify_policy p;
  struct mg_err err = MG_ERR_INIT;
  struct mg_json *j;
  char *path = mg_tree_join(dir, "policy.yaml");

  (void)state;
  fresh();
  mg_verify_policy_init(&p);
  assert_int_equal(p.pickle, 1);
  /* Fail closed: what is neither known nor scanned is an error. */
  assert_int_equal(p.unknown_fail, 1);
  assert_true(p.max_unpack_bytes == (uint64_t)1 << 30);
  assert_int_equal(p.allow_code, 0);
  assert_null(p.formats);
  assert_null(p.unscanned_allow);
  put_str("policy.yaml", "formats: [safetensors, json]\npickle: deny\n"
                         "pickle_allow: [\"sklearn.*\"]\nunknown_formats: "
                         "warn\nmax_total_bytes: 1000\nlicenses: [MIT]\n"
                         "require_signature: true\nunscanned_allow: "
                         "[\"assets/*.png\"]\nmax_unpack_bytes: 4096\n");
  assert_int_equal(mg_verify_policy_load(path, &p, &err), 0);
  assert_int_equal(p.pickle, 0);
  assert_int_equal(p.unknown_fail, 0);
  assert_string_equal(p.unscanned_allow[0], "assets/*.png");
  assert_true(p.max_unpack_bytes == 4096);
  assert_true(p.max_total_bytes == 1000);
  assert_int_equal(p.require_signature, 1);
  j = mg_verify_policy_json(&p);
  assert_string_equal(mg_json_string(mg_json_get(j, "pickle")), "deny");
  assert_string_equal(mg_json_string(mg_json_at(mg_json_get(j, "formats"), 1)),
                      "json");
  assert_string_equal(
      mg_json_string(mg_json_at(mg_json_get(j, "pickle_allow"), 0)),
      "sklearn.*");
  assert_string_equal(mg_json_string(mg_json_get(j, "unknown_formats")),
                      "warn");
  assert_string_equal(
      mg_json_string(mg_json_at(mg_json_get(j, "unscanned_allow"), 0)),
      "assets/*.png");
  assert_true(mg_json_number(mg_json_get(j, "max_unpack_bytes")) == 4096);
  mg_json_free(j);
  mg_verify_policy_release(&p);

  /* A typo never weakens the gate: unknown keys and bad values fail. */
  mg_verify_policy_init(&p);
  put_str("policy.yaml", "{\"pickles\": \"deny\"}");
  assert_int_equal(mg_verify_policy_load(path, &p, &err), -1);
  assert_int_equal(err.cat, MG_ERR_DATA);
  assert_non_null(strstr(err.msg, "pickles"));
  put_str("policy.yaml", "pickle: maybe\n");
  assert_int_equal(mg_verify_policy_load(path, &p, &err), -1);
  assert_int_equal(err.cat, MG_ERR_DATA);
  mg_verify_policy_release(&p);
  free(path);
}

static void test_template_marker(void **state)
{
  (void)state;
  assert_null(mg_verify_template_marker(
      "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}"
      "{% endfor %}"));
  assert_string_equal(mg_verify_template_marker("{{ ''.__class__.__mro__ }}"),
                      "__class__");
  assert_non_null(mg_verify_template_marker(
      "{{ cycler.__init__.__globals__.os.popen('id') }}"));
  assert_non_null(mg_verify_template_marker("{% import os %}"));
  /* A word inside another word is not the marker. */
  assert_null(mg_verify_template_marker("{{ important }}"));
}

static void test_clean_and_hostile(void **state)
{
  static const char *const names[] = { "w", "b", NULL };
  unsigned char st[512];
  size_t n = safetensors(st, sizeof(st), names);
  struct run r;

  (void)state;
  fresh();
  put_str("config.json", "{\"architectures\": [\"Tiny\"]}");
  put("model.safetensors", st, n);
  run(&r, NULL, NULL);
  assert_int_equal(r.passed, 1);
  assert_string_equal(mg_json_string(mg_json_get(r.sec, "verdict")), "pass");
  mg_json_free(r.sec);

  /* A pickle importing os.system under an innocent name. */
  {
    static const char evil[] = "\x80\x02"
                               "cos\nsystem\nX\x02\x00\x00\x00"
                               "id\x85R.";
    put("weights.bin", evil, sizeof(evil) - 1);
  }
  run(&r, NULL, NULL);
  assert_int_equal(r.passed, 0);
  assert_true(has_error(&r, "pickle", "os.system"));
  mg_json_free(r.sec);

  /* A safetensors file whose offsets overlap. */
  {
    char *p = mg_tree_join(dir, "weights.bin");
    unlink(p);
    free(p);
  }
  {
    const char *bad = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
                      "\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\","
                      "\"shape\":[2],\"data_offsets\":[4,12]}}";
    unsigned char img[256];
    size_t h = strlen(bad);
    for (int i = 0; i < 8; i++)
      img[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(img + 8, bad, h);
    memset(img + 8 + h, 0, 12);
    put("bad.safetensors", img, 8 + h + 12);
  }
  run(&r, NULL, NULL);
  assert_int_equal(r.passed, 0);
  assert_true(has_error(&r, "safetensors",
                        "overlapping offsets for tensor "
                        "'b'"));
  mg_json_free(r.sec);
}

static void test_integrity_and_policy(void **state)
{
  struct mg_json *exp = mg_json_new_array(), *f;
  struct mg_verify_policy p;
  struct mg_verify_opts o = { 0 };
  struct mg_err err = MG_ERR_INIT;
  char hex[MG_DIGEST_SHA256_HEX_LEN + 1];
  struct run r;

  (void)state;
  fresh();
  put_str("config.json", "{\"a\": 1}");
  put_str("extra.txt", "not in the record\n");
  mg_digest_sha256_hex("{\"a\": 2}", 8, hex); /* not what is on disk */
  f = mg_json_new_object();
  mg_json_set_string(f, "path", "config.json");
  mg_json_set_number(f, "size", 8);
  mg_json_set_string(f, "sha256", hex);
  mg_json_append(exp, f);
  f = mg_json_new_object();
  mg_json_set_string(f, "path", "tokenizer.json");
  mg_json_set_number(f, "size", 2);
  mg_json_set_string(f, "sha256", hex);
  mg_json_append(exp, f);
  run(&r, exp, NULL);
  assert_int_equal(r.passed, 0);
  assert_true(has_error(&r, "integrity", "differs from the recorded"));
  assert_true(has_error(&r, "integrity", "missing: the record lists it"));
  assert_true(has_error(&r, "integrity", "extra: on disk"));
  mg_json_free(r.sec);

  /* A malformed expected list cannot be checked at all. */
  mg_json_free(exp);
  exp = mg_json_new_array();
  mg_json_append(exp, mg_json_new_string("config.json"));
  mg_verify_policy_init(&p);
  o.dir = dir;
  o.expected = exp;
  o.policy = &p;
  o.jobs = 1;
  assert_int_equal(mg_verify_run(&o, &r.sec, &r.passed, &err), -1);
  assert_int_equal(err.cat, MG_ERR_DATA);
  mg_json_free(exp);

  /* Policy: size limit and a required file. */
  p.max_total_bytes = 4;
  p.required_files = calloc(2, sizeof(char *));
  p.required_files[0] = strdup("tokenizer.json");
  run(&r, NULL, &p);
  assert_int_equal(r.passed, 0);
  assert_true(has_error(&r, "policy", "bytes"));
  assert_true(has_error(&r, "policy", "required file is missing"));
  mg_json_free(r.sec);
  mg_verify_policy_release(&p);
}

static void test_shard_index(void **state)
{
  static const char *const s1[] = { "a", "b", NULL };
  static const char *const s2[] = { "b", "c", "z", NULL };
  unsigned char st[512];
  size_t n;
  struct run r;

  (void)state;
  fresh();
  put_str("config.json", "{}");
  n = safetensors(st, sizeof(st), s1);
  put("model-00001-of-00002.safetensors", st, n);
  n = safetensors(st, sizeof(st), s2);
  put("model-00002-of-00002.safetensors", st, n);
  put_str("model.safetensors.index.json",
          "{\"metadata\": {\"total_size\": 40}, \"weight_map\": {"
          "\"a\": \"model-00001-of-00002.safetensors\", "
          "\"b\": \"model-00001-of-00002.safetensors\", "
          "\"c\": \"model-00002-of-00002.safetensors\", "
          "\"d\": \"model-00002-of-00002.safetensors\"}}");
  run(&r, NULL, NULL);
  assert_int_equal(r.passed, 0);
  assert_true(has_error(&r, "safetensors", "tensor 'b' is in two shards"));
  assert_true(has_error(&r, "safetensors",
                        "tensor 'd' is not in shard "
                        "'model-00002-of-00002.safetensors'"));
  assert_true(has_error(&r, "safetensors",
                        "holds tensor 'z', which the "
                        "index does not list"));
  mg_json_free(r.sec);

  /* Consistent again: passes. */
  n = safetensors(st, sizeof(st), (const char *const[]){ "c", "d", NULL });
  put("model-00002-of-00002.safetensors", st, n);
  put_str("model.safetensors.index.json",
          "{\"metadata\": {\"total_size\": 32}, \"weight_map\": {"
          "\"a\": \"model-00001-of-00002.safetensors\", "
          "\"b\": \"model-00001-of-00002.safetensors\", "
          "\"c\": \"model-00002-of-00002.safetensors\", "
          "\"d\": \"model-00002-of-00002.safetensors\"}}");
  run(&r, NULL, NULL);
  assert_int_equal(r.passed, 1);
  mg_json_free(r.sec);
}

/* A one-member stored zip with the given DOS time and date. */
static size_t stored_zip(unsigned char *z, size_t cap, uint16_t time,
                         uint16_t date, const char *name, const char *data)
{
  size_t nl = strlen(name), dl = strlen(data), n = 0, cd, cds;
  uint32_t crc = mg_unpack_crc32((const unsigned char *)data, dl);
  const unsigned char head[] = { 0x14, 0, 0, 0, 0, 0 };

  assert_true(30 + nl + dl + 46 + nl + 22 <= cap);
#define LE16(v)                                                                \
  (z[n++] = (unsigned char)(v), z[n++] = (unsigned char)((v) >> 8))
#define LE32(v) (LE16((v)&0xffff), LE16((uint32_t)(v) >> 16))
  memcpy(z, "PK\x03\x04", 4);
  n = 4;
  memcpy(z + n, head, 6);
  n += 6;
  LE16(time);
  LE16(date);
  LE32(crc);
  LE32(dl);
  LE32(dl);
  LE16(nl);
  LE16(0);
  memcpy(z + n, name, nl);
  n += nl;
  memcpy(z + n, data, dl);
  n += dl;
  cd = n;
  memcpy(z + n, "PK\x01\x02\x14\x00", 6);
  n += 6;
  memcpy(z + n, head, 6);
  n += 6;
  LE16(time);
  LE16(date);
  LE32(crc);
  LE32(dl);
  LE32(dl);
  LE16(nl);
  LE32(0); /* extra and comment lengths */
  LE32(0); /* disk, internal attributes */
  LE32(0); /* external attributes */
  LE32(0); /* local header offset */
  memcpy(z + n, name, nl);
  n += nl;
  cds = n - cd;
  memcpy(z + n, "PK\x05\x06", 4);
  n += 4;
  LE32(0);
  LE16(1);
  LE16(1);
  LE32(cds);
  LE32(cd);
  LE16(0);
#undef LE32
#undef LE16
  return n;
}

/* A zip's first bytes read as a pickle depend on its DOS timestamp (a
 * newline in it ends a persistent id); no timestamp makes a benign zip a
 * polyglot. CI failed at 01:17 (a persistent id, then nothing) and would
 * at 05:48:20 (a persistent id, then STOP). */
static void test_zip_timestamps(void **state)
{
  static const uint16_t times[] = { 0x0a20, 0x2e0a, 0x0a86, 0 };
  unsigned char z[256];
  struct run r;

  (void)state;
  for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
    size_t n = stored_zip(z, sizeof(z), times[i], 0x5d88, "notes.txt", "hi\n");
    fresh();
    put_str("config.json", "{}");
    put("extra.zip", z, n);
    run(&r, NULL, NULL);
    if (!r.passed)
      fail_msg("time 0x%04x: %s", times[i],
               mg_json_string(mg_json_get(
                   mg_json_first(mg_json_get(r.sec, "findings")), "message")));
    assert_int_equal(
        mg_json_number(mg_json_get(mg_json_get(r.sec, "summary"), "errors")),
        0);
    mg_json_free(r.sec);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_policy_load),
    cmocka_unit_test(test_template_marker),
    cmocka_unit_test(test_clean_and_hostile),
    cmocka_unit_test(test_integrity_and_policy),
    cmocka_unit_test(test_shard_index),
    cmocka_unit_test(test_zip_timestamps),
  };

  return cmocka_run_group_tests(tests, setup, teardown);
}
