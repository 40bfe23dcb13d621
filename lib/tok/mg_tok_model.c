/*
 * Tokenizer models (the "model" object of tokenizer.json): BPE (byte-level
 * and SentencePiece-style with byte_fallback), WordPiece and WordLevel,
 * over hash tables written for them: the vocabulary (mg_tok_util.c), the
 * merge ranks and a bounded cache of recent BPE words.
 */
#include "tok/mg_tok_int.h"

#include <stdlib.h>
#include <string.h>

#include "mg_err.h"
#include "mg_json.h"
#include "mg_mem.h"

enum model_kind { M_BPE, M_WORDPIECE, M_WORDLEVEL };

#define META "\xE2\x96\x81" /* U+2581, SentencePiece's space */

struct merge {
  uint32_t a, b, id;
};

/* A word being merged: a doubly linked list over an array. */
struct sym {
  uint32_t id;
  int32_t prev, next;
  uint32_t alive;
};

/* Words up to this many bytes are cached, up to CACHE_MAX of them. */
#define CACHE_KEY_MAX 64
#define CACHE_SLOTS 16384
#define CACHE_MAX 10000

struct cache_ent {
  uint32_t hash;
  uint32_t off; /* key bytes, then ids, in cache.data */
  uint16_t klen;
  uint16_t nids;
};

struct mg_tok_model {
  enum model_kind kind;
  struct mg_tok_vocab vocab;
  /* BPE */
  struct merge *merges; /* by rank */
  uint32_t nmerges;
  uint32_t *mslots; /* hash table of ranks; MG_TOK_NONE = empty */
  uint32_t mmask;
  char *prefix; /* continuing_subword_prefix (WordPiece too) */
  size_t prefix_len;
  char *suffix; /* end_of_word_suffix */
  size_t suffix_len;
  uint32_t unk; /* MG_TOK_NONE: no unk_token */
  int fuse_unk;
  int byte_fallback;
  int ignore_merges;
  uint32_t byte_ids[256];
  int have_bytes;
  int seg_ws; /* words may be cut before a U+2581 (see seg_next) */
  /* WordPiece */
  size_t max_chars;
  size_t max_tok; /* longest vocabulary entry, in bytes */
  /* scratch */
  struct sym *syms;
  size_t sym_cap;
  uint64_t *heap;
  size_t heap_cap;
  struct mg_tok_str tmp;
  /* BPE cache */
  struct cache_ent *cache;
  size_t ncache;
  struct mg_tok_str cdata;
};

void mg_tok_model_free(struct mg_tok_model *m)
{
  if (!m)
    return;
  mg_tok_util_vocab_release(&m->vocab);
  free(m->merges);
  free(m->mslots);
  free(m->prefix);
  free(m->suffix);
  free(m->syms);
  free(m->heap);
  mg_tok_util_str_release(&m->tmp);
  free(m->cache);
  mg_tok_util_str_release(&m->cdata);
  free(m);
}

const struct mg_tok_vocab *mg_tok_model_vocab(const struct mg_tok_model *m)
{
  return &m->vocab;
}

size_t mg_tok_model_memory(const struct mg_tok_model *m)
{
  const struct mg_tok_vocab *v = &m->vocab;

  return sizeof(*m) + v->str_cap + (size_t)v->ent_cap * sizeof(*v->ent)
         + (size_t)v->nids * sizeof(*v->by_id)
         + ((size_t)v->mask + 1) * sizeof(*v->slots)
         + (size_t)m->nmerges * sizeof(*m->merges)
         + (m->mslots ? ((size_t)m->mmask + 1) * sizeof(*m->mslots) : 0)
         + m->sym_cap * sizeof(*m->syms) + m->heap_cap * sizeof(*m->heap)
         + m->tmp.cap + (m->cache ? CACHE_SLOTS * sizeof(*m->cache) : 0)
         + m->cdata.cap;
}

/* ---- merges table ---- */

