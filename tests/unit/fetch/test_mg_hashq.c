/*
 * Unit tests for mg_hashq: digests computed on the worker equal the
 * digests of the same bytes hashed inline, for several streams fed in
 * interleaved odd-sized pieces through few blocks (the adder then waits
 * for the worker), with syncs in the middle.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "fetch/mg_hashq.h"
#include "mg_digest.h"

struct st {
  struct mg_hashq_stream s;
  struct mg_digest_sha256 *h;
  size_t seen;
};

static void fn(void *arg, const void *p, size_t n)
{
  struct st *t = arg;
  mg_digest_sha256_update(t->h, p, n);
  t->seen += n;
}

static void test_streams(void **state)
{
  enum { NS = 3, LEN = 1 << 20 };
  unsigned char *data = malloc(LEN);
  struct mg_hashq *q;
  struct st t[NS];
  size_t off[NS] = { 0 };
  uint32_t r = 12345;

  (void)state;
  for (size_t i = 0; i < LEN; i++) {
    r = r * 1103515245 + 12345;
    data[i] = (unsigned char)(r >> 16);
  }
  /* 3 blocks of 1000 bytes for three streams: adds wait for the worker. */
  q = mg_hashq_new(1000, 3);
  assert_non_null(q);
  for (int k = 0; k < NS; k++) {
    memset(&t[k], 0, sizeof(t[k]));
    t[k].s.fn = fn;
    t[k].s.arg = &t[k];
    t[k].h = mg_digest_sha256_new();
  }
  for (int round = 0; off[0] < LEN || off[1] < LEN || off[2] < LEN; round++) {
    for (int k = 0; k < NS; k++) {
      size_t n = (size_t)(1 + (round * 7919 + k * 104729) % 4099);
      if (off[k] + n > LEN)
        n = LEN - off[k];
      mg_hashq_add(q, &t[k].s, data + off[k], n);
      off[k] += n;
      if (round == 50 && k == 1) {
        mg_hashq_sync(q, &t[k].s);
        assert_int_equal(t[k].seen, off[k]);
      }
    }
  }
  for (int k = 0; k < NS; k++) {
    char got[MG_DIGEST_SHA256_HEX_LEN + 1], want[MG_DIGEST_SHA256_HEX_LEN + 1];
    mg_hashq_sync(q, &t[k].s);
    assert_int_equal(t[k].seen, LEN);
    mg_digest_sha256_final_hex(t[k].h, got);
    mg_digest_sha256_hex(data, LEN, want);
    assert_string_equal(got, want);
    mg_digest_sha256_free(t[k].h);
  }
  /* A stream that never added anything syncs at once. */
  {
    struct st e;
    memset(&e, 0, sizeof(e));
    e.s.fn = fn;
    e.s.arg = &e;
    mg_hashq_sync(q, &e.s);
    assert_int_equal(e.seen, 0);
  }
  mg_hashq_free(q);
  mg_hashq_free(NULL);
  free(data);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_streams),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
