#ifndef MG_TOK_INT_H
#define MG_TOK_INT_H

#include <stddef.h>
#include <stdint.h>

#include "mg_banned.h"
#include "mg_utf8.h"

struct mg_err;
struct mg_json;

/*
 * Internal interface between the tokenizer modules (mg_tok.c and
 * mg_tok_*.c). Not for tools: they use mg_tok.h.
 *
 * The pipeline mirrors the Hugging Face `tokenizers` crate: added tokens
 * are cut out first, every other piece is normalized, pre-tokenized into
 * smaller pieces, and each piece goes through the model. Offsets are not
 * tracked (nothing here reports them); where the reference consults an
 * original offset (Metaspace prepend_scheme "first") a piece carries a
 * flag saying that it starts at the beginning of the input.
 */

#define MG_TOK_NONE UINT32_MAX

/* A growable byte string; p is NULL until something is added. */
struct mg_tok_str {
  char *p;
  size_t len;
  size_t cap;
};

void mg_tok_util_str_grow(struct mg_tok_str *s, size_t extra);

/* Appends n bytes (inline: the hot path of every normalizer). */
static inline void mg_tok_str_add(struct mg_tok_str *s, const void *p, size_t n)
{
  if (s->len + n + 1 > s->cap)
    mg_tok_util_str_grow(s, n);
  if (n)
    memcpy(s->p + s->len, p, n);
  s->len += n;
  s->p[s->len] = '\0';
}

void mg_tok_util_str_addc(struct mg_tok_str *s, uint32_t cp);
void mg_tok_util_str_release(struct mg_tok_str *s);

/*
 * A piece of text during encoding: bytes [off, off + len) of the encode
 * arena. id is MG_TOK_NONE until the piece is an (added) token; first is
 * set when the piece starts at offset 0 of the original input.
 */
struct mg_tok_piece {
  size_t off;
  size_t len;
  uint32_t id;
  unsigned char first;
};

struct mg_tok_pieces {
  struct mg_tok_piece *v;
  size_t n;
  size_t cap;
};

void mg_tok_util_pieces_push(struct mg_tok_pieces *ps, size_t off, size_t len,
                             uint32_t id, int first);
void mg_tok_util_pieces_release(struct mg_tok_pieces *ps);

/* ---- UTF-8 and Unicode properties (mg_tok_util.c, via utf8proc) ----
 * Validation and encoding are core mg_utf8's; these are the tokenizer's
 * fast paths over text already known to be valid. */

/* Decodes one code point of valid UTF-8 at s (n > 0 bytes); *len gets its
 * byte length. */
uint32_t mg_tok_util_utf8_next(const char *s, size_t n, size_t *len);
/* Byte length of the UTF-8 character that starts with byte b. */
size_t mg_tok_util_utf8_clen(unsigned char b);
/* Start of the last character in s[0..n), n > 0. */
size_t mg_tok_util_utf8_last(const char *s, size_t n);
/* Appends s[0..n) decoded as Rust's String::from_utf8_lossy does: each
 * maximal invalid subsequence becomes one U+FFFD. */
void mg_tok_util_utf8_lossy(struct mg_tok_str *out, const char *s, size_t n);

/* Rust char predicates, from Unicode general categories. */
int mg_tok_util_is_whitespace(uint32_t cp); /* char::is_whitespace */
int mg_tok_util_is_numeric(uint32_t cp);    /* char::is_numeric (Nd Nl No) */
int mg_tok_util_is_punct(uint32_t cp);      /* ASCII punctuation or P* */
int mg_tok_util_is_other(uint32_t cp);      /* Cc Cf Co Cs */
int mg_tok_util_is_mn(uint32_t cp);         /* Mn */
int mg_tok_util_is_mark(uint32_t cp);       /* Mn Mc Me (is_combining_mark) */
int mg_tok_util_is_word(uint32_t cp);       /* regex \w: L M Nd Pc */
/* char::to_lowercase, appended to out. */
void mg_tok_util_lower(struct mg_tok_str *out, uint32_t cp);

/* Appends the normal form of s[0..n) (form: "NFC", "NFD", "NFKC" or
 * "NFKD"); s must be valid UTF-8. */
void mg_tok_util_unorm(struct mg_tok_str *out, const char *s, size_t n,
                       const char *form);

/* ---- hashing and the string -> id table ---- */

uint64_t mg_tok_util_hash(const void *p, size_t n);
/* First occurrence of needle (nn > 0 bytes) in hay, or NULL. */
const char *mg_tok_util_find(const char *hay, size_t hn, const char *needle,
                             size_t nn);

/*
 * The vocabulary: token strings stored back to back in one block, found by
 * id (by_id) and by string (open addressing over entries). Ids need not be
 * dense.
 */
struct mg_tok_vocab_ent {
  uint32_t off;
  uint32_t len;
  uint32_t id;
};

struct mg_tok_vocab {
  char *str; /* all token bytes */
  size_t str_len;
  size_t str_cap;
  struct mg_tok_vocab_ent *ent; /* entries in insertion order */
  uint32_t count;               /* number of entries (the "vocab size") */
  uint32_t ent_cap;
  uint32_t *by_id; /* entry index per id, MG_TOK_NONE if none */
  uint32_t nids;
  uint32_t *slots; /* hash table of entry indexes */
  uint32_t mask;
};

