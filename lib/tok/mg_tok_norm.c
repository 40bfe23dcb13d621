/*
 * Tokenizer normalizers: the "normalizer" object of tokenizer.json. Each
 * one maps a string to a string, as the reference does (without tracking
 * alignments, which nothing here reports).
 */
#include "tok/mg_tok_int.h"

#include <stdlib.h>
#include <string.h>

#include "mg_err.h"
#include "mg_json.h"
#include "mg_mem.h"

enum norm_kind {
  N_SEQ,
  N_NFC,
  N_NFD,
  N_NFKC,
  N_NFKD,
  N_LOWER,
  N_STRIP,
  N_STRIP_ACCENTS,
  N_REPLACE,
  N_PREPEND,
  N_BERT,
  N_BYTELEVEL,
};

struct mg_tok_norm {
  enum norm_kind kind;
  struct mg_tok_norm **sub; /* Sequence */
  size_t nsub;
  char *a; /* Replace: literal pattern; Prepend: text */
  size_t alen;
  char *b; /* Replace: content */
  size_t blen;
  struct mg_tok_re *re;               /* Replace with a Regex pattern */
  int left, right;                    /* Strip */
  int clean, chinese, accents, lower; /* BertNormalizer */
};

void mg_tok_norm_free(struct mg_tok_norm *n)
{
  if (!n)
    return;
  for (size_t i = 0; i < n->nsub; i++)
    mg_tok_norm_free(n->sub[i]);
  free(n->sub);
  free(n->a);
  free(n->b);
  mg_tok_pre_re_free(n->re);
  free(n);
}

static int opt_bool(const struct mg_json *j, const char *key, int def,
                    const char *path, int *out, struct mg_err *err)
{
  if (mg_json_opt_bool(j, key, "normalizer", def, out, err))
    return mg_err_prefix(err, "'%s'", path);
  return 0;
}

/* A Replace pattern: {"String": s} or {"Regex": r}. */
static int parse_pattern(const struct mg_json *j, const char *what,
                         const char *path, const char **s, size_t *n,
                         int *regex, struct mg_err *err)
{
  const struct mg_json *p = mg_json_get(j, "pattern");
  const struct mg_json *v;

  if ((v = mg_json_get(p, "String")) && mg_json_is_string(v)) {
    *regex = 0;
  } else if ((v = mg_json_get(p, "Regex")) && mg_json_is_string(v)) {
    *regex = 1;
  } else {
    return mg_err_set(err, MG_ERR_DATA,
                      "bad pattern of %s in '%s': expected {\"String\": ...} "
                      "or {\"Regex\": ...}",
                      what, path);
  }
  *s = mg_json_string(v);
  *n = mg_json_string_len(v);
  return 0;
}

int mg_tok_norm_parse(const struct mg_json *j, const char *path,
                      struct mg_tok_norm **out, struct mg_err *err)
{
  struct mg_tok_norm *n;
  const char *type = mg_json_string(mg_json_get(j, "type"));
  const struct mg_json *v;

