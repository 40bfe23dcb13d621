/*
 * The template filters.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/mg_eval_int.h"
#include "mg_buf.h"
#include "mg_err.h"
#include "mg_mem.h"
#include "py/mg_pv.h"
#include "py/mg_regex.h"

/* --- filters --- */

static int to_int_filter(const struct mg_pv *v, const struct mg_pv *def,
                         struct mg_pv **out)
{
  switch (v->type) {
  case MG_PV_INT:
    *out = mg_pv_ref((struct mg_pv *)v);
    return 0;
  case MG_PV_BOOL:
    *out = mg_pv_int(v->u.b);
    return 0;
  case MG_PV_FLOAT:
    *out = mg_pv_int((long long)v->u.f);
    return 0;
  case MG_PV_STR: {
    char *end;
    long long i;
    double d;
    struct mg_pv *st = mg_tmpl_run_str_strip(v, NULL, 1, 1);

    i = strtoll(st->u.str.s, &end, 10);
    if (st->u.str.len && !*end) {
      mg_pv_unref(st);
      *out = mg_pv_int(i);
      return 0;
    }
    d = strtod(st->u.str.s, &end);
    if (st->u.str.len && !*end && isfinite(d)) {
      mg_pv_unref(st);
      *out = mg_pv_int((long long)d);
      return 0;
    }
    mg_pv_unref(st);
    break;
  }
  default:
    break;
  }
  *out = def ? mg_pv_ref((struct mg_pv *)def) : mg_pv_int(0);
  return 0;
}

/* A copy of v with every dict's keys sorted (json.dumps sort_keys). */
static struct mg_pv *sorted_keys(const struct mg_pv *v)
{
  struct mg_pv *c;

  if (v->type == MG_PV_LIST) {
    c = v->u.list.tuple ? mg_pv_tuple() : mg_pv_list();
    for (size_t i = 0; i < v->u.list.n; i++)
      mg_pv_list_append(c, sorted_keys(v->u.list.v[i]));
    return c;
  }
  if (v->type != MG_PV_DICT)
    return mg_pv_ref((struct mg_pv *)v);
  c = mg_pv_dict();
  {
    size_t n = v->u.dict.n, *ix = mg_xreallocarray(NULL, n + 1, sizeof(size_t));

    for (size_t i = 0; i < n; i++)
      ix[i] = i;
    /* insertion sort on the keys' UTF-8 bytes (= code point order) */
    for (size_t i = 1; i < n; i++) {
      size_t x = ix[i], j = i;

      while (j > 0) {
        const struct mg_pv *ka = v->u.dict.k[ix[j - 1]], *kb = v->u.dict.k[x];
        const char *sa = mg_pv_cstr(ka), *sb = mg_pv_cstr(kb);
        size_t la = sa ? ka->u.str.len : 0, lb = sb ? kb->u.str.len : 0;
        int cmp = memcmp(sa ? sa : "", sb ? sb : "", la < lb ? la : lb);

        if (cmp < 0 || (cmp == 0 && la <= lb))
          break;
        ix[j] = ix[j - 1];
        j--;
      }
      ix[j] = x;
    }
    for (size_t i = 0; i < n; i++)
      mg_pv_dict_set(c, mg_pv_ref(v->u.dict.k[ix[i]]),
                     sorted_keys(v->u.dict.v[ix[i]]));
    free(ix);
  }
  return c;
}

/*
 * tojson. transformers: json.dumps(x, ensure_ascii=False, indent=indent,
 * separators=None, sort_keys=sort_keys). Jinja's own: htmlsafe_json_dumps
 * (sort_keys, ensure_ascii, then <, >, & and ' as \u escapes).
 */
