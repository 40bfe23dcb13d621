#include "py/mg_pv.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "mg_buf.h"
#include "mg_digest.h"
#include "mg_err.h"
#include "mg_json.h"
#include "mg_mem.h"
#include "mg_utf8.h"

#define MAX_DEPTH 200

static struct mg_pv *alloc(enum mg_pv_type t)
{
  struct mg_pv *v = mg_xcalloc(1, sizeof(*v));

  v->refs = 1;
  v->type = t;
  return v;
}

struct mg_pv *mg_pv_none(void)
{
  return alloc(MG_PV_NONE);
}

struct mg_pv *mg_pv_bool(int b)
{
  struct mg_pv *v = alloc(MG_PV_BOOL);

  v->u.b = !!b;
  return v;
}

struct mg_pv *mg_pv_int(long long i)
{
  struct mg_pv *v = alloc(MG_PV_INT);

  v->u.i = i;
  return v;
}

struct mg_pv *mg_pv_float(double f)
{
  struct mg_pv *v = alloc(MG_PV_FLOAT);

  v->u.f = f;
  return v;
}

struct mg_pv *mg_pv_str_take(char *s, size_t n)
{
  struct mg_pv *v = alloc(MG_PV_STR);

  v->u.str.s = s;
  v->u.str.len = n;
  return v;
}

struct mg_pv *mg_pv_strn(const char *s, size_t n)
{
  char *c = mg_xmalloc(n + 1);

  if (n)
    memcpy(c, s, n);
  c[n] = '\0';
  return mg_pv_str_take(c, n);
}

struct mg_pv *mg_pv_str(const char *s)
{
  return mg_pv_strn(s, strlen(s));
}

struct mg_pv *mg_pv_str_buf(struct mg_buf *b)
{
  size_t n;
  char *s = mg_buf_detach(b, &n);

  return mg_pv_str_take(s, n);
}

struct mg_pv *mg_pv_list(void)
{
  return alloc(MG_PV_LIST);
}

struct mg_pv *mg_pv_tuple(void)
{
  struct mg_pv *v = alloc(MG_PV_LIST);

  v->u.list.tuple = 1;
  return v;
}

struct mg_pv *mg_pv_dict(void)
{
  return alloc(MG_PV_DICT);
}

struct mg_pv *mg_pv_tagged(const char *tag, const char *value)
{
  struct mg_pv *v = alloc(MG_PV_TAGGED);

  v->u.tagged.tag = mg_xstrdup(tag);
  v->u.tagged.value = mg_xstrdup(value);
  return v;
}

struct mg_pv *mg_pv_ref(struct mg_pv *v)
{
  if (v)
    v->refs++;
  return v;
}

void mg_pv_unref(struct mg_pv *v)
{
  if (!v || --v->refs > 0)
    return;
  switch (v->type) {
  case MG_PV_STR:
    free(v->u.str.s);
    break;
  case MG_PV_LIST:
    for (size_t i = 0; i < v->u.list.n; i++)
      mg_pv_unref(v->u.list.v[i]);
    free(v->u.list.v);
    break;
  case MG_PV_DICT:
    for (size_t i = 0; i < v->u.dict.n; i++) {
      mg_pv_unref(v->u.dict.k[i]);
      mg_pv_unref(v->u.dict.v[i]);
    }
    free(v->u.dict.k);
    free(v->u.dict.v);
    break;
  case MG_PV_TAGGED:
    free(v->u.tagged.tag);
    free(v->u.tagged.value);
    break;
  default:
    break;
  }
  free(v);
}

const char *mg_pv_type_name(const struct mg_pv *v)
{
  if (!v)
    return "undefined";
  switch (v->type) {
  case MG_PV_NONE:
    return "NoneType";
  case MG_PV_BOOL:
    return "bool";
  case MG_PV_INT:
    return "int";
  case MG_PV_FLOAT:
    return "float";
  case MG_PV_STR:
    return "str";
  case MG_PV_LIST:
    return "list";
  case MG_PV_DICT:
    return "dict";
  case MG_PV_TAGGED:
    return "tagged";
  }
  return "?";
}

void mg_pv_list_append(struct mg_pv *list, struct mg_pv *v)
{
  if (list->type != MG_PV_LIST)
    MG_BUG("mg_pv_list_append on %s", mg_pv_type_name(list));
  if (list->u.list.n == list->u.list.cap) {
    list->u.list.cap = list->u.list.cap ? 2 * list->u.list.cap : 4;
    list->u.list.v = mg_xreallocarray(list->u.list.v, list->u.list.cap,
                                      sizeof(*list->u.list.v));
  }
  list->u.list.v[list->u.list.n++] = v;
}

size_t mg_pv_utf8_offset(const char *s, size_t n, size_t cp)
{
  size_t i = 0, c = 0;

  while (i < n) {
    if (((unsigned char)s[i] & 0xC0) != 0x80) {
      if (c == cp)
        return i;
      c++;
    }
    i++;
  }
  return n;
}

size_t mg_pv_len(const struct mg_pv *v)
{
  if (!v)
    return 0;
  switch (v->type) {
  case MG_PV_STR:
    return mg_utf8_count(v->u.str.s, v->u.str.len);
  case MG_PV_LIST:
    return v->u.list.n;
  case MG_PV_DICT:
    return v->u.dict.n;
  default:
    return 0;
  }
}

