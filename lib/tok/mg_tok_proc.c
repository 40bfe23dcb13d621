/*
 * Processors (local tokenizer or serving endpoint), exact-length synthetic
 * prompts, and the tokenize / detokenize command-line face.
 */
#include "tok/mg_tok_proc.h"

#include <stdlib.h>
#include <string.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "mg_io.h"
#include "mg_json.h"
#include "mg_mem.h"
#include "tok/mg_tok.h"
#include "tok/mg_tok_find.h"
#include "tok/mg_tok_remote.h"

#define MAX_INPUT ((size_t)64 << 20)

struct mg_tok_proc {
  struct mg_tok *local;
  struct mg_tok_remote *remote;
};

int mg_tok_proc_open(const char *processor, const char *server_url,
                     const char *model, const struct mg_http_opts *http,
                     struct mg_tok_proc **out, struct mg_err *err)
{
  struct mg_tok_proc *p;
  int rc;

  *out = NULL;
  if (!processor || !*processor)
    return mg_err_set(err, MG_ERR_USAGE, "no processor given");
  if (!strcmp(processor, "server")) {
    if (!server_url || !*server_url)
      return mg_err_set(err, MG_ERR_USAGE,
                        "processor 'server' needs the server's URL");
    processor = server_url;
  }
  p = mg_xcalloc(1, sizeof(*p));
  if (!strncmp(processor, "http://", 7) || !strncmp(processor, "https://", 8))
    rc = mg_tok_remote_new(processor, model, http, &p->remote, err);
  else
    rc = mg_tok_load(processor, 0, &p->local, err);
  if (rc) {
    free(p);
    return -1;
  }
  *out = p;
  return 0;
}

void mg_tok_proc_free(struct mg_tok_proc *p)
{
  if (!p)
    return;
  mg_tok_free(p->local);
  mg_tok_remote_free(p->remote);
  free(p);
}

int mg_tok_proc_is_remote(const struct mg_tok_proc *p)
{
  return p->remote != NULL;
}

int mg_tok_proc_encode(struct mg_tok_proc *p, const char *text, size_t len,
                       int add_special, struct mg_tok_encoding *out,
                       struct mg_err *err)
{
  if (p->remote)
    return mg_tok_remote_encode(p->remote, text, len, add_special, out, err);
  return mg_tok_encode(p->local, text, len,
                       add_special ? MG_TOK_ADD_SPECIAL : 0, out, err);
}

int mg_tok_proc_count(struct mg_tok_proc *p, const char *text, size_t len,
                      int add_special, size_t *count, struct mg_err *err)
{
  struct mg_tok_encoding e = MG_TOK_ENCODING_INIT;
  int rc = mg_tok_proc_encode(p, text, len, add_special, &e, err);

  *count = e.n;
  mg_tok_encoding_release(&e);
  return rc;
}

int mg_tok_proc_decode(struct mg_tok_proc *p, const uint32_t *ids, size_t n,
                       int skip_special, struct mg_buf *out, struct mg_err *err)
{
  if (p->remote)
    return mg_tok_remote_decode(p->remote, ids, n, out, err);
  return mg_tok_decode(p->local, ids, n, skip_special, out, err);
}

/* ---- resolution of a name (path, HF cache, mirror, server) ---- */

static int is_url(const char *s)
{
  return !strncmp(s, "http://", 7) || !strncmp(s, "https://", 8);
}

static void add_tried(struct mg_tok_find *w, const char *msg)
{
  char *t = mg_xasprintf("%s%s%s", w->tried ? w->tried : "",
                         w->tried && *w->tried ? "; " : "", msg);

  free(w->tried);
  w->tried = t;
}

int mg_tok_proc_resolve(const char *name, const struct mg_tok_resolve_opts *o,
                        struct mg_tok_proc **out, struct mg_tok_find *w,
                        struct mg_err *err)
{
  struct mg_tok_remote *r = NULL;
  struct mg_tok_encoding enc = MG_TOK_ENCODING_INIT;
  struct mg_err e2 = MG_ERR_INIT;
  int rc;

