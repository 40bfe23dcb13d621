#include "perf/mg_perf_req.h"

#include <stdlib.h>
#include <string.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "mg_json.h"
#include "mg_mem.h"
#include "perf/mg_perf_data.h"

void mg_perf_req_body_opts_init(struct mg_perf_req_body_opts *o)
{
  memset(o, 0, sizeof(*o));
  o->stream = 1;
  o->ignore_eos = 1;
  o->content_parts = 1;
  o->unique_prefix = 1;
  o->max_field = MG_PERF_MAX_DEFAULT;
}

/* Appends ,"key":value unless extra has key. */
static void member(struct mg_buf *b, const struct mg_json *extra,
                   const char *key, const char *value)
{
  if (extra && mg_json_get(extra, key))
    return;
  (void)mg_buf_printf(b, NULL, ",\"%s\":%s", key, value);
}

int mg_perf_req_body_init(struct mg_perf_req_body *b,
                          const struct mg_perf_req_body_opts *o,
                          struct mg_err *err)
{
  struct mg_json *extra = NULL;
  struct mg_buf t = MG_BUF_INIT(MG_BUF_UNLIMITED);
  struct mg_buf m = MG_BUF_INIT(MG_BUF_UNLIMITED);
  enum mg_perf_max_field mf = o->max_field;

  memset(b, 0, sizeof(*b));
  b->o = *o;
  if (o->extra_body) {
    if (mg_json_parse(o->extra_body, strlen(o->extra_body), "--extra-body",
                      &extra, err)
            < 0
        || !mg_json_is_object(extra)) {
      mg_json_free(extra);
      return mg_err_set(err, MG_ERR_USAGE,
                        "invalid value '%s' for --extra-body: expected a "
                        "JSON object",
                        o->extra_body);
    }
  }
  (void)mg_json_quote(&m, o->model ? o->model : "",
                      strlen(o->model ? o->model : ""), NULL);
  b->model_json = mg_buf_detach(&m, NULL);
  if (o->stream) {
    member(&t, extra, "stream", "true");
    member(&t, extra, "stream_options",
           "{\"include_usage\":true,\"continuous_usage_stats\":true}");
  } else {
    member(&t, extra, "stream", "false");
  }
  if (extra) {
    for (struct mg_json *x = mg_json_first(extra); x; x = mg_json_next(x)) {
      char *v = mg_json_print(x, 0);
      (void)mg_buf_addch(&t, ',', NULL);
      (void)mg_json_quote(&t, mg_json_key(x), strlen(mg_json_key(x)), NULL);
      (void)mg_buf_printf(&t, NULL, ":%s", v);
      free(v);
    }
  }
  b->tail = mg_buf_detach(&t, NULL);
  /* Members only sent with an output length. */
  member(&t, extra, "stop", "null");
  if (o->ignore_eos)
    member(&t, extra, "ignore_eos", "true");
  (void)mg_buf_addstr(&t, b->tail, NULL);
  b->tail_max = mg_buf_detach(&t, NULL);
  if (mf == MG_PERF_MAX_DEFAULT)
    mf = o->chat ? MG_PERF_MAX_COMPLETION : MG_PERF_MAX_TOKENS;
  if (mf == MG_PERF_MAX_BOTH) {
    b->max_both = 1;
    b->max_key = mg_xstrdup("max_tokens");
  } else {
    b->max_key = mg_xstrdup(
        mf == MG_PERF_MAX_COMPLETION ? "max_completion_tokens" : "max_tokens");
  }
  if (extra
      && (mg_json_get(extra, "max_tokens")
          || mg_json_get(extra, "max_completion_tokens"))) {
    free(b->max_key);
    b->max_key = NULL;
  }
  mg_json_free(extra);
  return 0;
}

void mg_perf_req_body_release(struct mg_perf_req_body *b)
{
  free(b->model_json);
  free(b->tail);
  free(b->tail_max);
  free(b->max_key);
  memset(b, 0, sizeof(*b));
}

/* Appends s[0..n) JSON-escaped, without quotes: runs of plain bytes in
 * one copy. */
