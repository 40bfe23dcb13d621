#include "publish/mg_results.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg_err.h"
#include "mg_json.h"
#include "mg_mem.h"
#include "publish/mg_propkey.h"

/*
 * Section readers. The perf and eval sections are owned by perf-run and
 * eval-run (docs/record-perf.md, docs/record-eval.md); this file reads
 * only the members listed in docs/record-registry.md and tolerates the
 * alternative names given there, so that it is the single place to adapt
 * when those sections change.
 */

/* ---- small helpers ------------------------------------------------------- */

static struct mg_json *get_any(const struct mg_json *o,
                               const char *const *names)
{
  for (; *names; names++) {
    struct mg_json *v = mg_json_get_path(o, *names);

    if (v && !mg_json_is_null(v))
      return v;
  }
  return NULL;
}

/* A number, or the mean of a distribution object. */
static int num_of(const struct mg_json *v, double *out)
{
  if (mg_json_is_number(v)) {
    *out = mg_json_number(v);
    return isfinite(*out) ? 0 : -1;
  }
  if (mg_json_is_object(v)) {
    struct mg_json *m = mg_json_get(v, "successful");

    if (mg_json_is_object(m))
      v = m;
    m = mg_json_get(v, "mean");
    if (mg_json_is_number(m) && isfinite(mg_json_number(m))) {
      *out = mg_json_number(m);
      return 0;
    }
  }
  return -1;
}

static void set_num_from(struct mg_json *dst, const char *key,
                         const struct mg_json *src, const char *const *names)
{
  double d;

  if (num_of(get_any(src, names), &d) == 0)
    mg_json_set_number(dst, key, d);
}

static const char *str_any(const struct mg_json *o, const char *const *names)
{
  struct mg_json *v = get_any(o, names);

  return mg_json_string(v);
}

/* ---- distributions ---------------------------------------------------------
 */

/* Percentile member names as perf-run writes them ("p50") and as GuideLLM
 * does ("p050"); q in percent. */
static const struct {
  const char *name;
  const char *alt;
  double q;
} pct_names[] = {
  { "p0.1", "p001", 0.1 }, { "p1", "p01", 1 },        { "p5", "p05", 5 },
  { "p10", "p10", 10 },    { "p25", "p25", 25 },      { "p50", "p50", 50 },
  { "p75", "p75", 75 },    { "p90", "p90", 90 },      { "p95", "p95", 95 },
  { "p99", "p99", 99 },    { "p99.9", "p999", 99.9 },
};

/*
 * A normalised DIST from a distribution object in perf-run's shape
 * ({"count", "mean", "std", "median", "percentiles": {...}, "hist"}) or
 * GuideLLM's status split ({"successful": {...}}). NULL if unusable.
 */
static struct mg_json *dist_of(const struct mg_json *d)
{
  struct mg_json *o, *pcts, *src, *v;
  double x;

  if (!mg_json_is_object(d))
    return NULL;
  src = mg_json_get(d, "successful");
  if (mg_json_is_object(src))
    d = src;
  pcts = mg_json_get(d, "percentiles");
  if (!mg_json_is_object(pcts) && !mg_json_get(d, "mean"))
    return NULL;
  o = mg_json_new_object();
  if (num_of(mg_json_get(d, "count"), &x) == 0)
    mg_json_set_number(o, "count", x);
  if (num_of(mg_json_get(d, "mean"), &x) == 0)
    mg_json_set_number(o, "mean", x);
  v = mg_json_get(d, "std");
  if (!v)
    v = mg_json_get(d, "std_dev");
  if (!v)
    v = mg_json_get(d, "stddev");
  if (num_of(v, &x) == 0)
    mg_json_set_number(o, "stddev", x);
  if (mg_json_is_object(pcts)) {
    struct mg_json *all = mg_json_new_object();

    for (size_t i = 0; i < sizeof(pct_names) / sizeof(pct_names[0]); i++) {
      v = mg_json_get(pcts, pct_names[i].name);
      if (!v)
        v = mg_json_get(pcts, pct_names[i].alt);
      if (num_of(v, &x) == 0)
        mg_json_set_number(all, pct_names[i].name, x);
    }
    if (!mg_json_get(all, "p50") && num_of(mg_json_get(d, "median"), &x) == 0)
      mg_json_set_number(all, "p50", x);
    for (size_t i = 0; i < sizeof(pct_names) / sizeof(pct_names[0]); i++) {
      const char *n = pct_names[i].name;

      if ((strcmp(n, "p50") == 0 || strcmp(n, "p90") == 0
           || strcmp(n, "p95") == 0 || strcmp(n, "p99") == 0)
          && mg_json_get(all, n))
        mg_json_set_number(o, n, mg_json_number(mg_json_get(all, n)));
    }
    mg_json_set(o, "percentiles", all);
  } else if (num_of(mg_json_get(d, "median"), &x) == 0) {
    mg_json_set_number(o, "p50", x);
  }
  v = mg_json_get(d, "hist");
  if (mg_json_is_object(v) && mg_json_is_array(mg_json_get(v, "bins")))
    mg_json_set(o, "hist", mg_json_dup(v));
  return o;
}

