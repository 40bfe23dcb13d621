/*
 * The template evaluator: expressions with Python semantics, statements,
 * methods, globals and tests.
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <utf8proc.h>

#include "eval/mg_eval_int.h"
#include "mg_buf.h"
#include "mg_err.h"
#include "mg_mem.h"
#include "mg_utf8.h"
#include "py/mg_pv.h"

int mg_tmpl_run_rerr(struct rctx *r, const struct node *n, const char *fmt, ...)
{
  va_list ap;
  int rc;

  va_start(ap, fmt);
  rc = mg_tmpl_verr_at(r->err, r->t->name, r->t->src, n ? n->pos : 0, fmt, ap);
  va_end(ap);
  return rc;
}

struct mg_pv *mg_tmpl_run_mk_undef(const char *fmt, ...)
{
  char msg[200];
  va_list ap;

  va_start(ap, fmt);
  (void)vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  return mg_pv_tagged(UNDEF_TAG, msg);
}

int mg_tmpl_run_is_undef(const struct mg_pv *v)
{
  return v && v->type == MG_PV_TAGGED
         && strcmp(v->u.tagged.tag, UNDEF_TAG) == 0;
}

static const char *obj_name(const struct mg_pv *v)
{
  switch (v->type) {
  case MG_PV_NONE:
    return "None";
  case MG_PV_BOOL:
    return "bool object";
  case MG_PV_INT:
    return "int object";
  case MG_PV_FLOAT:
    return "float object";
  case MG_PV_STR:
    return "str object";
  case MG_PV_LIST:
    return "list object";
  case MG_PV_DICT:
    return "dict object";
  default:
    return "object";
  }
}

/* Fails on an undefined value (StrictUndefined), consuming it. */
int mg_tmpl_run_defined(struct rctx *r, const struct node *n, struct mg_pv *v)
{
  if (!mg_tmpl_run_is_undef(v))
    return 0;
  mg_tmpl_run_rerr(r, n, "%s", v->u.tagged.value);
  mg_pv_unref(v);
  return -1;
}

static int ev(struct rctx *r, const struct node *n, struct mg_pv **out);

/* Evaluates and insists on a defined value. */
int mg_tmpl_run_evd(struct rctx *r, const struct node *n, struct mg_pv **out)
{
  if (ev(r, n, out) < 0)
    return -1;
  if (mg_tmpl_run_defined(r, n, *out) < 0) {
    *out = NULL;
    return -1;
  }
  return 0;
}

/* Truth value of an expression; an undefined value is false when the
 * environment is lenient. */
static int ev_truth(struct rctx *r, const struct node *n, int *t)
{
  struct mg_pv *v;

  if (ev(r, n, &v) < 0)
    return -1;
  if (mg_tmpl_run_is_undef(v) && r->lenient) {
    mg_pv_unref(v);
    *t = 0;
    return 0;
  }
  if (mg_tmpl_run_defined(r, n, v) < 0)
    return -1;
  *t = mg_pv_truthy(v);
  mg_pv_unref(v);
  return 0;
}

static struct mg_pv *lookup(struct rctx *r, const char *name)
{
  for (size_t i = r->nframes; i-- > 0;) {
    struct mg_pv *v = mg_pv_dict_get(r->frames[i], name);

    if (v)
      return v;
  }
  return NULL;
}

static void push_frame(struct rctx *r)
{
  if (r->nframes == r->capframes) {
    r->capframes = r->capframes ? 2 * r->capframes : 8;
    r->frames = mg_xreallocarray(r->frames, r->capframes, sizeof(*r->frames));
  }
  r->frames[r->nframes++] = mg_pv_dict();
}

static void pop_frame(struct rctx *r)
{
  mg_pv_unref(r->frames[--r->nframes]);
}

/* --- string helpers (Python semantics over UTF-8) --- */

static void put_cp(struct mg_buf *b, int32_t cp)
{
  char tmp[4];

  if (cp >= 0 && cp <= 0x10FFFF)
    mg_buf_add(b, tmp, mg_utf8_put((uint32_t)cp, tmp), NULL);
}

static int py_isspace(int32_t c)
{
  return (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x20) || c == 0x85
         || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a)
         || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f
         || c == 0x3000;
}

struct mg_pv *mg_tmpl_run_str_strip(const struct mg_pv *s,
                                    const struct mg_pv *chars, int left,
                                    int right)
{
  const char *p = s->u.str.s;
  size_t n = s->u.str.len, a = 0, b = n;

  while (left && a < b) {
    size_t j = a;
    int32_t c = mg_pv_utf8_next(p, n, &j);
    int hit;

    if (chars) {
      size_t k = 0;

      hit = 0;
      while (k < chars->u.str.len)
        if (mg_pv_utf8_next(chars->u.str.s, chars->u.str.len, &k) == c) {
          hit = 1;
          break;
        }
    } else {
      hit = py_isspace(c);
    }
    if (!hit)
      break;
    a = j;
  }
  while (right && b > a) {
    size_t j = b - 1, k2;
    int32_t c;
    int hit;

    while (j > a && ((unsigned char)p[j] & 0xC0) == 0x80)
      j--;
    k2 = j;
    c = mg_pv_utf8_next(p, n, &k2);
    if (chars) {
      size_t k = 0;

      hit = 0;
      while (k < chars->u.str.len)
        if (mg_pv_utf8_next(chars->u.str.s, chars->u.str.len, &k) == c) {
          hit = 1;
          break;
        }
    } else {
      hit = py_isspace(c);
    }
    if (!hit)
      break;
    b = j;
  }
  return mg_pv_strn(p + a, b - a);
}

struct mg_pv *mg_tmpl_run_str_case(const struct mg_pv *s, enum casemode mode)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  size_t i = 0;
  int first = 1, prev_cased = 0;

  while (i < s->u.str.len) {
    int32_t c = mg_pv_utf8_next(s->u.str.s, s->u.str.len, &i), o = c;

    switch (mode) {
    case CASE_LOWER:
      o = utf8proc_tolower(c);
      break;
    case CASE_UPPER:
      o = utf8proc_toupper(c);
      break;
    case CASE_CAPITALIZE:
      o = first ? utf8proc_totitle(c) : utf8proc_tolower(c);
      break;
    case CASE_TITLE:
      o = prev_cased ? utf8proc_tolower(c) : utf8proc_totitle(c);
      break;
    case CASE_SWAP:
      o = utf8proc_isupper(c)   ? utf8proc_tolower(c)
          : utf8proc_islower(c) ? utf8proc_toupper(c)
                                : c;
      break;
    }
    {
      utf8proc_category_t cat = utf8proc_category(c);

      prev_cased = cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL
                   || cat == UTF8PROC_CATEGORY_LT;
    }
    first = 0;
    put_cp(&b, o);
  }
  return mg_pv_str_buf(&b);
}

static const char *memfind(const char *h, size_t hn, const char *nd, size_t nn)
{
  if (nn == 0)
    return h;
  if (nn > hn)
    return NULL;
  for (size_t i = 0; i + nn <= hn; i++)
    if (h[i] == nd[0] && memcmp(h + i, nd, nn) == 0)
      return h + i;
  return NULL;
}

struct mg_pv *mg_tmpl_run_str_split(const struct mg_pv *s,
                                    const struct mg_pv *sep, long maxsplit)
{
  struct mg_pv *l = mg_pv_list();
  const char *p = s->u.str.s;
  size_t n = s->u.str.len, i = 0;
  long done = 0;

  if (!sep) {
    for (;;) {
      size_t start, j;

      /* skip whitespace */
      while (i < n) {
        j = i;
        if (!py_isspace(mg_pv_utf8_next(p, n, &j)))
          break;
        i = j;
      }
      if (i >= n)
        break;
      if (maxsplit >= 0 && done >= maxsplit) {
        size_t e = n;

        /* the rest, right-stripped */
        while (e > i) {
          size_t k = e - 1, k2;

          while (k > i && ((unsigned char)p[k] & 0xC0) == 0x80)
            k--;
          k2 = k;
          if (!py_isspace(mg_pv_utf8_next(p, n, &k2)))
            break;
          e = k;
        }
        mg_pv_list_append(l, mg_pv_strn(p + i, e - i));
        break;
      }
      start = i;
      while (i < n) {
        j = i;
        if (py_isspace(mg_pv_utf8_next(p, n, &j)))
          break;
        i = j;
      }
      mg_pv_list_append(l, mg_pv_strn(p + start, i - start));
      done++;
    }
    return l;
  }
  for (;;) {
    const char *hit = NULL;

    if (maxsplit < 0 || done < maxsplit)
      hit = memfind(p + i, n - i, sep->u.str.s, sep->u.str.len);
    if (!hit) {
      mg_pv_list_append(l, mg_pv_strn(p + i, n - i));
      break;
    }
    mg_pv_list_append(l, mg_pv_strn(p + i, (size_t)(hit - (p + i))));
    i = (size_t)(hit - p) + sep->u.str.len;
    done++;
  }
  return l;
}

