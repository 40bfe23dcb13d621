#include "mg_http.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "mg_http1.h"
#include "mg_io.h"
#include "mg_mem.h"
#include "mg_time.h"
#include "mg_version.h"

#define SECRET_MAX ((size_t)64 << 10)
#define HEADERS_MAX ((size_t)256 << 10)

/* Header names whose values never reach the debug log. */
static const char *const secret_headers[] = {
  "authorization", "proxy-authorization",  "cookie", "set-cookie", "x-api-key",
  "api-key",       "x-amz-security-token", NULL,
};

/* Query parameters whose values never reach a message or the log. */
static const char *const secret_params[] = {
  "x-amz-signature",
  "x-amz-credential",
  "x-amz-security-token",
  "token",
  "sig",
  "signature",
  "access_token",
  NULL,
};

void mg_http_opts_init(struct mg_http_opts *o)
{
  memset(o, 0, sizeof(*o));
  o->connect_timeout_ms = 10000;
  o->retries = 3;
  o->retry_base_ms = 500;
  o->retry_max_ms = 30000;
  o->max_body = (size_t)64 << 20;
}

int mg_http_global_init(struct mg_err *err)
{
  CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);

  if (rc != CURLE_OK)
    return mg_err_set(err, MG_ERR_IO, "cannot initialise 'libcurl': %s",
                      curl_easy_strerror(rc));
  return 0;
}

void mg_http_global_cleanup(void)
{
  curl_global_cleanup();
}

/* Secrets. */

int mg_http_secret_load(const char *file, const char *envname, char **out,
                        struct mg_err *err)
{
  *out = NULL;
  if (file) {
    struct mg_buf b = MG_BUF_INIT(SECRET_MAX);
    size_t n;

    if (mg_io_read_file(file, &b, err) < 0) {
      mg_wipe(b.data, b.cap);
      mg_buf_release(&b);
      if (err && err->cat == MG_ERR_DATA)
        return mg_err_set(err, MG_ERR_DATA,
                          "secret file '%s' is larger than %zu bytes", file,
                          SECRET_MAX);
      return -1;
    }
    n = b.len;
    while (n > 0
           && (b.data[n - 1] == '\n' || b.data[n - 1] == '\r'
               || b.data[n - 1] == ' ' || b.data[n - 1] == '\t'))
      n--;
    if (n == 0 || memchr(b.data, '\n', n) || memchr(b.data, '\0', n)) {
      int empty = n == 0;
      mg_wipe(b.data, b.cap);
      mg_buf_release(&b);
      return mg_err_set(err, MG_ERR_DATA, "secret file '%s' %s", file,
                        empty ? "is empty" : "holds more than one line");
    }
    *out = mg_xstrndup(b.data, n);
    mg_wipe(b.data, b.cap);
    mg_buf_release(&b);
    return 0;
  }
  if (envname) {
    const char *v = getenv(envname);
    if (v && *v) {
      if (strchr(v, '\n') || strchr(v, '\r'))
        return mg_err_set(err, MG_ERR_USAGE,
                          "environment variable '%s' holds a line break",
                          envname);
      *out = mg_xstrdup(v);
    }
  }
  return 0;
}

void mg_http_secret_free(char *s)
{
  if (!s)
    return;
  mg_wipe(s, strlen(s));
  free(s);
}

/* Redaction. */

static int is_param_end(char c)
{
  return c == '\0' || c == '&' || c == '#' || c == ' ' || c == '\r' || c == '\n'
         || c == '"' || c == '\'' || c == ';';
}

/* Length of the secret parameter name at s followed by '=', or 0. */
static size_t secret_param_at(const char *s, size_t n)
{
  for (int i = 0; secret_params[i]; i++) {
    size_t k = strlen(secret_params[i]);
    if (k < n && strncasecmp(s, secret_params[i], k) == 0 && s[k] == '=')
      return k + 1;
  }
  return 0;
}

/* Appends s[0..n) to out with secret query values replaced. */
static void redact_params(struct mg_buf *out, const char *s, size_t n)
{
  size_t i = 0;

  while (i < n) {
    size_t k;
    (void)mg_buf_addch(out, s[i], NULL);
    if ((s[i] == '?' || s[i] == '&') && i + 1 < n) {
      k = secret_param_at(s + i + 1, n - i - 1);
      if (k) {
        (void)mg_buf_add(out, s + i + 1, k, NULL);
        (void)mg_buf_addstr(out, "<redacted>", NULL);
        i += 1 + k;
        while (i < n && !is_param_end(s[i]))
          i++;
        continue;
      }
    }
    i++;
  }
}

char *mg_http_redact_url(const char *url)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  const char *p = url, *scheme = strstr(url, "://");

  if (scheme) {
    const char *host = scheme + 3;
    size_t alen = strcspn(host, "/?#");
    const char *at = NULL;

    for (size_t i = 0; i < alen; i++)
      if (host[i] == '@')
        at = host + i;
    (void)mg_buf_add(&b, url, (size_t)(host - url), NULL);
    if (at) {
      (void)mg_buf_addstr(&b, "<redacted>", NULL);
      p = at;
    } else {
      p = host;
    }
  }
  redact_params(&b, p, strlen(p));
  return mg_buf_detach(&b, NULL);
}

/* Length of the longest piece of secret that body starts with. */
static size_t secret_piece(const char *body, size_t n, const char *secret,
                           size_t sn)
{
  size_t best = 0;

  for (size_t j = 0; j < sn; j++) {
    size_t k = 0;

    while (k < n && j + k < sn && body[k] == secret[j + k])
      k++;
    if (k > best)
      best = k;
  }
  return best;
}

char *mg_http_redact_body(const char *body, size_t n, const char *secret,
                          size_t cap)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  size_t sn = secret ? strlen(secret) : 0, cut;
  /* a piece this long (or the whole of a shorter key) counts as the key */
  size_t piece = sn < 8 ? sn : 8;
  char *s;

  if (n > ((size_t)64 << 10))
    n = (size_t)64 << 10; /* what a message can show is far less */
  for (size_t i = 0; i < n;) {
    size_t k = sn ? secret_piece(body + i, n - i, secret, sn) : 0;

    if (sn && k >= piece) {
      (void)mg_buf_addstr(&b, "<redacted>", NULL);
      i += k;
      continue;
    }
    (void)mg_buf_addch(
        &b, (unsigned char)body[i] < 0x20 || body[i] == 0x7f ? ' ' : body[i],
        NULL);
    i++;
  }
  s = mg_buf_detach(&b, &cut);
  if (!s)
    return mg_xstrdup("");
  if (cut > cap) {
    cut = cap;
    while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
      cut--;
    s = mg_xrealloc(s, cut + 4);
    memcpy(s + cut, "...", 4);
  }
  return s;
}

/* Debug log. */

static void log_line(FILE *f, char dir, const char *s, size_t n)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  size_t colon;

  while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
    n--;
  if (n == 0)
    return;
  (void)mg_buf_addch(&b, dir, NULL);
  (void)mg_buf_addch(&b, ' ', NULL);
  colon = 0;
  while (colon < n && s[colon] != ':' && s[colon] != ' ')
    colon++;
  if (colon < n && s[colon] == ':' && (dir == '>' || dir == '<')) {
    for (int i = 0; secret_headers[i]; i++) {
      if (strlen(secret_headers[i]) == colon
          && strncasecmp(s, secret_headers[i], colon) == 0) {
        (void)mg_buf_add(&b, s, colon + 1, NULL);
        (void)mg_buf_addstr(&b, " <redacted>", NULL);
        goto print;
      }
    }
  }
  redact_params(&b, s, n);
print:
  fprintf(f, "%s\n", b.data);
  mg_buf_release(&b);
}