/* ---- perf -------------------------------------------------------------------
 */

static const char *const n_runs[] = { "runs", "benchmarks", NULL };
static const char *const n_kind[] = { "kind", "strategy.kind", "strategy.type",
                                      "profile.kind", NULL };
static const char *const n_rate[] = { "rate",
                                      "client.target_rate",
                                      "strategy.rate",
                                      "strategy.concurrency",
                                      "strategy.streams",
                                      "target_rate",
                                      NULL };
static const char *const n_ok[] = { "requests.successful",
                                    "request_totals.successful",
                                    "counts.successful", NULL };
static const char *const n_err[] = { "requests.errored",
                                     "request_totals.errored", "counts.errored",
                                     NULL };
static const char *const n_inc[] = { "requests.incomplete",
                                     "request_totals.incomplete",
                                     "counts.incomplete", NULL };
static const char *const n_rps[] = { "requests_per_s",
                                     "throughput.requests_per_s",
                                     "metrics.requests_per_s",
                                     "requests_per_second", NULL };
static const char *const n_otps[] = { "output_tokens_per_s",
                                      "throughput.output_tokens_per_s",
                                      "metrics.output_tokens_per_s",
                                      "output_tokens_per_second", NULL };
static const char *const n_conc[] = { "concurrency_mean", "concurrency.mean",
                                      "metrics.request_concurrency", NULL };
static const char *const n_good[] = { "throughput.goodput_requests_per_s",
                                      "goodput.requests_per_s", "goodput_rps",
                                      NULL };
/* perf-run keeps distributions per request status; the headline uses the
 * successful requests. */
static const char *const n_ttft[] = { "metrics.successful.ttft_ms",
                                      "metrics.ttft_ms",
                                      "metrics.time_to_first_token_ms",
                                      "ttft_ms", NULL };
static const char *const n_itl[] = { "metrics.successful.itl_ms",
                                     "metrics.itl_ms",
                                     "metrics.inter_token_latency_ms", "itl_ms",
                                     NULL };
static const char *const n_tpot[] = { "metrics.successful.tpot_ms",
                                      "metrics.tpot_ms",
                                      "metrics.time_per_output_token_ms",
                                      "tpot_ms", NULL };
static const char *const n_lat[] = { "metrics.successful.latency_ms",
                                     "metrics.latency_ms",
                                     "metrics.request_latency_ms", "latency_ms",
                                     NULL };
static const char *const n_label[] = { "dataset.label", "label",
                                       "config.data.label", NULL };
static const char *const n_op[] = { "operating_point",
                                    "summary.operating_point", NULL };
static const char *const n_msr[] = { "max_sustainable_rps",
                                     "summary.max_sustainable_rps", NULL };

static void add_dist(struct mg_json *run, const char *key,
                     const struct mg_json *src, const char *const *names)
{
  struct mg_json *d = dist_of(get_any(src, names));

  if (d)
    mg_json_set(run, key, d);
}

/* A readable run id: the record's string id, else kind@rate as perf-run
 * labels its steps. */
static void run_label(const struct mg_json *r, size_t idx, char *buf, size_t n)
{
  const char *id = mg_json_string(mg_json_get(r, "id"));
  const char *kind = str_any(r, n_kind);
  const struct mg_json *rate = get_any(r, n_rate);

  if (id)
    snprintf(buf, n, "%s", id);
  else if (kind && mg_json_is_number(rate))
    snprintf(buf, n, "%s@%g", kind, mg_json_number(rate));
  else if (kind)
    snprintf(buf, n, "%s", kind);
  else
    snprintf(buf, n, "run%zu", idx + 1);
}

static struct mg_json *perf_run(const struct mg_json *r, size_t idx)
{
  struct mg_json *o = mg_json_new_object(), *req = mg_json_new_object();
  const char *s;
  char idbuf[80];
  double x;

  run_label(r, idx, idbuf, sizeof(idbuf));
  mg_json_set_string(o, "id", idbuf);
  s = str_any(r, n_kind);
  if (s)
    mg_json_set_string(o, "kind", s);
  set_num_from(o, "rate", r, n_rate);
  if (num_of(get_any(r, n_ok), &x) == 0)
    mg_json_set_number(req, "successful", x);
  if (num_of(get_any(r, n_err), &x) == 0)
    mg_json_set_number(req, "errored", x);
  if (num_of(get_any(r, n_inc), &x) == 0)
    mg_json_set_number(req, "incomplete", x);
  if (mg_json_size(req))
    mg_json_set(o, "requests", req);
  else
    mg_json_free(req);
  set_num_from(o, "requests_per_s", r, n_rps);
  set_num_from(o, "output_tokens_per_s", r, n_otps);
  set_num_from(o, "concurrency_mean", r, n_conc);
  set_num_from(o, "goodput_rps", r, n_good);
  add_dist(o, "ttft_ms", r, n_ttft);
  add_dist(o, "itl_ms", r, n_itl);
  add_dist(o, "tpot_ms", r, n_tpot);
  add_dist(o, "latency_ms", r, n_lat);
  return o;
}