static uint32_t pair_hash(uint32_t a, uint32_t b)
{
  uint64_t k = ((uint64_t)a << 32 | b) * 0x9E3779B97F4A7C15ULL;

  return (uint32_t)(k >> 32);
}

static uint32_t *merge_slot(const struct mg_tok_model *m, uint32_t a,
                            uint32_t b)
{
  uint32_t i = pair_hash(a, b) & m->mmask;

  for (;; i = (i + 1) & m->mmask) {
    uint32_t r = m->mslots[i];
    if (r == MG_TOK_NONE || (m->merges[r].a == a && m->merges[r].b == b))
      return &m->mslots[i];
  }
}

/* The rank of merging a then b, or MG_TOK_NONE. */
static uint32_t merge_rank(const struct mg_tok_model *m, uint32_t a, uint32_t b)
{
  if (!m->mslots)
    return MG_TOK_NONE;
  return *merge_slot(m, a, b);
}

/* ---- parsing ---- */

static int parse_vocab(struct mg_tok_model *m, const struct mg_json *j,
                       const char *path, struct mg_err *err)
{
  const struct mg_json *v = mg_json_get(j, "vocab");

  if (!mg_json_is_object(v))
    return mg_err_set(err, MG_ERR_DATA,
                      "model 'vocab' in '%s' is missing or not an object",
                      path);
  mg_tok_util_vocab_init(&m->vocab, mg_json_size(v));
  for (const struct mg_json *e = mg_json_first(v); e; e = mg_json_next(e)) {
    double d = mg_json_number(e);
    const char *k = mg_json_key(e);

    if (!mg_json_is_number(e) || d < 0 || d > 0x7FFFFFFF
        || d != (double)(uint32_t)d)
      return mg_err_set(err, MG_ERR_DATA,
                        "vocab entry '%s' in '%s' has no valid id", k, path);
    mg_tok_util_vocab_add(&m->vocab, k, strlen(k), (uint32_t)d);
  }
  return 0;
}

static int opt_str(const struct mg_json *j, const char *key, const char *def,
                   const char *path, char **out, size_t *len,
                   struct mg_err *err)
{
  const struct mg_json *v = mg_json_get(j, key);

  *out = NULL;
  *len = 0;
  if (mg_json_is_string(v)) {
    *len = mg_json_string_len(v);
    *out = mg_xmemdup(mg_json_string(v), *len);
  } else if (v && !mg_json_is_null(v)) {
    return mg_err_set(err, MG_ERR_DATA,
                      "model field '%s' in '%s' is not a "
                      "string",
                      key, path);
  } else if (def) {
    *len = strlen(def);
    *out = mg_xstrdup(def);
  }
  return 0;
}

static int get_id(struct mg_tok_model *m, const char *s, size_t n,
                  const char *path, uint32_t *out, struct mg_err *err)
{
  *out = mg_tok_util_vocab_get(&m->vocab, s, n);
  if (*out == MG_TOK_NONE)
    return mg_err_set(err, MG_ERR_DATA,
                      "merge token '%.*s' in '%s' is not in the vocabulary",
                      (int)(n > 64 ? 64 : n), s, path);
  return 0;
}

