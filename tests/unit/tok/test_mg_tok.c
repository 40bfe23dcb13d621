/*
 * The tokenizer against the golden encodings of the Rust reference:
 * every line of ../shared/data/tokenizers/<name>/golden.jsonl must give
 * the same ids, tokens, decoded and decoded_skip_special.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mg_buf.h"
#include "mg_digest.h"
#include "mg_err.h"
#include "mg_io.h"
#include "mg_json.h"
#include "mg_mem.h"
#include "tok/mg_tok.h"

static char *shared_path(const char *rel)
{
  const char *sh = getenv("MG_SHARED");
  const char *top = getenv("MG_TOP");

  if (sh && *sh)
    return mg_xasprintf("%s/%s", sh, rel);
  return mg_xasprintf("%s/../shared/%s", top && *top ? top : ".", rel);
}

static int str_eq(const struct mg_json *j, const char *s, size_t n)
{
  return mg_json_is_string(j) && mg_json_string_len(j) == n
         && !memcmp(mg_json_string(j), s, n);
}

struct counts {
  size_t lines, ids, tokens, decoded, skip;
};

/* Checks one golden line; returns 1 when all four fields match. */
static int check_line(struct mg_tok *t, const struct mg_json *g,
                      struct counts *c, int verbose)
{
  const struct mg_json *text = mg_json_get(g, "text");
  const struct mg_json *ids = mg_json_get(g, "ids");
  const struct mg_json *toks = mg_json_get(g, "tokens");
  int add = mg_json_bool(mg_json_get(g, "add_special_tokens"));
  struct mg_tok_encoding e = MG_TOK_ENCODING_INIT;
  struct mg_err err = MG_ERR_INIT;
  struct mg_buf d = MG_BUF_INIT(1 << 20), ds = MG_BUF_INIT(1 << 20);
  int ok_ids, ok_toks, ok_d, ok_ds;
  uint32_t *gids;
  size_t ng = mg_json_size(ids);

  assert_int_equal(
      mg_tok_encode(t, mg_json_string(text), mg_json_string_len(text),
                    MG_TOK_TOKENS | (add ? MG_TOK_ADD_SPECIAL : 0), &e, &err),
      0);
  ok_ids = e.n == ng;
  for (size_t i = 0; ok_ids && i < ng; i++)
    ok_ids = (double)e.ids[i] == mg_json_number(mg_json_at(ids, i));
  ok_toks = e.n == mg_json_size(toks);
  for (size_t i = 0; ok_toks && i < e.n; i++)
    ok_toks = str_eq(mg_json_at(toks, i), e.tok_text + e.tok_off[i],
                     e.tok_off[i + 1] - e.tok_off[i]);
  /* decode the golden ids, so a wrong encode does not hide the decoder */
  gids = mg_xcalloc(ng + 1, sizeof(*gids));
  for (size_t i = 0; i < ng; i++)
    gids[i] = (uint32_t)mg_json_number(mg_json_at(ids, i));
  assert_int_equal(mg_tok_decode(t, gids, ng, 0, &d, &err), 0);
  assert_int_equal(mg_tok_decode(t, gids, ng, 1, &ds, &err), 0);
  ok_d = str_eq(mg_json_get(g, "decoded"), d.data ? d.data : "", d.len);
  ok_ds = str_eq(mg_json_get(g, "decoded_skip_special"), ds.data ? ds.data : "",
                 ds.len);
  c->lines++;
  c->ids += ok_ids;
  c->tokens += ok_toks;
  c->decoded += ok_d;
  c->skip += ok_ds;
  if (verbose && !(ok_ids && ok_toks && ok_d && ok_ds)) {
    char *gl = mg_json_print(g, 0);
    fprintf(stderr,
            "# MISMATCH ids=%d tokens=%d decoded=%d skip=%d\n#  %s\n#  got:",
            ok_ids, ok_toks, ok_d, ok_ds, gl);
    for (size_t i = 0; i < e.n; i++)
      fprintf(stderr, " %u:'%.*s'", e.ids[i],
              (int)(e.tok_off[i + 1] - e.tok_off[i]),
              e.tok_text + e.tok_off[i]);
    fprintf(stderr, "\n#  decoded: '%s'\n#  skip: '%s'\n", d.data ? d.data : "",
            ds.data ? ds.data : "");
    free(gl);
  }
  free(gids);
  mg_buf_release(&d);
  mg_buf_release(&ds);
  mg_tok_encoding_release(&e);
  return ok_ids && ok_toks && ok_d && ok_ds;
}

