#include "eval/mg_bleu.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "mg_mem.h"
#include "py/mg_pv.h"

/* ---- code point strings ---- */

struct cps {
  int32_t *v;
  size_t n, cap;
};

static void cps_add(struct cps *c, int32_t cp)
{
  if (c->n == c->cap) {
    c->cap = c->cap ? 2 * c->cap : 64;
    c->v = mg_xreallocarray(c->v, c->cap, sizeof(*c->v));
  }
  c->v[c->n++] = cp;
}

static void cps_decode(struct cps *c, const char *s, size_t n)
{
  size_t i = 0;

  c->n = 0;
  while (i < n) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i,
                                          (utf8proc_ssize_t)(n - i), &cp);

    if (k <= 0) {
      cp = 0xFFFD;
      k = 1;
    }
    cps_add(c, cp);
    i += (size_t)k;
  }
}

static int at_ascii(const struct cps *c, size_t i, const char *lit)
{
  size_t k = strlen(lit);

  if (i + k > c->n)
    return 0;
  for (size_t j = 0; j < k; j++)
    if (c->v[i + j] != (unsigned char)lit[j])
      return 0;
  return 1;
}

/* Python's str.replace(from, to) for ASCII from/to, into out. */
static void replace_all(const struct cps *in, const char *from, const char *to,
                        struct cps *out)
{
  size_t k = strlen(from);

  out->n = 0;
  for (size_t i = 0; i < in->n;) {
    if (at_ascii(in, i, from)) {
      for (const char *p = to; *p; p++)
        cps_add(out, (unsigned char)*p);
      i += k;
    } else {
      cps_add(out, in->v[i++]);
    }
  }
}

static int is_digit(int32_t c)
{
  return c >= '0' && c <= '9';
}

/* [\{-\~\[-\` -\&\(-\+\:-\@\/] */
static int is_13a_punct(int32_t c)
{
  return (c >= 0x7B && c <= 0x7E) || (c >= 0x5B && c <= 0x60)
         || (c >= 0x20 && c <= 0x26) || (c >= 0x28 && c <= 0x2B)
         || (c >= 0x3A && c <= 0x40) || c == '/';
}

static void swap_cps(struct cps *a, struct cps *b)
{
  struct cps t = *a;

  *a = *b;
  *b = t;
}

/* Tokenizer13a(s.rstrip()) as code points, words separated by one space */
static void tokenize_13a(const char *s, size_t n, struct cps *out)
{
  struct cps a = { 0 }, b = { 0 };
  int has_amp = 0;

  cps_decode(&a, s, n);
  while (a.n && mg_pv_isspace(a.v[a.n - 1]))
    a.n--;
  replace_all(&a, "<skipped>", "", &b);
  replace_all(&b, "-\n", "", &a);
  replace_all(&a, "\n", " ", &b);
  swap_cps(&a, &b);
  for (size_t i = 0; i < a.n; i++)
    if (a.v[i] == '&')
      has_amp = 1;
  if (has_amp) {
    replace_all(&a, "&quot;", "\"", &b);
    replace_all(&b, "&amp;", "&", &a);
    replace_all(&a, "&lt;", "<", &b);
    replace_all(&b, "&gt;", ">", &a);
  }
  /* f' {line} ', then the regular expressions in order */
  b.n = 0;
  cps_add(&b, ' ');
  for (size_t i = 0; i < a.n; i++) {
    if (is_13a_punct(a.v[i])) {
      cps_add(&b, ' ');
      cps_add(&b, a.v[i]);
      cps_add(&b, ' ');
    } else {
      cps_add(&b, a.v[i]);
    }
  }
  cps_add(&b, ' ');
  /* ([^0-9])([\.,]) -> "\1 \2 " */
  a.n = 0;
  for (size_t i = 0; i < b.n;) {
    if (i + 1 < b.n && !is_digit(b.v[i])
        && (b.v[i + 1] == '.' || b.v[i + 1] == ',')) {
      cps_add(&a, b.v[i]);
      cps_add(&a, ' ');
      cps_add(&a, b.v[i + 1]);
      cps_add(&a, ' ');
      i += 2;
    } else {
      cps_add(&a, b.v[i++]);
    }
  }
  /* ([\.,])([^0-9]) -> " \1 \2" */
  b.n = 0;
  for (size_t i = 0; i < a.n;) {
    if (i + 1 < a.n && (a.v[i] == '.' || a.v[i] == ',')
        && !is_digit(a.v[i + 1])) {
      cps_add(&b, ' ');
      cps_add(&b, a.v[i]);
      cps_add(&b, ' ');
      cps_add(&b, a.v[i + 1]);
      i += 2;
    } else {
      cps_add(&b, a.v[i++]);
    }
  }
  /* ([0-9])(-) -> "\1 \2 " */
  a.n = 0;
  for (size_t i = 0; i < b.n;) {
    if (i + 1 < b.n && is_digit(b.v[i]) && b.v[i + 1] == '-') {
      cps_add(&a, b.v[i]);
      cps_add(&a, ' ');
      cps_add(&a, '-');
      cps_add(&a, ' ');
      i += 2;
    } else {
      cps_add(&a, b.v[i++]);
    }
  }
  /* ' '.join(line.split()) */
  out->n = 0;
  for (size_t i = 0; i < a.n;) {
    while (i < a.n && mg_pv_isspace(a.v[i]))
      i++;
    if (i >= a.n)
      break;
    if (out->n)
      cps_add(out, ' ');
    while (i < a.n && !mg_pv_isspace(a.v[i]))
      cps_add(out, a.v[i++]);
  }
  free(a.v);
  free(b.v);
}

