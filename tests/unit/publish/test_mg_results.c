#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mg_err.h"
#include "mg_json.h"
#include "publish/mg_results.h"

static struct mg_json *parse(const char *s)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_json *j;

  if (mg_json_parse(s, strlen(s), "t", &j, &err) < 0)
    fail_msg("bad test JSON: %s", err.msg);
  return j;
}

/* perf-run's shape: numeric ids, distributions per request status. */
#define RUN(id, rate, rps, err, p50)                                           \
  "{\"id\":" #id ",\"kind\":\"constant\",\"rate\":" #rate                      \
  ",\"requests_per_s\":" #rps ",\"output_tokens_per_s\":100,"                  \
  "\"requests\":{\"successful\":50,\"incomplete\":2,\"errored\":" #err "},"    \
  "\"metrics\":{\"successful\":{\"ttft_ms\":{\"count\":50,\"mean\":" #p50      \
  ",\"std\":3,\"median\":" #p50 ",\"percentiles\":{\"p1\":1,\"p50\":" #p50     \
  ",\"p90\":60,\"p95\":70,\"p99\":80}}}}}"

static const char rec_text[] =
    "{\"schema\":\"modelgate.record/v1\",\"model\":{\"name\":\"acme/m\"},"
    "\"verification\":{\"ok\":true,\"findings\":[]},"
    "\"perf\":{\"runs\":[" RUN(0, 5, 4.9, 0, 40) "," RUN(
        1, 10, 9.5, 0,
        41) "," RUN(2, 20, 13.0, 0,
                    300) "," RUN(3, 40, 13.1, 3,
                                 900) "]},"
                                      "\"eval\":{\"dataset\":{\"label\":"
                                      "\"baseline\"},\"results\":{\"gsm8k\":"
                                      "{\"alias\":\"gsm8k\",\"exact_match,"
                                      "strict-match\":0.42,"
                                      "\"exact_match_stderr,strict-match\":0."
                                      "01,\"acc,none\":0.3}},"
                                      "\"n-samples\":{\"gsm8k\":{\"effective\":"
                                      "1319}}}}";

static void test_summarize(void **state)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_json *rec = parse(rec_text), *out = mg_json_new_array();
  const struct mg_json *s, *head, *runs, *tasks;

  (void)state;
  assert_int_equal(mg_results_summarize(rec, "in.json", NULL, out, &err), 0);
  assert_int_equal(mg_json_size(out), 1);
  s = mg_json_at(out, 0);
  assert_string_equal(mg_json_string(mg_json_get(s, "label")), "baseline");
  assert_string_equal(mg_json_string(mg_json_get(s, "model")), "acme/m");
  assert_string_equal(
      mg_json_string(mg_json_get_path(s, "verification.verdict")), "pass");
  runs = mg_json_get_path(s, "perf.runs");
  assert_int_equal(mg_json_size(runs), 4);
  assert_string_equal(mg_json_string(mg_json_get(mg_json_at(runs, 0), "id")),
                      "constant@5");
  /* 20 req/s achieved 13: saturated; 10 is the highest sustained */
  assert_true(mg_json_number(mg_json_get_path(s, "perf.max_sustainable_rps"))
              == 10);
  head = mg_results_headline_run(mg_json_get(s, "perf"));
  assert_string_equal(mg_json_string(mg_json_get(head, "id")), "constant@10");
  assert_true(mg_json_number(mg_json_get_path(head, "ttft_ms.p50")) == 41);
  assert_true(mg_json_number(mg_json_get_path(head, "ttft_ms.stddev")) == 3);
  tasks = mg_json_get_path(s, "eval.tasks");
  assert_int_equal(mg_json_size(tasks), 2);
  assert_string_equal(
      mg_json_string(mg_json_get(mg_json_at(tasks, 0), "metric")),
      "exact_match,strict-match");
  assert_true(mg_json_number(mg_json_get(mg_json_at(tasks, 0), "stderr"))
              == 0.01);
  assert_true(mg_json_number(mg_json_get(mg_json_at(tasks, 0), "n")) == 1319);
  assert_string_equal(
      mg_json_string(mg_json_get(mg_json_at(tasks, 1), "metric")), "acc");
  mg_json_free(out);

  /* a label override; a malformed section */
  out = mg_json_new_array();
  assert_int_equal(mg_results_summarize(rec, "in.json", "custom", out, &err),
                   0);
  assert_string_equal(mg_json_string(mg_json_get(mg_json_at(out, 0), "label")),
                      "custom");
  mg_json_set(rec, "perf", mg_json_new_array());
  assert_int_equal(mg_results_summarize(rec, "in.json", NULL, out, &err), -1);
  assert_int_equal(err.cat, MG_ERR_DATA);
  mg_json_free(out);
  mg_json_free(rec);
}

/* Flattened into registry properties and read back: the headline figures
 * survive. */
