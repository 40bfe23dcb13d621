#ifndef MG_PERF_OSD_H
#define MG_PERF_OSD_H

#include <stddef.h>

#include "mg_banned.h"

struct mg_err;
struct mg_json;

/*
 * Over-saturation detection (GuideLLM's "over_saturation" constraint,
 * docs/metrics.md "Over-saturation stop"): two online linear regressions
 * over a sliding window, one of the number of requests in flight at each
 * request start against time, one of each request's TTFT against the time
 * its first token came. When, after min_seconds, at least half of the
 * windowed TTFTs exceed minimum_ttft and both slopes are positive with a
 * relative margin of error (t-distribution, confidence) below
 * moe_threshold, the server is taken to be over-saturated: the queue and
 * TTFT grow without bound. In enforce mode the benchmark then stops
 * (stop_reason "over_saturation", in-flight requests incomplete); in
 * monitor mode the detection is only recorded.
 *
 * The arithmetic is GuideLLM's (HEAD ee7a774, scheduler/constraints/
 * saturation.py): running sums, the effective sample size min(duration,
 * n) because requests of the same second are correlated, the window
 * pruned to max_window_ratio of everything seen and to max_window_seconds,
 * and Abramowitz & Stegun 26.2.23 with a Cornish-Fisher correction for the
 * t quantile.
 */
struct mg_perf_osd_opts {
  int enforce;               /* 1: stop the benchmark (default); 0: monitor */
  double min_seconds;        /* 30 */
  double max_window_seconds; /* 120 */
  double moe_threshold;      /* 2.0 */
  double minimum_ttft;       /* 2.5 (seconds) */
  double max_window_ratio;   /* 0.75 */
  int min_window_size;       /* 5 */
  double confidence;         /* 0.95 */
};

/* GuideLLM's defaults. Cannot fail. */
void mg_perf_osd_opts_init(struct mg_perf_osd_opts *o);

/*
 * Parses "key=value,..." (the keys above, plus mode=enforce|monitor and
 * enabled=true|false) or a JSON object with the same keys over o. Unknown
 * keys and bad values fail with MG_ERR_USAGE.
 */
int mg_perf_osd_opts_parse(const char *spec, struct mg_perf_osd_opts *o,
                           struct mg_err *err);

/* Running regression sums of (x, y) points. */
struct mg_perf_osd_slope {
  long n;
  double sum_x, sum_y, sum_xy, sum_x2, sum_y2;
  double slope, moe; /* of the last check */
  int checked;       /* slope and moe are set */
};

void mg_perf_osd_slope_add(struct mg_perf_osd_slope *s, double x, double y);
void mg_perf_osd_slope_remove(struct mg_perf_osd_slope *s, double x, double y);
/* 1 if the slope is positive with a margin of error below threshold, for
 * an effective sample size (0 if it is below 3). */
int mg_perf_osd_slope_check(struct mg_perf_osd_slope *s, double effective_n,
                            double moe_threshold, double confidence);
/* The t distribution's quantile p with df degrees of freedom, GuideLLM's
 * approximation (NaN for df <= 0). */
double mg_perf_osd_t_ppf(double p, double df);

struct mg_perf_osd_point {
  double t, v;
};

struct mg_perf_osd {
  struct mg_perf_osd_opts o;
  double duration; /* seconds since the benchmark start */
  struct mg_perf_osd_point *started, *finished; /* windows (ring buffers) */
  size_t s_head, s_len, s_cap, f_head, f_len, f_cap;
  long long started_ever, finished_ever, violations;
  struct mg_perf_osd_slope conc, ttft;
  int detected;       /* over-saturation was seen */
  double detected_at; /* first detection, seconds */
};

void mg_perf_osd_init(struct mg_perf_osd *d, const struct mg_perf_osd_opts *o);
void mg_perf_osd_release(struct mg_perf_osd *d);
/* A request started at t (s) with concurrent requests in flight. */
void mg_perf_osd_started(struct mg_perf_osd *d, double t, int concurrent);
/* A request's first token came at t (s) after ttft seconds. */
void mg_perf_osd_first_token(struct mg_perf_osd *d, double t, double ttft);
/*
 * Advances the clock to t, prunes the windows and checks. Returns 1 if
 * over-saturated now (d->detected and detected_at keep the first time).
 */
int mg_perf_osd_check(struct mg_perf_osd *d, double t);
/* The detector's state for the record: {"mode", "detected", "detected_at_s"
 * (when detected), "ttft_slope", "ttft_slope_moe", "ttft_n",
 * "ttft_violations", "concurrent_slope", "concurrent_slope_moe",
 * "concurrent_n"}. caller owns the result. */
struct mg_json *mg_perf_osd_json(const struct mg_perf_osd *d);

#endif
