#ifndef MG_PERF_SCHED_H
#define MG_PERF_SCHED_H

#include <stdint.h>

#include "mg_banned.h"
#include "perf/mg_perf_rand.h"

struct mg_err;

/*
 * Load profiles: when request i (0-based) may start, as an offset in
 * seconds from the benchmark's start, and how many may be in flight.
 * Formulas (docs/metrics.md, "Profiles"):
 *
 *   synchronous  one in flight; request i is scheduled when request i-1
 *                completes (closed loop)
 *   concurrent   N in flight; the first N at rampup * i / N, then each
 *                when a slot frees (closed loop)
 *   throughput   max_concurrency in flight (0: unlimited), all at 0 or,
 *                with rampup, at rampup * min(i / max_concurrency, 1)
 *   constant     (i + 1) / rate (GuideLLM's 1-based index); with rampup R
 *                linear: sqrt(2 k R / rate) while k <= rate R / 2, then
 *                R + (k - rate R / 2) / rate, k = i + 1
 *   poisson      cumulative sum of random.Random(seed).expovariate(rate)
 *   gamma        cumulative sum of Gamma(shape b, scale 1 / (rate b))
 *                draws (vLLM --burstiness b; b = 1 is poisson-like)
 *   replay       time_scale * the data's relative timestamps
 *
 * Open-loop profiles (constant, poisson, gamma, replay) keep their
 * absolute schedule even when max_concurrency holds a request back, so
 * the wait shows as schedule delay and in latency from the scheduled time.
 */
enum mg_perf_kind {
  MG_PERF_SYNCHRONOUS = 0,
  MG_PERF_CONCURRENT,
  MG_PERF_THROUGHPUT,
  MG_PERF_CONSTANT,
  MG_PERF_POISSON,
  MG_PERF_GAMMA,
  MG_PERF_REPLAY,
  MG_PERF_SWEEP, /* not a schedule: a sequence of the above */
};

struct mg_perf_profile {
  enum mg_perf_kind kind;
  double rate;         /* constant/poisson/gamma: requests per second */
  int streams;         /* concurrent */
  int max_concurrency; /* 0: unlimited (open loop, throughput) */
  double rampup_s;
  double burstiness; /* gamma shape */
  double time_scale; /* replay */
  uint64_t seed;
};

struct mg_perf_sched {
  struct mg_perf_profile p;
  struct mg_perf_rand rand;
  long long next; /* index of the next offset to hand out */
  double offset;  /* running sum for poisson/gamma */
};

/* Kind from its name ("synchronous", "concurrent", "throughput",
 * "constant" or "async", "poisson", "gamma", "replay", "sweep"); -1 if
 * unknown. */
int mg_perf_sched_kind_parse(const char *name);
const char *mg_perf_sched_kind_name(enum mg_perf_kind k);
/* 1 for constant, poisson, gamma and replay. */
int mg_perf_sched_kind_open_loop(enum mg_perf_kind k);

void mg_perf_sched_init(struct mg_perf_sched *s,
                        const struct mg_perf_profile *p);
/*
 * The earliest start of request s->next, in seconds from the start, and
 * advances. For replay, ts is the request's relative timestamp (ignored
 * otherwise). Call in request order.
 */
double mg_perf_sched_next(struct mg_perf_sched *s, double ts);
/* Most requests in flight at once; 0 means no limit. */
int mg_perf_sched_limit(const struct mg_perf_profile *p);

/*
 * GuideLLM's sweep rates: linspace(r_sync, r_thr, n - 1)[1:] into out
 * (n - 2 values, n >= 3; the last equals r_thr). Returns the count.
 */
int mg_perf_sched_sweep_rates(double r_sync, double r_thr, int n, double *out);

#endif
