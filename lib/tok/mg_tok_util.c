/*
 * Tokenizer support: growable strings, UTF-8, Unicode properties (from
 * utf8proc), hashing and the vocabulary table.
 */
#include "tok/mg_tok_int.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "mg_mem.h"
#include "mg_utf8.h"

void mg_tok_util_str_grow(struct mg_tok_str *s, size_t extra)
{
  size_t want = s->len + extra + 1;

  if (want <= s->cap)
    return;
  if (want < s->cap * 2)
    want = s->cap * 2;
  if (want < 64)
    want = 64;
  s->p = mg_xrealloc(s->p, want);
  s->cap = want;
}

void mg_tok_util_str_addc(struct mg_tok_str *s, uint32_t cp)
{
  char b[4];

  mg_tok_str_add(s, b, mg_utf8_put(cp, b));
}

void mg_tok_util_str_release(struct mg_tok_str *s)
{
  free(s->p);
  s->p = NULL;
  s->len = s->cap = 0;
}

void mg_tok_util_pieces_push(struct mg_tok_pieces *ps, size_t off, size_t len,
                             uint32_t id, int first)
{
  struct mg_tok_piece *p;

  if (ps->n == ps->cap) {
    ps->cap = ps->cap ? ps->cap * 2 : 16;
    ps->v = mg_xreallocarray(ps->v, ps->cap, sizeof(*ps->v));
  }
  p = &ps->v[ps->n++];
  p->off = off;
  p->len = len;
  p->id = id;
  p->first = first ? 1 : 0;
}

void mg_tok_util_pieces_release(struct mg_tok_pieces *ps)
{
  free(ps->v);
  ps->v = NULL;
  ps->n = ps->cap = 0;
}

void mg_tok_util_list_push(struct mg_tok_list *l, const char *s, size_t n)
{
  mg_tok_str_add(&l->text, s, n);
  mg_tok_util_list_close(l);
}

void mg_tok_util_list_close(struct mg_tok_list *l)
{
  if (l->n + 2 > l->cap) {
    l->cap = l->cap ? l->cap * 2 : 16;
    l->off = mg_xreallocarray(l->off, l->cap, sizeof(*l->off));
  }
  if (l->n == 0)
    l->off[0] = 0;
  l->off[++l->n] = l->text.len;
}

void mg_tok_util_list_reset(struct mg_tok_list *l)
{
  l->n = 0;
  l->text.len = 0;
  if (l->off)
    l->off[0] = 0;
}

void mg_tok_util_list_release(struct mg_tok_list *l)
{
  mg_tok_util_str_release(&l->text);
  free(l->off);
  l->off = NULL;
  l->n = l->cap = 0;
}

/* ---- UTF-8 ---- */

size_t mg_tok_util_utf8_clen(unsigned char b)
{
  if (b < 0x80)
    return 1;
  if (b < 0xE0)
    return 2;
  if (b < 0xF0)
    return 3;
  return 4;
}

uint32_t mg_tok_util_utf8_next(const char *s, size_t n, size_t *len)
{
  const unsigned char *u = (const unsigned char *)s;
  size_t l = mg_tok_util_utf8_clen(u[0]);

  if (l > n)
    l = n;
  *len = l;
  switch (l) {
  case 1:
    return u[0];
  case 2:
    return ((uint32_t)(u[0] & 0x1F) << 6) | (u[1] & 0x3F);
  case 3:
    return ((uint32_t)(u[0] & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6)
           | (u[2] & 0x3F);
  default:
    return ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3F) << 12)
           | ((uint32_t)(u[2] & 0x3F) << 6) | (u[3] & 0x3F);
  }
}

size_t mg_tok_util_utf8_last(const char *s, size_t n)
{
  size_t i = n - 1;

  while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80)
    i--;
  return i;
}

void mg_tok_util_utf8_lossy(struct mg_tok_str *out, const char *s, size_t n)
{
  size_t i = 0, run = 0, bad = 0;

  while (i < n) {
    size_t l = mg_utf8_next(s + i, n - i, NULL, &bad);

    if (l) {
      i += l;
      continue;
    }
    mg_tok_str_add(out, s + run, i - run);
    mg_tok_str_add(out, "\xEF\xBF\xBD", 3);
    i += bad;
    run = i;
  }
  mg_tok_str_add(out, s + run, n - run);
}

