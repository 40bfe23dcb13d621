#ifndef MG_STATS_H
#define MG_STATS_H

#include <stddef.h>

#include "mg_banned.h"

struct mg_json;

/*
 * Distributions of measured values (docs/metrics.md has every formula).
 *
 * A distribution keeps every value with an optional weight, so summaries
 * are exact: weighted mean sum(w*v)/sum(w), population standard deviation,
 * min, max, and percentiles by one of two methods:
 *
 *   MG_STATS_PCT_NEAREST_RANK  GuideLLM's weighted nearest rank: sort by
 *       value, p_i = w_i / sum(w), c = cumsum(p), the q-quantile is
 *       value[first i with c_i >= q] (numpy searchsorted 'left'), no
 *       interpolation. The median is the 0.5 quantile by the same rule.
 *   MG_STATS_PCT_LINEAR  numpy.percentile's default (linear interpolation
 *       between closest ranks, h = (n-1)q); weights are ignored, so use it
 *       for request-weighted metrics. The median is numpy.median.
 *
 * The summary also carries a log-bucketed histogram (DDSketch layout,
 * relative accuracy alpha = 1%) that merges exactly by adding bucket
 * weights: a value v > 0 falls in bucket i = ceil(log(v) / log(gamma)),
 * gamma = (1 + alpha) / (1 - alpha), represented by 2 gamma^i / (gamma + 1),
 * which is within alpha of every value in the bucket; v <= 0 counts in
 * "zero".
 */
enum mg_stats_pct {
  MG_STATS_PCT_NEAREST_RANK = 0,
  MG_STATS_PCT_LINEAR = 1,
};

#define MG_STATS_NPCT 11
/* 0.001 ... 0.999, and their names "p0.1" ... "p99.9". */
extern const double mg_stats_pct_q[MG_STATS_NPCT];
extern const char *const mg_stats_pct_name[MG_STATS_NPCT];

#define MG_STATS_HIST_ALPHA 0.01

struct mg_stats_dist {
  double *v;
  double *w; /* NULL until a weight other than 1 is added */
  size_t n, cap;
  int sorted;
};

#define MG_STATS_DIST_INIT                                                     \
  {                                                                            \
    NULL, NULL, 0, 0, 0                                                        \
  }

struct mg_stats_summary {
  size_t count;  /* number of values */
  double weight; /* sum of weights (== count when unweighted) */
  double sum;    /* sum of w * v */
  double mean, median, std, min, max;
  double pct[MG_STATS_NPCT];
};

void mg_stats_dist_init(struct mg_stats_dist *d);
void mg_stats_dist_release(struct mg_stats_dist *d);
void mg_stats_dist_add(struct mg_stats_dist *d, double v);
/* Adds v with weight w (> 0; values with w <= 0 are ignored). */
void mg_stats_dist_addw(struct mg_stats_dist *d, double v, double w);
/* Appends every value of src. */
void mg_stats_dist_merge(struct mg_stats_dist *d,
                         const struct mg_stats_dist *src);

/* Sorts by value (weights follow their values). */
void mg_stats_dist_sort(struct mg_stats_dist *d);

/* Sorts (by value) and summarises. An empty distribution gives count 0 and
 * zeros elsewhere. */
void mg_stats_dist_summarize(struct mg_stats_dist *d, enum mg_stats_pct method,
                             struct mg_stats_summary *s);
/* One quantile q in [0, 1] of a sorted distribution by method. */
double mg_stats_dist_quantile(const struct mg_stats_dist *d, double q,
                              enum mg_stats_pct method);

/* Histogram bucket of v (v > 0), and a bucket's representative value. */
int mg_stats_hist_index(double v);
double mg_stats_hist_value(int index);

/*
 * The distribution as JSON: {"count", "weight" (weighted only), "sum",
 * "mean", "median", "std", "min", "max", "percentiles": {"p0.1": ...},
 * "hist": {"alpha", "zero", "bins": [[index, weight], ...]}} (hist only
 * when with_hist). caller owns the result.
 */
struct mg_json *mg_stats_dist_json(struct mg_stats_dist *d,
                                   enum mg_stats_pct method, int with_hist);

/*
 * GuideLLM's time-weighted rate: events at times t[0..n) (sorted, within
 * [ws, we]) with occurrences c[i] each. Event i stands for the interval
 * from halfway to its previous neighbour to halfway to its next one (the
 * first starts at ws, the last ends at we); its rate c[i]/duration is
 * weighted by that duration, so the mean is sum(c) / (we - ws). Adds the
 * rates to out (weighted).
 */
void mg_stats_rate_dist(const double *t, const double *c, size_t n, double ws,
                        double we, struct mg_stats_dist *out);

/*
 * Time-weighted concurrency of intervals [start[i], end[i]) clipped to
 * [ws, we]: each level of the step function is added to out weighted by
 * how long it held. *peak gets the highest level reached in the window.
 */
void mg_stats_concurrency(const double *start, const double *end, size_t n,
                          double ws, double we, struct mg_stats_dist *out,
                          int *peak);

#endif
