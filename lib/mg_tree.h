#ifndef MG_TREE_H
#define MG_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "mg_banned.h"

struct mg_err;

/*
 * A model directory as a sorted list of relative paths, the way model
 * signing and the record name files: POSIX separators, byte order, no
 * "./". Symbolic links are listed, not followed.
 */
enum mg_tree_type {
  MG_TREE_FILE,
  MG_TREE_SYMLINK,
  MG_TREE_OTHER, /* device, FIFO, socket */
};

struct mg_tree_entry {
  char *path; /* relative to the root */
  enum mg_tree_type type;
  uint64_t size;   /* regular files */
  char *target;    /* symlinks: the link text */
  int link_inside; /* symlinks: resolves to a file inside the root */
};

struct mg_tree {
  struct mg_tree_entry *v;
  size_t n;
};

/*
 * Lists every non-directory below root, depth first, sorted by path.
 * Directories whose relative path is in skip_dirs (NULL-terminated, e.g.
 * ".git") are not entered. MG_ERR_IO if root or a subdirectory cannot be
 * read. Limits: 1,000,000 entries and depth 64 (MG_ERR_DATA). Free with
 * mg_tree_release.
 */
int mg_tree_list(const char *root, const char *const *skip_dirs,
                 struct mg_tree *out, struct mg_err *err);
void mg_tree_release(struct mg_tree *t);

/*
 * Removes path and everything below it, never following symlinks.
 * A missing path is not an error. MG_ERR_IO.
 */
int mg_tree_remove(const char *path, struct mg_err *err);

/* "root/rel" (or rel when root is "" or "."); caller owns the result. */
char *mg_tree_join(const char *root, const char *rel);

#endif
