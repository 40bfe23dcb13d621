#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "eval/mg_eval.h"
#include "eval/mg_eval_out.h"
#include "eval/mg_metrics.h"
#include "eval/mg_task.h"
#include "mg_buf.h"
#include "mg_err.h"
#include "mg_io.h"
#include "mg_json.h"
#include "mg_mem.h"
#include "py/mg_pv.h"

static char dir[] = "/tmp/test_mg_eval.XXXXXX";

static void put(const char *name, const char *text)
{
  char *p = mg_xasprintf("%s/%s", dir, name);
  FILE *f = fopen(p, "w");

  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  free(p);
}

static int setup(void **state)
{
  (void)state;
  if (!mkdtemp(dir))
    return -1;
  put("d.jsonl", "{\"q\": \"Is it?\", \"choices\": [\"yes\", \"no\"], "
                 "\"answer\": 1}\n"
                 "{\"q\": \"Really?\", \"choices\": [\"yes\", \"no\"], "
                 "\"answer\": 0}\n");
  put("t.yaml", "task: yn\ndataset_path: json\n"
                "dataset_kwargs:\n  data_files: d.jsonl\n"
                "test_split: train\noutput_type: multiple_choice\n"
                "doc_to_text: \"{{q}}\\nAnswer:\"\ndoc_to_target: answer\n"
                "doc_to_choice: choices\nmetadata:\n  version: 2.0\n");
  return 0;
}

static int teardown(void **state)
{
  char *cmd = mg_xasprintf("rm -rf '%s'", dir);
  int rc = system(cmd);

  (void)state;
  free(cmd);
  return rc == 0 ? 0 : -1;
}

static struct mg_task_set *load(struct mg_task_opts *o)
{
  static const char *inc[1];
  const char *name = "yn";
  struct mg_task_set *ts = NULL;
  struct mg_err err = MG_ERR_INIT;

  mg_task_opts_init(o);
  inc[0] = dir;
  o->include_paths = inc;
  o->ninclude = 1;
  assert_int_equal(mg_task_set_load(&name, 1, o, &ts, &err), 0);
  return ts;
}

static void test_defaults(void **state)
{
  struct mg_eval_opts o;

  (void)state;
  mg_eval_opts_init(&o);
  /* lm-eval's TemplateAPI defaults */
  assert_int_equal(o.max_length, 2048);
  assert_int_equal(o.max_gen_toks, 256);
  assert_int_equal(o.max_retries, 3);
  assert_int_equal(o.timeout_ms, 300000);
  assert_int_equal(o.seed, 1234);
  assert_int_equal(o.num_concurrent, 1);
  assert_true(o.tokenized_requests);
  assert_int_equal(o.bootstrap_iters, 100000);
}

static void test_answer_key(void **state)
{
  struct mg_task_opts o;
  struct mg_task_set *ts = load(&o);
  struct mg_err err = MG_ERR_INIT;
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  char *p = mg_xasprintf("%s/key.jsonl", dir);
  size_t n;

  (void)state;
  assert_int_equal(mg_eval_write_answer_key(ts, &o, p, &n, &err), 0);
  assert_int_equal(n, 2);
  assert_int_equal(mg_io_read_file(p, &b, &err), 0);
  assert_string_equal(b.data,
                      "{\"context\": \"Is it?\\nAnswer:\", \"continuation\": "
                      "\" no\", \"task\": \"yn\", \"doc_id\": 0}\n"
                      "{\"context\": \"Really?\\nAnswer:\", \"continuation\": "
                      "\" yes\", \"task\": \"yn\", \"doc_id\": 1}\n");
  mg_buf_release(&b);
  free(p);
  mg_task_set_free(ts);
}

