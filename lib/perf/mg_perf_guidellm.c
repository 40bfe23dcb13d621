#include "perf/mg_perf_guidellm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include "mg_json.h"
#include "mg_mem.h"
#include "mg_stats.h"
#include "mg_time.h"
#include "mg_version.h"
#include "perf/mg_perf_bench.h"
#include "perf/mg_perf_metrics.h"
#include "perf/mg_perf_sched.h"

#define THRESHOLD 1e-4 /* GuideLLM merges event times this close (s) */
#define EPSILON 1e-6

static const char *const pct_keys[MG_STATS_NPCT] = {
  "p001", "p01", "p05", "p10", "p25", "p50", "p75", "p90", "p95", "p99", "p999",
};

/* DistributionSummary. */

static struct mg_json *summary_json(double mean, double median, double mode,
                                    double var, double mn, double mx,
                                    long long count, const double *pct)
{
  struct mg_json *o = mg_json_new_object(), *p = mg_json_new_object();

  mg_json_set_number(o, "mean", mean);
  mg_json_set_number(o, "median", median);
  mg_json_set_number(o, "mode", mode);
  mg_json_set_number(o, "variance", var);
  mg_json_set_number(o, "std_dev", sqrt(var));
  mg_json_set_number(o, "min", mn);
  mg_json_set_number(o, "max", mx);
  mg_json_set_number(o, "count", (double)count);
  mg_json_set_number(o, "total_sum", mean * (double)count);
  for (int i = 0; i < MG_STATS_NPCT; i++)
    mg_json_set_number(p, pct_keys[i], pct ? pct[i] : 0);
  mg_json_set(o, "percentiles", p);
  mg_json_set(o, "pdf", mg_json_new_null());
  return o;
}

struct mg_json *mg_perf_guidellm_summary(struct mg_stats_dist *d,
                                         long long count)
{
  double *v, *w, total = 0, c = 0, mean = 0, var = 0, pct[MG_STATS_NPCT];
  size_t m = 0, i = 0, top = 0;
  struct mg_json *o;

  if (count < 0) {
    double s = 0;
    for (size_t k = 0; k < d->n; k++)
      s += d->w ? d->w[k] : 1.0;
    count = (long long)nearbyint(s);
  }
  mg_stats_dist_sort(d);
  v = mg_xreallocarray(NULL, d->n + 1, sizeof(double));
  w = mg_xreallocarray(NULL, d->n + 1, sizeof(double));
  /* Equal values merge (their weights add); zero weights drop. */
  for (size_t k = 0; k < d->n; k++) {
    double wk = d->w ? d->w[k] : 1.0;
    if (m && d->v[k] == v[m - 1])
      w[m - 1] += wk;
    else {
      v[m] = d->v[k];
      w[m++] = wk;
    }
  }
  for (size_t k = 0, j = 0; k < m; k++)
    if (w[k] > 0) {
      v[j] = v[k];
      w[j] = w[k];
      i = ++j;
    }
  m = i;
  if (m == 0) {
    free(v);
    free(w);
    return summary_json(0, 0, 0, 0, 0, 0, count, NULL);
  }
  for (size_t k = 0; k < m; k++)
    total += w[k];
  if (total <= EPSILON) {
    for (size_t k = 0; k < m; k++)
      w[k] = 1;
    total = (double)m;
  }
  for (size_t k = 0; k < m; k++) {
    w[k] /= total; /* now the probabilities */
    if (w[k] > w[top])
      top = k;
    mean += v[k] * w[k];
  }
  for (size_t k = 0; k < m; k++)
    var += (v[k] - mean) * (v[k] - mean) * w[k];
  /* value[searchsorted(cumsum(p), q, 'left')] */
  i = 0;
  for (int j = 0; j < MG_STATS_NPCT; j++) {
    while (i < m && c < mg_stats_pct_q[j])
      c += w[i++];
    pct[j] = c >= mg_stats_pct_q[j] && i > 0 ? v[i - 1] : v[m - 1];
  }
  o = summary_json(mean, pct[5], v[top], var, v[0], v[m - 1], count, pct);
  free(v);
  free(w);
  return o;
}

/* Event times. */

struct tw {
  double t, w;
};

static int cmp_tw(const void *a, const void *b)
{
  double x = ((const struct tw *)a)->t, y = ((const struct tw *)b)->t;

  return x < y ? -1 : x > y;
}

