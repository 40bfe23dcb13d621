#include "eval/mg_chat.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval/mg_tmpl.h"
#include "mg_buf.h"
#include "mg_err.h"
#include "mg_io.h"
#include "mg_mem.h"
#include "py/mg_pv.h"

#define CONFIG_MAX ((size_t)64 << 20)

struct mg_chat {
  struct mg_pv *special; /* transformers' special_tokens_map */
  char *template_src;
  struct mg_tmpl *tmpl;
  struct mg_err tmpl_err; /* why tmpl is NULL when template_src is set */
};

/* transformers' SPECIAL_TOKENS_ATTRIBUTES, in its order */
static const char *const special_names[] = {
  "bos_token", "eos_token", "unk_token",  "sep_token",
  "pad_token", "cls_token", "mask_token", "additional_special_tokens",
  NULL,
};

/* A token as configs spell it: "x" or {"content": "x", ...}. */
static struct mg_pv *token_value(const struct mg_pv *v)
{
  if (!v)
    return NULL;
  if (v->type == MG_PV_STR)
    return mg_pv_ref((struct mg_pv *)v);
  if (v->type == MG_PV_DICT) {
    const struct mg_pv *c = mg_pv_dict_get(v, "content");

    if (c && c->type == MG_PV_STR)
      return mg_pv_ref((struct mg_pv *)c);
  }
  return NULL;
}

/* Adds the special tokens cfg names that special lacks. */
static void add_specials(struct mg_pv *special, const struct mg_pv *cfg)
{
  if (!cfg || cfg->type != MG_PV_DICT)
    return;
  for (size_t i = 0; special_names[i]; i++) {
    const struct mg_pv *v = mg_pv_dict_get(cfg, special_names[i]);

    if (!v || mg_pv_dict_get(special, special_names[i]))
      continue;
    if (v->type == MG_PV_LIST) {
      struct mg_pv *l = mg_pv_list();

      for (size_t k = 0; k < v->u.list.n; k++) {
        struct mg_pv *t = token_value(v->u.list.v[k]);

        if (t)
          mg_pv_list_append(l, t);
      }
      if (l->u.list.n)
        mg_pv_dict_sets(special, special_names[i], l);
      else
        mg_pv_unref(l);
    } else {
      struct mg_pv *t = token_value(v);

      if (t)
        mg_pv_dict_sets(special, special_names[i], t);
    }
  }
}

/* chat_template: a string, or a list of {"name", "template"} of which
 * transformers uses "default". */
static const char *template_of(const struct mg_pv *cfg)
{
  const struct mg_pv *t = mg_pv_dict_get(cfg, "chat_template");

  if (!t)
    return NULL;
  if (t->type == MG_PV_STR)
    return t->u.str.s;
  if (t->type == MG_PV_LIST)
    for (size_t i = 0; i < t->u.list.n; i++) {
      const struct mg_pv *e = t->u.list.v[i];
      const char *name = mg_pv_cstr(mg_pv_dict_get(e, "name"));

      if (name && !strcmp(name, "default"))
        return mg_pv_cstr(mg_pv_dict_get(e, "template"));
    }
  return NULL;
}

int mg_chat_from_config(const struct mg_pv *config, const char *template_src,
                        const char *name, struct mg_chat **out,
                        struct mg_err *err)
{
  struct mg_chat *c;
  const char *src = template_src;

  *out = NULL;
  if (config && config->type != MG_PV_DICT)
    return mg_err_set(err, MG_ERR_DATA,
                      "the tokenizer config of '%s' is not a JSON object",
                      name);
  c = mg_xcalloc(1, sizeof(*c));
  c->special = mg_pv_dict();
  add_specials(c->special, config);
  if (!src && config)
    src = template_of(config);
  if (src) {
    /* a template this subset cannot compile fails only when used */
    char *tname = mg_xasprintf("chat_template of %s", name);

    (void)mg_tmpl_compile_flags(src, strlen(src), tname, MG_TMPL_HF_CHAT,
                                &c->tmpl, &c->tmpl_err);
    free(tname);
    c->template_src = mg_xstrdup(src);
  }
  *out = c;
  return 0;
}

/* Reads dir/name as a value; *v NULL when the file does not exist. */
static int read_json(const char *dir, const char *name, struct mg_pv **v,
                     struct mg_err *err)
{
  char *path = mg_xasprintf("%s/%s", dir, name);
  struct mg_buf b = MG_BUF_INIT(CONFIG_MAX);
  int rc = 0;

  *v = NULL;
  if (access(path, F_OK) == 0) {
    rc = mg_io_read_file(path, &b, err);
    if (rc == 0)
      rc = mg_pv_parse(b.data ? b.data : "", b.len, MG_PV_JSON, path, v, err);
  }
  mg_buf_release(&b);
  free(path);
  return rc;
}

