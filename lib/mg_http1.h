#ifndef MG_HTTP1_H
#define MG_HTTP1_H

#include <stddef.h>

#include "mg_banned.h"
#include "mg_buf.h"

struct mg_err;

/*
 * The HTTP/1.1 response wire format (RFC 9112), read incrementally: the
 * status line and header fields, then the body framed by
 * Transfer-Encoding: chunked, Content-Length, or the end of the
 * connection. mg_http's multi uses it for plain http:// streams on its
 * own sockets (one read per readiness, no libcurl per-transfer work);
 * every byte comes from the network, so everything is bounded: the
 * header block (MG_HTTP1_HEAD_MAX), a chunk-size line, the size itself.
 * Interim 1xx responses are skipped. No pipelining: bytes after the end
 * of the message are a protocol error.
 */
#define MG_HTTP1_HEAD_MAX ((size_t)64 << 10)

enum mg_http1_state {
  MG_HTTP1_HEAD = 0, /* in the status line or the header fields */
  MG_HTTP1_BODY,     /* Content-Length or until close */
  MG_HTTP1_CHUNK_SIZE,
  MG_HTTP1_CHUNK_DATA,
  MG_HTTP1_CHUNK_CRLF,
  MG_HTTP1_TRAILER,
  MG_HTTP1_DONE,
};

struct mg_http1_resp {
  enum mg_http1_state state;
  int no_body;        /* response to HEAD */
  long status;        /* final status, once the head is complete */
  int keep_alive;     /* the connection may carry another request */
  int until_close;    /* the body ends with the connection */
  long long left;     /* bytes left in the body or the chunk */
  struct mg_buf head; /* the final header block (status line and fields,
                         CRLF-separated, NUL-terminated) */
  struct mg_buf line; /* a chunk-size or trailer line being read */
  int sawcr;          /* the header block so far ends in CR */
};

/* Body bytes (de-chunked): return -1 to stop (feed then returns -1 with
 * MG_ERR_IO "aborted"). */
typedef int mg_http1_body_fn(void *arg, const char *p, size_t n);
/* The final head is complete: status, and the response for the header
 * lookups (mg_http1_resp_header). */
typedef void mg_http1_head_fn(void *arg, const struct mg_http1_resp *r);

void mg_http1_resp_init(struct mg_http1_resp *r, int no_body);
/* Ready for the next response on the same connection. */
void mg_http1_resp_reset(struct mg_http1_resp *r, int no_body);
void mg_http1_resp_release(struct mg_http1_resp *r);

/*
 * Feeds n bytes read from the connection. Calls on_head once the final
 * head is complete and on_body for body bytes. Returns 0 (the state says
 * whether the message is done), or -1 on a protocol error (MG_ERR_REMOTE
 * with the reason) or when on_body stopped.
 */
int mg_http1_resp_feed(struct mg_http1_resp *r, const char *p, size_t n,
                       mg_http1_head_fn *on_head, mg_http1_body_fn *on_body,
                       void *arg, struct mg_err *err);
/* The connection ended: 0 if that ends the message (a body read until
 * close), else -1 (MG_ERR_REMOTE: cut short). */
int mg_http1_resp_eof(struct mg_http1_resp *r, struct mg_err *err);

/* The value of header name (case-insensitive; the last when repeated) of
 * a complete head, or NULL. caller owns the result; free with free(). */
char *mg_http1_resp_header(const struct mg_http1_resp *r, const char *name);

#endif
