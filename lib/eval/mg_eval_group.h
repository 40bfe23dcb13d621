#ifndef MG_EVAL_GROUP_H
#define MG_EVAL_GROUP_H

#include <stddef.h>

#include "mg_banned.h"

/*
 * lm-eval's group aggregation (lm_eval/api/group.py, evaluator_utils.py;
 * eval-anchors.md section 3), the one place the formula lives: eval-run
 * aggregates its groups with it and results-merge recomputes the groups
 * of merged results with it. Per "metric,filter", over every leaf task
 * below the group in order:
 *   value  = sum(v_i * n_i) / sum(n_i) with weight_by_size (mmlu sets
 *            it), else sum(v_i) / k;
 *   stderr = sqrt(sum((n_i - 1) * se_i^2 * n_i) / (sum(n_i) - k) /
 *            sum(n_i)) (pooled_sample_stderr), "N/A" when a leaf has none.
 * The sums run in leaf order, as lm-eval's do. This module depends on
 * nothing but libm, so that results-merge can use it without the eval
 * engine.
 */
struct mg_eval_group {
  double num; /* sum(v_i * n_i) */
  double den; /* sum(n_i) */
  double unw; /* sum(v_i) */
  size_t k;   /* leaves added */
  int all_se; /* every leaf had a standard error */
  int sized;  /* every leaf had a known size */
  double *se; /* per leaf */
  size_t *sizes;
  size_t cap;
};

/* Starts an empty aggregate. Cannot fail. */
void mg_eval_group_init(struct mg_eval_group *g);
/* Frees the per-leaf arrays; the sums and counts stay readable. */
void mg_eval_group_release(struct mg_eval_group *g);

/*
 * Adds one leaf: its value, its size n (sized 0 when unknown) and its
 * standard error (has_se 0 for "N/A").
 */
void mg_eval_group_add(struct mg_eval_group *g, double value, size_t n,
                       int sized, int has_se, double se);

/* The group's value: size-weighted when weight_by_size, else the plain
 * mean (meaningless when g->k is 0, or weighted with a size unknown). */
double mg_eval_group_value(const struct mg_eval_group *g, int weight_by_size);

/* The pooled standard error into *out: 1, or 0 when it is "N/A" (a leaf
 * without one, or without a size). */
int mg_eval_group_stderr(const struct mg_eval_group *g, double *out);

/* pooled_sample_stderr over k leaves. */
double mg_eval_group_pooled_stderr(const double *se, const size_t *sizes,
                                   size_t k);

#endif
