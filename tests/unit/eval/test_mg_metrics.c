#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "eval/mg_metrics.h"
#include "eval/mg_task.h"
#include "mg_buf.h"
#include "mg_err.h"
#include "mg_mem.h"
#include "py/mg_pv.h"

/* Expected numbers: CPython with lm-eval's formulas (metrics.py). */

static void test_mean_and_stderr(void **state)
{
  double x[] = { 1, 0, 1, 1, 0, 1, 1, 0 }, se;
  int ok;

  (void)state;
  assert_true(mg_metrics_mean(x, 8) == 0.625);
  se = mg_metrics_mean_stderr(x, 8, &ok);
  assert_true(ok);
  /* math.sqrt(sum([(v - 0.625) ** 2 for v in x]) / 7) / math.sqrt(8) */
  assert_true(se == 0.18298126367784995);
  (void)mg_metrics_mean_stderr(x, 1, &ok);
  assert_false(ok);
}

static void test_pooled(void **state)
{
  double se[] = { 0.05, 0.04, 0.1 };
  size_t n[] = { 100, 135, 20 };

  (void)state;
  /* np.sqrt(sum([(n - 1) * s ** 2 * n ...]) / (sum(n) - 3) / sum(n)) */
  assert_true(fabs(mg_metrics_pooled_stderr(se, n, 3) - 0.029911686590845976)
              < 1e-17);
}

static struct mg_pv *strs(const char *a, const char *b)
{
  struct mg_pv *l = mg_pv_list();

  mg_pv_list_append(l, mg_pv_str(a));
  if (b)
    mg_pv_list_append(l, mg_pv_str(b));
  return l;
}

static void test_gsm8k_filters_and_exact_match(void **state)
{
  struct mg_task_filter_step strict[2], flex[2];
  struct mg_task_filter fs = { (char *)"strict-match", strict, 2 };
  struct mg_task_filter ff = { (char *)"flexible-extract", flex, 2 };
  struct mg_pv *resp = strs("so 5 + $1,000 = 1005.\n#### 1,005.", NULL);
  struct mg_pv *out, *kw, *rx;
  struct mg_err err = MG_ERR_INIT;
  double em;

  (void)state;
  strict[0].function = (char *)"regex";
  strict[0].args = mg_pv_dict();
  mg_pv_dict_sets(strict[0].args, "regex_pattern",
                  mg_pv_str("#### (\\-?[0-9\\.\\,]+)"));
  strict[1].function = (char *)"take_first";
  strict[1].args = mg_pv_dict();
  flex[0].function = (char *)"regex";
  flex[0].args = mg_pv_dict();
  mg_pv_dict_sets(flex[0].args, "regex_pattern",
                  mg_pv_str("(-?[$0-9.,]{2,})|(-?[0-9]+)"));
  mg_pv_dict_sets(flex[0].args, "group_select", mg_pv_int(-1));
  flex[1].function = (char *)"take_first";
  flex[1].args = mg_pv_dict();
  assert_int_equal(mg_metrics_filter(&fs, resp, &out, &err), 0);
  assert_string_equal(mg_pv_cstr(out), "1,005.");
  kw = mg_pv_dict();
  rx = mg_pv_list();
  mg_pv_list_append(rx, mg_pv_str(","));
  mg_pv_list_append(rx, mg_pv_str("\\$"));
  mg_pv_list_append(rx, mg_pv_str("(?s).*#### "));
  mg_pv_list_append(rx, mg_pv_str("\\.$"));
  mg_pv_dict_sets(kw, "regexes_to_ignore", rx);
  mg_pv_dict_sets(kw, "ignore_case", mg_pv_bool(1));
  {
    struct mg_pv *gold = mg_pv_str("Work.\n#### 1005");

    assert_int_equal(mg_metrics_exact_match(out, gold, kw, &em, &err), 0);
    assert_true(em == 1.0);
    mg_pv_unref(out);
    assert_int_equal(mg_metrics_filter(&ff, resp, &out, &err), 0);
    assert_string_equal(mg_pv_cstr(out), "1,005.");
    mg_pv_unref(out);
    mg_pv_unref(resp);
    resp = strs("no numbers here", NULL);
    assert_int_equal(mg_metrics_filter(&fs, resp, &out, &err), 0);
    assert_string_equal(mg_pv_cstr(out), "[invalid]");
    assert_int_equal(mg_metrics_exact_match(out, gold, kw, &em, &err), 0);
    assert_true(em == 0.0);
    mg_pv_unref(gold);
  }
  mg_pv_unref(out);
  mg_pv_unref(resp);
  mg_pv_unref(kw);
  for (int i = 0; i < 2; i++) {
    mg_pv_unref(strict[i].args);
    mg_pv_unref(flex[i].args);
  }
}

