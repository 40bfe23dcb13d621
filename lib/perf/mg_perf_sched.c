#include "perf/mg_perf_sched.h"

#include <math.h>
#include <string.h>

static const char *const kind_names[] = {
  "synchronous", "concurrent", "throughput", "constant",
  "poisson",     "gamma",      "replay",     "sweep",
};

int mg_perf_sched_kind_parse(const char *name)
{
  for (int i = 0; i < (int)(sizeof(kind_names) / sizeof(*kind_names)); i++)
    if (strcmp(name, kind_names[i]) == 0)
      return i;
  if (strcmp(name, "async") == 0)
    return MG_PERF_CONSTANT;
  return -1;
}

const char *mg_perf_sched_kind_name(enum mg_perf_kind k)
{
  return kind_names[k];
}

int mg_perf_sched_kind_open_loop(enum mg_perf_kind k)
{
  return k == MG_PERF_CONSTANT || k == MG_PERF_POISSON || k == MG_PERF_GAMMA
         || k == MG_PERF_REPLAY;
}

void mg_perf_sched_init(struct mg_perf_sched *s,
                        const struct mg_perf_profile *p)
{
  memset(s, 0, sizeof(*s));
  s->p = *p;
  mg_perf_rand_seed(&s->rand, p->seed);
}

double mg_perf_sched_next(struct mg_perf_sched *s, double ts)
{
  const struct mg_perf_profile *p = &s->p;
  long long i = s->next++;
  double k, half;

  switch (p->kind) {
  case MG_PERF_CONCURRENT:
    if (p->rampup_s > 0 && i < p->streams)
      return p->rampup_s * (double)i / p->streams;
    return 0;
  case MG_PERF_THROUGHPUT:
    if (p->rampup_s > 0 && p->max_concurrency > 0) {
      double f = (double)i / p->max_concurrency;
      return p->rampup_s * (f < 1 ? f : 1);
    }
    return 0;
  case MG_PERF_CONSTANT:
    k = (double)(i + 1);
    if (p->rampup_s > 0) {
      half = p->rate * p->rampup_s / 2;
      if (k <= half)
        return sqrt(2 * k * p->rampup_s / p->rate);
      return p->rampup_s + (k - half) / p->rate;
    }
    return k / p->rate;
  case MG_PERF_POISSON:
    s->offset += mg_perf_rand_expo(&s->rand, p->rate);
    return s->offset;
  case MG_PERF_GAMMA:
    s->offset += mg_perf_rand_gamma(&s->rand, p->burstiness,
                                    1.0 / (p->rate * p->burstiness));
    return s->offset;
  case MG_PERF_REPLAY:
    return (p->time_scale > 0 ? p->time_scale : 1.0) * (ts > 0 ? ts : 0);
  default:
    return 0;
  }
}

int mg_perf_sched_limit(const struct mg_perf_profile *p)
{
  switch (p->kind) {
  case MG_PERF_SYNCHRONOUS:
    return 1;
  case MG_PERF_CONCURRENT:
    return p->streams;
  default:
    return p->max_concurrency;
  }
}

int mg_perf_sched_sweep_rates(double r_sync, double r_thr, int n, double *out)
{
  int num = n - 1;
  double step;

  if (num < 2)
    return 0;
  /* numpy.linspace: start + i * step, with the end point exact. */
  step = (r_thr - r_sync) / (num - 1);
  for (int i = 1; i < num; i++)
    out[i - 1] = i == num - 1 ? r_thr : r_sync + i * step;
  return num - 1;
}
