#include "mg_http1.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "mg_mem.h"

#define LINE_MAX_ 1024 /* a chunk-size or trailer line */
#define SIZE_MAX_ ((long long)1 << 60)

void mg_http1_resp_init(struct mg_http1_resp *r, int no_body)
{
  memset(r, 0, sizeof(*r));
  mg_buf_init(&r->head, MG_HTTP1_HEAD_MAX + 1);
  mg_buf_init(&r->line, LINE_MAX_);
  r->no_body = no_body;
}

void mg_http1_resp_reset(struct mg_http1_resp *r, int no_body)
{
  mg_buf_reset(&r->head);
  mg_buf_reset(&r->line);
  r->state = MG_HTTP1_HEAD;
  r->no_body = no_body;
  r->status = 0;
  r->keep_alive = r->until_close = r->sawcr = 0;
  r->left = 0;
}

void mg_http1_resp_release(struct mg_http1_resp *r)
{
  mg_buf_release(&r->head);
  mg_buf_release(&r->line);
  memset(r, 0, sizeof(*r));
}

static int bad(struct mg_err *err, const char *why)
{
  return mg_err_set(err, MG_ERR_REMOTE, "malformed HTTP response: %s", why);
}

/* Case-insensitive: does the comma-separated list v[0..n) hold token? */
static int has_token(const char *v, size_t n, const char *token)
{
  size_t k = strlen(token), i = 0;

  while (i < n) {
    size_t j = i, e;
    while (j < n && v[j] != ',')
      j++;
    e = j;
    while (i < e && (v[i] == ' ' || v[i] == '\t'))
      i++;
    while (e > i && (v[e - 1] == ' ' || v[e - 1] == '\t'))
      e--;
    if (e - i == k && strncasecmp(v + i, token, k) == 0)
      return 1;
    i = j + 1;
  }
  return 0;
}

/* The last comma-separated element of v[0..n) is token. */
static int last_token(const char *v, size_t n, const char *token)
{
  size_t k = strlen(token), e = n, i;

  while (e > 0 && (v[e - 1] == ' ' || v[e - 1] == '\t'))
    e--;
  i = e;
  while (i > 0 && v[i - 1] != ',')
    i--;
  while (i < e && (v[i] == ' ' || v[i] == '\t'))
    i++;
  return e - i == k && strncasecmp(v + i, token, k) == 0;
}

/*
 * Parses the complete head in r->head (len bytes, NUL-terminated, ending
 * with the blank line). Sets status, framing and keep-alive.
 */
static int parse_head(struct mg_http1_resp *r, struct mg_err *err)
{
  char *p = r->head.data, *end = r->head.data + r->head.len;
  long long clen = -1;
  int minor, chunked = 0, te = 0, close = 0, keep = 0;

  if (r->head.len < 12 || memcmp(p, "HTTP/1.", 7) != 0
      || (p[7] != '0' && p[7] != '1') || p[8] != ' ' || p[9] < '1' || p[9] > '5'
      || p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9'
      || (r->head.len > 12 && p[12] != ' ' && p[12] != '\r' && p[12] != '\n'))
    return bad(err, "no HTTP/1.x status line");
  minor = p[7] - '0';
  r->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
  p = memchr(p, '\n', (size_t)(end - p));
  if (!p)
    return bad(err, "no end of the status line");
  p++;
  while (p < end) {
    char *eol = memchr(p, '\n', (size_t)(end - p)), *colon, *v, *ve;
    size_t n = (size_t)(eol - p);
    if (n > 0 && p[n - 1] == '\r')
      n--;
    if (n == 0)
      break;
    if (*p == ' ' || *p == '\t')
      return bad(err, "a folded header line");
    colon = memchr(p, ':', n);
    if (!colon || colon == p)
      return bad(err, "a header line without a name");
    for (char *q = p; q < colon; q++)
      if (*q == ' ' || *q == '\t' || (unsigned char)*q < 0x21)
        return bad(err, "a header name with white space");
    v = colon + 1;
    ve = p + n;
    while (v < ve && (*v == ' ' || *v == '\t'))
      v++;
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
      ve--;
#define NAME(lit)                                                              \
  ((size_t)(colon - p) == sizeof(lit) - 1                                      \
   && strncasecmp(p, lit, sizeof(lit) - 1) == 0)
    if (NAME("content-length")) {
      long long c = 0;
      if (v == ve)
        return bad(err, "an empty Content-Length");
      for (char *q = v; q < ve; q++) {
        if (*q < '0' || *q > '9' || c > SIZE_MAX_ / 10)
          return bad(err, "an invalid Content-Length");
        c = c * 10 + (*q - '0');
      }
      if (clen >= 0 && c != clen)
        return bad(err, "conflicting Content-Length values");
      clen = c;
    } else if (NAME("transfer-encoding")) {
      te = 1;
      chunked = last_token(v, (size_t)(ve - v), "chunked");
    } else if (NAME("connection")) {
      close |= has_token(v, (size_t)(ve - v), "close");
      keep |= has_token(v, (size_t)(ve - v), "keep-alive");
    }
#undef NAME
    p = eol + 1;
  }
  r->keep_alive = !close && (minor == 1 || keep);
  r->until_close = 0;
  if (r->no_body || r->status == 204 || r->status == 304
      || (r->status >= 100 && r->status < 200)) {
    r->state = MG_HTTP1_DONE;
  } else if (te) {
    if (!chunked) {
      r->until_close = 1;
      r->keep_alive = 0;
      r->state = MG_HTTP1_BODY;
    } else {
      r->state = MG_HTTP1_CHUNK_SIZE;
    }
  } else if (clen >= 0) {
    r->left = clen;
    r->state = clen ? MG_HTTP1_BODY : MG_HTTP1_DONE;
  } else {
    r->until_close = 1;
    r->keep_alive = 0;
    r->state = MG_HTTP1_BODY;
  }
  return 0;
}

