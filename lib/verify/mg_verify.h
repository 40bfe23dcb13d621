#ifndef MG_VERIFY_H
#define MG_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "mg_banned.h"

struct mg_err;
struct mg_json;

/*
 * model-verify's engine: gate a model directory before admission.
 *
 *   1. integrity: every file re-hashed (sha256) and compared with the
 *      record's model.files; missing, extra and changed files reported;
 *   2. formats, detected by content, fail-closed: every byte stream (a
 *      file, a zip or tar member, what a compressed stream holds) is
 *      either a known format, fully validated (safetensors, GGUF, numpy
 *      headers, SentencePiece / ONNX protobufs, text, JSON, zip by its
 *      central directory, tar, gzip / zlib / bz2 / xz / lzma streams
 *      decompressed with a bound), or something a pickle loader could be
 *      given, scanned as a pickle stream from its first byte (mg_pickle);
 *      anything neither is an error unless the policy relaxes it by name;
 *      chat templates (GGUF, tokenizer_config.json, *.jinja) checked for
 *      sandbox-escape markers; code files and auto_map flagged;
 *   3. signature: OpenSSF model signing bundle verified with a key
 *      (mg_sign);
 *   4. policy: formats, pickles, licenses (model card front matter),
 *      required files, maximum size, signature required.
 *
 * The verdict is "fail" when any finding has severity "error".
 */
struct mg_verify_policy {
  char **formats;            /* allowed formats; NULL: every known format */
  int pickle;                /* 1: pickles allowed when the allowlist passes */
  char **pickle_allow;       /* extra "module.name" / "module.*" entries */
  int unknown_fail;          /* 1 (default): what is neither a known format
                                nor fully scanned is an error, else a
                                warning */
  char **unscanned_allow;    /* paths (globs) for which it only warns */
  uint64_t max_unpack_bytes; /* bound on a decompressed stream or a copied
                                archive member (default 1 GiB) */
  int allow_code;            /* 1: *.py files and auto_map only warn */
  char **licenses;           /* allowed licenses (lowercase); NULL: any */
  char **required_files;     /* relative paths that must exist */
  uint64_t max_total_bytes;  /* 0: no limit */
  int require_signature;
  int allow_symlinks;    /* links that stay inside the directory */
  int allow_extra_files; /* files on disk that the record does not list */
};

/* The safe defaults: pickles only with the allowlist, anything neither a
 * known format nor fully scanned an error, no code, no symlinks, no extra
 * files, no size or license limit, signature verified when present.
 * Cannot fail. */
void mg_verify_policy_init(struct mg_verify_policy *p);
void mg_verify_policy_release(struct mg_verify_policy *p);

/*
 * Loads a policy file (JSON, or YAML when it does not start with '{') over
 * the defaults. Keys: formats, pickle ("allowlist" | "deny"),
 * pickle_allow, unknown_formats ("fail" | "warn"), unscanned_allow,
 * max_unpack_bytes, allow_code, licenses, required_files, max_total_bytes,
 * require_signature, allow_symlinks, allow_extra_files. An unknown key is
 * an error (MG_ERR_DATA), so a typo never weakens the gate.
 */
int mg_verify_policy_load(const char *path, struct mg_verify_policy *p,
                          struct mg_err *err);

/* The policy as JSON, for the record. caller owns the result. */
struct mg_json *mg_verify_policy_json(const struct mg_verify_policy *p);

struct mg_verify_opts {
  const char *dir;                /* the model directory */
  const struct mg_json *expected; /* model.files, or NULL */
  const char *signature;  /* bundle path; NULL: <dir>/model.sig if any */
  const char *public_key; /* PEM; NULL: signatures are not checked */
  const struct mg_verify_policy *policy;
  int jobs; /* files checked in parallel */
};

/*
 * Runs every check. *section gets the record's "verification" section
 * (caller owns it) and *passed 1 or 0. Returns -1 only when the checks
 * could not run (directory unreadable: MG_ERR_IO; a malformed expected
 * list: MG_ERR_DATA); negative findings are not errors.
 */
int mg_verify_run(const struct mg_verify_opts *o, struct mg_json **section,
                  int *passed, struct mg_err *err);

/*
 * The first sandbox-escape marker in a chat template ("__globals__",
 * "__subclasses__", "popen", "import", ...), or NULL if none.
 */
const char *mg_verify_template_marker(const char *tpl);

#endif
