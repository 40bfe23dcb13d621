#ifndef MG_EVAL_INT_H
#define MG_EVAL_INT_H

/*
 * Private to lib/eval: the Jinja2 template engine's parts, shared by its
 * modules. mg_tmpl.c is the public face (mg_tmpl.h); mg_tmpl_lex.c turns
 * source into tokens, mg_tmpl_parse.c builds the tree, mg_tmpl_run.c
 * evaluates and renders it, mg_tmpl_filter.c holds the filters. Nothing
 * outside lib/eval includes this header.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "eval/mg_tmpl.h"
#include "mg_banned.h"

struct mg_buf;
struct mg_err;
struct mg_pv;

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

/* ---- tokens (mg_tmpl_lex.c) ---- */

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

struct tparser {
  struct parser p;
  int strip_next; /* lstrip the next text */
  unsigned flags; /* enum mg_tmpl_flags */
  int loops;      /* {% for %} nesting (for break/continue) */
};

/* ---- evaluation (mg_tmpl_run.c) ---- */

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

enum casemode {
  CASE_LOWER,
  CASE_UPPER,
  CASE_CAPITALIZE,
  CASE_TITLE,
  CASE_SWAP
};

struct args {
  struct mg_pv *pos[8];
  size_t npos;
  const char *kwn[8];
  struct mg_pv *kwv[8];
  size_t nkw;
};

/* mg_tmpl.c */
__attribute__((format(printf, 5, 0))) int
mg_tmpl_verr_at(struct mg_err *err, const char *name, const char *src,
                size_t pos, const char *fmt, va_list ap);

/* mg_tmpl_lex.c */
void mg_tmpl_lex_advance(struct parser *p);
int mg_tmpl_lex_at_name(struct parser *p, const char *w);
int mg_tmpl_lex_at_op(struct parser *p, const char *op);
void mg_tmpl_lex_clear(struct tok *t);
int mg_tmpl_lex_error(struct parser *p, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int mg_tmpl_lex_expect_op(struct parser *p, const char *op);
int mg_tmpl_lex_is_name_char(char c);
char *mg_tmpl_lex_name(struct parser *p);
int mg_tmpl_lex_peek(struct parser *p);

/* mg_tmpl_parse.c */
int mg_tmpl_parse_body(struct tparser *tp, struct node *body,
                       const char *const *enders, char **ended, size_t *tagpos);
void mg_tmpl_parse_node_free(struct node *n);
struct node *mg_tmpl_parse_node_new(enum nk kind, size_t pos);

/* mg_tmpl_run.c */
struct mg_pv *mg_tmpl_run_arg(const struct args *a, size_t i, const char *name);
int mg_tmpl_run_arith(struct rctx *r, const struct node *n, int op,
                      const struct mg_pv *a, const struct mg_pv *b,
                      struct mg_pv **out);
int mg_tmpl_run_call_method(struct rctx *r, const struct node *n,
                            const struct mg_pv *obj, const char *m,
                            const struct args *a, struct mg_pv **out);
int mg_tmpl_run_compare(struct rctx *r, const struct node *n,
                        const struct mg_pv *a, const struct mg_pv *b, int *out);
int mg_tmpl_run_defined(struct rctx *r, const struct node *n, struct mg_pv *v);
int mg_tmpl_run_evd(struct rctx *r, const struct node *n, struct mg_pv **out);
struct mg_pv *mg_tmpl_run_get_item(const struct mg_pv *obj,
                                   const struct mg_pv *key);
int mg_tmpl_run_is_undef(const struct mg_pv *v);
int mg_tmpl_run_iter_items(struct rctx *r, const struct node *n,
                           const struct mg_pv *v, struct mg_pv **out);
struct mg_pv *mg_tmpl_run_mk_undef(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
int mg_tmpl_run_need_int(struct rctx *r, const struct node *n,
                         const struct mg_pv *v, const char *what,
                         long long *out);
int mg_tmpl_run_need_str(struct rctx *r, const struct node *n,
                         const struct mg_pv *v, const char *what);
void mg_tmpl_run_rctx_init(struct rctx *r, const struct mg_tmpl *t,
                           const struct mg_pv *vars, struct mg_err *err);
void mg_tmpl_run_rctx_release(struct rctx *r);
int mg_tmpl_run_render_body(struct rctx *r, const struct node *body,
                            struct mg_buf *out);
int mg_tmpl_run_rerr(struct rctx *r, const struct node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
struct mg_pv *mg_tmpl_run_str_case(const struct mg_pv *s, enum casemode mode);
struct mg_pv *mg_tmpl_run_str_replace(const struct mg_pv *s,
                                      const struct mg_pv *old,
                                      const struct mg_pv *new, long count);
struct mg_pv *mg_tmpl_run_str_split(const struct mg_pv *s,
                                    const struct mg_pv *sep, long maxsplit);
struct mg_pv *mg_tmpl_run_str_strip(const struct mg_pv *s,
                                    const struct mg_pv *chars, int left,
                                    int right);
int mg_tmpl_run_test(struct rctx *r, const struct node *n, const char *t,
                     struct mg_pv *v, const struct args *a, int *out);
struct mg_pv *mg_tmpl_run_to_str_pv(const struct mg_pv *v);

/* mg_tmpl_filter.c: the filter table (jq's function_list[] style) */
int mg_tmpl_filter_apply(struct rctx *r, const struct node *n, const char *f,
                         struct mg_pv *v, const struct args *a,
                         struct mg_pv **out);

#endif
