#include "publish/mg_registry.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mg_buf.h"
#include "mg_digest.h"
#include "mg_err.h"
#include "mg_http.h"
#include "mg_io.h"
#include "mg_json.h"
#include "mg_mem.h"
#include "publish/mg_propkey.h"
#include "publish/mg_results.h"

/* ---- typed values ---------------------------------------------------- */

static struct mg_json *typed(const char *type)
{
  struct mg_json *o = mg_json_new_object();

  mg_json_set_string(o, "metadataType", type);
  return o;
}

struct mg_json *mg_registry_value_string(const char *s)
{
  struct mg_json *o = typed("MetadataStringValue");

  mg_json_set_string(o, "string_value", s);
  return o;
}

struct mg_json *mg_registry_value_double(double v)
{
  struct mg_json *o;

  if (!isfinite(v))
    MG_BUG("non-finite property value");
  o = typed("MetadataDoubleValue");
  mg_json_set_number(o, "double_value", v);
  return o;
}

struct mg_json *mg_registry_value_int(long long v)
{
  struct mg_json *o;
  char num[32];

  if (v > MG_REGISTRY_INT_MAX || v < -MG_REGISTRY_INT_MAX)
    return mg_registry_value_double((double)v);
  o = typed("MetadataIntValue");
  snprintf(num, sizeof(num), "%lld", v);
  mg_json_set_string(o, "int_value", num);
  return o;
}

struct mg_json *mg_registry_value_bool(int v)
{
  struct mg_json *o = typed("MetadataBoolValue");

  mg_json_set_bool(o, "bool_value", v);
  return o;
}

static int parse_int_string(const char *s, long long *out)
{
  char *end;
  long long v;

  if (!s || !*s)
    return -1;
  errno = 0;
  v = strtoll(s, &end, 10);
  if (errno || *end)
    return -1;
  *out = v;
  return 0;
}

int mg_registry_value_plain(const struct mg_json *v, const char *what,
                            struct mg_json **out, struct mg_err *err)
{
  const char *type;
  struct mg_json *x;
  long long iv;

  *out = NULL;
  if (!mg_json_is_object(v))
    return mg_err_set(err, MG_ERR_DATA,
                      "malformed property '%.100s': not a MetadataValue", what);
  if (mg_json_req_string(v, "metadataType", "property", &type, err) < 0)
    return mg_err_prefix(err, "malformed property '%.100s'", what);
  if (strcmp(type, "MetadataStringValue") == 0) {
    x = mg_json_get(v, "string_value");
    if (mg_json_is_string(x))
      *out = mg_json_new_string(mg_json_string(x));
  } else if (strcmp(type, "MetadataDoubleValue") == 0) {
    x = mg_json_get(v, "double_value");
    if (mg_json_is_number(x))
      *out = mg_json_new_number(mg_json_number(x));
  } else if (strcmp(type, "MetadataIntValue") == 0) {
    x = mg_json_get(v, "int_value");
    /* Older servers and other clients may send a number here. */
    if (mg_json_is_number(x))
      *out = mg_json_new_number(mg_json_number(x));
    else if (parse_int_string(mg_json_string(x), &iv) == 0)
      *out = mg_json_new_number((double)iv);
  } else if (strcmp(type, "MetadataBoolValue") == 0) {
    x = mg_json_get(v, "bool_value");
    if (mg_json_is_bool(x))
      *out = mg_json_new_bool(mg_json_bool(x));
  } else if (strcmp(type, "MetadataStructValue") == 0) {
    x = mg_json_get(v, "struct_value");
    if (mg_json_is_string(x))
      *out = mg_json_new_string(mg_json_string(x));
  } else if (strcmp(type, "MetadataProtoValue") == 0) {
    x = mg_json_get(v, "proto_value");
    if (mg_json_is_string(x))
      *out = mg_json_new_string(mg_json_string(x));
  } else {
    return mg_err_set(err, MG_ERR_DATA,
                      "malformed property '%.100s': unknown metadataType "
                      "'%.40s'",
                      what, type);
  }
  if (!*out)
    return mg_err_set(err, MG_ERR_DATA,
                      "malformed property '%.100s': missing or mistyped "
                      "value for %s",
                      what, type);
  return 0;
}

/* ---- property merging ---------------------------------------- */

int mg_registry_props_merge(const struct mg_json *theirs,
                            const struct mg_json *ours, struct mg_json **merged,
                            struct mg_json *added, struct mg_json *changed)
{
  struct mg_json *m;
  int n = 0;

  m = mg_json_is_object(theirs) ? mg_json_dup(theirs) : mg_json_new_object();
  for (struct mg_json *p = mg_json_first(ours); p; p = mg_json_next(p)) {
    const char *k = mg_json_key(p);
    struct mg_json *old = mg_json_get(m, k);

    if (old && mg_json_equal(old, p))
      continue;
    if (old && changed)
      mg_json_append(changed, mg_json_new_string(k));
    else if (!old && added)
      mg_json_append(added, mg_json_new_string(k));
    mg_json_set(m, k, mg_json_dup(p));
    n++;
  }
  *merged = m;
  return n;
}

/* ---- the connection ---------------------------------------------------- */

enum kind { K_RM, K_MV, K_MA, K_DOC };

static const char *const kind_name[] = {
  "registered model",
  "model version",
  "model artifact",
  "doc artifact",
};

/*
 * A backend: the entity operations registry-push needs, on the REST
 * service or on a directory, as git's ref_storage_be or curl's Curl_ssl.
 * Entities go in and out shaped as the REST API shapes them.
 */
struct registry_be {
  const char *kind; /* mg_registry_kind */
  /* where: the spec without "dir:" (directory) or the URL (REST) */
  int (*open)(struct mg_registry *r, const char *where,
              const struct mg_http_opts *http, int readonly, int create,
              struct mg_err *err);
  void (*close)(struct mg_registry *r);
  /* The entity of kind k named name under parent (a registered model's
   * id for versions, a version's id for artifacts); *out NULL if none. */
  int (*find)(struct mg_registry *r, enum kind k, const char *name,
              const char *parent, struct mg_json **out, struct mg_err *err);
  /* Creates it (artifacts under version mv_id); *found when it existed. */
  int (*create)(struct mg_registry *r, enum kind k, const char *mv_id,
                const struct mg_json *body, struct mg_json **out, int *found,
                struct mg_err *err);
  /* GET by id, or PATCH with body when body is not NULL. */
  int (*entity)(struct mg_registry *r, enum kind k, const char *id,
                const struct mg_json *body, struct mg_json **out,
                struct mg_err *err);
  /* Appends the registered models (parent NULL), a model's versions or a
   * version's artifacts to items. */
  int (*list)(struct mg_registry *r, enum kind k, const char *parent,
              struct mg_json *items, struct mg_err *err);
  /* Makes the changes so far durable (the REST service already has). */
  int (*save)(struct mg_registry *r, struct mg_err *err);
};

struct mg_registry {
  const struct registry_be *be;
  char *url; /* for display and the record */
  long writes;
  unsigned page_size;
  /* REST */
  char *base;
  struct mg_http_opts http;
  /* directory */
  char *dir;
  char *db_path;
  int lock_fd;
  struct mg_json *db;
  int dirty;
};

const char *mg_registry_kind(const struct mg_registry *r)
{
  return r->be->kind;
}

const char *mg_registry_url(const struct mg_registry *r)
{
  return r->url;
}

long mg_registry_writes(const struct mg_registry *r)
{
  return r->writes;
}

void mg_registry_free(struct mg_registry *r)
{
  if (!r)
    return;
  r->be->close(r);
  free(r->url);
  free(r);
}

static long long now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- REST backend ------------------------------------------------------- */

static void urlenc(struct mg_buf *b, const char *s)
{
  static const char hexd[] = "0123456789ABCDEF";

  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;

    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
        || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'
        || c == '~') {
      mg_buf_addch(b, (char)c, NULL);
    } else {
      mg_buf_addch(b, '%', NULL);
      mg_buf_addch(b, hexd[c >> 4], NULL);
      mg_buf_addch(b, hexd[c & 15], NULL);
    }
  }
}

