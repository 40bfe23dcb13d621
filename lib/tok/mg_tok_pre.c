/*
 * Tokenizer pre-tokenizers (the "pre_tokenizer" object of tokenizer.json)
 * and the regex wrapper over PCRE2 that they, Replace and Split share.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include "tok/mg_tok_int.h"

#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "mg_err.h"
#include "mg_json.h"
#include "mg_mem.h"

/* ---- regexes ---- */

struct mg_tok_re {
  pcre2_code *code;
  pcre2_match_data *md;
  pcre2_match_context *mctx;
  pcre2_jit_stack *stack;
  int jit;
};

void mg_tok_pre_re_free(struct mg_tok_re *re)
{
  if (!re)
    return;
  pcre2_match_data_free(re->md);
  pcre2_match_context_free(re->mctx);
  pcre2_jit_stack_free(re->stack);
  pcre2_code_free(re->code);
  free(re);
}

/*
 * Oniguruma (what the reference compiles these patterns with) and PCRE2
 * read a few escapes differently; these were found by running every code
 * point through the reference. Oniguruma's \s is White_Space (PCRE2 adds
 * U+180E); its \w is Alphabetic, marks, decimal digits, connector
 * punctuation and six Latin-1 number signs (PCRE2 10.42: letters, numbers,
 * underscore); its \h is a hex digit (PCRE2: horizontal space). Rewrite
 * those; everything else is the same syntax.
 */
static char *translate(const char *pat, size_t n, size_t *outlen)
{
  static const char w_in[] =
      "\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\x{B2}\\x{B3}\\x{B9}\\x{BC}-\\x{BE}";
  static const char h_in[] = "0-9a-fA-F";
  struct mg_tok_str o = { 0 };
  int cls = 0;

  for (size_t i = 0; i < n; i++) {
    char c = pat[i];

    if (c == '\\' && i + 1 < n) {
      char e = pat[i + 1];
      const char *in = e == 'w' || e == 'W'   ? w_in
                       : e == 'h' || e == 'H' ? h_in
                                              : NULL;
      int neg = e == 'W' || e == 'H';

      if (e == 's' || e == 'S') {
        mg_tok_str_add(&o, e == 's' ? "\\p{White_Space}" : "\\P{White_Space}",
                       15);
      } else if (in && cls && neg) {
        /* a negated escape inside a class: leave it to PCRE2 */
        mg_tok_str_add(&o, pat + i, 2);
      } else if (in && cls) {
        mg_tok_str_add(&o, in, strlen(in));
      } else if (in) {
        mg_tok_str_add(&o, neg ? "[^" : "[", neg ? 2 : 1);
        mg_tok_str_add(&o, in, strlen(in));
        mg_tok_str_add(&o, "]", 1);
      } else {
        mg_tok_str_add(&o, pat + i, 2);
      }
      i++;
      continue;
    }
    if (c == '[' && !cls) {
      cls = 1;
      mg_tok_str_add(&o, pat + i, 1);
      /* a ']' right after '[' or '[^' is a literal */
      if (i + 1 < n && pat[i + 1] == '^')
        mg_tok_str_add(&o, pat + ++i, 1);
      if (i + 1 < n && pat[i + 1] == ']')
        mg_tok_str_add(&o, pat + ++i, 1);
      continue;
    }
    if (c == ']' && cls)
      cls = 0;
    mg_tok_str_add(&o, &c, 1);
  }
  mg_tok_str_add(&o, "", 0);
  *outlen = o.len;
  return o.p;
}

int mg_tok_pre_re_new(const char *pat, size_t n, int kind, const char *where,
                      struct mg_tok_re **out, struct mg_err *err)
{
  struct mg_tok_re *re = mg_xcalloc(1, sizeof(*re));
  uint32_t opt = PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE;
  int ecode;
  PCRE2_SIZE eoff;
  char *tp = NULL;
  size_t tn = n;

