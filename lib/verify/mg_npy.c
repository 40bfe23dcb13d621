#include "verify/mg_npy.h"

#include <stdlib.h>
#include <string.h>

#include "mg_buf.h"
#include "mg_digest.h"
#include "mg_err.h"
#include "mg_mem.h"
#include "mg_utf8.h"

#define DEPTH_MAX 64
#define NODES_MAX ((size_t)1 << 20)

/* ---- a Python literal, as ast.literal_eval reads one ---- */

enum lk {
  L_DICT,
  L_LIST,
  L_TUPLE,
  L_SET,
  L_STR,
  L_BYTES,
  L_INT,
  L_FLOAT, /* and complex */
  L_BOOL,
  L_NONE,
};

struct lnode {
  enum lk kind;
  size_t first, n; /* children in the kids array (a dict: key, value) */
  size_t s, slen;  /* L_STR, L_BYTES: content in the string arena */
  int unknown;     /* L_STR: a \N{...} escape the reader cannot name */
  int64_t i;       /* L_INT, L_BOOL */
  int big;         /* L_INT: past int64 */
  size_t at, end;  /* where it is in the header */
};

struct lit {
  const unsigned char *p;
  size_t n, pos;
  int utf8;    /* version 3: the header is UTF-8 (else latin-1) */
  int allow_l; /* versions 1-2: 123L is 123 */
  struct lnode *nodes;
  size_t nn, ncap;
  size_t *kids;
  size_t nk, kcap;
  struct mg_buf strs;
  char err[120];
};

static int lfail(struct lit *l, const char *what)
{
  if (!l->err[0])
    (void)snprintf(l->err, sizeof(l->err), "%s at byte %zu", what, l->pos);
  return -1;
}

static long new_node(struct lit *l, enum lk k)
{
  if (l->nn >= NODES_MAX)
    return lfail(l, "header too complex");
  if (l->nn == l->ncap) {
    l->ncap = l->ncap ? l->ncap * 2 : 32;
    l->nodes = mg_xreallocarray(l->nodes, l->ncap, sizeof(*l->nodes));
  }
  memset(&l->nodes[l->nn], 0, sizeof(l->nodes[0]));
  l->nodes[l->nn].kind = k;
  return (long)l->nn++;
}

/* Skips spaces, newlines, comments and line continuations. */
static void skip_ws(struct lit *l)
{
  while (l->pos < l->n) {
    unsigned char c = l->p[l->pos];
    if (c == ' ' || c == '\t' || c == '\f' || c == '\n' || c == '\r') {
      l->pos++;
    } else if (c == '#') {
      while (l->pos < l->n && l->p[l->pos] != '\n')
        l->pos++;
    } else if (c == '\\' && l->pos + 1 < l->n
               && (l->p[l->pos + 1] == '\n' || l->p[l->pos + 1] == '\r')) {
      l->pos += 2;
    } else {
      break;
    }
  }
}

static void put_cp(struct mg_buf *b, uint32_t cp)
{
  char u[4];

  mg_buf_add(b, u, mg_utf8_put(cp, u), NULL);
}

/* The next source character as a code point (latin-1 or UTF-8). */
static int next_cp(struct lit *l, uint32_t *cp)
{
  unsigned char c = l->p[l->pos];
  size_t k = 0;

  if (!l->utf8 || c < 0x80) {
    *cp = c;
    l->pos++;
    return 0;
  }
  if (c >= 0xc2 && c <= 0xdf) {
    k = 1;
    *cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    k = 2;
    *cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    k = 3;
    *cp = c & 0x07;
  } else {
    return lfail(l, "invalid UTF-8");
  }
  if (l->pos + k >= l->n)
    return lfail(l, "invalid UTF-8");
  for (size_t j = 1; j <= k; j++) {
    if ((l->p[l->pos + j] & 0xc0) != 0x80)
      return lfail(l, "invalid UTF-8");
    *cp = *cp << 6 | (l->p[l->pos + j] & 0x3f);
  }
  if ((k == 2 && (*cp < 0x800 || (*cp >= 0xd800 && *cp <= 0xdfff)))
      || (k == 3 && (*cp < 0x10000 || *cp > 0x10ffff)))
    return lfail(l, "invalid UTF-8");
  l->pos += k + 1;
  return 0;
}

