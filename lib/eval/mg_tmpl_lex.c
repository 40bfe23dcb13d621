/*
 * The template lexer: tokens of expressions and statement tags.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "eval/mg_eval_int.h"
#include "mg_buf.h"
#include "mg_err.h"
#include "mg_mem.h"
#include "py/mg_pv.h"

int mg_tmpl_lex_error(struct parser *p, size_t pos, const char *fmt, ...)
{
  va_list ap;
  int rc;

  va_start(ap, fmt);
  rc = mg_tmpl_verr_at(p->err, p->name, p->src, pos, fmt, ap);
  va_end(ap);
  return rc;
}

static int is_name_start(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

int mg_tmpl_lex_is_name_char(char c)
{
  return is_name_start(c) || (c >= '0' && c <= '9');
}

void mg_tmpl_lex_clear(struct tok *t)
{
  mg_pv_unref(t->val);
  t->val = NULL;
}

static int lex_string(struct parser *p, struct tok *t)
{
  char q = p->src[p->i];
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  size_t start = p->i;

  p->i++;
  for (;;) {
    char c;

    if (p->i >= p->len) {
      mg_buf_release(&b);
      return mg_tmpl_lex_error(p, start, "unterminated string");
    }
    c = p->src[p->i++];
    if (c == q)
      break;
    if (c == '\\' && p->i < p->len) {
      char e = p->src[p->i++];

      switch (e) {
      case 'n':
        mg_buf_addch(&b, '\n', NULL);
        break;
      case 't':
        mg_buf_addch(&b, '\t', NULL);
        break;
      case 'r':
        mg_buf_addch(&b, '\r', NULL);
        break;
      case '\\':
      case '\'':
      case '"':
        mg_buf_addch(&b, e, NULL);
        break;
      case 'u':
      case 'x': {
        int nd = e == 'u' ? 4 : 2;
        unsigned cp = 0;
        utf8proc_uint8_t tmp[4];
        utf8proc_ssize_t k;

        for (int d = 0; d < nd && p->i < p->len; d++) {
          char h = p->src[p->i++];

          cp = cp * 16
               + (unsigned)(h >= 'a'   ? h - 'a' + 10
                            : h >= 'A' ? h - 'A' + 10
                                       : h - '0');
        }
        k = utf8proc_encode_char((utf8proc_int32_t)cp, tmp);
        mg_buf_add(&b, tmp, (size_t)k, NULL);
        break;
      }
      default:
        mg_buf_addch(&b, '\\', NULL);
        mg_buf_addch(&b, e, NULL);
      }
      continue;
    }
    mg_buf_addch(&b, c, NULL);
  }
  t->type = T_STR;
  t->val = mg_pv_str_buf(&b);
  return 0;
}

static int lex(struct parser *p, struct tok *t)
{
  static const char *const ops3[] = {
    "**", "//", "==", "!=", "<=", ">=", NULL
  };
  char c;

  memset(t, 0, sizeof(*t));
  while (p->i < p->len
         && (p->src[p->i] == ' ' || p->src[p->i] == '\t' || p->src[p->i] == '\n'
             || p->src[p->i] == '\r'))
    p->i++;
  t->pos = p->i;
  if (p->i >= p->len) {
    t->type = T_END;
    return 0;
  }
  c = p->src[p->i];
  /* closing delimiter, possibly with whitespace control */
  if ((c == '-' || c == '+') && p->i + 2 < p->len + 0
      && strncmp(p->src + p->i + 1, p->close, 2) == 0) {
    t->type = T_CLOSE;
    t->strip_after = c == '-';
    t->keep_after = c == '+';
    p->i += 3;
    return 0;
  }
  if (strncmp(p->src + p->i, p->close, 2) == 0) {
    t->type = T_CLOSE;
    p->i += 2;
    return 0;
  }
  if (c == '\'' || c == '"')
    return lex_string(p, t);
  if (c >= '0' && c <= '9') {
    size_t s = p->i;
    int is_float = 0;
    char *tmp, *end;
    size_t k = 0;

    while (p->i < p->len
           && ((p->src[p->i] >= '0' && p->src[p->i] <= '9')
               || p->src[p->i] == '_'))
      p->i++;
    if (p->i + 1 < p->len && p->src[p->i] == '.' && p->src[p->i + 1] >= '0'
        && p->src[p->i + 1] <= '9') {
      is_float = 1;
      p->i++;
      while (p->i < p->len
             && ((p->src[p->i] >= '0' && p->src[p->i] <= '9')
                 || p->src[p->i] == '_'))
        p->i++;
    }
    if (p->i < p->len && (p->src[p->i] == 'e' || p->src[p->i] == 'E')) {
      size_t save = p->i;

      p->i++;
      if (p->i < p->len && (p->src[p->i] == '+' || p->src[p->i] == '-'))
        p->i++;
      if (p->i < p->len && p->src[p->i] >= '0' && p->src[p->i] <= '9') {
        is_float = 1;
        while (p->i < p->len && p->src[p->i] >= '0' && p->src[p->i] <= '9')
          p->i++;
      } else {
        p->i = save;
      }
    }
    tmp = mg_xmalloc(p->i - s + 1);
    for (size_t j = s; j < p->i; j++)
      if (p->src[j] != '_')
        tmp[k++] = p->src[j];
    tmp[k] = '\0';
    if (is_float) {
      t->type = T_FLOAT;
      t->val = mg_pv_float(strtod(tmp, &end));
    } else {
      t->type = T_INT;
      t->val = mg_pv_int(strtoll(tmp, &end, 10));
    }
    free(tmp);
    return 0;
  }
  if (is_name_start(c)) {
    size_t s = p->i;

    while (p->i < p->len && mg_tmpl_lex_is_name_char(p->src[p->i]))
      p->i++;
    t->type = T_NAME;
    t->len = p->i - s;
    return 0;
  }
  for (size_t j = 0; ops3[j]; j++)
    if (strncmp(p->src + p->i, ops3[j], 2) == 0) {
      t->type = T_OP;
      memcpy(t->op, ops3[j], 2);
      p->i += 2;
      return 0;
    }
  if (strchr("+-*/%~<>()[]{}.,:|=", c)) {
    t->type = T_OP;
    t->op[0] = c;
    p->i++;
    return 0;
  }
  return mg_tmpl_lex_error(p, p->i, "unexpected character '%c'", c);
}

