#ifndef MG_PERF_PLAN_H
#define MG_PERF_PLAN_H

#include "mg_banned.h"
#include "perf/mg_perf_sched.h"

struct mg_perf_config;

/*
 * The benchmarks of one perf-run, in the order they run: one per --rate
 * value (or one), or a sweep (anchors §1.2): synchronous, then throughput,
 * then, once both have been measured, sweep_size - 2 rate benchmarks at
 * linspace(r_sync, r_thr, sweep_size - 1)[1:] of the sweep's kind
 * (constant or poisson). The sweep's rates are added only when both
 * measured rates are > 0, and stop at the first rate that is not.
 *
 *   struct mg_perf_plan p;
 *   const struct mg_perf_profile *prof;
 *   mg_perf_plan_init(&p, cfg);
 *   while ((prof = mg_perf_plan_next(&p))) {
 *     ... run *prof ...
 *     mg_perf_plan_done(&p, measured_requests_per_s);
 *   }
 *   mg_perf_plan_release(&p);
 */
struct mg_perf_plan {
  struct mg_perf_profile *steps; /* planned so far */
  int n, cap;
  int next;       /* index of the step mg_perf_plan_next hands out */
  int sweep_size; /* 0: not a sweep */
  enum mg_perf_kind sweep_kind;
  int sweep_max_concurrency; /* of the sweep's rate benchmarks */
  double r_sync;             /* measured rate of the synchronous step */
};

/* Plans c's benchmarks (after mg_perf_cfg_finish). Cannot fail. */
void mg_perf_plan_init(struct mg_perf_plan *p, const struct mg_perf_config *c);
void mg_perf_plan_release(struct mg_perf_plan *p);

/* The next benchmark, or NULL when none is left. Borrowed; valid until
 * the next call of any mg_perf_plan function. Its index is p->next - 1. */
const struct mg_perf_profile *mg_perf_plan_next(struct mg_perf_plan *p);

/* Reports the successful requests per second of the benchmark just handed
 * out; a sweep adds its rate benchmarks after the throughput one. */
void mg_perf_plan_done(struct mg_perf_plan *p, double requests_per_s);

/* How many benchmarks are planned so far. */
int mg_perf_plan_count(const struct mg_perf_plan *p);

#endif
