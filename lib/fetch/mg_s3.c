#include "fetch/mg_s3.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "mg_archive.h"
#include "mg_base64.h"
#include "mg_buf.h"
#include "mg_digest.h"
#include "mg_err.h"
#include "mg_http.h"
#include "mg_io.h"
#include "mg_mem.h"
#include "mg_utf8.h"

#define EMPTY_SHA256                                                           \
  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define INI_MAX ((size_t)1 << 20)
#define LIST_BODY_MAX ((size_t)32 << 20)
#define MAX_OBJECTS 1000000
#define MAX_PARTS 10000
#define MIN_PART ((uint64_t)5 << 20)
#define SINGLE_PUT_MAX ((uint64_t)5 << 30)

struct mg_s3 {
  struct mg_http_opts http;
  char *endpoint; /* scheme://host[:port] */
  char *scheme;   /* "https" or "http" */
  char *host;     /* host[:port] of the endpoint */
  char *region;
  char *sigv4;
  char *userpwd; /* secret */
  char *token;   /* secret */
  int path_style;
  int aws; /* the endpoint is AWS's own */
  uint64_t part_size;
  uint64_t multipart_from;
};

/* ---- references ---- */

static int bucket_ok(const char *b, size_t n)
{
  if (n < 3 || n > 63)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = b[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.'
          || c == '-'))
      return 0;
  }
  return b[0] != '.' && b[0] != '-' && b[n - 1] != '.' && b[n - 1] != '-';
}

int mg_s3_parse(const char *uri, struct mg_s3_ref *ref, struct mg_err *err)
{
  const char *s, *slash;
  size_t bn, pn;

  memset(ref, 0, sizeof(*ref));
  if (strncmp(uri, "s3://", 5) != 0)
    return mg_err_set(err, MG_ERR_USAGE,
                      "invalid S3 URI '%s': expected "
                      "s3://bucket[/prefix]",
                      uri);
  s = uri + 5;
  slash = strchr(s, '/');
  bn = slash ? (size_t)(slash - s) : strlen(s);
  if (!bucket_ok(s, bn))
    return mg_err_set(err, MG_ERR_USAGE,
                      "invalid S3 URI '%s': bad bucket "
                      "name",
                      uri);
  if (strpbrk(uri, "?#"))
    return mg_err_set(err, MG_ERR_USAGE,
                      "invalid S3 URI '%s': no query or "
                      "fragment allowed",
                      uri);
  ref->bucket = mg_xstrndup(s, bn);
  s = slash ? slash + 1 : "";
  while (*s == '/')
    s++;
  pn = strlen(s);
  while (pn > 0 && s[pn - 1] == '/')
    pn--;
  ref->prefix = mg_xstrndup(s, pn);
  for (size_t i = 0; i < pn; i++)
    if ((unsigned char)ref->prefix[i] < 0x20 || ref->prefix[i] == 0x7f) {
      mg_s3_ref_release(ref);
      return mg_err_set(err, MG_ERR_USAGE,
                        "invalid S3 URI '%s': control "
                        "character in the key",
                        uri);
    }
  return 0;
}

void mg_s3_ref_release(struct mg_s3_ref *ref)
{
  free(ref->bucket);
  free(ref->prefix);
  ref->bucket = ref->prefix = NULL;
}

/* ---- settings from the environment and ~/.aws ---- */

static const char *env(const char *name)
{
  const char *v = getenv(name);

  return v && *v ? v : NULL;
}

static char *home_file(const char *envname, const char *rel)
{
  const char *v = env(envname), *home;

  if (v)
    return mg_xstrdup(v);
  home = env("HOME");
  return home ? mg_xasprintf("%s/%s", home, rel) : NULL;
}

static char *trim(char *s, char *e)
{
  while (s < e && (*s == ' ' || *s == '\t'))
    s++;
  while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
    e--;
  *e = '\0';
  return s;
}

/*
 * Reads "key" from section "[section]" of an INI file (the AWS CLI's
 * credentials and config files). *out is NULL when the file, the
 * section or the key is missing. caller owns *out.
 */
static int ini_get(const char *path, const char *section, const char *key,
                   char **out, struct mg_err *err)
{
  struct mg_buf b = MG_BUF_INIT(INI_MAX);
  char *p, *cur = NULL;
  int rc = 0;

  *out = NULL;
  if (access(path, F_OK) != 0)
    return 0;
  if (mg_io_read_file(path, &b, err) < 0) {
    rc = -1;
    goto out;
  }
  if (mg_buf_addch(&b, '\0', err) < 0) {
    rc = -1;
    goto out;
  }
  for (p = b.data; p && *p;) {
    char *eol = strchr(p, '\n'), *line, *eq;
    char *end = eol ? eol : p + strlen(p);
    line = trim(p, end);
    p = eol ? eol + 1 : NULL;
    if (!*line || *line == '#' || *line == ';')
      continue;
    if (*line == '[') {
      char *close = strchr(line, ']');
      cur = close ? trim(line + 1, close) : NULL;
      continue;
    }
    if (!cur || strcmp(cur, section) != 0)
      continue;
    eq = strchr(line, '=');
    if (!eq)
      continue;
    *eq = '\0';
    if (strcmp(trim(line, eq), key) == 0) {
      free(*out);
      *out = mg_xstrdup(trim(eq + 1, eq + 1 + strlen(eq + 1)));
    }
  }
out:
  mg_wipe(b.data, b.cap);
  mg_buf_release(&b);
  return rc;
}