/* Fixed-rate steps (constant, poisson, gamma) are the ones a sweep plots
 * against offered load; synchronous, throughput and concurrent steps are
 * not rates. */
static int is_rate_step(const struct mg_json *run)
{
  const char *k = mg_json_string(mg_json_get(run, "kind"));

  return mg_json_is_number(mg_json_get(run, "rate"))
         && (!k || strcmp(k, "constant") == 0 || strcmp(k, "poisson") == 0
             || strcmp(k, "gamma") == 0);
}

/*
 * The highest fixed rate the server sustained: no errored requests and
 * an achieved rate of at least 80 % of the offered one (time-bounded
 * steps lose the requests still running at the end, so a sustained step
 * measures somewhat below its offered rate; a saturated one plateaus).
 * Returns the run index, or -1.
 */
static long sustainable(const struct mg_json *runs, double *rate)
{
  long best = -1, i = 0;

  for (struct mg_json *r = mg_json_first(runs); r; r = mg_json_next(r), i++) {
    double off = mg_json_number(mg_json_get(r, "rate"));
    double got = mg_json_number(mg_json_get(r, "requests_per_s"));
    /* incomplete requests are those a time limit cut: not a failure */
    double bad = mg_json_number(mg_json_get_path(r, "requests.errored"));

    if (!is_rate_step(r) || !mg_json_get(r, "requests_per_s") || bad > 0
        || got < 0.8 * off)
      continue;
    if (best < 0 || off > *rate) {
      best = i;
      *rate = off;
    }
  }
  return best;
}

/* What the load test sent, for readers of a report: "profile" and
 * "workload" (perf-run's config.data: the synthetic spec, or the file
 * and the columns read). */
static void perf_workload(const struct mg_json *perf, struct mg_json *o)
{
  const struct mg_json *data = mg_json_get_path(perf, "config.data");
  const char *profile =
      mg_json_string(mg_json_get_path(perf, "config.profile"));
  const char *spec = mg_json_string(mg_json_get(data, "spec"));
  const char *src = mg_json_string(mg_json_get(data, "source"));
  const char *cols = mg_json_string(mg_json_get(data, "columns"));
  const char *slash = src ? strrchr(src, '/') : NULL;
  char *w = NULL;

  if (profile)
    mg_json_set_string(o, "profile", profile);
  if (spec)
    w = mg_xasprintf("synthetic %s", spec);
  else if (src && cols)
    w = mg_xasprintf("%s (%s)", slash ? slash + 1 : src, cols);
  else if (src)
    w = mg_xstrdup(slash ? slash + 1 : src);
  if (w)
    mg_json_set_string(o, "workload", w);
  free(w);
}

static int perf_summary(const struct mg_json *perf, struct mg_json **out,
                        struct mg_err *err)
{
  struct mg_json *runs = get_any(perf, n_runs);
  struct mg_json *o, *arr;
  struct mg_json *op;
  size_t i = 0;
  double x;

  *out = NULL;
  if (!mg_json_is_object(perf))
    return mg_err_set(err, MG_ERR_DATA, "section 'perf' is not an object");
  if (runs && !mg_json_is_array(runs))
    return mg_err_set(err, MG_ERR_DATA,
                      "field 'runs' in section 'perf' is not an array");
  o = mg_json_new_object();
  arr = mg_json_new_array();
  for (struct mg_json *r = mg_json_first(runs); r; r = mg_json_next(r), i++) {
    if (!mg_json_is_object(r)) {
      mg_json_free(arr);
      mg_json_free(o);
      return mg_err_set(err, MG_ERR_DATA,
                        "run %zu in section 'perf' is not an object", i + 1);
    }
    mg_json_append(arr, perf_run(r, i));
  }
  mg_json_set(o, "runs", arr);
  op = get_any(perf, n_op);
  if (mg_json_is_number(op)) {
    x = mg_json_number(op);
    if (x >= 0 && x < (double)mg_json_size(arr) && x == floor(x))
      mg_json_set_number(o, "operating_point", x);
  } else if (mg_json_is_string(op)) {
    i = 0;
    for (struct mg_json *r = mg_json_first(arr); r; r = mg_json_next(r), i++)
      if (strcmp(mg_json_string(mg_json_get(r, "id")), mg_json_string(op)) == 0)
        mg_json_set_number(o, "operating_point", (double)i);
  }
  set_num_from(o, "max_sustainable_rps", perf, n_msr);
  set_num_from(o, "goodput_rps", perf, n_good);
  perf_workload(perf, o);
  if (!mg_json_get(o, "max_sustainable_rps")) {
    double rate = 0;
    long si = sustainable(arr, &rate);

    if (si >= 0) {
      mg_json_set_number(o, "max_sustainable_rps", rate);
      if (!mg_json_get(o, "operating_point"))
        mg_json_set_number(o, "operating_point", (double)si);
    }
  }
  *out = o;
  return 0;
}

