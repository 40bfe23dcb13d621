#ifndef MG_PERF_DATA_H
#define MG_PERF_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "mg_banned.h"

struct mg_err;
struct mg_json;

/*
 * perf-run's prompts: synthetic ones built from words, or rows of a data
 * file (.txt, .jsonl, .json, .csv) with GuideLLM's column detection.
 *
 * Synthetic lengths follow GuideLLM's IntegerRangeSampler: min defaults
 * to max(1, avg - 5 stdev) (avg without stdev), max to avg + 5 stdev;
 * min == max gives the constant, no stdev with min != max gives
 * randint(min, max), otherwise round(clamp(gauss(avg, stdev))) with
 * Python's rounding (half to even). Prompt lengths draw from
 * random.Random(seed), output lengths from seed + 1, words of the shared
 * prefix from seed + 3. Without a tokenizer a prompt of n tokens is n
 * common English words (each one token in the usual BPE vocabularies);
 * the server's usage.prompt_tokens is what perf-run reports.
 */
struct mg_perf_item {
  char *text;              /* the user prompt */
  char *prefix;            /* system prompt / shared prefix, or NULL */
  long long prompt_tokens; /* from the data or the generator; -1 unknown */
  long long output_tokens; /* requested; -1: none (no max_tokens sent) */
  double ts;               /* replay timestamp (s); -1 if none */
  int generated;           /* the text was made up (synthetic, or a row
                              with a length and no text) */
};

struct mg_perf_data_synth {
  long long prompt_tokens, prompt_stdev, prompt_min, prompt_max;
  long long output_tokens, output_stdev, output_min, output_max;
  long long samples;       /* default 1000 */
  long long prefix_tokens; /* shared prefix length; 0: none */
  uint64_t seed;           /* default 42 */
};

struct mg_perf_data {
  struct mg_perf_item *items;
  size_t n, cap;
  int synthetic;           /* 1: cycle forever; 0: each row once */
  char source[256];        /* "synthetic" or the file path */
  char columns[192];       /* detected columns, for the record */
  uint64_t seed;           /* synthetic: the seed */
  long long prefix_tokens; /* synthetic: shared prefix length */
  int exact;               /* mg_perf_data_exact made the prompts */
};

void mg_perf_data_init(struct mg_perf_data *d);
void mg_perf_data_release(struct mg_perf_data *d);

/*
 * Parses a synthetic spec: "prompt_tokens=256,output_tokens=128,..." (the
 * GuideLLM <= v0.3 --data syntax) or a JSON object with the same keys.
 * Keys: prompt_tokens (required), output_tokens, each with _stdev, _min,
 * _max; samples; seed; prefix_tokens. Unknown keys and bad numbers fail
 * with MG_ERR_USAGE.
 */
int mg_perf_data_synth_parse(const char *spec, struct mg_perf_data_synth *out,
                             struct mg_err *err);
/* 1 if spec looks like a synthetic spec rather than a path. */
int mg_perf_data_synth_is_spec(const char *spec);
/* Fills d with spec->samples generated items. */
void mg_perf_data_synth(struct mg_perf_data *d,
                        const struct mg_perf_data_synth *spec);

/*
 * Loads a data file by extension. Text column by GuideLLM's order
 * (prompt, instruction, question, input, context, content, conversation,
 * turn, text; names may carry an s/es plural and a _N / -N suffix),
 * prefix column (system_prompt, system, prefix), prompt token count
 * (prompt_tokens_count, input_tokens_count, prompt_tokens, input_length,
 * in), output token count (output_tokens_count, completion_tokens_count,
 * output_tokens, output_length, out), replay timestamp
 * (relative_timestamp, timestamp, t). A row with a token count but no
 * text gets a synthetic prompt of that length (seed). An empty file, or
 * one with no usable column, fails with MG_ERR_DATA; an unreadable one
 * with MG_ERR_IO.
 */
int mg_perf_data_load(struct mg_perf_data *d, const char *path, uint64_t seed,
                      struct mg_err *err);

struct mg_tok_proc;

/*
 * Exact-length prompts with a tokenizer: every generated text (synthetic
 * items, rows with a length but no text) becomes a prompt of exactly
 * prompt_tokens tokens that starts with its item number spelled in words
 * (mg_tok_proc_prompt: seed + 4, prefix_id = index; the shared prefix
 * seed + 3), and every given text gets its token count as prompt_tokens.
 * add_special counts the tokenizer's special tokens too.
 */
int mg_perf_data_exact(struct mg_perf_data *d, struct mg_tok_proc *p,
                       int add_special, struct mg_err *err);

/* Keeps the first samples items (0: all) and gives items without an
 * output length default_output (0: none), as GuideLLM's --data-samples
 * and backend max_tokens. */
void mg_perf_data_limit(struct mg_perf_data *d, long long samples,
                        long long default_output);

/* The synthetic sampler itself (exposed for tests). */
long long mg_perf_data_sample_len(void *rand, long long avg, long long stdev,
                                  long long min, long long max);

/* n words of filler text drawn with rand (a struct mg_perf_rand);
 * caller owns the result; free with free(). */
char *mg_perf_data_words(void *rand, long long n);

#endif
