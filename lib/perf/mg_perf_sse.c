#include "perf/mg_perf_sse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mg_digest.h"
#include "mg_mem.h"
#include "mg_utf8.h"

void mg_perf_sse_init(struct mg_perf_sse *s, size_t max_line)
{
  memset(s, 0, sizeof(*s));
  mg_buf_init(&s->line, max_line);
  mg_buf_init(&s->data, max_line);
}

void mg_perf_sse_release(struct mg_perf_sse *s)
{
  mg_buf_release(&s->line);
  mg_buf_release(&s->data);
  s->borrowed = 0;
  s->bp = NULL;
}

int mg_perf_sse_pending(const struct mg_perf_sse *s)
{
  return s->line.len > 0 || s->has_data;
}

/* Copies a borrowed data line into s->data (the bytes are going away). */
static int own_data(struct mg_perf_sse *s)
{
  if (!s->borrowed)
    return 0;
  s->borrowed = 0;
  mg_buf_reset(&s->data);
  if (mg_buf_add(&s->data, s->bp, s->bn, NULL) < 0)
    return -1;
  return s->data.data || mg_buf_grow(&s->data, 1, NULL) == 0 ? 0 : -1;
}

/*
 * Handles one complete line; in_feed: l points into the caller's bytes
 * (not into s->line), so a first data line may be borrowed.
 */
static int line_done(struct mg_perf_sse *s, const char *l, size_t n,
                     int in_feed,
                     int (*on_event)(void *, const char *, size_t, int),
                     void *arg, int *nth)
{
  const char *v;
  size_t vn;

  if (n == 0) {
    if (s->has_data) {
      int rc;
      s->events++;
      if (s->borrowed)
        rc = on_event(arg, s->bp, s->bn, (*nth)++);
      else
        rc = on_event(arg, s->data.data, s->data.len, (*nth)++);
      mg_buf_reset(&s->data);
      s->has_data = 0;
      s->borrowed = 0;
      if (rc < 0)
        return -1;
    }
    return 0;
  }
  if (l[0] == ':' || n < 4 || memcmp(l, "data", 4) != 0)
    return 0;
  if (n == 4) {
    v = l + 4;
    vn = 0;
  } else if (l[4] == ':') {
    v = l + 5;
    vn = n - 5;
    if (vn && *v == ' ') {
      v++;
      vn--;
    }
  } else {
    return 0;
  }
  if (!s->has_data && in_feed) {
    if (vn >= s->data.max)
      return -1;
    s->bp = v;
    s->bn = vn;
    s->borrowed = 1;
    s->has_data = 1;
    return 0;
  }
  if (own_data(s) < 0)
    return -1;
  if (s->has_data && mg_buf_addch(&s->data, '\n', NULL) < 0)
    return -1;
  if (mg_buf_add(&s->data, v, vn, NULL) < 0)
    return -1;
  if (!s->data.data && mg_buf_grow(&s->data, 1, NULL) < 0)
    return -1;
  s->has_data = 1;
  return 0;
}

/* The first CR or LF in p[0..n), or NULL. */
static const char *find_eol(const char *p, size_t n)
{
  const char *lf = memchr(p, '\n', n);
  const char *cr = memchr(p, '\r', lf ? (size_t)(lf - p) : n);

  return cr ? cr : lf;
}

int mg_perf_sse_feed(struct mg_perf_sse *s, const char *p, size_t n,
                     int (*on_event)(void *arg, const char *data, size_t len,
                                     int nth),
                     void *arg)
{
  size_t i = 0;
  int nth = 0, rc = 0;

  while (i < n) {
    const char *eol;
    size_t k;

    if (s->last_cr) {
      s->last_cr = 0;
      if (p[i] == '\n') {
        i++;
        continue;
      }
    }
    eol = find_eol(p + i, n - i);
    if (!eol) {
      if (mg_buf_add(&s->line, p + i, n - i, NULL) < 0)
        rc = -1;
      break;
    }
    k = (size_t)(eol - p);
    if (*eol == '\r')
      s->last_cr = 1;
    if (s->line.len) {
      if (mg_buf_add(&s->line, p + i, k - i, NULL) < 0
          || line_done(s, s->line.data, s->line.len, 0, on_event, arg, &nth)
                 < 0) {
        rc = -1;
        break;
      }
      mg_buf_reset(&s->line);
    } else if (line_done(s, p + i, k - i, 1, on_event, arg, &nth) < 0) {
      rc = -1;
      break;
    }
    i = k + 1;
  }
  /* A borrowed line must not outlive p. */
  if (own_data(s) < 0)
    rc = -1;
  return rc;
}