const struct mg_json *mg_results_headline_run(const struct mg_json *perf)
{
  struct mg_json *runs = mg_json_get(perf, "runs");
  struct mg_json *op = mg_json_get(perf, "operating_point");
  const struct mg_json *best = NULL, *last = NULL;
  double best_rps = -1;

  if (!mg_json_size(runs))
    return NULL;
  if (mg_json_is_number(op))
    return mg_json_at(runs, (size_t)mg_json_number(op));
  for (struct mg_json *r = mg_json_first(runs); r; r = mg_json_next(r)) {
    double e = mg_json_number(mg_json_get_path(r, "requests.errored"));
    double rps = mg_json_number(mg_json_get(r, "requests_per_s"));
    const char *k = mg_json_string(mg_json_get(r, "kind"));

    last = r;
    if (k && strcmp(k, "throughput") == 0)
      continue;
    if (e == 0 && mg_json_get(r, "requests_per_s") && rps > best_rps) {
      best_rps = rps;
      best = r;
    }
  }
  return best ? best : last;
}

/* ---- eval
 * -------------------------------------------------------------------- */

/* One lm-eval style results map {task: {"acc,none": x, "acc_stderr,none":
 * y, "alias": ...}} into task rows. */
static void eval_results_map(const struct mg_json *results,
                             const struct mg_json *eval, struct mg_json *tasks)
{
  for (struct mg_json *t = mg_json_first(results); t; t = mg_json_next(t)) {
    const char *task = mg_json_key(t);

    if (!mg_json_is_object(t))
      continue;
    for (struct mg_json *m = mg_json_first(t); m; m = mg_json_next(m)) {
      const char *k = mg_json_key(m);
      const char *comma = strchr(k, ',');
      struct mg_json *row, *se, *hib;
      char *metric, *sek;
      double n;

      if (!mg_json_is_number(m) || strstr(k, "_stderr"))
        continue;
      metric = mg_xstrdup(k);
      if (comma && strcmp(comma, ",none") == 0)
        metric[comma - k] = '\0';
      if (comma)
        sek = mg_xasprintf("%.*s_stderr%s", (int)(comma - k), k, comma);
      else
        sek = mg_xasprintf("%s_stderr", k);
      row = mg_json_new_object();
      mg_json_set_string(row, "task", task);
      mg_json_set_string(row, "metric", metric);
      mg_json_set_number(row, "value", mg_json_number(m));
      se = mg_json_get(t, sek);
      if (mg_json_is_number(se))
        mg_json_set_number(row, "stderr", mg_json_number(se));
      n = -1;
      {
        char *p1 = mg_xasprintf("n-samples.%s.effective", task);
        struct mg_json *nv = mg_json_get_path(eval, p1);

        if (!nv)
          nv = mg_json_get(t, "samples");
        if (!nv)
          nv = mg_json_get(t, "n");
        if (mg_json_is_number(nv))
          n = mg_json_number(nv);
        free(p1);
      }
      if (n >= 0)
        mg_json_set_number(row, "n", n);
      hib = mg_json_get(
          mg_json_get(mg_json_get(eval, "higher_is_better"), task), metric);
      if (mg_json_is_bool(hib))
        mg_json_set_bool(row, "higher_is_better", mg_json_bool(hib));
      mg_json_append(tasks, row);
      free(sek);
      free(metric);
    }
  }
}

/* eval.tasks as an array of {"task"|"name", "metrics": {m: {"value",
 * "stderr"}} | {m: x}, "n"|"samples"}. */
static void eval_task_array(const struct mg_json *arr, struct mg_json *tasks)
{
  for (struct mg_json *t = mg_json_first(arr); t; t = mg_json_next(t)) {
    const char *task = mg_json_string(mg_json_get(t, "task"));
    struct mg_json *metrics = mg_json_get(t, "metrics");
    double n = -1, x;

    if (!task)
      task = mg_json_string(mg_json_get(t, "name"));
    if (!task || !mg_json_is_object(metrics))
      continue;
    if (num_of(mg_json_get(t, "n"), &x) == 0
        || num_of(mg_json_get(t, "samples"), &x) == 0)
      n = x;
    for (struct mg_json *m = mg_json_first(metrics); m; m = mg_json_next(m)) {
      struct mg_json *row = mg_json_new_object();
      struct mg_json *se, *hib;
      const char *k = mg_json_key(m);
      const char *comma = strchr(k, ',');
      char *metric = mg_xstrdup(k);

      if (comma && strcmp(comma, ",none") == 0)
        metric[comma - k] = '\0';
      if (mg_json_is_number(m)) {
        x = mg_json_number(m);
        se = NULL;
        hib = NULL;
      } else if (num_of(mg_json_get(m, "value"), &x) == 0) {
        se = mg_json_get(m, "stderr");
        hib = mg_json_get(m, "higher_is_better");
      } else {
        free(metric);
        mg_json_free(row);
        continue;
      }
      if (strstr(k, "_stderr")) {
        free(metric);
        mg_json_free(row);
        continue;
      }
      mg_json_set_string(row, "task", task);
      mg_json_set_string(row, "metric", metric);
      mg_json_set_number(row, "value", x);
      if (mg_json_is_number(se))
        mg_json_set_number(row, "stderr", mg_json_number(se));
      if (n >= 0)
        mg_json_set_number(row, "n", n);
      if (mg_json_is_bool(hib))
        mg_json_set_bool(row, "higher_is_better", mg_json_bool(hib));
      if (mg_json_is_string(mg_json_get(mg_json_get(t, "samples"), "path")))
        mg_json_set(row, "samples", mg_json_dup(mg_json_get(t, "samples")));
      mg_json_append(tasks, row);
      free(metric);
    }
  }
}