static void run_golden(const char *name, unsigned flags)
{
  char *dir = mg_xasprintf("data/tokenizers/%s", name);
  char *tpath = shared_path(dir);
  char *gpath = mg_xasprintf("%s/golden.jsonl", tpath);
  struct mg_buf b = MG_BUF_INIT(64 << 20);
  struct mg_err err = MG_ERR_INIT;
  struct mg_tok *t = NULL;
  struct counts c = { 0 };
  size_t good = 0, shown = 0;
  char *p, *end;

  if (mg_io_read_file(gpath, &b, &err) != 0)
    fail_msg("%s", err.msg);
  if (mg_tok_load(tpath, flags, &t, &err) != 0)
    fail_msg("%s", err.msg);
  p = b.data;
  end = b.data + b.len;
  while (p < end) {
    char *nl = memchr(p, '\n', (size_t)(end - p));
    struct mg_json *g;
    size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

    if (n) {
      assert_int_equal(mg_json_parse(p, n, gpath, &g, &err), 0);
      if (check_line(t, g, &c, shown < 8))
        good++;
      else
        shown++;
      mg_json_free(g);
    }
    p += n + 1;
  }
  print_message("# %s%s: %zu/%zu lines match (ids %zu, tokens %zu, decoded "
                "%zu, decoded_skip_special %zu)\n",
                name, flags & MG_TOK_NO_CONFIG ? " (no config)" : "", good,
                c.lines, c.ids, c.tokens, c.decoded, c.skip);
  assert_true(c.lines >= 100);
  assert_int_equal(good, c.lines);
  mg_tok_free(t);
  mg_buf_release(&b);
  free(gpath);
  free(tpath);
  free(dir);
}

static void test_gpt2(void **state)
{
  (void)state;
  run_golden("gpt2", 0);
}

static void test_phi2(void **state)
{
  (void)state;
  run_golden("phi-2", 0);
}

static void test_falcon(void **state)
{
  (void)state;
  run_golden("falcon", 0);
}

static void test_smollm(void **state)
{
  (void)state;
  run_golden("smollm-135m", 0);
}

static void test_llama(void **state)
{
  (void)state;
  run_golden("llama", 0);
  run_golden("llama", MG_TOK_NO_CONFIG);
}

static void test_phi3(void **state)
{
  (void)state;
  run_golden("phi-3-mini", 0);
  run_golden("phi-3-mini", MG_TOK_NO_CONFIG);
}

static void test_bert(void **state)
{
  (void)state;
  run_golden("bert-base-uncased", 0);
}

/* transformers' clean_up_tokenization on texts whose results were computed
 * with Python's str.replace chain (tests/fixtures/tokenizer/make-cleanup.py) */
static void test_clean_up_cases(void **state)
{
  static const char *const cases[][2] = {
    { "realist 'school'", "realist'school'" },
    { "(G, .)", "(G,.)" },
    { "a . . .", "a..." },
    { "x ' 's", "x''s" },
    { "do n't , I 'm sure they 've said we 're",
      "don't, I'm sure they've said we're" },
    { "a  .", "a ." },
    { "a ' ' b", "a'' b" },
    { "' ' '", "'''" },
    { " .", "." },
    { "", "" },
    { "no change here", "no change here" },
    { " 's 's", "'s's" },
    { "x ?! ?", "x?!?" },
    { "a '  b", "a' b" },
  };

  (void)state;
  for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
    struct mg_buf b = MG_BUF_INIT(1 << 10);

    mg_buf_addstr(&b, "keep ,", NULL);
    mg_buf_addstr(&b, cases[i][0], NULL);
    /* only the text from the start offset is cleaned */
    mg_tok_clean_up_tokenization(&b, 6);
    assert_int_equal(b.len, 6 + strlen(cases[i][1]));
    assert_memory_equal(b.data, "keep ,", 6);
    assert_string_equal(b.data + 6, cases[i][1]);
    mg_buf_release(&b);
  }
}

/*
 * mg_tok_decode_hf against transformers' decode of every golden line:
 * tests/fixtures/tokenizer/cleanup.jsonl holds, per tokenizer and
 * skip_special, the SHA-256 of all expected texts and of each text the
 * clean-up changed (derived from the goldens' "decoded" fields by
 * make-cleanup.py, which applies transformers' str.replace chain in
 * Python when tokenizer_config.json sets clean_up_tokenization_spaces).
 */