  *out = NULL;
  if (kind == MG_TOK_RE_LITERAL)
    opt = PCRE2_UTF | PCRE2_LITERAL;
  else if (kind == MG_TOK_RE_ONIG)
    tp = translate(pat, n, &tn);
  re->code =
      pcre2_compile((PCRE2_SPTR)(tp ? tp : pat), tn, opt, &ecode, &eoff, NULL);
  free(tp);
  if (!re->code) {
    PCRE2_UCHAR msg[160];

    pcre2_get_error_message(ecode, msg, sizeof(msg));
    mg_tok_pre_re_free(re);
    return mg_err_set(err, MG_ERR_DATA, "bad regex in '%s' at offset %zu: %s",
                      where, (size_t)eoff, (const char *)msg);
  }
  re->md = pcre2_match_data_create_from_pattern(re->code, NULL);
  if (!re->md)
    MG_BUG("out of memory");
  if (pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE) == 0) {
    re->jit = 1;
    re->mctx = pcre2_match_context_create(NULL);
    re->stack = pcre2_jit_stack_create(32 * 1024, 4 * 1024 * 1024, NULL);
    if (!re->mctx || !re->stack)
      MG_BUG("out of memory");
    pcre2_jit_stack_assign(re->mctx, NULL, re->stack);
  }
  *out = re;
  return 0;
}

static int re_match(struct mg_tok_re *re, const char *s, size_t n, size_t pos)
{
  int rc;

  if (re->jit) {
    rc = pcre2_jit_match(re->code, (PCRE2_SPTR)s, n, pos, 0, re->md, re->mctx);
    if (rc != PCRE2_ERROR_JIT_STACKLIMIT)
      return rc;
  }
  return pcre2_match(re->code, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK,
                     re->md, NULL);
}

int mg_tok_pre_re_each(struct mg_tok_re *re, const char *s, size_t n,
                       void (*fn)(void *arg, size_t start, size_t end),
                       void *arg, struct mg_err *err)
{
  size_t pos = 0, last_end = (size_t)-1;

  while (pos <= n) {
    int rc = re_match(re, s, n, pos);
    PCRE2_SIZE *ov;

    if (rc == PCRE2_ERROR_NOMATCH)
      break;
    if (rc < 0) {
      PCRE2_UCHAR msg[160];

      pcre2_get_error_message(rc, msg, sizeof(msg));
      return mg_err_set(err, MG_ERR_DATA, "regex match failed: %s",
                        (const char *)msg);
    }
    ov = pcre2_get_ovector_pointer(re->md);
    if (ov[0] == ov[1] && last_end == ov[1]) {
      if (pos >= n)
        break;
      pos += mg_tok_util_utf8_clen((unsigned char)s[pos]);
      continue;
    }
    fn(arg, ov[0], ov[1]);
    pos = last_end = ov[1];
  }
  return 0;
}

/* ---- pre-tokenizers ---- */

enum pre_kind {
  P_SEQ,
  P_BYTELEVEL,
  P_SPLIT,
  P_METASPACE,
  P_DIGITS,
  P_PUNCT,
  P_WHITESPACE,
  P_WSSPLIT,
  P_BERT,
  P_CHARDELIM,
};

enum prepend_scheme { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER };

struct mg_tok_pre {
  enum pre_kind kind;
  struct mg_tok_pre **sub;
  size_t nsub;
  struct mg_tok_re *re;
  enum mg_tok_behavior behavior;
  int invert;
  int add_prefix_space;
  int use_regex;
  int individual;
  uint32_t ch; /* Metaspace replacement, CharDelimiterSplit delimiter */
  char ch_s[4];
  size_t ch_len;
  enum prepend_scheme prepend;
  int split;
  /* ByteLevel: the UTF-8 of each byte's stand-in character */
  char bmap[256][2];
  unsigned char blen[256];
};

void mg_tok_pre_free(struct mg_tok_pre *p)
{
  if (!p)
    return;
  for (size_t i = 0; i < p->nsub; i++)
    mg_tok_pre_free(p->sub[i]);
  free(p->sub);
  mg_tok_pre_re_free(p->re);
  free(p);
}