/* The server's {"code","message"} message, cleaned for one line. */
static void server_message(const struct mg_buf *body, char *out, size_t n)
{
  struct mg_json *j = NULL;
  const char *m = NULL;
  size_t k = 0;

  out[0] = '\0';
  if (body->len && mg_json_parse(body->data, body->len, "", &j, NULL) == 0)
    m = mg_json_string(mg_json_get(j, "message"));
  if (!m)
    m = body->len ? body->data : "";
  for (; *m && k + 1 < n; m++)
    out[k++] = (*m >= 0x20 && *m < 0x7f) ? *m : ' ';
  out[k] = '\0';
  mg_json_free(j);
}

enum { ALLOW_404 = 1, ALLOW_409 = 2 };

static int rest_fail(const char *method, const char *path, long status,
                     int attempts, const struct mg_buf *body,
                     struct mg_err *err)
{
  char msg[120];
  char subj[120];

  server_message(body, msg, sizeof(msg));
  snprintf(subj, sizeof(subj), "%s %s", method, path);
  switch (status) {
  case 401:
    return mg_err_set(err, MG_ERR_REMOTE,
                      "registry refused '%s': 401 Unauthorized: give a "
                      "valid bearer token with --token-file or "
                      "$MG_REGISTRY_TOKEN",
                      subj);
  case 403:
    return mg_err_set(err, MG_ERR_REMOTE,
                      "registry refused '%s': 403 Forbidden: the token's "
                      "identity may not do this on this registry",
                      subj);
  case 404:
    return mg_err_set(err, MG_ERR_REMOTE, "not found in registry '%s': %s",
                      subj, msg);
  case 409:
    return mg_err_set(err, MG_ERR_REMOTE,
                      "registry conflict on '%s': 409 (name or externalId "
                      "already used): %s",
                      subj, msg);
  case 400:
  case 422:
    return mg_err_set(err, MG_ERR_REMOTE,
                      "registry rejected the request '%s': %ld (schema "
                      "validation): %s",
                      subj, status, msg);
  default:
    if (status >= 500)
      return mg_err_set(err, MG_ERR_REMOTE,
                        "registry failed on '%s': %ld after %d attempt%s: "
                        "%s",
                        subj, status, attempts, attempts == 1 ? "" : "s", msg);
    return mg_err_set(err, MG_ERR_REMOTE,
                      "unexpected HTTP status %ld from registry '%s': %s",
                      status, subj, msg);
  }
}

/*
 * One call. 2xx: *out gets the parsed body (NULL if empty). A status in
 * allow (404/409) returns 0 with *out NULL and *status set. Anything else
 * fails with a message naming the call.
 */
static int rest_do(struct mg_registry *r, const char *method, const char *path,
                   const struct mg_json *body, int allow, long *status,
                   struct mg_json **out, struct mg_err *err)
{
  struct mg_http_request req = { 0 };
  struct mg_http_response resp;
  const char *hdr_body[] = { "Accept: application/json",
                             "Content-Type: application/json", NULL };
  const char *hdr_get[] = { "Accept: application/json", NULL };
  char *url = mg_xasprintf("%s%s", r->base, path);
  char *text = body ? mg_json_print(body, 0) : NULL;
  int rc = -1;

  *out = NULL;
  *status = 0;
  mg_http_response_init(&resp, r->http.max_body);
  req.method = method;
  req.url = url;
  req.headers = body ? hdr_body : hdr_get;
  req.body = text;
  req.body_len = text ? strlen(text) : 0;
  if (strcmp(method, "GET") != 0)
    r->writes++;
  if (mg_http_do(&r->http, &req, &resp, err) < 0)
    goto out;
  *status = resp.status;
  if (resp.status >= 200 && resp.status < 300) {
    if (resp.body.len
        && mg_json_parse(resp.body.data, resp.body.len, path, out, err) < 0) {
      err->cat = MG_ERR_REMOTE;
      mg_err_prefix(err, "bad response from registry '%s %s'", method, path);
      goto out;
    }
    rc = 0;
  } else if ((resp.status == 404 && (allow & ALLOW_404))
             || (resp.status == 409 && (allow & ALLOW_409))) {
    rc = 0;
  } else {
    rest_fail(method, path, resp.status, resp.attempts, &resp.body, err);
  }
out:
  mg_http_response_release(&resp);
  free(text);
  free(url);
  return rc;
}

/* Requires an object response with a string "id". */
static int need_entity(const struct mg_json *e, const char *what,
                       struct mg_err *err)
{
  if (!mg_json_is_object(e) || !mg_json_is_string(mg_json_get(e, "id")))
    return mg_err_set(err, MG_ERR_REMOTE,
                      "bad response from registry: %s without an id", what);
  return 0;
}

static char *find_path(enum kind k, const char *name, const char *parent)
{
  static const char *const route[] = { "/registered_model", "/model_version",
                                       "/model_artifact", "/artifact" };
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

  mg_buf_printf(&b, NULL, "%s?name=", route[k]);
  urlenc(&b, name);
  if (parent) {
    mg_buf_addstr(&b, "&parentResourceId=", NULL);
    urlenc(&b, parent);
  }
  return mg_buf_detach(&b, NULL);
}

static char *entity_path(enum kind k, const char *id)
{
  static const char *const route[] = { "/registered_models", "/model_versions",
                                       "/model_artifacts", "/artifacts" };
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

  mg_buf_printf(&b, NULL, "%s/", route[k]);
  urlenc(&b, id);
  return mg_buf_detach(&b, NULL);
}

static int rest_find(struct mg_registry *r, enum kind k, const char *name,
                     const char *parent, struct mg_json **out,
                     struct mg_err *err)
{
  char *path = find_path(k, name, parent);
  long st;
  int rc = rest_do(r, "GET", path, NULL, ALLOW_404, &st, out, err);

  if (rc == 0 && *out) {
    rc = need_entity(*out, kind_name[k], err);
    if (rc == 0 && k == K_DOC
        && strcmp(mg_json_string(mg_json_get(*out, "artifactType"))
                      ? mg_json_string(mg_json_get(*out, "artifactType"))
                      : "",
                  "doc-artifact")
               != 0)
      rc = mg_err_set(err, MG_ERR_REMOTE,
                      "registry artifact '%.80s' exists but is not a "
                      "doc-artifact",
                      name);
    if (rc < 0) {
      mg_json_free(*out);
      *out = NULL;
    }
  }
  free(path);
  return rc;
}

/*
 * POST. On 409 the entity is found instead and *found is set: someone
 * else created it between our find and this create, or a retried POST
 * had in fact succeeded.
 */
static int rest_create(struct mg_registry *r, enum kind k, const char *mv_id,
                       const struct mg_json *body, struct mg_json **out,
                       int *found, struct mg_err *err)
{
  char *path;
  long st;
  int rc;

  *found = 0;
  if (k == K_RM)
    path = mg_xstrdup("/registered_models");
  else if (k == K_MV)
    path = mg_xstrdup("/model_versions");
  else
    path = mg_xasprintf("/model_versions/%s/artifacts", mv_id);
  rc = rest_do(r, "POST", path, body, ALLOW_409, &st, out, err);
  if (rc == 0 && st == 409) {
    const char *name = mg_json_string(mg_json_get(body, "name"));
    const char *parent =
        k == K_MV ? mg_json_string(mg_json_get(body, "registeredModelId"))
                  : (k == K_RM ? NULL : mv_id);

    rc = rest_find(r, k, name ? name : "", parent, out, err);
    if (rc == 0 && !*out)
      rc = mg_err_set(err, MG_ERR_REMOTE,
                      "registry conflict on 'POST %s': 409, and no %s "
                      "named '%.80s' can be found",
                      path, kind_name[k], name ? name : "");
    *found = rc == 0;
  } else if (rc == 0) {
    rc = need_entity(*out, kind_name[k], err);
  }
  if (rc < 0) {
    mg_json_free(*out);
    *out = NULL;
  }
  free(path);
  return rc;
}

