#include "fetch/mg_oci.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mg_archive.h"
#include "mg_base64.h"
#include "mg_buf.h"
#include "mg_digest.h"
#include "mg_err.h"
#include "mg_http.h"
#include "mg_io.h"
#include "mg_json.h"
#include "mg_mem.h"
#include "mg_note.h"
#include "mg_tree.h"

#define MANIFEST_MAX ((size_t)4 << 20)
#define ACCEPT_ALL                                                             \
  "Accept: " MG_OCI_MANIFEST ", " MG_OCI_INDEX ", " MG_DOCKER_MANIFEST         \
  ", " MG_DOCKER_LIST

#define CHUNK_DEFAULT ((uint64_t)64 << 20)
#define CHUNK_RESYNCS 5

struct mg_oci_client {
  struct mg_http_opts http;
  char *basic; /* "Authorization: Basic ..." or NULL */
  char *auth;  /* the header in use: Basic or Bearer */
  int plain;
  uint64_t chunk; /* blobs larger than this go up in PATCH chunks */
  struct mg_note note;
};

/* ---- references ---- */

static int repo_ok(const char *s)
{
  /* [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)* */
  int need_alnum = 1;

  if (!*s)
    return 0;
  for (; *s; s++) {
    int alnum = (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9');
    if (alnum) {
      need_alnum = 0;
      continue;
    }
    if (need_alnum)
      return 0;
    if (*s == '/') {
      need_alnum = 1;
    } else if (*s == '.') {
      need_alnum = 1;
    } else if (*s == '_') {
      if (s[1] == '_')
        s++;
      need_alnum = 1;
    } else if (*s == '-') {
      while (s[1] == '-')
        s++;
      need_alnum = 1;
    } else {
      return 0;
    }
  }
  return !need_alnum;
}

static int tag_ok(const char *s)
{
  size_t n = strlen(s);

  if (n == 0 || n > 128)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
             || (c >= '0' && c <= '9') || c == '_'
             || (i > 0 && (c == '.' || c == '-'));
    if (!ok)
      return 0;
  }
  return 1;
}

static int digest_ok(const char *d)
{
  return strncmp(d, "sha256:", 7) == 0 && mg_digest_sha256_hex_valid(d + 7);
}

int mg_oci_parse(const char *uri, struct mg_oci_ref *ref, struct mg_err *err)
{
  const char *s = uri, *slash, *at;
  char *rest = NULL, *colon;

  memset(ref, 0, sizeof(*ref));
  if (strncmp(s, "oci://", 6) == 0)
    s += 6;
  slash = strchr(s, '/');
  if (!slash || slash == s)
    goto bad;
  ref->registry = mg_xstrndup(s, (size_t)(slash - s));
  at = strchr(slash + 1, '@');
  rest =
      mg_xstrndup(slash + 1, at ? (size_t)(at - slash - 1) : strlen(slash + 1));
  colon = strrchr(rest, ':');
  if (colon) {
    *colon = '\0';
    ref->tag = mg_xstrdup(colon + 1);
    if (!tag_ok(ref->tag))
      goto bad;
  }
  if (at) {
    ref->digest = mg_xstrdup(at + 1);
    if (!digest_ok(ref->digest))
      goto bad;
  }
  if (!repo_ok(rest))
    goto bad;
  ref->repo = rest;
  if (!ref->tag && !ref->digest)
    ref->tag = mg_xstrdup("latest");
  return 0;
bad:
  free(rest);
  mg_oci_ref_release(ref);
  return mg_err_set(err, MG_ERR_USAGE,
                    "invalid image reference '%s': expected "
                    "oci://host[:port]/repo[:tag][@sha256:...]",
                    uri);
}

void mg_oci_ref_release(struct mg_oci_ref *ref)
{
  free(ref->registry);
  free(ref->repo);
  free(ref->tag);
  free(ref->digest);
  memset(ref, 0, sizeof(*ref));
}

char *mg_oci_ref_string(const struct mg_oci_ref *ref, int by_digest)
{
  if (by_digest && ref->digest)
    return mg_xasprintf("%s/%s@%s", ref->registry, ref->repo, ref->digest);
  return mg_xasprintf("%s/%s:%s", ref->registry, ref->repo,
                      ref->tag ? ref->tag : "latest");
}

/* ---- client and auth ---- */

struct mg_oci_client *mg_oci_client_new(const struct mg_http_opts *http,
                                        const char *auth, int plain_http)
{
  struct mg_oci_client *c = mg_xcalloc(1, sizeof(*c));

  c->http = *http;
  c->http.bearer = NULL;
  c->plain = plain_http;
  c->chunk = CHUNK_DEFAULT;
  if (auth && *auth) {
    char *b = mg_base64_encode(auth, strlen(auth));
    c->basic = mg_xasprintf("Authorization: Basic %s", b);
    mg_wipe(b, strlen(b));
    free(b);
  }
  return c;
}

void mg_oci_client_set_note(struct mg_oci_client *c, const struct mg_note *note)
{
  c->note = note ? *note : (struct mg_note)MG_NOTE_NONE;
}

void mg_oci_client_set_chunk_size(struct mg_oci_client *c, uint64_t bytes)
{
  c->chunk = bytes ? bytes : CHUNK_DEFAULT;
}

static void wipe_free(char *s)
{
  if (s) {
    mg_wipe(s, strlen(s));
    free(s);
  }
}

void mg_oci_client_free(struct mg_oci_client *c)
{
  if (!c)
    return;
  wipe_free(c->basic);
  wipe_free(c->auth);
  free(c);
}

static char *param(const char *h, const char *name)
{
  size_t n = strlen(name);
  const char *p = h;

  while ((p = strstr(p, name))) {
    if ((p == h || p[-1] == ' ' || p[-1] == ',') && p[n] == '=') {
      const char *v = p + n + 1, *e;
      if (*v == '"') {
        v++;
        e = strchr(v, '"');
      } else {
        e = v + strcspn(v, ", ");
      }
      if (!e)
        return NULL;
      return mg_xstrndup(v, (size_t)(e - v));
    }
    p += n;
  }
  return NULL;
}

