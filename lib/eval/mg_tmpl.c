#include "eval/mg_tmpl.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <utf8proc.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "mg_mem.h"
#include "py/mg_pv.h"
#include "py/mg_regex.h"

#define MAX_DEPTH 150
#define UNDEF_TAG "!undefined"

/* ------------------------------------------------------------------ */
/* AST                                                                 */

enum nk {
  N_BODY,
  N_TEXT,
  N_OUT,
  N_IF,
  N_FOR,
  N_SET,
  N_LIT,
  N_NAME,
  N_ATTR,
  N_ITEM,
  N_SLICE,
  N_CALL,
  N_FILTER,
  N_TEST,
  N_NEG,
  N_POS,
  N_NOT,
  N_BIN,
  N_CMP,
  N_AND,
  N_OR,
  N_COND,
  N_LIST,
  N_DICT,
  N_BREAK,
  N_CONTINUE,
};

enum binop {
  OP_ADD,
  OP_SUB,
  OP_MUL,
  OP_DIV,
  OP_FLOORDIV,
  OP_MOD,
  OP_POW,
  OP_CONCAT
};
enum cmpop { C_EQ, C_NE, C_LT, C_LE, C_GT, C_GE, C_IN, C_NOTIN };

struct node {
  enum nk kind;
  size_t pos;
  int op;
  int negate;
  char *name;
  struct mg_pv *lit;
  struct node **k;
  size_t nk, capk;
  char **kw;      /* CALL/FILTER/TEST: keyword name per child, or NULL */
  int *ops;       /* CMP operators */
  char **targets; /* FOR targets */
  size_t ntargets;
};

struct mg_tmpl {
  char *name;
  char *src;
  size_t len;
  unsigned flags; /* enum mg_tmpl_flags */
  struct node *root;
};

static struct node *new_node(enum nk kind, size_t pos)
{
  struct node *n = mg_xcalloc(1, sizeof(*n));

  n->kind = kind;
  n->pos = pos;
  return n;
}

static void add_kid(struct node *n, struct node *kid, const char *kw)
{
  if (n->nk == n->capk) {
    size_t old = n->capk;

    n->capk = n->capk ? 2 * n->capk : 4;
    n->k = mg_xreallocarray(n->k, n->capk, sizeof(*n->k));
    n->kw = mg_xreallocarray(n->kw, n->capk, sizeof(*n->kw));
    n->ops = mg_xreallocarray(n->ops, n->capk, sizeof(*n->ops));
    for (size_t i = old; i < n->capk; i++) {
      n->kw[i] = NULL;
      n->ops[i] = 0;
    }
  }
  n->kw[n->nk] = kw ? mg_xstrdup(kw) : NULL;
  n->k[n->nk++] = kid;
}

static void free_node(struct node *n)
{
  if (!n)
    return;
  for (size_t i = 0; i < n->nk; i++) {
    free_node(n->k[i]);
    free(n->kw[i]);
  }
  for (size_t i = 0; i < n->ntargets; i++)
    free(n->targets[i]);
  free(n->targets);
  free(n->k);
  free(n->kw);
  free(n->ops);
  free(n->name);
  mg_pv_unref(n->lit);
  free(n);
}

/* ------------------------------------------------------------------ */
/* Errors with positions                                               */

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

__attribute__((format(printf, 5, 0))) static int
verr_at(struct mg_err *err, const char *name, const char *src, size_t pos,
        const char *fmt, va_list ap)
{
  char msg[200];
  size_t line, col;

  (void)vsnprintf(msg, sizeof(msg), fmt, ap);
  line_col(src, pos, &line, &col);
  return mg_err_set(err, MG_ERR_DATA, "template '%s' line %zu column %zu: %s",
                    name, line, col, msg);
}

/* ------------------------------------------------------------------ */
/* Lexer                                                               */

enum tk { T_END, T_NAME, T_INT, T_FLOAT, T_STR, T_OP, T_CLOSE };

struct tok {
  enum tk type;
  size_t pos;
  size_t len; /* source span */
  char op[4];
  struct mg_pv *val; /* literal value for T_INT/T_FLOAT/T_STR */
  int strip_after;   /* T_CLOSE with '-' */
  int keep_after;    /* T_CLOSE with '+' */
};

struct parser {
  const char *src;
  size_t len, i;
  const char *name;
  struct mg_err *err;
  struct tok t;      /* current token */
  int have;          /* t is valid */
  const char *close; /* "}}" or "%}" */
  int depth;
};