struct mg_pv *mg_tmpl_run_str_replace(const struct mg_pv *s,
                                      const struct mg_pv *old,
                                      const struct mg_pv *new, long count)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  const char *p = s->u.str.s;
  size_t n = s->u.str.len, i = 0;
  long done = 0;

  if (old->u.str.len == 0) {
    while (1) {
      if (count < 0 || done < count) {
        mg_buf_add(&b, new->u.str.s, new->u.str.len, NULL);
        done++;
      }
      if (i >= n)
        break;
      {
        size_t j = i;

        (void)mg_pv_utf8_next(p, n, &j);
        mg_buf_add(&b, p + i, j - i, NULL);
        i = j;
      }
    }
    return mg_pv_str_buf(&b);
  }
  for (;;) {
    const char *hit = NULL;

    if (count < 0 || done < count)
      hit = memfind(p + i, n - i, old->u.str.s, old->u.str.len);
    if (!hit) {
      mg_buf_add(&b, p + i, n - i, NULL);
      break;
    }
    mg_buf_add(&b, p + i, (size_t)(hit - (p + i)), NULL);
    mg_buf_add(&b, new->u.str.s, new->u.str.len, NULL);
    i = (size_t)(hit - p) + old->u.str.len;
    done++;
  }
  return mg_pv_str_buf(&b);
}

/* --- generic value helpers --- */

/* str() of a value, as a new str. */
struct mg_pv *mg_tmpl_run_to_str_pv(const struct mg_pv *v)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

  if (v->type == MG_PV_STR)
    return mg_pv_ref((struct mg_pv *)v);
  mg_pv_to_str(&b, v);
  return mg_pv_str_buf(&b);
}

/* Items of an iterable as a new list (str → chars, dict → keys). */
int mg_tmpl_run_iter_items(struct rctx *r, const struct node *n,
                           const struct mg_pv *v, struct mg_pv **out)
{
  struct mg_pv *l;

  switch (v->type) {
  case MG_PV_LIST:
    *out = mg_pv_ref((struct mg_pv *)v);
    return 0;
  case MG_PV_DICT:
    l = mg_pv_list();
    for (size_t i = 0; i < v->u.dict.n; i++)
      mg_pv_list_append(l, mg_pv_ref(v->u.dict.k[i]));
    *out = l;
    return 0;
  case MG_PV_STR: {
    size_t i = 0;

    l = mg_pv_list();
    while (i < v->u.str.len) {
      size_t j = i;

      (void)mg_pv_utf8_next(v->u.str.s, v->u.str.len, &j);
      mg_pv_list_append(l, mg_pv_strn(v->u.str.s + i, j - i));
      i = j;
    }
    *out = l;
    return 0;
  }
  default:
    return mg_tmpl_run_rerr(r, n, "'%s' is not iterable", obj_name(v));
  }
}

int mg_tmpl_run_compare(struct rctx *r, const struct node *n,
                        const struct mg_pv *a, const struct mg_pv *b, int *out)
{
  if (mg_pv_is_number(a) && mg_pv_is_number(b)) {
    double x = mg_pv_num(a), y = mg_pv_num(b);

    if (a->type == MG_PV_INT && b->type == MG_PV_INT)
      *out = a->u.i < b->u.i ? -1 : a->u.i > b->u.i;
    else
      *out = x < y ? -1 : x > y;
    return 0;
  }
  if (a->type == MG_PV_STR && b->type == MG_PV_STR) {
    size_t m = a->u.str.len < b->u.str.len ? a->u.str.len : b->u.str.len;
    int c = memcmp(a->u.str.s, b->u.str.s, m);

    *out = c ? (c < 0 ? -1 : 1)
             : (a->u.str.len < b->u.str.len ? -1 : a->u.str.len > b->u.str.len);
    return 0;
  }
  if (a->type == MG_PV_LIST && b->type == MG_PV_LIST) {
    for (size_t i = 0; i < a->u.list.n && i < b->u.list.n; i++) {
      if (!mg_pv_equal(a->u.list.v[i], b->u.list.v[i]))
        return mg_tmpl_run_compare(r, n, a->u.list.v[i], b->u.list.v[i], out);
    }
    *out = a->u.list.n < b->u.list.n ? -1 : a->u.list.n > b->u.list.n;
    return 0;
  }
  return mg_tmpl_run_rerr(
      r, n, "'<' not supported between instances of '%s' and '%s'",
      mg_pv_type_name(a), mg_pv_type_name(b));
}

static int contains(struct rctx *r, const struct node *n,
                    const struct mg_pv *item, const struct mg_pv *c, int *out)
{
  switch (c->type) {
  case MG_PV_STR:
    if (item->type != MG_PV_STR)
      return mg_tmpl_run_rerr(
          r, n,
          "'in <string>' requires string as left operand, not "
          "%s",
          mg_pv_type_name(item));
    *out = memfind(c->u.str.s, c->u.str.len, item->u.str.s, item->u.str.len)
           != NULL;
    return 0;
  case MG_PV_LIST:
    *out = 0;
    for (size_t i = 0; i < c->u.list.n; i++)
      if (mg_pv_equal(item, c->u.list.v[i])) {
        *out = 1;
        break;
      }
    return 0;
  case MG_PV_DICT:
    *out = mg_pv_dict_getv(c, item) != NULL;
    return 0;
  default:
    return mg_tmpl_run_rerr(r, n, "argument of type '%s' is not iterable",
                            mg_pv_type_name(c));
  }
}

/* Python-style index normalisation; -1 if out of range. */
static long norm_index(long long i, size_t len)
{
  if (i < 0)
    i += (long long)len;
  if (i < 0 || (size_t)i >= len)
    return -1;
  return (long)i;
}

struct mg_pv *mg_tmpl_run_get_item(const struct mg_pv *obj,
                                   const struct mg_pv *key)
{
  if (obj->type == MG_PV_DICT) {
    struct mg_pv *v = mg_pv_dict_getv(obj, key);

    if (v)
      return mg_pv_ref(v);
    {
      struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
      struct mg_pv *u;

      mg_pv_repr(&b, key);
      u = mg_tmpl_run_mk_undef("'dict object' has no attribute %s", b.data);
      mg_buf_release(&b);
      return u;
    }
  }
  if ((obj->type == MG_PV_LIST || obj->type == MG_PV_STR)
      && (key->type == MG_PV_INT || key->type == MG_PV_BOOL)) {
    long long k = key->type == MG_PV_INT ? key->u.i : key->u.b;
    long i = norm_index(k, mg_pv_len(obj));

    if (i < 0)
      return mg_tmpl_run_mk_undef("%s has no element %lld", obj_name(obj), k);
    if (obj->type == MG_PV_LIST)
      return mg_pv_ref(obj->u.list.v[i]);
    {
      size_t a = mg_pv_utf8_offset(obj->u.str.s, obj->u.str.len, (size_t)i);
      size_t b = mg_pv_utf8_offset(obj->u.str.s, obj->u.str.len, (size_t)i + 1);

      return mg_pv_strn(obj->u.str.s + a, b - a);
    }
  }
  if (key->type == MG_PV_STR)
    return mg_tmpl_run_mk_undef("'%s' has no attribute '%s'", obj_name(obj),
                                key->u.str.s);
  return mg_tmpl_run_mk_undef("'%s' has no element", obj_name(obj));
}

static int slice_bound(struct rctx *r, const struct node *n,
                       const struct mg_pv *v, long long def, long long *out)
{
  if (!v || v->type == MG_PV_NONE) {
    *out = def;
    return 0;
  }
  if (v->type != MG_PV_INT && v->type != MG_PV_BOOL)
    return mg_tmpl_run_rerr(r, n, "slice indices must be integers or None");
  *out = v->type == MG_PV_INT ? v->u.i : v->u.b;
  return 0;
}

static int do_slice(struct rctx *r, const struct node *n,
                    const struct mg_pv *obj, const struct mg_pv *a,
                    const struct mg_pv *b, const struct mg_pv *c,
                    struct mg_pv **out)
{
  long long len, start = 0, stop = 0, step = 1;
  struct mg_pv *res;
  int is_str = obj->type == MG_PV_STR;