static int rest_entity(struct mg_registry *r, enum kind k, const char *id,
                       const struct mg_json *body, struct mg_json **out,
                       struct mg_err *err)
{
  char *path = entity_path(k, id);
  long st;
  int rc = rest_do(r, body ? "PATCH" : "GET", path, body, 0, &st, out, err);

  if (rc == 0)
    rc = need_entity(*out, kind_name[k], err);
  if (rc < 0) {
    mg_json_free(*out);
    *out = NULL;
  }
  free(path);
  return rc;
}

/* Appends every item of every page of path to items. */
static int rest_pages(struct mg_registry *r, const char *path,
                      struct mg_json *items, struct mg_err *err)
{
  char *token = NULL;
  int rc = -1;
  long pages = 0;

  for (;;) {
    struct mg_buf q = MG_BUF_INIT(MG_BUF_UNLIMITED);
    struct mg_json *page = NULL, *arr;
    const char *next;
    long st;

    mg_buf_printf(&q, NULL, "%s?pageSize=%u", path, r->page_size);
    if (token) {
      mg_buf_addstr(&q, "&nextPageToken=", NULL);
      urlenc(&q, token);
    }
    if (rest_do(r, "GET", q.data, NULL, 0, &st, &page, err) < 0) {
      mg_buf_release(&q);
      goto out;
    }
    if (mg_json_req_array(page, "items", "list response", &arr, err) < 0
        || mg_json_opt_string(page, "nextPageToken", "list response", "", &next,
                              err)
               < 0) {
      err->cat = MG_ERR_REMOTE;
      mg_err_prefix(err, "bad response from registry 'GET %s'", q.data);
      mg_json_free(page);
      mg_buf_release(&q);
      goto out;
    }
    mg_buf_release(&q);
    for (struct mg_json *it = mg_json_first(arr); it; it = mg_json_next(it))
      mg_json_append(items, mg_json_dup(it));
    if (!*next || (token && strcmp(next, token) == 0) || ++pages > 100000) {
      int stuck = *next != '\0';

      mg_json_free(page);
      if (stuck) {
        mg_err_set(err, MG_ERR_REMOTE,
                   "registry pagination does not advance on 'GET %s'", path);
        goto out;
      }
      break;
    }
    free(token);
    token = mg_xstrdup(next);
    mg_json_free(page);
  }
  rc = 0;
out:
  free(token);
  return rc;
}

/* ---- directory backend ------------------------------------------------- */

static const char *id_of(const struct mg_json *e)
{
  const char *id = mg_json_string(mg_json_get(e, "id"));

  return id ? id : "";
}

static struct mg_json *dir_models(struct mg_registry *r)
{
  return mg_json_get(r->db, "registered_models");
}

static struct mg_json *dir_rm_by_id(struct mg_registry *r, const char *id)
{
  for (struct mg_json *e = mg_json_first(dir_models(r)); e; e = mg_json_next(e))
    if (strcmp(id_of(e), id) == 0)
      return e;
  return NULL;
}

static struct mg_json *dir_mv_by_id(struct mg_registry *r, const char *id)
{
  for (struct mg_json *m = mg_json_first(dir_models(r)); m; m = mg_json_next(m))
    for (struct mg_json *v = mg_json_first(mg_json_get(m, "versions")); v;
         v = mg_json_next(v))
      if (strcmp(id_of(v), id) == 0)
        return v;
  return NULL;
}

static struct mg_json *dir_art_by_id(struct mg_registry *r, const char *id)
{
  for (struct mg_json *m = mg_json_first(dir_models(r)); m; m = mg_json_next(m))
    for (struct mg_json *v = mg_json_first(mg_json_get(m, "versions")); v;
         v = mg_json_next(v))
      for (struct mg_json *a = mg_json_first(mg_json_get(v, "artifacts")); a;
           a = mg_json_next(a))
        if (strcmp(id_of(a), id) == 0)
          return a;
  return NULL;
}

static const char *art_type(enum kind k)
{
  return k == K_DOC ? "doc-artifact" : "model-artifact";
}

/* A copy without the nested children, as the REST API returns it. */
static struct mg_json *dir_public(const struct mg_json *e)
{
  struct mg_json *c = mg_json_dup(e);

  mg_json_remove(c, "versions");
  mg_json_remove(c, "artifacts");
  return c;
}

static struct mg_json *dir_lookup(struct mg_registry *r, enum kind k,
                                  const char *id)
{
  struct mg_json *e;

  if (k == K_RM)
    return dir_rm_by_id(r, id);
  if (k == K_MV)
    return dir_mv_by_id(r, id);
  e = dir_art_by_id(r, id);
  if (e
      && strcmp(mg_json_string(mg_json_get(e, "artifactType")), art_type(k))
             != 0)
    return NULL;
  return e;
}

static int dir_find(struct mg_registry *r, enum kind k, const char *name,
                    const char *parent, struct mg_json **out,
                    struct mg_err *err)
{
  struct mg_json *list;

  (void)err;
  *out = NULL;
  if (k == K_RM) {
    list = dir_models(r);
  } else if (k == K_MV) {
    struct mg_json *m = dir_rm_by_id(r, parent);

    list = m ? mg_json_get(m, "versions") : NULL;
  } else {
    struct mg_json *v = dir_mv_by_id(r, parent);

    list = v ? mg_json_get(v, "artifacts") : NULL;
  }
  for (struct mg_json *e = mg_json_first(list); e; e = mg_json_next(e)) {
    const char *n = mg_json_string(mg_json_get(e, "name"));

    if (!n || strcmp(n, name) != 0)
      continue;
    if (k >= K_MA
        && strcmp(mg_json_string(mg_json_get(e, "artifactType")), art_type(k))
               != 0)
      continue;
    *out = dir_public(e);
    break;
  }
  return 0;
}

static void set_times(struct mg_json *e, int create)
{
  char ms[32];

  snprintf(ms, sizeof(ms), "%lld", now_ms());
  if (create)
    mg_json_set_string(e, "createTimeSinceEpoch", ms);
  mg_json_set_string(e, "lastUpdateTimeSinceEpoch", ms);
}

static int dir_create(struct mg_registry *r, enum kind k, const char *mv_id,
                      const struct mg_json *body, struct mg_json **out,
                      int *found, struct mg_err *err)
{
  struct mg_json *e = mg_json_new_object();
  struct mg_json *list, *parent = NULL;
  const char *name = mg_json_string(mg_json_get(body, "name"));
  double next = mg_json_number(mg_json_get(r->db, "next_id"));
  char id[32];

  *out = NULL;
  /* Under the lock nobody can create it between find and create. */
  *found = 0;
  if (k == K_MV)
    parent =
        dir_rm_by_id(r, mg_json_string(mg_json_get(body, "registeredModelId")));
  else if (k != K_RM)
    parent = dir_mv_by_id(r, mv_id);
  if (k != K_RM && !parent) {
    mg_json_free(e);
    return mg_err_set(err, MG_ERR_REMOTE,
                      "not found in registry '%s': no parent for %s "
                      "'%.80s'",
                      r->url, kind_name[k], name ? name : "");
  }
  list = k == K_RM ? dir_models(r)
                   : mg_json_get(parent, k == K_MV ? "versions" : "artifacts");
  snprintf(id, sizeof(id), "%.0f", next < 1 ? 1 : next);
  mg_json_set_number(r->db, "next_id", (next < 1 ? 1 : next) + 1);
  mg_json_set_string(e, "id", id);
  for (struct mg_json *f = mg_json_first(body); f; f = mg_json_next(f))
    mg_json_set(e, mg_json_key(f), mg_json_dup(f));
  if (!mg_json_get(e, "customProperties"))
    mg_json_set(e, "customProperties", mg_json_new_object());
  if (!mg_json_get(e, "state"))
    mg_json_set_string(e, "state", k >= K_MA ? "UNKNOWN" : "LIVE");
  set_times(e, 1);
  if (k == K_RM)
    mg_json_set(e, "versions", mg_json_new_array());
  else if (k == K_MV)
    mg_json_set(e, "artifacts", mg_json_new_array());
  mg_json_append(list, e);
  r->dirty = 1;
  r->writes++;
  *out = dir_public(e);
  return 0;
}

