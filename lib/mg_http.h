#ifndef MG_HTTP_H
#define MG_HTTP_H

#include <stddef.h>
#include <stdio.h>

#include "mg_banned.h"
#include "mg_buf.h"

struct mg_err;

/*
 * HTTP over libcurl. The only module that includes curl/curl.h.
 *
 * TLS is verified by default; opts.insecure turns that off explicitly.
 * Proxies come from the environment (http_proxy, https_proxy, no_proxy) as
 * libcurl reads them. Secrets (bearer tokens) are never logged: the debug
 * log (opts.verbose) prints headers with Authorization, Proxy-Authorization
 * and Cookie values replaced by "<redacted>", and query strings named
 * X-Amz-Signature / X-Amz-Credential / token / sig redacted in URLs.
 *
 * Retries: connection failures, timeouts, 429 and 5xx (except 501) are
 * retried up to opts.retries times with exponential backoff and full
 * jitter, honouring Retry-After (seconds or HTTP date) when the server
 * sends it, never waiting longer than retry_max_ms per attempt.
 * Redirects are followed (up to 10, http and https only) unless
 * opts.no_follow; libcurl drops the Authorization header when a redirect
 * leads to another host.
 */
struct mg_http_opts {
  const char *cacert;      /* CA bundle (PEM file); NULL: system store */
  int insecure;            /* 1: do not verify TLS peer or host */
  long connect_timeout_ms; /* 0: 10000 */
  long timeout_ms;         /* whole transfer; 0: no limit */
  long low_speed_ms;       /* abort if < 1 byte/s for this long; 0: off */
  /* multi only: a transfer that received nothing (no header or body
   * bytes since it was added or since the last ones) for this long ends
   * with ok = 0 and an errmsg starting "timed out"; checked every eighth
   * of it (10 ms to 1 s) while mg_http_multi_run* runs. 0: off. */
  long idle_timeout_ms;
  int retries;            /* extra attempts after the first */
  long retry_base_ms;     /* first backoff step */
  long retry_max_ms;      /* cap on one wait */
  const char *bearer;     /* "Authorization: Bearer <bearer>"; not owned */
  const char *user_agent; /* NULL: "modelgate/<version>" */
  int http2;              /* 1: allow HTTP/2 (ALPN / prior knowledge off) */
  int verbose;            /* 1: redacted request/response log on stderr */
  size_t max_body;        /* cap on a buffered response body */
  FILE *log;              /* where the verbose log goes; NULL: stderr */
  int no_follow;          /* 1: do not follow redirects (3xx returned) */
  /* AWS Signature V4 (libcurl's CURLOPT_AWS_SIGV4), e.g.
   * "aws:amz:us-east-1:s3"; NULL: off. libcurl signs host, x-amz-date,
   * content-type and the x-amz-* request headers, uses the
   * x-amz-content-sha256 header (when sent) as the payload hash and the
   * query string as given, so callers send it canonical (sorted, encoded).
   * Not owned. */
  const char *aws_sigv4;
  /* "user:password" (CURLOPT_USERPWD; with aws_sigv4 "access:secret").
   * A secret: never logged. Not owned. */
  const char *userpwd;
  long recv_buffer; /* receive buffer per transfer (bytes); 0:
                       libcurl's 16 KiB (the raw path: one buffer of the
                       multi, 64 KiB) */
  /* multi only: plain http:// transfers (GET, POST, PUT, HEAD with a
   * body in memory) go over the multi's own sockets as HTTP/1.1 instead
   * of libcurl, when nothing else libcurl does is asked for (no proxy in
   * the environment, no verbose log, no signing or userpwd, no timeout_ms
   * or low_speed_ms) and MG_HTTP_LIBCURL is not set. Redirects are not
   * followed there (a 3xx is the answer); max_conns does not apply. */
  int raw_http1;
};

/* Defaults: verify TLS, 10 s connect, 3 retries from 500 ms capped at
 * 30 s, 64 MiB body cap, HTTP/1.1. Cannot fail. */
void mg_http_opts_init(struct mg_http_opts *o);

/* Once per process before any request; -1 if libcurl cannot start. */
int mg_http_global_init(struct mg_err *err);
void mg_http_global_cleanup(void);

/*
 * Reads a secret: from file when file is not NULL (trailing newline and
 * whitespace trimmed), else from the environment variable envname (may be
 * NULL). *out is NULL when neither is set. The message on failure names the
 * file, never the content. caller owns *out; free with mg_http_secret_free.
 */
int mg_http_secret_load(const char *file, const char *envname, char **out,
                        struct mg_err *err);
/* Wipes and frees a secret. Accepts NULL. */
void mg_http_secret_free(char *s);

/* Returns url with credentials and signature query values replaced by
 * "<redacted>", for messages. caller owns the result; free with free(). */
char *mg_http_redact_url(const char *url);

/*
 * A server's reply body made fit for an error message: every occurrence
 * of secret (the API key; NULL or "" for none), and every piece of it of
 * 8 bytes or more (a key shown in part), replaced by "<redacted>" (before
 * anything is cut, so a key is never half shown; only the first 64 KiB
 * are looked at), control
 * characters and line breaks turned into spaces, and the result cut to at
 * most cap bytes on a UTF-8 boundary, with "..." appended when cut. A
 * gateway that reflects the Authorization header then cannot put the key
 * into a CI log. caller owns the result; free with free().
 */
char *mg_http_redact_body(const char *body, size_t n, const char *secret,
                          size_t cap);

