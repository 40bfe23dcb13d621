#ifndef MG_TOK_PROC_H
#define MG_TOK_PROC_H

#include <stddef.h>
#include <stdint.h>

#include "mg_banned.h"

struct mg_buf;
struct mg_err;
struct mg_http_opts;
struct mg_tok_encoding;

/*
 * A "processor" as perf-run's --processor names it: a local Hugging Face
 * tokenizer (a model directory or a tokenizer.json) or the serving
 * endpoint's /tokenize and /detokenize. Tokenizers are exact (see
 * mg_tok.h); the endpoint is whatever the server does.
 */
struct mg_tok_proc;

/*
 * processor: "http://..." or "https://..." asks that server; "server" asks
 * server_url (perf-run's target); anything else is a path for
 * mg_tok_load (tokenizer_config.json honoured). model is sent to the
 * server as "model" (may be NULL); http NULL means defaults. Remote use
 * needs mg_http_global_init() first. caller owns *out; free with
 * mg_tok_proc_free.
 */
int mg_tok_proc_open(const char *processor, const char *server_url,
                     const char *model, const struct mg_http_opts *http,
                     struct mg_tok_proc **out, struct mg_err *err);
void mg_tok_proc_free(struct mg_tok_proc *p);
int mg_tok_proc_is_remote(const struct mg_tok_proc *p);

struct mg_tok_find;

struct mg_tok_resolve_opts {
  const char *revision;   /* Hub revision; NULL: "main" */
  const char *mirrors;    /* ':'-separated mirror directories, or NULL */
  const char *server_url; /* asked for /tokenize when nothing local holds
                             the tokenizer; NULL: not asked */
  const char *model;      /* sent to the server as "model"; may be NULL */
  const struct mg_http_opts *http; /* NULL: defaults */
};

/*
 * The one resolution of a tokenizer name that perf-run's --processor and
 * eval-run's tokenizer= share (issue 12, items 6 and 13):
 *   - "http://...", "https://..." or "server": that server, as
 *     mg_tok_proc_open (no probe);
 *   - else mg_tok_find (the name as a path, the local Hugging Face cache,
 *     the mirror directories o->mirrors), loaded with mg_tok_load;
 *   - else, when o->server_url is set, the server's /tokenize if it
 *     answers a probe (one tokenize call of a short text).
 * Returns 0 with w->found (PATH, HF_CACHE, MIRROR or SERVER) and *out set
 * (out NULL: nothing is loaded or kept, only located and probed), or 1
 * when none of them holds it (w->found NONE, *out NULL, w->tried lists
 * what was looked at and why the server did not do): the caller's
 * fallback (perf-run: words, eval-run: echoed offsets) and its warning
 * come next. -1 with err when the tokenizer was found but cannot be used
 * (MG_ERR_DATA/IO from mg_tok_load) or the name is empty. Remote use needs
 * mg_http_global_init() first. w is overwritten; release it with
 * mg_tok_find_release. caller owns *out; free with mg_tok_proc_free.
 */
int mg_tok_proc_resolve(const char *name, const struct mg_tok_resolve_opts *o,
                        struct mg_tok_proc **out, struct mg_tok_find *w,
                        struct mg_err *err);

/* Token ids of text (out->ids, out->n). */
int mg_tok_proc_encode(struct mg_tok_proc *p, const char *text, size_t len,
                       int add_special, struct mg_tok_encoding *out,
                       struct mg_err *err);
/* Number of tokens of text; for counting output text. */
int mg_tok_proc_count(struct mg_tok_proc *p, const char *text, size_t len,
                      int add_special, size_t *count, struct mg_err *err);
/* Appends the text of ids to out. skip_special applies to local
 * tokenizers only (servers decide for themselves). */
int mg_tok_proc_decode(struct mg_tok_proc *p, const uint32_t *ids, size_t n,
                       int skip_special, struct mg_buf *out,
                       struct mg_err *err);

/*
 * A synthetic prompt that encodes to exactly n_tokens tokens (with the
 * post-processor's special tokens when add_special): prefix_id spelled
 * as words (one common English word per base-120 digit), then more such
 * words drawn from seed and prefix_id, encoded, cut at the
 * right number of tokens, decoded, and re-encoded to check; the cut moves
 * until the count is exact (decode then encode need not give the same
 * tokens back). The same arguments give the same text. The prefix makes
 * prompts of different prefix_id differ within their first words unless
 * n_tokens is too small to hold them. Appends the text to out; fails with
 * MG_ERR_DATA when no text of that length can be made (n_tokens smaller
 * than the special tokens alone) or the processor never lands on it.
 */
int mg_tok_proc_prompt(struct mg_tok_proc *p, size_t n_tokens, uint64_t seed,
                       uint64_t prefix_id, int add_special, struct mg_buf *out,
                       struct mg_err *err);

/*
 * The command-line face, for `perf-run --tokenize` / `--detokenize`.
 * Tokenize reads UTF-8 text from in_path ("-": stdin) and writes
 * {"ids":[...],"count":N} and a newline to out_path ("-": stdout);
 * detokenize reads {"ids":[...]} (or a bare [...]) and writes the text as
 * is (special tokens kept). Output is written atomically and only on
 * success. Errors: MG_ERR_USAGE (bad processor), MG_ERR_IO, MG_ERR_DATA
 * (bad input or tokenizer), MG_ERR_REMOTE.
 */
int mg_tok_proc_cli(const char *processor, const char *server_url,
                    int detokenize, int add_special, const char *in_path,
                    const char *out_path, struct mg_err *err);

#endif
