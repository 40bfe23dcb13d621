#include "perf/mg_perf_metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mg_buf.h"
#include "mg_json.h"
#include "mg_mem.h"
#include "mg_time.h"
#include "perf/mg_perf_bench.h"
#include "perf/mg_perf_osd.h"

enum {
  M_LATENCY,
  M_TTFT,
  M_TTFOT,
  M_ITL,
  M_TPOT,
  M_TPOT_V03,
  M_VLLM_TTFT,
  M_VLLM_E2EL,
  M_VLLM_TPOT,
  M_VLLM_ITL,
  M_LAT_SCHED,
  M_TTFT_SCHED,
  M_SCHED_DELAY,
  M_PROMPT,
  M_OUTPUT,
  M_TOTAL,
  M_ITER,
  M_OUT_PER_S,
  NMETRIC,
};

static const char *const metric_names[NMETRIC] = {
  "latency_ms",
  "ttft_ms",
  "ttfot_ms",
  "itl_ms",
  "tpot_ms",
  "tpot_v03_ms",
  "vllm_ttft_ms",
  "vllm_e2el_ms",
  "vllm_tpot_ms",
  "vllm_itl_ms",
  "latency_from_scheduled_ms",
  "ttft_from_scheduled_ms",
  "schedule_delay_ms",
  "prompt_tokens",
  "output_tokens",
  "total_tokens",
  "streaming_iterations",
  "output_tokens_per_s",
};

#define B_SUCCESSFUL MG_PERF_METRICS_SUCCESSFUL
#define B_INCOMPLETE MG_PERF_METRICS_INCOMPLETE
#define B_ERRORED MG_PERF_METRICS_ERRORED
#define B_TOTAL MG_PERF_METRICS_TOTAL
#define NBUCKET MG_PERF_METRICS_NBUCKET
static const char *const bucket_names[NBUCKET] = { "successful", "incomplete",
                                                   "errored", "total" };

_Static_assert(MG_PERF_METRICS_EV_CHOICES == MG_PERF_EV_CHOICES,
               "one flag for vLLM's chunks");

struct mg_perf_metrics {
  struct mg_stats_dist d[NBUCKET][NMETRIC];
  struct mg_stats_dist delay; /* every request's, window or not */
  long long cnt[NBUCKET], all[NBUCKET];
  struct mg_json *errors, *incomplete; /* counts by reason */
};

static double ms(long long a, long long b)
{
  return (double)(a - b) / 1e6;
}

struct mg_perf_metrics *mg_perf_metrics_new(void)
{
  struct mg_perf_metrics *m = mg_xcalloc(1, sizeof(*m));

  for (int k = 0; k < NBUCKET; k++)
    for (int i = 0; i < NMETRIC; i++)
      mg_stats_dist_init(&m->d[k][i]);
  mg_stats_dist_init(&m->delay);
  m->errors = mg_json_new_object();
  m->incomplete = mg_json_new_object();
  return m;
}

void mg_perf_metrics_free(struct mg_perf_metrics *m)
{
  if (!m)
    return;
  for (int k = 0; k < NBUCKET; k++)
    for (int i = 0; i < NMETRIC; i++)
      mg_stats_dist_release(&m->d[k][i]);
  mg_stats_dist_release(&m->delay);
  mg_json_free(m->errors);
  mg_json_free(m->incomplete);
  free(m);
}

/* The metrics an objective (--slo) also tests. */
static double row_latency(const struct mg_perf_metrics_row *r)
{
  return ms(r->t_end, r->t_sent);
}

static int row_ttft(const struct mg_perf_metrics_row *r, double *v)
{
  *v = r->t_first_tok ? ms(r->t_first_tok, r->t_sent) : 0;
  return r->t_first_tok != 0;
}

static int row_itl(const struct mg_perf_metrics_row *r, double *v)
{
  long long out = r->output_tokens;

  *v = r->t_first_tok && out > 1
           ? ms(r->t_last_tok, r->t_first_tok) / (double)(out - 1)
           : 0;
  return r->t_first_tok && out > 1;
}

