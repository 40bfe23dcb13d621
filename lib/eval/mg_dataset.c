#include "eval/mg_dataset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "mg_io.h"
#include "mg_mem.h"
#include "py/mg_pv.h"
#include "py/mg_regex.h"

#define DATA_MAX ((size_t)1 << 30)

static int is_file(const char *p)
{
  struct stat st;

  return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_dir(const char *p)
{
  struct stat st;

  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int read_all(const char *path, struct mg_buf *b, struct mg_err *err)
{
  mg_buf_init(b, DATA_MAX);
  if (mg_io_read_file(path, b, err) < 0) {
    mg_buf_release(b);
    return -1;
  }
  return 0;
}

/* ---- column normalisation (the json builder's schema inference) ---- */

static void normalize_columns(struct mg_pv *docs)
{
  struct mg_pv *cols = mg_pv_list();
  int *has_float, *has_int;
  size_t nc;

  for (size_t i = 0; i < docs->u.list.n; i++) {
    struct mg_pv *d = docs->u.list.v[i];

    for (size_t k = 0; k < d->u.dict.n; k++) {
      int seen = 0;

      for (size_t c = 0; c < cols->u.list.n; c++)
        if (mg_pv_equal(cols->u.list.v[c], d->u.dict.k[k])) {
          seen = 1;
          break;
        }
      if (!seen)
        mg_pv_list_append(cols, mg_pv_ref(d->u.dict.k[k]));
    }
  }
  nc = cols->u.list.n;
  has_float = mg_xcalloc(nc ? nc : 1, sizeof(int));
  has_int = mg_xcalloc(nc ? nc : 1, sizeof(int));
  for (size_t i = 0; i < docs->u.list.n; i++)
    for (size_t c = 0; c < nc; c++) {
      struct mg_pv *v = mg_pv_dict_getv(docs->u.list.v[i], cols->u.list.v[c]);

      if (v && v->type == MG_PV_FLOAT)
        has_float[c] = 1;
      if (v && v->type == MG_PV_INT)
        has_int[c] = 1;
    }
  for (size_t i = 0; i < docs->u.list.n; i++) {
    struct mg_pv *d = docs->u.list.v[i], *nd;
    int same = d->u.dict.n == nc;

    for (size_t c = 0; same && c < nc; c++)
      if (!mg_pv_equal(d->u.dict.k[c], cols->u.list.v[c])
          || (has_float[c] && has_int[c] && d->u.dict.v[c]->type == MG_PV_INT))
        same = 0;
    if (same)
      continue;
    nd = mg_pv_dict();
    for (size_t c = 0; c < nc; c++) {
      struct mg_pv *v = mg_pv_dict_getv(d, cols->u.list.v[c]);

      if (!v)
        v = mg_pv_none();
      else if (has_float[c] && v->type == MG_PV_INT)
        v = mg_pv_float((double)v->u.i);
      else
        v = mg_pv_ref(v);
      mg_pv_dict_set(nd, mg_pv_ref(cols->u.list.v[c]), v);
    }
    mg_pv_unref(d);
    docs->u.list.v[i] = nd;
  }
  free(has_float);
  free(has_int);
  mg_pv_unref(cols);
}

int mg_dataset_parse_json(const char *text, size_t len, const char *name,
                          const char *field, struct mg_pv **docs,
                          struct mg_err *err)
{
  size_t i = 0, line = 1;
  struct mg_pv *l;

  *docs = NULL;
  while (i < len
         && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n'
             || text[i] == '\r'))
    i++;
  if (i < len && (text[i] == '[' || (text[i] == '{' && field))) {
    struct mg_pv *v, *arr;

    if (mg_pv_parse(text, len, MG_PV_JSON, name, &v, err) < 0)
      return -1;
    arr = v;
    if (field) {
      arr = mg_pv_dict_get(v, field);
      if (!arr) {
        mg_pv_unref(v);
        return mg_err_set(err, MG_ERR_DATA, "missing field '%s' in '%s'", field,
                          name);
      }
    }
    if (arr->type != MG_PV_LIST) {
      mg_pv_unref(v);
      return mg_err_set(err, MG_ERR_DATA, "'%s' does not hold a list of rows",
                        name);
    }
    l = mg_pv_list();
    for (size_t k = 0; k < arr->u.list.n; k++) {
      if (arr->u.list.v[k]->type != MG_PV_DICT) {
        mg_pv_unref(l);
        mg_pv_unref(v);
        return mg_err_set(err, MG_ERR_DATA, "row %zu of '%s' is not an object",
                          k + 1, name);
      }
      mg_pv_list_append(l, mg_pv_ref(arr->u.list.v[k]));
    }
    mg_pv_unref(v);
    normalize_columns(l);
    *docs = l;
    return 0;
  }
  l = mg_pv_list();
  i = 0;
  while (i < len) {
    const char *nl = memchr(text + i, '\n', len - i);
    size_t e = nl ? (size_t)(nl - text) : len, s = i;
    struct mg_pv *v;
    int blank = 1;

    for (size_t k = s; k < e; k++)
      if (text[k] != ' ' && text[k] != '\t' && text[k] != '\r')
        blank = 0;
    if (!blank) {
      char nm[512];

      (void)snprintf(nm, sizeof(nm), "%s:%zu", name, line);
      if (mg_pv_parse(text + s, e - s, MG_PV_JSON, nm, &v, err) < 0) {
        mg_pv_unref(l);
        return -1;
      }
      if (v->type != MG_PV_DICT) {
        mg_pv_unref(v);
        mg_pv_unref(l);
        return mg_err_set(err, MG_ERR_DATA,
                          "line %zu of '%s' is not a JSON object", line, name);
      }
      mg_pv_list_append(l, v);
    }
    i = e + 1;
    line++;
  }
  normalize_columns(l);
  *docs = l;
  return 0;
}

/* ---- CSV ---- */

static int csv_rows(const char *text, size_t len, const char *name,
                    struct mg_pv **out, struct mg_err *err)
{
  struct mg_pv *rows = mg_pv_list(), *row = mg_pv_list();
  struct mg_buf cell = MG_BUF_INIT(MG_BUF_UNLIMITED);
  size_t i = 0, line = 1;
  int quoted = 0, was_quoted = 0, any = 0;

  if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
    i = 3;
  for (; i <= len; i++) {
    char c = i < len ? text[i] : '\n';

    if (quoted) {
      if (i == len) {
        mg_buf_release(&cell);
        mg_pv_unref(row);
        mg_pv_unref(rows);
        return mg_err_set(err, MG_ERR_DATA,
                          "malformed CSV in '%s' at line %zu: unterminated "
                          "quoted field",
                          name, line);
      }
      if (c == '"') {
        if (i + 1 < len && text[i + 1] == '"') {
          mg_buf_addch(&cell, '"', NULL);
          i++;
        } else {
          quoted = 0;
        }
      } else {
        if (c == '\n')
          line++;
        mg_buf_addch(&cell, c, NULL);
      }
      continue;
    }
    if (c == '"' && cell.len == 0 && !was_quoted) {
      quoted = was_quoted = any = 1;
      continue;
    }
    if (c == ',') {
      mg_pv_list_append(row, mg_pv_str_buf(&cell));
      was_quoted = 0;
      any = 1;
      continue;
    }
    if (c == '\r' && i + 1 < len && text[i + 1] == '\n')
      continue;
    if (c == '\n' || c == '\r') {
      if (any || cell.len) {
        mg_pv_list_append(row, mg_pv_str_buf(&cell));
        mg_pv_list_append(rows, row);
        row = mg_pv_list();
      }
      mg_buf_reset(&cell);
      was_quoted = any = 0;
      line++;
      continue;
    }
    mg_buf_addch(&cell, c, NULL);
    any = 1;
  }
  mg_buf_release(&cell);
  mg_pv_unref(row);
  *out = rows;
  return 0;
}

static struct mg_pv *typed_cell(const struct mg_pv *cell, int kind)
{
  char *end;

  if (cell->u.str.len == 0)
    return mg_pv_none();
  if (kind == 1)
    return mg_pv_int(strtoll(cell->u.str.s, &end, 10));
  if (kind == 2)
    return mg_pv_float(strtod(cell->u.str.s, &end));
  return mg_pv_ref((struct mg_pv *)cell);
}

int mg_dataset_parse_csv(const char *text, size_t len, const char *name,
                         int header, struct mg_pv **out, struct mg_err *err)
{
  struct mg_pv *rows = NULL, *hdr, *docs;
  int *kind;
  size_t nc;

  *out = NULL;
  if (csv_rows(text, len, name, &rows, err) < 0)
    return -1;
  if (!header) {
    *out = rows;
    return 0;
  }
  if (rows->u.list.n == 0) {
    *out = rows;
    return 0;
  }
  hdr = rows->u.list.v[0];
  nc = hdr->u.list.n;
  kind = mg_xcalloc(nc ? nc : 1, sizeof(int));
  for (size_t c = 0; c < nc; c++) {
    int all_int = 1, all_num = 1, any = 0;

    for (size_t r = 1; r < rows->u.list.n; r++) {
      struct mg_pv *cell = mg_pv_at(rows->u.list.v[r], c);
      char *end;

      if (!cell || cell->u.str.len == 0)
        continue;
      any = 1;
      errno = 0;
      (void)strtoll(cell->u.str.s, &end, 10);
      if (*end || errno)
        all_int = 0;
      (void)strtod(cell->u.str.s, &end);
      if (*end)
        all_num = 0;
    }
    kind[c] = !any ? 0 : all_int ? 1 : all_num ? 2 : 0;
  }
  docs = mg_pv_list();
  for (size_t r = 1; r < rows->u.list.n; r++) {
    struct mg_pv *row = rows->u.list.v[r], *d = mg_pv_dict();

    if (row->u.list.n != nc) {
      free(kind);
      mg_pv_unref(d);
      mg_pv_unref(docs);
      mg_pv_unref(rows);
      return mg_err_set(err, MG_ERR_DATA,
                        "malformed CSV in '%s': row %zu has %zu fields, the "
                        "header %zu",
                        name, r + 1, row->u.list.n, nc);
    }
    for (size_t c = 0; c < nc; c++)
      mg_pv_dict_set(d, mg_pv_ref(hdr->u.list.v[c]),
                     typed_cell(row->u.list.v[c], kind[c]));
    mg_pv_list_append(docs, d);
  }
  free(kind);
  mg_pv_unref(rows);
  *out = docs;
  return 0;
}

/* ---- file helpers ---- */

static int load_json_file(const char *path, const char *field,
                          struct mg_pv **docs, struct mg_err *err)
{
  struct mg_buf b;
  int rc;

  if (read_all(path, &b, err) < 0)
    return -1;
  rc = mg_dataset_parse_json(b.data ? b.data : "", b.len, path, field, docs,
                             err);
  mg_buf_release(&b);
  return rc;
}

static int load_csv_file(const char *path, int header, struct mg_pv **docs,
                         struct mg_err *err)
{
  struct mg_buf b;
  int rc;

  if (read_all(path, &b, err) < 0)
    return -1;
  rc = mg_dataset_parse_csv(b.data ? b.data : "", b.len, path, header, docs,
                            err);
  mg_buf_release(&b);
  return rc;
}

static char *join_path(const char *dir, const char *rel)
{
  if (!dir || !*dir || rel[0] == '/')
    return mg_xstrdup(rel);
  return mg_xasprintf("%s/%s", dir, rel);
}

static const char *base_name(const char *p)
{
  const char *s = strrchr(p, '/');

  return s ? s + 1 : p;
}

/* Finds a data file the way a user means it: as given (relative to the
 * working directory), then relative to the task YAML, then, for an
 * absolute path that does not exist here (a path from inside an LMEvalJob
 * pod such as /opt/app-root/src/my_tasks/data.jsonl), the same file name
 * next to the task YAML. */
static char *resolve_file(const char *f, const char *base_dir, char **note)
{
  char *p;

  if (is_file(f))
    return mg_xstrdup(f);
  if (f[0] != '/' && base_dir) {
    p = join_path(base_dir, f);
    if (is_file(p))
      return p;
    free(p);
  }
  if (base_dir) {
    p = join_path(base_dir, base_name(f));
    if (is_file(p)) {
      if (note && !*note)
        *note = mg_xasprintf("data file '%s' not found; using '%s'", f, p);
      return p;
    }
    free(p);
  }
  return NULL;
}

static void append_all(struct mg_pv *dst, struct mg_pv *src)
{
  for (size_t i = 0; i < src->u.list.n; i++)
    mg_pv_list_append(dst, mg_pv_ref(src->u.list.v[i]));
}

static int has_suffix(const char *s, const char *suf)
{
  size_t a = strlen(s), b = strlen(suf);

  return a >= b && strcmp(s + a - b, suf) == 0;
}

/* Loads the files of data_files for the split (json/csv builders). */
static int load_builder(const struct mg_dataset_spec *spec, int csv,
                        const char *split, struct mg_pv **docs, char **note,
                        struct mg_err *err)
{
  const struct mg_pv *df =
      spec->kwargs ? mg_pv_dict_get(spec->kwargs, "data_files") : NULL;
  const struct mg_pv *files = NULL, *fieldv;
  const char *field = NULL;
  struct mg_pv *all;

  fieldv = spec->kwargs ? mg_pv_dict_get(spec->kwargs, "field") : NULL;
  if (fieldv && fieldv->type == MG_PV_STR)
    field = fieldv->u.str.s;
  if (!df)
    return mg_err_set(err, MG_ERR_DATA,
                      "dataset '%s' needs dataset_kwargs.data_files",
                      spec->path);
  if (df->type == MG_PV_DICT) {
    files = mg_pv_dict_get(df, split);
    if (!files)
      return mg_err_set(err, MG_ERR_DATA,
                        "no split '%s' in dataset_kwargs.data_files", split);
  } else if (strcmp(split, "train") == 0) {
    files = df;
  } else {
    return mg_err_set(err, MG_ERR_DATA,
                      "unknown split '%s': data_files given as a single "
                      "file or list make only the split 'train'",
                      split);
  }
  all = mg_pv_list();
  for (size_t i = 0; i < (files->type == MG_PV_LIST ? files->u.list.n : 1);
       i++) {
    const struct mg_pv *f =
        files->type == MG_PV_LIST ? files->u.list.v[i] : files;
    struct mg_pv *part;
    char *path;
    int rc;

    if (f->type != MG_PV_STR) {
      mg_pv_unref(all);
      return mg_err_set(err, MG_ERR_DATA,
                        "dataset_kwargs.data_files holds a %s, expected a "
                        "file name",
                        mg_pv_type_name(f));
    }
    path = resolve_file(f->u.str.s, spec->base_dir, note);
    if (!path) {
      mg_pv_unref(all);
      return mg_err_set(err, MG_ERR_IO, "cannot open '%s': %s", f->u.str.s,
                        strerror(ENOENT));
    }
    rc = csv || has_suffix(path, ".csv")
             ? load_csv_file(path, 1, &part, err)
             : load_json_file(path, field, &part, err);
    free(path);
    if (rc < 0) {
      mg_pv_unref(all);
      return -1;
    }
    append_all(all, part);
    mg_pv_unref(part);
  }
  if (!csv)
    normalize_columns(all);
  *docs = all;
  return 0;
}

/* A local directory as dataset_path: data_files relative to it, or files
 * named after the split. */
static int load_local_dir(const struct mg_dataset_spec *spec, const char *split,
                          struct mg_pv **docs, char **note, struct mg_err *err)
{
  static const char *const exts[] = { ".jsonl", ".json", ".csv", NULL };
  struct mg_dataset_spec sub = *spec;

  if (spec->kwargs && mg_pv_dict_get(spec->kwargs, "data_files")) {
    sub.base_dir = spec->path;
    return load_builder(&sub, 0, split, docs, note, err);
  }
  for (size_t i = 0; exts[i]; i++) {
    char *p = mg_xasprintf("%s/%s%s", spec->path, split, exts[i]);
    int rc;

    if (!is_file(p)) {
      free(p);
      continue;
    }
    rc = exts[i][1] == 'c' ? load_csv_file(p, 1, docs, err)
                           : load_json_file(p, NULL, docs, err);
    free(p);
    return rc;
  }
  return mg_err_set(err, MG_ERR_IO,
                    "no file for split '%s' in dataset directory '%s'", split,
                    spec->path);
}

/* ---- mirrors of the built-in benchmarks ---- */

static char *mirror_file(const char *data_dir, const char *sub, const char *rel)
{
  char *p = mg_xasprintf("%s/%s/%s", data_dir, sub, rel);

  if (is_file(p))
    return p;
  free(p);
  /* data_dir may point at the benchmark's own folder */
  p = mg_xasprintf("%s/%s", data_dir, rel);
  if (is_file(p))
    return p;
  free(p);
  return NULL;
}

static int no_mirror(const char *data_dir, const char *what, const char *rel,
                     struct mg_err *err)
{
  if (!data_dir)
    return mg_err_set(err, MG_ERR_USAGE,
                      "dataset '%s' needs a local mirror: give --data-dir "
                      "DIR (or MG_EVAL_DATA)",
                      what);
  return mg_err_set(err, MG_ERR_IO, "cannot open '%s/%s': %s", data_dir, rel,
                    strerror(ENOENT));
}

static int load_mmlu(const struct mg_dataset_spec *spec, const char *split,
                     struct mg_pv **docs, struct mg_err *err)
{
  const char *dir = !strcmp(split, "validation") ? "val" : split;
  char *rel, *path;
  struct mg_pv *rows, *l;
  int rc;

  if (!spec->name)
    return mg_err_set(err, MG_ERR_DATA,
                      "dataset 'cais/mmlu' needs a dataset_name (subject)");
  if (strcmp(dir, "test") && strcmp(dir, "dev") && strcmp(dir, "val"))
    return mg_err_set(err, MG_ERR_DATA, "unknown split '%s' for 'cais/mmlu'",
                      split);
  rel = mg_xasprintf("%s/%s_%s.csv", dir, spec->name, dir);
  path = spec->data_dir ? mirror_file(spec->data_dir, "mmlu", rel) : NULL;
  if (!path) {
    rc = no_mirror(spec->data_dir, "cais/mmlu", rel, err);
    if (spec->data_dir)
      mg_err_set(err, MG_ERR_IO, "cannot open '%s/mmlu/%s': %s", spec->data_dir,
                 rel, strerror(ENOENT));
    free(rel);
    return rc;
  }
  free(rel);
  rc = load_csv_file(path, 0, &rows, err);
  if (rc < 0) {
    free(path);
    return -1;
  }
  l = mg_pv_list();
  for (size_t i = 0; i < rows->u.list.n; i++) {
    struct mg_pv *row = rows->u.list.v[i], *d, *choices;
    const char *ans;

    if (row->u.list.n != 6) {
      rc = mg_err_set(err, MG_ERR_DATA,
                      "malformed MMLU row %zu in '%s': %zu columns, expected "
                      "6",
                      i + 1, path, row->u.list.n);
      break;
    }
    ans = row->u.list.v[5]->u.str.s;
    if (strlen(ans) != 1 || ans[0] < 'A' || ans[0] > 'D') {
      rc = mg_err_set(err, MG_ERR_DATA,
                      "malformed MMLU row %zu in '%s': answer '%s' is not "
                      "A-D",
                      i + 1, path, ans);
      break;
    }
    d = mg_pv_dict();
    mg_pv_dict_sets(d, "question", mg_pv_ref(row->u.list.v[0]));
    mg_pv_dict_sets(d, "subject", mg_pv_str(spec->name));
    choices = mg_pv_list();
    for (int c = 1; c <= 4; c++)
      mg_pv_list_append(choices, mg_pv_ref(row->u.list.v[c]));
    mg_pv_dict_sets(d, "choices", choices);
    mg_pv_dict_sets(d, "answer", mg_pv_int(ans[0] - 'A'));
    mg_pv_list_append(l, d);
  }
  mg_pv_unref(rows);
  free(path);
  if (rc < 0) {
    mg_pv_unref(l);
    return -1;
  }
  *docs = l;
  return 0;
}

static int load_gsm8k(const struct mg_dataset_spec *spec, const char *split,
                      struct mg_pv **docs, struct mg_err *err)
{
  char *rel, *path;
  int rc;

  if (spec->name && strcmp(spec->name, "main"))
    return mg_err_set(err, MG_ERR_DATA,
                      "only the 'main' configuration of gsm8k is mirrored");
  if (!spec->data_dir)
    return no_mirror(NULL, "gsm8k", "", err);
  rel = mg_xasprintf("%s.jsonl", split);
  path = mirror_file(spec->data_dir, "gsm8k", rel);
  if (!path) {
    mg_err_set(err, MG_ERR_IO, "cannot open '%s/gsm8k/%s': %s", spec->data_dir,
               rel, strerror(ENOENT));
    free(rel);
    return -1;
  }
  free(rel);
  rc = load_json_file(path, NULL, docs, err);
  free(path);
  return rc;
}

/* AI2's ARC rows {"question": {"stem", "choices": [{"text","label"}]},
 * "answerKey", "id"} into the HF shape. */
static struct mg_pv *arc_row(const struct mg_pv *r)
{
  const struct mg_pv *q = mg_pv_dict_get(r, "question");
  struct mg_pv *d, *choices, *texts, *labels;
  const struct mg_pv *cl;

  if (!q || q->type != MG_PV_DICT)
    return mg_pv_ref((struct mg_pv *)r); /* already HF-shaped */
  d = mg_pv_dict();
  mg_pv_dict_sets(d, "id",
                  mg_pv_ref(mg_pv_dict_get(r, "id") ? mg_pv_dict_get(r, "id")
                                                    : (struct mg_pv *)q));
  {
    struct mg_pv *stem = mg_pv_dict_get(q, "stem");

    mg_pv_dict_sets(d, "question", stem ? mg_pv_ref(stem) : mg_pv_str(""));
  }
  choices = mg_pv_dict();
  texts = mg_pv_list();
  labels = mg_pv_list();
  cl = mg_pv_dict_get(q, "choices");
  for (size_t i = 0; cl && cl->type == MG_PV_LIST && i < cl->u.list.n; i++) {
    struct mg_pv *t = mg_pv_dict_get(cl->u.list.v[i], "text");
    struct mg_pv *lb = mg_pv_dict_get(cl->u.list.v[i], "label");

    mg_pv_list_append(texts, t ? mg_pv_ref(t) : mg_pv_str(""));
    mg_pv_list_append(labels, lb ? mg_pv_ref(lb) : mg_pv_str(""));
  }
  mg_pv_dict_sets(choices, "text", texts);
  mg_pv_dict_sets(choices, "label", labels);
  mg_pv_dict_sets(d, "choices", choices);
  {
    struct mg_pv *ak = mg_pv_dict_get(r, "answerKey");

    mg_pv_dict_sets(d, "answerKey", ak ? mg_pv_ref(ak) : mg_pv_none());
  }
  return d;
}

static int load_arc(const struct mg_dataset_spec *spec, const char *split,
                    struct mg_pv **docs, struct mg_err *err)
{
  const char *name = spec->name ? spec->name : "ARC-Easy";
  const char *cap = !strcmp(split, "train")        ? "Train"
                    : !strcmp(split, "validation") ? "Dev"
                    : !strcmp(split, "test")       ? "Test"
                                                   : NULL;
  char *rel, *path = NULL;
  struct mg_pv *raw, *l;

  if (!cap)
    return mg_err_set(err, MG_ERR_DATA, "unknown split '%s' for ai2_arc",
                      split);
  if (!spec->data_dir)
    return no_mirror(NULL, "allenai/ai2_arc", "", err);
  rel = mg_xasprintf("%s/%s-%s.jsonl", name, name, cap);
  path = mirror_file(spec->data_dir, "arc", rel);
  if (!path) {
    free(rel);
    rel = mg_xasprintf("%s/%s.jsonl", name, split);
    path = mirror_file(spec->data_dir, "ai2_arc", rel);
  }
  if (!path) {
    mg_err_set(err, MG_ERR_IO, "cannot open '%s/arc/%s/%s-%s.jsonl': %s",
               spec->data_dir, name, name, cap, strerror(ENOENT));
    free(rel);
    return -1;
  }
  free(rel);
  if (load_json_file(path, NULL, &raw, err) < 0) {
    free(path);
    return -1;
  }
  free(path);
  l = mg_pv_list();
  for (size_t i = 0; i < raw->u.list.n; i++)
    mg_pv_list_append(l, arc_row(raw->u.list.v[i]));
  mg_pv_unref(raw);
  normalize_columns(l);
  *docs = l;
  return 0;
}

static int load_hellaswag(const struct mg_dataset_spec *spec, const char *split,
                          struct mg_pv **docs, struct mg_err *err)
{
  static const char *const order[] = {
    "ind",       "activity_label", "ctx_a",      "ctx_b", "ctx", "endings",
    "source_id", "split",          "split_type", "label", NULL
  };
  const char *f = !strcmp(split, "validation") ? "val"
                  : !strcmp(split, "train")    ? "train"
                  : !strcmp(split, "test")     ? "test"
                                               : NULL;
  char *rel, *path;
  struct mg_pv *raw, *l;

  if (!f)
    return mg_err_set(err, MG_ERR_DATA, "unknown split '%s' for hellaswag",
                      split);
  rel = mg_xasprintf("hellaswag_%s.jsonl", f);
  path = spec->data_dir ? mirror_file(spec->data_dir, "hellaswag", rel) : NULL;
  if (!path) {
    int rc = no_mirror(spec->data_dir, "Rowan/hellaswag", rel, err);

    if (spec->data_dir)
      mg_err_set(err, MG_ERR_IO, "cannot open '%s/hellaswag/%s': %s",
                 spec->data_dir, rel, strerror(ENOENT));
    free(rel);
    return rc;
  }
  free(rel);
  if (load_json_file(path, NULL, &raw, err) < 0) {
    free(path);
    return -1;
  }
  free(path);
  l = mg_pv_list();
  for (size_t i = 0; i < raw->u.list.n; i++) {
    struct mg_pv *r = raw->u.list.v[i], *d = mg_pv_dict();

    for (size_t k = 0; order[k]; k++) {
      struct mg_pv *v = mg_pv_dict_get(r, order[k]);

      if (!strcmp(order[k], "label") && v && v->type == MG_PV_INT) {
        char num[32];

        (void)snprintf(num, sizeof(num), "%lld", v->u.i);
        mg_pv_dict_sets(d, "label", mg_pv_str(num));
      } else if (!strcmp(order[k], "ind") && v && v->type == MG_PV_INT) {
        mg_pv_dict_sets(d, "ind", mg_pv_ref(v));
      } else {
        mg_pv_dict_sets(d, order[k], v ? mg_pv_ref(v) : mg_pv_str(""));
      }
    }
    mg_pv_list_append(l, d);
  }
  mg_pv_unref(raw);
  *docs = l;
  return 0;
}

static int is_one_of(const char *s, const char *const *names)
{
  for (size_t i = 0; names[i]; i++)
    if (!strcmp(s, names[i]))
      return 1;
  return 0;
}

int mg_dataset_load(const struct mg_dataset_spec *spec, const char *split,
                    struct mg_pv **docs, char **note, struct mg_err *err)
{
  static const char *const mmlu[] = { "cais/mmlu", "hails/mmlu_no_train",
                                      "mmlu", NULL };
  static const char *const gsm[] = { "gsm8k", "openai/gsm8k", NULL };
  static const char *const arc[] = { "allenai/ai2_arc", "ai2_arc", NULL };
  static const char *const hs[] = { "Rowan/hellaswag", "hellaswag", NULL };
  const char *path = spec->path;

  *docs = NULL;
  if (note)
    *note = NULL;
  if (!path)
    return mg_err_set(err, MG_ERR_DATA, "task has no dataset_path");
  if (!strcmp(path, "json"))
    return load_builder(spec, 0, split, docs, note, err);
  if (!strcmp(path, "csv"))
    return load_builder(spec, 1, split, docs, note, err);
  if (is_one_of(path, mmlu))
    return load_mmlu(spec, split, docs, err);
  if (is_one_of(path, gsm))
    return load_gsm8k(spec, split, docs, err);
  if (is_one_of(path, arc))
    return load_arc(spec, split, docs, err);
  if (is_one_of(path, hs))
    return load_hellaswag(spec, split, docs, err);
  if (is_dir(path))
    return load_local_dir(spec, split, docs, note, err);
  if (spec->base_dir && path[0] != '/') {
    char *p = join_path(spec->base_dir, path);

    if (is_dir(p)) {
      struct mg_dataset_spec sub = *spec;
      int rc;

      sub.path = p;
      rc = load_local_dir(&sub, split, docs, note, err);
      free(p);
      return rc;
    }
    free(p);
  }
  if (spec->data_dir) {
    char *p = mg_xasprintf("%s/%s", spec->data_dir, path);

    if (is_dir(p)) {
      struct mg_dataset_spec sub = *spec;
      int rc;

      sub.path = p;
      if (spec->name) {
        char *q = mg_xasprintf("%s/%s", p, spec->name);

        if (is_dir(q)) {
          sub.path = q;
          rc = load_local_dir(&sub, split, docs, note, err);
          free(q);
          free(p);
          return rc;
        }
        free(q);
      }
      rc = load_local_dir(&sub, split, docs, note, err);
      free(p);
      return rc;
    }
    free(p);
  }
  return mg_err_set(err, MG_ERR_DATA,
                    "dataset '%s' is not available locally: eval-run never "
                    "downloads; use dataset_path json/csv with data_files, a "
                    "local directory, or a mirror under --data-dir",
                    path);
}

/* ---- HellaSwag ---- */

static struct mg_pv *hs_preprocess(const struct mg_pv *text,
                                   const struct mg_regex *brackets)
{
  struct mg_pv *s = mg_pv_str_strip(text), *t;
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  const char *p;
  size_t n, i;

  /* text.replace(" [title]", ". ") */
  p = s->u.str.s;
  n = s->u.str.len;
  for (i = 0; i < n;) {
    if (i + 8 <= n && memcmp(p + i, " [title]", 8) == 0) {
      mg_buf_addstr(&b, ". ", NULL);
      i += 8;
    } else {
      mg_buf_addch(&b, p[i++], NULL);
    }
  }
  mg_pv_unref(s);
  t = mg_pv_str_buf(&b);
  /* re.sub("\\[.*?\\]", "", text) */
  (void)mg_regex_sub(brackets, "", t->u.str.s, t->u.str.len, 0, &b, NULL);
  mg_pv_unref(t);
  t = mg_pv_str_buf(&b);
  /* text.replace("  ", " ") */
  p = t->u.str.s;
  n = t->u.str.len;
  for (i = 0; i < n;) {
    if (i + 2 <= n && p[i] == ' ' && p[i + 1] == ' ') {
      mg_buf_addch(&b, ' ', NULL);
      i += 2;
    } else {
      mg_buf_addch(&b, p[i++], NULL);
    }
  }
  mg_pv_unref(t);
  return mg_pv_str_buf(&b);
}

int mg_dataset_hellaswag(struct mg_pv *docs, struct mg_err *err)
{
  struct mg_regex *re;
  int rc = 0;

  if (mg_regex_compile("\\[.*?\\]", &re, err) < 0)
    return -1;
  for (size_t i = 0; i < docs->u.list.n && rc == 0; i++) {
    struct mg_pv *d = docs->u.list.v[i];
    const struct mg_pv *al = mg_pv_dict_get(d, "activity_label");
    const struct mg_pv *a = mg_pv_dict_get(d, "ctx_a");
    const struct mg_pv *b = mg_pv_dict_get(d, "ctx_b");
    const struct mg_pv *endings = mg_pv_dict_get(d, "endings");
    const struct mg_pv *label = mg_pv_dict_get(d, "label");
    struct mg_buf q = MG_BUF_INIT(MG_BUF_UNLIMITED);
    struct mg_pv *capb, *qs, *choices;
    char *end;
    long long gold;

    if (!mg_pv_cstr(al) || !mg_pv_cstr(a) || !mg_pv_cstr(b) || !endings
        || endings->type != MG_PV_LIST || !mg_pv_cstr(label)) {
      rc = mg_err_set(err, MG_ERR_DATA,
                      "HellaSwag row %zu lacks activity_label, ctx_a, ctx_b, "
                      "endings or label",
                      i + 1);
      break;
    }
    gold = strtoll(label->u.str.s, &end, 10);
    if (*end || !label->u.str.len) {
      rc = mg_err_set(err, MG_ERR_DATA,
                      "HellaSwag row %zu: label '%s' is not a number", i + 1,
                      label->u.str.s);
      break;
    }
    capb = mg_pv_str_capitalize(b);
    mg_buf_add(&q, al->u.str.s, al->u.str.len, NULL);
    mg_buf_addstr(&q, ": ", NULL);
    mg_buf_add(&q, a->u.str.s, a->u.str.len, NULL);
    mg_buf_addch(&q, ' ', NULL);
    mg_buf_add(&q, capb->u.str.s, capb->u.str.len, NULL);
    mg_pv_unref(capb);
    qs = mg_pv_str_buf(&q);
    mg_pv_dict_sets(d, "query", hs_preprocess(qs, re));
    mg_pv_unref(qs);
    choices = mg_pv_list();
    for (size_t k = 0; k < endings->u.list.n; k++) {
      if (endings->u.list.v[k]->type != MG_PV_STR) {
        rc = mg_err_set(err, MG_ERR_DATA,
                        "HellaSwag row %zu: an ending is not a string", i + 1);
        break;
      }
      mg_pv_list_append(choices, hs_preprocess(endings->u.list.v[k], re));
    }
    mg_pv_dict_sets(d, "choices", choices);
    mg_pv_dict_sets(d, "gold", mg_pv_int(gold));
  }
  mg_regex_free(re);
  return rc;
}
