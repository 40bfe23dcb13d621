#include "fetch/mg_hf.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mg_archive.h"
#include "mg_buf.h"
#include "mg_digest.h"
#include "mg_err.h"
#include "mg_json.h"
#include "mg_mem.h"

static int name_ok(const char *s, size_t n)
{
  if (n == 0 || n > 96)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')
          || (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_'
          || s[i] == '-'))
      return 0;
  return !(n <= 2 && s[0] == '.' && (n == 1 || s[1] == '.'));
}

int mg_hf_parse(const char *uri, struct mg_hf_ref *ref, struct mg_err *err)
{
  const char *s = uri, *at, *slash;
  size_t rl;

  memset(ref, 0, sizeof(*ref));
  if (strncmp(s, "hf://", 5) == 0)
    s += 5;
  at = strchr(s, '@');
  rl = at ? (size_t)(at - s) : strlen(s);
  slash = memchr(s, '/', rl);
  if (slash ? !name_ok(s, (size_t)(slash - s))
                  || !name_ok(slash + 1, rl - (size_t)(slash - s) - 1)
            : !name_ok(s, rl))
    return mg_err_set(err, MG_ERR_USAGE,
                      "invalid Hugging Face repository '%s': expected "
                      "hf://org/name[@revision]",
                      uri);
  if (at
      && (!at[1] || strlen(at + 1) > 255 || strchr(at + 1, '/')
          || strchr(at + 1, '?') || strchr(at + 1, '#')))
    return mg_err_set(err, MG_ERR_USAGE, "invalid revision in '%s'", uri);
  ref->repo = mg_xstrndup(s, rl);
  ref->revision = mg_xstrdup(at ? at + 1 : "main");
  ref->pinned = at != NULL;
  return 0;
}

void mg_hf_ref_release(struct mg_hf_ref *ref)
{
  free(ref->repo);
  free(ref->revision);
  ref->repo = ref->revision = NULL;
}

char *mg_hf_endpoint(const char *explicit_endpoint)
{
  const char *e = explicit_endpoint;
  char *out;
  size_t n;

  if (!e || !*e)
    e = getenv("HF_ENDPOINT");
  if (!e || !*e)
    e = MG_HF_DEFAULT_ENDPOINT;
  out = mg_xstrdup(e);
  n = strlen(out);
  while (n > 0 && out[n - 1] == '/')
    out[--n] = '\0';
  return out;
}

static void encode(struct mg_buf *b, const char *s, int keep_slash)
{
  static const char hex[] = "0123456789ABCDEF";

  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
        || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'
        || c == '~' || (keep_slash && c == '/')) {
      mg_buf_addch(b, (char)c, NULL);
    } else {
      char e[3] = { '%', hex[c >> 4], hex[c & 15] };
      mg_buf_add(b, e, 3, NULL);
    }
  }
}

char *mg_hf_revision_url(const char *endpoint, const struct mg_hf_ref *ref)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

  mg_buf_printf(&b, NULL, "%s/api/models/%s/revision/", endpoint, ref->repo);
  encode(&b, ref->revision, 0);
  mg_buf_addstr(&b, "?blobs=true", NULL);
  return mg_buf_detach(&b, NULL);
}

char *mg_hf_resolve_url(const char *endpoint, const char *repo,
                        const char *commit, const char *path)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

  mg_buf_printf(&b, NULL, "%s/%s/resolve/", endpoint, repo);
  encode(&b, commit, 0);
  mg_buf_addch(&b, '/', NULL);
  encode(&b, path, 1);
  return mg_buf_detach(&b, NULL);
}

static int match_one(const char *pattern, const char *path)
{
  size_t n = strlen(pattern);
  int r;

  if (n && pattern[n - 1] == '/') {
    char *p = mg_xasprintf("%s*", pattern);
    r = fnmatch(p, path, FNM_NOESCAPE) == 0;
    free(p);
    return r;
  }
  return fnmatch(pattern, path, FNM_NOESCAPE) == 0;
}

int mg_hf_match(const char *path, const char *const *include,
                const char *const *exclude)
{
  int ok = !include || !*include;

  if (strncmp(path, ".git/", 5) == 0
      || strncmp(path, ".cache/huggingface/", 19) == 0)
    return 0;
  for (const char *const *p = include; p && *p && !ok; p++)
    ok = match_one(*p, path);
  for (const char *const *p = exclude; p && *p && ok; p++)
    ok = !match_one(*p, path);
  return ok;
}

static int hex_copy(const char *s, size_t want, char *out)
{
  if (!s || strlen(s) != want)
    return -1;
  for (size_t i = 0; i < want; i++) {
    char c = s[i];
    if (c >= 'A' && c <= 'F')
      c = (char)(c - 'A' + 'a');
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return -1;
    out[i] = c;
  }
  out[want] = '\0';
  return 0;
}

int mg_hf_parse_listing(const char *body, size_t len,
                        const char *const *include, const char *const *exclude,
                        struct mg_hf_listing *out, struct mg_err *err)
{
  struct mg_json *j = NULL, *sib;
  const char *sha;
  int rc = -1;