  if (obj->type != MG_PV_LIST && !is_str)
    return mg_tmpl_run_rerr(r, n, "'%s' is not subscriptable", obj_name(obj));
  len = (long long)mg_pv_len(obj);
  if (slice_bound(r, n, c, 1, &step) < 0)
    return -1;
  if (step == 0)
    return mg_tmpl_run_rerr(r, n, "slice step cannot be zero");
  if (slice_bound(r, n, a, step > 0 ? 0 : len - 1, &start) < 0
      || slice_bound(r, n, b, step > 0 ? len : -len - 1, &stop) < 0)
    return -1;
  if (a && a->type != MG_PV_NONE && start < 0)
    start += len;
  if (b && b->type != MG_PV_NONE && stop < 0)
    stop += len;
  if (step > 0) {
    if (start < 0)
      start = 0;
    if (start > len)
      start = len;
    if (stop < 0)
      stop = 0;
    if (stop > len)
      stop = len;
  } else {
    if (start < -1)
      start = -1;
    if (start > len - 1)
      start = len - 1;
    if (stop < -1)
      stop = -1;
    if (stop > len - 1)
      stop = len - 1;
  }
  if (is_str) {
    struct mg_buf buf = MG_BUF_INIT(MG_BUF_UNLIMITED);
    const char *s = obj->u.str.s;
    size_t sn = obj->u.str.len;

    if (step == 1) {
      if (stop > start) {
        size_t x = mg_pv_utf8_offset(s, sn, (size_t)start);
        size_t y = mg_pv_utf8_offset(s, sn, (size_t)stop);

        mg_buf_add(&buf, s + x, y - x, NULL);
      }
    } else {
      for (long long i = start; step > 0 ? i < stop : i > stop; i += step) {
        size_t x = mg_pv_utf8_offset(s, sn, (size_t)i);
        size_t y = mg_pv_utf8_offset(s, sn, (size_t)i + 1);

        mg_buf_add(&buf, s + x, y - x, NULL);
      }
    }
    *out = mg_pv_str_buf(&buf);
    return 0;
  }
  res = mg_pv_list();
  for (long long i = start; step > 0 ? i < stop : i > stop; i += step)
    mg_pv_list_append(res, mg_pv_ref(obj->u.list.v[i]));
  *out = res;
  return 0;
}

int mg_tmpl_run_arith(struct rctx *r, const struct node *n, int op,
                      const struct mg_pv *a, const struct mg_pv *b,
                      struct mg_pv **out)
{
  int both_int = (a->type == MG_PV_INT || a->type == MG_PV_BOOL)
                 && (b->type == MG_PV_INT || b->type == MG_PV_BOOL);
  long long x = a->type == MG_PV_INT    ? a->u.i
                : a->type == MG_PV_BOOL ? a->u.b
                                        : 0;
  long long y = b->type == MG_PV_INT    ? b->u.i
                : b->type == MG_PV_BOOL ? b->u.b
                                        : 0;
  double fx = mg_pv_num(a), fy = mg_pv_num(b);
  static const char *const names[] = {
    "+", "-", "*", "/", "//", "%", "**", "~"
  };

  if (op == OP_CONCAT) {
    struct mg_buf buf = MG_BUF_INIT(MG_BUF_UNLIMITED);

    mg_pv_to_str(&buf, a);
    mg_pv_to_str(&buf, b);
    *out = mg_pv_str_buf(&buf);
    return 0;
  }
  if (op == OP_ADD && a->type == MG_PV_STR && b->type == MG_PV_STR) {
    struct mg_buf buf = MG_BUF_INIT(MG_BUF_UNLIMITED);

    mg_buf_add(&buf, a->u.str.s, a->u.str.len, NULL);
    mg_buf_add(&buf, b->u.str.s, b->u.str.len, NULL);
    *out = mg_pv_str_buf(&buf);
    return 0;
  }
  if (op == OP_ADD && a->type == MG_PV_LIST && b->type == MG_PV_LIST) {
    struct mg_pv *l = mg_pv_copy(a);

    for (size_t i = 0; i < b->u.list.n; i++)
      mg_pv_list_append(l, mg_pv_ref(b->u.list.v[i]));
    *out = l;
    return 0;
  }
  if (op == OP_MUL
      && ((a->type == MG_PV_STR || a->type == MG_PV_LIST)
          && (b->type == MG_PV_INT || b->type == MG_PV_BOOL))) {
    if (a->type == MG_PV_STR) {
      struct mg_buf buf = MG_BUF_INIT(MG_BUF_UNLIMITED);

      for (long long i = 0; i < y; i++)
        mg_buf_add(&buf, a->u.str.s, a->u.str.len, NULL);
      *out = mg_pv_str_buf(&buf);
    } else {
      struct mg_pv *l = mg_pv_list();

      for (long long i = 0; i < y; i++)
        for (size_t j = 0; j < a->u.list.n; j++)
          mg_pv_list_append(l, mg_pv_ref(a->u.list.v[j]));
      *out = l;
    }
    return 0;
  }
  if (!mg_pv_is_number(a) || !mg_pv_is_number(b))
    return mg_tmpl_run_rerr(r, n,
                            "unsupported operand type(s) for %s: '%s' and '%s'",
                            names[op], mg_pv_type_name(a), mg_pv_type_name(b));
  switch (op) {
  case OP_ADD:
    *out = both_int ? mg_pv_int(x + y) : mg_pv_float(fx + fy);
    return 0;
  case OP_SUB:
    *out = both_int ? mg_pv_int(x - y) : mg_pv_float(fx - fy);
    return 0;
  case OP_MUL:
    *out = both_int ? mg_pv_int(x * y) : mg_pv_float(fx * fy);
    return 0;
  case OP_DIV:
    if (fy == 0)
      return mg_tmpl_run_rerr(r, n, "division by zero");
    *out = mg_pv_float(fx / fy);
    return 0;
  case OP_FLOORDIV:
    if (fy == 0)
      return mg_tmpl_run_rerr(r, n, "integer division or modulo by zero");
    if (both_int) {
      long long q = x / y;

      if ((x % y != 0) && ((x < 0) != (y < 0)))
        q--;
      *out = mg_pv_int(q);
    } else {
      *out = mg_pv_float(floor(fx / fy));
    }
    return 0;
  case OP_MOD:
    if (fy == 0)
      return mg_tmpl_run_rerr(r, n, "integer division or modulo by zero");
    if (both_int) {
      long long m = x % y;

      if (m != 0 && ((m < 0) != (y < 0)))
        m += y;
      *out = mg_pv_int(m);
    } else {
      double m = fmod(fx, fy);

      if (m != 0 && ((m < 0) != (fy < 0)))
        m += fy;
      *out = mg_pv_float(m);
    }
    return 0;
  case OP_POW:
    if (both_int && y >= 0) {
      long long acc = 1;

      for (long long i = 0; i < y; i++)
        acc *= x;
      *out = mg_pv_int(acc);
    } else {
      *out = mg_pv_float(pow(fx, fy));
    }
    return 0;
  default:
    return mg_tmpl_run_rerr(r, n, "bad operator");
  }
}

/* --- calls --- */

static void args_release(struct args *a)
{
  for (size_t i = 0; i < a->npos; i++)
    mg_pv_unref(a->pos[i]);
  for (size_t i = 0; i < a->nkw; i++)
    mg_pv_unref(a->kwv[i]);
  a->npos = a->nkw = 0;
}

/* Evaluates children first..nk-1 of n as call arguments. */
static int eval_args(struct rctx *r, const struct node *n, size_t first,
                     struct args *a)
{
  memset(a, 0, sizeof(*a));
  for (size_t i = first; i < n->nk; i++) {
    struct mg_pv *v;

    if (mg_tmpl_run_evd(r, n->k[i], &v) < 0) {
      args_release(a);
      return -1;
    }
    if (n->kw[i]) {
      if (a->nkw >= 8) {
        mg_pv_unref(v);
        args_release(a);
        return mg_tmpl_run_rerr(r, n, "too many keyword arguments");
      }
      a->kwn[a->nkw] = n->kw[i];
      a->kwv[a->nkw++] = v;
    } else {
      if (a->npos >= 8) {
        mg_pv_unref(v);
        args_release(a);
        return mg_tmpl_run_rerr(r, n, "too many arguments");
      }
      a->pos[a->npos++] = v;
    }
  }
  return 0;
}