/* ---- Unicode properties ---- */

/*
 * The reference takes punctuation, nonspacing marks and "other" characters
 * (BertNormalizer, BertPreTokenizer, Punctuation, StripAccents) from the
 * unicode_categories crate, whose tables are those of Unicode 8.0, while
 * utf8proc follows a current Unicode. These ranges are where the two
 * disagree for those classes: characters assigned since (OLD_NONE: none
 * of the three classes), and a few whose category changed (U+1885-1886 Lo
 * until 9.0; U+111C9 and U+166D Po until 11.0 and 12.0). Found by running
 * every such code point through the reference (utf8proc 2.8, Unicode 15).
 */
enum old_cat { OLD_NONE, OLD_PO };

static const struct {
  uint32_t lo, hi;
  enum old_cat cat;
} old_ucd[] = {
  { 0x061D, 0x061D, OLD_NONE },   { 0x07FD, 0x07FD, OLD_NONE },
  { 0x0890, 0x0891, OLD_NONE },   { 0x0898, 0x089F, OLD_NONE },
  { 0x08CA, 0x08E2, OLD_NONE },   { 0x09FD, 0x09FE, OLD_NONE },
  { 0x0A76, 0x0A76, OLD_NONE },   { 0x0AFA, 0x0AFF, OLD_NONE },
  { 0x0B55, 0x0B55, OLD_NONE },   { 0x0C04, 0x0C04, OLD_NONE },
  { 0x0C3C, 0x0C3C, OLD_NONE },   { 0x0C77, 0x0C77, OLD_NONE },
  { 0x0C84, 0x0C84, OLD_NONE },   { 0x0D00, 0x0D00, OLD_NONE },
  { 0x0D3B, 0x0D3C, OLD_NONE },   { 0x0D81, 0x0D81, OLD_NONE },
  { 0x0EBA, 0x0EBA, OLD_NONE },   { 0x0ECE, 0x0ECE, OLD_NONE },
  { 0x166D, 0x166D, OLD_PO },     { 0x180F, 0x180F, OLD_NONE },
  { 0x1885, 0x1886, OLD_NONE },   { 0x1ABF, 0x1ACE, OLD_NONE },
  { 0x1B7D, 0x1B7E, OLD_NONE },   { 0x1DF6, 0x1DFB, OLD_NONE },
  { 0x2E43, 0x2E4F, OLD_NONE },   { 0x2E52, 0x2E5D, OLD_NONE },
  { 0xA82C, 0xA82C, OLD_NONE },   { 0xA8C5, 0xA8C5, OLD_NONE },
  { 0xA8FF, 0xA8FF, OLD_NONE },   { 0xA9BD, 0xA9BD, OLD_NONE },
  { 0x10D24, 0x10D27, OLD_NONE }, { 0x10EAB, 0x10EAD, OLD_NONE },
  { 0x10EFD, 0x10EFF, OLD_NONE }, { 0x10F46, 0x10F50, OLD_NONE },
  { 0x10F55, 0x10F59, OLD_NONE }, { 0x10F82, 0x10F89, OLD_NONE },
  { 0x11070, 0x11070, OLD_NONE }, { 0x11073, 0x11074, OLD_NONE },
  { 0x110C2, 0x110C2, OLD_NONE }, { 0x110CD, 0x110CD, OLD_NONE },
  { 0x111C9, 0x111C9, OLD_PO },   { 0x111CF, 0x111CF, OLD_NONE },
  { 0x1123E, 0x1123E, OLD_NONE }, { 0x11241, 0x11241, OLD_NONE },
  { 0x1133B, 0x1133B, OLD_NONE }, { 0x11438, 0x1143F, OLD_NONE },
  { 0x11442, 0x11444, OLD_NONE }, { 0x11446, 0x11446, OLD_NONE },
  { 0x1144B, 0x1144F, OLD_NONE }, { 0x1145A, 0x1145B, OLD_NONE },
  { 0x1145D, 0x1145E, OLD_NONE }, { 0x11660, 0x1166C, OLD_NONE },
  { 0x116B9, 0x116B9, OLD_NONE }, { 0x1182F, 0x11837, OLD_NONE },
  { 0x11839, 0x1183B, OLD_NONE }, { 0x1193B, 0x1193C, OLD_NONE },
  { 0x1193E, 0x1193E, OLD_NONE }, { 0x11943, 0x11946, OLD_NONE },
  { 0x119D4, 0x119D7, OLD_NONE }, { 0x119DA, 0x119DB, OLD_NONE },
  { 0x119E0, 0x119E0, OLD_NONE }, { 0x119E2, 0x119E2, OLD_NONE },
  { 0x11A01, 0x11A0A, OLD_NONE }, { 0x11A33, 0x11A38, OLD_NONE },
  { 0x11A3B, 0x11A47, OLD_NONE }, { 0x11A51, 0x11A56, OLD_NONE },
  { 0x11A59, 0x11A5B, OLD_NONE }, { 0x11A8A, 0x11A96, OLD_NONE },
  { 0x11A98, 0x11A9C, OLD_NONE }, { 0x11A9E, 0x11AA2, OLD_NONE },
  { 0x11B00, 0x11B09, OLD_NONE }, { 0x11C30, 0x11C36, OLD_NONE },
  { 0x11C38, 0x11C3D, OLD_NONE }, { 0x11C3F, 0x11C3F, OLD_NONE },
  { 0x11C41, 0x11C45, OLD_NONE }, { 0x11C70, 0x11C71, OLD_NONE },
  { 0x11C92, 0x11CA7, OLD_NONE }, { 0x11CAA, 0x11CB0, OLD_NONE },
  { 0x11CB2, 0x11CB3, OLD_NONE }, { 0x11CB5, 0x11CB6, OLD_NONE },
  { 0x11D31, 0x11D36, OLD_NONE }, { 0x11D3A, 0x11D3A, OLD_NONE },
  { 0x11D3C, 0x11D3D, OLD_NONE }, { 0x11D3F, 0x11D45, OLD_NONE },
  { 0x11D47, 0x11D47, OLD_NONE }, { 0x11D90, 0x11D91, OLD_NONE },
  { 0x11D95, 0x11D95, OLD_NONE }, { 0x11D97, 0x11D97, OLD_NONE },
  { 0x11EF3, 0x11EF4, OLD_NONE }, { 0x11EF7, 0x11EF8, OLD_NONE },
  { 0x11F00, 0x11F01, OLD_NONE }, { 0x11F36, 0x11F3A, OLD_NONE },
  { 0x11F40, 0x11F40, OLD_NONE }, { 0x11F42, 0x11F4F, OLD_NONE },
  { 0x11FFF, 0x11FFF, OLD_NONE }, { 0x12FF1, 0x12FF2, OLD_NONE },
  { 0x13430, 0x13440, OLD_NONE }, { 0x13447, 0x13455, OLD_NONE },
  { 0x16E97, 0x16E9A, OLD_NONE }, { 0x16F4F, 0x16F4F, OLD_NONE },
  { 0x16FE2, 0x16FE2, OLD_NONE }, { 0x16FE4, 0x16FE4, OLD_NONE },
  { 0x1CF00, 0x1CF2D, OLD_NONE }, { 0x1CF30, 0x1CF46, OLD_NONE },
  { 0x1E000, 0x1E006, OLD_NONE }, { 0x1E008, 0x1E018, OLD_NONE },
  { 0x1E01B, 0x1E021, OLD_NONE }, { 0x1E023, 0x1E024, OLD_NONE },
  { 0x1E026, 0x1E02A, OLD_NONE }, { 0x1E08F, 0x1E08F, OLD_NONE },
  { 0x1E130, 0x1E136, OLD_NONE }, { 0x1E2AE, 0x1E2AE, OLD_NONE },
  { 0x1E2EC, 0x1E2EF, OLD_NONE }, { 0x1E4EC, 0x1E4EF, OLD_NONE },
  { 0x1E944, 0x1E94A, OLD_NONE }, { 0x1E95E, 0x1E95F, OLD_NONE },
};

