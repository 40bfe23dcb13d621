#include "mg_stats.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mg_json.h"
#include "mg_mem.h"

const double mg_stats_pct_q[MG_STATS_NPCT] = {
  0.001, 0.01, 0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95, 0.99, 0.999,
};
const char *const mg_stats_pct_name[MG_STATS_NPCT] = {
  "p0.1", "p1", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "p99", "p99.9",
};

void mg_stats_dist_init(struct mg_stats_dist *d)
{
  memset(d, 0, sizeof(*d));
}

void mg_stats_dist_release(struct mg_stats_dist *d)
{
  free(d->v);
  free(d->w);
  mg_stats_dist_init(d);
}

static void grow(struct mg_stats_dist *d)
{
  if (d->n < d->cap)
    return;
  d->cap = d->cap ? d->cap * 2 : 64;
  d->v = mg_xreallocarray(d->v, d->cap, sizeof(double));
  if (d->w)
    d->w = mg_xreallocarray(d->w, d->cap, sizeof(double));
}

void mg_stats_dist_addw(struct mg_stats_dist *d, double v, double w)
{
  if (!(w > 0))
    return;
  grow(d);
  if (w != 1.0 && !d->w) {
    d->w = mg_xreallocarray(NULL, d->cap, sizeof(double));
    for (size_t i = 0; i < d->n; i++)
      d->w[i] = 1.0;
  }
  d->v[d->n] = v;
  if (d->w)
    d->w[d->n] = w;
  d->n++;
  d->sorted = 0;
}

void mg_stats_dist_add(struct mg_stats_dist *d, double v)
{
  mg_stats_dist_addw(d, v, 1.0);
}

void mg_stats_dist_merge(struct mg_stats_dist *d,
                         const struct mg_stats_dist *src)
{
  for (size_t i = 0; i < src->n; i++)
    mg_stats_dist_addw(d, src->v[i], src->w ? src->w[i] : 1.0);
}

/*
 * Sorting: an LSD radix sort over the IEEE-754 bits (mapped so that
 * unsigned order is numeric order), 8 bits a pass, skipping passes where
 * every key has the same byte. Hundreds of thousands of per-chunk gaps
 * sort in a few passes without a comparison callback.
 */
struct kw {
  uint64_t k;
  double w;
};

static uint64_t key_of(double v)
{
  uint64_t u;

  memcpy(&u, &v, sizeof(u));
  return (u >> 63) ? ~u : u | ((uint64_t)1 << 63);
}

static double value_of(uint64_t k)
{
  uint64_t u = (k >> 63) ? k & ~((uint64_t)1 << 63) : ~k;
  double v;

  memcpy(&v, &u, sizeof(v));
  return v;
}

static void insertion_sort(struct kw *a, size_t n)
{
  for (size_t i = 1; i < n; i++) {
    struct kw x = a[i];
    size_t j = i;
    while (j > 0 && a[j - 1].k > x.k) {
      a[j] = a[j - 1];
      j--;
    }
    a[j] = x;
  }
}

static void radix_sort(struct kw *a, size_t n)
{
  size_t(*cnt)[256];
  struct kw *tmp, *src = a, *dst;

  if (n < 64) {
    insertion_sort(a, n);
    return;
  }
  cnt = mg_xcalloc(8, sizeof(*cnt));
  tmp = mg_xreallocarray(NULL, n, sizeof(*tmp));
  dst = tmp;
  for (size_t i = 0; i < n; i++)
    for (int b = 0; b < 8; b++)
      cnt[b][(a[i].k >> (8 * b)) & 0xff]++;
  for (int b = 0; b < 8; b++) {
    size_t sum = 0;
    struct kw *t;
    if (cnt[b][(a[0].k >> (8 * b)) & 0xff] == n)
      continue;
    for (int d = 0; d < 256; d++) {
      size_t c = cnt[b][d];
      cnt[b][d] = sum;
      sum += c;
    }
    for (size_t i = 0; i < n; i++)
      dst[cnt[b][(src[i].k >> (8 * b)) & 0xff]++] = src[i];
    t = src;
    src = dst;
    dst = t;
  }
  if (src != a)
    memcpy(a, src, n * sizeof(*a));
  free(tmp);
  free(cnt);
}

