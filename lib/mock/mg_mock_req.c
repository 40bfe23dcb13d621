#include "mock/mg_mock_req.h"

#include <math.h>
#include <string.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "mg_json.h"
#include "mg_mem.h"
#include "mg_utf8.h"

static const char *const words[MG_MOCK_NWORDS] = {
  " the", " and", " for", " are", " but", " not", " you", " all",
  " any", " can", " her", " was", " one", " our", " out", " day",
  " get", " has", " him", " his", " how", " man", " new", " now",
  " old", " see", " two", " way", " who", " boy", " did", " its",
  " let", " put", " say", " she", " too", " use", " sun", " sky",
  " sea", " red", " map", " key", " fox", " owl", " ink", " jam",
  " arc", " bay", " cup", " den", " elm", " fig", " gem", " hut",
  " ivy", " jet", " kit", " log", " mud", " net", " oak", " pen",
};

const char *mg_mock_req_word(size_t i)
{
  return words[i % MG_MOCK_NWORDS];
}

size_t mg_mock_req_prompt_token(unsigned long id, char *out)
{
  int n = id < (1UL << 31) ? mg_mock_tok_bytes((uint32_t)id, out) : -1;
  const char *w;

  if (n >= 0)
    return (size_t)n;
  w = mg_mock_req_word(id);
  memcpy(out, w, 4);
  return 4;
}

void mg_mock_req_release(struct mg_mock_req *r)
{
  for (size_t i = 0; i < r->nprompts; i++) {
    free(r->prompts[i].text);
    free(r->prompts[i].match);
    mg_mock_tok_list_release(&r->prompts[i].toks);
  }
  free(r->prompts);
  for (size_t i = 0; i < r->nstop; i++)
    free(r->stop[i]);
  free(r->stop);
  free(r->stop_len);
  free(r->model);
  memset(r, 0, sizeof(*r));
  r->max_tokens = -1;
  r->logprobs = -1;
}

static struct mg_mock_prompt *add_prompt(struct mg_mock_req *r)
{
  struct mg_mock_prompt *p;

  r->prompts =
      mg_xreallocarray(r->prompts, r->nprompts + 1, sizeof(*r->prompts));
  p = &r->prompts[r->nprompts++];
  memset(p, 0, sizeof(*p));
  mg_mock_tok_list_init(&p->toks);
  return p;
}

static int text_prompt(struct mg_mock_req *r, const struct mg_json *s,
                       struct mg_err *err)
{
  struct mg_mock_prompt *p;
  const char *t = mg_json_string(s);
  size_t n = mg_json_string_len(s);

  if (!mg_utf8_valid(t, n))
    return mg_err_set(err, MG_ERR_DATA, "'prompt' is not valid UTF-8");
  p = add_prompt(r);
  p->text = mg_xmemdup(t, n);
  p->len = n;
  p->match = mg_xmemdup(t, n);
  p->match_len = n;
  mg_mock_tok_encode(p->text, p->len, &p->toks);
  return 0;
}

static int is_token_id(const struct mg_json *v)
{
  double d = mg_json_number(v);

  return mg_json_is_number(v) && d >= 0 && d < 2147483648.0 && floor(d) == d;
}

static int ids_prompt(struct mg_mock_req *r, const struct mg_json *arr,
                      struct mg_err *err)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  struct mg_mock_prompt *p;
  struct mg_mock_tok_list toks = MG_MOCK_TOKS_INIT;

  if (mg_json_size(arr) == 0)
    return mg_err_set(err, MG_ERR_DATA, "'prompt' has an empty token list");
  for (struct mg_json *v = mg_json_first(arr); v; v = mg_json_next(v)) {
    char tb[MG_MOCK_TOK_MAX_BYTES];
    unsigned long id;
    size_t l, start = b.len;

    if (!is_token_id(v)) {
      mg_buf_release(&b);
      mg_mock_tok_list_release(&toks);
      return mg_err_set(err, MG_ERR_DATA,
                        "'prompt' token ids must be integers in [0, 2^31)");
    }
    id = (unsigned long)mg_json_number(v);
    l = mg_mock_req_prompt_token(id, tb);
    mg_buf_add(&b, tb, l, NULL);
    mg_mock_tok_list_push(&toks, (uint32_t)id, start, b.len);
  }
  p = add_prompt(r);
  p->text = mg_buf_detach(&b, &p->len);
  p->match = mg_xstrndup(p->text, p->len);
  p->match_len = p->len;
  p->toks = toks;
  return 0;
}

