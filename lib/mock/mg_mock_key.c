#include "mock/mg_mock_key.h"

#include <string.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "mg_hash.h"
#include "mg_io.h"
#include "mg_json.h"
#include "mg_mem.h"
#include "mock/mg_mock_sched.h"

struct mg_mock_key {
  struct mg_mock_key_entry *e;
  size_t n, cap;
  size_t known;
  uint64_t *hash;         /* raw FNV-1a of each context */
  size_t *slot;           /* open addressing: entry index + 1, 0 = empty */
  size_t nslot;           /* power of two */
  unsigned char *has_len; /* has_len[l]: some context is l bytes long */
  size_t max_len;
};

int mg_mock_key_decide(uint64_t seed, double accuracy, const char *context,
                       size_t len)
{
  return mg_mock_sched_unit(mg_mock_sched_hash(seed, context, len)) < accuracy;
}

static const struct mg_mock_key_entry *
lookup(const struct mg_mock_key *k, uint64_t h, const char *s, size_t n)
{
  if (!k || !k->nslot || n > k->max_len || !k->has_len[n])
    return NULL;
  for (size_t i = h & (k->nslot - 1);; i = (i + 1) & (k->nslot - 1)) {
    size_t v = k->slot[i];
    const struct mg_mock_key_entry *e;

    if (!v)
      return NULL;
    e = &k->e[v - 1];
    if (k->hash[v - 1] == h && e->context_len == n
        && memcmp(e->context, s, n) == 0)
      return e;
  }
}

static void build_index(struct mg_mock_key *k)
{
  k->nslot = 16;
  while (k->nslot < k->n * 2)
    k->nslot *= 2;
  k->slot = mg_xcalloc(k->nslot, sizeof(*k->slot));
  k->has_len = mg_xcalloc(k->max_len + 1, 1);
  for (size_t j = 0; j < k->n; j++) {
    size_t i = k->hash[j] & (k->nslot - 1);
    while (k->slot[i])
      i = (i + 1) & (k->nslot - 1);
    k->slot[i] = j + 1;
    k->has_len[k->e[j].context_len] = 1;
  }
}

static int add_line(struct mg_mock_key *k, const char *line, size_t len,
                    size_t lineno, const char *name, uint64_t seed,
                    double accuracy, struct mg_err *err)
{
  struct mg_json *j = NULL;
  struct mg_json *c, *t;
  char what[64];
  int rc = -1;
  uint64_t h;

  (void)snprintf(what, sizeof(what), "line %zu", lineno);
  if (mg_json_parse(line, len, name, &j, err) < 0) {
    mg_err_prefix(err, "%s", what);
    return -1;
  }
  if (!mg_json_is_object(j)) {
    mg_err_set(err, MG_ERR_DATA, "line %zu of '%s' is not a JSON object",
               lineno, name);
    goto out;
  }
  c = mg_json_get(j, "context");
  t = mg_json_get(j, "continuation");
  if (!mg_json_is_string(c) || !mg_json_is_string(t)) {
    mg_err_set(err, MG_ERR_DATA, "missing string field '%s' in '%s' line %zu",
               mg_json_is_string(c) ? "continuation" : "context", name, lineno);
    goto out;
  }
  h = mg_hash_fnv1a(MG_HASH_FNV_OFFSET, mg_json_string(c),
                    mg_json_string_len(c));
  for (size_t i = 0; i < k->n; i++)
    if (k->hash[i] == h && k->e[i].context_len == mg_json_string_len(c)
        && memcmp(k->e[i].context, mg_json_string(c), k->e[i].context_len)
               == 0) {
      rc = 0; /* a repeated context keeps its first continuation */
      goto out;
    }
  if (k->n == k->cap) {
    k->cap = k->cap ? k->cap * 2 : 64;
    k->e = mg_xreallocarray(k->e, k->cap, sizeof(*k->e));
    k->hash = mg_xreallocarray(k->hash, k->cap, sizeof(*k->hash));
  }
  {
    struct mg_mock_key_entry *e = &k->e[k->n];

    e->context_len = mg_json_string_len(c);
    e->context = mg_xmemdup(mg_json_string(c), e->context_len);
    e->continuation_len = mg_json_string_len(t);
    e->continuation = mg_xmemdup(mg_json_string(t), e->continuation_len);
    e->line = lineno;
    e->known = mg_mock_key_decide(seed, accuracy, e->context, e->context_len);
    k->hash[k->n] = h;
    if (e->context_len > k->max_len)
      k->max_len = e->context_len;
    k->known += (size_t)e->known;
    k->n++;
  }
  rc = 0;
out:
  mg_json_free(j);
  return rc;
}

