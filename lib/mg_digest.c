#include "mg_digest.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <string.h>
#include <unistd.h>

#include "mg_err.h"
#include "mg_mem.h"

struct mg_sha256 {
  EVP_MD_CTX *ctx;
};

static void
reset(struct mg_sha256 *h)
{
  if (EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
    MG_BUG("EVP_DigestInit_ex failed");
}

struct mg_sha256 *
mg_sha256_new(void)
{
  struct mg_sha256 *h = mg_xmalloc(sizeof(*h));

  h->ctx = EVP_MD_CTX_new();
  if (!h->ctx)
    MG_BUG("EVP_MD_CTX_new failed");
  reset(h);
  return h;
}

void
mg_sha256_update(struct mg_sha256 *h, const void *p, size_t n)
{
  if (n && EVP_DigestUpdate(h->ctx, p, n) != 1)
    MG_BUG("EVP_DigestUpdate failed");
}

void
mg_sha256_final(struct mg_sha256 *h, unsigned char out[MG_SHA256_LEN])
{
  unsigned int len = 0;

  if (EVP_DigestFinal_ex(h->ctx, out, &len) != 1 || len != MG_SHA256_LEN)
    MG_BUG("EVP_DigestFinal_ex failed");
  reset(h);
}

void
mg_hex(const unsigned char *p, size_t n, char *out)
{
  static const char digits[] = "0123456789abcdef";

  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[p[i] >> 4];
    out[2 * i + 1] = digits[p[i] & 15];
  }
  out[2 * n] = '\0';
}

void
mg_sha256_final_hex(struct mg_sha256 *h, char out[MG_SHA256_HEX_LEN + 1])
{
  unsigned char md[MG_SHA256_LEN];

  mg_sha256_final(h, md);
  mg_hex(md, sizeof(md), out);
}

void
mg_sha256_free(struct mg_sha256 *h)
{
  if (!h)
    return;
  EVP_MD_CTX_free(h->ctx);
  free(h);
}

void
mg_sha256_hex(const void *p, size_t n, char out[MG_SHA256_HEX_LEN + 1])
{
  struct mg_sha256 *h = mg_sha256_new();

  mg_sha256_update(h, p, n);
  mg_sha256_final_hex(h, out);
  mg_sha256_free(h);
}

int
mg_sha256_file(const char *path, char out[MG_SHA256_HEX_LEN + 1],
               unsigned long long *size_out, struct mg_err *err)
{
  unsigned char buf[1 << 16];
  unsigned long long total = 0;
  struct mg_sha256 *h;
  int fd = open(path, O_RDONLY | O_CLOEXEC);

  if (fd < 0)
    return mg_err_errno(err, MG_ERR_IO, "cannot open '%s'", path);
  h = mg_sha256_new();
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      mg_err_errno(err, MG_ERR_IO, "cannot read '%s'", path);
      mg_sha256_free(h);
      close(fd);
      return -1;
    }
    if (n == 0)
      break;
    mg_sha256_update(h, buf, (size_t)n);
    total += (unsigned long long)n;
  }
  close(fd);
  mg_sha256_final_hex(h, out);
  mg_sha256_free(h);
  if (size_out)
    *size_out = total;
  return 0;
}

int
mg_sha256_hex_valid(const char *s)
{
  size_t i;

  for (i = 0; s[i]; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return 0;
  return i == MG_SHA256_HEX_LEN;
}