/*
 * GuideLLM's _merge_sorted_times_with_weights: equal times first, then
 * runs of times within THRESHOLD of a run's first time, repeated until no
 * two neighbours are that close. Returns the new count.
 */
static size_t merge_times(struct tw *a, size_t n)
{
  size_t m = 0, *starts, *ends;
  char *within, *drop;

  for (size_t i = 0; i < n; i++) {
    if (m && a[i].t == a[m - 1].t)
      a[m - 1].w += a[i].w;
    else
      a[m++] = a[i];
  }
  n = m;
  if (n < 2)
    return n;
  starts = mg_xreallocarray(NULL, n, sizeof(size_t));
  ends = mg_xreallocarray(NULL, n, sizeof(size_t));
  within = mg_xcalloc(n, 1);
  drop = mg_xcalloc(n + 1, 1);
  while (n > 1) {
    size_t ns = 0, nv = 0, k = 0;
    int any = 0;
    for (size_t i = 0; i + 1 < n; i++) {
      within[i] = a[i + 1].t - a[i].t <= THRESHOLD;
      any |= within[i];
    }
    if (!any)
      break;
    for (size_t i = 0; i + 1 < n; i++)
      if (within[i] && (i == 0 || !within[i - 1]))
        starts[ns++] = i;
    for (size_t j = 0; j < ns; j++) {
      double lim = a[starts[j]].t + THRESHOLD;
      size_t e = starts[j];
      while (e + 1 < n && a[e + 1].t <= lim)
        e++;
      ends[j] = e;
    }
    /* Keep a group only if it starts after the previous group's end. */
    for (size_t j = 0; j < ns; j++) {
      if (j > 0 && !(starts[j] > ends[j - 1]))
        continue;
      starts[nv] = starts[j];
      ends[nv++] = ends[j];
    }
    memset(drop, 0, n + 1);
    for (size_t j = 0; j < nv; j++) {
      double s = 0;
      for (size_t i = starts[j]; i <= ends[j]; i++) {
        s += a[i].w;
        if (i > starts[j])
          drop[i] = 1;
      }
      a[starts[j]].w = s;
    }
    for (size_t i = 0; i < n; i++)
      if (!drop[i])
        a[k++] = a[i];
    n = k;
  }
  free(starts);
  free(ends);
  free(within);
  free(drop);
  return n;
}

struct mg_json *mg_perf_guidellm_rate(const double *t, const double *w,
                                      size_t n, double start, double end)
{
  struct tw *a = mg_xreallocarray(NULL, n + 2, sizeof(*a));
  struct mg_stats_dist d = MG_STATS_DIST_INIT;
  struct mg_json *o;
  size_t m = 0, k = 0;
  double occ = 0;

  a[m].t = start;
  a[m++].w = 0;
  for (size_t i = 0; i < n; i++)
    if (t[i] >= start) {
      a[m].t = t[i];
      a[m++].w = w[i];
    }
  for (size_t i = 0; i < m; i++)
    if (a[i].t <= end)
      a[k++] = a[i];
  m = k;
  a[m].t = end;
  a[m++].w = 0;
  qsort(a, m, sizeof(*a), cmp_tw);
  m = merge_times(a, m);
  if (m <= 1) {
    free(a);
    return mg_perf_guidellm_summary(&d, (long long)m);
  }
  for (size_t i = 0; i < m; i++) {
    double lo = i == 0 ? a[0].t : (a[i - 1].t + a[i].t) / 2;
    double hi = i + 1 == m ? a[i].t : (a[i].t + a[i + 1].t) / 2;
    double dur = hi - lo;
    if (i + 1 == m && dur < EPSILON)
      dur = EPSILON;
    occ += a[i].w;
    mg_stats_dist_addw(&d, a[i].w / dur, dur);
  }
  o = mg_perf_guidellm_summary(&d, (long long)nearbyint(occ));
  mg_stats_dist_release(&d);
  free(a);
  return o;
}

