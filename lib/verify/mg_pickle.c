#include "verify/mg_pickle.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "mg_buf.h"
#include "mg_digest.h"
#include "mg_err.h"
#include "mg_mem.h"
#include "mg_utf8.h"

#define STACK_MAX ((size_t)1 << 21)
#define MEMO_MAX ((size_t)1 << 22)
#define STR_KEEP 512 /* longer strings cannot be module names */
#define HEAP_MAX ((size_t)1 << 21)
#define ELEM_MAX ((size_t)1 << 22)
#define TUP_KEEP 32     /* tuple elements kept (numpy has at most 32 dims) */
#define LIST_KEEP 65536 /* list items kept per list (torch storage keys) */
#define GLOBALS_MAX 100000
#define STORAGES_MAX 1000000

static const char *const default_allow[] = {
  "_codecs.encode",
  "builtins.bytearray",
  "builtins.complex",
  "builtins.frozenset",
  "builtins.set",
  "builtins.slice",
  "collections.OrderedDict",
  "joblib.numpy_pickle.NumpyArrayWrapper",
  "numpy._core.multiarray._reconstruct",
  "numpy._core.multiarray.scalar",
  "numpy.core.multiarray._reconstruct",
  "numpy.core.multiarray.scalar",
  "numpy.dtype",
  "numpy.ndarray",
  "torch.BFloat16Storage",
  "torch.BoolStorage",
  "torch.ByteStorage",
  "torch.CharStorage",
  "torch.ComplexDoubleStorage",
  "torch.ComplexFloatStorage",
  "torch.DoubleStorage",
  "torch.FloatStorage",
  "torch.HalfStorage",
  "torch.IntStorage",
  "torch.LongStorage",
  "torch.QInt32Storage",
  "torch.QInt8Storage",
  "torch.QUInt2x4Storage",
  "torch.QUInt4x2Storage",
  "torch.QUInt8Storage",
  "torch.ShortStorage",
  "torch.Size",
  "torch._utils._rebuild_parameter",
  "torch._utils._rebuild_parameter_with_state",
  "torch._utils._rebuild_tensor",
  "torch._utils._rebuild_tensor_v2",
  "torch.bfloat16",
  "torch.bool",
  "torch.device",
  "torch.float16",
  "torch.float32",
  "torch.float64",
  "torch.int16",
  "torch.int32",
  "torch.int64",
  "torch.int8",
  "torch.uint8",
  NULL,
};

/* Element sizes of torch's storage types (torch._utils._element_size). */
static const struct {
  const char *name;
  unsigned size;
} storage_sizes[] = {
  { "torch.BFloat16Storage", 2 },       { "torch.BoolStorage", 1 },
  { "torch.ByteStorage", 1 },           { "torch.CharStorage", 1 },
  { "torch.ComplexDoubleStorage", 16 }, { "torch.ComplexFloatStorage", 8 },
  { "torch.DoubleStorage", 8 },         { "torch.FloatStorage", 4 },
  { "torch.HalfStorage", 2 },           { "torch.IntStorage", 4 },
  { "torch.LongStorage", 8 },           { "torch.QInt32Storage", 4 },
  { "torch.QInt8Storage", 1 },          { "torch.QUInt2x4Storage", 1 },
  { "torch.QUInt4x2Storage", 1 },       { "torch.QUInt8Storage", 1 },
  { "torch.ShortStorage", 2 },          { "torch.UntypedStorage", 1 },
};

/*
 * Values on the abstract stack. The builtin values a pickle builds by
 * itself have their own kinds (a loader raises on calling one of them);
 * what calls and persistent ids return is K_OBJ, of unknown type. What
 * joblib's array format, torch's legacy format and the stream rules need
 * is modelled with identity (a heap index, so memo copies and later
 * SETITEMS see the same object): ints, tuples, lists, dicts, numpy dtypes
 * and joblib's NumpyArrayWrapper.
 */
enum kind {
  K_NONE,
  K_BOOL,
  K_INT,
  K_FLOAT,
  K_STR,
  K_LONGSTR, /* a str longer than STR_KEEP: content not kept */
  K_BYTES,
  K_BYTEARRAY,
  K_TUP,
  K_LIST,
  K_DICT,
  K_SET,
  K_FROZENSET,
  K_GLOBAL,
  K_OBJ,
  K_DTYPE,
  K_WRAP,
};

struct val {
  unsigned char kind;
  unsigned char allowed; /* K_GLOBAL */
  unsigned char big;     /* K_INT: 0 num holds it, 1 a 128-bit value in
                            the heap, 2 larger */
  uint32_t ref;          /* K_STR: string offset in the arena; K_GLOBAL:
                            index into rep->globals */
  uint32_t len;          /* K_STR */
  uint32_t h;            /* tracked object: heap index + 1 */
  int64_t num;           /* K_INT */
};

/* A tracked object. */
struct hobj {
  unsigned char type; /* K_TUP, K_LIST, K_DICT, K_DTYPE, K_WRAP or K_INT */
  uint32_t n;         /* K_TUP, K_LIST: length */
  size_t el;          /* K_TUP: its first min(n, TUP_KEEP) elements */
  struct val *items;  /* K_LIST: the first LIST_KEEP items */
  size_t nitems, cap;
  /* K_DICT, K_WRAP: the entries / attributes joblib reads (kind K_OBJ
   * with have_* 0 when absent) */
  struct val shape, dtype, align;
  unsigned char have_shape, have_dtype, have_align;
  /* K_DTYPE: the type string ("f8", "U10", "O8") and the state */
  char dkind;
  uint64_t dnum;
  int dstate;     /* 0 no state, 1 a plain one, -1 structured or odd */
  int64_t elsize; /* from the state, -1 when none */
  /* K_INT with big == 1: two's complement over 128 bits */
  uint64_t hi, lo;
};

struct memo_slot {
  uint64_t key;
  struct val v;
  int used;
};

struct scan {
  const unsigned char *p;
  size_t n, pos, op_pos;
  const char *const *extra;
  struct mg_pickle_report *rep;
  struct val *stack;
  size_t sp, scap;
  size_t *marks; /* stack sizes at each MARK, as CPython keeps them */
  size_t nmarks, markcap, fence;
  struct memo_slot *memo;
  size_t mcap, mcount;
  struct mg_buf strs;
  struct hobj *heap;
  size_t hn, hcap;
  struct val *el; /* tuple elements */
  size_t eln, elcap;
  size_t kept;         /* list items kept, all lists */
  size_t frame_end;    /* end of the current protocol 4 frame, 0: none */
  int proto;           /* PROTO of the current pickle */
  int joblib;          /* joblib.load's semantics: arrays follow BUILD */
  int persistent;      /* the unpickler has a persistent_load */
  int plain;           /* MG_PICKLE_PLAIN: without one, persistent ids raise */
  size_t lenient_from; /* plain pass over a joblib file: from here on the
                          bytes are array data to pickle.load */
  size_t first_array;  /* where the first joblib array's data starts */
  size_t pickle_no;    /* 1-based index of the pickle being read */
  struct val result;   /* the value the last STOP returned */
};

/* Step results. */
#define R_OK 0
#define R_STOP 1          /* STOP: the pickle is complete */
#define R_LOADER (-1)     /* a loader raises here: rep->error */
#define R_UNFINISHED (-2) /* the scanner cannot follow: rep->error */

static void set_end(struct scan *s, enum mg_pickle_end end, const char *fmt,
                    va_list ap) __attribute__((format(printf, 3, 0)));

static void set_end(struct scan *s, enum mg_pickle_end end, const char *fmt,
                    va_list ap)
{
  struct mg_pickle_report *r = s->rep;

  r->stop = end;
  r->stop_at = s->op_pos;
  r->stop_pickle = s->pickle_no;
  (void)vsnprintf(r->error, sizeof(r->error), fmt, ap);
}