static int parse_prompt(struct mg_mock_req *r, const struct mg_json *pr,
                        struct mg_err *err)
{
  struct mg_json *first;

  if (mg_json_is_string(pr))
    return text_prompt(r, pr, err);
  if (!mg_json_is_array(pr))
    return mg_err_set(err, MG_ERR_DATA,
                      mg_json_is_null(pr) || !pr
                          ? "missing field 'prompt'"
                          : "'prompt' must be a string, a list of strings or "
                            "a list of token ids");
  if (mg_json_size(pr) == 0)
    return mg_err_set(err, MG_ERR_DATA, "'prompt' is an empty list");
  if (mg_json_size(pr) > MG_MOCK_MAX_PROMPTS)
    return mg_err_set(err, MG_ERR_DATA, "'prompt' has more than %d prompts",
                      MG_MOCK_MAX_PROMPTS);
  first = mg_json_first(pr);
  if (mg_json_is_number(first))
    return ids_prompt(r, pr, err);
  for (struct mg_json *v = first; v; v = mg_json_next(v)) {
    int rc;

    if (mg_json_is_string(v) && mg_json_is_string(first))
      rc = text_prompt(r, v, err);
    else if (mg_json_is_array(v) && mg_json_is_array(first))
      rc = ids_prompt(r, v, err);
    else
      rc = mg_err_set(err, MG_ERR_DATA,
                      "'prompt' list items must be all strings or all lists "
                      "of token ids");
    if (rc < 0)
      return -1;
  }
  return 0;
}

/* Appends the text parts of a chat message's content to b. */
static int content_text(const struct mg_json *c, size_t i, struct mg_buf *b,
                        struct mg_err *err)
{
  if (!c || mg_json_is_null(c))
    return 0;
  if (mg_json_is_string(c))
    return mg_buf_add(b, mg_json_string(c), mg_json_string_len(c), err);
  if (!mg_json_is_array(c))
    return mg_err_set(err, MG_ERR_DATA,
                      "'messages[%zu].content' must be a string, a list of "
                      "parts or null",
                      i);
  for (struct mg_json *part = mg_json_first(c); part;
       part = mg_json_next(part)) {
    const struct mg_json *t = mg_json_get(part, "type");
    const struct mg_json *x = mg_json_get(part, "text");

    if (!mg_json_is_object(part) || !mg_json_is_string(t))
      return mg_err_set(err, MG_ERR_DATA,
                        "'messages[%zu].content' parts must be objects with "
                        "a 'type'",
                        i);
    if (strcmp(mg_json_string(t), "text") != 0)
      continue;
    if (!mg_json_is_string(x))
      return mg_err_set(err, MG_ERR_DATA,
                        "'messages[%zu].content' text part has no 'text'", i);
    if (mg_buf_add(b, mg_json_string(x), mg_json_string_len(x), err) < 0)
      return -1;
  }
  return 0;
}

/*
 * Renders messages as "<|role|>\ncontent\n" each, then "<|assistant|>\n":
 * a stand-in chat template, so that prompt token counts grow with the
 * conversation.
 */
static int parse_messages(struct mg_mock_req *r, const struct mg_json *m,
                          struct mg_err *err)
{
  struct mg_buf text = MG_BUF_INIT(MG_BUF_UNLIMITED);
  struct mg_buf last = MG_BUF_INIT(MG_BUF_UNLIMITED);
  struct mg_mock_prompt *p;
  size_t i = 0;
  int rc = -1;

