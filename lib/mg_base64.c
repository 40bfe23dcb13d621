#include "mg_base64.h"

#include <stdint.h>
#include <stdlib.h>

#include "mg_err.h"
#include "mg_mem.h"

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *mg_base64_encode(const void *p, size_t n)
{
  const unsigned char *s = p;
  char *out = mg_xmalloc((n + 2) / 3 * 4 + 1);
  size_t i, o = 0;

  for (i = 0; i + 2 < n; i += 3) {
    uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
    out[o++] = alphabet[v >> 18 & 63];
    out[o++] = alphabet[v >> 12 & 63];
    out[o++] = alphabet[v >> 6 & 63];
    out[o++] = alphabet[v & 63];
  }
  if (i < n) {
    uint32_t v = (uint32_t)s[i] << 16;
    if (i + 1 < n)
      v |= (uint32_t)s[i + 1] << 8;
    out[o++] = alphabet[v >> 18 & 63];
    out[o++] = alphabet[v >> 12 & 63];
    out[o++] = i + 1 < n ? alphabet[v >> 6 & 63] : '=';
    out[o++] = '=';
  }
  out[o] = '\0';
  return out;
}

static int value_of(char c)
{
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+' || c == '-')
    return 62;
  if (c == '/' || c == '_')
    return 63;
  return -1;
}

int mg_base64_decode(const char *s, size_t len, unsigned char **out,
                     size_t *out_len, struct mg_err *err)
{
  unsigned char *buf;
  size_t i, o = 0, pad = 0;
  uint32_t acc = 0;
  int bits = 0;

  *out = NULL;
  *out_len = 0;
  while (pad < 2 && len > 0 && s[len - 1] == '=') {
    len--;
    pad++;
  }
  if (len % 4 == 1 || (pad && (len + pad) % 4 != 0))
    return mg_err_set(err, MG_ERR_DATA, "invalid base64: bad length");
  buf = mg_xmalloc(len / 4 * 3 + 3);
  for (i = 0; i < len; i++) {
    int v = value_of(s[i]);
    if (v < 0) {
      free(buf);
      return mg_err_set(err, MG_ERR_DATA,
                        "invalid base64: bad character at offset %zu", i);
    }
    acc = acc << 6 | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      buf[o++] = (unsigned char)(acc >> bits & 0xff);
    }
  }
  /* Leftover bits must be zero in canonical encodings. */
  if (bits && (acc & ((1u << bits) - 1))) {
    free(buf);
    return mg_err_set(err, MG_ERR_DATA,
                      "invalid base64: non-zero padding "
                      "bits");
  }
  buf[o] = '\0';
  *out = buf;
  *out_len = o;
  return 0;
}
