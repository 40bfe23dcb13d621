#include "mock/mg_mock_tok.h"

#include <string.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "mg_mem.h"
#include "mg_utf8.h"

#define BASE_CP (1u << 30)
#define BASE_MIX (BASE_CP + (1u << 21))
#define BASE_BYTE (BASE_MIX + (1u << 24))

void mg_mock_tok_list_init(struct mg_mock_tok_list *t)
{
  t->ids = NULL;
  t->off = NULL;
  t->n = 0;
  t->cap = 0;
}

void mg_mock_tok_list_release(struct mg_mock_tok_list *t)
{
  free(t->ids);
  free(t->off);
  mg_mock_tok_list_init(t);
}

void mg_mock_tok_list_push(struct mg_mock_tok_list *t, uint32_t id,
                           size_t start, size_t end)
{
  if (t->n + 1 >= t->cap) {
    t->cap = t->cap ? t->cap * 2 : 16;
    t->ids = mg_xreallocarray(t->ids, t->cap, sizeof(*t->ids));
    t->off = mg_xreallocarray(t->off, t->cap + 1, sizeof(*t->off));
  }
  t->ids[t->n] = id;
  t->off[t->n] = start;
  t->off[t->n + 1] = end;
  t->n++;
}

static int is_space(unsigned char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v'
         || c == '\f';
}

/* The id of the valid token s[0..n) (see the table in the header). */
static uint32_t token_id(const char *s, size_t n, int all_ascii)
{
  const unsigned char *u = (const unsigned char *)s;
  uint32_t v = 0, cp;

  if (all_ascii) {
    for (size_t i = 0; i < n; i++)
      v = (v << 7) | u[i];
    return ((uint32_t)(n - 1) << 28) | v;
  }
  if (mg_utf8_next(s, n, &cp, NULL) == n)
    return BASE_CP + cp;
  return BASE_MIX + ((uint32_t)u[0] << 16 | (uint32_t)u[1] << 8 | u[2]);
}

/*
 * Finds the end of the token that starts at s[i]; sets *id. The rules are
 * in the header: whole characters, at most 4 ASCII or 3 mixed bytes, and
 * no token crosses a whitespace that follows a non-whitespace character.
 */
static size_t next_token(const char *s, size_t n, size_t i, uint32_t *id)
{
  uint32_t cp;
  size_t l = mg_utf8_next(s + i, n - i, &cp, NULL);
  size_t j, bytes;
  int ascii;

  if (l == 0) {
    *id = BASE_BYTE + (unsigned char)s[i];
    return i + 1;
  }
  j = i + l;
  bytes = l;
  ascii = l == 1;
  while (j < n) {
    size_t l2 = mg_utf8_next(s + j, n - j, &cp, NULL);
    int ok;

    if (l2 == 0)
      break;
    if (is_space((unsigned char)s[j]) && !is_space((unsigned char)s[j - 1]))
      break;
    ok = ascii && l2 == 1 ? bytes < 4 : bytes + l2 <= 3;
    if (!ok)
      break;
    bytes += l2;
    ascii = ascii && l2 == 1;
    j += (size_t)l2;
  }
  *id = token_id(s + i, j - i, ascii);
  return j;
}

void mg_mock_tok_encode(const char *text, size_t len,
                        struct mg_mock_tok_list *t)
{
  size_t i = 0;

  t->n = 0;
  while (i < len) {
    uint32_t id;
    size_t j = next_token(text, len, i, &id);
    mg_mock_tok_list_push(t, id, i, j);
    i = j;
  }
}

size_t mg_mock_tok_count(const char *text, size_t len)
{
  size_t i = 0, n = 0;

  while (i < len) {
    uint32_t id;
    i = next_token(text, len, i, &id);
    n++;
  }
  return n;
}

int mg_mock_tok_bytes(uint32_t id, char *out)
{
  if (id < BASE_CP) {
    int n = (int)(id >> 28) + 1;
    uint32_t v = id & ((1u << 28) - 1);

    if (v >> (7 * n))
      return -1;
    for (int i = n - 1; i >= 0; i--) {
      out[i] = (char)(v & 0x7F);
      v >>= 7;
    }
    return n;
  }
  if (id < BASE_MIX) {
    uint32_t cp = id - BASE_CP;

    if (cp < 0x80 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return -1;
    return (int)mg_utf8_put(cp, out);
  }
  if (id < BASE_BYTE) {
    uint32_t b = id - BASE_MIX;

    out[0] = (char)(b >> 16);
    out[1] = (char)((b >> 8) & 0xFF);
    out[2] = (char)(b & 0xFF);
    return mg_utf8_valid(out, 3) ? 3 : -1;
  }
  if (id - BASE_BYTE < 256) {
    out[0] = (char)(id - BASE_BYTE);
    return 1;
  }
  return -1;
}

int mg_mock_tok_decode(const uint32_t *ids, size_t n, struct mg_buf *out,
                       struct mg_err *err)
{
  for (size_t i = 0; i < n; i++) {
    char b[MG_MOCK_TOK_MAX_BYTES];
    int l = mg_mock_tok_bytes(ids[i], b);

    if (l < 0)
      return mg_err_set(err, MG_ERR_DATA,
                        "token id %lu is not in the mock vocabulary",
                        (unsigned long)ids[i]);
    if (mg_buf_add(out, b, (size_t)l, err) < 0)
      return -1;
  }
  return 0;
}