/*
 * StripAccents uses is_combining_mark of the unicode-normalization-
 * alignments crate, whose tables are older than utf8proc's too: 0 marks
 * characters utf8proc calls marks that the reference does not, 1 the
 * reverse (U+1CF2-1CF3, marks until Unicode 10). Found as above.
 */
static const struct {
  uint32_t lo, hi;
  int mark;
} old_mark[] = {
  { 0x07FD, 0x07FD, 0 },   { 0x0898, 0x089F, 0 },   { 0x08CA, 0x08D3, 0 },
  { 0x09FE, 0x09FE, 0 },   { 0x0AFA, 0x0AFF, 0 },   { 0x0B55, 0x0B55, 0 },
  { 0x0C04, 0x0C04, 0 },   { 0x0C3C, 0x0C3C, 0 },   { 0x0CF3, 0x0CF3, 0 },
  { 0x0D00, 0x0D00, 0 },   { 0x0D3B, 0x0D3C, 0 },   { 0x0D81, 0x0D81, 0 },
  { 0x0EBA, 0x0EBA, 0 },   { 0x0ECE, 0x0ECE, 0 },   { 0x1715, 0x1715, 0 },
  { 0x180F, 0x180F, 0 },   { 0x1ABF, 0x1ACE, 0 },   { 0x1CF2, 0x1CF3, 1 },
  { 0x1CF7, 0x1CF7, 0 },   { 0x1DF6, 0x1DFA, 0 },   { 0xA82C, 0xA82C, 0 },
  { 0xA8FF, 0xA8FF, 0 },   { 0x10D24, 0x10D27, 0 }, { 0x10EAB, 0x10EAC, 0 },
  { 0x10EFD, 0x10EFF, 0 }, { 0x10F46, 0x10F50, 0 }, { 0x10F82, 0x10F85, 0 },
  { 0x11070, 0x11070, 0 }, { 0x11073, 0x11074, 0 }, { 0x110C2, 0x110C2, 0 },
  { 0x11145, 0x11146, 0 }, { 0x111C9, 0x111C9, 0 }, { 0x111CE, 0x111CF, 0 },
  { 0x11241, 0x11241, 0 }, { 0x1133B, 0x1133B, 0 }, { 0x1145E, 0x1145E, 0 },
  { 0x1182C, 0x1183A, 0 }, { 0x11930, 0x11935, 0 }, { 0x11937, 0x11938, 0 },
  { 0x1193B, 0x1193E, 0 }, { 0x11940, 0x11940, 0 }, { 0x11942, 0x11943, 0 },
  { 0x119D1, 0x119D7, 0 }, { 0x119DA, 0x119E0, 0 }, { 0x119E4, 0x119E4, 0 },
  { 0x11A01, 0x11A0A, 0 }, { 0x11A33, 0x11A39, 0 }, { 0x11A3B, 0x11A3E, 0 },
  { 0x11A47, 0x11A47, 0 }, { 0x11A51, 0x11A5B, 0 }, { 0x11A8A, 0x11A99, 0 },
  { 0x11D31, 0x11D36, 0 }, { 0x11D3A, 0x11D3A, 0 }, { 0x11D3C, 0x11D3D, 0 },
  { 0x11D3F, 0x11D45, 0 }, { 0x11D47, 0x11D47, 0 }, { 0x11D8A, 0x11D8E, 0 },
  { 0x11D90, 0x11D91, 0 }, { 0x11D93, 0x11D97, 0 }, { 0x11EF3, 0x11EF6, 0 },
  { 0x11F00, 0x11F01, 0 }, { 0x11F03, 0x11F03, 0 }, { 0x11F34, 0x11F3A, 0 },
  { 0x11F3E, 0x11F42, 0 }, { 0x13440, 0x13440, 0 }, { 0x13447, 0x13455, 0 },
  { 0x16F4F, 0x16F4F, 0 }, { 0x16F7F, 0x16F87, 0 }, { 0x16FE4, 0x16FE4, 0 },
  { 0x16FF0, 0x16FF1, 0 }, { 0x1CF00, 0x1CF2D, 0 }, { 0x1CF30, 0x1CF46, 0 },
  { 0x1E08F, 0x1E08F, 0 }, { 0x1E130, 0x1E136, 0 }, { 0x1E2AE, 0x1E2AE, 0 },
  { 0x1E2EC, 0x1E2EF, 0 }, { 0x1E4EC, 0x1E4EF, 0 },
};

