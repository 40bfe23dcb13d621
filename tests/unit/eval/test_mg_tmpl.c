#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "eval/mg_tmpl.h"
#include "mg_buf.h"
#include "mg_err.h"
#include "mg_mem.h"
#include "py/mg_pv.h"

/* Expected renderings were produced by jinja2 3.1.6 with lm-eval's
 * environment (StrictUndefined, keep_trailing_newline). */

static struct mg_pv *doc;

static int setup(void **state)
{
  static const char src[] =
      "{\"question\": \"  What is 2+2? \", \"choices\": [\"3\", \"4\", \"5\", "
      "\"6\"], \"answer\": 1, \"ch\": {\"text\": [\"a\", \"b's\"], \"label\": "
      "[\"A\", \"B\"]}, \"answerKey\": \"B\", \"f\": 1.5, \"n\": null, "
      "\"s\": \"Hello World foo\", \"nums\": [3, 1, 2], \"d\": {\"x\": 1}}";
  struct mg_err err = MG_ERR_INIT;

  (void)state;
  return mg_pv_parse(src, strlen(src), MG_PV_JSON, "doc", &doc, &err);
}

static int teardown(void **state)
{
  (void)state;
  mg_pv_unref(doc);
  return 0;
}

static void check(const char *tmpl, const char *want)
{
  struct mg_tmpl *t;
  struct mg_err err = MG_ERR_INIT;
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

  if (mg_tmpl_compile(tmpl, strlen(tmpl), "t", &t, &err) < 0)
    fail_msg("compile: %s", err.msg);
  if (mg_tmpl_render(t, doc, &b, &err) < 0)
    fail_msg("render: %s", err.msg);
  assert_string_equal(b.data ? b.data : "", want);
  mg_buf_release(&b);
  mg_tmpl_free(t);
}

static void check_err(const char *tmpl, const char *want)
{
  struct mg_tmpl *t;
  struct mg_err err = MG_ERR_INIT;
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

  if (mg_tmpl_compile(tmpl, strlen(tmpl), "t", &t, &err) == 0) {
    assert_int_equal(mg_tmpl_render(t, doc, &b, &err), -1);
    mg_tmpl_free(t);
  }
  if (!strstr(err.msg, want))
    fail_msg("error '%s' lacks '%s'", err.msg, want);
  assert_int_equal(err.cat, MG_ERR_DATA);
  mg_buf_release(&b);
}

/* Syntax errors free what the parser built (checked by LeakSanitizer under
 * make check-asan): an empty subscript used to leak its item node. */
static void test_syntax_errors_free_everything(void **state)
{
  static const char *const bad[] = {
    "{{ a[] }}", "{{ a.b[] }}", "{{ a[1:2:3:4] }}",
    "{{ a[1 }}", "{{ f(a, }}",  "{% for x in y %}{{ y[] }}{% endfor %}",
    "{{ a. }}",
  };

  (void)state;
  for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
    struct mg_tmpl *t = NULL;
    struct mg_err err = MG_ERR_INIT;

    assert_int_equal(mg_tmpl_compile(bad[i], strlen(bad[i]), "t", &t, &err),
                     -1);
    assert_null(t);
    assert_int_equal(err.cat, MG_ERR_DATA);
  }
  check_err("{{ a[] }}", "empty subscript");
}

/* Every filter the engine has is found by name (the table is sorted for
 * its binary search), and an unknown one is refused. */
static void test_every_filter_is_found(void **state)
{
  static const char *const names[] = {
    "abs",           "capitalize", "count",   "d",       "default",
    "first",         "float",      "int",     "items",   "join",
    "last",          "length",     "list",    "lower",   "map",
    "regex_replace", "rejectattr", "replace", "reverse", "round",
    "selectattr",    "sort",       "string",  "sum",     "title",
    "tojson",        "trim",       "unique",  "upper",   "wordcount",
  };

  (void)state;
  for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
    char *src = mg_xasprintf("{{ 1 | %s }}", names[i]);
    struct mg_tmpl *t = NULL;
    struct mg_err err = MG_ERR_INIT;
    struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

    assert_int_equal(mg_tmpl_compile(src, strlen(src), "t", &t, &err), 0);
    if (mg_tmpl_render(t, doc, &b, &err) < 0 && strstr(err.msg, "no filter"))
      fail_msg("filter '%s' not found: %s", names[i], err.msg);
    mg_tmpl_free(t);
    mg_buf_release(&b);
    free(src);
  }
  check_err("{{ 1 | no_such_filter }}", "no filter named 'no_such_filter'");
}

static void test_lm_eval_prompts(void **state)
{
  (void)state;
  check("{{question.strip()}}\nA. {{choices[0]}}\nB. {{choices[1]}}\nAnswer:",
        "What is 2+2?\nA. 3\nB. 4\nAnswer:");
  check("Q\n{% for c in choices %}- ({{'ABCD'[loop.index0]}}) {{c}}\n"
        "{% endfor %}\nAnswer:",
        "Q\n- (A) 3\n- (B) 4\n- (C) 5\n- (D) 6\n\nAnswer:");
  check("{{ch.label.index(answerKey)}}", "1");
  check("{{ch.text}}", "['a', \"b's\"]");
  check("{{[question, answerKey]}}", "['  What is 2+2? ', 'B']");
}

