#ifndef MG_REGEX_H
#define MG_REGEX_H

#include <stddef.h>

#include "mg_banned.h"

struct mg_buf;
struct mg_err;
struct mg_pv;

/*
 * Regular expressions with Python re semantics where lm-evaluation-harness
 * depends on them (regex filters, exact_match's regexes_to_ignore, the
 * regex_replace template filter), over PCRE2 compiled with UTF and UCP so
 * that \d, \w and \s are Unicode-aware as in Python 3 str patterns.
 *
 * Iteration follows Python 3.7+: an empty match is allowed right after a
 * non-empty one, never twice at the same position.
 */
struct mg_regex;

/* caller owns *out; free with mg_regex_free. MG_ERR_DATA on a bad pattern:
 * "invalid regular expression 'pat': reason at offset N". */
int mg_regex_compile(const char *pattern, struct mg_regex **out,
                     struct mg_err *err);
void mg_regex_free(struct mg_regex *re);
/* Number of capturing groups. */
int mg_regex_groups(const struct mg_regex *re);

/* 1 if re matches anywhere in s[0..n) (re.search), 0 if not. */
int mg_regex_search(const struct mg_regex *re, const char *s, size_t n);

/*
 * re.findall: a new list. Without groups each item is the matched text;
 * with one group, that group's text ("" when it did not take part); with
 * several, a tuple of the groups' texts.
 * caller owns the result.
 */
struct mg_pv *mg_regex_findall(const struct mg_regex *re, const char *s,
                               size_t n);

/*
 * re.sub(pattern, repl, s, count): appends the result to out. repl uses
 * Python's template syntax (\1, \g<1>, \g<name>, \n, \t, \\). count 0
 * means all. Fails with MG_ERR_DATA on a bad group reference.
 */
int mg_regex_sub(const struct mg_regex *re, const char *repl, const char *s,
                 size_t n, long count, struct mg_buf *out, struct mg_err *err);

#endif