static int parse_merges(struct mg_tok_model *m, const struct mg_json *j,
                        const char *path, struct mg_err *err)
{
  const struct mg_json *arr = mg_json_get(j, "merges");
  size_t n = mg_json_size(arr);
  uint32_t size = 16;
  struct mg_tok_str tmp = { 0 };
  int rc = -1;

  if (!mg_json_is_array(arr))
    return mg_err_set(err, MG_ERR_DATA,
                      "model 'merges' in '%s' is missing or not an array",
                      path);
  while (size < n * 2)
    size <<= 1;
  m->mmask = size - 1;
  m->mslots = mg_xreallocarray(NULL, size, sizeof(*m->mslots));
  memset(m->mslots, 0xFF, (size_t)size * sizeof(*m->mslots));
  m->merges = mg_xreallocarray(NULL, n ? n : 1, sizeof(*m->merges));
  for (const struct mg_json *e = mg_json_first(arr); e; e = mg_json_next(e)) {
    const char *a, *b;
    size_t an, bn;
    uint32_t *slot;
    struct merge *mg = &m->merges[m->nmerges];

    if (mg_json_is_string(e)) {
      const char *s = mg_json_string(e);
      size_t sn = mg_json_string_len(e);
      const char *sp = memchr(s, ' ', sn);

      if (!sp) {
        mg_err_set(err, MG_ERR_DATA, "merge %u in '%s' is not 'a b'",
                   m->nmerges + 1, path);
        goto out;
      }
      a = s;
      an = (size_t)(sp - s);
      b = sp + 1;
      bn = sn - an - 1;
    } else if (mg_json_size(e) == 2 && mg_json_is_string(mg_json_at(e, 0))
               && mg_json_is_string(mg_json_at(e, 1))) {
      a = mg_json_string(mg_json_at(e, 0));
      an = mg_json_string_len(mg_json_at(e, 0));
      b = mg_json_string(mg_json_at(e, 1));
      bn = mg_json_string_len(mg_json_at(e, 1));
    } else {
      mg_err_set(err, MG_ERR_DATA, "merge %u in '%s' is not a pair",
                 m->nmerges + 1, path);
      goto out;
    }
    if (get_id(m, a, an, path, &mg->a, err)
        || get_id(m, b, bn, path, &mg->b, err))
      goto out;
    if (bn < m->prefix_len) {
      mg_err_set(err, MG_ERR_DATA,
                 "merge %u in '%s' is shorter than the subword prefix",
                 m->nmerges + 1, path);
      goto out;
    }
    tmp.len = 0;
    mg_tok_str_add(&tmp, a, an);
    mg_tok_str_add(&tmp, b + m->prefix_len, bn - m->prefix_len);
    if (get_id(m, tmp.p, tmp.len, path, &mg->id, err))
      goto out;
    /* a repeated pair takes the later rank, as the reference's map does */
    slot = merge_slot(m, mg->a, mg->b);
    *slot = m->nmerges++;
  }
  rc = 0;
out:
  mg_tok_util_str_release(&tmp);
  return rc;
}

static int parse_unk(struct mg_tok_model *m, const struct mg_json *j,
                     const char *def, const char *path, struct mg_err *err)
{
  char *unk;
  size_t n;

  if (opt_str(j, "unk_token", def, path, &unk, &n, err))
    return -1;
  m->unk = MG_TOK_NONE;
  if (unk) {
    m->unk = mg_tok_util_vocab_get(&m->vocab, unk, n);
    if (m->unk == MG_TOK_NONE) {
      mg_err_set(err, MG_ERR_DATA,
                 "unk_token '%s' in '%s' is not in the vocabulary", unk, path);
      free(unk);
      return -1;
    }
  }
  free(unk);
  return 0;
}

static int parse_bpe(struct mg_tok_model *m, const struct mg_json *j,
                     const char *path, struct mg_err *err)
{
  const struct mg_json *d = mg_json_get(j, "dropout");

  m->kind = M_BPE;
  if (mg_json_is_number(d) && mg_json_number(d) > 0)
    return mg_err_set(err, MG_ERR_DATA,
                      "unsupported model option 'dropout' in '%s'", path);
  if (parse_vocab(m, j, path, err)
      || opt_str(j, "continuing_subword_prefix", NULL, path, &m->prefix,
                 &m->prefix_len, err)
      || opt_str(j, "end_of_word_suffix", NULL, path, &m->suffix,
                 &m->suffix_len, err)
      || parse_merges(m, j, path, err) || parse_unk(m, j, NULL, path, err)
      || mg_json_opt_bool(j, "fuse_unk", "model", 0, &m->fuse_unk, err)
      || mg_json_opt_bool(j, "byte_fallback", "model", 0, &m->byte_fallback,
                          err)
      || mg_json_opt_bool(j, "ignore_merges", "model", 0, &m->ignore_merges,
                          err))
    return -1;
  if (m->prefix_len == 0) {
    free(m->prefix);
    m->prefix = NULL;
  }
  if (m->suffix_len == 0) {
    free(m->suffix);
    m->suffix = NULL;
  }
  /* see seg_next: U+2581 only ever in a leading run of it */
  m->seg_ws = !m->prefix && !m->suffix;
  for (uint32_t e = 0; e < m->vocab.count && m->seg_ws; e++) {
    const char *t = m->vocab.str + m->vocab.ent[e].off;
    size_t tn = m->vocab.ent[e].len, k = 0;

    while (k + 3 <= tn && !memcmp(t + k, META, 3))
      k += 3;
    if (mg_tok_util_find(t + k, tn - k, META, 3))
      m->seg_ws = 0;
  }
  m->have_bytes = 1;
  for (int b = 0; b < 256; b++) {
    char name[8];

    snprintf(name, sizeof(name), "<0x%02X>", b);
    m->byte_ids[b] = mg_tok_util_vocab_get(&m->vocab, name, 6);
    if (m->byte_ids[b] == MG_TOK_NONE)
      m->have_bytes = 0;
  }
  return 0;
}

