/*
 * Built-in tasks' datasets from their pinned upstream sources, through
 * mg_fetch_run, into eval-run's --data-dir layout.
 */
#include "fetch/mg_fetch_ds.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fetch/mg_fetch.h"
#include "mg_buf.h"
#include "mg_digest.h"
#include "mg_err.h"
#include "mg_io.h"
#include "mg_json.h"
#include "mg_mem.h"
#include "mg_tree.h"

/*
 * Checksums: MMLU's data.tar as pinned by many public users of it (also
 * the Git LFS object of data.tar in the cais/mmlu dataset repository);
 * GSM8K at a fixed commit; HellaSwag and ARC as tensorflow/datasets pins
 * them (tensorflow_datasets/url_checksums/hellaswag.txt, ai2_arc.txt).
 */
static const char builtin[] =
    "{\"schema\": \"modelgate.dataset-manifest/v1\",\n"
    " \"datasets\": [\n"
    "  {\"name\": \"mmlu\", \"tasks\": \"mmlu, mmlu_<subject>, its groups\",\n"
    "   \"files\": [\n"
    "    {\"url\": \"https://people.eecs.berkeley.edu/~hendrycks/data.tar\",\n"
    "     \"sha256\": "
    "\"bec563ba4bac1d6aaf04141cd7d1605d7a5ca833e38f994051e818489592989b\",\n"
    "     \"license\": \"MIT\", \"origin\": \"hendrycks/test (also "
    "https://huggingface.co/datasets/cais/mmlu/resolve/"
    "c30699e8356da336a370243923dbaf21066bb9fe/data.tar)\",\n"
    "     \"dest\": \"mmlu\", \"extract\": true}]},\n"
    "  {\"name\": \"gsm8k\", \"tasks\": \"gsm8k\",\n"
    "   \"files\": [\n"
    "    {\"url\": \"https://raw.githubusercontent.com/openai/"
    "grade-school-math/3101c7d5072418e28b9008a6636bde82a006892c/"
    "grade_school_math/data/test.jsonl\",\n"
    "     \"sha256\": "
    "\"3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14\",\n"
    "     \"bytes\": 749738, \"license\": \"MIT\", "
    "\"origin\": \"openai/grade-school-math\", \"dest\": \"gsm8k\"},\n"
    "    {\"url\": \"https://raw.githubusercontent.com/openai/"
    "grade-school-math/3101c7d5072418e28b9008a6636bde82a006892c/"
    "grade_school_math/data/train.jsonl\",\n"
    "     \"sha256\": "
    "\"17f347dc51477c50d4efb83959dbb7c56297aba886e5544ee2aaed3024813465\",\n"
    "     \"bytes\": 4166206, \"license\": \"MIT\", "
    "\"origin\": \"openai/grade-school-math\", \"dest\": \"gsm8k\"}]},\n"
    "  {\"name\": \"arc\", \"tasks\": \"arc_easy, arc_challenge, ai2_arc\",\n"
    "   \"files\": [\n"
    "    {\"url\": \"https://ai2-datasets.s3-us-west-2.amazonaws.com/arc/"
    "ARC-V1-Feb2018.zip\",\n"
    "     \"sha256\": "
    "\"6d2d5ab50b2ceec6ba5f79c921be77cf2de712ea25a2b3f4fff3acc101cecfa0\",\n"
    "     \"bytes\": 680841265, \"license\": \"CC BY-SA 4.0\", "
    "\"origin\": \"Allen Institute for AI, ARC V1 (Feb 2018)\",\n"
    "     \"dest\": \"arc\", \"extract\": true}]},\n"
    "  {\"name\": \"hellaswag\", \"tasks\": \"hellaswag\",\n"
    "   \"files\": [\n"
    "    {\"url\": \"https://raw.githubusercontent.com/rowanz/hellaswag/"
    "master/data/hellaswag_val.jsonl\",\n"
    "     \"sha256\": "
    "\"0aa3b88843990f3f10a97b9575c94d7b71fb2205240ba04ae4884d9e9c992588\",\n"
    "     \"bytes\": 12246618, \"license\": \"MIT\", "
    "\"origin\": \"rowanz/hellaswag\", \"dest\": \"hellaswag\"},\n"
    "    {\"url\": \"https://raw.githubusercontent.com/rowanz/hellaswag/"
    "master/data/hellaswag_train.jsonl\",\n"
    "     \"sha256\": "
    "\"dae5e69249868cb9fe4e23ff925c60b66169564cfb7072d793cd7356a2b69f8d\",\n"
    "     \"bytes\": 47496131, \"license\": \"MIT\", "
    "\"origin\": \"rowanz/hellaswag\", \"dest\": \"hellaswag\"}]}\n"
    " ]}\n";

