/*
 * Hugging Face tokenizer.json: loading, added tokens, post-processing,
 * and the encode / decode pipelines. The components live in mg_tok_*.c.
 */
#include "tok/mg_tok.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "mg_io.h"
#include "mg_json.h"
#include "mg_mem.h"
#include "tok/mg_tok_int.h"

/* tokenizer.json files of large vocabularies reach tens of MB. */
#define MAX_FILE ((size_t)512 << 20)

struct added_tok {
  char *content;
  size_t len;
  uint32_t id;
  unsigned char special, normalized, lstrip, rstrip, single_word;
};

/* A byte trie for leftmost-longest matching of added tokens. */
struct trie_node {
  uint32_t child;
  uint32_t sibling;
  uint32_t id; /* token id ending here, or MG_TOK_NONE */
  unsigned char byte;
};

struct trie {
  struct trie_node *v;
  size_t n, cap;
  unsigned char first[256];
};

/* Special tokens the post-processor puts around the sequence. */
struct special_seq {
  uint32_t *ids;
  struct mg_tok_list toks;
  size_t n;
};

struct mg_tok {
  char *name;
  struct mg_tok_norm *norm;
  struct mg_tok_pre *pre;
  struct mg_tok_model *model;
  struct mg_tok_dec *dec;
  int has_dec;
  /* added vocabulary */
  struct added_tok *added; /* by id, sorted (the reverse map) */
  size_t nadded;
  struct mg_tok_vocab added_map;   /* content -> id */
  struct mg_tok_vocab special_set; /* contents of special tokens */
  struct trie plain;               /* tokens with normalized=false */
  struct trie normed;              /* the others, normalized */
  /* post-processor (single sequence) */
  int has_post;
  struct special_seq pre_seq, post_seq;
  uint64_t max_length;
  int clean_up; /* tokenizer_config.json clean_up_tokenization_spaces */
  /* scratch */
  struct mg_tok_str arena;
  struct mg_tok_str scratch;
  struct mg_tok_pieces ps, ps2;
  struct mg_tok_list dlist;
};

/* ---- small helpers ---- */

static void seq_add(struct special_seq *s, uint32_t id, const char *tok,
                    size_t n)
{
  s->ids = mg_xreallocarray(s->ids, s->n + 1, sizeof(*s->ids));
  s->ids[s->n++] = id;
  mg_tok_util_list_push(&s->toks, tok, n);
}

static void seq_release(struct special_seq *s)
{
  free(s->ids);
  mg_tok_util_list_release(&s->toks);
  memset(s, 0, sizeof(*s));
}

static void trie_release(struct trie *t)
{
  free(t->v);
  memset(t, 0, sizeof(*t));
}

static uint32_t trie_new_node(struct trie *t, unsigned char b)
{
  if (t->n == t->cap) {
    t->cap = t->cap ? t->cap * 2 : 64;
    t->v = mg_xreallocarray(t->v, t->cap, sizeof(*t->v));
  }
  t->v[t->n].child = MG_TOK_NONE;
  t->v[t->n].sibling = MG_TOK_NONE;
  t->v[t->n].id = MG_TOK_NONE;
  t->v[t->n].byte = b;
  return (uint32_t)t->n++;
}

/* Adds a pattern; the first pattern of equal text keeps its id. */
static void trie_add(struct trie *t, const char *s, size_t n, uint32_t id)
{
  uint32_t node;

  if (n == 0)
    return;
  if (!t->n)
    trie_new_node(t, 0);
  node = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char b = (unsigned char)s[i];
    uint32_t c = t->v[node].child;

    while (c != MG_TOK_NONE && t->v[c].byte != b)
      c = t->v[c].sibling;
    if (c == MG_TOK_NONE) {
      c = trie_new_node(t, b);
      t->v[c].sibling = t->v[node].child;
      t->v[node].child = c;
    }
    node = c;
  }
  if (t->v[node].id == MG_TOK_NONE)
    t->v[node].id = id;
  t->first[(unsigned char)s[0]] = 1;
}

/* Longest pattern starting at s[0]; returns its length (0: none). */
static size_t trie_longest(const struct trie *t, const char *s, size_t n,
                           uint32_t *id)
{
  uint32_t node = 0;
  size_t best = 0;

  for (size_t i = 0; i < n; i++) {
    uint32_t c = t->v[node].child;

    while (c != MG_TOK_NONE && t->v[c].byte != (unsigned char)s[i])
      c = t->v[c].sibling;
    if (c == MG_TOK_NONE)
      break;
    node = c;
    if (t->v[node].id != MG_TOK_NONE) {
      best = i + 1;
      *id = t->v[node].id;
    }
  }
  return best;
}