struct mg_pv *mg_pv_at(const struct mg_pv *list, size_t i)
{
  if (!list || list->type != MG_PV_LIST || i >= list->u.list.n)
    return NULL;
  return list->u.list.v[i];
}

static long dict_find(const struct mg_pv *d, const struct mg_pv *key)
{
  for (size_t i = 0; i < d->u.dict.n; i++)
    if (mg_pv_equal(d->u.dict.k[i], key))
      return (long)i;
  return -1;
}

static long dict_finds(const struct mg_pv *d, const char *key, size_t n)
{
  for (size_t i = 0; i < d->u.dict.n; i++) {
    const struct mg_pv *k = d->u.dict.k[i];

    if (k->type == MG_PV_STR && k->u.str.len == n
        && memcmp(k->u.str.s, key, n) == 0)
      return (long)i;
  }
  return -1;
}

void mg_pv_dict_set(struct mg_pv *d, struct mg_pv *key, struct mg_pv *v)
{
  long at;

  if (d->type != MG_PV_DICT)
    MG_BUG("mg_pv_dict_set on %s", mg_pv_type_name(d));
  at = dict_find(d, key);
  if (at >= 0) {
    mg_pv_unref(key);
    mg_pv_unref(d->u.dict.v[at]);
    d->u.dict.v[at] = v;
    return;
  }
  if (d->u.dict.n == d->u.dict.cap) {
    d->u.dict.cap = d->u.dict.cap ? 2 * d->u.dict.cap : 4;
    d->u.dict.k =
        mg_xreallocarray(d->u.dict.k, d->u.dict.cap, sizeof(*d->u.dict.k));
    d->u.dict.v =
        mg_xreallocarray(d->u.dict.v, d->u.dict.cap, sizeof(*d->u.dict.v));
  }
  d->u.dict.k[d->u.dict.n] = key;
  d->u.dict.v[d->u.dict.n++] = v;
}

void mg_pv_dict_sets(struct mg_pv *d, const char *key, struct mg_pv *v)
{
  mg_pv_dict_set(d, mg_pv_str(key), v);
}

struct mg_pv *mg_pv_dict_get(const struct mg_pv *d, const char *key)
{
  long at;

  if (!d || d->type != MG_PV_DICT)
    return NULL;
  at = dict_finds(d, key, strlen(key));
  return at < 0 ? NULL : d->u.dict.v[at];
}

struct mg_pv *mg_pv_dict_getv(const struct mg_pv *d, const struct mg_pv *key)
{
  long at;

  if (!d || d->type != MG_PV_DICT)
    return NULL;
  at = dict_find(d, key);
  return at < 0 ? NULL : d->u.dict.v[at];
}

void mg_pv_dict_del(struct mg_pv *d, const char *key)
{
  long at;

  if (!d || d->type != MG_PV_DICT)
    return;
  at = dict_finds(d, key, strlen(key));
  if (at < 0)
    return;
  mg_pv_unref(d->u.dict.k[at]);
  mg_pv_unref(d->u.dict.v[at]);
  memmove(d->u.dict.k + at, d->u.dict.k + at + 1,
          (d->u.dict.n - (size_t)at - 1) * sizeof(*d->u.dict.k));
  memmove(d->u.dict.v + at, d->u.dict.v + at + 1,
          (d->u.dict.n - (size_t)at - 1) * sizeof(*d->u.dict.v));
  d->u.dict.n--;
}

static struct mg_pv *copy(const struct mg_pv *v, int deep)
{
  struct mg_pv *c;

  switch (v->type) {
  case MG_PV_LIST:
    c = v->u.list.tuple ? mg_pv_tuple() : mg_pv_list();
    for (size_t i = 0; i < v->u.list.n; i++)
      mg_pv_list_append(c, deep ? copy(v->u.list.v[i], 1)
                                : mg_pv_ref(v->u.list.v[i]));
    return c;
  case MG_PV_DICT:
    c = mg_pv_dict();
    for (size_t i = 0; i < v->u.dict.n; i++)
      mg_pv_dict_set(c, mg_pv_ref(v->u.dict.k[i]),
                     deep ? copy(v->u.dict.v[i], 1)
                          : mg_pv_ref(v->u.dict.v[i]));
    return c;
  default:
    return mg_pv_ref((struct mg_pv *)v);
  }
}

struct mg_pv *mg_pv_copy(const struct mg_pv *v)
{
  return copy(v, 0);
}

struct mg_pv *mg_pv_deepcopy(const struct mg_pv *v)
{
  return copy(v, 1);
}

int mg_pv_is_number(const struct mg_pv *v)
{
  return v
         && (v->type == MG_PV_BOOL || v->type == MG_PV_INT
             || v->type == MG_PV_FLOAT);
}

double mg_pv_num(const struct mg_pv *v)
{
  if (!v)
    return 0;
  switch (v->type) {
  case MG_PV_BOOL:
    return v->u.b;
  case MG_PV_INT:
    return (double)v->u.i;
  case MG_PV_FLOAT:
    return v->u.f;
  default:
    return 0;
  }
}

const char *mg_pv_cstr(const struct mg_pv *v)
{
  return v && v->type == MG_PV_STR ? v->u.str.s : NULL;
}

