#ifndef MG_BANNED_H
#define MG_BANNED_H

/*
 * Functions that are easy to misuse. Using one is a compile error that names
 * the function; use snprintf (and check for truncation), the strto* family
 * and the _r time functions instead.
 */
/*
 * The declaring headers come first, so that their own inline definitions
 * are seen before the macros and later includes are no-ops.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MG_BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) MG_BANNED(strcpy)
#undef strcat
#define strcat(x, y) MG_BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) MG_BANNED(strncpy)
#undef strncat
#define strncat(x, y, n) MG_BANNED(strncat)
#undef sprintf
#define sprintf(...) MG_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) MG_BANNED(vsprintf)
#undef strtok
#define strtok(x, y) MG_BANNED(strtok)
#undef atoi
#define atoi(x) MG_BANNED(atoi)
#undef atol
#define atol(x) MG_BANNED(atol)
#undef gets
#define gets(x) MG_BANNED(gets)
#undef gmtime
#define gmtime(t) MG_BANNED(gmtime)
#undef localtime
#define localtime(t) MG_BANNED(localtime)
#undef ctime
#define ctime(t) MG_BANNED(ctime)
#undef asctime
#define asctime(t) MG_BANNED(asctime)

#endif
