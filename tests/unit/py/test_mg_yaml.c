#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "py/mg_pv.h"
#include "py/mg_yaml.h"

/* Expected values follow PyYAML 6 (yaml.safe_load) on the same text. */

static struct mg_pv *load(const char *text)
{
  struct mg_pv *v = NULL;
  struct mg_err err = MG_ERR_INIT;

  assert_int_equal(mg_yaml_parse(text, strlen(text), "t.yaml", &v, &err), 0);
  return v;
}

static char *repr(const struct mg_pv *v)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

  mg_pv_repr(&b, v);
  return mg_buf_detach(&b, NULL);
}

static void test_scalars_yaml11(void **state)
{
  struct mg_pv *v = load("a: yes\nb: 'yes'\nc: 1e3\nd: 1.0\ne: 1.5e+3\n"
                         "f: 0x10\ng: 010\nh: ~\ni:\nj: -.inf\nk: 1_000\n"
                         "l: Off\nm: \"1\"\nn: 3\n");
  char *r = repr(v);

  (void)state;
  assert_string_equal(r, "{'a': True, 'b': 'yes', 'c': '1e3', 'd': 1.0, "
                         "'e': 1500.0, 'f': 16, 'g': 8, 'h': None, "
                         "'i': None, 'j': -inf, 'k': 1000, 'l': False, "
                         "'m': '1', 'n': 3}");
  free(r);
  mg_pv_unref(v);
}

static void test_strings_and_lists(void **state)
{
  struct mg_pv *v = load(
      "doc_to_text: \"{{question.strip()}}\\nA. {{choices[0]}}\\nAnswer:\"\n"
      "doc_to_choice: [\"A\", \"B\"]\n"
      "desc: >\n  folded\n  text\n"
      "until:\n  - \"\\n\\n\"\n  - \"Question:\"\n");
  char *r = repr(v);

  (void)state;
  assert_string_equal(r, "{'doc_to_text': '{{question.strip()}}\\nA. "
                         "{{choices[0]}}\\nAnswer:', 'doc_to_choice': "
                         "['A', 'B'], 'desc': 'folded text\\n', 'until': "
                         "['\\n\\n', 'Question:']}");
  free(r);
  mg_pv_unref(v);
}

static void test_tags_anchors_merge(void **state)
{
  struct mg_pv *v = load("process_docs: !function utils.process_docs\n"
                         "base: &b {x: 1, y: 2}\n"
                         "other:\n  <<: *b\n  y: 3\n"
                         "s: !!str 12\n");
  const struct mg_pv *pd = mg_pv_dict_get(v, "process_docs");
  char *r = repr(mg_pv_dict_get(v, "other"));

  (void)state;
  assert_int_equal(pd->type, MG_PV_TAGGED);
  assert_string_equal(pd->u.tagged.tag, "!function");
  assert_string_equal(pd->u.tagged.value, "utils.process_docs");
  assert_string_equal(r, "{'x': 1, 'y': 3}");
  assert_string_equal(mg_pv_cstr(mg_pv_dict_get(v, "s")), "12");
  free(r);
  mg_pv_unref(v);
}

static void test_errors(void **state)
{
  struct mg_pv *v = NULL;
  struct mg_err err = MG_ERR_INIT;
  static const char bad[] = "task: x\ndoc_to_text: \"unterminated\n";

  (void)state;
  assert_int_equal(mg_yaml_parse(bad, strlen(bad), "bad.yaml", &v, &err), -1);
  assert_null(v);
  assert_int_equal(err.cat, MG_ERR_DATA);
  assert_non_null(strstr(err.msg, "malformed YAML in 'bad.yaml' at line 3"));
  assert_int_equal(mg_yaml_parse("a: *nope\n", 9, "b.yaml", &v, &err), -1);
  assert_non_null(strstr(err.msg, "line 1"));
  assert_int_equal(mg_yaml_load("/no/such/file.yaml", &v, &err), -1);
  assert_int_equal(err.cat, MG_ERR_IO);
  /* an empty document is None */
  assert_int_equal(mg_yaml_parse("", 0, "e", &v, &err), 0);
  assert_int_equal(v->type, MG_PV_NONE);
  mg_pv_unref(v);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_scalars_yaml11),
    cmocka_unit_test(test_strings_and_lists),
    cmocka_unit_test(test_tags_anchors_merge),
    cmocka_unit_test(test_errors),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