int mg_pv_equal(const struct mg_pv *a, const struct mg_pv *b)
{
  if (!a || !b)
    return a == b;
  if (mg_pv_is_number(a) && mg_pv_is_number(b)) {
    if (a->type != MG_PV_FLOAT && b->type != MG_PV_FLOAT) {
      long long x = a->type == MG_PV_INT ? a->u.i : a->u.b;
      long long y = b->type == MG_PV_INT ? b->u.i : b->u.b;

      return x == y;
    }
    return mg_pv_num(a) == mg_pv_num(b);
  }
  if (a->type != b->type)
    return 0;
  switch (a->type) {
  case MG_PV_NONE:
    return 1;
  case MG_PV_STR:
    return a->u.str.len == b->u.str.len
           && memcmp(a->u.str.s, b->u.str.s, a->u.str.len) == 0;
  case MG_PV_LIST:
    if (a->u.list.n != b->u.list.n || a->u.list.tuple != b->u.list.tuple)
      return 0;
    for (size_t i = 0; i < a->u.list.n; i++)
      if (!mg_pv_equal(a->u.list.v[i], b->u.list.v[i]))
        return 0;
    return 1;
  case MG_PV_DICT:
    if (a->u.dict.n != b->u.dict.n)
      return 0;
    for (size_t i = 0; i < a->u.dict.n; i++) {
      const struct mg_pv *o = mg_pv_dict_getv(b, a->u.dict.k[i]);

      if (!o || !mg_pv_equal(a->u.dict.v[i], o))
        return 0;
    }
    return 1;
  case MG_PV_TAGGED:
    return strcmp(a->u.tagged.tag, b->u.tagged.tag) == 0
           && strcmp(a->u.tagged.value, b->u.tagged.value) == 0;
  default:
    return 0;
  }
}

int mg_pv_truthy(const struct mg_pv *v)
{
  if (!v)
    return 0;
  switch (v->type) {
  case MG_PV_NONE:
    return 0;
  case MG_PV_BOOL:
    return v->u.b;
  case MG_PV_INT:
    return v->u.i != 0;
  case MG_PV_FLOAT:
    return v->u.f != 0;
  case MG_PV_STR:
    return v->u.str.len != 0;
  case MG_PV_LIST:
    return v->u.list.n != 0;
  case MG_PV_DICT:
    return v->u.dict.n != 0;
  default:
    return 1;
  }
}

/* ---- text forms ---- */

void mg_pv_float_repr(struct mg_buf *out, double f)
{
  char tmp[48], digits[24];
  int prec, nd = 0, e10, decpt, neg;
  const char *p;

  if (isnan(f)) {
    mg_buf_addstr(out, "nan", NULL);
    return;
  }
  if (isinf(f)) {
    mg_buf_addstr(out, f < 0 ? "-inf" : "inf", NULL);
    return;
  }
  if (f == 0) {
    mg_buf_addstr(out, signbit(f) ? "-0.0" : "0.0", NULL);
    return;
  }
  for (prec = 1; prec <= 17; prec++) {
    (void)snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, f);
    if (strtod(tmp, NULL) == f)
      break;
  }
  p = tmp;
  neg = *p == '-';
  if (neg)
    p++;
  for (; *p && *p != 'e'; p++)
    if (*p >= '0' && *p <= '9' && nd < (int)sizeof(digits) - 1)
      digits[nd++] = *p;
  digits[nd] = '\0';
  e10 = *p == 'e' ? (int)strtol(p + 1, NULL, 10) : 0;
  while (nd > 1 && digits[nd - 1] == '0')
    digits[--nd] = '\0';
  decpt = e10 + 1;
  if (neg)
    mg_buf_addch(out, '-', NULL);
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) {
      mg_buf_addstr(out, "0.", NULL);
      for (int i = 0; i < -decpt; i++)
        mg_buf_addch(out, '0', NULL);
      mg_buf_add(out, digits, (size_t)nd, NULL);
    } else if (decpt >= nd) {
      mg_buf_add(out, digits, (size_t)nd, NULL);
      for (int i = nd; i < decpt; i++)
        mg_buf_addch(out, '0', NULL);
      mg_buf_addstr(out, ".0", NULL);
    } else {
      mg_buf_add(out, digits, (size_t)decpt, NULL);
      mg_buf_addch(out, '.', NULL);
      mg_buf_add(out, digits + decpt, (size_t)(nd - decpt), NULL);
    }
  } else {
    mg_buf_addch(out, digits[0], NULL);
    if (nd > 1) {
      mg_buf_addch(out, '.', NULL);
      mg_buf_add(out, digits + 1, (size_t)(nd - 1), NULL);
    }
    mg_buf_printf(out, NULL, "e%c%02d", decpt - 1 < 0 ? '-' : '+',
                  abs(decpt - 1));
  }
}

int32_t mg_pv_utf8_next(const char *s, size_t n, size_t *i)
{
  uint32_t cp;
  size_t k = mg_utf8_next(s + *i, n - *i, &cp, NULL);

  if (!k) {
    (*i)++;
    return 0xFFFD;
  }
  *i += k;
  return (int32_t)cp;
}

static int py_printable(int32_t cp)
{
  if (cp == ' ')
    return 1;
  if (cp < 0x20 || cp == 0x7f)
    return 0;
  if (cp < 0x7f)
    return 1;
  switch (utf8proc_category(cp)) {
  case UTF8PROC_CATEGORY_CC:
  case UTF8PROC_CATEGORY_CF:
  case UTF8PROC_CATEGORY_CS:
  case UTF8PROC_CATEGORY_CO:
  case UTF8PROC_CATEGORY_CN:
  case UTF8PROC_CATEGORY_ZL:
  case UTF8PROC_CATEGORY_ZP:
  case UTF8PROC_CATEGORY_ZS:
    return 0;
  default:
    return 1;
  }
}