struct mg_http_request {
  const char *method; /* NULL: GET, or POST when body is set */
  const char *url;
  const char *const *headers; /* NULL-terminated "Name: value" list */
  const void *body;           /* borrowed until the request completes */
  size_t body_len;
  const char *upload_path; /* PUT/POST this file as the body instead */
  long long resume_from;   /* > 0: send Range: bytes=N- */
  /* When set, the body is streamed here instead of buffered; return -1 to
   * abort the transfer (it then fails with MG_ERR_IO "aborted"). */
  int (*on_data)(void *arg, const char *p, size_t n);
  void *arg;
  int no_retry; /* 1: never retry (non-idempotent calls) */
};
/*
 * Streaming and retries: a 429/5xx response that will be retried is not
 * passed to on_data (nor buffered); the last attempt's body always is. A
 * transfer that fails after on_data has received bytes is not retried
 * (the bytes cannot be taken back): the caller may resume with
 * resume_from. With upload_path, method NULL means PUT; "POST" posts the
 * file. "Expect: 100-continue" is never sent.
 */

struct mg_http_response {
  long status;        /* 0 if no response was received */
  struct mg_buf body; /* unless on_data was set */
  char *content_type; /* NULL if absent */
  char *location;     /* Location header, NULL if absent */
  char *etag;
  char *www_authenticate; /* for OCI/HF token flows */
  char *headers;          /* all response headers, raw, last response */
  int attempts;           /* 1 + number of retries done */
};

void mg_http_response_init(struct mg_http_response *r, size_t max_body);
void mg_http_response_release(struct mg_http_response *r);
/* Value of a response header (case-insensitive name), or NULL.
 * caller owns the result; free with free(). */
char *mg_http_response_header(const struct mg_http_response *r,
                              const char *name);

/*
 * Performs one request with retries. Returns 0 when a response was
 * received (any status: the caller judges resp->status), -1 with
 * MG_ERR_REMOTE when the server could not be reached or the transfer
 * failed after all retries, MG_ERR_DATA if the body exceeded max_body.
 */
int mg_http_do(const struct mg_http_opts *o, const struct mg_http_request *req,
               struct mg_http_response *resp, struct mg_err *err);

/*
 * Many concurrent transfers on one thread (libcurl multi), for perf-run's
 * load generation and parallel downloads. Connections are kept alive and
 * reused (every idle connection is kept, up to max_conns when it is set).
 * Callbacks run inside mg_http_multi_run, with the monotonic time
 * (mg_time_now_ns) at which the data was read. Internally: libcurl's socket
 * interface over one epoll set (a wakeup costs what is ready, not what is
 * open; poll() is the fallback), easy handles reused through a pool, and
 * one header list shared by consecutive transfers with equal headers.
 */
struct mg_http_multi;

struct mg_http_stream_cb {
  void *arg;
  /* Status line and headers complete, once, for the final response: 1xx
   * and redirects that are followed are not reported (nor their bodies). */
  void (*on_headers)(void *arg, long status, long long t_ns);
  /* A chunk of the body; return -1 to cancel this transfer. */
  int (*on_data)(void *arg, const char *p, size_t n, long long t_ns);
  /* Exactly once per added transfer. ok: transport succeeded (check
   * status). errmsg: borrowed, valid during the call. */
  void (*on_done)(void *arg, int ok, long status, const char *errmsg,
                  long long t_ns);
};

/* caller owns the result; free with mg_http_multi_free. opts are copied
 * (pointed-to strings must outlive the multi). max_conns: 0 = no limit. */
struct mg_http_multi *mg_http_multi_new(const struct mg_http_opts *o,
                                        int max_conns);
/* Starts a transfer (no retries here). Returns an id > 0, or -1. The
 * request's url, headers and body are borrowed until on_done. */
long mg_http_multi_add(struct mg_http_multi *m,
                       const struct mg_http_request *req,
                       const struct mg_http_stream_cb *cb, struct mg_err *err);
/* Cancels a running transfer; its on_done is called with ok = 0 and
 * errmsg "cancelled" before this returns (called from inside on_headers
 * or on_data, the cancel takes effect, and on_done runs, when that
 * callback's mg_http_multi_run step ends). Unknown ids are ignored.
 * mg_http_multi_add may be called from any callback; a transfer added from
 * on_headers/on_data starts when the current step ends. Never free the
 * multi from a callback. */
void mg_http_multi_cancel(struct mg_http_multi *m, long id);
/* Waits up to timeout_ms for network activity (0: poll), performs it and
 * runs callbacks. Returns the number of transfers still running. */
int mg_http_multi_run(struct mg_http_multi *m, long timeout_ms);
/* As mg_http_multi_run, but waits until the monotonic time deadline_ns
 * (mg_time_now_ns clock) at most, with sub-millisecond precision (a timerfd),
 * for a load generator's absolute schedule. deadline_ns <= now: poll. */
int mg_http_multi_run_until(struct mg_http_multi *m, long long deadline_ns);
int mg_http_multi_running(const struct mg_http_multi *m);
/* Value of a header of the final response of transfer id (case-insensitive
 * name; the last one when repeated), or NULL. Only valid from inside that
 * transfer's on_headers or on_data. caller owns the result; free with
 * free(). */
char *mg_http_multi_header(struct mg_http_multi *m, long id, const char *name);
/* Cancels what is running (on_done called) and frees. Accepts NULL. */
void mg_http_multi_free(struct mg_http_multi *m);

#endif