static void test_other_filters(void **state)
{
  struct mg_task_filter_step st[3];
  struct mg_task_filter f = { (char *)"mv", st, 3 };
  struct mg_pv *resps = mg_pv_list(), *out;
  struct mg_err err = MG_ERR_INIT;

  (void)state;
  mg_pv_list_append(resps, mg_pv_str("  B"));
  mg_pv_list_append(resps, mg_pv_str(" a"));
  mg_pv_list_append(resps, mg_pv_str("b"));
  st[0].function = (char *)"remove_whitespace";
  st[0].args = mg_pv_dict();
  st[1].function = (char *)"lowercase";
  st[1].args = mg_pv_dict();
  st[2].function = (char *)"majority_vote";
  st[2].args = mg_pv_dict();
  assert_int_equal(mg_metrics_filter(&f, resps, &out, &err), 0);
  assert_int_equal(out->type, MG_PV_LIST);
  assert_string_equal(mg_pv_cstr(mg_pv_at(out, 0)), "b");
  mg_pv_unref(out);
  for (int i = 0; i < 3; i++)
    mg_pv_unref(st[i].args);
  mg_pv_unref(resps);
}

static void test_exact_match_options(void **state)
{
  struct mg_pv *kw = mg_pv_dict(), *p = mg_pv_str("Hello, World 42!");
  struct mg_pv *r = mg_pv_str("hello world"), *refs = mg_pv_list();
  struct mg_err err = MG_ERR_INIT;
  double em;

  (void)state;
  assert_int_equal(mg_metrics_exact_match(p, r, kw, &em, &err), 0);
  assert_true(em == 0);
  mg_pv_dict_sets(kw, "ignore_case", mg_pv_bool(1));
  mg_pv_dict_sets(kw, "ignore_punctuation", mg_pv_bool(1));
  mg_pv_dict_sets(kw, "ignore_numbers", mg_pv_bool(1));
  /* no strip: "hello world " != "hello world" */
  assert_int_equal(mg_metrics_exact_match(p, r, kw, &em, &err), 0);
  assert_true(em == 0);
  mg_pv_list_append(refs, mg_pv_str("nope"));
  mg_pv_list_append(refs, mg_pv_str("hello world "));
  assert_int_equal(mg_metrics_exact_match(p, refs, kw, &em, &err), 0);
  assert_true(em == 1);
  mg_pv_unref(kw);
  mg_pv_unref(p);
  mg_pv_unref(r);
  mg_pv_unref(refs);
}

static char dir[] = "/tmp/test_mg_metrics.XXXXXX";

