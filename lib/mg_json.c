#include "mg_json.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "mg_mem.h"

/*
 * struct mg_json is never defined: a struct mg_json * is a cJSON * under
 * another name, so the JSON library stays inside this file.
 */
#define CJ(j) ((cJSON *)(j))
#define CCJ(j) ((const cJSON *)(j))
#define MJ(c) ((struct mg_json *)(c))

/*
 * cJSON keeps strings NUL-terminated, so "\u0000" inside a string would cut
 * it short. When the input has such an escape we recover the true lengths
 * with a second scan and keep them in the string node's unused valueint
 * (as length + 1; 0 means "use strlen").
 */
static int has_nul_escape(const char *s, size_t n)
{
  for (size_t i = 0; i + 5 < n; i++)
    if (s[i] == '\\' && s[i + 1] == 'u' && s[i + 2] == '0' && s[i + 3] == '0'
        && s[i + 4] == '0' && s[i + 5] == '0') {
      /* An escaped backslash before it means it is not an escape. */
      size_t k = i, bs = 0;
      while (k > 0 && s[k - 1] == '\\') {
        k--;
        bs++;
      }
      if (bs % 2 == 0)
        return 1;
    }
  return 0;
}

/* Decoded byte length of the JSON string literal at s (after the quote). */
static size_t literal_len(const char *s, const char *end, const char **after)
{
  size_t len = 0;

  while (s < end && *s != '"') {
    if (*s != '\\') {
      len++;
      s++;
      continue;
    }
    if (s + 1 < end && s[1] == 'u' && s + 5 < end) {
      unsigned long cp =
          strtoul((char[5]){ s[2], s[3], s[4], s[5], 0 }, NULL, 16);
      s += 6;
      if (cp >= 0xD800 && cp <= 0xDBFF && s + 5 < end && s[0] == '\\'
          && s[1] == 'u') {
        len += 4;
        s += 6;
      } else {
        len += cp < 0x80 ? 1 : cp < 0x800 ? 2 : 3;
      }
      continue;
    }
    len++;
    s += 2;
  }
  *after = s < end ? s + 1 : end;
  return len;
}

struct lenscan {
  const char *p, *end;
};

/* The next string literal that is a value (not a key); its length. */
static int next_value_len(struct lenscan *ls, size_t *len)
{
  while (ls->p < ls->end) {
    const char *q;
    size_t l;

    if (*ls->p != '"') {
      ls->p++;
      continue;
    }
    l = literal_len(ls->p + 1, ls->end, &q);
    ls->p = q;
    while (q < ls->end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r'))
      q++;
    if (q < ls->end && *q == ':')
      continue;
    *len = l;
    return 1;
  }
  return 0;
}

static void fix_lengths(cJSON *c, struct lenscan *ls)
{
  for (; c; c = c->next) {
    size_t l;

    if (cJSON_IsString(c)) {
      if (next_value_len(ls, &l))
        c->valueint = (int)(l + 1);
    } else if (c->child) {
      fix_lengths(c->child, ls);
    }
  }
}

int mg_json_parse(const char *text, size_t len, const char *name,
                  struct mg_json **out, struct mg_err *err)
{
  const char *end = NULL;
  cJSON *c;

  *out = NULL;
  if (len == 0)
    return mg_err_set(err, MG_ERR_DATA, "malformed JSON in '%s': empty input",
                      name);
  c = cJSON_ParseWithLengthOpts(text, len, &end, 0);
  if (!c) {
    size_t off =
        end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
    return mg_err_set(err, MG_ERR_DATA, "malformed JSON in '%s' at byte %zu",
                      name, off);
  }
  for (const char *p = end; p < text + len; p++)
    if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
      cJSON_Delete(c);
      return mg_err_set(err, MG_ERR_DATA,
                        "malformed JSON in '%s' at byte %zu: unexpected data "
                        "after the document",
                        name, (size_t)(p - text));
    }
  if (has_nul_escape(text, len)) {
    struct lenscan ls = { text, text + len };
    if (cJSON_IsString(c)) {
      size_t l;
      if (next_value_len(&ls, &l))
        c->valueint = (int)(l + 1);
    } else {
      fix_lengths(c->child, &ls);
    }
  }
  *out = MJ(c);
  return 0;
}

void mg_json_free(struct mg_json *j)
{
  cJSON_Delete(CJ(j));
}

static cJSON *check(cJSON *c)
{
  if (!c)
    MG_BUG("cJSON allocation failed");
  return c;
}

