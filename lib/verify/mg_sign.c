#include "verify/mg_sign.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mg_base64.h"
#include "mg_buf.h"
#include "mg_digest.h"
#include "mg_err.h"
#include "mg_io.h"
#include "mg_json.h"
#include "mg_mem.h"
#include "mg_tree.h"

#define BUNDLE_TYPE "application/vnd.dev.sigstore.bundle.v0.3+json"
#define BUNDLE_TYPE_ALT "application/vnd.dev.sigstore.bundle+json;version=0.3"
#define INTOTO_TYPE "application/vnd.in-toto+json"
#define STATEMENT_V1 "https://in-toto.io/Statement/v1"
#define PRED_V1 "https://model_signing/signature/v1.0"
#define PRED_V01 "https://model_signing/Digests/v0.1"
#define DEFAULT_SHARD 1000000000ULL

void mg_sign_pae(const char *type, const unsigned char *payload, size_t n,
                 unsigned char **out, size_t *out_len)
{
  char *head = mg_xasprintf("DSSEv1 %zu %s %zu ", strlen(type), type, n);
  size_t hl = strlen(head);

  *out = mg_xmalloc(hl + n + 1);
  memcpy(*out, head, hl);
  if (n)
    memcpy(*out + hl, payload, n);
  *out_len = hl + n;
  free(head);
}

struct res {
  char *name;
  char *digest; /* hex */
  int seen;
};

struct ctx {
  struct mg_json *report;
  struct mg_json *problems;
  struct res *signed_res;
  size_t n_signed;
  const char *hash_type;
  const char *method;
  uint64_t shard_size;
  int allow_symlinks;
  char **ignore;
  size_t n_ignore;
};

static void problem(struct ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void problem(struct ctx *c, const char *fmt, ...)
{
  char msg[512];
  va_list ap;

  va_start(ap, fmt);
  (void)vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  mg_json_append(c->problems, mg_json_new_string(msg));
}

static int cmp_res(const void *a, const void *b)
{
  return strcmp(((const struct res *)a)->name, ((const struct res *)b)->name);
}

static struct res *find_res(struct ctx *c, const char *name)
{
  struct res key = { (char *)name, NULL, 0 };

  return bsearch(&key, c->signed_res, c->n_signed, sizeof(key), cmp_res);
}

static int read_small(const char *path, size_t max, struct mg_buf *b,
                      struct mg_err *err)
{
  mg_buf_init(b, max);
  return mg_io_read_file(path, b, err);
}

/* Hex digest of a byte range [start, end) of a file (end 0: whole). */
static int hash_range(const char *path, const char *alg, uint64_t start,
                      uint64_t end, int whole, char *hex, struct mg_err *err)
{
  unsigned char buf[1 << 16];
  struct mg_digest_md *h = mg_digest_md_new(alg);
  uint64_t pos = start;
  int fd = open(path, O_RDONLY | O_CLOEXEC);

  if (!h)
    MG_BUG("unknown hash '%s'", alg);
  if (fd < 0) {
    mg_digest_md_free(h);
    return mg_err_errno(err, MG_ERR_IO, "cannot open '%s'", path);
  }
  for (;;) {
    size_t want = sizeof(buf);
    ssize_t n;
    if (!whole && end - pos < want)
      want = (size_t)(end - pos);
    if (!whole && want == 0)
      break;
    n = pread(fd, buf, want, (off_t)pos);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      mg_err_errno(err, MG_ERR_IO, "cannot read '%s'", path);
      close(fd);
      mg_digest_md_free(h);
      return -1;
    }
    if (n == 0)
      break;
    mg_digest_md_update(h, buf, (size_t)n);
    pos += (uint64_t)n;
  }
  close(fd);
  mg_digest_md_final_hex(h, hex);
  mg_digest_md_free(h);
  return 0;
}

static void check_one(struct ctx *c, const char *name, const char *hex)
{
  struct res *r = find_res(c, name);

  if (!r) {
    problem(c, "file '%s' is not covered by the signature%s", name, "");
    return;
  }
  r->seen = 1;
  if (strcmp(r->digest, hex) != 0)
    problem(c, "file '%s' does not match its signed digest%s", name, "");
}

