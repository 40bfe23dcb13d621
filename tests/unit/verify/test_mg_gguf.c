#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "verify/mg_gguf.h"

static void u32(struct mg_buf *b, uint32_t v)
{
  for (int i = 0; i < 4; i++)
    mg_buf_addch(b, (char)(v >> (8 * i)), NULL);
}

static void u64(struct mg_buf *b, uint64_t v)
{
  for (int i = 0; i < 8; i++)
    mg_buf_addch(b, (char)(v >> (8 * i)), NULL);
}

static void str(struct mg_buf *b, const char *s)
{
  u64(b, strlen(s));
  mg_buf_addstr(b, s, NULL);
}

static void header(struct mg_buf *b, uint32_t version, uint64_t nt,
                   uint64_t nkv)
{
  mg_buf_addstr(b, "GGUF", NULL);
  u32(b, version);
  u64(b, nt);
  u64(b, nkv);
}

static void tensor(struct mg_buf *b, const char *name, uint32_t nd,
                   const uint64_t *ne, uint32_t type, uint64_t off)
{
  str(b, name);
  u32(b, nd);
  for (uint32_t i = 0; i < nd; i++)
    u64(b, ne[i]);
  u32(b, type);
  u64(b, off);
}

static void pad_data(struct mg_buf *b, size_t data)
{
  while (b->len % 32)
    mg_buf_addch(b, 0, NULL);
  for (size_t i = 0; i < data; i++)
    mg_buf_addch(b, 0, NULL);
}

static int run(struct mg_buf *b, const char *want, struct mg_gguf_info *info)
{
  struct mg_err err = MG_ERR_INIT;
  int rc = mg_gguf_check((const unsigned char *)b->data, b->len, info, &err);

  if (want) {
    assert_int_equal(rc, -1);
    if (!strstr(err.msg, want))
      fail_msg("'%s' lacks '%s'", err.msg, want);
  } else if (rc) {
    fail_msg("unexpected failure: %s", err.msg);
  }
  mg_buf_release(b);
  return rc;
}

static void test_valid(void **state)
{
  struct mg_buf b = MG_BUF_INIT(1 << 20);
  struct mg_gguf_info info;
  uint64_t ne[2] = { 32, 2 };

  (void)state;
  header(&b, 3, 2, 3);
  str(&b, "general.architecture");
  u32(&b, 8);
  str(&b, "llama");
  str(&b, "tokenizer.ggml.tokens");
  u32(&b, 9);
  u32(&b, 8);
  u64(&b, 2);
  str(&b, "a");
  str(&b, "b");
  str(&b, "tokenizer.chat_template");
  u32(&b, 8);
  str(&b, "{{ messages }}");
  tensor(&b, "q4", 2, ne, 2, 0);   /* Q4_0: 2 rows of 1 block = 36 */
  tensor(&b, "f32", 1, ne, 0, 64); /* 32 floats = 128 */
  pad_data(&b, 192);
  assert_int_equal(run(&b, NULL, &info), 0);
  assert_int_equal(info.version, 3);
  assert_int_equal(info.n_tensors, 2);
  assert_string_equal(info.architecture, "llama");
  assert_string_equal(info.chat_template, "{{ messages }}");
  assert_int_equal(info.data_bytes, 36 + 128);
  mg_gguf_info_release(&info);
}

static void test_known_bad(void **state)
{
  struct mg_buf b = MG_BUF_INIT(1 << 20);
  uint64_t ne[5] = { 4, 4, 1, 1, 1 }, zero[2] = { 4, 0 };
  uint64_t odd[1] = { 33 }, huge[2] = { (uint64_t)1 << 62, 4 };

  (void)state;
  mg_buf_addstr(&b, "GGUX", NULL);
  run(&b, "bad magic", NULL);
  header(&b, 1, 0, 0);
  run(&b, "version 1", NULL);
  header(&b, 0x03000000, 0, 0);
  run(&b, "big-endian", NULL);
  header(&b, 3, (uint64_t)1 << 60, 0);
  run(&b, "does not fit", NULL);
  header(&b, 3, 0, 1);
  str(&b, "k");
  u32(&b, 8);
  u64(&b, (uint64_t)1 << 40); /* string length past the end */
  pad_data(&b, 64);
  run(&b, "too long", NULL);
  header(&b, 3, 0, 2);
  str(&b, "k");
  u32(&b, 4);
  u32(&b, 1);
  str(&b, "k");
  u32(&b, 4);
  u32(&b, 1);
  run(&b, "duplicate key", NULL);
  header(&b, 3, 0, 1);
  str(&b, "k");
  u32(&b, 9);
  u32(&b, 9);
  u64(&b, 1);
  pad_data(&b, 32);
  run(&b, "arrays", NULL);
  header(&b, 3, 0, 1);
  str(&b, "k");
  u32(&b, 13);
  pad_data(&b, 32);
  run(&b, "unknown value type", NULL);
  header(&b, 3, 0, 1);
  str(&b, "general.alignment");
  u32(&b, 4);
  u32(&b, 48);
  pad_data(&b, 32);
  run(&b, "power of two", NULL);
  header(&b, 3, 1, 0);
  tensor(&b, "t", 5, ne, 0, 0);
  pad_data(&b, 64);
  run(&b, "5 dimensions", NULL);
  header(&b, 3, 1, 0);
  tensor(&b, "t", 2, zero, 0, 0);
  pad_data(&b, 64);
  run(&b, "of size 0", NULL);
  header(&b, 3, 1, 0);
  tensor(&b, "t", 2, huge, 0, 0);
  pad_data(&b, 64);
  run(&b, "overflows", NULL);
  header(&b, 3, 1, 0);
  tensor(&b, "t", 1, odd, 2, 0);
  pad_data(&b, 64);
  run(&b, "block size", NULL);
  header(&b, 3, 1, 0);
  tensor(&b, "t", 1, ne, 99, 0);
  pad_data(&b, 64);
  run(&b, "unknown ggml type", NULL);
  header(&b, 3, 1, 0);
  tensor(&b, "t", 1, ne, 0, 8);
  pad_data(&b, 64);
  run(&b, "not aligned", NULL);
  header(&b, 3, 2, 0);
  tensor(&b, "t", 1, ne, 0, 0);
  tensor(&b, "t", 1, ne, 0, 32);
  pad_data(&b, 64);
  run(&b, "duplicate tensor", NULL);
  header(&b, 3, 2, 0);
  tensor(&b, "a", 2, ne, 0, 0);
  tensor(&b, "b", 1, ne, 0, 32);
  pad_data(&b, 128);
  run(&b, "overlaps", NULL);
  header(&b, 3, 1, 0);
  tensor(&b, "a", 2, ne, 0, 0);
  pad_data(&b, 8);
  run(&b, "past the end", NULL);
  header(&b, 3, 1, 0);
  tensor(&b, "0123456789012345678901234567890123456789012345678901234567890123",
         1, ne, 0, 0);
  pad_data(&b, 64);
  run(&b, "tensor name", NULL);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_valid),
    cmocka_unit_test(test_known_bad),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