struct mg_json *mg_json_new_object(void)
{
  return MJ(check(cJSON_CreateObject()));
}

struct mg_json *mg_json_new_array(void)
{
  return MJ(check(cJSON_CreateArray()));
}

struct mg_json *mg_json_new_string(const char *s)
{
  return MJ(check(cJSON_CreateString(s)));
}

struct mg_json *mg_json_new_stringn(const char *s, size_t n)
{
  cJSON *c = check(cJSON_CreateString(""));
  char *p = mg_xmalloc(n + 1);

  memcpy(p, s, n);
  p[n] = '\0';
  cJSON_free(c->valuestring);
  c->valuestring = p;
  if (memchr(p, '\0', n))
    c->valueint = (int)(n + 1);
  return MJ(c);
}

struct mg_json *mg_json_new_number(double v)
{
  return MJ(check(cJSON_CreateNumber(v)));
}

struct mg_json *mg_json_new_bool(int v)
{
  return MJ(check(cJSON_CreateBool(v)));
}

struct mg_json *mg_json_new_null(void)
{
  return MJ(check(cJSON_CreateNull()));
}

struct mg_json *mg_json_dup(const struct mg_json *j)
{
  return MJ(check(cJSON_Duplicate(CCJ(j), 1)));
}

void mg_json_set(struct mg_json *obj, const char *key, struct mg_json *val)
{
  if (!cJSON_IsObject(CJ(obj)))
    MG_BUG("mg_json_set on a non-object");
  if (cJSON_GetObjectItemCaseSensitive(CJ(obj), key))
    cJSON_ReplaceItemInObjectCaseSensitive(CJ(obj), key, CJ(val));
  else
    cJSON_AddItemToObject(CJ(obj), key, CJ(val));
}

void mg_json_set_string(struct mg_json *obj, const char *key, const char *s)
{
  mg_json_set(obj, key, mg_json_new_string(s));
}

void mg_json_set_number(struct mg_json *obj, const char *key, double v)
{
  mg_json_set(obj, key, mg_json_new_number(v));
}

void mg_json_set_bool(struct mg_json *obj, const char *key, int v)
{
  mg_json_set(obj, key, mg_json_new_bool(v));
}

void mg_json_append(struct mg_json *arr, struct mg_json *val)
{
  if (!cJSON_IsArray(CJ(arr)))
    MG_BUG("mg_json_append on a non-array");
  cJSON_AddItemToArray(CJ(arr), CJ(val));
}

struct mg_json *mg_json_detach(struct mg_json *obj, const char *key)
{
  return MJ(cJSON_DetachItemFromObjectCaseSensitive(CJ(obj), key));
}

void mg_json_remove(struct mg_json *obj, const char *key)
{
  cJSON_DeleteItemFromObjectCaseSensitive(CJ(obj), key);
}

enum mg_json_type mg_json_type(const struct mg_json *j)
{
  const cJSON *c = CCJ(j);

  if (!c)
    return MG_JSON_INVALID;
  switch (c->type & 0xff) {
  case cJSON_NULL:
    return MG_JSON_NULL;
  case cJSON_False:
    return MG_JSON_FALSE;
  case cJSON_True:
    return MG_JSON_TRUE;
  case cJSON_Number:
    return MG_JSON_NUMBER;
  case cJSON_String:
    return MG_JSON_STRING;
  case cJSON_Array:
    return MG_JSON_ARRAY;
  case cJSON_Object:
    return MG_JSON_OBJECT;
  default:
    return MG_JSON_INVALID;
  }
}

const char *mg_json_type_name(enum mg_json_type t)
{
  switch (t) {
  case MG_JSON_NULL:
    return "null";
  case MG_JSON_FALSE:
  case MG_JSON_TRUE:
    return "a boolean";
  case MG_JSON_NUMBER:
    return "a number";
  case MG_JSON_STRING:
    return "a string";
  case MG_JSON_ARRAY:
    return "an array";
  case MG_JSON_OBJECT:
    return "an object";
  default:
    return "invalid";
  }
}

int mg_json_is_object(const struct mg_json *j)
{
  return cJSON_IsObject(CCJ(j));
}

int mg_json_is_array(const struct mg_json *j)
{
  return cJSON_IsArray(CCJ(j));
}

int mg_json_is_string(const struct mg_json *j)
{
  return cJSON_IsString(CCJ(j));
}