char *mg_bleu_tokenize_13a(const char *s, size_t n, size_t *len)
{
  struct cps t = { 0 };
  char *out, *p;

  tokenize_13a(s, n, &t);
  out = mg_xmalloc(4 * t.n + 1);
  p = out;
  for (size_t i = 0; i < t.n; i++)
    p += utf8proc_encode_char(t.v[i], (utf8proc_uint8_t *)p);
  *p = '\0';
  *len = (size_t)(p - out);
  free(t.v);
  return out;
}

/* ---- n-gram counting: sort the n-grams, count equal runs ---- */

struct grams {
  const int32_t *text; /* the symbols */
  const size_t *start; /* symbol i starts at text[start[i]] (words) */
  const size_t *len;   /* and has len[i] code points; NULL: 1 each */
  size_t n;            /* order */
};

static int sym_cmp(const struct grams *g, size_t a, size_t b)
{
  if (!g->len)
    return (g->text[a] > g->text[b]) - (g->text[a] < g->text[b]);
  {
    size_t la = g->len[a], lb = g->len[b], m = la < lb ? la : lb;
    const int32_t *pa = g->text + g->start[a], *pb = g->text + g->start[b];

    for (size_t i = 0; i < m; i++)
      if (pa[i] != pb[i])
        return (pa[i] > pb[i]) - (pa[i] < pb[i]);
    return (la > lb) - (la < lb);
  }
}

/* n-grams beginning at symbols a and b (of g->n symbols each) */
static int gram_cmp(const struct grams *g, size_t a, size_t b)
{
  for (size_t k = 0; k < g->n; k++) {
    int c = sym_cmp(g, a + k, b + k);

    if (c)
      return c;
  }
  return 0;
}

/* Merge sort of idx[0..n) by gram_cmp (stable, no global state). */
static void sort_grams(const struct grams *g, size_t *idx, size_t *tmp,
                       size_t n)
{
  if (n < 2)
    return;
  sort_grams(g, idx, tmp, n / 2);
  sort_grams(g, idx + n / 2, tmp, n - n / 2);
  {
    size_t i = 0, j = n / 2, k = 0;

    while (i < n / 2 && j < n)
      tmp[k++] = gram_cmp(g, idx[j], idx[i]) < 0 ? idx[j++] : idx[i++];
    while (i < n / 2)
      tmp[k++] = idx[i++];
    while (j < n)
      tmp[k++] = idx[j++];
    memcpy(idx, tmp, n * sizeof(*idx));
  }
}

/* Two sequences joined (hyp then ref) so one comparator serves both. */
struct pair_seq {
  struct grams g;
  size_t nh, nr; /* symbols of hyp and ref */
};

/*
 * For order n: the number of hypothesis n-grams, reference n-grams and
 * sum over distinct hypothesis n-grams of min(count in hyp, count in ref).
 */