static int perr(struct parser *p, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int perr(struct parser *p, size_t pos, const char *fmt, ...)
{
  va_list ap;
  int rc;

  va_start(ap, fmt);
  rc = verr_at(p->err, p->name, p->src, pos, fmt, ap);
  va_end(ap);
  return rc;
}

static int is_name_start(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_name_char(char c)
{
  return is_name_start(c) || (c >= '0' && c <= '9');
}

static void tok_clear(struct tok *t)
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
      return perr(p, start, "unterminated string");
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

    while (p->i < p->len && is_name_char(p->src[p->i]))
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
  return perr(p, p->i, "unexpected character '%c'", c);
}

static int peek(struct parser *p)
{
  if (!p->have) {
    if (lex(p, &p->t) < 0)
      return -1;
    p->have = 1;
  }
  return 0;
}

static void advance(struct parser *p)
{
  tok_clear(&p->t);
  p->have = 0;
}

static int at_op(struct parser *p, const char *op)
{
  return p->have && p->t.type == T_OP && strcmp(p->t.op, op) == 0;
}

static int at_name(struct parser *p, const char *w)
{
  return p->have && p->t.type == T_NAME && strlen(w) == p->t.len
         && strncmp(p->src + p->t.pos, w, p->t.len) == 0;
}

static char *tok_name(struct parser *p)
{
  return mg_xstrndup(p->src + p->t.pos, p->t.len);
}

static int expect_op(struct parser *p, const char *op)
{
  if (peek(p) < 0)
    return -1;
  if (!at_op(p, op))
    return perr(p, p->t.pos, "expected '%s'", op);
  advance(p);
  return 0;
}

/* ------------------------------------------------------------------ */
/* Expression parser                                                   */

static struct node *parse_expr(struct parser *p);
static struct node *parse_unary(struct parser *p, int with_filter);

static int parse_args(struct parser *p, struct node *n)
{
  /* after '(' ; fills positional and keyword args until ')' */
  for (;;) {
    struct node *a;
    char *kw = NULL;

    if (peek(p) < 0)
      return -1;
    if (at_op(p, ")")) {
      advance(p);
      return 0;
    }
    if (p->t.type == T_NAME) {
      /* lookahead for name= */
      size_t save_i = p->i;
      struct tok save_t = p->t;
      size_t j = p->i;

      while (j < p->len && (p->src[j] == ' ' || p->src[j] == '\t'))
        j++;
      if (j < p->len && p->src[j] == '='
          && (j + 1 >= p->len || p->src[j + 1] != '=')) {
        kw = tok_name(p);
        advance(p);
        p->i = j + 1;
      } else {
        p->i = save_i;
        p->t = save_t;
      }
    }
    a = parse_expr(p);
    if (!a) {
      free(kw);
      return -1;
    }
    add_kid(n, a, kw);
    free(kw);
    if (peek(p) < 0)
      return -1;
    if (at_op(p, ",")) {
      advance(p);
      continue;
    }
    if (at_op(p, ")")) {
      advance(p);
      return 0;
    }
    return perr(p, p->t.pos, "expected ',' or ')'");
  }
}

static struct node *parse_primary(struct parser *p)
{
  struct node *n;

  if (peek(p) < 0)
    return NULL;
  switch (p->t.type) {
  case T_NAME:
    if (at_name(p, "true") || at_name(p, "True") || at_name(p, "false")
        || at_name(p, "False")) {
      n = new_node(N_LIT, p->t.pos);
      n->lit = mg_pv_bool(p->src[p->t.pos] == 't' || p->src[p->t.pos] == 'T');
    } else if (at_name(p, "none") || at_name(p, "None")) {
      n = new_node(N_LIT, p->t.pos);
      n->lit = mg_pv_none();
    } else {
      n = new_node(N_NAME, p->t.pos);
      n->name = tok_name(p);
    }
    advance(p);
    return n;
  case T_INT:
  case T_FLOAT:
    n = new_node(N_LIT, p->t.pos);
    n->lit = mg_pv_ref(p->t.val);
    advance(p);
    return n;
  case T_STR: {
    struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

    n = new_node(N_LIT, p->t.pos);
    for (;;) {
      mg_buf_add(&b, p->t.val->u.str.s, p->t.val->u.str.len, NULL);
      advance(p);
      if (peek(p) < 0) {
        mg_buf_release(&b);
        free_node(n);
        return NULL;
      }
      if (p->t.type != T_STR)
        break;
    }
    n->lit = mg_pv_str_buf(&b);
    return n;
  }
  case T_OP:
    if (at_op(p, "(")) {
      size_t pos = p->t.pos;
      struct node *first;

      advance(p);
      if (peek(p) < 0)
        return NULL;
      if (at_op(p, ")")) {
        advance(p);
        n = new_node(N_LIST, pos);
        n->op = 1;
        return n;
      }
      first = parse_expr(p);
      if (!first)
        return NULL;
      if (peek(p) < 0) {
        free_node(first);
        return NULL;
      }
      if (at_op(p, ")")) {
        advance(p);
        return first;
      }
      n = new_node(N_LIST, pos);
      n->op = 1; /* tuple */
      add_kid(n, first, NULL);
      while (at_op(p, ",")) {
        struct node *it;

        advance(p);
        if (peek(p) < 0)
          goto fail;
        if (at_op(p, ")"))
          break;
        it = parse_expr(p);
        if (!it)
          goto fail;
        add_kid(n, it, NULL);
        if (peek(p) < 0)
          goto fail;
      }
      if (expect_op(p, ")") < 0)
        goto fail;
      return n;
    }
    if (at_op(p, "[")) {
      n = new_node(N_LIST, p->t.pos);
      advance(p);
      for (;;) {
        struct node *it;

        if (peek(p) < 0)
          goto fail;
        if (at_op(p, "]")) {
          advance(p);
          return n;
        }
        it = parse_expr(p);
        if (!it)
          goto fail;
        add_kid(n, it, NULL);
        if (peek(p) < 0)
          goto fail;
        if (at_op(p, ",")) {
          advance(p);
          continue;
        }
        if (expect_op(p, "]") < 0)
          goto fail;
        return n;
      }
    }
    if (at_op(p, "{")) {
      n = new_node(N_DICT, p->t.pos);
      advance(p);
      for (;;) {
        struct node *k, *v;

        if (peek(p) < 0)
          goto fail;
        if (at_op(p, "}")) {
          advance(p);
          return n;
        }
        k = parse_expr(p);
        if (!k)
          goto fail;
        add_kid(n, k, NULL);
        if (expect_op(p, ":") < 0)
          goto fail;
        v = parse_expr(p);
        if (!v)
          goto fail;
        add_kid(n, v, NULL);
        if (peek(p) < 0)
          goto fail;
        if (at_op(p, ",")) {
          advance(p);
          continue;
        }
        if (expect_op(p, "}") < 0)
          goto fail;
        return n;
      }
    }
    break;
  default:
    break;
  }
  perr(p, p->t.pos, "unexpected %s",
       p->t.type == T_CLOSE ? "end of tag"
       : p->t.type == T_END ? "end of template"
                            : "token");
  return NULL;
fail:
  free_node(n);
  return NULL;
}

static struct node *parse_postfix(struct parser *p, struct node *n)
{
  for (;;) {
    if (peek(p) < 0)
      goto fail;
    if (at_op(p, ".")) {
      struct node *a;

      advance(p);
      if (peek(p) < 0)
        goto fail;
      if (p->t.type == T_INT) {
        a = new_node(N_ITEM, p->t.pos);
        add_kid(a, n, NULL);
        {
          struct node *lit = new_node(N_LIT, p->t.pos);

          lit->lit = mg_pv_ref(p->t.val);
          add_kid(a, lit, NULL);
        }
      } else if (p->t.type == T_NAME) {
        a = new_node(N_ATTR, p->t.pos);
        a->name = tok_name(p);
        add_kid(a, n, NULL);
      } else {
        perr(p, p->t.pos, "expected an attribute name after '.'");
        goto fail;
      }
      advance(p);
      n = a;
    } else if (at_op(p, "[")) {
      size_t pos = p->t.pos;
      struct node *parts[3] = { NULL, NULL, NULL };
      int slice = 0, idx = 0;

      advance(p);
      for (;;) {
        if (peek(p) < 0)
          goto fail_parts;
        if (at_op(p, ":")) {
          slice = 1;
          if (++idx > 2) {
            perr(p, p->t.pos, "too many ':' in subscript");
            goto fail_parts;
          }
          advance(p);
          continue;
        }
        if (at_op(p, "]")) {
          advance(p);
          break;
        }
        if (parts[idx]) {
          perr(p, p->t.pos, "expected ']'");
          goto fail_parts;
        }
        parts[idx] = parse_expr(p);
        if (!parts[idx])
          goto fail_parts;
      }
      if (slice) {
        struct node *s = new_node(N_SLICE, pos);

        add_kid(s, n, NULL);
        for (int j = 0; j < 3; j++)
          add_kid(s, parts[j], NULL);
        n = s;
      } else {
        struct node *it;

        if (!parts[0]) {
          perr(p, pos, "empty subscript");
          goto fail_parts;
        }
        it = new_node(N_ITEM, pos);
        add_kid(it, n, NULL);
        add_kid(it, parts[0], NULL);
        n = it;
      }
      continue;
    fail_parts:
      for (int j = 0; j < 3; j++)
        free_node(parts[j]);
      goto fail;
    } else if (at_op(p, "(")) {
      struct node *c = new_node(N_CALL, p->t.pos);

      advance(p);
      add_kid(c, n, NULL);
      n = c;
      if (parse_args(p, c) < 0)
        goto fail;
    } else {
      return n;
    }
  }
fail:
  free_node(n);
  return NULL;
}

static struct node *parse_filters_tests(struct parser *p, struct node *n)
{
  for (;;) {
    if (peek(p) < 0)
      goto fail;
    if (at_op(p, "|")) {
      struct node *f;

      advance(p);
      if (peek(p) < 0)
        goto fail;
      if (p->t.type != T_NAME) {
        perr(p, p->t.pos, "expected a filter name after '|'");
        goto fail;
      }
      f = new_node(N_FILTER, p->t.pos);
      f->name = tok_name(p);
      add_kid(f, n, NULL);
      n = f;
      advance(p);
      if (peek(p) < 0)
        goto fail;
      if (at_op(p, "(")) {
        advance(p);
        if (parse_args(p, f) < 0)
          goto fail;
      }
    } else if (at_name(p, "is")) {
      struct node *t;

      advance(p);
      if (peek(p) < 0)
        goto fail;
      t = new_node(N_TEST, p->t.pos);
      add_kid(t, n, NULL);
      n = t;
      if (at_name(p, "not")) {
        t->negate = 1;
        advance(p);
        if (peek(p) < 0)
          goto fail;
      }
      if (p->t.type == T_NAME) {
        t->name = tok_name(p);
      } else if (at_op(p, "==") || at_op(p, "!=") || at_op(p, "<")
                 || at_op(p, ">") || at_op(p, "<=") || at_op(p, ">=")) {
        t->name = mg_xstrdup(p->t.op);
      } else {
        perr(p, p->t.pos, "expected a test name after 'is'");
        goto fail;
      }
      advance(p);
      if (peek(p) < 0)
        goto fail;
      if (at_op(p, "(")) {
        advance(p);
        if (parse_args(p, t) < 0)
          goto fail;
      } else if (p->t.type == T_INT || p->t.type == T_FLOAT
                 || p->t.type == T_STR
                 || (p->t.type == T_NAME && !at_name(p, "and")
                     && !at_name(p, "or") && !at_name(p, "else")
                     && !at_name(p, "if") && !at_name(p, "is")
                     && !at_name(p, "in") && !at_name(p, "not"))) {
        struct node *arg = parse_unary(p, 0);

        if (!arg)
          goto fail;
        add_kid(t, arg, NULL);
      }
    } else {
      return n;
    }
  }
fail:
  free_node(n);
  return NULL;
}

static struct node *parse_unary(struct parser *p, int with_filter)
{
  struct node *n;

  if (++p->depth > MAX_DEPTH) {
    perr(p, p->i, "expression nested too deeply");
    return NULL;
  }
  if (peek(p) < 0)
    return NULL;
  if (at_op(p, "-") || at_op(p, "+")) {
    n = new_node(at_op(p, "-") ? N_NEG : N_POS, p->t.pos);
    advance(p);
    {
      struct node *a = parse_unary(p, 0);

      if (!a) {
        free_node(n);
        return NULL;
      }
      add_kid(n, a, NULL);
    }
  } else {
    n = parse_primary(p);
    if (n)
      n = parse_postfix(p, n);
  }
  p->depth--;
  if (n && with_filter)
    n = parse_filters_tests(p, n);
  return n;
}

static struct node *parse_pow(struct parser *p)
{
  struct node *l = parse_unary(p, 1);

  while (l) {
    struct node *b, *r;

    if (peek(p) < 0)
      goto fail;
    if (!at_op(p, "**"))
      return l;
    b = new_node(N_BIN, p->t.pos);
    b->op = OP_POW;
    advance(p);
    r = parse_unary(p, 1);
    if (!r) {
      free_node(b);
      goto fail;
    }
    add_kid(b, l, NULL);
    add_kid(b, r, NULL);
    l = b;
  }
  return NULL;
fail:
  free_node(l);
  return NULL;
}

static struct node *parse_binary_level(struct parser *p, int level);

static int binop_at(struct parser *p, int level, int *op)
{
  switch (level) {
  case 0: /* + - */
    if (at_op(p, "+"))
      return *op = OP_ADD, 1;
    if (at_op(p, "-"))
      return *op = OP_SUB, 1;
    return 0;
  case 1: /* ~ */
    if (at_op(p, "~"))
      return *op = OP_CONCAT, 1;
    return 0;
  default: /* * / // % */
    if (at_op(p, "*"))
      return *op = OP_MUL, 1;
    if (at_op(p, "/"))
      return *op = OP_DIV, 1;
    if (at_op(p, "//"))
      return *op = OP_FLOORDIV, 1;
    if (at_op(p, "%"))
      return *op = OP_MOD, 1;
    return 0;
  }
}

static struct node *parse_binary_level(struct parser *p, int level)
{
  struct node *l = level >= 2 ? parse_pow(p) : parse_binary_level(p, level + 1);

  while (l) {
    int op;
    struct node *b, *r;

    if (peek(p) < 0)
      goto fail;
    if (!binop_at(p, level, &op))
      return l;
    b = new_node(N_BIN, p->t.pos);
    b->op = op;
    advance(p);
    r = level >= 2 ? parse_pow(p) : parse_binary_level(p, level + 1);
    if (!r) {
      free_node(b);
      goto fail;
    }
    add_kid(b, l, NULL);
    add_kid(b, r, NULL);
    l = b;
  }
  return NULL;
fail:
  free_node(l);
  return NULL;
}

static struct node *parse_compare(struct parser *p)
{
  struct node *l = parse_binary_level(p, 0), *c = NULL;

  if (!l)
    return NULL;
  for (;;) {
    int op = -1;
    size_t pos;
    struct node *r;

    if (peek(p) < 0)
      goto fail;
    pos = p->t.pos;
    if (at_op(p, "=="))
      op = C_EQ;
    else if (at_op(p, "!="))
      op = C_NE;
    else if (at_op(p, "<"))
      op = C_LT;
    else if (at_op(p, "<="))
      op = C_LE;
    else if (at_op(p, ">"))
      op = C_GT;
    else if (at_op(p, ">="))
      op = C_GE;
    else if (at_name(p, "in"))
      op = C_IN;
    else if (at_name(p, "not")) {
      /* "not in" */
      size_t j = p->i;

      while (j < p->len && (p->src[j] == ' ' || p->src[j] == '\t'))
        j++;
      if (j + 2 <= p->len && strncmp(p->src + j, "in", 2) == 0
          && (j + 2 == p->len || !is_name_char(p->src[j + 2]))) {
        advance(p);
        if (peek(p) < 0)
          goto fail;
        op = C_NOTIN;
      }
    }
    if (op < 0)
      break;
    advance(p);
    r = parse_binary_level(p, 0);
    if (!r)
      goto fail;
    if (!c) {
      c = new_node(N_CMP, pos);
      add_kid(c, l, NULL);
      l = NULL;
    }
    add_kid(c, r, NULL);
    c->ops[c->nk - 1] = op;
  }
  return c ? c : l;
fail:
  free_node(l);
  free_node(c);
  return NULL;
}

static struct node *parse_not(struct parser *p)
{
  if (peek(p) < 0)
    return NULL;
  if (at_name(p, "not")) {
    struct node *n = new_node(N_NOT, p->t.pos), *a;

    advance(p);
    a = parse_not(p);
    if (!a) {
      free_node(n);
      return NULL;
    }
    add_kid(n, a, NULL);
    return n;
  }
  return parse_compare(p);
}

static struct node *parse_andor(struct parser *p, int is_or)
{
  struct node *l = is_or ? parse_andor(p, 0) : parse_not(p);

  while (l) {
    struct node *b, *r;

    if (peek(p) < 0)
      goto fail;
    if (!at_name(p, is_or ? "or" : "and"))
      return l;
    b = new_node(is_or ? N_OR : N_AND, p->t.pos);
    advance(p);
    r = is_or ? parse_andor(p, 0) : parse_not(p);
    if (!r) {
      free_node(b);
      goto fail;
    }
    add_kid(b, l, NULL);
    add_kid(b, r, NULL);
    l = b;
  }
  return NULL;
fail:
  free_node(l);
  return NULL;
}

static struct node *parse_expr(struct parser *p)
{
  struct node *l = parse_andor(p, 1);

  while (l) {
    struct node *c, *cond, *other = NULL;

    if (peek(p) < 0)
      goto fail;
    if (!at_name(p, "if"))
      return l;
    c = new_node(N_COND, p->t.pos);
    advance(p);
    cond = parse_andor(p, 1);
    if (!cond) {
      free_node(c);
      goto fail;
    }
    if (peek(p) < 0) {
      free_node(cond);
      free_node(c);
      goto fail;
    }
    if (at_name(p, "else")) {
      advance(p);
      other = parse_expr(p);
      if (!other) {
        free_node(cond);
        free_node(c);
        goto fail;
      }
    }
    add_kid(c, l, NULL);
    add_kid(c, cond, NULL);
    add_kid(c, other, NULL);
    l = c;
  }
  return NULL;
fail:
  free_node(l);
  return NULL;
}

/* ------------------------------------------------------------------ */
/* Template structure parser                                           */

struct block_end {
  const char *words[4]; /* tag names that end the current body */
};

/* Strips trailing whitespace of the last text node in body. */
static void rstrip_last_text(struct node *body)
{
  struct node *t;
  struct mg_pv *s;
  size_t n;

  if (!body->nk)
    return;
  t = body->k[body->nk - 1];
  if (t->kind != N_TEXT)
    return;
  s = t->lit;
  n = s->u.str.len;
  while (n
         && (s->u.str.s[n - 1] == ' ' || s->u.str.s[n - 1] == '\t'
             || s->u.str.s[n - 1] == '\n' || s->u.str.s[n - 1] == '\r'))
    n--;
  t->lit = mg_pv_strn(s->u.str.s, n);
  mg_pv_unref(s);
}

struct tparser {
  struct parser p;
  int strip_next; /* lstrip the next text */
  unsigned flags; /* enum mg_tmpl_flags */
  int loops;      /* {% for %} nesting (for break/continue) */
};

static int parse_body(struct tparser *tp, struct node *body,
                      const char *const *enders, char **ended, size_t *tagpos);

static void add_text(struct tparser *tp, struct node *body, size_t start,
                     size_t end)
{
  struct node *t;

  if (tp->strip_next) {
    while (start < end
           && (tp->p.src[start] == ' ' || tp->p.src[start] == '\t'
               || tp->p.src[start] == '\n' || tp->p.src[start] == '\r'))
      start++;
    tp->strip_next = 0;
  }
  if (start >= end)
    return;
  t = new_node(N_TEXT, start);
  t->lit = mg_pv_strn(tp->p.src + start, end - start);
  add_kid(body, t, NULL);
}

/* Finds the next "{{", "{%" or "{#" at or after i; len if none. */
static size_t find_open(const char *s, size_t len, size_t i)
{
  for (; i + 1 < len; i++)
    if (s[i] == '{' && (s[i + 1] == '{' || s[i + 1] == '%' || s[i + 1] == '#'))
      return i;
  return len;
}

/* Expects the closing delimiter as the current token. */
static int expect_close(struct tparser *tp)
{
  struct parser *p = &tp->p;

  if (peek(p) < 0)
    return -1;
  if (p->t.type != T_CLOSE)
    return perr(p, p->t.pos, "expected '%s'", p->close);
  tp->strip_next = p->t.strip_after;
  /* trim_blocks: a block tag eats the newline right after it */
  if ((tp->flags & MG_TMPL_TRIM_BLOCKS) && !p->t.strip_after && !p->t.keep_after
      && p->close[0] == '%' && p->i < p->len && p->src[p->i] == '\n')
    p->i++;
  advance(p);
  return 0;
}

static int parse_stmt(struct tparser *tp, struct node *body, size_t tagpos)
{
  struct parser *p = &tp->p;

  if (at_name(p, "if")) {
    struct node *n = new_node(N_IF, tagpos);

    advance(p);
    for (;;) {
      struct node *cond = parse_expr(p), *b;
      static const char *const enders[] = { "elif", "else", "endif", NULL };
      char *ended = NULL;
      size_t epos;

      if (!cond)
        goto if_fail;
      add_kid(n, cond, NULL);
      if (expect_close(tp) < 0)
        goto if_fail;
      b = new_node(N_BODY, p->i);
      add_kid(n, b, NULL);
      if (parse_body(tp, b, enders, &ended, &epos) < 0)
        goto if_fail;
      if (strcmp(ended, "elif") == 0) {
        free(ended);
        continue;
      }
      if (strcmp(ended, "else") == 0) {
        static const char *const end2[] = { "endif", NULL };

        free(ended);
        if (expect_close(tp) < 0)
          goto if_fail;
        b = new_node(N_BODY, p->i);
        add_kid(n, b, "else");
        if (parse_body(tp, b, end2, &ended, &epos) < 0)
          goto if_fail;
      }
      free(ended);
      if (expect_close(tp) < 0)
        goto if_fail;
      add_kid(body, n, NULL);
      return 0;
    }
  if_fail:
    free_node(n);
    return -1;
  }
  if (at_name(p, "for")) {
    struct node *n = new_node(N_FOR, tagpos), *iter, *b, *elseb = NULL,
                *filt = NULL;
    static const char *const enders[] = { "else", "endfor", NULL };
    char *ended = NULL;
    size_t epos;
    int paren = 0;

    advance(p);
    if (peek(p) < 0)
      goto for_fail;
    if (at_op(p, "(")) {
      paren = 1;
      advance(p);
    }
    for (;;) {
      if (peek(p) < 0)
        goto for_fail;
      if (p->t.type != T_NAME) {
        perr(p, p->t.pos, "expected a loop variable name");
        goto for_fail;
      }
      n->targets =
          mg_xreallocarray(n->targets, n->ntargets + 1, sizeof(*n->targets));
      n->targets[n->ntargets++] = tok_name(p);
      advance(p);
      if (peek(p) < 0)
        goto for_fail;
      if (at_op(p, ",")) {
        advance(p);
        continue;
      }
      break;
    }
    if (paren && expect_op(p, ")") < 0)
      goto for_fail;
    if (peek(p) < 0)
      goto for_fail;
    if (!at_name(p, "in")) {
      perr(p, p->t.pos, "expected 'in'");
      goto for_fail;
    }
    advance(p);
    /* the iterable cannot contain a bare conditional (Jinja rule) */
    iter = parse_andor(p, 1);
    if (!iter)
      goto for_fail;
    add_kid(n, iter, NULL);
    if (peek(p) < 0)
      goto for_fail;
    if (at_name(p, "if")) {
      advance(p);
      filt = parse_expr(p);
      if (!filt)
        goto for_fail;
    }
    if (peek(p) < 0) {
      free_node(filt);
      goto for_fail;
    }
    if (at_name(p, "recursive")) {
      free_node(filt);
      perr(p, p->t.pos, "recursive loops are not supported");
      goto for_fail;
    }
    if (expect_close(tp) < 0) {
      free_node(filt);
      goto for_fail;
    }
    b = new_node(N_BODY, p->i);
    add_kid(n, b, NULL);
    add_kid(n, NULL, NULL); /* else body slot */
    add_kid(n, filt, NULL);
    tp->loops++;
    if (parse_body(tp, b, enders, &ended, &epos) < 0) {
      tp->loops--;
      goto for_fail;
    }
    tp->loops--;
    if (strcmp(ended, "else") == 0) {
      static const char *const end2[] = { "endfor", NULL };

      free(ended);
      ended = NULL;
      if (expect_close(tp) < 0)
        goto for_fail;
      elseb = new_node(N_BODY, p->i);
      n->k[2] = elseb;
      if (parse_body(tp, elseb, end2, &ended, &epos) < 0)
        goto for_fail;
    }
    free(ended);
    if (expect_close(tp) < 0)
      goto for_fail;
    add_kid(body, n, NULL);
    return 0;
  for_fail:
    free_node(n);
    return -1;
  }
  if (at_name(p, "set")) {
    struct node *n = new_node(N_SET, tagpos), *v;

    advance(p);
    if (peek(p) < 0)
      goto set_fail;
    if (p->t.type != T_NAME) {
      perr(p, p->t.pos, "expected a variable name after 'set'");
      goto set_fail;
    }
    n->name = tok_name(p);
    advance(p);
    if (peek(p) < 0)
      goto set_fail;
    if (at_op(p, ".")) {
      /* {% set ns.attr = value %}: assignment into a namespace */
      advance(p);
      if (peek(p) < 0)
        goto set_fail;
      if (p->t.type != T_NAME) {
        perr(p, p->t.pos, "expected an attribute name");
        goto set_fail;
      }
      n->targets = mg_xcalloc(1, sizeof(*n->targets));
      n->targets[0] = tok_name(p);
      n->ntargets = 1;
      advance(p);
    }
    if (expect_op(p, "=") < 0)
      goto set_fail;
    v = parse_expr(p);
    if (!v)
      goto set_fail;
    add_kid(n, v, NULL);
    if (expect_close(tp) < 0)
      goto set_fail;
    add_kid(body, n, NULL);
    return 0;
  set_fail:
    free_node(n);
    return -1;
  }
  if (at_name(p, "break") || at_name(p, "continue")) {
    int brk = at_name(p, "break");

    if (!tp->loops)
      return perr(p, tagpos, "'%s' outside of a loop",
                  brk ? "break" : "continue");
    advance(p);
    if (expect_close(tp) < 0)
      return -1;
    add_kid(body, new_node(brk ? N_BREAK : N_CONTINUE, tagpos), NULL);
    return 0;
  }
  if (at_name(p, "generation")) {
    /* transformers' AssistantTracker block: renders its body */
    static const char *const enders[] = { "endgeneration", NULL };
    struct node *b = new_node(N_BODY, tagpos);
    char *ended = NULL;
    size_t epos;

    advance(p);
    if (expect_close(tp) < 0 || parse_body(tp, b, enders, &ended, &epos) < 0
        || expect_close(tp) < 0) {
      free(ended);
      free_node(b);
      return -1;
    }
    free(ended);
    add_kid(body, b, NULL);
    return 0;
  }
  if (at_name(p, "raw")) {
    const char *end;
    size_t start;

    advance(p);
    if (expect_close(tp) < 0)
      return -1;
    start = p->i;
    end = strstr(p->src + start, "endraw");
    while (end) {
      const char *o = end;

      while (o > p->src + start && (o[-1] == ' ' || o[-1] == '-'))
        o--;
      if (o >= p->src + start + 2 && o[-1] == '%' && o[-2] == '{') {
        add_text(tp, body, start, (size_t)(o - 2 - p->src));
        p->i = (size_t)(end - p->src) + 6;
        p->have = 0;
        return expect_close(tp);
      }
      end = strstr(end + 1, "endraw");
    }
    return perr(p, tagpos, "missing endraw");
  }
  {
    char *w = p->t.type == T_NAME ? tok_name(p) : mg_xstrdup("?");
    int rc = perr(p, tagpos, "unknown or unexpected tag '%s'", w);

    free(w);
    return rc;
  }
}

static int parse_body(struct tparser *tp, struct node *body,
                      const char *const *enders, char **ended, size_t *tagpos)
{
  struct parser *p = &tp->p;

  if (ended)
    *ended = NULL;
  for (;;) {
    size_t o = find_open(p->src, p->len, p->i);
    char kind;
    int strip_before;
    size_t tag_start, text_end = o;

    if ((tp->flags & MG_TMPL_LSTRIP_BLOCKS) && o < p->len
        && (p->src[o + 1] == '%' || p->src[o + 1] == '#')
        && !(o + 2 < p->len
             && (p->src[o + 2] == '+' || p->src[o + 2] == '-'))) {
      /* lstrip_blocks: a block or comment tag alone at the start of its
       * line takes the line's leading spaces and tabs with it */
      size_t start = p->i, l = o;

      if (tp->strip_next)
        while (start < o
               && (p->src[start] == ' ' || p->src[start] == '\t'
                   || p->src[start] == '\n' || p->src[start] == '\r'))
          start++;
      while (l > start && (p->src[l - 1] == ' ' || p->src[l - 1] == '\t'))
        l--;
      if (l < o
          && ((l > start && p->src[l - 1] == '\n')
              || (l == start && (start == 0 || p->src[start - 1] == '\n'))))
        text_end = l;
    }
    add_text(tp, body, p->i, text_end);
    if (o >= p->len) {
      p->i = p->len;
      if (enders)
        return perr(p, p->len, "unexpected end of template, expected '%s'",
                    enders[enders[1] ? 1 : 0]);
      return 0;
    }
    kind = p->src[o + 1];
    tag_start = o;
    p->i = o + 2;
    strip_before = p->i < p->len && p->src[p->i] == '-';
    if (p->i < p->len && (p->src[p->i] == '-' || p->src[p->i] == '+'))
      p->i++;
    if (strip_before)
      rstrip_last_text(body);
    if (kind == '#') {
      const char *e = strstr(p->src + p->i, "#}");
      int plus;

      if (!e)
        return perr(p, tag_start, "unterminated comment");
      tp->strip_next = e > p->src + p->i && e[-1] == '-';
      plus = e > p->src + p->i && e[-1] == '+';
      p->i = (size_t)(e - p->src) + 2;
      if ((tp->flags & MG_TMPL_TRIM_BLOCKS) && !tp->strip_next && !plus
          && p->i < p->len && p->src[p->i] == '\n')
        p->i++;
      continue;
    }
    p->have = 0;
    if (kind == '{') {
      struct node *n = new_node(N_OUT, tag_start), *e;

      p->close = "}}";
      e = parse_expr(p);
      if (!e) {
        free_node(n);
        return -1;
      }
      add_kid(n, e, NULL);
      add_kid(body, n, NULL);
      if (expect_close(tp) < 0)
        return -1;
      continue;
    }
    p->close = "%}";
    if (peek(p) < 0)
      return -1;
    if (enders && p->t.type == T_NAME) {
      for (size_t j = 0; enders[j]; j++)
        if (at_name(p, enders[j])) {
          *ended = tok_name(p);
          *tagpos = tag_start;
          advance(p);
          return 0;
        }
    }
    if (parse_stmt(tp, body, tag_start) < 0)
      return -1;
  }
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
  t->root = new_node(N_BODY, 0);
  memset(&tp, 0, sizeof(tp));
  tp.flags = flags;
  tp.p.src = t->src;
  tp.p.len = len;
  tp.p.name = t->name;
  tp.p.err = err;
  if (parse_body(&tp, t->root, NULL, NULL, NULL) < 0) {
    tok_clear(&tp.p.t);
    mg_tmpl_free(t);
    return -1;
  }
  tok_clear(&tp.p.t);
  *out = t;
  return 0;
}

void mg_tmpl_free(struct mg_tmpl *t)
{
  if (!t)
    return;
  free_node(t->root);
  free(t->name);
  free(t->src);
  free(t);
}

/* ------------------------------------------------------------------ */
/* Evaluation                                                          */

struct rctx {
  const struct mg_tmpl *t;
  struct mg_err *err;
  struct mg_pv **frames;
  size_t nframes, capframes;
  int depth;
  int lenient;       /* jinja2.Undefined rather than StrictUndefined */
  struct mg_pv **ns; /* dicts made by namespace(): assignable */
  size_t nns;
};

/* render_body's results besides 0 / -1 */
#define R_BREAK 1
#define R_CONTINUE 2

static int rerr(struct rctx *r, const struct node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int rerr(struct rctx *r, const struct node *n, const char *fmt, ...)
{
  va_list ap;
  int rc;

  va_start(ap, fmt);
  rc = verr_at(r->err, r->t->name, r->t->src, n ? n->pos : 0, fmt, ap);
  va_end(ap);
  return rc;
}

static struct mg_pv *mk_undef(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static struct mg_pv *mk_undef(const char *fmt, ...)
{
  char msg[200];
  va_list ap;

  va_start(ap, fmt);
  (void)vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  return mg_pv_tagged(UNDEF_TAG, msg);
}

static int is_undef(const struct mg_pv *v)
{
  return v && v->type == MG_PV_TAGGED
         && strcmp(v->u.tagged.tag, UNDEF_TAG) == 0;
}

static const char *obj_name(const struct mg_pv *v)
{
  switch (v->type) {
  case MG_PV_NONE:
    return "None";
  case MG_PV_BOOL:
    return "bool object";
  case MG_PV_INT:
    return "int object";
  case MG_PV_FLOAT:
    return "float object";
  case MG_PV_STR:
    return "str object";
  case MG_PV_LIST:
    return "list object";
  case MG_PV_DICT:
    return "dict object";
  default:
    return "object";
  }
}

/* Fails on an undefined value (StrictUndefined), consuming it. */
static int defined(struct rctx *r, const struct node *n, struct mg_pv *v)
{
  if (!is_undef(v))
    return 0;
  rerr(r, n, "%s", v->u.tagged.value);
  mg_pv_unref(v);
  return -1;
}

static int ev(struct rctx *r, const struct node *n, struct mg_pv **out);

/* Evaluates and insists on a defined value. */
static int evd(struct rctx *r, const struct node *n, struct mg_pv **out)
{
  if (ev(r, n, out) < 0)
    return -1;
  if (defined(r, n, *out) < 0) {
    *out = NULL;
    return -1;
  }
  return 0;
}

/* Truth value of an expression; an undefined value is false when the
 * environment is lenient. */
static int ev_truth(struct rctx *r, const struct node *n, int *t)
{
  struct mg_pv *v;

  if (ev(r, n, &v) < 0)
    return -1;
  if (is_undef(v) && r->lenient) {
    mg_pv_unref(v);
    *t = 0;
    return 0;
  }
  if (defined(r, n, v) < 0)
    return -1;
  *t = mg_pv_truthy(v);
  mg_pv_unref(v);
  return 0;
}

static struct mg_pv *lookup(struct rctx *r, const char *name)
{
  for (size_t i = r->nframes; i-- > 0;) {
    struct mg_pv *v = mg_pv_dict_get(r->frames[i], name);

    if (v)
      return v;
  }
  return NULL;
}

static void push_frame(struct rctx *r)
{
  if (r->nframes == r->capframes) {
    r->capframes = r->capframes ? 2 * r->capframes : 8;
    r->frames = mg_xreallocarray(r->frames, r->capframes, sizeof(*r->frames));
  }
  r->frames[r->nframes++] = mg_pv_dict();
}

static void pop_frame(struct rctx *r)
{
  mg_pv_unref(r->frames[--r->nframes]);
}

/* --- string helpers (Python semantics over UTF-8) --- */

static int32_t cp_at(const char *s, size_t n, size_t *i)
{
  utf8proc_int32_t cp;
  utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + *i,
                                        (utf8proc_ssize_t)(n - *i), &cp);

  if (k <= 0) {
    (*i)++;
    return 0xFFFD;
  }
  *i += (size_t)k;
  return cp;
}

static void put_cp(struct mg_buf *b, int32_t cp)
{
  utf8proc_uint8_t tmp[4];
  utf8proc_ssize_t k = utf8proc_encode_char(cp, tmp);

  mg_buf_add(b, tmp, (size_t)(k > 0 ? k : 0), NULL);
}

static int py_isspace(int32_t c)
{
  return (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x20) || c == 0x85
         || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a)
         || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f
         || c == 0x3000;
}

static struct mg_pv *str_strip(const struct mg_pv *s, const struct mg_pv *chars,
                               int left, int right)
{
  const char *p = s->u.str.s;
  size_t n = s->u.str.len, a = 0, b = n;

  while (left && a < b) {
    size_t j = a;
    int32_t c = cp_at(p, n, &j);
    int hit;

    if (chars) {
      size_t k = 0;

      hit = 0;
      while (k < chars->u.str.len)
        if (cp_at(chars->u.str.s, chars->u.str.len, &k) == c) {
          hit = 1;
          break;
        }
    } else {
      hit = py_isspace(c);
    }
    if (!hit)
      break;
    a = j;
  }
  while (right && b > a) {
    size_t j = b - 1, k2;
    int32_t c;
    int hit;

    while (j > a && ((unsigned char)p[j] & 0xC0) == 0x80)
      j--;
    k2 = j;
    c = cp_at(p, n, &k2);
    if (chars) {
      size_t k = 0;

      hit = 0;
      while (k < chars->u.str.len)
        if (cp_at(chars->u.str.s, chars->u.str.len, &k) == c) {
          hit = 1;
          break;
        }
    } else {
      hit = py_isspace(c);
    }
    if (!hit)
      break;
    b = j;
  }
  return mg_pv_strn(p + a, b - a);
}

enum casemode {
  CASE_LOWER,
  CASE_UPPER,
  CASE_CAPITALIZE,
  CASE_TITLE,
  CASE_SWAP
};

static struct mg_pv *str_case(const struct mg_pv *s, enum casemode mode)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  size_t i = 0;
  int first = 1, prev_cased = 0;

  while (i < s->u.str.len) {
    int32_t c = cp_at(s->u.str.s, s->u.str.len, &i), o = c;

    switch (mode) {
    case CASE_LOWER:
      o = utf8proc_tolower(c);
      break;
    case CASE_UPPER:
      o = utf8proc_toupper(c);
      break;
    case CASE_CAPITALIZE:
      o = first ? utf8proc_totitle(c) : utf8proc_tolower(c);
      break;
    case CASE_TITLE:
      o = prev_cased ? utf8proc_tolower(c) : utf8proc_totitle(c);
      break;
    case CASE_SWAP:
      o = utf8proc_isupper(c)   ? utf8proc_tolower(c)
          : utf8proc_islower(c) ? utf8proc_toupper(c)
                                : c;
      break;
    }
    {
      utf8proc_category_t cat = utf8proc_category(c);

      prev_cased = cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL
                   || cat == UTF8PROC_CATEGORY_LT;
    }
    first = 0;
    put_cp(&b, o);
  }
  return mg_pv_str_buf(&b);
}

