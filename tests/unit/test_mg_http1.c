/*
 * Unit tests for mg_http1, the HTTP/1.1 response reader: framing by
 * Content-Length, chunked and close, bytes split at every offset, interim
 * answers, keep-alive rules, and the protocol errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "mg_http1.h"

struct got {
  struct mg_buf body;
  int heads;
  long status;
  int stop_after; /* on_body returns -1 at this call (0: never) */
  int calls;
};

static void on_head(void *arg, const struct mg_http1_resp *r)
{
  struct got *g = arg;
  g->heads++;
  g->status = r->status;
}

static int on_body(void *arg, const char *p, size_t n)
{
  struct got *g = arg;
  g->calls++;
  if (g->stop_after && g->calls >= g->stop_after)
    return -1;
  return mg_buf_add(&g->body, p, n, NULL);
}

/* Feeds s in pieces of step bytes (0: whole); returns feed's result. */
static int feed(struct mg_http1_resp *r, struct got *g, const char *s,
                size_t step, struct mg_err *err)
{
  size_t n = strlen(s), i = 0;

  if (!step)
    step = n ? n : 1;
  while (i < n) {
    size_t k = n - i < step ? n - i : step;
    if (mg_http1_resp_feed(r, s + i, k, on_head, on_body, g, err) < 0)
      return -1;
    i += k;
  }
  return 0;
}

static const char chunked[] =
    "HTTP/1.1 100 Continue\r\n\r\n"
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
    "Transfer-Encoding: chunked\r\nX-A: 1\r\nx-a:  two \r\n\r\n"
    "5\r\nhello\r\n"
    "1B;ext=1\r\n data: {\"a\":1}\n\n 0123456789\r\n"
    "0\r\nTrailer: x\r\n\r\n";
static const char chunked_body[] = "hello data: {\"a\":1}\n\n 0123456789";

static void test_chunked_every_split(void **state)
{
  (void)state;
  for (size_t step = 0; step <= sizeof(chunked); step++) {
    struct mg_http1_resp r;
    struct got g = { MG_BUF_INIT(1000), 0, 0, 0, 0 };
    struct mg_err err = MG_ERR_INIT;
    char *v;

    mg_http1_resp_init(&r, 0);
    if (feed(&r, &g, chunked, step, &err) < 0)
      fail_msg("step %zu: %s", step, err.msg);
    assert_int_equal(r.state, MG_HTTP1_DONE);
    assert_int_equal(g.heads, 1);
    assert_int_equal(g.status, 200);
    assert_int_equal(r.keep_alive, 1);
    assert_string_equal(g.body.data, chunked_body);
    v = mg_http1_resp_header(&r, "X-A");
    assert_string_equal(v, "two");
    free(v);
    v = mg_http1_resp_header(&r, "content-type");
    assert_string_equal(v, "text/event-stream");
    free(v);
    assert_null(mg_http1_resp_header(&r, "missing"));
    /* The next response on the same connection. */
    mg_http1_resp_reset(&r, 0);
    mg_buf_reset(&g.body);
    assert_int_equal(
        feed(&r, &g, "HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope",
             step, &err),
        0);
    assert_int_equal(r.state, MG_HTTP1_DONE);
    assert_int_equal(g.status, 404);
    assert_string_equal(g.body.data, "nope");
    mg_buf_release(&g.body);
    mg_http1_resp_release(&r);
  }
}

