#ifndef MG_TOK_REMOTE_H
#define MG_TOK_REMOTE_H

#include <stddef.h>
#include <stdint.h>

#include "mg_banned.h"

struct mg_buf;
struct mg_err;
struct mg_http_opts;
struct mg_tok_encoding;

/*
 * Tokenization by the serving endpoint: POST /tokenize and /detokenize as
 * vLLM and llama.cpp serve them (mock-llm too). One request body suits
 * both servers: the text goes as "prompt" (vLLM) and "content"
 * (llama.cpp), the flag as "add_special_tokens" and "add_special"; the
 * answer's "tokens" may be ids or llama.cpp's {"id", "piece"} objects, the
 * detokenized text "prompt" (vLLM) or "content" (llama.cpp).
 *
 * The caller must have called mg_http_global_init().
 */
struct mg_tok_remote;

/*
 * base_url is the server root; a trailing "/", "/v1", "/tokenize" or
 * "/detokenize" is dropped. model, when not NULL, is sent as "model".
 * opts NULL means mg_http_opts_init defaults; they are copied (strings
 * they point at must outlive the client). caller owns *out; free with
 * mg_tok_remote_free.
 */
int mg_tok_remote_new(const char *base_url, const char *model,
                      const struct mg_http_opts *opts,
                      struct mg_tok_remote **out, struct mg_err *err);
void mg_tok_remote_free(struct mg_tok_remote *r);

/* Fills out->ids / out->n (no token strings). MG_ERR_REMOTE when the
 * server cannot be reached or answers with an error status, MG_ERR_DATA
 * when its answer is not what either server sends. */
int mg_tok_remote_encode(struct mg_tok_remote *r, const char *text, size_t len,
                         int add_special, struct mg_tok_encoding *out,
                         struct mg_err *err);

/* Appends the server's text for ids to out. */
int mg_tok_remote_decode(struct mg_tok_remote *r, const uint32_t *ids, size_t n,
                         struct mg_buf *out, struct mg_err *err);

#endif
