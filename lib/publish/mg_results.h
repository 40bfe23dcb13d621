#ifndef MG_RESULTS_H
#define MG_RESULTS_H

#include <stddef.h>

#include "mg_banned.h"

struct mg_err;
struct mg_json;

/*
 * Headline results: the one place that reads the perf, eval and
 * verification sections of a record (or the properties a registry holds)
 * into a small, stable summary that results-merge compares and reports
 * and registry-push publishes. docs/record-registry.md documents both
 * the fields read and the summary.
 *
 * A summary is an object:
 *   {"source": NAME, "model": NAME|absent, "label": DATASET-LABEL,
 *    "verification": {"ok": bool, "verdict": "pass"|"fail", "findings": N},
 *    "perf": {"runs": [RUN...], "operating_point": INDEX,
 *             "max_sustainable_rps": X, "goodput_rps": X,
 *             "profile": "sweep"|..., "workload": "synthetic
 *             prompt_tokens=64,output_tokens=16"|"FILE (columns)"},
 *    "eval": {"tasks": [{"task", "metric", "value", "stderr", "n",
 *                        "higher_is_better"}]}}
 * RUN = {"id", "kind", "rate", "requests": {"successful", "errored",
 *        "incomplete"}, "requests_per_s", "output_tokens_per_s",
 *        "concurrency_mean", "ttft_ms": DIST, "itl_ms": DIST,
 *        "tpot_ms": DIST, "latency_ms": DIST}
 * DIST = {"count", "mean", "stddev", "p50", "p90", "p95", "p99",
 *         "percentiles": {"p1": X, ..., "p99.9": X}}
 * Members whose data is absent are left out; readers must expect that.
 */

/* The default dataset label when neither the sections nor the caller name
 * one. */
#define MG_RESULTS_DEFAULT_LABEL "baseline"

/*
 * Summaries of one record: normally one, but a record listing a registry's
 * versions (the "registry_list" member written by registry-push --list)
 * gives one per version and dataset label, and so does a starting record
 * written by registry-push --get (no "perf" nor "eval", the version's
 * properties in "registry.version_properties"). name is the input's name.
 * label, when not NULL, overrides the dataset label of the sections.
 * Appends to the array out. Fails with MG_ERR_DATA on a malformed section.
 */
int mg_results_summarize(const struct mg_json *rec, const char *name,
                         const char *label, struct mg_json *out,
                         struct mg_err *err);

/*
 * The summary flattened into registry properties: an object mapping
 * property keys (mg_propkey_join rules) to plain values (number, string,
 * bool) in a fixed order. Integers that are counts are marked by the key
 * ending (".n", ".requests", ".errors", ".findings"), which the registry
 * writes as MetadataIntValue. per_rate adds every run's figures under
 * perf.<label>.r<rate>.*. caller owns the result.
 */
struct mg_json *mg_results_flatten(const struct mg_json *summary, int per_rate);

/*
 * The reverse of mg_results_flatten for the figures it can recover:
 * summaries (appended to out, one per dataset label) from a plain
 * property map, for comparing what a registry holds. source names the
 * version ("model/version").
 */
void mg_results_unflatten(const struct mg_json *props, const char *source,
                          const char *model, struct mg_json *out);

/* 1 if the key of a flattened property holds a count (an integer). */
int mg_results_key_is_count(const char *key);

/*
 * The run of a perf summary to headline: "operating_point" when set, else
 * the run with the highest achieved request rate among runs without
 * errors, else the last. NULL when there are no runs. Borrowed.
 */
const struct mg_json *mg_results_headline_run(const struct mg_json *perf);

#endif