static void repr_str(struct mg_buf *out, const char *s, size_t n)
{
  char q = '\'';
  int has_sq = memchr(s, '\'', n) != NULL, has_dq = memchr(s, '"', n) != NULL;
  size_t i = 0;

  if (has_sq && !has_dq)
    q = '"';
  mg_buf_addch(out, q, NULL);
  while (i < n) {
    size_t start = i;
    int32_t cp = mg_pv_utf8_next(s, n, &i);

    if (cp == q || cp == '\\') {
      mg_buf_addch(out, '\\', NULL);
      mg_buf_addch(out, (char)cp, NULL);
    } else if (cp == '\n') {
      mg_buf_addstr(out, "\\n", NULL);
    } else if (cp == '\r') {
      mg_buf_addstr(out, "\\r", NULL);
    } else if (cp == '\t') {
      mg_buf_addstr(out, "\\t", NULL);
    } else if (!py_printable(cp)) {
      if (cp < 0x100)
        mg_buf_printf(out, NULL, "\\x%02x", (unsigned)cp);
      else if (cp < 0x10000)
        mg_buf_printf(out, NULL, "\\u%04x", (unsigned)cp);
      else
        mg_buf_printf(out, NULL, "\\U%08x", (unsigned)cp);
    } else {
      mg_buf_add(out, s + start, i - start, NULL);
    }
  }
  mg_buf_addch(out, q, NULL);
}

void mg_pv_repr(struct mg_buf *out, const struct mg_pv *v)
{
  if (!v) {
    mg_buf_addstr(out, "Undefined", NULL);
    return;
  }
  switch (v->type) {
  case MG_PV_NONE:
    mg_buf_addstr(out, "None", NULL);
    break;
  case MG_PV_BOOL:
    mg_buf_addstr(out, v->u.b ? "True" : "False", NULL);
    break;
  case MG_PV_INT:
    mg_buf_printf(out, NULL, "%lld", v->u.i);
    break;
  case MG_PV_FLOAT:
    mg_pv_float_repr(out, v->u.f);
    break;
  case MG_PV_STR:
    repr_str(out, v->u.str.s, v->u.str.len);
    break;
  case MG_PV_LIST:
    mg_buf_addch(out, v->u.list.tuple ? '(' : '[', NULL);
    for (size_t i = 0; i < v->u.list.n; i++) {
      if (i)
        mg_buf_addstr(out, ", ", NULL);
      mg_pv_repr(out, v->u.list.v[i]);
    }
    if (v->u.list.tuple && v->u.list.n == 1)
      mg_buf_addch(out, ',', NULL);
    mg_buf_addch(out, v->u.list.tuple ? ')' : ']', NULL);
    break;
  case MG_PV_DICT:
    mg_buf_addch(out, '{', NULL);
    for (size_t i = 0; i < v->u.dict.n; i++) {
      if (i)
        mg_buf_addstr(out, ", ", NULL);
      mg_pv_repr(out, v->u.dict.k[i]);
      mg_buf_addstr(out, ": ", NULL);
      mg_pv_repr(out, v->u.dict.v[i]);
    }
    mg_buf_addch(out, '}', NULL);
    break;
  case MG_PV_TAGGED:
    mg_buf_printf(out, NULL, "%s %s", v->u.tagged.tag, v->u.tagged.value);
    break;
  }
}

void mg_pv_to_str(struct mg_buf *out, const struct mg_pv *v)
{
  if (v && v->type == MG_PV_STR)
    mg_buf_add(out, v->u.str.s, v->u.str.len, NULL);
  else
    mg_pv_repr(out, v);
}

static void json_str(struct mg_buf *out, const char *s, size_t n)
{
  size_t run = 0;

  mg_buf_grow(out, n + 2, NULL);
  mg_buf_addch(out, '"', NULL);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    const char *esc = NULL;
    char u[8];

    switch (c) {
    case '"':
      esc = "\\\"";
      break;
    case '\\':
      esc = "\\\\";
      break;
    case '\n':
      esc = "\\n";
      break;
    case '\r':
      esc = "\\r";
      break;
    case '\t':
      esc = "\\t";
      break;
    case '\b':
      esc = "\\b";
      break;
    case '\f':
      esc = "\\f";
      break;
    default:
      if (c < 0x20) {
        (void)snprintf(u, sizeof(u), "\\u%04x", c);
        esc = u;
      }
    }
    if (!esc) {
      run++;
      continue;
    }
    mg_buf_add(out, s + i - run, run, NULL);
    run = 0;
    mg_buf_addstr(out, esc, NULL);
  }
  mg_buf_add(out, s + n - run, run, NULL);
  mg_buf_addch(out, '"', NULL);
}

static void newline_indent(struct mg_buf *out, int indent, int level)
{
  mg_buf_addch(out, '\n', NULL);
  for (int i = 0; i < indent * level; i++)
    mg_buf_addch(out, ' ', NULL);
}

