#include "verify/mg_gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "mg_mem.h"

#define MAX_DIMS 4
#define NAME_MAX_LEN 64
#define KEY_MAX_LEN 65535
#define TEMPLATE_MAX ((size_t)1 << 20)

enum {
  T_U8 = 0,
  T_I8,
  T_U16,
  T_I16,
  T_U32,
  T_I32,
  T_F32,
  T_BOOL,
  T_STRING,
  T_ARRAY,
  T_U64,
  T_I64,
  T_F64,
  T_COUNT
};

/* ggml types: bytes per block and elements per block; 0 = removed. */
static const struct {
  unsigned size, block;
} ggml_types[] = {
  { 4, 1 },     /* 0 F32 */ { 2, 1 },         /* 1 F16 */
  { 18, 32 },   /* 2 Q4_0 */ { 20, 32 },      /* 3 Q4_1 */
  { 0, 0 },     /* 4 Q4_2 */ { 0, 0 },        /* 5 Q4_3 */
  { 22, 32 },   /* 6 Q5_0 */ { 24, 32 },      /* 7 Q5_1 */
  { 34, 32 },   /* 8 Q8_0 */ { 36, 32 },      /* 9 Q8_1 */
  { 84, 256 },  /* 10 Q2_K */ { 110, 256 },   /* 11 Q3_K */
  { 144, 256 }, /* 12 Q4_K */ { 176, 256 },   /* 13 Q5_K */
  { 210, 256 }, /* 14 Q6_K */ { 292, 256 },   /* 15 Q8_K */
  { 66, 256 },  /* 16 IQ2_XXS */ { 74, 256 }, /* 17 IQ2_XS */
  { 98, 256 },  /* 18 IQ3_XXS */ { 50, 256 }, /* 19 IQ1_S */
  { 18, 32 },   /* 20 IQ4_NL */ { 110, 256 }, /* 21 IQ3_S */
  { 82, 256 },  /* 22 IQ2_S */ { 136, 256 },  /* 23 IQ4_XS */
  { 1, 1 },     /* 24 I8 */ { 2, 1 },         /* 25 I16 */
  { 4, 1 },     /* 26 I32 */ { 8, 1 },        /* 27 I64 */
  { 8, 1 },     /* 28 F64 */ { 56, 256 },     /* 29 IQ1_M */
  { 2, 1 },     /* 30 BF16 */ { 0, 0 },       /* 31 */
  { 0, 0 },     /* 32 */ { 0, 0 },            /* 33 */
  { 54, 256 },  /* 34 TQ1_0 */ { 66, 256 },   /* 35 TQ2_0 */
  { 0, 0 },     /* 36 */ { 0, 0 },            /* 37 */
  { 0, 0 },     /* 38 */ { 17, 32 },          /* 39 MXFP4 */
};

struct cur {
  const unsigned char *p;
  uint64_t n, pos;
  struct mg_err *err;
};

struct span {
  const unsigned char *p;
  uint64_t len;
};

struct tinfo {
  struct span name;
  uint64_t offset, nbytes;
};

static int need(struct cur *c, uint64_t k, const char *what)
{
  if (k > c->n - c->pos)
    return mg_err_set(c->err, MG_ERR_DATA, "truncated %s at byte %llu", what,
                      (unsigned long long)c->pos);
  return 0;
}

static int rd_u32(struct cur *c, uint32_t *v, const char *what)
{
  if (need(c, 4, what) < 0)
    return -1;
  *v = 0;
  for (int i = 3; i >= 0; i--)
    *v = *v << 8 | c->p[c->pos + (uint64_t)i];
  c->pos += 4;
  return 0;
}

static int rd_u64(struct cur *c, uint64_t *v, const char *what)
{
  if (need(c, 8, what) < 0)
    return -1;
  *v = 0;
  for (int i = 7; i >= 0; i--)
    *v = *v << 8 | c->p[c->pos + (uint64_t)i];
  c->pos += 8;
  return 0;
}

static int rd_str(struct cur *c, struct span *s, const char *what)
{
  if (rd_u64(c, &s->len, what) < 0)
    return -1;
  if (s->len > MG_GGUF_MAX_STRING)
    return mg_err_set(c->err, MG_ERR_DATA, "%s of %llu bytes is too long", what,
                      (unsigned long long)s->len);
  if (need(c, s->len, what) < 0)
    return -1;
  s->p = c->p + c->pos;
  c->pos += s->len;
  return 0;
}

static int span_is(const struct span *s, const char *lit)
{
  size_t n = strlen(lit);

  return s->len == n && memcmp(s->p, lit, n) == 0;
}

