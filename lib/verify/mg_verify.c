#include "verify/mg_verify.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mg_archive.h"
#include "mg_buf.h"
#include "mg_digest.h"
#include "mg_err.h"
#include "mg_io.h"
#include "mg_json.h"
#include "mg_mem.h"
#include "mg_time.h"
#include "mg_tree.h"
#include "py/mg_pv.h"
#include "py/mg_yaml.h"
#include "verify/mg_gguf.h"
#include "verify/mg_pickle.h"
#include "verify/mg_safetensors.h"
#include "verify/mg_sign.h"

#define HEAD_LEN 4096
#define TEXT_SNIFF ((size_t)1 << 20)
#define MEMBER_MAX ((size_t)512 << 20)

enum sev { SEV_INFO, SEV_WARN, SEV_ERROR };

static const char *const sev_names[] = { "info", "warning", "error" };

struct finding {
  enum sev sev;
  const char *check; /* static */
  char *path;
  char *msg;
};

struct findings {
  struct finding *v;
  size_t n;
};

struct fres {
  const struct mg_tree_entry *e;
  char sha256[MG_DIGEST_SHA256_HEX_LEN + 1];
  uint64_t size;
  int hashed;
  const char *format;
  struct mg_json *detail;
  struct findings f;
};

struct job {
  const struct mg_verify_opts *o;
  struct fres *res;
  size_t n, next;
  pthread_mutex_t lock;
  struct mg_err err;
  int failed;
};