/*
 * The chunk scanner: a validating JSON walk over one document, iterative
 * (an explicit stack of open containers) and without a call per token,
 * because perf-run scans every event of every stream: tens of thousands a
 * second.
 */

enum kind {
  K_OTHER,
  K_ROOT,
  K_CHOICES,
  K_CHOICE,
  K_DELTA,
  K_TEXT,
  K_REASONING,
  K_TOOL_CALLS,
  K_USAGE,
  K_PROMPT_TOKENS,
  K_COMPLETION_TOKENS,
  K_ERROR,
  K_ERROR_MESSAGE,
};

#define MAX_DEPTH 64

static int is_hex(char c)
{
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
         || (c >= 'A' && c <= 'F');
}

/*
 * The first byte at or after p that ends a run of plain string bytes: '"',
 * '\\' or a control byte (< 0x20); end if none. Eight bytes at a time on
 * little-endian machines (the lowest flagged byte of the word is exact).
 */
static inline const char *plain_run(const char *p, const char *end)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;

  while (end - p >= 8) {
    uint64_t x, q, b, t;
    memcpy(&x, p, 8);
    q = x ^ (ones * '"');
    b = x ^ (ones * '\\');
    t = ((q - ones) & ~q) | ((b - ones) & ~b) | ((x - ones * 0x20) & ~x);
    t &= high;
    if (t)
      return p + (__builtin_ctzll(t) >> 3);
    p += 8;
  }
#endif
  while (p < end && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
    p++;
  return p;
}

/* The string whose opening quote is at p[-1]: returns the position of its
 * closing quote, or NULL if it is not a valid JSON string. */
static const char *string_end(const char *p, const char *end)
{
  for (;;) {
    p = plain_run(p, end);
    if (p >= end || (unsigned char)*p < 0x20)
      return NULL;
    if (*p == '"')
      return p;
    if (++p >= end)
      return NULL;
    if (*p == 'u') {
      if (end - p < 5 || !is_hex(p[1]) || !is_hex(p[2]) || !is_hex(p[3])
          || !is_hex(p[4]))
        return NULL;
      p += 4;
    } else if (!strchr("\"\\/bfnrt", *p)) {
      return NULL;
    }
    p++;
  }
}

/* A number at p; *iv its value when integral (else -1). */
static const char *number_end(const char *p, const char *end, long long *iv)
{
  long long v = 0;
  int neg = 0, integral = 1;
  const char *d;

  if (p < end && *p == '-') {
    neg = 1;
    p++;
  }
  d = p;
  if (p < end && *p == '0') {
    p++;
  } else {
    while (p < end && *p >= '0' && *p <= '9') {
      if (v < 100000000000000000LL)
        v = v * 10 + (*p - '0');
      p++;
    }
  }
  if (p == d)
    return NULL;
  if (p < end && *p == '.') {
    integral = 0;
    d = ++p;
    while (p < end && *p >= '0' && *p <= '9')
      p++;
    if (p == d)
      return NULL;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    integral = 0;
    p++;
    if (p < end && (*p == '+' || *p == '-'))
      p++;
    d = p;
    while (p < end && *p >= '0' && *p <= '9')
      p++;
    if (p == d)
      return NULL;
  }
  *iv = integral ? (neg ? -v : v) : -1;
  return p;
}

