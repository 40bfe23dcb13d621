/* Unit tests for mg_perf_metrics on hand-made request records, so every
 * formula of docs/metrics.md is checked against a value worked out by
 * hand. Times are in milliseconds from B. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "mg_json.h"
#include "perf/mg_perf_bench.h"
#include "perf/mg_perf_metrics.h"

#define B 1000000000LL
#define MS(x) (B + (long long)((x)*1000000.0))
#define CLOSE(a, b) assert_true(fabs((a) - (b)) < 1e-5)

static void events(struct mg_perf_rec *r, double from, double step, int n,
                   int flags)
{
  r->ev_t = calloc((size_t)n, sizeof(long long));
  r->ev_f = calloc((size_t)n, 1);
  r->nev = r->evcap = n;
  for (int i = 0; i < n; i++) {
    r->ev_t[i] = MS(from + i * step);
    r->ev_f[i] = (unsigned char)flags;
  }
}

static void make_bench(struct mg_perf_bench *b)
{
  struct mg_perf_rec *r;
  int tok = MG_PERF_EV_CHOICES | MG_PERF_EV_TOKEN | MG_PERF_EV_TEXT;

  memset(b, 0, sizeof(*b));
  b->profile.kind = MG_PERF_CONSTANT;
  b->profile.rate = 10;
  b->t_start = B;
  b->t_end = MS(400);
  b->stop_reason = "max_seconds";
  b->nblocks = 1;
  b->blocks = calloc(1, sizeof(*b->blocks));
  b->blocks[0] = calloc(1024, sizeof(struct mg_perf_rec));
  b->n = 4;
  r = &b->blocks[0][0];
  r->idx = 0;
  r->status = MG_PERF_SUCCESSFUL;
  r->t_sched = MS(0);
  r->t_sent = MS(1);
  r->t_first_tok = r->t_first_out = r->t_vllm_first = MS(101);
  r->t_last_tok = r->t_vllm_last = MS(201);
  r->t_end = MS(202);
  r->usage_prompt = 5;
  r->usage_output = 11;
  r->iterations = 11;
  events(r, 101, 10, 11, tok);
  r = &b->blocks[0][1];
  r->idx = 1;
  r->status = MG_PERF_SUCCESSFUL;
  r->t_sched = r->t_sent = MS(100);
  r->t_first_tok = r->t_first_out = r->t_vllm_first = MS(150);
  r->t_last_tok = r->t_vllm_last = MS(250);
  r->t_end = MS(250);
  r->usage_prompt = 7;
  r->usage_output = 3;
  r->iterations = 3;
  events(r, 150, 50, 3, tok);
  r = &b->blocks[0][2];
  r->idx = 2;
  r->status = MG_PERF_ERRORED;
  r->reason = "http 500";
  r->http_status = 500;
  r->t_sched = r->t_sent = MS(200);
  r->t_end = MS(210);
  r->usage_prompt = r->usage_output = -1;
  r->data_prompt = 9;
  r = &b->blocks[0][3];
  r->idx = 3;
  r->status = MG_PERF_INCOMPLETE;
  r->reason = "max_seconds";
  r->t_sched = r->t_sent = MS(300);
  r->t_first_tok = r->t_first_out = r->t_vllm_first = MS(350);
  r->t_last_tok = r->t_vllm_last = MS(360);
  r->t_end = MS(400);
  r->usage_prompt = r->usage_output = -1;
  r->data_prompt = 9;
  r->iterations = 2;
  events(r, 350, 10, 2, tok);
}

static double num(const struct mg_json *j, const char *path)
{
  const struct mg_json *v = mg_json_get_path(j, path);
  assert_non_null(v);
  return mg_json_number(v);
}

static void test_formulas(void **state)
{
  struct mg_perf_bench b;
  struct mg_perf_metrics_opts o;
  struct mg_json *j;
  double w = 0.399; /* first send (1 ms) to last end (400 ms) */

  (void)state;
  make_bench(&b);
  memset(&o, 0, sizeof(o));
  o.hist = 1;
  o.slo.ttft_ms = 80;
  j = mg_perf_metrics_json(&b, 3, &o);
  assert_int_equal((int)num(j, "id"), 3);
  assert_string_equal(mg_json_string(mg_json_get(j, "kind")), "constant");
  CLOSE(num(j, "window.duration_s"), w);
  CLOSE(num(j, "requests.successful"), 2);
  CLOSE(num(j, "requests.errored"), 1);
  CLOSE(num(j, "requests.incomplete"), 1);
  CLOSE(num(j, "requests.errors.http 500"), 1);
  CLOSE(num(j, "requests.incomplete_reasons.max_seconds"), 1);
  /* GuideLLM TTFT and latency from the send. */
  CLOSE(num(j, "metrics.successful.ttft_ms.mean"), 75);
  CLOSE(num(j, "metrics.successful.latency_ms.mean"), (201 + 150) / 2.0);
  /* ITL token-weighted: (10*10 + 50*2) / 12. */
  CLOSE(num(j, "metrics.successful.itl_ms.mean"), 200.0 / 12);
  CLOSE(num(j, "metrics.successful.itl_ms.weight"), 12);
  /* vLLM TPOT request-weighted: (10 + 50) / 2. */
  CLOSE(num(j, "metrics.successful.vllm_tpot_ms.mean"), 30);
  /* vLLM ITL: 10 gaps of 10 and 2 of 50, pooled. */
  CLOSE(num(j, "metrics.successful.vllm_itl_ms.count"), 12);
  CLOSE(num(j, "metrics.successful.vllm_itl_ms.mean"), 200.0 / 12);
  /* GuideLLM >= 0.4 TPOT: (200/11*11 + 150/3*3) / 14. */
  CLOSE(num(j, "metrics.successful.tpot_ms.mean"), 350.0 / 14);
  CLOSE(num(j, "metrics.successful.tpot_v03_ms.mean"), 200.0 / 14);
  /* From the scheduled time: request 0 waited 1 ms to be sent. */
  CLOSE(num(j, "metrics.successful.latency_from_scheduled_ms.max"), 202);
  CLOSE(num(j, "metrics.successful.ttft_from_scheduled_ms.max"), 101);
  CLOSE(num(j, "client.delay_ms.max"), 1);
  CLOSE(num(j, "client.delay_ms.mean"), 0.25);
  /* Token counts: usage, else events; prompts: usage, else data. */
  CLOSE(num(j, "metrics.successful.output_tokens.sum"), 14);
  CLOSE(num(j, "metrics.incomplete.output_tokens.sum"), 2);
  CLOSE(num(j, "metrics.total.prompt_tokens.sum"), 5 + 7 + 9 + 9);
  /* Rates over the window; vLLM's duration ends at the last success. */
  CLOSE(num(j, "requests_per_s"), 2 / w);
  CLOSE(num(j, "throughput.output_tokens_per_s"), 14 / w);
  CLOSE(num(j, "throughput.input_tokens_per_s"), 12 / w);
  CLOSE(num(j, "throughput.output_tokens_per_s_all_requests"), 16 / w);
  CLOSE(num(j, "throughput.vllm_request_throughput"), 2 / 0.249);
  CLOSE(num(j, "throughput.goodput_requests_per_s"), 1 / w);
  CLOSE(num(j, "throughput.slo_attainment"), 0.25);
  /* Concurrency: 201 + 150 + 10 + 100 ms of requests over 399 ms. */
  CLOSE(num(j, "concurrency.mean"), 461.0 / 399);
  CLOSE(num(j, "concurrency.max"), 3);
  CLOSE(num(j, "client.achieved_rate"), 4 / 0.3);
  assert_non_null(mg_json_get_path(j, "metrics.errored.latency_ms.hist"));
  assert_null(mg_json_get_path(j, "metrics.errored.ttft_ms"));
  mg_json_free(j);
  mg_perf_bench_release(&b);
}

