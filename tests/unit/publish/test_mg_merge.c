#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mg_err.h"
#include "mg_json.h"
#include "mg_mem.h"
#include "mg_stats.h"
#include "publish/mg_merge.h"
#include "publish/mg_results.h"

static struct mg_json *parse(const char *s)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_json *j;

  if (mg_json_parse(s, strlen(s), "t", &j, &err) < 0)
    fail_msg("bad test JSON: %s", err.msg);
  return j;
}

static double num(const struct mg_json *o, const char *path)
{
  struct mg_json *v = mg_json_get_path(o, path);

  if (!mg_json_is_number(v))
    fail_msg("no number at '%s'", path);
  return mg_json_number(v);
}

/* A deterministic skewed sample: latencies with a tail. */
static double sample(unsigned *s)
{
  double u;

  *s = *s * 1103515245u + 12345u;
  u = ((*s >> 8) & 0xffff) / 65536.0;
  return 20 + 30 * u + (u > 0.9 ? 400 * (u - 0.9) * (u - 0.9) * 100 : 0);
}

/*
 * One process's requests split over three "pods": the merged distribution
 * equals the single-process one in everything a histogram merge can make
 * exact, and its percentiles are those of the single process's histogram
 * (and within alpha of the exact ones).
 */
static void test_split_distribution(void **state)
{
  struct mg_stats_dist all = MG_STATS_DIST_INIT, part[3];
  struct mg_json *single, *pj[3], *merged, *empty, *hist_only;
  const struct mg_json *in[3], *two[2];
  unsigned seed = 7;

  (void)state;
  for (int i = 0; i < 3; i++)
    mg_stats_dist_init(&part[i]);
  for (int i = 0; i < 3001; i++) {
    double v = sample(&seed);

    mg_stats_dist_add(&all, v);
    mg_stats_dist_add(&part[i % 3], v);
  }
  single = mg_stats_dist_json(&all, MG_STATS_PCT_NEAREST_RANK, 1);
  for (int i = 0; i < 3; i++) {
    pj[i] = mg_stats_dist_json(&part[i], MG_STATS_PCT_NEAREST_RANK, 1);
    in[i] = pj[i];
  }
  merged = mg_merge_dist(in, 3);

  assert_true(num(merged, "count") == num(single, "count"));
  assert_true(num(merged, "min") == num(single, "min"));
  assert_true(num(merged, "max") == num(single, "max"));
  assert_true(fabs(num(merged, "sum") - num(single, "sum")) < 1e-5);
  assert_true(fabs(num(merged, "mean") - num(single, "mean")) < 1e-6);
  assert_true(fabs(num(merged, "std") - num(single, "std")) < 1e-5);
  /* the histogram is the single process's, bin for bin */
  assert_true(
      mg_json_equal(mg_json_get(merged, "hist"), mg_json_get(single, "hist")));
  /* so are the percentiles read from it */
  empty = parse("{\"count\":0,\"sum\":0,\"mean\":0,\"std\":0,\"min\":0,"
                "\"max\":0}");
  two[0] = single;
  two[1] = empty;
  hist_only = mg_merge_dist(two, 2);
  assert_true(mg_json_equal(mg_json_get(merged, "percentiles"),
                            mg_json_get(hist_only, "percentiles")));
  /* and within the histogram's accuracy of the exact ones */
  for (struct mg_json *p = mg_json_first(mg_json_get(single, "percentiles")); p;
       p = mg_json_next(p)) {
    double exact = mg_json_number(p);
    double got = mg_json_number(
        mg_json_get(mg_json_get(merged, "percentiles"), mg_json_key(p)));

    if (fabs(got - exact) > MG_STATS_HIST_ALPHA * 1.01 * exact)
      fail_msg("%s: merged %g, exact %g", mg_json_key(p), got, exact);
  }
  assert_true(mg_json_bool(mg_json_get(merged, "percentiles_approx")));

  mg_json_free(hist_only);
  mg_json_free(empty);
  mg_json_free(merged);
  for (int i = 0; i < 3; i++) {
    mg_json_free(pj[i]);
    mg_stats_dist_release(&part[i]);
  }
  mg_json_free(single);
  mg_stats_dist_release(&all);
}