/* The unweighted case in place, with one scratch array of keys. */
static void radix_sort_keys(uint64_t *a, size_t n)
{
  size_t(*cnt)[256];
  uint64_t *tmp, *src = a, *dst;

  if (n < 64) {
    for (size_t i = 1; i < n; i++) {
      uint64_t x = a[i];
      size_t j = i;
      while (j > 0 && a[j - 1] > x) {
        a[j] = a[j - 1];
        j--;
      }
      a[j] = x;
    }
    return;
  }
  cnt = mg_xcalloc(8, sizeof(*cnt));
  tmp = mg_xreallocarray(NULL, n, sizeof(*tmp));
  dst = tmp;
  for (size_t i = 0; i < n; i++)
    for (int b = 0; b < 8; b++)
      cnt[b][(a[i] >> (8 * b)) & 0xff]++;
  for (int b = 0; b < 8; b++) {
    size_t sum = 0;
    uint64_t *t;
    if (cnt[b][(a[0] >> (8 * b)) & 0xff] == n)
      continue;
    for (int k = 0; k < 256; k++) {
      size_t c = cnt[b][k];
      cnt[b][k] = sum;
      sum += c;
    }
    for (size_t i = 0; i < n; i++)
      dst[cnt[b][(src[i] >> (8 * b)) & 0xff]++] = src[i];
    t = src;
    src = dst;
    dst = t;
  }
  if (src != a)
    memcpy(a, src, n * sizeof(*a));
  free(tmp);
  free(cnt);
}

static void sort_dist(struct mg_stats_dist *d)
{
  struct kw *a;

  if (d->sorted)
    return;
  if (!d->w) {
    /* The keys in the values' own storage (same size): no copy. */
    uint64_t *k = (uint64_t *)(void *)d->v;
    for (size_t i = 0; i < d->n; i++) {
      uint64_t x = key_of(d->v[i]);
      memcpy(&k[i], &x, sizeof(x));
    }
    radix_sort_keys(k, d->n);
    for (size_t i = 0; i < d->n; i++) {
      double v = value_of(k[i]);
      memcpy(&d->v[i], &v, sizeof(v));
    }
    d->sorted = 1;
    return;
  }
  a = mg_xreallocarray(NULL, d->n ? d->n : 1, sizeof(*a));
  for (size_t i = 0; i < d->n; i++) {
    a[i].k = key_of(d->v[i]);
    a[i].w = d->w ? d->w[i] : 1.0;
  }
  radix_sort(a, d->n);
  for (size_t i = 0; i < d->n; i++) {
    d->v[i] = value_of(a[i].k);
    if (d->w)
      d->w[i] = a[i].w;
  }
  free(a);
  d->sorted = 1;
}

void mg_stats_dist_sort(struct mg_stats_dist *d)
{
  sort_dist(d);
}

/*
 * The nearest-rank quantiles of a sorted distribution for ascending q[],
 * in one pass, with exactly the arithmetic of mg_stats_dist_quantile.
 */
static void nearest_ranks(const struct mg_stats_dist *d, const double *q,
                          int nq, double *out)
{
  double total = 0, c = 0;
  size_t i = 0;

  for (size_t k = 0; k < d->n; k++)
    total += d->w ? d->w[k] : 1.0;
  for (int j = 0; j < nq; j++) {
    while (i < d->n && c < q[j]) {
      c += (d->w ? d->w[i] : 1.0) / total;
      i++;
    }
    out[j] = c >= q[j] && i > 0 ? d->v[i - 1] : d->v[d->n - 1];
  }
}

