#include "mg_bleu.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "mg_mem.h"
#include "mg_pv.h"

/* ---- code point strings ---- */

struct cps {
  int32_t *v;
  size_t n, cap;
};

static void
cps_add(struct cps *c, int32_t cp)
{
  if (c->n == c->cap) {
    c->cap = c->cap ? 2 * c->cap : 64;
    c->v = mg_xreallocarray(c->v, c->cap, sizeof(*c->v));
  }
  c->v[c->n++] = cp;
}

static void
cps_decode(struct cps *c, const char *s, size_t n)
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

static int
at_ascii(const struct cps *c, size_t i, const char *lit)
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
static void
replace_all(const struct cps *in, const char *from, const char *to,
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

static int
is_digit(int32_t c)
{
  return c >= '0' && c <= '9';
}

/* [\{-\~\[-\` -\&\(-\+\:-\@\/] */
static int
is_13a_punct(int32_t c)
{
  return (c >= 0x7B && c <= 0x7E) || (c >= 0x5B && c <= 0x60)
         || (c >= 0x20 && c <= 0x26) || (c >= 0x28 && c <= 0x2B)
         || (c >= 0x3A && c <= 0x40) || c == '/';
}

static void
swap_cps(struct cps *a, struct cps *b)
{
  struct cps t = *a;

  *a = *b;
  *b = t;
}

/* Tokenizer13a(s.rstrip()) as code points, words separated by one space */
static void
tokenize_13a(const char *s, size_t n, struct cps *out)
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

char *
mg_bleu_tokenize_13a(const char *s, size_t n, size_t *len)
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

static int
sym_cmp(const struct grams *g, size_t a, size_t b)
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
static int
gram_cmp(const struct grams *g, size_t a, size_t b)
{
  for (size_t k = 0; k < g->n; k++) {
    int c = sym_cmp(g, a + k, b + k);

    if (c)
      return c;
  }
  return 0;
}

/* Merge sort of idx[0..n) by gram_cmp (stable, no global state). */
static void
sort_grams(const struct grams *g, size_t *idx, size_t *tmp, size_t n)
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
static void
match_order(const struct pair_seq *ps, size_t n, double *hyp, double *ref,
            double *match)
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
static size_t
split_words(const struct cps *t, size_t base, size_t **start, size_t **len,
            size_t *cap, size_t have)
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

void
mg_bleu_segment(const char *hyp, size_t hn, const char *ref, size_t rn,
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
static double
my_log(double x)
{
  return x == 0.0 ? -9999999999.0 : log(x);
}

double
mg_bleu_score(const double *stats)
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
static void
nospace(const char *s, size_t n, struct cps *out)
{
  struct cps t = { 0 };

  cps_decode(&t, s, n);
  out->n = 0;
  for (size_t i = 0; i < t.n; i++)
    if (!mg_pv_isspace(t.v[i]))
      cps_add(out, t.v[i]);
  free(t.v);
}

void
mg_chrf_segment(const char *hyp, size_t hn, const char *ref, size_t rn,
                double *stats)
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

double
mg_chrf_score(const double *stats)
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
