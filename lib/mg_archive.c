#include "mg_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mg_buf.h"
#include "mg_digest.h"
#include "mg_err.h"
#include "mg_mem.h"

#define HEAD_MAX 64

void mg_archive_limits_init(struct mg_archive_limits *l)
{
  l->max_entries = 100000;
  l->max_entry_bytes = (uint64_t)1 << 40;
  l->max_total_bytes = (uint64_t)4 << 40;
}

int mg_archive_clean_path(const char *name, int rooted, char **out,
                          struct mg_err *err)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  const char *p = name, *s;

  *out = NULL;
  if (!name || !*name)
    return mg_err_set(err, MG_ERR_DATA, "unsafe path '': empty name");
  for (s = name; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == '\\')
      return mg_err_set(err, MG_ERR_DATA,
                        "unsafe path '%.200s': control character or "
                        "backslash",
                        name);
  if (*p == '/') {
    if (!rooted)
      return mg_err_set(err, MG_ERR_DATA, "unsafe path '%.200s': absolute",
                        name);
    p++;
  }
  while (*p) {
    const char *e = strchr(p, '/');
    size_t n = e ? (size_t)(e - p) : strlen(p);

    if (n == 2 && p[0] == '.' && p[1] == '.') {
      mg_buf_release(&b);
      return mg_err_set(err, MG_ERR_DATA,
                        "unsafe path '%.200s': '..' component", name);
    }
    if (n && !(n == 1 && p[0] == '.')) {
      if (b.len)
        mg_buf_addch(&b, '/', NULL);
      mg_buf_add(&b, p, n, NULL);
    }
    p += n;
    while (*p == '/')
      p++;
  }
  if (!b.len) {
    mg_buf_release(&b);
    return mg_err_set(err, MG_ERR_DATA, "unsafe path '%.200s': empty name",
                      name);
  }
  *out = mg_buf_detach(&b, NULL);
  return 0;
}

/*
 * Opens (creating when create is set) the directory named by the first n
 * bytes of relpath below dirfd, one component at a time and never through
 * a symlink. Returns a new descriptor (dirfd itself is dup'ed for n == 0).
 */
static int open_dir_in(int dirfd, const char *relpath, size_t n, int create,
                       struct mg_err *err)
{
  int fd = dup(dirfd);
  size_t i = 0;

  if (fd < 0)
    return mg_err_errno(err, MG_ERR_IO, "cannot open directory");
  while (i < n) {
    char comp[256];
    size_t j = i;
    int next;

    while (j < n && relpath[j] != '/')
      j++;
    if (j - i >= sizeof(comp)) {
      close(fd);
      return mg_err_set(err, MG_ERR_DATA,
                        "path component too long in "
                        "'%.200s'",
                        relpath);
    }
    memcpy(comp, relpath + i, j - i);
    comp[j - i] = '\0';
    next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0 && errno == ENOENT && create) {
      if (mkdirat(fd, comp, 0755) < 0 && errno != EEXIST) {
        mg_err_errno(err, MG_ERR_IO, "cannot create directory '%.*s'", (int)j,
                     relpath);
        close(fd);
        return -1;
      }
      next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (next < 0) {
      int e = errno;
      close(fd);
      if (e == ELOOP || e == ENOTDIR)
        return mg_err_set(err, MG_ERR_DATA,
                          "unsafe path '%.200s': '%.*s' is not a directory",
                          relpath, (int)j, relpath);
      errno = e;
      return mg_err_errno(err, MG_ERR_IO, "cannot open directory '%.*s'",
                          (int)j, relpath);
    }
    close(fd);
    fd = next;
    i = j + 1;
  }
  return fd;
}

static const char *last_component(const char *relpath)
{
  const char *s = strrchr(relpath, '/');

  return s ? s + 1 : relpath;
}

int mg_archive_open_in(int dirfd, const char *relpath, int flags, int mode,
                       struct mg_err *err)
{
  const char *base = last_component(relpath);
  size_t plen = base > relpath ? (size_t)(base - relpath - 1) : 0;
  int pfd = open_dir_in(dirfd, relpath, plen, 1, err);
  int fd;

  if (pfd < 0)
    return -1;
  fd = openat(pfd, base, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | flags,
              (mode_t)mode);
  if (fd < 0) {
    if (errno == EEXIST)
      mg_err_set(err, MG_ERR_DATA, "duplicate entry '%.200s'", relpath);
    else if (errno == ELOOP)
      mg_err_set(err, MG_ERR_DATA, "unsafe path '%.200s': is a symlink",
                 relpath);
    else
      mg_err_errno(err, MG_ERR_IO, "cannot create '%.200s'", relpath);
  }
  close(pfd);
  return fd;
}

