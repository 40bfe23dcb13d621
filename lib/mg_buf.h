#ifndef MG_BUF_H
#define MG_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "mg_banned.h"

struct mg_err;

/*
 * A growable byte buffer with a hard maximum size.
 *
 * Invariants: data is NULL or points at cap bytes; len < cap whenever data
 * is not NULL, and data[len] == '\0', so data is always a C string (which
 * may contain earlier NUL bytes). len never exceeds max. Growth beyond max
 * fails with MG_ERR_DATA and leaves the buffer unchanged.
 */
struct mg_buf {
  char *data;
  size_t len;
  size_t cap;
  size_t max;
};

#define MG_BUF_INIT(maxsize)                                                   \
  {                                                                            \
    NULL, 0, 0, (maxsize)                                                      \
  }
#define MG_BUF_UNLIMITED ((size_t)-1 / 2)

/* Sets an empty buffer that may grow to max bytes. Cannot fail. */
void mg_buf_init(struct mg_buf *b, size_t max);
/* Frees the contents; the buffer is empty afterwards and reusable. */
void mg_buf_release(struct mg_buf *b);
/* Empties the buffer but keeps its memory. */
void mg_buf_reset(struct mg_buf *b);
/*
 * Hands the data to the caller (never NULL: an empty buffer gives "");
 * *len_out gets the length when len_out is not NULL. The buffer is empty
 * afterwards. caller owns the result; free with free().
 */
char *mg_buf_detach(struct mg_buf *b, size_t *len_out);

/* Makes room for at least extra more bytes; -1 past max (err filled). */
int mg_buf_grow(struct mg_buf *b, size_t extra, struct mg_err *err);
/* Appends n bytes; -1 (and no change) if that would pass max. */
int mg_buf_add(struct mg_buf *b, const void *p, size_t n, struct mg_err *err);
int mg_buf_addstr(struct mg_buf *b, const char *s, struct mg_err *err);
int mg_buf_addch(struct mg_buf *b, char c, struct mg_err *err);
int mg_buf_printf(struct mg_buf *b, struct mg_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int mg_buf_vprintf(struct mg_buf *b, struct mg_err *err, const char *fmt,
                   va_list ap) __attribute__((format(printf, 3, 0)));
/* Drops the first n bytes (n is clamped to len). */
void mg_buf_consume(struct mg_buf *b, size_t n);
/* Shortens to n bytes if n < len. */
void mg_buf_truncate(struct mg_buf *b, size_t n);

#endif