static int merge(const char *a, const char *b, const char *allow,
                 struct mg_json **out, struct mg_json *notes,
                 struct mg_err *err)
{
  struct mg_json *ra = parse(a), *rb = parse(b);
  struct mg_json *al = allow ? parse(allow) : NULL;
  struct mg_merge_input in[2] = { { ra, "a.json" }, { rb, "b.json" } };
  int rc = mg_merge_records(in, 2, al, out, notes, err);

  mg_json_free(ra);
  mg_json_free(rb);
  mg_json_free(al);
  return rc;
}

static void test_sections(void **state)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_json *out, *notes = mg_json_new_array();
  char *txt;

  (void)state;
  /* side by side, equal sections once, provenance united */
  assert_int_equal(
      merge("{\"schema\":\"modelgate.record/v1\",\"model\":{\"name\":\"m\"},"
            "\"verification\":{\"ok\":true},\"provenance\":[{\"p\":1}]}",
            "{\"schema\":\"modelgate.record/v1\",\"model\":{\"name\":\"m\"},"
            "\"x\":[1],\"provenance\":[{\"p\":1},{\"p\":2}]}",
            NULL, &out, notes, &err),
      0);
  txt = mg_json_print(out, 0);
  assert_string_equal(txt, "{\"schema\":\"modelgate.record/v1\",\"model\":"
                           "{\"name\":\"m\"},\"verification\":{\"ok\":true},"
                           "\"provenance\":[{\"p\":1},{\"p\":2}],\"x\":[1]}");
  free(txt);
  mg_json_free(out);

  /* different models: an error naming both inputs */
  assert_int_equal(merge("{\"model\":{\"name\":\"m1\"}}",
                         "{\"model\":{\"name\":\"m2\"}}", NULL, &out, notes,
                         &err),
                   -1);
  assert_int_equal(err.cat, MG_ERR_DATA);
  assert_non_null(strstr(err.msg, "different models: 'a.json' has 'm1' and "
                                  "'b.json' has 'm2'"));
  assert_null(out);
  /* ... unless allowed */
  assert_int_equal(merge("{\"model\":{\"name\":\"m1\"}}",
                         "{\"model\":{\"name\":\"m2\"}}",
                         "{\"model\":\"last\"}", &out, notes, &err),
                   0);
  assert_string_equal(mg_json_string(mg_json_get_path(out, "model.name")),
                      "m2");
  assert_true(mg_json_size(notes) >= 1);
  mg_json_free(out);

  /* an unknown section twice, differing */
  assert_int_equal(merge("{\"endpoint\":{\"url\":\"a\"}}",
                         "{\"endpoint\":{\"url\":\"b\"}}", NULL, &out, notes,
                         &err),
                   -1);
  assert_non_null(strstr(err.msg, "conflicting section 'endpoint' in 'a.json' "
                                  "and 'b.json'"));
  assert_int_equal(merge("{\"endpoint\":{\"url\":\"a\"}}",
                         "{\"endpoint\":{\"url\":\"b\"}}", "{\"*\":\"first\"}",
                         &out, notes, &err),
                   0);
  assert_string_equal(mg_json_string(mg_json_get_path(out, "endpoint.url")),
                      "a");
  mg_json_free(out);
  mg_json_free(notes);
}

static void test_eval_union(void **state)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_json *out;

  (void)state;
  assert_int_equal(
      merge(
          "{\"eval\":{\"tool\":\"eval-run\",\"date\":1,\"results\":{\"gsm8k\":"
          "{\"acc,none\":0.5}},\"n-samples\":{\"gsm8k\":{\"effective\":10}}}}",
          "{\"eval\":{\"tool\":\"eval-run\",\"date\":2,\"results\":{\"mmlu\":"
          "{\"acc,none\":0.6}},\"n-samples\":{\"mmlu\":{\"effective\":20}}}}",
          NULL, &out, NULL, &err),
      0);
  assert_non_null(mg_json_get_path(out, "eval.results.gsm8k"));
  assert_non_null(mg_json_get_path(out, "eval.results.mmlu"));
  assert_true(num(out, "eval.n-samples.mmlu.effective") == 20);
  assert_true(num(out, "eval.date") == 1);
  mg_json_free(out);
  /* the same task with different results */
  assert_int_equal(
      merge("{\"eval\":{\"results\":{\"gsm8k\":{\"acc,none\":0.5}}}}",
            "{\"eval\":{\"results\":{\"gsm8k\":{\"acc,none\":0.7}}}}", NULL,
            &out, NULL, &err),
      -1);
  assert_non_null(strstr(err.msg, "conflicting results for "
                                  "'eval.results.gsm8k.acc,none' in 'a.json' "
                                  "and 'b.json'"));
  /* task arrays united by task name */
  assert_int_equal(
      merge("{\"eval\":{\"tasks\":[{\"task\":\"a\",\"metrics\":{\"acc\":1}}]}}",
            "{\"eval\":{\"tasks\":[{\"task\":\"b\",\"metrics\":{\"acc\":0}}]}}",
            NULL, &out, NULL, &err),
      0);
  assert_int_equal(mg_json_size(mg_json_get_path(out, "eval.tasks")), 2);
  mg_json_free(out);
  /* eval-run's counters add, its verdicts hold only if both held */
  assert_int_equal(
      merge("{\"eval\":{\"ok\":true,\"requests\":{\"sent\":10,\"retries\":1},"
            "\"tasks\":[{\"task\":\"a\"}]}}",
            "{\"eval\":{\"ok\":false,\"requests\":{\"sent\":5,\"retries\":0},"
            "\"tasks\":[{\"task\":\"b\"}]}}",
            NULL, &out, NULL, &err),
      0);
  assert_true(num(out, "eval.requests.sent") == 15);
  assert_true(num(out, "eval.requests.retries") == 1);
  assert_false(mg_json_bool(mg_json_get_path(out, "eval.ok")));
  mg_json_free(out);
}