static void match_order(const struct pair_seq *ps, size_t n, double *hyp,
                        double *ref, double *match)
{
  size_t nh = ps->nh >= n ? ps->nh - n + 1 : 0;
  size_t nr = ps->nr >= n ? ps->nr - n + 1 : 0;
  size_t *ih = mg_xreallocarray(NULL, nh + nr + 1, sizeof(size_t));
  size_t *ir = ih + nh;
  size_t *tmp = mg_xreallocarray(NULL, nh + nr + 1, sizeof(size_t));
  struct grams g = ps->g;
  size_t i = 0, j = 0;
  double m = 0;

  g.n = n;
  for (size_t k = 0; k < nh; k++)
    ih[k] = k;
  for (size_t k = 0; k < nr; k++)
    ir[k] = ps->nh + k;
  sort_grams(&g, ih, tmp, nh);
  sort_grams(&g, ir, tmp, nr);
  while (i < nh && j < nr) {
    int c = gram_cmp(&g, ih[i], ir[j]);
    size_t ci = 1, cj = 1;

    if (c < 0) {
      i++;
      continue;
    }
    if (c > 0) {
      j++;
      continue;
    }
    while (i + ci < nh && !gram_cmp(&g, ih[i], ih[i + ci]))
      ci++;
    while (j + cj < nr && !gram_cmp(&g, ir[j], ir[j + cj]))
      cj++;
    m += (double)(ci < cj ? ci : cj);
    i += ci;
    j += cj;
  }
  *hyp = (double)nh;
  *ref = (double)nr;
  *match = m;
  free(ih);
  free(tmp);
}

/* ---- BLEU ---- */

/* words of a tokenized line: start offsets and lengths */
static size_t split_words(const struct cps *t, size_t base, size_t **start,
                          size_t **len, size_t *cap, size_t have)
{
  size_t n = have;

  for (size_t i = 0; i < t->n;) {
    size_t s = i;

    while (i < t->n && t->v[i] != ' ')
      i++;
    if (n == *cap) {
      *cap = *cap ? 2 * *cap : 64;
      *start = mg_xreallocarray(*start, *cap, sizeof(size_t));
      *len = mg_xreallocarray(*len, *cap, sizeof(size_t));
    }
    (*start)[n] = base + s;
    (*len)[n] = i - s;
    n++;
    i++; /* the single space */
  }
  return n - have;
}

void mg_bleu_segment(const char *hyp, size_t hn, const char *ref, size_t rn,
                     double *stats)
{
  struct cps h = { 0 }, r = { 0 }, all = { 0 };
  size_t *start = NULL, *len = NULL, cap = 0, nh, nr;
  struct pair_seq ps;

  tokenize_13a(hyp, hn, &h);
  tokenize_13a(ref, rn, &r);
  for (size_t i = 0; i < h.n; i++)
    cps_add(&all, h.v[i]);
  for (size_t i = 0; i < r.n; i++)
    cps_add(&all, r.v[i]);
  nh = split_words(&h, 0, &start, &len, &cap, 0);
  nr = split_words(&r, h.n, &start, &len, &cap, nh);
  memset(&ps, 0, sizeof(ps));
  ps.g.text = all.v;
  ps.g.start = start;
  ps.g.len = len;
  ps.nh = nh;
  ps.nr = nr;
  stats[0] = (double)nh;
  stats[1] = (double)nr; /* one reference: the closest length */
  for (size_t n = 1; n <= 4; n++) {
    double dh, dr, m;

    match_order(&ps, n, &dh, &dr, &m);
    stats[1 + n] = m;
    stats[5 + n] = dh;
  }
  free(start);
  free(len);
  free(h.v);
  free(r.v);
  free(all.v);
}

/* sacrebleu's my_log */
static double my_log(double x)
{
  return x == 0.0 ? -9999999999.0 : log(x);
}

double mg_bleu_score(const double *stats)
{
  double sys_len = stats[0], ref_len = stats[1], bp, prec[4] = { 0 };
  double smooth = 1.0, sum = 0;
  int any = 0;

  if (sys_len < ref_len)
    bp = sys_len > 0 ? exp(1 - ref_len / sys_len) : 0.0;
  else
    bp = 1.0;
  for (int n = 0; n < 4; n++)
    if (stats[2 + n] != 0)
      any = 1;
  if (!any)
    return 0.0;
  for (int n = 0; n < 4; n++) {
    double correct = stats[2 + n], total = stats[6 + n];

    if (total == 0)
      break;
    if (correct == 0) {
      /* "exp" smoothing */
      smooth *= 2;
      prec[n] = 100. / (smooth * total);
    } else {
      prec[n] = 100. * correct / total;
    }
  }
  for (int n = 0; n < 4; n++)
    sum += my_log(prec[n]);
  return bp * exp(sum / 4);
}