static int debug_cb(CURL *h, curl_infotype type, char *data, size_t size,
                    void *arg)
{
  FILE *f = arg ? arg : stderr;
  char dir;
  size_t i = 0;

  (void)h;
  switch (type) {
  case CURLINFO_TEXT:
    dir = '*';
    break;
  case CURLINFO_HEADER_OUT:
    dir = '>';
    break;
  case CURLINFO_HEADER_IN:
    dir = '<';
    break;
  case CURLINFO_DATA_OUT:
    fprintf(f, "> [%zu bytes of body]\n", size);
    return 0;
  case CURLINFO_DATA_IN:
    fprintf(f, "< [%zu bytes of body]\n", size);
    return 0;
  default:
    return 0;
  }
  while (i < size) {
    size_t j = i;
    while (j < size && data[j] != '\n')
      j++;
    log_line(f, dir, data + i, j - i);
    i = j + 1;
  }
  fflush(f);
  return 0;
}

/* Common handle setup. */

static void apply_opts(CURL *h, const struct mg_http_opts *o, char *errbuf)
{
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                   o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 10000L);
  if (o->timeout_ms > 0)
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, o->timeout_ms);
  if (o->low_speed_ms > 0) {
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (o->low_speed_ms + 999) / 1000);
  }
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, o->insecure ? 0L : 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, o->insecure ? 0L : 2L);
  if (o->cacert)
    curl_easy_setopt(h, CURLOPT_CAINFO, o->cacert);
  curl_easy_setopt(h, CURLOPT_USERAGENT,
                   o->user_agent ? o->user_agent : "modelgate/" MG_VERSION);
  curl_easy_setopt(h, CURLOPT_HTTP_VERSION,
                   o->http2 ? (long)CURL_HTTP_VERSION_2TLS
                            : (long)CURL_HTTP_VERSION_1_1);
  if (!o->no_follow) {
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
  }
  if (o->aws_sigv4)
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, o->aws_sigv4);
  if (o->userpwd)
    curl_easy_setopt(h, CURLOPT_USERPWD, o->userpwd);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  if (o->recv_buffer > 0)
    curl_easy_setopt(h, CURLOPT_BUFFERSIZE, o->recv_buffer);
  if (o->verbose) {
    curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
    curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, debug_cb);
    curl_easy_setopt(h, CURLOPT_DEBUGDATA, (void *)o->log);
  }
}

static struct curl_slist *build_headers(const struct mg_http_opts *o,
                                        const struct mg_http_request *req)
{
  struct curl_slist *l = NULL;

  if (req->headers)
    for (int i = 0; req->headers[i]; i++)
      l = curl_slist_append(l, req->headers[i]);
  if (o->bearer) {
    char *h = mg_xasprintf("Authorization: Bearer %s", o->bearer);
    l = curl_slist_append(l, h);
    mg_wipe(h, strlen(h));
    free(h);
  }
  l = curl_slist_append(l, "Expect:");
  if (!l)
    MG_BUG("out of memory building headers");
  return l;
}

static size_t file_read_cb(char *p, size_t size, size_t nitems, void *arg)
{
  size_t n = fread(p, 1, size * nitems, arg);

  if (n == 0 && ferror((FILE *)arg))
    return CURL_READFUNC_ABORT;
  return n;
}

/*
 * Sets method, body and range. *upload gets the opened file for
 * upload_path (the caller closes it).
 */
static int apply_request(CURL *h, const struct mg_http_request *req,
                         FILE **upload, struct mg_err *err)
{
  const char *m = req->method;

  *upload = NULL;
  if (req->upload_path) {
    struct stat st;
    FILE *f = fopen(req->upload_path, "rb");
    if (!f)
      return mg_err_errno(err, MG_ERR_IO, "cannot open '%s'", req->upload_path);
    if (fstat(fileno(f), &st) < 0) {
      fclose(f);
      return mg_err_errno(err, MG_ERR_IO, "cannot stat '%s'", req->upload_path);
    }
    curl_easy_setopt(h, CURLOPT_READFUNCTION, file_read_cb);
    curl_easy_setopt(h, CURLOPT_READDATA, (void *)f);
    if (m && strcmp(m, "POST") == 0) {
      curl_easy_setopt(h, CURLOPT_POST, 1L);
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)st.st_size);
    } else {
      curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)st.st_size);
      if (m && strcmp(m, "PUT") != 0)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
    }
    *upload = f;
  } else if (req->body) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body);
    if (m && strcmp(m, "POST") != 0)
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
  } else if (m && strcmp(m, "HEAD") == 0) {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (m && strcmp(m, "GET") != 0) {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
  } else {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  }
  if (req->resume_from > 0) {
    char range[64];
    (void)snprintf(range, sizeof(range), "%lld-", req->resume_from);
    curl_easy_setopt(h, CURLOPT_RANGE, range);
  }
  return 0;
}

/* Responses. */

void mg_http_response_init(struct mg_http_response *r, size_t max_body)
{
  memset(r, 0, sizeof(*r));
  mg_buf_init(&r->body, max_body);
}

static void response_clear_headers(struct mg_http_response *r)
{
  free(r->content_type);
  free(r->location);
  free(r->etag);
  free(r->www_authenticate);
  free(r->headers);
  r->content_type = r->location = r->etag = r->www_authenticate = NULL;
  r->headers = NULL;
}

void mg_http_response_release(struct mg_http_response *r)
{
  response_clear_headers(r);
  mg_buf_release(&r->body);
  r->status = 0;
  r->attempts = 0;
}

