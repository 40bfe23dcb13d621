#ifndef MG_EVAL_TABLE_H
#define MG_EVAL_TABLE_H

#include "mg_banned.h"

struct mg_buf;
struct mg_pv;

/*
 * lm-eval's results table: lm_eval.utils.make_table(result_dict, column)
 * as lm-evaluation-harness 0.4.8 builds it, rendered the way
 * pytablewriter's MarkdownTableWriter (1.2, with DataProperty 1.x)
 * renders it.
 *
 * Rows (make_table): for each entry of result_dict[column] in order, its
 * alias (else its name), versions.get(k, "    N/A"), and, for each
 * metric key "m,f" in sorted order that is not an "_stderr" key: filter
 * f, str(n-shot.get(k, " ")), m, the arrow of higher_is_better (↑/↓, else
 * ""), "%.4f" % value (values that are not floats as they are), and "±"
 * with "%.4f" % stderr ("   N/A" for "N/A") when the stderr key exists;
 * name and version only on an entry's first row.
 *
 * Rendering (pytablewriter): every cell is typed: None, "" and blank
 * strings are null (None prints empty), integers and integral numbers (an int,
 * a float such as 1.0, a string such as "0.0000") are integers with 0 decimal
 * places, other numbers and numeric strings are reals with as many decimal
 * places as they are written with, anything else a string. A column with a
 * string is a string column; with reals (and integers or nulls) a real column;
 * with integers (and nulls) an integer column. A column's decimal places
 * are min(ceil(mean + 1), max) over its numeric cells. Numbers print with
 * those decimal places (integers as integers in an integer or string
 * column), rounded half to even on their decimal digits. Numbers are
 * right-aligned, the rest left-aligned; a numeric column's separator ends
 * in ':'. The width is the widest of the header and cells, at least 3;
 * headers are centred (the odd space on the right). Widths count code
 * points (East Asian wide characters are not counted twice).
 *
 * Appends the table (lines joined by "\n", with a final "\n") to out.
 * column is "results" (header "Tasks") or "groups" (header "Groups").
 * Returns 0, or -1 when result_dict has no such column (nothing appended).
 */
int mg_eval_table(const struct mg_pv *result_dict, const char *column,
                  struct mg_buf *out);

#endif
