#include "verify/mg_zip.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "mg_mem.h"
#include "verify/mg_unpack.h"

#define EOCD_LEN 22
#define CDH_LEN 46
#define LFH_LEN 30
#define ENTRIES_MAX 1000000

static uint64_t le(const unsigned char *p, int k)
{
  uint64_t v = 0;

  for (int i = k - 1; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

/* The ZIP64 extended information in an extra field: the 64-bit values of
 * the fields that are all ones, in order (sizes, then the offset). */
static int zip64_extra(const unsigned char *x, size_t xl, uint64_t *usize,
                       uint64_t *csize, uint64_t *off)
{
  size_t i = 0;

  while (i + 4 <= xl) {
    unsigned id = (unsigned)le(x + i, 2);
    size_t len = (size_t)le(x + i + 2, 2), j = i + 4;
    if (len > xl - i - 4)
      return -1;
    if (id == 1) {
      uint64_t *f[3] = { usize, csize, off };
      for (int k = 0; k < 3; k++) {
        if (!f[k] || *f[k] != 0xffffffffu)
          continue;
        if (j + 8 > i + 4 + len)
          return -1;
        *f[k] = le(x + j, 8);
        j += 8;
      }
      return 0;
    }
    i += 4 + len;
  }
  return 0;
}

static int cmp_local(const void *a, const void *b)
{
  const struct mg_zip_entry *x = *(const struct mg_zip_entry *const *)a;
  const struct mg_zip_entry *y = *(const struct mg_zip_entry *const *)b;

  return x->local < y->local ? -1 : x->local > y->local;
}

static int cmp_name_ci(const void *a, const void *b)
{
  return strcasecmp(*(const char *const *)a, *(const char *const *)b);
}

/* The end records: entry count and the central directory's place. */
static int end_record(const unsigned char *p, size_t n, uint64_t *count,
                      uint64_t *cd_off, uint64_t *cd_size, struct mg_err *err)
{
  size_t pos, lo, end_at;
  uint64_t disks;

  if (n < EOCD_LEN)
    return mg_err_set(err, MG_ERR_DATA, "not a zip archive: %zu bytes", n);
  lo = n - EOCD_LEN > 65535 ? n - EOCD_LEN - 65535 : 0;
  for (pos = n - EOCD_LEN;; pos--) {
    if (memcmp(p + pos, "PK\x05\x06", 4) == 0)
      break;
    if (pos == lo)
      return mg_err_set(err, MG_ERR_DATA, "no end of central directory record");
  }
  if (pos + EOCD_LEN + le(p + pos + 20, 2) != n)
    return mg_err_set(err, MG_ERR_DATA,
                      "%zu bytes after the end of the archive (its comment "
                      "says %llu)",
                      n - pos - EOCD_LEN,
                      (unsigned long long)le(p + pos + 20, 2));
  disks = le(p + pos + 4, 2) | le(p + pos + 6, 2);
  *count = le(p + pos + 10, 2);
  *cd_size = le(p + pos + 12, 4);
  *cd_off = le(p + pos + 16, 4);
  end_at = pos;
  if (le(p + pos + 8, 2) != *count)
    return mg_err_set(err, MG_ERR_DATA, "a zip archive on several disks");
  if (*count == 0xffff || *cd_size == 0xffffffffu || *cd_off == 0xffffffffu) {
    /* ZIP64: the locator just before points at the 64-bit record. */
    uint64_t r;
    if (pos < 20 || memcmp(p + pos - 20, "PK\x06\x07", 4) != 0)
      return mg_err_set(err, MG_ERR_DATA, "ZIP64 end record locator missing");
    r = le(p + pos - 12, 8);
    if (le(p + pos - 16, 4) != 0 || le(p + pos - 4, 4) > 1 || r > pos - 20
        || pos - 20 - r < 56 || memcmp(p + r, "PK\x06\x06", 4) != 0)
      return mg_err_set(err, MG_ERR_DATA, "bad ZIP64 end record");
    if (le(p + r + 16, 4) != 0 || le(p + r + 20, 4) != 0
        || le(p + r + 24, 8) != le(p + r + 32, 8))
      return mg_err_set(err, MG_ERR_DATA, "a zip archive on several disks");
    if (12 + le(p + r + 4, 8) != pos - 20 - r)
      return mg_err_set(err, MG_ERR_DATA, "data between the ZIP64 end records");
    *count = le(p + r + 32, 8);
    *cd_size = le(p + r + 40, 8);
    *cd_off = le(p + r + 48, 8);
    end_at = (size_t)r;
    disks = 0;
  }
  if (disks)
    return mg_err_set(err, MG_ERR_DATA, "a zip archive on several disks");
  if (*cd_off > end_at || *cd_size != end_at - *cd_off)
    return mg_err_set(err, MG_ERR_DATA,
                      "the central directory is not where the end record "
                      "puts it (data before the archive or after the "
                      "directory)");
  if (*count > ENTRIES_MAX || *count > *cd_size / CDH_LEN)
    return mg_err_set(err, MG_ERR_DATA,
                      "%llu entries do not fit the "
                      "central directory",
                      (unsigned long long)*count);
  return 0;
}

/* Checks entry e against its local header. */
static int local_header(const unsigned char *p, size_t n, uint64_t cd_off,
                        struct mg_zip_entry *e, struct mg_err *err)
{
  const unsigned char *h;
  size_t nl, xl;
  uint64_t lu, lc;

  if (e->local > cd_off || cd_off - e->local < LFH_LEN)
    return mg_err_set(err, MG_ERR_DATA,
                      "member '%.200s': local header outside the archive",
                      e->name);
  h = p + e->local;
  if (memcmp(h, "PK\x03\x04", 4) != 0)
    return mg_err_set(err, MG_ERR_DATA, "member '%.200s': no local header",
                      e->name);
  nl = (size_t)le(h + 26, 2);
  xl = (size_t)le(h + 28, 2);
  if (LFH_LEN + nl + xl > cd_off - e->local)
    return mg_err_set(err, MG_ERR_DATA,
                      "member '%.200s': local header outside the archive",
                      e->name);
  if (nl != strlen(e->name) || memcmp(h + LFH_LEN, e->name, nl) != 0)
    return mg_err_set(err, MG_ERR_DATA,
                      "member '%.200s': the local header names it '%.*s' "
                      "(zipfile refuses that, torch's miniz reads the "
                      "central directory's name)",
                      e->name, (int)(nl > 200 ? 200 : nl),
                      (const char *)h + LFH_LEN);
  if (le(h + 8, 2) != e->method)
    return mg_err_set(err, MG_ERR_DATA,
                      "member '%.200s': the local header gives another "
                      "compression method",
                      e->name);
  lc = le(h + 18, 4);
  lu = le(h + 22, 4);
  if (zip64_extra(h + LFH_LEN + nl, xl, &lu, &lc, NULL) < 0)
    return mg_err_set(err, MG_ERR_DATA, "member '%.200s': bad extra field",
                      e->name);
  if (!(e->flags & 8)
      && (le(h + 14, 4) != e->crc || lc != e->csize || lu != e->usize))
    return mg_err_set(err, MG_ERR_DATA,
                      "member '%.200s': the local header gives another CRC "
                      "or size than the central directory",
                      e->name);
  e->data = e->local + LFH_LEN + nl + xl;
  if (e->csize > cd_off - e->data)
    return mg_err_set(err, MG_ERR_DATA,
                      "member '%.200s': data runs into the central directory "
                      "or past the end",
                      e->name);
  (void)n;
  return 0;
}

int mg_zip_open(const unsigned char *p, size_t n, struct mg_zip *z,
                struct mg_err *err)
{
  uint64_t count = 0, cd_off = 0, cd_size = 0, pos;
  struct mg_zip_entry **byoff = NULL;
  const char **names = NULL;
  int rc = -1;

  memset(z, 0, sizeof(*z));
  if (end_record(p, n, &count, &cd_off, &cd_size, err) < 0)
    return -1;
  z->e = mg_xcalloc((size_t)count + 1, sizeof(*z->e));
  pos = cd_off;
  for (uint64_t i = 0; i < count; i++) {
    struct mg_zip_entry *e = &z->e[z->n];
    const unsigned char *h = p + pos;
    size_t nl, xl, cl;
    if (cd_off + cd_size - pos < CDH_LEN || memcmp(h, "PK\x01\x02", 4) != 0) {
      mg_err_set(err, MG_ERR_DATA, "central directory entry %llu is corrupt",
                 (unsigned long long)i);
      goto out;
    }
    nl = (size_t)le(h + 28, 2);
    xl = (size_t)le(h + 30, 2);
    cl = (size_t)le(h + 32, 2);
    if (CDH_LEN + nl + xl + cl > cd_off + cd_size - pos) {
      mg_err_set(err, MG_ERR_DATA, "central directory entry %llu is corrupt",
                 (unsigned long long)i);
      goto out;
    }
    if (memchr(h + CDH_LEN, 0, nl)) {
      mg_err_set(err, MG_ERR_DATA, "a member name holds a NUL byte");
      goto out;
    }
    e->name = mg_xstrndup((const char *)h + CDH_LEN, nl);
    z->n++;
    e->flags = (unsigned)le(h + 8, 2);
    e->method = (unsigned)le(h + 10, 2);
    e->crc = (uint32_t)le(h + 16, 4);
    e->csize = le(h + 20, 4);
    e->usize = le(h + 24, 4);
    e->local = le(h + 42, 4);
    if (zip64_extra(h + CDH_LEN + nl, xl, &e->usize, &e->csize, &e->local)
        < 0) {
      mg_err_set(err, MG_ERR_DATA, "member '%.200s': bad extra field", e->name);
      goto out;
    }
    if (le(h + 34, 2) != 0 && le(h + 34, 2) != 0xffff) {
      mg_err_set(err, MG_ERR_DATA, "a zip archive on several disks");
      goto out;
    }
    if (e->flags & 0x41) {
      mg_err_set(err, MG_ERR_DATA, "member '%.200s' is encrypted", e->name);
      goto out;
    }
    if (e->method != 0 && e->method != 8 && e->method != 12
        && e->method != 14) {
      mg_err_set(err, MG_ERR_DATA,
                 "member '%.200s': compression method %u is not supported",
                 e->name, e->method);
      goto out;
    }
    if (e->method == 0 && e->csize != e->usize) {
      mg_err_set(err, MG_ERR_DATA,
                 "member '%.200s' is stored with two different sizes", e->name);
      goto out;
    }
    e->dir = nl && e->name[nl - 1] == '/' && !e->usize;
    if (local_header(p, n, cd_off, e, err) < 0)
      goto out;
    pos += CDH_LEN + nl + xl + cl;
  }
  if (pos != cd_off + cd_size) {
    mg_err_set(err, MG_ERR_DATA,
               "the central directory holds more than its entries");
    goto out;
  }
  /* Members in file order: the first at the start, none overlapping. */
  byoff = mg_xcalloc(z->n + 1, sizeof(*byoff));
  names = mg_xcalloc(z->n + 1, sizeof(*names));
  for (size_t i = 0; i < z->n; i++) {
    byoff[i] = &z->e[i];
    names[i] = z->e[i].name;
  }
  qsort(byoff, z->n, sizeof(*byoff), cmp_local);
  if (z->n && byoff[0]->local != 0) {
    mg_err_set(err, MG_ERR_DATA, "%llu bytes before the first member",
               (unsigned long long)byoff[0]->local);
    goto out;
  }
  for (size_t i = 1; i < z->n; i++)
    if (byoff[i - 1]->data + byoff[i - 1]->csize > byoff[i]->local) {
      mg_err_set(err, MG_ERR_DATA, "members '%.200s' and '%.200s' overlap",
                 byoff[i - 1]->name, byoff[i]->name);
      goto out;
    }
  qsort(names, z->n, sizeof(*names), cmp_name_ci);
  for (size_t i = 1; i < z->n; i++)
    if (strcasecmp(names[i - 1], names[i]) == 0) {
      mg_err_set(err, MG_ERR_DATA,
                 "duplicate member '%.200s': loaders disagree on which one "
                 "counts",
                 names[i]);
      goto out;
    }
  rc = 0;
out:
  free(byoff);
  free(names);
  return rc;
}

int mg_zip_read(const struct mg_zip *z, size_t i, const unsigned char *p,
                size_t max, struct mg_buf *out, const unsigned char **data,
                size_t *len, struct mg_err *err)
{
  const struct mg_zip_entry *e = &z->e[i];
  struct mg_unpack_info info;
  int kind;

  if (e->usize > max)
    return mg_err_set(err, MG_ERR_DATA,
                      "member '%.200s' is larger than %zu bytes (%llu)",
                      e->name, max, (unsigned long long)e->usize);
  if (e->method == 0) {
    *data = p + e->data;
    *len = (size_t)e->usize;
  } else {
    kind = e->method == 8    ? MG_UNPACK_DEFLATE
           : e->method == 12 ? MG_UNPACK_BZIP2
                             : MG_UNPACK_ZIPLZMA;
    mg_buf_reset(out);
    if (mg_unpack(kind, p + e->data, (size_t)e->csize, e->usize, max, out,
                  &info, err)
        < 0) {
      mg_err_prefix(err, "member '%.200s'", e->name);
      return -1;
    }
    if (out->len != e->usize)
      return mg_err_set(err, MG_ERR_DATA,
                        "member '%.200s' decompresses to %zu bytes, the "
                        "central directory says %llu",
                        e->name, out->len, (unsigned long long)e->usize);
    *data = (const unsigned char *)(out->data ? out->data : "");
    *len = out->len;
  }
  if (mg_unpack_crc32(*data, *len) != e->crc)
    return mg_err_set(err, MG_ERR_DATA,
                      "member '%.200s': CRC-32 mismatch (zipfile refuses it, "
                      "torch may not)",
                      e->name);
  return 0;
}

void mg_zip_release(struct mg_zip *z)
{
  for (size_t i = 0; i < z->n; i++)
    free(z->e[i].name);
  free(z->e);
  z->e = NULL;
  z->n = 0;
}