/* One string literal (prefix, quotes, escapes) appended to b. *bytes
 * tells whether it was a bytes literal; *unknown a \N{} escape. */
static int one_string(struct lit *l, struct mg_buf *b, int *bytes, int *unknown)
{
  int raw = 0, triple;
  unsigned char q;

  *bytes = 0;
  while (l->pos < l->n && strchr("rRbBuU", l->p[l->pos]) && l->p[l->pos]) {
    unsigned char c = (unsigned char)(l->p[l->pos] | 0x20);
    if (c == 'r')
      raw = 1;
    else if (c == 'b')
      *bytes = 1;
    l->pos++;
  }
  if (l->pos >= l->n || (l->p[l->pos] != '\'' && l->p[l->pos] != '"'))
    return lfail(l, "bad string prefix");
  q = l->p[l->pos];
  triple = l->pos + 2 < l->n && l->p[l->pos + 1] == q && l->p[l->pos + 2] == q;
  l->pos += triple ? 3 : 1;
  for (;;) {
    uint32_t cp;
    if (l->pos >= l->n)
      return lfail(l, "unterminated string");
    if (l->p[l->pos] == q
        && (!triple
            || (l->pos + 2 < l->n && l->p[l->pos + 1] == q
                && l->p[l->pos + 2] == q))) {
      l->pos += triple ? 3 : 1;
      return 0;
    }
    if (!triple && l->p[l->pos] == '\n')
      return lfail(l, "unterminated string");
    if (*bytes && l->p[l->pos] >= 0x80)
      return lfail(l, "non-ASCII byte in a bytes literal");
    if (l->p[l->pos] != '\\' || raw) {
      if (raw && l->p[l->pos] == '\\' && l->pos + 1 < l->n) {
        /* a raw string keeps the backslash and what follows it */
        mg_buf_addch(b, '\\', NULL);
        l->pos++;
      }
      if (next_cp(l, &cp) < 0)
        return -1;
      put_cp(b, cp);
      continue;
    }
    l->pos++;
    if (l->pos >= l->n)
      return lfail(l, "unterminated string");
    switch (l->p[l->pos++]) {
    case '\n':
      break;
    case '\\':
      mg_buf_addch(b, '\\', NULL);
      break;
    case '\'':
      mg_buf_addch(b, '\'', NULL);
      break;
    case '"':
      mg_buf_addch(b, '"', NULL);
      break;
    case 'a':
      mg_buf_addch(b, '\a', NULL);
      break;
    case 'b':
      mg_buf_addch(b, '\b', NULL);
      break;
    case 'f':
      mg_buf_addch(b, '\f', NULL);
      break;
    case 'n':
      mg_buf_addch(b, '\n', NULL);
      break;
    case 'r':
      mg_buf_addch(b, '\r', NULL);
      break;
    case 't':
      mg_buf_addch(b, '\t', NULL);
      break;
    case 'v':
      mg_buf_addch(b, '\v', NULL);
      break;
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7': {
      uint32_t v = (uint32_t)(l->p[l->pos - 1] - '0');
      for (int k = 0;
           k < 2 && l->pos < l->n && l->p[l->pos] >= '0' && l->p[l->pos] <= '7';
           k++)
        v = v * 8 + (uint32_t)(l->p[l->pos++] - '0');
      if (*bytes)
        mg_buf_addch(b, (char)(v & 0xff), NULL);
      else
        put_cp(b, v);
      break;
    }
    case 'x':
    case 'u':
    case 'U': {
      unsigned char e = l->p[l->pos - 1];
      int k = e == 'x' ? 2 : e == 'u' ? 4 : 8;
      uint32_t v = 0;
      if (e != 'x' && *bytes) {
        mg_buf_addch(b, '\\', NULL);
        mg_buf_addch(b, (char)e, NULL);
        break;
      }
      for (int j = 0; j < k; j++) {
        int h = l->pos < l->n ? mg_digest_hexval(l->p[l->pos]) : -1;
        if (h < 0)
          return lfail(l, "truncated escape");
        v = v << 4 | (uint32_t)h;
        l->pos++;
      }
      if (v > 0x10ffff)
        return lfail(l, "escape out of range");
      if (*bytes)
        mg_buf_addch(b, (char)v, NULL);
      else
        put_cp(b, v);
      break;
    }
    case 'N':
      if (*bytes) {
        mg_buf_add(b, "\\N", 2, NULL);
        break;
      }
      /* A character by name: not resolved here. */
      if (l->pos >= l->n || l->p[l->pos] != '{')
        return lfail(l, "malformed \\N escape");
      while (l->pos < l->n && l->p[l->pos] != '}' && l->p[l->pos] != q)
        l->pos++;
      if (l->pos >= l->n || l->p[l->pos] != '}')
        return lfail(l, "malformed \\N escape");
      l->pos++;
      *unknown = 1;
      break;
    default:
      /* An unknown escape keeps its backslash. */
      mg_buf_addch(b, '\\', NULL);
      l->pos--;
      if (next_cp(l, &cp) < 0)
        return -1;
      put_cp(b, cp);
    }
  }
}

