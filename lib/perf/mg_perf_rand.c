#include "perf/mg_perf_rand.h"

#include <math.h>
#include <string.h>

void mg_perf_rand_seed(struct mg_perf_rand *r, uint64_t seed)
{
  memset(r, 0, sizeof(*r));
  mg_mt_seed(&r->mt, seed);
}

uint32_t mg_perf_rand_u32(struct mg_perf_rand *r)
{
  return mg_mt_u32(&r->mt);
}

double mg_perf_rand_random(struct mg_perf_rand *r)
{
  return mg_mt_random(&r->mt);
}

double mg_perf_rand_expo(struct mg_perf_rand *r, double lambd)
{
  return -log(1.0 - mg_perf_rand_random(r)) / lambd;
}

double mg_perf_rand_gauss(struct mg_perf_rand *r, double mu, double sigma)
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

long long mg_perf_rand_randint(struct mg_perf_rand *r, long long a, long long b)
{
  if (b <= a)
    return a;
  return a + (long long)mg_mt_randbelow(&r->mt, (uint64_t)(b - a) + 1);
}

double mg_perf_rand_gamma(struct mg_perf_rand *r, double k, double theta)
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