static const char *memfind(const char *h, size_t hn, const char *nd, size_t nn)
{
  if (nn == 0)
    return h;
  if (nn > hn)
    return NULL;
  for (size_t i = 0; i + nn <= hn; i++)
    if (h[i] == nd[0] && memcmp(h + i, nd, nn) == 0)
      return h + i;
  return NULL;
}

static struct mg_pv *str_split(const struct mg_pv *s, const struct mg_pv *sep,
                               long maxsplit)
{
  struct mg_pv *l = mg_pv_list();
  const char *p = s->u.str.s;
  size_t n = s->u.str.len, i = 0;
  long done = 0;

  if (!sep) {
    for (;;) {
      size_t start, j;

      /* skip whitespace */
      while (i < n) {
        j = i;
        if (!py_isspace(cp_at(p, n, &j)))
          break;
        i = j;
      }
      if (i >= n)
        break;
      if (maxsplit >= 0 && done >= maxsplit) {
        size_t e = n;

        /* the rest, right-stripped */
        while (e > i) {
          size_t k = e - 1, k2;

          while (k > i && ((unsigned char)p[k] & 0xC0) == 0x80)
            k--;
          k2 = k;
          if (!py_isspace(cp_at(p, n, &k2)))
            break;
          e = k;
        }
        mg_pv_list_append(l, mg_pv_strn(p + i, e - i));
        break;
      }
      start = i;
      while (i < n) {
        j = i;
        if (py_isspace(cp_at(p, n, &j)))
          break;
        i = j;
      }
      mg_pv_list_append(l, mg_pv_strn(p + start, i - start));
      done++;
    }
    return l;
  }
  for (;;) {
    const char *hit = NULL;

    if (maxsplit < 0 || done < maxsplit)
      hit = memfind(p + i, n - i, sep->u.str.s, sep->u.str.len);
    if (!hit) {
      mg_pv_list_append(l, mg_pv_strn(p + i, n - i));
      break;
    }
    mg_pv_list_append(l, mg_pv_strn(p + i, (size_t)(hit - (p + i))));
    i = (size_t)(hit - p) + sep->u.str.len;
    done++;
  }
  return l;
}