int mg_tok_model_parse(const struct mg_json *j, const char *path,
                       struct mg_tok_model **out, struct mg_err *err)
{
  struct mg_tok_model *m;
  const char *type = mg_json_string(mg_json_get(j, "type"));
  const struct mg_json *v;
  int rc;

  *out = NULL;
  if (!mg_json_is_object(j))
    return mg_err_set(err, MG_ERR_DATA, "no model object in '%s'", path);
  if (!type) {
    /* Older files have no "type"; the reference then tries each model in
     * turn and takes the first whose fields fit. */
    if (mg_json_get(j, "merges"))
      type = "BPE";
    else if (mg_json_is_array(mg_json_get(j, "vocab")))
      type = "Unigram";
    else if (mg_json_get(j, "max_input_chars_per_word"))
      type = "WordPiece";
    else
      type = "WordLevel";
  }
  m = mg_xcalloc(1, sizeof(*m));
  m->unk = MG_TOK_NONE;
  if (!strcmp(type, "BPE")) {
    rc = parse_bpe(m, j, path, err);
  } else if (!strcmp(type, "WordPiece")) {
    m->kind = M_WORDPIECE;
    m->max_chars = 100;
    v = mg_json_get(j, "max_input_chars_per_word");
    if (mg_json_is_number(v) && mg_json_number(v) >= 0)
      m->max_chars = (size_t)mg_json_number(v);
    rc = parse_vocab(m, j, path, err)
                 || opt_str(j, "continuing_subword_prefix", "##", path,
                            &m->prefix, &m->prefix_len, err)
                 || parse_unk(m, j, "[UNK]", path, err)
             ? -1
             : 0;
    for (uint32_t e = 0; !rc && e < m->vocab.count; e++)
      if (m->vocab.ent[e].len > m->max_tok)
        m->max_tok = m->vocab.ent[e].len;
  } else if (!strcmp(type, "WordLevel")) {
    m->kind = M_WORDLEVEL;
    rc = parse_vocab(m, j, path, err) || parse_unk(m, j, NULL, path, err) ? -1
                                                                          : 0;
  } else {
    rc = mg_err_set(err, MG_ERR_DATA, "unsupported model '%s' in '%s'", type,
                    path);
  }
  if (rc) {
    mg_tok_model_free(m);
    return -1;
  }
  *out = m;
  return 0;
}

/* ---- BPE ---- */

static void push_id(uint32_t **ids, size_t *n, size_t *cap, uint32_t id)
{
  if (*n == *cap) {
    *cap = *cap ? *cap * 2 : 64;
    *ids = mg_xreallocarray(*ids, *cap, sizeof(**ids));
  }
  (*ids)[(*n)++] = id;
}

