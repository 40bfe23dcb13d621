/* Unit tests for mg_mock_req and mg_mock_gen: parsing, planning, replies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "mg_json.h"
#include "mock/mg_mock_gen.h"
#include "mock/mg_mock_key.h"
#include "mock/mg_mock_req.h"

static struct mg_mock_model model = {
  .name = "test-model",
  .seed = 5,
  .output_tokens = 20,
  .max_model_len = 4096,
};

static void expect_parse_error(enum mg_mock_api api, const char *body,
                               const char *msg)
{
  struct mg_mock_req r;
  struct mg_err err = MG_ERR_INIT;

  if (mg_mock_req_parse(&r, api, body, strlen(body), &err) == 0)
    fail_msg("accepted: %s", body);
  assert_int_equal(err.cat, MG_ERR_DATA);
  if (!strstr(err.msg, msg))
    fail_msg("message '%s' lacks '%s'", err.msg, msg);
}

static void test_parse_errors(void **state)
{
  (void)state;
  expect_parse_error(MG_MOCK_COMPLETIONS, "{bad", "malformed JSON");
  expect_parse_error(MG_MOCK_COMPLETIONS, "[1]", "JSON object");
  expect_parse_error(MG_MOCK_COMPLETIONS, "{}", "missing field 'prompt'");
  expect_parse_error(MG_MOCK_COMPLETIONS, "{\"prompt\":3}", "'prompt'");
  expect_parse_error(MG_MOCK_COMPLETIONS, "{\"prompt\":[]}", "empty list");
  expect_parse_error(MG_MOCK_COMPLETIONS, "{\"prompt\":[\"a\",[1]]}",
                     "all strings");
  expect_parse_error(MG_MOCK_COMPLETIONS, "{\"prompt\":[1,-2]}", "token ids");
  expect_parse_error(MG_MOCK_COMPLETIONS, "{\"prompt\":[[1],[]]}",
                     "empty token list");
  expect_parse_error(MG_MOCK_COMPLETIONS, "{\"prompt\":\"\xff\"}", "UTF-8");
  expect_parse_error(MG_MOCK_COMPLETIONS, "{\"prompt\":\"a\",\"n\":2}",
                     "'n' must be 1");
  expect_parse_error(MG_MOCK_COMPLETIONS,
                     "{\"prompt\":\"a\",\"max_tokens\":\"5\"}", "'max_tokens'");
  expect_parse_error(MG_MOCK_COMPLETIONS,
                     "{\"prompt\":\"a\",\"max_tokens\":1.5}", "'max_tokens'");
  expect_parse_error(MG_MOCK_COMPLETIONS, "{\"prompt\":\"a\",\"stream\":1}",
                     "'stream' must be a boolean");
  expect_parse_error(MG_MOCK_COMPLETIONS,
                     "{\"prompt\":\"a\",\"stream_options\":"
                     "{\"include_usage\":true}}",
                     "'stream' is true");
  expect_parse_error(MG_MOCK_COMPLETIONS, "{\"prompt\":\"a\",\"stop\":[1]}",
                     "'stop'");
  expect_parse_error(MG_MOCK_COMPLETIONS, "{\"prompt\":\"a\",\"logprobs\":21}",
                     "'logprobs'");
  expect_parse_error(MG_MOCK_COMPLETIONS, "{\"prompt\":\"a\",\"model\":1}",
                     "'model'");
  expect_parse_error(MG_MOCK_CHAT, "{}", "missing field 'messages'");
  expect_parse_error(MG_MOCK_CHAT, "{\"messages\":[]}", "non-empty");
  expect_parse_error(MG_MOCK_CHAT, "{\"messages\":[{\"content\":\"x\"}]}",
                     "'role'");
  expect_parse_error(MG_MOCK_CHAT,
                     "{\"messages\":[{\"role\":\"user\",\"content\":5}]}",
                     "content");
  expect_parse_error(MG_MOCK_CHAT,
                     "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                     "\"top_logprobs\":2}",
                     "'logprobs'");
}

static void test_parse_shapes(void **state)
{
  struct mg_mock_req r;
  struct mg_err err = MG_ERR_INIT;
  const char *ids = "{\"prompt\":[[72,105],[3000000000,1]],\"echo\":true,"
                    "\"logprobs\":1,\"max_tokens\":0}";
  const char *chat =
      "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
      "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hi \"},"
      "{\"type\":\"image_url\",\"image_url\":{}},{\"type\":\"text\","
      "\"text\":\"there\"}]},{\"role\":\"assistant\",\"content\":null}],"
      "\"max_completion_tokens\":3,\"stream\":true,\"stream_options\":"
      "{\"include_usage\":true,\"continuous_usage_stats\":true},"
      "\"stop\":[\"a\",\"\",\"b\"],\"logprobs\":true,\"top_logprobs\":2}";

  (void)state;
  expect_parse_error(MG_MOCK_COMPLETIONS, "{\"prompt\":[1,3000000000]}",
                     "token ids");
  expect_parse_error(MG_MOCK_COMPLETIONS, ids, "token ids");
  ids = "{\"prompt\":[[72,105],[4000000,1]],\"echo\":true,\"logprobs\":1,"
        "\"max_tokens\":0}";
  assert_int_equal(
      mg_mock_req_parse(&r, MG_MOCK_COMPLETIONS, ids, strlen(ids), &err), 0);
  assert_int_equal(r.nprompts, 2);
  assert_string_equal(r.prompts[0].text, "Hi");
  assert_int_equal(r.prompts[0].toks.n, 2);
  /* An id outside the vocabulary reads as a filler word. */
  assert_int_equal(r.prompts[1].toks.n, 2);
  assert_int_equal(r.prompts[1].toks.ids[0], 4000000);
  assert_int_equal(r.prompts[1].len, 5);
  assert_int_equal(r.echo, 1);
  assert_int_equal(r.logprobs, 1);
  assert_int_equal(r.max_tokens, 0);
  mg_mock_req_release(&r);
  assert_int_equal(
      mg_mock_req_parse(&r, MG_MOCK_CHAT, chat, strlen(chat), &err), 0);
  assert_string_equal(r.prompts[0].text,
                      "<|system|>\nBe brief.\n<|user|>\nHi there\n"
                      "<|assistant|>\n\n<|assistant|>\n");
  assert_string_equal(r.prompts[0].match, "Hi there");
  assert_int_equal(r.max_tokens, 3);
  assert_int_equal(r.stream, 1);
  assert_int_equal(r.include_usage, 1);
  assert_int_equal(r.continuous_usage, 1);
  assert_int_equal(r.nstop, 2);
  assert_int_equal(r.logprobs, 2);
  mg_mock_req_release(&r);
}

