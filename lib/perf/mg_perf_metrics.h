#ifndef MG_PERF_METRICS_H
#define MG_PERF_METRICS_H

#include "mg_banned.h"
#include "mg_stats.h"

struct mg_buf;
struct mg_json;
struct mg_perf_bench;

/*
 * The per-request metrics, each formula in this one place (docs/metrics.md):
 * every request of a benchmark goes into an accumulator as a row; the
 * accumulator then gives the request counts and the "metrics" object of
 * docs/record-perf.md. perf-run makes its rows from the records it
 * measured (mg_perf_metrics_json below), results-merge from the lines of
 * the samples side files (mg_perf_metrics_add_sample), so a merge of
 * several processes' samples is what one process would have computed.
 * This part needs only the core (mg_stats, mg_json).
 */
enum mg_perf_metrics_bucket {
  MG_PERF_METRICS_SUCCESSFUL,
  MG_PERF_METRICS_INCOMPLETE,
  MG_PERF_METRICS_ERRORED,
  MG_PERF_METRICS_TOTAL,
  MG_PERF_METRICS_NBUCKET,
};

/* Bit of an event flag that marks a non-empty "choices" array (vLLM's
 * chunk); equals MG_PERF_EV_CHOICES. */
#define MG_PERF_METRICS_EV_CHOICES 1

struct mg_perf_metrics_row {
  enum mg_perf_metrics_bucket bucket; /* successful, incomplete, errored */
  const char *reason;                 /* not successful: why (NULL: unknown) */
  int in_window;                      /* inside the measurement window */
  /* ns on one clock; 0: did not happen */
  long long t_sched, t_sent, t_first_tok, t_first_out, t_last_tok, t_end;
  long long t_vllm_first, t_vllm_last;
  long long prompt_tokens; /* -1: unknown */
  long long output_tokens;
  long long iterations;  /* token-bearing events */
  const long long *ev_t; /* every SSE event: its time and flags */
  const unsigned char *ev_f;
  int nev;
};

struct mg_perf_metrics;

struct mg_perf_metrics *mg_perf_metrics_new(void);
void mg_perf_metrics_free(struct mg_perf_metrics *m);

/* Adds one request: counted in its bucket; its metrics (when in the
 * window) and its schedule delay (always). */
void mg_perf_metrics_add(struct mg_perf_metrics *m,
                         const struct mg_perf_metrics_row *r);

/*
 * Adds one line of a samples side file (mg_perf_metrics_samples_jsonl:
 * times in ms on the writer's clock, "status", "reason", "in_window",
 * token counts, "events"), as mg_perf_metrics_add would have the request.
 */
void mg_perf_metrics_add_sample(struct mg_perf_metrics *m,
                                const struct mg_json *line);

/* Requests counted (in the window / all) so far in bucket b. */
long long mg_perf_metrics_count(const struct mg_perf_metrics *m,
                                enum mg_perf_metrics_bucket b, int all);

/*
 * Sets the counts in requests (an object): "successful", "incomplete",
 * "errored", "total" (in the window), "outside_window", "errors" and
 * "incomplete_reasons" (counts by reason, in order of first appearance)
 * and "all" (the four counts, window or not).
 */
void mg_perf_metrics_requests(const struct mg_perf_metrics *m,
                              struct mg_json *requests);

/*
 * The "metrics" object: per bucket, every non-empty distribution by
 * method (weighted ones always by weighted nearest rank), with histograms
 * if hist. The total bucket is the union of the others. caller owns it.
 */
struct mg_json *mg_perf_metrics_dists(struct mg_perf_metrics *m,
                                      enum mg_stats_pct method, int hist);

/* The schedule delay (sent - scheduled) of every request, window or not,
 * as a distribution (the record's "client.delay_ms"). caller owns it. */
struct mg_json *mg_perf_metrics_delay(struct mg_perf_metrics *m,
                                      enum mg_stats_pct method, int hist);

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