static int filter_tojson(struct rctx *r, const struct node *n,
                         const struct mg_pv *v, const struct args *a,
                         struct mg_pv **out)
{
  int hf = (r->t->flags & MG_TMPL_HF_GLOBALS) != 0;
  struct mg_pv *ind = mg_tmpl_run_arg(a, 0, "indent"),
               *sk = mg_tmpl_run_arg(a, (size_t)-1, "sort_keys");
  struct mg_pv *sep = mg_tmpl_run_arg(a, (size_t)-1, "separators");
  struct mg_pv *ea = mg_tmpl_run_arg(a, (size_t)-1, "ensure_ascii");
  struct mg_pv *x;
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED),
                o = MG_BUF_INIT(MG_BUF_UNLIMITED);
  int indent = -1, sort = hf ? 0 : 1, ascii = hf ? 0 : 1;

  if (ind && ind->type != MG_PV_NONE) {
    if (ind->type != MG_PV_INT || ind->u.i < 0 || ind->u.i > 64)
      return mg_tmpl_run_rerr(r, n, "tojson: indent must be a small integer");
    indent = (int)ind->u.i;
  }
  if (sep && sep->type != MG_PV_NONE)
    return mg_tmpl_run_rerr(r, n, "tojson: separators are not supported");
  if (sk)
    sort = mg_pv_truthy(sk);
  if (ea)
    ascii = mg_pv_truthy(ea);
  x = sort ? sorted_keys(v) : mg_pv_ref((struct mg_pv *)v);
  mg_pv_dumps(&b, x, indent);
  mg_pv_unref(x);
  for (size_t i = 0; i < b.len;) {
    unsigned char c = (unsigned char)b.data[i];

    if (c >= 0x80 && ascii) {
      size_t j = i;
      int32_t cp = mg_pv_utf8_next(b.data, b.len, &j);

      if (cp >= 0x10000) {
        cp -= 0x10000;
        mg_buf_printf(&o, NULL, "\\u%04x\\u%04x", 0xD800 + (cp >> 10),
                      0xDC00 + (cp & 0x3FF));
      } else {
        mg_buf_printf(&o, NULL, "\\u%04x", cp);
      }
      i = j;
      continue;
    }
    if (!hf && (c == '<' || c == '>' || c == '&' || c == '\''))
      mg_buf_printf(&o, NULL, "\\u%04x", c);
    else
      mg_buf_addch(&o, (char)c, NULL);
    i++;
  }
  mg_buf_release(&b);
  *out = mg_pv_str_buf(&o);
  return 0;
}

/* selectattr / rejectattr: items whose attribute passes a test (or is
 * true when no test is named). */
static int filter_selectattr(struct rctx *r, const struct node *n,
                             const struct mg_pv *v, const struct args *a,
                             int reject, struct mg_pv **out)
{
  struct mg_pv *attr = mg_tmpl_run_arg(a, 0, NULL), *items, *l;
  struct mg_pv *test = a->npos > 1 ? a->pos[1] : NULL;
  struct args sub;

  if (!attr || attr->type != MG_PV_STR)
    return mg_tmpl_run_rerr(r, n, "%s needs an attribute name",
                            reject ? "rejectattr" : "selectattr");
  if (test && test->type != MG_PV_STR)
    return mg_tmpl_run_rerr(r, n, "%s: the test must be named by a string",
                            reject ? "rejectattr" : "selectattr");
  memset(&sub, 0, sizeof(sub));
  for (size_t i = 2; i < a->npos; i++)
    sub.pos[sub.npos++] = a->pos[i];
  if (mg_tmpl_run_iter_items(r, n, v, &items) < 0)
    return -1;
  l = mg_pv_list();
  for (size_t i = 0; i < items->u.list.n; i++) {
    struct mg_pv *x = mg_tmpl_run_get_item(items->u.list.v[i], attr);
    int ok;

    if (test) {
      if (mg_tmpl_run_test(r, n, test->u.str.s, x, &sub, &ok) < 0) {
        mg_pv_unref(x);
        mg_pv_unref(items);
        mg_pv_unref(l);
        return -1;
      }
    } else {
      ok = !mg_tmpl_run_is_undef(x) && mg_pv_truthy(x);
    }
    mg_pv_unref(x);
    if (ok != reject)
      mg_pv_list_append(l, mg_pv_ref(items->u.list.v[i]));
  }
  mg_pv_unref(items);
  *out = l;
  return 0;
}

