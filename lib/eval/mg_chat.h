#ifndef MG_CHAT_H
#define MG_CHAT_H

#include <stddef.h>

#include "mg_banned.h"

struct mg_err;
struct mg_pv;

/*
 * What eval-run needs of a Hugging Face tokenizer_config.json besides the
 * tokenizer itself: the special tokens (bos_token, eos_token, ... as
 * transformers' special_tokens_map gives them) and the chat template, and
 * the rendering of a message list with that template exactly as
 * transformers' apply_chat_template(tokenize=False) does it: Jinja2 with
 * trim_blocks and lstrip_blocks, the lenient Undefined, no trailing
 * newline kept, the special tokens, messages and add_generation_prompt as
 * variables, HF's tojson, raise_exception and strftime_now (see
 * mg_tmpl.h, MG_TMPL_HF_CHAT).
 */
struct mg_chat;

/*
 * Loads the configuration next to a tokenizer: path is a directory or a
 * file in it (tokenizer.json). Reads tokenizer_config.json, then
 * special_tokens_map.json for special tokens the first does not name, and
 * the template from chat_template.jinja (or chat_template.json) when
 * tokenizer_config.json has none. Missing files are not an error (the
 * result then knows nothing). A chat_template given as a list of
 * {"name", "template"} uses the one named "default". MG_ERR_DATA for
 * malformed JSON; a template that does not compile fails only when it is
 * used (mg_chat_ready). caller owns *out; free with mg_chat_free.
 */
int mg_chat_load(const char *path, struct mg_chat **out, struct mg_err *err);

/*
 * The same from a parsed tokenizer_config document (a dict, may be NULL) and an
 * optional template source that replaces its chat_template. name is used
 * in messages. caller owns *out.
 */
int mg_chat_from_config(const struct mg_pv *config, const char *template_src,
                        const char *name, struct mg_chat **out,
                        struct mg_err *err);
void mg_chat_free(struct mg_chat *c);

/* The BOS / EOS token strings, or NULL; borrowed. */
const char *mg_chat_bos(const struct mg_chat *c);
const char *mg_chat_eos(const struct mg_chat *c);
/* A special token by its config name ("pad_token", ...), or NULL;
 * borrowed, valid until c is freed. */
const char *mg_chat_special(const struct mg_chat *c, const char *name);
/* The chat template source, or NULL; borrowed. */
const char *mg_chat_template(const struct mg_chat *c);
/* 0 if the template can render; else -1 with MG_ERR_DATA: no template,
 * or its compile error (naming the template, line and column). */
int mg_chat_ready(const struct mg_chat *c, struct mg_err *err);

/*
 * Renders messages (a list of {"role", "content"} dicts) as
 * apply_chat_template(messages, tokenize=False, add_generation_prompt,
 * continue_final_message): with continue_final_message the text is cut
 * after the last occurrence of the final message's stripped content.
 * MG_ERR_DATA when there is no template, on a render error (messages
 * name the template) or raise_exception. caller owns *out (a str).
 */
int mg_chat_render(const struct mg_chat *c, const struct mg_pv *messages,
                   int add_generation_prompt, int continue_final_message,
                   struct mg_pv **out, struct mg_err *err);

#endif
