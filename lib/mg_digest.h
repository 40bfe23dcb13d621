#ifndef MG_DIGEST_H
#define MG_DIGEST_H

#include <stddef.h>

#include "mg_banned.h"

struct mg_err;

/*
 * SHA-256, streaming. This module is the only one that includes OpenSSL
 * headers (hashes and, later, signature verification).
 */
#define MG_SHA256_LEN 32
#define MG_SHA256_HEX_LEN 64

struct mg_sha256; /* opaque */

/* caller owns the result; free with mg_sha256_free. Never NULL. */
struct mg_sha256 *mg_sha256_new(void);
void mg_sha256_update(struct mg_sha256 *h, const void *p, size_t n);
/* Writes the 32-byte digest and resets h for reuse. */
void mg_sha256_final(struct mg_sha256 *h, unsigned char out[MG_SHA256_LEN]);
/* Writes 64 lowercase hex digits and a NUL; resets h. */
void mg_sha256_final_hex(struct mg_sha256 *h,
                         char out[MG_SHA256_HEX_LEN + 1]);
void mg_sha256_free(struct mg_sha256 *h);

/* One-shot digest of a memory block, as hex. */
void mg_sha256_hex(const void *p, size_t n, char out[MG_SHA256_HEX_LEN + 1]);
/* Digest of a file's content as hex; *size_out gets its size if not NULL. */
int mg_sha256_file(const char *path, char out[MG_SHA256_HEX_LEN + 1],
                   unsigned long long *size_out, struct mg_err *err);

/* Lowercase hex of n bytes into out (2n+1 bytes). */
void mg_hex(const unsigned char *p, size_t n, char *out);
/* 1 if s is exactly 64 lowercase hex digits. */
int mg_sha256_hex_valid(const char *s);

#endif