struct mg_json *mg_perf_guidellm_concurrency(const double *s, const double *e,
                                             size_t n, double start, double end)
{
  struct tw *a = mg_xreallocarray(NULL, 2 * n + 2, sizeof(*a));
  struct mg_stats_dist d = MG_STATS_DIST_INIT;
  struct mg_json *o;
  size_t m = 0, count = 0;
  double level = 0;
  int any = 0;

  for (size_t i = 0; i < n; i++) {
    if (e[i] < start || s[i] > end)
      continue;
    count++;
    a[m].t = s[i];
    a[m++].w = 1;
    a[m].t = e[i];
    a[m++].w = -1;
  }
  qsort(a, m, sizeof(*a), cmp_tw);
  m = merge_times(a, m);
  if (m > 0) {
    size_t si = 0, k = 0;
    double prior = 0;
    while (si < m && a[si].t < start)
      prior += a[si++].w;
    /* [start, prior], then the times from si on. */
    memmove(a + 1, a + si, (m - si) * sizeof(*a));
    m = m - si + 1;
    a[0].t = start;
    a[0].w = prior;
    while (k < m && a[k].t <= end)
      k++;
    m = k;
    a[m].t = end;
    a[m++].w = 0;
  }
  if (m <= 1) {
    if (count)
      mg_stats_dist_add(&d, a[0].w > 0 ? a[0].w : 0);
    o = mg_perf_guidellm_summary(&d, -1);
    mg_stats_dist_release(&d);
    free(a);
    return o;
  }
  for (size_t i = 0; i + 1 < m; i++) {
    double dur = a[i + 1].t - a[i].t;
    level += a[i].w;
    if (dur < 0)
      dur = 0;
    if (dur > 0)
      any = 1;
    mg_stats_dist_addw(&d, level > 0 ? level : 0, dur);
  }
  if (!any)
    mg_stats_dist_release(&d);
  o = mg_perf_guidellm_summary(&d, (long long)count);
  mg_stats_dist_release(&d);
  free(a);
  return o;
}

/* One benchmark. */

enum {
  G_LATENCY,
  G_TTFT,
  G_TTFOT,
  G_ITL,
  G_TPOT,
  G_PROMPT,
  G_OUTPUT,
  G_TOTAL,
  G_ITER,
  G_OUT_PER_ITER,
  G_ITER_PER_ITER,
  G_NVAL,
};

static const char *const gval_names[G_NVAL] = {
  "request_latency",
  "time_to_first_token_ms",
  "time_to_first_output_token_ms",
  "inter_token_latency_ms",
  "time_per_output_token_ms",
  "prompt_token_count",
  "output_token_count",
  "total_token_count",
  "request_streaming_iterations_count",
  "output_tokens_per_iteration",
  "iter_tokens_per_iteration",
};

/* GuideLLM's output count: usage, else the requested length (successful
 * requests only), else token iterations. */
static long long gl_output(const struct mg_perf_rec *r)
{
  if (r->usage_output >= 0)
    return r->usage_output;
  if (r->status == MG_PERF_SUCCESSFUL && r->req_output > 0)
    return r->req_output;
  return r->iterations;
}

static long long gl_prompt(const struct mg_perf_rec *r)
{
  return r->usage_prompt >= 0 ? r->usage_prompt : r->data_prompt;
}

static double rel(long long t, long long t0)
{
  return (double)(t - t0) / 1e9;
}

/* Growing (time, weight) lists. */
struct evs {
  double *t, *w;
  size_t n, cap;
};

static void ev_add(struct evs *e, double t, double w)
{
  if (e->n == e->cap) {
    e->cap = e->cap ? e->cap * 2 : 64;
    e->t = mg_xreallocarray(e->t, e->cap, sizeof(double));
    e->w = mg_xreallocarray(e->w, e->cap, sizeof(double));
  }
  e->t[e->n] = t;
  e->w[e->n++] = w;
}

static void ev_free(struct evs *e)
{
  free(e->t);
  free(e->w);
}

/* The token events of one request: the first token at its time, the rest
 * spread over linspace(first, last, iterations)[1:]; prompt tokens at the
 * first token. */
static void token_events(const struct mg_perf_rec *r, long long t0,
                         struct evs *out_ev, struct evs *in_ev,
                         struct evs *all_ev)
{
  long long out = gl_output(r), in = gl_prompt(r);
  double first, last;

