#ifndef MG_REPORT_H
#define MG_REPORT_H

#include "mg_banned.h"

struct mg_buf;
struct mg_err;
struct mg_json;

/*
 * Human-readable reports of results (results-merge): Markdown, CSV and
 * one self-contained HTML page (inline CSS and SVG, no script, no network,
 * no external assets) with charts: latency percentiles and throughput
 * against request rate for sweeps, TTFT and ITL distributions, accuracy
 * per task with error bars, and the verification verdict.
 *
 * The input is the array of summaries (mg_results_summarize) and their
 * comparison (mg_merge_compare), both borrowed. title and generated (a
 * time) are printed as given. Each function appends to out.
 */
struct mg_report_in {
  const struct mg_json *summaries;
  const struct mg_json *comparison;
  const char *title;
  const char *generated;
};

int mg_report_markdown(const struct mg_report_in *in, struct mg_buf *out,
                       struct mg_err *err);
/*
 * Long format, one value per line: source, model, label, group, run, rate,
 * task, metric, unit, value, stderr, delta, delta_pct, significant
 * (RFC 4180 quoting). Headline rows carry deltas against the first input;
 * sweep rows (group "perf_run") carry each run's figures.
 */
int mg_report_csv(const struct mg_report_in *in, struct mg_buf *out,
                  struct mg_err *err);
int mg_report_html(const struct mg_report_in *in, struct mg_buf *out,
                   struct mg_err *err);

#endif