  if (out)
    *out = NULL;
  if (name && (is_url(name) || !strcmp(name, "server"))) {
    w->found = MG_TOK_FIND_SERVER;
    w->path = NULL;
    w->tried = mg_xstrdup("");
    return out ? mg_tok_proc_open(name, o->server_url, o->model, o->http, out,
                                  err)
               : 0;
  }
  rc = mg_tok_find(name, o->revision, o->mirrors, w, err);
  if (rc < 0)
    return -1;
  if (rc == 0) {
    struct mg_tok_proc *p;

    if (!out)
      return 0;
    p = mg_xcalloc(1, sizeof(*p));
    if (mg_tok_load(w->path, 0, &p->local, err) < 0) {
      free(p);
      return -1;
    }
    *out = p;
    return 0;
  }
  if (!o->server_url || !*o->server_url)
    return 1;
  /* the server: usable when it tokenizes a probe */
  if (mg_tok_remote_new(o->server_url, o->model, o->http, &r, &e2) < 0
      || mg_tok_remote_encode(r, "Hello world", 11, 0, &enc, &e2) < 0
      || enc.n == 0) {
    char *msg = mg_xasprintf("the server does not tokenize (%s)",
                             e2.msg[0] ? e2.msg : "no tokens");

    add_tried(w, msg);
    free(msg);
    mg_tok_remote_free(r);
    mg_tok_encoding_release(&enc);
    return 1;
  }
  mg_tok_encoding_release(&enc);
  w->found = MG_TOK_FIND_SERVER;
  if (!out) {
    mg_tok_remote_free(r);
    return 0;
  }
  *out = mg_xcalloc(1, sizeof(**out));
  (*out)->remote = r;
  return 0;
}

/* ---- synthetic prompts ---- */

static const char *const words[] = {
  "the",     "time",    "people",  "way",     "water",   "day",     "number",
  "world",   "work",    "house",   "place",   "year",    "system",  "city",
  "line",    "light",   "river",   "market",  "school",  "family",  "story",
  "table",   "game",    "paper",   "music",   "garden",  "window",  "report",
  "answer",  "model",   "simple",  "small",   "large",   "early",   "public",
  "open",    "green",   "quiet",   "strong",  "clear",   "short",   "long",
  "good",    "new",     "old",     "high",    "great",   "little",  "make",
  "take",    "find",    "give",    "tell",    "call",    "keep",    "help",
  "show",    "play",    "move",    "live",    "read",    "write",   "build",
  "carry",   "learn",   "change",  "and",     "or",      "but",     "with",
  "from",    "about",   "after",   "before",  "under",   "over",    "into",
  "near",    "every",   "many",    "some",    "other",   "each",    "most",
  "often",   "again",   "today",   "still",   "never",   "always",  "bright",
  "cloud",   "stone",   "bridge",  "forest",  "letter",  "engine",  "signal",
  "harbor",  "valley",  "winter",  "summer",  "morning", "evening", "village",
  "station", "library", "kitchen", "careful", "patient", "curious", "gentle",
  "honest",  "steady",  "field",   "north",   "south",   "ocean",   "plant",
  "voice",
};

static uint64_t splitmix(uint64_t *s)
{
  uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);

  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/* Appends count words (and a full stop now and then) to b. */
static void add_words(struct mg_buf *b, uint64_t *rng, size_t count)
{
  size_t nw = sizeof(words) / sizeof(*words);

  for (size_t i = 0; i < count; i++) {
    uint64_t r = splitmix(rng);

    if (b->len && b->data[b->len - 1] != ' ')
      mg_buf_addstr(b, r % 13 == 0 ? ". " : " ", NULL);
    mg_buf_addstr(b, words[(r >> 8) % nw], NULL);
  }
}

int mg_tok_proc_prompt(struct mg_tok_proc *p, size_t n_tokens, uint64_t seed,
                       uint64_t prefix_id, int add_special, struct mg_buf *out,
                       struct mg_err *err)
{
  struct mg_buf text = MG_BUF_INIT(MG_BUF_UNLIMITED);
  struct mg_buf cand = MG_BUF_INIT(MG_BUF_UNLIMITED);
  struct mg_tok_encoding e = MG_TOK_ENCODING_INIT;
  uint64_t rng = seed ^ (prefix_id * 0xD6E8FEB86659FD93ULL);
  size_t extra, target, cut, got;
  int rc = -1;