static int cmp_span(const void *a, const void *b)
{
  const struct span *x = a, *y = b;
  uint64_t n = x->len < y->len ? x->len : y->len;
  int r = memcmp(x->p, y->p, (size_t)n);

  if (r)
    return r;
  return x->len < y->len ? -1 : x->len > y->len;
}

static int cmp_tinfo(const void *a, const void *b)
{
  const struct tinfo *x = a, *y = b;

  if (x->offset != y->offset)
    return x->offset < y->offset ? -1 : 1;
  return 0;
}

static unsigned scalar_size(uint32_t t)
{
  static const unsigned sz[T_COUNT] = { 1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8 };

  return t < T_COUNT ? sz[t] : 0;
}

static int skip_value(struct cur *c, uint32_t type, const struct span *key)
{
  if (type >= T_COUNT)
    return mg_err_set(c->err, MG_ERR_DATA,
                      "key '%.*s' has unknown value type %u",
                      (int)(key->len > 100 ? 100 : key->len), key->p, type);
  if (type == T_STRING) {
    struct span s;
    return rd_str(c, &s, "string value");
  }
  if (type == T_ARRAY) {
    uint32_t et;
    uint64_t cnt;

    if (rd_u32(c, &et, "array type") < 0 || rd_u64(c, &cnt, "array length") < 0)
      return -1;
    if (et == T_ARRAY || et >= T_COUNT)
      return mg_err_set(c->err, MG_ERR_DATA, "key '%.*s' has an array of %s",
                        (int)(key->len > 100 ? 100 : key->len), key->p,
                        et == T_ARRAY ? "arrays" : "unknown type");
    if (cnt > MG_GGUF_MAX_STRING)
      return mg_err_set(c->err, MG_ERR_DATA,
                        "key '%.*s' has an array of %llu elements",
                        (int)(key->len > 100 ? 100 : key->len), key->p,
                        (unsigned long long)cnt);
    if (et == T_STRING) {
      if (cnt > (c->n - c->pos) / 8)
        return need(c, c->n - c->pos + 1, "string array");
      for (uint64_t i = 0; i < cnt; i++) {
        struct span s;
        if (rd_str(c, &s, "array string") < 0)
          return -1;
      }
      return 0;
    }
    if (cnt > (c->n - c->pos) / scalar_size(et))
      return need(c, c->n - c->pos + 1, "array");
    c->pos += cnt * scalar_size(et);
    return 0;
  }
  if (need(c, scalar_size(type), "value") < 0)
    return -1;
  c->pos += scalar_size(type);
  return 0;
}

static int add_template(struct mg_buf *tpl, const struct span *s)
{
  if (tpl->len && mg_buf_addch(tpl, '\n', NULL) < 0)
    return 0;
  if (s->len > tpl->max - tpl->len)
    return 0;
  mg_buf_add(tpl, s->p, (size_t)s->len, NULL);
  return 0;
}

static int read_kv(struct cur *c, struct span *keys, uint64_t n_kv,
                   struct mg_gguf_info *info, struct mg_buf *tpl)
{
  for (uint64_t i = 0; i < n_kv; i++) {
    struct span *key = &keys[i];
    uint32_t type;

    if (rd_str(c, key, "key") < 0)
      return -1;
    if (key->len == 0 || key->len > KEY_MAX_LEN)
      return mg_err_set(c->err, MG_ERR_DATA, "key %llu has length %llu",
                        (unsigned long long)i, (unsigned long long)key->len);
    if (rd_u32(c, &type, "value type") < 0)
      return -1;
    if (span_is(key, "general.alignment")) {
      uint32_t a;
      if (type != T_U32)
        return mg_err_set(c->err, MG_ERR_DATA,
                          "general.alignment is not a u32");
      if (rd_u32(c, &a, "alignment") < 0)
        return -1;
      if (a == 0 || (a & (a - 1)))
        return mg_err_set(c->err, MG_ERR_DATA,
                          "general.alignment %u is not a power of two", a);
      info->alignment = a;
      continue;
    }
    if (type == T_STRING
        && (span_is(key, "general.architecture")
            || (key->len >= 23
                && memcmp(key->p, "tokenizer.chat_template", 23) == 0))) {
      struct span s;
      if (rd_str(c, &s, "string value") < 0)
        return -1;
      if (span_is(key, "general.architecture")) {
        free(info->architecture);
        info->architecture =
            mg_xstrndup((const char *)s.p, (size_t)(s.len > 256 ? 256 : s.len));
      } else {
        add_template(tpl, &s);
      }
      continue;
    }
    if (skip_value(c, type, key) < 0)
      return -1;
  }
  qsort(keys, (size_t)n_kv, sizeof(*keys), cmp_span);
  for (uint64_t i = 1; i < n_kv; i++)
    if (cmp_span(&keys[i - 1], &keys[i]) == 0)
      return mg_err_set(c->err, MG_ERR_DATA, "duplicate key '%.*s'",
                        (int)(keys[i].len > 100 ? 100 : keys[i].len),
                        keys[i].p);
  return 0;
}