static int is_ident(unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
         || (c >= '0' && c <= '9') || c == '_';
}

/* A number: ints in every int() literal spelling, floats, complex. */
static int number(struct lit *l, int neg, long *out)
{
  size_t st = l->pos, digits = 0;
  int base = 10, isfloat = 0, prev = 0;
  uint64_t v = 0;
  int big = 0;
  long id;

  if (l->p[l->pos] == '0' && l->pos + 1 < l->n
      && strchr("xXoObB", l->p[l->pos + 1]) && l->p[l->pos + 1]) {
    unsigned char c = (unsigned char)(l->p[l->pos + 1] | 0x20);
    base = c == 'x' ? 16 : c == 'o' ? 8 : 2;
    l->pos += 2;
  }
  while (l->pos < l->n) {
    unsigned char c = l->p[l->pos];
    int d = mg_digest_hexval(c);
    if (c == '_') {
      if (prev == '_' || (!digits && base == 10))
        return lfail(l, "bad number");
    } else if (d >= 0 && d < base) {
      if (v > (UINT64_MAX - (unsigned)d) / (unsigned)base)
        big = 1;
      v = v * (unsigned)base + (unsigned)d;
      digits++;
    } else {
      break;
    }
    prev = c;
    l->pos++;
  }
  if (prev == '_')
    return lfail(l, "bad number");
  if (base == 10 && l->pos < l->n
      && (l->p[l->pos] == '.' || l->p[l->pos] == 'e' || l->p[l->pos] == 'E'
          || l->p[l->pos] == 'j' || l->p[l->pos] == 'J')) {
    /* float or imaginary: checked loosely, the value is not used */
    isfloat = 1;
    while (l->pos < l->n
           && (is_ident(l->p[l->pos]) || l->p[l->pos] == '.'
               || ((l->p[l->pos] == '+' || l->p[l->pos] == '-')
                   && (l->p[l->pos - 1] | 0x20) == 'e')))
      l->pos++;
  } else if (!digits) {
    return lfail(l, "bad number");
  } else if (base == 10 && digits > 1 && l->p[st] == '0' && v) {
    return lfail(l, "leading zeros in a decimal number");
  }
  if (l->allow_l && !isfloat && l->pos < l->n
      && (l->p[l->pos] == 'L' || l->p[l->pos] == 'l'))
    l->pos++;
  if (l->pos < l->n && is_ident(l->p[l->pos]))
    return lfail(l, "bad number");
  id = new_node(l, isfloat ? L_FLOAT : L_INT);
  if (id < 0)
    return -1;
  if (!isfloat) {
    l->nodes[id].big = big || v > (uint64_t)INT64_MAX;
    l->nodes[id].i = neg ? -(int64_t)(v & INT64_MAX) : (int64_t)(v & INT64_MAX);
  }
  *out = id;
  return 0;
}