/*
 * The same crate normalizes (NFC, NFD, NFKC, NFKD) with tables that lack
 * these characters: to the reference they have no decomposition and
 * combining class 0, so they pass through unchanged and nothing reorders or
 * composes across them. Found by normalizing every character that has a
 * decomposition or a combining class, or is new since Unicode 14, through
 * the reference.
 */
static const struct {
  uint32_t lo, hi;
} old_norm[] = {
  { 0x07FD, 0x07FD },   { 0x0898, 0x089F },   { 0x08CA, 0x08D3 },
  { 0x09FE, 0x09FE },   { 0x0C3C, 0x0C3C },   { 0x0D3B, 0x0D3C },
  { 0x0EBA, 0x0EBA },   { 0x1715, 0x1715 },   { 0x1ABF, 0x1ACE },
  { 0x1DF6, 0x1DFA },   { 0x32FF, 0x32FF },   { 0xA7F2, 0xA7F4 },
  { 0xA82C, 0xA82C },   { 0xAB69, 0xAB69 },   { 0x10781, 0x10785 },
  { 0x10787, 0x107B0 }, { 0x107B2, 0x107BA }, { 0x10D24, 0x10D27 },
  { 0x10EAB, 0x10EAC }, { 0x10EFD, 0x10EFF }, { 0x10F46, 0x10F50 },
  { 0x10F82, 0x10F85 }, { 0x11070, 0x11070 }, { 0x1133B, 0x1133B },
  { 0x1145E, 0x1145E }, { 0x11839, 0x1183A }, { 0x11938, 0x11938 },
  { 0x1193D, 0x1193E }, { 0x11943, 0x11943 }, { 0x119E0, 0x119E0 },
  { 0x11A34, 0x11A34 }, { 0x11A47, 0x11A47 }, { 0x11A99, 0x11A99 },
  { 0x11D42, 0x11D42 }, { 0x11D44, 0x11D45 }, { 0x11D97, 0x11D97 },
  { 0x11F41, 0x11F42 }, { 0x16FF0, 0x16FF1 }, { 0x1E030, 0x1E06D },
  { 0x1E08F, 0x1E08F }, { 0x1E130, 0x1E136 }, { 0x1E2AE, 0x1E2AE },
  { 0x1E2EC, 0x1E2EF }, { 0x1E4EC, 0x1E4EF }, { 0x1F16C, 0x1F16C },
  { 0x1FBF0, 0x1FBF9 },
};