static int dir_entity(struct mg_registry *r, enum kind k, const char *id,
                      const struct mg_json *body, struct mg_json **out,
                      struct mg_err *err)
{
  static const char *const fixed[] = { "id",
                                       "name",
                                       "createTimeSinceEpoch",
                                       "lastUpdateTimeSinceEpoch",
                                       "registeredModelId",
                                       "artifactType",
                                       "versions",
                                       "artifacts" };
  struct mg_json *e = dir_lookup(r, k, id);

  *out = NULL;
  if (!e)
    return mg_err_set(err, MG_ERR_REMOTE,
                      "not found in registry '%s': no %s with id '%s'", r->url,
                      kind_name[k], id);
  if (body) {
    /* As the server: fixed fields are ignored, customProperties replaced
     * as a whole. */
    for (struct mg_json *f = mg_json_first(body); f; f = mg_json_next(f)) {
      const char *key = mg_json_key(f);
      int skip = 0;

      for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        if (strcmp(key, fixed[i]) == 0)
          skip = 1;
      if (!skip)
        mg_json_set(e, key, mg_json_dup(f));
    }
    set_times(e, 0);
    r->dirty = 1;
    r->writes++;
  }
  *out = dir_public(e);
  return 0;
}

static int dir_lock(struct mg_registry *r, int readonly, struct mg_err *err)
{
  char *lp = mg_xasprintf("%s/.lock", r->dir);
  struct flock fl = { 0 };
  int rc = -1;

  r->lock_fd =
      open(lp, (readonly ? O_RDONLY : O_RDWR) | O_CREAT | O_CLOEXEC, 0644);
  if (r->lock_fd < 0 && readonly && errno == EACCES)
    r->lock_fd = open(lp, O_RDONLY | O_CLOEXEC);
  if (r->lock_fd < 0) {
    mg_err_errno(err, MG_ERR_IO, "cannot open lock file '%s'", lp);
    goto out;
  }
  fl.l_type = readonly ? F_RDLCK : F_WRLCK;
  fl.l_whence = SEEK_SET;
  while (fcntl(r->lock_fd, F_SETLKW, &fl) < 0) {
    if (errno != EINTR) {
      mg_err_errno(err, MG_ERR_IO, "cannot lock registry '%s'", r->dir);
      goto out;
    }
  }
  rc = 0;
out:
  free(lp);
  return rc;
}

static int dir_load(struct mg_registry *r, struct mg_err *err)
{
  struct mg_buf b = MG_BUF_INIT(MG_JSON_DEFAULT_MAX);
  struct mg_json *arr;
  const char *schema;
  int rc = -1;

  if (access(r->db_path, F_OK) < 0 && errno == ENOENT) {
    r->db = mg_json_new_object();
    mg_json_set_string(r->db, "schema", MG_REGISTRY_DIR_SCHEMA);
    mg_json_set_number(r->db, "next_id", 1);
    mg_json_set(r->db, "registered_models", mg_json_new_array());
    return 0;
  }
  if (mg_io_read_file(r->db_path, &b, err) < 0)
    goto out;
  if (mg_json_parse(b.data, b.len, r->db_path, &r->db, err) < 0)
    goto out;
  if (mg_json_req_string(r->db, "schema", "registry", &schema, err) < 0
      || mg_json_req_array(r->db, "registered_models", "registry", &arr, err)
             < 0) {
    mg_err_prefix(err, "not a registry directory '%s'", r->dir);
    goto out;
  }
  if (strcmp(schema, MG_REGISTRY_DIR_SCHEMA) != 0) {
    mg_err_set(err, MG_ERR_DATA,
               "unsupported registry directory '%s': schema '%.60s', "
               "expected '%s'",
               r->dir, schema, MG_REGISTRY_DIR_SCHEMA);
    goto out;
  }
  rc = 0;
out:
  mg_buf_release(&b);
  return rc;
}

static int dir_save(struct mg_registry *r, struct mg_err *err)
{
  char *text;
  int rc;

  if (!r->dirty)
    return 0;
  text = mg_json_print(r->db, MG_JSON_PRETTY | MG_JSON_NEWLINE);
  rc = mg_io_write_atomic(r->db_path, text, strlen(text), 0644, err);
  free(text);
  if (rc == 0)
    r->dirty = 0;
  return rc;
}

/* ---- opening ---------------------------------------------------------------
 */

static int rest_open(struct mg_registry *r, const char *url,
                     const struct mg_http_opts *http, int readonly, int create,
                     struct mg_err *err)
{
  size_t n = strlen(url), ap = strlen(MG_REGISTRY_API_PATH);
  struct mg_json *items = mg_json_new_array();
  struct mg_json *page = NULL;
  long st;
  int rc;

  (void)readonly;
  (void)create;
  if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
    mg_json_free(items);
    return mg_err_set(err, MG_ERR_USAGE,
                      "invalid registry '%.100s': expected http(s)://HOST "
                      "or dir:PATH",
                      url);
  }
  while (n > 0 && url[n - 1] == '/')
    n--;
  if (n >= ap && strncmp(url + n - ap, MG_REGISTRY_API_PATH, ap) == 0)
    r->base = mg_xstrndup(url, n);
  else
    r->base = mg_xasprintf("%.*s%s", (int)n, url, MG_REGISTRY_API_PATH);
  r->url = mg_http_redact_url(r->base);
  r->http = *http;
  /* The Python client's probe: reachability and the token, early. */
  rc = rest_do(r, "GET", "/registered_models?pageSize=1", NULL, 0, &st, &page,
               err);
  mg_json_free(page);
  mg_json_free(items);
  return rc;
}

static int dir_open(struct mg_registry *r, const char *path,
                    const struct mg_http_opts *http, int readonly, int create,
                    struct mg_err *err)
{
  struct stat sb;

  (void)http;
  if (!*path)
    return mg_err_set(err, MG_ERR_USAGE,
                      "invalid registry 'dir:': the path is empty");
  r->dir = mg_xstrdup(path);
  r->url = mg_xasprintf("dir:%s", path);
  r->db_path = mg_xasprintf("%s/registry.json", path);
  if (stat(path, &sb) < 0) {
    if (errno != ENOENT || !create)
      return mg_err_errno(err, MG_ERR_IO, "cannot open registry '%s'", path);
    if (mg_io_mkdirs(path, err) < 0)
      return -1;
  } else if (!S_ISDIR(sb.st_mode)) {
    return mg_err_set(err, MG_ERR_IO,
                      "cannot open registry '%s': not a directory", path);
  }
  if (dir_lock(r, readonly, err) < 0)
    return -1;
  return dir_load(r, err);
}

static void rest_close(struct mg_registry *r)
{
  free(r->base);
}

static int rest_list(struct mg_registry *r, enum kind k, const char *parent,
                     struct mg_json *items, struct mg_err *err)
{
  char *path;
  int rc;

  if (k == K_RM)
    path = mg_xstrdup("/registered_models");
  else if (k == K_MV)
    path = mg_xasprintf("/registered_models/%s/versions", parent);
  else
    path = mg_xasprintf("/model_versions/%s/artifacts", parent);
  rc = rest_pages(r, path, items, err);
  free(path);
  return rc;
}

static int rest_save(struct mg_registry *r, struct mg_err *err)
{
  (void)r;
  (void)err;
  return 0;
}

static void dir_close(struct mg_registry *r)
{
  if (r->lock_fd >= 0)
    close(r->lock_fd);
  mg_json_free(r->db);
  free(r->db_path);
  free(r->dir);
}

static int dir_list(struct mg_registry *r, enum kind k, const char *parent,
                    struct mg_json *items, struct mg_err *err)
{
  struct mg_json *list =
      k == K_RM   ? dir_models(r)
      : k == K_MV ? mg_json_get(dir_rm_by_id(r, parent), "versions")
                  : mg_json_get(dir_mv_by_id(r, parent), "artifacts");

  (void)err;
  for (struct mg_json *e = mg_json_first(list); e; e = mg_json_next(e))
    mg_json_append(items, dir_public(e));
  return 0;
}