double mg_stats_dist_quantile(const struct mg_stats_dist *d, double q,
                              enum mg_stats_pct method)
{
  if (d->n == 0)
    return 0;
  if (method == MG_STATS_PCT_LINEAR) {
    double h = (double)(d->n - 1) * q;
    size_t lo = (size_t)floor(h);
    double frac = h - (double)lo;
    if (lo + 1 >= d->n)
      return d->v[d->n - 1];
    /* numpy's _lerp: a + (b - a) * t, flipped for t >= 0.5. */
    if (frac >= 0.5)
      return d->v[lo + 1] - (d->v[lo + 1] - d->v[lo]) * (1 - frac);
    return d->v[lo] + (d->v[lo + 1] - d->v[lo]) * frac;
  } else {
    double total = 0, c = 0;
    for (size_t i = 0; i < d->n; i++)
      total += d->w ? d->w[i] : 1.0;
    for (size_t i = 0; i < d->n; i++) {
      c += (d->w ? d->w[i] : 1.0) / total;
      if (c >= q)
        return d->v[i];
    }
    return d->v[d->n - 1];
  }
}

void mg_stats_dist_summarize(struct mg_stats_dist *d, enum mg_stats_pct method,
                             struct mg_stats_summary *s)
{
  double var = 0;

  memset(s, 0, sizeof(*s));
  if (d->n == 0)
    return;
  sort_dist(d);
  s->count = d->n;
  for (size_t i = 0; i < d->n; i++) {
    double w = d->w ? d->w[i] : 1.0;
    s->weight += w;
    s->sum += w * d->v[i];
  }
  s->mean = s->sum / s->weight;
  for (size_t i = 0; i < d->n; i++) {
    double w = d->w ? d->w[i] : 1.0, e = d->v[i] - s->mean;
    var += w * e * e;
  }
  s->std = sqrt(var / s->weight);
  s->min = d->v[0];
  s->max = d->v[d->n - 1];
  if (method == MG_STATS_PCT_LINEAR) {
    if (d->n % 2 == 0)
      s->median = (d->v[d->n / 2 - 1] + d->v[d->n / 2]) / 2;
    else
      s->median = mg_stats_dist_quantile(d, 0.5, method);
    for (int i = 0; i < MG_STATS_NPCT; i++)
      s->pct[i] = mg_stats_dist_quantile(d, mg_stats_pct_q[i], method);
  } else {
    nearest_ranks(d, mg_stats_pct_q, MG_STATS_NPCT, s->pct);
    s->median = s->pct[5];
  }
}

static double log_gamma(void)
{
  return log((1 + MG_STATS_HIST_ALPHA) / (1 - MG_STATS_HIST_ALPHA));
}

int mg_stats_hist_index(double v)
{
  return (int)ceil(log(v) / log_gamma());
}

double mg_stats_hist_value(int index)
{
  double g = (1 + MG_STATS_HIST_ALPHA) / (1 - MG_STATS_HIST_ALPHA);
  return 2 * pow(g, index) / (g + 1);
}

/* Rounds to 6 significant digits past the point for stable output. */
static double tidy(double v)
{
  if (!isfinite(v))
    return 0;
  return round(v * 1e6) / 1e6;
}

struct mg_json *mg_stats_dist_json(struct mg_stats_dist *d,
                                   enum mg_stats_pct method, int with_hist)
{
  struct mg_stats_summary s;
  struct mg_json *o = mg_json_new_object(), *p;

