#include "py/mg_mt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mg_mem.h"

#define M 397
#define MATRIX_A 0x9908b0dfU
#define UPPER_MASK 0x80000000U
#define LOWER_MASK 0x7fffffffU

static void init_genrand(struct mg_mt *r, uint32_t s)
{
  r->mt[0] = s;
  for (int i = 1; i < MG_MT_N; i++)
    r->mt[i] =
        1812433253U * (r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) + (uint32_t)i;
  r->mti = MG_MT_N;
}

static void init_by_array(struct mg_mt *r, const uint32_t *key, size_t len)
{
  size_t i = 1, j = 0, k;

  init_genrand(r, 19650218U);
  k = MG_MT_N > len ? MG_MT_N : len;
  for (; k; k--) {
    r->mt[i] = (r->mt[i] ^ ((r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) * 1664525U))
               + key[j] + (uint32_t)j;
    i++;
    j++;
    if (i >= MG_MT_N) {
      r->mt[0] = r->mt[MG_MT_N - 1];
      i = 1;
    }
    if (j >= len)
      j = 0;
  }
  for (k = MG_MT_N - 1; k; k--) {
    r->mt[i] =
        (r->mt[i] ^ ((r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) * 1566083941U))
        - (uint32_t)i;
    i++;
    if (i >= MG_MT_N) {
      r->mt[0] = r->mt[MG_MT_N - 1];
      i = 1;
    }
  }
  r->mt[0] = 0x80000000U;
}

void mg_mt_seed(struct mg_mt *r, uint64_t seed)
{
  uint32_t key[2];
  size_t len = 1;

  key[0] = (uint32_t)seed;
  key[1] = (uint32_t)(seed >> 32);
  if (key[1])
    len = 2;
  init_by_array(r, key, len);
}

uint32_t mg_mt_u32(struct mg_mt *r)
{
  static const uint32_t mag01[2] = { 0x0U, MATRIX_A };
  uint32_t y;

  if (r->mti >= MG_MT_N) {
    int kk;

    for (kk = 0; kk < MG_MT_N - M; kk++) {
      y = (r->mt[kk] & UPPER_MASK) | (r->mt[kk + 1] & LOWER_MASK);
      r->mt[kk] = r->mt[kk + M] ^ (y >> 1) ^ mag01[y & 0x1U];
    }
    for (; kk < MG_MT_N - 1; kk++) {
      y = (r->mt[kk] & UPPER_MASK) | (r->mt[kk + 1] & LOWER_MASK);
      r->mt[kk] = r->mt[kk + (M - MG_MT_N)] ^ (y >> 1) ^ mag01[y & 0x1U];
    }
    y = (r->mt[MG_MT_N - 1] & UPPER_MASK) | (r->mt[0] & LOWER_MASK);
    r->mt[MG_MT_N - 1] = r->mt[M - 1] ^ (y >> 1) ^ mag01[y & 0x1U];
    r->mti = 0;
  }
  y = r->mt[r->mti++];
  y ^= (y >> 11);
  y ^= (y << 7) & 0x9d2c5680U;
  y ^= (y << 15) & 0xefc60000U;
  y ^= (y >> 18);
  return y;
}

uint64_t mg_mt_getrandbits(struct mg_mt *r, int k)
{
  uint64_t lo, hi;

  if (k <= 0)
    return 0;
  if (k <= 32)
    return mg_mt_u32(r) >> (32 - k);
  /* CPython fills 32-bit words least significant first; the last word
   * keeps only its top (k - 32) bits. */
  lo = mg_mt_u32(r);
  hi = mg_mt_u32(r) >> (64 - k);
  return lo | (hi << 32);
}

double mg_mt_random(struct mg_mt *r)
{
  uint32_t a = mg_mt_u32(r) >> 5, b = mg_mt_u32(r) >> 6;

  return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
}

static int bit_length(uint64_t n)
{
  int k = 0;

  while (n) {
    k++;
    n >>= 1;
  }
  return k;
}

uint64_t mg_mt_randbelow(struct mg_mt *r, uint64_t n)
{
  int k = bit_length(n);
  uint64_t v = mg_mt_getrandbits(r, k);

  while (v >= n)
    v = mg_mt_getrandbits(r, k);
  return v;
}

void mg_mt_sample(struct mg_mt *r, size_t n, size_t k, size_t *out)
{
  size_t setsize = 21;

  if (k > n)
    MG_BUG("sample of %zu from %zu", k, n);
  if (k > 5)
    setsize += (size_t)pow(4.0, ceil(log((double)(k * 3)) / log(4.0)));
  if (n <= setsize) {
    size_t *pool = mg_xreallocarray(NULL, n ? n : 1, sizeof(*pool));

    for (size_t i = 0; i < n; i++)
      pool[i] = i;
    for (size_t i = 0; i < k; i++) {
      size_t j = (size_t)mg_mt_randbelow(r, n - i);

      out[i] = pool[j];
      pool[j] = pool[n - i - 1];
    }
    free(pool);
  } else {
    for (size_t i = 0; i < k; i++) {
      size_t j;
      int again;

      do {
        j = (size_t)mg_mt_randbelow(r, n);
        again = 0;
        for (size_t t = 0; t < i; t++)
          if (out[t] == j) {
            again = 1;
            break;
          }
      } while (again);
      out[i] = j;
    }
  }
}

void mg_mt_shuffle(struct mg_mt *r, size_t *x, size_t n)
{
  for (size_t i = n ? n - 1 : 0; i >= 1; i--) {
    size_t j = (size_t)mg_mt_randbelow(r, i + 1), t = x[i];

    x[i] = x[j];
    x[j] = t;
  }
}

size_t mg_mt_choice(struct mg_mt *r, size_t n)
{
  return (size_t)floor(mg_mt_random(r) * (double)n);
}