static void test_expressions(void **state)
{
  (void)state;
  check("{{ f }} {{ n }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 / 2 }} {{ -7 % 3 }}"
        " {{ 2 ** 10 }} {{ 'a' ~ 1 ~ none }}",
        "1.5 None 3 -4 3.5 2 1024 a1None");
  check("{{ s.split() }} {{ s.split(' ', 1) }} {{ s[1:4] }} {{ s[::-1] }}",
        "['Hello', 'World', 'foo'] ['Hello', 'World foo'] ell oof dlroW olleH");
  check("{{ 'yes' if answer else 'no' }} {{ zzz is defined }} "
        "{{ zzz|default('x') }} {{ 3 in nums }} {{ 1 < 2 < 3 }}",
        "yes False x True True");
  check(
      "{{ nums|sort }} {{ nums|first }} {{ nums|sum }} {{ choices|join(', ') }}"
      " {{ '2.7'|int }} {{ 2.5|round }} {{ (1, 2) }} {{ d.items()|list }}",
      "[1, 2, 3] 3 6 3, 4, 5, 6 2 2.0 (1, 2) [('x', 1)]");
  check("{% set x = choices|length %}{{ x * 2 }}"
        "{% for c in choices if c != '4' %}[{{loop.index}}/{{loop.length}}]"
        "{% endfor %}{% if answer == 2 %}two{% elif answer == 1 %}one"
        "{% else %}other{% endif %}",
        "8[1/3][2/3][3/3]one");
  check("{%- for i in range(3) -%}\n  {{ i }},\n{%- endfor %}\n", "0,1,2,\n");
  check("{{ 'ab [x] c'|regex_replace('\\\\[.*?\\\\]', '') }}", "ab  c");
  check("{{ '{} and {}'.format('a', 2) }} {{ s.startswith('He') }}",
        "a and 2 True");
}

static void test_strict_undefined(void **state)
{
  (void)state;
  check_err("{{ missing }}", "template 't' line 1 column 4: 'missing' is "
                             "undefined");
  check_err("ab\n{{ ch.nothere }}", "line 2 column 7: 'dict object' has no "
                                    "attribute 'nothere'");
  check_err("{{ choices[9] }}", "list object has no element 9");
  check_err("{{ 1 + 'a' }}", "unsupported operand type(s) for +");
  check_err("{{ choices.strip() }}", "'list object' has no attribute 'strip'");
  check_err("{% if %}", "line 1 column");
  check_err("{% for x in y %}", "unexpected end of template");
  check_err("{{ enumerate(choices) }}", "'enumerate' is undefined");
}

static void test_single_expression(void **state)
{
  struct mg_tmpl *t;
  struct mg_err err = MG_ERR_INIT;
  struct mg_pv *v;

  (void)state;
  assert_int_equal(mg_tmpl_compile("{{ch.text}}", 11, "c", &t, &err), 0);
  assert_true(mg_tmpl_is_single_expr(t));
  assert_int_equal(mg_tmpl_eval(t, doc, &v, &err), 0);
  assert_int_equal(v->type, MG_PV_LIST);
  assert_int_equal(v->u.list.n, 2);
  mg_pv_unref(v);
  mg_tmpl_free(t);
  assert_int_equal(mg_tmpl_compile("x {{a}}", 7, "c", &t, &err), 0);
  assert_false(mg_tmpl_is_single_expr(t));
  mg_tmpl_free(t);
  assert_true(mg_tmpl_has_syntax("a {% b %}"));
  assert_false(mg_tmpl_has_syntax("answer"));
}

static void check_flags(const char *tmpl, unsigned flags, const char *want)
{
  struct mg_tmpl *t;
  struct mg_err err = MG_ERR_INIT;
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

  if (mg_tmpl_compile_flags(tmpl, strlen(tmpl), "t", flags, &t, &err) < 0)
    fail_msg("compile: %s", err.msg);
  if (mg_tmpl_render(t, doc, &b, &err) < 0)
    fail_msg("render: %s", err.msg);
  assert_string_equal(b.data ? b.data : "", want);
  mg_buf_release(&b);
  mg_tmpl_free(t);
}

/* transformers' chat-template environment (ImmutableSandboxedEnvironment,
 * trim_blocks, lstrip_blocks, loopcontrols, its tojson); expected values
 * from jinja2 3.1.6 */
