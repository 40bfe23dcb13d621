/*
 * /tokenize and /detokenize of a serving endpoint (vLLM, llama.cpp,
 * mock-llm) over mg_http.
 */
#include "tok/mg_tok_remote.h"

#include <stdlib.h>
#include <string.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "mg_http.h"
#include "mg_json.h"
#include "mg_mem.h"
#include "tok/mg_tok.h"

/* Answers are small; a generous cap still bounds a runaway server. */
#define MAX_BODY ((size_t)256 << 20)

struct mg_tok_remote {
  char *base;
  char *model;
  struct mg_http_opts opts;
};

static void strip_suffix(char *s, const char *suf)
{
  size_t n = strlen(s), k = strlen(suf);

  if (n >= k && !strcmp(s + n - k, suf))
    s[n - k] = '\0';
}

int mg_tok_remote_new(const char *base_url, const char *model,
                      const struct mg_http_opts *opts,
                      struct mg_tok_remote **out, struct mg_err *err)
{
  struct mg_tok_remote *r;

  *out = NULL;
  if (strncmp(base_url, "http://", 7) && strncmp(base_url, "https://", 8))
    return mg_err_set(err, MG_ERR_USAGE,
                      "invalid server URL '%s': expected http:// or https://",
                      base_url);
  r = mg_xcalloc(1, sizeof(*r));
  r->base = mg_xstrdup(base_url);
  strip_suffix(r->base, "/");
  strip_suffix(r->base, "/tokenize");
  strip_suffix(r->base, "/detokenize");
  strip_suffix(r->base, "/v1/completions");
  strip_suffix(r->base, "/v1/chat/completions");
  strip_suffix(r->base, "/v1");
  strip_suffix(r->base, "/");
  r->model = model ? mg_xstrdup(model) : NULL;
  if (opts)
    r->opts = *opts;
  else
    mg_http_opts_init(&r->opts);
  *out = r;
  return 0;
}

void mg_tok_remote_free(struct mg_tok_remote *r)
{
  if (!r)
    return;
  free(r->base);
  free(r->model);
  free(r);
}

/* POSTs body to base + path and parses the JSON answer. */
static int post(struct mg_tok_remote *r, const char *path,
                const struct mg_buf *body, struct mg_json **answer,
                struct mg_err *err)
{
  static const char *const headers[] = { "Content-Type: application/json",
                                         NULL };
  char *url = mg_xasprintf("%s%s", r->base, path);
  char *shown = mg_http_redact_url(url);
  struct mg_http_request req = { 0 };
  struct mg_http_response resp;
  int rc = -1;

  *answer = NULL;
  req.method = "POST";
  req.url = url;
  req.headers = headers;
  req.body = body->data;
  req.body_len = body->len;
  mg_http_response_init(&resp, MAX_BODY);
  if (mg_http_do(&r->opts, &req, &resp, err)) {
    mg_err_prefix(err, "%s request to '%s'", path + 1, shown);
    goto out;
  }
  if (resp.status != 200) {
    char *b = mg_http_redact_body(resp.body.data ? resp.body.data : "",
                                  resp.body.len, r->opts.bearer, 120);

    mg_err_set(err, MG_ERR_REMOTE, "%s request to '%s' failed: HTTP %ld: %s",
               path + 1, shown, resp.status, b);
    free(b);
    goto out;
  }
  if (mg_json_parse(resp.body.data ? resp.body.data : "", resp.body.len, shown,
                    answer, err))
    goto out;
  rc = 0;
out:
  mg_http_response_release(&resp);
  free(shown);
  free(url);
  return rc;
}

static void add_model(const struct mg_tok_remote *r, struct mg_buf *b)
{
  if (!r->model)
    return;
  mg_buf_addstr(b, "\"model\":", NULL);
  mg_json_quote(b, r->model, strlen(r->model), NULL);
  mg_buf_addch(b, ',', NULL);
}

int mg_tok_remote_encode(struct mg_tok_remote *r, const char *text, size_t len,
                         int add_special, struct mg_tok_encoding *out,
                         struct mg_err *err)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  struct mg_json *ans = NULL;
  const struct mg_json *toks;
  const char *flag = add_special ? "true" : "false";
  int rc = -1;

  out->n = 0;
  mg_buf_addch(&b, '{', NULL);
  add_model(r, &b);
  mg_buf_addstr(&b, "\"prompt\":", NULL);
  mg_json_quote(&b, text, len, NULL);
  mg_buf_addstr(&b, ",\"content\":", NULL);
  mg_json_quote(&b, text, len, NULL);
  mg_buf_printf(&b, NULL, ",\"add_special_tokens\":%s,\"add_special\":%s}",
                flag, flag);
  if (post(r, "/tokenize", &b, &ans, err))
    goto out;
  toks = mg_json_get(ans, "tokens");
  if (!mg_json_is_array(toks)) {
    mg_err_set(err, MG_ERR_DATA, "tokenize answer of '%s' has no 'tokens' list",
               r->base);
    goto out;
  }
  if (out->cap < mg_json_size(toks) + 1) {
    out->cap = mg_json_size(toks) + 1;
    out->ids = mg_xreallocarray(out->ids, out->cap, sizeof(*out->ids));
  }
  for (const struct mg_json *t = mg_json_first(toks); t; t = mg_json_next(t)) {
    const struct mg_json *v = mg_json_is_object(t) ? mg_json_get(t, "id") : t;
    double d = mg_json_number(v);

    if (!mg_json_is_number(v) || d < 0 || d > 4294967295.0
        || d != (double)(uint32_t)d) {
      mg_err_set(err, MG_ERR_DATA,
                 "tokenize answer of '%s' holds a token that is not an id",
                 r->base);
      goto out;
    }
    out->ids[out->n++] = (uint32_t)d;
  }
  rc = 0;
out:
  mg_json_free(ans);
  mg_buf_release(&b);
  return rc;
}

int mg_tok_remote_decode(struct mg_tok_remote *r, const uint32_t *ids, size_t n,
                         struct mg_buf *out, struct mg_err *err)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  struct mg_json *ans = NULL;
  const struct mg_json *t;
  int rc = -1;

  mg_buf_addch(&b, '{', NULL);
  add_model(r, &b);
  mg_buf_addstr(&b, "\"tokens\":[", NULL);
  for (size_t i = 0; i < n; i++)
    mg_buf_printf(&b, NULL, "%s%u", i ? "," : "", ids[i]);
  mg_buf_addstr(&b, "]}", NULL);
  if (post(r, "/detokenize", &b, &ans, err))
    goto out;
  t = mg_json_get(ans, "prompt");
  if (!mg_json_is_string(t))
    t = mg_json_get(ans, "content");
  if (!mg_json_is_string(t)) {
    mg_err_set(err, MG_ERR_DATA,
               "detokenize answer of '%s' has no 'prompt' or 'content' text",
               r->base);
    goto out;
  }
  rc = mg_buf_add(out, mg_json_string(t), mg_json_string_len(t), err);
out:
  mg_json_free(ans);
  mg_buf_release(&b);
  return rc;
}
