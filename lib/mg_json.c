#include "mg_json.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mg_buf.h"
#include "mg_digest.h"
#include "mg_err.h"
#include "mg_mem.h"
#include "mg_utf8.h"

/*
 * struct mg_json is never defined: a struct mg_json * is a cJSON * under
 * another name, so the JSON library stays inside this file.
 */
#define CJ(j) ((cJSON *)(j))
#define CCJ(j) ((const cJSON *)(j))
#define MJ(c) ((struct mg_json *)(c))

static cJSON *check(cJSON *c)
{
  if (!c)
    MG_BUG("cJSON allocation failed");
  return c;
}

/*
 * The parser. cJSON keeps strings NUL-terminated and does not record their
 * length, so a string that holds "\u0000" (or a raw NUL byte) would be cut
 * short. We therefore parse the text ourselves, in one pass, and build the
 * cJSON tree from it: the length of every string value comes from the same
 * scan that decoded it and is kept in the string node's otherwise unused
 * valueint (as length + 1; 0 means "use strlen").
 *
 * The grammar is RFC 8259, with two leniencies cJSON also had: a leading
 * UTF-8 byte order mark is skipped, and raw control bytes inside a string
 * are kept as they are. Object keys are C strings, so a key holding a NUL
 * is refused rather than silently cut (two keys could otherwise collide).
 */
#define JSON_MAX_DEPTH 1000

struct jparse {
  const char *s;
  size_t n, i;
  int depth;
  const char *why; /* reason for the first error, at offset i */
};

static cJSON *jp_fail(struct jparse *p, const char *why)
{
  if (!p->why)
    p->why = why;
  return NULL;
}

static void jp_ws(struct jparse *p)
{
  while (p->i < p->n
         && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n'
             || p->s[p->i] == '\r'))
    p->i++;
}

static int hex4(const char *s, unsigned *out)
{
  unsigned v = 0;

  for (int k = 0; k < 4; k++) {
    int d = mg_digest_hexval(s[k]);

    if (d < 0)
      return -1;
    v = v << 4 | (unsigned)d;
  }
  *out = v;
  return 0;
}

/*
 * The string literal at p->i (which is '"'), decoded into a new buffer of
 * cJSON's allocator; its byte length in *len. NULL on error.
 */
static char *jp_string(struct jparse *p, size_t *len)
{
  size_t start = ++p->i, end = start;
  char *out, *o;

  /* Find the closing quote; the decoded text is never longer. */
  while (end < p->n && p->s[end] != '"')
    end += p->s[end] == '\\' ? 2 : 1;
  if (end >= p->n) {
    p->i = p->n;
    jp_fail(p, "unterminated string");
    return NULL;
  }
  out = cJSON_malloc(end - start + 1);
  if (!out)
    MG_BUG("cJSON allocation failed");
  o = out;
  while (p->i < end) {
    char c = p->s[p->i];
    unsigned cp, lo;

    if (c != '\\') {
      *o++ = c;
      p->i++;
      continue;
    }
    c = p->s[p->i + 1];
    switch (c) {
    case '"':
    case '\\':
    case '/':
      *o++ = c;
      break;
    case 'b':
      *o++ = '\b';
      break;
    case 'f':
      *o++ = '\f';
      break;
    case 'n':
      *o++ = '\n';
      break;
    case 'r':
      *o++ = '\r';
      break;
    case 't':
      *o++ = '\t';
      break;
    case 'u':
      if (end - p->i < 6 || hex4(p->s + p->i + 2, &cp) < 0)
        goto bad_u;
      if (cp >= 0xDC00 && cp <= 0xDFFF)
        goto bad_u;
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (end - p->i < 12 || p->s[p->i + 6] != '\\' || p->s[p->i + 7] != 'u'
            || hex4(p->s + p->i + 8, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF)
          goto bad_u;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        p->i += 6;
      }
      o += mg_utf8_put(cp, o);
      p->i += 6;
      continue;
    default:
      cJSON_free(out);
      jp_fail(p, "invalid escape in a string");
      return NULL;
    }
    p->i += 2;
  }
  *o = '\0';
  *len = (size_t)(o - out);
  p->i = end + 1;
  return out;
bad_u:
  cJSON_free(out);
  jp_fail(p, "invalid \\u escape in a string");
  return NULL;
}

static int is_digit(char c)
{
  return c >= '0' && c <= '9';
}

