#ifndef MG_MOCK_KEY_H
#define MG_MOCK_KEY_H

#include <stddef.h>
#include <stdint.h>

#include "mg_banned.h"

struct mg_err;

/*
 * mock-llm's answer key: contexts with their correct continuations, and
 * for each context whether the mock "knows" it. The decision is
 * mg_mock_sched_unit(mg_mock_sched_hash(seed, context)) < accuracy, so it is
 * fixed by (seed, context, accuracy) alone and can be predicted without a
 * server.
 *
 * File format: JSON Lines, one {"context": "...", "continuation": "..."}
 * per line; blank lines are skipped; other fields are ignored. A context
 * that appears again is ignored after its first line.
 */
struct mg_mock_key;

struct mg_mock_key_entry {
  const char *context; /* borrowed from the key; valid until it is freed */
  size_t context_len;
  const char *continuation;
  size_t continuation_len;
  size_t line; /* 1-based line in the file */
  int known;
};

/* The decision for one context (pure; used by the loader). */
int mg_mock_key_decide(uint64_t seed, double accuracy, const char *context,
                       size_t len);

/*
 * Parses JSON Lines text. name is for messages ("malformed JSON in 'name'
 * line N at byte M", "missing field 'context' in 'name' line N"), failing
 * with MG_ERR_DATA. caller owns *out; free with mg_mock_key_free.
 */
int mg_mock_key_parse(const char *text, size_t len, const char *name,
                      uint64_t seed, double accuracy, struct mg_mock_key **out,
                      struct mg_err *err);
/* Reads and parses a file of at most max bytes (MG_ERR_IO when it cannot
 * be read, MG_ERR_DATA when it is larger). */
int mg_mock_key_load(const char *path, size_t max, uint64_t seed,
                     double accuracy, struct mg_mock_key **out,
                     struct mg_err *err);
/* Accepts NULL. */
void mg_mock_key_free(struct mg_mock_key *k);

/* Number of distinct contexts, and how many of them are known. */
size_t mg_mock_key_count(const struct mg_mock_key *k);
size_t mg_mock_key_known(const struct mg_mock_key *k);
/* The i-th distinct context in file order; borrowed. */
const struct mg_mock_key_entry *mg_mock_key_at(const struct mg_mock_key *k,
                                               size_t i);

/* The entry whose context is exactly text[0..len), or NULL. */
const struct mg_mock_key_entry *mg_mock_key_find(const struct mg_mock_key *k,
                                                 const char *text, size_t len);

/*
 * For scoring a text (a loglikelihood request): the longest context that
 * is a prefix of text[0..len) and whose continuation is the rest of the
 * text (*exact = 1); failing that, the longest context that is a prefix of
 * the text (*exact = 0); NULL when no context starts the text. k may be
 * NULL (no key: always NULL).
 */
const struct mg_mock_key_entry *mg_mock_key_match(const struct mg_mock_key *k,
                                                  const char *text, size_t len,
                                                  int *exact);

#endif