static int eval_summary(const struct mg_json *eval, struct mg_json **out,
                        struct mg_err *err)
{
  struct mg_json *tasks, *o, *v;

  *out = NULL;
  if (!mg_json_is_object(eval))
    return mg_err_set(err, MG_ERR_DATA, "section 'eval' is not an object");
  tasks = mg_json_new_array();
  v = mg_json_get(eval, "tasks");
  if (mg_json_is_array(v))
    eval_task_array(v, tasks);
  else if (mg_json_is_object(v))
    eval_results_map(v, eval, tasks);
  v = mg_json_get(eval, "results");
  if (mg_json_is_object(v))
    eval_results_map(v, eval, tasks);
  v = mg_json_get(eval, "groups");
  if (mg_json_is_object(v))
    eval_results_map(v, eval, tasks);
  o = mg_json_new_object();
  mg_json_set(o, "tasks", tasks);
  *out = o;
  return 0;
}

/* ---- verification
 * ------------------------------------------------------------ */

static struct mg_json *verify_summary(const struct mg_json *v)
{
  struct mg_json *o = mg_json_new_object();
  struct mg_json *ok = mg_json_get(v, "ok");
  struct mg_json *findings = mg_json_get(v, "findings");
  const char *verdict = mg_json_string(mg_json_get(v, "verdict"));

  if (mg_json_is_bool(ok)) {
    mg_json_set_bool(o, "ok", mg_json_bool(ok));
    mg_json_set_string(
        o, "verdict", verdict ? verdict : (mg_json_bool(ok) ? "pass" : "fail"));
  } else if (verdict) {
    mg_json_set_bool(o, "ok", strcmp(verdict, "pass") == 0);
    mg_json_set_string(o, "verdict", verdict);
  }
  if (mg_json_is_array(findings))
    mg_json_set_number(o, "findings", (double)mg_json_size(findings));
  return o;
}

/* ---- summaries
 * ---------------------------------------------------------------- */

static struct mg_json *new_summary(const char *source, const char *model,
                                   const char *label)
{
  struct mg_json *s = mg_json_new_object();

  mg_json_set_string(s, "source", source);
  if (model)
    mg_json_set_string(s, "model", model);
  mg_json_set_string(s, "label", label);
  return s;
}

static int summarize_listing(const struct mg_json *list, struct mg_json *out,
                             struct mg_err *err)
{
  struct mg_json *models = mg_json_get(list, "models");

  if (!mg_json_is_array(models))
    return mg_err_set(err, MG_ERR_DATA,
                      "field 'models' in 'registry_list' is not an array");
  for (struct mg_json *m = mg_json_first(models); m; m = mg_json_next(m)) {
    const char *mn = mg_json_string(mg_json_get(m, "name"));

    for (struct mg_json *v = mg_json_first(mg_json_get(m, "versions")); v;
         v = mg_json_next(v)) {
      const char *vn = mg_json_string(mg_json_get(v, "name"));
      char *src = mg_xasprintf("%s/%s", mn ? mn : "?", vn ? vn : "?");

      mg_results_unflatten(mg_json_get(v, "properties"), src, mn, out);
      free(src);
    }
  }
  return 0;
}

int mg_results_summarize(const struct mg_json *rec, const char *name,
                         const char *label, struct mg_json *out,
                         struct mg_err *err)
{
  struct mg_json *perf = mg_json_get(rec, "perf");
  struct mg_json *eval = mg_json_get(rec, "eval");
  struct mg_json *ver = mg_json_get(rec, "verification");
  struct mg_json *list = mg_json_get(rec, "registry_list");
  struct mg_json *ps = NULL, *es = NULL, *s;
  const char *model = mg_json_string(mg_json_get_path(rec, "model.name"));
  const char *pl, *el;

