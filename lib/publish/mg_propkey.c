#include "publish/mg_propkey.h"

#include "mg_buf.h"
#include "mg_digest.h"

static int key_char_ok(int c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
         || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '+';
}

char *mg_propkey_join(const char *const *parts, size_t n)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  char hex[MG_DIGEST_SHA256_HEX_LEN + 1];
  char *key;

  for (size_t i = 0; i < n; i++) {
    const char *p = parts[i] ? parts[i] : "";

    if (i)
      mg_buf_addch(&b, '.', NULL);
    if (!*p)
      mg_buf_addch(&b, '_', NULL);
    for (; *p; p++)
      mg_buf_addch(&b, key_char_ok((unsigned char)*p) ? *p : '_', NULL);
  }
  if (b.len > MG_PROPKEY_MAX) {
    mg_digest_sha256_hex(b.data, b.len, hex);
    mg_buf_truncate(&b, MG_PROPKEY_MAX - 9);
    mg_buf_printf(&b, NULL, "~%.8s", hex);
  }
  key = mg_buf_detach(&b, NULL);
  return key;
}