static void test_task_scoring_and_groups(void **state)
{
  /* 4 docs, 2 choices; lls pick: right, wrong, right (only by acc_norm),
   * right */
  static const char yaml[] =
      "group: g\ntask:\n  - task: t\n    dataset_path: json\n"
      "    dataset_kwargs:\n      data_files: d.jsonl\n    test_split: train\n"
      "    output_type: multiple_choice\n    doc_to_text: \"{{q}}\"\n"
      "    doc_to_target: answer\n    doc_to_choice: choices\n"
      "    metric_list:\n      - metric: acc\n      - metric: acc_norm\n"
      "      - metric: exact_match\n"
      "aggregate_metric_list:\n  - metric: acc\n";
  static const char data[] =
      "{\"q\": \"q1\", \"choices\": [\"a\", \"bb\"], \"answer\": 0}\n"
      "{\"q\": \"q2\", \"choices\": [\"a\", \"bb\"], \"answer\": 0}\n"
      "{\"q\": \"q3\", \"choices\": [\"a\", \"bbbb\"], \"answer\": 1}\n"
      "{\"q\": \"q4\", \"choices\": [\"a\", \"bb\"], \"answer\": 1}\n";
  double lls[4][2] = { { -1, -3 }, { -3, -1 }, { -1, -2 }, { -5, -1 } };
  int greedy[4][2] = { { 1, 0 }, { 0, 1 }, { 1, 0 }, { 0, 1 } };
  struct mg_task_opts o;
  const char *inc[1], *name = "g";
  struct mg_task_set *ts;
  struct mg_task_doc *docs;
  struct mg_doc_result res[4];
  struct mg_task_result tr, gr;
  struct mg_err err = MG_ERR_INIT;
  struct mg_pv *samples = mg_pv_list();
  char *p;
  FILE *f;

  (void)state;
  assert_non_null(mkdtemp(dir));
  p = mg_xasprintf("%s/g.yaml", dir);
  f = fopen(p, "w");
  fputs(yaml, f);
  fclose(f);
  free(p);
  p = mg_xasprintf("%s/d.jsonl", dir);
  f = fopen(p, "w");
  fputs(data, f);
  fclose(f);
  free(p);
  mg_task_opts_init(&o);
  inc[0] = dir;
  o.include_paths = inc;
  o.ninclude = 1;
  assert_int_equal(mg_task_set_load(&name, 1, &o, &ts, &err), 0);
  assert_int_equal(mg_task_prepare(ts->tasks[0], &o, &docs, &err), 0);
  for (int i = 0; i < 4; i++) {
    res[i].n = 2;
    res[i].ll = lls[i];
    res[i].greedy = greedy[i];
    res[i].text = NULL;
    res[i].complete = 1;
  }
  assert_int_equal(
      mg_metrics_task(ts->tasks[0], docs, res, 4, 100000, samples, &tr, &err),
      0);
  assert_int_equal(tr.n, 4);
  assert_int_equal(tr.nv, 3);
  assert_string_equal(tr.v[0].metric, "acc");
  assert_true(tr.v[0].value == 0.5); /* docs 0 and 3 */
  assert_string_equal(tr.v[1].metric, "acc_norm");
  assert_true(tr.v[1].value == 0.75); /* -2/4 beats -1/1 for doc 2 */
  assert_string_equal(tr.v[2].metric, "exact_match");
  assert_true(tr.v[2].value == 0.5);
  assert_int_equal(samples->u.list.n, 4);
  assert_true(mg_pv_num(mg_pv_dict_get(samples->u.list.v[2], "acc_norm"))
              == 1.0);
  mg_metrics_group(ts, 0, &tr, &gr);
  assert_int_equal(gr.nv, 1);
  assert_true(gr.v[0].value == 0.5);
  assert_true(gr.v[0].stderr_ == tr.v[0].stderr_);
  mg_metrics_task_result_release(&gr);
  mg_metrics_task_result_release(&tr);
  /* an incomplete doc is left out */
  res[3].complete = 0;
  assert_int_equal(
      mg_metrics_task(ts->tasks[0], docs, res, 4, 0, NULL, &tr, &err), 0);
  assert_int_equal(tr.n, 3);
  mg_metrics_task_result_release(&tr);
  mg_pv_unref(samples);
  mg_task_docs_free(docs, 4);
  mg_task_set_free(ts);
  p = mg_xasprintf("rm -rf '%s'", dir);
  assert_int_equal(system(p), 0);
  free(p);
}

static char bdir[] = "/tmp/test_mg_metrics_b.XXXXXX";

static struct mg_task_set *load_one(const char *yaml, const char *data,
                                    const char *name)
{
  struct mg_task_opts o;
  const char *inc[1];
  struct mg_task_set *ts = NULL;
  struct mg_err err = MG_ERR_INIT;
  char *p = mg_xasprintf("%s/t.yaml", bdir);
  FILE *f = fopen(p, "w");

  fputs(yaml, f);
  fclose(f);
  free(p);
  p = mg_xasprintf("%s/d.jsonl", bdir);
  f = fopen(p, "w");
  fputs(data, f);
  fclose(f);
  free(p);
  mg_task_opts_init(&o);
  inc[0] = bdir;
  o.include_paths = inc;
  o.ninclude = 1;
  if (mg_task_set_load(&name, 1, &o, &ts, &err) < 0)
    fail_msg("%s", err.msg);
  return ts;
}