static char *header_value(const char *raw, const char *name)
{
  size_t nl = strlen(name);
  const char *p = raw;

  if (!p)
    return NULL;
  while (*p) {
    const char *eol = strchr(p, '\n');
    size_t len = eol ? (size_t)(eol - p) : strlen(p);
    if (len > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
      const char *v = p + nl + 1;
      const char *e = p + len;
      while (v < e && (*v == ' ' || *v == '\t'))
        v++;
      while (e > v && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
        e--;
      return mg_xstrndup(v, (size_t)(e - v));
    }
    if (!eol)
      break;
    p = eol + 1;
  }
  return NULL;
}

char *mg_http_response_header(const struct mg_http_response *r,
                              const char *name)
{
  return header_value(r->headers, name);
}

/* The easy (one request) path. */

struct easy_ctx {
  CURL *h;
  const struct mg_http_request *req;
  struct mg_http_response *resp;
  struct mg_buf hdrs;
  int may_retry; /* a retryable status would be retried */
  int streamed;  /* on_data has received bytes */
  int aborted;   /* on_data returned -1 */
  int too_large;
};

static int retryable_status(long s)
{
  return s == 429 || (s >= 500 && s <= 599 && s != 501);
}

static int retryable_curl(CURLcode rc)
{
  switch (rc) {
  case CURLE_COULDNT_RESOLVE_PROXY:
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_CONNECT:
  case CURLE_OPERATION_TIMEDOUT:
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
  case CURLE_SSL_CONNECT_ERROR:
    return 1;
  default:
    return 0;
  }
}

static size_t easy_write_cb(char *p, size_t size, size_t nmemb, void *arg)
{
  struct easy_ctx *c = arg;
  size_t n = size * nmemb;
  long status = 0;

  curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
  if (c->may_retry && retryable_status(status))
    return n;
  if (c->req->on_data) {
    c->streamed = 1;
    if (c->req->on_data(c->req->arg, p, n) < 0) {
      c->aborted = 1;
      return 0;
    }
    return n;
  }
  if (mg_buf_add(&c->resp->body, p, n, NULL) < 0) {
    c->too_large = 1;
    return 0;
  }
  return n;
}

static size_t easy_header_cb(char *p, size_t size, size_t nitems, void *arg)
{
  struct easy_ctx *c = arg;
  size_t n = size * nitems;

  /* A new status line starts a new response (redirect, 100, retry). */
  if (n >= 5 && memcmp(p, "HTTP/", 5) == 0)
    mg_buf_reset(&c->hdrs);
  (void)mg_buf_add(&c->hdrs, p, n, NULL);
  return n;
}

/* Milliseconds to wait from a Retry-After value, or -1. */
static long retry_after_ms(const char *v)
{
  char *end;
  long long s;
  time_t t, now;

  if (!v || !*v)
    return -1;
  errno = 0;
  s = strtoll(v, &end, 10);
  if (end != v && *end == '\0' && errno == 0 && s >= 0)
    return s > 86400 ? 86400000L : (long)(s * 1000);
  t = curl_getdate(v, NULL);
  if (t < 0)
    return -1;
  now = time(NULL);
  return t <= now ? 0 : (long)((t - now) * 1000);
}

static uint64_t rand_next(void)
{
  static uint64_t state;

  if (!state)
    state = (uint64_t)mg_time_now_ns() ^ ((uint64_t)getpid() << 32)
            ^ 0x9e3779b97f4a7c15ULL;
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

static long backoff_ms(const struct mg_http_opts *o, int attempt)
{
  long long cap = o->retry_base_ms;

  if (cap <= 0)
    return 0;
  for (int i = 0; i < attempt && cap < o->retry_max_ms; i++)
    cap *= 2;
  if (o->retry_max_ms > 0 && cap > o->retry_max_ms)
    cap = o->retry_max_ms;
  return (long)(rand_next() % (uint64_t)(cap + 1));
}

static void sleep_ms(long ms)
{
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

  while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
    ;
}

static void finish_headers(struct easy_ctx *c)
{
  struct mg_http_response *r = c->resp;

  response_clear_headers(r);
  r->headers = mg_xstrdup(c->hdrs.data ? c->hdrs.data : "");
  r->content_type = header_value(r->headers, "Content-Type");
  r->location = header_value(r->headers, "Location");
  r->etag = header_value(r->headers, "ETag");
  r->www_authenticate = header_value(r->headers, "WWW-Authenticate");
}

int mg_http_do(const struct mg_http_opts *o, const struct mg_http_request *req,
               struct mg_http_response *resp, struct mg_err *err)
{
  char errbuf[CURL_ERROR_SIZE];
  struct easy_ctx c;
  struct curl_slist *hl = NULL;
  FILE *upload = NULL;
  char *shown = mg_http_redact_url(req->url);
  int retries = req->no_retry ? 0 : (o->retries > 0 ? o->retries : 0);
  int ret = -1;

  memset(&c, 0, sizeof(c));
  mg_buf_init(&c.hdrs, HEADERS_MAX);
  c.req = req;
  c.resp = resp;
  c.h = curl_easy_init();
  if (!c.h) {
    mg_err_set(err, MG_ERR_IO, "cannot start a request to '%s'", shown);
    goto out;
  }
  apply_opts(c.h, o, errbuf);
  curl_easy_setopt(c.h, CURLOPT_URL, req->url);
  hl = build_headers(o, req);
  curl_easy_setopt(c.h, CURLOPT_HTTPHEADER, hl);
  curl_easy_setopt(c.h, CURLOPT_WRITEFUNCTION, easy_write_cb);
  curl_easy_setopt(c.h, CURLOPT_WRITEDATA, (void *)&c);
  curl_easy_setopt(c.h, CURLOPT_HEADERFUNCTION, easy_header_cb);
  curl_easy_setopt(c.h, CURLOPT_HEADERDATA, (void *)&c);

  for (int attempt = 0;; attempt++) {
    CURLcode rc;
    long status = 0, wait;
    char *ra;

    errbuf[0] = '\0';
    mg_buf_reset(&resp->body);
    mg_buf_reset(&c.hdrs);
    c.too_large = c.aborted = 0;
    c.may_retry = attempt < retries;
    if (upload)
      fclose(upload);
    if (apply_request(c.h, req, &upload, err) < 0)
      goto out;
    rc = curl_easy_perform(c.h);
    curl_easy_getinfo(c.h, CURLINFO_RESPONSE_CODE, &status);
    resp->status = rc == CURLE_OK ? status : 0;
    resp->attempts = attempt + 1;
    finish_headers(&c);
    if (c.aborted) {
      mg_err_set(err, MG_ERR_IO, "transfer from '%s' aborted", shown);
      goto out;
    }
    if (c.too_large) {
      mg_err_set(err, MG_ERR_DATA,
                 "response from '%s' is larger than %zu bytes", shown,
                 resp->body.max);
      goto out;
    }
    if (rc == CURLE_OK) {
      if (!(c.may_retry && retryable_status(status))) {
        ret = 0;
        goto out;
      }
      ra = mg_http_response_header(resp, "Retry-After");
      wait = retry_after_ms(ra);
      free(ra);
      if (wait < 0)
        wait = backoff_ms(o, attempt);
      else if (o->retry_max_ms > 0 && wait > o->retry_max_ms)
        wait = o->retry_max_ms;
    } else {
      if (!c.may_retry || !retryable_curl(rc) || c.streamed) {
        mg_err_set(err, MG_ERR_REMOTE, "request to '%s' failed: %s", shown,
                   errbuf[0] ? errbuf : curl_easy_strerror(rc));
        goto out;
      }
      wait = backoff_ms(o, attempt);
    }
    sleep_ms(wait);
  }
out:
  if (upload)
    fclose(upload);
  curl_slist_free_all(hl);
  if (c.h)
    curl_easy_cleanup(c.h);
  mg_buf_release(&c.hdrs);
  free(shown);
  return ret;
}

/*
 * The multi (many concurrent streams) path: libcurl's socket interface
 * over one epoll set (each wakeup costs what is ready, not what is open),
 * easy handles reused through a pool (curl_easy_reset), and one header
 * list shared by consecutive requests with the same headers.
 */

#define POOL_MAX 4096
#define MAX_EVENTS 256

/* A curl header list with the request headers it was built from. */
struct hdr_list {
  struct curl_slist *l;
  char **src;
  int nsrc;
  int refs;  /* transfers using it */
  int stale; /* no longer the multi's current list */
};

struct xfer {
  struct mg_http_multi *m;
  long id;
  CURL *h;
  struct hdr_list *hl;
  struct mg_http_stream_cb cb;
  FILE *upload;
  int added;         /* handed to curl_multi */
  int hdr_done;      /* on_headers was called */
  int saw_location;  /* the current header block has a Location */
  int in_redirect;   /* a redirect being followed: skip its body */
  int cancelled;     /* mg_http_multi_cancel or on_data -1 */
  int cancel_req;    /* cancel asked from inside a callback */
  long long last_io; /* added, or the last header or body bytes */
  /* The raw HTTP/1.1 path (raw set; h is NULL). */
  int raw;
  int queued;  /* waiting in the start queue */
  int no_body; /* HEAD */
  int got;     /* bytes of the answer were read */
  int retried; /* sent again on a fresh connection */
  struct rconn *rc;
  char *key;          /* "host:port" */
  struct mg_buf wbuf; /* the request bytes */
  size_t woff;
  struct mg_http1_resp resp;
  struct xfer *qnext; /* start queue */
  struct xfer *prev, *next;
  char errbuf[CURL_ERROR_SIZE];
};

struct mg_http_multi {
  CURLM *cm;
  struct mg_http_opts o;
  long next_id;
  struct xfer *head;
  int count;
  int in_perform;
  int pending;        /* transfers or cancels waiting for the step end */
  int epfd;           /* curl's sockets and tfd; -1: poll fallback */
  int tfd;            /* timerfd for precise wakeups, or -1 */
  long long armed;    /* what tfd is armed for (0: nothing) */
  long long timer_at; /* curl's timeout (mg_time_now_ns), -1: none */
  CURL **pool;        /* reset handles ready for reuse */
  int npool, cappool;
  struct hdr_list *hl;      /* the current header list */
  unsigned long done_seq;   /* on_done calls so far */
  unsigned long freed;      /* transfers removed so far */
  long long next_idle_scan; /* idle_timeout_ms: when to look again */
  /* The raw HTTP/1.1 path. */
  int raw_on;
  long connect_ms;
  struct rconn *idle;  /* kept-alive connections */
  struct rconn **byfd; /* connection of each fd, or NULL */
  int nbyfd, nconns;
  uint32_t gen;
  char *rbuf; /* one read buffer for every connection */
  size_t rbuf_len;
  long long t_read;           /* when the bytes being handled were read */
  struct xfer *qhead, *qtail; /* raw transfers to start */
  char *addr_key;             /* the address cache: "host:port" */
  struct sockaddr_storage addr;
  socklen_t addr_len;
};

static void hdr_list_free(struct hdr_list *h)
{
  curl_slist_free_all(h->l);
  for (int i = 0; i < h->nsrc; i++)
    free(h->src[i]);
  free(h->src);
  free(h);
}

static void hdr_list_put(struct mg_http_multi *m, struct hdr_list *h)
{
  if (!h)
    return;
  h->refs--;
  if (h->refs == 0 && (h->stale || h != m->hl))
    hdr_list_free(h);
}

/* The header list for req: the current one when req has the same headers
 * (the bearer comes from the multi's options, which do not change). */
static struct hdr_list *hdr_list_get(struct mg_http_multi *m,
                                     const struct mg_http_request *req)
{
  struct hdr_list *h = m->hl;
  int n = 0;

  while (req->headers && req->headers[n])
    n++;
  if (h && h->nsrc == n) {
    int i = 0;
    while (i < n && strcmp(h->src[i], req->headers[i]) == 0)
      i++;
    if (i == n) {
      h->refs++;
      return h;
    }
  }
  if (h) {
    h->stale = 1;
    if (h->refs == 0)
      hdr_list_free(h);
  }
  h = mg_xcalloc(1, sizeof(*h));
  h->l = build_headers(&m->o, req);
  h->src = mg_xcalloc((size_t)n + 1, sizeof(*h->src));
  for (int i = 0; i < n; i++)
    h->src[i] = mg_xstrdup(req->headers[i]);
  h->nsrc = n;
  h->refs = 1;
  m->hl = h;
  return h;
}

static int sock_cb(CURL *e, curl_socket_t s, int what, void *userp,
                   void *socketp)
{
  struct mg_http_multi *m = userp;
  struct epoll_event ev;

  (void)e;
  if (what == CURL_POLL_REMOVE) {
    (void)epoll_ctl(m->epfd, EPOLL_CTL_DEL, s, NULL);
    return 0;
  }
  memset(&ev, 0, sizeof(ev));
  ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0)
              | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
  ev.data.fd = s;
  if (socketp) {
    if (epoll_ctl(m->epfd, EPOLL_CTL_MOD, s, &ev) < 0 && errno == ENOENT)
      (void)epoll_ctl(m->epfd, EPOLL_CTL_ADD, s, &ev);
  } else {
    if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, s, &ev) < 0 && errno == EEXIST)
      (void)epoll_ctl(m->epfd, EPOLL_CTL_MOD, s, &ev);
    curl_multi_assign(m->cm, s, m);
  }
  return 0;
}

