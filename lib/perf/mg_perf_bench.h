#ifndef MG_PERF_BENCH_H
#define MG_PERF_BENCH_H

#include <signal.h>
#include <stddef.h>

#include "mg_banned.h"
#include "mg_http.h"
#include "perf/mg_perf_osd.h"
#include "perf/mg_perf_req.h"
#include "perf/mg_perf_sched.h"

struct mg_err;
struct mg_perf_data;

/*
 * One benchmark: requests scheduled by a profile against one endpoint,
 * driven by a single-threaded event loop over mg_http's multi interface.
 * Arrivals are on an absolute clock (start + offset_i); the loop sleeps
 * until the next due time with a timerfd, never between sends.
 *
 * Every request keeps monotonic timestamps (mg_time_now_ns): scheduled, sent
 * (just before it is handed to libcurl), headers, each SSE event (with
 * flags), first token, first output token, last token, end. Its status
 * is one of successful, incomplete (cancelled by perf-run after it was
 * sent: the time limit, an error limit, an interrupt) or errored (HTTP >=
 * 400, an error payload in the stream, malformed SSE data, a transport
 * failure or timeout, a response that is not an event stream, a stream
 * with no tokens), with a reason.
 */
enum mg_perf_status {
  MG_PERF_PENDING = 0,
  MG_PERF_SUCCESSFUL,
  MG_PERF_INCOMPLETE,
  MG_PERF_ERRORED,
};

/* Flags of one SSE event. */
enum mg_perf_ev_flags {
  MG_PERF_EV_CHOICES = 1 << 0, /* non-empty choices (vLLM's chunk) */
  MG_PERF_EV_TOKEN = 1 << 1,   /* token-bearing (GuideLLM iteration) */
  MG_PERF_EV_TEXT = 1 << 2,    /* non-reasoning text */
  MG_PERF_EV_USAGE = 1 << 3,
  MG_PERF_EV_DONE = 1 << 4,      /* data: [DONE] */
  MG_PERF_EV_COALESCED = 1 << 5, /* arrived in the same read as the
                                    previous event */
};

struct mg_perf_rec {
  long long idx;  /* request number within the benchmark */
  long long item; /* data row */
  enum mg_perf_status status;
  const char *reason; /* static category, NULL when successful */
  char *detail;       /* message (error text), or NULL */
  long http_status;
  long long t_sched, t_sent, t_headers, t_end;
  long long t_first_tok, t_first_out, t_last_tok; /* 0 if none */
  long long t_vllm_first;                         /* first event with choices */
  long long t_vllm_last; /* vLLM's end: completions: last choices
                            event; chat: last data event but [DONE] */
  long long *ev_t;       /* every SSE event */
  unsigned char *ev_f;
  int nev, evcap;
  int iterations; /* token-bearing events */
  int coalesced;  /* events with MG_PERF_EV_COALESCED */
  int done_seen;
  long long usage_prompt, usage_output; /* -1 when the server sent none */
  long long data_prompt, req_output;    /* from the data; -1 unknown */
  char *text;            /* the streamed output text, kept only with
                            target.collect_text and no usage; freed by
                            mg_perf_bench_count_text */
  long long text_tokens; /* tokens counted in text, if text_counted */
  int text_counted;
};

struct mg_perf_target {
  const char *url;            /* full URL of the endpoint */
  const char *const *headers; /* extra "Name: value", NULL-terminated */
  struct mg_http_opts http;   /* TLS, bearer, timeouts */
  struct mg_perf_req_body_opts body;
  /* Before a benchmark with a fixed number of streams (concurrent,
   * throughput, or --max-concurrency), that many GETs of warm_url run
   * side by side so the keep-alive connections exist when the clock
   * starts: TTFT then never includes a TCP handshake, as in a server's
   * steady state. NULL: off. */
  const char *warm_url;
  /* Keep the output text of requests whose server sends no usage, for
   * mg_perf_bench_count_text. */
  int collect_text;
  long check_timeout_ms; /* each check request before the run; 0: 30 s */
};

struct mg_perf_limits {
  const struct mg_perf_osd_opts *osd; /* over-saturation detection, NULL:
                                         off */
  double max_seconds;                 /* 0: none */
  long long max_requests;             /* 0: none */
  long long max_errors;               /* 0: none */
  double max_error_rate;              /* 0: none; over the last error_window */
  int error_window;                   /* default 30 */
  double max_global_error_rate;       /* 0: none; errored / finished, once
                                         global_min requests finished */
  int global_min;                     /* default 30 */
  /* The benchmark's start (its clock's zero) on the monotonic clock,
   * for load generators that start together (perf-run --start-at); 0,
   * or a time too soon: 20 ms after the call's set-up. */
  long long start_ns;
};

struct mg_perf_bench {
  struct mg_perf_profile profile;
  long long t_start; /* scheduler start: offsets count from here */
  long long t_end;   /* when the loop ended */
  long long n;       /* records */
  struct mg_perf_rec **blocks;
  size_t nblocks;
  const char *stop_reason; /* "max_seconds", "max_requests",
                              "data_exhausted", "max_errors",
                              "max_error_rate", "max_global_error_rate",
                              "over_saturation",
                              "interrupted" */
  long long successful, incomplete, errored;
  int peak_inflight;
  int warmed;             /* connections opened before the start */
  int has_osd;            /* osd was run (limits.osd set) */
  struct mg_perf_osd osd; /* its final state */
};

struct mg_tok_proc;

/* Counts the kept output text of every record with the tokenizer
 * (text_tokens) and frees the text. */
int mg_perf_bench_count_text(struct mg_perf_bench *b, struct mg_tok_proc *p,
                             struct mg_err *err);

/* Records are kept in blocks of this many. */
#define MG_PERF_BENCH_BLOCK 1024

/* Record i (0 <= i < b->n), borrowed. Inline, so that reading records
 * (mg_perf_metrics) does not link the run loop. */
static inline struct mg_perf_rec *
mg_perf_bench_rec(const struct mg_perf_bench *b, long long i)
{
  return &b->blocks[i / MG_PERF_BENCH_BLOCK][i % MG_PERF_BENCH_BLOCK];
}
void mg_perf_bench_release(struct mg_perf_bench *b);

/*
 * Called from the loop about every 100 ms (and once at the end) for a
 * live status line; inflight is the number of requests in flight.
 */
typedef void mg_perf_status_fn(void *arg, const struct mg_perf_bench *b,
                               int inflight, long long now_ns);

/*
 * Runs one benchmark. data must hold at least one item; synthetic data
 * cycles, file data is used once. stop (may be NULL) is polled: when it
 * becomes non-zero, scheduling stops, in-flight requests are cancelled
 * (incomplete) and the run ends with stop_reason "interrupted". Returns 0
 * with *out filled (release it), or -1 if the run could not start.
 */
int mg_perf_bench_run(const struct mg_perf_target *t,
                      const struct mg_perf_data *data,
                      const struct mg_perf_profile *p,
                      const struct mg_perf_limits *l,
                      volatile sig_atomic_t *stop, mg_perf_status_fn *status,
                      void *status_arg, struct mg_perf_bench *out,
                      struct mg_err *err);

#endif