/* ---- chrF ---- */

/* ''.join(s.split()) as code points */
static void nospace(const char *s, size_t n, struct cps *out)
{
  struct cps t = { 0 };

  cps_decode(&t, s, n);
  out->n = 0;
  for (size_t i = 0; i < t.n; i++)
    if (!mg_pv_isspace(t.v[i]))
      cps_add(out, t.v[i]);
  free(t.v);
}

void mg_bleu_chrf_segment(const char *hyp, size_t hn, const char *ref,
                          size_t rn, double *stats)
{
  struct cps h = { 0 }, r = { 0 };
  struct pair_seq ps;

  nospace(hyp, hn, &h);
  nospace(ref, rn, &r);
  ps.nh = h.n;
  ps.nr = r.n;
  for (size_t i = 0; i < r.n; i++)
    cps_add(&h, r.v[i]);
  memset(&ps.g, 0, sizeof(ps.g));
  ps.g.text = h.v;
  for (size_t n = 1; n <= 6; n++) {
    double dh, dr, m;

    match_order(&ps, n, &dh, &dr, &m);
    /* _get_match_statistics: hypothesis n-grams count only when the
     * reference has n-grams of that order */
    stats[3 * (n - 1)] = dr > 0 ? dh : 0;
    stats[3 * (n - 1) + 1] = dr;
    stats[3 * (n - 1) + 2] = m;
  }
  free(h.v);
  free(r.v);
}

double mg_bleu_chrf_score(const double *stats)
{
  /* _compute_f_score with beta 2, no eps smoothing */
  double factor = 4, avg_prec = 0, avg_rec = 0, score;
  int eff = 0;

  for (int i = 0; i < 6; i++) {
    double nh = stats[3 * i], nr = stats[3 * i + 1], nm = stats[3 * i + 2];

    if (nh > 0 && nr > 0) {
      avg_prec += nm / nh;
      avg_rec += nm / nr;
      eff++;
    }
  }
  if (eff == 0) {
    avg_prec = avg_rec = 0.0;
  } else {
    avg_prec /= eff;
    avg_rec /= eff;
  }
  if (avg_prec + avg_rec == 0)
    return 0.0;
  score = (1 + factor) * avg_prec * avg_rec;
  score /= (factor * avg_prec) + avg_rec;
  return 100 * score;
}

/* ---- TER ---- */

enum {
  TER_MAX_SHIFT_SIZE = 10,
  TER_MAX_SHIFT_DIST = 50,
  TER_BEAM = 25,
  TER_MAX_CANDIDATES = 1000
};

#define TER_INF 10000000000000000LL

static int is_cased(int32_t c)
{
  return utf8proc_islower(c) || utf8proc_isupper(c)
         || utf8proc_category(c) == UTF8PROC_CATEGORY_LT;
}

/* Unicode's Case_Ignorable: Mn, Me, Cf, Lm, Sk and the word-break
 * MidLetter / MidNumLet / Single_Quote characters */
static int is_case_ignorable(int32_t c)
{
  utf8proc_category_t k = utf8proc_category(c);

  return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_ME
         || k == UTF8PROC_CATEGORY_CF || k == UTF8PROC_CATEGORY_LM
         || k == UTF8PROC_CATEGORY_SK || c == '\'' || c == '.' || c == ':'
         || c == 0xB7 || c == 0x387 || c == 0x5F4 || c == 0x2018 || c == 0x2019
         || c == 0x2024 || c == 0x2027 || c == 0xFE13 || c == 0xFE52
         || c == 0xFE55 || c == 0xFF07 || c == 0xFF0E || c == 0xFF1A;
}

/* Python's str.lower(): simple mappings, U+0130 to "i\u0307", and the
 * final sigma rule for U+03A3 */