/*
 * Appends head bytes; *used is how many of p[0..n) belong to the head.
 * Returns 1 when the head is complete, 0 when more is needed, -1 on error.
 */
static int head_add(struct mg_http1_resp *r, const char *p, size_t n,
                    size_t *used, struct mg_err *err)
{
  size_t old = r->head.len, from = old > 3 ? old - 3 : 0, k = n;
  const char *h;

  if (old + k > MG_HTTP1_HEAD_MAX)
    k = MG_HTTP1_HEAD_MAX - old;
  if (mg_buf_add(&r->head, p, k, NULL) < 0)
    return bad(err, "a header block too large");
  h = r->head.data;
  for (size_t i = from; i < r->head.len; i++) {
    if (h[i] != '\n')
      continue;
    if ((i + 1 < r->head.len && h[i + 1] == '\n')
        || (i + 2 < r->head.len && h[i + 1] == '\r' && h[i + 2] == '\n')) {
      size_t e = i + (h[i + 1] == '\n' ? 2 : 3);
      *used = e - old;
      mg_buf_truncate(&r->head, e);
      return 1;
    }
  }
  *used = k;
  if (r->head.len >= MG_HTTP1_HEAD_MAX)
    return bad(err, "a header block too large");
  return 0;
}

/*
 * Reads a line into r->line up to LF; *used bytes consumed. Returns 1
 * with the line (CR removed, NUL-terminated) complete, 0 for more, -1
 * when it is too long.
 */
static int line_add(struct mg_http1_resp *r, const char *p, size_t n,
                    size_t *used, struct mg_err *err)
{
  const char *lf = memchr(p, '\n', n);
  size_t k = lf ? (size_t)(lf - p) : n;

  if (mg_buf_add(&r->line, p, k, NULL) < 0
      || mg_buf_grow(&r->line, 1, NULL) < 0)
    return bad(err, "a chunk line too long");
  *used = lf ? k + 1 : k;
  if (!lf)
    return 0;
  if (r->line.len && r->line.data[r->line.len - 1] == '\r')
    mg_buf_truncate(&r->line, r->line.len - 1);
  return 1;
}

static int chunk_size(struct mg_http1_resp *r, struct mg_err *err)
{
  const char *s = r->line.data;
  long long v = 0;
  int digits = 0;

  while (*s == ' ' || *s == '\t')
    s++;
  for (;; s++) {
    int d;
    if (*s >= '0' && *s <= '9')
      d = *s - '0';
    else if (*s >= 'a' && *s <= 'f')
      d = *s - 'a' + 10;
    else if (*s >= 'A' && *s <= 'F')
      d = *s - 'A' + 10;
    else
      break;
    if (v > SIZE_MAX_ / 16)
      return bad(err, "a chunk size too large");
    v = v * 16 + d;
    digits++;
  }
  while (*s == ' ' || *s == '\t')
    s++;
  if (!digits || (*s && *s != ';'))
    return bad(err, "an invalid chunk size");
  r->left = v;
  r->state = v ? MG_HTTP1_CHUNK_DATA : MG_HTTP1_TRAILER;
  return 0;
}