static void dumps(struct mg_buf *out, const struct mg_pv *v, int indent,
                  int level)
{
  size_t n;

  if (!v) {
    mg_buf_addstr(out, "null", NULL);
    return;
  }
  switch (v->type) {
  case MG_PV_NONE:
    mg_buf_addstr(out, "null", NULL);
    break;
  case MG_PV_BOOL:
    mg_buf_addstr(out, v->u.b ? "true" : "false", NULL);
    break;
  case MG_PV_INT:
    mg_buf_printf(out, NULL, "%lld", v->u.i);
    break;
  case MG_PV_FLOAT:
    if (isnan(v->u.f))
      mg_buf_addstr(out, "NaN", NULL);
    else if (isinf(v->u.f))
      mg_buf_addstr(out, v->u.f < 0 ? "-Infinity" : "Infinity", NULL);
    else
      mg_pv_float_repr(out, v->u.f);
    break;
  case MG_PV_STR:
    json_str(out, v->u.str.s, v->u.str.len);
    break;
  case MG_PV_TAGGED:
    json_str(out, v->u.tagged.value, strlen(v->u.tagged.value));
    break;
  case MG_PV_LIST:
  case MG_PV_DICT:
    n = v->type == MG_PV_LIST ? v->u.list.n : v->u.dict.n;
    mg_buf_addch(out, v->type == MG_PV_LIST ? '[' : '{', NULL);
    for (size_t i = 0; i < n; i++) {
      if (i)
        mg_buf_addstr(out, indent >= 0 ? "," : ", ", NULL);
      if (indent >= 0)
        newline_indent(out, indent, level + 1);
      if (v->type == MG_PV_LIST) {
        dumps(out, v->u.list.v[i], indent, level + 1);
      } else {
        const struct mg_pv *k = v->u.dict.k[i];

        if (k->type == MG_PV_STR) {
          json_str(out, k->u.str.s, k->u.str.len);
        } else {
          struct mg_buf t = MG_BUF_INIT(MG_BUF_UNLIMITED);

          if (k->type == MG_PV_NONE)
            mg_buf_addstr(&t, "null", NULL);
          else if (k->type == MG_PV_BOOL)
            mg_buf_addstr(&t, k->u.b ? "true" : "false", NULL);
          else
            mg_pv_repr(&t, k);
          json_str(out, t.data ? t.data : "", t.len);
          mg_buf_release(&t);
        }
        mg_buf_addstr(out, ": ", NULL);
        dumps(out, v->u.dict.v[i], indent, level + 1);
      }
    }
    if (n && indent >= 0)
      newline_indent(out, indent, level);
    mg_buf_addch(out, v->type == MG_PV_LIST ? ']' : '}', NULL);
    break;
  }
}

void mg_pv_dumps(struct mg_buf *out, const struct mg_pv *v, int indent)
{
  dumps(out, v, indent, 0);
}

/* ---- parsing ---- */

struct parser {
  const char *s;
  size_t n, i;
  enum mg_pv_parse_mode mode;
  const char *name;
  struct mg_err *err;
  int depth;
};

static int perr(struct parser *p, const char *why)
{
  return mg_err_set(p->err, MG_ERR_DATA, "malformed %s in '%s' at byte %zu: %s",
                    p->mode == MG_PV_JSON ? "JSON" : "literal", p->name, p->i,
                    why);
}

static void skip_ws(struct parser *p)
{
  while (p->i < p->n
         && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n'
             || p->s[p->i] == '\r'))
    p->i++;
}

/* Appends cp; past U+10FFFF it is U+FFFD, and a lone surrogate is kept
 * as its three bytes (WTF-8) so that nothing is lost. */
static void add_cp(struct mg_buf *b, uint32_t cp)
{
  char tmp[4];

  mg_buf_add(b, tmp, mg_utf8_put(cp > 0x10FFFF ? 0xFFFD : cp, tmp), NULL);
}

static int read_hex(struct parser *p, int digits, uint32_t *out)
{
  uint32_t v = 0;

  if (p->i + (size_t)digits > p->n)
    return perr(p, "truncated escape");
  for (int k = 0; k < digits; k++) {
    int h = mg_digest_hexval(p->s[p->i + (size_t)k]);

    if (h < 0)
      return perr(p, "bad hex escape");
    v = v * 16 + (uint32_t)h;
  }
  p->i += (size_t)digits;
  *out = v;
  return 0;
}