static struct mg_pv *str_replace(const struct mg_pv *s, const struct mg_pv *old,
                                 const struct mg_pv *new, long count)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  const char *p = s->u.str.s;
  size_t n = s->u.str.len, i = 0;
  long done = 0;

  if (old->u.str.len == 0) {
    while (1) {
      if (count < 0 || done < count) {
        mg_buf_add(&b, new->u.str.s, new->u.str.len, NULL);
        done++;
      }
      if (i >= n)
        break;
      {
        size_t j = i;

        (void)cp_at(p, n, &j);
        mg_buf_add(&b, p + i, j - i, NULL);
        i = j;
      }
    }
    return mg_pv_str_buf(&b);
  }
  for (;;) {
    const char *hit = NULL;

    if (count < 0 || done < count)
      hit = memfind(p + i, n - i, old->u.str.s, old->u.str.len);
    if (!hit) {
      mg_buf_add(&b, p + i, n - i, NULL);
      break;
    }
    mg_buf_add(&b, p + i, (size_t)(hit - (p + i)), NULL);
    mg_buf_add(&b, new->u.str.s, new->u.str.len, NULL);
    i = (size_t)(hit - p) + old->u.str.len;
    done++;
  }
  return mg_pv_str_buf(&b);
}

/* --- generic value helpers --- */

/* str() of a value, as a new str. */
static struct mg_pv *to_str_pv(const struct mg_pv *v)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

  if (v->type == MG_PV_STR)
    return mg_pv_ref((struct mg_pv *)v);
  mg_pv_to_str(&b, v);
  return mg_pv_str_buf(&b);
}

/* Items of an iterable as a new list (str → chars, dict → keys). */
static int iter_items(struct rctx *r, const struct node *n,
                      const struct mg_pv *v, struct mg_pv **out)
{
  struct mg_pv *l;

  switch (v->type) {
  case MG_PV_LIST:
    *out = mg_pv_ref((struct mg_pv *)v);
    return 0;
  case MG_PV_DICT:
    l = mg_pv_list();
    for (size_t i = 0; i < v->u.dict.n; i++)
      mg_pv_list_append(l, mg_pv_ref(v->u.dict.k[i]));
    *out = l;
    return 0;
  case MG_PV_STR: {
    size_t i = 0;

    l = mg_pv_list();
    while (i < v->u.str.len) {
      size_t j = i;

      (void)cp_at(v->u.str.s, v->u.str.len, &j);
      mg_pv_list_append(l, mg_pv_strn(v->u.str.s + i, j - i));
      i = j;
    }
    *out = l;
    return 0;
  }
  default:
    return rerr(r, n, "'%s' is not iterable", obj_name(v));
  }
}

static int compare(struct rctx *r, const struct node *n, const struct mg_pv *a,
                   const struct mg_pv *b, int *out)
{
  if (mg_pv_is_number(a) && mg_pv_is_number(b)) {
    double x = mg_pv_num(a), y = mg_pv_num(b);

    if (a->type == MG_PV_INT && b->type == MG_PV_INT)
      *out = a->u.i < b->u.i ? -1 : a->u.i > b->u.i;
    else
      *out = x < y ? -1 : x > y;
    return 0;
  }
  if (a->type == MG_PV_STR && b->type == MG_PV_STR) {
    size_t m = a->u.str.len < b->u.str.len ? a->u.str.len : b->u.str.len;
    int c = memcmp(a->u.str.s, b->u.str.s, m);

    *out = c ? (c < 0 ? -1 : 1)
             : (a->u.str.len < b->u.str.len ? -1 : a->u.str.len > b->u.str.len);
    return 0;
  }
  if (a->type == MG_PV_LIST && b->type == MG_PV_LIST) {
    for (size_t i = 0; i < a->u.list.n && i < b->u.list.n; i++) {
      if (!mg_pv_equal(a->u.list.v[i], b->u.list.v[i]))
        return compare(r, n, a->u.list.v[i], b->u.list.v[i], out);
    }
    *out = a->u.list.n < b->u.list.n ? -1 : a->u.list.n > b->u.list.n;
    return 0;
  }
  return rerr(r, n, "'<' not supported between instances of '%s' and '%s'",
              mg_pv_type_name(a), mg_pv_type_name(b));
}

static int contains(struct rctx *r, const struct node *n,
                    const struct mg_pv *item, const struct mg_pv *c, int *out)
{
  switch (c->type) {
  case MG_PV_STR:
    if (item->type != MG_PV_STR)
      return rerr(r, n,
                  "'in <string>' requires string as left operand, not "
                  "%s",
                  mg_pv_type_name(item));
    *out = memfind(c->u.str.s, c->u.str.len, item->u.str.s, item->u.str.len)
           != NULL;
    return 0;
  case MG_PV_LIST:
    *out = 0;
    for (size_t i = 0; i < c->u.list.n; i++)
      if (mg_pv_equal(item, c->u.list.v[i])) {
        *out = 1;
        break;
      }
    return 0;
  case MG_PV_DICT:
    *out = mg_pv_dict_getv(c, item) != NULL;
    return 0;
  default:
    return rerr(r, n, "argument of type '%s' is not iterable",
                mg_pv_type_name(c));
  }
}

/* Python-style index normalisation; -1 if out of range. */
static long norm_index(long long i, size_t len)
{
  if (i < 0)
    i += (long long)len;
  if (i < 0 || (size_t)i >= len)
    return -1;
  return (long)i;
}

static struct mg_pv *get_item(const struct mg_pv *obj, const struct mg_pv *key)
{
  if (obj->type == MG_PV_DICT) {
    struct mg_pv *v = mg_pv_dict_getv(obj, key);

    if (v)
      return mg_pv_ref(v);
    {
      struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
      struct mg_pv *u;

      mg_pv_repr(&b, key);
      u = mk_undef("'dict object' has no attribute %s", b.data);
      mg_buf_release(&b);
      return u;
    }
  }
  if ((obj->type == MG_PV_LIST || obj->type == MG_PV_STR)
      && (key->type == MG_PV_INT || key->type == MG_PV_BOOL)) {
    long long k = key->type == MG_PV_INT ? key->u.i : key->u.b;
    long i = norm_index(k, mg_pv_len(obj));

    if (i < 0)
      return mk_undef("%s has no element %lld", obj_name(obj), k);
    if (obj->type == MG_PV_LIST)
      return mg_pv_ref(obj->u.list.v[i]);
    {
      size_t a = mg_pv_utf8_offset(obj->u.str.s, obj->u.str.len, (size_t)i);
      size_t b = mg_pv_utf8_offset(obj->u.str.s, obj->u.str.len, (size_t)i + 1);

      return mg_pv_strn(obj->u.str.s + a, b - a);
    }
  }
  if (key->type == MG_PV_STR)
    return mk_undef("'%s' has no attribute '%s'", obj_name(obj), key->u.str.s);
  return mk_undef("'%s' has no element", obj_name(obj));
}

static int slice_bound(struct rctx *r, const struct node *n,
                       const struct mg_pv *v, long long def, long long *out)
{
  if (!v || v->type == MG_PV_NONE) {
    *out = def;
    return 0;
  }
  if (v->type != MG_PV_INT && v->type != MG_PV_BOOL)
    return rerr(r, n, "slice indices must be integers or None");
  *out = v->type == MG_PV_INT ? v->u.i : v->u.b;
  return 0;
}

static int do_slice(struct rctx *r, const struct node *n,
                    const struct mg_pv *obj, const struct mg_pv *a,
                    const struct mg_pv *b, const struct mg_pv *c,
                    struct mg_pv **out)
{
  long long len, start = 0, stop = 0, step = 1;
  struct mg_pv *res;
  int is_str = obj->type == MG_PV_STR;

  if (obj->type != MG_PV_LIST && !is_str)
    return rerr(r, n, "'%s' is not subscriptable", obj_name(obj));
  len = (long long)mg_pv_len(obj);
  if (slice_bound(r, n, c, 1, &step) < 0)
    return -1;
  if (step == 0)
    return rerr(r, n, "slice step cannot be zero");
  if (slice_bound(r, n, a, step > 0 ? 0 : len - 1, &start) < 0
      || slice_bound(r, n, b, step > 0 ? len : -len - 1, &stop) < 0)
    return -1;
  if (a && a->type != MG_PV_NONE && start < 0)
    start += len;
  if (b && b->type != MG_PV_NONE && stop < 0)
    stop += len;
  if (step > 0) {
    if (start < 0)
      start = 0;
    if (start > len)
      start = len;
    if (stop < 0)
      stop = 0;
    if (stop > len)
      stop = len;
  } else {
    if (start < -1)
      start = -1;
    if (start > len - 1)
      start = len - 1;
    if (stop < -1)
      stop = -1;
    if (stop > len - 1)
      stop = len - 1;
  }
  if (is_str) {
    struct mg_buf buf = MG_BUF_INIT(MG_BUF_UNLIMITED);
    const char *s = obj->u.str.s;
    size_t sn = obj->u.str.len;

    if (step == 1) {
      if (stop > start) {
        size_t x = mg_pv_utf8_offset(s, sn, (size_t)start);
        size_t y = mg_pv_utf8_offset(s, sn, (size_t)stop);

        mg_buf_add(&buf, s + x, y - x, NULL);
      }
    } else {
      for (long long i = start; step > 0 ? i < stop : i > stop; i += step) {
        size_t x = mg_pv_utf8_offset(s, sn, (size_t)i);
        size_t y = mg_pv_utf8_offset(s, sn, (size_t)i + 1);

        mg_buf_add(&buf, s + x, y - x, NULL);
      }
    }
    *out = mg_pv_str_buf(&buf);
    return 0;
  }
  res = mg_pv_list();
  for (long long i = start; step > 0 ? i < stop : i > stop; i += step)
    mg_pv_list_append(res, mg_pv_ref(obj->u.list.v[i]));
  *out = res;
  return 0;
}

static int arith(struct rctx *r, const struct node *n, int op,
                 const struct mg_pv *a, const struct mg_pv *b,
                 struct mg_pv **out)
{
  int both_int = (a->type == MG_PV_INT || a->type == MG_PV_BOOL)
                 && (b->type == MG_PV_INT || b->type == MG_PV_BOOL);
  long long x = a->type == MG_PV_INT    ? a->u.i
                : a->type == MG_PV_BOOL ? a->u.b
                                        : 0;
  long long y = b->type == MG_PV_INT    ? b->u.i
                : b->type == MG_PV_BOOL ? b->u.b
                                        : 0;
  double fx = mg_pv_num(a), fy = mg_pv_num(b);
  static const char *const names[] = {
    "+", "-", "*", "/", "//", "%", "**", "~"
  };

  if (op == OP_CONCAT) {
    struct mg_buf buf = MG_BUF_INIT(MG_BUF_UNLIMITED);

    mg_pv_to_str(&buf, a);
    mg_pv_to_str(&buf, b);
    *out = mg_pv_str_buf(&buf);
    return 0;
  }
  if (op == OP_ADD && a->type == MG_PV_STR && b->type == MG_PV_STR) {
    struct mg_buf buf = MG_BUF_INIT(MG_BUF_UNLIMITED);

    mg_buf_add(&buf, a->u.str.s, a->u.str.len, NULL);
    mg_buf_add(&buf, b->u.str.s, b->u.str.len, NULL);
    *out = mg_pv_str_buf(&buf);
    return 0;
  }
  if (op == OP_ADD && a->type == MG_PV_LIST && b->type == MG_PV_LIST) {
    struct mg_pv *l = mg_pv_copy(a);

    for (size_t i = 0; i < b->u.list.n; i++)
      mg_pv_list_append(l, mg_pv_ref(b->u.list.v[i]));
    *out = l;
    return 0;
  }
  if (op == OP_MUL
      && ((a->type == MG_PV_STR || a->type == MG_PV_LIST)
          && (b->type == MG_PV_INT || b->type == MG_PV_BOOL))) {
    if (a->type == MG_PV_STR) {
      struct mg_buf buf = MG_BUF_INIT(MG_BUF_UNLIMITED);

      for (long long i = 0; i < y; i++)
        mg_buf_add(&buf, a->u.str.s, a->u.str.len, NULL);
      *out = mg_pv_str_buf(&buf);
    } else {
      struct mg_pv *l = mg_pv_list();

      for (long long i = 0; i < y; i++)
        for (size_t j = 0; j < a->u.list.n; j++)
          mg_pv_list_append(l, mg_pv_ref(a->u.list.v[j]));
      *out = l;
    }
    return 0;
  }
  if (!mg_pv_is_number(a) || !mg_pv_is_number(b))
    return rerr(r, n, "unsupported operand type(s) for %s: '%s' and '%s'",
                names[op], mg_pv_type_name(a), mg_pv_type_name(b));
  switch (op) {
  case OP_ADD:
    *out = both_int ? mg_pv_int(x + y) : mg_pv_float(fx + fy);
    return 0;
  case OP_SUB:
    *out = both_int ? mg_pv_int(x - y) : mg_pv_float(fx - fy);
    return 0;
  case OP_MUL:
    *out = both_int ? mg_pv_int(x * y) : mg_pv_float(fx * fy);
    return 0;
  case OP_DIV:
    if (fy == 0)
      return rerr(r, n, "division by zero");
    *out = mg_pv_float(fx / fy);
    return 0;
  case OP_FLOORDIV:
    if (fy == 0)
      return rerr(r, n, "integer division or modulo by zero");
    if (both_int) {
      long long q = x / y;

      if ((x % y != 0) && ((x < 0) != (y < 0)))
        q--;
      *out = mg_pv_int(q);
    } else {
      *out = mg_pv_float(floor(fx / fy));
    }
    return 0;
  case OP_MOD:
    if (fy == 0)
      return rerr(r, n, "integer division or modulo by zero");
    if (both_int) {
      long long m = x % y;

      if (m != 0 && ((m < 0) != (y < 0)))
        m += y;
      *out = mg_pv_int(m);
    } else {
      double m = fmod(fx, fy);

      if (m != 0 && ((m < 0) != (fy < 0)))
        m += fy;
      *out = mg_pv_float(m);
    }
    return 0;
  case OP_POW:
    if (both_int && y >= 0) {
      long long acc = 1;

      for (long long i = 0; i < y; i++)
        acc *= x;
      *out = mg_pv_int(acc);
    } else {
      *out = mg_pv_float(pow(fx, fy));
    }
    return 0;
  default:
    return rerr(r, n, "bad operator");
  }
}

/* --- calls --- */

struct args {
  struct mg_pv *pos[8];
  size_t npos;
  const char *kwn[8];
  struct mg_pv *kwv[8];
  size_t nkw;
};

static void args_release(struct args *a)
{
  for (size_t i = 0; i < a->npos; i++)
    mg_pv_unref(a->pos[i]);
  for (size_t i = 0; i < a->nkw; i++)
    mg_pv_unref(a->kwv[i]);
  a->npos = a->nkw = 0;
}