const char *mg_fetch_ds_builtin(void)
{
  return builtin;
}

static int bad(struct mg_err *err, const char *name, const char *what,
               const char *ds, size_t k)
{
  return mg_err_set(err, MG_ERR_DATA,
                    "malformed dataset manifest '%s': dataset '%s' file %zu: "
                    "%s",
                    name, ds ? ds : "?", k, what);
}

static int safe_rel(const char *p)
{
  if (!p || !*p || p[0] == '/')
    return 0;
  for (const char *s = p; *s;) {
    size_t n = strcspn(s, "/");

    if ((n == 2 && !strncmp(s, "..", 2)) || (n == 1 && s[0] == '.'))
      return 0;
    s += n;
    if (*s == '/')
      s++;
  }
  return 1;
}

int mg_fetch_ds_parse(const char *text, size_t n, const char *name,
                      struct mg_json **out, struct mg_err *err)
{
  struct mg_json *m = NULL;
  const struct mg_json *list;
  const char *schema;

  *out = NULL;
  if (mg_json_parse(text, n, name, &m, err) < 0)
    return -1;
  schema = mg_json_string(mg_json_get(m, "schema"));
  list = mg_json_get(m, "datasets");
  if (!schema || strcmp(schema, "modelgate.dataset-manifest/v1")
      || !mg_json_is_array(list)) {
    mg_json_free(m);
    return mg_err_set(err, MG_ERR_DATA,
                      "malformed dataset manifest '%s': expected schema "
                      "'modelgate.dataset-manifest/v1' and a 'datasets' list",
                      name);
  }
  for (const struct mg_json *d = mg_json_first(list); d; d = mg_json_next(d)) {
    const char *ds = mg_json_string(mg_json_get(d, "name"));
    const struct mg_json *files = mg_json_get(d, "files");
    size_t k = 0;

    if (!ds || !mg_json_is_array(files) || !mg_json_size(files)) {
      bad(err, name, "a dataset needs a name and a list of files", ds, 0);
      mg_json_free(m);
      return -1;
    }
    for (const struct mg_json *f = mg_json_first(files); f;
         f = mg_json_next(f), k++) {
      const char *url = mg_json_string(mg_json_get(f, "url"));
      const char *sha = mg_json_string(mg_json_get(f, "sha256"));
      const char *why = NULL;

      if (!url || (strncmp(url, "https://", 8) && strncmp(url, "http://", 7)))
        why = "'url' must be an http(s) URL";
      else if (!sha || !mg_digest_sha256_hex_valid(sha))
        why = "'sha256' must be 64 hex digits";
      else if (!mg_json_string(mg_json_get(f, "license")))
        why = "'license' is required";
      else if (!safe_rel(mg_json_string(mg_json_get(f, "dest"))))
        why = "'dest' must be a relative directory without '.' or '..'";
      else if (mg_json_get(f, "extract")
               && !mg_json_is_bool(mg_json_get(f, "extract")))
        why = "'extract' must be true or false";
      if (why) {
        bad(err, name, why, ds, k);
        mg_json_free(m);
        return -1;
      }
    }
  }
  *out = m;
  return 0;
}