static int ignored(const struct ctx *c, const char *path)
{
  static const char *const always[] = { ".gitattributes", ".gitignore" };

  for (size_t i = 0; i < 2; i++)
    if (strcmp(path, always[i]) == 0)
      return 1;
  for (size_t i = 0; i < c->n_ignore; i++) {
    size_t n = strlen(c->ignore[i]);
    if (strncmp(path, c->ignore[i], n) == 0 && (!path[n] || path[n] == '/'))
      return 1;
  }
  return 0;
}

static int rehash(struct ctx *c, const char *dir, unsigned flags,
                  struct mg_err *err)
{
  static const char *const skip[] = { ".git", ".github", NULL };
  struct mg_tree t;
  size_t covered = 0;

  if (mg_tree_list(dir, skip, &t, err) < 0)
    return -1;
  for (size_t i = 0; i < t.n; i++) {
    const struct mg_tree_entry *e = &t.v[i];
    char *full;
    char hex[2 * MG_MD_MAX + 1];

    if (ignored(c, e->path))
      continue;
    if (e->type == MG_TREE_OTHER) {
      problem(c, "'%s' is not a regular file%s", e->path, "");
      continue;
    }
    if (e->type == MG_TREE_SYMLINK && (!c->allow_symlinks || !e->link_inside)) {
      problem(c, "'%s' is a symbolic link%s", e->path,
              c->allow_symlinks ? " leaving the model" : "");
      continue;
    }
    full = mg_tree_join(dir, e->path);
    if (strcmp(c->method, "files") == 0) {
      if (hash_range(full, c->hash_type, 0, 0, 1, hex, err) < 0) {
        free(full);
        mg_tree_release(&t);
        return -1;
      }
      covered++;
      check_one(c, e->path, hex);
    } else {
      uint64_t size = e->size, start = 0;
      if (e->type == MG_TREE_SYMLINK) {
        unsigned long long sz = 0;
        char tmp[MG_DIGEST_SHA256_HEX_LEN + 1];
        if (mg_digest_sha256_file(full, tmp, &sz, err) < 0) {
          free(full);
          mg_tree_release(&t);
          return -1;
        }
        size = sz;
      }
      do {
        uint64_t end =
            size - start > c->shard_size ? start + c->shard_size : size;
        char *name =
            mg_xasprintf("%s:%llu:%llu", e->path, (unsigned long long)start,
                         (unsigned long long)end);
        if (hash_range(full, c->hash_type, start, end, 0, hex, err) < 0) {
          free(name);
          free(full);
          mg_tree_release(&t);
          return -1;
        }
        check_one(c, name, hex);
        free(name);
        start = end;
      } while (start < size);
      covered++;
    }
    free(full);
  }
  mg_tree_release(&t);
  if (flags & MG_SIGN_IGNORE_UNSIGNED) {
    /* Drop the "not covered" problems: extra files are allowed. */
    struct mg_json *keep = mg_json_new_array();
    for (struct mg_json *p = mg_json_first(c->problems); p; p = mg_json_next(p))
      if (!strstr(mg_json_string(p), "is not covered by the signature"))
        mg_json_append(keep, mg_json_dup(p));
    mg_json_set(c->report, "problems", keep);
    c->problems = keep;
  }
  for (size_t i = 0; i < c->n_signed; i++)
    if (!c->signed_res[i].seen)
      problem(c, "signed file '%s' is missing%s", c->signed_res[i].name, "");
  mg_json_set_number(c->report, "covered_files", (double)covered);
  return 0;
}