int mg_oci_parse_challenge(const char *h, char **scheme, char **realm,
                           char **service, char **scope)
{
  size_t n;

  *scheme = *realm = *service = *scope = NULL;
  if (!h)
    return -1;
  while (*h == ' ')
    h++;
  n = strcspn(h, " ");
  if (!n)
    return -1;
  *scheme = mg_xstrndup(h, n);
  *realm = param(h + n, "realm");
  *service = param(h + n, "service");
  *scope = param(h + n, "scope");
  return 0;
}

static char *base_url(const struct mg_oci_client *c, const char *registry)
{
  int plain = c->plain || strncmp(registry, "localhost", 9) == 0
              || strncmp(registry, "127.", 4) == 0
              || strncmp(registry, "[::1]", 5) == 0;

  return mg_xasprintf("%s://%s", plain ? "http" : "https", registry);
}

static void url_escape(struct mg_buf *b, const char *s)
{
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
        || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'
        || c == '~')
      mg_buf_addch(b, (char)c, NULL);
    else
      mg_buf_printf(b, NULL, "%%%02X", c);
  }
}

/* Answers a 401 challenge: Basic credentials, or a Bearer token from the
 * realm for the challenge's scope (or ours). */
static int authenticate(struct mg_oci_client *c, const char *challenge,
                        const char *want_scope, struct mg_err *err)
{
  char *scheme, *realm, *service, *scope;
  struct mg_http_response resp;
  struct mg_http_request req;
  struct mg_buf url = MG_BUF_INIT(MG_BUF_UNLIMITED);
  struct mg_json *j = NULL;
  const char *hdrs[2] = { c->basic, NULL };
  const char *tok;
  int rc = -1;

  if (mg_oci_parse_challenge(challenge, &scheme, &realm, &service, &scope) < 0)
    return mg_err_set(err, MG_ERR_REMOTE,
                      "registry asks for authentication without a "
                      "challenge");
  mg_http_response_init(&resp, 1 << 20);
  if (strcasecmp(scheme, "Basic") == 0) {
    if (!c->basic) {
      mg_err_set(err, MG_ERR_REMOTE,
                 "registry needs credentials (give --oci-auth-file)");
      goto out;
    }
    wipe_free(c->auth);
    c->auth = mg_xstrdup(c->basic);
    rc = 0;
    goto out;
  }
  if (strcasecmp(scheme, "Bearer") != 0 || !realm) {
    mg_err_set(err, MG_ERR_REMOTE, "unsupported registry auth scheme '%s'",
               scheme);
    goto out;
  }
  mg_buf_addstr(&url, realm, NULL);
  mg_buf_addch(&url, strchr(realm, '?') ? '&' : '?', NULL);
  if (service) {
    mg_buf_addstr(&url, "service=", NULL);
    url_escape(&url, service);
    mg_buf_addch(&url, '&', NULL);
  }
  {
    /* One scope= parameter per space-separated scope. */
    const char *sc = want_scope ? want_scope : scope ? scope : "";
    while (*sc) {
      size_t k = strcspn(sc, " ");
      char *one = mg_xstrndup(sc, k);
      mg_buf_addstr(&url,
                    url.data[url.len - 1] == '&' || url.data[url.len - 1] == '?'
                        ? "scope="
                        : "&scope=",
                    NULL);
      url_escape(&url, one);
      free(one);
      sc += k;
      while (*sc == ' ')
        sc++;
    }
  }
  memset(&req, 0, sizeof(req));
  req.url = url.data;
  req.headers = hdrs;
  if (mg_http_do(&c->http, &req, &resp, err) < 0)
    goto out;
  if (resp.status != 200) {
    mg_err_set(err, MG_ERR_REMOTE, "token request to '%s' failed: HTTP %ld",
               realm, resp.status);
    goto out;
  }
  if (mg_json_parse(resp.body.data, resp.body.len, "token response", &j, err)
      < 0)
    goto out;
  tok = mg_json_string(mg_json_get(j, "token"));
  if (!tok)
    tok = mg_json_string(mg_json_get(j, "access_token"));
  if (!tok || !*tok) {
    mg_err_set(err, MG_ERR_REMOTE, "token response from '%s' has no token",
               realm);
    goto out;
  }
  wipe_free(c->auth);
  c->auth = mg_xasprintf("Authorization: Bearer %s", tok);
  rc = 0;
out:
  mg_json_free(j);
  mg_http_response_release(&resp);
  mg_buf_release(&url);
  free(scheme);
  free(realm);
  free(service);
  free(scope);
  return rc;
}

/*
 * One registry request, answering one 401 challenge. extra: up to 4
 * header lines. The caller judges resp->status.
 */
static int oci_do(struct mg_oci_client *c, const char *scope,
                  struct mg_http_request *req, const char *const *extra,
                  struct mg_http_response *resp, struct mg_err *err)
{
  for (int attempt = 0;; attempt++) {
    const char *hdrs[8];
    int h = 0;

    for (const char *const *e = extra; e && *e && h < 6; e++)
      hdrs[h++] = *e;
    if (c->auth)
      hdrs[h++] = c->auth;
    hdrs[h] = NULL;
    req->headers = hdrs;
    mg_buf_reset(&resp->body);
    if (mg_http_do(&c->http, req, resp, err) < 0)
      return -1;
    req->headers = NULL;
    if (resp->status != 401 || attempt > 0)
      return 0;
    if (authenticate(c, resp->www_authenticate, scope, err) < 0)
      return -1;
    if (req->upload_path == NULL && req->on_data) {
      /* A streamed 401 body went to the sink: let the caller reset. */
      return 0;
    }
  }
}

static int registry_error(const char *what, const struct mg_http_response *r,
                          struct mg_err *err)
{
  struct mg_json *j = NULL;
  const char *code = NULL, *msg = NULL;

  if (r->body.len
      && mg_json_parse(r->body.data, r->body.len, "error", &j, NULL) == 0) {
    const struct mg_json *e = mg_json_at(mg_json_get(j, "errors"), 0);
    code = mg_json_string(mg_json_get(e, "code"));
    msg = mg_json_string(mg_json_get(e, "message"));
  }
  mg_err_set(err, MG_ERR_REMOTE, "%s failed: HTTP %ld%s%s%s%s%s", what,
             r->status, code ? " " : "", code ? code : "", msg ? ": " : "",
             msg ? msg : "",
             r->status == 401   ? " (the registry refused the credentials)"
             : r->status == 403 ? " (access denied)"
                                : "");
  mg_json_free(j);
  return -1;
}