static const struct registry_be rest_be = {
  .kind = "kubeflow",
  .open = rest_open,
  .close = rest_close,
  .find = rest_find,
  .create = rest_create,
  .entity = rest_entity,
  .list = rest_list,
  .save = rest_save,
};

static const struct registry_be dir_be = {
  .kind = "dir",
  .open = dir_open,
  .close = dir_close,
  .find = dir_find,
  .create = dir_create,
  .entity = dir_entity,
  .list = dir_list,
  .save = dir_save,
};

int mg_registry_open(const char *spec, const struct mg_http_opts *http,
                     int readonly, int create, unsigned page_size,
                     struct mg_registry **out, struct mg_err *err)
{
  struct mg_registry *r = mg_xcalloc(1, sizeof(*r));
  int rc;

  *out = NULL;
  r->lock_fd = -1;
  r->page_size = page_size ? page_size : 100;
  r->be = strncmp(spec, "dir:", 4) == 0 ? &dir_be : &rest_be;
  rc = r->be->open(r, r->be == &dir_be ? spec + 4 : spec, http, readonly,
                   create, err);
  if (rc < 0) {
    mg_registry_free(r);
    return -1;
  }
  r->writes = 0;
  *out = r;
  return 0;
}

/* ---- push ------------------------------------------------------------------
 */

static int printable_name(const char *s, const char *what, struct mg_err *err)
{
  if (!s || !*s)
    return mg_err_set(err, MG_ERR_DATA, "no %s to register: give one", what);
  for (const char *p = s; *p; p++)
    if (*p < 0x20 || *p > 0x7e)
      return mg_err_set(err, MG_ERR_DATA,
                        "invalid %s '%.80s': the registry accepts printable "
                        "ASCII only",
                        what, s);
  return 0;
}

static void opt_set(struct mg_json *o, const char *key, const char *v)
{
  if (v)
    mg_json_set_string(o, key, v);
}

/* Every key of ours is in theirs with the same value. */
static int props_contained(const struct mg_json *ours,
                           const struct mg_json *theirs)
{
  for (struct mg_json *p = mg_json_first(ours); p; p = mg_json_next(p)) {
    struct mg_json *t = mg_json_get(theirs, mg_json_key(p));

    if (!t || !mg_json_equal(t, p))
      return 0;
  }
  return 1;
}

static int push_version(struct mg_registry *r,
                        const struct mg_registry_target *t, const char *rm_id,
                        struct mg_json **mv_out, struct mg_json *created,
                        struct mg_json *updated, struct mg_json *added,
                        struct mg_json *changed, struct mg_err *err)
{
  struct mg_json *mv = NULL, *body;
  const struct mg_json *props = t->props;
  struct mg_json *empty = NULL;
  int rc = -1, made = 0, found = 0;

  if (!props)
    props = empty = mg_json_new_object();
  if (r->be->find(r, K_MV, t->version_name, rm_id, &mv, err) < 0)
    goto out;
  if (!mv) {
    body = mg_json_new_object();
    mg_json_set_string(body, "name", t->version_name);
    mg_json_set_string(body, "registeredModelId", rm_id);
    opt_set(body, "author", t->author);
    opt_set(body, "description", t->description);
    opt_set(body, "state", t->version_state);
    mg_json_set(body, "customProperties", mg_json_dup(props));
    rc = r->be->create(r, K_MV, NULL, body, &mv, &found, err);
    mg_json_free(body);
    if (rc < 0)
      goto out;
    rc = -1;
    /* After a 409 the version someone else created is merged below. */
    made = !found;
    if (made)
      mg_json_append(created, mg_json_new_string("model_version"));
  }
  /*
   * GET-merge-PATCH: the server replaces customProperties as a whole, so
   * send theirs + ours. Nothing changes, nothing is written. The API has
   * no conditional update; re-reading after the write and repairing
   * narrows (does not close) the window in which a concurrent writer's
   * keys or ours can be lost.
   */
  for (int attempt = 0; attempt < 4; attempt++) {
    struct mg_json *merged = NULL, *after = NULL;
    struct mg_json *a = mg_json_new_array(), *c = mg_json_new_array();
    int n = mg_registry_props_merge(mg_json_get(mv, "customProperties"), props,
                                    &merged, a, c);

    if (attempt == 0 && !made) {
      for (struct mg_json *x = mg_json_first(a); x; x = mg_json_next(x))
        mg_json_append(added, mg_json_dup(x));
      for (struct mg_json *x = mg_json_first(c); x; x = mg_json_next(x))
        mg_json_append(changed, mg_json_dup(x));
    } else if (attempt == 0) {
      for (struct mg_json *p = mg_json_first(props); p; p = mg_json_next(p))
        mg_json_append(added, mg_json_new_string(mg_json_key(p)));
    }
    mg_json_free(a);
    mg_json_free(c);
    if (n == 0) {
      mg_json_free(merged);
      rc = 0;
      break;
    }
    body = mg_json_new_object();
    mg_json_set(body, "customProperties", merged);
    rc = r->be->entity(r, K_MV, id_of(mv), body, &after, err);
    mg_json_free(body);
    mg_json_free(after);
    if (rc < 0)
      goto out;
    if (attempt == 0)
      mg_json_append(updated, mg_json_new_string("model_version"));
    rc = r->be->entity(r, K_MV, id_of(mv), NULL, &after, err);
    if (rc < 0)
      goto out;
    mg_json_free(mv);
    mv = after;
    rc = -1;
    if (props_contained(props, mg_json_get(mv, "customProperties"))) {
      rc = 0;
      break;
    }
  }
  if (rc < 0)
    mg_err_set(err, MG_ERR_REMOTE,
               "properties of model version '%.80s' keep being overwritten "
               "by a concurrent writer; push again",
               t->version_name);
  if (rc == 0 && t->version_state) {
    const char *st = mg_json_string(mg_json_get(mv, "state"));

    if (!st || strcmp(st, t->version_state) != 0) {
      struct mg_json *after = NULL;

      body = mg_json_new_object();
      mg_json_set_string(body, "state", t->version_state);
      rc = r->be->entity(r, K_MV, id_of(mv), body, &after, err);
      mg_json_free(body);
      if (rc == 0) {
        int listed = 0;

        mg_json_free(mv);
        mv = after;
        for (struct mg_json *u = mg_json_first(updated); u; u = mg_json_next(u))
          listed |= strcmp(mg_json_string(u), "model_version") == 0;
        if (!made && !listed)
          mg_json_append(updated, mg_json_new_string("model_version"));
      }
    }
  }
out:
  mg_json_free(empty);
  if (rc < 0) {
    mg_json_free(mv);
    mv = NULL;
  }
  *mv_out = mv;
  return rc;
}

/* Find-or-create an artifact; PATCH the fields of want that differ. */
static int push_artifact(struct mg_registry *r, enum kind k, const char *mv_id,
                         const char *name, const struct mg_json *want,
                         const char *what, struct mg_json **art_out,
                         struct mg_json *created, struct mg_json *updated,
                         struct mg_err *err)
{
  struct mg_json *art = NULL, *body, *out = NULL;
  int rc, found = 0;

  *art_out = NULL;
  if (r->be->find(r, k, name, mv_id, &art, err) < 0)
    return -1;
  if (!art) {
    body = mg_json_new_object();
    mg_json_set_string(body, "artifactType", art_type(k));
    mg_json_set_string(body, "name", name);
    for (struct mg_json *f = mg_json_first(want); f; f = mg_json_next(f))
      mg_json_set(body, mg_json_key(f), mg_json_dup(f));
    /* The model was fetched and verified before: it exists. */
    mg_json_set_string(body, "state", "LIVE");
    rc = r->be->create(r, k, mv_id, body, &art, &found, err);
    mg_json_free(body);
    if (rc < 0)
      return -1;
    if (!found) {
      mg_json_append(created, mg_json_new_string(what));
      *art_out = art;
      return 0;
    }
    /* 409: someone else's artifact of that name; bring it up to date. */
  }
  body = mg_json_new_object();
  mg_json_set_string(body, "artifactType", art_type(k));
  for (struct mg_json *f = mg_json_first(want); f; f = mg_json_next(f)) {
    struct mg_json *have = mg_json_get(art, mg_json_key(f));

    if (!have || !mg_json_equal(have, f))
      mg_json_set(body, mg_json_key(f), mg_json_dup(f));
  }
  rc = 0;
  if (mg_json_size(body) > 1) {
    rc = r->be->entity(r, k, id_of(art), body, &out, err);
    if (rc == 0) {
      mg_json_free(art);
      art = out;
      mg_json_append(updated, mg_json_new_string(what));
    }
  }
  mg_json_free(body);
  if (rc < 0) {
    mg_json_free(art);
    return -1;
  }
  *art_out = art;
  return 0;
}

