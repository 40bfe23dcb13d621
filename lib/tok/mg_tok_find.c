/*
 * Where a tokenizer named by path or Hugging Face Hub id lives locally: the
 * path itself, the HF cache, or a mirror directory.
 */
#include "tok/mg_tok_find.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "mg_io.h"
#include "mg_mem.h"

void mg_tok_find_release(struct mg_tok_find *w)
{
  free(w->path);
  free(w->tried);
  w->path = w->tried = NULL;
  w->found = MG_TOK_FIND_NONE;
}

const char *mg_tok_find_how_name(enum mg_tok_find_how f)
{
  switch (f) {
  case MG_TOK_FIND_PATH:
    return "path";
  case MG_TOK_FIND_HF_CACHE:
    return "hf-cache";
  case MG_TOK_FIND_MIRROR:
    return "mirror";
  case MG_TOK_FIND_SERVER:
    return "server";
  default:
    return "none";
  }
}

static int is_dir(const char *p)
{
  struct stat st;

  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p)
{
  struct stat st;

  return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int mg_tok_find_is_hub_id(const char *name)
{
  size_t slashes = 0, n = strlen(name);

  if (!n || n > 200 || name[0] == '.' || name[0] == '-' || name[0] == '/')
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];

    if (c == '/') {
      if (++slashes > 1 || i + 1 == n || name[i + 1] == '.'
          || name[i + 1] == '-')
        return 0;
    } else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                 || (c >= '0' && c <= '9') || c == '-' || c == '_'
                 || c == '.')) {
      return 0;
    }
  }
  return !strstr(name, "--") && !strstr(name, "..");
}

/* "~/x" -> "$HOME/x"; anything else copied. */
static char *expand_home(const char *p)
{
  const char *home = getenv("HOME");

  if (p[0] == '~' && (p[1] == '/' || !p[1]) && home && *home)
    return mg_xasprintf("%s%s", home, p + 1);
  return mg_xstrdup(p);
}

static const char *env(const char *name)
{
  const char *v = getenv(name);

  return v && *v ? v : NULL;
}

char *mg_tok_find_cache_dir(void)
{
  static const char *const direct[] = {
    "TRANSFORMERS_CACHE",
    "PYTORCH_TRANSFORMERS_CACHE",
    "PYTORCH_PRETRAINED_BERT_CACHE",
    "HF_HUB_CACHE",
    "HUGGINGFACE_HUB_CACHE",
  };
  char *home, *out;

  for (size_t i = 0; i < sizeof(direct) / sizeof(*direct); i++)
    if (env(direct[i]))
      return expand_home(env(direct[i]));
  if (env("HF_HOME"))
    home = expand_home(env("HF_HOME"));
  else if (env("XDG_CACHE_HOME"))
    home = mg_xasprintf("%s/huggingface", env("XDG_CACHE_HOME"));
  else
    home = expand_home("~/.cache/huggingface");
  out = mg_xasprintf("%s/hub", home);
  free(home);
  return out;
}

static void note(struct mg_buf *tried, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void note(struct mg_buf *tried, const char *fmt, ...)
{
  va_list ap;

  if (tried->len)
    mg_buf_addstr(tried, "; ", NULL);
  va_start(ap, fmt);
  mg_buf_vprintf(tried, NULL, fmt, ap);
  va_end(ap);
}

static int is_hex40(const char *s, size_t n)
{
  if (n != 40)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return 0;
  return 1;
}

/* The only entry of dir that is a 40-hex directory name, or NULL. */
static char *only_snapshot(const char *snaps, size_t *count)
{
  DIR *d = opendir(snaps);
  struct dirent *de;
  char *found = NULL;

  *count = 0;
  if (!d)
    return NULL;
  while ((de = readdir(d)) != NULL) {
    char *p;

    if (!is_hex40(de->d_name, strlen(de->d_name)))
      continue;
    p = mg_xasprintf("%s/%s", snaps, de->d_name);
    if (!is_dir(p)) {
      free(p);
      continue;
    }
    if (++*count == 1)
      found = p;
    else
      free(p);
  }
  closedir(d);
  if (*count != 1) {
    free(found);
    return NULL;
  }
  return found;
}

/*
 * repo is ROOT/models--ORG--NAME. Returns the snapshot directory holding
 * tokenizer.json, or NULL with a note in tried.
 */
static char *cache_snapshot(const char *repo, const char *revision,
                            struct mg_buf *tried)
{
  char *ref = NULL, *snap = NULL, *snaps;
  struct mg_buf b = MG_BUF_INIT(4096);
  struct mg_err err = MG_ERR_INIT;
  size_t count;

  if (!is_dir(repo)) {
    note(tried, "'%s' does not exist", repo);
    return NULL;
  }
  snaps = mg_xasprintf("%s/snapshots", repo);
  if (is_hex40(revision, strlen(revision))) {
    snap = mg_xasprintf("%s/%s", snaps, revision);
  } else {
    ref = mg_xasprintf("%s/refs/%s", repo, revision);
    if (is_file(ref) && mg_io_read_file(ref, &b, &err) == 0) {
      size_t n = b.len;

      /* huggingface_hub writes no newline; tolerate one */
      while (n
             && (b.data[n - 1] == '\n' || b.data[n - 1] == '\r'
                 || b.data[n - 1] == ' '))
        n--;
      if (is_hex40(b.data, n))
        snap = mg_xasprintf("%s/%.40s", snaps, b.data);
      else
        note(tried, "'%s' does not hold a commit hash", ref);
    } else {
      snap = only_snapshot(snaps, &count);
      if (!snap)
        note(tried,
             count ? "'%s' is missing and '%s' holds %zu snapshots"
                   : "'%s' is missing and '%s' holds no snapshot",
             ref, snaps, count);
    }
  }
  if (snap) {
    char *tj = mg_xasprintf("%s/tokenizer.json", snap);

    if (!is_file(tj)) {
      note(tried, "'%s' has no tokenizer.json", snap);
      free(snap);
      snap = NULL;
    }
    free(tj);
  }
  mg_buf_release(&b);
  free(ref);
  free(snaps);
  return snap;
}

/* "org/name" -> "models--org--name" */
static char *repo_dirname(const char *id)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

  mg_buf_addstr(&b, "models--", NULL);
  for (const char *p = id; *p; p++)
    if (*p == '/')
      mg_buf_addstr(&b, "--", NULL);
    else
      mg_buf_addch(&b, *p, NULL);
  return mg_buf_detach(&b, NULL);
}

