#include "publish/mg_merge.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eval/mg_eval_group.h"
#include "mg_buf.h"
#include "mg_digest.h"
#include "mg_err.h"
#include "mg_io.h"
#include "mg_json.h"
#include "mg_mem.h"
#include "mg_record.h"
#include "mg_stats.h"
#include "perf/mg_perf_metrics.h"
#include "publish/mg_results.h"

/* One value and the input it came from. */
struct part {
  const struct mg_json *v;
  const char *name;
};

static const char *policy(const struct mg_json *allow, const char *section)
{
  const char *p = mg_json_string(mg_json_get(allow, section));

  return p ? p : mg_json_string(mg_json_get(allow, "*"));
}

static void note(struct mg_json *notes, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void note(struct mg_json *notes, const char *fmt, ...)
{
  char buf[300];
  va_list ap;

  if (!notes)
    return;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  mg_json_append(notes, mg_json_new_string(buf));
}

static int all_equal(const struct part *p, size_t k)
{
  for (size_t i = 1; i < k; i++)
    if (!mg_json_equal(p[0].v, p[i].v))
      return 0;
  return 1;
}

static size_t first_diff(const struct part *p, size_t k)
{
  for (size_t i = 1; i < k; i++)
    if (!mg_json_equal(p[0].v, p[i].v))
      return i;
  return 0;
}

/* ---- time windows ------------------------------------------------------ */

/* Seconds since the epoch from a number or an RFC 3339 UTC string
 * ("2026-11-28T04:05:06.123Z"). */
static int time_of(const struct mg_json *v, double *out)
{
  const char *s = mg_json_string(v);
  struct tm tm = { 0 };
  double frac = 0;
  char *end;
  int used = 0;

  if (mg_json_is_number(v)) {
    *out = mg_json_number(v);
    return 0;
  }
  if (!s
      || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
                &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used)
             != 6
      || used != 19)
    return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  end = (char *)s + used;
  if (*end == '.')
    frac = strtod(end, &end);
  if (*end != 'Z' || end[1])
    return -1;
  *out = (double)timegm(&tm) + frac;
  return 0;
}

static int is_window(const struct mg_json *o)
{
  double t;

  return mg_json_is_object(o) && time_of(mg_json_get(o, "start"), &t) == 0
         && time_of(mg_json_get(o, "end"), &t) == 0;
}

static struct mg_json *merge_window(const struct part *p, size_t k)
{
  const struct mg_json *s = NULL, *e = NULL;
  double smin = 0, emax = 0, t;
  struct mg_json *o;

  for (size_t i = 0; i < k; i++) {
    if (time_of(mg_json_get(p[i].v, "start"), &t) == 0 && (!s || t < smin)) {
      smin = t;
      s = mg_json_get(p[i].v, "start");
    }
    if (time_of(mg_json_get(p[i].v, "end"), &t) == 0 && (!e || t > emax)) {
      emax = t;
      e = mg_json_get(p[i].v, "end");
    }
  }
  o = mg_json_dup(p[0].v);
  mg_json_set(o, "start", mg_json_dup(s));
  mg_json_set(o, "end", mg_json_dup(e));
  return o;
}

/* ---- distributions ----------------------------------------------------- */

static int is_dist(const struct mg_json *o)
{
  return mg_json_is_object(o) && mg_json_is_number(mg_json_get(o, "count"))
         && (mg_json_get(o, "percentiles") || mg_json_get(o, "hist")
             || mg_json_get(o, "mean"));
}

static const struct {
  const char *name;
  double q;
} pct_q[] = {
  { "p0.1", 0.001 }, { "p1", 0.01 },  { "p5", 0.05 },     { "p10", 0.10 },
  { "p25", 0.25 },   { "p50", 0.50 }, { "p75", 0.75 },    { "p90", 0.90 },
  { "p95", 0.95 },   { "p99", 0.99 }, { "p99.9", 0.999 },
};

struct bin {
  double idx;
  double w;
};