static int value(struct lit *l, int depth, long *out);

/* Items up to close, collected here and then stored contiguously in
 * kids (nested containers store theirs first). '(x)' is x, '(x,)' a
 * tuple. */
static int items(struct lit *l, enum lk kind, unsigned char close, int depth,
                 long *out)
{
  size_t *loc = NULL, nloc = 0, cloc = 0, count = 0;
  int comma = 0, rc = -1;
  long id;

  for (;;) {
    long v[2];
    int k = kind == L_DICT ? 2 : 1;
    skip_ws(l);
    if (l->pos < l->n && l->p[l->pos] == close) {
      l->pos++;
      break;
    }
    if (count && !comma) {
      lfail(l, "expected ','");
      goto out;
    }
    if (value(l, depth + 1, &v[0]) < 0)
      goto out;
    if (kind == L_DICT) {
      skip_ws(l);
      if (l->pos >= l->n || l->p[l->pos] != ':') {
        lfail(l, "expected ':'");
        goto out;
      }
      l->pos++;
      if (value(l, depth + 1, &v[1]) < 0)
        goto out;
    }
    if (nloc + 2 > cloc) {
      cloc = cloc ? cloc * 2 : 16;
      loc = mg_xreallocarray(loc, cloc, sizeof(*loc));
    }
    for (int j = 0; j < k; j++)
      loc[nloc++] = (size_t)v[j];
    count++;
    skip_ws(l);
    comma = l->pos < l->n && l->p[l->pos] == ',';
    if (comma)
      l->pos++;
  }
  if (kind == L_TUPLE && count == 1 && !comma) {
    *out = (long)loc[0]; /* parentheses around one value */
    rc = 0;
    goto out;
  }
  id = new_node(l, kind);
  if (id < 0)
    goto out;
  if (l->nk + nloc > l->kcap) {
    while (l->nk + nloc > l->kcap)
      l->kcap = l->kcap ? l->kcap * 2 : 64;
    l->kids = mg_xreallocarray(l->kids, l->kcap, sizeof(*l->kids));
  }
  if (nloc)
    memcpy(l->kids + l->nk, loc, nloc * sizeof(*loc));
  l->nodes[id].first = l->nk;
  l->nodes[id].n = count;
  l->nk += nloc;
  *out = id;
  rc = 0;
out:
  free(loc);
  return rc;
}

static int value_at(struct lit *l, int depth, long *out);

/* A value, with its place in the header. */
static int value(struct lit *l, int depth, long *out)
{
  size_t at;

  skip_ws(l);
  at = l->pos;
  if (value_at(l, depth, out) < 0)
    return -1;
  l->nodes[*out].at = at;
  l->nodes[*out].end = l->pos;
  return 0;
}