static enum kind child_kind(enum kind parent, const char *key, size_t n)
{
#define IS(lit) (n == sizeof(lit) - 1 && memcmp(key, lit, n) == 0)
  switch (parent) {
  case K_ROOT:
    if (IS("choices"))
      return K_CHOICES;
    if (IS("usage"))
      return K_USAGE;
    if (IS("error"))
      return K_ERROR;
    return K_OTHER;
  case K_CHOICE:
    if (IS("text"))
      return K_TEXT;
    if (IS("delta") || IS("message"))
      return K_DELTA;
    return K_OTHER;
  case K_DELTA:
    if (IS("content"))
      return K_TEXT;
    if (IS("reasoning") || IS("reasoning_content"))
      return K_REASONING;
    if (IS("tool_calls"))
      return K_TOOL_CALLS;
    return K_OTHER;
  case K_USAGE:
    if (IS("prompt_tokens"))
      return K_PROMPT_TOKENS;
    if (IS("completion_tokens"))
      return K_COMPLETION_TOKENS;
    return K_OTHER;
  case K_ERROR:
    if (IS("message"))
      return K_ERROR_MESSAGE;
    return K_OTHER;
  default:
    return K_OTHER;
  }
#undef IS
}

static void set_error_msg(struct mg_perf_sse_chunk *c, const char *b, size_t n)
{
  if (n >= sizeof(c->error_msg))
    n = sizeof(c->error_msg) - 1;
  memcpy(c->error_msg, b, n);
  c->error_msg[n] = '\0';
}

static const char *skip_ws(const char *p, const char *end)
{
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    p++;
  return p;
}

/* What a scalar of kind k says. */
static void note_string(struct mg_perf_sse_chunk *c, enum kind k, const char *b,
                        size_t n)
{
  if (k == K_ERROR)
    c->error = 1;
  if (!n)
    return;
  if (k == K_TEXT) {
    c->text = 1;
    c->text_bytes += n;
    c->text_ptr = b;
    c->text_len = n;
  } else if (k == K_REASONING) {
    c->reasoning = 1;
  } else if (k == K_ERROR || k == K_ERROR_MESSAGE) {
    set_error_msg(c, b, n);
  }
}

enum state { S_VALUE, S_KEY, S_AFTER };

/* Skips white space; JSON from servers rarely has any, so test first. */
#define WS(p, end)                                                             \
  do {                                                                         \
    if ((p) < (end) && (unsigned char)*(p) <= ' ')                             \
      (p) = skip_ws((p), (end));                                               \
  } while (0)

/* Scanner state after a comma inside an object (a key comes next): all it
 * decided so far depends only on the bytes before off. */
static void checkpoint(struct mg_perf_sse_chunk_cache *cc, const char *base,
                       size_t off, int depth, const char *close,
                       const unsigned char *kind,
                       const struct mg_perf_sse_chunk *c)
{
  struct mg_perf_sse_chunk_ckpt *k;

  if (cc->nck == MG_PERF_CKPT_MAX || depth > MG_PERF_CKPT_DEPTH || c->error)
    return;
  k = &cc->ck[cc->nck++];
  k->off = (uint32_t)off;
  k->depth = (unsigned char)depth;
  memcpy(k->close, close, MG_PERF_CKPT_DEPTH);
  memcpy(k->kind, kind, MG_PERF_CKPT_DEPTH);
  k->flags = (unsigned char)((c->choices ? 1 : 0) | (c->text ? 2 : 0)
                             | (c->reasoning ? 4 : 0) | (c->tool_calls ? 8 : 0)
                             | (c->usage ? 16 : 0));
  k->prompt_tokens = c->prompt_tokens;
  k->completion_tokens = c->completion_tokens;
  k->text_bytes = (uint32_t)c->text_bytes;
  k->text_off = c->text_ptr ? (uint32_t)(c->text_ptr - base) : 0;
  k->text_len = c->text_ptr ? (uint32_t)c->text_len : 0;
}

static int scan_doc(const char *base, size_t n, struct mg_perf_sse_chunk *c,
                    const struct mg_perf_sse_chunk_ckpt *from,
                    struct mg_perf_sse_chunk_cache *cc)
{
  const char *p = base, *end = base + n, *q;
  char close[MAX_DEPTH] = { 0 };
  unsigned char kind[MAX_DEPTH] = { 0 };
  int depth = 0;
  enum kind k = K_ROOT;
  enum state state = S_VALUE;
  long long v;