static int timer_cb(CURLM *cm, long timeout_ms, void *userp)
{
  struct mg_http_multi *m = userp;

  (void)cm;
  m->timer_at =
      timeout_ms < 0 ? -1 : mg_time_now_ns() + (long long)timeout_ms * 1000000;
  return 0;
}

struct mg_http_multi *mg_http_multi_new(const struct mg_http_opts *o,
                                        int max_conns)
{
  struct mg_http_multi *m = mg_xcalloc(1, sizeof(*m));

  m->o = *o;
  m->tfd = -1;
  m->timer_at = -1;
  m->cm = curl_multi_init();
  if (!m->cm) {
    free(m);
    return NULL;
  }
  if (max_conns > 0)
    curl_multi_setopt(m->cm, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)max_conns);
  /* Keep every idle connection for reuse: libcurl's default cache (four
   * per transfer in the multi at the time) shrinks as transfers finish
   * and would close connections a load generator reuses a moment later. */
  curl_multi_setopt(m->cm, CURLMOPT_MAXCONNECTS,
                    max_conns > 0 ? (long)max_conns : 100000L);
  m->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (m->epfd >= 0) {
    struct epoll_event ev;
    curl_multi_setopt(m->cm, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(m->cm, CURLMOPT_SOCKETDATA, (void *)m);
    curl_multi_setopt(m->cm, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(m->cm, CURLMOPT_TIMERDATA, (void *)m);
    m->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (m->tfd >= 0) {
      memset(&ev, 0, sizeof(ev));
      ev.events = EPOLLIN;
      ev.data.fd = m->tfd;
      if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, m->tfd, &ev) < 0) {
        close(m->tfd);
        m->tfd = -1;
      }
    }
  }
  /* The raw path only where libcurl would do nothing more than HTTP/1.1
   * on a socket: no proxy, no debug log, no signing, no whole-transfer
   * or low-speed limits (the idle timeout works on both paths);
   * MG_HTTP_LIBCURL=1 turns it off (for comparisons). */
  {
    const char *env = getenv("MG_HTTP_LIBCURL");
    m->raw_on = o->raw_http1 && m->epfd >= 0 && !o->verbose && !o->aws_sigv4
                && !o->userpwd && o->timeout_ms <= 0 && o->low_speed_ms <= 0
                && !getenv("http_proxy") && !getenv("all_proxy")
                && !getenv("ALL_PROXY") && !(env && *env && *env != '0');
  }
  m->connect_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 10000;
  if (m->raw_on) {
    m->rbuf_len = o->recv_buffer > 0 ? (size_t)o->recv_buffer : 65536;
    if (m->rbuf_len < 4096)
      m->rbuf_len = 4096;
    m->rbuf = mg_xmalloc(m->rbuf_len);
  }
  return m;
}

static size_t multi_header_cb(char *p, size_t size, size_t nitems, void *arg)
{
  struct xfer *x = arg;
  size_t n = size * nitems;
  long status = 0;

  if (x->hdr_done || x->cancelled)
    return n;
  if (x->m->o.idle_timeout_ms > 0)
    x->last_io = mg_time_now_ns();
  if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
    x->saw_location = x->in_redirect = 0;
    return n;
  }
  if (n > 9 && strncasecmp(p, "location:", 9) == 0)
    x->saw_location = 1;
  if (!(n <= 2 && (p[0] == '\r' || p[0] == '\n')))
    return n;
  /* End of a header block: final unless 1xx or a redirect we follow
   * (libcurl follows a 3xx with a Location when FOLLOWLOCATION is on;
   * CURLINFO_REDIRECT_URL is only set when it is off). */
  curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
  if (status < 200)
    return n;
  if (status >= 300 && status < 400 && status != 304 && x->saw_location
      && !x->m->o.no_follow) {
    x->in_redirect = 1;
    return n;
  }
  x->hdr_done = 1;
  if (x->cb.on_headers)
    x->cb.on_headers(x->cb.arg, status, mg_time_now_ns());
  return n;
}

static size_t multi_write_cb(char *p, size_t size, size_t nmemb, void *arg)
{
  struct xfer *x = arg;
  size_t n = size * nmemb;
  long long t = mg_time_now_ns();

  if (x->cancelled || x->cancel_req)
    return 0;
  x->last_io = t;
  if (x->in_redirect)
    return n;
  if (!x->hdr_done) {
    long status = 0;
    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
    x->hdr_done = 1;
    if (x->cb.on_headers)
      x->cb.on_headers(x->cb.arg, status, t);
  }
  if (x->cb.on_data && x->cb.on_data(x->cb.arg, p, n, t) < 0) {
    x->cancelled = 1;
    return 0;
  }
  return n;
}

