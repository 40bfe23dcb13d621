#ifndef MG_IO_H
#define MG_IO_H

#include <stddef.h>

#include "mg_banned.h"

struct mg_buf;
struct mg_err;

/*
 * File and stream I/O. A path of "-" means stdin (for reads) or stdout (for
 * writes). Messages name the path ('<stdin>' / '<stdout>' for "-").
 */

/* The display name of a path: "<stdin>" for "-" when reading, else path. */
const char *mg_io_name(const char *path);

/*
 * Appends the whole content of path to out, failing with MG_ERR_DATA if it
 * would exceed out->max ("input 'x' is larger than N bytes") and MG_ERR_IO
 * if it cannot be opened or read.
 */
int mg_io_read_file(const char *path, struct mg_buf *out, struct mg_err *err);
/* The same from an open descriptor; name is for messages. */
int mg_io_read_fd(int fd, const char *name, struct mg_buf *out,
                  struct mg_err *err);

/* Writes all n bytes, retrying on EINTR and short writes. */
int mg_io_write_fd(int fd, const char *name, const void *p, size_t n,
                   struct mg_err *err);

/*
 * Replaces path with data atomically: writes a temporary file in the same
 * directory, fsyncs it, renames it over path and fsyncs the directory. An
 * interrupted run leaves either the old file or the new one. Only a
 * regular file or a missing path is replaced:
 *   - a symbolic link is kept; the file its chain ends at is replaced (or
 *     created) atomically;
 *   - a device, a FIFO, a socket, or an entry of /proc/self/fd (hence
 *     /dev/stdout, /dev/stderr, /dev/fd/N) is written straight through, as
 *     the shell's '>' does: opened for writing and truncated, never
 *     renamed over;
 *   - "-" writes to stdout.
 * mode is used for a new file (e.g. 0644).
 */
int mg_io_write_atomic(const char *path, const void *data, size_t n, int mode,
                       struct mg_err *err);

/*
 * An atomic file written in pieces: mg_io_atomic_open creates the temporary,
 * mg_io_atomic_commit fsyncs and renames it, mg_io_atomic_abort removes it.
 * For long jobs that stream a side file (per-request samples). The same
 * rules as mg_io_write_atomic decide what is replaced; when the output is
 * written straight through (direct), commit only closes it and abort
 * cannot take back what was written.
 */
struct mg_io_atomic {
  int fd;
  int direct;
  char *path;
  char *tmp;
};
int mg_io_atomic_open(struct mg_io_atomic *a, const char *path, int mode,
                      struct mg_err *err);
int mg_io_atomic_write(struct mg_io_atomic *a, const void *p, size_t n,
                       struct mg_err *err);
int mg_io_atomic_commit(struct mg_io_atomic *a, struct mg_err *err);
void mg_io_atomic_abort(struct mg_io_atomic *a);

/* Creates dir and its missing parents (mode 0755). */
int mg_io_mkdirs(const char *dir, struct mg_err *err);

#endif