  if (!r->t_first_tok)
    return;
  first = rel(r->t_first_tok, t0);
  last = rel(r->t_last_tok, t0);
  if (in > 0) {
    ev_add(in_ev, first, (double)in);
    ev_add(all_ev, first, (double)in);
  }
  if (out <= 0)
    return;
  ev_add(out_ev, first, 1);
  ev_add(all_ev, first, 1);
  if (out == 1)
    return;
  if (r->iterations <= 1) {
    ev_add(out_ev, last, (double)(out - 1));
    ev_add(all_ev, last, (double)(out - 1));
    return;
  }
  for (int k = 1; k < r->iterations; k++) {
    double tk = first + (last - first) * k / (r->iterations - 1);
    double wk = (double)(out - 1) / (r->iterations - 1);
    ev_add(out_ev, tk, wk);
    ev_add(all_ev, tk, wk);
  }
}

static struct mg_json *status_summary(struct mg_stats_dist *d)
{
  struct mg_json *o = mg_json_new_object();
  struct mg_stats_dist all = MG_STATS_DIST_INIT;
  static const char *const names[3] = { "successful", "incomplete", "errored" };

  for (int k = 0; k < 3; k++) {
    mg_stats_dist_merge(&all, &d[k]);
    mg_json_set(o, names[k], mg_perf_guidellm_summary(&d[k], -1));
  }
  mg_json_set(o, "total", mg_perf_guidellm_summary(&all, -1));
  mg_stats_dist_release(&all);
  return o;
}

static struct mg_json *status_rate(struct evs *e, double ws, double we)
{
  struct mg_json *o = mg_json_new_object();
  struct evs all = { NULL, NULL, 0, 0 };
  static const char *const names[3] = { "successful", "incomplete", "errored" };

  for (int k = 0; k < 3; k++) {
    for (size_t i = 0; i < e[k].n; i++)
      ev_add(&all, e[k].t[i], e[k].w[i]);
    mg_json_set(o, names[k],
                mg_perf_guidellm_rate(e[k].t, e[k].w, e[k].n, ws, we));
  }
  mg_json_set(o, "total", mg_perf_guidellm_rate(all.t, all.w, all.n, ws, we));
  ev_free(&all);
  return o;
}

static struct mg_json *status_concurrency(struct evs *iv, double ws, double we)
{
  struct mg_json *o = mg_json_new_object();
  struct evs all = { NULL, NULL, 0, 0 };
  static const char *const names[3] = { "successful", "incomplete", "errored" };

  /* An interval is kept as (start in t, end in w). */
  for (int k = 0; k < 3; k++) {
    for (size_t i = 0; i < iv[k].n; i++)
      ev_add(&all, iv[k].t[i], iv[k].w[i]);
    mg_json_set(
        o, names[k],
        mg_perf_guidellm_concurrency(iv[k].t, iv[k].w, iv[k].n, ws, we));
  }
  mg_json_set(o, "total",
              mg_perf_guidellm_concurrency(all.t, all.w, all.n, ws, we));
  ev_free(&all);
  return o;
}

static void set_time(struct mg_json *o, const char *k, long long t,
                     double epoch0, long long t0)
{
  if (t)
    mg_json_set_number(o, k, epoch0 + rel(t, t0));
  else
    mg_json_set(o, k, mg_json_new_null());
}

static void set_maybe(struct mg_json *o, const char *k, int have, double v)
{
  if (have)
    mg_json_set_number(o, k, v);
  else
    mg_json_set(o, k, mg_json_new_null());
}

static const char *info_status(const struct mg_perf_rec *r)
{
  return r->status == MG_PERF_SUCCESSFUL   ? "completed"
         : r->status == MG_PERF_INCOMPLETE ? "cancelled"
                                           : "errored";
}

