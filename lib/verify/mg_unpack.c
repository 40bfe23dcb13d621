#include "verify/mg_unpack.h"

#include <bzlib.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "mg_buf.h"
#include "mg_err.h"

#define CHUNK ((size_t)1 << 16)
#define LZMA_MEMLIMIT ((uint64_t)256 << 20)

int mg_unpack_detect(const unsigned char *p, size_t n)
{
  if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b)
    return MG_UNPACK_GZIP;
  if (n >= 4 && memcmp(p, "BZh", 3) == 0 && p[3] >= '1' && p[3] <= '9')
    return MG_UNPACK_BZIP2;
  if (n >= 6
      && memcmp(p,
                "\xfd"
                "7zXZ\0",
                6)
             == 0)
    return MG_UNPACK_XZ;
  /* LZMA alone: a properties byte (lc, lp, pb; joblib checks 0x5d, the
   * default) and a dictionary size; only a decode tells for sure. */
  if (n >= 13 && p[0] == 0x5d && p[1] == 0x00)
    return MG_UNPACK_LZMA;
  /* zlib: CM 8, a window of at most 32 KiB, the header check, no preset
   * dictionary (RFC 1950). */
  if (n >= 2 && (p[0] & 0x0f) == 8 && (p[0] >> 4) <= 7
      && ((unsigned)p[0] << 8 | p[1]) % 31 == 0 && !(p[1] & 0x20))
    return MG_UNPACK_ZLIB;
  if (n >= 4 && memcmp(p, "\x28\xb5\x2f\xfd", 4) == 0)
    return MG_UNPACK_ZSTD;
  if (n >= 4 && memcmp(p, "\x04\x22\x4d\x18", 4) == 0)
    return MG_UNPACK_LZ4;
  if (n >= 6 && memcmp(p, "7z\xbc\xaf\x27\x1c", 6) == 0)
    return MG_UNPACK_7Z;
  return MG_UNPACK_NONE;
}

const char *mg_unpack_name(int kind)
{
  switch (kind) {
  case MG_UNPACK_GZIP:
    return "gzip";
  case MG_UNPACK_ZLIB:
    return "zlib";
  case MG_UNPACK_BZIP2:
    return "bz2";
  case MG_UNPACK_XZ:
    return "xz";
  case MG_UNPACK_LZMA:
    return "lzma";
  case MG_UNPACK_DEFLATE:
    return "deflate";
  case MG_UNPACK_ZIPLZMA:
    return "zip lzma";
  case MG_UNPACK_ZSTD:
    return "zstd";
  case MG_UNPACK_LZ4:
    return "lz4";
  case MG_UNPACK_7Z:
    return "7z";
  default:
    return "none";
  }
}

uint32_t mg_unpack_crc32(const unsigned char *p, size_t n)
{
  uLong c = crc32(0L, Z_NULL, 0);

  while (n) {
    uInt k = n > (1u << 30) ? 1u << 30 : (uInt)n;
    c = crc32(c, p, k);
    p += k;
    n -= k;
  }
  return (uint32_t)c;
}

/* Appends produced bytes, stopping at max. Returns 0, or -1 past max. */
static int emit(struct mg_buf *out, const unsigned char *chunk, size_t k,
                size_t max, struct mg_unpack_info *info)
{
  if (k > max - out->len) {
    mg_buf_add(out, chunk, max - out->len, NULL);
    info->too_large = 1;
    return -1;
  }
  mg_buf_add(out, chunk, k, NULL);
  return 0;
}

/* One zlib / gzip / raw deflate stream from p: *used gets its length.
 * Returns 1 at its end, 0 when the input ran out first, -1 corrupt,
 * -2 past max. */
static int inflate_one(int wbits, const unsigned char *p, size_t n, size_t max,
                       struct mg_buf *out, size_t *used,
                       struct mg_unpack_info *info)
{
  unsigned char chunk[CHUNK];
  z_stream zs;
  int rc = 0, zr = Z_OK;

