#ifndef MG_TOK_H
#define MG_TOK_H

#include <stddef.h>
#include <stdint.h>

#include "mg_banned.h"

struct mg_buf;
struct mg_err;
struct mg_json;

/*
 * Hugging Face tokenizers in C: loads a tokenizer.json (plus the
 * tokenizer_config.json beside it) and encodes and decodes exactly as the
 * Rust `tokenizers` crate (the library behind Python transformers) does.
 *
 * Supported components (anything else fails to load with MG_ERR_DATA
 * "unsupported <kind> 'Type' in 'path'", never a silently different
 * result):
 *   models          BPE (byte-level, or SentencePiece-style with
 *                   byte_fallback / fuse_unk / ignore_merges), WordPiece,
 *                   WordLevel
 *   normalizers     Sequence, NFC, NFD, NFKC, NFKD, Lowercase, Strip,
 *                   StripAccents, Replace, Prepend, BertNormalizer, ByteLevel
 *   pre_tokenizers  Sequence, ByteLevel, Split, Metaspace, Digits,
 *                   Punctuation, Whitespace, WhitespaceSplit,
 *                   BertPreTokenizer, CharDelimiterSplit
 *   post_processors TemplateProcessing, ByteLevel, BertProcessing,
 *                   RobertaProcessing, Sequence
 *   decoders        Sequence, ByteLevel, Replace, ByteFallback, Fuse, Strip,
 *                   Metaspace, WordPiece, BPEDecoder
 * Added tokens are matched before the model with their special,
 * normalized, lstrip, rstrip and single_word flags. Truncation and padding
 * in the file are ignored (encode never truncates or pads).
 *
 * A tokenizer is not safe for concurrent use (it keeps scratch space and a
 * cache of recent words): use one per thread.
 */
struct mg_tok;

enum mg_tok_load_flags {
  /* Ignore tokenizer_config.json even when it is present. */
  MG_TOK_NO_CONFIG = 1 << 0,
};

/*
 * Loads path: a directory holding tokenizer.json, or the tokenizer.json
 * file itself. Unless MG_TOK_NO_CONFIG, a tokenizer_config.json in the
 * same directory is read too: its add_bos_token / add_eos_token (with
 * bos_token / eos_token) replace the single-sequence template, as
 * transformers does for Llama-style tokenizers. Failures: MG_ERR_IO (cannot
 * read), MG_ERR_DATA (malformed or unsupported). caller owns *out; free
 * with mg_tok_free.
 */
int mg_tok_load(const char *path, unsigned flags, struct mg_tok **out,
                struct mg_err *err);

/*
 * Builds a tokenizer from parsed documents (config may be NULL). name is
 * used in messages. The documents stay owned by the caller and may be
 * freed afterwards. caller owns *out; free with mg_tok_free.
 */
int mg_tok_from_json(const struct mg_json *doc, const struct mg_json *config,
                     const char *name, struct mg_tok **out, struct mg_err *err);

/* Frees everything. Accepts NULL. */
void mg_tok_free(struct mg_tok *t);

/*
 * The result of one encode. Reuse it across calls to avoid allocations;
 * MG_TOK_ENCODING_INIT, release with mg_tok_encoding_release.
 */
struct mg_tok_encoding {
  uint32_t *ids;
  size_t n;
  size_t cap;
  /* With MG_TOK_TOKENS: token i is tok_text[tok_off[i] .. tok_off[i+1]). */
  char *tok_text;
  size_t *tok_off;
  size_t tok_text_len;
  size_t tok_text_cap;
  size_t tok_off_cap;
};

#define MG_TOK_ENCODING_INIT                                                   \
  {                                                                            \
    NULL, 0, 0, NULL, NULL, 0, 0, 0                                            \
  }

void mg_tok_encoding_release(struct mg_tok_encoding *e);

enum mg_tok_encode_flags {
  MG_TOK_ADD_SPECIAL = 1 << 0, /* add_special_tokens=True */
  MG_TOK_TOKENS = 1 << 1,      /* also fill the token strings */
};

/*
 * Encodes text[0..len), which must be valid UTF-8 (else MG_ERR_DATA
 * "text is not valid UTF-8 at byte N"); NUL bytes are ordinary characters.
 * out is overwritten.
 */
int mg_tok_encode(struct mg_tok *t, const char *text, size_t len,
                  unsigned flags, struct mg_tok_encoding *out,
                  struct mg_err *err);

/*
 * Decodes ids, appending the text to out (which enforces its own maximum).
 * Unknown ids are skipped, as the reference does. skip_special drops
 * special added tokens.
 */
int mg_tok_decode(struct mg_tok *t, const uint32_t *ids, size_t n,
                  int skip_special, struct mg_buf *out, struct mg_err *err);

/*
 * Decodes as transformers' PreTrainedTokenizerFast.decode(ids,
 * skip_special_tokens) with clean_up_tokenization_spaces left at None: the
 * tokenizer.json decoder (mg_tok_decode), then, when the tokenizer's
 * clean_up_tokenization_spaces is true, mg_tok_clean_up_tokenization on
 * the appended text. That flag is tokenizer_config.json's
 * clean_up_tokenization_spaces; without the key it is false, the default
 * of transformers 4.45 and later (4.48 is what lm-eval 0.4.8's image
 * pins; tokenizer classes whose constructor sets their own default are
 * not modelled).
 */
int mg_tok_decode_hf(struct mg_tok *t, const uint32_t *ids, size_t n,
                     int skip_special, struct mg_buf *out, struct mg_err *err);

/* tokenizer_config.json's clean_up_tokenization_spaces (0 when absent). */
int mg_tok_clean_up_spaces(const struct mg_tok *t);

/*
 * transformers 4.x PreTrainedTokenizerBase.clean_up_tokenization on
 * b->data[start..len), in place: Python str.replace of " ." -> ".",
 * " ?" -> "?", " !" -> "!", " ," -> ",", " ' " -> "'", " n't" -> "n't",
 * " 'm" -> "'m", " 's" -> "'s", " 've" -> "'ve", " 're" -> "'re", in that
 * order, each over the previous one's result. Keeps b NUL-terminated.
 */
void mg_tok_clean_up_tokenization(struct mg_buf *b, size_t start);

/* The string of one id (added tokens first), borrowed until the tokenizer
 * is freed; NULL if the id is unknown. */
const char *mg_tok_id_to_token(const struct mg_tok *t, uint32_t id,
                               size_t *len);
/* The id of a token string (added tokens first), or -1. */
int64_t mg_tok_token_to_id(const struct mg_tok *t, const char *s, size_t n);
/* Number of ids: the model's vocabulary plus added tokens not in it. */
size_t mg_tok_vocab_size(const struct mg_tok *t);
/* Bytes of heap the loaded tokenizer holds (tables and scratch). */
size_t mg_tok_memory(const struct mg_tok *t);
/* model_max_length from tokenizer_config.json, or 0. */
uint64_t mg_tok_max_length(const struct mg_tok *t);

#endif
