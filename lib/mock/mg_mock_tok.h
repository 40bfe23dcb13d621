#ifndef MG_MOCK_TOK_H
#define MG_MOCK_TOK_H

#include <stddef.h>
#include <stdint.h>

#include "mg_banned.h"

struct mg_buf;
struct mg_err;

/*
 * mock-llm's tokenizer: deterministic, reversible, no vocabulary file.
 *
 * Text is cut into pieces at every whitespace character that follows a
 * non-whitespace one (so " word" keeps its leading space, as in GPT-2 style
 * BPE), and each piece into tokens of whole characters: up to 4 ASCII
 * characters, or up to 3 bytes when a token holds a non-ASCII character (a
 * lone 4-byte character is one token). English text comes out at about 3-4
 * bytes per token. The id is the token's bytes packed into an integer, so
 * decoding needs no table:
 *
 *   [0, 2^30)                 1-4 ASCII characters: (len - 1) << 28 | the
 *                             7-bit codes, first character most significant
 *   2^30 + cp                 one non-ASCII code point cp
 *   2^30 + 2^21 + b           three bytes b0 b1 b2 (b = b0 << 16 | b1 << 8
 *                             | b2) holding an ASCII and a 2-byte character
 *   2^30 + 2^21 + 2^24 + b    one byte b of invalid UTF-8 (the only tokens
 *                             that are not valid UTF-8; valid input never
 *                             produces them)
 *
 * Every id is below 2^31. decode(encode(s)) == s for any byte string.
 */

/* A tokenized text: ids[i] covers bytes [off[i], off[i + 1]) of the text. */
struct mg_mock_tok_list {
  uint32_t *ids;
  size_t *off; /* n + 1 entries once n > 0; off[n] is the text length */
  size_t n;
  size_t cap;
};

#define MG_MOCK_TOKS_INIT                                                      \
  {                                                                            \
    NULL, NULL, 0, 0                                                           \
  }
#define MG_MOCK_TOK_MAX_BYTES 4

/* Sets an empty list. Cannot fail. */
void mg_mock_tok_list_init(struct mg_mock_tok_list *t);
/* Frees the contents; the list is empty and reusable afterwards. */
void mg_mock_tok_list_release(struct mg_mock_tok_list *t);
/* Appends one id covering [start, end) of the text. */
void mg_mock_tok_list_push(struct mg_mock_tok_list *t, uint32_t id,
                           size_t start, size_t end);

/*
 * Tokenizes text[0..len) into t (which is reset first). Never fails:
 * bytes that are not valid UTF-8 become one-byte tokens.
 */
void mg_mock_tok_encode(const char *text, size_t len,
                        struct mg_mock_tok_list *t);

/* Number of tokens text[0..len) encodes to, without storing them. */
size_t mg_mock_tok_count(const char *text, size_t len);

/*
 * Writes the bytes of token id to out (room for MG_MOCK_TOK_MAX_BYTES) and
 * returns their number, or -1 when id is not a mock token.
 */
int mg_mock_tok_bytes(uint32_t id, char *out);

/*
 * Appends the text of ids[0..n) to out. Fails with MG_ERR_DATA ("token id
 * N is not in the mock vocabulary") on the first bad id, or when out would
 * pass its maximum.
 */
int mg_mock_tok_decode(const uint32_t *ids, size_t n, struct mg_buf *out,
                       struct mg_err *err);

#endif
