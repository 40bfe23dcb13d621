#include "mg_pickle.h"

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

static const char *const default_allow[] = {
  "_codecs.encode",
  "builtins.bytearray",
  "builtins.complex",
  "builtins.frozenset",
  "builtins.set",
  "builtins.slice",
  "collections.OrderedDict",
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

enum kind { K_MARK, K_STR, K_LONGSTR, K_BYTES, K_GLOBAL, K_OBJ };

struct val {
  unsigned char kind;
  unsigned char allowed; /* K_GLOBAL */
  uint32_t ref;          /* K_STR: string offset in the arena; K_GLOBAL:
                            index into rep->globals */
  uint32_t len;          /* K_STR */
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
};

static int fail(struct scan *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
fail(struct scan *s, const char *fmt, ...)
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

static int
perr(struct scan *s, const char *what)
{
  (void)snprintf(s->rep->error, sizeof(s->rep->error), "%s at byte %zu", what,
                 s->op_pos);
  return -1;
}

static int
need(struct scan *s, size_t k)
{
  if (k > s->n - s->pos)
    return perr(s, "truncated pickle");
  return 0;
}

static uint64_t
le(const unsigned char *p, int k)
{
  uint64_t v = 0;

  for (int i = k - 1; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

static int
push(struct scan *s, struct val v)
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

static int
push_kind(struct scan *s, enum kind k)
{
  struct val v = { (unsigned char)k, 0, 0, 0 };

  return push(s, v);
}

/* Pops one value that must not be a mark. */
static int
pop(struct scan *s, struct val *out)
{
  if (!s->sp || s->stack[s->sp - 1].kind == K_MARK)
    return perr(s, "stack underflow");
  s->sp--;
  if (out)
    *out = s->stack[s->sp];
  return 0;
}

static struct val *
top(struct scan *s)
{
  if (!s->sp || s->stack[s->sp - 1].kind == K_MARK)
    return NULL;
  return &s->stack[s->sp - 1];
}

/* Pops back to and including the topmost mark; *first gets the value just
 * above the mark (kind K_MARK when there is none). */
static int
pop_mark(struct scan *s, struct val *first)
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

static int
push_str(struct scan *s, const unsigned char *p, size_t n)
{
  struct val v = { K_LONGSTR, 0, 0, 0 };

  if (n <= STR_KEEP && s->strs.len + n + 1 < UINT32_MAX) {
    v.kind = K_STR;
    v.ref = (uint32_t)s->strs.len;
    v.len = (uint32_t)n;
    mg_buf_add(&s->strs, p, n, NULL);
    mg_buf_addch(&s->strs, '\0', NULL);
  }
  return push(s, v);
}

static const char *
str_of(const struct scan *s, const struct val *v)
{
  return s->strs.data + v->ref;
}

static int
allowed(const struct scan *s, const char *module, const char *name)
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

static int
is_printable(const char *p, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
      return 0;
  return 1;
}

/* Records an import and pushes it. */
static int
add_global(struct scan *s, const char *module, size_t ml, const char *name,
           size_t nl, const char *opcode)
{
  struct mg_pickle_report *r = s->rep;
  struct val v = { K_GLOBAL, 0, 0, 0 };
  size_t i;

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
static struct memo_slot *
memo_find(struct scan *s, uint64_t key, int insert)
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

static int
memo_put(struct scan *s, uint64_t key)
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

static int
memo_get(struct scan *s, uint64_t key)
{
  struct memo_slot *m = memo_find(s, key, 0);

  if (!m)
    return perr(s, "memo key not found");
  return push(s, m->v);
}

/* A protocol 0 text argument: the bytes up to the next newline. */
static int
line(struct scan *s, const unsigned char **out, size_t *len)
{
  const unsigned char *nl = memchr(s->p + s->pos, '\n', s->n - s->pos);

  if (!nl)
    return perr(s, "unterminated line argument");
  *out = s->p + s->pos;
  *len = (size_t)(nl - *out);
  s->pos += *len + 1;
  return 0;
}

static int
line_uint(struct scan *s, uint64_t *v)
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

static int
hexval(unsigned char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static void
put_utf8(struct mg_buf *b, uint32_t cp)
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
static int
op_string(struct scan *s)
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
static int
op_unicode(struct scan *s)
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
static int
op_global_lines(struct scan *s, const char *opcode)
{
  const unsigned char *m, *nm;
  size_t ml, nl;

  if (line(s, &m, &ml) < 0 || line(s, &nm, &nl) < 0)
    return -1;
  return add_global(s, (const char *)m, ml, (const char *)nm, nl, opcode);
}

static int
op_stack_global(struct scan *s)
{
  struct val name, module;
  int rc;

  if (pop(s, &name) < 0 || pop(s, &module) < 0)
    return -1;
  if (module.kind != K_STR || name.kind != K_STR) {
    rc = fail(s, "STACK_GLOBAL with a %s operand that is not a string",
              module.kind != K_STR ? "module" : "name");
    return rc == -2 ? push_kind(s, K_OBJ) : rc;
  }
  return add_global(s, str_of(s, &module), module.len, str_of(s, &name),
                    name.len, "STACK_GLOBAL");
}

/* The callable of REDUCE / NEWOBJ / OBJ must be an imported global. */
static int
check_callable(struct scan *s, const struct val *c, const char *opcode)
{
  if (c->kind != K_GLOBAL)
    return fail(s, "%s calls a value that is not an imported global", opcode);
  return 0;
}

static int
check_target(struct scan *s, const char *opcode)
{
  struct val *t = top(s);

  if (!t)
    return perr(s, "stack underflow");
  /* Unsafe, but keep walking so every import is reported. */
  if (t->kind == K_GLOBAL)
    fail(s, "%s modifies an imported global object", opcode);
  return 0;
}

static int
skip_bytes(struct scan *s, uint64_t len, enum kind k)
{
  if (len > s->n - s->pos)
    return perr(s, "truncated pickle");
  s->pos += (size_t)len;
  return push_kind(s, k);
}

/*
 * One opcode. Returns 0, 1 after STOP, -1 on a parse error, -2 when a
 * resource limit made the scan unsafe to continue.
 */
static int
step(struct scan *s)
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
  case 'F':
  case 'I':
  case 'L': /* FLOAT, INT, LONG */
    if (line(s, &lp, &ll) < 0)
      return -1;
    return push_kind(s, K_OBJ);
  case 'P': /* PERSID */
    if (line(s, &lp, &ll) < 0)
      return -1;
    return push_kind(s, K_OBJ);
  case 'J':
  case 'G': /* BININT, BINFLOAT */
    if (need(s, op == 'J' ? 4 : 8) < 0)
      return -1;
    s->pos += op == 'J' ? 4 : 8;
    return push_kind(s, K_OBJ);
  case 'K':
  case 'M': /* BININT1, BININT2 */
    if (need(s, op == 'K' ? 1 : 2) < 0)
      return -1;
    s->pos += op == 'K' ? 1 : 2;
    return push_kind(s, K_OBJ);
  case 'N':
  case 0x88:
  case 0x89: /* NONE, NEWTRUE, NEWFALSE */
  case '}':
  case ']':
  case ')':
  case 0x8f: /* empty dict/list/tuple/set */
    return push_kind(s, K_OBJ);
  case 'Q': /* BINPERSID */
    if (pop(s, NULL) < 0)
      return -1;
    return push_kind(s, K_OBJ);
  case 'R': /* REDUCE */
    if (pop(s, &b) < 0 || pop(s, &a) < 0)
      return -1;
    rc = check_callable(s, &a, "REDUCE");
    return rc == -1 ? -1 : push_kind(s, K_OBJ);
  case 0x81: /* NEWOBJ */
    if (pop(s, &b) < 0 || pop(s, &a) < 0)
      return -1;
    rc = check_callable(s, &a, "NEWOBJ");
    return rc == -1 ? -1 : push_kind(s, K_OBJ);
  case 0x92: /* NEWOBJ_EX */
    if (pop(s, &c) < 0 || pop(s, &b) < 0 || pop(s, &a) < 0)
      return -1;
    rc = check_callable(s, &a, "NEWOBJ_EX");
    return rc == -1 ? -1 : push_kind(s, K_OBJ);
  case 'o': /* OBJ */
    if (pop_mark(s, &a) < 0)
      return -1;
    if (a.kind == K_MARK)
      return perr(s, "OBJ without a class");
    rc = check_callable(s, &a, "OBJ");
    return rc == -1 ? -1 : push_kind(s, K_OBJ);
  case 'i': /* INST */
    if (pop_mark(s, NULL) < 0)
      return -1;
    rc = op_global_lines(s, "INST");
    if (rc < 0)
      return rc;
    s->sp--;
    return push_kind(s, K_OBJ);
  case 'c': /* GLOBAL */
    return op_global_lines(s, "GLOBAL");
  case 0x93: /* STACK_GLOBAL */
    return op_stack_global(s);
  case 0x82:
  case 0x83:
  case 0x84: /* EXT1, EXT2, EXT4 */
    fail(s, "extension registry opcode EXT%d imports an unknown global",
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
    return skip_bytes(s, v, K_OBJ);
  case 'a': /* APPEND */
    if (pop(s, NULL) < 0)
      return -1;
    return check_target(s, "APPEND");
  case 'b': /* BUILD */
    if (pop(s, NULL) < 0)
      return -1;
    return check_target(s, "BUILD");
  case 's': /* SETITEM */
    if (pop(s, NULL) < 0 || pop(s, NULL) < 0)
      return -1;
    return check_target(s, "SETITEM");
  case 'e':
  case 'u':
  case 0x90: /* APPENDS, SETITEMS, ADDITEMS */
    if (pop_mark(s, NULL) < 0)
      return -1;
    return check_target(s, op == 'e'   ? "APPENDS"
                           : op == 'u' ? "SETITEMS"
                                       : "ADDITEMS");
  case 'd':
  case 'l':
  case 't':
  case 0x91: /* DICT, LIST, TUPLE, FROZENSET */
    if (pop_mark(s, NULL) < 0)
      return -1;
    return push_kind(s, K_OBJ);
  case 0x85:
  case 0x86:
  case 0x87: /* TUPLE1, TUPLE2, TUPLE3 */
    for (int k = 0; k < op - 0x84; k++)
      if (pop(s, NULL) < 0)
        return -1;
    return push_kind(s, K_OBJ);
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
    s->pos += 8;
    return 0;
  case 0x97: /* NEXT_BUFFER */
    return push_kind(s, K_OBJ);
  case 0x98: /* READONLY_BUFFER */
    return top(s) ? 0 : perr(s, "stack underflow");
  default:
    return perr(s, "unknown opcode");
  }
}

static void
scan_reset(struct scan *s)
{
  s->sp = 0;
  free(s->memo);
  s->memo = NULL;
  s->mcap = s->mcount = 0;
}

/* Runs one pickle to its STOP: 1 done, -1 parse error, -2 limit. */
static int
one_pickle(struct scan *s)
{
  for (;;) {
    int r = step(s);
    if (r == 1)
      return 1;
    if (r == -1 || r == -2)
      return r;
  }
}

int
mg_pickle_scan(const unsigned char *p, size_t n, const char *const *extra_allow,
               unsigned flags, struct mg_pickle_report *rep, struct mg_err *err)
{
  struct scan s;
  int rc = 0;

  memset(rep, 0, sizeof(*rep));
  memset(&s, 0, sizeof(s));
  s.p = p;
  s.n = n;
  s.extra = extra_allow;
  s.rep = rep;
  s.err = err;
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
  if (rep->unsafe)
    mg_err_set(err, MG_ERR_FAIL, "%s", rep->reason);
  else if (rc < 0)
    mg_err_set(err, MG_ERR_DATA, "malformed pickle: %s", rep->error);
  if (rep->unsafe)
    rc = -1;
  scan_reset(&s);
  free(s.stack);
  mg_buf_release(&s.strs);
  return rc;
}

void
mg_pickle_report_release(struct mg_pickle_report *rep)
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

/* A Python dotted name: identifier characters and dots. */
static int
dotted_name(const char *s)
{
  if (!*s || (*s >= '0' && *s <= '9') || *s == '.')
    return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')
          || (*s >= '0' && *s <= '9') || *s == '_' || *s == '.'))
      return 0;
  return 1;
}

int
mg_pickle_sniff(const unsigned char *p, size_t n)
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
    if (dotted_name(rep.globals[i].module) && dotted_name(rep.globals[i].name))
      r = 1;
  mg_pickle_report_release(&rep);
  return r;
}

int
mg_pickle_default_allowed(const char *module, const char *name)
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