#define FIND_RANGE(tab, cp, found)                                             \
  do {                                                                         \
    size_t lo_ = 0, hi_ = sizeof(tab) / sizeof(tab[0]);                        \
    (found) = -1;                                                              \
    while (lo_ < hi_) {                                                        \
      size_t mid_ = (lo_ + hi_) / 2;                                           \
      if ((cp) < tab[mid_].lo) {                                               \
        hi_ = mid_;                                                            \
      } else if ((cp) > tab[mid_].hi) {                                        \
        lo_ = mid_ + 1;                                                        \
      } else {                                                                 \
        (found) = (int)mid_;                                                   \
        break;                                                                 \
      }                                                                        \
    }                                                                          \
  } while (0)

/* The Unicode 8.0 class of cp where it differs for these classes, or -1. */
static int old_cat(uint32_t cp)
{
  int k;

  if (cp < 0x600)
    return -1;
  FIND_RANGE(old_ucd, cp, k);
  return k >= 0 ? (int)old_ucd[k].cat : -1;
}

int mg_tok_util_is_whitespace(uint32_t cp)
{
  int c;

  if (cp < 0x80)
    return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
  if (cp == 0x85)
    return 1;
  c = utf8proc_category((utf8proc_int32_t)cp);
  return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL
         || c == UTF8PROC_CATEGORY_ZP;
}

