/*
 * Unit tests for mg_perf_bench, the benchmark event loop, against mock-llm's
 * server running in a thread of this process (the same code as the
 * mock-llm program), with deterministic timing and injected faults.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg_err.h"
#include "mg_http.h"
#include "mock/mg_mock.h"
#include "perf/mg_perf_bench.h"
#include "perf/mg_perf_data.h"

static volatile sig_atomic_t mock_stop;
static struct mg_mock_server *srv;
static pthread_t thr;
static sigset_t waitmask;
static char url[128];

static void on_usr1(int sig)
{
  (void)sig;
  mock_stop = 1;
}

static void *serve(void *arg)
{
  struct mg_err err = MG_ERR_INIT;
  (void)arg;
  mg_mock_server_run(srv, &mock_stop, &waitmask, &err);
  return NULL;
}

/* Starts the mock with ttft 20 ms, itl 5 ms and the faults given. */
static void mock_up(const struct mg_mock_faults *f, const char *path)
{
  struct mg_mock_opts o;
  struct mg_err err = MG_ERR_INIT;

  mg_mock_opts_init(&o);
  o.port = 0;
  o.model.name = "m";
  o.model.output_tokens = 8;
  o.model.max_model_len = 100000;
  o.model.seed = 1;
  o.timing.ttft_ms = 20;
  o.timing.itl_ms = 5;
  if (f)
    o.faults = *f;
  assert_int_equal(mg_mock_server_new(&o, &srv, &err), 0);
  snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", mg_mock_server_port(srv),
           path);
  mock_stop = 0;
  assert_int_equal(pthread_create(&thr, NULL, serve, NULL), 0);
}

static void mock_down(void)
{
  mock_stop = 1;
  pthread_kill(thr, SIGUSR1);
  pthread_join(thr, NULL);
  mg_mock_server_free(srv);
  srv = NULL;
}

static int group_up(void **state)
{
  struct sigaction sa;
  sigset_t block;
  struct mg_err err = MG_ERR_INIT;

  (void)state;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_usr1;
  sigaction(SIGUSR1, &sa, NULL);
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &block, &waitmask);
  sigdelset(&waitmask, SIGUSR1);
  return mg_http_global_init(&err);
}

static int group_down(void **state)
{
  (void)state;
  mg_http_global_cleanup();
  return 0;
}

static void target(struct mg_perf_target *t, int chat)
{
  memset(t, 0, sizeof(*t));
  t->url = url;
  mg_http_opts_init(&t->http);
  t->http.retries = 0;
  mg_perf_req_body_opts_init(&t->body);
  t->body.model = "m";
  t->body.chat = chat;
}

static void synth(struct mg_perf_data *d, const char *spec)
{
  struct mg_perf_data_synth s;
  struct mg_err err = MG_ERR_INIT;

  mg_perf_data_init(d);
  assert_int_equal(mg_perf_data_synth_parse(spec, &s, &err), 0);
  mg_perf_data_synth(d, &s);
}

static void run(const struct mg_perf_target *t, const struct mg_perf_data *d,
                const struct mg_perf_profile *p, const struct mg_perf_limits *l,
                volatile sig_atomic_t *stop, mg_perf_status_fn *fn,
                struct mg_perf_bench *b)
{
  struct mg_err err = MG_ERR_INIT;

  assert_int_equal(mg_perf_bench_run(t, d, p, l, stop, fn, NULL, b, &err), 0);
}

static void test_constant_rate_streams(void **state)
{
  struct mg_perf_target t;
  struct mg_perf_data d;
  struct mg_perf_profile p = { 0 };
  struct mg_perf_limits l = { 0 };
  struct mg_perf_bench b;

  (void)state;
  mock_up(NULL, "/v1/chat/completions");
  target(&t, 1);
  synth(&d, "prompt_tokens=8,output_tokens=4");
  p.kind = MG_PERF_CONSTANT;
  p.rate = 50;
  l.max_requests = 10;
  run(&t, &d, &p, &l, NULL, NULL, &b);
  assert_string_equal(b.stop_reason, "max_requests");
  assert_int_equal(b.n, 10);
  assert_int_equal(b.successful, 10);
  for (long long i = 0; i < b.n; i++) {
    struct mg_perf_rec *r = mg_perf_bench_rec(&b, i);
    /* Absolute schedule: request i at start + (i + 1) / rate. */
    assert_true(r->t_sched == b.t_start + (i + 1) * 20000000LL);
    assert_true(r->t_sent >= r->t_sched);
    assert_int_equal(r->status, MG_PERF_SUCCESSFUL);
    assert_int_equal(r->http_status, 200);
    assert_int_equal(r->usage_output, 4);
    assert_int_equal(r->iterations, 4);
    assert_true(r->usage_prompt > 0);
    assert_true(r->done_seen);
    /* The mock waits 20 ms for the first token, then 5 ms a token. */
    assert_true(r->t_first_tok - r->t_sent >= 19000000LL);
    /* Emissions are on the mock's absolute schedule: the 4th token is
     * never before 20 + 3 * 5 ms after the request arrived. */
    assert_true(r->t_last_tok - r->t_sent >= 34000000LL);
    assert_true(r->t_first_tok <= r->t_last_tok && r->t_last_tok <= r->t_end);
    /* A chat stream: a role chunk with choices comes first. */
    assert_true(r->t_vllm_first <= r->t_first_tok);
    assert_true(r->nev >= 6);
    assert_true(r->ev_f[r->nev - 1] & MG_PERF_EV_DONE);
  }
  mg_perf_bench_release(&b);
  mg_perf_data_release(&d);
  mock_down();
}