static void test_window_rules(void **state)
{
  struct mg_perf_bench b;
  struct mg_perf_phase_opts ph;
  struct mg_perf_metrics_opts o;
  struct mg_json *j;
  long long ws, we;

  (void)state;
  make_bench(&b);
  memset(&ph, 0, sizeof(ph));
  /* Time-bounded: 0.1 of 0.4 s at each end. */
  ph.max_seconds = 0.4;
  ph.warmup = 0.25;
  ph.cooldown = 0.25;
  mg_perf_metrics_window(&b, &ph, &ws, &we);
  assert_true(ws == MS(100));
  assert_true(we == MS(300));
  /* Seconds when >= 1 (none here would fit, but the rule holds). */
  ph.max_seconds = 10;
  ph.warmup = 2;
  ph.cooldown = 3;
  mg_perf_metrics_window(&b, &ph, &ws, &we);
  assert_true(ws == MS(2000));
  assert_true(we == MS(7000));
  /* Request-bounded: skip the first request's send, end at the end of
   * the request completed second from last. */
  memset(&ph, 0, sizeof(ph));
  ph.max_requests = 4;
  ph.warmup = 1;
  ph.cooldown = 1;
  mg_perf_metrics_window(&b, &ph, &ws, &we);
  assert_true(ws == MS(100));
  assert_true(we == MS(250));
  /* Overlap rule: request 0 (sent 1, ended 202) straddles the start and
   * is kept; request 3 (sent 300) starts after the end and is not. */
  memset(&o, 0, sizeof(o));
  o.phase = ph;
  j = mg_perf_metrics_json(&b, 0, &o);
  CLOSE(num(j, "requests.total"), 3);
  CLOSE(num(j, "requests.outside_window"), 1);
  CLOSE(num(j, "requests.incomplete"), 0);
  mg_json_free(j);
  mg_perf_bench_release(&b);
}