  memset(&zs, 0, sizeof(zs));
  if (inflateInit2(&zs, wbits) != Z_OK)
    return -1;
  zs.next_in = (Bytef *)(uintptr_t)p;
  while (zr != Z_STREAM_END) {
    size_t before = (size_t)(zs.next_in - p);
    if (!zs.avail_in)
      zs.avail_in = (uInt)(n - before > (1u << 30) ? 1u << 30 : n - before);
    zs.next_out = chunk;
    zs.avail_out = (uInt)sizeof(chunk);
    zr = inflate(&zs, Z_NO_FLUSH);
    if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
      rc = -1;
      break;
    }
    if (emit(out, chunk, sizeof(chunk) - zs.avail_out, max, info) < 0) {
      rc = -2;
      break;
    }
    if (zr == Z_STREAM_END)
      rc = 1;
    else if (zr == Z_BUF_ERROR && (size_t)(zs.next_in - p) >= n && zs.avail_out)
      break; /* input exhausted before the end */
  }
  *used = (size_t)(zs.next_in - p);
  inflateEnd(&zs);
  return rc;
}

static int bunzip_one(const unsigned char *p, size_t n, size_t max,
                      struct mg_buf *out, size_t *used,
                      struct mg_unpack_info *info)
{
  char chunk[CHUNK];
  bz_stream bs;
  int rc = 0, br = BZ_OK;

  memset(&bs, 0, sizeof(bs));
  if (BZ2_bzDecompressInit(&bs, 0, 0) != BZ_OK)
    return -1;
  bs.next_in = (char *)(uintptr_t)p;
  while (br != BZ_STREAM_END) {
    size_t before = (size_t)((const unsigned char *)bs.next_in - p);
    if (!bs.avail_in)
      bs.avail_in = (unsigned)(n - before > (1u << 30) ? 1u << 30 : n - before);
    bs.next_out = chunk;
    bs.avail_out = (unsigned)sizeof(chunk);
    br = BZ2_bzDecompress(&bs);
    if (br != BZ_OK && br != BZ_STREAM_END) {
      rc = -1;
      break;
    }
    if (emit(out, (unsigned char *)chunk, sizeof(chunk) - bs.avail_out, max,
             info)
        < 0) {
      rc = -2;
      break;
    }
    if (br == BZ_STREAM_END)
      rc = 1;
    else if (!bs.avail_in && bs.avail_out
             && (size_t)((const unsigned char *)bs.next_in - p) >= n)
      break; /* input exhausted before the end */
  }
  *used = (size_t)((const unsigned char *)bs.next_in - p);
  BZ2_bzDecompressEnd(&bs);
  return rc;
}

/* One xz, lzma-alone or raw LZMA1 stream (raw: until expect bytes). */
static int unlzma_one(int kind, const unsigned char *p, size_t n,
                      uint64_t expect, size_t max, struct mg_buf *out,
                      size_t *used, struct mg_unpack_info *info)
{
  unsigned char chunk[CHUNK];
  lzma_stream ls = LZMA_STREAM_INIT;
  lzma_ret lr;
  lzma_options_lzma opt;
  lzma_filter filters[2];
  size_t start = out->len, skip = 0, room;
  int rc = 0;

  if (kind == MG_UNPACK_XZ) {
    lr = lzma_stream_decoder(&ls, LZMA_MEMLIMIT, 0);
  } else if (kind == MG_UNPACK_LZMA) {
    lr = lzma_alone_decoder(&ls, LZMA_MEMLIMIT);
  } else {
    /* zip's LZMA: 2 bytes version, 2 bytes properties size, the
     * properties (5 bytes: lc/lp/pb and the dictionary size). */
    size_t psize;
    if (n < 4)
      return -1;
    psize = (size_t)p[2] | (size_t)p[3] << 8;
    if (psize != 5 || n < 4 + psize)
      return -1;
    filters[0].id = LZMA_FILTER_LZMA1;
    filters[0].options = NULL;
    filters[1].id = LZMA_VLI_UNKNOWN;
    filters[1].options = NULL;
    if (lzma_properties_decode(&filters[0], NULL, p + 4, psize) != LZMA_OK)
      return -1;
    memcpy(&opt, filters[0].options, sizeof(opt));
    free(filters[0].options);
    if (opt.dict_size > LZMA_MEMLIMIT)
      return -1;
    filters[0].options = &opt;
    lr = lzma_raw_decoder(&ls, filters);
    skip = 4 + psize;
  }
  if (lr != LZMA_OK)
    return -1;
  ls.next_in = p + skip;
  ls.avail_in = n - skip;
  for (;;) {
    ls.next_out = chunk;
    ls.avail_out = sizeof(chunk);
    /* Raw LZMA1 may lack an end marker: stop at the declared size. */
    if (kind == MG_UNPACK_ZIPLZMA && expect - (out->len - start) < CHUNK)
      ls.avail_out = (size_t)(expect - (out->len - start));
    room = ls.avail_out;
    lr = lzma_code(&ls, LZMA_FINISH);
    if (emit(out, chunk, room - ls.avail_out, max, info) < 0) {
      rc = -2;
      break;
    }
    if (lr == LZMA_STREAM_END) {
      rc = 1;
      break;
    }
    if (kind == MG_UNPACK_ZIPLZMA && out->len - start >= expect) {
      rc = 1;
      break;
    }
    if (lr != LZMA_OK) {
      rc = lr == LZMA_BUF_ERROR ? 0 : -1;
      break;
    }
  }
  *used = (size_t)(ls.next_in - p);
  lzma_end(&ls);
  return rc;
}