int mg_json_is_number(const struct mg_json *j)
{
  return cJSON_IsNumber(CCJ(j));
}

int mg_json_is_bool(const struct mg_json *j)
{
  return cJSON_IsBool(CCJ(j));
}

int mg_json_is_null(const struct mg_json *j)
{
  return cJSON_IsNull(CCJ(j));
}

const char *mg_json_string(const struct mg_json *j)
{
  return cJSON_IsString(CCJ(j)) ? CCJ(j)->valuestring : NULL;
}

size_t mg_json_string_len(const struct mg_json *j)
{
  if (!cJSON_IsString(CCJ(j)) || !CCJ(j)->valuestring)
    return 0;
  if (CCJ(j)->valueint > 0)
    return (size_t)CCJ(j)->valueint - 1;
  return strlen(CCJ(j)->valuestring);
}

double mg_json_number(const struct mg_json *j)
{
  return cJSON_IsNumber(CCJ(j)) ? CCJ(j)->valuedouble : 0;
}

int mg_json_bool(const struct mg_json *j)
{
  return cJSON_IsTrue(CCJ(j));
}

struct mg_json *mg_json_get(const struct mg_json *obj, const char *key)
{
  if (!cJSON_IsObject(CCJ(obj)))
    return NULL;
  return MJ(cJSON_GetObjectItemCaseSensitive(CCJ(obj), key));
}

struct mg_json *mg_json_get_path(const struct mg_json *obj, const char *path)
{
  const struct mg_json *cur = obj;
  char key[256];

  while (cur && *path) {
    const char *dot = strchr(path, '.');
    size_t n = dot ? (size_t)(dot - path) : strlen(path);

    if (n >= sizeof(key))
      return NULL;
    memcpy(key, path, n);
    key[n] = '\0';
    cur = mg_json_get(cur, key);
    path += n + (dot ? 1 : 0);
  }
  return (struct mg_json *)cur;
}

size_t mg_json_size(const struct mg_json *j)
{
  if (!cJSON_IsArray(CCJ(j)) && !cJSON_IsObject(CCJ(j)))
    return 0;
  return (size_t)cJSON_GetArraySize(CCJ(j));
}

struct mg_json *mg_json_at(const struct mg_json *j, size_t i)
{
  cJSON *c;

  if (!cJSON_IsArray(CCJ(j)) && !cJSON_IsObject(CCJ(j)))
    return NULL;
  for (c = CCJ(j)->child; c && i; c = c->next)
    i--;
  return MJ(c);
}

struct mg_json *mg_json_first(const struct mg_json *j)
{
  if (!cJSON_IsArray(CCJ(j)) && !cJSON_IsObject(CCJ(j)))
    return NULL;
  return MJ(CCJ(j)->child);
}

struct mg_json *mg_json_next(const struct mg_json *child)
{
  return child ? MJ(CCJ(child)->next) : NULL;
}

const char *mg_json_key(const struct mg_json *member)
{
  return member ? CCJ(member)->string : NULL;
}

static int wrong_type(const char *key, const char *what,
                      const struct mg_json *v, const char *expected,
                      struct mg_err *err)
{
  return mg_err_set(err, MG_ERR_DATA, "field '%s' in %s is %s, expected %s",
                    key, what, mg_json_type_name(mg_json_type(v)), expected);
}

static int missing(const char *key, const char *what, struct mg_err *err)
{
  return mg_err_set(err, MG_ERR_DATA, "missing field '%s' in %s", key, what);
}

int mg_json_req_string(const struct mg_json *obj, const char *key,
                       const char *what, const char **out, struct mg_err *err)
{
  struct mg_json *v = mg_json_get(obj, key);

  if (!v)
    return missing(key, what, err);
  if (!mg_json_is_string(v))
    return wrong_type(key, what, v, "a string", err);
  *out = mg_json_string(v);
  return 0;
}

int mg_json_req_number(const struct mg_json *obj, const char *key,
                       const char *what, double *out, struct mg_err *err)
{
  struct mg_json *v = mg_json_get(obj, key);

  if (!v)
    return missing(key, what, err);
  if (!mg_json_is_number(v))
    return wrong_type(key, what, v, "a number", err);
  *out = mg_json_number(v);
  return 0;
}

int mg_json_req_int(const struct mg_json *obj, const char *key,
                    const char *what, int64_t min, int64_t max, int64_t *out,
                    struct mg_err *err)
{
  double d;

