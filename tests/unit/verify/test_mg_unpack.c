#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <string.h>
#include <cmocka.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "verify/mg_unpack.h"

/* "hello world\n" as Python's zlib, gzip, bz2 and lzma modules write it. */
#define ZLIB                                                                   \
  "\x78\x9c\xcb\x48\xcd\xc9\xc9\x57\x28\xcf\x2f\xca\x49\xe1\x02\x00\x1e\x72"   \
  "\x04\x67"
#define GZIP                                                                   \
  "\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03\xcb\x48\xcd\xc9\xc9\x57\x28\xcf"   \
  "\x2f\xca\x49\xe1\x02\x00\x2d\x3b\x08\xaf\x0c\x00\x00\x00"
#define BZ2                                                                    \
  "\x42\x5a\x68\x39\x31\x41\x59\x26\x53\x59\x4e\xec\xe8\x36\x00\x00\x02\x51"   \
  "\x80\x00\x10\x40\x00\x06\x44\x90\x80\x20\x00\x31\x06\x4c\x41\x01\xa7\xa9"   \
  "\xa5\x80\xbb\x94\x31\xf8\xbb\x92\x29\xc2\x84\x82\x77\x67\x41\xb0"
#define XZ                                                                     \
  "\xfd\x37\x7a\x58\x5a\x00\x00\x04\xe6\xd6\xb4\x46\x02\x00\x21\x01\x16\x00"   \
  "\x00\x00\x74\x2f\xe5\xa3\x01\x00\x0b\x68\x65\x6c\x6c\x6f\x20\x77\x6f\x72"   \
  "\x6c\x64\x0a\x00\xa1\xf2\xff\xc4\x6a\x7f\xbf\xcf\x00\x01\x24\x0c\xa6\x18"   \
  "\xd8\xd8\x1f\xb6\xf3\x7d\x01\x00\x00\x00\x00\x04\x59\x5a"
#define LZMA                                                                   \
  "\x5d\x00\x00\x80\x00\xff\xff\xff\xff\xff\xff\xff\xff\x00\x34\x19\x49\xee"   \
  "\x8d\xe9\x17\x89\x3a\x33\x5f\xfc\xb2\x09\x82\x2f\xff\xfd\xe2\x80\x00"
#define DEFLATE "\xcb\x48\xcd\xc9\xc9\x57\x28\xcf\x2f\xca\x49\xe1\x02\x00"
#define ZIPLZMA                                                                \
  "\x09\x14\x05\x00\x5d\x00\x00\x01\x00\x00\x34\x19\x49\xee\x8d\xe9\x17\x89"   \
  "\x3a\x33\x5f\xfc\xb2\x09\x82\x2f\xff\xfd\xe2\x80\x00"

#define B(s) (const unsigned char *)(s), sizeof(s) - 1

struct out {
  struct mg_buf b;
  struct mg_unpack_info info;
  struct mg_err err;
  int rc;
};

static void run(struct out *o, int kind, const unsigned char *p, size_t n,
                size_t max)
{
  mg_buf_init(&o->b, MG_BUF_UNLIMITED);
  mg_err_clear(&o->err);
  o->rc = mg_unpack(kind, p, n, 12, max, &o->b, &o->info, &o->err);
}

static void test_each_kind(void **state)
{
  static const struct {
    int kind;
    const char *p;
    size_t n;
  } v[] = {
    { MG_UNPACK_ZLIB, ZLIB, sizeof(ZLIB) - 1 },
    { MG_UNPACK_GZIP, GZIP, sizeof(GZIP) - 1 },
    { MG_UNPACK_BZIP2, BZ2, sizeof(BZ2) - 1 },
    { MG_UNPACK_XZ, XZ, sizeof(XZ) - 1 },
    { MG_UNPACK_LZMA, LZMA, sizeof(LZMA) - 1 },
    { MG_UNPACK_DEFLATE, DEFLATE, sizeof(DEFLATE) - 1 },
    { MG_UNPACK_ZIPLZMA, ZIPLZMA, sizeof(ZIPLZMA) - 1 },
  };
  struct out o;

  (void)state;
  for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
    const unsigned char *p = (const unsigned char *)v[i].p;
    if (v[i].kind != MG_UNPACK_DEFLATE && v[i].kind != MG_UNPACK_ZIPLZMA)
      assert_int_equal(mg_unpack_detect(p, v[i].n), v[i].kind);
    run(&o, v[i].kind, p, v[i].n, 1 << 20);
    if (o.rc != 0)
      fail_msg("%s: %s", mg_unpack_name(v[i].kind), o.err.msg);
    if (o.b.len != 12)
      fail_msg("%s: %zu bytes", mg_unpack_name(v[i].kind), o.b.len);
    assert_memory_equal(o.b.data, "hello world\n", 12);
    assert_int_equal(o.info.streams, 1);
    mg_buf_release(&o.b);
  }
}