static int read_tensor(struct cur *c, struct tinfo *t,
                       const struct mg_gguf_info *info)
{
  uint32_t nd, type;
  uint64_t ne[MAX_DIMS], nel = 1, rows = 1, row_bytes;
  int nl;

  if (rd_str(c, &t->name, "tensor name") < 0)
    return -1;
  nl = (int)(t->name.len > 100 ? 100 : t->name.len);
  if (t->name.len == 0 || t->name.len >= NAME_MAX_LEN)
    return mg_err_set(c->err, MG_ERR_DATA,
                      "tensor name of %llu bytes (limit %d)",
                      (unsigned long long)t->name.len, NAME_MAX_LEN - 1);
  if (rd_u32(c, &nd, "tensor dimensions") < 0)
    return -1;
  if (nd == 0 || nd > MAX_DIMS)
    return mg_err_set(c->err, MG_ERR_DATA, "tensor '%.*s' has %u dimensions",
                      nl, t->name.p, nd);
  for (uint32_t d = 0; d < nd; d++) {
    if (rd_u64(c, &ne[d], "tensor dimension") < 0)
      return -1;
    if (ne[d] == 0 || ne[d] > (uint64_t)INT64_MAX)
      return mg_err_set(c->err, MG_ERR_DATA,
                        "tensor '%.*s' has dimension %u of size %llu", nl,
                        t->name.p, d, (unsigned long long)ne[d]);
    if (nel > (uint64_t)INT64_MAX / ne[d])
      return mg_err_set(c->err, MG_ERR_DATA,
                        "tensor '%.*s': element count overflows", nl,
                        t->name.p);
    nel *= ne[d];
    if (d)
      rows *= ne[d];
  }
  if (rd_u32(c, &type, "tensor type") < 0
      || rd_u64(c, &t->offset, "tensor offset") < 0)
    return -1;
  if (type >= sizeof(ggml_types) / sizeof(ggml_types[0])
      || !ggml_types[type].size)
    return mg_err_set(c->err, MG_ERR_DATA,
                      "tensor '%.*s' has unknown ggml type %u", nl, t->name.p,
                      type);
  if (ne[0] % ggml_types[type].block)
    return mg_err_set(c->err, MG_ERR_DATA,
                      "tensor '%.*s': row of %llu is not a multiple of the "
                      "block size %u",
                      nl, t->name.p, (unsigned long long)ne[0],
                      ggml_types[type].block);
  row_bytes = ne[0] / ggml_types[type].block * ggml_types[type].size;
  if (rows && row_bytes > (uint64_t)INT64_MAX / rows)
    return mg_err_set(c->err, MG_ERR_DATA, "tensor '%.*s': size overflows", nl,
                      t->name.p);
  t->nbytes = row_bytes * rows;
  if (t->offset % info->alignment)
    return mg_err_set(
        c->err, MG_ERR_DATA, "tensor '%.*s' offset %llu is not aligned to %u",
        nl, t->name.p, (unsigned long long)t->offset, info->alignment);
  return 0;
}

static int check_tensors(struct cur *c, struct tinfo *ts, uint64_t nt,
                         struct mg_gguf_info *info)
{
  uint64_t data_size, end = 0, used = 0;
  struct span *names;
  int rc = -1;

  /* The alignment may only be known after the key/values: check here. */
  for (uint64_t i = 0; i < nt; i++)
    if (ts[i].offset % info->alignment)
      return mg_err_set(c->err, MG_ERR_DATA,
                        "tensor offset %llu is not aligned to %u",
                        (unsigned long long)ts[i].offset, info->alignment);
  info->data_offset =
      (c->pos + info->alignment - 1) / info->alignment * info->alignment;
  if (nt && info->data_offset > c->n)
    return mg_err_set(c->err, MG_ERR_DATA,
                      "data section starts past the "
                      "end of the file");
  data_size = info->data_offset <= c->n ? c->n - info->data_offset : 0;
  names = mg_xcalloc((size_t)nt + 1, sizeof(*names));
  for (uint64_t i = 0; i < nt; i++)
    names[i] = ts[i].name;
  qsort(names, (size_t)nt, sizeof(*names), cmp_span);
  for (uint64_t i = 1; i < nt; i++)
    if (cmp_span(&names[i - 1], &names[i]) == 0) {
      mg_err_set(c->err, MG_ERR_DATA, "duplicate tensor '%.*s'",
                 (int)names[i].len, names[i].p);
      goto out;
    }
  qsort(ts, (size_t)nt, sizeof(*ts), cmp_tinfo);
  for (uint64_t i = 0; i < nt; i++) {
    if (ts[i].offset < end) {
      mg_err_set(c->err, MG_ERR_DATA,
                 "tensor '%.*s' overlaps the previous "
                 "one",
                 (int)ts[i].name.len, ts[i].name.p);
      goto out;
    }
    if (ts[i].offset > data_size || ts[i].nbytes > data_size - ts[i].offset) {
      mg_err_set(c->err, MG_ERR_DATA,
                 "tensor '%.*s' extends past the end of the file",
                 (int)ts[i].name.len, ts[i].name.p);
      goto out;
    }
    end = ts[i].offset + ts[i].nbytes;
    used += ts[i].nbytes;
  }
  info->data_bytes = used;
  rc = 0;
out:
  free(names);
  return rc;
}

