/*
 * lm-eval's make_table, as pytablewriter's Markdown writer renders it.
 */
#include "eval/mg_eval_table.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mg_buf.h"
#include "mg_mem.h"
#include "py/mg_pv.h"

#define NCOL 9

enum ctype { C_NULL = 1, C_INT = 2, C_REAL = 4, C_STR = 8 };

struct cell {
  enum ctype type;
  char *text; /* strings as they are; numbers as decimal digits */
  int dp;     /* numbers: decimal places as written (integers: 0) */
};

struct table {
  struct cell *c; /* rows * NCOL */
  size_t rows, cap;
};

static int is_blank(const char *s)
{
  for (; *s; s++)
    if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
      return 0;
  return 1;
}

/* A decimal number without exponent: [-+]digits[.digits]. Sets *dp, and
 * *integral when every decimal is 0. */
static int parse_decimal(const char *s, int *dp, int *integral)
{
  const char *p = s;
  int digits = 0;

  if (*p == '-' || *p == '+')
    p++;
  while (*p >= '0' && *p <= '9') {
    p++;
    digits++;
  }
  *dp = 0;
  *integral = 1;
  if (*p == '.') {
    p++;
    while (*p >= '0' && *p <= '9') {
      if (*p != '0')
        *integral = 0;
      p++;
      (*dp)++;
    }
  }
  return digits > 0 && *p == '\0';
}

/* The digits of an integral decimal string ("-0.0000" -> "0"). */
static char *integer_text(const char *s)
{
  const char *dot = strchr(s, '.');
  size_t n = dot ? (size_t)(dot - s) : strlen(s);
  char *t = mg_xstrndup(s, n);

  if (t[0] == '+')
    memmove(t, t + 1, n);
  if (!strcmp(t, "-0"))
    memmove(t, t + 1, 2);
  return t;
}

static void set_cell(struct cell *c, const struct mg_pv *v)
{
  int dp, integral;
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

  if (!v || v->type == MG_PV_NONE) {
    /* pytablewriter writes None as an empty cell */
    c->type = C_NULL;
    c->text = mg_xstrdup("");
    return;
  }
  if (v->type == MG_PV_INT) {
    mg_buf_printf(&b, NULL, "%lld", v->u.i);
    c->type = C_INT;
    c->text = mg_buf_detach(&b, NULL);
    return;
  }
  if (v->type == MG_PV_FLOAT) {
    mg_pv_float_repr(&b, v->u.f);
  } else if (v->type == MG_PV_STR) {
    mg_buf_add(&b, v->u.str.s, v->u.str.len, NULL);
  } else {
    mg_pv_to_str(&b, v);
  }
  c->text = mg_buf_detach(&b, NULL);
  if (!c->text)
    c->text = mg_xstrdup("");
  if (is_blank(c->text)) {
    c->type = C_NULL;
  } else if (parse_decimal(c->text, &dp, &integral)) {
    if (integral) {
      char *t = integer_text(c->text);

      free(c->text);
      c->text = t;
      c->type = C_INT;
      c->dp = 0;
    } else {
      c->type = C_REAL;
      c->dp = dp;
    }
  } else {
    c->type = C_STR;
  }
}

static struct cell *new_row(struct table *t)
{
  struct cell *r;

  if (t->rows == t->cap) {
    t->cap = t->cap ? 2 * t->cap : 16;
    t->c = mg_xreallocarray(t->c, t->cap * NCOL, sizeof(*t->c));
  }
  r = &t->c[t->rows++ * NCOL];
  memset(r, 0, NCOL * sizeof(*r));
  return r;
}

static void put_str(struct cell *c, const char *s)
{
  struct mg_pv *v = mg_pv_str(s);

  set_cell(c, v);
  mg_pv_unref(v);
}

/* "%.4f" % v for floats; other values as they are */
static void put_value(struct cell *c, const struct mg_pv *v)
{
  if (v && v->type == MG_PV_FLOAT) {
    char tmp[64];
    struct mg_pv *s;

    (void)snprintf(tmp, sizeof(tmp), "%.4f", v->u.f);
    s = mg_pv_str(tmp);
    set_cell(c, s);
    mg_pv_unref(s);
  } else {
    set_cell(c, v);
  }
}

static int cmp_keys(const void *a, const void *b)
{
  const struct mg_pv *x = *(struct mg_pv *const *)a;
  const struct mg_pv *y = *(struct mg_pv *const *)b;
  size_t n = x->u.str.len < y->u.str.len ? x->u.str.len : y->u.str.len;
  int c = memcmp(x->u.str.s, y->u.str.s, n);

  /* Python str order over UTF-8 bytes is code point order */
  if (c)
    return c;
  return x->u.str.len < y->u.str.len ? -1 : x->u.str.len > y->u.str.len;
}