/*
 * A link target is safe when it is relative, has ".." only as leading
 * components, and those do not climb above the destination. With ".."
 * only in front, every link resolves to a real directory inside the tree
 * followed by names that descend, so chains of links stay inside too.
 */
static int link_target_safe(const char *relpath, const char *target)
{
  int depth = 0, ups = 0, seen_name = 0;
  const char *p;

  if (!*target || *target == '/')
    return 0;
  for (p = relpath; *p; p++)
    if (*p == '/')
      depth++;
  p = target;
  while (*p) {
    const char *e = strchr(p, '/');
    size_t n = e ? (size_t)(e - p) : strlen(p);

    if (n == 2 && p[0] == '.' && p[1] == '.') {
      if (seen_name)
        return 0;
      ups++;
    } else if (n && !(n == 1 && p[0] == '.')) {
      seen_name = 1;
    }
    p += n;
    while (*p == '/')
      p++;
  }
  return ups <= depth;
}

static int arc_error(struct archive *a, const char *what, struct mg_err *err)
{
  const char *msg = archive_error_string(a);
  int e = archive_errno(a);

  if (e == ENOSPC || e == EIO || e == EACCES)
    return mg_err_set(err, MG_ERR_IO, "cannot read archive '%.200s': %s", what,
                      msg ? msg : "I/O error");
  return mg_err_set(err, MG_ERR_DATA, "corrupt archive '%.200s': %s", what,
                    msg ? msg : "unreadable");
}

static struct archive *reader_open(const char *path, struct mg_err *err)
{
  struct archive *a = archive_read_new();

  if (!a)
    MG_BUG("archive_read_new failed");
  archive_read_support_format_tar(a);
  archive_read_support_format_gnutar(a);
  archive_read_support_format_zip(a);
  archive_read_support_filter_gzip(a);
  archive_read_support_filter_bzip2(a);
  archive_read_support_filter_xz(a);
  archive_read_support_filter_zstd(a);
  if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) {
    if (archive_errno(a) == ENOENT || archive_errno(a) == EACCES)
      mg_err_set(err, MG_ERR_IO, "cannot open '%.200s': %s", path,
                 strerror(archive_errno(a)));
    else
      arc_error(a, path, err);
    archive_read_free(a);
    return NULL;
  }
  return a;
}

struct extract_state {
  struct archive *a;
  const char *archive;
  int destfd;
  const struct mg_archive_limits *lim;
  uint64_t total;
};

static int extract_file(struct extract_state *st, struct archive_entry *e,
                        const char *rel, const struct mg_archive_file_cb *cb,
                        struct mg_err *err)
{
  char buf[1 << 16];
  char hex[MG_DIGEST_SHA256_HEX_LEN + 1];
  struct mg_digest_sha256 *h;
  uint64_t size = 0;
  int fd, rc = -1;

  if (archive_entry_size_is_set(e)
      && (uint64_t)archive_entry_size(e) > st->lim->max_entry_bytes)
    return mg_err_set(err, MG_ERR_DATA,
                      "archive entry '%.200s' is larger than %llu bytes", rel,
                      (unsigned long long)st->lim->max_entry_bytes);
  fd = mg_archive_open_in(st->destfd, rel, O_EXCL, 0644, err);
  if (fd < 0)
    return -1;
  h = mg_digest_sha256_new();
  for (;;) {
    la_ssize_t n = archive_read_data(st->a, buf, sizeof(buf));
    if (n < 0) {
      arc_error(st->a, st->archive, err);
      goto out;
    }
    if (n == 0)
      break;
    size += (uint64_t)n;
    st->total += (uint64_t)n;
    if (size > st->lim->max_entry_bytes) {
      mg_err_set(err, MG_ERR_DATA,
                 "archive entry '%.200s' is larger than %llu bytes", rel,
                 (unsigned long long)st->lim->max_entry_bytes);
      goto out;
    }
    if (st->total > st->lim->max_total_bytes) {
      mg_err_set(err, MG_ERR_DATA,
                 "archive '%.200s' expands to more than %llu bytes",
                 st->archive, (unsigned long long)st->lim->max_total_bytes);
      goto out;
    }
    mg_digest_sha256_update(h, buf, (size_t)n);
    for (la_ssize_t off = 0; off < n;) {
      ssize_t w = write(fd, buf + off, (size_t)(n - off));
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0) {
        mg_err_errno(err, MG_ERR_IO, "cannot write '%.200s'", rel);
        goto out;
      }
      off += w;
    }
  }
  if (close(fd) < 0) {
    fd = -1;
    mg_err_errno(err, MG_ERR_IO, "cannot write '%.200s'", rel);
    goto out;
  }
  fd = -1;
  mg_digest_sha256_final_hex(h, hex);
  if (cb && cb->on_file && cb->on_file(cb->arg, rel, size, hex, err) < 0)
    goto out;
  rc = 0;