/*
 * lm-eval groups over subtasks split between inputs: recomputed from the
 * merged leaves (size-weighted mean, pooled stderr, "N/A" propagation,
 * nested groups), in both section shapes.
 */
static void test_eval_groups(void **state)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_json *out, *notes = mg_json_new_array();
  double se = sqrt((9 * 0.01 * 10 + 29 * 0.0025 * 30) / 38.0 / 40.0);

  (void)state;
  /* lm-eval's results map; nested groups; one leaf per input: the
   * weighting cannot be told, size-weighted is assumed, with a note */
  assert_int_equal(
      merge("{\"eval\":{\"results\":{\"t1\":{\"acc,none\":0.5,"
            "\"acc_stderr,none\":0.1},\"g\":{\"alias\":\"g\",\"acc,none\":0.5,"
            "\"acc_stderr,none\":0.1},\"s1\":{\"alias\":\" - s1\","
            "\"acc,none\":0.5,\"acc_stderr,none\":0.1}},"
            "\"group_subtasks\":{\"g\":[\"s1\"],\"s1\":[\"t1\"]},"
            "\"n-samples\":{\"t1\":{\"effective\":10}}}}",
            "{\"eval\":{\"results\":{\"t2\":{\"acc,none\":0.8,"
            "\"acc_stderr,none\":0.05},\"g\":{\"alias\":\"g\",\"acc,none\":0.8,"
            "\"acc_stderr,none\":0.05},\"s2\":{\"alias\":\" - s2\","
            "\"acc,none\":0.8,\"acc_stderr,none\":0.05}},"
            "\"group_subtasks\":{\"g\":[\"s2\"],\"s2\":[\"t2\"]},"
            "\"n-samples\":{\"t2\":{\"effective\":30}}}}",
            NULL, &out, notes, &err),
      0);
  assert_true(fabs(num(out, "eval.results.g.acc,none") - 0.725) < 1e-15);
  assert_true(fabs(num(out, "eval.results.g.acc_stderr,none") - se) < 1e-15);
  assert_string_equal(mg_json_string(mg_json_get_path(out, "eval.results.g."
                                                           "alias")),
                      "g");
  /* a group only one input has keeps its figures */
  assert_true(num(out, "eval.results.s1.acc,none") == 0.5);
  assert_int_equal(mg_json_size(mg_json_get_path(out, "eval.group_subtasks.g")),
                   2);
  assert_int_equal(mg_json_size(notes), 1);
  assert_non_null(
      strstr(mg_json_string(mg_json_at(notes, 0)), "group 'g' ('acc,none')"));
  mg_json_free(out);

  /* eval-run's shape; the other input tells the weighting (a plain mean
   * of its two leaves); a leaf without stderr makes the group's N/A */
  assert_int_equal(
      merge(
          "{\"eval\":{\"tasks\":[{\"task\":\"t1\",\"n\":10,\"metrics\":"
          "{\"acc,none\":{\"value\":0.5,\"stderr\":null}}}],"
          "\"groups\":{\"g\":{\"alias\":\"g\",\"acc,none\":0.5,"
          "\"acc_stderr,none\":\"N/A\"}},\"group_subtasks\":{\"g\":[\"t1\"]},"
          "\"n-samples\":{\"t1\":{\"effective\":10},\"g\":{\"effective\":10}}}"
          "}",
          "{\"eval\":{\"tasks\":[{\"task\":\"t2\",\"n\":30,\"metrics\":"
          "{\"acc,none\":{\"value\":0.8,\"stderr\":0.05}}},{\"task\":\"t3\","
          "\"n\":10,\"metrics\":{\"acc,none\":{\"value\":0.4,\"stderr\":0.1}}}]"
          ","
          "\"groups\":{\"g\":{\"alias\":\"g\",\"acc,none\":0.6000000000000001,"
          "\"acc_stderr,none\":0.04}},\"group_subtasks\":{\"g\":[\"t2\","
          "\"t3\"]},\"n-samples\":{\"t2\":{\"effective\":30},"
          "\"t3\":{\"effective\":10},\"g\":{\"effective\":40}}}}",
          NULL, &out, NULL, &err),
      0);
  assert_true(fabs(num(out, "eval.groups.g.acc,none") - (0.5 + 0.8 + 0.4) / 3)
              < 1e-15);
  assert_string_equal(
      mg_json_string(mg_json_get_path(out, "eval.groups.g.acc_stderr,none")),
      "N/A");
  assert_true(num(out, "eval.n-samples.g.effective") == 50);
  mg_json_free(out);

  /* without sample counts a size-weighted group cannot be recomputed */
  assert_int_equal(
      merge("{\"eval\":{\"results\":{\"t1\":{\"acc,none\":0.5},"
            "\"g\":{\"acc,none\":0.5}},\"group_subtasks\":{\"g\":[\"t1\"]}}}",
            "{\"eval\":{\"results\":{\"t2\":{\"acc,none\":0.7},"
            "\"g\":{\"acc,none\":0.7}},\"group_subtasks\":{\"g\":[\"t2\"]}}}",
            NULL, &out, NULL, &err),
      -1);
  assert_non_null(strstr(err.msg, "cannot recompute group 'eval.groups.g'"));
  mg_json_free(notes);
}