  if (list)
    return summarize_listing(list, out, err);
  if (!perf && !eval) {
    /* A starting record (registry-push --get): what the registry holds
     * for that version. */
    const struct mg_json *vp =
        mg_json_get_path(rec, "registry.version_properties");

    if (mg_json_is_object(vp)) {
      size_t before = mg_json_size(out);

      mg_results_unflatten(vp, name, model, out);
      if (mg_json_size(out) > before)
        return 0;
    }
  }
  if (perf && perf_summary(perf, &ps, err) < 0)
    return -1;
  if (eval && eval_summary(eval, &es, err) < 0) {
    mg_json_free(ps);
    return -1;
  }
  pl = label ? label : str_any(perf, n_label);
  el = label ? label : str_any(eval, n_label);
  if (!pl)
    pl = el ? el : MG_RESULTS_DEFAULT_LABEL;
  if (!el)
    el = pl;
  s = new_summary(name, model, pl);
  if (ver)
    mg_json_set(s, "verification", verify_summary(ver));
  if (ps)
    mg_json_set(s, "perf", ps);
  if (es && strcmp(el, pl) == 0) {
    mg_json_set(s, "eval", es);
    es = NULL;
  }
  mg_json_append(out, s);
  if (es) {
    /* Accuracy measured on another dataset than the load test. */
    s = new_summary(name, model, el);
    if (ver)
      mg_json_set(s, "verification", verify_summary(ver));
    mg_json_set(s, "eval", es);
    mg_json_append(out, s);
  }
  return 0;
}

/* ---- flattening
 * --------------------------------------------------------------- */

static const char *const count_suffix[] = { ".n",        ".requests", ".errors",
                                            ".findings", ".files",    NULL };

int mg_results_key_is_count(const char *key)
{
  size_t kl = strlen(key);

  for (const char *const *s = count_suffix; *s; s++) {
    size_t sl = strlen(*s);

    if (kl >= sl && strcmp(key + kl - sl, *s) == 0)
      return 1;
  }
  return 0;
}

static void put(struct mg_json *o, const char *const *parts, size_t n,
                struct mg_json *v)
{
  char *k = mg_propkey_join(parts, n);

  if (v)
    mg_json_set(o, k, v);
  free(k);
}

static void put_num(struct mg_json *o, const char *a, const char *b,
                    const char *c, const char *d, const struct mg_json *v)
{
  const char *parts[4] = { a, b, c, d };
  size_t n = d ? 4 : 3;

  if (mg_json_is_number(v) && isfinite(mg_json_number(v)))
    put(o, parts, n, mg_json_new_number(mg_json_number(v)));
}

/* The headline figures of one run under prefix perf.<label>[.<rate>]. */
static void flat_run(struct mg_json *o, const char *label, const char *rate,
                     const struct mg_json *run)
{
  static const char *const dists[][2] = {
    { "ttft_ms", "ttft" },
    { "itl_ms", "itl" },
    { "tpot_ms", "tpot" },
    { "latency_ms", "latency" },
  };
  static const char *const pcts[] = { "p50", "p90", "p99" };
  const char *p = rate ? rate : NULL;
  char key[64];
  double ok = mg_json_number(mg_json_get_path(run, "requests.successful"));
  /* errored only: incomplete requests are those a time limit cut off */
  double bad = mg_json_number(mg_json_get_path(run, "requests.errored"));

#define PUT(name, v)                                                           \
  do {                                                                         \
    if (p)                                                                     \
      put_num(o, "perf", label, p, name, v);                                   \
    else                                                                       \
      put_num(o, "perf", label, name, NULL, v);                                \
  } while (0)

  if (!rate) {
    struct mg_json *k = mg_json_get(run, "kind");

    if (mg_json_is_string(k)) {
      const char *parts[3] = { "perf", label, "kind" };

      put(o, parts, 3, mg_json_new_string(mg_json_string(k)));
    }
    PUT("rate", mg_json_get(run, "rate"));
  }
  PUT("requests_per_s", mg_json_get(run, "requests_per_s"));
  PUT("output_tokens_per_s", mg_json_get(run, "output_tokens_per_s"));
  for (size_t i = 0; i < sizeof(dists) / sizeof(dists[0]); i++) {
    const struct mg_json *d = mg_json_get(run, dists[i][0]);

    for (size_t j = 0; j < sizeof(pcts) / sizeof(pcts[0]); j++) {
      snprintf(key, sizeof(key), "%s_%s_ms", dists[i][1], pcts[j]);
      PUT(key, mg_json_get(d, pcts[j]));
    }
  }
  PUT("goodput_rps", mg_json_get(run, "goodput_rps"));
  if (mg_json_get(run, "requests")) {
    struct mg_json *n1 = mg_json_new_number(ok);
    struct mg_json *n2 = mg_json_new_number(bad);

    PUT("requests", n1);
    PUT("errors", n2);
    mg_json_free(n1);
    mg_json_free(n2);
  }
#undef PUT
}