/* Argument i by position or keyword name; NULL if absent. Borrowed. */
struct mg_pv *mg_tmpl_run_arg(const struct args *a, size_t i, const char *name)
{
  if (i < a->npos)
    return a->pos[i];
  for (size_t k = 0; k < a->nkw; k++)
    if (name && strcmp(a->kwn[k], name) == 0)
      return a->kwv[k];
  return NULL;
}

int mg_tmpl_run_need_str(struct rctx *r, const struct node *n,
                         const struct mg_pv *v, const char *what)
{
  if (!v || v->type != MG_PV_STR)
    return mg_tmpl_run_rerr(r, n, "%s must be str, not %s", what,
                            mg_pv_type_name(v));
  return 0;
}

int mg_tmpl_run_need_int(struct rctx *r, const struct node *n,
                         const struct mg_pv *v, const char *what,
                         long long *out)
{
  if (!v || (v->type != MG_PV_INT && v->type != MG_PV_BOOL))
    return mg_tmpl_run_rerr(r, n, "%s must be an integer, not %s", what,
                            mg_pv_type_name(v));
  *out = v->type == MG_PV_INT ? v->u.i : v->u.b;
  return 0;
}

static size_t byte_to_cp(const char *s, size_t off)
{
  return mg_utf8_count(s, off);
}

static int str_is(const struct mg_pv *s, int kind)
{
  size_t i = 0;
  int any_cased = 0;

  if (s->u.str.len == 0)
    return 0;
  while (i < s->u.str.len) {
    int32_t c = mg_pv_utf8_next(s->u.str.s, s->u.str.len, &i);
    utf8proc_category_t cat = utf8proc_category(c);

    switch (kind) {
    case 'd': /* isdigit / isdecimal */
      if (cat != UTF8PROC_CATEGORY_ND && !(c >= 0x2070 && c <= 0x2079)
          && c != 0xb2 && c != 0xb3 && c != 0xb9)
        return 0;
      break;
    case 'D':
      if (cat != UTF8PROC_CATEGORY_ND)
        return 0;
      break;
    case 'n': /* isnumeric */
      if (cat != UTF8PROC_CATEGORY_ND && cat != UTF8PROC_CATEGORY_NL
          && cat != UTF8PROC_CATEGORY_NO)
        return 0;
      break;
    case 'a':
      if (cat < UTF8PROC_CATEGORY_LU || cat > UTF8PROC_CATEGORY_LO)
        return 0;
      break;
    case 'A':
      if ((cat < UTF8PROC_CATEGORY_LU || cat > UTF8PROC_CATEGORY_LO)
          && cat != UTF8PROC_CATEGORY_ND && cat != UTF8PROC_CATEGORY_NL
          && cat != UTF8PROC_CATEGORY_NO)
        return 0;
      break;
    case 's':
      if (!py_isspace(c))
        return 0;
      break;
    case 'u':
      if (cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT)
        return 0;
      if (cat == UTF8PROC_CATEGORY_LU)
        any_cased = 1;
      break;
    case 'l':
      if (cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LT)
        return 0;
      if (cat == UTF8PROC_CATEGORY_LL)
        any_cased = 1;
      break;
    }
  }
  if (kind == 'u' || kind == 'l')
    return any_cased;
  return 1;
}

static int str_format(struct rctx *r, const struct node *n,
                      const struct mg_pv *fmt, const struct args *a,
                      struct mg_pv **out)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  const char *s = fmt->u.str.s;
  size_t len = fmt->u.str.len, auto_idx = 0;

  for (size_t i = 0; i < len; i++) {
    if (s[i] == '{' && i + 1 < len && s[i + 1] == '{') {
      mg_buf_addch(&b, '{', NULL);
      i++;
    } else if (s[i] == '}' && i + 1 < len && s[i + 1] == '}') {
      mg_buf_addch(&b, '}', NULL);
      i++;
    } else if (s[i] == '{') {
      const char *e = memchr(s + i, '}', len - i);
      char field[64];
      size_t fl;
      const struct mg_pv *v = NULL;

      if (!e || (fl = (size_t)(e - s - i - 1)) >= sizeof(field)) {
        mg_buf_release(&b);
        return mg_tmpl_run_rerr(r, n, "bad format string");
      }
      memcpy(field, s + i + 1, fl);
      field[fl] = '\0';
      if (strchr(field, ':') || strchr(field, '!')) {
        mg_buf_release(&b);
        return mg_tmpl_run_rerr(r, n,
                                "format specs are not supported in str.format");
      }
      if (fl == 0) {
        v = auto_idx < a->npos ? a->pos[auto_idx] : NULL;
        auto_idx++;
      } else if (field[0] >= '0' && field[0] <= '9') {
        size_t idx = (size_t)strtoul(field, NULL, 10);

        v = idx < a->npos ? a->pos[idx] : NULL;
      } else {
        v = mg_tmpl_run_arg(a, (size_t)-1, field);
      }
      if (!v) {
        mg_buf_release(&b);
        return mg_tmpl_run_rerr(
            r, n, "missing argument for '{%s}' in str.format", field);
      }
      mg_pv_to_str(&b, v);
      i = (size_t)(e - s);
    } else {
      mg_buf_addch(&b, s[i], NULL);
    }
  }
  *out = mg_pv_str_buf(&b);
  return 0;
}