static char *scope_of(const struct mg_oci_ref *ref, const char *actions)
{
  return mg_xasprintf("repository:%s:%s", ref->repo, actions);
}

/* ---- manifests ---- */

static const char *platform_pick(const struct mg_json *index)
{
  const struct mg_json *ms = mg_json_get(index, "manifests");
  const char *first = NULL;

  for (const struct mg_json *m = mg_json_first(ms); m; m = mg_json_next(m)) {
    const struct mg_json *p = mg_json_get(m, "platform");
    const char *os = mg_json_string(mg_json_get(p, "os"));
    const char *arch = mg_json_string(mg_json_get(p, "architecture"));
    const char *d = mg_json_string(mg_json_get(m, "digest"));
    if (!d)
      continue;
    if (os && strcmp(os, "linux") == 0 && arch && (strcmp(arch, "amd64") == 0))
      return d;
    if (!first && os && strcmp(os, "linux") == 0)
      first = d;
  }
  return first;
}

/*
 * Fetches a manifest, resolving an index to linux/amd64. *digest_out gets
 * "sha256:..." of the image manifest's exact bytes (caller owns).
 */
static int get_manifest(struct mg_oci_client *c, const struct mg_oci_ref *ref,
                        const char *scope, struct mg_json **out,
                        char **digest_out, struct mg_err *err)
{
  char *base = base_url(c, ref->registry);
  char *want = mg_xstrdup(ref->digest ? ref->digest : ref->tag);
  char *shown = mg_oci_ref_string(ref, 1);
  const char *accept[] = { ACCEPT_ALL, NULL };
  int rc = -1;

  *out = NULL;
  *digest_out = NULL;
  for (int depth = 0; depth < 2; depth++) {
    struct mg_http_response resp;
    struct mg_http_request req;
    char *url = mg_xasprintf("%s/v2/%s/manifests/%s", base, ref->repo, want);
    char hex[MG_DIGEST_SHA256_HEX_LEN + 1];
    struct mg_json *j = NULL;
    const char *mt;

    mg_http_response_init(&resp, MANIFEST_MAX);
    memset(&req, 0, sizeof(req));
    req.url = url;
    if (oci_do(c, scope, &req, accept, &resp, err) < 0) {
      free(url);
      mg_http_response_release(&resp);
      goto out;
    }
    free(url);
    if (resp.status != 200) {
      char *what = mg_xasprintf("manifest '%s'", shown);
      registry_error(what, &resp, err);
      free(what);
      mg_http_response_release(&resp);
      goto out;
    }
    mg_digest_sha256_hex(resp.body.data, resp.body.len, hex);
    if (strncmp(want, "sha256:", 7) == 0 && strcmp(want + 7, hex) != 0) {
      mg_err_set(err, MG_ERR_REMOTE,
                 "manifest of '%s' does not match its digest (got "
                 "sha256:%s)",
                 shown, hex);
      mg_http_response_release(&resp);
      goto out;
    }
    if (mg_json_parse(resp.body.data, resp.body.len, "manifest", &j, err) < 0) {
      mg_http_response_release(&resp);
      mg_err_prefix(err, "image '%s'", shown);
      err->cat = MG_ERR_REMOTE;
      goto out;
    }
    mg_http_response_release(&resp);
    mt = mg_json_string(mg_json_get(j, "mediaType"));
    if (mt
        && (strcmp(mt, MG_OCI_INDEX) == 0 || strcmp(mt, MG_DOCKER_LIST) == 0)) {
      const char *d = platform_pick(j);
      if (!d || !digest_ok(d)) {
        mg_err_set(err, MG_ERR_REMOTE,
                   "image index '%s' has no linux "
                   "image",
                   shown);
        mg_json_free(j);
        goto out;
      }
      free(want);
      want = mg_xstrdup(d);
      mg_json_free(j);
      continue;
    }
    *out = j;
    *digest_out = mg_xasprintf("sha256:%s", hex);
    rc = 0;
    goto out;
  }
  mg_err_set(err, MG_ERR_REMOTE, "nested image index in '%s'", shown);
out:
  free(base);
  free(want);
  free(shown);
  return rc;
}

/* ---- blobs ---- */

struct sink {
  int fd;
  struct mg_digest_sha256 *h;
  uint64_t n;
  int failed;
};

static int sink_data(void *arg, const char *p, size_t n)
{
  struct sink *s = arg;

  if (mg_io_write_fd(s->fd, "blob", p, n, NULL) < 0) {
    s->failed = 1;
    return -1;
  }
  mg_digest_sha256_update(s->h, p, n);
  s->n += n;
  return 0;
}

/* Downloads a blob to path, verifying it against its digest. */
static int get_blob(struct mg_oci_client *c, const struct mg_oci_ref *ref,
                    const char *scope, const char *digest, const char *path,
                    struct mg_err *err)
{
  char *base = base_url(c, ref->registry);
  char *url = mg_xasprintf("%s/v2/%s/blobs/%s", base, ref->repo, digest);
  struct sink s = { -1, NULL, 0, 0 };
  struct mg_http_response resp;
  struct mg_http_request req;
  char hex[MG_DIGEST_SHA256_HEX_LEN + 1];
  int rc = -1;

  mg_http_response_init(&resp, 1 << 20);
  for (int attempt = 0; attempt < 2; attempt++) {
    if (s.fd >= 0)
      close(s.fd);
    mg_digest_sha256_free(s.h);
    s.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    s.h = mg_digest_sha256_new();
    s.n = 0;
    if (s.fd < 0) {
      mg_err_errno(err, MG_ERR_IO, "cannot create '%s'", path);
      goto out;
    }
    memset(&req, 0, sizeof(req));
    req.url = url;
    req.on_data = sink_data;
    req.arg = &s;
    if (oci_do(c, scope, &req, NULL, &resp, err) < 0)
      goto out;
    if (resp.status != 401)
      break;
  }
  if (s.failed) {
    mg_err_errno(err, MG_ERR_IO, "cannot write '%s'", path);
    goto out;
  }
  if (resp.status != 200) {
    char *what = mg_xasprintf("blob '%s'", digest);
    resp.body.len = 0;
    registry_error(what, &resp, err);
    free(what);
    goto out;
  }
  mg_digest_sha256_final_hex(s.h, hex);
  if (strcmp(hex, digest + 7) != 0) {
    mg_err_set(err, MG_ERR_REMOTE, "corrupt blob: '%s' has digest sha256:%s",
               digest, hex);
    goto out;
  }
  rc = 0;
out:
  if (s.fd >= 0)
    close(s.fd);
  mg_digest_sha256_free(s.h);
  if (rc < 0)
    unlink(path);
  mg_http_response_release(&resp);
  free(url);
  free(base);
  return rc;
}