static cJSON *jp_number(struct jparse *p)
{
  size_t start = p->i, i = p->i, k;
  char small[64], *buf;
  double d;

  if (i < p->n && p->s[i] == '-')
    i++;
  if (i >= p->n || !is_digit(p->s[i])) {
    p->i = i;
    return jp_fail(p, "invalid number");
  }
  if (p->s[i] == '0')
    i++;
  else
    while (i < p->n && is_digit(p->s[i]))
      i++;
  if (i < p->n && p->s[i] == '.') {
    i++;
    if (i >= p->n || !is_digit(p->s[i])) {
      p->i = i;
      return jp_fail(p, "invalid number");
    }
    while (i < p->n && is_digit(p->s[i]))
      i++;
  }
  if (i < p->n && (p->s[i] == 'e' || p->s[i] == 'E')) {
    i++;
    if (i < p->n && (p->s[i] == '+' || p->s[i] == '-'))
      i++;
    if (i >= p->n || !is_digit(p->s[i])) {
      p->i = i;
      return jp_fail(p, "invalid number");
    }
    while (i < p->n && is_digit(p->s[i]))
      i++;
  }
  /* strtod wants a terminated string; the text is not. */
  k = i - start;
  buf = k < sizeof(small) ? small : mg_xmalloc(k + 1);
  memcpy(buf, p->s + start, k);
  buf[k] = '\0';
  d = strtod(buf, NULL);
  if (buf != small)
    free(buf);
  p->i = i;
  return check(cJSON_CreateNumber(d));
}

static cJSON *jp_value(struct jparse *p);