static void test_no_endpoint(void **state)
{
  struct mg_task_opts o;
  struct mg_task_set *ts = load(&o);
  struct mg_eval_opts eo;
  struct mg_eval_run *r = NULL;
  struct mg_err err = MG_ERR_INIT;

  (void)state;
  mg_eval_opts_init(&eo);
  assert_int_equal(mg_eval_run(ts, &o, &eo, &r, &err), -1);
  assert_null(r);
  assert_int_equal(err.cat, MG_ERR_USAGE);
  mg_task_set_free(ts);
}

static void test_outputs(void **state)
{
  struct mg_task_opts o;
  struct mg_task_set *ts = load(&o);
  struct mg_eval_run *r = mg_xcalloc(1, sizeof(*r));
  struct mg_eval_meta meta;
  struct mg_doc_result res[2];
  double ll[2][2] = { { -2, -1 }, { -2, -1 } };
  int gr[2][2] = { { 0, 1 }, { 0, 1 } };
  struct mg_err err = MG_ERR_INIT;
  struct mg_json *sec, *j = NULL;
  char *text;
  size_t len;

  (void)state;
  r->ts = ts;
  r->docs = mg_xcalloc(1, sizeof(*r->docs));
  assert_int_equal(mg_task_prepare(ts->tasks[0], &o, &r->docs[0], &err), 0);
  for (int i = 0; i < 2; i++) {
    res[i].n = 2;
    res[i].ll = ll[i];
    res[i].greedy = gr[i];
    res[i].text = NULL;
    res[i].complete = 1;
  }
  r->tres = mg_xcalloc(1, sizeof(*r->tres));
  r->gres = mg_xcalloc(1, sizeof(*r->gres));
  r->samples = mg_xcalloc(1, sizeof(*r->samples));
  r->samples[0] = mg_pv_list();
  assert_int_equal(mg_metrics_task(ts->tasks[0], r->docs[0], res, 2, 0,
                                   r->samples[0], &r->tres[0], &err),
                   0);
  r->complete = 1;
  r->model_name = mg_xstrdup("org/model:v1");
  r->url = mg_xstrdup("http://h/v1/completions");
  memset(&meta, 0, sizeof(meta));
  meta.model_kind = "local-completions";
  meta.limit = -1;
  meta.num_fewshot = -1;
  meta.seed = meta.fewshot_seed = 1234;
  meta.batch_size = 1;
  text = mg_eval_out_results_json(r, &meta, &len);
  assert_int_equal(mg_json_parse(text, len, "results", &j, &err), 0);
  assert_true(mg_json_number(mg_json_get_path(j, "results.yn.acc,none"))
              == 0.5);
  assert_true(mg_json_number(mg_json_get_path(j, "results.yn.acc_stderr,none"))
              == 0.5);
  assert_true(mg_json_number(mg_json_get_path(j, "versions.yn")) == 2.0);
  assert_string_equal(mg_json_string(mg_json_get(j, "model_name_sanitized")),
                      "org__model__v1");
  assert_non_null(mg_json_get_path(j, "task_hashes.yn"));
  assert_non_null(strstr(text, "\"versions\": {\n    \"yn\": 2.0\n  }"));
  mg_json_free(j);
  free(text);
  text = mg_eval_out_samples_jsonl(r, 0, &len);
  assert_non_null(strstr(text, "\"resps\": [[[\"-2.0\", \"False\"]], "
                               "[[\"-1.0\", \"True\"]]]"));
  free(text);
  sec = mg_eval_out_section(r, &meta, NULL, NULL);
  assert_true(mg_json_bool(mg_json_get(sec, "ok")));
  assert_true(
      mg_json_number(mg_json_get_path(mg_json_at(mg_json_get(sec, "tasks"), 0),
                                      "metrics.acc,none.value"))
      == 0.5);
  mg_json_free(sec);
  r->ts = ts;
  mg_eval_run_free(r);
  mg_task_set_free(ts);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_defaults),
    cmocka_unit_test(test_answer_key),
    cmocka_unit_test(test_no_endpoint),
    cmocka_unit_test(test_outputs),
  };

  return cmocka_run_group_tests(tests, setup, teardown);
}