static int is_tar_layer(const char *mt)
{
  return mt
         && (strcmp(mt, MG_OCI_LAYER_TAR) == 0
             || strcmp(mt, MG_OCI_LAYER_TGZ) == 0
             || strcmp(mt, MG_DOCKER_LAYER_TGZ) == 0
             || strcmp(mt, "application/vnd.docker.image.rootfs.diff.tar")
                    == 0);
}

struct layer_check {
  const struct mg_archive_file_cb *user;
  const char *want; /* olot.layer.content.digest, or NULL */
  const char *layer;
  uint64_t files;
  char last[MG_DIGEST_SHA256_HEX_LEN + 1];
};

static int layer_file(void *arg, const char *path, uint64_t size,
                      const char sha256[MG_DIGEST_SHA256_HEX_LEN + 1],
                      struct mg_err *err)
{
  struct layer_check *l = arg;

  l->files++;
  memcpy(l->last, sha256, sizeof(l->last));
  if (l->user && l->user->on_file)
    return l->user->on_file(l->user->arg, path, size, sha256, err);
  return 0;
}

int mg_oci_pull(struct mg_oci_client *c, const struct mg_oci_ref *ref,
                const char *destdir, const struct mg_archive_limits *lim,
                const struct mg_archive_file_cb *cb, struct mg_json **info,
                struct mg_err *err)
{
  char *scope = scope_of(ref, "pull");
  struct mg_json *man = NULL;
  const struct mg_json *layers;
  char *digest = NULL, *blob = NULL, *shown = mg_oci_ref_string(ref, 0);
  uint64_t files = 0, n_layers = 0;
  int rc = -1;

  *info = NULL;
  if (get_manifest(c, ref, scope, &man, &digest, err) < 0)
    goto out;
  layers = mg_json_get(man, "layers");
  if (!mg_json_is_array(layers)) {
    mg_err_set(err, MG_ERR_REMOTE, "image '%s' has no layers", shown);
    goto out;
  }
  blob = mg_tree_join(destdir, ".mg-blob");
  for (const struct mg_json *l = mg_json_first(layers); l;
       l = mg_json_next(l)) {
    const char *mt = mg_json_string(mg_json_get(l, "mediaType"));
    const char *d = mg_json_string(mg_json_get(l, "digest"));
    const char *want = mg_json_string(mg_json_get(mg_json_get(l, "annotations"),
                                                  "olot.layer.content.digest"));
    struct layer_check lc = { cb, want, d, 0, "" };
    struct mg_archive_file_cb wrap = { layer_file, &lc };

    if (!d || !digest_ok(d)) {
      mg_err_set(err, MG_ERR_REMOTE,
                 "image '%s' has a layer without a "
                 "sha256 digest",
                 shown);
      goto out;
    }
    if (!is_tar_layer(mt)) {
      mg_note_send(&c->note, "skipping layer %s of type %s", d, mt ? mt : "?");
      continue;
    }
    n_layers++;
    mg_note_send(&c->note, "pulling layer %s", d);
    if (get_blob(c, ref, scope, d, blob, err) < 0)
      goto out;
    if (mg_archive_extract(blob, destdir, "models/",
                           MG_ARCHIVE_ROOTED | MG_ARCHIVE_OCI, lim, &wrap, NULL,
                           err)
        < 0) {
      mg_err_prefix(err, "layer %s", d);
      goto out;
    }
    unlink(blob);
    if (want && lc.files == 1
        && (strncmp(want, "sha256:", 7) != 0
            || strcmp(want + 7, lc.last) != 0)) {
      mg_err_set(err, MG_ERR_REMOTE,
                 "layer %s: file digest sha256:%s disagrees with its "
                 "annotation %.80s",
                 d, lc.last, want);
      goto out;
    }
    files += lc.files;
  }
  if (!files) {
    mg_err_set(err, MG_ERR_DATA, "image '%s' has no files under /models",
               shown);
    goto out;
  }
  *info = mg_json_new_object();
  mg_json_set_string(*info, "reference", shown);
  mg_json_set_string(*info, "manifest_digest", digest);
  mg_json_set_number(*info, "layers", (double)n_layers);
  rc = 0;
out:
  if (blob)
    unlink(blob);
  free(blob);
  free(digest);
  free(shown);
  free(scope);
  mg_json_free(man);
  return rc;
}

/* ---- push ---- */

static char *absolute_location(const char *base, const char *loc)
{
  if (strncmp(loc, "http://", 7) == 0 || strncmp(loc, "https://", 8) == 0)
    return mg_xstrdup(loc);
  return mg_xasprintf("%s%s%s", base, loc[0] == '/' ? "" : "/", loc);
}

/* 1 if the repository has the blob, 0 if not. */
static int has_blob(struct mg_oci_client *c, const struct mg_oci_ref *ref,
                    const char *scope, const char *digest, struct mg_err *err)
{
  char *base = base_url(c, ref->registry);
  char *url = mg_xasprintf("%s/v2/%s/blobs/%s", base, ref->repo, digest);
  struct mg_http_response resp;
  struct mg_http_request req;
  int rc;

  mg_http_response_init(&resp, 1 << 20);
  memset(&req, 0, sizeof(req));
  req.method = "HEAD";
  req.url = url;
  rc = oci_do(c, scope, &req, NULL, &resp, err);
  if (rc == 0) {
    if (resp.status == 200)
      rc = 1;
    else if (resp.status == 404)
      rc = 0;
    else
      rc = registry_error("blob check", &resp, err);
  }
  mg_http_response_release(&resp);
  free(url);
  free(base);
  return rc;
}

