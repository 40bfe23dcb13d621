#include "verify/mg_safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mg_err.h"
#include "mg_json.h"
#include "mg_mem.h"

/* Largest integer a JSON number can carry exactly through a double. */
#define EXACT_MAX 9007199254740992.0

static const struct {
  const char *name;
  unsigned bits;
} dtypes[] = {
  { "BOOL", 8 },        { "F4", 4 },          { "F6_E2M3", 6 },
  { "F6_E3M2", 6 },     { "U8", 8 },          { "I8", 8 },
  { "F8_E5M2", 8 },     { "F8_E4M3", 8 },     { "F8_E8M0", 8 },
  { "F8_E4M3FNUZ", 8 }, { "F8_E5M2FNUZ", 8 }, { "I16", 16 },
  { "U16", 16 },        { "F16", 16 },        { "BF16", 16 },
  { "I32", 32 },        { "U32", 32 },        { "F32", 32 },
  { "C64", 64 },        { "F64", 64 },        { "I64", 64 },
  { "U64", 64 },
};

int mg_safetensors_utf8_valid(const unsigned char *p, size_t len)
{
  size_t i = 0;

  while (i < len) {
    unsigned c = p[i];
    size_t n;
    uint32_t cp;

    if (c < 0x80) {
      i++;
      continue;
    }
    if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      cp = c & 0x07;
    } else {
      return 0;
    }
    if (len - i <= n)
      return 0;
    for (size_t k = 1; k <= n; k++) {
      if ((p[i + k] & 0xc0) != 0x80)
        return 0;
      cp = cp << 6 | (p[i + k] & 0x3f);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff
        || (cp >= 0xd800 && cp <= 0xdfff))
      return 0;
    i += n + 1;
  }
  return 1;
}

static int get_u64(const struct mg_json *v, uint64_t *out)
{
  double d;

  if (!mg_json_is_number(v))
    return -1;
  d = mg_json_number(v);
  if (!(d >= 0) || d > EXACT_MAX || floor(d) != d)
    return -1;
  *out = (uint64_t)d;
  return 0;
}

struct tensor {
  const char *name;
  uint64_t begin, end;
  uint64_t nbits;
};

static int cmp_tensor(const void *a, const void *b)
{
  const struct tensor *x = a, *y = b;

  if (x->begin != y->begin)
    return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end)
    return x->end < y->end ? -1 : 1;
  return 0;
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void note_dtype(struct mg_safetensors_info *info, const char *name)
{
  size_t n = strlen(info->dtypes), k = strlen(name);
  const char *p = info->dtypes;

  while ((p = strstr(p, name))) {
    if ((p == info->dtypes || p[-1] == ',') && (p[k] == ',' || !p[k]))
      return;
    p += k;
  }
  if (n + k + 2 > sizeof(info->dtypes))
    return;
  if (n)
    info->dtypes[n++] = ',';
  memcpy(info->dtypes + n, name, k + 1);
}

static int check_tensor(const char *key, const struct mg_json *t,
                        struct tensor *out, struct mg_safetensors_info *info,
                        struct mg_err *err)
{
  const struct mg_json *dt = mg_json_get(t, "dtype");
  const struct mg_json *shape = mg_json_get(t, "shape");
  const struct mg_json *offs = mg_json_get(t, "data_offsets");
  unsigned bits = 0;
  uint64_t nel = 1, v;