/* Every per-request metric of docs/metrics.md, from one request. */
static void add_row(struct mg_stats_dist *d,
                    const struct mg_perf_metrics_row *r)
{
  long long out = r->output_tokens, in = r->prompt_tokens;
  double lat = row_latency(r), v;

  mg_stats_dist_add(&d[M_LATENCY], lat);
  mg_stats_dist_add(&d[M_LAT_SCHED], ms(r->t_end, r->t_sched));
  mg_stats_dist_add(&d[M_SCHED_DELAY], ms(r->t_sent, r->t_sched));
  if (row_ttft(r, &v)) {
    mg_stats_dist_add(&d[M_TTFT], v);
    mg_stats_dist_add(&d[M_TTFT_SCHED], ms(r->t_first_tok, r->t_sched));
  }
  if (r->t_first_out)
    mg_stats_dist_add(&d[M_TTFOT], ms(r->t_first_out, r->t_sent));
  if (row_itl(r, &v))
    mg_stats_dist_addw(&d[M_ITL], v, (double)(out - 1));
  if (r->t_last_tok && out > 0) {
    mg_stats_dist_addw(&d[M_TPOT], ms(r->t_last_tok, r->t_sent) / (double)out,
                       (double)out);
    mg_stats_dist_addw(&d[M_TPOT_V03],
                       ms(r->t_last_tok, r->t_first_tok) / (double)out,
                       (double)out);
  }
  if (r->t_vllm_first) {
    double vt = ms(r->t_vllm_first, r->t_sent);
    double ve = ms(r->t_vllm_last, r->t_sent);
    long long prev = 0;
    mg_stats_dist_add(&d[M_VLLM_TTFT], vt);
    mg_stats_dist_add(&d[M_VLLM_E2EL], ve);
    if (out > 1)
      mg_stats_dist_add(&d[M_VLLM_TPOT], (ve - vt) / (double)(out - 1));
    for (int i = 0; i < r->nev; i++) {
      if (!(r->ev_f[i] & MG_PERF_METRICS_EV_CHOICES))
        continue;
      if (prev)
        mg_stats_dist_add(&d[M_VLLM_ITL], ms(r->ev_t[i], prev));
      prev = r->ev_t[i];
    }
  }
  if (in >= 0)
    mg_stats_dist_add(&d[M_PROMPT], (double)in);
  mg_stats_dist_add(&d[M_OUTPUT], (double)out);
  if (in >= 0)
    mg_stats_dist_add(&d[M_TOTAL], (double)(in + out));
  mg_stats_dist_add(&d[M_ITER], (double)r->iterations);
  if (lat > 0)
    mg_stats_dist_add(&d[M_OUT_PER_S], (double)out / (lat / 1e3));
}

/* Counts by reason, in order of first appearance. */
static void count_reason(struct mg_json *o, const char *reason)
{
  struct mg_json *v = mg_json_get(o, reason ? reason : "unknown");

  if (v)
    mg_json_set_number(o, reason ? reason : "unknown", mg_json_number(v) + 1);
  else
    mg_json_set_number(o, reason ? reason : "unknown", 1);
}

void mg_perf_metrics_add(struct mg_perf_metrics *m,
                         const struct mg_perf_metrics_row *r)
{
  int k = r->bucket == B_SUCCESSFUL || r->bucket == B_INCOMPLETE
              ? (int)r->bucket
              : B_ERRORED;

  m->all[k]++;
  m->all[B_TOTAL]++;
  mg_stats_dist_add(&m->delay, ms(r->t_sent, r->t_sched));
  if (!r->in_window)
    return;
  m->cnt[k]++;
  m->cnt[B_TOTAL]++;
  add_row(m->d[k], r);
  if (k == B_ERRORED)
    count_reason(m->errors, r->reason);
  else if (k == B_INCOMPLETE)
    count_reason(m->incomplete, r->reason);
}

/* A time of a samples line in ns (0: absent), to the file's precision. */
static long long line_ns(const struct mg_json *l, const char *k)
{
  struct mg_json *v = mg_json_get(l, k);

  return mg_json_is_number(v) ? llround(mg_json_number(v) * 1e6) : 0;
}