static void test_perf_pods(void **state)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_json *out, *notes = mg_json_new_array();
  const char *pod1 =
      "{\"perf\":{\"tool\":\"perf-run\",\"config\":{\"rate\":[5]},"
      "\"started\":\"2026-01-01T00:00:01.000Z\",\"ok\":true,\"runs\":[{\"id\":"
      "0,"
      "\"kind\":\"constant\",\"rate\":5,\"window\":{\"start_s\":0.1,"
      "\"end_s\":2,\"duration_s\":1.9},\"requests\":{\"successful\":9,"
      "\"errored\":1,\"errors\":{\"http_500\":1}},\"requests_per_s\":4.5,"
      "\"client\":{\"target_rate\":5,\"sent\":10}}]}}";
  const char *pod2 =
      "{\"perf\":{\"tool\":\"perf-run\",\"config\":{\"rate\":[5]},"
      "\"started\":\"2026-01-01T00:00:00.500Z\",\"ok\":false,\"runs\":[{\"id\":"
      "0,"
      "\"kind\":\"constant\",\"rate\":5,\"window\":{\"start_s\":0.05,"
      "\"end_s\":2.1,\"duration_s\":2.05},\"requests\":{\"successful\":10,"
      "\"errored\":0,\"errors\":{}},\"requests_per_s\":4.9,"
      "\"client\":{\"target_rate\":5,\"sent\":10}}]}}";

  (void)state;
  assert_int_equal(merge(pod1, pod2, NULL, &out, notes, &err), 0);
  {
    struct mg_json *r = mg_json_at(mg_json_get_path(out, "perf.runs"), 0);

    assert_true(num(r, "rate") == 10);
    assert_true(num(r, "requests.successful") == 19);
    assert_true(num(r, "requests.errored") == 1);
    assert_true(num(r, "requests.errors.http_500") == 1);
    assert_true(fabs(num(r, "requests_per_s") - 9.4) < 1e-9);
    assert_true(num(r, "client.sent") == 20);
    assert_true(num(r, "window.start_s") == 0.05);
    assert_true(num(r, "window.end_s") == 2.1);
    assert_true(fabs(num(r, "window.duration_s") - 2.05) < 1e-9);
    assert_true(num(r, "merged_from") == 2);
  }
  assert_string_equal(mg_json_string(mg_json_get_path(out, "perf.started")),
                      "2026-01-01T00:00:00.500Z");
  assert_false(mg_json_bool(mg_json_get_path(out, "perf.ok")));
  mg_json_free(out);
  /* another benchmark (other config): not mergeable */
  {
    char *other = mg_xstrdup(pod2);
    char *p = strstr(other, "[5]");

    p[1] = '7';
    assert_int_equal(merge(pod1, other, NULL, &out, notes, &err), -1);
    assert_non_null(strstr(err.msg, "different benchmarks ('config' "
                                    "differs)"));
    free(other);
  }
  mg_json_free(notes);
}