/* GuideLLM's GenerativeRequestStats for one request. */
static struct mg_json *request_stats(const struct mg_perf_rec *r,
                                     const struct mg_perf_bench *b, int index,
                                     const char *run_id, double epoch0)
{
  struct mg_json *o = mg_json_new_object(), *info, *tm, *im, *om;
  long long t0 = b->t_start, out = gl_output(r), in = gl_prompt(r);
  double lat = (double)(r->t_end - r->t_sent) / 1e9;
  char id[96];

  (void)snprintf(id, sizeof(id), "%s-%d-%lld", run_id, index, r->idx);
  mg_json_set_string(o, "request_id", id);
  mg_json_set(o, "response_id", mg_json_new_null());
  mg_json_set(o, "request_args", mg_json_new_null());
  mg_json_set(o, "output", mg_json_new_null());
  mg_json_set(o, "reasoning_output", mg_json_new_null());
  mg_json_set(o, "tool_calls", mg_json_new_null());
  info = mg_json_new_object();
  mg_json_set_string(info, "status", info_status(r));
  if (r->status == MG_PERF_SUCCESSFUL) {
    mg_json_set(info, "error", mg_json_new_null());
  } else {
    char *msg = mg_xasprintf("%s%s%s", r->reason ? r->reason : "unknown",
                             r->detail ? ": " : "", r->detail ? r->detail : "");
    mg_json_set_string(info, "error", msg);
    free(msg);
  }
  mg_json_set(info, "traceback", mg_json_new_null());
  tm = mg_json_new_object();
  set_time(tm, "targeted_start", r->t_sched, epoch0, t0);
  set_time(tm, "queued", 0, epoch0, t0);
  set_time(tm, "dequeued", 0, epoch0, t0);
  set_time(tm, "scheduled_at", r->t_sched, epoch0, t0);
  set_time(tm, "resolve_start", r->t_sent, epoch0, t0);
  set_time(tm, "request_start", r->t_sent, epoch0, t0);
  set_time(tm, "first_request_iteration", r->nev ? r->ev_t[0] : 0, epoch0, t0);
  set_time(tm, "first_token_iteration", r->t_first_tok, epoch0, t0);
  set_time(tm, "first_output_token_iteration", r->t_first_out, epoch0, t0);
  set_time(tm, "last_token_iteration", r->t_last_tok, epoch0, t0);
  set_time(tm, "last_request_iteration", r->nev ? r->ev_t[r->nev - 1] : 0,
           epoch0, t0);
  mg_json_set_number(tm, "request_iterations", r->nev);
  mg_json_set_number(tm, "token_iterations", r->iterations);
  set_time(tm, "request_end", r->t_end, epoch0, t0);
  set_time(tm, "resolve_end", r->t_end, epoch0, t0);
  set_time(tm, "finalized", r->t_end, epoch0, t0);
  mg_json_set(info, "timings", tm);
  mg_json_set(o, "info", info);
  im = mg_json_new_object();
  set_maybe(im, "text_tokens", in >= 0, (double)in);
  mg_json_set(o, "input_metrics", im);
  om = mg_json_new_object();
  mg_json_set_number(om, "text_tokens", (double)out);
  mg_json_set(o, "output_metrics", om);
  set_maybe(o, "prompt_tokens", in >= 0, (double)in);
  mg_json_set_number(o, "output_tokens", (double)out);
  set_maybe(o, "total_tokens", in >= 0, (double)(in + out));
  mg_json_set_number(o, "request_latency", lat);
  set_maybe(o, "time_to_first_token_ms", r->t_first_tok != 0,
            (double)(r->t_first_tok - r->t_sent) / 1e6);
  set_maybe(o, "time_to_first_output_token_ms", r->t_first_out != 0,
            (double)(r->t_first_out - r->t_sent) / 1e6);
  set_maybe(o, "inter_token_latency_ms", r->t_first_tok && out > 1,
            (double)(r->t_last_tok - r->t_first_tok) / 1e6
                / (double)(out > 1 ? out - 1 : 1));
  set_maybe(o, "time_per_output_token_ms", r->t_last_tok && out > 0,
            (double)(r->t_last_tok - r->t_sent) / 1e6
                / (double)(out > 0 ? out : 1));
  set_maybe(o, "tokens_per_second", lat > 0,
            (double)((in > 0 ? in : 0) + out) / (lat > 0 ? lat : 1));
  set_maybe(o, "output_tokens_per_second", lat > 0,
            (double)out / (lat > 0 ? lat : 1));
  return o;
}

static double epoch_offset(long long t0)
{
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9
         - (double)(mg_time_now_ns() - t0) / 1e9;
}

static struct mg_json *strategy_json(const struct mg_perf_profile *p)
{
  struct mg_json *s = mg_json_new_object();

  mg_json_set_string(s, "type_", mg_perf_sched_kind_name(p->kind));
  if (p->kind == MG_PERF_CONSTANT || p->kind == MG_PERF_POISSON
      || p->kind == MG_PERF_GAMMA)
    mg_json_set_number(s, "rate", p->rate);
  if (p->kind == MG_PERF_CONCURRENT)
    mg_json_set_number(s, "streams", p->streams);
  if (p->max_concurrency > 0)
    mg_json_set_number(s, "max_concurrency", p->max_concurrency);
  if (p->rampup_s > 0)
    mg_json_set_number(s, "rampup_duration", p->rampup_s);
  if (p->kind == MG_PERF_POISSON || p->kind == MG_PERF_GAMMA)
    mg_json_set_number(s, "random_seed", (double)p->seed);
  return s;
}

