#ifndef MG_BLEU_H
#define MG_BLEU_H

#include <stddef.h>

#include "mg_banned.h"

/*
 * sacreBLEU 2.x's corpus BLEU and chrF with their defaults, as
 * lm-evaluation-harness calls them (sacrebleu.corpus_bleu(preds, [refs])
 * and corpus_chrf(preds, [refs]), one reference per prediction):
 *
 *   BLEU  tokenizer 13a (mteval-v13a: <skipped>, "-\n", "\n", the four
 *         HTML entities, then punctuation split off, periods and commas
 *         unless next to a digit, dashes after a digit), mixed case, 4-gram
 *         precisions with "exp" smoothing, brevity penalty against the
 *         reference length, 0 when no n-gram matches at all
 *   chrF  character 6-grams, whitespace removed, beta 2, mixed case,
 *         effective-order averaging (eps_smoothing off)
 *   TER   Tercom's translation edit rate as sacreBLEU computes it:
 *         lowercased (Python's str.lower), whitespace-split words, word
 *         shifts of up to 10 words within 50 positions chosen greedily
 *         by edit-distance gain (then length, then earliest), at most
 *         1000 shift candidates, beam edit distance (width 25 around the
 *         length-ratio diagonal); 100 * edits / reference words
 *
 * Both are corpus metrics: each segment gives integer statistics, the
 * corpus score comes from their column sums (so a bootstrap resample is a
 * sum of rows). Statistics are stored as doubles, exactly.
 */

enum {
  /* hyp_len, ref_len, correct[1..4], total[1..4] */
  MG_BLEU_NSTATS = 10,
  /* per order 1..6: hypothesis n-grams, reference n-grams, matches */
  MG_CHRF_NSTATS = 18,
  /* edits, reference words */
  MG_TER_NSTATS = 2,
};

/* The segment's statistics for hypothesis hyp and reference ref (UTF-8). */
void mg_bleu_segment(const char *hyp, size_t hn, const char *ref, size_t rn,
                     double *stats);
void mg_bleu_chrf_segment(const char *hyp, size_t hn, const char *ref,
                          size_t rn, double *stats);
void mg_bleu_ter_segment(const char *hyp, size_t hn, const char *ref, size_t rn,
                         double *stats);

/* The corpus score (0-100) from summed statistics. */
double mg_bleu_score(const double *stats);
double mg_bleu_chrf_score(const double *stats);
double mg_bleu_ter_score(const double *stats);

/* sacrebleu's 13a tokenization (after its rstrip), words joined by single
 * spaces. caller owns the result; free with free(). */
char *mg_bleu_tokenize_13a(const char *s, size_t n, size_t *len);

#endif