static const struct added_tok *added_by_id(const struct mg_tok *t, uint32_t id)
{
  size_t lo = 0, hi = t->nadded;

  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (t->added[mid].id == id)
      return &t->added[mid];
    if (t->added[mid].id < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

const char *mg_tok_id_to_token(const struct mg_tok *t, uint32_t id, size_t *len)
{
  const struct added_tok *a = added_by_id(t, id);

  if (a) {
    *len = a->len;
    return a->content;
  }
  return mg_tok_util_vocab_str(mg_tok_model_vocab(t->model), id, len);
}

static uint32_t token_to_id(const struct mg_tok *t, const char *s, size_t n)
{
  uint32_t id = mg_tok_util_vocab_get(&t->added_map, s, n);

  if (id == MG_TOK_NONE)
    id = mg_tok_util_vocab_get(mg_tok_model_vocab(t->model), s, n);
  return id;
}

int64_t mg_tok_token_to_id(const struct mg_tok *t, const char *s, size_t n)
{
  uint32_t id = token_to_id(t, s, n);

  return id == MG_TOK_NONE ? -1 : (int64_t)id;
}

size_t mg_tok_vocab_size(const struct mg_tok *t)
{
  const struct mg_tok_vocab *v = mg_tok_model_vocab(t->model);
  size_t n = v->count;

  for (size_t i = 0; i < t->nadded; i++)
    if (mg_tok_util_vocab_get(v, t->added[i].content, t->added[i].len)
        == MG_TOK_NONE)
      n++;
  return n;
}

uint64_t mg_tok_max_length(const struct mg_tok *t)
{
  return t->max_length;
}

int mg_tok_clean_up_spaces(const struct mg_tok *t)
{
  return t->clean_up;
}

size_t mg_tok_memory(const struct mg_tok *t)
{
  size_t n = sizeof(*t) + mg_tok_model_memory(t->model);

  for (size_t i = 0; i < t->nadded; i++)
    n += sizeof(t->added[i]) + t->added[i].len + 1;
  n += (t->plain.cap + t->normed.cap) * sizeof(struct trie_node);
  n += t->arena.cap + t->scratch.cap
       + (t->ps.cap + t->ps2.cap) * sizeof(struct mg_tok_piece);
  return n;
}

void mg_tok_free(struct mg_tok *t)
{
  if (!t)
    return;
  free(t->name);
  mg_tok_norm_free(t->norm);
  mg_tok_pre_free(t->pre);
  mg_tok_model_free(t->model);
  mg_tok_dec_free(t->dec);
  for (size_t i = 0; i < t->nadded; i++)
    free(t->added[i].content);
  free(t->added);
  mg_tok_util_vocab_release(&t->added_map);
  mg_tok_util_vocab_release(&t->special_set);
  trie_release(&t->plain);
  trie_release(&t->normed);
  seq_release(&t->pre_seq);
  seq_release(&t->post_seq);
  mg_tok_util_str_release(&t->arena);
  mg_tok_util_str_release(&t->scratch);
  mg_tok_util_pieces_release(&t->ps);
  mg_tok_util_pieces_release(&t->ps2);
  mg_tok_util_list_release(&t->dlist);
  free(t);
}

void mg_tok_encoding_release(struct mg_tok_encoding *e)
{
  free(e->ids);
  free(e->tok_text);
  free(e->tok_off);
  memset(e, 0, sizeof(*e));
}

/* ---- added tokens ---- */

static int added_cmp(const void *a, const void *b)
{
  const struct added_tok *x = a, *y = b;

  return x->id < y->id ? -1 : x->id > y->id;
}

static int parse_added_one(const struct mg_json *e, const char *path,
                           struct added_tok *a, struct mg_err *err)
{
  const struct mg_json *c = mg_json_get(e, "content");
  int sp, sw, ls, rs, nm;

  if (!mg_json_is_string(c))
    return mg_err_set(err, MG_ERR_DATA, "added token without 'content' in '%s'",
                      path);
  if (mg_json_opt_bool(e, "special", "added token", 0, &sp, err)
      || mg_json_opt_bool(e, "single_word", "added token", 0, &sw, err)
      || mg_json_opt_bool(e, "lstrip", "added token", 0, &ls, err)
      || mg_json_opt_bool(e, "rstrip", "added token", 0, &rs, err)
      || mg_json_opt_bool(e, "normalized", "added token", !sp, &nm, err))
    return mg_err_prefix(err, "'%s'", path);
  a->len = mg_json_string_len(c);
  a->content = mg_xmemdup(mg_json_string(c), a->len);
  a->special = (unsigned char)sp;
  a->single_word = (unsigned char)sw;
  a->lstrip = (unsigned char)ls;
  a->rstrip = (unsigned char)rs;
  a->normalized = (unsigned char)nm;
  return 0;
}

static int same_token(const struct added_tok *a, const struct added_tok *b)
{
  return a->len == b->len && !memcmp(a->content, b->content, a->len)
         && a->special == b->special && a->normalized == b->normalized
         && a->lstrip == b->lstrip && a->rstrip == b->rstrip
         && a->single_word == b->single_word;
}

/*
 * AddedVocabulary::add_tokens, step by step: ids come from the vocabulary
 * when the content is in it, else after the largest id so far; the tries
 * take the special tokens first, then the others, in the file's order.
 */
static int load_added(struct mg_tok *t, const struct mg_json *arr,
                      const char *path, struct mg_err *err)
{
  size_t n = mg_json_size(arr), nl = 0, ns = 0, k = 0;
  struct added_tok *list, **specials, **plain_list;
  const struct mg_tok_vocab *mv = mg_tok_model_vocab(t->model);
  uint32_t vsize = mv->count, maxid = 0;
  int have_max = 0, rc = -1;

  mg_tok_util_vocab_init(&t->added_map, n);
  mg_tok_util_vocab_init(&t->special_set, n);
  if (!n)
    return 0;
  list = mg_xcalloc(n, sizeof(*list));
  specials = mg_xcalloc(n, sizeof(*specials));
  plain_list = mg_xcalloc(n, sizeof(*plain_list));
  t->added = mg_xcalloc(n, sizeof(*t->added));
  for (const struct mg_json *e = mg_json_first(arr); e; e = mg_json_next(e))
    if (parse_added_one(e, path, &list[k++], err))
      goto out;
  for (size_t i = 0; i < n; i++) {
    struct added_tok *a = &list[i];

    if (a->special && a->len
        && mg_tok_util_vocab_get(&t->special_set, a->content, a->len)
               == MG_TOK_NONE) {
      mg_tok_util_vocab_add(&t->special_set, a->content, a->len, 0);
      specials[ns++] = a;
    }
  }
  for (size_t i = 0; i < n; i++) {
    struct added_tok *a = &list[i], *slot = NULL;
    uint32_t id;
    int dup = 0;

    if (!a->len)
      continue;
    for (size_t j = 0; j < t->nadded && !dup; j++)
      dup = same_token(&t->added[j], a);
    if (dup)
      continue;
    id = token_to_id(t, a->content, a->len);
    if (id == MG_TOK_NONE) {
      if (!have_max)
        id = vsize;
      else if (maxid >= vsize || vsize == 0)
        id = maxid + 1;
      else
        id = vsize;
    }
    mg_tok_util_vocab_add(&t->added_map, a->content, a->len, id);
    if (!have_max || id > maxid)
      maxid = id;
    have_max = 1;
    for (size_t j = 0; j < t->nadded; j++)
      if (t->added[j].id == id)
        slot = &t->added[j];
    if (!slot)
      slot = &t->added[t->nadded++];
    else
      free(slot->content);
    *slot = *a;
    slot->content = mg_xstrndup(a->content, a->len);
    slot->id = id;
    if (mg_tok_util_vocab_get(&t->special_set, a->content, a->len)
        == MG_TOK_NONE)
      plain_list[nl++] = a;
  }
  qsort(t->added, t->nadded, sizeof(*t->added), added_cmp);
  for (size_t pass = 0; pass < 2; pass++) {
    struct added_tok **lst = pass ? plain_list : specials;
    size_t cnt = pass ? nl : ns;

    for (size_t i = 0; i < cnt; i++) {
      const struct added_tok *a = lst[i];
      uint32_t id = token_to_id(t, a->content, a->len);

      if (!a->normalized) {
        trie_add(&t->plain, a->content, a->len, id);
        continue;
      }
      t->scratch.len = 0;
      if (t->norm) {
        if (mg_tok_norm_apply(t->norm, a->content, a->len, &t->scratch, err))
          goto out;
      } else {
        mg_tok_str_add(&t->scratch, a->content, a->len);
      }
      trie_add(&t->normed, t->scratch.p, t->scratch.len, id);
    }
  }
  rc = 0;
out:
  for (size_t i = 0; i < n; i++)
    free(list[i].content);
  free(list);
  free(specials);
  free(plain_list);
  return rc;
}

/* ---- post-processor ---- */

static int special_from(struct mg_tok *t, const struct mg_json *sp,
                        struct special_seq *seq, const char *path,
                        struct mg_err *err)
{
  const struct mg_json *ids = mg_json_get(sp, "ids");
  const struct mg_json *toks = mg_json_get(sp, "tokens");

  (void)t;
  if (!mg_json_is_array(ids) || !mg_json_is_array(toks)
      || mg_json_size(ids) != mg_json_size(toks))
    return mg_err_set(err, MG_ERR_DATA,
                      "bad special token in the post_processor of '%s'", path);
  for (size_t i = 0; i < mg_json_size(ids); i++) {
    const struct mg_json *id = mg_json_at(ids, i), *tk = mg_json_at(toks, i);
    if (!mg_json_is_number(id) || !mg_json_is_string(tk)
        || mg_json_number(id) < 0)
      return mg_err_set(err, MG_ERR_DATA,
                        "bad special token in the post_processor of '%s'",
                        path);
    seq_add(seq, (uint32_t)mg_json_number(id), mg_json_string(tk),
            mg_json_string_len(tk));
  }
  return 0;
}

/* [token, id] pairs of BertProcessing / RobertaProcessing. */
static int pair_from(const struct mg_json *p, struct special_seq *seq,
                     const char *path, struct mg_err *err)
{
  const struct mg_json *s = mg_json_at(p, 0), *id = mg_json_at(p, 1);

  if (!mg_json_is_string(s) || !mg_json_is_number(id))
    return mg_err_set(err, MG_ERR_DATA,
                      "bad cls/sep in the post_processor of '%s'", path);
  seq_add(seq, (uint32_t)mg_json_number(id), mg_json_string(s),
          mg_json_string_len(s));
  return 0;
}

/*
 * Wraps the current pre/post sequences with the tokens one processor adds
 * (processors of a Sequence apply in order, each around the previous).
 */
static void wrap(struct mg_tok *t, struct special_seq *pre,
                 struct special_seq *post)
{
  for (size_t i = 0; i < t->pre_seq.n; i++)
    seq_add(pre, t->pre_seq.ids[i],
            t->pre_seq.toks.text.p + t->pre_seq.toks.off[i],
            t->pre_seq.toks.off[i + 1] - t->pre_seq.toks.off[i]);
  for (size_t i = 0; i < post->n; i++)
    seq_add(&t->post_seq, post->ids[i], post->toks.text.p + post->toks.off[i],
            post->toks.off[i + 1] - post->toks.off[i]);
  seq_release(&t->pre_seq);
  t->pre_seq = *pre;
  memset(pre, 0, sizeof(*pre));
  seq_release(post);
}

static int parse_post(struct mg_tok *t, const struct mg_json *j,
                      const char *path, struct mg_err *err)
{
  const char *type = mg_json_string(mg_json_get(j, "type"));
  struct special_seq pre = { 0 }, post = { 0 };
  int rc = 0;

  if (!type)
    return mg_err_set(err, MG_ERR_DATA, "post_processor without a type in '%s'",
                      path);
  t->has_post = 1;
  if (!strcmp(type, "Sequence")) {
    const struct mg_json *arr = mg_json_get(j, "processors");
    if (!mg_json_is_array(arr))
      return mg_err_set(err, MG_ERR_DATA,
                        "post_processor 'Sequence' without 'processors' in "
                        "'%s'",
                        path);
    for (const struct mg_json *e = mg_json_first(arr); e; e = mg_json_next(e))
      if (parse_post(t, e, path, err))
        return -1;
    return 0;
  }
  if (!strcmp(type, "ByteLevel"))
    return 0;
  if (!strcmp(type, "TemplateProcessing")) {
    const struct mg_json *single = mg_json_get(j, "single");
    const struct mg_json *sps = mg_json_get(j, "special_tokens");
    int seen_a = 0;

    if (!mg_json_is_array(single))
      return mg_err_set(err, MG_ERR_DATA,
                        "post_processor 'TemplateProcessing' without "
                        "'single' in '%s'",
                        path);
    for (const struct mg_json *e = mg_json_first(single); e && !rc;
         e = mg_json_next(e)) {
      const struct mg_json *st = mg_json_get(e, "SpecialToken");
      const char *sid = mg_json_string(mg_json_get(st, "id"));

      if (mg_json_get(e, "Sequence")) {
        seen_a = 1;
        continue;
      }
      if (!sid || !mg_json_get(sps, sid)) {
        rc = mg_err_set(err, MG_ERR_DATA,
                        "template piece of the post_processor in '%s' names "
                        "no special token",
                        path);
        break;
      }
      rc = special_from(t, mg_json_get(sps, sid), seen_a ? &post : &pre, path,
                        err);
    }
  } else if (!strcmp(type, "BertProcessing")
             || !strcmp(type, "RobertaProcessing")) {
    rc = pair_from(mg_json_get(j, "cls"), &pre, path, err)
                 || pair_from(mg_json_get(j, "sep"), &post, path, err)
             ? -1
             : 0;
  } else {
    return mg_err_set(err, MG_ERR_DATA,
                      "unsupported post_processor '%s' in '%s'", type, path);
  }
  if (rc) {
    seq_release(&pre);
    seq_release(&post);
    return -1;
  }
  wrap(t, &pre, &post);
  return 0;
}

/* A config token: "text" or {"content": "text", ...}; def when absent. */
static void config_token(const struct mg_json *cfg, const char *key,
                         const char *def, const char **s, size_t *n)
{
  const struct mg_json *v = mg_json_get(cfg, key);

  if (mg_json_is_object(v))
    v = mg_json_get(v, "content");
  *s = mg_json_is_string(v) ? mg_json_string(v) : def;
  *n = mg_json_is_string(v) ? mg_json_string_len(v) : strlen(def);
}

/*
 * tokenizer_config.json. The Llama and Gemma tokenizer classes of
 * transformers rebuild the single template from add_bos_token (default
 * true) and add_eos_token (default false); other classes keep the file's
 * post-processor.
 */
static int apply_config(struct mg_tok *t, const struct mg_json *cfg,
                        const char *name, struct mg_err *err)
{
  static const struct {
    const char *cls, *bos, *eos;
  } classes[] = {
    { "LlamaTokenizer", "<s>", "</s>" },
    { "LlamaTokenizerFast", "<s>", "</s>" },
    { "CodeLlamaTokenizer", "<s>", "</s>" },
    { "CodeLlamaTokenizerFast", "<s>", "</s>" },
    { "GemmaTokenizer", "<bos>", "<eos>" },
    { "GemmaTokenizerFast", "<bos>", "<eos>" },
  };
  const char *cls = mg_json_string(mg_json_get(cfg, "tokenizer_class"));
  const struct mg_json *ml = mg_json_get(cfg, "model_max_length");
  int bos = 1, eos = 0;
  size_t k = sizeof(classes) / sizeof(*classes);

  if (mg_json_is_number(ml) && mg_json_number(ml) > 0
      && mg_json_number(ml) < 1e15)
    t->max_length = (uint64_t)mg_json_number(ml);
  /* a value that is not a bool (null) is falsy, as in Python */
  t->clean_up =
      mg_json_is_bool(mg_json_get(cfg, "clean_up_tokenization_spaces"))
      && mg_json_bool(mg_json_get(cfg, "clean_up_tokenization_spaces"));
  for (size_t i = 0; cls && i < sizeof(classes) / sizeof(*classes); i++)
    if (!strcmp(cls, classes[i].cls))
      k = i;
  if (k == sizeof(classes) / sizeof(*classes))
    return 0;
  if (mg_json_opt_bool(cfg, "add_bos_token", "tokenizer config", 1, &bos, err)
      || mg_json_opt_bool(cfg, "add_eos_token", "tokenizer config", 0, &eos,
                          err))
    return mg_err_prefix(err, "'%s'", name);
  seq_release(&t->pre_seq);
  seq_release(&t->post_seq);
  t->has_post = 1;
  for (int e = 0; e < 2; e++) {
    const char *s;
    size_t n;
    uint32_t id;

    if (!(e ? eos : bos))
      continue;
    config_token(cfg, e ? "eos_token" : "bos_token",
                 e ? classes[k].eos : classes[k].bos, &s, &n);
    id = token_to_id(t, s, n);
    if (id == MG_TOK_NONE)
      return mg_err_set(
          err, MG_ERR_DATA, "%s is set but %s '%.*s' is not a token of '%s'",
          e ? "add_eos_token" : "add_bos_token", e ? "eos_token" : "bos_token",
          (int)(n > 64 ? 64 : n), s, name);
    seq_add(e ? &t->post_seq : &t->pre_seq, id, s, n);
  }
  return 0;
}

/* ---- loading ---- */

static int component(const struct mg_json *doc, const char *key,
                     const struct mg_json **out)
{
  *out = mg_json_get(doc, key);
  if (mg_json_is_null(*out))
    *out = NULL;
  return *out != NULL;
}

int mg_tok_from_json(const struct mg_json *doc, const struct mg_json *config,
                     const char *name, struct mg_tok **out, struct mg_err *err)
{
  struct mg_tok *t = mg_xcalloc(1, sizeof(*t));
  const struct mg_json *c;
  struct mg_json *pre_copy = NULL;
  int rc = -1;

  *out = NULL;
  t->name = mg_xstrdup(name);
  if (!mg_json_is_object(doc)) {
    mg_err_set(err, MG_ERR_DATA, "'%s' is not a tokenizer.json object", name);
    goto out;
  }
  if (mg_tok_model_parse(mg_json_get(doc, "model"), name, &t->model, err))
    goto out;
  if (component(doc, "normalizer", &c)
      && mg_tok_norm_parse(c, name, &t->norm, err))
    goto out;
  if (component(doc, "pre_tokenizer", &c)) {
    const struct mg_json *aps = mg_json_get(config, "add_prefix_space");

    /* GPT2TokenizerFast and friends override the top-level
     * add_prefix_space from the config */
    if (mg_json_is_bool(aps)
        && mg_json_is_bool(mg_json_get(c, "add_prefix_space"))) {
      pre_copy = mg_json_dup(c);
      mg_json_set_bool(pre_copy, "add_prefix_space", mg_json_bool(aps));
      c = pre_copy;
    }
    if (mg_tok_pre_parse(c, name, &t->pre, err))
      goto out;
  }
  if (component(doc, "decoder", &c)) {
    t->has_dec = 1;
    if (mg_tok_dec_parse(c, name, &t->dec, err))
      goto out;
  }
  c = mg_json_get(doc, "added_tokens");
  if (c && !mg_json_is_null(c) && !mg_json_is_array(c)) {
    mg_err_set(err, MG_ERR_DATA, "'added_tokens' in '%s' is not an array",
               name);
    goto out;
  }
  if (load_added(t, c, name, err))
    goto out;
  if (component(doc, "post_processor", &c) && parse_post(t, c, name, err))
    goto out;
  if (config && apply_config(t, config, name, err))
    goto out;
  *out = t;
  t = NULL;
  rc = 0;
out:
  mg_json_free(pre_copy);
  mg_tok_free(t);
  return rc;
}

static int read_json(const char *path, struct mg_json **out, struct mg_err *err)
{
  struct mg_buf b = MG_BUF_INIT(MAX_FILE);
  int rc;

  if (mg_io_read_file(path, &b, err))
    return -1;
  rc = mg_json_parse(b.data ? b.data : "", b.len, path, out, err);
  mg_buf_release(&b);
  return rc;
}

int mg_tok_load(const char *path, unsigned flags, struct mg_tok **out,
                struct mg_err *err)
{
  struct stat st;
  char *file, *cfgfile = NULL;
  struct mg_json *doc = NULL, *cfg = NULL;
  int rc = -1;

  *out = NULL;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
    file = mg_xasprintf("%s/tokenizer.json", path);
    cfgfile = mg_xasprintf("%s/tokenizer_config.json", path);
  } else {
    const char *slash = strrchr(path, '/');

    file = mg_xstrdup(path);
    if (slash)
      cfgfile =
          mg_xasprintf("%.*s/tokenizer_config.json", (int)(slash - path), path);
    else
      cfgfile = mg_xstrdup("tokenizer_config.json");
  }
  if (read_json(file, &doc, err))
    goto out;
  if (!(flags & MG_TOK_NO_CONFIG) && access(cfgfile, F_OK) == 0
      && read_json(cfgfile, &cfg, err))
    goto out;
  rc = mg_tok_from_json(doc, cfg, file, out, err);
out:
  mg_json_free(doc);
  mg_json_free(cfg);
  free(file);
  free(cfgfile);
  return rc;
}

/* ---- encoding ---- */

/*
 * AddedVocabulary::find_matches over piece pc, pushing the split pieces
 * (added tokens with their id) onto out; empty pieces are dropped.
 */
static void split_added(const struct mg_tok *t, const struct trie *tr,
                        const struct mg_tok_piece *pc,
                        struct mg_tok_pieces *out)
{
  const char *s = t->arena.p + pc->off;
  size_t n = pc->len, start_off = 0, l;

  if (!tr->n) {
    mg_tok_util_pieces_push(out, pc->off, pc->len, MG_TOK_NONE, pc->first);
    return;
  }
  for (size_t i = 0; i < n;) {
    uint32_t id = MG_TOK_NONE;
    size_t mlen, start = i, stop;
    const struct added_tok *a;

    if (!tr->first[(unsigned char)s[i]]
        || !(mlen = trie_longest(tr, s + i, n - i, &id))) {
      i++;
      continue;
    }
    stop = i + mlen;
    i = stop;
    a = added_by_id(t, id);
    if (a && a->single_word) {
      int ok_start = start == 0
                     || !mg_tok_util_is_word(mg_tok_util_utf8_next(
                         s + mg_tok_util_utf8_last(s, start),
                         start - mg_tok_util_utf8_last(s, start), &l));
      int ok_stop = stop == n
                    || !mg_tok_util_is_word(
                        mg_tok_util_utf8_next(s + stop, n - stop, &l));
      if (!ok_start || !ok_stop)
        continue;
    }
    if (a && a->lstrip) {
      size_t ns = start;
      while (ns > 0) {
        size_t p = mg_tok_util_utf8_last(s, ns);
        if (!mg_tok_util_is_whitespace(
                mg_tok_util_utf8_next(s + p, ns - p, &l)))
          break;
        ns = p;
      }
      start = ns > start_off ? ns : start_off;
    }
    if (a && a->rstrip) {
      while (stop < n
             && mg_tok_util_is_whitespace(
                 mg_tok_util_utf8_next(s + stop, n - stop, &l)))
        stop += l;
    }
    if (start_off < start)
      mg_tok_util_pieces_push(out, pc->off + start_off, start - start_off,
                              MG_TOK_NONE, pc->first && start_off == 0);
    if (stop > start)
      mg_tok_util_pieces_push(out, pc->off + start, stop - start, id,
                              pc->first && start == 0);
    start_off = stop;
  }
  if (start_off < n)
    mg_tok_util_pieces_push(out, pc->off + start_off, n - start_off,
                            MG_TOK_NONE, pc->first && start_off == 0);
}

static void enc_push(struct mg_tok_encoding *e, uint32_t id)
{
  if (e->n == e->cap) {
    e->cap = e->cap ? e->cap * 2 : 64;
    e->ids = mg_xreallocarray(e->ids, e->cap, sizeof(*e->ids));
  }
  e->ids[e->n++] = id;
}

/* Adds the string of token e->n - 1 (tokens mode). */
static void enc_text(struct mg_tok_encoding *e, const char *s, size_t n)
{
  if (e->tok_text_len + n + 1 > e->tok_text_cap) {
    size_t c = e->tok_text_cap ? e->tok_text_cap * 2 : 256;
    while (c < e->tok_text_len + n + 1)
      c *= 2;
    e->tok_text = mg_xrealloc(e->tok_text, c);
    e->tok_text_cap = c;
  }
  if (e->tok_off_cap < e->n + 1) {
    e->tok_off_cap = e->cap + 1 > e->n + 1 ? e->cap + 1 : e->n + 1;
    e->tok_off =
        mg_xreallocarray(e->tok_off, e->tok_off_cap, sizeof(*e->tok_off));
  }
  memcpy(e->tok_text + e->tok_text_len, s, n);
  e->tok_text_len += n;
  e->tok_text[e->tok_text_len] = '\0';
  e->tok_off[0] = 0;
  e->tok_off[e->n] = e->tok_text_len;
}

static void enc_seq(struct mg_tok_encoding *e, const struct special_seq *s,
                    int tokens)
{
  for (size_t i = 0; i < s->n; i++) {
    enc_push(e, s->ids[i]);
    if (tokens)
      enc_text(e, s->toks.text.p + s->toks.off[i],
               s->toks.off[i + 1] - s->toks.off[i]);
  }
}

static size_t utf8_error_at(const char *s, size_t n)
{
  size_t lo = 0;

  /* the end of the longest valid prefix */
  while (lo < n) {
    size_t l = mg_tok_util_utf8_clen((unsigned char)s[lo]);
    if (lo + l > n || !mg_utf8_valid(s + lo, l))
      break;
    lo += l;
  }
  return lo;
}

int mg_tok_encode(struct mg_tok *t, const char *text, size_t len,
                  unsigned flags, struct mg_tok_encoding *out,
                  struct mg_err *err)
{
  int tokens = (flags & MG_TOK_TOKENS) != 0;
  int special = (flags & MG_TOK_ADD_SPECIAL) != 0;
  struct mg_tok_piece whole;

  out->n = 0;
  out->tok_text_len = 0;
  if (!mg_utf8_valid(text, len))
    return mg_err_set(err, MG_ERR_DATA, "text is not valid UTF-8 at byte %zu",
                      utf8_error_at(text, len));
  if (tokens) {
    enc_text(out, "", 0);
    out->tok_off[0] = 0;
  }
  t->arena.len = 0;
  t->ps.n = t->ps2.n = 0;
  mg_tok_str_add(&t->arena, text, len);
  whole.off = 0;
  whole.len = len;
  whole.id = MG_TOK_NONE;
  whole.first = 1;
  /* 1. added tokens matched on the raw text */
  if (len)
    split_added(t, &t->plain, &whole, &t->ps);
  /* 2. every other piece normalized, then normalized added tokens */
  for (size_t i = 0; i < t->ps.n; i++) {
    struct mg_tok_piece pc = t->ps.v[i];

    if (pc.id != MG_TOK_NONE) {
      mg_tok_util_pieces_push(&t->ps2, pc.off, pc.len, pc.id, pc.first);
      continue;
    }
    if (t->norm) {
      t->scratch.len = 0;
      if (mg_tok_norm_apply(t->norm, t->arena.p + pc.off, pc.len, &t->scratch,
                            err))
        return -1;
      pc.off = t->arena.len;
      pc.len = t->scratch.len;
      mg_tok_str_add(&t->arena, t->scratch.p ? t->scratch.p : "",
                     t->scratch.len);
      if (!pc.len)
        continue;
    }
    split_added(t, &t->normed, &pc, &t->ps2);
  }
  /* 3. pre-tokenization */
  if (t->pre && mg_tok_pre_apply(t->pre, &t->arena, &t->ps2, &t->ps, err))
    return -1;
  /* 4. the model, between the post-processor's special tokens */
  if (special)
    enc_seq(out, &t->pre_seq, tokens);
  for (size_t i = 0; i < t->ps2.n; i++) {
    const struct mg_tok_piece *pc = &t->ps2.v[i];
    size_t from = out->n;

    if (pc->id != MG_TOK_NONE) {
      enc_push(out, pc->id);
      if (tokens)
        enc_text(out, t->arena.p + pc->off, pc->len);
      continue;
    }
    if (mg_tok_model_tokenize(t->model, t->arena.p + pc->off, pc->len,
                              &out->ids, &out->n, &out->cap))
      return mg_err_set(err, MG_ERR_DATA,
                        "word '%.*s' is not in the vocabulary of '%s', which "
                        "has no unk_token",
                        (int)(pc->len > 64 ? 64 : pc->len),
                        t->arena.p + pc->off, t->name);
    if (tokens) {
      size_t to = out->n;
      for (size_t k = from; k < to; k++) {
        size_t l = 0;
        const char *s = mg_tok_util_vocab_str(mg_tok_model_vocab(t->model),
                                              out->ids[k], &l);
        out->n = k + 1;
        enc_text(out, s ? s : "", l);
      }
      out->n = to;
    }
  }
  if (special)
    enc_seq(out, &t->post_seq, tokens);
  return 0;
}

/* ---- decoding ---- */

int mg_tok_decode(struct mg_tok *t, const uint32_t *ids, size_t n,
                  int skip_special, struct mg_buf *out, struct mg_err *err)
{
  struct mg_tok_list *l = &t->dlist;
  int rc;

  mg_tok_util_list_reset(l);
  for (size_t i = 0; i < n; i++) {
    size_t len;
    const char *s = mg_tok_id_to_token(t, ids[i], &len);

    if (!s)
      continue;
    if (skip_special
        && mg_tok_util_vocab_get(&t->special_set, s, len) != MG_TOK_NONE)
      continue;
    mg_tok_util_list_push(l, s, len);
  }
  t->scratch.len = 0;
  if (t->has_dec) {
    if (mg_tok_dec_apply(t->dec, l, &t->scratch, err))
      return -1;
  } else {
    for (size_t i = 0; i < l->n; i++) {
      if (i)
        mg_tok_str_add(&t->scratch, " ", 1);
      mg_tok_str_add(&t->scratch, l->text.p + l->off[i],
                     l->off[i + 1] - l->off[i]);
    }
  }
  rc = mg_buf_add(out, t->scratch.p ? t->scratch.p : "", t->scratch.len, err);
  return rc;
}

void mg_tok_clean_up_tokenization(struct mg_buf *b, size_t start)
{
  /* transformers' list, applied in this order, each pass over the
   * previous one's output */
  static const struct {
    const char *pat;
    size_t n, drop; /* the replacement is pat without its first drop */
  } rep[] = {
    { " .", 2, 1 },   { " ?", 2, 1 },   { " !", 2, 1 },  { " ,", 2, 1 },
    { " ' ", 3, 2 },  { " n't", 4, 1 }, { " 'm", 3, 1 }, { " 's", 3, 1 },
    { " 've", 4, 1 }, { " 're", 4, 1 },
  };

  if (start >= b->len)
    return;
  for (size_t k = 0; k < sizeof(rep) / sizeof(*rep); k++) {
    char *s = b->data + start;
    size_t n = b->len - start, r = 0, w = 0;

    if (!memchr(s, rep[k].pat[1], n))
      continue;
    /* str.replace: non-overlapping matches, left to right, on the
     * input; every replacement only deletes, so it is done in place */
    while (r < n) {
      if (s[r] == ' ' && n - r >= rep[k].n
          && !memcmp(s + r, rep[k].pat, rep[k].n)) {
        if (rep[k].pat[rep[k].n - 1] == ' ') {
          /* " ' " -> "'": the apostrophe stays, both spaces go */
          s[w++] = '\'';
        } else {
          memmove(s + w, s + r + rep[k].drop, rep[k].n - rep[k].drop);
          w += rep[k].n - rep[k].drop;
        }
        r += rep[k].n;
      } else {
        s[w++] = s[r++];
      }
    }
    b->len = start + w;
  }
  if (b->data)
    b->data[b->len] = '\0';
}

int mg_tok_decode_hf(struct mg_tok *t, const uint32_t *ids, size_t n,
                     int skip_special, struct mg_buf *out, struct mg_err *err)
{
  size_t start = out->len;

  if (mg_tok_decode(t, ids, n, skip_special, out, err) < 0)
    return -1;
  if (t->clean_up)
    mg_tok_clean_up_tokenization(out, start);
  return 0;
}