  mg_stats_dist_summarize(d, method, &s);
  mg_json_set_number(o, "count", (double)s.count);
  if (d->w)
    mg_json_set_number(o, "weight", tidy(s.weight));
  mg_json_set_number(o, "sum", tidy(s.sum));
  mg_json_set_number(o, "mean", tidy(s.mean));
  mg_json_set_number(o, "median", tidy(s.median));
  mg_json_set_number(o, "std", tidy(s.std));
  mg_json_set_number(o, "min", tidy(s.min));
  mg_json_set_number(o, "max", tidy(s.max));
  p = mg_json_new_object();
  for (int i = 0; i < MG_STATS_NPCT; i++)
    mg_json_set_number(p, mg_stats_pct_name[i], tidy(s.pct[i]));
  mg_json_set(o, "percentiles", p);
  if (with_hist) {
    struct mg_json *h = mg_json_new_object(), *bins = mg_json_new_array();
    double zero = 0, acc = 0, below = 0;
    int cur = 0, have = 0;
    for (size_t i = 0; i < d->n; i++) {
      double w = d->w ? d->w[i] : 1.0;
      int idx;
      if (!(d->v[i] > 0)) {
        zero += w;
        continue;
      }
      /* Sorted: a value safely below the current bucket's upper bound
       * (gamma^cur, less a margin far above log's rounding) is in it. */
      if (have && d->v[i] < below) {
        acc += w;
        continue;
      }
      idx = mg_stats_hist_index(d->v[i]);
      if (!have || idx != cur)
        below = pow((1 + MG_STATS_HIST_ALPHA) / (1 - MG_STATS_HIST_ALPHA), idx)
                * (1 - 1e-9);
      if (have && idx != cur) {
        struct mg_json *b = mg_json_new_array();
        mg_json_append(b, mg_json_new_number(cur));
        mg_json_append(b, mg_json_new_number(tidy(acc)));
        mg_json_append(bins, b);
        acc = 0;
      }
      cur = idx;
      have = 1;
      acc += w;
    }
    if (have) {
      struct mg_json *b = mg_json_new_array();
      mg_json_append(b, mg_json_new_number(cur));
      mg_json_append(b, mg_json_new_number(tidy(acc)));
      mg_json_append(bins, b);
    }
    mg_json_set_number(h, "alpha", MG_STATS_HIST_ALPHA);
    mg_json_set_number(h, "zero", tidy(zero));
    mg_json_set(h, "bins", bins);
    mg_json_set(o, "hist", h);
  }
  return o;
}

void mg_stats_rate_dist(const double *t, const double *c, size_t n, double ws,
                        double we, struct mg_stats_dist *out)
{
  for (size_t i = 0; i < n; i++) {
    double lo = i == 0 ? ws : (t[i - 1] + t[i]) / 2;
    double hi = i + 1 == n ? we : (t[i] + t[i + 1]) / 2;
    double dur = hi - lo;
    if (dur > 0)
      mg_stats_dist_addw(out, c[i] / dur, dur);
  }
}

struct edge {
  double t;
  int delta;
};

static int cmp_edge(const void *a, const void *b)
{
  const struct edge *x = a, *y = b;
  if (x->t != y->t)
    return x->t < y->t ? -1 : 1;
  /* Ends before starts at the same instant. */
  return x->delta - y->delta;
}

void mg_stats_concurrency(const double *start, const double *end, size_t n,
                          double ws, double we, struct mg_stats_dist *out,
                          int *peak)
{
  struct edge *e = mg_xreallocarray(NULL, 2 * n + 1, sizeof(*e));
  size_t m = 0;
  int level = 0, top = 0;
  double prev = ws;

  for (size_t i = 0; i < n; i++) {
    if (end[i] <= ws || start[i] >= we || end[i] <= start[i])
      continue;
    e[m].t = start[i] < ws ? ws : start[i];
    e[m++].delta = 1;
    e[m].t = end[i] > we ? we : end[i];
    e[m++].delta = -1;
  }
  qsort(e, m, sizeof(*e), cmp_edge);
  for (size_t i = 0; i < m; i++) {
    if (e[i].t > prev) {
      mg_stats_dist_addw(out, level, e[i].t - prev);
      prev = e[i].t;
    }
    level += e[i].delta;
    if (level > top)
      top = level;
  }
  if (we > prev)
    mg_stats_dist_addw(out, level, we - prev);
  free(e);
  *peak = top;
}
