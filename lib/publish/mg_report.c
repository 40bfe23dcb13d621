#include "publish/mg_report.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "mg_json.h"
#include "mg_mem.h"
#include "mg_version.h"
#include "publish/mg_results.h"

/* Okabe-Ito: distinguishable with the common colour-vision deficiencies. */
static const char *const palette[] = { "#0072B2", "#E69F00", "#009E73",
                                       "#D55E00", "#CC79A7", "#56B4E9",
                                       "#F0E442", "#000000" };
#define NPAL (sizeof(palette) / sizeof(palette[0]))

static void put(struct mg_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void put(struct mg_buf *b, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  mg_buf_vprintf(b, NULL, fmt, ap);
  va_end(ap);
}

static void esc(struct mg_buf *b, const char *s)
{
  for (; s && *s; s++) {
    switch (*s) {
    case '&':
      mg_buf_addstr(b, "&amp;", NULL);
      break;
    case '<':
      mg_buf_addstr(b, "&lt;", NULL);
      break;
    case '>':
      mg_buf_addstr(b, "&gt;", NULL);
      break;
    case '"':
      mg_buf_addstr(b, "&quot;", NULL);
      break;
    case '\'':
      mg_buf_addstr(b, "&#39;", NULL);
      break;
    default:
      mg_buf_addch(b, *s, NULL);
    }
  }
}

/* Markdown table cell: no pipes or newlines. */
static void md_cell(struct mg_buf *b, const char *s)
{
  for (; s && *s; s++)
    if (*s == '|')
      mg_buf_addstr(b, "\\|", NULL);
    else if (*s == '\n' || *s == '\r')
      mg_buf_addch(b, ' ', NULL);
    else
      mg_buf_addch(b, *s, NULL);
}

/* A readable number: integers as such, else about 3-4 significant
 * digits, no exponent for usual sizes. */
static const char *fmt(double v, char *buf, size_t n)
{
  double a = fabs(v);

  if (!isfinite(v))
    snprintf(buf, n, "-");
  else if (a >= 1000 || (v == floor(v) && a < 1e15))
    snprintf(buf, n, "%.0f", v);
  else if (a >= 100)
    snprintf(buf, n, "%.1f", v);
  else if (a >= 1)
    snprintf(buf, n, "%.2f", v);
  else if (a >= 0.001)
    snprintf(buf, n, "%.4f", v);
  else
    snprintf(buf, n, "%.3g", v);
  return buf;
}

/* A relative delta in percent: 1 decimal, 2 for small ones. */
static const char *fmt_pct(double v, char *buf, size_t n)
{
  double a = fabs(v);

  if (!isfinite(v))
    snprintf(buf, n, "-");
  else if (a >= 100)
    snprintf(buf, n, "%.0f", v);
  else if (a >= 1)
    snprintf(buf, n, "%.1f", v);
  else
    snprintf(buf, n, "%.2f", v);
  return buf;
}

static const char *fmtj(const struct mg_json *v, char *buf, size_t n)
{
  if (!mg_json_is_number(v))
    return "-";
  return fmt(mg_json_number(v), buf, n);
}

static const char *str(const struct mg_json *o, const char *k, const char *def)
{
  const char *s = mg_json_string(mg_json_get(o, k));

  return s ? s : def;
}

/* A file's base name; other sources ("model/version" from a registry
 * listing) as they are. */
static const char *base_name(const char *p)
{
  const char *s = strrchr(p, '/');
  size_t n = strlen(p);

  if (n < 5 || strcmp(p + n - 5, ".json") != 0)
    return p;
  return s && s[1] ? s + 1 : p;
}

/* "label (file)" naming one entry. */
static void entry_name(const struct mg_json *s, char *out, size_t n)
{
  snprintf(out, n, "%s (%s)", str(s, "label", "?"),
           base_name(str(s, "source", "?")));
}

static const char *metric_title(const char *m)
{
  static const struct {
    const char *k, *t;
  } t[] = {
    { "requests_per_s", "Requests/s" },
    { "output_tokens_per_s", "Output tokens/s" },
    { "ttft_mean_ms", "TTFT mean (ms)" },
    { "ttft_p50_ms", "TTFT p50 (ms)" },
    { "ttft_p99_ms", "TTFT p99 (ms)" },
    { "itl_mean_ms", "ITL mean (ms)" },
    { "itl_p50_ms", "ITL p50 (ms)" },
    { "itl_p99_ms", "ITL p99 (ms)" },
    { "latency_p50_ms", "Latency p50 (ms)" },
    { "latency_p99_ms", "Latency p99 (ms)" },
    { "goodput_rps", "Goodput (req/s)" },
    { "max_sustainable_rps", "Max sustainable rate (req/s)" },
  };

  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
    if (strcmp(t[i].k, m) == 0)
      return t[i].t;
  return m;
}

/* ---- Markdown --------------------------------------------------------------
 */

static void md_delta(struct mg_buf *b, const struct mg_json *row, size_t i)
{
  const struct mg_json *d = mg_json_at(mg_json_get(row, "delta"), i);
  const struct mg_json *p = mg_json_at(mg_json_get(row, "delta_pct"), i);
  const struct mg_json *s = mg_json_at(mg_json_get(row, "significant"), i);
  char x[32], y[32];

  if (!mg_json_is_number(d))
    return;
  put(b, " (%s%s", mg_json_number(d) >= 0 ? "+" : "",
      fmt(mg_json_number(d), x, sizeof(x)));
  if (mg_json_is_number(p))
    put(b, ", %s%s%%", mg_json_number(p) >= 0 ? "+" : "",
        fmt_pct(mg_json_number(p), y, sizeof(y)));
  if (mg_json_is_bool(s))
    put(b, mg_json_bool(s) ? ", > 1 SE" : ", within 1 SE");
  put(b, ")");
}

static void md_sweep(struct mg_buf *b, const struct mg_json *s)
{
  const struct mg_json *runs = mg_json_get_path(s, "perf.runs");
  char name[200], a[32];

  if (mg_json_size(runs) == 0)
    return;
  entry_name(s, name, sizeof(name));
  put(b, "\n### Load steps: ");
  md_cell(b, name);
  put(b, "\n\n| run | rate | req/s | output tok/s | TTFT p50 | TTFT p99 "
         "| ITL p50 | ITL p99 | latency p50 | latency p99 | ok | cut off "
         "| errors |\n"
         "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (struct mg_json *r = mg_json_first(runs); r; r = mg_json_next(r)) {
    put(b, "| ");
    md_cell(b, str(r, "id", "?"));
    put(b, " | %s", fmtj(mg_json_get(r, "rate"), a, sizeof(a)));
    put(b, " | %s", fmtj(mg_json_get(r, "requests_per_s"), a, sizeof(a)));
    put(b, " | %s", fmtj(mg_json_get(r, "output_tokens_per_s"), a, sizeof(a)));
    put(b, " | %s", fmtj(mg_json_get_path(r, "ttft_ms.p50"), a, sizeof(a)));
    put(b, " | %s", fmtj(mg_json_get_path(r, "ttft_ms.p99"), a, sizeof(a)));
    put(b, " | %s", fmtj(mg_json_get_path(r, "itl_ms.p50"), a, sizeof(a)));
    put(b, " | %s", fmtj(mg_json_get_path(r, "itl_ms.p99"), a, sizeof(a)));
    put(b, " | %s", fmtj(mg_json_get_path(r, "latency_ms.p50"), a, sizeof(a)));
    put(b, " | %s", fmtj(mg_json_get_path(r, "latency_ms.p99"), a, sizeof(a)));
    put(b, " | %s",
        fmtj(mg_json_get_path(r, "requests.successful"), a, sizeof(a)));
    put(b, " | %s",
        fmtj(mg_json_get_path(r, "requests.incomplete"), a, sizeof(a)));
    put(b, " | %s |\n",
        fmtj(mg_json_get_path(r, "requests.errored"), a, sizeof(a)));
  }
}

/* The load step input i is compared at in a perf group. */
static const char *group_run_id(const struct mg_json *cmp,
                                const struct mg_json *s, size_t i,
                                const char *group)
{
  const struct mg_json *h;

  if (strcmp(group, "perf_same_load") == 0)
    return mg_json_string(
        mg_json_at(mg_json_get_path(cmp, "same_load.runs"), i));
  h = mg_results_headline_run(mg_json_get(s, "perf"));
  return h ? str(h, "id", NULL) : NULL;
}

static int has_group(const struct mg_json *rows, const char *group)
{
  for (struct mg_json *r = mg_json_first(rows); r; r = mg_json_next(r))
    if (strcmp(str(r, "group", ""), group) == 0)
      return 1;
  return 0;
}

static void md_perf_table(struct mg_buf *b, const struct mg_json *sums,
                          const struct mg_json *cmp, const char *group)
{
  char name[200], a[32];
  size_t i;

  put(b, "| metric |");
  for (struct mg_json *s = mg_json_first(sums); s; s = mg_json_next(s)) {
    entry_name(s, name, sizeof(name));
    put(b, " ");
    md_cell(b, name);
    put(b, " |");
  }
  put(b, "\n|---|");
  for (i = 0; i < mg_json_size(sums); i++)
    put(b, "---:|");
  put(b, "\n| load step |");
  i = 0;
  for (struct mg_json *s = mg_json_first(sums); s; s = mg_json_next(s), i++) {
    const char *id = group_run_id(cmp, s, i, group);

    put(b, " ");
    md_cell(b, id ? id : "-");
    put(b, " |");
  }
  put(b, "\n");
  for (struct mg_json *r = mg_json_first(mg_json_get(cmp, "rows")); r;
       r = mg_json_next(r)) {
    if (strcmp(str(r, "group", ""), group) != 0)
      continue;
    put(b, "| %s (%s is better) |", metric_title(str(r, "metric", "")),
        str(r, "better", "?"));
    i = 0;
    for (struct mg_json *v = mg_json_first(mg_json_get(r, "values")); v;
         v = mg_json_next(v), i++) {
      put(b, " %s", fmtj(v, a, sizeof(a)));
      md_delta(b, r, i);
      put(b, " |");
    }
    put(b, "\n");
  }
}

int mg_report_markdown(const struct mg_report_in *in, struct mg_buf *b,
                       struct mg_err *err)
{
  const struct mg_json *sums = in->summaries;
  const struct mg_json *rows = mg_json_get(in->comparison, "rows");
  char name[200], a[32];
  size_t i;
  int any_eval = 0, any_perf = 0;

  (void)err;
  put(b, "# ");
  md_cell(b, in->title);
  put(b,
      "\n\nGenerated %s by results-merge %s. The first column is the "
      "reference; deltas are against it.\n\n",
      in->generated, MG_VERSION);
  put(b, "## Inputs\n\n| | model | dataset label | verification |\n"
         "|---|---|---|---|\n");
  i = 0;
  for (struct mg_json *s = mg_json_first(sums); s; s = mg_json_next(s), i++) {
    const char *v = mg_json_string(mg_json_get_path(s, "verification.verdict"));

    put(b, "| %zu. ", i + 1);
    md_cell(b, base_name(str(s, "source", "?")));
    put(b, " | ");
    md_cell(b, str(s, "model", "-"));
    put(b, " | ");
    md_cell(b, str(s, "label", "-"));
    put(b, " | %s |\n", v ? v : "not verified");
  }
  any_perf = has_group(rows, "perf");
  any_eval = has_group(rows, "eval");
  if (any_perf) {
    put(b, "\n## Performance at the operating point\n\nEach input at its "
           "own operating point: the highest offered rate it sustained, "
           "else its busiest step without errors.\n\n");
    if (mg_json_string(mg_json_get_path(in->comparison, "loads.headline")))
      put(b,
          "**%s**: the operating points are different offered loads, "
          "so no deltas are shown.\n\n",
          mg_json_string(mg_json_get_path(in->comparison, "loads.headline")));
    md_perf_table(b, sums, in->comparison, "perf");
  }
  if (has_group(rows, "perf_same_load")) {
    const char *m =
        mg_json_string(mg_json_get_path(in->comparison, "same_load.method"));

    put(b,
        "\n## Performance at the same offered load (%s req/s)\n\nThe "
        "operating points differ, so their latencies were measured under "
        "different loads; here every input at the highest rate all of "
        "them sustained (%s).\n\n",
        fmtj(mg_json_get_path(in->comparison, "same_load.rate"), a, sizeof(a)),
        m && strcmp(m, "interpolated") == 0
            ? "interpolated linearly between the two nearest rate steps "
              "where an input did not run that rate"
            : "the same rate step in every input");
    md_perf_table(b, sums, in->comparison, "perf_same_load");
  }
  if (any_eval) {
    put(b, "\n## Accuracy\n\nValues are ± one standard error.\n\n| task | "
           "metric |");
    for (struct mg_json *s = mg_json_first(sums); s; s = mg_json_next(s)) {
      entry_name(s, name, sizeof(name));
      put(b, " ");
      md_cell(b, name);
      put(b, " |");
    }
    put(b, "\n|---|---|");
    for (i = 0; i < mg_json_size(sums); i++)
      put(b, "---:|");
    put(b, "\n");
    for (struct mg_json *r = mg_json_first(rows); r; r = mg_json_next(r)) {
      if (strcmp(str(r, "group", ""), "eval") != 0)
        continue;
      put(b, "| ");
      md_cell(b, str(r, "task", ""));
      put(b, " | ");
      md_cell(b, str(r, "metric", ""));
      put(b, " |");
      i = 0;
      for (struct mg_json *v = mg_json_first(mg_json_get(r, "values")); v;
           v = mg_json_next(v), i++) {
        const struct mg_json *se = mg_json_at(mg_json_get(r, "stderr"), i);
        char c[32];

        put(b, " %s", fmtj(v, a, sizeof(a)));
        if (mg_json_is_number(se))
          put(b, " ± %s", fmt(mg_json_number(se), c, sizeof(c)));
        md_delta(b, r, i);
        put(b, " |");
      }
      put(b, "\n");
    }
  }
  if (any_perf) {
    put(b, "\n## Sweeps\n");
    for (struct mg_json *s = mg_json_first(sums); s; s = mg_json_next(s))
      md_sweep(b, s);
  }
  put(b, "\n---\nTTFT: time to first token. ITL: inter-token latency. "
         "Percentiles as perf-run computed them. \"> 1 SE\": the difference "
         "is larger than its standard error (sqrt(se1^2 + se2^2)).\n");
  return 0;
}

/* ---- CSV --------------------------------------------------------------------
 */

static void csv_field(struct mg_buf *b, const char *s)
{
  int q = s && strpbrk(s, ",\"\r\n") != NULL;

  if (q)
    mg_buf_addch(b, '"', NULL);
  for (; s && *s; s++) {
    if (*s == '"')
      mg_buf_addch(b, '"', NULL);
    mg_buf_addch(b, *s, NULL);
  }
  if (q)
    mg_buf_addch(b, '"', NULL);
}

static void csv_num(struct mg_buf *b, const struct mg_json *v)
{
  if (mg_json_is_number(v)) {
    /* the shortest text that reads back as the same double */
    double d = mg_json_number(v);
    char t[40];

    snprintf(t, sizeof(t), "%.15g", d);
    if (strtod(t, NULL) != d)
      snprintf(t, sizeof(t), "%.17g", d);
    put(b, "%s", t);
  } else if (mg_json_is_bool(v))
    put(b, "%s", mg_json_bool(v) ? "true" : "false");
}

static void csv_head(struct mg_buf *b, const struct mg_json *s,
                     const char *group, const char *run,
                     const struct mg_json *rate, const char *task)
{
  csv_field(b, str(s, "source", ""));
  mg_buf_addch(b, ',', NULL);
  csv_field(b, str(s, "model", ""));
  mg_buf_addch(b, ',', NULL);
  csv_field(b, str(s, "label", ""));
  mg_buf_addch(b, ',', NULL);
  csv_field(b, group);
  mg_buf_addch(b, ',', NULL);
  csv_field(b, run);
  mg_buf_addch(b, ',', NULL);
  csv_num(b, rate);
  mg_buf_addch(b, ',', NULL);
  csv_field(b, task);
  mg_buf_addch(b, ',', NULL);
}

int mg_report_csv(const struct mg_report_in *in, struct mg_buf *b,
                  struct mg_err *err)
{
  static const char *const run_metrics[][2] = {
    { "requests_per_s", "req/s" }, { "output_tokens_per_s", "tok/s" },
    { "concurrency_mean", "" },    { "ttft_ms.p50", "ms" },
    { "ttft_ms.p99", "ms" },       { "itl_ms.p50", "ms" },
    { "itl_ms.p99", "ms" },        { "tpot_ms.p50", "ms" },
    { "latency_ms.p50", "ms" },    { "latency_ms.p99", "ms" },
    { "requests.successful", "" }, { "requests.errored", "" },
    { "requests.incomplete", "" },
  };
  const struct mg_json *rows = mg_json_get(in->comparison, "rows");

  (void)err;
  put(b, "source,model,label,group,run,rate,task,metric,unit,value,stderr,"
         "delta,delta_pct,significant\r\n");
  for (struct mg_json *r = mg_json_first(rows); r; r = mg_json_next(r)) {
    size_t i = 0;

    for (struct mg_json *s = mg_json_first(in->summaries); s;
         s = mg_json_next(s), i++) {
      const struct mg_json *v = mg_json_at(mg_json_get(r, "values"), i);

      if (!mg_json_is_number(v))
        continue;
      if (strcmp(str(r, "group", ""), "perf_same_load") == 0) {
        const char *id = group_run_id(in->comparison, s, i, "perf_same_load");

        csv_head(b, s, "perf_same_load", id ? id : "",
                 mg_json_get_path(in->comparison, "same_load.rate"), "");
      } else {
        csv_head(b, s, str(r, "group", ""), "", NULL, str(r, "task", ""));
      }
      csv_field(b, str(r, "metric", ""));
      mg_buf_addch(b, ',', NULL);
      csv_field(b, str(r, "unit", ""));
      mg_buf_addch(b, ',', NULL);
      csv_num(b, v);
      mg_buf_addch(b, ',', NULL);
      csv_num(b, mg_json_at(mg_json_get(r, "stderr"), i));
      mg_buf_addch(b, ',', NULL);
      csv_num(b, mg_json_at(mg_json_get(r, "delta"), i));
      mg_buf_addch(b, ',', NULL);
      csv_num(b, mg_json_at(mg_json_get(r, "delta_pct"), i));
      mg_buf_addch(b, ',', NULL);
      csv_num(b, mg_json_at(mg_json_get(r, "significant"), i));
      put(b, "\r\n");
    }
  }
  for (struct mg_json *s = mg_json_first(in->summaries); s; s = mg_json_next(s))
    for (struct mg_json *r = mg_json_first(mg_json_get_path(s, "perf.runs")); r;
         r = mg_json_next(r))
      for (size_t m = 0; m < sizeof(run_metrics) / sizeof(run_metrics[0]);
           m++) {
        const struct mg_json *v = mg_json_get_path(r, run_metrics[m][0]);

        if (!mg_json_is_number(v))
          continue;
        csv_head(b, s, "perf_run", str(r, "id", ""), mg_json_get(r, "rate"),
                 "");
        csv_field(b, run_metrics[m][0]);
        mg_buf_addch(b, ',', NULL);
        csv_field(b, run_metrics[m][1]);
        mg_buf_addch(b, ',', NULL);
        csv_num(b, v);
        put(b, ",,,,\r\n");
      }
  return 0;
}

/* ---- SVG charts
 * -------------------------------------------------------------- */

struct pt {
  double x, y;
};

struct series {
  char name[160];
  const char *color;
  int dashed;
  struct pt *p;
  size_t n;
};

#define MAXV 6
#define MAXM 24

/* A load step that is not a point of the rate line (synchronous,
 * throughput, concurrent): drawn on its own at its achieved rate. */
struct marker {
  double x, y;
  const char *color;
  const char *kind; /* run kind: the shape */
  char label[48];   /* shown beside it; "" for none */
  char title[160];  /* tooltip */
};

struct chart {
  const char *id;
  const char *title;
  const char *xlabel;
  const char *ylabel;
  struct series *s;
  size_t ns;
  int diag; /* the ideal line y = x */
  /* marked x positions (> 0): each input's highest sustained rate */
  double vx[MAXV];
  const char *vcolor[MAXV];
  char vlabel[MAXV][48];
  size_t nv;
  struct marker m[MAXM];
  size_t nm;
  int y0; /* start the y axis at 0 */
};

#define CW 570
#define CH 350
#define ML 64
#define MR 18
#define MT 40
#define MB 88
/* Width of a character of the 12px chart font, on the wide side, so that
 * a label placed by it is never cut off. */
#define CHAR_W 7.4

static double text_w(const char *s)
{
  return (double)strlen(s) * CHAR_W;
}

/* x of a label of width w anchored at x ("middle", "start" or "end"),
 * moved so that it stays within [lo, hi]; *anchor is what to use. */
static double fit_label(double x, double w, double lo, double hi,
                        const char **anchor)
{
  *anchor = "middle";
  if (x - w / 2 < lo) {
    *anchor = "start";
    return fmax(lo, x - w / 2);
  }
  if (x + w / 2 > hi) {
    *anchor = "end";
    return fmin(hi, x + w / 2);
  }
  return x;
}

/* A marker's shape at (x, y): square synchronous, diamond throughput,
 * triangle for the others. */
static void marker_shape(struct mg_buf *b, const struct marker *m, double x,
                         double y)
{
  if (strcmp(m->kind, "synchronous") == 0)
    put(b,
        "<rect x=\"%.1f\" y=\"%.1f\" width=\"9\" height=\"9\" "
        "fill=\"#fff\" stroke=\"%s\" stroke-width=\"2\">",
        x - 4.5, y - 4.5, m->color);
  else if (strcmp(m->kind, "throughput") == 0)
    put(b,
        "<path d=\"M%.1f %.1fl6 6l-6 6l-6 -6z\" fill=\"#fff\" "
        "stroke=\"%s\" stroke-width=\"2\">",
        x, y - 6, m->color);
  else
    put(b,
        "<path d=\"M%.1f %.1fl6 10h-12z\" fill=\"#fff\" stroke=\"%s\" "
        "stroke-width=\"2\">",
        x, y - 6, m->color);
  put(b, "<title>");
  esc(b, m->title);
  put(b, "</title>%s",
      strcmp(m->kind, "synchronous") == 0 ? "</rect>" : "</path>");
}

static void nice_ticks(double lo, double hi, double *start, double *step,
                       int *n)
{
  double range = hi - lo, raw, mag, f;

  if (!(range > 0))
    range = fabs(hi) > 0 ? fabs(hi) : 1;
  raw = range / 5;
  mag = pow(10, floor(log10(raw)));
  f = raw / mag;
  *step = (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
  *start = floor(lo / *step) * *step;
  *n = (int)ceil((hi - *start) / *step - 1e-9) + 1;
  if (*n < 2)
    *n = 2;
  if (*n > 12)
    *n = 12;
}

/* Tick labels: as short as the value allows. */
static const char *tick(double v, char *buf, size_t n)
{
  snprintf(buf, n, "%g", fabs(v) < 1e-12 ? 0 : v);
  return buf;
}

static void series_free(struct series *s, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free(s[i].p);
  free(s);
}

static void series_add(struct series *s, double x, double y)
{
  if (!isfinite(x) || !isfinite(y))
    return;
  s->p = mg_xreallocarray(s->p, s->n + 1, sizeof(*s->p));
  s->p[s->n].x = x;
  s->p[s->n].y = y;
  s->n++;
}

static void svg_open(struct mg_buf *b, const char *id, const char *title, int w,
                     int h)
{
  put(b,
      "<svg id=\"%s\" class=\"chart\" role=\"img\" "
      "aria-labelledby=\"%s-t\" viewBox=\"0 0 %d %d\" width=\"%d\" "
      "height=\"%d\" xmlns=\"http://www.w3.org/2000/svg\">"
      "<title id=\"%s-t\">",
      id, id, w, h, w, h, id);
  esc(b, title);
  put(b,
      "</title><rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>"
      "<text x=\"%d\" y=\"22\" class=\"ct\">",
      w, h, w / 2);
  esc(b, title);
  put(b, "</text>");
}

/* Legend entries: the series, then one per marker shape in use. */
struct legend_item {
  const char *name;
  const char *color;
  int dashed;
  const struct marker *shape; /* a marker shape instead of a line */
};

static size_t legend_items(const struct chart *c, struct legend_item *it,
                           size_t max)
{
  static const char *const kinds[] = { "synchronous", "throughput",
                                       "concurrent" };
  static const char *const names[] = { "synchronous step (achieved rate)",
                                       "throughput step (achieved rate)",
                                       "concurrent step (achieved rate)" };
  size_t n = 0;

  for (size_t i = 0; i < c->ns && n < max; i++)
    if (c->s[i].n)
      it[n++] = (struct legend_item){ c->s[i].name, c->s[i].color,
                                      c->s[i].dashed, NULL };
  for (size_t k = 0; k < 3; k++)
    for (size_t i = 0; i < c->nm && n < max; i++)
      if (strcmp(c->m[i].kind, kinds[k]) == 0
          || (k == 2 && strcmp(c->m[i].kind, kinds[0]) != 0
              && strcmp(c->m[i].kind, kinds[1]) != 0)) {
        it[n++] = (struct legend_item){ names[k], "#57606a", 0, &c->m[i] };
        break;
      }
  return n;
}

static double legend_w(const struct legend_item *it)
{
  return 34 + text_w(it->name);
}

/* Rows the legend needs in width CW. */
static int legend_rows(const struct legend_item *it, size_t n)
{
  double lx = ML;
  int rows = 1;

  for (size_t i = 0; i < n; i++) {
    if (lx > ML && lx + legend_w(&it[i]) > CW - MR) {
      rows++;
      lx = ML;
    }
    lx += legend_w(&it[i]);
  }
  return rows;
}

static void line_chart(struct mg_buf *b, const struct chart *c)
{
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  double xs, xst, ys, yst;
  int xn, yn, pw = CW - ML - MR, ph = CH - MT - MB, rows, h;
  struct legend_item lg[MAXM + 16];
  size_t nlg;
  char t1[32];

  for (size_t i = 0; i < c->ns; i++)
    for (size_t j = 0; j < c->s[i].n; j++) {
      xmin = fmin(xmin, c->s[i].p[j].x);
      xmax = fmax(xmax, c->s[i].p[j].x);
      ymin = fmin(ymin, c->s[i].p[j].y);
      ymax = fmax(ymax, c->s[i].p[j].y);
    }
  for (size_t i = 0; i < c->nm; i++) {
    xmin = fmin(xmin, c->m[i].x);
    xmax = fmax(xmax, c->m[i].x);
    ymin = fmin(ymin, c->m[i].y);
    ymax = fmax(ymax, c->m[i].y);
  }
  if (!isfinite(xmin))
    return;
  if (c->diag) {
    ymin = fmin(ymin, xmin);
    ymax = fmax(ymax, xmax);
  }
  for (size_t i = 0; i < c->nv; i++) {
    xmin = fmin(xmin, c->vx[i]);
    xmax = fmax(xmax, c->vx[i]);
  }
  if (c->y0 && ymin > 0)
    ymin = 0;
  if (xmin > 0 && xmin < (xmax - xmin) * 0.5)
    xmin = 0;
  nice_ticks(xmin, xmax, &xs, &xst, &xn);
  nice_ticks(ymin, ymax, &ys, &yst, &yn);
  xmin = xs;
  xmax = xs + xst * (xn - 1);
  if (xmax <= xmin)
    xmax = xmin + 1;
  ymin = ys;
  ymax = ys + yst * (yn - 1);
  if (ymax <= ymin)
    ymax = ymin + 1;
  nlg = legend_items(c, lg, sizeof(lg) / sizeof(lg[0]));
  rows = legend_rows(lg, nlg);
  /* the legend's rows below the axis label; the chart grows with them */
  h = MT + ph + 50 + rows * 16;
  if (h < CH)
    h = CH;
#define X(v) (ML + ((v)-xmin) / (xmax - xmin) * pw)
#define Y(v) (MT + ph - ((v)-ymin) / (ymax - ymin) * ph)
  svg_open(b, c->id, c->title, CW, h);
  for (int i = 0; i < yn; i++) {
    double v = ys + i * yst;

    put(b,
        "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>"
        "<text x=\"%d\" y=\"%.1f\" class=\"yt\">%s</text>",
        ML, ML + pw, Y(v), Y(v), ML - 6, Y(v) + 4, tick(v, t1, sizeof(t1)));
  }
  for (int i = 0; i < xn; i++) {
    double v = xs + i * xst;

    put(b,
        "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" class=\"grid\"/>"
        "<text x=\"%.1f\" y=\"%d\" class=\"xt\">%s</text>",
        X(v), X(v), MT, MT + ph, X(v), MT + ph + 16, tick(v, t1, sizeof(t1)));
  }
  put(b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" class=\"frame\"/>",
      ML, MT, pw, ph);
  if (c->diag) {
    double lo = fmax(xmin, ymin), hi = fmin(xmax, ymax);

    put(b,
        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
        "class=\"ideal\"><title>ideal: achieved = offered</title></line>",
        X(lo), Y(lo), X(hi), Y(hi));
  }
  for (size_t i = 0; i < c->nv; i++) {
    /* labels just above the plot, over their line, out of the data's
     * way, kept inside the chart; one that would collide with an earlier
     * one goes inside the plot */
    int inside = 0;
    const char *anchor;
    double w = text_w(c->vlabel[i]), lx;

    for (size_t j = 0; j < i; j++)
      if (fabs(X(c->vx[i]) - X(c->vx[j])) < (w + text_w(c->vlabel[j])) / 2 + 6)
        inside = 1;
    if (inside)
      lx = fit_label(X(c->vx[i]) - 4 - w / 2, w, ML + 2, ML + pw - 2, &anchor);
    else
      lx = fit_label(X(c->vx[i]), w, 2, CW - 2, &anchor);
    put(b,
        "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" class=\"knee\" "
        "style=\"stroke:%s\"/><text x=\"%.1f\" y=\"%d\" class=\"kt\" "
        "style=\"fill:%s;text-anchor:%s\">",
        X(c->vx[i]), X(c->vx[i]), MT - 4, MT + ph, c->vcolor[i], lx,
        inside ? MT + 12 + 14 * (int)(i % 3) : MT - 7, c->vcolor[i], anchor);
    esc(b, c->vlabel[i]);
    put(b, "</text>");
  }
  for (size_t i = 0; i < c->ns; i++) {
    const struct series *s = &c->s[i];

    if (!s->n)
      continue;
    put(b, "<g class=\"series\" data-name=\"");
    esc(b, s->name);
    put(b,
        "\"><polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s "
        "points=\"",
        s->color, s->dashed ? " stroke-dasharray=\"6 4\"" : "");
    for (size_t j = 0; j < s->n; j++)
      put(b, "%s%.1f,%.1f", j ? " " : "", X(s->p[j].x), Y(s->p[j].y));
    put(b, "\"/>");
    for (size_t j = 0; j < s->n; j++) {
      char t2[32];

      put(b,
          "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\">"
          "<title>",
          X(s->p[j].x), Y(s->p[j].y), s->color);
      esc(b, s->name);
      put(b, ": %s at %s</title></circle>", fmt(s->p[j].y, t1, sizeof(t1)),
          fmt(s->p[j].x, t2, sizeof(t2)));
    }
    put(b, "</g>");
  }
  for (size_t i = 0; i < c->nm; i++) {
    const struct marker *m = &c->m[i];
    double mx = X(m->x), my = Y(m->y), w = text_w(m->label);
    int left = mx + 9 + w > ML + pw - 2;

    put(b, "<g class=\"step-marker\" data-kind=\"%s\">", m->kind);
    marker_shape(b, m, mx, my);
    if (m->label[0]) {
      /* beside the marker, on the side with room, inside the plot */
      double ty = fmin(fmax(my + 4, MT + 12), MT + ph - 4);

      put(b,
          "<text x=\"%.1f\" y=\"%.1f\" class=\"mk\" "
          "style=\"fill:%s;text-anchor:%s\">",
          left ? fmax(mx - 9, ML + 2 + w) : mx + 9, ty, m->color,
          left ? "end" : "start");
      esc(b, m->label);
      put(b, "</text>");
    }
    put(b, "</g>");
  }
  /* legend, below the axis label, in as many rows as it needs */
  {
    double lx = ML;
    int ly = MT + ph + 58;

    for (size_t i = 0; i < nlg; i++) {
      double w = legend_w(&lg[i]);

      if (lx > ML && lx + w > CW - MR) {
        lx = ML;
        ly += 16;
      }
      if (lg[i].shape) {
        struct marker m = *lg[i].shape;

        m.color = lg[i].color;
        snprintf(m.title, sizeof(m.title), "%s", lg[i].name);
        marker_shape(b, &m, lx + 9, ly - 4);
      } else {
        put(b,
            "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" "
            "stroke-width=\"3\"%s/>",
            lx, lx + 18, ly - 4, ly - 4, lg[i].color,
            lg[i].dashed ? " stroke-dasharray=\"5 3\"" : "");
      }
      put(b, "<text x=\"%.0f\" y=\"%d\" class=\"lg\">", lx + 22, ly);
      esc(b, lg[i].name);
      put(b, "</text>");
      lx += w;
    }
  }
  put(b, "<text x=\"%d\" y=\"%d\" class=\"xl\">", ML + pw / 2, MT + ph + 36);
  esc(b, c->xlabel);
  put(b,
      "</text><text x=\"14\" y=\"%d\" class=\"yl\" "
      "transform=\"rotate(-90 14 %d)\">",
      MT + ph / 2, MT + ph / 2);
  esc(b, c->ylabel);
  put(b, "</text></svg>");
#undef X
#undef Y
}

/* ---- HTML sections
 * ----------------------------------------------------------- */

static const char css[] =
    "body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
    "color:#1b1f24;margin:0;background:#f6f7f9}"
    "main{max-width:1260px;margin:0 auto;padding:24px 28px 48px}"
    "h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:34px 0 8px;"
    "border-bottom:2px solid #dfe3e8;padding-bottom:4px}"
    "h3{font-size:16px;margin:18px 0 6px}"
    ".sub{color:#57606a;margin:0 0 18px}"
    "p.note{color:#57606a;font-size:13.5px;max-width:900px}"
    "table{border-collapse:collapse;background:#fff;margin:8px 0 4px;"
    "font-variant-numeric:tabular-nums}"
    "th,td{border:1px solid #dfe3e8;padding:5px 10px;text-align:right}"
    "th{background:#eef1f4;font-weight:600}td.l,th.l{text-align:left}"
    "td.nw{white-space:nowrap}"
    ".good{color:#0a7d32}.bad{color:#c0392b}.muted{color:#8a939c}"
    ".badge{display:inline-block;padding:1px 9px;border-radius:10px;"
    "font-weight:700;font-size:12.5px;color:#fff}"
    ".pass{background:#1a7f37}.fail{background:#cf222e}"
    ".unknown{background:#8a939c}"
    ".cards{display:flex;flex-wrap:wrap;gap:12px;margin:10px 0}"
    ".card{background:#fff;border:1px solid #dfe3e8;border-radius:8px;"
    "padding:10px 14px;min-width:210px}"
    ".card .k{color:#57606a;font-size:12.5px}.card .v{font-size:22px;"
    "font-weight:700}.card .w{font-size:12.5px;color:#57606a}"
    ".charts{display:flex;flex-wrap:wrap;gap:14px}"
    "figure{margin:0;background:#fff;border:1px solid #dfe3e8;"
    "border-radius:8px;padding:6px}"
    "figcaption{font-size:13px;color:#57606a;max-width:556px;padding:4px 6px}"
    "svg.chart text{font:12px system-ui,sans-serif;fill:#1b1f24}"
    "svg .ct{font-weight:700;font-size:14px;text-anchor:middle}"
    "svg .yt{text-anchor:end}svg .xt{text-anchor:middle}"
    "svg .xl{text-anchor:middle}svg .yl{text-anchor:middle}"
    "svg .grid{stroke:#eceff2}svg .frame{fill:none;stroke:#8a939c}"
    "svg .ideal{stroke:#8a939c;stroke-dasharray:3 3}"
    "svg .knee{stroke:#cf222e;stroke-dasharray:4 3}svg .kt{fill:#cf222e}"
    "svg .mk{font-size:11px;font-weight:600}"
    "svg .bl{font-size:11px;text-anchor:middle}"
    "footer{margin-top:36px;color:#57606a;font-size:13px}";

static const char *verdict_class(const char *v)
{
  if (!v)
    return "unknown";
  return strcmp(v, "pass") == 0 ? "pass" : "fail";
}

/* "constant, 5 steps 5-60 req/s<br>synthetic prompt_tokens=64,..." */
static void html_load_test(struct mg_buf *b, const struct mg_json *perf)
{
  const struct mg_json *runs = mg_json_get(perf, "runs");
  double lo = INFINITY, hi = -INFINITY;
  size_t n = mg_json_size(runs);
  char a[32], c[32];

  if (!n) {
    put(b, "-");
    return;
  }
  for (struct mg_json *r = mg_json_first(runs); r; r = mg_json_next(r)) {
    const struct mg_json *x = mg_json_get(r, "rate");

    if (mg_json_is_number(x)) {
      lo = fmin(lo, mg_json_number(x));
      hi = fmax(hi, mg_json_number(x));
    }
  }
  if (mg_json_get(perf, "profile")) {
    esc(b, str(perf, "profile", ""));
    put(b, ", ");
  }
  put(b, "%zu step%s", n, n == 1 ? "" : "s");
  if (isfinite(lo) && lo < hi)
    put(b, " %s&ndash;%s req/s", fmt(lo, a, sizeof(a)), fmt(hi, c, sizeof(c)));
  else if (isfinite(lo))
    put(b, " at %s req/s", fmt(lo, a, sizeof(a)));
  if (mg_json_get(perf, "workload")) {
    put(b, "<br><span class=\"muted\">");
    esc(b, str(perf, "workload", ""));
    put(b, "</span>");
  }
}

static void html_inputs(struct mg_buf *b, const struct mg_json *sums)
{
  size_t i = 0;

  put(b, "<h2 id=\"inputs\">What was measured</h2><table><tr>"
         "<th class=\"l\">#</th><th class=\"l\">input</th>"
         "<th class=\"l\">model</th><th class=\"l\">dataset label</th>"
         "<th class=\"l\">verification</th><th class=\"l\">load test</th>"
         "<th>eval metrics</th></tr>");
  for (struct mg_json *s = mg_json_first(sums); s; s = mg_json_next(s), i++) {
    const char *v = mg_json_string(mg_json_get_path(s, "verification.verdict"));
    const struct mg_json *f = mg_json_get_path(s, "verification.findings");

    put(b,
        "<tr><td class=\"l\"><span class=\"badge\" style=\"background:%s\">"
        "%zu</span></td><td class=\"l\" title=\"",
        palette[i % NPAL], i + 1);
    esc(b, str(s, "source", "?"));
    put(b, "\">");
    esc(b, base_name(str(s, "source", "?")));
    put(b, "</td><td class=\"l nw\">");
    esc(b, str(s, "model", "-"));
    put(b, "</td><td class=\"l\">");
    esc(b, str(s, "label", "-"));
    put(b, "</td><td class=\"l nw\"><span class=\"badge %s\">%s</span>",
        verdict_class(v),
        v ? (strcmp(v, "pass") == 0 ? "PASS" : "FAIL") : "NOT VERIFIED");
    if (mg_json_is_number(f))
      put(b, " <span class=\"muted\">%.0f finding%s</span>", mg_json_number(f),
          mg_json_number(f) == 1 ? "" : "s");
    put(b, "</td><td class=\"l\">");
    html_load_test(b, mg_json_get(s, "perf"));
    put(b, "</td><td>%zu</td></tr>",
        mg_json_size(mg_json_get_path(s, "eval.tasks")));
  }
  put(b, "</table><p class=\"note\">Input 1 is the reference: every delta "
         "below is measured against it. Verification is the admission "
         "verdict of model-verify (integrity, format safety, signature, "
         "policy); a model that failed it should not be deployed whatever "
         "its figures.</p>");
}

static void html_cards(struct mg_buf *b, const struct mg_json *sums)
{
  size_t i = 0;
  char a[32];

  put(b, "<div class=\"cards\" id=\"key-figures\">");
  for (struct mg_json *s = mg_json_first(sums); s; s = mg_json_next(s), i++) {
    const struct mg_json *h = mg_results_headline_run(mg_json_get(s, "perf"));
    const struct mg_json *t = mg_json_at(mg_json_get_path(s, "eval.tasks"), 0);

    put(b,
        "<div class=\"card\" style=\"border-top:4px solid %s\">"
        "<div class=\"k\">",
        palette[i % NPAL]);
    esc(b, str(s, "label", "?"));
    put(b, " &middot; ");
    esc(b, str(s, "model", str(s, "source", "?")));
    put(b, "</div>");
    if (h) {
      const struct mg_json *msr =
          mg_json_get_path(s, "perf.max_sustainable_rps");

      put(b, "<div class=\"v\">%s <span class=\"w\">req/s</span></div>",
          fmtj(mg_json_get(h, "requests_per_s"), a, sizeof(a)));
      put(b, "<div class=\"w\">achieved at ");
      esc(b, str(h, "id", "?"));
      if (mg_json_is_number(msr))
        put(b, " &middot; max sustainable %s req/s", fmtj(msr, a, sizeof(a)));
      put(b, "</div>");
      put(b, "<div class=\"w\">TTFT p50 %s ms",
          fmtj(mg_json_get_path(h, "ttft_ms.p50"), a, sizeof(a)));
      put(b, " &middot; ITL p50 %s ms</div>",
          fmtj(mg_json_get_path(h, "itl_ms.p50"), a, sizeof(a)));
    }
    if (t) {
      char c[32];

      put(b, "<div class=\"w\">");
      esc(b, str(t, "task", ""));
      put(b, " ");
      esc(b, str(t, "metric", ""));
      put(b, ": <b>%s</b>", fmtj(mg_json_get(t, "value"), a, sizeof(a)));
      if (mg_json_is_number(mg_json_get(t, "stderr")))
        put(b, " ± %s", fmtj(mg_json_get(t, "stderr"), c, sizeof(c)));
      put(b, "</div>");
    }
    put(b, "</div>");
  }
  put(b, "</div>");
}

static void html_delta_cell(struct mg_buf *b, const struct mg_json *row,
                            size_t i)
{
  const struct mg_json *v = mg_json_at(mg_json_get(row, "values"), i);
  const struct mg_json *se = mg_json_at(mg_json_get(row, "stderr"), i);
  const struct mg_json *d = mg_json_at(mg_json_get(row, "delta"), i);
  const struct mg_json *p = mg_json_at(mg_json_get(row, "delta_pct"), i);
  const struct mg_json *sig = mg_json_at(mg_json_get(row, "significant"), i);
  int higher = strcmp(str(row, "better", "higher"), "higher") == 0;
  char a[32], c[32];

  put(b, "<td>%s", fmtj(v, a, sizeof(a)));
  if (mg_json_is_number(se))
    put(b, " <span class=\"muted\">± %s</span>", fmtj(se, c, sizeof(c)));
  if (mg_json_is_number(d)) {
    double dv = mg_json_number(d);
    int good = higher ? dv > 0 : dv < 0;
    const char *cls = dv == 0 ? "muted" : good ? "good" : "bad";

    put(b, "<br><span class=\"%s\">%s%s", cls, dv >= 0 ? "+" : "",
        fmt(dv, a, sizeof(a)));
    if (mg_json_is_number(p))
      put(b, " (%s%s%%)", mg_json_number(p) >= 0 ? "+" : "",
          fmt_pct(mg_json_number(p), c, sizeof(c)));
    put(b, "</span>");
    if (mg_json_is_bool(sig))
      put(b, mg_json_bool(sig) ? " <b title=\"larger than its standard "
                                 "error\">&gt;1&nbsp;SE</b>"
                               : " <span class=\"muted\" title=\"within "
                                 "one standard error\">within&nbsp;SE</span>");
  }
  put(b, "</td>");
}

static void html_table(struct mg_buf *b, const struct mg_json *sums,
                       const struct mg_json *cmp, const char *group)
{
  const struct mg_json *rows = mg_json_get(cmp, "rows");
  int eval = strcmp(group, "eval") == 0;
  size_t i = 0;

  put(b, "<table class=\"cmp\" id=\"table-%s\"><tr><th class=\"l\">%s</th>",
      group, eval ? "task / metric" : "metric");
  for (struct mg_json *s = mg_json_first(sums); s; s = mg_json_next(s), i++) {
    put(b, "<th><span class=\"badge\" style=\"background:%s\">%zu</span> ",
        palette[i % NPAL], i + 1);
    esc(b, str(s, "label", "?"));
    if (!eval) {
      const char *id = group_run_id(cmp, s, i, group);

      if (id) {
        put(b, "<br><span class=\"muted\">at ");
        esc(b, id);
        put(b, "</span>");
      }
    }
    put(b, "</th>");
  }
  put(b, "</tr>");
  for (struct mg_json *r = mg_json_first(rows); r; r = mg_json_next(r)) {
    if (strcmp(str(r, "group", ""), group) != 0)
      continue;
    put(b, "<tr><td class=\"l\">");
    if (eval) {
      esc(b, str(r, "task", ""));
      put(b, " <span class=\"muted\">");
      esc(b, str(r, "metric", ""));
      put(b, "</span>");
    } else {
      esc(b, metric_title(str(r, "metric", "")));
      put(b, " <span class=\"muted\">(%s is better)</span>",
          str(r, "better", "?"));
    }
    put(b, "</td>");
    for (i = 0; i < mg_json_size(mg_json_get(r, "values")); i++)
      html_delta_cell(b, r, i);
    put(b, "</tr>");
  }
  put(b, "</table>");
}

/*
 * Where a run sits on the offered-load axis. Open-loop steps (constant,
 * poisson, gamma) have an offered rate: they are the points of the line,
 * at that rate. Other steps (synchronous, throughput, concurrent) offer
 * no rate: 0, and *x is their achieved rate, for a marker of their own.
 * -1 when the run has neither.
 */
static int run_x(const struct mg_json *r, double *x)
{
  const char *k = str(r, "kind", "");
  const struct mg_json *v = mg_json_get(r, "rate");
  int open_loop = strcmp(k, "constant") == 0 || strcmp(k, "poisson") == 0
                  || strcmp(k, "gamma") == 0 || (!*k && mg_json_is_number(v));

  if (open_loop && mg_json_is_number(v)) {
    *x = mg_json_number(v);
    return 1;
  }
  v = mg_json_get(r, "requests_per_s");
  if (!mg_json_is_number(v))
    return -1;
  *x = mg_json_number(v);
  return 0;
}

static int pt_cmp(const void *a, const void *b)
{
  const struct pt *x = a, *y = b;

  return x->x < y->x ? -1 : x->x > y->x;
}

static void add_marker(struct chart *c, const struct mg_json *r, double x,
                       double y, const char *color, const char *series,
                       int labelled)
{
  struct marker *m;
  const char *k = str(r, "kind", "step");
  char a[32], v[32];

  if (c->nm >= MAXM || !isfinite(x) || !isfinite(y))
    return;
  m = &c->m[c->nm++];
  m->x = x;
  m->y = y;
  m->color = color;
  m->kind = strcmp(k, "synchronous") == 0  ? "synchronous"
            : strcmp(k, "throughput") == 0 ? "throughput"
                                           : "concurrent";
  snprintf(m->label, sizeof(m->label), "%s",
           !labelled                       ? ""
           : strcmp(k, "synchronous") == 0 ? "sync"
                                           : k);
  snprintf(m->title, sizeof(m->title), "%s, %s step: %s at %s req/s achieved",
           series, k, fmt(y, v, sizeof(v)), fmt(x, a, sizeof(a)));
}

static void sweep_chart(struct mg_buf *b, const struct mg_json *sums,
                        const char *id, const char *title, const char *ylabel,
                        const char *const *paths, const char *const *pnames,
                        size_t np, int diag, const char *caption)
{
  size_t ns = mg_json_size(sums) * np, k = 0, i = 0;
  struct series *s = mg_xcalloc(ns ? ns : 1, sizeof(*s));
  struct chart c = { 0 };
  size_t points = 0;

  for (struct mg_json *e = mg_json_first(sums); e; e = mg_json_next(e), i++) {
    const struct mg_json *runs = mg_json_get_path(e, "perf.runs");
    const struct mg_json *msr = mg_json_get_path(e, "perf.max_sustainable_rps");

    if (mg_json_is_number(msr) && mg_json_number(msr) > 0 && c.nv < MAXV) {
      char r[32];

      c.vx[c.nv] = mg_json_number(msr);
      c.vcolor[c.nv] = mg_json_size(sums) > 1 ? palette[i % NPAL] : "#cf222e";
      if (mg_json_size(sums) > 1)
        snprintf(c.vlabel[c.nv], sizeof(c.vlabel[c.nv]), "%zu: max %s", i + 1,
                 fmt(mg_json_number(msr), r, sizeof(r)));
      else
        snprintf(c.vlabel[c.nv], sizeof(c.vlabel[c.nv]), "max sustainable %s",
                 fmt(mg_json_number(msr), r, sizeof(r)));
      c.nv++;
    }
    for (size_t p = 0; p < np; p++, k++) {
      snprintf(s[k].name, sizeof(s[k].name), "%zu. %s%s%s", i + 1,
               str(e, "label", "?"), pnames[p][0] ? " " : "", pnames[p]);
      s[k].color = palette[i % NPAL];
      s[k].dashed = p > 0;
      for (struct mg_json *r = mg_json_first(runs); r; r = mg_json_next(r)) {
        const struct mg_json *v = mg_json_get_path(r, paths[p]);
        double x;
        int on_line;

        if (!mg_json_is_number(v))
          continue;
        on_line = run_x(r, &x);
        if (on_line == 1)
          series_add(&s[k], x, mg_json_number(v));
        else if (on_line == 0)
          add_marker(&c, r, x, mg_json_number(v), s[k].color, s[k].name,
                     p == 0);
      }
      /* a line in order of offered load, never in run order */
      if (s[k].n > 1)
        qsort(s[k].p, s[k].n, sizeof(*s[k].p), pt_cmp);
      points += s[k].n;
    }
  }
  if (points + c.nm > 1) {
    c.id = id;
    c.title = title;
    c.xlabel = "offered load (req/s)";
    c.ylabel = ylabel;
    c.s = s;
    c.ns = ns;
    c.diag = diag;
    c.y0 = 1;
    put(b, "<figure>");
    line_chart(b, &c);
    put(b, "<figcaption>%s</figcaption></figure>", caption);
  }
  series_free(s, ns);
}

/* The run input i is compared at: the same offered load when the
 * comparison has one, else its operating point. */
static const struct mg_json *compared_run(const struct mg_json *cmp,
                                          const struct mg_json *s, size_t i)
{
  const char *id = group_run_id(cmp, s, i, "perf_same_load");

  if (id && mg_json_get(cmp, "same_load"))
    for (struct mg_json *r = mg_json_first(mg_json_get_path(s, "perf.runs")); r;
         r = mg_json_next(r))
      if (strcmp(str(r, "id", ""), id) == 0)
        return r;
  return mg_results_headline_run(mg_json_get(s, "perf"));
}

static void dist_chart(struct mg_buf *b, const struct mg_json *sums,
                       const struct mg_json *cmp, const char *id,
                       const char *title, const char *key, const char *xlabel)
{
  static const struct {
    const char *k;
    double q;
  } pq[] = { { "p0.1", 0.1 }, { "p1", 1 },   { "p5", 5 },      { "p10", 10 },
             { "p25", 25 },   { "p50", 50 }, { "p75", 75 },    { "p90", 90 },
             { "p95", 95 },   { "p99", 99 }, { "p99.9", 99.9 } };
  size_t ns = mg_json_size(sums), i = 0;
  struct series *s = mg_xcalloc(ns ? ns : 1, sizeof(*s));
  struct chart c = { 0 };
  int any = 0;

  for (struct mg_json *e = mg_json_first(sums); e; e = mg_json_next(e), i++) {
    const struct mg_json *h = compared_run(cmp, e, i);
    const struct mg_json *d = mg_json_get(h, key);
    const struct mg_json *pc = mg_json_get(d, "percentiles");

    snprintf(s[i].name, sizeof(s[i].name), "%zu. %s @ %s", i + 1,
             str(e, "label", "?"), str(h, "id", "?"));
    s[i].color = palette[i % NPAL];
    for (size_t q = 0; q < sizeof(pq) / sizeof(pq[0]); q++) {
      const struct mg_json *v = mg_json_get(pc, pq[q].k);

      if (!v && !pc)
        v = mg_json_get(d, pq[q].k);
      if (mg_json_is_number(v))
        series_add(&s[i], mg_json_number(v), pq[q].q);
    }
    any |= s[i].n > 1;
  }
  if (any) {
    c.id = id;
    c.title = title;
    c.xlabel = xlabel;
    c.ylabel = "percentile of requests (%)";
    c.s = s;
    c.ns = ns;
    c.y0 = 1;
    put(b, "<figure>");
    line_chart(b, &c);
    put(b, "<figcaption>Cumulative distribution: a "
           "point (x, y) means y %% of requests took at most x. A curve "
           "further left is faster; a long flat top is a heavy tail (the "
           "slowest requests).</figcaption></figure>");
  }
  series_free(s, ns);
}

/* Width in pixels of a group of bars: room for its bars and its labels. */
static double group_width(const struct mg_json *row, size_t ne)
{
  double bars = (double)ne * 34 + 16;
  double t = strlen(str(row, "task", "")) * 7.0 + 14;
  double m = strlen(str(row, "metric", "")) * 6.2 + 14;

  return fmax(bars, fmax(t, m));
}

/* Grouped bars, one group per task/metric, one bar per input, with
 * +-1 standard error bars. */
static void accuracy_chart(struct mg_buf *b, const struct mg_json *sums,
                           const struct mg_json *rows)
{
  size_t ng = 0, ne = mg_json_size(sums);
  double ymax = 0, total = 0, gx;
  int pw, ph = CH - MT - MB - 10, w, unit;
  double start, step;
  int nt;
  char t1[32];

  for (struct mg_json *r = mg_json_first(rows); r; r = mg_json_next(r)) {
    size_t i = 0;

    if (strcmp(str(r, "group", ""), "eval") != 0)
      continue;
    ng++;
    total += group_width(r, ne);
    for (struct mg_json *v = mg_json_first(mg_json_get(r, "values")); v;
         v = mg_json_next(v), i++) {
      const struct mg_json *se = mg_json_at(mg_json_get(r, "stderr"), i);
      double top =
          mg_json_number(v) + (mg_json_is_number(se) ? mg_json_number(se) : 0);

      if (mg_json_is_number(v) && top > ymax)
        ymax = top;
    }
  }
  if (!ng || !ne)
    return;
  unit = ymax <= 1.0;
  if (unit)
    ymax = 1.0;
  nice_ticks(0, ymax, &start, &step, &nt);
  ymax = start + step * (nt - 1);
  w = (int)(ML + MR + total);
  if (w < CW)
    w = CW;
  pw = w - ML - MR;
#define Y(v) (MT + ph - (v) / ymax * ph)
  svg_open(b, "chart-accuracy", "Accuracy per task (± 1 standard error)", w,
           CH);
  for (int i = 0; i < nt; i++) {
    double v = start + i * step;

    put(b,
        "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>"
        "<text x=\"%d\" y=\"%.1f\" class=\"yt\">%s</text>",
        ML, ML + pw, Y(v), Y(v), ML - 6, Y(v) + 4, tick(v, t1, sizeof(t1)));
  }
  gx = ML + (pw - total) / 2;
  for (struct mg_json *r = mg_json_first(rows); r; r = mg_json_next(r)) {
    double gw, x0;
    size_t i = 0;

    if (strcmp(str(r, "group", ""), "eval") != 0)
      continue;
    gw = group_width(r, ne);
    x0 = gx + (gw - (double)ne * 34) / 2;
    for (struct mg_json *v = mg_json_first(mg_json_get(r, "values")); v;
         v = mg_json_next(v), i++) {
      const struct mg_json *se = mg_json_at(mg_json_get(r, "stderr"), i);
      double x = x0 + i * 34.0 + 2, val, top;

      if (!mg_json_is_number(v))
        continue;
      val = mg_json_number(v);
      top = val;
      put(b,
          "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"30\" "
          "height=\"%.1f\" fill=\"%s\"><title>",
          x, Y(val), Y(0) - Y(val), palette[i % NPAL]);
      esc(b, str(r, "task", ""));
      put(b, " %s: %s", str(r, "metric", ""), fmt(val, t1, sizeof(t1)));
      if (mg_json_is_number(se)) {
        char t2[32];
        double e = mg_json_number(se);

        top = val + e;
        put(b, " ± %s", fmt(e, t2, sizeof(t2)));
        put(b,
            "</title></rect><path class=\"err\" d=\"M%.1f %.1fH%.1fM%.1f "
            "%.1fV%.1fM%.1f %.1fH%.1f\" stroke=\"#1b1f24\" "
            "stroke-width=\"1.5\" fill=\"none\"/>",
            x + 8, Y(val + e), x + 22, x + 15, Y(val + e), Y(fmax(0, val - e)),
            x + 8, Y(fmax(0, val - e)), x + 22);
      } else {
        put(b, "</title></rect>");
      }
      snprintf(t1, sizeof(t1), unit ? "%.3f" : "%.3g", val);
      put(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"bl\">%s</text>", x + 15,
          Y(top) - 5, t1);
    }
    put(b, "<text x=\"%.1f\" y=\"%d\" class=\"xt\">", gx + gw / 2,
        MT + ph + 16);
    esc(b, str(r, "task", ""));
    put(b,
        "</text><text x=\"%.1f\" y=\"%d\" class=\"xt\" "
        "fill-opacity=\"0.7\">",
        gx + gw / 2, MT + ph + 31);
    esc(b, str(r, "metric", ""));
    put(b, "</text>");
    gx += gw;
  }
  put(b,
      "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#8a939c\"/>",
      ML, ML + pw, Y(0), Y(0));
  {
    int lx = ML;

    for (size_t i = 0; i < ne; i++) {
      const struct mg_json *s = mg_json_at(sums, i);

      put(b,
          "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\"/>"
          "<text x=\"%d\" y=\"%d\" class=\"lg\">%zu. ",
          lx, CH - 22, palette[i % NPAL], lx + 16, CH - 12, i + 1);
      esc(b, str(s, "label", "?"));
      put(b, "</text>");
      lx += 40 + (int)strlen(str(s, "label", "?")) * 7;
    }
  }
  put(b,
      "<text x=\"14\" y=\"%d\" class=\"yl\" transform=\"rotate(-90 14 %d)\">"
      "%s</text></svg>",
      MT + ph / 2, MT + ph / 2, unit ? "score (0-1)" : "score");
#undef Y
}

static void html_sweeps(struct mg_buf *b, const struct mg_json *sums)
{
  static const char *const ttft[] = { "ttft_ms.p50", "ttft_ms.p99" };
  static const char *const itl[] = { "itl_ms.p50", "itl_ms.p99" };
  static const char *const lat[] = { "latency_ms.p50", "latency_ms.p99" };
  static const char *const pn[] = { "p50", "p99" };
  static const char *const rps[] = { "requests_per_s" };
  static const char *const otps[] = { "output_tokens_per_s" };
  static const char *const none[] = { "" };

  put(b, "<h2 id=\"sweeps\">Load sweeps: where is the knee?</h2>"
         "<p class=\"note\">Each point is one load step of a sweep. The "
         "lines join the fixed-rate steps (constant, poisson) in order of "
         "the rate they offered. As the offered load grows, throughput "
         "first follows it (the dashed diagonal) and latency stays flat; "
         "past the <b>knee</b> the server saturates: throughput stops "
         "growing and latency climbs steeply. The synchronous step (one "
         "request at a time, &#9633;) and the throughput step (as many as "
         "the server takes, &#9671;) offer no rate: each is drawn on its "
         "own, at the rate it achieved, and not joined to the line. "
         "Solid lines are medians (p50), dashed lines p99 (1 request in 100 "
         "is slower). The vertical lines (&ldquo;max&rdquo;) mark the "
         "highest rate each input sustained, in its colour: no errors and "
         "at least 80&nbsp;%% of the offered rate achieved; the max "
         "sustainable rate.</p>"
         "<div class=\"charts\">");
  sweep_chart(b, sums, "chart-throughput", "Throughput vs offered load",
              "achieved rate (req/s)", rps, none, 1, 1,
              "Achieved request rate against the offered rate. Points on the "
              "dashed diagonal mean the server kept up.");
  sweep_chart(b, sums, "chart-tokens", "Output tokens/s vs offered load",
              "output rate (tokens/s)", otps, none, 1, 0,
              "Generated tokens per second across all requests.");
  sweep_chart(b, sums, "chart-ttft", "Time to first token vs offered load",
              "TTFT (ms)", ttft, pn, 2, 0,
              "How long a user waits before the answer starts to appear.");
  sweep_chart(b, sums, "chart-itl", "Inter-token latency vs offered load",
              "ITL (ms)", itl, pn, 2, 0,
              "Time between streamed tokens once the answer is flowing "
              "(reading speed).");
  sweep_chart(b, sums, "chart-latency", "Request latency vs offered load",
              "end-to-end latency (ms)", lat, pn, 2, 0,
              "Time from sending a request to its last token.");
  put(b, "</div>");
}

static void html_distributions(struct mg_buf *b, const struct mg_json *sums,
                               const struct mg_json *cmp)
{
  char a[32];

  if (mg_json_get(cmp, "same_load"))
    put(b,
        "<h2 id=\"distributions\">Latency distributions at the same "
        "offered load (%s&nbsp;req/s)</h2><div class=\"charts\">",
        fmtj(mg_json_get_path(cmp, "same_load.rate"), a, sizeof(a)));
  else
    put(b, "<h2 id=\"distributions\">Latency distributions at the "
           "operating point</h2><div class=\"charts\">");
  dist_chart(b, sums, cmp, "chart-ttft-dist", "TTFT distribution", "ttft_ms",
             "time to first token (ms)");
  dist_chart(b, sums, cmp, "chart-itl-dist", "ITL distribution", "itl_ms",
             "inter-token latency (ms)");
  put(b, "</div>");
}

static int has_runs(const struct mg_json *sums, size_t min)
{
  for (struct mg_json *s = mg_json_first(sums); s; s = mg_json_next(s))
    if (mg_json_size(mg_json_get_path(s, "perf.runs")) >= min)
      return 1;
  return 0;
}

int mg_report_html(const struct mg_report_in *in, struct mg_buf *b,
                   struct mg_err *err)
{
  const struct mg_json *sums = in->summaries;
  const struct mg_json *rows = mg_json_get(in->comparison, "rows");
  int any_perf = has_group(rows, "perf"), any_eval = has_group(rows, "eval");
  int same = has_group(rows, "perf_same_load");
  char a[32];

  (void)err;
  put(b,
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, "
      "initial-scale=1\"><meta name=\"generator\" content=\"results-merge "
      "%s\"><title>",
      MG_VERSION);
  esc(b, in->title);
  put(b, "</title><style>%s</style></head><body><main>\n<h1>", css);
  esc(b, in->title);
  put(b, "</h1><p class=\"sub\">Generated ");
  esc(b, in->generated);
  put(b, " by results-merge %s &middot; %zu input%s</p>", MG_VERSION,
      mg_json_size(sums), mg_json_size(sums) == 1 ? "" : "s");
  html_inputs(b, sums);
  put(b, "<h2 id=\"summary\">Key figures</h2>");
  html_cards(b, sums);
  if (any_perf) {
    put(b,
        "<h2 id=\"performance\">Performance at the operating point</h2>"
        "<p class=\"note\">The operating point is the load step shown "
        "as the headline: the highest offered rate the server sustained "
        "(no errors, at least 80&nbsp;%% of the offered rate achieved), "
        "else the busiest step without errors. Green is better, red "
        "worse than input 1; &ldquo;&gt;1&nbsp;SE&rdquo; marks a "
        "difference larger than its standard error, where one is "
        "known.%s</p>",
        same ? " <b>The inputs&rsquo; operating points differ</b>, so these "
               "latencies were measured under different loads: compare "
               "them in the next table, at the same offered load."
             : "");
    if (mg_json_get_path(in->comparison, "loads.headline"))
      put(b,
          "<p class=\"headline bad\"><b>%s</b>: the operating points "
          "are different offered loads, so no deltas are shown.</p>",
          str(mg_json_get(in->comparison, "loads"), "headline", ""));
    html_table(b, sums, in->comparison, "perf");
  }
  if (same) {
    put(b,
        "<h2 id=\"same-load\">Performance at the same offered load "
        "(%s&nbsp;req/s)</h2><p class=\"note\">Every input at the "
        "highest offered rate that all of them ran and sustained: here a "
        "difference in latency is the model, data or server, not the "
        "load.</p>",
        fmtj(mg_json_get_path(in->comparison, "same_load.rate"), a, sizeof(a)));
    html_table(b, sums, in->comparison, "perf_same_load");
  }
  if (has_runs(sums, 2))
    html_sweeps(b, sums);
  if (has_runs(sums, 1) && any_perf)
    html_distributions(b, sums, in->comparison);
  if (any_eval) {
    put(b, "<h2 id=\"accuracy\">Accuracy</h2><p class=\"note\">Scores per "
           "task with one standard error (the error bars). Two scores whose "
           "difference is within the standard error are not reliably "
           "different: collect more samples before concluding. A missing "
           "bar or &ldquo;-&rdquo;: that input did not run the task.</p>"
           "<figure>");
    accuracy_chart(b, sums, rows);
    put(b, "</figure>");
    html_table(b, sums, in->comparison, "eval");
  }
  put(b, "<footer><p><b>Glossary.</b> TTFT: time to first token. ITL: "
         "inter-token latency, the gap between streamed tokens. Latency: "
         "from sending a request to its last token. p50/p99: half / 99 in "
         "100 requests were at least this fast. Goodput: requests per "
         "second that met the service-level objective. SE: standard "
         "error.</p><p>This page is self-contained: it loads nothing from "
         "the network and can be archived or attached as is.</p></footer>"
         "</main></body></html>\n");
  return 0;
}