static int load_region(const struct mg_s3_settings *st, const char *profile,
                       char **out, struct mg_err *err)
{
  const char *v = st->region ? st->region : env("AWS_REGION");
  char *cfg, *section;
  int rc;

  if (!v)
    v = env("AWS_DEFAULT_REGION");
  if (v) {
    *out = mg_xstrdup(v);
    return 0;
  }
  cfg = home_file("AWS_CONFIG_FILE", ".aws/config");
  section = strcmp(profile, "default") == 0
                ? mg_xstrdup("default")
                : mg_xasprintf("profile %s", profile);
  rc = cfg ? ini_get(cfg, section, "region", out, err) : 0;
  free(cfg);
  free(section);
  if (rc == 0 && !*out)
    *out = mg_xstrdup("us-east-1");
  return rc;
}

static int load_credentials(struct mg_s3 *s, const char *profile,
                            struct mg_err *err)
{
  const char *id = env("AWS_ACCESS_KEY_ID");
  const char *key = env("AWS_SECRET_ACCESS_KEY");
  char *fid = NULL, *fkey = NULL, *ftok = NULL, *path;
  int rc = 0;

  if (id && key) {
    s->userpwd = mg_xasprintf("%s:%s", id, key);
    if (env("AWS_SESSION_TOKEN"))
      s->token = mg_xstrdup(env("AWS_SESSION_TOKEN"));
    return 0;
  }
  if (id || key)
    return mg_err_set(err, MG_ERR_USAGE,
                      "incomplete S3 credentials "
                      "'AWS_ACCESS_KEY_ID': set both it and "
                      "AWS_SECRET_ACCESS_KEY");
  path = home_file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
  if (!path)
    return 0;
  if (ini_get(path, profile, "aws_access_key_id", &fid, err) < 0
      || ini_get(path, profile, "aws_secret_access_key", &fkey, err) < 0
      || ini_get(path, profile, "aws_session_token", &ftok, err) < 0) {
    rc = -1;
  } else if (fid && fkey) {
    s->userpwd = mg_xasprintf("%s:%s", fid, fkey);
    if (ftok && *ftok) {
      s->token = ftok;
      ftok = NULL;
    }
  } else if (fid || fkey) {
    rc = mg_err_set(err, MG_ERR_DATA,
                    "incomplete S3 credentials in '%s' "
                    "(profile '%s')",
                    path, profile);
  }
  if (s->userpwd && strchr(s->userpwd, '\n'))
    rc = mg_err_set(err, MG_ERR_DATA, "unusable S3 credentials in '%s'", path);
  mg_http_secret_free(fid);
  mg_http_secret_free(fkey);
  mg_http_secret_free(ftok);
  free(path);
  return rc;
}

static int parse_endpoint(struct mg_s3 *s, const char *ep, struct mg_err *err)
{
  const char *p = strstr(ep, "://"), *h;
  size_t n;

  if (!p
      || !((p - ep == 4 && strncmp(ep, "http", 4) == 0)
           || (p - ep == 5 && strncmp(ep, "https", 5) == 0)))
    return mg_err_set(err, MG_ERR_USAGE,
                      "invalid S3 endpoint '%s': "
                      "expected http(s)://host[:port]",
                      ep);
  h = p + 3;
  n = strcspn(h, "/?#");
  if (n == 0 || memchr(h, '@', n) || h[n + strspn(h + n, "/")] != '\0')
    return mg_err_set(err, MG_ERR_USAGE,
                      "invalid S3 endpoint '%s': "
                      "expected http(s)://host[:port]",
                      ep);
  s->scheme = mg_xstrndup(ep, (size_t)(p - ep));
  s->host = mg_xstrndup(h, n);
  s->endpoint = mg_xasprintf("%s://%s", s->scheme, s->host);
  return 0;
}

int mg_s3_new(const struct mg_http_opts *http, const struct mg_s3_settings *st,
              struct mg_s3 **out, struct mg_err *err)
{
  struct mg_s3 *s = mg_xcalloc(1, sizeof(*s));
  const char *profile = st->profile ? st->profile : env("AWS_PROFILE");
  const char *ep = st->endpoint;
  int rc = -1;

