#include "eval/mg_metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/mg_bleu.h"
#include "eval/mg_eval_group.h"
#include "eval/mg_task.h"
#include "mg_buf.h"
#include "mg_digest.h"
#include "mg_err.h"
#include "mg_mem.h"
#include "mg_utf8.h"
#include "py/mg_mt.h"
#include "py/mg_pv.h"
#include "py/mg_regex.h"

/* ---- statistics, in lm-eval's operation order ---- */

double mg_metrics_mean(const double *x, size_t n)
{
  double s = 0;

  for (size_t i = 0; i < n; i++)
    s += x[i];
  return s / (double)n;
}

static double sample_stddev(const double *x, size_t n)
{
  double mu = mg_metrics_mean(x, n), s = 0;

  for (size_t i = 0; i < n; i++)
    s += pow(x[i] - mu, 2);
  return sqrt(s / (double)(n - 1));
}

double mg_metrics_mean_stderr(const double *x, size_t n, int *ok)
{
  if (n <= 1) {
    *ok = 0;
    return 0;
  }
  *ok = 1;
  return sample_stddev(x, n) / sqrt((double)n);
}

double mg_metrics_pooled_stderr(const double *se, const size_t *sizes, size_t k)
{
  return mg_eval_group_pooled_stderr(se, sizes, k);
}

/* Aggregations over items. For (gold, pred) pair metrics items are
 * stored as two doubles each. */
enum agg {
  AGG_MEAN,
  AGG_F1,
  AGG_MCC,
  AGG_PERPLEXITY,
  AGG_BRIER,
  AGG_WEIGHTED_PERPLEXITY, /* items (ll, n): exp(-sum(ll) / sum(n)) */
  AGG_BITS_PER_BYTE,       /* items (ll, n): -(sum(ll) / sum(n)) / ln 2 */
  AGG_BLEU,                /* items: sacrebleu segment statistics */
  AGG_CHRF,
  AGG_TER,
};

/* Column sums of n rows of width w (integers held exactly). */
static void sum_rows(const double *items, size_t n, size_t w, double *out)
{
  memset(out, 0, w * sizeof(*out));
  for (size_t i = 0; i < n; i++)
    for (size_t k = 0; k < w; k++)
      out[k] += items[i * w + k];
}

/* lm-eval's weighted_mean: sum(a) / sum(b) over (a, b) pairs, each sum
 * left to right as Python's sum() does (b are ints: exact). */
static double weighted_mean(const double *items, size_t n)
{
  double a = 0, b = 0;

  for (size_t i = 0; i < n; i++) {
    a += items[2 * i];
    b += items[2 * i + 1];
  }
  return a / b;
}

static double f1_binary(const double *items, size_t n)
{
  double tp = 0, fp = 0, fn = 0;

  for (size_t i = 0; i < n; i++) {
    int g = (int)items[2 * i], p = (int)items[2 * i + 1];

    if (g == 1 && p == 1)
      tp++;
    else if (g != 1 && p == 1)
      fp++;
    else if (g == 1 && p != 1)
      fn++;
  }
  if (2 * tp + fp + fn == 0)
    return 0;
  return 2 * tp / (2 * tp + fp + fn);
}

static double mcc(const double *items, size_t n)
{
  /* sklearn's multiclass formula over the confusion matrix */
  long lo = 0, hi = 0;
  double *t, *p, c = 0, s = (double)n, tp = 0, pp = 0, tt = 0, cov, den;
  size_t k;

  for (size_t i = 0; i < 2 * n; i++) {
    long v = (long)items[i];

    if (i == 0 || v < lo)
      lo = v;
    if (i == 0 || v > hi)
      hi = v;
  }
  k = n ? (size_t)(hi - lo + 1) : 1;
  if (k > 100000)
    return 0;
  t = mg_xcalloc(k, sizeof(double));
  p = mg_xcalloc(k, sizeof(double));
  for (size_t i = 0; i < n; i++) {
    long g = (long)items[2 * i] - lo, q = (long)items[2 * i + 1] - lo;

    t[g] += 1;
    p[q] += 1;
    if (g == q)
      c += 1;
  }
  for (size_t i = 0; i < k; i++) {
    tp += t[i] * p[i];
    pp += p[i] * p[i];
    tt += t[i] * t[i];
  }
  free(t);
  free(p);
  cov = c * s - tp;
  den = sqrt((s * s - pp) * (s * s - tt));
  return den == 0 ? 0 : cov / den;
}

static double aggregate(enum agg a, const double *items, size_t n, size_t width)
{
  switch (a) {
  case AGG_F1:
    return f1_binary(items, n);
  case AGG_MCC:
    return mcc(items, n);
  case AGG_PERPLEXITY:
    return exp(-mg_metrics_mean(items, n));
  case AGG_WEIGHTED_PERPLEXITY:
    return exp(-weighted_mean(items, n));
  case AGG_BITS_PER_BYTE:
    return -weighted_mean(items, n) / log(2.0);
  case AGG_BLEU:
  case AGG_CHRF:
  case AGG_TER: {
    double sums[MG_CHRF_NSTATS];

    sum_rows(items, n, width, sums);
    return a == AGG_BLEU   ? mg_bleu_score(sums)
           : a == AGG_CHRF ? mg_bleu_chrf_score(sums)
                           : mg_bleu_ter_score(sums);
  }
  default:
    (void)width;
    return mg_metrics_mean(items, n);
  }
}

/* lm-eval's bootstrap_stderr: iters/1000 chunks, chunk i seeded with i,
 * 1000 resamples each of random.choices(xs, k=len(xs)). */
