/*
 * Tokenizer decoders (the "decoder" object of tokenizer.json). Each works
 * on a list of token strings, as the reference's decode_chain does, and the
 * result is joined at the end.
 */
#include "tok/mg_tok_int.h"

#include <stdlib.h>
#include <string.h>

#include "mg_digest.h"
#include "mg_err.h"
#include "mg_json.h"
#include "mg_mem.h"

enum dec_kind {
  D_SEQ,
  D_BYTELEVEL,
  D_REPLACE,
  D_BYTEFALLBACK,
  D_FUSE,
  D_STRIP,
  D_METASPACE,
  D_WORDPIECE,
  D_BPE,
};

struct mg_tok_dec {
  enum dec_kind kind;
  struct mg_tok_dec **sub;
  size_t nsub;
  char *a; /* Replace: literal pattern; WordPiece: prefix; BPE: suffix */
  size_t alen;
  char *b; /* Replace: content */
  size_t blen;
  struct mg_tok_re *re;
  uint32_t ch; /* Strip: content; Metaspace: replacement */
  size_t start, stop;
  int cleanup;
  int never; /* Metaspace prepend_scheme "never" */
};

void mg_tok_dec_free(struct mg_tok_dec *d)
{
  if (!d)
    return;
  for (size_t i = 0; i < d->nsub; i++)
    mg_tok_dec_free(d->sub[i]);
  free(d->sub);
  free(d->a);
  free(d->b);
  mg_tok_pre_re_free(d->re);
  free(d);
}

static int get_str(const struct mg_json *j, const char *key, const char *def,
                   const char *path, char **out, size_t *len,
                   struct mg_err *err)
{
  const struct mg_json *v = mg_json_get(j, key);

  if (mg_json_is_string(v)) {
    *len = mg_json_string_len(v);
    *out = mg_xmemdup(mg_json_string(v), *len);
    return 0;
  }
  if (!def || (v && !mg_json_is_null(v)))
    return mg_err_set(err, MG_ERR_DATA,
                      "decoder field '%s' in '%s' is missing or not a string",
                      key, path);
  *len = strlen(def);
  *out = mg_xstrdup(def);
  return 0;
}

static int get_char(const struct mg_json *j, const char *key, const char *def,
                    const char *path, uint32_t *out, struct mg_err *err)
{
  char *s;
  size_t n, l;
  int rc = 0;

  if (get_str(j, key, def, path, &s, &n, err))
    return -1;
  if (n == 0 || mg_tok_util_utf8_clen((unsigned char)s[0]) != n)
    rc = mg_err_set(err, MG_ERR_DATA,
                    "decoder field '%s' in '%s' is not one character", key,
                    path);
  else
    *out = mg_tok_util_utf8_next(s, n, &l);
  free(s);
  return rc;
}

static int get_size(const struct mg_json *j, const char *key, size_t *out)
{
  const struct mg_json *v = mg_json_get(j, key);

  *out = 0;
  if (mg_json_is_number(v) && mg_json_number(v) > 0)
    *out = (size_t)mg_json_number(v);
  return 0;
}

int mg_tok_dec_parse(const struct mg_json *j, const char *path,
                     struct mg_tok_dec **out, struct mg_err *err)
{
  struct mg_tok_dec *d;
  const char *type = mg_json_string(mg_json_get(j, "type"));
  const struct mg_json *v;
  int rc = 0;

