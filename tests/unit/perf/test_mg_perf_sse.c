/* Unit tests for mg_perf_sse: the event-stream parser and chunk scanner. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "perf/mg_perf_sse.h"

struct got {
  char ev[16][64];
  int nth[16];
  int n;
  int stop_at;
};

static int collect(void *arg, const char *data, size_t len, int nth)
{
  struct got *g = arg;

  snprintf(g->ev[g->n], sizeof(g->ev[0]), "%.*s", (int)len, data);
  g->nth[g->n++] = nth;
  return g->stop_at && g->n >= g->stop_at ? -1 : 0;
}

static const char stream[] = "data: a\n\n"
                             "data: b\r\n\r\n"
                             ": a comment\n\n"
                             "event: message\nid: 7\ndata: c\rdata:d\r\r"
                             "data\n\n"
                             "data: {\"x\": 1}\n\n"
                             "data: [DONE]\n\n";

static void check_events(const struct got *g)
{
  assert_int_equal(g->n, 6);
  assert_string_equal(g->ev[0], "a");
  assert_string_equal(g->ev[1], "b");
  assert_string_equal(g->ev[2], "c\nd");
  assert_string_equal(g->ev[3], "");
  assert_string_equal(g->ev[4], "{\"x\": 1}");
  assert_string_equal(g->ev[5], "[DONE]");
}

static void test_whole_and_bytewise(void **state)
{
  struct mg_perf_sse s;
  struct got g;

  (void)state;
  memset(&g, 0, sizeof(g));
  mg_perf_sse_init(&s, 1024);
  assert_int_equal(mg_perf_sse_feed(&s, stream, strlen(stream), collect, &g),
                   0);
  check_events(&g);
  /* One read: the events after the first are marked as coalesced. */
  for (int i = 0; i < g.n; i++)
    assert_int_equal(g.nth[i], i);
  assert_int_equal(s.events, 6);
  assert_false(mg_perf_sse_pending(&s));
  mg_perf_sse_release(&s);

  memset(&g, 0, sizeof(g));
  mg_perf_sse_init(&s, 1024);
  for (size_t i = 0; i < strlen(stream); i++)
    assert_int_equal(mg_perf_sse_feed(&s, stream + i, 1, collect, &g), 0);
  check_events(&g);
  for (int i = 0; i < g.n; i++)
    assert_int_equal(g.nth[i], 0);
  mg_perf_sse_release(&s);
}

/* Every split of the stream into two reads gives the same events. */
static void test_every_split(void **state)
{
  size_t len = strlen(stream);

  (void)state;
  for (size_t cut = 0; cut <= len; cut++) {
    struct mg_perf_sse s;
    struct got g;

    memset(&g, 0, sizeof(g));
    mg_perf_sse_init(&s, 1024);
    assert_int_equal(mg_perf_sse_feed(&s, stream, cut, collect, &g), 0);
    assert_int_equal(mg_perf_sse_feed(&s, stream + cut, len - cut, collect, &g),
                     0);
    check_events(&g);
    assert_false(mg_perf_sse_pending(&s));
    mg_perf_sse_release(&s);
  }
}

static void test_pending_cap_and_stop(void **state)
{
  struct mg_perf_sse s;
  struct got g;
  char big[200];

  (void)state;
  memset(&g, 0, sizeof(g));
  mg_perf_sse_init(&s, 64);
  assert_int_equal(mg_perf_sse_feed(&s, "data: x\n", 8, collect, &g), 0);
  assert_true(mg_perf_sse_pending(&s));
  assert_int_equal(g.n, 0);
  memset(big, 'y', sizeof(big));
  assert_int_equal(mg_perf_sse_feed(&s, big, sizeof(big), collect, &g), -1);
  mg_perf_sse_release(&s);

  memset(&g, 0, sizeof(g));
  g.stop_at = 2;
  mg_perf_sse_init(&s, 1024);
  assert_int_equal(mg_perf_sse_feed(&s, stream, strlen(stream), collect, &g),
                   -1);
  assert_int_equal(g.n, 2);
  mg_perf_sse_release(&s);
}

static int scan(const char *s, struct mg_perf_sse_chunk *c)
{
  return mg_perf_sse_chunk_scan(s, strlen(s), c);
}

