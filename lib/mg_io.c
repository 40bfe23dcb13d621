#include "mg_io.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "mg_mem.h"

const char *mg_io_name(const char *path)
{
  return strcmp(path, "-") == 0 ? "<stdin>" : path;
}

int mg_io_read_fd(int fd, const char *name, struct mg_buf *out,
                  struct mg_err *err)
{
  for (;;) {
    ssize_t n;

    if (out->len >= out->max) {
      /* Full: one more byte tells whether the input is larger. */
      char c;
      n = read(fd, &c, 1);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return mg_err_errno(err, MG_ERR_IO, "cannot read '%s'", name);
      if (n == 0)
        return 0;
      return mg_err_set(err, MG_ERR_DATA, "input '%s' is larger than %zu bytes",
                        name, out->max);
    }
    {
      size_t room = out->max - out->len;
      if (room > 65536)
        room = 65536;
      if (mg_buf_grow(out, room, err) < 0)
        return -1;
      n = read(fd, out->data + out->len, room);
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return mg_err_errno(err, MG_ERR_IO, "cannot read '%s'", name);
    if (n == 0)
      return 0;
    out->len += (size_t)n;
    out->data[out->len] = '\0';
  }
}

int mg_io_read_file(const char *path, struct mg_buf *out, struct mg_err *err)
{
  int fd, rc;

  if (strcmp(path, "-") == 0)
    return mg_io_read_fd(0, "<stdin>", out, err);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return mg_err_errno(err, MG_ERR_IO, "cannot open '%s'", path);
  rc = mg_io_read_fd(fd, path, out, err);
  close(fd);
  return rc;
}

int mg_io_write_fd(int fd, const char *name, const void *p, size_t n,
                   struct mg_err *err)
{
  const char *c = p;

  while (n) {
    ssize_t w = write(fd, c, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return mg_err_errno(err, MG_ERR_IO, "cannot write '%s'", name);
    c += w;
    n -= (size_t)w;
  }
  return 0;
}

static char *dir_of(const char *path)
{
  char *copy = mg_xstrdup(path);
  char *d = mg_xstrdup(dirname(copy));

  free(copy);
  return d;
}

static int fsync_dir(const char *path)
{
  char *d = dir_of(path);
  int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  free(d);
  if (fd < 0)
    return -1;
  /* Some file systems refuse fsync on a directory; that is not fatal. */
  (void)fsync(fd);
  close(fd);
  return 0;
}

/* Whether dir (a resolved directory) is a process's descriptor table. */
static int is_fd_dir(const char *dir)
{
  const char *p;

  if (strcmp(dir, "/dev/fd") == 0)
    return 1;
  if (strncmp(dir, "/proc/", 6) != 0)
    return 0;
  p = dir + 6;
  if (strncmp(p, "self/", 5) == 0)
    p += 5;
  else if (strncmp(p, "thread-self/", 12) == 0)
    p += 12;
  else {
    if (*p < '0' || *p > '9')
      return 0;
    while (*p >= '0' && *p <= '9')
      p++;
    if (*p++ != '/')
      return 0;
    if (strncmp(p, "task/", 5) == 0) {
      p += 5;
      while (*p >= '0' && *p <= '9')
        p++;
      if (*p++ != '/')
        return 0;
    }
  }
  return strcmp(p, "fd") == 0;
}

/* Whether path names an entry of a descriptor table (/proc/self/fd/N...). */
static int through_fd_dir(const char *path)
{
  char *d = dir_of(path), *real = realpath(d, NULL);
  int r = is_fd_dir(real ? real : d);

  free(real);
  free(d);
  return r;
}

enum target_kind { T_ATOMIC, T_DIRECT };

/*
 * Decides how to write path: atomically (temporary + rename) at *target,
 * which is path itself or, for a symbolic link, the file the link chain
 * ends at (so the link is kept); or straight through, as the shell's '>'
 * does, for a device, a FIFO, a socket or an entry of /proc/self/fd (and
 * so /dev/stdout, /dev/stderr). Only a regular file or a missing path is
 * ever replaced. *target is the caller's to free.
 */
static int classify(const char *path, char **target, enum target_kind *kind,
                    struct mg_err *err)
{
  char *cur = mg_xstrdup(path);
  struct stat st;

  for (int hops = 0;; hops++) {
    char buf[4096];
    ssize_t n;
    char *next;

    if (through_fd_dir(cur)) {
      free(cur);
      *target = mg_xstrdup(path);
      *kind = T_DIRECT;
      return 0;
    }
    if (lstat(cur, &st) < 0) {
      if (errno != ENOENT) {
        mg_err_errno(err, MG_ERR_IO, "cannot create '%s'", path);
        free(cur);
        return -1;
      }
      *target = cur; /* missing: created, atomically */
      *kind = T_ATOMIC;
      return 0;
    }
    if (!S_ISLNK(st.st_mode))
      break;
    if (hops >= 40) {
      errno = ELOOP;
      mg_err_errno(err, MG_ERR_IO, "cannot create '%s'", path);
      free(cur);
      return -1;
    }
    n = readlink(cur, buf, sizeof(buf) - 1);
    if (n < 0) {
      mg_err_errno(err, MG_ERR_IO, "cannot create '%s'", path);
      free(cur);
      return -1;
    }
    buf[n] = '\0';
    if (buf[0] == '/') {
      next = mg_xstrdup(buf);
    } else {
      char *d = dir_of(cur);
      next = mg_xasprintf("%s/%s", d, buf);
      free(d);
    }
    free(cur);
    cur = next;
  }
  if (S_ISDIR(st.st_mode)) {
    free(cur);
    return mg_err_set(err, MG_ERR_IO, "cannot create '%s': Is a directory",
                      path);
  }
  *kind = S_ISREG(st.st_mode) ? T_ATOMIC : T_DIRECT;
  if (*kind == T_DIRECT) {
    free(cur);
    cur = mg_xstrdup(path);
  }
  *target = cur;
  return 0;
}

int mg_io_atomic_open(struct mg_io_atomic *a, const char *path, int mode,
                      struct mg_err *err)
{
  enum target_kind kind;
  char *target;

