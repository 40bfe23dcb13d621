#ifndef MG_ERR_H
#define MG_ERR_H

#include <stdarg.h>

#include "mg_banned.h"

/*
 * Error reporting between the library and the tools.
 *
 * A library function that can fail returns 0 on success and -1 on failure,
 * and fills a caller-provided struct mg_err. The category is chosen so that
 * it is also the exit code the tool should use (see enum mg_exit in
 * mg_cli.h); the message is one lowercase line without a trailing period,
 * in the form "<what failed> '<subject>': <reason>". The library never
 * prints and never exits.
 */
enum mg_errcat {
  MG_ERR_NONE = 0,
  MG_ERR_FAIL = 1,   /* a negative verdict, not a malfunction */
  MG_ERR_USAGE = 2,  /* bad option or operand value */
  MG_ERR_DATA = 3,   /* unusable input: malformed, wrong schema, missing */
  MG_ERR_IO = 4,     /* local system failure */
  MG_ERR_REMOTE = 5, /* network, HTTP or registry failure */
};

#define MG_ERR_MSG_MAX 256

struct mg_err {
  enum mg_errcat cat;
  char msg[MG_ERR_MSG_MAX];
};

#define MG_ERR_INIT                                                            \
  {                                                                            \
    MG_ERR_NONE, ""                                                            \
  }

/* Resets err to "no error". Cannot fail. */
void mg_err_clear(struct mg_err *err);

/*
 * Records an error of category cat with a printf-style message, truncated
 * to fit. err may be NULL. Always returns -1 so callers can write
 * "return mg_err_set(err, ...)".
 */
int mg_err_set(struct mg_err *err, enum mg_errcat cat, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like mg_err_set, then appends ": <strerror(errno)>" (errno is read first). */
int mg_err_errno(struct mg_err *err, enum mg_errcat cat, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

int mg_err_vset(struct mg_err *err, enum mg_errcat cat, const char *fmt,
                va_list ap) __attribute__((format(printf, 3, 0)));

/*
 * Prepends "prefix: " to an existing message, to add context as an error
 * travels up ("task 'gsm8k': " + "missing field 'doc_to_text'").
 * Returns -1.
 */
int mg_err_prefix(struct mg_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