/* The loader raises here (UnpicklingError, ValueError, EOFError, ...). */
static int loader(struct scan *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int loader(struct scan *s, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  set_end(s, MG_PICKLE_LOADER_STOPS, fmt, ap);
  va_end(ap);
  return R_LOADER;
}

/* The scanner cannot follow the load past here. */
static int unfinished(struct scan *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int unfinished(struct scan *s, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  set_end(s, MG_PICKLE_UNFINISHED, fmt, ap);
  va_end(ap);
  return R_UNFINISHED;
}

static void set_reason(struct scan *s, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void set_reason(struct scan *s, const char *fmt, va_list ap)
{
  struct mg_pickle_report *r = s->rep;

  r->unsafe = 1;
  if (!r->reason[0])
    (void)vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
}

/* Unsafe; the walk goes on so that every import is reported. Returns 0. */
static int flag(struct scan *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int flag(struct scan *s, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  set_reason(s, fmt, ap);
  va_end(ap);
  return R_OK;
}

/* A construct the scanner refuses to follow: unsafe, and unfinished. */
static int refuse(struct scan *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int refuse(struct scan *s, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  set_reason(s, fmt, ap);
  va_end(ap);
  va_start(ap, fmt);
  set_end(s, MG_PICKLE_UNFINISHED, fmt, ap);
  va_end(ap);
  return R_UNFINISHED;
}

/*
 * An unsafe construct that a plain unpickler would reach only inside a
 * joblib array's bytes (lenient region) is not one: there only imports
 * that could really import something count (add_global).
 */
static int soft_flag(struct scan *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int soft_flag(struct scan *s, const char *fmt, ...)
{
  va_list ap;

  if (s->op_pos >= s->lenient_from)
    return R_OK;
  s->rep->acted = 1;
  va_start(ap, fmt);
  set_reason(s, fmt, ap);
  va_end(ap);
  return R_OK;
}

static int truncated(struct scan *s)
{
  return loader(s, "pickle data was truncated");
}

static int need(struct scan *s, uint64_t k)
{
  if (k > s->n - s->pos)
    return truncated(s);
  return R_OK;
}

static uint64_t le(const unsigned char *p, int k)
{
  uint64_t v = 0;

  for (int i = k - 1; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

/* ---- the stack, with CPython's marks and fence ---- */

static int push(struct scan *s, struct val v)
{
  if (s->sp == s->scap) {
    if (s->scap >= STACK_MAX)
      return unfinished(s, "stack deeper than %zu entries", STACK_MAX);
    s->scap = s->scap ? s->scap * 2 : 64;
    s->stack = mg_xreallocarray(s->stack, s->scap, sizeof(*s->stack));
  }
  s->stack[s->sp++] = v;
  return R_OK;
}

static int push_kind(struct scan *s, enum kind k)
{
  struct val v;

  memset(&v, 0, sizeof(v));
  v.kind = (unsigned char)k;
  return push(s, v);
}

static int push_int(struct scan *s, int64_t n)
{
  struct val v;

  memset(&v, 0, sizeof(v));
  v.kind = K_INT;
  v.num = n;
  return push(s, v);
}

static int underflow(struct scan *s)
{
  return loader(s, "%s",
                s->nmarks ? "unexpected MARK found"
                          : "unpickling stack underflow");
}

/* Pops the top value, which must be above the topmost mark. */
static int pop(struct scan *s, struct val *out)
{
  if (s->sp <= s->fence)
    return underflow(s);
  s->sp--;
  if (out)
    *out = s->stack[s->sp];
  return R_OK;
}

/* The top value (above the fence), or NULL. */
static struct val *top(struct scan *s)
{
  return s->sp > s->fence ? &s->stack[s->sp - 1] : NULL;
}

static int mark(struct scan *s)
{
  if (s->nmarks == s->markcap) {
    if (s->markcap >= STACK_MAX)
      return unfinished(s, "more than %zu marks", STACK_MAX);
    s->markcap = s->markcap ? s->markcap * 2 : 16;
    s->marks = mg_xreallocarray(s->marks, s->markcap, sizeof(*s->marks));
  }
  s->marks[s->nmarks++] = s->fence = s->sp;
  return R_OK;
}

/* Pops the topmost mark: *i gets the stack size it recorded. */
static int marker(struct scan *s, size_t *i)
{
  if (!s->nmarks)
    return loader(s, "could not find MARK");
  *i = s->marks[--s->nmarks];
  s->fence = s->nmarks ? s->marks[s->nmarks - 1] : 0;
  return R_OK;
}

/* ---- tracked objects ---- */

/* A new tracked object of kind k; *v gets its value. */
static int heap_new(struct scan *s, enum kind k, struct val *v)
{
  struct hobj *o;

  if (s->hn >= HEAP_MAX)
    return unfinished(s, "more than %zu tracked objects", HEAP_MAX);
  if (s->hn == s->hcap) {
    s->hcap = s->hcap ? s->hcap * 2 : 64;
    s->heap = mg_xreallocarray(s->heap, s->hcap, sizeof(*s->heap));
  }
  o = &s->heap[s->hn++];
  memset(o, 0, sizeof(*o));
  o->type = (unsigned char)k;
  o->elsize = -1;
  memset(v, 0, sizeof(*v));
  v->kind = (unsigned char)k;
  v->h = (uint32_t)s->hn;
  return R_OK;
}

/* The tracked object behind v when it is of kind k, else NULL. */
static struct hobj *hobj_of(struct scan *s, const struct val *v, enum kind k)
{
  if (v->kind != k || !v->h || v->h > s->hn || s->heap[v->h - 1].type != k)
    return NULL;
  return &s->heap[v->h - 1];
}

/* Replaces stack[from..sp) by one tuple (CPython's Pdata_poptuple). */
static int make_tuple(struct scan *s, size_t from)
{
  size_t n, k;
  struct val v;
  int rc;

  if (from < s->fence)
    return underflow(s);
  n = s->sp - from;
  k = n < TUP_KEEP ? n : TUP_KEEP;
  if (s->eln + k > ELEM_MAX)
    return unfinished(s, "more than %zu tuple elements", ELEM_MAX);
  rc = heap_new(s, K_TUP, &v);
  if (rc < 0)
    return rc;
  if (s->eln + k > s->elcap) {
    while (s->eln + k > s->elcap)
      s->elcap = s->elcap ? s->elcap * 2 : 256;
    s->el = mg_xreallocarray(s->el, s->elcap, sizeof(*s->el));
  }
  if (k)
    memcpy(s->el + s->eln, s->stack + from, k * sizeof(*s->el));
  s->heap[v.h - 1].n = (uint32_t)(n > UINT32_MAX ? UINT32_MAX : n);
  s->heap[v.h - 1].el = s->eln;
  s->eln += k;
  s->sp = from;
  return push(s, v);
}

/* Appends stack[from..sp) to a tracked list (items kept up to a limit). */
static void list_extend(struct scan *s, struct hobj *l, size_t from)
{
  size_t n = s->sp - from;

  l->n = (uint32_t)(l->n + n > UINT32_MAX ? UINT32_MAX : l->n + n);
  for (size_t i = from; i < s->sp; i++) {
    if (l->nitems >= LIST_KEEP || s->kept >= ELEM_MAX)
      return;
    if (l->nitems == l->cap) {
      l->cap = l->cap ? l->cap * 2 : 16;
      l->items = mg_xreallocarray(l->items, l->cap, sizeof(*l->items));
    }
    l->items[l->nitems++] = s->stack[i];
    s->kept++;
  }
}

/* A new list holding stack[from..sp), which is popped. */
static int make_list(struct scan *s, size_t from)
{
  struct val v;
  int rc = heap_new(s, K_LIST, &v);

  if (rc < 0)
    return rc;
  list_extend(s, &s->heap[v.h - 1], from);
  s->sp = from;
  return push(s, v);
}

/* dict[key] = value, or setattr, for the entries joblib reads. */
static void track_item(struct scan *s, const struct val *target,
                       const struct val *k, const struct val *v)
{
  struct hobj *o = hobj_of(s, target, K_DICT);
  const char *key;

  if (!o)
    o = hobj_of(s, target, K_WRAP);
  if (!o || k->kind != K_STR)
    return;
  key = s->strs.data + k->ref;
  if (strcmp(key, "shape") == 0) {
    o->shape = *v;
    o->have_shape = 1;
  } else if (strcmp(key, "dtype") == 0) {
    o->dtype = *v;
    o->have_dtype = 1;
  } else if (strcmp(key, "numpy_array_alignment_bytes") == 0) {
    o->align = *v;
    o->have_align = 1;
  }
}

/* ---- strings ---- */

/* Pushes a str (kind K_STR, or K_LONGSTR when too long to keep). */
static int push_strk(struct scan *s, enum kind k, const unsigned char *p,
                     size_t n)
{
  struct val v;

  memset(&v, 0, sizeof(v));
  v.kind = K_LONGSTR;
  if (k == K_STR && n <= STR_KEEP && s->strs.len + n + 1 < UINT32_MAX) {
    v.kind = K_STR;
    v.ref = (uint32_t)s->strs.len;
    v.len = (uint32_t)n;
    mg_buf_add(&s->strs, p, n, NULL);
    mg_buf_addch(&s->strs, '\0', NULL);
  }
  return push(s, v);
}

static int push_str(struct scan *s, const unsigned char *p, size_t n)
{
  return push_strk(s, K_STR, p, n);
}

static const char *str_of(const struct scan *s, const struct val *v)
{
  return s->strs.data + v->ref;
}

/*
 * Strict UTF-8 (Python's decoder): no overlongs, nothing past U+10FFFF;
 * surrogates (U+D800-DFFF) only with surrogatepass. Returns 1 if valid.
 */
static int utf8_ok(const unsigned char *p, size_t n, int surrogatepass)
{
  size_t i = 0;

  while (i < n) {
    unsigned char c = p[i];
    size_t k;
    uint32_t cp;
    if (c < 0x80) {
      i++;
      continue;
    }
    if (c >= 0xc2 && c <= 0xdf) {
      k = 1;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      k = 2;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      k = 3;
      cp = c & 0x07;
    } else {
      return 0;
    }
    if (k > n - i - 1)
      return 0;
    for (size_t j = 1; j <= k; j++) {
      if ((p[i + j] & 0xc0) != 0x80)
        return 0;
      cp = cp << 6 | (p[i + j] & 0x3f);
    }
    if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)))
      return 0;
    if (!surrogatepass && cp >= 0xd800 && cp <= 0xdfff)
      return 0;
    i += k + 1;
  }
  return 1;
}

static void put_utf8(struct mg_buf *b, uint32_t cp)
{
  char u[4];
  size_t k = mg_utf8_put(cp, u);

  if (b->len + k <= STR_KEEP + 4)
    mg_buf_add(b, u, k, NULL);
}

/* A text argument: the bytes up to and including the next newline (a
 * loader raises when there is none). */
static int line(struct scan *s, const unsigned char **out, size_t *len)
{
  const unsigned char *nl = memchr(s->p + s->pos, '\n', s->n - s->pos);

  if (!nl)
    return truncated(s);
  *out = s->p + s->pos;
  *len = (size_t)(nl - *out) + 1;
  s->pos += *len;
  return R_OK;
}

/* ---- numbers, as CPython parses them ---- */

/* An integer's magnitude over 128 bits (big: it needs more). */
struct pyint {
  uint64_t hi, lo;
  int neg, big;
};

static void mag_muladd(struct pyint *v, unsigned base, unsigned d)
{
  /* (hi:lo) * base + d, 32 bits at a time */
  uint64_t parts[4] = { v->lo & 0xffffffffu, v->lo >> 32, v->hi & 0xffffffffu,
                        v->hi >> 32 };
  uint64_t carry = d;

  for (int i = 0; i < 4; i++) {
    uint64_t x = parts[i] * base + carry;
    parts[i] = x & 0xffffffffu;
    carry = x >> 32;
  }
  if (carry)
    v->big = 1;
  v->lo = parts[0] | parts[1] << 32;
  v->hi = parts[2] | parts[3] << 32;
}

static int py_isspace(unsigned char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f'
         || c == '\r';
}

static unsigned digit_value(unsigned char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 10u;
  if (c >= 'A' && c <= 'Z')
    return c - 'A' + 10u;
  return 37;
}

/* The end of a line argument as C sees it: the first NUL, or n. */
static size_t c_end(const unsigned char *s, size_t n)
{
  const unsigned char *z = memchr(s, 0, n);

  return z ? (size_t)(z - s) : n;
}

/*
 * PyLong_FromString(s, NULL, base) on the C string s (n bytes, the end
 * at the first NUL): spaces around, a sign, for base 0 a 0x / 0o / 0b
 * prefix (or only zeros after a leading 0), single underscores between
 * digits. Returns 0 and *v, or -1 where int() raises ValueError.
 */
static int py_long(const unsigned char *s, size_t n, int base, struct pyint *v)
{
  size_t e = c_end(s, n), i = 0;
  int error_if_nonzero = 0, prev = 0;
  size_t digits = 0;

  memset(v, 0, sizeof(*v));
  while (i < e && py_isspace(s[i]))
    i++;
  if (i < e && (s[i] == '+' || s[i] == '-'))
    v->neg = s[i++] == '-';
  if (base == 0) {
    unsigned char c1 = i + 1 < e ? (unsigned char)(s[i + 1] | 0x20) : 0;
    if (i >= e || s[i] != '0')
      base = 10;
    else if (c1 == 'x')
      base = 16;
    else if (c1 == 'o')
      base = 8;
    else if (c1 == 'b')
      base = 2;
    else {
      error_if_nonzero = 1;
      base = 10;
    }
  }
  if (i + 1 < e && s[i] == '0') {
    unsigned char c1 = (unsigned char)(s[i + 1] | 0x20);
    if ((base == 16 && c1 == 'x') || (base == 8 && c1 == 'o')
        || (base == 2 && c1 == 'b')) {
      i += 2;
      if (i < e && s[i] == '_')
        i++;
    }
  }
  if (i < e && s[i] == '_')
    return -1;
  for (; i < e; i++) {
    if (s[i] == '_') {
      if (prev == '_')
        return -1;
    } else if (digit_value(s[i]) < (unsigned)base) {
      mag_muladd(v, (unsigned)base, digit_value(s[i]));
      digits++;
    } else {
      break;
    }
    prev = s[i];
  }
  if (prev == '_' || !digits)
    return -1;
  while (i < e && py_isspace(s[i]))
    i++;
  if (i != e)
    return -1;
  if (error_if_nonzero && (v->lo || v->hi || v->big))
    return -1;
  return 0;
}

/*
 * C strtol(s, &end, 0) as glibc does it: spaces, a sign, 0x (before a hex
 * digit) or a leading 0 for octal. *end_at gets the index of the first
 * byte not used; *range is set on overflow of a long.
 */
static int64_t c_strtol0(const unsigned char *s, size_t e, size_t *end_at,
                         int *range)
{
  size_t i = 0, start;
  int neg = 0, base = 10;
  uint64_t v = 0, lim;

  *range = 0;
  while (i < e && py_isspace(s[i]))
    i++;
  if (i < e && (s[i] == '+' || s[i] == '-'))
    neg = s[i++] == '-';
  if (i < e && s[i] == '0') {
    if (i + 2 < e && (s[i + 1] | 0x20) == 'x'
        && mg_digest_hexval(s[i + 2]) >= 0) {
      base = 16;
      i += 2;
    } else {
      base = 8;
    }
  }
  start = i;
  lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  for (; i < e; i++) {
    unsigned d = digit_value(s[i]);
    if (d >= (unsigned)base)
      break;
    if (v > (lim - d) / (unsigned)base)
      *range = 1;
    else
      v = v * (unsigned)base + d;
  }
  if (i == start) {
    *end_at = 0; /* no digits: nothing converted */
    return 0;
  }
  *end_at = i;
  if (*range)
    return 0;
  return neg ? (int64_t)(0 - v) : (int64_t)v;
}

/* Pushes an int from a pyint (128-bit values go to the heap). */
static int push_pyint(struct scan *s, const struct pyint *v)
{
  struct val x;
  int rc;

  if (v->big)
    goto big;
  if (!v->hi && v->lo <= (uint64_t)INT64_MAX)
    return push_int(s, v->neg ? -(int64_t)v->lo : (int64_t)v->lo);
  if (!v->hi && v->neg && v->lo == (uint64_t)INT64_MAX + 1)
    return push_int(s, INT64_MIN);
  if (v->hi >> 63)
    goto big;
  rc = heap_new(s, K_INT, &x);
  if (rc < 0)
    return rc;
  x.kind = K_INT;
  x.big = 1;
  s->heap[x.h - 1].hi = v->hi;
  s->heap[x.h - 1].lo = v->lo;
  if (v->neg) {
    s->heap[x.h - 1].lo = ~v->lo + 1;
    s->heap[x.h - 1].hi = ~v->hi + (v->lo == 0);
  }
  return push(s, x);
big:
  memset(&x, 0, sizeof(x));
  x.kind = K_INT;
  x.big = 2;
  return push(s, x);
}

/* INT: strtol base 0, else int(s, 0); "00" / "01" are False / True. */
static int op_int(struct scan *s)
{
  const unsigned char *p;
  size_t n, e, end;
  int range;
  int64_t x;
  struct pyint v;

  if (line(s, &p, &n) < 0)
    return R_LOADER;
  if (n < 2)
    return truncated(s);
  e = c_end(p, n);
  x = c_strtol0(p, e, &end, &range);
  if (range || !end || (end != e && p[end] != '\n')) {
    if (py_long(p, n, 0, &v) < 0)
      return loader(s, "could not convert string to int");
    return push_pyint(s, &v);
  }
  if (n == 3 && (x == 0 || x == 1))
    return push_kind(s, K_BOOL);
  return push_int(s, x);
}

/* LONG: int(s, 0) with a trailing 'L' (before the newline) dropped. */
static int op_long(struct scan *s)
{
  const unsigned char *p;
  size_t n;
  struct pyint v;

  if (line(s, &p, &n) < 0)
    return R_LOADER;
  if (n < 2)
    return truncated(s);
  if (py_long(p, p[n - 2] == 'L' ? n - 2 : n, 0, &v) < 0)
    return loader(s, "invalid literal for int() with base 0");
  return push_pyint(s, &v);
}

/* GET / PUT keys: int(s, 10) that fits a Py_ssize_t. */
static int memo_key(struct scan *s, int put, uint64_t *key)
{
  const unsigned char *p;
  size_t n;
  struct pyint v;

  if (line(s, &p, &n) < 0)
    return R_LOADER;
  if (n < 2)
    return truncated(s);
  if (py_long(p, n, 10, &v) < 0)
    return loader(s, "invalid literal for int() with base 10");
  if (v.big || v.hi || v.lo > (uint64_t)INT64_MAX)
    return loader(s, "memo key too large");
  if (v.neg && v.lo)
    return loader(s,
                  put ? "negative PUT argument"
                      : "Memo value not found at index -%llu",
                  (unsigned long long)v.lo);
  *key = v.lo;
  return R_OK;
}

static int is_digit(unsigned char c)
{
  return c >= '0' && c <= '9';
}

static int ci_prefix(const unsigned char *p, size_t n, const char *w)
{
  size_t k = strlen(w);

  if (n < k)
    return 0;
  for (size_t i = 0; i < k; i++)
    if ((p[i] | 0x20) != (unsigned char)w[i])
      return 0;
  return 1;
}

/*
 * FLOAT: PyOS_string_to_double: no leading space, a sign, digits with an
 * optional point and exponent (a bad exponent is left unread), or "inf",
 * "infinity", "nan" in any case; then a newline (or the C string's end)
 * must follow. Overflow to infinity is an error.
 */
static int op_float(struct scan *s)
{
  const unsigned char *p;
  size_t n, e, i = 0, digits = 0, tok;
  char buf[128];
  char *heapbuf = NULL, *t;
  double d;

  if (line(s, &p, &n) < 0)
    return R_LOADER;
  if (n < 2)
    return truncated(s);
  e = c_end(p, n);
  if (i < e && (p[i] == '+' || p[i] == '-'))
    i++;
  while (i < e && is_digit(p[i])) {
    i++;
    digits++;
  }
  if (i < e && p[i] == '.') {
    i++;
    while (i < e && is_digit(p[i])) {
      i++;
      digits++;
    }
  }
  if (digits && i < e && (p[i] | 0x20) == 'e') {
    size_t j = i + 1;
    if (j < e && (p[j] == '+' || p[j] == '-'))
      j++;
    if (j < e && is_digit(p[j])) {
      while (j < e && is_digit(p[j]))
        j++;
      i = j;
    }
  }
  if (!digits) {
    size_t j = p[0] == '+' || p[0] == '-' ? 1 : 0;
    if (ci_prefix(p + j, e - j, "infinity"))
      i = j + 8;
    else if (ci_prefix(p + j, e - j, "inf") || ci_prefix(p + j, e - j, "nan"))
      i = j + 3;
    else
      return loader(s, "could not convert string to float");
    return i == e || p[i] == '\n'
               ? push_kind(s, K_FLOAT)
               : loader(s, "could not convert string to float");
  }
  if (i != e && p[i] != '\n')
    return loader(s, "could not convert string to float");
  /* Overflow: as strtod (correctly rounded, like Python's dtoa) sees it. */
  tok = i;
  t = tok < sizeof(buf) ? buf : (heapbuf = mg_xmalloc(tok + 1));
  memcpy(t, p, tok);
  t[tok] = '\0';
  errno = 0;
  d = strtod(t, NULL);
  free(heapbuf);
  if (errno == ERANGE && fabs(d) >= 1.0)
    return loader(s, "value too large to convert to float");
  return push_kind(s, K_FLOAT);
}

/* ---- text strings ---- */

/* STRING: a quoted literal, escapes decoded as PyBytes_DecodeEscape. */
static int op_string(struct scan *s)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  const unsigned char *p, *q, *end;
  size_t n, out = 0;
  int rc;

  if (line(s, &p, &n) < 0)
    return R_LOADER;
  n--; /* the newline */
  if (n < 2 || p[0] != p[n - 1] || (p[0] != '\'' && p[0] != '"'))
    return loader(s, "the STRING opcode argument must be quoted");
  q = p + 1;
  end = p + n - 1;
#define PUTB(c)                                                                \
  do {                                                                         \
    if (out++ <= STR_KEEP)                                                     \
      mg_buf_addch(&b, (char)(c), NULL);                                       \
  } while (0)
  while (q < end) {
    unsigned c;
    if (*q != '\\') {
      PUTB(*q++);
      continue;
    }
    q++;
    if (q == end) {
      mg_buf_release(&b);
      return loader(s, "Trailing \\ in string");
    }
    switch (*q++) {
    case '\n':
      break;
    case '\\':
      PUTB('\\');
      break;
    case '\'':
      PUTB('\'');
      break;
    case '"':
      PUTB('"');
      break;
    case 'b':
      PUTB('\b');
      break;
    case 'f':
      PUTB('\f');
      break;
    case 't':
      PUTB('\t');
      break;
    case 'n':
      PUTB('\n');
      break;
    case 'r':
      PUTB('\r');
      break;
    case 'v':
      PUTB('\v');
      break;
    case 'a':
      PUTB('\a');
      break;
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
      c = (unsigned)(q[-1] - '0');
      if (q < end && *q >= '0' && *q <= '7') {
        c = (c << 3) + (unsigned)(*q++ - '0');
        if (q < end && *q >= '0' && *q <= '7')
          c = (c << 3) + (unsigned)(*q++ - '0');
      }
      PUTB(c & 0xff);
      break;
    case 'x':
      if (q + 1 < end && mg_digest_hexval(q[0]) >= 0
          && mg_digest_hexval(q[1]) >= 0) {
        PUTB(mg_digest_hexval(q[0]) << 4 | mg_digest_hexval(q[1]));
        q += 2;
        break;
      }
      mg_buf_release(&b);
      return loader(s, "invalid \\x escape in STRING");
    default:
      PUTB('\\');
      q--;
    }
  }
#undef PUTB
  /* The bytes become a str in the unpickler's encoding (ASCII by
   * default, UTF-8 under torch, latin-1 for Python 2 data): taken as is. */
  rc = push_strk(s, out > STR_KEEP ? K_LONGSTR : K_STR,
                 (const unsigned char *)(b.data ? b.data : ""), b.len);
  mg_buf_release(&b);
  return rc;
}

/*
 * UNICODE: raw-unicode-escape. A backslash followed by u / U starts an
 * escape of 4 / 8 hex digits; a backslash followed by anything else is
 * kept with that character (so "\\\\u" is two backslashes and a u: only
 * an odd run of backslashes escapes); other bytes are latin-1.
 */
static int op_unicode(struct scan *s)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  const unsigned char *p;
  size_t n, i = 0;
  int rc;

  if (line(s, &p, &n) < 0)
    return R_LOADER;
  n--;
  while (i < n) {
    unsigned char c = p[i++];
    int count;
    uint32_t cp = 0;
    if (c != '\\' || i >= n) {
      put_utf8(&b, c);
      continue;
    }
    c = p[i++];
    if (c != 'u' && c != 'U') {
      put_utf8(&b, '\\');
      put_utf8(&b, c);
      continue;
    }
    count = c == 'u' ? 4 : 8;
    for (; count; count--, i++) {
      int h = i < n ? mg_digest_hexval(p[i]) : -1;
      if (h < 0) {
        mg_buf_release(&b);
        return loader(s, "truncated \\uXXXX escape in UNICODE");
      }
      cp = cp << 4 | (uint32_t)h;
    }
    if (cp > 0x10ffff) {
      mg_buf_release(&b);
      return loader(s, "\\Uxxxxxxxx out of range in UNICODE");
    }
    put_utf8(&b, cp);
  }
  rc = push_strk(s, b.len > STR_KEEP ? K_LONGSTR : K_STR,
                 (const unsigned char *)(b.data ? b.data : ""), b.len);
  mg_buf_release(&b);
  return rc;
}

/* ---- imports ---- */

static int allowed_name(const struct scan *s, const char *module,
                        const char *name)
{
  size_t ml = strlen(module);

  if (mg_pickle_default_allowed(module, name))
    return 1;
  for (const char *const *e = s->extra; e && *e; e++) {
    const char *dot = strrchr(*e, '.');
    if (!dot || (size_t)(dot - *e) != ml || strncmp(*e, module, ml) != 0)
      continue;
    if (strcmp(dot + 1, "*") == 0 ? !strchr(name, '.')
                                  : strcmp(dot + 1, name) == 0)
      return 1;
  }
  return 0;
}

/* What find_class imports: for protocols 0-2 the unpickler maps Python 2
 * names (_compat_pickle); the names allowed here only need __builtin__. */
static int allowed(const struct scan *s, const char *module, const char *name)
{
  if (allowed_name(s, module, name))
    return 1;
  return s->proto < 3 && strcmp(module, "__builtin__") == 0
         && allowed_name(s, "builtins", name);
}

static int is_printable(const char *p, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
      return 0;
  return 1;
}

/* A Python dotted name: identifier characters and dots. */
static int dotted_len(const char *s, size_t n)
{
  if (!n || (*s >= '0' && *s <= '9') || *s == '.')
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')
          || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '.'))
      return 0;
  return 1;
}

/*
 * Whether importing module can get anywhere: its first component must be
 * a possible identifier (ASCII letters, digits and '_', not starting with
 * a digit, or non-ASCII letters). Otherwise the import system finds
 * nothing and raises before running any module code.
 */
static int importable(const char *m, size_t ml)
{
  size_t i;

  if (!ml || (m[0] >= '0' && m[0] <= '9'))
    return 0;
  for (i = 0; i < ml && m[i] != '.'; i++) {
    unsigned char c = (unsigned char)m[i];
    if (!(c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
          || (c >= '0' && c <= '9') || c == '_'))
      return 0;
  }
  return i > 0;
}

/* Records an import and pushes it. */
static int add_global(struct scan *s, const char *module, size_t ml,
                      const char *name, size_t nl, const char *opcode)
{
  struct mg_pickle_report *r = s->rep;
  struct val v = { K_GLOBAL, 0, 0, 0, 0, 0, 0 };
  size_t i;

  /* Inside a joblib array's bytes, pickle.load would fail to import a
   * name that is not a Python dotted name: only real names count. */
  if (s->op_pos >= s->lenient_from
      && !(dotted_len(module, ml) && dotted_len(name, nl)))
    return loader(s, "No module named '%.60s'", module);
  if (memchr(module, 0, ml) || !importable(module, ml))
    return loader(s, "No module named '%.60s'", module);
  r->acted = 1;
  if (!is_printable(module, ml) || !is_printable(name, nl)
      || memchr(name, 0, nl))
    return flag(s, "global with an unprintable name via %s", opcode),
           push_kind(s, K_OBJ);
  for (i = 0; i < r->n_globals; i++)
    if (strlen(r->globals[i].module) == ml
        && memcmp(r->globals[i].module, module, ml) == 0
        && strlen(r->globals[i].name) == nl
        && memcmp(r->globals[i].name, name, nl) == 0)
      break;
  if (i == r->n_globals) {
    struct mg_pickle_global *g;
    if (r->n_globals >= GLOBALS_MAX)
      return unfinished(s, "more than %d distinct globals", GLOBALS_MAX);
    r->globals =
        mg_xreallocarray(r->globals, r->n_globals + 1, sizeof(*r->globals));
    g = &r->globals[r->n_globals++];
    g->module = mg_xstrndup(module, ml);
    g->name = mg_xstrndup(name, nl);
    g->opcode = opcode;
    g->offset = s->op_pos;
    g->pickle = s->pickle_no;
    g->count = 0;
    g->allowed = allowed(s, g->module, g->name);
  }
  r->globals[i].count++;
  v.ref = (uint32_t)i;
  v.allowed = (unsigned char)r->globals[i].allowed;
  if (!v.allowed)
    flag(s, "global '%s.%s' is not allowed", r->globals[i].module,
         r->globals[i].name);
  return push(s, v);
}

/* GLOBAL (UTF-8 names) and INST (ASCII): two text lines. */
static int op_global_lines(struct scan *s, const char *opcode, int ascii)
{
  const unsigned char *m, *nm;
  size_t ml, nl;

  if (line(s, &m, &ml) < 0)
    return R_LOADER;
  if (ml < 2)
    return truncated(s);
  ml--;
  for (size_t i = 0; ascii && i < ml; i++)
    if (m[i] >= 0x80)
      return loader(s, "'ascii' codec can't decode the module name");
  if (!ascii && !utf8_ok(m, ml, 0))
    return loader(s, "'utf-8' codec can't decode the module name");
  if (line(s, &nm, &nl) < 0)
    return R_LOADER;
  if (nl < 2)
    return truncated(s);
  nl--;
  for (size_t i = 0; ascii && i < nl; i++)
    if (nm[i] >= 0x80)
      return loader(s, "'ascii' codec can't decode the name");
  if (!ascii && !utf8_ok(nm, nl, 0))
    return loader(s, "'utf-8' codec can't decode the name");
  return add_global(s, (const char *)m, ml, (const char *)nm, nl, opcode);
}

/* Kinds whose type the scanner knows (not a call's result or a module
 * attribute). */
static int known_kind(const struct val *v)
{
  return v->kind != K_OBJ && v->kind != K_GLOBAL;
}

/* Kinds whose type is known not to be str. */
static int known_not_str(const struct val *v)
{
  return v->kind != K_STR && v->kind != K_LONGSTR && v->kind != K_OBJ
         && v->kind != K_GLOBAL;
}

static int op_stack_global(struct scan *s)
{
  struct val name, module;

  if (pop(s, &name) < 0 || pop(s, &module) < 0)
    return R_LOADER;
  if (module.kind != K_STR || name.kind != K_STR) {
    /* A value that is certainly not a str makes CPython raise; one the
     * scanner does not know (or a str too long to keep) is assumed to be
     * a name it cannot check. Bytes are reported either way. */
    if ((known_not_str(&module) && module.kind != K_BYTES)
        || (known_not_str(&name) && name.kind != K_BYTES))
      return loader(s, "STACK_GLOBAL requires str");
    s->rep->acted = 1;
    soft_flag(s, "STACK_GLOBAL with a %s operand that is not a string",
              module.kind != K_STR ? "module" : "name");
    return push_kind(s, K_OBJ);
  }
  return add_global(s, str_of(s, &module), module.len, str_of(s, &name),
                    name.len, "STACK_GLOBAL");
}

/* ---- calls and attribute writes ---- */

/* Kinds a loader cannot call: calling one raises TypeError. */
static int not_callable(const struct val *v)
{
  return v->kind != K_GLOBAL && v->kind != K_OBJ;
}

/* The callable of REDUCE / NEWOBJ / OBJ: R_LOADER when CPython raises
 * (the value is certainly not callable), else R_OK (flagged when it is
 * not an imported global). */
static int check_callable(struct scan *s, const struct val *c,
                          const char *opcode)
{
  if (not_callable(c))
    return loader(s, "%s: the value called is not callable", opcode);
  s->rep->acted = 1;
  if (c->kind != K_GLOBAL)
    soft_flag(s, "%s calls a value that is not an imported global", opcode);
  return R_OK;
}

static void check_target(struct scan *s, const struct val *t,
                         const char *opcode)
{
  /* Unsafe, but keep walking so every import is reported. */
  if (t->kind == K_GLOBAL)
    soft_flag(s, "%s modifies an imported global object", opcode);
}

static int is_global(const struct scan *s, const struct val *v,
                     const char *module, const char *name)
{
  const struct mg_pickle_global *g;

  if (v->kind != K_GLOBAL || v->ref >= s->rep->n_globals)
    return 0;
  g = &s->rep->globals[v->ref];
  return strcmp(g->module, module) == 0 && strcmp(g->name, name) == 0;
}

static int is_wrapper_class(const struct scan *s, const struct val *v)
{
  return is_global(s, v, "joblib.numpy_pickle", "NumpyArrayWrapper");
}

/* numpy.dtype(("f8" | "U10" | "O8" ...), False, True), as numpy pickles
 * a dtype; anything else is opaque. */
static int reduce_result(struct scan *s, const struct val *fn,
                         const struct val *args)
{
  struct hobj *t = hobj_of(s, args, K_TUP), *d;
  const struct val *e0;
  const char *str;
  struct val v;
  char *end;
  int rc;

  if (!is_global(s, fn, "numpy", "dtype") || !t || t->n < 1)
    return push_kind(s, K_OBJ);
  e0 = &s->el[t->el];
  if (e0->kind != K_STR)
    return push_kind(s, K_OBJ);
  str = s->strs.data + e0->ref;
  rc = heap_new(s, K_DTYPE, &v);
  if (rc < 0)
    return rc;
  d = &s->heap[v.h - 1];
  if (e0->len >= 2 && e0->len <= 9 && strchr("biufcmMOSUV", str[0])
      && str[1] >= '0' && str[1] <= '9') {
    d->dkind = str[0];
    d->dnum = strtoull(str + 1, &end, 10);
    if (*end)
      d->dkind = 0;
  }
  return push(s, v);
}

/* BUILD on a dtype: numpy's state (3|4, byteorder, subarray, names,
 * fields, elsize, alignment, flags[, metadata]). */
static void dtype_state(struct scan *s, struct hobj *d, const struct val *st)
{
  struct hobj *t = hobj_of(s, st, K_TUP);
  const struct val *e;

  d->dstate = -1;
  if (!t || t->n < 8 || t->n > 9)
    return;
  e = &s->el[t->el];
  if (e[0].kind != K_INT || e[0].big || (e[0].num != 3 && e[0].num != 4)
      || e[2].kind != K_NONE || e[3].kind != K_NONE || e[4].kind != K_NONE
      || e[5].kind != K_INT || e[5].big)
    return;
  d->elsize = e[5].num;
  d->dstate = 1;
}

/* BUILD's state merged into a NumpyArrayWrapper's attributes, as
 * pickle's load_build does for an object without __setstate__. */
static int wrapper_state(struct scan *s, const struct val *w,
                         const struct val *st)
{
  struct hobj *o = hobj_of(s, w, K_WRAP), *d = hobj_of(s, st, K_DICT);
  struct hobj *t = hobj_of(s, st, K_TUP);
  const struct val *parts[2] = { NULL, NULL };

  if (d) {
    parts[0] = st;
  } else if (t && t->n == 2) {
    for (int i = 0; i < 2; i++) {
      const struct val *e = &s->el[t->el + (size_t)i];
      if (e->kind == K_DICT)
        parts[i] = e;
      else if (e->kind != K_NONE)
        return refuse(s, "joblib array wrapper with an unsupported state");
    }
  } else {
    return refuse(s, "joblib array wrapper with an unsupported state");
  }
  for (int i = 0; i < 2; i++) {
    struct hobj *src = parts[i] ? hobj_of(s, parts[i], K_DICT) : NULL;
    if (!src)
      continue;
    if (src->have_shape) {
      o->shape = src->shape;
      o->have_shape = 1;
    }
    if (src->have_dtype) {
      o->dtype = src->dtype;
      o->have_dtype = 1;
    }
    if (src->have_align) {
      o->align = src->align;
      o->have_align = 1;
    }
  }
  return R_OK;
}

/* Defined below; an object array's data is a nested pickle. */
static int one_pickle(struct scan *s);
static void scan_free(struct scan *s);

/* The nested pickle joblib writes for an object array (pickle.dump, read
 * back with pickle.load: plain semantics, its own memo). */
static int nested_pickle(struct scan *s)
{
  struct scan c;
  int r;

  memset(&c, 0, sizeof(c));
  c.p = s->p;
  c.n = s->n;
  c.pos = s->pos;
  c.extra = s->extra;
  c.rep = s->rep;
  c.lenient_from = SIZE_MAX;
  c.pickle_no = s->pickle_no;
  mg_buf_init(&c.strs, MG_BUF_UNLIMITED);
  r = one_pickle(&c);
  s->pos = c.pos;
  scan_free(&c);
  return r == R_STOP ? R_OK : r;
}

/*
 * joblib.load: after a NumpyArrayWrapper is built, the array's bytes
 * follow in the file (numpy_pickle.py read_array): with the attribute
 * numpy_array_alignment_bytes set (joblib >= 1.2), one byte giving a
 * padding length and that many padding bytes; then prod(shape) * itemsize
 * raw bytes, or for an object dtype a nested pickle. Whatever joblib's
 * reader would not read exactly so is refused.
 */
static int joblib_array(struct scan *s, struct hobj *w)
{
  struct hobj *sh = w->have_shape ? hobj_of(s, &w->shape, K_TUP) : NULL;
  struct hobj *d = w->have_dtype ? hobj_of(s, &w->dtype, K_DTYPE) : NULL;
  uint64_t count = 1, itemsize, size;

  if (s->frame_end > s->pos)
    return refuse(s, "joblib array data inside a pickle frame");
  if (!sh || !d || sh->n > TUP_KEEP)
    return refuse(s, "joblib array wrapper without a usable shape and dtype");
  for (size_t i = 0; i < sh->n; i++) {
    const struct val *e = &s->el[sh->el + i];
    if (e->kind != K_INT || e->big || e->num < 0)
      return refuse(s, "joblib array wrapper with a bad shape");
    if (e->num && count > ((uint64_t)1 << 62) / (uint64_t)e->num)
      return refuse(s, "joblib array larger than 2^62 elements");
    count *= (uint64_t)e->num;
  }
  if (!d->dkind || d->dstate < 0)
    return refuse(s, "joblib array with an unsupported dtype");
  if (!s->rep->n_arrays++)
    s->first_array = s->pos;
  if (d->dkind == 'O')
    return nested_pickle(s);
  itemsize = d->dnum;
  if (d->dkind == 'U')
    itemsize *= 4;
  if ((d->dkind == 'S' || d->dkind == 'U' || d->dkind == 'V') && d->elsize >= 0)
    itemsize = (uint64_t)d->elsize;
  if (w->have_align && w->align.kind != K_NONE) {
    if (need(s, 1) < 0 || need(s, 1 + (size_t)s->p[s->pos]) < 0)
      return R_LOADER;
    s->pos += 1 + (size_t)s->p[s->pos];
  }
  if (itemsize && count > UINT64_MAX / itemsize)
    return refuse(s, "joblib array larger than 2^64 bytes");
  size = count * itemsize;
  if (size > s->n - s->pos)
    return loader(s, "truncated joblib array data");
  s->pos += (size_t)size;
  return R_OK;
}

static int build(struct scan *s)
{
  struct val st, *t;
  struct hobj *o;

  if (s->sp < 2 || s->sp - 2 < s->fence)
    return underflow(s);
  if (pop(s, &st) < 0)
    return R_LOADER;
  t = &s->stack[s->sp - 1];
  o = hobj_of(s, t, K_DTYPE);
  if (o) {
    dtype_state(s, o, &st);
    return R_OK;
  }
  o = hobj_of(s, t, K_WRAP);
  if (o) {
    int rc = wrapper_state(s, t, &st);
    if (rc < 0 || !s->joblib)
      return rc;
    rc = joblib_array(s, o);
    if (rc < 0)
      return rc;
    /* joblib replaces the wrapper by the array on the stack. */
    memset(t, 0, sizeof(*t));
    t->kind = K_OBJ;
    return R_OK;
  }
  check_target(s, t, "BUILD");
  if (t->kind == K_GLOBAL || t->kind == K_OBJ)
    s->rep->acted = 1;
  return R_OK;
}

/* SETITEM(S) from stack position x (CPython's do_setitems). */
static int setitems(struct scan *s, size_t x, const char *opcode)
{
  struct val *d;

  if (x > s->sp || x <= s->fence)
    return underflow(s);
  if (s->sp == x)
    return R_OK;
  if ((s->sp - x) % 2)
    return loader(s, "odd number of items for SETITEMS");
  d = &s->stack[x - 1];
  for (size_t k = x; k + 1 < s->sp; k += 2)
    track_item(s, d, &s->stack[k], &s->stack[k + 1]);
  check_target(s, d, opcode);
  if (d->kind == K_GLOBAL)
    s->rep->acted = 1;
  s->sp = x;
  return R_OK;
}

/* APPEND(S) / ADDITEMS from stack position x (do_append, additems). */
static int appends(struct scan *s, size_t x, const char *opcode)
{
  struct val *l;
  struct hobj *o;

  if (x > s->sp || x <= s->fence)
    return underflow(s);
  if (s->sp == x)
    return R_OK;
  l = &s->stack[x - 1];
  o = hobj_of(s, l, K_LIST);
  if (o)
    list_extend(s, o, x);
  check_target(s, l, opcode);
  if (l->kind == K_GLOBAL)
    s->rep->acted = 1;
  s->sp = x;
  return R_OK;
}

static int dict_from_mark(struct scan *s)
{
  struct val v;
  size_t i;
  int rc;

  if (marker(s, &i) < 0)
    return R_LOADER;
  rc = heap_new(s, K_DICT, &v);
  if (rc < 0)
    return rc;
  if ((s->sp - i) % 2)
    return loader(s, "odd number of items for DICT");
  for (size_t k = i; k + 1 < s->sp; k += 2)
    track_item(s, &v, &s->stack[k], &s->stack[k + 1]);
  s->sp = i;
  return push(s, v);
}

/* An object made by calling cls: a NumpyArrayWrapper is tracked. */
static int new_object(struct scan *s, const struct val *cls)
{
  struct val v;
  int rc;

  if (!is_wrapper_class(s, cls))
    return push_kind(s, K_OBJ);
  rc = heap_new(s, K_WRAP, &v);
  return rc < 0 ? rc : push(s, v);
}

/* ---- persistent ids ---- */

static unsigned storage_elsize(const char *type)
{
  for (size_t i = 0; i < sizeof(storage_sizes) / sizeof(storage_sizes[0]); i++)
    if (strcmp(storage_sizes[i].name, type) == 0)
      return storage_sizes[i].size;
  return 0;
}

/* Records torch's ('storage', type, key, location, numel[, view]). */
static void persistent_id(struct scan *s, const struct val *pid)
{
  struct mg_pickle_report *r = s->rep;
  struct hobj *t = hobj_of(s, pid, K_TUP);
  const struct val *e;
  const struct mg_pickle_global *g;
  char *type;

  if (!t || t->n < 5)
    return;
  e = &s->el[t->el];
  if (e[0].kind != K_STR || strcmp(str_of(s, &e[0]), "storage") != 0
      || e[1].kind != K_GLOBAL || e[1].ref >= r->n_globals || e[2].kind != K_STR
      || e[4].kind != K_INT || e[4].big || e[4].num < 0)
    return;
  for (size_t i = 0; i < r->n_storages; i++)
    if (strcmp(r->storages[i].key, str_of(s, &e[2])) == 0)
      return;
  if (r->n_storages >= STORAGES_MAX)
    return;
  g = &r->globals[e[1].ref];
  type = mg_xasprintf("%s.%s", g->module, g->name);
  r->storages =
      mg_xreallocarray(r->storages, r->n_storages + 1, sizeof(*r->storages));
  r->storages[r->n_storages].key = mg_xstrdup(str_of(s, &e[2]));
  r->storages[r->n_storages].type = type;
  r->storages[r->n_storages].numel = (uint64_t)e[4].num;
  r->storages[r->n_storages].elsize = storage_elsize(type);
  r->n_storages++;
}

/* pickle.load without a persistent_load raises on a persistent id (before
 * reading it), so nothing after one is reached. The first bytes of a zip
 * ("PK\3\4" and on to a newline, which its DOS timestamp may hold) read
 * as one. */
static int no_persistent_load(struct scan *s)
{
  if (s->persistent || !s->plain)
    return 0;
  (void)loader(s, "A load persistent id instruction was encountered, but "
                  "no persistent_load function was specified.");
  return 1;
}

/* ---- memo: open addressing on the 64-bit key ---- */

static struct memo_slot *memo_find(struct scan *s, uint64_t key, int insert)
{
  size_t mask, i;

  if (insert && (s->mcount + 1) * 2 > s->mcap) {
    struct memo_slot *old = s->memo;
    size_t oldcap = s->mcap;
    s->mcap = s->mcap ? s->mcap * 2 : 64;
    s->memo = mg_xcalloc(s->mcap, sizeof(*s->memo));
    s->mcount = 0;
    for (size_t k = 0; k < oldcap; k++)
      if (old[k].used) {
        struct memo_slot *n = memo_find(s, old[k].key, 1);
        n->v = old[k].v;
      }
    free(old);
  }
  if (!s->mcap)
    return NULL;
  mask = s->mcap - 1;
  i = (size_t)((key * 0x9e3779b97f4a7c15ULL) >> 20) & mask;
  for (;;) {
    if (!s->memo[i].used) {
      if (!insert)
        return NULL;
      s->memo[i].used = 1;
      s->memo[i].key = key;
      s->mcount++;
      return &s->memo[i];
    }
    if (s->memo[i].key == key)
      return &s->memo[i];
    i = (i + 1) & mask;
  }
}

static int memo_put(struct scan *s, uint64_t key)
{
  struct val *t = top(s);
  struct memo_slot *m;

  if (!t)
    return underflow(s);
  if (s->mcount >= MEMO_MAX)
    return unfinished(s, "memo larger than %zu entries", MEMO_MAX);
  m = memo_find(s, key, 1);
  m->v = *t;
  return R_OK;
}

static int memo_get(struct scan *s, uint64_t key)
{
  struct memo_slot *m = memo_find(s, key, 0);

  if (!m)
    return loader(s, "Memo value not found at index %llu",
                  (unsigned long long)key);
  return push(s, m->v);
}

/* ---- opcodes ---- */

/* BINSTRING / BINUNICODE / BINBYTES and their sized variants. */
static int counted(struct scan *s, int width, enum kind k)
{
  uint64_t v;

  if (need(s, (uint64_t)width) < 0)
    return R_LOADER;
  v = le(s->p + s->pos, width);
  s->pos += (size_t)width;
  if (width == 8 && v > (uint64_t)INT64_MAX)
    return loader(s, "length exceeds the system's maximum size");
  if (v > s->n - s->pos)
    return truncated(s);
  s->pos += (size_t)v;
  if (k == K_STR)
    return push_str(s, s->p + s->pos - v, (size_t)v);
  return push_kind(s, k);
}

static int unicode_counted(struct scan *s, int width)
{
  uint64_t v;
  const unsigned char *q;

  if (need(s, (uint64_t)width) < 0)
    return R_LOADER;
  v = le(s->p + s->pos, width);
  s->pos += (size_t)width;
  if (width == 8 && v > (uint64_t)INT64_MAX)
    return loader(s, "BINUNICODE exceeds the system's maximum size");
  if (v > s->n - s->pos)
    return truncated(s);
  q = s->p + s->pos;
  s->pos += (size_t)v;
  if (!utf8_ok(q, (size_t)v, 1))
    return loader(s, "'utf-8' codec can't decode a BINUNICODE string");
  return push_str(s, q, (size_t)v);
}

/*
 * One opcode. Returns R_OK, R_STOP after STOP, R_LOADER where a loader
 * raises, R_UNFINISHED where the scanner cannot follow.
 */
static int step(struct scan *s)
{
  unsigned char op;
  struct val a, b, c;
  uint64_t v;
  const unsigned char *lp;
  size_t ll, i;
  int rc = 0;

  s->op_pos = s->pos;
  if (s->pos >= s->n)
    return loader(s, "Ran out of input");
  op = s->p[s->pos++];
  s->rep->n_opcodes++;
  switch (op) {
  case '(': /* MARK */
    return mark(s);
  case '.': /* STOP */
    if (pop(s, &a) < 0)
      return R_LOADER;
    s->result = a;
    return R_STOP;
  case '0': /* POP */
    if (s->nmarks && s->marks[s->nmarks - 1] == s->sp) {
      s->nmarks--;
      s->fence = s->nmarks ? s->marks[s->nmarks - 1] : 0;
      return R_OK;
    }
    return pop(s, NULL);
  case '1': /* POP_MARK */
    if (marker(s, &i) < 0)
      return R_LOADER;
    s->sp = i;
    return R_OK;
  case '2': /* DUP */
    if (!top(s))
      return underflow(s);
    return push(s, *top(s));
  case 'F': /* FLOAT */
    return op_float(s);
  case 'I': /* INT */
    return op_int(s);
  case 'L': /* LONG */
    return op_long(s);
  case 'P': /* PERSID */
    if (no_persistent_load(s))
      return R_LOADER;
    if (line(s, &lp, &ll) < 0)
      return R_LOADER;
    for (size_t k = 0; k < ll; k++)
      if (lp[k] >= 0x80)
        return loader(s, "persistent IDs in protocol 0 must be ASCII "
                         "strings");
    s->rep->acted = 1;
    return push_kind(s, K_OBJ);
  case 'Q': /* BINPERSID */
    if (no_persistent_load(s))
      return R_LOADER;
    if (pop(s, &a) < 0)
      return R_LOADER;
    persistent_id(s, &a);
    s->rep->acted = 1;
    return push_kind(s, K_OBJ);
  case 'G': /* BINFLOAT */
    if (need(s, 8) < 0)
      return R_LOADER;
    s->pos += 8;
    return push_kind(s, K_FLOAT);
  case 'J': /* BININT */
    if (need(s, 4) < 0)
      return R_LOADER;
    v = le(s->p + s->pos, 4);
    s->pos += 4;
    return push_int(s, (int64_t)(int32_t)(uint32_t)v);
  case 'K':
  case 'M': /* BININT1, BININT2 */
    if (need(s, op == 'K' ? 1 : 2) < 0)
      return R_LOADER;
    v = le(s->p + s->pos, op == 'K' ? 1 : 2);
    s->pos += op == 'K' ? 1 : 2;
    return push_int(s, (int64_t)v);
  case 0x8a:
  case 0x8b: { /* LONG1, LONG4 */
    struct pyint x;
    if (need(s, op == 0x8a ? 1 : 4) < 0)
      return R_LOADER;
    v = le(s->p + s->pos, op == 0x8a ? 1 : 4);
    s->pos += op == 0x8a ? 1 : 4;
    if (op == 0x8b && v > INT32_MAX)
      return loader(s, "LONG pickle has negative byte count");
    if (v > s->n - s->pos)
      return truncated(s);
    memset(&x, 0, sizeof(x));
    if (v > 16) {
      x.big = 1;
    } else if (v) {
      /* Little-endian two's complement: magnitude and sign. */
      const unsigned char *q = s->p + s->pos;
      int negative = q[v - 1] >> 7;
      for (size_t k = v; k-- > 0;) {
        unsigned char byte = negative ? (unsigned char)~q[k] : q[k];
        mag_muladd(&x, 256, byte);
      }
      if (negative) {
        /* -(~m + 1) form: magnitude = ~bits + 1 */
        x.lo += 1;
        if (!x.lo)
          x.hi++;
        x.neg = 1;
      }
    }
    s->pos += (size_t)v;
    return push_pyint(s, &x);
  }
  case 'N': /* NONE */
    return push_kind(s, K_NONE);
  case 0x88:
  case 0x89: /* NEWTRUE, NEWFALSE */
    return push_kind(s, K_BOOL);
  case ')': /* EMPTY_TUPLE */
    return make_tuple(s, s->sp);
  case '}': /* EMPTY_DICT */
    rc = heap_new(s, K_DICT, &a);
    return rc < 0 ? rc : push(s, a);
  case ']': /* EMPTY_LIST */
    return make_list(s, s->sp);
  case 0x8f: /* EMPTY_SET */
    return push_kind(s, K_SET);
  case 'R': /* REDUCE */
    if (pop(s, &b) < 0 || pop(s, &a) < 0)
      return R_LOADER;
    if (known_kind(&b) && b.kind != K_TUP)
      return loader(s, "REDUCE: the argument list must be a tuple");
    if (check_callable(s, &a, "REDUCE") < 0)
      return R_LOADER;
    return reduce_result(s, &a, &b);
  case 0x81: /* NEWOBJ */
  case 0x92: /* NEWOBJ_EX */
    if (op == 0x92 && pop(s, &c) < 0)
      return R_LOADER;
    if (pop(s, &b) < 0 || pop(s, &a) < 0)
      return R_LOADER;
    if (known_kind(&b) && b.kind != K_TUP)
      return loader(s, "NEWOBJ: the args argument must be a tuple");
    if (check_callable(s, &a, op == 0x81 ? "NEWOBJ" : "NEWOBJ_EX") < 0)
      return R_LOADER;
    return new_object(s, &a);
  case 'o': /* OBJ */
    if (marker(s, &i) < 0)
      return R_LOADER;
    if (s->sp - i < 1)
      return underflow(s);
    a = s->stack[i];
    if (check_callable(s, &a, "OBJ") < 0)
      return R_LOADER;
    s->sp = i;
    return new_object(s, &a);
  case 'i': /* INST */
    if (marker(s, &i) < 0)
      return R_LOADER;
    rc = op_global_lines(s, "INST", 1);
    if (rc < 0)
      return rc;
    a = s->stack[--s->sp];
    s->sp = i;
    return new_object(s, &a);
  case 'c': /* GLOBAL */
    return op_global_lines(s, "GLOBAL", 0);
  case 0x93: /* STACK_GLOBAL */
    return op_stack_global(s);
  case 0x82:
  case 0x83:
  case 0x84: { /* EXT1, EXT2, EXT4 */
    int w = op == 0x82 ? 1 : op == 0x83 ? 2 : 4;
    int64_t code;
    if (need(s, (uint64_t)w) < 0)
      return R_LOADER;
    v = le(s->p + s->pos, w);
    s->pos += (size_t)w;
    code = w == 4 ? (int64_t)(int32_t)(uint32_t)v : (int64_t)v;
    if (code <= 0)
      return loader(s, "EXT specifies code <= 0");
    s->rep->acted = 1;
    soft_flag(s, "extension registry opcode EXT%d imports an unknown global",
              w);
    return push_kind(s, K_OBJ);
  }
  case 'S': /* STRING */
    return op_string(s);
  case 'V': /* UNICODE */
    return op_unicode(s);
  case 'T': /* BINSTRING */
    return counted(s, 4, K_STR);
  case 'U': /* SHORT_BINSTRING */
    return counted(s, 1, K_STR);
  case 'X': /* BINUNICODE */
    return unicode_counted(s, 4);
  case 0x8c: /* SHORT_BINUNICODE */
    return unicode_counted(s, 1);
  case 0x8d: /* BINUNICODE8 */
    return unicode_counted(s, 8);
  case 'B': /* BINBYTES */
    return counted(s, 4, K_BYTES);
  case 'C': /* SHORT_BINBYTES */
    return counted(s, 1, K_BYTES);
  case 0x8e: /* BINBYTES8 */
    return counted(s, 8, K_BYTES);
  case 0x96: /* BYTEARRAY8 */
    return counted(s, 8, K_BYTEARRAY);
  case 'a': /* APPEND */
    if (s->sp < 1 || s->sp - 1 <= s->fence)
      return underflow(s);
    return appends(s, s->sp - 1, "APPEND");
  case 'e': /* APPENDS */
    if (marker(s, &i) < 0)
      return R_LOADER;
    return appends(s, i, "APPENDS");
  case 0x90: /* ADDITEMS */
    if (marker(s, &i) < 0)
      return R_LOADER;
    return appends(s, i, "ADDITEMS");
  case 'b': /* BUILD */
    return build(s);
  case 's': /* SETITEM */
    if (s->sp < 2)
      return underflow(s);
    return setitems(s, s->sp - 2, "SETITEM");
  case 'u': /* SETITEMS */
    if (marker(s, &i) < 0)
      return R_LOADER;
    return setitems(s, i, "SETITEMS");
  case 'd': /* DICT */
    return dict_from_mark(s);
  case 't': /* TUPLE */
    if (marker(s, &i) < 0)
      return R_LOADER;
    return make_tuple(s, i);
  case 0x85:
  case 0x86:
  case 0x87: /* TUPLE1, TUPLE2, TUPLE3 */
    if (s->sp < (size_t)(op - 0x84))
      return underflow(s);
    return make_tuple(s, s->sp - (size_t)(op - 0x84));
  case 'l': /* LIST */
    if (marker(s, &i) < 0)
      return R_LOADER;
    return make_list(s, i);
  case 0x91: /* FROZENSET */
    if (marker(s, &i) < 0)
      return R_LOADER;
    if (i < s->fence)
      return underflow(s);
    s->sp = i;
    return push_kind(s, K_FROZENSET);
  case 'g': /* GET */
    if (memo_key(s, 0, &v) < 0)
      return R_LOADER;
    return memo_get(s, v);
  case 'h':
  case 'j': /* BINGET, LONG_BINGET */
    if (need(s, op == 'h' ? 1 : 4) < 0)
      return R_LOADER;
    v = le(s->p + s->pos, op == 'h' ? 1 : 4);
    s->pos += op == 'h' ? 1 : 4;
    return memo_get(s, v);
  case 'p': /* PUT */
    if (memo_key(s, 1, &v) < 0)
      return R_LOADER;
    return memo_put(s, v);
  case 'q':
  case 'r': /* BINPUT, LONG_BINPUT */
    if (need(s, op == 'q' ? 1 : 4) < 0)
      return R_LOADER;
    v = le(s->p + s->pos, op == 'q' ? 1 : 4);
    s->pos += op == 'q' ? 1 : 4;
    return memo_put(s, v);
  case 0x94: /* MEMOIZE */
    return memo_put(s, s->mcount);
  case 0x80: /* PROTO */
    if (need(s, 1) < 0)
      return R_LOADER;
    v = s->p[s->pos++];
    if (v > 5)
      return loader(s, "unsupported pickle protocol: %d", (int)v);
    s->proto = (int)v;
    if ((int)v > s->rep->protocol)
      s->rep->protocol = (int)v;
    return R_OK;
  case 0x95: /* FRAME */
    if (need(s, 8) < 0)
      return R_LOADER;
    v = le(s->p + s->pos, 8);
    s->pos += 8;
    if (v > (uint64_t)INT64_MAX)
      return loader(s, "FRAME length exceeds the system's maximum");
    if (v > s->n - s->pos)
      return truncated(s);
    s->frame_end = s->pos + (size_t)v;
    return R_OK;
  case 0x97: /* NEXT_BUFFER: out-of-band data the caller supplies */
    s->rep->acted = 1;
    return push_kind(s, K_OBJ);
  case 0x98: /* READONLY_BUFFER */
    return top(s) ? R_OK : underflow(s);
  default:
    if (op >= 0x20 && op <= 0x7e && op != '\'' && op != '\\')
      return loader(s, "invalid load key, '%c'", op);
    return loader(s, "invalid load key, '\\x%02x'", op);
  }
}

/* Forgets the stack (every pickle.load starts with an empty one) and,
 * unless keep, the memo and what it refers to. */
static void scan_reset(struct scan *s, int keep)
{
  s->sp = 0;
  s->nmarks = 0;
  s->fence = 0;
  s->frame_end = 0;
  s->proto = 0;
  if (keep)
    return;
  free(s->memo);
  s->memo = NULL;
  s->mcap = s->mcount = 0;
  for (size_t i = 0; i < s->hn; i++)
    free(s->heap[i].items);
  s->hn = s->eln = 0;
  s->kept = 0;
  mg_buf_release(&s->strs);
  mg_buf_init(&s->strs, MG_BUF_UNLIMITED);
}

static void scan_free(struct scan *s)
{
  scan_reset(s, 0);
  free(s->stack);
  free(s->marks);
  free(s->heap);
  free(s->el);
  mg_buf_release(&s->strs);
}

/* Runs one pickle to its STOP: R_STOP, R_LOADER or R_UNFINISHED. */
static int one_pickle(struct scan *s)
{
  for (;;) {
    int r = step(s);
    if (r != R_OK)
      return r;
  }
}

/* Whether v is torch's legacy magic number 0x1950a86a20f9469cfc6c. */
static int is_torch_magic(struct scan *s, const struct val *v)
{
  struct hobj *o;

  if (v->kind != K_INT || v->big != 1 || !v->h || v->h > s->hn)
    return 0;
  o = &s->heap[v->h - 1];
  return o->hi == 0x1950 && o->lo == 0xa86a20f9469cfc6cULL;
}

/* The storages after torch's storage-key list: for each key an int64
 * element count, then that many elements (torch's _set_from_file). */
static int torch_storage_data(struct scan *s)
{
  struct mg_pickle_report *r = s->rep;
  struct hobj *keys = hobj_of(s, &s->result, K_LIST);

  s->op_pos = s->pos;
  if (!keys || keys->nitems != keys->n)
    return unfinished(s, "torch's storage keys are not a list of strings");
  for (size_t i = 0; i < keys->nitems; i++) {
    const struct val *k = &keys->items[i];
    const struct mg_pickle_storage *st = NULL;
    int64_t count;
    s->op_pos = s->pos;
    if (k->kind != K_STR)
      return unfinished(s, "torch's storage keys are not a list of strings");
    for (size_t j = 0; j < r->n_storages && !st; j++)
      if (strcmp(r->storages[j].key, str_of(s, k)) == 0)
        st = &r->storages[j];
    if (!st)
      return loader(s, "storage key '%.40s' is not in the data pickle",
                    str_of(s, k));
    if (!st->elsize)
      return unfinished(s, "storage '%.40s' has a type of unknown size (%.60s)",
                        st->key, st->type);
    if (need(s, 8) < 0)
      return R_LOADER;
    count = (int64_t)le(s->p + s->pos, 8);
    if (count < 0 || (uint64_t)count > (s->n - s->pos - 8) / st->elsize)
      return loader(s, "storage '%.40s' data runs past the end of the file",
                    st->key);
    s->pos += 8 + (size_t)count * st->elsize;
  }
  return R_OK;
}

struct pass {
  int joblib;          /* arrays follow NumpyArrayWrapper BUILDs */
  int stacked;         /* read pickles to the end of the bytes */
  int keep_memo;       /* one unpickler for every stacked pickle */
  int persistent;      /* the first pickle has a persistent_load */
  size_t lenient_from; /* see struct scan */
  int plain;           /* MG_PICKLE_PLAIN */
};

/* After a pickle: the next one, counted. */
static void next_pickle(struct scan *s, int keep)
{
  s->rep->n_pickles++;
  s->rep->end = s->pos;
  scan_reset(s, keep);
  s->pickle_no++;
}

/*
 * One reading of the bytes, into rep. Returns 0; rep->stop says how it
 * ended. *first_array gets where the first joblib array starts.
 */
static void scan_pass(const unsigned char *p, size_t n,
                      const char *const *extra_allow, const struct pass *ps,
                      struct mg_pickle_report *rep, size_t *first_array)
{
  struct scan s;
  int r;

  memset(rep, 0, sizeof(*rep));
  memset(&s, 0, sizeof(s));
  s.p = p;
  s.n = n;
  s.extra = extra_allow;
  s.rep = rep;
  s.joblib = ps->joblib;
  s.persistent = ps->persistent;
  s.plain = ps->plain;
  s.lenient_from = ps->lenient_from;
  s.pickle_no = 1;
  mg_buf_init(&s.strs, MG_BUF_UNLIMITED);
  r = one_pickle(&s);
  if (r != R_STOP || !ps->stacked)
    goto out;
  if (!ps->keep_memo && is_torch_magic(&s, &s.result)) {
    /* torch.load's legacy reader: four more pickles, then storages. */
    rep->torch_legacy = 1;
    for (int k = 2; k <= 5; k++) {
      next_pickle(&s, 0);
      s.persistent = k == 4;
      r = one_pickle(&s);
      if (r != R_STOP)
        goto out;
      if (k == 2
          && (s.result.kind != K_INT || s.result.big || s.result.num != 1001)) {
        r = loader(&s, "invalid protocol version in torch's legacy format");
        goto out;
      }
    }
    rep->n_pickles++;
    rep->end = s.pos;
    r = torch_storage_data(&s);
    if (r == R_OK && s.pos < n) {
      s.op_pos = s.pos;
      rep->stop = MG_PICKLE_TRAILING;
      rep->stop_at = s.pos;
      rep->stop_pickle = 5;
      (void)snprintf(rep->error, sizeof(rep->error),
                     "%zu bytes after torch's storage data", n - s.pos);
    }
    if (first_array)
      *first_array = s.first_array;
    scan_free(&s);
    return;
  }
  while (s.pos < n) {
    next_pickle(&s, ps->keep_memo);
    s.persistent = 0;
    r = one_pickle(&s);
    if (r != R_STOP)
      goto out;
  }
out:
  if (r == R_STOP) {
    rep->n_pickles++;
    rep->end = s.pos;
  }
  if (first_array)
    *first_array = s.first_array;
  scan_free(&s);
}

static void merge_globals(struct mg_pickle_report *into,
                          struct mg_pickle_report *from)
{
  for (size_t i = 0; i < from->n_globals; i++) {
    struct mg_pickle_global *g = &from->globals[i];
    size_t k;
    for (k = 0; k < into->n_globals; k++)
      if (strcmp(into->globals[k].module, g->module) == 0
          && strcmp(into->globals[k].name, g->name) == 0)
        break;
    if (k < into->n_globals)
      continue;
    into->globals = mg_xreallocarray(into->globals, into->n_globals + 1,
                                     sizeof(*into->globals));
    into->globals[into->n_globals++] = *g;
    g->module = g->name = NULL;
  }
}

int mg_pickle_scan(const unsigned char *p, size_t n,
                   const char *const *extra_allow, unsigned flags,
                   struct mg_pickle_report *rep, struct mg_err *err)
{
  struct pass ps = { .joblib = 1,
                     .stacked = (flags & MG_PICKLE_STACKED) != 0,
                     .persistent = (flags & MG_PICKLE_PERSISTENT) != 0,
                     .lenient_from = SIZE_MAX,
                     .plain = (flags & MG_PICKLE_PLAIN) != 0 };
  size_t first = 0;

  scan_pass(p, n, extra_allow, &ps, rep, &first);
  if (rep->n_arrays) {
    /*
     * The same file read by pickle.load (or torch.load) instead of
     * joblib.load does not skip the array bytes: it parses them as
     * opcodes until they fail to parse. Whatever such a reading could
     * import must be on the allowlist too.
     */
    struct mg_pickle_report plain;
    struct pass pp = { .persistent = ps.persistent,
                       .lenient_from = first,
                       .plain = ps.plain };
    scan_pass(p, n, extra_allow, &pp, &plain, NULL);
    if (plain.unsafe && !rep->unsafe) {
      rep->unsafe = 1;
      (void)snprintf(rep->reason, sizeof(rep->reason),
                     "%.150s (when read by pickle.load, not joblib.load)",
                     plain.reason);
    }
    merge_globals(rep, &plain);
    mg_pickle_report_release(&plain);
  } else if (ps.stacked && !rep->torch_legacy && rep->n_pickles >= 1
             && (rep->n_pickles > 1 || rep->stop != MG_PICKLE_COMPLETE)) {
    /* A reader may also load every pickle with one unpickler, whose memo
     * carries over: read the stream that way too. */
    struct mg_pickle_report carried;
    ps.keep_memo = 1;
    scan_pass(p, n, extra_allow, &ps, &carried, NULL);
    if (carried.unsafe && !rep->unsafe) {
      rep->unsafe = 1;
      (void)snprintf(rep->reason, sizeof(rep->reason),
                     "%.140s (when one unpickler reads every pickle)",
                     carried.reason);
    }
    if (carried.stop != MG_PICKLE_COMPLETE && rep->stop == MG_PICKLE_COMPLETE) {
      rep->stop = carried.stop;
      rep->stop_at = carried.stop_at;
      rep->stop_pickle = carried.stop_pickle;
      (void)snprintf(rep->error, sizeof(rep->error),
                     "%.140s (when one unpickler reads every pickle)",
                     carried.error);
    }
    merge_globals(rep, &carried);
    mg_pickle_report_release(&carried);
  }
  if (rep->unsafe)
    mg_err_set(err, MG_ERR_FAIL, "%s", rep->reason);
  else if (rep->stop != MG_PICKLE_COMPLETE)
    mg_err_set(err, MG_ERR_DATA, "malformed pickle: %s at byte %llu",
               rep->error, (unsigned long long)rep->stop_at);
  return rep->unsafe || rep->stop != MG_PICKLE_COMPLETE ? -1 : 0;
}

void mg_pickle_report_release(struct mg_pickle_report *rep)
{
  if (!rep)
    return;
  for (size_t i = 0; i < rep->n_globals; i++) {
    free(rep->globals[i].module);
    free(rep->globals[i].name);
  }
  free(rep->globals);
  rep->globals = NULL;
  rep->n_globals = 0;
  for (size_t i = 0; i < rep->n_storages; i++) {
    free(rep->storages[i].key);
    free(rep->storages[i].type);
  }
  free(rep->storages);
  rep->storages = NULL;
  rep->n_storages = 0;
}

int mg_pickle_default_allowed(const char *module, const char *name)
{
  size_t ml = strlen(module);

  for (const char *const *a = default_allow; *a; a++) {
    const char *dot = strrchr(*a, '.');
    if ((size_t)(dot - *a) == ml && strncmp(*a, module, ml) == 0
        && strcmp(dot + 1, name) == 0)
      return 1;
  }
  return 0;
}