/*
 * The raw HTTP/1.1 path (opts.raw_http1): plain http:// transfers on the
 * multi's own non-blocking sockets in the same epoll set, one read per
 * readiness and mg_http1 for the framing, without libcurl's per-transfer
 * state machine, timers and liveness polls; connections are kept alive
 * and reused per host:port. A connection is registered with the epoll
 * data (generation << 32 | fd), so an event queued for a socket closed
 * and reopened within one wakeup is recognised as stale.
 */
struct rconn {
  int fd;
  uint32_t gen;
  int connecting;     /* connect() in progress */
  int reused;         /* has carried a complete response */
  uint32_t events;    /* registered epoll events */
  long long t_open;   /* connect() started */
  char *key;          /* "host:port" */
  struct xfer *x;     /* the transfer on it; NULL when idle */
  struct rconn *next; /* idle list */
};

static void raw_events(struct mg_http_multi *m, struct rconn *c, uint32_t ev)
{
  struct epoll_event e;

  if (c->events == ev)
    return;
  memset(&e, 0, sizeof(e));
  e.events = ev;
  e.data.u64 = ((uint64_t)c->gen << 32) | (uint32_t)c->fd;
  (void)epoll_ctl(m->epfd, c->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd,
                  &e);
  c->events = ev;
}

static void raw_close(struct mg_http_multi *m, struct rconn *c)
{
  if (c->fd >= 0) {
    if (c->fd < m->nbyfd)
      m->byfd[c->fd] = NULL;
    close(c->fd);
  }
  m->nconns--;
  free(c->key);
  free(c);
}

/* Unlinks c from the idle list. */
static void raw_unidle(struct mg_http_multi *m, struct rconn *c)
{
  for (struct rconn **pp = &m->idle; *pp; pp = &(*pp)->next)
    if (*pp == c) {
      *pp = c->next;
      c->next = NULL;
      return;
    }
}

static void xfer_free(struct xfer *x)
{
  struct mg_http_multi *m = x->m;

  m->freed++;
  if (x->raw) {
    if (x->rc)
      raw_close(m, x->rc); /* mid-answer: the connection cannot carry more */
    if (x->queued) {
      struct xfer **pp = &m->qhead, *last = NULL;
      while (*pp && *pp != x) {
        last = *pp;
        pp = &(*pp)->qnext;
      }
      if (*pp)
        *pp = x->qnext;
      if (m->qtail == x)
        m->qtail = last;
    }
    mg_http1_resp_release(&x->resp);
    if (x->wbuf.data)
      mg_wipe(x->wbuf.data, x->wbuf.len); /* it may hold the bearer */
    mg_buf_release(&x->wbuf);
    free(x->key);
  } else if (x->added) {
    curl_multi_remove_handle(m->cm, x->h);
  }
  if (x->prev)
    x->prev->next = x->next;
  else
    m->head = x->next;
  if (x->next)
    x->next->prev = x->prev;
  m->count--;
  if (x->raw) {
    /* no curl handle */
  } else if (m->npool < POOL_MAX) {
    curl_easy_reset(x->h);
    if (m->npool == m->cappool) {
      m->cappool = m->cappool ? m->cappool * 2 : 64;
      m->pool = mg_xreallocarray(m->pool, (size_t)m->cappool, sizeof(*m->pool));
    }
    m->pool[m->npool++] = x->h;
  } else {
    curl_easy_cleanup(x->h);
  }
  hdr_list_put(m, x->hl);
  if (x->upload)
    fclose(x->upload);
  free(x);
}

/* Removes x and then reports it (so on_done may add or cancel others). */
static void xfer_done(struct xfer *x, int ok, long status, const char *msg)
{
  struct mg_http_multi *m = x->m;
  struct mg_http_stream_cb cb = x->cb;
  char buf[CURL_ERROR_SIZE];

  if (msg)
    (void)snprintf(buf, sizeof(buf), "%s", msg);
  m->done_seq++;
  xfer_free(x);
  if (cb.on_done)
    cb.on_done(cb.arg, ok, status, msg ? buf : NULL, mg_time_now_ns());
}

/* The authority of an http:// URL: host (brackets removed), port and
 * the request target. 0, or -1 if the URL is not one the raw path takes
 * (libcurl then does). */
static int raw_split(const char *url, char *host, size_t hn, char *port,
                     size_t pn, const char **target, size_t *tlen)
{
  const char *a, *e, *h, *he, *colon = NULL;

  if (strncmp(url, "http://", 7) != 0)
    return -1;
  for (const char *p = url; *p; p++)
    if ((unsigned char)*p <= ' ' || *p == 0x7f)
      return -1;
  a = url + 7;
  e = a + strcspn(a, "/?#");
  if (e == a || memchr(a, '@', (size_t)(e - a)))
    return -1;
  h = a;
  he = e;
  if (*a == '[') {
    const char *rb = memchr(a, ']', (size_t)(e - a));
    if (!rb)
      return -1;
    h = a + 1;
    he = rb;
    if (rb + 1 < e) {
      if (rb[1] != ':')
        return -1;
      colon = rb + 1;
    }
  } else {
    colon = memchr(a, ':', (size_t)(e - a));
    if (colon)
      he = colon;
  }
  if (he == h || (size_t)(he - h) >= hn)
    return -1;
  memcpy(host, h, (size_t)(he - h));
  host[he - h] = '\0';
  if (colon && colon + 1 < e) {
    if ((size_t)(e - colon - 1) >= pn || (size_t)(e - colon - 1) > 5)
      return -1;
    for (const char *p = colon + 1; p < e; p++)
      if (*p < '0' || *p > '9')
        return -1;
    memcpy(port, colon + 1, (size_t)(e - colon - 1));
    port[e - colon - 1] = '\0';
  } else {
    (void)snprintf(port, pn, "80");
  }
  *target = e;
  *tlen = strcspn(e, "#");
  return 0;
}

/* Builds the request bytes of x into x->wbuf and its key. -1: not for
 * the raw path. */
static int raw_prepare(struct mg_http_multi *m, struct xfer *x,
                       const struct mg_http_request *req)
{
  const char *method = req->method ? req->method : req->body ? "POST" : "GET";
  const char *target, *auth = req->url + 7;
  char host[256], port[8];
  size_t tlen, alen = strcspn(auth, "/?#");
  int accept = 0;
  struct mg_buf *b = &x->wbuf;

  if (raw_split(req->url, host, sizeof(host), port, sizeof(port), &target,
                &tlen)
      < 0)
    return -1;
  mg_buf_init(b, MG_BUF_UNLIMITED);
  x->key = mg_xasprintf("%s:%s", host, port);
  x->no_body = strcmp(method, "HEAD") == 0;
  (void)mg_buf_printf(b, NULL, "%s %s%.*s HTTP/1.1\r\nHost: %.*s\r\n", method,
                      tlen && *target == '/' ? "" : "/", (int)tlen, target,
                      (int)alen, auth);
  (void)mg_buf_printf(b, NULL, "User-Agent: %s\r\n",
                      m->o.user_agent ? m->o.user_agent
                                      : "modelgate/" MG_VERSION);
  for (int i = 0; req->headers && req->headers[i]; i++) {
    const char *h = req->headers[i], *c = strchr(h, ':');
    size_t n = strlen(h);
    if (!c || strpbrk(h, "\r\n"))
      continue;
    if (c[1 + strspn(c + 1, " \t")] == '\0')
      continue; /* "Name:" removes a header, as in libcurl */
    if ((size_t)(c - h) == 6 && strncasecmp(h, "accept", 6) == 0)
      accept = 1;
    (void)mg_buf_add(b, h, n, NULL);
    (void)mg_buf_add(b, "\r\n", 2, NULL);
  }
  if (!accept)
    (void)mg_buf_addstr(b, "Accept: */*\r\n", NULL);
  if (m->o.bearer)
    (void)mg_buf_printf(b, NULL, "Authorization: Bearer %s\r\n", m->o.bearer);
  if (req->body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0)
    (void)mg_buf_printf(b, NULL, "Content-Length: %zu\r\n", req->body_len);
  (void)mg_buf_add(b, "\r\n", 2, NULL);
  if (req->body && req->body_len)
    (void)mg_buf_add(b, req->body, req->body_len, NULL);
  return 0;
}