static int value_at(struct lit *l, int depth, long *out)
{
  unsigned char c;

  if (depth > DEPTH_MAX)
    return lfail(l, "header nested too deep");
  skip_ws(l);
  if (l->pos >= l->n)
    return lfail(l, "unexpected end of header");
  c = l->p[l->pos];
  if (c == '{' || c == '[' || c == '(') {
    size_t save = l->pos++;
    if (c == '{') {
      /* a dict, or a set when the first item has no ':' */
      long probe;
      size_t nk = l->nk, nn = l->nn;
      skip_ws(l);
      if (l->pos < l->n && l->p[l->pos] != '}') {
        if (value(l, depth + 1, &probe) < 0)
          return -1;
        skip_ws(l);
        if (l->pos < l->n && l->p[l->pos] != ':') {
          l->nk = nk;
          l->nn = nn;
          l->pos = save + 1;
          return items(l, L_SET, '}', depth, out);
        }
        l->nk = nk;
        l->nn = nn;
        l->pos = save + 1;
      }
      return items(l, L_DICT, '}', depth, out);
    }
    return items(l, c == '[' ? L_LIST : L_TUPLE, c == '[' ? ']' : ')', depth,
                 out);
  }
  if (c == '-' || c == '+') {
    l->pos++;
    skip_ws(l);
    if (l->pos >= l->n
        || !((l->p[l->pos] >= '0' && l->p[l->pos] <= '9')
             || l->p[l->pos] == '.'))
      return lfail(l, "unary sign on something not a number");
    return number(l, c == '-', out);
  }
  if ((c >= '0' && c <= '9') || c == '.')
    return number(l, 0, out);
  if (c == '\'' || c == '"'
      || (strchr("rRbBuU", c) && c
          && (l->pos + 1 < l->n
              && (l->p[l->pos + 1] == '\'' || l->p[l->pos + 1] == '"'
                  || (strchr("rRbB", l->p[l->pos + 1]) && l->p[l->pos + 1]
                      && l->pos + 2 < l->n
                      && (l->p[l->pos + 2] == '\''
                          || l->p[l->pos + 2] == '"')))))) {
    /* adjacent literals concatenate; str and bytes do not mix */
    struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
    int bytes = -1, unknown = 0;
    long id;
    for (;;) {
      int bt;
      if (one_string(l, &b, &bt, &unknown) < 0) {
        mg_buf_release(&b);
        return -1;
      }
      if (bytes >= 0 && bt != bytes) {
        mg_buf_release(&b);
        return lfail(l, "cannot mix bytes and str literals");
      }
      bytes = bt;
      skip_ws(l);
      if (l->pos >= l->n)
        break;
      c = l->p[l->pos];
      if (!(c == '\'' || c == '"'
            || (strchr("rRbBuU", c) && c && l->pos + 1 < l->n
                && strchr("'\"rRbB", l->p[l->pos + 1]) && l->p[l->pos + 1])))
        break;
    }
    id = new_node(l, bytes ? L_BYTES : L_STR);
    if (id < 0) {
      mg_buf_release(&b);
      return -1;
    }
    l->nodes[id].s = l->strs.len;
    l->nodes[id].slen = b.len;
    l->nodes[id].unknown = unknown;
    mg_buf_add(&l->strs, b.data ? b.data : "", b.len, NULL);
    mg_buf_addch(&l->strs, '\0', NULL);
    mg_buf_release(&b);
    *out = id;
    return 0;
  }
  if (is_ident(c)) {
    size_t st = l->pos;
    long id;
    while (l->pos < l->n && is_ident(l->p[l->pos]))
      l->pos++;
    if (l->pos - st == 4 && memcmp(l->p + st, "True", 4) == 0) {
      id = new_node(l, L_BOOL);
      if (id >= 0)
        l->nodes[id].i = 1;
    } else if (l->pos - st == 5 && memcmp(l->p + st, "False", 5) == 0) {
      id = new_node(l, L_BOOL);
    } else if (l->pos - st == 4 && memcmp(l->p + st, "None", 4) == 0) {
      id = new_node(l, L_NONE);
    } else {
      l->pos = st;
      return lfail(l, "a name that is not a literal");
    }
    if (id < 0)
      return -1;
    *out = id;
    return 0;
  }
  return lfail(l, "not a literal");
}

/* ---- numpy's dtypes ---- */

struct dt {
  int objects; /* holds objects */
  int unsized; /* not understood: treated as objects by the caller */
  uint64_t itemsize;
};

