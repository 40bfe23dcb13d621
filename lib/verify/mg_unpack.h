#ifndef MG_UNPACK_H
#define MG_UNPACK_H

#include <stddef.h>
#include <stdint.h>

#include "mg_banned.h"

struct mg_buf;
struct mg_err;

/*
 * Bounded decompression of the streams model files come in: joblib's
 * compressors (zlib, gzip, bz2, xz, lzma), pandas' .gz / .bz2 / .xz, and
 * the zip methods deflate, bzip2 and lzma. The only module that includes
 * zlib.h, bzlib.h and lzma.h.
 *
 * Streams are read as Python's readers read them: one stream after
 * another until the input ends (gzip members with zero padding between
 * them, concatenated zlib, bz2, xz and lzma streams). Bytes after the
 * last stream that do not start another one are reported (Python's
 * readers ignore some of them, refuse others; nothing should hide there).
 */
enum mg_unpack_kind {
  MG_UNPACK_NONE = 0,
  MG_UNPACK_GZIP,
  MG_UNPACK_ZLIB,
  MG_UNPACK_BZIP2,
  MG_UNPACK_XZ,
  MG_UNPACK_LZMA,    /* .lzma, "LZMA alone" (joblib's lzma) */
  MG_UNPACK_DEFLATE, /* raw deflate (zip method 8) */
  MG_UNPACK_ZIPLZMA, /* zip method 14: version, properties, raw LZMA1 */
  /* Recognised but not decompressed here. */
  MG_UNPACK_ZSTD,
  MG_UNPACK_LZ4,
  MG_UNPACK_7Z,
};

/* The kind a stream's first bytes announce, or MG_UNPACK_NONE. The magic
 * alone does not make a stream: mg_unpack says whether it decodes. */
int mg_unpack_detect(const unsigned char *p, size_t n);

/* "gzip", "zlib", "bz2", ... (static). */
const char *mg_unpack_name(int kind);

struct mg_unpack_info {
  size_t streams; /* complete streams decoded */
  uint64_t used;  /* input bytes those streams took */
  int too_large;  /* the output passed max */
  int trailing;   /* input bytes after the last stream */
};

/*
 * Decompresses n bytes of the given kind into out (whose own bound is not
 * used: max caps the output). For MG_UNPACK_ZIPLZMA, expect is the size
 * the zip entry declares (raw LZMA1 has no end of its own); else ignored.
 * Returns 0 when the whole input decoded; -1 with MG_ERR_DATA when it is
 * corrupt, truncated, larger than max or followed by other bytes: out
 * then holds what decoded before the problem (a reader would have seen
 * it) and info says which problem. The decoders' own memory is bounded
 * (xz / lzma dictionaries up to 256 MiB).
 */
int mg_unpack(int kind, const unsigned char *p, size_t n, uint64_t expect,
              size_t max, struct mg_buf *out, struct mg_unpack_info *info,
              struct mg_err *err);

/* zlib's CRC-32 of n bytes. */
uint32_t mg_unpack_crc32(const unsigned char *p, size_t n);

#endif