/* A new connection for x->key; *msg says why not. */
static struct rconn *raw_connect(struct mg_http_multi *m, struct xfer *x,
                                 char *msg, size_t msgn)
{
  struct rconn *c;
  const char *colon = strrchr(x->key, ':');
  char host[256];
  int fd, one = 1;

  if (!m->addr_key || strcmp(m->addr_key, x->key) != 0) {
    struct addrinfo hints, *res = NULL;
    int rc;
    (void)snprintf(host, sizeof(host), "%.*s", (int)(colon - x->key), x->key);
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc != 0 || !res || res->ai_addrlen > sizeof(m->addr)) {
      (void)snprintf(msg, msgn, "Could not resolve host: %s", host);
      if (res)
        freeaddrinfo(res);
      return NULL;
    }
    memcpy(&m->addr, res->ai_addr, res->ai_addrlen);
    m->addr_len = res->ai_addrlen;
    freeaddrinfo(res);
    free(m->addr_key);
    m->addr_key = mg_xstrdup(x->key);
  }
  fd = socket(((struct sockaddr *)&m->addr)->sa_family,
              SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    (void)snprintf(msg, msgn, "cannot open a socket: %s", strerror(errno));
    return NULL;
  }
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  c = mg_xcalloc(1, sizeof(*c));
  c->fd = fd;
  c->gen = ++m->gen ? m->gen : ++m->gen;
  c->key = mg_xstrdup(x->key);
  c->t_open = mg_time_now_ns();
  m->nconns++;
  if (fd >= m->nbyfd) {
    int n = fd + 64;
    m->byfd = mg_xreallocarray(m->byfd, (size_t)n, sizeof(*m->byfd));
    memset(m->byfd + m->nbyfd, 0, (size_t)(n - m->nbyfd) * sizeof(*m->byfd));
    m->nbyfd = n;
  }
  m->byfd[fd] = c;
  if (connect(fd, (struct sockaddr *)&m->addr, m->addr_len) < 0) {
    if (errno != EINPROGRESS) {
      (void)snprintf(msg, msgn, "Failed to connect to %.*s port %s: %s",
                     (int)(colon - x->key), x->key, colon + 1, strerror(errno));
      raw_close(m, c);
      return NULL;
    }
    c->connecting = 1;
  }
  return c;
}
static long xfer_status(struct xfer *x)
{
  long status = 0;

  if (x->raw)
    return x->resp.state != MG_HTTP1_HEAD ? x->resp.status : 0;
  curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
  return status;
}

static void raw_start(struct mg_http_multi *m, struct xfer *x, int fresh);

/* x's connection broke (errno e, or msg): a reused connection that
 * carried nothing of the answer was closed by the server while idle, so
 * the request goes once more on a new one; else the transfer fails. */
static void raw_broken(struct mg_http_multi *m, struct xfer *x, int e,
                       const char *msg)
{
  char buf[300];
  struct rconn *c = x->rc;
  int reused = c && c->reused;

  x->rc = NULL;
  if (c)
    raw_close(m, c);
  if (reused && !x->got && !x->retried) {
    x->retried = 1;
    x->woff = 0;
    raw_start(m, x, 1);
    return;
  }
  if (e)
    (void)snprintf(buf, sizeof(buf), "%s: %s", msg, strerror(e));
  else
    (void)snprintf(buf, sizeof(buf), "%s", msg);
  x->cancelled = 1;
  xfer_done(x, 0, xfer_status(x), buf);
}

/* Writes what is left of the request; 0, or -1 if x is gone. */
static int raw_send(struct mg_http_multi *m, struct xfer *x)
{
  struct rconn *c = x->rc;

  while (x->woff < x->wbuf.len) {
    ssize_t n = send(c->fd, x->wbuf.data + x->woff, x->wbuf.len - x->woff,
                     MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      raw_events(m, c, EPOLLIN | EPOLLOUT);
      return 0;
    }
    if (n < 0) {
      raw_broken(m, x, errno, "Send failure");
      return -1;
    }
    x->woff += (size_t)n;
  }
  raw_events(m, c, EPOLLIN);
  return 0;
}

static void raw_start(struct mg_http_multi *m, struct xfer *x, int fresh)
{
  struct rconn *c = NULL;
  char msg[300];

  x->added = 1;
  mg_http1_resp_reset(&x->resp, x->no_body);
  if (!fresh)
    for (struct rconn *i = m->idle; i; i = i->next)
      if (strcmp(i->key, x->key) == 0) {
        c = i;
        raw_unidle(m, c);
        break;
      }
  if (!c)
    c = raw_connect(m, x, msg, sizeof(msg));
  if (!c) {
    x->cancelled = 1;
    xfer_done(x, 0, 0, msg);
    return;
  }
  c->x = x;
  x->rc = c;
  if (c->connecting)
    raw_events(m, c, EPOLLOUT);
  else
    (void)raw_send(m, x);
}

static void raw_on_head(void *arg, const struct mg_http1_resp *r)
{
  struct xfer *x = arg;

  x->hdr_done = 1;
  if (x->cb.on_headers && !x->cancelled && !x->cancel_req)
    x->cb.on_headers(x->cb.arg, r->status, x->m->t_read);
}

static int raw_on_body(void *arg, const char *p, size_t n)
{
  struct xfer *x = arg;

  if (x->cancelled || x->cancel_req)
    return -1;
  if (x->cb.on_data && x->cb.on_data(x->cb.arg, p, n, x->m->t_read) < 0) {
    x->cancelled = 1;
    return -1;
  }
  return 0;
}

/* The answer of x is complete: its connection goes idle or closes. */
static void raw_finish(struct mg_http_multi *m, struct xfer *x)
{
  struct rconn *c = x->rc;

  x->rc = NULL;
  c->x = NULL;
  if (x->resp.keep_alive) {
    c->reused = 1;
    c->next = m->idle;
    m->idle = c;
    raw_events(m, c, EPOLLIN);
  } else {
    raw_close(m, c);
  }
  xfer_done(x, 1, x->resp.status, NULL);
}

static void raw_read(struct mg_http_multi *m, struct xfer *x)
{
  struct mg_err err = MG_ERR_INIT;
  ssize_t n = recv(x->rc->fd, m->rbuf, m->rbuf_len, 0);
  int rc;

  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    return;
  if (n < 0) {
    raw_broken(m, x, errno, "Recv failure");
    return;
  }
  if (n == 0) {
    if (mg_http1_resp_eof(&x->resp, &err) == 0)
      raw_finish(m, x);
    else
      raw_broken(m, x, 0, err.msg);
    return;
  }
  m->t_read = mg_time_now_ns();
  x->last_io = m->t_read;
  x->got = 1;
  m->in_perform = 1;
  rc = mg_http1_resp_feed(&x->resp, m->rbuf, (size_t)n, raw_on_head,
                          raw_on_body, x, &err);
  m->in_perform = 0;
  if (x->cancel_req) {
    x->cancel_req = 0;
    x->cancelled = 1;
    m->pending--;
  }
  if (x->cancelled) {
    xfer_done(x, 0, xfer_status(x), "cancelled");
  } else if (rc < 0) {
    x->cancelled = 1;
    xfer_done(x, 0, xfer_status(x), err.msg);
  } else if (x->resp.state == MG_HTTP1_DONE) {
    raw_finish(m, x);
  }
}

