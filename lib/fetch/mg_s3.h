#ifndef MG_S3_H
#define MG_S3_H

#include <stddef.h>
#include <stdint.h>

#include "mg_banned.h"

struct mg_buf;
struct mg_err;
struct mg_http_opts;

/*
 * The S3 REST API subset model-fetch needs, over mg_http with libcurl's
 * AWS Signature V4 (CURLOPT_AWS_SIGV4 "aws:amz:<region>:s3"):
 * ListObjectsV2 (continuation tokens), GetObject (Range), HeadObject,
 * PutObject and multipart uploads (CreateMultipartUpload, UploadPart,
 * CompleteMultipartUpload, AbortMultipartUpload).
 *
 * Every signed request carries x-amz-content-sha256 (the payload's sha256,
 * hex; for bodyless requests the empty string's) and, with temporary
 * credentials, x-amz-security-token. libcurl 7.88 signs the query string
 * as given, so every query this module builds is canonical: parameters
 * sorted by name, values encoded as SigV4 requires (unreserved characters
 * kept, everything else %XX upper case). Object keys in paths are encoded
 * the same way, '/' kept.
 *
 * Integrity: uploads send x-amz-content-sha256 (S3 rejects a body that
 * does not hash to it), x-amz-checksum-sha256 (stored and returned by
 * GetObject with x-amz-checksum-mode: ENABLED) and the user metadata
 * x-amz-meta-sha256 (the whole file's sha256 hex, which survives
 * multipart uploads, whose checksum is composite). Downloads are checked
 * against, in order: a full-object x-amz-checksum-sha256, x-amz-meta-sha256,
 * else a single-part ETag, which is the MD5 of the content for objects
 * uploaded in one PUT without SSE-KMS; multipart ETags ("...-N") and
 * composite checksums say nothing checkable about the bytes, and only the
 * size is compared.
 */

/* s3://bucket[/prefix] */
struct mg_s3_ref {
  char *bucket;
  char *prefix; /* "" or a key prefix without leading or trailing '/' */
};

/* Parses "s3://bucket[/prefix]". Bucket names: 3-63 characters of
 * [a-z0-9.-], starting and ending with a letter or digit. MG_ERR_USAGE. */
int mg_s3_parse(const char *uri, struct mg_s3_ref *ref, struct mg_err *err);
void mg_s3_ref_release(struct mg_s3_ref *ref);

/*
 * Where and how to talk to S3. Every field may be NULL / 0; then:
 *   endpoint:  $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, else AWS
 *              (https://s3.<region>.amazonaws.com);
 *   region:    $AWS_REGION, $AWS_DEFAULT_REGION, the profile's "region" in
 *              $AWS_CONFIG_FILE (~/.aws/config), else us-east-1;
 *   profile:   $AWS_PROFILE, else "default";
 *   credentials: $AWS_ACCESS_KEY_ID + $AWS_SECRET_ACCESS_KEY (+
 *              $AWS_SESSION_TOKEN), else the profile in
 *              $AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials), else
 *              anonymous (unsigned requests, for public buckets);
 *   addressing: path style (endpoint/bucket/key) for a custom endpoint,
 *              virtual-hosted (bucket.s3.<region>.amazonaws.com/key) for
 *              AWS unless path_style or the bucket name has a '.'.
 * Secrets never appear in messages or logs.
 */
struct mg_s3_settings {
  const char *endpoint;
  const char *region;
  const char *profile;
  int path_style;
  uint64_t part_size;      /* multipart part size; 0: 64 MiB */
  uint64_t multipart_from; /* files of this size or more go multipart;
                              0: 256 MiB */
};

struct mg_s3;

/* caller owns *out; free with mg_s3_free. http is copied (the pointed-to
 * strings must outlive the client). MG_ERR_USAGE (bad endpoint or
 * environment), MG_ERR_IO / MG_ERR_DATA (unreadable credentials file). */
int mg_s3_new(const struct mg_http_opts *http, const struct mg_s3_settings *s,
              struct mg_s3 **out, struct mg_err *err);
/* Wipes the credentials. Accepts NULL. */
void mg_s3_free(struct mg_s3 *s);