static int f_default(struct rctx *r, const struct node *n, const char *f,
                     struct mg_pv *v, const struct args *a, struct mg_pv **out)
{
  struct mg_pv *def = mg_tmpl_run_arg(a, 0, "default_value");
  struct mg_pv *boolean = mg_tmpl_run_arg(a, 1, "boolean");

  (void)r;
  (void)n;
  (void)f;

  if (mg_tmpl_run_is_undef(v)
      || (boolean && mg_pv_truthy(boolean) && !mg_pv_truthy(v)))
    *out = def ? mg_pv_ref(def) : mg_pv_str("");
  else
    *out = mg_pv_ref(v);
  return 0;
}

static int f_string(struct rctx *r, const struct node *n, const char *f,
                    struct mg_pv *v, const struct args *a, struct mg_pv **out)
{
  (void)r;
  (void)n;
  (void)f;
  (void)a;

  *out = mg_tmpl_run_to_str_pv(v);
  return 0;
}

static int f_trim(struct rctx *r, const struct node *n, const char *f,
                  struct mg_pv *v, const struct args *a, struct mg_pv **out)
{
  struct mg_pv *a0 = mg_tmpl_run_arg(a, 0, NULL);
  struct mg_pv *s = mg_tmpl_run_to_str_pv(v);

  (void)r;
  (void)n;
  (void)f;

  *out =
      mg_tmpl_run_str_strip(s, a0 && a0->type == MG_PV_STR ? a0 : NULL, 1, 1);
  mg_pv_unref(s);
  return 0;
}

static int f_case(struct rctx *r, const struct node *n, const char *f,
                  struct mg_pv *v, const struct args *a, struct mg_pv **out)
{
  struct mg_pv *s = mg_tmpl_run_to_str_pv(v);

  (void)r;
  (void)n;
  (void)a;

  *out = mg_tmpl_run_str_case(s, f[0] == 'l'   ? CASE_LOWER
                                 : f[0] == 'u' ? CASE_UPPER
                                 : f[0] == 'c' ? CASE_CAPITALIZE
                                               : CASE_TITLE);
  mg_pv_unref(s);
  return 0;
}

static int f_replace(struct rctx *r, const struct node *n, const char *f,
                     struct mg_pv *v, const struct args *a, struct mg_pv **out)
{
  struct mg_pv *a0 = mg_tmpl_run_arg(a, 0, NULL);

  (void)f;

  struct mg_pv *s = mg_tmpl_run_to_str_pv(v),
               *c = mg_tmpl_run_arg(a, 2, "count");
  long long count = -1;

  if (mg_tmpl_run_need_str(r, n, a0, "replace old") < 0
      || mg_tmpl_run_need_str(r, n, mg_tmpl_run_arg(a, 1, NULL), "replace new")
             < 0
      || (c && c->type != MG_PV_NONE
          && mg_tmpl_run_need_int(r, n, c, "count", &count) < 0)) {
    mg_pv_unref(s);
    return -1;
  }
  *out =
      mg_tmpl_run_str_replace(s, a0, mg_tmpl_run_arg(a, 1, NULL), (long)count);
  mg_pv_unref(s);
  return 0;
}

static int f_regex_replace(struct rctx *r, const struct node *n, const char *f,
                           struct mg_pv *v, const struct args *a,
                           struct mg_pv **out)
{
  (void)f;

  struct mg_pv *s = mg_tmpl_run_to_str_pv(v),
               *c = mg_tmpl_run_arg(a, 2, "count");
  struct mg_regex *re;
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  long long count = 0;
  int rc;

  if (mg_tmpl_run_need_str(r, n, mg_tmpl_run_arg(a, 0, "pattern"), "pattern")
          < 0
      || mg_tmpl_run_need_str(r, n, mg_tmpl_run_arg(a, 1, "repl"), "repl") < 0
      || (c && mg_tmpl_run_need_int(r, n, c, "count", &count) < 0)) {
    mg_pv_unref(s);
    return -1;
  }
  if (mg_regex_compile(mg_tmpl_run_arg(a, 0, "pattern")->u.str.s, &re, r->err)
      < 0) {
    mg_pv_unref(s);
    return -1;
  }
  rc = mg_regex_sub(re, mg_tmpl_run_arg(a, 1, "repl")->u.str.s, s->u.str.s,
                    s->u.str.len, (long)count, &b, r->err);
  mg_regex_free(re);
  mg_pv_unref(s);
  if (rc < 0) {
    mg_buf_release(&b);
    return -1;
  }
  *out = mg_pv_str_buf(&b);
  return 0;
}