int mg_gguf_check(const unsigned char *p, size_t n, struct mg_gguf_info *info,
                  struct mg_err *err)
{
  struct mg_gguf_info dummy;
  struct cur c = { p, n, 0, err };
  struct mg_buf tpl = MG_BUF_INIT(TEMPLATE_MAX);
  struct span *keys = NULL;
  struct tinfo *ts = NULL;
  int rc = -1;

  if (!info)
    info = &dummy;
  memset(info, 0, sizeof(*info));
  info->alignment = 32;
  if (n < 4 || memcmp(p, "GGUF", 4) != 0)
    return mg_err_set(err, MG_ERR_DATA, "not a GGUF file: bad magic");
  c.pos = 4;
  if (rd_u32(&c, &info->version, "version") < 0)
    goto out;
  if (info->version != 2 && info->version != 3) {
    mg_err_set(err, MG_ERR_DATA, "unsupported GGUF version %u%s", info->version,
               (info->version & 0xffff) == 0 ? " (big-endian?)" : "");
    goto out;
  }
  if (rd_u64(&c, &info->n_tensors, "tensor count") < 0
      || rd_u64(&c, &info->n_kv, "key/value count") < 0)
    goto out;
  /* A tensor info takes at least 33 bytes, a key/value at least 14. */
  if (info->n_tensors > (c.n - c.pos) / 33) {
    mg_err_set(err, MG_ERR_DATA, "tensor count %llu does not fit the file",
               (unsigned long long)info->n_tensors);
    goto out;
  }
  if (info->n_kv > (c.n - c.pos) / 14) {
    mg_err_set(err, MG_ERR_DATA, "key/value count %llu does not fit the file",
               (unsigned long long)info->n_kv);
    goto out;
  }
  keys = mg_xcalloc((size_t)info->n_kv + 1, sizeof(*keys));
  if (read_kv(&c, keys, info->n_kv, info, &tpl) < 0)
    goto out;
  ts = mg_xcalloc((size_t)info->n_tensors + 1, sizeof(*ts));
  for (uint64_t i = 0; i < info->n_tensors; i++)
    if (read_tensor(&c, &ts[i], info) < 0)
      goto out;
  if (check_tensors(&c, ts, info->n_tensors, info) < 0)
    goto out;
  rc = 0;
out:
  if (tpl.len)
    info->chat_template = mg_buf_detach(&tpl, NULL);
  mg_buf_release(&tpl);
  free(keys);
  free(ts);
  if (info == &dummy)
    mg_gguf_info_release(info);
  return rc;
}

int mg_gguf_check_file(const char *path, struct mg_gguf_info *info,
                       struct mg_err *err)
{
  struct stat sb;
  void *map;
  int fd, rc;

  if (info)
    memset(info, 0, sizeof(*info));
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return mg_err_errno(err, MG_ERR_IO, "cannot open '%s'", path);
  if (fstat(fd, &sb) < 0) {
    close(fd);
    return mg_err_errno(err, MG_ERR_IO, "cannot stat '%s'", path);
  }
  if (sb.st_size < 24) {
    close(fd);
    return mg_err_set(err, MG_ERR_DATA, "not a GGUF file: %lld bytes",
                      (long long)sb.st_size);
  }
  map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (map == MAP_FAILED)
    return mg_err_errno(err, MG_ERR_IO, "cannot map '%s'", path);
  rc = mg_gguf_check(map, (size_t)sb.st_size, info, err);
  munmap(map, (size_t)sb.st_size);
  return rc;
}

void mg_gguf_info_release(struct mg_gguf_info *info)
{
  if (!info)
    return;
  free(info->architecture);
  free(info->chat_template);
  info->architecture = info->chat_template = NULL;
}