  *out = NULL;
  if (!type)
    return mg_err_set(err, MG_ERR_DATA, "decoder without a type in '%s'", path);
  d = mg_xcalloc(1, sizeof(*d));
  if (!strcmp(type, "Sequence")) {
    const struct mg_json *arr = mg_json_get(j, "decoders");

    d->kind = D_SEQ;
    if (!mg_json_is_array(arr)) {
      rc = mg_err_set(err, MG_ERR_DATA,
                      "decoder 'Sequence' without 'decoders' in '%s'", path);
      goto out;
    }
    d->sub = mg_xcalloc(mg_json_size(arr) + 1, sizeof(*d->sub));
    for (v = mg_json_first(arr); v && !rc; v = mg_json_next(v))
      rc = mg_tok_dec_parse(v, path, &d->sub[d->nsub++], err);
  } else if (!strcmp(type, "ByteLevel")) {
    d->kind = D_BYTELEVEL;
  } else if (!strcmp(type, "ByteFallback")) {
    d->kind = D_BYTEFALLBACK;
  } else if (!strcmp(type, "Fuse")) {
    d->kind = D_FUSE;
  } else if (!strcmp(type, "Strip")) {
    d->kind = D_STRIP;
    rc = get_char(j, "content", " ", path, &d->ch, err)
                 || get_size(j, "start", &d->start)
                 || get_size(j, "stop", &d->stop)
             ? -1
             : 0;
  } else if (!strcmp(type, "Replace")) {
    const struct mg_json *pat = mg_json_get(j, "pattern");
    const struct mg_json *s;

    d->kind = D_REPLACE;
    rc = get_str(j, "content", NULL, path, &d->b, &d->blen, err);
    if (rc)
      goto out;
    if ((s = mg_json_get(pat, "String")) && mg_json_is_string(s)
        && mg_json_string_len(s) > 0) {
      d->alen = mg_json_string_len(s);
      d->a = mg_xmemdup(mg_json_string(s), d->alen);
    } else if ((s = mg_json_get(pat, "Regex")) && mg_json_is_string(s)) {
      rc = mg_tok_pre_re_new(mg_json_string(s), mg_json_string_len(s),
                             MG_TOK_RE_ONIG, path, &d->re, err);
    } else if (s && mg_json_is_string(s)) {
      rc = mg_tok_pre_re_new("", 0, MG_TOK_RE_LITERAL, path, &d->re, err);
    } else {
      rc = mg_err_set(err, MG_ERR_DATA,
                      "decoder 'Replace' without a String or Regex pattern "
                      "in '%s'",
                      path);
    }
  } else if (!strcmp(type, "Metaspace")) {
    const char *scheme = mg_json_string(mg_json_get(j, "prepend_scheme"));
    int aps = 1;

    d->kind = D_METASPACE;
    rc = get_char(j, "replacement", "\xE2\x96\x81", path, &d->ch, err)
                 || mg_json_opt_bool(j, "add_prefix_space", "decoder", 1, &aps,
                                     err)
             ? -1
             : 0;
    d->never = scheme ? !strcmp(scheme, "never") : !aps;
  } else if (!strcmp(type, "WordPiece")) {
    d->kind = D_WORDPIECE;
    rc = get_str(j, "prefix", "##", path, &d->a, &d->alen, err)
                 || mg_json_opt_bool(j, "cleanup", "decoder", 1, &d->cleanup,
                                     err)
             ? -1
             : 0;
  } else if (!strcmp(type, "BPEDecoder")) {
    d->kind = D_BPE;
    rc = get_str(j, "suffix", "</w>", path, &d->a, &d->alen, err);
  } else {
    rc = mg_err_set(err, MG_ERR_DATA, "unsupported decoder '%s' in '%s'", type,
                    path);
  }
out:
  if (rc) {
    mg_tok_dec_free(d);
    return -1;
  }
  *out = d;
  return 0;
}

/* ---- decoding ---- */

#define ITEM(l, i) ((l)->text.p + (l)->off[i])
#define ILEN(l, i) ((l)->off[(i) + 1] - (l)->off[i])

/* Appends s[0..n) with every literal occurrence of pat replaced. */
static void replace_lit(struct mg_tok_str *o, const char *s, size_t n,
                        const char *pat, size_t pn, const char *with, size_t wn)
{
  for (size_t i = 0; i < n;) {
    const char *hit = mg_tok_util_find(s + i, n - i, pat, pn);

    if (!hit) {
      mg_tok_str_add(o, s + i, n - i);
      return;
    }
    mg_tok_str_add(o, s + i, (size_t)(hit - (s + i)));
    mg_tok_str_add(o, with, wn);
    i = (size_t)(hit - s) + pn;
  }
}

struct rctx {
  struct mg_tok_str *o;
  const char *s;
  const struct mg_tok_dec *d;
  size_t last;
};