/* 1 if names (comma-separated or "all") selects ds. */
static int selected(const char *names, const char *ds)
{
  size_t n = strlen(ds);

  if (!strcmp(names, "all"))
    return 1;
  for (const char *p = names; *p;) {
    size_t k = strcspn(p, ",");

    if (k == n && !strncmp(p, ds, n))
      return 1;
    p += k;
    if (*p == ',')
      p++;
  }
  return 0;
}

static char *url_base(const char *url)
{
  size_t n = strcspn(url, "?#");
  const char *s = url + n;

  while (s > url && s[-1] != '/')
    s--;
  return mg_xstrndup(s, (size_t)(url + n - s));
}

/* 1 when path holds sha256 hex. */
static int file_has(const char *path, const char *sha)
{
  char hex[MG_DIGEST_SHA256_HEX_LEN + 1];
  unsigned long long size;
  struct mg_err e = MG_ERR_INIT;

  if (access(path, F_OK) != 0
      || mg_digest_sha256_file(path, hex, &size, &e) < 0)
    return 0;
  return !strcmp(hex, sha);
}

/* Moves every entry of from into to (replacing what is there). */
static int move_entries(const char *from, const char *to, struct mg_err *err)
{
  DIR *d = opendir(from);
  struct dirent *de;
  int rc = 0;

  if (!d)
    return mg_err_errno(err, MG_ERR_IO, "cannot open '%s'", from);
  while (rc == 0 && (de = readdir(d)) != NULL) {
    char *a, *b;

    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
      continue;
    a = mg_tree_join(from, de->d_name);
    b = mg_tree_join(to, de->d_name);
    if (access(b, F_OK) == 0 && mg_tree_remove(b, err) < 0)
      rc = -1;
    else if (rename(a, b) < 0)
      rc = mg_err_errno(err, MG_ERR_IO, "cannot move '%s' to '%s'", a, b);
    free(a);
    free(b);
  }
  closedir(d);
  return rc;
}

/* One manifest file into dir/dest; fills fj. */
static int fetch_one(const struct mg_json *f, const char *dir, size_t seq,
                     const struct mg_fetch_opts *base, struct mg_json *fj,
                     struct mg_err *err)
{
  const char *url = mg_json_string(mg_json_get(f, "url"));
  const char *sha = mg_json_string(mg_json_get(f, "sha256"));
  const char *dest = mg_json_string(mg_json_get(f, "dest"));
  int ex = mg_json_is_bool(mg_json_get(f, "extract"))
           && mg_json_bool(mg_json_get(f, "extract"));
  char *ddir = mg_tree_join(dir, dest), *name = url_base(url);
  char *target = mg_tree_join(ddir, ex ? ".modelgate-source" : name);
  char *part = NULL;
  struct mg_fetch_opts fo = *base;
  struct mg_json *model = NULL;
  int rc = -1;

