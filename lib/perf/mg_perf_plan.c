#include "perf/mg_perf_plan.h"

#include <stdlib.h>
#include <string.h>

#include "mg_mem.h"
#include "perf/mg_perf_cfg.h"

static void push(struct mg_perf_plan *p, const struct mg_perf_profile *s)
{
  if (p->n == p->cap) {
    p->cap = p->cap ? p->cap * 2 : 8;
    p->steps = mg_xreallocarray(p->steps, (size_t)p->cap, sizeof(*p->steps));
  }
  p->steps[p->n++] = *s;
}

void mg_perf_plan_init(struct mg_perf_plan *p, const struct mg_perf_config *c)
{
  struct mg_perf_profile first[MG_PERF_MAX_RATES + 2];
  int n = mg_perf_cfg_plan(c, first);

  memset(p, 0, sizeof(*p));
  for (int i = 0; i < n; i++)
    push(p, &first[i]);
  if (c->kind == MG_PERF_SWEEP) {
    p->sweep_size = (int)c->rates[0];
    p->sweep_kind = (enum mg_perf_kind)c->sweep_kind;
    p->sweep_max_concurrency = c->max_concurrency;
  }
}

void mg_perf_plan_release(struct mg_perf_plan *p)
{
  free(p->steps);
  memset(p, 0, sizeof(*p));
}

const struct mg_perf_profile *mg_perf_plan_next(struct mg_perf_plan *p)
{
  if (p->next >= p->n)
    return NULL;
  return &p->steps[p->next++];
}

void mg_perf_plan_done(struct mg_perf_plan *p, double requests_per_s)
{
  int done = p->next - 1;
  double *rates;
  int nr;

  if (!p->sweep_size || done > 1)
    return;
  if (done == 0) {
    p->r_sync = requests_per_s;
    return;
  }
  if (!(p->r_sync > 0) || !(requests_per_s > 0) || p->sweep_size < 3)
    return;
  rates = mg_xcalloc((size_t)p->sweep_size, sizeof(*rates));
  nr = mg_perf_sched_sweep_rates(p->r_sync, requests_per_s, p->sweep_size,
                                 rates);
  for (int k = 0; k < nr && rates[k] > 0; k++) {
    struct mg_perf_profile s = p->steps[0];
    s.kind = p->sweep_kind;
    s.rate = rates[k];
    s.max_concurrency = p->sweep_max_concurrency;
    push(p, &s);
  }
  free(rates);
}

int mg_perf_plan_count(const struct mg_perf_plan *p)
{
  return p->n;
}