static void test_clean_up_golden(void **state)
{
  const char *top = getenv("MG_TOP");
  char *fx = mg_xasprintf("%s/tests/fixtures/tokenizer/cleanup.jsonl",
                          top && *top ? top : ".");
  struct mg_buf f = MG_BUF_INIT(1 << 20);
  struct mg_err err = MG_ERR_INIT;
  size_t nfix = 0, nchanged = 0;

  (void)state;
  assert_int_equal(mg_io_read_file(fx, &f, &err), 0);
  for (char *p = f.data, *nl; p && (nl = strchr(p, '\n')); p = nl + 1) {
    struct mg_json *fl, *g;
    const char *name;
    char *dir, *tpath, *gpath, hex[65];
    struct mg_buf gb = MG_BUF_INIT(64 << 20);
    struct mg_tok *t = NULL;
    struct mg_digest_sha256 *h = mg_digest_sha256_new();
    const struct mg_json *changed;
    int skip, flag;
    size_t lines = 0, seen_changed = 0;

    assert_int_equal(mg_json_parse(p, (size_t)(nl - p), fx, &fl, &err), 0);
    name = mg_json_string(mg_json_get(fl, "tokenizer"));
    skip = mg_json_bool(mg_json_get(fl, "skip_special"));
    flag = mg_json_bool(mg_json_get(fl, "clean_up"));
    changed = mg_json_get(fl, "changed");
    dir = mg_xasprintf("data/tokenizers/%s", name);
    tpath = shared_path(dir);
    gpath = mg_xasprintf("%s/golden.jsonl", tpath);
    assert_int_equal(mg_tok_load(tpath, 0, &t, &err), 0);
    assert_int_equal(mg_tok_clean_up_spaces(t), flag);
    assert_int_equal(mg_io_read_file(gpath, &gb, &err), 0);
    for (char *q = gb.data, *nl2; q && (nl2 = strchr(q, '\n')); q = nl2 + 1) {
      const struct mg_json *ids;
      struct mg_buf d = MG_BUF_INIT(1 << 20), raw = MG_BUF_INIT(1 << 20);
      uint32_t *v;
      size_t n;
      char key[200];
      const struct mg_json *want;

      assert_int_equal(mg_json_parse(q, (size_t)(nl2 - q), gpath, &g, &err), 0);
      ids = mg_json_get(g, "ids");
      n = mg_json_size(ids);
      v = mg_xcalloc(n + 1, sizeof(*v));
      for (size_t i = 0; i < n; i++)
        v[i] = (uint32_t)mg_json_number(mg_json_at(ids, i));
      assert_int_equal(mg_tok_decode_hf(t, v, n, skip, &d, &err), 0);
      assert_int_equal(mg_tok_decode(t, v, n, skip, &raw, &err), 0);
      mg_digest_sha256_update(h, d.data ? d.data : "", d.len);
      mg_digest_sha256_update(h, "", 1);
      snprintf(key, sizeof(key), "%s/%s", mg_json_string(mg_json_get(g, "id")),
               mg_json_bool(mg_json_get(g, "add_special_tokens")) ? "true"
                                                                  : "false");
      want = mg_json_get(changed, key);
      if (want) {
        mg_digest_sha256_hex(d.data ? d.data : "", d.len, hex);
        if (strcmp(hex, mg_json_string(want)))
          fail_msg("%s %s skip=%d: clean-up gave '%s'", name, key, skip,
                   d.data ? d.data : "");
        assert_true(d.len < raw.len);
        seen_changed++;
      } else if (d.len != raw.len || memcmp(d.data, raw.data, d.len)) {
        fail_msg("%s %s skip=%d: text changed where transformers keeps it: "
                 "'%s'",
                 name, key, skip, d.data);
      }
      lines++;
      free(v);
      mg_buf_release(&d);
      mg_buf_release(&raw);
      mg_json_free(g);
    }
    mg_digest_sha256_final_hex(h, hex);
    assert_int_equal(lines, (size_t)mg_json_number(mg_json_get(fl, "lines")));
    assert_int_equal(seen_changed, mg_json_size(changed));
    assert_string_equal(hex, mg_json_string(mg_json_get(fl, "sha256")));
    nchanged += seen_changed;
    nfix++;
    mg_digest_sha256_free(h);
    mg_tok_free(t);
    mg_buf_release(&gb);
    mg_json_free(fl);
    free(gpath);
    free(tpath);
    free(dir);
  }
  print_message("# clean-up: %zu tokenizer/skip sets, %zu texts changed\n",
                nfix, nchanged);
  assert_int_equal(nfix, 10);
  assert_true(nchanged >= 50);
  mg_buf_release(&f);
  free(fx);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_clean_up_cases),
    cmocka_unit_test(test_clean_up_golden),
    cmocka_unit_test(test_gpt2),
    cmocka_unit_test(test_phi2),
    cmocka_unit_test(test_falcon),
    cmocka_unit_test(test_smollm),
    cmocka_unit_test(test_llama),
    cmocka_unit_test(test_phi3),
    cmocka_unit_test(test_bert),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