void mg_perf_metrics_add_sample(struct mg_perf_metrics *m,
                                const struct mg_json *line)
{
  const char *st = mg_json_string(mg_json_get(line, "status"));
  const struct mg_json *ev = mg_json_get(line, "events");
  struct mg_json *pv = mg_json_get(line, "prompt_tokens");
  struct mg_perf_metrics_row r = { 0 };
  size_t n = mg_json_is_array(ev) ? mg_json_size(ev) : 0, i = 0;
  long long *t = mg_xreallocarray(NULL, n + 1, sizeof(*t));
  unsigned char *f = mg_xreallocarray(NULL, n + 1, 1);

  r.bucket = st && strcmp(st, "successful") == 0   ? B_SUCCESSFUL
             : st && strcmp(st, "incomplete") == 0 ? B_INCOMPLETE
                                                   : B_ERRORED;
  r.reason = mg_json_string(mg_json_get(line, "reason"));
  r.in_window = mg_json_bool(mg_json_get(line, "in_window"));
  r.t_sched = line_ns(line, "scheduled");
  r.t_sent = line_ns(line, "sent");
  r.t_first_tok = line_ns(line, "first_token");
  r.t_first_out = line_ns(line, "first_output_token");
  r.t_last_tok = line_ns(line, "last_token");
  r.t_end = line_ns(line, "end");
  r.t_vllm_first = line_ns(line, "vllm_first");
  r.t_vllm_last = line_ns(line, "vllm_last");
  r.prompt_tokens = mg_json_is_number(pv) ? (long long)mg_json_number(pv) : -1;
  r.output_tokens =
      (long long)mg_json_number(mg_json_get(line, "output_tokens"));
  r.iterations = (long long)mg_json_number(mg_json_get(line, "iterations"));
  for (const struct mg_json *e = n ? mg_json_first(ev) : NULL; e && i < n;
       e = mg_json_next(e), i++) {
    t[i] = llround(mg_json_number(mg_json_at(e, 0)) * 1e6);
    f[i] = (unsigned char)mg_json_number(mg_json_at(e, 1));
  }
  r.ev_t = t;
  r.ev_f = f;
  r.nev = (int)i;
  mg_perf_metrics_add(m, &r);
  free(t);
  free(f);
}

long long mg_perf_metrics_count(const struct mg_perf_metrics *m,
                                enum mg_perf_metrics_bucket b, int all)
{
  if ((int)b < 0 || b >= NBUCKET)
    return 0;
  return all ? m->all[b] : m->cnt[b];
}

void mg_perf_metrics_requests(const struct mg_perf_metrics *m,
                              struct mg_json *requests)
{
  struct mg_json *a = mg_json_new_object();

  for (int k = 0; k < NBUCKET; k++)
    mg_json_set_number(requests, bucket_names[k], (double)m->cnt[k]);
  mg_json_set_number(requests, "outside_window",
                     (double)(m->all[B_TOTAL] - m->cnt[B_TOTAL]));
  mg_json_set(requests, "errors", mg_json_dup(m->errors));
  mg_json_set(requests, "incomplete_reasons", mg_json_dup(m->incomplete));
  for (int k = 0; k < NBUCKET; k++)
    mg_json_set_number(a, bucket_names[k], (double)m->all[k]);
  mg_json_set(requests, "all", a);
}

struct mg_json *mg_perf_metrics_dists(struct mg_perf_metrics *m,
                                      enum mg_stats_pct method, int hist)
{
  struct mg_json *j = mg_json_new_object();
  int only = -1;

  /* The total bucket: a copy of the only non-empty one, else the union. */
  for (int k = 0; k < B_TOTAL; k++)
    if (m->cnt[k] && m->cnt[k] == m->cnt[B_TOTAL])
      only = k;
  for (int i = 0; i < NMETRIC; i++) {
    mg_stats_dist_release(&m->d[B_TOTAL][i]);
    mg_stats_dist_init(&m->d[B_TOTAL][i]);
    for (int k = 0; only < 0 && k < B_TOTAL; k++)
      mg_stats_dist_merge(&m->d[B_TOTAL][i], &m->d[k][i]);
  }
  for (int k = 0; k < NBUCKET; k++) {
    struct mg_json *bk;

    if (k == B_TOTAL && only >= 0) {
      mg_json_set(j, bucket_names[k],
                  mg_json_dup(mg_json_get(j, bucket_names[only])));
      continue;
    }
    bk = mg_json_new_object();
    for (int i = 0; i < NMETRIC; i++) {
      /* Weighted metrics always use GuideLLM's weighted nearest rank. */
      enum mg_stats_pct meth =
          m->d[k][i].w ? MG_STATS_PCT_NEAREST_RANK : method;
      if (m->d[k][i].n == 0)
        continue;
      mg_json_set(bk, metric_names[i],
                  mg_stats_dist_json(&m->d[k][i], meth, hist));
    }
    mg_json_set(j, bucket_names[k], bk);
  }
  return j;
}