/* "start-end" of a Range / Content-Range value; the end, or -1. */
static long long range_end(const char *v)
{
  const char *dash;
  char *end;
  long long e;

  if (!v)
    return -1;
  if (strncmp(v, "bytes=", 6) == 0)
    v += 6;
  dash = strchr(v, '-');
  if (!dash)
    return -1;
  errno = 0;
  e = strtoll(dash + 1, &end, 10);
  if (errno || end == dash + 1 || e < 0)
    return -1;
  return e;
}

/* Asks where an interrupted upload stands (GET <location>: 204 with
 * Range "0-<end>"); *next gets the first byte to send again. */
static int upload_status(struct mg_oci_client *c, const char *scope, char **loc,
                         const char *base, uint64_t *next, struct mg_err *err)
{
  struct mg_http_response resp;
  struct mg_http_request req;
  char *range;
  long long e;
  int rc = -1;

  mg_http_response_init(&resp, 1 << 20);
  memset(&req, 0, sizeof(req));
  req.url = *loc;
  if (oci_do(c, scope, &req, NULL, &resp, err) < 0)
    goto out;
  if (resp.status != 204) {
    registry_error("resuming an upload", &resp, err);
    goto out;
  }
  range = mg_http_response_header(&resp, "Range");
  e = range_end(range);
  free(range);
  *next = e < 0 ? 0 : (uint64_t)e + 1;
  if (resp.location) {
    char *l = absolute_location(base, resp.location);
    free(*loc);
    *loc = l;
  }
  rc = 0;
out:
  mg_http_response_release(&resp);
  return rc;
}

/*
 * Uploads a file in chunks (distribution-spec "chunked upload"): POST
 * with no body, then PATCH <location> with Content-Range "start-end" for
 * each chunk (at least OCI-Chunk-Min-Length when the registry says so),
 * always to the newest Location, and a final PUT <location>?digest=. A
 * chunk the registry refuses (416) or a connection that breaks is
 * resumed from what GET <location> reports (204, Range). On failure the
 * upload is cancelled (DELETE).
 */
static int put_blob_chunked(struct mg_oci_client *c,
                            const struct mg_oci_ref *ref, const char *scope,
                            const char *digest, const char *path, uint64_t size,
                            unsigned *chunks, struct mg_err *err)
{
  char *base = base_url(c, ref->registry);
  char *url = mg_xasprintf("%s/v2/%s/blobs/uploads/", base, ref->repo);
  char *loc = NULL, *put = NULL, *minlen;
  struct mg_http_response resp;
  struct mg_http_request req;
  uint64_t chunk = c->chunk, off = 0;
  unsigned char *buf = NULL;
  int fd = -1, rc = -1, resyncs = 0;

  *chunks = 0;
  mg_http_response_init(&resp, 1 << 20);
  memset(&req, 0, sizeof(req));
  req.method = "POST";
  req.url = url;
  req.body = "";
  req.no_retry = 1;
  if (oci_do(c, scope, &req, NULL, &resp, err) < 0)
    goto out;
  if (resp.status != 202 || !resp.location) {
    registry_error("starting an upload", &resp, err);
    goto out;
  }
  loc = absolute_location(base, resp.location);
  minlen = mg_http_response_header(&resp, "OCI-Chunk-Min-Length");
  if (minlen) {
    unsigned long long m = strtoull(minlen, NULL, 10);
    if (m > chunk && m <= ((uint64_t)1 << 32))
      chunk = m;
    free(minlen);
  }
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    mg_err_errno(err, MG_ERR_IO, "cannot open '%s'", path);
    goto cancel;
  }
  buf = mg_xmalloc((size_t)chunk);
  while (off < size) {
    size_t len = (size_t)(size - off < chunk ? size - off : chunk), got = 0;
    char cr[80], *newloc;
    long long e;
    int sent;
    while (got < len) {
      ssize_t r = pread(fd, buf + got, len - got, (off_t)(off + got));
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0) {
        mg_err_errno(err, MG_ERR_IO, "cannot read '%s'", path);
        goto cancel;
      }
      got += (size_t)r;
    }
    (void)snprintf(cr, sizeof(cr), "Content-Range: %llu-%llu",
                   (unsigned long long)off,
                   (unsigned long long)(off + len - 1));
    mg_http_response_release(&resp);
    mg_http_response_init(&resp, 1 << 20);
    memset(&req, 0, sizeof(req));
    req.method = "PATCH";
    req.url = loc;
    req.body = buf;
    req.body_len = len;
    req.no_retry = 1;
    sent = oci_do(c, scope, &req,
                  (const char *const[]){
                      "Content-Type: application/octet-stream", cr, NULL },
                  &resp, err);
    if (sent == 0 && resp.status == 202) {
      (*chunks)++;
      if (resp.location) {
        newloc = absolute_location(base, resp.location);
        free(loc);
        loc = newloc;
      }
      {
        char *range = mg_http_response_header(&resp, "Range");
        e = range_end(range);
        free(range);
      }
      off = e >= 0 ? (uint64_t)e + 1 : off + len;
      continue;
    }
    if ((sent < 0 || resp.status == 416 || resp.status >= 500)
        && resyncs++ < CHUNK_RESYNCS) {
      mg_note_send(&c->note, "resuming the upload of '%s' (%s)", digest,
                   sent < 0 ? err->msg : "HTTP status");
      if (upload_status(c, scope, &loc, base, &off, err) < 0)
        goto cancel;
      continue;
    }
    if (sent == 0)
      registry_error("blob chunk upload", &resp, err);
    goto cancel;
  }
  {
    char *d = mg_xstrdup(digest);
    char *colon = strchr(d, ':');
    *colon = '\0';
    put = mg_xasprintf("%s%cdigest=%s%%3A%s", loc, strchr(loc, '?') ? '&' : '?',
                       d, colon + 1);
    free(d);
  }
  mg_http_response_release(&resp);
  mg_http_response_init(&resp, 1 << 20);
  memset(&req, 0, sizeof(req));
  req.method = "PUT";
  req.url = put;
  req.body = "";
  req.no_retry = 1;
  if (oci_do(c, scope, &req,
             (const char *const[]){ "Content-Type: application/octet-stream",
                                    NULL },
             &resp, err)
      < 0)
    goto cancel;
  if (resp.status != 201) {
    registry_error("finishing a chunked upload", &resp, err);
    goto cancel;
  }
  rc = 0;
  goto out;