  memset(c, 0, sizeof(*c));
  c->prompt_tokens = -1;
  c->completion_tokens = -1;
  if (from) {
    p = base + from->off;
    depth = from->depth;
    memcpy(close, from->close, MG_PERF_CKPT_DEPTH);
    memcpy(kind, from->kind, MG_PERF_CKPT_DEPTH);
    c->choices = (from->flags & 1) != 0;
    c->text = (from->flags & 2) != 0;
    c->reasoning = (from->flags & 4) != 0;
    c->tool_calls = (from->flags & 8) != 0;
    c->usage = (from->flags & 16) != 0;
    c->prompt_tokens = from->prompt_tokens;
    c->completion_tokens = from->completion_tokens;
    c->text_bytes = from->text_bytes;
    if (from->text_len) {
      c->text_ptr = base + from->text_off;
      c->text_len = from->text_len;
    }
    state = S_KEY;
  }
  for (;;) {
    if (state == S_KEY) {
      /* A key: short and plain in practice, so a byte loop; escapes and
       * anything odd take the general path. */
      WS(p, end);
      if (p >= end || *p != '"')
        return -1;
      q = plain_run(p + 1, end);
      if (q < end && *q != '"')
        q = string_end(q, end);
      if (!q || q >= end)
        return -1;
      k = kind[depth - 1] == K_OTHER ? K_OTHER
                                     : child_kind((enum kind)kind[depth - 1],
                                                  p + 1, (size_t)(q - p - 1));
      p = q + 1;
      WS(p, end);
      if (p >= end || *p != ':')
        return -1;
      p++;
      state = S_VALUE;
    }
    if (state == S_VALUE) {
      WS(p, end);
      if (p >= end)
        return -1;
      switch (*p) {
      case '{':
      case '[':
        if (depth == MAX_DEPTH)
          return -1;
        close[depth] = *p == '{' ? '}' : ']';
        kind[depth] = (unsigned char)k;
        depth++;
        if (*p == '{' && k == K_USAGE)
          c->usage = 1;
        if (*p == '{' && k == K_ERROR)
          c->error = 1;
        p++;
        WS(p, end);
        if (p < end && *p == close[depth - 1]) {
          p++;
          depth--;
          state = S_AFTER;
        } else if (close[depth - 1] == '}') {
          state = S_KEY;
        } else {
          if (k == K_CHOICES)
            c->choices = 1;
          else if (k == K_TOOL_CALLS)
            c->tool_calls = 1;
          k = k == K_CHOICES ? K_CHOICE : K_OTHER;
        }
        continue;
      case '"':
        q = string_end(p + 1, end);
        if (!q)
          return -1;
        if (k != K_OTHER)
          note_string(c, k, p + 1, (size_t)(q - p - 1));
        p = q + 1;
        break;
      case 't':
        if (end - p < 4 || memcmp(p, "true", 4) != 0)
          return -1;
        p += 4;
        if (k == K_ERROR)
          c->error = 1;
        break;
      case 'f':
        if (end - p < 5 || memcmp(p, "false", 5) != 0)
          return -1;
        p += 5;
        break;
      case 'n':
        if (end - p < 4 || memcmp(p, "null", 4) != 0)
          return -1;
        p += 4;
        break;
      default:
        p = number_end(p, end, &v);
        if (!p)
          return -1;
        if (k == K_PROMPT_TOKENS)
          c->prompt_tokens = v;
        else if (k == K_COMPLETION_TOKENS)
          c->completion_tokens = v;
        else if (k == K_ERROR)
          c->error = 1;
        break;
      }
    }
    /* S_AFTER: after a value. */
    WS(p, end);
    if (depth == 0)
      return p == end ? 0 : -1;
    if (p >= end)
      return -1;
    if (*p == ',') {
      p++;
      if (close[depth - 1] == '}') {
        state = S_KEY;
        if (cc)
          checkpoint(cc, base, (size_t)(p - base), depth, close, kind, c);
      } else {
        k = kind[depth - 1] == K_CHOICES ? K_CHOICE : K_OTHER;
        state = S_VALUE;
      }
      continue;
    }
    if (*p != close[depth - 1])
      return -1;
    p++;
    depth--;
    state = S_AFTER;
  }
}

int mg_perf_sse_chunk_scan(const char *p, size_t n, struct mg_perf_sse_chunk *c)
{
  return scan_doc(p, n, c, NULL, NULL);
}