  *out = NULL;
  if (!type)
    return mg_err_set(err, MG_ERR_DATA, "normalizer without a type in '%s'",
                      path);
  n = mg_xcalloc(1, sizeof(*n));
  if (!strcmp(type, "Sequence")) {
    const struct mg_json *arr = mg_json_get(j, "normalizers");
    n->kind = N_SEQ;
    if (!mg_json_is_array(arr)) {
      mg_err_set(err, MG_ERR_DATA,
                 "normalizer 'Sequence' without 'normalizers' in '%s'", path);
      goto fail;
    }
    n->sub = mg_xcalloc(mg_json_size(arr) + 1, sizeof(*n->sub));
    for (v = mg_json_first(arr); v; v = mg_json_next(v))
      if (mg_tok_norm_parse(v, path, &n->sub[n->nsub++], err))
        goto fail;
  } else if (!strcmp(type, "NFC")) {
    n->kind = N_NFC;
  } else if (!strcmp(type, "NFD")) {
    n->kind = N_NFD;
  } else if (!strcmp(type, "NFKC")) {
    n->kind = N_NFKC;
  } else if (!strcmp(type, "NFKD")) {
    n->kind = N_NFKD;
  } else if (!strcmp(type, "Lowercase")) {
    n->kind = N_LOWER;
  } else if (!strcmp(type, "StripAccents")) {
    n->kind = N_STRIP_ACCENTS;
  } else if (!strcmp(type, "ByteLevel")) {
    n->kind = N_BYTELEVEL;
  } else if (!strcmp(type, "Strip")) {
    n->kind = N_STRIP;
    if (opt_bool(j, "strip_left", 1, path, &n->left, err)
        || opt_bool(j, "strip_right", 1, path, &n->right, err))
      goto fail;
  } else if (!strcmp(type, "Prepend")) {
    n->kind = N_PREPEND;
    v = mg_json_get(j, "prepend");
    if (!mg_json_is_string(v)) {
      mg_err_set(err, MG_ERR_DATA,
                 "normalizer 'Prepend' without 'prepend' in '%s'", path);
      goto fail;
    }
    n->alen = mg_json_string_len(v);
    n->a = mg_xmemdup(mg_json_string(v), n->alen);
  } else if (!strcmp(type, "Replace")) {
    const char *pat = NULL;
    size_t plen = 0;
    int regex = 0;

    n->kind = N_REPLACE;
    if (parse_pattern(j, "normalizer 'Replace'", path, &pat, &plen, &regex,
                      err))
      goto fail;
    v = mg_json_get(j, "content");
    if (!mg_json_is_string(v)) {
      mg_err_set(err, MG_ERR_DATA,
                 "normalizer 'Replace' without 'content' in '%s'", path);
      goto fail;
    }
    n->blen = mg_json_string_len(v);
    n->b = mg_xmemdup(mg_json_string(v), n->blen);
    if (regex || plen == 0) {
      if (mg_tok_pre_re_new(pat, plen,
                            regex ? MG_TOK_RE_ONIG : MG_TOK_RE_LITERAL, path,
                            &n->re, err))
        goto fail;
    } else {
      n->a = mg_xstrndup(pat, plen);
      n->alen = plen;
    }
  } else if (!strcmp(type, "BertNormalizer")) {
    const struct mg_json *sa = mg_json_get(j, "strip_accents");

    n->kind = N_BERT;
    if (opt_bool(j, "clean_text", 1, path, &n->clean, err)
        || opt_bool(j, "handle_chinese_chars", 1, path, &n->chinese, err)
        || opt_bool(j, "lowercase", 1, path, &n->lower, err))
      goto fail;
    /* strip_accents: null follows lowercase */
    n->accents = mg_json_is_bool(sa) ? mg_json_bool(sa) : n->lower;
  } else {
    mg_err_set(err, MG_ERR_DATA, "unsupported normalizer '%s' in '%s'", type,
               path);
    goto fail;
  }
  *out = n;
  return 0;
fail:
  mg_tok_norm_free(n);
  return -1;
}

static int is_chinese(uint32_t c)
{
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF)
         || (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F)
         || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF)
         || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

struct repl_ctx {
  struct mg_tok_str *out;
  const struct mg_tok_norm *nm;
  const char *s;
  size_t last;
};

static void repl_match(void *arg, size_t start, size_t end)
{
  struct repl_ctx *c = arg;

  mg_tok_str_add(c->out, c->s + c->last, start - c->last);
  mg_tok_str_add(c->out, c->nm->b, c->nm->blen);
  c->last = end;
}

static int apply_replace(const struct mg_tok_norm *nm, const char *s, size_t n,
                         struct mg_tok_str *out, struct mg_err *err)
{
  if (nm->re) {
    struct repl_ctx c = { out, nm, s, 0 };
    if (mg_tok_pre_re_each(nm->re, s, n, repl_match, &c, err))
      return -1;
    mg_tok_str_add(out, s + c.last, n - c.last);
    return 0;
  }
  for (size_t i = 0; i < n;) {
    const char *hit = mg_tok_util_find(s + i, n - i, nm->a, nm->alen);
    if (!hit) {
      mg_tok_str_add(out, s + i, n - i);
      break;
    }
    mg_tok_str_add(out, s + i, (size_t)(hit - (s + i)));
    mg_tok_str_add(out, nm->b, nm->blen);
    i = (size_t)(hit - s) + nm->alen;
  }
  return 0;
}

static void apply_strip(const struct mg_tok_norm *nm, const char *s, size_t n,
                        struct mg_tok_str *out)
{
  size_t a = 0, b = n, l;

  while (nm->left && a < b
         && mg_tok_util_is_whitespace(mg_tok_util_utf8_next(s + a, b - a, &l)))
    a += l;
  while (nm->right && b > a) {
    size_t st = mg_tok_util_utf8_last(s + a, b - a) + a;
    if (!mg_tok_util_is_whitespace(mg_tok_util_utf8_next(s + st, b - st, &l)))
      break;
    b = st;
  }
  mg_tok_str_add(out, s + a, b - a);
}

/* Drops Mn characters (BertNormalizer) or all marks (StripAccents). */
static void drop_marks(const char *s, size_t n, int all, struct mg_tok_str *out)
{
  for (size_t i = 0, l; i < n; i += l) {
    uint32_t c;

    if ((unsigned char)s[i] < 0x80) {
      for (l = 1; i + l < n && (unsigned char)s[i + l] < 0x80; l++)
        ;
      mg_tok_str_add(out, s + i, l);
      continue;
    }
    c = mg_tok_util_utf8_next(s + i, n - i, &l);
    if (!(all ? mg_tok_util_is_mark(c) : mg_tok_util_is_mn(c)))
      mg_tok_str_add(out, s + i, l);
  }
}