static void sym_add(struct mg_tok_model *m, size_t *ns, uint32_t id)
{
  struct sym *s;

  if (*ns == m->sym_cap) {
    m->sym_cap = m->sym_cap ? m->sym_cap * 2 : 64;
    m->syms = mg_xreallocarray(m->syms, m->sym_cap, sizeof(*m->syms));
  }
  s = &m->syms[*ns];
  s->id = id;
  s->prev = (int32_t)*ns - 1;
  s->next = (int32_t)*ns + 1;
  s->alive = 1;
  (*ns)++;
}

static void heap_push(struct mg_tok_model *m, size_t *hn, uint64_t v)
{
  size_t i;

  if (*hn == m->heap_cap) {
    m->heap_cap = m->heap_cap ? m->heap_cap * 2 : 64;
    m->heap = mg_xreallocarray(m->heap, m->heap_cap, sizeof(*m->heap));
  }
  i = (*hn)++;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (m->heap[p] <= v)
      break;
    m->heap[i] = m->heap[p];
    i = p;
  }
  m->heap[i] = v;
}

static uint64_t heap_pop(struct mg_tok_model *m, size_t *hn)
{
  uint64_t top = m->heap[0], v = m->heap[--(*hn)];
  size_t i = 0, n = *hn;

  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= n)
      break;
    if (c + 1 < n && m->heap[c + 1] < m->heap[c])
      c++;
    if (v <= m->heap[c])
      break;
    m->heap[i] = m->heap[c];
    i = c;
  }
  if (n)
    m->heap[i] = v;
  return top;
}

/*
 * Word::merge_all: repeatedly merges the pair with the lowest rank,
 * leftmost first, through a min-heap of (rank, position) with lazy
 * deletion of stale entries.
 */
static void merge_all(struct mg_tok_model *m, size_t ns)
{
  size_t hn = 0;

  if (ns < 2)
    return;
  m->syms[ns - 1].next = -1;
  for (size_t i = 0; i + 1 < ns; i++) {
    uint32_t r = merge_rank(m, m->syms[i].id, m->syms[i + 1].id);
    if (r != MG_TOK_NONE)
      heap_push(m, &hn, (uint64_t)r << 32 | i);
  }
  while (hn) {
    uint64_t top = heap_pop(m, &hn);
    uint32_t rank = (uint32_t)(top >> 32), pos = (uint32_t)top;
    struct sym *s = &m->syms[pos], *r;
    const struct merge *mg = &m->merges[rank];

    if (!s->alive || s->next < 0)
      continue;
    r = &m->syms[s->next];
    if (s->id != mg->a || r->id != mg->b)
      continue;
    s->id = mg->id;
    r->alive = 0;
    s->next = r->next;
    if (s->next >= 0)
      m->syms[s->next].prev = (int32_t)pos;
    if (s->prev >= 0) {
      uint32_t pr = merge_rank(m, m->syms[s->prev].id, s->id);
      if (pr != MG_TOK_NONE)
        heap_push(m, &hn, (uint64_t)pr << 32 | (uint32_t)s->prev);
    }
    if (s->next >= 0) {
      uint32_t nr = merge_rank(m, s->id, m->syms[s->next].id);
      if (nr != MG_TOK_NONE)
        heap_push(m, &hn, (uint64_t)nr << 32 | pos);
    }
  }
}

