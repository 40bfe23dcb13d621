#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "eval/mg_task.h"
#include "mg_buf.h"
#include "mg_err.h"
#include "mg_mem.h"
#include "py/mg_pv.h"

static char dir[] = "/tmp/test_mg_task.XXXXXX";

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
  put("data.jsonl",
      "{\"q\": \"one\", \"choices\": [\"a\", \"b\"], \"answer\": 0}\n"
      "{\"q\": \"two\", \"choices\": [\"c\", \"d\"], \"answer\": 1}\n"
      "{\"q\": \"three\", \"choices\": [\"e\", \"f\"], \"answer\": 1}\n");
  put("base.yaml.inc", "dataset_path: json\n"
                       "dataset_kwargs:\n  data_files: data.jsonl\n"
                       "test_split: train\n"
                       "output_type: multiple_choice\n"
                       "doc_to_choice: choices\n"
                       "doc_to_target: answer\n");
  put("mc.yaml", "include: base.yaml.inc\n"
                 "task: mc\n"
                 "tag: [demo_tag]\n"
                 "description: \"About {{q}}.\\n\"\n"
                 "doc_to_text: \"Q: {{q}}\\nA:\"\n"
                 "num_fewshot: 2\n"
                 "fewshot_config:\n  sampler: first_n\n");
  put("zero.yaml", "include: base.yaml.inc\n"
                   "task: zero\n"
                   "doc_to_text: \"{{q}}\"\n"
                   "num_fewshot: 0\n");
  put("gen.yaml", "include: base.yaml.inc\n"
                  "task: gen\n"
                  "output_type: generate_until\n"
                  "doc_to_text: \"{{q}}?\"\n"
                  "doc_to_target: \"{{choices[answer]}}\"\n"
                  "repeats: 2\n"
                  "generation_kwargs:\n  max_gen_toks: 8\n  temperature: 0\n");
  put("grp.yaml", "group: grp\n"
                  "task:\n  - demo_tag\n  - zero\n"
                  "aggregate_metric_list:\n  - metric: acc\n");
  put("py.yaml", "include: base.yaml.inc\n"
                 "task: py\n"
                 "doc_to_text: !function utils.doc_to_text\n");
  return 0;
}

static int teardown(void **state)
{
  char *cmd = mg_xasprintf("rm -rf '%s'", dir);
  int rc;

  (void)state;
  rc = system(cmd);
  free(cmd);
  return rc == 0 ? 0 : -1;
}

static struct mg_task_set *load(const char *name, long nshot, double limit,
                                struct mg_err *err)
{
  struct mg_task_opts o;
  const char *inc[1] = { dir };
  struct mg_task_set *ts = NULL;

  mg_task_opts_init(&o);
  o.include_paths = inc;
  o.ninclude = 1;
  o.num_fewshot = nshot;
  o.limit = limit;
  if (mg_task_set_load(&name, 1, &o, &ts, err) < 0)
    return NULL;
  return ts;
}

static void test_config_and_prompts(void **state)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_task_set *ts = load("mc", -1, -1, &err);
  struct mg_task_opts o;
  struct mg_task_doc *docs;
  const struct mg_task *t;
  struct mg_pv *args;

  (void)state;
  assert_non_null(ts);
  t = ts->tasks[0];
  assert_string_equal(t->name, "mc");
  assert_int_equal(t->output, MG_OUT_MULTIPLE_CHOICE);
  assert_int_equal(t->num_fewshot, 2);
  assert_true(t->sampler_first_n);
  assert_int_equal(t->nmetrics, 2); /* acc, acc_norm by default */
  assert_int_equal(t->target.kind, MG_FIELD_COLUMN);
  mg_task_opts_init(&o);
  assert_int_equal(mg_task_prepare(t, &o, &docs, &err), 0);
  /* doc 0: the first two docs minus itself, so one shot */
  assert_string_equal(mg_pv_cstr(docs[0].ctx),
                      "About one.\nQ: two\nA: d\n\nQ: one\nA:");
  assert_string_equal(mg_pv_cstr(docs[2].ctx),
                      "About three.\nQ: one\nA: a\n\nQ: two\nA: d\n\n"
                      "Q: three\nA:");
  assert_int_equal(docs[1].gold, 1);
  args = mg_task_doc_args(t, &docs[1]);
  assert_int_equal(args->u.list.n, 2);
  assert_string_equal(mg_pv_cstr(mg_pv_at(args->u.list.v[1], 1)), " d");
  mg_pv_unref(args);
  mg_task_docs_free(docs, t->docs->u.list.n);
  mg_task_set_free(ts);
}

