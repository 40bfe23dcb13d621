/* Unit tests for mg_perf_report: URL handling, the summaries, and the
 * preflight checks against mock-llm's server in a thread. */
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

#include "mg_buf.h"
#include "mg_err.h"
#include "mg_http.h"
#include "mg_json.h"
#include "mock/mg_mock.h"
#include "perf/mg_perf_bench.h"
#include "perf/mg_perf_data.h"
#include "perf/mg_perf_report.h"

static volatile sig_atomic_t mock_stop;
static struct mg_mock_server *srv;
static pthread_t thr;
static sigset_t waitmask;
static char base[96], url[160];

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

static int up(void **state)
{
  struct sigaction sa;
  sigset_t block;
  struct mg_mock_opts o;
  struct mg_err err = MG_ERR_INIT;

  (void)state;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_usr1;
  sigaction(SIGUSR1, &sa, NULL);
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &block, &waitmask);
  sigdelset(&waitmask, SIGUSR1);
  if (mg_http_global_init(&err) < 0)
    return -1;
  mg_mock_opts_init(&o);
  o.model.name = "served-model";
  o.model.output_tokens = 4;
  o.model.max_model_len = 100000;
  if (mg_mock_server_new(&o, &srv, &err) < 0)
    return -1;
  snprintf(base, sizeof(base), "http://127.0.0.1:%u", mg_mock_server_port(srv));
  return pthread_create(&thr, NULL, serve, NULL);
}

static int down(void **state)
{
  (void)state;
  mock_stop = 1;
  pthread_kill(thr, SIGUSR1);
  pthread_join(thr, NULL);
  mg_mock_server_free(srv);
  mg_http_global_cleanup();
  return 0;
}

static void test_base_url(void **state)
{
  char *u;

  (void)state;
  u = mg_perf_report_base_url("http://h:1/v1/");
  assert_string_equal(u, "http://h:1");
  free(u);
  u = mg_perf_report_base_url("https://h/api/v1");
  assert_string_equal(u, "https://h/api");
  free(u);
  u = mg_perf_report_base_url("http://h");
  assert_string_equal(u, "http://h");
  free(u);
}

static void test_summary_and_csv(void **state)
{
  static const char run[] =
      "[{\"id\":0,\"kind\":\"constant\",\"rate\":4,\"requests_per_s\":3.5,"
      "\"output_tokens_per_s\":70,\"concurrency_mean\":1.25,"
      "\"requests\":{\"successful\":7,\"errored\":1,\"incomplete\":0},"
      "\"metrics\":{\"successful\":{\"ttft_ms\":{\"mean\":51,\"percentiles\":"
      "{\"p50\":50.5,\"p99\":60}}}},\"client\":{\"achieved_rate\":4}},"
      "{\"id\":1,\"kind\":\"synchronous\",\"rate\":null}]";
  struct mg_json *j = NULL;
  struct mg_buf b = MG_BUF_INIT(1 << 16);
  char line[512];

  (void)state;
  assert_int_equal(mg_json_parse(run, strlen(run), "t", &j, NULL), 0);
  mg_perf_report_summary_text(mg_json_at(j, 0), line, sizeof(line));
  assert_non_null(strstr(line, "constant@4 "));
  assert_non_null(strstr(line, "3.50 req/s"));
  assert_non_null(strstr(line, "ttft p50     50.5 p99     60.0 ms"));
  assert_non_null(strstr(line, "ok 7 err 1 inc 0"));
  mg_perf_report_summary_text(mg_json_at(j, 1), line, sizeof(line));
  assert_true(strncmp(line, "synchronous ", 12) == 0);
  assert_true(mg_perf_report_figure(mg_json_at(j, 0), "requests.errored") == 1);
  assert_true(mg_perf_report_figure(mg_json_at(j, 0), "no.such") == 0);
  mg_perf_report_csv(j, &b);
  assert_true(strncmp(b.data, "id,kind,rate,requests.successful,", 33) == 0);
  assert_non_null(strstr(b.data, "\n0,constant,4,7,1,0,3.5,70,1.25,51,50.5,"
                                 "60,"));
  assert_non_null(strstr(b.data, "\n1,synchronous,,,,"));
  mg_buf_release(&b);
  mg_json_free(j);
}

static void setup_target(struct mg_perf_target *t, struct mg_perf_data *d,
                         const char *path)
{
  struct mg_perf_data_synth s;
  struct mg_err err = MG_ERR_INIT;

  snprintf(url, sizeof(url), "%s%s", base, path);
  memset(t, 0, sizeof(*t));
  t->url = url;
  mg_http_opts_init(&t->http);
  mg_perf_req_body_opts_init(&t->body);
  t->body.chat = 1;
  mg_perf_data_init(d);
  assert_int_equal(
      mg_perf_data_synth_parse("prompt_tokens=4,samples=1", &s, &err), 0);
  mg_perf_data_synth(d, &s);
}

static void test_preflight(void **state)
{
  struct mg_perf_target t;
  struct mg_perf_data d;
  struct mg_err err = MG_ERR_INIT;
  char *model = NULL;

  (void)state;
  setup_target(&t, &d, "/v1/chat/completions");
  assert_int_equal(mg_perf_report_preflight(&t, base, &d, 0, &model, &err), 0);
  assert_string_equal(model, "served-model");
  free(model);

  model = strdup("other");
  assert_int_equal(mg_perf_report_preflight(&t, base, &d, 0, &model, &err), -1);
  assert_int_equal(err.cat, MG_ERR_USAGE);
  assert_non_null(strstr(err.msg, "model 'other' is not served"));
  assert_non_null(strstr(err.msg, "served-model"));
  free(model);
  mg_perf_data_release(&d);

  model = NULL;
  setup_target(&t, &d, "/v1/none");
  assert_int_equal(mg_perf_report_preflight(&t, base, &d, 0, &model, &err), -1);
  assert_int_equal(err.cat, MG_ERR_REMOTE);
  assert_non_null(strstr(err.msg, "answered HTTP 404"));
  /* Without the streamed check the bad path is not noticed. */
  assert_int_equal(mg_perf_report_preflight(&t, base, &d, 1, &model, &err), 0);
  free(model);
  model = NULL;
  /* A server that does not stream. */
  t.body.stream = 0;
  snprintf(url, sizeof(url), "%s/v1/chat/completions", base);
  assert_int_equal(mg_perf_report_preflight(&t, base, &d, 0, &model, &err), -1);
  assert_non_null(strstr(err.msg, "did not answer with an event stream"));
  free(model);
  model = NULL;
  t.http.retries = 0;
  assert_int_equal(
      mg_perf_report_preflight(&t, "http://127.0.0.1:1", &d, 0, &model, &err),
      -1);
  assert_int_equal(err.cat, MG_ERR_REMOTE);
  assert_null(model);
  mg_perf_data_release(&d);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_base_url),
    cmocka_unit_test(test_summary_and_csv),
    cmocka_unit_test(test_preflight),
  };

  return cmocka_run_group_tests(tests, up, down);
}
