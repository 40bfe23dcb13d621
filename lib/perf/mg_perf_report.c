#include "perf/mg_perf_report.h"

#include <stdlib.h>
#include <string.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "mg_http.h"
#include "mg_json.h"
#include "mg_mem.h"
#include "perf/mg_perf_bench.h"
#include "perf/mg_perf_data.h"
#include "perf/mg_perf_sse.h"

char *mg_perf_report_base_url(const char *target)
{
  size_t n = strlen(target);

  while (n > 0 && target[n - 1] == '/')
    n--;
  if (n >= 3 && strncmp(target + n - 3, "/v1", 3) == 0)
    n -= 3;
  return mg_xstrndup(target, n);
}

static int count_event(void *arg, const char *data, size_t len, int nth)
{
  (void)arg;
  (void)data;
  (void)len;
  (void)nth;
  return 0;
}

/*
 * Checks the endpoint before the run: /v1/models answers (and names the
 * model when --model is absent), then one streamed request with one
 * output token comes back as an event stream.
 */
int mg_perf_report_preflight(const struct mg_perf_target *t, const char *base,
                             const struct mg_perf_data *data, int skip_stream,
                             char **model, struct mg_err *err)
{
  struct mg_http_opts ho = t->http;
  struct mg_http_request req;
  struct mg_http_response resp;
  struct mg_json *j = NULL, *list;
  char *url = mg_xasprintf("%s/v1/models", base);
  char *shown = mg_http_redact_url(base);
  int rc = -1;

  ho.retries = 2;
  ho.retry_base_ms = 200;
  ho.timeout_ms = t->check_timeout_ms > 0 ? t->check_timeout_ms : 30000;
  memset(&req, 0, sizeof(req));
  req.url = url;
  mg_http_response_init(&resp, (size_t)16 << 20);
  if (mg_http_do(&ho, &req, &resp, err) < 0)
    goto out;
  if (resp.status == 401 || resp.status == 403) {
    mg_err_set(err, MG_ERR_REMOTE,
               "endpoint '%s' refused the request: "
               "HTTP %ld (check --api-key-file)",
               shown, resp.status);
    goto out;
  }
  if (resp.status == 200
      && mg_json_parse(resp.body.data, resp.body.len, url, &j, NULL) == 0
      && (list = mg_json_get(j, "data")) && mg_json_is_array(list)) {
    struct mg_buf names = MG_BUF_INIT(400);
    int found = 0;
    for (struct mg_json *m = mg_json_first(list); m; m = mg_json_next(m)) {
      const char *id = mg_json_string(mg_json_get(m, "id"));
      if (!id)
        continue;
      if (!*model)
        *model = mg_xstrdup(id);
      if (strcmp(id, *model) == 0)
        found = 1;
      (void)mg_buf_printf(&names, NULL, "%s%s", names.len ? ", " : "", id);
    }
    if (*model && !found) {
      mg_err_set(err, MG_ERR_USAGE,
                 "model '%s' is not served by '%s' "
                 "(it serves: %s)",
                 *model, shown, names.len ? names.data : "nothing");
      mg_buf_release(&names);
      goto out;
    }
    mg_buf_release(&names);
  }
  if (!*model) {
    mg_err_set(err, MG_ERR_REMOTE,
               "cannot find a model at '%s/v1/models' "
               "(HTTP %ld): give --model",
               shown, resp.status);
    goto out;
  }
  if (!skip_stream) {
    struct mg_perf_req_body_opts bo = t->body;
    struct mg_perf_req_body body;
    struct mg_perf_item item = data->items[0];
    struct mg_buf text = MG_BUF_INIT(MG_BUF_UNLIMITED);
    struct mg_perf_sse sse;
    const char **hdrs;
    size_t n = 0, nh = 0;

    bo.model = *model;
    item.output_tokens = 1;
    if (mg_perf_req_body_init(&body, &bo, err) < 0)
      goto out;
    (void)mg_perf_req_body_build(&body, &item, 0, &text, NULL);
    mg_perf_req_body_release(&body);
    while (t->headers && t->headers[nh])
      nh++;
    hdrs = mg_xcalloc(nh + 2, sizeof(*hdrs));
    hdrs[n++] = "Content-Type: application/json";
    for (size_t i = 0; i < nh; i++)
      hdrs[n++] = t->headers[i];
    mg_http_response_release(&resp);
    mg_http_response_init(&resp, (size_t)16 << 20);
    memset(&req, 0, sizeof(req));
    req.url = t->url;
    req.headers = hdrs;
    req.body = text.data;
    req.body_len = text.len;
    ho.retries = 0;
    rc = mg_http_do(&ho, &req, &resp, err);
    mg_buf_release(&text);
    free(hdrs);
    if (rc < 0)
      goto out;
    rc = -1;
    if (resp.status != 200) {
      struct mg_perf_sse_chunk c;
      const char *msg = "";
      if (resp.body.len
          && mg_perf_sse_chunk_scan(resp.body.data, resp.body.len, &c) == 0)
        msg = c.error_msg;
      mg_err_set(err, MG_ERR_REMOTE, "endpoint '%s' answered HTTP %ld%s%s",
                 t->url, resp.status, *msg ? ": " : "", msg);
      goto out;
    }
    mg_perf_sse_init(&sse, (size_t)4 << 20);
    (void)mg_perf_sse_feed(&sse, resp.body.data, resp.body.len, count_event,
                           NULL);
    (void)mg_perf_sse_feed(&sse, "\n\n", 2, count_event, NULL);
    if (sse.events == 0) {
      mg_perf_sse_release(&sse);
      mg_err_set(err, MG_ERR_REMOTE,
                 "endpoint '%s' did not answer with an "
                 "event stream (it ignores \"stream\": true)",
                 t->url);
      goto out;
    }
    mg_perf_sse_release(&sse);
  }
  rc = 0;
out:
  mg_json_free(j);
  mg_http_response_release(&resp);
  free(url);
  free(shown);
  return rc;
}