/* BPE::merge_word up to the merges: one symbol per character. */
static size_t bpe_symbols(struct mg_tok_model *m, const char *w, size_t n)
{
  size_t ns = 0, l;
  uint32_t unk = MG_TOK_NONE;

  for (size_t i = 0; i < n; i += l) {
    const char *s;
    size_t sn;
    uint32_t id;

    l = mg_tok_util_utf8_clen((unsigned char)w[i]);
    if (i + l > n)
      l = n - i;
    if ((m->prefix && i > 0) || (m->suffix && i + l == n)) {
      m->tmp.len = 0;
      if (m->prefix && i > 0)
        mg_tok_str_add(&m->tmp, m->prefix, m->prefix_len);
      mg_tok_str_add(&m->tmp, w + i, l);
      if (m->suffix && i + l == n)
        mg_tok_str_add(&m->tmp, m->suffix, m->suffix_len);
      s = m->tmp.p;
      sn = m->tmp.len;
    } else {
      s = w + i;
      sn = l;
    }
    id = mg_tok_util_vocab_get(&m->vocab, s, sn);
    if (id != MG_TOK_NONE) {
      if (unk != MG_TOK_NONE) {
        sym_add(m, &ns, unk);
        unk = MG_TOK_NONE;
      }
      sym_add(m, &ns, id);
      continue;
    }
    if (m->byte_fallback) {
      int ok = 1;
      for (size_t k = 0; k < sn; k++)
        if (m->byte_ids[(unsigned char)s[k]] == MG_TOK_NONE)
          ok = 0;
      if (ok) {
        /* s may be m->tmp, which sym_add does not touch */
        for (size_t k = 0; k < sn; k++)
          sym_add(m, &ns, m->byte_ids[(unsigned char)s[k]]);
        continue;
      }
    }
    if (m->unk != MG_TOK_NONE) {
      if (unk != MG_TOK_NONE && !m->fuse_unk)
        sym_add(m, &ns, unk);
      unk = m->unk;
    }
  }
  if (unk != MG_TOK_NONE)
    sym_add(m, &ns, unk);
  return ns;
}

static void cache_clear(struct mg_tok_model *m)
{
  memset(m->cache, 0xFF, CACHE_SLOTS * sizeof(*m->cache));
  m->ncache = 0;
  m->cdata.len = 0;
}

static struct cache_ent *cache_find(struct mg_tok_model *m, const char *s,
                                    size_t n, uint32_t h)
{
  uint32_t i = h & (CACHE_SLOTS - 1);

  for (;; i = (i + 1) & (CACHE_SLOTS - 1)) {
    struct cache_ent *e = &m->cache[i];
    if (e->off == UINT32_MAX)
      return e;
    if (e->hash == h && e->klen == n && !memcmp(m->cdata.p + e->off, s, n))
      return e;
  }
}

static void bpe_word(struct mg_tok_model *m, const char *s, size_t n,
                     uint32_t **ids, size_t *nids, size_t *cap)
{
  size_t ns = bpe_symbols(m, s, n);

  merge_all(m, ns);
  for (size_t i = 0; i < ns; i++)
    if (m->syms[i].alive)
      push_id(ids, nids, cap, m->syms[i].id);
}

/* ---- WordPiece and WordLevel ---- */

static void wordpiece_tokenize(struct mg_tok_model *m, const char *s, size_t n,
                               uint32_t **ids, size_t *nids, size_t *cap)
{
  size_t chars = 0, start = 0, first = *nids;

  for (size_t i = 0; i < n; i++)
    if (((unsigned char)s[i] & 0xC0) != 0x80)
      chars++;
  if (chars > m->max_chars)
    goto unk;
  while (start < n) {
    size_t end = n;
    uint32_t id = MG_TOK_NONE;
    size_t plen = start ? m->prefix_len : 0;
    size_t lim = m->max_tok > plen ? m->max_tok - plen : 0;

    /* nothing longer than the longest entry can match */
    if (end - start > lim) {
      end = start + lim;
      while (end > start && ((unsigned char)s[end] & 0xC0) == 0x80)
        end--;
    }

    while (start < end) {
      m->tmp.len = 0;
      if (start > 0)
        mg_tok_str_add(&m->tmp, m->prefix, m->prefix_len);
      mg_tok_str_add(&m->tmp, s + start, end - start);
      id = mg_tok_util_vocab_get(&m->vocab, m->tmp.p, m->tmp.len);
      if (id != MG_TOK_NONE)
        break;
      end = start + mg_tok_util_utf8_last(s + start, end - start);
    }
    if (id == MG_TOK_NONE)
      goto unk;
    push_id(ids, nids, cap, id);
    start = end;
  }
  return;
unk:
  *nids = first;
  push_id(ids, nids, cap, m->unk);
}

