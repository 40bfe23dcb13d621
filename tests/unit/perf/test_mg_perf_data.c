/* Unit tests for mg_perf_data (synthetic specs, files, column detection)
 * and mg_perf_req (request bodies). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "mg_json.h"
#include "mg_mem.h"
#include "perf/mg_perf_data.h"
#include "perf/mg_perf_req.h"
#include "tok/mg_tok.h"
#include "tok/mg_tok_proc.h"

static char dir[64];

static int mkdir_tmp(void **state)
{
  (void)state;
  snprintf(dir, sizeof(dir), "/tmp/mg_perf_dataXXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static int rm_tmp(void **state)
{
  char cmd[128];
  (void)state;
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static const char *put(const char *name, const char *text)
{
  static char path[128];
  FILE *f;

  snprintf(path, sizeof(path), "%s/%s", dir, name);
  f = fopen(path, "w");
  fputs(text, f);
  fclose(f);
  return path;
}

static int words(const char *s)
{
  int n = 1;
  for (; *s; s++)
    n += *s == ' ';
  return n;
}

static void test_spec_parse(void **state)
{
  struct mg_perf_data_synth s;
  struct mg_err err = MG_ERR_INIT;

  (void)state;
  assert_int_equal(
      mg_perf_data_synth_parse("prompt_tokens=256,output_tokens=128", &s, &err),
      0);
  assert_int_equal(s.prompt_tokens, 256);
  assert_int_equal(s.output_tokens, 128);
  assert_int_equal(s.samples, 1000);
  assert_true(s.seed == 42);
  assert_int_equal(
      mg_perf_data_synth_parse("{\"prompt_tokens\": 8, \"samples\": "
                               "3, \"seed\": 7, \"prefix_tokens\": "
                               "4}",
                               &s, &err),
      0);
  assert_int_equal(s.samples, 3);
  assert_true(s.seed == 7);
  assert_int_equal(s.prefix_tokens, 4);
  assert_int_equal(s.output_tokens, -1);
  assert_int_equal(
      mg_perf_data_synth_parse("prompt_tokens=8,bogus=1", &s, &err), -1);
  assert_int_equal(err.cat, MG_ERR_USAGE);
  assert_non_null(strstr(err.msg, "unknown key 'bogus'"));
  assert_int_equal(mg_perf_data_synth_parse("prompt_tokens=x", &s, &err), -1);
  assert_int_equal(mg_perf_data_synth_parse("output_tokens=3", &s, &err), -1);
  assert_non_null(strstr(err.msg, "prompt_tokens must be"));
  assert_int_equal(mg_perf_data_synth_parse("prompt_tokens=0", &s, &err), -1);
  assert_int_equal(mg_perf_data_synth_parse("prompt_tokens", &s, &err), -1);
  assert_int_equal(
      mg_perf_data_synth_parse("{\"prompt_tokens\":\"1\"}", &s, &err), -1);
  assert_true(mg_perf_data_synth_is_spec("prompt_tokens=1"));
  assert_true(mg_perf_data_synth_is_spec("{\"prompt_tokens\":1}"));
  assert_false(mg_perf_data_synth_is_spec("data/prompts.jsonl"));
  assert_false(mg_perf_data_synth_is_spec("prompts.csv"));
}

static void test_synth_lengths(void **state)
{
  struct mg_perf_data_synth s;
  struct mg_perf_data d;
  struct mg_err err = MG_ERR_INIT;
  /* round(clamp(Random(42).gauss(100, 10))) and Random(43).randint(10, 20) */
  static const long long want_p[] = { 99, 98, 99, 107 };
  static const long long want_o[] = { 10, 14, 12, 17 };

  (void)state;
  assert_int_equal(
      mg_perf_data_synth_parse("prompt_tokens=100,prompt_tokens_stdev"
                               "=10,prompt_tokens_min=50,"
                               "prompt_tokens_max=150,output_tokens="
                               "15,output_tokens_min=10,"
                               "output_tokens_max=20,samples=4,"
                               "prefix_tokens=5",
                               &s, &err),
      0);
  mg_perf_data_init(&d);
  mg_perf_data_synth(&d, &s);
  assert_int_equal(d.n, 4);
  assert_true(d.synthetic);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(d.items[i].prompt_tokens, want_p[i]);
    assert_int_equal(d.items[i].output_tokens, want_o[i]);
    assert_int_equal(words(d.items[i].text), want_p[i]);
    assert_int_equal(words(d.items[i].prefix), 5);
    assert_string_equal(d.items[i].prefix, d.items[0].prefix);
  }
  assert_string_not_equal(d.items[0].text, d.items[1].text);
  mg_perf_data_release(&d);

  /* Constant lengths without output_tokens: no max_tokens. */
  assert_int_equal(
      mg_perf_data_synth_parse("prompt_tokens=3,samples=2", &s, &err), 0);
  mg_perf_data_init(&d);
  mg_perf_data_synth(&d, &s);
  assert_int_equal(d.items[1].prompt_tokens, 3);
  assert_int_equal(d.items[1].output_tokens, -1);
  assert_null(d.items[1].prefix);
  mg_perf_data_release(&d);
}