struct mg_json *mg_results_flatten(const struct mg_json *summary, int per_rate)
{
  struct mg_json *o = mg_json_new_object();
  const char *label = mg_json_string(mg_json_get(summary, "label"));
  const struct mg_json *perf = mg_json_get(summary, "perf");
  const struct mg_json *eval = mg_json_get(summary, "eval");
  const struct mg_json *ver = mg_json_get(summary, "verification");
  const struct mg_json *head;

  if (!label)
    label = MG_RESULTS_DEFAULT_LABEL;
  head = mg_results_headline_run(perf);
  if (head)
    flat_run(o, label, NULL, head);
  put_num(o, "perf", label, "max_sustainable_rps", NULL,
          mg_json_get(perf, "max_sustainable_rps"));
  if (!head || !mg_json_get(head, "goodput_rps"))
    put_num(o, "perf", label, "goodput_rps", NULL,
            mg_json_get(perf, "goodput_rps"));
  if (per_rate) {
    size_t i = 0;

    for (struct mg_json *r = mg_json_first(mg_json_get(perf, "runs")); r;
         r = mg_json_next(r), i++) {
      char rate[40];
      struct mg_json *rv = mg_json_get(r, "rate");

      if (mg_json_is_number(rv))
        snprintf(rate, sizeof(rate), "r%g", mg_json_number(rv));
      else
        snprintf(rate, sizeof(rate), "run%zu", i + 1);
      flat_run(o, label, rate, r);
    }
  }
  for (struct mg_json *t = mg_json_first(mg_json_get(eval, "tasks")); t;
       t = mg_json_next(t)) {
    const char *task = mg_json_string(mg_json_get(t, "task"));
    const char *metric = mg_json_string(mg_json_get(t, "metric"));
    char *se;

    if (!task || !metric)
      continue;
    se = mg_xasprintf("%s_stderr", metric);
    put_num(o, "eval", label, task, metric, mg_json_get(t, "value"));
    put_num(o, "eval", label, task, se, mg_json_get(t, "stderr"));
    put_num(o, "eval", label, task, "n", mg_json_get(t, "n"));
    free(se);
  }
  if (ver) {
    struct mg_json *v = mg_json_get(ver, "verdict");

    if (mg_json_is_string(v))
      mg_json_set_string(o, "verify.verdict", mg_json_string(v));
    if (mg_json_is_number(mg_json_get(ver, "findings")))
      mg_json_set_number(o, "verify.findings",
                         mg_json_number(mg_json_get(ver, "findings")));
  }
  return o;
}

/* ---- unflattening
 * ------------------------------------------------------------- */

static struct mg_json *summary_for(struct mg_json *list, const char *label,
                                   const char *source, const char *model)
{
  for (struct mg_json *s = mg_json_first(list); s; s = mg_json_next(s))
    if (strcmp(mg_json_string(mg_json_get(s, "label")), label) == 0)
      return s;
  mg_json_append(list, new_summary(source, model, label));
  return mg_json_at(list, mg_json_size(list) - 1);
}

static struct mg_json *obj_at(struct mg_json *o, const char *key, int array)
{
  struct mg_json *v = mg_json_get(o, key);

  if (!v) {
    v = array ? mg_json_new_array() : mg_json_new_object();
    mg_json_set(o, key, v);
  }
  return v;
}

/* Splits key at '.' into at most max parts (the last takes the rest). */
static size_t split(char *key, char **parts, size_t max)
{
  size_t n = 0;

  parts[n++] = key;
  for (char *p = key; *p && n < max; p++)
    if (*p == '.') {
      *p = '\0';
      parts[n++] = p + 1;
    }
  return n;
}

static void unflat_perf(struct mg_json *s, const char *metric,
                        const struct mg_json *v)
{
  struct mg_json *perf = obj_at(s, "perf", 0);
  struct mg_json *runs = obj_at(perf, "runs", 1);
  struct mg_json *run;
  char dname[32], pct[8];
  size_t dl;

  if (!mg_json_size(runs)) {
    run = mg_json_new_object();
    mg_json_append(runs, run);
  }
  run = mg_json_at(runs, 0);
  if (strcmp(metric, "max_sustainable_rps") == 0) {
    mg_json_set(perf, metric, mg_json_dup(v));
    return;
  }
  if (strcmp(metric, "requests") == 0 || strcmp(metric, "errors") == 0) {
    mg_json_set(obj_at(run, "requests", 0),
                metric[0] == 'r' ? "successful" : "errored", mg_json_dup(v));
    return;
  }
  dl = strlen(metric);
  /* <dist>_<pNN>_ms */
  if (dl > 7 && strcmp(metric + dl - 3, "_ms") == 0) {
    const char *us = NULL;

    for (const char *q = metric; q < metric + dl - 3; q++)
      if (q[0] == '_' && q[1] == 'p')
        us = q;
    if (us && (size_t)(us - metric) < sizeof(dname) - 4
        && (size_t)(metric + dl - 3 - us - 1) < sizeof(pct)) {
      snprintf(dname, sizeof(dname), "%.*s_ms", (int)(us - metric), metric);
      snprintf(pct, sizeof(pct), "%.*s", (int)(metric + dl - 3 - us - 1),
               us + 1);
      mg_json_set(obj_at(run, dname, 0), pct, mg_json_dup(v));
      return;
    }
  }
  mg_json_set(run, metric, mg_json_dup(v));
}