/* Evaluates children first..nk-1 of n as call arguments. */
static int eval_args(struct rctx *r, const struct node *n, size_t first,
                     struct args *a)
{
  memset(a, 0, sizeof(*a));
  for (size_t i = first; i < n->nk; i++) {
    struct mg_pv *v;

    if (evd(r, n->k[i], &v) < 0) {
      args_release(a);
      return -1;
    }
    if (n->kw[i]) {
      if (a->nkw >= 8) {
        mg_pv_unref(v);
        args_release(a);
        return rerr(r, n, "too many keyword arguments");
      }
      a->kwn[a->nkw] = n->kw[i];
      a->kwv[a->nkw++] = v;
    } else {
      if (a->npos >= 8) {
        mg_pv_unref(v);
        args_release(a);
        return rerr(r, n, "too many arguments");
      }
      a->pos[a->npos++] = v;
    }
  }
  return 0;
}

/* Argument i by position or keyword name; NULL if absent. Borrowed. */
static struct mg_pv *arg(const struct args *a, size_t i, const char *name)
{
  if (i < a->npos)
    return a->pos[i];
  for (size_t k = 0; k < a->nkw; k++)
    if (name && strcmp(a->kwn[k], name) == 0)
      return a->kwv[k];
  return NULL;
}

static int need_str(struct rctx *r, const struct node *n, const struct mg_pv *v,
                    const char *what)
{
  if (!v || v->type != MG_PV_STR)
    return rerr(r, n, "%s must be str, not %s", what, mg_pv_type_name(v));
  return 0;
}

static int need_int(struct rctx *r, const struct node *n, const struct mg_pv *v,
                    const char *what, long long *out)
{
  if (!v || (v->type != MG_PV_INT && v->type != MG_PV_BOOL))
    return rerr(r, n, "%s must be an integer, not %s", what,
                mg_pv_type_name(v));
  *out = v->type == MG_PV_INT ? v->u.i : v->u.b;
  return 0;
}

static size_t byte_to_cp(const char *s, size_t off)
{
  return mg_pv_utf8_count(s, off);
}

static int str_is(const struct mg_pv *s, int kind)
{
  size_t i = 0;
  int any_cased = 0;

  if (s->u.str.len == 0)
    return 0;
  while (i < s->u.str.len) {
    int32_t c = cp_at(s->u.str.s, s->u.str.len, &i);
    utf8proc_category_t cat = utf8proc_category(c);

    switch (kind) {
    case 'd': /* isdigit / isdecimal */
      if (cat != UTF8PROC_CATEGORY_ND && !(c >= 0x2070 && c <= 0x2079)
          && c != 0xb2 && c != 0xb3 && c != 0xb9)
        return 0;
      break;
    case 'D':
      if (cat != UTF8PROC_CATEGORY_ND)
        return 0;
      break;
    case 'n': /* isnumeric */
      if (cat != UTF8PROC_CATEGORY_ND && cat != UTF8PROC_CATEGORY_NL
          && cat != UTF8PROC_CATEGORY_NO)
        return 0;
      break;
    case 'a':
      if (cat < UTF8PROC_CATEGORY_LU || cat > UTF8PROC_CATEGORY_LO)
        return 0;
      break;
    case 'A':
      if ((cat < UTF8PROC_CATEGORY_LU || cat > UTF8PROC_CATEGORY_LO)
          && cat != UTF8PROC_CATEGORY_ND && cat != UTF8PROC_CATEGORY_NL
          && cat != UTF8PROC_CATEGORY_NO)
        return 0;
      break;
    case 's':
      if (!py_isspace(c))
        return 0;
      break;
    case 'u':
      if (cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT)
        return 0;
      if (cat == UTF8PROC_CATEGORY_LU)
        any_cased = 1;
      break;
    case 'l':
      if (cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LT)
        return 0;
      if (cat == UTF8PROC_CATEGORY_LL)
        any_cased = 1;
      break;
    }
  }
  if (kind == 'u' || kind == 'l')
    return any_cased;
  return 1;
}

static int str_format(struct rctx *r, const struct node *n,
                      const struct mg_pv *fmt, const struct args *a,
                      struct mg_pv **out)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  const char *s = fmt->u.str.s;
  size_t len = fmt->u.str.len, auto_idx = 0;

  for (size_t i = 0; i < len; i++) {
    if (s[i] == '{' && i + 1 < len && s[i + 1] == '{') {
      mg_buf_addch(&b, '{', NULL);
      i++;
    } else if (s[i] == '}' && i + 1 < len && s[i + 1] == '}') {
      mg_buf_addch(&b, '}', NULL);
      i++;
    } else if (s[i] == '{') {
      const char *e = memchr(s + i, '}', len - i);
      char field[64];
      size_t fl;
      const struct mg_pv *v = NULL;

      if (!e || (fl = (size_t)(e - s - i - 1)) >= sizeof(field)) {
        mg_buf_release(&b);
        return rerr(r, n, "bad format string");
      }
      memcpy(field, s + i + 1, fl);
      field[fl] = '\0';
      if (strchr(field, ':') || strchr(field, '!')) {
        mg_buf_release(&b);
        return rerr(r, n, "format specs are not supported in str.format");
      }
      if (fl == 0) {
        v = auto_idx < a->npos ? a->pos[auto_idx] : NULL;
        auto_idx++;
      } else if (field[0] >= '0' && field[0] <= '9') {
        size_t idx = (size_t)strtoul(field, NULL, 10);

        v = idx < a->npos ? a->pos[idx] : NULL;
      } else {
        v = arg(a, (size_t)-1, field);
      }
      if (!v) {
        mg_buf_release(&b);
        return rerr(r, n, "missing argument for '{%s}' in str.format", field);
      }
      mg_pv_to_str(&b, v);
      i = (size_t)(e - s);
    } else {
      mg_buf_addch(&b, s[i], NULL);
    }
  }
  *out = mg_pv_str_buf(&b);
  return 0;
}

static int call_str_method(struct rctx *r, const struct node *n,
                           const struct mg_pv *s, const char *m,
                           const struct args *a, struct mg_pv **out)
{
  struct mg_pv *a0 = arg(a, 0, NULL), *a1 = arg(a, 1, NULL);
  long long k;

  if (!strcmp(m, "strip") || !strcmp(m, "lstrip") || !strcmp(m, "rstrip")) {
    if (a0 && a0->type != MG_PV_NONE && need_str(r, n, a0, "strip arg") < 0)
      return -1;
    *out = str_strip(s, a0 && a0->type == MG_PV_STR ? a0 : NULL, m[0] != 'r',
                     m[0] != 'l');
    return 0;
  }
  if (!strcmp(m, "lower") || !strcmp(m, "casefold")) {
    *out = str_case(s, CASE_LOWER);
    return 0;
  }
  if (!strcmp(m, "upper")) {
    *out = str_case(s, CASE_UPPER);
    return 0;
  }
  if (!strcmp(m, "capitalize")) {
    *out = str_case(s, CASE_CAPITALIZE);
    return 0;
  }
  if (!strcmp(m, "title")) {
    *out = str_case(s, CASE_TITLE);
    return 0;
  }
  if (!strcmp(m, "swapcase")) {
    *out = str_case(s, CASE_SWAP);
    return 0;
  }
  if (!strcmp(m, "split") || !strcmp(m, "rsplit")) {
    struct mg_pv *sep = arg(a, 0, "sep"), *ms = arg(a, 1, "maxsplit");
    long long maxsplit = -1;

    if (sep && sep->type == MG_PV_NONE)
      sep = NULL;
    if (sep && need_str(r, n, sep, "separator") < 0)
      return -1;
    if (sep && sep->u.str.len == 0)
      return rerr(r, n, "empty separator");
    if (ms && need_int(r, n, ms, "maxsplit", &maxsplit) < 0)
      return -1;
    if (m[0] == 'r' && maxsplit >= 0)
      return rerr(r, n, "rsplit with maxsplit is not supported");
    *out = str_split(s, sep, (long)maxsplit);
    return 0;
  }
  if (!strcmp(m, "splitlines")) {
    struct mg_pv *l = mg_pv_list();
    const char *p = s->u.str.s;
    size_t i = 0, start = 0, len = s->u.str.len;

    while (i < len) {
      if (p[i] == '\n' || p[i] == '\r') {
        mg_pv_list_append(l, mg_pv_strn(p + start, i - start));
        if (p[i] == '\r' && i + 1 < len && p[i + 1] == '\n')
          i++;
        start = ++i;
      } else {
        i++;
      }
    }
    if (start < len)
      mg_pv_list_append(l, mg_pv_strn(p + start, len - start));
    *out = l;
    return 0;
  }
  if (!strcmp(m, "replace")) {
    long long count = -1;

    if (need_str(r, n, a0, "replace arg 1") < 0
        || need_str(r, n, a1, "replace arg 2") < 0)
      return -1;
    if (arg(a, 2, "count")
        && need_int(r, n, arg(a, 2, "count"), "count", &count) < 0)
      return -1;
    *out = str_replace(s, a0, a1, (long)count);
    return 0;
  }
  if (!strcmp(m, "startswith") || !strcmp(m, "endswith")) {
    int hit = 0;
    const struct mg_pv *cands = a0;
    size_t nc = a0 && a0->type == MG_PV_LIST ? a0->u.list.n : 1;

    for (size_t i = 0; i < nc; i++) {
      const struct mg_pv *c =
          a0 && a0->type == MG_PV_LIST ? cands->u.list.v[i] : a0;

      if (need_str(r, n, c, m) < 0)
        return -1;
      if (c->u.str.len <= s->u.str.len
          && memcmp(m[0] == 's' ? s->u.str.s
                                : s->u.str.s + s->u.str.len - c->u.str.len,
                    c->u.str.s, c->u.str.len)
                 == 0)
        hit = 1;
    }
    *out = mg_pv_bool(hit);
    return 0;
  }
  if (!strcmp(m, "find") || !strcmp(m, "index") || !strcmp(m, "rfind")
      || !strcmp(m, "rindex") || !strcmp(m, "count")) {
    const char *hit = NULL;

    if (need_str(r, n, a0, m) < 0)
      return -1;
    if (a->npos > 1)
      return rerr(r, n, "start/end arguments of str.%s are not supported", m);
    if (!strcmp(m, "count")) {
      long long c = 0;
      size_t i = 0;

      if (a0->u.str.len == 0) {
        *out = mg_pv_int((long long)mg_pv_len(s) + 1);
        return 0;
      }
      while ((hit = memfind(s->u.str.s + i, s->u.str.len - i, a0->u.str.s,
                            a0->u.str.len))) {
        c++;
        i = (size_t)(hit - s->u.str.s) + a0->u.str.len;
      }
      *out = mg_pv_int(c);
      return 0;
    }
    if (m[0] == 'r') {
      for (size_t i = s->u.str.len + 1; i-- > 0;)
        if (i + a0->u.str.len <= s->u.str.len
            && memcmp(s->u.str.s + i, a0->u.str.s, a0->u.str.len) == 0) {
          hit = s->u.str.s + i;
          break;
        }
    } else {
      hit = memfind(s->u.str.s, s->u.str.len, a0->u.str.s, a0->u.str.len);
    }
    if (!hit) {
      if (strstr(m, "index"))
        return rerr(r, n, "substring not found");
      *out = mg_pv_int(-1);
      return 0;
    }
    *out = mg_pv_int(
        (long long)byte_to_cp(s->u.str.s, (size_t)(hit - s->u.str.s)));
    return 0;
  }
  if (!strcmp(m, "join")) {
    struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
    struct mg_pv *items;

    if (!a0)
      return rerr(r, n, "join() takes exactly one argument");
    if (iter_items(r, n, a0, &items) < 0)
      return -1;
    for (size_t i = 0; i < items->u.list.n; i++) {
      if (items->u.list.v[i]->type != MG_PV_STR) {
        mg_buf_release(&b);
        rerr(r, n, "sequence item %zu: expected str instance, %s found", i,
             mg_pv_type_name(items->u.list.v[i]));
        mg_pv_unref(items);
        return -1;
      }
      if (i)
        mg_buf_add(&b, s->u.str.s, s->u.str.len, NULL);
      mg_buf_add(&b, items->u.list.v[i]->u.str.s, items->u.list.v[i]->u.str.len,
                 NULL);
    }
    mg_pv_unref(items);
    *out = mg_pv_str_buf(&b);
    return 0;
  }
  if (!strcmp(m, "format"))
    return str_format(r, n, s, a, out);
  if (!strcmp(m, "zfill")) {
    struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
    size_t len = mg_pv_len(s), off = 0;

    if (need_int(r, n, a0, "width", &k) < 0)
      return -1;
    if (s->u.str.len && (s->u.str.s[0] == '-' || s->u.str.s[0] == '+')) {
      mg_buf_addch(&b, s->u.str.s[0], NULL);
      off = 1;
    }
    for (long long i = (long long)len; i < k; i++)
      mg_buf_addch(&b, '0', NULL);
    mg_buf_add(&b, s->u.str.s + off, s->u.str.len - off, NULL);
    *out = mg_pv_str_buf(&b);
    return 0;
  }
  {
    static const struct {
      const char *name;
      int kind;
    } preds[] = { { "isdigit", 'd' },   { "isdecimal", 'D' },
                  { "isnumeric", 'n' }, { "isalpha", 'a' },
                  { "isalnum", 'A' },   { "isspace", 's' },
                  { "isupper", 'u' },   { "islower", 'l' } };

    for (size_t i = 0; i < sizeof(preds) / sizeof(*preds); i++)
      if (!strcmp(m, preds[i].name)) {
        *out = mg_pv_bool(str_is(s, preds[i].kind));
        return 0;
      }
  }
  return rerr(r, n, "'str object' has no attribute '%s'", m);
}

static int call_method(struct rctx *r, const struct node *n,
                       const struct mg_pv *obj, const char *m,
                       const struct args *a, struct mg_pv **out)
{
  struct mg_pv *a0 = arg(a, 0, NULL);

  if (obj->type == MG_PV_STR)
    return call_str_method(r, n, obj, m, a, out);
  if (obj->type == MG_PV_LIST) {
    if (!strcmp(m, "index") || !strcmp(m, "count")) {
      long long c = 0;

      if (!a0)
        return rerr(r, n, "list.%s() takes exactly one argument", m);
      for (size_t i = 0; i < obj->u.list.n; i++)
        if (mg_pv_equal(obj->u.list.v[i], a0)) {
          if (m[0] == 'i') {
            *out = mg_pv_int((long long)i);
            return 0;
          }
          c++;
        }
      if (m[0] == 'i') {
        struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
        int rc;

        mg_pv_repr(&b, a0);
        rc = rerr(r, n, "%s is not in list", b.data);
        mg_buf_release(&b);
        return rc;
      }
      *out = mg_pv_int(c);
      return 0;
    }
  }
  if (obj->type == MG_PV_DICT) {
    if (!strcmp(m, "keys") || !strcmp(m, "values") || !strcmp(m, "items")) {
      struct mg_pv *l = mg_pv_list();

      for (size_t i = 0; i < obj->u.dict.n; i++) {
        if (m[0] == 'k') {
          mg_pv_list_append(l, mg_pv_ref(obj->u.dict.k[i]));
        } else if (m[0] == 'v') {
          mg_pv_list_append(l, mg_pv_ref(obj->u.dict.v[i]));
        } else {
          struct mg_pv *t = mg_pv_tuple();

          mg_pv_list_append(t, mg_pv_ref(obj->u.dict.k[i]));
          mg_pv_list_append(t, mg_pv_ref(obj->u.dict.v[i]));
          mg_pv_list_append(l, t);
        }
      }
      *out = l;
      return 0;
    }
    if (!strcmp(m, "get")) {
      struct mg_pv *v = a0 ? mg_pv_dict_getv(obj, a0) : NULL;
      struct mg_pv *def = arg(a, 1, "default");

      *out = v ? mg_pv_ref(v) : def ? mg_pv_ref(def) : mg_pv_none();
      return 0;
    }
  }
  return rerr(r, n, "'%s' has no attribute '%s'", obj_name(obj), m);
}