int mg_tok_util_is_numeric(uint32_t cp)
{
  int c;

  if (cp < 0x80)
    return cp >= '0' && cp <= '9';
  c = utf8proc_category((utf8proc_int32_t)cp);
  return c == UTF8PROC_CATEGORY_ND || c == UTF8PROC_CATEGORY_NL
         || c == UTF8PROC_CATEGORY_NO;
}

int mg_tok_util_is_punct(uint32_t cp)
{
  int c;

  if (cp < 0x80)
    return (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40)
           || (cp >= 0x5B && cp <= 0x60) || (cp >= 0x7B && cp <= 0x7E);
  c = utf8proc_category((utf8proc_int32_t)cp);
  if ((c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_PO)
      || c == UTF8PROC_CATEGORY_MN || c == UTF8PROC_CATEGORY_SO) {
    int old = old_cat(cp);
    if (old >= 0)
      return old == OLD_PO;
  }
  return c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_PO;
}

int mg_tok_util_is_other(uint32_t cp)
{
  int c = utf8proc_category((utf8proc_int32_t)cp);

  if (c == UTF8PROC_CATEGORY_CF)
    return old_cat(cp) < 0;
  return c == UTF8PROC_CATEGORY_CC || c == UTF8PROC_CATEGORY_CO
         || c == UTF8PROC_CATEGORY_CS;
}

int mg_tok_util_is_mn(uint32_t cp)
{
  if (cp < 0x300)
    return 0;
  return utf8proc_category((utf8proc_int32_t)cp) == UTF8PROC_CATEGORY_MN
         && old_cat(cp) < 0;
}

int mg_tok_util_is_mark(uint32_t cp)
{
  int c, k;

  if (cp < 0x300)
    return 0;
  c = utf8proc_category((utf8proc_int32_t)cp);
  if (cp >= 0x7FD) {
    FIND_RANGE(old_mark, cp, k);
    if (k >= 0)
      return old_mark[k].mark;
  }
  return c >= UTF8PROC_CATEGORY_MN && c <= UTF8PROC_CATEGORY_ME;
}

/* 1 if cp is one of the characters the reference does not normalize. */
static int norm_inert(uint32_t cp)
{
  int k;

  if (cp < 0x7FD)
    return 0;
  FIND_RANGE(old_norm, cp, k);
  return k >= 0;
}

int mg_tok_util_is_word(uint32_t cp)
{
  int c;

  if (cp < 0x80)
    return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z')
           || (cp >= 'A' && cp <= 'Z') || cp == '_';
  c = utf8proc_category((utf8proc_int32_t)cp);
  return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_ME)
         || c == UTF8PROC_CATEGORY_ND || c == UTF8PROC_CATEGORY_PC
         || cp == 0x200C || cp == 0x200D;
}

void mg_tok_util_lower(struct mg_tok_str *out, uint32_t cp)
{
  if (cp < 0x80) {
    char c = (char)(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
    mg_tok_str_add(out, &c, 1);
    return;
  }
  /* The one unconditional multi-character mapping of SpecialCasing.txt,
   * which char::to_lowercase applies and utf8proc's simple mapping lacks. */
  if (cp == 0x130) {
    mg_tok_str_add(out, "i\xCC\x87", 3);
    return;
  }
  mg_tok_util_str_addc(out, (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp));
}

static void unorm_run(struct mg_tok_str *out, const char *s, size_t n, int opt)
{
  utf8proc_uint8_t *dst = NULL;
  utf8proc_ssize_t r;

  if (n == 0)
    return;
  r = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &dst,
                   (utf8proc_option_t)opt);
  if (r < 0) {
    /* Only invalid UTF-8 fails, and the input was validated. */
    mg_tok_str_add(out, s, n);
    return;
  }
  mg_tok_str_add(out, dst, (size_t)r);
  free(dst);
}

/* Normalizes one region, cut at the characters of old_norm. */
static void unorm_region(struct mg_tok_str *out, const char *s, size_t n,
                         int opt)
{
  size_t run = 0, l;

  for (size_t i = 0; i < n; i += l) {
    uint32_t c = mg_tok_util_utf8_next(s + i, n - i, &l);

    if (!norm_inert(c))
      continue;
    unorm_run(out, s + run, i - run, opt);
    mg_tok_str_add(out, s + i, l);
    run = i + l;
  }
  unorm_run(out, s + run, n - run, opt);
}