static void test_hf_environment(void **state)
{
  struct mg_tmpl *t;
  struct mg_err err = MG_ERR_INIT;
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

  (void)state;
  /* Jinja's documentation example for trim_blocks + lstrip_blocks */
  check_flags("<div>\n    {% if True %}\n        yay\n    {% endif %}\n"
              "</div>\n",
              MG_TMPL_HF_CHAT, "<div>\n        yay\n</div>");
  check_flags("{% for c in choices %}\n  {% if c == '5' %}{% break %}"
              "{% endif %}\n{{ c }}\n{% endfor %}",
              MG_TMPL_HF_CHAT, "3\n4\n");
  check_flags("{% for c in choices %}{% if loop.index0 % 2 %}{% continue %}"
              "{% endif %}{{ c }},{% endfor %}",
              MG_TMPL_HF_CHAT, "3,5,");
  check_flags("{% set ns = namespace(k=0, s='') %}{% for c in choices %}"
              "{% set ns.k = ns.k + 1 %}{% set ns.s = ns.s ~ c %}{% endfor %}"
              "{{ ns.k }} {{ ns.s }}",
              MG_TMPL_HF_CHAT, "4 3456");
  /* jinja2.Undefined */
  check_flags("[{{ nothing }}]{% if nothing %}x{% else %}y{% endif %}"
              "{{ nothing | length }}{% for z in nothing %}z{% endfor %}"
              "{{ nothing == nada }}{{ 'a' ~ nothing ~ 'b' }}"
              "{{ nothing | trim }}",
              MG_TMPL_HF_CHAT, "[]y0Trueab");
  check_flags(
      "{{ d | tojson }} {{ {'b': 1, 'a': ['\\u00e9', '<&>']} | tojson }}"
      " {{ nums | tojson(indent=2) }}",
      MG_TMPL_HF_CHAT,
      "{\"x\": 1} {\"b\": 1, \"a\": [\"\xc3\xa9\", \"<&>\"]} "
      "[\n  3,\n  1,\n  2\n]");
  check_flags("{{ [{'r': 'u', 'c': 1}, {'r': 's', 'c': 2}, {'r': 'u', 'c': 3}]"
              " | selectattr('r', 'equalto', 'u') | map(attribute='c') | list"
              " }}{{ [{'r': 'u'}, {'r': ''}] | rejectattr('r') | list | length"
              " }}",
              MG_TMPL_HF_CHAT, "[1, 3]1");
  check_flags("  {# note #}\n  {%+ if true %}a{% endif +%}\nb\n",
              MG_TMPL_HF_CHAT, "  a\nb");
  check_flags("{% generation %}gen{% endgeneration %}\n", MG_TMPL_HF_CHAT,
              "gen");
  /* lm-eval's environment: Jinja's own tojson, namespaces, newlines */
  check_flags("{{ {'b': 1, 'a': ['\\u00e9', \"<'&>\"]} | tojson }}", 0,
              "{\"a\": [\"\\u00e9\", \"\\u003c\\u0027\\u0026\\u003e\"], "
              "\"b\": 1}");
  check_flags("{% set ns = namespace(n=1) %}{% for x in nums %}"
              "{% set ns.n = ns.n * x %}{% endfor %}{{ ns.n }}",
              0, "6");
  check_flags("a\r\nb\rc\n", 0, "a\nb\nc\n");
  /* still errors: attribute of an undefined value, assignment into a
   * plain dict, break outside a loop, raise_exception */
  assert_int_equal(mg_tmpl_compile_flags("{{ nothing.attr }}", 18, "t",
                                         MG_TMPL_HF_CHAT, &t, &err),
                   0);
  assert_int_equal(mg_tmpl_render(t, doc, &b, &err), -1);
  assert_non_null(strstr(err.msg, "'nothing' is undefined"));
  mg_tmpl_free(t);
  assert_int_equal(
      mg_tmpl_compile_flags("{% set d.x = 2 %}", 17, "t", 0, &t, &err), 0);
  assert_int_equal(mg_tmpl_render(t, doc, &b, &err), -1);
  assert_non_null(strstr(err.msg, "non-namespace"));
  mg_tmpl_free(t);
  assert_int_equal(
      mg_tmpl_compile_flags("{% break %}", 11, "t", MG_TMPL_HF_CHAT, &t, &err),
      -1);
  assert_non_null(strstr(err.msg, "outside of a loop"));
  assert_int_equal(
      mg_tmpl_compile_flags("{{ raise_exception('no ' ~ answer) }}", 37, "t",
                            MG_TMPL_HF_CHAT, &t, &err),
      0);
  assert_int_equal(mg_tmpl_render(t, doc, &b, &err), -1);
  assert_non_null(strstr(err.msg, "raise_exception: no 1"));
  mg_tmpl_free(t);
  /* lm-eval's environment has no raise_exception */
  assert_int_equal(
      mg_tmpl_compile_flags("{{ raise_exception('x') }}", 26, "t", 0, &t, &err),
      0);
  assert_int_equal(mg_tmpl_render(t, doc, &b, &err), -1);
  assert_non_null(strstr(err.msg, "'raise_exception' is undefined"));
  mg_tmpl_free(t);
  mg_buf_release(&b);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_lm_eval_prompts),
    cmocka_unit_test(test_syntax_errors_free_everything),
    cmocka_unit_test(test_every_filter_is_found),
    cmocka_unit_test(test_expressions),
    cmocka_unit_test(test_strict_undefined),
    cmocka_unit_test(test_single_expression),
    cmocka_unit_test(test_hf_environment),
  };

  return cmocka_run_group_tests(tests, setup, teardown);
}