  *out = NULL;
  if (!profile)
    profile = "default";
  s->http = *http;
  if (load_region(st, profile, &s->region, err) < 0)
    goto out;
  if (!*s->region || strpbrk(s->region, ":/ \t\n")) {
    mg_err_set(err, MG_ERR_USAGE, "invalid S3 region '%s'", s->region);
    goto out;
  }
  if (!ep)
    ep = env("AWS_ENDPOINT_URL_S3");
  if (!ep)
    ep = env("AWS_ENDPOINT_URL");
  if (ep) {
    if (parse_endpoint(s, ep, err) < 0)
      goto out;
    s->path_style = 1;
  } else {
    char *def = mg_xasprintf("https://s3.%s.amazonaws.com", s->region);
    rc = parse_endpoint(s, def, err);
    free(def);
    if (rc < 0)
      goto out;
    rc = -1;
    s->aws = 1;
    s->path_style = st->path_style;
  }
  if (load_credentials(s, profile, err) < 0)
    goto out;
  if (s->userpwd) {
    s->sigv4 = mg_xasprintf("aws:amz:%s:s3", s->region);
    s->http.aws_sigv4 = s->sigv4;
    s->http.userpwd = s->userpwd;
  }
  s->http.bearer = NULL;
  s->part_size = st->part_size ? st->part_size : (uint64_t)64 << 20;
  s->multipart_from =
      st->multipart_from ? st->multipart_from : (uint64_t)256 << 20;
  *out = s;
  s = NULL;
  rc = 0;
out:
  mg_s3_free(s);
  return rc;
}

void mg_s3_free(struct mg_s3 *s)
{
  if (!s)
    return;
  mg_http_secret_free(s->userpwd);
  mg_http_secret_free(s->token);
  free(s->endpoint);
  free(s->scheme);
  free(s->host);
  free(s->region);
  free(s->sigv4);
  free(s);
}

const struct mg_http_opts *mg_s3_http(const struct mg_s3 *s)
{
  return &s->http;
}

const char *mg_s3_region(const struct mg_s3 *s)
{
  return s->region;
}

const char *mg_s3_endpoint(const struct mg_s3 *s)
{
  return s->endpoint;
}

int mg_s3_signed(const struct mg_s3 *s)
{
  return s->userpwd != NULL;
}

/* ---- URLs and headers ---- */

void mg_s3_encode(struct mg_buf *out, const char *s, size_t n, int keep_slash)
{
  static const char hex[] = "0123456789ABCDEF";

  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
        || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'
        || c == '~' || (c == '/' && keep_slash)) {
      (void)mg_buf_addch(out, (char)c, NULL);
    } else {
      char e[3] = { '%', hex[c >> 4], hex[c & 15] };
      (void)mg_buf_add(out, e, 3, NULL);
    }
  }
}

char *mg_s3_url(const struct mg_s3 *s, const char *bucket, const char *key,
                const char *query)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

  if (s->path_style || strchr(bucket, '.'))
    (void)mg_buf_printf(&b, NULL, "%s/%s/", s->endpoint, bucket);
  else
    (void)mg_buf_printf(&b, NULL, "%s://%s.%s/", s->scheme, bucket, s->host);
  mg_s3_encode(&b, key, strlen(key), 1);
  if (query && *query)
    (void)mg_buf_printf(&b, NULL, "?%s", query);
  return mg_buf_detach(&b, NULL);
}

char **mg_s3_headers(const struct mg_s3 *s, const char *payload_sha256,
                     const char *const *extra)
{
  size_t n = 0, k = 0;
  char **h;

  while (extra && extra[n])
    n++;
  h = mg_xcalloc(n + 3, sizeof(*h));
  if (s->userpwd)
    h[k++] = mg_xasprintf("x-amz-content-sha256: %s",
                          payload_sha256 ? payload_sha256 : EMPTY_SHA256);
  if (s->token)
    h[k++] = mg_xasprintf("x-amz-security-token: %s", s->token);
  for (size_t i = 0; i < n; i++)
    h[k++] = mg_xstrdup(extra[i]);
  return h;
}

void mg_s3_headers_free(char **h)
{
  if (!h)
    return;
  for (size_t i = 0; h[i]; i++)
    mg_http_secret_free(h[i]);
  free(h);
}

/* ---- a little XML: S3's responses are flat and predictable ---- */

/* Decodes XML text (the five entities and character references). NULL when
 * a reference is malformed. caller owns the result. */