/* Loads the resources of a v1.0 predicate and checks the root digest. */
static int load_v1(struct ctx *c, const struct mg_json *st, struct mg_err *err)
{
  const struct mg_json *subj = mg_json_get(st, "subject");
  const struct mg_json *pred = mg_json_get(st, "predicate");
  const struct mg_json *ser = mg_json_get(pred, "serialization");
  const struct mg_json *resources = mg_json_get(pred, "resources");
  const struct mg_json *ign, *s0;
  const char *root = NULL, *prev = NULL;
  struct mg_digest_sha256 *h;
  char hex[MG_DIGEST_SHA256_HEX_LEN + 1];
  double shard;
  int syml = 0;

  if (!mg_json_is_array(subj) || mg_json_size(subj) != 1)
    return mg_err_set(err, MG_ERR_DATA,
                      "signature statement must have exactly one subject");
  s0 = mg_json_at(subj, 0);
  if (mg_json_req_string(mg_json_get(s0, "digest"), "sha256",
                         "signature subject digest", &root, err)
      < 0)
    return -1;
  if (!mg_json_is_object(ser) || !mg_json_is_array(resources))
    return mg_err_set(err, MG_ERR_DATA,
                      "signature predicate has no serialization or "
                      "resources");
  if (mg_json_req_string(ser, "method", "serialization", &c->method, err) < 0
      || mg_json_req_string(ser, "hash_type", "serialization", &c->hash_type,
                            err)
             < 0
      || mg_json_opt_bool(ser, "allow_symlinks", "serialization", 0, &syml, err)
             < 0
      || mg_json_opt_number(ser, "shard_size", "serialization",
                            (double)DEFAULT_SHARD, &shard, err)
             < 0)
    return -1;
  c->allow_symlinks = syml;
  if (strcmp(c->method, "files") != 0 && strcmp(c->method, "shards") != 0)
    return mg_err_set(err, MG_ERR_DATA,
                      "unsupported serialization method '%.32s'", c->method);
  if (strcmp(c->hash_type, "sha256") != 0
      && strcmp(c->hash_type, "blake2b") != 0)
    return mg_err_set(err, MG_ERR_DATA, "unsupported hash type '%.32s'",
                      c->hash_type);
  if (!(shard >= 1 && shard <= 9e15))
    return mg_err_set(err, MG_ERR_DATA, "invalid shard_size");
  c->shard_size = (uint64_t)shard;
  ign = mg_json_get(ser, "ignore_paths");
  for (const struct mg_json *p = mg_json_first(ign); p; p = mg_json_next(p))
    if (mg_json_is_string(p)) {
      c->ignore =
          mg_xreallocarray(c->ignore, c->n_ignore + 1, sizeof(*c->ignore));
      c->ignore[c->n_ignore++] = mg_xstrdup(mg_json_string(p));
    }
  c->signed_res =
      mg_xcalloc(mg_json_size(resources) + 1, sizeof(*c->signed_res));
  h = mg_digest_sha256_new();
  for (const struct mg_json *r = mg_json_first(resources); r;
       r = mg_json_next(r)) {
    const char *name, *dg;
    unsigned char raw[MG_MD_MAX];
    size_t len;

    if (mg_json_req_string(r, "name", "signature resource", &name, err) < 0
        || mg_json_req_string(r, "digest", "signature resource", &dg, err)
               < 0) {
      mg_digest_sha256_free(h);
      return -1;
    }
    len = strlen(dg);
    if (len % 2 || len / 2 > sizeof(raw)) {
      mg_digest_sha256_free(h);
      return mg_err_set(err, MG_ERR_DATA, "invalid digest for '%.100s'", name);
    }
    for (size_t i = 0; i < len / 2; i++) {
      char b[3] = { dg[2 * i], dg[2 * i + 1], 0 };
      char *end;
      raw[i] = (unsigned char)strtoul(b, &end, 16);
      if (*end) {
        mg_digest_sha256_free(h);
        return mg_err_set(err, MG_ERR_DATA, "invalid digest for '%.100s'",
                          name);
      }
    }
    mg_digest_sha256_update(h, raw, len / 2);
    if (prev && strcmp(prev, name) >= 0)
      problem(c, "resources are not sorted by name at '%s'%s", name, "");
    prev = name;
    c->signed_res[c->n_signed].name = mg_xstrdup(name);
    c->signed_res[c->n_signed].digest = mg_xstrdup(dg);
    for (char *d = c->signed_res[c->n_signed].digest; *d; d++)
      if (*d >= 'A' && *d <= 'F')
        *d = (char)(*d - 'A' + 'a');
    c->n_signed++;
  }
  mg_digest_sha256_final_hex(h, hex);
  mg_digest_sha256_free(h);
  if (strcmp(hex, root) != 0)
    problem(c,
            "subject digest %s is not the digest of the resources "
            "(%s)",
            root, hex);
  qsort(c->signed_res, c->n_signed, sizeof(*c->signed_res), cmp_res);
  return 0;
}