out:
  if (fd >= 0)
    close(fd);
  mg_digest_sha256_free(h);
  return rc;
}

static int extract_link(struct extract_state *st, const char *rel,
                        const char *target, struct mg_err *err)
{
  const char *base = last_component(rel);
  size_t plen = base > rel ? (size_t)(base - rel - 1) : 0;
  int pfd;

  if (!target || !link_target_safe(rel, target))
    return mg_err_set(err, MG_ERR_DATA,
                      "unsafe symlink '%.200s' -> '%.200s': points outside "
                      "the destination",
                      rel, target ? target : "");
  pfd = open_dir_in(st->destfd, rel, plen, 1, err);
  if (pfd < 0)
    return -1;
  if (symlinkat(target, pfd, base) < 0) {
    int e = errno;
    close(pfd);
    if (e == EEXIST)
      return mg_err_set(err, MG_ERR_DATA, "duplicate entry '%.200s'", rel);
    errno = e;
    return mg_err_errno(err, MG_ERR_IO, "cannot create symlink '%.200s'", rel);
  }
  close(pfd);
  return 0;
}

/* Strips prefix ("models/") from rel; NULL when rel is not below it. */
static const char *below_prefix(const char *rel, const char *prefix)
{
  size_t n;

  if (!prefix)
    return rel;
  n = strlen(prefix);
  while (n && prefix[n - 1] == '/')
    n--;
  if (strncmp(rel, prefix, n) != 0 || rel[n] != '/' || !rel[n + 1])
    return NULL;
  return rel + n + 1;
}

int mg_archive_extract(const char *archive, const char *destdir,
                       const char *prefix, unsigned flags,
                       const struct mg_archive_limits *lim,
                       const struct mg_archive_file_cb *cb, uint64_t *n_files,
                       struct mg_err *err)
{
  struct mg_archive_limits deflim;
  struct extract_state st;
  struct archive_entry *e;
  uint64_t entries = 0, files = 0;
  int rc = -1;

  if (!lim) {
    mg_archive_limits_init(&deflim);
    lim = &deflim;
  }
  memset(&st, 0, sizeof(st));
  st.archive = archive;
  st.lim = lim;
  st.destfd = open(destdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (st.destfd < 0)
    return mg_err_errno(err, MG_ERR_IO, "cannot open directory '%.200s'",
                        destdir);
  st.a = reader_open(archive, err);
  if (!st.a)
    goto out;
  for (;;) {
    int r = archive_read_next_header(st.a, &e);
    const char *name, *rel;
    char *clean = NULL;
    mode_t type;
    int ok;

    if (r == ARCHIVE_EOF)
      break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      arc_error(st.a, archive, err);
      goto out;
    }
    if (++entries > lim->max_entries) {
      mg_err_set(err, MG_ERR_DATA,
                 "archive '%.200s' has more than %llu "
                 "entries",
                 archive, (unsigned long long)lim->max_entries);
      goto out;
    }
    name = archive_entry_pathname(e);
    if (mg_archive_clean_path(name, (flags & MG_ARCHIVE_ROOTED) != 0, &clean,
                              err)
        < 0) {
      mg_err_prefix(err, "archive '%.200s'", archive);
      goto out;
    }
    rel = below_prefix(clean, prefix);
    if (!rel) {
      free(clean);
      continue;
    }
    type = archive_entry_filetype(e);
    if ((flags & MG_ARCHIVE_OCI)
        && strncmp(last_component(rel), ".wh.", 4) == 0) {
      mg_err_set(err, MG_ERR_DATA,
                 "archive '%.200s': whiteout entry "
                 "'%.200s' in the model tree",
                 archive, clean);
      free(clean);
      goto out;
    }
    if (archive_entry_hardlink(e)) {
      mg_err_set(err, MG_ERR_DATA,
                 "archive '%.200s': hard link '%.200s' refused", archive,
                 clean);
      free(clean);
      goto out;
    }
    if (type == AE_IFDIR) {
      int dfd = open_dir_in(st.destfd, rel, strlen(rel), 1, err);
      ok = dfd >= 0;
      if (ok)
        close(dfd);
    } else if (type == AE_IFREG) {
      ok = extract_file(&st, e, rel, cb, err) == 0;
      files += ok;
    } else if (type == AE_IFLNK) {
      ok = extract_link(&st, rel, archive_entry_symlink(e), err) == 0;
    } else {
      mg_err_set(err, MG_ERR_DATA,
                 "archive '%.200s': special file '%.200s' refused", archive,
                 clean);
      ok = 0;
    }
    free(clean);
    if (!ok)
      goto out;
  }
  if (n_files)
    *n_files = files;
  rc = 0;
out:
  if (st.a)
    archive_read_free(st.a);
  close(st.destfd);
  return rc;
}

