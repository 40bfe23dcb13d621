#ifndef MG_PERF_METRICS_H
#define MG_PERF_METRICS_H

#include "mg_banned.h"
#include "mg_stats.h"

struct mg_buf;
struct mg_json;
struct mg_perf_bench;

/*
 * From one benchmark's request records to its entry in the record's
 * "perf" section (docs/record-perf.md; formulas in docs/metrics.md).
 */

/* Warmup or cooldown: value < 1 is a fraction of the run's limit, >= 1 is
 * seconds (when the run is time-bounded) or a request count. 0: none. */
struct mg_perf_phase_opts {
  double warmup, cooldown;
  double max_seconds; /* the run's limits, to resolve fractions */
  long long max_requests;
};

struct mg_perf_slo {
  double ttft_ms, itl_ms, e2e_ms; /* 0: not part of the objective */
};

struct mg_perf_metrics_opts {
  enum mg_stats_pct method;
  struct mg_perf_phase_opts phase;
  struct mg_perf_slo slo;
  int hist; /* include histograms (default 1) */
  int chat;
};

/*
 * The measurement window [*ws, *we] (ns, mg_time_now_ns clock) by GuideLLM's
 * rules: without warmup/cooldown, from the first send to the last end;
 * time-bounded runs cut warmup seconds after the start and cooldown
 * seconds before start + max_seconds; request-bounded runs start the
 * window at the send of request #n (0-based) and end it at the end of the
 * request completed (n + 1)-th from last.
 */
void mg_perf_metrics_window(const struct mg_perf_bench *b,
                            const struct mg_perf_phase_opts *o, long long *ws,
                            long long *we);

/* The benchmark's JSON entry; id is its index in "runs". caller owns
 * the result. */
struct mg_json *mg_perf_metrics_json(const struct mg_perf_bench *b, int id,
                                     const struct mg_perf_metrics_opts *o);

/*
 * Appends one JSON line per request to out (the samples side file):
 * {"run", "i", "status", "reason", "detail", "http_status", times in ms
 * from the run's start: "scheduled", "sent", "headers", "first_token",
 * "first_output_token", "last_token", "end", "vllm_first", "vllm_last",
 * "prompt_tokens", "output_tokens", "usage_prompt_tokens",
 * "usage_output_tokens", "iterations", "coalesced", "in_window",
 * "events": [[ms, flags], ...]}.
 */
int mg_perf_metrics_samples_jsonl(const struct mg_perf_bench *b, int id,
                                  const struct mg_perf_phase_opts *phase,
                                  struct mg_buf *out);

#endif