/* Legacy v0.1: one subject per file, sha256 of the whole file. */
static int load_v01(struct ctx *c, const struct mg_json *st, struct mg_err *err)
{
  const struct mg_json *subj = mg_json_get(st, "subject");

  if (!mg_json_is_array(subj))
    return mg_err_set(err, MG_ERR_DATA,
                      "signature statement has no "
                      "subjects");
  c->method = "files";
  c->hash_type = "sha256";
  c->signed_res = mg_xcalloc(mg_json_size(subj) + 1, sizeof(*c->signed_res));
  for (const struct mg_json *s = mg_json_first(subj); s; s = mg_json_next(s)) {
    const char *name, *dg;
    if (mg_json_req_string(s, "name", "signature subject", &name, err) < 0
        || mg_json_req_string(mg_json_get(s, "digest"), "sha256",
                              "signature subject digest", &dg, err)
               < 0)
      return -1;
    c->signed_res[c->n_signed].name = mg_xstrdup(name);
    c->signed_res[c->n_signed].digest = mg_xstrdup(dg);
    c->n_signed++;
  }
  qsort(c->signed_res, c->n_signed, sizeof(*c->signed_res), cmp_res);
  return 0;
}

/* The signature file's path relative to dir, if it lies inside. */
static char *rel_inside(const char *dir, const char *path)
{
  char *rd = realpath(dir, NULL), *rp = realpath(path, NULL), *out = NULL;
  size_t n;

  if (rd && rp) {
    n = strlen(rd);
    if (strncmp(rp, rd, n) == 0 && rp[n] == '/')
      out = mg_xstrdup(rp + n + 1);
  }
  free(rd);
  free(rp);
  return out;
}

static int check_envelope(struct ctx *c, const struct mg_json *bundle,
                          const char *key_path, struct mg_json **statement,
                          struct mg_err *err)
{
  const struct mg_json *env = mg_json_get(bundle, "dsseEnvelope");
  const struct mg_json *sigs = mg_json_get(env, "signatures");
  const char *mt, *ptype, *payload_b64, *sig_b64, *hint = NULL, *curve;
  unsigned char *payload = NULL, *sig = NULL, *pae = NULL;
  size_t payload_len, sig_len, pae_len;
  char *canon = NULL;
  char khex[MG_DIGEST_SHA256_HEX_LEN + 1];
  struct mg_buf key = MG_BUF_INIT(1 << 20);
  int rc = -1;

  if (mg_json_req_string(bundle, "mediaType", "signature bundle", &mt, err) < 0)
    return -1;
  if (strcmp(mt, BUNDLE_TYPE) != 0 && strcmp(mt, BUNDLE_TYPE_ALT) != 0)
    return mg_err_set(err, MG_ERR_DATA, "unsupported bundle mediaType '%.100s'",
                      mt);
  if (!mg_json_is_object(env))
    return mg_err_set(err, MG_ERR_DATA, "signature bundle has no dsseEnvelope");
  if (mg_json_req_string(env, "payloadType", "dsseEnvelope", &ptype, err) < 0
      || mg_json_req_string(env, "payload", "dsseEnvelope", &payload_b64, err)
             < 0)
    return -1;
  if (strcmp(ptype, INTOTO_TYPE) != 0)
    return mg_err_set(err, MG_ERR_DATA, "unsupported payloadType '%.100s'",
                      ptype);
  if (!mg_json_is_array(sigs) || mg_json_size(sigs) != 1)
    return mg_err_set(err, MG_ERR_DATA,
                      "dsseEnvelope must carry exactly one signature");
  if (mg_json_req_string(mg_json_at(sigs, 0), "sig", "signature", &sig_b64, err)
      < 0)
    return -1;
  (void)mg_json_opt_string(
      mg_json_get_path(bundle, "verificationMaterial.publicKey"), "hint",
      "publicKey", NULL, &hint, NULL);
  if (mg_base64_decode(payload_b64, strlen(payload_b64), &payload, &payload_len,
                       err)
          < 0
      || mg_base64_decode(sig_b64, strlen(sig_b64), &sig, &sig_len, err) < 0) {
    mg_err_prefix(err, "signature bundle");
    goto out;
  }
  if (read_small(key_path, 1 << 20, &key, err) < 0)
    goto out;
  if (mg_digest_pubkey_pem(key.data, key.len, &canon, err) < 0) {
    mg_err_prefix(err, "public key '%s'", key_path);
    goto out;
  }
  mg_digest_sha256_hex(canon, strlen(canon), khex);
  mg_json_set_string(c->report, "key_hint", khex);
  if (hint && strcmp(hint, khex) != 0) {
    mg_err_set(err, MG_ERR_FAIL,
               "signature was made with another key (hint %.64s)", hint);
    goto out;
  }
  if (!hint)
    problem(c, "bundle has no key hint");
  mg_sign_pae(ptype, payload, payload_len, &pae, &pae_len);
  if (mg_digest_ecdsa_verify(key.data, key.len, pae, pae_len, sig, sig_len,
                             &curve, err)
      < 0)
    goto out;
  mg_json_set_string(c->report, "curve", curve);
  if (mg_json_parse((const char *)payload, payload_len, "signature payload",
                    statement, err)
      < 0)
    goto out;
  rc = 0;
out:
  mg_buf_release(&key);
  free(canon);
  free(payload);
  free(sig);
  free(pae);
  return rc;
}