  memset(out, 0, sizeof(*out));
  if (mg_json_parse(body, len, "Hub revision listing", &j, err) < 0)
    return -1;
  if (mg_json_req_string(j, "sha", "Hub revision listing", &sha, err) < 0
      || mg_json_req_array(j, "siblings", "Hub revision listing", &sib, err)
             < 0)
    goto out;
  out->commit = mg_xstrdup(sha);
  out->files = mg_xcalloc(mg_json_size(sib) + 1, sizeof(*out->files));
  for (const struct mg_json *s = mg_json_first(sib); s; s = mg_json_next(s)) {
    struct mg_hf_file *f = &out->files[out->n];
    const struct mg_json *lfs = mg_json_get(s, "lfs"), *sz;
    const char *name;
    char *clean;

    if (mg_json_req_string(s, "rfilename", "Hub sibling", &name, err) < 0)
      goto out;
    if (mg_archive_clean_path(name, 0, &clean, err) < 0
        || strcmp(clean, name) != 0) {
      free(clean);
      mg_err_set(err, MG_ERR_DATA,
                 "Hub listing holds an unsafe path "
                 "'%.200s'",
                 name);
      goto out;
    }
    if (!mg_hf_match(clean, include, exclude)) {
      free(clean);
      continue;
    }
    f->path = clean;
    out->n++;
    sz = mg_json_get(lfs, "size");
    if (!mg_json_is_number(sz))
      sz = mg_json_get(s, "size");
    if (mg_json_is_number(sz) && mg_json_number(sz) >= 0) {
      f->size = (uint64_t)mg_json_number(sz);
      f->has_size = 1;
    }
    if (lfs
        && hex_copy(mg_json_string(mg_json_get(lfs, "sha256")), 64, f->sha256)
               < 0) {
      mg_err_set(err, MG_ERR_DATA,
                 "Hub listing: bad LFS sha256 for "
                 "'%.200s'",
                 name);
      goto out;
    }
    if (!lfs)
      (void)hex_copy(mg_json_string(mg_json_get(s, "blobId")), 40, f->git_sha1);
  }
  rc = 0;
out:
  if (rc < 0)
    mg_hf_listing_release(out);
  mg_json_free(j);
  return rc;
}

void mg_hf_listing_release(struct mg_hf_listing *l)
{
  for (size_t i = 0; i < l->n; i++)
    free(l->files[i].path);
  free(l->files);
  free(l->commit);
  memset(l, 0, sizeof(*l));
}

/* A header's value from a raw header block, or NULL; caller owns. */
static char *header(const char *raw, const char *name)
{
  size_t n = strlen(name);

  for (const char *p = raw; p && *p;) {
    const char *eol = strchr(p, '\n');
    size_t len = eol ? (size_t)(eol - p) : strlen(p);
    if (len > n && strncasecmp(p, name, n) == 0 && p[n] == ':') {
      const char *v = p + n + 1;
      while (*v == ' ' || *v == '\t')
        v++;
      len -= (size_t)(v - p);
      while (len && (v[len - 1] == '\r' || v[len - 1] == ' '))
        len--;
      return mg_xstrndup(v, len);
    }
    p = eol ? eol + 1 : NULL;
  }
  return NULL;
}

int mg_hf_error(long status, const char *headers, const char *repo,
                const char *revision, int have_token, struct mg_err *err)
{
  char *code = header(headers, "X-Error-Code");
  char *msg = header(headers, "X-Error-Message");

  if (code && strcmp(code, "GatedRepo") == 0)
    mg_err_set(err, MG_ERR_REMOTE, "gated repository '%s': %s", repo,
               have_token ? "this token has no access; accept the license "
                            "on the Hub and allow gated repos for the token"
                          : "accept the license on the Hub and set HF_TOKEN");
  else if (code && strcmp(code, "RevisionNotFound") == 0)
    mg_err_set(err, MG_ERR_REMOTE, "revision '%s' not found in '%s'", revision,
               repo);
  else if (code && strcmp(code, "EntryNotFound") == 0)
    mg_err_set(err, MG_ERR_REMOTE, "file not found in '%s@%s'", repo, revision);
  else if (msg && strstr(msg, "Invalid credentials"))
    mg_err_set(err, MG_ERR_REMOTE, "Hub rejected the token for '%s'", repo);
  else if ((code && strcmp(code, "RepoNotFound") == 0) || status == 401
           || status == 404)
    mg_err_set(err, MG_ERR_REMOTE, "repository '%s' not found%s (HTTP %ld)",
               repo,
               have_token ? " or not authorised"
                          : " or not authorised "
                            "(no token)",
               status);
  else if (status == 403)
    mg_err_set(err, MG_ERR_REMOTE, "access to '%s' denied (HTTP 403)%s%s", repo,
               msg ? ": " : "", msg ? msg : "");
  else
    mg_err_set(err, MG_ERR_REMOTE, "Hub request for '%s' failed: HTTP %ld",
               repo, status);
  free(code);
  free(msg);
  return -1;
}

struct mg_hf_gitsha {
  struct mg_digest_md *md;
};

struct mg_hf_gitsha *mg_hf_gitsha_new(uint64_t len)
{
  struct mg_hf_gitsha *g = mg_xmalloc(sizeof(*g));
  char head[40];
  int n = snprintf(head, sizeof(head), "blob %llu", (unsigned long long)len);

  g->md = mg_digest_md_new("sha1");
  mg_digest_md_update(g->md, head, (size_t)n + 1);
  return g;
}

void mg_hf_gitsha_update(struct mg_hf_gitsha *g, const void *p, size_t n)
{
  mg_digest_md_update(g->md, p, n);
}

void mg_hf_gitsha_finish(struct mg_hf_gitsha *g, char out[41])
{
  mg_digest_md_final_hex(g->md, out);
  mg_digest_md_free(g->md);
  free(g);
}