/* Readiness of a raw connection. */
static void raw_event(struct mg_http_multi *m, struct rconn *c, uint32_t ev)
{
  struct xfer *x = c->x;

  if (!x) {
    /* Idle: the server closed it (or sent what it should not). */
    raw_unidle(m, c);
    raw_close(m, c);
    return;
  }
  if (c->connecting) {
    int e = 0;
    socklen_t l = sizeof(e);
    if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
      return;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &l) < 0)
      e = errno;
    if (e) {
      const char *colon = strrchr(c->key, ':');
      char msg[300];
      (void)snprintf(msg, sizeof(msg), "Failed to connect to %.*s port %s",
                     (int)(colon - c->key), c->key, colon + 1);
      raw_broken(m, x, e, msg);
      return;
    }
    c->connecting = 0;
  }
  if (x->woff < x->wbuf.len && raw_send(m, x) < 0)
    return;
  if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
    raw_read(m, x);
}

/* A raw transfer starts at the next run step (never inside add, whose
 * caller cannot take on_done yet). */
static long raw_add(struct mg_http_multi *m, struct xfer *x)
{
  x->raw = 1;
  mg_http1_resp_init(&x->resp, x->no_body);
  x->id = ++m->next_id;
  x->last_io = mg_time_now_ns();
  x->next = m->head;
  if (m->head)
    m->head->prev = x;
  m->head = x;
  m->count++;
  x->queued = 1;
  if (m->qtail)
    m->qtail->qnext = x;
  else
    m->qhead = x;
  m->qtail = x;
  return x->id;
}

long mg_http_multi_add(struct mg_http_multi *m,
                       const struct mg_http_request *req,
                       const struct mg_http_stream_cb *cb, struct mg_err *err)
{
  struct xfer *x = mg_xcalloc(1, sizeof(*x));

  x->m = m;
  x->cb = *cb;
  if (m->raw_on && !req->upload_path && req->resume_from <= 0
      && raw_prepare(m, x, req) == 0)
    return raw_add(m, x);
  x->h = m->npool ? m->pool[--m->npool] : curl_easy_init();
  if (!x->h) {
    free(x);
    return mg_err_set(err, MG_ERR_IO, "cannot start a request");
  }
  apply_opts(x->h, &m->o, x->errbuf);
  x->errbuf[0] = '\0';
  curl_easy_setopt(x->h, CURLOPT_URL, req->url);
  x->hl = hdr_list_get(m, req);
  curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->hl->l);
  curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, multi_write_cb);
  curl_easy_setopt(x->h, CURLOPT_WRITEDATA, (void *)x);
  curl_easy_setopt(x->h, CURLOPT_HEADERFUNCTION, multi_header_cb);
  curl_easy_setopt(x->h, CURLOPT_HEADERDATA, (void *)x);
  curl_easy_setopt(x->h, CURLOPT_PRIVATE, (void *)x);
  if (apply_request(x->h, req, &x->upload, err) < 0) {
    curl_easy_cleanup(x->h);
    hdr_list_put(m, x->hl);
    free(x);
    return -1;
  }
  x->id = ++m->next_id;
  x->last_io = mg_time_now_ns();
  x->next = m->head;
  if (m->head)
    m->head->prev = x;
  m->head = x;
  m->count++;
  if (m->in_perform) {
    m->pending++;
  } else {
    if (curl_multi_add_handle(m->cm, x->h) != CURLM_OK) {
      m->next_id--;
      x->cb.on_done = NULL;
      xfer_free(x);
      return mg_err_set(err, MG_ERR_IO, "cannot start a request");
    }
    x->added = 1;
  }
  return x->id;
}

void mg_http_multi_cancel(struct mg_http_multi *m, long id)
{
  struct xfer *x;

  for (x = m->head; x; x = x->next)
    if (x->id == id)
      break;
  if (!x || x->cancelled || x->cancel_req)
    return;
  if (m->in_perform) {
    x->cancel_req = 1;
    m->pending++;
    return;
  }
  x->cancelled = 1;
  xfer_done(x, 0, 0, "cancelled");
}

/* Adds deferred transfers and runs deferred cancels. */
static void flush_pending(struct mg_http_multi *m)
{
  struct xfer *x;

again:
  while (m->qhead && !m->in_perform) {
    x = m->qhead;
    m->qhead = x->qnext;
    if (!m->qhead)
      m->qtail = NULL;
    x->queued = 0;
    x->qnext = NULL;
    raw_start(m, x, 0);
  }
  if (!m->pending)
    return;
  for (x = m->head; x; x = x->next) {
    if (x->cancel_req && !x->cancelled) {
      long status = xfer_status(x);
      x->cancelled = 1;
      m->pending--;
      xfer_done(x, 0, status, "cancelled");
      goto again;
    }
    if (!x->added && !x->cancelled && !x->raw) {
      m->pending--;
      if (curl_multi_add_handle(m->cm, x->h) == CURLM_OK) {
        x->added = 1;
      } else {
        x->cancelled = 1;
        xfer_done(x, 0, 0, "cannot start the transfer");
        goto again;
      }
    }
  }
  m->pending = 0;
}

static void drain_info(struct mg_http_multi *m)
{
  CURLMsg *msg;
  int left;

  while ((msg = curl_multi_info_read(m->cm, &left))) {
    struct xfer *x = NULL;
    long status = 0;
    CURLcode rc;
    const char *em;

    if (msg->msg != CURLMSG_DONE)
      continue;
    rc = msg->data.result;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
    if (x->cancelled || x->cancel_req) {
      if (x->cancel_req)
        m->pending--;
      xfer_done(x, 0, status, "cancelled");
    } else if (rc == CURLE_OK) {
      xfer_done(x, 1, status, NULL);
    } else {
      char tbuf[CURL_ERROR_SIZE + 16];
      em = x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc);
      /* libcurl's low-speed abort says "Operation too slow": callers
       * tell a timeout by "timed out" at the start. */
      if (rc == CURLE_OPERATION_TIMEDOUT && !strstr(em, "timed out")) {
        (void)snprintf(tbuf, sizeof(tbuf), "timed out: %s", em);
        em = tbuf;
      }
      xfer_done(x, 0, status, em);
    }
  }
}

/* One curl action (socket readiness or its timeout), then the callbacks
 * that follow from it. */
static void action(struct mg_http_multi *m, curl_socket_t fd, int flags)
{
  int running;

  m->in_perform = 1;
  curl_multi_socket_action(m->cm, fd, flags, &running);
  m->in_perform = 0;
  flush_pending(m);
  drain_info(m);
  flush_pending(m);
}

/* Runs curl's timeout while it is due; transfers added by on_done start at
 * once, within a few rounds. */
static void timers_due(struct mg_http_multi *m)
{
  for (int i = 0; i < 4 && m->timer_at >= 0 && mg_time_now_ns() >= m->timer_at;
       i++) {
    m->timer_at = -1;
    action(m, CURL_SOCKET_TIMEOUT, 0);
  }
}

/*
 * Waits until a socket is ready, curl's timer or wake_ns (0: none),
 * whichever comes first, but at most timeout_ms (0: do not wait), then
 * acts on what is ready and on due timers.
 */