static char *xml_text(const char *p, const char *e)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  static const struct {
    const char *name;
    char c;
  } ents[] = { { "amp;", '&' },
               { "lt;", '<' },
               { "gt;", '>' },
               { "quot;", '"' },
               { "apos;", '\'' } };

  (void)mg_buf_addstr(&b, "", NULL);
  while (p < e) {
    if (*p != '&') {
      (void)mg_buf_addch(&b, *p++, NULL);
      continue;
    }
    p++;
    if (p < e && *p == '#') {
      unsigned long cp = 0;
      int hexa = p + 1 < e && (p[1] == 'x' || p[1] == 'X'), digits = 0;
      p += hexa ? 2 : 1;
      for (; p < e && *p != ';' && digits < 8; p++, digits++) {
        int d = mg_digest_hexval(*p);

        if (!hexa && d > 9)
          d = -1;
        if (d < 0)
          goto bad;
        cp = cp * (hexa ? 16 : 10) + (unsigned long)d;
      }
      if (p >= e || *p != ';' || !digits || cp == 0 || cp > 0x10FFFF)
        goto bad;
      p++;
      {
        char u[4];

        (void)mg_buf_add(&b, u, mg_utf8_put((uint32_t)cp, u), NULL);
      }
      continue;
    }
    for (size_t i = 0;; i++) {
      size_t k;
      if (i == sizeof(ents) / sizeof(ents[0]))
        goto bad;
      k = strlen(ents[i].name);
      if ((size_t)(e - p) >= k && memcmp(p, ents[i].name, k) == 0) {
        (void)mg_buf_addch(&b, ents[i].c, NULL);
        p += k;
        break;
      }
    }
  }
  return mg_buf_detach(&b, NULL);
bad:
  mg_buf_release(&b);
  return NULL;
}

/*
 * Finds the first <tag>...</tag> in [p, e). Returns 1 and the content's
 * bounds, 0 when absent.
 */
static int xml_find(const char *p, const char *e, const char *tag,
                    const char **vs, const char **ve)
{
  size_t n = strlen(tag);

  while (p < e) {
    const char *lt = memchr(p, '<', (size_t)(e - p));
    if (!lt)
      return 0;
    if ((size_t)(e - lt) > n + 1 && memcmp(lt + 1, tag, n) == 0
        && (lt[n + 1] == '>' || lt[n + 1] == ' ')) {
      const char *gt = memchr(lt, '>', (size_t)(e - lt)), *c;
      if (!gt)
        return 0;
      if (gt[-1] == '/') { /* <tag/> */
        *vs = *ve = gt;
        return 1;
      }
      for (c = gt + 1; c < e; c++) {
        c = memchr(c, '<', (size_t)(e - c));
        if (!c)
          return 0;
        if ((size_t)(e - c) >= n + 3 && c[1] == '/'
            && memcmp(c + 2, tag, n) == 0 && c[n + 2] == '>') {
          *vs = gt + 1;
          *ve = c;
          return 1;
        }
      }
      return 0;
    }
    p = lt + 1;
  }
  return 0;
}

/* The decoded text of <tag> in [p, e), or NULL. caller owns. */
static char *xml_get(const char *p, const char *e, const char *tag)
{
  const char *vs, *ve;

  return xml_find(p, e, tag, &vs, &ve) ? xml_text(vs, ve) : NULL;
}

/* ---- errors ---- */

int mg_s3_error(long status, const char *body, size_t len, const char *what,
                struct mg_err *err)
{
  char *code = NULL, *msg = NULL;
  const char *hint = "";
  int rc;

  if (body && len) {
    code = xml_get(body, body + len, "Code");
    msg = xml_get(body, body + len, "Message");
  }
  if (status == 403 || status == 401)
    hint = code
                   && (strcmp(code, "SignatureDoesNotMatch") == 0
                       || strcmp(code, "InvalidAccessKeyId") == 0
                       || strcmp(code, "InvalidToken") == 0)
               ? " (check the S3 credentials)"
               : " (access denied: check the credentials and the bucket "
                 "policy)";
  else if (status == 301
           || (code && strcmp(code, "AuthorizationHeaderMalformed") == 0))
    hint = " (wrong region or endpoint: set AWS_REGION or --s3-region)";
  else if (status == 404)
    hint = code && strcmp(code, "NoSuchBucket") == 0 ? " (no such bucket)"
                                                     : " (not found)";
  else if (status == 412)
    hint = " (the object changed after it was listed)";
  if (msg && (*hint || strlen(msg) > 100)) {
    /* The hint says more than S3's long sentences. */
    free(msg);
    msg = NULL;
  }
  rc = mg_err_set(err, MG_ERR_REMOTE,
                  "S3 request for '%s' failed: HTTP "
                  "%ld%s%s%s%s%s",
                  what, status, code ? " " : "", code ? code : "",
                  msg ? ": " : "", msg ? msg : "", hint);
  free(code);
  free(msg);
  return rc;
}

/* ---- listing ---- */

static int cmp_obj(const void *a, const void *b)
{
  return strcmp(((const struct mg_s3_object *)a)->rel,
                ((const struct mg_s3_object *)b)->rel);
}

static void listing_add(struct mg_s3_listing *l, size_t *cap, char *key,
                        char *rel, char *etag, uint64_t size)
{
  struct mg_s3_object *o;

  if (l->n == *cap) {
    *cap = *cap ? *cap * 2 : 64;
    l->v = mg_xreallocarray(l->v, *cap, sizeof(*l->v));
  }
  o = &l->v[l->n++];
  o->key = key;
  o->rel = rel;
  o->etag = etag;
  o->size = size;
}