static int found(struct mg_tok_find *w, enum mg_tok_find_how how, char *path,
                 struct mg_buf *tried)
{
  w->found = how;
  w->path = path;
  w->tried = mg_buf_detach(tried, NULL);
  if (!w->tried)
    w->tried = mg_xstrdup("");
  return 0;
}

int mg_tok_find(const char *name, const char *revision, const char *mirrors,
                struct mg_tok_find *w, struct mg_err *err)
{
  struct mg_buf tried = MG_BUF_INIT(MG_BUF_UNLIMITED);
  char *repo = NULL, *root, *p;

  w->found = MG_TOK_FIND_NONE;
  w->path = w->tried = NULL;
  if (!name || !*name)
    return mg_err_set(err, MG_ERR_USAGE, "no tokenizer name given");
  if (!revision || !*revision)
    revision = "main";
  /* 1: a path */
  if (is_file(name))
    return found(w, MG_TOK_FIND_PATH, mg_xstrdup(name), &tried);
  if (is_dir(name)) {
    p = mg_xasprintf("%s/tokenizer.json", name);
    if (is_file(p)) {
      free(p);
      return found(w, MG_TOK_FIND_PATH, mg_xstrdup(name), &tried);
    }
    note(&tried, "'%s' has no tokenizer.json", name);
    free(p);
  } else {
    note(&tried, "no file or directory '%s'", name);
  }
  if (!mg_tok_find_is_hub_id(name))
    goto none;
  /* 2: the Hugging Face cache */
  repo = repo_dirname(name);
  root = mg_tok_find_cache_dir();
  p = mg_xasprintf("%s/%s", root, repo);
  free(root);
  {
    char *snap = cache_snapshot(p, revision, &tried);

    free(p);
    if (snap) {
      free(repo);
      return found(w, MG_TOK_FIND_HF_CACHE, snap, &tried);
    }
  }
  /* 3: mirrors */
  for (const char *m = mirrors; m && *m;) {
    const char *colon = strchr(m, ':');
    size_t n = colon ? (size_t)(colon - m) : strlen(m);
    char *dir = mg_xstrndup(m, n), *snap;

    m = colon ? colon + 1 : NULL;
    if (!n) {
      free(dir);
      continue;
    }
    p = mg_xasprintf("%s/%s/tokenizer.json", dir, name);
    if (is_file(p)) {
      p[strlen(p) - strlen("/tokenizer.json")] = '\0';
      free(dir);
      free(repo);
      return found(w, MG_TOK_FIND_MIRROR, p, &tried);
    }
    free(p);
    p = mg_xasprintf("%s/%s", dir, repo);
    if (is_dir(p)) {
      snap = cache_snapshot(p, revision, &tried);
      if (snap) {
        free(p);
        free(dir);
        free(repo);
        return found(w, MG_TOK_FIND_MIRROR, snap, &tried);
      }
    } else {
      note(&tried, "no '%s/%s' or '%s'", dir, name, p);
    }
    free(p);
    free(dir);
  }
none:
  free(repo);
  w->tried = mg_buf_detach(&tried, NULL);
  if (!w->tried)
    w->tried = mg_xstrdup("");
  return 1;
}