static const char *lstr(const struct lit *l, const struct lnode *x)
{
  return l->strs.data + x->s;
}

/* A numpy type string ('<f8', '|O', 'U10', 'M8[ns]', '?', ...). */
static void typestr(const char *s, size_t n, struct dt *d)
{
  static const struct {
    char c;
    unsigned size;
  } single[] = {
    { '?', 1 }, { 'b', 1 },  { 'B', 1 }, { 'h', 2 },  { 'H', 2 },
    { 'i', 4 }, { 'I', 4 },  { 'l', 8 }, { 'L', 8 },  { 'q', 8 },
    { 'Q', 8 }, { 'p', 8 },  { 'P', 8 }, { 'e', 2 },  { 'f', 4 },
    { 'd', 8 }, { 'g', 16 }, { 'F', 8 }, { 'D', 16 }, { 'G', 32 }
  };
  size_t i = 0;
  char kind;
  uint64_t num = 0;
  size_t digits = 0;

  /* Any 'O' is an object type in some spelling ('O', 'O8', 'object',
   * 'i4,O', '(2,)O'): numpy will unpickle. */
  if (memchr(s, 'O', n) || (n >= 6 && strstr(s, "object"))) {
    d->objects = 1;
    return;
  }
  if (n && strchr("<>|=", s[0]))
    i++;
  if (i >= n) {
    d->unsized = 1;
    return;
  }
  kind = s[i++];
  if (i == n) {
    for (size_t k = 0; k < sizeof(single) / sizeof(single[0]); k++)
      if (single[k].c == kind) {
        d->itemsize = single[k].size;
        return;
      }
    if (kind == 'S' || kind == 'a' || kind == 'U' || kind == 'V') {
      d->itemsize = 0;
      return;
    }
    d->unsized = 1;
    return;
  }
  while (i < n && s[i] >= '0' && s[i] <= '9' && digits < 12) {
    num = num * 10 + (uint64_t)(s[i++] - '0');
    digits++;
  }
  if (!digits) {
    d->unsized = 1;
    return;
  }
  if (kind == 'm' || kind == 'M') {
    if (num != 8) {
      d->unsized = 1;
      return;
    }
    if (i < n) {
      /* [unit] or [multiple unit] */
      if (s[i] != '[' || s[n - 1] != ']') {
        d->unsized = 1;
        return;
      }
      for (size_t k = i + 1; k + 1 < n; k++)
        if (!is_ident((unsigned char)s[k])) {
          d->unsized = 1;
          return;
        }
      i = n;
    }
    d->itemsize = 8;
    return;
  }
  if (i != n) {
    d->unsized = 1;
    return;
  }
  switch (kind) {
  case 'b':
    if (num != 1)
      d->unsized = 1;
    break;
  case 'i':
  case 'u':
    if (num != 1 && num != 2 && num != 4 && num != 8)
      d->unsized = 1;
    break;
  case 'f':
    if (num != 2 && num != 4 && num != 8 && num != 16)
      d->unsized = 1;
    break;
  case 'c':
    if (num != 8 && num != 16 && num != 32)
      d->unsized = 1;
    break;
  case 'S':
  case 'a':
  case 'V':
    break;
  case 'U':
    num *= 4;
    break;
  default:
    d->unsized = 1;
  }
  d->itemsize = num;
}

/* The element count of a shape: an int or a tuple of ints. */
static int shape_count(const struct lit *l, const struct lnode *x,
                       uint64_t *count)
{
  *count = 1;
  if (x->kind == L_INT || x->kind == L_BOOL) {
    if (x->big || x->i < 0)
      return -1;
    *count = (uint64_t)x->i;
    return 0;
  }
  if (x->kind != L_TUPLE)
    return -1;
  for (size_t i = 0; i < x->n; i++) {
    const struct lnode *e = &l->nodes[l->kids[x->first + i]];
    if ((e->kind != L_INT && e->kind != L_BOOL) || e->big || e->i < 0)
      return -1;
    if (e->i && *count > ((uint64_t)1 << 62) / (uint64_t)e->i)
      return -1;
    *count *= (uint64_t)e->i;
  }
  return 0;
}