static void test_closed_loops(void **state)
{
  struct mg_perf_target t;
  struct mg_perf_data d;
  struct mg_perf_profile p = { 0 };
  struct mg_perf_limits l = { 0 };
  struct mg_perf_bench b;

  (void)state;
  mock_up(NULL, "/v1/completions");
  target(&t, 0);
  synth(&d, "prompt_tokens=8,output_tokens=2");
  p.kind = MG_PERF_SYNCHRONOUS;
  l.max_requests = 4;
  run(&t, &d, &p, &l, NULL, NULL, &b);
  assert_int_equal(b.successful, 4);
  assert_int_equal(b.peak_inflight, 1);
  /* Each request is scheduled when the previous one ended. */
  for (long long i = 1; i < b.n; i++)
    assert_true(mg_perf_bench_rec(&b, i)->t_sched
                == mg_perf_bench_rec(&b, i - 1)->t_end);
  mg_perf_bench_release(&b);

  p.kind = MG_PERF_CONCURRENT;
  p.streams = 3;
  l.max_requests = 9;
  run(&t, &d, &p, &l, NULL, NULL, &b);
  assert_int_equal(b.successful, 9);
  assert_int_equal(b.peak_inflight, 3);
  mg_perf_bench_release(&b);

  p.kind = MG_PERF_THROUGHPUT;
  p.max_concurrency = 5;
  l.max_requests = 12;
  run(&t, &d, &p, &l, NULL, NULL, &b);
  assert_int_equal(b.successful, 12);
  assert_int_equal(b.peak_inflight, 5);
  mg_perf_bench_release(&b);

  /* File data is used once: the run ends when it is exhausted. */
  d.synthetic = 0;
  d.n = 3;
  l.max_requests = 0;
  run(&t, &d, &p, &l, NULL, NULL, &b);
  assert_string_equal(b.stop_reason, "data_exhausted");
  assert_int_equal(b.n, 3);
  mg_perf_bench_release(&b);
  d.n = 1000;
  mg_perf_data_release(&d);
  mock_down();
}

static void test_max_seconds_cancels(void **state)
{
  struct mg_perf_target t;
  struct mg_perf_data d;
  struct mg_perf_profile p = { 0 };
  struct mg_perf_limits l = { 0 };
  struct mg_perf_bench b;

  (void)state;
  mock_up(NULL, "/v1/completions");
  target(&t, 0);
  /* 1000 tokens at 5 ms: 5 s per request, far past the limit. */
  synth(&d, "prompt_tokens=8,output_tokens=1000");
  p.kind = MG_PERF_CONCURRENT;
  p.streams = 4;
  l.max_seconds = 0.3;
  run(&t, &d, &p, &l, NULL, NULL, &b);
  assert_string_equal(b.stop_reason, "max_seconds");
  assert_int_equal(b.n, 4);
  assert_int_equal(b.incomplete, 4);
  assert_true(b.t_end - b.t_start < 1000000000LL);
  for (long long i = 0; i < b.n; i++) {
    struct mg_perf_rec *r = mg_perf_bench_rec(&b, i);
    assert_int_equal(r->status, MG_PERF_INCOMPLETE);
    assert_string_equal(r->reason, "max_seconds");
    assert_true(r->iterations > 10);
  }
  mg_perf_bench_release(&b);
  mg_perf_data_release(&d);
  mock_down();
}

static volatile sig_atomic_t user_stop;

