#include "mg_tree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mg_err.h"
#include "mg_mem.h"

#define MAX_ENTRIES 1000000
#define MAX_DEPTH 64

char *mg_tree_join(const char *root, const char *rel)
{
  if (!root[0] || strcmp(root, ".") == 0)
    return mg_xstrdup(rel);
  if (root[strlen(root) - 1] == '/')
    return mg_xasprintf("%s%s", root, rel);
  return mg_xasprintf("%s/%s", root, rel);
}

static int skipped(const char *rel, const char *const *skip)
{
  for (; skip && *skip; skip++)
    if (strcmp(rel, *skip) == 0)
      return 1;
  return 0;
}

/* Whether the link resolves to a regular file below the real root. */
static int inside(const char *real_root, const char *full)
{
  char *r = realpath(full, NULL);
  size_t n = strlen(real_root);
  struct stat sb;
  int ok;

  if (!r)
    return 0;
  ok = strncmp(r, real_root, n) == 0 && r[n] == '/' && stat(r, &sb) == 0
       && S_ISREG(sb.st_mode);
  free(r);
  return ok;
}

static int walk(const char *root, const char *real_root, const char *rel,
                int depth, const char *const *skip, struct mg_tree *t,
                size_t *cap, struct mg_err *err)
{
  char *dir = rel[0] ? mg_tree_join(root, rel) : mg_xstrdup(root);
  DIR *d = opendir(dir);
  struct dirent *de;
  int rc = -1;

  if (!d) {
    mg_err_errno(err, MG_ERR_IO, "cannot read directory '%s'", dir);
    free(dir);
    return -1;
  }
  if (depth > MAX_DEPTH) {
    mg_err_set(err, MG_ERR_DATA, "directory '%s' is nested too deeply", dir);
    goto out;
  }
  while ((de = readdir(d))) {
    struct stat sb;
    char *crel, *full;

    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    crel = rel[0] ? mg_xasprintf("%s/%s", rel, de->d_name)
                  : mg_xstrdup(de->d_name);
    full = mg_tree_join(root, crel);
    if (lstat(full, &sb) < 0) {
      mg_err_errno(err, MG_ERR_IO, "cannot stat '%s'", full);
      free(crel);
      free(full);
      goto out;
    }
    if (S_ISDIR(sb.st_mode)) {
      int r = skipped(crel, skip)
                  ? 0
                  : walk(root, real_root, crel, depth + 1, skip, t, cap, err);
      free(crel);
      free(full);
      if (r < 0)
        goto out;
      continue;
    }
    if (t->n >= MAX_ENTRIES) {
      mg_err_set(err, MG_ERR_DATA, "more than %d files below '%s'", MAX_ENTRIES,
                 root);
      free(crel);
      free(full);
      goto out;
    }
    if (t->n == *cap) {
      *cap = *cap ? *cap * 2 : 64;
      t->v = mg_xreallocarray(t->v, *cap, sizeof(*t->v));
    }
    memset(&t->v[t->n], 0, sizeof(t->v[t->n]));
    t->v[t->n].path = crel;
    if (S_ISREG(sb.st_mode)) {
      t->v[t->n].type = MG_TREE_FILE;
      t->v[t->n].size = (uint64_t)sb.st_size;
    } else if (S_ISLNK(sb.st_mode)) {
      char buf[PATH_MAX];
      ssize_t k = readlink(full, buf, sizeof(buf) - 1);
      t->v[t->n].type = MG_TREE_SYMLINK;
      t->v[t->n].target = mg_xstrndup(buf, k > 0 ? (size_t)k : 0);
      t->v[t->n].link_inside = real_root && inside(real_root, full);
    } else {
      t->v[t->n].type = MG_TREE_OTHER;
    }
    t->n++;
    free(full);
  }
  rc = 0;
out:
  closedir(d);
  free(dir);
  return rc;
}

static int cmp_entry(const void *a, const void *b)
{
  return strcmp(((const struct mg_tree_entry *)a)->path,
                ((const struct mg_tree_entry *)b)->path);
}

int mg_tree_list(const char *root, const char *const *skip_dirs,
                 struct mg_tree *out, struct mg_err *err)
{
  char *real_root = realpath(root, NULL);
  size_t cap = 0;
  int rc;

  out->v = NULL;
  out->n = 0;
  if (!real_root)
    return mg_err_errno(err, MG_ERR_IO, "cannot read directory '%s'", root);
  rc = walk(root, real_root, "", 0, skip_dirs, out, &cap, err);
  free(real_root);
  if (rc < 0) {
    mg_tree_release(out);
    return -1;
  }
  qsort(out->v, out->n, sizeof(*out->v), cmp_entry);
  return 0;
}

void mg_tree_release(struct mg_tree *t)
{
  for (size_t i = 0; i < t->n; i++) {
    free(t->v[i].path);
    free(t->v[i].target);
  }
  free(t->v);
  t->v = NULL;
  t->n = 0;
}

static int remove_at(int dirfd, const char *name, int depth, struct mg_err *err)
{
  struct stat sb;
  DIR *d;
  struct dirent *de;
  int fd, rc = 0;

  if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
    return errno == ENOENT
               ? 0
               : mg_err_errno(err, MG_ERR_IO, "cannot remove '%s'", name);
  if (!S_ISDIR(sb.st_mode)) {
    if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
      return mg_err_errno(err, MG_ERR_IO, "cannot remove '%s'", name);
    return 0;
  }
  if (depth > MAX_DEPTH)
    return mg_err_set(err, MG_ERR_IO, "cannot remove '%s': too deep", name);
  fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return mg_err_errno(err, MG_ERR_IO, "cannot remove '%s'", name);
  d = fdopendir(fd);
  if (!d) {
    close(fd);
    return mg_err_errno(err, MG_ERR_IO, "cannot remove '%s'", name);
  }
  while (rc == 0 && (de = readdir(d)))
    if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
      rc = remove_at(fd, de->d_name, depth + 1, err);
  closedir(d);
  if (rc == 0 && unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
    return mg_err_errno(err, MG_ERR_IO, "cannot remove '%s'", name);
  return rc;
}

int mg_tree_remove(const char *path, struct mg_err *err)
{
  return remove_at(AT_FDCWD, path, 0, err);
}