static void mul_size(struct dt *d, uint64_t k)
{
  if (k && d->itemsize > ((uint64_t)1 << 62) / k)
    d->unsized = 1;
  else
    d->itemsize *= k;
}

/* descr_to_dtype: a str, a (descr, shape) subarray or a list of fields. */
static void dtype_of(const struct lit *l, const struct lnode *x, int depth,
                     struct dt *d)
{
  if (depth > DEPTH_MAX) {
    d->unsized = 1;
    return;
  }
  if (x->kind == L_STR) {
    if (x->unknown)
      d->unsized = 1;
    else
      typestr(lstr(l, x), x->slen, d);
    return;
  }
  if (x->kind == L_TUPLE && x->n == 2) {
    uint64_t k;
    dtype_of(l, &l->nodes[l->kids[x->first]], depth + 1, d);
    if (shape_count(l, &l->nodes[l->kids[x->first + 1]], &k) < 0)
      d->unsized = 1;
    else
      mul_size(d, k);
    return;
  }
  if (x->kind == L_LIST) {
    uint64_t total = 0;
    for (size_t i = 0; i < x->n; i++) {
      const struct lnode *f = &l->nodes[l->kids[x->first + i]];
      struct dt fd = { 0, 0, 0 };
      if ((f->kind != L_TUPLE && f->kind != L_LIST) || f->n < 2 || f->n > 3) {
        d->unsized = 1;
        continue;
      }
      dtype_of(l, &l->nodes[l->kids[f->first + 1]], depth + 1, &fd);
      if (f->n == 3) {
        uint64_t k;
        if (shape_count(l, &l->nodes[l->kids[f->first + 2]], &k) < 0)
          fd.unsized = 1;
        else
          mul_size(&fd, k);
      }
      d->objects |= fd.objects;
      d->unsized |= fd.unsized;
      if (total > UINT64_MAX / 2 - fd.itemsize)
        d->unsized = 1;
      else
        total += fd.itemsize;
    }
    d->itemsize = total;
    return;
  }
  d->unsized = 1;
}