void mg_tok_util_vocab_init(struct mg_tok_vocab *v, size_t expect);
void mg_tok_util_vocab_release(struct mg_tok_vocab *v);
/* Adds s -> id; a string already present is mapped to the new id. */
void mg_tok_util_vocab_add(struct mg_tok_vocab *v, const char *s, size_t n,
                           uint32_t id);
uint32_t mg_tok_util_vocab_get(const struct mg_tok_vocab *v, const char *s,
                               size_t n);
/* Borrowed; NULL for an unknown id. */
const char *mg_tok_util_vocab_str(const struct mg_tok_vocab *v, uint32_t id,
                                  size_t *len);

/* ---- regexes (mg_tok_pre.c, via PCRE2) ---- */

struct mg_tok_re;

enum mg_tok_re_kind {
  MG_TOK_RE_ONIG,    /* a pattern for Oniguruma, as tokenizer.json holds */
  MG_TOK_RE_LITERAL, /* plain text */
  MG_TOK_RE_PCRE,    /* a PCRE2 pattern, used as is */
};

/*
 * Compiles a pattern with PCRE2 (UTF, Unicode properties), JIT-compiled
 * when possible. where names the file in messages.
 */
int mg_tok_pre_re_new(const char *pat, size_t n, int kind, const char *where,
                      struct mg_tok_re **out, struct mg_err *err);
void mg_tok_pre_re_free(struct mg_tok_re *re);

/*
 * All matches in s[0..n) the way the onig crate's find_iter yields them
 * (an empty match right after the previous match is skipped). Calls fn for
 * each; returns -1 only if PCRE2 reports an error (err filled).
 */
int mg_tok_pre_re_each(struct mg_tok_re *re, const char *s, size_t n,
                       void (*fn)(void *arg, size_t start, size_t end),
                       void *arg, struct mg_err *err);

/* ---- components; each parser names the tokenizer file in messages ---- */

struct mg_tok_norm;
struct mg_tok_pre;
struct mg_tok_model;
struct mg_tok_dec;

int mg_tok_norm_parse(const struct mg_json *j, const char *path,
                      struct mg_tok_norm **out, struct mg_err *err);
void mg_tok_norm_free(struct mg_tok_norm *n);
/* Appends the normalized form of s[0..n) to out (out must not hold s). */
int mg_tok_norm_apply(struct mg_tok_norm *nm, const char *s, size_t n,
                      struct mg_tok_str *out, struct mg_err *err);

int mg_tok_pre_parse(const struct mg_json *j, const char *path,
                     struct mg_tok_pre **out, struct mg_err *err);
void mg_tok_pre_free(struct mg_tok_pre *p);
/*
 * Splits every piece of *ps that has no id. New text is appended to
 * arena; *ps is replaced by the result (tmp is scratch space).
 */
int mg_tok_pre_apply(struct mg_tok_pre *p, struct mg_tok_str *arena,
                     struct mg_tok_pieces *ps, struct mg_tok_pieces *tmp,
                     struct mg_err *err);

int mg_tok_model_parse(const struct mg_json *j, const char *path,
                       struct mg_tok_model **out, struct mg_err *err);
void mg_tok_model_free(struct mg_tok_model *m);
const struct mg_tok_vocab *mg_tok_model_vocab(const struct mg_tok_model *m);
/* Appends the ids of one pre-token to ids; -1 only for a word that
 * WordLevel does not know when it has no unk_token. */
int mg_tok_model_tokenize(struct mg_tok_model *m, const char *s, size_t n,
                          uint32_t **ids, size_t *nids, size_t *cap);
size_t mg_tok_model_memory(const struct mg_tok_model *m);

/* A list of strings for the decoders: item i is text[off[i], off[i+1]). */
struct mg_tok_list {
  struct mg_tok_str text;
  size_t *off;
  size_t n;
  size_t cap;
};
void mg_tok_util_list_push(struct mg_tok_list *l, const char *s, size_t n);
/* Closes an item built directly in l->text. */
void mg_tok_util_list_close(struct mg_tok_list *l);
void mg_tok_util_list_reset(struct mg_tok_list *l);
void mg_tok_util_list_release(struct mg_tok_list *l);

int mg_tok_dec_parse(const struct mg_json *j, const char *path,
                     struct mg_tok_dec **out, struct mg_err *err);
void mg_tok_dec_free(struct mg_tok_dec *d);
/* Runs the decoder chain over *l (replaced), then joins into out. */
int mg_tok_dec_apply(struct mg_tok_dec *d, struct mg_tok_list *l,
                     struct mg_tok_str *out, struct mg_err *err);

/* The GPT-2 byte <-> unicode table (bytes_to_unicode). */
uint32_t mg_tok_util_byte_char(unsigned char b);
/* Byte for a code point of that table, or -1. */
int mg_tok_util_char_byte(uint32_t cp);

/* Split behaviours shared by pre-tokenizers. */
enum mg_tok_behavior {
  MG_TOK_REMOVED,
  MG_TOK_ISOLATED,
  MG_TOK_MERGED_PREV,
  MG_TOK_MERGED_NEXT,
  MG_TOK_CONTIGUOUS,
};

#endif