static double bootstrap_stderr(enum agg a, const double *items, size_t n,
                               size_t width, long iters)
{
  long chunk = iters < 1000 ? iters : 1000, nchunks = iters / chunk;
  double *res =
      mg_xreallocarray(NULL, (size_t)(nchunks * chunk) + 1, sizeof(double));
  double *tmp = mg_xreallocarray(NULL, n * width + 1, sizeof(double));
  size_t k = 0;
  double sd;

  for (long c = 0; c < nchunks; c++) {
    struct mg_mt r;

    mg_mt_seed(&r, (uint64_t)c);
    for (long j = 0; j < chunk; j++) {
      for (size_t i = 0; i < n; i++) {
        size_t pick = mg_mt_choice(&r, n);

        memcpy(tmp + i * width, items + pick * width, width * sizeof(double));
      }
      res[k++] = aggregate(a, tmp, n, width);
    }
  }
  sd = k > 1 ? sample_stddev(res, k) : 0;
  free(res);
  free(tmp);
  return sd;
}

/* ---- filters ---- */

static int each_str(const struct mg_pv *v)
{
  if (v->type != MG_PV_LIST)
    return 0;
  for (size_t i = 0; i < v->u.list.n; i++)
    if (v->u.list.v[i]->type != MG_PV_STR)
      return 0;
  return 1;
}

static long arg_int(const struct mg_pv *args, const char *key, long def)
{
  const struct mg_pv *v = mg_pv_dict_get(args, key);

  return v && v->type == MG_PV_INT ? (long)v->u.i : def;
}

static const char *arg_str(const struct mg_pv *args, const char *key,
                           const char *def)
{
  const char *s = mg_pv_cstr(mg_pv_dict_get(args, key));

  return s ? s : def;
}

static struct mg_pv *regex_extract(const struct mg_regex *re,
                                   const struct mg_pv *resp, long group_select,
                                   const char *fallback)
{
  struct mg_pv *all = mg_regex_findall(re, resp->u.str.s, resp->u.str.len);
  struct mg_pv *out;
  long n = (long)all->u.list.n, i = group_select;

  if (n == 0) {
    mg_pv_unref(all);
    return mg_pv_str(fallback);
  }
  if (i < 0)
    i += n;
  if (i < 0 || i >= n) {
    mg_pv_unref(all);
    return mg_pv_str(fallback);
  }
  out = all->u.list.v[i];
  if (out->type == MG_PV_LIST) {
    const struct mg_pv *pick = NULL;

    for (size_t k = 0; k < out->u.list.n; k++)
      if (out->u.list.v[k]->u.str.len) {
        pick = out->u.list.v[k];
        break;
      }
    out = pick ? mg_pv_str_strip(pick) : mg_pv_str(fallback);
  } else {
    out = mg_pv_str_strip(out);
  }
  mg_pv_unref(all);
  return out;
}

int mg_metrics_filter(const struct mg_task_filter *f, const struct mg_pv *resps,
                      struct mg_pv **out, struct mg_err *err)
{
  struct mg_pv *cur = mg_pv_ref((struct mg_pv *)resps);

  *out = NULL;
  for (size_t s = 0; s < f->nsteps; s++) {
    const char *fn = f->steps[s].function;
    const struct mg_pv *args = f->steps[s].args;
    struct mg_pv *next;

    if (!strcmp(fn, "take_first")) {
      if (cur->type != MG_PV_LIST || cur->u.list.n == 0) {
        mg_pv_unref(cur);
        return mg_err_set(err, MG_ERR_DATA,
                          "filter '%s': take_first needs a list of responses",
                          f->name);
      }
      next = mg_pv_ref(cur->u.list.v[0]);
    } else if (!strcmp(fn, "take_first_k")) {
      long k = arg_int(args, "k", 1);

      if (cur->type != MG_PV_LIST) {
        mg_pv_unref(cur);
        return mg_err_set(err, MG_ERR_DATA,
                          "filter '%s': take_first_k needs "
                          "a list",
                          f->name);
      }
      next = mg_pv_list();
      for (long i = 0; i < k && (size_t)i < cur->u.list.n; i++)
        mg_pv_list_append(next, mg_pv_ref(cur->u.list.v[i]));
    } else if (!strcmp(fn, "majority_vote")) {
      size_t best = 0, bestc = 0;

      if (cur->type != MG_PV_LIST || cur->u.list.n == 0) {
        mg_pv_unref(cur);
        return mg_err_set(err, MG_ERR_DATA,
                          "filter '%s': majority_vote needs a list", f->name);
      }
      /* Counter.most_common(1): highest count, first seen on ties */
      for (size_t i = 0; i < cur->u.list.n; i++) {
        size_t c = 0;
        int seen_before = 0;

        for (size_t j = 0; j < i; j++)
          if (mg_pv_equal(cur->u.list.v[j], cur->u.list.v[i]))
            seen_before = 1;
        if (seen_before)
          continue;
        for (size_t j = i; j < cur->u.list.n; j++)
          if (mg_pv_equal(cur->u.list.v[j], cur->u.list.v[i]))
            c++;
        if (c > bestc) {
          bestc = c;
          best = i;
        }
      }
      next = mg_pv_list();
      mg_pv_list_append(next, mg_pv_ref(cur->u.list.v[best]));
    } else {
      /* per-response string functions */
      struct mg_regex *re = NULL;

      if (!each_str(cur)) {
        mg_pv_unref(cur);
        return mg_err_set(err, MG_ERR_DATA,
                          "filter '%s': '%s' needs a list of strings (put it "
                          "before take_first)",
                          f->name, fn);
      }
      if (!strcmp(fn, "regex")
          && mg_regex_compile(
                 arg_str(args, "regex_pattern", "#### (\\-?[0-9\\.\\,]+)"), &re,
                 err)
                 < 0) {
        mg_pv_unref(cur);
        return mg_err_prefix(err, "filter '%s'", f->name);
      }
      next = mg_pv_list();
      for (size_t i = 0; i < cur->u.list.n; i++) {
        const struct mg_pv *r = cur->u.list.v[i];
        struct mg_pv *o;

        if (re) {
          o = regex_extract(re, r, arg_int(args, "group_select", 0),
                            arg_str(args, "fallback", "[invalid]"));
        } else if (!strcmp(fn, "remove_whitespace")) {
          size_t a = 0;

          /* str.lstrip() */
          while (a < r->u.str.len) {
            unsigned char c = (unsigned char)r->u.str.s[a];

            if (c == ' ' || (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x1f))
              a++;
            else
              break;
          }
          o = mg_pv_strn(r->u.str.s + a, r->u.str.len - a);
        } else if (!strcmp(fn, "lowercase") || !strcmp(fn, "uppercase")) {
          struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
          int up = fn[0] == 'u';

          for (size_t k = 0; k < r->u.str.len; k++) {
            char c = r->u.str.s[k];

            if (!up && c >= 'A' && c <= 'Z')
              c = (char)(c - 'A' + 'a');
            if (up && c >= 'a' && c <= 'z')
              c = (char)(c - 'a' + 'A');
            mg_buf_addch(&b, c, NULL);
          }
          o = mg_pv_str_buf(&b);
        } else if (!strcmp(fn, "map")) {
          const struct mg_pv *m = mg_pv_dict_get(args, "mapping_dict");
          const struct mg_pv *hit = m ? mg_pv_dict_getv(m, r) : NULL;
          const struct mg_pv *def = mg_pv_dict_get(args, "default_value");

          o = hit   ? mg_pv_ref((struct mg_pv *)hit)
              : def ? mg_pv_ref((struct mg_pv *)def)
                    : mg_pv_none();
        } else {
          o = mg_pv_ref((struct mg_pv *)r);
        }
        mg_pv_list_append(next, o);
      }
      mg_regex_free(re);
    }
    mg_pv_unref(cur);
    cur = next;
  }
  *out = cur;
  return 0;
}