/* The rows of one entry k of result_dict[column] (make_table's loop). */
static void entry_rows(struct table *t, const struct mg_pv *root,
                       const struct mg_pv *name, const struct mg_pv *dic)
{
  const struct mg_pv *version =
      mg_pv_dict_getv(mg_pv_dict_get(root, "versions"), name);
  const struct mg_pv *nshot =
      mg_pv_dict_getv(mg_pv_dict_get(root, "n-shot"), name);
  const struct mg_pv *hib_d =
      mg_pv_dict_getv(mg_pv_dict_get(root, "higher_is_better"), name);
  const struct mg_pv *alias = mg_pv_dict_get(dic, "alias");
  struct mg_pv **keys;
  struct mg_buf nb = MG_BUF_INIT(MG_BUF_UNLIMITED);
  int first = 1;
  size_t nk = 0;

  if (nshot)
    mg_pv_to_str(&nb, nshot);
  else
    mg_buf_addch(&nb, ' ', NULL);
  keys = mg_xcalloc(dic->u.dict.n + 1, sizeof(*keys));
  for (size_t i = 0; i < dic->u.dict.n; i++)
    if (dic->u.dict.k[i]->type == MG_PV_STR
        && strcmp(dic->u.dict.k[i]->u.str.s, "alias"))
      keys[nk++] = dic->u.dict.k[i];
  qsort(keys, nk, sizeof(*keys), cmp_keys);
  for (size_t i = 0; i < nk; i++) {
    const char *mf = keys[i]->u.str.s, *comma = strchr(mf, ',');
    char *m = comma ? mg_xstrndup(mf, (size_t)(comma - mf)) : mg_xstrdup(mf);
    const char *f = comma ? comma + 1 : "";
    size_t ml = strlen(m);
    const struct mg_pv *hv;
    char *sekey;
    const struct mg_pv *se;
    struct cell *r;

    if (ml >= 7 && !strcmp(m + ml - 7, "_stderr")) {
      free(m);
      continue;
    }
    r = new_row(t);
    if (first) {
      if (alias)
        set_cell(&r[0], alias);
      else
        set_cell(&r[0], name);
      if (version)
        set_cell(&r[1], version);
      else
        put_str(&r[1], "    N/A");
    } else {
      put_str(&r[0], "");
      put_str(&r[1], "");
    }
    first = 0;
    put_str(&r[2], f);
    put_str(&r[3], nb.data ? nb.data : " ");
    put_str(&r[4], m);
    hv = mg_pv_dict_get(hib_d, m);
    put_str(&r[5], !hv || hv->type != MG_PV_BOOL ? "" : hv->u.b ? "↑" : "↓");
    put_value(&r[6], mg_pv_dict_getv(dic, keys[i]));
    sekey = mg_xasprintf("%s_stderr,%s", m, f);
    se = mg_pv_dict_get(dic, sekey);
    if (se) {
      const char *s = mg_pv_cstr(se);

      put_str(&r[7], "±");
      if (s && !strcmp(s, "N/A"))
        put_str(&r[8], "   N/A");
      else
        put_value(&r[8], se);
    } else {
      put_str(&r[7], "");
      put_str(&r[8], "");
    }
    free(sekey);
    free(m);
  }
  free(keys);
  mg_buf_release(&nb);
}

/* Rounds the decimal text s to dp places, half to even (Python's
 * "{:.Nf}".format of a Decimal). */
static void round_decimal(const char *s, int dp, struct mg_buf *out)
{
  int neg = *s == '-';
  const char *p = s + (*s == '-' || *s == '+');
  const char *dot = strchr(p, '.');
  size_t ni = dot ? (size_t)(dot - p) : strlen(p);
  const char *frac = dot ? dot + 1 : "";
  size_t nf = strlen(frac), n = ni + (size_t)dp;
  char *d = mg_xcalloc(n + 2, 1); /* one spare digit for the carry */
  int up = 0, nonzero = 0;

  d[0] = '0';
  memcpy(d + 1, p, ni);
  for (int k = 0; k < dp; k++)
    d[1 + ni + k] = (size_t)k < nf ? frac[k] : '0';
  if (nf > (size_t)dp) {
    char first = frac[dp];
    int rest = 0;

    for (size_t k = (size_t)dp + 1; k < nf; k++)
      rest |= frac[k] != '0';
    if (first > '5' || (first == '5' && rest))
      up = 1;
    else if (first == '5')
      up = (d[n] - '0') % 2; /* a tie: to even */
  }
  /* d[0] is a spare '0', so a carry always stops */
  for (size_t k = n; up;) {
    if (d[k] == '9') {
      d[k] = '0';
      k--;
    } else {
      d[k]++;
      up = 0;
    }
  }
  for (size_t k = 0; k <= n; k++)
    nonzero |= d[k] != '0';
  if (neg && nonzero)
    mg_buf_addch(out, '-', NULL);
  {
    size_t start = d[0] == '0' ? 1 : 0;

    if (start == 1 && ni == 0)
      start = 0; /* ".5": keep a leading 0 */
    mg_buf_add(out, d + start, 1 + ni - start, NULL);
  }
  if (dp) {
    mg_buf_addch(out, '.', NULL);
    mg_buf_add(out, d + 1 + ni, (size_t)dp, NULL);
  }
  free(d);
}

