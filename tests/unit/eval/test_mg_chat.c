#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "eval/mg_chat.h"
#include "mg_err.h"
#include "mg_io.h"
#include "mg_mem.h"
#include "py/mg_pv.h"

/* Expected renderings follow transformers' apply_chat_template (jinja2
 * 3.1.6 with trim_blocks, lstrip_blocks, no trailing newline). */

static char dir[64];

static void put(const char *name, const char *text)
{
  char *p = mg_xasprintf("%s/%s", dir, name);
  struct mg_err err = MG_ERR_INIT;

  assert_int_equal(mg_io_write_atomic(p, text, strlen(text), 0644, &err), 0);
  free(p);
}

static void drop(const char *name)
{
  char *p = mg_xasprintf("%s/%s", dir, name);

  (void)unlink(p);
  free(p);
}

static int setup(void **state)
{
  (void)state;
  (void)snprintf(dir, sizeof(dir), "/tmp/test_mg_chat.XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
  (void)state;
  drop("tokenizer_config.json");
  drop("special_tokens_map.json");
  drop("chat_template.jinja");
  drop("tokenizer.json");
  return rmdir(dir);
}

static struct mg_pv *msgs(const char *json)
{
  struct mg_pv *v;
  struct mg_err err = MG_ERR_INIT;

  assert_int_equal(mg_pv_parse(json, strlen(json), MG_PV_JSON, "m", &v, &err),
                   0);
  return v;
}

static void render_is(const struct mg_chat *c, const char *m, int gen, int cont,
                      const char *want)
{
  struct mg_pv *ml = msgs(m), *out;
  struct mg_err err = MG_ERR_INIT;

  if (mg_chat_render(c, ml, gen, cont, &out, &err) < 0)
    fail_msg("render: %s", err.msg);
  assert_string_equal(out->u.str.s, want);
  mg_pv_unref(out);
  mg_pv_unref(ml);
}

static void test_load_and_render(void **state)
{
  struct mg_chat *c;
  struct mg_err err = MG_ERR_INIT;
  char *tok = mg_xasprintf("%s/tokenizer.json", dir);
  static const char two[] =
      "[{\"role\": \"system\", \"content\": \"Be brief. \"}, "
      "{\"role\": \"user\", \"content\": \"Hi\"}, "
      "{\"role\": \"assistant\", \"content\": \" The answer is \"}]";

  (void)state;
  /* AddedToken objects, special_tokens_map for what the config lacks */
  put("tokenizer_config.json",
      "{\"bos_token\": {\"__type\": \"AddedToken\", \"content\": \"<s>\"}, "
      "\"chat_template\": \"{{ bos_token }}{% for m in messages %}\\n"
      "  {% if m.role == 'system' %}\\n[{{ m.content | trim }}]\\n"
      "  {% else %}\\n<{{ m.role }}>{{ m.content }}\\n  {% endif %}\\n"
      "{% endfor %}\\n{% if add_generation_prompt %}<assistant>{% endif %}"
      "{{ unk_token }}\\n\"}");
  put("special_tokens_map.json",
      "{\"bos_token\": \"<ignored>\", \"eos_token\": \"</s>\", "
      "\"unk_token\": {\"content\": \"<unk>\"}}");
  put("tokenizer.json", "{}");
  assert_int_equal(mg_chat_load(tok, &c, &err), 0);
  assert_string_equal(mg_chat_bos(c), "<s>");
  assert_string_equal(mg_chat_eos(c), "</s>");
  assert_non_null(mg_chat_template(c));
  render_is(c, "[{\"role\": \"user\", \"content\": \"Hi\"}]", 1, 0,
            "<s><user>Hi\n<assistant><unk>");
  render_is(c, two, 0, 1,
            "<s>[Be brief.]\n<user>Hi\n<assistant> The answer is");
  mg_chat_free(c);
  /* a list of named templates: "default" is used */
  put("tokenizer_config.json",
      "{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"T\"}, "
      "{\"name\": \"default\", \"template\": \"D{{ messages | length }}\"}]}");
  drop("special_tokens_map.json");
  assert_int_equal(mg_chat_load(dir, &c, &err), 0);
  assert_null(mg_chat_bos(c));
  render_is(c, "[]", 1, 0, "D0");
  mg_chat_free(c);
  /* no template in the config: chat_template.jinja */
  put("tokenizer_config.json", "{\"eos_token\": \"<|e|>\"}");
  put("chat_template.jinja", "{{ messages[0].content }}|{{ eos_token }}\n");
  assert_int_equal(mg_chat_load(dir, &c, &err), 0);
  render_is(c, "[{\"role\": \"user\", \"content\": \"q\"}]", 0, 0, "q|<|e|>");
  mg_chat_free(c);
  free(tok);
}

static void test_errors(void **state)
{
  struct mg_chat *c;
  struct mg_err err = MG_ERR_INIT;
  struct mg_pv *m, *out;

  (void)state;
  drop("chat_template.jinja");
  put("tokenizer_config.json", "{\"eos_token\": \"</s>\"}");
  assert_int_equal(mg_chat_load(dir, &c, &err), 0);
  assert_null(mg_chat_template(c));
  m = msgs("[{\"role\": \"user\", \"content\": \"x\"}]");
  assert_int_equal(mg_chat_render(c, m, 1, 0, &out, &err), -1);
  assert_non_null(strstr(err.msg, "no chat template"));
  mg_chat_free(c);
  /* the final message must appear in the rendering */
  put("tokenizer_config.json",
      "{\"chat_template\": \"{{ messages | length }}\"}");
  assert_int_equal(mg_chat_load(dir, &c, &err), 0);
  assert_int_equal(mg_chat_render(c, m, 0, 1, &out, &err), -1);
  assert_non_null(strstr(err.msg, "does not appear"));
  mg_chat_free(c);
  /* raise_exception */
  put("tokenizer_config.json",
      "{\"chat_template\": \"{{ raise_exception('roles: ' ~ messages[0].role) "
      "}}\"}");
  assert_int_equal(mg_chat_load(dir, &c, &err), 0);
  assert_int_equal(mg_chat_render(c, m, 1, 0, &out, &err), -1);
  assert_non_null(strstr(err.msg, "raise_exception: roles: user"));
  mg_chat_free(c);
  mg_pv_unref(m);
  /* malformed config, bad template */
  put("tokenizer_config.json", "{\"chat_template\": ");
  assert_int_equal(mg_chat_load(dir, &c, &err), -1);
  assert_int_equal(err.cat, MG_ERR_DATA);
  /* a template that does not compile: loads (its special tokens serve),
   * fails when used */
  put("tokenizer_config.json",
      "{\"eos_token\": \"E\", \"chat_template\": \"{% for %}\"}");
  assert_int_equal(mg_chat_load(dir, &c, &err), 0);
  assert_string_equal(mg_chat_eos(c), "E");
  assert_int_equal(mg_chat_ready(c, &err), -1);
  assert_non_null(strstr(err.msg, "chat_template of"));
  m = msgs("[]");
  assert_int_equal(mg_chat_render(c, m, 1, 0, &out, &err), -1);
  assert_non_null(strstr(err.msg, "chat_template of"));
  mg_pv_unref(m);
  mg_chat_free(c);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_load_and_render),
    cmocka_unit_test(test_errors),
  };

  return cmocka_run_group_tests(tests, setup, teardown);
}