  if (!mg_json_is_object(t))
    return mg_err_set(err, MG_ERR_DATA, "tensor '%.100s' is not an object",
                      key);
  if (!mg_json_is_string(dt))
    return mg_err_set(err, MG_ERR_DATA, "tensor '%.100s' has no dtype", key);
  for (size_t i = 0; i < sizeof(dtypes) / sizeof(dtypes[0]); i++)
    if (strcmp(dtypes[i].name, mg_json_string(dt)) == 0)
      bits = dtypes[i].bits;
  if (!bits)
    return mg_err_set(err, MG_ERR_DATA,
                      "tensor '%.100s' has unknown dtype "
                      "'%.32s'",
                      key, mg_json_string(dt));
  note_dtype(info, mg_json_string(dt));
  if (!mg_json_is_array(shape))
    return mg_err_set(err, MG_ERR_DATA, "tensor '%.100s' has no shape", key);
  for (const struct mg_json *d = mg_json_first(shape); d; d = mg_json_next(d)) {
    if (get_u64(d, &v) < 0)
      return mg_err_set(err, MG_ERR_DATA,
                        "tensor '%.100s' has an invalid dimension", key);
    if (v && nel > UINT64_MAX / v)
      return mg_err_set(err, MG_ERR_DATA,
                        "tensor '%.100s': element count overflows", key);
    nel *= v;
  }
  if (!mg_json_is_array(offs) || mg_json_size(offs) != 2
      || get_u64(mg_json_at(offs, 0), &out->begin) < 0
      || get_u64(mg_json_at(offs, 1), &out->end) < 0)
    return mg_err_set(err, MG_ERR_DATA,
                      "tensor '%.100s' has invalid data_offsets", key);
  if (out->end < out->begin)
    return mg_err_set(err, MG_ERR_DATA, "tensor '%.100s' ends before it begins",
                      key);
  if (nel > UINT64_MAX / bits)
    return mg_err_set(err, MG_ERR_DATA,
                      "tensor '%.100s': size in bits overflows", key);
  out->nbits = nel * bits;
  if (out->nbits % 8)
    return mg_err_set(err, MG_ERR_DATA,
                      "tensor '%.100s' is not a whole number of bytes", key);
  if (out->end - out->begin != out->nbits / 8)
    return mg_err_set(err, MG_ERR_DATA,
                      "tensor '%.100s' has %llu bytes of data, its dtype and "
                      "shape need %llu",
                      key, (unsigned long long)(out->end - out->begin),
                      (unsigned long long)(out->nbits / 8));
  out->name = key;
  return 0;
}

static int check_metadata(const struct mg_json *m, struct mg_err *err)
{
  if (!mg_json_is_object(m))
    return mg_err_set(err, MG_ERR_DATA, "__metadata__ is not an object");
  for (const struct mg_json *v = mg_json_first(m); v; v = mg_json_next(v))
    if (!mg_json_is_string(v))
      return mg_err_set(err, MG_ERR_DATA,
                        "__metadata__ value '%.100s' is not a string",
                        mg_json_key(v));
  return 0;
}

int mg_safetensors_check(const unsigned char *head, size_t head_len,
                         uint64_t file_size, struct mg_safetensors_info *info,
                         struct mg_err *err)
{
  struct mg_safetensors_info dummy;
  struct mg_json *hdr = NULL;
  struct tensor *ts = NULL;
  const char **keys = NULL;
  uint64_t n = 0, pos = 0;
  size_t nt = 0, nk = 0, count;
  int rc = -1;

  if (!info)
    info = &dummy;
  memset(info, 0, sizeof(*info));
  if (file_size < 8 || head_len < 8)
    return mg_err_set(err, MG_ERR_DATA, "header too small");
  for (int i = 7; i >= 0; i--)
    n = n << 8 | head[i];
  info->header_len = n;
  if (n > MG_SAFETENSORS_MAX_HEADER)
    return mg_err_set(err, MG_ERR_DATA, "header length %llu is too large",
                      (unsigned long long)n);
  if (n + 8 > file_size)
    return mg_err_set(err, MG_ERR_DATA,
                      "header length %llu passes the end "
                      "of the file",
                      (unsigned long long)n);
  if (n + 8 > head_len)
    return mg_err_set(err, MG_ERR_DATA, "header truncated");
  if (n < 2 || head[8] != '{')
    return mg_err_set(err, MG_ERR_DATA, "header does not start with '{'");
  if (!mg_safetensors_utf8_valid(head + 8, (size_t)n))
    return mg_err_set(err, MG_ERR_DATA, "header is not valid UTF-8");
  if (memchr(head + 8, '\0', (size_t)n))
    return mg_err_set(err, MG_ERR_DATA, "header holds a NUL byte");
  if (mg_json_parse((const char *)head + 8, (size_t)n, "safetensors header",
                    &hdr, err)
      < 0)
    return -1;
  if (!mg_json_is_object(hdr)) {
    mg_err_set(err, MG_ERR_DATA, "header is not a JSON object");
    goto out;
  }
  count = mg_json_size(hdr);
  keys = mg_xcalloc(count + 1, sizeof(*keys));
  ts = mg_xcalloc(count + 1, sizeof(*ts));
  for (const struct mg_json *m = mg_json_first(hdr); m; m = mg_json_next(m)) {
    const char *key = mg_json_key(m);
    keys[nk++] = key;
    if (strcmp(key, "__metadata__") == 0) {
      if (check_metadata(m, err) < 0)
        goto out;
      info->has_metadata = 1;
      continue;
    }
    if (check_tensor(key, m, &ts[nt], info, err) < 0)
      goto out;
    nt++;
  }
  qsort(keys, nk, sizeof(*keys), cmp_str);
  for (size_t i = 1; i < nk; i++)
    if (strcmp(keys[i - 1], keys[i]) == 0) {
      mg_err_set(err, MG_ERR_DATA, "duplicate key '%.100s' in header", keys[i]);
      goto out;
    }
  qsort(ts, nt, sizeof(*ts), cmp_tensor);
  for (size_t i = 0; i < nt; i++) {
    if (ts[i].begin != pos) {
      mg_err_set(err, MG_ERR_DATA,
                 ts[i].begin < pos ? "overlapping offsets for tensor '%.100s'"
                                   : "gap before tensor '%.100s'",
                 ts[i].name);
      goto out;
    }
    pos = ts[i].end;
  }
  if (pos + 8 + n != file_size) {
    mg_err_set(err, MG_ERR_DATA,
               "tensors cover %llu data bytes but the file holds %llu",
               (unsigned long long)pos,
               (unsigned long long)(file_size - 8 - n));
    goto out;
  }
  info->n_tensors = nt;
  info->data_bytes = pos;
  rc = 0;
out:
  free(keys);
  free(ts);
  mg_json_free(hdr);
  return rc;
}