int mg_unpack(int kind, const unsigned char *p, size_t n, uint64_t expect,
              size_t max, struct mg_buf *out, struct mg_unpack_info *info,
              struct mg_err *err)
{
  const char *name = mg_unpack_name(kind);
  size_t pos = 0;

  memset(info, 0, sizeof(*info));
  for (;;) {
    size_t used = 0;
    int r;
    switch (kind) {
    case MG_UNPACK_GZIP:
      r = inflate_one(16 + MAX_WBITS, p + pos, n - pos, max, out, &used, info);
      break;
    case MG_UNPACK_ZLIB:
      r = inflate_one(MAX_WBITS, p + pos, n - pos, max, out, &used, info);
      break;
    case MG_UNPACK_DEFLATE:
      r = inflate_one(-MAX_WBITS, p + pos, n - pos, max, out, &used, info);
      break;
    case MG_UNPACK_BZIP2:
      r = bunzip_one(p + pos, n - pos, max, out, &used, info);
      break;
    case MG_UNPACK_XZ:
    case MG_UNPACK_LZMA:
    case MG_UNPACK_ZIPLZMA:
      r = unlzma_one(kind, p + pos, n - pos, expect, max, out, &used, info);
      break;
    default:
      return mg_err_set(err, MG_ERR_DATA, "%s streams are not decompressed",
                        name);
    }
    if (r == -2)
      return mg_err_set(err, MG_ERR_DATA,
                        "%s stream decompresses to more than %zu bytes", name,
                        max);
    if (r < 0)
      return mg_err_set(err, MG_ERR_DATA, "corrupt %s stream at byte %zu", name,
                        pos + used);
    if (r == 0)
      return mg_err_set(err, MG_ERR_DATA,
                        "truncated %s stream (%zu bytes decoded)", name,
                        out->len);
    pos += used;
    info->streams++;
    info->used = pos;
    /* One member or stream per entry for zip; else the next one, if the
     * rest starts one (gzip members may be padded with zeros). */
    if (kind == MG_UNPACK_DEFLATE || kind == MG_UNPACK_ZIPLZMA)
      break;
    if (kind == MG_UNPACK_GZIP)
      while (pos < n && p[pos] == 0)
        pos++;
    if (pos == n)
      break;
    if (mg_unpack_detect(p + pos, n - pos) != kind) {
      info->trailing = 1;
      return mg_err_set(err, MG_ERR_DATA,
                        "%zu bytes after the %s stream are not another one",
                        n - pos, name);
    }
  }
  /* Raw LZMA1 without an end marker may leave the range coder's last
   * bytes unread; a deflate stream ends exactly. */
  if (pos < n && kind == MG_UNPACK_DEFLATE) {
    info->trailing = 1;
    return mg_err_set(err, MG_ERR_DATA, "%zu bytes after the %s data", n - pos,
                      name);
  }
  return 0;
}