struct mg_json *
mg_perf_guidellm_benchmark(const struct mg_perf_bench *b, int index,
                           const struct mg_perf_guidellm_opts *o)
{
  struct mg_stats_dist d[G_NVAL][3];
  struct evs rps[3], conc[3], outev[3], inev[3], allev[3];
  struct mg_json *bm = mg_json_new_object(), *j, *m, *reqs, *lists[3];
  long long ws, we, t0 = b->t_start, kept[3] = { 0 }, made[3] = { 0 };
  long long first_sent = 0, last_end = 0, sampled[3] = { 0 };
  double epoch0 = epoch_offset(t0), rws, rwe, delay = 0, lat = 0;
  long long ndelay = 0;
  static const char *const names[3] = { "successful", "incomplete", "errored" };

  memset(rps, 0, sizeof(rps));
  memset(conc, 0, sizeof(conc));
  memset(outev, 0, sizeof(outev));
  memset(inev, 0, sizeof(inev));
  memset(allev, 0, sizeof(allev));
  for (int i = 0; i < G_NVAL; i++)
    for (int k = 0; k < 3; k++)
      mg_stats_dist_init(&d[i][k]);
  for (int k = 0; k < 3; k++)
    lists[k] = mg_json_new_array();
  mg_perf_metrics_window(b, o->phase, &ws, &we);
  rws = rel(ws, t0);
  rwe = rel(we, t0);
  for (long long i = 0; i < b->n; i++) {
    const struct mg_perf_rec *r = mg_perf_bench_rec(b, i);
    int k = r->status == MG_PERF_SUCCESSFUL   ? 0
            : r->status == MG_PERF_INCOMPLETE ? 1
                                              : 2;
    long long out = gl_output(r), in = gl_prompt(r);
    made[k]++;
    if (!first_sent || r->t_sent < first_sent)
      first_sent = r->t_sent;
    if (r->t_end > last_end)
      last_end = r->t_end;
    delay += (double)(r->t_sent - r->t_sched) / 1e9;
    lat += (double)(r->t_end - r->t_sent) / 1e9;
    ndelay++;
    if (!(r->t_end >= ws && r->t_sent <= we))
      continue;
    kept[k]++;
    mg_stats_dist_add(&d[G_LATENCY][k], (double)(r->t_end - r->t_sent) / 1e9);
    if (r->t_first_tok)
      mg_stats_dist_add(&d[G_TTFT][k],
                        (double)(r->t_first_tok - r->t_sent) / 1e6);
    if (r->t_first_out)
      mg_stats_dist_add(&d[G_TTFOT][k],
                        (double)(r->t_first_out - r->t_sent) / 1e6);
    if (r->t_first_tok && out > 1)
      mg_stats_dist_addw(&d[G_ITL][k],
                         (double)(r->t_last_tok - r->t_first_tok) / 1e6
                             / (double)(out - 1),
                         (double)(out - 1));
    if (r->t_last_tok && out > 0)
      mg_stats_dist_addw(
          &d[G_TPOT][k],
          (double)(r->t_last_tok - r->t_sent) / 1e6 / (double)out, (double)out);
    if (in >= 0) {
      mg_stats_dist_add(&d[G_PROMPT][k], (double)in);
      mg_stats_dist_add(&d[G_TOTAL][k], (double)(in + out));
    }
    mg_stats_dist_add(&d[G_OUTPUT][k], (double)out);
    mg_stats_dist_add(&d[G_ITER][k], r->iterations);
    if (r->iterations > 0)
      mg_stats_dist_add(&d[G_OUT_PER_ITER][k], (double)out / r->iterations);
    if (r->iterations > 1)
      mg_stats_dist_add(&d[G_ITER_PER_ITER][k],
                        (double)(out - 1) / (r->iterations - 1));
    ev_add(&rps[k], rel(r->t_end, t0), 1);
    ev_add(&conc[k], rel(r->t_sent, t0), rel(r->t_end, t0));
    token_events(r, t0, &outev[k], &inev[k], &allev[k]);
    if (o->sample_size < 0 || sampled[k] < o->sample_size) {
      sampled[k]++;
      mg_json_append(lists[k], request_stats(r, b, index, o->run_id, epoch0));
    }
  }

  mg_json_set_string(bm, "type_", "generative_benchmark");
  j = mg_json_new_object();
  {
    char id[96];
    struct mg_json *x;
    (void)snprintf(id, sizeof(id), "%s-%d", o->run_id, index);
    mg_json_set_string(j, "id_", id);
    mg_json_set_string(j, "run_id", o->run_id);
    mg_json_set_number(j, "run_index", index);
    mg_json_set(j, "strategy", strategy_json(&b->profile));
    x = mg_json_new_object();
    if (o->phase->max_seconds > 0)
      mg_json_set_number(x, "max_seconds", o->phase->max_seconds);
    if (o->phase->max_requests > 0)
      mg_json_set_number(x, "max_requests", (double)o->phase->max_requests);
    mg_json_set(j, "constraints", x);
    if (o->sample_size < 0)
      mg_json_set(j, "sample_size", mg_json_new_null());
    else
      mg_json_set_number(j, "sample_size", (double)o->sample_size);
    mg_json_set_number(j, "warmup", o->phase->warmup);
    mg_json_set_number(j, "cooldown", o->phase->cooldown);
    mg_json_set_bool(j, "prefer_response_metrics", 1);
    x = mg_json_new_object();
    mg_json_set_string(x, "type_", mg_perf_sched_kind_name(b->profile.kind));
    mg_json_set(j, "profile", x);
    mg_json_set(j, "requests", mg_json_new_object());
    x = mg_json_new_object();
    mg_json_set_string(x, "type_", "openai_http");
    if (o->target)
      mg_json_set_string(x, "target", o->target);
    if (o->model)
      mg_json_set_string(x, "model", o->model);
    if (o->api)
      mg_json_set_string(x, "request_format",
                         strcmp(o->api, "chat") == 0 ? "/v1/chat/completions"
                                                     : "/v1/completions");
    mg_json_set(j, "backend", x);
    x = mg_json_new_object();
    mg_json_set_string(x, "type_", "non_distributed");
    mg_json_set(j, "environment", x);
  }
  mg_json_set(bm, "config", j);

  j = mg_json_new_object();
  mg_json_set_number(j, "node_id", 0);
  mg_json_set_number(j, "num_processes", 1);
  set_time(j, "start_time", t0, epoch0, t0);
  set_time(j, "end_time", b->t_end, epoch0, t0);
  set_time(j, "end_queuing_time", b->t_end, epoch0, t0);
  set_time(j, "end_processing_time", b->t_end, epoch0, t0);
  {
    struct mg_json *x = mg_json_new_object();
    mg_json_set_string(x, "reason",
                       b->stop_reason ? b->stop_reason : "unknown");
    mg_json_set(j, "end_queuing_constraints", x);
  }
  mg_json_set_number(j, "created_requests", (double)b->n);
  mg_json_set_number(j, "queued_requests", 0);
  mg_json_set_number(j, "pending_requests", 0);
  mg_json_set_number(j, "processing_requests", 0);
  mg_json_set_number(j, "processed_requests", (double)b->n);
  mg_json_set_number(j, "successful_requests", (double)made[0]);
  mg_json_set_number(j, "errored_requests", (double)made[2]);
  mg_json_set_number(j, "cancelled_requests", (double)made[1]);
  mg_json_set(bm, "scheduler_state", j);

  j = mg_json_new_object();
  set_time(j, "start_time", t0, epoch0, t0);
  set_time(j, "request_start_time", first_sent, epoch0, t0);
  set_time(j, "measure_start_time", ws, epoch0, t0);
  set_time(j, "measure_end_time", we, epoch0, t0);
  set_time(j, "request_end_time", last_end, epoch0, t0);
  set_time(j, "end_time", b->t_end, epoch0, t0);
  {
    struct mg_json *x = mg_json_new_object();
    for (int k = 0; k < 3; k++)
      mg_json_set_number(x, names[k], (double)made[k]);
    mg_json_set_number(x, "total", (double)(made[0] + made[1] + made[2]));
    mg_json_set(j, "requests_made", x);
  }
  /* perf-run has no queue or worker hand-off: those averages are -1, as
   * GuideLLM reports a mean it does not have. */
  mg_json_set_number(j, "queued_time_avg", -1);
  mg_json_set_number(j, "resolve_start_delay_avg", -1);
  mg_json_set_number(j, "resolve_targeted_start_delay_avg",
                     ndelay ? delay / (double)ndelay : -1);
  mg_json_set_number(j, "request_start_delay_avg", -1);
  mg_json_set_number(j, "request_targeted_start_delay_avg",
                     ndelay ? delay / (double)ndelay : -1);
  mg_json_set_number(j, "request_time_avg", ndelay ? lat / (double)ndelay : -1);
  mg_json_set_number(j, "resolve_end_delay_avg", -1);
  mg_json_set_number(j, "resolve_time_avg", ndelay ? lat / (double)ndelay : -1);
  mg_json_set_number(j, "finalized_delay_avg", -1);
  mg_json_set_number(j, "processed_delay_avg", -1);
  mg_json_set(bm, "scheduler_metrics", j);

  m = mg_json_new_object();
  j = mg_json_new_object();
  for (int k = 0; k < 3; k++)
    mg_json_set_number(j, names[k], (double)kept[k]);
  mg_json_set_number(j, "total", (double)(kept[0] + kept[1] + kept[2]));
  mg_json_set(m, "request_totals", j);
  mg_json_set(m, "requests_per_second", status_rate(rps, rws, rwe));
  mg_json_set(m, "request_concurrency", status_concurrency(conc, rws, rwe));
  for (int i = 0; i < G_NVAL; i++)
    mg_json_set(m, gval_names[i], status_summary(d[i]));
  mg_json_set(m, "prompt_tokens_per_second", status_rate(inev, rws, rwe));
  mg_json_set(m, "output_tokens_per_second", status_rate(outev, rws, rwe));
  mg_json_set(m, "tokens_per_second", status_rate(allev, rws, rwe));
  mg_json_set(bm, "metrics", m);

  reqs = mg_json_new_object();
  for (int k = 0; k < 3; k++)
    mg_json_set(reqs, names[k], lists[k]);
  mg_json_set(reqs, "total", mg_json_new_null());
  mg_json_set(bm, "requests", reqs);
  mg_json_set_number(bm, "start_time", epoch0 + rws);
  mg_json_set_number(bm, "end_time", epoch0 + rwe);
  mg_json_set_number(bm, "duration", rwe - rws);
  mg_json_set_number(bm, "warmup_duration",
                     first_sent ? rws - rel(first_sent, t0) : 0);
  mg_json_set_number(bm, "cooldown_duration",
                     last_end ? rel(last_end, t0) - rwe : 0);

  for (int i = 0; i < G_NVAL; i++)
    for (int k = 0; k < 3; k++)
      mg_stats_dist_release(&d[i][k]);
  for (int k = 0; k < 3; k++) {
    ev_free(&rps[k]);
    ev_free(&conc[k]);
    ev_free(&outev[k]);
    ev_free(&inev[k]);
    ev_free(&allev[k]);
  }
  return bm;
}

