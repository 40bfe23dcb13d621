#include "mg_err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void mg_err_clear(struct mg_err *err)
{
  if (!err)
    return;
  err->cat = MG_ERR_NONE;
  err->msg[0] = '\0';
}

int mg_err_vset(struct mg_err *err, enum mg_errcat cat, const char *fmt,
                va_list ap)
{
  if (!err)
    return -1;
  err->cat = cat;
  /* Truncation is acceptable: the message is for humans. */
  (void)vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
  return -1;
}

int mg_err_set(struct mg_err *err, enum mg_errcat cat, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  mg_err_vset(err, cat, fmt, ap);
  va_end(ap);
  return -1;
}

int mg_err_errno(struct mg_err *err, enum mg_errcat cat, const char *fmt, ...)
{
  int saved = errno;
  va_list ap;
  size_t len;

  if (!err)
    return -1;
  va_start(ap, fmt);
  mg_err_vset(err, cat, fmt, ap);
  va_end(ap);
  len = strlen(err->msg);
  if (len < sizeof(err->msg))
    (void)snprintf(err->msg + len, sizeof(err->msg) - len, ": %s",
                   strerror(saved));
  errno = saved;
  return -1;
}

int mg_err_prefix(struct mg_err *err, const char *fmt, ...)
{
  char old[MG_ERR_MSG_MAX];
  char pre[MG_ERR_MSG_MAX];
  va_list ap;

  if (!err)
    return -1;
  memcpy(old, err->msg, sizeof(old));
  va_start(ap, fmt);
  (void)vsnprintf(pre, sizeof(pre), fmt, ap);
  va_end(ap);
  {
    char both[2 * MG_ERR_MSG_MAX + 2];
    size_t n;

    (void)snprintf(both, sizeof(both), "%s: %s", pre, old);
    n = strnlen(both, sizeof(err->msg) - 1);
    memcpy(err->msg, both, n);
    err->msg[n] = '\0';
  }
  return -1;
}
