#ifndef MG_BASE64_H
#define MG_BASE64_H

#include <stddef.h>

#include "mg_banned.h"

struct mg_err;

/*
 * Base64 (RFC 4648, standard alphabet with padding), as used by DSSE
 * envelopes, Basic auth and docker config files.
 */

/*
 * Encodes n bytes. caller owns the result (NUL-terminated); free with
 * free(). Never NULL.
 */
char *mg_base64_encode(const void *p, size_t n);

/*
 * Decodes len characters of s strictly: only the standard alphabet,
 * padding only at the end, no whitespace. The url-safe alphabet ("-_") is
 * accepted too, and missing padding is tolerated. *out gets a malloc'd
 * buffer (NUL-terminated for convenience) and *out_len its length.
 * caller owns *out; free with free(). Fails with MG_ERR_DATA.
 */
int mg_base64_decode(const char *s, size_t len, unsigned char **out,
                     size_t *out_len, struct mg_err *err);

#endif
