#ifndef MG_PERF_REQ_H
#define MG_PERF_REQ_H

#include <stddef.h>

#include "mg_banned.h"

struct mg_buf;
struct mg_err;
struct mg_perf_item;

/*
 * Request bodies as GuideLLM sends them, so a server sees the same load:
 *
 *   completions: {"model", "prompt": prefix + " " + text, "stream": true,
 *     "stream_options": {"include_usage": true,
 *                        "continuous_usage_stats": true},
 *     "max_tokens": N, "stop": null, "ignore_eos": true}
 *   chat: {"model", "messages": [{"role": "system", "content": prefix}?,
 *     {"role": "user", "content": [{"type": "text", "text": text}]}],
 *     "stream": true, "stream_options": {...},
 *     "max_completion_tokens": N, "stop": null, "ignore_eos": true}
 *
 * max_tokens / stop / ignore_eos are sent only when the item has an
 * output length (as GuideLLM). Members of extra_body (a JSON object) are
 * added to every body and replace the generated member of the same name
 * (e.g. {"ignore_eos": false} or {"temperature": 0}). A unique prefix
 * "<n> " starts each prompt when unique_prefix is set, so no two requests
 * share a cacheable prefix beyond the configured shared prefix.
 */
enum mg_perf_max_field {
  MG_PERF_MAX_TOKENS = 0,     /* max_tokens */
  MG_PERF_MAX_COMPLETION = 1, /* max_completion_tokens */
  MG_PERF_MAX_BOTH = 2,       /* both (GuideLLM <= v0.3 chat) */
  MG_PERF_MAX_DEFAULT = 3,    /* completions: max_tokens; chat:
                                 max_completion_tokens */
};

struct mg_perf_req_body_opts {
  const char *model;
  int chat;          /* 1: /v1/chat/completions body */
  int stream;        /* 1 (default): SSE */
  int ignore_eos;    /* default 1 */
  int content_parts; /* chat content as a list of parts (default 1) */
  int unique_prefix; /* default 1 */
  enum mg_perf_max_field max_field;
  const char *extra_body; /* JSON object text, or NULL */
};

void mg_perf_req_body_opts_init(struct mg_perf_req_body_opts *o);

struct mg_perf_req_body {
  struct mg_perf_req_body_opts o;
  char *model_json; /* the quoted model name */
  char *tail;       /* the members after the prompt/messages */
  char *tail_max;   /* ditto, for items with an output length, without
                       the number: see mg_perf_req_body_build */
  char *max_key;    /* "\"max_tokens\":" (or both keys) */
  int max_both;
};

/* Validates extra_body (must be a JSON object: MG_ERR_USAGE otherwise)
 * and prepares the constant parts. */
int mg_perf_req_body_init(struct mg_perf_req_body *b,
                          const struct mg_perf_req_body_opts *o,
                          struct mg_err *err);
void mg_perf_req_body_release(struct mg_perf_req_body *b);

/* Appends the body for item (unique number uid) to out (reset first). */
int mg_perf_req_body_build(const struct mg_perf_req_body *b,
                           const struct mg_perf_item *item, long long uid,
                           struct mg_buf *out, struct mg_err *err);

#endif
