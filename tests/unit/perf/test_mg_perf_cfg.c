/* Unit tests for mg_perf_cfg: GuideLLM's three option grammars mapped
 * onto perf-run's configuration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "mg_err.h"
#include "mg_json.h"
#include "perf/mg_perf_cfg.h"

static void test_regopt(void **state)
{
  struct mg_json *o;
  struct mg_err err = MG_ERR_INIT;
  char *s;

  (void)state;
  assert_int_equal(mg_perf_cfg_regopt_parse("kind=constant,rate=[1,4.5],"
                                            "x={\"a\":[1,2]},on=true,n=null,"
                                            "url=http://h:1/v1?a=b,q=\"a,b\"",
                                            "--profile", &o, &err),
                   0);
  s = mg_json_print(o, 0);
  assert_string_equal(s, "{\"kind\":\"constant\",\"rate\":[1,4.5],"
                         "\"x\":{\"a\":[1,2]},\"on\":true,\"n\":null,"
                         "\"url\":\"http://h:1/v1?a=b\",\"q\":\"a,b\"}");
  free(s);
  mg_json_free(o);
  assert_int_equal(
      mg_perf_cfg_regopt_parse("{\"kind\": \"sweep\"}", "--profile", &o, &err),
      0);
  mg_json_free(o);
  assert_int_equal(mg_perf_cfg_regopt_parse("kind", "--profile", &o, &err), -1);
  assert_int_equal(err.cat, MG_ERR_USAGE);
  assert_int_equal(mg_perf_cfg_regopt_parse("a=[1,", "--profile", &o, &err),
                   -1);
  assert_int_equal(mg_perf_cfg_regopt_parse("[1]", "--profile", &o, &err), -1);
}

static void test_generations(void **state)
{
  struct mg_perf_config c;
  struct mg_perf_profile prof[MG_PERF_MAX_RATES + 2];
  struct mg_err err = MG_ERR_INIT;

  (void)state;
  mg_perf_cfg_init(&c);
  assert_int_equal(mg_perf_cfg_backend(&c,
                                       "kind=openai_http,target="
                                       "http://h:9,model=m,http2=true,"
                                       "verify=false,timeout=30,"
                                       "extras={\"body\":{\"temperature\":0},"
                                       "\"headers\":{\"X-A\":\"1\"}}",
                                       &err),
                   0);
  assert_string_equal(c.target, "http://h:9");
  assert_string_equal(c.model, "m");
  assert_true(c.http2 && c.insecure);
  assert_true(c.request_timeout == 30);
  assert_string_equal(c.extra_body, "{\"temperature\":0}");
  assert_string_equal(c.headers[0], "X-A: 1");
  assert_int_equal(mg_perf_cfg_profile(&c,
                                       "kind=concurrent,streams=[2,4],"
                                       "rampup_duration=1.5",
                                       &err),
                   0);
  assert_int_equal(mg_perf_cfg_constraint(&c,
                                          "kind=max_duration,"
                                          "seconds=12",
                                          &err),
                   0);
  assert_int_equal(mg_perf_cfg_constraint(&c,
                                          "kind=max_error_rate,"
                                          "rate=0.2,window=10",
                                          &err),
                   0);
  assert_int_equal(mg_perf_cfg_constraint(&c,
                                          "kind=over_saturation,"
                                          "mode=monitor,min_seconds=5",
                                          &err),
                   0);
  assert_int_equal(mg_perf_cfg_data(&c,
                                    "kind=synthetic_text,"
                                    "prompt_tokens=64,output_tokens=8",
                                    &err),
                   0);
  assert_string_equal(c.data, "{\"prompt_tokens\":64,\"output_tokens\":8}");
  assert_int_equal(mg_perf_cfg_seed(&c, "kind=static,value=9", &err), 0);
  assert_int_equal(mg_perf_cfg_finish(&c, &err), 0);
  assert_int_equal(c.kind, MG_PERF_CONCURRENT);
  assert_true(c.max_seconds == 12 && c.max_error_rate == 0.2);
  assert_int_equal(c.error_window, 10);
  assert_true(c.osd_on && !c.osd.enforce && c.osd.min_seconds == 5);
  assert_int_equal((int)c.seed, 9);
  assert_int_equal(mg_perf_cfg_plan(&c, prof), 2);
  assert_int_equal(prof[0].streams, 2);
  assert_int_equal(prof[1].streams, 4);
  assert_true(prof[1].rampup_s == 1.5);
  mg_perf_cfg_release(&c);

  /* v0.3: --rate-type, --rate and --output-path by extension. */
  mg_perf_cfg_init(&c);
  c.target = "http://h";
  assert_int_equal(mg_perf_cfg_profile(&c, "poisson", &err), 0);
  c.rate_arg = "2,8";
  assert_int_equal(mg_perf_cfg_output_path(&c, "r.yaml", &err), 0);
  assert_int_equal(mg_perf_cfg_output_path(&c, "r.csv", &err), 0);
  assert_int_equal(mg_perf_cfg_finish(&c, &err), 0);
  assert_string_equal(c.report, "r.yaml");
  assert_string_equal(c.csv, "r.csv");
  assert_int_equal(mg_perf_cfg_plan(&c, prof), 2);
  assert_true(prof[1].rate == 8);
  mg_perf_cfg_release(&c);

  /* Refusals. */
  mg_perf_cfg_init(&c);
  assert_int_equal(mg_perf_cfg_backend(&c, "kind=openai_http,api_key=s", &err),
                   -1);
  assert_non_null(strstr(err.msg, "no api_key"));
  assert_int_equal(mg_perf_cfg_backend(&c, "kind=tgi", &err), -1);
  assert_int_equal(mg_perf_cfg_backend_args(&c,
                                            "{\"headers\": "
                                            "{\"Authorization\": \"x\"}}",
                                            &err),
                   -1);
  assert_int_equal(mg_perf_cfg_constraint(&c, "kind=max_requests,x=1", &err),
                   -1);
  assert_int_equal(mg_perf_cfg_output(&c, "kind=html", &err), -1);
  assert_int_equal(
      mg_perf_cfg_metrics(&c, "prefer_response_metrics=false", &err), -1);
  assert_int_equal(
      mg_perf_cfg_phase(&c.warmup, "{\"percent\": 0.1}", "--warmup", &err), 0);
  assert_true(c.warmup == 0.1);
  assert_int_equal(
      mg_perf_cfg_phase(&c.warmup, "{\"percent\": 2}", "--warmup", &err), -1);
  mg_perf_cfg_release(&c);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_regopt),
    cmocka_unit_test(test_generations),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