static int f_length(struct rctx *r, const struct node *n, const char *f,
                    struct mg_pv *v, const struct args *a, struct mg_pv **out)
{
  (void)f;
  (void)a;

  if (v->type != MG_PV_STR && v->type != MG_PV_LIST && v->type != MG_PV_DICT)
    return mg_tmpl_run_rerr(r, n, "object of type '%s' has no len()",
                            mg_pv_type_name(v));
  *out = mg_pv_int((long long)mg_pv_len(v));
  return 0;
}

static int f_wordcount(struct rctx *r, const struct node *n, const char *f,
                       struct mg_pv *v, const struct args *a,
                       struct mg_pv **out)
{
  (void)r;
  (void)n;
  (void)f;
  (void)a;

  struct mg_pv *s = mg_tmpl_run_to_str_pv(v),
               *l = mg_tmpl_run_str_split(s, NULL, -1);

  *out = mg_pv_int((long long)l->u.list.n);
  mg_pv_unref(l);
  mg_pv_unref(s);
  return 0;
}

static int f_first_last(struct rctx *r, const struct node *n, const char *f,
                        struct mg_pv *v, const struct args *a,
                        struct mg_pv **out)
{
  struct mg_pv *items;
  size_t cnt;

  (void)a;

  if (mg_tmpl_run_iter_items(r, n, v, &items) < 0)
    return -1;
  cnt = items->u.list.n;
  if (cnt == 0)
    *out = mg_tmpl_run_mk_undef("No %s item, sequence was empty.", f);
  else
    *out = mg_pv_ref(items->u.list.v[f[0] == 'f' ? 0 : cnt - 1]);
  mg_pv_unref(items);
  return 0;
}

static int f_int(struct rctx *r, const struct node *n, const char *f,
                 struct mg_pv *v, const struct args *a, struct mg_pv **out)
{
  (void)r;
  (void)n;
  (void)f;

  return to_int_filter(v, mg_tmpl_run_arg(a, 0, "default"), out);
}

static int f_float(struct rctx *r, const struct node *n, const char *f,
                   struct mg_pv *v, const struct args *a, struct mg_pv **out)
{
  struct mg_pv *def = mg_tmpl_run_arg(a, 0, "default");

  (void)r;
  (void)n;
  (void)f;

  if (mg_pv_is_number(v)) {
    *out = mg_pv_float(mg_pv_num(v));
  } else if (v->type == MG_PV_STR) {
    char *end;
    double d = strtod(v->u.str.s, &end);

    *out = v->u.str.len && !*end ? mg_pv_float(d)
           : def                 ? mg_pv_ref(def)
                                 : mg_pv_float(0);
  } else {
    *out = def ? mg_pv_ref(def) : mg_pv_float(0);
  }
  return 0;
}

static int f_abs(struct rctx *r, const struct node *n, const char *f,
                 struct mg_pv *v, const struct args *a, struct mg_pv **out)
{
  (void)f;
  (void)a;
  if (v->type == MG_PV_INT || v->type == MG_PV_BOOL)
    *out = mg_pv_int(llabs(v->type == MG_PV_INT ? v->u.i : v->u.b));
  else if (v->type == MG_PV_FLOAT)
    *out = mg_pv_float(fabs(v->u.f));
  else
    return mg_tmpl_run_rerr(r, n, "bad operand type for abs(): '%s'",
                            mg_pv_type_name(v));
  return 0;
}

static int f_round(struct rctx *r, const struct node *n, const char *f,
                   struct mg_pv *v, const struct args *a, struct mg_pv **out)
{
  long long prec = 0;
  double x, m;

  (void)f;

