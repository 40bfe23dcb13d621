#ifndef MG_PERF_REPORT_H
#define MG_PERF_REPORT_H

#include <stddef.h>

#include "mg_banned.h"

struct mg_buf;
struct mg_err;
struct mg_json;
struct mg_perf_data;
struct mg_perf_target;

/*
 * perf-run's checks before a run and its human-facing summaries.
 */

/* "http://h:1/v1/" -> "http://h:1" (trailing slashes and one /v1 dropped,
 * as GuideLLM). caller owns the result; free with free(). */
char *mg_perf_report_base_url(const char *target);

/*
 * Checks the endpoint: GET base/v1/models must answer (MG_ERR_REMOTE when
 * unreachable or 401/403); when *model is NULL it becomes the first id
 * listed (caller owns it), when it is set and the list does not hold it
 * the check fails with MG_ERR_USAGE naming what is served. Then, unless
 * skip_stream, one streamed request for data's first item with one output
 * token must come back 200 as an event stream (MG_ERR_REMOTE otherwise).
 */
int mg_perf_report_preflight(const struct mg_perf_target *t, const char *base,
                             const struct mg_perf_data *data, int skip_stream,
                             char **model, struct mg_err *err);

/* A number at a dotted path of a run entry, 0 if absent. */
double mg_perf_report_figure(const struct mg_json *run, const char *path);

/* One line summing up a run entry (label, req/s, concurrency, TTFT, ITL,
 * latency, tokens/s, counts, schedule delay p99), without newline. */
void mg_perf_report_summary_text(const struct mg_json *run, char *out,
                                 size_t n);

struct mg_perf_bench;
struct mg_perf_profile;
/* "constant@4", "concurrent@8", "synchronous": a benchmark's name. */
void mg_perf_report_profile_label(const struct mg_perf_profile *p, char *out,
                                  size_t n);
/* The live status line of a running benchmark (without newline). */
void mg_perf_report_status_text(const struct mg_perf_bench *b,
                                const char *label, int inflight, long long now,
                                char *out, size_t n);

/* The CSV (header + one row per run entry) appended to out. */
void mg_perf_report_csv(const struct mg_json *runs, struct mg_buf *out);

#endif
