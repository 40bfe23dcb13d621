#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "mg_json.h"
#include "py/mg_pv.h"

/* Expected texts come from CPython 3.11 (repr(), json.dumps). */

static void check_float(double f, const char *want)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

  mg_pv_float_repr(&b, f);
  assert_string_equal(b.data, want);
  mg_buf_release(&b);
}

static void test_float_repr(void **state)
{
  (void)state;
  check_float(1.0, "1.0");
  check_float(0.1, "0.1");
  check_float(1e-05, "1e-05");
  check_float(1e16, "1e+16");
  check_float(1e15, "1000000000000000.0");
  check_float(0.1 + 0.2, "0.30000000000000004");
  check_float(-0.0, "-0.0");
  check_float(123456789012345680.0, "1.2345678901234568e+17");
  check_float(2.5e-300, "2.5e-300");
  check_float(0.0001, "0.0001");
  check_float(1.0 / 3, "0.3333333333333333");
  check_float(INFINITY, "inf");
  check_float(NAN, "nan");
}

static char *repr_of(const char *s)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  struct mg_pv *v = mg_pv_str(s);

  mg_pv_repr(&b, v);
  mg_pv_unref(v);
  return mg_buf_detach(&b, NULL);
}

static void test_str_repr(void **state)
{
  char *r;

  (void)state;
  r = repr_of("it's");
  assert_string_equal(r, "\"it's\"");
  free(r);
  r = repr_of("a\"b");
  assert_string_equal(r, "'a\"b'");
  free(r);
  r = repr_of("it's \"x\"");
  assert_string_equal(r, "'it\\'s \"x\"'");
  free(r);
  r = repr_of("a\nb\x01\xc2\xa0\xc3\xa9\xe2\x80\xa8");
  assert_string_equal(r, "'a\\nb\\x01\\xa0\xc3\xa9\\u2028'");
  free(r);
}

static void test_dumps_like_python(void **state)
{
  static const char src[] = "{\"q\": \"\xc3\xa9\\n\\\"\", \"l\": [1, 2.0, "
                            "null, true, []], \"d\": {}, "
                            "\"n\": {\"x\": [{\"y\": 1}]}}";
  static const char pretty[] = "{\n  \"q\": \"\xc3\xa9\\n\\\"\",\n  \"l\": [\n"
                               "    1,\n    2.0,\n    null,\n    true,\n"
                               "    []\n  ],\n  \"d\": {},\n  \"n\": {\n"
                               "    \"x\": [\n      {\n        \"y\": 1\n"
                               "      }\n    ]\n  }\n}";
  struct mg_pv *v;
  struct mg_err err = MG_ERR_INIT;
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

  (void)state;
  assert_int_equal(mg_pv_parse(src, strlen(src), MG_PV_JSON, "t", &v, &err), 0);
  mg_pv_dumps(&b, v, -1);
  assert_string_equal(b.data, src);
  mg_buf_reset(&b);
  mg_pv_dumps(&b, v, 2);
  assert_string_equal(b.data, pretty);
  /* 1 stays an int, 2.0 a float */
  assert_int_equal(mg_pv_at(mg_pv_dict_get(v, "l"), 0)->type, MG_PV_INT);
  assert_int_equal(mg_pv_at(mg_pv_dict_get(v, "l"), 1)->type, MG_PV_FLOAT);
  mg_buf_release(&b);
  mg_pv_unref(v);
}

static void test_parse_errors(void **state)
{
  struct mg_pv *v = NULL;
  struct mg_err err = MG_ERR_INIT;

  (void)state;
  assert_int_equal(mg_pv_parse("[1, 2", 5, MG_PV_JSON, "x.json", &v, &err), -1);
  assert_null(v);
  assert_int_equal(err.cat, MG_ERR_DATA);
  assert_non_null(strstr(err.msg, "malformed JSON in 'x.json' at byte 5"));
  assert_int_equal(mg_pv_parse("{} x", 4, MG_PV_JSON, "y", &v, &err), -1);
  assert_non_null(strstr(err.msg, "after the value"));
  assert_int_equal(mg_pv_parse("'a'", 3, MG_PV_JSON, "z", &v, &err), -1);
}

