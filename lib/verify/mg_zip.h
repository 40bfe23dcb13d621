#ifndef MG_ZIP_H
#define MG_ZIP_H

#include <stddef.h>
#include <stdint.h>

#include "mg_banned.h"

struct mg_buf;
struct mg_err;

/*
 * A strict zip reader for scanners, over a memory image. The central
 * directory decides, as it does for miniz (torch.load) and Python's
 * zipfile (numpy.load, pandas): members are the central directory's
 * entries, found through the last end-of-central-directory record (ZIP64
 * too). Everything two readers could see differently is an error
 * (MG_ERR_DATA naming the member):
 *   - a local header whose name differs from the central one (zipfile
 *     refuses it, miniz reads the central name), or whose method, CRC or
 *     sizes differ (unless the sizes follow in a data descriptor);
 *   - two names equal when compared as miniz compares them (ignoring ASCII
 *     case), a NUL in a name;
 *   - data before the first member, between the central directory and the
 *     end record, or after the end record's comment; members overlapping
 *     each other or the central directory, or passing the end;
 *   - encrypted members, several disks, methods other than stored,
 *     deflate, bzip2 and lzma.
 */
struct mg_zip_entry {
  char *name;     /* as in the central directory */
  uint64_t local; /* offset of the local header */
  uint64_t data;  /* offset of the member's data */
  uint64_t csize, usize;
  uint32_t crc;
  unsigned method; /* 0 stored, 8 deflate, 12 bzip2, 14 lzma */
  unsigned flags;
  int dir; /* the name ends in '/' and the member is empty */
};

struct mg_zip {
  struct mg_zip_entry *e; /* in central directory order */
  size_t n;
};

/* Reads the directory of the zip image p (n bytes, kept by the caller
 * while z is used). z must be released with mg_zip_release (also after
 * failure). */
int mg_zip_open(const unsigned char *p, size_t n, struct mg_zip *z,
                struct mg_err *err);

/*
 * The bytes of entry i of z (opened over p): a stored member is not
 * copied (*data points into p); others are decompressed into out, at most
 * max bytes, and *data points at out->data. The result must have the
 * central directory's size and CRC-32. A member whose size passes max is
 * MG_ERR_DATA with a message saying so.
 */
int mg_zip_read(const struct mg_zip *z, size_t i, const unsigned char *p,
                size_t max, struct mg_buf *out, const unsigned char **data,
                size_t *len, struct mg_err *err);

void mg_zip_release(struct mg_zip *z);

#endif
