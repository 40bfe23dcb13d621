#ifndef MG_TOK_FIND_H
#define MG_TOK_FIND_H

#include "mg_banned.h"

struct mg_err;

/*
 * Finds the local files of a tokenizer named the way lm-eval's
 * `tokenizer=` and GuideLLM's `--processor` name it: a path, or a Hugging
 * Face Hub id ("ibm-granite/granite-3.3-8b-instruct", or "gpt2"). The
 * places are tried in this order, and the first that holds a
 * tokenizer.json wins:
 *
 *   1. the name as a file or directory (a tokenizer.json, or a directory
 *      holding one);
 *   2. the local Hugging Face cache, looked up as transformers 4.x does
 *      offline. The cache root is the first set of $TRANSFORMERS_CACHE,
 *      $PYTORCH_TRANSFORMERS_CACHE, $PYTORCH_PRETRAINED_BERT_CACHE,
 *      $HF_HUB_CACHE, $HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub, else
 *      $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub (a
 *      leading "~/" is expanded). The files are in
 *      ROOT/models--ORG--NAME/snapshots/COMMIT/, COMMIT being the contents
 *      of refs/REVISION (revision "main" unless given; a 40-hex revision
 *      names the snapshot directly). Without that ref, a repository with
 *      exactly one snapshot uses it (a copied cache often lacks refs/);
 *   3. the mirror directories, in order: each holding DIR/ORG/NAME/ (what
 *      `model-fetch hf://ORG/NAME DIR/ORG/NAME` writes) or a cache-layout
 *      DIR/models--ORG--NAME/ as in 2.
 *
 * Only 1 applies to a name that is not a Hub id (Hub ids are letters,
 * digits, '-', '_', '.', at most one '/', no "--" or "..", no leading
 * '.', '-' or '/').
 */
enum mg_tok_find_how {
  MG_TOK_FIND_NONE = 0,
  MG_TOK_FIND_PATH,     /* 1: the name itself */
  MG_TOK_FIND_HF_CACHE, /* 2 */
  MG_TOK_FIND_MIRROR,   /* 3 */
  MG_TOK_FIND_SERVER,   /* the server's /tokenize (mg_tok_proc_resolve) */
};

struct mg_tok_find {
  enum mg_tok_find_how found;
  /* The directory (or tokenizer.json) to give mg_tok_load; NULL when
   * nothing local was found. */
  char *path;
  /* What was looked at and why it did not do, "; "-joined, for a warning
   * or an error message (never NULL after mg_tok_find). */
  char *tried;
};

#define MG_TOK_FIND_INIT                                                       \
  {                                                                            \
    MG_TOK_FIND_NONE, NULL, NULL                                               \
  }

void mg_tok_find_release(struct mg_tok_find *w);

/* "path", "hf-cache", "mirror", "server" or "none". */
const char *mg_tok_find_how_name(enum mg_tok_find_how f);

/* 1 if name is shaped like a Hugging Face Hub repository id. */
int mg_tok_find_is_hub_id(const char *name);

/*
 * The Hugging Face cache root that step 2 reads, from the environment as
 * described above. caller owns the result; free with free().
 */
char *mg_tok_find_cache_dir(void);

/*
 * Looks name up as described above. revision NULL means "main"; mirrors
 * is a ':'-separated list of directories, NULL or "" for none (the tools
 * pass --processor-dir, then $MG_TOKENIZERS). Returns 0 with w->found and
 * w->path set, 1 when nothing local holds it (w->found NONE, w->tried
 * says where it looked), -1 with err for an empty name (MG_ERR_USAGE).
 * w is overwritten; release it with mg_tok_find_release.
 */
int mg_tok_find(const char *name, const char *revision, const char *mirrors,
                struct mg_tok_find *w, struct mg_err *err);

#endif