static void escape_into(struct mg_buf *out, const char *s, size_t n)
{
  static const char hex[] = "0123456789abcdef";
  size_t i = 0;

  while (i < n) {
    size_t j = i;
    char e[6];
    while (j < n && (unsigned char)s[j] >= 0x20 && s[j] != '"' && s[j] != '\\')
      j++;
    (void)mg_buf_add(out, s + i, j - i, NULL);
    if (j == n)
      break;
    e[0] = '\\';
    switch (s[j]) {
    case '"':
    case '\\':
      e[1] = s[j];
      (void)mg_buf_add(out, e, 2, NULL);
      break;
    case '\n':
      (void)mg_buf_add(out, "\\n", 2, NULL);
      break;
    case '\r':
      (void)mg_buf_add(out, "\\r", 2, NULL);
      break;
    case '\t':
      (void)mg_buf_add(out, "\\t", 2, NULL);
      break;
    case '\b':
      (void)mg_buf_add(out, "\\b", 2, NULL);
      break;
    case '\f':
      (void)mg_buf_add(out, "\\f", 2, NULL);
      break;
    default:
      e[1] = 'u';
      e[2] = '0';
      e[3] = '0';
      e[4] = hex[((unsigned char)s[j] >> 4) & 0xf];
      e[5] = hex[(unsigned char)s[j] & 0xf];
      (void)mg_buf_add(out, e, 6, NULL);
    }
    i = j + 1;
  }
}

/* Appends the decimal digits of v (>= 0). */
static void add_uint(struct mg_buf *out, unsigned long long v)
{
  char d[24];
  size_t k = sizeof(d);

  do {
    d[--k] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  (void)mg_buf_add(out, d + k, sizeof(d) - k, NULL);
}

/* The prompt as one JSON string: prefix, unique number, text. */
static void add_prompt(const struct mg_perf_req_body *b,
                       const struct mg_perf_item *item, long long uid,
                       struct mg_buf *out)
{
  (void)mg_buf_addch(out, '"', NULL);
  if (!b->o.chat && item->prefix) {
    escape_into(out, item->prefix, strlen(item->prefix));
    (void)mg_buf_addch(out, ' ', NULL);
  }
  if (b->o.unique_prefix) {
    add_uint(out, (unsigned long long)(uid < 0 ? 0 : uid));
    (void)mg_buf_addch(out, ' ', NULL);
  }
  escape_into(out, item->text, strlen(item->text));
  (void)mg_buf_addch(out, '"', NULL);
}

int mg_perf_req_body_build(const struct mg_perf_req_body *b,
                           const struct mg_perf_item *item, long long uid,
                           struct mg_buf *out, struct mg_err *err)
{
  mg_buf_reset(out);
  (void)mg_buf_addstr(out, "{\"model\":", NULL);
  (void)mg_buf_addstr(out, b->model_json, NULL);
  (void)mg_buf_addch(out, ',', NULL);
  if (b->o.chat) {
    (void)mg_buf_addstr(out, "\"messages\":[", NULL);
    if (item->prefix) {
      (void)mg_buf_addstr(out, "{\"role\":\"system\",\"content\":", NULL);
      (void)mg_json_quote(out, item->prefix, strlen(item->prefix), NULL);
      (void)mg_buf_addstr(out, "},", NULL);
    }
    (void)mg_buf_addstr(out, "{\"role\":\"user\",\"content\":", NULL);
    if (b->o.content_parts)
      (void)mg_buf_addstr(out, "[{\"type\":\"text\",\"text\":", NULL);
    add_prompt(b, item, uid, out);
    (void)mg_buf_addstr(out, b->o.content_parts ? "}]}]" : "}]", NULL);
  } else {
    (void)mg_buf_addstr(out, "\"prompt\":", NULL);
    add_prompt(b, item, uid, out);
  }
  if (item->output_tokens > 0) {
    if (b->max_key) {
      (void)mg_buf_addstr(out, ",\"", NULL);
      (void)mg_buf_addstr(out, b->max_key, NULL);
      (void)mg_buf_addstr(out, "\":", NULL);
      add_uint(out, (unsigned long long)item->output_tokens);
    }
    if (b->max_key && b->max_both) {
      (void)mg_buf_addstr(out, ",\"max_completion_tokens\":", NULL);
      add_uint(out, (unsigned long long)item->output_tokens);
    }
    (void)mg_buf_addstr(out, b->tail_max, NULL);
  } else {
    (void)mg_buf_addstr(out, b->tail, NULL);
  }
  return mg_buf_addch(out, '}', err);
}
