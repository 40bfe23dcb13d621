#include "mg_digest.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <string.h>
#include <unistd.h>

#include "mg_err.h"
#include "mg_mem.h"

struct mg_digest_sha256 {
  EVP_MD_CTX *ctx;
};

static void reset(struct mg_digest_sha256 *h)
{
  if (EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
    MG_BUG("EVP_DigestInit_ex failed");
}

struct mg_digest_sha256 *mg_digest_sha256_new(void)
{
  struct mg_digest_sha256 *h = mg_xmalloc(sizeof(*h));

  h->ctx = EVP_MD_CTX_new();
  if (!h->ctx)
    MG_BUG("EVP_MD_CTX_new failed");
  reset(h);
  return h;
}

void mg_digest_sha256_update(struct mg_digest_sha256 *h, const void *p,
                             size_t n)
{
  if (n && EVP_DigestUpdate(h->ctx, p, n) != 1)
    MG_BUG("EVP_DigestUpdate failed");
}

void mg_digest_sha256_final(struct mg_digest_sha256 *h,
                            unsigned char out[MG_DIGEST_SHA256_LEN])
{
  unsigned int len = 0;

  if (EVP_DigestFinal_ex(h->ctx, out, &len) != 1 || len != MG_DIGEST_SHA256_LEN)
    MG_BUG("EVP_DigestFinal_ex failed");
  reset(h);
}

void mg_digest_hex(const unsigned char *p, size_t n, char *out)
{
  static const char digits[] = "0123456789abcdef";

  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[p[i] >> 4];
    out[2 * i + 1] = digits[p[i] & 15];
  }
  out[2 * n] = '\0';
}

int mg_digest_hexval(int c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

void mg_digest_sha256_final_hex(struct mg_digest_sha256 *h,
                                char out[MG_DIGEST_SHA256_HEX_LEN + 1])
{
  unsigned char md[MG_DIGEST_SHA256_LEN];

  mg_digest_sha256_final(h, md);
  mg_digest_hex(md, sizeof(md), out);
}

void mg_digest_sha256_free(struct mg_digest_sha256 *h)
{
  if (!h)
    return;
  EVP_MD_CTX_free(h->ctx);
  free(h);
}

void mg_digest_sha256_hex(const void *p, size_t n,
                          char out[MG_DIGEST_SHA256_HEX_LEN + 1])
{
  struct mg_digest_sha256 *h = mg_digest_sha256_new();

  mg_digest_sha256_update(h, p, n);
  mg_digest_sha256_final_hex(h, out);
  mg_digest_sha256_free(h);
}

int mg_digest_sha256_file(const char *path,
                          char out[MG_DIGEST_SHA256_HEX_LEN + 1],
                          unsigned long long *size_out, struct mg_err *err)
{
  unsigned char buf[1 << 16];
  unsigned long long total = 0;
  struct mg_digest_sha256 *h;
  int fd = open(path, O_RDONLY | O_CLOEXEC);

  if (fd < 0)
    return mg_err_errno(err, MG_ERR_IO, "cannot open '%s'", path);
  h = mg_digest_sha256_new();
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      mg_err_errno(err, MG_ERR_IO, "cannot read '%s'", path);
      mg_digest_sha256_free(h);
      close(fd);
      return -1;
    }
    if (n == 0)
      break;
    mg_digest_sha256_update(h, buf, (size_t)n);
    total += (unsigned long long)n;
  }
  close(fd);
  mg_digest_sha256_final_hex(h, out);
  mg_digest_sha256_free(h);
  if (size_out)
    *size_out = total;
  return 0;
}