static void test_framing(void **state)
{
  struct mg_http1_resp r;
  struct got g = { MG_BUF_INIT(1000), 0, 0, 0, 0 };
  struct mg_err err = MG_ERR_INIT;

  (void)state;
  /* Until close: HTTP/1.0 without a length. */
  mg_http1_resp_init(&r, 0);
  assert_int_equal(feed(&r, &g, "HTTP/1.0 200 OK\nServer: x\n\nabc", 0, &err),
                   0);
  assert_int_equal(r.keep_alive, 0);
  assert_int_equal(r.state, MG_HTTP1_BODY);
  assert_int_equal(mg_http1_resp_eof(&r, &err), 0);
  assert_string_equal(g.body.data, "abc");
  /* Connection: close and keep-alive on 1.0. */
  mg_http1_resp_reset(&r, 0);
  assert_int_equal(feed(&r, &g,
                        "HTTP/1.1 200 OK\r\nConnection: Keep-Alive, close\r\n"
                        "Content-Length: 0\r\n\r\n",
                        0, &err),
                   0);
  assert_int_equal(r.state, MG_HTTP1_DONE);
  assert_int_equal(r.keep_alive, 0);
  mg_http1_resp_reset(&r, 0);
  assert_int_equal(feed(&r, &g,
                        "HTTP/1.0 204 No Content\r\nConnection: keep-alive"
                        "\r\n\r\n",
                        0, &err),
                   0);
  assert_int_equal(r.state, MG_HTTP1_DONE);
  assert_int_equal(r.keep_alive, 1);
  /* HEAD: no body whatever the length says. */
  mg_http1_resp_reset(&r, 1);
  assert_int_equal(
      feed(&r, &g, "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", 0, &err),
      0);
  assert_int_equal(r.state, MG_HTTP1_DONE);
  /* Cut short: inside a chunk, and before any byte. */
  mg_http1_resp_reset(&r, 0);
  assert_int_equal(feed(&r, &g,
                        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "10\r\nshort",
                        0, &err),
                   0);
  assert_int_equal(mg_http1_resp_eof(&r, &err), -1);
  assert_non_null(strstr(err.msg, "inside the response"));
  mg_http1_resp_reset(&r, 0);
  assert_int_equal(mg_http1_resp_eof(&r, &err), -1);
  assert_non_null(strstr(err.msg, "without an answer"));
  /* on_body stops the feed. */
  mg_http1_resp_reset(&r, 0);
  g.stop_after = 1;
  assert_int_equal(
      feed(&r, &g, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", 0, &err),
      -1);
  assert_string_equal(err.msg, "aborted");
  mg_buf_release(&g.body);
  mg_http1_resp_release(&r);
}

static void test_errors(void **state)
{
  static const char *const bad[] = {
    "HTTP/2 200 OK\r\n\r\n",
    "HTTP/1.1 20 OK\r\n\r\n",
    "HTTP/1.1 2000 OK\r\n\r\n",
    "ICY 200 OK\r\n\r\n",
    "HTTP/1.1 200 OK\r\n folded: x\r\n\r\n",
    "HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
    "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
    ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
     "fffffffffffffffffff\r\n"),
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab",
    "HTTP/1.1 101 Switching Protocols\r\n\r\n",
  };

  (void)state;
  for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
    struct mg_http1_resp r;
    struct got g = { MG_BUF_INIT(1000), 0, 0, 0, 0 };
    struct mg_err err = MG_ERR_INIT;
    mg_http1_resp_init(&r, 0);
    if (feed(&r, &g, bad[i], 0, &err) != -1)
      fail_msg("accepted: %s", bad[i]);
    assert_int_equal(err.cat, MG_ERR_REMOTE);
    assert_non_null(strstr(err.msg, "malformed HTTP response"));
    mg_buf_release(&g.body);
    mg_http1_resp_release(&r);
  }
}

static void test_bounds(void **state)
{
  struct mg_http1_resp r;
  struct got g = { MG_BUF_INIT(1000), 0, 0, 0, 0 };
  struct mg_err err = MG_ERR_INIT;
  char *big = malloc(MG_HTTP1_HEAD_MAX + 100);
  char line[2000];

  (void)state;
  /* A header block past the cap, fed at once and byte by byte. */
  memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
  memset(big + 20, 'a', MG_HTTP1_HEAD_MAX + 79);
  big[MG_HTTP1_HEAD_MAX + 99] = '\0';
  mg_http1_resp_init(&r, 0);
  assert_int_equal(feed(&r, &g, big, 0, &err), -1);
  assert_non_null(strstr(err.msg, "too large"));
  mg_http1_resp_reset(&r, 0);
  assert_int_equal(feed(&r, &g, big, 1, &err), -1);
  /* A chunk-size line past its cap. */
  mg_http1_resp_reset(&r, 0);
  memset(line, ' ', sizeof(line) - 1);
  line[sizeof(line) - 1] = '\0';
  assert_int_equal(feed(&r, &g,
                        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                        0, &err),
                   0);
  assert_int_equal(feed(&r, &g, line, 7, &err), -1);
  assert_non_null(strstr(err.msg, "too long"));
  free(big);
  mg_buf_release(&g.body);
  mg_http1_resp_release(&r);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_chunked_every_split),
    cmocka_unit_test(test_framing),
    cmocka_unit_test(test_errors),
    cmocka_unit_test(test_bounds),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