int mg_tmpl_lex_peek(struct parser *p)
{
  if (!p->have) {
    if (lex(p, &p->t) < 0)
      return -1;
    p->have = 1;
  }
  return 0;
}

void mg_tmpl_lex_advance(struct parser *p)
{
  mg_tmpl_lex_clear(&p->t);
  p->have = 0;
}

int mg_tmpl_lex_at_op(struct parser *p, const char *op)
{
  return p->have && p->t.type == T_OP && strcmp(p->t.op, op) == 0;
}

int mg_tmpl_lex_at_name(struct parser *p, const char *w)
{
  return p->have && p->t.type == T_NAME && strlen(w) == p->t.len
         && strncmp(p->src + p->t.pos, w, p->t.len) == 0;
}

char *mg_tmpl_lex_name(struct parser *p)
{
  return mg_xstrndup(p->src + p->t.pos, p->t.len);
}

int mg_tmpl_lex_expect_op(struct parser *p, const char *op)
{
  if (mg_tmpl_lex_peek(p) < 0)
    return -1;
  if (!mg_tmpl_lex_at_op(p, op))
    return mg_tmpl_lex_error(p, p->t.pos, "expected '%s'", op);
  mg_tmpl_lex_advance(p);
  return 0;
}

/* ------------------------------------------------------------------ */
/* Expression parser                                                   */