cancel:
  if (loc) {
    struct mg_http_response r2;
    struct mg_err ignored = MG_ERR_INIT;
    mg_http_response_init(&r2, 1 << 20);
    memset(&req, 0, sizeof(req));
    req.method = "DELETE";
    req.url = loc;
    req.no_retry = 1;
    (void)oci_do(c, scope, &req, NULL, &r2, &ignored);
    mg_http_response_release(&r2);
  }
out:
  if (fd >= 0)
    close(fd);
  free(buf);
  mg_http_response_release(&resp);
  free(put);
  free(loc);
  free(url);
  free(base);
  return rc;
}

/* Uploads a blob (a file, or bytes in memory) monolithically. */
static int put_blob(struct mg_oci_client *c, const struct mg_oci_ref *ref,
                    const char *scope, const char *digest, const char *path,
                    const void *mem, size_t len, struct mg_err *err)
{
  char *base = base_url(c, ref->registry);
  char *url = mg_xasprintf("%s/v2/%s/blobs/uploads/", base, ref->repo);
  char *put = NULL;
  struct mg_http_response resp;
  struct mg_http_request req;
  const char *ct[] = { "Content-Type: application/octet-stream", NULL };
  int rc = -1;

  mg_http_response_init(&resp, 1 << 20);
  memset(&req, 0, sizeof(req));
  req.method = "POST";
  req.url = url;
  req.body = "";
  req.body_len = 0;
  req.no_retry = 1;
  if (oci_do(c, scope, &req, NULL, &resp, err) < 0)
    goto out;
  if (resp.status != 202 || !resp.location) {
    registry_error("starting an upload", &resp, err);
    goto out;
  }
  {
    char *loc = absolute_location(base, resp.location);
    char *d = mg_xstrdup(digest);
    char *colon = strchr(d, ':');
    if (colon)
      *colon = '\0';
    put = mg_xasprintf("%s%cdigest=%s%%3A%s", loc, strchr(loc, '?') ? '&' : '?',
                       d, colon + 1);
    free(d);
    free(loc);
  }
  memset(&req, 0, sizeof(req));
  req.method = "PUT";
  req.url = put;
  req.no_retry = 1;
  if (path) {
    req.upload_path = path;
  } else {
    req.body = mem;
    req.body_len = len;
  }
  if (oci_do(c, scope, &req, ct, &resp, err) < 0)
    goto out;
  if (resp.status != 201) {
    registry_error("blob upload", &resp, err);
    goto out;
  }
  rc = 0;
out:
  mg_http_response_release(&resp);
  free(put);
  free(url);
  free(base);
  return rc;
}

/* Mounts a base layer from another repository of the same registry, or
 * copies it through a temporary file. */
static int mount_blob(struct mg_oci_client *c, const struct mg_oci_ref *ref,
                      const struct mg_oci_ref *from, const char *scope,
                      const char *digest, const char *tmp, struct mg_err *err)
{
  char *base = base_url(c, ref->registry);
  struct mg_buf url = MG_BUF_INIT(MG_BUF_UNLIMITED);
  struct mg_http_response resp;
  struct mg_http_request req;
  int rc = -1;

  mg_buf_printf(&url, NULL, "%s/v2/%s/blobs/uploads/?mount=", base, ref->repo);
  url_escape(&url, digest);
  mg_buf_addstr(&url, "&from=", NULL);
  url_escape(&url, from->repo);
  mg_http_response_init(&resp, 1 << 20);
  memset(&req, 0, sizeof(req));
  req.method = "POST";
  req.url = url.data;
  req.body = "";
  req.no_retry = 1;
  if (oci_do(c, scope, &req, NULL, &resp, err) < 0)
    goto out;
  if (resp.status == 201) {
    rc = 0;
    goto out;
  }
  /* Not mounted: copy it. */
  if (get_blob(c, from, scope, digest, tmp, err) < 0
      || put_blob(c, ref, scope, digest, tmp, NULL, 0, err) < 0)
    goto out;
  rc = 0;
out:
  unlink(tmp);
  mg_http_response_release(&resp);
  mg_buf_release(&url);
  free(base);
  return rc;
}

static struct mg_json *descriptor(const char *mt, const char *digest,
                                  uint64_t size)
{
  struct mg_json *d = mg_json_new_object();

  mg_json_set_string(d, "mediaType", mt);
  mg_json_set_string(d, "digest", digest);
  mg_json_set_number(d, "size", (double)size);
  return d;
}

static int put_manifest(struct mg_oci_client *c, const struct mg_oci_ref *ref,
                        const char *scope, const char *body, char **digest_out,
                        struct mg_err *err)
{
  char *base = base_url(c, ref->registry);
  char *url = mg_xasprintf("%s/v2/%s/manifests/%s", base, ref->repo,
                           ref->tag ? ref->tag : ref->digest);
  const char *ct[] = { "Content-Type: " MG_OCI_MANIFEST, NULL };
  struct mg_http_response resp;
  struct mg_http_request req;
  char hex[MG_DIGEST_SHA256_HEX_LEN + 1];
  char *dcd;
  int rc = -1;

  mg_digest_sha256_hex(body, strlen(body), hex);
  *digest_out = mg_xasprintf("sha256:%s", hex);
  mg_http_response_init(&resp, 1 << 20);
  memset(&req, 0, sizeof(req));
  req.method = "PUT";
  req.url = url;
  req.body = body;
  req.body_len = strlen(body);
  req.no_retry = 1;
  if (oci_do(c, scope, &req, ct, &resp, err) < 0)
    goto out;
  if (resp.status != 201) {
    registry_error("manifest upload", &resp, err);
    goto out;
  }
  dcd = mg_http_response_header(&resp, "Docker-Content-Digest");
  if (dcd && strcmp(dcd, *digest_out) != 0) {
    mg_err_set(err, MG_ERR_REMOTE, "registry stored the manifest as %s, not %s",
               dcd, *digest_out);
    free(dcd);
    goto out;
  }
  free(dcd);
  rc = 0;
out:
  if (rc < 0) {
    free(*digest_out);
    *digest_out = NULL;
  }
  mg_http_response_release(&resp);
  free(url);
  free(base);
  return rc;
}