/* A short printable rendering of header bytes for messages. */
static void render(char *out, size_t cap, const unsigned char *p, size_t n)
{
  size_t k = 0;

  for (size_t i = 0; i < n && k + 1 < cap; i++)
    out[k++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
  while (k && out[k - 1] == ' ')
    k--;
  out[k] = '\0';
}

int mg_npy_parse(const unsigned char *p, size_t n, struct mg_npy_info *info,
                 struct mg_err *err)
{
  struct lit l;
  size_t hl, off;
  long root;
  const struct lnode *r, *descr = NULL, *fortran = NULL, *shape = NULL;
  struct dt d = { 0, 0, 0 };
  int rc = -1;

  memset(info, 0, sizeof(*info));
  memset(&l, 0, sizeof(l));
  mg_buf_init(&l.strs, MG_BUF_UNLIMITED);
  if (n < 10 || memcmp(p, "\x93NUMPY", 6) != 0)
    return mg_err_set(err, MG_ERR_DATA, "not a .npy file");
  info->major = p[6];
  if ((p[6] != 1 && p[6] != 2 && p[6] != 3) || p[7] != 0)
    return mg_err_set(err, MG_ERR_DATA,
                      ".npy format version %d.%d is not "
                      "one numpy reads",
                      p[6], p[7]);
  if (p[6] == 1) {
    hl = (size_t)p[8] | (size_t)p[9] << 8;
    off = 10;
  } else {
    if (n < 12)
      return mg_err_set(err, MG_ERR_DATA, "truncated .npy header");
    hl = (size_t)p[8] | (size_t)p[9] << 8 | (size_t)p[10] << 16
         | (size_t)p[11] << 24;
    off = 12;
  }
  if (hl > n - off)
    return mg_err_set(err, MG_ERR_DATA,
                      ".npy header passes the end of the "
                      "file");
  info->data_offset = off + hl;
  l.p = p + off;
  l.n = hl;
  l.utf8 = p[6] == 3;
  l.allow_l = p[6] < 3;
  if (memchr(l.p, 0, hl)) {
    mg_err_set(err, MG_ERR_DATA, ".npy header holds a NUL byte");
    goto out;
  }
  if (value(&l, 0, &root) < 0)
    goto bad;
  skip_ws(&l);
  if (l.pos != l.n) {
    lfail(&l, "text after the header's dict");
    goto bad;
  }
  r = &l.nodes[root];
  if (r->kind != L_DICT) {
    mg_err_set(err, MG_ERR_DATA, ".npy header is not a dict");
    goto out;
  }
  for (size_t i = 0; i < r->n; i++) {
    const struct lnode *k = &l.nodes[l.kids[r->first + 2 * i]];
    const struct lnode *v = &l.nodes[l.kids[r->first + 2 * i + 1]];
    const char *ks = k->kind == L_STR ? lstr(&l, k) : "";
    if (k->kind == L_STR && k->unknown) {
      /* a key spelled with \N{...}: it could be any of the three */
      info->objects = 1;
      (void)snprintf(info->why, sizeof(info->why), "header not understood");
      rc = 0;
      goto out;
    }
    if (k->kind == L_STR && k->slen == 5 && strcmp(ks, "descr") == 0) {
      descr = v;
    } else if (k->kind == L_STR && k->slen == 13
               && strcmp(ks, "fortran_order") == 0) {
      fortran = v;
    } else if (k->kind == L_STR && k->slen == 5 && strcmp(ks, "shape") == 0) {
      shape = v;
    } else {
      mg_err_set(err, MG_ERR_DATA,
                 ".npy header has a key other than "
                 "descr, fortran_order and shape");
      goto out;
    }
  }
  if (!descr || !fortran || !shape) {
    mg_err_set(err, MG_ERR_DATA,
               ".npy header lacks descr, fortran_order or "
               "shape");
    goto out;
  }
  if (fortran->kind != L_BOOL) {
    mg_err_set(err, MG_ERR_DATA, ".npy fortran_order is not a bool");
    goto out;
  }
  info->fortran = (int)fortran->i;
  if (shape->kind != L_TUPLE || shape_count(&l, shape, &info->count) < 0) {
    mg_err_set(err, MG_ERR_DATA,
               ".npy shape is not a tuple of "
               "non-negative ints");
    goto out;
  }
  render(info->descr, sizeof(info->descr), p + off + descr->at,
         descr->end - descr->at);
  if (descr->kind == L_STR)
    render(info->descr, sizeof(info->descr),
           (const unsigned char *)lstr(&l, descr), descr->slen);
  dtype_of(&l, descr, 0, &d);
  if (d.objects || d.unsized) {
    info->objects = 1;
    (void)snprintf(info->why, sizeof(info->why), "%s",
                   d.objects ? "object dtype" : "dtype it cannot size");
  } else {
    info->itemsize = d.itemsize;
    if (d.itemsize && info->count > UINT64_MAX / d.itemsize) {
      mg_err_set(err, MG_ERR_DATA, ".npy array larger than 2^64 bytes");
      goto out;
    }
    info->data_len = info->count * d.itemsize;
  }
  rc = 0;
  goto out;
bad:
  mg_err_set(err, MG_ERR_DATA, ".npy header is not a literal numpy reads: %s",
             l.err);
out:
  free(l.nodes);
  free(l.kids);
  mg_buf_release(&l.strs);
  return rc;
}