static int call_global(struct rctx *r, const struct node *n, const char *name,
                       const struct args *a, struct mg_pv **out)
{
  if (!strcmp(name, "range")) {
    long long start = 0, stop = 0, step = 1;
    struct mg_pv *l;

    if (a->npos == 1) {
      if (need_int(r, n, a->pos[0], "range()", &stop) < 0)
        return -1;
    } else if (a->npos == 2 || a->npos == 3) {
      if (need_int(r, n, a->pos[0], "range()", &start) < 0
          || need_int(r, n, a->pos[1], "range()", &stop) < 0
          || (a->npos == 3 && need_int(r, n, a->pos[2], "range()", &step) < 0))
        return -1;
    } else {
      return rerr(r, n, "range expected 1 to 3 arguments");
    }
    if (step == 0)
      return rerr(r, n, "range() arg 3 must not be zero");
    if ((stop - start) / step > 100000)
      return rerr(r, n, "range too big");
    l = mg_pv_list();
    for (long long i = start; step > 0 ? i < stop : i > stop; i += step)
      mg_pv_list_append(l, mg_pv_int(i));
    *out = l;
    return 0;
  }
  if (!strcmp(name, "dict")) {
    struct mg_pv *d = mg_pv_dict();

    for (size_t i = 0; i < a->nkw; i++)
      mg_pv_dict_sets(d, a->kwn[i], mg_pv_ref(a->kwv[i]));
    *out = d;
    return 0;
  }
  if (!strcmp(name, "namespace")) {
    /* a mutable object for {% set ns.x = ... %} across scopes */
    struct mg_pv *d = mg_pv_dict();

    if (a->npos > 1 || (a->npos == 1 && a->pos[0]->type != MG_PV_DICT)) {
      mg_pv_unref(d);
      return rerr(r, n, "namespace() takes keyword arguments or a dict");
    }
    for (size_t i = 0; a->npos == 1 && i < a->pos[0]->u.dict.n; i++)
      mg_pv_dict_set(d, mg_pv_ref(a->pos[0]->u.dict.k[i]),
                     mg_pv_ref(a->pos[0]->u.dict.v[i]));
    for (size_t i = 0; i < a->nkw; i++)
      mg_pv_dict_sets(d, a->kwn[i], mg_pv_ref(a->kwv[i]));
    r->ns = mg_xreallocarray(r->ns, r->nns + 1, sizeof(*r->ns));
    r->ns[r->nns++] = mg_pv_ref(d);
    *out = d;
    return 0;
  }
  if ((r->t->flags & MG_TMPL_HF_GLOBALS) && !strcmp(name, "raise_exception")) {
    struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
    int rc;

    if (a->npos)
      mg_pv_to_str(&b, a->pos[0]);
    mg_buf_addch(&b, '\0', NULL);
    rc = rerr(r, n, "raise_exception: %s", b.data);
    mg_buf_release(&b);
    return rc;
  }
  if ((r->t->flags & MG_TMPL_HF_GLOBALS) && !strcmp(name, "strftime_now")) {
    char buf[256];
    time_t now = time(NULL);
    struct tm tm;
    size_t k;

    if (a->npos != 1 || a->pos[0]->type != MG_PV_STR)
      return rerr(r, n, "strftime_now() takes a format string");
    if (!localtime_r(&now, &tm))
      return rerr(r, n, "strftime_now(): no local time");
      /* the template supplies the format, as transformers' global does */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    k = strftime(buf, sizeof(buf), a->pos[0]->u.str.s, &tm);
#pragma GCC diagnostic pop
    *out = mg_pv_strn(buf, k);
    return 0;
  }
  return rerr(r, n, "'%s' is undefined", name);
}

/* --- filters --- */

static int to_int_filter(const struct mg_pv *v, const struct mg_pv *def,
                         struct mg_pv **out)
{
  switch (v->type) {
  case MG_PV_INT:
    *out = mg_pv_ref((struct mg_pv *)v);
    return 0;
  case MG_PV_BOOL:
    *out = mg_pv_int(v->u.b);
    return 0;
  case MG_PV_FLOAT:
    *out = mg_pv_int((long long)v->u.f);
    return 0;
  case MG_PV_STR: {
    char *end;
    long long i;
    double d;
    struct mg_pv *st = str_strip(v, NULL, 1, 1);

    i = strtoll(st->u.str.s, &end, 10);
    if (st->u.str.len && !*end) {
      mg_pv_unref(st);
      *out = mg_pv_int(i);
      return 0;
    }
    d = strtod(st->u.str.s, &end);
    if (st->u.str.len && !*end && isfinite(d)) {
      mg_pv_unref(st);
      *out = mg_pv_int((long long)d);
      return 0;
    }
    mg_pv_unref(st);
    break;
  }
  default:
    break;
  }
  *out = def ? mg_pv_ref((struct mg_pv *)def) : mg_pv_int(0);
  return 0;
}

static int apply_test(struct rctx *r, const struct node *n, const char *t,
                      struct mg_pv *v, const struct args *a, int *out);

/* A copy of v with every dict's keys sorted (json.dumps sort_keys). */
static struct mg_pv *sorted_keys(const struct mg_pv *v)
{
  struct mg_pv *c;

  if (v->type == MG_PV_LIST) {
    c = v->u.list.tuple ? mg_pv_tuple() : mg_pv_list();
    for (size_t i = 0; i < v->u.list.n; i++)
      mg_pv_list_append(c, sorted_keys(v->u.list.v[i]));
    return c;
  }
  if (v->type != MG_PV_DICT)
    return mg_pv_ref((struct mg_pv *)v);
  c = mg_pv_dict();
  {
    size_t n = v->u.dict.n, *ix = mg_xreallocarray(NULL, n + 1, sizeof(size_t));

    for (size_t i = 0; i < n; i++)
      ix[i] = i;
    /* insertion sort on the keys' UTF-8 bytes (= code point order) */
    for (size_t i = 1; i < n; i++) {
      size_t x = ix[i], j = i;

      while (j > 0) {
        const struct mg_pv *ka = v->u.dict.k[ix[j - 1]], *kb = v->u.dict.k[x];
        const char *sa = mg_pv_cstr(ka), *sb = mg_pv_cstr(kb);
        size_t la = sa ? ka->u.str.len : 0, lb = sb ? kb->u.str.len : 0;
        int cmp = memcmp(sa ? sa : "", sb ? sb : "", la < lb ? la : lb);

        if (cmp < 0 || (cmp == 0 && la <= lb))
          break;
        ix[j] = ix[j - 1];
        j--;
      }
      ix[j] = x;
    }
    for (size_t i = 0; i < n; i++)
      mg_pv_dict_set(c, mg_pv_ref(v->u.dict.k[ix[i]]),
                     sorted_keys(v->u.dict.v[ix[i]]));
    free(ix);
  }
  return c;
}

/*
 * tojson. transformers: json.dumps(x, ensure_ascii=False, indent=indent,
 * separators=None, sort_keys=sort_keys). Jinja's own: htmlsafe_json_dumps
 * (sort_keys, ensure_ascii, then <, >, & and ' as \u escapes).
 */
static int filter_tojson(struct rctx *r, const struct node *n,
                         const struct mg_pv *v, const struct args *a,
                         struct mg_pv **out)
{
  int hf = (r->t->flags & MG_TMPL_HF_GLOBALS) != 0;
  struct mg_pv *ind = arg(a, 0, "indent"),
               *sk = arg(a, (size_t)-1, "sort_keys");
  struct mg_pv *sep = arg(a, (size_t)-1, "separators");
  struct mg_pv *ea = arg(a, (size_t)-1, "ensure_ascii");
  struct mg_pv *x;
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED),
                o = MG_BUF_INIT(MG_BUF_UNLIMITED);
  int indent = -1, sort = hf ? 0 : 1, ascii = hf ? 0 : 1;

  if (ind && ind->type != MG_PV_NONE) {
    if (ind->type != MG_PV_INT || ind->u.i < 0 || ind->u.i > 64)
      return rerr(r, n, "tojson: indent must be a small integer");
    indent = (int)ind->u.i;
  }
  if (sep && sep->type != MG_PV_NONE)
    return rerr(r, n, "tojson: separators are not supported");
  if (sk)
    sort = mg_pv_truthy(sk);
  if (ea)
    ascii = mg_pv_truthy(ea);
  x = sort ? sorted_keys(v) : mg_pv_ref((struct mg_pv *)v);
  mg_pv_dumps(&b, x, indent);
  mg_pv_unref(x);
  for (size_t i = 0; i < b.len;) {
    unsigned char c = (unsigned char)b.data[i];

    if (c >= 0x80 && ascii) {
      size_t j = i;
      int32_t cp = cp_at(b.data, b.len, &j);

      if (cp >= 0x10000) {
        cp -= 0x10000;
        mg_buf_printf(&o, NULL, "\\u%04x\\u%04x", 0xD800 + (cp >> 10),
                      0xDC00 + (cp & 0x3FF));
      } else {
        mg_buf_printf(&o, NULL, "\\u%04x", cp);
      }
      i = j;
      continue;
    }
    if (!hf && (c == '<' || c == '>' || c == '&' || c == '\''))
      mg_buf_printf(&o, NULL, "\\u%04x", c);
    else
      mg_buf_addch(&o, (char)c, NULL);
    i++;
  }
  mg_buf_release(&b);
  *out = mg_pv_str_buf(&o);
  return 0;
}

/* selectattr / rejectattr: items whose attribute passes a test (or is
 * true when no test is named). */
static int filter_selectattr(struct rctx *r, const struct node *n,
                             const struct mg_pv *v, const struct args *a,
                             int reject, struct mg_pv **out)
{
  struct mg_pv *attr = arg(a, 0, NULL), *items, *l;
  struct mg_pv *test = a->npos > 1 ? a->pos[1] : NULL;
  struct args sub;

  if (!attr || attr->type != MG_PV_STR)
    return rerr(r, n, "%s needs an attribute name",
                reject ? "rejectattr" : "selectattr");
  if (test && test->type != MG_PV_STR)
    return rerr(r, n, "%s: the test must be named by a string",
                reject ? "rejectattr" : "selectattr");
  memset(&sub, 0, sizeof(sub));
  for (size_t i = 2; i < a->npos; i++)
    sub.pos[sub.npos++] = a->pos[i];
  if (iter_items(r, n, v, &items) < 0)
    return -1;
  l = mg_pv_list();
  for (size_t i = 0; i < items->u.list.n; i++) {
    struct mg_pv *x = get_item(items->u.list.v[i], attr);
    int ok;

    if (test) {
      if (apply_test(r, n, test->u.str.s, x, &sub, &ok) < 0) {
        mg_pv_unref(x);
        mg_pv_unref(items);
        mg_pv_unref(l);
        return -1;
      }
    } else {
      ok = !is_undef(x) && mg_pv_truthy(x);
    }
    mg_pv_unref(x);
    if (ok != reject)
      mg_pv_list_append(l, mg_pv_ref(items->u.list.v[i]));
  }
  mg_pv_unref(items);
  *out = l;
  return 0;
}

static int apply_filter2(struct rctx *r, const struct node *n, const char *f,
                         struct mg_pv *v, const struct args *a,
                         struct mg_pv **out);

/* v is borrowed. */
static int apply_filter(struct rctx *r, const struct node *n, const char *f,
                        struct mg_pv *v, const struct args *a,
                        struct mg_pv **out)
{
  if (is_undef(v) && r->lenient && strcmp(f, "default") && strcmp(f, "d")) {
    /* jinja2.Undefined: empty as a string, a sequence, a length */
    struct mg_pv *e;
    int rc;

    if (!strcmp(f, "length") || !strcmp(f, "count")) {
      *out = mg_pv_int(0);
      return 0;
    }
    if (!strcmp(f, "list") || !strcmp(f, "selectattr")
        || !strcmp(f, "rejectattr") || !strcmp(f, "map")) {
      *out = mg_pv_list();
      return 0;
    }
    if (!strcmp(f, "tojson"))
      return defined(r, n, mg_pv_ref(v));
    e = mg_pv_str("");
    rc = apply_filter2(r, n, f, e, a, out);
    mg_pv_unref(e);
    return rc;
  }
  if (!strcmp(f, "tojson") || !strcmp(f, "selectattr")
      || !strcmp(f, "rejectattr")) {
    if (defined(r, n, mg_pv_ref(v)) < 0)
      return -1;
    mg_pv_unref(v);
    if (f[0] == 't')
      return filter_tojson(r, n, v, a, out);
    return filter_selectattr(r, n, v, a, f[0] == 'r', out);
  }
  return apply_filter2(r, n, f, v, a, out);
}

static int apply_filter2(struct rctx *r, const struct node *n, const char *f,
                         struct mg_pv *v, const struct args *a,
                         struct mg_pv **out)
{
  struct mg_pv *a0 = arg(a, 0, NULL);

