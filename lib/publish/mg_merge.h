#ifndef MG_MERGE_H
#define MG_MERGE_H

#include <stddef.h>

#include "mg_banned.h"

struct mg_err;
struct mg_json;

/*
 * Merging and comparing records (results-merge). docs/record-registry.md
 * gives the rules; in short:
 *
 *   - sections that only one input has are taken as they are; sections
 *     several inputs have with equal content are taken once;
 *   - "provenance" arrays are concatenated, duplicates dropped;
 *   - "perf" from several load-generator processes of the same benchmark
 *     (members other than "runs" equal) is merged run by run (runs
 *     matched by "id"): counts summed, windows united, rates recomputed
 *     over the united window, distributions merged (see mg_merge_dist);
 *   - "eval" sections are united task by task: the same task twice with
 *     different content is a conflict;
 *   - any other section present twice with different content, and two
 *     different models, are conflicts that name both inputs, unless allow
 *     maps the section (or "*") to "first" or "last".
 */
struct mg_merge_input {
  const struct mg_json *rec; /* borrowed, checked record */
  const char *name;          /* for messages */
};

/*
 * Merges n >= 1 records into *out (caller owns). allow is an object
 * mapping a section name or "*" to "first" or "last" (may be NULL).
 * notes (an array, may be NULL) gets one string per thing the caller
 * should warn about (values that differed and were resolved). Conflicts
 * fail with MG_ERR_DATA naming both inputs.
 */
int mg_merge_records(const struct mg_merge_input *in, size_t n,
                     const struct mg_json *allow, struct mg_json **out,
                     struct mg_json *notes, struct mg_err *err);

/*
 * Merges distribution objects in perf-run's shape ({"count", "weight",
 * "sum", "mean", "median", "std", "min", "max", "percentiles", "hist"}):
 * count, weight, sum, min and max exactly, mean and (population) standard
 * deviation from the pooled moments, histogram bins added, and median and
 * percentiles by weighted nearest rank over the merged histogram (within
 * the histogram's relative accuracy, marked "percentiles_approx": true;
 * exact when a single input remains). Without histograms the percentiles
 * are dropped. caller owns the result.
 */
struct mg_json *mg_merge_dist(const struct mg_json *const *d, size_t n);

/*
 * Compares summaries (mg_results_summarize) side by side against the
 * first: *out is the "comparison" object {"baseline": 0, "entries":
 * [{"source", "model", "label", "verdict"}], "rows": [{"group", "task",
 * "metric", "unit", "better", "values", "stderr", "delta", "delta_pct",
 * "significant"}]}. A delta is significant when it is larger than the
 * standard error of the difference, sqrt(se0^2 + se1^2); null where no
 * standard error is known. caller owns *out.
 */
int mg_merge_compare(const struct mg_json *summaries, struct mg_json **out,
                     struct mg_err *err);

#endif