static void plan(const char *body, enum mg_mock_api api,
                 const struct mg_mock_model *m, struct mg_mock_req *r,
                 struct mg_mock_gen_resp *resp)
{
  struct mg_err err = MG_ERR_INIT;

  assert_int_equal(mg_mock_req_parse(r, api, body, strlen(body), &err), 0);
  if (mg_mock_gen_resp_plan(resp, r, m, 1, 1700000000, &err) < 0)
    fail_msg("plan failed: %s", err.msg);
}

/* Parses the non-streamed body of body's reply. */
static struct mg_json *reply(const char *body, enum mg_mock_api api,
                             const struct mg_mock_model *m)
{
  struct mg_mock_req r;
  struct mg_mock_gen_resp resp;
  struct mg_buf out = MG_BUF_INIT(MG_BUF_UNLIMITED);
  struct mg_err err = MG_ERR_INIT;
  struct mg_json *j;

  plan(body, api, m, &r, &resp);
  mg_mock_gen_resp_body(&resp, &out);
  if (mg_json_parse(out.data, out.len, "reply", &j, &err) < 0)
    fail_msg("%s: %s", err.msg, out.data);
  mg_buf_release(&out);
  mg_mock_gen_resp_release(&resp);
  mg_mock_req_release(&r);
  return j;
}

static double num(const struct mg_json *j, const char *path)
{
  return mg_json_number(mg_json_get_path(j, path));
}

static const char *choice_text(const struct mg_json *j, size_t i)
{
  return mg_json_string(
      mg_json_get(mg_json_at(mg_json_get(j, "choices"), i), "text"));
}

