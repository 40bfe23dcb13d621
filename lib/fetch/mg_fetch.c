#include "fetch/mg_fetch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fetch/mg_hashq.h"
#include "fetch/mg_hf.h"
#include "fetch/mg_oci.h"
#include "fetch/mg_s3.h"
#include "mg_archive.h"
#include "mg_buf.h"
#include "mg_digest.h"
#include "mg_err.h"
#include "mg_http.h"
#include "mg_io.h"
#include "mg_json.h"
#include "mg_mem.h"
#include "mg_note.h"
#include "mg_time.h"
#include "mg_tree.h"

#define LOCK_NAME ".mg-fetch.lock"
#define DOWNLOAD_NAME ".mg-download"
#define INCOMPLETE ".incomplete"

void mg_fetch_opts_init(struct mg_fetch_opts *o)
{
  memset(o, 0, sizeof(*o));
  o->extract = -1;
  o->jobs = 4;
  o->retries = 5;
  mg_archive_limits_init(&o->limits);
}

enum kind { K_HF, K_HTTP, K_S3, K_OCI, K_LOCAL };

static enum kind kind_of(const char *uri)
{
  if (strncmp(uri, "hf://", 5) == 0)
    return K_HF;
  if (strncmp(uri, "https://", 8) == 0 || strncmp(uri, "http://", 7) == 0)
    return K_HTTP;
  if (strncmp(uri, "s3://", 5) == 0)
    return K_S3;
  if (strncmp(uri, "oci://", 6) == 0)
    return K_OCI;
  return K_LOCAL;
}

static const char *const kind_names[] = { "hf", "https", "s3", "oci", "local" };

static int archive_name(const char *name)
{
  static const char *const sfx[] = { ".tar",     ".tar.gz",  ".tgz",
                                     ".tar.bz2", ".tbz2",    ".tar.xz",
                                     ".txz",     ".tar.zst", ".zip" };
  size_t n = strlen(name);

  for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
    size_t k = strlen(sfx[i]);
    if (n > k && strcmp(name + n - k, sfx[i]) == 0)
      return (int)k;
  }
  return 0;
}

/* The last path segment of a URL or path, without query or fragment. */
static char *base_name(const char *s)
{
  const char *end = s + strcspn(s, "?#");
  const char *b = end;

  while (b > s && b[-1] == '/')
    b--, end--;
  while (b > s && b[-1] != '/')
    b--;
  return mg_xstrndup(b, (size_t)(end - b));
}

char *mg_fetch_model_name(const char *source)
{
  char *name;
  int k;

  switch (kind_of(source)) {
  case K_HF: {
    const char *s = source + 5, *at = strchr(s, '@');
    const char *slash = memchr(s, '/', at ? (size_t)(at - s) : strlen(s));
    const char *start = slash ? slash + 1 : s;
    return mg_xstrndup(start, at ? (size_t)(at - start) : strlen(start));
  }
  case K_OCI: {
    const char *s = source + 6, *at = strchr(s, '@'), *slash;
    size_t n = at ? (size_t)(at - s) : strlen(s);
    char *repo = mg_xstrndup(s, n), *colon;
    slash = strrchr(repo, '/');
    name = mg_xstrdup(slash ? slash + 1 : repo);
    colon = strchr(name, ':');
    if (colon)
      *colon = '\0';
    free(repo);
    return name;
  }
  default:
    name = base_name(source);
    k = archive_name(name);
    if (k)
      name[strlen(name) - (size_t)k] = '\0';
    if (!name[0] || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
      free(name);
      name = mg_xstrdup("model");
    }
    return name;
  }
}

/* ---- the file list ---- */

struct item {
  char *path;
  char *url;
  char *get_url;  /* after redirects; NULL until resolved */
  int send_token; /* the token goes to get_url (same origin) */
  uint64_t size;
  int has_size;
  char want_sha256[MG_DIGEST_SHA256_HEX_LEN + 1];
  char want_git[41];
  char want_md5[33]; /* S3 single-part ETag */
  char sha256[MG_DIGEST_SHA256_HEX_LEN + 1];
  char *etag; /* S3: as listed, for If-Match */
  char *key;  /* S3: the object key */
  int s3;     /* an S3 object: its digests come with the GET */
  uint64_t got;
  const char *verified_by;
};

struct fetch {
  const struct mg_fetch_opts *o;
  char *dest;
  char *staging;
  int stagefd;
  int lockfd;
  struct item *items;
  size_t n, cap;
  uint64_t total;      /* bytes received or copied so far */
  uint64_t expected;   /* bytes the listing announced (0: unknown) */
  const char *label;   /* what the progress reports name */
  const char *hf_repo; /* for Hub error messages */
  const struct mg_http_opts *dl_http; /* downloads: NULL for o->http */
  char **dl_hdrs;                     /* extra download headers (S3) */
  const char *s3_bucket;              /* for S3 error messages */
};

/* Reports progress to the caller's callback, if any (the library never
 * prints). */
static void report_progress(const struct fetch *f, int final)
{
  if (f->o->progress)
    f->o->progress(f->o->progress_arg, f->label, f->total, f->expected, final);
}

static struct item *add_item(struct fetch *f, const char *path)
{
  struct item *it;

  if (f->n == f->cap) {
    f->cap = f->cap ? f->cap * 2 : 16;
    f->items = mg_xreallocarray(f->items, f->cap, sizeof(*f->items));
  }
  it = &f->items[f->n++];
  memset(it, 0, sizeof(*it));
  it->path = mg_xstrdup(path);
  return it;
}

static int on_extracted(void *arg, const char *path, uint64_t size,
                        const char sha256[MG_DIGEST_SHA256_HEX_LEN + 1],
                        struct mg_err *err)
{
  struct fetch *f = arg;
  struct item *it = add_item(f, path);

  (void)err;
  it->size = it->got = size;
  it->has_size = 1;
  memcpy(it->sha256, sha256, MG_DIGEST_SHA256_HEX_LEN + 1);
  it->verified_by = "extracted";
  return 0;
}

/* ---- staging ---- */