static int bin_cmp(const void *a, const void *b)
{
  const struct bin *x = a, *y = b;

  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

struct mg_json *mg_merge_dist(const struct mg_json *const *d, size_t n)
{
  struct mg_json *o = mg_json_new_object();
  double count = 0, weight = 0, sum = 0, sq = 0, mn = 0, mx = 0;
  double alpha = -1, zero = 0;
  int have_w = 0, have_minmax = 0, hist_ok = 1;
  struct bin *bins = NULL;
  size_t nb = 0;

  if (n == 1) {
    mg_json_free(o);
    return mg_json_dup(d[0]);
  }
  for (size_t i = 0; i < n; i++) {
    double c = mg_json_number(mg_json_get(d[i], "count"));
    struct mg_json *wv = mg_json_get(d[i], "weight");
    double w = mg_json_is_number(wv) ? mg_json_number(wv) : c;
    double mean = mg_json_number(mg_json_get(d[i], "mean"));
    double sd = mg_json_number(mg_json_get(d[i], "std"));
    struct mg_json *h = mg_json_get(d[i], "hist");

    if (mg_json_is_number(wv))
      have_w = 1;
    count += c;
    weight += w;
    sum += mg_json_is_number(mg_json_get(d[i], "sum"))
               ? mg_json_number(mg_json_get(d[i], "sum"))
               : mean * w;
    sq += w * (sd * sd + mean * mean);
    if (c > 0 && mg_json_is_number(mg_json_get(d[i], "min"))) {
      double a = mg_json_number(mg_json_get(d[i], "min"));
      double b = mg_json_number(mg_json_get(d[i], "max"));

      if (!have_minmax || a < mn)
        mn = a;
      if (!have_minmax || b > mx)
        mx = b;
      have_minmax = 1;
    }
    if (c == 0)
      continue;
    if (!mg_json_is_object(h)
        || (alpha >= 0 && mg_json_number(mg_json_get(h, "alpha")) != alpha)) {
      hist_ok = 0;
      continue;
    }
    alpha = mg_json_number(mg_json_get(h, "alpha"));
    zero += mg_json_number(mg_json_get(h, "zero"));
    for (struct mg_json *b = mg_json_first(mg_json_get(h, "bins")); b;
         b = mg_json_next(b)) {
      bins = mg_xreallocarray(bins, nb + 1, sizeof(*bins));
      bins[nb].idx = mg_json_number(mg_json_at(b, 0));
      bins[nb].w = mg_json_number(mg_json_at(b, 1));
      nb++;
    }
  }
  /* coalesce equal indices */
  if (nb)
    qsort(bins, nb, sizeof(*bins), bin_cmp);
  {
    size_t j = 0;

    for (size_t i = 0; i < nb; i++) {
      if (j && bins[j - 1].idx == bins[i].idx)
        bins[j - 1].w += bins[i].w;
      else
        bins[j++] = bins[i];
    }
    nb = j;
  }
  mg_json_set_number(o, "count", count);
  if (have_w)
    mg_json_set_number(o, "weight", weight);
  mg_json_set_number(o, "sum", sum);
  mg_json_set_number(o, "mean", weight > 0 ? sum / weight : 0);
  if (weight > 0) {
    double mean = sum / weight, var = sq / weight - mean * mean;

    mg_json_set_number(o, "std", var > 0 ? sqrt(var) : 0);
  } else {
    mg_json_set_number(o, "std", 0);
  }
  mg_json_set_number(o, "min", have_minmax ? mn : 0);
  mg_json_set_number(o, "max", have_minmax ? mx : 0);
  if (hist_ok && alpha > 0 && weight > 0) {
    double g = (1 + alpha) / (1 - alpha);
    double total = zero;
    struct mg_json *p = mg_json_new_object(), *h, *ba;

    for (size_t i = 0; i < nb; i++)
      total += bins[i].w;
    for (size_t qi = 0; qi < sizeof(pct_q) / sizeof(pct_q[0]); qi++) {
      /* weighted nearest rank: first cumulative share >= q */
      double target = pct_q[qi].q, acc = zero / total, v;
      size_t i = 0;

      if (acc >= target) {
        v = mn < 0 ? mn : 0;
      } else {
        for (; i < nb; i++) {
          acc += bins[i].w / total;
          if (acc >= target - 1e-12)
            break;
        }
        if (i == nb)
          i = nb - 1;
        v = 2 * pow(g, bins[i].idx) / (g + 1);
      }
      if (have_minmax && v < mn)
        v = mn;
      if (have_minmax && v > mx)
        v = mx;
      mg_json_set_number(p, pct_q[qi].name, round(v * 1e6) / 1e6);
      if (strcmp(pct_q[qi].name, "p50") == 0)
        mg_json_set_number(o, "median", round(v * 1e6) / 1e6);
    }
    mg_json_set(o, "percentiles", p);
    mg_json_set_bool(o, "percentiles_approx", 1);
    h = mg_json_new_object();
    ba = mg_json_new_array();
    for (size_t i = 0; i < nb; i++) {
      struct mg_json *b = mg_json_new_array();

      mg_json_append(b, mg_json_new_number(bins[i].idx));
      mg_json_append(b, mg_json_new_number(round(bins[i].w * 1e6) / 1e6));
      mg_json_append(ba, b);
    }
    mg_json_set_number(h, "alpha", alpha);
    mg_json_set_number(h, "zero", zero);
    mg_json_set(h, "bins", ba);
    mg_json_set(o, "hist", h);
  }
  free(bins);
  return o;
}

/* ---- perf -------------------------------------------------------------- */

/*
 * How a number of one load step combines across load-generator processes
 * that drove the same endpoint at the same time: counts, offered and
 * achieved rates and concurrency add up; window ends and durations take
 * the extremes; anything else must agree (or the first value is kept,
 * with a note).
 */
enum num_rule { R_KEEP, R_SUM, R_MIN, R_MAX };

static enum num_rule num_rule(const char *parent, const char *key)
{
  static const char *const sum_parents[] = {
    "requests",   "errors",      "incomplete_reasons",
    "all",        "counts",      "request_totals",
    "tokens",     "concurrency", "client",
    "throughput", NULL
  };
  static const char *const sum_keys[] = {
    "rate",       "streams", "max_concurrency", "concurrency_mean",
    "successful", "errored", "incomplete",      "total",
    NULL
  };
  size_t n = key ? strlen(key) : 0;

  if (!key)
    return R_KEEP;
  if (parent && strcmp(parent, "window") == 0)
    return strcmp(key, "start_s") == 0 || strcmp(key, "start") == 0 ? R_MIN
                                                                    : R_MAX;
  if (strcmp(key, "start_unix") == 0)
    return R_MIN; /* shards are re-based on the earliest start */
  if (strcmp(key, "duration_s") == 0 || strcmp(key, "vllm_duration_s") == 0)
    return R_MAX;
  if (strcmp(key, "slo_attainment") == 0)
    return R_KEEP;
  for (const char *const *p = sum_parents; parent && *p; p++)
    if (strcmp(parent, *p) == 0)
      return R_SUM;
  for (const char *const *p = sum_keys; *p; p++)
    if (strcmp(key, *p) == 0)
      return R_SUM;
  if ((n > 6 && strcmp(key + n - 6, "_per_s") == 0)
      || (n > 11 && strcmp(key + n - 11, "_per_second") == 0)
      || strstr(key, "throughput"))
    return R_SUM;
  return R_KEEP;
}

/*
 * Merges the parallel values p[0..k) of one run member (key under
 * parent) from several processes.
 */
static struct mg_json *merge_run_tree(const struct part *p, size_t k,
                                      const char *parent, const char *key,
                                      const char *path, struct mg_json *notes)
{
  int objs = 1, nums = 1;
  char sub[256];

  for (size_t i = 0; i < k; i++) {
    objs &= mg_json_is_object(p[i].v);
    nums &= mg_json_is_number(p[i].v);
  }
  if (key && strcmp(key, "samples") == 0 && !all_equal(p, k)) {
    struct mg_json *a = mg_json_new_array();

    for (size_t i = 0; i < k; i++) {
      if (mg_json_is_array(p[i].v))
        for (struct mg_json *x = mg_json_first(p[i].v); x; x = mg_json_next(x))
          mg_json_append(a, mg_json_dup(x));
      else
        mg_json_append(a, mg_json_dup(p[i].v));
    }
    return a;
  }
  if (objs && is_dist(p[0].v)) {
    const struct mg_json **d = mg_xcalloc(k, sizeof(*d));
    struct mg_json *o;

    for (size_t i = 0; i < k; i++)
      d[i] = p[i].v;
    o = mg_merge_dist(d, k);
    free(d);
    return o;
  }
  if (objs && key && strcmp(key, "window") == 0 && is_window(p[0].v))
    return merge_window(p, k);
  if (objs) {
    struct mg_json *o = mg_json_new_object();
    struct part *c = mg_xcalloc(k, sizeof(*c));

    /* union of members, in first-seen order */
    for (size_t i = 0; i < k; i++)
      for (struct mg_json *m = mg_json_first(p[i].v); m; m = mg_json_next(m)) {
        const char *mk = mg_json_key(m);
        size_t kc = 0;

        if (mg_json_get(o, mk))
          continue;
        for (size_t j = 0; j < k; j++) {
          struct mg_json *x = mg_json_get(p[j].v, mk);

          if (x) {
            c[kc].v = x;
            c[kc].name = p[j].name;
            kc++;
          }
        }
        snprintf(sub, sizeof(sub), "%s.%s", path, mk);
        mg_json_set(o, mk, merge_run_tree(c, kc, key, mk, sub, notes));
      }
    free(c);
    return o;
  }
  if (nums && num_rule(parent, key) != R_KEEP) {
    enum num_rule rule = num_rule(parent, key);
    double s = rule == R_SUM ? 0 : mg_json_number(p[0].v);

    for (size_t i = 0; i < k; i++) {
      double x = mg_json_number(p[i].v);

      if (rule == R_SUM)
        s += x;
      else if (rule == R_MIN ? x < s : x > s)
        s = x;
    }
    return mg_json_new_number(s);
  }
  if (!all_equal(p, k)) {
    size_t d = first_diff(p, k);

    note(notes, "'%s' differs between '%s' and '%s'; the value of '%s' is kept",
         path, p[0].name, p[d].name, p[0].name);
  }
  return mg_json_dup(p[0].v);
}

static double num_path(const struct mg_json *o, const char *path, int *ok)
{
  struct mg_json *v = mg_json_get_path(o, path);

  if (!mg_json_is_number(v))
    *ok = 0;
  return mg_json_number(v);
}

/* Rates over the united window, where the run says enough to recompute. */
static void recompute_rates(struct mg_json *run)
{
  struct mg_json *w = mg_json_get(run, "window");

  /* perf-run's windows are relative to each process's start: the united
   * one assumes the processes started together. */
  if (mg_json_is_number(mg_json_get(w, "start_s"))
      && mg_json_is_number(mg_json_get(w, "end_s")))
    mg_json_set_number(w, "duration_s",
                       mg_json_number(mg_json_get(w, "end_s"))
                           - mg_json_number(mg_json_get(w, "start_s")));
  struct mg_json *tp = mg_json_get(run, "throughput");
  double s, e, dur;
  int ok = 1;
  double req, outt, prompt;

  if (!is_window(w) || !mg_json_is_object(tp))
    return;
  time_of(mg_json_get(w, "start"), &s);
  time_of(mg_json_get(w, "end"), &e);
  dur = e - s;
  if (!(dur > 0))
    return;
  req = num_path(run, "requests.successful", &ok);
  if (ok && mg_json_get(tp, "requests_per_s"))
    mg_json_set_number(tp, "requests_per_s", req / dur);
  ok = 1;
  outt = num_path(run, "tokens.output", &ok);
  if (ok && mg_json_get(tp, "output_tokens_per_s"))
    mg_json_set_number(tp, "output_tokens_per_s", outt / dur);
  prompt = num_path(run, "tokens.prompt", &ok);
  if (ok && mg_json_get(tp, "total_tokens_per_s"))
    mg_json_set_number(tp, "total_tokens_per_s", (outt + prompt) / dur);
}

/* ---- perf: exact, from the per-request samples --------------------------- */

/*
 * perf-run's samples side file has one JSON line per request (times in ms
 * from that process's benchmark start). The distributions of the union of
 * the processes' lines are the single-process distributions of the same
 * requests: perf's own accumulator (perf/mg_perf_metrics.h) computes them.
 */

/* Appends the parsed lines of one samples side file to lines. */
static int load_one(const struct mg_json *sf, const char *name,
                    struct mg_json *lines, struct mg_json *notes)
{
  const char *path = mg_json_string(mg_json_get(sf, "path"));
  const char *want = mg_json_string(mg_json_get(sf, "sha256"));
  struct mg_buf b = MG_BUF_INIT((size_t)1 << 32);
  struct mg_err err = MG_ERR_INIT;
  char hex[MG_DIGEST_SHA256_HEX_LEN + 1];
  char *line, *nl;
  int rc = -1;

  if (!path) {
    note(notes,
         "'%s' has no perf samples: percentiles merged from "
         "histograms (within 1%%)",
         name);
    return -1;
  }
  if (mg_io_read_file(path, &b, &err) < 0) {
    note(notes, "%s: percentiles merged from histograms (within 1%%)", err.msg);
    goto out;
  }
  mg_digest_sha256_hex(b.data ? b.data : "", b.len, hex);
  if (want && strcmp(want, hex) != 0) {
    note(notes,
         "samples file '%s' of '%s' changed since it was written: "
         "percentiles merged from histograms (within 1%%)",
         path, name);
    goto out;
  }
  for (line = b.data; line && *line; line = nl ? nl + 1 : NULL) {
    struct mg_json *l;

    nl = strchr(line, '\n');
    if (nl)
      *nl = '\0';
    if (!*line)
      continue;
    if (mg_json_parse(line, strlen(line), path, &l, &err) < 0) {
      note(notes, "%s: percentiles merged from histograms (within 1%%)",
           err.msg);
      goto out;
    }
    mg_json_append(lines, l);
  }
  rc = 0;
out:
  mg_buf_release(&b);
  return rc;
}

/*
 * The lines of every input's samples side file(s) (one object, or the
 * list a previous merge left), parsed: an array per input. 0 when every
 * input has readable, unchanged samples; -1 (with a note) otherwise, and
 * the caller keeps the merge from the summaries.
 */
static int load_samples(const struct part *p, size_t k, struct mg_json **lines,
                        struct mg_json *notes)
{
  for (size_t i = 0; i < k; i++) {
    const struct mg_json *sf = mg_json_get(p[i].v, "samples");

    lines[i] = mg_json_new_array();
    if (mg_json_is_array(sf) && mg_json_size(sf)) {
      for (struct mg_json *x = mg_json_first(sf); x; x = mg_json_next(x))
        if (load_one(x, p[i].name, lines[i], notes) < 0)
          return -1;
    } else if (load_one(sf, p[i].name, lines[i], notes) < 0) {
      return -1;
    }
  }
  return 0;
}

/*
 * Shards that started apart: each shard's times count from its own
 * benchmark start (start_unix), so they move by (start_unix - the
 * earliest start_unix) onto the union's clock.
 */
static void shift_ms(struct mg_json *o, const char *key, double by)
{
  struct mg_json *v = mg_json_get(o, key);

  if (mg_json_is_number(v))
    mg_json_set_number(o, key, mg_json_number(v) + by);
}

/* A samples line of a shard that started by_ms after the earliest. */
static void shift_line(struct mg_json *l, double by_ms)
{
  static const char *const keys[] = {
    "scheduled",  "sent", "headers",    "first_token", "first_output_token",
    "last_token", "end",  "vllm_first", "vllm_last",   NULL
  };
  struct mg_json *ev = mg_json_get(l, "events"), *nev;

  for (const char *const *k = keys; *k; k++)
    shift_ms(l, *k, by_ms);
  if (!mg_json_is_array(ev))
    return;
  /* [[t, flags], ...]: the same events at t + by_ms */
  nev = mg_json_new_array();
  for (struct mg_json *e = mg_json_first(ev); e; e = mg_json_next(e)) {
    struct mg_json *t = mg_json_at(e, 0), *ne = mg_json_dup(e);
    if (mg_json_is_number(t)) {
      struct mg_json *pair = mg_json_new_array();
      mg_json_append(pair, mg_json_new_number(mg_json_number(t) + by_ms));
      for (size_t i = 1; mg_json_at(e, i); i++)
        mg_json_append(pair, mg_json_dup(mg_json_at(e, i)));
      mg_json_free(ne);
      ne = pair;
    }
    mg_json_append(nev, ne);
  }
  mg_json_set(l, "events", nev);
}

/* A shard's run moved onto the union's clock (the caller frees it). */
static struct mg_json *rebased_run(const struct mg_json *r, double t0)
{
  struct mg_json *d = mg_json_dup(r), *w = mg_json_get(d, "window");
  double by =
      round((mg_json_number(mg_json_get(r, "start_unix")) - t0) * 1e6) / 1e6;

  if (mg_json_is_object(w)) {
    shift_ms(w, "start_s", by);
    shift_ms(w, "end_s", by);
  }
  mg_json_set_number(d, "start_unix", t0);
  return d;
}

/*
 * Replaces the run's request counts and distributions by those of the
 * samples lines of run id (every input's), exactly as one process would
 * have computed them. shift_ms[i]: how much later input i's run started
 * than the earliest (0: together).
 */
static void exact_run(struct mg_json *run, double id,
                      struct mg_json *const *lines, const double *shift,
                      size_t k, enum mg_stats_pct method)
{
  struct mg_perf_metrics *m = mg_perf_metrics_new();
  struct mg_json *req, *client;

  for (size_t i = 0; i < k; i++)
    for (struct mg_json *l = mg_json_first(lines[i]); l; l = mg_json_next(l))
      if (mg_json_number(mg_json_get(l, "run")) == id) {
        if (shift[i] != 0)
          shift_line(l, shift[i]);
        mg_perf_metrics_add_sample(m, l);
      }
  req = mg_json_get(run, "requests");
  if (!mg_json_is_object(req)) {
    req = mg_json_new_object();
    mg_json_set(run, "requests", req);
  }
  mg_perf_metrics_requests(m, req);
  mg_json_set(run, "metrics", mg_perf_metrics_dists(m, method, 1));
  client = mg_json_get(run, "client");
  if (mg_json_is_object(client) && mg_json_get(client, "delay_ms"))
    mg_json_set(client, "delay_ms", mg_perf_metrics_delay(m, method, 1));
  mg_json_set_string(run, "metrics_from", "samples");
  mg_perf_metrics_free(m);
}

static const char *run_id(const struct mg_json *r, size_t i, char *buf,
                          size_t n)
{
  const char *id = mg_json_string(mg_json_get(r, "id"));

  if (id)
    return id;
  if (mg_json_is_number(mg_json_get(r, "id"))) {
    snprintf(buf, n, "%g", mg_json_number(mg_json_get(r, "id")));
    return buf;
  }
  snprintf(buf, n, "#%zu", i);
  return buf;
}

/* Members of a perf section that differ between processes by nature. */
static int perf_volatile(const char *k)
{
  static const char *const v[] = { "started",     "finished",   "host",
                                   "pid",         "process",    "window",
                                   "samples",     "duration_s", "ok",
                                   "interrupted", NULL };

  for (const char *const *p = v; *p; p++)
    if (strcmp(k, *p) == 0)
      return 1;
  return 0;
}

static int merge_perf(const struct part *p, size_t k,
                      const struct mg_json *allow, struct mg_json **out,
                      struct mg_json *notes, struct mg_err *err)
{
  struct mg_json *o, *runs, *ids, **lines, **reb;
  struct part *c;
  size_t *cin;
  double *shift, t0;
  int apart;
  const char *pol;
  char buf[32];
  enum mg_stats_pct method;
  int exact;

  *out = NULL;
  /* The same benchmark: every member but the runs agrees. */
  for (size_t i = 0; i < k; i++) {
    if (!mg_json_is_object(p[i].v))
      return mg_err_set(err, MG_ERR_DATA,
                        "section 'perf' in '%s' is not an object", p[i].name);
    for (struct mg_json *m = mg_json_first(p[i].v); m; m = mg_json_next(m)) {
      const char *mk = mg_json_key(m);

      if (strcmp(mk, "runs") == 0 || perf_volatile(mk))
        continue;
      for (size_t j = 0; j < k; j++) {
        struct mg_json *x = mg_json_get(p[j].v, mk);

        if (x && !mg_json_equal(x, m)) {
          pol = policy(allow, "perf");
          if (pol) {
            note(notes,
                 "section 'perf' differs ('%s' in '%s' and '%s'); "
                 "kept the %s",
                 mk, p[i].name, p[j].name, pol);
            *out = mg_json_dup(strcmp(pol, "last") == 0 ? p[k - 1].v : p[0].v);
            return 0;
          }
          return mg_err_set(err, MG_ERR_DATA,
                            "conflicting section 'perf' in '%s' and '%s': "
                            "different benchmarks ('%s' differs); give "
                            "--allow perf=first|last",
                            p[i].name, p[j].name, mk);
        }
      }
    }
  }
  o = mg_json_new_object();
  c = mg_xcalloc(k, sizeof(*c));
  cin = mg_xcalloc(k, sizeof(*cin));
  shift = mg_xcalloc(k, sizeof(*shift));
  reb = mg_xcalloc(k, sizeof(*reb));
  for (size_t i = 0; i < k; i++)
    for (struct mg_json *m = mg_json_first(p[i].v); m; m = mg_json_next(m)) {
      const char *mk = mg_json_key(m);
      size_t kc = 0;

      if (mg_json_get(o, mk) || strcmp(mk, "runs") == 0)
        continue;
      for (size_t j = 0; j < k; j++)
        if (mg_json_get(p[j].v, mk)) {
          c[kc].v = mg_json_get(p[j].v, mk);
          c[kc].name = p[j].name;
          kc++;
        }
      if (strcmp(mk, "ok") == 0 || strcmp(mk, "interrupted") == 0) {
        /* ok only if every process was; interrupted if any was */
        int all_ok = 1, any = 0;

        for (size_t j = 0; j < kc; j++) {
          all_ok &= mg_json_bool(c[j].v);
          any |= mg_json_bool(c[j].v);
        }
        mg_json_set_bool(o, mk, mk[0] == 'o' ? all_ok : any);
        continue;
      }
      if ((strcmp(mk, "started") == 0 || strcmp(mk, "finished") == 0)
          && mg_json_is_string(c[0].v)) {
        /* RFC 3339 UTC times order as strings */
        const struct mg_json *best = c[0].v;

        for (size_t j = 1; j < kc; j++) {
          int cmp = strcmp(mg_json_string(c[j].v), mg_json_string(best));

          if (mg_json_is_string(c[j].v) && (mk[0] == 's' ? cmp < 0 : cmp > 0))
            best = c[j].v;
        }
        mg_json_set(o, mk, mg_json_dup(best));
        continue;
      }
      mg_json_set(o, mk, merge_run_tree(c, kc, "perf", mk, mk, notes));
    }
  /* exact distributions when every process left its samples */
  lines = mg_xcalloc(k, sizeof(*lines));
  exact = load_samples(p, k, lines, notes) == 0;
  {
    const char *pm =
        mg_json_string(mg_json_get_path(p[0].v, "config.percentile_method"));

    method = pm && strcmp(pm, "linear") == 0 ? MG_STATS_PCT_LINEAR
                                             : MG_STATS_PCT_NEAREST_RANK;
  }
  /* runs, grouped by id in first-seen order */
  runs = mg_json_new_array();
  ids = mg_json_new_object();
  for (size_t i = 0; i < k; i++) {
    size_t ri = 0;

    for (struct mg_json *r = mg_json_first(mg_json_get(p[i].v, "runs")); r;
         r = mg_json_next(r), ri++) {
      const char *id = run_id(r, ri, buf, sizeof(buf));
      size_t kc = 0;
      char path[200];
      struct mg_json *mr;

      if (mg_json_get(ids, id))
        continue;
      mg_json_set_bool(ids, id, 1);
      for (size_t j = i; j < k; j++) {
        size_t rj = 0;

        for (struct mg_json *x = mg_json_first(mg_json_get(p[j].v, "runs")); x;
             x = mg_json_next(x), rj++) {
          char b2[32];

          if (strcmp(run_id(x, rj, b2, sizeof(b2)), id) == 0) {
            c[kc].v = x;
            c[kc].name = p[j].name;
            cin[kc] = j;
            reb[kc] = NULL;
            kc++;
            break;
          }
        }
        if (kc == k)
          break;
      }
      /* Shards with start_unix that started apart: onto the earliest's
       * clock, windows and samples alike, so the union is exact. */
      t0 = 0;
      apart = 0;
      for (size_t j = 0; j < kc; j++) {
        const struct mg_json *su = mg_json_get(c[j].v, "start_unix");
        if (!mg_json_is_number(su)) {
          apart = 0;
          break;
        }
        if (j && mg_json_number(su) != t0)
          apart = 1;
        if (!j || mg_json_number(su) < t0)
          t0 = mg_json_number(su);
      }
      memset(shift, 0, k * sizeof(*shift));
      for (size_t j = 0; apart && j < kc; j++) {
        shift[cin[j]] =
            round((mg_json_number(mg_json_get(c[j].v, "start_unix")) - t0)
                  * 1e6)
            / 1e3;
        c[j].v = reb[j] = rebased_run(c[j].v, t0);
      }
      snprintf(path, sizeof(path), "perf.runs[%s]", id);
      mr = merge_run_tree(c, kc, "runs", NULL, path, notes);
      if (kc > 1) {
        recompute_rates(mr);
        mg_json_set_number(mr, "merged_from", (double)kc);
        if (exact && mg_json_is_number(mg_json_get(mr, "id"))) {
          exact_run(mr, mg_json_number(mg_json_get(mr, "id")), lines, shift, k,
                    method);
          mg_json_remove(mr, "percentiles_approx");
        }
      }
      for (size_t j = 0; j < kc; j++)
        mg_json_free(reb[j]);
      mg_json_append(runs, mr);
    }
  }
  mg_json_set(o, "runs", runs);
  mg_json_free(ids);
  free(cin);
  free(shift);
  free(reb);
  for (size_t i = 0; i < k; i++)
    mg_json_free(lines[i]);
  free(lines);
  free(c);
  *out = o;
  return 0;
}

/* ---- eval: union by task ------------------------------------------------- */

static int eval_volatile(const char *k)
{
  static const char *const v[] = {
    "date",       "started", "finished", "total_evaluation_time_seconds",
    "duration_s", "host",    "pid",      NULL
  };

  for (const char *const *p = v; k && *p; p++)
    if (strcmp(k, *p) == 0)
      return 1;
  return 0;
}

static const char *task_key(const struct mg_json *o)
{
  const char *t = mg_json_string(mg_json_get(o, "task"));

  return t ? t : mg_json_string(mg_json_get(o, "name"));
}

static int merge_union(const struct part *p, size_t k, const char *key,
                       const char *path, const struct mg_json *allow,
                       struct mg_json **out, struct mg_json *notes,
                       struct mg_err *err)
{
  int objs = 1, task_arrays = 1;
  char sub[256];
  const char *pol;

  *out = NULL;
  if (all_equal(p, k)) {
    *out = mg_json_dup(p[0].v);
    return 0;
  }
  for (size_t i = 0; i < k; i++) {
    objs &= mg_json_is_object(p[i].v);
    if (!mg_json_is_array(p[i].v))
      task_arrays = 0;
    for (struct mg_json *x = mg_json_first(p[i].v); task_arrays && x;
         x = mg_json_next(x))
      if (!task_key(x))
        task_arrays = 0;
  }
  if (objs || task_arrays) {
    struct mg_json *o = objs ? mg_json_new_object() : mg_json_new_array();
    struct mg_json *seen = mg_json_new_object();
    struct part *c = mg_xcalloc(k, sizeof(*c));
    int rc = 0;

    for (size_t i = 0; i < k && rc == 0; i++)
      for (struct mg_json *m = mg_json_first(p[i].v); m && rc == 0;
           m = mg_json_next(m)) {
        const char *mk = objs ? mg_json_key(m) : task_key(m);
        size_t kc = 0;
        struct mg_json *mv = NULL;

        if (mg_json_get(seen, mk))
          continue;
        mg_json_set_bool(seen, mk, 1);
        for (size_t j = 0; j < k; j++) {
          struct mg_json *x = NULL;

          if (objs) {
            x = mg_json_get(p[j].v, mk);
          } else {
            for (struct mg_json *y = mg_json_first(p[j].v); y;
                 y = mg_json_next(y))
              if (strcmp(task_key(y), mk) == 0)
                x = y;
          }
          if (x) {
            c[kc].v = x;
            c[kc].name = p[j].name;
            kc++;
          }
        }
        snprintf(sub, sizeof(sub), "%s.%s", path, mk);
        if (!objs && !all_equal(c, kc)) {
          size_t d = first_diff(c, kc);

          pol = policy(allow, "eval");
          if (!pol) {
            rc = mg_err_set(err, MG_ERR_DATA,
                            "conflicting results for '%.80s' in '%s' and "
                            "'%s'; give --allow eval=first|last",
                            sub, c[0].name, c[d].name);
            break;
          }
          mv = mg_json_dup(strcmp(pol, "last") == 0 ? c[kc - 1].v : c[0].v);
          note(notes, "'%s' differs between '%s' and '%s'; kept the %s", sub,
               c[0].name, c[d].name, pol);
        } else {
          rc = merge_union(c, kc, mk, sub, allow, &mv, notes, err);
        }
        if (rc == 0 && objs)
          mg_json_set(o, mk, mv);
        else if (rc == 0)
          mg_json_append(o, mv);
      }
    free(c);
    mg_json_free(seen);
    if (rc < 0) {
      mg_json_free(o);
      return -1;
    }
    *out = o;
    return 0;
  }
  {
    size_t d = first_diff(p, k);
    int nums = 1, bools = 1;

    for (size_t i = 0; i < k; i++) {
      nums &= mg_json_is_number(p[i].v);
      bools &= mg_json_is_bool(p[i].v);
    }
    /* eval-run's request counters add up; ok / complete hold if they
     * held everywhere */
    if (nums && strncmp(path, "eval.requests.", 14) == 0) {
      double sum = 0;

      for (size_t i = 0; i < k; i++)
        sum += mg_json_number(p[i].v);
      *out = mg_json_new_number(sum);
      return 0;
    }
    if (bools && key
        && (strcmp(key, "ok") == 0 || strcmp(key, "complete") == 0)) {
      int all = 1;

      for (size_t i = 0; i < k; i++)
        all &= mg_json_bool(p[i].v);
      *out = mg_json_new_bool(all);
      return 0;
    }
    if (eval_volatile(key)) {
      note(notes,
           "'%s' differs between '%s' and '%s'; the value of '%s' "
           "is kept",
           path, p[0].name, p[d].name, p[0].name);
      *out = mg_json_dup(p[0].v);
      return 0;
    }
    pol = policy(allow, "eval");
    if (pol) {
      note(notes, "'%s' differs between '%s' and '%s'; kept the %s", path,
           p[0].name, p[d].name, pol);
      *out = mg_json_dup(strcmp(pol, "last") == 0 ? p[k - 1].v : p[0].v);
      return 0;
    }
    return mg_err_set(err, MG_ERR_DATA,
                      "conflicting results for '%.80s' in '%s' and '%s'; "
                      "give --allow eval=first|last",
                      path, p[0].name, p[d].name);
  }
}

/* ---- eval: group aggregates over the merged subtasks --------------------- */

/*
 * lm-eval's groups (mmlu and its categories) aggregate their leaf tasks:
 * per "metric,filter" the size-weighted mean (weight_by_size, as mmlu
 * sets it; else the plain mean) over every leaf below the group, and the
 * pooled standard error sqrt(sum((n_i - 1) se_i^2 n_i) / (N - k) / N),
 * "N/A" when a leaf has none (eval-anchors.md §3). When merged inputs
 * hold different subtasks of one group, its figures are recomputed so,
 * from the merged leaves: what one run over all of them reports.
 */

/* A child names a group when group_subtasks lists children for it. */
static int is_group(const struct mg_json *gs, const char *name)
{
  const struct mg_json *c = mg_json_get(gs, name);

  return mg_json_is_array(c) && mg_json_size(c) > 0;
}

static int in_strings(const struct mg_json *arr, const char *s)
{
  for (struct mg_json *x = mg_json_first(arr); x; x = mg_json_next(x))
    if (mg_json_is_string(x) && strcmp(mg_json_string(x), s) == 0)
      return 1;
  return 0;
}

/* Appends the leaf tasks below group g, in order, each once. */
static void leaves_of(const struct mg_json *gs, const char *g,
                      struct mg_json *out, int depth)
{
  if (depth > 32)
    return;
  for (struct mg_json *c = mg_json_first(mg_json_get(gs, g)); c;
       c = mg_json_next(c)) {
    const char *n = mg_json_string(c);

    if (!n)
      continue;
    if (is_group(gs, n))
      leaves_of(gs, n, out, depth + 1);
    else if (!in_strings(out, n))
      mg_json_append(out, mg_json_new_string(n));
  }
}

static int same_set(const struct mg_json *a, const struct mg_json *b)
{
  if (mg_json_size(a) != mg_json_size(b))
    return 0;
  for (struct mg_json *x = mg_json_first(a); x; x = mg_json_next(x))
    if (!in_strings(b, mg_json_string(x)))
      return 0;
  return 1;
}

/* The union of the inputs' group_subtasks, children in first-seen order. */
static struct mg_json *union_subtasks(const struct part *p, size_t k)
{
  struct mg_json *u = mg_json_new_object();

  for (size_t i = 0; i < k; i++)
    for (struct mg_json *g =
             mg_json_first(mg_json_get(p[i].v, "group_subtasks"));
         g; g = mg_json_next(g)) {
      struct mg_json *dst = mg_json_get(u, mg_json_key(g));

      if (!mg_json_is_array(g))
        continue;
      if (!dst) {
        dst = mg_json_new_array();
        mg_json_set(u, mg_json_key(g), dst);
      }
      for (struct mg_json *c = mg_json_first(g); c; c = mg_json_next(c))
        if (mg_json_is_string(c) && !in_strings(dst, mg_json_string(c)))
          mg_json_append(dst, mg_json_new_string(mg_json_string(c)));
    }
  return u;
}

/* The group's figures as an input holds them (eval-run's "groups", or
 * lm-eval's "results"). */
static const struct mg_json *group_entry(const struct mg_json *ev,
                                         const char *g)
{
  const struct mg_json *e = mg_json_get(mg_json_get(ev, "groups"), g);

  return e ? e : mg_json_get(mg_json_get(ev, "results"), g);
}

/* "acc_stderr,none" for "acc,none". caller frees. */
static char *stderr_key(const char *key)
{
  const char *comma = strchr(key, ',');

  if (!comma)
    return mg_xasprintf("%s_stderr", key);
  return mg_xasprintf("%.*s_stderr%s", (int)(comma - key), key, comma);
}

static int is_metric_key(const char *key)
{
  const char *comma = strchr(key, ',');
  size_t n = comma ? (size_t)(comma - key) : strlen(key);

  return !(n >= 7 && strncmp(key + n - 7, "_stderr", 7) == 0);
}

/*
 * One leaf's value of key, its standard error (*has_se 0 for "N/A" or
 * absent) and its sample count (-1 when unknown), from eval-run's task
 * list or lm-eval's results map. 0 when the leaf has no such value.
 */
static int leaf_value(const struct mg_json *ev, const char *t, const char *key,
                      double *v, double *se, int *has_se, double *n)
{
  const struct mg_json *m = NULL, *sev = NULL, *nv;
  char *sek = stderr_key(key);

  *has_se = 0;
  *n = -1;
  for (struct mg_json *x = mg_json_first(mg_json_get(ev, "tasks")); x;
       x = mg_json_next(x)) {
    const char *name = task_key(x);

    if (name && strcmp(name, t) == 0) {
      m = mg_json_get(mg_json_get(x, "metrics"), key);
      nv = mg_json_get(x, "n");
      if (mg_json_is_number(nv))
        *n = mg_json_number(nv);
      if (mg_json_is_object(m)) {
        sev = mg_json_get(m, "stderr");
        m = mg_json_get(m, "value");
      }
      break;
    }
  }
  if (!mg_json_is_number(m)) {
    const struct mg_json *r = mg_json_get(mg_json_get(ev, "results"), t);

    m = mg_json_get(r, key);
    sev = mg_json_get(r, sek);
  }
  free(sek);
  nv = mg_json_get(mg_json_get(mg_json_get(ev, "n-samples"), t), "effective");
  if (mg_json_is_number(nv))
    *n = mg_json_number(nv);
  if (!mg_json_is_number(m))
    return 0;
  *v = mg_json_number(m);
  if (mg_json_is_number(sev)) {
    *se = mg_json_number(sev);
    *has_se = 1;
  }
  return 1;
}

/* The leaf's sample count, or -1. */
static double leaf_size(const struct mg_json *ev, const char *t)
{
  double v, se, n;
  int has_se;

  (void)leaf_value(ev, t, "", &v, &se, &has_se, &n);
  return n;
}

/* ev's member key, an object, created when absent. Borrowed. */
static struct mg_json *obj_member(struct mg_json *ev, const char *key)
{
  struct mg_json *o = mg_json_get(ev, key);

  if (!mg_json_is_object(o)) {
    o = mg_json_new_object();
    mg_json_set(ev, key, o);
  }
  return o;
}

/* Aggregates key over the leaves of ev, in leaf order (mg_eval_group). */
static void aggregate(const struct mg_json *ev, const struct mg_json *leaves,
                      const char *key, struct mg_eval_group *a)
{
  mg_eval_group_init(a);
  for (struct mg_json *l = mg_json_first(leaves); l; l = mg_json_next(l)) {
    double v, se, n;
    int has_se;

    if (leaf_value(ev, mg_json_string(l), key, &v, &se, &has_se, &n))
      mg_eval_group_add(a, v, n < 1 ? 0 : (size_t)n, n >= 1, has_se, se);
  }
}

static int close_to(double a, double b)
{
  return fabs(a - b) <= 1e-12 * fmax(1.0, fabs(b));
}

/* Recomputes group g of the merged eval section ev from merged leaves. */
static int regroup(struct mg_json *ev, const char *g, const struct mg_json *gs,
                   const struct part *p, size_t k, struct mg_json *notes,
                   struct mg_err *err)
{
  struct mg_json *leaves = mg_json_new_array(), *keys = mg_json_new_array();
  struct mg_json *entry = mg_json_new_object();
  const char *alias = NULL;
  int in_groups = 0, in_results = 0, in_ns = 0, rc = 0;
  double total = 0;

  leaves_of(gs, g, leaves, 0);
  for (size_t i = 0; i < k; i++) {
    const struct mg_json *e = group_entry(p[i].v, g);

    in_groups |= mg_json_get(mg_json_get(p[i].v, "groups"), g) != NULL;
    in_results |= mg_json_get(mg_json_get(p[i].v, "results"), g) != NULL;
    in_ns |= mg_json_get(mg_json_get(p[i].v, "n-samples"), g) != NULL;
    if (!alias)
      alias = mg_json_string(mg_json_get(e, "alias"));
    for (struct mg_json *m = mg_json_first(e); m; m = mg_json_next(m))
      if (mg_json_is_number(m) && is_metric_key(mg_json_key(m))
          && !in_strings(keys, mg_json_key(m)))
        mg_json_append(keys, mg_json_new_string(mg_json_key(m)));
  }
  if (alias)
    mg_json_set_string(entry, "alias", alias);
  for (struct mg_json *kk = mg_json_first(keys); kk && rc == 0;
       kk = mg_json_next(kk)) {
    const char *key = mg_json_string(kk);
    int says_w = 0, says_u = 0, weighted;
    struct mg_eval_group a;
    double se;
    char *sek;

    /* weight_by_size is not in the record: read it off each input's own
     * figure, which one of the two means reproduces */
    for (size_t i = 0; i < k; i++) {
      const struct mg_json *r = mg_json_get(group_entry(p[i].v, g), key);
      struct mg_json *li;
      struct mg_eval_group ai;

      if (!mg_json_is_number(r))
        continue;
      li = mg_json_new_array();
      leaves_of(mg_json_get(p[i].v, "group_subtasks"), g, li, 0);
      aggregate(p[i].v, li, key, &ai);
      if (ai.k && ai.sized) {
        int w = close_to(mg_eval_group_value(&ai, 1), mg_json_number(r));
        int u = close_to(mg_eval_group_value(&ai, 0), mg_json_number(r));

        says_w |= w && !u;
        says_u |= u && !w;
      }
      mg_eval_group_release(&ai);
      mg_json_free(li);
    }
    if (says_w && says_u) {
      rc = mg_err_set(err, MG_ERR_DATA,
                      "conflicting aggregation of group 'eval.groups.%.60s' "
                      "('%s'): size-weighted in one input, not in another",
                      g, key);
      break;
    }
    weighted = !says_u;
    aggregate(ev, leaves, key, &a);
    if (!a.k || (weighted && !a.sized)) {
      mg_eval_group_release(&a);
      if (a.k) {
        rc = mg_err_set(err, MG_ERR_DATA,
                        "cannot recompute group 'eval.groups.%.60s': a "
                        "subtask has no sample count",
                        g);
        break;
      }
      continue;
    }
    if (!says_w && !says_u && a.sized
        && !close_to(mg_eval_group_value(&a, 1), mg_eval_group_value(&a, 0)))
      note(notes,
           "group '%s' ('%s'): the inputs do not tell whether it is "
           "weighted by size; weighted, as lm-eval's mmlu groups",
           g, key);
    mg_json_set_number(entry, key, mg_eval_group_value(&a, weighted));
    sek = stderr_key(key);
    if (mg_eval_group_stderr(&a, &se))
      mg_json_set_number(entry, sek, se);
    else
      mg_json_set_string(entry, sek, "N/A");
    free(sek);
    mg_eval_group_release(&a);
  }
  if (rc == 0 && mg_json_size(entry) > (alias ? 1u : 0u)) {
    if (in_groups || !in_results)
      mg_json_set(obj_member(ev, "groups"), g, mg_json_dup(entry));
    if (in_results)
      mg_json_set(obj_member(ev, "results"), g, mg_json_dup(entry));
    if (in_ns) {
      struct mg_json *ns = mg_json_new_object();

      for (struct mg_json *l = mg_json_first(leaves); l; l = mg_json_next(l))
        total += fmax(0, leaf_size(ev, mg_json_string(l)));
      mg_json_set_number(ns, "effective", total);
      mg_json_set(obj_member(ev, "n-samples"), g, ns);
    }
  }
  mg_json_free(entry);
  mg_json_free(keys);
  mg_json_free(leaves);
  return rc;
}

/*
 * Merges eval sections: copies of the inputs with the union of their
 * group_subtasks, and without the figures of groups whose leaves differ
 * between an input and the union, are united task by task; those groups
 * are then recomputed from the merged subtasks.
 */
static int merge_eval(const struct part *p, size_t k,
                      const struct mg_json *allow, struct mg_json **out,
                      struct mg_json *notes, struct mg_err *err)
{
  struct mg_json *gs = union_subtasks(p, k);
  struct mg_json *redo = mg_json_new_array();
  struct mg_json **copies = mg_xcalloc(k, sizeof(*copies));
  struct part *c = mg_xcalloc(k, sizeof(*c));
  int rc = 0;

  for (struct mg_json *g = mg_json_first(gs); g; g = mg_json_next(g)) {
    struct mg_json *all = mg_json_new_array();

    leaves_of(gs, mg_json_key(g), all, 0);
    for (size_t i = 0; i < k; i++) {
      const struct mg_json *mine = mg_json_get(p[i].v, "group_subtasks");
      struct mg_json *li;

      if (!mg_json_get(mine, mg_json_key(g)))
        continue;
      li = mg_json_new_array();
      leaves_of(mine, mg_json_key(g), li, 0);
      if (!same_set(li, all) && !in_strings(redo, mg_json_key(g)))
        mg_json_append(redo, mg_json_new_string(mg_json_key(g)));
      mg_json_free(li);
    }
    mg_json_free(all);
  }
  for (size_t i = 0; i < k; i++) {
    copies[i] = mg_json_dup(p[i].v);
    if (mg_json_is_object(copies[i])) {
      if (mg_json_get(copies[i], "group_subtasks"))
        mg_json_set(copies[i], "group_subtasks", mg_json_dup(gs));
      for (struct mg_json *g = mg_json_first(redo); g; g = mg_json_next(g)) {
        static const char *const where[] = { "groups", "results", "n-samples" };

        for (size_t w = 0; w < 3; w++)
          mg_json_remove(mg_json_get(copies[i], where[w]), mg_json_string(g));
      }
    }
    c[i].v = copies[i];
    c[i].name = p[i].name;
  }
  rc = merge_union(c, k, "eval", "eval", allow, out, notes, err);
  for (struct mg_json *g = mg_json_first(redo); g && rc == 0;
       g = mg_json_next(g))
    if (mg_json_is_object(*out))
      rc = regroup(*out, mg_json_string(g), gs, p, k, notes, err);
  if (rc < 0) {
    mg_json_free(*out);
    *out = NULL;
  }
  for (size_t i = 0; i < k; i++)
    mg_json_free(copies[i]);
  free(copies);
  free(c);
  mg_json_free(redo);
  mg_json_free(gs);
  return rc;
}

/* ---- records ----------------------------------------------------------------
 */

static struct mg_json *merge_provenance(const struct part *p, size_t k)
{
  struct mg_json *a = mg_json_new_array();

  for (size_t i = 0; i < k; i++) {
    if (!mg_json_is_array(p[i].v)) {
      mg_json_append(a, mg_json_dup(p[i].v));
      continue;
    }
    for (struct mg_json *e = mg_json_first(p[i].v); e; e = mg_json_next(e)) {
      int dup = 0;

      for (struct mg_json *x = mg_json_first(a); x && !dup; x = mg_json_next(x))
        dup = mg_json_equal(x, e);
      if (!dup)
        mg_json_append(a, mg_json_dup(e));
    }
  }
  return a;
}

static int merge_generic(const struct part *p, size_t k, const char *key,
                         const struct mg_json *allow, struct mg_json **out,
                         struct mg_json *notes, struct mg_err *err)
{
  size_t d;
  const char *pol;

  *out = NULL;
  if (all_equal(p, k)) {
    *out = mg_json_dup(p[0].v);
    return 0;
  }
  d = first_diff(p, k);
  pol = policy(allow, key);
  if (pol) {
    note(notes, "section '%s' differs between '%s' and '%s'; kept the %s", key,
         p[0].name, p[d].name, pol);
    *out = mg_json_dup(strcmp(pol, "last") == 0 ? p[k - 1].v : p[0].v);
    return 0;
  }
  if (strcmp(key, "model") == 0) {
    const char *a = mg_json_string(mg_json_get(p[0].v, "name"));
    const char *b = mg_json_string(mg_json_get(p[d].v, "name"));

    return mg_err_set(err, MG_ERR_DATA,
                      "records describe different models: '%s' has '%.60s' "
                      "and '%s' has '%.60s'; give --allow model=first|last",
                      p[0].name, a ? a : "?", p[d].name, b ? b : "?");
  }
  return mg_err_set(err, MG_ERR_DATA,
                    "conflicting section '%s' in '%s' and '%s'; give "
                    "--allow %s=first|last",
                    key, p[0].name, p[d].name, key);
}

int mg_merge_records(const struct mg_merge_input *in, size_t n,
                     const struct mg_json *allow, struct mg_json **out,
                     struct mg_json *notes, struct mg_err *err)
{
  struct mg_json *rec = mg_record_new();
  struct part *c = mg_xcalloc(n ? n : 1, sizeof(*c));
  int rc = 0;

  *out = NULL;
  for (size_t i = 0; i < n && rc == 0; i++)
    for (struct mg_json *m = mg_json_first(in[i].rec); m && rc == 0;
         m = mg_json_next(m)) {
      const char *key = mg_json_key(m);
      struct mg_json *v = NULL;
      size_t k = 0;

      if (strcmp(key, "schema") == 0 || mg_json_get(rec, key))
        continue;
      for (size_t j = i; j < n; j++) {
        struct mg_json *x = mg_json_get(in[j].rec, key);

        if (x) {
          c[k].v = x;
          c[k].name = in[j].name;
          k++;
        }
      }
      if (strcmp(key, "provenance") == 0) {
        v = merge_provenance(c, k);
      } else if (k == 1) {
        v = mg_json_dup(c[0].v);
      } else if (strcmp(key, "perf") == 0 && !all_equal(c, k)) {
        rc = merge_perf(c, k, allow, &v, notes, err);
      } else if (strcmp(key, "eval") == 0) {
        rc = merge_eval(c, k, allow, &v, notes, err);
      } else {
        rc = merge_generic(c, k, key, allow, &v, notes, err);
      }
      if (rc == 0)
        mg_json_set(rec, key, v);
    }
  free(c);
  if (rc < 0) {
    mg_json_free(rec);
    return -1;
  }
  *out = rec;
  return 0;
}

/* ---- comparison
 * --------------------------------------------------------------- */

struct rowdef {
  const char *metric;
  const char *path; /* within the headline run, or "perf.X" */
  const char *unit;
  const char *better;
  const char *se_of; /* a DIST whose mean's standard error applies */
};

static const struct rowdef perf_rows[] = {
  { "requests_per_s", "requests_per_s", "req/s", "higher", NULL },
  { "output_tokens_per_s", "output_tokens_per_s", "tok/s", "higher", NULL },
  { "ttft_mean_ms", "ttft_ms.mean", "ms", "lower", "ttft_ms" },
  { "ttft_p50_ms", "ttft_ms.p50", "ms", "lower", NULL },
  { "ttft_p99_ms", "ttft_ms.p99", "ms", "lower", NULL },
  { "itl_mean_ms", "itl_ms.mean", "ms", "lower", "itl_ms" },
  { "itl_p50_ms", "itl_ms.p50", "ms", "lower", NULL },
  { "itl_p99_ms", "itl_ms.p99", "ms", "lower", NULL },
  { "latency_p50_ms", "latency_ms.p50", "ms", "lower", NULL },
  { "latency_p99_ms", "latency_ms.p99", "ms", "lower", NULL },
  { "goodput_rps", "goodput_rps", "req/s", "higher", NULL },
  { "max_sustainable_rps", "perf.max_sustainable_rps", "req/s", "higher",
    NULL },
};

static struct mg_json *num_or_null(const struct mg_json *v)
{
  if (mg_json_is_number(v) && isfinite(mg_json_number(v)))
    return mg_json_new_number(mg_json_number(v));
  return mg_json_new_null();
}

/* Sets "delta", "delta_pct" and "significant" against entry 0, leaving
 * null the entries whose "comparable" is false. */
static void finish_row(struct mg_json *row)
{
  struct mg_json *vals = mg_json_get(row, "values");
  struct mg_json *ses = mg_json_get(row, "stderr");
  struct mg_json *cmpb = mg_json_get(row, "comparable");
  struct mg_json *delta = mg_json_new_array();
  struct mg_json *pct = mg_json_new_array();
  struct mg_json *sig = mg_json_new_array();
  const struct mg_json *b = mg_json_at(vals, 0);
  const struct mg_json *bse = mg_json_at(ses, 0);
  size_t i = 0;

  for (struct mg_json *v = mg_json_first(vals); v; v = mg_json_next(v), i++) {
    const struct mg_json *se = mg_json_at(ses, i);
    const struct mg_json *ok = mg_json_at(cmpb, i);

    if (i == 0 || !mg_json_is_number(v) || !mg_json_is_number(b)
        || (mg_json_is_bool(ok) && !mg_json_bool(ok))) {
      mg_json_append(delta, mg_json_new_null());
      mg_json_append(pct, mg_json_new_null());
      mg_json_append(sig, mg_json_new_null());
      continue;
    }
    {
      double d = mg_json_number(v) - mg_json_number(b);

      mg_json_append(delta, mg_json_new_number(d));
      if (mg_json_number(b) != 0)
        mg_json_append(pct,
                       mg_json_new_number(100 * d / fabs(mg_json_number(b))));
      else
        mg_json_append(pct, mg_json_new_null());
      if (mg_json_is_number(se) && mg_json_is_number(bse)) {
        double s = sqrt(mg_json_number(se) * mg_json_number(se)
                        + mg_json_number(bse) * mg_json_number(bse));

        mg_json_append(sig, mg_json_new_bool(fabs(d) > s));
      } else {
        mg_json_append(sig, mg_json_new_null());
      }
    }
  }
  mg_json_set(row, "delta", delta);
  mg_json_set(row, "delta_pct", pct);
  mg_json_set(row, "significant", sig);
}

static int row_has_value(const struct mg_json *row)
{
  for (struct mg_json *v = mg_json_first(mg_json_get(row, "values")); v;
       v = mg_json_next(v))
    if (mg_json_is_number(v))
      return 1;
  return 0;
}

/* An open-loop step (it offered a rate): constant, poisson, gamma, or a
 * run with a rate and no kind. */
static int open_loop(const struct mg_json *r)
{
  const char *k = mg_json_string(mg_json_get(r, "kind"));

  if (!mg_json_is_number(mg_json_get(r, "rate")))
    return 0;
  return !k || strcmp(k, "constant") == 0 || strcmp(k, "poisson") == 0
         || strcmp(k, "gamma") == 0;
}

static int same_rate(double a, double b)
{
  return fabs(a - b) <= 1e-9 * fmax(1, fabs(a));
}

/* The open-loop step of perf at rate, or NULL. */
static const struct mg_json *run_at(const struct mg_json *perf, double rate)
{
  for (struct mg_json *r = mg_json_first(mg_json_get(perf, "runs")); r;
       r = mg_json_next(r))
    if (open_loop(r) && same_rate(mg_json_number(mg_json_get(r, "rate")), rate))
      return r;
  return NULL;
}

/* One entry's figures at an offered load: the step at that rate (hi
 * NULL), or linear interpolation between the open-loop steps just below
 * (lo) and just above (hi) it, w the weight of hi. */
struct at_load {
  const struct mg_json *lo, *hi;
  double w;
};

/* 1: a step at rate; 2: interpolated between two steps; 0: neither. */
static int load_point(const struct mg_json *perf, double rate,
                      struct at_load *a)
{
  double rl = -INFINITY, rh = INFINITY;

  memset(a, 0, sizeof(*a));
  a->lo = run_at(perf, rate);
  if (a->lo)
    return 1;
  for (struct mg_json *r = mg_json_first(mg_json_get(perf, "runs")); r;
       r = mg_json_next(r)) {
    double x = mg_json_number(mg_json_get(r, "rate"));

    if (!open_loop(r))
      continue;
    if (x < rate && x > rl) {
      rl = x;
      a->lo = r;
    }
    if (x > rate && x < rh) {
      rh = x;
      a->hi = r;
    }
  }
  if (!a->lo || !a->hi) {
    memset(a, 0, sizeof(*a));
    return 0;
  }
  a->w = (rate - rl) / (rh - rl);
  return 2;
}

static int at_value(const struct at_load *a, const char *path, double *v)
{
  const struct mg_json *x = mg_json_get_path(a->lo, path);
  const struct mg_json *y = a->hi ? mg_json_get_path(a->hi, path) : NULL;

  if (!mg_json_is_number(x) || (a->hi && !mg_json_is_number(y)))
    return -1;
  *v = mg_json_number(x);
  if (a->hi)
    *v += a->w * (mg_json_number(y) - *v);
  return isfinite(*v) ? 0 : -1;
}

/* The standard error of a DIST's mean: std / sqrt(count). */
static int mean_se(const struct mg_json *run, const char *dist, double *se)
{
  const struct mg_json *d = mg_json_get(run, dist);
  double cnt = mg_json_number(mg_json_get(d, "count"));

  if (!mg_json_is_number(mg_json_get(d, "stddev")) || !(cnt > 1))
    return -1;
  *se = mg_json_number(mg_json_get(d, "stddev")) / sqrt(cnt);
  return 0;
}

/* Of an interpolated mean, (1-w) m_lo + w m_hi of independent steps. */
static int at_se(const struct at_load *a, const char *dist, double *se)
{
  double s0, s1;

  if (mean_se(a->lo, dist, &s0) < 0)
    return -1;
  if (!a->hi) {
    *se = s0;
    return 0;
  }
  if (mean_se(a->hi, dist, &s1) < 0)
    return -1;
  *se = sqrt((1 - a->w) * (1 - a->w) * s0 * s0 + a->w * a->w * s1 * s1);
  return 0;
}

/* "constant@23.9": how a run's load is named in messages. */
static void load_name(const struct mg_json *r, char *buf, size_t n)
{
  const char *k = mg_json_string(mg_json_get(r, "kind"));
  const char *id = mg_json_string(mg_json_get(r, "id"));

  if (k && mg_json_is_number(mg_json_get(r, "rate")))
    snprintf(buf, n, "%s@%g", k, mg_json_number(mg_json_get(r, "rate")));
  else
    snprintf(buf, n, "%s", k ? k : id ? id : "?");
}

/*
 * Whether the entries' operating points are the same offered load: the
 * same kind of step at the same rate (or the same run id when neither
 * says more). Fills loads {"comparable", "points": [NAME...]}.
 */
static int same_operating_load(const struct mg_json *sums,
                               struct mg_json *loads)
{
  const struct mg_json *h0 =
      mg_results_headline_run(mg_json_get(mg_json_first(sums), "perf"));
  struct mg_json *pts = mg_json_new_array();
  int same = 1;

  for (const struct mg_json *s = mg_json_first(sums); s; s = mg_json_next(s)) {
    const struct mg_json *h = mg_results_headline_run(mg_json_get(s, "perf"));
    const struct mg_json *k0 = mg_json_get(h0, "kind"),
                         *k = mg_json_get(h, "kind");
    const struct mg_json *r0 = mg_json_get(h0, "rate"),
                         *r = mg_json_get(h, "rate");
    char name[80];

    load_name(h, name, sizeof(name));
    mg_json_append(pts, h ? mg_json_new_string(name) : mg_json_new_null());
    if (!h || !h0)
      continue;
    if (!k0 && !k && !r0 && !r)
      same &= mg_json_equal(mg_json_get(h, "id"), mg_json_get(h0, "id"));
    else
      same &= mg_json_equal(k0, k)
              && (mg_json_is_number(r0) == mg_json_is_number(r))
              && (!mg_json_is_number(r)
                  || same_rate(mg_json_number(r0), mg_json_number(r)));
  }
  mg_json_set_bool(loads, "comparable", same);
  mg_json_set(loads, "points", pts);
  return same;
}

/* The max sustainable rates compare when every entry swept, or all ran
 * the same rate steps; else one of them only tried lower rates. */
static int msr_comparable(const struct mg_json *sums)
{
  const struct mg_json *p0 = mg_json_get(mg_json_first(sums), "perf");
  int sweeps = 1, same = 1;

  for (const struct mg_json *s = mg_json_first(sums); s; s = mg_json_next(s)) {
    const struct mg_json *perf = mg_json_get(s, "perf");
    const char *prof = mg_json_string(mg_json_get(perf, "profile"));
    size_t n0 = 0, n = 0;

    sweeps &= prof && strcmp(prof, "sweep") == 0;
    for (struct mg_json *r = mg_json_first(mg_json_get(perf, "runs")); r;
         r = mg_json_next(r))
      if (open_loop(r)) {
        n++;
        same &= run_at(p0, mg_json_number(mg_json_get(r, "rate"))) != NULL;
      }
    for (struct mg_json *r = mg_json_first(mg_json_get(p0, "runs")); r;
         r = mg_json_next(r))
      n0 += (size_t)open_loop(r);
    same &= n == n0;
  }
  return sweeps || same;
}

/*
 * The offered load to compare at when the operating points differ: the
 * highest rate, at most every entry's max_sustainable_rps, that each
 * entry ran as an open-loop step or brackets between two such steps.
 * 0 when there is none. *exact: every entry ran it as a step.
 */
static double matched_rate(const struct mg_json *sums, int *exact)
{
  double best = 0, cap = INFINITY;

  *exact = 0;
  for (const struct mg_json *s = mg_json_first(sums); s; s = mg_json_next(s)) {
    const struct mg_json *msr = mg_json_get_path(s, "perf.max_sustainable_rps");

    if (mg_json_is_number(msr))
      cap = fmin(cap, mg_json_number(msr));
  }
  for (const struct mg_json *s = mg_json_first(sums); s; s = mg_json_next(s))
    for (struct mg_json *r = mg_json_first(mg_json_get_path(s, "perf.runs")); r;
         r = mg_json_next(r)) {
      double rate = mg_json_number(mg_json_get(r, "rate"));
      int all = 1, ex = 1;

      if (!open_loop(r) || rate <= best || rate > cap + 1e-9)
        continue;
      for (const struct mg_json *t = mg_json_first(sums); t && all;
           t = mg_json_next(t)) {
        struct at_load a;
        int k = load_point(mg_json_get(t, "perf"), rate, &a);

        all = k != 0;
        ex &= k == 1;
      }
      if (all) {
        best = rate;
        *exact = ex;
      }
    }
  return best;
}

/* Rows of perf figures: at each entry's operating point (group "perf",
 * at NULL), or at one offered load (group "perf_same_load"). comparable:
 * whether the operating points are the same load. */
static void perf_compare_rows(const struct mg_json *sums, struct mg_json *rows,
                              const struct at_load *at, int comparable)
{
  int msr_ok = msr_comparable(sums);

  for (size_t r = 0; r < sizeof(perf_rows) / sizeof(perf_rows[0]); r++) {
    int sweep_row = strncmp(perf_rows[r].path, "perf.", 5) == 0;
    struct mg_json *row, *vals, *ses, *cmpb;
    size_t i = 0;

    if (at && sweep_row)
      continue;
    row = mg_json_new_object();
    vals = mg_json_new_array();
    ses = mg_json_new_array();
    cmpb = mg_json_new_array();
    mg_json_set_string(row, "group", at ? "perf_same_load" : "perf");
    mg_json_set_string(row, "metric", perf_rows[r].metric);
    mg_json_set_string(row, "unit", perf_rows[r].unit);
    mg_json_set_string(row, "better", perf_rows[r].better);
    for (struct mg_json *s = mg_json_first(sums); s; s = mg_json_next(s), i++) {
      const struct mg_json *perf = mg_json_get(s, "perf");
      struct at_load a = { 0 };
      double v, se;
      int ok = sweep_row ? msr_ok : at ? 1 : comparable;

      if (at)
        a = at[i];
      else
        a.lo = mg_results_headline_run(perf);
      mg_json_append(cmpb, i ? mg_json_new_bool(ok) : mg_json_new_null());
      if (sweep_row) {
        mg_json_append(
            vals, num_or_null(mg_json_get_path(perf, perf_rows[r].path + 5)));
        mg_json_append(ses, mg_json_new_null());
        continue;
      }
      mg_json_append(vals, a.lo && at_value(&a, perf_rows[r].path, &v) == 0
                               ? mg_json_new_number(v)
                               : mg_json_new_null());
      if (perf_rows[r].se_of && a.lo && at_se(&a, perf_rows[r].se_of, &se) == 0)
        mg_json_append(ses, mg_json_new_number(se));
      else
        mg_json_append(ses, mg_json_new_null());
    }
    mg_json_set(row, "values", vals);
    mg_json_set(row, "stderr", ses);
    mg_json_set(row, "comparable", cmpb);
    finish_row(row);
    if (row_has_value(row))
      mg_json_append(rows, row);
    else
      mg_json_free(row);
  }
}

/* ---- eval: paired test on the same questions ---------------------------- */

/*
 * Per-question scores of one metric from an lm-eval samples file: an
 * object mapping each document (doc_hash, else doc_id) to 0 or 1, for
 * the lines of filter. NULL when the file cannot be read, changed since
 * it was written, or a score is not 0 or 1 (McNemar needs pass/fail).
 */
static struct mg_json *question_scores(const struct mg_json *samples,
                                       const char *metric, const char *filter)
{
  const char *path = mg_json_string(mg_json_get(samples, "path"));
  const char *want = mg_json_string(mg_json_get(samples, "sha256"));
  struct mg_buf b = MG_BUF_INIT((size_t)1 << 30);
  struct mg_err err = MG_ERR_INIT;
  struct mg_json *out = mg_json_new_object();
  char hex[MG_DIGEST_SHA256_HEX_LEN + 1];
  char *line, *nl;
  int ok = path && mg_io_read_file(path, &b, &err) == 0;

  if (ok && want) {
    mg_digest_sha256_hex(b.data ? b.data : "", b.len, hex);
    ok = strcmp(want, hex) == 0;
  }
  for (line = ok ? b.data : NULL; ok && line && *line;
       line = nl ? nl + 1 : NULL) {
    struct mg_json *l, *v;
    const char *f, *key;
    char id[40];

    nl = strchr(line, '\n');
    if (nl)
      *nl = '\0';
    if (!*line)
      continue;
    if (mg_json_parse(line, strlen(line), path, &l, &err) < 0) {
      ok = 0;
      break;
    }
    f = mg_json_string(mg_json_get(l, "filter"));
    v = mg_json_get(l, metric);
    key = mg_json_string(mg_json_get(l, "doc_hash"));
    if (!key && mg_json_is_number(mg_json_get(l, "doc_id"))) {
      snprintf(id, sizeof(id), "%.0f",
               mg_json_number(mg_json_get(l, "doc_id")));
      key = id;
    }
    if (key && (!f || strcmp(f, filter) == 0)) {
      double x = mg_json_is_bool(v) ? mg_json_bool(v) : mg_json_number(v);

      if (!(mg_json_is_number(v) || mg_json_is_bool(v)) || (x != 0 && x != 1))
        ok = 0;
      else
        mg_json_set_number(out, key, x);
    }
    mg_json_free(l);
  }
  mg_buf_release(&b);
  if (!ok || !mg_json_size(out)) {
    mg_json_free(out);
    return NULL;
  }
  return out;
}

/* Two-sided exact McNemar p: 2 P(X <= min(b, c)), X ~ Binomial(b + c, 1/2). */
static double mcnemar_p(double b, double c)
{
  double n = b + c, k = fmin(b, c), p = 0;

  if (n == 0)
    return 1;
  for (double i = 0; i <= k; i++)
    p += exp(lgamma(n + 1) - lgamma(i + 1) - lgamma(n - i + 1) - n * log(2));
  return fmin(1, 2 * p);
}

/* {"questions", "b" (right in entry 0 only), "c" (in entry i only), "p"}
 * over the questions both answered, or NULL. */
static struct mg_json *mcnemar(const struct mg_json *t0,
                               const struct mg_json *t, const char *metric)
{
  const char *comma = strchr(metric, ',');
  char *name =
      mg_xstrndup(metric, comma ? (size_t)(comma - metric) : strlen(metric));
  struct mg_json *a = question_scores(mg_json_get(t0, "samples"), name,
                                      comma ? comma + 1 : "none");
  struct mg_json *b = a ? question_scores(mg_json_get(t, "samples"), name,
                                          comma ? comma + 1 : "none")
                        : NULL;
  struct mg_json *o = NULL;
  double n = 0, nb = 0, nc = 0;

  for (struct mg_json *q = b ? mg_json_first(a) : NULL; q;
       q = mg_json_next(q)) {
    struct mg_json *y = mg_json_get(b, mg_json_key(q));

    if (!y)
      continue;
    n++;
    nb += mg_json_number(q) == 1 && mg_json_number(y) == 0;
    nc += mg_json_number(q) == 0 && mg_json_number(y) == 1;
  }
  if (n > 0) {
    o = mg_json_new_object();
    mg_json_set_number(o, "questions", n);
    mg_json_set_number(o, "b", nb);
    mg_json_set_number(o, "c", nc);
    mg_json_set_number(o, "p", mcnemar_p(nb, nc));
  }
  mg_json_free(a);
  mg_json_free(b);
  free(name);
  return o;
}

static const struct mg_json *task_row(const struct mg_json *s, const char *task,
                                      const char *metric)
{
  const struct mg_json *hit = NULL;

  for (struct mg_json *t = mg_json_first(mg_json_get_path(s, "eval.tasks")); t;
       t = mg_json_next(t))
    if (strcmp(mg_json_string(mg_json_get(t, "task")), task) == 0
        && strcmp(mg_json_string(mg_json_get(t, "metric")), metric) == 0)
      hit = t;
  return hit;
}

/* Accuracy compares on the same task, metric and number of questions. */
static void eval_compare_rows(const struct mg_json *sums, struct mg_json *rows)
{
  struct mg_json *seen = mg_json_new_object();

  for (struct mg_json *s = mg_json_first(sums); s; s = mg_json_next(s))
    for (struct mg_json *t = mg_json_first(mg_json_get_path(s, "eval.tasks"));
         t; t = mg_json_next(t)) {
      const char *task = mg_json_string(mg_json_get(t, "task"));
      const char *metric = mg_json_string(mg_json_get(t, "metric"));
      struct mg_json *row, *vals, *ses, *hib, *ns, *cmpb, *mc;
      const struct mg_json *t0;
      int any_mc = 0;
      char *k;

      if (!task || !metric)
        continue;
      k = mg_xasprintf("%s\n%s", task, metric);
      if (mg_json_get(seen, k)) {
        free(k);
        continue;
      }
      mg_json_set_bool(seen, k, 1);
      free(k);
      row = mg_json_new_object();
      vals = mg_json_new_array();
      ses = mg_json_new_array();
      ns = mg_json_new_array();
      cmpb = mg_json_new_array();
      mc = mg_json_new_array();
      hib = mg_json_get(t, "higher_is_better");
      mg_json_set_string(row, "group", "eval");
      mg_json_set_string(row, "task", task);
      mg_json_set_string(row, "metric", metric);
      mg_json_set_string(row, "unit", "");
      mg_json_set_string(row, "better",
                         mg_json_is_bool(hib) && !mg_json_bool(hib) ? "lower"
                                                                    : "higher");
      t0 = task_row(mg_json_first(sums), task, metric);
      for (struct mg_json *s2 = mg_json_first(sums); s2;
           s2 = mg_json_next(s2)) {
        const struct mg_json *hit = task_row(s2, task, metric);
        const struct mg_json *n0 = mg_json_get(t0, "n"),
                             *n = mg_json_get(hit, "n");
        int first = s2 == mg_json_first(sums);
        int same_n = !mg_json_is_number(n0) || !mg_json_is_number(n)
                     || mg_json_number(n0) == mg_json_number(n);
        struct mg_json *m = NULL;

        mg_json_append(vals, num_or_null(mg_json_get(hit, "value")));
        mg_json_append(ses, num_or_null(mg_json_get(hit, "stderr")));
        mg_json_append(ns, num_or_null(n));
        mg_json_append(cmpb,
                       first ? mg_json_new_null() : mg_json_new_bool(same_n));
        if (!first && hit && t0 && same_n)
          m = mcnemar(t0, hit, metric);
        any_mc |= m != NULL;
        mg_json_append(mc, m ? m : mg_json_new_null());
      }
      mg_json_set(row, "values", vals);
      mg_json_set(row, "stderr", ses);
      mg_json_set(row, "n", ns);
      mg_json_set(row, "comparable", cmpb);
      if (any_mc)
        mg_json_set(row, "mcnemar", mc);
      else
        mg_json_free(mc);
      finish_row(row);
      mg_json_append(rows, row);
    }
  mg_json_free(seen);
}

int mg_merge_compare(const struct mg_json *summaries, struct mg_json **out,
                     struct mg_err *err)
{
  struct mg_json *o, *entries, *rows, *loads;
  struct at_load *at = NULL;
  double same = 0;
  int comparable, exact = 0;

  *out = NULL;
  if (!mg_json_size(summaries))
    return mg_err_set(err, MG_ERR_DATA, "nothing to compare: no results");
  entries = mg_json_new_array();
  for (struct mg_json *s = mg_json_first(summaries); s; s = mg_json_next(s)) {
    struct mg_json *e = mg_json_new_object();
    const char *v = mg_json_string(mg_json_get_path(s, "verification.verdict"));

    mg_json_set_string(e, "source", mg_json_string(mg_json_get(s, "source")));
    if (mg_json_get(s, "model"))
      mg_json_set_string(e, "model", mg_json_string(mg_json_get(s, "model")));
    mg_json_set_string(e, "label", mg_json_string(mg_json_get(s, "label")));
    if (v)
      mg_json_set_string(e, "verdict", v);
    mg_json_append(entries, e);
  }
  rows = mg_json_new_array();
  loads = mg_json_new_object();
  comparable = same_operating_load(summaries, loads);
  perf_compare_rows(summaries, rows, NULL, comparable);
  if (!comparable && mg_json_size(summaries) > 1) {
    same = matched_rate(summaries, &exact);
    if (same > 0) {
      size_t i = 0;

      at = mg_xcalloc(mg_json_size(summaries), sizeof(*at));
      for (struct mg_json *s = mg_json_first(summaries); s;
           s = mg_json_next(s), i++)
        (void)load_point(mg_json_get(s, "perf"), same, &at[i]);
      perf_compare_rows(summaries, rows, at, 1);
    }
  }
  eval_compare_rows(summaries, rows);
  o = mg_json_new_object();
  mg_json_set_number(o, "baseline", 0);
  mg_json_set(o, "entries", entries);
  if (!comparable)
    mg_json_set_string(loads, "headline", "different loads: not comparable");
  mg_json_set(o, "loads", loads);
  if (at) {
    struct mg_json *sl = mg_json_new_object(), *ids = mg_json_new_array();
    struct mg_json *btw = mg_json_new_array();
    size_t i = 0;

    for (struct mg_json *s = mg_json_first(summaries); s;
         s = mg_json_next(s), i++) {
      mg_json_append(ids, mg_json_dup(mg_json_get(at[i].lo, "id")));
      if (at[i].hi) {
        struct mg_json *pair = mg_json_new_array();

        mg_json_append(pair, mg_json_dup(mg_json_get(at[i].lo, "id")));
        mg_json_append(pair, mg_json_dup(mg_json_get(at[i].hi, "id")));
        mg_json_append(btw, pair);
      } else {
        mg_json_append(btw, mg_json_new_null());
      }
    }
    mg_json_set_number(sl, "rate", same);
    mg_json_set_string(sl, "method", exact ? "same_step" : "interpolated");
    mg_json_set(sl, "runs", ids);
    mg_json_set(sl, "between", btw);
    mg_json_set(o, "same_load", sl);
    free(at);
  }
  mg_json_set(o, "rows", rows);
  *out = o;
  return 0;
}