/* The http options with signing set (borrowed; valid until mg_s3_free). */
const struct mg_http_opts *mg_s3_http(const struct mg_s3 *s);
const char *mg_s3_region(const struct mg_s3 *s);
/* The endpoint in use, "scheme://host[:port]" (borrowed). */
const char *mg_s3_endpoint(const struct mg_s3 *s);
/* 1 when requests are signed (credentials were found). */
int mg_s3_signed(const struct mg_s3 *s);

/* URL of key (may be "") in bucket with an already canonical query (may be
 * NULL). caller owns the result. */
char *mg_s3_url(const struct mg_s3 *s, const char *bucket, const char *key,
                const char *query);

/* Appends SigV4's encoding of s (n bytes) to out: unreserved characters
 * kept, '/' kept when keep_slash, the rest %XX upper case. */
void mg_s3_encode(struct mg_buf *out, const char *s, size_t n, int keep_slash);

/*
 * The headers every request needs, followed by extra (may be NULL), as a
 * NULL-terminated list: x-amz-content-sha256 (payload_sha256 hex, NULL:
 * the empty body's), x-amz-security-token when set. caller owns the
 * result; free with mg_s3_headers_free (which wipes the token).
 */
char **mg_s3_headers(const struct mg_s3 *s, const char *payload_sha256,
                     const char *const *extra);
void mg_s3_headers_free(char **h);

struct mg_s3_object {
  char *key;
  char *rel;  /* the key below the prefix: a clean relative path */
  char *etag; /* as listed, quotes included; NULL if absent */
  uint64_t size;
};

struct mg_s3_listing {
  struct mg_s3_object *v;
  size_t n;
  int single; /* the prefix named one object, not a folder */
};

/*
 * Lists the objects below ref's prefix (ListObjectsV2, following
 * continuation tokens), sorted by rel. With a prefix P, the keys "P/..."
 * are listed with rel the rest; when there are none and an object named
 * exactly P exists, that one object is listed (single = 1, rel = its last
 * segment). Folder markers (keys ending in '/') are skipped. Keys that do
 * not make clean relative paths fail with MG_ERR_DATA; S3 errors with
 * MG_ERR_REMOTE, naming the S3 error code. Free with
 * mg_s3_listing_release.
 */
int mg_s3_list(struct mg_s3 *s, const struct mg_s3_ref *ref,
               struct mg_s3_listing *out, struct mg_err *err);
void mg_s3_listing_release(struct mg_s3_listing *l);

/* What a response says about an object's content. */
struct mg_s3_digest {
  char sha256[65];         /* hex, "" when not stated */
  const char *sha256_from; /* "x-amz-checksum-sha256", "x-amz-meta-sha256" */
  char md5[33];            /* from a single-part ETag, "" otherwise */
};

/*
 * Fills d from a response's x-amz-checksum-sha256 (base64; composite
 * "...-N" values are ignored), x-amz-meta-sha256 (hex) and ETag (a quoted
 * 32-hex-digit value is an MD5; "...-N" is not) values, each may be NULL.
 */
void mg_s3_digest_from(const char *checksum_b64, const char *meta_sha256,
                       const char *etag, struct mg_s3_digest *d);

/*
 * Uploads the file at path (size bytes, whose sha256 is sha256_hex) as
 * bucket/key: one PutObject below the multipart threshold, else a
 * multipart upload (parts hashed and sent with their sha256, aborted on
 * failure). *parts gets 0 for a single PUT, else the part count.
 * MG_ERR_IO (reading the file), MG_ERR_REMOTE.
 */
int mg_s3_put_file(struct mg_s3 *s, const char *bucket, const char *key,
                   const char *path, uint64_t size, const char *sha256_hex,
                   unsigned *parts, struct mg_err *err);

/*
 * Turns a failed S3 response into one error line (MG_ERR_REMOTE): the HTTP
 * status, the S3 error <Code> and <Message> from an XML body (may be
 * NULL), and a hint for the usual causes (credentials, region, missing
 * bucket). what names the request's subject ("s3://bucket/key").
 */
int mg_s3_error(long status, const char *body, size_t len, const char *what,
                struct mg_err *err);

#endif