  if (!m || mg_json_is_null(m))
    return mg_err_set(err, MG_ERR_DATA, "missing field 'messages'");
  if (!mg_json_is_array(m) || mg_json_size(m) == 0)
    return mg_err_set(err, MG_ERR_DATA, "'messages' must be a non-empty list");
  for (struct mg_json *msg = mg_json_first(m); msg;
       msg = mg_json_next(msg), i++) {
    const struct mg_json *role = mg_json_get(msg, "role");
    size_t start;

    if (!mg_json_is_object(msg) || !mg_json_is_string(role)) {
      mg_err_set(err, MG_ERR_DATA,
                 "'messages[%zu]' must be an object with a string 'role'", i);
      goto out;
    }
    mg_buf_printf(&text, NULL, "<|%s|>\n", mg_json_string(role));
    start = text.len;
    if (content_text(mg_json_get(msg, "content"), i, &text, err) < 0)
      goto out;
    if (strcmp(mg_json_string(role), "user") == 0) {
      mg_buf_reset(&last);
      mg_buf_add(&last, text.data + start, text.len - start, NULL);
    }
    mg_buf_addch(&text, '\n', NULL);
  }
  mg_buf_addstr(&text, "<|assistant|>\n", NULL);
  if (!mg_utf8_valid(text.data, text.len)) {
    mg_err_set(err, MG_ERR_DATA, "'messages' content is not valid UTF-8");
    goto out;
  }
  p = add_prompt(r);
  p->text = mg_buf_detach(&text, &p->len);
  p->match = mg_buf_detach(&last, &p->match_len);
  mg_mock_tok_encode(p->text, p->len, &p->toks);
  rc = 0;
out:
  mg_buf_release(&text);
  mg_buf_release(&last);
  return rc;
}

static int opt_bool(const struct mg_json *o, const char *key, int *out,
                    struct mg_err *err)
{
  const struct mg_json *v = mg_json_get(o, key);

  if (!v || mg_json_is_null(v))
    return 0;
  if (!mg_json_is_bool(v))
    return mg_err_set(err, MG_ERR_DATA, "'%s' must be a boolean", key);
  *out = mg_json_bool(v);
  return 0;
}

/* An optional integer in [min, max]; *present says whether it was set. */
static int opt_int(const struct mg_json *o, const char *key, long long min,
                   long long max, long long *out, int *present,
                   struct mg_err *err)
{
  const struct mg_json *v = mg_json_get(o, key);
  double d;

  *present = 0;
  if (!v || mg_json_is_null(v))
    return 0;
  d = mg_json_number(v);
  if (!mg_json_is_number(v) || floor(d) != d || d < (double)min
      || d > (double)max)
    return mg_err_set(err, MG_ERR_DATA,
                      "'%s' must be an integer between %lld and %lld", key, min,
                      max);
  *out = (long long)d;
  *present = 1;
  return 0;
}

static int parse_stop(struct mg_mock_req *r, const struct mg_json *s,
                      struct mg_err *err)
{
  const char *msg = "'stop' must be a string or a list of at most 16 strings";

  if (!s || mg_json_is_null(s))
    return 0;
  if (mg_json_is_string(s)) {
    if (mg_json_string_len(s) == 0)
      return 0;
    r->stop = mg_xmalloc(sizeof(*r->stop));
    r->stop_len = mg_xmalloc(sizeof(*r->stop_len));
    r->stop_len[0] = mg_json_string_len(s);
    r->stop[0] = mg_xmemdup(mg_json_string(s), r->stop_len[0]);
    r->nstop = 1;
    return 0;
  }
  if (!mg_json_is_array(s) || mg_json_size(s) > MG_MOCK_MAX_STOP)
    return mg_err_set(err, MG_ERR_DATA, "%s", msg);
  r->stop = mg_xcalloc(mg_json_size(s) + 1, sizeof(*r->stop));
  r->stop_len = mg_xcalloc(mg_json_size(s) + 1, sizeof(*r->stop_len));
  for (struct mg_json *v = mg_json_first(s); v; v = mg_json_next(v)) {
    if (!mg_json_is_string(v))
      return mg_err_set(err, MG_ERR_DATA, "%s", msg);
    if (mg_json_string_len(v) == 0)
      continue;
    r->stop_len[r->nstop] = mg_json_string_len(v);
    r->stop[r->nstop] = mg_xmemdup(mg_json_string(v), r->stop_len[r->nstop]);
    r->nstop++;
  }
  return 0;
}