static void test_lengths(void **state)
{
  struct mg_json *j;
  struct mg_mock_req r;
  struct mg_mock_gen_resp resp;
  struct mg_err err = MG_ERR_INIT;
  const char *big = "{\"prompt\":\"hello\",\"max_tokens\":5000}";

  (void)state;
  /* ignore_eos + max_tokens: exactly that many, finish "length". */
  j = reply("{\"prompt\":\"hello\",\"max_tokens\":50,\"ignore_eos\":true}",
            MG_MOCK_COMPLETIONS, &model);
  assert_int_equal((int)num(j, "usage.completion_tokens"), 50);
  assert_int_equal((int)num(j, "usage.prompt_tokens"), 2);
  assert_int_equal(
      mg_mock_tok_count(choice_text(j, 0), strlen(choice_text(j, 0))), 50);
  mg_json_free(j);
  /* Without ignore_eos the mock stops at its own length (20). */
  j = reply("{\"prompt\":\"hello\",\"max_tokens\":50}", MG_MOCK_COMPLETIONS,
            &model);
  assert_int_equal((int)num(j, "usage.completion_tokens"), 20);
  assert_string_equal(
      mg_json_string(mg_json_get(mg_json_at(mg_json_get(j, "choices"), 0),
                                 "finish_reason")),
      "stop");
  mg_json_free(j);
  j = reply("{\"prompt\":\"hello\",\"max_tokens\":7}", MG_MOCK_COMPLETIONS,
            &model);
  assert_int_equal((int)num(j, "usage.completion_tokens"), 7);
  mg_json_free(j);
  /* Past the context length: a 400 for the client. */
  assert_int_equal(
      mg_mock_req_parse(&r, MG_MOCK_COMPLETIONS, big, strlen(big), &err), 0);
  assert_int_equal(mg_mock_gen_resp_plan(&resp, &r, &model, 1, 0, &err), -1);
  assert_non_null(strstr(err.msg, "maximum context length is 4096"));
  mg_mock_req_release(&r);
}

/* Stops at stop (a piece of t, the same output without stop strings):
 * every filler token is 4 bytes, so the counts follow from the position. */
static void check_stop(const char *t, const char *stop)
{
  struct mg_mock_req r;
  struct mg_mock_gen_resp resp;
  struct mg_buf out = MG_BUF_INIT(MG_BUF_UNLIMITED);
  char body[256];
  size_t pos = (size_t)(strstr(t, stop) - t);

  (void)snprintf(body, sizeof(body),
                 "{\"prompt\":\"x\",\"max_tokens\":8,\"ignore_eos\":true,"
                 "\"stop\":[\"zzz\",\"%s\"]}",
                 stop);
  plan(body, MG_MOCK_COMPLETIONS, &model, &r, &resp);
  assert_string_equal(resp.c[0].finish, "stop");
  assert_int_equal(resp.c[0].nvis, (pos + 3) / 4);
  assert_int_equal(resp.c[0].ngen, (pos + strlen(stop) - 1) / 4 + 1);
  assert_int_equal(resp.completion_tokens, resp.c[0].ngen);
  mg_mock_gen_resp_body(&resp, &out);
  (void)snprintf(body, sizeof(body), "\"text\":\"%.*s\"", (int)pos, t);
  assert_non_null(strstr(out.data, body));
  mg_buf_release(&out);
  mg_mock_gen_resp_release(&resp);
  mg_mock_req_release(&r);
}

static void test_length_spread(void **state)
{
  struct mg_mock_model m = model;
  struct mg_mock_req r;
  struct mg_mock_gen_resp a, b;
  struct mg_err err = MG_ERR_INIT;
  const char *body = "{\"prompt\":\"x\"}";
  size_t lo = (size_t)-1, hi = 0;

  (void)state;
  m.output_tokens_std = 5;
  assert_int_equal(
      mg_mock_req_parse(&r, MG_MOCK_COMPLETIONS, body, strlen(body), &err), 0);
  for (uint64_t seq = 0; seq < 50; seq++) {
    assert_int_equal(mg_mock_gen_resp_plan(&a, &r, &m, seq, 0, &err), 0);
    assert_int_equal(mg_mock_gen_resp_plan(&b, &r, &m, seq, 0, &err), 0);
    /* the same request number draws the same length */
    assert_int_equal(a.completion_tokens, b.completion_tokens);
    if (a.completion_tokens < lo)
      lo = a.completion_tokens;
    if (a.completion_tokens > hi)
      hi = a.completion_tokens;
    mg_mock_gen_resp_release(&a);
    mg_mock_gen_resp_release(&b);
  }
  assert_true(lo < 20 && hi > 20 && lo >= 1);
  mg_mock_req_release(&r);
}

