#ifndef MG_HF_H
#define MG_HF_H

#include <stddef.h>
#include <stdint.h>

#include "mg_banned.h"

struct mg_err;
struct mg_json;

/*
 * The Hugging Face Hub's download protocol (huggingface_hub's
 * constants.py, file_download.py, hf_api.py): the revision listing with
 * sizes and LFS sha256, resolve URLs, the Hub's pattern rules and its
 * error headers.
 */
#define MG_HF_DEFAULT_ENDPOINT "https://huggingface.co"
/* Larger files are served only through Xet (huggingface_hub's
 * MAX_HTTP_DOWNLOAD_SIZE). */
#define MG_HF_MAX_HTTP_SIZE 50000000000ULL

struct mg_hf_ref {
  char *repo;     /* "org/name" */
  char *revision; /* "main" when not given */
  int pinned;     /* the revision was given */
};

/* Parses "hf://org/name[@revision]" (or without the scheme). Names are
 * checked: [A-Za-z0-9._-] segments, at most two. MG_ERR_USAGE. */
int mg_hf_parse(const char *uri, struct mg_hf_ref *ref, struct mg_err *err);
void mg_hf_ref_release(struct mg_hf_ref *ref);

/* The endpoint: explicit, else $HF_ENDPOINT, else the default; trailing
 * slashes dropped. caller owns the result. */
char *mg_hf_endpoint(const char *explicit_endpoint);

/* "{E}/api/models/{repo}/revision/{rev}?blobs=true"; caller owns. */
char *mg_hf_revision_url(const char *endpoint, const struct mg_hf_ref *ref);
/* "{E}/{repo}/resolve/{commit}/{path}" with the path percent-encoded;
 * caller owns. */
char *mg_hf_resolve_url(const char *endpoint, const char *repo,
                        const char *commit, const char *path);

struct mg_hf_file {
  char *path;
  uint64_t size;
  int has_size;
  char sha256[65];   /* LFS sha256, "" if not LFS */
  char git_sha1[41]; /* git blob id, "" if not listed */
};

struct mg_hf_listing {
  char *commit;
  struct mg_hf_file *files;
  size_t n;
};

/*
 * Parses a revision listing (JSON body), keeping the files that pass the
 * patterns: include (NULL: all) first, then exclude, with Python
 * fnmatchcase semantics ('*' crosses '/', no escapes, a trailing '/'
 * means the whole folder); .git/ and .cache/huggingface/ are always
 * dropped. Paths must be clean relative paths (MG_ERR_DATA otherwise).
 */
int mg_hf_parse_listing(const char *body, size_t len,
                        const char *const *include, const char *const *exclude,
                        struct mg_hf_listing *out, struct mg_err *err);
void mg_hf_listing_release(struct mg_hf_listing *l);

/* Whether path passes the Hub's allow/ignore pattern rules. */
int mg_hf_match(const char *path, const char *const *include,
                const char *const *exclude);

/*
 * Turns a failed Hub response into a clear error (MG_ERR_REMOTE): gated
 * repositories, missing repositories or revisions, bad tokens, with the
 * X-Error-Code / X-Error-Message headers (raw header block). Returns -1.
 */
int mg_hf_error(long status, const char *headers, const char *repo,
                const char *revision, int have_token, struct mg_err *err);

/* Git blob id of content: sha1("blob <len>\0" + content), streamed. */
struct mg_hf_gitsha;
struct mg_hf_gitsha *mg_hf_gitsha_new(uint64_t len);
void mg_hf_gitsha_update(struct mg_hf_gitsha *g, const void *p, size_t n);
/* Writes 40 hex digits and a NUL; frees g. */
void mg_hf_gitsha_finish(struct mg_hf_gitsha *g, char out[41]);

#endif