/* ---- exact_match ---- */

static int em_normalize(const struct mg_pv *s, const struct mg_pv *kwargs,
                        struct mg_regex **res, size_t nres, struct mg_pv **out,
                        struct mg_err *err)
{
  struct mg_pv *cur;
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  const struct mg_pv *ic = mg_pv_dict_get(kwargs, "ignore_case");
  const struct mg_pv *ip = mg_pv_dict_get(kwargs, "ignore_punctuation");
  const struct mg_pv *in = mg_pv_dict_get(kwargs, "ignore_numbers");

  if (s->type == MG_PV_STR) {
    cur = mg_pv_ref((struct mg_pv *)s);
  } else {
    mg_pv_to_str(&b, s);
    cur = mg_pv_str_buf(&b);
  }
  for (size_t i = 0; i < nres; i++) {
    if (mg_regex_sub(res[i], "", cur->u.str.s, cur->u.str.len, 0, &b, err)
        < 0) {
      mg_pv_unref(cur);
      mg_buf_release(&b);
      return -1;
    }
    mg_pv_unref(cur);
    cur = mg_pv_str_buf(&b);
  }
  if (ic && mg_pv_truthy(ic)) {
    struct mg_pv *l = mg_pv_str_lower(cur);

    mg_pv_unref(cur);
    cur = l;
  }
  if ((ip && mg_pv_truthy(ip)) || (in && mg_pv_truthy(in))) {
    static const char punct[] = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

    for (size_t k = 0; k < cur->u.str.len; k++) {
      char c = cur->u.str.s[k];

      if (ip && mg_pv_truthy(ip) && c && strchr(punct, c))
        continue;
      if (in && mg_pv_truthy(in) && c >= '0' && c <= '9')
        continue;
      mg_buf_addch(&b, c, NULL);
    }
    mg_pv_unref(cur);
    cur = mg_pv_str_buf(&b);
  }
  *out = cur;
  return 0;
}

int mg_metrics_exact_match(const struct mg_pv *pred, const struct mg_pv *refs,
                           const struct mg_pv *kwargs, double *out,
                           struct mg_err *err)
{
  const struct mg_pv *rx = mg_pv_dict_get(kwargs, "regexes_to_ignore");
  struct mg_regex **res = NULL;
  size_t nres = 0, nrefs;
  struct mg_pv *p = NULL;
  int rc = -1;

  *out = 0;
  if (rx && rx->type == MG_PV_LIST) {
    res = mg_xcalloc(rx->u.list.n + 1, sizeof(*res));
    for (size_t i = 0; i < rx->u.list.n; i++) {
      if (!mg_pv_cstr(rx->u.list.v[i])) {
        mg_err_set(err, MG_ERR_DATA, "regexes_to_ignore holds a non-string");
        goto out;
      }
      if (mg_regex_compile(rx->u.list.v[i]->u.str.s, &res[nres], err) < 0)
        goto out;
      nres++;
    }
  }
  if (em_normalize(pred, kwargs, res, nres, &p, err) < 0)
    goto out;
  nrefs = refs->type == MG_PV_LIST ? refs->u.list.n : 1;
  for (size_t i = 0; i < nrefs; i++) {
    const struct mg_pv *r = refs->type == MG_PV_LIST ? refs->u.list.v[i] : refs;
    struct mg_pv *q;

    if (em_normalize(r, kwargs, res, nres, &q, err) < 0)
      goto out;
    if (mg_pv_equal(p, q))
      *out = 1.0;
    mg_pv_unref(q);
  }
  rc = 0;
out:
  mg_pv_unref(p);
  for (size_t i = 0; i < nres; i++)
    mg_regex_free(res[i]);
  free(res);
  return rc;
}

/* ---- per-task scoring ---- */

struct series {
  char *metric;
  const char *filter;
  enum agg agg;
  int hib;
  size_t width; /* doubles per item */
  double *x;
  size_t n, cap;
};

static void series_add(struct series *s, const double *v)
{
  if (s->n + 1 > s->cap) {
    s->cap = s->cap ? 2 * s->cap : 64;
    s->x = mg_xreallocarray(s->x, s->cap * s->width, sizeof(double));
  }
  memcpy(s->x + s->n * s->width, v, s->width * sizeof(double));
  s->n++;
}