static void test_literal_eval(void **state)
{
  static const char src[] = "['a', \"b\", 1, -2.5, True, None, (1,), ()]";
  struct mg_pv *v;
  struct mg_err err = MG_ERR_INIT;
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

  (void)state;
  assert_int_equal(mg_pv_parse(src, strlen(src), MG_PV_PYLIT, "lit", &v, &err),
                   0);
  mg_pv_repr(&b, v);
  assert_string_equal(b.data, "['a', 'b', 1, -2.5, True, None, (1,), ()]");
  mg_buf_release(&b);
  mg_pv_unref(v);
}

static void test_equality_and_dicts(void **state)
{
  struct mg_pv *i = mg_pv_int(1), *f = mg_pv_float(1.0), *t = mg_pv_bool(1);
  struct mg_pv *l = mg_pv_list(), *tu = mg_pv_tuple(), *d = mg_pv_dict();
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

  (void)state;
  assert_true(mg_pv_equal(i, f) && mg_pv_equal(i, t) && mg_pv_equal(f, t));
  mg_pv_list_append(l, mg_pv_int(1));
  mg_pv_list_append(tu, mg_pv_int(1));
  assert_false(mg_pv_equal(l, tu));
  mg_pv_dict_sets(d, "a", mg_pv_int(1));
  mg_pv_dict_sets(d, "b", mg_pv_int(2));
  mg_pv_dict_sets(d, "a", mg_pv_int(3));
  mg_pv_repr(&b, d);
  assert_string_equal(b.data, "{'a': 3, 'b': 2}");
  mg_pv_dict_del(d, "a");
  assert_null(mg_pv_dict_get(d, "a"));
  assert_int_equal(mg_pv_len(d), 1);
  mg_buf_release(&b);
  mg_pv_unref(i);
  mg_pv_unref(f);
  mg_pv_unref(t);
  mg_pv_unref(l);
  mg_pv_unref(tu);
  mg_pv_unref(d);
}

static void test_strings(void **state)
{
  struct mg_pv *s = mg_pv_str(" \t\xc2\xa0h\xc3\xa9llo W\n"), *x;

  (void)state;
  assert_int_equal(mg_pv_len(s), 11);
  x = mg_pv_str_strip(s);
  assert_string_equal(x->u.str.s, "h\xc3\xa9llo W");
  mg_pv_unref(x);
  mg_pv_unref(s);
  s = mg_pv_str("\xc3\xa9LAN and STYLE");
  x = mg_pv_str_capitalize(s);
  assert_string_equal(x->u.str.s, "\xc3\x89lan and style");
  mg_pv_unref(x);
  x = mg_pv_str_lower(s);
  assert_string_equal(x->u.str.s, "\xc3\xa9lan and style");
  mg_pv_unref(x);
  mg_pv_unref(s);
  assert_int_equal(mg_pv_utf8_offset("a\xc3\xa9z", 4, 2), 3);
}

static void test_json_interop(void **state)
{
  struct mg_json *j = NULL, *back;
  struct mg_pv *v;
  struct mg_err err = MG_ERR_INIT;

  (void)state;
  assert_int_equal(mg_json_parse("{\"a\": [1, 2.5, \"x\"]}", 20, "t", &j, &err),
                   0);
  v = mg_pv_from_json(j);
  assert_int_equal(mg_pv_at(mg_pv_dict_get(v, "a"), 0)->type, MG_PV_INT);
  back = mg_pv_to_json(v);
  assert_true(mg_json_equal(j, back));
  mg_json_free(back);
  mg_json_free(j);
  mg_pv_unref(v);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_float_repr),
    cmocka_unit_test(test_str_repr),
    cmocka_unit_test(test_dumps_like_python),
    cmocka_unit_test(test_parse_errors),
    cmocka_unit_test(test_literal_eval),
    cmocka_unit_test(test_equality_and_dicts),
    cmocka_unit_test(test_strings),
    cmocka_unit_test(test_json_interop),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