static void wait_and_act(struct mg_http_multi *m, long timeout_ms,
                         long long wake_ns)
{
  struct epoll_event ev[MAX_EVENTS];
  int n;

  if (m->epfd < 0) {
    /* No epoll: libcurl's own loop. */
    int running;
    m->in_perform = 1;
    curl_multi_perform(m->cm, &running);
    m->in_perform = 0;
    flush_pending(m);
    drain_info(m);
    flush_pending(m);
    if (timeout_ms > 0 && m->count > 0) {
      curl_multi_poll(m->cm, NULL, 0, (int)timeout_ms, NULL);
      wait_and_act(m, 0, 0);
    }
    return;
  }
  if (m->timer_at >= 0 && timeout_ms > 0) {
    long long now = mg_time_now_ns();
    if (m->timer_at <= now) {
      timeout_ms = 0;
    } else {
      long t = (long)((m->timer_at - now + 999999) / 1000000);
      if (t < timeout_ms) {
        timeout_ms = t;
        wake_ns = wake_ns && wake_ns < m->timer_at ? wake_ns : m->timer_at;
      }
    }
  }
  if (timeout_ms > 0 && wake_ns > 0 && m->tfd >= 0 && wake_ns != m->armed) {
    struct itimerspec its;
    memset(&its, 0, sizeof(its));
    its.it_value.tv_sec = wake_ns / 1000000000LL;
    its.it_value.tv_nsec = wake_ns % 1000000000LL;
    if (timerfd_settime(m->tfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
      m->armed = wake_ns;
  }
  n = epoll_wait(m->epfd, ev, MAX_EVENTS, (int)timeout_ms);
  for (int i = 0; i < n; i++) {
    int fl = 0;
    uint32_t gen = (uint32_t)(ev[i].data.u64 >> 32);
    if (gen) {
      int fd = (int)(uint32_t)ev[i].data.u64;
      struct rconn *c = fd < m->nbyfd ? m->byfd[fd] : NULL;
      if (c && c->gen == gen) {
        raw_event(m, c, ev[i].events);
        flush_pending(m);
      }
      continue;
    }
    if (ev[i].data.fd == m->tfd) {
      uint64_t exp;
      ssize_t r = read(m->tfd, &exp, sizeof(exp));
      (void)r;
      m->armed = 0;
      continue;
    }
    if (ev[i].events & EPOLLIN)
      fl |= CURL_CSELECT_IN;
    if (ev[i].events & EPOLLOUT)
      fl |= CURL_CSELECT_OUT;
    if (ev[i].events & (EPOLLERR | EPOLLHUP))
      fl |= CURL_CSELECT_ERR;
    action(m, ev[i].data.fd, fl);
  }
  timers_due(m);
}

/* Scan period of the idle timeout: an eighth of it, 10 ms to 1 s. */
static long long idle_period_ns(const struct mg_http_multi *m)
{
  long long p = (long long)m->o.idle_timeout_ms * 125000;

  if (m->nconns && (p <= 0 || p > (long long)m->connect_ms * 125000))
    p = (long long)m->connect_ms * 125000;
  return p < 10000000LL ? 10000000LL : p > 1000000000LL ? 1000000000LL : p;
}

/*
 * Ends the transfers that received nothing for idle_timeout_ms (httpx's
 * read timeout, as GuideLLM applies it). Transfers that on_done adds go
 * to the head, behind the scan; one that on_done removes may be the
 * next one, so the scan then starts again.
 */
static void idle_scan(struct mg_http_multi *m)
{
  long long now, lim;
  char msg[96];

  if ((m->o.idle_timeout_ms <= 0 && !m->nconns) || m->in_perform)
    return;
  now = mg_time_now_ns();
  if (now < m->next_idle_scan)
    return;
  m->next_idle_scan = now + idle_period_ns(m);
  lim = m->o.idle_timeout_ms > 0
            ? now - (long long)m->o.idle_timeout_ms * 1000000
            : -1;
  for (struct xfer *x = m->head, *nx; x; x = nx) {
    unsigned long f = m->freed;
    nx = x->next;
    if (x->cancelled || x->cancel_req)
      continue;
    /* libcurl applies its own connect timeout; the raw path's is here. */
    if (x->rc && x->rc->connecting
        && now - x->rc->t_open > (long long)m->connect_ms * 1000000)
      (void)snprintf(msg, sizeof(msg), "timed out: connect took over %ld ms",
                     m->connect_ms);
    else if (x->last_io <= lim)
      (void)snprintf(msg, sizeof(msg), "timed out: nothing received for %ld ms",
                     m->o.idle_timeout_ms);
    else
      continue;
    x->cancelled = 1;
    xfer_done(x, 0, xfer_status(x), msg);
    if (m->freed != f + 1)
      nx = m->head;
  }
}

/* The wait in ms, shortened to the next idle scan when one is due. */
static long idle_cap(const struct mg_http_multi *m, long timeout_ms)
{
  long long left;

  if ((m->o.idle_timeout_ms <= 0 && !m->nconns) || m->count == 0
      || timeout_ms <= 0)
    return timeout_ms;
  left = (m->next_idle_scan - mg_time_now_ns()) / 1000000 + 1;
  if (left < 1)
    left = 1;
  return left < timeout_ms ? (long)left : timeout_ms;
}

/*
 * A transfer that finished in the steps before the wait (curl can send a
 * request and read the whole answer of a fast server inside the timer
 * step) has run its on_done, which the caller wants to act on (a closed
 * loop starts the next request): waiting then would stall it until the
 * deadline. So the wait happens only when nothing finished.
 */
int mg_http_multi_run(struct mg_http_multi *m, long timeout_ms)
{
  unsigned long seq = m->done_seq;

  flush_pending(m);
  idle_scan(m);
  timers_due(m);
  wait_and_act(m, 0, 0);
  if (m->count > 0 && timeout_ms > 0 && m->done_seq == seq)
    wait_and_act(m, idle_cap(m, timeout_ms), 0);
  return m->count;
}

int mg_http_multi_run_until(struct mg_http_multi *m, long long deadline_ns)
{
  unsigned long seq = m->done_seq;
  long long now;

  flush_pending(m);
  idle_scan(m);
  timers_due(m);
  now = mg_time_now_ns();
  if (deadline_ns <= now || m->done_seq != seq) {
    wait_and_act(m, 0, 0);
    return m->count;
  }
  /* Milliseconds rounded up, plus one: the timerfd wakes at the
   * nanosecond, the epoll timeout is only the backstop. */
  wait_and_act(m, idle_cap(m, (long)((deadline_ns - now) / 1000000) + 1),
               deadline_ns);
  return m->count;
}

int mg_http_multi_running(const struct mg_http_multi *m)
{
  return m->count;
}

char *mg_http_multi_header(struct mg_http_multi *m, long id, const char *name)
{
  struct curl_header *h = NULL;
  struct xfer *x;

  for (x = m->head; x; x = x->next)
    if (x->id == id)
      break;
  if (!x || !x->hdr_done)
    return NULL;
  if (x->raw)
    return mg_http1_resp_header(&x->resp, name);
  if (curl_easy_header(x->h, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
    return NULL;
  if (h->amount > 1
      && curl_easy_header(x->h, name, h->amount - 1, CURLH_HEADER, -1, &h)
             != CURLHE_OK)
    return NULL;
  return mg_xstrdup(h->value);
}

void mg_http_multi_free(struct mg_http_multi *m)
{
  if (!m)
    return;
  while (m->head) {
    struct xfer *x = m->head;
    long status = xfer_status(x);
    x->cancelled = 1;
    xfer_done(x, 0, status, "cancelled");
  }
  while (m->idle) {
    struct rconn *c = m->idle;
    m->idle = c->next;
    raw_close(m, c);
  }
  free(m->byfd);
  free(m->rbuf);
  free(m->addr_key);
  curl_multi_cleanup(m->cm);
  for (int i = 0; i < m->npool; i++)
    curl_easy_cleanup(m->pool[i]);
  free(m->pool);
  if (m->hl && m->hl->refs == 0)
    hdr_list_free(m->hl);
  if (m->tfd >= 0)
    close(m->tfd);
  if (m->epfd >= 0)
    close(m->epfd);
  free(m);
}