static void test_num_fewshot_and_limit(void **state)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_task_set *ts = load("mc", 1, 0.5, &err);

  (void)state;
  assert_non_null(ts);
  assert_int_equal(ts->tasks[0]->num_fewshot, 1);
  assert_int_equal(ts->tasks[0]->docs->u.list.n, 2); /* ceil(3 * 0.5) */
  assert_int_equal(ts->tasks[0]->n_original, 3);
  mg_task_set_free(ts);
  ts = load("zero", 5, 2, &err); /* an explicit 0 in the YAML wins */
  assert_non_null(ts);
  assert_int_equal(ts->tasks[0]->num_fewshot, 0);
  assert_int_equal(ts->tasks[0]->docs->u.list.n, 2);
  assert_true(ts->nwarnings >= 1);
  mg_task_set_free(ts);
}

static void test_generation_task(void **state)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_task_set *ts = load("gen", -1, -1, &err);
  struct mg_task_opts o;
  struct mg_task_doc *docs;
  struct mg_pv *args;
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

  (void)state;
  assert_non_null(ts);
  mg_task_opts_init(&o);
  assert_int_equal(mg_task_prepare(ts->tasks[0], &o, &docs, &err), 0);
  args = mg_task_doc_args(ts->tasks[0], &docs[0]);
  assert_int_equal(args->u.list.n, 2); /* repeats */
  mg_pv_dumps(&b, mg_pv_at(args->u.list.v[0], 1), -1);
  /* temperature cast to float, until defaults to the fewshot delimiter */
  assert_string_equal(b.data, "{\"max_gen_toks\": 8, \"temperature\": 0.0, "
                              "\"until\": [\"\\n\\n\"]}");
  assert_string_equal(mg_pv_cstr(docs[1].target), "d");
  mg_buf_release(&b);
  mg_pv_unref(args);
  mg_task_docs_free(docs, ts->tasks[0]->docs->u.list.n);
  mg_task_set_free(ts);
}

static void test_groups_and_tags(void **state)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_task_set *ts = load("grp", -1, -1, &err);

  (void)state;
  assert_non_null(ts);
  assert_int_equal(ts->ntop, 1);
  assert_non_null(ts->top[0].group);
  assert_int_equal(ts->ngroups, 1);
  assert_int_equal(ts->groups[0]->nitems, 2);
  assert_int_equal(ts->ntasks, 2);
  assert_string_equal(ts->tasks[0]->name, "mc");
  assert_string_equal(ts->tasks[1]->name, "zero");
  assert_int_equal(ts->groups[0]->nagg, 1);
  assert_true(ts->groups[0]->agg[0].weight_by_size);
  mg_task_set_free(ts);
}

static void test_refusals(void **state)
{
  struct mg_err err = MG_ERR_INIT;

  (void)state;
  assert_null(load("py", -1, -1, &err));
  assert_int_equal(err.cat, MG_ERR_DATA);
  assert_non_null(strstr(err.msg, "task 'py': field 'doc_to_text' needs "
                                  "Python (!function utils.doc_to_text)"));
  assert_null(load("no_such_task", -1, -1, &err));
  assert_int_equal(err.cat, MG_ERR_USAGE);
  assert_null(load("mmlu_anatomy", -1, -1, &err));
  assert_non_null(strstr(err.msg, "--data-dir"));
}

static void test_builtin_list(void **state)
{
  struct mg_task_opts o;
  struct mg_pv *l;
  struct mg_err err = MG_ERR_INIT;
  int mmlu = 0, gsm = 0;

  (void)state;
  mg_task_opts_init(&o);
  assert_int_equal(mg_task_list_all(&o, &l, &err), 0);
  for (size_t i = 0; i < l->u.list.n; i++) {
    const char *s = l->u.list.v[i]->u.str.s;

    mmlu += strncmp(s, "mmlu_", 5) == 0;
    gsm += strcmp(s, "gsm8k") == 0;
  }
  assert_int_equal(gsm, 1);
  /* 57 subjects, 4 categories, 4 category tags */
  assert_int_equal(mmlu, 65);
  mg_pv_unref(l);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_config_and_prompts),
    cmocka_unit_test(test_num_fewshot_and_limit),
    cmocka_unit_test(test_generation_task),
    cmocka_unit_test(test_groups_and_tags),
    cmocka_unit_test(test_refusals),
    cmocka_unit_test(test_builtin_list),
  };

  return cmocka_run_group_tests(tests, setup, teardown);
}
