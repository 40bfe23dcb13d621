#ifndef MG_EVAL_H
#define MG_EVAL_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "mg_banned.h"
#include "mg_err.h"

struct mg_chat;
struct mg_json;
struct mg_pv;
struct mg_task_doc;
struct mg_doc_result;
struct mg_task_opts;
struct mg_task_result;
struct mg_task_set;

/*
 * eval-run's engine: sends the requests of a prepared task set to an
 * OpenAI-compatible endpoint exactly as lm-evaluation-harness's
 * local-completions / local-chat-completions models do (anchor sections
 * 1.2-1.5), scores the answers (mg_metrics) and builds the outputs: the
 * record's "eval" section, lm-eval's results JSON and per-task samples.
 *
 * Loglikelihood requests need the context's token count (ctxlen). Its
 * source is chosen by opts.tokenizer:
 *   "remote"   the server's POST /tokenize (vLLM, mock-llm): faithful
 *   "offsets"  no tokenizer: the string prompt is sent and ctxlen is the
 *              first echoed token whose text_offset reaches the context's
 *              length (lm-eval's GGUF approach; a token spanning the
 *              boundary is counted in the continuation)
 *   PATH       a local Hugging Face tokenizer.json file or its directory
 *              (mg_tok): faithful, no extra requests
 * Empty contexts (acc_mutual_info's unconditional requests) and
 * loglikelihood_rolling windows start with lm-eval's prefix token:
 * opts.prefix_token_id, else the tokenizer's BOS, else its EOS (from
 * opts.special, or the server's GET /tokenizer_info with "remote").
 * loglikelihood_rolling texts are tokenized before the run and cut into
 * lm-eval's disjoint rolling windows (get_rolling_token_windows with
 * max_seq_len = max_length - 2, context_len 1), one request per window;
 * a document's loglikelihood is the sum over its windows.
 * Generation requests get the tokenizer's EOS string (or opts.eos_string)
 * appended to "stop" when num_concurrent is 1, as lm-eval's synchronous
 * path does (its concurrent path does not).
 * Every answer is appended to the cache file (opts.cache_path) as it
 * arrives, keyed by a hash of the request; a rerun with the same cache
 * sends only what is missing. SIGINT/SIGTERM (opts.stop) and a request
 * that keeps failing end the run with partial results (complete = 0).
 */
struct mg_eval_opts {
  const char *url; /* endpoint: .../v1/completions (or chat), or a
                      base URL the path is appended to */
  const char *model;
  int chat;              /* local-chat-completions */
  const char *tokenizer; /* "remote", "offsets" or a path; NULL remote */
  /* The special tokens of the tokenizer (tokenizer_config.json), borrowed;
   * NULL: none known (remote: GET /tokenizer_info is asked instead). */
  const struct mg_chat *special;
  long long prefix_token_id; /* lm-eval's custom_prefix_token_id, or -1 */
  const char *eos_string;    /* lm-eval's eos_string, or NULL */
  int tokenized_requests;    /* 1: token-id prompts (lm-eval's default for
                                local-completions), 0: strings */
  long max_length;           /* lm-eval's max_length (2048); 1 is kept for
                                the generated token */
  long max_gen_toks;         /* default max_tokens for generation (256) */
  int num_concurrent;        /* requests in flight */
  int max_retries;           /* attempts per request (lm-eval: 3) */
  long timeout_ms;           /* per attempt (lm-eval: 300 s) */
  long backoff_min_ms;       /* tenacity wait_exponential(0.5, 1, 10) */
  long backoff_max_ms;
  const char *cacert;
  int insecure;
  const char *api_key;               /* bearer token, or NULL; never logged */
  uint64_t seed;                     /* "seed" in every body (1234) */
  const char *cache_path;            /* resume cache (JSON Lines), or NULL */
  long bootstrap_iters;              /* 100000 as lm-eval; 0: no bootstrap */
  int log_samples;                   /* keep per-document samples */
  const volatile sig_atomic_t *stop; /* set by a signal handler */
  /* Progress: done and total requests of the first task under way (at
   * most every 200 ms), and of each task once when it is finished; final
   * is set on the last call, at the end of the run. */
  void (*progress)(void *arg, const char *task, size_t done, size_t total,
                   long long t0_ns, int final);
  void *progress_arg;
  int verbose;
};

void mg_eval_opts_init(struct mg_eval_opts *o);

struct mg_eval_run {
  struct mg_task_set *ts;      /* borrowed */
  struct mg_task_doc **docs;   /* per task */
  struct mg_doc_result **res;  /* per task, per doc */
  struct mg_task_result *tres; /* per task */
  struct mg_task_result *gres; /* per group */
  struct mg_pv **samples;      /* per task, lists (log_samples) */
  size_t requests_total;
  size_t requests_sent;   /* answered by the server this run */
  size_t requests_cached; /* taken from the cache */
  size_t tokenize_calls;
  size_t retries;
  size_t failed;
  size_t retokenized;    /* string prompts the server tokenized into another
                            number of tokens (scored as lm-eval does) */
  double mean_inflight;  /* completions in flight, time-weighted mean */
  int complete;          /* every request answered */
  int interrupted;       /* stopped by opts.stop */
  struct mg_err failure; /* why it stopped early (cat NONE if not) */
  long long t0_ns, t1_ns;
  char started[40], finished[40];
  char *url;                    /* the completions URL used (redacted) */
  char *model_name;             /* the model sent in every body */
  const char *tokenizer_source; /* "remote", "offsets", "local" */
  long long prefix_token_id;    /* used for empty contexts, or -1 */
  /* lm-eval's add_tokenizer_info, known with a local tokenizer only
   * (has_tokenizer_info): the pad, EOS and BOS tokens (NULL: none) and
   * their ids (-1: none) */
  int has_tokenizer_info;
  long max_length; /* the run's max_length (lm-eval reports it minus 1) */
  char *tok_pad, *tok_eos, *tok_bos;
  long long tok_pad_id, tok_eos_id, tok_bos_id;
  char *eos_string; /* appended to generation stops, or NULL */
};

/*
 * Prepares every task's prompts, sends the requests and scores them.
 * Returns -1 (err set, *out NULL) when nothing could be measured (bad
 * tokenizer, unusable options, a template error while building prompts).
 * Otherwise returns 0 with *out set; check (*out)->complete and
 * (*out)->failure. caller owns *out; free with mg_eval_run_free.
 */
int mg_eval_run(struct mg_task_set *ts, const struct mg_task_opts *topts,
                const struct mg_eval_opts *o, struct mg_eval_run **out,
                struct mg_err *err);
void mg_eval_run_free(struct mg_eval_run *r);

/*
 * Writes, for the selected tasks, one JSON line {"context", "continuation"}
 * per document with the correct continuation: target_delimiter + gold
 * choice for multiple choice (the gold's context for multiple-input
 * tasks), the target for loglikelihood, and the target text for
 * generation (for GSM8K the gold answer, which passes both its filters).
 * With a chat template the context is the last user message. Prepares
 * prompts (needs no server). Returns the number of lines in *nlines.
 */
int mg_eval_write_answer_key(struct mg_task_set *ts,
                             const struct mg_task_opts *topts, const char *path,
                             size_t *nlines, struct mg_err *err);

#endif