static enum agg agg_of(const char *name)
{
  if (!strcmp(name, "f1"))
    return AGG_F1;
  if (!strcmp(name, "matthews_corrcoef"))
    return AGG_MCC;
  if (!strcmp(name, "perplexity"))
    return AGG_PERPLEXITY;
  if (!strcmp(name, "brier_score"))
    return AGG_BRIER;
  if (!strcmp(name, "weighted_perplexity"))
    return AGG_WEIGHTED_PERPLEXITY;
  if (!strcmp(name, "bits_per_byte"))
    return AGG_BITS_PER_BYTE;
  if (!strcmp(name, "bleu"))
    return AGG_BLEU;
  if (!strcmp(name, "chrf"))
    return AGG_CHRF;
  if (!strcmp(name, "ter"))
    return AGG_TER;
  return AGG_MEAN;
}

static size_t argmax(const double *x, size_t n)
{
  size_t best = 0;

  for (size_t i = 1; i < n; i++)
    if (x[i] > x[best] || (isnan(x[i]) && !isnan(x[best])))
      best = i;
  return best;
}

static const struct mg_task_metric *find_metric(const struct mg_task *t,
                                                const char *name)
{
  for (size_t i = 0; i < t->nmetrics; i++)
    if (!strcmp(t->metrics[i].name, name))
      return &t->metrics[i];
  return NULL;
}

/* The metric order of lm-eval's process_results for multiple choice. */
static const char *const mc_order[] = { "acc",         "f1",
                                        "mcc",         "acc_norm",
                                        "acc_bytes",   "exact_match",
                                        "brier_score", "acc_mutual_info",
                                        NULL };

static void float_str(struct mg_buf *b, double x)
{
  mg_pv_float_repr(b, x);
}

static struct mg_pv *pystr_float(double x)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

  float_str(&b, x);
  return mg_pv_str_buf(&b);
}

static void sha_of(const struct mg_pv *s, char out[65])
{
  mg_digest_sha256_hex(s->u.str.s, s->u.str.len, out);
}

static struct mg_pv *sample_base(const struct mg_task *t,
                                 const struct mg_task_doc *td, size_t id,
                                 const struct mg_pv *args)
{
  struct mg_pv *s = mg_pv_dict(), *a = mg_pv_dict(), *tgt;
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  size_t nargs = t->output == MG_OUT_GENERATE_UNTIL ? 1 : args->u.list.n;

  mg_pv_dict_sets(s, "doc_id", mg_pv_int((long long)id));
  mg_pv_dict_sets(s, "doc", mg_pv_ref(td->doc));
  mg_pv_to_str(&b, td->target);
  tgt = mg_pv_str_buf(&b);
  mg_pv_dict_sets(s, "target", tgt);
  for (size_t i = 0; i < nargs && i < args->u.list.n; i++) {
    struct mg_pv *g = mg_pv_dict();
    char key[32];

    const struct mg_pv *tup = args->u.list.v[i];

    for (size_t j = 0; j < tup->u.list.n; j++) {
      (void)snprintf(key, sizeof(key), "arg_%zu", j);
      mg_pv_dict_sets(g, key, mg_pv_ref(tup->u.list.v[j]));
    }
    (void)snprintf(key, sizeof(key), "gen_args_%zu", i);
    mg_pv_dict_sets(a, key, g);
  }
  mg_pv_dict_sets(s, "arguments", a);
  return s;
}

static void sample_hashes(struct mg_pv *s, const struct mg_task_doc *td,
                          const struct mg_pv *args)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  char hex[65];

  mg_pv_dumps(&b, td->doc, 2);
  mg_digest_sha256_hex(b.data ? b.data : "", b.len, hex);
  mg_buf_release(&b);
  mg_pv_dict_sets(s, "doc_hash", mg_pv_str(hex));
  if (args->u.list.n) {
    sha_of(args->u.list.v[0]->u.list.v[0], hex);
    mg_pv_dict_sets(s, "prompt_hash", mg_pv_str(hex));
  }
  sha_of(mg_pv_dict_get(s, "target"), hex);
  mg_pv_dict_sets(s, "target_hash", mg_pv_str(hex));
}

void mg_metrics_task_result_release(struct mg_task_result *r)
{
  for (size_t i = 0; i < r->nv; i++) {
    free(r->v[i].metric);
    free(r->v[i].filter);
  }
  free(r->v);
  memset(r, 0, sizeof(*r));
}

static struct series *get_series(struct series **ss, size_t *n,
                                 const char *metric, const char *filter,
                                 enum agg agg, int hib, size_t width)
{
  struct series *s;

  for (size_t i = 0; i < *n; i++)
    if (!strcmp((*ss)[i].metric, metric) && !strcmp((*ss)[i].filter, filter))
      return &(*ss)[i];
  *ss = mg_xreallocarray(*ss, *n + 1, sizeof(**ss));
  s = &(*ss)[(*n)++];
  memset(s, 0, sizeof(*s));
  s->metric = mg_xstrdup(metric);
  s->filter = filter;
  s->agg = agg;
  s->hib = hib;
  s->width = width;
  return s;
}

static int score_mc(const struct mg_task *t, const struct mg_task_doc *td,
                    const struct mg_doc_result *r, const char *filter,
                    struct series **ss, size_t *nss, struct mg_pv *sample,
                    struct mg_err *err)
{
  size_t nc = td->choices->u.list.n;
  double *norm = mg_xreallocarray(NULL, nc + 1, sizeof(double));
  double *bytes = mg_xreallocarray(NULL, nc + 1, sizeof(double));
  double *mi = mg_xreallocarray(NULL, nc + 1, sizeof(double));
  size_t pred, pred_norm, pred_bytes, pred_mi = 0;
  int has_mi = find_metric(t, "acc_mutual_info") != NULL;
  struct mg_pv *names = mg_pv_list();