static void test_chunks(void **state)
{
  struct mg_perf_sse_chunk c;

  (void)state;
  assert_int_equal(scan("{\"id\":\"x\",\"choices\":[{\"index\":0,\"text\":"
                        "\"hi \\\"there\\\"\",\"logprobs\":null}],"
                        "\"usage\":{\"prompt_tokens\":5,"
                        "\"completion_tokens\":1,\"total_tokens\":6}}",
                        &c),
                   0);
  assert_true(c.choices && c.text && c.usage);
  assert_false(c.reasoning || c.tool_calls || c.error);
  assert_int_equal(c.prompt_tokens, 5);
  assert_int_equal(c.completion_tokens, 1);

  assert_int_equal(c.text_len, strlen("hi \\\"there\\\""));
  assert_memory_equal(c.text_ptr, "hi \\\"there\\\"", c.text_len);

  /* A chat role chunk has choices but no token. */
  assert_int_equal(scan("{\"choices\":[{\"delta\":{\"role\":\"assistant\","
                        "\"content\":\"\"}}]}",
                        &c),
                   0);
  assert_true(c.choices);
  assert_false(c.text);
  assert_int_equal(c.prompt_tokens, -1);
  assert_false(c.usage);

  assert_int_equal(scan("{\"choices\":[{\"delta\":{\"reasoning_content\":"
                        "\"hmm\",\"content\":null}}]}",
                        &c),
                   0);
  assert_true(c.reasoning);
  assert_false(c.text);
  assert_int_equal(scan("{\"choices\":[{\"delta\":{\"tool_calls\":[{\"id\":"
                        "\"t\"}]}}]}",
                        &c),
                   0);
  assert_true(c.tool_calls);
  assert_int_equal(
      scan("{\"choices\":[{\"message\":{\"content\":\"x\"}}]}", &c), 0);
  assert_true(c.text);

  /* The final usage chunk: empty choices. */
  assert_int_equal(scan("{\"choices\":[],\"usage\":{\"prompt_tokens\":7,"
                        "\"completion_tokens\":64}}",
                        &c),
                   0);
  assert_false(c.choices);
  assert_int_equal(c.completion_tokens, 64);

  assert_int_equal(scan("{\"error\":{\"message\":\"boom\",\"code\":500}}", &c),
                   0);
  assert_true(c.error);
  assert_string_equal(c.error_msg, "boom");
  assert_int_equal(scan("{\"error\":\"plain\"}", &c), 0);
  assert_true(c.error);
  assert_string_equal(c.error_msg, "plain");
  assert_int_equal(scan("{\"error\":null,\"choices\":[]}", &c), 0);
  assert_false(c.error);
  /* Keys elsewhere do not count. */
  assert_int_equal(scan("{\"x\":{\"choices\":[1],\"text\":\"a\"}}", &c), 0);
  assert_false(c.choices || c.text);
}

static void test_malformed(void **state)
{
  struct mg_perf_sse_chunk c;
  char deep[300];

  (void)state;
  assert_int_equal(scan("{\"choices\":[{\"text\":\"a\"}", &c), -1);
  assert_int_equal(scan("{\"a\":1} x", &c), -1);
  assert_int_equal(scan("{\"a\":\"\\q\"}", &c), -1);
  assert_int_equal(scan("{\"a\":01}", &c), -1);
  assert_int_equal(scan("{\"a\":tru}", &c), -1);
  assert_int_equal(scan("{\"a\" 1}", &c), -1);
  assert_int_equal(scan("", &c), -1);
  assert_int_equal(scan("{\"a\":\"\\u12G4\"}", &c), -1);
  assert_int_equal(scan("{\"a\":[1,2,],\"b\":1}", &c), -1);
  assert_int_equal(scan(" {\"a\":-1.5e+3, \"b\":[true,false,null]} ", &c), 0);
  assert_int_equal(scan("{\"a\":1,}", &c), -1);
  assert_int_equal(scan("{,}", &c), -1);
  assert_int_equal(scan("[", &c), -1);
  assert_int_equal(scan("\"abc", &c), -1);
  assert_int_equal(scan("{\"a\":1}}", &c), -1);
  assert_int_equal(scan("{\"a\":[1}", &c), -1);
  assert_int_equal(scan("{\"a\":nul}", &c), -1);
  assert_int_equal(scan("{\"a\":-}", &c), -1);
  assert_int_equal(scan("{\"a\":1.}", &c), -1);
  assert_int_equal(scan("{\"a\":1e}", &c), -1);
  assert_int_equal(scan("{\"a\":\"x\\\"}", &c), -1);
  assert_int_equal(scan("[[],{},\"\",0,-0.5E-2]", &c), 0);
  /* Escapes and control bytes at every offset of the word-wise scan. */
  for (int off = 0; off < 20; off++) {
    char doc[64], bad[64];
    (void)snprintf(doc, sizeof(doc), "{\"a\":\"%.*s\\n\\u00e9x\"}", off,
                   "abcdefghijklmnopqrstuvwxyz");
    assert_int_equal(scan(doc, &c), 0);
    (void)snprintf(bad, sizeof(bad), "{\"a\":\"%.*s\x01x\"}", off,
                   "abcdefghijklmnopqrstuvwxyz");
    assert_int_equal(scan(bad, &c), -1);
    (void)snprintf(bad, sizeof(bad), "{\"a\":\"%.*s\xc3\xa9\"}", off,
                   "abcdefghijklmnopqrstuvwxyz");
    assert_int_equal(scan(bad, &c), 0);
  }
  memset(deep, '[', 100);
  memset(deep + 100, ']', 100);
  deep[200] = '\0';
  assert_int_equal(scan(deep, &c), -1);
  memset(deep, '[', 60);
  memset(deep + 60, ']', 60);
  deep[120] = '\0';
  assert_int_equal(scan(deep, &c), 0);
}