int mg_sign_verify(const char *sig_path, const char *key_path, const char *dir,
                   unsigned flags, struct mg_json **report, struct mg_err *err)
{
  struct ctx c;
  struct mg_buf b;
  struct mg_json *bundle = NULL, *st = NULL, *ser;
  const char *type, *ptype;
  char *sig_rel = NULL;
  int rc = -1;

  memset(&c, 0, sizeof(c));
  *report = NULL;
  if (read_small(sig_path, 64 << 20, &b, err) < 0) {
    mg_buf_release(&b);
    return -1;
  }
  if (mg_json_parse(b.data, b.len, sig_path, &bundle, err) < 0) {
    mg_buf_release(&b);
    return -1;
  }
  mg_buf_release(&b);
  c.report = mg_json_new_object();
  mg_json_set_string(c.report, "status", "failed");
  mg_json_set_string(c.report, "method", "key");
  mg_json_set_string(c.report, "bundle", sig_path);
  c.problems = mg_json_new_array();
  mg_json_set(c.report, "problems", c.problems);
  *report = c.report;
  if (check_envelope(&c, bundle, key_path, &st, err) < 0)
    goto out;
  if (mg_json_req_string(st, "_type", "statement", &type, err) < 0
      || mg_json_req_string(st, "predicateType", "statement", &ptype, err) < 0)
    goto out;
  if (strcmp(type, STATEMENT_V1) != 0) {
    mg_err_set(err, MG_ERR_DATA, "unsupported statement type '%.100s'", type);
    goto out;
  }
  mg_json_set_string(c.report, "predicate_type", ptype);
  if (strcmp(ptype, PRED_V1) == 0) {
    if (load_v1(&c, st, err) < 0)
      goto out;
    mg_json_set(c.report, "subject",
                mg_json_dup(mg_json_at(mg_json_get(st, "subject"), 0)));
  } else if (strcmp(ptype, PRED_V01) == 0) {
    if (load_v01(&c, st, err) < 0)
      goto out;
  } else {
    mg_err_set(err, MG_ERR_DATA, "unsupported predicateType '%.100s'", ptype);
    goto out;
  }
  ser = mg_json_new_object();
  mg_json_set_string(ser, "method", c.method);
  mg_json_set_string(ser, "hash_type", c.hash_type);
  mg_json_set(c.report, "serialization", ser);
  sig_rel = rel_inside(dir, sig_path);
  if (sig_rel) {
    c.ignore = mg_xreallocarray(c.ignore, c.n_ignore + 1, sizeof(*c.ignore));
    c.ignore[c.n_ignore++] = sig_rel;
    sig_rel = NULL;
  }
  if (rehash(&c, dir, flags, err) < 0)
    goto out;
  for (struct mg_json *p = mg_json_first(c.problems); p; p = mg_json_next(p))
    if (!strstr(mg_json_string(p), "has no key hint")) {
      mg_err_set(err, MG_ERR_FAIL, "signature check failed: %s",
                 mg_json_string(p));
      goto out;
    }
  mg_json_set_string(c.report, "status", "verified");
  rc = 0;
out:
  for (size_t i = 0; i < c.n_signed; i++) {
    free(c.signed_res[i].name);
    free(c.signed_res[i].digest);
  }
  free(c.signed_res);
  for (size_t i = 0; i < c.n_ignore; i++)
    free(c.ignore[i]);
  free(c.ignore);
  free(sig_rel);
  mg_json_free(st);
  mg_json_free(bundle);
  return rc;
}
