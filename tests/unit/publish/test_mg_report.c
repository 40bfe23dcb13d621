#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "mg_json.h"
#include "publish/mg_merge.h"
#include "publish/mg_report.h"

static struct mg_json *parse(const char *s)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_json *j;

  if (mg_json_parse(s, strlen(s), "t", &j, &err) < 0)
    fail_msg("bad test JSON: %s", err.msg);
  return j;
}

#define RUN(id, rate, rps, p50, p99)                                           \
  "{\"id\":\"" id "\",\"kind\":\"constant\",\"rate\":" #rate                   \
  ",\"requests_per_s\":" #rps ",\"output_tokens_per_s\":" #rps "0,"            \
  "\"requests\":{\"successful\":10,\"errored\":0},"                            \
  "\"ttft_ms\":{\"p50\":" #p50 ",\"p99\":" #p99 ",\"percentiles\":{"           \
  "\"p1\":10,\"p50\":" #p50 ",\"p90\":" #p99 ",\"p99\":" #p99 "}},"            \
  "\"itl_ms\":{\"p50\":8,\"p99\":9,\"percentiles\":{\"p1\":7,\"p50\":8,"       \
  "\"p99\":9}},\"latency_ms\":{\"p50\":100,\"p99\":150}}"

static const char sums_text[] =
    "[{\"source\":\"dir/base.json\",\"model\":\"acme/m\",\"label\":"
    "\"baseline\",\"verification\":{\"ok\":true,\"verdict\":\"pass\","
    "\"findings\":0},\"perf\":{\"runs\":[" RUN(
        "constant@5", 5, 5, 40,
        50) "," RUN("constant@10", 10, 9.8, 42,
                    55) "," RUN("constant@20", 20, 12, 300,
                                600) "],\"max_sustainable_rps\":10,\"operating_"
                                     "point\":1},\"eval\":{\"tasks\":"
                                     "[{\"task\":\"gsm8k\",\"metric\":\"exact_"
                                     "match,strict-match\",\"value\":"
                                     "0.42,\"stderr\":0.013}]}},"
                                     "{\"source\":\"custom.json\",\"model\":"
                                     "\"acme/m\",\"label\":"
                                     "\"<custom>\",\"verification\":{\"ok\":"
                                     "false,\"verdict\":\"fail\"},"
                                     "\"perf\":{\"runs\":[" RUN(
                                         "constant@5", 5, 4.9, 45,
                                         60) "," RUN("constant@10", 10, 9.1, 80,
                                                     120) "]},\"eval\":{"
                                                          "\"tasks\":["
                                                          "{\"task\":\"gsm8k\","
                                                          "\"metric\":\"exact_"
                                                          "match,strict-"
                                                          "match\",\"value\":"
                                                          "0.45,\"stderr\":0."
                                                          "013}]}}]";

struct fixture {
  struct mg_json *sums, *cmp;
  struct mg_report_in in;
};

static int setup(void **state)
{
  static struct fixture f;
  struct mg_err err = MG_ERR_INIT;

  f.sums = parse(sums_text);
  if (mg_merge_compare(f.sums, &f.cmp, &err) < 0)
    return -1;
  f.in.summaries = f.sums;
  f.in.comparison = f.cmp;
  f.in.title = "Comparison & <test>";
  f.in.generated = "2026-11-28T00:00:00.000Z";
  *state = &f;
  return 0;
}

static int teardown(void **state)
{
  struct fixture *f = *state;

  mg_json_free(f->cmp);
  mg_json_free(f->sums);
  return 0;
}

static void must(const char *hay, const char *needle)
{
  if (!strstr(hay, needle))
    fail_msg("output lacks '%s'", needle);
}

static void test_html(void **state)
{
  struct fixture *f = *state;
  struct mg_err err = MG_ERR_INIT;
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

  assert_int_equal(mg_report_html(&f->in, &b, &err), 0);
  must(b.data, "<!DOCTYPE html>");
  must(b.data, "<title>Comparison &amp; &lt;test&gt;</title>");
  /* every chart of a sweep comparison is there */
  must(b.data, "id=\"chart-throughput\"");
  must(b.data, "id=\"chart-ttft\"");
  must(b.data, "id=\"chart-itl\"");
  must(b.data, "id=\"chart-latency\"");
  must(b.data, "id=\"chart-ttft-dist\"");
  must(b.data, "id=\"chart-itl-dist\"");
  must(b.data, "id=\"chart-accuracy\"");
  must(b.data, "class=\"badge pass\">PASS");
  must(b.data, "class=\"badge fail\">FAIL");
  must(b.data, "&lt;custom&gt;");
  must(b.data, "max sustainable");
  /* self-contained: nothing is fetched */
  assert_null(strstr(b.data, "src="));
  assert_null(strstr(b.data, "href="));
  assert_null(strstr(b.data, "<script"));
  assert_null(strstr(b.data, "@import"));
  assert_null(strstr(b.data, "<custom>"));
  mg_buf_release(&b);
}

