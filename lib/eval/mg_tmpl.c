/*
 * Jinja2 templates: compile (normalise the source, parse) and render; the
 * parts are in mg_tmpl_lex.c, mg_tmpl_parse.c, mg_tmpl_run.c and
 * mg_tmpl_filter.c (lib/eval/mg_eval_int.h).
 */
#include "eval/mg_tmpl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/mg_eval_int.h"
#include "mg_buf.h"
#include "mg_err.h"
#include "mg_mem.h"
#include "py/mg_pv.h"

static void line_col(const char *src, size_t pos, size_t *line, size_t *col)
{
  *line = 1;
  *col = 1;
  for (size_t i = 0; i < pos && src[i]; i++) {
    if (src[i] == '\n') {
      (*line)++;
      *col = 1;
    } else if (((unsigned char)src[i] & 0xC0) != 0x80) {
      (*col)++;
    }
  }
}

__attribute__((format(printf, 5, 0))) int
mg_tmpl_verr_at(struct mg_err *err, const char *name, const char *src,
                size_t pos, const char *fmt, va_list ap)
{
  char msg[200];
  size_t line, col;

  (void)vsnprintf(msg, sizeof(msg), fmt, ap);
  line_col(src, pos, &line, &col);
  return mg_err_set(err, MG_ERR_DATA, "template '%s' line %zu column %zu: %s",
                    name, line, col, msg);
}

int mg_tmpl_has_syntax(const char *src)
{
  return strstr(src, "{{") || strstr(src, "{%") || strstr(src, "{#");
}

int mg_tmpl_compile(const char *src, size_t len, const char *name,
                    struct mg_tmpl **out, struct mg_err *err)
{
  return mg_tmpl_compile_flags(src, len, name, 0, out, err);
}

int mg_tmpl_compile_flags(const char *src, size_t len, const char *name,
                          unsigned flags, struct mg_tmpl **out,
                          struct mg_err *err)
{
  struct mg_tmpl *t = mg_xcalloc(1, sizeof(*t));
  struct tparser tp;
  size_t k = 0;

  *out = NULL;
  t->name = mg_xstrdup(name);
  t->flags = flags;
  /* Jinja's lexer reads "\r\n" and "\r" as "\n", and without
   * keep_trailing_newline drops one newline at the very end */
  t->src = mg_xmalloc(len + 1);
  for (size_t i = 0; i < len; i++) {
    if (src[i] == '\r') {
      t->src[k++] = '\n';
      if (i + 1 < len && src[i + 1] == '\n')
        i++;
      continue;
    }
    t->src[k++] = src[i];
  }
  if ((flags & MG_TMPL_DROP_TRAILING_NL) && k && t->src[k - 1] == '\n')
    k--;
  t->src[k] = '\0';
  len = k;
  t->len = len;
  t->root = mg_tmpl_parse_node_new(N_BODY, 0);
  memset(&tp, 0, sizeof(tp));
  tp.flags = flags;
  tp.p.src = t->src;
  tp.p.len = len;
  tp.p.name = t->name;
  tp.p.err = err;
  if (mg_tmpl_parse_body(&tp, t->root, NULL, NULL, NULL) < 0) {
    mg_tmpl_lex_clear(&tp.p.t);
    mg_tmpl_free(t);
    return -1;
  }
  mg_tmpl_lex_clear(&tp.p.t);
  *out = t;
  return 0;
}

void mg_tmpl_free(struct mg_tmpl *t)
{
  if (!t)
    return;
  mg_tmpl_parse_node_free(t->root);
  free(t->name);
  free(t->src);
  free(t);
}

int mg_tmpl_render(const struct mg_tmpl *t, const struct mg_pv *vars,
                   struct mg_buf *out, struct mg_err *err)
{
  struct rctx r;
  int rc;

  mg_tmpl_run_rctx_init(&r, t, vars, err);
  rc = mg_tmpl_run_render_body(&r, t->root, out);
  mg_tmpl_run_rctx_release(&r);
  return rc;
}

int mg_tmpl_render_pv(const struct mg_tmpl *t, const struct mg_pv *vars,
                      struct mg_pv **out, struct mg_err *err)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

  *out = NULL;
  if (mg_tmpl_render(t, vars, &b, err) < 0) {
    mg_buf_release(&b);
    return -1;
  }
  *out = mg_pv_str_buf(&b);
  return 0;
}

int mg_tmpl_is_single_expr(const struct mg_tmpl *t)
{
  return t->root->nk == 1 && t->root->k[0]->kind == N_OUT;
}

int mg_tmpl_eval(const struct mg_tmpl *t, const struct mg_pv *vars,
                 struct mg_pv **out, struct mg_err *err)
{
  struct rctx r;
  int rc;

  *out = NULL;
  if (!mg_tmpl_is_single_expr(t))
    return mg_err_set(err, MG_ERR_DATA,
                      "template '%s' is not a single expression", t->name);
  mg_tmpl_run_rctx_init(&r, t, vars, err);
  rc = mg_tmpl_run_evd(&r, t->root->k[0]->k[0], out);
  mg_tmpl_run_rctx_release(&r);
  return rc;
}