/* Reads the base image: its layers (as OCI descriptors) and config. */
static int load_base(struct mg_oci_client *c, const struct mg_oci_ref *base,
                     const struct mg_oci_ref *ref, const char *tmp,
                     struct mg_json **layers, struct mg_json **config,
                     struct mg_err *err)
{
  char *scope = mg_xasprintf("repository:%s:pull repository:%s:pull,push",
                             base->repo, ref->repo);
  struct mg_json *man = NULL;
  struct mg_buf b = MG_BUF_INIT(MANIFEST_MAX);
  char *digest = NULL;
  const char *cd;
  int rc = -1;

  *layers = *config = NULL;
  if (strcmp(base->registry, ref->registry) != 0) {
    mg_err_set(err, MG_ERR_USAGE,
               "base image '%s' must be in the destination registry '%s'",
               base->registry, ref->registry);
    goto out;
  }
  if (get_manifest(c, base, scope, &man, &digest, err) < 0)
    goto out;
  cd = mg_json_string(mg_json_get_path(man, "config.digest"));
  if (!cd || !digest_ok(cd)) {
    mg_err_set(err, MG_ERR_REMOTE, "base image has no config");
    goto out;
  }
  if (get_blob(c, base, scope, cd, tmp, err) < 0
      || mg_io_read_file(tmp, &b, err) < 0
      || mg_json_parse(b.data, b.len, "base config", config, err) < 0)
    goto out;
  unlink(tmp);
  *layers = mg_json_new_array();
  for (const struct mg_json *l = mg_json_first(mg_json_get(man, "layers")); l;
       l = mg_json_next(l)) {
    const char *mt = mg_json_string(mg_json_get(l, "mediaType"));
    const char *d = mg_json_string(mg_json_get(l, "digest"));
    double size = mg_json_number(mg_json_get(l, "size"));
    if (!d || !digest_ok(d)) {
      mg_err_set(err, MG_ERR_REMOTE, "base image layer without a digest");
      goto out;
    }
    if (mt && strcmp(mt, MG_DOCKER_LAYER_TGZ) == 0)
      mt = MG_OCI_LAYER_TGZ;
    if (mt && strcmp(mt, "application/vnd.docker.image.rootfs.diff.tar") == 0)
      mt = MG_OCI_LAYER_TAR;
    mg_json_append(*layers,
                   descriptor(mt ? mt : MG_OCI_LAYER_TGZ, d, (uint64_t)size));
    if (mount_blob(c, ref, base, scope, d, tmp, err) < 0)
      goto out;
  }
  rc = 0;
out:
  if (rc < 0) {
    mg_json_free(*layers);
    mg_json_free(*config);
    *layers = *config = NULL;
  }
  unlink(tmp);
  mg_buf_release(&b);
  mg_json_free(man);
  free(digest);
  free(scope);
  return rc;
}

/* olot's layer annotations for the file rel, stored at arc. */
static struct mg_json *file_annotations(const char *rel, const char *arc,
                                        const char *fsha)
{
  struct mg_json *ann = mg_json_new_object();
  const char *b = strrchr(rel, '/');
  char *fd = mg_xasprintf("sha256:%s", fsha);
  char *inl = mg_xasprintf("/%s", arc);

  mg_json_set_string(ann, "org.opencontainers.image.title", b ? b + 1 : rel);
  mg_json_set_string(ann, "olot.layer.content.digest", fd);
  mg_json_set_string(ann, "olot.layer.content.type", "file");
  mg_json_set_string(ann, "olot.layer.content.inlayerpath", inl);
  mg_json_set_string(ann, "olot.layer.content.name", rel);
  free(fd);
  free(inl);
  return ann;
}

/* Sends a layer unless the registry has it: 1 skipped, 0 sent, -1. */
static int send_layer(struct mg_oci_client *c, const struct mg_oci_ref *ref,
                      const char *scope, const char *digest, const char *path,
                      uint64_t size, uint64_t *chunked, struct mg_err *err)
{
  unsigned chunks = 0;
  int have = has_blob(c, ref, scope, digest, err);

  if (have != 0)
    return have;
  if (size > c->chunk) {
    if (put_blob_chunked(c, ref, scope, digest, path, size, &chunks, err) < 0)
      return -1;
    (*chunked)++;
    return 0;
  }
  return put_blob(c, ref, scope, digest, path, NULL, 0, err);
}

int mg_oci_push_modelcar(struct mg_oci_client *c, const struct mg_oci_ref *ref,
                         const char *dir, const struct mg_json *files,
                         const struct mg_oci_ref *base, struct mg_json **info,
                         struct mg_err *err)
{
  char *scope = base ? mg_xasprintf("repository:%s:pull repository:%s:"
                                    "pull,push",
                                    base->repo, ref->repo)
                     : scope_of(ref, "pull,push");
  char tmpdir[] = "/tmp/mg-oci-XXXXXX";
  char *tmp = NULL, *layer = NULL, *cfg_text = NULL, *man_text = NULL;
  char *digest = NULL, *cfg_digest = NULL, *shown = NULL;
  struct mg_json *layers = NULL, *config = NULL, *man = NULL, *diff_ids;
  struct mg_json *history, *rootfs, *ann;
  char hex[MG_DIGEST_SHA256_HEX_LEN + 1];
  uint64_t skipped = 0, n_model = 0, chunked = 0;
  const char *card_sha = NULL;
  char *card_digest = NULL;
  int rc = -1;

