#include "py/mg_yaml.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "mg_io.h"
#include "mg_mem.h"
#include "py/mg_pv.h"

#define YAML_MAX_FILE ((size_t)16 << 20)
#define YAML_MAX_DEPTH 100

struct anchor {
  char *name;
  struct mg_pv *v;
};

struct yctx {
  yaml_parser_t parser;
  const char *name;
  struct mg_err *err;
  struct anchor *anchors;
  size_t nanchors, capanchors;
  int depth;
};

static int yerr_mark(struct yctx *c, const yaml_mark_t *m, const char *problem)
{
  return mg_err_set(c->err, MG_ERR_DATA,
                    "malformed YAML in '%s' at line %zu column %zu: %s",
                    c->name, m->line + 1, m->column + 1, problem);
}

static int yerr_parser(struct yctx *c)
{
  const yaml_mark_t *m = &c->parser.problem_mark;

  return mg_err_set(c->err, MG_ERR_DATA,
                    "malformed YAML in '%s' at line %zu column %zu: %s%s%s",
                    c->name, m->line + 1, m->column + 1,
                    c->parser.problem ? c->parser.problem : "parse error",
                    c->parser.context ? " " : "",
                    c->parser.context ? c->parser.context : "");
}

static void add_anchor(struct yctx *c, const char *name, struct mg_pv *v)
{
  if (!name)
    return;
  for (size_t i = 0; i < c->nanchors; i++)
    if (strcmp(c->anchors[i].name, name) == 0) {
      mg_pv_unref(c->anchors[i].v);
      c->anchors[i].v = mg_pv_ref(v);
      return;
    }
  if (c->nanchors == c->capanchors) {
    c->capanchors = c->capanchors ? 2 * c->capanchors : 8;
    c->anchors =
        mg_xreallocarray(c->anchors, c->capanchors, sizeof(*c->anchors));
  }
  c->anchors[c->nanchors].name = mg_xstrdup(name);
  c->anchors[c->nanchors++].v = mg_pv_ref(v);
}

/* Pattern helpers for PyYAML's implicit resolvers. */
static int all_of(const char *s, size_t n, const char *set)
{
  if (n == 0)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!strchr(set, s[i]))
      return 0;
  return 1;
}

static int one_of(const char *s, const char *const *words)
{
  for (size_t i = 0; words[i]; i++)
    if (strcmp(s, words[i]) == 0)
      return 1;
  return 0;
}

static const char *const true_words[] = { "yes",  "Yes", "YES", "true", "True",
                                          "TRUE", "on",  "On",  "ON",   NULL };
static const char *const false_words[] = { "no",    "No",    "NO",  "false",
                                           "False", "FALSE", "off", "Off",
                                           "OFF",   NULL };
static const char *const null_words[] = {
  "~", "null", "Null", "NULL", "", NULL
};

/* Copies s without underscores. */
static char *strip_us(const char *s, size_t n)
{
  char *o = mg_xmalloc(n + 1);
  size_t k = 0;

  for (size_t i = 0; i < n; i++)
    if (s[i] != '_')
      o[k++] = s[i];
  o[k] = '\0';
  return o;
}

static struct mg_pv *resolve_int(const char *s, size_t n)
{
  const char *p = s;
  int neg = 0, base = 10;
  size_t m;
  char *digits, *end;
  long long v;

  if (n && (*p == '-' || *p == '+')) {
    neg = *p == '-';
    p++;
  }
  m = n - (size_t)(p - s);
  if (m == 0)
    return NULL;
  if (m > 2 && p[0] == '0' && p[1] == 'b' && all_of(p + 2, m - 2, "01_")) {
    base = 2;
    p += 2, m -= 2;
  } else if (m > 2 && p[0] == '0' && p[1] == 'x'
             && all_of(p + 2, m - 2, "0123456789abcdefABCDEF_")) {
    base = 16;
    p += 2, m -= 2;
  } else if (m > 1 && p[0] == '0' && all_of(p + 1, m - 1, "01234567_")) {
    base = 8;
    p += 1, m -= 1;
  } else if ((m == 1 && p[0] == '0')
             || (p[0] >= '1' && p[0] <= '9'
                 && (m == 1 || all_of(p + 1, m - 1, "0123456789_")))) {
    base = 10;
  } else {
    return NULL;
  }
  digits = strip_us(p, m);
  errno = 0;
  v = strtoll(digits, &end, base);
  if (*end || errno == ERANGE) {
    double d = strtod(digits, NULL);

    free(digits);
    return base == 10 ? mg_pv_float(neg ? -d : d) : NULL;
  }
  free(digits);
  return mg_pv_int(neg ? -v : v);
}

