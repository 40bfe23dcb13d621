/*
 * The template parser: expressions and statements into a tree of nodes.
 */
#include <stdlib.h>
#include <string.h>

#include "eval/mg_eval_int.h"
#include "mg_buf.h"
#include "mg_err.h"
#include "mg_mem.h"
#include "py/mg_pv.h"

struct node *mg_tmpl_parse_node_new(enum nk kind, size_t pos)
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

void mg_tmpl_parse_node_free(struct node *n)
{
  if (!n)
    return;
  for (size_t i = 0; i < n->nk; i++) {
    mg_tmpl_parse_node_free(n->k[i]);
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

static struct node *parse_expr(struct parser *p);
static struct node *parse_unary(struct parser *p, int with_filter);

static int parse_args(struct parser *p, struct node *n)
{
  /* after '(' ; fills positional and keyword args until ')' */
  for (;;) {
    struct node *a;
    char *kw = NULL;

    if (mg_tmpl_lex_peek(p) < 0)
      return -1;
    if (mg_tmpl_lex_at_op(p, ")")) {
      mg_tmpl_lex_advance(p);
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
        kw = mg_tmpl_lex_name(p);
        mg_tmpl_lex_advance(p);
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
    if (mg_tmpl_lex_peek(p) < 0)
      return -1;
    if (mg_tmpl_lex_at_op(p, ",")) {
      mg_tmpl_lex_advance(p);
      continue;
    }
    if (mg_tmpl_lex_at_op(p, ")")) {
      mg_tmpl_lex_advance(p);
      return 0;
    }
    return mg_tmpl_lex_error(p, p->t.pos, "expected ',' or ')'");
  }
}

static struct node *parse_primary(struct parser *p)
{
  struct node *n;

  if (mg_tmpl_lex_peek(p) < 0)
    return NULL;
  switch (p->t.type) {
  case T_NAME:
    if (mg_tmpl_lex_at_name(p, "true") || mg_tmpl_lex_at_name(p, "True")
        || mg_tmpl_lex_at_name(p, "false") || mg_tmpl_lex_at_name(p, "False")) {
      n = mg_tmpl_parse_node_new(N_LIT, p->t.pos);
      n->lit = mg_pv_bool(p->src[p->t.pos] == 't' || p->src[p->t.pos] == 'T');
    } else if (mg_tmpl_lex_at_name(p, "none")
               || mg_tmpl_lex_at_name(p, "None")) {
      n = mg_tmpl_parse_node_new(N_LIT, p->t.pos);
      n->lit = mg_pv_none();
    } else {
      n = mg_tmpl_parse_node_new(N_NAME, p->t.pos);
      n->name = mg_tmpl_lex_name(p);
    }
    mg_tmpl_lex_advance(p);
    return n;
  case T_INT:
  case T_FLOAT:
    n = mg_tmpl_parse_node_new(N_LIT, p->t.pos);
    n->lit = mg_pv_ref(p->t.val);
    mg_tmpl_lex_advance(p);
    return n;
  case T_STR: {
    struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

    n = mg_tmpl_parse_node_new(N_LIT, p->t.pos);
    for (;;) {
      mg_buf_add(&b, p->t.val->u.str.s, p->t.val->u.str.len, NULL);
      mg_tmpl_lex_advance(p);
      if (mg_tmpl_lex_peek(p) < 0) {
        mg_buf_release(&b);
        mg_tmpl_parse_node_free(n);
        return NULL;
      }
      if (p->t.type != T_STR)
        break;
    }
    n->lit = mg_pv_str_buf(&b);
    return n;
  }
  case T_OP:
    if (mg_tmpl_lex_at_op(p, "(")) {
      size_t pos = p->t.pos;
      struct node *first;

      mg_tmpl_lex_advance(p);
      if (mg_tmpl_lex_peek(p) < 0)
        return NULL;
      if (mg_tmpl_lex_at_op(p, ")")) {
        mg_tmpl_lex_advance(p);
        n = mg_tmpl_parse_node_new(N_LIST, pos);
        n->op = 1;
        return n;
      }
      first = parse_expr(p);
      if (!first)
        return NULL;
      if (mg_tmpl_lex_peek(p) < 0) {
        mg_tmpl_parse_node_free(first);
        return NULL;
      }
      if (mg_tmpl_lex_at_op(p, ")")) {
        mg_tmpl_lex_advance(p);
        return first;
      }
      n = mg_tmpl_parse_node_new(N_LIST, pos);
      n->op = 1; /* tuple */
      add_kid(n, first, NULL);
      while (mg_tmpl_lex_at_op(p, ",")) {
        struct node *it;

        mg_tmpl_lex_advance(p);
        if (mg_tmpl_lex_peek(p) < 0)
          goto fail;
        if (mg_tmpl_lex_at_op(p, ")"))
          break;
        it = parse_expr(p);
        if (!it)
          goto fail;
        add_kid(n, it, NULL);
        if (mg_tmpl_lex_peek(p) < 0)
          goto fail;
      }
      if (mg_tmpl_lex_expect_op(p, ")") < 0)
        goto fail;
      return n;
    }
    if (mg_tmpl_lex_at_op(p, "[")) {
      n = mg_tmpl_parse_node_new(N_LIST, p->t.pos);
      mg_tmpl_lex_advance(p);
      for (;;) {
        struct node *it;

        if (mg_tmpl_lex_peek(p) < 0)
          goto fail;
        if (mg_tmpl_lex_at_op(p, "]")) {
          mg_tmpl_lex_advance(p);
          return n;
        }
        it = parse_expr(p);
        if (!it)
          goto fail;
        add_kid(n, it, NULL);
        if (mg_tmpl_lex_peek(p) < 0)
          goto fail;
        if (mg_tmpl_lex_at_op(p, ",")) {
          mg_tmpl_lex_advance(p);
          continue;
        }
        if (mg_tmpl_lex_expect_op(p, "]") < 0)
          goto fail;
        return n;
      }
    }
    if (mg_tmpl_lex_at_op(p, "{")) {
      n = mg_tmpl_parse_node_new(N_DICT, p->t.pos);
      mg_tmpl_lex_advance(p);
      for (;;) {
        struct node *k, *v;

        if (mg_tmpl_lex_peek(p) < 0)
          goto fail;
        if (mg_tmpl_lex_at_op(p, "}")) {
          mg_tmpl_lex_advance(p);
          return n;
        }
        k = parse_expr(p);
        if (!k)
          goto fail;
        add_kid(n, k, NULL);
        if (mg_tmpl_lex_expect_op(p, ":") < 0)
          goto fail;
        v = parse_expr(p);
        if (!v)
          goto fail;
        add_kid(n, v, NULL);
        if (mg_tmpl_lex_peek(p) < 0)
          goto fail;
        if (mg_tmpl_lex_at_op(p, ",")) {
          mg_tmpl_lex_advance(p);
          continue;
        }
        if (mg_tmpl_lex_expect_op(p, "}") < 0)
          goto fail;
        return n;
      }
    }
    break;
  default:
    break;
  }
  mg_tmpl_lex_error(p, p->t.pos, "unexpected %s",
                    p->t.type == T_CLOSE ? "end of tag"
                    : p->t.type == T_END ? "end of template"
                                         : "token");
  return NULL;
fail:
  mg_tmpl_parse_node_free(n);
  return NULL;
}

static struct node *parse_postfix(struct parser *p, struct node *n)
{
  for (;;) {
    if (mg_tmpl_lex_peek(p) < 0)
      goto fail;
    if (mg_tmpl_lex_at_op(p, ".")) {
      struct node *a;

      mg_tmpl_lex_advance(p);
      if (mg_tmpl_lex_peek(p) < 0)
        goto fail;
      if (p->t.type == T_INT) {
        a = mg_tmpl_parse_node_new(N_ITEM, p->t.pos);
        add_kid(a, n, NULL);
        {
          struct node *lit = mg_tmpl_parse_node_new(N_LIT, p->t.pos);

          lit->lit = mg_pv_ref(p->t.val);
          add_kid(a, lit, NULL);
        }
      } else if (p->t.type == T_NAME) {
        a = mg_tmpl_parse_node_new(N_ATTR, p->t.pos);
        a->name = mg_tmpl_lex_name(p);
        add_kid(a, n, NULL);
      } else {
        mg_tmpl_lex_error(p, p->t.pos, "expected an attribute name after '.'");
        goto fail;
      }
      mg_tmpl_lex_advance(p);
      n = a;
    } else if (mg_tmpl_lex_at_op(p, "[")) {
      size_t pos = p->t.pos;
      struct node *parts[3] = { NULL, NULL, NULL };
      int slice = 0, idx = 0;

      mg_tmpl_lex_advance(p);
      for (;;) {
        if (mg_tmpl_lex_peek(p) < 0)
          goto fail_parts;
        if (mg_tmpl_lex_at_op(p, ":")) {
          slice = 1;
          if (++idx > 2) {
            mg_tmpl_lex_error(p, p->t.pos, "too many ':' in subscript");
            goto fail_parts;
          }
          mg_tmpl_lex_advance(p);
          continue;
        }
        if (mg_tmpl_lex_at_op(p, "]")) {
          mg_tmpl_lex_advance(p);
          break;
        }
        if (parts[idx]) {
          mg_tmpl_lex_error(p, p->t.pos, "expected ']'");
          goto fail_parts;
        }
        parts[idx] = parse_expr(p);
        if (!parts[idx])
          goto fail_parts;
      }
      if (slice) {
        struct node *s = mg_tmpl_parse_node_new(N_SLICE, pos);

        add_kid(s, n, NULL);
        for (int j = 0; j < 3; j++)
          add_kid(s, parts[j], NULL);
        n = s;
      } else {
        struct node *it;

        if (!parts[0]) {
          mg_tmpl_lex_error(p, pos, "empty subscript");
          goto fail_parts;
        }
        it = mg_tmpl_parse_node_new(N_ITEM, pos);
        add_kid(it, n, NULL);
        add_kid(it, parts[0], NULL);
        n = it;
      }
      continue;
    fail_parts:
      for (int j = 0; j < 3; j++)
        mg_tmpl_parse_node_free(parts[j]);
      goto fail;
    } else if (mg_tmpl_lex_at_op(p, "(")) {
      struct node *c = mg_tmpl_parse_node_new(N_CALL, p->t.pos);

      mg_tmpl_lex_advance(p);
      add_kid(c, n, NULL);
      n = c;
      if (parse_args(p, c) < 0)
        goto fail;
    } else {
      return n;
    }
  }
fail:
  mg_tmpl_parse_node_free(n);
  return NULL;
}

static struct node *parse_filters_tests(struct parser *p, struct node *n)
{
  for (;;) {
    if (mg_tmpl_lex_peek(p) < 0)
      goto fail;
    if (mg_tmpl_lex_at_op(p, "|")) {
      struct node *f;

      mg_tmpl_lex_advance(p);
      if (mg_tmpl_lex_peek(p) < 0)
        goto fail;
      if (p->t.type != T_NAME) {
        mg_tmpl_lex_error(p, p->t.pos, "expected a filter name after '|'");
        goto fail;
      }
      f = mg_tmpl_parse_node_new(N_FILTER, p->t.pos);
      f->name = mg_tmpl_lex_name(p);
      add_kid(f, n, NULL);
      n = f;
      mg_tmpl_lex_advance(p);
      if (mg_tmpl_lex_peek(p) < 0)
        goto fail;
      if (mg_tmpl_lex_at_op(p, "(")) {
        mg_tmpl_lex_advance(p);
        if (parse_args(p, f) < 0)
          goto fail;
      }
    } else if (mg_tmpl_lex_at_name(p, "is")) {
      struct node *t;

      mg_tmpl_lex_advance(p);
      if (mg_tmpl_lex_peek(p) < 0)
        goto fail;
      t = mg_tmpl_parse_node_new(N_TEST, p->t.pos);
      add_kid(t, n, NULL);
      n = t;
      if (mg_tmpl_lex_at_name(p, "not")) {
        t->negate = 1;
        mg_tmpl_lex_advance(p);
        if (mg_tmpl_lex_peek(p) < 0)
          goto fail;
      }
      if (p->t.type == T_NAME) {
        t->name = mg_tmpl_lex_name(p);
      } else if (mg_tmpl_lex_at_op(p, "==") || mg_tmpl_lex_at_op(p, "!=")
                 || mg_tmpl_lex_at_op(p, "<") || mg_tmpl_lex_at_op(p, ">")
                 || mg_tmpl_lex_at_op(p, "<=") || mg_tmpl_lex_at_op(p, ">=")) {
        t->name = mg_xstrdup(p->t.op);
      } else {
        mg_tmpl_lex_error(p, p->t.pos, "expected a test name after 'is'");
        goto fail;
      }
      mg_tmpl_lex_advance(p);
      if (mg_tmpl_lex_peek(p) < 0)
        goto fail;
      if (mg_tmpl_lex_at_op(p, "(")) {
        mg_tmpl_lex_advance(p);
        if (parse_args(p, t) < 0)
          goto fail;
      } else if (p->t.type == T_INT || p->t.type == T_FLOAT
                 || p->t.type == T_STR
                 || (p->t.type == T_NAME && !mg_tmpl_lex_at_name(p, "and")
                     && !mg_tmpl_lex_at_name(p, "or")
                     && !mg_tmpl_lex_at_name(p, "else")
                     && !mg_tmpl_lex_at_name(p, "if")
                     && !mg_tmpl_lex_at_name(p, "is")
                     && !mg_tmpl_lex_at_name(p, "in")
                     && !mg_tmpl_lex_at_name(p, "not"))) {
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
  mg_tmpl_parse_node_free(n);
  return NULL;
}

static struct node *parse_unary(struct parser *p, int with_filter)
{
  struct node *n;

  if (++p->depth > MAX_DEPTH) {
    mg_tmpl_lex_error(p, p->i, "expression nested too deeply");
    return NULL;
  }
  if (mg_tmpl_lex_peek(p) < 0)
    return NULL;
  if (mg_tmpl_lex_at_op(p, "-") || mg_tmpl_lex_at_op(p, "+")) {
    n = mg_tmpl_parse_node_new(mg_tmpl_lex_at_op(p, "-") ? N_NEG : N_POS,
                               p->t.pos);
    mg_tmpl_lex_advance(p);
    {
      struct node *a = parse_unary(p, 0);

      if (!a) {
        mg_tmpl_parse_node_free(n);
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

    if (mg_tmpl_lex_peek(p) < 0)
      goto fail;
    if (!mg_tmpl_lex_at_op(p, "**"))
      return l;
    b = mg_tmpl_parse_node_new(N_BIN, p->t.pos);
    b->op = OP_POW;
    mg_tmpl_lex_advance(p);
    r = parse_unary(p, 1);
    if (!r) {
      mg_tmpl_parse_node_free(b);
      goto fail;
    }
    add_kid(b, l, NULL);
    add_kid(b, r, NULL);
    l = b;
  }
  return NULL;
fail:
  mg_tmpl_parse_node_free(l);
  return NULL;
}

static struct node *parse_binary_level(struct parser *p, int level);

static int binop_at(struct parser *p, int level, int *op)
{
  switch (level) {
  case 0: /* + - */
    if (mg_tmpl_lex_at_op(p, "+"))
      return *op = OP_ADD, 1;
    if (mg_tmpl_lex_at_op(p, "-"))
      return *op = OP_SUB, 1;
    return 0;
  case 1: /* ~ */
    if (mg_tmpl_lex_at_op(p, "~"))
      return *op = OP_CONCAT, 1;
    return 0;
  default: /* * / // % */
    if (mg_tmpl_lex_at_op(p, "*"))
      return *op = OP_MUL, 1;
    if (mg_tmpl_lex_at_op(p, "/"))
      return *op = OP_DIV, 1;
    if (mg_tmpl_lex_at_op(p, "//"))
      return *op = OP_FLOORDIV, 1;
    if (mg_tmpl_lex_at_op(p, "%"))
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

    if (mg_tmpl_lex_peek(p) < 0)
      goto fail;
    if (!binop_at(p, level, &op))
      return l;
    b = mg_tmpl_parse_node_new(N_BIN, p->t.pos);
    b->op = op;
    mg_tmpl_lex_advance(p);
    r = level >= 2 ? parse_pow(p) : parse_binary_level(p, level + 1);
    if (!r) {
      mg_tmpl_parse_node_free(b);
      goto fail;
    }
    add_kid(b, l, NULL);
    add_kid(b, r, NULL);
    l = b;
  }
  return NULL;
fail:
  mg_tmpl_parse_node_free(l);
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

    if (mg_tmpl_lex_peek(p) < 0)
      goto fail;
    pos = p->t.pos;
    if (mg_tmpl_lex_at_op(p, "=="))
      op = C_EQ;
    else if (mg_tmpl_lex_at_op(p, "!="))
      op = C_NE;
    else if (mg_tmpl_lex_at_op(p, "<"))
      op = C_LT;
    else if (mg_tmpl_lex_at_op(p, "<="))
      op = C_LE;
    else if (mg_tmpl_lex_at_op(p, ">"))
      op = C_GT;
    else if (mg_tmpl_lex_at_op(p, ">="))
      op = C_GE;
    else if (mg_tmpl_lex_at_name(p, "in"))
      op = C_IN;
    else if (mg_tmpl_lex_at_name(p, "not")) {
      /* "not in" */
      size_t j = p->i;

      while (j < p->len && (p->src[j] == ' ' || p->src[j] == '\t'))
        j++;
      if (j + 2 <= p->len && strncmp(p->src + j, "in", 2) == 0
          && (j + 2 == p->len || !mg_tmpl_lex_is_name_char(p->src[j + 2]))) {
        mg_tmpl_lex_advance(p);
        if (mg_tmpl_lex_peek(p) < 0)
          goto fail;
        op = C_NOTIN;
      }
    }
    if (op < 0)
      break;
    mg_tmpl_lex_advance(p);
    r = parse_binary_level(p, 0);
    if (!r)
      goto fail;
    if (!c) {
      c = mg_tmpl_parse_node_new(N_CMP, pos);
      add_kid(c, l, NULL);
      l = NULL;
    }
    add_kid(c, r, NULL);
    c->ops[c->nk - 1] = op;
  }
  return c ? c : l;
fail:
  mg_tmpl_parse_node_free(l);
  mg_tmpl_parse_node_free(c);
  return NULL;
}

static struct node *parse_not(struct parser *p)
{
  if (mg_tmpl_lex_peek(p) < 0)
    return NULL;
  if (mg_tmpl_lex_at_name(p, "not")) {
    struct node *n = mg_tmpl_parse_node_new(N_NOT, p->t.pos), *a;

    mg_tmpl_lex_advance(p);
    a = parse_not(p);
    if (!a) {
      mg_tmpl_parse_node_free(n);
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

    if (mg_tmpl_lex_peek(p) < 0)
      goto fail;
    if (!mg_tmpl_lex_at_name(p, is_or ? "or" : "and"))
      return l;
    b = mg_tmpl_parse_node_new(is_or ? N_OR : N_AND, p->t.pos);
    mg_tmpl_lex_advance(p);
    r = is_or ? parse_andor(p, 0) : parse_not(p);
    if (!r) {
      mg_tmpl_parse_node_free(b);
      goto fail;
    }
    add_kid(b, l, NULL);
    add_kid(b, r, NULL);
    l = b;
  }
  return NULL;
fail:
  mg_tmpl_parse_node_free(l);
  return NULL;
}

static struct node *parse_expr(struct parser *p)
{
  struct node *l = parse_andor(p, 1);

  while (l) {
    struct node *c, *cond, *other = NULL;

    if (mg_tmpl_lex_peek(p) < 0)
      goto fail;
    if (!mg_tmpl_lex_at_name(p, "if"))
      return l;
    c = mg_tmpl_parse_node_new(N_COND, p->t.pos);
    mg_tmpl_lex_advance(p);
    cond = parse_andor(p, 1);
    if (!cond) {
      mg_tmpl_parse_node_free(c);
      goto fail;
    }
    if (mg_tmpl_lex_peek(p) < 0) {
      mg_tmpl_parse_node_free(cond);
      mg_tmpl_parse_node_free(c);
      goto fail;
    }
    if (mg_tmpl_lex_at_name(p, "else")) {
      mg_tmpl_lex_advance(p);
      other = parse_expr(p);
      if (!other) {
        mg_tmpl_parse_node_free(cond);
        mg_tmpl_parse_node_free(c);
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
  mg_tmpl_parse_node_free(l);
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
  t = mg_tmpl_parse_node_new(N_TEXT, start);
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

  if (mg_tmpl_lex_peek(p) < 0)
    return -1;
  if (p->t.type != T_CLOSE)
    return mg_tmpl_lex_error(p, p->t.pos, "expected '%s'", p->close);
  tp->strip_next = p->t.strip_after;
  /* trim_blocks: a block tag eats the newline right after it */
  if ((tp->flags & MG_TMPL_TRIM_BLOCKS) && !p->t.strip_after && !p->t.keep_after
      && p->close[0] == '%' && p->i < p->len && p->src[p->i] == '\n')
    p->i++;
  mg_tmpl_lex_advance(p);
  return 0;
}

static int parse_stmt(struct tparser *tp, struct node *body, size_t tagpos)
{
  struct parser *p = &tp->p;

  if (mg_tmpl_lex_at_name(p, "if")) {
    struct node *n = mg_tmpl_parse_node_new(N_IF, tagpos);

    mg_tmpl_lex_advance(p);
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
      b = mg_tmpl_parse_node_new(N_BODY, p->i);
      add_kid(n, b, NULL);
      if (mg_tmpl_parse_body(tp, b, enders, &ended, &epos) < 0)
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
        b = mg_tmpl_parse_node_new(N_BODY, p->i);
        add_kid(n, b, "else");
        if (mg_tmpl_parse_body(tp, b, end2, &ended, &epos) < 0)
          goto if_fail;
      }
      free(ended);
      if (expect_close(tp) < 0)
        goto if_fail;
      add_kid(body, n, NULL);
      return 0;
    }
  if_fail:
    mg_tmpl_parse_node_free(n);
    return -1;
  }
  if (mg_tmpl_lex_at_name(p, "for")) {
    struct node *n = mg_tmpl_parse_node_new(N_FOR, tagpos), *iter, *b,
                *elseb = NULL, *filt = NULL;
    static const char *const enders[] = { "else", "endfor", NULL };
    char *ended = NULL;
    size_t epos;
    int paren = 0;

    mg_tmpl_lex_advance(p);
    if (mg_tmpl_lex_peek(p) < 0)
      goto for_fail;
    if (mg_tmpl_lex_at_op(p, "(")) {
      paren = 1;
      mg_tmpl_lex_advance(p);
    }
    for (;;) {
      if (mg_tmpl_lex_peek(p) < 0)
        goto for_fail;
      if (p->t.type != T_NAME) {
        mg_tmpl_lex_error(p, p->t.pos, "expected a loop variable name");
        goto for_fail;
      }
      n->targets =
          mg_xreallocarray(n->targets, n->ntargets + 1, sizeof(*n->targets));
      n->targets[n->ntargets++] = mg_tmpl_lex_name(p);
      mg_tmpl_lex_advance(p);
      if (mg_tmpl_lex_peek(p) < 0)
        goto for_fail;
      if (mg_tmpl_lex_at_op(p, ",")) {
        mg_tmpl_lex_advance(p);
        continue;
      }
      break;
    }
    if (paren && mg_tmpl_lex_expect_op(p, ")") < 0)
      goto for_fail;
    if (mg_tmpl_lex_peek(p) < 0)
      goto for_fail;
    if (!mg_tmpl_lex_at_name(p, "in")) {
      mg_tmpl_lex_error(p, p->t.pos, "expected 'in'");
      goto for_fail;
    }
    mg_tmpl_lex_advance(p);
    /* the iterable cannot contain a bare conditional (Jinja rule) */
    iter = parse_andor(p, 1);
    if (!iter)
      goto for_fail;
    add_kid(n, iter, NULL);
    if (mg_tmpl_lex_peek(p) < 0)
      goto for_fail;
    if (mg_tmpl_lex_at_name(p, "if")) {
      mg_tmpl_lex_advance(p);
      filt = parse_expr(p);
      if (!filt)
        goto for_fail;
    }
    if (mg_tmpl_lex_peek(p) < 0) {
      mg_tmpl_parse_node_free(filt);
      goto for_fail;
    }
    if (mg_tmpl_lex_at_name(p, "recursive")) {
      mg_tmpl_parse_node_free(filt);
      mg_tmpl_lex_error(p, p->t.pos, "recursive loops are not supported");
      goto for_fail;
    }
    if (expect_close(tp) < 0) {
      mg_tmpl_parse_node_free(filt);
      goto for_fail;
    }
    b = mg_tmpl_parse_node_new(N_BODY, p->i);
    add_kid(n, b, NULL);
    add_kid(n, NULL, NULL); /* else body slot */
    add_kid(n, filt, NULL);
    tp->loops++;
    if (mg_tmpl_parse_body(tp, b, enders, &ended, &epos) < 0) {
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
      elseb = mg_tmpl_parse_node_new(N_BODY, p->i);
      n->k[2] = elseb;
      if (mg_tmpl_parse_body(tp, elseb, end2, &ended, &epos) < 0)
        goto for_fail;
    }
    free(ended);
    if (expect_close(tp) < 0)
      goto for_fail;
    add_kid(body, n, NULL);
    return 0;
  for_fail:
    mg_tmpl_parse_node_free(n);
    return -1;
  }
  if (mg_tmpl_lex_at_name(p, "set")) {
    struct node *n = mg_tmpl_parse_node_new(N_SET, tagpos), *v;

    mg_tmpl_lex_advance(p);
    if (mg_tmpl_lex_peek(p) < 0)
      goto set_fail;
    if (p->t.type != T_NAME) {
      mg_tmpl_lex_error(p, p->t.pos, "expected a variable name after 'set'");
      goto set_fail;
    }
    n->name = mg_tmpl_lex_name(p);
    mg_tmpl_lex_advance(p);
    if (mg_tmpl_lex_peek(p) < 0)
      goto set_fail;
    if (mg_tmpl_lex_at_op(p, ".")) {
      /* {% set ns.attr = value %}: assignment into a namespace */
      mg_tmpl_lex_advance(p);
      if (mg_tmpl_lex_peek(p) < 0)
        goto set_fail;
      if (p->t.type != T_NAME) {
        mg_tmpl_lex_error(p, p->t.pos, "expected an attribute name");
        goto set_fail;
      }
      n->targets = mg_xcalloc(1, sizeof(*n->targets));
      n->targets[0] = mg_tmpl_lex_name(p);
      n->ntargets = 1;
      mg_tmpl_lex_advance(p);
    }
    if (mg_tmpl_lex_expect_op(p, "=") < 0)
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
    mg_tmpl_parse_node_free(n);
    return -1;
  }
  if (mg_tmpl_lex_at_name(p, "break") || mg_tmpl_lex_at_name(p, "continue")) {
    int brk = mg_tmpl_lex_at_name(p, "break");

    if (!tp->loops)
      return mg_tmpl_lex_error(p, tagpos, "'%s' outside of a loop",
                               brk ? "break" : "continue");
    mg_tmpl_lex_advance(p);
    if (expect_close(tp) < 0)
      return -1;
    add_kid(body, mg_tmpl_parse_node_new(brk ? N_BREAK : N_CONTINUE, tagpos),
            NULL);
    return 0;
  }
  if (mg_tmpl_lex_at_name(p, "generation")) {
    /* transformers' AssistantTracker block: renders its body */
    static const char *const enders[] = { "endgeneration", NULL };
    struct node *b = mg_tmpl_parse_node_new(N_BODY, tagpos);
    char *ended = NULL;
    size_t epos;

    mg_tmpl_lex_advance(p);
    if (expect_close(tp) < 0
        || mg_tmpl_parse_body(tp, b, enders, &ended, &epos) < 0
        || expect_close(tp) < 0) {
      free(ended);
      mg_tmpl_parse_node_free(b);
      return -1;
    }
    free(ended);
    add_kid(body, b, NULL);
    return 0;
  }
  if (mg_tmpl_lex_at_name(p, "raw")) {
    const char *end;
    size_t start;

    mg_tmpl_lex_advance(p);
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
    return mg_tmpl_lex_error(p, tagpos, "missing endraw");
  }
  {
    char *w = p->t.type == T_NAME ? mg_tmpl_lex_name(p) : mg_xstrdup("?");
    int rc = mg_tmpl_lex_error(p, tagpos, "unknown or unexpected tag '%s'", w);

    free(w);
    return rc;
  }
}

int mg_tmpl_parse_body(struct tparser *tp, struct node *body,
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
        return mg_tmpl_lex_error(p, p->len,
                                 "unexpected end of template, expected '%s'",
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
        return mg_tmpl_lex_error(p, tag_start, "unterminated comment");
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
      struct node *n = mg_tmpl_parse_node_new(N_OUT, tag_start), *e;

      p->close = "}}";
      e = parse_expr(p);
      if (!e) {
        mg_tmpl_parse_node_free(n);
        return -1;
      }
      add_kid(n, e, NULL);
      add_kid(body, n, NULL);
      if (expect_close(tp) < 0)
        return -1;
      continue;
    }
    p->close = "%}";
    if (mg_tmpl_lex_peek(p) < 0)
      return -1;
    if (enders && p->t.type == T_NAME) {
      for (size_t j = 0; enders[j]; j++)
        if (mg_tmpl_lex_at_name(p, enders[j])) {
          *ended = mg_tmpl_lex_name(p);
          *tagpos = tag_start;
          mg_tmpl_lex_advance(p);
          return 0;
        }
    }
    if (parse_stmt(tp, body, tag_start) < 0)
      return -1;
  }
}
