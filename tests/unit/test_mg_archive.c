#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "mg_archive.h"
#include "mg_err.h"
#include "mg_mem.h"
#include "mg_tree.h"

static char dir[64];

/* A ustar entry: type '0' file, '1' hard link, '2' symlink, '3' char
 * device, '5' directory. */
static void entry(FILE *f, const char *name, char type, const char *link,
                  const char *data)
{
  char h[512];
  size_t n = data ? strlen(data) : 0;
  unsigned sum = 0;

  memset(h, 0, sizeof(h));
  memcpy(h, name, strlen(name));
  memcpy(h + 100, "0000644", 7);
  memcpy(h + 108, "0000000", 7);
  memcpy(h + 116, "0000000", 7);
  (void)snprintf(h + 124, 12, "%011o", (unsigned)(n & 07777777));
  memcpy(h + 136, "00000000000", 11);
  memset(h + 148, ' ', 8);
  h[156] = type;
  if (link)
    memcpy(h + 157, link, strlen(link));
  memcpy(h + 257, "ustar", 6);
  memcpy(h + 263, "00", 2);
  for (size_t i = 0; i < 512; i++)
    sum += (unsigned char)h[i];
  (void)snprintf(h + 148, 8, "%06o", sum);
  fwrite(h, 1, 512, f);
  if (n) {
    char pad[512] = { 0 };
    fwrite(data, 1, n, f);
    fwrite(pad, 1, (512 - n % 512) % 512, f);
  }
}

static char *tar_path(const char *name)
{
  return mg_xasprintf("%s/%s", dir, name);
}

static void finish(FILE *f)
{
  char z[1024] = { 0 };

  fwrite(z, 1, sizeof(z), f);
  fclose(f);
}

static int setup(void **state)
{
  (void)state;
  (void)snprintf(dir, sizeof(dir), "/tmp/test_mg_archive.XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
  (void)state;
  return mg_tree_remove(dir, NULL);
}

static int extract(const char *tarname, const char *out, const char *prefix,
                   unsigned flags, const struct mg_archive_limits *lim,
                   struct mg_err *err)
{
  char *t = tar_path(tarname), *o = tar_path(out);
  uint64_t n;
  int rc;

  mkdir(o, 0755);
  rc = mg_archive_extract(t, o, prefix, flags, lim, NULL, &n, err);
  free(t);
  free(o);
  return rc;
}

static void test_clean_path(void **state)
{
  static const struct {
    const char *in, *out;
    int rooted;
  } ok[] = { { "a/b", "a/b", 0 },
             { "./a//b/", "a/b", 0 },
             { "/models/x", "models/x", 1 },
             { "a/./b", "a/b", 0 } };
  static const char *const bad[] = {
    "../x", "a/../../x", "/etc/passwd", "", ".", "a\\..\\b", "a\nb", "a/.."
  };
  struct mg_err err = MG_ERR_INIT;
  char *out;

  (void)state;
  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
    assert_int_equal(mg_archive_clean_path(ok[i].in, ok[i].rooted, &out, &err),
                     0);
    assert_string_equal(out, ok[i].out);
    free(out);
  }
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_int_equal(mg_archive_clean_path(bad[i], 0, &out, &err), -1);
    assert_null(out);
    assert_int_equal(err.cat, MG_ERR_DATA);
  }
}

static void test_hostile_tars(void **state)
{
  static const struct {
    const char *name;
    char type;
    const char *link;
    const char *msg;
  } cases[] = {
    { "../escape", '0', NULL, "'..'" },
    { "/abs", '0', NULL, "absolute" },
    { "l", '2', "/etc", "outside" },
    { "l", '2', "../../x", "outside" },
    { "d/l", '2', "x/../../..", "outside" },
    { "h", '1', "/etc/passwd", "hard link" },
    { "dev", '3', NULL, "special file" },
  };
  struct mg_err err = MG_ERR_INIT;

  (void)state;
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char *t = tar_path("bad.tar");
    FILE *f = fopen(t, "wb");
    char out[16];
    free(t);
    entry(f, "ok.txt", '0', NULL, "fine");
    entry(f, cases[i].name, cases[i].type, cases[i].link,
          cases[i].type == '0' ? "x" : NULL);
    finish(f);
    (void)snprintf(out, sizeof(out), "o%zu", i);
    assert_int_equal(extract("bad.tar", out, NULL, 0, NULL, &err), -1);
    if (!strstr(err.msg, cases[i].msg))
      fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].msg);
  }
}

static void test_write_through_link_refused(void **state)
{
  struct mg_err err = MG_ERR_INIT;
  char *t = tar_path("link.tar");
  FILE *f = fopen(t, "wb");

  (void)state;
  free(t);
  entry(f, "sub/", '5', NULL, NULL);
  entry(f, "l", '2', "sub", NULL);    /* inside: allowed */
  entry(f, "l/x", '0', NULL, "data"); /* but never written through */
  finish(f);
  assert_int_equal(extract("link.tar", "ol", NULL, 0, NULL, &err), -1);
  assert_non_null(strstr(err.msg, "not a directory"));
}

