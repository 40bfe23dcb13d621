#ifndef MG_MEM_H
#define MG_MEM_H

#include <stddef.h>

#include "mg_banned.h"

/*
 * Allocation that never returns failure: on out-of-memory these print one
 * line to stderr and abort(). The "x" prefix always means that.
 */
void *mg_xmalloc(size_t n);
void *mg_xcalloc(size_t nmemb, size_t size);
void *mg_xrealloc(void *p, size_t n);
/* Grows an array of nmemb elements of size to at least want; overflow-safe. */
void *mg_xreallocarray(void *p, size_t nmemb, size_t size);
char *mg_xstrdup(const char *s);
/* At most n bytes of s, up to its first NUL. */
char *mg_xstrndup(const char *s, size_t n);
/*
 * Exactly n bytes of s (which may hold NULs), plus a terminating NUL: the
 * copy for a string whose length is known, such as mg_json_string_len().
 */
char *mg_xmemdup(const void *s, size_t n);
/* caller owns the result; free with free() */
char *mg_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Programmer error: prints file, line and message, then aborts. */
#define MG_BUG(...) mg_bug(__FILE__, __LINE__, __VA_ARGS__)
void mg_bug(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

/* Overwrites n bytes at p in a way the compiler may not elide. */
void mg_wipe(void *p, size_t n);

#endif