void mg_perf_sse_chunk_cache_init(struct mg_perf_sse_chunk_cache *cc)
{
  memset(cc, 0, sizeof(*cc));
}

void mg_perf_sse_chunk_cache_release(struct mg_perf_sse_chunk_cache *cc)
{
  free(cc->doc);
  memset(cc, 0, sizeof(*cc));
}

/* Length of the common prefix of a and b (n bytes at most). */
static size_t common_prefix(const char *a, const char *b, size_t n)
{
  size_t i = 0;

  while (n - i >= 8) {
    uint64_t x, y;
    memcpy(&x, a + i, 8);
    memcpy(&y, b + i, 8);
    if (x != y)
      break;
    i += 8;
  }
  while (i < n && a[i] == b[i])
    i++;
  return i;
}

int mg_perf_sse_chunk_scan_cached(struct mg_perf_sse_chunk_cache *cc,
                                  const char *p, size_t n,
                                  struct mg_perf_sse_chunk *c)
{
  const struct mg_perf_sse_chunk_ckpt *from = NULL;
  size_t same;
  int rc;

  if (n > MG_PERF_CACHE_DOC)
    return scan_doc(p, n, c, NULL, NULL);
  same = cc->len ? common_prefix(cc->doc, p, cc->len < n ? cc->len : n) : 0;
  for (int i = cc->nck - 1; i >= 0 && !from; i--) {
    if (cc->ck[i].off <= same) {
      from = &cc->ck[i];
      /* It and the ones before it stay valid for this document too (same
       * bytes); later ones are taken again as the scan passes them. */
      cc->nck = i + 1;
    }
  }
  if (!from)
    cc->nck = 0;
  if (n > cc->cap) {
    /* Sized to the chunks seen, not to the largest possible one. */
    cc->cap = n < 512 ? 512 : n + n / 2;
    if (cc->cap > MG_PERF_CACHE_DOC)
      cc->cap = MG_PERF_CACHE_DOC;
    free(cc->doc);
    cc->doc = mg_xmalloc(cc->cap);
    cc->len = 0;
    cc->nck = 0;
    from = NULL;
  }
  rc = scan_doc(p, n, c, from, cc);
  if (rc < 0) {
    cc->len = 0;
    cc->nck = 0;
    return rc;
  }
  memcpy(cc->doc, p, n);
  cc->len = n;
  return 0;
}

static int hex4(const char *p)
{
  int v = 0;

  for (int i = 0; i < 4; i++) {
    v = v * 16 + mg_digest_hexval(p[i]);
  }
  return v;
}

static void put_utf8(struct mg_buf *out, unsigned long cp)
{
  char b[4];

  (void)mg_buf_add(out, b, mg_utf8_put((uint32_t)cp, b), NULL);
}

void mg_perf_sse_json_unescape(const char *s, size_t n, struct mg_buf *out)
{
  size_t i = 0;

  while (i < n) {
    size_t j = i;
    while (j < n && s[j] != '\\')
      j++;
    (void)mg_buf_add(out, s + i, j - i, NULL);
    if (j + 1 >= n)
      break;
    i = j + 2;
    switch (s[j + 1]) {
    case 'b':
      (void)mg_buf_addch(out, '\b', NULL);
      break;
    case 'f':
      (void)mg_buf_addch(out, '\f', NULL);
      break;
    case 'n':
      (void)mg_buf_addch(out, '\n', NULL);
      break;
    case 'r':
      (void)mg_buf_addch(out, '\r', NULL);
      break;
    case 't':
      (void)mg_buf_addch(out, '\t', NULL);
      break;
    case 'u': {
      unsigned long cp;
      if (n - i < 4)
        return;
      cp = (unsigned long)hex4(s + i);
      i += 4;
      if (cp >= 0xd800 && cp < 0xdc00 && n - i >= 6 && s[i] == '\\'
          && s[i + 1] == 'u') {
        unsigned long lo = (unsigned long)hex4(s + i + 2);
        if (lo >= 0xdc00 && lo < 0xe000) {
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          i += 6;
        }
      }
      if (cp >= 0xd800 && cp < 0xe000)
        cp = 0xfffd;
      put_utf8(out, cp);
      break;
    }
    default:
      (void)mg_buf_addch(out, s[j + 1], NULL);
    }
  }
}
