#ifndef MG_JSON_H
#define MG_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "mg_banned.h"

struct mg_err;

/*
 * JSON values. This module is the only one that knows the JSON library;
 * everything else sees the opaque struct mg_json.
 *
 * Ownership, in one place:
 *   - mg_json_parse* and mg_json_new_* results belong to the caller; free
 *     the root with mg_json_free().
 *   - Attaching a value to a parent (mg_json_set, mg_json_append) transfers
 *     ownership to the parent; never free an attached value yourself.
 *   - Getters return borrowed pointers, valid until the value (or an
 *     ancestor) is freed or the key is replaced.
 *   - mg_json_print returns a string the caller frees with free().
 *
 * Object keys are looked up case-sensitively. Objects keep insertion order
 * and printing is deterministic: the same value always gives the same bytes.
 */
struct mg_json;

enum mg_json_type {
  MG_JSON_INVALID = 0,
  MG_JSON_NULL,
  MG_JSON_FALSE,
  MG_JSON_TRUE,
  MG_JSON_NUMBER,
  MG_JSON_STRING,
  MG_JSON_ARRAY,
  MG_JSON_OBJECT,
};

/* Default cap on a JSON document read from a file or stream: 64 MiB. */
#define MG_JSON_DEFAULT_MAX ((size_t)64 << 20)

/*
 * Parses exactly one JSON value from text[0..len). Anything but whitespace
 * after the value is an error. name is the input's name for messages (a
 * path, "<stdin>", "response from 'URL'"). On failure *out is NULL and err
 * holds MG_ERR_DATA with "malformed JSON in 'name' at byte N".
 */
int mg_json_parse(const char *text, size_t len, const char *name,
                  struct mg_json **out, struct mg_err *err);

/* Frees a value and all its children. Accepts NULL. */
void mg_json_free(struct mg_json *j);

/* Constructors; caller owns the result. Never return NULL. */
struct mg_json *mg_json_new_object(void);
struct mg_json *mg_json_new_array(void);
struct mg_json *mg_json_new_string(const char *s);
/* A string from n bytes that need not be NUL-terminated. */
struct mg_json *mg_json_new_stringn(const char *s, size_t n);
struct mg_json *mg_json_new_number(double v);
struct mg_json *mg_json_new_bool(int v);
struct mg_json *mg_json_new_null(void);
/* Deep copy; caller owns the result. */
struct mg_json *mg_json_dup(const struct mg_json *j);

/*
 * Sets obj[key] = val, taking ownership of val. An existing key is replaced
 * in place (its position is kept, the old value freed); a new key is added
 * at the end. obj must be an object.
 */
void mg_json_set(struct mg_json *obj, const char *key, struct mg_json *val);
/* Shorthands for mg_json_set with a new scalar. */
void mg_json_set_string(struct mg_json *obj, const char *key, const char *s);
void mg_json_set_number(struct mg_json *obj, const char *key, double v);
void mg_json_set_bool(struct mg_json *obj, const char *key, int v);
/* Appends val to an array, taking ownership. */
void mg_json_append(struct mg_json *arr, struct mg_json *val);
/* Removes obj[key] and returns it; caller owns the result. NULL if absent. */
struct mg_json *mg_json_detach(struct mg_json *obj, const char *key);
/* Removes and frees obj[key] if present. */
void mg_json_remove(struct mg_json *obj, const char *key);

/* Type inspection. All accept NULL (type MG_JSON_INVALID). */
enum mg_json_type mg_json_type(const struct mg_json *j);
const char *mg_json_type_name(enum mg_json_type t);
int mg_json_is_object(const struct mg_json *j);
int mg_json_is_array(const struct mg_json *j);
int mg_json_is_string(const struct mg_json *j);
int mg_json_is_number(const struct mg_json *j);
int mg_json_is_bool(const struct mg_json *j);
int mg_json_is_null(const struct mg_json *j);

/* Scalar values. Borrowed; NULL / 0 when j is not of that type. */
const char *mg_json_string(const struct mg_json *j);
/*
 * Byte length of a string value. Differs from strlen() only when the string
 * holds NUL characters (parsed from "\u0000" or a raw NUL, or made by
 * mg_json_new_stringn); mg_json_print prints such a string whole.
 */
size_t mg_json_string_len(const struct mg_json *j);
double mg_json_number(const struct mg_json *j);
int mg_json_bool(const struct mg_json *j);

/* obj[key], borrowed; NULL if obj is not an object or key is absent. */
struct mg_json *mg_json_get(const struct mg_json *obj, const char *key);
/* Follows a dotted path of object keys ("perf.runs"); NULL if any is absent. */
struct mg_json *mg_json_get_path(const struct mg_json *obj, const char *path);

/* Arrays and objects: number of children, and iteration in order. */
size_t mg_json_size(const struct mg_json *j);
/* i-th child, borrowed; O(i). Use first/next to walk. */
struct mg_json *mg_json_at(const struct mg_json *j, size_t i);
struct mg_json *mg_json_first(const struct mg_json *j);
struct mg_json *mg_json_next(const struct mg_json *child);
/* The key of an object member, borrowed; NULL for array elements. */
const char *mg_json_key(const struct mg_json *member);

/*
 * Typed getters for required and optional fields. "what" names the object
 * in messages (e.g. "record", "section 'perf'"). A missing or mistyped
 * required field fails with MG_ERR_DATA: "missing field 'k' in what" or
 * "field 'k' in what is a string, expected a number".
 */
int mg_json_req_string(const struct mg_json *obj, const char *key,
                       const char *what, const char **out, struct mg_err *err);
int mg_json_req_number(const struct mg_json *obj, const char *key,
                       const char *what, double *out, struct mg_err *err);
/* An integral number within [min, max]. */
int mg_json_req_int(const struct mg_json *obj, const char *key,
                    const char *what, int64_t min, int64_t max, int64_t *out,
                    struct mg_err *err);
int mg_json_req_object(const struct mg_json *obj, const char *key,
                       const char *what, struct mg_json **out,
                       struct mg_err *err);
int mg_json_req_array(const struct mg_json *obj, const char *key,
                      const char *what, struct mg_json **out,
                      struct mg_err *err);
/* Optional: absent (or null) gives def and 0; present but mistyped fails. */
int mg_json_opt_string(const struct mg_json *obj, const char *key,
                       const char *what, const char *def, const char **out,
                       struct mg_err *err);
int mg_json_opt_number(const struct mg_json *obj, const char *key,
                       const char *what, double def, double *out,
                       struct mg_err *err);
int mg_json_opt_bool(const struct mg_json *obj, const char *key,
                     const char *what, int def, int *out, struct mg_err *err);

/* Deep equality (object member order does not matter). */
int mg_json_equal(const struct mg_json *a, const struct mg_json *b);

enum mg_json_print_flags {
  MG_JSON_PRETTY = 1 << 0,  /* indented, for humans */
  MG_JSON_NEWLINE = 1 << 1, /* append a trailing newline */
};
/*
 * Serialises j. Compact by default. Numbers that are integers print without
 * a fraction. caller owns the result; free with free().
 */
char *mg_json_print(const struct mg_json *j, unsigned flags);

/*
 * Appends s to out as a JSON string literal with quotes, escaping as JSON
 * requires. For hot paths that build JSON text without a tree.
 */
struct mg_buf;
int mg_json_quote(struct mg_buf *out, const char *s, size_t n,
                  struct mg_err *err);

#endif