static void py_lower(const struct cps *in, struct cps *out)
{
  out->n = 0;
  for (size_t i = 0; i < in->n; i++) {
    int32_t c = in->v[i];

    if (c == 0x130) {
      cps_add(out, 'i');
      cps_add(out, 0x307);
    } else if (c == 0x3A3) {
      size_t j = i;
      int fin = 0;

      while (j > 0 && is_case_ignorable(in->v[j - 1]))
        j--;
      fin = j > 0 && is_cased(in->v[j - 1]);
      if (fin) {
        j = i + 1;
        while (j < in->n && is_case_ignorable(in->v[j]))
          j++;
        fin = j == in->n || !is_cased(in->v[j]);
      }
      cps_add(out, fin ? 0x3C2 : 0x3C3);
    } else {
      cps_add(out, utf8proc_tolower(c));
    }
  }
}

/* TercomTokenizer(s.rstrip()).split() as word ids: words equal as
 * strings get equal ids (hyp and ref share the numbering) */
struct ter_words {
  struct cps text;
  size_t *start, *len, n, cap;
};

static void ter_split(const char *s, size_t n, struct ter_words *w)
{
  struct cps raw = { 0 };

  cps_decode(&raw, s, n);
  while (raw.n && mg_pv_isspace(raw.v[raw.n - 1]))
    raw.n--;
  py_lower(&raw, &w->text);
  free(raw.v);
  for (size_t i = 0; i < w->text.n;) {
    size_t b;

    while (i < w->text.n && mg_pv_isspace(w->text.v[i]))
      i++;
    if (i >= w->text.n)
      break;
    b = i;
    while (i < w->text.n && !mg_pv_isspace(w->text.v[i]))
      i++;
    if (w->n == w->cap) {
      w->cap = w->cap ? 2 * w->cap : 32;
      w->start = mg_xreallocarray(w->start, w->cap, sizeof(size_t));
      w->len = mg_xreallocarray(w->len, w->cap, sizeof(size_t));
    }
    w->start[w->n] = b;
    w->len[w->n] = i - b;
    w->n++;
  }
}

static int word_eq(const struct ter_words *a, size_t i,
                   const struct ter_words *b, size_t j)
{
  return a->len[i] == b->len[j]
         && !memcmp(a->text.v + a->start[i], b->text.v + b->start[j],
                    a->len[i] * sizeof(int32_t));
}

struct ter {
  const int *ref;
  size_t nr;
  long long *cost; /* (nh + 1) x (nr + 1) */
  char *op;
  char *trace;
  size_t cap;
};

/*
 * BeamEditDistance.__call__: edit distance of hyp to the reference
 * around the diagonal, and the trace of operations (' ', 's', 'i', 'd')
 * in t->trace (NUL-terminated). Preference on ties: no-op/substitution,
 * deletion, insertion.
 */
static long long beam_ed(struct ter *t, const int *h, size_t nh)
{
  size_t nr = t->nr, w = nr + 1, need = (nh + 1) * w;
  double ratio = nh ? (double)nr / (double)nh : 1;
  long beam = TER_BEAM;
  size_t i, j, k = 0;

  if (need > t->cap) {
    t->cap = need;
    t->cost = mg_xreallocarray(t->cost, need, sizeof(*t->cost));
    t->op = mg_xreallocarray(t->op, need, 1);
  }
  t->trace = mg_xreallocarray(t->trace, nh + nr + 1, 1);
  if (TER_BEAM < ratio / 2)
    beam = (long)ceil(ratio / 2 + TER_BEAM);
  for (j = 0; j < w; j++) {
    t->cost[j] = (long long)j;
    t->op[j] = 'i';
  }
  for (i = 1; i <= nh; i++) {
    long long *row = t->cost + i * w, *prev = row - w;
    char *orow = t->op + i * w;
    long diag = (long)floor((double)i * ratio);
    long lo = diag - beam > 0 ? diag - beam : 0;
    long hi = diag + beam < (long)w ? diag + beam : (long)w;

    if (i == nh)
      hi = (long)w;
    for (j = 0; j < w; j++) {
      row[j] = TER_INF;
      orow[j] = 'x';
    }
    for (long jj = lo; jj < hi; jj++) {
      j = (size_t)jj;
      if (j == 0) {
        row[0] = prev[0] + 1;
        orow[0] = 'd';
        continue;
      }
      {
        int same = h[i - 1] == t->ref[j - 1];
        long long c1 = prev[j - 1] + (same ? 0 : 1), c2 = prev[j] + 1,
                  c3 = row[j - 1] + 1;

        if (row[j] > c1) {
          row[j] = c1;
          orow[j] = same ? ' ' : 's';
        }
        if (row[j] > c2) {
          row[j] = c2;
          orow[j] = 'd';
        }
        if (row[j] > c3) {
          row[j] = c3;
          orow[j] = 'i';
        }
      }
    }
  }
  /* the trace, read backwards from the corner */
  i = nh;
  j = nr;
  while (i > 0 || j > 0) {
    char o = t->op[i * w + j];

    t->trace[k++] = o;
    if (o == ' ' || o == 's') {
      i--;
      j--;
    } else if (o == 'i') {
      j--;
    } else {
      i--;
    }
  }
  for (size_t a = 0, b = k; a + 1 < b; a++, b--) {
    char x = t->trace[a];

    t->trace[a] = t->trace[b - 1];
    t->trace[b - 1] = x;
  }
  t->trace[k] = '\0';
  return t->cost[nh * w + nr];
}