static void test_stop(void **state)
{
  struct mg_json *j;
  const char *t;
  char stop[8];

  (void)state;
  j = reply("{\"prompt\":\"x\",\"max_tokens\":8,\"ignore_eos\":true}",
            MG_MOCK_COMPLETIONS, &model);
  t = choice_text(j, 0);
  assert_int_equal(strlen(t), 32);
  /* a whole word, the inside of a word, and a piece across two words */
  (void)snprintf(stop, sizeof(stop), "%.4s", t + 8);
  check_stop(t, stop);
  (void)snprintf(stop, sizeof(stop), "%.2s", t + 17);
  check_stop(t, stop);
  (void)snprintf(stop, sizeof(stop), "%.3s", t + 14);
  check_stop(t, stop);
  (void)snprintf(stop, sizeof(stop), "%.4s", t);
  check_stop(t, stop);
  mg_json_free(j);
}

static void test_wrong_answer(void **state)
{
  size_t n;
  char *w;

  (void)state;
  w = mg_mock_gen_wrong_answer(" Paris 42 z", 11, &n);
  assert_string_equal(w, " Qbsjt 53 a");
  free(w);
  w = mg_mock_gen_wrong_answer("!?", 2, &n);
  assert_string_equal(w, " not!?");
  assert_int_equal(n, 6);
  free(w);
}

static struct mg_mock_key *make_key(double accuracy)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_mock_key *k;
  const char *text = "{\"context\":\"Q: What is the capital of France?\\nA:\","
                     "\"continuation\":\" Paris\"}\n";

  assert_int_equal(mg_mock_key_parse(text, strlen(text), "k", model.seed,
                                     accuracy, &k, &err),
                   0);
  return k;
}

/* lm-eval's reading of one loglikelihood reply: sum of the continuation
 * logprobs, and whether each was the top alternative. */
static double loglik(const struct mg_mock_model *m, const char *ctx,
                     const char *cont, int *greedy)
{
  char body[512], prompt[256];
  struct mg_json *j, *lp, *tl, *top;
  size_t ctxlen = mg_mock_tok_count(ctx, strlen(ctx)), n;
  double sum = 0;

  (void)snprintf(prompt, sizeof(prompt), "%s%s", ctx, cont);
  (void)snprintf(body, sizeof(body),
                 "{\"prompt\":\"%s\",\"max_tokens\":1,\"echo\":true,"
                 "\"logprobs\":1,\"temperature\":0}",
                 prompt);
  /* The prompts here have no characters JSON would escape but "\n". */
  for (char *p = strchr(body, '\n'); p; p = strchr(p, '\n')) {
    memmove(p + 2, p + 1, strlen(p + 1) + 1);
    p[0] = '\\';
    p[1] = 'n';
  }
  j = reply(body, MG_MOCK_COMPLETIONS, m);
  lp = mg_json_get(mg_json_at(mg_json_get(j, "choices"), 0), "logprobs");
  tl = mg_json_get(lp, "token_logprobs");
  top = mg_json_get(lp, "top_logprobs");
  n = mg_json_size(tl);
  /* echo: every prompt token plus the one generated */
  assert_int_equal(n, mg_mock_tok_count(prompt, strlen(prompt)) + 1);
  assert_true(mg_json_is_null(mg_json_at(tl, 0)));
  assert_true(mg_json_is_null(mg_json_at(top, 0)));
  assert_int_equal(mg_json_size(mg_json_get(lp, "tokens")), n);
  assert_int_equal(mg_json_size(mg_json_get(lp, "text_offset")), n);
  *greedy = 1;
  for (size_t i = ctxlen; i + 1 < n; i++) {
    double v = mg_json_number(mg_json_at(tl, i)), best = -1e30;

    sum += v;
    for (struct mg_json *e = mg_json_first(mg_json_at(top, i)); e;
         e = mg_json_next(e))
      if (mg_json_number(e) > best)
        best = mg_json_number(e);
    if (best != v)
      *greedy = 0;
  }
  mg_json_free(j);
  return sum;
}