/* One ListObjectsV2 call's objects; *next gets the continuation token or
 * NULL on the last page. */
static int list_page(struct mg_s3 *s, const struct mg_s3_ref *ref,
                     const char *prefix, const char *token,
                     struct mg_s3_listing *l, size_t *cap, int exact,
                     char **next, struct mg_err *err)
{
  struct mg_buf q = MG_BUF_INIT(MG_BUF_UNLIMITED);
  struct mg_http_request req;
  struct mg_http_response resp;
  char **hdrs = mg_s3_headers(s, NULL, NULL);
  char *url, *what = mg_xasprintf("s3://%s/%s", ref->bucket, prefix);
  const char *p, *e, *vs, *ve, *rs, *re;
  char *trunc = NULL;
  size_t plen = strlen(prefix);
  int rc = -1;

  *next = NULL;
  /* Sorted by name, as SigV4's canonical query string. */
  if (token) {
    (void)mg_buf_addstr(&q, "continuation-token=", NULL);
    mg_s3_encode(&q, token, strlen(token), 0);
    (void)mg_buf_addch(&q, '&', NULL);
  }
  (void)mg_buf_addstr(&q, "list-type=2&prefix=", NULL);
  mg_s3_encode(&q, prefix, plen, 0);
  url = mg_s3_url(s, ref->bucket, "", q.data);
  memset(&req, 0, sizeof(req));
  req.url = url;
  req.headers = (const char *const *)hdrs;
  mg_http_response_init(&resp, LIST_BODY_MAX);
  if (mg_http_do(&s->http, &req, &resp, err) < 0)
    goto out;
  if (resp.status != 200) {
    mg_s3_error(resp.status, resp.body.data, resp.body.len, what, err);
    goto out;
  }
  p = resp.body.data;
  e = p + resp.body.len;
  if (!p || !xml_find(p, e, "ListBucketResult", &vs, &ve)) {
    mg_err_set(err, MG_ERR_REMOTE,
               "S3 listing of '%s' is not a "
               "ListBucketResult",
               what);
    goto out;
  }
  p = rs = vs;
  e = re = ve;
  while (xml_find(p, e, "Contents", &vs, &ve)) {
    char *key = xml_get(vs, ve, "Key"), *size = xml_get(vs, ve, "Size");
    char *etag = xml_get(vs, ve, "ETag"), *end = NULL, *rel = NULL;
    unsigned long long sz = 0;
    p = ve + strlen("</Contents>");
    if (size) {
      errno = 0;
      sz = strtoull(size, &end, 10);
    }
    if (!key || !size || end == size || *end || errno || size[0] == '-') {
      mg_err_set(err, MG_ERR_REMOTE,
                 "S3 listing of '%s' has an entry "
                 "without a usable Key or Size",
                 what);
      free(key);
      free(size);
      free(etag);
      goto out;
    }
    free(size);
    if (exact
            ? strcmp(key, prefix) != 0
            : strncmp(key, prefix, plen) != 0 || key[strlen(key) - 1] == '/') {
      free(key);
      free(etag);
      continue;
    }
    if (exact) {
      const char *b = strrchr(key, '/');
      rel = mg_xstrdup(b ? b + 1 : key);
    } else if (mg_archive_clean_path(key + plen, 0, &rel, err) < 0) {
      mg_err_prefix(err, "S3 object '%s'", key);
      free(key);
      free(etag);
      goto out;
    }
    if (l->n >= MAX_OBJECTS) {
      mg_err_set(err, MG_ERR_DATA, "more than %d objects below '%s'",
                 MAX_OBJECTS, what);
      free(key);
      free(etag);
      free(rel);
      goto out;
    }
    listing_add(l, cap, key, rel, etag, sz);
  }
  /* Outside the Contents, in any order (keys cannot hide a tag: their
   * '<' is escaped). */
  trunc = xml_get(rs, re, "IsTruncated");
  if (trunc && strcmp(trunc, "true") == 0) {
    *next = xml_get(rs, re, "NextContinuationToken");
    if (!*next || !**next) {
      mg_err_set(err, MG_ERR_REMOTE,
                 "S3 listing of '%s' is truncated but "
                 "has no NextContinuationToken",
                 what);
      goto out;
    }
  }
  rc = 0;
out:
  if (rc < 0) {
    free(*next);
    *next = NULL;
  }
  free(trunc);
  mg_http_response_release(&resp);
  mg_s3_headers_free(hdrs);
  mg_buf_release(&q);
  free(url);
  free(what);
  return rc;
}

static int list_all(struct mg_s3 *s, const struct mg_s3_ref *ref,
                    const char *prefix, int exact, struct mg_s3_listing *l,
                    size_t *cap, struct mg_err *err)
{
  char *token = NULL;

  for (int page = 0;; page++) {
    char *next;
    int rc = list_page(s, ref, prefix, token, l, cap, exact, &next, err);
    free(token);
    if (rc < 0)
      return -1;
    if (!next)
      return 0;
    if (page > MAX_OBJECTS) {
      free(next);
      return mg_err_set(err, MG_ERR_REMOTE,
                        "S3 listing of 's3://%s/%s' "
                        "does not end",
                        ref->bucket, prefix);
    }
    token = next;
  }
}