static int call_str_method(struct rctx *r, const struct node *n,
                           const struct mg_pv *s, const char *m,
                           const struct args *a, struct mg_pv **out)
{
  struct mg_pv *a0 = mg_tmpl_run_arg(a, 0, NULL),
               *a1 = mg_tmpl_run_arg(a, 1, NULL);
  long long k;

  if (!strcmp(m, "strip") || !strcmp(m, "lstrip") || !strcmp(m, "rstrip")) {
    if (a0 && a0->type != MG_PV_NONE
        && mg_tmpl_run_need_str(r, n, a0, "strip arg") < 0)
      return -1;
    *out = mg_tmpl_run_str_strip(s, a0 && a0->type == MG_PV_STR ? a0 : NULL,
                                 m[0] != 'r', m[0] != 'l');
    return 0;
  }
  if (!strcmp(m, "lower") || !strcmp(m, "casefold")) {
    *out = mg_tmpl_run_str_case(s, CASE_LOWER);
    return 0;
  }
  if (!strcmp(m, "upper")) {
    *out = mg_tmpl_run_str_case(s, CASE_UPPER);
    return 0;
  }
  if (!strcmp(m, "capitalize")) {
    *out = mg_tmpl_run_str_case(s, CASE_CAPITALIZE);
    return 0;
  }
  if (!strcmp(m, "title")) {
    *out = mg_tmpl_run_str_case(s, CASE_TITLE);
    return 0;
  }
  if (!strcmp(m, "swapcase")) {
    *out = mg_tmpl_run_str_case(s, CASE_SWAP);
    return 0;
  }
  if (!strcmp(m, "split") || !strcmp(m, "rsplit")) {
    struct mg_pv *sep = mg_tmpl_run_arg(a, 0, "sep"),
                 *ms = mg_tmpl_run_arg(a, 1, "maxsplit");
    long long maxsplit = -1;

    if (sep && sep->type == MG_PV_NONE)
      sep = NULL;
    if (sep && mg_tmpl_run_need_str(r, n, sep, "separator") < 0)
      return -1;
    if (sep && sep->u.str.len == 0)
      return mg_tmpl_run_rerr(r, n, "empty separator");
    if (ms && mg_tmpl_run_need_int(r, n, ms, "maxsplit", &maxsplit) < 0)
      return -1;
    if (m[0] == 'r' && maxsplit >= 0)
      return mg_tmpl_run_rerr(r, n, "rsplit with maxsplit is not supported");
    *out = mg_tmpl_run_str_split(s, sep, (long)maxsplit);
    return 0;
  }
  if (!strcmp(m, "splitlines")) {
    struct mg_pv *l = mg_pv_list();
    const char *p = s->u.str.s;
    size_t i = 0, start = 0, len = s->u.str.len;

    while (i < len) {
      if (p[i] == '\n' || p[i] == '\r') {
        mg_pv_list_append(l, mg_pv_strn(p + start, i - start));
        if (p[i] == '\r' && i + 1 < len && p[i + 1] == '\n')
          i++;
        start = ++i;
      } else {
        i++;
      }
    }
    if (start < len)
      mg_pv_list_append(l, mg_pv_strn(p + start, len - start));
    *out = l;
    return 0;
  }
  if (!strcmp(m, "replace")) {
    long long count = -1;

    if (mg_tmpl_run_need_str(r, n, a0, "replace arg 1") < 0
        || mg_tmpl_run_need_str(r, n, a1, "replace arg 2") < 0)
      return -1;
    if (mg_tmpl_run_arg(a, 2, "count")
        && mg_tmpl_run_need_int(r, n, mg_tmpl_run_arg(a, 2, "count"), "count",
                                &count)
               < 0)
      return -1;
    *out = mg_tmpl_run_str_replace(s, a0, a1, (long)count);
    return 0;
  }
  if (!strcmp(m, "startswith") || !strcmp(m, "endswith")) {
    int hit = 0;
    const struct mg_pv *cands = a0;
    size_t nc = a0 && a0->type == MG_PV_LIST ? a0->u.list.n : 1;

    for (size_t i = 0; i < nc; i++) {
      const struct mg_pv *c =
          a0 && a0->type == MG_PV_LIST ? cands->u.list.v[i] : a0;

      if (mg_tmpl_run_need_str(r, n, c, m) < 0)
        return -1;
      if (c->u.str.len <= s->u.str.len
          && memcmp(m[0] == 's' ? s->u.str.s
                                : s->u.str.s + s->u.str.len - c->u.str.len,
                    c->u.str.s, c->u.str.len)
                 == 0)
        hit = 1;
    }
    *out = mg_pv_bool(hit);
    return 0;
  }
  if (!strcmp(m, "find") || !strcmp(m, "index") || !strcmp(m, "rfind")
      || !strcmp(m, "rindex") || !strcmp(m, "count")) {
    const char *hit = NULL;

    if (mg_tmpl_run_need_str(r, n, a0, m) < 0)
      return -1;
    if (a->npos > 1)
      return mg_tmpl_run_rerr(
          r, n, "start/end arguments of str.%s are not supported", m);
    if (!strcmp(m, "count")) {
      long long c = 0;
      size_t i = 0;

      if (a0->u.str.len == 0) {
        *out = mg_pv_int((long long)mg_pv_len(s) + 1);
        return 0;
      }
      while ((hit = memfind(s->u.str.s + i, s->u.str.len - i, a0->u.str.s,
                            a0->u.str.len))) {
        c++;
        i = (size_t)(hit - s->u.str.s) + a0->u.str.len;
      }
      *out = mg_pv_int(c);
      return 0;
    }
    if (m[0] == 'r') {
      for (size_t i = s->u.str.len + 1; i-- > 0;)
        if (i + a0->u.str.len <= s->u.str.len
            && memcmp(s->u.str.s + i, a0->u.str.s, a0->u.str.len) == 0) {
          hit = s->u.str.s + i;
          break;
        }
    } else {
      hit = memfind(s->u.str.s, s->u.str.len, a0->u.str.s, a0->u.str.len);
    }
    if (!hit) {
      if (strstr(m, "index"))
        return mg_tmpl_run_rerr(r, n, "substring not found");
      *out = mg_pv_int(-1);
      return 0;
    }
    *out = mg_pv_int(
        (long long)byte_to_cp(s->u.str.s, (size_t)(hit - s->u.str.s)));
    return 0;
  }
  if (!strcmp(m, "join")) {
    struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
    struct mg_pv *items;

    if (!a0)
      return mg_tmpl_run_rerr(r, n, "join() takes exactly one argument");
    if (mg_tmpl_run_iter_items(r, n, a0, &items) < 0)
      return -1;
    for (size_t i = 0; i < items->u.list.n; i++) {
      if (items->u.list.v[i]->type != MG_PV_STR) {
        mg_buf_release(&b);
        mg_tmpl_run_rerr(r, n,
                         "sequence item %zu: expected str instance, %s found",
                         i, mg_pv_type_name(items->u.list.v[i]));
        mg_pv_unref(items);
        return -1;
      }
      if (i)
        mg_buf_add(&b, s->u.str.s, s->u.str.len, NULL);
      mg_buf_add(&b, items->u.list.v[i]->u.str.s, items->u.list.v[i]->u.str.len,
                 NULL);
    }
    mg_pv_unref(items);
    *out = mg_pv_str_buf(&b);
    return 0;
  }
  if (!strcmp(m, "format"))
    return str_format(r, n, s, a, out);
  if (!strcmp(m, "zfill")) {
    struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
    size_t len = mg_pv_len(s), off = 0;

    if (mg_tmpl_run_need_int(r, n, a0, "width", &k) < 0)
      return -1;
    if (s->u.str.len && (s->u.str.s[0] == '-' || s->u.str.s[0] == '+')) {
      mg_buf_addch(&b, s->u.str.s[0], NULL);
      off = 1;
    }
    for (long long i = (long long)len; i < k; i++)
      mg_buf_addch(&b, '0', NULL);
    mg_buf_add(&b, s->u.str.s + off, s->u.str.len - off, NULL);
    *out = mg_pv_str_buf(&b);
    return 0;
  }
  {
    static const struct {
      const char *name;
      int kind;
    } preds[] = { { "isdigit", 'd' },   { "isdecimal", 'D' },
                  { "isnumeric", 'n' }, { "isalpha", 'a' },
                  { "isalnum", 'A' },   { "isspace", 's' },
                  { "isupper", 'u' },   { "islower", 'l' } };

    for (size_t i = 0; i < sizeof(preds) / sizeof(*preds); i++)
      if (!strcmp(m, preds[i].name)) {
        *out = mg_pv_bool(str_is(s, preds[i].kind));
        return 0;
      }
  }
  return mg_tmpl_run_rerr(r, n, "'str object' has no attribute '%s'", m);
}

int mg_tmpl_run_call_method(struct rctx *r, const struct node *n,
                            const struct mg_pv *obj, const char *m,
                            const struct args *a, struct mg_pv **out)
{
  struct mg_pv *a0 = mg_tmpl_run_arg(a, 0, NULL);

  if (obj->type == MG_PV_STR)
    return call_str_method(r, n, obj, m, a, out);
  if (obj->type == MG_PV_LIST) {
    if (!strcmp(m, "index") || !strcmp(m, "count")) {
      long long c = 0;

      if (!a0)
        return mg_tmpl_run_rerr(r, n, "list.%s() takes exactly one argument",
                                m);
      for (size_t i = 0; i < obj->u.list.n; i++)
        if (mg_pv_equal(obj->u.list.v[i], a0)) {
          if (m[0] == 'i') {
            *out = mg_pv_int((long long)i);
            return 0;
          }
          c++;
        }
      if (m[0] == 'i') {
        struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
        int rc;

        mg_pv_repr(&b, a0);
        rc = mg_tmpl_run_rerr(r, n, "%s is not in list", b.data);
        mg_buf_release(&b);
        return rc;
      }
      *out = mg_pv_int(c);
      return 0;
    }
  }
  if (obj->type == MG_PV_DICT) {
    if (!strcmp(m, "keys") || !strcmp(m, "values") || !strcmp(m, "items")) {
      struct mg_pv *l = mg_pv_list();

      for (size_t i = 0; i < obj->u.dict.n; i++) {
        if (m[0] == 'k') {
          mg_pv_list_append(l, mg_pv_ref(obj->u.dict.k[i]));
        } else if (m[0] == 'v') {
          mg_pv_list_append(l, mg_pv_ref(obj->u.dict.v[i]));
        } else {
          struct mg_pv *t = mg_pv_tuple();

          mg_pv_list_append(t, mg_pv_ref(obj->u.dict.k[i]));
          mg_pv_list_append(t, mg_pv_ref(obj->u.dict.v[i]));
          mg_pv_list_append(l, t);
        }
      }
      *out = l;
      return 0;
    }
    if (!strcmp(m, "get")) {
      struct mg_pv *v = a0 ? mg_pv_dict_getv(obj, a0) : NULL;
      struct mg_pv *def = mg_tmpl_run_arg(a, 1, "default");

      *out = v ? mg_pv_ref(v) : def ? mg_pv_ref(def) : mg_pv_none();
      return 0;
    }
  }
  return mg_tmpl_run_rerr(r, n, "'%s' has no attribute '%s'", obj_name(obj), m);
}

