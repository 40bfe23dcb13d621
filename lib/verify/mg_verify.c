#include "verify/mg_verify.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
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
#include "verify/mg_npy.h"
#include "verify/mg_pickle.h"
#include "verify/mg_protobuf.h"
#include "verify/mg_safetensors.h"
#include "verify/mg_sign.h"
#include "verify/mg_unpack.h"
#include "verify/mg_zip.h"

#define UNPACK_MAX ((uint64_t)1 << 30)

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
  p->unknown_fail = 1;
  p->max_unpack_bytes = UNPACK_MAX;
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
  free_list(p->unscanned_allow);
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
    } else if (strcmp(k, "unscanned_allow") == 0) {
      r = get_list(m, k, 0, &p->unscanned_allow, err);
    } else if (strcmp(k, "max_unpack_bytes") == 0) {
      double d = mg_json_number(m);
      if (!mg_json_is_number(m) || d < 1 || d > 9e18)
        return mg_err_set(err, MG_ERR_DATA,
                          "policy field 'max_unpack_bytes' is not a size");
      p->max_unpack_bytes = (uint64_t)d;
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
  mg_json_set(j, "unscanned_allow", list_json(p->unscanned_allow));
  mg_json_set_number(j, "max_unpack_bytes", (double)p->max_unpack_bytes);
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

/*
 * Every byte stream (a file, an archive member, what a compressed stream
 * holds) is classified by content: a known format, fully validated
 * (safetensors, GGUF, numpy, SentencePiece, ONNX, text, JSON, a zip or
 * tar whose members are classified in turn, a compressed stream whose
 * content is), or else something a pickle loader could be given, which is
 * scanned as a pickle stream from its first byte. What fits neither is an
 * error, unless the policy relaxes it by name.
 */
struct cls {
  struct fres *r;
  const char *full; /* the file on disk */
  const struct mg_verify_policy *pol;
  struct mg_json *pickles; /* detail "pickles" */
  int compressed;          /* top level: the file is a compressed stream */
};

#define DEPTH_MAX 4

static void cfind(struct cls *c, enum sev sev, const char *check,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void cfind(struct cls *c, enum sev sev, const char *check,
                  const char *fmt, ...)
{
  char msg[512];
  va_list ap;

  va_start(ap, fmt);
  (void)vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  add_finding(&c->r->f, sev, check, c->r->e->path, "%s", msg);
}

/* Whether the policy relaxes "not scanned" for this file: unknown_formats
 * "warn", or a pattern of unscanned_allow (one without '/' matches the
 * base name, one with '/' the whole path). */
static int relaxed(const struct cls *c)
{
  const char *path = c->r->e->path, *base = strrchr(path, '/');

  if (!c->pol->unknown_fail)
    return 1;
  base = base ? base + 1 : path;
  for (char **g = c->pol->unscanned_allow; g && *g; g++)
    if (fnmatch(*g, strchr(*g, '/') ? path : base, 0) == 0)
      return 1;
  return 0;
}

/* Bytes that are neither a known format nor fully scanned. */
static void unscanned(struct cls *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void unscanned(struct cls *c, const char *fmt, ...)
{
  char msg[512];
  va_list ap;

  va_start(ap, fmt);
  (void)vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  add_finding(&c->r->f, relaxed(c) ? SEV_WARN : SEV_ERROR, "format",
              c->r->e->path, "%s", msg);
}

static int ends_with(const char *s, const char *suf)
{
  size_t n = strlen(s), k = strlen(suf);

  return n >= k && strcmp(s + n - k, suf) == 0;
}

static int ends_with_ci(const char *s, const char *suf)
{
  size_t n = strlen(s), k = strlen(suf);

  return n >= k && strcasecmp(s + n - k, suf) == 0;
}

static const char *text_kind(const char *name)
{
  if (ends_with(name, ".py"))
    return "python";
  if (ends_with(name, ".json"))
    return "json";
  if (ends_with(name, ".jinja"))
    return "jinja";
  return "text";
}

/* Text: UTF-8 with no NUL. */
static int looks_text(const unsigned char *p, size_t n)
{
  return !memchr(p, 0, n) && mg_safetensors_utf8_valid(p, n);
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

static const char *pickle_stop_name(const struct mg_pickle_report *rep)
{
  static const char *const names[] = { "complete", "a loader stops",
                                       "unfinished", "trailing data" };

  return names[rep->stop];
}

/*
 * Scans p as a pickle stream and reports it. Returns "pickle", or
 * "unknown" when a loader would reject it before doing anything (it is
 * then no pickle, and not a known format either). storages gets torch's
 * persistent ids when not NULL (caller releases the report).
 */
static const char *scan_pickle(struct cls *c, const char *what,
                               const unsigned char *p, size_t n, unsigned flags,
                               struct mg_pickle_report *keep)
{
  const struct mg_verify_policy *pol = c->pol;
  struct mg_pickle_report rep;
  struct mg_err e = MG_ERR_INIT;
  struct mg_json *o, *g;
  int rc = mg_pickle_scan(p, n, (const char *const *)pol->pickle_allow,
                          MG_PICKLE_STACKED | flags, &rep, &e);

  (void)rc;
  /* No pickle: a loader rejects it before building anything, and it
   * does not even start with a PROTO header. */
  if (!rep.n_pickles && !rep.acted && !rep.unsafe
      && rep.stop == MG_PICKLE_LOADER_STOPS
      && !(n >= 2 && p[0] == 0x80 && p[1] <= 5)) {
    unscanned(c,
              "%s: neither a known format nor a pickle (a pickle loader "
              "stops at byte %llu: %s): not scanned",
              what, (unsigned long long)rep.stop_at, rep.error);
    mg_pickle_report_release(&rep);
    return "unknown";
  }
  o = mg_json_new_object();
  g = mg_json_new_array();
  mg_json_set_string(o, "name", what);
  mg_json_set_number(o, "protocol", rep.protocol);
  mg_json_set_number(o, "pickles", (double)rep.n_pickles);
  if (rep.torch_legacy)
    mg_json_set_bool(o, "torch_legacy", 1);
  for (size_t i = 0; i < rep.n_globals; i++) {
    const struct mg_pickle_global *gl = &rep.globals[i];
    char *s = mg_xasprintf("%s.%s", gl->module, gl->name);
    char where[40] = "";
    mg_json_append(g, mg_json_new_string(s));
    if (gl->pickle > 1)
      (void)snprintf(where, sizeof(where), ", pickle %zu", gl->pickle);
    if (!gl->allowed)
      cfind(c, SEV_ERROR, "pickle",
            "%s imports '%.150s' (%s at byte %llu%s), which is not on the "
            "allowlist",
            what, s, gl->opcode, (unsigned long long)gl->offset, where);
    free(s);
  }
  mg_json_set(o, "globals", g);
  if (rep.stop != MG_PICKLE_COMPLETE) {
    mg_json_set_string(o, "stopped", rep.error);
    mg_json_set_string(o, "end", pickle_stop_name(&rep));
  }
  if (rep.unsafe && !strstr(rep.reason, "is not allowed")
      && strcmp(rep.reason, rep.error) != 0)
    cfind(c, SEV_ERROR, "pickle", "%s: %s", what, rep.reason);
  switch (rep.stop) {
  case MG_PICKLE_COMPLETE:
    break;
  case MG_PICKLE_LOADER_STOPS:
    if (rep.n_pickles)
      cfind(c, SEV_ERROR, "pickle",
            "%s: malformed pickle stream: after %zu complete pickles a "
            "loader stops at byte %llu (pickle %zu): %s",
            what, rep.n_pickles, (unsigned long long)rep.stop_at,
            rep.stop_pickle, rep.error);
    else
      cfind(c, SEV_ERROR, "pickle",
            "%s: malformed pickle: a loader stops at byte %llu: %s", what,
            (unsigned long long)rep.stop_at, rep.error);
    break;
  case MG_PICKLE_UNFINISHED:
    cfind(c, SEV_ERROR, "pickle",
          "%s: the pickle scan cannot finish at byte %llu (pickle %zu): %s",
          what, (unsigned long long)rep.stop_at, rep.stop_pickle, rep.error);
    break;
  case MG_PICKLE_TRAILING:
    cfind(c, SEV_ERROR, "pickle",
          "%s: %s (from byte %llu), which no loader reads", what, rep.error,
          (unsigned long long)rep.stop_at);
    break;
  }
  if (!pol->pickle)
    cfind(c, SEV_ERROR, "policy",
          "%s: pickle data is not allowed by the policy", what);
  mg_json_append(c->pickles, o);
  if (keep)
    *keep = rep;
  else
    mg_pickle_report_release(&rep);
  return "pickle";
}

/* A known format's bytes read by pickle.load from the first byte: they
 * must not get anywhere (polyglots). The load is a plain one, with no
 * persistent_load (every loader reads a file's first pickle so): it stops
 * at a persistent id, which a zip's first bytes are when its DOS
 * timestamp holds a newline. */
static void probe(struct cls *c, const char *what, const char *format,
                  const unsigned char *p, size_t n)
{
  struct mg_pickle_report rep;

  mg_pickle_scan(p, n, NULL, MG_PICKLE_PLAIN, &rep, NULL);
  if (rep.n_globals)
    cfind(c, SEV_ERROR, "pickle",
          "%s: valid %s, but a pickle loader reading it imports "
          "'%.100s.%.100s' (byte %llu): a polyglot",
          what, format, rep.globals[0].module, rep.globals[0].name,
          (unsigned long long)rep.globals[0].offset);
  else if (rep.acted || rep.unsafe)
    cfind(c, SEV_ERROR, "pickle",
          "%s: valid %s, but a pickle loader reading it %s: a polyglot", what,
          format, rep.unsafe ? rep.reason : "calls a function");
  else if (rep.n_pickles)
    cfind(c, SEV_ERROR, "pickle",
          "%s: valid %s, and also a complete pickle (%llu bytes): a "
          "polyglot",
          what, format, (unsigned long long)rep.end);
  mg_pickle_report_release(&rep);
}

static const char *classify(struct cls *c, const unsigned char *p, size_t n,
                            const char *what, const char *name, int depth);

/* numpy .npy: the header by numpy's rules; plain data must fill the file
 * exactly, object data is the pickle numpy.load unpickles. */
static const char *check_npy(struct cls *c, const char *what,
                             const unsigned char *p, size_t n)
{
  struct mg_npy_info info;
  struct mg_err e = MG_ERR_INIT;

  if (mg_npy_parse(p, n, &info, &e) < 0) {
    cfind(c, SEV_ERROR, "numpy", "%s: %s", what, e.msg);
    return "numpy";
  }
  if (info.objects) {
    char *w = mg_xasprintf("%s (%s '%.60s', data read by pickle.load)", what,
                           info.why, info.descr);
    scan_pickle(c, w, p + info.data_offset, n - info.data_offset, 0, NULL);
    free(w);
  } else if (info.data_len != n - info.data_offset) {
    cfind(c, SEV_ERROR, "numpy",
          "%s: the header says %llu data bytes (dtype '%.60s'), the file "
          "holds %zu",
          what, (unsigned long long)info.data_len, info.descr,
          n - info.data_offset);
  }
  return "numpy";
}

static void check_json_bytes(struct cls *c, const char *what,
                             const unsigned char *p, size_t n, const char *name)
{
  struct mg_json *j = NULL;
  struct mg_err e = MG_ERR_INIT;
  const char *base = strrchr(name, '/');
  const struct mg_json *t;

  base = base ? base + 1 : name;
  if (mg_json_parse((const char *)p, n, what, &j, &e) < 0) {
    cfind(c, SEV_WARN, "json", "%s", e.msg);
    return;
  }
  if (strcmp(base, "config.json") == 0 && mg_json_get(j, "auto_map"))
    cfind(c, c->pol->allow_code ? SEV_WARN : SEV_ERROR, "code",
          "auto_map needs trust_remote_code: loading runs the "
          "repository's Python code");
  t = mg_json_get(j, "chat_template");
  if (mg_json_is_string(t)) {
    check_template(c->r, mg_json_string(t), "chat_template");
  } else if (mg_json_is_array(t)) {
    for (const struct mg_json *x = mg_json_first(t); x; x = mg_json_next(x))
      if (mg_json_is_string(mg_json_get(x, "template")))
        check_template(c->r, mg_json_string(mg_json_get(x, "template")),
                       "chat_template");
  }
  mg_json_free(j);
}

static const char *check_text(struct cls *c, const char *what,
                              const unsigned char *p, size_t n,
                              const char *name)
{
  const char *kind = text_kind(name);

  if (strcmp(kind, "python") == 0) {
    cfind(c, c->pol->allow_code ? SEV_WARN : SEV_ERROR, "code",
          "Python code: runs under trust_remote_code");
  } else if (strcmp(kind, "jinja") == 0) {
    char *s = mg_xstrndup((const char *)p, n);
    check_template(c->r, s, "chat template file");
    free(s);
  } else if (strcmp(kind, "json") == 0) {
    check_json_bytes(c, what, p, n, name);
  }
  return kind;
}

struct tar_ctx {
  struct cls *c;
  struct mg_json *names;
  int depth;
};

static int tar_want(void *arg, const char *name, uint64_t size,
                    const unsigned char *head, size_t hl)
{
  struct tar_ctx *t = arg;

  (void)size;
  (void)head;
  (void)hl;
  mg_json_append(t->names, mg_json_new_string(name));
  return 1;
}

static int tar_got(void *arg, const char *name, const unsigned char *data,
                   size_t len, struct mg_err *err)
{
  struct tar_ctx *t = arg;
  char *what = mg_xasprintf("member '%s'", name);

  (void)err;
  if (!data)
    unscanned(t->c, "%s is larger than %llu bytes: not scanned", what,
              (unsigned long long)t->c->pol->max_unpack_bytes);
  else
    classify(t->c, data, len, what, name, t->depth + 1);
  free(what);
  return 0;
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* tar (and tar.gz ...): every member classified by content. */
static void check_tar(struct cls *c, int depth)
{
  struct tar_ctx t = { c, mg_json_new_array(), depth };
  struct mg_archive_member_cb cb = { tar_want, tar_got, &t };
  struct mg_err e = MG_ERR_INIT;
  const char **names;
  size_t n, k = 0;
  uint64_t max = c->pol->max_unpack_bytes;

  if (mg_archive_members(c->full, max > SIZE_MAX / 2 ? SIZE_MAX / 2 : max, &cb,
                         &e)
      < 0)
    cfind(c, SEV_ERROR, "archive",
          "cannot be read whole, so it cannot be vouched for: %s", e.msg);
  n = mg_json_size(t.names);
  names = mg_xcalloc(n + 1, sizeof(*names));
  for (struct mg_json *s = mg_json_first(t.names); s; s = mg_json_next(s))
    names[k++] = mg_json_string(s);
  qsort(names, n, sizeof(*names), cmp_str);
  for (size_t i = 1; i < n; i++)
    if (strcmp(names[i - 1], names[i]) == 0) {
      cfind(c, SEV_ERROR, "archive",
            "duplicate member '%.200s': loaders disagree on which one counts",
            names[i]);
      break;
    }
  free(names);
  mg_json_set_number(c->r->detail, "members", (double)n);
  mg_json_free(t.names);
}

/* The entry of a zip named root/rest (as miniz finds it: ASCII case
 * ignored), or -1. */
static long zip_find(const struct mg_zip *z, const char *root, const char *rest)
{
  size_t rl = strlen(root);

  for (size_t i = 0; i < z->n; i++) {
    const char *nm = z->e[i].name;
    if (strncasecmp(nm, root, rl) == 0 && nm[rl] == '/'
        && strcasecmp(nm + rl + 1, rest) == 0)
      return (long)i;
  }
  return -1;
}

/*
 * A zip, by its central directory. torch.load (an archive whose first
 * entry's folder holds data.pkl) reads data.pkl with a persistent_load
 * and the storages data/<key> it names as raw bytes; every other member,
 * and every member of any other zip, is classified by content.
 */
static const char *check_zip(struct cls *c, const char *what,
                             const unsigned char *p, size_t n, int depth)
{
  struct mg_zip z;
  struct mg_err e = MG_ERR_INIT;
  struct mg_pickle_report rep;
  struct mg_buf out = MG_BUF_INIT(MG_BUF_UNLIMITED);
  char *root = NULL;
  long pkl = -1;
  int torchscript = 0, npz = 1, have_rep = 0;
  const char *format = "zip";
  size_t max = c->pol->max_unpack_bytes > SIZE_MAX / 2
                   ? SIZE_MAX / 2
                   : (size_t)c->pol->max_unpack_bytes;

  memset(&rep, 0, sizeof(rep));
  if (mg_zip_open(p, n, &z, &e) < 0) {
    cfind(c, SEV_ERROR, "archive", "%s: %s", what, e.msg);
    mg_zip_release(&z);
    return "zip";
  }
  if (z.n) {
    const char *slash = strchr(z.e[0].name, '/');
    if (slash)
      root = mg_xstrndup(z.e[0].name, (size_t)(slash - z.e[0].name));
  }
  if (root) {
    pkl = zip_find(&z, root, "data.pkl");
    torchscript = zip_find(&z, root, "constants.pkl") >= 0;
  }
  for (size_t i = 0; i < z.n; i++) {
    if (!z.e[i].dir && !ends_with(z.e[i].name, ".npy"))
      npz = 0;
    if (root && strncasecmp(z.e[i].name, root, strlen(root)) == 0
        && strncasecmp(z.e[i].name + strlen(root), "/code/", 6) == 0)
      torchscript = 1;
  }
  if (pkl >= 0) {
    const unsigned char *d;
    size_t len;
    char *w = mg_xasprintf("%s%smember '%s'", depth ? what : "",
                           depth ? " > " : "", z.e[pkl].name);
    format = "pytorch";
    if (mg_zip_read(&z, (size_t)pkl, p, max, &out, &d, &len, &e) < 0) {
      cfind(c, SEV_ERROR, "archive", "%s", e.msg);
    } else {
      scan_pickle(c, w, d, len, MG_PICKLE_PERSISTENT, &rep);
      have_rep = 1;
    }
    free(w);
  }
  for (size_t i = 0; i < z.n; i++) {
    const struct mg_zip_entry *ze = &z.e[i];
    const unsigned char *d;
    size_t len;
    char *w;
    if ((long)i == pkl || ze->dir)
      continue;
    if (have_rep && strncasecmp(ze->name, root, strlen(root)) == 0
        && strncasecmp(ze->name + strlen(root), "/data/", 6) == 0) {
      const char *key = ze->name + strlen(root) + 6;
      const struct mg_pickle_storage *st = NULL;
      for (size_t k = 0; k < rep.n_storages && !st; k++)
        if (strcasecmp(rep.storages[k].key, key) == 0)
          st = &rep.storages[k];
      if (st) {
        /* Raw tensor bytes, read by torch as a storage. */
        if (st->elsize && ze->usize != st->numel * st->elsize)
          cfind(c, SEV_ERROR, "archive",
                "member '%.200s': %llu bytes, but data.pkl's storage '%.60s' "
                "(%.60s, %llu elements) needs %llu",
                ze->name, (unsigned long long)ze->usize, st->key, st->type,
                (unsigned long long)st->numel,
                (unsigned long long)(st->numel * st->elsize));
        continue;
      }
    }
    w = depth ? mg_xasprintf("%s > member '%s'", what, ze->name)
              : mg_xasprintf("member '%s'", ze->name);
    if (mg_zip_read(&z, i, p, max, &out, &d, &len, &e) < 0) {
      if (ze->usize > max)
        unscanned(c, "%s: not scanned", e.msg);
      else
        cfind(c, SEV_ERROR, "archive", "%s", e.msg);
    } else {
      classify(c, d, len, w, ze->name, depth + 1);
    }
    free(w);
  }
  if (torchscript) {
    format = "torchscript";
    cfind(c, c->pol->allow_code ? SEV_WARN : SEV_ERROR, "code",
          "TorchScript archive: loading it runs the code it holds");
  } else if (pkl < 0 && npz && z.n) {
    format = "npz";
  }
  if (!depth)
    mg_json_set_number(c->r->detail, "members", (double)z.n);
  if (have_rep)
    mg_pickle_report_release(&rep);
  mg_buf_release(&out);
  free(root);
  mg_zip_release(&z);
  return format;
}

/* A name without the compression suffix its stream had. */
static char *strip_suffix(const char *name)
{
  static const char *const suf[] = { ".gz",   ".bz2", ".xz",
                                     ".lzma", ".z",   ".zlib" };

  for (size_t i = 0; i < sizeof(suf) / sizeof(suf[0]); i++)
    if (ends_with_ci(name, suf[i]) && strlen(name) > strlen(suf[i]))
      return mg_xstrndup(name, strlen(name) - strlen(suf[i]));
  return mg_xstrdup(name);
}

/* A compressed stream: 1 when it was one (handled), 0 when the magic lied
 * (nothing decoded: classify the bytes as something else). */
static int check_compressed(struct cls *c, int kind, const unsigned char *p,
                            size_t n, const char *what, const char *name,
                            int depth, const char **format)
{
  struct mg_buf out = MG_BUF_INIT(MG_BUF_UNLIMITED);
  struct mg_unpack_info info;
  struct mg_err e = MG_ERR_INIT;
  const char *kname = mg_unpack_name(kind);
  size_t max = c->pol->max_unpack_bytes > SIZE_MAX / 2
                   ? SIZE_MAX / 2
                   : (size_t)c->pol->max_unpack_bytes;
  int rc;

  *format = "compressed";
  if (kind == MG_UNPACK_ZSTD || kind == MG_UNPACK_LZ4 || kind == MG_UNPACK_7Z) {
    unscanned(c, "%s: %s data is not decompressed here: not scanned", what,
              kname);
    return 1;
  }
  rc = mg_unpack(kind, p, n, 0, max, &out, &info, &e);
  if (rc < 0 && !out.len && !info.streams
      && (kind == MG_UNPACK_ZLIB || kind == MG_UNPACK_LZMA)) {
    /* Two bytes that looked like a header: not a stream after all. */
    mg_buf_release(&out);
    return 0;
  }
  if (rc < 0) {
    if (info.too_large)
      unscanned(c, "%s: %s; not scanned past that", what, e.msg);
    else
      cfind(c, SEV_ERROR, "compressed", "%s: %s", what, e.msg);
  }
  if (out.len || rc == 0) {
    char *w = depth ? mg_xasprintf("%s (%s)", what, kname)
                    : mg_xasprintf("%s stream", kname);
    char *inner = strip_suffix(name);
    if (!depth) {
      mg_json_set_string(c->r->detail, "compression", kname);
      c->compressed = 1;
    }
    if (!depth && out.len >= 262 && memcmp(out.data + 257, "ustar", 5) == 0) {
      check_tar(c, depth);
      *format = "tar";
    } else {
      *format = classify(c, (const unsigned char *)out.data, out.len, w, inner,
                         depth + 1);
    }
    free(inner);
    free(w);
  }
  mg_buf_release(&out);
  return 1;
}

static const char *classify(struct cls *c, const unsigned char *p, size_t n,
                            const char *what, const char *name, int depth)
{
  struct mg_err e = MG_ERR_INIT;
  uint64_t hlen = 0;
  int kind;

  if (!n)
    return "empty";
  if (depth > DEPTH_MAX) {
    unscanned(c, "%s: nested deeper than %d containers: not scanned", what,
              DEPTH_MAX);
    return "unknown";
  }
  /* Containers and compressed streams. Their bytes are also read as
   * pickle.load reads them: a tar whose first member name is a protocol 0
   * pickle, or a zlib stream whose header is "(S", is both. */
  if (n >= 4 && memcmp(p, "PK", 2) == 0
      && ((p[2] == 3 && p[3] == 4) || (p[2] == 5 && p[3] == 6))) {
    probe(c, what, "zip", p, n);
    return check_zip(c, what, p, n, depth);
  }
  if (n >= 262 && memcmp(p + 257, "ustar", 5) == 0) {
    probe(c, what, "tar", p, n);
    if (depth) {
      unscanned(c, "%s: a tar inside another container: not scanned", what);
      return "tar";
    }
    check_tar(c, depth);
    return "tar";
  }
  kind = mg_unpack_detect(p, n);
  if (kind) {
    const char *format;
    if (check_compressed(c, kind, p, n, what, name, depth, &format)) {
      probe(c, what, mg_unpack_name(kind), p, n);
      return format;
    }
  }
  /* Known formats, fully validated, that a pickle loader must not read
   * anything out of. */
  if (n >= 4 && memcmp(p, "GGUF", 4) == 0) {
    struct mg_gguf_info info;
    if (mg_gguf_check(p, n, &info, &e) < 0) {
      cfind(c, SEV_ERROR, "gguf", "%s", e.msg);
    } else if (!depth) {
      mg_json_set_number(c->r->detail, "version", info.version);
      mg_json_set_number(c->r->detail, "tensors", (double)info.n_tensors);
      mg_json_set_number(c->r->detail, "metadata_keys", (double)info.n_kv);
      mg_json_set_number(c->r->detail, "alignment", info.alignment);
      if (info.architecture)
        mg_json_set_string(c->r->detail, "architecture", info.architecture);
    }
    if (info.chat_template)
      check_template(c->r, info.chat_template, "tokenizer.chat_template");
    mg_gguf_info_release(&info);
    probe(c, what, "GGUF", p, n);
    return "gguf";
  }
  if (n >= 6 && memcmp(p, "\x93NUMPY", 6) == 0)
    return check_npy(c, what, p, n);
  for (int i = 7; n >= 9 && i >= 0; i--)
    hlen = hlen << 8 | p[i];
  if ((n >= 9 && hlen >= 2 && hlen <= MG_SAFETENSORS_MAX_HEADER && hlen + 8 <= n
       && p[8] == '{')
      || ends_with(name, ".safetensors")) {
    struct mg_safetensors_info info;
    if (mg_safetensors_check(p, n, n, &info, &e) < 0) {
      cfind(c, SEV_ERROR, "safetensors", "%s", e.msg);
    } else if (!depth) {
      mg_json_set_number(c->r->detail, "tensors", (double)info.n_tensors);
      mg_json_set_number(c->r->detail, "header_bytes", (double)info.header_len);
      mg_json_set_string(c->r->detail, "dtypes", info.dtypes);
    }
    probe(c, what, "safetensors", p, n);
    return "safetensors";
  }
  if (ends_with(name, ".gguf")) {
    cfind(c, SEV_ERROR, "gguf", "%s: named .gguf but no GGUF magic", what);
    return "gguf";
  }
  if (ends_with(name, ".onnx")) {
    if (mg_protobuf_check(p, n, &mg_protobuf_onnx, &e) < 0)
      cfind(c, SEV_ERROR, "format",
            "%s: named .onnx but not an ONNX "
            "protobuf: %s",
            what, e.msg);
    else
      cfind(c, SEV_INFO, "format",
            "ONNX: custom operators and external data are not checked");
    probe(c, what, "ONNX", p, n);
    return "onnx";
  }
  if (ends_with(name, ".model")
      && mg_protobuf_check(p, n, &mg_protobuf_sentencepiece, &e) == 0) {
    probe(c, what, "SentencePiece model", p, n);
    return "sentencepiece";
  }
  if (looks_text(p, n)) {
    /* Text, unless a pickle loader gets somewhere with it (protocol 0
     * pickles are text too). */
    struct mg_pickle_report rep;
    int pickle;
    mg_pickle_scan(p, n, NULL, 0, &rep, NULL);
    pickle = rep.n_pickles || rep.acted || rep.unsafe;
    mg_pickle_report_release(&rep);
    if (!pickle)
      return check_text(c, what, p, n, name);
  }
  /* Anything else a pickle loader could be handed. */
  return scan_pickle(c, what, p, n, 0, NULL);
}

static void check_format(struct fres *r, const char *full,
                         const struct mg_verify_policy *pol)
{
  struct mg_err e = MG_ERR_INIT;
  struct cls c;
  struct map m;
  const char *what;

  memset(&c, 0, sizeof(c));
  c.r = r;
  c.full = full;
  c.pol = pol;
  c.pickles = mg_json_new_array();
  if (map_file(full, r->size, &m, &e) < 0) {
    add_finding(&r->f, SEV_ERROR, "io", r->e->path, "%s", e.msg);
    r->format = "unknown";
    mg_json_free(c.pickles);
    return;
  }
  /* How the file is named in messages. */
  what = m.n >= 6 && memcmp(m.p, "\x93NUMPY", 6) == 0 ? "array" : "pickle";
  if (m.n >= 4 && memcmp(m.p, "PK", 2) == 0)
    what = "zip";
  r->format = classify(&c, m.p, m.n, what, r->e->path, 0);
  unmap_file(&m);
  if (mg_json_size(c.pickles))
    mg_json_set(r->detail, "pickles", c.pickles);
  else
    mg_json_free(c.pickles);
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
  unsigned long long size = 0;
  struct mg_err err = MG_ERR_INIT;

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
  check_format(r, full, pol);
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
