/*
 * UTF-8 decoding, validation and encoding (mg_utf8.h).
 */
#include "mg_utf8.h"

size_t mg_utf8_next(const char *s, size_t n, uint32_t *cp, size_t *bad)
{
  const unsigned char *u = (const unsigned char *)s;
  unsigned char lo = 0x80, hi = 0xBF;
  size_t need, j;
  uint32_t c;

  if (n == 0) {
    if (bad)
      *bad = 0;
    return 0;
  }
  if (u[0] < 0x80) {
    if (cp)
      *cp = u[0];
    return 1;
  }
  /* Table 3-7: the lead byte decides the length and the range of the
   * second byte; later bytes are always 80..BF. */
  if (u[0] >= 0xC2 && u[0] <= 0xDF) {
    need = 1;
  } else if (u[0] >= 0xE0 && u[0] <= 0xEF) {
    need = 2;
    if (u[0] == 0xE0)
      lo = 0xA0;
    else if (u[0] == 0xED)
      hi = 0x9F;
  } else if (u[0] >= 0xF0 && u[0] <= 0xF4) {
    need = 3;
    if (u[0] == 0xF0)
      lo = 0x90;
    else if (u[0] == 0xF4)
      hi = 0x8F;
  } else {
    if (bad)
      *bad = 1;
    return 0;
  }
  c = u[0] & (0x7F >> (need + 1));
  for (j = 1; j <= need && j < n; j++) {
    unsigned char b = u[j];

    if (j == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF))
      break;
    c = c << 6 | (b & 0x3F);
  }
  if (j <= need) {
    if (bad)
      *bad = j;
    return 0;
  }
  if (cp)
    *cp = c;
  return j;
}

int mg_utf8_valid(const char *s, size_t n)
{
  size_t i = 0;

  while (i < n) {
    size_t l;

    if ((unsigned char)s[i] < 0x80) {
      i++;
      continue;
    }
    l = mg_utf8_next(s + i, n - i, NULL, NULL);
    if (!l)
      return 0;
    i += l;
  }
  return 1;
}

size_t mg_utf8_put(uint32_t cp, char *out)
{
  unsigned char *o = (unsigned char *)out;

  if (cp < 0x80) {
    o[0] = (unsigned char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (unsigned char)(0xC0 | cp >> 6);
    o[1] = (unsigned char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (unsigned char)(0xE0 | cp >> 12);
    o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    o[2] = (unsigned char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (unsigned char)(0xF0 | cp >> 18);
  o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
  o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
  o[3] = (unsigned char)(0x80 | (cp & 0x3F));
  return 4;
}

size_t mg_utf8_count(const char *s, size_t n)
{
  size_t c = 0;

  for (size_t i = 0; i < n; i++)
    if (((unsigned char)s[i] & 0xC0) != 0x80)
      c++;
  return c;
}