int mg_http1_resp_feed(struct mg_http1_resp *r, const char *p, size_t n,
                       mg_http1_head_fn *on_head, mg_http1_body_fn *on_body,
                       void *arg, struct mg_err *err)
{
  while (n > 0) {
    size_t used = 0, k;
    int rc;

    switch (r->state) {
    case MG_HTTP1_HEAD:
      rc = head_add(r, p, n, &used, err);
      if (rc < 0)
        return -1;
      if (rc == 1) {
        if (parse_head(r, err) < 0)
          return -1;
        if (r->status < 200) {
          if (r->status == 101)
            return bad(err, "an unexpected protocol switch");
          mg_http1_resp_reset(r, r->no_body);
        } else if (on_head) {
          on_head(arg, r);
        }
      }
      break;
    case MG_HTTP1_BODY:
      k = r->until_close || (long long)n < r->left ? n : (size_t)r->left;
      if (on_body && on_body(arg, p, k) < 0)
        return mg_err_set(err, MG_ERR_IO, "aborted");
      used = k;
      if (!r->until_close) {
        r->left -= (long long)k;
        if (r->left == 0)
          r->state = MG_HTTP1_DONE;
      }
      break;
    case MG_HTTP1_CHUNK_DATA:
      k = (long long)n < r->left ? n : (size_t)r->left;
      if (on_body && on_body(arg, p, k) < 0)
        return mg_err_set(err, MG_ERR_IO, "aborted");
      used = k;
      r->left -= (long long)k;
      if (r->left == 0)
        r->state = MG_HTTP1_CHUNK_CRLF;
      break;
    case MG_HTTP1_CHUNK_SIZE:
    case MG_HTTP1_CHUNK_CRLF:
    case MG_HTTP1_TRAILER:
      rc = line_add(r, p, n, &used, err);
      if (rc < 0)
        return -1;
      if (rc == 1) {
        size_t len = r->line.len;
        rc = 0;
        if (r->state == MG_HTTP1_CHUNK_SIZE)
          rc = chunk_size(r, err);
        else if (r->state == MG_HTTP1_CHUNK_CRLF && len)
          rc = bad(err, "no line end after a chunk");
        else if (r->state == MG_HTTP1_CHUNK_CRLF)
          r->state = MG_HTTP1_CHUNK_SIZE;
        else if (len == 0)
          r->state = MG_HTTP1_DONE;
        mg_buf_reset(&r->line);
        if (rc < 0)
          return -1;
      }
      break;
    case MG_HTTP1_DONE:
      return bad(err, "bytes after the end of the response");
    }
    p += used;
    n -= used;
  }
  return 0;
}

int mg_http1_resp_eof(struct mg_http1_resp *r, struct mg_err *err)
{
  if (r->state == MG_HTTP1_DONE
      || (r->state == MG_HTTP1_BODY && r->until_close)) {
    r->state = MG_HTTP1_DONE;
    return 0;
  }
  return mg_err_set(err, MG_ERR_REMOTE,
                    r->state == MG_HTTP1_HEAD && r->head.len == 0
                        ? "the server closed the connection without an "
                          "answer"
                        : "the connection ended inside the response");
}

char *mg_http1_resp_header(const struct mg_http1_resp *r, const char *name)
{
  size_t nl = strlen(name);
  const char *p, *end, *found = NULL, *fe = NULL;

  if (r->state == MG_HTTP1_HEAD || !r->head.data)
    return NULL;
  p = r->head.data;
  end = p + r->head.len;
  p = memchr(p, '\n', (size_t)(end - p));
  while (p && ++p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol)
      break;
    if ((size_t)(eol - p) > nl && p[nl] == ':'
        && strncasecmp(p, name, nl) == 0) {
      found = p + nl + 1;
      fe = eol;
    }
    p = eol;
  }
  if (!found)
    return NULL;
  while (found < fe && (*found == ' ' || *found == '\t'))
    found++;
  while (fe > found && (fe[-1] == '\r' || fe[-1] == ' ' || fe[-1] == '\t'))
    fe--;
  return mg_xstrndup(found, (size_t)(fe - found));
}
