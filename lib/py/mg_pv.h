#ifndef MG_PV_H
#define MG_PV_H

#include <stddef.h>

#include "mg_banned.h"

struct mg_buf;
struct mg_err;
struct mg_json;

/*
 * Python-like values: None, bool, int, float, str, list and dict, with the
 * semantics eval-run needs to reproduce lm-evaluation-harness byte for
 * byte: Python's repr() and str(), ==, truthiness, json.dumps(indent=2,
 * ensure_ascii=False), ast.literal_eval of simple literals, and a JSON
 * reader that keeps the difference between 1 and 1.0 (mg_json cannot).
 *
 * Values are reference counted and treated as immutable once shared.
 * Ownership, in one place:
 *   - constructors and parsers return a new reference: caller owns it and
 *     drops it with mg_pv_unref();
 *   - mg_pv_ref() adds a reference (returns its argument);
 *   - mg_pv_list_append / mg_pv_dict_set* take ownership of the value
 *     (and of the key for mg_pv_dict_set);
 *   - getters (mg_pv_at, mg_pv_dict_get) return borrowed pointers, valid
 *     while the container is alive and unchanged.
 *
 * Strings are UTF-8 byte strings with an explicit length; Python's
 * code-point view is available through mg_pv_utf8_* and mg_utf8_count.
 */
enum mg_pv_type {
  MG_PV_NONE = 0,
  MG_PV_BOOL,
  MG_PV_INT,
  MG_PV_FLOAT,
  MG_PV_STR,
  MG_PV_LIST,
  MG_PV_DICT,
  MG_PV_TAGGED, /* a YAML scalar with a local tag, e.g. "!function f" */
};

struct mg_pv {
  unsigned refs;
  enum mg_pv_type type;
  union {
    int b;
    long long i;
    double f;
    struct {
      char *s; /* NUL-terminated; may hold NULs before len */
      size_t len;
    } str;
    struct {
      struct mg_pv **v;
      size_t n, cap;
      int tuple; /* 1: a tuple (repr "(a, b)"; never == a list) */
    } list;
    struct {
      struct mg_pv **k; /* keys, any hashable value (usually str) */
      struct mg_pv **v;
      size_t n, cap;
    } dict;
    struct {
      char *tag;   /* "!function" */
      char *value; /* "utils.process_docs" */
    } tagged;
  } u;
};

/* Constructors: a new reference each, never NULL. */
struct mg_pv *mg_pv_none(void);
struct mg_pv *mg_pv_bool(int b);
struct mg_pv *mg_pv_int(long long i);
struct mg_pv *mg_pv_float(double f);
struct mg_pv *mg_pv_str(const char *s);
struct mg_pv *mg_pv_strn(const char *s, size_t n);
/* Takes ownership of s (malloc'd, NUL at s[n]). */
struct mg_pv *mg_pv_str_take(char *s, size_t n);
/* Takes the content of b (which is left empty). */
struct mg_pv *mg_pv_str_buf(struct mg_buf *b);
struct mg_pv *mg_pv_list(void);
/* An empty tuple: a list with list.tuple set. */
struct mg_pv *mg_pv_tuple(void);
struct mg_pv *mg_pv_dict(void);
struct mg_pv *mg_pv_tagged(const char *tag, const char *value);

struct mg_pv *mg_pv_ref(struct mg_pv *v);
/* Drops a reference, freeing at zero. Accepts NULL. */
void mg_pv_unref(struct mg_pv *v);

/* Python type name ("NoneType", "str", ...) for messages. */
const char *mg_pv_type_name(const struct mg_pv *v);

void mg_pv_list_append(struct mg_pv *list, struct mg_pv *v);
/* Number of items (list, dict) or code points (str); 0 otherwise. */
size_t mg_pv_len(const struct mg_pv *v);
/* list[i], borrowed; NULL out of range or not a list. */
struct mg_pv *mg_pv_at(const struct mg_pv *list, size_t i);

