#ifndef MG_MOCK_GEN_H
#define MG_MOCK_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "mg_banned.h"
#include "mock/mg_mock_req.h"
#include "mock/mg_mock_tok.h"

struct mg_buf;
struct mg_err;
struct mg_mock_key;
struct mg_mock_key_entry;

/*
 * What mock-llm answers: output planning (how many tokens, which text,
 * where a stop string cuts it), synthetic logprobs, and the JSON / SSE
 * text of every reply. No I/O; the server (mg_mock.c) only moves bytes.
 */

/* The model's fixed properties. */
struct mg_mock_model {
  const char *name;
  uint64_t seed;
  double output_tokens; /* mean output length without max_tokens */
  double output_tokens_std;
  long long max_model_len;       /* prompt + output token limit */
  const struct mg_mock_key *key; /* NULL: no answer key */
};

/*
 * Logprob classes. A prompt that is context + continuation of a key entry
 * gets, on its continuation tokens: TOP when the context is known (the
 * continuation is everyone's argmax, also per character), LOSER when it is
 * not; a prompt that only starts with a key context gets OTHER there.
 * Values, per token of c characters:
 *   TOP    -0.001 c (the token is its own top alternative: greedy)
 *   OTHER  -1.0 c   (top alternative -0.5 c)
 *   LOSER  -(10 + 50 c) (top alternative -0.001 c)
 *   DEFAULT a hash of (seed, previous id, id) in [-6.24, -0.25]; the token
 *          is the top alternative for about a third of the pairs, else
 *          the top one has half its logprob.
 */
enum mg_mock_lpclass {
  MG_MOCK_LP_DEFAULT,
  MG_MOCK_LP_TOP,
  MG_MOCK_LP_OTHER,
  MG_MOCK_LP_LOSER,
};

/* The logprob of one token and of its best alternative. */
struct mg_mock_lpval {
  double lp;
  double top; /* == lp when the token is the top alternative */
  int greedy;
};
void mg_mock_gen_lp_value(uint64_t seed, enum mg_mock_lpclass cls,
                          uint32_t prev, uint32_t id, const char *tok,
                          size_t len, struct mg_mock_lpval *out);

/* One choice's planned output. */
struct mg_mock_choice {
  const struct mg_mock_prompt *prompt;     /* borrowed from the request */
  const struct mg_mock_key_entry *gen_key; /* prompt equals a key context */
  int known;
  char *answer; /* the key continuation, or a wrong one; NULL: filler */
  size_t answer_len;
  struct mg_mock_tok_list answer_toks;
  uint64_t wseed;     /* picks the filler words */
  size_t ngen;        /* tokens generated (usage) */
  size_t nvis;        /* tokens with visible text */
  size_t last_vis;    /* visible bytes of token nvis - 1 */
  const char *finish; /* "length" or "stop" */
  /* loglikelihood view of the prompt */
  const struct mg_mock_key_entry *lp_key;
  int lp_exact;
  /* streaming progress */
  size_t chars_out; /* characters sent so far (text_offset) */
  uint32_t prev_id;
};

/* A reply being built: the plan for every choice plus stream state. */
struct mg_mock_gen_resp {
  const struct mg_mock_req *req;     /* borrowed */
  const struct mg_mock_model *model; /* borrowed */
  struct mg_mock_choice *c;
  size_t nc;
  char id[48];
  long long created; /* Unix seconds */
  size_t prompt_tokens;
  size_t completion_tokens;
  size_t steps;       /* stream emissions: max over choices of max(nvis, 1) */
  size_t step;        /* emissions done */
  size_t sent_tokens; /* completion tokens streamed so far */
};

/*
 * Plans the reply to req. seq numbers the request (it picks the sampled
 * output length and the id); created is the Unix time for the reply.
 * Fails with MG_ERR_DATA (a 400 for the client) when the prompt plus
 * max_tokens exceed max_model_len. resp borrows req and model; release
 * with mg_mock_gen_resp_release.
 */
int mg_mock_gen_resp_plan(struct mg_mock_gen_resp *resp,
                          const struct mg_mock_req *req,
                          const struct mg_mock_model *model, uint64_t seq,
                          long long created, struct mg_err *err);
void mg_mock_gen_resp_release(struct mg_mock_gen_resp *resp);

/* The text of generated token k of choice c, in full (before any stop
 * cut), and its id. Borrowed; valid while the response lives. */
void mg_mock_gen_choice_token(const struct mg_mock_choice *c, size_t k,
                              const char **p, size_t *n, uint32_t *id);

/* The complete non-streamed JSON body (with a trailing newline). */
void mg_mock_gen_resp_body(struct mg_mock_gen_resp *resp, struct mg_buf *out);
/*
 * Streaming: mg_mock_gen_resp_stream_step appends the SSE events of the next
 * emission (the echoed prompt comes with the first); after the last,
 * mg_mock_gen_resp_stream_end appends the usage event (if asked for) and
 * "data: [DONE]".
 */
void mg_mock_gen_resp_stream_step(struct mg_mock_gen_resp *resp,
                                  struct mg_buf *out);
void mg_mock_gen_resp_stream_end(struct mg_mock_gen_resp *resp,
                                 struct mg_buf *out);

/* Fault injection helpers: a truncated event, and an error event. */
void mg_mock_gen_resp_stream_malformed(const struct mg_mock_gen_resp *resp,
                                       struct mg_buf *out);
void mg_mock_gen_resp_stream_error(struct mg_buf *out, const char *msg);

/* {"error": {"message", "type", "param": null, "code": status}} + "\n". */
void mg_mock_gen_error_body(struct mg_buf *out, int status, const char *type,
                            const char *msg);

/* GET /v1/models. */
void mg_mock_gen_models_body(const struct mg_mock_model *m, long long created,
                             struct mg_buf *out);

/*
 * POST /tokenize and /detokenize (vLLM shapes). Return the HTTP status;
 * out gets the body (an error body unless 200).
 *   /tokenize   {"prompt": s} or {"messages": [...]}, "add_special_tokens"
 *               ignored -> {"count", "max_model_len", "tokens": [...]}
 *   /detokenize {"tokens": [...]} -> {"prompt": s}
 */
int mg_mock_gen_tokenize(const struct mg_mock_model *m, const char *body,
                         size_t len, struct mg_buf *out);
int mg_mock_gen_detokenize(const char *body, size_t len, struct mg_buf *out);

/* The deliberately wrong answer for a continuation the mock does not know:
 * ASCII letters and digits shifted by one (a->b, z->a, 9->0), or " not"
 * prepended when there are none. caller owns the result; free with free(). */
char *mg_mock_gen_wrong_answer(const char *s, size_t n, size_t *out_len);

#endif