static int parse_string(struct parser *p, struct mg_pv **out)
{
  char q = p->s[p->i];
  int triple = 0, raw = 0;
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

  if (p->mode == MG_PV_PYLIT && (q == 'r' || q == 'R')) {
    raw = 1;
    q = p->s[++p->i];
  }
  p->i++;
  if (p->mode == MG_PV_PYLIT && p->i + 1 < p->n && p->s[p->i] == q
      && p->s[p->i + 1] == q) {
    triple = 1;
    p->i += 2;
  }
  for (;;) {
    char c;

    if (p->i >= p->n) {
      mg_buf_release(&b);
      return perr(p, "unterminated string");
    }
    c = p->s[p->i];
    if (c == q) {
      if (!triple) {
        p->i++;
        break;
      }
      if (p->i + 2 < p->n && p->s[p->i + 1] == q && p->s[p->i + 2] == q) {
        p->i += 3;
        break;
      }
      mg_buf_addch(&b, c, NULL);
      p->i++;
      continue;
    }
    if (p->mode == MG_PV_JSON && (unsigned char)c < 0x20) {
      mg_buf_release(&b);
      return perr(p, "control character in string");
    }
    if (c == '\n' && !triple && p->mode == MG_PV_PYLIT) {
      mg_buf_release(&b);
      return perr(p, "newline in string");
    }
    if (c != '\\' || raw) {
      mg_buf_addch(&b, c, NULL);
      p->i++;
      continue;
    }
    p->i++;
    if (p->i >= p->n) {
      mg_buf_release(&b);
      return perr(p, "truncated escape");
    }
    c = p->s[p->i++];
    switch (c) {
    case '"':
    case '\\':
      mg_buf_addch(&b, c, NULL);
      break;
    case '/':
      if (p->mode != MG_PV_JSON)
        mg_buf_addch(&b, '\\', NULL);
      mg_buf_addch(&b, c, NULL);
      break;
    case '\'':
      if (p->mode == MG_PV_JSON) {
        mg_buf_release(&b);
        return perr(p, "bad escape");
      }
      mg_buf_addch(&b, c, NULL);
      break;
    case 'b':
      mg_buf_addch(&b, '\b', NULL);
      break;
    case 'f':
      mg_buf_addch(&b, '\f', NULL);
      break;
    case 'n':
      mg_buf_addch(&b, '\n', NULL);
      break;
    case 'r':
      mg_buf_addch(&b, '\r', NULL);
      break;
    case 't':
      mg_buf_addch(&b, '\t', NULL);
      break;
    case 'u':
    case 'U':
    case 'x': {
      uint32_t cp, lo;
      int digits = c == 'u' ? 4 : c == 'U' ? 8 : 2;

      if (p->mode == MG_PV_JSON && c != 'u') {
        mg_buf_release(&b);
        return perr(p, "bad escape");
      }
      if (read_hex(p, digits, &cp) < 0) {
        mg_buf_release(&b);
        return -1;
      }
      if (c == 'u' && cp >= 0xD800 && cp <= 0xDBFF && p->i + 6 <= p->n
          && p->s[p->i] == '\\' && p->s[p->i + 1] == 'u') {
        size_t save = p->i;

        p->i += 2;
        if (read_hex(p, 4, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF)
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        else
          p->i = save;
      }
      add_cp(&b, cp);
      break;
    }
    default:
      if (p->mode == MG_PV_JSON) {
        mg_buf_release(&b);
        return perr(p, "bad escape");
      }
      if (c == '\n')
        break;
      mg_buf_addch(&b, '\\', NULL);
      mg_buf_addch(&b, c, NULL);
    }
  }
  *out = mg_pv_str_buf(&b);
  return 0;
}

static int parse_number(struct parser *p, struct mg_pv **out)
{
  size_t start = p->i;
  int is_float = 0;
  char tmp[128];
  size_t k = 0;

  if (p->s[p->i] == '-' || p->s[p->i] == '+')
    p->i++;
  if (p->mode == MG_PV_PYLIT && p->i + 1 < p->n && p->s[p->i] == '0'
      && (p->s[p->i + 1] == 'x' || p->s[p->i + 1] == 'X')) {
    long long v;

    p->i += 2;
    k = 0;
    while (p->i < p->n
           && (mg_digest_hexval(p->s[p->i]) >= 0 || p->s[p->i] == '_')) {
      if (p->s[p->i] != '_' && k < sizeof(tmp) - 1)
        tmp[k++] = p->s[p->i];
      p->i++;
    }
    tmp[k] = '\0';
    v = strtoll(tmp, NULL, 16);
    *out = mg_pv_int(p->s[start] == '-' ? -v : v);
    return 0;
  }
  while (p->i < p->n) {
    char c = p->s[p->i];

    if (c >= '0' && c <= '9') {
      p->i++;
    } else if (c == '_' && p->mode == MG_PV_PYLIT) {
      p->i++;
    } else if (c == '.' || c == 'e' || c == 'E') {
      is_float = 1;
      p->i++;
      if ((c == 'e' || c == 'E') && p->i < p->n
          && (p->s[p->i] == '-' || p->s[p->i] == '+'))
        p->i++;
    } else {
      break;
    }
  }
  for (size_t j = start; j < p->i && k < sizeof(tmp) - 1; j++)
    if (p->s[j] != '_')
      tmp[k++] = p->s[j];
  tmp[k] = '\0';
  if (k == 0 || (k == 1 && (tmp[0] == '-' || tmp[0] == '+')))
    return perr(p, "bad number");
  if (!is_float) {
    char *end;
    long long v;

    errno = 0;
    v = strtoll(tmp, &end, 10);
    if (*end)
      return perr(p, "bad number");
    if (errno != ERANGE) {
      *out = mg_pv_int(v);
      return 0;
    }
  }
  {
    char *end;
    double d = strtod(tmp, &end);

    if (*end)
      return perr(p, "bad number");
    *out = mg_pv_float(d);
  }
  return 0;
}

static int parse_value(struct parser *p, struct mg_pv **out);

static int word(struct parser *p, const char *w)
{
  size_t n = strlen(w);

  if (p->i + n <= p->n && memcmp(p->s + p->i, w, n) == 0) {
    char c = p->i + n < p->n ? p->s[p->i + n] : '\0';

    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'
        || (c >= '0' && c <= '9'))
      return 0;
    p->i += n;
    return 1;
  }
  return 0;
}