int mg_s3_list(struct mg_s3 *s, const struct mg_s3_ref *ref,
               struct mg_s3_listing *out, struct mg_err *err)
{
  size_t cap = 0;
  char *folder =
      ref->prefix[0] ? mg_xasprintf("%s/", ref->prefix) : mg_xstrdup("");
  int rc;

  memset(out, 0, sizeof(*out));
  rc = list_all(s, ref, folder, 0, out, &cap, err);
  if (rc == 0 && out->n == 0 && ref->prefix[0]) {
    rc = list_all(s, ref, ref->prefix, 1, out, &cap, err);
    out->single = out->n == 1;
  }
  free(folder);
  if (rc < 0) {
    mg_s3_listing_release(out);
    return -1;
  }
  if (out->n > 1)
    qsort(out->v, out->n, sizeof(*out->v), cmp_obj);
  for (size_t i = 1; i < out->n; i++)
    if (strcmp(out->v[i].rel, out->v[i - 1].rel) == 0) {
      mg_err_set(err, MG_ERR_DATA,
                 "S3 listing of 's3://%s/%s' names '%s' "
                 "twice",
                 ref->bucket, ref->prefix, out->v[i].rel);
      mg_s3_listing_release(out);
      return -1;
    }
  return 0;
}

void mg_s3_listing_release(struct mg_s3_listing *l)
{
  for (size_t i = 0; i < l->n; i++) {
    free(l->v[i].key);
    free(l->v[i].rel);
    free(l->v[i].etag);
  }
  free(l->v);
  memset(l, 0, sizeof(*l));
}

/* ---- digests ---- */

static int all_hex(const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')
          || (s[i] >= 'A' && s[i] <= 'F')))
      return 0;
  return 1;
}

static void lower_copy(char *dst, const char *src, size_t n)
{
  for (size_t i = 0; i < n; i++)
    dst[i] =
        (char)(src[i] >= 'A' && src[i] <= 'F' ? src[i] - 'A' + 'a' : src[i]);
  dst[n] = '\0';
}

void mg_s3_digest_from(const char *checksum_b64, const char *meta_sha256,
                       const char *etag, struct mg_s3_digest *d)
{
  memset(d, 0, sizeof(*d));
  if (checksum_b64 && !strchr(checksum_b64, '-')) {
    unsigned char *raw = NULL;
    size_t n = 0;
    if (mg_base64_decode(checksum_b64, strlen(checksum_b64), &raw, &n, NULL)
            == 0
        && n == MG_DIGEST_SHA256_LEN) {
      mg_digest_hex(raw, n, d->sha256);
      d->sha256_from = "x-amz-checksum-sha256";
    }
    free(raw);
  }
  if (!d->sha256[0] && meta_sha256 && strlen(meta_sha256) == 64
      && all_hex(meta_sha256, 64)) {
    lower_copy(d->sha256, meta_sha256, 64);
    d->sha256_from = "x-amz-meta-sha256";
  }
  if (etag) {
    const char *e = etag + (strncmp(etag, "W/", 2) == 0 ? 2 : 0);
    size_t n;
    if (*e == '"')
      e++;
    n = strcspn(e, "\"");
    if (n == 32 && all_hex(e, 32) && strncmp(etag, "W/", 2) != 0)
      lower_copy(d->md5, e, 32);
  }
}

/* ---- uploads ---- */

static void xml_escape(struct mg_buf *b, const char *s)
{
  for (; *s; s++) {
    if (*s == '"')
      (void)mg_buf_addstr(b, "&quot;", NULL);
    else if (*s == '&')
      (void)mg_buf_addstr(b, "&amp;", NULL);
    else if (*s == '<')
      (void)mg_buf_addstr(b, "&lt;", NULL);
    else
      (void)mg_buf_addch(b, *s, NULL);
  }
}

/* One request with the S3 headers; a non-2xx answer is an error. POSTs
 * that create something are not retried (no_retry). */
static int put_request(struct mg_s3 *s, const char *method, const char *url,
                       const char *what, const char *payload_sha,
                       const char *const *extra, const void *body,
                       size_t body_len, const char *upload_path,
                       struct mg_http_response *resp, struct mg_err *err)
{
  char **hdrs = mg_s3_headers(s, payload_sha, extra);
  struct mg_http_request req;
  const char *vs, *ve;
  int rc;