int mg_digest_sha256_hex_valid(const char *s)
{
  size_t i;

  for (i = 0; s[i]; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return 0;
  return i == MG_DIGEST_SHA256_HEX_LEN;
}

/*
 * ---- Ingestion block (model-fetch / model-verify) ----
 *
 * Named hashes and ECDSA verification for OpenSSF model signing. Kept
 * here because this is the only file that may include OpenSSL.
 */
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>

struct mg_digest_md {
  EVP_MD_CTX *ctx;
  const EVP_MD *md;
};

static const EVP_MD *md_by_name(const char *name)
{
  if (strcmp(name, "md5") == 0)
    return EVP_md5(); /* S3 single-part ETags only: corruption, not attack */
  if (strcmp(name, "sha1") == 0)
    return EVP_sha1();
  if (strcmp(name, "sha256") == 0)
    return EVP_sha256();
  if (strcmp(name, "sha384") == 0)
    return EVP_sha384();
  if (strcmp(name, "sha512") == 0)
    return EVP_sha512();
  if (strcmp(name, "blake2b") == 0)
    return EVP_blake2b512();
  return NULL;
}

struct mg_digest_md *mg_digest_md_new(const char *name)
{
  const EVP_MD *md = md_by_name(name);
  struct mg_digest_md *h;

  if (!md)
    return NULL;
  h = mg_xmalloc(sizeof(*h));
  h->md = md;
  h->ctx = EVP_MD_CTX_new();
  if (!h->ctx || EVP_DigestInit_ex(h->ctx, md, NULL) != 1)
    MG_BUG("EVP_DigestInit_ex failed");
  return h;
}

void mg_digest_md_update(struct mg_digest_md *h, const void *p, size_t n)
{
  if (n && EVP_DigestUpdate(h->ctx, p, n) != 1)
    MG_BUG("EVP_DigestUpdate failed");
}

size_t mg_digest_md_size(const struct mg_digest_md *h)
{
  return (size_t)EVP_MD_get_size(h->md);
}

void mg_digest_md_final(struct mg_digest_md *h, unsigned char *out)
{
  unsigned int len = 0;

  if (EVP_DigestFinal_ex(h->ctx, out, &len) != 1 || len > MG_MD_MAX)
    MG_BUG("EVP_DigestFinal_ex failed");
  if (EVP_DigestInit_ex(h->ctx, h->md, NULL) != 1)
    MG_BUG("EVP_DigestInit_ex failed");
}

void mg_digest_md_final_hex(struct mg_digest_md *h, char *out)
{
  unsigned char md[MG_MD_MAX];
  size_t n = mg_digest_md_size(h);

  mg_digest_md_final(h, md);
  mg_digest_hex(md, n, out);
}

void mg_digest_md_free(struct mg_digest_md *h)
{
  if (!h)
    return;
  EVP_MD_CTX_free(h->ctx);
  free(h);
}

int mg_digest_pubkey_pem(const char *pem, size_t pem_len, char **out,
                         struct mg_err *err)
{
  BIO *in, *mem;
  EVP_PKEY *key;
  char *data = NULL;
  long n;

  *out = NULL;
  if (pem_len > (size_t)1 << 20)
    return mg_err_set(err, MG_ERR_DATA, "public key is too large");
  in = BIO_new_mem_buf(pem, (int)pem_len);
  if (!in)
    MG_BUG("BIO_new_mem_buf failed");
  key = PEM_read_bio_PUBKEY(in, NULL, NULL, NULL);
  BIO_free(in);
  if (!key) {
    ERR_clear_error();
    return mg_err_set(err, MG_ERR_DATA, "not a PEM public key");
  }
  mem = BIO_new(BIO_s_mem());
  if (!mem || PEM_write_bio_PUBKEY(mem, key) != 1)
    MG_BUG("PEM_write_bio_PUBKEY failed");
  n = BIO_get_mem_data(mem, &data);
  *out = mg_xstrndup(data, (size_t)n);
  BIO_free(mem);
  EVP_PKEY_free(key);
  return 0;
}

int mg_digest_ecdsa_verify(const char *pem, size_t pem_len, const void *msg,
                           size_t msg_len, const unsigned char *sig,
                           size_t sig_len, const char **curve_out,
                           struct mg_err *err)
{
  char group[64];
  const char *curve = NULL;
  const EVP_MD *md = NULL;
  EVP_PKEY *key = NULL;
  EVP_MD_CTX *ctx = NULL;
  BIO *bio;
  int rc = -1, ok;

  if (pem_len > (size_t)1 << 20)
    return mg_err_set(err, MG_ERR_DATA, "public key is too large");
  bio = BIO_new_mem_buf(pem, (int)pem_len);
  if (!bio)
    MG_BUG("BIO_new_mem_buf failed");
  key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
  BIO_free(bio);
  if (!key) {
    mg_err_set(err, MG_ERR_DATA, "not a PEM public key");
    goto out;
  }
  if (!EVP_PKEY_is_a(key, "EC")
      || EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                        sizeof(group), NULL)
             != 1) {
    mg_err_set(err, MG_ERR_DATA, "public key is not an EC key");
    goto out;
  }
  if (strcmp(group, "prime256v1") == 0) {
    curve = "P-256";
    md = EVP_sha256();
  } else if (strcmp(group, "secp384r1") == 0) {
    curve = "P-384";
    md = EVP_sha384();
  } else if (strcmp(group, "secp521r1") == 0) {
    curve = "P-521";
    md = EVP_sha512();
  } else {
    mg_err_set(err, MG_ERR_DATA, "unsupported EC curve '%s'", group);
    goto out;
  }
  if (curve_out)
    *curve_out = curve;
  ctx = EVP_MD_CTX_new();
  if (!ctx || EVP_DigestVerifyInit(ctx, NULL, md, NULL, key) != 1)
    MG_BUG("EVP_DigestVerifyInit failed");
  ok = EVP_DigestVerify(ctx, sig, sig_len, msg, msg_len);
  if (ok != 1) {
    mg_err_set(err, MG_ERR_FAIL, "signature does not verify with the %s key",
               curve);
    goto out;
  }
  rc = 0;
out:
  ERR_clear_error();
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  return rc;
}