  a->fd = -1;
  a->direct = 0;
  a->path = a->tmp = NULL;
  if (strcmp(path, "-") == 0) {
    /* Whatever stdio holds goes first. */
    if (fflush(stdout) != 0)
      return mg_err_errno(err, MG_ERR_IO, "cannot write '<stdout>'");
    a->fd = 1;
    a->direct = 1;
    a->path = mg_xstrdup("<stdout>");
    return 0;
  }
  if (classify(path, &target, &kind, err) < 0)
    return -1;
  if (kind == T_DIRECT) {
    a->fd =
        open(target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
    free(target);
    if (a->fd < 0)
      return mg_err_errno(err, MG_ERR_IO, "cannot open '%s'", path);
    a->direct = 1;
    a->path = mg_xstrdup(path);
    return 0;
  }
  a->path = target;
  a->tmp = mg_xasprintf("%s.tmp.XXXXXX", target);
  a->fd = mkstemp(a->tmp);
  if (a->fd < 0) {
    mg_err_errno(err, MG_ERR_IO, "cannot create '%s'", path);
    free(a->path);
    free(a->tmp);
    a->path = a->tmp = NULL;
    return -1;
  }
  (void)fchmod(a->fd, (mode_t)mode);
  return 0;
}

int mg_io_atomic_write(struct mg_io_atomic *a, const void *p, size_t n,
                       struct mg_err *err)
{
  return mg_io_write_fd(a->fd, a->path, p, n, err);
}

void mg_io_atomic_abort(struct mg_io_atomic *a)
{
  if (a->fd > 2 || (a->fd >= 0 && !a->direct))
    close(a->fd);
  if (a->tmp)
    unlink(a->tmp);
  free(a->path);
  free(a->tmp);
  a->fd = -1;
  a->path = a->tmp = NULL;
}

/* Straight through: nothing to rename; a device may refuse fsync. */
static int commit_direct(struct mg_io_atomic *a, struct mg_err *err)
{
  int rc = 0;

  if (a->fd > 2 && close(a->fd) < 0)
    rc = mg_err_errno(err, MG_ERR_IO, "cannot write '%s'", a->path);
  a->fd = -1;
  free(a->path);
  a->path = NULL;
  return rc;
}

int mg_io_atomic_commit(struct mg_io_atomic *a, struct mg_err *err)
{
  if (a->direct)
    return commit_direct(a, err);
  if (fsync(a->fd) < 0) {
    mg_err_errno(err, MG_ERR_IO, "cannot write '%s'", a->path);
    mg_io_atomic_abort(a);
    return -1;
  }
  if (close(a->fd) < 0) {
    a->fd = -1;
    mg_err_errno(err, MG_ERR_IO, "cannot write '%s'", a->path);
    mg_io_atomic_abort(a);
    return -1;
  }
  a->fd = -1;
  if (rename(a->tmp, a->path) < 0) {
    mg_err_errno(err, MG_ERR_IO, "cannot rename to '%s'", a->path);
    mg_io_atomic_abort(a);
    return -1;
  }
  fsync_dir(a->path);
  free(a->path);
  free(a->tmp);
  a->path = a->tmp = NULL;
  return 0;
}

int mg_io_write_atomic(const char *path, const void *data, size_t n, int mode,
                       struct mg_err *err)
{
  struct mg_io_atomic a;

  if (strcmp(path, "-") == 0) {
    /* stdio, so mg_finish() sees the error and the flush ordering holds. */
    if (n && fwrite(data, 1, n, stdout) != n)
      return mg_err_errno(err, MG_ERR_IO, "cannot write '<stdout>'");
    if (fflush(stdout) != 0)
      return mg_err_errno(err, MG_ERR_IO, "cannot write '<stdout>'");
    return 0;
  }
  if (mg_io_atomic_open(&a, path, mode, err) < 0)
    return -1;
  if (mg_io_atomic_write(&a, data, n, err) < 0) {
    mg_io_atomic_abort(&a);
    return -1;
  }
  return mg_io_atomic_commit(&a, err);
}

int mg_io_mkdirs(const char *dir, struct mg_err *err)
{
  char *p = mg_xstrdup(dir);
  size_t n = strlen(p);

  for (size_t i = 1; i <= n; i++) {
    if (p[i] != '/' && p[i] != '\0')
      continue;
    p[i] = '\0';
    if (mkdir(p, 0755) < 0 && errno != EEXIST) {
      mg_err_errno(err, MG_ERR_IO, "cannot create directory '%s'", p);
      free(p);
      return -1;
    }
    if (i < n)
      p[i] = '/';
  }
  free(p);
  return 0;
}