static void lower_all(const char *s, size_t n, struct mg_tok_str *out)
{
  for (size_t i = 0, l; i < n; i += l) {
    unsigned char b = (unsigned char)s[i];

    if (b < 0x80) {
      char *d;

      for (l = 1; i + l < n && (unsigned char)s[i + l] < 0x80; l++)
        ;
      mg_tok_util_str_grow(out, l);
      d = out->p + out->len;
      for (size_t k = 0; k < l; k++)
        d[k] = (char)(s[i + k] >= 'A' && s[i + k] <= 'Z' ? s[i + k] + 32
                                                         : s[i + k]);
      out->len += l;
      out->p[out->len] = '\0';
      continue;
    }
    mg_tok_util_lower(out, mg_tok_util_utf8_next(s + i, n - i, &l));
  }
}

static void apply_bert(const struct mg_tok_norm *nm, const char *s, size_t n,
                       struct mg_tok_str *out)
{
  struct mg_tok_str a = { 0 }, b = { 0 };
  struct mg_tok_str *cur = &a;

  mg_tok_util_str_grow(&a, n);
  for (size_t i = 0, l; i < n; i += l) {
    uint32_t c;

    /* printable ASCII (space stays a space) passes every step unchanged */
    if ((unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7F) {
      for (l = 1; i + l < n && (unsigned char)s[i + l] >= 0x20
                  && (unsigned char)s[i + l] < 0x7F;
           l++)
        ;
      mg_tok_str_add(&a, s + i, l);
      continue;
    }
    c = mg_tok_util_utf8_next(s + i, n - i, &l);
    if (nm->clean) {
      int keep_ctl = c == '\t' || c == '\n' || c == '\r';
      if (c == 0 || c == 0xFFFD || (!keep_ctl && mg_tok_util_is_other(c)))
        continue;
      if (keep_ctl || mg_tok_util_is_whitespace(c)) {
        mg_tok_str_add(&a, " ", 1);
        continue;
      }
    }
    if (nm->chinese && is_chinese(c)) {
      mg_tok_str_add(&a, " ", 1);
      mg_tok_str_add(&a, s + i, l);
      mg_tok_str_add(&a, " ", 1);
      continue;
    }
    mg_tok_str_add(&a, s + i, l);
  }
  if (nm->accents) {
    b.len = 0;
    mg_tok_util_unorm(&b, a.p, a.len, "NFD");
    a.len = 0;
    mg_tok_util_str_grow(&a, b.len);
    drop_marks(b.p, b.len, 0, &a);
  }
  if (nm->lower) {
    b.len = 0;
    lower_all(a.p, a.len, &b);
    cur = &b;
  }
  mg_tok_str_add(out, cur->p, cur->len);
  mg_tok_util_str_release(&a);
  mg_tok_util_str_release(&b);
}

int mg_tok_norm_apply(struct mg_tok_norm *nm, const char *s, size_t n,
                      struct mg_tok_str *out, struct mg_err *err)
{
  switch (nm->kind) {
  case N_SEQ: {
    struct mg_tok_str t[2] = { { 0 }, { 0 } };
    const char *in = s;
    size_t inlen = n;
    int k = 0, rc = 0;

    for (size_t i = 0; i < nm->nsub; i++) {
      t[k].len = 0;
      mg_tok_util_str_grow(&t[k], inlen);
      rc = mg_tok_norm_apply(nm->sub[i], in, inlen, &t[k], err);
      if (rc)
        break;
      in = t[k].p;
      inlen = t[k].len;
      k ^= 1;
    }
    if (!rc)
      mg_tok_str_add(out, in, inlen);
    mg_tok_util_str_release(&t[0]);
    mg_tok_util_str_release(&t[1]);
    return rc;
  }
  case N_NFC:
    mg_tok_util_unorm(out, s, n, "NFC");
    return 0;
  case N_NFD:
    mg_tok_util_unorm(out, s, n, "NFD");
    return 0;
  case N_NFKC:
    mg_tok_util_unorm(out, s, n, "NFKC");
    return 0;
  case N_NFKD:
    mg_tok_util_unorm(out, s, n, "NFKD");
    return 0;
  case N_LOWER:
    lower_all(s, n, out);
    return 0;
  case N_STRIP:
    apply_strip(nm, s, n, out);
    return 0;
  case N_STRIP_ACCENTS:
    drop_marks(s, n, 1, out);
    return 0;
  case N_REPLACE:
    return apply_replace(nm, s, n, out, err);
  case N_PREPEND:
    if (n)
      mg_tok_str_add(out, nm->a, nm->alen);
    mg_tok_str_add(out, s, n);
    return 0;
  case N_BERT:
    apply_bert(nm, s, n, out);
    return 0;
  case N_BYTELEVEL:
    for (size_t i = 0; i < n; i++)
      mg_tok_util_str_addc(out, mg_tok_util_byte_char((unsigned char)s[i]));
    return 0;
  }
  return 0;
}