  memset(&req, 0, sizeof(req));
  req.method = method;
  req.url = url;
  req.headers = (const char *const *)hdrs;
  req.body = body;
  req.body_len = body_len;
  req.upload_path = upload_path;
  req.no_retry = strcmp(method, "POST") == 0 && strstr(url, "?uploads=");
  rc = mg_http_do(&s->http, &req, resp, err);
  if (rc == 0 && (resp->status < 200 || resp->status > 299))
    rc = mg_s3_error(resp->status, resp->body.data, resp->body.len, what, err);
  /* CompleteMultipartUpload may answer 200 with an <Error> body. */
  if (rc == 0 && resp->body.len && resp->body.data
      && xml_find(resp->body.data, resp->body.data + resp->body.len, "Error",
                  &vs, &ve))
    rc = mg_s3_error(500, resp->body.data, resp->body.len, what, err);
  mg_s3_headers_free(hdrs);
  return rc;
}

static char *b64_of_hex(const char *hex)
{
  unsigned char raw[MG_DIGEST_SHA256_LEN];

  for (size_t i = 0; i < MG_DIGEST_SHA256_LEN; i++) {
    unsigned v = 0;
    for (int k = 0; k < 2; k++) {
      char c = hex[2 * i + (size_t)k];
      v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    raw[i] = (unsigned char)v;
  }
  return mg_base64_encode(raw, sizeof(raw));
}

static int put_single(struct mg_s3 *s, const char *url, const char *what,
                      const char *path, const char *sha256_hex,
                      struct mg_err *err)
{
  struct mg_http_response resp;
  char *b64 = b64_of_hex(sha256_hex);
  char *h1 = mg_xasprintf("x-amz-checksum-sha256: %s", b64);
  char *h2 = mg_xasprintf("x-amz-meta-sha256: %s", sha256_hex);
  const char *extra[] = { "Content-Type: application/octet-stream", h1, h2,
                          NULL };
  int rc;

  mg_http_response_init(&resp, 1 << 20);
  rc = put_request(s, "PUT", url, what, sha256_hex, extra, NULL, 0, path, &resp,
                   err);
  mg_http_response_release(&resp);
  free(b64);
  free(h1);
  free(h2);
  return rc;
}

static void abort_upload(struct mg_s3 *s, const char *bucket, const char *key,
                         const char *upload_id)
{
  struct mg_buf q = MG_BUF_INIT(MG_BUF_UNLIMITED);
  struct mg_http_response resp;
  struct mg_err ignored = MG_ERR_INIT;
  char *url;

  (void)mg_buf_addstr(&q, "uploadId=", NULL);
  mg_s3_encode(&q, upload_id, strlen(upload_id), 0);
  url = mg_s3_url(s, bucket, key, q.data);
  mg_http_response_init(&resp, 1 << 20);
  (void)put_request(s, "DELETE", url, key, NULL, NULL, NULL, 0, NULL, &resp,
                    &ignored);
  mg_http_response_release(&resp);
  mg_buf_release(&q);
  free(url);
}

static int read_part(int fd, const char *path, unsigned char *buf, size_t n,
                     struct mg_err *err)
{
  size_t got = 0;

  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return mg_err_errno(err, MG_ERR_IO, "cannot read '%s'", path);
    if (r == 0)
      return mg_err_set(err, MG_ERR_IO, "cannot read '%s': the file shrank",
                        path);
    got += (size_t)r;
  }
  return 0;
}

static int put_multipart(struct mg_s3 *s, const char *bucket, const char *key,
                         const char *what, const char *path, uint64_t size,
                         const char *sha256_hex, unsigned *parts,
                         struct mg_err *err)
{
  uint64_t psize = s->part_size;
  struct mg_buf q = MG_BUF_INIT(MG_BUF_UNLIMITED);
  struct mg_buf done = MG_BUF_INIT(MG_BUF_UNLIMITED);
  struct mg_http_response resp;
  struct mg_digest_sha256 *whole = mg_digest_sha256_new();
  unsigned char *buf = NULL;
  char *url = NULL, *upload_id = NULL, *h2 = NULL;
  char whole_hex[MG_DIGEST_SHA256_HEX_LEN + 1];
  unsigned n = 0;
  int fd = -1, rc = -1;