static struct mg_pv *resolve_float(const char *s, size_t n)
{
  const char *p = s;
  size_t i = 0, m;
  int neg = 0, saw_digit = 0;
  char *t;
  double d;

  if (n && (*p == '-' || *p == '+')) {
    neg = *p == '-';
    p++;
  }
  m = n - (size_t)(p - s);
  if (m == 4 && p[0] == '.'
      && (strncmp(p + 1, "inf", 3) == 0 || strncmp(p + 1, "Inf", 3) == 0
          || strncmp(p + 1, "INF", 3) == 0))
    return mg_pv_float(neg ? -INFINITY : INFINITY);
  if (n == 4
      && (strcmp(s, ".nan") == 0 || strcmp(s, ".NaN") == 0
          || strcmp(s, ".NAN") == 0))
    return mg_pv_float(NAN);
  /* [0-9][0-9_]*\.[0-9_]* or \.[0-9][0-9_]*, then ([eE][-+][0-9]+)? */
  if (i < m && p[i] >= '0' && p[i] <= '9') {
    while (i < m && ((p[i] >= '0' && p[i] <= '9') || p[i] == '_'))
      i++;
    saw_digit = 1;
    if (i >= m || p[i] != '.')
      return NULL;
    i++;
    while (i < m && ((p[i] >= '0' && p[i] <= '9') || p[i] == '_'))
      i++;
  } else if (i < m && p[i] == '.') {
    i++;
    if (i >= m || p[i] < '0' || p[i] > '9')
      return NULL;
    while (i < m && ((p[i] >= '0' && p[i] <= '9') || p[i] == '_'))
      i++;
    saw_digit = 1;
  }
  if (!saw_digit)
    return NULL;
  if (i < m && (p[i] == 'e' || p[i] == 'E')) {
    i++;
    if (i >= m || (p[i] != '-' && p[i] != '+'))
      return NULL;
    i++;
    if (i >= m)
      return NULL;
    while (i < m && p[i] >= '0' && p[i] <= '9')
      i++;
  }
  if (i != m)
    return NULL;
  t = strip_us(p, m);
  d = strtod(t, NULL);
  free(t);
  return mg_pv_float(neg ? -d : d);
}

static struct mg_pv *resolve_plain(const char *s, size_t n)
{
  struct mg_pv *v;

  if (one_of(s, null_words))
    return mg_pv_none();
  if (one_of(s, true_words))
    return mg_pv_bool(1);
  if (one_of(s, false_words))
    return mg_pv_bool(0);
  v = resolve_int(s, n);
  if (v)
    return v;
  v = resolve_float(s, n);
  if (v)
    return v;
  return mg_pv_strn(s, n);
}

static int make_scalar(struct yctx *c, const yaml_event_t *ev,
                       struct mg_pv **out)
{
  const char *s = (const char *)ev->data.scalar.value;
  size_t n = ev->data.scalar.length;
  const char *tag = (const char *)ev->data.scalar.tag;