static int parse_seq(struct parser *p, char close, struct mg_pv **out)
{
  int is_tuple = close == ')', items = 0, trailing_comma = 0;
  struct mg_pv *l = is_tuple ? mg_pv_tuple() : mg_pv_list();

  p->i++;
  for (;;) {
    struct mg_pv *v;

    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == close
        && (p->mode == MG_PV_PYLIT || items == 0)) {
      p->i++;
      break;
    }
    if (parse_value(p, &v) < 0) {
      mg_pv_unref(l);
      return -1;
    }
    mg_pv_list_append(l, v);
    items++;
    trailing_comma = 0;
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == ',') {
      p->i++;
      trailing_comma = 1;
      continue;
    }
    if (p->i < p->n && p->s[p->i] == close) {
      p->i++;
      break;
    }
    mg_pv_unref(l);
    return perr(p, "expected ',' or closing bracket");
  }
  if (is_tuple && items == 1 && !trailing_comma) {
    /* (x) is just x */
    struct mg_pv *only = mg_pv_ref(mg_pv_at(l, 0));

    mg_pv_unref(l);
    *out = only;
    return 0;
  }
  *out = l;
  return 0;
}

static int parse_dict(struct parser *p, struct mg_pv **out)
{
  struct mg_pv *d = mg_pv_dict();

  p->i++;
  for (;;) {
    struct mg_pv *k, *v;

    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == '}'
        && (p->mode == MG_PV_PYLIT || d->u.dict.n == 0)) {
      p->i++;
      break;
    }
    if (p->mode == MG_PV_JSON && (p->i >= p->n || p->s[p->i] != '"')) {
      mg_pv_unref(d);
      return perr(p, "expected a string key");
    }
    if (parse_value(p, &k) < 0) {
      mg_pv_unref(d);
      return -1;
    }
    skip_ws(p);
    if (p->i >= p->n || p->s[p->i] != ':') {
      mg_pv_unref(k);
      mg_pv_unref(d);
      return perr(p, "expected ':'");
    }
    p->i++;
    if (parse_value(p, &v) < 0) {
      mg_pv_unref(k);
      mg_pv_unref(d);
      return -1;
    }
    mg_pv_dict_set(d, k, v);
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == ',') {
      p->i++;
      continue;
    }
    if (p->i < p->n && p->s[p->i] == '}') {
      p->i++;
      break;
    }
    mg_pv_unref(d);
    return perr(p, "expected ',' or '}'");
  }
  *out = d;
  return 0;
}

static int parse_value(struct parser *p, struct mg_pv **out)
{
  char c;
  int rc;

  skip_ws(p);
  if (p->i >= p->n)
    return perr(p, "unexpected end of input");
  if (++p->depth > MAX_DEPTH)
    return perr(p, "nesting too deep");
  c = p->s[p->i];
  if (c == '"' || (p->mode == MG_PV_PYLIT && c == '\''))
    rc = parse_string(p, out);
  else if (p->mode == MG_PV_PYLIT && (c == 'r' || c == 'R') && p->i + 1 < p->n
           && (p->s[p->i + 1] == '\'' || p->s[p->i + 1] == '"'))
    rc = parse_string(p, out);
  else if (c == '[')
    rc = parse_seq(p, ']', out);
  else if (c == '(' && p->mode == MG_PV_PYLIT)
    rc = parse_seq(p, ')', out);
  else if (c == '{')
    rc = parse_dict(p, out);
  else if (c == '-' || (c >= '0' && c <= '9')
           || (c == '+' && p->mode == MG_PV_PYLIT)
           || (c == '.' && p->mode == MG_PV_PYLIT)) {
    if (c == '-' && p->mode == MG_PV_JSON && word(p, "-Infinity")) {
      *out = mg_pv_float(-INFINITY);
      rc = 0;
    } else {
      rc = parse_number(p, out);
    }
  } else if (p->mode == MG_PV_JSON && word(p, "true")) {
    *out = mg_pv_bool(1), rc = 0;
  } else if (p->mode == MG_PV_JSON && word(p, "false")) {
    *out = mg_pv_bool(0), rc = 0;
  } else if (p->mode == MG_PV_JSON && word(p, "null")) {
    *out = mg_pv_none(), rc = 0;
  } else if (p->mode == MG_PV_JSON && word(p, "NaN")) {
    *out = mg_pv_float(NAN), rc = 0;
  } else if (p->mode == MG_PV_JSON && word(p, "Infinity")) {
    *out = mg_pv_float(INFINITY), rc = 0;
  } else if (p->mode == MG_PV_PYLIT && word(p, "True")) {
    *out = mg_pv_bool(1), rc = 0;
  } else if (p->mode == MG_PV_PYLIT && word(p, "False")) {
    *out = mg_pv_bool(0), rc = 0;
  } else if (p->mode == MG_PV_PYLIT && word(p, "None")) {
    *out = mg_pv_none(), rc = 0;
  } else {
    rc = perr(p, "unexpected character");
  }
  p->depth--;
  if (rc == 0 && p->mode == MG_PV_PYLIT && (*out)->type == MG_PV_STR) {
    /* adjacent string literals concatenate */
    for (;;) {
      size_t save = p->i;
      struct mg_pv *more;
      struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

      skip_ws(p);
      if (p->i >= p->n || (p->s[p->i] != '\'' && p->s[p->i] != '"')) {
        p->i = save;
        break;
      }
      if (parse_string(p, &more) < 0) {
        mg_pv_unref(*out);
        *out = NULL;
        return -1;
      }
      mg_buf_add(&b, (*out)->u.str.s, (*out)->u.str.len, NULL);
      mg_buf_add(&b, more->u.str.s, more->u.str.len, NULL);
      mg_pv_unref(more);
      mg_pv_unref(*out);
      *out = mg_pv_str_buf(&b);
    }
  }
  return rc;
}