static void test_files(void **state)
{
  struct mg_perf_data d;
  struct mg_err err = MG_ERR_INIT;
  const char *p;

  (void)state;
  mg_perf_data_init(&d);
  p = put("a.txt", "first prompt\r\n\nsecond prompt\n");
  assert_int_equal(mg_perf_data_load(&d, p, 42, &err), 0);
  assert_int_equal(d.n, 2);
  assert_false(d.synthetic);
  assert_string_equal(d.items[0].text, "first prompt");
  assert_string_equal(d.items[1].text, "second prompt");
  mg_perf_data_release(&d);

  /* GuideLLM's order: "question" beats "text"; plural and _N suffixes. */
  p = put("b.jsonl", "{\"text\": \"no\", \"questions_0\": \"q1\", "
                     "\"output_tokens_count\": 12, \"system\": \"be brief\"}\n"
                     "\n{\"text\": \"no\", \"questions_0\": \"q2\", "
                     "\"prompt_tokens_count\": 30}\n");
  assert_int_equal(mg_perf_data_load(&d, p, 42, &err), 0);
  assert_int_equal(d.n, 2);
  assert_string_equal(d.items[0].text, "q1");
  assert_int_equal(d.items[0].output_tokens, 12);
  assert_string_equal(d.items[0].prefix, "be brief");
  assert_int_equal(d.items[1].output_tokens, -1);
  assert_int_equal(d.items[1].prompt_tokens, 30);
  assert_non_null(strstr(d.columns, "text=questions_0"));
  mg_perf_data_release(&d);

  p = put("c.csv", "id,Prompt,output_tokens\n1,\"a, \"\"quoted\"\" one\",5\n"
                   "2,\"multi\nline\",7\n");
  assert_int_equal(mg_perf_data_load(&d, p, 42, &err), 0);
  assert_int_equal(d.n, 2);
  assert_string_equal(d.items[0].text, "a, \"quoted\" one");
  assert_int_equal(d.items[0].output_tokens, 5);
  assert_string_equal(d.items[1].text, "multi\nline");
  mg_perf_data_release(&d);

  p = put("d.json", "{\"meta\": 1, \"rows\": [{\"prompt\": \"x\"}, "
                    "\"plain\"]}");
  assert_int_equal(mg_perf_data_load(&d, p, 42, &err), 0);
  assert_int_equal(d.n, 2);
  assert_string_equal(d.items[0].text, "x");
  mg_perf_data_release(&d);

  /* A trace: timestamps and lengths, prompts synthesised. */
  p = put("e.jsonl", "{\"timestamp\": 0.5, \"input_length\": 4, "
                     "\"output_length\": 3}\n");
  assert_int_equal(mg_perf_data_load(&d, p, 42, &err), 0);
  assert_true(d.items[0].ts == 0.5);
  assert_int_equal(words(d.items[0].text), 4);
  assert_int_equal(d.items[0].output_tokens, 3);
  mg_perf_data_release(&d);
}

