#ifndef MG_MOCK_SCHED_H
#define MG_MOCK_SCHED_H

#include <stddef.h>
#include <stdint.h>

#include "mg_banned.h"

/*
 * mock-llm's timing model: deterministic hashing and random numbers, the
 * per-request emission schedule, and a min-heap of due times.
 */

/* 64-bit FNV-1a of p[0..n), mixed with seed (mg_hash_mix; mg_hash.h has
 * both). */
uint64_t mg_mock_sched_hash(uint64_t seed, const void *p, size_t n);
/* A value in [0, 1) from the top 53 bits of h. */
double mg_mock_sched_unit(uint64_t h);

/* splitmix64; the state is the whole generator. */
struct mg_mock_sched_rng {
  uint64_t s;
};
void mg_mock_sched_rng_seed(struct mg_mock_sched_rng *r, uint64_t seed);
uint64_t mg_mock_sched_rng_next(struct mg_mock_sched_rng *r);
/* Normal(mean, std) by Box-Muller; exactly mean (no draw) when std <= 0. */
double mg_mock_sched_rng_normal(struct mg_mock_sched_rng *r, double mean,
                                double std);

/* The server's timing parameters, in milliseconds unless named otherwise. */
struct mg_mock_timing {
  double ttft_ms;
  double ttft_std_ms;
  double itl_ms;
  double itl_std_ms;
  double prefill_ms_per_token;
  double request_latency_s; /* > 0: a non-streamed reply takes this long */
};

/*
 * One request's schedule. Emission k is due at
 *   start + ttft + prefill * prompt_tokens + itl_0 + ... + itl_{k-1}
 * (plus the stall, once k passes stall_at), each term drawn once, so the
 * due times are absolute: a late emission does not delay the next one.
 * Negative draws are clamped to 0.
 */
struct mg_mock_sched {
  struct mg_mock_sched_rng rng;
  double itl_ms;
  double itl_std_ms;
  long long start_ns;
  long long first_ns; /* due time of emission 0 */
  long long due_ns;   /* due time of emission k */
  size_t k;           /* emissions done */
  size_t n;           /* emissions planned */
  size_t stall_at;    /* emission index that waits stall_ns longer */
  long long stall_ns;
};

/*
 * Starts a schedule at start_ns (when the request got a batch slot) for n
 * emissions. seed makes the draws of this request; stall_ns > 0 delays
 * emission stall_at (and so all later ones) by that much.
 */
void mg_mock_sched_start(struct mg_mock_sched *s,
                         const struct mg_mock_timing *t, uint64_t seed,
                         long long start_ns, size_t prompt_tokens, size_t n,
                         size_t stall_at, long long stall_ns);
/* Due time of the next emission (meaningless once k == n). */
long long mg_mock_sched_due(const struct mg_mock_sched *s);
/* Marks the next emission done and draws the gap to the one after. */
void mg_mock_sched_advance(struct mg_mock_sched *s);
/*
 * When a non-streamed reply is due: start + request_latency_s when that is
 * set, else the due time of the last emission. Does not change s.
 */
long long mg_mock_sched_end(const struct mg_mock_sched *s,
                            const struct mg_mock_timing *t);

/* Milliseconds to nanoseconds, rounded, negatives clamped to 0. */
long long mg_mock_sched_ms_to_ns(double ms);

/*
 * A min-heap of timers ordered by (due, seq). Timers are embedded in the
 * caller's structures; the heap only holds pointers and keeps each timer's
 * idx current so that a timer can be removed in O(log n).
 */
struct mg_mock_timer {
  long long due;
  uint64_t seq;
  size_t idx; /* position in the heap, MG_MOCK_TIMER_IDLE when not in it */
};
#define MG_MOCK_TIMER_IDLE ((size_t)-1)

struct mg_mock_sched_heap {
  struct mg_mock_timer **v;
  size_t n;
  size_t cap;
};

void mg_mock_sched_heap_init(struct mg_mock_sched_heap *h);
/* Frees the array (not the timers). */
void mg_mock_sched_heap_release(struct mg_mock_sched_heap *h);
/* Inserts t, which must not be in a heap already. */
void mg_mock_sched_heap_push(struct mg_mock_sched_heap *h,
                             struct mg_mock_timer *t);
/* The earliest timer (borrowed), or NULL when empty. */
struct mg_mock_timer *
mg_mock_sched_heap_top(const struct mg_mock_sched_heap *h);
/* Removes and returns the earliest timer, or NULL when empty. */
struct mg_mock_timer *mg_mock_sched_heap_pop(struct mg_mock_sched_heap *h);
/* Removes t if it is in the heap. */
void mg_mock_sched_heap_remove(struct mg_mock_sched_heap *h,
                               struct mg_mock_timer *t);

#endif