int mg_pv_parse(const char *text, size_t len, enum mg_pv_parse_mode mode,
                const char *name, struct mg_pv **out, struct mg_err *err)
{
  struct parser p = { text, len, 0, mode, name, err, 0 };
  struct mg_pv *v = NULL;

  *out = NULL;
  if (parse_value(&p, &v) < 0)
    return -1;
  skip_ws(&p);
  if (p.i != p.n) {
    mg_pv_unref(v);
    return perr(&p, "unexpected data after the value");
  }
  *out = v;
  return 0;
}

/* ---- mg_json interop ---- */

struct mg_pv *mg_pv_from_json(const struct mg_json *j)
{
  struct mg_pv *v;
  double d;

  switch (mg_json_type(j)) {
  case MG_JSON_FALSE:
    return mg_pv_bool(0);
  case MG_JSON_TRUE:
    return mg_pv_bool(1);
  case MG_JSON_NUMBER:
    d = mg_json_number(j);
    if (d == floor(d) && fabs(d) < 9007199254740992.0)
      return mg_pv_int((long long)d);
    return mg_pv_float(d);
  case MG_JSON_STRING:
    return mg_pv_strn(mg_json_string(j), mg_json_string_len(j));
  case MG_JSON_ARRAY:
    v = mg_pv_list();
    for (struct mg_json *c = mg_json_first(j); c; c = mg_json_next(c))
      mg_pv_list_append(v, mg_pv_from_json(c));
    return v;
  case MG_JSON_OBJECT:
    v = mg_pv_dict();
    for (struct mg_json *c = mg_json_first(j); c; c = mg_json_next(c))
      mg_pv_dict_sets(v, mg_json_key(c), mg_pv_from_json(c));
    return v;
  default:
    return mg_pv_none();
  }
}

struct mg_json *mg_pv_to_json(const struct mg_pv *v)
{
  struct mg_json *j;

  if (!v)
    return mg_json_new_null();
  switch (v->type) {
  case MG_PV_BOOL:
    return mg_json_new_bool(v->u.b);
  case MG_PV_INT:
    return mg_json_new_number((double)v->u.i);
  case MG_PV_FLOAT:
    return mg_json_new_number(v->u.f);
  case MG_PV_STR:
    return mg_json_new_stringn(v->u.str.s, v->u.str.len);
  case MG_PV_TAGGED:
    return mg_json_new_string(v->u.tagged.value);
  case MG_PV_LIST:
    j = mg_json_new_array();
    for (size_t i = 0; i < v->u.list.n; i++)
      mg_json_append(j, mg_pv_to_json(v->u.list.v[i]));
    return j;
  case MG_PV_DICT:
    j = mg_json_new_object();
    for (size_t i = 0; i < v->u.dict.n; i++) {
      struct mg_buf k = MG_BUF_INIT(MG_BUF_UNLIMITED);

      mg_pv_to_str(&k, v->u.dict.k[i]);
      mg_json_set(j, k.data ? k.data : "", mg_pv_to_json(v->u.dict.v[i]));
      mg_buf_release(&k);
    }
    return j;
  default:
    return mg_json_new_null();
  }
}

/* ---- Python string helpers ---- */

int mg_pv_isspace(int c)
{
  return (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x20) || c == 0x85
         || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a)
         || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f
         || c == 0x3000;
}

struct mg_pv *mg_pv_str_strip(const struct mg_pv *s)
{
  const char *p = s->u.str.s;
  size_t n = s->u.str.len, a = 0, b = n;

  while (a < b) {
    size_t j = a;

    if (!mg_pv_isspace(mg_pv_utf8_next(p, n, &j)))
      break;
    a = j;
  }
  while (b > a) {
    size_t j = b - 1, k;

    while (j > a && ((unsigned char)p[j] & 0xC0) == 0x80)
      j--;
    k = j;
    if (!mg_pv_isspace(mg_pv_utf8_next(p, n, &k)))
      break;
    b = j;
  }
  return mg_pv_strn(p + a, b - a);
}

struct mg_pv *mg_pv_str_lower(const struct mg_pv *s)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  size_t i = 0;

  while (i < s->u.str.len) {
    int32_t c = mg_pv_utf8_next(s->u.str.s, s->u.str.len, &i);

    add_cp(&b, (uint32_t)utf8proc_tolower(c));
  }
  return mg_pv_str_buf(&b);
}

struct mg_pv *mg_pv_str_capitalize(const struct mg_pv *s)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  size_t i = 0;
  int first = 1;

  while (i < s->u.str.len) {
    int32_t c = mg_pv_utf8_next(s->u.str.s, s->u.str.len, &i);

    add_cp(&b, (uint32_t)(first ? utf8proc_totitle(c) : utf8proc_tolower(c)));
    first = 0;
  }
  return mg_pv_str_buf(&b);
}