/*
 * The cached scan gives exactly what the plain scan gives, whatever the
 * previous chunk was: every one-byte change of a realistic chunk, fed
 * after the original, and a stream of chunks that share prefixes.
 */
static void check_cached(struct mg_perf_sse_chunk_cache *cc, const char *doc,
                         size_t n)
{
  struct mg_perf_sse_chunk a, b;
  int ra = mg_perf_sse_chunk_scan(doc, n, &a);
  int rb = mg_perf_sse_chunk_scan_cached(cc, doc, n, &b);

  assert_int_equal(ra, rb);
  if (ra == 0)
    assert_memory_equal(&a, &b, sizeof(a));
}

static void test_cached_scan(void **state)
{
  static const char *const docs[] = {
    "{\"id\":\"c-1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
    "\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":"
    "\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\""
    ":null}],\"usage\":{\"prompt_tokens\":12,\"total_tokens\":12,"
    "\"completion_tokens\":0}}",
    "{\"id\":\"c-1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
    "\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":"
    "\" two\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":"
    "{\"prompt_tokens\":12,\"total_tokens\":13,\"completion_tokens\":1}}",
    "{\"id\":\"c-1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
    "\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning\":"
    "\"hm\"},\"logprobs\":null,\"finish_reason\":null}]}",
    "{\"id\":\"c-1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
    "\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,"
    "\"total_tokens\":76,\"completion_tokens\":64}}",
    "{\"id\":\"c-1\",\"error\":{\"message\":\"boom\"}}",
    "{\"id\":\"c-1\",\"choices\":[{\"text\":\"a\",\"index\":0}]}",
  };
  struct mg_perf_sse_chunk_cache cc;
  char buf[512];

  (void)state;
  mg_perf_sse_chunk_cache_init(&cc);
  for (int r = 0; r < 3; r++)
    for (size_t d = 0; d < sizeof(docs) / sizeof(*docs); d++)
      check_cached(&cc, docs[d], strlen(docs[d]));
  for (size_t d = 0; d < sizeof(docs) / sizeof(*docs); d++) {
    size_t n = strlen(docs[d]);
    static const char subst[] = "\"{}[],:0 x\\\x01";
    for (size_t i = 0; i < n; i++) {
      for (size_t j = 0; j < sizeof(subst) - 1; j++) {
        check_cached(&cc, docs[d], n);
        memcpy(buf, docs[d], n);
        buf[i] = subst[j];
        check_cached(&cc, buf, n);
        check_cached(&cc, buf, i + 1);
      }
    }
  }
  mg_perf_sse_chunk_cache_release(&cc);
}

static void test_unescape(void **state)
{
  struct mg_buf b = MG_BUF_INIT(1024);
  static const char in[] = "a\\\"b\\\\c\\n\\t\\u00e9\\u20ac"
                           "\\ud83d\\ude00\\ud800x\\/";

  (void)state;
  mg_perf_sse_json_unescape(in, strlen(in), &b);
  assert_string_equal(b.data, "a\"b\\c\n\t\xc3\xa9\xe2\x82\xac"
                              "\xf0\x9f\x98\x80\xef\xbf\xbdx/");
  mg_buf_release(&b);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_whole_and_bytewise),
    cmocka_unit_test(test_every_split),
    cmocka_unit_test(test_pending_cap_and_stop),
    cmocka_unit_test(test_chunks),
    cmocka_unit_test(test_malformed),
    cmocka_unit_test(test_cached_scan),
    cmocka_unit_test(test_unescape),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