static void rmatch(void *arg, size_t start, size_t end)
{
  struct rctx *c = arg;

  mg_tok_str_add(c->o, c->s + c->last, start - c->last);
  mg_tok_str_add(c->o, c->d->b, c->d->blen);
  c->last = end;
}

/* WordPiece's cleanup(): the fixed list of replacements, in order. */
static void wp_cleanup(struct mg_tok_str *s)
{
  static const char *const rules[][2] = {
    { " .", "." },     { " ?", "?" },           { " !", "!" },
    { " ,", "," },     { " ' ", "'" },          { " n't", "n't" },
    { " 'm", "'m" },   { " do not", " don't" }, { " 's", "'s" },
    { " 've", "'ve" }, { " 're", "'re" },
  };
  struct mg_tok_str t = { 0 };

  for (size_t r = 0; r < sizeof(rules) / sizeof(rules[0]); r++) {
    if (!s->len
        || !mg_tok_util_find(s->p, s->len, rules[r][0], strlen(rules[r][0])))
      continue;
    t.len = 0;
    replace_lit(&t, s->p, s->len, rules[r][0], strlen(rules[r][0]), rules[r][1],
                strlen(rules[r][1]));
    s->len = 0;
    mg_tok_str_add(s, t.p, t.len);
  }
  mg_tok_util_str_release(&t);
}