  mg_json_set_string(fj, "uri", url);
  mg_json_set_string(fj, "sha256", sha);
  if (mg_json_get(f, "bytes"))
    mg_json_set(fj, "bytes", mg_json_dup(mg_json_get(f, "bytes")));
  mg_json_set_string(fj, "license", mg_json_string(mg_json_get(f, "license")));
  if (mg_json_string(mg_json_get(f, "origin")))
    mg_json_set_string(fj, "origin", mg_json_string(mg_json_get(f, "origin")));
  mg_json_set_string(fj, "dest", dest);
  if (mg_io_mkdirs(ddir, err) < 0)
    goto out;
  /* already here: a plain file with its digest, or an archive's marker */
  if (ex) {
    struct mg_buf b = MG_BUF_INIT(256);
    struct mg_err e = MG_ERR_INIT;
    int same = mg_io_read_file(target, &b, &e) == 0 && b.len >= 64
               && !memcmp(b.data, sha, 64);

    mg_buf_release(&b);
    if (same) {
      mg_json_set_bool(fj, "already_present", 1);
      rc = 0;
      goto out;
    }
  } else if (file_has(target, sha)) {
    mg_json_set_bool(fj, "already_present", 1);
    mg_json_set_number(fj, "files", 1);
    rc = 0;
    goto out;
  }
  part = mg_xasprintf("%s/.modelgate-part-%zu", dir, seq);
  if (access(part, F_OK) == 0 && mg_tree_remove(part, err) < 0)
    goto out;
  fo.source = url;
  fo.dest = part;
  fo.sha256 = sha;
  fo.extract = ex;
  fo.include = fo.exclude = NULL;
  fo.force = 0;
  if (mg_fetch_run(&fo, &model, err) < 0)
    goto out;
  mg_json_set(
      fj, "files",
      mg_json_new_number((double)mg_json_size(mg_json_get(model, "files"))));
  if (move_entries(part, ddir, err) < 0)
    goto out;
  if (rmdir(part) < 0) {
    mg_err_errno(err, MG_ERR_IO, "cannot remove '%s'", part);
    goto out;
  }
  if (ex) {
    char line[80];

    (void)snprintf(line, sizeof(line), "%s\n", sha);
    if (mg_io_write_atomic(target, line, strlen(line), 0644, err) < 0)
      goto out;
  }
  rc = 0;
out:
  mg_json_free(model);
  free(part);
  free(target);
  free(name);
  free(ddir);
  return rc;
}

int mg_fetch_ds_run(const struct mg_json *manifest, const char *names,
                    const char *dir, const struct mg_fetch_opts *base,
                    struct mg_json **section, struct mg_err *err)
{
  const struct mg_json *list = mg_json_get(manifest, "datasets");
  struct mg_json *sec = mg_json_new_object(), *out = mg_json_new_array();
  size_t seq = 0, nsel = 0;
  char *abs = NULL;

  *section = NULL;
  /* every name must exist */
  for (const char *p = names; *p;) {
    size_t k = strcspn(p, ",");
    int found = k == 3 && !strncmp(p, "all", 3);

    for (const struct mg_json *d = mg_json_first(list); d && !found;
         d = mg_json_next(d)) {
      const char *ds = mg_json_string(mg_json_get(d, "name"));

      found = ds && strlen(ds) == k && !strncmp(ds, p, k);
    }
    if (!found) {
      mg_err_set(err, MG_ERR_USAGE, "unknown dataset '%.*s' in the manifest",
                 (int)k, p);
      goto fail;
    }
    p += k;
    if (*p == ',')
      p++;
  }
  if (mg_io_mkdirs(dir, err) < 0)
    goto fail;
  for (const struct mg_json *d = mg_json_first(list); d; d = mg_json_next(d)) {
    const char *ds = mg_json_string(mg_json_get(d, "name"));
    struct mg_json *dj, *fl;

    if (!selected(names, ds))
      continue;
    nsel++;
    dj = mg_json_new_object();
    fl = mg_json_new_array();
    mg_json_set_string(dj, "name", ds);
    mg_json_set(dj, "files", fl);
    mg_json_append(out, dj);
    for (const struct mg_json *f = mg_json_first(mg_json_get(d, "files")); f;
         f = mg_json_next(f)) {
      struct mg_json *fj = mg_json_new_object();

      mg_json_append(fl, fj);
      if (fetch_one(f, dir, seq++, base, fj, err) < 0) {
        mg_err_prefix(err, "dataset '%s'", ds);
        goto fail;
      }
    }
  }
  if (!nsel) {
    mg_err_set(err, MG_ERR_USAGE, "no dataset selected by '%s'", names);
    goto fail;
  }
  abs = realpath(dir, NULL);
  mg_json_set_string(sec, "dir", abs ? abs : dir);
  free(abs);
  mg_json_set(sec, "datasets", out);
  *section = sec;
  return 0;
fail:
  mg_json_free(out);
  mg_json_free(sec);
  return -1;
}