static void stop_after_two(void *arg, const struct mg_perf_bench *b,
                           int inflight, long long now)
{
  (void)arg;
  (void)inflight;
  (void)now;
  if (b->n >= 2)
    user_stop = 1;
}

static void test_interrupt(void **state)
{
  struct mg_perf_target t;
  struct mg_perf_data d;
  struct mg_perf_profile p = { 0 };
  struct mg_perf_limits l = { 0 };
  struct mg_perf_bench b;

  (void)state;
  mock_up(NULL, "/v1/completions");
  target(&t, 0);
  synth(&d, "prompt_tokens=8,output_tokens=1000");
  p.kind = MG_PERF_CONSTANT;
  p.rate = 20;
  user_stop = 0;
  run(&t, &d, &p, &l, &user_stop, stop_after_two, &b);
  assert_string_equal(b.stop_reason, "interrupted");
  assert_true(b.n >= 2);
  assert_int_equal(b.incomplete, b.n);
  assert_string_equal(mg_perf_bench_rec(&b, 0)->reason, "interrupted");
  mg_perf_bench_release(&b);
  mg_perf_data_release(&d);
  mock_down();
}

/* Runs 6 requests against a mock that always injects fault f. */
static void faulty(const struct mg_mock_faults *f, const char *want, int stream,
                   long long max_errors)
{
  struct mg_perf_target t;
  struct mg_perf_data d;
  struct mg_perf_profile p = { 0 };
  struct mg_perf_limits l = { 0 };
  struct mg_perf_bench b;

  mock_up(f, "/v1/chat/completions");
  target(&t, 1);
  t.body.stream = stream;
  synth(&d, "prompt_tokens=8,output_tokens=6");
  p.kind = MG_PERF_CONCURRENT;
  p.streams = 2;
  l.max_requests = 6;
  l.max_errors = max_errors;
  run(&t, &d, &p, &l, NULL, NULL, &b);
  if (max_errors) {
    assert_string_equal(b.stop_reason, "max_errors");
    assert_true(b.errored >= max_errors);
  } else {
    assert_int_equal(b.errored, 6);
  }
  assert_int_equal(b.successful, 0);
  for (long long i = 0; i < b.n; i++) {
    struct mg_perf_rec *r = mg_perf_bench_rec(&b, i);
    if (r->status == MG_PERF_ERRORED)
      assert_string_equal(r->reason, want);
    else
      assert_int_equal(r->status, MG_PERF_INCOMPLETE);
  }
  mg_perf_bench_release(&b);
  mg_perf_data_release(&d);
  mock_down();
}

static void test_error_buckets(void **state)
{
  struct mg_mock_faults f;

  (void)state;
  memset(&f, 0, sizeof(f));
  f.p500 = 1;
  faulty(&f, "http 500", 1, 0);
  memset(&f, 0, sizeof(f));
  f.p429 = 1;
  f.retry_after_s = 1;
  faulty(&f, "http 429", 1, 3);
  memset(&f, 0, sizeof(f));
  f.stream_error = 1;
  faulty(&f, "error in stream", 1, 0);
  memset(&f, 0, sizeof(f));
  f.malformed = 1;
  faulty(&f, "malformed SSE data", 1, 0);
  memset(&f, 0, sizeof(f));
  f.cut = 1;
  faulty(&f, "disconnected", 1, 0);
  /* A server answering plain JSON to a streamed request. */
  faulty(NULL, "not an event stream", 0, 0);
}

static void test_refused(void **state)
{
  struct mg_perf_target t;
  struct mg_perf_data d;
  struct mg_perf_profile p = { 0 };
  struct mg_perf_limits l = { 0 };
  struct mg_perf_bench b;

  (void)state;
  target(&t, 0);
  t.url = "http://127.0.0.1:1/v1/completions";
  synth(&d, "prompt_tokens=8,output_tokens=2");
  p.kind = MG_PERF_SYNCHRONOUS;
  l.max_requests = 2;
  run(&t, &d, &p, &l, NULL, NULL, &b);
  assert_int_equal(b.errored, 2);
  assert_string_equal(mg_perf_bench_rec(&b, 0)->reason, "connection failed");
  assert_non_null(mg_perf_bench_rec(&b, 0)->detail);
  mg_perf_bench_release(&b);
  mg_perf_data_release(&d);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_constant_rate_streams),
    cmocka_unit_test(test_closed_loops),
    cmocka_unit_test(test_max_seconds_cancels),
    cmocka_unit_test(test_interrupt),
    cmocka_unit_test(test_error_buckets),
    cmocka_unit_test(test_refused),
  };

  return cmocka_run_group_tests(tests, group_up, group_down);
}