static void check_mc(double accuracy, int want_correct)
{
  static const char *const choices[] = { " London", " Paris", " Rome",
                                         " Berlin and Bonn, historically" };
  const char *ctx = "Q: What is the capital of France?\nA:";
  struct mg_mock_model m = model;
  double ll[4], best = -1e30, bestn = -1e30;
  int g[4], pred = -1, predn = -1;

  m.key = make_key(accuracy);
  for (int i = 0; i < 4; i++) {
    double norm;

    ll[i] = loglik(&m, ctx, choices[i], &g[i]);
    norm = ll[i] / (double)strlen(choices[i] + 1);
    if (ll[i] > best) {
      best = ll[i];
      pred = i;
    }
    if (norm > bestn) {
      bestn = norm;
      predn = i;
    }
  }
  if (want_correct) {
    assert_int_equal(pred, 1);
    assert_int_equal(predn, 1);
    assert_true(g[1]);
  } else {
    assert_true(pred != 1);
    assert_true(predn != 1);
    assert_false(g[1]);
    /* The correct answer is the clear loser. */
    for (int i = 0; i < 4; i++)
      if (i != 1)
        assert_true(ll[1] < ll[i]);
  }
  for (int i = 0; i < 4; i++)
    if (i != 1)
      assert_false(g[i]);
  mg_mock_key_free((struct mg_mock_key *)m.key);
}

static void test_loglikelihood(void **state)
{
  (void)state;
  check_mc(1.0, 1);
  check_mc(0.0, 0);
}

static void test_generate_from_key(void **state)
{
  struct mg_mock_model m = model;
  struct mg_json *j;
  const char *body = "{\"prompt\":\"Q: What is the capital of France?\\nA:\","
                     "\"max_tokens\":30,\"stop\":[\"\\n\\n\"]}";
  const char *chat = "{\"messages\":[{\"role\":\"user\",\"content\":"
                     "\"Q: What is the capital of France?\\nA:\"}]}";

  (void)state;
  m.key = make_key(1.0);
  j = reply(body, MG_MOCK_COMPLETIONS, &m);
  assert_string_equal(choice_text(j, 0), " Paris");
  assert_int_equal((int)num(j, "usage.completion_tokens"), 2);
  mg_json_free(j);
  j = reply(chat, MG_MOCK_CHAT, &m);
  assert_string_equal(
      mg_json_string(mg_json_get_path(mg_json_at(mg_json_get(j, "choices"), 0),
                                      "message.content")),
      " Paris");
  mg_json_free(j);
  mg_mock_key_free((struct mg_mock_key *)m.key);
  m.key = make_key(0.0);
  j = reply(body, MG_MOCK_COMPLETIONS, &m);
  assert_string_equal(choice_text(j, 0), " Qbsjt");
  mg_json_free(j);
  mg_mock_key_free((struct mg_mock_key *)m.key);
}

