#ifndef MG_ARCHIVE_H
#define MG_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>

#include "mg_banned.h"
#include "mg_digest.h"

struct mg_err;

/*
 * Archives (tar, tar.gz/bz2/xz/zst, zip) over libarchive, the only module
 * that includes archive.h, and the safe-path rules every writer of model
 * files shares.
 *
 * Safe extraction: an entry is refused (the whole extraction fails with
 * MG_ERR_DATA) when its name is absolute, has a ".." component, is empty
 * or holds control characters; when it is a hard link, a device, a FIFO or
 * a socket; when it is a symbolic link whose target is absolute or leaves
 * the destination; when a parent component on disk is not a real
 * directory (a symlink planted by an earlier entry is never followed);
 * when it names a file that already exists; and when the entry count, one
 * entry's size or the total size passes the limits. Files are created
 * 0644, directories 0755: no set-id or exec bits from the archive.
 */
struct mg_archive_limits {
  uint64_t max_entries;     /* default 100000 */
  uint64_t max_entry_bytes; /* default 1 TiB */
  uint64_t max_total_bytes; /* default 4 TiB */
};

/* Fills the defaults above. Cannot fail. */
void mg_archive_limits_init(struct mg_archive_limits *l);

/*
 * Normalises an entry or file name into a clean relative path: "./" and
 * repeated slashes are dropped; with rooted set, one leading "/" is
 * dropped too (OCI layer entries are rooted at the image root). Fails with
 * MG_ERR_DATA for absolute paths (unless rooted), "..", empty names,
 * backslashes and control characters. caller owns *out; free with free().
 */
int mg_archive_clean_path(const char *name, int rooted, char **out,
                          struct mg_err *err);

/*
 * Opens relpath (already clean) below the directory dirfd for writing,
 * creating missing parent directories without following any symlink.
 * flags are added to O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC (pass
 * O_EXCL or O_TRUNC). Returns the descriptor or -1 (MG_ERR_IO, or
 * MG_ERR_DATA when a parent is not a directory).
 */
int mg_archive_open_in(int dirfd, const char *relpath, int flags, int mode,
                       struct mg_err *err);

/* Called once per regular file written by mg_archive_extract. path is the
 * clean relative path (borrowed for the call). Return -1 (with err set) to
 * stop the extraction. */
struct mg_archive_file_cb {
  int (*on_file)(void *arg, const char *path, uint64_t size,
                 const char sha256[MG_DIGEST_SHA256_HEX_LEN + 1],
                 struct mg_err *err);
  void *arg;
};

enum mg_archive_extract_flags {
  /* Entries are rooted (OCI layers): one leading "/" is tolerated. */
  MG_ARCHIVE_ROOTED = 1 << 0,
  /* OCI whiteouts (".wh.") are refused rather than written. */
  MG_ARCHIVE_OCI = 1 << 1,
};

/*
 * Extracts archive (a file; the format and compression are detected) into
 * the existing directory destdir, under the rules above. With prefix set
 * (e.g. "models/"), only entries below it are extracted, with the prefix
 * removed; others are skipped (still counted against max_entries). Each
 * regular file is hashed while it is written. *n_files gets the number of
 * files written (may be NULL). A corrupt archive is MG_ERR_DATA.
 */
int mg_archive_extract(const char *archive, const char *destdir,
                       const char *prefix, unsigned flags,
                       const struct mg_archive_limits *lim,
                       const struct mg_archive_file_cb *cb, uint64_t *n_files,
                       struct mg_err *err);

/*
 * Walks the members of an archive file (zip or tar, as PyTorch writes
 * them) for scanners. For every regular member, want() sees its name, its
 * size and up to 64 leading bytes; when it returns 1 the member is read
 * whole (up to max_member bytes) and handed to got(); a member larger than
 * max_member is handed with data NULL. Either callback returns -1 (err set)
 * to stop. An unreadable archive is MG_ERR_DATA.
 */
struct mg_archive_member_cb {
  int (*want)(void *arg, const char *name, uint64_t size,
              const unsigned char *head, size_t head_len);
  int (*got)(void *arg, const char *name, const unsigned char *data, size_t len,
             struct mg_err *err);
  void *arg;
};
int mg_archive_members(const char *archive, size_t max_member,
                       const struct mg_archive_member_cb *cb,
                       struct mg_err *err);

/*
 * Writes an OCI image layer: an uncompressed GNU tar holding the directory
 * entries leading to arcpath (mode 0775) and the file src as arcpath (mode
 * 0664), uid and gid 0, mtime 0, so the same file always gives the same
 * layer. The tar goes to out_path; its sha256 (the layer digest and diff
 * id) and size are returned.
 */
int mg_archive_write_layer(const char *src, const char *arcpath,
                           const char *out_path,
                           char sha256[MG_DIGEST_SHA256_HEX_LEN + 1],
                           uint64_t *size_out, struct mg_err *err);

/*
 * Compresses the file src with gzip into out_path, deterministically (no
 * file name or time in the gzip header): a layer's tar+gzip form, whose
 * sha256 (the layer digest) and size are returned.
 */
int mg_archive_gzip_file(const char *src, const char *out_path,
                         char sha256[MG_DIGEST_SHA256_HEX_LEN + 1],
                         uint64_t *size_out, struct mg_err *err);

#endif
