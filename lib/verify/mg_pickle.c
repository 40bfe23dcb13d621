#include "verify/mg_pickle.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "mg_mem.h"

#define STACK_MAX ((size_t)1 << 22)
#define MEMO_MAX ((size_t)1 << 22)
#define STR_KEEP 512 /* longer strings cannot be module names */
#define MAX_STACKED 16
#define HEAP_MAX ((size_t)1 << 20)
#define ELEM_MAX ((size_t)1 << 22)
#define TUP_KEEP 32 /* tuple elements kept (numpy has at most 32 dims) */

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

/*
 * Values on the abstract stack. Most objects are opaque (K_OBJ); what
 * joblib's array format needs is modelled exactly, with identity (a heap
 * index, so memo copies and later SETITEMS see the same object): ints,
 * None, tuples, dicts, numpy dtypes and joblib's NumpyArrayWrapper.
 */
enum kind {
  K_MARK,
  K_STR,
  K_LONGSTR,
  K_BYTES,
  K_GLOBAL,
  K_OBJ,
  K_INT,
  K_NONE,
  K_TUP,
  K_DICT,
  K_DTYPE,
  K_WRAP,
};

struct val {
  unsigned char kind;
  unsigned char allowed; /* K_GLOBAL */
  uint32_t ref;          /* K_STR: string offset in the arena; K_GLOBAL:
                            index into rep->globals */
  uint32_t len;          /* K_STR */
  uint32_t h;            /* K_TUP, K_DICT, K_DTYPE, K_WRAP: heap index + 1 */
  int64_t num;           /* K_INT */
};

/* A tracked object. */
struct hobj {
  unsigned char type; /* K_TUP, K_DICT, K_DTYPE or K_WRAP */
  uint32_t n;         /* K_TUP: length */
  size_t el;          /* K_TUP: its first min(n, TUP_KEEP) elements */
  /* K_DICT, K_WRAP: the entries / attributes joblib reads (kind K_MARK
   * when absent) */
  struct val shape, dtype, align;
  /* K_DTYPE: the type string ("f8", "U10", "O8") and the state */
  char dkind;
  uint64_t dnum;
  int dstate;     /* 0 no state, 1 a plain one, -1 structured or odd */
  int64_t elsize; /* from the state, -1 when none */
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
  struct mg_err *err;
  struct val *stack;
  size_t sp, scap;
  struct memo_slot *memo;
  size_t mcap, mcount;
  struct mg_buf strs;
  struct hobj *heap;
  size_t hn, hcap;
  struct val *el; /* tuple elements */
  size_t eln, elcap;
  size_t frame_end;    /* end of the current protocol 4 frame, 0: none */
  int joblib;          /* joblib.load's semantics: arrays follow BUILD */
  size_t lenient_from; /* plain pass over a joblib file: from here on the
                          bytes are array data to pickle.load */
  size_t first_array;  /* where the first joblib array's data starts */
};