/* Python's words[a:b] appended to out (slices clamp to the list) */
static void take(int *out, size_t *k, const int *words, size_t n, size_t a,
                 size_t b)
{
  if (a > n)
    a = n;
  if (b > n)
    b = n;
  for (size_t i = a; i < b; i++)
    out[(*k)++] = words[i];
}

/* _perform_shift */
static void perform_shift(const int *words, size_t n, size_t start,
                          size_t length, size_t target, int *out)
{
  size_t k = 0;

  if (target < start) {
    take(out, &k, words, n, 0, target);
    take(out, &k, words, n, start, start + length);
    take(out, &k, words, n, target, start);
    take(out, &k, words, n, start + length, n);
  } else if (target > start + length) {
    take(out, &k, words, n, 0, start);
    take(out, &k, words, n, start + length, target);
    take(out, &k, words, n, start, start + length);
    take(out, &k, words, n, target, n);
  } else {
    take(out, &k, words, n, 0, start);
    take(out, &k, words, n, start + length, length + target);
    take(out, &k, words, n, start, start + length);
    take(out, &k, words, n, length + target, n);
  }
}

/*
 * _shift: the best shift of h (its edit-distance gain in *gain, the
 * shifted words in out). Returns 0 when no candidate was found.
 */
static int best_shift(struct ter *t, const int *h, size_t nh, int *out,
                      long long *gain, size_t *checked)
{
  const int *r = t->ref;
  size_t nr = t->nr;
  long long pre = beam_ed(t, h, nh);
  char *trace = mg_xstrdup(t->trace);
  long *align = mg_xcalloc(nr + 1, sizeof(long));
  char *herr = mg_xcalloc(nh + 1, 1), *rerr = mg_xcalloc(nr + 1, 1);
  int *cand = mg_xreallocarray(NULL, nh + 1, sizeof(int));
  long ph = -1, pr = -1;
  int found = 0, stop = 0;
  long long b_gain = 0;
  size_t b_len = 0, b_start = 0, b_idx = 0;

  /* trace_to_alignment of the flipped trace (insertions <-> deletions) */
  for (const char *o = trace; *o; o++) {
    char op = *o == 'i' ? 'd' : *o == 'd' ? 'i' : *o;

    if (op == ' ' || op == 's') {
      ph++;
      pr++;
      align[pr] = ph;
      herr[ph] = op == 's';
      rerr[pr] = op == 's';
    } else if (op == 'i') {
      ph++;
      herr[ph] = 1;
    } else {
      pr++;
      align[pr] = ph;
      rerr[pr] = 1;
    }
  }
  for (size_t sh = 0; sh < nh && !stop; sh++) {
    for (size_t sr = 0; sr < nr && !stop; sr++) {
      size_t length = 0;

      if ((sr > sh ? sr - sh : sh - sr) > TER_MAX_SHIFT_DIST)
        continue;
      while (h[sh + length] == r[sr + length] && length < TER_MAX_SHIFT_SIZE) {
        int any_h = 0, any_r = 0;
        long prev_idx = -1;

        length++;
        /* a candidate (sh, sr, length) */
        for (size_t q = sh; q < sh + length; q++)
          any_h |= herr[q];
        for (size_t q = sr; q < sr + length; q++)
          any_r |= rerr[q];
        if (any_h && any_r
            && !(align[sr] >= (long)sh && align[sr] < (long)(sh + length))) {
          for (long off = -1; off < (long)length; off++) {
            long idx;
            long long g;

            if ((long)sr + off == -1)
              idx = 0;
            else if ((size_t)((long)sr + off) < nr)
              idx = align[(long)sr + off] + 1;
            else
              break;
            if (idx == prev_idx)
              continue;
            prev_idx = idx;
            perform_shift(h, nh, sh, length, (size_t)idx, cand);
            g = pre - beam_ed(t, cand, nh);
            (*checked)++;
            /* (gain, length, -start_h, -idx) compared as a tuple */
            if (!found || g > b_gain
                || (g == b_gain
                    && (length > b_len
                        || (length == b_len
                            && (sh < b_start
                                || (sh == b_start && (size_t)idx < b_idx)))))) {
              found = 1;
              b_gain = g;
              b_len = length;
              b_start = sh;
              b_idx = (size_t)idx;
            }
          }
          /* the candidate budget ends the search after a full pair */
          if (*checked >= TER_MAX_CANDIDATES) {
            stop = 1;
            break;
          }
        }
        if (nh == sh + length || nr == sr + length)
          break;
      }
    }
  }
  if (found) {
    perform_shift(h, nh, b_start, b_len, b_idx, out);
    *gain = b_gain;
  }
  free(trace);
  free(align);
  free(herr);
  free(rerr);
  free(cand);
  return found;
}