static void test_compare(void **state)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_json *sums = parse(
      "[{\"source\":\"a\",\"label\":\"baseline\",\"eval\":{\"tasks\":["
      "{\"task\":\"t\",\"metric\":\"acc\",\"value\":0.50,\"stderr\":0.01},"
      "{\"task\":\"u\",\"metric\":\"acc\",\"value\":0.50,\"stderr\":0.05}]},"
      "\"perf\":{\"runs\":[{\"id\":\"r\",\"requests_per_s\":10,\"ttft_ms\":"
      "{\"p50\":40,\"mean\":41,\"stddev\":10,\"count\":100}}]}},"
      "{\"source\":\"b\",\"label\":\"custom\",\"eval\":{\"tasks\":["
      "{\"task\":\"t\",\"metric\":\"acc\",\"value\":0.55,\"stderr\":0.01},"
      "{\"task\":\"u\",\"metric\":\"acc\",\"value\":0.52,\"stderr\":0.05}]},"
      "\"perf\":{\"runs\":[{\"id\":\"r\",\"requests_per_s\":8,\"ttft_ms\":"
      "{\"p50\":60,\"mean\":61,\"stddev\":10,\"count\":100}}]}}]");
  struct mg_json *cmp;
  const struct mg_json *rows, *t = NULL, *u = NULL, *rps = NULL, *ttft = NULL;

  (void)state;
  assert_int_equal(mg_merge_compare(sums, &cmp, &err), 0);
  rows = mg_json_get(cmp, "rows");
  for (struct mg_json *r = mg_json_first(rows); r; r = mg_json_next(r)) {
    const char *task = mg_json_string(mg_json_get(r, "task"));
    const char *m = mg_json_string(mg_json_get(r, "metric"));

    if (task && strcmp(task, "t") == 0)
      t = r;
    if (task && strcmp(task, "u") == 0)
      u = r;
    if (strcmp(m, "requests_per_s") == 0)
      rps = r;
    if (strcmp(m, "ttft_mean_ms") == 0)
      ttft = r;
  }
  assert_non_null(t);
  assert_non_null(u);
  assert_non_null(rps);
  assert_non_null(ttft);
  /* 0.05 > sqrt(0.01^2 + 0.01^2): significant; 0.02 < 0.07: not */
  assert_true(mg_json_bool(mg_json_at(mg_json_get(t, "significant"), 1)));
  assert_false(mg_json_bool(mg_json_at(mg_json_get(u, "significant"), 1)));
  assert_true(mg_json_is_null(mg_json_at(mg_json_get(t, "significant"), 0)));
  assert_true(
      fabs(mg_json_number(mg_json_at(mg_json_get(t, "delta"), 1)) - 0.05)
      < 1e-12);
  assert_true(
      fabs(mg_json_number(mg_json_at(mg_json_get(rps, "delta_pct"), 1)) + 20)
      < 1e-12);
  assert_string_equal(mg_json_string(mg_json_get(rps, "better")), "higher");
  /* TTFT mean: se = 10/sqrt(100) = 1 each; a 20 ms difference is real */
  assert_true(mg_json_bool(mg_json_at(mg_json_get(ttft, "significant"), 1)));
  assert_int_equal(mg_json_size(mg_json_get(cmp, "entries")), 2);
  mg_json_free(cmp);
  mg_json_free(sums);
  /* nothing to compare */
  sums = mg_json_new_array();
  assert_int_equal(mg_merge_compare(sums, &cmp, &err), -1);
  mg_json_free(sums);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_split_distribution),
    cmocka_unit_test(test_sections),
    cmocka_unit_test(test_eval_union),
    cmocka_unit_test(test_eval_groups),
    cmocka_unit_test(test_perf_pods),
    cmocka_unit_test(test_compare),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
