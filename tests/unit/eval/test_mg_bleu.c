#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "eval/mg_bleu.h"

/* Expected values from sacreBLEU 2.x's algorithm as re-implemented in
 * tests/tools/eval-run-sacre.py (Python's re for the 13a expressions). */

static void tok_is(const char *in, const char *want)
{
  size_t n;
  char *t = mg_bleu_tokenize_13a(in, strlen(in), &n);

  assert_string_equal(t, want);
  assert_int_equal(n, strlen(want));
  free(t);
}

static void test_tokenize_13a(void **state)
{
  (void)state;
  tok_is("Wait... what?! e.g., x,y and .5 or 5. or a..b ,,",
         "Wait . . . what ? ! e . g . , x , y and . 5 or 5 . or a . . b , ,");
  tok_is("A-1 and 5- and -3 and &amp;lt;tag&amp;gt; 3.-4.",
         "A-1 and 5 - and -3 and < tag > 3 . -4 .");
  tok_is("l'homme (c) 1,000.50$ <skipped>x-\ny\n\xc2\xa0"
         "caf\xc3\xa9\xe2\x80\x94ok \xc2\xa0 ",
         "l'homme ( c ) 1,000.50 $ xy caf\xc3\xa9\xe2\x80\x94ok");
  tok_is("", "");
  tok_is("  \t", "");
}

static void sum_into(double *acc, const double *row, size_t w)
{
  for (size_t i = 0; i < w; i++)
    acc[i] += row[i];
}

static void test_scores(void **state)
{
  static const char *const pairs[][2] = {
    { "The cat sat on the mat.", "The cat sat on a mat." },
    { "hello", "hello world" },
    { "", "x y" },
  };
  static const double bleu_rows[3][MG_BLEU_NSTATS] = {
    { 7, 7, 6, 4, 2, 1, 7, 6, 5, 4 },
    { 1, 2, 1, 0, 0, 0, 1, 0, 0, 0 },
    { 0, 2, 0, 0, 0, 0, 0, 0, 0, 0 },
  };
  static const double chrf_row0[MG_CHRF_NSTATS] = { 18, 16, 15, 17, 15, 13,
                                                    16, 14, 11, 15, 13, 9,
                                                    14, 12, 7,  13, 11, 6 };
  double b[MG_BLEU_NSTATS] = { 0 }, c[MG_CHRF_NSTATS] = { 0 };
  double row[MG_CHRF_NSTATS];

  (void)state;
  for (size_t i = 0; i < 3; i++) {
    mg_bleu_segment(pairs[i][0], strlen(pairs[i][0]), pairs[i][1],
                    strlen(pairs[i][1]), row);
    for (size_t k = 0; k < MG_BLEU_NSTATS; k++)
      assert_true(row[k] == bleu_rows[i][k]);
    sum_into(b, row, MG_BLEU_NSTATS);
    mg_bleu_chrf_segment(pairs[i][0], strlen(pairs[i][0]), pairs[i][1],
                         strlen(pairs[i][1]), row);
    if (i == 0)
      for (size_t k = 0; k < MG_CHRF_NSTATS; k++)
        assert_true(row[k] == chrf_row0[k]);
    sum_into(c, row, MG_CHRF_NSTATS);
  }
  assert_true(mg_bleu_score(b) == 33.77682064687955);
  assert_true(mg_bleu_chrf_score(c) == 58.56693700999427);
  /* no matching n-gram at all: 0 (sacreBLEU 2's early stop) */
  mg_bleu_segment("a b", 3, "c d", 3, row);
  assert_true(mg_bleu_score(row) == 0.0);
  /* identical: exp(4 * log(100) / 4), which is not quite 100 in floats */
  mg_bleu_segment("one two three four", 18, "one two three four", 18, row);
  assert_true(mg_bleu_score(row) == 100.00000000000004);
  mg_bleu_chrf_segment("same", 4, "same", 4, row);
  assert_true(mg_bleu_chrf_score(row) == 100.0);
}

static void ter_is(const char *h, const char *r, double edits, double reflen)
{
  double st[MG_TER_NSTATS];

  mg_bleu_ter_segment(h, strlen(h), r, strlen(r), st);
  assert_true(st[0] == edits);
  assert_true(st[1] == reflen);
}

static void test_ter(void **state)
{
  double st[MG_TER_NSTATS];

  (void)state;
  /* one shift of one word, of a block of three */
  ter_is("costs 1,000 euros, about 3.5 percent more.  It",
         "It costs 1,000 euros, about 3.5 percent more.", 1, 8);
  ter_is("a b c d e f", "d e f a b c", 1, 6);
  ter_is("", "x y z", 3, 3);
  ter_is("x y", "  ", 2, 0);
  /* Python's lower(): final sigma, dotted capital I */
  ter_is("\xce\xa3\xce\x9f\xce\xa6\xce\x99\xce\x91\xce\xa3 \xce\xa3 \xc4\xb0",
         "\xcf\x83\xce\xbf\xcf\x86\xce\xb9\xce\xb1\xcf\x82 \xcf\x83 i\xcc\x87",
         0, 3);
  st[0] = 1;
  st[1] = 8;
  assert_true(mg_bleu_ter_score(st) == 12.5);
  st[1] = 0;
  assert_true(mg_bleu_ter_score(st) == 100.0);
  st[0] = 0;
  assert_true(mg_bleu_ter_score(st) == 0.0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_tokenize_13a),
    cmocka_unit_test(test_scores),
    cmocka_unit_test(test_ter),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