static void test_flatten_roundtrip(void **state)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_json *rec = parse(rec_text), *sums = mg_json_new_array();
  struct mg_json *flat, *back = mg_json_new_array();
  const struct mg_json *b, *run, *t;

  (void)state;
  assert_int_equal(mg_results_summarize(rec, "in.json", NULL, sums, &err), 0);
  flat = mg_results_flatten(mg_json_at(sums, 0), 1);
  assert_true(mg_json_number(mg_json_get(flat, "perf.baseline.ttft_p50_ms"))
              == 41);
  assert_true(mg_json_number(mg_json_get(flat, "perf.baseline.rate")) == 10);
  assert_true(mg_json_number(mg_json_get(flat, "perf.baseline.r40.errors"))
              == 3);
  assert_true(mg_json_number(mg_json_get(
                  flat, "eval.baseline.gsm8k.exact_match_strict-match_stderr"))
              == 0.01);
  assert_true(mg_json_number(mg_json_get(flat, "eval.baseline.gsm8k.n"))
              == 1319);
  assert_string_equal(mg_json_string(mg_json_get(flat, "verify.verdict")),
                      "pass");
  assert_true(mg_results_key_is_count("eval.baseline.gsm8k.n"));
  assert_true(mg_results_key_is_count("perf.baseline.requests"));
  assert_false(mg_results_key_is_count("perf.baseline.rate"));

  mg_results_unflatten(flat, "acme/m/v1", "acme/m", back);
  assert_int_equal(mg_json_size(back), 1);
  b = mg_json_at(back, 0);
  assert_string_equal(mg_json_string(mg_json_get(b, "label")), "baseline");
  run = mg_json_at(mg_json_get_path(b, "perf.runs"), 0);
  assert_true(mg_json_number(mg_json_get_path(run, "ttft_ms.p50")) == 41);
  assert_true(mg_json_number(mg_json_get_path(run, "ttft_ms.p99")) == 80);
  assert_true(mg_json_number(mg_json_get(run, "requests_per_s")) == 9.5);
  assert_true(mg_json_number(mg_json_get_path(b, "perf.max_sustainable_rps"))
              == 10);
  t = mg_json_at(mg_json_get_path(b, "eval.tasks"), 0);
  assert_string_equal(mg_json_string(mg_json_get(t, "task")), "gsm8k");
  assert_true(mg_json_number(mg_json_get(t, "value")) == 0.42);
  assert_true(mg_json_number(mg_json_get(t, "stderr")) == 0.01);
  assert_true(mg_json_number(mg_json_get(t, "n")) == 1319);
  assert_string_equal(
      mg_json_string(mg_json_get_path(b, "verification.verdict")), "pass");
  mg_json_free(back);
  mg_json_free(flat);
  mg_json_free(sums);
  mg_json_free(rec);
}

/* A registry listing (registry-push --list) yields one summary per version
 * and label. */
static void test_listing(void **state)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_json *rec = parse(
      "{\"schema\":\"modelgate.record/v1\",\"registry_list\":{\"models\":[{"
      "\"name\":\"m\",\"versions\":[{\"name\":\"v1\",\"properties\":{"
      "\"perf.baseline.ttft_p50_ms\":40,\"perf.custom.ttft_p50_ms\":90,"
      "\"eval.custom.qa.acc\":0.5}}]}]}}");
  struct mg_json *out = mg_json_new_array();

  (void)state;
  assert_int_equal(mg_results_summarize(rec, "list.json", NULL, out, &err), 0);
  assert_int_equal(mg_json_size(out), 2);
  assert_string_equal(mg_json_string(mg_json_get(mg_json_at(out, 1), "label")),
                      "custom");
  assert_string_equal(mg_json_string(mg_json_get(mg_json_at(out, 1), "source")),
                      "m/v1");
  mg_json_free(out);
  mg_json_free(rec);
}

/* eval-run's shape: a task list with a metrics object per task, and
 * lm-eval-style group aggregates. */
static void test_eval_run_shape(void **state)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_json *rec = parse(
      "{\"schema\":\"modelgate.record/v1\",\"eval\":{\"ok\":true,\"tasks\":["
      "{\"task\":\"qa\",\"n\":20,\"metrics\":{\"acc,none\":{\"metric\":"
      "\"acc\",\"filter\":\"none\",\"value\":0.25,\"stderr\":0.1,"
      "\"higher_is_better\":true},\"ppl,none\":{\"metric\":\"ppl\","
      "\"filter\":\"none\",\"value\":null,\"stderr\":null,"
      "\"higher_is_better\":false}}}],\"groups\":{\"all\":{\"alias\":"
      "\"all\",\"acc,none\":0.3,\"acc_stderr,none\":\"N/A\"}},"
      "\"n-samples\":{\"all\":{\"effective\":40}}}}");
  struct mg_json *out = mg_json_new_array();
  const struct mg_json *t;

  (void)state;
  assert_int_equal(mg_results_summarize(rec, "ev.json", NULL, out, &err), 0);
  t = mg_json_get_path(mg_json_at(out, 0), "eval.tasks");
  /* the null-valued metric is left out */
  assert_int_equal(mg_json_size(t), 2);
  assert_string_equal(mg_json_string(mg_json_get(mg_json_at(t, 0), "metric")),
                      "acc");
  assert_true(mg_json_number(mg_json_get(mg_json_at(t, 0), "n")) == 20);
  assert_true(mg_json_number(mg_json_get(mg_json_at(t, 0), "stderr")) == 0.1);
  assert_string_equal(mg_json_string(mg_json_get(mg_json_at(t, 1), "task")),
                      "all");
  assert_null(mg_json_get(mg_json_at(t, 1), "stderr"));
  assert_true(mg_json_number(mg_json_get(mg_json_at(t, 1), "n")) == 40);
  mg_json_free(out);
  mg_json_free(rec);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_summarize),
    cmocka_unit_test(test_flatten_roundtrip),
    cmocka_unit_test(test_listing),
    cmocka_unit_test(test_eval_run_shape),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