static int call_global(struct rctx *r, const struct node *n, const char *name,
                       const struct args *a, struct mg_pv **out)
{
  if (!strcmp(name, "range")) {
    long long start = 0, stop = 0, step = 1;
    struct mg_pv *l;

    if (a->npos == 1) {
      if (mg_tmpl_run_need_int(r, n, a->pos[0], "range()", &stop) < 0)
        return -1;
    } else if (a->npos == 2 || a->npos == 3) {
      if (mg_tmpl_run_need_int(r, n, a->pos[0], "range()", &start) < 0
          || mg_tmpl_run_need_int(r, n, a->pos[1], "range()", &stop) < 0
          || (a->npos == 3
              && mg_tmpl_run_need_int(r, n, a->pos[2], "range()", &step) < 0))
        return -1;
    } else {
      return mg_tmpl_run_rerr(r, n, "range expected 1 to 3 arguments");
    }
    if (step == 0)
      return mg_tmpl_run_rerr(r, n, "range() arg 3 must not be zero");
    if ((stop - start) / step > 100000)
      return mg_tmpl_run_rerr(r, n, "range too big");
    l = mg_pv_list();
    for (long long i = start; step > 0 ? i < stop : i > stop; i += step)
      mg_pv_list_append(l, mg_pv_int(i));
    *out = l;
    return 0;
  }
  if (!strcmp(name, "dict")) {
    struct mg_pv *d = mg_pv_dict();

    for (size_t i = 0; i < a->nkw; i++)
      mg_pv_dict_sets(d, a->kwn[i], mg_pv_ref(a->kwv[i]));
    *out = d;
    return 0;
  }
  if (!strcmp(name, "namespace")) {
    /* a mutable object for {% set ns.x = ... %} across scopes */
    struct mg_pv *d = mg_pv_dict();

    if (a->npos > 1 || (a->npos == 1 && a->pos[0]->type != MG_PV_DICT)) {
      mg_pv_unref(d);
      return mg_tmpl_run_rerr(r, n,
                              "namespace() takes keyword arguments or a dict");
    }
    for (size_t i = 0; a->npos == 1 && i < a->pos[0]->u.dict.n; i++)
      mg_pv_dict_set(d, mg_pv_ref(a->pos[0]->u.dict.k[i]),
                     mg_pv_ref(a->pos[0]->u.dict.v[i]));
    for (size_t i = 0; i < a->nkw; i++)
      mg_pv_dict_sets(d, a->kwn[i], mg_pv_ref(a->kwv[i]));
    r->ns = mg_xreallocarray(r->ns, r->nns + 1, sizeof(*r->ns));
    r->ns[r->nns++] = mg_pv_ref(d);
    *out = d;
    return 0;
  }
  if ((r->t->flags & MG_TMPL_HF_GLOBALS) && !strcmp(name, "raise_exception")) {
    struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
    int rc;

    if (a->npos)
      mg_pv_to_str(&b, a->pos[0]);
    mg_buf_addch(&b, '\0', NULL);
    rc = mg_tmpl_run_rerr(r, n, "raise_exception: %s", b.data);
    mg_buf_release(&b);
    return rc;
  }
  if ((r->t->flags & MG_TMPL_HF_GLOBALS) && !strcmp(name, "strftime_now")) {
    char buf[256];
    time_t now = time(NULL);
    struct tm tm;
    size_t k;

    if (a->npos != 1 || a->pos[0]->type != MG_PV_STR)
      return mg_tmpl_run_rerr(r, n, "strftime_now() takes a format string");
    if (!localtime_r(&now, &tm))
      return mg_tmpl_run_rerr(r, n, "strftime_now(): no local time");
      /* the template supplies the format, as transformers' global does */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    k = strftime(buf, sizeof(buf), a->pos[0]->u.str.s, &tm);
#pragma GCC diagnostic pop
    *out = mg_pv_strn(buf, k);
    return 0;
  }
  return mg_tmpl_run_rerr(r, n, "'%s' is undefined", name);
}

/* --- tests --- */

int mg_tmpl_run_test(struct rctx *r, const struct node *n, const char *t,
                     struct mg_pv *v, const struct args *a, int *out)
{
  struct mg_pv *a0 = mg_tmpl_run_arg(a, 0, NULL);

  if (!strcmp(t, "defined") || !strcmp(t, "undefined")) {
    *out = (t[0] == 'd') == !mg_tmpl_run_is_undef(v);
    return 0;
  }
  if (mg_tmpl_run_defined(r, n, mg_pv_ref(v)) < 0)
    return -1;
  mg_pv_unref(v);
  if (!strcmp(t, "none"))
    *out = v->type == MG_PV_NONE;
  else if (!strcmp(t, "number"))
    *out = mg_pv_is_number(v);
  else if (!strcmp(t, "integer"))
    *out = v->type == MG_PV_INT;
  else if (!strcmp(t, "float"))
    *out = v->type == MG_PV_FLOAT;
  else if (!strcmp(t, "string"))
    *out = v->type == MG_PV_STR;
  else if (!strcmp(t, "mapping"))
    *out = v->type == MG_PV_DICT;
  else if (!strcmp(t, "sequence") || !strcmp(t, "iterable"))
    *out =
        v->type == MG_PV_STR || v->type == MG_PV_LIST || v->type == MG_PV_DICT;
  else if (!strcmp(t, "boolean"))
    *out = v->type == MG_PV_BOOL;
  else if (!strcmp(t, "true"))
    *out = v->type == MG_PV_BOOL && v->u.b;
  else if (!strcmp(t, "false"))
    *out = v->type == MG_PV_BOOL && !v->u.b;
  else if (!strcmp(t, "odd") || !strcmp(t, "even")) {
    long long x;

    if (mg_tmpl_run_need_int(r, n, v, t, &x) < 0)
      return -1;
    *out = (x % 2 != 0) == (t[0] == 'o');
  } else if (!strcmp(t, "divisibleby")) {
    long long x, y;

    if (mg_tmpl_run_need_int(r, n, v, t, &x) < 0
        || mg_tmpl_run_need_int(r, n, a0, t, &y) < 0)
      return -1;
    if (y == 0)
      return mg_tmpl_run_rerr(r, n, "integer division or modulo by zero");
    *out = x % y == 0;
  } else if (!strcmp(t, "eq") || !strcmp(t, "equalto") || !strcmp(t, "==")
             || !strcmp(t, "sameas")) {
    *out = a0 && mg_pv_equal(v, a0);
  } else if (!strcmp(t, "ne") || !strcmp(t, "!=")) {
    *out = !(a0 && mg_pv_equal(v, a0));
  } else if (!strcmp(t, "lt") || !strcmp(t, "<") || !strcmp(t, "le")
             || !strcmp(t, "<=") || !strcmp(t, "gt") || !strcmp(t, ">")
             || !strcmp(t, "ge") || !strcmp(t, ">=")) {
    int c;

    if (!a0)
      return mg_tmpl_run_rerr(r, n, "test '%s' needs an argument", t);
    if (mg_tmpl_run_compare(r, n, v, a0, &c) < 0)
      return -1;
    if (t[0] == 'l' || t[0] == '<')
      *out = (t[1] == 'e' || t[1] == '=') ? c <= 0 : c < 0;
    else
      *out = (t[1] == 'e' || t[1] == '=') ? c >= 0 : c > 0;
  } else if (!strcmp(t, "in")) {
    if (!a0)
      return mg_tmpl_run_rerr(r, n, "test 'in' needs an argument");
    return contains(r, n, v, a0, out);
  } else {
    return mg_tmpl_run_rerr(r, n, "no test named '%s'", t);
  }
  return 0;
}

/* --- expression evaluation --- */

static int ev_call(struct rctx *r, const struct node *n, struct mg_pv **out)
{
  const struct node *callee = n->k[0];
  struct args a;
  int rc;

  if (callee->kind == N_ATTR) {
    struct mg_pv *obj;

    if (mg_tmpl_run_evd(r, callee->k[0], &obj) < 0)
      return -1;
    if (eval_args(r, n, 1, &a) < 0) {
      mg_pv_unref(obj);
      return -1;
    }
    rc = mg_tmpl_run_call_method(r, n, obj, callee->name, &a, out);
    args_release(&a);
    mg_pv_unref(obj);
    return rc;
  }
  if (callee->kind == N_NAME && !lookup(r, callee->name)) {
    if (eval_args(r, n, 1, &a) < 0)
      return -1;
    rc = call_global(r, n, callee->name, &a, out);
    args_release(&a);
    return rc;
  }
  return mg_tmpl_run_rerr(r, n, "object is not callable");
}

