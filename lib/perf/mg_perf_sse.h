#ifndef MG_PERF_SSE_H
#define MG_PERF_SSE_H

#include <stddef.h>
#include <stdint.h>

#include "mg_banned.h"
#include "mg_buf.h"

/*
 * Server-sent events (the WHATWG event-stream format) read incrementally,
 * and the OpenAI streaming chunk inside each event, scanned without
 * building a tree (perf-run reads thousands of chunks per second).
 */

/*
 * Incremental event-stream parser. Lines end in CRLF, LF or CR; a line
 * starting with ':' is a comment; "data:" lines (one optional space after
 * the colon) are joined with '\n'; an empty line dispatches the event if
 * it has data. Other fields ("event", "id", "retry") are ignored.
 */
struct mg_perf_sse {
  struct mg_buf line; /* the incomplete line */
  struct mg_buf data; /* the event being assembled */
  const char *bp;     /* or its one data line, borrowed from the bytes of
                         the current feed call (never kept past it) */
  size_t bn;
  int borrowed; /* 1: the event's data is bp[0..bn) */
  int has_data;
  int last_cr;      /* previous byte was CR: a following LF is eaten */
  long long events; /* events dispatched so far */
};

/* max_line: cap on one line and one event (bytes). Cannot fail. */
void mg_perf_sse_init(struct mg_perf_sse *s, size_t max_line);
void mg_perf_sse_release(struct mg_perf_sse *s);

/*
 * Feeds n bytes; on_event(arg, data, len, nth) runs for every complete
 * event, nth counting the events dispatched by this call (0, 1, ...), so
 * nth > 0 tells that several events arrived in one read. data is borrowed
 * for the call and is NOT NUL-terminated (an event whose single data line
 * arrived whole in this call points into p, without a copy). on_event
 * returns -1 to stop. Returns 0, -1 when a line or event exceeds max_line
 * or on_event stopped.
 */
int mg_perf_sse_feed(struct mg_perf_sse *s, const char *p, size_t n,
                     int (*on_event)(void *arg, const char *data, size_t len,
                                     int nth),
                     void *arg);
/* 1 if bytes of an unfinished event are pending (a stream cut short). */
int mg_perf_sse_pending(const struct mg_perf_sse *s);

/*
 * What one streamed chunk (or a whole non-streamed response) says.
 * Token-bearing ("iteration carries a token", as GuideLLM counts them):
 * a non-empty choices[].text (completions), choices[].delta.content or
 * .message.content (chat), non-empty reasoning / reasoning_content, or a
 * non-empty tool_calls array.
 */
struct mg_perf_sse_chunk {
  int choices;                 /* "choices" is a non-empty array */
  int text;                    /* non-empty text or content */
  int reasoning;               /* non-empty reasoning or reasoning_content */
  int tool_calls;              /* non-empty tool_calls */
  int error;                   /* a top-level "error" that is not null */
  int usage;                   /* a "usage" object */
  long long prompt_tokens;     /* usage.prompt_tokens, or -1 */
  long long completion_tokens; /* usage.completion_tokens, or -1 */
  size_t text_bytes;           /* bytes of text/content (escaped form) */
  const char *text_ptr;        /* the last non-empty text/content string, raw
                                  (escaped) and borrowed from the scanned
                                  document; NULL if none */
  size_t text_len;
  char error_msg[128]; /* error.message (or the error string), truncated */
};

/* Appends the JSON string contents s[0..n) (escaped, without quotes)
 * unescaped as UTF-8 to out (\u escapes, surrogate pairs joined, lone
 * surrogates as U+FFFD). */
void mg_perf_sse_json_unescape(const char *s, size_t n, struct mg_buf *out);

/* Scans one JSON document. Returns 0, or -1 if it is not valid JSON (or
 * nests deeper than 64 levels). */
int mg_perf_sse_chunk_scan(const char *s, size_t n,
                           struct mg_perf_sse_chunk *c);

/*
 * The same scan for the successive chunks of one stream, with the same
 * result, but without re-reading what a chunk shares with the previous
 * one. Consecutive chunks of a stream repeat their first hundred-odd bytes
 * (id, object, created, model, choices[0].index); the scanner is a
 * deterministic function of the bytes it consumed, so its state at a
 * checkpoint of the previous chunk (taken after each comma inside an
 * object) is its state at that offset of any chunk with the same bytes
 * before it. The scan resumes at the last checkpoint inside the common
 * prefix. Chunks over MG_PERF_CACHE_DOC bytes are scanned whole.
 */
#define MG_PERF_CACHE_DOC 4096
#define MG_PERF_CKPT_MAX 16
#define MG_PERF_CKPT_DEPTH 8

/* Compact: a load generator keeps one cache per stream in flight. */
struct mg_perf_sse_chunk_ckpt {
  long long prompt_tokens, completion_tokens;
  uint32_t off;
  uint32_t text_bytes;
  uint32_t text_off, text_len; /* text_ptr as an offset; text_len 0: none */
  char close[MG_PERF_CKPT_DEPTH];
  unsigned char kind[MG_PERF_CKPT_DEPTH];
  unsigned char depth;
  unsigned char flags; /* choices 1, text 2, reasoning 4, tool_calls 8,
                          usage 16 */
};

struct mg_perf_sse_chunk_cache {
  char *doc;  /* the previous chunk */
  size_t len; /* 0: none */
  size_t cap;
  int nck;
  struct mg_perf_sse_chunk_ckpt ck[MG_PERF_CKPT_MAX];
};

void mg_perf_sse_chunk_cache_init(struct mg_perf_sse_chunk_cache *cc);
void mg_perf_sse_chunk_cache_release(struct mg_perf_sse_chunk_cache *cc);
int mg_perf_sse_chunk_scan_cached(struct mg_perf_sse_chunk_cache *cc,
                                  const char *s, size_t n,
                                  struct mg_perf_sse_chunk *c);

#endif
