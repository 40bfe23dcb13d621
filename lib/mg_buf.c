#include "mg_buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg_err.h"
#include "mg_mem.h"

void mg_buf_init(struct mg_buf *b, size_t max)
{
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->max = max;
}

void mg_buf_release(struct mg_buf *b)
{
  free(b->data);
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
}

void mg_buf_reset(struct mg_buf *b)
{
  b->len = 0;
  if (b->data)
    b->data[0] = '\0';
}

char *mg_buf_detach(struct mg_buf *b, size_t *len_out)
{
  char *p = b->data;

  if (len_out)
    *len_out = b->len;
  if (!p)
    p = mg_xstrdup("");
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  return p;
}

int mg_buf_grow(struct mg_buf *b, size_t extra, struct mg_err *err)
{
  size_t want, ncap;

  if (extra > b->max || b->len > b->max - extra)
    return mg_err_set(err, MG_ERR_DATA, "data larger than %zu bytes", b->max);
  want = b->len + extra + 1;
  if (want <= b->cap)
    return 0;
  ncap = b->cap ? b->cap : 64;
  while (ncap < want)
    ncap = ncap > ((size_t)-1) / 2 ? want : ncap * 2;
  if (ncap > b->max + 1 && want <= b->max + 1)
    ncap = b->max + 1;
  b->data = mg_xrealloc(b->data, ncap);
  if (b->cap == 0)
    b->data[0] = '\0';
  b->cap = ncap;
  return 0;
}

int mg_buf_add(struct mg_buf *b, const void *p, size_t n, struct mg_err *err)
{
  if (mg_buf_grow(b, n, err) < 0)
    return -1;
  if (n)
    memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}

int mg_buf_addstr(struct mg_buf *b, const char *s, struct mg_err *err)
{
  return mg_buf_add(b, s, strlen(s), err);
}

int mg_buf_addch(struct mg_buf *b, char c, struct mg_err *err)
{
  return mg_buf_add(b, &c, 1, err);
}

int mg_buf_vprintf(struct mg_buf *b, struct mg_err *err, const char *fmt,
                   va_list ap)
{
  va_list cp;
  int n;

  va_copy(cp, ap);
  n = vsnprintf(NULL, 0, fmt, cp);
  va_end(cp);
  if (n < 0)
    return mg_err_set(err, MG_ERR_DATA, "bad format '%s'", fmt);
  if (mg_buf_grow(b, (size_t)n, err) < 0)
    return -1;
  (void)vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  b->len += (size_t)n;
  return 0;
}

int mg_buf_printf(struct mg_buf *b, struct mg_err *err, const char *fmt, ...)
{
  va_list ap;
  int rc;

  va_start(ap, fmt);
  rc = mg_buf_vprintf(b, err, fmt, ap);
  va_end(ap);
  return rc;
}

void mg_buf_consume(struct mg_buf *b, size_t n)
{
  if (n >= b->len) {
    mg_buf_reset(b);
    return;
  }
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
  b->data[b->len] = '\0';
}

void mg_buf_truncate(struct mg_buf *b, size_t n)
{
  if (n < b->len) {
    b->len = n;
    b->data[n] = '\0';
  }
}