static int ev(struct rctx *r, const struct node *n, struct mg_pv **out)
{
  struct mg_pv *a = NULL, *b = NULL;
  int rc = 0;

  *out = NULL;
  if (++r->depth > MAX_DEPTH) {
    r->depth--;
    return mg_tmpl_run_rerr(r, n, "expression nested too deeply");
  }
  switch (n->kind) {
  case N_LIT:
    *out = mg_pv_ref(n->lit);
    break;
  case N_NAME: {
    struct mg_pv *v = lookup(r, n->name);

    *out =
        v ? mg_pv_ref(v) : mg_tmpl_run_mk_undef("'%s' is undefined", n->name);
    break;
  }
  case N_ATTR:
    if ((rc = mg_tmpl_run_evd(r, n->k[0], &a)) < 0)
      break;
    if (a->type == MG_PV_DICT) {
      struct mg_pv *v = mg_pv_dict_get(a, n->name);

      *out = v ? mg_pv_ref(v)
               : mg_tmpl_run_mk_undef("'dict object' has no attribute '%s'",
                                      n->name);
    } else {
      *out = mg_tmpl_run_mk_undef("'%s' has no attribute '%s'", obj_name(a),
                                  n->name);
    }
    break;
  case N_ITEM:
    if ((rc = mg_tmpl_run_evd(r, n->k[0], &a)) < 0
        || (rc = mg_tmpl_run_evd(r, n->k[1], &b)) < 0)
      break;
    *out = mg_tmpl_run_get_item(a, b);
    break;
  case N_SLICE: {
    struct mg_pv *p[3] = { NULL, NULL, NULL };

    if ((rc = mg_tmpl_run_evd(r, n->k[0], &a)) < 0)
      break;
    for (int j = 0; j < 3 && rc == 0; j++)
      if (n->k[j + 1])
        rc = mg_tmpl_run_evd(r, n->k[j + 1], &p[j]);
    if (rc == 0)
      rc = do_slice(r, n, a, p[0], p[1], p[2], out);
    for (int j = 0; j < 3; j++)
      mg_pv_unref(p[j]);
    break;
  }
  case N_CALL:
    rc = ev_call(r, n, out);
    break;
  case N_FILTER: {
    struct args args;

    if ((rc = ev(r, n->k[0], &a)) < 0)
      break;
    if ((rc = eval_args(r, n, 1, &args)) < 0)
      break;
    rc = mg_tmpl_filter_apply(r, n, n->name, a, &args, out);
    args_release(&args);
    break;
  }
  case N_TEST: {
    struct args args;
    int res = 0;

    if ((rc = ev(r, n->k[0], &a)) < 0)
      break;
    if ((rc = eval_args(r, n, 1, &args)) < 0)
      break;
    rc = mg_tmpl_run_test(r, n, n->name, a, &args, &res);
    args_release(&args);
    if (rc == 0)
      *out = mg_pv_bool(n->negate ? !res : res);
    break;
  }
  case N_NEG:
  case N_POS:
    if ((rc = mg_tmpl_run_evd(r, n->k[0], &a)) < 0)
      break;
    if (a->type == MG_PV_INT || a->type == MG_PV_BOOL) {
      long long x = a->type == MG_PV_INT ? a->u.i : a->u.b;

      *out = mg_pv_int(n->kind == N_NEG ? -x : x);
    } else if (a->type == MG_PV_FLOAT) {
      *out = mg_pv_float(n->kind == N_NEG ? -a->u.f : a->u.f);
    } else {
      rc = mg_tmpl_run_rerr(r, n, "bad operand type for unary %c: '%s'",
                            n->kind == N_NEG ? '-' : '+', mg_pv_type_name(a));
    }
    break;
  case N_NOT: {
    int t;

    if ((rc = ev_truth(r, n->k[0], &t)) < 0)
      break;
    *out = mg_pv_bool(!t);
    break;
  }
  case N_AND:
  case N_OR:
    if ((rc = ev(r, n->k[0], &a)) < 0)
      break;
    if (!(mg_tmpl_run_is_undef(a) && r->lenient)
        && (rc = mg_tmpl_run_defined(r, n->k[0], a)) < 0) {
      a = NULL;
      break;
    }
    if ((n->kind == N_AND) != (mg_tmpl_run_is_undef(a) ? 0 : mg_pv_truthy(a))) {
      *out = a;
      a = NULL;
      break;
    }
    rc = ev(r, n->k[1], out);
    break;
  case N_BIN:
    if (n->op == OP_CONCAT && r->lenient) {
      /* "~" converts with str(): an undefined operand gives "" */
      if ((rc = ev(r, n->k[0], &a)) < 0 || (rc = ev(r, n->k[1], &b)) < 0)
        break;
      if (mg_tmpl_run_is_undef(a)) {
        mg_pv_unref(a);
        a = mg_pv_str("");
      }
      if (mg_tmpl_run_is_undef(b)) {
        mg_pv_unref(b);
        b = mg_pv_str("");
      }
    } else if ((rc = mg_tmpl_run_evd(r, n->k[0], &a)) < 0
               || (rc = mg_tmpl_run_evd(r, n->k[1], &b)) < 0) {
      break;
    }
    rc = mg_tmpl_run_arith(r, n, n->op, a, b, out);
    break;
  case N_CMP: {
    int ok = 1;

    if ((rc = ev(r, n->k[0], &a)) < 0)
      break;
    if (!(mg_tmpl_run_is_undef(a) && r->lenient)
        && (rc = mg_tmpl_run_defined(r, n->k[0], a)) < 0) {
      a = NULL;
      break;
    }
    for (size_t i = 1; i < n->nk && ok; i++) {
      int c = 0, res = 0;

      if ((rc = ev(r, n->k[i], &b)) < 0)
        break;
      if (!(mg_tmpl_run_is_undef(b) && r->lenient)
          && (rc = mg_tmpl_run_defined(r, n->k[i], b)) < 0) {
        b = NULL;
        break;
      }
      if ((mg_tmpl_run_is_undef(a) || mg_tmpl_run_is_undef(b))
          && (n->ops[i] == C_EQ || n->ops[i] == C_NE)) {
        /* jinja2.Undefined equals only another Undefined */
        res = mg_tmpl_run_is_undef(a) == mg_tmpl_run_is_undef(b);
        if (n->ops[i] == C_NE)
          res = !res;
        ok = res;
        mg_pv_unref(a);
        a = b;
        b = NULL;
        continue;
      }
      if (mg_tmpl_run_is_undef(a) || mg_tmpl_run_is_undef(b)) {
        rc = mg_tmpl_run_defined(r, n,
                                 mg_pv_ref(mg_tmpl_run_is_undef(a) ? a : b));
        break;
      }
      switch (n->ops[i]) {
      case C_EQ:
        res = mg_pv_equal(a, b);
        break;
      case C_NE:
        res = !mg_pv_equal(a, b);
        break;
      case C_IN:
      case C_NOTIN:
        rc = contains(r, n, a, b, &res);
        if (n->ops[i] == C_NOTIN)
          res = !res;
        break;
      default:
        rc = mg_tmpl_run_compare(r, n, a, b, &c);
        res = n->ops[i] == C_LT   ? c < 0
              : n->ops[i] == C_LE ? c <= 0
              : n->ops[i] == C_GT ? c > 0
                                  : c >= 0;
      }
      if (rc < 0)
        break;
      ok = res;
      mg_pv_unref(a);
      a = b;
      b = NULL;
    }
    if (rc == 0)
      *out = mg_pv_bool(ok);
    break;
  }
  case N_COND: {
    int t;

    if ((rc = ev_truth(r, n->k[1], &t)) < 0)
      break;
    if (t)
      rc = ev(r, n->k[0], out);
    else if (n->k[2])
      rc = ev(r, n->k[2], out);
    else
      *out = mg_tmpl_run_mk_undef(
          "the inline if-expression evaluated to false and no "
          "else section was defined");
    break;
  }
  case N_LIST: {
    struct mg_pv *l = n->op ? mg_pv_tuple() : mg_pv_list();

    for (size_t i = 0; i < n->nk; i++) {
      struct mg_pv *v;

      if ((rc = mg_tmpl_run_evd(r, n->k[i], &v)) < 0)
        break;
      mg_pv_list_append(l, v);
    }
    if (rc < 0)
      mg_pv_unref(l);
    else
      *out = l;
    break;
  }
  case N_DICT: {
    struct mg_pv *d = mg_pv_dict();

    for (size_t i = 0; i + 1 < n->nk; i += 2) {
      struct mg_pv *k, *v;

      if ((rc = mg_tmpl_run_evd(r, n->k[i], &k)) < 0)
        break;
      if ((rc = mg_tmpl_run_evd(r, n->k[i + 1], &v)) < 0) {
        mg_pv_unref(k);
        break;
      }
      mg_pv_dict_set(d, k, v);
    }
    if (rc < 0)
      mg_pv_unref(d);
    else
      *out = d;
    break;
  }
  default:
    rc = mg_tmpl_run_rerr(r, n, "not an expression");
  }
  mg_pv_unref(a);
  mg_pv_unref(b);
  r->depth--;
  if (rc < 0) {
    mg_pv_unref(*out);
    *out = NULL;
  }
  return rc;
}