/* One word through the model, without the cache. */
static void model_word(struct mg_tok_model *m, const char *s, size_t n,
                       uint32_t **ids, size_t *nids, size_t *cap)
{
  if (m->kind == M_BPE)
    bpe_word(m, s, n, ids, nids, cap);
  else
    wordpiece_tokenize(m, s, n, ids, nids, cap);
}

/* The same, through the cache of recent words. */
static void cached_word(struct mg_tok_model *m, const char *s, size_t n,
                        uint32_t **ids, size_t *nids, size_t *cap)
{
  struct cache_ent *ce;
  uint32_t h;
  size_t first = *nids;

  if (n > CACHE_KEY_MAX) {
    model_word(m, s, n, ids, nids, cap);
    return;
  }
  if (!m->cache) {
    m->cache = mg_xreallocarray(NULL, CACHE_SLOTS, sizeof(*m->cache));
    cache_clear(m);
  }
  h = (uint32_t)mg_tok_util_hash(s, n);
  ce = cache_find(m, s, n, h);
  if (ce->off != UINT32_MAX) {
    uint32_t cid;
    for (size_t i = 0; i < ce->nids; i++) {
      memcpy(&cid, m->cdata.p + ce->off + ce->klen + i * 4, 4);
      push_id(ids, nids, cap, cid);
    }
    return;
  }
  model_word(m, s, n, ids, nids, cap);
  if (*nids - first >= 65536)
    return;
  if (m->ncache >= CACHE_MAX) {
    cache_clear(m);
    ce = cache_find(m, s, n, h);
  }
  ce->hash = h;
  ce->off = (uint32_t)m->cdata.len;
  ce->klen = (uint16_t)n;
  ce->nids = (uint16_t)(*nids - first);
  mg_tok_str_add(&m->cdata, s, n);
  mg_tok_str_add(&m->cdata, *ids + first, (*nids - first) * 4);
  m->ncache++;
}

/*
 * Where the next word starts when a long piece is cut before each U+2581
 * that follows another character. Safe when no vocabulary entry holds
 * U+2581 anywhere but in a leading run (checked at load): then no token,
 * and so no merge, spans such a cut, and BPE on the parts gives what BPE
 * on the whole gives. SentencePiece-style files have no pre-tokenizer, so
 * this is what makes them cacheable.
 */
static size_t seg_next(const char *s, size_t n, size_t i)
{
  for (i += mg_tok_util_utf8_clen((unsigned char)s[i]); i + 3 <= n; i++) {
    const char *p = memchr(s + i, 0xE2, n - i);
    if (!p)
      return n;
    i = (size_t)(p - s);
    if (i + 3 <= n && !memcmp(p, META, 3)
        && !(i >= 3 && !memcmp(p - 3, META, 3)))
      return i;
  }
  return n;
}

int mg_tok_model_tokenize(struct mg_tok_model *m, const char *s, size_t n,
                          uint32_t **ids, size_t *nids, size_t *cap)
{
  uint32_t id;

  if (n == 0)
    return 0;
  switch (m->kind) {
  case M_BPE:
    if (m->ignore_merges) {
      id = mg_tok_util_vocab_get(&m->vocab, s, n);
      if (id != MG_TOK_NONE) {
        push_id(ids, nids, cap, id);
        return 0;
      }
    }
    if (m->seg_ws && n > CACHE_KEY_MAX) {
      for (size_t i = 0, j; i < n; i = j) {
        j = seg_next(s, n, i);
        cached_word(m, s + i, j - i, ids, nids, cap);
      }
      return 0;
    }
    cached_word(m, s, n, ids, nids, cap);
    return 0;
  case M_WORDPIECE:
    cached_word(m, s, n, ids, nids, cap);
    return 0;
  case M_WORDLEVEL:
    id = mg_tok_util_vocab_get(&m->vocab, s, n);
    if (id == MG_TOK_NONE)
      id = m->unk;
    if (id == MG_TOK_NONE)
      return -1;
    push_id(ids, nids, cap, id);
    return 0;
  }
  return 0;
}