struct mg_json *mg_perf_metrics_delay(struct mg_perf_metrics *m,
                                      enum mg_stats_pct method, int hist)
{
  return mg_stats_dist_json(&m->delay, method, hist);
}

/* ---- one benchmark's entry --------------------------------------------- */

/* Output tokens: server usage, else the text counted with the tokenizer,
 * else token-bearing events. */
static long long out_tokens(const struct mg_perf_rec *r)
{
  if (r->usage_output >= 0)
    return r->usage_output;
  return r->text_counted ? r->text_tokens : r->iterations;
}

static long long prompt_tokens(const struct mg_perf_rec *r)
{
  return r->usage_prompt >= 0 ? r->usage_prompt : r->data_prompt;
}

static int cmp_ll(const void *a, const void *b)
{
  long long x = *(const long long *)a, y = *(const long long *)b;
  return x < y ? -1 : x > y;
}

void mg_perf_metrics_window(const struct mg_perf_bench *b,
                            const struct mg_perf_phase_opts *o, long long *ws,
                            long long *we)
{
  long long first = 0, last = 0;
  int by_time = o->max_seconds > 0;

  for (long long i = 0; i < b->n; i++) {
    const struct mg_perf_rec *r = mg_perf_bench_rec(b, i);
    if (!first || r->t_sent < first)
      first = r->t_sent;
    if (r->t_end > last)
      last = r->t_end;
  }
  *ws = first;
  *we = last;
  if (o->warmup <= 0 && o->cooldown <= 0)
    return;
  if (by_time) {
    double w = o->warmup < 1 ? o->warmup * o->max_seconds : o->warmup;
    double c = o->cooldown < 1 ? o->cooldown * o->max_seconds : o->cooldown;
    if (o->warmup > 0)
      *ws = b->t_start + (long long)(w * 1e9);
    if (o->cooldown > 0)
      *we = b->t_start + (long long)((o->max_seconds - c) * 1e9);
  } else {
    long long total = o->max_requests > 0 ? o->max_requests : b->n;
    long long nw =
        (long long)(o->warmup < 1 ? nearbyint(o->warmup * total) : o->warmup);
    long long nc = (long long)(o->cooldown < 1 ? nearbyint(o->cooldown * total)
                                               : o->cooldown);
    if (o->warmup > 0 && nw > 0 && nw < b->n)
      *ws = mg_perf_bench_rec(b, nw)->t_sent;
    if (o->cooldown > 0 && nc > 0 && nc < b->n) {
      long long *ends = mg_xreallocarray(NULL, (size_t)b->n, sizeof(long long));
      for (long long i = 0; i < b->n; i++)
        ends[i] = mg_perf_bench_rec(b, i)->t_end;
      qsort(ends, (size_t)b->n, sizeof(long long), cmp_ll);
      *we = ends[b->n - nc - 1];
      free(ends);
    }
  }
}

static int in_window(const struct mg_perf_rec *r, long long ws, long long we)
{
  return r->t_end >= ws && r->t_sent <= we;
}

/* The row of one measured request. */
static void rec_row(const struct mg_perf_rec *r, long long ws, long long we,
                    struct mg_perf_metrics_row *row)
{
  memset(row, 0, sizeof(*row));
  row->bucket = r->status == MG_PERF_SUCCESSFUL   ? MG_PERF_METRICS_SUCCESSFUL
                : r->status == MG_PERF_INCOMPLETE ? MG_PERF_METRICS_INCOMPLETE
                                                  : MG_PERF_METRICS_ERRORED;
  row->reason = r->reason;
  row->in_window = in_window(r, ws, we);
  row->t_sched = r->t_sched;
  row->t_sent = r->t_sent;
  row->t_first_tok = r->t_first_tok;
  row->t_first_out = r->t_first_out;
  row->t_last_tok = r->t_last_tok;
  row->t_end = r->t_end;
  row->t_vllm_first = r->t_vllm_first;
  row->t_vllm_last = r->t_vllm_last;
  row->prompt_tokens = prompt_tokens(r);
  row->output_tokens = out_tokens(r);
  row->iterations = r->iterations;
  row->ev_t = r->ev_t;
  row->ev_f = r->ev_f;
  row->nev = r->nev;
}