/*
 * Duplicate detection above is linear per line; keys are a few thousand
 * lines, so the quadratic worst case stays well under a second.
 * NEEDSWORK: index while loading if keys grow past ~50k contexts.
 */
int mg_mock_key_parse(const char *text, size_t len, const char *name,
                      uint64_t seed, double accuracy, struct mg_mock_key **out,
                      struct mg_err *err)
{
  struct mg_mock_key *k = mg_xcalloc(1, sizeof(*k));
  size_t pos = 0, lineno = 0;

  *out = NULL;
  while (pos < len) {
    const char *nl = memchr(text + pos, '\n', len - pos);
    size_t end = nl ? (size_t)(nl - text) : len;
    size_t a = pos, b = end;

    lineno++;
    while (a < b && (text[a] == ' ' || text[a] == '\t' || text[a] == '\r'))
      a++;
    while (
        b > a
        && (text[b - 1] == ' ' || text[b - 1] == '\t' || text[b - 1] == '\r'))
      b--;
    if (b > a
        && add_line(k, text + a, b - a, lineno, name, seed, accuracy, err)
               < 0) {
      mg_mock_key_free(k);
      return -1;
    }
    pos = end + 1;
  }
  build_index(k);
  *out = k;
  return 0;
}

int mg_mock_key_load(const char *path, size_t max, uint64_t seed,
                     double accuracy, struct mg_mock_key **out,
                     struct mg_err *err)
{
  struct mg_buf b = MG_BUF_INIT(max);
  int rc;

  *out = NULL;
  if (mg_io_read_file(path, &b, err) < 0) {
    mg_buf_release(&b);
    return -1;
  }
  rc = mg_mock_key_parse(b.data ? b.data : "", b.len, mg_io_name(path), seed,
                         accuracy, out, err);
  mg_buf_release(&b);
  return rc;
}

void mg_mock_key_free(struct mg_mock_key *k)
{
  if (!k)
    return;
  for (size_t i = 0; i < k->n; i++) {
    free((char *)k->e[i].context);
    free((char *)k->e[i].continuation);
  }
  free(k->e);
  free(k->hash);
  free(k->slot);
  free(k->has_len);
  free(k);
}

size_t mg_mock_key_count(const struct mg_mock_key *k)
{
  return k ? k->n : 0;
}

size_t mg_mock_key_known(const struct mg_mock_key *k)
{
  return k ? k->known : 0;
}

const struct mg_mock_key_entry *mg_mock_key_at(const struct mg_mock_key *k,
                                               size_t i)
{
  return k && i < k->n ? &k->e[i] : NULL;
}

const struct mg_mock_key_entry *mg_mock_key_find(const struct mg_mock_key *k,
                                                 const char *text, size_t len)
{
  return lookup(k, mg_hash_fnv1a(MG_HASH_FNV_OFFSET, text, len), text, len);
}

const struct mg_mock_key_entry *mg_mock_key_match(const struct mg_mock_key *k,
                                                  const char *text, size_t len,
                                                  int *exact)
{
  const struct mg_mock_key_entry *best = NULL, *best_exact = NULL;
  uint64_t h = MG_HASH_FNV_OFFSET;
  size_t lim;

  *exact = 0;
  if (!k || !k->n)
    return NULL;
  lim = len < k->max_len ? len : k->max_len;
  for (size_t i = 0;; i++) {
    if (k->has_len[i]) {
      const struct mg_mock_key_entry *e = lookup(k, h, text, i);
      if (e) {
        best = e;
        if (e->continuation_len == len - i
            && memcmp(e->continuation, text + i, len - i) == 0)
          best_exact = e;
      }
    }
    if (i == lim)
      break;
    h = mg_hash_fnv1a(h, text + i, 1);
  }
  if (best_exact) {
    *exact = 1;
    return best_exact;
  }
  return best;
}
