#ifndef MG_MT_H
#define MG_MT_H

#include <stddef.h>
#include <stdint.h>

#include "mg_banned.h"

/*
 * CPython's random.Random, bit for bit, for the parts lm-evaluation-harness
 * uses: the few-shot sampler (random.Random(1234).sample(docs, k)) and the
 * bootstrap standard error (random.Random(i).choices(xs, k=len(xs))).
 *
 * The generator is MT19937 seeded like random.seed(int): init_by_array over
 * the 32-bit words of abs(seed), least significant first. Integer draws
 * use getrandbits rejection sampling (_randbelow_with_getrandbits),
 * random() uses 53 bits from two words. Nothing here allocates except
 * mg_mt_sample.
 */
#define MG_MT_N 624

struct mg_mt {
  uint32_t mt[MG_MT_N];
  int mti;
};

/* random.seed(seed) for a non-negative integer seed. Cannot fail. */
void mg_mt_seed(struct mg_mt *r, uint64_t seed);
/* The next 32-bit output (genrand_uint32). */
uint32_t mg_mt_u32(struct mg_mt *r);
/* random.getrandbits(k) for 0 <= k <= 64. */
uint64_t mg_mt_getrandbits(struct mg_mt *r, int k);
/* random.random(): a double in [0, 1) with 53 random bits. */
double mg_mt_random(struct mg_mt *r);
/* random._randbelow(n) for n >= 1: uniform in [0, n). */
uint64_t mg_mt_randbelow(struct mg_mt *r, uint64_t n);
/*
 * random.sample(range(n), k): writes k distinct indices into out in the
 * order CPython returns them (its pool algorithm for small populations and
 * its set-based rejection for large ones). Requires k <= n.
 */
void mg_mt_sample(struct mg_mt *r, size_t n, size_t k, size_t *out);
/* random.shuffle(x) on an index array. */
void mg_mt_shuffle(struct mg_mt *r, size_t *x, size_t n);
/* One draw of random.choices(range(n)): floor(random() * n). */
size_t mg_mt_choice(struct mg_mt *r, size_t n);

#endif