/* "<0xNN>" as u8::from_str_radix reads the two characters, or -1. */
static int byte_token(const char *s, size_t n)
{
  int hi, lo;

  if (n != 6 || memcmp(s, "<0x", 3) || s[5] != '>')
    return -1;
  if (s[3] == '+') {
    lo = mg_digest_hexval(s[4]);
    return lo;
  }
  hi = mg_digest_hexval(s[3]);
  lo = mg_digest_hexval(s[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

static void flush_bytes(struct mg_tok_list *out, struct mg_tok_str *bytes)
{
  if (!bytes->len)
    return;
  if (mg_utf8_valid(bytes->p, bytes->len)) {
    mg_tok_util_list_push(out, bytes->p, bytes->len);
  } else {
    for (size_t i = 0; i < bytes->len; i++)
      mg_tok_util_list_push(out, "\xEF\xBF\xBD", 3);
  }
  bytes->len = 0;
}

static int decode_chain(struct mg_tok_dec *d, const struct mg_tok_list *in,
                        struct mg_tok_list *out, struct mg_err *err)
{
  mg_tok_util_list_reset(out);
  switch (d->kind) {
  case D_SEQ:
    MG_BUG("Sequence reached decode_chain");
  case D_BYTELEVEL: {
    struct mg_tok_str raw = { 0 };

    for (size_t i = 0; i < in->n; i++) {
      const char *s = ITEM(in, i);
      size_t n = ILEN(in, i), l, start = raw.len;

      for (size_t k = 0; k < n; k += l) {
        int b = mg_tok_util_char_byte(mg_tok_util_utf8_next(s + k, n - k, &l));
        if (b < 0) {
          raw.len = start;
          mg_tok_str_add(&raw, s, n);
          break;
        }
        {
          char c = (char)b;
          mg_tok_str_add(&raw, &c, 1);
        }
      }
    }
    mg_tok_util_utf8_lossy(&out->text, raw.p ? raw.p : "", raw.len);
    mg_tok_util_list_close(out);
    mg_tok_util_str_release(&raw);
    return 0;
  }
  case D_REPLACE:
    for (size_t i = 0; i < in->n; i++) {
      if (d->re) {
        struct rctx c = { &out->text, ITEM(in, i), d, 0 };
        if (mg_tok_pre_re_each(d->re, ITEM(in, i), ILEN(in, i), rmatch, &c,
                               err))
          return -1;
        mg_tok_str_add(&out->text, ITEM(in, i) + c.last, ILEN(in, i) - c.last);
      } else {
        replace_lit(&out->text, ITEM(in, i), ILEN(in, i), d->a, d->alen, d->b,
                    d->blen);
      }
      mg_tok_util_list_close(out);
    }
    return 0;
  case D_BYTEFALLBACK: {
    struct mg_tok_str bytes = { 0 };

    for (size_t i = 0; i < in->n; i++) {
      int b = byte_token(ITEM(in, i), ILEN(in, i));
      if (b >= 0) {
        char c = (char)b;
        mg_tok_str_add(&bytes, &c, 1);
        continue;
      }
      flush_bytes(out, &bytes);
      mg_tok_util_list_push(out, ITEM(in, i), ILEN(in, i));
    }
    flush_bytes(out, &bytes);
    mg_tok_util_str_release(&bytes);
    return 0;
  }
  case D_FUSE:
    mg_tok_str_add(&out->text, in->n ? in->text.p : "",
                   in->n ? in->off[in->n] : 0);
    mg_tok_util_list_close(out);
    return 0;
  case D_STRIP:
    for (size_t i = 0; i < in->n; i++) {
      const char *s = ITEM(in, i);
      size_t n = ILEN(in, i), a = 0, b = n, l;

      for (size_t k = 0; k < d->start && a < n; k++) {
        if (mg_tok_util_utf8_next(s + a, n - a, &l) != d->ch)
          break;
        a += l;
      }
      for (size_t k = 0; k < d->stop && b > a; k++) {
        size_t st = mg_tok_util_utf8_last(s, b);
        if (mg_tok_util_utf8_next(s + st, b - st, &l) != d->ch)
          break;
        b = st;
      }
      mg_tok_util_list_push(out, s + a, b - a);
    }
    return 0;
  case D_METASPACE:
    for (size_t i = 0; i < in->n; i++) {
      const char *s = ITEM(in, i);
      size_t n = ILEN(in, i), l;

      for (size_t k = 0; k < n; k += l) {
        uint32_t c = mg_tok_util_utf8_next(s + k, n - k, &l);
        if (c != d->ch)
          mg_tok_str_add(&out->text, s + k, l);
        else if (i != 0 || d->never)
          mg_tok_str_add(&out->text, " ", 1);
      }
      mg_tok_util_list_close(out);
    }
    return 0;
  case D_WORDPIECE: {
    struct mg_tok_str t = { 0 };

    for (size_t i = 0; i < in->n; i++) {
      const char *s = ITEM(in, i);
      size_t n = ILEN(in, i);

      t.len = 0;
      if (i != 0) {
        if (n >= d->alen && !memcmp(s, d->a, d->alen)) {
          s += d->alen;
          n -= d->alen;
        } else {
          mg_tok_str_add(&t, " ", 1);
        }
      }
      mg_tok_str_add(&t, s, n);
      if (d->cleanup)
        wp_cleanup(&t);
      mg_tok_util_list_push(out, t.p, t.len);
    }
    mg_tok_util_str_release(&t);
    return 0;
  }
  case D_BPE:
    for (size_t i = 0; i < in->n; i++) {
      const char *with = i + 1 == in->n ? "" : " ";
      replace_lit(&out->text, ITEM(in, i), ILEN(in, i), d->a, d->alen, with,
                  strlen(with));
      mg_tok_util_list_close(out);
    }
    return 0;
  }
  return 0;
}

static int run(struct mg_tok_dec *d, struct mg_tok_list *l,
               struct mg_tok_list *tmp, struct mg_err *err)
{
  struct mg_tok_list t;

  if (d->kind == D_SEQ) {
    for (size_t i = 0; i < d->nsub; i++)
      if (run(d->sub[i], l, tmp, err))
        return -1;
    return 0;
  }
  if (decode_chain(d, l, tmp, err))
    return -1;
  t = *l;
  *l = *tmp;
  *tmp = t;
  return 0;
}

int mg_tok_dec_apply(struct mg_tok_dec *d, struct mg_tok_list *l,
                     struct mg_tok_str *out, struct mg_err *err)
{
  struct mg_tok_list tmp = { 0 };
  int rc = 0;

  if (d)
    rc = run(d, l, &tmp, err);
  if (!rc && l->n)
    mg_tok_str_add(out, l->text.p, l->off[l->n]);
  mg_tok_util_list_release(&tmp);
  return rc;
}
