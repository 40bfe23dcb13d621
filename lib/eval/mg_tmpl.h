#ifndef MG_TMPL_H
#define MG_TMPL_H

#include <stddef.h>

#include "mg_banned.h"

struct mg_buf;
struct mg_err;
struct mg_pv;

/*
 * The Jinja2 subset lm-evaluation-harness task YAMLs use, evaluated the way
 * lm-eval's environment does: StrictUndefined (using an undefined value
 * anywhere but "is defined" and the default filter is an error),
 * keep_trailing_newline, no autoescape, no trim_blocks/lstrip_blocks, plus
 * lm-eval's regex_replace filter.
 *
 * Supported: {{ }} {% if/elif/else/endif %} {% for x[, y] in e [if c] %}
 * (with loop.index/index0/revindex/revindex0/first/last/length, {% else %})
 * {% set x = e %} {% raw %} {# #} and -/+ whitespace control; expressions
 * with literals (str, int, float, True/False/None, lists, tuples, dicts),
 * attribute and item access, slices, calls, the ternary "a if c else b",
 * not/and/or, comparisons (chained), in / not in, + - * / // % ** ~ and
 * unary -/+; filters abs, capitalize, count, d, default, first, float,
 * int, items, join, last, length, list, lower, map(attribute=),
 * regex_replace, replace, reverse, round, sort, string, sum, title, trim,
 * unique, upper, wordcount; tests defined, undefined, none, number,
 * integer, float, string, mapping, sequence, iterable, boolean, true,
 * false, odd, even, divisibleby, eq/equalto/ne/lt/le/gt/ge, in; global
 * range(); the Python str/list/dict methods tasks call (strip, lstrip,
 * rstrip, split, rsplit, splitlines, lower, upper, capitalize, title,
 * swapcase, replace, startswith, endswith, index, find, rfind, count,
 * join, format, zfill, isdigit, isalpha, isalnum, isspace, isnumeric,
 * isdecimal, isupper, islower; list index/count; dict keys/values/items/
 * get). Anything else is a compile or render error.
 *
 * Error messages name the template and the position:
 *   "template 'doc_to_text' line 1 column 5: 'answer' is undefined"
 */
struct mg_tmpl;

/*
 * Compiles src[0..len). name is used in messages. MG_ERR_DATA on a syntax
 * error. caller owns *out; free with mg_tmpl_free.
 */
int mg_tmpl_compile(const char *src, size_t len, const char *name,
                    struct mg_tmpl **out, struct mg_err *err);

/*
 * Environment options (mg_tmpl_compile uses none: lm-eval's environment).
 *   TRIM_BLOCKS     the first newline after a block or comment tag is
 *                   removed (not after "+%}")
 *   LSTRIP_BLOCKS   spaces and tabs from the start of a line up to a
 *                   block or comment tag are removed (not before "{%+")
 *   LENIENT         jinja2.Undefined instead of StrictUndefined: an
 *                   undefined value prints as "", is false, iterates as
 *                   empty and has length 0 (other uses still fail)
 *   DROP_TRAILING_NL keep_trailing_newline=False: one newline at the end
 *                   of the source is dropped
 *   HF_CHAT         all of the above plus transformers' chat-template
 *                   globals: raise_exception(msg) (a render error with
 *                   msg), strftime_now(fmt) (local time), and its tojson
 *                   (json.dumps(x, ensure_ascii=False, indent=, separators=,
 *                   sort_keys=)) instead of Jinja's HTML-safe one
 * Always available: namespace(k=v, ...) with {% set ns.k = v %},
 * {% break %} / {% continue %} (loopcontrols), {% generation %} blocks,
 * filters tojson, selectattr, rejectattr, dictsort.
 */
enum mg_tmpl_flags {
  MG_TMPL_TRIM_BLOCKS = 1 << 0,
  MG_TMPL_LSTRIP_BLOCKS = 1 << 1,
  MG_TMPL_LENIENT = 1 << 2,
  MG_TMPL_DROP_TRAILING_NL = 1 << 3,
  MG_TMPL_HF_GLOBALS = 1 << 4,
  MG_TMPL_HF_CHAT = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4),
};
int mg_tmpl_compile_flags(const char *src, size_t len, const char *name,
                          unsigned flags, struct mg_tmpl **out,
                          struct mg_err *err);
void mg_tmpl_free(struct mg_tmpl *t);

/*
 * Renders with the members of vars (a dict, borrowed) as top-level names,
 * appending to out. MG_ERR_DATA on a render error.
 */
int mg_tmpl_render(const struct mg_tmpl *t, const struct mg_pv *vars,
                   struct mg_buf *out, struct mg_err *err);
/* The same, giving a new str value. caller owns *out. */
int mg_tmpl_render_pv(const struct mg_tmpl *t, const struct mg_pv *vars,
                      struct mg_pv **out, struct mg_err *err);

/* 1 if the template is exactly one {{ expression }} and nothing else
 * (so its value can be taken without a str()/literal_eval round trip). */
int mg_tmpl_is_single_expr(const struct mg_tmpl *t);
/* Evaluates that lone expression to a value. caller owns *out. */
int mg_tmpl_eval(const struct mg_tmpl *t, const struct mg_pv *vars,
                 struct mg_pv **out, struct mg_err *err);

/* 1 if src contains template syntax ("{{", "{%" or "{#"). */
int mg_tmpl_has_syntax(const char *src);

#endif