  *info = NULL;
  if (!mkdtemp(tmpdir))
    return mg_err_errno(err, MG_ERR_IO,
                        "cannot create a temporary "
                        "directory");
  tmp = mg_tree_join(tmpdir, "blob");
  layer = mg_tree_join(tmpdir, "layer.tar");
  if (base) {
    if (load_base(c, base, ref, tmp, &layers, &config, err) < 0)
      goto out;
  } else {
    layers = mg_json_new_array();
    config = mg_json_new_object();
    mg_json_set_string(config, "architecture", "amd64");
    mg_json_set_string(config, "os", "linux");
    mg_json_set(config, "config", mg_json_new_object());
  }
  rootfs = mg_json_get(config, "rootfs");
  if (!mg_json_is_object(rootfs)) {
    rootfs = mg_json_new_object();
    mg_json_set_string(rootfs, "type", "layers");
    mg_json_set(config, "rootfs", rootfs);
  }
  diff_ids = mg_json_get(rootfs, "diff_ids");
  if (!mg_json_is_array(diff_ids)) {
    diff_ids = mg_json_new_array();
    mg_json_set(rootfs, "diff_ids", diff_ids);
  }
  history = mg_json_get(config, "history");
  if (!mg_json_is_array(history)) {
    history = mg_json_new_array();
    mg_json_set(config, "history", history);
  }
  for (const struct mg_json *f = mg_json_first(files); f; f = mg_json_next(f)) {
    const char *rel = mg_json_string(mg_json_get(f, "path"));
    const char *fsha = mg_json_string(mg_json_get(f, "sha256"));
    char *src, *arc, *d, *cb;
    uint64_t size;
    struct mg_json *desc, *h;
    int have;

    if (!rel || !fsha)
      continue;
    if (strcmp(rel, "README.md") == 0) {
      card_sha = fsha; /* the model card goes last, compressed */
      continue;
    }
    src = mg_tree_join(dir, rel);
    arc = mg_xasprintf("models/%s", rel);
    if (mg_archive_write_layer(src, arc, layer, hex, &size, err) < 0) {
      free(src);
      free(arc);
      goto out;
    }
    free(src);
    d = mg_xasprintf("sha256:%s", hex);
    have = send_layer(c, ref, scope, d, layer, size, &chunked, err);
    if (have < 0) {
      free(d);
      free(arc);
      goto out;
    }
    skipped += have == 1;
    n_model++;
    desc = descriptor(MG_OCI_LAYER_TAR, d, size);
    mg_json_set(desc, "annotations", file_annotations(rel, arc, fsha));
    mg_json_append(layers, desc);
    mg_json_append(diff_ids, mg_json_new_string(d));
    h = mg_json_new_object();
    cb = mg_xasprintf("model-fetch: COPY %s /models/%s", rel, rel);
    mg_json_set_string(h, "created_by", cb);
    free(cb);
    mg_json_append(history, h);
    free(d);
    free(arc);
    unlink(layer);
  }
  if (card_sha) {
    /* olot's model card layer: README.md, last, tar+gzip (digest of the
     * gzip, diff_id of the tar), annotated as the card. */
    char *src = mg_tree_join(dir, "README.md");
    char *gz = mg_tree_join(tmpdir, "card.tar.gz");
    char diff[MG_DIGEST_SHA256_HEX_LEN + 1];
    uint64_t size, gsize;
    struct mg_json *desc, *h;
    char *d;
    int have;
    if (mg_archive_write_layer(src, "models/README.md", layer, diff, &size, err)
            < 0
        || mg_archive_gzip_file(layer, gz, hex, &gsize, err) < 0) {
      free(src);
      free(gz);
      goto out;
    }
    free(src);
    card_digest = mg_xasprintf("sha256:%s", hex);
    have = send_layer(c, ref, scope, card_digest, gz, gsize, &chunked, err);
    unlink(gz);
    free(gz);
    unlink(layer);
    if (have < 0)
      goto out;
    skipped += have == 1;
    desc = descriptor(MG_OCI_LAYER_TGZ, card_digest, gsize);
    ann = file_annotations("README.md", "models/README.md", card_sha);
    mg_json_set_string(ann, "io.opendatahub.modelcar.layer.type", "modelcard");
    mg_json_set(desc, "annotations", ann);
    mg_json_append(layers, desc);
    d = mg_xasprintf("sha256:%s", diff);
    mg_json_append(diff_ids, mg_json_new_string(d));
    free(d);
    h = mg_json_new_object();
    mg_json_set_string(h, "created_by",
                       "model-fetch: COPY README.md /models/README.md "
                       "(model card)");
    mg_json_append(history, h);
  }
  cfg_text = mg_json_print(config, 0);
  mg_digest_sha256_hex(cfg_text, strlen(cfg_text), hex);
  cfg_digest = mg_xasprintf("sha256:%s", hex);
  {
    int have = has_blob(c, ref, scope, cfg_digest, err);
    if (have < 0
        || (!have
            && put_blob(c, ref, scope, cfg_digest, NULL, cfg_text,
                        strlen(cfg_text), err)
                   < 0))
      goto out;
  }
  man = mg_json_new_object();
  mg_json_set_number(man, "schemaVersion", 2);
  mg_json_set_string(man, "mediaType", MG_OCI_MANIFEST);
  mg_json_set(man, "config",
              descriptor(MG_OCI_CONFIG, cfg_digest, strlen(cfg_text)));
  mg_json_set(man, "layers", layers);
  layers = NULL;
  ann = mg_json_new_object();
  mg_json_set_string(ann, "io.opendatahub.author", "modelgate");
  if (card_digest)
    mg_json_set_string(ann, "io.opendatahub.layers.modelcard", card_digest);
  if (base) {
    char *b = mg_oci_ref_string(base, 0);
    mg_json_set_string(ann, "org.opencontainers.image.base.name", b);
    free(b);
  }
  mg_json_set(man, "annotations", ann);
  man_text = mg_json_print(man, 0);
  if (put_manifest(c, ref, scope, man_text, &digest, err) < 0)
    goto out;
  *info = mg_json_new_object();
  shown = mg_xasprintf("oci://%s/%s@%s", ref->registry, ref->repo, digest);
  mg_json_set_string(*info, "uri", shown);
  free(shown);
  shown = mg_oci_ref_string(ref, 0);
  mg_json_set_string(*info, "reference", shown);
  mg_json_set_string(*info, "manifest_digest", digest);
  mg_json_set_string(*info, "media_type", MG_OCI_MANIFEST);
  mg_json_set_number(*info, "model_layers", (double)n_model);
  mg_json_set_number(*info, "blobs_skipped", (double)skipped);
  mg_json_set_number(*info, "chunked_uploads", (double)chunked);
  if (card_digest)
    mg_json_set_string(*info, "model_card_layer", card_digest);
  if (base) {
    char *b = mg_oci_ref_string(base, 0);
    mg_json_set_string(*info, "base", b);
    free(b);
  }
  rc = 0;
out:
  (void)mg_tree_remove(tmpdir, NULL);
  mg_json_free(layers);
  mg_json_free(config);
  mg_json_free(man);
  free(cfg_text);
  free(man_text);
  free(cfg_digest);
  free(card_digest);
  free(digest);
  free(shown);
  free(tmp);
  free(layer);
  free(scope);
  return rc;
}