int mg_registry_push(struct mg_registry *r, const struct mg_registry_target *t,
                     struct mg_json **section, struct mg_err *err)
{
  struct mg_json *rm = NULL, *mv = NULL, *ma = NULL, *body;
  struct mg_json *created = mg_json_new_array();
  struct mg_json *updated = mg_json_new_array();
  struct mg_json *added = mg_json_new_array();
  struct mg_json *changed = mg_json_new_array();
  struct mg_json *docs_out = mg_json_new_object();
  struct mg_json *keys = mg_json_new_array();
  struct mg_json *sec;
  long writes0 = r->writes;
  int rc = -1, found = 0;

  *section = NULL;
  if (printable_name(t->model_name, "model name", err) < 0
      || printable_name(t->version_name, "version name", err) < 0)
    goto out;
  if (r->be->find(r, K_RM, t->model_name, NULL, &rm, err) < 0)
    goto out;
  if (!rm) {
    body = mg_json_new_object();
    mg_json_set_string(body, "name", t->model_name);
    opt_set(body, "owner", t->owner);
    rc = r->be->create(r, K_RM, NULL, body, &rm, &found, err);
    mg_json_free(body);
    if (rc < 0)
      goto out;
    rc = -1;
    if (!found)
      mg_json_append(created, mg_json_new_string("registered_model"));
  }
  if (push_version(r, t, id_of(rm), &mv, created, updated, added, changed, err)
      < 0)
    goto out;
  if (t->uri) {
    struct mg_json *want = mg_json_new_object();
    int arc;

    opt_set(want, "uri", t->uri);
    opt_set(want, "modelFormatName", t->format_name);
    opt_set(want, "modelFormatVersion", t->format_version);
    opt_set(want, "storageKey", t->storage_key);
    opt_set(want, "storagePath", t->storage_path);
    opt_set(want, "serviceAccountName", t->service_account);
    opt_set(want, "modelSourceKind", t->source_kind);
    opt_set(want, "modelSourceId", t->source_id);
    opt_set(want, "modelSourceName", t->source_name);
    arc = push_artifact(r, K_MA, id_of(mv),
                        t->artifact_name ? t->artifact_name : t->model_name,
                        want, "model_artifact", &ma, created, updated, err);
    mg_json_free(want);
    if (arc < 0)
      goto out;
  }
  for (struct mg_json *d = mg_json_first(t->docs); d; d = mg_json_next(d)) {
    const char *name = mg_json_string(mg_json_get(d, "name"));
    const char *uri = mg_json_string(mg_json_get(d, "uri"));
    struct mg_json *want, *art = NULL;
    int arc;

    if (!name || !uri) {
      mg_err_set(err, MG_ERR_DATA, "malformed doc link: needs name and uri");
      goto out;
    }
    if (printable_name(name, "link name", err) < 0)
      goto out;
    want = mg_json_new_object();
    mg_json_set_string(want, "uri", uri);
    arc = push_artifact(r, K_DOC, id_of(mv), name, want, "doc_artifact", &art,
                        created, updated, err);
    mg_json_free(want);
    if (arc < 0)
      goto out;
    mg_json_set_string(docs_out, name, id_of(art));
    mg_json_free(art);
  }
  if (r->be->save(r, err) < 0)
    goto out;

  for (struct mg_json *p = mg_json_first(t->props); p; p = mg_json_next(p))
    mg_json_append(keys, mg_json_new_string(mg_json_key(p)));
  sec = mg_json_new_object();
  mg_json_set_string(sec, "kind", mg_registry_kind(r));
  mg_json_set_string(sec, "url", r->url);
  mg_json_set_string(sec, "registered_model_id", id_of(rm));
  mg_json_set_string(sec, "registered_model_name", t->model_name);
  mg_json_set_string(sec, "model_version_id", id_of(mv));
  mg_json_set_string(sec, "model_version_name", t->version_name);
  if (ma)
    mg_json_set_string(sec, "model_artifact_id", id_of(ma));
  if (mg_json_size(docs_out)) {
    mg_json_set(sec, "doc_artifact_ids", docs_out);
    docs_out = NULL;
  }
  mg_json_set(sec, "properties", keys);
  mg_json_set(sec, "added", added);
  mg_json_set(sec, "changed", changed);
  mg_json_set(sec, "created", created);
  mg_json_set(sec, "updated", updated);
  mg_json_set_number(sec, "writes", (double)(r->writes - writes0));
  keys = added = changed = created = updated = NULL;
  *section = sec;
  rc = 0;
out:
  mg_json_free(keys);
  mg_json_free(docs_out);
  mg_json_free(added);
  mg_json_free(changed);
  mg_json_free(created);
  mg_json_free(updated);
  mg_json_free(ma);
  mg_json_free(mv);
  mg_json_free(rm);
  return rc;
}

/* ---- discovery
 * --------------------------------------------------------------- */

static int plain_props(const struct mg_json *cp, struct mg_json **out,
                       struct mg_err *err)
{
  struct mg_json *o = mg_json_new_object();

  for (struct mg_json *p = mg_json_first(cp); p; p = mg_json_next(p)) {
    struct mg_json *v;

    if (mg_registry_value_plain(p, mg_json_key(p), &v, err) < 0) {
      mg_json_free(o);
      return -1;
    }
    mg_json_set(o, mg_json_key(p), v);
  }
  *out = o;
  return 0;
}

static int list_versions(struct mg_registry *r, struct mg_json *rm,
                         const char *version_name, struct mg_err *err)
{
  struct mg_json *versions = mg_json_new_array();
  struct mg_json *mv = NULL;

  if (version_name) {
    if (r->be->find(r, K_MV, version_name, id_of(rm), &mv, err) < 0)
      goto fail;
    if (!mv) {
      mg_err_set(err, MG_ERR_REMOTE,
                 "not found in registry '%s': no version '%.80s' of model "
                 "'%.80s'",
                 r->url, version_name, mg_json_string(mg_json_get(rm, "name")));
      goto fail;
    }
    mg_json_append(versions, mv);
  } else if (r->be->list(r, K_MV, id_of(rm), versions, err) < 0) {
    goto fail;
  }
  for (struct mg_json *v = mg_json_first(versions); v; v = mg_json_next(v)) {
    struct mg_json *arts = mg_json_new_array(), *plain;

    if (r->be->list(r, K_MA, id_of(v), arts, err) < 0
        || plain_props(mg_json_get(v, "customProperties"), &plain, err) < 0) {
      mg_json_free(arts);
      goto fail;
    }
    mg_json_set(v, "properties", plain);
    mg_json_set(v, "artifacts", arts);
  }
  mg_json_set(rm, "versions", versions);
  return 0;
fail:
  mg_json_free(versions);
  return -1;
}

int mg_registry_list(struct mg_registry *r, const char *model_name,
                     const char *version_name, struct mg_json **out,
                     struct mg_err *err)
{
  struct mg_json *models = mg_json_new_array();
  struct mg_json *o, *rm = NULL;

