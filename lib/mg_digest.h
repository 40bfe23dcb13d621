#ifndef MG_DIGEST_H
#define MG_DIGEST_H

#include <stddef.h>

#include "mg_banned.h"

struct mg_err;

/*
 * SHA-256, streaming. This module is the only one that includes OpenSSL
 * headers (hashes and, later, signature verification).
 */
#define MG_DIGEST_SHA256_LEN 32
#define MG_DIGEST_SHA256_HEX_LEN 64

struct mg_digest_sha256; /* opaque */

/* caller owns the result; free with mg_digest_sha256_free. Never NULL. */
struct mg_digest_sha256 *mg_digest_sha256_new(void);
void mg_digest_sha256_update(struct mg_digest_sha256 *h, const void *p,
                             size_t n);
/* Writes the 32-byte digest and resets h for reuse. */
void mg_digest_sha256_final(struct mg_digest_sha256 *h,
                            unsigned char out[MG_DIGEST_SHA256_LEN]);
/* Writes 64 lowercase hex digits and a NUL; resets h. */
void mg_digest_sha256_final_hex(struct mg_digest_sha256 *h,
                                char out[MG_DIGEST_SHA256_HEX_LEN + 1]);
void mg_digest_sha256_free(struct mg_digest_sha256 *h);

/* One-shot digest of a memory block, as hex. */
void mg_digest_sha256_hex(const void *p, size_t n,
                          char out[MG_DIGEST_SHA256_HEX_LEN + 1]);
/* Digest of a file's content as hex; *size_out gets its size if not NULL. */
int mg_digest_sha256_file(const char *path,
                          char out[MG_DIGEST_SHA256_HEX_LEN + 1],
                          unsigned long long *size_out, struct mg_err *err);

/* Lowercase hex of n bytes into out (2n+1 bytes). */
void mg_digest_hex(const unsigned char *p, size_t n, char *out);
/* The value of hex digit c (either case), or -1 when c is not one. */
int mg_digest_hexval(int c);
/* 1 if s is exactly 64 lowercase hex digits. */
int mg_digest_sha256_hex_valid(const char *s);

/*
 * ---- Ingestion block (model-fetch / model-verify) ----
 *
 * Named hashes for the digests models carry besides sha256: git blob sha1
 * (Hugging Face non-LFS files), blake2b (OpenSSF model signing), and
 * sha384/sha512 for completeness.
 */
struct mg_digest_md; /* opaque */

/* name: "md5" (S3 ETags), "sha1", "sha256", "sha384", "sha512" or
 * "blake2b" (512-bit).
 * caller owns the result; free with mg_digest_md_free. NULL for an unknown
 * name. */
struct mg_digest_md *mg_digest_md_new(const char *name);
void mg_digest_md_update(struct mg_digest_md *h, const void *p, size_t n);
/* Digest size in bytes (at most MG_MD_MAX). */
size_t mg_digest_md_size(const struct mg_digest_md *h);
#define MG_MD_MAX 64
/* Writes the digest (mg_digest_md_size bytes) and resets h for reuse. */
void mg_digest_md_final(struct mg_digest_md *h, unsigned char *out);
/* Writes lowercase hex and a NUL into out (2 * MG_MD_MAX + 1 bytes). */
void mg_digest_md_final_hex(struct mg_digest_md *h, char *out);
void mg_digest_md_free(struct mg_digest_md *h);

/*
 * Verifies an ECDSA signature (DER, as OpenSSL and Python's cryptography
 * produce it) over msg with a PEM public key (SubjectPublicKeyInfo). The
 * hash follows the curve as OpenSSF model signing does: P-256 with SHA-256,
 * P-384 with SHA-384, P-521 with SHA-512. *curve_out (may be NULL) gets a
 * static name such as "P-256".
 * Returns 0 when the signature is valid; -1 with MG_ERR_FAIL when it is
 * not, MG_ERR_DATA when the key is unusable (not PEM, not EC, other curve).
 */
/*
 * The canonical PEM text (SubjectPublicKeyInfo, 64-column base64, as
 * OpenSSL and Python's cryptography write it) of a PEM public key, whose
 * sha256 is model signing's key hint. caller owns *out; free with free().
 * MG_ERR_DATA if pem is not a public key.
 */
int mg_digest_pubkey_pem(const char *pem, size_t pem_len, char **out,
                         struct mg_err *err);

int mg_digest_ecdsa_verify(const char *pem, size_t pem_len, const void *msg,
                           size_t msg_len, const unsigned char *sig,
                           size_t sig_len, const char **curve_out,
                           struct mg_err *err);

#endif