  if (tag && strncmp(tag, "tag:yaml.org,2002:", 18) == 0) {
    const char *t = tag + 18;
    struct mg_pv *v = NULL;

    if (strcmp(t, "str") == 0)
      v = mg_pv_strn(s, n);
    else if (strcmp(t, "null") == 0)
      v = mg_pv_none();
    else if (strcmp(t, "bool") == 0)
      v = one_of(s, true_words)    ? mg_pv_bool(1)
          : one_of(s, false_words) ? mg_pv_bool(0)
                                   : NULL;
    else if (strcmp(t, "int") == 0)
      v = resolve_int(s, n);
    else if (strcmp(t, "float") == 0 && !(v = resolve_float(s, n)))
      v = resolve_int(s, n);
    if (!v) {
      char msg[160];

      (void)snprintf(msg, sizeof(msg), "cannot read '%.60s' as !!%s", s, t);
      return yerr_mark(c, &ev->start_mark, msg);
    }
    if (v->type == MG_PV_INT && strcmp(t, "float") == 0) {
      struct mg_pv *f = mg_pv_float((double)v->u.i);

      mg_pv_unref(v);
      v = f;
    }
    *out = v;
    return 0;
  }
  if (tag && tag[0] == '!' && strcmp(tag, "!") != 0) {
    *out = mg_pv_tagged(tag, s);
    return 0;
  }
  if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !tag)
    *out = resolve_plain(s, n);
  else
    *out = mg_pv_strn(s, n);
  return 0;
}

static int parse_node(struct yctx *c, yaml_event_t *ev, struct mg_pv **out);

static int next_event(struct yctx *c, yaml_event_t *ev)
{
  if (!yaml_parser_parse(&c->parser, ev))
    return yerr_parser(c);
  return 0;
}

static void merge_into(struct mg_pv *d, const struct mg_pv *src)
{
  if (!src || src->type != MG_PV_DICT)
    return;
  for (size_t i = 0; i < src->u.dict.n; i++)
    mg_pv_dict_set(d, mg_pv_ref(src->u.dict.k[i]), mg_pv_ref(src->u.dict.v[i]));
}

static int parse_mapping(struct yctx *c, struct mg_pv **out)
{
  struct mg_pv *d = mg_pv_dict(), *merges = mg_pv_list();

  for (;;) {
    yaml_event_t kev, vev;
    struct mg_pv *k = NULL, *v = NULL;
    int is_merge;

    if (next_event(c, &kev) < 0)
      goto fail;
    if (kev.type == YAML_MAPPING_END_EVENT) {
      yaml_event_delete(&kev);
      break;
    }
    is_merge = kev.type == YAML_SCALAR_EVENT
               && kev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE
               && strcmp((const char *)kev.data.scalar.value, "<<") == 0;
    if (parse_node(c, &kev, &k) < 0)
      goto fail;
    if (next_event(c, &vev) < 0) {
      mg_pv_unref(k);
      goto fail;
    }
    if (parse_node(c, &vev, &v) < 0) {
      mg_pv_unref(k);
      goto fail;
    }
    if (is_merge) {
      mg_pv_unref(k);
      mg_pv_list_append(merges, v);
      continue;
    }
    if (k->type == MG_PV_LIST || k->type == MG_PV_DICT) {
      mg_pv_unref(k);
      mg_pv_unref(v);
      mg_err_set(c->err, MG_ERR_DATA,
                 "malformed YAML in '%s': a mapping key must be a scalar",
                 c->name);
      goto fail;
    }
    mg_pv_dict_set(d, k, v);
  }
  if (merges->u.list.n) {
    /* PyYAML's flatten_mapping: the merged mappings (the first one
     * winning) come first, then the node's own keys override them */
    struct mg_pv *r = mg_pv_dict(), *flat = mg_pv_list();

    for (size_t i = 0; i < merges->u.list.n; i++) {
      struct mg_pv *m = merges->u.list.v[i];

      if (m->type == MG_PV_LIST)
        for (size_t j = 0; j < m->u.list.n; j++)
          mg_pv_list_append(flat, mg_pv_ref(m->u.list.v[j]));
      else
        mg_pv_list_append(flat, mg_pv_ref(m));
    }
    for (size_t i = flat->u.list.n; i-- > 0;)
      merge_into(r, flat->u.list.v[i]);
    for (size_t k = 0; k < d->u.dict.n; k++)
      mg_pv_dict_set(r, mg_pv_ref(d->u.dict.k[k]), mg_pv_ref(d->u.dict.v[k]));
    mg_pv_unref(flat);
    mg_pv_unref(d);
    d = r;
  }
  mg_pv_unref(merges);
  *out = d;
  return 0;
fail:
  mg_pv_unref(merges);
  mg_pv_unref(d);
  return -1;
}