  *out = NULL;
  if (model_name) {
    if (r->be->find(r, K_RM, model_name, NULL, &rm, err) < 0)
      goto fail;
    if (!rm) {
      mg_err_set(err, MG_ERR_REMOTE,
                 "not found in registry '%s': no registered model '%.80s'",
                 r->url, model_name);
      goto fail;
    }
    mg_json_append(models, rm);
  } else if (r->be->list(r, K_RM, NULL, models, err) < 0) {
    goto fail;
  }
  for (struct mg_json *m = mg_json_first(models); m; m = mg_json_next(m))
    if (list_versions(r, m, version_name, err) < 0)
      goto fail;
  o = mg_json_new_object();
  mg_json_set_string(o, "kind", mg_registry_kind(r));
  mg_json_set_string(o, "url", r->url);
  mg_json_set(o, "models", models);
  *out = o;
  return 0;
fail:
  mg_json_free(models);
  return -1;
}

/* ---- a starting record (--get) ------------------------------------------ */

int mg_registry_key_is_ours(const char *key)
{
  static const char *const prefix[] = { "perf.",        "eval.",
                                        "verify.",      "source.",
                                        "destination.", "model.",
                                        "link.",        NULL };
  size_t n = strlen(key);

  if (strcmp(key, "modelgate") == 0)
    return 1;
  if (n > 8 && strcmp(key + n - 8, " results") == 0)
    return 1;
  for (const char *const *p = prefix; *p; p++)
    if (strncmp(key, *p, strlen(*p)) == 0)
      return 1;
  return 0;
}

/* Decimal-string ids and times compare as numbers. */
static double num_str(const struct mg_json *e, const char *key)
{
  const char *s = mg_json_string(mg_json_get(e, key));

  return s ? strtod(s, NULL) : 0;
}

/* The most recently created version that is not archived. */
static int latest_version(struct mg_registry *r, const struct mg_json *rm,
                          struct mg_json **out, struct mg_err *err)
{
  struct mg_json *versions = mg_json_new_array();
  struct mg_json *best = NULL;

  *out = NULL;
  if (r->be->list(r, K_MV, id_of(rm), versions, err) < 0) {
    mg_json_free(versions);
    return -1;
  }
  for (struct mg_json *v = mg_json_first(versions); v; v = mg_json_next(v)) {
    const char *st = mg_json_string(mg_json_get(v, "state"));
    double t = num_str(v, "createTimeSinceEpoch");

    if (st && strcmp(st, "ARCHIVED") == 0)
      continue;
    if (!best || t > num_str(best, "createTimeSinceEpoch")
        || (t == num_str(best, "createTimeSinceEpoch")
            && num_str(v, "id") > num_str(best, "id")))
      best = v;
  }
  if (best)
    *out = mg_json_dup(best);
  mg_json_free(versions);
  if (!*out)
    return mg_err_set(err, MG_ERR_REMOTE,
                      "not found in registry '%s': model '%.80s' has no "
                      "version that is not archived",
                      r->url, mg_json_string(mg_json_get(rm, "name")));
  return 0;
}

/* The version's model artifact: the one named like the registered model
 * (registry-push and the Python client name it so), else the first. */
static int version_artifact(struct mg_registry *r, const char *model_name,
                            const struct mg_json *mv, struct mg_json **out,
                            struct mg_err *err)
{
  struct mg_json *arts;

  if (r->be->find(r, K_MA, model_name, id_of(mv), out, err) < 0)
    return -1;
  if (*out)
    return 0;
  arts = mg_json_new_array();
  if (r->be->list(r, K_MA, id_of(mv), arts, err) < 0) {
    mg_json_free(arts);
    return -1;
  }
  for (struct mg_json *a = mg_json_first(arts); a && !*out; a = mg_json_next(a))
    if (strcmp(mg_json_string(mg_json_get(a, "artifactType"))
                   ? mg_json_string(mg_json_get(a, "artifactType"))
                   : "",
               "model-artifact")
        == 0)
      *out = mg_json_dup(a);
  mg_json_free(arts);
  return 0;
}

static void copy_str(struct mg_json *dst, const char *key, const char *v)
{
  if (v && *v)
    mg_json_set_string(dst, key, v);
}

static const char *uri_kind(const char *uri)
{
  static const char *const k[][2] = {
    { "oci://", "oci" },     { "s3://", "s3" },      { "file://", "dir" },
    { "https://", "https" }, { "http://", "https" }, { "hf://", "hf" },
  };

  for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++)
    if (strncmp(uri, k[i][0], strlen(k[i][0])) == 0)
      return k[i][1];
  return NULL;
}

/* The "model" section of a starting record, from what the registry holds
 * (the artifact first, then the provenance properties registry-push
 * wrote), so that pushing results later names the same entities. */
static struct mg_json *seed_model(const struct mg_json *rm,
                                  const struct mg_json *mv,
                                  const struct mg_json *ma,
                                  const struct mg_json *plain)
{
  struct mg_json *m = mg_json_new_object(), *src = mg_json_new_object();
  const char *uri = mg_json_string(mg_json_get(ma, "uri"));
  const char *fmt = mg_json_string(mg_json_get(ma, "modelFormatName"));
  const char *kind = mg_json_string(mg_json_get(plain, "source.kind"));
  const char *rev = mg_json_string(mg_json_get(plain, "source.revision"));

  mg_json_set_string(m, "name", mg_json_string(mg_json_get(rm, "name")));
  mg_json_set_string(m, "version", mg_json_string(mg_json_get(mv, "name")));
  copy_str(src, "uri", mg_json_string(mg_json_get(plain, "source.uri")));
  copy_str(src, "kind",
           kind ? kind : mg_json_string(mg_json_get(ma, "modelSourceKind")));
  copy_str(src, "revision",
           rev ? rev : mg_json_string(mg_json_get(ma, "modelSourceId")));
  if (mg_json_size(src))
    mg_json_set(m, "source", src);
  else
    mg_json_free(src);
  if (uri && *uri) {
    struct mg_json *d = mg_json_new_object();

    mg_json_set_string(d, "uri", uri);
    copy_str(d, "kind", uri_kind(uri));
    mg_json_set(m, "destination", d);
  }
  if (!fmt || !*fmt)
    fmt = mg_json_string(mg_json_get(plain, "model.format"));
  copy_str(m, "format", fmt);
  return m;
}

int mg_registry_get(struct mg_registry *r, const char *model_name,
                    const char *version_name, struct mg_json **model,
                    struct mg_json **section, struct mg_err *err)
{
  struct mg_json *rm = NULL, *mv = NULL, *ma = NULL, *all = NULL;
  struct mg_json *ours, *sec;
  int rc = -1;

  *model = *section = NULL;
  if (printable_name(model_name, "model name", err) < 0
      || (version_name
          && printable_name(version_name, "version name", err) < 0))
    return -1;
  if (r->be->find(r, K_RM, model_name, NULL, &rm, err) < 0)
    goto out;
  if (!rm) {
    mg_err_set(err, MG_ERR_REMOTE,
               "not found in registry '%s': no registered model '%.80s'",
               r->url, model_name);
    goto out;
  }
  if (version_name) {
    if (r->be->find(r, K_MV, version_name, id_of(rm), &mv, err) < 0)
      goto out;
    if (!mv) {
      mg_err_set(err, MG_ERR_REMOTE,
                 "not found in registry '%s': no version '%.80s' of model "
                 "'%.80s'",
                 r->url, version_name, model_name);
      goto out;
    }
  } else if (latest_version(r, rm, &mv, err) < 0) {
    goto out;
  }
  if (version_artifact(r, model_name, mv, &ma, err) < 0)
    goto out;
  if (plain_props(mg_json_get(mv, "customProperties"), &all, err) < 0) {
    mg_err_prefix(err, "in version '%.80s' of model '%.80s'",
                  mg_json_string(mg_json_get(mv, "name")), model_name);
    goto out;
  }
  ours = mg_json_new_object();
  for (struct mg_json *p = mg_json_first(all); p; p = mg_json_next(p))
    if (mg_registry_key_is_ours(mg_json_key(p)))
      mg_json_set(ours, mg_json_key(p), mg_json_dup(p));