static cJSON *jp_container(struct jparse *p, int obj)
{
  char close = obj ? '}' : ']';
  cJSON *c = check(obj ? cJSON_CreateObject() : cJSON_CreateArray());

  if (++p->depth > JSON_MAX_DEPTH) {
    cJSON_Delete(c);
    return jp_fail(p, "nested too deeply");
  }
  p->i++;
  jp_ws(p);
  if (p->i < p->n && p->s[p->i] == close) {
    p->i++;
    p->depth--;
    return c;
  }
  for (;;) {
    char *key = NULL;
    cJSON *v;

    jp_ws(p);
    if (obj) {
      size_t klen, at = p->i;
      if (p->i >= p->n || p->s[p->i] != '"') {
        cJSON_Delete(c);
        return jp_fail(p, "expected a string key");
      }
      key = jp_string(p, &klen);
      if (!key) {
        cJSON_Delete(c);
        return NULL;
      }
      if (strlen(key) != klen) {
        cJSON_free(key);
        cJSON_Delete(c);
        p->i = at;
        return jp_fail(p, "an object key holds a NUL character");
      }
      jp_ws(p);
      if (p->i >= p->n || p->s[p->i] != ':') {
        cJSON_free(key);
        cJSON_Delete(c);
        return jp_fail(p, "expected ':'");
      }
      p->i++;
    }
    v = jp_value(p);
    if (!v) {
      cJSON_free(key);
      cJSON_Delete(c);
      return NULL;
    }
    v->string = key;
    cJSON_AddItemToArray(c, v);
    jp_ws(p);
    if (p->i < p->n && p->s[p->i] == ',') {
      p->i++;
      continue;
    }
    if (p->i < p->n && p->s[p->i] == close) {
      p->i++;
      p->depth--;
      return c;
    }
    cJSON_Delete(c);
    return jp_fail(p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
  }
}

static cJSON *jp_word(struct jparse *p, const char *w, cJSON *v)
{
  size_t k = strlen(w);

  if (p->n - p->i < k || memcmp(p->s + p->i, w, k) != 0) {
    cJSON_Delete(v);
    return jp_fail(p, "expected a value");
  }
  p->i += k;
  return v;
}

static cJSON *jp_value(struct jparse *p)
{
  jp_ws(p);
  if (p->i >= p->n)
    return jp_fail(p, "unexpected end of input");
  switch (p->s[p->i]) {
  case '{':
    return jp_container(p, 1);
  case '[':
    return jp_container(p, 0);
  case '"': {
    size_t len;
    char *s = jp_string(p, &len);
    cJSON *c;

    if (!s)
      return NULL;
    c = check(cJSON_CreateString(""));
    cJSON_free(c->valuestring);
    c->valuestring = s;
    if (strlen(s) != len)
      c->valueint = (int)(len + 1);
    return c;
  }
  case 't':
    return jp_word(p, "true", check(cJSON_CreateTrue()));
  case 'f':
    return jp_word(p, "false", check(cJSON_CreateFalse()));
  case 'n':
    return jp_word(p, "null", check(cJSON_CreateNull()));
  default:
    if (p->s[p->i] == '-' || is_digit(p->s[p->i]))
      return jp_number(p);
    return jp_fail(p, "expected a value");
  }
}

int mg_json_parse(const char *text, size_t len, const char *name,
                  struct mg_json **out, struct mg_err *err)
{
  struct jparse p = { text, len, 0, 0, NULL };
  cJSON *c;

  *out = NULL;
  if (len == 0)
    return mg_err_set(err, MG_ERR_DATA, "malformed JSON in '%s': empty input",
                      name);
  if (len > INT_MAX - 1)
    return mg_err_set(err, MG_ERR_DATA,
                      "malformed JSON in '%s': larger than %d bytes", name,
                      INT_MAX - 1);
  if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
    p.i = 3;
  c = jp_value(&p);
  if (!c)
    return mg_err_set(err, MG_ERR_DATA,
                      "malformed JSON in '%s' at byte %zu: %s", name, p.i,
                      p.why);
  jp_ws(&p);
  if (p.i < len) {
    cJSON_Delete(c);
    return mg_err_set(err, MG_ERR_DATA,
                      "malformed JSON in '%s' at byte %zu: unexpected data "
                      "after the document",
                      name, p.i);
  }
  *out = MJ(c);
  return 0;
}

void mg_json_free(struct mg_json *j)
{
  cJSON_Delete(CJ(j));
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

/* Whether any string below c holds a NUL (which cJSON would print cut). */
static int has_nul_string(const cJSON *c)
{
  for (; c; c = c->next) {
    if (cJSON_IsString(c) && c->valueint > 0)
      return 1;
    if (c->child && has_nul_string(c->child))
      return 1;
  }
  return 0;
}

/*
 * cJSON_Duplicate copies strings with strdup, so a string that holds a NUL
 * comes out cut while its length says otherwise. Copy those whole; the two
 * trees have the same shape.
 */
static void dup_nul_strings(const cJSON *src, cJSON *dst)
{
  for (; src && dst; src = src->next, dst = dst->next) {
    if (cJSON_IsString(src) && src->valueint > 0) {
      size_t n = (size_t)src->valueint - 1;
      char *p = cJSON_malloc(n + 1);

      if (!p)
        MG_BUG("cJSON allocation failed");
      memcpy(p, src->valuestring, n + 1);
      cJSON_free(dst->valuestring);
      dst->valuestring = p;
    } else if (src->child) {
      dup_nul_strings(src->child, dst->child);
    }
  }
}

static cJSON *dup(const cJSON *src)
{
  cJSON *c = check(cJSON_Duplicate(src, 1));

  if (cJSON_IsString(src) ? src->valueint > 0 : has_nul_string(src->child)) {
    if (cJSON_IsString(src))
      dup_nul_strings(src, c); /* c has no siblings; src's are not visited */
    else
      dup_nul_strings(src->child, c->child);
  }
  return c;
}

struct mg_json *mg_json_dup(const struct mg_json *j)
{
  return MJ(dup(CCJ(j)));
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

/* Turns such strings into raw nodes holding their full quoted literal. */
static void raw_nul_strings(cJSON *c)
{
  for (; c; c = c->next) {
    if (cJSON_IsString(c) && c->valueint > 0) {
      struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
      char *lit;

      if (mg_json_quote(&b, c->valuestring, (size_t)c->valueint - 1, NULL) < 0)
        MG_BUG("cannot quote a string");
      lit = mg_xstrndup(b.data, b.len);
      mg_buf_release(&b);
      cJSON_free(c->valuestring);
      c->valuestring = lit;
      c->valueint = 0;
      c->type = cJSON_Raw | (c->type & ~0xff);
    } else if (c->child) {
      raw_nul_strings(c->child);
    }
  }
}

char *mg_json_print(const struct mg_json *j, unsigned flags)
{
  cJSON *tmp = NULL;
  const cJSON *src = CCJ(j);
  char *s;
  size_t n;

  if (src
      && (cJSON_IsString(src) ? src->valueint > 0
                              : has_nul_string(src->child))) {
    /* A duplicate has no siblings, so this converts only what is below j. */
    tmp = dup(src);
    raw_nul_strings(tmp);
    src = tmp;
  }
  s = (flags & MG_JSON_PRETTY) ? cJSON_Print(src) : cJSON_PrintUnformatted(src);
  cJSON_Delete(tmp);
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