static int parse_fields(struct mg_mock_req *r, const struct mg_json *j,
                        struct mg_err *err)
{
  const struct mg_json *v, *so;
  long long n;
  int present, present2, flag = 0;

  v = mg_json_get(j, "model");
  if (v && !mg_json_is_null(v)) {
    if (!mg_json_is_string(v))
      return mg_err_set(err, MG_ERR_DATA, "'model' must be a string");
    r->model = mg_xstrdup(mg_json_string(v));
  }
  if (opt_bool(j, "stream", &r->stream, err) < 0
      || opt_bool(j, "ignore_eos", &r->ignore_eos, err) < 0)
    return -1;
  so = mg_json_get(j, "stream_options");
  if (so && !mg_json_is_null(so)) {
    if (!mg_json_is_object(so))
      return mg_err_set(err, MG_ERR_DATA, "'stream_options' must be an object");
    if (!r->stream)
      return mg_err_set(err, MG_ERR_DATA,
                        "'stream_options' can only be set when 'stream' is "
                        "true");
    if (opt_bool(so, "include_usage", &r->include_usage, err) < 0
        || opt_bool(so, "continuous_usage_stats", &r->continuous_usage, err)
               < 0)
      return -1;
  }
  if (opt_int(j, "n", 1, 1, &n, &present, err) < 0)
    return mg_err_set(err, MG_ERR_DATA,
                      "'n' must be 1: mock-llm makes one choice per prompt");
  if (opt_int(j, "max_tokens", 0, 1LL << 31, &r->max_tokens, &present, err) < 0
      || opt_int(j, "max_completion_tokens", 0, 1LL << 31, &n, &present2, err)
             < 0)
    return -1;
  if (!present)
    r->max_tokens = -1;
  if (present2)
    r->max_tokens = n;
  if (parse_stop(r, mg_json_get(j, "stop"), err) < 0)
    return -1;
  if (r->api == MG_MOCK_COMPLETIONS) {
    if (opt_bool(j, "echo", &r->echo, err) < 0)
      return -1;
    v = mg_json_get(j, "logprobs");
    if (mg_json_is_bool(v) && !mg_json_bool(v))
      return 0;
    if (opt_int(j, "logprobs", 0, MG_MOCK_MAX_LOGPROBS, &n, &present, err) < 0)
      return -1;
    if (present)
      r->logprobs = (int)n;
    return 0;
  }
  if (opt_bool(j, "logprobs", &flag, err) < 0
      || opt_int(j, "top_logprobs", 0, MG_MOCK_MAX_LOGPROBS, &n, &present, err)
             < 0)
    return -1;
  if (present && !flag)
    return mg_err_set(err, MG_ERR_DATA,
                      "'top_logprobs' needs 'logprobs' to be true");
  if (flag)
    r->logprobs = present ? (int)n : 0;
  return 0;
}

int mg_mock_req_parse(struct mg_mock_req *r, enum mg_mock_api api,
                      const char *body, size_t len, struct mg_err *err)
{
  struct mg_json *j = NULL;
  int rc = -1;

  memset(r, 0, sizeof(*r));
  r->api = api;
  r->max_tokens = -1;
  r->logprobs = -1;
  if (mg_json_parse(body, len, "request body", &j, err) < 0)
    return -1;
  if (!mg_json_is_object(j)) {
    mg_err_set(err, MG_ERR_DATA, "the request body must be a JSON object");
    goto out;
  }
  if (parse_fields(r, j, err) < 0)
    goto out;
  if (api == MG_MOCK_COMPLETIONS)
    rc = parse_prompt(r, mg_json_get(j, "prompt"), err);
  else
    rc = parse_messages(r, mg_json_get(j, "messages"), err);
out:
  mg_json_free(j);
  if (rc < 0)
    mg_mock_req_release(r);
  return rc;
}
