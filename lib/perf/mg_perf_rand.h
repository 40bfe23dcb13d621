#ifndef MG_PERF_RAND_H
#define MG_PERF_RAND_H

#include <stdint.h>

#include "mg_banned.h"
#include "py/mg_mt.h"

/*
 * A seeded random source that reproduces CPython's random.Random bit for
 * bit (mg_mt: MT19937 seeded with init_by_array from the integer
 * seed), so that
 * perf-run's poisson arrivals and synthetic lengths for a given seed are
 * the ones GuideLLM draws from random.Random(seed): random(),
 * expovariate(), gauss() and randint() follow CPython 3.11's algorithms.
 * gamma() (vLLM's --burstiness) uses Marsaglia-Tsang on the same stream;
 * it does not reproduce numpy's values.
 */
struct mg_perf_rand {
  struct mg_mt mt; /* the generator (mg_mt: CPython's, bit for bit) */
  int has_gauss;
  double gauss_next;
};

/* Seeds like random.Random(seed) for seed >= 0. Cannot fail. */
void mg_perf_rand_seed(struct mg_perf_rand *r, uint64_t seed);
uint32_t mg_perf_rand_u32(struct mg_perf_rand *r);
/* Uniform in [0, 1) with 53 bits, as random.random(). */
double mg_perf_rand_random(struct mg_perf_rand *r);
/* Exponential with rate lambd (> 0), as random.expovariate(lambd). */
double mg_perf_rand_expo(struct mg_perf_rand *r, double lambd);
/* Normal, as random.gauss(mu, sigma) (keeps the second value). */
double mg_perf_rand_gauss(struct mg_perf_rand *r, double mu, double sigma);
/* Uniform integer in [a, b], as random.randint(a, b). */
long long mg_perf_rand_randint(struct mg_perf_rand *r, long long a,
                               long long b);
/* Gamma with shape k > 0 and scale theta > 0 (mean k * theta). */
double mg_perf_rand_gamma(struct mg_perf_rand *r, double k, double theta);

#endif