/* d[key] = v, replacing in place an equal key. Takes key and v. */
void mg_pv_dict_set(struct mg_pv *d, struct mg_pv *key, struct mg_pv *v);
/* d["key"] = v; takes v. */
void mg_pv_dict_sets(struct mg_pv *d, const char *key, struct mg_pv *v);
/* Borrowed value for a string key / any key; NULL if absent. */
struct mg_pv *mg_pv_dict_get(const struct mg_pv *d, const char *key);
struct mg_pv *mg_pv_dict_getv(const struct mg_pv *d, const struct mg_pv *key);
/* Removes d["key"] if present. */
void mg_pv_dict_del(struct mg_pv *d, const char *key);

/* A new container holding references to the same items. */
struct mg_pv *mg_pv_copy(const struct mg_pv *v);
/* A deep copy (containers copied recursively). */
struct mg_pv *mg_pv_deepcopy(const struct mg_pv *v);

/* Python ==: numbers compare by value across bool/int/float. */
int mg_pv_equal(const struct mg_pv *a, const struct mg_pv *b);
/* Python truth value. */
int mg_pv_truthy(const struct mg_pv *v);
/* Numeric value of bool/int/float; 0 otherwise. */
double mg_pv_num(const struct mg_pv *v);
/* 1 for bool/int/float. */
int mg_pv_is_number(const struct mg_pv *v);
/* The string of a str, else NULL. Borrowed. */
const char *mg_pv_cstr(const struct mg_pv *v);

/*
 * Text forms, appended to out (which must be unlimited or large enough;
 * growth failures abort through mg_xrealloc semantics of mg_buf).
 *   repr: Python repr() ('it\'s' quoting rules, [1, 'a'], {'k': None}).
 *   str:  Python str() (strings as-is, containers as repr).
 *   dumps: json.dumps(v, ensure_ascii=False, indent=indent) with indent < 0
 *          meaning None (compact ", " / ": " separators).
 */
void mg_pv_repr(struct mg_buf *out, const struct mg_pv *v);
void mg_pv_to_str(struct mg_buf *out, const struct mg_pv *v);
void mg_pv_dumps(struct mg_buf *out, const struct mg_pv *v, int indent);
/* Python repr() of a float: shortest round-trip digits, "1.0", "1e-05",
 * "inf", "nan". */
void mg_pv_float_repr(struct mg_buf *out, double f);

enum mg_pv_parse_mode {
  MG_PV_JSON = 0,  /* strict JSON; integers without '.', 'e' are int */
  MG_PV_PYLIT = 1, /* ast.literal_eval subset: str/bytes-free literals,
                      numbers, True/False/None, lists, tuples, dicts */
};
/*
 * Parses one value from text[0..len). name is for messages. On failure
 * *out is NULL and err holds MG_ERR_DATA "malformed JSON in 'name' at byte
 * N: reason" (or "malformed literal ..."). caller owns *out.
 */
int mg_pv_parse(const char *text, size_t len, enum mg_pv_parse_mode mode,
                const char *name, struct mg_pv **out, struct mg_err *err);

/* Converts from / to the project's JSON values. Integral JSON numbers
 * become int. caller owns the result. */
struct mg_pv *mg_pv_from_json(const struct mg_json *j);
struct mg_json *mg_pv_to_json(const struct mg_pv *v);

/* Python's str.strip() (Unicode whitespace) and str.capitalize() (first
 * character title-cased, the rest lower-cased). New references. */
struct mg_pv *mg_pv_str_strip(const struct mg_pv *s);
struct mg_pv *mg_pv_str_capitalize(const struct mg_pv *s);
/* Python's str.lower() (simple case mapping per character). */
struct mg_pv *mg_pv_str_lower(const struct mg_pv *s);
/* Python's str.isspace() for one code point. */
int mg_pv_isspace(int cp);

/* Python's code-point view of UTF-8 text (mg_utf8_count counts them).
 * mg_pv_utf8_next decodes the code point at s[*i] and advances *i past
 * it; an ill-formed byte decodes as U+FFFD and is skipped alone. */
int32_t mg_pv_utf8_next(const char *s, size_t n, size_t *i);
/* Byte offset of code point index cp (clamped to n). */
size_t mg_pv_utf8_offset(const char *s, size_t n, size_t cp);

#endif