int mg_archive_members(const char *archive, size_t max_member,
                       const struct mg_archive_member_cb *cb,
                       struct mg_err *err)
{
  struct archive *a = reader_open(archive, err);
  struct archive_entry *e;
  int rc = -1;

  if (!a)
    return -1;
  for (;;) {
    unsigned char head[HEAD_MAX];
    size_t hl = 0;
    uint64_t size;
    const char *name;
    struct mg_buf data;
    int r = archive_read_next_header(a, &e);

    if (r == ARCHIVE_EOF)
      break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      arc_error(a, archive, err);
      goto out;
    }
    if (archive_entry_filetype(e) != AE_IFREG)
      continue;
    name = archive_entry_pathname(e);
    if (!name)
      name = "";
    size = archive_entry_size_is_set(e) ? (uint64_t)archive_entry_size(e) : 0;
    while (hl < HEAD_MAX) {
      la_ssize_t n = archive_read_data(a, head + hl, HEAD_MAX - hl);
      if (n < 0) {
        arc_error(a, archive, err);
        goto out;
      }
      if (n == 0)
        break;
      hl += (size_t)n;
    }
    if (!cb->want(cb->arg, name, size, head, hl))
      continue;
    mg_buf_init(&data, max_member);
    if (mg_buf_add(&data, head, hl, NULL) < 0)
      size = (uint64_t)-1;
    for (;;) {
      char buf[1 << 16];
      la_ssize_t n = archive_read_data(a, buf, sizeof(buf));
      if (n < 0) {
        mg_buf_release(&data);
        arc_error(a, archive, err);
        goto out;
      }
      if (n == 0)
        break;
      if (mg_buf_add(&data, buf, (size_t)n, NULL) < 0) {
        size = (uint64_t)-1;
        break;
      }
    }
    r = size == (uint64_t)-1
            ? cb->got(cb->arg, name, NULL, 0, err)
            : cb->got(cb->arg, name, (const unsigned char *)data.data, data.len,
                      err);
    mg_buf_release(&data);
    if (r < 0)
      goto out;
  }
  rc = 0;
out:
  archive_read_free(a);
  return rc;
}

struct layer_out {
  int fd;
  const char *path;
  struct mg_digest_sha256 *h;
  uint64_t size;
  int failed;
  int err_no;
};

static la_ssize_t layer_write(struct archive *a, void *arg, const void *p,
                              size_t n)
{
  struct layer_out *o = arg;
  const char *c = p;
  size_t left = n;

  (void)a;
  while (left) {
    ssize_t w = write(o->fd, c, left);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0) {
      o->failed = 1;
      o->err_no = errno;
      return -1;
    }
    c += w;
    left -= (size_t)w;
  }
  mg_digest_sha256_update(o->h, p, n);
  o->size += n;
  return (la_ssize_t)n;
}

static void layer_entry(struct archive_entry *e, const char *path, mode_t type,
                        int perm, int64_t size)
{
  archive_entry_clear(e);
  archive_entry_set_pathname(e, path);
  archive_entry_set_filetype(e, type);
  archive_entry_set_perm(e, perm);
  archive_entry_set_uid(e, 0);
  archive_entry_set_gid(e, 0);
  archive_entry_set_uname(e, "");
  archive_entry_set_gname(e, "");
  archive_entry_set_mtime(e, 0, 0);
  archive_entry_set_size(e, size);
}

/*
 * Streams src through libarchive into out_path, hashing what is written:
 * as a one-file GNU tar layer named arcpath (with its parent directories),
 * or, when arcpath is NULL, as a bare deterministic gzip stream.
 */