static void add_finding(struct findings *f, enum sev sev, const char *check,
                        const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void add_finding(struct findings *f, enum sev sev, const char *check,
                        const char *path, const char *fmt, ...)
{
  char msg[512];
  va_list ap;

  va_start(ap, fmt);
  (void)vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  f->v = mg_xreallocarray(f->v, f->n + 1, sizeof(*f->v));
  f->v[f->n].sev = sev;
  f->v[f->n].check = check;
  f->v[f->n].path = path ? mg_xstrdup(path) : NULL;
  f->v[f->n].msg = mg_xstrdup(msg);
  f->n++;
}

static void findings_release(struct findings *f)
{
  for (size_t i = 0; i < f->n; i++) {
    free(f->v[i].path);
    free(f->v[i].msg);
  }
  free(f->v);
  f->v = NULL;
  f->n = 0;
}

/* ---- policy ---- */

void mg_verify_policy_init(struct mg_verify_policy *p)
{
  memset(p, 0, sizeof(*p));
  p->pickle = 1;
}

static void free_list(char **l)
{
  for (char **s = l; s && *s; s++)
    free(*s);
  free(l);
}

void mg_verify_policy_release(struct mg_verify_policy *p)
{
  free_list(p->formats);
  free_list(p->pickle_allow);
  free_list(p->licenses);
  free_list(p->required_files);
  mg_verify_policy_init(p);
}

static int get_list(const struct mg_json *v, const char *key, int lower,
                    char ***out, struct mg_err *err)
{
  size_t n = 0;

  if (!mg_json_is_array(v))
    return mg_err_set(err, MG_ERR_DATA, "policy field '%s' is not a list", key);
  free_list(*out);
  *out = mg_xcalloc(mg_json_size(v) + 1, sizeof(**out));
  for (const struct mg_json *s = mg_json_first(v); s; s = mg_json_next(s)) {
    if (!mg_json_is_string(s))
      return mg_err_set(err, MG_ERR_DATA,
                        "policy field '%s' holds a non-string", key);
    (*out)[n] = mg_xstrdup(mg_json_string(s));
    if (lower)
      for (char *c = (*out)[n]; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
          *c = (char)(*c - 'A' + 'a');
    n++;
  }
  return 0;
}

static int get_bool(const struct mg_json *v, const char *key, int *out,
                    struct mg_err *err)
{
  if (!mg_json_is_bool(v))
    return mg_err_set(err, MG_ERR_DATA, "policy field '%s' is not a boolean",
                      key);
  *out = mg_json_bool(v);
  return 0;
}

static int apply_policy(const struct mg_json *j, struct mg_verify_policy *p,
                        struct mg_err *err)
{
  if (!mg_json_is_object(j))
    return mg_err_set(err, MG_ERR_DATA, "policy is not an object");
  for (const struct mg_json *m = mg_json_first(j); m; m = mg_json_next(m)) {
    const char *k = mg_json_key(m);
    int r;

    if (strcmp(k, "formats") == 0) {
      r = get_list(m, k, 1, &p->formats, err);
    } else if (strcmp(k, "pickle") == 0) {
      const char *s = mg_json_string(m);
      if (!s || (strcmp(s, "allowlist") != 0 && strcmp(s, "deny") != 0))
        return mg_err_set(err, MG_ERR_DATA,
                          "policy field 'pickle' must be \"allowlist\" or "
                          "\"deny\"");
      p->pickle = strcmp(s, "allowlist") == 0;
      r = 0;
    } else if (strcmp(k, "pickle_allow") == 0) {
      r = get_list(m, k, 0, &p->pickle_allow, err);
    } else if (strcmp(k, "unknown_formats") == 0) {
      const char *s = mg_json_string(m);
      if (!s || (strcmp(s, "warn") != 0 && strcmp(s, "fail") != 0))
        return mg_err_set(err, MG_ERR_DATA,
                          "policy field 'unknown_formats' must be \"warn\" "
                          "or \"fail\"");
      p->unknown_fail = strcmp(s, "fail") == 0;
      r = 0;
    } else if (strcmp(k, "allow_code") == 0) {
      r = get_bool(m, k, &p->allow_code, err);
    } else if (strcmp(k, "licenses") == 0) {
      r = get_list(m, k, 1, &p->licenses, err);
    } else if (strcmp(k, "required_files") == 0) {
      r = get_list(m, k, 0, &p->required_files, err);
    } else if (strcmp(k, "max_total_bytes") == 0) {
      double d = mg_json_number(m);
      if (!mg_json_is_number(m) || d < 0 || d > 9e18)
        return mg_err_set(err, MG_ERR_DATA,
                          "policy field 'max_total_bytes' is not a size");
      p->max_total_bytes = (uint64_t)d;
      r = 0;
    } else if (strcmp(k, "require_signature") == 0) {
      r = get_bool(m, k, &p->require_signature, err);
    } else if (strcmp(k, "allow_symlinks") == 0) {
      r = get_bool(m, k, &p->allow_symlinks, err);
    } else if (strcmp(k, "allow_extra_files") == 0) {
      r = get_bool(m, k, &p->allow_extra_files, err);
    } else {
      return mg_err_set(err, MG_ERR_DATA, "unknown policy field '%.64s'", k);
    }
    if (r < 0)
      return -1;
  }
  return 0;
}

int mg_verify_policy_load(const char *path, struct mg_verify_policy *p,
                          struct mg_err *err)
{
  struct mg_buf b = MG_BUF_INIT(16 << 20);
  struct mg_json *j = NULL;
  size_t i = 0;
  int rc = -1;

  if (mg_io_read_file(path, &b, err) < 0)
    goto out;
  while (i < b.len
         && (b.data[i] == ' ' || b.data[i] == '\n' || b.data[i] == '\t'
             || b.data[i] == '\r'))
    i++;
  if (i < b.len && b.data[i] == '{') {
    if (mg_json_parse(b.data, b.len, path, &j, err) < 0)
      goto out;
  } else {
    struct mg_pv *v = NULL;
    if (mg_yaml_parse(b.data, b.len, path, &v, err) < 0)
      goto out;
    j = mg_pv_to_json(v);
    mg_pv_unref(v);
  }
  if (apply_policy(j, p, err) < 0) {
    mg_err_prefix(err, "policy '%s'", path);
    goto out;
  }
  rc = 0;
out:
  mg_json_free(j);
  mg_buf_release(&b);
  return rc;
}

static struct mg_json *list_json(char **l)
{
  struct mg_json *a;

  if (!l)
    return mg_json_new_null();
  a = mg_json_new_array();
  for (; *l; l++)
    mg_json_append(a, mg_json_new_string(*l));
  return a;
}

struct mg_json *mg_verify_policy_json(const struct mg_verify_policy *p)
{
  struct mg_json *j = mg_json_new_object();

  mg_json_set(j, "formats", list_json(p->formats));
  mg_json_set_string(j, "pickle", p->pickle ? "allowlist" : "deny");
  mg_json_set(j, "pickle_allow", list_json(p->pickle_allow));
  mg_json_set_string(j, "unknown_formats", p->unknown_fail ? "fail" : "warn");
  mg_json_set_bool(j, "allow_code", p->allow_code);
  mg_json_set(j, "licenses", list_json(p->licenses));
  mg_json_set(j, "required_files", list_json(p->required_files));
  if (p->max_total_bytes)
    mg_json_set_number(j, "max_total_bytes", (double)p->max_total_bytes);
  else
    mg_json_set(j, "max_total_bytes", mg_json_new_null());
  mg_json_set_bool(j, "require_signature", p->require_signature);
  mg_json_set_bool(j, "allow_symlinks", p->allow_symlinks);
  mg_json_set_bool(j, "allow_extra_files", p->allow_extra_files);
  return j;
}

/* ---- chat templates ---- */

static int word_char(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
         || (c >= '0' && c <= '9') || c == '_';
}

const char *mg_verify_template_marker(const char *tpl)
{
  /* Attribute walks that reach Python internals, and the names a
   * sandbox escape ends in (CVE-2024-34359 and its successors). */
  static const char *const anywhere[] = {
    "__globals__",  "__class__",  "__subclasses__",
    "__builtins__", "__mro__",    "__base__",
    "__init__",     "__import__", "__getattribute__",
    "__dict__",     "__code__",   "func_globals",
    "popen",        "subprocess", "os.system",
  };
  static const char *const words[] = { "import", "eval",   "exec",  "getattr",
                                       "lipsum", "cycler", "joiner" };

  if (!tpl)
    return NULL;
  for (size_t i = 0; i < sizeof(anywhere) / sizeof(anywhere[0]); i++)
    if (strstr(tpl, anywhere[i]))
      return anywhere[i];
  for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
    size_t n = strlen(words[i]);
    for (const char *p = strstr(tpl, words[i]); p; p = strstr(p + 1, words[i]))
      if ((p == tpl || !word_char(p[-1])) && !word_char(p[n]))
        return words[i];
  }
  return NULL;
}

static void check_template(struct fres *r, const char *tpl, const char *where)
{
  const char *m = mg_verify_template_marker(tpl);

  if (m)
    add_finding(&r->f, SEV_ERROR, "chat_template", r->e->path,
                "%s holds '%s', a template sandbox-escape marker", where, m);
  else
    add_finding(&r->f, SEV_INFO, "chat_template", r->e->path,
                "%s present (%zu bytes): review it", where, strlen(tpl));
}

/* ---- per-format checks ---- */

static const char *detect(const unsigned char *h, size_t hl, uint64_t size,
                          const char *path)
{
  size_t pl = strlen(path);
  uint64_t n = 0;

  if (size == 0)
    return "empty";
  if (hl >= 4 && memcmp(h, "PK", 2) == 0
      && ((h[2] == 3 && h[3] == 4) || (h[2] == 5 && h[3] == 6)))
    return "zip";
  if (hl >= 4 && memcmp(h, "GGUF", 4) == 0)
    return "gguf";
  if (hl >= 6 && memcmp(h, "\x93NUMPY", 6) == 0)
    return "numpy";
  if (hl >= 9) {
    for (int i = 7; i >= 0; i--)
      n = n << 8 | h[i];
    if (n >= 2 && n <= MG_SAFETENSORS_MAX_HEADER && n + 8 <= size
        && h[8] == '{')
      return "safetensors";
  }
  /* A name can only make the checks stricter: a file that claims to be
   * safetensors or GGUF is validated as one, and fails if it is not. */
  if (pl > 12 && strcmp(path + pl - 12, ".safetensors") == 0)
    return "safetensors";
  if (pl > 5 && strcmp(path + pl - 5, ".gguf") == 0)
    return "gguf";
  if (hl >= 2 && h[0] == 0x80 && h[1] >= 2 && h[1] <= 5)
    return "pickle";
  if (hl >= 262 && memcmp(h + 257, "ustar", 5) == 0)
    return "tar";
  if ((hl >= 2 && h[0] == 0x1f && h[1] == 0x8b)
      || (hl >= 3 && memcmp(h, "BZh", 3) == 0)
      || (hl >= 6
          && memcmp(h,
                    "\xfd"
                    "7zXZ\0",
                    6)
                 == 0)
      || (hl >= 4 && memcmp(h, "\x28\xb5\x2f\xfd", 4) == 0)
      || (hl >= 4 && memcmp(h, "\x04\x22\x4d\x18", 4) == 0)
      || (hl >= 6 && memcmp(h, "7z\xbc\xaf\x27\x1c", 6) == 0)
      || (hl >= 2 && h[0] == 0x78
          && (h[1] == 0x01 || h[1] == 0x5e || h[1] == 0x9c || h[1] == 0xda)))
    return "compressed";
  if (pl > 5 && strcmp(path + pl - 5, ".onnx") == 0 && h[0] == 0x08)
    return "onnx";
  return NULL;
}

static const char *text_kind(const char *path)
{
  size_t n = strlen(path);

  if (n > 3 && strcmp(path + n - 3, ".py") == 0)
    return "python";
  if (n > 5 && strcmp(path + n - 5, ".json") == 0)
    return "json";
  if (n > 6 && strcmp(path + n - 6, ".jinja") == 0)
    return "jinja";
  return "text";
}

/* Whether n bytes look like text: UTF-8, no NUL (a cut-off character at
 * the end of a sniffed prefix is tolerated). */
static int looks_text(const unsigned char *p, size_t n, int prefix)
{
  if (memchr(p, 0, n))
    return 0;
  if (mg_safetensors_utf8_valid(p, n))
    return 1;
  for (size_t cut = 1; prefix && cut <= 3 && cut < n; cut++)
    if (mg_safetensors_utf8_valid(p, n - cut))
      return 1;
  return 0;
}

struct map {
  void *p;
  size_t n;
};

static int map_file(const char *path, uint64_t size, struct map *m,
                    struct mg_err *err)
{
  int fd;

  m->p = NULL;
  m->n = (size_t)size;
  if (!size)
    return 0;
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return mg_err_errno(err, MG_ERR_IO, "cannot open '%s'", path);
  m->p = mmap(NULL, m->n, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (m->p == MAP_FAILED) {
    m->p = NULL;
    return mg_err_errno(err, MG_ERR_IO, "cannot map '%s'", path);
  }
  return 0;
}

static void unmap_file(struct map *m)
{
  if (m->p)
    munmap(m->p, m->n);
}

static void pickle_findings(struct fres *r, const char *what,
                            const unsigned char *p, size_t n,
                            const struct mg_verify_policy *pol,
                            struct mg_json *list)
{
  struct mg_pickle_report rep;
  struct mg_err e = MG_ERR_INIT;
  int rc = mg_pickle_scan(p, n, (const char *const *)pol->pickle_allow,
                          MG_PICKLE_STACKED, &rep, &e);
  struct mg_json *o = mg_json_new_object(), *g = mg_json_new_array();

  mg_json_set_string(o, "name", what);
  mg_json_set_number(o, "protocol", rep.protocol);
  mg_json_set_number(o, "pickles", (double)rep.n_pickles);
  for (size_t i = 0; i < rep.n_globals; i++) {
    char *s = mg_xasprintf("%s.%s", rep.globals[i].module, rep.globals[i].name);
    mg_json_append(g, mg_json_new_string(s));
    if (!rep.globals[i].allowed)
      add_finding(&r->f, SEV_ERROR, "pickle", r->e->path,
                  "%s imports '%.150s' (%s at byte %llu), which is not on "
                  "the allowlist",
                  what, s, rep.globals[i].opcode,
                  (unsigned long long)rep.globals[i].offset);
    free(s);
  }
  mg_json_set(o, "globals", g);
  if (rep.error[0])
    mg_json_set_string(o, "stopped", rep.error);
  if (rc < 0 && e.cat == MG_ERR_DATA)
    add_finding(&r->f, SEV_ERROR, "pickle", r->e->path, "%s: %s", what, e.msg);
  else if (rc < 0 && !strstr(rep.reason, "is not allowed"))
    add_finding(&r->f, SEV_ERROR, "pickle", r->e->path, "%s: %s", what,
                rep.reason);
  if (!pol->pickle)
    add_finding(&r->f, SEV_ERROR, "policy", r->e->path,
                "%s: pickle data is not allowed by the policy", what);
  mg_json_append(list, o);
  mg_pickle_report_release(&rep);
}

/* numpy .npy: header, and the pickle behind an object dtype. */
static void check_npy(struct fres *r, const char *what, const unsigned char *p,
                      size_t n, const struct mg_verify_policy *pol,
                      struct mg_json *list)
{
  size_t hl, off;
  char *hdr, *d;
  int object = 0;

  if (n < 10 || (p[6] != 1 && p[6] != 2 && p[6] != 3)) {
    add_finding(&r->f, SEV_ERROR, "numpy", r->e->path,
                "%s: unsupported .npy header", what);
    return;
  }
  if (p[6] == 1) {
    hl = (size_t)p[8] | (size_t)p[9] << 8;
    off = 10;
  } else {
    if (n < 12) {
      add_finding(&r->f, SEV_ERROR, "numpy", r->e->path,
                  "%s: truncated .npy header", what);
      return;
    }
    hl = (size_t)p[8] | (size_t)p[9] << 8 | (size_t)p[10] << 16
         | (size_t)p[11] << 24;
    off = 12;
  }
  if (hl > n - off) {
    add_finding(&r->f, SEV_ERROR, "numpy", r->e->path,
                "%s: .npy header passes the end of the data", what);
    return;
  }
  hdr = mg_xstrndup((const char *)p + off, hl);
  d = strstr(hdr, "'descr'");
  if (d) {
    char *end = strstr(d, "'fortran_order'");
    if (!end)
      end = strstr(d, "'shape'");
    if (end)
      *end = '\0';
    for (char *q = d + 7; *q; q++)
      if (*q == 'O'
          && (q[-1] == '\'' || q[-1] == '|' || q[-1] == '<' || q[-1] == '>'
              || q[-1] == '='))
        object = 1;
  } else {
    add_finding(&r->f, SEV_ERROR, "numpy", r->e->path,
                "%s: .npy header has no descr", what);
  }
  free(hdr);
  if (object)
    pickle_findings(r, what, p + off + hl, n - off - hl, pol, list);
}

struct member_ctx {
  struct fres *r;
  const struct mg_verify_policy *pol;
  struct mg_json *pickles;
  struct mg_json *names;
  int torch, torchscript, npz;
};

static int ends_with(const char *s, const char *suf)
{
  size_t n = strlen(s), k = strlen(suf);

  return n >= k && strcmp(s + n - k, suf) == 0;
}

static int member_want(void *arg, const char *name, uint64_t size,
                       const unsigned char *head, size_t hl)
{
  struct member_ctx *c = arg;

  (void)size;
  mg_json_append(c->names, mg_json_new_string(name));
  if (ends_with(name, "data.pkl"))
    c->torch = 1;
  if (ends_with(name, "constants.pkl") || strstr(name, "/code/")
      || strncmp(name, "code/", 5) == 0)
    c->torchscript = 1;
  if (ends_with(name, ".npy"))
    c->npz = 1;
  if (hl >= 6 && memcmp(head, "\x93NUMPY", 6) == 0)
    return 1;
  if (hl >= 2 && head[0] == 0x80 && head[1] <= 5)
    return 1;
  if (ends_with(name, ".pkl") || ends_with(name, ".pickle")
      || ends_with(name, ".joblib"))
    return 1;
  /* Protocol 0/1 pickles have no magic: look at anything small enough
   * that starts like one. */
  return hl > 0 && mg_pickle_sniff(head, hl) != 0;
}

static int member_got(void *arg, const char *name, const unsigned char *data,
                      size_t len, struct mg_err *err)
{
  struct member_ctx *c = arg;
  char *what = mg_xasprintf("member '%s'", name);

  (void)err;
  if (!data)
    add_finding(&c->r->f, SEV_ERROR, "pickle", c->r->e->path,
                "%s is larger than %zu bytes and was not scanned", what,
                MEMBER_MAX);
  else if (len >= 6 && memcmp(data, "\x93NUMPY", 6) == 0)
    check_npy(c->r, what, data, len, c->pol, c->pickles);
  else if ((len >= 2 && data[0] == 0x80) || mg_pickle_sniff(data, len))
    pickle_findings(c->r, what, data, len, c->pol, c->pickles);
  free(what);
  return 0;
}

static int cmp_json_str(const void *a, const void *b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void check_archive(struct fres *r, const char *full,
                          const struct mg_verify_policy *pol)
{
  struct member_ctx c;
  struct mg_archive_member_cb cb = { member_want, member_got, &c };
  struct mg_err e = MG_ERR_INIT;
  const char **names;
  size_t n, k = 0;

  memset(&c, 0, sizeof(c));
  c.r = r;
  c.pol = pol;
  c.pickles = mg_json_new_array();
  c.names = mg_json_new_array();
  if (mg_archive_members(full, MEMBER_MAX, &cb, &e) < 0)
    add_finding(&r->f, SEV_ERROR, "archive", r->e->path,
                "cannot be read whole, so it cannot be vouched for: %s", e.msg);
  n = mg_json_size(c.names);
  names = mg_xcalloc(n + 1, sizeof(*names));
  for (struct mg_json *s = mg_json_first(c.names); s; s = mg_json_next(s))
    names[k++] = mg_json_string(s);
  qsort(names, n, sizeof(*names), cmp_json_str);
  for (size_t i = 1; i < n; i++)
    if (strcmp(names[i - 1], names[i]) == 0) {
      add_finding(&r->f, SEV_ERROR, "archive", r->e->path,
                  "duplicate member '%.200s': loaders disagree on which one "
                  "counts",
                  names[i]);
      break;
    }
  free(names);
  if (c.torchscript) {
    r->format = "torchscript";
    add_finding(&r->f, pol->allow_code ? SEV_WARN : SEV_ERROR, "code",
                r->e->path,
                "TorchScript archive: loading it runs the code it holds");
  } else if (c.torch) {
    r->format = "pytorch";
  } else if (c.npz) {
    r->format = "npz";
  }
  mg_json_set_number(r->detail, "members", (double)n);
  mg_json_set(r->detail, "pickles", c.pickles);
  mg_json_free(c.names);
}

static void check_json_file(struct fres *r, const char *full,
                            const struct mg_verify_policy *pol)
{
  struct mg_buf b = MG_BUF_INIT(64 << 20);
  struct mg_json *j = NULL;
  struct mg_err e = MG_ERR_INIT;
  const char *base = strrchr(r->e->path, '/');
  const struct mg_json *t;

  base = base ? base + 1 : r->e->path;
  if (mg_io_read_file(full, &b, &e) < 0
      || mg_json_parse(b.data, b.len, r->e->path, &j, &e) < 0) {
    add_finding(&r->f, SEV_WARN, "json", r->e->path, "%s", e.msg);
    goto out;
  }
  if (strcmp(base, "config.json") == 0 && mg_json_get(j, "auto_map"))
    add_finding(&r->f, pol->allow_code ? SEV_WARN : SEV_ERROR, "code",
                r->e->path,
                "auto_map needs trust_remote_code: loading runs the "
                "repository's Python code");
  t = mg_json_get(j, "chat_template");
  if (mg_json_is_string(t)) {
    check_template(r, mg_json_string(t), "chat_template");
  } else if (mg_json_is_array(t)) {
    for (const struct mg_json *x = mg_json_first(t); x; x = mg_json_next(x))
      if (mg_json_is_string(mg_json_get(x, "template")))
        check_template(r, mg_json_string(mg_json_get(x, "template")),
                       "chat_template");
  }
out:
  mg_json_free(j);
  mg_buf_release(&b);
}

static void check_text_file(struct fres *r, const char *full,
                            const struct mg_verify_policy *pol)
{
  if (strcmp(r->format, "python") == 0) {
    add_finding(&r->f, pol->allow_code ? SEV_WARN : SEV_ERROR, "code",
                r->e->path, "Python code: runs under trust_remote_code");
  } else if (strcmp(r->format, "jinja") == 0) {
    struct mg_buf b = MG_BUF_INIT(16 << 20);
    struct mg_err e = MG_ERR_INIT;
    if (mg_io_read_file(full, &b, &e) == 0)
      check_template(r, b.data ? b.data : "", "chat template file");
    mg_buf_release(&b);
  } else if (strcmp(r->format, "json") == 0) {
    check_json_file(r, full, pol);
  }
}

static void check_format(struct fres *r, const char *full,
                         const unsigned char *head, size_t hl,
                         const struct mg_verify_policy *pol)
{
  struct mg_err e = MG_ERR_INIT;

  r->format = detect(head, hl, r->size, r->e->path);
  if (!r->format && hl && mg_pickle_sniff(head, hl) == 0
      && looks_text(head, hl, hl < r->size)) {
    /* Text so far; a protocol 0 pickle is text too, so sniff it whole. */
    struct map m;
    if (map_file(full, r->size, &m, &e) == 0) {
      if (mg_pickle_sniff(m.p, m.n))
        r->format = "pickle";
      else if (looks_text(m.p, m.n < TEXT_SNIFF ? m.n : TEXT_SNIFF,
                          m.n > TEXT_SNIFF))
        r->format = text_kind(r->e->path);
      unmap_file(&m);
    }
  } else if (!r->format && hl) {
    struct map m;
    if (map_file(full, r->size, &m, &e) == 0) {
      if (mg_pickle_sniff(m.p, m.n))
        r->format = "pickle";
      unmap_file(&m);
    }
  }
  if (!r->format)
    r->format = "unknown";
  if (strcmp(r->format, "safetensors") == 0) {
    struct mg_safetensors_info info;
    if (mg_safetensors_check_file(full, &info, &e) < 0) {
      add_finding(&r->f, SEV_ERROR, "safetensors", r->e->path, "%s", e.msg);
    } else {
      mg_json_set_number(r->detail, "tensors", (double)info.n_tensors);
      mg_json_set_number(r->detail, "header_bytes", (double)info.header_len);
      mg_json_set_string(r->detail, "dtypes", info.dtypes);
    }
  } else if (strcmp(r->format, "gguf") == 0) {
    struct mg_gguf_info info;
    if (mg_gguf_check_file(full, &info, &e) < 0) {
      add_finding(&r->f, SEV_ERROR, "gguf", r->e->path, "%s", e.msg);
    } else {
      mg_json_set_number(r->detail, "version", info.version);
      mg_json_set_number(r->detail, "tensors", (double)info.n_tensors);
      mg_json_set_number(r->detail, "metadata_keys", (double)info.n_kv);
      mg_json_set_number(r->detail, "alignment", info.alignment);
      if (info.architecture)
        mg_json_set_string(r->detail, "architecture", info.architecture);
      if (info.chat_template)
        check_template(r, info.chat_template, "tokenizer.chat_template");
    }
    mg_gguf_info_release(&info);
  } else if (strcmp(r->format, "pickle") == 0
             || strcmp(r->format, "numpy") == 0) {
    struct map m;
    struct mg_json *list = mg_json_new_array();
    if (map_file(full, r->size, &m, &e) < 0) {
      add_finding(&r->f, SEV_ERROR, "io", r->e->path, "%s", e.msg);
    } else {
      if (r->format[0] == 'p')
        pickle_findings(r, "pickle", m.p, m.n, pol, list);
      else
        check_npy(r, "array", m.p, m.n, pol, list);
      unmap_file(&m);
    }
    mg_json_set(r->detail, "pickles", list);
  } else if (strcmp(r->format, "zip") == 0 || strcmp(r->format, "tar") == 0) {
    check_archive(r, full, pol);
  } else if (strcmp(r->format, "compressed") == 0
             || strcmp(r->format, "unknown") == 0) {
    add_finding(
        &r->f, pol->unknown_fail ? SEV_ERROR : SEV_WARN, "format", r->e->path,
        strcmp(r->format, "unknown") == 0 ? "unknown binary format: not scanned"
                                          : "compressed data: not scanned");
  } else if (strcmp(r->format, "onnx") == 0) {
    add_finding(&r->f, SEV_INFO, "format", r->e->path,
                "ONNX: custom operators and external data are not checked");
  } else {
    check_text_file(r, full, pol);
  }
  if (pol->formats && strcmp(r->format, "empty") != 0) {
    int ok = 0;
    for (char **f = pol->formats; *f; f++)
      if (strcmp(*f, r->format) == 0)
        ok = 1;
    if (!ok)
      add_finding(&r->f, SEV_ERROR, "policy", r->e->path,
                  "format '%s' is not allowed by the policy", r->format);
  }
}

static void check_file(const struct mg_verify_opts *o, struct fres *r)
{
  const struct mg_verify_policy *pol = o->policy;
  const struct mg_tree_entry *e = r->e;
  char *full = mg_tree_join(o->dir, e->path);
  unsigned char head[HEAD_LEN];
  unsigned long long size = 0;
  struct mg_err err = MG_ERR_INIT;
  ssize_t hl;
  int fd;

  r->detail = mg_json_new_object();
  r->format = "unknown";
  if (e->type == MG_TREE_OTHER) {
    r->format = "special";
    add_finding(&r->f, SEV_ERROR, "file", e->path,
                "not a regular file (device, FIFO or socket)");
    goto out;
  }
  if (e->type == MG_TREE_SYMLINK) {
    mg_json_set_string(r->detail, "link", e->target);
    if (!e->link_inside) {
      r->format = "symlink";
      add_finding(&r->f, SEV_ERROR, "symlink", e->path,
                  "symbolic link to '%.200s' leaves the model directory",
                  e->target);
      goto out;
    }
    if (!pol->allow_symlinks)
      add_finding(&r->f, SEV_ERROR, "symlink", e->path,
                  "symbolic link to '%.200s' (policy allows none)", e->target);
  }
  if (mg_digest_sha256_file(full, r->sha256, &size, &err) < 0) {
    add_finding(&r->f, SEV_ERROR, "io", e->path, "%s", err.msg);
    goto out;
  }
  r->hashed = 1;
  r->size = size;
  fd = open(full, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    add_finding(&r->f, SEV_ERROR, "io", e->path, "cannot open: %s",
                strerror(errno));
    goto out;
  }
  hl = pread(fd, head, sizeof(head), 0);
  close(fd);
  if (hl < 0) {
    add_finding(&r->f, SEV_ERROR, "io", e->path, "cannot read: %s",
                strerror(errno));
    goto out;
  }
  check_format(r, full, head, (size_t)hl, pol);
out:
  free(full);
}

static void *worker(void *arg)
{
  struct job *j = arg;

  for (;;) {
    size_t i;
    pthread_mutex_lock(&j->lock);
    i = j->next++;
    pthread_mutex_unlock(&j->lock);
    if (i >= j->n)
      break;
    check_file(j->o, &j->res[i]);
  }
  return NULL;
}

/* ---- whole-model checks ---- */

struct expect {
  char *path;
  const char *sha256;
  double size;
};

static int cmp_expect(const void *a, const void *b)
{
  return strcmp(((const struct expect *)a)->path,
                ((const struct expect *)b)->path);
}

static struct fres *find_res(struct fres *res, size_t n, const char *path)
{
  size_t lo = 0, hi = n;

  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = strcmp(res[mid].e->path, path);
    if (c == 0)
      return &res[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

static int check_integrity(const struct mg_verify_opts *o, struct fres *res,
                           size_t n, struct findings *f, struct mg_err *err)
{
  struct expect *ex;
  size_t ne = 0;
  int rc = -1;

  if (!o->expected) {
    add_finding(f, SEV_WARN, "integrity", NULL,
                "the record lists no files: nothing to compare digests with");
    return 0;
  }
  if (!mg_json_is_array(o->expected))
    return mg_err_set(err, MG_ERR_DATA, "model.files is not a list");
  ex = mg_xcalloc(mg_json_size(o->expected) + 1, sizeof(*ex));
  for (const struct mg_json *x = mg_json_first(o->expected); x;
       x = mg_json_next(x)) {
    const char *p;
    if (mg_json_req_string(x, "path", "model.files entry", &p, err) < 0
        || mg_json_req_string(x, "sha256", "model.files entry", &ex[ne].sha256,
                              err)
               < 0
        || mg_json_opt_number(x, "size", "model.files entry", -1, &ex[ne].size,
                              err)
               < 0)
      goto out;
    if (mg_archive_clean_path(p, 0, &ex[ne].path, err) < 0)
      goto out;
    ne++;
  }
  qsort(ex, ne, sizeof(*ex), cmp_expect);
  for (size_t i = 0; i < ne; i++) {
    struct fres *r = find_res(res, n, ex[i].path);
    if (i && strcmp(ex[i - 1].path, ex[i].path) == 0) {
      mg_err_set(err, MG_ERR_DATA, "model.files lists '%s' twice", ex[i].path);
      goto out;
    }
    if (!r) {
      add_finding(f, SEV_ERROR, "integrity", ex[i].path,
                  "missing: the record lists it, the directory does not "
                  "have it");
      continue;
    }
    if (!r->hashed)
      continue;
    if (ex[i].size >= 0 && (double)r->size != ex[i].size)
      add_finding(f, SEV_ERROR, "integrity", ex[i].path,
                  "size %llu differs from the recorded %.0f",
                  (unsigned long long)r->size, ex[i].size);
    else if (strcmp(r->sha256, ex[i].sha256) != 0)
      add_finding(f, SEV_ERROR, "integrity", ex[i].path,
                  "sha256 %s differs from the recorded %.64s", r->sha256,
                  ex[i].sha256);
  }
  for (size_t i = 0; i < n; i++) {
    struct expect key = { (char *)res[i].e->path, NULL, 0 };
    if (!bsearch(&key, ex, ne, sizeof(key), cmp_expect))
      add_finding(f, o->policy->allow_extra_files ? SEV_WARN : SEV_ERROR,
                  "integrity", res[i].e->path,
                  "extra: on disk but not in the record");
  }
  rc = 0;
out:
  for (size_t i = 0; i <= ne; i++)
    free(ex[i].path);
  free(ex);
  return rc;
}

/* The license(s) from README.md's YAML front matter, lowercased. */
static struct mg_json *card_licenses(const char *dir)
{
  char *path = mg_tree_join(dir, "README.md");
  struct mg_buf b = MG_BUF_INIT(4 << 20);
  struct mg_json *out = mg_json_new_array(), *j = NULL;
  struct mg_pv *v = NULL;
  const struct mg_json *lic;
  char *end;

  if (mg_io_read_file(path, &b, NULL) < 0 || !b.data
      || strncmp(b.data, "---", 3) != 0
      || (b.data[3] != '\n' && b.data[3] != '\r'))
    goto out;
  end = strstr(b.data + 3, "\n---");
  if (!end)
    goto out;
  if (mg_yaml_parse(b.data + 4, (size_t)(end - b.data - 3), "model card", &v,
                    NULL)
      < 0)
    goto out;
  j = mg_pv_to_json(v);
  lic = mg_json_get(j, "license");
  if (mg_json_is_string(lic)) {
    mg_json_append(out, mg_json_new_string(mg_json_string(lic)));
  } else if (mg_json_is_array(lic)) {
    for (const struct mg_json *s = mg_json_first(lic); s; s = mg_json_next(s))
      if (mg_json_is_string(s))
        mg_json_append(out, mg_json_new_string(mg_json_string(s)));
  }
out:
  mg_json_free(j);
  mg_pv_unref(v);
  mg_buf_release(&b);
  free(path);
  return out;
}

/* ---- sharded safetensors ---- */

struct tloc {
  const char *name;  /* tensor */
  const char *shard; /* its shard, relative to the index's directory */
};

static int cmp_tloc(const void *a, const void *b)
{
  const struct tloc *x = a, *y = b;
  int c = strcmp(x->name, y->name);

  return c ? c : strcmp(x->shard, y->shard);
}

static struct tloc *find_tloc(struct tloc *v, size_t n, const char *name)
{
  size_t lo = 0, hi = n;

  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = strcmp(v[mid].name, name);
    if (c == 0) {
      while (mid > 0 && strcmp(v[mid - 1].name, name) == 0)
        mid--;
      return &v[mid];
    }
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

#define SHARD_FINDINGS_MAX 20

/*
 * One "<name>.safetensors.index.json" (transformers' sharded checkpoints):
 * weight_map (tensor -> shard file, relative to the index) must name shards
 * that exist and are valid safetensors; every tensor it lists must be in
 * the shard it names, no tensor may be in two shards, and every tensor of
 * every shard must be listed, for that shard. metadata.total_size, when
 * present, should equal the shards' tensor bytes (a warning otherwise).
 */
static void check_shard_index(const struct mg_verify_opts *o, struct fres *res,
                              size_t n, const char *index, struct findings *f)
{
  char *path = mg_tree_join(o->dir, index);
  const char *slash = strrchr(index, '/');
  char *dir = slash ? mg_xstrndup(index, (size_t)(slash - index)) : NULL;
  struct mg_buf b = MG_BUF_INIT(64 << 20);
  struct mg_json *j = NULL;
  const struct mg_json *wm, *total;
  struct mg_err e = MG_ERR_INIT;
  char **shards = NULL;
  int *shard_ok = NULL;
  struct tloc *have = NULL;
  size_t ns = 0, nh = 0, cap = 0, problems = 0;
  uint64_t bytes = 0;
  int complete = 1;

  if (mg_io_read_file(path, &b, &e) < 0
      || mg_json_parse(b.data, b.len, index, &j, &e) < 0) {
    add_finding(f, SEV_ERROR, "safetensors", index,
                "unreadable shard index: %s", e.msg);
    goto out;
  }
  wm = mg_json_get(j, "weight_map");
  if (!mg_json_is_object(wm)) {
    add_finding(f, SEV_ERROR, "safetensors", index,
                "shard index without a weight_map object");
    goto out;
  }
  /* The distinct shards, each read once. */
  for (const struct mg_json *w = mg_json_first(wm); w; w = mg_json_next(w)) {
    const char *sh = mg_json_string(w);
    size_t k;
    if (!mg_json_is_string(w) || !*sh) {
      add_finding(f, SEV_ERROR, "safetensors", index,
                  "tensor '%.100s' maps to something that is not a file name",
                  mg_json_key(w));
      complete = 0;
      continue;
    }
    for (k = 0; k < ns; k++)
      if (strcmp(shards[k], sh) == 0)
        break;
    if (k == ns) {
      shards = mg_xreallocarray(shards, ns + 1, sizeof(*shards));
      shard_ok = mg_xreallocarray(shard_ok, ns + 1, sizeof(*shard_ok));
      shard_ok[ns] = 0;
      shards[ns++] = (char *)sh;
    }
  }
  for (size_t k = 0; k < ns; k++) {
    char *rel =
        dir ? mg_xasprintf("%s/%s", dir, shards[k]) : mg_xstrdup(shards[k]);
    char *full = mg_tree_join(o->dir, rel);
    struct mg_safetensors_info info;
    char **names = NULL;
    size_t nn = 0;
    if (!find_res(res, n, rel)) {
      add_finding(f, SEV_ERROR, "safetensors", index,
                  "shard '%.100s' is missing", shards[k]);
      complete = 0;
    } else if (mg_safetensors_check_file(full, &info, &e) < 0
               || mg_safetensors_names_file(full, &names, &nn, &e) < 0) {
      /* The file's own check reports what is wrong with it. */
      complete = 0;
    } else {
      shard_ok[k] = 1;
      bytes += info.data_bytes;
      if (nh + nn > cap) {
        cap = (nh + nn) * 2;
        have = mg_xreallocarray(have, cap, sizeof(*have));
      }
      for (size_t i = 0; i < nn; i++) {
        have[nh].name = names[i];
        have[nh++].shard = shards[k];
      }
      free(names); /* the strings now belong to have[] */
    }
    free(rel);
    free(full);
  }
  qsort(have, nh, sizeof(*have), cmp_tloc);
  for (size_t i = 1; i < nh; i++)
    if (strcmp(have[i].name, have[i - 1].name) == 0
        && problems++ < SHARD_FINDINGS_MAX)
      add_finding(f, SEV_ERROR, "safetensors", index,
                  "tensor '%.100s' is in two shards, '%.100s' and '%.100s'",
                  have[i].name, have[i - 1].shard, have[i].shard);
  /* Every listed tensor is where the index says, and listed once. */
  {
    size_t nl = 0;
    struct tloc *listed = mg_xcalloc(mg_json_size(wm) + 1, sizeof(*listed));
    for (const struct mg_json *w = mg_json_first(wm); w; w = mg_json_next(w))
      if (mg_json_is_string(w)) {
        listed[nl].name = mg_json_key(w);
        listed[nl++].shard = mg_json_string(w);
      }
    qsort(listed, nl, sizeof(*listed), cmp_tloc);
    for (size_t i = 0; i < nl; i++) {
      const struct tloc *t = find_tloc(have, nh, listed[i].name);
      if (i > 0 && strcmp(listed[i].name, listed[i - 1].name) == 0) {
        if (problems++ < SHARD_FINDINGS_MAX)
          add_finding(f, SEV_ERROR, "safetensors", index,
                      "tensor '%.100s' is listed twice", listed[i].name);
        continue;
      }
      for (; t && t < have + nh && strcmp(t->name, listed[i].name) == 0; t++)
        if (strcmp(t->shard, listed[i].shard) == 0)
          break;
      if (t && t < have + nh && strcmp(t->name, listed[i].name) == 0)
        continue;
      /* A missing or broken shard is reported once, above. */
      for (size_t k = 0; k < ns; k++)
        if (strcmp(shards[k], listed[i].shard) == 0 && shard_ok[k]
            && problems++ < SHARD_FINDINGS_MAX)
          add_finding(f, SEV_ERROR, "safetensors", index,
                      "tensor '%.100s' is not in shard '%.100s'",
                      listed[i].name, listed[i].shard);
    }
    /* Every tensor of every shard is listed (for another shard: the
     * finding above names it). */
    for (size_t i = 0; i < nh; i++)
      if (!find_tloc(listed, nl, have[i].name)
          && problems++ < SHARD_FINDINGS_MAX)
        add_finding(f, SEV_ERROR, "safetensors", index,
                    "shard '%.100s' holds tensor '%.100s', which the index "
                    "does not list",
                    have[i].shard, have[i].name);
    free(listed);
  }
  if (problems > SHARD_FINDINGS_MAX)
    add_finding(f, SEV_ERROR, "safetensors", index,
                "%zu more shard index mismatches",
                problems - SHARD_FINDINGS_MAX);
  total = mg_json_get_path(j, "metadata.total_size");
  if (complete && mg_json_is_number(total)
      && mg_json_number(total) != (double)bytes)
    add_finding(f, SEV_WARN, "safetensors", index,
                "metadata.total_size is %.0f, the shards hold %llu tensor "
                "bytes",
                mg_json_number(total), (unsigned long long)bytes);
out:
  for (size_t i = 0; i < nh; i++)
    free((char *)have[i].name);
  free(have);
  free(shards);
  free(shard_ok);
  mg_json_free(j);
  mg_buf_release(&b);
  free(dir);
  free(path);
}

static void check_shard_indexes(const struct mg_verify_opts *o,
                                struct fres *res, size_t n, struct findings *f)
{
  for (size_t i = 0; i < n; i++)
    if (res[i].e->type == MG_TREE_FILE
        && ends_with(res[i].e->path, ".safetensors.index.json"))
      check_shard_index(o, res, n, res[i].e->path, f);
}

static void check_policy(const struct mg_verify_opts *o, struct fres *res,
                         size_t n, struct findings *f, struct mg_json *sec)
{
  const struct mg_verify_policy *p = o->policy;
  uint64_t total = 0;

  for (size_t i = 0; i < n; i++)
    total += res[i].size;
  if (p->max_total_bytes && total > p->max_total_bytes)
    add_finding(f, SEV_ERROR, "policy", NULL,
                "model is %llu bytes, the policy allows %llu",
                (unsigned long long)total,
                (unsigned long long)p->max_total_bytes);
  for (char **r = p->required_files; r && *r; r++)
    if (!find_res(res, n, *r))
      add_finding(f, SEV_ERROR, "policy", *r, "required file is missing");
  if (p->licenses) {
    struct mg_json *lics = card_licenses(o->dir);
    int ok = 0;
    for (const struct mg_json *l = mg_json_first(lics); l; l = mg_json_next(l))
      for (char **a = p->licenses; *a; a++)
        if (strcasecmp(*a, mg_json_string(l)) == 0)
          ok = 1;
    if (!mg_json_size(lics))
      add_finding(f, SEV_ERROR, "license", "README.md",
                  "no license in the model card's front matter");
    else if (!ok)
      add_finding(f, SEV_ERROR, "license", "README.md",
                  "license '%.100s' is not on the policy's list",
                  mg_json_string(mg_json_first(lics)));
    mg_json_set(sec, "licenses", lics);
  }
  check_shard_indexes(o, res, n, f);
}

static void check_signature(const struct mg_verify_opts *o, struct findings *f,
                            struct mg_json *sec)
{
  const struct mg_verify_policy *p = o->policy;
  char *def = mg_tree_join(o->dir, "model.sig");
  const char *sig = o->signature ? o->signature : def;
  struct mg_json *rep = NULL;
  struct mg_err e = MG_ERR_INIT;
  struct stat sb;

  if (stat(sig, &sb) < 0) {
    struct mg_json *s = mg_json_new_object();
    mg_json_set_string(s, "status", "absent");
    mg_json_set(sec, "signature", s);
    if (o->signature || p->require_signature)
      add_finding(f, SEV_ERROR, "signature", NULL,
                  "no signature bundle at '%s'", sig);
    free(def);
    return;
  }
  if (!o->public_key) {
    struct mg_json *s = mg_json_new_object();
    mg_json_set_string(s, "status", "unchecked");
    mg_json_set_string(s, "bundle", sig);
    mg_json_set(sec, "signature", s);
    add_finding(f, p->require_signature ? SEV_ERROR : SEV_WARN, "signature",
                NULL, "signature bundle present but no public key given");
    free(def);
    return;
  }
  if (mg_sign_verify(sig, o->public_key, o->dir, 0, &rep, &e) < 0) {
    add_finding(f, SEV_ERROR, "signature", NULL, "%s", e.msg);
    if (!rep) {
      rep = mg_json_new_object();
      mg_json_set_string(rep, "status", "failed");
      mg_json_set_string(rep, "bundle", sig);
    }
  }
  mg_json_set(sec, "signature", rep);
  free(def);
}

static struct mg_json *finding_json(const struct finding *x)
{
  struct mg_json *j = mg_json_new_object();

  mg_json_set_string(j, "severity", sev_names[x->sev]);
  mg_json_set_string(j, "check", x->check);
  if (x->path)
    mg_json_set_string(j, "path", x->path);
  mg_json_set_string(j, "message", x->msg);
  return j;
}

int mg_verify_run(const struct mg_verify_opts *o, struct mg_json **section,
                  int *passed, struct mg_err *err)
{
  struct mg_tree tree;
  struct findings global = { NULL, 0 };
  struct mg_json *sec, *files, *fnd, *sum, *formats;
  struct job job;
  pthread_t th[16];
  int nth = o->jobs < 1 ? 1 : o->jobs > 16 ? 16 : o->jobs, started = 0;
  size_t errors = 0, warnings = 0;
  uint64_t total = 0;
  char now[40];
  int rc = -1;

  *section = NULL;
  *passed = 0;
  if (mg_tree_list(o->dir, NULL, &tree, err) < 0)
    return -1;
  memset(&job, 0, sizeof(job));
  job.o = o;
  job.n = tree.n;
  job.res = mg_xcalloc(tree.n + 1, sizeof(*job.res));
  for (size_t i = 0; i < tree.n; i++)
    job.res[i].e = &tree.v[i];
  pthread_mutex_init(&job.lock, NULL);
  for (int i = 0; i < nth - 1 && (size_t)i + 1 < tree.n; i++)
    if (pthread_create(&th[i], NULL, worker, &job) == 0)
      started++;
  worker(&job);
  for (int i = 0; i < started; i++)
    pthread_join(th[i], NULL);
  pthread_mutex_destroy(&job.lock);

  sec = mg_json_new_object();
  if (check_integrity(o, job.res, job.n, &global, err) < 0) {
    mg_json_free(sec);
    goto out;
  }
  check_policy(o, job.res, job.n, &global, sec);
  check_signature(o, &global, sec);

  files = mg_json_new_array();
  fnd = mg_json_new_array();
  formats = mg_json_new_object();
  for (size_t i = 0; i < job.n; i++) {
    struct fres *r = &job.res[i];
    struct mg_json *fj = mg_json_new_object();
    const char *status = "ok";
    struct mg_json *cnt = mg_json_get(formats, r->format);

    for (size_t k = 0; k < r->f.n; k++) {
      if (r->f.v[k].sev == SEV_ERROR)
        status = "fail";
      else if (r->f.v[k].sev == SEV_WARN && strcmp(status, "ok") == 0)
        status = "warn";
      mg_json_append(fnd, finding_json(&r->f.v[k]));
    }
    mg_json_set_string(fj, "path", r->e->path);
    mg_json_set_number(fj, "size", (double)r->size);
    if (r->hashed)
      mg_json_set_string(fj, "sha256", r->sha256);
    mg_json_set_string(fj, "format", r->format);
    mg_json_set_string(fj, "status", status);
    if (mg_json_size(r->detail)) {
      mg_json_set(fj, "detail", r->detail);
      r->detail = NULL;
    }
    mg_json_append(files, fj);
    mg_json_set_number(formats, r->format, cnt ? mg_json_number(cnt) + 1 : 1);
    total += r->size;
  }
  for (size_t k = 0; k < global.n; k++)
    mg_json_append(fnd, finding_json(&global.v[k]));
  for (const struct mg_json *x = mg_json_first(fnd); x; x = mg_json_next(x)) {
    const char *s = mg_json_string(mg_json_get(x, "severity"));
    errors += strcmp(s, "error") == 0;
    warnings += strcmp(s, "warning") == 0;
  }
  *passed = errors == 0;
  mg_time_rfc3339(now, sizeof(now));
  {
    /* Fixed key order: verdict first, then what it rests on. */
    struct mg_json *out = mg_json_new_object();
    mg_json_set_string(out, "verdict", *passed ? "pass" : "fail");
    mg_json_set_bool(out, "ok", *passed);
    mg_json_set_string(out, "directory", o->dir);
    mg_json_set_string(out, "checked_at", now);
    sum = mg_json_new_object();
    mg_json_set_number(sum, "files", (double)job.n);
    mg_json_set_number(sum, "bytes", (double)total);
    mg_json_set_number(sum, "errors", (double)errors);
    mg_json_set_number(sum, "warnings", (double)warnings);
    mg_json_set(sum, "formats", formats);
    mg_json_set(out, "summary", sum);
    mg_json_set(out, "findings", fnd);
    mg_json_set(out, "files", files);
    mg_json_set(out, "signature", mg_json_detach(sec, "signature"));
    if (mg_json_get(sec, "licenses"))
      mg_json_set(out, "licenses", mg_json_detach(sec, "licenses"));
    mg_json_set(out, "policy", mg_verify_policy_json(o->policy));
    mg_json_free(sec);
    *section = out;
  }
  rc = 0;
out:
  for (size_t i = 0; i < job.n; i++) {
    findings_release(&job.res[i].f);
    mg_json_free(job.res[i].detail);
  }
  free(job.res);
  findings_release(&global);
  mg_tree_release(&tree);
  return rc;
}