static void test_streams_and_trailing(void **state)
{
  struct out o;

  (void)state;
  /* Concatenated members, zero padding between gzip members. */
  run(&o, MG_UNPACK_GZIP, B(GZIP "\0\0\0" GZIP), 1 << 20);
  assert_int_equal(o.rc, 0);
  assert_int_equal(o.info.streams, 2);
  assert_int_equal(o.b.len, 24);
  mg_buf_release(&o.b);
  run(&o, MG_UNPACK_BZIP2, B(BZ2 BZ2), 1 << 20);
  assert_int_equal(o.rc, 0);
  assert_int_equal(o.b.len, 24);
  mg_buf_release(&o.b);
  run(&o, MG_UNPACK_XZ, B(XZ XZ), 1 << 20);
  assert_int_equal(o.rc, 0);
  assert_int_equal(o.info.streams, 2);
  mg_buf_release(&o.b);
  /* Bytes after the last stream that start no other: reported, with the
   * data before them kept. */
  run(&o, MG_UNPACK_ZLIB, B(ZLIB "\x80\x02N."), 1 << 20);
  assert_int_equal(o.rc, -1);
  assert_true(o.info.trailing);
  assert_int_equal(o.b.len, 12);
  assert_non_null(strstr(o.err.msg, "4 bytes after the zlib stream"));
  mg_buf_release(&o.b);
  run(&o, MG_UNPACK_DEFLATE, B(DEFLATE "x"), 1 << 20);
  assert_int_equal(o.rc, -1);
  assert_true(o.info.trailing);
  mg_buf_release(&o.b);
}

static void test_bad_streams(void **state)
{
  static const unsigned char gz[] = GZIP;
  unsigned char bad[sizeof(gz)];
  struct out o;

  (void)state;
  /* Truncated: what decoded so far is kept. */
  run(&o, MG_UNPACK_GZIP, gz, sizeof(gz) - 1 - 8, 1 << 20);
  assert_int_equal(o.rc, -1);
  assert_non_null(strstr(o.err.msg, "truncated gzip stream"));
  mg_buf_release(&o.b);
  /* A wrong CRC. */
  memcpy(bad, gz, sizeof(gz));
  bad[sizeof(gz) - 9] ^= 1;
  run(&o, MG_UNPACK_GZIP, bad, sizeof(gz) - 1, 1 << 20);
  assert_int_equal(o.rc, -1);
  assert_non_null(strstr(o.err.msg, "corrupt gzip stream"));
  mg_buf_release(&o.b);
  /* Past the bound: stops there. */
  run(&o, MG_UNPACK_XZ, B(XZ), 5);
  assert_int_equal(o.rc, -1);
  assert_true(o.info.too_large);
  assert_int_equal(o.b.len, 5);
  mg_buf_release(&o.b);
  /* Text that happens to start like a zlib header decodes to nothing. */
  assert_int_equal(mg_unpack_detect(B("x^ is a formula")), MG_UNPACK_ZLIB);
  run(&o, MG_UNPACK_ZLIB, B("x^ is a formula"), 1 << 20);
  assert_int_equal(o.rc, -1);
  assert_int_equal(o.b.len, 0);
  assert_int_equal(o.info.streams, 0);
  mg_buf_release(&o.b);
  /* Recognised, not decompressed. */
  assert_int_equal(mg_unpack_detect(B("\x28\xb5\x2f\xfd....")), MG_UNPACK_ZSTD);
  run(&o, MG_UNPACK_ZSTD, B("\x28\xb5\x2f\xfd...."), 1 << 20);
  assert_int_equal(o.rc, -1);
  mg_buf_release(&o.b);
  assert_int_equal(mg_unpack_detect(B("hello")), MG_UNPACK_NONE);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_each_kind),
    cmocka_unit_test(test_streams_and_trailing),
    cmocka_unit_test(test_bad_streams),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