static void test_markdown_csv(void **state)
{
  struct fixture *f = *state;
  struct mg_err err = MG_ERR_INIT;
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

  assert_int_equal(mg_report_markdown(&f->in, &b, &err), 0);
  must(b.data, "# Comparison & <test>");
  must(b.data, "| 1. base.json | acme/m | baseline | pass |");
  must(b.data, "| gsm8k | exact_match,strict-match | 0.4200 ± 0.0130 | "
               "0.4500 ± 0.0130 (+0.0300, +7.1%, > 1 SE) |");
  must(b.data, "| TTFT p50 (ms) (lower is better) | 42 | 80 (+38, "
               "+90.5%) |");
  /* the operating points agree: no second table */
  assert_null(strstr(b.data, "same offered load"));
  must(b.data, "### Load steps: baseline (base.json)");
  mg_buf_reset(&b);
  assert_int_equal(mg_report_csv(&f->in, &b, &err), 0);
  must(b.data, "source,model,label,group,run,rate,task,metric,unit,value,"
               "stderr,delta,delta_pct,significant\r\n");
  must(b.data, "custom.json,acme/m,<custom>,eval,,,gsm8k,"
               "\"exact_match,strict-match\",,0.45,0.013,");
  must(b.data, "dir/base.json,acme/m,baseline,perf_run,constant@20,20,,"
               "ttft_ms.p99,ms,600,,,,\r\n");
  mg_buf_release(&b);
}

/*
 * Operating points that differ (constant@10 against constant@5): the
 * same offered load, the highest rate both ran and sustained, is
 * compared too, in every report; each input's limit is marked on the
 * sweep charts in its colour.
 */
static void test_same_load(void **state)
{
  struct fixture *f = *state;
  struct mg_json *sums = mg_json_dup(f->sums), *cmp;
  struct mg_report_in in = f->in;
  struct mg_err err = MG_ERR_INIT;
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

  mg_json_set_number(mg_json_get(mg_json_at(sums, 1), "perf"),
                     "operating_point", 0);
  mg_json_set_number(mg_json_get(mg_json_at(sums, 1), "perf"),
                     "max_sustainable_rps", 5);
  assert_int_equal(mg_merge_compare(sums, &cmp, &err), 0);
  in.summaries = sums;
  in.comparison = cmp;
  /* capped by the second input's 5 req/s */
  assert_true(mg_json_number(mg_json_get_path(cmp, "same_load.rate")) == 5);
  assert_int_equal(mg_report_html(&in, &b, &err), 0);
  must(b.data, "<b>The inputs&rsquo; operating points differ</b>");
  must(b.data, "Performance at the same offered load (5&nbsp;req/s)");
  must(b.data, "id=\"table-perf_same_load\"");
  must(b.data, "Latency distributions at the same offered load");
  must(b.data, ">1: max 10</text>");
  must(b.data, ">2: max 5</text>");
  mg_buf_reset(&b);
  assert_int_equal(mg_report_markdown(&in, &b, &err), 0);
  must(b.data, "## Performance at the same offered load (5 req/s)");
  must(b.data, "| load step | constant@5 | constant@5 |");
  must(b.data, "| TTFT p50 (ms) (lower is better) | 40 | 45 (+5, +12.5%) |");
  mg_buf_reset(&b);
  assert_int_equal(mg_report_csv(&in, &b, &err), 0);
  must(b.data, "custom.json,acme/m,<custom>,perf_same_load,constant@5,5,,"
               "ttft_p50_ms,ms,45,,5,12.5,\r\n");
  mg_buf_release(&b);
  mg_json_free(cmp);
  mg_json_free(sums);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_html),
    cmocka_unit_test(test_markdown_csv),
    cmocka_unit_test(test_same_load),
  };

  return cmocka_run_group_tests(tests, setup, teardown);
}