  if (mg_tmpl_run_arg(a, 0, "precision")
      && mg_tmpl_run_need_int(r, n, mg_tmpl_run_arg(a, 0, "precision"),
                              "precision", &prec)
             < 0)
    return -1;
  if (!mg_pv_is_number(v))
    return mg_tmpl_run_rerr(r, n, "round needs a number");
  m = pow(10.0, (double)prec);
  x = mg_pv_num(v) * m;
  /* Jinja's 'common' method is Python's round(): half to even */
  *out = mg_pv_float(rint(x) / m);
  return 0;
}

static int f_join(struct rctx *r, const struct node *n, const char *f,
                  struct mg_pv *v, const struct args *a, struct mg_pv **out)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

  (void)f;

  struct mg_pv *items, *sep = mg_tmpl_run_arg(a, 0, "d"),
                       *attr = mg_tmpl_run_arg(a, 1, "attribute");

  if (mg_tmpl_run_iter_items(r, n, v, &items) < 0)
    return -1;
  for (size_t i = 0; i < items->u.list.n; i++) {
    const struct mg_pv *it = items->u.list.v[i];

    if (i && sep)
      mg_pv_to_str(&b, sep);
    if (attr) {
      struct mg_pv *g = mg_tmpl_run_get_item(it, attr);

      if (mg_tmpl_run_defined(r, n, g) < 0) {
        mg_buf_release(&b);
        mg_pv_unref(items);
        return -1;
      }
      mg_pv_to_str(&b, g);
      mg_pv_unref(g);
    } else {
      mg_pv_to_str(&b, it);
    }
  }
  mg_pv_unref(items);
  *out = mg_pv_str_buf(&b);
  return 0;
}

static int f_list(struct rctx *r, const struct node *n, const char *f,
                  struct mg_pv *v, const struct args *a, struct mg_pv **out)
{
  struct mg_pv *items;

  (void)f;
  (void)a;

  if (mg_tmpl_run_iter_items(r, n, v, &items) < 0)
    return -1;
  *out = mg_pv_list();
  for (size_t i = 0; i < items->u.list.n; i++)
    mg_pv_list_append(*out, mg_pv_ref(items->u.list.v[i]));
  mg_pv_unref(items);
  return 0;
}

static int f_reverse(struct rctx *r, const struct node *n, const char *f,
                     struct mg_pv *v, const struct args *a, struct mg_pv **out)
{
  (void)f;
  (void)a;

  if (v->type == MG_PV_STR) {
    struct mg_pv *items, *rev;
    struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

    if (mg_tmpl_run_iter_items(r, n, v, &items) < 0)
      return -1;
    for (size_t i = items->u.list.n; i-- > 0;)
      mg_pv_to_str(&b, items->u.list.v[i]);
    mg_pv_unref(items);
    rev = mg_pv_str_buf(&b);
    *out = rev;
    return 0;
  } else {
    struct mg_pv *items, *l = mg_pv_list();

    if (mg_tmpl_run_iter_items(r, n, v, &items) < 0) {
      mg_pv_unref(l);
      return -1;
    }
    for (size_t i = items->u.list.n; i-- > 0;)
      mg_pv_list_append(l, mg_pv_ref(items->u.list.v[i]));
    mg_pv_unref(items);
    *out = l;
    return 0;
  }
}

static int f_sort_unique(struct rctx *r, const struct node *n, const char *f,
                         struct mg_pv *v, const struct args *a,
                         struct mg_pv **out)
{
  struct mg_pv *items, *l;
  int rev = mg_tmpl_run_arg(a, 0, "reverse")
            && mg_pv_truthy(mg_tmpl_run_arg(a, 0, "reverse"));