/*
 * ASCII characters are starters that nothing reorders across and that
 * never compose with what precedes them, so the text is normalized region
 * by region: each run of non-ASCII characters together with the ASCII
 * character before it (which may compose with a following mark); other
 * ASCII is copied. Same result, without sending mostly-ASCII text through
 * utf8proc.
 */
void mg_tok_util_unorm(struct mg_tok_str *out, const char *s, size_t n,
                       const char *form)
{
  int opt = UTF8PROC_STABLE;
  size_t i = 0;

  if (form[2] == 'K')
    opt |= UTF8PROC_COMPAT;
  opt |= form[strlen(form) - 1] == 'C' ? UTF8PROC_COMPOSE : UTF8PROC_DECOMPOSE;
  while (i < n) {
    size_t j = i;

    while (j < n && (unsigned char)s[j] < 0x80
           && (j + 1 == n || (unsigned char)s[j + 1] < 0x80))
      j++;
    mg_tok_str_add(out, s + i, j - i);
    if (j == n)
      break;
    i = j;
    j += mg_tok_util_utf8_clen((unsigned char)s[j]);
    while (j < n && (unsigned char)s[j] >= 0x80)
      j += mg_tok_util_utf8_clen((unsigned char)s[j]);
    if (j > n)
      j = n;
    unorm_region(out, s + i, j - i, opt);
    i = j;
  }
}

/* ---- the GPT-2 byte table ---- */

uint32_t mg_tok_util_byte_char(unsigned char b)
{
  if (b <= 32)
    return 256u + b;
  if (b >= 127 && b <= 160)
    return 289u + (b - 127u);
  if (b == 173)
    return 323;
  return b;
}

int mg_tok_util_char_byte(uint32_t cp)
{
  if (cp < 256)
    return (cp <= 32 || (cp >= 127 && cp <= 160) || cp == 173) ? -1 : (int)cp;
  if (cp <= 288)
    return (int)(cp - 256);
  if (cp <= 322)
    return (int)(cp - 289 + 127);
  if (cp == 323)
    return 173;
  return -1;
}

/* ---- hashing and the vocabulary ---- */

static uint64_t rotl64(uint64_t x, int r)
{
  return (x << r) | (x >> (64 - r));
}

uint64_t mg_tok_util_hash(const void *p, size_t n)
{
  const unsigned char *s = p;
  uint64_t h = 0x9E3779B97F4A7C15ULL ^ (n * 0xFF51AFD7ED558CCDULL);
  uint64_t k;

  while (n >= 8) {
    memcpy(&k, s, 8);
    h ^= k * 0xBF58476D1CE4E5B9ULL;
    h = rotl64(h, 27) * 0x94D049BB133111EBULL;
    s += 8;
    n -= 8;
  }
  k = 0;
  memcpy(&k, s, n);
  h ^= k * 0xBF58476D1CE4E5B9ULL;
  h ^= h >> 31;
  h *= 0xD6E8FEB86659FD93ULL;
  h ^= h >> 32;
  return h;
}

const char *mg_tok_util_find(const char *hay, size_t hn, const char *needle,
                             size_t nn)
{
  const char *p = hay, *end = hay + hn;

  while (nn && (size_t)(end - p) >= nn) {
    p = memchr(p, needle[0], (size_t)(end - p) - nn + 1);
    if (!p)
      return NULL;
    if (!memcmp(p, needle, nn))
      return p;
    p++;
  }
  return NULL;
}

static uint32_t table_size(size_t n)
{
  uint32_t sz = 16;

  while (sz < n * 2)
    sz <<= 1;
  return sz;
}

void mg_tok_util_vocab_init(struct mg_tok_vocab *v, size_t expect)
{
  memset(v, 0, sizeof(*v));
  v->ent_cap = (uint32_t)(expect ? expect : 16);
  v->ent = mg_xreallocarray(NULL, v->ent_cap, sizeof(*v->ent));
  v->str_cap = v->ent_cap * 8;
  v->str = mg_xmalloc(v->str_cap);
  v->mask = table_size(expect) - 1;
  v->slots = mg_xreallocarray(NULL, (size_t)v->mask + 1, sizeof(*v->slots));
  memset(v->slots, 0xFF, ((size_t)v->mask + 1) * sizeof(*v->slots));
}

