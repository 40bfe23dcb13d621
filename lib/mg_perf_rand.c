#include "mg_perf_rand.h"

#include <math.h>
#include <string.h>

#define N 624
#define M 397

static void
init_genrand(struct mg_perf_rand *r, uint32_t s)
{
  r->mt[0] = s;
  for (int i = 1; i < N; i++)
    r->mt[i] = 1812433253U * (r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) +
               (uint32_t)i;
  r->mti = N;
}

static void
init_by_array(struct mg_perf_rand *r, const uint32_t *key, int len)
{
  int i = 1, j = 0, k = N > len ? N : len;

  init_genrand(r, 19650218U);
  for (; k; k--) {
    r->mt[i] = (r->mt[i] ^ ((r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) *
                            1664525U)) +
               key[j] + (uint32_t)j;
    i++;
    j++;
    if (i >= N) {
      r->mt[0] = r->mt[N - 1];
      i = 1;
    }
    if (j >= len)
      j = 0;
  }
  for (k = N - 1; k; k--) {
    r->mt[i] = (r->mt[i] ^ ((r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) *
                            1566083941U)) -
               (uint32_t)i;
    i++;
    if (i >= N) {
      r->mt[0] = r->mt[N - 1];
      i = 1;
    }
  }
  r->mt[0] = 0x80000000U;
}

void
mg_perf_rand_seed(struct mg_perf_rand *r, uint64_t seed)
{
  uint32_t key[2];
  int len = 0;

  memset(r, 0, sizeof(*r));
  /* CPython: the absolute value as 32-bit words, least significant
   * first; zero is one zero word. */
  key[len++] = (uint32_t)seed;
  if (seed >> 32)
    key[len++] = (uint32_t)(seed >> 32);
  init_by_array(r, key, len);
}

uint32_t
mg_perf_rand_u32(struct mg_perf_rand *r)
{
  uint32_t y;

  if (r->mti >= N) {
    int kk;
    for (kk = 0; kk < N - M; kk++) {
      y = (r->mt[kk] & 0x80000000U) | (r->mt[kk + 1] & 0x7fffffffU);
      r->mt[kk] = r->mt[kk + M] ^ (y >> 1) ^ ((y & 1U) ? 0x9908b0dfU : 0);
    }
    for (; kk < N - 1; kk++) {
      y = (r->mt[kk] & 0x80000000U) | (r->mt[kk + 1] & 0x7fffffffU);
      r->mt[kk] =
        r->mt[kk + (M - N)] ^ (y >> 1) ^ ((y & 1U) ? 0x9908b0dfU : 0);
    }
    y = (r->mt[N - 1] & 0x80000000U) | (r->mt[0] & 0x7fffffffU);
    r->mt[N - 1] = r->mt[M - 1] ^ (y >> 1) ^ ((y & 1U) ? 0x9908b0dfU : 0);
    r->mti = 0;
  }
  y = r->mt[r->mti++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680U;
  y ^= (y << 15) & 0xefc60000U;
  y ^= y >> 18;
  return y;
}

double
mg_perf_rand_random(struct mg_perf_rand *r)
{
  uint32_t a = mg_perf_rand_u32(r) >> 5, b = mg_perf_rand_u32(r) >> 6;

  return ((double)a * 67108864.0 + (double)b) * (1.0 / 9007199254740992.0);
}

double
mg_perf_rand_expo(struct mg_perf_rand *r, double lambd)
{
  return -log(1.0 - mg_perf_rand_random(r)) / lambd;
}

double
mg_perf_rand_gauss(struct mg_perf_rand *r, double mu, double sigma)
{
  double z;

  if (r->has_gauss) {
    z = r->gauss_next;
    r->has_gauss = 0;
  } else {
    double x2pi = mg_perf_rand_random(r) * 2.0 * M_PI;
    double g2rad = sqrt(-2.0 * log(1.0 - mg_perf_rand_random(r)));
    z = cos(x2pi) * g2rad;
    r->gauss_next = sin(x2pi) * g2rad;
    r->has_gauss = 1;
  }
  return mu + z * sigma;
}

/* CPython's getrandbits(k) for k <= 64. */
static uint64_t
getrandbits(struct mg_perf_rand *r, int k)
{
  uint64_t v;

  if (k <= 32)
    return mg_perf_rand_u32(r) >> (32 - k);
  v = mg_perf_rand_u32(r);
  v |= (uint64_t)(mg_perf_rand_u32(r) >> (64 - k)) << 32;
  return v;
}

long long
mg_perf_rand_randint(struct mg_perf_rand *r, long long a, long long b)
{
  uint64_t n = (uint64_t)(b - a) + 1, v;
  int k = 0;

  if (b <= a)
    return a;
  while (k < 64 && (n >> k))
    k++;
  do
    v = getrandbits(r, k);
  while (v >= n);
  return a + (long long)v;
}

double
mg_perf_rand_gamma(struct mg_perf_rand *r, double k, double theta)
{
  double d, c, x, v, u, boost = 1.0;

  if (k < 1.0) {
    /* Gamma(k) = Gamma(k + 1) * U^(1/k). */
    boost = pow(1.0 - mg_perf_rand_random(r), 1.0 / k);
    k += 1.0;
  }
  d = k - 1.0 / 3.0;
  c = 1.0 / sqrt(9.0 * d);
  for (;;) {
    do {
      x = mg_perf_rand_gauss(r, 0.0, 1.0);
      v = 1.0 + c * x;
    } while (v <= 0.0);
    v = v * v * v;
    u = mg_perf_rand_random(r);
    if (u < 1.0 - 0.0331 * x * x * x * x)
      break;
    if (log(u) < 0.5 * x * x + d * (1.0 - v + log(v)))
      break;
  }
  return d * v * boost * theta;
}