  if (r->n < nc || (has_mi && r->n < 2 * nc)) {
    free(norm);
    free(bytes);
    free(mi);
    mg_pv_unref(names);
    return mg_err_set(err, MG_ERR_DATA, "task '%s': missing answers", t->name);
  }
  for (size_t i = 0; i < nc; i++) {
    struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

    mg_pv_to_str(&b, td->choices->u.list.v[i]);
    norm[i] = r->ll[i] / (double)mg_utf8_count(b.data ? b.data : "", b.len);
    bytes[i] = r->ll[i] / (double)b.len;
    if (has_mi)
      mi[i] = r->ll[i] - r->ll[nc + i];
    mg_buf_release(&b);
  }
  pred = argmax(r->ll, nc);
  pred_norm = argmax(norm, nc);
  pred_bytes = argmax(bytes, nc);
  if (has_mi)
    pred_mi = argmax(mi, nc);
  for (size_t k = 0; mc_order[k]; k++) {
    const struct mg_task_metric *m = find_metric(t, mc_order[k]);
    double v[2];
    size_t width = 1;
    struct series *s;
    struct mg_pv *sv;

    if (!m)
      continue;
    if (!strcmp(m->name, "f1") || !strcmp(m->name, "mcc")) {
      v[0] = (double)td->gold;
      v[1] = (double)pred;
      width = 2;
      sv = mg_pv_list();
      mg_pv_list_append(sv, mg_pv_int(td->gold));
      mg_pv_list_append(sv, mg_pv_int((long long)pred));
    } else if (!strcmp(m->name, "brier_score")) {
      /* mean over docs of sum((softmax(lls) - onehot(gold))^2) */
      double mx = r->ll[0], z = 0, bs = 0;

      for (size_t i = 1; i < nc; i++)
        if (r->ll[i] > mx)
          mx = r->ll[i];
      for (size_t i = 0; i < nc; i++)
        z += exp(r->ll[i] - mx);
      for (size_t i = 0; i < nc; i++) {
        double p = exp(r->ll[i] - mx) / z - ((long)i == td->gold ? 1 : 0);

        bs += p * p;
      }
      v[0] = bs;
      sv = mg_pv_float(bs);
    } else {
      size_t p = !strcmp(m->name, "acc_norm")          ? pred_norm
                 : !strcmp(m->name, "acc_bytes")       ? pred_bytes
                 : !strcmp(m->name, "acc_mutual_info") ? pred_mi
                                                       : pred;
      int hit = 0;

      if (!strcmp(m->name, "exact_match")) {
        if (td->golds) {
          for (size_t g = 0; g < td->golds->u.list.n; g++) {
            long gi = (long)td->golds->u.list.v[g]->u.i;

            if (gi != -100 && gi < (long)nc && gi >= -(long)nc
                && r->greedy[gi < 0 ? (long)nc + gi : gi])
              hit = 1;
          }
        } else if (td->gold != -100 && td->gold >= -(long)nc) {
          hit = r->greedy[td->gold < 0 ? (long)nc + td->gold : td->gold];
        }
        v[0] = hit;
        sv = mg_pv_int(hit);
      } else {
        if (td->golds) {
          for (size_t g = 0; g < td->golds->u.list.n; g++)
            if (td->golds->u.list.v[g]->u.i == (long long)p)
              hit = 1;
        } else {
          hit = td->gold == (long)p;
        }
        v[0] = hit ? 1.0 : 0.0;
        sv = mg_pv_float(v[0]);
      }
    }
    s = get_series(ss, nss, m->name, filter, agg_of(m->aggregation),
                   m->higher_is_better, width);
    series_add(s, v);
    if (sample) {
      mg_pv_list_append(names, mg_pv_str(m->name));
      mg_pv_dict_sets(sample, m->name, sv);
    } else {
      mg_pv_unref(sv);
    }
  }
  if (sample) {
    struct mg_pv *resps = mg_pv_list(), *fr = mg_pv_list();

    for (size_t i = 0; i < r->n; i++) {
      struct mg_pv *pairv = mg_pv_list(), *wrap = mg_pv_list();

      mg_pv_list_append(pairv, pystr_float(r->ll[i]));
      mg_pv_list_append(pairv, mg_pv_str(r->greedy[i] ? "True" : "False"));
      mg_pv_list_append(wrap, mg_pv_copy(pairv));
      mg_pv_list_append(resps, wrap);
      mg_pv_list_append(fr, pairv);
    }
    /* keep lm-eval's key order: resps, filtered_resps, filter, metrics,
     * hashes, then the values (moved to the end below) */
    {
      struct mg_pv *vals = mg_pv_dict();

      for (size_t i = 0; i < names->u.list.n; i++) {
        const char *nm = names->u.list.v[i]->u.str.s;

        mg_pv_dict_sets(vals, nm, mg_pv_ref(mg_pv_dict_get(sample, nm)));
        mg_pv_dict_del(sample, nm);
      }
      mg_pv_dict_sets(sample, "resps", resps);
      mg_pv_dict_sets(sample, "filtered_resps", fr);
      mg_pv_dict_sets(sample, "filter", mg_pv_str(filter));
      mg_pv_dict_sets(sample, "metrics", mg_pv_ref(names));
      mg_pv_dict_sets(sample, "__vals", vals);
    }
  }
  mg_pv_unref(names);
  free(norm);
  free(bytes);
  free(mi);
  return 0;
}

static int score_ll(const struct mg_task *t, const struct mg_doc_result *r,
                    const char *filter, struct series **ss, size_t *nss,
                    struct mg_pv *sample)
{
  struct mg_pv *names = mg_pv_list(), *vals = mg_pv_dict();

  for (size_t i = 0; i < t->nmetrics; i++) {
    const struct mg_task_metric *m = &t->metrics[i];
    double v = !strcmp(m->name, "perplexity") ? r->ll[0] : r->greedy[0];
    struct series *s =
        get_series(ss, nss, m->name, filter, agg_of(m->aggregation),
                   m->higher_is_better, 1);

    series_add(s, &v);
    mg_pv_list_append(names, mg_pv_str(m->name));
    mg_pv_dict_sets(vals, m->name,
                    !strcmp(m->name, "perplexity") ? mg_pv_float(v)
                                                   : mg_pv_int((long long)v));
  }
  if (sample) {
    struct mg_pv *pairv = mg_pv_list(), *wrap = mg_pv_list(),
                 *resps = mg_pv_list(), *fr = mg_pv_list();

    mg_pv_list_append(pairv, pystr_float(r->ll[0]));
    mg_pv_list_append(pairv, mg_pv_str(r->greedy[0] ? "True" : "False"));
    mg_pv_list_append(wrap, mg_pv_copy(pairv));
    mg_pv_list_append(resps, wrap);
    mg_pv_list_append(fr, pairv);
    mg_pv_dict_sets(sample, "resps", resps);
    mg_pv_dict_sets(sample, "filtered_resps", fr);
    mg_pv_dict_sets(sample, "filter", mg_pv_str(filter));
    mg_pv_dict_sets(sample, "metrics", mg_pv_ref(names));
    mg_pv_dict_sets(sample, "__vals", mg_pv_ref(vals));
  }
  mg_pv_unref(vals);
  mg_pv_unref(names);
  return 0;
}