/* Reads the header of a file and validates it; *hdr (may be NULL) keeps
 * the bytes read (8 + N when the header is well formed). */
static int check_file(const char *path, struct mg_safetensors_info *info,
                      unsigned char **hdr, size_t *hdr_len, struct mg_err *err)
{
  unsigned char *buf = NULL;
  unsigned char len8[8];
  uint64_t n = 0;
  size_t want, got = 0;
  struct stat sb;
  int fd, rc = -1;

  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return mg_err_errno(err, MG_ERR_IO, "cannot open '%s'", path);
  if (fstat(fd, &sb) < 0) {
    mg_err_errno(err, MG_ERR_IO, "cannot stat '%s'", path);
    goto out;
  }
  if (pread(fd, len8, 8, 0) != 8) {
    rc = mg_safetensors_check(len8, 0, (uint64_t)sb.st_size, info, err);
    goto out;
  }
  for (int i = 7; i >= 0; i--)
    n = n << 8 | len8[i];
  if (n > MG_SAFETENSORS_MAX_HEADER || n + 8 > (uint64_t)sb.st_size) {
    rc = mg_safetensors_check(len8, 8, (uint64_t)sb.st_size, info, err);
    goto out;
  }
  want = (size_t)n + 8;
  buf = mg_xmalloc(want);
  while (got < want) {
    ssize_t r = pread(fd, buf + got, want - got, (off_t)got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      mg_err_errno(err, MG_ERR_IO, "cannot read '%s'", path);
      goto out;
    }
    if (r == 0)
      break;
    got += (size_t)r;
  }
  rc = mg_safetensors_check(buf, got, (uint64_t)sb.st_size, info, err);
  if (rc == 0 && hdr) {
    *hdr = buf;
    *hdr_len = got;
    buf = NULL;
  }
out:
  free(buf);
  close(fd);
  return rc;
}

int mg_safetensors_check_file(const char *path,
                              struct mg_safetensors_info *info,
                              struct mg_err *err)
{
  return check_file(path, info, NULL, NULL, err);
}

int mg_safetensors_names_file(const char *path, char ***names, size_t *n,
                              struct mg_err *err)
{
  struct mg_safetensors_info info;
  unsigned char *hdr = NULL;
  size_t len = 0, k = 0;
  struct mg_json *j = NULL;

  *names = NULL;
  *n = 0;
  if (check_file(path, &info, &hdr, &len, err) < 0)
    return -1;
  if (mg_json_parse((const char *)hdr + 8, len - 8, "safetensors header", &j,
                    err)
      < 0) {
    free(hdr);
    return -1;
  }
  *names = mg_xcalloc(mg_json_size(j) + 1, sizeof(**names));
  for (const struct mg_json *t = mg_json_first(j); t; t = mg_json_next(t))
    if (strcmp(mg_json_key(t), "__metadata__") != 0)
      (*names)[k++] = mg_xstrdup(mg_json_key(t));
  *n = k;
  if (k > 1)
    qsort(*names, k, sizeof(**names), cmp_str);
  mg_json_free(j);
  free(hdr);
  return 0;
}

void mg_safetensors_names_free(char **names, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
}