static void unflat_eval(struct mg_json *s, const char *task, const char *metric,
                        const struct mg_json *v)
{
  struct mg_json *tasks = obj_at(obj_at(s, "eval", 0), "tasks", 1);
  size_t ml = strlen(metric);
  int is_se = ml > 7 && strcmp(metric + ml - 7, "_stderr") == 0;
  int is_n = strcmp(metric, "n") == 0;
  char *base = mg_xstrndup(metric, is_se ? ml - 7 : ml);

  if (is_n) {
    /* Applies to every metric row of the task. */
    for (struct mg_json *t = mg_json_first(tasks); t; t = mg_json_next(t))
      if (strcmp(mg_json_string(mg_json_get(t, "task")), task) == 0)
        mg_json_set(t, "n", mg_json_dup(v));
    free(base);
    return;
  }
  for (struct mg_json *t = mg_json_first(tasks); t; t = mg_json_next(t))
    if (strcmp(mg_json_string(mg_json_get(t, "task")), task) == 0
        && strcmp(mg_json_string(mg_json_get(t, "metric")), base) == 0) {
      mg_json_set(t, is_se ? "stderr" : "value", mg_json_dup(v));
      free(base);
      return;
    }
  {
    struct mg_json *row = mg_json_new_object();

    mg_json_set_string(row, "task", task);
    mg_json_set_string(row, "metric", base);
    mg_json_set(row, is_se ? "stderr" : "value", mg_json_dup(v));
    mg_json_append(tasks, row);
  }
  free(base);
}

void mg_results_unflatten(const struct mg_json *props, const char *source,
                          const char *model, struct mg_json *out)
{
  struct mg_json *list = mg_json_new_array();
  struct mg_json *ns = mg_json_new_object();
  const char *verdict = NULL;
  double findings = -1;

  /* Task sample counts come after the values in key order; do two passes
   * so "n" finds its rows. */
  for (int pass = 0; pass < 2; pass++)
    for (struct mg_json *p = mg_json_first(props); p; p = mg_json_next(p)) {
      char *key = mg_xstrdup(mg_json_key(p));
      char *parts[4];
      size_t n = split(key, parts, 4);

      if (pass == 0 && n == 3 && strcmp(parts[0], "perf") == 0
          && mg_json_is_number(p)) {
        unflat_perf(summary_for(list, parts[1], source, model), parts[2], p);
      } else if (pass == 0 && n == 3 && strcmp(parts[0], "perf") == 0
                 && strcmp(parts[2], "kind") == 0 && mg_json_is_string(p)) {
        struct mg_json *s = summary_for(list, parts[1], source, model);
        struct mg_json *runs = obj_at(obj_at(s, "perf", 0), "runs", 1);

        if (!mg_json_size(runs))
          mg_json_append(runs, mg_json_new_object());
        mg_json_set_string(mg_json_at(runs, 0), "kind", mg_json_string(p));
      } else if (n == 4 && strcmp(parts[0], "eval") == 0 && mg_json_is_number(p)
                 && (pass == 1) == (strcmp(parts[3], "n") == 0)) {
        unflat_eval(summary_for(list, parts[1], source, model), parts[2],
                    parts[3], p);
      } else if (pass == 0 && strcmp(mg_json_key(p), "verify.verdict") == 0
                 && mg_json_is_string(p)) {
        verdict = mg_json_string(p);
      } else if (pass == 0 && strcmp(mg_json_key(p), "verify.findings") == 0
                 && mg_json_is_number(p)) {
        findings = mg_json_number(p);
      }
      free(key);
    }
  for (struct mg_json *s = mg_json_first(list); s; s = mg_json_next(s)) {
    struct mg_json *runs = mg_json_get_path(s, "perf.runs");

    if (runs) {
      struct mg_json *r0 = mg_json_at(runs, 0);
      const char *k = mg_json_string(mg_json_get(r0, "kind"));
      struct mg_json *rate = mg_json_get(r0, "rate");
      char id[80];

      /* the operating point the registry holds, named as perf-run does */
      if (k && mg_json_is_number(rate))
        snprintf(id, sizeof(id), "%s@%g", k, mg_json_number(rate));
      else
        snprintf(id, sizeof(id), "operating point");
      mg_json_set_string(r0, "id", id);
    }
    if (verdict) {
      struct mg_json *v = mg_json_new_object();

      mg_json_set_bool(v, "ok", strcmp(verdict, "pass") == 0);
      mg_json_set_string(v, "verdict", verdict);
      if (findings >= 0)
        mg_json_set_number(v, "findings", findings);
      mg_json_set(s, "verification", v);
    }
    mg_json_append(out, mg_json_dup(s));
  }
  mg_json_free(ns);
  mg_json_free(list);
}