/* Python's len(re.split(r"\s+", s)): whitespace runs (str.isspace) + 1 */
static size_t count_words(const char *s, size_t n)
{
  size_t words = 1, i = 0;
  int in_space = 0;

  while (i < n) {
    unsigned char c = (unsigned char)s[i];
    int cp = c, len = 1;

    if (c >= 0xF0 && i + 3 < n) {
      cp = ((c & 0x07) << 18) | ((s[i + 1] & 0x3F) << 12)
           | ((s[i + 2] & 0x3F) << 6) | (s[i + 3] & 0x3F);
      len = 4;
    } else if (c >= 0xE0 && i + 2 < n) {
      cp = ((c & 0x0F) << 12) | ((s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F);
      len = 3;
    } else if (c >= 0xC0 && i + 1 < n) {
      cp = ((c & 0x1F) << 6) | (s[i + 1] & 0x3F);
      len = 2;
    }
    if (mg_pv_isspace(cp)) {
      if (!in_space)
        words++;
      in_space = 1;
    } else {
      in_space = 0;
    }
    i += (size_t)len;
  }
  return words;
}

/* loglikelihood_rolling: (ll, words) / (ll, bytes) pairs per document */
static int score_rolling(const struct mg_task *t, const struct mg_task_doc *td,
                         const struct mg_doc_result *r, const char *filter,
                         struct series **ss, size_t *nss, struct mg_pv *sample)
{
  static const char *const order[] = { "word_perplexity", "byte_perplexity",
                                       "bits_per_byte", NULL };
  struct mg_pv *names = mg_pv_list(), *vals = mg_pv_dict();
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  double words, bytes;

  mg_pv_to_str(&b, td->target);
  words = (double)count_words(b.data ? b.data : "", b.len);
  bytes = (double)b.len;
  mg_buf_release(&b);
  for (size_t k = 0; order[k]; k++) {
    const struct mg_task_metric *m = find_metric(t, order[k]);
    double v[2];
    struct mg_pv *pv;
    struct series *s;

    if (!m)
      continue;
    v[0] = r->ll[0];
    v[1] = k == 0 ? words : bytes;
    s = get_series(ss, nss, m->name, filter, agg_of(m->aggregation),
                   m->higher_is_better, 2);
    series_add(s, v);
    pv = mg_pv_tuple();
    mg_pv_list_append(pv, r->parts ? mg_pv_float(v[0]) : mg_pv_int(0));
    mg_pv_list_append(pv, mg_pv_int((long long)v[1]));
    mg_pv_list_append(names, mg_pv_str(m->name));
    mg_pv_dict_sets(vals, m->name, pv);
  }
  if (sample) {
    struct mg_pv *wrap = mg_pv_list(), *resps = mg_pv_list(),
                 *fr = mg_pv_list();

    mg_pv_list_append(wrap, r->parts ? pystr_float(r->ll[0]) : mg_pv_str("0"));
    mg_pv_list_append(resps, wrap);
    mg_pv_list_append(fr, r->parts ? pystr_float(r->ll[0]) : mg_pv_str("0"));
    mg_pv_dict_sets(sample, "resps", resps);
    mg_pv_dict_sets(sample, "filtered_resps", fr);
    mg_pv_dict_sets(sample, "filter", mg_pv_str(filter));
    mg_pv_dict_sets(sample, "metrics", mg_pv_ref(names));
    mg_pv_dict_sets(sample, "__vals", mg_pv_ref(vals));
  }
  mg_pv_unref(vals);
  mg_pv_unref(names);
  return 0;
}

/*
 * bleu / chrf: lm-eval's per-document item is [gold, prediction]; the
 * series keeps the segment's sacrebleu statistics, whose column sums give
 * the corpus score (aggregation and bootstrap alike).
 */
static int score_sacrebleu(const struct mg_task *t,
                           const struct mg_task_doc *td,
                           const struct mg_pv *pred,
                           const struct mg_task_metric *m, const char *filter,
                           struct series **ss, size_t *nss, struct mg_pv *vals,
                           struct mg_err *err)
{
  const struct mg_pv *gold = td->target;
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  double st[MG_CHRF_NSTATS];
  int bleu = !strcmp(m->name, "bleu"), ter = !strcmp(m->name, "ter");
  struct series *s;
  struct mg_pv *item;

  if (td->choices && gold->type == MG_PV_INT)
    gold = mg_pv_at(td->choices, (size_t)gold->u.i);
  if (!gold || gold->type == MG_PV_LIST)
    return mg_err_set(err, MG_ERR_DATA,
                      "task '%s': metric '%s' needs one reference per "
                      "document (lm-eval scores a list of targets as 1.0)",
                      t->name, m->name);
  if (!pred || pred->type != MG_PV_STR)
    return mg_err_set(err, MG_ERR_DATA,
                      "task '%s': metric '%s' needs the filtered answer to be "
                      "one string",
                      t->name, m->name);
  mg_pv_to_str(&b, gold);
  if (!b.len) {
    mg_buf_release(&b);
    return mg_err_set(err, MG_ERR_DATA,
                      "task '%s': metric '%s': an empty reference (sacrebleu "
                      "refuses it)",
                      t->name, m->name);
  }
  if (bleu)
    mg_bleu_segment(pred->u.str.s, pred->u.str.len, b.data, b.len, st);
  else if (ter)
    mg_bleu_ter_segment(pred->u.str.s, pred->u.str.len, b.data, b.len, st);
  else
    mg_bleu_chrf_segment(pred->u.str.s, pred->u.str.len, b.data, b.len, st);
  s = get_series(ss, nss, m->name, filter, agg_of(m->aggregation),
                 m->higher_is_better,
                 bleu  ? MG_BLEU_NSTATS
                 : ter ? MG_TER_NSTATS
                       : MG_CHRF_NSTATS);
  series_add(s, st);
  item = mg_pv_list();
  mg_pv_list_append(item, mg_pv_str_buf(&b));
  mg_pv_list_append(item, mg_pv_ref((struct mg_pv *)pred));
  mg_pv_dict_sets(vals, m->name, item);
  return 0;
}

static int score_gen(const struct mg_task *t, const struct mg_task_doc *td,
                     const struct mg_doc_result *r,
                     const struct mg_task_filter *f, struct series **ss,
                     size_t *nss, struct mg_pv *sample, struct mg_err *err)
{
  struct mg_pv *resps = mg_pv_list(), *filtered = NULL, *names, *vals, *pred;
  int rc = -1;

  for (size_t i = 0; i < r->n; i++)
    mg_pv_list_append(resps, mg_pv_ref(r->text[i]));
  if (mg_metrics_filter(f, resps, &filtered, err) < 0) {
    mg_pv_unref(resps);
    return mg_err_prefix(err, "task '%s'", t->name);
  }
  pred = filtered;
  names = mg_pv_list();
  vals = mg_pv_dict();
  for (size_t i = 0; i < t->nmetrics; i++) {
    const struct mg_task_metric *m = &t->metrics[i];
    double v = 0;
    struct series *s;

    if (!strcmp(m->name, "bleu") || !strcmp(m->name, "chrf")
        || !strcmp(m->name, "ter")) {
      if (score_sacrebleu(t, td, pred, m, f->name, ss, nss, vals, err) < 0)
        goto out;
      mg_pv_list_append(names, mg_pv_str(m->name));
      continue;
    }
    if (strcmp(m->name, "exact_match")) {
      mg_err_set(err, MG_ERR_DATA,
                 "task '%s': metric '%s' is not supported "
                 "for generation",
                 t->name, m->name);
      goto out;
    }
    if (mg_metrics_exact_match(pred, td->target, m->kwargs, &v, err) < 0) {
      mg_err_prefix(err, "task '%s'", t->name);
      goto out;
    }
    s = get_series(ss, nss, m->name, f->name, agg_of(m->aggregation),
                   m->higher_is_better, 1);
    series_add(s, &v);
    mg_pv_list_append(names, mg_pv_str(m->name));
    mg_pv_dict_sets(vals, m->name, mg_pv_float(v));
  }
  if (sample) {
    struct mg_pv *rw = mg_pv_list(), *fr = mg_pv_list();

    mg_pv_list_append(rw, mg_pv_ref(resps));
    mg_pv_list_append(fr, mg_pv_ref(filtered));
    mg_pv_dict_sets(sample, "resps", rw);
    mg_pv_dict_sets(sample, "filtered_resps", fr);
    mg_pv_dict_sets(sample, "filter", mg_pv_str(f->name));
    mg_pv_dict_sets(sample, "metrics", mg_pv_ref(names));
    mg_pv_dict_sets(sample, "__vals", mg_pv_ref(vals));
  }
  rc = 0;
out:
  mg_pv_unref(vals);
  mg_pv_unref(names);
  mg_pv_unref(filtered);
  mg_pv_unref(resps);
  return rc;
}

/* Moves "__vals" to the end as top-level members, after the hashes. */
static void sample_finish(struct mg_pv *s, const struct mg_task_doc *td,
                          const struct mg_pv *args)
{
  struct mg_pv *vals = mg_pv_ref(mg_pv_dict_get(s, "__vals"));

  mg_pv_dict_del(s, "__vals");
  sample_hashes(s, td, args);
  for (size_t i = 0; vals && i < vals->u.dict.n; i++)
    mg_pv_dict_set(s, mg_pv_ref(vals->u.dict.k[i]),
                   mg_pv_ref(vals->u.dict.v[i]));
  mg_pv_unref(vals);
}

int mg_metrics_task(const struct mg_task *t, const struct mg_task_doc *docs,
                    const struct mg_doc_result *res, size_t ndocs,
                    long bootstrap_iters, struct mg_pv *samples,
                    struct mg_task_result *out, struct mg_err *err)
{
  struct series *ss = NULL;
  size_t nss = 0, scored = 0;
  int rc = -1;

  memset(out, 0, sizeof(*out));
  for (size_t fi = 0; fi < t->nfilters; fi++) {
    const struct mg_task_filter *f = &t->filters[fi];

    if (t->output != MG_OUT_GENERATE_UNTIL
        && (f->nsteps != 1 || strcmp(f->steps[0].function, "take_first"))) {
      mg_err_set(err, MG_ERR_DATA,
                 "task '%s': filter '%s' applies only to generation tasks",
                 t->name, f->name);
      goto out;
    }
    for (size_t i = 0; i < ndocs; i++) {
      struct mg_pv *sample = NULL, *args = NULL;
      int r;

      if (!res[i].complete)
        continue;
      if (samples) {
        args = mg_task_doc_args(t, &docs[i]);
        sample = sample_base(t, &docs[i], i, args);
      }
      if (t->output == MG_OUT_MULTIPLE_CHOICE)
        r = score_mc(t, &docs[i], &res[i], f->name, &ss, &nss, sample, err);
      else if (t->output == MG_OUT_LOGLIKELIHOOD)
        r = score_ll(t, &res[i], f->name, &ss, &nss, sample);
      else if (t->output == MG_OUT_LOGLIKELIHOOD_ROLLING)
        r = score_rolling(t, &docs[i], &res[i], f->name, &ss, &nss, sample);
      else
        r = score_gen(t, &docs[i], &res[i], f, &ss, &nss, sample, err);
      if (r == 0 && sample) {
        sample_finish(sample, &docs[i], args);
        mg_pv_list_append(samples, sample);
        sample = NULL;
      }
      mg_pv_unref(sample);
      mg_pv_unref(args);
      if (r < 0)
        goto out;
      if (fi == 0)
        scored++;
    }
  }
  out->n = scored;
  out->v = mg_xcalloc(nss ? nss : 1, sizeof(*out->v));
  for (size_t i = 0; i < nss; i++) {
    struct series *s = &ss[i];
    struct mg_metric_value *mv = &out->v[out->nv++];

    mv->metric = mg_xstrdup(s->metric);
    mv->filter = mg_xstrdup(s->filter);
    mv->higher_is_better = s->hib;
    if (s->n == 0) {
      mv->value = NAN;
      continue;
    }
    mv->value = aggregate(s->agg, s->x, s->n, s->width);
    if (s->n <= 1) {
      mv->has_stderr = 0;
    } else if (s->agg == AGG_MEAN) {
      mv->stderr_ = mg_metrics_mean_stderr(s->x, s->n, &mv->has_stderr);
    } else if (s->agg == AGG_BRIER || s->agg == AGG_WEIGHTED_PERPLEXITY
               || s->agg == AGG_BITS_PER_BYTE || bootstrap_iters <= 0) {
      mv->has_stderr = 0;
    } else {
      /* lm-eval caps the bootstrap of bleu, chrf and ter at 100 */
      long iters =
          (s->agg == AGG_BLEU || s->agg == AGG_CHRF || s->agg == AGG_TER)
                  && bootstrap_iters > 100
              ? 100
              : bootstrap_iters;

      mv->stderr_ = bootstrap_stderr(s->agg, s->x, s->n, s->width, iters);
      mv->has_stderr = 1;
    }
  }
  rc = 0;
out:
  for (size_t i = 0; i < nss; i++) {
    free(ss[i].metric);
    free(ss[i].x);
  }
  free(ss);
  if (rc < 0)
    mg_metrics_task_result_release(out);
  return rc;
}

/* ---- groups ---- */

static void collect_leaves(const struct mg_group *g,
                           const struct mg_task_set *ts, size_t *idx, size_t *n,
                           int depth)
{
  if (depth > 32)
    return;
  for (size_t i = 0; i < g->nitems; i++) {
    if (g->items[i].group) {
      collect_leaves(g->items[i].group, ts, idx, n, depth + 1);
      continue;
    }
    for (size_t k = 0; k < ts->ntasks; k++)
      if (ts->tasks[k] == g->items[i].task) {
        int dup = 0;

        for (size_t j = 0; j < *n; j++)
          if (idx[j] == k)
            dup = 1;
        if (!dup)
          idx[(*n)++] = k;
      }
  }
}

static const struct mg_metric_value *find_value(const struct mg_task_result *r,
                                                const char *metric,
                                                const char *filter)
{
  for (size_t i = 0; i < r->nv; i++)
    if (!strcmp(r->v[i].metric, metric) && !strcmp(r->v[i].filter, filter))
      return &r->v[i];
  return NULL;
}

static int cmp_cstr(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

void mg_metrics_group(const struct mg_task_set *ts, size_t gi,
                      const struct mg_task_result *results,
                      struct mg_task_result *out)
{
  const struct mg_group *g = ts->groups[gi];
  size_t *leaves = mg_xcalloc(ts->ntasks + 1, sizeof(size_t)), nl = 0;

  memset(out, 0, sizeof(*out));
  collect_leaves(g, ts, leaves, &nl, 0);
  for (size_t i = 0; i < nl; i++)
    out->n += results[leaves[i]].n;
  for (size_t a = 0; a < g->nagg; a++) {
    const struct mg_group_agg *agg = &g->agg[a];
    char **filters = NULL;
    size_t nf = 0;

    if (agg->filter_list) {
      for (size_t k = 0; k < agg->filter_list->u.list.n; k++)
        if (mg_pv_cstr(agg->filter_list->u.list.v[k])) {
          filters = mg_xreallocarray(filters, nf + 1, sizeof(char *));
          filters[nf++] = mg_xstrdup(agg->filter_list->u.list.v[k]->u.str.s);
        }
    } else {
      for (size_t i = 0; i < nl; i++) {
        const struct mg_task_result *r = &results[leaves[i]];

        for (size_t k = 0; k < r->nv; k++) {
          int dup = 0;

          if (strcmp(r->v[k].metric, agg->metric))
            continue;
          for (size_t j = 0; j < nf; j++)
            if (!strcmp(filters[j], r->v[k].filter))
              dup = 1;
          if (dup)
            continue;
          filters = mg_xreallocarray(filters, nf + 1, sizeof(char *));
          filters[nf++] = mg_xstrdup(r->v[k].filter);
        }
      }
      qsort(filters, nf, sizeof(char *), cmp_cstr);
    }
    for (size_t f = 0; f < nf; f++) {
      struct mg_eval_group ga;
      int hib = 1;
      struct mg_metric_value *mv;

      mg_eval_group_init(&ga);
      for (size_t i = 0; i < nl; i++) {
        const struct mg_task_result *r = &results[leaves[i]];
        const struct mg_metric_value *v =
            find_value(r, agg->metric, filters[f]);

        if (!v)
          continue;
        hib = v->higher_is_better;
        mg_eval_group_add(&ga, v->value, r->n, 1, v->has_stderr, v->stderr_);
      }
      if (ga.k) {
        out->v = mg_xreallocarray(out->v, out->nv + 1, sizeof(*out->v));
        mv = &out->v[out->nv++];
        memset(mv, 0, sizeof(*mv));
        mv->metric = mg_xstrdup(agg->metric);
        mv->filter = mg_xstrdup(filters[f]);
        mv->higher_is_better = hib;
        mv->value = mg_eval_group_value(&ga, agg->weight_by_size);
        mv->has_stderr = mg_eval_group_stderr(&ga, &mv->stderr_);
      }
      mg_eval_group_release(&ga);
    }
    for (size_t f = 0; f < nf; f++)
      free(filters[f]);
    free(filters);
  }
  free(leaves);
}