  if (psize < MIN_PART)
    psize = MIN_PART;
  while ((size + psize - 1) / psize > MAX_PARTS)
    psize *= 2;
  mg_http_response_init(&resp, 1 << 20);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    mg_err_errno(err, MG_ERR_IO, "cannot open '%s'", path);
    goto out;
  }
  /* CreateMultipartUpload: the whole file's sha256 as user metadata. */
  h2 = mg_xasprintf("x-amz-meta-sha256: %s", sha256_hex);
  url = mg_s3_url(s, bucket, key, "uploads=");
  if (put_request(s, "POST", url, what, NULL,
                  (const char *const[]){ "Content-Type: "
                                         "application/octet-stream",
                                         "x-amz-checksum-algorithm: SHA256", h2,
                                         NULL },
                  "", 0, NULL, &resp, err)
      < 0)
    goto out;
  upload_id =
      resp.body.data
          ? xml_get(resp.body.data, resp.body.data + resp.body.len, "UploadId")
          : NULL;
  if (!upload_id || !*upload_id) {
    mg_err_set(err, MG_ERR_REMOTE,
               "S3 did not start a multipart upload "
               "for '%s'",
               what);
    goto out;
  }
  buf = mg_xmalloc((size_t)psize);
  (void)mg_buf_addstr(&done, "<CompleteMultipartUpload>", NULL);
  for (uint64_t off = 0; off < size; off += psize) {
    size_t len = (size_t)(size - off < psize ? size - off : psize);
    char hex[MG_DIGEST_SHA256_HEX_LEN + 1], *b64, *h1, *etag;
    unsigned char raw[MG_DIGEST_SHA256_LEN];
    struct mg_digest_sha256 *ph = mg_digest_sha256_new();
    n++;
    if (read_part(fd, path, buf, len, err) < 0) {
      mg_digest_sha256_free(ph);
      goto abort;
    }
    mg_digest_sha256_update(ph, buf, len);
    mg_digest_sha256_update(whole, buf, len);
    mg_digest_sha256_final(ph, raw);
    mg_digest_sha256_free(ph);
    mg_digest_hex(raw, sizeof(raw), hex);
    b64 = mg_base64_encode(raw, sizeof(raw));
    h1 = mg_xasprintf("x-amz-checksum-sha256: %s", b64);
    mg_buf_reset(&q);
    (void)mg_buf_printf(&q, NULL, "partNumber=%u&uploadId=", n);
    mg_s3_encode(&q, upload_id, strlen(upload_id), 0);
    free(url);
    url = mg_s3_url(s, bucket, key, q.data);
    mg_http_response_release(&resp);
    mg_http_response_init(&resp, 1 << 20);
    if (put_request(s, "PUT", url, what, hex, (const char *const[]){ h1, NULL },
                    buf, len, NULL, &resp, err)
        < 0) {
      free(h1);
      free(b64);
      goto abort;
    }
    free(h1);
    etag = mg_http_response_header(&resp, "ETag");
    if (!etag) {
      mg_err_set(err, MG_ERR_REMOTE, "S3 gave no ETag for part %u of '%s'", n,
                 what);
      free(b64);
      goto abort;
    }
    (void)mg_buf_printf(&done, NULL,
                        "<Part><PartNumber>%u</PartNumber>"
                        "<ETag>",
                        n);
    xml_escape(&done, etag);
    (void)mg_buf_printf(&done, NULL,
                        "</ETag><ChecksumSHA256>%s"
                        "</ChecksumSHA256></Part>",
                        b64);
    free(etag);
    free(b64);
  }
  (void)mg_buf_addstr(&done, "</CompleteMultipartUpload>", NULL);
  mg_digest_sha256_final_hex(whole, whole_hex);
  if (strcmp(whole_hex, sha256_hex) != 0) {
    mg_err_set(err, MG_ERR_IO, "'%s' changed while it was uploaded", path);
    goto abort;
  }
  {
    char body_hex[MG_DIGEST_SHA256_HEX_LEN + 1];
    mg_digest_sha256_hex(done.data, done.len, body_hex);
    mg_buf_reset(&q);
    (void)mg_buf_addstr(&q, "uploadId=", NULL);
    mg_s3_encode(&q, upload_id, strlen(upload_id), 0);
    free(url);
    url = mg_s3_url(s, bucket, key, q.data);
    mg_http_response_release(&resp);
    mg_http_response_init(&resp, 1 << 20);
    if (put_request(
            s, "POST", url, what, body_hex,
            (const char *const[]){ "Content-Type: application/xml", NULL },
            done.data, done.len, NULL, &resp, err)
        < 0)
      goto abort;
  }
  *parts = n;
  rc = 0;
  goto out;
abort:
  abort_upload(s, bucket, key, upload_id);
out:
  if (fd >= 0)
    close(fd);
  mg_digest_sha256_free(whole);
  mg_http_response_release(&resp);
  mg_buf_release(&q);
  mg_buf_release(&done);
  free(buf);
  free(url);
  free(upload_id);
  free(h2);
  return rc;
}

int mg_s3_put_file(struct mg_s3 *s, const char *bucket, const char *key,
                   const char *path, uint64_t size, const char *sha256_hex,
                   unsigned *parts, struct mg_err *err)
{
  char *what = mg_xasprintf("s3://%s/%s", bucket, key);
  char *url;
  int rc;

  *parts = 0;
  if (!mg_digest_sha256_hex_valid(sha256_hex)) {
    rc = mg_err_set(err, MG_ERR_DATA, "no sha256 for '%s'", path);
  } else if (size > 0 && (size >= s->multipart_from || size > SINGLE_PUT_MAX)) {
    rc =
        put_multipart(s, bucket, key, what, path, size, sha256_hex, parts, err);
  } else {
    url = mg_s3_url(s, bucket, key, NULL);
    rc = put_single(s, url, what, path, sha256_hex, err);
    free(url);
  }
  free(what);
  return rc;
}
