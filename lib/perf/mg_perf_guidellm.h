#ifndef MG_PERF_GUIDELLM_H
#define MG_PERF_GUIDELLM_H

#include <stddef.h>

#include "mg_banned.h"

struct mg_json;
struct mg_perf_bench;
struct mg_stats_dist;
struct mg_perf_phase_opts;

/*
 * GuideLLM's report (benchmarks.json, anchors §1.8; docs/record-perf.md
 * "GuideLLM report"), so that a pipeline step reading GuideLLM's output
 * reads perf-run's unchanged:
 *
 *   {"metadata": {"version": 2, "guidellm_version", "python_version",
 *                 "platform", "generator": "perf-run"},
 *    "config": {"metadata": {"labels"}, "spec": {...}, "benchmarks": []},
 *    "benchmarks": [{"type_": "generative_benchmark", "config",
 *                    "scheduler_state", "scheduler_metrics", "metrics",
 *                    "requests", "start_time", "end_time", "duration",
 *                    "warmup_duration", "cooldown_duration"}, ...]}
 *
 * Every metric is a StatusDistributionSummary {successful, incomplete,
 * errored, total} of DistributionSummary {mean, median, mode, variance,
 * std_dev, min, max, count, total_sum, percentiles {p001 ... p999}, pdf},
 * computed with GuideLLM's own rules: values merged when equal, weighted
 * nearest rank, mode the most probable value, total_sum = mean * count;
 * rates and concurrency from event times with GuideLLM's 0.1 ms merging,
 * its zero-weight window markers and its midpoint durations. Per-request
 * token counts follow GuideLLM (server usage, else the requested length
 * for successful requests, else token iterations). Times are Unix
 * seconds.
 */

/* A DistributionSummary of the values (and weights) of d; count < 0: the
 * rounded sum of the weights, as GuideLLM. caller owns the result. */
struct mg_json *mg_perf_guidellm_summary(struct mg_stats_dist *d,
                                         long long count);

/* GuideLLM's rate_distribution_from_timings: events at t[i] (seconds)
 * with w[i] occurrences, window [start, end]. caller owns the result. */
struct mg_json *mg_perf_guidellm_rate(const double *t, const double *w,
                                      size_t n, double start, double end);

/* GuideLLM's concurrency_distribution_from_timings over intervals
 * [s[i], e[i]] and the window [start, end]. caller owns the result. */
struct mg_json *mg_perf_guidellm_concurrency(const double *s, const double *e,
                                             size_t n, double start,
                                             double end);

struct mg_perf_guidellm_opts {
  const struct mg_perf_phase_opts *phase; /* warmup and cooldown */
  long long sample_size; /* requests kept per status; -1: all */
  const char *run_id;
  const char *target, *model, *api; /* for config.backend */
};

/* One benchmark entry. caller owns the result. */
struct mg_json *
mg_perf_guidellm_benchmark(const struct mg_perf_bench *b, int index,
                           const struct mg_perf_guidellm_opts *o);

/* The report around benchmarks (taken). spec (borrowed, may be NULL) goes
 * to config.spec, labels (borrowed, may be NULL) to config.metadata.
 * caller owns the result. */
struct mg_json *mg_perf_guidellm_report(struct mg_json *benchmarks,
                                        const struct mg_json *spec,
                                        const struct mg_json *labels);

#endif