  sec = mg_json_new_object();
  mg_json_set_string(sec, "kind", mg_registry_kind(r));
  mg_json_set_string(sec, "url", r->url);
  mg_json_set_string(sec, "registered_model_id", id_of(rm));
  mg_json_set_string(sec, "registered_model_name", model_name);
  mg_json_set_string(sec, "model_version_id", id_of(mv));
  mg_json_set_string(sec, "model_version_name",
                     mg_json_string(mg_json_get(mv, "name")));
  copy_str(sec, "model_version_state",
           mg_json_string(mg_json_get(mv, "state")));
  if (ma) {
    struct mg_json *a = mg_json_dup(ma);

    mg_json_set_string(sec, "model_artifact_id", id_of(ma));
    mg_json_remove(a, "customProperties");
    mg_json_set(sec, "model_artifact", a);
  }
  mg_json_set(sec, "version_properties", ours);
  *model = seed_model(rm, mv, ma, all);
  *section = sec;
  rc = 0;
out:
  mg_json_free(all);
  mg_json_free(ma);
  mg_json_free(mv);
  mg_json_free(rm);
  return rc;
}

/* ---- from a record
 * ------------------------------------------------------------ */

static const char *nonempty(const char *s)
{
  return s && *s ? s : NULL;
}

static const char *str_at(const struct mg_json *rec, const char *path)
{
  return nonempty(mg_json_string(mg_json_get_path(rec, path)));
}

/* sha256 of the model's file list in sha256sum format ("<hex>  <path>\n"
 * per file, sorted by path as the record keeps them). */
static void files_digest(const struct mg_json *files,
                         char hex[MG_DIGEST_SHA256_HEX_LEN + 1], double *bytes)
{
  struct mg_digest_sha256 *h = mg_digest_sha256_new();

  *bytes = 0;
  for (struct mg_json *f = mg_json_first(files); f; f = mg_json_next(f)) {
    const char *p = mg_json_string(mg_json_get(f, "path"));
    const char *d = mg_json_string(mg_json_get(f, "sha256"));

    /* model-fetch writes each file's size as "size" (record-model.md) */
    *bytes += mg_json_number(mg_json_get(f, "size"));
    if (!p || !d)
      continue;
    mg_digest_sha256_update(h, d, strlen(d));
    mg_digest_sha256_update(h, "  ", 2);
    mg_digest_sha256_update(h, p, strlen(p));
    mg_digest_sha256_update(h, "\n", 1);
  }
  mg_digest_sha256_final_hex(h, hex);
  mg_digest_sha256_free(h);
}

static void prop_plain(struct mg_json *props, const char *key,
                       const struct mg_json *v)
{
  if (mg_json_is_string(v)) {
    mg_json_set(props, key, mg_registry_value_string(mg_json_string(v)));
  } else if (mg_json_is_bool(v)) {
    mg_json_set(props, key, mg_registry_value_bool(mg_json_bool(v)));
  } else if (mg_json_is_number(v) && isfinite(mg_json_number(v))) {
    double d = mg_json_number(v);

    if (mg_results_key_is_count(key) && d == floor(d) && fabs(d) < 9e15)
      mg_json_set(props, key, mg_registry_value_int((long long)d));
    else
      mg_json_set(props, key, mg_registry_value_double(d));
  }
}

static void model_props(const struct mg_json *rec, struct mg_json *props)
{
  static const char *const strs[][2] = {
    { "model.source.uri", "source.uri" },
    { "model.source.kind", "source.kind" },
    { "model.source.revision", "source.revision" },
    { "model.destination.uri", "destination.uri" },
    { "model.format", "model.format" },
  };
  struct mg_json *files = mg_json_get_path(rec, "model.files");

  for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
    const char *v = str_at(rec, strs[i][0]);

    if (v)
      mg_json_set(props, strs[i][1], mg_registry_value_string(v));
  }
  if (mg_json_is_array(files) && mg_json_size(files)) {
    char hex[MG_DIGEST_SHA256_HEX_LEN + 1];
    double bytes;

    files_digest(files, hex, &bytes);
    mg_json_set(props, "model.files_sha256", mg_registry_value_string(hex));
    mg_json_set(props, "model.files",
                mg_registry_value_int((long long)mg_json_size(files)));
    mg_json_set(props, "model.bytes", mg_registry_value_double(bytes));
  }
}

int mg_registry_target_from_record(const struct mg_json *rec, const char *label,
                                   const struct mg_json *links, int per_rate,
                                   struct mg_registry_target *t,
                                   struct mg_json **props_out,
                                   struct mg_json **docs_out,
                                   struct mg_err *err)
{
  struct mg_json *sums = mg_json_new_array();
  struct mg_json *props = mg_json_new_object();
  struct mg_json *docs = mg_json_new_array();
  const char *lab = label;
  char *chip;

  *props_out = *docs_out = NULL;
  /* An empty value (a pipeline parameter left blank) means "not given". */
  t->model_name = nonempty(t->model_name);
  t->version_name = nonempty(t->version_name);
  t->uri = nonempty(t->uri);
  t->format_name = nonempty(t->format_name);
  t->format_version = nonempty(t->format_version);
  t->storage_key = nonempty(t->storage_key);
  t->storage_path = nonempty(t->storage_path);
  t->service_account = nonempty(t->service_account);
  if (label && !*label)
    label = NULL;
  lab = label;
  if (mg_results_summarize(rec, "record", label, sums, err) < 0)
    goto fail;
  if (!t->model_name)
    t->model_name = str_at(rec, "model.name");
  if (!t->version_name)
    t->version_name = str_at(rec, "model.version");
  if (!t->version_name)
    t->version_name = str_at(rec, "model.source.revision");
  if (!t->uri)
    t->uri = str_at(rec, "model.destination.uri");
  if (!t->uri)
    t->uri = str_at(rec, "model.source.uri");
  if (!t->format_name)
    t->format_name = str_at(rec, "model.format");
  if (!t->source_kind)
    t->source_kind = str_at(rec, "model.source.kind");
  if (!t->source_id)
    t->source_id = str_at(rec, "model.source.revision");
  if (!t->source_name)
    t->source_name = str_at(rec, "model.name");
  if (!t->model_name) {
    mg_err_set(err, MG_ERR_DATA,
               "no model name: give --model or a record with model.name");
    goto fail;
  }
  if (!t->version_name) {
    mg_err_set(err, MG_ERR_DATA,
               "no version name: give --model-version or a record with "
               "model.version or model.source.revision");
    goto fail;
  }

  mg_json_set(props, "modelgate", mg_registry_value_string(""));
  for (struct mg_json *s = mg_json_first(sums); s; s = mg_json_next(s)) {
    struct mg_json *flat = mg_results_flatten(s, per_rate);
    int has = mg_json_size(flat) > 0;

    lab = mg_json_string(mg_json_get(s, "label"));
    for (struct mg_json *p = mg_json_first(flat); p; p = mg_json_next(p))
      prop_plain(props, mg_json_key(p), p);
    mg_json_free(flat);
    if (has && (mg_json_get(s, "perf") || mg_json_get(s, "eval"))) {
      chip = mg_xasprintf("%.80s results", lab);
      mg_json_set(props, chip, mg_registry_value_string(""));
      free(chip);
    }
  }
  if (!lab)
    lab = MG_RESULTS_DEFAULT_LABEL;
  model_props(rec, props);
  for (struct mg_json *l = mg_json_first(links); l; l = mg_json_next(l)) {
    const char *n = mg_json_string(mg_json_get(l, "name"));
    const char *u = mg_json_string(mg_json_get(l, "uri"));
    const char *parts[3] = { "link", lab, n };
    struct mg_json *d;
    char *key;

    if (!n || !u)
      continue;
    key = mg_propkey_join(parts, 3);
    mg_json_set(props, key, mg_registry_value_string(u));
    d = mg_json_new_object();
    mg_json_set_string(d, "name", key + 5);
    mg_json_set_string(d, "uri", u);
    mg_json_append(docs, d);
    free(key);
  }
  mg_json_free(sums);
  t->props = props;
  t->docs = docs;
  *props_out = props;
  *docs_out = docs;
  return 0;
fail:
  mg_json_free(sums);
  mg_json_free(props);
  mg_json_free(docs);
  return -1;
}