static int render_for(struct rctx *r, const struct node *n, struct mg_buf *out)
{
  struct mg_pv *it, *items, *kept;
  int rc = 0;
  size_t len;

  if (ev(r, n->k[0], &it) < 0)
    return -1;
  if (mg_tmpl_run_is_undef(it) && r->lenient) {
    mg_pv_unref(it);
    it = mg_pv_list();
  }
  if (mg_tmpl_run_defined(r, n->k[0], it) < 0)
    return -1;
  if (mg_tmpl_run_iter_items(r, n->k[0], it, &items) < 0) {
    mg_pv_unref(it);
    return -1;
  }
  mg_pv_unref(it);
  /* the loop filter ("for x in y if c") runs before loop.* is known */
  kept = mg_pv_list();
  for (size_t i = 0; i < items->u.list.n; i++) {
    struct mg_pv *x = items->u.list.v[i];

    if (n->k[3]) {
      struct mg_pv *c;
      int keep;

      push_frame(r);
      mg_pv_dict_sets(r->frames[r->nframes - 1], n->targets[0], mg_pv_ref(x));
      rc = mg_tmpl_run_evd(r, n->k[3], &c);
      pop_frame(r);
      if (rc < 0)
        break;
      keep = mg_pv_truthy(c);
      mg_pv_unref(c);
      if (!keep)
        continue;
    }
    mg_pv_list_append(kept, mg_pv_ref(x));
  }
  mg_pv_unref(items);
  if (rc < 0) {
    mg_pv_unref(kept);
    return -1;
  }
  len = kept->u.list.n;
  for (size_t i = 0; i < len && rc == 0; i++) {
    struct mg_pv *x = kept->u.list.v[i], *loop = mg_pv_dict(), *frame;

    push_frame(r);
    frame = r->frames[r->nframes - 1];
    if (n->ntargets == 1) {
      mg_pv_dict_sets(frame, n->targets[0], mg_pv_ref(x));
    } else {
      struct mg_pv *parts;

      if (mg_tmpl_run_iter_items(r, n, x, &parts) < 0) {
        mg_pv_unref(loop);
        pop_frame(r);
        rc = -1;
        break;
      }
      if (parts->u.list.n != n->ntargets) {
        rc = mg_tmpl_run_rerr(
            r, n, "cannot unpack %zu values into %zu loop variables",
            parts->u.list.n, n->ntargets);
        mg_pv_unref(parts);
        mg_pv_unref(loop);
        pop_frame(r);
        break;
      }
      for (size_t t = 0; t < n->ntargets; t++)
        mg_pv_dict_sets(frame, n->targets[t], mg_pv_ref(parts->u.list.v[t]));
      mg_pv_unref(parts);
    }
    mg_pv_dict_sets(loop, "index", mg_pv_int((long long)i + 1));
    mg_pv_dict_sets(loop, "index0", mg_pv_int((long long)i));
    mg_pv_dict_sets(loop, "revindex", mg_pv_int((long long)(len - i)));
    mg_pv_dict_sets(loop, "revindex0", mg_pv_int((long long)(len - i - 1)));
    mg_pv_dict_sets(loop, "first", mg_pv_bool(i == 0));
    mg_pv_dict_sets(loop, "last", mg_pv_bool(i + 1 == len));
    mg_pv_dict_sets(loop, "length", mg_pv_int((long long)len));
    mg_pv_dict_sets(loop, "previtem",
                    i ? mg_pv_ref(kept->u.list.v[i - 1])
                      : mg_tmpl_run_mk_undef("there is no previous item"));
    mg_pv_dict_sets(loop, "nextitem",
                    i + 1 < len
                        ? mg_pv_ref(kept->u.list.v[i + 1])
                        : mg_tmpl_run_mk_undef("there is no next item"));
    mg_pv_dict_sets(frame, "loop", loop);
    rc = mg_tmpl_run_render_body(r, n->k[1], out);
    pop_frame(r);
    if (rc == R_CONTINUE) {
      rc = 0;
    } else if (rc == R_BREAK) {
      rc = 0;
      break;
    }
  }
  if (rc == 0 && len == 0 && n->k[2])
    rc = mg_tmpl_run_render_body(r, n->k[2], out);
  mg_pv_unref(kept);
  return rc;
}

static struct mg_pv **find_ns(struct rctx *r, const struct mg_pv *v)
{
  for (size_t i = 0; i < r->nns; i++)
    if (r->ns[i] == v)
      return &r->ns[i];
  return NULL;
}

/* 0, -1, or R_BREAK / R_CONTINUE from a loop control inside */
int mg_tmpl_run_render_body(struct rctx *r, const struct node *body,
                            struct mg_buf *out)
{
  for (size_t i = 0; i < body->nk; i++) {
    const struct node *n = body->k[i];
    struct mg_pv *v;
    int rc;

    switch (n->kind) {
    case N_TEXT:
      mg_buf_add(out, n->lit->u.str.s, n->lit->u.str.len, NULL);
      break;
    case N_OUT:
      if (ev(r, n->k[0], &v) < 0)
        return -1;
      if (mg_tmpl_run_is_undef(v) && r->lenient) {
        mg_pv_unref(v);
        break;
      }
      if (mg_tmpl_run_defined(r, n->k[0], v) < 0)
        return -1;
      mg_pv_to_str(out, v);
      mg_pv_unref(v);
      break;
    case N_BODY:
      rc = mg_tmpl_run_render_body(r, n, out);
      if (rc)
        return rc;
      break;
    case N_BREAK:
      return R_BREAK;
    case N_CONTINUE:
      return R_CONTINUE;
    case N_IF: {
      size_t j = 0;
      int done = 0;

      while (j + 1 < n->nk && !n->kw[j + 1] && !done) {
        int t;

        if (ev_truth(r, n->k[j], &t) < 0)
          return -1;
        if (t) {
          rc = mg_tmpl_run_render_body(r, n->k[j + 1], out);
          if (rc)
            return rc;
          done = 1;
        }
        j += 2;
      }
      if (!done && j < n->nk && n->kw[j] && strcmp(n->kw[j], "else") == 0) {
        rc = mg_tmpl_run_render_body(r, n->k[j], out);
        if (rc)
          return rc;
      }
      break;
    }
    case N_FOR:
      if (render_for(r, n, out) < 0)
        return -1;
      break;
    case N_SET:
      if (mg_tmpl_run_evd(r, n->k[0], &v) < 0)
        return -1;
      if (n->ntargets) {
        struct mg_pv *obj = lookup(r, n->name);

        if (!obj || !find_ns(r, obj)) {
          mg_pv_unref(v);
          return mg_tmpl_run_rerr(
              r, n, "cannot assign attribute on non-namespace object");
        }
        mg_pv_dict_sets(obj, n->targets[0], v);
        break;
      }
      mg_pv_dict_sets(r->frames[r->nframes - 1], n->name, v);
      break;
    default:
      return mg_tmpl_run_rerr(r, n, "bad template node");
    }
  }
  return 0;
}

void mg_tmpl_run_rctx_init(struct rctx *r, const struct mg_tmpl *t,
                           const struct mg_pv *vars, struct mg_err *err)
{
  memset(r, 0, sizeof(*r));
  r->t = t;
  r->err = err;
  r->lenient = (t->flags & MG_TMPL_LENIENT) != 0;
  push_frame(r);
  if (vars && vars->type == MG_PV_DICT) {
    /* the bottom frame shares the caller's values */
    mg_pv_unref(r->frames[0]);
    r->frames[0] = mg_pv_ref((struct mg_pv *)vars);
  }
  push_frame(r); /* top-level {% set %} goes here, not into vars */
}

void mg_tmpl_run_rctx_release(struct rctx *r)
{
  while (r->nframes)
    pop_frame(r);
  free(r->frames);
  for (size_t i = 0; i < r->nns; i++)
    mg_pv_unref(r->ns[i]);
  free(r->ns);
}
