#ifndef MG_MOCK_REQ_H
#define MG_MOCK_REQ_H

#include <stddef.h>

#include "mg_banned.h"
#include "mock/mg_mock_tok.h"

struct mg_err;

/*
 * Parsing of OpenAI-style request bodies for mock-llm: /v1/completions and
 * /v1/chat/completions, plus the word list the mock "generates" from.
 * Error messages are meant for the client (they become the "message" of
 * a 400 reply).
 */
enum mg_mock_api {
  MG_MOCK_COMPLETIONS,
  MG_MOCK_CHAT,
};

/* Most prompts in one completions request, and stop strings. */
#define MG_MOCK_MAX_PROMPTS 1024
#define MG_MOCK_MAX_STOP 16
#define MG_MOCK_MAX_LOGPROBS 20

/*
 * One prompt. text is what the mock tokenizes and echoes: the string, the
 * decoded token ids, or the rendered chat messages. match is what an
 * answer-key context must equal for generation: the prompt text, or for
 * chat the content of the last user message.
 */
struct mg_mock_prompt {
  char *text;
  size_t len;
  struct mg_mock_tok_list toks;
  char *match;
  size_t match_len;
};

struct mg_mock_req {
  enum mg_mock_api api;
  char *model; /* NULL when the body has none */
  struct mg_mock_prompt *prompts;
  size_t nprompts;
  int stream;
  int include_usage;
  int continuous_usage;
  long long max_tokens; /* -1 when absent */
  int ignore_eos;
  char **stop;
  size_t *stop_len;
  size_t nstop;
  int echo;     /* completions only */
  int logprobs; /* -1: none; else how many alternatives per token */
};

/*
 * Parses body[0..len) as a request to api. Accepted shapes:
 *   completions: "prompt" is a string, a list of strings, a list of token
 *     ids, or a list of lists of token ids (one choice per prompt); "echo"
 *     (bool), "logprobs" (int 0..20).
 *   chat: "messages" is a non-empty list of {role, content}, content a
 *     string, a list of parts ({"type": "text", "text": ...}; other parts
 *     are ignored) or null; "logprobs" (bool) and "top_logprobs" (0..20).
 *   both: model, stream, stream_options {include_usage,
 *     continuous_usage_stats}, max_tokens / max_completion_tokens, n (must
 *     be 1), ignore_eos, stop (string or list). Other fields are ignored.
 * Token ids outside the mock vocabulary are accepted and read as filler
 * words. On failure r is released and err holds MG_ERR_DATA with the
 * message for the client. r is overwritten; release with
 * mg_mock_req_release.
 */
int mg_mock_req_parse(struct mg_mock_req *r, enum mg_mock_api api,
                      const char *body, size_t len, struct mg_err *err);
void mg_mock_req_release(struct mg_mock_req *r);

/*
 * The filler words the mock generates, each one token (a space and up to
 * three letters). mg_mock_req_word returns word i % MG_MOCK_NWORDS.
 */
#define MG_MOCK_NWORDS 64
const char *mg_mock_req_word(size_t i);
/* The text of a token id as a prompt token: its bytes, or a filler word
 * when the id is not a mock token. Writes to out (>= 4 bytes). */
size_t mg_mock_req_prompt_token(unsigned long id, char *out);

#endif
