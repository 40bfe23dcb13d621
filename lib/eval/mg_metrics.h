#ifndef MG_METRICS_H
#define MG_METRICS_H

#include <stddef.h>

#include "mg_banned.h"

struct mg_err;
struct mg_pv;
struct mg_task;
struct mg_task_doc;
struct mg_task_set;

/*
 * Scoring as lm-evaluation-harness does it: per-document metrics (acc,
 * acc_norm, acc_bytes, acc_mutual_info, exact_match for multiple choice
 * and for generation with its options, f1, mcc, brier_score, perplexity),
 * filters (regex, take_first, take_first_k, remove_whitespace, lowercase,
 * uppercase, majority_vote, map), aggregation with the same standard
 * errors (sample sd / sqrt(n) for means, CPython-seeded bootstrap for f1,
 * mcc and perplexity, "N/A" where lm-eval has none) and size-weighted
 * group aggregation with the pooled standard error. Sums run in lm-eval's
 * order so values match to the last bit.
 */

/* The model's answers for one document. */
struct mg_doc_result {
  size_t n;   /* requests for the doc (choices [+ unconditional],
                 or repeats for generation) */
  double *ll; /* loglikelihood requests */
  int *greedy;
  struct mg_pv **text; /* generation requests: generated strings */
  int complete;        /* every request of the doc has its answer */
  size_t parts;        /* loglikelihood_rolling: windows summed in ll[0]
                          (none: Python's sum([]) is the int 0) */
};

/* One "metric,filter" of a task or group. */
struct mg_metric_value {
  char *metric;
  char *filter;
  double value;
  double stderr_; /* valid when has_stderr */
  int has_stderr; /* 0: lm-eval reports "N/A" */
  int higher_is_better;
};

struct mg_task_result {
  size_t n; /* documents scored (lm-eval's sample_len) */
  struct mg_metric_value *v;
  size_t nv;
};

void mg_metrics_task_result_release(struct mg_task_result *r);

/*
 * Scores the complete documents of a task (incomplete ones are skipped,
 * for partial results). When samples is not NULL, appends one lm-eval
 * sample object per document and filter (without doc_id ordering
 * changes). bootstrap_iters as lm-eval's (100000; 0 turns bootstrap
 * stderr off).
 */
int mg_metrics_task(const struct mg_task *t, const struct mg_task_doc *docs,
                    const struct mg_doc_result *res, size_t ndocs,
                    long bootstrap_iters, struct mg_pv *samples,
                    struct mg_task_result *out, struct mg_err *err);

/*
 * A group's aggregated metrics from its leaf tasks' results (results[i]
 * belongs to ts->tasks[i]). Groups without aggregate_metric_list give
 * nv = 0. out->n is the total size.
 */
void mg_metrics_group(const struct mg_task_set *ts, size_t group_index,
                      const struct mg_task_result *results,
                      struct mg_task_result *out);

/* Building blocks, exposed for tests. */
double mg_metrics_mean(const double *x, size_t n);
/* sample sd / sqrt(n); returns 0 and *ok = 0 when n <= 1 */
double mg_metrics_mean_stderr(const double *x, size_t n, int *ok);
double mg_metrics_pooled_stderr(const double *se, const size_t *sizes,
                                size_t k);
/*
 * Applies a filter pipeline (steps of a struct mg_task_filter) to the
 * responses of one document (a list of str). caller owns *out (a str, or
 * a list when no step reduced it).
 */
struct mg_task_filter;
int mg_metrics_filter(const struct mg_task_filter *f, const struct mg_pv *resps,
                      struct mg_pv **out, struct mg_err *err);
/* exact_match of a prediction against references (str or list of str)
 * with lm-eval's options (dict: regexes_to_ignore, ignore_case,
 * ignore_punctuation, ignore_numbers). */
int mg_metrics_exact_match(const struct mg_pv *pred, const struct mg_pv *refs,
                           const struct mg_pv *kwargs, double *out,
                           struct mg_err *err);

#endif