/* GPT-2's pattern, as the ByteLevel pre-tokenizer of the reference. */
static const char gpt2_re[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|"
    "\\s+(?!\\S)|\\s+";
/* Whitespace's \w+|[^\w\s]+, with the regex crate's Unicode classes. */
static const char ws_re[] =
    "[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}]+|"
    "[^\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}\\p{White_Space}]+";

static int get_bool(const struct mg_json *j, const char *key, int def,
                    const char *path, int *out, struct mg_err *err)
{
  if (mg_json_opt_bool(j, key, "pre_tokenizer", def, out, err))
    return mg_err_prefix(err, "'%s'", path);
  return 0;
}

static int get_behavior(const struct mg_json *j, const char *path,
                        enum mg_tok_behavior def, enum mg_tok_behavior *out,
                        struct mg_err *err)
{
  static const char *const names[] = { "Removed", "Isolated",
                                       "MergedWithPrevious", "MergedWithNext",
                                       "Contiguous" };
  const char *b = mg_json_string(mg_json_get(j, "behavior"));

  *out = def;
  if (!b)
    return 0;
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    if (!strcmp(b, names[i])) {
      *out = (enum mg_tok_behavior)i;
      return 0;
    }
  return mg_err_set(err, MG_ERR_DATA, "unsupported split behavior '%s' in '%s'",
                    b, path);
}

/* One character from a JSON string field (Metaspace, CharDelimiterSplit). */
static int get_char(const struct mg_json *j, const char *key, const char *def,
                    const char *path, struct mg_tok_pre *p, struct mg_err *err)
{
  const struct mg_json *v = mg_json_get(j, key);
  const char *s = mg_json_is_string(v) ? mg_json_string(v) : def;
  size_t n = mg_json_is_string(v) ? mg_json_string_len(v) : strlen(def);
  size_t l;

  if (n == 0 || n > 4 || mg_tok_util_utf8_clen((unsigned char)s[0]) != n)
    return mg_err_set(err, MG_ERR_DATA,
                      "field '%s' of a pre_tokenizer in '%s' is not one "
                      "character",
                      key, path);
  p->ch = mg_tok_util_utf8_next(s, n, &l);
  memcpy(p->ch_s, s, n);
  p->ch_len = n;
  return 0;
}

int mg_tok_pre_parse(const struct mg_json *j, const char *path,
                     struct mg_tok_pre **out, struct mg_err *err)
{
  struct mg_tok_pre *p;
  const char *type = mg_json_string(mg_json_get(j, "type"));
  const struct mg_json *v;

  *out = NULL;
  if (!type)
    return mg_err_set(err, MG_ERR_DATA, "pre_tokenizer without a type in '%s'",
                      path);
  p = mg_xcalloc(1, sizeof(*p));
  if (!strcmp(type, "Sequence")) {
    const struct mg_json *arr = mg_json_get(j, "pretokenizers");

    p->kind = P_SEQ;
    if (!mg_json_is_array(arr)) {
      mg_err_set(err, MG_ERR_DATA,
                 "pre_tokenizer 'Sequence' without 'pretokenizers' in '%s'",
                 path);
      goto fail;
    }
    p->sub = mg_xcalloc(mg_json_size(arr) + 1, sizeof(*p->sub));
    for (v = mg_json_first(arr); v; v = mg_json_next(v))
      if (mg_tok_pre_parse(v, path, &p->sub[p->nsub++], err))
        goto fail;
  } else if (!strcmp(type, "ByteLevel")) {
    p->kind = P_BYTELEVEL;
    if (get_bool(j, "add_prefix_space", 1, path, &p->add_prefix_space, err)
        || get_bool(j, "use_regex", 1, path, &p->use_regex, err))
      goto fail;
    if (p->use_regex
        && mg_tok_pre_re_new(gpt2_re, sizeof(gpt2_re) - 1, MG_TOK_RE_ONIG, path,
                             &p->re, err))
      goto fail;
    for (int b = 0; b < 256; b++)
      p->blen[b] = (unsigned char)mg_utf8_put(
          mg_tok_util_byte_char((unsigned char)b), p->bmap[b]);
  } else if (!strcmp(type, "Split")) {
    const struct mg_json *pat = mg_json_get(j, "pattern");
    const struct mg_json *s;
    int regex = 0;

    p->kind = P_SPLIT;
    if ((s = mg_json_get(pat, "Regex")) && mg_json_is_string(s)) {
      regex = 1;
    } else if (!((s = mg_json_get(pat, "String")) && mg_json_is_string(s))) {
      mg_err_set(err, MG_ERR_DATA,
                 "pre_tokenizer 'Split' without a String or Regex pattern in "
                 "'%s'",
                 path);
      goto fail;
    }
    if (get_behavior(j, path, MG_TOK_REMOVED, &p->behavior, err)
        || get_bool(j, "invert", 0, path, &p->invert, err)
        || mg_tok_pre_re_new(mg_json_string(s), mg_json_string_len(s),
                             regex ? MG_TOK_RE_ONIG : MG_TOK_RE_LITERAL, path,
                             &p->re, err))
      goto fail;
  } else if (!strcmp(type, "Metaspace")) {
    const char *scheme = mg_json_string(mg_json_get(j, "prepend_scheme"));
    int aps;

    p->kind = P_METASPACE;
    if (get_char(j, "replacement", "\xE2\x96\x81", path, p, err)
        || get_bool(j, "split", 1, path, &p->split, err)
        || get_bool(j, "add_prefix_space", 1, path, &aps, err))
      goto fail;
    if (!scheme) {
      p->prepend = aps ? PREPEND_ALWAYS : PREPEND_NEVER;
    } else if (!strcmp(scheme, "always")) {
      p->prepend = PREPEND_ALWAYS;
    } else if (!strcmp(scheme, "first")) {
      p->prepend = PREPEND_FIRST;
    } else if (!strcmp(scheme, "never")) {
      p->prepend = PREPEND_NEVER;
    } else {
      mg_err_set(err, MG_ERR_DATA, "unsupported prepend_scheme '%s' in '%s'",
                 scheme, path);
      goto fail;
    }
  } else if (!strcmp(type, "Digits")) {
    p->kind = P_DIGITS;
    if (get_bool(j, "individual_digits", 0, path, &p->individual, err))
      goto fail;
  } else if (!strcmp(type, "Punctuation")) {
    p->kind = P_PUNCT;
    if (get_behavior(j, path, MG_TOK_ISOLATED, &p->behavior, err))
      goto fail;
  } else if (!strcmp(type, "Whitespace")) {
    p->kind = P_WHITESPACE;
    if (mg_tok_pre_re_new(ws_re, sizeof(ws_re) - 1, MG_TOK_RE_PCRE, path,
                          &p->re, err))
      goto fail;
  } else if (!strcmp(type, "WhitespaceSplit")) {
    p->kind = P_WSSPLIT;
  } else if (!strcmp(type, "BertPreTokenizer")) {
    p->kind = P_BERT;
  } else if (!strcmp(type, "CharDelimiterSplit")) {
    p->kind = P_CHARDELIM;
    if (get_char(j, "delimiter", "", path, p, err))
      goto fail;
  } else {
    mg_err_set(err, MG_ERR_DATA, "unsupported pre_tokenizer '%s' in '%s'", type,
               path);
    goto fail;
  }
  *out = p;
  return 0;
fail:
  mg_tok_pre_free(p);
  return -1;
}

/* ---- splitting ---- */

struct ev {
  size_t s, e;
  int m;
};

struct evs {
  struct ev *v;
  size_t n, cap;
};

static void ev_push(struct evs *x, size_t s, size_t e, int m)
{
  if (x->n == x->cap) {
    x->cap = x->cap ? x->cap * 2 : 64;
    x->v = mg_xreallocarray(x->v, x->cap, sizeof(*x->v));
  }
  x->v[x->n].s = s;
  x->v[x->n].e = e;
  x->v[x->n].m = m;
  x->n++;
}

struct re_ctx {
  struct evs *x;
  size_t prev;
};

static void re_event(void *arg, size_t s, size_t e)
{
  struct re_ctx *c = arg;

  if (c->prev != s)
    ev_push(c->x, c->prev, s, 0);
  ev_push(c->x, s, e, 1);
  c->prev = e;
}

/* Regex::find_matches: the whole string as match / non-match events. */
static int re_events(struct mg_tok_re *re, const char *s, size_t n,
                     struct evs *x, struct mg_err *err)
{
  struct re_ctx c = { x, 0 };

  x->n = 0;
  if (n == 0) {
    ev_push(x, 0, 0, 0);
    return 0;
  }
  if (mg_tok_pre_re_each(re, s, n, re_event, &c, err))
    return -1;
  if (c.prev != n)
    ev_push(x, c.prev, n, 0);
  return 0;
}

/* The find_matches of a char predicate: every matching char on its own. */
static void char_events(const char *s, size_t n,
                        int (*pred)(uint32_t, uint32_t), uint32_t arg,
                        struct evs *x)
{
  size_t last = 0, l;

  x->n = 0;
  if (n == 0) {
    ev_push(x, 0, 0, 0);
    return;
  }
  for (size_t i = 0; i < n; i += l) {
    uint32_t c = mg_tok_util_utf8_next(s + i, n - i, &l);

    if (pred(c, arg)) {
      if (last < i)
        ev_push(x, last, i, 0);
      ev_push(x, i, i + l, 1);
      last = i + l;
    }
  }
  if (n > last)
    ev_push(x, last, n, 0);
}

static int pred_ws(uint32_t c, uint32_t a)
{
  (void)a;
  return mg_tok_util_is_whitespace(c);
}

static int pred_num(uint32_t c, uint32_t a)
{
  (void)a;
  return mg_tok_util_is_numeric(c);
}

static int pred_punct(uint32_t c, uint32_t a)
{
  (void)a;
  return mg_tok_util_is_punct(c);
}

static int pred_eq(uint32_t c, uint32_t a)
{
  return c == a;
}

/*
 * NormalizedString::split: turns events into the kept sub-ranges of the
 * piece, pushed onto out (empty ones dropped, as PreTokenizedString does).
 */
static void emit_splits(struct evs *x, enum mg_tok_behavior b, int invert,
                        const struct mg_tok_piece *pc,
                        struct mg_tok_pieces *out)
{
  struct ev *v = x->v;
  size_t n = 0;
  int prev = 0;

  if (invert)
    for (size_t i = 0; i < x->n; i++)
      v[i].m = !v[i].m;
  switch (b) {
  case MG_TOK_ISOLATED:
    for (size_t i = 0; i < x->n; i++)
      v[i].m = 0;
    n = x->n;
    break;
  case MG_TOK_REMOVED:
    n = x->n;
    break;
  case MG_TOK_CONTIGUOUS:
    for (size_t i = 0; i < x->n; i++) {
      int m = v[i].m;
      if (m == prev && n > 0) {
        v[n - 1].e = v[i].e;
      } else {
        v[n] = v[i];
        v[n].m = 0;
        n++;
      }
      prev = m;
    }
    break;
  case MG_TOK_MERGED_PREV:
    for (size_t i = 0; i < x->n; i++) {
      int m = v[i].m;
      if (m && !prev && n > 0) {
        v[n - 1].e = v[i].e;
      } else {
        v[n] = v[i];
        v[n].m = 0;
        n++;
      }
      prev = m;
    }
    break;
  case MG_TOK_MERGED_NEXT: {
    /* built from the end, as the reference folds the reversed list */
    size_t k = x->n;
    for (size_t i = x->n; i-- > 0;) {
      int m = v[i].m;
      if (m && !prev && k < x->n) {
        v[k].s = v[i].s;
      } else {
        v[--k] = v[i];
        v[k].m = 0;
      }
      prev = m;
    }
    memmove(v, v + k, (x->n - k) * sizeof(*v));
    n = x->n - k;
    break;
  }
  }
  for (size_t i = 0; i < n; i++) {
    if (v[i].m || v[i].e == v[i].s)
      continue;
    mg_tok_util_pieces_push(out, pc->off + v[i].s, v[i].e - v[i].s, MG_TOK_NONE,
                            pc->first && v[i].s == 0);
  }
}

static void bytelevel_map(const struct mg_tok_pre *p, struct mg_tok_str *arena,
                          size_t off, size_t len, int first,
                          struct mg_tok_pieces *out)
{
  size_t start;

  mg_tok_util_str_grow(arena, len * 2);
  start = arena->len;
  for (size_t i = 0; i < len; i++) {
    unsigned char b = (unsigned char)arena->p[off + i];
    memcpy(arena->p + arena->len, p->bmap[b], 2);
    arena->len += p->blen[b];
  }
  arena->p[arena->len] = '\0';
  mg_tok_util_pieces_push(out, start, arena->len - start, MG_TOK_NONE, first);
}

struct bl_ctx {
  const struct mg_tok_pre *p;
  struct mg_tok_str *arena;
  struct mg_tok_pieces *out;
  size_t base;
  size_t prev;
  int first;
};

static void bl_match(void *arg, size_t s, size_t e)
{
  struct bl_ctx *c = arg;

  if (c->prev != s)
    bytelevel_map(c->p, c->arena, c->base + c->prev, s - c->prev,
                  c->first && c->prev == 0, c->out);
  if (e > s)
    bytelevel_map(c->p, c->arena, c->base + s, e - s, c->first && s == 0,
                  c->out);
  c->prev = e;
}

static int split_piece(struct mg_tok_pre *p, struct mg_tok_str *arena,
                       const struct mg_tok_piece *in, struct mg_tok_pieces *out,
                       struct evs *x, struct mg_err *err)
{
  struct mg_tok_piece pc = *in;

  switch (p->kind) {
  case P_SEQ:
    MG_BUG("nested Sequence reached split_piece");
  case P_BYTELEVEL: {
    struct bl_ctx c = { p, arena, out, 0, 0, pc.first };

    if (p->add_prefix_space && arena->p[pc.off] != ' ') {
      size_t start;

      mg_tok_util_str_grow(arena, pc.len + 1);
      start = arena->len;
      arena->p[arena->len++] = ' ';
      mg_tok_str_add(arena, arena->p + pc.off, pc.len);
      pc.off = start;
      pc.len++;
    }
    if (!p->use_regex) {
      bytelevel_map(p, arena, pc.off, pc.len, pc.first, out);
      return 0;
    }
    /* the regex reads the arena that bl_match appends to: make room for
     * the whole result first (at most 2 bytes per byte), so it never moves */
    mg_tok_util_str_grow(arena, 2 * pc.len + 1);
    c.base = pc.off;
    if (mg_tok_pre_re_each(p->re, arena->p + pc.off, pc.len, bl_match, &c, err))
      return -1;
    if (c.prev != pc.len)
      bytelevel_map(p, arena, pc.off + c.prev, pc.len - c.prev,
                    pc.first && c.prev == 0, out);
    return 0;
  }
  case P_SPLIT:
    if (re_events(p->re, arena->p + pc.off, pc.len, x, err))
      return -1;
    emit_splits(x, p->behavior, p->invert, &pc, out);
    return 0;
  case P_WHITESPACE:
    if (re_events(p->re, arena->p + pc.off, pc.len, x, err))
      return -1;
    emit_splits(x, MG_TOK_REMOVED, 1, &pc, out);
    return 0;
  case P_METASPACE: {
    const char *s;
    size_t start;
    int pre;

    mg_tok_util_str_grow(arena, pc.len * p->ch_len + p->ch_len);
    start = arena->len;
    s = arena->p + pc.off;
    /* starts_with(replacement), checked after spaces became replacements */
    pre = s[0] != ' '
          && (pc.len < p->ch_len || memcmp(s, p->ch_s, p->ch_len) != 0);
    if (pre
        && (p->prepend == PREPEND_ALWAYS
            || (p->prepend == PREPEND_FIRST && pc.first))) {
      memcpy(arena->p + arena->len, p->ch_s, p->ch_len);
      arena->len += p->ch_len;
    }
    for (size_t i = 0; i < pc.len; i++) {
      if (arena->p[pc.off + i] == ' ') {
        memcpy(arena->p + arena->len, p->ch_s, p->ch_len);
        arena->len += p->ch_len;
      } else {
        arena->p[arena->len++] = arena->p[pc.off + i];
      }
    }
    arena->p[arena->len] = '\0';
    pc.off = start;
    pc.len = arena->len - start;
    if (!p->split) {
      mg_tok_util_pieces_push(out, pc.off, pc.len, MG_TOK_NONE, pc.first);
      return 0;
    }
    char_events(arena->p + pc.off, pc.len, pred_eq, p->ch, x);
    emit_splits(x, MG_TOK_MERGED_NEXT, 0, &pc, out);
    return 0;
  }
  case P_DIGITS:
    char_events(arena->p + pc.off, pc.len, pred_num, 0, x);
    emit_splits(x, p->individual ? MG_TOK_ISOLATED : MG_TOK_CONTIGUOUS, 0, &pc,
                out);
    return 0;
  case P_PUNCT:
    char_events(arena->p + pc.off, pc.len, pred_punct, 0, x);
    emit_splits(x, p->behavior, 0, &pc, out);
    return 0;
  case P_WSSPLIT:
    char_events(arena->p + pc.off, pc.len, pred_ws, 0, x);
    emit_splits(x, MG_TOK_REMOVED, 0, &pc, out);
    return 0;
  case P_CHARDELIM:
    char_events(arena->p + pc.off, pc.len, pred_eq, p->ch, x);
    emit_splits(x, MG_TOK_REMOVED, 0, &pc, out);
    return 0;
  case P_BERT:
    MG_BUG("BertPreTokenizer reached split_piece");
  }
  return 0;
}

static int apply_one(struct mg_tok_pre *p, struct mg_tok_str *arena,
                     struct mg_tok_pieces *ps, struct mg_tok_pieces *tmp,
                     struct evs *x, struct mg_err *err)
{
  struct mg_tok_pieces t;

  tmp->n = 0;
  for (size_t i = 0; i < ps->n; i++) {
    const struct mg_tok_piece *pc = &ps->v[i];

    if (pc->id != MG_TOK_NONE) {
      mg_tok_util_pieces_push(tmp, pc->off, pc->len, pc->id, pc->first);
      continue;
    }
    if (split_piece(p, arena, pc, tmp, x, err))
      return -1;
  }
  t = *ps;
  *ps = *tmp;
  *tmp = t;
  return 0;
}

static int apply(struct mg_tok_pre *p, struct mg_tok_str *arena,
                 struct mg_tok_pieces *ps, struct mg_tok_pieces *tmp,
                 struct evs *x, struct mg_err *err)
{
  if (p->kind == P_SEQ) {
    for (size_t i = 0; i < p->nsub; i++)
      if (apply(p->sub[i], arena, ps, tmp, x, err))
        return -1;
    return 0;
  }
  if (p->kind == P_BERT) {
    struct mg_tok_pre ws = { 0 }, pu = { 0 };

    ws.kind = P_WSSPLIT;
    pu.kind = P_PUNCT;
    pu.behavior = MG_TOK_ISOLATED;
    if (apply_one(&ws, arena, ps, tmp, x, err))
      return -1;
    return apply_one(&pu, arena, ps, tmp, x, err);
  }
  return apply_one(p, arena, ps, tmp, x, err);
}

int mg_tok_pre_apply(struct mg_tok_pre *p, struct mg_tok_str *arena,
                     struct mg_tok_pieces *ps, struct mg_tok_pieces *tmp,
                     struct mg_err *err)
{
  struct evs x = { 0 };
  int rc = apply(p, arena, ps, tmp, &x, err);

  free(x.v);
  return rc;
}