static size_t width(const char *s)
{
  size_t w = 0;

  for (; *s; s++)
    w += ((unsigned char)*s & 0xC0) != 0x80;
  return w;
}

static void pad(struct mg_buf *b, size_t n)
{
  for (size_t i = 0; i < n; i++)
    mg_buf_addch(b, ' ', NULL);
}

static void free_table(struct table *t)
{
  for (size_t i = 0; i < t->rows * NCOL; i++)
    free(t->c[i].text);
  free(t->c);
}

int mg_eval_table(const struct mg_pv *result_dict, const char *column,
                  struct mg_buf *out)
{
  const char *headers[NCOL] = { "Tasks",  "Version", "Filter",
                                "n-shot", "Metric",  "",
                                "Value",  "",        "Stderr" };
  const struct mg_pv *entries = mg_pv_dict_get(result_dict, column);
  struct table t = { 0 };
  char **text;
  size_t w[NCOL];
  int ctype[NCOL], cdp[NCOL];

  if (!entries || entries->type != MG_PV_DICT)
    return -1;
  if (!strcmp(column, "groups"))
    headers[0] = "Groups";
  for (size_t i = 0; i < entries->u.dict.n; i++)
    if (entries->u.dict.v[i]->type == MG_PV_DICT)
      entry_rows(&t, result_dict, entries->u.dict.k[i], entries->u.dict.v[i]);
  /* column types and decimal places (DataProperty's ColumnDataProperty) */
  for (int j = 0; j < NCOL; j++) {
    int bits = 0, ndp = 0, maxdp = 0;
    long sum = 0;

    for (size_t i = 0; i < t.rows; i++) {
      const struct cell *c = &t.c[i * NCOL + j];

      bits |= (int)c->type;
      if (c->type == C_INT || c->type == C_REAL) {
        sum += c->dp;
        ndp++;
        if (c->dp > maxdp)
          maxdp = c->dp;
      }
    }
    if (bits & C_STR)
      ctype[j] = C_STR;
    else if (bits & C_REAL)
      ctype[j] = C_REAL;
    else if (bits & C_INT)
      ctype[j] = C_INT;
    else
      ctype[j] = C_NULL;
    cdp[j] = 0;
    if (ndp) {
      double c = ceil((double)sum / ndp + 1.0);

      cdp[j] = c < maxdp ? (int)c : maxdp;
    }
    w[j] = width(headers[j]);
    if (w[j] < 3)
      w[j] = 3;
  }
  /* cell texts and widths */
  text = mg_xcalloc(t.rows * NCOL + 1, sizeof(*text));
  for (size_t i = 0; i < t.rows; i++)
    for (int j = 0; j < NCOL; j++) {
      const struct cell *c = &t.c[i * NCOL + j];
      struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
      size_t cw;

      if (c->type == C_NULL)
        ;
      else if (c->type == C_STR)
        mg_buf_addstr(&b, c->text, NULL);
      else if (ctype[j] == C_REAL || c->type == C_REAL)
        round_decimal(c->text, cdp[j], &b);
      else
        mg_buf_addstr(&b, c->text, NULL);
      text[i * NCOL + j] = b.data ? mg_buf_detach(&b, NULL) : mg_xstrdup("");
      cw = width(text[i * NCOL + j]);
      if (cw > w[j])
        w[j] = cw;
    }
  /* header, separator, rows */
  mg_buf_addch(out, '|', NULL);
  for (int j = 0; j < NCOL; j++) {
    size_t hw = width(headers[j]), extra = w[j] - hw;

    pad(out, extra / 2);
    mg_buf_addstr(out, headers[j], NULL);
    pad(out, extra - extra / 2);
    mg_buf_addch(out, '|', NULL);
  }
  mg_buf_addstr(out, "\n|", NULL);
  for (int j = 0; j < NCOL; j++) {
    int right = ctype[j] == C_INT || ctype[j] == C_REAL;

    for (size_t k = 0; k < w[j] - (size_t)right; k++)
      mg_buf_addch(out, '-', NULL);
    mg_buf_addstr(out, right ? ":|" : "|", NULL);
  }
  mg_buf_addch(out, '\n', NULL);
  for (size_t i = 0; i < t.rows; i++) {
    mg_buf_addch(out, '|', NULL);
    for (int j = 0; j < NCOL; j++) {
      const struct cell *c = &t.c[i * NCOL + j];
      const char *s = text[i * NCOL + j];
      size_t extra = w[j] - width(s);

      if (c->type == C_INT || c->type == C_REAL) {
        pad(out, extra);
        mg_buf_addstr(out, s, NULL);
      } else {
        mg_buf_addstr(out, s, NULL);
        pad(out, extra);
      }
      mg_buf_addch(out, '|', NULL);
    }
    mg_buf_addch(out, '\n', NULL);
  }
  for (size_t i = 0; i < t.rows * NCOL; i++)
    free(text[i]);
  free(text);
  free_table(&t);
  return 0;
}