static int stage_open(struct fetch *f, struct mg_err *err)
{
  struct stat sb;

  f->stagefd = f->lockfd = -1;
  f->staging = mg_xasprintf("%s.partial", f->dest);
  if (stat(f->dest, &sb) == 0 && !f->o->force)
    return mg_err_set(err, MG_ERR_IO,
                      "destination '%s' exists (use --force to replace it)",
                      f->dest);
  /* "models/granite" in a fresh directory: make "models" first. */
  {
    char *parent = mg_xstrdup(f->dest);
    char *slash = strrchr(parent, '/');
    int rc = 0;

    if (slash && slash != parent) {
      *slash = '\0';
      rc = mg_io_mkdirs(parent, err);
    }
    free(parent);
    if (rc < 0)
      return -1;
  }
  if (mkdir(f->staging, 0755) < 0 && errno != EEXIST)
    return mg_err_errno(err, MG_ERR_IO, "cannot create '%s'", f->staging);
  f->stagefd =
      open(f->staging, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (f->stagefd < 0)
    return mg_err_errno(err, MG_ERR_IO, "cannot open '%s'", f->staging);
  f->lockfd = openat(f->stagefd, LOCK_NAME,
                     O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (f->lockfd < 0)
    return mg_err_errno(err, MG_ERR_IO, "cannot lock '%s'", f->staging);
  if (flock(f->lockfd, LOCK_EX | LOCK_NB) < 0)
    return mg_err_set(err, MG_ERR_IO, "another model-fetch is writing '%s'",
                      f->dest);
  return 0;
}

/* Moves the finished staging directory to the destination. */
static int stage_commit(struct fetch *f, struct mg_err *err)
{
  struct stat sb;
  char *old = NULL;
  int rc = -1;

  unlinkat(f->stagefd, LOCK_NAME, 0);
  unlinkat(f->stagefd, DOWNLOAD_NAME, 0);
  if (stat(f->dest, &sb) == 0) {
    old = mg_xasprintf("%s.old-%ld", f->dest, (long)getpid());
    if (rename(f->dest, old) < 0) {
      mg_err_errno(err, MG_ERR_IO, "cannot replace '%s'", f->dest);
      goto out;
    }
  }
  if (rename(f->staging, f->dest) < 0) {
    mg_err_errno(err, MG_ERR_IO, "cannot rename '%s' to '%s'", f->staging,
                 f->dest);
    if (old)
      (void)rename(old, f->dest);
    goto out;
  }
  if (old && mg_tree_remove(old, err) < 0)
    goto out;
  rc = 0;
out:
  free(old);
  return rc;
}

static void stage_close(struct fetch *f, int discard)
{
  if (f->lockfd >= 0)
    close(f->lockfd);
  if (f->stagefd >= 0)
    close(f->stagefd);
  f->lockfd = f->stagefd = -1;
  if (discard && f->staging)
    (void)mg_tree_remove(f->staging, NULL);
}

/* ---- archives ---- */

/*
 * The single directory every extracted file lies below ("model-v1" for
 * model-v1/config.json, model-v1/model.safetensors), or NULL when files
 * sit at the top or below different directories. caller owns.
 */
static char *common_top_dir(const struct fetch *f, size_t first)
{
  const char *top = NULL;
  size_t len = 0;

  for (size_t i = first; i < f->n; i++) {
    const char *p = f->items[i].path, *slash = strchr(p, '/');
    if (!slash)
      return NULL;
    if (!top) {
      top = p;
      len = (size_t)(slash - p);
    } else if ((size_t)(slash - p) != len || strncmp(p, top, len) != 0) {
      return NULL;
    }
  }
  return top ? mg_xstrndup(top, len) : NULL;
}

/*
 * Strips an archive's single top-level directory, as tar
 * --strip-components=1 would: its entries move up into the staging
 * directory. Nothing moves when a name would collide with one already
 * there (the staging lock, a partial download); the directory is kept.
 */
static int strip_top_dir(struct fetch *f, size_t first, struct mg_err *err)
{
  char *top = common_top_dir(f, first), *tmp = NULL;
  int dfd = -1, rc = -1;
  DIR *d = NULL;
  struct dirent *e;
  size_t tl;

  if (!top)
    return 0;
  tl = strlen(top);
  {
    /* A link's target is relative to where it sits: moving links could
     * make one leave the destination. Keep the directory then. */
    char *full = mg_tree_join(f->staging, top);
    struct mg_tree t;
    int links = 0;
    if (mg_tree_list(full, NULL, &t, err) < 0) {
      free(full);
      goto out;
    }
    for (size_t i = 0; i < t.n; i++)
      links |= t.v[i].type != MG_TREE_FILE;
    mg_tree_release(&t);
    free(full);
    if (links) {
      mg_note_send(&f->o->note,
                   "keeping the top-level directory '%s': it holds links", top);
      rc = 0;
      goto out;
    }
  }
  tmp = mg_xasprintf(".mg-strip-%ld", (long)getpid());
  dfd =
      openat(f->stagefd, top, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0) {
    mg_err_errno(err, MG_ERR_IO, "cannot open '%s'", top);
    goto out;
  }
  d = fdopendir(dfd);
  if (!d) {
    mg_err_errno(err, MG_ERR_IO, "cannot read '%s'", top);
    goto out;
  }
  dfd = -1;
  while ((e = readdir(d))) {
    struct stat sb;
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0
        || strcmp(e->d_name, top) == 0)
      continue;
    if (fstatat(f->stagefd, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
      mg_note_send(&f->o->note,
                   "keeping the top-level directory '%s': '%s' would collide",
                   top, e->d_name);
      rc = 0;
      goto out;
    }
  }
  closedir(d);
  d = NULL;
  /* Rename the directory aside first: it may hold an entry of its own
   * name (model-v1/model-v1/...). */
  if (renameat(f->stagefd, top, f->stagefd, tmp) < 0) {
    mg_err_errno(err, MG_ERR_IO, "cannot rename '%s'", top);
    goto out;
  }
  dfd =
      openat(f->stagefd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  d = dfd >= 0 ? fdopendir(dfd) : NULL;
  if (!d) {
    mg_err_errno(err, MG_ERR_IO, "cannot read '%s'", top);
    goto out;
  }
  while ((e = readdir(d))) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    if (renameat(dfd, e->d_name, f->stagefd, e->d_name) < 0) {
      mg_err_errno(err, MG_ERR_IO, "cannot move '%s/%s'", top, e->d_name);
      goto out;
    }
  }
  if (unlinkat(f->stagefd, tmp, AT_REMOVEDIR) < 0) {
    mg_err_errno(err, MG_ERR_IO, "cannot remove '%s'", top);
    goto out;
  }
  for (size_t i = first; i < f->n; i++)
    memmove(f->items[i].path, f->items[i].path + tl + 1,
            strlen(f->items[i].path + tl + 1) + 1);
  mg_note_send(&f->o->note, "stripped the archive's top-level directory '%s'",
               top);
  rc = 0;
out:
  if (d)
    closedir(d);
  else if (dfd >= 0)
    close(dfd);
  free(top);
  free(tmp);
  return rc;
}

/* Extracts archive into the staging directory, then strips a single
 * top-level directory unless keep_top_dir. */
static int extract_into_staging(struct fetch *f, const char *archive,
                                struct mg_err *err)
{
  size_t first = f->n;

  if (mg_archive_extract(archive, f->staging, NULL, 0, &f->o->limits,
                         &(struct mg_archive_file_cb){ on_extracted, f }, NULL,
                         err)
      < 0)
    return -1;
  return f->o->keep_top_dir ? 0 : strip_top_dir(f, first, err);
}

/* ---- local copies ---- */

static int copy_file(struct fetch *f, const char *src, const char *rel,
                     struct mg_err *err)
{
  char buf[1 << 16];
  char *tmp = mg_xasprintf("%s" INCOMPLETE, rel);
  struct mg_digest_sha256 *h = mg_digest_sha256_new();
  struct item *it;
  uint64_t got = 0;
  int in, out = -1, rc = -1;

  in = open(src, O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    mg_err_errno(err, MG_ERR_IO, "cannot open '%s'", src);
    goto done;
  }
  out = mg_archive_open_in(f->stagefd, tmp, O_TRUNC, 0644, err);
  if (out < 0)
    goto done;
  for (;;) {
    ssize_t n = read(in, buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      mg_err_errno(err, MG_ERR_IO, "cannot read '%s'", src);
      goto done;
    }
    if (n == 0)
      break;
    mg_digest_sha256_update(h, buf, (size_t)n);
    if (mg_io_write_fd(out, rel, buf, (size_t)n, err) < 0)
      goto done;
    got += (uint64_t)n;
    f->total += (uint64_t)n;
    report_progress(f, 0);
  }
  if (close(out) < 0) {
    out = -1;
    mg_err_errno(err, MG_ERR_IO, "cannot write '%s'", rel);
    goto done;
  }
  out = -1;
  if (renameat(f->stagefd, tmp, f->stagefd, rel) < 0) {
    mg_err_errno(err, MG_ERR_IO, "cannot rename to '%s'", rel);
    goto done;
  }
  it = add_item(f, rel);
  it->size = it->got = got;
  it->has_size = 1;
  mg_digest_sha256_final_hex(h, it->sha256);
  it->verified_by = "copied";
  rc = 0;
done:
  if (in >= 0)
    close(in);
  if (out >= 0)
    close(out);
  mg_digest_sha256_free(h);
  free(tmp);
  return rc;
}

static int fetch_local(struct fetch *f, const char *src, struct mg_err *err)
{
  static const char *const skip[] = { ".git", NULL };
  struct mg_tree t;
  struct stat sb;
  int rc = 0;

  if (strncmp(src, "file://", 7) == 0)
    src += 7;
  if (stat(src, &sb) < 0)
    return mg_err_errno(err, MG_ERR_IO, "cannot read source '%s'", src);
  if (!S_ISDIR(sb.st_mode)) {
    char *name = base_name(src);
    int ex = f->o->extract < 0 ? archive_name(name) != 0 : f->o->extract;
    if (ex)
      rc = extract_into_staging(f, src, err);
    else
      rc = copy_file(f, src, name, err);
    free(name);
    return rc;
  }
  if (mg_tree_list(src, skip, &t, err) < 0)
    return -1;
  for (size_t i = 0; i < t.n && rc == 0; i++) {
    char *full;
    if (!mg_hf_match(t.v[i].path, f->o->include, f->o->exclude))
      continue;
    if (t.v[i].type != MG_TREE_FILE) {
      rc = mg_err_set(err, MG_ERR_DATA,
                      "source '%s' holds '%s', which is "
                      "not a regular file",
                      src, t.v[i].path);
      break;
    }
    full = mg_tree_join(src, t.v[i].path);
    rc = copy_file(f, full, t.v[i].path, err);
    free(full);
  }
  mg_tree_release(&t);
  return rc;
}

/* ---- downloads ---- */

struct xfer {
  struct fetch *f;
  struct item *it;
  struct mg_http_multi *m;
  char *tmp;
  int fd;
  struct mg_digest_sha256 *h;
  struct mg_hf_gitsha *g;
  struct mg_digest_md *md5; /* S3 objects whose only digest is an MD5 ETag */
  uint64_t bytes;
  long status;
  int bad;       /* a status we do not retry */
  int transient; /* a 429/5xx worth retrying */
  int too_big;
  int attempts;
  int running;
  int finished;
  long long retry_at;
  long id;
  char errmsg[200];
  const char **hdrs;
  char *auth;
  char *ifmatch;
  char hf_code[48];    /* X-Error-Code of a failed Hub response */
  char hf_msg[120];    /* X-Error-Message */
  struct mg_hashq *hq; /* the hashing worker, or NULL: inline */
  struct mg_hashq_stream hs;
};

/* The digests of bytes p[0..n): on the hashing worker when there is one. */
static void hash_bytes(void *arg, const void *p, size_t n)
{
  struct xfer *x = arg;

  mg_digest_sha256_update(x->h, p, n);
  if (x->g)
    mg_hf_gitsha_update(x->g, p, n);
  if (x->md5)
    mg_digest_md_update(x->md5, p, n);
}

/* Every byte written so far is hashed: the contexts are ours again. */
static void hash_sync(struct xfer *x)
{
  if (x->hq)
    mg_hashq_sync(x->hq, &x->hs);
}

static void xfer_reset_hash(struct xfer *x)
{
  hash_sync(x);
  mg_digest_sha256_free(x->h);
  x->h = mg_digest_sha256_new();
  if (x->g) {
    char junk[41];
    mg_hf_gitsha_finish(x->g, junk);
    x->g = NULL;
  }
  if (x->it->want_git[0] && x->it->has_size)
    x->g = mg_hf_gitsha_new(x->it->size);
  mg_digest_md_free(x->md5);
  x->md5 = NULL;
  if (x->it->want_md5[0] && !x->it->want_sha256[0])
    x->md5 = mg_digest_md_new("md5");
}

/* Opens the partial file, hashing what an earlier run left in it. */
static int xfer_open(struct xfer *x, struct mg_err *err)
{
  struct stat sb;
  char buf[1 << 16];

  x->fd = mg_archive_open_in(x->f->stagefd, x->tmp, 0, 0644, err);
  if (x->fd < 0)
    return -1;
  xfer_reset_hash(x);
  x->bytes = 0;
  if (fstat(x->fd, &sb) < 0)
    return mg_err_errno(err, MG_ERR_IO, "cannot stat '%s'", x->tmp);
  if (sb.st_size > 0 && x->it->has_size && (uint64_t)sb.st_size < x->it->size) {
    for (;;) {
      ssize_t n = read(x->fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return mg_err_errno(err, MG_ERR_IO, "cannot read '%s'", x->tmp);
      if (n == 0)
        break;
      hash_bytes(x, buf, (size_t)n);
      x->bytes += (uint64_t)n;
    }
    mg_note_send(&x->f->o->note, "resuming '%s' at byte %llu", x->it->path,
                 (unsigned long long)x->bytes);
  } else if (sb.st_size > 0 && ftruncate(x->fd, 0) < 0) {
    return mg_err_errno(err, MG_ERR_IO, "cannot truncate '%s'", x->tmp);
  }
  if (lseek(x->fd, (off_t)x->bytes, SEEK_SET) < 0)
    return mg_err_errno(err, MG_ERR_IO, "cannot seek '%s'", x->tmp);
  x->f->total += x->bytes;
  return 0;
}

/* S3: the digests come with the response (mg_s3.h says which count). */
static void s3_digests(struct xfer *x)
{
  struct item *it = x->it;
  struct mg_s3_digest d;
  char *cs = mg_http_multi_header(x->m, x->id, "x-amz-checksum-sha256");
  char *meta = mg_http_multi_header(x->m, x->id, "x-amz-meta-sha256");

  mg_s3_digest_from(cs, meta, NULL, &d);
  if (d.sha256[0] && !it->want_sha256[0]) {
    memcpy(it->want_sha256, d.sha256, sizeof(it->want_sha256));
    mg_digest_md_free(x->md5);
    x->md5 = NULL;
  }
  free(cs);
  free(meta);
}

static void copy_header(struct xfer *x, const char *name, char *out, size_t n)
{
  char *v = mg_http_multi_header(x->m, x->id, name);

  (void)snprintf(out, n, "%s", v ? v : "");
  free(v);
}

static void on_headers(void *arg, long status, long long t)
{
  struct xfer *x = arg;

  (void)t;
  x->status = status;
  if (status == 200 && x->bytes > 0) {
    /* The server ignored Range: start over. */
    mg_note_send(&x->f->o->note, "server ignored Range for '%s': restarting",
                 x->it->path);
    x->f->total -= x->bytes;
    if (ftruncate(x->fd, 0) < 0 || lseek(x->fd, 0, SEEK_SET) < 0)
      x->bad = 1;
    x->bytes = 0;
    xfer_reset_hash(x);
  } else if (status == 429 || (status >= 500 && status != 501)) {
    x->transient = 1;
  } else if (status >= 300 && status < 400) {
    (void)snprintf(x->errmsg, sizeof(x->errmsg),
                   "download of '%s' failed: HTTP %ld redirect without a "
                   "usable Location",
                   x->it->path, status);
    x->bad = 1;
  } else if (status != 200 && status != 206) {
    x->bad = 1;
    if (x->f->hf_repo) {
      copy_header(x, "X-Error-Code", x->hf_code, sizeof(x->hf_code));
      copy_header(x, "X-Error-Message", x->hf_msg, sizeof(x->hf_msg));
    }
  }
  if ((status == 200 || status == 206) && x->it->s3)
    s3_digests(x);
}

static int on_data(void *arg, const char *p, size_t n, long long t)
{
  struct xfer *x = arg;

  (void)t;
  if (x->bad || x->transient)
    return 0;
  if (x->it->has_size && x->bytes + n > x->it->size) {
    x->too_big = 1;
    return -1;
  }
  for (size_t off = 0; off < n;) {
    ssize_t w = write(x->fd, p + off, n - off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0) {
      (void)snprintf(x->errmsg, sizeof(x->errmsg), "cannot write '%s': %s",
                     x->it->path, strerror(errno));
      return -1;
    }
    off += (size_t)w;
  }
  if (x->hq)
    mg_hashq_add(x->hq, &x->hs, p, n);
  else
    hash_bytes(x, p, n);
  x->bytes += n;
  x->f->total += n;
  return 0;
}

static long long backoff_ns(int attempt)
{
  long long ms = 200LL << (attempt > 6 ? 6 : attempt);

  return ms * 1000000LL;
}

static void on_done(void *arg, int ok, long status, const char *errmsg,
                    long long t)
{
  struct xfer *x = arg;
  int max = x->f->o->retries;

  x->running = 0;
  x->attempts++;
  if (x->errmsg[0])
    return;
  if (x->too_big) {
    (void)snprintf(x->errmsg, sizeof(x->errmsg),
                   "corrupt download '%s': more than the %llu bytes listed",
                   x->it->path, (unsigned long long)x->it->size);
    return;
  }
  if (x->bad) {
    long st = x->status ? x->status : status;
    struct mg_err e = MG_ERR_INIT;
    if (x->f->hf_repo) {
      char *h = mg_xasprintf("X-Error-Code: %s\r\nX-Error-Message: %s\r\n",
                             x->hf_code, x->hf_msg);
      mg_hf_error(st, h, x->f->hf_repo, x->it->path, x->auth != NULL, &e);
      free(h);
    } else if (x->it->s3) {
      char *what = mg_xasprintf("s3://%s/%s", x->f->s3_bucket, x->it->key);
      mg_s3_error(st, NULL, 0, what, &e);
      free(what);
    } else {
      mg_err_set(&e, MG_ERR_REMOTE, "download of '%s' failed: HTTP %ld",
                 x->it->path, st);
    }
    (void)snprintf(x->errmsg, sizeof(x->errmsg), "%s", e.msg);
    return;
  }
  if (!ok || x->transient) {
    if (x->attempts <= max) {
      x->retry_at = t + backoff_ns(x->attempts - 1);
      x->transient = 0;
      return;
    }
    if (x->transient)
      (void)snprintf(x->errmsg, sizeof(x->errmsg),
                     "download of '%s' failed: HTTP %ld after %d attempts",
                     x->it->path, x->status, x->attempts);
    else
      (void)snprintf(x->errmsg, sizeof(x->errmsg),
                     "download of '%s' failed after %d attempts: %s",
                     x->it->path, x->attempts, errmsg ? errmsg : "error");
    return;
  }
  x->finished = 1;
}

/* scheme://host[:port] of a URL, for same-origin checks; caller owns. */
static char *origin_of(const char *url)
{
  const char *p = strstr(url, "://");
  size_t n;

  if (!p)
    return mg_xstrdup("");
  p += 3;
  n = strcspn(p, "/?#");
  return mg_xstrndup(url, (size_t)(p - url) + n);
}

/*
 * Follows the redirects of it->url with HEAD requests, the way
 * huggingface_hub reads file metadata: the token travels only while the
 * origin stays the same, so it never reaches a CDN. The Hub's
 * X-Linked-Etag fills in a digest the listing did not give.
 */
static int resolve_url(struct fetch *f, struct item *it, const char *bearer,
                       struct mg_err *err)
{
  struct mg_http_opts ho = *f->o->http;
  char *url = mg_xstrdup(it->url), *origin = origin_of(it->url);
  char *auth = bearer ? mg_xasprintf("Authorization: Bearer %s", bearer) : NULL;
  int same = 1, rc = -1;

  ho.no_follow = 1;
  for (int hop = 0; hop < 10; hop++) {
    struct mg_http_response resp;
    struct mg_http_request req;
    const char *hdrs[3] = { "Accept-Encoding: identity", NULL, NULL };
    char *etag, *o;

    if (auth && same)
      hdrs[1] = auth;
    memset(&req, 0, sizeof(req));
    req.method = "HEAD";
    req.url = url;
    req.headers = hdrs;
    mg_http_response_init(&resp, 1 << 16);
    if (mg_http_do(&ho, &req, &resp, err) < 0) {
      mg_http_response_release(&resp);
      goto out;
    }
    etag = mg_http_response_header(&resp, "X-Linked-Etag");
    if (!etag && resp.status == 200 && resp.etag)
      etag = mg_xstrdup(resp.etag);
    if (etag && !it->want_sha256[0] && !it->want_git[0]) {
      char *e = etag + (strncmp(etag, "W/", 2) == 0 ? 2 : 0);
      size_t n;
      if (*e == '"')
        e++;
      n = strcspn(e, "\"");
      e[n] = '\0';
      for (char *c = e; *c; c++)
        if (*c >= 'A' && *c <= 'F')
          *c = (char)(*c - 'A' + 'a');
      if (n == 64 && mg_digest_sha256_hex_valid(e))
        memcpy(it->want_sha256, e, 65);
      else if (n == 40 && strspn(e, "0123456789abcdef") == 40)
        memcpy(it->want_git, e, 41);
    }
    free(etag);
    if (resp.status >= 300 && resp.status < 400 && resp.location) {
      char *next;
      if (strstr(resp.location, "://")) {
        next = mg_xstrdup(resp.location);
      } else if (resp.location[0] == '/') {
        char *org = origin_of(url);
        next = mg_xasprintf("%s%s", org, resp.location);
        free(org);
      } else {
        char *slash = strrchr(url, '/');
        next = mg_xasprintf("%.*s/%s", (int)(slash - url), url, resp.location);
      }
      free(url);
      url = next;
      o = origin_of(url);
      same = same && strcmp(o, origin) == 0;
      free(o);
      mg_http_response_release(&resp);
      continue;
    }
    if (resp.status == 405 || resp.status == 501 || resp.status == 403) {
      /* No HEAD here: GET the last URL and see. */
      mg_http_response_release(&resp);
      break;
    }
    if (resp.status != 200) {
      if (f->hf_repo)
        mg_hf_error(resp.status, resp.headers, f->hf_repo, it->path,
                    bearer != NULL, err);
      else
        mg_err_set(err, MG_ERR_REMOTE, "download of '%s' failed: HTTP %ld",
                   it->path, resp.status);
      mg_http_response_release(&resp);
      goto out;
    }
    mg_http_response_release(&resp);
    break;
  }
  it->get_url = url;
  it->send_token = same;
  url = NULL;
  rc = 0;
out:
  if (auth) {
    mg_wipe(auth, strlen(auth));
    free(auth);
  }
  free(url);
  free(origin);
  return rc;
}

/*
 * Only a Hub file whose listing gave no digest needs a HEAD first: the
 * Hub's X-Linked-Etag (on the redirect) or ETag then says what to check.
 * Everything else goes straight to GET.
 */
static int needs_resolve(const struct fetch *f, const struct item *it)
{
  return f->hf_repo && !it->want_sha256[0] && !it->want_git[0];
}

static int xfer_start(struct xfer *x, struct mg_err *err)
{
  struct mg_http_request req;
  struct mg_http_stream_cb cb = { x, on_headers, on_data, on_done };
  int h = 0;

  memset(&req, 0, sizeof(req));
  req.url = x->it->get_url;
  x->hdrs[h++] = "Accept-Encoding: identity";
  if (x->auth && x->it->send_token)
    x->hdrs[h++] = x->auth;
  for (size_t i = 0; x->f->dl_hdrs && x->f->dl_hdrs[i]; i++)
    x->hdrs[h++] = x->f->dl_hdrs[i];
  if (x->ifmatch)
    x->hdrs[h++] = x->ifmatch;
  x->hdrs[h] = NULL;
  req.headers = x->hdrs;
  req.resume_from = (long long)x->bytes;
  x->status = 0;
  x->bad = x->transient = 0;
  x->id = mg_http_multi_add(x->m, &req, &cb, err);
  if (x->id < 0)
    return -1;
  x->running = 1;
  x->retry_at = 0;
  return 0;
}

/* Checks the finished file against the source's digests and renames it. */
static int xfer_finish(struct xfer *x, struct mg_err *err)
{
  struct item *it = x->it;
  char git[41];

  hash_sync(x);
  mg_digest_sha256_final_hex(x->h, it->sha256);
  it->got = x->bytes;
  if (x->g) {
    mg_hf_gitsha_finish(x->g, git);
    x->g = NULL;
  }
  if (close(x->fd) < 0) {
    x->fd = -1;
    return mg_err_errno(err, MG_ERR_IO, "cannot write '%s'", it->path);
  }
  x->fd = -1;
  if (it->has_size && it->got != it->size) {
    unlinkat(x->f->stagefd, x->tmp, 0);
    return mg_err_set(err, MG_ERR_REMOTE,
                      "corrupt download '%s': %llu bytes, the source lists "
                      "%llu",
                      it->path, (unsigned long long)it->got,
                      (unsigned long long)it->size);
  }
  if (it->want_sha256[0] && strcmp(it->want_sha256, it->sha256) != 0) {
    unlinkat(x->f->stagefd, x->tmp, 0);
    return mg_err_set(err, MG_ERR_REMOTE,
                      "corrupt download '%s': sha256 %s, the source lists "
                      "%s",
                      it->path, it->sha256, it->want_sha256);
  }
  if (it->want_git[0] && strcmp(it->want_git, git) != 0) {
    unlinkat(x->f->stagefd, x->tmp, 0);
    return mg_err_set(err, MG_ERR_REMOTE,
                      "corrupt download '%s': git blob %s, the source lists "
                      "%s",
                      it->path, git, it->want_git);
  }
  if (x->md5) {
    char md5[2 * MG_MD_MAX + 1];
    mg_digest_md_final_hex(x->md5, md5);
    if (strcmp(md5, it->want_md5) != 0) {
      unlinkat(x->f->stagefd, x->tmp, 0);
      return mg_err_set(err, MG_ERR_REMOTE,
                        "corrupt download '%s': md5 %s, the S3 ETag is %s",
                        it->path, md5, it->want_md5);
    }
  }
  it->verified_by = it->want_sha256[0] ? "sha256"
                    : it->want_git[0]  ? "git-sha1"
                    : x->md5           ? "md5-etag"
                                       : "none";
  if (renameat(x->f->stagefd, x->tmp, x->f->stagefd, it->path) < 0)
    return mg_err_errno(err, MG_ERR_IO, "cannot rename to '%s'", it->path);
  return 0;
}

static void xfer_release(struct xfer *x)
{
  hash_sync(x);
  if (x->fd >= 0)
    close(x->fd);
  mg_digest_sha256_free(x->h);
  mg_digest_md_free(x->md5);
  free(x->hdrs);
  free(x->ifmatch);
  if (x->g) {
    char junk[41];
    mg_hf_gitsha_finish(x->g, junk);
  }
  free(x->tmp);
}

/*
 * Downloads items [first, n) in parallel, each to "<path>.incomplete" in
 * the staging directory, verified, then renamed.
 */
static int download_all(struct fetch *f, size_t first, const char *bearer,
                        struct mg_err *err)
{
  const struct mg_fetch_opts *o = f->o;
  struct mg_http_opts ho = f->dl_http ? *f->dl_http : *o->http;
  struct mg_http_multi *m;
  size_t n = f->n - first, next = 0, done = 0, nh = 0;
  struct xfer *xs = mg_xcalloc(n + 1, sizeof(*xs));
  char *auth = bearer ? mg_xasprintf("Authorization: Bearer %s", bearer) : NULL;
  int running = 0, rc = -1;
  /* SHA-256 (and the git and MD5 digests) on a worker thread, overlapping
   * the download: 64 KiB blocks (they stay in the shared cache between
   * the copy and the hash: 1 MiB blocks cost 0.4 s more CPU per GiB),
   * 16 MiB in flight at most. */
  struct mg_hashq *hq = mg_hashq_new((size_t)64 << 10, 256);

  /* Redirects are followed by libcurl, which reports only the final
   * response and drops the Authorization header when a redirect leaves the
   * origin (host, port or scheme), so the Hub token never reaches a CDN. */
  ho.no_follow = 0;
  m = mg_http_multi_new(&ho, o->jobs);
  if (!m)
    MG_BUG("cannot start libcurl multi");
  while (f->dl_hdrs && f->dl_hdrs[nh])
    nh++;
  for (size_t i = 0; i < n; i++) {
    xs[i].f = f;
    xs[i].it = &f->items[first + i];
    xs[i].m = m;
    xs[i].fd = -1;
    xs[i].auth = auth;
    xs[i].hq = hq;
    xs[i].hs.fn = hash_bytes;
    xs[i].hs.arg = &xs[i];
    xs[i].tmp = mg_xasprintf("%s" INCOMPLETE, xs[i].it->path);
    xs[i].hdrs = mg_xcalloc(nh + 5, sizeof(*xs[i].hdrs));
    if (xs[i].it->etag)
      xs[i].ifmatch = mg_xasprintf("If-Match: %s", xs[i].it->etag);
  }
  while (done < n) {
    long long now = mg_time_now_ns();

    for (size_t i = 0; i < next; i++) {
      struct xfer *x = &xs[i];
      if (x->errmsg[0]) {
        mg_err_set(
            err, strstr(x->errmsg, "cannot write") ? MG_ERR_IO : MG_ERR_REMOTE,
            "%s", x->errmsg);
        if (strstr(x->errmsg, "corrupt"))
          unlinkat(f->stagefd, x->tmp, 0);
        goto out;
      }
      if (x->finished) {
        x->finished = 0;
        x->retry_at = -1;
        done++;
        running--;
        if (xfer_finish(x, err) < 0)
          goto out;
      } else if (!x->running && x->retry_at > 0 && x->retry_at <= now) {
        mg_note_send(&f->o->note, "retrying '%s' from byte %llu", x->it->path,
                     (unsigned long long)x->bytes);
        if (xfer_start(x, err) < 0)
          goto out;
      }
    }
    while (next < n && running < (o->jobs > 0 ? o->jobs : 4)) {
      struct xfer *x = &xs[next++];
      if (needs_resolve(f, x->it)) {
        if (resolve_url(f, x->it, bearer, err) < 0)
          goto out;
      } else {
        x->it->get_url = mg_xstrdup(x->it->url);
        x->it->send_token = 1;
      }
      if (xfer_open(x, err) < 0 || xfer_start(x, err) < 0)
        goto out;
      running++;
    }
    mg_http_multi_run(m, 50);
    report_progress(f, 0);
  }
  rc = 0;
out:
  mg_http_multi_free(m);
  for (size_t i = 0; i < n; i++)
    xfer_release(&xs[i]);
  mg_hashq_free(hq);
  free(xs);
  if (auth) {
    mg_wipe(auth, strlen(auth));
    free(auth);
  }
  return rc;
}

/* ---- sources ---- */

static int fetch_hf(struct fetch *f, struct mg_json *src, struct mg_err *err)
{
  const struct mg_fetch_opts *o = f->o;
  struct mg_hf_ref ref;
  struct mg_hf_listing l;
  struct mg_http_response resp;
  struct mg_http_request req;
  char *endpoint = NULL, *url = NULL, *auth = NULL;
  const char *hdrs[3];
  int rc = -1;

  memset(&l, 0, sizeof(l));
  if (mg_hf_parse(o->source, &ref, err) < 0)
    return -1;
  endpoint = mg_hf_endpoint(o->hf_endpoint);
  f->hf_repo = ref.repo;
  url = mg_hf_revision_url(endpoint, &ref);
  mg_http_response_init(&resp, 64 << 20);
  memset(&req, 0, sizeof(req));
  req.url = url;
  hdrs[0] = "Accept: application/json";
  hdrs[1] = NULL;
  if (o->token) {
    auth = mg_xasprintf("Authorization: Bearer %s", o->token);
    hdrs[1] = auth;
    hdrs[2] = NULL;
  }
  req.headers = hdrs;
  if (mg_http_do(o->http, &req, &resp, err) < 0)
    goto out;
  if (resp.status != 200) {
    mg_hf_error(resp.status, resp.headers, ref.repo, ref.revision,
                o->token != NULL, err);
    goto out;
  }
  if (mg_hf_parse_listing(resp.body.data, resp.body.len, o->include, o->exclude,
                          &l, err)
      < 0)
    goto out;
  if (!l.n) {
    mg_err_set(err, MG_ERR_DATA, "no files in '%s@%s' match the patterns",
               ref.repo, ref.revision);
    goto out;
  }
  for (size_t i = 0; i < l.n; i++) {
    struct item *it;
    if (l.files[i].has_size && l.files[i].size > MG_HF_MAX_HTTP_SIZE) {
      mg_err_set(err, MG_ERR_REMOTE,
                 "file '%s' is larger than 50 GB: the Hub serves it only "
                 "over Xet, which model-fetch does not speak",
                 l.files[i].path);
      goto out;
    }
    it = add_item(f, l.files[i].path);
    it->url = mg_hf_resolve_url(endpoint, ref.repo, l.commit, l.files[i].path);
    it->size = l.files[i].size;
    it->has_size = l.files[i].has_size;
    memcpy(it->want_sha256, l.files[i].sha256, sizeof(it->want_sha256));
    memcpy(it->want_git, l.files[i].git_sha1, sizeof(it->want_git));
    f->expected += it->size;
  }
  mg_json_set_string(src, "revision", l.commit);
  mg_json_set_string(src, "requested_revision", ref.revision);
  mg_json_set_string(src, "endpoint", endpoint);
  if (download_all(f, 0, o->token, err) < 0)
    goto out;
  rc = 0;
out:
  f->hf_repo = NULL;
  if (auth) {
    mg_wipe(auth, strlen(auth));
    free(auth);
  }
  mg_hf_listing_release(&l);
  mg_http_response_release(&resp);
  mg_hf_ref_release(&ref);
  free(endpoint);
  free(url);
  return rc;
}

/*
 * Extracts the downloaded archive (item 0, DOWNLOAD_NAME) into the staging
 * directory in place of the download.
 */
static int extract_download(struct fetch *f, struct mg_err *err)
{
  char *archive = mg_tree_join(f->staging, DOWNLOAD_NAME);
  int rc;

  free(f->items[0].path);
  free(f->items[0].url);
  free(f->items[0].get_url);
  free(f->items[0].etag);
  free(f->items[0].key);
  f->n = 0;
  rc = extract_into_staging(f, archive, err);
  if (rc == 0)
    unlink(archive);
  free(archive);
  return rc;
}

static int fetch_http(struct fetch *f, struct mg_err *err)
{
  const struct mg_fetch_opts *o = f->o;
  char *name = base_name(o->source);
  int ex = o->extract < 0 ? archive_name(name) != 0 : o->extract;
  struct item *it;
  int rc = -1;

  if (!name[0] || strcmp(name, "..") == 0 || strcmp(name, ".") == 0) {
    free(name);
    name = mg_xstrdup("download");
  }
  it = add_item(f, ex ? DOWNLOAD_NAME : name);
  it->url = mg_xstrdup(o->source);
  if (o->sha256) {
    if (!mg_digest_sha256_hex_valid(o->sha256)) {
      mg_err_set(err, MG_ERR_USAGE, "invalid --sha256 '%s'", o->sha256);
      goto out;
    }
    memcpy(it->want_sha256, o->sha256, sizeof(it->want_sha256));
  }
  if (download_all(f, 0, NULL, err) < 0)
    goto out;
  if (ex && extract_download(f, err) < 0)
    goto out;
  rc = 0;
out:
  free(name);
  return rc;
}

static int fetch_s3(struct fetch *f, struct mg_json *src, struct mg_err *err)
{
  const struct mg_fetch_opts *o = f->o;
  struct mg_s3_ref ref;
  struct mg_s3_listing l;
  struct mg_s3 *s3 = NULL;
  int rc = -1, ex = 0;

  memset(&l, 0, sizeof(l));
  if (mg_s3_parse(o->source, &ref, err) < 0)
    return -1;
  if (mg_s3_new(o->http, &o->s3, &s3, err) < 0)
    goto out;
  mg_json_set_string(src, "endpoint", mg_s3_endpoint(s3));
  mg_json_set_string(src, "region", mg_s3_region(s3));
  mg_json_set_string(src, "bucket", ref.bucket);
  mg_json_set_string(src, "prefix", ref.prefix);
  if (mg_s3_list(s3, &ref, &l, err) < 0)
    goto out;
  if (l.single)
    ex = o->extract < 0 ? archive_name(l.v[0].rel) != 0 : o->extract;
  for (size_t i = 0; i < l.n; i++) {
    struct item *it;
    struct mg_s3_digest d;
    if (!l.single && !mg_hf_match(l.v[i].rel, o->include, o->exclude))
      continue;
    it = add_item(f, ex ? DOWNLOAD_NAME : l.v[i].rel);
    it->url = mg_s3_url(s3, ref.bucket, l.v[i].key, NULL);
    it->size = l.v[i].size;
    it->has_size = 1;
    it->s3 = 1;
    it->key = mg_xstrdup(l.v[i].key);
    mg_s3_digest_from(NULL, NULL, l.v[i].etag, &d);
    memcpy(it->want_md5, d.md5, sizeof(it->want_md5));
    if (l.v[i].etag)
      it->etag = mg_xstrdup(l.v[i].etag);
    f->expected += it->size;
  }
  if (!f->n) {
    mg_err_set(err, MG_ERR_DATA, "no objects below '%s'%s", o->source,
               l.n ? " match the patterns" : "");
    goto out;
  }
  f->dl_http = mg_s3_http(s3);
  f->dl_hdrs = mg_s3_headers(
      s3, NULL, (const char *const[]){ "x-amz-checksum-mode: ENABLED", NULL });
  f->s3_bucket = ref.bucket;
  if (download_all(f, 0, NULL, err) < 0)
    goto out;
  if (ex && extract_download(f, err) < 0)
    goto out;
  rc = 0;
out:
  f->dl_http = NULL;
  f->s3_bucket = NULL;
  mg_s3_headers_free(f->dl_hdrs);
  f->dl_hdrs = NULL;
  mg_s3_listing_release(&l);
  mg_s3_free(s3);
  mg_s3_ref_release(&ref);
  return rc;
}

static int fetch_oci(struct fetch *f, struct mg_json *src, struct mg_err *err)
{
  const struct mg_fetch_opts *o = f->o;
  struct mg_oci_ref ref;
  struct mg_oci_client *c;
  struct mg_json *info = NULL;
  int rc;

  if (mg_oci_parse(o->source, &ref, err) < 0)
    return -1;
  c = mg_oci_client_new(o->http, o->oci_auth, o->oci_plain_http);
  mg_oci_client_set_note(c, &o->note);
  rc = mg_oci_pull(c, &ref, f->staging, &o->limits,
                   &(struct mg_archive_file_cb){ on_extracted, f }, &info, err);
  if (rc == 0) {
    const char *d = mg_json_string(mg_json_get(info, "manifest_digest"));
    /* Layers are verified and extracted in one pass: count the files. */
    for (size_t i = 0; i < f->n; i++)
      f->total += f->items[i].size;
    report_progress(f, 0);
    if (d)
      mg_json_set_string(src, "revision", d);
    mg_json_set(src, "oci", info);
    info = NULL;
  }
  mg_json_free(info);
  mg_oci_client_free(c);
  mg_oci_ref_release(&ref);
  return rc;
}

/* ---- the record ---- */

static int cmp_item(const void *a, const void *b)
{
  return strcmp(((const struct item *)a)->path, ((const struct item *)b)->path);
}

static const char *guess_format(const struct fetch *f)
{
  static const struct {
    const char *sfx, *fmt;
  } t[] = { { ".safetensors", "safetensors" },
            { ".gguf", "gguf" },
            { ".onnx", "onnx" },
            { ".bin", "pytorch" },
            { ".pt", "pytorch" },
            { ".pth", "pytorch" } };

  for (size_t k = 0; k < sizeof(t) / sizeof(t[0]); k++)
    for (size_t i = 0; i < f->n; i++) {
      size_t n = strlen(f->items[i].path), s = strlen(t[k].sfx);
      if (n > s && strcmp(f->items[i].path + n - s, t[k].sfx) == 0)
        return t[k].fmt;
    }
  return NULL;
}

static struct mg_json *files_json(struct fetch *f, uint64_t *total)
{
  struct mg_json *a = mg_json_new_array();

  *total = 0;
  qsort(f->items, f->n, sizeof(*f->items), cmp_item);
  for (size_t i = 0; i < f->n; i++) {
    struct mg_json *j = mg_json_new_object();
    mg_json_set_string(j, "path", f->items[i].path);
    mg_json_set_number(j, "size", (double)f->items[i].got);
    mg_json_set_string(j, "sha256", f->items[i].sha256);
    mg_json_set_string(j, "verified_by",
                       f->items[i].verified_by ? f->items[i].verified_by
                                               : "none");
    mg_json_append(a, j);
    *total += f->items[i].got;
  }
  return a;
}

static char *absolute(const char *p)
{
  char *r = realpath(p, NULL);

  return r ? r : mg_xstrdup(p);
}

static int push_oci(const struct mg_fetch_opts *o, const char *dir,
                    const struct mg_json *files, struct mg_json *dest,
                    struct mg_err *err)
{
  struct mg_oci_ref ref, base;
  struct mg_oci_client *c;
  struct mg_json *info = NULL;
  int rc = -1, have_base = 0;

  if (mg_oci_parse(o->dest, &ref, err) < 0)
    return -1;
  if (o->oci_base) {
    if (mg_oci_parse(o->oci_base, &base, err) < 0) {
      mg_oci_ref_release(&ref);
      return -1;
    }
    have_base = 1;
  }
  c = mg_oci_client_new(o->http, o->oci_auth, o->oci_plain_http);
  mg_oci_client_set_chunk_size(c, o->oci_chunk_size);
  mg_oci_client_set_note(c, &o->note);
  if (mg_oci_push_modelcar(c, &ref, dir, files, have_base ? &base : NULL, &info,
                           err)
      == 0) {
    mg_json_set_string(dest, "uri", mg_json_string(mg_json_get(info, "uri")));
    mg_json_set_string(dest, "kind", "oci");
    mg_json_set(dest, "oci", info);
    info = NULL;
    rc = 0;
  }
  mg_json_free(info);
  mg_oci_client_free(c);
  if (have_base)
    mg_oci_ref_release(&base);
  mg_oci_ref_release(&ref);
  return rc;
}

/* Uploads the files (model.files entries) in dir below the s3:// prefix. */
static int push_s3(const struct mg_fetch_opts *o, const char *dir,
                   const struct mg_json *files, struct mg_json *dest,
                   struct mg_err *err)
{
  struct mg_s3_ref ref;
  struct mg_s3 *s3 = NULL;
  struct mg_json *info = mg_json_new_object();
  uint64_t bytes = 0;
  size_t n = 0, mp = 0;
  int rc = -1;

  if (mg_s3_parse(o->dest, &ref, err) < 0) {
    mg_json_free(info);
    return -1;
  }
  if (mg_s3_new(o->http, &o->s3, &s3, err) < 0)
    goto out;
  for (struct mg_json *j = mg_json_first(files); j; j = mg_json_next(j)) {
    const char *path = mg_json_string(mg_json_get(j, "path"));
    const char *sha = mg_json_string(mg_json_get(j, "sha256"));
    double size = mg_json_number(mg_json_get(j, "size"));
    char *full = mg_tree_join(dir, path);
    char *key = ref.prefix[0] ? mg_xasprintf("%s/%s", ref.prefix, path)
                              : mg_xstrdup(path);
    unsigned parts = 0;
    int r = mg_s3_put_file(s3, ref.bucket, key, full, (uint64_t)size, sha,
                           &parts, err);
    mg_note_send(&o->note, "uploaded 's3://%s/%s'%s", ref.bucket, key,
                 parts ? " (multipart)" : "");
    free(full);
    free(key);
    if (r < 0)
      goto out;
    n++;
    mp += parts > 0;
    bytes += (uint64_t)size;
  }
  mg_json_set_string(info, "endpoint", mg_s3_endpoint(s3));
  mg_json_set_string(info, "region", mg_s3_region(s3));
  mg_json_set_string(info, "bucket", ref.bucket);
  mg_json_set_string(info, "prefix", ref.prefix);
  mg_json_set_number(info, "objects", (double)n);
  mg_json_set_number(info, "multipart_objects", (double)mp);
  mg_json_set_number(info, "bytes", (double)bytes);
  {
    char *uri = mg_xasprintf("s3://%s%s%s", ref.bucket,
                             ref.prefix[0] ? "/" : "", ref.prefix);
    mg_json_set_string(dest, "uri", uri);
    free(uri);
  }
  mg_json_set_string(dest, "kind", "s3");
  mg_json_set(dest, "s3", info);
  info = NULL;
  rc = 0;
out:
  mg_json_free(info);
  mg_s3_free(s3);
  mg_s3_ref_release(&ref);
  return rc;
}

int mg_fetch_run(const struct mg_fetch_opts *o, struct mg_json **model,
                 struct mg_err *err)
{
  struct fetch f;
  enum kind sk = kind_of(o->source);
  enum kind dk = o->dest ? kind_of(o->dest) : K_LOCAL;
  struct mg_json *m, *src, *dst, *files;
  char *name = mg_fetch_model_name(o->source), *dir = NULL, *tmpdir = NULL;
  const char *fmt;
  uint64_t total;
  char now[40];
  int rc = -1, local_src_push = 0;

  memset(&f, 0, sizeof(f));
  f.o = o;
  f.stagefd = f.lockfd = -1;
  *model = NULL;
  m = mg_json_new_object();
  src = mg_json_new_object();
  dst = mg_json_new_object();
  mg_json_set_string(src, "uri", o->source);
  mg_json_set_string(src, "kind", kind_names[sk]);
  if (dk == K_HF || dk == K_HTTP) {
    mg_err_set(err, MG_ERR_USAGE,
               "cannot write to '%s': destinations are "
               "directories, oci:// images and s3:// prefixes",
               o->dest);
    goto out;
  }
  if (dk == K_S3) {
    struct mg_s3_ref r;
    if (mg_s3_parse(o->dest, &r, err) < 0)
      goto out;
    mg_s3_ref_release(&r);
  }
  if ((dk == K_OCI || dk == K_S3) && sk == K_LOCAL) {
    struct stat sb;
    const char *s =
        strncmp(o->source, "file://", 7) == 0 ? o->source + 7 : o->source;
    local_src_push =
        stat(s, &sb) == 0 && S_ISDIR(sb.st_mode) && !o->include && !o->exclude;
  }
  if ((dk == K_OCI || dk == K_S3) && !local_src_push) {
    char tmpl[] = "/tmp/model-fetch-XXXXXX";
    const char *td = getenv("TMPDIR");
    tmpdir = td && *td ? mg_xasprintf("%s/model-fetch-XXXXXX", td)
                       : mg_xstrdup(tmpl);
    if (!mkdtemp(tmpdir)) {
      mg_err_errno(err, MG_ERR_IO, "cannot create a temporary directory");
      goto out;
    }
    f.dest = mg_xasprintf("%s/%s", tmpdir, name);
  } else if (dk == K_LOCAL) {
    f.dest = mg_xstrdup(o->dest ? o->dest : name);
    if (strncmp(f.dest, "file://", 7) == 0)
      memmove(f.dest, f.dest + 7, strlen(f.dest + 7) + 1);
  }
  f.label = name;
  if (local_src_push) {
    /* Hash the source in place; no copy needed. */
    const char *s =
        strncmp(o->source, "file://", 7) == 0 ? o->source + 7 : o->source;
    struct mg_tree t;
    if (mg_tree_list(s, (const char *const[]){ ".git", NULL }, &t, err) < 0)
      goto out;
    for (size_t i = 0; i < t.n; i++) {
      char *full = mg_tree_join(s, t.v[i].path);
      struct item *it;
      unsigned long long sz;
      if (t.v[i].type != MG_TREE_FILE) {
        mg_err_set(err, MG_ERR_DATA,
                   "source '%s' holds '%s', which is not "
                   "a regular file",
                   s, t.v[i].path);
        free(full);
        mg_tree_release(&t);
        goto out;
      }
      it = add_item(&f, t.v[i].path);
      if (mg_digest_sha256_file(full, it->sha256, &sz, err) < 0) {
        free(full);
        mg_tree_release(&t);
        goto out;
      }
      it->got = it->size = sz;
      it->verified_by = "local";
      free(full);
    }
    mg_tree_release(&t);
    dir = absolute(s);
  } else {
    if (stage_open(&f, err) < 0)
      goto out;
    switch (sk) {
    case K_HF:
      rc = fetch_hf(&f, src, err);
      break;
    case K_HTTP:
      rc = fetch_http(&f, err);
      break;
    case K_OCI:
      rc = fetch_oci(&f, src, err);
      break;
    case K_S3:
      rc = fetch_s3(&f, src, err);
      break;
    default:
      rc = fetch_local(&f, o->source, err);
      break;
    }
    if (rc < 0) {
      /* Partial downloads stay for a resume; extraction debris does not. */
      int keep = sk == K_HF
                 || ((sk == K_HTTP || sk == K_S3) && err->cat == MG_ERR_REMOTE);
      stage_close(&f, !keep);
      goto out;
    }
    rc = -1;
    if (!f.n) {
      mg_err_set(err, MG_ERR_DATA, "source '%s' holds no files", o->source);
      stage_close(&f, 1);
      goto out;
    }
    if (stage_commit(&f, err) < 0) {
      stage_close(&f, 0);
      goto out;
    }
    stage_close(&f, 0);
    dir = absolute(f.dest);
  }
  report_progress(&f, 1);
  files = files_json(&f, &total);
  if (dk == K_OCI || dk == K_S3) {
    if ((dk == K_OCI ? push_oci : push_s3)(o, dir, files, dst, err) < 0) {
      mg_json_free(files);
      goto out;
    }
    if (tmpdir) {
      free(dir);
      dir = NULL;
    }
  } else {
    char *uri = mg_xasprintf("file://%s", dir);
    mg_json_set_string(dst, "uri", uri);
    mg_json_set_string(dst, "kind", "dir");
    free(uri);
  }
  mg_json_set_string(m, "name", name);
  mg_json_set(m, "source", src);
  src = NULL;
  if (dir)
    mg_json_set_string(m, "path", dir);
  mg_json_set(m, "destination", dst);
  dst = NULL;
  fmt = guess_format(&f);
  if (fmt)
    mg_json_set_string(m, "format", fmt);
  mg_json_set(m, "files", files);
  mg_json_set_number(m, "total_bytes", (double)total);
  mg_time_rfc3339(now, sizeof(now));
  mg_json_set_string(m, "fetched_at", now);
  *model = m;
  m = NULL;
  rc = 0;
out:
  if (tmpdir)
    (void)mg_tree_remove(tmpdir, NULL);
  for (size_t i = 0; i < f.n; i++) {
    free(f.items[i].path);
    free(f.items[i].url);
    free(f.items[i].get_url);
    free(f.items[i].etag);
    free(f.items[i].key);
  }
  free(f.items);
  free(f.dest);
  free(f.staging);
  free(tmpdir);
  free(dir);
  free(name);
  mg_json_free(m);
  mg_json_free(src);
  mg_json_free(dst);
  return rc;
}