static int meets_slo(const struct mg_perf_metrics_row *r,
                     const struct mg_perf_slo *s)
{
  double v;

  if (s->ttft_ms > 0 && (!row_ttft(r, &v) || v > s->ttft_ms))
    return 0;
  if (s->itl_ms > 0 && row_itl(r, &v) && v > s->itl_ms)
    return 0;
  if (s->e2e_ms > 0 && row_latency(r) > s->e2e_ms)
    return 0;
  return 1;
}

static double tidy(double v)
{
  if (!isfinite(v))
    return 0;
  return round(v * 1e6) / 1e6;
}

static double secs(long long a, long long b)
{
  return (double)(a - b) / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

struct mg_json *mg_perf_metrics_json(const struct mg_perf_bench *b, int id,
                                     const struct mg_perf_metrics_opts *o)
{
  struct mg_perf_metrics *acc = mg_perf_metrics_new();
  struct mg_stats_dist conc = MG_STATS_DIST_INIT, rps = MG_STATS_DIST_INIT;
  struct mg_json *run = mg_json_new_object(), *j;
  long long ws, we, cnt[NBUCKET], all_sent;
  long long first_sent = 0, last_sent = 0, last_end = 0, good = 0;
  long long in_tok = 0, out_tok = 0, out_all = 0, events = 0, coal = 0;
  double *st, *en, *ends, *ones, wdur, vdur;
  size_t nk = 0, ne = 0;
  int peak = 0;
  const struct mg_perf_profile *p = &b->profile;

  mg_perf_metrics_window(b, &o->phase, &ws, &we);
  wdur = secs(we, ws);
  st = mg_xreallocarray(NULL, (size_t)b->n + 1, sizeof(double));
  en = mg_xreallocarray(NULL, (size_t)b->n + 1, sizeof(double));
  ends = mg_xreallocarray(NULL, (size_t)b->n + 1, sizeof(double));
  ones = mg_xreallocarray(NULL, (size_t)b->n + 1, sizeof(double));
  for (long long i = 0; i < b->n; i++) {
    const struct mg_perf_rec *r = mg_perf_bench_rec(b, i);
    struct mg_perf_metrics_row row;

    rec_row(r, ws, we, &row);
    mg_perf_metrics_add(acc, &row);
    if (!first_sent || r->t_sent < first_sent)
      first_sent = r->t_sent;
    if (r->t_sent > last_sent)
      last_sent = r->t_sent;
    if (!row.in_window)
      continue;
    st[nk] = secs(r->t_sent, ws);
    en[nk++] = secs(r->t_end, ws);
    events += r->nev;
    coal += r->coalesced;
    out_all += out_tokens(r);
    if (row.bucket == MG_PERF_METRICS_SUCCESSFUL) {
      if (r->t_end > last_end)
        last_end = r->t_end;
      in_tok += prompt_tokens(r) > 0 ? prompt_tokens(r) : 0;
      out_tok += out_tokens(r);
      if (r->t_end <= we && r->t_end >= ws) {
        ends[ne] = secs(r->t_end, ws);
        ones[ne++] = 1;
      }
      if (meets_slo(&row, &o->slo))
        good++;
    }
  }
  for (int k = 0; k < NBUCKET; k++)
    cnt[k] = mg_perf_metrics_count(acc, (enum mg_perf_metrics_bucket)k, 0);
  all_sent = mg_perf_metrics_count(acc, MG_PERF_METRICS_TOTAL, 1);
  qsort(ends, ne, sizeof(double), cmp_double);
  mg_stats_rate_dist(ends, ones, ne, 0, wdur, &rps);
  mg_stats_concurrency(st, en, nk, 0, wdur, &conc, &peak);

  mg_json_set_number(run, "id", id);
  mg_json_set_string(run, "kind", mg_perf_sched_kind_name(p->kind));
  if (p->kind == MG_PERF_CONSTANT || p->kind == MG_PERF_POISSON
      || p->kind == MG_PERF_GAMMA)
    mg_json_set_number(run, "rate", p->rate);
  else if (p->kind == MG_PERF_CONCURRENT)
    mg_json_set_number(run, "rate", p->streams);
  else
    mg_json_set(run, "rate", mg_json_new_null());
  if (p->kind == MG_PERF_CONCURRENT)
    mg_json_set_number(run, "streams", p->streams);
  if (p->max_concurrency > 0)
    mg_json_set_number(run, "max_concurrency", p->max_concurrency);
  if (p->kind == MG_PERF_GAMMA)
    mg_json_set_number(run, "burstiness", p->burstiness);
  if (p->kind == MG_PERF_POISSON || p->kind == MG_PERF_GAMMA)
    mg_json_set_number(run, "seed", (double)p->seed);
  if (p->rampup_s > 0)
    mg_json_set_number(run, "rampup_s", p->rampup_s);
  mg_json_set_string(run, "stop_reason",
                     b->stop_reason ? b->stop_reason : "unknown");
  if (b->has_osd)
    mg_json_set(run, "over_saturation", mg_perf_osd_json(&b->osd));
  {
    /* The benchmark start on the wall clock, so that samples of several
     * processes (or a server's log) line up. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    mg_json_set_number(run, "start_unix",
                       round(((double)ts.tv_sec + (double)ts.tv_nsec / 1e9
                              - secs(mg_time_now_ns(), b->t_start))
                             * 1e6)
                           / 1e6);
  }
  mg_json_set_number(run, "duration_s", tidy(secs(b->t_end, b->t_start)));
  j = mg_json_new_object();
  mg_json_set_number(j, "start_s", tidy(secs(ws, b->t_start)));
  mg_json_set_number(j, "end_s", tidy(secs(we, b->t_start)));
  mg_json_set_number(j, "duration_s", tidy(wdur));
  mg_json_set(run, "window", j);

  j = mg_json_new_object();
  mg_perf_metrics_requests(acc, j);
  mg_json_set(run, "requests", j);

  /* Headline figures, also inside the sections below. */
  {
    struct mg_stats_summary cs, rs;
    double rate_mean;
    mg_stats_dist_summarize(&conc, MG_STATS_PCT_NEAREST_RANK, &cs);
    mg_stats_dist_summarize(&rps, MG_STATS_PCT_NEAREST_RANK, &rs);
    rate_mean = wdur > 0 ? (double)ne / wdur : 0;
    vdur = last_end ? secs(last_end, first_sent) : 0;
    mg_json_set_number(run, "requests_per_s", tidy(rate_mean));
    mg_json_set_number(run, "output_tokens_per_s",
                       tidy(wdur > 0 ? (double)out_tok / wdur : 0));
    mg_json_set_number(run, "concurrency_mean", tidy(cs.mean));

    j = mg_json_new_object();
    mg_json_set_number(j, "requests_per_s", tidy(rate_mean));
    mg_json_set(j, "requests_per_s_dist",
                mg_stats_dist_json(&rps, MG_STATS_PCT_NEAREST_RANK, 0));
    mg_json_set_number(j, "input_tokens_per_s",
                       tidy(wdur > 0 ? (double)in_tok / wdur : 0));
    mg_json_set_number(j, "output_tokens_per_s",
                       tidy(wdur > 0 ? (double)out_tok / wdur : 0));
    mg_json_set_number(j, "total_tokens_per_s",
                       tidy(wdur > 0 ? (double)(in_tok + out_tok) / wdur : 0));
    mg_json_set_number(j, "output_tokens_per_s_all_requests",
                       tidy(wdur > 0 ? (double)out_all / wdur : 0));
    mg_json_set_number(j, "vllm_duration_s", tidy(vdur));
    mg_json_set_number(j, "vllm_request_throughput",
                       tidy(vdur > 0 ? (double)cnt[B_SUCCESSFUL] / vdur : 0));
    mg_json_set_number(j, "vllm_output_throughput",
                       tidy(vdur > 0 ? (double)out_tok / vdur : 0));
    mg_json_set_number(j, "vllm_total_token_throughput",
                       tidy(vdur > 0 ? (double)(in_tok + out_tok) / vdur : 0));
    if (o->slo.ttft_ms > 0 || o->slo.itl_ms > 0 || o->slo.e2e_ms > 0) {
      mg_json_set_number(j, "goodput_requests_per_s",
                         tidy(wdur > 0 ? (double)good / wdur : 0));
      mg_json_set_number(
          j, "slo_attainment",
          tidy(cnt[B_SUCCESSFUL] + cnt[B_ERRORED] > 0
                   ? (double)good
                         / (double)(cnt[B_SUCCESSFUL] + cnt[B_ERRORED]
                                    + cnt[B_INCOMPLETE])
                   : 0));
    }
    mg_json_set(run, "throughput", j);

    j = mg_json_new_object();
    mg_json_set_number(j, "mean", tidy(cs.mean));
    mg_json_set_number(j, "median", tidy(cs.median));
    mg_json_set_number(j, "max", peak);
    mg_json_set(run, "concurrency", j);
  }

  j = mg_json_new_object();
  if (p->kind == MG_PERF_CONSTANT || p->kind == MG_PERF_POISSON
      || p->kind == MG_PERF_GAMMA)
    mg_json_set_number(j, "target_rate", p->rate);
  mg_json_set_number(j, "sent", (double)all_sent);
  mg_json_set_number(j, "achieved_rate",
                     tidy(last_sent > b->t_start
                              ? (double)all_sent / secs(last_sent, b->t_start)
                              : 0));
  mg_json_set(j, "delay_ms", mg_perf_metrics_delay(acc, o->method, o->hist));
  mg_json_set_number(j, "peak_in_flight", b->peak_inflight);
  mg_json_set_number(j, "warmed_connections", b->warmed);
  mg_json_set_number(j, "sse_events", (double)events);
  mg_json_set_number(j, "sse_events_coalesced", (double)coal);
  mg_json_set(run, "client", j);

  mg_json_set(run, "metrics", mg_perf_metrics_dists(acc, o->method, o->hist));

  mg_perf_metrics_free(acc);
  mg_stats_dist_release(&conc);
  mg_stats_dist_release(&rps);
  free(st);
  free(en);
  free(ends);
  free(ones);
  return run;
}

static void time_field(struct mg_buf *out, const char *name, long long t,
                       long long t0)
{
  if (t)
    (void)mg_buf_printf(out, NULL, ",\"%s\":%.3f", name, ms(t, t0));
}

int mg_perf_metrics_samples_jsonl(const struct mg_perf_bench *b, int id,
                                  const struct mg_perf_phase_opts *phase,
                                  struct mg_buf *out)
{
  static const char *const st[] = { "pending", "successful", "incomplete",
                                    "errored" };
  long long ws, we, t0 = b->t_start;

  mg_perf_metrics_window(b, phase, &ws, &we);
  for (long long i = 0; i < b->n; i++) {
    const struct mg_perf_rec *r = mg_perf_bench_rec(b, i);
    (void)mg_buf_printf(out, NULL, "{\"run\":%d,\"i\":%lld,\"status\":\"%s\"",
                        id, r->idx, st[r->status]);
    if (r->reason)
      (void)mg_buf_printf(out, NULL, ",\"reason\":\"%s\"", r->reason);
    if (r->detail) {
      (void)mg_buf_addstr(out, ",\"detail\":", NULL);
      (void)mg_json_quote(out, r->detail, strlen(r->detail), NULL);
    }
    (void)mg_buf_printf(out, NULL, ",\"item\":%lld,\"http_status\":%ld",
                        r->item, r->http_status);
    time_field(out, "scheduled", r->t_sched, t0);
    time_field(out, "sent", r->t_sent, t0);
    time_field(out, "headers", r->t_headers, t0);
    time_field(out, "first_token", r->t_first_tok, t0);
    time_field(out, "first_output_token", r->t_first_out, t0);
    time_field(out, "last_token", r->t_last_tok, t0);
    time_field(out, "end", r->t_end, t0);
    time_field(out, "vllm_first", r->t_vllm_first, t0);
    time_field(out, "vllm_last", r->t_vllm_last, t0);
    (void)mg_buf_printf(out, NULL,
                        ",\"prompt_tokens\":%lld,\"output_tokens\":%lld,"
                        "\"usage_prompt_tokens\":%lld,"
                        "\"usage_output_tokens\":%lld,\"iterations\":%d,"
                        "\"coalesced\":%d,\"in_window\":%s,\"events\":[",
                        prompt_tokens(r), out_tokens(r), r->usage_prompt,
                        r->usage_output, r->iterations, r->coalesced,
                        in_window(r, ws, we) ? "true" : "false");
    for (int e = 0; e < r->nev; e++)
      (void)mg_buf_printf(out, NULL, "%s[%.3f,%d]", e ? "," : "",
                          ms(r->ev_t[e], t0), r->ev_f[e]);
    if (mg_buf_addstr(out, "]}\n", NULL) < 0)
      return -1;
  }
  return 0;
}