static void test_linear_method_and_samples(void **state)
{
  struct mg_perf_bench b;
  struct mg_perf_metrics_opts o;
  struct mg_json *j;
  struct mg_buf s = MG_BUF_INIT(1 << 20);
  const char *line2;

  (void)state;
  make_bench(&b);
  memset(&o, 0, sizeof(o));
  o.method = MG_STATS_PCT_LINEAR;
  j = mg_perf_metrics_json(&b, 0, &o);
  /* numpy: median of [50, 100] is 75; nearest rank would say 50. */
  CLOSE(num(j, "metrics.successful.ttft_ms.median"), 75);
  CLOSE(num(j, "metrics.successful.ttft_ms.percentiles.p25"), 62.5);
  /* Weighted metrics keep the weighted nearest rank. */
  CLOSE(num(j, "metrics.successful.itl_ms.median"), 10);
  assert_null(mg_json_get_path(j, "metrics.successful.ttft_ms.hist"));
  mg_json_free(j);

  assert_int_equal(mg_perf_metrics_samples_jsonl(&b, 5, &o.phase, &s), 0);
  line2 = strchr(s.data, '\n') + 1;
  assert_true(strncmp(s.data,
                      "{\"run\":5,\"i\":0,\"status\":\"successful\","
                      "\"item\":0,\"http_status\":0,\"scheduled\":"
                      "0.000,\"sent\":1.000,\"first_token\":101.000",
                      109)
              == 0);
  assert_non_null(strstr(s.data, "\"events\":[[101.000,7],[111.000,7],"));
  assert_true(strncmp(strstr(strstr(line2, "\n") + 1, "\"reason\""),
                      "\"reason\":\"http 500\"", 19)
              == 0);
  mg_buf_release(&s);
  mg_perf_bench_release(&b);
}

/* The samples lines, fed back through the row API, give the counts and
 * distributions perf-run computed from its records (results-merge relies
 * on it): with a window that leaves a request out, so the schedule delay
 * (every request) and the metrics (the window's) differ in count. */
static void test_rows_from_samples(void **state)
{
  struct mg_perf_bench b;
  struct mg_perf_metrics_opts o;
  struct mg_perf_metrics *m = mg_perf_metrics_new();
  struct mg_buf s = MG_BUF_INIT(1 << 20);
  struct mg_json *j, *req = mg_json_new_object(), *dists, *delay, *l;
  struct mg_err err = MG_ERR_INIT;
  char *line, *nl;

  (void)state;
  make_bench(&b);
  memset(&o, 0, sizeof(o));
  o.hist = 1;
  o.phase.max_requests = 4;
  o.phase.warmup = 1;
  o.phase.cooldown = 1;
  j = mg_perf_metrics_json(&b, 0, &o);
  assert_int_equal(mg_perf_metrics_samples_jsonl(&b, 0, &o.phase, &s), 0);
  for (line = s.data; line && *line; line = nl ? nl + 1 : NULL) {
    nl = strchr(line, '\n');
    assert_int_equal(mg_json_parse(line, (size_t)(nl - line), "line", &l, &err),
                     0);
    mg_perf_metrics_add_sample(m, l);
    mg_json_free(l);
  }
  assert_int_equal((int)mg_perf_metrics_count(m, MG_PERF_METRICS_TOTAL, 0), 3);
  assert_int_equal((int)mg_perf_metrics_count(m, MG_PERF_METRICS_TOTAL, 1), 4);
  mg_perf_metrics_requests(m, req);
  assert_true(mg_json_equal(req, mg_json_get(j, "requests")));
  dists = mg_perf_metrics_dists(m, o.method, 1);
  assert_true(mg_json_equal(dists, mg_json_get(j, "metrics")));
  delay = mg_perf_metrics_delay(m, o.method, 1);
  CLOSE(num(delay, "count"), 4);
  assert_true(mg_json_equal(delay, mg_json_get_path(j, "client.delay_ms")));
  mg_json_free(delay);
  mg_json_free(dists);
  mg_json_free(req);
  mg_json_free(j);
  mg_perf_metrics_free(m);
  mg_buf_release(&s);
  mg_perf_bench_release(&b);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_formulas),
    cmocka_unit_test(test_window_rules),
    cmocka_unit_test(test_linear_method_and_samples),
    cmocka_unit_test(test_rows_from_samples),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