struct mg_json *mg_perf_guidellm_report(struct mg_json *benchmarks,
                                        const struct mg_json *spec,
                                        const struct mg_json *labels)
{
  struct mg_json *r = mg_json_new_object(), *md = mg_json_new_object(), *c;
  struct utsname u;
  char plat[400] = "unknown";

  if (uname(&u) == 0)
    (void)snprintf(plat, sizeof(plat), "%s-%s-%s", u.sysname, u.release,
                   u.machine);
  mg_json_set_number(md, "version", 2);
  mg_json_set_string(md, "guidellm_version", "perf-run " MG_VERSION);
  mg_json_set_string(md, "python_version", "none (perf-run is C)");
  mg_json_set_string(md, "platform", plat);
  mg_json_set_string(md, "generator", "perf-run");
  mg_json_set(r, "metadata", md);
  c = mg_json_new_object();
  md = mg_json_new_object();
  mg_json_set(md, "labels",
              labels ? mg_json_dup(labels) : mg_json_new_object());
  mg_json_set(c, "metadata", md);
  mg_json_set(c, "spec", spec ? mg_json_dup(spec) : mg_json_new_object());
  mg_json_set(c, "benchmarks", mg_json_new_array());
  mg_json_set(r, "config", c);
  mg_json_set(r, "benchmarks", benchmarks);
  return r;
}