  if (mg_json_req_number(obj, key, what, &d, err) < 0)
    return -1;
  if (d != floor(d) || d < (double)min || d > (double)max)
    return mg_err_set(err, MG_ERR_DATA,
                      "field '%s' in %s must be an integer from %lld to %lld",
                      key, what, (long long)min, (long long)max);
  *out = (int64_t)d;
  return 0;
}

int mg_json_req_object(const struct mg_json *obj, const char *key,
                       const char *what, struct mg_json **out,
                       struct mg_err *err)
{
  struct mg_json *v = mg_json_get(obj, key);

  if (!v)
    return missing(key, what, err);
  if (!mg_json_is_object(v))
    return wrong_type(key, what, v, "an object", err);
  *out = v;
  return 0;
}

int mg_json_req_array(const struct mg_json *obj, const char *key,
                      const char *what, struct mg_json **out,
                      struct mg_err *err)
{
  struct mg_json *v = mg_json_get(obj, key);

  if (!v)
    return missing(key, what, err);
  if (!mg_json_is_array(v))
    return wrong_type(key, what, v, "an array", err);
  *out = v;
  return 0;
}

int mg_json_opt_string(const struct mg_json *obj, const char *key,
                       const char *what, const char *def, const char **out,
                       struct mg_err *err)
{
  struct mg_json *v = mg_json_get(obj, key);

  *out = def;
  if (!v || mg_json_is_null(v))
    return 0;
  if (!mg_json_is_string(v))
    return wrong_type(key, what, v, "a string", err);
  *out = mg_json_string(v);
  return 0;
}

int mg_json_opt_number(const struct mg_json *obj, const char *key,
                       const char *what, double def, double *out,
                       struct mg_err *err)
{
  struct mg_json *v = mg_json_get(obj, key);

  *out = def;
  if (!v || mg_json_is_null(v))
    return 0;
  if (!mg_json_is_number(v))
    return wrong_type(key, what, v, "a number", err);
  *out = mg_json_number(v);
  return 0;
}

int mg_json_opt_bool(const struct mg_json *obj, const char *key,
                     const char *what, int def, int *out, struct mg_err *err)
{
  struct mg_json *v = mg_json_get(obj, key);

  *out = def;
  if (!v || mg_json_is_null(v))
    return 0;
  if (!mg_json_is_bool(v))
    return wrong_type(key, what, v, "a boolean", err);
  *out = mg_json_bool(v);
  return 0;
}

int mg_json_equal(const struct mg_json *a, const struct mg_json *b)
{
  return cJSON_Compare(CCJ(a), CCJ(b), 1);
}

char *mg_json_print(const struct mg_json *j, unsigned flags)
{
  char *s = (flags & MG_JSON_PRETTY) ? cJSON_Print(CCJ(j))
                                     : cJSON_PrintUnformatted(CCJ(j));
  size_t n;

  if (!s)
    MG_BUG("cJSON print failed");
  if (!(flags & MG_JSON_NEWLINE))
    return s;
  n = strlen(s);
  s = mg_xrealloc(s, n + 2);
  s[n] = '\n';
  s[n + 1] = '\0';
  return s;
}

int mg_json_quote(struct mg_buf *out, const char *s, size_t n,
                  struct mg_err *err)
{
  static const char hex[] = "0123456789abcdef";
  size_t start = 0;

  if (mg_buf_addch(out, '"', err) < 0)
    return -1;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    char esc[7];
    size_t elen = 2;

    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    if (mg_buf_add(out, s + start, i - start, err) < 0)
      return -1;
    start = i + 1;
    esc[0] = '\\';
    switch (c) {
    case '"':
      esc[1] = '"';
      break;
    case '\\':
      esc[1] = '\\';
      break;
    case '\n':
      esc[1] = 'n';
      break;
    case '\r':
      esc[1] = 'r';
      break;
    case '\t':
      esc[1] = 't';
      break;
    case '\b':
      esc[1] = 'b';
      break;
    case '\f':
      esc[1] = 'f';
      break;
    default:
      esc[1] = 'u';
      esc[2] = '0';
      esc[3] = '0';
      esc[4] = hex[c >> 4];
      esc[5] = hex[c & 15];
      elen = 6;
    }
    if (mg_buf_add(out, esc, elen, err) < 0)
      return -1;
  }
  if (mg_buf_add(out, s + start, n - start, err) < 0)
    return -1;
  return mg_buf_addch(out, '"', err);
}