  if (!strcmp(f, "default") || !strcmp(f, "d")) {
    struct mg_pv *def = arg(a, 0, "default_value");
    struct mg_pv *boolean = arg(a, 1, "boolean");

    if (is_undef(v) || (boolean && mg_pv_truthy(boolean) && !mg_pv_truthy(v)))
      *out = def ? mg_pv_ref(def) : mg_pv_str("");
    else
      *out = mg_pv_ref(v);
    return 0;
  }
  if (defined(r, n, mg_pv_ref(v)) < 0)
    return -1;
  mg_pv_unref(v);
  if (!strcmp(f, "string")) {
    *out = to_str_pv(v);
    return 0;
  }
  if (!strcmp(f, "trim")) {
    struct mg_pv *s = to_str_pv(v);

    *out = str_strip(s, a0 && a0->type == MG_PV_STR ? a0 : NULL, 1, 1);
    mg_pv_unref(s);
    return 0;
  }
  if (!strcmp(f, "lower") || !strcmp(f, "upper") || !strcmp(f, "capitalize")
      || !strcmp(f, "title")) {
    struct mg_pv *s = to_str_pv(v);

    *out = str_case(s, f[0] == 'l'   ? CASE_LOWER
                       : f[0] == 'u' ? CASE_UPPER
                       : f[0] == 'c' ? CASE_CAPITALIZE
                                     : CASE_TITLE);
    mg_pv_unref(s);
    return 0;
  }
  if (!strcmp(f, "replace")) {
    struct mg_pv *s = to_str_pv(v), *c = arg(a, 2, "count");
    long long count = -1;

    if (need_str(r, n, a0, "replace old") < 0
        || need_str(r, n, arg(a, 1, NULL), "replace new") < 0
        || (c && c->type != MG_PV_NONE
            && need_int(r, n, c, "count", &count) < 0)) {
      mg_pv_unref(s);
      return -1;
    }
    *out = str_replace(s, a0, arg(a, 1, NULL), (long)count);
    mg_pv_unref(s);
    return 0;
  }
  if (!strcmp(f, "regex_replace")) {
    struct mg_pv *s = to_str_pv(v), *c = arg(a, 2, "count");
    struct mg_regex *re;
    struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
    long long count = 0;
    int rc;

    if (need_str(r, n, arg(a, 0, "pattern"), "pattern") < 0
        || need_str(r, n, arg(a, 1, "repl"), "repl") < 0
        || (c && need_int(r, n, c, "count", &count) < 0)) {
      mg_pv_unref(s);
      return -1;
    }
    if (mg_regex_compile(arg(a, 0, "pattern")->u.str.s, &re, r->err) < 0) {
      mg_pv_unref(s);
      return -1;
    }
    rc = mg_regex_sub(re, arg(a, 1, "repl")->u.str.s, s->u.str.s, s->u.str.len,
                      (long)count, &b, r->err);
    mg_regex_free(re);
    mg_pv_unref(s);
    if (rc < 0) {
      mg_buf_release(&b);
      return -1;
    }
    *out = mg_pv_str_buf(&b);
    return 0;
  }
  if (!strcmp(f, "length") || !strcmp(f, "count")) {
    if (v->type != MG_PV_STR && v->type != MG_PV_LIST && v->type != MG_PV_DICT)
      return rerr(r, n, "object of type '%s' has no len()", mg_pv_type_name(v));
    *out = mg_pv_int((long long)mg_pv_len(v));
    return 0;
  }
  if (!strcmp(f, "wordcount")) {
    struct mg_pv *s = to_str_pv(v), *l = str_split(s, NULL, -1);

    *out = mg_pv_int((long long)l->u.list.n);
    mg_pv_unref(l);
    mg_pv_unref(s);
    return 0;
  }
  if (!strcmp(f, "first") || !strcmp(f, "last")) {
    struct mg_pv *items;
    size_t cnt;

    if (iter_items(r, n, v, &items) < 0)
      return -1;
    cnt = items->u.list.n;
    if (cnt == 0)
      *out = mk_undef("No %s item, sequence was empty.", f);
    else
      *out = mg_pv_ref(items->u.list.v[f[0] == 'f' ? 0 : cnt - 1]);
    mg_pv_unref(items);
    return 0;
  }
  if (!strcmp(f, "int"))
    return to_int_filter(v, arg(a, 0, "default"), out);
  if (!strcmp(f, "float")) {
    struct mg_pv *def = arg(a, 0, "default");

    if (mg_pv_is_number(v)) {
      *out = mg_pv_float(mg_pv_num(v));
    } else if (v->type == MG_PV_STR) {
      char *end;
      double d = strtod(v->u.str.s, &end);

      *out = v->u.str.len && !*end ? mg_pv_float(d)
             : def                 ? mg_pv_ref(def)
                                   : mg_pv_float(0);
    } else {
      *out = def ? mg_pv_ref(def) : mg_pv_float(0);
    }
    return 0;
  }
  if (!strcmp(f, "abs")) {
    if (v->type == MG_PV_INT || v->type == MG_PV_BOOL)
      *out = mg_pv_int(llabs(v->type == MG_PV_INT ? v->u.i : v->u.b));
    else if (v->type == MG_PV_FLOAT)
      *out = mg_pv_float(fabs(v->u.f));
    else
      return rerr(r, n, "bad operand type for abs(): '%s'", mg_pv_type_name(v));
    return 0;
  }
  if (!strcmp(f, "round")) {
    long long prec = 0;
    double x, m;

    if (arg(a, 0, "precision")
        && need_int(r, n, arg(a, 0, "precision"), "precision", &prec) < 0)
      return -1;
    if (!mg_pv_is_number(v))
      return rerr(r, n, "round needs a number");
    m = pow(10.0, (double)prec);
    x = mg_pv_num(v) * m;
    /* Jinja's 'common' method is Python's round(): half to even */
    *out = mg_pv_float(rint(x) / m);
    return 0;
  }
  if (!strcmp(f, "join")) {
    struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
    struct mg_pv *items, *sep = arg(a, 0, "d"), *attr = arg(a, 1, "attribute");

    if (iter_items(r, n, v, &items) < 0)
      return -1;
    for (size_t i = 0; i < items->u.list.n; i++) {
      const struct mg_pv *it = items->u.list.v[i];

      if (i && sep)
        mg_pv_to_str(&b, sep);
      if (attr) {
        struct mg_pv *g = get_item(it, attr);

        if (defined(r, n, g) < 0) {
          mg_buf_release(&b);
          mg_pv_unref(items);
          return -1;
        }
        mg_pv_to_str(&b, g);
        mg_pv_unref(g);
      } else {
        mg_pv_to_str(&b, it);
      }
    }
    mg_pv_unref(items);
    *out = mg_pv_str_buf(&b);
    return 0;
  }
  if (!strcmp(f, "list")) {
    struct mg_pv *items;

    if (iter_items(r, n, v, &items) < 0)
      return -1;
    *out = mg_pv_list();
    for (size_t i = 0; i < items->u.list.n; i++)
      mg_pv_list_append(*out, mg_pv_ref(items->u.list.v[i]));
    mg_pv_unref(items);
    return 0;
  }
  if (!strcmp(f, "reverse")) {
    if (v->type == MG_PV_STR) {
      struct mg_pv *items, *rev;
      struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

      if (iter_items(r, n, v, &items) < 0)
        return -1;
      for (size_t i = items->u.list.n; i-- > 0;)
        mg_pv_to_str(&b, items->u.list.v[i]);
      mg_pv_unref(items);
      rev = mg_pv_str_buf(&b);
      *out = rev;
      return 0;
    } else {
      struct mg_pv *items, *l = mg_pv_list();

      if (iter_items(r, n, v, &items) < 0) {
        mg_pv_unref(l);
        return -1;
      }
      for (size_t i = items->u.list.n; i-- > 0;)
        mg_pv_list_append(l, mg_pv_ref(items->u.list.v[i]));
      mg_pv_unref(items);
      *out = l;
      return 0;
    }
  }
  if (!strcmp(f, "sort") || !strcmp(f, "unique")) {
    struct mg_pv *items, *l;
    int rev = arg(a, 0, "reverse") && mg_pv_truthy(arg(a, 0, "reverse"));

    if (iter_items(r, n, v, &items) < 0)
      return -1;
    l = mg_pv_copy(items);
    mg_pv_unref(items);
    if (f[0] == 'u') {
      struct mg_pv *u = mg_pv_list();

      for (size_t i = 0; i < l->u.list.n; i++) {
        int seen = 0;

        for (size_t j = 0; j < u->u.list.n; j++)
          if (mg_pv_equal(u->u.list.v[j], l->u.list.v[i]))
            seen = 1;
        if (!seen)
          mg_pv_list_append(u, mg_pv_ref(l->u.list.v[i]));
      }
      mg_pv_unref(l);
      *out = u;
      return 0;
    }
    /* insertion sort: stable, like Python's */
    for (size_t i = 1; i < l->u.list.n; i++) {
      struct mg_pv *x = l->u.list.v[i];
      size_t j = i;

      while (j > 0) {
        int c;

        if (compare(r, n, l->u.list.v[j - 1], x, &c) < 0) {
          mg_pv_unref(l);
          return -1;
        }
        if (rev ? c >= 0 : c <= 0)
          break;
        l->u.list.v[j] = l->u.list.v[j - 1];
        j--;
      }
      l->u.list.v[j] = x;
    }
    *out = l;
    return 0;
  }
  if (!strcmp(f, "sum")) {
    struct mg_pv *items, *acc = mg_pv_int(0);

    if (iter_items(r, n, v, &items) < 0) {
      mg_pv_unref(acc);
      return -1;
    }
    for (size_t i = 0; i < items->u.list.n; i++) {
      struct mg_pv *nx;

      if (arith(r, n, OP_ADD, acc, items->u.list.v[i], &nx) < 0) {
        mg_pv_unref(acc);
        mg_pv_unref(items);
        return -1;
      }
      mg_pv_unref(acc);
      acc = nx;
    }
    mg_pv_unref(items);
    *out = acc;
    return 0;
  }
  if (!strcmp(f, "items")) {
    struct args none;

    memset(&none, 0, sizeof(none));
    if (v->type != MG_PV_DICT)
      return rerr(r, n, "items filter needs a mapping");
    return call_method(r, n, v, "items", &none, out);
  }
  if (!strcmp(f, "map")) {
    struct mg_pv *attr = arg(a, (size_t)-1, "attribute"), *items, *l;

    if (!attr && a0 && a0->type == MG_PV_STR) {
      /* map('filter') */
      struct args sub;

      memset(&sub, 0, sizeof(sub));
      for (size_t i = 1; i < a->npos; i++)
        sub.pos[sub.npos++] = a->pos[i];
      if (iter_items(r, n, v, &items) < 0)
        return -1;
      l = mg_pv_list();
      for (size_t i = 0; i < items->u.list.n; i++) {
        struct mg_pv *o;

        if (apply_filter(r, n, a0->u.str.s, items->u.list.v[i], &sub, &o) < 0) {
          mg_pv_unref(items);
          mg_pv_unref(l);
          return -1;
        }
        mg_pv_list_append(l, o);
      }
      mg_pv_unref(items);
      *out = l;
      return 0;
    }
    if (!attr)
      return rerr(r, n, "map needs attribute= or a filter name");
    if (iter_items(r, n, v, &items) < 0)
      return -1;
    l = mg_pv_list();
    for (size_t i = 0; i < items->u.list.n; i++)
      mg_pv_list_append(l, get_item(items->u.list.v[i], attr));
    mg_pv_unref(items);
    *out = l;
    return 0;
  }
  return rerr(r, n, "no filter named '%s'", f);
}

/* --- tests --- */

static int apply_test(struct rctx *r, const struct node *n, const char *t,
                      struct mg_pv *v, const struct args *a, int *out)
{
  struct mg_pv *a0 = arg(a, 0, NULL);

  if (!strcmp(t, "defined") || !strcmp(t, "undefined")) {
    *out = (t[0] == 'd') == !is_undef(v);
    return 0;
  }
  if (defined(r, n, mg_pv_ref(v)) < 0)
    return -1;
  mg_pv_unref(v);
  if (!strcmp(t, "none"))
    *out = v->type == MG_PV_NONE;
  else if (!strcmp(t, "number"))
    *out = mg_pv_is_number(v);
  else if (!strcmp(t, "integer"))
    *out = v->type == MG_PV_INT;
  else if (!strcmp(t, "float"))
    *out = v->type == MG_PV_FLOAT;
  else if (!strcmp(t, "string"))
    *out = v->type == MG_PV_STR;
  else if (!strcmp(t, "mapping"))
    *out = v->type == MG_PV_DICT;
  else if (!strcmp(t, "sequence") || !strcmp(t, "iterable"))
    *out =
        v->type == MG_PV_STR || v->type == MG_PV_LIST || v->type == MG_PV_DICT;
  else if (!strcmp(t, "boolean"))
    *out = v->type == MG_PV_BOOL;
  else if (!strcmp(t, "true"))
    *out = v->type == MG_PV_BOOL && v->u.b;
  else if (!strcmp(t, "false"))
    *out = v->type == MG_PV_BOOL && !v->u.b;
  else if (!strcmp(t, "odd") || !strcmp(t, "even")) {
    long long x;

    if (need_int(r, n, v, t, &x) < 0)
      return -1;
    *out = (x % 2 != 0) == (t[0] == 'o');
  } else if (!strcmp(t, "divisibleby")) {
    long long x, y;

    if (need_int(r, n, v, t, &x) < 0 || need_int(r, n, a0, t, &y) < 0)
      return -1;
    if (y == 0)
      return rerr(r, n, "integer division or modulo by zero");
    *out = x % y == 0;
  } else if (!strcmp(t, "eq") || !strcmp(t, "equalto") || !strcmp(t, "==")
             || !strcmp(t, "sameas")) {
    *out = a0 && mg_pv_equal(v, a0);
  } else if (!strcmp(t, "ne") || !strcmp(t, "!=")) {
    *out = !(a0 && mg_pv_equal(v, a0));
  } else if (!strcmp(t, "lt") || !strcmp(t, "<") || !strcmp(t, "le")
             || !strcmp(t, "<=") || !strcmp(t, "gt") || !strcmp(t, ">")
             || !strcmp(t, "ge") || !strcmp(t, ">=")) {
    int c;

    if (!a0)
      return rerr(r, n, "test '%s' needs an argument", t);
    if (compare(r, n, v, a0, &c) < 0)
      return -1;
    if (t[0] == 'l' || t[0] == '<')
      *out = (t[1] == 'e' || t[1] == '=') ? c <= 0 : c < 0;
    else
      *out = (t[1] == 'e' || t[1] == '=') ? c >= 0 : c > 0;
  } else if (!strcmp(t, "in")) {
    if (!a0)
      return rerr(r, n, "test 'in' needs an argument");
    return contains(r, n, v, a0, out);
  } else {
    return rerr(r, n, "no test named '%s'", t);
  }
  return 0;
}

/* --- expression evaluation --- */

static int ev_call(struct rctx *r, const struct node *n, struct mg_pv **out)
{
  const struct node *callee = n->k[0];
  struct args a;
  int rc;

  if (callee->kind == N_ATTR) {
    struct mg_pv *obj;

    if (evd(r, callee->k[0], &obj) < 0)
      return -1;
    if (eval_args(r, n, 1, &a) < 0) {
      mg_pv_unref(obj);
      return -1;
    }
    rc = call_method(r, n, obj, callee->name, &a, out);
    args_release(&a);
    mg_pv_unref(obj);
    return rc;
  }
  if (callee->kind == N_NAME && !lookup(r, callee->name)) {
    if (eval_args(r, n, 1, &a) < 0)
      return -1;
    rc = call_global(r, n, callee->name, &a, out);
    args_release(&a);
    return rc;
  }
  return rerr(r, n, "object is not callable");
}