static void test_file_errors(void **state)
{
  struct mg_perf_data d;
  struct mg_err err = MG_ERR_INIT;
  char path[128];

  (void)state;
  mg_perf_data_init(&d);
  assert_int_equal(mg_perf_data_load(&d, put("e.txt", "\n\n"), 42, &err), -1);
  assert_int_equal(err.cat, MG_ERR_DATA);
  assert_non_null(strstr(err.msg, "no prompts in"));
  assert_int_equal(
      mg_perf_data_load(&d, put("f.jsonl", "{\"a\": 1}\n"), 42, &err), -1);
  assert_non_null(strstr(err.msg, "no prompt column"));
  assert_int_equal(
      mg_perf_data_load(&d, put("g.jsonl", "{\"prompt\": \n"), 42, &err), -1);
  assert_int_equal(err.cat, MG_ERR_DATA);
  assert_int_equal(
      mg_perf_data_load(&d, put("h.csv", "prompt\n\"open\n"), 42, &err), -1);
  assert_non_null(strstr(err.msg, "unterminated quote"));
  snprintf(path, sizeof(path), "%s/missing.txt", dir);
  assert_int_equal(mg_perf_data_load(&d, path, 42, &err), -1);
  assert_int_equal(err.cat, MG_ERR_IO);
  assert_int_equal(mg_perf_data_load(&d, put("x.parquet", ""), 42, &err), -1);
  assert_int_equal(err.cat, MG_ERR_USAGE);
  assert_int_equal(d.n, 0);
}

static char *body(const struct mg_perf_req_body_opts *o,
                  const struct mg_perf_item *it)
{
  struct mg_perf_req_body b;
  struct mg_buf out = MG_BUF_INIT(1 << 20);
  struct mg_err err = MG_ERR_INIT;

  assert_int_equal(mg_perf_req_body_init(&b, o, &err), 0);
  assert_int_equal(mg_perf_req_body_build(&b, it, 7, &out, &err), 0);
  mg_perf_req_body_release(&b);
  return mg_buf_detach(&out, NULL);
}

/* Exact lengths with a local tokenizer: every synthetic prompt encodes
 * to its length, prompts differ from their first words, a given text gets
 * its own count. */
static void test_exact(void **state)
{
  const char *sh = getenv("MG_SHARED"), *top = getenv("MG_TOP");
  char *path = sh && *sh ? mg_xasprintf("%s/data/tokenizers/gpt2", sh)
                         : mg_xasprintf("%s/../shared/data/tokenizers/gpt2",
                                        top && *top ? top : ".");
  struct mg_perf_data_synth spec;
  struct mg_perf_data d;
  struct mg_tok_proc *p = NULL;
  struct mg_err err = MG_ERR_INIT;
  struct mg_tok_encoding e = MG_TOK_ENCODING_INIT;

  (void)state;
  assert_int_equal(mg_tok_proc_open(path, NULL, NULL, NULL, &p, &err), 0);
  assert_int_equal(
      mg_perf_data_synth_parse("prompt_tokens=40,prompt_tokens_stdev"
                               "=10,samples=12,prefix_tokens=6",
                               &spec, &err),
      0);
  mg_perf_data_init(&d);
  mg_perf_data_synth(&d, &spec);
  assert_int_equal(mg_perf_data_exact(&d, p, 0, &err), 0);
  assert_true(d.exact);
  for (size_t i = 0; i < d.n; i++) {
    assert_int_equal(mg_tok_proc_encode(p, d.items[i].text,
                                        strlen(d.items[i].text), 0, &e, &err),
                     0);
    assert_int_equal((long long)e.n, d.items[i].prompt_tokens);
    assert_int_equal(mg_tok_proc_encode(p, d.items[i].prefix,
                                        strlen(d.items[i].prefix), 0, &e, &err),
                     0);
    assert_int_equal(e.n, 6);
    if (i > 0)
      assert_true(strncmp(d.items[i].text, d.items[i - 1].text, 8) != 0);
  }
  mg_perf_data_release(&d);
  /* Given text: its count. */
  mg_perf_data_init(&d);
  mg_perf_data_synth(&d, &spec);
  d.items[0].generated = 0;
  free(d.items[0].text);
  d.items[0].text = mg_xstrdup("Hello world");
  assert_int_equal(mg_perf_data_exact(&d, p, 0, &err), 0);
  assert_int_equal(d.items[0].prompt_tokens, 2);
  mg_perf_data_release(&d);
  mg_tok_encoding_release(&e);
  mg_tok_proc_free(p);
  free(path);
}