static int fail(struct scan *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int fail(struct scan *s, const char *fmt, ...)
{
  struct mg_pickle_report *r = s->rep;
  va_list ap;

  r->unsafe = 1;
  if (!r->reason[0]) {
    va_start(ap, fmt);
    (void)vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
    va_end(ap);
  }
  return -2;
}

/*
 * An unsafe construct that a plain unpickler would reach only inside a
 * joblib array's bytes (lenient region) is not one: there only imports
 * that could really import something count (add_global).
 */
static int soft_fail(struct scan *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int soft_fail(struct scan *s, const char *fmt, ...)
{
  struct mg_pickle_report *r = s->rep;
  va_list ap;

  if (s->op_pos >= s->lenient_from)
    return 0;
  r->unsafe = 1;
  if (!r->reason[0]) {
    va_start(ap, fmt);
    (void)vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
    va_end(ap);
  }
  return -2;
}

static int perr(struct scan *s, const char *what)
{
  (void)snprintf(s->rep->error, sizeof(s->rep->error), "%s at byte %zu", what,
                 s->op_pos);
  return -1;
}

static int need(struct scan *s, size_t k)
{
  if (k > s->n - s->pos)
    return perr(s, "truncated pickle");
  return 0;
}

static uint64_t le(const unsigned char *p, int k)
{
  uint64_t v = 0;

  for (int i = k - 1; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

static int push(struct scan *s, struct val v)
{
  if (s->sp == s->scap) {
    if (s->scap >= STACK_MAX)
      return fail(s, "stack deeper than %zu entries", STACK_MAX);
    s->scap = s->scap ? s->scap * 2 : 64;
    s->stack = mg_xreallocarray(s->stack, s->scap, sizeof(*s->stack));
  }
  s->stack[s->sp++] = v;
  return 0;
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

/* A new tracked object of kind k; *v gets its value. -2 at the limit. */
static int heap_new(struct scan *s, enum kind k, struct val *v)
{
  struct hobj *o;

  if (s->hn >= HEAP_MAX)
    return fail(s, "more than %zu tracked objects", HEAP_MAX);
  if (s->hn == s->hcap) {
    s->hcap = s->hcap ? s->hcap * 2 : 64;
    s->heap = mg_xreallocarray(s->heap, s->hcap, sizeof(*s->heap));
  }
  o = &s->heap[s->hn++];
  memset(o, 0, sizeof(*o));
  o->type = (unsigned char)k;
  o->shape.kind = o->dtype.kind = o->align.kind = K_MARK;
  o->elsize = -1;
  memset(v, 0, sizeof(*v));
  v->kind = (unsigned char)k;
  v->h = (uint32_t)s->hn;
  return 0;
}

/* The tracked object behind v when it is of kind k, else NULL. */
static struct hobj *hobj_of(struct scan *s, const struct val *v, enum kind k)
{
  if (v->kind != k || !v->h || v->h > s->hn)
    return NULL;
  return &s->heap[v->h - 1];
}

/* Index of the first value above the topmost mark (the mark is at i-1),
 * or -1. */
static int mark_index(struct scan *s, size_t *i)
{
  size_t k = s->sp;

  while (k > 0 && s->stack[k - 1].kind != K_MARK)
    k--;
  if (k == 0)
    return perr(s, "no mark on the stack");
  *i = k;
  return 0;
}

/* Replaces stack[from..sp) (and drop more values below) by one tuple. */
static int make_tuple(struct scan *s, size_t from, size_t drop)
{
  size_t n = s->sp - from, k = n < TUP_KEEP ? n : TUP_KEEP;
  struct val v;
  int rc;

  if (s->eln + k > ELEM_MAX)
    return fail(s, "more than %zu tuple elements", ELEM_MAX);
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
  s->sp = from - drop;
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
  if (strcmp(key, "shape") == 0)
    o->shape = *v;
  else if (strcmp(key, "dtype") == 0)
    o->dtype = *v;
  else if (strcmp(key, "numpy_array_alignment_bytes") == 0)
    o->align = *v;
}

/* Pops one value that must not be a mark. */
static int pop(struct scan *s, struct val *out)
{
  if (!s->sp || s->stack[s->sp - 1].kind == K_MARK)
    return perr(s, "stack underflow");
  s->sp--;
  if (out)
    *out = s->stack[s->sp];
  return 0;
}

static struct val *top(struct scan *s)
{
  if (!s->sp || s->stack[s->sp - 1].kind == K_MARK)
    return NULL;
  return &s->stack[s->sp - 1];
}

/* Pops back to and including the topmost mark; *first gets the value just
 * above the mark (kind K_MARK when there is none). */
static int pop_mark(struct scan *s, struct val *first)
{
  size_t i = s->sp;

  while (i > 0 && s->stack[i - 1].kind != K_MARK)
    i--;
  if (i == 0)
    return perr(s, "no mark on the stack");
  if (first) {
    first->kind = K_MARK;
    if (i < s->sp)
      *first = s->stack[i];
  }
  s->sp = i - 1;
  return 0;
}

static int push_str(struct scan *s, const unsigned char *p, size_t n)
{
  struct val v = { K_LONGSTR, 0, 0, 0, 0, 0 };

  if (n <= STR_KEEP && s->strs.len + n + 1 < UINT32_MAX) {
    v.kind = K_STR;
    v.ref = (uint32_t)s->strs.len;
    v.len = (uint32_t)n;
    mg_buf_add(&s->strs, p, n, NULL);
    mg_buf_addch(&s->strs, '\0', NULL);
  }
  return push(s, v);
}

static const char *str_of(const struct scan *s, const struct val *v)
{
  return s->strs.data + v->ref;
}

static int allowed(const struct scan *s, const char *module, const char *name)
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

/* Records an import and pushes it. */
static int add_global(struct scan *s, const char *module, size_t ml,
                      const char *name, size_t nl, const char *opcode)
{
  struct mg_pickle_report *r = s->rep;
  struct val v = { K_GLOBAL, 0, 0, 0, 0, 0 };
  size_t i;

  /* Inside a joblib array's bytes, pickle.load would fail to import a
   * name that is not a Python dotted name: only real names count. */
  if (s->op_pos >= s->lenient_from
      && !(dotted_len(module, ml) && dotted_len(name, nl)))
    return push_kind(s, K_OBJ);

  if (!is_printable(module, ml) || !is_printable(name, nl)
      || memchr(module, 0, ml) || memchr(name, 0, nl))
    return fail(s, "global with an unprintable name via %s", opcode);
  for (i = 0; i < r->n_globals; i++)
    if (strlen(r->globals[i].module) == ml
        && memcmp(r->globals[i].module, module, ml) == 0
        && strlen(r->globals[i].name) == nl
        && memcmp(r->globals[i].name, name, nl) == 0)
      break;
  if (i == r->n_globals) {
    struct mg_pickle_global *g;
    if (r->n_globals >= 100000)
      return fail(s, "more than 100000 distinct globals");
    r->globals =
        mg_xreallocarray(r->globals, r->n_globals + 1, sizeof(*r->globals));
    g = &r->globals[r->n_globals++];
    g->module = mg_xstrndup(module, ml);
    g->name = mg_xstrndup(name, nl);
    g->opcode = opcode;
    g->offset = s->op_pos;
    g->count = 0;
    g->allowed = allowed(s, g->module, g->name);
  }
  r->globals[i].count++;
  v.ref = (uint32_t)i;
  v.allowed = (unsigned char)r->globals[i].allowed;
  if (!v.allowed)
    fail(s, "global '%s.%s' is not allowed", r->globals[i].module,
         r->globals[i].name);
  return push(s, v);
}

/* Memo: open addressing on the 64-bit key. */
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
    return perr(s, "memo store from an empty stack");
  if (s->mcount >= MEMO_MAX)
    return fail(s, "memo larger than %zu entries", MEMO_MAX);
  m = memo_find(s, key, 1);
  m->v = *t;
  return 0;
}

static int memo_get(struct scan *s, uint64_t key)
{
  struct memo_slot *m = memo_find(s, key, 0);

  if (!m)
    return perr(s, "memo key not found");
  return push(s, m->v);
}

/* A protocol 0 text argument: the bytes up to the next newline. */
static int line(struct scan *s, const unsigned char **out, size_t *len)
{
  const unsigned char *nl = memchr(s->p + s->pos, '\n', s->n - s->pos);

  if (!nl)
    return perr(s, "unterminated line argument");
  *out = s->p + s->pos;
  *len = (size_t)(nl - *out);
  s->pos += *len + 1;
  return 0;
}

static int line_uint(struct scan *s, uint64_t *v)
{
  const unsigned char *p;
  size_t n, i = 0;

  if (line(s, &p, &n) < 0)
    return -1;
  *v = 0;
  while (i < n && (p[i] == ' ' || p[i] == '\t'))
    i++;
  if (i == n)
    return perr(s, "empty memo key");
  for (; i < n; i++) {
    if (p[i] < '0' || p[i] > '9' || *v > UINT64_MAX / 10 - 1)
      return perr(s, "bad memo key");
    *v = *v * 10 + (uint64_t)(p[i] - '0');
  }
  return 0;
}

static int hexval(unsigned char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static void put_utf8(struct mg_buf *b, uint32_t cp)
{
  char u[4];
  size_t k;

  if (cp < 0x80) {
    u[0] = (char)cp;
    k = 1;
  } else if (cp < 0x800) {
    u[0] = (char)(0xc0 | cp >> 6);
    u[1] = (char)(0x80 | (cp & 0x3f));
    k = 2;
  } else if (cp < 0x10000) {
    u[0] = (char)(0xe0 | cp >> 12);
    u[1] = (char)(0x80 | (cp >> 6 & 0x3f));
    u[2] = (char)(0x80 | (cp & 0x3f));
    k = 3;
  } else {
    u[0] = (char)(0xf0 | cp >> 18);
    u[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    u[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    u[3] = (char)(0x80 | (cp & 0x3f));
    k = 4;
  }
  mg_buf_add(b, u, k, NULL);
}

/* STRING: a quoted Python literal, escapes decoded as escape_decode does. */
static int op_string(struct scan *s)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  const unsigned char *p;
  size_t n, i;
  int rc;

  if (line(s, &p, &n) < 0)
    return -1;
  if (n < 2 || (p[0] != '\'' && p[0] != '"') || p[n - 1] != p[0])
    return perr(s, "STRING argument is not quoted");
  for (i = 1; i + 1 < n; i++) {
    unsigned char c = p[i];
    if (c != '\\' || i + 2 >= n) {
      mg_buf_addch(&b, (char)c, NULL);
      continue;
    }
    c = p[++i];
    switch (c) {
    case 'n':
      mg_buf_addch(&b, '\n', NULL);
      break;
    case 't':
      mg_buf_addch(&b, '\t', NULL);
      break;
    case 'r':
      mg_buf_addch(&b, '\r', NULL);
      break;
    case 'a':
      mg_buf_addch(&b, '\a', NULL);
      break;
    case 'b':
      mg_buf_addch(&b, '\b', NULL);
      break;
    case 'f':
      mg_buf_addch(&b, '\f', NULL);
      break;
    case 'v':
      mg_buf_addch(&b, '\v', NULL);
      break;
    case '\\':
    case '\'':
    case '"':
      mg_buf_addch(&b, (char)c, NULL);
      break;
    case 'x':
      if (i + 2 < n - 1 && hexval(p[i + 1]) >= 0 && hexval(p[i + 2]) >= 0) {
        mg_buf_addch(&b, (char)(hexval(p[i + 1]) * 16 + hexval(p[i + 2])),
                     NULL);
        i += 2;
      } else {
        mg_buf_release(&b);
        return perr(s, "bad \\x escape in STRING");
      }
      break;
    default:
      if (c >= '0' && c <= '7') {
        unsigned v = (unsigned)(c - '0');
        for (int k = 0;
             k < 2 && i + 1 < n - 1 && p[i + 1] >= '0' && p[i + 1] <= '7'; k++)
          v = v * 8 + (unsigned)(p[++i] - '0');
        mg_buf_addch(&b, (char)(v & 0xff), NULL);
      } else {
        mg_buf_addch(&b, '\\', NULL);
        mg_buf_addch(&b, (char)c, NULL);
      }
    }
  }
  rc = push_str(s, (const unsigned char *)(b.data ? b.data : ""), b.len);
  mg_buf_release(&b);
  return rc;
}

/* UNICODE: raw-unicode-escape text (latin-1 plus \uXXXX / \UXXXXXXXX). */
static int op_unicode(struct scan *s)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  const unsigned char *p;
  size_t n, i;
  int rc;

  if (line(s, &p, &n) < 0)
    return -1;
  for (i = 0; i < n; i++) {
    int k = 0;
    if (p[i] == '\\' && i + 1 < n && (p[i + 1] == 'u' || p[i + 1] == 'U'))
      k = p[i + 1] == 'u' ? 4 : 8;
    if (k) {
      uint32_t cp = 0;
      if (i + 2 + (size_t)k > n) {
        mg_buf_release(&b);
        return perr(s, "truncated \\u escape in UNICODE");
      }
      for (int j = 0; j < k; j++) {
        int h = hexval(p[i + 2 + (size_t)j]);
        if (h < 0) {
          mg_buf_release(&b);
          return perr(s, "bad \\u escape in UNICODE");
        }
        cp = cp << 4 | (uint32_t)h;
      }
      if (cp > 0x10ffff) {
        mg_buf_release(&b);
        return perr(s, "bad code point in UNICODE");
      }
      put_utf8(&b, cp);
      i += 1 + (size_t)k;
      continue;
    }
    put_utf8(&b, p[i]);
  }
  rc = push_str(s, (const unsigned char *)(b.data ? b.data : ""), b.len);
  mg_buf_release(&b);
  return rc;
}

/* GLOBAL and INST: two text lines, module and name. */
static int op_global_lines(struct scan *s, const char *opcode)
{
  const unsigned char *m, *nm;
  size_t ml, nl;

  if (line(s, &m, &ml) < 0 || line(s, &nm, &nl) < 0)
    return -1;
  return add_global(s, (const char *)m, ml, (const char *)nm, nl, opcode);
}

static int op_stack_global(struct scan *s)
{
  struct val name, module;
  int rc;

  if (pop(s, &name) < 0 || pop(s, &module) < 0)
    return -1;
  if (module.kind != K_STR || name.kind != K_STR) {
    rc = soft_fail(s, "STACK_GLOBAL with a %s operand that is not a string",
                   module.kind != K_STR ? "module" : "name");
    return rc == -2 ? push_kind(s, K_OBJ) : rc;
  }
  return add_global(s, str_of(s, &module), module.len, str_of(s, &name),
                    name.len, "STACK_GLOBAL");
}

/* The callable of REDUCE / NEWOBJ / OBJ must be an imported global. */
static int check_callable(struct scan *s, const struct val *c,
                          const char *opcode)
{
  if (c->kind != K_GLOBAL)
    return soft_fail(s, "%s calls a value that is not an imported global",
                     opcode);
  return 0;
}

static int check_target(struct scan *s, const char *opcode)
{
  struct val *t = top(s);

  if (!t)
    return perr(s, "stack underflow");
  /* Unsafe, but keep walking so every import is reported. */
  if (t->kind == K_GLOBAL)
    soft_fail(s, "%s modifies an imported global object", opcode);
  return 0;
}

static int skip_bytes(struct scan *s, uint64_t len, enum kind k)
{
  if (len > s->n - s->pos)
    return perr(s, "truncated pickle");
  s->pos += (size_t)len;
  return push_kind(s, k);
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
 * a dtype; anything else stays opaque. */
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
  if (e[0].kind != K_INT || (e[0].num != 3 && e[0].num != 4)
      || e[2].kind != K_NONE || e[3].kind != K_NONE || e[4].kind != K_NONE
      || e[5].kind != K_INT)
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
        return fail(s, "joblib array wrapper with an unsupported state");
    }
  } else {
    return fail(s, "joblib array wrapper with an unsupported state");
  }
  for (int i = 0; i < 2; i++) {
    struct hobj *src = parts[i] ? hobj_of(s, parts[i], K_DICT) : NULL;
    if (!src)
      continue;
    if (src->shape.kind != K_MARK)
      o->shape = src->shape;
    if (src->dtype.kind != K_MARK)
      o->dtype = src->dtype;
    if (src->align.kind != K_MARK)
      o->align = src->align;
  }
  return 0;
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
  c.err = s->err;
  c.lenient_from = SIZE_MAX;
  mg_buf_init(&c.strs, MG_BUF_UNLIMITED);
  r = one_pickle(&c);
  s->pos = c.pos;
  scan_free(&c);
  return r == 1 ? 0 : r;
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
  struct hobj *sh = hobj_of(s, &w->shape, K_TUP);
  struct hobj *d = hobj_of(s, &w->dtype, K_DTYPE);
  uint64_t count = 1, itemsize, size;

  if (s->frame_end > s->pos)
    return fail(s, "joblib array data inside a pickle frame");
  if (!sh || !d || sh->n > TUP_KEEP)
    return fail(s, "joblib array wrapper without a usable shape and dtype");
  for (size_t i = 0; i < sh->n; i++) {
    const struct val *e = &s->el[sh->el + i];
    if (e->kind != K_INT || e->num < 0)
      return fail(s, "joblib array wrapper with a bad shape");
    if (e->num && count > ((uint64_t)1 << 62) / (uint64_t)e->num)
      return fail(s, "joblib array larger than 2^62 elements");
    count *= (uint64_t)e->num;
  }
  if (!d->dkind || d->dstate < 0)
    return fail(s, "joblib array with an unsupported dtype");
  if (!s->rep->n_arrays++)
    s->first_array = s->pos;
  if (d->dkind == 'O')
    return nested_pickle(s);
  itemsize = d->dnum;
  if (d->dkind == 'U')
    itemsize *= 4;
  if ((d->dkind == 'S' || d->dkind == 'U' || d->dkind == 'V') && d->elsize >= 0)
    itemsize = (uint64_t)d->elsize;
  if (w->align.kind != K_MARK && w->align.kind != K_NONE) {
    if (need(s, 1) < 0 || need(s, 1 + (size_t)s->p[s->pos]) < 0)
      return -1;
    s->pos += 1 + (size_t)s->p[s->pos];
  }
  if (itemsize && count > UINT64_MAX / itemsize)
    return fail(s, "joblib array larger than 2^64 bytes");
  size = count * itemsize;
  if (size > s->n - s->pos)
    return perr(s, "truncated joblib array data");
  s->pos += (size_t)size;
  return 0;
}

static int build(struct scan *s)
{
  struct val st, *t;
  struct hobj *o;

  if (pop(s, &st) < 0)
    return -1;
  t = top(s);
  if (!t)
    return perr(s, "stack underflow");
  o = hobj_of(s, t, K_DTYPE);
  if (o) {
    dtype_state(s, o, &st);
    return 0;
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
    return 0;
  }
  return check_target(s, "BUILD");
}

static int setitems(struct scan *s)
{
  size_t i;

  if (mark_index(s, &i) < 0)
    return -1;
  if ((s->sp - i) % 2)
    return perr(s, "odd number of items for SETITEMS");
  if (i >= 2)
    for (size_t k = i; k + 1 < s->sp; k += 2)
      track_item(s, &s->stack[i - 2], &s->stack[k], &s->stack[k + 1]);
  s->sp = i - 1;
  return check_target(s, "SETITEMS");
}

static int dict_from_mark(struct scan *s)
{
  struct val v;
  size_t i;
  int rc;

  if (mark_index(s, &i) < 0)
    return -1;
  if ((s->sp - i) % 2)
    return perr(s, "odd number of items for DICT");
  rc = heap_new(s, K_DICT, &v);
  if (rc < 0)
    return rc;
  for (size_t k = i; k + 1 < s->sp; k += 2)
    track_item(s, &v, &s->stack[k], &s->stack[k + 1]);
  s->sp = i - 1;
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

static int text_int(struct scan *s, int is_long)
{
  const unsigned char *lp;
  size_t ll, i = 0;
  int neg = 0;
  uint64_t v = 0;

  if (line(s, &lp, &ll) < 0)
    return -1;
  if (is_long && ll && lp[ll - 1] == 'L')
    ll--;
  if (i < ll && (lp[i] == '-' || lp[i] == '+'))
    neg = lp[i++] == '-';
  if (i == ll)
    return push_kind(s, K_OBJ);
  for (; i < ll; i++) {
    if (lp[i] < '0' || lp[i] > '9' || v > (uint64_t)INT64_MAX / 10)
      return push_kind(s, K_OBJ);
    v = v * 10 + (uint64_t)(lp[i] - '0');
  }
  if (v > (uint64_t)INT64_MAX)
    return push_kind(s, K_OBJ);
  return push_int(s, neg ? -(int64_t)v : (int64_t)v);
}

/*
 * One opcode. Returns 0, 1 after STOP, -1 on a parse error, -2 when a
 * resource limit made the scan unsafe to continue.
 */
static int step(struct scan *s)
{
  unsigned char op;
  struct val a, b, c;
  uint64_t v;
  const unsigned char *lp;
  size_t ll;
  int rc = 0;

  s->op_pos = s->pos;
  if (need(s, 1) < 0)
    return -1;
  op = s->p[s->pos++];
  s->rep->n_opcodes++;
  switch (op) {
  case '(': /* MARK */
    return push_kind(s, K_MARK);
  case '.': /* STOP */
    if (pop(s, NULL) < 0)
      return -1;
    return 1;
  case '0': /* POP */
    if (s->sp && s->stack[s->sp - 1].kind == K_MARK) {
      s->sp--;
      return 0;
    }
    return pop(s, NULL);
  case '1': /* POP_MARK */
    return pop_mark(s, NULL);
  case '2': /* DUP */
    if (!top(s))
      return perr(s, "stack underflow");
    return push(s, *top(s));
  case 'F': /* FLOAT */
    if (line(s, &lp, &ll) < 0)
      return -1;
    return push_kind(s, K_OBJ);
  case 'I':
  case 'L': /* INT, LONG */
    return text_int(s, op == 'L');
  case 'P': /* PERSID */
    if (line(s, &lp, &ll) < 0)
      return -1;
    return push_kind(s, K_OBJ);
  case 'G': /* BINFLOAT */
    if (need(s, 8) < 0)
      return -1;
    s->pos += 8;
    return push_kind(s, K_OBJ);
  case 'J': /* BININT */
    if (need(s, 4) < 0)
      return -1;
    v = le(s->p + s->pos, 4);
    s->pos += 4;
    return push_int(s, (int64_t)(int32_t)(uint32_t)v);
  case 'K':
  case 'M': /* BININT1, BININT2 */
    if (need(s, op == 'K' ? 1 : 2) < 0)
      return -1;
    v = le(s->p + s->pos, op == 'K' ? 1 : 2);
    s->pos += op == 'K' ? 1 : 2;
    return push_int(s, (int64_t)v);
  case 'N': /* NONE */
    return push_kind(s, K_NONE);
  case ')': /* EMPTY_TUPLE */
    return make_tuple(s, s->sp, 0);
  case '}': /* EMPTY_DICT */
    rc = heap_new(s, K_DICT, &a);
    return rc < 0 ? rc : push(s, a);
  case 0x88:
  case 0x89: /* NEWTRUE, NEWFALSE */
  case ']':
  case 0x8f: /* empty list/set */
    return push_kind(s, K_OBJ);
  case 'Q': /* BINPERSID */
    if (pop(s, NULL) < 0)
      return -1;
    return push_kind(s, K_OBJ);
  case 'R': /* REDUCE */
    if (pop(s, &b) < 0 || pop(s, &a) < 0)
      return -1;
    rc = check_callable(s, &a, "REDUCE");
    return rc == -1 ? -1 : reduce_result(s, &a, &b);
  case 0x81: /* NEWOBJ */
    if (pop(s, &b) < 0 || pop(s, &a) < 0)
      return -1;
    rc = check_callable(s, &a, "NEWOBJ");
    return rc == -1 ? -1 : new_object(s, &a);
  case 0x92: /* NEWOBJ_EX */
    if (pop(s, &c) < 0 || pop(s, &b) < 0 || pop(s, &a) < 0)
      return -1;
    rc = check_callable(s, &a, "NEWOBJ_EX");
    return rc == -1 ? -1 : new_object(s, &a);
  case 'o': /* OBJ */
    if (pop_mark(s, &a) < 0)
      return -1;
    if (a.kind == K_MARK)
      return perr(s, "OBJ without a class");
    rc = check_callable(s, &a, "OBJ");
    return rc == -1 ? -1 : new_object(s, &a);
  case 'i': /* INST */
    if (pop_mark(s, NULL) < 0)
      return -1;
    rc = op_global_lines(s, "INST");
    if (rc < 0)
      return rc;
    a = s->stack[--s->sp];
    return new_object(s, &a);
  case 'c': /* GLOBAL */
    return op_global_lines(s, "GLOBAL");
  case 0x93: /* STACK_GLOBAL */
    return op_stack_global(s);
  case 0x82:
  case 0x83:
  case 0x84: /* EXT1, EXT2, EXT4 */
    soft_fail(s, "extension registry opcode EXT%d imports an unknown global",
              op == 0x82   ? 1
              : op == 0x83 ? 2
                           : 4);
    if (need(s, op == 0x82 ? 1 : op == 0x83 ? 2 : 4) < 0)
      return -1;
    s->pos += op == 0x82 ? 1 : op == 0x83 ? 2 : 4;
    return push_kind(s, K_OBJ);
  case 'S': /* STRING */
    return op_string(s);
  case 'V': /* UNICODE */
    return op_unicode(s);
  case 'T':
  case 'X':
  case 'B': /* BINSTRING, BINUNICODE, BINBYTES */
    if (need(s, 4) < 0)
      return -1;
    v = le(s->p + s->pos, 4);
    s->pos += 4;
    if (op == 'T' && v > INT32_MAX)
      return perr(s, "negative BINSTRING length");
    if (v > s->n - s->pos)
      return perr(s, "truncated pickle");
    if (op == 'B')
      return skip_bytes(s, v, K_BYTES);
    s->pos += (size_t)v;
    return push_str(s, s->p + s->pos - v, (size_t)v);
  case 'U':
  case 0x8c:
  case 'C': /* SHORT_BINSTRING, SHORT_BINUNICODE,
               SHORT_BINBYTES */
    if (need(s, 1) < 0)
      return -1;
    v = s->p[s->pos++];
    if (v > s->n - s->pos)
      return perr(s, "truncated pickle");
    if (op == 'C')
      return skip_bytes(s, v, K_BYTES);
    s->pos += (size_t)v;
    return push_str(s, s->p + s->pos - v, (size_t)v);
  case 0x8d:
  case 0x8e:
  case 0x96: /* BINUNICODE8, BINBYTES8, BYTEARRAY8 */
    if (need(s, 8) < 0)
      return -1;
    v = le(s->p + s->pos, 8);
    s->pos += 8;
    if (v > s->n - s->pos)
      return perr(s, "truncated pickle");
    if (op != 0x8d)
      return skip_bytes(s, v, K_BYTES);
    s->pos += (size_t)v;
    return push_str(s, s->p + s->pos - v, (size_t)v);
  case 0x8a:
  case 0x8b: /* LONG1, LONG4 */
    if (need(s, op == 0x8a ? 1 : 4) < 0)
      return -1;
    v = le(s->p + s->pos, op == 0x8a ? 1 : 4);
    s->pos += op == 0x8a ? 1 : 4;
    if (op == 0x8b && v > INT32_MAX)
      return perr(s, "negative LONG4 length");
    if (op == 0x8a && v <= 8 && v <= s->n - s->pos) {
      /* Little-endian two's complement, sign-extended. */
      uint64_t x = v ? le(s->p + s->pos, (int)v) : 0;
      if (v && v < 8 && (x >> (8 * v - 1) & 1))
        x |= ~(uint64_t)0 << (8 * v);
      s->pos += (size_t)v;
      return push_int(s, (int64_t)x);
    }
    return skip_bytes(s, v, K_OBJ);
  case 'a': /* APPEND */
    if (pop(s, NULL) < 0)
      return -1;
    return check_target(s, "APPEND");
  case 'b': /* BUILD */
    return build(s);
  case 's': /* SETITEM */
    if (pop(s, &b) < 0 || pop(s, &a) < 0)
      return -1;
    if (top(s))
      track_item(s, top(s), &a, &b);
    return check_target(s, "SETITEM");
  case 'u': /* SETITEMS */
    return setitems(s);
  case 'e':
  case 0x90: /* APPENDS, ADDITEMS */
    if (pop_mark(s, NULL) < 0)
      return -1;
    return check_target(s, op == 'e' ? "APPENDS" : "ADDITEMS");
  case 'd': /* DICT */
    return dict_from_mark(s);
  case 't': { /* TUPLE */
    size_t i;
    if (mark_index(s, &i) < 0)
      return -1;
    return make_tuple(s, i, 1);
  }
  case 'l':
  case 0x91: /* LIST, FROZENSET */
    if (pop_mark(s, NULL) < 0)
      return -1;
    return push_kind(s, K_OBJ);
  case 0x85:
  case 0x86:
  case 0x87: /* TUPLE1, TUPLE2, TUPLE3 */
    for (size_t k = 1; k <= (size_t)(op - 0x84); k++)
      if (k > s->sp || s->stack[s->sp - k].kind == K_MARK)
        return perr(s, "stack underflow");
    return make_tuple(s, s->sp - (size_t)(op - 0x84), 0);
  case 'g': /* GET */
    if (line_uint(s, &v) < 0)
      return -1;
    return memo_get(s, v);
  case 'h':
  case 'j': /* BINGET, LONG_BINGET */
    if (need(s, op == 'h' ? 1 : 4) < 0)
      return -1;
    v = le(s->p + s->pos, op == 'h' ? 1 : 4);
    s->pos += op == 'h' ? 1 : 4;
    return memo_get(s, v);
  case 'p': /* PUT */
    if (line_uint(s, &v) < 0)
      return -1;
    return memo_put(s, v);
  case 'q':
  case 'r': /* BINPUT, LONG_BINPUT */
    if (need(s, op == 'q' ? 1 : 4) < 0)
      return -1;
    v = le(s->p + s->pos, op == 'q' ? 1 : 4);
    s->pos += op == 'q' ? 1 : 4;
    return memo_put(s, v);
  case 0x94: /* MEMOIZE */
    return memo_put(s, s->mcount);
  case 0x80: /* PROTO */
    if (need(s, 1) < 0)
      return -1;
    v = s->p[s->pos++];
    if (v > 5)
      return perr(s, "unsupported pickle protocol");
    if ((int)v > s->rep->protocol)
      s->rep->protocol = (int)v;
    return 0;
  case 0x95: /* FRAME */
    if (need(s, 8) < 0)
      return -1;
    v = le(s->p + s->pos, 8);
    s->pos += 8;
    if (v > s->n - s->pos)
      return perr(s, "truncated frame");
    s->frame_end = s->pos + (size_t)v;
    return 0;
  case 0x97: /* NEXT_BUFFER */
    return push_kind(s, K_OBJ);
  case 0x98: /* READONLY_BUFFER */
    return top(s) ? 0 : perr(s, "stack underflow");
  default:
    return perr(s, "unknown opcode");
  }
}

static void scan_reset(struct scan *s)
{
  s->sp = 0;
  free(s->memo);
  s->memo = NULL;
  s->mcap = s->mcount = 0;
  s->hn = s->eln = 0;
  s->frame_end = 0;
}

static void scan_free(struct scan *s)
{
  scan_reset(s);
  free(s->stack);
  free(s->heap);
  free(s->el);
  mg_buf_release(&s->strs);
}

/* Runs one pickle to its STOP: 1 done, -1 parse error, -2 limit. */
static int one_pickle(struct scan *s)
{
  for (;;) {
    int r = step(s);
    if (r == 1)
      return 1;
    if (r == -1 || r == -2)
      return r;
  }
}

/*
 * One pass over the buffer: with joblib set, joblib.load's semantics (an
 * array's bytes follow each NumpyArrayWrapper BUILD); lenient_from as in
 * struct scan. Returns 0, or -1 when the first pickle did not parse or a
 * limit stopped the scan; rep->unsafe tells whether it is unsafe.
 */
static int scan_pass(const unsigned char *p, size_t n,
                     const char *const *extra_allow, unsigned flags, int joblib,
                     size_t lenient_from, struct mg_pickle_report *rep,
                     size_t *first_array)
{
  struct scan s;
  int rc = 0;

  memset(rep, 0, sizeof(*rep));
  memset(&s, 0, sizeof(s));
  s.p = p;
  s.n = n;
  s.extra = extra_allow;
  s.rep = rep;
  s.joblib = joblib;
  s.lenient_from = lenient_from;
  mg_buf_init(&s.strs, MG_BUF_UNLIMITED);
  while (s.pos < n && rep->n_pickles < MAX_STACKED) {
    int r = one_pickle(&s);
    if (r == 1) {
      rep->n_pickles++;
      rep->end = s.pos;
      scan_reset(&s);
      if (!(flags & MG_PICKLE_STACKED))
        break;
      continue;
    }
    if (r == -2)
      rc = -1;
    if (rep->n_pickles == 0) {
      if (!rep->error[0])
        (void)snprintf(rep->error, sizeof(rep->error), "scan stopped");
      rc = -1;
    }
    break;
  }
  if (n == 0) {
    (void)snprintf(rep->error, sizeof(rep->error), "empty pickle");
    rc = -1;
  }
  if (first_array)
    *first_array = s.first_array;
  scan_free(&s);
  return rc;
}

int mg_pickle_scan(const unsigned char *p, size_t n,
                   const char *const *extra_allow, unsigned flags,
                   struct mg_pickle_report *rep, struct mg_err *err)
{
  size_t first = 0;
  int rc = scan_pass(p, n, extra_allow, flags, 1, SIZE_MAX, rep, &first);

  if (rep->n_arrays) {
    /*
     * The same file read by pickle.load (or torch.load) instead of
     * joblib.load does not skip the array bytes: it parses them as
     * opcodes until they fail to parse. Whatever such a reading could
     * import must be on the allowlist too.
     */
    struct mg_pickle_report plain;
    scan_pass(p, n, extra_allow, flags, 0, first, &plain, NULL);
    if (plain.unsafe && !rep->unsafe) {
      rep->unsafe = 1;
      (void)snprintf(rep->reason, sizeof(rep->reason),
                     "%.150s (when read by pickle.load, not joblib.load)",
                     plain.reason);
    }
    for (size_t i = 0; i < plain.n_globals; i++) {
      struct mg_pickle_global *g = &plain.globals[i];
      size_t k;
      for (k = 0; k < rep->n_globals; k++)
        if (strcmp(rep->globals[k].module, g->module) == 0
            && strcmp(rep->globals[k].name, g->name) == 0)
          break;
      if (k < rep->n_globals)
        continue;
      rep->globals = mg_xreallocarray(rep->globals, rep->n_globals + 1,
                                      sizeof(*rep->globals));
      rep->globals[rep->n_globals++] = *g;
      g->module = g->name = NULL;
    }
    mg_pickle_report_release(&plain);
  }
  if (rep->unsafe)
    mg_err_set(err, MG_ERR_FAIL, "%s", rep->reason);
  else if (rc < 0)
    mg_err_set(err, MG_ERR_DATA, "malformed pickle: %s", rep->error);
  if (rep->unsafe)
    rc = -1;
  return rc;
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
}

int mg_pickle_sniff(const unsigned char *p, size_t n)
{
  static const char starts[] = "(cNIJKMFLSVUTX}])lgdp";
  struct mg_pickle_report rep;
  int r;

  if (n >= 2 && p[0] == 0x80 && p[1] >= 2 && p[1] <= 5)
    return 2;
  if (n < 2 || !memchr(starts, p[0], sizeof(starts) - 1))
    return 0;
  /* Protocol 0/1 has no magic: it is a pickle if it parses, or if it
   * reaches an import (the loader would have run it) before failing. */
  mg_pickle_scan(p, n, NULL, 0, &rep, NULL);
  r = rep.n_pickles > 0;
  for (size_t i = 0; i < rep.n_globals; i++)
    if (dotted_len(rep.globals[i].module, strlen(rep.globals[i].module))
        && dotted_len(rep.globals[i].name, strlen(rep.globals[i].name)))
      r = 1;
  mg_pickle_report_release(&rep);
  return r;
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