void mg_bleu_ter_segment(const char *hyp, size_t hn, const char *ref, size_t rn,
                         double *stats)
{
  struct ter_words wh = { 0 }, wr = { 0 };
  int *h, *r, *next;
  struct ter t;
  size_t checked = 0;
  long long shifts = 0, edits;

  ter_split(hyp, hn, &wh);
  ter_split(ref, rn, &wr);
  /* word ids: the index of the first equal word (hyp first, then ref) */
  h = mg_xreallocarray(NULL, wh.n + 1, sizeof(int));
  r = mg_xreallocarray(NULL, wr.n + 1, sizeof(int));
  for (size_t i = 0; i < wh.n; i++) {
    h[i] = (int)i;
    for (size_t k = 0; k < i; k++)
      if (word_eq(&wh, i, &wh, k)) {
        h[i] = h[k];
        break;
      }
  }
  for (size_t j = 0; j < wr.n; j++) {
    r[j] = (int)(wh.n + j);
    for (size_t k = 0; k < wh.n && r[j] == (int)(wh.n + j); k++)
      if (word_eq(&wr, j, &wh, k))
        r[j] = h[k];
    for (size_t k = 0; k < j && r[j] == (int)(wh.n + j); k++)
      if (word_eq(&wr, j, &wr, k))
        r[j] = r[k];
  }
  if (wr.n == 0) {
    /* translation_edit_rate: an empty reference costs the hypothesis */
    stats[0] = (double)wh.n;
    stats[1] = 0;
    goto out;
  }
  memset(&t, 0, sizeof(t));
  t.ref = r;
  t.nr = wr.n;
  next = mg_xreallocarray(NULL, wh.n + 1, sizeof(int));
  for (;;) {
    long long gain = 0;
    int found = best_shift(&t, h, wh.n, next, &gain, &checked);

    if (checked >= TER_MAX_CANDIDATES)
      break;
    if (!found || gain <= 0)
      break;
    shifts++;
    memcpy(h, next, wh.n * sizeof(int));
  }
  edits = shifts + beam_ed(&t, h, wh.n);
  stats[0] = (double)edits;
  stats[1] = (double)wr.n;
  free(next);
  free(t.cost);
  free(t.op);
  free(t.trace);
out:
  free(h);
  free(r);
  free(wh.text.v);
  free(wh.start);
  free(wh.len);
  free(wr.text.v);
  free(wr.start);
  free(wr.len);
}

double mg_bleu_ter_score(const double *stats)
{
  double score;

  if (stats[1] > 0)
    score = stats[0] / stats[1];
  else if (stats[0] > 0)
    score = 1.0;
  else
    score = 0.0;
  return 100 * score;
}