static int parse_sequence(struct yctx *c, struct mg_pv **out)
{
  struct mg_pv *l = mg_pv_list();

  for (;;) {
    yaml_event_t ev;
    struct mg_pv *v;

    if (next_event(c, &ev) < 0)
      goto fail;
    if (ev.type == YAML_SEQUENCE_END_EVENT) {
      yaml_event_delete(&ev);
      break;
    }
    if (parse_node(c, &ev, &v) < 0)
      goto fail;
    mg_pv_list_append(l, v);
  }
  *out = l;
  return 0;
fail:
  mg_pv_unref(l);
  return -1;
}

/* Consumes ev (deleting it) and the events of its subtree. */
static int parse_node(struct yctx *c, yaml_event_t *ev, struct mg_pv **out)
{
  int rc = 0;
  const char *anchor = NULL;

  *out = NULL;
  if (++c->depth > YAML_MAX_DEPTH) {
    rc = yerr_mark(c, &ev->start_mark, "nesting too deep");
    goto out;
  }
  switch (ev->type) {
  case YAML_SCALAR_EVENT:
    anchor = (const char *)ev->data.scalar.anchor;
    rc = make_scalar(c, ev, out);
    break;
  case YAML_SEQUENCE_START_EVENT:
    anchor = (const char *)ev->data.sequence_start.anchor;
    rc = parse_sequence(c, out);
    break;
  case YAML_MAPPING_START_EVENT:
    anchor = (const char *)ev->data.mapping_start.anchor;
    rc = parse_mapping(c, out);
    break;
  case YAML_ALIAS_EVENT: {
    const char *a = (const char *)ev->data.alias.anchor;

    for (size_t i = 0; i < c->nanchors; i++)
      if (strcmp(c->anchors[i].name, a) == 0)
        *out = mg_pv_ref(c->anchors[i].v);
    if (!*out) {
      char msg[160];

      (void)snprintf(msg, sizeof(msg), "unknown alias '*%.80s'", a);
      rc = yerr_mark(c, &ev->start_mark, msg);
    }
    break;
  }
  default:
    rc = yerr_mark(c, &ev->start_mark, "unexpected event");
  }
  if (rc == 0)
    add_anchor(c, anchor, *out);
out:
  c->depth--;
  yaml_event_delete(ev);
  return rc;
}

int mg_yaml_parse(const char *text, size_t len, const char *name,
                  struct mg_pv **out, struct mg_err *err)
{
  struct yctx c;
  yaml_event_t ev;
  struct mg_pv *v = NULL;
  int rc = -1;

  memset(&c, 0, sizeof(c));
  c.name = name;
  c.err = err;
  *out = NULL;
  if (!yaml_parser_initialize(&c.parser))
    MG_BUG("yaml_parser_initialize failed");
  yaml_parser_set_input_string(&c.parser, (const unsigned char *)text, len);
  for (;;) {
    if (next_event(&c, &ev) < 0)
      goto out;
    if (ev.type == YAML_STREAM_START_EVENT
        || ev.type == YAML_DOCUMENT_START_EVENT) {
      yaml_event_delete(&ev);
      continue;
    }
    if (ev.type == YAML_STREAM_END_EVENT
        || ev.type == YAML_DOCUMENT_END_EVENT) {
      yaml_event_delete(&ev);
      v = mg_pv_none();
      break;
    }
    if (parse_node(&c, &ev, &v) < 0)
      goto out;
    break;
  }
  *out = v;
  rc = 0;
out:
  for (size_t i = 0; i < c.nanchors; i++) {
    free(c.anchors[i].name);
    mg_pv_unref(c.anchors[i].v);
  }
  free(c.anchors);
  yaml_parser_delete(&c.parser);
  return rc;
}

int mg_yaml_load(const char *path, struct mg_pv **out, struct mg_err *err)
{
  struct mg_buf b = MG_BUF_INIT(YAML_MAX_FILE);
  int rc;

  *out = NULL;
  if (mg_io_read_file(path, &b, err) < 0) {
    mg_buf_release(&b);
    return -1;
  }
  rc = mg_yaml_parse(b.data ? b.data : "", b.len, path, out, err);
  mg_buf_release(&b);
  return rc;
}