int mg_chat_load(const char *path, struct mg_chat **out, struct mg_err *err)
{
  struct mg_pv *cfg = NULL, *map = NULL, *tj = NULL;
  char *dir, *tsrc = NULL;
  const char *src = NULL;
  struct mg_buf b = MG_BUF_INIT(CONFIG_MAX);
  int rc = -1;

  *out = NULL;
  {
    size_t n = strlen(path);
    const char *slash;

    if (n > 5 && !strcmp(path + n - 5, ".json")) {
      slash = strrchr(path, '/');
      dir = slash ? mg_xstrndup(path, (size_t)(slash - path)) : mg_xstrdup(".");
    } else {
      dir = mg_xstrdup(path);
    }
  }
  if (read_json(dir, "tokenizer_config.json", &cfg, err) < 0
      || read_json(dir, "special_tokens_map.json", &map, err) < 0)
    goto out;
  if (!cfg || !template_of(cfg)) {
    /* newer models keep the template in its own file */
    char *p = mg_xasprintf("%s/chat_template.jinja", dir);

    if (access(p, F_OK) == 0) {
      if (mg_io_read_file(p, &b, err) < 0) {
        free(p);
        goto out;
      }
      mg_buf_addch(&b, '\0', NULL);
      tsrc = mg_buf_detach(&b, NULL);
      src = tsrc;
    }
    free(p);
    if (!src) {
      if (read_json(dir, "chat_template.json", &tj, err) < 0)
        goto out;
      src = tj ? template_of(tj) : NULL;
    }
  }
  if (mg_chat_from_config(cfg, src, dir, out, err) < 0)
    goto out;
  add_specials((*out)->special, map);
  rc = 0;
out:
  mg_buf_release(&b);
  mg_pv_unref(cfg);
  mg_pv_unref(map);
  mg_pv_unref(tj);
  free(tsrc);
  free(dir);
  return rc;
}

void mg_chat_free(struct mg_chat *c)
{
  if (!c)
    return;
  mg_pv_unref(c->special);
  mg_tmpl_free(c->tmpl);
  free(c->template_src);
  free(c);
}

const char *mg_chat_bos(const struct mg_chat *c)
{
  return c ? mg_pv_cstr(mg_pv_dict_get(c->special, "bos_token")) : NULL;
}

const char *mg_chat_eos(const struct mg_chat *c)
{
  return c ? mg_pv_cstr(mg_pv_dict_get(c->special, "eos_token")) : NULL;
}

const char *mg_chat_special(const struct mg_chat *c, const char *name)
{
  return c ? mg_pv_cstr(mg_pv_dict_get(c->special, name)) : NULL;
}

const char *mg_chat_template(const struct mg_chat *c)
{
  return c ? c->template_src : NULL;
}

int mg_chat_ready(const struct mg_chat *c, struct mg_err *err)
{
  if (!c || !c->template_src)
    return mg_err_set(err, MG_ERR_DATA,
                      "the tokenizer has no chat template (chat_template in "
                      "tokenizer_config.json)");
  if (!c->tmpl) {
    *err = c->tmpl_err;
    return -1;
  }
  return 0;
}

/* Last occurrence of needle in hay, or NULL. */
static const char *mem_rfind(const char *hay, size_t hn, const char *needle,
                             size_t nn)
{
  if (nn > hn)
    return NULL;
  for (size_t i = hn - nn + 1; i-- > 0;)
    if (memcmp(hay + i, needle, nn) == 0)
      return hay + i;
  return NULL;
}

int mg_chat_render(const struct mg_chat *c, const struct mg_pv *messages,
                   int add_generation_prompt, int continue_final_message,
                   struct mg_pv **out, struct mg_err *err)
{
  struct mg_pv *vars, *text = NULL;
  int rc;

  *out = NULL;
  if (mg_chat_ready(c, err) < 0)
    return -1;
  /* apply_chat_template's variables: the special tokens, then its own */
  vars = mg_pv_copy(c->special);
  mg_pv_dict_sets(vars, "messages", mg_pv_ref((struct mg_pv *)messages));
  mg_pv_dict_sets(vars, "tools", mg_pv_none());
  mg_pv_dict_sets(vars, "documents", mg_pv_none());
  mg_pv_dict_sets(vars, "add_generation_prompt",
                  mg_pv_bool(add_generation_prompt));
  rc = mg_tmpl_render_pv(c->tmpl, vars, &text, err);
  mg_pv_unref(vars);
  if (rc < 0)
    return -1;
  if (continue_final_message && messages->type == MG_PV_LIST
      && messages->u.list.n) {
    /* cut after the final message's (stripped) content */
    const struct mg_pv *last = messages->u.list.v[messages->u.list.n - 1];
    const struct mg_pv *content = mg_pv_dict_get(last, "content");
    struct mg_pv *fin;
    const char *at;

    if (!content || content->type != MG_PV_STR) {
      mg_pv_unref(text);
      return mg_err_set(err, MG_ERR_DATA,
                        "continue_final_message: the final message has no "
                        "text content");
    }
    fin = mg_pv_str_strip(content);
    at =
        mem_rfind(text->u.str.s, text->u.str.len, fin->u.str.s, fin->u.str.len);
    if (!at) {
      mg_pv_unref(fin);
      mg_pv_unref(text);
      return mg_err_set(err, MG_ERR_DATA,
                        "continue_final_message is set but the final message "
                        "does not appear in the chat after applying the chat "
                        "template");
    }
    {
      struct mg_pv *cut = mg_pv_strn(text->u.str.s, (size_t)(at - text->u.str.s)
                                                        + fin->u.str.len);

      mg_pv_unref(text);
      text = cut;
    }
    mg_pv_unref(fin);
  }
  *out = text;
  return 0;
}