static void test_limits_and_duplicates(void **state)
{
  struct mg_archive_limits lim;
  struct mg_err err = MG_ERR_INIT;
  char *t = tar_path("many.tar");
  FILE *f = fopen(t, "wb");

  (void)state;
  free(t);
  entry(f, "a", '0', NULL, "0123456789");
  entry(f, "b", '0', NULL, "0123456789");
  entry(f, "c", '0', NULL, "0123456789");
  finish(f);
  mg_archive_limits_init(&lim);
  lim.max_entries = 2;
  assert_int_equal(extract("many.tar", "m1", NULL, 0, &lim, &err), -1);
  assert_non_null(strstr(err.msg, "more than 2 entries"));
  mg_archive_limits_init(&lim);
  lim.max_total_bytes = 25;
  assert_int_equal(extract("many.tar", "m2", NULL, 0, &lim, &err), -1);
  assert_non_null(strstr(err.msg, "expands to more than"));
  mg_archive_limits_init(&lim);
  lim.max_entry_bytes = 5;
  assert_int_equal(extract("many.tar", "m3", NULL, 0, &lim, &err), -1);
  t = tar_path("dup.tar");
  f = fopen(t, "wb");
  free(t);
  entry(f, "a", '0', NULL, "1");
  entry(f, "a", '0', NULL, "2");
  finish(f);
  assert_int_equal(extract("dup.tar", "m4", NULL, 0, NULL, &err), -1);
  assert_non_null(strstr(err.msg, "duplicate entry"));
}

static int count_file(void *arg, const char *path, uint64_t size,
                      const char *sha, struct mg_err *err)
{
  int *n = arg;

  (void)err;
  assert_string_equal(path, "sub/w.bin");
  assert_int_equal(size, 5);
  /* sha256("hello") */
  assert_string_equal(sha, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e"
                           "73043362938b9824");
  (*n)++;
  return 0;
}

static void test_layer_round_trip(void **state)
{
  char hex[MG_DIGEST_SHA256_HEX_LEN + 1], hex2[MG_DIGEST_SHA256_HEX_LEN + 1];
  struct mg_err err = MG_ERR_INIT;
  char *src = tar_path("w.bin"), *layer = tar_path("layer.tar");
  char *layer2 = tar_path("layer2.tar"), *out = tar_path("rt");
  int n = 0;
  struct mg_archive_file_cb cb = { count_file, &n };
  uint64_t size, files;
  FILE *f = fopen(src, "wb");

  (void)state;
  fputs("hello", f);
  fclose(f);
  assert_int_equal(
      mg_archive_write_layer(src, "models/sub/w.bin", layer, hex, &size, &err),
      0);
  assert_int_equal(size % 512, 0);
  /* Deterministic: the same file gives the same layer digest. */
  assert_int_equal(mg_archive_write_layer(src, "models/sub/w.bin", layer2, hex2,
                                          &size, &err),
                   0);
  assert_string_equal(hex, hex2);
  mkdir(out, 0755);
  assert_int_equal(mg_archive_extract(layer, out, "models/",
                                      MG_ARCHIVE_ROOTED | MG_ARCHIVE_OCI, NULL,
                                      &cb, &files, &err),
                   0);
  assert_int_equal(n, 1);
  assert_int_equal(files, 1);
  free(src);
  free(layer);
  free(layer2);
  free(out);
}

static void test_whiteout_refused(void **state)
{
  struct mg_err err = MG_ERR_INIT;
  char *t = tar_path("wh.tar");
  FILE *f = fopen(t, "wb");

  (void)state;
  free(t);
  entry(f, "models/.wh.config.json", '0', NULL, "");
  finish(f);
  assert_int_equal(extract("wh.tar", "w", "models/",
                           MG_ARCHIVE_ROOTED | MG_ARCHIVE_OCI, NULL, &err),
                   -1);
  assert_non_null(strstr(err.msg, "whiteout"));
}

static void test_corrupt(void **state)
{
  struct mg_err err = MG_ERR_INIT;
  char *t = tar_path("junk.tar");
  FILE *f = fopen(t, "wb");

  (void)state;
  free(t);
  fputs("this is not an archive at all, not even close", f);
  fclose(f);
  assert_int_equal(extract("junk.tar", "j", NULL, 0, NULL, &err), -1);
  assert_int_equal(err.cat, MG_ERR_DATA);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_clean_path),
    cmocka_unit_test(test_hostile_tars),
    cmocka_unit_test(test_write_through_link_refused),
    cmocka_unit_test(test_limits_and_duplicates),
    cmocka_unit_test(test_layer_round_trip),
    cmocka_unit_test(test_whiteout_refused),
    cmocka_unit_test(test_corrupt),
  };

  return cmocka_run_group_tests(tests, setup, teardown);
}