static int write_through(const char *src, const char *arcpath,
                         const char *out_path,
                         char sha256[MG_DIGEST_SHA256_HEX_LEN + 1],
                         uint64_t *size_out, struct mg_err *err)
{
  struct layer_out o = { -1, out_path, NULL, 0, 0, 0 };
  struct archive *a = NULL;
  struct archive_entry *e = NULL;
  struct stat sb;
  char buf[1 << 16];
  int in = -1, rc = -1;

  in = open(src, O_RDONLY | O_CLOEXEC);
  if (in < 0)
    return mg_err_errno(err, MG_ERR_IO, "cannot open '%.200s'", src);
  if (fstat(in, &sb) < 0 || !S_ISREG(sb.st_mode)) {
    mg_err_set(err, MG_ERR_IO, "cannot read '%.200s': not a regular file", src);
    goto out;
  }
  o.fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (o.fd < 0) {
    mg_err_errno(err, MG_ERR_IO, "cannot create '%.200s'", out_path);
    goto out;
  }
  o.h = mg_digest_sha256_new();
  a = archive_write_new();
  e = archive_entry_new();
  if (!a || !e)
    MG_BUG("libarchive allocation failed");
  if (!arcpath) {
    /* A bare gzip stream with no name and no time in its header, so the
     * same input always gives the same bytes. */
    archive_write_set_format_raw(a);
    archive_write_add_filter_gzip(a);
    (void)archive_write_set_filter_option(a, "gzip", "timestamp", NULL);
    archive_write_set_bytes_in_last_block(a, 1);
    if (archive_write_open(a, &o, NULL, layer_write, NULL) != ARCHIVE_OK)
      goto werr;
    layer_entry(e, "layer", AE_IFREG, 0644, (int64_t)sb.st_size);
    if (archive_write_header(a, e) != ARCHIVE_OK)
      goto werr;
  } else {
    archive_write_set_format_gnutar(a);
    archive_write_add_filter_none(a);
    if (archive_write_open(a, &o, NULL, layer_write, NULL) != ARCHIVE_OK)
      goto werr;
    for (const char *s = strchr(arcpath, '/'); s; s = strchr(s + 1, '/')) {
      char *dir = mg_xstrndup(arcpath, (size_t)(s - arcpath + 1));
      layer_entry(e, dir, AE_IFDIR, 0775, 0);
      free(dir);
      if (archive_write_header(a, e) != ARCHIVE_OK)
        goto werr;
    }
    layer_entry(e, arcpath, AE_IFREG, 0664, (int64_t)sb.st_size);
    if (archive_write_header(a, e) != ARCHIVE_OK)
      goto werr;
  }
  for (;;) {
    ssize_t n = read(in, buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      mg_err_errno(err, MG_ERR_IO, "cannot read '%.200s'", src);
      goto out;
    }
    if (n == 0)
      break;
    if (archive_write_data(a, buf, (size_t)n) != n)
      goto werr;
  }
  if (archive_write_close(a) != ARCHIVE_OK)
    goto werr;
  if (close(o.fd) < 0) {
    o.fd = -1;
    mg_err_errno(err, MG_ERR_IO, "cannot write '%.200s'", out_path);
    goto out;
  }
  o.fd = -1;
  mg_digest_sha256_final_hex(o.h, sha256);
  *size_out = o.size;
  rc = 0;
  goto out;
werr:
  if (o.failed) {
    errno = o.err_no;
    mg_err_errno(err, MG_ERR_IO, "cannot write '%.200s'", out_path);
  } else {
    mg_err_set(err, MG_ERR_IO, "cannot %s '%.200s': %s",
               arcpath ? "write layer for" : "compress", src,
               archive_error_string(a) ? archive_error_string(a) : "error");
  }
out:
  if (a)
    archive_write_free(a);
  archive_entry_free(e);
  mg_digest_sha256_free(o.h);
  if (o.fd >= 0)
    close(o.fd);
  if (rc < 0)
    unlink(out_path);
  close(in);
  return rc;
}

int mg_archive_write_layer(const char *src, const char *arcpath,
                           const char *out_path,
                           char sha256[MG_DIGEST_SHA256_HEX_LEN + 1],
                           uint64_t *size_out, struct mg_err *err)
{
  return write_through(src, arcpath, out_path, sha256, size_out, err);
}

int mg_archive_gzip_file(const char *src, const char *out_path,
                         char sha256[MG_DIGEST_SHA256_HEX_LEN + 1],
                         uint64_t *size_out, struct mg_err *err)
{
  return write_through(src, NULL, out_path, sha256, size_out, err);
}