static void test_bootstrap_like_cpython(void **state)
{
  /* boot.py: lm-eval's bootstrap_stderr with CPython's random, iters
   * 2000 (2 chunks seeded 0 and 1) */
  static const int golds[] = { 1, 0, 1, 1, 0, 1, 0, 0, 1, 1 };
  static const int preds[] = { 1, 1, 0, 1, 0, 1, 0, 1, 1, 0 };
  static const double lls[] = { -1.5, -0.25, -3.0, -0.5, -2.0 };
  struct mg_buf data = MG_BUF_INIT(MG_BUF_UNLIMITED);
  struct mg_doc_result res[10];
  double ll[10][2];
  int gr[10][2] = { { 0 } };
  struct mg_task_opts o;
  struct mg_task_set *ts;
  struct mg_task_doc *docs;
  struct mg_task_result tr;
  struct mg_err err = MG_ERR_INIT;
  char *cmd;

  (void)state;
  assert_non_null(mkdtemp(bdir));
  for (int i = 0; i < 10; i++)
    mg_buf_printf(&data, NULL,
                  "{\"q\": \"x%d\", \"c\": [\"n\", \"y\"], \"a\": %d}\n", i,
                  golds[i]);
  ts = load_one("task: f\ndataset_path: json\ndataset_kwargs:\n"
                "  data_files: d.jsonl\ntest_split: train\n"
                "output_type: multiple_choice\ndoc_to_text: \"{{q}}\"\n"
                "doc_to_target: a\ndoc_to_choice: c\n"
                "metric_list:\n  - metric: f1\n",
                data.data, "f");
  mg_task_opts_init(&o);
  assert_int_equal(mg_task_prepare(ts->tasks[0], &o, &docs, &err), 0);
  for (int i = 0; i < 10; i++) {
    ll[i][0] = preds[i] ? -2 : -1;
    ll[i][1] = preds[i] ? -1 : -2;
    res[i].n = 2;
    res[i].ll = ll[i];
    res[i].greedy = gr[i];
    res[i].text = NULL;
    res[i].complete = 1;
  }
  assert_int_equal(
      mg_metrics_task(ts->tasks[0], docs, res, 10, 2000, NULL, &tr, &err), 0);
  assert_string_equal(tr.v[0].metric, "f1");
  assert_true(tr.v[0].value == 0.6666666666666666);
  assert_true(tr.v[0].has_stderr);
  assert_true(tr.v[0].stderr_ == 0.16548511033615634);
  mg_metrics_task_result_release(&tr);
  mg_task_docs_free(docs, 10);
  mg_task_set_free(ts);
  mg_buf_reset(&data);
  for (int i = 0; i < 5; i++)
    mg_buf_printf(&data, NULL, "{\"q\": \"x%d\", \"t\": \" y\"}\n", i);
  ts = load_one("task: p\ndataset_path: json\ndataset_kwargs:\n"
                "  data_files: d.jsonl\ntest_split: train\n"
                "output_type: loglikelihood\ndoc_to_text: \"{{q}}\"\n"
                "doc_to_target: t\nmetric_list:\n  - metric: perplexity\n",
                data.data, "p");
  assert_int_equal(mg_task_prepare(ts->tasks[0], &o, &docs, &err), 0);
  for (int i = 0; i < 5; i++) {
    ll[i][0] = lls[i];
    res[i].n = 1;
    res[i].ll = ll[i];
  }
  assert_int_equal(
      mg_metrics_task(ts->tasks[0], docs, res, 5, 2000, NULL, &tr, &err), 0);
  assert_true(tr.v[0].value == 4.263114515168817);
  assert_true(tr.v[0].stderr_ == 2.3076341236185947);
  assert_false(tr.v[0].higher_is_better);
  mg_metrics_task_result_release(&tr);
  mg_task_docs_free(docs, 5);
  mg_task_set_free(ts);
  mg_buf_release(&data);
  cmd = mg_xasprintf("rm -rf '%s'", bdir);
  assert_int_equal(system(cmd), 0);
  free(cmd);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_mean_and_stderr),
    cmocka_unit_test(test_pooled),
    cmocka_unit_test(test_gsm8k_filters_and_exact_match),
    cmocka_unit_test(test_other_filters),
    cmocka_unit_test(test_exact_match_options),
    cmocka_unit_test(test_task_scoring_and_groups),
    cmocka_unit_test(test_bootstrap_like_cpython),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