  if (mg_tmpl_run_iter_items(r, n, v, &items) < 0)
    return -1;
  l = mg_pv_copy(items);
  mg_pv_unref(items);
  if (f[0] == 'u') {
    struct mg_pv *u = mg_pv_list();

    for (size_t i = 0; i < l->u.list.n; i++) {
      int seen = 0;

      for (size_t j = 0; j < u->u.list.n; j++)
        if (mg_pv_equal(u->u.list.v[j], l->u.list.v[i]))
          seen = 1;
      if (!seen)
        mg_pv_list_append(u, mg_pv_ref(l->u.list.v[i]));
    }
    mg_pv_unref(l);
    *out = u;
    return 0;
  }
  /* insertion sort: stable, like Python's */
  for (size_t i = 1; i < l->u.list.n; i++) {
    struct mg_pv *x = l->u.list.v[i];
    size_t j = i;

    while (j > 0) {
      int c;

      if (mg_tmpl_run_compare(r, n, l->u.list.v[j - 1], x, &c) < 0) {
        mg_pv_unref(l);
        return -1;
      }
      if (rev ? c >= 0 : c <= 0)
        break;
      l->u.list.v[j] = l->u.list.v[j - 1];
      j--;
    }
    l->u.list.v[j] = x;
  }
  *out = l;
  return 0;
}

static int f_sum(struct rctx *r, const struct node *n, const char *f,
                 struct mg_pv *v, const struct args *a, struct mg_pv **out)
{
  struct mg_pv *items, *acc = mg_pv_int(0);

  (void)f;
  (void)a;

  if (mg_tmpl_run_iter_items(r, n, v, &items) < 0) {
    mg_pv_unref(acc);
    return -1;
  }
  for (size_t i = 0; i < items->u.list.n; i++) {
    struct mg_pv *nx;

    if (mg_tmpl_run_arith(r, n, OP_ADD, acc, items->u.list.v[i], &nx) < 0) {
      mg_pv_unref(acc);
      mg_pv_unref(items);
      return -1;
    }
    mg_pv_unref(acc);
    acc = nx;
  }
  mg_pv_unref(items);
  *out = acc;
  return 0;
}

static int f_items(struct rctx *r, const struct node *n, const char *f,
                   struct mg_pv *v, const struct args *a, struct mg_pv **out)
{
  struct args none;

  (void)f;
  (void)a;
  memset(&none, 0, sizeof(none));
  if (v->type != MG_PV_DICT)
    return mg_tmpl_run_rerr(r, n, "items filter needs a mapping");
  return mg_tmpl_run_call_method(r, n, v, "items", &none, out);
}

static int f_map(struct rctx *r, const struct node *n, const char *f,
                 struct mg_pv *v, const struct args *a, struct mg_pv **out)
{
  struct mg_pv *a0 = mg_tmpl_run_arg(a, 0, NULL);

  (void)f;

  struct mg_pv *attr = mg_tmpl_run_arg(a, (size_t)-1, "attribute"), *items, *l;

  if (!attr && a0 && a0->type == MG_PV_STR) {
    /* map('filter') */
    struct args sub;

    memset(&sub, 0, sizeof(sub));
    for (size_t i = 1; i < a->npos; i++)
      sub.pos[sub.npos++] = a->pos[i];
    if (mg_tmpl_run_iter_items(r, n, v, &items) < 0)
      return -1;
    l = mg_pv_list();
    for (size_t i = 0; i < items->u.list.n; i++) {
      struct mg_pv *o;

      if (mg_tmpl_filter_apply(r, n, a0->u.str.s, items->u.list.v[i], &sub, &o)
          < 0) {
        mg_pv_unref(items);
        mg_pv_unref(l);
        return -1;
      }
      mg_pv_list_append(l, o);
    }
    mg_pv_unref(items);
    *out = l;
    return 0;
  }
  if (!attr)
    return mg_tmpl_run_rerr(r, n, "map needs attribute= or a filter name");
  if (mg_tmpl_run_iter_items(r, n, v, &items) < 0)
    return -1;
  l = mg_pv_list();
  for (size_t i = 0; i < items->u.list.n; i++)
    mg_pv_list_append(l, mg_tmpl_run_get_item(items->u.list.v[i], attr));
  mg_pv_unref(items);
  *out = l;
  return 0;
}

static int f_tojson(struct rctx *r, const struct node *n, const char *f,
                    struct mg_pv *v, const struct args *a, struct mg_pv **out)
{
  (void)f;
  return filter_tojson(r, n, v, a, out);
}

static int f_selectattr(struct rctx *r, const struct node *n, const char *f,
                        struct mg_pv *v, const struct args *a,
                        struct mg_pv **out)
{
  return filter_selectattr(r, n, v, a, f[0] == 'r', out);
}