static void test_stream(void **state)
{
  struct mg_mock_req r;
  struct mg_mock_gen_resp resp;
  struct mg_buf out = MG_BUF_INIT(MG_BUF_UNLIMITED);
  const char *body = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                     "\"max_tokens\":4,\"stream\":true,\"stream_options\":"
                     "{\"include_usage\":true,\"continuous_usage_stats\":"
                     "true}}";
  size_t events = 0, steps = 0;
  const char *p;

  (void)state;
  plan(body, MG_MOCK_CHAT, &model, &r, &resp);
  assert_int_equal(resp.steps, 4);
  while (resp.step < resp.steps) {
    mg_mock_gen_resp_stream_step(&resp, &out);
    steps++;
  }
  mg_mock_gen_resp_stream_end(&resp, &out);
  assert_int_equal(steps, 4);
  /* Every event is "data: <JSON>\n\n"; role chunk + 4 tokens + usage. */
  for (p = out.data; (p = strstr(p, "data: ")); p += 6) {
    const char *end = strstr(p, "\n\n");
    struct mg_json *j;
    struct mg_err err = MG_ERR_INIT;

    assert_non_null(end);
    events++;
    if (strncmp(p, "data: [DONE]", 12) == 0)
      continue;
    assert_int_equal(
        mg_json_parse(p + 6, (size_t)(end - p - 6), "event", &j, &err), 0);
    assert_non_null(mg_json_get(j, "usage"));
    mg_json_free(j);
  }
  assert_int_equal(events, 7);
  assert_non_null(strstr(out.data, "\"role\":\"assistant\""));
  assert_non_null(strstr(out.data, "\"finish_reason\":\"length\""));
  {
    char want[128];
    const char *tmpl = "<|user|>\nhi\n<|assistant|>\n";
    size_t pt = mg_mock_tok_count(tmpl, strlen(tmpl));

    assert_int_equal(resp.prompt_tokens, pt);
    (void)snprintf(want, sizeof(want),
                   "\"choices\":[],\"usage\":{\"prompt_tokens\":%zu,"
                   "\"total_tokens\":%zu,\"completion_tokens\":4}",
                   pt, pt + 4);
    assert_non_null(strstr(out.data, want));
  }
  assert_int_equal(resp.sent_tokens, 4);
  mg_buf_release(&out);
  mg_mock_gen_resp_release(&resp);
  mg_mock_req_release(&r);
}

static void test_tokenize_endpoints(void **state)
{
  struct mg_buf out = MG_BUF_INIT(MG_BUF_UNLIMITED);
  struct mg_err err = MG_ERR_INIT;
  struct mg_json *j, *toks;
  char body[256];
  size_t n;

  (void)state;
  n = (size_t)snprintf(body, sizeof(body), "%s",
                       "{\"prompt\":\"h\\u00e9llo w\\u00f6rld\","
                       "\"add_special_tokens\":false}");
  assert_int_equal(mg_mock_gen_tokenize(&model, body, n, &out), 200);
  assert_int_equal(mg_json_parse(out.data, out.len, "t", &j, &err), 0);
  toks = mg_json_get(j, "tokens");
  assert_int_equal((size_t)num(j, "count"), mg_json_size(toks));
  assert_int_equal((long long)num(j, "max_model_len"), 4096);
  n = (size_t)snprintf(body, sizeof(body), "{\"tokens\":[");
  for (struct mg_json *t = mg_json_first(toks); t; t = mg_json_next(t))
    n += (size_t)snprintf(body + n, sizeof(body) - n, "%s%.0f",
                          t == mg_json_first(toks) ? "" : ",",
                          mg_json_number(t));
  (void)snprintf(body + n, sizeof(body) - n, "]}");
  mg_json_free(j);
  mg_buf_reset(&out);
  assert_int_equal(mg_mock_gen_detokenize(body, strlen(body), &out), 200);
  assert_int_equal(mg_json_parse(out.data, out.len, "d", &j, &err), 0);
  assert_string_equal(mg_json_string(mg_json_get(j, "prompt")),
                      "h\xC3\xA9llo w\xC3\xB6rld");
  mg_json_free(j);
  mg_buf_reset(&out);
  assert_int_equal(mg_mock_gen_detokenize("{\"tokens\":[128]}", 16, &out), 400);
  assert_non_null(strstr(out.data, "\"code\":400"));
  mg_buf_reset(&out);
  assert_int_equal(mg_mock_gen_tokenize(&model, "{\"prompt\":5}", 12, &out),
                   400);
  mg_buf_release(&out);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_parse_errors),
    cmocka_unit_test(test_parse_shapes),
    cmocka_unit_test(test_lengths),
    cmocka_unit_test(test_length_spread),
    cmocka_unit_test(test_stop),
    cmocka_unit_test(test_wrong_answer),
    cmocka_unit_test(test_loglikelihood),
    cmocka_unit_test(test_generate_from_key),
    cmocka_unit_test(test_stream),
    cmocka_unit_test(test_tokenize_endpoints),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