static int ev(struct rctx *r, const struct node *n, struct mg_pv **out)
{
  struct mg_pv *a = NULL, *b = NULL;
  int rc = 0;

  *out = NULL;
  if (++r->depth > MAX_DEPTH) {
    r->depth--;
    return rerr(r, n, "expression nested too deeply");
  }
  switch (n->kind) {
  case N_LIT:
    *out = mg_pv_ref(n->lit);
    break;
  case N_NAME: {
    struct mg_pv *v = lookup(r, n->name);

    *out = v ? mg_pv_ref(v) : mk_undef("'%s' is undefined", n->name);
    break;
  }
  case N_ATTR:
    if ((rc = evd(r, n->k[0], &a)) < 0)
      break;
    if (a->type == MG_PV_DICT) {
      struct mg_pv *v = mg_pv_dict_get(a, n->name);

      *out = v ? mg_pv_ref(v)
               : mk_undef("'dict object' has no attribute '%s'", n->name);
    } else {
      *out = mk_undef("'%s' has no attribute '%s'", obj_name(a), n->name);
    }
    break;
  case N_ITEM:
    if ((rc = evd(r, n->k[0], &a)) < 0 || (rc = evd(r, n->k[1], &b)) < 0)
      break;
    *out = get_item(a, b);
    break;
  case N_SLICE: {
    struct mg_pv *p[3] = { NULL, NULL, NULL };

    if ((rc = evd(r, n->k[0], &a)) < 0)
      break;
    for (int j = 0; j < 3 && rc == 0; j++)
      if (n->k[j + 1])
        rc = evd(r, n->k[j + 1], &p[j]);
    if (rc == 0)
      rc = do_slice(r, n, a, p[0], p[1], p[2], out);
    for (int j = 0; j < 3; j++)
      mg_pv_unref(p[j]);
    break;
  }
  case N_CALL:
    rc = ev_call(r, n, out);
    break;
  case N_FILTER: {
    struct args args;

    if ((rc = ev(r, n->k[0], &a)) < 0)
      break;
    if ((rc = eval_args(r, n, 1, &args)) < 0)
      break;
    rc = apply_filter(r, n, n->name, a, &args, out);
    args_release(&args);
    break;
  }
  case N_TEST: {
    struct args args;
    int res = 0;

    if ((rc = ev(r, n->k[0], &a)) < 0)
      break;
    if ((rc = eval_args(r, n, 1, &args)) < 0)
      break;
    rc = apply_test(r, n, n->name, a, &args, &res);
    args_release(&args);
    if (rc == 0)
      *out = mg_pv_bool(n->negate ? !res : res);
    break;
  }
  case N_NEG:
  case N_POS:
    if ((rc = evd(r, n->k[0], &a)) < 0)
      break;
    if (a->type == MG_PV_INT || a->type == MG_PV_BOOL) {
      long long x = a->type == MG_PV_INT ? a->u.i : a->u.b;

      *out = mg_pv_int(n->kind == N_NEG ? -x : x);
    } else if (a->type == MG_PV_FLOAT) {
      *out = mg_pv_float(n->kind == N_NEG ? -a->u.f : a->u.f);
    } else {
      rc = rerr(r, n, "bad operand type for unary %c: '%s'",
                n->kind == N_NEG ? '-' : '+', mg_pv_type_name(a));
    }
    break;
  case N_NOT: {
    int t;

    if ((rc = ev_truth(r, n->k[0], &t)) < 0)
      break;
    *out = mg_pv_bool(!t);
    break;
  }
  case N_AND:
  case N_OR:
    if ((rc = ev(r, n->k[0], &a)) < 0)
      break;
    if (!(is_undef(a) && r->lenient) && (rc = defined(r, n->k[0], a)) < 0) {
      a = NULL;
      break;
    }
    if ((n->kind == N_AND) != (is_undef(a) ? 0 : mg_pv_truthy(a))) {
      *out = a;
      a = NULL;
      break;
    }
    rc = ev(r, n->k[1], out);
    break;
  case N_BIN:
    if (n->op == OP_CONCAT && r->lenient) {
      /* "~" converts with str(): an undefined operand gives "" */
      if ((rc = ev(r, n->k[0], &a)) < 0 || (rc = ev(r, n->k[1], &b)) < 0)
        break;
      if (is_undef(a)) {
        mg_pv_unref(a);
        a = mg_pv_str("");
      }
      if (is_undef(b)) {
        mg_pv_unref(b);
        b = mg_pv_str("");
      }
    } else if ((rc = evd(r, n->k[0], &a)) < 0
               || (rc = evd(r, n->k[1], &b)) < 0) {
      break;
    }
    rc = arith(r, n, n->op, a, b, out);
    break;
  case N_CMP: {
    int ok = 1;

    if ((rc = ev(r, n->k[0], &a)) < 0)
      break;
    if (!(is_undef(a) && r->lenient) && (rc = defined(r, n->k[0], a)) < 0) {
      a = NULL;
      break;
    }
    for (size_t i = 1; i < n->nk && ok; i++) {
      int c = 0, res = 0;

      if ((rc = ev(r, n->k[i], &b)) < 0)
        break;
      if (!(is_undef(b) && r->lenient) && (rc = defined(r, n->k[i], b)) < 0) {
        b = NULL;
        break;
      }
      if ((is_undef(a) || is_undef(b))
          && (n->ops[i] == C_EQ || n->ops[i] == C_NE)) {
        /* jinja2.Undefined equals only another Undefined */
        res = is_undef(a) == is_undef(b);
        if (n->ops[i] == C_NE)
          res = !res;
        ok = res;
        mg_pv_unref(a);
        a = b;
        b = NULL;
        continue;
      }
      if (is_undef(a) || is_undef(b)) {
        rc = defined(r, n, mg_pv_ref(is_undef(a) ? a : b));
        break;
      }
      switch (n->ops[i]) {
      case C_EQ:
        res = mg_pv_equal(a, b);
        break;
      case C_NE:
        res = !mg_pv_equal(a, b);
        break;
      case C_IN:
      case C_NOTIN:
        rc = contains(r, n, a, b, &res);
        if (n->ops[i] == C_NOTIN)
          res = !res;
        break;
      default:
        rc = compare(r, n, a, b, &c);
        res = n->ops[i] == C_LT   ? c < 0
              : n->ops[i] == C_LE ? c <= 0
              : n->ops[i] == C_GT ? c > 0
                                  : c >= 0;
      }
      if (rc < 0)
        break;
      ok = res;
      mg_pv_unref(a);
      a = b;
      b = NULL;
    }
    if (rc == 0)
      *out = mg_pv_bool(ok);
    break;
  }
  case N_COND: {
    int t;

    if ((rc = ev_truth(r, n->k[1], &t)) < 0)
      break;
    if (t)
      rc = ev(r, n->k[0], out);
    else if (n->k[2])
      rc = ev(r, n->k[2], out);
    else
      *out = mk_undef("the inline if-expression evaluated to false and no "
                      "else section was defined");
    break;
  }
  case N_LIST: {
    struct mg_pv *l = n->op ? mg_pv_tuple() : mg_pv_list();

    for (size_t i = 0; i < n->nk; i++) {
      struct mg_pv *v;

      if ((rc = evd(r, n->k[i], &v)) < 0)
        break;
      mg_pv_list_append(l, v);
    }
    if (rc < 0)
      mg_pv_unref(l);
    else
      *out = l;
    break;
  }
  case N_DICT: {
    struct mg_pv *d = mg_pv_dict();

    for (size_t i = 0; i + 1 < n->nk; i += 2) {
      struct mg_pv *k, *v;

      if ((rc = evd(r, n->k[i], &k)) < 0)
        break;
      if ((rc = evd(r, n->k[i + 1], &v)) < 0) {
        mg_pv_unref(k);
        break;
      }
      mg_pv_dict_set(d, k, v);
    }
    if (rc < 0)
      mg_pv_unref(d);
    else
      *out = d;
    break;
  }
  default:
    rc = rerr(r, n, "not an expression");
  }
  mg_pv_unref(a);
  mg_pv_unref(b);
  r->depth--;
  if (rc < 0) {
    mg_pv_unref(*out);
    *out = NULL;
  }
  return rc;
}

static int render_body(struct rctx *r, const struct node *body,
                       struct mg_buf *out);

static int render_for(struct rctx *r, const struct node *n, struct mg_buf *out)
{
  struct mg_pv *it, *items, *kept;
  int rc = 0;
  size_t len;

  if (ev(r, n->k[0], &it) < 0)
    return -1;
  if (is_undef(it) && r->lenient) {
    mg_pv_unref(it);
    it = mg_pv_list();
  }
  if (defined(r, n->k[0], it) < 0)
    return -1;
  if (iter_items(r, n->k[0], it, &items) < 0) {
    mg_pv_unref(it);
    return -1;
  }
  mg_pv_unref(it);
  /* the loop filter ("for x in y if c") runs before loop.* is known */
  kept = mg_pv_list();
  for (size_t i = 0; i < items->u.list.n; i++) {
    struct mg_pv *x = items->u.list.v[i];

    if (n->k[3]) {
      struct mg_pv *c;
      int keep;

      push_frame(r);
      mg_pv_dict_sets(r->frames[r->nframes - 1], n->targets[0], mg_pv_ref(x));
      rc = evd(r, n->k[3], &c);
      pop_frame(r);
      if (rc < 0)
        break;
      keep = mg_pv_truthy(c);
      mg_pv_unref(c);
      if (!keep)
        continue;
    }
    mg_pv_list_append(kept, mg_pv_ref(x));
  }
  mg_pv_unref(items);
  if (rc < 0) {
    mg_pv_unref(kept);
    return -1;
  }
  len = kept->u.list.n;
  for (size_t i = 0; i < len && rc == 0; i++) {
    struct mg_pv *x = kept->u.list.v[i], *loop = mg_pv_dict(), *frame;

    push_frame(r);
    frame = r->frames[r->nframes - 1];
    if (n->ntargets == 1) {
      mg_pv_dict_sets(frame, n->targets[0], mg_pv_ref(x));
    } else {
      struct mg_pv *parts;

      if (iter_items(r, n, x, &parts) < 0) {
        mg_pv_unref(loop);
        pop_frame(r);
        rc = -1;
        break;
      }
      if (parts->u.list.n != n->ntargets) {
        rc = rerr(r, n, "cannot unpack %zu values into %zu loop variables",
                  parts->u.list.n, n->ntargets);
        mg_pv_unref(parts);
        mg_pv_unref(loop);
        pop_frame(r);
        break;
      }
      for (size_t t = 0; t < n->ntargets; t++)
        mg_pv_dict_sets(frame, n->targets[t], mg_pv_ref(parts->u.list.v[t]));
      mg_pv_unref(parts);
    }
    mg_pv_dict_sets(loop, "index", mg_pv_int((long long)i + 1));
    mg_pv_dict_sets(loop, "index0", mg_pv_int((long long)i));
    mg_pv_dict_sets(loop, "revindex", mg_pv_int((long long)(len - i)));
    mg_pv_dict_sets(loop, "revindex0", mg_pv_int((long long)(len - i - 1)));
    mg_pv_dict_sets(loop, "first", mg_pv_bool(i == 0));
    mg_pv_dict_sets(loop, "last", mg_pv_bool(i + 1 == len));
    mg_pv_dict_sets(loop, "length", mg_pv_int((long long)len));
    mg_pv_dict_sets(loop, "previtem",
                    i ? mg_pv_ref(kept->u.list.v[i - 1])
                      : mk_undef("there is no previous item"));
    mg_pv_dict_sets(loop, "nextitem",
                    i + 1 < len ? mg_pv_ref(kept->u.list.v[i + 1])
                                : mk_undef("there is no next item"));
    mg_pv_dict_sets(frame, "loop", loop);
    rc = render_body(r, n->k[1], out);
    pop_frame(r);
    if (rc == R_CONTINUE) {
      rc = 0;
    } else if (rc == R_BREAK) {
      rc = 0;
      break;
    }
  }
  if (rc == 0 && len == 0 && n->k[2])
    rc = render_body(r, n->k[2], out);
  mg_pv_unref(kept);
  return rc;
}

static struct mg_pv **find_ns(struct rctx *r, const struct mg_pv *v)
{
  for (size_t i = 0; i < r->nns; i++)
    if (r->ns[i] == v)
      return &r->ns[i];
  return NULL;
}

/* 0, -1, or R_BREAK / R_CONTINUE from a loop control inside */
static int render_body(struct rctx *r, const struct node *body,
                       struct mg_buf *out)
{
  for (size_t i = 0; i < body->nk; i++) {
    const struct node *n = body->k[i];
    struct mg_pv *v;
    int rc;

    switch (n->kind) {
    case N_TEXT:
      mg_buf_add(out, n->lit->u.str.s, n->lit->u.str.len, NULL);
      break;
    case N_OUT:
      if (ev(r, n->k[0], &v) < 0)
        return -1;
      if (is_undef(v) && r->lenient) {
        mg_pv_unref(v);
        break;
      }
      if (defined(r, n->k[0], v) < 0)
        return -1;
      mg_pv_to_str(out, v);
      mg_pv_unref(v);
      break;
    case N_BODY:
      rc = render_body(r, n, out);
      if (rc)
        return rc;
      break;
    case N_BREAK:
      return R_BREAK;
    case N_CONTINUE:
      return R_CONTINUE;
    case N_IF: {
      size_t j = 0;
      int done = 0;

      while (j + 1 < n->nk && !n->kw[j + 1] && !done) {
        int t;

        if (ev_truth(r, n->k[j], &t) < 0)
          return -1;
        if (t) {
          rc = render_body(r, n->k[j + 1], out);
          if (rc)
            return rc;
          done = 1;
        }
        j += 2;
      }
      if (!done && j < n->nk && n->kw[j] && strcmp(n->kw[j], "else") == 0) {
        rc = render_body(r, n->k[j], out);
        if (rc)
          return rc;
      }
      break;
    }
    case N_FOR:
      if (render_for(r, n, out) < 0)
        return -1;
      break;
    case N_SET:
      if (evd(r, n->k[0], &v) < 0)
        return -1;
      if (n->ntargets) {
        struct mg_pv *obj = lookup(r, n->name);

        if (!obj || !find_ns(r, obj)) {
          mg_pv_unref(v);
          return rerr(r, n, "cannot assign attribute on non-namespace object");
        }
        mg_pv_dict_sets(obj, n->targets[0], v);
        break;
      }
      mg_pv_dict_sets(r->frames[r->nframes - 1], n->name, v);
      break;
    default:
      return rerr(r, n, "bad template node");
    }
  }
  return 0;
}

static void rctx_init(struct rctx *r, const struct mg_tmpl *t,
                      const struct mg_pv *vars, struct mg_err *err)
{
  memset(r, 0, sizeof(*r));
  r->t = t;
  r->err = err;
  r->lenient = (t->flags & MG_TMPL_LENIENT) != 0;
  push_frame(r);
  if (vars && vars->type == MG_PV_DICT) {
    /* the bottom frame shares the caller's values */
    mg_pv_unref(r->frames[0]);
    r->frames[0] = mg_pv_ref((struct mg_pv *)vars);
  }
  push_frame(r); /* top-level {% set %} goes here, not into vars */
}

static void rctx_release(struct rctx *r)
{
  while (r->nframes)
    pop_frame(r);
  free(r->frames);
  for (size_t i = 0; i < r->nns; i++)
    mg_pv_unref(r->ns[i]);
  free(r->ns);
}

int mg_tmpl_render(const struct mg_tmpl *t, const struct mg_pv *vars,
                   struct mg_buf *out, struct mg_err *err)
{
  struct rctx r;
  int rc;

  rctx_init(&r, t, vars, err);
  rc = render_body(&r, t->root, out);
  rctx_release(&r);
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
  rctx_init(&r, t, vars, err);
  rc = evd(&r, t->root->k[0]->k[0], out);
  rctx_release(&r);
  return rc;
}