  /* the special tokens the post-processor adds around any text */
  if (mg_tok_proc_count(p, "", 0, add_special, &extra, err))
    goto out;
  if (n_tokens < extra) {
    mg_err_set(err, MG_ERR_DATA,
               "cannot build a prompt of %zu tokens: the special tokens "
               "alone are %zu",
               n_tokens, extra);
    goto out;
  }
  target = n_tokens - extra;
  if (target == 0) {
    rc = 0;
    goto out;
  }
  /* prefix_id written in base-(number of words), one word per digit */
  {
    uint64_t id = prefix_id;
    size_t nw = sizeof(words) / sizeof(*words);

    do {
      mg_buf_printf(&text, NULL, "%s%s", text.len ? " " : "", words[id % nw]);
      id /= nw;
    } while (id);
  }
  add_words(&text, &rng, target + 8);
  for (;;) {
    if (mg_tok_proc_encode(p, text.data, text.len, 0, &e, err))
      goto out;
    if (e.n >= target + 4)
      break;
    add_words(&text, &rng, target + 4 - e.n + 16);
  }
  /* cut, decode, re-encode; move the cut by the difference */
  cut = target;
  for (int tries = 0; tries < 24; tries++) {
    cand.len = 0;
    if (cand.data)
      cand.data[0] = '\0';
    if (mg_tok_proc_decode(p, e.ids, cut, 1, &cand, err)
        || mg_tok_proc_count(p, cand.data ? cand.data : "", cand.len, 0, &got,
                             err))
      goto out;
    if (got == target) {
      size_t all;
      if (mg_tok_proc_count(p, cand.data ? cand.data : "", cand.len,
                            add_special, &all, err))
        goto out;
      if (all == n_tokens) {
        rc = mg_buf_add(out, cand.data ? cand.data : "", cand.len, err);
        goto out;
      }
      break;
    }
    if (got > target)
      cut = got - target < cut ? cut - (got - target) : 1;
    else
      cut += target - got;
    if (tries >= 12 && cut > 1)
      cut -= tries & 1; /* step out of a two-cut cycle */
    if (cut > e.n)
      cut = e.n;
  }
  mg_err_set(err, MG_ERR_DATA,
             "cannot build a prompt of exactly %zu tokens with this processor",
             n_tokens);
out:
  mg_tok_encoding_release(&e);
  mg_buf_release(&text);
  mg_buf_release(&cand);
  return rc;
}

/* ---- the command-line face ---- */

static int read_ids(const struct mg_buf *in, const char *name, uint32_t **ids,
                    size_t *n, struct mg_err *err)
{
  struct mg_json *j = NULL;
  const struct mg_json *arr;
  int rc = -1;

  *ids = NULL;
  *n = 0;
  if (mg_json_parse(in->data ? in->data : "", in->len, name, &j, err))
    return -1;
  arr = mg_json_is_array(j) ? j : mg_json_get(j, "ids");
  if (!mg_json_is_array(arr)) {
    mg_err_set(err, MG_ERR_DATA,
               "no token ids in '%s': expected {\"ids\": [...]} or [...]",
               name);
    goto out;
  }
  *ids = mg_xreallocarray(NULL, mg_json_size(arr) + 1, sizeof(**ids));
  for (const struct mg_json *v = mg_json_first(arr); v; v = mg_json_next(v)) {
    double d = mg_json_number(v);

    if (!mg_json_is_number(v) || d < 0 || d > 4294967295.0
        || d != (double)(uint32_t)d) {
      mg_err_set(err, MG_ERR_DATA,
                 "token id %zu in '%s' is not an integer in [0, 2^32)", *n + 1,
                 name);
      goto out;
    }
    (*ids)[(*n)++] = (uint32_t)d;
  }
  rc = 0;
out:
  if (rc) {
    free(*ids);
    *ids = NULL;
  }
  mg_json_free(j);
  return rc;
}

int mg_tok_proc_cli(const char *processor, const char *server_url,
                    int detokenize, int add_special, const char *in_path,
                    const char *out_path, struct mg_err *err)
{
  struct mg_buf in = MG_BUF_INIT(MAX_INPUT);
  struct mg_buf res = MG_BUF_INIT(MG_BUF_UNLIMITED);
  struct mg_tok_encoding e = MG_TOK_ENCODING_INIT;
  struct mg_tok_proc *p = NULL;
  uint32_t *ids = NULL;
  size_t n;
  int rc = -1;

  if (mg_io_read_file(in_path, &in, err))
    goto out;
  if (detokenize && read_ids(&in, mg_io_name(in_path), &ids, &n, err))
    goto out;
  if (mg_tok_proc_open(processor, server_url, NULL, NULL, &p, err))
    goto out;
  if (detokenize) {
    if (mg_tok_proc_decode(p, ids, n, 0, &res, err))
      goto out;
  } else {
    if (mg_tok_proc_encode(p, in.data ? in.data : "", in.len, add_special, &e,
                           err)) {
      mg_err_prefix(err, "input '%s'", mg_io_name(in_path));
      goto out;
    }
    mg_buf_addstr(&res, "{\"ids\":[", NULL);
    for (size_t i = 0; i < e.n; i++)
      mg_buf_printf(&res, NULL, "%s%u", i ? "," : "", e.ids[i]);
    mg_buf_printf(&res, NULL, "],\"count\":%zu}\n", e.n);
  }
  rc = mg_io_write_atomic(out_path, res.data ? res.data : "", res.len, 0644,
                          err);
out:
  mg_tok_proc_free(p);
  mg_tok_encoding_release(&e);
  free(ids);
  mg_buf_release(&in);
  mg_buf_release(&res);
  return rc;
}
