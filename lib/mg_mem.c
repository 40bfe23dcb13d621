#include "mg_mem.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void __attribute__((noreturn)) oom(size_t n)
{
  /* No allocation here: we are out of memory. */
  fprintf(stderr, "modelgate: fatal: out of memory allocating %zu bytes\n", n);
  abort();
}

void *mg_xmalloc(size_t n)
{
  void *p = malloc(n ? n : 1);

  if (!p)
    oom(n);
  return p;
}

void *mg_xcalloc(size_t nmemb, size_t size)
{
  void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

  if (!p)
    oom(nmemb * size);
  return p;
}

void *mg_xrealloc(void *p, size_t n)
{
  void *q = realloc(p, n ? n : 1);

  if (!q)
    oom(n);
  return q;
}

void *mg_xreallocarray(void *p, size_t nmemb, size_t size)
{
  if (size && nmemb > SIZE_MAX / size)
    oom(SIZE_MAX);
  return mg_xrealloc(p, nmemb * size);
}

char *mg_xstrdup(const char *s)
{
  return mg_xstrndup(s, strlen(s));
}

char *mg_xstrndup(const char *s, size_t n)
{
  size_t len = strnlen(s, n);
  char *p = mg_xmalloc(len + 1);

  memcpy(p, s, len);
  p[len] = '\0';
  return p;
}

char *mg_xmemdup(const void *s, size_t n)
{
  char *p = mg_xmalloc(n + 1);

  if (n)
    memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

char *mg_xasprintf(const char *fmt, ...)
{
  va_list ap;
  int n;
  char *p;

  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    MG_BUG("bad format '%s'", fmt);
  p = mg_xmalloc((size_t)n + 1);
  va_start(ap, fmt);
  (void)vsnprintf(p, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return p;
}

void mg_bug(const char *file, int line, const char *fmt, ...)
{
  va_list ap;

  fprintf(stderr, "BUG: %s:%d: ", file, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  abort();
}

void mg_wipe(void *p, size_t n)
{
  volatile unsigned char *v = p;

  while (n--)
    *v++ = 0;
}