void mg_tok_util_vocab_release(struct mg_tok_vocab *v)
{
  free(v->str);
  free(v->ent);
  free(v->by_id);
  free(v->slots);
  memset(v, 0, sizeof(*v));
}

static uint32_t *vocab_slot(const struct mg_tok_vocab *v, const char *s,
                            size_t n)
{
  uint32_t i = (uint32_t)mg_tok_util_hash(s, n) & v->mask;

  for (;; i = (i + 1) & v->mask) {
    uint32_t e = v->slots[i];

    if (e == MG_TOK_NONE)
      return &v->slots[i];
    if (v->ent[e].len == n && !memcmp(v->str + v->ent[e].off, s, n))
      return &v->slots[i];
  }
}

static void vocab_rehash(struct mg_tok_vocab *v)
{
  uint32_t size = (v->mask + 1) * 2;

  free(v->slots);
  v->mask = size - 1;
  v->slots = mg_xreallocarray(NULL, size, sizeof(*v->slots));
  memset(v->slots, 0xFF, (size_t)size * sizeof(*v->slots));
  for (uint32_t e = 0; e < v->count; e++) {
    struct mg_tok_vocab_ent *en = &v->ent[e];
    *vocab_slot(v, v->str + en->off, en->len) = e;
  }
}

static void vocab_set_id(struct mg_tok_vocab *v, uint32_t id, uint32_t e)
{
  if (id >= v->nids) {
    uint32_t n = v->nids ? v->nids : 16;

    while (n <= id)
      n *= 2;
    v->by_id = mg_xreallocarray(v->by_id, n, sizeof(*v->by_id));
    memset(v->by_id + v->nids, 0xFF, (size_t)(n - v->nids) * sizeof(uint32_t));
    v->nids = n;
  }
  v->by_id[id] = e;
}

void mg_tok_util_vocab_add(struct mg_tok_vocab *v, const char *s, size_t n,
                           uint32_t id)
{
  uint32_t *slot;
  struct mg_tok_vocab_ent *en;

  if (((size_t)v->count + 1) * 2 > (size_t)v->mask + 1)
    vocab_rehash(v);
  slot = vocab_slot(v, s, n);
  if (*slot != MG_TOK_NONE) {
    /* Like a HashMap insert: the later value wins. */
    en = &v->ent[*slot];
    if (en->id < v->nids && v->by_id[en->id] == *slot)
      v->by_id[en->id] = MG_TOK_NONE;
    en->id = id;
    vocab_set_id(v, id, *slot);
    return;
  }
  if (v->count == v->ent_cap) {
    v->ent_cap *= 2;
    v->ent = mg_xreallocarray(v->ent, v->ent_cap, sizeof(*v->ent));
  }
  if (v->str_len + n + 1 > v->str_cap) {
    while (v->str_len + n + 1 > v->str_cap)
      v->str_cap *= 2;
    v->str = mg_xrealloc(v->str, v->str_cap);
  }
  memcpy(v->str + v->str_len, s, n);
  v->str[v->str_len + n] = '\0';
  en = &v->ent[v->count];
  en->off = (uint32_t)v->str_len;
  en->len = (uint32_t)n;
  en->id = id;
  v->str_len += n + 1;
  *slot = v->count;
  vocab_set_id(v, id, v->count);
  v->count++;
}

uint32_t mg_tok_util_vocab_get(const struct mg_tok_vocab *v, const char *s,
                               size_t n)
{
  uint32_t e;

  if (!v->slots)
    return MG_TOK_NONE;
  e = *vocab_slot(v, s, n);
  return e == MG_TOK_NONE ? MG_TOK_NONE : v->ent[e].id;
}

const char *mg_tok_util_vocab_str(const struct mg_tok_vocab *v, uint32_t id,
                                  size_t *len)
{
  uint32_t e;

  if (id >= v->nids || v->by_id[id] == MG_TOK_NONE)
    return NULL;
  e = v->by_id[id];
  *len = v->ent[e].len;
  return v->str + v->ent[e].off;
}