/* Every byte that JSON escapes, round trip through a parser. */
static void test_body_escapes(void **state)
{
  struct mg_perf_req_body_opts o;
  char text[] = "a\"b\\c\nd\re\tf\bg\fh\x01i\x1fj \xc3\xa9";
  struct mg_perf_item it = { text, NULL, 3, 16, -1, 0 };
  struct mg_perf_req_body b;
  struct mg_buf out = MG_BUF_INIT(MG_BUF_UNLIMITED);
  struct mg_json *j = NULL;
  struct mg_err err = MG_ERR_INIT;

  (void)state;
  mg_perf_req_body_opts_init(&o);
  o.model = "m";
  o.chat = 1;
  assert_int_equal(mg_perf_req_body_init(&b, &o, &err), 0);
  assert_int_equal(mg_perf_req_body_build(&b, &it, 12345, &out, &err), 0);
  assert_int_equal(mg_json_parse(out.data, out.len, "body", &j, &err), 0);
  assert_string_equal(
      mg_json_string(mg_json_get_path(
          mg_json_at(
              mg_json_get(mg_json_at(mg_json_get(j, "messages"), 0), "content"),
              0),
          "text")),
      "12345 a\"b\\c\nd\re\tf\bg\fh\x01i\x1fj \xc3\xa9");
  mg_json_free(j);
  mg_buf_release(&out);
  mg_perf_req_body_release(&b);
}

static void test_bodies(void **state)
{
  struct mg_perf_req_body_opts o;
  char text[] = "say \"hi\"", sys[] = "sys";
  struct mg_perf_item it = { text, NULL, 3, 16, -1, 0 };
  struct mg_perf_req_body b;
  struct mg_err err = MG_ERR_INIT;
  char *s;

  (void)state;
  mg_perf_req_body_opts_init(&o);
  o.model = "m1";
  s = body(&o, &it);
  assert_string_equal(s, "{\"model\":\"m1\",\"prompt\":\"7 say \\\"hi\\\"\","
                         "\"max_tokens\":16,\"stop\":null,\"ignore_eos\":true,"
                         "\"stream\":true,\"stream_options\":{\"include_usage\""
                         ":true,\"continuous_usage_stats\":true}}");
  free(s);

  o.chat = 1;
  it.prefix = sys;
  s = body(&o, &it);
  assert_string_equal(s,
                      "{\"model\":\"m1\",\"messages\":[{\"role\":\"system\","
                      "\"content\":\"sys\"},{\"role\":\"user\",\"content\":"
                      "[{\"type\":\"text\",\"text\":\"7 say \\\"hi\\\"\"}]}],"
                      "\"max_completion_tokens\":16,\"stop\":null,"
                      "\"ignore_eos\":true,\"stream\":true,"
                      "\"stream_options\":{\"include_usage\":true,"
                      "\"continuous_usage_stats\":true}}");
  free(s);

  /* Text content, no unique prefix, both max fields, extra body wins. */
  o.content_parts = 0;
  o.unique_prefix = 0;
  o.max_field = MG_PERF_MAX_BOTH;
  o.extra_body = "{\"ignore_eos\": false, \"temperature\": 0}";
  it.prefix = NULL;
  s = body(&o, &it);
  assert_string_equal(s, "{\"model\":\"m1\",\"messages\":[{\"role\":\"user\","
                         "\"content\":\"say \\\"hi\\\"\"}],\"max_tokens\":16,"
                         "\"max_completion_tokens\":16,\"stop\":null,"
                         "\"stream\":true,\"stream_options\":{\"include_usage\""
                         ":true,\"continuous_usage_stats\":true},"
                         "\"ignore_eos\":false,\"temperature\":0}");
  free(s);

  /* No output length: no max_tokens, stop or ignore_eos. */
  o.chat = 0;
  o.extra_body = NULL;
  it.output_tokens = -1;
  s = body(&o, &it);
  assert_string_equal(s, "{\"model\":\"m1\",\"prompt\":\"say \\\"hi\\\"\","
                         "\"stream\":true,\"stream_options\":{\"include_usage\""
                         ":true,\"continuous_usage_stats\":true}}");
  free(s);

  o.extra_body = "[1]";
  assert_int_equal(mg_perf_req_body_init(&b, &o, &err), -1);
  assert_int_equal(err.cat, MG_ERR_USAGE);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_spec_parse), cmocka_unit_test(test_synth_lengths),
    cmocka_unit_test(test_files),      cmocka_unit_test(test_file_errors),
    cmocka_unit_test(test_exact),      cmocka_unit_test(test_body_escapes),
    cmocka_unit_test(test_bodies),
  };

  return cmocka_run_group_tests(tests, mkdir_tmp, rm_tmp);
}