double mg_perf_report_figure(const struct mg_json *run, const char *path)
{
  return mg_json_number(mg_json_get_path(run, path));
}

void mg_perf_report_summary_text(const struct mg_json *run, char *out, size_t n)
{
  const char *kind = mg_json_string(mg_json_get(run, "kind"));
  const struct mg_json *rate = mg_json_get(run, "rate");
  char label[48];

  if (mg_json_is_number(rate))
    (void)snprintf(label, sizeof(label), "%s@%g", kind ? kind : "?",
                   mg_json_number(rate));
  else
    (void)snprintf(label, sizeof(label), "%s", kind ? kind : "?");
  (void)snprintf(
      out, n,
      "%-16s %8.2f req/s  conc %6.1f  ttft p50 %8.1f p99 %8.1f ms  "
      "itl p50 %6.2f p99 %6.2f ms  lat p50 %8.1f ms  out %9.1f tok/s  "
      "ok %g err %g inc %g  delay p99 %.3f ms",
      label, mg_perf_report_figure(run, "requests_per_s"),
      mg_perf_report_figure(run, "concurrency_mean"),
      mg_perf_report_figure(run, "metrics.successful.ttft_ms.percentiles.p50"),
      mg_perf_report_figure(run, "metrics.successful.ttft_ms.percentiles.p99"),
      mg_perf_report_figure(run, "metrics.successful.itl_ms.percentiles.p50"),
      mg_perf_report_figure(run, "metrics.successful.itl_ms.percentiles.p99"),
      mg_perf_report_figure(run,
                            "metrics.successful.latency_ms.percentiles.p50"),
      mg_perf_report_figure(run, "output_tokens_per_s"),
      mg_perf_report_figure(run, "requests.successful"),
      mg_perf_report_figure(run, "requests.errored"),
      mg_perf_report_figure(run, "requests.incomplete"),
      mg_perf_report_figure(run, "client.delay_ms.percentiles.p99"));
}

void mg_perf_report_csv(const struct mg_json *runs, struct mg_buf *out)
{
  static const char *const cols[] = {
    "id",
    "kind",
    "rate",
    "requests.successful",
    "requests.errored",
    "requests.incomplete",
    "requests_per_s",
    "output_tokens_per_s",
    "concurrency_mean",
    "metrics.successful.ttft_ms.mean",
    "metrics.successful.ttft_ms.percentiles.p50",
    "metrics.successful.ttft_ms.percentiles.p99",
    "metrics.successful.itl_ms.mean",
    "metrics.successful.itl_ms.percentiles.p50",
    "metrics.successful.itl_ms.percentiles.p99",
    "metrics.successful.vllm_tpot_ms.mean",
    "metrics.successful.vllm_itl_ms.mean",
    "metrics.successful.tpot_ms.mean",
    "metrics.successful.latency_ms.percentiles.p50",
    "metrics.successful.latency_ms.percentiles.p99",
    "client.delay_ms.percentiles.p50",
    "client.delay_ms.percentiles.p99",
    "client.achieved_rate",
  };
  size_t nc = sizeof(cols) / sizeof(*cols);

  for (size_t i = 0; i < nc; i++)
    (void)mg_buf_printf(out, NULL, "%s%s", i ? "," : "", cols[i]);
  (void)mg_buf_addch(out, '\n', NULL);
  for (struct mg_json *r = mg_json_first(runs); r; r = mg_json_next(r)) {
    for (size_t i = 0; i < nc; i++) {
      const struct mg_json *v = mg_json_get_path(r, cols[i]);
      if (i)
        (void)mg_buf_addch(out, ',', NULL);
      if (mg_json_is_string(v))
        (void)mg_buf_addstr(out, mg_json_string(v), NULL);
      else if (mg_json_is_number(v))
        (void)mg_buf_printf(out, NULL, "%.10g", mg_json_number(v));
    }
    (void)mg_buf_addch(out, '\n', NULL);
  }
}

void mg_perf_report_status_text(const struct mg_perf_bench *b,
                                const char *label, int inflight, long long now,
                                char *out, size_t n)
{
  double el = now > b->t_start ? (double)(now - b->t_start) / 1e9 : 0;

  (void)snprintf(out, n,
                 "%s %.1f s, %lld sent, %d in flight, %lld ok, %lld errors, "
                 "%lld incomplete, %.1f req/s",
                 label, el, b->n, inflight, b->successful, b->errored,
                 b->incomplete, el > 0 ? (double)b->successful / el : 0);
}

void mg_perf_report_profile_label(const struct mg_perf_profile *p, char *out,
                                  size_t n)
{
  if (p->kind == MG_PERF_CONCURRENT)
    (void)snprintf(out, n, "concurrent@%d", p->streams);
  else if (p->rate > 0)
    (void)snprintf(out, n, "%s@%g", mg_perf_sched_kind_name(p->kind), p->rate);
  else
    (void)snprintf(out, n, "%s", mg_perf_sched_kind_name(p->kind));
}
