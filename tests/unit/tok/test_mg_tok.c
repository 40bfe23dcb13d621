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

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_gpt2),   cmocka_unit_test(test_phi2),
    cmocka_unit_test(test_falcon), cmocka_unit_test(test_smollm),
    cmocka_unit_test(test_llama),  cmocka_unit_test(test_phi3),
    cmocka_unit_test(test_bert),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
