/*
 * lm-eval's group aggregate: size-weighted (or plain) mean and pooled
 * standard error over leaf tasks.
 */
#include "eval/mg_eval_group.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mg_mem.h"

void mg_eval_group_init(struct mg_eval_group *g)
{
  memset(g, 0, sizeof(*g));
  g->all_se = g->sized = 1;
}

void mg_eval_group_release(struct mg_eval_group *g)
{
  free(g->se);
  free(g->sizes);
  g->se = NULL;
  g->sizes = NULL;
  g->cap = 0;
}

void mg_eval_group_add(struct mg_eval_group *g, double value, size_t n,
                       int sized, int has_se, double se)
{
  if (g->k == g->cap) {
    g->cap = g->cap ? 2 * g->cap : 16;
    g->se = mg_xreallocarray(g->se, g->cap, sizeof(*g->se));
    g->sizes = mg_xreallocarray(g->sizes, g->cap, sizeof(*g->sizes));
  }
  if (!sized)
    g->sized = 0;
  g->num += value * (double)n;
  g->den += (double)n;
  g->unw += value;
  g->se[g->k] = has_se ? se : 0;
  g->sizes[g->k] = sized ? n : 0;
  g->all_se &= has_se != 0;
  g->k++;
}

double mg_eval_group_value(const struct mg_eval_group *g, int weight_by_size)
{
  return weight_by_size ? g->num / g->den : g->unw / (double)g->k;
}

double mg_eval_group_pooled_stderr(const double *se, const size_t *sizes,
                                   size_t k)
{
  double num = 0;
  size_t total = 0;

  for (size_t i = 0; i < k; i++) {
    num += (double)(sizes[i] - 1) * pow(se[i], 2) * (double)sizes[i];
    total += sizes[i];
  }
  return sqrt(num / (double)(total - k) / (double)total);
}

int mg_eval_group_stderr(const struct mg_eval_group *g, double *out)
{
  if (!g->k || !g->all_se || !g->sized)
    return 0;
  *out = mg_eval_group_pooled_stderr(g->se, g->sizes, g->k);
  return 1;
}
