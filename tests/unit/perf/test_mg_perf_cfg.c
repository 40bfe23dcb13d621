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

/* Applies "--name value" through the table, as perf-run's getopt loop. */
static int apply(struct mg_perf_config *c, const char *name, const char *arg,
                 struct mg_err *err)
{
  const struct mg_perf_cfg_option *o = mg_perf_cfg_option_find(name);

  assert_non_null(o);
  assert_int_equal(o->has_arg, arg != NULL);
  return mg_perf_cfg_apply(c, o, arg, err);
}

static void test_option_table(void **state)
{
  static const char *const std[] = {
    "help",   "input", "max-input", "output",
    "pretty", "quiet", "verbose",   "version"
  };
  struct mg_perf_config c;
  struct mg_err err = MG_ERR_INIT;

  (void)state;
  /* Sorted and unique (binary search, and STYLE.md rule 11), and no row
   * shadows a standard option. */
  assert_true(mg_perf_cfg_noptions > 50);
  for (size_t i = 1; i < mg_perf_cfg_noptions; i++)
    assert_true(
        strcmp(mg_perf_cfg_options[i - 1].name, mg_perf_cfg_options[i].name)
        < 0);
  for (size_t i = 0; i < mg_perf_cfg_noptions; i++) {
    const struct mg_perf_cfg_option *o = &mg_perf_cfg_options[i];
    assert_ptr_equal(mg_perf_cfg_option_find(o->name), o);
    assert_true(o->type != MG_PERF_CFG_SET || o->set);
    assert_true(o->type != MG_PERF_CFG_FLAG || !o->has_arg);
    for (size_t k = 0; k < sizeof(std) / sizeof(std[0]); k++)
      assert_string_not_equal(o->name, std[k]);
  }
  assert_null(mg_perf_cfg_option_find("bogus"));
  assert_null(mg_perf_cfg_option_find(""));

  mg_perf_cfg_init(&c);
  /* Each kind of row. */
  assert_int_equal(apply(&c, "target", "http://h:1", &err), 0);
  assert_string_equal(c.target, "http://h:1");
  assert_int_equal(apply(&c, "http2", NULL, &err), 0);
  assert_int_equal(apply(&c, "no-ignore-eos", NULL, &err), 0);
  assert_true(c.http2 == 1 && c.ignore_eos == 0);
  assert_int_equal(apply(&c, "detokenize", NULL, &err), 0);
  assert_int_equal(c.tokenize, 2);
  assert_int_equal(apply(&c, "max-seconds", "2.5", &err), 0);
  assert_true(c.max_seconds == 2.5);
  assert_int_equal(apply(&c, "max-seconds", "0", &err), -1);
  assert_int_equal(err.cat, MG_ERR_USAGE);
  assert_non_null(strstr(err.msg, "invalid value '0' for --max-seconds"));
  assert_int_equal(apply(&c, "max-concurrency", "12", &err), 0);
  assert_int_equal(c.max_concurrency, 12);
  assert_int_equal(apply(&c, "max-concurrency", "1.5", &err), -1);
  assert_int_equal(apply(&c, "max-requests", "4294967295", &err), 0);
  assert_true(c.max_requests == 4294967295LL);
  assert_int_equal(apply(&c, "output-sampling", "0", &err), 0);
  assert_true(c.sample_size == 0);
  assert_int_equal(apply(&c, "sample-requests", "-1", &err), -1);
  assert_int_equal(apply(&c, "rate-type", "poisson", &err), 0);
  assert_int_equal(c.kind, MG_PERF_POISSON);
  assert_int_equal(apply(&c, "sweep-type", "throughput", &err), -1);
  assert_non_null(strstr(err.msg, "for --sweep-type"));
  assert_int_equal(apply(&c, "chat-content", "text", &err), 0);
  assert_int_equal(c.content_parts, 0);
  assert_int_equal(apply(&c, "max-tokens-field", "both", &err), 0);
  assert_int_equal(c.max_field, MG_PERF_MAX_BOTH);
  assert_int_equal(apply(&c, "percentile-method", "linear", &err), 0);
  assert_int_equal(c.method, MG_STATS_PCT_LINEAR);
  assert_int_equal(apply(&c, "warmup", "{\"value\": 3}", &err), 0);
  assert_true(c.warmup == 3);
  assert_int_equal(apply(&c, "detect-saturation", NULL, &err), 0);
  assert_true(c.osd_on);
  assert_int_equal(apply(&c, "display-scheduler-stats", NULL, &err), 0);
  assert_int_equal(apply(&c, "scenario", "chat", &err), -1);
  assert_string_equal(err.msg,
                      "option '--scenario' is not supported by perf-run");
  mg_perf_cfg_release(&c);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_regopt),
    cmocka_unit_test(test_generations),
    cmocka_unit_test(test_option_table),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
