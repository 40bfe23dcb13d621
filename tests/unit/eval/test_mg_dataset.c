#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "eval/mg_dataset.h"
#include "mg_buf.h"
#include "mg_err.h"
#include "py/mg_pv.h"

static char *repr(const struct mg_pv *v)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

  mg_pv_repr(&b, v);
  return mg_buf_detach(&b, NULL);
}

static void test_jsonl_columns(void **state)
{
  /* pyarrow's json builder: union of keys in first-seen order, missing
   * keys None, a column with ints and floats becomes float */
  static const char text[] = "{\"a\": 1, \"b\": \"x\"}\n\n"
                             "{\"c\": [1], \"a\": 2.5}\n"
                             "{\"b\": \"y\", \"a\": 3}\n";
  struct mg_pv *docs;
  struct mg_err err = MG_ERR_INIT;
  char *r;

  (void)state;
  assert_int_equal(
      mg_dataset_parse_json(text, strlen(text), "t.jsonl", NULL, &docs, &err),
      0);
  r = repr(docs);
  assert_string_equal(r, "[{'a': 1.0, 'b': 'x', 'c': None}, "
                         "{'a': 2.5, 'b': None, 'c': [1]}, "
                         "{'a': 3.0, 'b': 'y', 'c': None}]");
  free(r);
  mg_pv_unref(docs);
}

static void test_json_array_and_errors(void **state)
{
  struct mg_pv *docs = NULL;
  struct mg_err err = MG_ERR_INIT;

  (void)state;
  assert_int_equal(mg_dataset_parse_json("[{\"q\": 1}, {\"q\": 2}]", 20, "a",
                                         NULL, &docs, &err),
                   0);
  assert_int_equal(docs->u.list.n, 2);
  mg_pv_unref(docs);
  assert_int_equal(mg_dataset_parse_json("{\"data\": [{\"q\": 1}]}", 20, "f",
                                         "data", &docs, &err),
                   0);
  assert_int_equal(docs->u.list.n, 1);
  mg_pv_unref(docs);
  assert_int_equal(mg_dataset_parse_json("{\"q\": 1}\n[1]\n", 13, "b.jsonl",
                                         NULL, &docs, &err),
                   -1);
  assert_non_null(strstr(err.msg, "line 2 of 'b.jsonl' is not a JSON object"));
  assert_int_equal(mg_dataset_parse_json("{\"q\": 1}\n{\"q\": \n", 16,
                                         "c.jsonl", NULL, &docs, &err),
                   -1);
  assert_non_null(strstr(err.msg, "malformed JSON in 'c.jsonl:2'"));
}

static void test_csv(void **state)
{
  static const char text[] = "q,n,x,e\n\"a, \"\"b\"\"\nc\",1,1.5,\n"
                             "d,2,3,z\r\n";
  static const char noheader[] = "\"Q1\",0,4,2,6,B\nQ2,8,2,24,\"1,2\",C\n";
  struct mg_pv *docs;
  struct mg_err err = MG_ERR_INIT;
  char *r;

  (void)state;
  assert_int_equal(
      mg_dataset_parse_csv(text, strlen(text), "t.csv", 1, &docs, &err), 0);
  r = repr(docs);
  assert_string_equal(r, "[{'q': 'a, \"b\"\\nc', 'n': 1, 'x': 1.5, 'e': None}, "
                         "{'q': 'd', 'n': 2, 'x': 3.0, 'e': 'z'}]");
  free(r);
  mg_pv_unref(docs);
  assert_int_equal(
      mg_dataset_parse_csv(noheader, strlen(noheader), "m.csv", 0, &docs, &err),
      0);
  r = repr(docs);
  assert_string_equal(r, "[['Q1', '0', '4', '2', '6', 'B'], "
                         "['Q2', '8', '2', '24', '1,2', 'C']]");
  free(r);
  mg_pv_unref(docs);
  assert_int_equal(mg_dataset_parse_csv("a\n\"x", 4, "u.csv", 1, &docs, &err),
                   -1);
  assert_non_null(strstr(err.msg, "unterminated quoted field"));
}

static void test_hellaswag(void **state)
{
  /* lm-eval's utils.preprocess: strip, " [title]" -> ". ", drop [..],
   * "  " -> " "; ctx_b capitalized */
  static const char text[] =
      "{\"activity_label\": \"Home\", \"ctx_a\": \"[header] How to x "
      "[title] Do it.\", \"ctx_b\": \"PLANT  now\", \"endings\": [\" "
      "[step] Water  it. \", \"b\"], \"label\": \"0\"}\n";
  struct mg_pv *docs;
  struct mg_err err = MG_ERR_INIT;

  (void)state;
  assert_int_equal(
      mg_dataset_parse_json(text, strlen(text), "h", NULL, &docs, &err), 0);
  assert_int_equal(mg_dataset_hellaswag(docs, &err), 0);
  assert_string_equal(mg_pv_cstr(mg_pv_dict_get(docs->u.list.v[0], "query")),
                      "Home: How to x. Do it. Plant now");
  assert_string_equal(
      mg_pv_cstr(mg_pv_at(mg_pv_dict_get(docs->u.list.v[0], "choices"), 0)),
      " Water it.");
  assert_int_equal(mg_pv_dict_get(docs->u.list.v[0], "gold")->u.i, 0);
  mg_pv_unref(docs);
}

static void test_mirror_errors(void **state)
{
  struct mg_dataset_spec spec;
  struct mg_pv *docs;
  struct mg_err err = MG_ERR_INIT;

  (void)state;
  memset(&spec, 0, sizeof(spec));
  spec.path = "cais/mmlu";
  spec.name = "anatomy";
  assert_int_equal(mg_dataset_load(&spec, "test", &docs, NULL, &err), -1);
  assert_int_equal(err.cat, MG_ERR_USAGE);
  assert_non_null(strstr(err.msg, "--data-dir"));
  spec.data_dir = "/nonexistent";
  assert_int_equal(mg_dataset_load(&spec, "test", &docs, NULL, &err), -1);
  assert_int_equal(err.cat, MG_ERR_IO);
  spec.path = "some/hub-dataset";
  assert_int_equal(mg_dataset_load(&spec, "test", &docs, NULL, &err), -1);
  assert_non_null(strstr(err.msg, "never downloads"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_jsonl_columns),
    cmocka_unit_test(test_json_array_and_errors),
    cmocka_unit_test(test_csv),
    cmocka_unit_test(test_hellaswag),
    cmocka_unit_test(test_mirror_errors),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