/* What an undefined value is to a filter in lenient mode (jinja2.Undefined):
 * an empty string, 0, an empty list, an error, or the value itself. */
enum undef_as { U_EMPTY_STR, U_ZERO, U_LIST, U_ERROR, U_VALUE };

/* The filters, sorted by name (bsearch). fn gets a defined value unless
 * undef is U_VALUE; v is borrowed. */
static const struct filter {
  const char *name;
  int (*fn)(struct rctx *r, const struct node *n, const char *f,
            struct mg_pv *v, const struct args *a, struct mg_pv **out);
  enum undef_as undef;
} filters[] = {
  { "abs", f_abs, U_EMPTY_STR },
  { "capitalize", f_case, U_EMPTY_STR },
  { "count", f_length, U_ZERO },
  { "d", f_default, U_VALUE },
  { "default", f_default, U_VALUE },
  { "first", f_first_last, U_EMPTY_STR },
  { "float", f_float, U_EMPTY_STR },
  { "int", f_int, U_EMPTY_STR },
  { "items", f_items, U_EMPTY_STR },
  { "join", f_join, U_EMPTY_STR },
  { "last", f_first_last, U_EMPTY_STR },
  { "length", f_length, U_ZERO },
  { "list", f_list, U_LIST },
  { "lower", f_case, U_EMPTY_STR },
  { "map", f_map, U_LIST },
  { "regex_replace", f_regex_replace, U_EMPTY_STR },
  { "rejectattr", f_selectattr, U_LIST },
  { "replace", f_replace, U_EMPTY_STR },
  { "reverse", f_reverse, U_EMPTY_STR },
  { "round", f_round, U_EMPTY_STR },
  { "selectattr", f_selectattr, U_LIST },
  { "sort", f_sort_unique, U_EMPTY_STR },
  { "string", f_string, U_EMPTY_STR },
  { "sum", f_sum, U_EMPTY_STR },
  { "title", f_case, U_EMPTY_STR },
  { "tojson", f_tojson, U_ERROR },
  { "trim", f_trim, U_EMPTY_STR },
  { "unique", f_sort_unique, U_EMPTY_STR },
  { "upper", f_case, U_EMPTY_STR },
  { "wordcount", f_wordcount, U_EMPTY_STR },
};

static int cmp_filter(const void *key, const void *elem)
{
  return strcmp(key, ((const struct filter *)elem)->name);
}

/* A defined value into fl (unknown: after the defined check, an error). */
static int call(struct rctx *r, const struct node *n, const struct filter *fl,
                const char *f, struct mg_pv *v, const struct args *a,
                struct mg_pv **out)
{
  if (!fl || fl->undef != U_VALUE) {
    if (mg_tmpl_run_defined(r, n, mg_pv_ref(v)) < 0)
      return -1;
    mg_pv_unref(v);
  }
  if (!fl)
    return mg_tmpl_run_rerr(r, n, "no filter named '%s'", f);
  return fl->fn(r, n, f, v, a, out);
}

/* v is borrowed. */
int mg_tmpl_filter_apply(struct rctx *r, const struct node *n, const char *f,
                         struct mg_pv *v, const struct args *a,
                         struct mg_pv **out)
{
  const struct filter *fl =
      bsearch(f, filters, sizeof(filters) / sizeof(*filters), sizeof(*filters),
              cmp_filter);
  enum undef_as u = fl ? fl->undef : U_EMPTY_STR;

  if (mg_tmpl_run_is_undef(v) && r->lenient && u != U_VALUE) {
    struct mg_pv *e;
    int rc;

    switch (u) {
    case U_ZERO:
      *out = mg_pv_int(0);
      return 0;
    case U_LIST:
      *out = mg_pv_list();
      return 0;
    case U_ERROR:
      return mg_tmpl_run_defined(r, n, mg_pv_ref(v));
    default:
      e = mg_pv_str("");
      rc = call(r, n, fl, f, e, a, out);
      mg_pv_unref(e);
      return rc;
    }
  }
  return call(r, n, fl, f, v, a, out);
}
